"""``write_report``: a search's (or a compression's) result as JSON, Markdown, HTML and plots.

Everything is computed from a :class:`~mnistopt.records.SearchResult` alone
(``result.json``), so a report can be re-rendered at any time without the
models or the data. Two steps, as everywhere in :mod:`mnistopt.report`:
:mod:`mnistopt.report.data` computes plain data (tested as data), this module
formats it (Markdown and HTML from one small document model) and
:mod:`mnistopt.report.plots` draws it.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_json, atomic_write_text, ensure_dir
from ..records import CompressionResult, SearchResult, load_result
from ..tflm import NOT_INSTALLED
from .data import FRONT_AXES, comparison_rows, family_price_data, front_histories, grid_summary, pareto_plot_data, \
    report_data
from .pareto import SIZE_AXES
from .plots import AXIS_NAMES, plot_confusion_matrix, plot_curve_comparison, plot_family_prices, plot_heatmap, \
    plot_pareto

__all__ = ["write_report", "summary_markdown", "search_table", "stages_table", "comparison_markdown",
           "write_comparison", "grid_markdown", "write_grid_report"]


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------


def write_report(
    result: SearchResult | CompressionResult | str | os.PathLike, out_dir: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``report.html`` and the PNG plots.

    Args:
        result: a :class:`~mnistopt.records.SearchResult` (from
            :func:`~mnistopt.search_under_budget`), a
            :class:`~mnistopt.records.CompressionResult` (from
            :func:`~mnistopt.compress_model`), or the path of a saved
            ``result.json`` (or of the directory holding it).
        out_dir: where the files go (default: the directory of ``result.json``
            when ``result`` is a path).

    Plots: ``pareto-<axis>.png`` for each of :data:`FRONT_AXES` that some
    record has (log-scale size, front highlighted and labelled by budget and
    stage), ``front-curves.png`` (validation curves of the front models),
    ``confusion-<budget>.png`` for each selected model, ``families.png`` (a
    search of several families: each family's best model against MACs,
    tensor arena and latency). ``report.html`` is one
    file with inline styles that shows the PNGs beside it.

    Returns:
        Each file's path, by role.

    Example:
        >>> files = write_report("runs/search")  # doctest: +SKIP
        >>> sorted(files)[:3]  # doctest: +SKIP
        ['confusion-4034', 'front-curves', 'html']
    """
    if not isinstance(result, (SearchResult, CompressionResult)):
        path = Path(result)
        if path.is_dir():
            path = path / "result.json"
        if not path.is_file():
            from ..errors import DataNotFoundError

            raise DataNotFoundError(f"No result file at {path}. Pass a directory written by `mnistopt search` "
                                    "or `mnistopt compress` (it holds result.json).")
        out_dir = path.parent if out_dir is None else out_dir
        result = load_result(path)
    if out_dir is None:
        from ..errors import ArgumentError

        raise ArgumentError("`out_dir` is required when `result` is a result object, not a path.")
    out = ensure_dir(out_dir, "out_dir")
    data = report_data(result)
    files: dict[str, Path] = {}
    figures: list[tuple[str, str, str]] = []  # (role, file name, caption)
    lines = (data.get("limits") or {}).get("lines") or {}
    for x in FRONT_AXES:
        plot = pareto_plot_data(data["records"], x, selected=data["selected"])
        if not plot["front"]:
            continue
        if x in lines:
            plot["limit"] = lines[x]
        name = f"pareto-{x}.png"
        files[f"pareto-{x}"] = plot_pareto(plot, out / name)
        figures.append((f"pareto-{x}", name, _curve_caption(x, plot)))
    prices = family_price_data(data["families"])
    if prices:
        files["families"] = plot_family_prices(prices, out / "families.png", limits=lines)
        figures.append(("families", "families.png", "Each family's best model per budget: its int8-io file's "
                        "validation accuracy against MACs, tensor arena and latency (CNN open, MLP filled)"
                        + ("; the search's limits dashed" if any(a in lines for a in prices) else "")))
    curves = front_histories(result, data)
    if curves:
        files["front-curves"] = plot_curve_comparison(
            curves, out / "front-curves.png", metrics=("val_accuracy", "loss"),
            title="training curves of the models on the parameter front")
        figures.append(("front-curves", "front-curves.png", "Validation accuracy and training loss per epoch of "
                        "the models on the parameter front"))
    for s in data["selected"]:
        c = s.get("classification")
        if not c:
            continue
        name = f"confusion-{s['budget']}.png"
        files[f"confusion-{s['budget']}"] = plot_confusion_matrix(
            c["confusion_matrix"], out / name, c.get("class_names"),
            title=f"budget {s['budget']:,}: {s['architecture']}, test accuracy {c['accuracy']:.4f}")
        figures.append((f"confusion-{s['budget']}", name, f"Test confusion matrix, budget {s['budget']:,}"))
    data["figures"] = [{"role": role, "file": name, "caption": cap} for role, name, cap in figures]
    blocks = _document(data)
    files["json"] = atomic_write_json(out / "report.json", data)
    files["markdown"] = atomic_write_text(out / "report.md", _to_markdown(blocks))
    files["html"] = atomic_write_text(out / "report.html", _to_html(blocks, data["title"]))
    return files


