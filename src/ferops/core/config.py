"""Paths and params: where every stage reads its knobs and writes its outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")

# Pipeline outputs, relative to the repository root (DVC runs stages from there).
REJECTS = Path("data/interim/rejects.csv")
TABLE = Path("data/interim/fer2013_valid.npz")
ARRAYS = Path("data/processed/fer2013.npz")
MODEL_DIR = Path("models")
MODEL_FILE = MODEL_DIR / "model.keras"
RUN_FILE = MODEL_DIR / "mlflow_run.json"
CALIBRATION = MODEL_DIR / "calibration.json"
CHECKPOINT_DIR = Path("data/interim/train_backup")
METRICS_DIR = Path("metrics")
REPORTS_DIR = Path("reports")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ARTIFACT_ROOT = Path("mlartifacts")


def load_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def data_csv(params: dict[str, Any]) -> Path:
    """The FER-2013 CSV: $FER2013_CSV when set, else params.yaml's data.csv."""
    return Path(os.environ.get("FER2013_CSV") or params["data"]["csv"])
