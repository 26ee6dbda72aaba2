"""MLflow set-up: an embedded SQLite store by default, a team server via MLFLOW_TRACKING_URI."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from urllib.parse import urlparse

import mlflow

from ferops.core.errors import FerOpsError
from ferops.core.config import ARTIFACT_ROOT, DEFAULT_TRACKING_URI, RUN_FILE
from ferops.core.io import write_json

EXPERIMENT = "ferops"
CONNECT_TIMEOUT_S = 3.0
# The project this package was installed from (editable install): where its own store lives.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


class StoreError(FerOpsError, ValueError):
    """The tracking store cannot be used: unreachable server, or no store where one is read."""

# The experiment's type, as MLflow records it (its assistant and older UIs read this tag). MLflow 3.17's
# UI itself ignores it: it opens every experiment on the GenAI overview unless the page's
# `workflowType` (URL parameter, then the browser's saved toggle) says machine_learning, so the
# link ferops prints (runs_url) carries that parameter.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _check_server(uri: str) -> None:
    # MLflow's client retries an unreachable server for minutes, then prints pages of tracebacks:
    # one TCP connect with a short timeout answers the same question in seconds.
    url = urlparse(uri)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = e.strerror or e.__class__.__name__
        raise StoreError(
            f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) is unreachable ({reason}); start it, "
            f"or unset MLFLOW_TRACKING_URI to use the embedded {DEFAULT_TRACKING_URI}"
        ) from None


def _check_readable(uri: str) -> None:
    # A damaged store (a file of random bytes, a half-copied backup) makes SQLAlchemy print pages of
    # tracebacks from deep inside MLflow: one read of its schema, read-only, names the file instead.
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            db.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.Error as e:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):  # busy, not damaged
            return
        raise StoreError(
            f"the MLflow store {path.resolve()} (tracking URI {uri}) is not a readable SQLite database ({e}); "
            "restore it from a backup, or move it aside to start a new store"
        ) from None


def _check_sqlite(uri: str) -> None:
    path = Path(uri.removeprefix("sqlite:///"))
    if path.is_file():
        return
    hint = ""
    project_db = PROJECT_ROOT / "mlflow.db"
    if (PROJECT_ROOT / "dvc.yaml").is_file() and project_db.is_file() and project_db.resolve() != path.resolve():
        hint = f" The project's store is {project_db}: run from {PROJECT_ROOT}, or"
    else:
        hint = " Run from the project folder (where `make repro` wrote mlflow.db), or"
    raise StoreError(
        f"no MLflow store at {path.resolve()} (tracking URI {uri}, relative to the current folder).{hint} "
        f"set MLFLOW_TRACKING_URI=sqlite:////absolute/path/to/mlflow.db"
    )


def use_store(create: bool = True) -> str:
    """The one MLflow store set-up: point tracking and registry at it, failing fast with one clear message.

    create=False (the apps, which only read): a missing SQLite file is an error, never a new empty store.
    """
    uri = tracking_uri()
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        _check_server(uri)
    elif scheme == "sqlite":
        if not create:
            _check_sqlite(uri)
        _check_readable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def setup(experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id."""
    uri = use_store(create=True)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        # With the embedded store, artifacts go to a local folder beside mlflow.db; a real
        # server decides its own artifact location.
        location = ARTIFACT_ROOT.resolve().as_uri() if uri == DEFAULT_TRACKING_URI else None
        exp_id = mlflow.create_experiment(experiment, artifact_location=location, tags={KIND_TAG: KIND})
    else:
        exp_id = exp.experiment_id
        if exp.tags.get(KIND_TAG) != KIND:  # experiments made before the tag existed
            mlflow.MlflowClient().set_experiment_tag(exp_id, KIND_TAG, KIND)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def runs_url(base: str, experiment_id: str) -> str:
    """The MLflow UI page with this experiment's training runs (not the GenAI overview)."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_hash(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def lineage_tags(data_file: Path | str) -> dict[str, str]:
    return {"git_commit": git_commit(), "data_sha256": file_hash(data_file)}


def save_run_id(run_id: str, path: Path = RUN_FILE) -> None:
    write_json(path, {"run_id": run_id, "tracking_uri": tracking_uri()})


def load_run_id(path: Path = RUN_FILE) -> str:
    return json.loads(Path(path).read_text())["run_id"]
