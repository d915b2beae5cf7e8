"""``npu run MODEL --inputs IN.npz --out OUT.npz``: simulate one inference."""

from __future__ import annotations

import argparse
import json
import time

import simulator
from compiler.partition import Partitioned
from npu import inputs, models, options, partition_profile, progress, report_table, runtime
from npu.outputs import check_outputs, output_batch
from npu.report_table import fmt_time
from simulator.errors import NpuError
from simulator.trace import write_trace

EXAMPLES = """\
examples:
  npu run model.npuprog --inputs in.npz --out out.npz
  npu run model.onnx --config small --inputs in.npz --out out.npz --stats stats.json
  npu run zoo:lenet5 --inputs in.npz --out out.npz --trace trace.json   # open in ui.perfetto.dev
  npu run zoo:resnet50-int8 --timing-only --stats stats.json   # cycles and stats, no numerics

IN.npz holds one array per graph input, keyed by the ONNX input name (float32 for float
inputs); OUT.npz gets one array per graph output, keyed by the ONNX output name.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="simulate a model on given inputs",
        description="Simulate MODEL (compiled on the fly when it is ONNX) on the inputs in IN.npz.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_model(p)
    options.add_config(p)
    p.add_argument(
        "--inputs", metavar="IN.npz", help="graph inputs by ONNX name (optional if --timing-only)"
    )
    p.add_argument(
        "--out",
        metavar="OUT.npz",
        help="graph outputs by ONNX name (required unless --timing-only)",
    )
    p.add_argument("--stats", metavar="STATS.json", help="write the simulator's statistics")
    p.add_argument("--trace", metavar="TRACE.json", help="write a Chrome/Perfetto trace")
    options.add_timing_only(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_io_options(args)
    outputs = {"--out": args.out, "--stats": args.stats, "--trace": args.trace}
    check_outputs(outputs, options.input_files(args))
    models.check_exists(args.model)
    if args.inputs:
        inputs.inspect_npz(args.inputs)  # a bad file fails now, before a compile
    loaded = load_for(args)
    feeds = inputs.read_inputs(args.inputs, loaded.program) if args.inputs else None
    if isinstance(loaded.program, Partitioned):
        return run_partitioned(args, loaded.program, feeds)
    start = time.perf_counter()
    with progress.bar("simulating instructions") as update:
        result = simulator.run(
            loaded.program,
            feeds,
            trace=bool(args.trace),
            progress=update,
            max_memory=options.max_memory(args),
            numerics=not args.timing_only,
        )
    simulate_s = time.perf_counter() - start
    with output_batch() as out:
        if args.out:
            out.write(args.out, lambda tmp: inputs.write_npz(tmp, result.outputs))
        out.write_text(args.stats, stats_json(result.stats))
        out.write(args.trace, result.write_trace)
    s = result.stats
    latency = fmt_time(s.seconds)
    what = "timing only" if args.timing_only else "simulated"
    wrote = [f for f in (args.out, args.stats, args.trace) if f]
    print(f"{s.total_cycles:,} cycles ({latency} at {s.clock_mhz:g} MHz), {what} in "
          f"{simulate_s:.2f} s" + (f"; wrote {', '.join(wrote)}" if wrote else ""))  # fmt: skip
    return 0


def check_io_options(args: argparse.Namespace) -> None:
    """A full run needs --inputs and --out; a timing-only one computes no outputs."""
    if args.timing_only:
        if args.out:
            raise NpuError("--out: a --timing-only run computes no outputs (drop --out)")
        return
    missing = [
        flag for flag, value in (("--inputs", args.inputs), ("--out", args.out)) if not value
    ]
    if missing:
        raise NpuError(
            f"the following arguments are required: {', '.join(missing)} (or --timing-only)"
        )


def run_partitioned(args: argparse.Namespace, part: Partitioned, feeds: dict | None) -> int:
    """NPU partitions on the simulator, host partitions on onnxruntime, in turn (--timing-only:
    NPU partitions timed without numerics, host partitions not run but estimated)."""
    start = time.perf_counter()
    with progress.bar("simulating instructions") as update:
        result = runtime.run(
            part,
            feeds,
            progress=update,
            max_memory=options.max_memory(args),
            trace=bool(args.trace),
            numerics=not args.timing_only,
        )
    simulate_s = time.perf_counter() - start
    with output_batch() as out:
        if args.out:
            out.write(args.out, lambda tmp: inputs.write_npz(tmp, result.outputs))
        out.write_text(args.stats, json.dumps(runtime.stats_dict(result), indent=2) + "\n")
        events = partition_profile.merged_events(part, result) if args.trace else None
        out.write(args.trace, lambda tmp: write_trace(events, tmp))
    hosts = len(result.host)
    how = "not run, estimated from their shapes" if args.timing_only else "run on onnxruntime"
    what = "timing only" if args.timing_only else "run"
    unknown = [p for h in result.host for p in h.unknown]
    if unknown:
        how += f"; a lower bound: {report_table.unknown_ports(unknown)}"
    wrote = [f for f in (args.out, args.stats, args.trace) if f]
    print(f"{result.total_cycles:,} cycles ({result.npu_cycles:,} on the NPU, "
          f"{result.host_cycles:,} estimated for {hosts} host partition(s) ({how}), "
          f"{result.transfer_bytes:,} bytes through DRAM), {what} in {simulate_s:.2f} s"
          + (f"; wrote {', '.join(wrote)}" if wrote else ""))  # fmt: skip
    return 0


def load_for(args: argparse.Namespace) -> models.Loaded:
    """MODEL as a program: read, or compiled with the config and input shapes of ``args``."""
    config = options.resolve_config(args)
    shapes = options.parse_input_shapes(getattr(args, "input_shapes", []))
    with progress.bar(f"preparing {args.model}: lowering nodes") as update:
        return models.load(
            args.model,
            config,
            shapes,
            config_given=options.config_given(args),
            progress=update,
            max_memory=options.max_memory(args),
            strict=options.npu_only(args),
            int8_attention=options.int8_attention(args),
        )


def stats_json(stats: simulator.Stats) -> str:
    """The simulator's counters only: identical for identical runs (wall-clock times are in
    ``npu profile --json``)."""
    return json.dumps(stats.to_dict(), indent=2) + "\n"
