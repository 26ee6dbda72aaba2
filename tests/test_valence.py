"""Valence: the seven emotions summed into positive / neutral / negative, defined once beside the labels."""

import numpy as np
import pytest

from ferops.core.fer2013 import EMOTIONS, VALENCE_OF, VALENCES
from ferops.runtime.classifier import describe, valence_probs
from ferops.training.evaluate import valence_score


def test_every_emotion_has_one_valence():
    assert set(VALENCE_OF) == set(EMOTIONS) and set(VALENCE_OF.values()) == set(VALENCES)
    assert VALENCE_OF["happy"] == "positive" and VALENCE_OF["neutral"] == "neutral" and VALENCE_OF["sad"] == "negative"


def test_describe_sums_the_probabilities_into_valence():
    p = np.array([0.2, 0.0, 0.3, 0.05, 0.3, 0.0, 0.15])  # fear and sad tie at 0.3: the emotion is unsure
    d = describe(p)
    assert d["label"] == "fear" and d["confidence"] == 0.3
    assert d["valence"] == {"label": "negative", "confidence": 0.8,
                            "probs": {"positive": 0.05, "neutral": 0.15, "negative": 0.8}}
    assert valence_probs(np.stack([p, p])).shape == (2, 3)


def test_valence_score_counts_a_fear_for_sad_confusion_as_right():
    labels = np.array([EMOTIONS.index(e) for e in ("sad", "happy", "neutral", "angry")])
    probs = np.eye(7)[[EMOTIONS.index(e) for e in ("fear", "happy", "sad", "angry")]] * 0.9 + 0.1 / 7
    s = valence_score(labels, probs)
    assert s["accuracy"] == pytest.approx(0.75), "sad read as fear is still negative; neutral read as sad is not"
    assert 0 <= s["ece"] <= 1 and s["unsure"] == 0.0
