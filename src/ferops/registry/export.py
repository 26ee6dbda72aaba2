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
from mlflow.types.schema import Array, Map, Object, Property

from ferops.runtime.faces import DEFAULT_DETECTOR
from ferops.core.fer2013 import IMAGE_SIZE
from ferops.registry.names import ALIAS, MODEL_NAME, STAGE
from ferops.runtime.imaging import encode_png

# The whole package travels with the model (MLflow code_paths); the pyfunc imports only core and runtime.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
PYFUNC_FILE = PACKAGE_DIR / "runtime" / "pyfunc_model.py"

# Model selection: candidates are compared on validation (PublicTest) accuracy as served; PrivateTest
# is reported beside it and never used to choose.
PROTOCOL = (
    "Selection: early stopping, temperature fitting and the promotion gate use PublicTest (validation) "
    "accuracy measured as served (flip TTA + temperature); PrivateTest is reported and never used to choose."
)
MODEL_DESCRIPTION = (
    "Facial emotion recognition on FER-2013 (48x48 grayscale faces; angry, disgust, fear, happy, sad, "
    "surprise, neutral). A models-from-code pyfunc: base64 images or 48x48 pixel arrays in, one row per face "
    "out (box, detector confidence, label, confidence, probabilities, valence); flip TTA and the fitted "
    "temperature travel inside it. "
    f"Production is the alias @{ALIAS} (stage {STAGE} kept in step). " + PROTOCOL
)

