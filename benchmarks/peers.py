"""mnistopt against what users would otherwise run, at equal wall time per budget, over several seeds.

    python benchmarks/peers.py --data ../shared/data/mnist --json --seeds 3 --budgets 4034 72842

Rows (contenders), chosen to separate the causes of a difference:

* ``mnistopt``: ``search_under_budget(budget)`` with its defaults. Unless ``--allowance`` is
  given, its wall time is the allowance every other row gets at that budget and seed.
* ``mnistopt_raw_pixels``: the same search with ``SearchSpace(inputs="none")`` (what input
  reduction adds).
* ``kerastuner_random_same_space`` / ``kerastuner_bayesian_same_space``: KerasTuner's own
  RandomSearch / BayesianOptimization oracles over mnistopt's ``SearchSpace`` and trainer
  (``search_under_budget(tuner="random"|"bayesian")``): the search algorithm alone.
* ``optuna_tpe_same_space``: Optuna's TPE sampler over the same dimensions, each sample made a
  spec by ``ResolvedSpace.to_spec`` and trained by mnistopt's trainer with the same early
  stopping (patience 3) and epochs as the two rows above.
* ``kerastuner_plain`` / ``optuna_plain``: what a user writes by hand: 1-3 Dense ReLU layers on
  the raw 784 inputs, units log-uniform in [2, widest one-layer width within the budget] (capped
  at 512), Adam with learning rate log-uniform in [1e-4, 1e-2], batch {32, 64, 128}, 10 epochs of
  ``model.fit``; KerasTuner's RandomSearch with ``max_model_size=budget`` (oversized samples fail
  at build time) and Optuna's TPE (oversized samples are pruned before they train).
* ``seed_grid``: the reference notebook's grid, learning rate {1e-4, 1e-3, 1e-2} x batch size
  {32, 64, 128}, 10 epochs of ``model.fit`` on the 784-w-w/2-10 ReLU MLP as wide as the budget
  allows.

The clock rule, the same for every row: imports, data loading and a warm-up (one short
training with each trainer) happen before any clock starts; a row's clock runs from the call
that starts its search until its selected model is in hand; the test-set evaluations taken for
the anytime plot are taken out of every clock. A row starts no configuration once its clock
has passed the allowance (the one in progress finishes); the overrun is reported per run.

Every row selects on validation accuracy; the selected model's test accuracy is reported once
per run. With ``--seeds N`` each row runs N times (seeds 0..N-1: the validation split, the
samplers and the training all follow the seed). The anytime plot (``OUT/anytime.png``) draws,
per budget, the best validation accuracy so far and the test accuracy of the then-best model
against wall time, one line per row (the mean over seeds). With ``--json`` the last line is
``{"budgets": {"4034": {"<row>": {"mean": .., "std": .., "runs": [..]}, ..}, ..}, ..}``.

Nothing is lost on interruption: each finished run is written to
``OUT/seed-S/BUDGET/ROW/result.json`` as it ends, and ``--resume`` reads those back instead of
running them again (a seed's other rows then take their allowance from the saved mnistopt run),
so ``--seeds 3 --resume`` after a two-seed run runs the third seed only and reports all three.

Time: about (rows) x (seeds) x (sum of mnistopt's wall times per budget): on a 2-core CPU with
MNIST-10k, 17 minutes per seed at 4,034 (50 min 11 s for three seeds, 2026-11-24) and 12-13 at
72,842 (26 min 46 s for two, 11 min 59 s for the third).
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import _common

ROWS = ("mnistopt", "mnistopt_raw_pixels", "kerastuner_random_same_space", "kerastuner_bayesian_same_space",
        "optuna_tpe_same_space", "kerastuner_plain", "optuna_plain", "seed_grid")
RESULT_FILE = "result.json"  # one finished run, under OUT/seed-S/BUDGET/ROW/
PLAIN_EPOCHS = 10  # of every plain-space configuration (--peer-epochs)
SAME_SPACE_PATIENCE = 3  # mnistopt's early stopping for random/bayesian trials (patience="auto")


class Clock:
    """A row's clock: wall time since its start, less the time taken out (test evaluations)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.excluded = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    def outside(self, fn):
        """Run ``fn()`` off the clock; return its result."""
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.excluded += time.perf_counter() - t


