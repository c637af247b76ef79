"""The ``mnistopt`` command line: argument parsing only; the work is in the API."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from . import __version__
from .errors import MnistoptError

__all__ = ["main", "build_parser"]


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", metavar="PATH", default=None,
        help="directory or .npz holding the dataset (default: $MNISTOPT_DATA, Keras' cache, then download)",
    )
    p.add_argument("--dataset", default="mnist", help="dataset name: mnist or fashion_mnist (default: mnist)")
    p.add_argument("--validation-fraction", type=float, default=0.1, metavar="F",
                   help="share of the training data held out for validation (default: 0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="mnistopt",
        description="Budget-driven model compression on MNIST-format data.",
    )
    parser.add_argument("--version", action="version", version=f"mnistopt {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    return parser


def _cmd_baseline(args: argparse.Namespace) -> int:
    import dataclasses

    from .data import load_dataset
    from .runs import run_baseline
    from .spec import MLPSpec

    dataset = load_dataset(args.dataset, path=args.data, validation_fraction=args.validation_fraction, seed=args.seed)
    _say(args, f"data: {dataset.name} from {dataset.source}: " + ", ".join(f"{k} {v:,}" for k, v in dataset.sizes.items()))
    spec = MLPSpec.baseline()
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
    except MnistoptError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"mnistopt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mnistopt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
