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
from collections.abc import Mapping, Sequence
from typing import Any

from ._checks import check_int
from .dimensions import Choice, Dimension, DimensionKind, Range, Value, as_choice, dimension
from .errors import ArgumentError, BudgetError
from .kinds import BudgetKind, ParamsBudget, get_kind
from .footprint import ACTIVATION_OPS, TFLM_ACTIVATIONS, tflm_missing_ops
from .limits import Limits
from .families import DEFAULT_FAMILY, FAMILIES, INPUTS, FamilyChoices, Spec
from .spec import ACTIVATIONS, AUGMENTATIONS, LR_SCHEDULES, OPTIMIZERS

__all__ = ["Choice", "Range", "SearchSpace", "ResolvedSpace", "Dimension"]


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
            and inference cost. A family of your own (:class:`~mnistopt.families.ModelFamily`) is
            named here once registered (:func:`~mnistopt.families.register_family`); its own choices
            are the family's. The ``conv_*`` fields describe the CNNs (see
            :class:`~mnistopt.families.CNNChoices`):
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
    inputs: Value = Choice(*INPUTS)
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
        bad = [v for v in as_choice(self.family, "family") if v not in FAMILIES]
        if bad:
            raise ArgumentError(f"`family` must be among {list(FAMILIES)} (a family of your own is added with "
                                f"mnistopt.families.register_family). Received: {bad}.")
        for family in FAMILIES.values():  # each family checks its own choices: the built-in ones' fields always
            if family.built_in or family.name in as_choice(self.family, "family"):
                family.check(self)
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
                families[name] = FAMILIES[name].resolve(self, budget, input_shape, num_classes, limits)
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
class ResolvedSpace:
    """A :class:`SearchSpace` bound to one budget and input shape: each family's feasible choices."""

    space: SearchSpace
    budget: int
    input_shape: tuple[int, int]
    num_classes: int
    families: Mapping[str, FamilyChoices]  # family name -> its resolved choices
    kind: BudgetKind = ParamsBudget()
    limits: Limits = dataclasses.field(default_factory=Limits)

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
