"""``npu sweep MODEL...``: design points over config keys, each compiled and simulated on every
model; results in SQLite as they finish, Pareto fronts in CSV and HTML."""

from __future__ import annotations

import argparse

from npu import options as opts
from npu import progress
from npu.outputs import check_outputs, output_batch
from npu.sweep import backends, runner
from npu.sweep.table import Table

EXAMPLES = """\
examples:
  npu sweep zoo:resnet18-int8 --grid array.rows=16,32,64 --grid array.cols=16,32,64 \\
      --grid scratchpad.weight_kib=64,128,256 --db sweep.sqlite --csv sweep.csv --html sweep.html
  npu sweep zoo:resnet50-int8 zoo:bert_tiny-int8 --grid array.rows=8,16,32,64,128 \\
      --grid dram.bytes_per_cycle=8,16,32,64 --where 'array.rows*array.cols<=4096' \\
      --sample 50 --seed 1 --db study.sqlite
  npu sweep zoo:resnet18-int8 --grid array.rows=8,16,32,64,128 --grid array.cols=8,16,32,64,128 \\
      --search nsga2 --trials 40 --db search.sqlite

Each point's record goes to --db as it finishes; run the same command again to resume a
stopped sweep (points already in the database are not run again). A point that fails is
recorded with its error and the sweep goes on.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="sweep hardware config keys over models: cycles, energy, area, Pareto fronts",
        description="Compile and simulate every MODEL at each design point.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", metavar="MODEL", nargs="+", help="an .onnx file or zoo:NAME")
    p.add_argument(
        "--config", metavar="PRESET|FILE.toml", default="base", help="the base config (base)"
    )
    p.add_argument(
        "--grid",
        metavar="KEY=V1,V2,...",
        action="append",
        default=[],
        help="values of one config key (repeatable; the points are their product)",
    )
    p.add_argument("--where", metavar="EXPR", help="keep the points where EXPR of keys is true")
    _add_choice(p)
    _add_backend(p)
    p.add_argument("--db", metavar="RESULTS.sqlite", required=True, help="the results database")
    p.add_argument("--csv", metavar="OUT.csv", help="the sweep's rows with a pareto column")
    p.add_argument("--html", metavar="OUT.html", help="plots of the Pareto fronts and tables")
    p.add_argument(
        "--verify",
        choices=runner.VERIFY,
        default="first",
        help="check outputs against onnxruntime at every point, each model's first, or none",
    )
    p.add_argument(
        "--max-memory", metavar="SIZE", type=opts.memory_size, help="as for 'npu profile'"
    )
    p.set_defaults(func=run)


def _add_choice(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("which points")
    group.add_argument("--sample", metavar="N", type=int, help="N points drawn from the grid")
    group.add_argument("--seed", type=opts.seed, default=0, help="of --sample and --search")
    group.add_argument("--search", choices=("nsga2",), help="a multi-objective search")
    group.add_argument("--trials", metavar="N", type=int, help="trials of the --search")


def _add_backend(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("where the points run")
    group.add_argument("--backend", choices=backends.BACKENDS, default="local")
    group.add_argument("--workers", metavar="N", type=int, help="processes (default: one per CPU)")
    group.add_argument("--address", metavar="ADDR", help="a Ray cluster to join (--backend ray)")


def run(args: argparse.Namespace) -> int:
    check_outputs({"--csv": args.csv, "--html": args.html, "--db": args.db})
    with progress.eta("design points") as update:
        table = runner.run(
            args.models,
            db=args.db,
            config=args.config,
            grid=args.grid,
            where=args.where,
            sample=args.sample,
            seed=args.seed,
            search=args.search,
            trials=args.trials,
            verify=args.verify,
            backend=args.backend,
            workers=args.workers,
            address=args.address,
            max_memory=args.max_memory,
            progress=update,
        )
    print(summary(table))
    write_reports(args, table)
    return 0


def summary(table: Table) -> str:
    failed = sum(r["status"] != "ok" for r in table)
    fronts = sum(bool(r["pareto"]) for r in table)
    return (
        f"{len(table)} results ({table.ran} run now, {len(table) - table.ran} from the "
        f"database); {failed} failed; {fronts} on a Pareto front"
    )


def write_reports(args: argparse.Namespace, table: Table) -> None:
    with output_batch() as out:
        out.write_text(args.csv, table.to_csv() if args.csv else "")
        if args.html:
            from npu.sweep import report_html

            out.write_text(args.html, report_html.render(table))
