"""Training-time augmentation of image batches, inside the traced training step.

Each kind is a random per-image affine map (translation, rotation, scale,
shear) applied with one ``ImageProjectiveTransformV3`` op to the whole batch:
TensorFlow ops only, no per-image Python and no ``tf.data`` pipeline. The
randomness is stateless, drawn from ``(seed, step)``, so a training run is
reproducible. Models never contain augmentation: their parameter counts and
exported files are unchanged.

The kinds (:data:`mnistopt.spec.AUGMENTATIONS`):

* ``"none"``: the images as they are.
* ``"shift1"`` / ``"shift2"``: whole-pixel translations of up to 1 / 2 pixels
  in each direction (exact: no interpolation).
* ``"affine"``: rotation up to 10 degrees, scale 0.9-1.1, shear up to 0.15
  and translation up to 2 pixels, about the image centre, with bilinear
  interpolation.
* ``"hflip"``: mirror half the images left-right. Not in the default search
  space: a flip changes what a digit is; offer it for data where it does not.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .spec import AUGMENTATIONS

__all__ = ["AugmentParams", "augment_params", "augment_batch"]


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Ranges of one augmentation kind (all maxima; minima are their negatives, scale around 1).

    Example:
        >>> augment_params("shift2").max_shift, augment_params("affine").max_rotation_deg
        (2, 10.0)
    """

    max_shift: int = 0
    max_rotation_deg: float = 0.0
    max_scale: float = 0.0  # scale factor drawn from [1 - max_scale, 1 + max_scale]
    max_shear: float = 0.0
    flip: bool = False

    @property
    def identity(self) -> bool:
        """True when the kind changes nothing."""
        return self == AugmentParams()

    @property
    def exact(self) -> bool:
        """True when every map moves pixels by whole pixels (nearest-neighbour is then exact)."""
        return self.max_rotation_deg == 0 and self.max_scale == 0 and self.max_shear == 0


_PARAMS = {
    "none": AugmentParams(),
    "shift1": AugmentParams(max_shift=1),
    "shift2": AugmentParams(max_shift=2),
    "affine": AugmentParams(max_shift=2, max_rotation_deg=10.0, max_scale=0.1, max_shear=0.15),
    "hflip": AugmentParams(flip=True),
}
assert set(_PARAMS) == set(AUGMENTATIONS)


def augment_params(kind: str) -> AugmentParams:
    """The ranges of augmentation ``kind`` (one of :data:`~mnistopt.spec.AUGMENTATIONS`)."""
    return _PARAMS[kind]


def augment_batch(images: Any, kind: str, seed: Any) -> Any:
    """Randomly transform a batch ``(B, H, W)`` of float images; ``seed`` is a shape-``[2]`` int tensor.

    Traceable inside ``tf.function``; for ``"none"`` returns ``images`` itself
    (no op is added to the graph).

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> x = np.zeros((2, 28, 28), np.float32); x[:, 14, 14] = 1.0
        >>> y = augment_batch(tf.constant(x), "shift2", tf.constant([0, 1]))
        >>> [float(v) for v in tf.reduce_sum(y, axis=[1, 2])]  # a shifted pixel stays one pixel
        [1.0, 1.0]
    """
    import tensorflow as tf

    p = augment_params(kind)
    if p.identity:
        return images
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)

    def uniform(i, low, high):
        return tf.random.stateless_uniform([batch], seed=seeds[i], minval=low, maxval=high)

    zeros, ones = tf.zeros([batch]), tf.ones([batch])
    if p.max_shift:
        tx = tf.cast(tf.random.stateless_uniform([batch], seeds[0], -p.max_shift, p.max_shift + 1, tf.int32), tf.float32)
        ty = tf.cast(tf.random.stateless_uniform([batch], seeds[1], -p.max_shift, p.max_shift + 1, tf.int32), tf.float32)
    else:
        tx = ty = zeros
    angle = uniform(2, -1.0, 1.0) * math.radians(p.max_rotation_deg) if p.max_rotation_deg else zeros
    scale = uniform(3, 1.0 - p.max_scale, 1.0 + p.max_scale) if p.max_scale else ones
    shear = uniform(4, -p.max_shear, p.max_shear) if p.max_shear else zeros
    sx = tf.where(uniform(4, 0.0, 1.0) < 0.5, -ones, ones) if p.flip else ones
    # Forward map about the centre: out = M @ (in - c) + c + t, with M = R(angle) @ Shear(shear) @ diag(sx*s, s).
    cos, sin = tf.cos(angle), tf.sin(angle)
    m00, m01 = cos * sx * scale, (cos * shear - sin) * scale
    m10, m11 = sin * sx * scale, (sin * shear + cos) * scale
    det = m00 * m11 - m01 * m10
    # The op wants the inverse (output pixel -> input pixel): in = M^-1 @ (out - c - t) + c.
    a0, a1, b0, b1 = m11 / det, -m01 / det, -m10 / det, m00 / det
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    ox, oy = cx + tx, cy + ty
    a2 = cx - (a0 * ox + a1 * oy)
    b2 = cy - (b0 * ox + b1 * oy)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[..., None], transforms=transforms, output_shape=[height, width],
        fill_value=0.0, interpolation="NEAREST" if p.exact else "BILINEAR", fill_mode="CONSTANT",
    )
    return out[..., 0]
