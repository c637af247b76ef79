"""Sphinx configuration of the mnistopt documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html``; run every example:
``sphinx-build -W -b doctest -D plot_gallery=0 docs docs/_build/doctest`` (the gallery's
scripts run in the html build). Examples use the packaged real-digit sample (``mnist-sample``),
small synthetic data or tiny searches, so each build takes a few minutes on a laptop CPU and
needs no network.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import mnistopt  # noqa: E402

project = "mnistopt"
author = "mnistopt developers"
copyright = "2026, mnistopt developers"
release = version = mnistopt.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the Markdown pages: benchmarks (written by benchmarks/*.py --docs) and some guides
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3

exclude_patterns = ["_build"]
templates_path = []
html_theme = "furo"  # wide code blocks scroll instead of being clipped
html_static_path = []
html_title = f"mnistopt {version}"

# The example gallery: every script in ../examples runs at HTML build time on the packaged
# ``mnist-sample`` (real digits, offline); its printed output and figures are embedded.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "show_memory": False,
    "write_computation_times": False,
    "matplotlib_animations": False,
}

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": False, "undoc-members": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Examples in docstrings and pages are run by the doctest builder. Docstring examples are written
# for their module's namespace (as ``python -m doctest`` runs them), so those names are imported.
doctest_global_setup = """
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from mnistopt import *
from mnistopt.data import *
from mnistopt.budget import *
from mnistopt.space import *
from mnistopt.spec import *
from mnistopt.search import *
from mnistopt.report.pareto import *
from mnistopt.report.stats import *
from mnistopt.report.data import *
from mnistopt.report.render import *
from mnistopt.models import *
from mnistopt.cnn import *
from mnistopt.families import *
from mnistopt.kinds import *
from mnistopt.options import *
from mnistopt.records import *
from mnistopt.reference import *
from mnistopt.artifacts import *
from mnistopt.dimensions import *
"""
doctest_test_doctest_blocks = "default"

# Figures drawn by examples (``.. plot::``) are run at HTML build time and embedded.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.figsize": (6, 3.5)}


# ``.. search-options::`` renders every search option from its one declaration
# (mnistopt.options.SearchOptions): the Python keyword, the command-line flag, the default and
# the help text, so this page cannot disagree with the code.
def _search_options_table():
    import dataclasses

    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    from mnistopt.options import SearchOptions

    class SearchOptionsDirective(SphinxDirective):
        def run(self):
            rows = []
            for f in dataclasses.fields(SearchOptions):
                cli = f.metadata.get("cli")
                shown = "the full space" if f.name == "space" else repr(f.default)
                rows += [f"   * - ``{f.name}``", f"     - {'``' + cli.flag + '``' if cli else '(Python only)'}",
                         f"     - ``{shown}``", f"     - {f.metadata['help']}"]
            text = [".. list-table::", "   :header-rows: 1", "   :widths: 15 18 12 55", "",
                    "   * - keyword", "     - flag", "     - default", "     - what it does"] + rows
            node = nodes.container()
            self.state.nested_parse(StringList(text), self.content_offset, node)
            return node.children

    return SearchOptionsDirective


def setup(app):
    app.add_directive("search-options", _search_options_table())
