"""The ``mnistopt`` command line: argument parsing only; the work is in the API."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .errors import MnistoptError
from .compression import DEFAULT_PRUNE_EPOCHS, check_stages
from .options import (DEFAULT_COMPRESSION, DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_QUANTIZE, ClusterOptions, SearchOptions,
                      cli_options)
from .families import FAMILIES
from .space import Choice, SearchSpace

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (``mnistopt: error: ...``, exit status 2), like every other
    mnistopt error on the command line; the usage stays one ``--help`` away."""

    def error(self, message: str):
        self.exit(2, f"mnistopt: error: {_one_line(message)}. See `{self.prog} --help`.\n")


def _one_line(message: str) -> str:
    """``message`` with control characters (newlines, carriage returns, NULs a user typed or a path
    held) written as escapes, so an error is always one line on the terminal."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
                   for c in message)


def _argparse_type(parse):
    """A text parser of :mod:`mnistopt.options` as an argparse ``type``: its ``ValueError`` becomes
    argparse's one-line usage error."""
    if parse in (int, float, str):
        return parse

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _add_search_options(p: argparse.ArgumentParser) -> None:
    """``mnistopt search``'s search options, each derived from its :class:`~mnistopt.options.SearchOptions`
    field: the flag, the default and the help text are declared there once."""
    for field, cli in cli_options():
        default = field.default  # as declared ("auto", not what it resolves to), so SearchOptions resolves it
        if cli.parse is None:  # a switch
            p.add_argument(cli.flag, dest=field.name, action="store_true", help=field.metadata["help"])
            continue
        p.add_argument(cli.flag, dest=field.name, type=_argparse_type(cli.parse), default=default,
                       metavar=cli.metavar, choices=list(cli.choices) if cli.choices else None,
                       action="append" if cli.repeat else "store", help=field.metadata["help"])


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", metavar="PATH", default=None,
        help="directory or .npz holding the dataset, used as it is whatever it is called (default: "
        "$MNISTOPT_DATA; with neither, MNIST from Keras' cache or download)",
    )
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help="mnist or fashion_mnist: chooses between files named after datasets in the --data folder "
                   "(fashion_mnist.npz, fashion-mnist/) and, with no --data or $MNISTOPT_DATA, what Keras "
                   "downloads (default: whatever --data holds, else mnist); mnist-sample: the 8,000 real "
                   "digits shipped inside the package (offline, no --data)")
    p.add_argument("--num-classes", type=int, default=None, metavar="K",
                   help="the number of classes; an error when the labels disagree (default: read from the training "
                   "labels: 0..K-1, or 1..K read as 0..K-1)")
    p.add_argument("--validation-fraction", type=float, default=0.1, metavar="F",
                   help="share of the training data held out for validation (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog="mnistopt",
        description="Budget-driven model compression on MNIST-format data.",
    )
    parser.add_argument("--version", action="version", version=f"mnistopt {__version__}")
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _add_baseline_command(sub, common)
    _add_search_command(sub, common)
    _add_compress_command(sub, common)
    _add_report_command(sub, common)
    _add_export_command(sub, common)
    return parser