def _curve_caption(x: str, plot: Mapping[str, Any]) -> str:
    caption = (f"Validation accuracy versus {AXIS_NAMES.get(x, x)}: the step curve is the best fully trained model "
               "at or below each size (monotone by definition)")
    if plot["short"]:
        caption += f"; {len(plot['short'])} short Hyperband rung(s) drawn faint, never on the curve"
    if plot["selected"]:
        caption += "; diamonds: each selected model's test accuracy with its 95% Wilson interval"
    if plot["reference"]:
        caption += "; stars: the reference's models (train accuracy); dashed: the 109,386-parameter baseline"
    return caption + "."


# A tiny document model, so Markdown and HTML say the same thing: each kind of block is a class
# that writes itself in both formats.
@dataclasses.dataclass(frozen=True)
class Heading:
    level: int
    text: str

    def markdown(self) -> str:
        return f"{'#' * self.level} {self.text}"

    def html(self) -> str:
        return f"<h{self.level}>{html.escape(self.text)}</h{self.level}>"


@dataclasses.dataclass(frozen=True)
class Paragraph:
    text: str

    def markdown(self) -> str:
        return self.text

    def html(self) -> str:
        return f"<p>{_inline(self.text)}</p>"


@dataclasses.dataclass(frozen=True)
class Image:
    path: str
    caption: str

    def markdown(self) -> str:
        return f"![{self.caption}]({self.path})"

    def html(self) -> str:
        return (f'<figure><img src="{html.escape(self.path)}" alt="{html.escape(self.caption)}">'
                f"<figcaption>{html.escape(self.caption)}</figcaption></figure>")


@dataclasses.dataclass(frozen=True)
class Preformatted:
    text: str

    def markdown(self) -> str:
        return "```\n" + self.text.rstrip() + "\n```"

    def html(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"


@dataclasses.dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: tuple[bool, ...]  # right-aligned (numeric) columns

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |",
                 "|" + "|".join("---:" if r else ":---" for r in self.right) + "|"]
        return "\n".join(lines + ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in self.rows])

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f'<td{" class=r" if r else ""}>{html.escape(c)}</td>' for c, r in zip(row, self.right))
            + "</tr>" for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


Block = Heading | Paragraph | Image | Preformatted | Table


def _acc(value: float | None, interval: Sequence[float] | None = None) -> str:
    """An accuracy with ``± half`` its 95% interval, when it has one."""
    if value is None:
        return ""
    return f"{value:.4f}" + (f" ± {(interval[1] - interval[0]) / 2:.4f}" if interval else "")


def _fmt(value: Any, kind: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if kind == "acc":
        return f"{value:.4f}"
    if kind == "gap":
        return f"{value:+.4f}"
    if kind == "s":
        return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None) -> Table:
    right = list(right) if right is not None else [False] + [True] * (len(headers) - 1)
    return Table(tuple(headers), tuple(tuple(str(c) for c in row) for row in rows), tuple(right))


