"""Magnitude pruning with tensorflow-model-optimization (unstructured sparsity).

The Keras 3 model is copied into tf_keras, wrapped with
``prune_low_magnitude`` (a ``PolynomialDecay`` schedule from 0 to the target
sparsity), fine-tuned with ``UpdatePruningStep``, stripped with
``strip_pruning`` and copied back into a Keras 3 model. Zeros do not shrink
``count_params()`` or a ``.tflite`` file; they show up in
:func:`count_nonzero` and in the gzipped size of the exported file.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .._checks import check_float, check_int
from ..data import Dataset
from ..errors import ArgumentError, BudgetError
from ..families import Spec

__all__ = ["count_nonzero", "enforce_nonzero", "kernel_sparsity_for", "kernel_targets", "prune_magnitude", "prune_gradually", "prune_any_model", "PruningOutcome"]


def count_nonzero(model: Any) -> int:
    """Non-zero entries over all of ``model``'s weights (kernels, biases, normalisation)."""
    return int(sum(np.count_nonzero(w) for w in model.get_weights()))


def _kernel_shapes(spec: Spec) -> list[tuple[int, int]]:
    return list(spec.prunable_kernels().values())


def layer_densities(spec: Spec, kept: int) -> list[float]:
    """Per-layer kernel densities keeping ``kept`` kernel weights in all, Erdos-Renyi style.

    A layer keeps weights in proportion to ``fan_in + fan_out`` (Mocanu et al.
    2018; Evci et al. 2020), so the small output layer stays (nearly) dense
    while the wide first layer, which holds most weights and sees many
    uninformative border pixels, is pruned hardest. Uniform per-layer sparsity
    instead cuts a 10-way output layer to a handful of weights: at 4,034
    non-zero weights it cost 784-50-10 eleven points of accuracy.
    """
    return erdos_renyi_densities(_kernel_shapes(spec), kept)


def erdos_renyi_densities(shapes: list[tuple[int, int]], kept: int) -> list[float]:
    """Densities of kernels of ``(fan_in, fan_out)`` shapes keeping ``kept`` weights in all, each in
    proportion to ``fan_in + fan_out`` (layers that would keep more than they have stay dense)."""
    sizes = [a * b for a, b in shapes]
    kept = min(max(kept, 0), sum(sizes))
    dense: set[int] = set()
    while True:
        room = kept - sum(sizes[i] for i in dense)
        free = [i for i in range(len(shapes)) if i not in dense]
        scale = room / sum(a + b for i, (a, b) in enumerate(shapes) if i in free) if free else 0.0
        over = [i for i in free if scale * (shapes[i][0] + shapes[i][1]) >= sizes[i]]
        if not over:
            break
        dense.update(over)
    return [1.0 if i in dense else scale * (a + b) / (a * b) for i, (a, b) in enumerate(shapes)]


def kernel_sparsity_for(spec: Spec, nonzero_budget: int) -> float:
    """The overall kernel sparsity that leaves at most ``nonzero_budget`` non-zero weights.

    Only ``Dense`` kernels are pruned; biases and batch-norm vectors are kept
    and counted. Raises :class:`~mnistopt.errors.BudgetError` when even an empty
    kernel set would not fit.
    """
    nonzero_budget = check_int("nonzero_budget", nonzero_budget, minimum=1, error=BudgetError)
    sizes = [a * b for a, b in _kernel_shapes(spec)]
    kept_vectors = spec.params - sum(sizes)
    room = nonzero_budget - kept_vectors
    if room < 10 * len(sizes):  # a few weights per layer at least
        raise BudgetError(
            f"{spec.architecture} has {kept_vectors:,} bias and normalisation weights, so no pruning of its "
            f"kernels fits nonzero_budget={nonzero_budget:,}. Use a narrower model."
        )
    return max(0.0, 1.0 - room / sum(sizes))


