"""Device limits (#30): their declarations, the arena arithmetic, construction under them, a search."""

import json

import numpy as np
from conftest import random_spec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnistopt import Choice, MLPSpec, SearchSpace, search_under_budget
from mnistopt.cli import main
from mnistopt.cnn import cnn_of_width
from mnistopt.errors import ArgumentError, BudgetError, InvalidTypeError, SearchFailedError
from mnistopt.footprint import (ACTIVATION_OPS, TFLM_ACTIVATIONS, TFLM_ARENA_MARGIN, greedy_plan_bytes, int8_arena,
                                peak_live_bytes, tflm_arena)
from mnistopt.limits import LIMITS, OVER_LIMITS, Limits
from mnistopt.options import SearchOptions
from mnistopt.report.data import report_data
from mnistopt.spec import ACTIVATIONS

BOTH = SearchSpace(family=Choice("mlp", "cnn"), depth=Choice(1, 2), batch_size=256, optimizer="adam",
                   batch_norm=False)


# -- declarations -----------------------------------------------------------------------------------------

def test_every_activation_has_an_int8_lowering():
    assert set(ACTIVATION_OPS) == set(ACTIVATIONS)


def test_limits_parse_and_check():
    limits = Limits.parse(["macs=100_000", "arena=4096", "macs=90000"])  # a repeated name keeps the last
    assert dict(limits) == {"macs": 90000, "arena": 4096} and limits.by_construction
    assert Limits.parse(["latency_us=12.5"]).measured == ("latency_us",)
    assert not Limits() and Limits().describe() == "none"
    for bad, message in [("macs", "NAME=VALUE"), ("ram=4096", "Unknown limit 'ram'"), ("macs=-1", "positive"),
                         ("macs=lots", "positive"), ("=5", "NAME=VALUE")]:
        with pytest.raises(ArgumentError, match=message):
            Limits.parse([bad])
    with pytest.raises(ArgumentError, match="positive"):
        Limits({"arena": float("inf")})
    with pytest.raises(InvalidTypeError):
        Limits(["macs=1"])


def test_limits_violations_name_each_limit():
    wide = MLPSpec(hidden=(128, 64))
    limits = Limits({"macs": 50_000, "arena": 1000, "bytes": 50_000})
    over = limits.violations(wide)
    assert over[0].startswith("macs 109,184 > 50,000") and over[1] == f"arena {tflm_arena(wide):,} > 1,000"
    assert "params" in over[2] and not limits.fits(wide)
    assert limits.figures(wide) == {"macs": wide.macs, "tflm_arena_bytes": tflm_arena(wide)}
    assert limits.measured == ("arena", "bytes")  # the arena is met by construction and checked on TFLM
    assert limits.file_violations({"bytes": 60_000, "latency_us": 1.0, "tflm_arena_bytes": 900}) == [
        "bytes 60,000 > 50,000"]
    assert limits.file_violations({"bytes": 6, "tflm_arena_bytes": 1200}) == ["arena 1,200 > 1,000"]
    assert limits.file_violations({"bytes": 6, "tflm_arena_bytes": None, "tflm_reason": "TFLM has no kernel for GELU"}) \
        == ["does not run on TFLM (TFLM has no kernel for GELU)"]


def test_device_profile(tmp_path):
    path = tmp_path / "board.json"
    path.write_text(json.dumps({"name": "a board", "flash_bytes": 65536, "ram_bytes": 8192, "macs": 1e6}))
    assert dict(Limits.from_device(path)) == {"macs": 1_000_000, "arena": 8192, "bytes": 65536}
    path.write_text(json.dumps({"flash": 1}))
    with pytest.raises(ArgumentError, match="Unknown key"):
        Limits.from_device(path)
    path.write_text("[1, 2]")
    with pytest.raises(ArgumentError, match="JSON object"):
        Limits.from_device(path)
    path.write_text("{not json")
    with pytest.raises(ArgumentError, match="Cannot read"):
        Limits.from_device(path)
    with pytest.raises(ArgumentError, match="No device profile"):
        Limits.from_device(tmp_path / "missing.json")


