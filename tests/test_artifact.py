"""TFLite export and evaluation of the exported file itself."""

import shutil
import subprocess
import textwrap

import numpy as np
import pytest

from mnistopt import MLPSpec, train
from mnistopt.errors import ArgumentError, SpecError
from mnistopt.artifacts import (LATENCY_REPEATS, QUANTIZATIONS, Stage, StageKind, arena_bytes, evaluate_tflite,
                                export_tflite, file_costs, gzip_size, latency_us, tflite_interpreter, tflite_predict)
from mnistopt.training import predict_proba


@pytest.fixture(scope="module")
def trained(mnist_small):
    return train(MLPSpec(hidden=(32,), epochs=2, batch_size=64), mnist_small)


def test_float32_artifact_predicts_like_the_keras_model(trained, mnist_small, tmp_path):
    path = export_tflite(trained.model, tmp_path / "m.tflite")
    keras_probs = predict_proba(trained.model, mnist_small.x_test)
    tflite_probs = tflite_predict(path, mnist_small.x_test, batch_size=128)  # several batches, ragged end
    assert tflite_probs.shape == keras_probs.shape
    np.testing.assert_allclose(tflite_probs, keras_probs, atol=1e-5)
    assert evaluate_tflite(path, mnist_small.x_test, mnist_small.y_test) == pytest.approx(trained.test_accuracy)
    # float32 weights dominate the file: 4 bytes per parameter plus a small header.
    assert 4 * trained.params < path.stat().st_size < 4 * trained.params + 20_000


def test_quantized_artifacts_shrink_and_keep_accuracy(trained, mnist_small, tmp_path):
    sizes, accuracy = {}, {}
    for mode in QUANTIZATIONS:
        path = export_tflite(trained.model, tmp_path / f"{mode}.tflite", mode, representative=mnist_small.x_train)
        sizes[mode] = path.stat().st_size
        accuracy[mode] = evaluate_tflite(path, mnist_small.x_test, mnist_small.y_test)
    assert sizes["dynamic"] < 0.35 * sizes["float32"]
    assert sizes["int8"] < 0.35 * sizes["float32"]
    assert sizes["float16"] < 0.6 * sizes["float32"]
    for mode in ("dynamic", "float16", "int8"):
        assert abs(accuracy[mode] - accuracy["float32"]) <= 0.02, (mode, accuracy)


def test_files_run_on_litert_without_a_warning_and_like_tf_lite(trained, mnist_small, tmp_path, monkeypatch):
    import sys
    import warnings

    from ai_edge_litert.interpreter import Interpreter

    from mnistopt.artifacts import tflite_interpreter

    path = export_tflite(trained.model, tmp_path / "int8.tflite", "int8", representative=mnist_small.x_train)
    assert isinstance(tflite_interpreter(path), Interpreter)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to silence: LiteRT is not deprecated
        litert = tflite_predict(path, mnist_small.x_test)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # an install without LiteRT
    with pytest.warns(UserWarning, match="deprecated"):  # the fallback says so, unsilenced
        fallback = tflite_predict(path, mnist_small.x_test)
    np.testing.assert_array_equal(litert, fallback)  # the same kernels: the same int8 outputs


@pytest.mark.skipif(shutil.which("cc") is None, reason="no system C compiler")
def test_c_array_compiles_and_holds_the_file_byte_for_byte(trained, mnist_small, tmp_path):
    from mnistopt.artifacts import write_c_array
    from mnistopt.cli import main

    path = export_tflite(trained.model, tmp_path / "int8.tflite", "int8", representative=mnist_small.x_train)
    assert main(["export", str(path), "--c-array", str(tmp_path / "fw" / "model.c"), "--name", "digits"]) == 0
    source, header = tmp_path / "fw" / "model.c", tmp_path / "fw" / "model.h"
    assert source.is_file() and header.is_file()
    (tmp_path / "fw" / "main.c").write_text(textwrap.dedent("""
        #include <stdint.h>
        #include <stdio.h>
        #include "model.h"
        int main(void) {
          if ((uintptr_t)digits % 16 != 0) return 3;  /* TFLM reads the flatbuffer in place */
          printf("%u %.9g %d %.9g %d\\n", digits_len, digits_input_scale, digits_input_zero_point,
                 digits_output_scale, digits_output_zero_point);
          FILE *f = fopen(\"out.bin\", \"wb\");
          fwrite(digits, 1, digits_len, f);
          return fclose(f);
        }
    """))
    exe = tmp_path / "fw" / "check"
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-o", str(exe), str(source), str(tmp_path / "fw" / "main.c")],
                   check=True, cwd=tmp_path / "fw")
    printed = subprocess.run([str(exe)], check=True, cwd=tmp_path / "fw", capture_output=True, text=True).stdout.split()
    assert (tmp_path / "fw" / "out.bin").read_bytes() == path.read_bytes()
    assert int(printed[0]) == path.stat().st_size
    details = tflite_interpreter(path).get_input_details()[0]["quantization"]
    assert float(printed[1]) == pytest.approx(details[0]) and int(printed[2]) == details[1]
    if shutil.which("c++"):  # and as C++, as TensorFlow Lite Micro builds it
        subprocess.run(["c++", "-std=c++11", "-Wall", "-Werror", "-c", "-o", str(tmp_path / "fw" / "m.o"), "-x", "c++",
                        str(source)], check=True, cwd=tmp_path / "fw")
    with pytest.raises(SpecError, match=r"not a TensorFlow Lite file"):
        write_c_array(header, tmp_path / "x")
    with pytest.raises(ArgumentError, match=r"`name` must be a C identifier"):
        write_c_array(path, tmp_path / "x", name="9 lives")


