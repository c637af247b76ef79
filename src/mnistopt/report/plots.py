"""Matplotlib figures (Agg backend) drawn from plain data.

Each figure has a data step (tested) and a drawing step that writes a PNG
atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_with
from ..families import DEFAULT_FAMILY, marks_family
from .data import comparison_data, curves_data, pareto_y_floor
from .pareto import SIZE_AXES

__all__ = ["plot_training_curves", "plot_confusion_matrix", "plot_curve_comparison", "plot_pareto", "plot_heatmap",
           "plot_family_prices", "AXIS_NAMES"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    plt = _pyplot()
    try:
        return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"), ".png")
    finally:
        plt.close(fig)


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy and loss per epoch, train beside validation, as a PNG."""
    plt = _pyplot()
    data = curves_data(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for label, values in data["panels"].get(metric, {}).items():
            ax.plot(data["epochs"][: len(values)], values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], path: str | os.PathLike, class_names: Sequence[str] | None = None, title: str = ""
) -> Path:
    """Confusion matrix heat map (rows true, columns predicted) with counts, as a PNG."""
    plt = _pyplot()
    cm = np.asarray(matrix)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_title(title or "confusion matrix")
    fig.tight_layout()
    return _save(fig, path)


_METRIC_NAMES = {"val_accuracy": "validation accuracy", "val_loss": "validation loss", "accuracy": "training accuracy",
                 "loss": "training loss"}


