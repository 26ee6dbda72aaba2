"""DVC stage evaluate: calibrate and score on PublicTest, score on PrivateTest, in the training's MLflow run.

The temperature is fitted on validation (PublicTest) and written to models/calibration.json,
which the export stage ships inside the model: what is reported here is what the apps serve.
Validation figures (val_*) are what the promotion gate compares; PrivateTest (test_*) is reported only.
metrics/evaluate.json holds the headline figures (accuracy, macro-F1, ECE for validation and test) and
metrics/valence.json the same figures for valence (positive / neutral / negative, as the apps lead with),
under the same names: `dvc metrics show/diff` prints one row for each, and fits a terminal.
reports/evaluation.json holds every figure, flat (the export stage describes the model version from it).
"""

import keras
import mlflow

from ferops.core import config, io, stage, tracking
from ferops.data import split
from ferops.runtime import calibration
from ferops.training import evaluate, plots
from ferops.core.fer2013 import EMOTIONS


def run() -> None:
    params = config.load_params()
    tracking.setup()  # an unreachable tracking server fails here, before any work
    cfg = params["evaluate"]
    arrays = split.load(config.ARRAYS)
    model = keras.models.load_model(config.MODEL_FILE)
    val_probs = evaluate.predict_probs(model, arrays["x_val"], tta_flip=cfg["tta_flip"])
    temperature = calibration.fit_temperature(val_probs, arrays["y_val"]) if cfg["calibrate"] else 1.0
    # As served: flip TTA (above) and the temperature, exactly what EmotionClassifier in the pyfunc does.
    val = evaluate.score(arrays["y_val"], calibration.apply_temperature(val_probs, temperature), cfg["ece_bins"])
    raw = evaluate.predict_probs(model, arrays["x_test"], tta_flip=cfg["tta_flip"])
    probs = calibration.apply_temperature(raw, temperature)
    result = evaluate.score(arrays["y_test"], probs, bins=cfg["ece_bins"])
    ece_uncalibrated = evaluate.calibration(arrays["y_test"], raw, cfg["ece_bins"])[0]
    # Valence as the apps report it: a model that gains emotions but loses valence shows before promotion.
    val_valence = evaluate.valence_score(arrays["y_val"], calibration.apply_temperature(val_probs, temperature),
                                         cfg["ece_bins"])
    test_valence = evaluate.valence_score(arrays["y_test"], probs, cfg["ece_bins"])

    reports = config.REPORTS_DIR
    metrics = {f"val_{k}": val[k] for k in ("accuracy", "macro_f1", "ece")} | {"val_rows": len(val_probs)}
    metrics |= {f"test_{k}": result[k] for k in ("accuracy", "macro_f1", "ece")}
    metrics |= {"test_ece_uncalibrated": ece_uncalibrated, "test_rows": len(probs), "temperature": temperature}
    metrics |= {f"val_valence_{k}": val_valence[k] for k in ("accuracy", "macro_f1", "ece")}
    metrics |= {f"test_valence_{k}": test_valence[k] for k in ("accuracy", "macro_f1", "ece")}
    metrics |= {f"test_f1_{name}": v["f1-score"] for name, v in result["per_class"].items()}
    headline = {f"{s}_{k}": metrics[f"{s}_{k}"] for s in ("val", "test") for k in ("accuracy", "macro_f1", "ece")}
    io.write_json(config.METRICS_DIR / "evaluate.json", headline)
    io.write_json(config.METRICS_DIR / "valence.json", {k: metrics[k.replace("_", "_valence_", 1)] for k in headline})
    io.write_json(config.EVALUATION, metrics)
    io.write_json(config.CALIBRATION, {"tta_flip": cfg["tta_flip"], "temperature": temperature})
    pred = probs.argmax(axis=1)
    io.write_text(
        reports / "confusion.csv",
        "actual,predicted\n" + "".join(f"{EMOTIONS[a]},{EMOTIONS[p]}\n" for a, p in zip(arrays["y_test"], pred)),
    )
    io.write_json(reports / "reliability.json", result["reliability"])
    plots.confusion_png(result["confusion"], reports / "confusion.png")
    plots.reliability_png(result["reliability"], result["ece"], reports / "reliability.png")

    with mlflow.start_run(run_id=tracking.load_run_id()):
        # val_accuracy is Keras's per-epoch curve in this run; the served figure gets its own name.
        mlflow.log_metrics({f"served_{k}": v for k, v in metrics.items() if k.startswith("val_") and k != "val_rows"})
        mlflow.log_metrics({k: v for k, v in metrics.items() if k.startswith("test_") and k != "test_rows"})
        mlflow.log_params({"tta_flip": cfg["tta_flip"], "temperature": temperature})
        for name in ("confusion.png", "reliability.png", "confusion.csv", "reliability.json"):
            mlflow.log_artifact(str(reports / name), artifact_path="evaluation")
        mlflow.log_dict({"test": result, "val": val}, "evaluation/metrics.json")
    print(
        f"evaluate: validation (PublicTest, selects) accuracy {metrics['val_accuracy']:.4f}; "
        f"PrivateTest (reported) accuracy {metrics['test_accuracy']:.4f}, macro-F1 {metrics['test_macro_f1']:.4f}, "
        f"ECE {metrics['test_ece']:.4f} (uncalibrated {ece_uncalibrated:.4f}, temperature {temperature}); valence "
        f"accuracy PublicTest {metrics['val_valence_accuracy']:.4f}, PrivateTest {metrics['test_valence_accuracy']:.4f}"
    )


if __name__ == "__main__":
    stage.main(run)
