"""``npu bench [MODEL...]``: how long compiling and simulating take against onnxruntime's
inference of the same model and input, and how close the simulated cycles come to the
roofline; a table, and ``--json`` for tracking (``npu/bench_runs.py`` measures)."""

from __future__ import annotations

import argparse
import json
import os
import platform

import numpy as np
import onnxruntime
from rich.console import Console
from rich.table import Table

from compiler import CompileOptions
from npu import models, progress
from npu import options as opts
from npu.bench_runs import ModelBench, bench_model, peak_rss_bytes
from npu.outputs import check_writable, output_batch
from npu.report_table import fmt_time
from npu.version import package_version
from simulator.config import NpuConfig
from simulator.errors import ModelError

DEFAULT_MODELS = ("zoo:resnet50-int8", "zoo:bert_tiny-int8", "zoo:resnet50")
SCHEMA_VERSION = 1

EXAMPLES = """\
examples:
  npu bench                                   # int8 ResNet-50, int8 bert_tiny, ResNet-50
  npu bench zoo:mobilenet_v2-int8 model.onnx --repeat 9 --json bench.json
  npu bench zoo:resnet18 --set array.rows=64 --ort-threads 0

Each model is compiled, simulated and run by onnxruntime (CPU) on the same seeded random
input, once to warm up and then --repeat times; the table shows median CPU times (the
process's, which other jobs on the machine barely move), their ratios to onnxruntime's
inference, the simulated cycles against the roofline bound, and the peak memory of a compile
and of a simulation. The simulated outputs are checked against onnxruntime's. --json keeps
every repetition, wall-clock times too (docs/performance.md).

A model the NPU cannot run whole is cut into NPU and host partitions, as npu run does: the
NPU partitions are simulated and the host partitions run on onnxruntime ('simulate' is the
whole run); the host column gives how many, their estimated cycles (included in 'cycles') and
their measured onnxruntime time; the roofline is the NPU partitions' against the NPU cycles.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time compile and simulate against onnxruntime; cycles against the roofline",
        description="Benchmark the toolchain on MODELs (default: "
        + ", ".join(DEFAULT_MODELS)
        + ").",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", metavar="MODEL", nargs="*", help="an .onnx file or zoo:NAME")
    opts.add_config(p)
    p.add_argument("--repeat", type=_positive, default=5, help="timed repetitions (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument(
        "--ort-threads",
        type=_non_negative,
        default=1,
        help="onnxruntime intra-op threads (default 1, as the simulator; 0: its default)",
    )
    p.add_argument("--json", metavar="BENCH.json", help="every measurement as JSON")
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    check_writable(args.json)
    config = opts.resolve_config(args)
    shapes = opts.parse_input_shapes(args.input_shapes)
    names = args.models or list(DEFAULT_MODELS)
    paths = [_onnx_path(name) for name in names]  # every MODEL checked before any work
    options = CompileOptions(input_shapes=shapes, strict=opts.npu_only(args))
    results = []
    for name, path in zip(names, paths, strict=True):
        with progress.task(f"benchmarking {name}"):
            results.append(
                bench_model(
                    name,
                    path,
                    config,
                    options,
                    repeat=args.repeat,
                    seed=args.seed,
                    ort_threads=args.ort_threads,
                )
            )
    print_table(results, config, args)
    with output_batch() as out:
        out.write_text(args.json, to_json(results, config, args) if args.json else "")
    return 0


def _onnx_path(model: str):
    path = models.onnx_path(model)
    if path is None:
        raise ModelError(f"{model!r} is a compiled program; bench needs the .onnx model")
    return path


def table(results: list[ModelBench], config: NpuConfig, args: argparse.Namespace) -> Table:
    threads = args.ort_threads or "default"
    title = (
        f"on {config.name}: median CPU times of {args.repeat}, "
        f"onnxruntime {onnxruntime.__version__} with {threads} thread(s)"
    )
    t = Table(title=title, header_style="bold")
    for header in ("model", "compile", "simulate", "onnxruntime"):
        t.add_column(header, justify="left" if header == "model" else "right", no_wrap=True)
    for header in ("(compile+sim)/ort", "compile/ort", "sim/ort"):
        t.add_column(header, justify="right", no_wrap=True)
    hosts = any(r.host is not None for r in results)  # a column only for partitioned models
    for header in ("cycles", "host", "roofline", "of roofline", "peak MiB c/s", "check"):
        if header != "host" or hosts:
            t.add_column(header, justify="right", no_wrap=True)
    for r in results:
        ratios = r.ratios
        host = [_host_cell(r)] if hosts else []
        t.add_row(
            r.model,
            fmt_time(r.compile.median),
            fmt_time(r.simulate.median),
            fmt_time(r.onnxruntime.median),
            f"{ratios['compile_simulate']:,.1f}x",
            f"{ratios['compile']:,.1f}x",
            f"{ratios['simulate']:,.1f}x",
            f"{r.cycles:,}",
            *host,
            f"{r.roofline_cycles:,.0f}",
            f"{100 * r.fraction_of_roofline:.1f}%",
            f"{r.compile_peak_bytes / 2**20:,.0f} / {r.simulate_peak_bytes / 2**20:,.0f}",
            "ok" if r.check_passed else "MISMATCH",
            style=None if r.check_passed else "bold red",
        )
    return t


def _host_cell(r: ModelBench) -> str:
    """Host partitions: how many, their estimated cycles (in ``cycles``) and measured time."""
    if r.host is None:
        return "-"
    return f"{r.host_partitions}: {r.host_cycles:,} cyc est, {fmt_time(r.host.median)} ort"


def print_table(results: list[ModelBench], config: NpuConfig, args: argparse.Namespace) -> None:
    console = Console()
    console = console if console.is_terminal else Console(width=200)
    console.print(table(results, config, args))
    console.print(f"peak resident memory of this process: {peak_rss_bytes() / 2**20:,.0f} MiB")


def to_json(results: list[ModelBench], config: NpuConfig, args: argparse.Namespace) -> str:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "npu", "version": package_version()},
        "environment": environment(),
        "config": {"name": config.name, "fingerprint": config.fingerprint()},
        "repeat": args.repeat,
        "seed": args.seed,
        "ort_threads": args.ort_threads,
        "peak_rss_bytes": peak_rss_bytes(),
        "models": [r.to_dict() for r in results],
    }
    return json.dumps(doc, indent=2) + "\n"


def environment() -> dict:
    """What the figures depend on besides the code: versions, cores, load."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(load) if load else None,
    }
