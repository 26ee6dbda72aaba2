"""The MLflow UI, in a real (headless) browser: the experiment opens on its runs, each run shows its
dataset, and the registered model shows its description. Screenshots go to $FEROPS_SCREENSHOTS
(default: the test's tmp folder), never into the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import clean_env, mlflow_process

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CFG = {"arch": "fer_cnn", "epochs": 3, "batch_size": 16, "learning_rate": 0.002}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture
def logged_store(tmp_path, monkeypatch):
    """A pipeline-shaped store: the `ferops` experiment as the stages set it up, one training run with
    its dataset, and `fer` registered through the export code."""
    import keras
    import mlflow
    import numpy as np

    from ferops.core import tracking
    from ferops.registry import export
    from ferops.training import architectures, dataset, train

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    exp_id = tracking.setup()
    arrays = {f"y_{s}": np.zeros(n, np.uint8) for s, n in (("train", 70), ("val", 14), ("test", 21))}
    keras.utils.set_random_seed(0)
    model_file = tmp_path / "model.keras"
    architectures.build("fer_cnn").save(model_file)
    metrics = {"val_accuracy": 0.61, "val_macro_f1": 0.55, "test_accuracy": 0.6, "test_macro_f1": 0.5}
    tags = {"git_commit": "abc1234", "data_sha256": "d" * 64}
    with mlflow.start_run(run_name=train.run_name(CFG), tags=tags) as run:
        mlflow.log_params(CFG)
        mlflow.log_input(dataset.fer2013(model_file, "d" * 64, arrays), context="training")
        mlflow.log_metric("val_accuracy", 0.61)
        decision = export.register_and_promote(
            model_file, metrics, {"min_accuracy": 0.0, "tolerance": 0.0}, tags, params=CFG
        )
    assert decision.promoted
    assert mlflow.get_experiment(exp_id).tags[tracking.KIND_TAG] == tracking.KIND
    return tracking.tracking_uri(), exp_id, run.info.run_id, tmp_path


def test_experiment_opens_on_runs_with_dataset_and_model_description(logged_store, tmp_path):
    from playwright.sync_api import sync_playwright

    from ferops.core import tracking

    uri, exp_id, run_id, store_dir = logged_store
    shots = Path(os.environ.get("FEROPS_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    name = "fer_cnn-e3-b16-lr0.002"
    server = ("server", "--backend-store-uri", uri, "--workers", "1")
    with mlflow_process(*server, health="/health", env=clean_env(), cwd=store_dir) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            try:
                page.goto(tracking.runs_url(url, exp_id))  # the link `ferops ui` prints
                page.get_by_text(name).first.wait_for(timeout=60_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(shots / "experiment.png"))
                body = page.inner_text("body")
                assert f"/experiments/{exp_id}/runs" in page.url, f"landed on {page.url}, not the runs table"
                assert name in body, "the runs table names the run by arch and key params"
                assert f"FER-2013 ({'d' * 32})" in body, "the runs table shows the run's dataset and its digest"

                page.goto(f"{url}/#/models/fer")
                page.get_by_text("Facial emotion recognition on FER-2013").first.wait_for(timeout=60_000)
                page.screenshot(path=str(shots / "model.png"))

                page.goto(f"{url}/#/models/fer/versions/1")
                page.get_by_text("Validation (PublicTest) accuracy as served: 0.6100").first.wait_for(timeout=60_000)
                page.screenshot(path=str(shots / "model_version.png"))
                body = page.inner_text("body")
                assert "git commit abc1234" in body and "arch=fer_cnn" in body
            finally:
                page.screenshot(path=str(shots / "last.png"))  # where it stood, pass or fail
                (shots / "last_url.txt").write_text(page.url)
                browser.close()
