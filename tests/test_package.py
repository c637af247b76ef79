import json
import os
import subprocess
import sys

import mnistopt


def test_import_is_light_and_leaves_keras_alone():
    code = (
        "import os, sys, json; import mnistopt; "
        "from mnistopt import MLPSpec, count_params, build_model, load_dataset, train; "
        "print(json.dumps({'mods': sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow_model_optimization', 'tf_keras', 'tensorflow', 'keras')), "
        "'legacy': os.environ.get('TF_USE_LEGACY_KERAS')}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data == {"mods": [], "legacy": None}


def test_all_names_resolve():
    for name in mnistopt.__all__:
        assert getattr(mnistopt, name) is not None, name
    assert len(set(mnistopt.__all__)) == len(mnistopt.__all__)


def test_errors_subclass_builtins():
    assert issubclass(mnistopt.BudgetError, ValueError)
    assert issubclass(mnistopt.DataError, ValueError)
    assert issubclass(mnistopt.DataNotFoundError, FileNotFoundError)
    assert issubclass(mnistopt.ArgumentTypeError, TypeError)
    assert issubclass(mnistopt.OutputDirError, OSError)
    assert all(issubclass(getattr(mnistopt, n), mnistopt.MnistoptError)
               for n in ("BudgetError", "SpecError", "DataError", "TrainingDivergedError"))
