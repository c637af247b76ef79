"""The Sphinx documentation builds with warnings as errors, its examples run, and it documents
every public name."""

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest


DOCS = Path(__file__).resolve().parents[1] / "docs"


def sphinx(builder, out, *options):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", builder, *options, str(DOCS), str(out)],
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_html_builds_without_warnings_and_documents_every_public_name(tmp_path):
    proc = sphinx("html", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = {Path(f).name: Path(f).read_text() for f in glob.glob(str(tmp_path / "**" / "*.html"), recursive=True)}
    api = html["api.html"]
    import mnistopt.budget
    import mnistopt.compress
    import mnistopt.artifacts
    import mnistopt.errors
    import mnistopt.footprint
    import mnistopt.kinds
    import mnistopt.limits
    import mnistopt.reference
    import mnistopt.report
    import mnistopt.compress.stages
    import mnistopt.compression
    import mnistopt.tflm

    documented = {m: m.__all__ for m in (mnistopt.errors, mnistopt.budget, mnistopt.report)}
    documented[mnistopt] = [n for n in mnistopt.__all__ if n != "__version__"]
    documented[mnistopt.kinds] = ["BudgetKind", "ParamsBudget", "NonzeroBudget", "BytesBudget", "get_kind"]
    documented[mnistopt.reference] = [n for n in mnistopt.reference.__all__ if n != "REFERENCE"]
    documented[mnistopt.compress] = ["prune_magnitude", "prune_units", "quantization_aware_training"]
    documented[mnistopt.artifacts] = mnistopt.artifacts.__all__[1:]  # QUANTIZATIONS is a tuple, named in text
    documented[mnistopt.limits] = [n for n in mnistopt.limits.__all__ if n != "Limits"]  # that one: mnistopt.Limits
    documented[mnistopt.footprint] = [n for n in mnistopt.footprint.__all__ if n != "INT8_FORMATS"]
    documented[mnistopt.tflm] = mnistopt.tflm.__all__
    documented[mnistopt.compression] = mnistopt.compression.__all__
    documented[mnistopt.compress.stages] = mnistopt.compress.stages.__all__
    documented[mnistopt.families] = [n for n in mnistopt.families.__all__  # these: documented where they are defined
                                     if n not in ("FAMILIES", "DEFAULT_FAMILY", "INPUTS", "Spec")]
    missing = [f"{m.__name__}.{n}" for m, names in documented.items() for n in names
               if f'id="{m.__name__}.{n}"' not in api]
    assert missing == []  # each public name has its entry
    for page in ("quickstart.html", "reports.html"):  # figures the examples drew, embedded
        name = page.split(".")[0]
        assert f'src="_images/{name}-1.png"' in html[page] or f'src="../_images/{name}-1.png"' in html[page]
        assert (tmp_path / "_images" / f"{name}-1.png").stat().st_size > 5000
    assert "0.9627" in html["walkthrough.html"] and "training-set" in html["walkthrough.html"]
    # the gallery: each example ran on the packaged real digits and drew its figure
    examples = sorted(p.stem for p in (DOCS.parent / "examples").glob("plot_*.py"))
    assert len(examples) == 6
    for name in examples:
        page = html[f"{name}.html"]
        assert "mnist-sample" in page and f"sphx_glr_{name}_001.png" in page, name
        assert (tmp_path / "_images" / f"sphx_glr_{name}_001.png").stat().st_size > 5000
    assert "furo" in html["index.html"]  # the theme that scrolls wide code instead of clipping it


@pytest.mark.slow
def test_doctest_builder_runs_every_example(tmp_path):
    proc = sphinx("doctest", tmp_path, "-D", "plot_gallery=0")  # the html build runs the gallery
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = (tmp_path / "output.txt").read_text()
    tests = int(summary.split("Doctest summary")[1].split("tests")[0].split()[-1])
    assert tests >= 200 and "0 failures in tests" in summary
