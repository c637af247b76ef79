"""What a search's budget counts: one class per kind behind one small protocol.

A :class:`BudgetKind` says, for its kind of budget, how many dense parameters
a sampled point may have, which extra dimensions the search samples, how a
trial's spec is prepared before training, how a trained model becomes the
candidate that is judged (and saved), and how the selected candidate is loaded
back. The search, the tuner and the space ask the kind; none of them branches
on its name. A new kind (MACs, latency...) is one subclass registered in
:data:`BUDGET_KINDS`.

* :class:`ParamsBudget` (``"params"``): every parameter of a dense model.
* :class:`NonzeroBudget` (``"nonzero"``): non-zero weights; each trial samples a
  sparsity and trains a model about ``budget / (1 - sparsity)`` parameters large,
  magnitude-pruning it gradually to the budget as it trains.
* :class:`BytesBudget` (``"bytes"``): bytes of the exported ``.tflite`` file;
  each trial samples a format and is narrowed until its file fits.

Importing this module is light (no TensorFlow): the heavy work is imported
inside the methods that do it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ._checks import check_choice
from .artifacts import BYTES_PER_WEIGHT, QUANTIZATIONS, Stage, export_tflite, file_costs, tflite_predict
from .dimensions import Dimension, DimensionKind, dimension
from .errors import ArgumentError, InvalidTypeError, BudgetError

__all__ = ["BudgetKind", "ParamsBudget", "NonzeroBudget", "BytesBudget", "BUDGET_KINDS", "get_kind",
           "fit_file_budget"]

_TFLITE_OVERHEAD = 2048  # a first guess at a small file's structure; checked on the real file
_MAX_SPARSITY = 0.98


class BudgetKind:
    """The protocol (and the ``params`` behaviour every method defaults to).

    Example:
        >>> kind = get_kind("nonzero")
        >>> kind.name, kind.param_budget(4034, {"sparsity": 0.75}), kind.directory_name(4034)
        ('nonzero', 16136, 'nonzero-4034')
    """

    name: ClassVar[str] = ""
    #: The trial's candidate file beside its checkpoint, for kinds whose candidate is not the dense model.
    candidate_file: ClassVar[str | None] = None
    #: Budgets up to this size get the longer top rung under ``max_epochs="auto"``
    #: (:meth:`mnistopt.options.SearchOptions.epochs_for`); ``None``: no budget does.
    small_budget: ClassVar[int | None] = None
    #: ``retrain_factor="auto"``: the selected model is trained again for at least this many times its
    #: trial's epochs (the family's own factor when larger; :meth:`~mnistopt.options.SearchOptions.retrain_factor_for`).
    retrain_factor: ClassVar[int] = 1

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(self.name)

    def param_budget(self, budget: int, values: Mapping[str, Any]) -> int:
        """The dense parameter allowance of a sampled point."""
        return budget

    def extra_dimensions(self, space: Any) -> list[Dimension]:
        """Dimensions this kind adds to ``space`` (a :class:`~mnistopt.SearchSpace`)."""
        return []

    def directory_name(self, budget: int) -> str:
        """The folder of one budget's search state (its KerasTuner project)."""
        return f"{self.name}-{budget}"

    def compress_name(self, budget: int) -> str:
        """The folder of one budget's compression stages, under ``compress/``."""
        return f"{self.name}-{budget}"

    def prepare(self, spec: Any, values: Mapping[str, Any], budget: int, dataset: Any, parent_spec: Any = None) -> Any:
        """The spec a trial trains, before any training (``parent_spec``: a continued trial's)."""
        return spec

    def pruning(self, spec: Any, values: Mapping[str, Any], budget: int, *, epochs: int,
                initial_epoch: int = 0) -> Any:
        """How a trial's model is pruned while it trains from ``initial_epoch`` to ``epochs`` (a
        :class:`~mnistopt.training.GradualPruning`), or ``None``: it trains dense."""
        return None

    def finish(self, model: Any, spec: Any, values: Mapping[str, Any], budget: int, dataset: Any,
               path: str | os.PathLike, *, seed: int, prune_epochs: int) -> tuple[Any, dict[str, Any]] | None:
        """Turn a trained dense model into the candidate judged for this kind, written at ``path``.

        Returns ``(model, fields)`` (fields of its record, ``val_accuracy`` and
        ``val_loss`` included, measured on the candidate itself), or ``None``
        when the dense model is the candidate.
        """
        return None

    def load_candidate(self, spec: Any, checkpoint: str | os.PathLike, candidate: str | os.PathLike) -> Any:
        """The selected trial's model, from its dense ``checkpoint`` or its ``candidate`` file."""
        from .build import build_model, load_checkpoint

        return load_checkpoint(build_model(spec), checkpoint)

    def refit_values(self, record: Any) -> dict[str, Any]:
        """The sampled values :meth:`finish` needs, recovered from the selected trial's record."""
        return {}

    def file_candidate(self, candidate: str | os.PathLike) -> Path | None:
        """The candidate's file when the file itself is the model (``bytes``), else ``None``."""
        return None

    def check_compression(self, options: dict[str, Any]) -> dict[str, Any]:
        """Compression options after a search of this kind (``sparsity`` dropped where already pruned)."""
        return options

    #: Whether a search of this kind selects a Keras model that compression stages can export (a
    #: ``bytes`` search selects a file: under device limits its trials' files were run on TFLM already).
    selects_model: ClassVar[bool] = True


