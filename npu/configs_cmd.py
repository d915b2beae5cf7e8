"""``npu configs``: list the hardware presets, show one resolved, or list every key."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from simulator.config import NpuConfig, describe_keys, load_config, preset_names

EXAMPLES = """\
examples:
  npu configs                                   # the presets, one line each
  npu configs show base --set array.rows=64     # the resolved config, as TOML
  npu configs show my_npu.toml --json
  npu configs keys                              # every key with its type, default and meaning
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "configs",
        help="list hardware presets, show a resolved config, list config keys",
        description="The NPU's hardware configurations: presets in simulator/configs/*.toml.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=list_presets)
    sub2 = p.add_subparsers(dest="configs_command", metavar="SUBCOMMAND", parser_class=type(p))
    show = sub2.add_parser("show", help="print a resolved config (preset or TOML file + --set)")
    show.add_argument("preset", metavar="PRESET|FILE.toml", nargs="?", default="base")
    show.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override one config key (repeatable)",
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(func=show_config)
    keys = sub2.add_parser("keys", help="every config key with its type, default and meaning")
    keys.set_defaults(func=list_keys)


def summary(cfg: NpuConfig) -> str:
    kib = cfg.scratchpad.input_kib + cfg.scratchpad.weight_kib + cfg.scratchpad.acc_kib
    return (
        f"{cfg.array.rows}x{cfg.array.cols} {cfg.array.dataflow.replace('_', '-')}, "
        f"{cfg.clock_mhz:g} MHz, {kib} KiB scratchpad, {cfg.dram.bytes_per_cycle:g} B/cycle DRAM, "
        f"{cfg.area_mm2():.1f} mm2 at {cfg.tech_nm:g} nm"
    )


def list_presets(args: argparse.Namespace) -> int:
    table = Table(box=None, show_header=True, header_style="bold")
    table.add_column("preset")
    table.add_column("hardware")
    for name in preset_names():
        table.add_row(name, summary(load_config(name)))
    Console().print(table)
    return 0


def show_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.preset, list(args.overrides))
    d = cfg.to_dict()
    if args.json:
        d["fingerprint"] = cfg.fingerprint()
        print(json.dumps(d, indent=2))
    else:
        print(f"# {summary(cfg)}\n# fingerprint {cfg.fingerprint()}")
        print(to_toml(d))
    return 0


def to_toml(d: dict) -> str:
    """A config dict as TOML that ``load_config`` reads back to the same config."""
    top = [f"{k} = {_toml_value(v)}" for k, v in d.items() if not isinstance(v, dict)]
    sections = [
        "\n".join([f"[{k}]"] + [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()])
        for k, v in d.items()
        if isinstance(v, dict)
    ]
    return "\n\n".join(["\n".join(top)] + sections)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def list_keys(args: argparse.Namespace) -> int:
    table = Table(box=None, header_style="bold")
    for col in ("key", "type", "default", "meaning"):
        table.add_column(col)
    for key, kind, default, doc in describe_keys():
        table.add_row(key, kind, str(default), doc)
    Console().print(table)
    return 0
