"""mnistopt against what users would otherwise run, at equal wall-clock time per budget.

    python benchmarks/peers.py --data ../shared/data/mnist [--json]

For each budget (default 4,034 / 72,842 / 93,322), on the same data and seed:

1. mnistopt: ``search_under_budget(budget)`` with its defaults (Hyperband, 25 epochs at most).
   Its wall time is the allowance every peer gets at this budget.
2. seed_grid: the reference notebook's experiment, learning rate {1e-4, 1e-3, 1e-2} x batch
   size {32, 64, 128}, 10 epochs each with Keras' ``model.fit``, on its 784-w-w/2-10 ReLU MLP
   made as wide as the budget allows.
3. kerastuner: a plain KerasTuner ``RandomSearch`` with ``max_model_size=budget`` over the
   "plain space" below; oversized samples fail at build time, as KerasTuner does it.
4. optuna: Optuna's TPE sampler over the same plain space; a sample over the budget is
   pruned before it trains (the budget as a constraint).

The plain space is what a user would write: 1-3 Dense ReLU layers on the raw 784 inputs,
units per layer log-uniform integers in [2, widest one-layer width that fits the budget]
(capped at 512), Adam with learning rate log-uniform in [1e-4, 1e-2], batch size {32, 64,
128}, 10 epochs of ``model.fit``. A peer starts no new configuration once the allowance is
spent (the one in progress finishes, so peers may run a little over; their wall time is
printed). Every searcher selects on validation accuracy; the selected model's test accuracy
is measured once and printed. With --json the last line is
``{"budgets": {"4034": {"mnistopt": acc, "seed_grid": acc, "kerastuner": acc, "optuna": acc},
...}, "wall_s": {...}, "trials": {...}}``.

About 3 x 4 x (mnistopt's search time) in all: ~35 minutes on a 2-core CPU with MNIST-10k.
"""

from __future__ import annotations

import math
import tempfile
import time

import _common

PEERS = ("mnistopt", "seed_grid", "kerastuner", "optuna")


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


class Best:
    """The searcher's best configuration so far, on validation accuracy (test measured at the end)."""

    def __init__(self):
        self.val, self.weights, self.config, self.model = -1.0, None, None, None

    def offer(self, val: float, model, config) -> None:
        if val > self.val:
            self.val, self.weights, self.config, self.model = val, model.get_weights(), config, model


def fit_plain(hidden, lr, batch, epochs, data, seed):
    import keras

    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
    model = plain_model(hidden, lr, data.image_shape, data.num_classes)
    history = model.fit(data.x_train, data.y_train, batch_size=batch, epochs=epochs, verbose=0,
                        validation_data=(data.x_val, data.y_val))
    return model, history.history["val_accuracy"][-1]


def seed_grid(budget, data, allowance, epochs, seed) -> dict:
    from mnistopt.budget import widths_for_budget

    features = math.prod(data.image_shape)
    hidden = tuple(widths_for_budget(budget, features, data.num_classes, (1.0, 0.5)))
    best, start, trials = Best(), time.perf_counter(), 0
    for lr in (1e-4, 1e-3, 1e-2):
        for batch in (32, 64, 128):
            if time.perf_counter() - start >= allowance:
                break
            model, val = fit_plain(hidden, lr, batch, epochs, data, seed)
            best.offer(val, model, {"hidden": hidden, "learning_rate": lr, "batch_size": batch})
            trials += 1
    return finish_peer(best, data, trials, start)


def finish_peer(best: Best, data, trials: int, start: float) -> dict:
    best.model.set_weights(best.weights)
    return {"test_accuracy": test_accuracy(best.model, data), "val_accuracy": best.val, "trials": trials,
            "wall_s": time.perf_counter() - start, "config": best.config,
            "params": params_of(best.config["hidden"], data)}


def widest_units(budget, data) -> int:
    """The plain space's upper bound on units per layer: the widest one-layer MLP within the budget."""
    from mnistopt.budget import widths_for_budget

    return min(512, widths_for_budget(budget, math.prod(data.image_shape), data.num_classes, (1,))[0])


def kerastuner_random(budget, data, allowance, epochs, seed, directory) -> dict:
    import keras_tuner as kt

    top = widest_units(budget, data)

    class Plain(kt.HyperModel):
        def build(self, hp):
            layers = hp.Int("layers", 1, 3)
            hidden = [hp.Int(f"units_{i}", 2, top, sampling="log") for i in range(layers)]
            return plain_model(hidden, hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
                               data.image_shape, data.num_classes)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128]), **kwargs)

    start = time.perf_counter()

    class Timed(kt.RandomSearch):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if time.perf_counter() - start >= allowance:  # start no new trial
                self.oracle.max_trials = len(self.oracle.trials)

    tuner = Timed(Plain(), objective="val_accuracy", max_trials=100_000, max_model_size=budget, seed=seed + 1,
                  max_consecutive_failed_trials=100_000, directory=directory, project_name=f"kt-{budget}")
    tuner.search(data.x_train, data.y_train, epochs=epochs, validation_data=(data.x_val, data.y_val), verbose=0)
    trials = tuner.oracle.trials.values()
    completed = [t for t in trials if t.status == "COMPLETED"]
    best_trial = tuner.oracle.get_best_trials(1)[0]
    hp = best_trial.hyperparameters.values
    model = tuner.get_best_models(1)[0]
    wall = time.perf_counter() - start
    hidden = tuple(hp[f"units_{i}"] for i in range(hp["layers"]))
    return {"test_accuracy": test_accuracy(model, data), "val_accuracy": best_trial.score,
            "trials": len(completed), "oversized_skipped": len(trials) - len(completed), "wall_s": wall,
            "config": {"hidden": hidden, "learning_rate": hp["learning_rate"], "batch_size": hp["batch_size"]},
            "params": params_of(hidden, data)}


