"""Device files on TensorFlow Lite Micro's own interpreter (the tflite-micro package): arena, ops, accuracy,
the fixed-batch export, the C array, and the arithmetic arena against TFLM's."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import random_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnistopt import MLPSpec, build_model
from mnistopt.artifacts import export_tflite, tflite_interpreter, tflite_predict, write_c_array
from mnistopt.cli import main
from mnistopt.cnn import cnn_of_width
from mnistopt.errors import ArgumentError
from mnistopt.footprint import (ACTIVATION_OPS, TFLM_ACTIVATIONS, TFLM_ARENA_MARGIN, int8_ops, peak_live_bytes, tflm_arena,
                                tflm_missing_ops)
from mnistopt.tflm import available, tflm_check, tflm_predict

pytestmark = pytest.mark.skipif(not available(), reason="tflite-micro is not installed")

IMAGES = np.random.default_rng(0).random((32, 28, 28), dtype=np.float32)


def trained_like(model, seed=0):
    """Every weight drawn at random, as after training (the converter drops all-zero biases)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:  # a batch norm's variance stays positive
        low = 0.5 if "variance" in w.path else None
        w.assign((rng.uniform(low, 1.5, w.shape) if low else rng.normal(0, 0.1, w.shape)).astype(w.dtype))
    return model


def device_file(spec, path):
    return export_tflite(trained_like(build_model(spec, compile=False)), path, "int8-io", representative=IMAGES)


_PROBE = """
import sys, numpy as np
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2]))
it.set_input(np.zeros(it.get_input_details(0)["shape"], np.int8), 0)
it.invoke()
"""


def _runs_in(path, arena: int) -> bool:
    """Whether TFLM allocates and runs the file in an arena of ``arena`` bytes (in a child process: TFLM's
    Python interpreter crashes the process when its arena is too small)."""
    return subprocess.run([sys.executable, "-c", _PROBE, str(path), str(arena)], capture_output=True).returncode == 0


def test_tflm_arena_is_the_smallest_arena_the_file_runs_in(tmp_path):
    path = device_file(MLPSpec(hidden=(24,), crop=4, pool=True), tmp_path / "m.tflite")
    run = tflm_check(path)
    assert run.runs and run.reason is None
    assert _runs_in(path, run.arena_bytes) and not _runs_in(path, run.arena_bytes - 1)
    assert run.activation_bytes == 28 * 28 + 20 * 20  # the image and its cropped copy: the rest is TFLM's own


def test_a_file_with_an_op_tflm_lacks_is_reported_not_raised(tmp_path):
    path = device_file(MLPSpec(hidden=(16,), pool=True, activation="gelu"), tmp_path / "gelu.tflite")
    run = tflm_check(path)
    assert not run.runs and run.arena_bytes is None and run.reason == "TFLM has no kernel for GELU"
    with pytest.raises(RuntimeError, match="no kernel for GELU"):
        tflm_predict(path, IMAGES[:2])
    with pytest.raises(ArgumentError, match="GELU"):
        tflm_arena(MLPSpec(hidden=(16,), activation="gelu"))


def test_device_files_have_a_fixed_batch_and_no_dynamic_shape_ops(tmp_path):
    spec = cnn_of_width(3, (5, 5), (1, 2), head="flatten")
    model = trained_like(build_model(spec, compile=False))
    device = export_tflite(model, tmp_path / "io.tflite", "int8-io", representative=IMAGES)
    floats = export_tflite(model, tmp_path / "f.tflite", "int8", representative=IMAGES)
    ops = {name: [o["op_name"] for o in _ops(path)] for name, path in (("io", device), ("int8", floats))}
    assert not {"SHAPE", "PACK"} & set(ops["io"]) and "SHAPE" in ops["int8"]
    # one image, in the shape the first convolution reads (no copy of it through a RESHAPE)
    assert list(tflite_interpreter(device).get_input_details()[0]["shape_signature"]) == [1, 28, 28, 1]
    assert ops["io"][0] == "CONV_2D" and "RESHAPE" not in ops["io"][:1]
    # LiteRT runs the fixed-batch file image by image; TFLM's kernels agree with LiteRT's
    litert, micro = tflite_predict(device, IMAGES), tflm_predict(device, IMAGES)
    assert litert.shape == micro.shape == (32, 10)
    assert np.mean(litert.argmax(1) == micro.argmax(1)) >= 0.9 and np.abs(litert - micro).max() <= 0.02
    # the float-io file also runs on TFLM, in a bigger arena (the float image)
    assert tflm_check(floats).arena_bytes > tflm_check(device).arena_bytes


