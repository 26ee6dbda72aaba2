"""Arrays -> trained Keras model. The whole loop, readable in one page.

Resumable: Keras's BackupAndRestore keeps the last finished epoch (weights, optimizer, LR
schedule position) in `backup_dir`; the best-on-validation model and the history are kept
beside it, so a killed run picks up where it stopped and still returns its best epoch.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from ferops.core.config import ParamsError
from ferops.data.source import DataError
from ferops.training import machine
from ferops.training.augment import augmenter, random_erase
from ferops.training.averaging import AverageEveryStep, WeightAverage
from ferops.core.io import atomic_path, write_json
from ferops.core.fer2013 import NUM_CLASSES
from ferops.training.architectures import build

EpochHook = Callable[[int, dict[str, float]], None]


def run_name(cfg: dict) -> str:
    """The MLflow run name: what tells runs apart, e.g. fer_cnn-e40-b128-lr0.002 (-cw with class weights)."""
    name = f"{cfg['arch']}-e{cfg['epochs']}-b{cfg['batch_size']}-lr{cfg['learning_rate']:g}"
    return name + ("-cw" if cfg.get("class_weights") else "")


def class_weights(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(float)
    weights = len(labels) / (NUM_CLASSES * np.maximum(counts, 1))
    return {c: float(w) for c, w in enumerate(weights)}


def check_splits(arrays: dict[str, np.ndarray]) -> None:
    """Refuse up front what would otherwise fail after a whole epoch (no validation score to select on)."""
    for split, usage, role in (("train", "Training", "to train on"), ("val", "PublicTest", "to select on")):
        if len(arrays[f"y_{split}"]) == 0:
            raise DataError(
                f"no {usage} rows {role}: training fits on Training and selects its best epoch and stops early on "
                f"PublicTest (validation); the CSV needs rows with Usage {usage}"
            )


def precision_policy(cfg: dict) -> str:
    """train.mixed_bfloat16 (auto, true, false) -> the Keras dtype policy for this machine."""
    return machine.precision(cfg.get("mixed_bfloat16", False), machine.cpu_info())[0]


def datasets(arrays: dict[str, np.ndarray], cfg: dict) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    aug = augmenter(cfg.get("augment", {}), cfg["seed"])
    erase = cfg.get("augment", {}).get("erase", 0.0)

    def augment(x, y):
        x = aug(tf.cast(x, tf.float32), training=True)
        return random_erase(x, erase, cfg["seed"]), y

    x_train = arrays["x_train"][..., None]
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, arrays["y_train"]))
        .shuffle(len(x_train), seed=cfg["seed"], reshuffle_each_iteration=True)
        .batch(cfg["batch_size"])
        .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = tf.data.Dataset.from_tensor_slices((arrays["x_val"][..., None], arrays["y_val"])).batch(512)
    return train, val


# Both decay weights decoupled from the gradient (Keras applies weight_decay as w -= lr * wd * w).
OPTIMIZERS: dict[str, Callable[[object, float], keras.optimizers.Optimizer]] = {
    "adamw": lambda lr, wd: keras.optimizers.AdamW(lr, weight_decay=wd),
    "sgd": lambda lr, wd: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd),
}


def compile_model(cfg: dict, steps_per_epoch: int) -> keras.Model:
    keras.mixed_precision.set_global_policy(precision_policy(cfg))
    model = build(cfg["arch"])
    total = max(1, cfg["epochs"] * steps_per_epoch)
    warmup = min(total - 1, cfg.get("warmup_epochs", 0) * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg["learning_rate"] if warmup == 0 else 0.0,
        decay_steps=total - warmup,
        warmup_target=cfg["learning_rate"] if warmup else None,
        warmup_steps=warmup,
    )
    name = cfg.get("optimizer", "adamw")
    if name not in OPTIMIZERS:
        raise ParamsError(f"unknown train.optimizer {name!r}; one of: {', '.join(OPTIMIZERS)}")
    optimizer = OPTIMIZERS[name](schedule, cfg.get("weight_decay", 0.0))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _val_scores(model: keras.Model, val: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    x, y = val
    batches = (x[i : i + 512, ..., None].astype(np.float32) for i in range(0, len(x), 512))
    probs = np.concatenate([np.asarray(model(batch)) for batch in batches])
    loss = float(-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-7)).mean())
    return loss, float((probs.argmax(axis=1) == y).mean())


class _KeepBest(keras.callbacks.Callback):
    """Saves the best-on-validation model of finished epochs; its score survives a restart (unlike ModelCheckpoint's).

    An epoch's model is first written as a candidate and becomes best.keras only once the epoch is
    done (the backup callback, last in the list, has saved it). A run killed in between redoes the
    epoch; the discarded attempt's model and score must not outlive it as the best of a history that
    has no row for them.

    With a weight average, the averaged weights are the candidate: they are scored on validation
    (the logs' val_accuracy, which early stopping reads, becomes theirs; the raw weights' score is
    kept as val_accuracy_raw, a paired comparison from the same run) and saved when best.
    """

    def __init__(self, folder: Path, hook: EpochHook | None, average=None, val=None):
        super().__init__()
        self.model_path, self.state_path, self.hook = folder / "best.keras", folder / "best.json", hook
        self.candidate_path, self.candidate_state = folder / "candidate.keras", folder / "candidate.json"
        self.average, self.val, self.average_path = average, val, folder / "average.npz"
        self.best = json.loads(self.state_path.read_text())["val_accuracy"] if self.state_path.exists() else -1.0
        if average is not None and self.average_path.exists():
            average.load(self.average_path)

    def on_epoch_begin(self, epoch, logs=None):
        # Every epoch before this one is done: at a resume, this is the first epoch the backup did not keep.
        self._settle(finished_before=epoch)

    def on_train_end(self, logs=None):
        self._settle(finished_before=float("inf"))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.average is not None:
            # The same dict goes on to the CSV logger and early stopping: they see the average's score.
            logs["val_loss_raw"], logs["val_accuracy_raw"] = logs["val_loss"], logs["val_accuracy"]
            with self.average.swapped():
                logs["val_loss"], logs["val_accuracy"] = _val_scores(self.model, self.val)
                self._keep_if_best(epoch, logs["val_accuracy"])
            # Saved before the backup callback marks the epoch done; a kill in between redoes the epoch
            # on top of this average (one epoch counted twice in it: harmless).
            self.average.save(self.average_path)
        else:
            self._keep_if_best(epoch, float((logs or {})["val_accuracy"]))
        logs = {k: float(v) for k, v in (logs or {}).items()}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if self.hook:
            self.hook(epoch, logs)

    def _keep_if_best(self, epoch: int, score: float) -> None:
        if score > self.best:
            with atomic_path(self.candidate_path) as tmp:
                self.model.save(tmp)
            write_json(self.candidate_state, {"val_accuracy": score, "epoch": epoch})  # last: marks it complete

    def _settle(self, finished_before: float) -> None:
        """Promote a candidate of a finished epoch to best, drop one of an epoch that will be redone.

        Each step is one rename, in an order that a kill between any two can resume from.
        """
        if self.candidate_state.exists():
            state = json.loads(self.candidate_state.read_text())
            if state["epoch"] < finished_before:
                if self.candidate_path.exists():  # absent: a kill came after this rename, before the next
                    os.replace(self.candidate_path, self.model_path)
                os.replace(self.candidate_state, self.state_path)
                self.best = state["val_accuracy"]
            else:
                self.candidate_state.unlink()
        self.candidate_path.unlink(missing_ok=True)  # without its state file: an attempt cut short


class _ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on validation accuracy whose patience counter and best score survive a resume.

    Keras's own restarts both at every fit(), so a run interrupted every few epochs would never stop
    early. Here they are rebuilt at the first epoch by replaying the finished epochs' history.
    """

    def __init__(self, history_file: Path, patience: int):
        super().__init__("val_accuracy", patience=patience, mode="max")
        self.history_file = history_file
        self._replayed = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._replayed = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._replayed:
            return
        self._replayed = True
        if self.monitor_op is None:
            self._set_monitor_op()
        for _, score in sorted(_finished_epochs(self.history_file, before=epoch).items()):
            self.wait += 1
            if self._is_improvement(score, self.best):
                self.best, self.wait = score, 0


def _finished_epochs(history_file: Path, before: int) -> dict[int, float]:
    """Validation accuracy per epoch < `before` from the CSV log (a redone epoch's last row wins)."""
    if not history_file.exists():
        return {}
    with open(history_file) as f:
        rows = {int(float(r["epoch"])): float(r["val_accuracy"]) for r in csv.DictReader(f)}
    return {e: v for e, v in rows.items() if e < before}


def recalibrate_batchnorm(
    model: keras.Model, images: np.ndarray, batch_size: int = 256, max_batches: int = 60, seed: int = 0
) -> None:
    """Precise BN: set every BatchNorm's moving statistics to their average over clean training batches.

    The running averages kept during training lag the weights and were taken on augmented images;
    on FER-2013 that gap cost several points of validation accuracy at inference.
    """
    layers = list(model._flatten_layers())
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [layer for layer in layers if isinstance(layer, keras.layers.Dropout)]
    if not norms:
        return
    order = np.random.default_rng(seed).permutation(len(images))[: batch_size * max_batches]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in drops]
    for d in drops:
        d.rate = 0.0  # statistics of the network as it runs at inference
    try:
        for i, start in enumerate(range(0, len(order), batch_size)):
            for n in norms:
                n.momentum = i / (i + 1)  # a plain running mean over the batches seen so far
            batch = images[np.sort(order[start : start + batch_size])]
            model(batch.reshape(len(batch), batch.shape[1], batch.shape[2], 1).astype(np.float32), training=True)
    finally:
        for n, m in zip(norms, momenta):
            n.momentum = m
        for d, r in zip(drops, rates):
            d.rate = r