class Trace:
    """The anytime curve of one run: each time the best validation accuracy improves, when
    (on the row's clock), the new best and the test accuracy of that model."""

    def __init__(self):
        self.points: list[dict] = []

    @property
    def best(self) -> float:
        return self.points[-1]["val"] if self.points else -1.0

    def improves(self, val: float) -> bool:
        return val > self.best

    def add(self, t: float, val: float, test: float) -> None:
        self.points.append({"t": round(t, 2), "val": val, "test": test})


def params_of(hidden, data) -> int:
    from mnistopt.budget import mlp_params

    return mlp_params(math.prod(data.image_shape), tuple(hidden), data.num_classes)


def plain_model(hidden, learning_rate: float, input_shape, classes: int):
    import keras

    layers = [keras.Input(input_shape), keras.layers.Flatten()]
    layers += [keras.layers.Dense(u, activation="relu") for u in hidden]
    model = keras.Sequential([*layers, keras.layers.Dense(classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_accuracy(model, data) -> float:
    from mnistopt.training import evaluate_arrays

    return evaluate_arrays(model, data.x_test, data.y_test)[1]


def fit_plain(hidden, lr, batch, data, seed, epochs):
    import keras

    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    model = plain_model(hidden, lr, data.image_shape, data.num_classes)
    history = model.fit(data.x_train, data.y_train, batch_size=batch, epochs=epochs, verbose=0,
                        validation_data=(data.x_val, data.y_val))
    return model, history.history["val_accuracy"][-1]


def widest_units(budget, data) -> int:
    """The plain space's upper bound on units per layer: the widest one-layer MLP within the budget."""
    from mnistopt.budget import widths_for_budget

    return min(512, widths_for_budget(budget, math.prod(data.image_shape), data.num_classes, (1,))[0])


def plain_config(hidden, lr, batch) -> dict:
    return {"architecture": "784-" + "-".join(map(str, hidden)) + "-10", "learning_rate": lr, "batch_size": batch}


class ByHand:
    """What a fit-based row keeps: its best model so far (weights) and its anytime trace."""

    def __init__(self, data):
        self.data, self.clock, self.trace = data, Clock(), Trace()
        self.weights = self.model = self.config = None
        self.trials = self.skipped = 0

    def offer(self, val: float, model, config: dict, params: int) -> None:
        self.trials += 1
        if self.trace.improves(val):
            t = self.clock.elapsed()
            self.trace.add(t, val, self.clock.outside(lambda: test_accuracy(model, self.data)))
            self.weights, self.model, self.config = model.get_weights(), model, {**config, "params": params}

    def result(self, allowance: float) -> dict:
        wall = self.clock.elapsed()
        self.model.set_weights(self.weights)
        return run_row(self.trace.points[-1]["test"], self.trace.best, self.trials, wall, allowance, self.config,
                       self.trace, oversized_skipped=self.skipped)


def run_row(test, val, trials, wall, allowance, config, trace, **extra) -> dict:
    return {"test_accuracy": test, "val_accuracy": val, "trials": trials, "wall_s": round(wall, 1),
            "allowance_s": round(allowance, 1), "overrun_s": round(max(0.0, wall - allowance), 1),
            "config": config, "trace": trace.points, **extra}


# -- rows on the plain space ---------------------------------------------------------------------

def seed_grid(budget, data, allowance, seed, directory, epochs) -> dict:
    from mnistopt.budget import widths_for_budget

    hidden = tuple(widths_for_budget(budget, math.prod(data.image_shape), data.num_classes, (1.0, 0.5)))
    run = ByHand(data)
    for lr in (1e-4, 1e-3, 1e-2):
        for batch in (32, 64, 128):
            if run.clock.elapsed() >= allowance:
                break
            model, val = fit_plain(hidden, lr, batch, data, seed, epochs)
            run.offer(val, model, plain_config(hidden, lr, batch), params_of(hidden, data))
    return run.result(allowance)


def optuna_plain(budget, data, allowance, seed, directory, epochs) -> dict:
    import optuna

    top = widest_units(budget, data)
    run = ByHand(data)

    def objective(trial):
        layers = trial.suggest_int("layers", 1, 3)
        hidden = tuple(trial.suggest_int(f"units_{i}", 2, top, log=True) for i in range(layers))
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        batch = trial.suggest_categorical("batch_size", [32, 64, 128])
        if params_of(hidden, data) > budget:
            run.skipped += 1
            raise optuna.TrialPruned("over the budget")
        model, val = fit_plain(hidden, lr, batch, data, seed, epochs)
        run.offer(val, model, plain_config(hidden, lr, batch), params_of(hidden, data))
        return val

    optimize(optuna.samplers.TPESampler(seed=seed), objective, run.clock, allowance)
    return run.result(allowance)


def optimize(sampler, objective, clock: Clock, allowance: float) -> None:
    """Optuna's study loop, stopped before any trial that would start past the allowance."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def stop_when_spent(study, _trial):
        if clock.elapsed() >= allowance:
            study.stop()

    study.optimize(objective, callbacks=[stop_when_spent])


def kerastuner_plain(budget, data, allowance, seed, directory, epochs) -> dict:
    import keras_tuner as kt

    top = widest_units(budget, data)
    run = ByHand(data)

    class Plain(kt.HyperModel):
        def build(self, hp):
            layers = hp.Int("layers", 1, 3)
            hidden = [hp.Int(f"units_{i}", 2, top, sampling="log") for i in range(layers)]
            return plain_model(hidden, hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
                               data.image_shape, data.num_classes)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128]), **kwargs)

    class Timed(kt.RandomSearch):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.status == kt.engine.trial.TrialStatus.COMPLETED:
                hp = trial.hyperparameters.values
                hidden = tuple(hp[f"units_{i}"] for i in range(hp["layers"]))
                if run.trace.improves(trial.score):
                    model = run.clock.outside(lambda: quiet_load(self, trial))
                    run.offer(trial.score, model, plain_config(hidden, hp["learning_rate"], hp["batch_size"]),
                              params_of(hidden, data))
                else:
                    run.trials += 1
            else:
                run.skipped += 1
            if run.clock.elapsed() >= allowance:  # start no new trial
                self.oracle.max_trials = len(self.oracle.trials)

    tuner = Timed(Plain(), objective="val_accuracy", max_trials=100_000, max_model_size=budget, seed=seed + 1,
                  max_consecutive_failed_trials=100_000, directory=directory, project_name=f"kt-{budget}",
                  overwrite=True)
    tuner.search(data.x_train, data.y_train, epochs=epochs, validation_data=(data.x_val, data.y_val), verbose=0)
    return run.result(allowance)


def quiet_load(tuner, trial):
    """KerasTuner's best checkpoint of a trial (its optimizer state is not needed, nor warned about)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return tuner.load_model(trial)


# -- rows on mnistopt's space and trainer --------------------------------------------------------

def optuna_tpe_same_space(budget, data, allowance, seed, directory, max_epochs) -> dict:
    import keras
    import optuna

    from mnistopt import SearchSpace
    from mnistopt.build import build_model
    from mnistopt.dimensions import DimensionKind
    from mnistopt.training import fit_model, train_tensors

    run = ByHand(data)
    resolved = SearchSpace().resolve(budget, data.image_shape, data.num_classes)
    tensors = train_tensors(data)

    def objective(trial):
        values = {}
        for d in resolved.dimensions():
            if d.kind is DimensionKind.FIXED:
                values[d.name] = d.values[0]
            elif d.kind is DimensionKind.CHOICE:
                values[d.name] = trial.suggest_categorical(d.name, list(d.values))
            else:
                values[d.name] = trial.suggest_float(d.name, d.low, d.high, log=d.log)
        spec = resolved.to_spec(values, epochs=max_epochs)
        trial_seed = seed * 100_003 + trial.number
        keras.backend.clear_session()
        keras.utils.set_random_seed(trial_seed)
        model = build_model(spec)
        outcome = fit_model(model, spec, data, epochs=spec.epochs, seed=trial_seed, patience=SAME_SPACE_PATIENCE,
                            tensors=tensors)
        if outcome.diverged is not None:
            raise optuna.TrialPruned("diverged")
        val = outcome.history["val_accuracy"][outcome.final_index]
        run.offer(val, model, spec_config(spec), spec.params)
        return val

    optimize(optuna.samplers.TPESampler(seed=seed), objective, run.clock, allowance)
    return run.result(allowance)


def spec_config(spec) -> dict:
    return {"architecture": spec.architecture, "optimizer": spec.optimizer, "learning_rate": spec.learning_rate,
            "batch_size": spec.batch_size, "lr_schedule": spec.lr_schedule, "augment": spec.augment}


def mnistopt_row(budget, data, allowance, seed, directory, max_epochs, time_limited=True, **search) -> dict:
    """A row that is a ``search_under_budget`` call; its anytime test figures come afterwards from the
    trials' checkpoints, off the clock."""
    from mnistopt import search_under_budget
    from mnistopt.records import TrialStatus

    clock, improvements, best = Clock(), [], [-1.0]

    def progress(event):
        record = getattr(event, "record", None)
        if record is None or record.status != "completed" or record.val_accuracy <= best[0]:
            return
        best[0] = record.val_accuracy
        improvements.append((clock.elapsed(), record))

    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    result = search_under_budget(budget, data, directory=directory, seed=seed, overwrite=True, progress=progress,
                                 time_limit=allowance if time_limited else None, **epochs, **search)
    wall = clock.elapsed()
    trace = Trace()
    for t, record in improvements:
        trace.add(t, record.val_accuracy, checkpoint_test_accuracy(directory, budget, record, data))
    chosen = result.best(budget).record
    completed = sum(r.status is TrialStatus.COMPLETED for r in result.records)
    return run_row(chosen.test_accuracy, chosen.val_accuracy, completed,
                   wall, allowance if time_limited else wall, {**spec_config(chosen.spec), "params": chosen.params},
                   trace, stopped_by_time_limit=str(budget) in result.info.get("time_limit_reached", {}))


def checkpoint_test_accuracy(directory, budget, record, data) -> float:
    """Test accuracy of one trial's model, from the checkpoint its search wrote."""
    import keras

    from mnistopt.search import load_trial_model

    keras.backend.clear_session()
    return test_accuracy(load_trial_model(directory, record, budget_kind="params"), data)


def run_one(name, budget, data, allowance, seed, directory, max_epochs, peer_epochs) -> dict:
    same = dict(max_epochs=max_epochs)
    from mnistopt import SearchSpace

    rows = {
        "mnistopt_raw_pixels": lambda: mnistopt_row(budget, data, allowance, seed, directory,
                                                    space=SearchSpace(inputs="none"), **same),
        "kerastuner_random_same_space": lambda: mnistopt_row(budget, data, allowance, seed, directory,
                                                             tuner="random", max_trials=100_000, **same),
        "kerastuner_bayesian_same_space": lambda: mnistopt_row(budget, data, allowance, seed, directory,
                                                               tuner="bayesian", max_trials=100_000, **same),
        "optuna_tpe_same_space": lambda: optuna_tpe_same_space(
            budget, data, allowance, seed, directory, max_epochs_for(budget, max_epochs)),
        "kerastuner_plain": lambda: kerastuner_plain(budget, data, allowance, seed, directory, peer_epochs),
        "optuna_plain": lambda: optuna_plain(budget, data, allowance, seed, directory, peer_epochs),
        "seed_grid": lambda: seed_grid(budget, data, allowance, seed, directory, peer_epochs),
    }
    return rows[name]()


def max_epochs_for(budget: int, max_epochs: int | None) -> int:
    """The full-trial epochs a search row uses at ``budget`` (the library's rule unless --max-epochs)."""
    from mnistopt.options import SearchOptions

    return SearchOptions(max_epochs=max_epochs or "auto").epochs_for(budget)


def warm_up(data) -> None:
    """Imports and one short training with each trainer, before any clock starts."""
    import keras
    import keras_tuner  # noqa: F401
    import optuna  # noqa: F401

    from mnistopt import MLPSpec, search_under_budget  # noqa: F401
    from mnistopt.build import build_model
    from mnistopt.training import fit_model

    small = data.subset(train=512, val=128, test=128)
    fit_plain((16,), 1e-3, 64, small, 0, 1)
    spec = MLPSpec(hidden=(16,), epochs=1, batch_size=128)
    keras.backend.clear_session()
    fit_model(build_model(spec), spec, small, epochs=1)


# -- summary ---------------------------------------------------------------------------------------

def summarise(runs: list[dict]) -> dict:
    tests = [r["test_accuracy"] for r in runs]
    return {"mean": statistics.fmean(tests), "std": statistics.stdev(tests) if len(tests) > 1 else None,
            "val_mean": statistics.fmean(r["val_accuracy"] for r in runs),
            "wall_s_mean": statistics.fmean(r["wall_s"] for r in runs),
            "overrun_s_max": max(r["overrun_s"] for r in runs), "runs": runs}


def pm(row: dict) -> str:
    return f"{row['mean']:.4f}" + (f" ± {row['std']:.4f}" if row["std"] is not None else "")


def step_mean(traces: list[list[dict]], key: str, grid):
    """Mean over runs of each run's best-so-far step function at each time of ``grid`` (None until every
    run has a point)."""
    out = []
    for t in grid:
        values = []
        for points in traces:
            seen = [p[key] for p in points if p["t"] <= t]
            if not seen:
                break
            values.append(seen[-1])
        out.append(statistics.fmean(values) if len(values) == len(traces) else None)
    return out


def anytime_plot(budgets: dict, path: Path, data_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(budgets), figsize=(6.5 * len(budgets), 8), squeeze=False)
    colors = plt.get_cmap("tab10")
    for col, (budget, rows) in enumerate(budgets.items()):
        end = max(r["wall_s"] for row in rows.values() for r in row["runs"])
        grid = [end * i / 200 for i in range(201)]
        for i, (name, row) in enumerate(rows.items()):
            traces = [r["trace"] for r in row["runs"]]
            for ax, key in zip(axes[:, col], ("val", "test")):
                ys = step_mean(traces, key, grid)
                pts = [(t, y) for t, y in zip(grid, ys) if y is not None]
                if pts:
                    ax.plot(*zip(*pts), color=colors(i), lw=2.2 if name == "mnistopt" else 1.3, label=name,
                            ls="-" if "same_space" in name or name.startswith("mnistopt") else "--")
        axes[0, col].set_title(f"budget {int(budget):,} parameters")
        axes[0, col].set_ylabel("best validation accuracy so far")
        axes[1, col].set_ylabel("test accuracy of the then-best model")
        for ax in axes[:, col]:
            ax.set_xlabel("wall time (s, the row's clock)")
            finals = [ln.get_ydata()[-1] for ln in ax.get_lines()]
            if finals:  # every row's final value in view; early, much lower points may fall below
                ax.set_ylim(max(0.0, min(finals) - 0.03), min(1.0, max(finals) + 0.01))
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="lower right")
    seeds = len(next(iter(next(iter(budgets.values())).values()))["runs"])
    fig.suptitle(f"Anytime, mean over {seeds} seed(s)\n{data_name}\nsolid: mnistopt's space; dashed: plain space",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/peers")
    p.add_argument("--budgets", "--budget", type=int, nargs="+", default=[4034, 72842], metavar="N",
                   help="budgets (default: 4034 72842)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="runs per row: seeds 0..N-1 (default: 3)")
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, metavar="ROW",
                   help=f"rows to run (default: all): {', '.join(ROWS)}")
    p.add_argument("--allowance", type=float, default=None, metavar="SECONDS",
                   help="wall time of every row, mnistopt's included (default: mnistopt's own wall time at each "
                   "budget and seed)")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="epochs of a full trial of the rows on mnistopt's space (default: the library's)")
    p.add_argument("--peer-epochs", type=int, default=PLAIN_EPOCHS,
                   help=f"epochs of every plain-space configuration (default: {PLAIN_EPOCHS})")
    p.add_argument("--resume", action="store_true",
                   help="reuse the runs already saved under --out (OUT/seed-S/BUDGET/ROW/result.json)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = p.parse_args()
    _common.setup()
    clock = _common.Clock()
    if args.allowance is None and "mnistopt" not in args.rows:
        p.error("without --allowance the mnistopt row sets every row's allowance: keep it in --rows")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, list]] = {str(b): {name: [] for name in args.rows} for b in args.budgets}
    data_name = None
    for seed in range(args.seeds):
        args.seed = seed
        data = _common.load(args)  # the validation split follows the seed
        data_name = f"{data.name}: " + ", ".join(f"{k} {v:,}" for k, v in data.sizes.items())
        if not all(saved(args, str(out_dir / f"seed-{seed}" / str(b)), name, quiet=True)
                   for b in args.budgets for name in args.rows):
            warm_up(data)  # not needed when every run of this seed is saved
        for budget in args.budgets:
            directory = str(out_dir / f"seed-{seed}" / str(budget))
            allowance = args.allowance
            if "mnistopt" in args.rows:
                r = saved(args, directory, "mnistopt") or mnistopt_row(
                    budget, data, allowance or 0.0, seed, f"{directory}/mnistopt", args.max_epochs,
                    time_limited=allowance is not None)
                keep(runs, budget, seed, "mnistopt", r, directory)
                allowance = allowance or r["wall_s"]
            for name in args.rows:
                if name == "mnistopt":
                    continue
                r = saved(args, directory, name) or run_one(name, budget, data, allowance, seed,
                                                            f"{directory}/{name}", args.max_epochs, args.peer_epochs)
                keep(runs, budget, seed, name, r, directory)

    budgets = {b: {name: summarise(rs) for name, rs in rows.items()} for b, rows in runs.items()}
    print(f"Selected model's test accuracy, mean ± standard deviation over {args.seeds} seed(s), at equal wall time "
          f"per budget and seed (data {data_name}; selection on validation accuracy; test measured once per run)\n")
    print("| budget | row | test accuracy | val accuracy | trials (mean) | wall s (mean) | max overrun s | "
          "picked (seed: architecture, optimizer, lr, batch) |\n|---:|:---|---:|---:|---:|---:|---:|:---|")
    for b, rows in budgets.items():
        for name, row in sorted(rows.items(), key=lambda kv: -kv[1]["mean"]):
            picked = "; ".join(f"{r['seed']}: {describe(r['config'])}" for r in row["runs"])
            print(f"| {int(b):,} | {name} | {pm(row)} | {row['val_mean']:.4f} | "
                  f"{statistics.fmean(r['trials'] for r in row['runs']):.1f} | {row['wall_s_mean']:.0f} | "
                  f"{row['overrun_s_max']:.0f} | {picked} |")
    for b, rows in budgets.items():
        if "mnistopt" in rows:
            best = max(rows, key=lambda n: rows[n]["mean"])
            verdict = "best" if best == "mnistopt" else f"NOT the best ({best}: {pm(rows[best])})"
            print(f"\nbudget {int(b):,}: mnistopt's mean {pm(rows['mnistopt'])} is {verdict}")
    plot = out_dir / "anytime.png"
    anytime_plot(budgets, plot, data_name)
    print(f"\nanytime plot: {plot}")
    out = {"budgets": budgets, "seeds": args.seeds, "data": data_name,
           "allowance": "fixed" if args.allowance is not None else "mnistopt's wall time per budget and seed",
           "clock": "imports, data and warm-up outside every clock; test evaluations for the trace taken out"}
    return _common.finish(clock, out if args.json else None)


def saved(args, directory: str, name: str, quiet: bool = False) -> dict | None:
    """The run saved by an earlier invocation (``--resume``), or None."""
    import json

    path = Path(directory) / name / RESULT_FILE
    if not (args.resume and path.is_file()):
        return None
    r = json.loads(path.read_text())
    if not quiet:
        _common.say(f"resumed: {path}")
    return r


def keep(runs: dict, budget: int, seed: int, name: str, r: dict, directory: str) -> None:
    """Record one finished run: in memory, on disk (for ``--resume``) and on the terminal."""
    import json

    r = {**r, "seed": seed}
    runs[str(budget)][name].append(r)
    path = Path(directory) / name / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r))
    report(budget, seed, name, r)


def describe(config: dict) -> str:
    opt = config.get("optimizer", "adam")
    return f"{config['architecture']} {opt} {config['learning_rate']:.2g} b{config['batch_size']}"


def report(budget, seed, name, r) -> None:
    _common.say(f"budget {budget:,} seed {seed} {name}: test {r['test_accuracy']:.4f} (val {r['val_accuracy']:.4f}) "
                f"{r['trials']} trials {r['wall_s']:.0f} s (allowance {r['allowance_s']:.0f} s, overrun "
                f"{r['overrun_s']:.0f} s); {describe(r['config'])}")


if __name__ == "__main__":
    raise SystemExit(main())
