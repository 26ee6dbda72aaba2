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
    from pathlib import Path
    uri, version, folder, offset, stage_delay = sys.argv[1], sys.argv[2], Path(sys.argv[3]), *map(float, sys.argv[4:])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    client.search_registered_models()  # connect and migrate before the start line
    transition = client.transition_model_version_stage

    def slow_transition(*args, **kwargs):  # a slow registry between the alias write and the stage write
        time.sleep(stage_delay)
        return transition(*args, **kwargs)

    client.transition_model_version_stage = slow_transition
    (folder / f"ready{version}").touch()
    while not (folder / "go").exists():
        time.sleep(0.05)
    time.sleep(max(0.0, float((folder / "go").read_text()) + offset - time.time()))
    print(export.promote(client, version))
    """
)


def test_two_processes_promoting_at_once_agree(store, tmp_path):
    """Process 1 sets the alias first but is slow to set the stage; process 2 promotes in between.

    Without the re-check, 1's late stage write leaves @production on 2 and stage Production on 1
    (the webcam and the server would run different models). With it, both end on the alias's version.
    """
    import time

    uri, client = store
    racers = [("1", 0.0, 3.0), ("2", 1.0, 0.0)]  # version, start offset (s), delay before each stage write (s)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, v, str(tmp_path), str(t), str(delay)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for v, t, delay in racers
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{v}").exists() for v, _, _ in racers):  # both past their imports
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a racer did not start"
        time.sleep(0.1)
    (tmp_path / "go").write_text(str(time.time() + 0.5))
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()[-2000:]
        outputs.append(out.decode().strip())
    assert alias(client) == "2" and staged(client) == {"2"}
    assert outputs == ["2", "2"], "each promotion reports the version production ended on"


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
