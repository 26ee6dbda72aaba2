"""Paths and params: where every stage reads its knobs and writes its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ferops.core.errors import FerOpsError

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
INGEST_COUNTS = REPORTS_DIR / "ingest_counts.json"  # rows per Usage x label, and rejects
EVALUATION = REPORTS_DIR / "evaluation.json"  # every figure evaluate computes; metrics/evaluate.json has the headline

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
ARTIFACT_ROOT = Path("mlartifacts")


# train.arch's allowed values. ferops.training.architectures registers a builder under each name and
# refuses any other, so this list and the registry cannot drift; it lives here so that every stage can
# check params without importing TensorFlow.
ARCHITECTURES = ("fer_cnn", "seed_vgg")

# Every key params.yaml may hold, with its type or its allowed values (a tuple). A misspelt key
# (`train.epoch`) would otherwise be ignored and the default silently used.
SCHEMA: dict[str, Any] = {
    "data": {"csv": str, "limit": int},
    "train": {
        "arch": ARCHITECTURES,
        "epochs": int,
        "batch_size": int,
        "learning_rate": float,
        "weight_decay": float,
        "optimizer": ("adamw", "sgd"),
        "ema_decay": float,
        "warmup_epochs": int,
        "patience": int,
        "class_weights": bool,
        "mixed_bfloat16": ("auto", True, False),
        "seed": int,
        "augment": {"rotation_deg": float, "flip": bool, "shift": float, "zoom": float, "erase": float},
    },
    "evaluate": {"tta_flip": bool, "calibrate": bool, "ece_bins": int},
    "export": {"min_accuracy": float, "tolerance": float},
}
TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


class ParamsError(FerOpsError, ValueError):
    pass


def _fits(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):  # allowed values; `True in (1,)` is true in Python, so compare types too
        return any(value == v and type(value) is type(v) for v in kind)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _allowed(kind: Any) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in kind)
    return TYPE_NAMES[kind]


def validate(params: Any, schema: dict[str, Any] = SCHEMA, where: str = "") -> None:
    """Raise ParamsError naming the first key that is unknown, missing or of the wrong type."""
    if not isinstance(params, dict):
        raise ParamsError(f"{where.rstrip('.') or 'params'} must be a mapping of keys: {', '.join(schema)}")
    for key in params:
        if key not in schema:
            raise ParamsError(
                f"unknown key {where}{key}; allowed keys{' in ' + where.rstrip('.') if where else ''}: "
                f"{', '.join(schema)}"
            )
    for key, kind in schema.items():
        name = f"{where}{key}"
        if key not in params:
            raise ParamsError(f"missing key {name} ({_allowed(kind) if not isinstance(kind, dict) else 'a mapping'})")
        if isinstance(kind, dict):
            validate(params[key], kind, f"{name}.")
        elif not _fits(params[key], kind):
            raise ParamsError(f"{name}: {params[key]!r} is not allowed; must be {_allowed(kind)}")


def load_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml, checked against SCHEMA before any stage does any work."""
    with open(path) as f:
        params = yaml.safe_load(f)
    try:
        validate(params)
    except ParamsError as e:
        raise ParamsError(f"{path}: {e}") from None
    return params


def data_csv(params: dict[str, Any]) -> Path:
    """The FER-2013 CSV that DVC tracks (params.yaml's data.csv): the only file ingest reads."""
    return Path(params["data"]["csv"])
