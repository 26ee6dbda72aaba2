"""The in-process fast path from face crops to emotion probabilities.

One batch holds every face of a frame or request, and goes through the Keras model as a traced
TensorFlow graph: `Model.predict`'s set-up per call and an eager call each cost many times what the
graph takes for a face (measured: docs/benchmarks.md).
"""

from __future__ import annotations

import threading
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ferops.runtime.calibration import apply_temperature
from ferops.runtime.imaging import face_to_input
from ferops.core.fer2013 import EMOTIONS, IMAGE_SIZE, VALENCE_OF, VALENCES

# Faces per model call: activations grow with the batch, so larger batches go through in slices of
# this many. TensorFlow's CPU allocator keeps the memory of the largest call for reuse, so a server
# keeps what its largest call needed; 16 a call keeps that small for the same time per face as larger
# slices (the measurements: serve/README.md).
MAX_BATCH = 16


class EmotionClassifier:
    """tta_flip averages each face with its mirror image (in the same batch); temperature is the
    calibration fitted on validation by the evaluate stage. Evaluation, the REST endpoint and the
    webcam all predict through this, so the reported accuracy and calibration are what users get."""

    def __init__(self, keras_model, tta_flip: bool = True, temperature: float = 1.0):
        import tensorflow as tf

        self.model, self.tta_flip, self.temperature = keras_model, tta_flip, temperature
        spec = tf.TensorSpec((None, IMAGE_SIZE, IMAGE_SIZE, 1), tf.float32)
        self._infer = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        self._infer(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))  # trace once, up front
        # One batch through the model at a time: each concurrent call holds its own activations and
        # oneDNN buffers, which stay allocated. With this lock the REST server's memory after 1,000
        # hostile mixed requests stayed within its bound in both measurements, without it not in one;
        # the price is concurrent throughput of one-face requests (both measured: serve/README.md).
        self._lock = threading.Lock()

    @classmethod
    def from_keras_file(cls, path: Path | str, calibration: dict | None = None) -> EmotionClassifier:
        """calibration: the evaluate stage's {"tta_flip": bool, "temperature": float}; defaults otherwise."""
        import keras

        return cls(keras.models.load_model(path, compile=False), **(calibration or {}))

    def probs(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 48, 48) raw pixel values 0..255 -> (N, 7) probabilities."""
        if len(pixels) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        if len(pixels) > MAX_BATCH:
            return np.concatenate([self.probs(pixels[i : i + MAX_BATCH]) for i in range(0, len(pixels), MAX_BATCH)])
        x = np.asarray(pixels, np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
        with self._lock:
            if self.tta_flip:
                both = self._infer(np.concatenate([x, x[:, :, ::-1]])).numpy()
                probs = (both[: len(x)] + both[len(x) :]) / 2
            else:
                probs = self._infer(x).numpy()
        return apply_temperature(probs.astype(np.float32, copy=False), self.temperature)

    def classify_faces(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Face crops of any size or colour -> (N, 7) probabilities, in one batched call."""
        if not crops:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        return self.probs(np.stack([face_to_input(c) for c in crops]))


# (7, 3): emotion probabilities @ GROUPS = valence probabilities (the grouping of core.fer2013).
GROUPS = np.array([[VALENCE_OF[e] == v for v in VALENCES] for e in EMOTIONS], np.float64)


def valence_probs(probs: np.ndarray) -> np.ndarray:
    """(..., 7) emotion probabilities -> (..., 3) positive, neutral, negative."""
    return np.asarray(probs, np.float64) @ GROUPS


def describe(probs: np.ndarray) -> dict:
    """One face's probabilities -> {"label", "confidence", "probs": {name: p}, "valence": the same for
    positive / neutral / negative}."""
    best = int(np.argmax(probs))
    groups = valence_probs(probs)
    top = int(np.argmax(groups))
    return {
        "label": EMOTIONS[best],
        "confidence": round(float(probs[best]), 4),
        "probs": {name: round(float(p), 4) for name, p in zip(EMOTIONS, probs)},
        "valence": {
            "label": VALENCES[top],
            "confidence": round(float(groups[top]), 4),
            "probs": {name: round(float(p), 4) for name, p in zip(VALENCES, groups)},
        },
    }
