"""``npu profile MODEL``: compile, simulate, check against onnxruntime, and report per layer."""

from __future__ import annotations

import argparse
import time

import simulator
from compiler.partition import Partitioned
from npu import models, partition_profile, progress, report_html, report_json, report_table, runtime
from npu import options as opts
from npu.check import add_input_options, graph_inputs, precheck_inputs, reference_check
from npu.outputs import check_outputs, output_batch
from npu.report import Report, build_report
from npu.run_cmd import load_for
from simulator.trace import write_trace

EXAMPLES = """\
examples:
  npu profile zoo:resnet18 --config base --html report.html
  npu profile model.onnx --set array.rows=64 --json profile.json --csv layers.csv
  npu profile model.npuprog --inputs in.npz --trace trace.json   # open in ui.perfetto.dev
  npu profile zoo:resnet50-int8 --timing-only --json p.json   # no numerics, no check
  npu profile detector_with_nms.onnx --html r.html   # host partitions: rows on device 'host'

The table has one row per layer: cycles, MACs, array utilisation, DRAM bytes, and whether the
layer is compute- or memory-bound against its roofline, and the device it ran on: a host
partition (nodes the NPU cannot run, on onnxruntime) is one row whose cycles are the config's
[host] estimate; the footer gives the NPU MAC share and each host node's reason. A mismatch with onnxruntime is reported
loudly but exits 0 unless --strict (use 'npu check' as a gate).
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="compile, simulate, check and report cycles, traffic and energy per layer",
        description="Profile MODEL on the configured NPU: a per-layer table and run totals.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    opts.add_model(p)
    opts.add_config(p, strict_flag=False)
    add_input_options(p)
    out = p.add_argument_group("reports")
    out.add_argument(
        "--json", metavar="S.json", help="the report as JSON (docs/report_schema.json)"
    )
    out.add_argument("--csv", metavar="LAYERS.csv", help="the per-layer table as CSV")
    out.add_argument("--trace", metavar="T.json", help="Chrome/Perfetto trace, one track per unit")
    out.add_argument("--html", metavar="REPORT.html", help="a self-contained HTML report")
    p.add_argument("--strict", action="store_true", help="exit 1 when the check fails")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    opts.add_timing_only(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    outputs = {"--json": args.json, "--csv": args.csv, "--trace": args.trace, "--html": args.html}
    check_outputs(outputs, opts.input_files(args))
    precheck_inputs(args)
    loaded = load_for(args)
    if isinstance(loaded.program, Partitioned):
        report, events = _profile_partitioned(args, loaded)
    else:
        report, events = _profile_program(args, loaded)
    report_table.print_report(report)
    write_reports(args, report, events)
    return 1 if args.strict and report.check_passed is False else 0


def _profile_program(args: argparse.Namespace, loaded: models.Loaded):
    feeds = None if args.timing_only and not args.inputs else graph_inputs(args, loaded.program)
    start = time.perf_counter()
    with progress.bar("simulating instructions") as update:
        result = simulator.run(
            loaded.program,
            feeds,
            trace=bool(args.trace or args.html),
            progress=update,
            max_memory=opts.max_memory(args),
            numerics=not args.timing_only,
        )
    simulate_s = time.perf_counter() - start
    checks, note = _check(args, loaded, feeds, result.outputs)
    report = build_report(
        args.model,
        loaded.program,
        result.stats,
        compile_s=loaded.compile_s,
        simulate_s=simulate_s,
        inputs_source=_inputs_source(args),
        checks=checks,
        check_note=note,
    )
    return report, result.trace_events


def _profile_partitioned(args: argparse.Namespace, loaded: models.Loaded):
    """NPU partitions simulated, host partitions run on onnxruntime, on one timeline
    (--timing-only: NPU partitions timed without numerics, host partitions not run: each is
    its [host] estimate from its declared shapes)."""
    feeds = None if args.timing_only and not args.inputs else graph_inputs(args, loaded.program)
    what = "estimating" if args.timing_only else "running"
    start = time.perf_counter()
    with progress.bar(f"simulating instructions, {what} host partitions") as update:
        result = runtime.run(
            loaded.program,
            feeds,
            progress=update,
            max_memory=opts.max_memory(args),
            trace=bool(args.trace or args.html),
            numerics=not args.timing_only,
        )
    simulate_s = time.perf_counter() - start
    checks, note = _check(args, loaded, feeds, result.outputs)
    report = partition_profile.build_partitioned_report(
        args.model,
        loaded.program,
        result,
        compile_s=loaded.compile_s,
        simulate_s=simulate_s,
        inputs_source=_inputs_source(args),
        checks=checks,
        check_note=note,
    )
    events = (
        partition_profile.merged_events(loaded.program, result) if args.trace or args.html else None
    )
    return report, events


def _inputs_source(args: argparse.Namespace) -> str:
    if args.inputs:
        return args.inputs
    return "none (--timing-only)" if args.timing_only else f"random (seed {args.seed})"


def _check(args, loaded: models.Loaded, feeds, outputs):
    if args.timing_only:
        return None, "--timing-only (no numerics)"
    if args.no_check:
        return None, "--no-check"
    if loaded.onnx_path is None:
        return None, "MODEL is a compiled program; profile the .onnx to check it"
    return reference_check(loaded, feeds, outputs), ""


def write_reports(args: argparse.Namespace, report: Report, events: list[dict] | None) -> None:
    with output_batch() as out:
        out.write_text(args.json, report_json.to_json(report) if args.json else "")
        out.write_text(args.csv, report_table.to_csv(report) if args.csv else "")
        out.write(args.trace, lambda tmp: write_trace(events, tmp))
        if args.html:
            with progress.task("drawing the HTML report"):
                out.write_text(args.html, report_html.render(report, events))
