import json
import os
import subprocess
import sys



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


def test_all_names_resolve_and_the_top_level_stays_small():
    import mnistopt.budget
    import mnistopt.compress
    import mnistopt.errors
    import mnistopt.kinds
    import mnistopt.reference
    import mnistopt.report

    for module in (mnistopt, mnistopt.errors, mnistopt.budget, mnistopt.kinds, mnistopt.compress, mnistopt.report,
                   mnistopt.reference):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ names {name!r}, which it does not define"
        assert len(set(module.__all__)) == len(module.__all__)
    assert len(mnistopt.__all__) <= 22


def test_errors_subclass_builtins():
    from mnistopt import errors

    assert issubclass(errors.BudgetError, ValueError)
    assert issubclass(errors.DataError, ValueError)
    assert issubclass(errors.DataNotFoundError, FileNotFoundError)
    assert issubclass(errors.ModelNotFoundError, FileNotFoundError)
    assert issubclass(errors.NotSelectedError, KeyError)
    assert issubclass(errors.InvalidTypeError, TypeError)
    assert issubclass(errors.OutputDirError, OSError)
    assert all(issubclass(getattr(errors, n), errors.MnistoptError) for n in errors.__all__)


def longest_import_chain(graph, package="mnistopt"):
    """The longest chain of imports between the package's modules (import-linter's layers keep the graph acyclic)."""
    import functools

    @functools.cache
    def longest_from(module):
        chains = [longest_from(m) for m in graph.find_modules_directly_imported_by(module)
                  if m.startswith(package) and m != module]
        return (module, *max(chains, key=len, default=()))

    return max((longest_from(m) for m in graph.modules if m.startswith(package)), key=len)


def test_configuration_imports_no_machinery_and_import_chains_stay_short():
    import grimp

    graph = grimp.build_graph("mnistopt")
    for config in ("mnistopt.options", "mnistopt.compression", "mnistopt.tuners"):
        machinery = {m for m in graph.find_modules_directly_imported_by(config)
                     if m.startswith(("mnistopt.compress.", "mnistopt._tuner", "mnistopt.search", "mnistopt.training"))
                     or m == "mnistopt.compress"}
        assert not machinery, (config, machinery)
    chain = longest_import_chain(graph)
    assert len(chain) <= 16, " -> ".join(chain)  # 17 before the search's options moved below its machinery


def test_no_function_in_src_is_over_100_lines_of_code():
    """A reader holds a function in mind at once (its docstring, which may be long, not counted)."""
    import ast
    from pathlib import Path

    long = []
    for path in (Path(__file__).resolve().parents[1] / "src" / "mnistopt").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) is not None else node.body
                lines = node.end_lineno - body[0].lineno + 1 if body else 0
                if lines > 100:
                    long.append(f"{path.name}:{node.name} ({lines})")
    assert long == []