def test_search_options_take_limits_in_every_shape():
    assert SearchOptions(limits=["macs=1000"]).limits == {"macs": 1000}
    assert SearchOptions(limits="arena=4096").limits == {"arena": 4096}
    assert SearchOptions(limits={"latency_us": 20}).settings()["limits"] == {"latency_us": 20}
    assert SearchOptions().limits == {} and SearchOptions().settings()["limits"] == {}


# -- the arena arithmetic ------------------------------------------------------------------------------------

def test_peak_live_bytes_counts_what_is_alive_together():
    # a -> op0 -> b; (a, b) -> op1 -> c: a stays alive until op1 reads it
    assert peak_live_bytes([([0], [1]), ([0, 1], [2])], {0: 10, 1: 5, 2: 7}, [0], [2]) == 22
    assert peak_live_bytes([([0, 9], [1])], {0: 3, 1: 4}, [0], [1]) == 7  # 9: a constant, not counted
    assert peak_live_bytes([], {}, [], []) == 0



def test_greedy_plan_bytes_lays_tensors_out_as_tflm_does():
    # a chain: nothing fragments, so the plan is the peak of live tensors
    chain = [([0], [1]), ([1], [2]), ([2], [3])]
    assert greedy_plan_bytes(chain, {0: 64, 1: 32, 2: 48, 3: 16}, [0], [3]) == 96
    # ELU's float detour (image 784 B -> conv 208 -> float 784 -> ELU 784 -> quantize 208): among equal sizes TFLM
    # places the highest tensor index first, so the conv output finds no gap below 1,568 (TFLM allocates 1,776)
    elu = [([0], [1]), ([1], [2]), ([2], [3]), ([3], [4])]
    sizes = {0: 784, 1: 208, 2: 784, 3: 784, 4: 208}
    assert peak_live_bytes(elu, sizes, [0], [4]) == 1568 and greedy_plan_bytes(elu, sizes, [0], [4]) == 1776
    # the same graph with the first float tensor numbered highest: it goes first, and the conv output fits above it
    renumbered = [([2], [1]), ([1], [4]), ([4], [3]), ([3], [0])]
    assert greedy_plan_bytes(renumbered, {2: 784, 1: 208, 4: 784, 3: 784, 0: 208}, [2], [0]) == 1568
    assert greedy_plan_bytes([], {}, [], []) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 7), max_size=3), st.integers(1, 300)), min_size=1, max_size=8))
def test_greedy_plan_bytes_is_never_below_the_live_peak(graph):
    """Random op graphs (each op reads up to 3 earlier tensors and makes one): the plan holds every live tensor."""
    ops = [([t for t in ins if t <= i], [i + 1]) for i, (ins, _) in enumerate(graph)]
    sizes = {0: 16, **{i + 1: size for i, (_, size) in enumerate(graph)}}
    assert greedy_plan_bytes(ops, sizes, [0], [len(graph)]) >= peak_live_bytes(ops, sizes, [0], [len(graph)])

def test_int8_arena_by_hand():
    mlp = MLPSpec(hidden=(32,), crop=2, pool=True)
    # int8-io (a fixed batch of one, the image taken as 28x28x1): the int8 image and its cropped copy
    assert int8_arena(mlp) == 28 * 28 + 24 * 24
    # float input: the float image and its quantized copy at the QUANTIZE op
    assert int8_arena(mlp, "int8") == 28 * 28 * 4 + 28 * 28
    cnn = cnn_of_width(6, (5, 5), (1, 2), head="flatten")
    # the first convolution's output (24x24x6) with its max-pooled copy (12x12x6)
    assert int8_arena(cnn) == 24 * 24 * 6 + 12 * 12 * 6
    with pytest.raises(ArgumentError, match="quantize"):
        int8_arena(mlp, "float32")


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_arithmetic_arena_and_macs_equal_the_built_file_and_layers(tmp_path_factory, data):
    """For random specs of both families: int8_arena equals arena_bytes of the exported int8 and int8-io
    files, and spec.macs equals the MACs describe_model counts on the built layers."""
    from mnistopt import build_model
    from mnistopt.artifacts import arena_bytes, export_tflite
    from mnistopt.models import describe_model

    spec = random_spec(data, ACTIVATIONS)
    model = build_model(spec, compile=False)
    assert describe_model(model).macs == spec.macs
    representative = np.random.default_rng(0).random((16, 28, 28), dtype=np.float32)
    out = tmp_path_factory.mktemp("arena")
    for quantize in ("int8", "int8-io"):
        path = export_tflite(model, out / f"{quantize}.tflite", quantize, representative=representative)
        assert arena_bytes(path) == int8_arena(spec, quantize), (spec.architecture, spec.activation, quantize)


