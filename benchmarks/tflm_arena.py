"""TensorFlow Lite Micro's tensor arena against mnistopt's arithmetic, and what the fixed-batch export saves.

    python benchmarks/tflm_arena.py --docs

Builds random specs of both families with every activation TFLM runs (weights drawn at random, as
after training: the converter drops all-zero biases, which a trained model does not have), exports
each as an int8-io file and allocates it on TFLM (the ``tflite-micro`` package's interpreter, its
recording allocator). The first half of the files fits TFLM's persistent bytes per op by least
squares (``--fit``: the constants of :data:`mnistopt.footprint.TFLM_OP_BYTES` come from it); the
second half checks :func:`mnistopt.footprint.tflm_arena` against TFLM on files it was not fitted
to. Then the reference MLP (784-128-64-10) and the 4,034-parameter CNN of docs/benchmarks/limits.md
are exported with a dynamic batch and with the fixed batch of one, and both files allocated on TFLM.
No data is read: the arena depends on the graph, not on the images (calibration uses random ones).
"""

from __future__ import annotations

import collections
import math
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

import _common


def random_spec(rng: random.Random, activations):
    from mnistopt import MLPSpec
    from mnistopt.cnn import CNNSpec, ConvBlock
    from mnistopt.errors import SpecError

    if rng.random() < 0.5:
        crop, pool = rng.choice([(0, False), (2, False), (4, False), (0, True), (2, True), (4, True)])
        return MLPSpec(hidden=tuple(rng.randint(1, 150) for _ in range(rng.randint(1, 3))), crop=crop, pool=pool,
                       activation=rng.choice(activations), batch_norm=rng.random() < 0.3)
    while True:
        try:
            blocks = tuple(ConvBlock(rng.randint(1, 24), rng.choice([3, 5]), i > 0 and rng.random() < 0.25,
                                     rng.choice(["pool", "pool", "stride"])) for i in range(rng.randint(1, 3)))
            return CNNSpec(blocks=blocks, head=rng.choice(["gap", "flatten"]), padding=rng.choice(["valid", "same"]),
                           activation=rng.choice(activations), batch_norm=rng.random() < 0.3)
        except SpecError:
            continue