def _add_baseline_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``baseline`` command: the reference MLP trained and written out."""
    base = sub.add_parser(
        "baseline",
        parents=[common],
        help="train the reference 784-128-64-10 MLP and write metrics, model, curves, confusion matrix",
        description="Train the reference baseline (784-128-64-10 ReLU, Adam 1e-3, sparse categorical "
        "cross-entropy, 10 epochs, batch 32) and write DIR/metrics.json, DIR/model.keras, DIR/curves.png, "
        "DIR/confusion_matrix.png and DIR/classification_report.{txt,json}.",
    )
    _add_data_args(base)
    base.add_argument("--out", metavar="DIR", default="runs/baseline", help="output directory (default: runs/baseline)")
    base.add_argument("--epochs", type=int, default=None, help="override the preset's 10 epochs")
    base.set_defaults(handler=_cmd_baseline)


def _add_search_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``search`` command: its budgets, data, search options, families, limits, compression and cluster."""
    srch = sub.add_parser(
        "search",
        parents=[common],
        help="find the most accurate model within each budget (KerasTuner)",
        description="One KerasTuner search per budget; every sampled model fits its budget. Writes "
        "DIR/result.json (rewritten after every trial), DIR/result.csv, DIR/models/budget-N.keras and the "
        "report (DIR/report.{json,md,html} and plots; see `mnistopt report`). With --compress, each selected "
        "model is also quantized and pruned (DIR/compress/N/). Rerunning with the same --out resumes.",
    )
    srch.add_argument("--budget", type=int, nargs="+", metavar="N", help="parameter budget(s), e.g. 4034 72842 93322")
    srch.add_argument("--sweep", type=int, nargs=2, metavar=("MIN", "MAX"),
                      help="an accuracy-versus-size curve: --points geometric budgets from MIN to MAX, plus the "
                      "reference's 4,034, 72,842 and 93,322 when in range (instead of --budget)")
    srch.add_argument("--points", type=int, default=8, metavar="N",
                      help="geometric budgets of --sweep, both ends included (default: 8)")
    _add_data_args(srch)
    srch.add_argument("--out", metavar="DIR", default="runs/search", help="output directory (default: runs/search)")
    _add_search_options(srch)
    srch.add_argument("--family", nargs="+", choices=list(FAMILIES), default=None, metavar="FAMILY",
                      help="model families to search: mlp (default), cnn, or both (mlp cnn). A CNN trial costs tens "
                      "of times an MLP's computation; its selected models are often the most accurate at a budget")
    srch.add_argument("--device", metavar="FILE", default=None,
                      help="a device profile: a JSON object with any of flash_bytes (the int8-io file's bytes), "
                      "ram_bytes (its tensor arena), macs and latency_us, which become --limit's; a --limit of the "
                      "same name overrides the profile's")
    srch.add_argument(
        "--preset", choices=["reference-grid"], default=None,
        help="reference-grid: the reference notebook's learning-rate x batch-size grid on the baseline MLP",
    )
    compression = DEFAULT_COMPRESSION
    srch.add_argument("--sparsity", type=float, nargs="*", default=compression["sparsity"], metavar="S",
                      help="with --compress: kernel sparsities for magnitude pruning (default: "
                      f"{' '.join(map(str, compression['sparsity']))})")
    srch.add_argument("--quantize", nargs="*", default=compression["quantize"], metavar="MODE",
                      help="with --compress: post-training quantization modes (default: "
                      f"{' '.join(compression['quantize'])})")
    srch.add_argument("--fine-tune-epochs", type=int, default=compression["fine_tune_epochs"], metavar="N",
                      help=f"with --compress: fine-tuning epochs per pruning stage (default: "
                      f"{compression['fine_tune_epochs']})")
    srch.add_argument(
        "--distributed", choices=["chief", "worker"], default=None,
        help="share the search between processes with KerasTuner's gRPC oracle: one chief serves every "
        "budget's oracle (the i-th at --oracle's PORT + i) and merges the result; workers run the trials, "
        "budget after budget. All need the same --out (a shared folder), the same budgets in the same order "
        "and the same search options",
    )
    srch.add_argument("--oracle", metavar="HOST:PORT", default=None,
                      help="with --distributed: the chief's address (the chief listens there)")
    srch.add_argument("--worker-id", default=None, help="with --distributed worker: its name (default: worker-<pid>)")
    srch.add_argument("--trial-timeout", type=float, default=ClusterOptions.trial_timeout, metavar="S",
                      help="with --distributed chief: a trial whose worker is silent this long counts as lost (its "
                      "worker died) and is queued again for another worker; lost twice, it is recorded as failed "
                      f"(default: {ClusterOptions.trial_timeout:g})")
    srch.set_defaults(handler=_cmd_search)


