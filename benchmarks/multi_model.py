"""Experiment: train several small candidate MLPs in one graph step. Does it double trials/min?

    python benchmarks/multi_model.py --data ../shared/data/mnist [--json]

Sub-10k-parameter MLPs spend most of a training step on per-step and per-op overhead, not
arithmetic. This experiment samples --models candidate specs from the default search space at
--budget (4,034), all with batch size 32 (the costliest per image; a shared step needs one
batch size), and trains them for --epochs epochs two ways, on the same data:

* sequential: one ``mnistopt.training.fit_model`` per candidate, as a search trial does
  (build, trace the epoch graph, train, validate);
* packed: all candidates in one traced epoch whose step computes every candidate's forward
  pass, loss, gradients and optimizer update on the same minibatch (the same shuffle a
  search's trials already share), then validates each.

Both give each candidate the same updates (disjoint variables, the same batches, the same
optimizer arithmetic), so the final validation accuracies are printed side by side as a
check. Then the trial-level gain is projected onto the default search: the share of a real
Hyperband search's wall time (measured here too, at the same budget) that is training
epochs, and Amdahl's law, ``1 / ((1 - share) + share / epoch_speedup)``. mnistopt would
keep packing only if that projection reached 2x.
"""

from __future__ import annotations

import tempfile
import time

import _common


def sample_specs(budget: int, count: int, seed: int, data):
    import dataclasses
    import random

    from mnistopt import SearchSpace

    space = SearchSpace().resolve(budget, data.image_shape, data.num_classes)
    rng = random.Random(seed)
    specs = []
    for _ in range(count):
        values = {}
        for d in space.dimensions():
            if d.kind == "fixed":
                values[d.name] = d.values[0]
            elif d.kind == "choice":
                values[d.name] = rng.choice(d.values)
            else:
                values[d.name] = rng.uniform(d.low, d.high)
        spec = space.to_spec(values)
        specs.append(dataclasses.replace(spec, batch_size=32, lr_schedule="constant", dropout=0.0, augment="none",
                                         label_smoothing=0.0))  # the packed loop below has neither
    return specs


def sequential(specs, data, epochs: int, seed: int, tensors):
    import keras

    from mnistopt import build_model
    from mnistopt.training import fit_model

    accuracies = []
    start = time.perf_counter()
    for spec in specs:
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_model(spec)
        outcome = fit_model(model, spec, data, epochs=epochs, seed=seed, tensors=tensors)
        accuracies.append(outcome.history["val_accuracy"][-1])
    return time.perf_counter() - start, accuracies


def packed(specs, data, epochs: int, seed: int, tensors):
    import keras
    import numpy as np
    import tensorflow as tf

    from mnistopt import build_model
    from mnistopt.training import apply_updates, evaluate_arrays

    start = time.perf_counter()
    keras.backend.clear_session()
    models = []
    for spec in specs:  # the same initial weights as the sequential run
        keras.utils.set_random_seed(seed)
        models.append(build_model(spec))
    x_all, y_all = tensors
    n, batch = len(data.y_train), specs[0].batch_size
    steps = -(-n // batch)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for m in models:
        m.optimizer.build(m.trainable_variables)

    @tf.function
    def run_epoch(order):
        for i in tf.range(steps):
            idx = order[i * batch : (i + 1) * batch]
            xb, yb = tf.gather(x_all, idx), tf.gather(y_all, idx)
            for m in models:  # unrolled: every candidate's step in the same graph step
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, m(xb, training=True))
                    if m.losses:
                        loss = loss + tf.add_n(m.losses)
                apply_updates(m.optimizer, tape.gradient(loss, m.trainable_variables), m.trainable_variables)
        return tf.constant(0)

    rng = np.random.default_rng([seed, 0])  # fit_model's shuffles
    for epoch in range(epochs):
        for m, spec in zip(models, specs):
            m.optimizer.learning_rate.assign(spec.learning_rate_at(epoch))
        run_epoch(tf.constant(rng.permutation(n).astype(np.int32)))
        accuracies = [evaluate_arrays(m, data.x_val, data.y_val)[1] for m in models]
    return time.perf_counter() - start, accuracies


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/multi_model")
    p.add_argument("--budget", type=int, default=4034)
    p.add_argument("--models", type=int, default=8, help="candidates trained together (default: 8)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--search-max-epochs", type=int, default=None,
                   help="max_epochs of the default search whose time split is measured (default: the library's)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, data = _common.start(p)
    from mnistopt import search_under_budget
    from mnistopt.training import train_tensors

    specs = sample_specs(args.budget, args.models, args.seed, data)
    tensors = train_tensors(data)
    t_seq, acc_seq = sequential(specs, data, args.epochs, args.seed, tensors)
    t_pack, acc_pack = packed(specs, data, args.epochs, args.seed, tensors)
    speedup = t_seq / t_pack
    _common.say(f"sequential {t_seq:.1f} s, packed {t_pack:.1f} s: {speedup:.2f}x")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        epochs = {} if args.search_max_epochs is None else {"max_epochs": args.search_max_epochs}
        result = search_under_budget(args.budget, data, directory=tmp, seed=args.seed, **epochs)
        search_s = time.perf_counter() - t0
    # each record's wall_time_s spans its build, fit, validation and checkpoint: what packing speeds up
    trial_s = sum(r.wall_time_s or 0.0 for r in result.records)
    share = trial_s / search_s
    projected = 1 / ((1 - share) + share / speedup)

    print(f"{args.models} candidates at budget {args.budget:,} (batch 32, {args.epochs} epochs, "
          f"{data.sizes['train']:,} training images)\n")
    print("| candidate | params | val accuracy, sequential | val accuracy, packed |\n|:---|---:|---:|---:|")
    for spec, a, b in zip(specs, acc_seq, acc_pack):
        print(f"| {spec.architecture} {spec.optimizer} | {spec.params:,} | {a:.4f} | {b:.4f} |")
    print(f"\n| measure | value |\n|:---|---:|\n| sequential training, all candidates | {t_seq:.1f} s |\n"
          f"| packed training, all candidates | {t_pack:.1f} s |\n| speedup of the training | {speedup:.2f}x |\n"
          f"| default search at {args.budget:,}: trials, wall time | {len(result.records)}, {search_s:.0f} s |\n"
          f"| share of the search inside trials' build + fit + validation | {share:.0%} |\n"
          f"| projected search trials/min gain (Amdahl) | {projected:.2f}x |")
    print(f"\nverdict: {'keep' if projected >= 2 else 'drop'} (the bar is 2x more trials per minute)")
    out = {"models": args.models, "epochs": args.epochs, "sequential_s": t_seq, "packed_s": t_pack,
           "training_speedup": speedup, "search_s": search_s, "trial_share": share,
           "projected_trials_per_minute_gain": projected,
           "max_accuracy_difference": max(abs(a - b) for a, b in zip(acc_seq, acc_pack))}
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
