"""Artifacts: exported ``.tflite`` files, measured on themselves, and the typed
:class:`Stage` that names what produced each model.

Below both the search (bytes budgets export every trial) and the compression
stages: export a Keras model to TFLite (float32 or post-training quantized),
run the exported file with the TFLite interpreter, measure its gzip size. The
accuracy reported for an artifact is the artifact's own: every image of a
split goes through the interpreter, in large batches (not a Python loop per
image).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gzip
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_choice, check_int
from ._io import atomic_write_text, atomic_write_with, silence_fd
from .errors import ArgumentError, ModelNotFoundError, SpecError
from .footprint import peak_live_bytes

__all__ = ["QUANTIZATIONS", "BYTES_PER_WEIGHT", "StageKind", "Stage", "export_tflite", "tflite_interpreter",
           "tflite_predict", "evaluate_tflite", "write_c_array", "gzip_size", "FileCosts", "file_costs", "arena_bytes",
           "latency_us",
           "LATENCY_REPEATS", "DEVICE_FORMATS", "DEVICE_BATCH"]

#: Post-training modes: none (float32), dynamic-range int8 weights, float16
#: weights, full-integer int8 (weights and activations, calibrated; float input
#: and output), and full-integer int8 with int8 input and output (``"int8-io"``:
#: what a microcontroller runs, no float anywhere).
#: Each format, with the bytes one weight takes in its file (before the file's own structure):
#: the one declaration of the formats.
BYTES_PER_WEIGHT = {"float32": 4.0, "dynamic": 1.0, "float16": 2.0, "int8": 1.0, "int8-io": 1.0}
QUANTIZATIONS = tuple(BYTES_PER_WEIGHT)
_FULL_INTEGER = ("int8", "int8-io")
#: The formats meant for a microcontroller (TensorFlow Lite Micro): exported with a fixed batch.
DEVICE_FORMATS = ("int8-io",)
#: The batch of a device file's input: one image per invocation, as a microcontroller runs it.
DEVICE_BATCH = 1


class StageKind(str, enum.Enum):
    """What produced a model, before any quantization of its file."""

    TRAINED = "dense"  # a search trial as trained (or, for a bytes budget, its file)
    FILE = "float32"  # a trained model exported as it is (the first compression stage)
    QUANTIZED = "quantized"  # post-training quantization of the trained model
    PRUNED = "sparse"  # magnitude pruning to a kernel sparsity (tfmot)
    UNITS = "units"  # whole hidden units cut to a parameter budget
    QAT = "qat"  # quantization-aware training

    def __str__(self) -> str:
        return self.value


_FAMILIES = {StageKind.TRAINED: "trained", StageKind.FILE: "float32 file", StageKind.QUANTIZED: "quantized",
             StageKind.PRUNED: "pruned", StageKind.UNITS: "units cut", StageKind.QAT: "QAT"}


@dataclasses.dataclass(frozen=True)
class Stage:
    """What produced a record's model, typed: a kind, its setting, and the quantization of its file.

    Records store the stage as its :attr:`label` (``"dense"``, ``"int8"``,
    ``"sparse-0.9+int8"``, ``"units-4034"``, ``"qat-int8"``); :meth:`parse` is
    the one place that reads a label back.

    Example:
        >>> Stage(StageKind.PRUNED, sparsity=0.9, quantize="int8").label
        'sparse-0.9+int8'
        >>> s = Stage.parse("units-4034+dynamic")
        >>> s.kind, s.units, s.quantize, s.family
        (<StageKind.UNITS: 'units'>, 4034, 'dynamic', 'units cut+quantized')
        >>> [Stage.parse(x).family for x in ("dense", "float32", "int8", "sparse-0.5", "qat-int8")]
        ['trained', 'float32 file', 'quantized', 'pruned', 'QAT']
    """

    kind: StageKind = StageKind.TRAINED
    sparsity: float | None = None
    units: int | None = None
    quantize: str | None = None  # None: the model's own float32 weights

    def __post_init__(self) -> None:
        if self.quantize is not None and self.quantize not in QUANTIZATIONS:
            raise ArgumentError(f"A stage's quantization must be one of {list(QUANTIZATIONS)}. "
                                f"Received: {self.quantize!r}.")
        if (self.kind is StageKind.PRUNED) != (self.sparsity is not None):
            raise ArgumentError(f"A stage has a sparsity exactly when it is pruned. Received: {self!r}.")
        if (self.kind is StageKind.UNITS) != (self.units is not None):
            raise ArgumentError(f"A stage has units exactly when it cuts units. Received: {self!r}.")

    @classmethod
    def trained(cls, sparsity: float | None = None) -> Stage:
        """A search trial's model: dense, or pruned to ``sparsity`` (nonzero budgets)."""
        return cls(StageKind.TRAINED) if sparsity is None else cls(StageKind.PRUNED, sparsity=sparsity)

    @classmethod
    def file(cls, quantize: str = "float32") -> Stage:
        """A trained model's own file, float32 or post-training quantized."""
        return cls(StageKind.FILE) if quantize == "float32" else cls(StageKind.QUANTIZED, quantize=quantize)

    @property
    def label(self) -> str:
        """The stage as records and file names write it."""
        if self.kind is StageKind.QUANTIZED:
            return str(self.quantize)
        if self.kind is StageKind.QAT:
            return f"qat-{self.quantize or 'int8'}"
        if self.kind is StageKind.PRUNED:
            base = f"sparse-{self.sparsity:g}"
        elif self.kind is StageKind.UNITS:
            base = f"units-{self.units}"
        else:
            base = self.kind.value
        return base if self.quantize in (None, "float32") else f"{base}+{self.quantize}"

    def quantized(self, quantize: str) -> Stage:
        """This stage's model exported with post-training ``quantize`` (``"float32"``: as it is)."""
        if self.kind in (StageKind.TRAINED, StageKind.FILE):
            return Stage.file(quantize)
        return dataclasses.replace(self, quantize=None if quantize == "float32" else quantize)

    @property
    def family(self) -> str:
        """The kind of model, for plot markers and legends (``"pruned+quantized"``, ``"QAT"``, ...)."""
        family = _FAMILIES[self.kind]
        quantized = self.quantize not in (None, "float32") and self.kind in (StageKind.PRUNED, StageKind.UNITS)
        return family + "+quantized" if quantized else family

    @classmethod
    def parse(cls, label: str) -> Stage:
        """The stage a record's label names (the inverse of :attr:`label`)."""
        base, plus, quant = str(label).partition("+")
        name, _, value = base.partition("-")
        try:
            if not plus and base == StageKind.TRAINED.value:
                return cls(StageKind.TRAINED)
            if not plus and base in QUANTIZATIONS:
                return cls.file(base)
            if not plus and name == StageKind.QAT.value and value in QUANTIZATIONS:
                return cls(StageKind.QAT, quantize=value)
            if (quant in QUANTIZATIONS[1:] or not plus) and value:
                if name == StageKind.PRUNED.value:
                    return cls(StageKind.PRUNED, sparsity=float(value), quantize=quant or None)
                if name == StageKind.UNITS.value:
                    return cls(StageKind.UNITS, units=int(value), quantize=quant or None)
        except (ValueError, ArgumentError):
            pass
        raise ArgumentError(f"Not a stage label: {label!r} (expected e.g. 'dense', 'int8', 'sparse-0.9+int8', "
                            "'units-4034', 'qat-int8').")

    def __str__(self) -> str:
        return self.label


