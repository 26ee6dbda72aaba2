"""DVC stage export: register the model as `fer` and promote it through the gate on validation accuracy."""

import json
import os
import warnings

import mlflow

from ferops.core import config, io, stage, tracking
from ferops.registry import export


def run() -> None:
    params = config.load_params()
    metrics = json.loads(config.EVALUATION.read_text())
    tracking.setup()
    with mlflow.start_run(run_id=tracking.load_run_id()) as active:
        tags = {k: v for k, v in active.data.tags.items() if k in ("git_commit", "data_sha256")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transition_model_version_stage
            decision = export.register_and_promote(
                config.MODEL_FILE,
                metrics,
                params["export"],
                tags,
                allow_promotion=os.environ.get("FEROPS_PROMOTE", "1") != "0",
                calibration=config.CALIBRATION,
                params=active.data.params,  # train's params and rows, evaluate's temperature: lineage
            )
    io.write_json(config.MODEL_DIR / "export.json", export.as_dict(decision))
    verdict = "promoted to production" if decision.promoted else "not promoted"
    print(f"export: {decision.name} version {decision.version} {verdict}: {decision.reason}")


if __name__ == "__main__":
    stage.main(run)
