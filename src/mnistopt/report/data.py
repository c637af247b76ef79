"""A report's content as plain, JSON-ready data: no drawing, no formatting.

Everything here is computed from records alone (a
:class:`~mnistopt.records.SearchResult` or ``result.json``), so it is tested
as data; :mod:`mnistopt.report.render` turns it into Markdown and HTML and
:mod:`mnistopt.report.plots` into figures.

Which accuracy is which: fronts and selection use **validation** accuracy;
**test** accuracy is reported for selected models and compression stages and
chooses nothing; **train** accuracy (the selected models') is what the
reference notebook reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..artifacts import Stage, StageKind
from ..families import marks_family
from ..limits import LIMIT_FORMAT, LIMITS, OVER_LIMITS, Limits
from ..records import COMPLETED, CompressionResult, SearchResult, TrialRecord, chain_history, select_best
from ..spec import MLPSpec
from .pareto import SIZE_AXES, SIZE_FIELDS, front_candidates, hypervolume, pareto_front
from .stats import difference_interval, wilson_interval

__all__ = [
    "REFERENCE", "FRONT_AXES", "report_data", "reference_comparison", "accuracy_gaps", "front_histories",
    "comparison_rows", "grid_summary", "curves_data", "comparison_data", "pareto_plot_data", "pareto_y_floor",
    "fully_trained", "curve_marks", "BASELINE_PARAMS", "family_rows", "family_price_data", "PRICE_AXES",
    "limits_data",
]

#: The reference notebook's figures: parameters, accuracy and loss, measured on its
#: *training* set (all 60,000 MNIST training images).
REFERENCE: tuple[dict[str, float], ...] = (
    {"params": 93_322, "accuracy": 0.9979, "loss": 0.0071},
    {"params": 72_842, "accuracy": 0.9976, "loss": 0.0071},
    {"params": 4_034, "accuracy": 0.9627, "loss": 0.1115},
)


#: The reference baseline (784-128-64-10, 109,386 parameters), marked on the parameter axis.
BASELINE_PARAMS = MLPSpec.baseline().params

#: The axes a report draws a front over (one plot each, when records have the field): the
#: sizes, and what a device pays to run the model (:class:`~mnistopt.artifacts.FileCosts`).
FRONT_AXES = tuple(a.field for a in SIZE_AXES if a.front)


def fully_trained(record: TrialRecord, hyperband: bool) -> bool:
    """Whether ``record``'s model had its whole training: every trial of a random, Bayesian or
    grid search (early stopping ends a training, it does not cut it short) and every
    compression stage (made from a selected model), but a Hyperband trial only on the top
    rung (``epochs`` reached the spec's ``epochs``). Fronts and curves hold these only: a
    short rung's accuracy says what a few epochs give, not what the model gives.

    Example:
        >>> from mnistopt import MLPSpec, TrialRecord
        >>> short = TrialRecord(budget=1, trial_id="1", status="completed", spec=MLPSpec(epochs=30), params=1,
        ...                     epochs=2, val_accuracy=0.7)
        >>> fully_trained(short, hyperband=True), fully_trained(short, hyperband=False)
        (False, True)
    """
    if record.is_compression_stage or not hyperband or record.spec is None:
        return True
    return record.epochs >= record.spec.epochs


_MAX_CURVES = 10


def _mark_fronts(records: Sequence[TrialRecord], rows: list[dict[str, Any]], full: Sequence[bool]
                 ) -> dict[str, dict[str, Any]]:
    """Set ``rows[i]["pareto"][x]`` for ``records[i]``; return each axis' front (indices, smallest
    first) and hypervolume (log10 size x accuracy, up to the largest candidate). Only fully
    trained records (``full[i]``) are candidates."""
    index = {id(r): i for i, r in enumerate(records)}
    for row, whole in zip(rows, full):
        row["pareto"] = {}
        row["fully_trained"] = whole
    fronts = {}
    for x in SIZE_FIELDS:
        candidates = front_candidates([r for r, whole in zip(records, full) if whole], x)
        members = [index[id(r)] for r in pareto_front(candidates, x)]
        on_front = set(members)
        for i, row in enumerate(rows):
            row["pareto"][x] = i in on_front
        sizes = [getattr(r, x) for r in candidates]
        fronts[x] = {
            "members": members,
            "eligible": len(candidates),
            "short": sum(1 for r, whole in zip(records, full) if not whole and r.status == COMPLETED),
            "hypervolume": hypervolume(sizes, [r.val_accuracy for r in candidates])
            if candidates and min(sizes) > 0 else None,
        }
    return fronts


def _interval(accuracy: float | None, n: int | None) -> list[float] | None:
    return None if accuracy is None or not n else [round(v, 6) for v in wilson_interval(accuracy, n)]


def _add_intervals(rows: list[dict[str, Any]], sizes: Mapping[str, int]) -> None:
    """``<split>_interval``: the 95% Wilson interval of each accuracy, from its split's image count."""
    for row in rows:
        for split in ("train", "val", "test"):
            if row.get(f"{split}_accuracy") is not None:
                row[f"{split}_interval"] = _interval(row[f"{split}_accuracy"], sizes.get(split))


