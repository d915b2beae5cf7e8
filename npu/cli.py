"""The ``npu`` command: argument parsing, dispatch and the exit-code contract.

Exit codes: 0 success; 1 a check found a mismatch (``npu check``, ``npu profile --strict``);
2 a user error (bad file, config, model or inputs: one line ``error: ...`` on stderr);
3 an internal error (a bug: one line, ``NPU_DEBUG=1`` shows the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from npu import (
    bench,
    check,
    compile_cmd,
    configs_cmd,
    conformance,
    dit_cmd,
    llm_cmd,
    ops_cmd,
    profile,
    regress_cmd,
    run_cmd,
    scalesim_cmd,
    sweep_cmd,
    zoo_cmd,
)
from npu.version import package_version
from simulator.errors import NpuError

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
WORKFLOWS = (
    compile_cmd,
    run_cmd,
    profile,
    check,
    bench,
    sweep_cmd,
    llm_cmd,
    dit_cmd,
    ops_cmd,
    configs_cmd,
    zoo_cmd,
    conformance,
    regress_cmd,
    scalesim_cmd,
)

DESCRIPTION = """\
Compile ONNX models for a parameterised NPU, simulate them cycle by cycle, and report.

examples:
  npu profile zoo:resnet18 --config base --html report.html
  npu compile model.onnx --config small -o model.npuprog
  npu run model.npuprog --inputs in.npz --out out.npz --stats stats.json
  npu check model.onnx --config base --set array.rows=64
  npu bench zoo:resnet50-int8 --json bench.json
  npu sweep zoo:resnet18-int8 --grid array.rows=16,32,64 --db sweep.sqlite --csv sweep.csv
  npu configs show base --set array.rows=64
  npu regress tests/regress/zoo.toml --junit results.xml
"""


class ArgParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``error: ...`` line and exit code 2."""

    def error(self, message: str):
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgParser(
        prog="npu",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"npu {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgParser)
    sub.required = True
    for workflow in WORKFLOWS:
        workflow.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = os.environ.get("NPU_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or EXIT_OK)
    except NpuError as exc:
        return _fail(f"error: {exc}", EXIT_USAGE, debug)
    except KeyboardInterrupt:
        return _fail("error: interrupted", EXIT_INTERRUPTED, debug)
    except Exception as exc:  # a bug: say so in one line, keep the traceback for NPU_DEBUG
        message = (
            f"internal error: {type(exc).__name__}: {exc} "
            "(rerun with NPU_DEBUG=1 for the traceback, and please report it)"
        )
        return _fail(message, EXIT_INTERNAL, debug)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    sys.stderr.write("; ".join(lines) + "\n")
    return code
