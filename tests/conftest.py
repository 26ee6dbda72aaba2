"""Fixtures only; the helpers the tests share are in tests/support/ (by topic)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.data import synthetic_rows, write_csv


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    """A FER-2013-shaped CSV made in code: every split and label, learnable by a tiny model."""
    return write_csv(tmp_path / "fer.csv", synthetic_rows())


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A folder on its own 100 KiB file system (a tmpfs, so root only): a disk that fills up."""
    import subprocess

    folder = tmp_path / "tiny_disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="session")
def registered_model(tmp_path_factory):
    """A `fer` model registered and promoted in a throwaway SQLite store: (tracking_uri, keras_path, workdir).

    Its weights are untrained (seeded): these tests check plumbing and agreement, not accuracy.
    """
    import keras
    import mlflow

    from ferops.registry import export
    from ferops.training import architectures

    work = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    keras.utils.set_random_seed(0)
    model = architectures.build("fer_cnn")
    path = work / "model.keras"
    model.save(path)
    # The evaluate stage's calibration beside the model, as in models/: the bare .keras loads as registered.
    calibration = work / "calibration.json"
    calibration.write_text('{"tta_flip": true, "temperature": 1.0}')
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.create_experiment("tests", artifact_location=(work / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):
        decision = export.register_and_promote(
            path,
            {"val_accuracy": 0.5, "test_accuracy": 0.5},
            {"min_accuracy": 0.0, "tolerance": 0.0},
            {"git_commit": "test", "data_sha256": "synthetic"},
            calibration=calibration,
        )
    assert decision.promoted
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI to this process's environment: undo it, or
    # every later test (and subprocess) that reads the environment would write into this throwaway store.
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)  # set_registry_uri(None) leaves the exported variable
    return uri, path, work
