"""Load MNIST-format datasets: Keras ``.npz`` files, IDX files, Keras' cache.

Everything read is validated (IDX magic numbers and dimensions, byte counts,
image/label counts, label range, dtype, NaN/inf) and any problem raises
:class:`~mnistopt.errors.DataError` naming the file and what is wrong.

This module needs only NumPy; Keras is imported only to download a dataset
that is found nowhere else.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import hashlib
import logging
import os
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_float, check_int
from .errors import InvalidTypeError, DataError, DataNotFoundError

__all__ = ["Dataset", "EpochStream", "stratified_order", "load_dataset", "synthetic_dataset", "read_idx", "KNOWN_DATASETS", "ENV_VAR"]

logger = logging.getLogger(__name__)

#: Environment variable naming a directory (or file) that holds the data.
ENV_VAR = "MNISTOPT_DATA"
#: Dataset names :func:`load_dataset` can look up (and download through Keras).
KNOWN_DATASETS = ("mnist", "fashion_mnist")
#: The real-digit sample shipped inside the package (6,000 train + 2,000 test official MNIST
#: images, class-balanced; see ``mnistopt/_sample/NOTICE.md``). Chosen by this name only.
SAMPLE_NAME = "mnist-sample"

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
_IDX_NAME = re.compile(
    r"^(?P<split>train|t10k|test)-(?P<kind>images|labels)(?P<tag>-[A-Za-z0-9_.]+?)?"
    r"[-.](?P<idx>idx[13])-ubyte(?P<gz>\.gz)?$"
)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Images scaled to ``[0, 1]`` (float32, shape ``(N, H, W)``) and int labels.

    ``train`` and ``val`` are a seeded, stratified split of the source's
    training data; ``test`` is the source's test set. Nothing in mnistopt that
    chooses a model looks at ``test``.

    Example:
        >>> import numpy as np
        >>> from mnistopt import load_dataset
        >>> rng = np.random.default_rng(0)
        >>> x = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
        >>> y = np.arange(200) % 10
        >>> ds = load_dataset({"x_train": x, "y_train": y, "x_test": x[:50], "y_test": y[:50]})
        >>> ds.sizes
        {'train': 180, 'val': 20, 'test': 50}
        >>> float(ds.x_train.max()) <= 1.0
        True
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    source: str
    num_classes: int = 10
    seed: int = 0
    validation_fraction: float = 0.1
    checksum: str = ""
    #: What was subtracted from the file's labels: 1 for labels numbered 1..K (read as 0..K-1), else 0.
    label_offset: int = 0

    @property
    def class_names(self) -> tuple[str, ...]:
        """Each class as the data files number it (``"1"`` .. ``"26"`` for labels numbered from 1).

        Example:
            >>> from mnistopt.data import synthetic_dataset
            >>> synthetic_dataset().class_names[:3]
            ('0', '1', '2')
        """
        return tuple(str(i + self.label_offset) for i in range(self.num_classes))

    def describe_classes(self) -> str:
        """One line on the classes, for the data line a command prints: ``10 classes``, or
        ``26 classes (labels 1..26, read as 0..25)``."""
        text = f"{self.num_classes} classes"
        if self.label_offset:
            text += (f" (labels {self.label_offset}..{self.num_classes - 1 + self.label_offset}, read as "
                     f"0..{self.num_classes - 1})")
        return text

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(height, width)`` of every image."""
        return tuple(self.x_train.shape[1:3])

    @property
    def sizes(self) -> dict[str, int]:
        """Number of images in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary: name, source, checksum, sizes, image shape, seed."""
        return {
            "name": self.name,
            "source": self.source,
            "checksum": self.checksum,
            "sizes": self.sizes,
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "label_offset": self.label_offset,
            "validation_fraction": self.validation_fraction,
            "seed": self.seed,
        }

    def development_split(self, fraction: float = 0.1, seed: int | None = None) -> Dataset:
        """A dataset for design decisions: its ``test`` is a stratified part of *this* train split.

        Defaults (augmentations, schedules, epochs...) are chosen on such a
        development split, carved from the training files and distinct from
        validation, so the official test set never chooses anything. The
        result's ``name`` ends in ``-dev`` and its source says what it is.

        Example:
            >>> from mnistopt.data import synthetic_dataset
            >>> dev = synthetic_dataset(n_train=500).development_split(0.2)
            >>> dev.sizes, dev.name
            ({'train': 360, 'val': 50, 'test': 90}, 'synthetic-dev')
        """
        fraction = check_float("fraction", fraction, minimum=0.0, maximum=1.0, min_inclusive=False,
                               max_inclusive=False)
        keep, dev = stratified_split(self.y_train, fraction, self.seed + 1 if seed is None else seed)
        return dataclasses.replace(
            self, x_train=self.x_train[keep], y_train=self.y_train[keep], x_test=self.x_train[dev],
            y_test=self.y_train[dev], name=f"{self.name}-dev",
            source=f"{self.source} (test = {len(dev):,} images of its train split, official test set unused)",
        )

    def folds(self, k: int = 5, seed: int | None = None, *,
              validation_fraction: float | None = None) -> list[Dataset]:
        """``k`` datasets for k-fold cross-validation over the training files (train + validation).

        Fold ``i`` trains on the other ``k - 1`` stratified parts and holds out part ``i`` as its
        ``val`` and ``test`` splits, so every training image is held out exactly once and the
        official test set is never read. Decisions are then made on paired differences across
        folds (a default that a single 900-image split cannot separate from noise).

        To cross-validate something that selects on validation itself (a whole search), pass
        ``validation_fraction``: each fold's validation split is then that share of its training
        part (stratified, seeded), and the held-out part is its test split only.

        Example:
            >>> from mnistopt.data import synthetic_dataset
            >>> folds = synthetic_dataset(n_train=500).folds(5)
            >>> [f.sizes for f in folds[:2]], folds[0].name
            ([{'train': 400, 'val': 100, 'test': 100}, {'train': 400, 'val': 100, 'test': 100}], 'synthetic-fold1of5')
            >>> synthetic_dataset(n_train=500).folds(5, validation_fraction=0.1)[0].sizes
            {'train': 360, 'val': 40, 'test': 100}
        """
        from sklearn.model_selection import StratifiedKFold

        k = check_int("k", k, minimum=2)
        if validation_fraction is not None:
            validation_fraction = check_float("validation_fraction", validation_fraction, minimum=0.0, maximum=1.0,
                                              min_inclusive=False, max_inclusive=False)
        x = np.concatenate([self.x_train, self.x_val])
        y = np.concatenate([self.y_train, self.y_val])
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=self.seed if seed is None else seed)
        out = []
        for i, (keep, held) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
            train, val = keep, held
            if validation_fraction is not None:  # the search's own validation split, carved from the fold's training part
                fit, chosen = stratified_split(y[keep], validation_fraction, (self.seed if seed is None else seed) + i)
                train, val = keep[fit], keep[chosen]
            out.append(dataclasses.replace(
                self, x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val], x_test=x[held], y_test=y[held],
                name=f"{self.name}-fold{i}of{k}",
                source=f"{self.source} (fold {i} of {k} of its training files held out; official test set unused)"))
        return out

    def subset(self, train: int | None = None, val: int | None = None, test: int | None = None) -> Dataset:
        """A smaller dataset keeping the first ``train``/``val``/``test`` images.

        Useful for quick experiments and tests. Splits are already shuffled
        and stratified, so the first images are a fair sample.
        """
        def cut(x, y, n, name):
            if n is None:
                return x, y
            n = check_int(name, n, minimum=1)
            return x[:n], y[:n]

        xt, yt = cut(self.x_train, self.y_train, train, "train")
        xv, yv = cut(self.x_val, self.y_val, val, "val")
        xs, ys = cut(self.x_test, self.y_test, test, "test")
        return dataclasses.replace(self, x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)