class ParamsBudget(BudgetKind):
    """Every parameter of a dense model (``count_params()``)."""

    name = "params"
    #: Chosen on the development split (``benchmarks/defaults.py``, MNIST-10k training files): at 4,034
    #: parameters 60 epochs instead of 30 raised the selected model's development accuracy by 1.2 points
    #: on two splits (seeds 0 and 1); at 72,842 it changed nothing for twice the time.
    small_budget = 10_000

    def directory_name(self, budget: int) -> str:
        return f"budget-{budget}"

    def compress_name(self, budget: int) -> str:
        return str(budget)


class NonzeroBudget(BudgetKind):
    """Non-zero weights after magnitude pruning (tfmot)."""

    name = "nonzero"
    candidate_file = "final.weights.h5"
    #: Up to 10,000 non-zero weights a trial gets the longer schedule (60 epochs; of 36,000 images on a
    #: larger train split), as parameter budgets do. Chosen by 5-fold cross-validation over MNIST-10k's
    #: training images (``benchmarks/sparse_training.py``; official test set unused), pruning while
    #: training to 4,034 non-zero weights: 30 epochs instead of 60 lost -0.0050 [-0.0073, -0.0027] for
    #: a 95%-sparse MLP, -0.0037 [-0.0072, -0.0002] for a 50%-sparse one, -0.0019 [-0.0045, +0.0007]
    #: for a 91%-sparse one (and a CNN lost -0.0019 [-0.0034, -0.0004] at 15 epochs instead of 30).
    #: (When trials pruned after dense training, 60 epochs changed nothing at 4,034.)
    small_budget = 10_000
    #: The selected model, of any family, is trained again from scratch (pruned alike) for twice its
    #: trial's epochs and that model ships. Chosen by 5-fold cross-validation of whole searches over
    #: MNIST-10k's training files (``benchmarks/nonzero_search.py``, each fold searched with seeds 0 and
    #: 1; official test set unused): +0.0046 [+0.0024, +0.0069] held-out accuracy at 4,034 non-zero weights
    #: (10 paired searches; the same selections, 0.9639 -> 0.9686), for about 10 s more per search. No change
    #: to the search itself could be told apart there: no dropout +0.0048 [-0.0008, +0.0104], Hyperband
    #: factor 3 +0.0019 [-0.0028, +0.0066] at twice the time, sparsity up to 0.95 -0.0000, Adam with cosine
    #: only -0.0007.
    retrain_factor = 2

    def param_budget(self, budget: int, values: Mapping[str, Any]) -> int:
        return int(budget / (1.0 - float(values.get("sparsity", 0.0))))

    def extra_dimensions(self, space: Any) -> list[Dimension]:
        dim = dimension("sparsity", space.sparsity)
        bad = [v for v in dim.values if not isinstance(v, (int, float)) or not 0.0 <= v <= _MAX_SPARSITY]
        if bad or dim.kind is DimensionKind.RANGE:
            raise ArgumentError(f"`sparsity` choices must be numbers in [0, {_MAX_SPARSITY}]. "
                                f"Received: {space.sparsity}.")
        return [dim]

    #: Gradual pruning inside each trial (:class:`~mnistopt.training.GradualPruning`): sparsity starts
    #: growing after ``prune_begin`` epochs and reaches its target after ``prune_end`` of the epochs the
    #: trial trains (its Hyperband rung), so every candidate a rung judges was pruned gradually and
    #: meets the budget; the sparse model then trains on. A continued trial's parent reached its
    #: target, so the continuation trains at it (its zeros stay zero).
    prune_begin: ClassVar[int] = 1
    prune_end: ClassVar[float] = 2 / 3

    def pruning(self, spec, values, budget, *, epochs, initial_epoch=0):
        from .compress.sparsity import kernel_sparsity_for, kernel_targets
        from .training import GradualPruning

        if spec.params <= budget:
            return None
        targets = kernel_targets(spec, kernel_sparsity_for(spec, budget))
        if initial_epoch > 0:  # a continuation: at the target from its first epoch
            return GradualPruning(targets, begin=0, end=0)
        end = max(1, round(epochs * self.prune_end))
        return GradualPruning(targets, begin=min(self.prune_begin, end), end=end)

    def finish(self, model, spec, values, budget, dataset, path, *, seed, prune_epochs):
        """The model pruned to the budget: already, when its trial ran its schedule to the end (every
        trial of a rung does); at once, without fine-tuning, when training stopped early on
        patience; then the few weights per-layer rounding leaves over the budget are zeroed."""
        from ._io import atomic_write_with
        from .compress.sparsity import count_nonzero, enforce_nonzero, kernel_sparsity_for
        from .training import evaluate_arrays

        pruning = self.pruning(spec, values, budget, epochs=spec.epochs)
        if pruning is not None:
            pruning.apply(model, pruning.end)  # the target (already met when the schedule ran its course)
            enforce_nonzero(model, budget)
            stage = Stage.trained(sparsity=round(kernel_sparsity_for(spec, budget), 3))
        else:
            stage = Stage.trained()
        atomic_write_with(path, lambda tmp: model.save_weights(tmp), ".weights.h5")
        val_loss, val_accuracy = evaluate_arrays(model, dataset.x_val, dataset.y_val)
        return model, dict(stage=stage.label, nonzero_params=count_nonzero(model), val_accuracy=val_accuracy,
                           val_loss=val_loss)

    def load_candidate(self, spec, checkpoint, candidate):
        from .build import build_model

        model = build_model(spec)
        model.load_weights(candidate)
        return model

    def check_compression(self, options):
        return {**options, "sparsity": []}  # the selected model is already pruned to its budget


