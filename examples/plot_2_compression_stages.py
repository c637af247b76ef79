"""
Compression stages, each measured on its own file
=================================================

Train one small model, then quantize and prune it. Every stage is exported to ``.tflite`` and
its accuracy is measured by running that file through the TFLite interpreter, so the figure
shows what a device would get for each size.
"""

import tempfile

import matplotlib.pyplot as plt

from mnistopt import compress_model, load_dataset, train, widest_spec

data = load_dataset("mnist-sample")
spec = widest_spec(20000, ratios=(2, 1), crop=4, pool=True, epochs=8)
trained = train(spec, data)
print(spec.architecture, spec.params, f"test {trained.test_accuracy:.4f}")

# %%
# Post-training quantization of the model and of two pruned copies (one fine-tuning epoch each).
stages = compress_model(trained.model, data, tempfile.mkdtemp(), spec=spec,
                        quantize=["dynamic", "int8"], sparsity=[0.5, 0.9],
                        fine_tune_epochs=1)
for r in stages.records:
    print(f"{r.stage:<20} {r.bytes:>7,} B  gzip {r.gzip_bytes:>7,} B  "
          f"nonzero {r.nonzero_params:>6,}  test {r.test_accuracy:.4f}")

# %%
# Accuracy against the bytes a device stores (gzip: what it downloads).
# One line per model (dense, 50% and 90% pruned), through its float32, dynamic and int8 files.
fig, ax = plt.subplots(figsize=(6.4, 3.6))
families = {}
for r in stages.records:
    base, _, quant = r.stage.partition("+")
    name = "dense" if base in ("float32", "dynamic", "int8") else base
    families.setdefault(name, []).append((r.gzip_bytes, r.test_accuracy))
for name, points in families.items():
    points.sort()
    ax.plot(*zip(*points), marker="o", label=name)
ax.set_xscale("log")
ax.legend(title="model (files: int8, dynamic, float32)", fontsize=8)
ax.set_xlabel("gzip bytes of the .tflite file")
ax.set_ylabel("test accuracy of the file")
fig.tight_layout()
