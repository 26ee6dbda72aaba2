"""One name for the model and one production pointer, used by every app, the benchmarks and the README."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import typer
import yaml

from support.data import REPO
from ferops.registry.names import MODEL_NAME, PRODUCTION_URI, STAGE_URI


def test_every_app_defaults_to_the_alias():
    from ferops.apps.cli import app

    commands = typer.main.get_command(app).commands
    defaults = {name: {p.name: p.default for p in commands[name].params}.get("model_uri") for name in commands}
    assert defaults["webcam"] == defaults["predict"] == defaults["serve"] == PRODUCTION_URI == "models:/fer@production"


def test_params_do_not_name_the_model_a_second_time():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert "model_name" not in params["export"], "the name lives in ferops.registry.names only"


def test_docs_and_benchmarks_use_only_the_two_production_uris():
    texts = [REPO / "README.md", REPO / "serve" / "README.md", *sorted((REPO / "benchmarks").glob("*.py"))]
    for path in texts:
        for uri in re.findall(r"models:/[A-Za-z0-9_]+[@/][A-Za-z0-9_<>]+", path.read_text()):
            assert uri in (PRODUCTION_URI, STAGE_URI, f"models:/{MODEL_NAME}/<version>"), f"{path.name}: {uri}"
    readme = (REPO / "README.md").read_text()
    assert f"models serve -m {PRODUCTION_URI}" in readme


def test_bare_keras_file_needs_its_calibration(tmp_path):
    import keras

    from ferops.registry.loading import ModelNotFound, load_classifier
    from ferops.training.architectures import build

    keras.utils.set_random_seed(0)
    path = tmp_path / "model.keras"
    build("fer_cnn").save(path)
    with pytest.raises(ModelNotFound, match="no calibration.json beside it"):
        load_classifier(str(path))
    (tmp_path / "calibration.json").write_text(json.dumps({"tta_flip": True, "temperature": 1.7}))
    clf = load_classifier(str(path))
    assert clf.tta_flip is True and clf.temperature == 1.7
    (tmp_path / "calibration.json").write_text("{not json")
    with pytest.raises(ModelNotFound, match="not a calibration written by the evaluate stage"):
        load_classifier(str(path))


@pytest.mark.slow  # logs and loads one model
def test_bare_keras_file_answers_like_the_registered_model(tmp_path):
    """models/model.keras + models/calibration.json and the registered pyfunc give the same probabilities."""
    import keras
    import mlflow

    from ferops.registry import export
    from ferops.registry.loading import load_classifier
    from ferops.training.architectures import build

    keras.utils.set_random_seed(0)
    path = tmp_path / "model.keras"
    build("fer_cnn").save(path)
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"tta_flip": True, "temperature": 1.7}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    with mlflow.start_run(experiment_id=exp):
        info = export.log_model(path, calibration)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 48, 48)).astype(np.uint8)
    registered = load_classifier(info.model_uri)
    bare = load_classifier(str(path))
    assert (registered.tta_flip, registered.temperature) == (bare.tta_flip, bare.temperature) == (True, 1.7)
    assert np.allclose(registered.probs(pixels), bare.probs(pixels), atol=1e-6)
    keras.backend.clear_session()


def test_ferops_ui_prints_the_runs_link_and_starts_mlflow_ui_on_the_store(tmp_path, monkeypatch):
    import subprocess

    import mlflow
    from typer.testing import CliRunner

    from ferops.apps.cli import app
    from ferops.core import tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    started = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: started.append(cmd) or 0)
    result = CliRunner().invoke(app, ["ui", "--port", "5123"])
    assert result.exit_code == 0, result.output
    experiment = mlflow.get_experiment_by_name(tracking.EXPERIMENT)
    link = f"http://127.0.0.1:5123/#/experiments/{experiment.experiment_id}/runs?workflowType=machine_learning"
    assert f"ferops runs: {link}" in result.output
    assert experiment.tags[tracking.KIND_TAG] == "custom_model_development"
    (cmd,) = started
    assert cmd[1:] == ["ui", "--backend-store-uri", "sqlite:///mlflow.db", "--host", "127.0.0.1", "--port", "5123"]