def _add_compress_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``compress`` command: the stages of one trained model."""
    comp = sub.add_parser(
        "compress",
        parents=[common],
        help="prune and quantize a trained model; measure every exported .tflite file",
        description="Compression stages of MODEL.keras (any Keras classifier of one image input, read from its "
        "own layers): the float32 .tflite, post-training quantization, magnitude pruning (tfmot) to each sparsity, "
        "structured pruning (whole units and filters) to each budget, and quantization-aware training. Each "
        "stage's accuracy is measured on its own "
        ".tflite file. Writes DIR/STAGE.tflite and DIR/result.json (rewritten after every stage; a rerun "
        "with the same DIR keeps finished stages).",
    )
    comp.add_argument("model", metavar="MODEL.keras", help="the trained model to compress")
    _add_data_args(comp)
    comp.add_argument("--out", metavar="DIR", default="runs/compress", help="output directory (default: runs/compress)")
    comp.add_argument("--sparsity", type=float, nargs="*", default=[], metavar="S",
                      help="kernel sparsities for magnitude pruning, e.g. 0.5 0.75 0.9")
    comp.add_argument("--quantize", nargs="*", default=list(DEFAULT_QUANTIZE), metavar="MODE",
                      help="post-training quantization modes: dynamic, float16, int8, int8-io (int8 with int8 input and "
                      f"output, for microcontrollers) (default: {' '.join(DEFAULT_QUANTIZE)})")
    comp.add_argument("--qat", action="store_true", help="also run quantization-aware training (int8)")
    comp.add_argument("--units", type=int, nargs="*", default=[], metavar="BUDGET",
                      help="parameter budgets for structured pruning (whole hidden units removed)")
    comp.add_argument("--fine-tune-epochs", type=int, default=DEFAULT_FINE_TUNE_EPOCHS, metavar="N",
                      help=f"fine-tuning epochs per pruning stage of a model mnistopt did not build (tfmot), and of "
                      f"QAT (half as many) (default: {DEFAULT_FINE_TUNE_EPOCHS})")
    comp.add_argument("--prune-epochs", type=int, default=DEFAULT_PRUNE_EPOCHS, metavar="N",
                      help=f"epochs per pruning stage of a model mnistopt built, pruned while it fine-tunes "
                      f"(default: {DEFAULT_PRUNE_EPOCHS})")
    comp.add_argument("--units-epochs", type=int, default=10, metavar="N",
                      help="fine-tuning epochs per structured-pruning stage (default: 10)")
    comp.add_argument("--batch-size", type=int, default=None, metavar="N",
                      help="fine-tuning batch size (default: 32, the model file does not record it)")
    comp.add_argument("--pixel-scale", type=float, default=1.0, metavar="S",
                      help="what the model takes a white pixel to be: 1 (images in [0, 1], default) or 255 (raw "
                      "pixels)")
    comp.set_defaults(handler=_cmd_compress)


def _add_report_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``report`` command: a report rendered again from a result."""
    rep = sub.add_parser(
        "report",
        parents=[common],
        help="(re)write report.json, report.md, report.html and plots from DIR/result.json",
        description="Render the report of a search or compression from DIR/result.json, without retraining: "
        "report.json (every record, with its Pareto-front membership per size axis), report.md, report.html, "
        "pareto-*.png, front-curves.png and confusion-*.png.",
    )
    rep.add_argument("dir", metavar="DIR", help="a directory written by mnistopt search or mnistopt compress")
    rep.add_argument("--out", metavar="OUT", default=None, help="where to write the report (default: DIR)")
    rep.set_defaults(handler=_cmd_report)


