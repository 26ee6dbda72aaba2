import numpy as np
import pytest

from ferops.evaluate import calibration, score
from ferops.export import gate
from ferops.labels import EMOTIONS


def test_score_matches_hand_counts():
    labels = np.array([0, 0, 3, 3, 6])
    probs = np.zeros((5, 7))
    probs[[0, 1, 2, 3, 4], [0, 3, 3, 3, 6]] = 1.0
    s = score(labels, probs)
    assert s["accuracy"] == pytest.approx(0.8)
    assert s["confusion"][0][0] == 1 and s["confusion"][0][3] == 1 and s["confusion"][3][3] == 2
    assert s["per_class"]["happy"]["precision"] == pytest.approx(2 / 3)
    assert s["per_class"]["angry"]["recall"] == pytest.approx(0.5)
    assert set(s["per_class"]) == set(EMOTIONS)


def test_ece_zero_when_confidence_equals_accuracy_and_large_when_overconfident():
    labels = np.array([0] * 8 + [1] * 2)
    probs = np.zeros((10, 7))
    probs[:, 0], probs[:, 1] = 0.8, 0.2  # always says 0 with 80%: right 8 times in 10
    assert calibration(labels, probs)[0] == pytest.approx(0.0, abs=1e-9)
    over = np.zeros((10, 7))
    over[:, 0] = 1.0
    ece, table = calibration(labels, over, bins=10)
    assert ece == pytest.approx(0.2) and sum(b["count"] for b in table) == 10


def test_gate():
    assert gate(0.70, 0.65, 0.005, None) == (True, "passed the gate (no production version yet)")
    assert gate(0.60, 0.65, 0.005, None)[0] is False
    assert gate(0.698, 0.65, 0.005, 0.70)[0] is True, "within tolerance of production"
    ok, why = gate(0.69, 0.65, 0.005, 0.70)
    assert not ok and "below production's 0.7000" in why
