"""A family of the user's own: :class:`ModelFamily` (what a user writes) and :class:`ModelSpec`
(one model of such a family).

A user's family is a class with a ``name``, its own ``choices`` (search-space values) and a
``build(spec)`` that returns a Keras model for ``spec.values`` (the sampled choices) and
``spec.width`` (an integer that scales the model). mnistopt finds the widest width within the
budget and the device limits known before training by building the model and counting its
parameters and multiply-accumulates (:func:`~mnistopt.models.describe_model`), so the count is
exact for any architecture; then it trains, exports and measures the model as any other.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from .._checks import check_int
from ..dimensions import Dimension, Range, as_choice, dimension
from ..errors import ArgumentError, BudgetError, InvalidTypeError, SpecError
from ..models import ModelInfo, describe_model
from ..spec import TrainingFields
from .base import Family, get_family

__all__ = ["ModelFamily", "ModelSpec"]

_MAX_COMBINATIONS = 256  # choice combinations a family's feasibility check builds (each at width 1)


@dataclasses.dataclass(frozen=True)
class ModelSpec(TrainingFields):
    """One model of a user's :class:`ModelFamily`: the family's name, the sampled choices and the width,
    and the training fields every spec has.

    Its ``params`` and ``macs`` are counted on the model the family builds (built once per spec and
    process). Read ``values`` (a dict of the choices) and ``width`` in ``build``.
    """

    family: str = ""
    width: int = 1
    choices: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family:
            raise InvalidTypeError(f"`family` must be a family's name. Received: family={self.family!r}.")
        object.__setattr__(self, "width", check_int("width", self.width, minimum=1, error=SpecError))
        choices = self.choices.items() if isinstance(self.choices, Mapping) else self.choices
        object.__setattr__(self, "choices", tuple((str(k), v) for k, v in choices))
        self._check_training()

    @property
    def values(self) -> dict[str, Any]:
        """The sampled choices, by name (without the family's prefix)."""
        return dict(self.choices)

    @property
    def owner(self) -> ModelFamily:
        """The registered family that builds this spec's model."""
        family = get_family(self.family)
        if not isinstance(family, ModelFamily):
            raise SpecError(f"Family {self.family!r} is not a ModelFamily, so a ModelSpec cannot name it.")
        return family

    @property
    def info(self) -> ModelInfo:
        """What the built model is (:func:`~mnistopt.models.describe_model`), checked."""
        return _built(self, self.owner)[0]

    @property
    def params(self) -> int:
        return self.info.params

    @property
    def macs(self) -> int:
        return self.info.macs

    @property
    def architecture(self) -> str:
        return self.owner.label(self)

    def prunable_kernels(self) -> dict[str, tuple[int, int]]:
        """The Dense and convolution kernels magnitude pruning thins, by layer name, as ``(fan_in, fan_out)``
        (a separable convolution's pointwise kernel; a depthwise kernel stays dense)."""
        return dict(_built(self, self.owner)[1])

    def resized(self, budget: int) -> ModelSpec:
        """The widest spec of these choices within ``budget`` parameters."""
        return self.owner.widest(self, budget)

    def build(self, keras_module: Any = None) -> Any:
        """The family's Keras 3 model for this spec, its layers named by position (``dense_3``,
        ``conv2d_1``) so that every build of a spec has the same names. Not compiled."""
        if keras_module is not None and getattr(keras_module, "__name__", "") != "keras":
            raise NotImplementedError(f"Family {self.family!r} builds Keras 3 models only")
        model = self.owner.build(self)
        for i, layer in enumerate(getattr(model, "layers", ())):
            if type(layer).__name__ != "InputLayer":
                layer.name = f"{type(layer).__name__.lower()}_{i}"
        return model

    def to_dict(self) -> dict[str, Any]:
        out = {"family": self.family, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}
        out["choices"] = {k: v for k, v in self.choices}
        out["input_shape"] = list(self.input_shape)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SpecError(f"Unknown ModelSpec field(s) {unknown}. Expected only {sorted(names)}.")
        kwargs = dict(data)
        kwargs["input_shape"] = tuple(kwargs.get("input_shape", (28, 28)))
        return cls(**kwargs)


@functools.lru_cache(maxsize=4096)
def _built(spec: ModelSpec, owner: ModelFamily) -> tuple[ModelInfo, tuple[tuple[str, tuple[int, int]], ...]]:
    """The checked description of ``spec``'s model and its prunable kernels (once per spec and family)."""
    name = spec.family
    import keras

    model = spec.build()
    if not isinstance(model, keras.Model):
        raise SpecError(f"Family {name!r}: build() must return a Keras 3 model; it returned {type(model).__name__}.")
    try:
        info = describe_model(model)
    except SpecError as exc:
        raise SpecError(f"Family {name!r}: {exc}") from None
    if info.input_shape != tuple(spec.input_shape):
        raise SpecError(f"Family {name!r}: the model takes inputs of shape {info.input_shape}; it must take "
                        f"keras.Input(shape=spec.input_shape), {tuple(spec.input_shape)} (add a Reshape inside for "
                        f"convolutions).")
    if info.num_classes != spec.num_classes:
        raise SpecError(f"Family {name!r}: the model gives {info.num_classes} outputs; it must end in "
                        f"Dense(spec.num_classes) ({spec.num_classes}).")
    if info.logits:
        raise SpecError(f"Family {name!r}: the model must end in a softmax (mnistopt trains on class "
                        f"probabilities), e.g. Dense(spec.num_classes, activation='softmax').")
    kernels = []
    for layer in model.layers:
        kernel = getattr(layer, "pointwise_kernel", None) or getattr(layer, "kernel", None)
        if kernel is not None and type(layer).__name__ in ("Dense", "Conv2D", "SeparableConv2D"):
            shape = tuple(int(d) for d in kernel.shape)
            kernels.append((layer.name, (math.prod(shape[:-1]), shape[-1])))
    return info, tuple(kernels)


@dataclasses.dataclass(frozen=True)
class ModelChoices:
    """A user's family's part of a resolved space: its own choices, each a search dimension named
    ``"<family>_<choice>"``."""

    family: ModelFamily

    def dimensions(self, space: Any) -> list[Dimension]:
        return [dimension(f"{self.family.name}_{k}", v) for k, v in self.family.choices.items()]

    def to_spec(self, space: Any, values: Mapping[str, Any], budget: int, fields: dict[str, Any],
                limits: Any = None) -> ModelSpec:
        name = self.family.name
        choices = tuple((k, values[f"{name}_{k}"]) for k in self.family.choices)
        return self.family.widest(ModelSpec(family=name, width=1, choices=choices, **fields), budget, limits)


class ModelFamily(Family):
    """Base class for a model family of your own: subclass it, give it a ``name`` and ``choices``,
    write ``build``, register an instance (:func:`~mnistopt.families.register_family`) and search it beside the
    built-in families (``SearchSpace(family=Choice("mlp", "lenet"))``).

    ``build(spec)`` returns a Keras 3 model (not compiled) that takes ``keras.Input(spec.input_shape)``
    (the grey image, ``(height, width)``), ends in ``Dense(spec.num_classes, activation="softmax")``,
    and grows with ``spec.width``; ``spec.values`` holds the sampled choices and ``spec.activation``,
    ``spec.dropout``, ``spec.l2``, ``spec.batch_norm`` the searched training fields the model may use.
    mnistopt gives every trial the widest width whose built model is within the budget (counted
    exactly on the model) and the limits known before training (multiply-accumulates; a TFLM arena
    limit is measured on each trained trial's file, as are bytes and latency).

    Attributes:
        name: the family's name (a lower-case identifier).
        choices: the family's own search dimensions: a plain value (fixed), a
            :class:`~mnistopt.Choice` or a :class:`~mnistopt.Range`, by name. An instance may fix or
            narrow them: ``LeNet(blocks=2)``.
        max_width: the widest width tried.
        retrain_factor, small_budget_schedule: as for every :class:`~mnistopt.families.Family`.

    Example:
        >>> import keras
        >>> from mnistopt import Choice, SearchSpace
        >>> from mnistopt.families import ModelFamily, register_family
        >>> class Wide(ModelFamily):
        ...     name = "wide"
        ...     choices = {"layers": Choice(1, 2)}
        ...     def build(self, spec):
        ...         x = inputs = keras.Input(spec.input_shape)
        ...         x = keras.layers.Flatten()(x)
        ...         for _ in range(spec.values["layers"]):
        ...             x = keras.layers.Dense(spec.width, activation=spec.activation)(x)
        ...         return keras.Model(inputs, keras.layers.Dense(spec.num_classes, activation="softmax")(x))
        >>> _ = register_family(Wide())
        >>> resolved = SearchSpace(family="wide").resolve(4034)
        >>> [d.name for d in resolved.dimensions()][:1]
        ['wide_layers']
        >>> spec = resolved.to_spec({**resolved.defaults(), "wide_layers": 1})
        >>> spec.architecture, spec.params  # 784*5+5 + 5*10+10: one unit more would not fit
        ('wide:w5-layers1', 3985)
    """

    name: ClassVar[str] = ""
    choices: Mapping[str, Any] = {}
    max_width: ClassVar[int] = 4096
    spec_class: ClassVar[type] = ModelSpec

    def __init__(self, **choices: Any) -> None:
        declared = dict(type(self).choices)
        unknown = sorted(set(choices) - set(declared))
        if unknown:
            raise ArgumentError(f"Family {self.name!r} has no choice(s) {unknown}; its choices: {list(declared)}.")
        self.choices = {**declared, **choices}

    def build(self, spec: ModelSpec) -> Any:
        """The Keras 3 model of ``spec`` (see the class's description)."""
        raise NotImplementedError(f"Family {self.name!r} must define build(spec), returning a Keras model.")

    def label(self, spec: ModelSpec) -> str:
        """The model's name in records and reports: ``"<family>:w<width>-<choice><value>..."``."""
        return f"{self.name}:w{spec.width}" + "".join(f"-{k}{v:.3g}" if isinstance(v, float) else f"-{k}{v}"
                                                       for k, v in spec.choices)

    # -- the Family protocol ------------------------------------------------------------------------------

    def check(self, space: Any) -> None:
        if type(self).build is ModelFamily.build:
            raise ArgumentError(f"Family {self.name!r} ({type(self).__name__}) defines no build(spec).")
        if not isinstance(self.choices, Mapping):
            raise ArgumentError(f"Family {self.name!r}: `choices` must be a dict of choice names to values.")
        for key, value in self.choices.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ArgumentError(f"Family {self.name!r}: choice names must be identifiers. Received: {key!r}.")
            for v in (value.low, value.high) if isinstance(value, Range) else as_choice(value, key):
                try:
                    hash(v)
                except TypeError:
                    raise ArgumentError(f"Family {self.name!r}: choice {key!r} takes plain values (numbers, strings, "
                                        f"tuples), a Choice or a Range. Received: {v!r}.") from None

    def resolve(self, space: Any, budget: int, input_shape: tuple[int, ...], num_classes: int,
                limits: Any = None) -> ModelChoices:
        """Every combination of the family's choices must fit at width 1 (with each batch-norm choice),
        and the model must grow with its width."""
        self.check(space)
        grids = [(k, (v.low, v.high) if isinstance(v, Range) else as_choice(v, k)) for k, v in self.choices.items()]
        combos = list(itertools.islice(itertools.product(*(values for _, values in grids)), _MAX_COMBINATIONS))
        activation = as_choice(space.activation, "activation")[0]
        worst = None
        for combo in combos:
            for batch_norm in as_choice(space.batch_norm, "batch_norm"):
                spec = ModelSpec(family=self.name, width=1, choices=tuple(zip((k for k, _ in grids), combo)),
                                 batch_norm=bool(batch_norm), activation=activation, input_shape=tuple(input_shape),
                                 num_classes=num_classes)
                if limits and not limits.fits(spec):
                    raise BudgetError(f"Family {self.name!r}: its smallest model {spec.architecture} is over the "
                                      f"limits ({'; '.join(limits.violations(spec))}).")
                if worst is None or spec.params > worst.params:
                    worst = spec
        if worst.params > budget:
            raise BudgetError(f"Family {self.name!r}: its smallest model, {worst.architecture}, has "
                              f"{worst.params:,} parameters, over the budget of {budget:,}; no width fits.")
        if dataclasses.replace(worst, width=2).params <= worst.params:
            raise SpecError(f"Family {self.name!r}: the model does not grow with spec.width ({worst.params:,} "
                            f"parameters at widths 1 and 2); build() must use spec.width.")
        return ModelChoices(self)

    def widest(self, spec: ModelSpec, budget: int, limits: Any = None) -> ModelSpec:
        """``spec`` at the widest width (up to :attr:`max_width`) whose model is within ``budget``
        parameters and ``limits`` (the parameter count grows with the width: a doubling search, then a
        bisection)."""
        def fits(width: int) -> bool:
            candidate = dataclasses.replace(spec, width=width)
            return candidate.params <= budget and (not limits or limits.fits(candidate))

        if not fits(1):
            raise BudgetError(f"Family {self.name!r}: no width of {dataclasses.replace(spec, width=1).architecture} "
                              f"fits {budget:,} parameters" + (f" and the limits ({limits.describe()})." if limits
                                                               else "."))
        low, high = 1, 2
        while high <= self.max_width and fits(high):
            low, high = high, high * 2
        high = min(high, self.max_width + 1)
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        return dataclasses.replace(spec, width=low)
