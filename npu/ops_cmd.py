"""``npu ops``: the ONNX operators the compiler supports, with their dtypes and constraints."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

EXAMPLES = """\
examples:
  npu ops
  npu ops --json
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ops",
        help="list the supported ONNX operators and their constraints",
        description="The ONNX operators the compiler lowers to the NPU, with dtypes and limits.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ops = _supported_ops()
    if args.json:
        rows = [{"op": o.op, "dtypes": o.dtypes, "constraints": o.constraints} for o in ops]
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(box=None, header_style="bold")
    for col in ("op", "dtypes", "constraints"):
        table.add_column(col)
    for o in ops:
        table.add_row(o.op, o.dtypes, o.constraints)
    Console().print(table)
    return 0


def _supported_ops():
    import compiler

    if hasattr(compiler, "supported_ops"):
        return compiler.supported_ops()
    from compiler.ops import supported_ops

    return supported_ops()