def kernel_targets(spec: Spec, sparsity: float) -> dict[str, float]:
    """Each prunable kernel's sparsity (by layer name) when the kernels together are ``sparsity``
    sparse, shared out by :func:`layer_densities`.

    Example:
        >>> from mnistopt import MLPSpec
        >>> {k: round(v, 3) for k, v in kernel_targets(MLPSpec(hidden=(64,), pool=True), 0.9).items()}
        {'dense_1': 0.918, 'output': 0.544}
    """
    sizes = [a * b for a, b in _kernel_shapes(spec)]
    densities = layer_densities(spec, round(sum(sizes) * (1.0 - sparsity)))
    return {name: 1.0 - d for name, d in zip(spec.prunable_kernels(), densities)}


def _checked(spec: Spec, sparsity: float | None, nonzero_budget: int | None, epochs: int,
             ramp: float) -> tuple[float, int, float]:
    """A pruning call's ``sparsity`` (from ``nonzero_budget`` when given instead), ``epochs`` and ``ramp``, checked."""
    if (sparsity is None) == (nonzero_budget is None):
        raise ArgumentError("Pass exactly one of `sparsity` and `nonzero_budget`.")
    if nonzero_budget is not None:
        sparsity = kernel_sparsity_for(spec, nonzero_budget)
    return (check_float("sparsity", sparsity, minimum=0.0, maximum=0.999),
            check_int("epochs", epochs, minimum=1, maximum=1000), check_float("ramp", ramp, minimum=0.0, maximum=1.0))


@dataclasses.dataclass(frozen=True, eq=False)
class PruningOutcome:
    """A pruned Keras 3 model and what pruning did."""

    model: Any
    sparsity: float  # the kernels' target sparsity
    nonzero_params: int
    history: dict[str, list[float]]