def plot_curve_comparison(
    histories: Mapping[str, Mapping[str, Sequence[float]]], path: str | os.PathLike,
    metrics: Sequence[str] = ("val_accuracy", "val_loss"), title: str = "",
) -> Path:
    """One line per run in a panel per metric (e.g. every optimizer's validation curves), as a PNG."""
    plt = _pyplot()
    data = comparison_data(histories, metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, series in data["panels"][metric].items():
            ax.plot(series["epochs"], series["values"], marker="o", markersize=3, label=label)
        name = _METRIC_NAMES.get(metric, metric.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        if data["panels"][metric]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


_MARKERS = {"trained": "o", "float32 file": "s", "quantized": "^", "pruned": "D", "pruned+quantized": "v",
            "units cut": "P", "units cut+quantized": "X", "QAT": "*"}


def _label_without_overlap(fig: Any, ax: Any, points: Sequence[Mapping[str, Any]]) -> None:
    """Label each point to its right, at the first of a few heights where the label overlaps
    no marker and no label placed before it (front points can sit a few pixels apart)."""
    from matplotlib.transforms import Bbox

    fig.canvas.draw()  # the axes' limits and a renderer, so label extents are known
    renderer = fig.canvas.get_renderer()
    marks = [ax.transData.transform((p["x"], p["y"])) for p in points]
    placed: list[Any] = [Bbox.from_bounds(x - 5, y - 5, 10, 10) for x, y in marks]  # the markers themselves
    for p in points:
        for dy in (6, -12, 16, -22, 26, -32):
            text = ax.annotate(p["label"], (p["x"], p["y"]), textcoords="offset points", fontsize=7, xytext=(6, dy))
            box = text.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            text.remove()
        else:  # crowded everywhere: keep the first height
            text = ax.annotate(p["label"], (p["x"], p["y"]), textcoords="offset points", fontsize=7, xytext=(6, 6))
            box = text.get_window_extent(renderer)
        placed.append(box)


#: How each axis of an accuracy-versus-size plot is named.
AXIS_NAMES = {**{a.field: a.name for a in SIZE_AXES}, "tflm_arena_bytes": "tensor arena on TensorFlow Lite Micro (bytes)"}


def _budget_colours(plt: Any, budgets: Sequence[int]) -> dict[int, Any]:
    """One colour per budget, in order (tab10, or tab20 past ten budgets)."""
    cmap = plt.get_cmap("tab10" if len(budgets) <= 10 else "tab20")
    return {b: cmap(i % cmap.N) for i, b in enumerate(budgets)}


def _family_handles(plt: Any, families: Sequence[str]) -> list[Any]:
    """Legend entries for the model families' markers: the default family's filled, the others' open."""
    filled = plt.Line2D([], [], color="grey", marker="o", linestyle="", label=f"{DEFAULT_FAMILY.upper()}: filled")
    return [filled] + [plt.Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="",
                                  label=f"{', '.join(f.upper() for f in families)}: open")] * bool(families)


def plot_pareto(data: Mapping[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Accuracy against size on a log x axis: the front (the best fully trained model at or
    below each size) as a labelled step curve, dominated points faded, Hyperband's short rungs
    fainter still; the selected models' test accuracy with its 95% interval; on the parameter
    axis the reference's points and the baseline. Colour is the budget, marker the kind of stage."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    everything = (*data["front"], *data["dominated"], *data.get("short", ()))
    budgets = sorted({p["budget"] for p in everything})
    colour = _budget_colours(plt, budgets)
    def face(p):  # a marked family's marker is open (a CNN's), the default's or a foreign model's filled
        return "none" if marks_family(p.get("model_family")) else colour[p["budget"]]

    for group, alpha, size in ((data.get("short", ()), 0.07, 12), (data["dominated"], 0.2, 22)):
        for p in group:
            ax.scatter(p["x"], p["y"], facecolors=face(p), edgecolors=colour[p["budget"]], marker=_MARKERS[p["family"]],
                       alpha=alpha, s=size, linewidths=1 if face(p) == "none" else 0)
    front = data["front"]
    if front:
        xs = [p["x"] for p in front]
        ys = [p["y"] for p in front]
        ax.step(xs, ys, where="post", color="black", linewidth=1, alpha=0.6, zorder=2)
        for p in front:
            ax.scatter(p["x"], p["y"], facecolors=face(p), marker=_MARKERS[p["family"]], s=60,
                       edgecolors="black" if face(p) != "none" else colour[p["budget"]],
                       linewidths=0.8 if face(p) != "none" else 1.6, zorder=3)
    dense = data.get("dense_front") or ()
    if dense:  # beside the front of all models: the best dense model at or below each size
        ax.step([p["x"] for p in dense], [p["y"] for p in dense], where="post", color="grey", linestyle="--",
                linewidth=1.2, zorder=2)
    chosen = data.get("selected", ())
    for p in chosen:
        ax.errorbar(p["x"], p["y"], yerr=[[p["y"] - p["low"]], [p["high"] - p["y"]]], fmt="D", markersize=5,
                    color=colour.get(p["budget"], "black"), markerfacecolor="white", ecolor="black", elinewidth=0.8,
                    capsize=3, zorder=4)
    for r in data.get("reference", ()):
        ax.scatter(r["x"], r["y"], marker="*", s=110, color="crimson", edgecolors="black", linewidths=0.5, zorder=4)
    if data.get("limit"):  # the search's device limit on this axis
        ax.axvline(data["limit"], color="crimson", linestyle=":", linewidth=1.2)
        ax.text(data["limit"], 0.98, " limit", transform=ax.get_xaxis_transform(), fontsize=7, color="crimson",
                va="top")
    if data.get("baseline"):
        ax.axvline(data["baseline"]["x"], color="grey", linestyle="--", linewidth=1)
        ax.text(data["baseline"]["x"], 0.45, " " + data["baseline"]["label"], transform=ax.get_xaxis_transform(),
                rotation=90, fontsize=7, color="grey", va="bottom", ha="right")  # above the legend
    low = pareto_y_floor(data)
    hidden = sum(p["y"] < low for p in (*data["dominated"], *data.get("short", ())))
    if low > -np.inf:
        top = max(p["y"] for p in (*everything, *data.get("reference", ()), *({"y": q["high"]} for q in chosen)))
        ax.set_ylim(low, min(1.01, top + 0.1 * (top - low) + 1e-3))
    if hidden:
        ax.text(0.01, 0.01, f"{hidden} lower point(s) below {low:.3f} not shown", transform=ax.transAxes,
                fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel(AXIS_NAMES.get(data["x"], data["x"].replace("_", " ")) + " (log scale)")
    ax.set_ylabel("accuracy (front: " + data["y"].replace("_accuracy", "").replace("val", "validation") + ")")
    ax.grid(alpha=0.3, which="both")
    handles = [plt.Line2D([], [], color=colour[b], marker="o", linestyle="", label=f"budget {b:,}") for b in budgets]
    families = sorted({p["family"] for p in everything})
    handles += [plt.Line2D([], [], color="grey", marker=_MARKERS[f], linestyle="", label=f) for f in families]
    marked = sorted({p["model_family"] for p in everything if marks_family(p.get("model_family"))})
    if marked:
        handles += _family_handles(plt, marked)
    if dense:
        handles.append(plt.Line2D([], [], color="grey", linestyle="--", label="dense models only"))
    if chosen:
        handles.append(plt.Line2D([], [], color="black", marker="D", markerfacecolor="white", linestyle="",
                                  label="selected: test accuracy, 95% interval"))
    if data.get("reference"):
        handles.append(plt.Line2D([], [], color="crimson", marker="*", markersize=10, linestyle="",
                                  label="reference (train accuracy)"))
    if data.get("short"):
        handles.append(plt.Line2D([], [], color="grey", marker="o", alpha=0.25, linestyle="",
                                  label="short Hyperband rung (not on the front)"))
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="lower right", ncol=2 if len(handles) > 12 else 1)
    ax.set_title(title or f"accuracy vs {AXIS_NAMES.get(data['x'], data['x'])}: the best fully trained model at "
                 "or below each size (bold)", fontsize=10)
    fig.tight_layout()
    _label_without_overlap(fig, ax, [*front, *data.get("reference", ())])  # once the axes are final
    return _save(fig, path)


def plot_family_prices(data: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike,
                       limits: Mapping[str, float] | None = None) -> Path:
    """Each family's best model per budget at what it costs to run, one panel per cost
    (:func:`~mnistopt.report.data.family_price_data`: MACs, tensor arena, latency, log scale)
    against its int8-io file's validation accuracy. Colour is the budget; a CNN's marker is open,
    an MLP's filled; the selected model is ringed; a search's limit on a panel's cost
    (``limits``: cost -> value) is a dotted line."""
    limits = limits or {}
    plt = _pyplot()
    axes_names = [a for a in data if data[a]]
    fig, axes = plt.subplots(1, len(axes_names), figsize=(4.2 * len(axes_names), 4), sharey=True, squeeze=False)
    budgets = sorted({p["budget"] for points in data.values() for p in points})
    colour = _budget_colours(plt, budgets)
    from matplotlib.ticker import NullFormatter, NullLocator

    for ax, axis in zip(axes[0], axes_names):
        for p in data[axis]:
            open_ = marks_family(p["family"])
            ax.scatter(p["x"], p["y"], s=70, marker="o", facecolors="none" if open_ else colour[p["budget"]],
                       edgecolors=colour[p["budget"]], linewidths=1.8 if open_ else 0.5, zorder=3)
            if p["selected"]:
                ax.scatter(p["x"], p["y"], s=220, marker="o", facecolors="none", edgecolors="black", linewidths=0.8,
                           zorder=2)
            ax.annotate(p["family"], (p["x"], p["y"]), textcoords="offset points", xytext=(6, 4), fontsize=7)
        xs = sorted({p["x"] for p in data[axis]})
        ax.set_xscale("log")
        ends = [xs[0], xs[-1]] + ([limits[axis]] if axis in limits else [])
        ax.set_xlim(min(ends) / 1.6, max(ends) * 1.6)  # room for the labels
        if axis in limits:
            ax.axvline(limits[axis], color="crimson", linestyle=":", linewidth=1.2)
            ax.text(limits[axis], 0.98, " limit", transform=ax.get_xaxis_transform(), fontsize=7, color="crimson",
                    va="top")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(xs, [f"{x:,.1f}" if x < 100 else f"{x:,.0f}" for x in xs], rotation=30, fontsize=7)
        ax.set_xlabel(AXIS_NAMES.get(axis, axis) + " (log scale)")
        ax.grid(alpha=0.3)
        ax.margins(y=0.15)
    axes[0][0].set_ylabel("int8-io file validation accuracy")
    handles = [plt.Line2D([], [], color=colour[b], marker="o", linestyle="", label=f"budget {b:,}") for b in budgets]
    marked = sorted({p["family"] for points in data.values() for p in points if marks_family(p["family"])})
    handles += [*_family_handles(plt, marked), plt.Line2D([], [], color="black", marker="o", markerfacecolor="none",
                                                  markersize=12, linestyle="", label="selected")]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="lower right")
    fig.suptitle("what each family's best model costs to run, and what it answers", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_heatmap(
    values: Sequence[Sequence[float]], rows: Sequence[str], columns: Sequence[str], path: str | os.PathLike,
    *, xlabel: str = "", ylabel: str = "", title: str = "", fmt: str = "{:.4f}",
) -> Path:
    """A labelled grid of numbers (e.g. validation accuracy per learning rate x batch size), as a PNG."""
    plt = _pyplot()
    grid = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(1.6 * len(columns) + 2.5, 1.0 * len(rows) + 1.8))
    im = ax.imshow(grid, cmap="viridis")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(columns)), list(columns))
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            text = fmt.format(grid[i, j]) if np.isfinite(grid[i, j]) else "failed"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="black" if np.isfinite(grid[i, j]) and grid[i, j] > middle else "white")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)
