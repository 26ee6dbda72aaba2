"""Trained model -> registered `fer` version, promoted to production only through the gate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema

from ferops.runtime.faces import DEFAULT_DETECTOR
from ferops.runtime.imaging import encode_png
from ferops.core.fer2013 import IMAGE_SIZE

# The whole package travels with the model (MLflow code_paths); the pyfunc imports only core and runtime.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
PYFUNC_FILE = PACKAGE_DIR / "runtime" / "pyfunc_model.py"
ALIAS, STAGE = "production", "Production"

# One endpoint takes two input forms (image records and raw pixel tensors), which no single MLflow
# input schema can express; the model checks its own inputs with per-record errors instead, and
# the signature declares the params and the output.
SIGNATURE = ModelSignature(
    inputs=None,
    outputs=Schema(
        [ColSpec(DataType.long, "record"), ColSpec(DataType.string, "label"), ColSpec(DataType.double, "confidence")]
    ),
    params=ParamSchema(
        [ParamSpec("detect_faces", DataType.boolean, False), ParamSpec("detector", DataType.string, DEFAULT_DETECTOR)]
    ),
)


def input_example() -> pd.DataFrame:
    # A synthetic gradient, not a face: nothing from FER-2013 travels with the model.
    ramp = np.linspace(0, 255, IMAGE_SIZE * IMAGE_SIZE, dtype=np.float32).reshape(IMAGE_SIZE, IMAGE_SIZE)
    return pd.DataFrame({"image": [encode_png(ramp.astype(np.uint8))]})


@dataclass
class Decision:
    name: str
    version: str
    accuracy: float
    production_version: str | None
    production_accuracy: float | None
    promoted: bool
    reason: str
    run_id: str
    model_uri: str


def log_model(keras_file: Path, name: str, calibration: Path | None = None) -> mlflow.models.model.ModelInfo:
    """Log the pyfunc into the active run and register it under `name`."""
    artifacts = {"keras_model": str(keras_file)} | ({"calibration": str(calibration)} if calibration else {})
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PYFUNC_FILE),
        artifacts=artifacts,
        code_paths=[str(PACKAGE_DIR)],
        signature=SIGNATURE,
        input_example=input_example(),
        registered_model_name=name,
    )


def production(client: mlflow.MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None


def gate(accuracy: float, floor: float, tolerance: float, prod_accuracy: float | None) -> tuple[bool, str]:
    if accuracy < floor:
        return False, f"test accuracy {accuracy:.4f} is below the floor {floor:.4f}"
    if prod_accuracy is not None and accuracy < prod_accuracy - tolerance:
        return False, (
            f"test accuracy {accuracy:.4f} is below production's {prod_accuracy:.4f} minus tolerance {tolerance:.4f}"
        )
    return True, "passed the gate" if prod_accuracy is not None else "passed the gate (no production version yet)"


def smoke_test(model_uri: str, reason: str) -> tuple[bool, str]:
    """Production only gets a model that loads as users load it and answers the input example."""
    try:
        out = mlflow.pyfunc.load_model(model_uri).predict(input_example())
        if len(out) != 1 or not 0.0 <= float(out["confidence"].iloc[0]) <= 1.0:
            return False, f"the logged model gave an unexpected answer to its input example: {out!r}"
    except Exception as e:  # whatever breaks here must keep the model out of production
        return False, f"the logged model failed to load or predict ({e.__class__.__name__}: {e})"
    return True, reason


def register_and_promote(
    keras_file: Path,
    accuracy: float,
    cfg: dict,
    tags: dict[str, str],
    allow_promotion: bool = True,
    calibration: Path | None = None,
) -> Decision:
    """In the active run: log + register the model, then promote it if it passes the gate.

    allow_promotion=False (pull-request CI) registers a candidate and records why it stayed one.
    """
    name = cfg["model_name"]
    client = mlflow.MlflowClient()
    current = production(client, name)
    prod_acc = None
    if current is not None:
        tag = current.tags.get("test_accuracy")
        prod_acc = float(tag) if tag is not None else client.get_run(current.run_id).data.metrics.get("test_accuracy")
    info = log_model(keras_file, name, calibration)
    version = str(info.registered_model_version)
    promoted, reason = gate(accuracy, cfg["min_accuracy"], cfg["tolerance"], prod_acc)
    if promoted:
        promoted, reason = smoke_test(info.model_uri, reason)
    if promoted and not allow_promotion:
        promoted, reason = False, f"{reason}, but promotion is off here (FEROPS_PROMOTE=0: not the default branch)"
    for key, value in {
        **tags,
        "test_accuracy": f"{accuracy:.6f}",
        "promoted": str(promoted).lower(),
        "gate_reason": reason,
    }.items():
        client.set_model_version_tag(name, version, key, value)
    if promoted:
        client.set_registered_model_alias(name, ALIAS, version)
        # Stages are deprecated in MLflow 3 but models:/fer/Production still resolves through them.
        client.transition_model_version_stage(name, version, STAGE, archive_existing_versions=True)
    decision = Decision(
        name,
        version,
        accuracy,
        current.version if current else None,
        prod_acc,
        promoted,
        reason,
        mlflow.active_run().info.run_id,
        f"models:/{name}/{version}",
    )
    mlflow.set_tags({"export.version": version, "export.promoted": str(promoted).lower(), "export.reason": reason})
    return decision


def as_dict(decision: Decision) -> dict:
    return asdict(decision)
