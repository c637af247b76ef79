"""Shared command-line options of the benchmark scripts (not part of the library).

Every script takes ``--docs``: its printed output (tables and figures; not the ``--json`` line)
is then also written into its block of its page in ``docs/benchmarks/`` (:data:`PAGES`), between
the markers :func:`markers` gives, with the command, date and machine. The documentation's
measurements are those blocks, so they are what a script printed, not figures copied by hand.
"""

from __future__ import annotations

import argparse
import datetime
import io
import logging
import os
import platform
import sys
import time
from pathlib import Path

#: The documentation page each script writes its block into (``docs/benchmarks/<page>``).
PAGES = {
    "seed_comparison.py": "reference-comparison.md",
    "sweep.py": "sweep.md",
    "defaults.py": "search.md",
    "fullsize.py": "fullsize.md",
    "baseline.py": "compression.md",
    "hyperparameter_grid.py": "reference-experiments.md",
    "optimizer_comparison.py": "reference-experiments.md",
    "speed.py": "performance.md",
    "multi_model.py": "performance.md",
    "rank_correlation.py": "performance.md",
    "peers.py": "peers.md",
    "classes.py": "classes.md",
    "your_model.py": "your-model.md",
    "cnn_defaults.py": "cnn.md",
    "families.py": "cnn.md",
    "sparse_training.py": "sparse.md",
    "sparse_files.py": "sparse.md",
    "nonzero_search.py": "sparse.md",
    "limits.py": "limits.md",
    "tflm_arena.py": "limits.md",
}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def parser(description: str, default_out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", metavar="PATH", default=None,
                   help="MNIST-format data: a directory or .npz, used as it is (default: $MNISTOPT_DATA; with "
                   "neither, MNIST from Keras' cache or download)")
    p.add_argument("--dataset", default=None,
                   help="mnist or fashion_mnist: chooses between named files at --data (default: what --data holds)")
    p.add_argument("--out", metavar="DIR", default=default_out, help=f"output directory (default: {default_out})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    page = PAGES[Path(sys.argv[0]).name] if Path(sys.argv[0]).name in PAGES else None
    p.add_argument("--docs", nargs="?", const=str(DOCS / page) if page else None, default=None, metavar="PAGE",
                   help=f"also write what this run prints into its block of PAGE (default: docs/benchmarks/{page})")
    return p


class _Tee(io.TextIOBase):
    """Standard output, also kept in memory for ``--docs``."""

    def __init__(self, stream):
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


_tee: _Tee | None = None
_docs: dict = {}


def start(p: argparse.ArgumentParser, load_data: bool = True):
    """Parse the options, quiet TensorFlow's logs, start the clock and load the data:
    ``args, clock, data = start(parser)``. With ``--docs``, standard output is kept from here on
    for :func:`finish` to write into the page."""
    global _tee
    args = p.parse_args()
    setup()
    if args.docs:
        _tee = _Tee(sys.stdout)
        sys.stdout = _tee
        _docs.update(page=Path(args.docs), argv=sys.argv[1:])
    clock = Clock()
    return args, clock, (load(args) if load_data else None)


def setup() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def load(args):
    from mnistopt import load_dataset

    data = load_dataset(args.dataset, path=args.data, seed=args.seed)
    _docs["data"] = f"{data.name} ({', '.join(f'{k} {v:,}' for k, v in data.sizes.items())})"
    say(f"data: {data.name} from {data.source}: " + ", ".join(f"{k} {v:,}" for k, v in data.sizes.items()))
    return data


def describe_data(text: str) -> None:
    """What the run's ``--docs`` line says the data was, for a script that loads no dataset itself."""
    _docs["data"] = text


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Clock:
    def __init__(self):
        self.start = time.perf_counter()

    def __str__(self) -> str:
        s = time.perf_counter() - self.start
        return f"{int(s // 60)} min {s % 60:.0f} s"


def finish(clock: Clock, out: dict | None = None) -> int:
    """The closing lines of a benchmark: its wall time, its block in the docs (``--docs``) and,
    for --json, one JSON object last."""
    import json

    print(f"\nwall time: {clock}")
    if _tee is not None:
        write_block(_docs["page"], Path(sys.argv[0]).name, _tee.kept.getvalue(), _run_line())
    if out is not None:
        print(json.dumps(out))
    return 0


def markers(script: str) -> tuple[str, str]:
    """The lines that open and close ``script``'s block in its documentation page."""
    return (f"<!-- begin: written by benchmarks/{script} --docs; do not edit by hand -->",
            f"<!-- end: benchmarks/{script} -->")


def replace_block(page_text: str, script: str, body: str) -> str:
    """``page_text`` with ``script``'s block replaced by ``body`` (the markers stay)."""
    begin, end = markers(script)
    if page_text.count(begin) != 1 or page_text.count(end) != 1 or page_text.index(begin) > page_text.index(end):
        raise ValueError(f"the page needs exactly one block for {script}: a line {begin!r} and, after it, "
                         f"a line {end!r}")
    head, rest = page_text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body.strip()}\n{end}{tail}"


def write_block(page: Path, script: str, output: str, run_line: str) -> None:
    """Write a run's ``output`` (markdown tables and lines of text) into ``script``'s block of ``page``,
    atomically, after a line saying how and where it was run."""
    text = replace_block(page.read_text(), script, f"{run_line}\n\n{output.strip()}\n")
    tmp = page.with_suffix(page.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, page)
    say(f"wrote the results into {page}")


def _run_line() -> str:
    import numpy
    import tensorflow as tf

    today = datetime.date.today().isoformat()
    return (f"Run on {today}: `python benchmarks/{Path(sys.argv[0]).name} {' '.join(_docs['argv'])}`; "
            f"data: {_docs.get('data', 'none')}; machine: {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs; Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"NumPy {numpy.__version__}.")
