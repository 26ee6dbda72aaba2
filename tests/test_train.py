import json

import keras
import numpy as np
import pytest

from ferops.training import architectures, train

CFG = {
    "arch": "fer_cnn",
    "epochs": 3,
    "batch_size": 8,
    "learning_rate": 0.001,
    "weight_decay": 0.0,
    "warmup_epochs": 1,
    "patience": 5,
    "class_weights": True,
    "mixed_bfloat16": False,
    "seed": 1,
    "augment": {"rotation_deg": 10, "flip": True, "shift": 0.1, "zoom": 0.1, "erase": 0.5},
}


def tiny_arrays(n=32):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 7
    x = (rng.integers(0, 30, (n, 48, 48)) + y[:, None, None] * 30).astype(np.uint8)
    return {"x_train": x, "y_train": y.astype(np.uint8), "x_val": x[:14], "y_val": y[:14].astype(np.uint8)}


def saved_val_accuracy(path):
    """Validation accuracy of a saved model on tiny_arrays' validation split."""
    arrays = tiny_arrays()
    x, y = arrays["x_val"], arrays["y_val"]
    saved = keras.models.load_model(path)
    return float((np.asarray(saved(x[..., None].astype(np.float32))).argmax(axis=1) == y).mean())


@pytest.mark.parametrize("name", sorted(architectures.ARCHITECTURES))
def test_every_registered_architecture_builds_and_predicts(name):
    """Registering an architecture is enough to have it tested: raw 0..255 pixels in, 7 probabilities out."""
    keras.utils.set_random_seed(0)
    model = architectures.build(name)
    x = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1)).astype(np.float32)
    out = np.asarray(model(x, training=False), np.float64)
    assert out.shape == (3, 7)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-4) and (out >= 0).all(), "softmax rows"
    assert not np.allclose(out[0], out[1]), "different faces give different outputs (the input reaches the head)"
    assert model.input_shape == (None, 48, 48, 1)


def test_unknown_architecture_names_the_registered_ones():
    names = ", ".join(sorted(architectures.ARCHITECTURES))
    with pytest.raises(ValueError, match=f"unknown train.arch 'resnet9000'; registered: {names}"):
        architectures.build("resnet9000")


def test_run_name_says_what_differs():
    assert train.run_name(CFG) == "fer_cnn-e3-b8-lr0.001-cw"
    assert train.run_name(CFG | {"class_weights": False, "learning_rate": 0.002}) == "fer_cnn-e3-b8-lr0.002"


def test_interrupted_training_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    calls = []

    def crash_after_second(epoch, logs):
        calls.append(epoch)
        if epoch == 1:
            raise KeyboardInterrupt("power cut")

    # The attempt at epoch 1 that the power cut discards scored a perfect 1.0: its model is saved before the
    # cut, and the redo (not bit-identical: parallel augmentation) scores lower. It must not stay the best.
    keep_if_best = train._KeepBest._keep_if_best

    def lucky(self, epoch, score):
        keep_if_best(self, epoch, 1.0 if epoch == 1 else score)

    monkeypatch.setattr(train._KeepBest, "_keep_if_best", lucky)
    with pytest.raises(KeyboardInterrupt):
        train.fit(tiny_arrays(), CFG, tmp_path, on_epoch=crash_after_second, verbose=0)
    monkeypatch.undo()
    resumed = []
    model, history = train.fit(tiny_arrays(), CFG, tmp_path, on_epoch=lambda e, logs: resumed.append(e), verbose=0)
    # Killed while finishing epoch 1: epoch 0 is kept, epoch 1 is redone, nothing is trained twice beyond that.
    assert calls == [0, 1] and resumed == [1, 2]
    assert [int(r["epoch"]) for r in history] == [0, 1, 2]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["val_accuracy"] == max(r["val_accuracy"] for r in history) < 1.0
    acc = saved_val_accuracy(tmp_path / "best.keras")
    assert acc == pytest.approx(history[best["epoch"]]["val_accuracy"]), "best.keras is the epoch best.json names"
    assert not (tmp_path / "candidate.json").exists()
    assert model.output_shape == (None, 7)


