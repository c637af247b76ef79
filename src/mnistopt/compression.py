"""What compression runs by default, and the checks of its options: configuration, no machinery.

The compression stages themselves live in :mod:`mnistopt.compress`; this module holds only what
configuring them needs (defaults and validation), so the search's options
(:class:`~mnistopt.options.SearchOptions`), the command line and the stages read one set of
defaults without the options importing the machinery they configure. No TensorFlow import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._checks import check_float, check_int
from .artifacts import QUANTIZATIONS
from .errors import ArgumentError, InvalidTypeError

__all__ = ["DEFAULT_QUANTIZE", "DEFAULT_FINE_TUNE_EPOCHS", "DEFAULT_PRUNE_EPOCHS", "DEFAULT_COMPRESSION",
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
