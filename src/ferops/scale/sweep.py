"""`ferops sweep`: N trainings drawn from a small search space, as Ray Tune trials.

Each trial is an ordinary training (`ferops.training.train.fit`, params.yaml's `train` section with
the trial's values put in) logged as its own MLflow run with all its params, per-epoch metrics and
final validation accuracy, tagged with the sweep's id, so trials compare side by side in the MLflow UI.
The data is read and split once, by the driver, and shared with the trials through Ray's object store.
Each trial asks for `cpus_per_trial` CPUs: on a 2-core machine trials run one after another, on a
cluster as many at once as its CPUs allow.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import yaml

from ferops.core.errors import FerOpsError

# Knob (a dotted path into params.yaml's `train`) -> its values. Small on purpose: a sweep is for
# the few knobs that moved accuracy here, not a grid over everything.
SEARCH_SPACE: dict[str, tuple[str, list]] = {
    "learning_rate": ("loguniform", [5e-4, 5e-3]),
    "weight_decay": ("choice", [0.0, 1e-4, 1e-3]),
    "batch_size": ("choice", [64, 128]),
    "augment.erase": ("choice", [0.0, 0.25]),
}


class SweepError(FerOpsError, RuntimeError):
    """The sweep cannot run here (trials too big for the cluster), or none of its trials finished."""


def _space():
    from ray import tune

    return {
        k: getattr(tune, kind)(*values) if kind != "choice" else tune.choice(values)
        for k, (kind, values) in SEARCH_SPACE.items()
    }


def with_trial(train_cfg: dict, trial: dict) -> dict:
    """params.yaml's train section with the trial's dotted keys set."""
    cfg = copy.deepcopy(train_cfg)
    for key, value in trial.items():
        *parents, leaf = key.split(".")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value.item() if isinstance(value, np.generic) else value
    return cfg


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def snippet(trial: dict) -> str:
    """The trial's values as a block to paste into params.yaml."""
    nested = with_trial({}, {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in trial.items()})
    return yaml.safe_dump({"train": nested}, sort_keys=False)


def _train_trial(trial: dict, arrays: dict, train_cfg: dict, meta: dict) -> None:
    """One trial, in a Ray worker: a normal training, logged to MLflow, reported to Tune."""
    import mlflow
    import tensorflow as tf
    from ray import tune

    from ferops.core import tracking
    from ferops.training import evaluate, train

    try:
        tf.config.threading.set_intra_op_parallelism_threads(meta["cpus"])
    except RuntimeError:
        pass
    os.environ["MLFLOW_TRACKING_URI"] = meta["tracking_uri"]
    tracking.setup()
    cfg = with_trial(train_cfg, trial)
    with mlflow.start_run(run_name=f"sweep-{cfg['arch']}", tags={"stage": "sweep", **meta["tags"]}) as run:
        mlflow.log_params(flat(cfg) | {"data.limit": meta["limit"]})
        with tempfile.TemporaryDirectory(prefix="ferops-trial-") as backup:
            model, history = train.fit(
                arrays, cfg, Path(backup), on_epoch=lambda e, logs: mlflow.log_metrics(logs, step=e), verbose=0
            )
        probs = evaluate.predict_probs(model, arrays["x_val"])
        val_accuracy = float((probs.argmax(axis=1) == arrays["y_val"]).mean())
        mlflow.log_metrics({"final_val_accuracy": val_accuracy, "epochs_run": len(history)})
        tune.report({"val_accuracy": val_accuracy, "mlflow_run_id": run.info.run_id})


def check_cpus(cpus_per_trial: int) -> None:
    """SweepError, naming what the cluster offers, where no node has the CPUs one trial asks for."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    per_node = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    largest = max(per_node, default=0)
    if cpus_per_trial > largest:
        raise SweepError(
            f"--cpus-per-trial {cpus_per_trial} is more than the Ray cluster offers: its largest node has "
            f"{largest} CPUs ({sum(per_node)} CPUs on {len(nodes)} node{'s' if len(nodes) != 1 else ''}); "
            f"a trial runs on one node, so ask for at most {largest}"
        )


def run(
    csv: Path,
    trials: int,
    train_cfg: dict,
    limit: int = 0,
    cpus_per_trial: int = 2,
    ray_address: str | None = None,
    storage: str | None = None,
    seed: int = 0,
    log=print,
) -> dict:
    """Runs the sweep; returns {"trial": values, "val_accuracy", "mlflow_run_id", "sweep_id"} of the best."""
    import ray
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    from ferops.core import tracking
    from ferops.data.ingest import ingest
    from ferops.data.source import DataError
    from ferops.data.split import split_arrays
    from ferops.scale.batch import _absolute_tracking_uri, _start_ray

    # Ray first, as `ferops batch` starts it: an unreachable cluster, or trials too big for it, are
    # refused before the data is read (Tune would otherwise wait forever for either).
    started = _start_ray(ray_address, None)
    try:
        check_cpus(cpus_per_trial)
        table, _ = ingest(csv)
        arrays = split_arrays(table, limit=limit, seed=train_cfg["seed"])
        if len(arrays["y_train"]) == 0 or len(arrays["y_val"]) == 0:
            raise DataError(f"{csv} has no Training or no PublicTest rows to train and select on")
        sweep_id = uuid.uuid4().hex[:12]
        tracking.setup()  # creates the experiment here, with its artifact folder beside the store
        meta = {
            "tracking_uri": _absolute_tracking_uri(),
            "cpus": cpus_per_trial,
            "limit": limit,
            "tags": {"sweep_id": sweep_id, **tracking.lineage_tags(csv)},
        }
        trainable = tune.with_resources(
            tune.with_parameters(_train_trial, arrays=arrays, train_cfg=train_cfg, meta=meta), {"cpu": cpus_per_trial}
        )
        tuner = tune.Tuner(
            trainable,
            param_space=_space(),
            tune_config=tune.TuneConfig(
                num_samples=trials,
                metric="val_accuracy",
                mode="max",
                search_alg=BasicVariantGenerator(random_state=seed),
            ),
            run_config=tune.RunConfig(
                name=f"ferops-sweep-{sweep_id}",
                storage_path=str(Path(storage).resolve()) if storage and "://" not in storage else storage,
                verbose=1,
            ),
        )
        with contextlib.redirect_stdout(sys.stderr):  # Tune's status tables; stdout is the params.yaml block
            results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    failed = [r for r in results if r.error]
    best = results.get_best_result() if len(failed) < len(results) else None
    if best is None:
        raise SweepError(f"all {len(results)} trials failed; first error: {failed[0].error}")
    trial = {k: best.config[k] for k in SEARCH_SPACE}
    log(
        f"sweep {sweep_id}: {len(results) - len(failed)} of {len(results)} trials finished; best val_accuracy "
        f"{best.metrics['val_accuracy']:.4f} (MLflow run {best.metrics['mlflow_run_id']}). For params.yaml:"
    )
    return {
        "trial": trial,
        "val_accuracy": best.metrics["val_accuracy"],
        "mlflow_run_id": best.metrics["mlflow_run_id"],
        "sweep_id": sweep_id,
        "failed": len(failed),
    }
