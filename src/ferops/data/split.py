"""Validated table -> arrays: one uint8 (N, 48, 48) array and its labels per split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferops.data.ingest import Table
from ferops.core.io import atomic_path
from ferops.core.fer2013 import NUM_CLASSES, SPLITS


def limit_rows(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Indices of at most `limit` rows, stratified by label (every label keeps its share)."""
    n = len(labels)
    if limit <= 0 or limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        k = min(len(idx), max(1, round(limit * len(idx) / n))) if len(idx) else 0
        picked.append(rng.choice(idx, size=k, replace=False))
    out = np.sort(np.concatenate(picked))
    return out[:limit] if len(out) > limit else out


def split_arrays(table: Table, limit: int = 0, seed: int = 0) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for usage, split in SPLITS.items():
        mask = np.flatnonzero(table.usage == usage)
        keep = mask[limit_rows(table.labels[mask], limit, seed)]
        arrays[f"x_{split}"] = table.pixels[keep]
        arrays[f"y_{split}"] = table.labels[keep]
    return arrays


def save(arrays: dict[str, np.ndarray], path: Path) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def save_table(table: Table, path: Path) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, labels=table.labels, usage=table.usage, pixels=table.pixels, line=table.line)


def load_table(path: Path) -> Table:
    with np.load(path) as f:
        return Table(labels=f["labels"], usage=f["usage"], pixels=f["pixels"], line=f["line"])
