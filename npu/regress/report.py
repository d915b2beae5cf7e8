"""The regression report: a rich table, the same diff as text (JUnit, pytest), and JSON.

A case's totals, outputs and checks are always shown; its per-layer metrics only where they
moved (the detail that says which layer a change hit), at most ``MAX_LAYER_ROWS`` per case.
"""

from __future__ import annotations

import math
import os

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from npu.regress.compare import UNCHANGED, MetricDiff, Outcome, summary

MAX_LAYER_ROWS = 25
STYLES = {
    "regressed": "bold red",
    "newly failing": "bold red",
    "changed": "red",
    "removed": "yellow",
    "added": "yellow",
    "improved": "green",
    "newly passing": "green",
    UNCHANGED: "dim",
}


def fmt_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "pass" if value else "FAIL"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if 1e3 <= abs(value) < 1e9 else f"{value:.4g}"
    return str(value)


def fmt_delta(diff: MetricDiff) -> tuple[str, str]:
    """The delta and the delta in percent, or '' when not numbers (or not moved)."""
    if diff.delta is None or not diff.moved:
        return "", ""
    pct = diff.delta_pct
    sign = "+" if diff.delta > 0 else ""
    return f"{sign}{fmt_value(diff.delta)}", "" if pct is None else fmt_pct(pct)


def fmt_pct(pct: float) -> str:
    return f"{pct:+.2f}%" if abs(pct) < 1e4 else f"{pct:+.3g}%"


def shown(outcome: Outcome) -> tuple[list[MetricDiff], int]:
    """The diffs a report shows, and how many moved layer metrics it leaves out."""
    rows, layers = [], []
    for d in outcome.diffs:
        if not d.metric.startswith("layer."):
            rows.append(d)
        elif d.moved or d.status != UNCHANGED:
            layers.append(d)
    return rows + layers[:MAX_LAYER_ROWS], max(0, len(layers) - MAX_LAYER_ROWS)


def print_report(outcomes: list[Outcome], title: str, console: Console | None = None) -> None:
    console = console or _console()
    table = Table(title=title, title_justify="left")
    for col in ("case", "metric", "before", "after", "delta", "delta %", "rule", "status"):
        right = col in ("before", "after", "delta")
        table.add_column(col, justify="right" if right else "left", no_wrap=True)
    for o in outcomes:
        _case_rows(table, o)
        table.add_section()
    console.print(table)
    for o in outcomes:
        if o.error:
            console.print(f"{o.case}: did not run: {o.error}", markup=False)
        for note in o.notes:
            console.print(f"note: {o.case}: {note}", markup=False)
    console.print(summary_line(outcomes))


def _console() -> Console:
    """The terminal's width (or $COLUMNS); else wide enough not to wrap rows in logs and pipes."""
    console = Console(emoji=False)
    wide = console.is_terminal or "COLUMNS" in os.environ
    return console if wide else Console(width=200, emoji=False)


def _case_rows(table: Table, o: Outcome) -> None:
    if o.error:
        table.add_row(escape(o.case), "(did not run)", *[""] * 5, _styled("newly failing"))
        return
    if _recorded(o):
        table.add_row(o.case, f"({len(o.diffs)} metrics)", "", "", "", "", "", _styled("added"))
        return
    diffs, more = shown(o)
    for i, d in enumerate(diffs):
        delta, pct = fmt_delta(d)
        name = o.case if i == 0 else ""
        table.add_row(
            name,
            d.metric,
            fmt_value(d.before),
            fmt_value(d.after),
            delta,
            pct,
            str(d.rule),
            _styled(d.status),
        )
    if more:
        table.add_row("", f"... {more} more moved layer metrics (--json has all)", *[""] * 6)


def _styled(status: str) -> str:
    return f"[{STYLES[status]}]{status}[/]"


def summary_line(outcomes: list[Outcome]) -> str:
    counts = summary(outcomes)
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    return f"{len(outcomes)} case(s): {parts}"


def diff_text(outcome: Outcome) -> str:
    """The case's failing metrics as plain text (a JUnit failure, a pytest failure)."""
    lines = [f"case {outcome.case}: {outcome.status}"]
    if outcome.error:
        return "\n".join([*lines, f"  {outcome.error}"])
    for d in outcome.failing():
        delta, pct = fmt_delta(d)
        change = f"{fmt_value(d.before)} -> {fmt_value(d.after)}"
        detail = " ".join(x for x in (delta, f"({pct})" if pct else "") if x)
        lines.append(f"  {d.metric}: {change} {detail} [{d.rule}] {d.status}".rstrip())
    lines += [f"  note: {n}" for n in outcome.notes]
    return "\n".join(lines)


def change_summary(outcomes: list[Outcome]) -> str:
    """One line for the change log: what moved in each case."""
    parts = []
    for o in outcomes:
        moved = [d for d in o.diffs if d.moved]
        if not moved or _recorded(o):
            parts.append(f"{o.case}: " + ("recorded" if moved else "unchanged"))
            continue
        heads = [_short(d) for d in moved if not d.metric.startswith("layer.")]
        layers = len(moved) - len(heads)
        if layers:
            heads.append(f"{layers} layer metric(s)")
        parts.append(f"{o.case}: " + ", ".join(heads))
    return "; ".join(parts)


def _recorded(o: Outcome) -> bool:
    """A case without a baseline before (all its metrics added)."""
    return bool(o.diffs) and all(d.before is None for d in o.diffs)


def _short(d: MetricDiff) -> str:
    if d.before is None:
        return f"{d.metric} new"
    if d.after is None:
        return f"{d.metric} removed"
    pct = d.delta_pct
    tail = "" if pct is None else f" ({fmt_pct(pct)})"
    return f"{d.metric} {fmt_value(d.before)} -> {fmt_value(d.after)}{tail}"


def to_json(outcomes: list[Outcome], suite: str, exit_code: int) -> dict:
    return {
        "suite": suite,
        "exit_code": exit_code,
        "summary": summary(outcomes),
        "cases": [_case_json(o) for o in outcomes],
    }


def _case_json(o: Outcome) -> dict:
    return {
        "name": o.case,
        "status": o.status,
        "error": o.error or None,
        "notes": o.notes,
        "seconds": round(o.seconds, 3),
        "timing_only": o.timing_only,
        "metrics": [
            {
                "name": d.metric,
                "before": _plain(d.before),
                "after": _plain(d.after),
                "delta": _plain(d.delta),
                "delta_pct": _plain(d.delta_pct),
                "rule": str(d.rule),
                "status": d.status,
            }
            for d in o.diffs
        ],
    }


def _plain(value):
    """JSON has no infinities or NaN: those become the strings TOML writes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