def optuna_tpe(budget, data, allowance, epochs, seed) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    top = widest_units(budget, data)
    best, start = Best(), time.perf_counter()

    def objective(trial):
        layers = trial.suggest_int("layers", 1, 3)
        hidden = tuple(trial.suggest_int(f"units_{i}", 2, top, log=True) for i in range(layers))
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        batch = trial.suggest_categorical("batch_size", [32, 64, 128])
        if params_of(hidden, data) > budget:
            raise optuna.TrialPruned("over the budget")
        model, val = fit_plain(hidden, lr, batch, epochs, data, seed)
        best.offer(val, model, {"hidden": hidden, "learning_rate": lr, "batch_size": batch})
        return val

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, timeout=allowance)
    out = finish_peer(best, data, sum(t.state.name == "COMPLETE" for t in study.trials), start)
    out["oversized_skipped"] = sum(t.state.name == "PRUNED" for t in study.trials)
    return out


def mnistopt_search(budget, data, max_epochs, seed, directory) -> dict:
    from mnistopt import search_under_budget

    start = time.perf_counter()
    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    result = search_under_budget(budget, data, directory=directory, seed=seed, progress=lambda e: _common.say(str(e)),
                                 **epochs)
    chosen = result.best(budget).record
    return {"test_accuracy": chosen.test_accuracy, "val_accuracy": chosen.val_accuracy,
            "trials": len(result.records), "wall_s": time.perf_counter() - start,
            "config": {"architecture": chosen.spec.architecture, "optimizer": chosen.spec.optimizer,
                       "learning_rate": chosen.spec.learning_rate, "batch_size": chosen.spec.batch_size},
            "params": chosen.params}


def describe(row: dict) -> str:
    c = row["config"]
    arch = c.get("architecture") or "784-" + "-".join(map(str, c["hidden"])) + "-10"
    return f"{arch}, lr {c['learning_rate']:.2g}, batch {c['batch_size']}"


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/peers")
    p.add_argument("--budget", type=int, nargs="+", default=[4034, 72842, 93322], metavar="N")
    p.add_argument("--max-epochs", type=int, default=None,
                   help="mnistopt's epochs of a full trial (default: the library's)")
    p.add_argument("--peer-epochs", type=int, default=10, help="epochs of every peer configuration (default: 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, data = _common.start(p)

    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for budget in args.budget:
            row = results[str(budget)] = {}
            row["mnistopt"] = mnistopt_search(budget, data, args.max_epochs, args.seed, f"{tmp}/mnistopt")
            allowance = row["mnistopt"]["wall_s"]
            _common.say(f"budget {budget:,}: allowance {allowance:.0f} s")
            row["seed_grid"] = seed_grid(budget, data, allowance, args.peer_epochs, args.seed)
            row["kerastuner"] = kerastuner_random(budget, data, allowance, args.peer_epochs, args.seed, f"{tmp}/kt")
            row["optuna"] = optuna_tpe(budget, data, allowance, args.peer_epochs, args.seed)
            for name in PEERS:
                r = row[name]
                _common.say(f"budget {budget:,} {name}: test {r['test_accuracy']:.4f} (val {r['val_accuracy']:.4f}) "
                            f"{r['trials']} trials {r['wall_s']:.0f} s; {describe(r)}")

    print(f"Best selected model's test accuracy at equal wall time per budget (data {data.name}: "
          + ", ".join(f"{k} {v:,}" for k, v in data.sizes.items()) + "; selection on validation accuracy)\n")
    print("| budget | allowance | " + " | ".join(PEERS) + " |\n|---:|---:|" + "---:|" * len(PEERS))
    for budget, row in results.items():
        cells = []
        for name in PEERS:
            r = row[name]
            cells.append(f"{r['test_accuracy']:.4f} ({r['trials']} trials, {r['wall_s']:.0f} s)")
        print(f"| {int(budget):,} | {row['mnistopt']['wall_s']:.0f} s | " + " | ".join(cells) + " |")
    print("\n| budget | searcher | selected configuration | params | val accuracy |\n|---:|:---|:---|---:|---:|")
    for budget, row in results.items():
        for name in PEERS:
            r = row[name]
            print(f"| {int(budget):,} | {name} | {describe(r)} | {r['params']:,} | {r['val_accuracy']:.4f} |")
    wins = {b: all(row["mnistopt"]["test_accuracy"] >= row[n]["test_accuracy"] for n in PEERS) for b, row in
            results.items()}
    print("\nmnistopt at least every peer at " + ", ".join(f"{int(b):,}: {'yes' if w else 'NO'}" for b, w in wins.items()))
    out = {
        "budgets": {b: {n: row[n]["test_accuracy"] for n in PEERS} for b, row in results.items()},
        "wall_s": {b: {n: row[n]["wall_s"] for n in PEERS} for b, row in results.items()},
        "trials": {b: {n: row[n]["trials"] for n in PEERS} for b, row in results.items()},
        "details": results,
    }
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
