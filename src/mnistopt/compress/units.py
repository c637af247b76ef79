"""Structured pruning: remove whole hidden units, so ``count_params()`` really drops.

Each hidden unit gets an importance score, the product of the L2 norms of
its incoming weights (scaled by batch normalisation's ``|gamma| /
sqrt(var + eps)`` when present) and of its outgoing weights: a unit that
receives little or passes little on matters little. The least important
units are removed, the surviving weights are copied into a narrower model
built from a new :class:`~mnistopt.MLPSpec`, and that model is fine-tuned.
Cutting in several steps, with fine-tuning between them, loses less than
one big cut.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._checks import check_int
from ..budget import widths_for_budget
from ..data import Dataset
from ..errors import BudgetError
from ..spec import MLPSpec

__all__ = ["unit_importance", "prune_units", "UnitPruningOutcome"]


@dataclasses.dataclass(frozen=True, eq=False)
class UnitPruningOutcome:
    """The narrower model, its spec and its fine-tuning curves."""

    model: Any
    spec: MLPSpec
    history: dict[str, list[float]]


def _layers(model: Any, spec: MLPSpec) -> list[dict[str, np.ndarray]]:
    """Per hidden layer (and the output): kernel, bias, batch-norm vectors as arrays."""
    out = []
    for i in range(1, len(spec.hidden) + 1):
        weights = model.get_layer(f"dense_{i}").get_weights()
        entry = {"kernel": weights[0]}
        if not spec.batch_norm:
            entry["bias"] = weights[1]
        else:
            gamma, beta, mean, var = model.get_layer(f"bn_{i}").get_weights()
            entry.update(gamma=gamma, beta=beta, mean=mean, var=var)
        out.append(entry)
    kernel, bias = model.get_layer("output").get_weights()
    out.append({"kernel": kernel, "bias": bias})
    return out


def unit_importance(model: Any, spec: MLPSpec) -> list[np.ndarray]:
    """One score per unit of each hidden layer (higher: more important)."""
    layers = _layers(model, spec)
    scores = []
    for i in range(len(spec.hidden)):
        incoming = np.linalg.norm(layers[i]["kernel"], axis=0)
        if spec.batch_norm:
            bn = model.get_layer(f"bn_{i + 1}")
            incoming = np.abs(layers[i]["gamma"]) / np.sqrt(layers[i]["var"] + bn.epsilon)
        outgoing = np.linalg.norm(layers[i + 1]["kernel"], axis=1)
        scores.append(incoming * outgoing)
    return scores


def border_energy(dataset: Dataset, spec: MLPSpec, crop: int) -> float:
    """Share of the training images' energy (sum of squared pixels) that cropping to ``crop`` removes."""
    x = dataset.x_train
    c0 = spec.crop
    inner = x[:, crop : x.shape[1] - crop, crop : x.shape[2] - crop]
    outer = x[:, c0 : x.shape[1] - c0, c0 : x.shape[2] - c0]
    total = float(np.square(outer, dtype=np.float64).sum())
    return 0.0 if total == 0 else 1.0 - float(np.square(inner, dtype=np.float64).sum()) / total


def _input_rows(spec: MLPSpec, crop: int) -> np.ndarray:
    """Rows of the first kernel that survive cropping ``spec``'s input further, to ``crop``."""
    h, w = (d - 2 * spec.crop for d in spec.input_shape)
    extra = crop - spec.crop
    grid = np.arange(h * w).reshape(h, w)
    return grid[extra : h - extra, extra : w - extra].ravel()


def _cut(
    model: Any, spec: MLPSpec, widths: tuple[int, ...], crop: int | None = None
) -> tuple[MLPSpec, list[np.ndarray]]:
    """The spec with ``widths`` (and input ``crop``) and the surviving weights, in ``build_model``'s order."""
    crop = spec.crop if crop is None else crop
    layers = _layers(model, spec)
    keep = [np.sort(np.argsort(-score, kind="stable")[:w]) for score, w in zip(unit_importance(model, spec), widths)]
    weights: list[np.ndarray] = []
    rows = slice(None) if crop == spec.crop else _input_rows(spec, crop)
    for i, entry in enumerate(layers):
        cols = keep[i] if i < len(keep) else slice(None)
        weights.append(entry["kernel"][rows][:, cols])
        if "bias" in entry:
            weights.append(entry["bias"][cols])
        else:
            weights.extend(entry[k][cols] for k in ("gamma", "beta", "mean", "var"))
        rows = cols
    return dataclasses.replace(spec, hidden=tuple(int(w) for w in widths), crop=crop), weights