def trained_like(model, seed: int):
    """``model`` with every weight drawn at random (no zero bias left for the converter to drop)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:  # a batch norm's variance stays positive
        low = 0.5 if "variance" in w.path else None
        w.assign((rng.uniform(low, 1.5, w.shape) if low else rng.normal(0, 0.1, w.shape)).astype(w.dtype))
    return model


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/tflm-arena")
    p.add_argument("--files", type=int, default=200, help="random specs, half to fit and half to check (default 200)")
    p.add_argument("--fit", action="store_true", help="also print the least-squares fit of the per-op bytes")
    args, clock, _ = _common.start(p, load_data=False)
    _common.describe_data("no data (random weights; random calibration images)")
    from mnistopt import MLPSpec, build_model
    from mnistopt.artifacts import export_tflite
    from mnistopt.cnn import CNNSpec, ConvBlock
    from mnistopt.footprint import TFLM_ACTIVATIONS, TFLM_ARENA_MARGIN, greedy_plan_bytes, int8_ops, tflm_arena
    from mnistopt.tflm import available, tflm_check

    if not available():
        print("tflite-micro is not installed (pip install mnistopt[tflm]): nothing to measure", file=sys.stderr)
        return 1
    rng = random.Random(args.seed)
    images = np.random.default_rng(args.seed).random((64, 28, 28), np.float32)
    folder = Path(tempfile.mkdtemp(prefix="tflm-arena-"))
    rows = []
    import keras

    for i in range(args.files):
        keras.backend.clear_session()
        spec = random_spec(rng, TFLM_ACTIVATIONS)
        path = export_tflite(trained_like(build_model(spec, compile=False), i), folder / f"{i}.tflite", "int8-io",
                             representative=images)
        run = tflm_check(path)
        chain, first, last = int8_ops(spec, "int8-io")
        head = greedy_plan_bytes([(a, b) for _, a, b in chain.ops],
                                 {t: -(-n // 16) * 16 for t, n in chain.sizes.items()}, [first], [last])
        rows.append({"spec": spec, "tflm": run.arena_bytes, "tflm_head": run.activation_bytes, "head": head,
                     "ops": collections.Counter(op for op, _, _ in chain.ops),
                     "channels": sum(2 * -(-4 * c // 16) * 16 for c in chain.channels if c), "reason": run.reason})
        _common.say(f"{i + 1}/{args.files} {spec.architecture} {spec.activation}: TFLM {run.arena_bytes} B")
    ran = [r for r in rows if r["tflm"] is not None]
    fit, check = ran[:len(ran) // 2], ran[len(ran) // 2:]
    print(f"{len(rows)} random int8-io files (MLP and CNN, activations {', '.join(TFLM_ACTIVATIONS)}); "
          f"{len(ran)} ran on TFLM ({len(rows) - len(ran)} did not: {sorted({r['reason'] for r in rows if r['reason']})})")
    same_head = sum(r["tflm_head"] == r["head"] for r in ran)
    print(f"activations placed by TFLM's planner equal to greedy_plan_bytes of the op chain (16-byte aligned): {same_head} of {len(ran)}")
    if args.fit:
        ops = sorted({o for r in fit for o in r["ops"]})
        a = np.array([[1.0] + [r["ops"].get(o, 0) for o in ops] for r in fit])
        y = np.array([r["tflm"] - r["head"] - r["channels"] for r in fit], float)
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        per = {o: int(math.ceil(c / 4) * 4) for o, c in zip(ops, coef[1:])}
        base = max(r["tflm"] - r["head"] - r["channels"] - sum(per[o] * n for o, n in r["ops"].items()) for r in fit)
        print(f"least-squares fit on {len(fit)} files: persistent bytes per op (rounded up to 4) {per}; "
              f"base {int(math.ceil(base / 16) * 16)} (the most any fitted file needs beyond them)")
    for name, part in (("fitted", fit), ("held out", check)):
        gaps = [tflm_arena(r["spec"]) - r["tflm"] for r in part]
        rel = max(g / r["tflm"] for g, r in zip(gaps, part))
        print(f"tflm_arena(spec) - TFLM's arena on the {name} {len(part)} files: min {min(gaps):+,} B, max "
              f"{max(gaps):+,} B ({rel:.1%} of the arena at most; stated margin {TFLM_ARENA_MARGIN} B); below TFLM's: "
              f"{sum(g < 0 for g in gaps)}")
    print()
    print("| model | LiteRT activations (dynamic batch) | TFLM arena, dynamic batch | TFLM arena, batch of one | "
          "tflm_arena(spec) |")
    print("|:---|---:|---:|---:|---:|")
    from mnistopt.artifacts import arena_bytes, quiet_converter

    for spec in (MLPSpec(hidden=(128, 64)), CNNSpec(blocks=(ConvBlock(3, 5), ConvBlock(6, 5)), head="flatten")):
        model = trained_like(build_model(spec, compile=False), 0)
        fixed = export_tflite(model, folder / "fixed.tflite", "int8-io", representative=images)
        dynamic = folder / "dynamic.tflite"
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_keras_model(model)  # the export before the fixed batch
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([im[None]] for im in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
        with quiet_converter():
            dynamic.write_bytes(converter.convert())
        print(f"| {spec.architecture} | {arena_bytes(dynamic):,} | {tflm_check(dynamic).arena_bytes:,} | "
              f"{tflm_check(fixed).arena_bytes:,} | {tflm_arena(spec):,} |")
    print("\n(tflite-micro's x86-64 build: 8-byte pointers, so a 32-bit microcontroller needs at most these arenas)")
    return _common.finish(clock)


if __name__ == "__main__":
    sys.exit(main())
