"""`dvc repro` end to end on a tiny synthetic CSV, with the embedded store and with a real server."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from support.processes import clean_env, mlflow_process
from support.pipeline import dvc, make_pipeline_copy
from ferops.runtime.imaging import encode_png

pytestmark = pytest.mark.slow


def check_registered_model(tracking_uri: str):
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    pixels = np.random.default_rng(0).integers(0, 256, (3, 48, 48)).astype(np.uint8)
    outputs = []
    for uri in ("models:/fer/Production", "models:/fer@production"):
        model = mlflow.pyfunc.load_model(uri)
        out = model.predict(pixels)
        assert list(out["record"]) == [0, 1, 2]
        probs = np.array([[p[k] for k in p] for p in out["probs"]])
        assert np.allclose(probs.sum(axis=1), 1.0, atol=2e-3)
        outputs.append(probs)
        # Face crops of any size and colour, and the float/(N,48,48,1) tensor form, go through the same path.
        colour = np.dstack([pixels[0]] * 3)
        crops = model.predict(
            pd.DataFrame({"image": [encode_png(colour), encode_png(np.kron(pixels[1], np.ones((3, 3), np.uint8)))]})
        )
        assert list(crops["record"]) == [0, 1]
        assert model.predict(pixels[..., None].astype(np.float32))["label"].tolist() == out["label"].tolist()
    assert np.allclose(outputs[0], outputs[1]), "stage and alias resolve to the same version"
    return model


def test_dvc_repro_embedded_store(tmp_path):
    repo = make_pipeline_copy(tmp_path)
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("ingest", "preprocess", "train", "evaluate", "export"):
        assert f"Running stage '{stage}'" in result.stdout
    headline = json.loads((repo / "metrics" / "evaluate.json").read_text())
    assert set(headline) == {f"{s}_{k}" for s in ("val", "test") for k in ("accuracy", "macro_f1", "ece")}
    metrics = json.loads((repo / "reports" / "evaluation.json").read_text())
    wanted = {"test_ece_uncalibrated", "temperature", "val_valence_accuracy", "test_f1_happy"}
    assert wanted <= set(metrics) and headline.items() <= metrics.items()
    assert all(isinstance(v, int | float) for v in metrics.values()), "flat numbers"
    valence = json.loads((repo / "metrics" / "valence.json").read_text())
    # valence.json: evaluate.json's figures for valence, under the same names (one row each in the table)
    assert valence == {k: metrics[k.replace("_", "_valence_", 1)] for k in headline}
    train = json.loads((repo / "metrics" / "train.json").read_text())
    assert not set(train) & set(headline), "no two metrics files use one name for different numbers"
    assert json.loads((repo / "models" / "calibration.json").read_text())["temperature"] == metrics["temperature"]
    decision = json.loads((repo / "models" / "export.json").read_text())
    assert decision["promoted"] is True and decision["version"] == "1"
    assert decision["val_accuracy"] == metrics["val_accuracy"], "the gate compares validation, as served"
    assert decision["test_accuracy"] == metrics["test_accuracy"]
    assert (repo / "mlflow.db").exists() and (repo / "mlartifacts").is_dir()
    assert not (repo / "mlruns").exists()

    table = dvc(repo, "metrics", "show").stdout
    assert "ingest" not in table and max(map(len, table.splitlines())) <= 140, table
    shown = dvc(repo, "metrics", "show", "--json")
    assert shown.returncode == 0
    shown_eval = json.loads(shown.stdout)[""]["data"]["metrics/evaluate.json"]["data"]
    assert shown_eval["val_accuracy"] == metrics["val_accuracy"]
    shown_valence = json.loads(shown.stdout)[""]["data"]["metrics/valence.json"]["data"]
    assert shown_valence["val_accuracy"] == metrics["val_valence_accuracy"]
    assert "up to date" in dvc(repo, "status").stdout.lower()

    model = check_registered_model(f"sqlite:///{repo / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    version = client.get_model_version("fer", "1")
    assert version.tags["promoted"] == "true" and "data_sha256" in version.tags and "git_commit" in version.tags
    assert float(version.tags["val_accuracy"]) == pytest.approx(metrics["val_accuracy"], abs=1e-6)
    assert f"as served: {metrics['val_accuracy']:.4f}" in version.description
    assert version.tags["data_sha256"] in version.description and "arch=fer_cnn" in version.description
    assert "PublicTest" in client.get_registered_model("fer").description
    run = client.get_run(decision["run_id"])
    assert "test_accuracy" in run.data.metrics and "val_accuracy" in run.data.metrics, "one run: train + evaluate"
    assert run.data.metrics["served_val_accuracy"] == pytest.approx(metrics["val_accuracy"])
    assert run.data.tags["data_sha256"] and run.data.tags["git_commit"]
    assert run.info.run_name == "fer_cnn-e1-b16-lr0.002"
    (logged,) = run.inputs.dataset_inputs
    assert logged.dataset.name == "FER-2013" and logged.dataset.digest == run.data.tags["data_sha256"][:32]
    assert json.loads(logged.dataset.profile)["rows"] == {"Training": 28, "PublicTest": 28, "PrivateTest": 28}
    assert {"label", "confidence"} <= set(model.predict(np.zeros((1, 48, 48), np.uint8)).columns)


def test_dvc_repro_against_real_mlflow_server(tmp_path):
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    store = ("--backend-store-uri", f"sqlite:///{server_dir / 'server.db'}")
    artifacts = ("--artifacts-destination", str(server_dir / "artifacts"))
    with mlflow_process(
        "server", "--workers", "1", *store, *artifacts, health="/health", env=clean_env(), cwd=server_dir
    ) as uri:
        (tmp_path / "repo").mkdir()
        repo = make_pipeline_copy(tmp_path / "repo")
        result = dvc(repo, "repro", env=clean_env(MLFLOW_TRACKING_URI=uri))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert not (repo / "mlflow.db").exists(), "nothing went to the embedded store"
        check_registered_model(uri)
        assert any((server_dir / "artifacts").rglob("MLmodel")), "artifacts were proxied to the server's store"


def test_missing_csv_is_one_clear_error_and_nonzero_exit(tmp_path):
    import subprocess

    repo = make_pipeline_copy(tmp_path)
    (repo / "data" / "raw" / "fer2013.csv").unlink()
    result = subprocess.run(["python", "stages/ingest.py"], cwd=repo, env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: FER-2013 CSV not found at data/raw/fer2013.csv")
    assert "Kaggle" in result.stderr and "Traceback" not in result.stderr