def _ops(path):
    interpreter = tflite_interpreter(path, delegates=False)
    interpreter.allocate_tensors()
    return interpreter._get_ops_details()


def test_the_c_array_is_the_file_and_runs_on_tflm(tmp_path, capsys):
    path = device_file(MLPSpec(hidden=(20,), crop=2, pool=True), tmp_path / "m.tflite")
    assert main(["export", str(path), "--c-array", str(tmp_path / "fw" / "model")]) == 0
    assert "runs it in a tensor arena of" in capsys.readouterr().out
    source = (tmp_path / "fw" / "model.c").read_text()
    body = source[source.index("g_model[] = {"):source.index("};")]
    data = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))
    assert data == path.read_bytes() and f"g_model_len = {len(data)};" in source
    rebuilt = tmp_path / "from-c-array.tflite"
    rebuilt.write_bytes(data)
    np.testing.assert_array_equal(tflm_predict(rebuilt, IMAGES[:8]), tflm_predict(path, IMAGES[:8]))


def test_export_warns_when_tflm_cannot_run_the_file(tmp_path, capsys):
    path = device_file(MLPSpec(hidden=(8,), pool=True, activation="gelu"), tmp_path / "g.tflite")
    assert main(["export", str(path), "--c-array", str(tmp_path / "g")]) == 0
    assert "does not run on TensorFlow Lite Micro: TFLM has no kernel for GELU" in capsys.readouterr().err


@pytest.mark.slow
def test_every_activation_runs_on_tflm_exactly_when_declared(tmp_path):
    for activation in ACTIVATION_OPS:
        run = tflm_check(device_file(MLPSpec(hidden=(12,), pool=True, activation=activation),
                                     tmp_path / f"{activation}.tflite"))
        assert run.runs == (activation in TFLM_ACTIVATIONS), (activation, run.reason)
        if not run.runs:
            assert tflm_missing_ops(activation) and run.reason.startswith("TFLM has no kernel for")


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_arithmetic_arena_bounds_tflm_within_the_margin(tmp_path_factory, data):
    """For random specs of both families and every activation TFLM runs: tflm_arena(spec) is never below the
    arena TFLM allocates for the built int8-io file, and at most TFLM_ARENA_MARGIN bytes above it (it once
    found cnn:1s-gap-10 with ELU 184 B over the sum of live tensors: TFLM's greedy planner fragments, and
    greedy_plan_bytes now lays tensors out as it does)."""
    spec = random_spec(data, TFLM_ACTIVATIONS)
    measured = tflm_check(device_file(spec, tmp_path_factory.mktemp("tflm") / "m.tflite")).arena_bytes
    assert measured <= tflm_arena(spec) <= measured + TFLM_ARENA_MARGIN, (spec.architecture, spec.activation)



def test_tflm_arena_follows_the_planners_fragmentation(tmp_path):
    """cnn:1s-gap-10 with ELU (a float detour whose tensors are the image's size): TFLM's greedy planner needs more
    than the live tensors' peak, and tflm_arena counts what it needs (the clean-clone CI's property test found it)."""
    spec = cnn_of_width(1, (3,), (1,), downsample=("stride",), head="gap", activation="elu")
    run = tflm_check(device_file(spec, tmp_path / "elu.tflite"))
    chain, first, last = int8_ops(spec, "int8-io")
    peak = peak_live_bytes([(a, b) for _, a, b in chain.ops], {t: -(-n // 16) * 16 for t, n in chain.sizes.items()},
                           [first], [last])
    assert run.activation_bytes > peak
    assert run.arena_bytes <= tflm_arena(spec) <= run.arena_bytes + TFLM_ARENA_MARGIN

def test_reports_mark_a_file_tflm_does_not_run():
    from mnistopt.records import CompressionResult, TrialRecord
    from mnistopt.report.render import stages_table

    common = dict(budget=4034, trial_id="m", status="completed", spec=None, params=100, nonzero_params=100, bytes=9,
                  gzip_bytes=9, arena_bytes=800, latency_us=1.0, val_accuracy=0.9, test_accuracy=0.9)
    result = CompressionResult(records=(
        TrialRecord(stage="int8-io", tflm_arena_bytes=None, tflm_reason="TFLM has no kernel for GELU", **common),
        TrialRecord(stage="int8", tflm_arena_bytes=4100, tflm_test_accuracy=0.8912, **common)))
    table = stages_table(result)
    assert "| does not run on TFLM (has no kernel for GELU) |" in table
    assert "| 4,100 |" in table and "| 0.8912 |" in table