# -- construction under the limits ---------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(budget=st.integers(2_000, 60_000), macs=st.integers(20_000, 400_000), arena=st.integers(3_500, 16_000),
       family=st.sampled_from(["mlp", "cnn"]), seed=st.integers(0, 10_000))
def test_every_sampled_model_is_within_its_budget_and_limits(budget, macs, arena, family, seed):
    limits = Limits({"macs": macs, "arena": arena})
    try:
        resolved = SearchSpace(family=family).resolve(budget, limits=limits)
    except BudgetError:
        return  # nothing fits: said at resolve time (tested below)
    rng = np.random.default_rng(seed)
    values = {}
    for d in resolved.dimensions():
        if d.kind.name == "RANGE":
            values[d.name] = float(rng.uniform(d.low, d.high))
        else:
            values[d.name] = d.values[int(rng.integers(len(d.values)))]
    spec = resolved.to_spec(values)
    assert spec.params <= budget and spec.macs <= macs and tflm_arena(spec) <= arena
    # as wide as the limits allow: the next width of the same shape breaks the budget or a limit
    if family == "cnn":  # one more filter in the first block, the others grown by the sampled growth
        growth = float(values["conv_growth"])
        wider = cnn_of_width(spec.blocks[0].filters + 1, [b.kernel for b in spec.blocks],
                             [growth ** i for i in range(len(spec.blocks))],
                             separable=[b.separable for b in spec.blocks],
                             downsample=[b.downsample for b in spec.blocks], head=spec.head, padding=spec.padding,
                             batch_norm=spec.batch_norm, activation=spec.activation)
    else:  # one more unit in every layer: at least the next width of the sampled shape
        wider = MLPSpec(hidden=tuple(w + 1 for w in spec.hidden), crop=spec.crop, pool=spec.pool,
                        batch_norm=spec.batch_norm, activation=spec.activation)
    assert wider.params > budget or not limits.fits(wider)


def test_limits_no_model_meets_are_refused_before_training():
    with pytest.raises(BudgetError, match="limits"):
        SearchSpace().resolve(4034, limits={"arena": 1000})  # below the int8 image and its reshaped copy
    with pytest.raises(BudgetError, match="limits"):
        SearchSpace(family="cnn").resolve(4034, limits={"macs": 500})
    # a family none of whose models fits is dropped when another fits
    both = SearchSpace(family=Choice("mlp", "cnn")).resolve(4034, limits={"macs": 5000})
    assert list(both.families) == ["mlp"]


# -- a search under limits --------------------------------------------------------------------------------

def test_search_holds_every_trial_within_its_limits(mnist_small, tmp_path):
    limits = {"macs": 60_000, "arena": 4_600}
    result = search_under_budget(3000, mnist_small, tuner="random", max_trials=4, max_epochs=1, seed=2,
                                 directory=tmp_path, space=BOTH, limits=limits)
    done = [r for r in result.records if r.status == "completed" and not r.is_compression_stage]
    assert len(done) == 4 and {r.family for r in done} == {"mlp", "cnn"}
    for r in done:  # every trial's int8-io file ran on TFLM, within the arena the arithmetic promised
        assert r.params <= 3000 and r.macs <= 60_000 and r.tflm_arena_bytes <= 4_600
        assert r.tflm_arena_bytes <= tflm_arena(r.spec) <= r.tflm_arena_bytes + TFLM_ARENA_MARGIN
        assert r.spec.activation in TFLM_ACTIVATIONS
    device = next(r for r in result.records if r.stage == "int8-io")  # the selected model's device file
    assert device.tflm_arena_bytes <= 4_600 and 0 <= device.tflm_test_accuracy <= 1
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["settings"]["limits"] == limits
    data = report_data(result)
    assert data["limits"]["lines"] == {"macs": 60_000, "tflm_arena_bytes": 4_600}
    best = data["limits"]["best"][0]
    assert best["figures"]["macs"] == [result.best(3000).record.macs, 60_000]
    # resuming under other limits would mix trials built for other limits
    with pytest.raises(ArgumentError, match="same limits"):
        search_under_budget(3000, mnist_small, tuner="random", max_trials=4, max_epochs=1, seed=2,
                            directory=tmp_path, space=BOTH, limits={"macs": 50_000})