def _record_row(r: Mapping[str, Any]) -> list[str]:
    spec = r.get("spec") or {}
    training = f"{spec.get('optimizer', '')} lr={spec['learning_rate']:.2g} bs={spec.get('batch_size')}" \
        if spec.get("learning_rate") is not None else ""
    return [_fmt(r["budget"]), r["stage"], r.get("family") or "", f"{r.get('architecture') or ''} {training}".strip(),
            _fmt(r["params"]),
            _fmt(r.get("nonzero_params")), _fmt(r.get("bytes")), _fmt(r.get("gzip_bytes")), _fmt(r.get("macs")),
            _fmt(r.get("arena_bytes")), _tflm_arena(r), _latency(r.get("latency_us")),
            _acc(r.get("val_accuracy"), r.get("val_interval")), _acc(r.get("test_accuracy"), r.get("test_interval")),
            _fmt(r.get("tflm_test_accuracy"), "acc")]


def _tflm_arena(r: Mapping[str, Any]) -> str:
    """A file's TFLM arena, or why TFLM does not run it (``does not run on TFLM (no GELU kernel)``);
    empty where no file was measured."""
    reason = r.get("tflm_reason")
    if r.get("tflm_arena_bytes") is not None or not reason:
        return _fmt(r.get("tflm_arena_bytes"))
    if reason == NOT_INSTALLED:
        return "not measured"
    return f"does not run on TFLM ({reason.removeprefix('TFLM ')})"


def _latency(us: float | None) -> str:
    return "" if us is None else f"{us:,.1f}"


_FILE_ONLY = {a.field for a in SIZE_AXES if a.file_only}
_RECORD_HEADERS = ["budget", "stage", "family", "model", "params", "nonzero", "bytes", "gzip bytes", "MACs", "arena bytes",
                   "TFLM arena bytes", "latency µs", "val accuracy", "test accuracy", "TFLM test accuracy"]


def _summary_blocks(data: Mapping[str, Any]) -> list[Block]:
    """The selected models, the device limits, the families, the reference table and the accuracy gaps."""
    return [*_selected_blocks(data), *_limits_blocks(data), *_family_blocks(data), *_reference_blocks(data)]


def _selected_blocks(data: Mapping[str, Any]) -> list[Block]:
    """The selected model of each budget, and how it was trained again."""
    blocks: list[Block] = []
    if data["selected"]:
        blocks.append(Heading(2, "Selected model per budget"))
        blocks.append(Paragraph(_interval_note(data)))
        blocks.append(_table(
            ["budget", "family", "selected", "stage", "params", "nonzero", "bytes", "MACs", "arena bytes",
             "latency µs", "train accuracy", "val accuracy", "test accuracy", "test loss",
             "smallest file (test accuracy)"],
            [[_fmt(s["budget"]), s.get("family") or "", f"{s['architecture']} {s['optimizer']} lr={s['learning_rate']:.2g} "
              f"bs={s['batch_size']}", s["stage"], _fmt(s["params"]), _fmt(s["nonzero_params"]), _fmt(s["bytes"]),
              _fmt(s.get("macs")), _fmt(s.get("arena_bytes")), _latency(s.get("latency_us")),
              _acc(s["train_accuracy"], s.get("train_interval")), _acc(s["val_accuracy"], s.get("val_interval")),
              _acc(s["test_accuracy"], s.get("test_interval")), _fmt(s["test_loss"], "acc"),
              "" if not s["smallest_file"] else f"{s['smallest_file']['stage']}: {s['smallest_file']['bytes']:,} B "
              f"({s['smallest_file']['test_accuracy']:.4f})"]
             for s in sorted(data["selected"], key=lambda s: s["budget"])],
            [True, False, False, False] + [True] * 11))
        again = [s for s in sorted(data["selected"], key=lambda s: s["budget"]) if s.get("retrain_epochs")]
        if again:
            blocks.append(Paragraph(
                "Trained again after selection (the trial's validation accuracy above chose the spec; the model "
                "trained again is the one saved and tested): " + "; ".join(
                    f"budget {s['budget']:,}, {s['retrain_epochs']} epochs"
                    + (f", validation accuracy {s['retrain_val_accuracy']:.4f}"
                       if s.get("retrain_val_accuracy") is not None else " on train + validation")
                    for s in again) + "."))
    return blocks