def export_tflite(
    model: Any,
    path: str | os.PathLike,
    quantize: str = "float32",
    *,
    representative: np.ndarray | None = None,
    calibration_samples: int = 500,
) -> Path:
    """Convert ``model`` to a ``.tflite`` file at ``path`` (written atomically).

    Args:
        model: a Keras model (Keras 3 or tf_keras).
        quantize: one of :data:`QUANTIZATIONS`.
        representative: images for int8 calibration, drawn from the training
            split (never the test set); required for ``"int8"`` and ``"int8-io"``.
        calibration_samples: how many of them to use.

    Returns:
        The path written. Inputs and outputs stay float32 in every mode but
        ``"int8-io"``, whose int8 input and output :func:`tflite_predict`
        quantizes and dequantizes with the file's own scale and zero point,
        so every artifact is evaluated the same way. An ``"int8-io"`` file is
        the device file (what TensorFlow Lite Micro runs): it takes a fixed
        batch of one image (:data:`DEVICE_BATCH`), so the converter emits no
        ops that read the batch size at run time (``SHAPE``, ``STRIDED_SLICE``,
        ``PACK`` before every reshape), and a model that starts by reshaping
        its image takes the image in that shape (``28x28x1`` for a CNN, 784
        values for an MLP without cropping: the same bytes); the other formats
        keep a dynamic batch and the model's own input.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from mnistopt import MLPSpec, build_model
        >>> from mnistopt.compress import evaluate_tflite, export_tflite
        >>> model = build_model(MLPSpec(hidden=(64,), pool=True))
        >>> folder = tempfile.mkdtemp()
        >>> sizes = {q: os.path.getsize(export_tflite(model, os.path.join(folder, q + ".tflite"), q))
        ...          for q in ("float32", "float16", "dynamic")}
        >>> sizes["dynamic"] < sizes["float16"] < sizes["float32"]
        True
        >>> x, y = np.zeros((4, 28, 28), np.float32), np.zeros(4, int)
        >>> 0.0 <= evaluate_tflite(os.path.join(folder, "dynamic.tflite"), x, y) <= 1.0
        True
    """
    import tensorflow as tf

    quantize = check_choice("quantize", quantize, QUANTIZATIONS)
    calibration_samples = check_int("calibration_samples", calibration_samples, minimum=1)
    if quantize in DEVICE_FORMATS:
        model = _fixed_batch(model)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize in _FULL_INTEGER:
        if representative is None or len(representative) == 0:
            raise ArgumentError(
                f"quantize={quantize!r} needs `representative` images to calibrate activation ranges. "
                "Pass some training images, e.g. representative=dataset.x_train[:500]."
            )
        sample = np.asarray(representative[:calibration_samples], dtype=np.float32)

        shape = (1, *model.inputs[0].shape[1:])  # a device file's input may be the image flattened

        def calibration() -> Iterator[list[np.ndarray]]:
            for image in sample:
                yield [image.reshape(shape)]

        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if quantize == "int8-io":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with quiet_converter():
        flatbuffer = converter.convert()
    return atomic_write_with(path, lambda tmp: Path(tmp).write_bytes(flatbuffer), ".tflite")