def prune_magnitude(
    model: Any,
    spec: Spec,
    dataset: Dataset,
    sparsity: float | None = None,
    *,
    nonzero_budget: int | None = None,
    epochs: int = 4,
    ramp: float = 0.5,
    learning_rate: float | None = None,
    seed: int = 0,
) -> PruningOutcome:
    """Prune ``model``'s kernels to ``sparsity`` by magnitude, fine-tuning as it goes.

    Sparsity grows along tfmot's ``PolynomialDecay`` (cubic) from 0 to the
    target over the first ``ramp`` fraction of the ``epochs`` fine-tuning
    epochs; the rest fine-tune at the final sparsity. The input model is not
    changed.

    Args:
        model: a trained Keras 3 model built from ``spec``.
        spec: its description (for the tf_keras copy and the training settings).
        dataset: fine-tunes on its train split; reports its validation split.
        sparsity: fraction of each kernel to zero, in ``(0, 1)``.
        nonzero_budget: instead of ``sparsity``: prune so that at most this many
            weights (counting biases and batch-norm vectors) are non-zero. The
            budget holds exactly: after tfmot's per-layer rounding, any excess
            is removed by zeroing the smallest remaining kernel weights.
        epochs: fine-tuning epochs.
        ramp: fraction of the fine-tuning over which sparsity ramps up.
        learning_rate: fine-tuning rate (default: the spec's).
        seed: seeds the shuffling and the tf_keras copy.

    Returns:
        A :class:`PruningOutcome` with a compiled Keras 3 model.

    Example:
        >>> from mnistopt import load_dataset
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> from mnistopt import MLPSpec, train
        >>> from mnistopt.compress import prune_magnitude
        >>> from mnistopt.compress import count_nonzero
        >>> spec = MLPSpec(hidden=(32,), pool=True, epochs=1)
        >>> dense = train(spec, ds, evaluate_test=False).model
        >>> outcome = prune_magnitude(dense, spec, ds, sparsity=0.75, epochs=1)
        >>> outcome.nonzero_params == count_nonzero(outcome.model) < count_nonzero(dense) / 2
        True
        >>> pruned = prune_magnitude(dense, spec, ds, nonzero_budget=2000, epochs=1)
        >>> count_nonzero(pruned.model) <= 2000
        True
    """
    sparsity, epochs, ramp = _checked(spec, sparsity, nonzero_budget, epochs, ramp)
    from ._legacy import fit_legacy, load_tfmot, loss_for, to_keras3, to_tf_keras
    from ..build import make_optimizer

    tfmot, tf_keras = load_tfmot()
    tf_keras.utils.set_random_seed(seed)
    legacy = to_tf_keras(model, spec)
    steps_per_epoch = math.ceil(len(dataset.y_train) / spec.batch_size)
    end_step = max(1, round(steps_per_epoch * epochs * ramp))
    targets = kernel_targets(spec, sparsity)

    pruned = _wrapped_for_pruning(tfmot, tf_keras, legacy, targets, end_step)
    rate = learning_rate if learning_rate is not None else spec.learning_rate
    tuned_spec = dataclasses.replace(spec, learning_rate=rate)
    pruned.compile(optimizer=make_optimizer(tuned_spec, tf_keras), loss=loss_for(spec), metrics=["accuracy"])
    fit = fit_legacy(pruned, spec, dataset, epochs=epochs, seed=seed,
                     callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    result = to_keras3(stripped, spec)
    if nonzero_budget is not None:
        enforce_nonzero(result, nonzero_budget)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return PruningOutcome(result, sparsity, count_nonzero(result), history)


def prune_gradually(
    model: Any,
    spec: Spec,
    dataset: Dataset,
    sparsity: float | None = None,
    *,
    nonzero_budget: int | None = None,
    epochs: int = 4,
    ramp: float = 2 / 3,
    learning_rate: float | None = None,
    seed: int = 0,
) -> PruningOutcome:
    """Prune a trained model mnistopt built to ``sparsity`` by magnitude while fine-tuning it in
    mnistopt's own trainer (:class:`~mnistopt.training.GradualPruning`): the method a non-zero
    search trial uses, from trained weights. Sparsity grows along the cubic schedule over the first
    ``ramp`` of ``epochs`` epochs, the per-layer densities as :func:`prune_magnitude`'s; the spec's
    augmentation, label smoothing, batch size and learning-rate schedule (over ``epochs``) apply.
    Unlike :func:`prune_magnitude` nothing is converted to tf_keras. The input model is not changed.

    Example:
        >>> from mnistopt import load_dataset, MLPSpec, train
        >>> ds = load_dataset("mnist-sample").subset(train=300, val=60, test=100)  # real digits, shipped
        >>> spec = MLPSpec(hidden=(32,), pool=True, epochs=1)
        >>> dense = train(spec, ds, evaluate_test=False).model
        >>> pruned = prune_gradually(dense, spec, ds, nonzero_budget=2000, epochs=2)
        >>> pruned.nonzero_params == count_nonzero(pruned.model) <= 2000 < count_nonzero(dense)
        True
    """
    sparsity, epochs, ramp = _checked(spec, sparsity, nonzero_budget, epochs, ramp)
    import keras

    from ..build import build_model
    from ..training import GradualPruning, fit_model

    tuned = dataclasses.replace(spec, epochs=epochs,
                                learning_rate=learning_rate if learning_rate is not None else spec.learning_rate)
    keras.utils.set_random_seed(seed)
    copy = build_model(tuned)
    copy.set_weights(model.get_weights())
    end = max(1, round(epochs * ramp))
    pruning = GradualPruning(kernel_targets(spec, sparsity), begin=0, end=end)
    outcome = fit_model(copy, tuned, dataset, epochs=epochs, seed=seed, pruning=pruning)
    pruning.apply(copy, end)
    if nonzero_budget is not None:
        enforce_nonzero(copy, nonzero_budget)
    return PruningOutcome(copy, sparsity, count_nonzero(copy), outcome.history)


def prune_any_model(model: Any, info: Any, dataset: Dataset, sparsity: float, *, epochs: int = 4,
                    learning_rate: float | None = None, batch_size: int = 32, ramp: float = 0.5,
                    seed: int = 0) -> PruningOutcome:
    """Magnitude pruning of a model mnistopt did not build, rebuilt in tf_keras from its own layers.

    Prunes the kernels of its ``Dense`` and ``Conv2D`` layers to ``sparsity`` overall, shared out
    Erdos-Renyi style (in proportion to ``fan_in + fan_out``, ``fan_in`` counting a convolution's
    kernel window), along tfmot's ``PolynomialDecay`` over the first ``ramp`` of ``epochs``
    fine-tuning epochs (Adam, the model's own compiled learning rate or 1e-3, ``batch_size``,
    cross-entropy on its softmax or logits). ``dataset``'s images must already be in the model's
    input layout (:meth:`~mnistopt.models.ModelInfo.images`). The input model is not changed.
    """
    sparsity = check_float("sparsity", sparsity, minimum=0.0, maximum=0.999)
    epochs = check_int("epochs", epochs, minimum=1, maximum=1000)
    from ._legacy import back_to_keras3, fit_plain, load_tfmot, rebuild_tf_keras

    tfmot, tf_keras = load_tfmot()
    tf_keras.utils.set_random_seed(seed)
    legacy = rebuild_tf_keras(model, info)
    prunable = [layer for layer in legacy.layers if type(layer).__name__ in ("Dense", "Conv2D")]
    shapes = [(int(np.prod(layer.kernel.shape[:-1])), int(layer.kernel.shape[-1])) for layer in prunable]
    densities = erdos_renyi_densities(shapes, round(sum(a * b for a, b in shapes) * (1.0 - sparsity)))
    targets = {layer.name: 1.0 - d for layer, d in zip(prunable, densities)}
    end_step = max(1, round(math.ceil(len(dataset.y_train) / batch_size) * epochs * ramp))

    pruned = _wrapped_for_pruning(tfmot, tf_keras, legacy, targets, end_step)
    pruned.compile(optimizer=tf_keras.optimizers.Adam(learning_rate or own_learning_rate(model)),
                   loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=info.logits), metrics=["accuracy"])
    fit = fit_plain(pruned, dataset, epochs=epochs, batch_size=batch_size,
                    callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    result = back_to_keras3(tfmot.sparsity.keras.strip_pruning(pruned), model)
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    return PruningOutcome(result, sparsity, count_nonzero(result), history)


def _wrapped_for_pruning(tfmot: Any, tf_keras: Any, legacy: Any, targets: dict[str, float], end_step: int) -> Any:
    """A copy of the tf_keras model whose layers named in ``targets`` are wrapped with
    ``prune_low_magnitude``, their sparsity growing along ``PolynomialDecay`` from 0 to their target
    by ``end_step``; layers with no positive target stay as they are."""

    def wrap(layer):
        target = targets.get(layer.name, 0.0)
        if target <= 0.0:
            return layer
        schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target, begin_step=0,
                                                        end_step=end_step, frequency=max(1, min(100, end_step // 10)))
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)

    return tf_keras.models.clone_model(legacy, clone_function=wrap)


def own_learning_rate(model: Any, default: float = 1e-3) -> float:
    """The learning rate ``model`` was compiled with (a number), else ``default``."""
    optimizer = getattr(model, "optimizer", None)
    rate = optimizer.get_config().get("learning_rate") if optimizer is not None else None
    return float(rate) if isinstance(rate, (int, float)) and rate > 0 else default


def enforce_nonzero(model: Any, budget: int) -> None:
    """Zero the smallest non-zero kernel weights until at most ``budget`` weights are non-zero."""
    excess = count_nonzero(model) - budget
    if excess <= 0:
        return
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    values = [np.asarray(k) for k in kernels]
    flat = np.concatenate([np.abs(v).ravel() for v in values])
    candidates = np.flatnonzero(flat)
    drop = candidates[np.argsort(flat[candidates], kind="stable")[:excess]]
    mask = np.ones(flat.size, dtype=bool)
    mask[drop] = False
    offset = 0
    for var, value in zip(kernels, values):
        part = mask[offset : offset + value.size].reshape(value.shape)
        var.assign(value * part)
        offset += value.size
