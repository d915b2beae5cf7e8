"""The HTML report: one self-contained file (inline CSS, figures as base64 PNG)."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime

from npu.report import Report
from npu.report_table import COLUMNS, NUMERIC, fmt_time

CSS = """
:root { --ink:#1a202c; --muted:#718096; --line:#e2e8f0; --compute:#2b6cb0; --memory:#dd6b20;
        --ok:#2f855a; --bad:#c53030; --host:#97266d; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #f7fafc; }
main { max-width: 1320px; margin: 0 auto; padding: 28px 32px 48px; }
header h1 { font-size: 22px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px;
         margin: 20px 0 8px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .v { font-size: 19px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.ok { color: var(--ok); } .bad { color: var(--bad); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px;
          margin-top: 16px; }
section h2 { font-size: 15px; margin: 0 0 10px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; align-items: start; }
.grid2 section { margin-top: 16px; }
img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
         white-space: nowrap; }
th { position: sticky; top: 0; background: #edf2f7; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #f7fafc; }
.pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 11.5px;
        color: #fff; }
.pill.compute { background: var(--compute); } .pill.memory { background: var(--memory); }
.pill.host { background: var(--host); }
.bar { display: inline-block; height: 8px; background: var(--compute); border-radius: 2px;
       vertical-align: middle; margin-right: 6px; }
.scroll { max-height: 720px; overflow: auto; }
.note { color: var(--muted); font-size: 12.5px; margin: 8px 0 0; }
details summary { cursor: pointer; font-weight: 600; }
pre { background: #f7fafc; padding: 10px; border-radius: 6px; overflow: auto; font-size: 12px; }
"""


def render(report: Report, events: list[dict] | None = None) -> str:
    """The whole page; ``events`` (the simulator's trace events) draw the unit timeline."""
    body = [_header(report), _cards(report), _check(report), _host(report),
            _figures(report, events), _table(report), _config(report)]  # fmt: skip
    title = html.escape(f"{report.model} on {report.config.name}: NPU profile")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _header(report: Report) -> str:
    cfg = report.config
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    hw = (f"{cfg.array.rows}×{cfg.array.cols} {cfg.array.dataflow.replace('_', '-')} array, "
          f"{cfg.clock_mhz:g} MHz, {cfg.dram.bytes_per_cycle:g} B/cycle DRAM")  # fmt: skip
    return (
        f"<header><h1>{html.escape(report.model)}</h1>"
        f"<p>config <b>{html.escape(cfg.name)}</b> ({hw}) · fingerprint "
        f"<code>{cfg.fingerprint()}</code> · inputs {html.escape(report.inputs_source)} · {when}</p>"
        f"</header>"
    )


def _cards(report: Report) -> str:
    t = report.totals
    cards = [
        ("cycles", f"{t['cycles']:,}"),
        ("latency", fmt_time(t["time_s"])),
        ("inferences / s", f"{t['inferences_per_s']:,.0f}" if t["inferences_per_s"] else "–"),
        ("array utilisation", f"{100 * t['array_utilization']:.1f}%"),
        ("MACs (executed)", f"{t['macs'] / 1e6:,.1f} M ({t['executed_macs'] / 1e6:,.1f} M)"),
        ("energy", _energy(t["energy_uj"])),
        ("area", f"{t['area_mm2']:,.2f} mm²"),
        ("DRAM traffic", _bytes(t["dram_read_bytes"] + t["dram_write_bytes"])),
        ("peak DRAM", _bytes(t["peak_dram_bytes"])),
        ("peak scratchpad", _bytes(t["peak_scratchpad_bytes"])),
        ("compile time", _secs(report.compile_s)),
        ("simulation time", _secs(report.simulate_s)),
        ("NPU MAC share", f"{100 * t['npu_mac_share']:.1f}%"),
    ]
    if report.host:
        cards.append(("host time (estimate)", f"{t['host_cycles']:,} cycles"))
    items = "".join(f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>'
                    for k, v in cards)  # fmt: skip
    return f'<div class="cards">{items}</div>'


def _check(report: Report) -> str:
    if report.checks is None:
        return f'<p class="note">onnxruntime check skipped: {html.escape(report.check_note)}</p>'
    rows = []
    for c in report.checks:
        verdict = '<b class="ok">match</b>' if c.passed else '<b class="bad">MISMATCH</b>'
        steps = "" if c.error_steps is None else f", {c.error_steps:.3g} quantisation step(s)"
        rows.append(f"<li>{verdict} <code>{html.escape(c.name)}</code> ({c.dtype}): "
                    f"max abs error {c.max_abs_error:.3g}{steps}</li>")  # fmt: skip
    cls = "ok" if report.check_passed else "bad"
    return (f'<section><h2>Check against onnxruntime: <span class="{cls}">'
            f'{"passed" if report.check_passed else "FAILED"}</span></h2>'
            f'<ul>{"".join(rows)}</ul></section>')  # fmt: skip


def _host(report: Report) -> str:
    """The host partitions apart: estimated cycles, measured time, and why each node is there."""
    if not report.host:
        return ""
    t = report.totals
    rows = []
    for h in report.host:
        nodes = "<br>".join(
            f"<code>{html.escape(n['name'])}</code> ({html.escape(n['op'])}): "
            f"{html.escape(n['reason'])}"
            for n in h["nodes"]
        )
        wall = "not run" if h["wall_s"] is None else fmt_time(h["wall_s"])
        rows.append(
            f"<tr><td>{h['partition'] + 1} of {h['of']}</td><td style='white-space:normal'>"
            f"{nodes}</td><td class='num'>{h['estimated_cycles']:,}</td>"
            f"<td class='num'>{wall}</td><td class='num'>{h['macs']:,}</td>"
            f"<td class='num'>{h['read_bytes'] + h['write_bytes']:,}</td></tr>"
        )
    head = ("<tr><th>partition</th><th>nodes and why they are not on the NPU</th>"
            "<th class='num'>cycles (estimate)</th><th class='num'>measured</th>"
            "<th class='num'>MACs</th><th class='num'>bytes through DRAM</th></tr>")  # fmt: skip
    return (
        f"<section><h2>Host partitions ({len(report.host)}): {t['host_cycles']:,} of "
        f"{t['cycles']:,} cycles, NPU MAC share {100 * t['npu_mac_share']:.1f}%{_at_most(report)}"
        "</h2>"
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
        "<p class='note'>Host partitions run on onnxruntime. Their cycles are an estimate from "
        "the config's [host] section (a call overhead, two flops per MAC plus one per output "
        "element at host.gflops, the bytes read and written at host.bytes_per_s, at the NPU "
        "clock), not a measurement; the measured column is onnxruntime's wall time on the "
        "machine that made this report (one thread). Their energy is not modelled.</p>"
        "</section>"
    )


def _at_most(report: Report) -> str:
    uncounted = [n for h in report.host for n in h["macs_uncounted"]]
    if not uncounted:
        return ""
    return html.escape(f" at most (the MACs of {', '.join(uncounted)} depend on data)")


def _figures(report: Report, events: list[dict] | None) -> str:
    from npu import plots  # matplotlib: imported when drawing, not by every npu command

    roof = _img(plots.roofline(report), "roofline")
    bars = _img(plots.cycle_bars(report), "cycles per layer")
    out = (
        '<div class="grid2">'
        f"<section><h2>Roofline</h2>{roof}<p class='note'>Each dot is a layer: MACs per cycle "
        "achieved against MACs per DRAM byte. Dots under the sloped roof are limited by DRAM "
        "bandwidth, under the flat roof by the array. Layers without MACs are not drawn.</p>"
        f"</section><section><h2>Where the cycles go</h2>{bars}<p class='note'>Compute: cycles "
        "the matrix and vector units work within the layer's span; memory stall: the rest.</p>"
        "</section></div>"
    )
    if events:
        timeline = _img(plots.unit_timeline(report, events), "unit utilisation timeline")
        out += f"<section><h2>Units over time</h2>{timeline}</section>"
    return out


def _table(report: Report) -> str:
    head = "".join(f'<th class="{"num" if k in NUMERIC else ""}">{h}</th>' for h, k, _ in COLUMNS)
    rows = [_table_row(row.to_dict()) for row in report.layers]
    return (f"<section><h2>Layers ({len(rows)})</h2><div class='scroll'><table>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
            "</section>")  # fmt: skip


def _table_row(d: dict) -> str:
    cells = []
    for _, key, fmt in COLUMNS:
        value = html.escape(fmt(d[key]))
        if key in ("bound", "device") and d[key] == "host":
            value = f'<span class="pill host">{value}</span>'
        elif key == "bound":
            value = f'<span class="pill {d[key]}">{value}</span>'
        elif key == "utilization":
            width = max(1, round(60 * min(d[key], 1.0)))
            value = f'<span class="bar" style="width:{width}px"></span>{value}'
        cells.append(f'<td class="{"num" if key in NUMERIC else ""}">{value}</td>')
    return f"<tr>{''.join(cells)}</tr>"


def _config(report: Report) -> str:
    from npu.configs_cmd import to_toml

    toml = html.escape(to_toml(report.config.to_dict()))
    return (
        f"<section><details><summary>Hardware config</summary><pre>{toml}</pre></details></section>"
    )


def _energy(uj: float) -> str:
    return f"{uj / 1e3:,.2f} mJ" if uj >= 1e3 else f"{uj:,.2f} µJ"


def _secs(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.2f} s"


def _bytes(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