def _selected_rows(result: SearchResult | CompressionResult, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    selected = result.selected if isinstance(result, SearchResult) else {}  # compression selects nothing
    for budget, sel in selected.items():
        r = sel.record
        files = [x for x in rows if x["budget"] == budget and x["trial_id"] == r.trial_id and x.get("bytes")
                 and x.get("test_accuracy") is not None]
        float32 = next((x for x in files if Stage.parse(x["stage"]).kind is StageKind.FILE), None)
        smallest = min(files, key=lambda x: (x["bytes"], -x["val_accuracy"]), default=None)  # test chooses nothing
        out.append({
            "budget": budget, "trial_id": r.trial_id, "stage": r.stage, "family": r.family,
            "architecture": r.spec.architecture,
            "optimizer": r.spec.optimizer, "learning_rate": r.spec.learning_rate, "batch_size": r.spec.batch_size,
            "params": r.params, "nonzero_params": r.nonzero_params if r.nonzero_params is not None else r.params,
            "bytes": r.bytes if r.bytes is not None else (float32["bytes"] if float32 else None),
            "macs": r.macs,
            **{k: getattr(r, k) if getattr(r, k) is not None else (float32[k] if float32 else None)
               for k in ("arena_bytes", "latency_us")},
            "tflm_arena_bytes": r.tflm_arena_bytes,
            "train_accuracy": r.train_accuracy, "val_accuracy": r.val_accuracy,
            "test_accuracy": r.test_accuracy, "test_loss": r.test_loss,
            "retrain_epochs": r.retrain_epochs, "retrain_val_accuracy": r.retrain_val_accuracy,
            "smallest_file": None if smallest is None else {
                k: smallest.get(k) for k in ("stage", "bytes", "gzip_bytes", "nonzero_params", "test_accuracy",
                                             "arena_bytes", "latency_us")},
            "model_path": sel.model_path,
            "classification": sel.classification,
        })
    return out


def reference_comparison(selected: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The reference table: each :data:`REFERENCE` row beside our selected model at that budget
    (``None`` where this result has no such budget).

    Example:
        >>> rows = reference_comparison([{"budget": 4034, "params": 4006, "train_accuracy": 0.97,
        ...                               "test_accuracy": 0.95, "test_loss": 0.17}])
        >>> rows[2]["reference_accuracy"], rows[2]["ours"]["test_accuracy"], rows[0]["ours"]
        (0.9627, 0.95, None)
    """
    by_budget = {s["budget"]: s for s in selected}
    return [{"budget": int(ref["params"]), "reference_accuracy": ref["accuracy"], "reference_loss": ref["loss"],
             "ours": by_budget.get(int(ref["params"]))} for ref in REFERENCE]


def accuracy_gaps(selected: Sequence[Mapping[str, Any]], n_test: int | None = None) -> list[dict[str, Any]]:
    """"Accuracy gap versus parameter ratio" for each pair of reference budgets: the
    reference's (train accuracy) beside ours (train and test accuracy, our real parameter counts).

    With ``n_test`` (the test images each accuracy was measured on), ``test_gap_interval`` is
    the gap's 95% interval (:func:`~mnistopt.report.stats.difference_interval`) and
    ``inside_noise`` says whether it holds 0: a gap the test set cannot tell from none.

    Example:
        >>> sel = [{"budget": 93322, "params": 90000, "train_accuracy": 0.99, "test_accuracy": 0.97},
        ...        {"budget": 72842, "params": 72000, "train_accuracy": 0.99, "test_accuracy": 0.968},
        ...        {"budget": 4034, "params": 4000, "train_accuracy": 0.96, "test_accuracy": 0.95}]
        >>> g = {(row["larger"], row["smaller"]): row for row in accuracy_gaps(sel, n_test=10_000)}
        >>> far = g[93322, 4034]
        >>> far["reference_ratio"], round(far["reference_gap"], 4), far["ours"]["ratio"], round(far["ours"]["test_gap"], 4)
        (23.13, 0.0352, 22.5, 0.02)
        >>> far["ours"]["inside_noise"], g[93322, 72842]["ours"]["inside_noise"]
        (False, True)
    """
    by_budget = {s["budget"]: s for s in selected}
    refs = sorted(REFERENCE, key=lambda r: -r["params"])
    out = []
    for i, big in enumerate(refs):
        for small in refs[i + 1:]:
            row = {
                "larger": int(big["params"]), "smaller": int(small["params"]),
                "reference_ratio": round(big["params"] / small["params"], 2),
                "reference_gap": big["accuracy"] - small["accuracy"],
                "ours": None,
            }
            a, b = by_budget.get(int(big["params"])), by_budget.get(int(small["params"]))
            if a is not None and b is not None and a.get("test_accuracy") is not None \
                    and b.get("test_accuracy") is not None:
                ratio = a["params"] / b["params"]
                test_gap = a["test_accuracy"] - b["test_accuracy"]
                train_gap = (a["train_accuracy"] - b["train_accuracy"]
                             if a.get("train_accuracy") is not None and b.get("train_accuracy") is not None else None)
                interval = (difference_interval(a["test_accuracy"], n_test, b["test_accuracy"], n_test)
                            if n_test else None)
                row["ours"] = {
                    "ratio": round(ratio, 2), "train_gap": train_gap, "test_gap": test_gap,
                    # test points bought by each doubling of the parameter count
                    "test_gap_per_doubling": test_gap / math.log2(ratio) if ratio > 1 else None,
                    "test_gap_interval": None if interval is None else [round(v, 6) for v in interval],
                    "inside_noise": None if interval is None else bool(interval[0] <= 0.0 <= interval[1]),
                }
            out.append(row)
    return out


def report_data(result: SearchResult) -> dict[str, Any]:
    """Everything a report shows, as plain JSON-ready data.

    Keys: ``records`` (every record, each with ``pareto: {axis: bool}`` for
    :data:`~mnistopt.report.pareto.SIZE_FIELDS`, chosen on validation accuracy),
    ``fronts`` (per axis: member indices into ``records``, smallest first, and the
    hypervolume), ``selected`` (per budget), ``reference`` and ``gaps`` (the reference
    comparison), ``stages``, ``times``, ``dataset``, ``settings``, ``environment``.
    """
    from .._env import environment

    info = dict(result.info)
    sizes = (info.get("dataset") or {}).get("sizes") or {}
    hyperband = (info.get("settings") or {}).get("tuner") == "hyperband"
    rows = [r.to_dict() for r in result.records]
    fronts = _mark_fronts(result.records, rows, [fully_trained(r, hyperband) for r in result.records])
    _add_intervals(rows, sizes)
    selected = _selected_rows(result, rows)
    _add_intervals(selected, sizes)
    times: dict[str, dict[str, Any]] = {}
    for r in result.records:
        t = times.setdefault(str(r.budget), {"trials": 0, "trial_time_s": 0.0, "stages": 0, "stage_time_s": 0.0})
        if r.is_compression_stage:
            t["stages"] += 1
            t["stage_time_s"] += r.wall_time_s
        else:
            t["trials"] += 1
            t["trial_time_s"] += r.wall_time_s
    return {
        "title": "mnistopt report: accuracy versus size",
        "note": "Fronts and selection use validation accuracy; test accuracy is reported for selected models "
                "and compression stages (measured on their .tflite files) and chose nothing. The reference "
                "figures were measured on the reference notebook's training set; our train accuracy is the "
                "comparable number, test accuracy the honest one. Every accuracy carries its 95% interval "
                "(Wilson, from the number of images of its split): ± is half its width.",
        "split_sizes": dict(sizes),
        "dataset": info.get("dataset"),
        "settings": info.get("settings") or info.get("source"),
        "environment": info.get("environment") or environment(),
        "rendered_with": environment(),
        "wall_time_s": info.get("wall_time_s"),
        "times": times,
        "stages": sorted({r["stage"] for r in rows}),
        "records": rows,
        "fronts": fronts,
        "selected": selected,
        "reference": reference_comparison(selected),
        "gaps": accuracy_gaps(selected, sizes.get("test")),
        "families": family_rows(result),
        "limits": limits_data(result, selected),
    }


def limits_data(result: SearchResult, selected: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The device limits a search ran under (``None``: none): ``limits`` (name -> value), ``lines``
    (record field -> value: where the fronts mark them), ``failed`` (trials failed over a measured
    limit) and ``best`` (per budget, the selected model's figure and its limit, for every limit).

    Example:
        >>> from mnistopt import MLPSpec, SearchResult, TrialRecord
        >>> from mnistopt.report.data import limits_data
        >>> s = MLPSpec(hidden=(8,), crop=4, pool=True)
        >>> r = TrialRecord(budget=900, trial_id="0", status="completed", spec=s, params=s.params,
        ...                 tflm_arena_bytes=3712)
        >>> d = limits_data(SearchResult(records=(r,), selected={}, info={"settings": {"limits": {"arena": 4096}}}),
        ...                 [dict(r.to_dict(), family="mlp")])
        >>> d["lines"], d["best"][0]["figures"]
        ({'tflm_arena_bytes': 4096}, {'arena': [3712, 4096]})
    """
    limits = Limits((result.info.get("settings") or {}).get("limits") or {})
    if not limits:
        return None
    failed = sum(r.status != COMPLETED and OVER_LIMITS in (r.reason or "") for r in result.records)
    best = [{"budget": s["budget"], "family": s.get("family"), "architecture": s["architecture"],
             "params": s["params"], "val_accuracy": s.get("val_accuracy"), "test_accuracy": s.get("test_accuracy"),
             "figures": {name: [s.get(LIMITS[name].field), value] for name, value in limits.items()}}
            for s in sorted(selected, key=lambda s: s["budget"])]
    return {"limits": limits.to_dict(), "described": limits.describe(), "format": LIMIT_FORMAT,
            "by_construction": [n for n in limits if LIMITS[n].by_construction], "measured": list(limits.measured),
            "lines": {LIMITS[n].field: v for n, v in limits.items()}, "failed": failed, "best": best}


def family_rows(result: SearchResult) -> list[dict[str, Any]]:
    """Per budget, each model family's best trial on validation, with the price of shipping it: MACs
    and, when the search measured them (a search over several families exports each family's best as
    an int8-io file), that file's bytes, tensor arena and latency. Empty for a one-family result.

    Example:
        >>> from mnistopt.cnn import CNNSpec
        >>> rs = [TrialRecord(budget=9, trial_id=str(i), status="completed", spec=s, params=s.params,
        ...                   val_accuracy=a) for i, (s, a) in enumerate([(MLPSpec(hidden=(4,)), 0.9),
        ...                                                           (CNNSpec(), 0.95), (CNNSpec(), 0.93)])]
        >>> [(r["family"], r["trial_id"], r["macs"]) for r in family_rows(SearchResult(records=tuple(rs), selected={}))]
        [('mlp', '0', 3176), ('cnn', '1', 188624)]
    """
    measured = (result.info or {}).get("families") or {}
    records = [r for r in result.records if r.spec is not None and not r.is_compression_stage]
    if len({r.family for r in records}) < 2:
        return []
    out = []
    for budget in sorted({r.budget for r in records}):
        files = {row["family"]: row for row in measured.get(str(budget), [])}
        for family in dict.fromkeys(r.family for r in records if r.budget == budget):
            best = select_best(r for r in records if r.budget == budget and r.family == family)
            if best is None:
                continue
            row = {"budget": budget, "family": family, "trial_id": best.trial_id,
                   "architecture": best.spec.architecture, "params": best.params, "macs": best.macs,
                   "val_accuracy": best.val_accuracy, "test_accuracy": best.test_accuracy,
                   "selected": bool(best.selected)}
            file = files.get(family)
            if file is not None and file.get("trial_id") == best.trial_id:
                row.update({k: file.get(k) for k in ("file", "bytes", "arena_bytes", "latency_us", "file_val_accuracy",
                                                     "tflm_arena_bytes", "tflm_reason", "tflm_val_accuracy")})
            out.append(row)
    return out


#: What a family's model costs to run, one panel each in the families' price figure.
PRICE_AXES = ("macs", "tflm_arena_bytes", "latency_us")


def family_price_data(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The points of the families' price figure, from :func:`family_rows`: per axis of
    :data:`PRICE_AXES`, each family's best model per budget whose int8-io file was measured, at its
    cost (``x``) and that file's validation accuracy (``y``). Empty when no file was measured.

    Example:
        >>> rows = [{"budget": 4034, "family": "mlp", "architecture": "a", "macs": 4000, "tflm_arena_bytes": 3712,
        ...          "latency_us": 3.4, "file_val_accuracy": 0.95, "selected": False},
        ...         {"budget": 4034, "family": "cnn", "architecture": "b", "macs": 260000, "val_accuracy": 0.98}]
        >>> data = family_price_data(rows)
        >>> sorted(data), [(p["family"], p["x"], p["y"]) for p in data["tflm_arena_bytes"]]
        (['latency_us', 'macs', 'tflm_arena_bytes'], [('mlp', 3712, 0.95)])
    """
    measured = [r for r in rows if r.get("file_val_accuracy") is not None]
    if not measured:
        return {}
    return {axis: [{"x": r[axis], "y": r["file_val_accuracy"], "budget": r["budget"], "family": r["family"],
                    "label": r["architecture"], "selected": bool(r.get("selected"))}
                   for r in measured if r.get(axis) is not None] for axis in PRICE_AXES}


def front_histories(result: SearchResult, data: Mapping[str, Any]) -> dict[str, dict[str, list[float]]]:
    records = list(result.records)
    members = [records[i] for i in data["fronts"]["params"]["members"]]
    with_curves = [r for r in members if r.history]
    with_curves = sorted(with_curves, key=lambda r: -r.val_accuracy)[:_MAX_CURVES]
    out = {}
    for r in sorted(with_curves, key=lambda r: r.params):
        label = f"{r.budget:,} {r.stage} {r.spec.architecture}" if r.spec else f"{r.budget:,} {r.stage}"
        out[label] = chain_history(r, records)  # a stage's own curves; a trial's with its ancestors'
    return out


def comparison_rows(runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per trained variant (``TrainResult.to_dict()`` values, keyed by name); the
    variant with the best final validation accuracy is ``chosen``.

    Example:
        >>> run = lambda acc: {"spec": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32,
        ...                             "dropout": 0.0, "l2": 0.0}, "architecture": "784-10", "epochs_run": 2,
        ...                    "history": {"val_accuracy": [acc - 0.1, acc]}, "train_accuracy": 0.99,
        ...                    "val_accuracy": acc, "test_accuracy": acc, "test_loss": 0.1, "wall_time_s": 1.0}
        >>> [(r["variant"], r["chosen"], r["best_epoch"]) for r in comparison_rows({"a": run(0.9), "b": run(0.95)})]
        [('a', False, 2), ('b', True, 2)]
    """
    rows = []
    for name, r in runs.items():
        spec = r["spec"]
        val = list(r["history"].get("val_accuracy", []))
        rows.append({
            "variant": name, "architecture": r.get("architecture"), "optimizer": spec["optimizer"],
            "learning_rate": spec["learning_rate"], "momentum": spec.get("momentum") if spec["optimizer"] == "sgd" else None,
            "batch_size": spec["batch_size"], "dropout": spec["dropout"],
            "l2": spec["l2"], "epochs": r["epochs_run"], "train_accuracy": r["train_accuracy"],
            "val_accuracy": r["val_accuracy"], "best_val_accuracy": max(val) if val else None,
            "best_epoch": int(np.argmax(val)) + 1 if val else None, "test_accuracy": r.get("test_accuracy"),
            "test_loss": r.get("test_loss"), "wall_time_s": r["wall_time_s"], "chosen": False,
        })
    if rows:
        max(rows, key=lambda row: row["val_accuracy"])["chosen"] = True
    return rows


def grid_summary(result: SearchResult) -> dict[str, Any]:
    """A learning-rate x batch-size grid search as a matrix of validation accuracies.

    Returns ``{"learning_rates", "batch_sizes", "val_accuracy" (rows: learning rates,
    ``None`` for failed cells), "best"}``; ``best`` is the selected record's settings
    and accuracies (chosen on validation).
    """
    cells = {}
    for r in result.records:
        if r.spec is None or r.is_compression_stage:
            continue
        cells[(r.spec.learning_rate, r.spec.batch_size)] = r.val_accuracy if r.status == COMPLETED else None
    lrs = sorted({k[0] for k in cells})
    sizes = sorted({k[1] for k in cells})
    best = None
    if result.selected:
        chosen = next(iter(result.selected.values())).record
        best = {"learning_rate": chosen.spec.learning_rate, "batch_size": chosen.spec.batch_size,
                "val_accuracy": chosen.val_accuracy, "train_accuracy": chosen.train_accuracy,
                "test_accuracy": chosen.test_accuracy, "test_loss": chosen.test_loss,
                "architecture": chosen.spec.architecture, "epochs": chosen.epochs}
    return {"learning_rates": lrs, "batch_sizes": sizes,
            "val_accuracy": [[cells.get((lr, bs)) for bs in sizes] for lr in lrs], "best": best}


def curves_data(history: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Per-epoch series for the accuracy and loss panels.

    Example:
        >>> d = curves_data({"loss": [0.5, 0.3], "val_loss": [0.6, 0.4],
        ...                  "accuracy": [0.8, 0.9], "val_accuracy": [0.7, 0.85]})
        >>> d["epochs"], sorted(d["panels"])
        ([1, 2], ['accuracy', 'loss'])
    """
    n = max((len(v) for v in history.values()), default=0)
    panels: dict[str, dict[str, list[float]]] = {}
    for metric in ("accuracy", "loss"):
        series = {}
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in history:
                series[label] = [float(v) for v in history[key]]
        if series:
            panels[metric] = series
    return {"epochs": list(range(1, n + 1)), "panels": panels}


def comparison_data(
    histories: Mapping[str, Mapping[str, Sequence[float]]], metrics: Sequence[str] = ("val_accuracy", "val_loss")
) -> dict[str, Any]:
    """Per-metric series of several runs, for one figure with a panel per metric.

    Example:
        >>> d = comparison_data({"adam": {"val_accuracy": [0.9, 0.95]}, "sgd": {"val_accuracy": [0.8]}},
        ...                     metrics=("val_accuracy",))
        >>> d["panels"]["val_accuracy"]
        {'adam': {'epochs': [1, 2], 'values': [0.9, 0.95]}, 'sgd': {'epochs': [1], 'values': [0.8]}}
    """
    panels: dict[str, dict[str, dict[str, list]]] = {}
    for metric in metrics:
        series = {}
        for label, history in histories.items():
            values = [float(v) for v in history.get(metric, [])]
            if values:
                series[label] = {"epochs": list(range(1, len(values) + 1)), "values": values}
        panels[metric] = series
    return {"metrics": list(metrics), "panels": panels}


def pareto_plot_data(points: Sequence[Mapping[str, Any]], x: str, y: str = "val_accuracy", *,
                     selected: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """What an accuracy-versus-size plot shows, from report rows (dicts with ``x``, ``y``,
    ``budget``, ``stage``, ``pareto`` and ``fully_trained``): the front (smallest first: the
    best fully trained model at or below each size, a monotone curve), the dominated fully
    trained points, the ``short`` ones (Hyperband rungs cut short: drawn faint, never on the
    front), the ``selected`` models' test accuracy with its 95% interval, and
    :func:`curve_marks` (the reference's points and the baseline, on the parameter axis).

    Example:
        >>> rows = [{"params": 10, "val_accuracy": 0.9, "budget": 10, "stage": "dense", "pareto": {"params": True}},
        ...         {"params": 20, "val_accuracy": 0.8, "budget": 20, "stage": "dense", "pareto": {"params": False}},
        ...         {"params": 15, "val_accuracy": 0.6, "budget": 20, "stage": "dense", "pareto": {"params": False},
        ...          "fully_trained": False}]
        >>> d = pareto_plot_data(rows, "params", selected=[{"params": 10, "budget": 10, "test_accuracy": 0.89,
        ...                                                 "test_interval": [0.88, 0.90]}])
        >>> [p["label"] for p in d["front"]], len(d["dominated"]), len(d["short"]), d["selected"][0]["y"]
        (['10 dense'], 1, 1, 0.89)

    Front points of equal size and accuracy are drawn once, labelled together
    (``"4,034 dense / float32"``).
    """
    front, dominated, short = [], [], []
    for row in points:
        if row.get(x) is None or row.get(y) is None:
            continue
        point = {"x": row[x], "y": row[y], "budget": row["budget"], "stage": row["stage"],
                 "family": Stage.parse(row["stage"]).family, "model_family": row.get("family"),
                 "label": f"{row['budget']:,} {row['stage']}" + (f" {row['family']}" if marks_family(row.get("family"))
                                                                  else "")}
        if row["pareto"].get(x):
            front.append(point)
        else:
            (dominated if row.get("fully_trained", True) else short).append(point)
    front.sort(key=lambda p: (p["x"], -p["y"]))
    merged: list[dict[str, Any]] = []  # equal points (e.g. a model and its float32 file) share one label
    for point in front:
        if merged and (merged[-1]["x"], merged[-1]["y"]) == (point["x"], point["y"]):
            merged[-1]["same"].append(point)
        else:
            merged.append({**point, "same": []})
    for point in merged:
        names = [point["label"]] + [
            q["stage"] if q["budget"] == point["budget"] else q["label"] for q in point["same"]]
        point["label"] = " / ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
    chosen = [{"x": s[x], "y": s["test_accuracy"], "budget": s["budget"],
               "low": (s.get("test_interval") or [s["test_accuracy"]] * 2)[0],
               "high": (s.get("test_interval") or [s["test_accuracy"]] * 2)[1]}
              for s in selected if s.get(x) is not None and s.get("test_accuracy") is not None]
    return {"x": x, "y": y, "front": merged, "dominated": dominated, "short": short,
            "selected": sorted(chosen, key=lambda p: p["x"]), "dense_front": _dense_front(merged, dominated),
            **curve_marks(x)}


def _dense_front(front: Sequence[Mapping[str, Any]], dominated: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The best dense trained model at or below each size (``{"x", "y"}``, smallest first), for a
    plot whose front holds pruned models too (a non-zero search, whose sparsity-0 trials are dense):
    the two curves side by side. Empty when there is no such comparison to draw.

    Example:
        >>> pts = [{"x": 10, "y": 0.9, "family": "trained"}, {"x": 30, "y": 0.95, "family": "pruned"},
        ...        {"x": 20, "y": 0.85, "family": "trained"}, {"x": 40, "y": 0.93, "family": "trained"}]
        >>> _dense_front(pts[1:2], [pts[0], pts[2], pts[3]])
        [{'x': 10, 'y': 0.9}, {'x': 40, 'y': 0.93}]
    """
    if all(p["family"] == "trained" for p in front):
        return []
    dense = sorted((p for p in (*front, *dominated) if p["family"] == "trained"), key=lambda p: (p["x"], -p["y"]))
    out: list[dict[str, Any]] = []
    for p in dense:
        if not out or p["y"] > out[-1]["y"]:
            out.append({"x": p["x"], "y": p["y"]})
    return out if len(out) >= 2 else []


def curve_marks(x: str) -> dict[str, Any]:
    """What an accuracy-versus-``x`` plot marks besides the records: on the parameter axis, the
    reference's three points (their *train* accuracy, as published) and the baseline's size.

    Example:
        >>> m = curve_marks("params")
        >>> [p["x"] for p in m["reference"]], m["baseline"]["x"]
        ([93322, 72842, 4034], 109386)
        >>> curve_marks("bytes")
        {'reference': [], 'baseline': None}
    """
    if x != "params":
        return {"reference": [], "baseline": None}
    return {"reference": [{"x": int(r["params"]), "y": r["accuracy"],
                           "label": f"reference {int(r['params']):,} (train {r['accuracy']:.4f})"} for r in REFERENCE],
            "baseline": {"x": BASELINE_PARAMS, "label": f"baseline {MLPSpec.baseline().architecture}"}}


def pareto_y_floor(data: Mapping[str, Any], margin: float = 0.25) -> float:
    """Lowest accuracy a Pareto plot shows: the front's range plus ``margin`` of it (at least
    0.02) below, so far-off failures do not squash the front; ``-inf`` without a front.

    Example:
        >>> pareto_y_floor({"front": [{"y": 0.90}, {"y": 0.98}], "dominated": []})
        0.88
    """
    ys = [p["y"] for p in data["front"]] + [p["low"] for p in data.get("selected", ())]
    if not data["front"]:
        return -np.inf
    spread = max(ys) - min(ys)
    return round(min(ys) - max(margin * spread, 0.02), 6)
