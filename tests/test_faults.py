"""Faults found by using ferops as a hostile user would: each fails fast, with one clear line, losing nothing."""

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from support.data import REPO
from support.processes import alive, clean_env, ends_within
from support.pipeline import make_pipeline_copy
from ferops.core import lock, tracking, venv
from ferops.data import source
from ferops.training import train

UNREACHABLE = "http://127.0.0.1:9"


# --- an unreachable tracking server ---------------------------------------------------------------


def test_stage_with_unreachable_tracking_server_fails_in_seconds(tmp_path):
    repo = make_pipeline_copy(tmp_path)
    start = time.monotonic()
    result = subprocess.run(
        [str(repo / "stages" / "python"), "stages/ingest.py"],
        cwd=repo,
        env=clean_env(MLFLOW_TRACKING_URI=UNREACHABLE),
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - start
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: MLflow tracking server {UNREACHABLE} (MLFLOW_TRACKING_URI) is unreachable")
    assert "Traceback" not in result.stderr and len(lines) <= 3, result.stderr  # TF's start-up notes at most
    assert not (repo / "data" / "interim" / "fer2013_valid.npz").exists(), "failed before any work"
    assert took < 60, f"took {took:.0f}s"


def test_app_with_unreachable_tracking_server_fails_in_seconds(tmp_path):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 128, np.uint8))
    start = time.monotonic()
    result = subprocess.run(
        [venv.executable("ferops"), "predict", str(image)],
        env=clean_env(MLFLOW_TRACKING_URI=UNREACHABLE),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: model URI 'models:/fer@production': MLflow tracking server {UNREACHABLE} (MLFLOW_TRACKING_URI) "
        f"is unreachable (Connection refused); start it, or unset MLFLOW_TRACKING_URI to use the embedded "
        "sqlite:///mlflow.db"
    ]
    assert time.monotonic() - start < 60


# --- run from another folder ----------------------------------------------------------------------