def test_int8_io_file_takes_and_gives_int8_and_scores_like_int8(trained, mnist_small, tmp_path):
    int8 = export_tflite(trained.model, tmp_path / "int8.tflite", "int8", representative=mnist_small.x_train)
    io = export_tflite(trained.model, tmp_path / "int8-io.tflite", "int8-io", representative=mnist_small.x_train)
    interpreter = tflite_interpreter(io)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8 and inp["quantization"][0] > 0
    assert tflite_interpreter(int8).get_input_details()[0]["dtype"] == np.float32
    probs = tflite_predict(io, mnist_small.x_test)  # quantized in, dequantized out
    assert probs.dtype == np.float32 and probs.min() >= 0 and probs.max() <= 1.0 + 1e-6
    acc = {p: evaluate_tflite(p, mnist_small.x_test, mnist_small.y_test) for p in (int8, io)}
    assert abs(acc[io] - acc[int8]) <= 0.005, acc  # the same integer graph; only the I/O conversion moves
    assert abs(acc[io] - trained.test_accuracy) <= 0.02, (acc, trained.test_accuracy)
    assert Stage.parse("int8-io") == Stage.file("int8-io") and Stage.parse("sparse-0.9+int8-io").quantize == "int8-io"


def test_file_costs_arena_latency_and_sizes(trained, mnist_small, tmp_path):
    float32 = export_tflite(trained.model, tmp_path / "float32.tflite")
    io = export_tflite(trained.model, tmp_path / "int8-io.tflite", "int8-io", representative=mnist_small.x_train)
    costs = {p: file_costs(p) for p in (float32, io)}
    for path, c in costs.items():
        assert c.bytes == path.stat().st_size and c.gzip_bytes == gzip_size(path)
        assert 0 < c.latency_us < 100_000
    # the float32 arena holds at least the 784-float image and the 32-unit hidden output at once (the
    # image is alive until the first layer has read it), and at most a few image-sized buffers
    f = costs[float32].arena_bytes
    assert 4 * (784 + 32) <= f <= 4 * (3 * 784 + 32 + 10) + 256
    # int8 activations: a quarter of the bytes (plus the int8 image and small shape tensors)
    assert costs[io].arena_bytes < f / 2
    assert arena_bytes(float32) == f  # a property of the graph: the same every time
    assert latency_us(io, repeats=5) > 0 and LATENCY_REPEATS >= 50


def test_int8_needs_representative_data(trained, tmp_path):
    with pytest.raises(ArgumentError, match=r"quantize='int8' needs `representative` images"):
        export_tflite(trained.model, tmp_path / "m.tflite", "int8")
    assert not (tmp_path / "m.tflite").exists()


def test_unknown_quantization_mode(trained, tmp_path):
    with pytest.raises(ValueError, match=r"`quantize` must be one of \['float32', 'dynamic', 'float16', 'int8', 'int8-io'\]"):
        export_tflite(trained.model, tmp_path / "m.tflite", "int4")


def test_every_stage_label_reads_back_as_the_stage_that_wrote_it():
    stages = [Stage(), Stage.file(), *(Stage.file(q) for q in QUANTIZATIONS[1:]),
              Stage(StageKind.PRUNED, sparsity=0.505), Stage(StageKind.UNITS, units=4034),
              Stage(StageKind.QAT, quantize="int8")]
    stages += [s.quantized(q) for s in stages[-3:-1] for q in QUANTIZATIONS]
    labels = [s.label for s in stages]
    assert len(set(labels)) == len(labels) - 2  # sparse/units exported as float32 are their own stage
    assert all(Stage.parse(s.label) == s for s in stages)
    assert {"dense", "float32", "int8", "sparse-0.505+float16", "units-4034+dynamic", "qat-int8"} <= set(labels)
    assert Stage.file("int8").kind is StageKind.QUANTIZED and Stage.trained(0.9).kind is StageKind.PRUNED


@pytest.mark.parametrize("label", ["", "sparse", "sparse-x", "units-1.5", "int4", "dense+int8+x", "pruned-0.5"])
def test_a_label_no_stage_writes_is_an_error_when_read(label):
    from mnistopt.records import TrialRecord

    with pytest.raises(ArgumentError, match="stage"):
        Stage.parse(label)
    with pytest.raises(ArgumentError):
        TrialRecord(budget=10, trial_id="0", status="completed", spec=None, params=10, stage=label)


@pytest.mark.parametrize("fields, match", [
    ({"kind": StageKind.PRUNED}, "sparsity exactly when it is pruned"),
    ({"kind": StageKind.TRAINED, "sparsity": 0.5}, "sparsity exactly when it is pruned"),
    ({"kind": StageKind.UNITS}, "units exactly when it cuts units"),
    ({"kind": StageKind.QAT, "quantize": "int4"}, r"quantization must be one of .*Received: 'int4'"),
])
def test_a_stage_that_cannot_be_made_is_refused_when_built(fields, match):
    with pytest.raises(ArgumentError, match=match):
        Stage(**fields)
