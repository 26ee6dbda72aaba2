"""PNG figures for people: confusion matrix and reliability diagram."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ferops.core.io import atomic_path  # noqa: E402
from ferops.core.fer2013 import EMOTIONS  # noqa: E402


def save_figure(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def confusion_png(matrix: list[list[int]], path: Path, title: str = "") -> None:
    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(
                j,
                i,
                f"{int(m[i, j])}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    fig.colorbar(im, ax=ax, label="share of actual class")
    ax.set_title(title or "Confusion matrix (PrivateTest)")
    save_figure(fig, path)


def reliability_png(table: list[dict], ece: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    centers = [(b["lower"] + b["upper"]) / 2 for b in table]
    width = table[0]["upper"] - table[0]["lower"]
    ax.bar(centers, [b["accuracy"] for b in table], width=width * 0.95, edgecolor="k", label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability (ECE = {ece:.3f})")
    ax.legend(loc="upper left")
    save_figure(fig, path)