def _limits_blocks(data: Mapping[str, Any]) -> list[Block]:
    """How the device limits were kept, and each budget's best model under them."""
    blocks: list[Block] = []
    limits = data.get("limits")
    if not limits:
        return blocks
    blocks.append(Heading(2, "Device limits"))
    how = []
    if limits["by_construction"]:
        how.append(f"{', '.join(limits['by_construction'])}: met by construction (each sampled model was made as "
                   f"wide as its budget and these limits allow, by arithmetic on the spec, before it trained)")
    if limits["measured"]:
        how.append(f"{', '.join(limits['measured'])}: measured on each trained trial's {limits['format']} file; "
                   f"{limits['failed']} trial(s) over them failed and were not ranked")
    blocks.append(Paragraph(f"Every model was held within {limits['described']} (the file is the "
                            f"{limits['format']} file; the tensor arena is the one TensorFlow Lite Micro "
                            f"allocates for it, measured by TFLM's own interpreter on each trained trial's "
                            f"file). " + "; ".join(how) + ". Each budget's selected model is its best under all "
                            "of them:"))
    names = list(limits["limits"])
    blocks.append(_table(
        ["budget", "family", "model", "params"] + [f"{n} (limit)" for n in names]
        + ["val accuracy", "test accuracy"],
        [[_fmt(b["budget"]), b.get("family") or "", b["architecture"], _fmt(b["params"])]
         + [f"{_fmt(b['figures'][n][0]) if n != 'latency_us' else _latency(b['figures'][n][0])} "
            f"({b['figures'][n][1]:,})" for n in names]
         + [_fmt(b["val_accuracy"], "acc"), _fmt(b["test_accuracy"], "acc")] for b in limits["best"]],
        [True, False, False] + [True] * (len(names) + 3)))
    return blocks


def _family_blocks(data: Mapping[str, Any]) -> list[Block]:
    """Each family's best trial per budget and the price of shipping it."""
    blocks: list[Block] = []
    if data.get("families"):
        blocks.append(Heading(2, "Model families"))
        blocks.append(Paragraph(
            "Each family's best trial per budget (on validation accuracy) and the price of shipping it: "
            "multiply-accumulates per image and, where measured, its int8-io .tflite file's (int8 input and output) bytes, tensor arena "
            "(activations, and all TensorFlow Lite Micro allocates) and single-image latency (on this machine), with "
            "the file's own validation accuracy on LiteRT and on TFLM. Test accuracy is the selected model's only."))
        blocks.append(_table(
            ["budget", "family", "model", "params", "MACs", "val accuracy", "int8-io file val accuracy",
             "on TFLM", "bytes", "arena bytes", "TFLM arena bytes", "latency µs", "test accuracy"],
            [[_fmt(f["budget"]), f["family"] + (" (selected)" if f["selected"] else ""), f["architecture"],
              _fmt(f["params"]), _fmt(f["macs"]), _fmt(f["val_accuracy"], "acc"),
              _fmt(f.get("file_val_accuracy"), "acc"), _fmt(f.get("tflm_val_accuracy"), "acc"), _fmt(f.get("bytes")),
              _fmt(f.get("arena_bytes")), _tflm_arena(f), _latency(f.get("latency_us")),
              _fmt(f.get("test_accuracy"), "acc")] for f in data["families"]],
            [True, False, False] + [True] * 10))
        figure = next((f for f in data.get("figures", ()) if f["role"] == "families"), None)
        if figure is not None:
            blocks.append(Image(figure["file"], figure["caption"]))
    return blocks


