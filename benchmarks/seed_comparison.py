"""The reference comparison, end to end: search the three reference budgets, compress the
selected models, and write the Pareto report.

    python benchmarks/seed_comparison.py --data ../shared/data/mnist --out runs/seed_comparison

Budgets 93,322 / 72,842 / 4,034 (the reference notebook reported training-set accuracy
0.9979 / 0.9976 / 0.9627); mnistopt selects on validation accuracy and reports test
accuracy beside train accuracy. Prints the selected models, the reference table, the
fronts and the wall time; writes DIR/report.{json,md,html} and the plots. Rerunning with
the same --out resumes. About 12 minutes on a 2-core CPU with MNIST-10k.
"""

from __future__ import annotations

import _common


def main() -> int:
    p = _common.parser(__doc__.splitlines()[0], "runs/seed_comparison")
    p.add_argument("--budget", type=int, nargs="+", default=[4034, 72842, 93322], metavar="N")
    p.add_argument("--max-epochs", type=int, default=None, help="epochs of a fully trained trial (default: the library's)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--sparsity", type=float, nargs="*", default=[0.5, 0.9], metavar="S",
                   help="kernel sparsities for magnitude pruning (default: 0.5 0.9)")
    p.add_argument("--quantize", nargs="*", default=["dynamic", "float16", "int8"], metavar="MODE",
                   help="post-training quantization modes (default: dynamic float16 int8)")
    args, clock, data = _common.start(p)
    from mnistopt import search_under_budget
    from mnistopt.report.data import report_data
    from mnistopt.report.render import stages_table, summary_markdown, write_report

    result = search_under_budget(
        args.budget, data, directory=args.out, seed=args.seed, **({} if args.max_epochs is None else {"max_epochs": args.max_epochs}), overwrite=args.overwrite,
        compress={"sparsity": args.sparsity, "quantize": args.quantize}, progress=lambda event: _common.say(str(event)),
    )
    files = write_report(result, args.out)
    report = report_data(result)
    print(summary_markdown(report))
    print(stages_table(result, stages_only=True))
    print()
    for x in ("params", "nonzero_params", "bytes"):
        front = report["fronts"][x]
        print(f"front over {x}: {len(front['members'])} of {front['eligible']} records, "
              f"hypervolume {front['hypervolume']:.4f}" if front["hypervolume"] is not None else f"front over {x}: -")
    _common.say(f"report: {files['html']}, {files['markdown']}, {files['json']}")
    return _common.finish(clock)


if __name__ == "__main__":
    raise SystemExit(main())
