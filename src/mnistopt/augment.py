"""Training-time augmentation of image batches, inside the traced training step.

Each kind is a bank of pixel maps (:func:`pixel_maps`, computed once): every
image of a batch draws one map and is remapped by gathers over the whole batch
(whole-pixel shifts by gathers of whole columns, then rows, of the zero-padded
images; other kinds by one gather of pixels), inside the traced training step:
TensorFlow ops only, no per-image Python and no ``tf.data`` pipeline. The draws
are stateless, from ``(seed, step)``, so a training run is reproducible. Models
never contain augmentation: their parameter counts and exported files are
unchanged.

The kinds (:data:`mnistopt.spec.AUGMENTATIONS`):

* ``"none"``: the images as they are.
* ``"shift1"`` / ``"shift2"``: whole-pixel translations of up to 1 / 2 pixels
  in each direction (exact: no interpolation).
* ``"affine"``: rotation up to 10 degrees, scale 0.9-1.1, shear up to 0.15
  and translation up to 2 pixels, about the image centre, nearest-neighbour:
  each image draws one of 512 fixed maps sampled from those ranges.
* ``"hflip"``: mirror half the images left-right. Not in the default search
  space: a flip changes what a digit is; offer it for data where it does not.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from .spec import AUGMENTATIONS

__all__ = ["AugmentParams", "augment_params", "augment_batch", "augment_source", "augmented_batch"]


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


_AFFINE_MAPS = 512  # random maps in an affine kind's bank (each image draws one per step)


@functools.lru_cache(maxsize=None)
def pixel_maps(kind: str, height: int = 28, width: int = 28) -> np.ndarray:
    """The kind's bank of pixel maps: ``(M, height * width)`` indices into a flattened image with one
    zero pixel appended (index ``height * width``: where a map points outside the image).

    Shifts and flips are exact (``(2k + 1)**2`` or 2 maps); ``affine`` is a fixed bank of
    nearest-neighbour maps drawn from its ranges (seeded, the same in every run). Computed once per
    kind and shape (cached, read-only), not once per trial.

    Example:
        >>> pixel_maps("shift1").shape, pixel_maps("hflip").shape, pixel_maps("affine").shape
        ((9, 784), (2, 784), (512, 784))
    """
    p = augment_params(kind)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    if p.exact:  # whole-pixel shifts (and mirror images): every combination
        shifts = range(-p.max_shift, p.max_shift + 1)
        flips = (1.0, -1.0) if p.flip else (1.0,)
        params = [(0.0, 1.0, 0.0, sx, dx, dy) for sx in flips for dy in shifts for dx in shifts]
    else:
        rng = np.random.default_rng(20261123)
        m = _AFFINE_MAPS
        params = list(zip(np.radians(rng.uniform(-p.max_rotation_deg, p.max_rotation_deg, m)),
                          rng.uniform(1 - p.max_scale, 1 + p.max_scale, m),
                          rng.uniform(-p.max_shear, p.max_shear, m), np.ones(m),
                          rng.integers(-p.max_shift, p.max_shift + 1, m), rng.integers(-p.max_shift, p.max_shift + 1, m)))
    maps = np.empty((len(params), height * width), np.int32)
    for i, (angle, scale, shear, sx, dx, dy) in enumerate(params):
        # Forward map about the centre: out = M @ (in - c) + c + t, M = R(angle) @ Shear(shear) @ diag(sx*s, s);
        # each output pixel reads the input pixel nearest to M^-1 @ (out - c - t) + c.
        c, s = np.cos(angle), np.sin(angle)
        m00, m01, m10, m11 = c * sx * scale, (c * shear - s) * scale, s * sx * scale, (s * shear + c) * scale
        det = m00 * m11 - m01 * m10
        ox, oy = cols - cx - dx, rows - cy - dy
        src_x = np.rint((m11 * ox - m01 * oy) / det + cx).astype(np.int64)
        src_y = np.rint((-m10 * ox + m00 * oy) / det + cy).astype(np.int64)
        inside = (src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)
        maps[i] = np.where(inside, src_y * width + src_x, height * width).ravel()
    maps.flags.writeable = False  # shared by every caller through the cache
    return maps


def augment_batch(images: Any, kind: str, seed: Any) -> Any:
    """Randomly transform a batch ``(B, H, W)`` of float images; ``seed`` is a shape-``[2]`` int tensor.

    Traceable inside ``tf.function``; for ``"none"`` returns ``images`` itself
    (no op is added to the graph). The same as :func:`augmented_batch` over the
    batch's own :func:`augment_source`.

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> x = np.zeros((2, 28, 28), np.float32); x[:, 14, 14] = 1.0
        >>> y = augment_batch(tf.constant(x), "shift2", tf.constant([0, 1]))
        >>> [float(v) for v in tf.reduce_sum(y, axis=[1, 2])]  # a shifted pixel stays one pixel
        [1.0, 1.0]
    """
    import tensorflow as tf

    if augment_params(kind).identity:
        return images
    shape = (images.shape[1], images.shape[2])
    return augmented_batch(augment_source(images, kind), tf.range(tf.shape(images)[0]), kind, seed, shape)


def augment_source(images: Any, kind: str) -> Any:
    """The images ``(N, H, W)`` laid out for :func:`augmented_batch`: as they are for ``"none"``,
    zero-padded by the largest shift and transposed (``(N, W + 2k, H + 2k)``) for whole-pixel shifts,
    flattened with one zero pixel appended per image (where a map points outside the image) for the
    other kinds. Make once per training run."""
    import tensorflow as tf

    p = augment_params(kind)
    if p.identity:
        return images
    if _sliced(p):
        k = p.max_shift
        return tf.transpose(tf.pad(images, [[0, 0], [k, k], [k, k]]), [0, 2, 1])
    n = tf.shape(images)[0]
    pixels = images.shape[1] * images.shape[2]
    return tf.reshape(tf.concat([tf.reshape(images, [n, pixels]), tf.zeros([n, 1], images.dtype)], 1), [-1])


def augmented_batch(source: Any, index: Any, kind: str, seed: Any, shape: tuple[int, int] = (28, 28)) -> Any:
    """The images ``index`` of ``source`` (from :func:`augment_source`), each randomly transformed:
    one gather per batch, taking the images and transforming them at once. Each image draws a map
    of :func:`pixel_maps`' bank (stateless, from ``seed``) and the result is exactly that map applied;
    whole-pixel shifts gather whole columns of the padded images (then whole rows) instead of pixels.
    Traceable inside ``tf.function``."""
    import tensorflow as tf

    p = augment_params(kind)
    if p.identity:
        return tf.gather(source, index)
    height, width = shape
    maps = pixel_maps(kind, height, width)
    batch = tf.shape(index)[0]
    pick = tf.random.stateless_uniform([batch], seed=tf.cast(seed, tf.int64), minval=0, maxval=len(maps), dtype=tf.int32)
    if _sliced(p):
        k = p.max_shift
        side = 2 * k + 1
        dy, dx = pick // side - k, pick % side - k  # the bank's order: (dy, dx) row-major
        # out[r, c] = in[r - dy, c - dx] = padded[r + k - dy, c + k - dx]: the source is transposed, so
        # its rows are the padded images' columns; one transpose back, then the image rows
        columns = tf.gather_nd(source, tf.stack([tf.broadcast_to(tf.cast(index, tf.int32)[:, None], [batch, width]),
                                                 (k - dx)[:, None] + tf.range(width)[None, :]], axis=-1))  # (B, W, H + 2k)
        return tf.gather(tf.transpose(columns, [0, 2, 1]), (k - dy)[:, None] + tf.range(height)[None, :], batch_dims=1)
    offsets = tf.cast(index, tf.int32) * (height * width + 1)  # each image's start in the flat source
    return tf.reshape(tf.gather(source, tf.gather(tf.constant(maps), pick) + offsets[:, None]), [batch, height, width])


def _sliced(p: AugmentParams) -> bool:
    """Whether a kind's maps are plain shifts (served by gathering whole rows and columns)."""
    return p.exact and not p.flip and p.max_shift > 0