def _reference_blocks(data: Mapping[str, Any]) -> list[Block]:
    """The reference notebook's figures beside ours, and the accuracy gaps."""
    blocks: list[Block] = []
    blocks.append(Heading(2, "Reference comparison"))
    blocks.append(Paragraph("The reference notebook's figures were measured on its training set (60,000 MNIST "
                   "images); ours are train accuracy (comparable with the reference), test accuracy (the honest "
                   "number) and test loss, for the model selected at each reference budget."))
    blocks.append(_table(
        ["budget", "reference accuracy (train)", "reference loss (train)", "our train accuracy",
         "our test accuracy", "our test loss", "params", "nonzero", "bytes"],
        [[_fmt(r["budget"]), _fmt(r["reference_accuracy"], "acc"), _fmt(r["reference_loss"], "acc")]
         + ([_acc(r["ours"]["train_accuracy"], r["ours"].get("train_interval")),
             _acc(r["ours"]["test_accuracy"], r["ours"].get("test_interval")),
             _fmt(r["ours"]["test_loss"], "acc"), _fmt(r["ours"]["params"]), _fmt(r["ours"]["nonzero_params"]),
             _fmt(r["ours"]["bytes"])] if r["ours"] else ["not searched"] + [""] * 5)
         for r in data["reference"]]))
    blocks.append(Heading(3, "Accuracy gap versus parameter ratio"))
    near, far = data["gaps"][0], data["gaps"][1]
    blocks.append(Paragraph("For each pair of reference budgets: how many times more parameters the larger model has, "
                   f"and how much accuracy that buys. The reference's {near['larger']:,} and {near['smaller']:,} "
                   f"models are nearly equal in accuracy (gap {near['reference_gap']:.4f}) while "
                   f"{near['reference_ratio']:.2f}x apart in size; {far['smaller']:,} parameters cost "
                   f"{far['reference_gap']:.4f} of train accuracy at {far['reference_ratio']:.0f}x fewer parameters."
                   + _our_gap_sentence(near, far)))
    blocks.append(_table(
        ["pair", "reference ratio", "reference gap (train)", "our ratio", "our gap (train)", "our gap (test)",
         "95% interval of our test gap", "our test gap per 2x params"],
        [[f"{g['larger']:,} vs {g['smaller']:,}", f"{g['reference_ratio']:.2f}x", _fmt(g["reference_gap"], "gap")]
         + ([f"{g['ours']['ratio']:.2f}x", _fmt(g["ours"]["train_gap"], "gap"), _fmt(g["ours"]["test_gap"], "gap"),
             _gap_interval(g["ours"]), _fmt(g["ours"]["test_gap_per_doubling"], "gap")]
            if g["ours"] else ["not searched", "", "", "", ""])
         for g in data["gaps"]]))
    return blocks


def _gap_interval(ours: Mapping[str, Any]) -> str:
    interval = ours.get("test_gap_interval")
    if interval is None:
        return ""
    verdict = "inside the noise" if ours["inside_noise"] else "outside the noise"
    return f"[{interval[0]:+.4f}, {interval[1]:+.4f}]: {verdict}"


def _interval_note(data: Mapping[str, Any]) -> str:
    sizes = data.get("split_sizes") or {}
    if not sizes:
        return "The number of images behind each accuracy is not recorded, so no interval is shown."
    return ("± is half the 95% Wilson interval of each accuracy, from the images it was measured on ("
            + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + "). MACs: multiply-accumulates per image; "
            "bytes, arena bytes and latency (median of single-image invocations, one thread, this machine) are "
            "those of the model's `.tflite` file where one was made: the trial's own file for a bytes budget, "
            "else its float32 file after compression; under device limits the arena is its int8-io file's (by "
            "arithmetic, equal to the file's), and so are bytes and latency when a limit measured them.")


def summary_markdown(data: Mapping[str, Any]) -> str:
    """The selected-model, reference and gap tables of :func:`report_data` as Markdown
    (what ``mnistopt search`` and the benchmarks print)."""
    return _to_markdown(_summary_blocks(data))


