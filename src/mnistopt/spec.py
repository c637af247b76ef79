"""`MLPSpec`: a frozen record that fully describes one model and its training.

Pure Python (no TensorFlow): a spec can be created, validated, counted,
serialised and compared without building anything.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from . import budget as _budget
from ._checks import check_choice, check_float, check_int
from .errors import InvalidTypeError, SpecError

__all__ = [
    "ACTIVATIONS",
    "AUGMENTATIONS",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "MLPSpec",
    "TrainingFields",
    "scheduled_rate",
    "count_params",
    "widest_spec",
]

#: Hidden-layer activations a spec may name (Keras activation names).
ACTIVATIONS = ("relu", "tanh", "elu", "selu", "gelu", "swish", "sigmoid")
#: Optimizers a spec may name; ``sgd`` uses ``momentum``.
OPTIMIZERS = ("adam", "sgd", "rmsprop")
#: Learning-rate schedules: constant; cosine decay to zero over ``epochs``; the same after a
#: linear warm-up over the first tenth of the epochs (at least one).
LR_SCHEDULES = ("constant", "cosine", "warmup_cosine")
#: Training-time augmentations (see :mod:`mnistopt.augment`); ``hflip`` is opt-in only.
AUGMENTATIONS = ("none", "shift1", "shift2", "affine", "hflip")


def scheduled_rate(learning_rate: float, schedule: str, epochs: int, epoch: int) -> float:
    """The learning rate of (0-based) ``epoch`` under one of :data:`LR_SCHEDULES` (every model
    family's spec uses this one rule).

    Example:
        >>> scheduled_rate(0.1, "cosine", 4, 2)
        0.05
    """
    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    warm = max(1, epochs // 10)
    if epoch < warm:
        return learning_rate * (epoch + 1) / (warm + 1)
    return learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - warm) / max(1, epochs - warm)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingFields:
    """The fields every model family's spec shares: the activation and regularisation of its
    layers, how it is trained, and its data's shape. Keyword-only; each family's own fields
    (an MLP's ``hidden``, a CNN's ``blocks``) come first. Validated by :meth:`_check_training`,
    which each spec's ``__post_init__`` calls."""

    activation: str = "relu"
    dropout: float = 0.0
    l2: float = 0.0
    batch_norm: bool = False
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    momentum: float = 0.9
    batch_size: int = 32
    epochs: int = 10
    input_shape: tuple[int, int] = (28, 28)
    num_classes: int = 10
    augment: str = "none"
    label_smoothing: float = 0.0

    #: The model family a subclass describes (``"family"`` in its ``to_dict()``).
    family: ClassVar[str] = ""
    #: Whether :func:`~mnistopt.compress_model` prunes and retrains this family's models through
    #: their spec (in mnistopt's own trainer); otherwise through the model's own layers, as any model.
    compress_by_spec: ClassVar[bool] = False

    def build(self, keras_module: Any = None) -> Any:
        """The Keras model this spec describes, not compiled (Keras 3 unless ``keras_module`` is
        ``tf_keras``); each family builds its own layers."""
        raise NotImplementedError(f"{type(self).__name__} does not say how to build its model")

    def lower(self, chain: Any, x: int) -> int:
        """Add to ``chain`` (:mod:`mnistopt.footprint`'s op chain) the ops the TFLite converter emits
        for this model's layers before its output layer, from the image tensor ``x``; return the
        tensor the output layer reads. Each family lowers its own layers."""
        raise NotImplementedError(f"{type(self).__name__} does not say which ops its int8 file has")

    def _check_training(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.input_shape, Sequence) or len(self.input_shape) != 2:
            raise SpecError(
                f"`input_shape` must be (height, width). Received: "
                f"input_shape={self.input_shape!r}."
            )
        set_(
            self,
            "input_shape",
            tuple(check_int("input_shape", s, minimum=1, error=SpecError) for s in self.input_shape),
        )
        set_(self, "num_classes", check_int("num_classes", self.num_classes, minimum=2, error=SpecError))
        if not isinstance(self.batch_norm, bool):
            raise InvalidTypeError(
                f"`batch_norm` must be True or False. Received: batch_norm={self.batch_norm!r}."
            )
        set_(self, "activation", check_choice("activation", self.activation, ACTIVATIONS, error=SpecError))
        set_(self, "optimizer", check_choice("optimizer", self.optimizer, OPTIMIZERS, error=SpecError))
        set_(self, "lr_schedule", check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES, error=SpecError))
        set_(
            self,
            "dropout",
            check_float("dropout", self.dropout, minimum=0.0, maximum=1.0, max_inclusive=False, error=SpecError),
        )
        set_(self, "l2", check_float("l2", self.l2, minimum=0.0, error=SpecError))
        set_(
            self,
            "learning_rate",
            check_float("learning_rate", self.learning_rate, minimum=0.0, min_inclusive=False, error=SpecError),
        )
        set_(
            self,
            "momentum",
            check_float("momentum", self.momentum, minimum=0.0, maximum=1.0, max_inclusive=False, error=SpecError),
        )
        set_(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1, error=SpecError))
        set_(self, "epochs", check_int("epochs", self.epochs, minimum=1, error=SpecError))
        set_(self, "augment", check_choice("augment", self.augment, AUGMENTATIONS, error=SpecError))
        set_(
            self,
            "label_smoothing",
            check_float("label_smoothing", self.label_smoothing, minimum=0.0, maximum=1.0, max_inclusive=False,
                        error=SpecError),
        )

    @classmethod
    def _stored_fields(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """A ``to_dict()`` output as this spec class's keyword arguments: its ``"family"`` checked and
        dropped, unknown keys an error, ``input_shape`` a tuple again (each family converts its own)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = dict(data)
        family = kwargs.pop("family", cls.family)
        if family != cls.family:
            raise SpecError(f"A {family!r} spec cannot be read as {cls.__name__}; read it with "
                            f"mnistopt.families.spec_from_dict.")
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise SpecError(f"Unknown {cls.__name__} field(s) {unknown}. Expected only {sorted(names)}.")
        if "input_shape" in kwargs:
            kwargs["input_shape"] = tuple(kwargs["input_shape"])
        return kwargs

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate used in (0-based) ``epoch`` (:func:`scheduled_rate`).

        Example:
            >>> MLPSpec(lr_schedule="cosine", epochs=4, learning_rate=0.1).learning_rate_at(2)
            0.05
        """
        return scheduled_rate(self.learning_rate, self.lr_schedule, self.epochs, epoch)


@dataclasses.dataclass(frozen=True)
class MLPSpec(TrainingFields):
    """Everything needed to build and train one MLP.

    The defaults are the reference baseline: 784-128-64-10 with ReLU and a
    softmax output, Adam at 1e-3, sparse categorical cross-entropy, 10 epochs,
    batch 32 (109,386 parameters). Fields are validated on creation and the
    record is immutable; use :func:`dataclasses.replace` to derive variants.

    Args:
        hidden: widths of the hidden ``Dense`` layers (empty: no hidden layer).
        crop: border pixels removed from each side of the image first.
        pool: apply 2x2 average pooling (after cropping) before flattening.
        activation: hidden-layer activation, one of :data:`ACTIVATIONS`.
        dropout: dropout rate after each hidden layer, in ``[0, 1)``.
        l2: L2 weight-decay factor on hidden and output kernels, ``>= 0``.
        batch_norm: batch normalisation after each hidden ``Dense`` (whose bias
            is then dropped).
        optimizer: one of :data:`OPTIMIZERS`.
        learning_rate: optimizer step size, ``> 0`` (the initial one under a schedule).
        lr_schedule: ``"constant"``; ``"cosine"``: the rate at epoch ``e``
            (0-based) is ``learning_rate * (1 + cos(pi * e / epochs)) / 2``;
            ``"warmup_cosine"``: ``learning_rate * (e + 1) / (w + 1)`` over the
            first ``w = max(1, epochs // 10)`` epochs, then cosine decay over
            the rest.
        momentum: momentum for ``sgd`` (ignored by the other optimizers).
        batch_size: training batch size.
        epochs: maximum number of training epochs.
        augment: random transformation of each training batch, one of
            :data:`AUGMENTATIONS` (training only: the model holds none of it).
        label_smoothing: share ``e`` of each target spread over all classes:
            the loss is ``(1 - e)`` times the cross-entropy of the label plus
            ``e`` times the mean cross-entropy over the classes, in ``[0, 1)``.
        input_shape: image height and width.
        num_classes: number of output classes.

    Example:
        >>> spec = MLPSpec()
        >>> spec.hidden, spec.params
        ((128, 64), 109386)
        >>> small = MLPSpec(hidden=(16,), crop=4, pool=True)
        >>> small.in_features, small.params
        (100, 1786)
    """

    #: The model family this spec describes (``"family"`` in :meth:`to_dict`).
    family: ClassVar[str] = "mlp"
    compress_by_spec: ClassVar[bool] = True

    hidden: tuple[int, ...] = (128, 64)
    crop: int = 0
    pool: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, Sequence):
            raise InvalidTypeError(
                f"`hidden` must be a sequence of layer widths such as (128, 64). "
                f"Received: hidden={self.hidden!r}."
            )
        set_(
            self,
            "hidden",
            tuple(
                check_int(f"hidden[{i}]", w, minimum=1, error=SpecError)
                for i, w in enumerate(self.hidden)
            ),
        )
        self._check_training()
        set_(self, "crop", check_int("crop", self.crop, minimum=0, error=SpecError))
        if not isinstance(self.pool, bool):
            raise InvalidTypeError(f"`pool` must be True or False. Received: pool={self.pool!r}.")
        _budget.reduced_shape(self.input_shape, self.crop, self.pool)  # validates crop

    # -- derived quantities -------------------------------------------------

    @property
    def in_features(self) -> int:
        """Inputs of the first dense layer after cropping and pooling."""
        return _budget.input_features(self.input_shape, self.crop, self.pool)

    @property
    def params(self) -> int:
        """Exact parameter count, equal to ``build_model(self).count_params()``."""
        return _budget.mlp_params(self.in_features, self.hidden, self.num_classes, self.batch_norm)

    @property
    def macs(self) -> int:
        """Exact multiply-accumulates for one image (see :func:`mnistopt.budget.mlp_macs`).

        Example:
            >>> MLPSpec().macs  # the baseline: 784*128 + 128*64 + 64*10
            109184
        """
        return _budget.mlp_macs(self.input_shape, self.crop, self.pool, self.hidden, self.num_classes)

    @property
    def architecture(self) -> str:
        """Short human-readable layout, e.g. ``"784-128-64-10"`` or ``"c4p:100-16-10"``."""
        prefix = ""
        if self.crop or self.pool:
            prefix = (f"c{self.crop}" if self.crop else "") + ("p" if self.pool else "") + ":"
        layers = (self.in_features, *self.hidden, self.num_classes)
        return prefix + "-".join(str(n) for n in layers)

    def prunable_kernels(self) -> dict[str, tuple[int, int]]:
        """The kernels magnitude pruning thins, by layer name: ``(fan_in, fan_out)`` of each ``Dense``.

        Example:
            >>> MLPSpec(hidden=(16,), pool=True).prunable_kernels()
            {'dense_1': (196, 16), 'output': (16, 10)}
        """
        widths = [self.in_features, *self.hidden, self.num_classes]
        names = [f"dense_{i}" for i in range(1, len(self.hidden) + 1)] + ["output"]
        return dict(zip(names, zip(widths[:-1], widths[1:])))

    def resized(self, budget: int) -> MLPSpec:
        """The widest spec of this shape (depth, relative widths, input reduction) within ``budget``
        parameters (:func:`mnistopt.budget.widths_for_budget`); raises :class:`~mnistopt.errors.BudgetError`
        when even one unit per layer does not fit.

        Example:
            >>> MLPSpec(hidden=(128, 64)).resized(50_000).hidden
            (60, 30)
        """
        widths = _budget.widths_for_budget(budget, self.in_features, self.num_classes, self.hidden, self.batch_norm)
        return dataclasses.replace(self, hidden=widths)

    # -- presets and serialisation -----------------------------------------

    def build(self, keras_module: Any = None) -> Any:
        """The Keras model this spec describes, not compiled (Keras 3 unless ``keras_module`` is
        ``tf_keras``): ``Input(H, W)`` -> [``Reshape(H, W, 1)`` -> ``Cropping2D(crop)`` ->
        ``AveragePooling2D(2)``] -> ``Flatten`` -> for each hidden width: ``Dense`` (+
        ``BatchNormalization`` + ``Activation``) (+ ``Dropout``) -> ``Dense(num_classes, softmax)``,
        the layers :mod:`mnistopt.budget` counts."""
        if keras_module is None:
            import keras as keras_module
        k, L = keras_module, keras_module.layers
        reg = (lambda: k.regularizers.L2(self.l2)) if self.l2 > 0 else (lambda: None)
        height, width = self.input_shape
        layers: list[Any] = [k.Input(shape=(height, width), name="image")]
        if self.crop or self.pool:
            layers.append(L.Reshape((height, width, 1), name="channel"))
            if self.crop:
                layers.append(L.Cropping2D(self.crop, name="crop"))
            if self.pool:
                layers.append(L.AveragePooling2D(2, name="pool"))
        layers.append(L.Flatten(name="flatten"))
        for i, units in enumerate(self.hidden, start=1):
            layers.append(L.Dense(units, activation=None if self.batch_norm else self.activation,
                                  use_bias=not self.batch_norm, kernel_regularizer=reg(), name=f"dense_{i}"))
            if self.batch_norm:
                layers.append(L.BatchNormalization(name=f"bn_{i}"))
                layers.append(L.Activation(self.activation, name=f"act_{i}"))
            if self.dropout > 0:
                layers.append(L.Dropout(self.dropout, name=f"dropout_{i}"))
        layers.append(L.Dense(self.num_classes, activation="softmax", kernel_regularizer=reg(), name="output"))
        return k.Sequential(layers, name="mlp_" + self.architecture.replace(":", "_").replace("-", "_"))

    def lower(self, chain: Any, x: int) -> int:
        """The converter's ops for the input reduction (a ``STRIDED_SLICE`` crop, an
        ``AVERAGE_POOL_2D``), the flattening reshape and each hidden ``FULLY_CONNECTED`` layer with
        its activation (:meth:`TrainingFields.lower`)."""
        height, width = self.input_shape
        rank = 3
        if self.crop or self.pool:
            x, rank = chain.leading_reshape(x, 3, (height, width, 1)), 4
            if self.crop:
                height, width = height - 2 * self.crop, width - 2 * self.crop
                x = chain.op("STRIDED_SLICE", [x], (height, width, 1))
            if self.pool:
                height, width = height // 2, width // 2
                x = chain.op("AVERAGE_POOL_2D", [x], (height, width, 1))
        x = (chain.reshape if self.crop or self.pool else chain.leading_reshape)(x, rank, (height * width,))
        for units in self.hidden:
            x = chain.activation(chain.op("FULLY_CONNECTED", [x], (units,)), self.activation, (units,))
        return x

    @classmethod
    def baseline(cls) -> MLPSpec:
        """The reference baseline (784-128-64-10, Adam 1e-3, 10 epochs, batch 32).

        Example:
            >>> MLPSpec.baseline().architecture
            '784-128-64-10'
        """
        return cls()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; :meth:`from_dict` inverts it.

        Example:
            >>> MLPSpec.from_dict(MLPSpec().to_dict()) == MLPSpec()
            True
        """
        out = {"family": self.family, **dataclasses.asdict(self)}
        out["hidden"] = list(self.hidden)
        out["input_shape"] = list(self.input_shape)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MLPSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown keys are an error."""
        kwargs = cls._stored_fields(data)
        if isinstance(kwargs.get("hidden"), list):
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)


