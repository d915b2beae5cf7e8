"""Options shared by several commands: the model, the hardware config, input shapes."""

from __future__ import annotations

import argparse

from compiler.passes.int8_io import INT8_ATTENTION
from simulator.config import NpuConfig, load_config
from simulator.errors import ConfigError, ModelError
from simulator.limits import ADDRESS_SPACE, DEFAULT_MAX_MEMORY, MAX_RANK, fmt_size, parse_size

MODEL_HELP = "an .onnx file, an .npuprog file, or zoo:NAME (see 'npu zoo list')"


def add_model(parser: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    parser.add_argument("model", metavar="MODEL", help=help)


STRICT_HELP = (
    "strict mode: any node the NPU cannot run (no lowering, a data-dependent shape, ...) is an "
    "error naming the node, op and reason; by default such nodes run on the host (onnxruntime)"
)


def add_config(
    parser: argparse.ArgumentParser, shapes: bool = True, strict_flag: bool = True
) -> None:
    """The hardware and model options; ``strict_flag``: ``--strict`` spells ``--npu-only``
    too (``npu profile`` has its own ``--strict``: exit 1 when the check fails)."""
    group = parser.add_argument_group("hardware and model options")
    flags = ["--npu-only", "--strict"] if strict_flag else ["--npu-only"]
    group.add_argument(*flags, action="store_true", dest="npu_only", help=STRICT_HELP)
    group.add_argument(
        "--config",
        metavar="PRESET|FILE.toml",
        default=None,
        help="hardware preset name or TOML file (default: base; see 'npu configs')",
    )
    group.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one config key, e.g. --set array.rows=64 (repeatable)",
    )
    if shapes:
        group.add_argument(
            "--input-shape",
            metavar="NAME=D0,D1,...",
            action="append",
            default=[],
            dest="input_shapes",
            help="fix a graph input's shape, e.g. image=1,3,224,224, or one named symbolic "
            "dimension wherever the inputs use it, e.g. seq=128 (repeatable)",
        )
    group.add_argument(
        "--int8-attention",
        choices=INT8_ATTENTION,
        default="exact",
        help="int8 fused attention: exact computes the QDQ graph's arithmetic in two passes over "
        "the key blocks (as onnxruntime); online is the one-pass fp32 loop of the int8 inputs, "
        "faster and within a few output steps (default exact)",
    )
    group.add_argument(
        "--max-memory",
        metavar="SIZE",
        type=memory_size,
        default=None,
        help="the most memory a compiled program's DRAM (activations + constants) and a "
        f"simulation may take, e.g. 2G (default {fmt_size(DEFAULT_MAX_MEMORY)})",
    )


def add_timing_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="simulate timing only: no data moves, no outputs; cycles, statistics and trace "
        "are the full simulation's (for sweeps and models too large to simulate numerically)",
    )


def memory_size(text: str) -> int:
    """argparse type of ``--max-memory``."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def seed(text: str) -> int:
    """argparse type of ``--seed``: what numpy's generators take."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 63:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer in [0, 2**63)")
    return value


def int_in(limit: int):
    """argparse type: an integer in [1, ``limit``]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 0 < value <= limit:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer in [1, {limit}]")
        return value

    return parse


def resolve_config(args: argparse.Namespace) -> NpuConfig:
    if args.config is not None and not args.config.strip():
        raise ConfigError("--config is empty; give a preset name or a .toml file")
    return load_config(args.config or "base", list(args.overrides))


def npu_only(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "npu_only", False))


def int8_attention(args: argparse.Namespace) -> str:
    return getattr(args, "int8_attention", "exact")


def max_memory(args: argparse.Namespace) -> int | None:
    return getattr(args, "max_memory", None)


def input_files(args: argparse.Namespace) -> list[str]:
    """The files a command reads (its outputs must not be any of them)."""
    files = [getattr(args, "model", None), getattr(args, "inputs", None)]
    config = getattr(args, "config", None)
    if config and config.endswith(".toml"):
        files.append(config)
    return [f for f in files if f and not f.startswith("zoo:")]


def config_given(args: argparse.Namespace) -> bool:
    return args.config is not None or bool(args.overrides)


def parse_input_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """``["image=1,3,224,224"]`` -> ``{"image": (1, 3, 224, 224)}``; ModelError when malformed."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not sep or not name or not shape or min(shape) < 1:
            raise ModelError(
                f"--input-shape {item!r} must look like NAME=D0,D1,... with positive integers"
            )
        if max(shape) > ADDRESS_SPACE or len(shape) > MAX_RANK:
            raise ModelError(
                f"--input-shape {item!r}: at most {MAX_RANK} dimensions, each at most "
                f"{ADDRESS_SPACE:,} (the DMA's address space)"
            )
        shapes[name] = shape
    return shapes