class BytesBudget(BudgetKind):
    """Bytes of the exported ``.tflite`` file, in the format each trial samples."""

    name = "bytes"
    candidate_file = "final.tflite"

    def param_budget(self, budget: int, values: Mapping[str, Any]) -> int:
        per_weight = BYTES_PER_WEIGHT[values.get("quantize", "float32")]
        return max(1, int((budget - _TFLITE_OVERHEAD) / per_weight))

    def extra_dimensions(self, space: Any) -> list[Dimension]:
        dim = dimension("quantize", space.quantize)
        bad = [v for v in dim.values if v not in QUANTIZATIONS]
        if bad or dim.kind is DimensionKind.RANGE:
            raise ArgumentError(f"`quantize` choices must be among {list(QUANTIZATIONS)}. Received: {bad}.")
        return [dim]

    def prepare(self, spec, values, budget, dataset, parent_spec=None):
        if parent_spec is not None:  # a continuation: its parent's file fitted
            return dataclasses.replace(parent_spec, epochs=spec.epochs)
        return fit_file_budget(spec, values["quantize"], budget, dataset)

    def finish(self, model, spec, values, budget, dataset, path, *, seed, prune_epochs):
        from .compress.sparsity import count_nonzero
        from .training import loss_and_accuracy

        quantize = values["quantize"]
        export_tflite(model, path, quantize, representative=dataset.x_train)
        val_loss, val_accuracy = loss_and_accuracy(tflite_predict(path, dataset.x_val), dataset.y_val)
        size = os.path.getsize(path)
        if size > budget:  # never a candidate over its budget
            raise BudgetError(f"The trained {quantize} file of {spec.architecture} has {size:,} bytes, over "
                              f"budget={budget:,} (its untrained probe fitted).")
        return model, dict(stage=Stage.file(quantize).label, nonzero_params=count_nonzero(model),
                           **dataclasses.asdict(file_costs(path)), artifact=str(path), val_accuracy=val_accuracy,
                           val_loss=val_loss)

    def refit_values(self, record):
        return {"quantize": record.typed_stage.quantize or "float32"}

    def file_candidate(self, candidate):
        return Path(candidate)

    selects_model: ClassVar[bool] = False

    def check_compression(self, options):
        raise ArgumentError(
            "`compress` applies to 'params' and 'nonzero' budgets: a 'bytes' search already selects a "
            "compressed .tflite file. Run compress_model on a params search's model instead."
        )