def _fixed_batch(model: Any) -> Any:
    """``model`` called on an input of a fixed batch of :data:`DEVICE_BATCH` (the same weights), in
    the Keras it was built with (Keras 3, or tf_keras for tfmot's models). A chain of layers that
    starts with a ``Reshape`` or ``Flatten`` takes its input in the shape that layer outputs: the
    same bytes in the same order, so the file holds no copy of the image (``RESHAPE`` keeps both
    alive in the arena) and a device passes the image as it is."""
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras as keras
    else:
        import keras
    layers = list(model.layers) if isinstance(model, keras.Sequential) else []
    if layers and isinstance(layers[0], (keras.layers.Reshape, keras.layers.Flatten)):
        inputs = keras.Input(batch_shape=(DEVICE_BATCH, *layers[0].output.shape[1:]), dtype=model.inputs[0].dtype)
        x = inputs
        for layer in layers[1:]:
            x = layer(x)
        return keras.Model(inputs, x, name=model.name)
    inputs = keras.Input(batch_shape=(DEVICE_BATCH, *model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)
    return keras.Model(inputs, model(inputs), name=model.name)


def tflite_interpreter(path: str | os.PathLike, *, num_threads: int | None = None, delegates: bool = True) -> Any:
    """An interpreter for the ``.tflite`` file at ``path``: LiteRT's (``ai_edge_litert``, a
    dependency of mnistopt), or TensorFlow's deprecated ``tf.lite.Interpreter`` only where LiteRT
    is not installed (its deprecation warning then tells the user so).

    ``num_threads``: the interpreter's CPU threads (``None``: its default). ``delegates=False``
    keeps the default delegate (XNNPACK) out, so the interpreter's ops are the file's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - LiteRT is a dependency; kept for installs without it
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return Interpreter(model_path=str(path), num_threads=num_threads, experimental_op_resolver_type=resolver)


@dataclasses.dataclass(frozen=True)
class FileCosts:
    """What a ``.tflite`` file costs a device (see :func:`file_costs`); its fields are
    :class:`~mnistopt.records.TrialRecord`'s of the same names.

    Attributes:
        bytes: the file's size (flash).
        gzip_bytes: its size gzipped (level 9): what zeros save in transit or storage.
        arena_bytes: the activation memory (tensor arena) the file needs: the largest total
            size of the non-constant tensors (the input, the output and every intermediate)
            alive at once while its ops run in order, from the graph alone. Weights are not in
            it (they stay in the file, in flash); a planner that shares no buffer needs this
            much, TensorFlow Lite Micro's adds alignment and its own bookkeeping.
        latency_us: the median wall time of one single-image invocation, in microseconds, on
            this machine's CPU with one thread (LiteRT's default delegate included), over
            :data:`LATENCY_REPEATS` invocations after a warm-up.
        tflm_arena_bytes: the tensor arena TensorFlow Lite Micro allocates for the file (its
            activations and its own structures; :func:`mnistopt.tflm.tflm_check`): what a
            microcontroller must give it. ``None`` when TFLM does not run the file.
        tflm_reason: why TFLM does not run the file (an op it has no kernel for), or that it was
            not measured (``tflite-micro`` not installed); ``None`` when it runs.
    """

    bytes: int
    gzip_bytes: int
    arena_bytes: int
    latency_us: float
    tflm_arena_bytes: int | None = None
    tflm_reason: str | None = None


#: Single-image invocations behind :attr:`FileCosts.latency_us` (after ten of warm-up).
LATENCY_REPEATS = 100


def arena_bytes(path: str | os.PathLike) -> int:
    """The tensor-arena estimate of :class:`FileCosts` for the ``.tflite`` file at ``path``.

    Example:
        >>> import tempfile, os
        >>> from mnistopt import MLPSpec, build_model
        >>> path = export_tflite(build_model(MLPSpec(hidden=(32,))), os.path.join(tempfile.mkdtemp(), "m.tflite"))
        >>> arena_bytes(path) >= 4 * (784 + 32)  # the float32 image and the hidden layer's output, at once
        True
    """
    interpreter = tflite_interpreter(path, num_threads=1, delegates=False)
    with silence_fd(2):
        interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # the file's ops in execution order (no delegate: none fused)
    sizes = {t["index"]: int(np.prod(t["shape"], dtype=np.int64)) * np.dtype(t["dtype"]).itemsize
             for t in interpreter.get_tensor_details()}
    return peak_live_bytes([([int(t) for t in op["inputs"]], [int(t) for t in op["outputs"]]) for op in ops], sizes,
                           [d["index"] for d in interpreter.get_input_details()],
                           [d["index"] for d in interpreter.get_output_details()])


def latency_us(path: str | os.PathLike, repeats: int = LATENCY_REPEATS) -> float:
    """The latency of :class:`FileCosts`: median microseconds of ``repeats`` single-image
    invocations of the file at ``path`` (one thread; ten warm-up invocations first)."""
    import time

    repeats = check_int("repeats", repeats, minimum=1)
    interpreter = tflite_interpreter(path, num_threads=1)
    with silence_fd(2):
        interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    image = np.zeros(inp["shape"], dtype=inp["dtype"])
    times = []
    for i in range(10 + repeats):
        interpreter.set_tensor(inp["index"], image)
        start = time.perf_counter_ns()
        interpreter.invoke()
        if i >= 10:
            times.append(time.perf_counter_ns() - start)
    return float(np.median(times)) / 1000.0


def file_costs(path: str | os.PathLike) -> FileCosts:
    """Size, gzip size, tensor arena (LiteRT's graph and TFLM's allocator) and single-image latency
    of the ``.tflite`` file at ``path`` (see :class:`FileCosts`; about 15 ms for the files a search makes)."""
    from .tflm import tflm_check

    run = tflm_check(path)
    return FileCosts(bytes=os.path.getsize(path), gzip_bytes=gzip_size(path), arena_bytes=arena_bytes(path),
                     latency_us=latency_us(path), tflm_arena_bytes=run.arena_bytes, tflm_reason=run.reason)


def tflite_predict(path: str | os.PathLike, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Softmax outputs of the ``.tflite`` file at ``path`` for images ``x`` (run by LiteRT)."""
    batch_size = check_int("batch_size", batch_size, minimum=1)
    interpreter = tflite_interpreter(path)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    x = _quantized(np.asarray(x, dtype=np.float32), inp)
    if list(inp["shape_signature"][:1]) == [DEVICE_BATCH]:  # a device file: its batch is fixed, its image
        batch_size = DEVICE_BATCH                         # in the shape its first layer reads
        x = x.reshape(len(x), *inp["shape"][1:])
    parts = []
    allocated = None
    for start in range(0, len(x), batch_size):
        chunk = x[start : start + batch_size]
        if allocated != len(chunk):
            interpreter.resize_tensor_input(inp["index"], [len(chunk), *x.shape[1:]])
            with silence_fd(2):  # LiteRT logs "INFO: Created TensorFlow Lite XNNPACK delegate" on fd 2
                interpreter.allocate_tensors()
            allocated = len(chunk)
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        parts.append(interpreter.get_tensor(out["index"]).copy())
    probs = np.concatenate(parts)
    if out["dtype"] == np.int8:  # an int8-io file: real = scale * (q - zero_point)
        scale, zero = out["quantization"]
        probs = (probs.astype(np.float32) - zero) * np.float32(scale)
    return probs


