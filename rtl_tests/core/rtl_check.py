"""``python -m rtl_tests.core.rtl_check MODEL --config tiny``: run a user's model on npu_core.

MODEL is what ``npu run`` takes (an .onnx file, zoo:NAME or a compiled .npuprog); it is
compiled for the config, given its inputs (``--inputs IN.npz`` or seeded random ones), run on
the simulator and on the RTL core (``--sim icarus|verilator``) and compared
(``harness.check``). ``make rtl-check MODEL=... [CONFIG=tiny] [SIM=verilator]`` calls it.

A quantised model's input QuantizeLinear, output DequantizeLinear and fp32 average pools are
float vector work, outside the core's scope: ``--int8-io`` keeps the int8 interface (the
program takes and returns int8; ``CompileOptions.int8_io``) and ``--integer-avgpool`` pools in
integer arithmetic (``CompileOptions.integer_avgpool``, within one step of onnxruntime).
``make rtl-check MODEL=... RTL_CHECK_ARGS="--int8-io --integer-avgpool"`` passes them.

Exit status: 0 the core matches (outputs byte-identical, total cycles within 2%, every
instruction's timing and written bytes equal), 1 it does not (the report names the first
divergence), 2 the model does not fit the core or is a user error (one line on stderr: what
does not fit, e.g. the first instruction outside the RTL's scope).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from npu import options as opts
from npu.check import add_input_options, graph_inputs
from npu.cli import ArgParser
from npu.run_cmd import load_for
from rtl_tests.core import harness
from simulator.errors import ModelError, NpuError


def build_parser() -> argparse.ArgumentParser:
    p = ArgParser(prog="rtl-check", description=__doc__.split("\n\n")[0])
    opts.add_model(p, "an .onnx file, zoo:NAME or a .npuprog")
    opts.add_config(p)
    add_input_options(p)
    p.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    p.add_argument("--dir", metavar="FOLDER", default=None, help="the run folder")
    p.add_argument("--int8-io", action="store_true", help="keep a quantised model's int8 I/O")
    p.add_argument(
        "--integer-avgpool", action="store_true", help="int8 average pools in integer arithmetic"
    )
    return p


def load_program(args: argparse.Namespace):
    """MODEL compiled (or read) as ``npu run`` does; with --int8-io / --integer-avgpool an
    ONNX model is compiled with those options (whole, for the NPU)."""
    if not (args.int8_io or args.integer_avgpool):
        return load_for(args).program
    from compiler.driver import CompileOptions, compile
    from npu.models import onnx_path

    path = onnx_path(args.model)
    if path is None:
        raise ModelError("--int8-io and --integer-avgpool compile a model, not a .npuprog")
    options = CompileOptions(
        input_shapes=opts.parse_input_shapes(getattr(args, "input_shapes", [])) or None,
        int8_io=args.int8_io,
        integer_avgpool=args.integer_avgpool,
    )
    return compile(str(path), opts.resolve_config(args), options)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.config is None:
            args.config = "tiny"
        program = load_program(args)
        feeds = graph_inputs(args, program)
        folder = Path(args.dir) if args.dir else harness.run_folder("rtl-check", args.sim)
        result = harness.check(program, feeds, args.sim, folder)
        if result.core.status.get("error") == harness.ERR_UNSUPPORTED:
            raise harness.CoreError(f"the RTL core cannot run this program: {result.stop_reason()}")
    except (NpuError, harness.CoreError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    print(result.report())
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
