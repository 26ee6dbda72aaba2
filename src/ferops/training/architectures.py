"""Architectures, registered by name (timm-style) and chosen with params.yaml's train.arch.

Every model takes raw pixel values 0..255 of shape (48, 48, 1) and rescales inside, so the
exported model, the webcam app and the REST endpoint cannot disagree on normalisation.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from ferops.core import config
from ferops.core.fer2013 import IMAGE_SIZE, NUM_CLASSES

ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {}


def register(name: str):
    if name not in config.ARCHITECTURES:  # params validation must know every name train.arch may take
        raise ValueError(f"architecture {name!r} is not listed in ferops.core.config.ARCHITECTURES")

    def add(fn: Callable[[], keras.Model]) -> Callable[[], keras.Model]:
        ARCHITECTURES[name] = fn
        return fn

    return add


def build(name: str) -> keras.Model:
    if name not in ARCHITECTURES:
        raise config.ParamsError(f"unknown train.arch {name!r}; registered: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[name]()


def _inputs() -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="pixels")
    return inputs, layers.Rescaling(1.0 / 255, name="to_unit")(inputs)


def _conv_bn_relu(x, filters: int):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _head(x, inputs, name: str) -> keras.Model:
    # float32 softmax: under mixed_bfloat16 the probabilities stay honest to 7 digits.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


@register("fer_cnn")
def fer_cnn() -> keras.Model:
    """The CPU-efficient default: one conv at full resolution, depth where the maps are small.

    At 48x48 the convs are memory-bound on a CPU, so spending layers at 12x12 and 6x6 buys
    more accuracy per second than the article's uniform 2-conv blocks.
    """
    inputs, x = _inputs()
    for filters, convs in ((32, 1), (64, 2), (128, 3), (256, 3)):
        for _ in range(convs):
            x = _conv_bn_relu(x, filters)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return _head(x, inputs, "fer_cnn")


@register("seed_vgg")
def seed_vgg() -> keras.Model:
    """The seed article's FER_Model: five VGG blocks with BatchNorm and Dropout 0.3."""
    inputs, x = _inputs()
    for filters in (64, 128, 256, 512, 512):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.3)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(0.3)(x)
    return _head(x, inputs, "seed_vgg")
