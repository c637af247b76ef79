"""Search spaces whose every point fits the parameter budget.

A :class:`SearchSpace` names, for each dimension, a fixed value, a
:class:`Choice` or a :class:`Range`. Hidden widths are never sampled
directly: the space samples depth and *relative* widths (each layer's width
as a fraction of the previous one), and the widths are then the widest that
fit the budget (:func:`mnistopt.budget.widths_for_budget`). So no trial is
ever spent on an oversized model.

Pure Python: no TensorFlow or KerasTuner import. :meth:`ResolvedSpace.dimensions`
lists the hyperparameters for any tuner; :meth:`ResolvedSpace.to_spec` turns
sampled values into an :class:`~mnistopt.MLPSpec`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from . import budget as _budget
from ._checks import check_int
from .dimensions import Choice, Dimension, DimensionKind, Range, Value, as_choice, dimension
from .errors import ArgumentError, BudgetError
from .kinds import BudgetKind, ParamsBudget, get_kind
from .footprint import ACTIVATION_OPS, TFLM_ACTIVATIONS, tflm_missing_ops
from .limits import Limits
from .cnn import CNNSpec, Downsample, Head, Padding, cnn_of_width, widest_cnn
from .errors import SpecError
from .families import DEFAULT_FAMILY, Spec
from .spec import ACTIVATIONS, AUGMENTATIONS, LR_SCHEDULES, OPTIMIZERS, MLPSpec

__all__ = ["Choice", "Range", "SearchSpace", "ResolvedSpace", "Dimension", "MLPChoices", "CNNChoices", "FAMILY_SPACES"]


_INPUTS = {  # input reduction name -> (crop, pool)
    "none": (0, False),
    "crop2": (2, False),
    "crop4": (4, False),
    "pool": (0, True),
    "crop2+pool": (2, True),
    "crop4+pool": (4, True),
}


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a budget search may vary; fix a dimension by giving a plain value.

    Every field takes a plain value (fixed), a :class:`Choice` or, for the
    continuous ones, a :class:`Range`.

    Args:
        depth: number of hidden layers (1-3 by default).
        taper: width of each hidden layer relative to the previous one.
        inputs: input reduction, names among ``"none"``, ``"crop2"``,
            ``"crop4"``, ``"pool"``, ``"crop2+pool"``, ``"crop4+pool"``.
            Reductions whose widest one-layer model would be narrower than
            ``min_width`` at the budget are dropped (unless no other fits).
        activation, dropout, l2, batch_norm, optimizer, learning_rate, lr_schedule, batch_size, momentum: as
            in :class:`~mnistopt.MLPSpec`.
        augment, label_smoothing: how each model is trained, as in :class:`~mnistopt.MLPSpec`.
            ``augment`` is searched like any other choice and selected on validation accuracy,
            so data that an augmentation hurts keeps ``"none"``; ``"hflip"`` is left out by
            default (a flip changes a digit).
        sgd_lr_factor: plain SGD needs larger steps than Adam or RMSProp, so
            for ``sgd`` the sampled learning rate is multiplied by this factor
            (the spec records the rate actually used).
        hidden: fixed hidden widths; replaces ``depth``/``taper`` (the model
            must then fit the budget).
        min_width: see ``inputs``.
        sparsity: for ``budget_kind="nonzero"`` searches only: the kernel
            sparsity a trial's model is magnitude-pruned to. A trial with
            sparsity ``s`` trains a dense model of about ``budget / (1 - s)``
            parameters, then prunes it to at most ``budget`` non-zero weights.
        quantize: for ``budget_kind="bytes"`` searches only: the TFLite
            export of a trial's model (``"float32"``, ``"float16"``,
            ``"dynamic"``, ``"int8"``; ``"int8-io"``, int8 with int8 input and
            output, is allowed but not in the default choices); the model is as
            wide as its file allows.
        family: the model families to search: ``"mlp"`` (the default) and ``"cnn"``. A CNN trial
            costs far more computation than an MLP one (tens of times the multiply-accumulates);
            add ``"cnn"`` when the most accurate model at the budget matters more than search time
            and inference cost. The ``conv_*`` fields describe the CNNs (see :class:`CNNChoices`):
        conv_depth: number of convolution blocks.
        conv_growth: each block's filters relative to the previous block's.
        conv_kernel: kernel size of the first two blocks' convolutions (later blocks use 3x3).
        conv_separable: the blocks after the first are depthwise-separable.
        conv_downsample: ``"pool"`` (2x2 max pooling) or ``"stride"`` (stride-2 convolutions)
            after every block.
        conv_padding: ``"same"`` or ``"valid"``.
        conv_head: ``"gap"`` (global average pooling) or ``"flatten"``.

    Example:
        >>> space = SearchSpace(optimizer="adam", batch_size=Choice(64, 128))
        >>> resolved = space.resolve(4034)
        >>> [d.name for d in resolved.dimensions() if d.kind is not DimensionKind.FIXED][:3]
        ['depth', 'taper_2', 'taper_3']
        >>> spec = resolved.to_spec(resolved.defaults())
        >>> spec.params <= 4034
        True
    """

    depth: Value = Choice(1, 2, 3)
    taper: Value = Range(0.4, 1.0)
    inputs: Value = Choice(*_INPUTS)
    activation: Value = Choice("relu", "gelu")
    dropout: Value = Range(0.0, 0.4)
    l2: Value = Choice(0.0, 1e-5, 1e-4)
    batch_norm: Value = Choice(False, True)
    optimizer: Value = Choice("adam", "sgd", "rmsprop")
    learning_rate: Value = Range(3e-4, 1e-2, log=True)
    lr_schedule: Value = Choice("constant", "cosine", "warmup_cosine")
    batch_size: Value = Choice(64, 128, 256)
    momentum: Value = 0.9
    augment: Value = Choice("none", "shift1", "shift2", "affine")
    label_smoothing: Value = Choice(0.0, 0.1)
    hidden: tuple[int, ...] | None = None
    min_width: int = 8
    sgd_lr_factor: float = 10.0
    sparsity: Value = Choice(0.0, 0.5, 0.75, 0.9)
    quantize: Value = Choice("float32", "float16", "dynamic", "int8")
    family: Value = DEFAULT_FAMILY
    # The CNN defaults were chosen by 5-fold cross-validation over MNIST-10k's 10,000 training images
    # (benchmarks/cnn_defaults.py; paired differences against a reference CNN at 4,034 and 72,842
    # parameters, 95% t-intervals): 5x5 kernels in the first two blocks were better at both budgets
    # (+0.40 and +0.65 points); same padding (-0.66), stride-2 downsampling (-0.77), a global-average-
    # pool head (-7.2) and a third block (-0.85) were worse at 4,034 and not better at 72,842; separable
    # convolutions could not be told apart at either, so the plain ones stay. Batch norm (+0.68 at
    # 4,034; +0.48, interval spanning zero, at 72,842) stays a searched choice of every family.
    conv_depth: Value = Choice(2, 3)
    conv_growth: Value = Range(1.0, 2.0)
    conv_kernel: Value = 5
    conv_separable: Value = False
    conv_downsample: Value = "pool"
    conv_padding: Value = "valid"
    conv_head: Value = "flatten"

    @classmethod
    def reference_grid(cls) -> SearchSpace:
        """The reference notebook's grid: learning rate x batch size on the baseline MLP.

        Learning rates {1e-4, 1e-3, 1e-2} x batch sizes {32, 64, 128}; the
        784-128-64-10 ReLU MLP with Adam, no regularisation. Use with
        ``tuner="grid"`` and ``max_epochs=10``.

        Example:
            >>> space = SearchSpace.reference_grid().resolve(109386)
            >>> [(d.name, d.values) for d in space.dimensions() if d.kind is DimensionKind.CHOICE]
            [('learning_rate', (0.0001, 0.001, 0.01)), ('batch_size', (32, 64, 128))]
        """
        return cls(
            hidden=(128, 64),
            inputs="none",
            activation="relu",
            dropout=0.0,
            l2=0.0,
            batch_norm=False,
            optimizer="adam",
            lr_schedule="constant",
            learning_rate=Choice(1e-4, 1e-3, 1e-2),
            batch_size=Choice(32, 64, 128),
            augment="none",
            label_smoothing=0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (for result files)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Choice):
                out[f.name] = {"choice": list(v.values)}
            elif isinstance(v, Range):
                out[f.name] = {"range": [v.low, v.high], "log": v.log}
            else:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    def check(self, kind: str | BudgetKind = "params") -> None:
        """Check every dimension's values (not yet against a budget or an image size).

        Runs before any data is read, so a typo in a choice fails at once.

        Example:
            >>> SearchSpace(inputs=Choice("pool", "blur")).check()
            Traceback (most recent call last):
            ...
            mnistopt.errors.ArgumentError: `inputs` must be among ['none', 'crop2', 'crop4', 'pool', 'crop2+pool', 'crop4+pool']. Received: ['blur'].
        """
        kind = get_kind(kind)
        for name, allowed in (("family", tuple(FAMILY_SPACES)), ("conv_downsample", tuple(d.value for d in Downsample)),
                              ("conv_padding", tuple(p.value for p in Padding)), ("conv_head", tuple(h.value for h in Head)),
                              ("conv_separable", (False, True))):
            bad = [v for v in as_choice(getattr(self, name), name) if v not in allowed]
            if bad:
                raise ArgumentError(f"`{name}` must be among {list(allowed)}. Received: {bad}.")
        for d in as_choice(self.conv_depth, "conv_depth"):
            check_int("conv_depth", d, minimum=1, maximum=6)
        for k in as_choice(self.conv_kernel, "conv_kernel"):
            check_int("conv_kernel", k, minimum=1, maximum=9)
        growth = (self.conv_growth.low, self.conv_growth.high) if isinstance(self.conv_growth, Range) else \
            as_choice(self.conv_growth, "conv_growth")
        if any(not isinstance(g, (int, float)) or isinstance(g, bool) or not 0.25 <= g <= 4 for g in growth):
            raise ArgumentError(f"`conv_growth` must be numbers in [0.25, 4]. Received: {self.conv_growth}.")
        unknown = [v for v in as_choice(self.inputs, "inputs") if v not in _INPUTS]
        if unknown:
            raise ArgumentError(f"`inputs` must be among {list(_INPUTS)}. Received: {unknown}.")
        if self.hidden is None:
            for d in as_choice(self.depth, "depth"):
                check_int("depth", d, minimum=1, maximum=8)
        as_choice(self.batch_norm, "batch_norm")
        for name, allowed in (("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS),
                              ("lr_schedule", LR_SCHEDULES), ("augment", AUGMENTATIONS)):
            bad = [v for v in as_choice(getattr(self, name), name) if v not in allowed]
            if bad:
                raise ArgumentError(f"`{name}` must be among {list(allowed)}. Received: {bad}.")
        kind.extra_dimensions(self)

    def resolve(
        self, budget: int, input_shape: Sequence[int] = (28, 28), num_classes: int = 10,
        kind: str | BudgetKind = "params", limits: Limits | Mapping[str, float] | None = None,
        device: bool = False,
    ) -> ResolvedSpace:
        """The space for one budget: infeasible input reductions, depths and heads removed.

        ``kind`` says what the budget counts: ``"params"`` (every parameter),
        ``"nonzero"`` (non-zero weights after pruning) or ``"bytes"`` (size of
        the exported ``.tflite`` file). ``limits`` (:class:`~mnistopt.limits.Limits`)
        are device limits every model must meet too: those known by arithmetic
        (multiply-accumulates, tensor arena) narrow each sampled model before it
        trains, and choices whose smallest model is over them are removed. A family
        none of whose models fits is dropped when another family does. With limits,
        or ``device=True`` (models meant for a microcontroller), activations whose
        int8 file TensorFlow Lite Micro cannot run (GELU, SELU) are dropped from
        the choices; the search then chooses among the others on validation.

        Raises:
            BudgetError: no model in this space fits ``budget`` and the limits; the
                message gives the smallest budget that would, or the limit.
        """
        budget = check_int("budget", budget, minimum=1, error=BudgetError)
        kind = get_kind(kind)
        limits = Limits(limits)
        if (limits or device) and (for_device := self._for_device()) is not self:
            return for_device.resolve(budget, input_shape, num_classes, kind, limits)
        extra = kind.extra_dimensions(self)
        points = [{d.name: v} for d in extra for v in d.values] or [{}]
        smallest = min(kind.param_budget(budget, p) for p in points)
        if (smallest, extra) != (budget, []):  # feasibility is judged on the least generous dense allowance
            resolved = self.resolve(smallest, input_shape, num_classes, limits=limits)
            return dataclasses.replace(resolved, budget=budget, kind=kind)
        self.check(kind)
        input_shape = tuple(input_shape)
        families, errors = {}, []
        for name in as_choice(self.family, "family"):
            try:
                families[name] = FAMILY_SPACES[name].resolve(self, budget, input_shape, num_classes, limits)
            except BudgetError as e:
                errors.append(e)
        if not families:
            raise errors[0] if len(errors) == 1 else BudgetError(" ".join(str(e) for e in errors))
        return ResolvedSpace(self, budget, input_shape, num_classes, families, limits=limits)

    def _for_device(self) -> SearchSpace:
        """This space with only the activations TensorFlow Lite Micro runs (already so: unchanged)."""
        chosen = as_choice(self.activation, "activation")
        kept = tuple(a for a in chosen if a in TFLM_ACTIVATIONS)
        if not kept:
            raise ArgumentError(f"TensorFlow Lite Micro has no kernel for the activation(s) {list(chosen)} "
                                f"({', '.join(op for a in chosen if a in ACTIVATION_OPS for op in tflm_missing_ops(a))}"
                                f"), so their int8-io files do not run on a microcontroller. Choose among "
                                f"{list(TFLM_ACTIVATIONS)}, e.g. SearchSpace(activation='relu').")
        if kept == chosen:
            return self
        return dataclasses.replace(self, activation=Choice(*kept) if len(kept) > 1 else kept[0])


@dataclasses.dataclass(frozen=True)
class MLPChoices:
    """The MLP family's part of a resolved space: the input reductions and depths that fit."""

    inputs: tuple[str, ...]
    depths: tuple[int, ...]

    #: The spec this family's sampled points become.
    spec_class: ClassVar[type] = MLPSpec
    #: Whether ``max_epochs="auto"`` and ``epoch_images="auto"`` give small budgets the longer schedule
    #: (:data:`mnistopt.options.SMALL_BUDGET_MAX_EPOCHS` epochs of :data:`~mnistopt.options.SMALL_BUDGET_EPOCH_IMAGES`).
    small_budget_schedule: ClassVar[bool] = True
    #: ``retrain_factor="auto"``: the selected MLP ships with its trial's weights (no second training).
    retrain_factor: ClassVar[int] = 1

    @classmethod
    def resolve(cls, space: SearchSpace, budget: int, input_shape: tuple[int, ...], num_classes: int,
                limits: Limits | None = None) -> MLPChoices:
        limits = Limits(limits)
        inputs = as_choice(space.inputs, "inputs")
        depths = (len(space.hidden),) if space.hidden is not None else tuple(
            check_int("depth", d, minimum=1, maximum=8) for d in as_choice(space.depth, "depth")
        )
        batch_norms = as_choice(space.batch_norm, "batch_norm")

        def features(name):
            crop, pool = _INPUTS[name]
            try:
                return _budget.input_features(input_shape, crop, pool)
            except ArgumentError:
                return None

        activations = as_choice(space.activation, "activation")

        def worst_minimum(name, depth_set):
            """The smallest model of the costliest (depth, batch-norm) combination (None: none, or one over
            the limits)."""
            n = features(name)
            if n is None:
                return None
            crop, pool = _INPUTS[name]
            shapes = [tuple(space.hidden)] if space.hidden is not None else [(1,) * d for d in depth_set]
            if limits and any(not limits.fits(MLPSpec(hidden=h, crop=crop, pool=pool, activation=a, batch_norm=bn,
                                                      input_shape=input_shape, num_classes=num_classes))
                              for h in shapes for a in activations for bn in batch_norms):
                return None
            return max(_budget.mlp_params(n, h, num_classes, bn) for h in shapes for bn in batch_norms)

        # Every combination of the sampled values must fit, so keep the largest
        # set of depths (shallowest first) for which some input reduction fits.
        ordered = sorted(depths)
        for k in range(len(ordered), 0, -1):
            depth_set = tuple(ordered[:k])
            feasible = [v for v in inputs if (m := worst_minimum(v, depth_set)) is not None and m <= budget]
            if feasible:
                break
        if not feasible:
            sizes = [m for v in inputs if (m := worst_minimum(v, ordered[:1])) is not None]
            if not sizes and limits:
                raise BudgetError(f"No MLP of this search space is within the limits ({limits.describe()}), even at "
                                  f"one unit per layer, for inputs {list(inputs)}.")
            raise BudgetError(
                f"budget={budget:,} is below the minimum of this search space: {min(sizes):,} "
                f"parameters (one hidden unit per layer, with every allowed batch-norm choice, for "
                f"inputs {list(inputs)}). Raise the budget, fix batch_norm=False, or allow more "
                f"input reduction, e.g. SearchSpace(inputs=Choice('crop4+pool'))."
            )
        if space.hidden is None:
            useful = [
                v for v in feasible
                if _budget.mlp_params(features(v), (space.min_width,), num_classes) <= budget
            ]
            feasible = useful or feasible
        return cls(tuple(feasible), depth_set)

    def dimensions(self, space: SearchSpace) -> list[Dimension]:
        dims = []
        if space.hidden is None:
            dims.append(dimension("depth", Choice(*self.depths)))
            dims.extend(dimension(f"taper_{i}", space.taper) for i in range(2, max(self.depths) + 1))
        return dims + [dimension("inputs", Choice(*self.inputs))]

    def to_spec(self, space: SearchSpace, values: Mapping[str, Any], budget: int, fields: dict[str, Any],
                limits: Limits | None = None) -> MLPSpec:
        crop, pool = _INPUTS[values["inputs"]]
        base = MLPSpec(hidden=(), crop=crop, pool=pool, **fields)
        if space.hidden is not None:
            return dataclasses.replace(base, hidden=tuple(space.hidden))  # resolve() checked it fits (params kind)
        depth = int(values["depth"])
        ratios = [1.0]
        for i in range(2, depth + 1):
            ratios.append(ratios[-1] * float(values[f"taper_{i}"]))
        fits = (lambda widths: limits.fits(dataclasses.replace(base, hidden=widths))) if limits else None
        widths = _budget.widths_for_budget(budget, base.in_features, base.num_classes, ratios, base.batch_norm, fits)
        return dataclasses.replace(base, hidden=widths)


@dataclasses.dataclass(frozen=True)
class CNNChoices:
    """The convolutional family's part of a resolved space: the block counts and heads that fit.

    A sampled CNN has ``conv_depth`` blocks, the first two of ``conv_kernel`` convolutions (later
    blocks, on maps of 11 pixels or less, use 3x3), each ``conv_growth`` times as wide as the one before, downsampled alike
    (``conv_downsample``), the blocks after the first depthwise-separable when
    ``conv_separable``; then ``conv_head``. Its channels are the widest that fit the
    budget (:func:`mnistopt.cnn.widest_cnn`).
    """

    depths: tuple[int, ...]
    heads: tuple[str, ...]

    #: The spec this family's sampled points become.
    spec_class: ClassVar[type] = CNNSpec
    #: A CNN epoch costs tens of times an MLP's, so a search with CNNs keeps the regular schedule
    #: (:data:`~mnistopt.options.DEFAULT_MAX_EPOCHS` epochs of :data:`~mnistopt.options.AUTO_EPOCH_IMAGES`)
    #: at every budget: at 4,034 parameters the small-budget schedule would cost it 8 times as much.
    small_budget_schedule: ClassVar[bool] = False
    #: ``retrain_factor="auto"``: the selected CNN is trained again from scratch for twice its trial's
    #: epochs (schedule stretched) and that model ships. Chosen by 5-fold cross-validation over
    #: MNIST-10k's 10,000 training images (``benchmarks/cnn_defaults.py``, official test set unused):
    #: twice the epochs gained +0.0032 [+0.0004, +0.0060] at 4,034 parameters and +0.0030
    #: [+0.0013, +0.0047] at 72,842 (paired differences, 95% t-intervals); three times gained
    #: +0.0057 [+0.0036, +0.0078] at 4,034 but +0.0020 [-0.0008, +0.0048] at 72,842 (cannot tell)
    #: for 1.5 times the cost, so one factor for both is 2. Training
    #: every trial twice as long would double the search; training the winner twice as long costs
    #: about two full trials per budget (a search runs dozens).
    retrain_factor: ClassVar[int] = 2

    @staticmethod
    def _shape(space: SearchSpace, depth: int, growth: float, kernel: int, separable: bool,
               downsample: str) -> dict[str, Any]:
        return dict(kernels=tuple(kernel if i < 2 else 3 for i in range(depth)),
                    ratios=tuple(growth ** i for i in range(depth)),
                    separable=(False,) + (bool(separable),) * (depth - 1), downsample=(downsample,) * depth)

    @classmethod
    def resolve(cls, space: SearchSpace, budget: int, input_shape: tuple[int, ...], num_classes: int,
                limits: Limits | None = None) -> CNNChoices:
        limits = Limits(limits)
        activations = as_choice(space.activation, "activation")
        growth = space.conv_growth.high if isinstance(space.conv_growth, Range) else max(
            as_choice(space.conv_growth, "conv_growth"))
        others = list(itertools.product(
            as_choice(space.conv_kernel, "conv_kernel"), as_choice(space.conv_separable, "conv_separable"),
            as_choice(space.conv_downsample, "conv_downsample"), as_choice(space.conv_padding, "conv_padding"),
            as_choice(space.batch_norm, "batch_norm")))

        def worst(depth: int, head: str) -> int | None:
            """Parameters of the costliest combination at one filter in the first block (None: no map, or
            over the limits)."""
            try:
                smallest = [cnn_of_width(1, **cls._shape(space, depth, growth, k, sep, down), head=head, padding=pad,
                                         batch_norm=bn, activation=a, input_shape=input_shape, num_classes=num_classes)
                            for k, sep, down, pad, bn in others for a in activations]
            except SpecError:
                return None
            if limits and not all(limits.fits(s) for s in smallest):
                return None
            return max(s.params for s in smallest)

        depths = sorted(as_choice(space.conv_depth, "conv_depth"))
        heads = as_choice(space.conv_head, "conv_head")
        fits = {(d, h): m for d in depths for h in heads if (m := worst(d, h)) is not None and m <= budget}
        kept_heads = tuple(h for h in heads if all((d, h) in fits for d in depths[:1]))
        kept_depths = tuple(d for d in depths if all((d, h) in fits for h in kept_heads))
        if not kept_heads or not kept_depths:
            known = [m for d in depths for h in heads if (m := worst(d, h)) is not None]
            least = f"{min(known):,} parameters" if known else "no feature map left for this image size"
            if not known and limits:
                least = f"none within the limits: {limits.describe()}"
            raise BudgetError(
                f"budget={budget:,} is below the smallest CNN of this search space ({least}: one filter in the "
                f"first block, every allowed choice). Raise the budget, or fix conv_head='gap' and fewer blocks."
            )
        return cls(kept_depths, kept_heads)

    def dimensions(self, space: SearchSpace) -> list[Dimension]:
        return [dimension("conv_depth", Choice(*self.depths)), dimension("conv_growth", space.conv_growth),
                dimension("conv_kernel", space.conv_kernel), dimension("conv_separable", space.conv_separable),
                dimension("conv_downsample", space.conv_downsample), dimension("conv_padding", space.conv_padding),
                dimension("conv_head", Choice(*self.heads))]

    def to_spec(self, space: SearchSpace, values: Mapping[str, Any], budget: int, fields: dict[str, Any],
                limits: Limits | None = None) -> CNNSpec:
        shape = self._shape(space, int(values["conv_depth"]), float(values["conv_growth"]),
                            int(values["conv_kernel"]), bool(values["conv_separable"]), values["conv_downsample"])
        return widest_cnn(budget, **shape, head=values["conv_head"], padding=values["conv_padding"],
                          fits=limits.fits if limits else None, **fields)


#: Each model family's part of a search space, by family name.
FAMILY_SPACES: dict[str, type] = {choices.spec_class.family: choices for choices in (MLPChoices, CNNChoices)}


@dataclasses.dataclass(frozen=True)
class ResolvedSpace:
    """A :class:`SearchSpace` bound to one budget and input shape: each family's feasible choices."""

    space: SearchSpace
    budget: int
    input_shape: tuple[int, int]
    num_classes: int
    families: Mapping[str, Any]  # family name -> its MLPChoices / CNNChoices
    kind: BudgetKind = ParamsBudget()
    limits: Limits = dataclasses.field(default_factory=Limits)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The MLP family's feasible input reductions (empty without that family)."""
        mlp = self.families.get(MLPSpec.family)
        return mlp.inputs if mlp is not None else ()

    @property
    def depths(self) -> tuple[int, ...]:
        """The MLP family's feasible depths (empty without that family)."""
        mlp = self.families.get(MLPSpec.family)
        return mlp.depths if mlp is not None else ()

    def param_budget(self, values: Mapping[str, Any]) -> int:
        """The dense parameter budget of a sampled point (see ``kind``).

        ``"nonzero"``: ``budget / (1 - sparsity)`` (pruning brings it back
        under ``budget``); ``"bytes"``: what the file format's bytes per weight
        allow after a fixed allowance for the file's own structure (the search
        checks the real file size before training, and narrows the model if
        needed).
        """
        return self.kind.param_budget(self.budget, values)

    def dimensions(self) -> list[Dimension]:
        """The hyperparameters, in a stable order, for a tuner to declare: ``family`` (when the
        space has more than one), each family's own, then the training dimensions they share."""
        s = self.space
        dims = [dimension("family", Choice(*self.families))] if len(self.families) > 1 else []
        for choices in self.families.values():
            dims.extend(choices.dimensions(s))
        for name in ("activation", "dropout", "l2", "batch_norm", "optimizer", "learning_rate",
                     "lr_schedule", "batch_size", "momentum", "augment", "label_smoothing"):
            dims.append(dimension(name, getattr(s, name)))
        return dims + self.kind.extra_dimensions(s)

    def defaults(self) -> dict[str, Any]:
        """One valid point: the first choice or the low end of each dimension."""
        out = {}
        for d in self.dimensions():
            out[d.name] = d.values[0] if d.kind is not DimensionKind.RANGE else d.low
        return out

    def to_spec(self, values: Mapping[str, Any], epochs: int = 10) -> Spec:
        """The spec for sampled ``values`` (of the family ``values["family"]`` names, or the space's
        only one); its ``params`` never exceed the budget."""
        fields = dict(
            activation=values["activation"],
            dropout=float(values["dropout"]),
            l2=float(values["l2"]),
            batch_norm=bool(values["batch_norm"]),
            optimizer=values["optimizer"],
            learning_rate=float(values["learning_rate"])
            * (self.space.sgd_lr_factor if values["optimizer"] == "sgd" else 1.0),
            lr_schedule=values["lr_schedule"],
            batch_size=int(values["batch_size"]),
            momentum=float(values["momentum"]),
            augment=values.get("augment", "none"),
            label_smoothing=float(values.get("label_smoothing", 0.0)),
            epochs=int(epochs),
            input_shape=self.input_shape,
            num_classes=self.num_classes,
        )
        family = values.get("family", next(iter(self.families)))
        budget = self.param_budget(values)
        cap = self.limits.params_cap()
        return self.families[family].to_spec(self.space, values, budget if cap is None else min(budget, cap), fields,
                                             self.limits)
