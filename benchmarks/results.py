"""Where benchmarks keep their numbers: benchmarks/results/<name>_<machine>.txt, with the commit and date.

The machine is named by its CPU model and core count (numbers from one machine are not another's).
A script prints its lines through a `Printed` as it goes and hands them to `write_results` at the end,
so a run cut short writes no file and a finished one leaves exactly what it printed."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from common import REPO

RESULTS = REPO / "benchmarks" / "results"


def machine() -> str:
    """CPU model, its widest vector extension and core count: one "AMD EPYC" VM may expose AVX-512 and
    another only AVX2, and TensorFlow's speed differs about twofold between them."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1]
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    vector = next((v for v in ("amx", "avx512", "avx2") if any(f.startswith(v) for f in flags)), None)
    return "-".join(p for p in (slug, vector, f"{os.cpu_count()}cpu") if p)


class Printed(list):
    """Lines printed as they come (flushed: long runs show progress) and kept for write_results."""

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.append(text)


def write_results(name: str, lines: list[str]) -> Path:
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}_{machine()}.txt"
    command = " ".join([f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    head = f"# {command} on {machine()}, commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(head + "\n".join(lines) + "\n")
    tmp.replace(path)
    print(f"written: {path.relative_to(REPO)}")
    return path
