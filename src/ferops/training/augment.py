"""Training-time augmentation, run inside the tf.data input pipeline."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


def augmenter(cfg: dict, seed: int) -> keras.Sequential:
    steps: list[layers.Layer] = []
    if cfg.get("flip"):
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    if cfg.get("rotation_deg"):
        steps.append(layers.RandomRotation(cfg["rotation_deg"] / 360.0, fill_mode="reflect", seed=seed))
    if cfg.get("shift"):
        steps.append(layers.RandomTranslation(cfg["shift"], cfg["shift"], fill_mode="reflect", seed=seed))
    if cfg.get("zoom"):
        steps.append(layers.RandomZoom(cfg["zoom"], fill_mode="reflect", seed=seed))
    # Identity: with every augmentation off, an empty Sequential cannot be built.
    return keras.Sequential(steps or [layers.Identity()], name="augment")


def random_erase(images: tf.Tensor, prob: float, seed: int) -> tf.Tensor:
    """Cutout: blank one random square (up to a third of the side) in a `prob` share of images."""
    if prob <= 0:
        return images
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    size = tf.random.uniform([n], 4, h // 3 + 1, dtype=tf.int32)
    cy = tf.random.uniform([n], 0, h, dtype=tf.int32)
    cx = tf.random.uniform([n], 0, w, dtype=tf.int32)
    on = tf.random.uniform([n]) < prob
    ys = tf.range(h)[None, :, None]
    xs = tf.range(w)[None, None, :]
    inside = (
        (tf.abs(ys - cy[:, None, None]) * 2 < size[:, None, None])
        & (tf.abs(xs - cx[:, None, None]) * 2 < size[:, None, None])
        & on[:, None, None]
    )
    return tf.where(inside[..., None], tf.zeros_like(images), images)
