"""Full-size data: the default search on 60,000 images, with a fixed-size epoch and with full passes.

    python benchmarks/fullsize.py --data ../shared/data/mnist [--resume] [--json]

The shared files hold MNIST-10k, so the full-size dataset is built from it: the 9,000-image
train split tiled 6 times (54,000 images) and the 1,000-image validation split tiled 6 times
(6,000 images), as large as full MNIST's 60,000 training images with a 10% validation split.
Tiled data costs what full-size data costs per epoch but holds no more information than
MNIST-10k: the accuracy columns compare two schedules on the same information, and the
validation accuracy of a tiled split equals the untiled one's (each image counts six times).

For each schedule and each budget (default: the reference's three) the script runs the
default search (Hyperband, seed --seed) in its own directory and prints its wall time and
the selected model's validation accuracy (what chose it) and test accuracy (measured once,
chose nothing):

- ``fixed``: the default, ``epoch_images="auto"``: a schedule epoch is 9,000 images (36,000
  at budgets up to 10,000 parameters) drawn from a class-stratified order over the whole train
  split, so short Hyperband rungs train on a stratified subset and survivors go on through
  all of it;
- ``full``: ``epoch_images=None``: every schedule epoch is a full pass (what 0.2 did);
- a number N: epochs of N images at every budget (how the default's sizes were chosen).

Every finished (schedule, budget) run is saved as ``OUT/SCHEDULE/BUDGET/run.json`` when it
ends; ``--resume`` reads those back, so an interrupted benchmark loses at most the run in
progress. With --json the last line is one JSON object.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import _common

SCHEDULES = {"fixed": "auto", "full": None}  # the name printed -> search_under_budget(epoch_images=...)
RUN_FILE = "run.json"


def tiled(data, images: int):
    """``data`` with its train and validation splits tiled to ``images`` images in all, in the
    proportions of the original splits (9,000 + 1,000 -> 54,000 + 6,000 for 60,000)."""
    import numpy as np

    times = images // (len(data.y_train) + len(data.y_val))
    if times < 1:
        raise SystemExit(f"--images {images:,} is smaller than the data's train + validation splits")
    tile = lambda a: np.concatenate([a] * times)  # noqa: E731
    return dataclasses.replace(data, x_train=tile(data.x_train), y_train=tile(data.y_train),
                               x_val=tile(data.x_val), y_val=tile(data.y_val))


def epoch_images(schedule: str):
    """What ``search_under_budget(epoch_images=...)`` gets for a schedule's name."""
    if schedule in SCHEDULES:
        return SCHEDULES[schedule]
    if schedule.isdigit():
        return int(schedule)
    raise SystemExit(f"--schedules: {schedule!r} is not fixed, full or a number of images")


def run_one(data, schedule: str, budget: int, out: Path, seed: int, resume: bool, **options) -> dict:
    from mnistopt import search_under_budget

    path = out / schedule / str(budget) / RUN_FILE
    if resume and path.is_file():
        _common.say(f"resumed: {path}")
        return json.loads(path.read_text())
    started = time.perf_counter()
    result = search_under_budget(
        budget, data, directory=path.parent / "search", overwrite=True, seed=seed, **options,
        epoch_images=epoch_images(schedule), progress=lambda event: _common.say(f"[{schedule}] {event}"),
    )
    wall = time.perf_counter() - started
    best = result.best(budget).record
    completed = [r for r in result.records if r.val_accuracy is not None]
    run = {"schedule": schedule, "budget": budget, "wall_s": round(wall, 1),
           "architecture": best.spec.architecture, "params": best.params,
           "val_accuracy": best.val_accuracy, "test_accuracy": best.test_accuracy,
           "trials": len(result.records), "completed_trials": len(completed),
           "epoch_images": result.info["settings"].get("epoch_images")}
    path.write_text(json.dumps(run))
    return run


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/fullsize")
    p.add_argument("--images", type=int, default=60_000,
                   help="train + validation images after tiling (default: 60,000, full MNIST's training files)")
    p.add_argument("--budgets", type=int, nargs="+", default=None, help="default: the reference's three")
    p.add_argument("--schedules", nargs="+", default=["fixed", "full"], metavar="SCHEDULE",
                   help="fixed (the default epoch_images), full (full passes) or a number of images per epoch "
                   "(default: fixed full)")
    p.add_argument("--max-trials", type=int, default=None, help="trials per budget (default: the whole schedule)")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs of a fully trained trial (default: the library's)")
    p.add_argument("--resume", action="store_true", help="reuse runs saved under --out (OUT/SCHEDULE/BUDGET/run.json)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args, clock, data = _common.start(p)
    from mnistopt.budget import REFERENCE_BUDGETS

    budgets = args.budgets or list(REFERENCE_BUDGETS)
    big = tiled(data, args.images)
    _common.say(f"tiled: train {len(big.y_train):,}, val {len(big.y_val):,}, test {len(big.y_test):,}")
    out = Path(args.out)
    options = {k: v for k, v in (("max_trials", args.max_trials), ("max_epochs", args.max_epochs)) if v is not None}
    runs = [run_one(big, s, b, out, args.seed, args.resume, **options) for s in args.schedules for b in budgets]
    print(f"\nDefault search on {data.name} tiled to train {len(big.y_train):,} / val {len(big.y_val):,} "
          f"(test {len(big.y_test):,}, the official set), seed {args.seed}; selection on validation, test "
          f"accuracy measured once\n")
    print("| schedule | budget | selected | val accuracy | test accuracy | trials | wall time |")
    print("|:---|---:|:---|---:|---:|---:|---:|")
    for r in runs:
        print(f"| {r['schedule']} | {r['budget']:,} | {r['architecture']} | {r['val_accuracy']:.4f} | "
              f"{r['test_accuracy']:.4f} | {r['trials']} | {r['wall_s'] / 60:.1f} min |")
    totals = {s: sum(r["wall_s"] for r in runs if r["schedule"] == s) for s in args.schedules}
    for s, total in totals.items():
        print(f"{s}: {len(budgets)} budgets in {total / 60:.1f} min")
    if "full" in totals:  # each schedule against full passes
        for s in args.schedules:
            if s == "full":
                continue
            print(f"time ratio full / {s}: {totals['full'] / totals[s]:.2f}x")
            for budget in budgets:
                v = {r["schedule"]: r["val_accuracy"] for r in runs if r["budget"] == budget}
                print(f"budget {budget:,}: val accuracy {s} - full = {(v[s] - v['full']) * 100:+.2f} points")
    return _common.finish(clock, {"runs": runs, "wall_s": totals, "images": args.images} if args.json else None)


if __name__ == "__main__":
    raise SystemExit(main())
