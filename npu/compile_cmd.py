"""``npu compile MODEL.onnx -o OUT.npuprog``: ONNX in, program file out."""

from __future__ import annotations

import argparse

from compiler.partition import Partitioned
from npu import models, options, program_file, progress
from npu.outputs import check_outputs, output_batch
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
        program = models.compile_onnx(
            path,
            config,
            shapes,
            update,
            options.max_memory(args),
            options.npu_only(args),
            options.int8_attention(args),
        )
    with output_batch() as out:
        out.write(args.output, lambda tmp: program_file.save(program, tmp))
    if isinstance(program, Partitioned):
        print(f"wrote {args.output}: {describe(program)}, config {config.name}")
        return 0
    n = len(program.instructions)
    print(
        f"wrote {args.output}: {n} instructions, {len(program.layers)} layers, config {config.name}"
    )
    return 0


def describe(part: Partitioned) -> str:
    """``3 partitions (2 NPU, 1 host: If 'branch')``."""
    npu = len(part.segments) - len(part.host_segments)
    nodes = [
        f"{op} {name!r}"
        for s in part.host_segments
        for op, name in zip(s.ops, s.nodes, strict=True)
    ]
    shown = ", ".join(nodes[:6]) + (f", ... ({len(nodes)} nodes)" if len(nodes) > 6 else "")
    return f"{len(part.segments)} partitions ({npu} NPU, {len(part.host_segments)} host: {shown})"