# --------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------


def load_dataset(
    name_or_path: str | os.PathLike | Mapping[str, Any] | Sequence[str | os.PathLike] | None = None,
    *,
    path: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    num_classes: int | None = None,
    download: bool = True,
) -> Dataset:
    """Load, validate, normalise and split an MNIST-format dataset.

    ``name_or_path`` may be:

    * ``None`` (default): the data at ``path``, else at ``$MNISTOPT_DATA``,
      whatever it is called; with neither, MNIST from Keras' cache or download;
    * ``"mnist-sample"``: 8,000 real MNIST digits shipped inside the package
      (6,000 train, 2,000 test, class-balanced; provenance and licence in
      ``mnistopt/_sample/NOTICE.md``), for first runs offline. Only by this
      name: never used in place of ``"mnist"``;
    * ``"mnist"`` or ``"fashion_mnist"``: the same places, in the same order,
      where the name chooses between files named after datasets
      (``fashion_mnist.npz``, a ``fashion-mnist/`` folder) and must agree with
      what the location visibly holds. Keras' cache
      (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) and then Keras'
      download (if ``download``) are tried only when neither ``path`` nor
      ``$MNISTOPT_DATA`` is given: **an explicit location is the data**, and
      if nothing readable is there the error says what is there, without
      trying anywhere else;
    * a ``.npz`` file in the layout of Keras' ``mnist.npz`` (``x_train``,
      ``y_train``, ``x_test``, ``y_test``), read with ``allow_pickle=False``;
    * a directory holding such an ``.npz`` or the four IDX files (gzipped or
      not; standard names such as ``train-images-idx3-ubyte.gz``, optionally
      with a tag: ``train-images-first10k-idx3-ubyte.gz``);
    * a sequence of four IDX paths ``(train images, train labels, test images,
      test labels)``, or a mapping with keys ``x_train, y_train, x_test,
      y_test`` whose values are arrays or IDX paths.

    Args:
        validation_fraction: share of the training data held out, stratified
            by class, in ``(0, 1)``.
        seed: seed of the train/validation split.
        num_classes: the number of classes. ``None`` (default): read from the
            training labels, ``0..K-1``; labels numbered ``1..K`` (as EMNIST
            letters) are read as ``0..K-1`` and the dataset's
            ``label_offset`` (1) and ``class_names`` keep the original
            numbers for reports. Given, it is an error when the labels
            disagree. Either way every class must have training images, and
            a test label the training split never has is an error.
        download: allow Keras' download for a named dataset.

    Returns:
        A :class:`Dataset` with float32 images in ``[0, 1]``. Its ``name`` is
        what was loaded (the folder or file name, or the Keras dataset), and
        its ``checksum`` a SHA-256 over the raw arrays (the same for the same
        images whether they came from ``.npz`` or IDX files).

    Raises:
        DataError: a file is corrupt, truncated, of the wrong layout, or holds
            labels out of range; the message names the file.
        DataNotFoundError: a named dataset was found nowhere.

    Example:
        >>> import os
        >>> ds = load_dataset("mnist", path=os.environ["MNISTOPT_DATA"])  # doctest: +SKIP
        >>> ds.sizes  # doctest: +SKIP
        {'train': 9000, 'val': 1000, 'test': 10000}
    """
    validation_fraction = check_float(
        "validation_fraction", validation_fraction, minimum=0.0, maximum=1.0,
        min_inclusive=False, max_inclusive=False,
    )
    seed = check_int("seed", seed, minimum=0)
    if num_classes is not None:
        num_classes = check_int("num_classes", num_classes, minimum=2, maximum=_MAX_CLASSES)
    arrays, name, source = _resolve(name_or_path, path, download)
    checksum = _checksum(arrays)
    (x_train, y_train), (x_test, y_test), num_classes, offset = _validate(arrays, source, num_classes)
    train_idx, val_idx = stratified_split(y_train, validation_fraction, seed)
    logger.info("loaded %s from %s: %d train, %d test images", name, source, len(y_train), len(y_test))
    return Dataset(
        x_train=x_train[train_idx],
        y_train=y_train[train_idx],
        x_val=x_train[val_idx],
        y_val=y_train[val_idx],
        x_test=x_test,
        y_test=y_test,
        name=name,
        source=source,
        num_classes=num_classes,
        seed=seed,
        validation_fraction=validation_fraction,
        checksum=checksum,
        label_offset=offset,
    )