def count_params(spec: MLPSpec) -> int:
    """Exact parameter count of the model ``build_model(spec)`` returns.

    Counts every weight and bias, and batch-norm's four vectors per layer,
    exactly as ``keras.Model.count_params()`` does, without building anything.

    Example:
        >>> count_params(MLPSpec())
        109386
    """
    if not isinstance(spec, TrainingFields):
        raise InvalidTypeError(
            f"`spec` must be a model spec (an MLPSpec, a CNNSpec). Received: spec={spec!r} (type {type(spec).__name__})."
        )
    return spec.params


def widest_spec(budget: int, ratios: Sequence[float] = (), base: MLPSpec | None = None, **fields: Any) -> MLPSpec:
    """The widest spec with ``len(ratios)`` hidden layers that fits ``budget``.

    Hidden widths keep the relative sizes ``ratios`` (see
    :func:`mnistopt.budget.widths_for_budget`); every other field comes from
    ``base`` (default: the baseline) updated with ``fields``. The result's
    :attr:`MLPSpec.params` is at most ``budget`` by construction.

    Raises:
        BudgetError: if ``budget`` is below the smallest model of that depth
            and input reduction; the message states the minimum.

    Example:
        >>> widest_spec(109386, (2, 1)).hidden
        (128, 64)
        >>> s = widest_spec(4034, (1,), crop=4, pool=True)
        >>> s.hidden, s.params
        ((36,), 4006)
    """
    base = MLPSpec() if base is None else base
    template = dataclasses.replace(base, hidden=(), **fields)
    widths = _budget.widths_for_budget(
        budget, template.in_features, template.num_classes, tuple(ratios), template.batch_norm
    )
    return dataclasses.replace(template, hidden=widths)
