"""Promotion: the gate reads validation only, and racing promotions leave both pointers on one version."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import mlflow
import pytest

from ferops.registry import export
from ferops.registry.names import ALIAS, MODEL_NAME, STAGE


def staged(client) -> set[str]:
    return {str(v.version) for v in client.search_model_versions(f"name='{MODEL_NAME}'") if v.current_stage == STAGE}


def alias(client) -> str:
    return str(client.get_model_version_by_alias(MODEL_NAME, ALIAS).version)


@pytest.fixture
def store(tmp_path):
    """A SQLite registry holding `fer` versions 1-3 (the artifacts are never loaded here)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    client.create_registered_model(MODEL_NAME)
    for _ in range(3):
        client.create_model_version(MODEL_NAME, (tmp_path / "model").as_uri())
    return uri, client


def test_promote_sets_alias_and_stage_and_repairs_a_stale_stage(store):
    _, client = store
    assert export.promote(client, "1") == "1"
    assert alias(client) == "1" and staged(client) == {"1"}
    # A stage left behind by something else (an old client, a crash between the two writes): repaired.
    client.transition_model_version_stage(MODEL_NAME, "3", STAGE, archive_existing_versions=False)
    assert staged(client) == {"1", "3"}
    assert export.promote(client, "2") == "2"
    assert staged(client) == {"2"} and alias(client) == "2"


RACER = textwrap.dedent(
    """
    import sys, time, warnings
    import mlflow
    from ferops.registry import export
    warnings.simplefilter("ignore")
    uri, version, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    client.search_registered_models()  # connect and migrate before the start line
    time.sleep(max(0.0, start - time.time()))
    for _ in range(15):
        export.promote(client, version)
    """
)


def test_two_processes_promoting_at_once_agree(store):
    """Each process promotes its own version 15 times, both starting at the same instant; whoever wins,
    @production and stage Production must name the same single version (before the fix: 3 in 20 disagreed)."""
    import time

    uri, client = store
    start = time.time() + 8  # both processes are past their imports by then
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, uri, v, str(start)], stderr=subprocess.PIPE, text=True)
        for v in ("1", "2")
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
    winner = alias(client)
    assert winner in {"1", "2"} and staged(client) == {winner}


@pytest.mark.slow  # three models logged: about a minute on a busy 2-core machine
def test_gate_compares_validation_only_never_the_test_set(tmp_path, monkeypatch):
    """A candidate better on PrivateTest but worse on validation stays out; the reverse goes in."""
    import keras

    from ferops.training import architectures

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    keras.utils.set_random_seed(0)
    path = tmp_path / "model.keras"
    architectures.build("fer_cnn").save(path)
    exp = mlflow.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    cfg = {"min_accuracy": 0.3, "tolerance": 0.005}
    monkeypatch.setattr(export, "smoke_test", lambda uri, reason: (True, reason))  # loading is tested elsewhere
    with mlflow.start_run(experiment_id=exp):
        first = export.register_and_promote(path, {"val_accuracy": 0.60, "test_accuracy": 0.40}, cfg, {})
        worse_val = export.register_and_promote(path, {"val_accuracy": 0.58, "test_accuracy": 0.90}, cfg, {})
        better_val = export.register_and_promote(path, {"val_accuracy": 0.62, "test_accuracy": 0.10}, cfg, {})
    assert first.promoted and not worse_val.promoted and better_val.promoted
    assert "validation accuracy 0.5800 is below production's 0.6000" in worse_val.reason
    assert better_val.production_version == "1" and better_val.production_val_accuracy == pytest.approx(0.60)
    client = mlflow.MlflowClient()
    assert alias(client) == "3" and staged(client) == {"3"}
    assert client.get_model_version(MODEL_NAME, "2").tags["test_accuracy"] == "0.900000", "reported, not used"
    keras.backend.clear_session()
