"""Same seed and data, same search: the sampled specs always; on CPU with TensorFlow's op
determinism on, the same accuracies and losses too (docs: guides/reliability.md)."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
sys.path.insert(0, sys.argv[2])
from conftest import synthetic_arrays
from mnistopt import load_dataset, search_under_budget
data = load_dataset(synthetic_arrays(600, 100, seed=2), seed=5)
out = []
for run in ("a", "b"):
    result = search_under_budget(3000, data, tuner="random", max_trials=3, max_epochs=2, seed=11,
                                 directory=sys.argv[1] + "/" + run)
    out.append([{"spec": r.spec.to_dict(), "val_accuracy": r.val_accuracy, "val_loss": r.val_loss,
                 "history": r.history} for r in result.records])
print(json.dumps(out))
"""


@pytest.mark.slow  # real training, several seconds (runs in the full suite)
def test_same_seed_same_search_bit_for_bit_with_op_determinism(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), os.path.dirname(__file__)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(first) == 3
    assert first == second  # specs, every epoch's loss and accuracy, final figures: exactly equal
    assert len({json.dumps(r["spec"], sort_keys=True) for r in first}) == 3  # three different trials