#: The registered kinds, by name (the CLI's ``--budget-kind`` choices).
BUDGET_KINDS: dict[str, BudgetKind] = {k.name: k for k in (ParamsBudget(), NonzeroBudget(), BytesBudget())}


def get_kind(kind: str | BudgetKind) -> BudgetKind:
    """The :class:`BudgetKind` named ``kind`` (case-insensitive), or ``kind`` itself.

    Example:
        >>> get_kind("Bytes").candidate_file
        'final.tflite'
    """
    if isinstance(kind, BudgetKind):
        return kind
    if not isinstance(kind, str):
        raise InvalidTypeError(f"`budget_kind` must be one of {list(BUDGET_KINDS)} or a BudgetKind. "
                                f"Received: budget_kind={kind!r}.")
    return BUDGET_KINDS[check_choice("budget_kind", kind, tuple(BUDGET_KINDS))]


def fit_file_budget(spec: Any, quantize: str, budget: int, dataset: Any) -> Any:
    """The widest version of ``spec`` (same depth and ratios) whose ``quantize`` file fits ``budget`` bytes.

    A file's size depends on the architecture and the format, not on the
    weights' values (as long as they are distinct and valid), so an untrained
    model with such values is exported and measured, then narrowed (or
    widened) in proportion to the miss, then bisected: at most ten probes.
    """
    import tempfile

    import numpy as np

    from .build import build_model

    rng = np.random.default_rng(0)
    sizes: dict[str, int] = {}
    best = None

    def with_params(target: int):
        return spec.resized(max(target, 1))

    low = high = None  # parameter counts known to fit / to miss
    with tempfile.TemporaryDirectory() as tmp:
        candidate = spec
        for _ in range(10):
            if candidate.architecture in sizes:
                break
            probe = build_model(candidate, compile=False)
            # Distinct positive values everywhere: the converter shares identical buffers (such as
            # all-zero initial biases) and folds batch norm differently when a variance is negative
            # (NaN), either of which makes an untrained file smaller than the trained one.
            probe.set_weights([rng.uniform(0.1, 1.0, w.shape).astype(w.dtype) for w in probe.get_weights()])
            size = os.path.getsize(export_tflite(probe, os.path.join(tmp, "m.tflite"), quantize,
                                                 representative=dataset.x_train[:8]))
            sizes[candidate.architecture] = size
            params = candidate.params
            if size <= budget:
                if best is None or params > best.params:
                    best = candidate
                low = params if low is None else max(low, params)
                if size >= 0.98 * budget:
                    break
            else:
                high = params if high is None else min(high, params)
            # Bisect once bracketed; before that, step in proportion to the miss (sizes grow
            # about in proportion to parameters, not exactly: small tensors stay float32 under
            # dynamic quantization, and every tensor has a header).
            if low is not None and high is not None:
                if high - low <= max(2, 0.01 * low):
                    break
                target = (low + high) // 2
            elif high is not None:
                target = int(params * min(0.9, (budget / size) ** 1.5))
            else:
                target = int(params * min(1.5, budget / size))
            try:
                candidate = with_params(target)
            except BudgetError:
                break
    if best is None:
        raise BudgetError(f"No {quantize} file of {spec.architecture} or a narrower model of its shape fits "
                          f"budget={budget:,} bytes (the smallest tried had {min(sizes.values()):,} bytes).")
    return best
