"""Temperature scaling: one number, fitted on validation, that makes confidences mean what they say.

A network trained to 80% training accuracy is over-confident on new faces; dividing its log-
probabilities by T > 1 softens them without changing any prediction (the argmax is unchanged).
"""

from __future__ import annotations

import numpy as np


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0:
        return probs
    z = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    out = np.exp(z)
    return (out / out.sum(axis=1, keepdims=True)).astype(probs.dtype, copy=False)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray, low: float = 0.25, high: float = 8.0) -> float:
    """The T minimising validation negative log-likelihood: a log-spaced scan, then a finer one around the best."""
    grid = np.geomspace(low, high, 61)
    for _ in range(3):
        i = int(np.argmin([nll(apply_temperature(probs, t), labels) for t in grid]))
        best, grid = grid[i], np.geomspace(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], 41)
    return round(float(best), 4)
