"""
Quickstart: the most accurate MLP in each budget
================================================

Search the reference notebook's three budgets (4,034, 72,842 and 93,322 parameters) on the
packaged sample, then look at every trial: each sampled model fits its budget by construction,
the selected one is the best on *validation* accuracy, and only it is evaluated on the test set.
"""

import tempfile

import matplotlib.pyplot as plt

from mnistopt import load_dataset, search_under_budget

data = load_dataset("mnist-sample")
print(data.name, data.sizes)

# %%
# A small random search per budget (the default is Hyperband with 44 trials per budget).
result = search_under_budget([4034, 72842, 93322], data, tuner="random", max_trials=4,
                             max_epochs=4, directory=tempfile.mkdtemp(), seed=0)
for budget in result.budgets:
    best = result.best(budget).record
    print(f"{budget:>6,}: {best.spec.architecture:<20} {best.params:>6,} params  "
          f"val {best.val_accuracy:.4f}  test {best.test_accuracy:.4f}")

# %%
# Every trial, against the budget it had to fit.
fig, ax = plt.subplots(figsize=(6.4, 3.6))
for budget in result.budgets:
    trials = [r for r in result.for_budget(budget) if r.val_accuracy is not None]
    ax.scatter([r.params for r in trials], [r.val_accuracy for r in trials],
               label=f"budget {budget:,}")
    ax.axvline(budget, color="grey", lw=0.5, ls="--")
ax.set_xscale("log")
ax.set_xlabel("parameters")
ax.set_ylabel("validation accuracy")
ax.legend()
fig.tight_layout()
