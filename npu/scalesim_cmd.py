"""``npu scalesim TOPOLOGY.csv --cfg SCALE.cfg -o OUTDIR``: a SCALE-Sim study, run here."""

from __future__ import annotations

import argparse
import time

from npu import scalesim
from npu.outputs import check_output_dir, check_outputs, output_batch

EXAMPLES = """\
examples:
  npu scalesim models_zoo/scalesim/resnet18.csv --cfg scale.cfg -o out/
  (writes out/COMPUTE_REPORT.csv in SCALE-Sim 3.0's columns)

Reads SCALE-Sim's own topology CSV (one convolution per line, no padding) and .cfg
(ArrayHeight, ArrayWidth, Dataflow ws|os); the compute cycles of each layer equal SCALE-Sim
3.0's. SCALE-Sim's DRAM model is not reproduced: Total Cycles are the compute cycles and Stall
Cycles 0 (docs/codesign.md).
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "scalesim",
        help="run a SCALE-Sim topology and config, write its COMPUTE_REPORT.csv",
        description="Compute cycles of a SCALE-Sim topology on its array, layer by layer.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("topology", metavar="TOPOLOGY.csv", help="a SCALE-Sim topology CSV")
    p.add_argument("--cfg", metavar="SCALE.cfg", required=True, help="a SCALE-Sim config")
    p.add_argument("-o", "--out", metavar="OUTDIR", required=True, help="folder of the report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    folder = check_output_dir(args.out, "-o")
    layers = scalesim.read_topology(args.topology)
    config = scalesim.read_cfg(args.cfg)
    rows = scalesim.report(layers, config)
    folder.mkdir(exist_ok=True)
    target = folder / "COMPUTE_REPORT.csv"
    check_outputs({"-o": target}, [args.topology, args.cfg])
    with output_batch() as out:
        out.write_text(target, scalesim.to_csv(rows))
    array = f"{config.array.rows}x{config.array.cols} {config.array.dataflow.replace('_', '-')}"
    total = sum(row.cycles for row in rows)
    print(f"{len(rows)} layers on a {array} array: {total:,} compute cycles in all; "
          f"wrote {target} in {time.perf_counter() - start:.3f} s")  # fmt: skip
    return 0
