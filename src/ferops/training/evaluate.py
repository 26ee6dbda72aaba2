"""Model + test arrays -> metrics: accuracy, macro-F1, per-class report, confusion, calibration."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from ferops.core.fer2013 import EMOTIONS, NUM_CLASSES, VALENCE_OF, VALENCES


def predict_probs(model, images: np.ndarray, tta_flip: bool = False, batch: int = 512) -> np.ndarray:
    """Class probabilities for uint8 (N, 48, 48) images, through the same classifier the apps use."""
    from ferops.runtime.classifier import EmotionClassifier

    clf = EmotionClassifier(model, tta_flip=tta_flip)
    if len(images) == 0:
        return np.zeros((0, NUM_CLASSES))
    return np.concatenate([clf.probs(images[i : i + batch]) for i in range(0, len(images), batch)]).astype(np.float64)


def calibration(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> tuple[float, list[dict]]:
    """Expected calibration error of the top-1 confidence, and the reliability table behind it."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        acc = float(correct[sel].mean()) if n else 0.0
        avg_conf = float(conf[sel].mean()) if n else 0.0
        ece += n / max(len(labels), 1) * abs(acc - avg_conf)
        table.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": n,
                "accuracy": acc,
                "confidence": avg_conf,
            }
        )
    return float(ece), table


def score(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> dict:
    pred = probs.argmax(axis=1)
    report = classification_report(
        labels, pred, labels=range(NUM_CLASSES), target_names=EMOTIONS, output_dict=True, zero_division=0
    )
    ece, reliability = calibration(labels, probs, bins)
    return {
        "accuracy": float(accuracy_score(labels, pred)),
        "macro_f1": float(f1_score(labels, pred, labels=range(NUM_CLASSES), average="macro", zero_division=0)),
        "ece": ece,
        "per_class": {
            name: {k: float(report[name][k]) for k in ("precision", "recall", "f1-score", "support")}
            for name in EMOTIONS
        },
        "confusion": confusion_matrix(labels, pred, labels=range(NUM_CLASSES)).tolist(),
        "reliability": reliability,
    }


def valence_score(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> dict:
    """The same figures for valence: true labels and probabilities summed into positive / neutral /
    negative (the grouping in core.fer2013), as the apps report it."""
    from ferops.runtime.classifier import valence_probs

    truth = np.array([VALENCES.index(VALENCE_OF[EMOTIONS[k]]) for k in labels], np.int64)
    groups = valence_probs(probs)
    pred = groups.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, labels=range(len(VALENCES)), average="macro", zero_division=0)),
        "ece": calibration(truth, groups, bins)[0],
        "unsure": float((groups.max(axis=1) < 0.5).mean()),  # share shown "uncertain" at the apps' threshold
    }
