"""Weight averaging: an exponential moving average (EMA) of every weight along the training path.

A free ensemble over the last epochs: the averaged weights sit nearer the centre of the region
SGD wanders in, and usually generalise better than the last step's. BatchNorm statistics are
averaged with the weights (timm's ModelEmaV2) so the averaged network is consistent with itself.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ferops.core.io import atomic_path


class WeightAverage:
    def __init__(self, model: keras.Model, decay: float):
        self.model, self.decay = model, decay
        # Float weights only: Keras also keeps integer state (seed generators) among them.
        self.weights = [w for w in model.weights if "float" in str(w.dtype)]
        self.shadow = [tf.Variable(np.asarray(w), trainable=False) for w in self.weights]
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False)

        @tf.function
        def update():
            # Early on the average follows the weights closely (TF's num_updates rule), so it is not
            # dragged for thousands of steps towards the random initialisation.
            n = tf.cast(self.updates, tf.float32)
            d = tf.minimum(self.decay, (1.0 + n) / (10.0 + n))
            for s, w in zip(self.shadow, self.weights):
                s.assign(d * s + (1.0 - d) * tf.cast(w.value, s.dtype))
            self.updates.assign_add(1)

        self.update = update

    @contextlib.contextmanager
    def swapped(self):
        """The model runs with the averaged weights inside the block; its own weights come back after."""
        own = [np.asarray(w) for w in self.weights]
        for w, s in zip(self.weights, self.shadow):
            w.assign(s.numpy())
        try:
            yield self.model
        finally:
            for w, v in zip(self.weights, own):
                w.assign(v)

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, *[s.numpy() for s in self.shadow], updates=self.updates.numpy())

    def load(self, path: Path) -> None:
        with np.load(path) as saved:
            for i, s in enumerate(self.shadow):
                s.assign(saved[f"arr_{i}"])
            self.updates.assign(int(saved["updates"]))


class AverageEveryStep(keras.callbacks.Callback):
    def __init__(self, average: WeightAverage):
        super().__init__()
        self.average = average

    def on_train_batch_end(self, batch, logs=None):
        self.average.update()
