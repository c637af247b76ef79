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
from ..errors import ArgumentError, BudgetError
from ..spec import MLPSpec

__all__ = ["unit_importance", "prune_units", "UnitPruningOutcome", "prune_any_units", "narrow_model",
           "narrowable_layers", "filter_importance"]


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


# --------------------------------------------------------------------------
# Any chain model: whole Dense units and convolution filters removed
# --------------------------------------------------------------------------

_WEIGHTED = ("Dense", "Conv2D", "SeparableConv2D")  # layers whose output units or filters can be removed
_PASS = ("Dropout", "Activation", "ReLU", "Softmax", "Rescaling", "MaxPooling2D", "AveragePooling2D",
         "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Cropping2D", "ZeroPadding2D", "BatchNormalization",
         "DepthwiseConv2D", "Flatten")  # layers that carry each channel through on its own


def narrowable_layers(model: Any) -> list[str]:
    """The layers of a chain model whose output units (Dense) or filters (Conv2D, SeparableConv2D)
    can be removed: every such layer but the last weighted one, when only channel-wise layers
    (:data:`_PASS`) stand between it and the next weighted layer."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    weighted = [i for i, layer in enumerate(layers) if type(layer).__name__ in _WEIGHTED]
    names = []
    for a, b in zip(weighted, weighted[1:]):
        layer = layers[a]
        between = [type(x).__name__ for x in layers[a + 1:b]]
        if all(kind in _PASS for kind in between) and getattr(layer, "groups", 1) == 1:
            names.append(layer.name)
    return names


def narrow_model(model: Any, keep: dict[str, np.ndarray]) -> Any:
    """A copy of a chain ``model`` keeping only the units or filters ``keep[name]`` (sorted indices)
    of each named layer, every other weight copied; the layers after a narrowed one lose the
    matching inputs (a Flatten's every position of a removed channel, a BatchNormalization's or
    DepthwiseConv2D's channel)."""
    unknown = sorted(set(keep) - {layer.name for layer in model.layers})
    if unknown:
        raise ArgumentError(f"`keep` names layers {unknown} that model {model.name!r} does not have.")
    config = model.get_config()
    for entry in config["layers"]:
        entry.pop("build_config", None)  # the old input shapes: each layer builds from its new input
        name = entry["config"].get("name")
        if name in keep:
            key = "units" if entry["class_name"] == "Dense" else "filters"
            entry["config"][key] = int(len(keep[name]))
    narrow = type(model).from_config(config)
    weights: list[np.ndarray] = []
    kept = None  # the channels of the current tensor that remain (None: all)
    for layer in model.layers:
        kind = type(layer).__name__
        w = layer.get_weights()
        out = keep.get(layer.name)
        if kind == "Dense":
            kernel = w[0] if kept is None else w[0][kept, :]
            w = [kernel[:, out] if out is not None else kernel] + ([w[1][out] if out is not None else w[1]]
                                                                  if len(w) > 1 else [])
            kept = out
        elif kind == "Conv2D":
            kernel = w[0] if kept is None else w[0][:, :, kept, :]
            w = [kernel[..., out] if out is not None else kernel] + ([w[1][out] if out is not None else w[1]]
                                                                    if len(w) > 1 else [])
            kept = out
        elif kind == "SeparableConv2D":
            multiplier = w[0].shape[-1]
            depthwise = w[0] if kept is None else w[0][:, :, kept, :]
            rows = None if kept is None else np.array([c * multiplier + j for c in kept for j in range(multiplier)])
            pointwise = w[1] if rows is None else w[1][:, :, rows, :]
            w = [depthwise, pointwise[..., out] if out is not None else pointwise] + (
                [w[2][out] if out is not None else w[2]] if len(w) > 2 else [])
            kept = out
        elif kind == "DepthwiseConv2D" and kept is not None:
            multiplier = w[0].shape[-1]
            channels = np.array([c * multiplier + j for c in kept for j in range(multiplier)])
            w = [w[0][:, :, kept, :]] + ([w[1][channels]] if len(w) > 1 else [])
            kept = channels
        elif kind == "BatchNormalization" and kept is not None:
            w = [v[kept] for v in w]
        elif kind == "Flatten" and kept is not None:
            channels = int(layer.input.shape[-1])
            positions = int(np.prod(layer.input.shape[1:-1]))
            kept = np.array([p * channels + c for p in range(positions) for c in kept])
        weights.extend(w)
    narrow.set_weights(weights)
    return narrow


def filter_importance(model: Any, name: str) -> np.ndarray:
    """The L1 norm of each unit's or filter's incoming weights (Li et al. 2017, "Pruning filters
    for efficient ConvNets"): for a SeparableConv2D, of its pointwise weights."""
    layer = model.get_layer(name)
    kernel = layer.get_weights()[1 if type(layer).__name__ == "SeparableConv2D" else 0]
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def prune_any_units(model: Any, info: Any, dataset: Dataset, budget: int, *, epochs: int = 10,
                    learning_rate: float | None = None, batch_size: int = 32, seed: int = 0) -> Any:
    """Structured pruning of a chain model mnistopt did not build, to at most ``budget`` parameters.

    Every layer of :func:`narrowable_layers` keeps the same share of its units or filters, the
    ones with the largest L1 norms; the largest share whose narrowed model fits ``budget`` is
    found by bisection (each candidate built, so the count is ``count_params()``'s). The
    surviving weights are copied (:func:`narrow_model`) and the narrow model fine-tuned with
    Adam (the model's own compiled rate, or 1e-3), ``batch_size``, cross-entropy on its softmax
    or logits. ``dataset``'s images must already be in the model's layout. Returns a
    :class:`UnitPruningOutcome` whose ``spec`` is ``None``.

    Raises:
        BudgetError: no layer can be narrowed, or even one unit per layer does not fit.
    """
    import keras

    from .sparsity import own_learning_rate

    budget = check_int("budget", budget, minimum=1, error=BudgetError)
    names = narrowable_layers(model)
    if not names:
        raise BudgetError(f"Model {info.name!r} has no layer whose units or filters can be removed (a chain of Dense "
                          f"or Conv2D layers is needed). Magnitude pruning (sparsity) still applies.")
    order = {n: np.argsort(-filter_importance(model, n), kind="stable") for n in names}
    sizes = {n: len(order[n]) for n in names}

    def keep_for(share: float) -> dict[str, np.ndarray]:
        return {n: np.sort(order[n][:max(1, round(share * sizes[n]))]) for n in names}

    def params(share: float) -> int:
        return int(narrow_model(model, keep_for(share)).count_params())

    if params(0.0) > budget:
        raise BudgetError(f"Even one unit or filter per narrowable layer leaves {info.name!r} at {params(0.0):,} "
                          f"parameters, above budget={budget:,}.")
    low, high = 0.0, 1.0
    for _ in range(14):
        middle = (low + high) / 2
        low, high = (middle, high) if params(middle) <= budget else (low, middle)
    keras.utils.set_random_seed(seed)
    narrow = narrow_model(model, keep_for(low))
    narrow.compile(optimizer=keras.optimizers.Adam(learning_rate or own_learning_rate(model)),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=info.logits), metrics=["accuracy"])
    fit = narrow.fit(dataset.x_train, dataset.y_train, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                     validation_data=(dataset.x_val, dataset.y_val))
    return UnitPruningOutcome(narrow, None, {k: [float(v) for v in vals] for k, vals in fit.history.items()})
