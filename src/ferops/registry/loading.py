"""Model URI -> in-process classifier, for the apps (webcam, predict, benchmarks)."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from ferops.runtime.classifier import EmotionClassifier
from ferops.core.tracking import tracking_uri

DEFAULT_MODEL_URI = "models:/fer@production"


class ModelNotFound(RuntimeError):
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
        return "registered models: " + ("; ".join(parts) if parts else "none (run `dvc repro` first)")
    except Exception as e:  # the listing is a hint; never hide the real error behind it
        return f"could not list registered models ({e.__class__.__name__})"


def load_classifier(model_uri: str = DEFAULT_MODEL_URI) -> EmotionClassifier:
    """A models:/, runs:/ or local MLflow model URI, or a .keras file -> EmotionClassifier."""
    path = Path(model_uri)
    if path.suffix == ".keras":
        if not path.is_file():
            raise ModelNotFound(f"model file {model_uri} does not exist")
        return EmotionClassifier.from_keras_file(path)
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ModelNotFound(f"model URI {model_uri!r} does not resolve ({first}); {registered_summary()}") from None
    python_model = model.unwrap_python_model()
    if not hasattr(python_model, "classifier"):
        raise ModelNotFound(f"model at {model_uri!r} is not a ferops emotion model")
    return python_model.classifier
