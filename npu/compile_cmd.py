"""``npu compile MODEL.onnx -o OUT.npuprog``: ONNX in, program file out."""

from __future__ import annotations

import argparse

from npu import models, options, progress
from npu.outputs import check_outputs, output_batch
from simulator import save_program
from simulator.errors import ModelError

EXAMPLES = """\
examples:
  npu compile model.onnx -o model.npuprog
  npu compile zoo:resnet18-int8 --config small --set dram.bytes_per_cycle=8 -o r18.npuprog
  npu compile bert.onnx --input-shape input_ids=1,128 -o bert.npuprog
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compile",
        help="compile an ONNX model to an NPU program",
        description="Compile an ONNX model for the configured NPU and write the program file.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_model(p, "an .onnx file or zoo:NAME")
    options.add_config(p)
    p.add_argument("-o", "--output", metavar="OUT.npuprog", required=True, help="program file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_outputs({"-o": args.output}, options.input_files(args))
    config = options.resolve_config(args)
    shapes = options.parse_input_shapes(args.input_shapes)
    path = models.onnx_path(args.model)
    if path is None:
        raise ModelError(f"{args.model!r} is already a compiled program; give an .onnx model")
    with progress.bar(f"compiling {args.model}: lowering nodes") as update:
        program = models.compile_onnx(path, config, shapes, update, options.max_memory(args))
    with output_batch() as out:
        out.write(args.output, lambda tmp: save_program(program, tmp))
    n = len(program.instructions)
    print(
        f"wrote {args.output}: {n} instructions, {len(program.layers)} layers, config {config.name}"
    )
    return 0
