"""The sweep's HTML report: per model, the three Pareto fronts as plots (every point grey,
the front in colour, joined as a staircase) and the table of the points on a front."""

from __future__ import annotations

import base64
import html

from npu import plots
from npu.report_html import CSS
from npu.sweep.pareto import FRONTS
from npu.sweep.table import Table

plt = plots.plt
LABELS = {"latency_us": "latency (us)", "energy_uj": "energy (uJ)", "area_mm2": "area (mm^2)"}
SHOWN = ("cycles", "latency_us", "energy_uj", "area_mm2", "array_utilization", "pareto")


def render(table: Table) -> str:
    models = sorted({r["model"] for r in table})
    body = [_header(table)] + [_model(table, m) for m in models]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>npu sweep</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


def _header(table: Table) -> str:
    failed = sum(r["status"] != "ok" for r in table)
    keys = ", ".join(table.keys) or "(no swept key)"
    return (
        f"<header><h1>npu sweep: {len(table)} results</h1><p>swept: {html.escape(keys)}; "
        f"{failed} failed or mismatched</p></header>"
    )


def _model(table: Table, model: str) -> str:
    rows = [r for r in table if r["model"] == model and r["status"] == "ok"]
    image = base64.b64encode(figure(rows)).decode() if rows else ""
    img = f'<img alt="Pareto fronts" src="data:image/png;base64,{image}">' if rows else ""
    return (
        f"<section><h2>{html.escape(model)}</h2>{img}"
        f'<div class="scroll">{_front_table(table, rows)}</div></section>'
    )


def figure(rows: list[dict]) -> bytes:
    """The three fronts of one model's finished rows, side by side."""
    fig, axes = plt.subplots(1, len(FRONTS), figsize=(12, 3.6), dpi=plots.DPI)
    for ax, (name, x, y) in zip(axes, FRONTS, strict=True):
        ax.scatter([r[x] for r in rows], [r[y] for r in rows], s=10, color="#a0aec0")
        on = sorted((r[x], r[y]) for r in rows if name in r["pareto"].split(";"))
        ax.step([p[0] for p in on], [p[1] for p in on], where="post", color=plots.COMPUTE)
        ax.scatter([p[0] for p in on], [p[1] for p in on], s=18, color=plots.COMPUTE)
        ax.set(xlabel=LABELS[x], ylabel=LABELS[y], title=name)
        ax.grid(color=plots.GRID)
    fig.tight_layout()
    return plots.png(fig)


def _front_table(table: Table, rows: list[dict]) -> str:
    on = [r for r in rows if r["pareto"]]
    on.sort(key=lambda r: (r["latency_us"], r["area_mm2"]))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (*table.keys, *SHOWN))
    body = []
    for r in on:
        cells = [r["point"].get(k) for k in table.keys] + [r[c] for c in SHOWN]
        body.append("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))