def test_mixed_bfloat16_keeps_float32_probabilities(tmp_path):
    try:
        model, _ = train.fit(tiny_arrays(16), {**CFG, "epochs": 1, "mixed_bfloat16": True}, tmp_path, verbose=0)
        assert model.get_layer("probs").dtype_policy.compute_dtype == "float32"
        assert model.get_layer("probs").output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_batchnorm_recalibration_uses_clean_statistics():
    keras.utils.set_random_seed(0)
    model = architectures.build("fer_cnn")
    images = np.full((64, 48, 48), 200, np.uint8)
    bn = next(layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization))
    train.recalibrate_batchnorm(model, images, batch_size=16)
    # The first BN sees conv(200/255 constant image): its moving mean is now that batch mean, not 0.
    feats = keras.Model(model.input, bn.input)(images[:16, ..., None].astype(np.float32))
    expected = np.asarray(feats).mean(axis=(0, 1, 2))
    assert np.allclose(np.asarray(bn.moving_mean), expected, rtol=1e-3, atol=1e-4)
    assert bn.momentum == 0.99, "momentum restored"


def test_seed_vgg_is_selectable_and_trainable(tmp_path):
    model, history = train.fit(tiny_arrays(16), {**CFG, "arch": "seed_vgg", "epochs": 1}, tmp_path, verbose=0)
    assert model.name == "seed_vgg" and len(history) == 1
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 10, "5 blocks of 2"


def test_weight_average_is_the_selected_model_and_its_raw_twin_is_logged(tmp_path):
    logged = []
    cfg = {**CFG, "ema_decay": 0.9, "class_weights": False}
    model, history = train.fit(tiny_arrays(), cfg, tmp_path, on_epoch=lambda e, logs: logged.append(logs), verbose=0)
    assert [set(["val_accuracy", "val_accuracy_raw"]) <= set(r) for r in history] == [True] * 3
    assert all("val_accuracy_raw" in logs for logs in logged)
    # The saved best is the averaged network: its validation score is the logged average's, not the raw one's.
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["val_accuracy"] == max(r["val_accuracy"] for r in history)
    acc = saved_val_accuracy(tmp_path / "best.keras")
    assert acc == pytest.approx(history[best["epoch"]]["val_accuracy"])


def test_weight_average_follows_weights_and_swaps_back():
    from ferops.training.averaging import WeightAverage

    keras.utils.set_random_seed(0)
    model = architectures.build("fer_cnn")
    kernel = model.get_layer(index=2).kernel
    start = np.asarray(kernel).copy()
    average = WeightAverage(model, decay=0.5)
    kernel.assign(start + 1.0)
    average.update()  # first update: decay min(0.5, 1/10) = 0.1 -> 0.9 of the way to the new weights
    with average.swapped():
        assert np.allclose(np.asarray(kernel), start + 0.9, atol=1e-6)
    assert np.allclose(np.asarray(kernel), start + 1.0), "the model's own weights come back"


def test_sgd_nesterov_trains_and_unknown_optimizer_is_named(tmp_path):
    model, history = train.fit(tiny_arrays(16), {**CFG, "epochs": 1, "optimizer": "sgd"}, tmp_path, verbose=0)
    assert len(history) == 1
    opt = train.compile_model({**CFG, "optimizer": "sgd"}, steps_per_epoch=2).optimizer
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == 0.9
    with pytest.raises(ValueError, match="unknown train.optimizer 'adam'; one of: adamw, sgd"):
        train.compile_model({**CFG, "optimizer": "adam"}, steps_per_epoch=2)


def test_weight_average_decay_out_of_range_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"train.ema_decay must be in \[0, 1\) \(0 = off\), got 1.5"):
        train.fit(tiny_arrays(16), {**CFG, "ema_decay": 1.5}, tmp_path, verbose=0)
