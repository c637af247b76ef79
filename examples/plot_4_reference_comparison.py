"""
The reference comparison: what each parameter buys
==================================================

The reference notebook reported 93,322 parameters -> 0.9979, 72,842 -> 0.9976 and
4,034 -> 0.9627, measured on its *training* set (60,000 images). mnistopt puts the selected
model of each budget beside those figures, with train accuracy (the comparable number) and
test accuracy (the honest one), and the gap each ratio of sizes buys.
"""

import tempfile

import matplotlib.pyplot as plt

from mnistopt import load_dataset, search_under_budget
from mnistopt.report import report_data

data = load_dataset("mnist-sample")
result = search_under_budget([4034, 72842, 93322], data, tuner="random", max_trials=3,
                             max_epochs=4, directory=tempfile.mkdtemp(), seed=2)
report = report_data(result)
for row in report["reference"]:
    ours = row["ours"]
    print(f"{row['budget']:>6,}: reference {row['reference_accuracy']:.4f} (train) | "
          f"ours: {ours['params']:,} params, train {ours['train_accuracy']:.4f}, "
          f"test {ours['test_accuracy']:.4f}")

# %%
# Accuracy gaps between budgets: the reference's two large models are nearly equal while
# 1.28x apart in size; the small one costs a few points at 23x fewer parameters.
for gap in report["gaps"]:
    ours = gap["ours"]
    print(f"{gap['larger']:,} vs {gap['smaller']:,}: reference {gap['reference_ratio']}x, "
          f"gap {gap['reference_gap']:+.4f} (train) | ours {ours['ratio']:.2f}x, "
          f"gap {ours['test_gap']:+.4f} (test)")

# %%
rows = sorted(report["reference"], key=lambda r: r["budget"])
labels = [f"{r['budget']:,}" for r in rows]
x = range(len(rows))
fig, ax = plt.subplots(figsize=(6.4, 3.6))
ax.bar([i - 0.27 for i in x], [r["reference_accuracy"] for r in rows], 0.27,
       label="reference (train)")
ax.bar(list(x), [r["ours"]["train_accuracy"] for r in rows], 0.27, label="ours, train")
ax.bar([i + 0.27 for i in x], [r["ours"]["test_accuracy"] for r in rows], 0.27,
       label="ours, test")
ax.set_xticks(list(x), labels)
ax.set_xlabel("budget (parameters)")
ax.set_ylim(0.8, 1.0)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.18), ncol=3, fontsize=8)
fig.tight_layout()
