"""``npu check MODEL``: the gate. Exit 0 when every output matches onnxruntime, 1 when not."""

from __future__ import annotations

import argparse

import numpy as np
import onnx

import simulator
from compiler.check import OutputCheck, check_outputs, output_scales, reference
from npu import inputs, models, progress, runtime
from npu import options as opts
from npu.run_cmd import load_for
from simulator.errors import ModelError

EXAMPLES = """\
examples:
  npu check model.onnx                          # seeded random inputs, base preset
  npu check zoo:resnet18-int8 --config small --inputs in.npz
  npu check model.onnx --set array.dataflow=output_stationary && echo same

exit status: 0 every output matches (float32: rtol 1e-3, atol 1e-4; integer outputs: within one
quantisation step), 1 an output does not, 2 a user error (bad model, config or inputs).
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="compile, simulate and compare every output with onnxruntime",
        description="Check the simulated outputs of MODEL against onnxruntime's.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    opts.add_model(p, "an .onnx file or zoo:NAME")
    opts.add_config(p)
    add_input_options(p)
    p.set_defaults(func=run)


def add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", metavar="IN.npz", help="graph inputs (default: seeded random)")
    p.add_argument(
        "--seed", type=opts.seed, default=0, help="seed of the random inputs (default 0)"
    )


def run(args: argparse.Namespace) -> int:
    if models.onnx_path(args.model) is None:
        raise ModelError(f"{args.model!r} is a compiled program; check needs the .onnx model")
    precheck_inputs(args)
    loaded = load_for(args)
    feeds = graph_inputs(args, loaded.program)
    with progress.bar("simulating instructions") as update:
        result = runtime.execute(
            loaded.program, feeds, progress=update, max_memory=opts.max_memory(args)
        )
    checks = reference_check(loaded, feeds, result.outputs)
    print_checks(checks)
    return 0 if all(c.passed for c in checks) else 1


def precheck_inputs(args: argparse.Namespace) -> None:
    """A bad IN.npz fails before the model is compiled."""
    if args.inputs:
        inputs.inspect_npz(args.inputs)


def graph_inputs(args: argparse.Namespace, program: simulator.Program) -> dict[str, np.ndarray]:
    """IN.npz (validated against the program) or seeded random inputs."""
    if args.inputs:
        return inputs.read_inputs(args.inputs, program)
    return inputs.random_inputs(program, args.seed)


def reference_check(loaded: models.Loaded, feeds, outputs) -> list[OutputCheck]:
    with progress.task("running onnxruntime"):
        want = reference(loaded.onnx_path, feeds)
    scales = output_scales(onnx.load(loaded.onnx_path, load_external_data=False))
    return check_outputs(outputs, want, scales)


def print_checks(checks: list[OutputCheck]) -> None:
    for c in checks:
        verdict = "ok" if c.passed else "MISMATCH"
        steps = "" if c.error_steps is None else f", {c.error_steps:.3g} quantisation step(s)"
        print(f"{verdict:8} {c.name} ({c.dtype}): max abs error {c.max_abs_error:.3g}{steps}")
    failed = sum(not c.passed for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} outputs match onnxruntime")