def prune_units(
    model: Any,
    spec: MLPSpec,
    budget: int,
    dataset: Dataset,
    *,
    epochs: int = 10,
    steps: int = 2,
    seed: int = 0,
    max_border_energy: float = 0.005,
) -> UnitPruningOutcome:
    """Cut ``model`` down to at most ``budget`` parameters by removing hidden units.

    The hidden widths keep their relative sizes and become the widest that
    fit ``budget`` (as :func:`~mnistopt.widest_spec` would choose). Input
    pixels are units too: when the border of the training images holds at
    most ``max_border_energy`` of their energy (MNIST's 4-pixel border holds
    almost none), those pixels are cropped first, which frees their weights
    for wider hidden layers at almost no cost (not with 2x2 pooling). The cut
    happens in ``steps`` geometric steps, each followed by
    ``epochs // steps`` (at least one) epochs of fine-tuning with the spec's
    optimizer and learning rate; the input model is not changed.

    Returns:
        An :class:`UnitPruningOutcome` whose ``model.count_params()`` equals
        ``spec.params`` and is at most ``budget``.

    Raises:
        BudgetError: ``budget`` is below the smallest model of this depth and
            input, or not below the model's own size.

    Example:
        >>> from mnistopt import MLPSpec, build_model, load_dataset
        >>> from mnistopt.compress import prune_units
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8); y = np.arange(300) % 10
        >>> ds = load_dataset({"x_train": x, "y_train": y, "x_test": x[:50], "y_test": y[:50]})
        >>> spec = MLPSpec(hidden=(32, 16), pool=True, epochs=1)
        >>> out = prune_units(build_model(spec), spec, 3000, ds, epochs=1)
        >>> out.spec.hidden, out.model.count_params() == out.spec.params <= 3000
        ((14, 7), True)
    """
    from ..build import build_model
    from ..training import fit_model

    budget = check_int("budget", budget, minimum=1, error=BudgetError)
    epochs = check_int("epochs", epochs, minimum=1, maximum=1000)
    steps = check_int("steps", steps, minimum=1, maximum=100)
    if not spec.hidden:
        raise BudgetError(f"{spec.architecture} has no hidden units to remove.")
    if budget >= spec.params:
        raise BudgetError(
            f"budget={budget:,} is not below the model's {spec.params:,} parameters: nothing to remove."
        )
    crop = spec.crop
    if not spec.pool:
        for c in range(spec.crop + 1, min(spec.input_shape) // 2 - 1):
            if border_energy(dataset, spec, c) > max_border_energy:
                break
            crop = c
    features = (spec.input_shape[0] - 2 * crop) * (spec.input_shape[1] - 2 * crop) if not spec.pool else spec.in_features
    target = widths_for_budget(budget, features, spec.num_classes, spec.hidden, spec.batch_norm)
    start = np.asarray(spec.hidden, dtype=float)
    history: dict[str, list[float]] = {}
    current_model, current_spec = model, spec
    for step in range(1, steps + 1):
        fraction = step / steps
        widths = tuple(
            max(t, int(round(s * (t / s) ** fraction))) if step < steps else t for s, t in zip(start, target)
        )
        widths = tuple(min(w, c) for w, c in zip(widths, current_spec.hidden))
        new_spec, weights = _cut(current_model, current_spec, widths, crop)
        tuned = dataclasses.replace(new_spec, epochs=max(1, epochs // steps))
        new_model = build_model(tuned)
        new_model.set_weights(weights)
        outcome = fit_model(new_model, tuned, dataset, epochs=tuned.epochs, seed=seed + step)
        for key, values in outcome.history.items():
            history.setdefault(key, []).extend(values)
        current_model, current_spec = new_model, new_spec
    return UnitPruningOutcome(current_model, current_spec, history)
