"""Subprocesses for the tests: their environment, free ports, servers run for a block, waiting on them."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from ferops.core import venv

FERROPS = [venv.executable("ferops")]  # the console script users run


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 120.0) -> None:
    """Poll `url` until it answers 200, failing fast if the server process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def clean_env(**extra: str) -> dict:
    """The environment for subprocesses: no tracking/data overrides, and this interpreter's bin/ first
    on PATH, so `dvc`, `mlflow` and the servers they spawn come from the same (unactivated) venv."""
    unset = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FER2013_CSV")
    return venv.env({k: v for k, v in os.environ.items() if k not in unset}, **extra)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`ferops ARGS` as a user runs it (the console script, a clean environment), output captured."""
    return subprocess.run([*FERROPS, *args], capture_output=True, text=True, env=env or clean_env(), timeout=300)


@contextmanager
def mlflow_process(*args: str, health: str, env: dict, cwd: Path | None = None, timeout: float = 180):
    """Run `mlflow ARGS --host 127.0.0.1 --port P` for the block; yields its URL once `health` answers."""
    port = free_port()
    proc = subprocess.Popen(
        [venv.executable("mlflow"), *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + health, proc, timeout=timeout)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def read_stderr_until(proc, pattern: str, timeout: float = 180) -> re.Match:
    """Lines of the process's stderr until one matches (a reader thread, so a silent process cannot hang us)."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in proc.stderr], daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            if m := re.search(pattern, line):
                return m
        assert proc.poll() is None, "".join(lines)[-3000:]
        time.sleep(0.1)
    raise TimeoutError("".join(lines)[-3000:])


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False


def ends_within(pid: int, seconds: float) -> bool:
    """Waits up to `seconds` for process `pid` to end; whether it did."""
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)
