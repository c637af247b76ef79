"""Each search option is declared once (SearchOptions); the signature, the CLI, result.json's settings
and the docs agree with that declaration. Also: the benchmarks use public API only. Fast: no TensorFlow."""

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

from mnistopt import search_under_budget
from mnistopt.cli import build_parser
from mnistopt.options import ClusterOptions, SearchOptions, Tuner, cli_options
from mnistopt.records import ProgressEvent, TrialRecord

ROOT = Path(__file__).resolve().parents[1]
FIELDS = [f.name for f in dataclasses.fields(SearchOptions)]
# The keywords of search_under_budget that are not search options: where the data and the state are,
# where progress goes, and how a distributed search is wired (ClusterOptions).
NOT_OPTIONS = {"dataset", "directory", "data_path", "progress", "distributed", "oracle", "worker_id", "trial_timeout"}


def test_the_signature_takes_one_options_object_and_its_fields_as_keywords():
    params = inspect.signature(search_under_budget).parameters
    assert params["options"].default is None and params["overrides"].kind is inspect.Parameter.VAR_KEYWORD
    assert {n for n in params if n not in ("budget", "options", "overrides")} == NOT_OPTIONS
    assert params["trial_timeout"].default == ClusterOptions.trial_timeout
    assert not set(FIELDS) & set(params)  # each option is declared once, on SearchOptions
    assert "locals()" not in inspect.getsource(search_under_budget)


def test_options_and_keywords_make_the_same_search_options():
    from mnistopt.errors import ArgumentError, InvalidTypeError
    from mnistopt.search import check_search_arguments

    by_keywords = check_search_arguments(4034, tuner="random", seed=3, compress=True)[1]
    by_object = check_search_arguments(4034, SearchOptions(tuner="random", seed=3, compress=True))[1]
    mixed = check_search_arguments(4034, SearchOptions(tuner="random", compress=True), seed=3)[1]
    assert by_keywords == by_object == mixed and mixed.patience == 3
    # a keyword changes what "auto" resolved to, as if every option had been given at once
    assert check_search_arguments(4034, SearchOptions(tuner="random"), tuner="hyperband")[1].patience is None
    assert check_search_arguments(4034)[1] == SearchOptions()
    with pytest.raises(ArgumentError, match=r"Unknown search option\(s\) \['max_trails'\]"):
        check_search_arguments(4034, max_trails=3)
    with pytest.raises(InvalidTypeError, match="`options` must be a mnistopt.options.SearchOptions"):
        check_search_arguments(4034, {"tuner": "random"})


def test_the_docstring_documents_every_keyword():
    doc = search_under_budget.__doc__
    for name in set(FIELDS) | NOT_OPTIONS | {"options"}:
        assert f"\n        {name}:" in doc, f"search_under_budget's docstring does not document `{name}`"


def search_args(*argv):
    return build_parser().parse_args(["search", "--budget", "4034", *argv])


def test_the_cli_flags_and_defaults_are_the_declared_ones():
    args = search_args()
    declared = list(cli_options())
    assert len(declared) >= 10
    help_text = build_parser()._subparsers._group_actions[0].choices["search"].format_help()
    for field, cli in declared:
        assert cli.flag in help_text, cli.flag
        value = getattr(args, field.name)
        if cli.parse is None:  # a switch: off unless given
            assert value is False and getattr(search_args(cli.flag), field.name) is True
        else:  # the CLI passes the declared default itself ("auto" stays "auto" for SearchOptions to resolve)
            assert value == field.default, field.name
            assert field.default is None or str(field.default) in help_text.replace("\n", " "), field.name
    # what a flag leaves out resolves as the API's default does, whatever the other flags say
    random = search_args("--tuner", "random")
    assert SearchOptions(tuner="random", patience=random.patience).patience == 3


@pytest.mark.parametrize("argv, name, expected", [
    (["--patience", "none"], "patience", None),
    (["--patience", "5"], "patience", 5),
    (["--hyperband-factor", "3"], "hyperband_factor", 3),
    (["--epoch-images", "full"], "epoch_images", None),
    (["--max-epochs", "auto"], "max_epochs", "auto"),
    (["--tuner", "Random"], "tuner", Tuner.RANDOM),
])
def test_a_flag_reaches_the_option(argv, name, expected):
    args = search_args(*argv)
    assert getattr(SearchOptions(**{name: getattr(args, name)}), name) == expected


def test_settings_record_every_option_json_ready():
    import json

    settings = SearchOptions(tuner="random", compress=True).settings()
    assert list(settings) == FIELDS
    assert json.loads(json.dumps(settings))["tuner"] == "random" and settings["budget_kind"] == "params"


def test_progress_events_share_one_protocol():
    from mnistopt.compress.pipeline import StageProgress
    from mnistopt.search import TrialProgress

    record = TrialRecord(budget=1, trial_id="0", status="completed", spec=None, params=1, val_accuracy=0.5)
    trial = TrialProgress(1, 1, 2, record, 0.5, 1.0)
    stage = StageProgress(1, 3, dataclasses.replace(record, bytes=10, gzip_bytes=5, test_accuracy=0.5))
    assert isinstance(trial, ProgressEvent) and isinstance(stage, ProgressEvent)
    assert not isinstance(object(), ProgressEvent)


def private_imports(path: Path) -> list[str]:
    """The mnistopt modules ``path`` imports that are private (a name starting with ``_``) or the CLI."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistopt"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("mnistopt")]
        for name in names:
            parts = name.split(".")
            if any(p.startswith("_") and p != "__version__" for p in parts[1:]) or parts[1:2] == ["cli"]:
                bad.append(name)
    return bad


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "examples").glob("*.py")),
                         ids=lambda p: p.name)
def test_benchmarks_and_examples_use_public_api_only(path):
    assert private_imports(path) == []


def test_the_private_import_check_can_fail(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text("from mnistopt._tuner import CHECKPOINT_FILE\nfrom mnistopt.cli import main\nimport mnistopt._io\n")
    assert private_imports(script) == ["mnistopt._tuner", "mnistopt._tuner.CHECKPOINT_FILE", "mnistopt.cli",
                                       "mnistopt.cli.main", "mnistopt._io"]
