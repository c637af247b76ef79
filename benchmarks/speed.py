"""How close mnistopt's training is to this machine's arithmetic limit, how many trials a
search runs per minute, and whether memory stays flat across trials.

    python benchmarks/speed.py --data ../shared/data/mnist [--json]

1. A float32 matmul probe (2048 x 2048, best of several runs) gives the machine's GFLOP/s. It
   runs after each batch size's epochs too, and the fastest probe of the run sets the floor
   (the most demanding floor this machine showed).
2. The 109,386-parameter baseline MLP trains one epoch over --images images (the train split
   tiled, default 60,000 like full MNIST) with mnistopt's training loop at each batch size the
   default search samples (64, 128, 256: the headline) and at 32 (the reference notebook's) and
   512; at batch 128 without augmentation, with shift2 and with affine, measured in turns (three
   rounds of --repeats epochs of each, so the machine's slow spells fall on all three alike;
   ``augment_epoch_ratio`` is each kind's median epoch over the plain one's); and with Keras'
   model.fit at batch 32 for comparison. The epoch's arithmetic floor is its FLOP count
   (forward 2W, weight gradients 2W, input gradients 2(W - W1) per image, W kernel weights, W1
   of them in the first layer) divided by the probe's GFLOP/s. One estimator for every row: the
   median of --repeats epochs after one warm-up epoch (validation pass included), as a ratio to
   the floor; the fastest and slowest epochs are printed beside it.
   ``epoch_ratio_to_floor_search_batches`` holds the ratio at each of the search's batch sizes
   and their mean weighted by how many of the default search's trials (step 3) sampled each
   (uniform weights with --skip-search, and it says so).
   Two CNNs (the convolutional family's k-fold reference shapes at 4,034 and 72,842 parameters)
   train the same way at batch 64 and 128, beside the MLP: their floor counts 2 FLOPs per
   multiply-accumulate forward, for the weight gradients and for the input gradients (none for
   the first convolution's input), from ``CNNSpec.macs``; ``cnn_epochs`` holds their rows.
3. Trials per minute of the default search (Hyperband, budget 4,034, 44 trials).
4. RSS across a --rss-trials random search at budget 4,034 (3 epochs each): growth is the
   median RSS after the last ten trials minus the median after the first ten (a leak is a
   trend; trials that sample augmentation hold a transient copy of the train split, so single
   trials swing by tens of MB either way); the last ten's peak minus the first ten's low is
   printed beside it.

With --json the last line is one JSON object (epoch_ratio_to_floor_search_batches,
epoch_ratio_to_floor at batch 512, trials_per_minute, rss_growth_mb, and everything else
measured).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import _common


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def matmul_gflops(n: int = 2048, repeats: int = 5, inner: int = 10) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n), seed=1)
    b = tf.random.normal((n, n), seed=2)

    @tf.function
    def run():
        c = a
        for _ in range(inner):
            c = tf.matmul(c, b) * 1e-3  # a chain, so no product can be skipped
        return tf.reduce_sum(c)

    run().numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        run().numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * inner / best / 1e9


def epoch_flops(spec, images: int) -> float:
    widths = [spec.in_features, *spec.hidden, spec.num_classes]
    kernels = [a * b for a, b in zip(widths, widths[1:])]
    w, w1 = sum(kernels), kernels[0]
    return float((6 * w - 2 * w1) * images)


def cnn_epoch_flops(spec, images: int) -> float:
    """Training FLOPs of one epoch of a CNNSpec: forward, weight gradients and input gradients, 2 FLOPs per
    multiply-accumulate each (the first convolution needs no input gradient)."""
    import dataclasses

    first = dataclasses.replace(spec, blocks=spec.blocks[:1], head="gap", dropout=0.0)
    first_macs = first.macs - first.feature_shape()[0] * first.feature_shape()[1] * first.blocks[0].filters \
        - first.blocks[0].filters * spec.num_classes  # the first convolution alone
    return float((6 * spec.macs - 2 * first_macs) * images)


def tiled(data, images: int):
    import dataclasses

    import numpy as np

    reps = -(-images // len(data.y_train))
    x = np.concatenate([data.x_train] * reps)[:images]
    y = np.concatenate([data.y_train] * reps)[:images]
    return dataclasses.replace(data, x_train=x, y_train=y)


def epoch_times(spec, data, repeats: int, seed: int) -> list[float]:
    from mnistopt import build_model
    from mnistopt.training import fit_model

    stamps: list[float] = []
    model = build_model(spec)
    start = time.perf_counter()
    fit_model(model, spec, data, epochs=repeats + 1, seed=seed,
              progress=lambda e: stamps.append(time.perf_counter() - start))
    return [b - a for a, b in zip(stamps, stamps[1:])]  # the first epoch traces the graph: left out


def interleaved_epoch_times(specs, data, rounds: int, per_round: int, seed: int) -> list[list[float]]:
    """Epoch times of several specs measured in turns (``rounds`` rounds, each running every spec for
    ``per_round`` timed epochs), so that a slow spell of this shared machine falls on all of them
    alike and their ratio is measured in one run rather than across minutes."""
    times: list[list[float]] = [[] for _ in specs]
    for _ in range(rounds):
        for i, spec in enumerate(specs):
            times[i] += epoch_times(spec, data, per_round, seed)
    return times


def keras_fit_times(spec, data, repeats: int) -> list[float]:
    import keras

    from mnistopt import build_model

    stamps: list[float] = []

    class Stamp(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    model = build_model(spec)
    model.fit(data.x_train, data.y_train, batch_size=spec.batch_size, epochs=repeats + 1, verbose=0,
              validation_data=(data.x_val, data.y_val), callbacks=[Stamp()])
    return [b - a for a, b in zip(stamps, stamps[1:])]


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/speed")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--images", type=int, default=60_000, help="images per epoch (the train split tiled)")
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per batch size (default: 5)")
    p.add_argument("--rss-trials", type=int, default=50, help="trials of the memory run (default: 50)")
    p.add_argument("--skip-search", action="store_true", help="only the epoch timings")
    args, clock, data = _common.start(p)
    import dataclasses

    from mnistopt import Choice, MLPSpec, SearchSpace, search_under_budget

    big = tiled(data, args.images)
    base = MLPSpec.baseline()
    flops = epoch_flops(base, args.images)
    probes = [matmul_gflops()]
    timed = []
    search_batches = sorted(SearchSpace().batch_size.values)  # what the default search samples
    for batch in sorted({32, 512, *search_batches}):
        spec = dataclasses.replace(base, batch_size=batch)
        timed.append(("mnistopt", batch, epoch_times(spec, big, args.repeats, args.seed)))
        probes.append(matmul_gflops())
        _common.say(f"mnistopt batch {batch}: median {statistics.median(timed[-1][2]):.3f} s/epoch; "
                    f"probe {probes[-1]:.0f} GFLOP/s")
    # augmentation inside the traced step, at the search's middle batch size: plain, shift2 and affine
    # epochs measured in turns (3 rounds of --repeats epochs each), their ratios from those turns
    kinds = ("none", "shift2", "affine")
    turns = interleaved_epoch_times([dataclasses.replace(base, batch_size=128, augment=k) for k in kinds], big,
                                    3, args.repeats, args.seed)
    for kind, t in zip(kinds, turns):
        timed.append((f"mnistopt, augment={kind} (in turns)", 128, t))
        _common.say(f"mnistopt batch 128 augment={kind}, in turns: median {statistics.median(t):.3f} s/epoch")
    timed.append(("keras model.fit", 32, keras_fit_times(base, big, max(1, args.repeats - 2))))
    from mnistopt.cnn import widest_cnn

    cnns = [widest_cnn(4034, (3, 3), (1, 2), head="flatten"), widest_cnn(72842, (3, 3, 3), (1, 2, 4), head="gap")]
    cnn_timed = []
    for spec in cnns:
        for batch in (64, 128):
            t = epoch_times(dataclasses.replace(spec, batch_size=batch), big, args.repeats, args.seed)
            cnn_timed.append((spec, batch, t))
            probes.append(matmul_gflops())
            _common.say(f"{spec.architecture} batch {batch}: median {statistics.median(t):.3f} s/epoch")
    gflops = max(probes)
    floor = flops / (gflops * 1e9)
    _common.say(f"matmul probes {', '.join(f'{g:.0f}' for g in probes)} GFLOP/s; epoch floor {floor:.3f} s "
                f"({flops / 1e9:.2f} GFLOP over {args.images:,} images)")
    rows = [{"path": path, "batch_size": batch, "epoch_median_s": statistics.median(t), "epoch_min_s": min(t),
             "epoch_max_s": max(t), "epoch_times_s": t, "ratio_to_floor": statistics.median(t) / floor}
            for path, batch, t in timed]
    plain = {r["batch_size"]: r for r in rows if r["path"] == "mnistopt"}
    cnn_rows = []
    for spec, batch, t in cnn_timed:
        cnn_floor = cnn_epoch_flops(spec, args.images) / (gflops * 1e9)
        cnn_rows.append({"architecture": spec.architecture, "params": spec.params, "macs": spec.macs,
                         "batch_size": batch, "epoch_median_s": statistics.median(t), "epoch_min_s": min(t),
                         "epoch_max_s": max(t), "epoch_times_s": t, "epoch_floor_s": cnn_floor,
                         "ratio_to_floor": statistics.median(t) / cnn_floor,
                         "ratio_to_mlp_epoch": statistics.median(t) / plain[batch]["epoch_median_s"]})

    out = {"gflops": gflops, "gflops_probes": probes, "epoch_floor_s": floor, "images": args.images,
           "epochs": rows, "epoch_ratio_to_floor": plain[512]["ratio_to_floor"],
           "search_batch_sizes": search_batches, "cnn_epochs": cnn_rows,
           # an augmented epoch over the same epoch without augmentation (batch 128, medians of the
           # epochs measured in turns)
           "augment_epoch_ratio": {k: statistics.median(t) / statistics.median(turns[0])
                                   for k, t in zip(kinds[1:], turns[1:])}}
    if not args.skip_search:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = search_under_budget(4034, data, directory=f"{tmp}/hb", seed=args.seed)
            minutes = (time.perf_counter() - t0) / 60
        out["search"] = {"trials": len(result.records), "minutes": minutes}
        out["trials_per_minute"] = len(result.records) / minutes
        sampled = [r.spec.batch_size for r in result.records if r.spec is not None]
        weights = {b: sampled.count(b) / len(sampled) for b in search_batches}
        weights_from = f"the {len(sampled)} trials of the default search"
        _common.say(f"default search: {len(result.records)} trials in {minutes:.2f} min")

        samples: list[float] = []
        space = SearchSpace(batch_size=Choice(64, 128))
        with tempfile.TemporaryDirectory() as tmp:
            search_under_budget(4034, data, tuner="random", max_trials=args.rss_trials, max_epochs=3,
                                directory=tmp, seed=args.seed, space=space, patience=None,
                                progress=lambda e: samples.append(rss_mb()))
        # growth: the median RSS of the last ten trials over the median of the first ten (a leak is a
        # trend across trials; one trial's transient copies are not)
        k = max(1, min(10, len(samples) // 2))
        growth = statistics.median(samples[-k:]) - statistics.median(samples[:k])
        out["rss"] = {"trials": len(samples), "after_first_mb": samples[0], "peak_mb": max(samples),
                      "last_mb": samples[-1], "per_trial_mb": samples,
                      "peak_minus_low_mb": max(samples[-k:]) - min(samples[:k])}
        out["rss_growth_mb"] = growth
        _common.say(f"RSS over {len(samples)} trials: {samples[0]:.0f} MB after the first, peak {max(samples):.0f}")
    else:
        weights = {b: 1 / len(search_batches) for b in search_batches}
        weights_from = "uniform (--skip-search: no search ran to count its batch sizes)"
    ratios = {str(b): plain[b]["ratio_to_floor"] for b in search_batches}
    out["epoch_ratio_to_floor_search_batches"] = {
        **ratios, "trial_weighted_mean": sum(weights[b] * plain[b]["ratio_to_floor"] for b in search_batches),
        "weights": {str(b): w for b, w in weights.items()}, "weights_from": weights_from}

    print(f"matmul probe: {gflops:.1f} GFLOP/s (2048 x 2048 float32, fastest of {len(probes)} probes: "
          f"{', '.join(f'{g:.0f}' for g in probes)}); one epoch of 784-128-64-10 over {args.images:,} images: "
          f"{flops / 1e9:.2f} GFLOP, floor {floor:.3f} s\n")
    head = out["epoch_ratio_to_floor_search_batches"]
    print(f"At the batch sizes the search samples, an epoch takes "
          + ", ".join(f"{head[str(b)]:.1f}x (batch {b})" for b in search_batches)
          + f" the floor; weighted by {head['weights_from']}: {head['trial_weighted_mean']:.1f}x.\n")
    print(f"| training path | batch | epoch time (median of {args.repeats}) | ratio to floor | fastest - slowest |\n"
          "|:---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['path']} | {r['batch_size']} | {r['epoch_median_s']:.3f} s | {r['ratio_to_floor']:.1f}x | "
              f"{r['epoch_min_s']:.3f} - {r['epoch_max_s']:.3f} s |")
    print(f"\nThe convolutional family, same loop and images (floor: 6 FLOPs per multiply-accumulate, less the "
          f"first convolution's input gradients):\n\n"
          f"| CNN | params | MACs per image | batch | epoch time (median of {args.repeats}) | floor | ratio to floor | "
          f"ratio to the baseline MLP's epoch |\n|:---|---:|---:|---:|---:|---:|---:|---:|")
    for r in cnn_rows:
        print(f"| {r['architecture']} | {r['params']:,} | {r['macs']:,} | {r['batch_size']} | {r['epoch_median_s']:.3f} s | "
              f"{r['epoch_floor_s']:.3f} s | {r['ratio_to_floor']:.1f}x | {r['ratio_to_mlp_epoch']:.1f}x |")
    if "search" in out:
        print(f"\n| measure | value |\n|:---|---:|\n"
              f"| default search (Hyperband, budget 4,034) | {out['search']['trials']} trials in "
              f"{out['search']['minutes']:.2f} min = {out['trials_per_minute']:.1f} trials/min |\n"
              f"| RSS after the first of {out['rss']['trials']} trials | {out['rss']['after_first_mb']:.0f} MB |\n"
              f"| RSS, median of the last 10 trials minus median of the first 10 | {out['rss_growth_mb']:+.0f} MB |\n"
              f"| RSS, last 10 trials' peak minus first 10 trials' low | {out['rss']['peak_minus_low_mb']:+.0f} MB |")
    return _common.finish(clock, out if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