def _add_export_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``export`` command: a .tflite file as C source."""
    exp = sub.add_parser(
        "export",
        parents=[common],
        help="write a .tflite file as a C source and header for TensorFlow Lite Micro",
        description="Write MODEL.tflite as OUT.c and OUT.h in TensorFlow Lite Micro's layout: a 16-byte-aligned "
        "byte array, its length, and the input's and output's scale and zero point.",
    )
    exp.add_argument("model", metavar="MODEL.tflite", help="a .tflite file (e.g. DIR/compress/4034/int8.tflite)")
    exp.add_argument("--c-array", metavar="OUT", required=True, help="where to write OUT.c and OUT.h")
    exp.add_argument("--name", default="g_model", help="the array's C name (default: g_model)")
    exp.set_defaults(handler=_cmd_export)

def _cmd_baseline(args: argparse.Namespace) -> int:
    import dataclasses

    from .reference import run_baseline
    from .spec import MLPSpec

    dataset = _load_data(args)
    _import_tensorflow(args)
    # the reference's hidden layers, with the data's own image size and class count at either end
    spec = dataclasses.replace(MLPSpec.baseline(), input_shape=dataset.image_shape, num_classes=dataset.num_classes)
    if args.epochs is not None:
        spec = dataclasses.replace(spec, epochs=args.epochs)
    _say(args, f"training {spec.architecture} ({spec.params:,} params), {spec.epochs} epochs, batch {spec.batch_size}")
    result, files = run_baseline(
        dataset, args.out, spec=spec, seed=args.seed,
        progress=None if args.quiet else (lambda event: _say(args, str(event))),
    )
    rows = [
        ("params", f"{result.params:,}"),
        ("train accuracy", f"{result.train_accuracy:.4f}"),
        ("val accuracy", f"{result.val_accuracy:.4f}"),
        ("test accuracy", f"{result.test_accuracy:.4f}"),
        ("test loss", f"{result.test_loss:.4f}"),
        ("wall time", f"{result.wall_time_s:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print("wrote: " + ", ".join(str(p) for p in files.values()))
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from .reference import reference_grid_search
    from .search import check_search_arguments, search_under_budget

    if args.sweep is not None:
        from .budget import budget_sweep

        if args.budget:
            raise _UsageError("give --budget or --sweep, not both")
        args.budget = budget_sweep(*args.sweep, points=args.points)
        _say(args, "sweep budgets: " + ", ".join(f"{b:,}" for b in args.budget))
    if args.preset is None and not args.budget:
        raise _UsageError("search needs --budget N [N ...] or --sweep MIN MAX (or --preset reference-grid)")
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(SearchOptions) if hasattr(args, f.name)}
    if args.preset is not None and (args.device is not None or args.limits):
        raise _UsageError("--limit and --device apply to budget searches, not to --preset reference-grid")
    if args.device is not None:
        from .limits import Limits

        options["limits"] = {**Limits.from_device(args.device), **Limits.parse(args.limits or [])}
    if args.family is not None:
        if args.preset is not None:
            raise _UsageError("--family applies to budget searches, not to --preset reference-grid")
        options["space"] = SearchSpace(family=Choice(*dict.fromkeys(args.family)))
    if args.compress:
        options["compress"] = {"quantize": args.quantize, "sparsity": args.sparsity,
                               "fine_tune_epochs": args.fine_tune_epochs}
    where = dict(directory=args.out, distributed=args.distributed, oracle=args.oracle, worker_id=args.worker_id,
                 trial_timeout=args.trial_timeout)
    if args.preset is None:  # checked before the data is read: the search's one options object
        options = check_search_arguments(args.budget, SearchOptions(**options), **where)[1]
    dataset = _load_data(args)
    _import_tensorflow(args)
    bar = _ProgressBar(args)
    if args.preset == "reference-grid":
        result = reference_grid_search(dataset, directory=args.out, overwrite=args.overwrite, seed=args.seed, progress=bar)
    else:
        result = search_under_budget(args.budget, dataset, options, progress=bar, **where)
    bar.close()
    from pathlib import Path

    if args.distributed == "worker":
        print(f"worker ran {len(result.records)} trials: " + ", ".join(f"{r.budget}/{r.trial_id}" for r in result.records)
              + f"; the chief writes {Path(args.out) / 'result.json'}")
        return 0

    from .report.render import search_table, stages_table, write_report

    result.to_csv(Path(args.out) / "result.csv")
    _say(args, "writing the report")
    files = write_report(result, args.out)
    print(search_table(result))
    if any(r.is_compression_stage for r in result.records):  # --compress, or a device file under --limit
        print(stages_table(result, stages_only=True))
    print(f"wrote: {Path(args.out) / 'result.json'}, {Path(args.out) / 'result.csv'}, "
          + ", ".join(s.model_path for s in result.selected.values() if s.model_path))
    print(f"report: {files['html']}, {files['markdown']}, {files['json']} and {_count_png(files)} plots")
    return 0


def _count_png(files) -> int:
    return sum(1 for p in files.values() if str(p).endswith(".png"))


def _cmd_report(args: argparse.Namespace) -> int:
    from .report.render import write_report

    files = write_report(args.dir, args.out)
    print(f"report: {files['html']}, {files['markdown']}, {files['json']} and {_count_png(files)} plots")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .artifacts import write_c_array
    from .tflm import NOT_INSTALLED, tflm_check

    source, header = write_c_array(args.model, args.c_array, args.name)
    print(f"wrote: {source}, {header}")
    run = tflm_check(args.model)
    if run.runs:
        print(f"TensorFlow Lite Micro runs it in a tensor arena of {run.arena_bytes:,} bytes (measured by TFLM's "
              f"interpreter on this machine's 64-bit build; a 32-bit microcontroller needs at most that)")
    elif run.reason == NOT_INSTALLED:
        print(f"TensorFlow Lite Micro {run.reason}", file=sys.stderr)
    else:
        print(f"warning: this file does not run on TensorFlow Lite Micro: {run.reason}. Export a model without it "
              f"(a search with --limit or --quantize int8-io samples only activations TFLM runs).", file=sys.stderr)
    return 0


def _cmd_compress(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .build import check_model_path, load_model
    from .compress.pipeline import compress_model
    from .models import describe_model

    path = check_model_path(args.model)  # these checks before the data and the model are read
    check_stages(args.quantize, args.sparsity)
    dataset = _load_data(args)
    _import_tensorflow(args)
    model = load_model(path)
    info = describe_model(model)
    _say(args, f"model: {info.architecture} ({info.params:,} params, {info.macs:,} multiply-accumulates per image; "
               f"input {info.input_shape}, {'logits' if info.logits else 'softmax'} output)")
    result = compress_model(
        model, dataset, args.out, quantize=args.quantize, sparsity=args.sparsity, units=args.units,
        qat=args.qat, fine_tune_epochs=args.fine_tune_epochs, prune_epochs=args.prune_epochs,
        units_epochs=args.units_epochs, seed=args.seed,
        progress=None if args.quiet else (lambda event: _say(args, str(event))), pixel_scale=args.pixel_scale,
        batch_size=args.batch_size,
    )
    print("stages run: " + ", ".join(r.stage for r in result.records))
    for stage, why in result.info.get("skipped", {}).items():
        print(f"skipped {stage}: {why}")
    from .report.render import stages_table, write_report

    files = write_report(result, args.out)
    print(stages_table(result))
    print(f"wrote: {Path(args.out) / 'result.json'} and {len(result.records)} .tflite files in {args.out}")
    print(f"report: {files['html']}, {files['markdown']}, {files['json']} and {_count_png(files)} plots")
    return 0


class _ProgressBar:
    """A one-line bar on a terminal, one line per trial otherwise (logs, CI)."""

    def __init__(self, args: argparse.Namespace, width: int = 24):
        self.args = args
        self.width = width
        self.tty = sys.stderr.isatty()
        self.open = False

    def __call__(self, event) -> None:
        if self.args.quiet:
            return
        from .search import RetrainProgress, TrialProgress

        if not isinstance(event, (TrialProgress, RetrainProgress)):  # a compression stage: one line each
            self.close()
            print(str(event), file=sys.stderr, flush=True)
            return
        retrain = isinstance(event, RetrainProgress)
        if not self.tty:  # a line per trial; a retraining's first, every tenth and last epochs
            if not retrain or event.done in (1, event.total) or event.done % 10 == 0:
                print(str(event), file=sys.stderr, flush=True)
            return
        total = event.total or event.done
        filled = int(self.width * min(event.done / max(total, 1), 1.0))
        if retrain:
            val = f"{event.val_accuracy:.4f}" if event.val_accuracy is not None else "-"
            eta = event.elapsed_s / max(event.done, 1) * (total - event.done)
            state = f"retrain epoch {event.done}/{total} val {val} eta {eta:.0f}s"
        else:
            best = f"{event.best_val_accuracy:.4f}" if event.best_val_accuracy is not None else "-"
            eta = f"{event.eta_s:.0f}s" if event.eta_s is not None else "?"
            state = f"{event.done}/{total} best val {best} eta {eta}"
        line = f"\rbudget {event.budget:,} [{'#' * filled}{'.' * (self.width - filled)}] {state}   "
        print(line, end="", file=sys.stderr, flush=True)
        self.open = True
        if event.done >= total:
            self.close()

    def close(self) -> None:
        if self.open:
            print(file=sys.stderr, flush=True)
            self.open = False


class _UsageError(Exception):
    pass


def _load_data(args: argparse.Namespace):
    """The dataset the ``--data``/``--dataset``/``--validation-fraction``/``--seed`` options name."""
    from .data import load_dataset

    dataset = load_dataset(args.dataset, path=args.data, validation_fraction=args.validation_fraction, seed=args.seed,
                           num_classes=args.num_classes)
    sizes = ", ".join(f"{k} {v:,}" for k, v in dataset.sizes.items())
    _say(args, f"data: {dataset.name} from {dataset.source}: {sizes}; {dataset.describe_classes()}")
    return dataset


def _import_tensorflow(args: argparse.Namespace) -> None:
    """Import TensorFlow and Keras, and let TensorFlow look for its devices, with file descriptor 2
    silenced (unless ``--debug``): its C++ side prints start-up lines (absl, and a ``cuInit`` error
    on a machine without a GPU when the devices are first listed) that TF_CPP_MIN_LOG_LEVEL does not
    stop and that would bury the command's own output and errors."""
    if args.debug:
        return
    from ._io import silence_fd

    with silence_fd(2):
        import keras  # noqa: F401  (imports TensorFlow)
        import tensorflow

        tensorflow.config.list_physical_devices()  # the device probe, once, while silenced


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mnistopt`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ banner out of the CLI
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except _UsageError as exc:
        parser.error(str(exc))
    except MnistoptError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mnistopt: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnistopt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
