"""Model URI -> in-process classifier, for the apps (webcam, predict, benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from ferops.core.errors import FerOpsError
from ferops.core.tracking import StoreError, tracking_uri, use_store
from ferops.registry.names import PRODUCTION_URI
from ferops.runtime.classifier import EmotionClassifier

DEFAULT_MODEL_URI = PRODUCTION_URI
# The evaluate stage writes the calibration beside the model (models/calibration.json); a bare .keras
# file loads with it, so it answers exactly as the registered model does.
CALIBRATION_NAME = "calibration.json"


class ModelNotFound(FerOpsError, RuntimeError):
    pass


def registered_summary() -> str:
    try:
        client = mlflow.MlflowClient()
        parts = []
        for rm in client.search_registered_models():
            versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{rm.name}'"))
            aliases = ", ".join(f"@{a}={v}" for a, v in (rm.aliases or {}).items())
            parts.append(
                f"{rm.name} (versions {', '.join(map(str, versions)) or 'none'}{'; ' + aliases if aliases else ''})"
            )
        listing = "; ".join(parts) if parts else "none (run `make repro` first)"
        return f"registered models in {tracking_uri()}: {listing}"
    except Exception as e:  # the listing is a hint; never hide the real error behind it
        return f"could not list registered models ({e.__class__.__name__})"


def load_classifier(model_uri: str = DEFAULT_MODEL_URI) -> EmotionClassifier:
    """A models:/, runs:/ or local MLflow model URI, or a .keras file -> EmotionClassifier."""
    path = Path(model_uri)
    if path.suffix == ".keras":
        return _from_keras_file(path)
    if model_uri.startswith(("models:", "runs:")):  # a model folder needs no store
        try:
            use_store(create=False)
        except StoreError as e:
            raise ModelNotFound(f"model URI {model_uri!r}: {e}") from None
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as e:
        raise _does_not_resolve(model_uri, e) from None
    python_model = model.unwrap_python_model()
    if not hasattr(python_model, "classifier"):
        raise ModelNotFound(f"model at {model_uri!r} is not a ferops emotion model")
    return python_model.classifier


def pin(model_uri: str) -> tuple[str, str | None]:
    """The one resolver: model_uri -> (a URI naming one model for good, its registered version or None).

    An alias or a stage (models:/fer@production, models:/fer/Production) is resolved to the version it
    points at now (models:/fer/4), so everything one run loads (the app's sessions, batch's actors, a
    server) is the same model even if production moves meanwhile, and each session records which. A
    version, a run, a model folder or a .keras file names one model already (a folder or file by its
    absolute path; version None but for models:/name/N). ModelNotFound, naming what the store holds,
    when it resolves to nothing."""
    import re

    if model_uri.endswith(".keras"):
        if not Path(model_uri).is_file():
            raise ModelNotFound(f"model file {model_uri} does not exist")
        return str(Path(model_uri).resolve()), None
    m = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/([^/]+))", model_uri)
    try:
        if m:
            use_store(create=False)
            mlflow.set_tracking_uri(tracking_uri())
            mlflow.set_registry_uri(tracking_uri())
            name, alias, ref = m.groups()
            client = mlflow.MlflowClient()
            if alias:
                version = str(client.get_model_version_by_alias(name, alias).version)
            elif ref.isdigit():
                version = ref
            else:
                in_stage = [int(v.version) for v in client.search_model_versions(f"name='{name}'")
                            if v.current_stage.lower() == ref.lower()]
                if not in_stage:
                    raise MlflowException(f"no version of {name} is in stage {ref}")
                version = str(max(in_stage))
            pinned = f"models:/{name}/{version}"
            mlflow.models.get_model_info(pinned)
            return pinned, version
        mlflow.models.get_model_info(model_uri)
    except StoreError as e:
        raise ModelNotFound(f"model URI {model_uri!r}: {e}") from None
    except (MlflowException, OSError) as e:
        raise _does_not_resolve(model_uri, e) from None
    return (str(Path(model_uri).resolve()) if Path(model_uri).exists() else model_uri), None


def check_resolves(model_uri: str) -> None:
    """ModelNotFound, naming what the store holds, where model_uri names no model; reads only its MLmodel file."""
    try:
        mlflow.models.get_model_info(model_uri)
    except (MlflowException, OSError) as e:
        raise _does_not_resolve(model_uri, e) from None


def _does_not_resolve(model_uri: str, e: Exception) -> ModelNotFound:
    first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
    return ModelNotFound(f"model URI {model_uri!r} does not resolve ({first}); {registered_summary()}")


def _from_keras_file(path: Path) -> EmotionClassifier:
    """A .keras file with the calibration.json beside it (flip TTA + temperature), never without."""
    if not path.is_file():
        raise ModelNotFound(f"model file {path} does not exist")
    settings_file = path.with_name(CALIBRATION_NAME)
    if not settings_file.is_file():
        raise ModelNotFound(
            f"{path} has no {CALIBRATION_NAME} beside it, so it would answer uncalibrated and without flip "
            f"averaging; use the registered model ({PRODUCTION_URI}) or put the evaluate stage's "
            f"models/{CALIBRATION_NAME} next to it"
        )
    try:
        settings = json.loads(settings_file.read_text())
        return EmotionClassifier.from_keras_file(path, {k: settings[k] for k in ("tta_flip", "temperature")})
    except (ValueError, KeyError, TypeError) as e:
        raise ModelNotFound(f"{settings_file}: not a calibration written by the evaluate stage ({e})") from None