def test_a_trial_over_a_measured_limit_fails_with_its_reason(mnist_small, tmp_path):
    with pytest.raises(SearchFailedError, match=OVER_LIMITS):
        search_under_budget(3000, mnist_small, tuner="random", max_trials=2, max_epochs=1, directory=tmp_path,
                            space=SearchSpace(depth=1, batch_size=256, optimizer="adam"),
                            limits={"latency_us": 0.001})
    records = [json.loads(p.read_text()) for p in tmp_path.glob("tuner/**/mnistopt_record.json")]
    assert len(records) == 2
    for r in records:
        assert r["status"] == "failed" and r["reason"].startswith(OVER_LIMITS) and r["latency_us"] > 0.001
        assert r["val_accuracy"] is None  # never ranked


def test_bytes_limit_narrows_each_model_until_its_file_fits(mnist_small, tmp_path):
    result = search_under_budget(20_000, mnist_small, tuner="random", max_trials=2, max_epochs=1, seed=3,
                                 directory=tmp_path, space=SearchSpace(depth=1, batch_size=256, optimizer="adam"),
                                 limits={"bytes": 12_000})
    trials = [r for r in result.records if not r.is_compression_stage]
    assert len(trials) == 2
    for r in trials:
        assert r.status == "completed" and r.bytes <= 12_000 and r.params < 12_000
    # the selected model's device file, written and measured by the search: within the limit too
    (device,) = [r for r in result.records if r.stage == "int8-io"]
    assert device.bytes <= 12_000 and device.tflm_arena_bytes is not None


def test_cli_device_profile_with_a_limit_overriding_it(mnist_dir, tmp_path):
    board = tmp_path / "board.json"
    board.write_text(json.dumps({"name": "a board", "ram_bytes": 100, "macs": 90_000}))
    out = tmp_path / "out"
    assert main(["search", "--budget", "3000", "--data", str(mnist_dir), "--out", str(out), "--device", str(board),
                 "--limit", "arena=4096", "--tuner", "random", "--max-trials", "1", "--max-epochs", "1", "-q"]) == 0
    saved = json.loads((out / "result.json").read_text())
    assert saved["settings"]["limits"] == {"macs": 90_000, "arena": 4096}
    (record,) = [r for r in saved["records"] if r["stage"] == "dense"]
    assert record["macs"] <= 90_000 and record["tflm_arena_bytes"] <= 4096
    assert "## Device limits" in (out / "report.md").read_text()


def test_a_device_target_samples_only_activations_tflm_runs():
    from mnistopt.options import SearchOptions

    def activations(resolved):
        return next(d.values for d in resolved.dimensions() if d.name == "activation")

    assert activations(SearchSpace().resolve(4034)) == ("relu", "gelu")  # no device: the search as it was
    assert activations(SearchSpace().resolve(4034, device=True)) == ("relu",)
    assert activations(SearchSpace(activation=Choice("gelu", "tanh", "selu", "swish")).resolve(
        4034, limits={"macs": 100_000})) == ("tanh", "swish")
    with pytest.raises(ArgumentError, match="no kernel for the activation.*GELU.*Choose among"):
        SearchSpace(activation="gelu").resolve(4034, device=True)
    # what makes a search a device target: limits, or int8-io files; limits also ship the int8-io file
    assert not SearchOptions().device_target and not SearchOptions(compress=True).device_target
    assert SearchOptions(compress={"quantize": ["int8-io"]}).device_target
    with_limits = SearchOptions(limits={"arena": 8192})
    assert with_limits.device_target and with_limits.compress["quantize"] == ["int8-io"]
    assert with_limits.compress["sparsity"] == []
    # a bytes search selects a file, not a model to export: its trials' files were run on TFLM already
    assert SearchOptions(budget_kind="bytes", limits={"arena": 8192}).compress is None
