"""Arrays -> trained Keras model. The whole loop, readable in one page.

Resumable: Keras's BackupAndRestore keeps the last finished epoch (weights, optimizer, LR
schedule position) in `backup_dir`; the best-on-validation model and the history are kept
beside it, so a killed run picks up where it stopped and still returns its best epoch.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from ferops.augment import augmenter, random_erase
from ferops.labels import NUM_CLASSES
from ferops.models import build

EpochHook = Callable[[int, dict[str, float]], None]


def class_weights(labels: np.ndarray) -> dict[int, float]:
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(float)
    weights = len(labels) / (NUM_CLASSES * np.maximum(counts, 1))
    return {c: float(w) for c, w in enumerate(weights)}


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


def compile_model(cfg: dict, steps_per_epoch: int) -> keras.Model:
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if cfg.get("mixed_bfloat16") else "float32")
    model = build(cfg["arch"])
    total = max(1, cfg["epochs"] * steps_per_epoch)
    warmup = min(total - 1, cfg.get("warmup_epochs", 0) * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg["learning_rate"] if warmup == 0 else 0.0,
        decay_steps=total - warmup,
        warmup_target=cfg["learning_rate"] if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.get("weight_decay", 0.0))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _KeepBest(keras.callbacks.Callback):
    """Saves the best-on-validation model; its score survives a restart (unlike ModelCheckpoint's)."""

    def __init__(self, folder: Path, hook: EpochHook | None):
        super().__init__()
        self.model_path, self.state_path, self.hook = folder / "best.keras", folder / "best.json", hook
        self.best = json.loads(self.state_path.read_text())["val_accuracy"] if self.state_path.exists() else -1.0

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if logs["val_accuracy"] > self.best:
            self.best = logs["val_accuracy"]
            self.model.save(self.model_path)
            self.state_path.write_text(json.dumps({"val_accuracy": self.best, "epoch": epoch}))
        if self.hook:
            self.hook(epoch, logs)


def fit(arrays: dict[str, np.ndarray], cfg: dict, backup_dir: Path, on_epoch: EpochHook | None = None,
        verbose: int | str = "auto") -> tuple[keras.Model, list[dict[str, float]]]:
    """Train (or resume) and return the best-on-validation model and the per-epoch history."""
    keras.utils.set_random_seed(cfg["seed"])
    backup_dir.mkdir(parents=True, exist_ok=True)
    train_ds, val_ds = datasets(arrays, cfg)
    model = compile_model(cfg, steps_per_epoch=int(train_ds.cardinality()))
    history_file = backup_dir / "history.csv"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup_dir / "keras"), delete_checkpoint=False),
        _KeepBest(backup_dir, on_epoch),
        keras.callbacks.CSVLogger(str(history_file), append=True),
        keras.callbacks.EarlyStopping("val_accuracy", patience=cfg["patience"], mode="max"),
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
        history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    best = keras.models.load_model(backup_dir / "best.keras")
    return best, history


def finish(backup_dir: Path) -> None:
    """Forget the backup once its results are safely written elsewhere."""
    shutil.rmtree(backup_dir, ignore_errors=True)
