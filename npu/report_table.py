"""The per-layer table (rich, on the terminal) and the same columns as CSV.

Every string that came from the user (model path, config name, node and tensor names) goes
to rich as ``Text``, never as markup: a node named ``[/bogus]`` prints as itself."""

from __future__ import annotations

import csv
import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from npu.report import Report

# (header, CSV key, formatter for the terminal): the table and the CSV share these columns.
COLUMNS = (
    ("layer", "name", str),
    ("op", "op", str),
    ("device", "device", str),
    ("tiling", "tiling", str),
    ("cycles", "cycles", lambda v: f"{v:,}"),
    ("MACs", "macs", lambda v: f"{v:,}"),
    ("util", "utilization", lambda v: f"{100 * v:.1f}%"),
    ("DRAM bytes", "dram_bytes", lambda v: f"{v:,}"),
    ("bound", "bound", str),
)
NUMERIC = {"cycles", "macs", "utilization", "dram_bytes"}


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def layer_table(report: Report) -> Table:
    title = Text(f"{report.model} on {report.config.name}")
    table = Table(title=title, header_style="bold")
    for header, key, _ in COLUMNS:
        table.add_column(header, justify="right" if key in NUMERIC else "left", no_wrap=True)
    for row in report.layers:
        d = row.to_dict()
        style = {"memory": "yellow", "host": "magenta"}.get(row.bound)
        table.add_row(*(Text(fmt(d[key])) for _, key, fmt in COLUMNS), style=style)
    return table


def totals_lines(report: Report) -> list[str]:
    t = report.totals
    ips = f"{t['inferences_per_s']:,.1f}" if t["inferences_per_s"] else "-"
    lines = [
        f"cycles {t['cycles']:,}  time {fmt_time(t['time_s'])} at {t['clock_mhz']:g} MHz  "
        f"{ips} inferences/s",
        f"MACs {t['macs']:,} (array executed {t['executed_macs']:,})  "
        f"array utilisation {100 * t['array_utilization']:.1f}%  "
        f"energy {t['energy_uj']:,.2f} uJ  area {t['area_mm2']:,.2f} mm2",
        f"DRAM read {t['dram_read_bytes']:,} B  written {t['dram_write_bytes']:,} B  "
        f"peak DRAM {t['peak_dram_bytes']:,} B  peak scratchpad {t['peak_scratchpad_bytes']:,} B",
        _timing_line(report),
        *device_lines(report),
    ]
    return lines + check_lines(report)


def device_lines(report: Report) -> list[str]:
    """The NPU MAC share; for each host partition, its time and why its nodes are there."""
    t = report.totals
    share = (
        f"NPU MAC share {100 * t['npu_mac_share']:.1f}% ({t['npu_macs']:,} of {t['macs']:,} "
        "MACs on the NPU)"
    )
    if not report.host:
        return [f"{share}; every layer on the NPU"]
    uncounted = [n for h in report.host for n in h["macs_uncounted"]]
    if uncounted:
        share += f" at most: the MACs of host node(s) {', '.join(uncounted)} depend on data"
    ran = all(h["wall_s"] is not None for h in report.host)
    measured = (
        f"host measured {fmt_time(t['host_wall_s'])} on onnxruntime here"
        if ran
        else "host partitions not run (--timing-only: estimated from their declared shapes)"
    )
    lines = [
        f"{share}; {t['npu_cycles']:,} NPU cycles + {t['host_cycles']:,} host cycles (estimate: "
        f"the config's [host] model), {measured}, {t['host_transfer_bytes']:,} B through DRAM"
    ]
    for h in report.host:
        wall = "not run" if h["wall_s"] is None else f"measured {fmt_time(h['wall_s'])}"
        lines.append(
            f"host partition {h['partition'] + 1} of {h['of']}: {h['estimated_cycles']:,} cycles "
            f"(estimate), {wall}, {h['macs']:,} MACs; nodes:"
        )
        lines += [f"  {n['name']} ({n['op']}): {n['reason']}" for n in h["nodes"]]
        if h.get("ports_unknown"):
            lines.append(f"  a lower bound: {unknown_ports(h['ports_unknown'])}")
    return lines


def unknown_ports(ports: list[str]) -> str:
    """What a timing-only estimate could not count (shared by ``npu run``'s summary)."""
    return f"tensor(s) {', '.join(ports)} of data-dependent shape counted as 0 bytes"


def _timing_line(report: Report) -> str:
    compiled = "-" if report.compile_s is None else f"{report.compile_s:.2f} s"
    return f"compile {compiled}  simulate {report.simulate_s:.2f} s  inputs {report.inputs_source}"


def check_lines(report: Report) -> list[str]:
    if report.checks is None:
        return [f"onnxruntime check: skipped ({report.check_note})"]
    lines = []
    for c in report.checks:
        verdict = "ok" if c.passed else "MISMATCH"
        steps = "" if c.error_steps is None else f", {c.error_steps:.3g} step(s)"
        lines.append(
            f"onnxruntime check: {verdict} {c.name}: max abs error {c.max_abs_error:.3g}{steps}"
        )
    return lines


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or _console()
    console.print(layer_table(report))
    for line in totals_lines(report):
        style = "bold red" if "MISMATCH" in line else None
        console.print(Text(line), style=style, highlight=False)


def _console() -> Console:
    """The terminal's width on a terminal; wide enough not to wrap rows in logs and pipes."""
    plain = Console(markup=False, emoji=False)
    return plain if plain.is_terminal else Console(width=200, markup=False, emoji=False)


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([key for _, key, _ in COLUMNS])
    for row in report.layers:
        d = row.to_dict()
        writer.writerow([d[key] for _, key, _ in COLUMNS])
    return buf.getvalue()