# One endpoint takes two input forms (image records and raw pixel tensors), which no single MLflow
# input schema can express; the model checks its own inputs with per-record errors instead, and
# the signature declares the params and the output: one row per face, every column the model returns.
_PROBS = Map(DataType.double)  # emotion (or valence) name -> probability
SIGNATURE = ModelSignature(
    inputs=None,
    outputs=Schema(
        [
            ColSpec(DataType.long, "record"),
            ColSpec(Array(DataType.long), "box", required=False),  # x, y, w, h; none without detection
            ColSpec(DataType.double, "det_conf", required=False),
            ColSpec(DataType.string, "label"),
            ColSpec(DataType.double, "confidence"),
            ColSpec(_PROBS, "probs"),
            ColSpec(
                Object(
                    [
                        Property("label", DataType.string),
                        Property("confidence", DataType.double),
                        Property("probs", _PROBS),
                    ]
                ),
                "valence",
            ),
        ]
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
    val_accuracy: float  # PublicTest, as served: what the gate compares
    test_accuracy: float | None  # PrivateTest: reported only
    production_version: str | None
    production_val_accuracy: float | None
    promoted: bool
    reason: str
    run_id: str
    model_uri: str


def log_model(keras_file: Path, calibration: Path | None = None) -> mlflow.models.model.ModelInfo:
    """Log the pyfunc into the active run and register it as MODEL_NAME."""
    artifacts = {"keras_model": str(keras_file)} | ({"calibration": str(calibration)} if calibration else {})
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(PYFUNC_FILE),
        artifacts=artifacts,
        code_paths=[str(PACKAGE_DIR)],
        signature=SIGNATURE,
        input_example=input_example(),
        registered_model_name=MODEL_NAME,
    )


def production(client: mlflow.MlflowClient, name: str = MODEL_NAME):
    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None


def production_val_accuracy(version) -> float | None:
    """The validation accuracy (as served) a version was promoted on; None for versions from before it was kept."""
    tag = version.tags.get("val_accuracy")
    return float(tag) if tag is not None else None


def gate(accuracy: float, floor: float, tolerance: float, prod_accuracy: float | None) -> tuple[bool, str]:
    """accuracy: the candidate's validation (PublicTest) accuracy as served; prod_accuracy: production's."""
    if accuracy < floor:
        return False, f"validation accuracy {accuracy:.4f} is below the floor {floor:.4f}"
    if prod_accuracy is not None and accuracy < prod_accuracy - tolerance:
        return False, (
            f"validation accuracy {accuracy:.4f} is below production's {prod_accuracy:.4f} "
            f"minus tolerance {tolerance:.4f}"
        )
    return True, "passed the gate" if prod_accuracy is not None else "passed the gate (no production version yet)"


def promote(client: mlflow.MlflowClient, version: str, name: str = MODEL_NAME, attempts: int = 20) -> str:
    """Point @production at `version`, then make stage Production agree with whatever the alias says.

    The alias decides; the stage is repaired to match it and re-checked until a read shows them equal.
    Two promotions racing then end with both pointers on the same version (the last alias written):
    whoever writes last re-reads after its write, so the final state is always checked by someone.
    Returns the version production points at afterwards.
    """
    client.set_registered_model_alias(name, ALIAS, version)
    for _ in range(attempts):
        current = str(client.get_model_version_by_alias(name, ALIAS).version)
        staged = {str(v.version) for v in client.search_model_versions(f"name='{name}'") if v.current_stage == STAGE}
        if staged == {current}:
            return current
        # Stages are deprecated in MLflow 3, but models:/fer/Production still resolves through them.
        client.transition_model_version_stage(name, current, STAGE, archive_existing_versions=True)
    raise RuntimeError(f"could not bring stage {STAGE} in line with @{ALIAS} after {attempts} attempts")


def version_description(metrics: dict, tags: dict[str, str], params: dict[str, str], reason: str) -> str:
    """A version's numbers, how they were measured, and where it came from, for readers of the registry."""

    def num(key: str) -> str:
        return f"{metrics[key]:.4f}" if isinstance(metrics.get(key), int | float) else "n/a"

    settings = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "n/a"
    return "\n".join(
        [
            f"Validation (PublicTest) accuracy as served: {num('val_accuracy')} (macro-F1 {num('val_macro_f1')}).",
            f"PrivateTest accuracy: {num('test_accuracy')}, macro-F1 {num('test_macro_f1')}, "
            f"ECE {num('test_ece')} (temperature {num('temperature')}).",
            f"Valence (positive / neutral / negative) accuracy: PublicTest {num('val_valence_accuracy')}, "
            f"PrivateTest {num('test_valence_accuracy')} (macro-F1 {num('test_valence_macro_f1')}, "
            f"ECE {num('test_valence_ece')}).",
            PROTOCOL,
            f"Gate: {reason}.",
            f"Lineage: git commit {tags.get('git_commit', 'unknown')}, "
            f"data sha256 {tags.get('data_sha256', 'unknown')}.",
            f"Params: {settings}.",
        ]
    )


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
    metrics: dict,
    cfg: dict,
    tags: dict[str, str],
    allow_promotion: bool = True,
    calibration: Path | None = None,
    params: dict[str, str] | None = None,
) -> Decision:
    """In the active run: log + register the model, then promote it if it passes the gate.

    metrics: the evaluate stage's numbers; the gate reads `val_accuracy` (PublicTest, as served) only.
    allow_promotion=False (pull-request CI) registers a candidate and records why it stayed one.
    """
    client = mlflow.MlflowClient()
    val_accuracy, test_accuracy = float(metrics["val_accuracy"]), metrics.get("test_accuracy")
    current = production(client)
    prod_acc = production_val_accuracy(current) if current is not None else None
    info = log_model(keras_file, calibration)
    version = str(info.registered_model_version)
    promoted, reason = gate(val_accuracy, cfg["min_accuracy"], cfg["tolerance"], prod_acc)
    if promoted and current is not None and prod_acc is None:
        reason += f" (production version {current.version} has no validation accuracy as served: floor only)"
    if promoted:
        promoted, reason = smoke_test(info.model_uri, reason)
    if promoted and not allow_promotion:
        promoted, reason = False, f"{reason}, but promotion is off here (FEROPS_PROMOTE=0: not the default branch)"
    version_tags = {**tags, "val_accuracy": f"{val_accuracy:.6f}", "promoted": str(promoted).lower()}
    if test_accuracy is not None:
        version_tags["test_accuracy"] = f"{float(test_accuracy):.6f}"
    for key, value in {**version_tags, "gate_reason": reason}.items():
        client.set_model_version_tag(MODEL_NAME, version, key, value)
    client.update_registered_model(MODEL_NAME, description=MODEL_DESCRIPTION)
    client.update_model_version(
        MODEL_NAME, version, description=version_description(metrics, tags, params or {}, reason)
    )
    if promoted:
        winner = promote(client, version)
        if winner != version:  # another export promoted after this one: both pointers name its version
            reason += f"; a concurrent promotion then made version {winner} production"
            client.set_model_version_tag(MODEL_NAME, version, "gate_reason", reason)
    decision = Decision(
        MODEL_NAME,
        version,
        val_accuracy,
        float(test_accuracy) if test_accuracy is not None else None,
        str(current.version) if current else None,
        prod_acc,
        promoted,
        reason,
        mlflow.active_run().info.run_id,
        f"models:/{MODEL_NAME}/{version}",
    )
    mlflow.set_tags({"export.version": version, "export.promoted": str(promoted).lower(), "export.reason": reason})
    return decision


def as_dict(decision: Decision) -> dict:
    return asdict(decision)
