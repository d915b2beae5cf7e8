"""`npu zoo list` and `npu zoo build`: registered by `add_zoo_parser`, run by `args.func`.

Errors are raised as ZooError (a simulator.errors.ModelError); the `npu` entry point
prints them as `error: ...` and exits 2.
"""

import argparse
import shutil
from pathlib import Path

from models_zoo.api import INT8_SUFFIX, build_to_path, list_models, parse_zoo_name
from models_zoo.docs import fmt_count, fmt_shapes


def add_zoo_parser(subparsers) -> argparse.ArgumentParser:
    zoo = subparsers.add_parser("zoo", help="list and build the model zoo's workloads")
    commands = zoo.add_subparsers(dest="zoo_command", required=True)
    listing = commands.add_parser("list", help="models with ops, parameters, MACs, input shapes")
    listing.add_argument(
        "--cache-dir", type=Path, default=None, help="zoo cache (default: $NPU_ZOO_CACHE)"
    )
    listing.set_defaults(func=cmd_list)
    build = commands.add_parser("build", help="write a zoo model as .onnx")
    build.add_argument("name", help="zoo model name, e.g. resnet18 or resnet18-int8")
    build.add_argument("--int8", action="store_true", help="the int8 QDQ variant")
    build.add_argument(
        "-o", "--output-dir", type=Path, default=Path("."), help="where to write NAME.onnx"
    )
    build.add_argument(
        "--cache-dir", type=Path, default=None, help="zoo cache (default: $NPU_ZOO_CACHE)"
    )
    build.set_defaults(func=cmd_build)
    return zoo


def cmd_list(args: argparse.Namespace) -> int:
    header = ("name", "params", "MACs", "inputs", "ops")
    rows = [header]
    for info in list_models(args.cache_dir):
        if not info.available:
            rows.append((info.name, "-", "-", "(weights not installed)", ""))
            continue
        ops = ",".join(info.ops)
        rows.append(
            (info.name, fmt_count(info.params), fmt_count(info.macs), fmt_shapes(info.inputs), ops)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Writes through the CLI's safe outputs (``npu.outputs``): checked first, then renamed."""
    from npu.outputs import check_output_dir, check_outputs, output_batch

    name, int8 = parse_zoo_name(args.name)
    int8 = int8 or args.int8
    folder = check_output_dir(args.output_dir, "-o")
    target = folder / f"{name}{INT8_SUFFIX if int8 else ''}.onnx"
    if folder.is_dir():
        check_outputs({"-o": target})
    cached = build_to_path(name, int8, args.cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    check_outputs({"-o": target}, [cached])
    with output_batch() as out:
        out.write(target, lambda tmp: shutil.copyfile(cached, tmp))
    print(target)
    return 0