def fit(
    arrays: dict[str, np.ndarray],
    cfg: dict,
    backup_dir: Path,
    on_epoch: EpochHook | None = None,
    verbose: int | str = "auto",
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Train (or resume) and return the best-on-validation model and the per-epoch history."""
    check_splits(arrays)
    keras.utils.set_random_seed(cfg["seed"])
    backup_dir.mkdir(parents=True, exist_ok=True)
    train_ds, val_ds = datasets(arrays, cfg)
    model = compile_model(cfg, steps_per_epoch=int(train_ds.cardinality()))
    history_file = backup_dir / "history.csv"
    decay = cfg.get("ema_decay", 0.0)
    if not 0.0 <= decay < 1.0:
        raise ParamsError(f"train.ema_decay must be in [0, 1) (0 = off), got {decay!r}")
    average = WeightAverage(model, decay) if decay else None
    # The backup goes last: an epoch counts as done only once its best model and history are written,
    # so a run killed in between redoes that epoch instead of losing it.
    callbacks = [
        *([AverageEveryStep(average)] if average else []),
        _KeepBest(backup_dir, on_epoch, average, (arrays["x_val"], arrays["y_val"])),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        _ResumableEarlyStopping(history_file, cfg["patience"]),
        keras.callbacks.BackupAndRestore(str(backup_dir / "keras"), delete_checkpoint=False),
    ]
    model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg["epochs"],
        class_weight=class_weights(arrays["y_train"]) if cfg.get("class_weights") else None,
        callbacks=callbacks,
        verbose=verbose,
    )
    with open(history_file) as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    history = sorted({int(r["epoch"]): r for r in rows}.values(), key=lambda r: r["epoch"])  # a redone epoch's last row
    best = keras.models.load_model(backup_dir / "best.keras")
    recalibrate_batchnorm(best, arrays["x_train"], seed=cfg["seed"])
    return best, history


def finish(backup_dir: Path) -> None:
    """Forget the backup once its results are safely written elsewhere."""
    shutil.rmtree(backup_dir, ignore_errors=True)