def test_app_run_elsewhere_names_the_store_and_creates_no_empty_db(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ferops.apps.cli import app

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("face.png", np.full((64, 64, 3), 128, np.uint8))
    result = CliRunner().invoke(app, ["predict", "face.png"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith(f"error: model URI 'models:/fer@production': no MLflow store at {tmp_path / 'mlflow.db'} ")
    assert "relative to the current folder" in line and "MLFLOW_TRACKING_URI=sqlite:////" in line
    assert not (tmp_path / "mlflow.db").exists(), "no stray empty store"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]


def test_use_store_for_reading_accepts_an_existing_db_and_stages_may_create_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(tracking.StoreError):
        tracking.use_store(create=False)
    assert tracking.use_store(create=True) == "sqlite:///mlflow.db"
    (tmp_path / "mlflow.db").touch()
    assert tracking.use_store(create=False) == "sqlite:///mlflow.db"


# --- dvc killed alone -----------------------------------------------------------------------------


def trainer_of(repo) -> int | None:
    """The pid of the train stage's Python running in `repo` (after stages/python's exec), if any."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if argv[1:3] == [b"stages/train.py", b""] and os.readlink(f"/proc/{pid}/cwd") == str(repo):
                return int(pid)
        except OSError:
            pass
    return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_dvc_alone_ends_its_trainer(tmp_path):
    """kill -9 of only `dvc` during `dvc repro`: its trainer must not run on and later overwrite the model
    and metrics that a later `dvc repro` restored."""
    import signal

    repo = make_pipeline_copy(tmp_path, epochs=100000, patience=100000)  # trains until killed
    proc = subprocess.Popen(["dvc", "repro", "train"], cwd=repo, env=clean_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    trainer = None
    try:
        deadline = time.monotonic() + 300
        while (trainer := trainer_of(repo)) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the train stage did not start"
            time.sleep(0.2)
        time.sleep(2)  # into its work
        assert alive(trainer)
        os.kill(proc.pid, signal.SIGKILL)  # dvc alone
        proc.wait(timeout=30)
        assert ends_within(trainer, 10), "the trainer runs on without its dvc"
    finally:
        for pid in (trainer, proc.pid):
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything else the run started
        except ProcessLookupError:
            pass


# --- a damaged store ------------------------------------------------------------------------------


def corrupt_store(folder):
    db = folder / "mlflow.db"
    db.write_bytes(np.random.default_rng(0).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes())
    return db


@pytest.mark.parametrize("command", ["predict", "serve", "stage"])
def test_a_corrupt_store_is_one_line_naming_the_file(tmp_path, command):
    """A mlflow.db of random bytes: one error line naming the file (was 374 lines of SQLAlchemy traceback)."""
    repo = make_pipeline_copy(tmp_path) if command == "stage" else tmp_path
    db = corrupt_store(repo)
    before = db.read_bytes()
    cv2.imwrite(str(tmp_path / "face.png"), np.full((64, 64, 3), 128, np.uint8))
    args = {
        "predict": [venv.executable("ferops"), "predict", "face.png"],
        "serve": [venv.executable("ferops"), "serve", "--port", "9"],
        "stage": [str(repo / "stages" / "python"), "stages/ingest.py"],
    }[command]
    result = subprocess.run(args, cwd=repo, env=clean_env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    expected = (
        f"the MLflow store {db} (tracking URI sqlite:///mlflow.db) is not a readable SQLite database "
        "(file is not a database); restore it from a backup, or move it aside to start a new store"
    )
    assert lines[-1].startswith("error: ") and lines[-1].endswith(expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(lines) <= 3, result.stderr[-2000:]  # TF's start-up notes
    assert db.read_bytes() == before, "the damaged store is left as it was"


# --- one trainer per checkpoint -------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from ferops.core import lock
with lock.exclusive(Path(sys.argv[1]), "checkpoint folder x"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_trainer_on_the_same_checkpoint_is_refused_naming_the_first(tmp_path):
    path = tmp_path / "backup" / "abc.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(lock.Busy, match=f"checkpoint folder x is in use by pid {holder.pid} on "):
            with lock.exclusive(path, "checkpoint folder x"):
                pytest.fail("two holders at once")
    finally:
        holder.kill()
        holder.wait()
    with lock.exclusive(path, "checkpoint folder x"):  # the kernel released the dead holder's lock
        assert path.read_text() == f"pid {os.getpid()} on {os.uname().nodename}"


# --- no PublicTest rows ---------------------------------------------------------------------------


def arrays(n_train=14, n_val=7):
    y_train, y_val = np.arange(n_train) % 7, np.arange(n_val) % 7
    zeros = np.zeros((max(n_train, n_val), 48, 48), np.uint8)
    return {
        "x_train": zeros[:n_train],
        "y_train": y_train.astype(np.uint8),
        "x_val": zeros[:n_val],
        "y_val": y_val.astype(np.uint8),
    }


CFG = {
    "arch": "fer_cnn",
    "epochs": 8,
    "batch_size": 7,
    "learning_rate": 0.001,
    "weight_decay": 0.0,
    "warmup_epochs": 0,
    "patience": 2,
    "class_weights": False,
    "mixed_bfloat16": False,
    "seed": 0,
    "augment": {"rotation_deg": 0, "flip": False, "shift": 0, "zoom": 0, "erase": 0},
}


def test_no_publictest_rows_is_refused_before_the_first_epoch(tmp_path):
    epochs = []
    with pytest.raises(ValueError, match="no PublicTest rows to select on") as e:
        train.fit(arrays(n_val=0), CFG, tmp_path / "backup", on_epoch=lambda ep, logs: epochs.append(ep), verbose=0)
    assert "Usage PublicTest" in str(e.value) and epochs == []
    with pytest.raises(ValueError, match="no Training rows to train on"):
        train.check_splits(arrays(n_train=0))


# --- early stopping survives a resume -------------------------------------------------------------


def test_early_stopping_patience_and_best_score_survive_a_resume(tmp_path):
    """Identical blank validation faces, one per class: accuracy is exactly 1/7 at every epoch, so only
    epoch 0 improves and patience 2 stops after epoch 2 -- with or without an interruption in between."""

    def crash_at_1(epoch, logs):
        if epoch == 1:
            raise KeyboardInterrupt("power cut")

    _, straight = train.fit(arrays(), CFG, tmp_path / "straight", verbose=0)
    assert [int(r["epoch"]) for r in straight] == [0, 1, 2]

    with pytest.raises(KeyboardInterrupt):
        train.fit(arrays(), CFG, tmp_path / "resumed", on_epoch=crash_at_1, verbose=0)
    seen = []
    _, history = train.fit(arrays(), CFG, tmp_path / "resumed", on_epoch=lambda e, logs: seen.append(e), verbose=0)
    # Epoch 1 is redone (killed before its backup), then patience runs out at epoch 2 as it did straight
    # through; a counter restarted at the resume would have trained epoch 3 too.
    assert seen == [1, 2]
    assert [int(r["epoch"]) for r in history] == [0, 1, 2]
    assert all(r["val_accuracy"] == pytest.approx(1 / 7) for r in history)


def test_resumed_early_stopping_replays_best_and_wait(tmp_path):
    import keras

    history = tmp_path / "history.csv"
    history.write_text("epoch,val_accuracy\n0,0.5\n1,0.6\n2,0.55\n3,0.54\n3,0.53\n")
    stop = train._ResumableEarlyStopping(history, patience=3)
    stop.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stop.on_train_begin()
    stop.on_epoch_begin(4)
    assert (stop.best, stop.wait) == (0.6, 2)
    stop.model.stop_training = False
    stop.on_epoch_end(4, {"val_accuracy": 0.59})
    assert stop.wait == 3 and stop.model.stop_training


# --- the data DVC tracks is the data ingested -----------------------------------------------------


def test_locate_links_relinks_and_refuses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tracked = tmp_path / "data" / "raw" / "fer2013.csv.gz"
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("emotion,pixels,Usage\n0,1 2,Training\n")
    b.write_text("emotion,pixels,Usage\n1,3 4,Training\n")

    with pytest.raises(source.DataError, match=f"FER-2013 not found at {tracked}: download fer2013.csv"):
        source.locate(tracked, env={})
    assert source.locate(tracked, env={"FER2013_CSV": str(a)}) == f"data: linked {tracked} -> {a}"
    assert tracked.read_text() == a.read_text()
    assert source.locate(tracked, env={"FER2013_CSV": str(a)}) == f"data: {tracked} holds FER2013_CSV={a}"
    assert source.locate(tracked, env={"FER2013_CSV": str(b)}) == f"data: linked {tracked} -> {b} (was -> {a})"
    assert tracked.read_text() == b.read_text() and a.read_text().startswith("emotion"), "the old file is untouched"
    with pytest.raises(source.DataError, match="FER2013_CSV=nope.csv is not a file"):
        source.locate(tracked, env={"FER2013_CSV": "nope.csv"})

    # A real file DVC has no copy of is the user's: refused, never overwritten.
    tracked.unlink()
    tracked.write_text("mine\n")
    with pytest.raises(source.DataError, match="holds other data than FER2013_CSV=.*DVC has no copy of it"):
        source.locate(tracked, env={"FER2013_CSV": str(a)})
    assert tracked.read_text() == "mine\n"
    # ...unless DVC holds it (its checked-out copy after `dvc repro`): then relinking loses nothing.
    digest = source._md5(tracked)
    cached = tmp_path / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    cached.parent.mkdir(parents=True)
    cached.write_text("mine\n")
    assert source.locate(tracked, env={"FER2013_CSV": str(a)}).endswith("(replacing DVC's copy of the previous data)")
    assert tracked.read_text() == a.read_text()


def test_the_download_url_is_said_once_and_the_readme_agrees():
    readme = (REPO / "README.md").read_text()
    assert source.DOWNLOAD_URL in readme
    assert "image-folder" in readme
    for path in [REPO / "Makefile", *(REPO / "src").rglob("*.py")]:
        if path.name != "source.py":
            assert "kaggle.com" not in path.read_text(), f"{path} names a download URL of its own"


def test_ui_and_serve_default_to_different_ports():
    make = {}
    for line in (REPO / "Makefile").read_text().splitlines():
        if "?=" in line:
            key, _, value = line.partition("?=")
            make[key.strip()] = value.strip()
    assert make["UI_PORT"] != make["PORT"]
    assert json.dumps(make)  # both are plain values, not computed
