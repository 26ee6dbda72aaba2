"""The MLflow UI, in a real (headless) browser: the experiment opens on its runs, each run shows its
dataset, and the registered model shows its description. Screenshots go to test-artefacts/mlflow_ui_*
(git-ignored), never into the repository."""

from __future__ import annotations

import pytest

from support.browser import chromium, needs_chromium, screenshot
from support.processes import clean_env, mlflow_process

CFG = {"arch": "fer_cnn", "epochs": 3, "batch_size": 16, "learning_rate": 0.002}

pytestmark = [pytest.mark.slow, needs_chromium]


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


def wait_for_text(driver, text: str, timeout: float = 60) -> str:
    """The page's visible text once it contains `text` (the MLflow UI renders after its API calls)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def body(d) -> str:
        return d.find_element(By.TAG_NAME, "body").text

    WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: text in body(d))
    return body(driver)


def test_experiment_opens_on_runs_with_dataset_and_model_description(logged_store):
    from ferops.core import tracking

    uri, exp_id, run_id, store_dir = logged_store
    name = "fer_cnn-e3-b16-lr0.002"
    server = ("server", "--backend-store-uri", uri, "--workers", "1")
    with mlflow_process(*server, health="/health", env=clean_env(), cwd=store_dir) as url:
        with chromium(1600, 900) as driver:
            try:
                driver.get(tracking.runs_url(url, exp_id))  # the link `ferops ui` prints
                body = wait_for_text(driver, f"FER-2013 ({'d' * 32})")
                screenshot(driver, "mlflow_ui_experiment")
                assert f"/experiments/{exp_id}/runs" in driver.current_url, (
                    f"landed on {driver.current_url}, not the runs table"
                )
                assert name in body, "the runs table names the run by arch and key params"

                driver.get(f"{url}/#/models/fer")
                wait_for_text(driver, "Facial emotion recognition on FER-2013")
                screenshot(driver, "mlflow_ui_model")

                driver.get(f"{url}/#/models/fer/versions/1")
                body = wait_for_text(driver, "Validation (PublicTest) accuracy as served: 0.6100")
                screenshot(driver, "mlflow_ui_model_version")
                assert "git commit abc1234" in body and "arch=fer_cnn" in body
            finally:
                screenshot(driver, "mlflow_ui_last")  # where it stood, pass or fail