def _checksum(arrays: _Arrays) -> str:
    """``sha256:<16 hex>`` over the arrays as read (dtype, shape and bytes of each, in a fixed order)."""
    h = hashlib.sha256()
    for key in _KEYS:
        a = np.ascontiguousarray(arrays[key][0])
        h.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()[:16]


def synthetic_dataset(n_train: int = 300, n_test: int = 50, *, noise: float = 0.7, seed: int = 0) -> Dataset:
    """A small MNIST-shaped toy dataset, for examples and smoke tests (no files, no download).

    Each of the ten classes is one random 28 x 28 template; every image is its
    class's template blended with uniform noise (``noise`` is the noise's
    share, so 1.0 is unlearnable), as ``uint8`` pixels. Labels cycle 0..9.
    Split like real data: a stratified tenth of ``n_train`` for validation.

    Example:
        >>> from mnistopt.data import synthetic_dataset
        >>> ds = synthetic_dataset()
        >>> ds.sizes, ds.image_shape, ds.name
        ({'train': 270, 'val': 30, 'test': 50}, (28, 28), 'synthetic')
    """
    n_train = check_int("n_train", n_train, minimum=20)
    n_test = check_int("n_test", n_test, minimum=1)
    noise = check_float("noise", noise, minimum=0.0, maximum=1.0)
    rng = np.random.default_rng(seed)
    templates = rng.random((10, 28, 28))

    def images(n):
        labels = np.arange(n) % 10
        x = (1 - noise) * templates[labels] + noise * rng.random((n, 28, 28))
        return (x * 255).astype(np.uint8), labels

    x_train, y_train = images(n_train)
    x_test, y_test = images(n_test)
    data = load_dataset({"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}, seed=seed)
    return dataclasses.replace(data, name="synthetic", source="mnistopt.data.synthetic_dataset")


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: indices ``(train, val)``, ``val`` is ``round(fraction*N)``.

    Per-class validation counts follow the class shares (largest remainder),
    so the total is exact. Both index arrays are shuffled.

    Example:
        >>> import numpy as np
        >>> tr, va = stratified_split(np.arange(100) % 4, 0.2, seed=0)
        >>> len(tr), len(va), np.bincount((np.arange(100) % 4)[va]).tolist()
        (80, 20, [5, 5, 5, 5])
    """
    rng = np.random.default_rng(seed)
    n = len(labels)
    n_val = int(round(fraction * n))
    if n_val < 1 or n_val >= n:
        raise DataError(
            f"validation_fraction={fraction} of {n} training images leaves an empty "
            f"train or validation split. Use more data or a fraction between "
            f"{1 / n:.4f} and {1 - 1 / n:.4f}."
        )
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (n_val / n)
    per_class = np.floor(exact).astype(int)
    leftover = n_val - per_class.sum()
    order = np.argsort(-(exact - per_class), kind="stable")
    per_class[order[:leftover]] += 1
    train_parts, val_parts = [], []
    for cls, k in zip(classes, per_class):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        val_parts.append(idx[:k])
        train_parts.append(idx[k:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    val_idx = rng.permutation(np.concatenate(val_parts))
    return train_idx, val_idx



def stratified_order(labels: np.ndarray, seed: Any) -> np.ndarray:
    """A seeded permutation of ``range(len(labels))`` whose every prefix keeps the class shares.

    Each class's images are shuffled and spread evenly over the order (an
    image of rank ``r`` among ``n_c`` of its class sits near ``(r + U) / n_c``
    with ``U`` uniform in [0, 1)), so the first ``k`` images hold each class's
    share of ``k`` to within ``1 + share * classes`` images, whatever ``k``.

    Example:
        >>> import numpy as np
        >>> labels = np.repeat([0, 1, 2], [600, 300, 100])
        >>> order = stratified_order(labels, seed=0)
        >>> sorted(order.tolist()) == list(range(1000)), np.bincount(labels[order[:100]]).tolist()
        (True, [60, 30, 10])
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    keys = np.empty(len(labels))
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        keys[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return np.argsort(keys, kind="stable")


@dataclasses.dataclass(frozen=True)
class EpochStream:
    """Schedule epochs of ``images`` images each over a larger train split.

    The train split is read as an endless stream: pass ``c`` over it follows
    :func:`stratified_order` seeded by ``(seed, c)``, and epoch ``e`` is the
    stream's images ``e * images`` to ``(e + 1) * images``. It depends on the
    epoch alone, so every trial of a search sees the same images at the same
    epoch (the trials of a short Hyperband rung are ranked on one stratified
    subset) and a trial continued from a checkpoint goes on where its parent
    stopped, through the whole split.

    Example:
        >>> import numpy as np
        >>> stream = EpochStream(images=400, seed=0)
        >>> labels = np.arange(1000) % 10
        >>> first = [stream.indices(labels, e) for e in range(5)]   # 2,000 images: two passes
        >>> [len(i) for i in first], np.bincount(labels[first[0]]).tolist()
        ([400, 400, 400, 400, 400], [40, 40, 40, 40, 40, 40, 40, 40, 40, 40])
        >>> sorted(np.concatenate(first)[:1000].tolist()) == list(range(1000))  # the first pass: each image once
        True
    """

    images: int
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", check_int("epoch_images", self.images, minimum=1))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))

    def indices(self, labels: np.ndarray, epoch: int) -> np.ndarray:
        """Indices into the train split (``labels``) of schedule epoch ``epoch`` (0-based)."""
        n = len(labels)
        start, stop = epoch * self.images, (epoch + 1) * self.images
        parts = []
        for cycle in range(start // n, (stop - 1) // n + 1):
            order = stratified_order(labels, seed=[self.seed, cycle])
            lo, hi = max(start - cycle * n, 0), min(stop - cycle * n, n)
            parts.append(order[lo:hi])
        return np.concatenate(parts).astype(np.int32)

    @classmethod
    def for_split(cls, images: int | None, train_images: int, seed: int = 0) -> EpochStream | None:
        """The stream of ``images`` images per epoch for a train split of ``train_images`` images, or
        ``None`` where an epoch is a full pass (``images`` is ``None``, or not below the split's size).

        Example:
            >>> EpochStream.for_split(9000, 54_000), EpochStream.for_split(9000, 9_000)
            (EpochStream(images=9000, seed=0), None)
        """
        if images is None or images >= train_images:
            return None
        return cls(images, seed)

# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------

_Arrays = dict  # keys x_train, y_train, x_test, y_test -> (array, source file)
_KEYS = ("x_train", "y_train", "x_test", "y_test")
_MAX_CLASSES = 10_000  # a label beyond this is a damaged file, not a class


def _known_name(text: str) -> str | None:
    """The known dataset a file or folder name stands for (``fashion-mnist`` -> ``fashion_mnist``)."""
    key = text.lower().replace("-", "_")
    return key if key in KNOWN_DATASETS else None


def _resolve(name_or_path, path, download) -> tuple[_Arrays, str, str]:
    """``(arrays, recorded name, source)``. An explicit location (a path argument, ``path=``, or
    ``$MNISTOPT_DATA``) is the data: it is read as it is and nothing else is tried."""
    if isinstance(name_or_path, Mapping):
        return _from_mapping(name_or_path), "custom", "<arrays>"
    name: str | None = None
    if name_or_path is not None:
        if not isinstance(name_or_path, (str, os.PathLike)):
            return _from_sequence(name_or_path)
        text = os.fspath(name_or_path)
        if text.lower().replace("_", "-") == SAMPLE_NAME and not Path(text).exists():
            return _packaged_sample(path)
        name = _known_name(text)
        if name is None or Path(text).exists():
            given = Path(text).expanduser()
            if not given.exists():
                raise DataNotFoundError(
                    f"Dataset {text!r} is neither a known name ({', '.join(KNOWN_DATASETS)}) nor an existing "
                    f"file or directory. Pass a dataset name, a .npz file, a directory of IDX files, or four "
                    f"IDX paths."
                )
            if path is not None:
                raise InvalidTypeError(
                    f"Received a dataset path twice: {text!r} and path={os.fspath(path)!r}. Pass the data's "
                    f"location once, either as the first argument or as `path`."
                )
            return _from_location(given, None, "`path`")
    if path is not None:
        return _from_location(Path(os.fspath(path)).expanduser(), name, "`path`")
    env = os.environ.get(ENV_VAR)
    if env:
        return _from_location(Path(env).expanduser(), name, f"${ENV_VAR}")
    return _from_keras(name or "mnist", download)


def _packaged_sample(path) -> tuple[_Arrays, str, str]:
    """The sample shipped as package data: read from the installed package, never from ``path``,
    ``$MNISTOPT_DATA``, Keras' cache or the network."""
    if path is not None:
        raise InvalidTypeError(
            f"{SAMPLE_NAME!r} is the sample inside the mnistopt package; it takes no `path`. Received: "
            f"path={os.fspath(path)!r}. Pass either the name or a location."
        )
    from importlib.resources import as_file, files

    resource = files("mnistopt").joinpath("_sample", f"{SAMPLE_NAME}.npz")
    if not resource.is_file():
        raise DataNotFoundError(
            f"The packaged {SAMPLE_NAME!r} is missing from this installation ({resource}). Reinstall mnistopt, "
            "or make it with scripts/make_mnist_sample.py."
        )
    with as_file(resource) as p:
        arrays = _read_npz(Path(p))
    return arrays, SAMPLE_NAME, f"mnistopt package data ({SAMPLE_NAME}.npz)"


def _from_sequence(paths) -> tuple[_Arrays, str, str]:
    if not isinstance(paths, Sequence) or isinstance(paths, (bytes, bytearray)):
        raise InvalidTypeError(
            f"`name_or_path` must be a dataset name, a path, four IDX paths or a mapping of "
            f"arrays. Received: {paths!r} (type {type(paths).__name__})."
        )
    paths = [Path(os.fspath(x)).expanduser() for x in paths]
    if len(paths) != 4:
        raise DataError(
            f"Expected four IDX paths (train images, train labels, test images, test "
            f"labels). Received {len(paths)} path(s)."
        )
    arrays = {k: _read_idx_entry(p, k) for k, p in zip(_KEYS, paths)}
    return arrays, paths[0].parent.name or "custom", str(paths[0].parent)


def _from_location(p: Path, name: str | None, label: str) -> tuple[_Arrays, str, str]:
    """Read the dataset at an explicit location; ``name`` (when the caller named one) chooses
    between named files there and must not contradict what the location visibly holds."""
    if not p.exists():
        wanted = f" (looking for the {name!r} dataset)" if name else ""
        raise DataNotFoundError(
            f"{label} {str(p)!r} does not exist{wanted}. Pass an existing directory or file holding "
            f"{_expected_files(name)}."
        )
    if p.is_file():
        _check_agrees(name, p.stem, p, label)
        return _from_path(p), p.stem, str(p)
    if name is not None:
        for sub in (p / name, p / name.replace("_", "-"), p / f"{name}.npz", p / f"{name.replace('_', '-')}.npz"):
            if sub.exists():
                arrays = _from_path(sub)
                if arrays is not None:
                    return arrays, sub.stem if sub.is_file() else sub.name, str(sub)
        _check_agrees(name, p.name, p, label)
    arrays = _from_path(p, name)
    if arrays is None:
        raise DataError(_nothing_in_dir_message(p, name, label))
    return arrays, p.name, str(p)


def _check_agrees(name: str | None, found: str, p: Path, label: str) -> None:
    other = _known_name(found)
    if name is not None and other is not None and other != name:
        raise DataError(
            f"The dataset is named {name!r} but {label} {str(p)!r} holds {other!r}. Drop the name "
            f"(--dataset) to use that data as it is, or point the path (--data) at the {name} files."
        )


def _from_keras(name: str, download: bool) -> tuple[_Arrays, str, str]:
    """A named dataset from Keras' cache, else Keras' download: only when no location was given."""
    tried: list[str] = ["path= / --data: not given", f"${ENV_VAR}: not set"]
    cache = _keras_cache_dir()
    cached = cache / "mnist.npz" if name == "mnist" else cache / "fashion-mnist"
    if cached.exists():
        arrays = _from_path(cached)
        if arrays is not None:
            return arrays, name, str(cached)
    tried.append(f"Keras cache {cached}: not there")
    if download:
        try:
            arrays = _download(name)
            return arrays, name, f"keras.datasets.{name} download"
        except Exception as exc:  # any network/SSL/hash failure: reported below
            tried.append(f"Keras download: failed ({type(exc).__name__}: {exc})")
    else:
        tried.append("Keras download: not attempted (download=False)")
    raise DataNotFoundError(
        f"Could not find the {name!r} dataset. Looked in: " + "; ".join(tried)
        + f". To fix: pass --data PATH (CLI) or path=PATH, or set {ENV_VAR}=PATH, where PATH "
        f"is a directory holding {_expected_files(name)}; or connect to the internet once "
        f"so Keras can download and cache it."
    )


def _expected_files(name: str | None) -> str:
    npz = f"{name}.npz" if name else "a .npz in Keras' mnist.npz layout"
    return f"{npz}, or train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], " \
        "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"


def _keras_cache_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _download(name: str) -> _Arrays:
    import keras  # heavy; only reached when nothing local was found

    loader = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    src = f"keras.datasets.{name}"
    return {"x_train": (x_train, src), "y_train": (y_train, src), "x_test": (x_test, src), "y_test": (y_test, src)}


def _nothing_in_dir_message(p: Path, name: str | None = None, label: str = "`path`") -> str:
    entries = sorted(p.iterdir())
    shown = ", ".join(e.name + ("/" if e.is_dir() else "") for e in entries[:8])
    holds = f"it holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} ({shown}{', ...' if len(entries) > 8 else ''})" \
        if entries else "it is empty"
    return (
        f"No dataset in {label} {str(p)!r}: {holds}. Expected {_expected_files(name)}. "
        f"Nothing else was tried: point the path at the folder or file that holds the data."
    )


def _from_path(p: Path, name: str | None = None) -> _Arrays | None:
    """Arrays from a file or directory, or None when a directory holds none.

    In a directory, a ``.npz`` named after another known dataset than ``name`` is
    never read (asking for ``fashion_mnist`` never returns ``mnist.npz``)."""
    if p.is_file():
        if p.suffix == ".npz":
            return _read_npz(p)
        raise DataError(
            f"{p}: a single file must be a .npz in Keras' mnist.npz layout. For IDX "
            f"files pass their directory or all four paths."
        )
    if not p.is_dir():
        return None

    def allowed(f: Path) -> bool:
        other = _known_name(f.stem)
        return name is None or other is None or other == name

    for npz in (p / "mnist.npz", p / f"{p.name}.npz"):
        if npz.is_file() and allowed(npz):
            return _read_npz(npz)
    idx = _idx_files_in(p)
    if idx is not None:
        return {k: _read_idx_entry(f, k) for k, f in idx.items()}
    npzs = sorted(p.glob("*.npz"))
    if len(npzs) == 1 and allowed(npzs[0]):
        return _read_npz(npzs[0])
    if npzs and name is not None:
        _check_agrees(name, npzs[0].stem, npzs[0], "`path`")
    return None


def _idx_files_in(directory: Path) -> dict[str, Path] | None:
    """Pair IDX files in a directory by split and tag; None if incomplete."""
    found: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for f in sorted(directory.iterdir()):
        m = _IDX_NAME.match(f.name)
        if not m or not f.is_file():
            continue
        split = "train" if m["split"] == "train" else "test"
        found.setdefault((split, m["kind"]), []).append((m["tag"] or "", f))
    out: dict[str, Path] = {}
    for split in ("train", "test"):
        images = found.get((split, "images"), [])
        labels = dict(found.get((split, "labels"), []))
        if not images:
            return None
        if len(images) > 1:
            names = ", ".join(f.name for _, f in images)
            raise DataError(
                f"{directory}: several {split} image files ({names}); pass the four IDX "
                f"paths explicitly to choose."
            )
        tag, image_file = images[0]
        label_file = labels.get(tag) or labels.get("")
        if label_file is None:
            raise DataError(
                f"{directory}: found {image_file.name} but no matching {split} labels file "
                f"(expected a name like {image_file.name.replace('images', 'labels').replace('idx3', 'idx1')})."
            )
        out[f"x_{split}"] = image_file
        out[f"y_{split}"] = label_file
    return out


def _from_mapping(data: Mapping[str, Any]) -> _Arrays:
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
    if missing:
        raise DataError(
            f"The data mapping lacks {missing}; expected keys x_train, y_train, x_test, y_test."
        )
    out = {}
    for key in ("x_train", "y_train", "x_test", "y_test"):
        value = data[key]
        if isinstance(value, (str, os.PathLike)):
            out[key] = _read_idx_entry(Path(value), key)
        else:
            out[key] = (np.asarray(value), f"<{key} array>")
    return out


# --------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------


def _read_npz(p: Path) -> _Arrays:
    try:
        with np.load(p, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DataError(
                    f"{p}: missing arrays {missing}; found {sorted(f.files)}. Expected Keras' "
                    f"mnist.npz layout: x_train, y_train, x_test, y_test."
                )
            return {k: (f[k], str(p)) for k in ("x_train", "y_train", "x_test", "y_test")}
    except DataError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
            raise DataError(
                f"{p}: holds pickled Python objects, which mnistopt refuses to load (unpickling "
                f"can run arbitrary code). Save plain numeric arrays with numpy.savez."
            ) from None
        raise DataError(f"{p}: not a readable .npz file ({exc}).") from None
    except Exception as exc:  # zipfile, zlib, OSError...: all mean "unreadable"
        raise DataError(f"{p}: not a readable .npz file ({type(exc).__name__}: {exc}).") from None


def _read_idx_entry(p: Path, key: str) -> tuple[np.ndarray, str]:
    if not p.is_file():
        raise DataNotFoundError(f"IDX file for {key} not found: {p}.")
    expected = _IDX_IMAGES_MAGIC if key.startswith("x") else _IDX_LABELS_MAGIC
    return read_idx(p, expected_magic=expected), str(p)


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw) of unsigned bytes, fully validated.

    Args:
        path: the file.
        expected_magic: 2051 for images (3 dimensions), 2049 for labels (1).

    Raises:
        DataError: bad gzip stream, wrong magic number, unexpected number of
            dimensions, or a byte count that disagrees with the header.

    Example:
        >>> import gzip, struct, tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
        >>> with gzip.open(f, "wb") as out:
        ...     _ = out.write(struct.pack(">II", 2049, 3) + bytes([7, 1, 0]))
        >>> read_idx(f, expected_magic=2049).tolist()
        [7, 1, 0]
    """
    p = Path(path)
    try:
        if p.suffix == ".gz":
            with gzip.open(p, "rb") as f:
                raw = f.read()
        else:
            raw = p.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{p}: corrupt or truncated gzip data ({type(exc).__name__}: {exc}). "
            f"Download the file again."
        ) from None
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({exc}).") from None
    if len(raw) < 4:
        raise DataError(f"{p}: only {len(raw)} bytes; an IDX file starts with a 4-byte magic number.")
    magic = int.from_bytes(raw[:4], "big")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise DataError(
            f"{p}: wrong IDX magic number {magic} (0x{magic:08x}); expected 2051 for images "
            f"or 2049 for labels (unsigned-byte IDX). Is this an IDX file?"
        )
    if expected_magic is not None and magic != expected_magic:
        what = "images" if expected_magic == _IDX_IMAGES_MAGIC else "labels"
        raise DataError(
            f"{p}: wrong IDX magic number {magic}; expected {expected_magic} for {what}. "
            f"Were the images and labels files swapped?"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{p}: truncated IDX header ({len(raw)} bytes, need {header}).")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)  # exact: four 32-bit dimensions overflow int64
    got = len(raw) - header
    if got != expected:
        raise DataError(
            f"{p}: header says dimensions {dims} ({expected:,} bytes of data) but the file has "
            f"{got:,}; the file is {'truncated' if got < expected else 'longer than its header says'}."
        )
    try:
        return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    except ValueError:  # e.g. (0, 2**31, 2**31): no bytes, yet a shape NumPy cannot hold
        raise DataError(f"{p}: header dimensions {dims} describe no array NumPy can hold. "
                        f"Is this an IDX file?") from None


# --------------------------------------------------------------------------
# Validation and normalisation
# --------------------------------------------------------------------------


def _validate(arrays: _Arrays, source: str, num_classes: int | None):
    """The checked splits, the class count and the label offset (1 for labels numbered 1..K)."""
    images = {}
    for split in ("train", "test"):
        x, x_src = arrays[f"x_{split}"]
        y, y_src = arrays[f"y_{split}"]
        x = _check_images(x, x_src, split)
        y = _check_labels(y, y_src, split)
        if len(x) != len(y):
            raise DataError(
                f"{split} images and labels disagree in count: {len(x):,} images in {x_src} but "
                f"{len(y):,} labels in {y_src}. Pair each images file with its own labels file."
            )
        images[split] = (x, y)
    if images["train"][0].shape[1:] != images["test"][0].shape[1:]:
        raise DataError(
            f"train images have shape {images['train'][0].shape[1:]} but test images "
            f"{images['test'][0].shape[1:]} ({source}); both splits need the same image size."
        )
    (x_train, y_train), (x_test, y_test) = images["train"], images["test"]
    y_train, y_test, k, offset = _classes(y_train, arrays["y_train"][1], y_test, arrays["y_test"][1], num_classes)
    return (x_train, y_train), (x_test, y_test), k, offset


def _classes(y_train: np.ndarray, train_src: str, y_test: np.ndarray, test_src: str,
             stated: int | None) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The class count read from the training labels (0..K-1, or 1..K mapped to 0..K-1), checked
    against ``stated`` (``num_classes``) and the test labels; returns the labels as 0..K-1, K and the
    offset subtracted. Every class must have training images; nothing silently changes a label."""
    present = np.unique(y_train)
    lo, hi = int(present[0]), int(present[-1])
    if stated is not None and not (hi < stated or (lo >= 1 and hi == stated)):
        bad = y_train[y_train >= stated]
        raise DataError(
            f"{train_src}: train labels must lie in 0..{stated - 1} (or 1..{stated}) for num_classes={stated}; "
            f"found {len(bad):,} out of range (e.g. {bad[0].item()!r}). Check the labels file, or leave "
            f"num_classes unset to read the class count from the training labels."
        )
    if lo > 1:
        raise DataError(
            f"{train_src}: train labels start at {lo}; expected class ids 0..K-1 (or 1..K, as EMNIST letters). "
            f"Renumber the labels from 0."
        )
    offset = 1 if lo == 1 and (stated is None or hi == stated) else 0
    k = hi + 1 - offset if stated is None else stated
    if k < 2:
        raise DataError(f"{train_src}: every train label is {lo}: a classifier needs at least two classes.")
    missing = sorted(set(range(offset, k + offset)) - set(present.tolist()))
    if missing:
        shown = ", ".join(map(str, missing[:8])) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise DataError(
            f"{train_src}: the train labels run {offset}..{k - 1 + offset}, but class(es) {shown} have no training "
            f"image. Every class needs training images: check the labels file"
            + (", or pass the num_classes the data has." if stated is not None else ".")
        )
    unseen = np.setdiff1d(np.unique(y_test), present)
    if len(unseen):
        raise DataError(
            f"{test_src}: test label(s) {', '.join(str(v) for v in unseen[:8].tolist())} never appear in the "
            f"training split ({len(np.isin(y_test, unseen).nonzero()[0]):,} test images); a model cannot learn "
            f"a class it never sees. Check the labels files."
        )
    return (y_train - offset).astype(np.int32), (y_test - offset).astype(np.int32), k, offset


def _check_images(x: np.ndarray, src: str, split: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise DataError(
            f"{src}: {split} images must have shape (N, height, width); got {x.shape}. Reshape flat "
            f"images first, e.g. x.reshape(-1, 28, 28)."
        )
    if len(x) == 0:
        raise DataError(f"{src}: the {split} split holds no images. Pass a dataset with images in both "
                        f"the train and the test split.")
    if x.size == 0:  # found by tests/test_fuzz.py: images of height or width 0
        raise DataError(f"{src}: {split} images have shape {x.shape[1:]}: no pixels. Pass images at least "
                        f"one pixel high and wide.")
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / np.float32(255.0))
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{src}: {split} images have dtype {x.dtype}; expected uint8 or float. Convert them, "
                        f"e.g. x.astype('uint8').")
    xf = x.astype(np.float32)
    if not np.all(np.isfinite(xf)):
        bad = int(np.sum(~np.all(np.isfinite(xf.reshape(len(xf), -1)), axis=1)))
        raise DataError(f"{src}: {split} images contain NaN or infinite values ({bad:,} of {len(xf):,} images). "
                        f"Drop or repair those images.")
    lo, hi = float(xf.min()), float(xf.max())
    if lo < 0 or hi > 255:
        raise DataError(
            f"{src}: {split} pixel values span [{lo}, {hi}]; expected [0, 1] or [0, 255]."
        )
    return xf / np.float32(255.0) if hi > 1.0 else xf


def _check_labels(y: np.ndarray, src: str, split: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{src}: {split} labels must be a 1-D array of class ids; got shape {y.shape}.")
    if len(y) == 0:
        raise DataError(f"{src}: the {split} split holds no labels. Pass one label per image.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{src}: {split} labels must be whole numbers (class ids); found non-integer values. "
                            f"Pass integer labels 0..K-1, e.g. y.astype(int) if they are ids stored as floats.")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{src}: {split} labels have dtype {y.dtype}; expected integers. Pass integer labels "
                        f"0..K-1.")
    if y.min() < 0:
        bad = y[y < 0]
        raise DataError(f"{src}: {split} labels must be class ids >= 0; found {len(bad):,} negative "
                        f"(e.g. {bad[0].item()!r}). Check the labels file.")
    if y.max() > _MAX_CLASSES:
        raise DataError(f"{src}: {split} labels run up to {y.max().item()!r}; mnistopt takes at most "
                        f"{_MAX_CLASSES:,} classes. Check the labels file.")
    return y.astype(np.int64)