def _quantized(x: np.ndarray, detail: dict) -> np.ndarray:
    """Images as the input tensor takes them: float32 as they are, int8 through its scale and zero point."""
    if detail["dtype"] != np.int8:
        return x
    scale, zero = detail["quantization"]
    return np.clip(np.round(x / np.float32(scale)) + zero, -128, 127).astype(np.int8)


def evaluate_tflite(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Accuracy of the ``.tflite`` file at ``path`` on ``x, y``."""
    probs = tflite_predict(path, x, batch_size)
    return float(np.mean(probs.argmax(axis=1) == np.asarray(y)))


def write_c_array(path: str | os.PathLike, out: str | os.PathLike, name: str = "g_model") -> tuple[Path, Path]:
    """The ``.tflite`` file at ``path`` as a C source and header for TensorFlow Lite Micro.

    Writes ``OUT.c`` and ``OUT.h`` (``out`` without its ``.c``/``.h`` suffix, if any): the
    file's bytes as a 16-byte-aligned ``const unsigned char NAME[]``, its length
    ``NAME_len``, and the input's and output's quantization (``NAME_input_scale``,
    ``NAME_input_zero_point``, ``NAME_output_scale``, ``NAME_output_zero_point``; a scale of
    0 means a float tensor). The source compiles as C11 and as C++11; the header declares
    the symbols with C linkage for either. Returns the two paths.

    Example:
        >>> write_c_array("runs/compress/int8.tflite", "firmware/model")  # doctest: +SKIP
        (PosixPath('firmware/model.c'), PosixPath('firmware/model.h'))
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"No .tflite file at {str(path)!r}. Pass a file written by mnistopt compress or "
                                 f"mnistopt search (e.g. DIR/compress/4034/int8.tflite).")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise SpecError(f"{str(path)!r} is not a TensorFlow Lite file (no 'TFL3' identifier at bytes 4-8). "
                        f"Pass a .tflite file.")
    if not name.isidentifier() or not name.isascii():
        raise ArgumentError(f"`name` must be a C identifier. Received: name={name!r}. Pass e.g. 'g_model'.")
    interpreter = tflite_interpreter(path)
    (inp,), (outp,) = interpreter.get_input_details(), interpreter.get_output_details()
    stem = Path(out)
    if stem.suffix in (".c", ".h"):
        stem = stem.with_suffix("")
    guard = f"MNISTOPT_{name.upper()}_H_"
    quant = [("input", inp["quantization"]), ("output", outp["quantization"])]
    declarations = "".join(
        f"extern const float {name}_{which}_scale;\nextern const int {name}_{which}_zero_point;\n"
        for which, _ in quant)
    header = (
        f"/* {path.name} ({len(data):,} bytes) for TensorFlow Lite Micro; written by mnistopt. */\n"
        f"#ifndef {guard}\n#define {guard}\n\n#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
        f"extern const unsigned char {name}[];\nextern const unsigned int {name}_len;\n"
        f"/* Quantization of the input and output tensors: real = scale * (q - zero_point); scale 0: float. */\n"
        f"{declarations}\n#ifdef __cplusplus\n}}\n#endif\n\n#endif  /* {guard} */\n")
    rows = ",\n".join("  " + ", ".join(f"0x{b:02x}" for b in data[i:i + 12]) for i in range(0, len(data), 12))
    values = "".join(
        f"const float {name}_{which}_scale = {float(scale)!r}f;\n"
        f"const int {name}_{which}_zero_point = {int(zero)};\n" for which, (scale, zero) in quant)
    source = (
        f"/* {path.name} ({len(data):,} bytes) for TensorFlow Lite Micro; written by mnistopt. */\n"
        f"#include \"{stem.name}.h\"\n\n"
        f"#if defined(__cplusplus)\n#define MNISTOPT_ALIGNED alignas(16)\n#else\n#define MNISTOPT_ALIGNED _Alignas(16)\n#endif\n\n"
        f"/* The flatbuffer must be 16-byte aligned for the interpreter to read it in place. */\n"
        f"MNISTOPT_ALIGNED const unsigned char {name}[] = {{\n{rows}\n}};\n"
        f"const unsigned int {name}_len = {len(data)};\n{values}")
    stem.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(stem.with_suffix(".c"), source), atomic_write_text(stem.with_suffix(".h"), header)


def gzip_size(path: str | os.PathLike) -> int:
    """Bytes of the file at ``path`` after gzip (level 9): what zeros save in transit or storage."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0))


@contextlib.contextmanager
def quiet_converter() -> Iterator[None]:
    """Silence the converter: Python prints, warnings, and the C++ lines it writes to
    file descriptor 2 (e.g. ``fully_quantize: 0, inference_type: 6, ...``)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), silence_fd(2):
        warnings.simplefilter("ignore")
        yield