def _document(data: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [Heading(1, data["title"])]
    ds = data.get("dataset") or {}
    sizes = ds.get("sizes") or {}
    if ds:
        blocks.append(Paragraph(f"Data: **{ds.get('name')}** from `{ds.get('source')}`: "
                       + ", ".join(f"{k} {v:,}" for k, v in sizes.items())
                       + f" (validation split seed {ds.get('seed')})."))
    blocks.append(Paragraph(data["note"]))
    figures = {f["role"]: f for f in data.get("figures", [])}

    blocks += _summary_blocks(data)
    records = data["records"]
    for x in FRONT_AXES:
        front = data["fronts"][x]
        blocks.append(Heading(2, f"Front: validation accuracy versus {AXIS_NAMES.get(x, x)}"))
        if not front["members"]:
            blocks.append(Paragraph(f"No record has `{x}`" + (" (run the search with `--compress` to export files)."
                                                          if x in _FILE_ONLY else ".")))
            continue
        hv = front["hypervolume"]
        blocks.append(Paragraph(f"{len(front['members'])} of {front['eligible']} fully trained records are on the front "
                       f"(no other record is at most as large and at least as accurate on validation)"
                       + (f"; hypervolume {hv:.4f} (log10 {x} x accuracy)" if hv is not None else "")
                       + (f"; {front['short']} Hyperband trial(s) cut short at a lower rung are left out of it."
                          if front.get("short") else ".")))
        if f"pareto-{x}" in figures:
            f = figures[f"pareto-{x}"]
            blocks.append(Image(f["file"], f["caption"]))
        blocks.append(_table(_RECORD_HEADERS, [_record_row(records[i]) for i in front["members"]],
                             [True, False, False, False] + [True] * 9))

    if "front-curves" in figures:
        blocks.append(Heading(2, "Training curves of the front models"))
        f = figures["front-curves"]
        blocks.append(Image(f["file"], f["caption"]))

    confusion = [s for s in data["selected"] if s.get("classification")]
    if confusion:
        blocks.append(Heading(2, "Confusion matrices and classification reports (test set)"))
        for s in sorted(confusion, key=lambda s: s["budget"]):
            blocks.append(Heading(3, f"Budget {s['budget']:,}: {s['architecture']} ({s['stage']})"))
            f = figures.get(f"confusion-{s['budget']}")
            if f:
                blocks.append(Image(f["file"], f["caption"]))
            blocks.append(Preformatted(s["classification"].get("report_text", "")))

    blocks.append(Heading(2, "Stages and time"))
    blocks.append(Paragraph("Stages in this result: " + ", ".join(f"`{s}`" for s in data["stages"]) + "."))
    blocks.append(_table(
        ["budget", "trials", "trial time", "compression stages", "compression time"],
        [[_fmt(int(b)), _fmt(t["trials"]), _fmt(t["trial_time_s"], "s"), _fmt(t["stages"]),
          _fmt(t["stage_time_s"], "s")] for b, t in sorted(data["times"].items(), key=lambda kv: int(kv[0]))]))
    if data.get("wall_time_s") is not None:
        blocks.append(Paragraph(f"Wall time of the last run: {_fmt(data['wall_time_s'], 's')} (a resumed run counts "
                       "only its own time; the trial times above add up every run)."))
    blocks.append(Heading(2, "Environment"))
    env = data.get("environment") or {}
    blocks.append(_table(["package", "version"], [[k, v] for k, v in env.items()], [False, False]))
    settings = data.get("settings") or {}
    if settings:
        keep = {k: v for k, v in settings.items() if k != "space"}
        blocks.append(Paragraph("Settings: " + ", ".join(f"{k}={v}" for k, v in keep.items()) + "."))
    return blocks


def _our_gap_sentence(near: Mapping[str, Any], far: Mapping[str, Any]) -> str:
    if not (near["ours"] and far["ours"]):
        return ""
    return (f" Ours, on test accuracy: {near['ours']['test_gap']:+.4f} at {near['ours']['ratio']:.2f}x and "
            f"{far['ours']['test_gap']:+.4f} at {far['ours']['ratio']:.0f}x.")


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _to_markdown(blocks: Sequence[Block]) -> str:
    return "\n\n".join(b.markdown() for b in blocks) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }
