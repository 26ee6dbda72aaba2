"""The in-process fast path from face crops to emotion probabilities.

Calls the Keras model directly (no `Model.predict`, which costs milliseconds of set-up per
call) on one batch holding every face of a frame or request.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence

import numpy as np

from ferops.imaging import face_to_input
from ferops.labels import EMOTIONS, IMAGE_SIZE


class EmotionClassifier:
    def __init__(self, keras_model):
        self.model = keras_model
        self.model(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32), training=False)  # build/warm up

    @classmethod
    def from_keras_file(cls, path: Path | str) -> EmotionClassifier:
        import keras

        return cls(keras.models.load_model(path, compile=False))

    def probs(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 48, 48) raw pixel values 0..255 -> (N, 7) probabilities."""
        if len(pixels) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        x = np.asarray(pixels, np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
        return np.asarray(self.model(x, training=False), dtype=np.float32)

    def classify_faces(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Face crops of any size or colour -> (N, 7) probabilities, in one batched call."""
        if not crops:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        return self.probs(np.stack([face_to_input(c) for c in crops]))


def describe(probs: np.ndarray) -> dict:
    """One face's probabilities -> {"label", "confidence", "probs": {name: p}}."""
    best = int(np.argmax(probs))
    return {
        "label": EMOTIONS[best],
        "confidence": round(float(probs[best]), 4),
        "probs": {name: round(float(p), 4) for name, p in zip(EMOTIONS, probs)},
    }
