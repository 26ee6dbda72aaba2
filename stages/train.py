"""DVC stage train: fit train.arch on the train split, select on PublicTest, log to MLflow."""

import hashlib
import json
import time

import mlflow

from ferops.core import config, io, lock, stage, tracking
from ferops.data import split
from ferops.training import dataset, evaluate, machine, train


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def run() -> None:
    params = config.load_params()
    tracking.setup()  # an unreachable tracking server fails here, before any work
    cpu = machine.cpu_info()
    policy, why = machine.precision(params["train"]["mixed_bfloat16"], cpu)
    print(f"train: {machine.describe(cpu)}; precision {policy} ({why})")
    # The resolved precision, so a resume on another machine never mixes two policies in one backup.
    cfg = {**params["train"], "mixed_bfloat16": policy == "mixed_bfloat16"}
    arrays = split.load(config.ARRAYS)
    train.check_splits(arrays)
    lineage = tracking.lineage_tags(config.ARRAYS)
    # One backup per (params, data): a resumed run never mixes two configurations.
    key = hashlib.sha256(json.dumps([cfg, lineage["data_sha256"]], sort_keys=True).encode()).hexdigest()[:12]
    backup = config.CHECKPOINT_DIR / key
    # A killed `dvc repro` can leave its trainer running: a second one must not share its checkpoint.
    with lock.exclusive(config.CHECKPOINT_DIR / f"{key}.lock", f"checkpoint folder {backup}"):
        fit_and_log(params, cfg, arrays, lineage, backup, cpu, policy)
        train.finish(backup)


def fit_and_log(params, cfg, arrays, lineage, backup, cpu, policy) -> None:
    run_file = backup / "mlflow_run.json"
    resumed = run_file.exists()
    run_id = tracking.load_run_id(run_file) if resumed else None
    with mlflow.start_run(
        run_id=run_id,
        run_name=None if resumed else train.run_name(cfg),
        tags=None if resumed else {"stage": "train", **lineage},
    ) as active:
        if not resumed:
            backup.mkdir(parents=True, exist_ok=True)
            tracking.save_run_id(active.info.run_id, run_file)
            mlflow.log_params(flat(params["train"]) | {"data.limit": params["data"]["limit"], "precision": policy})
            mlflow.log_params({"cpu_model": cpu["cpu_model"]})
            mlflow.set_tags({f"cpu.{flag}": str(cpu[flag]).lower() for flag in machine.FLAGS})
            mlflow.log_params({f"rows_{k[2:]}": len(v) for k, v in arrays.items() if k.startswith("y_")})
            fer = dataset.fer2013(config.ARRAYS, lineage["data_sha256"], arrays)
            mlflow.log_input(fer, context="training")
        else:
            print(f"train: resuming MLflow run {run_id} from {backup}")
        start = time.perf_counter()
        model, history = train.fit(arrays, cfg, backup, on_epoch=lambda e, logs: mlflow.log_metrics(logs, step=e))
        seconds = time.perf_counter() - start
        config.MODEL_DIR.mkdir(exist_ok=True)
        with io.atomic_path(config.MODEL_FILE) as tmp:
            model.save(tmp)
        best = max(history, key=lambda r: r["val_accuracy"])
        val_probs = evaluate.predict_probs(model, arrays["x_val"])
        val_accuracy = float((val_probs.argmax(axis=1) == arrays["y_val"]).mean())
        # Training time (this session's, when resumed) and epochs: the accuracies, single view, are MLflow's;
        # the figures as served are evaluate's, so no two metrics files use one name for different numbers.
        summary = {"train_seconds": round(seconds, 1), "epochs_run": len(history)}
        # val_accuracy here is after BatchNorm recalibration: the model that is saved and exported.
        mlflow.log_metrics(
            {
                "final_val_accuracy": val_accuracy,
                "best_epoch_val_accuracy": best["val_accuracy"],
                "train_seconds": seconds,
            }
        )
        io.write_json(config.METRICS_DIR / "train.json", summary)
        with io.atomic_path(config.METRICS_DIR / "train_history.csv") as tmp:
            keys = list(history[0])
            tmp.write_text(
                ",".join(keys)
                + "\n"
                + "".join(
                    ",".join(str(int(r[k]) if k == "epoch" else round(r[k], 6)) for k in keys) + "\n" for r in history
                )
            )
        tracking.save_run_id(active.info.run_id)
    print(
        f"train: val_accuracy {val_accuracy:.4f}, single view (best epoch {int(best['epoch']) + 1}: "
        f"{best['val_accuracy']:.4f} before BatchNorm recalibration) -> {config.MODEL_FILE}"
    )


if __name__ == "__main__":
    stage.main(run)
