"""
The optimizer study
===================

The reference notebook's optimisation study: the same MLP trained with Adam, SGD (with and
without momentum) and RMSProp, then Adam with dropout and L2 weight decay. Every variant gets
the same data and seed; the one with the best final validation accuracy is marked, and test
accuracy chooses nothing.
"""

import dataclasses

import matplotlib.pyplot as plt

from mnistopt import MLPSpec, load_dataset
from mnistopt.reference import compare_training, optimizer_study

data = load_dataset("mnist-sample")
base = dataclasses.replace(MLPSpec.baseline(), epochs=4, batch_size=64)
keep = ("adam", "sgd", "sgd+momentum", "rmsprop", "adam+dropout-0.2")
variants = {k: v for k, v in optimizer_study(base).items() if k in keep}
runs = compare_training(variants, data)
best = max(runs, key=lambda k: runs[k].val_accuracy)
for name, r in runs.items():
    mark = "  <- chosen on validation" if name == best else ""
    print(f"{name:<18} val {r.val_accuracy:.4f}  test {r.test_accuracy:.4f}{mark}")

# %%
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for name, r in runs.items():
    epochs = range(1, len(r.history["val_accuracy"]) + 1)
    ax.plot(epochs, r.history["val_accuracy"], marker="o", label=name)
ax.set_xticks(list(epochs))
ax.set_xlabel("epoch")
ax.set_ylabel("validation accuracy")
ax.legend(fontsize=8)
fig.tight_layout()
