"""What compression runs by default, and the checks of its options: configuration, no machinery.

The compression stages themselves live in :mod:`mnistopt.compress`; this module holds only what
configuring them needs (defaults and validation), so the search's options
(:class:`~mnistopt.options.SearchOptions`), the command line and the stages read one set of
defaults without the options importing the machinery they configure. No TensorFlow import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ._checks import check_float, check_int
from .artifacts import QUANTIZATIONS
from .errors import ArgumentError, InvalidTypeError

__all__ = ["CompressionOptions", "DEFAULT_QUANTIZE", "DEFAULT_FINE_TUNE_EPOCHS", "DEFAULT_PRUNE_EPOCHS", "DEFAULT_COMPRESSION",
           "check_stages", "check_compress"]

#: Fine-tuning epochs of each magnitude-pruning stage of a model mnistopt did not build (tfmot)
#: and of quantization-aware training (half as many), wherever one runs (``compress_model``,
#: ``mnistopt compress``, a search's ``compress``).
DEFAULT_FINE_TUNE_EPOCHS = 4
#: Epochs of each magnitude-pruning stage of a model mnistopt built, pruned while it fine-tunes in
#: mnistopt's own trainer (:func:`~mnistopt.compress.sparsity.prune_gradually`). Chosen by 5-fold
#: cross-validation over MNIST-10k's training images (``benchmarks/sparse_training.py``; official
#: test set unused), pruning the 93,322 MLP's shape to 90%: 12 epochs beat tfmot's 4
#: (+0.0038 [+0.0009, +0.0067]) in a third of its time per fold; 4 epochs of it lost to tfmot's
#: (-0.0095 [-0.0143, -0.0047]).
DEFAULT_PRUNE_EPOCHS = 12
#: The post-training quantization formats a compression exports unless told otherwise.
DEFAULT_QUANTIZE = ("dynamic", "float16", "int8")
#: What a search's ``compress=True`` runs on each selected model.
DEFAULT_COMPRESSION: dict[str, Any] = {"quantize": list(DEFAULT_QUANTIZE), "sparsity": [0.5, 0.9],
                                       "fine_tune_epochs": DEFAULT_FINE_TUNE_EPOCHS}


def check_stages(quantize: str | Sequence[str], sparsity: float | Sequence[float]) -> tuple[list[str], list[float]]:
    """Validated quantization modes (in order, no repeats) and sorted sparsities.

    Example:
        >>> from mnistopt.compression import check_stages
        >>> check_stages("int8", [0.9, 0.5, 0.9])
        (['int8'], [0.5, 0.9])
    """
    if isinstance(quantize, str):
        quantize = (quantize,)
    if isinstance(sparsity, (int, float)):
        sparsity = (sparsity,)
    modes: list[str] = []
    for q in quantize:
        if q not in QUANTIZATIONS or q == "float32":
            raise ArgumentError(
                f"`quantize` entries must be among {list(QUANTIZATIONS[1:])}. Received: {q!r}."
            )
        if q not in modes:
            modes.append(q)
    sparsities = sorted({check_float("sparsity", s, minimum=0.01, maximum=0.99) for s in sparsity})
    return modes, sparsities


def check_compress(compress: Any, budget_kind: Any) -> dict[str, Any] | None:
    """A search's ``compress`` argument as ``compress_model`` options, validated before any training:
    ``None`` for False or None, :data:`DEFAULT_COMPRESSION` for True, and a mapping's keys over the
    defaults. ``budget_kind`` (a :class:`~mnistopt.kinds.BudgetKind`) drops what its selected model
    already is (a non-zero search's model is pruned: no sparsity stages).

    Example:
        >>> from mnistopt.compression import check_compress
        >>> from mnistopt.kinds import get_kind
        >>> check_compress({"quantize": ["int8", "int8"]}, get_kind("params"))
        {'quantize': ['int8'], 'sparsity': [0.5, 0.9], 'fine_tune_epochs': 4}
    """
    if compress is False or compress is None:
        return None
    if compress is True:
        options = dict(DEFAULT_COMPRESSION)
    elif isinstance(compress, Mapping):
        unknown = sorted(set(compress) - set(DEFAULT_COMPRESSION))
        if unknown:
            raise ArgumentError(
                f"`compress` keys must be among {sorted(DEFAULT_COMPRESSION)}. Received unknown keys: {unknown}."
            )
        options = {**DEFAULT_COMPRESSION, **compress}
    else:
        raise InvalidTypeError(
            f"`compress` must be True, False or a dict of options such as {{'sparsity': [0.9]}}. "
            f"Received: {type(compress).__name__}."
        )
    kept = budget_kind.check_compression(options)  # a kind whose model is already compressed says so
    modes, sparsities = check_stages(options["quantize"], options["sparsity"])  # everything given is checked
    sparsities = sparsities if kept["sparsity"] else []
    epochs = check_int("fine_tune_epochs", options["fine_tune_epochs"], minimum=1, maximum=1000)
    return {"quantize": modes, "sparsity": sparsities, "fine_tune_epochs": epochs}


@dataclasses.dataclass(frozen=True)
class CompressionOptions:
    """Every option of :func:`~mnistopt.compress_model`: which stages run and how they train,
    checked and normalised on creation (``quantize`` in order without repeats, ``sparsity``
    ascending, ``units`` descending).

    Example:
        >>> from mnistopt.compression import CompressionOptions
        >>> options = CompressionOptions(quantize="int8", sparsity=[0.9, 0.5], units=[2000, 3000])
        >>> options.quantize, options.sparsity, options.units, options.replace(qat=True).qat
        (('int8',), (0.5, 0.9), (3000, 2000), True)
        >>> CompressionOptions(prune_epochs=0)
        Traceback (most recent call last):
        ...
        mnistopt.errors.ArgumentError: `prune_epochs` must be an integer in [1, 1000]. Received: prune_epochs=0. Pass a value in that range.
    """

    #: Post-training modes applied to the input model and to each pruned model (any of
    #: ``"dynamic"``, ``"float16"``, ``"int8"``, ``"int8-io"``).
    quantize: Sequence[str] = DEFAULT_QUANTIZE
    #: Kernel sparsities for magnitude pruning, each in ``(0, 1)``.
    sparsity: Sequence[float] = ()
    #: Parameter budgets for structured unit pruning.
    units: Sequence[int] = ()
    #: Also run quantization-aware training to int8.
    qat: bool = False
    #: Epochs of fine-tuning for each magnitude-pruning stage of a model mnistopt did not build
    #: (tfmot), and for QAT (half as many, at least one).
    fine_tune_epochs: int = DEFAULT_FINE_TUNE_EPOCHS
    #: Epochs of each magnitude-pruning stage of a model mnistopt built (pruned while it fine-tunes
    #: in mnistopt's trainer).
    prune_epochs: int = DEFAULT_PRUNE_EPOCHS
    #: Epochs of fine-tuning for each structured-pruning stage.
    units_epochs: int = 10
    #: Seeds fine-tuning.
    seed: int = 0
    #: What the model expects a white pixel to be: 1.0 (images in ``[0, 1]``) or 255.0.
    pixel_scale: float = 1.0
    #: Fine-tuning batch size (``None``: the spec's; 32 for a model without one).
    batch_size: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        modes, sparsities = check_stages(self.quantize, self.sparsity)
        set_(self, "quantize", tuple(modes))
        set_(self, "sparsity", tuple(sparsities))
        units = (self.units,) if isinstance(self.units, int) else self.units
        set_(self, "units", tuple(sorted({check_int("units", b, minimum=1) for b in units}, reverse=True)))
        for name in ("fine_tune_epochs", "prune_epochs", "units_epochs"):
            set_(self, name, check_int(name, getattr(self, name), minimum=1, maximum=1000))
        if not isinstance(self.qat, bool):
            raise InvalidTypeError(f"`qat` must be True or False. Received: qat={self.qat!r}.")
        set_(self, "seed", check_int("seed", self.seed, minimum=0))
        set_(self, "pixel_scale", check_float("pixel_scale", self.pixel_scale, minimum=0.0, min_inclusive=False))
        if self.batch_size is not None:
            set_(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))

    def replace(self, **changes: Any) -> CompressionOptions:
        """These options with ``changes`` (option names and values) made, checked again.

        Raises:
            ArgumentError: a name in ``changes`` is not an option (the error lists them), or a value is bad.
        """
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise ArgumentError(f"Unknown compression option(s) {unknown}. Expected among {names}.")
        return dataclasses.replace(self, **changes)
