"""Options shared by several commands: the model, the hardware config, input shapes."""

from __future__ import annotations

import argparse

from simulator.config import NpuConfig, load_config
from simulator.errors import ModelError

MODEL_HELP = "an .onnx file, an .npuprog file, or zoo:NAME (see 'npu zoo list')"


def add_model(parser: argparse.ArgumentParser, help: str = MODEL_HELP) -> None:
    parser.add_argument("model", metavar="MODEL", help=help)


def add_config(parser: argparse.ArgumentParser, shapes: bool = True) -> None:
    group = parser.add_argument_group("hardware and model options")
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


def resolve_config(args: argparse.Namespace) -> NpuConfig:
    return load_config(args.config or "base", list(args.overrides))


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
        shapes[name] = shape
    return shapes
