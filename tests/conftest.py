"""Shared fixtures: synthetic FER-2013-shaped CSVs made in code (never real faces)."""

from __future__ import annotations

import gzip
from contextlib import contextmanager
import os
from pathlib import Path

import numpy as np
import pytest

from ferops.core.fer2013 import SPLITS

REPO = Path(__file__).resolve().parents[1]
REAL_CSV = Path(os.environ.get("FER2013_CSV") or REPO.parent / "shared" / "data" / "fer2013.csv.gz")
needs_real_data = pytest.mark.skipif(
    not REAL_CSV.is_file(), reason=f"FER-2013 not found at {REAL_CSV} (set FER2013_CSV to run real-data tests)"
)


def synthetic_rows(per_class: int = 3, seed: int = 0, learnable: bool = True) -> list[str]:
    """CSV lines 'emotion,pixels,Usage' for every split and label.

    With learnable=True each label gets its own brightness band so a tiny model can tell them apart.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for usage in SPLITS:
        for label in range(7):
            for _ in range(per_class):
                if learnable:
                    pix = rng.integers(label * 36, label * 36 + 36, size=2304)
                else:
                    pix = rng.integers(0, 256, size=2304)
                rows.append(f"{label},{' '.join(map(str, pix))},{usage}")
    return rows


def write_csv(path: Path, rows: list[str], header: str = "emotion,pixels,Usage", gz: bool = False) -> Path:
    text = "\n".join([header, *rows]) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "fer.csv", synthetic_rows())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 120.0) -> None:
    """Poll `url` until it answers 200, failing fast if the server process died."""
    import time
    import urllib.request

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
    from ferops.core import venv

    unset = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "FER2013_CSV")
    return venv.env({k: v for k, v in os.environ.items() if k not in unset}, **extra)


def make_pipeline_copy(dest: Path, csv_rows: list[str] | None = None, **train_overrides) -> Path:
    """A fresh copy of the repo's pipeline on a tiny synthetic CSV, ready for `dvc repro`."""
    import shutil
    import subprocess

    import yaml

    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, dest / name)
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (dest / "data" / "raw").mkdir(parents=True)
    write_csv(dest / "data" / "raw" / "fer2013.csv", csv_rows or synthetic_rows(per_class=4))
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["data"]["csv"] = "data/raw/fer2013.csv"
    params["train"].update({"epochs": 1, "batch_size": 16, "patience": 1, "warmup_epochs": 0, **train_overrides})
    params["export"]["min_accuracy"] = 0.0
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=dest, check=True, env=clean_env())
    return dest


def dvc(dest: Path, *args: str, env: dict | None = None, timeout: float = 900):
    import subprocess

    return subprocess.run(
        ["dvc", *args], cwd=dest, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )


def real_faces(n: int, usage: str = "PrivateTest") -> tuple[np.ndarray, np.ndarray]:
    """The first n faces (uint8 48x48) and labels of one split of the real FER-2013 file."""
    from ferops.data.ingest import ingest

    table, _ = ingest(REAL_CSV)
    sel = np.flatnonzero(table.usage == usage)[:n]
    return table.pixels[sel], table.labels[sel]


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A folder on its own 100 KiB file system (a tmpfs, so root only): a disk that fills up."""
    import subprocess

    folder = tmp_path / "tiny_disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="session")
def registered_model(tmp_path_factory):
    """A `fer` model registered and promoted in a throwaway SQLite store: (tracking_uri, keras_path, workdir).

    Its weights are untrained (seeded): these tests check plumbing and agreement, not accuracy.
    """
    import keras
    import mlflow

    from ferops.registry import export
    from ferops.training import architectures

    work = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    keras.utils.set_random_seed(0)
    model = architectures.build("fer_cnn")
    path = work / "model.keras"
    model.save(path)
    # The evaluate stage's calibration beside the model, as in models/: the bare .keras loads as registered.
    calibration = work / "calibration.json"
    calibration.write_text('{"tta_flip": true, "temperature": 1.0}')
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("tests", artifact_location=(work / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):
        decision = export.register_and_promote(
            path,
            {"val_accuracy": 0.5, "test_accuracy": 0.5},
            {"min_accuracy": 0.0, "tolerance": 0.0},
            {"git_commit": "test", "data_sha256": "synthetic"},
            calibration=calibration,
        )
    assert decision.promoted
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI to this process's environment: undo it, or
    # every later test (and subprocess) that reads the environment would write into this throwaway store.
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)  # set_registry_uri(None) leaves the exported variable
    return uri, path, work


@contextmanager
def mlflow_process(*args: str, health: str, env: dict, cwd: Path | None = None, timeout: float = 180):
    """Run `mlflow ARGS --host 127.0.0.1 --port P` for the block; yields its URL once `health` answers."""
    import subprocess

    from ferops.core import venv

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


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False


def ends_within(pid: int, seconds: float) -> bool:
    """Waits up to `seconds` for process `pid` to end; whether it did."""
    import time

    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not alive(pid)
