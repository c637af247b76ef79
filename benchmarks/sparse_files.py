"""Do sparse .tflite files pay? Pruned models in TFLite's sparse encoding against dense int8 files.

    python benchmarks/sparse_files.py --data ../shared/data/mnist --docs

A model pruned to a budget of non-zero weights (default 4,034) is trained as a non-zero search
trial trains it (pruning while training, :class:`~mnistopt.training.GradualPruning`; Adam at
3e-3 with cosine decay, batch 64, +-1 pixel shifts), then exported four ways: dense float32 and
int8 files (mnistopt's formats), and the TFLite converter's sparse encoding
(``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``) with float32 or int8 weights. Each file is run by
LiteRT with its default delegate (XNNPACK) and with the built-in kernels alone, on the validation
split (the official test set is not read). The last rows answer "at equal bytes": the widest dense
model of the same shape whose int8 file fits the sparse float32 file's bytes, trained the same way.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import _common

MODELS = {
    "wide MLP (91% sparse)": ("mlp", dict(hidden=(200, 100), crop=4, pool=True)),
    "CNN (75% sparse)": ("cnn", dict(kernels=(5, 5), ratios=(1, 2), head="flatten", padding="valid")),
}


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/sparse_files")
    p.add_argument("--budget", type=int, default=4034, metavar="N", help="non-zero weights (default 4,034)")
    p.add_argument("--epochs", type=int, default=60, metavar="N", help="MLP epochs (CNNs train half as many)")
    p.add_argument("--model", nargs="+", default=list(MODELS), choices=list(MODELS), metavar="NAME")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args, clock, data = _common.start(p)
    import keras
    import numpy as np
    import tensorflow as tf

    from mnistopt import MLPSpec
    from mnistopt.artifacts import arena_bytes, export_tflite, quiet_converter, tflite_interpreter
    from mnistopt.build import build_model
    from mnistopt.cnn import widest_cnn
    from mnistopt.compress.sparsity import count_nonzero
    from mnistopt.kinds import NonzeroBudget, fit_file_budget
    from mnistopt.training import fit_model

    budget, kind, out_dir = args.budget, NonzeroBudget(), Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    training = dict(optimizer="adam", learning_rate=3e-3, lr_schedule="cosine", batch_size=64, augment="shift1",
                    input_shape=data.image_shape, num_classes=data.num_classes)

    def trained(spec, pruned):
        keras.backend.clear_session()
        keras.utils.set_random_seed(args.seed)
        model = build_model(spec)
        pruning = kind.pruning(spec, {}, budget, epochs=spec.epochs) if pruned else None
        fit_model(model, spec, data, epochs=spec.epochs, seed=args.seed, pruning=pruning)
        if pruned:
            model = kind.finish(model, spec, {}, budget, data, out_dir / "pruned.weights.h5", seed=args.seed,
                                prune_epochs=0)[0]
        return model

    def sparse_file(model, path, int8):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
        if int8:
            converter.optimizations.append(tf.lite.Optimize.DEFAULT)
            sample = data.x_train[:500].astype(np.float32)
            converter.representative_dataset = lambda: ([x[None]] for x in sample)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with quiet_converter():
            Path(path).write_bytes(converter.convert())
        return path

    def run(path, delegates):
        """Validation accuracy and median single-image latency (µs, one thread), or the error."""
        try:
            interpreter = tflite_interpreter(path, num_threads=1, delegates=delegates)
            interpreter.allocate_tensors()
            inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
            hits, times = 0, []
            for x, y in zip(data.x_val, data.y_val):
                interpreter.set_tensor(inp["index"], x[None].astype(np.float32))
                start = time.perf_counter_ns()
                interpreter.invoke()
                times.append(time.perf_counter_ns() - start)
                hits += int(interpreter.get_tensor(out["index"]).argmax() == y)
            return {"val_accuracy": hits / len(data.y_val), "latency_us": float(np.median(times)) / 1000}
        except Exception as exc:  # a file LiteRT cannot run this way: say so
            return {"error": f"fails: {str(exc).split('Node number')[0].strip()[:60]}"}

    def cell(r):
        return r["error"] if "error" in r else f"{r['val_accuracy']:.4f}, {r['latency_us']:.1f} µs"

    out = {"data": data.describe(), "budget": budget, "models": {}}
    print(f"Pruned to {budget:,} non-zero weights on {data.name}'s train split; accuracy on its validation split "
          f"(official test set not read); latency: median single-image invocation, one thread, this machine.\n")
    for name in args.model:
        family, shape = MODELS[name]
        if family == "mlp":
            spec = MLPSpec(**shape, epochs=args.epochs, **training)
        else:
            shape = dict(shape)
            spec = widest_cnn(4 * budget, shape.pop("kernels"), shape.pop("ratios"), **shape,
                              epochs=args.epochs // 2, **training)
        _common.say(f"{name}: training {spec.architecture}")
        model = trained(spec, pruned=True)
        tag = name.split(" ")[0].lower() + "-" + name.split(" ")[1]
        files = {"float32 (dense)": export_tflite(model, out_dir / f"{tag}-float32.tflite", "float32"),
                 "int8 (dense)": export_tflite(model, out_dir / f"{tag}-int8.tflite", "int8",
                                               representative=data.x_train),
                 "sparse float32": sparse_file(model, out_dir / f"{tag}-sparse-float32.tflite", int8=False),
                 "sparse int8": sparse_file(model, out_dir / f"{tag}-sparse-int8.tflite", int8=True)}
        same_bytes = fit_file_budget(spec, "int8", os.path.getsize(files["sparse float32"]), data)
        _common.say(f"{name}: training the dense {same_bytes.architecture} of the sparse file's bytes")
        files[f"int8, dense {same_bytes.architecture} ({same_bytes.params:,} params)"] = export_tflite(
            trained(same_bytes, pruned=False), out_dir / f"{tag}-same-bytes-int8.tflite", "int8",
            representative=data.x_train)
        rows = {}
        for label, path in files.items():
            rows[label] = {"bytes": os.path.getsize(path), "arena_bytes": arena_bytes(path),
                           "with XNNPACK": run(path, True), "built-in kernels only": run(path, False)}
        print(f"### {name}: {spec.architecture}, {spec.params:,} parameters, {count_nonzero(model):,} non-zero\n")
        print("| file | bytes | arena bytes | with XNNPACK (val accuracy, latency) | built-in kernels only |")
        print("|:---|---:|---:|:---|:---|")
        for label, r in rows.items():
            print(f"| {label} | {r['bytes']:,} | {r['arena_bytes']:,} | {cell(r['with XNNPACK'])} | "
                  f"{cell(r['built-in kernels only'])} |")
        print()
        sys.stdout.flush()
        out["models"][name] = {"architecture": spec.architecture, "files": rows}
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
