"""MLflow set-up: an embedded SQLite store by default, a team server via MLFLOW_TRACKING_URI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import mlflow

from ferops.core.config import ARTIFACT_ROOT, DEFAULT_TRACKING_URI, RUN_FILE
from ferops.core.io import write_json

EXPERIMENT = "ferops"
# The experiment's type, as MLflow records it (its assistant and older UIs read this tag). MLflow 3.17's
# UI itself ignores it: it opens every experiment on the GenAI overview unless the page's
# `workflowType` (URL parameter, then the browser's saved toggle) says machine_learning, so the
# link ferops prints (runs_url) carries that parameter.
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def setup(experiment: str = EXPERIMENT) -> str:
    """Point MLflow at the store and make sure the experiment exists; returns its id."""
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
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
