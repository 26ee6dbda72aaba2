"""DVC stage evaluate: score the trained model on PrivateTest, in the training's MLflow run."""

import keras
import mlflow

from ferops import config, evaluate, io, plots, preprocess, stage, tracking
from ferops.labels import EMOTIONS


def run() -> None:
    params = config.load_params()
    cfg = params["evaluate"]
    arrays = preprocess.load(config.ARRAYS)
    model = keras.models.load_model(config.MODEL_FILE)
    probs = evaluate.predict_probs(model, arrays["x_test"], tta_flip=cfg["tta_flip"])
    result = evaluate.score(arrays["y_test"], probs, bins=cfg["ece_bins"])

    reports = config.REPORTS_DIR
    metrics = {k: result[k] for k in ("accuracy", "macro_f1", "ece")} | {"test_rows": len(probs)}
    metrics["per_class"] = result["per_class"]
    io.write_json(config.METRICS_DIR / "evaluate.json", metrics)
    pred = probs.argmax(axis=1)
    io.write_text(
        reports / "confusion.csv",
        "actual,predicted\n" + "".join(f"{EMOTIONS[a]},{EMOTIONS[p]}\n" for a, p in zip(arrays["y_test"], pred)),
    )
    io.write_json(reports / "reliability.json", result["reliability"])
    plots.confusion_png(result["confusion"], reports / "confusion.png")
    plots.reliability_png(result["reliability"], result["ece"], reports / "reliability.png")

    tracking.setup()
    with mlflow.start_run(run_id=tracking.load_run_id()):
        mlflow.log_metrics({f"test_{k}": metrics[k] for k in ("accuracy", "macro_f1", "ece")})
        mlflow.log_metrics({f"test_f1_{name}": v["f1-score"] for name, v in result["per_class"].items()})
        mlflow.log_param("tta_flip", cfg["tta_flip"])
        for name in ("confusion.png", "reliability.png", "confusion.csv", "reliability.json"):
            mlflow.log_artifact(str(reports / name), artifact_path="evaluation")
        mlflow.log_dict(result, "evaluation/metrics.json")
    print(f"evaluate: accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, ECE {metrics['ece']:.4f}")


if __name__ == "__main__":
    stage.main(run)