th { background: #f3f3f3; }
td.r { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
figure { margin: 1em 0; }
figcaption { font-size: 0.85em; color: #555; }
"""


def _inline(text: str) -> str:
    """Markdown's inline ``code`` and **bold**, as HTML (after escaping)."""
    import re

    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _to_html(blocks: Sequence[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    out += [b.html() for b in blocks]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# The tables the command line prints
# --------------------------------------------------------------------------


def stages_table(result: SearchResult | CompressionResult, stages_only: bool = False) -> str:
    """A Markdown table of compression stages, one row per record (figures measured on each file);
    ``stages_only`` leaves out a search's trials. The CLI prints it after ``mnistopt compress``."""
    lines = [
        "| budget | stage | params | nonzero | bytes | gzip bytes | MACs | arena bytes | TFLM arena bytes | latency µs "
        "| val accuracy | test accuracy | TFLM test accuracy |",
        "|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.records:
        if stages_only and not r.is_compression_stage:
            continue
        lines.append(
            f"| {r.budget:,} | {r.stage} | {r.params:,} | {r.nonzero_params:,} | {r.bytes:,} | {r.gzip_bytes:,} | "
            f"{_fmt(r.macs)} | {_fmt(r.arena_bytes)} | {_tflm_arena(r.to_dict())} | {_latency(r.latency_us)} | "
            f"{r.val_accuracy:.4f} | {r.test_accuracy:.4f} | {_fmt(r.tflm_test_accuracy, 'acc')} |"
        )
    return "\n".join(lines)


def search_table(result: SearchResult) -> str:
    """A Markdown table of the selected model per budget, as ``mnistopt search`` prints it.

    Example:
        >>> from mnistopt.records import SearchResult
        >>> print(search_table(SearchResult(records=(), selected={})))
        | budget | family | selected | stage | params | nonzero | MACs | trials | val accuracy | test accuracy |
        |---:|:---|:---|:---|---:|---:|---:|---:|---:|---:|
    """
    lines = [
        "| budget | family | selected | stage | params | nonzero | MACs | trials | val accuracy | test accuracy |",
        "|---:|:---|:---|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for budget in result.budgets:
        sel = result.selected.get(budget)
        n = sum(not r.is_compression_stage for r in result.for_budget(budget))
        if sel is None:
            lines.append(f"| {budget:,} | | (none) | | | | | {n} | | |")
            continue
        r = sel.record
        lines.append(
            f"| {budget:,} | {r.family} | {r.spec.architecture} {r.spec.optimizer} lr={r.spec.learning_rate:.2g} "
            f"bs={r.spec.batch_size} | {r.stage} | {r.params:,} | {r.nonzero_params or r.params:,} | {r.macs:,} | {n} | "
            f"{r.val_accuracy:.4f} | {r.test_accuracy:.4f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Training comparisons (optimizers, regularisation) and the reference grid
# --------------------------------------------------------------------------


def _comparison_table(rows: Sequence[Mapping[str, Any]]):
    return _table(
        ["variant", "optimizer", "lr", "momentum", "batch", "dropout", "L2", "epochs", "train accuracy",
         "final val accuracy",
         "best val accuracy (epoch)", "test accuracy", "test loss", "time"],
        [[("**" + r["variant"] + "**") if r["chosen"] else r["variant"], r["optimizer"], f"{r['learning_rate']:g}",
          "" if r["momentum"] is None else f"{r['momentum']:g}", _fmt(r["batch_size"]), f"{r['dropout']:g}", f"{r['l2']:g}", _fmt(r["epochs"]),
          _fmt(r["train_accuracy"], "acc"), _fmt(r["val_accuracy"], "acc"),
          f"{_fmt(r['best_val_accuracy'], 'acc')} ({r['best_epoch']})", _fmt(r["test_accuracy"], "acc"),
          _fmt(r["test_loss"], "acc"), _fmt(r["wall_time_s"], "s")] for r in rows],
        [False, False] + [True] * 12)


def write_comparison(
    runs: Mapping[str, Mapping[str, Any]], out_dir: str | os.PathLike, *, title: str = "Training comparison",
    dataset: Mapping[str, Any] | None = None, name: str = "comparison",
) -> dict[str, Path]:
    """Validation curves of every variant in one figure, and a table (JSON, Markdown, HTML).

    Args:
        runs: ``TrainResult.to_dict()`` of each variant, keyed by its name.
        out_dir: where ``NAME.json``, ``NAME.md``, ``NAME.html`` and ``NAME-curves.png`` go.
        dataset: ``Dataset.describe()``, named in the documents.
    """
    from .._env import environment

    out = ensure_dir(out_dir, "out_dir")
    rows = comparison_rows(runs)
    curves = plot_curve_comparison({k: r["history"] for k, r in runs.items()}, out / f"{name}-curves.png",
                                   metrics=("val_accuracy", "val_loss"), title=title)
    blocks: list[Block] = [Heading(1, title)]
    if dataset:
        blocks.append(Paragraph(f"Data: **{dataset.get('name')}** from `{dataset.get('source')}`: "
                       + ", ".join(f"{k} {v:,}" for k, v in (dataset.get("sizes") or {}).items()) + "."))
    blocks.append(Paragraph("The variant in bold has the best final validation accuracy; the test accuracy chose "
                   "nothing. Train accuracy is measured on the whole train split after training."))
    blocks.append(Image(curves.name, "Validation accuracy and loss per epoch of every variant"))
    blocks.append(_comparison_table(rows))
    env = environment()
    blocks.append(Paragraph("Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()) + "."))
    files = {"curves": curves}
    files["json"] = atomic_write_json(out / f"{name}.json", {"title": title, "dataset": dataset, "rows": rows,
                                                            "runs": dict(runs), "environment": env})
    files["markdown"] = atomic_write_text(out / f"{name}.md", _to_markdown(blocks))
    files["html"] = atomic_write_text(out / f"{name}.html", _to_html(blocks, title))
    return files


def comparison_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table of :func:`comparison_rows` as Markdown."""
    return _to_markdown([_comparison_table(rows)])


def grid_markdown(summary: Mapping[str, Any]) -> str:
    """The grid of :func:`grid_summary` as a Markdown table (learning rates down, batch sizes across)."""
    rows = [[f"{lr:g}"] + [_fmt(v, "acc") if v is not None else "failed" for v in values]
            for lr, values in zip(summary["learning_rates"], summary["val_accuracy"])]
    text = _to_markdown([_table(["learning rate / batch size"] + [str(b) for b in summary["batch_sizes"]], rows)])
    b = summary["best"]
    if b:
        text += (f"\nBest combination (validation): learning rate {b['learning_rate']:g}, batch size "
                 f"{b['batch_size']}: val {b['val_accuracy']:.4f}, train {_fmt(b['train_accuracy'], 'acc')}, "
                 f"test {_fmt(b['test_accuracy'], 'acc')} (test chose nothing).\n")
    return text


def write_grid_report(result: SearchResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """``grid.json``, ``grid.md`` and the ``grid.png`` heat map of a learning-rate x batch-size search."""
    out = ensure_dir(out_dir, "out_dir")
    summary = grid_summary(result)
    grid = [[v if v is not None else float("nan") for v in row] for row in summary["val_accuracy"]]
    png = plot_heatmap(grid, [f"{lr:g}" for lr in summary["learning_rates"]],
                       [str(b) for b in summary["batch_sizes"]], out / "grid.png", xlabel="batch size",
                       ylabel="learning rate", title="validation accuracy")
    md = "# Learning rate x batch size\n\n![validation accuracy per combination](grid.png)\n\n" + grid_markdown(summary)
    return {"png": png, "json": atomic_write_json(out / "grid.json", summary),
            "markdown": atomic_write_text(out / "grid.md", md)}
