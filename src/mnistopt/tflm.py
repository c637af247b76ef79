"""TensorFlow Lite Micro: the runtime a microcontroller runs, through the ``tflite-micro`` package.

A figure about a device (the tensor arena a file needs, whether its ops have kernels there, the
accuracy of its int8 arithmetic) is only true once TFLM's own interpreter has run the file. The
``tflite-micro`` package's Python interpreter runs the same kernels (the portable reference
ones) and the same arena allocator as the C++ library a firmware links:

* :func:`tflm_check` allocates a file in a generous arena, runs one image, and reads the arena
  TFLM's recording allocator used: the activations its memory planner placed (the *head*) plus
  its own persistent structures (the *tail*: a ``TfLiteEvalTensor`` per tensor, a node per op,
  each kernel's op data with its per-channel multipliers and shifts, the input's and output's
  quantization). That total is the smallest arena the file allocates and runs in
  (``tests/test_tflm.py`` checks it by bisection). It is measured on this machine's 64-bit build;
  a 32-bit microcontroller's pointers are half the size, so its arena is at most this.
* :func:`tflm_predict` / :func:`evaluate_tflm` run every image through TFLM, one at a time, as a
  device does.

Where TFLM cannot run a file (an op it has no kernel for, such as ``GELU``), the result says
which op, instead of raising. The package is an optional dependency (``pip install
mnistopt[tflm]``; its wheels cover Linux x86-64): without it :func:`available` is ``False``
and callers record that TFLM's figures were not measured.

No TensorFlow import.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .errors import ArgumentError, ModelNotFoundError

__all__ = ["TflmRun", "available", "tflm_check", "tflm_predict", "evaluate_tflm", "NOT_INSTALLED", "TFLM_ARENA"]

#: The arena :func:`tflm_check` and :func:`tflm_predict` give TFLM (64 MiB: untouched pages cost
#: nothing, and a file that needs more than its arena crashes TFLM's Python interpreter).
TFLM_ARENA = 64 << 20
#: The reason a record gives when the ``tflite-micro`` package is not installed.
NOT_INSTALLED = "not measured: the tflite-micro package is not installed (pip install mnistopt[tflm])"


@dataclasses.dataclass(frozen=True)
class TflmRun:
    """What TensorFlow Lite Micro made of a ``.tflite`` file.

    Attributes:
        arena_bytes: the tensor arena the file needs on TFLM (its recording allocator's total,
            equal to the smallest arena it allocates and runs in), or ``None`` when it does not run.
        reason: why TFLM does not run the file (e.g. ``"TFLM has no kernel for GELU"``), or
            ``None`` when it runs.
        activation_bytes: the part of the arena its memory planner gave the activations (the
            allocator's *head*); the rest is TFLM's own persistent structures.
    """

    arena_bytes: int | None
    reason: str | None = None
    activation_bytes: int | None = None

    @property
    def runs(self) -> bool:
        """Whether TFLM allocated the file and ran an image through it."""
        return self.reason is None


@functools.cache
def available() -> bool:
    """Whether the ``tflite-micro`` package (TFLM's Python interpreter) is installed."""
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except ImportError:
        return False
    return True


def _runtime():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


class _Captured:
    """File descriptor 2 written to a temporary file while in the block (TFLM's C++ logs there)."""

    def __enter__(self) -> _Captured:
        self.text = ""
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc: object) -> None:
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()


def _why(log: str, error: Exception) -> str:
    """A one-line reason from TFLM's log (``Didn't find op for builtin opcode 'GELU'``) or error."""
    missing = re.findall(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'", log)
    if missing:
        return f"TFLM has no kernel for {', '.join(dict.fromkeys(missing))}"
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return f"TFLM cannot run it: {lines[0] if lines else error}"


def _load(path: str | os.PathLike):
    """``(interpreter, None)`` for the file at ``path`` allocated on TFLM in :data:`TFLM_ARENA`, or
    ``(None, why)`` where TFLM cannot allocate it (``ModelNotFoundError`` when there is no file)."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"No .tflite file at {str(path)!r}.")
    with _Captured() as log:
        try:
            return _runtime().Interpreter.from_bytes(path.read_bytes(), arena_size=TFLM_ARENA), None
        except (RuntimeError, ValueError) as exc:
            error = exc
    return None, _why(log.text, error)


def _input_of(interpreter, x: np.ndarray) -> np.ndarray:
    """Images ``x`` (floats in [0, 1]) as the file's input tensor takes them."""
    detail = interpreter.get_input_details(0)
    if detail["dtype"] != np.int8:
        return np.asarray(x, dtype=np.float32)
    quant = detail["quantization_parameters"]
    scale, zero = float(quant["scales"][0]), int(quant["zero_points"][0])
    return np.clip(np.round(np.asarray(x, np.float32) / np.float32(scale)) + zero, -128, 127).astype(np.int8)


def tflm_check(path: str | os.PathLike) -> TflmRun:
    """Allocate the file at ``path`` on TFLM, run one image, and read the arena it used.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from mnistopt import MLPSpec, build_model
        >>> from mnistopt.artifacts import export_tflite
        >>> from mnistopt.tflm import tflm_check
        >>> images = np.random.default_rng(0).random((20, 28, 28), np.float32)
        >>> path = export_tflite(build_model(MLPSpec(hidden=(16,), pool=True)), os.path.join(tempfile.mkdtemp(),
        ...                      "m.tflite"), "int8-io", representative=images)
        >>> run = tflm_check(path)
        >>> run.runs, run.arena_bytes > 0
        (True, True)
    """
    if not available():
        return TflmRun(None, NOT_INSTALLED)
    interpreter, reason = _load(path)
    if interpreter is None:
        return TflmRun(None, reason)
    with _Captured() as log:
        try:
            shape = interpreter.get_input_details(0)["shape"]
            interpreter.set_input(_input_of(interpreter, np.zeros(shape, np.float32)), 0)
            interpreter.invoke()
            error = None
        except (RuntimeError, ValueError) as exc:
            error = exc
    if error is not None:
        return TflmRun(None, _why(log.text, error))
    with _Captured() as printed:
        interpreter.print_allocations()
    found = re.search(r"Arena allocation total (\d+) bytes", printed.text)
    if found is None:  # pragma: no cover - the recording allocator always prints its total
        raise RuntimeError(f"TFLM printed no arena total: {printed.text[:200]!r}")
    head = re.search(r"Arena allocation head (\d+) bytes", printed.text)
    return TflmRun(int(found.group(1)), activation_bytes=int(head.group(1)) if head else None)


def tflm_predict(path: str | os.PathLike, x: np.ndarray) -> np.ndarray:
    """Class scores of the file at ``path`` for images ``x``, run by TFLM one image at a time
    (dequantized with the output's own scale and zero point for an int8 output).

    Raises:
        RuntimeError: TFLM cannot run the file (the message says why), or it is not installed.
    """
    if not available():
        raise RuntimeError(NOT_INSTALLED)
    interpreter, reason = _load(path)
    if interpreter is None:
        raise RuntimeError(f"{path}: {reason}")
    inp, out = interpreter.get_input_details(0), interpreter.get_output_details(0)
    if int(inp["shape"][0]) != 1:
        raise ArgumentError(f"{path}: TFLM runs one image at a time; this file's input takes {inp['shape'][0]}.")
    images = _input_of(interpreter, x)
    scores = np.zeros((len(images), int(np.prod(out["shape"][1:]))), np.float32 if out["dtype"] != np.int8 else np.int8)
    for i, image in enumerate(images):
        interpreter.set_input(image.reshape(inp["shape"]), 0)
        interpreter.invoke()
        scores[i] = np.asarray(interpreter.get_output(0)).reshape(-1)
    if out["dtype"] == np.int8:
        quant = out["quantization_parameters"]
        scores = (scores.astype(np.float32) - int(quant["zero_points"][0])) * np.float32(quant["scales"][0])
    return scores


def evaluate_tflm(path: str | os.PathLike, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the file at ``path`` on ``x, y``, every image run by TFLM."""
    return float(np.mean(tflm_predict(path, x).argmax(axis=1) == np.asarray(y)))
