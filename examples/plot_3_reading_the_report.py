"""
Reading the Pareto report
=========================

``write_report`` turns a result into ``report.html``, ``report.md``, ``report.json`` and
plots. Its content is plain data first (:func:`mnistopt.report.report_data`): every record
with its place on the fronts, the selected models, and the reference comparison.
"""

import tempfile

import matplotlib.pyplot as plt

from mnistopt import load_dataset, search_under_budget, write_report
from mnistopt.report import report_data

data = load_dataset("mnist-sample")
out = tempfile.mkdtemp()
stages = {"quantize": ["int8"], "sparsity": [0.75], "fine_tune_epochs": 1}
result = search_under_budget([4034, 20000], data, tuner="random", max_trials=4,
                             max_epochs=3, directory=out, seed=1, compress=stages)
files = write_report(result, out)
print(*sorted(files), sep="\n")

# %%
# The front over bytes: no other model is at most as large and at least as accurate on validation.
report = report_data(result)
front = report["fronts"]["bytes"]["members"]
for i in front:
    r = report["records"][i]
    print(f"{r['budget']:>6,} {r['stage']:<16} {r['bytes']:>7,} B  "
          f"val {r['val_accuracy']:.4f}")

# %%
# The report's own plot of that front, as written beside report.html.
image = plt.imread(files["pareto-bytes"])
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.imshow(image)
ax.axis("off")
fig.tight_layout()
