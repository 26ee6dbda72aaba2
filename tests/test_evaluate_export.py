import numpy as np
import pytest

from ferops.training.evaluate import calibration, score
from ferops.registry.export import gate
from ferops.core.fer2013 import EMOTIONS


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


def test_temperature_fit_recovers_overconfidence_and_keeps_predictions():
    from ferops.runtime.calibration import apply_temperature, fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 4000)
    logits = rng.normal(0, 1, (4000, 7))
    logits[np.arange(4000), labels] += 1.5
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # Sample labels from the honest probabilities, then make the model 2.5x over-confident.
    labels = np.array([rng.choice(7, p=p) for p in honest])
    sharp = apply_temperature(honest, 1 / 2.5)
    t = fit_temperature(sharp, labels)
    assert 2.2 < t < 2.8
    fixed = apply_temperature(sharp, t)
    assert calibration(labels, fixed)[0] < calibration(labels, sharp)[0] / 3
    assert np.array_equal(fixed.argmax(axis=1), sharp.argmax(axis=1)), "calibration never changes a prediction"


def test_classifier_flip_averaging_and_temperature():
    import keras

    from ferops.runtime.calibration import apply_temperature
    from ferops.runtime.classifier import EmotionClassifier
    from ferops.training.architectures import build

    keras.utils.set_random_seed(0)
    model = build("fer_cnn")
    x = np.random.default_rng(1).integers(0, 256, (3, 48, 48)).astype(np.uint8)
    one = np.asarray(model(x[..., None].astype(np.float32), training=False))
    mirror = np.asarray(model(x[:, :, ::-1, None].astype(np.float32), training=False))
    assert np.allclose(EmotionClassifier(model, tta_flip=False).probs(x), one, atol=1e-5)
    assert np.allclose(EmotionClassifier(model).probs(x), (one + mirror) / 2, atol=1e-5)
    warm = EmotionClassifier(model, temperature=2.0).probs(x)
    assert np.allclose(warm, apply_temperature((one + mirror) / 2, 2.0), atol=1e-5)


def test_a_model_that_cannot_load_is_never_promoted(tmp_path, monkeypatch):
    import keras
    import mlflow

    from ferops.registry import export
    from ferops.training import architectures

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    path = tmp_path / "model.keras"
    architectures.build("fer_cnn").save(path)
    broken = tmp_path / "calibration.json"
    broken.write_text('{"temperature": 1.0, "no_such_setting": 1}')
    exp = mlflow.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    cfg = {"min_accuracy": 0.0, "tolerance": 0.0}
    with mlflow.start_run(experiment_id=exp):
        bad = export.register_and_promote(path, {"val_accuracy": 0.9}, cfg, {}, calibration=broken)
    assert not bad.promoted and "failed to load or predict" in bad.reason
    assert export.production(mlflow.MlflowClient(), "fer") is None
    keras.backend.clear_session()
