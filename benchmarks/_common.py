"""Shared command-line options of the benchmark scripts (not part of the library)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time


def parser(description: str, default_out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", metavar="PATH", default=None,
                   help="MNIST-format data: a directory or .npz, used as it is (default: $MNISTOPT_DATA; with "
                   "neither, MNIST from Keras' cache or download)")
    p.add_argument("--dataset", default=None,
                   help="mnist or fashion_mnist: chooses between named files at --data (default: what --data holds)")
    p.add_argument("--out", metavar="DIR", default=default_out, help=f"output directory (default: {default_out})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return p


def start(p: argparse.ArgumentParser):
    """Parse the options, quiet TensorFlow's logs, start the clock and load the data:
    ``args, clock, data = start(parser)``."""
    args = p.parse_args()
    setup()
    clock = Clock()
    return args, clock, load(args)


def setup() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def load(args):
    from mnistopt import load_dataset

    data = load_dataset(args.dataset, path=args.data, seed=args.seed)
    say(f"data: {data.name} from {data.source}: " + ", ".join(f"{k} {v:,}" for k, v in data.sizes.items()))
    return data


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Clock:
    def __init__(self):
        self.start = time.perf_counter()

    def __str__(self) -> str:
        s = time.perf_counter() - self.start
        return f"{int(s // 60)} min {s % 60:.0f} s"


def finish(clock: Clock, out: dict | None) -> int:
    """The closing lines of a benchmark: its wall time and, for --json, one JSON object last."""
    import json

    print(f"\nwall time: {clock}")
    if out is not None:
        print(json.dumps(out))
    return 0
