"""The report's figures, drawn with matplotlib (Agg) and returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from npu.report import Report  # noqa: E402

COMPUTE, MEMORY, GRID, HOST = "#2b6cb0", "#dd6b20", "#e2e8f0", "#97266d"
UNITS = ("load", "matrix", "vector", "store")
UNIT_COLORS = {"load": "#38a169", "matrix": "#2b6cb0", "vector": "#805ad5", "store": "#d69e2e"}
DPI = 110

plt.rcParams.update(
    {
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": "#718096",
        "axes.titleweight": "bold",
        "axes.titlesize": 10,
        "axes.axisbelow": True,
    }
)


def _si(value: float, _pos=None) -> str:
    """Axis labels as 1.5M, 200k, 40."""
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def roofline(report: Report) -> bytes:
    """Achieved MACs/cycle against arithmetic intensity (MACs per DRAM byte), each layer a dot."""
    cfg = report.config
    peak, bw = cfg.array.rows * cfg.array.cols, cfg.dram.bytes_per_cycle
    rows = [r for r in report.layers if r.macs and r.cycles and r.device == "npu"]
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    intensity = np.array([r.macs / max(r.dram_bytes, 1) for r in rows] or [1.0])
    lo, hi = min(intensity.min(), peak / bw) / 4, max(intensity.max(), peak / bw) * 4
    x = np.geomspace(lo, hi, 200)
    ax.plot(x, np.minimum(peak, bw * x), color="#1a202c", lw=1.6, label="roofline")
    ax.axvline(peak / bw, color="#a0aec0", lw=0.8, ls=":")
    for bound, color in (("compute", COMPUTE), ("memory", MEMORY)):
        pts = [
            (i, r.macs / r.cycles)
            for i, r in zip(intensity, rows, strict=False)
            if r.bound == bound
        ]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=26, color=color, alpha=0.85,
                       edgecolor="white", lw=0.5, label=f"{bound}-bound layer", zorder=3)  # fmt: skip
    _label_top(ax, rows, intensity)
    ax.text(hi, peak * 1.12, f"peak {peak:,} MACs/cycle", ha="right", fontsize=8, color="#4a5568")
    ridge = f"ridge at {peak / bw:.3g} MACs/byte"
    ax.text(peak / bw * 1.1, peak / 3, ridge, rotation=90, va="top", fontsize=8, color="#a0aec0")
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (MACs per DRAM byte)",
           ylabel="achieved MACs per cycle")  # fmt: skip
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_ylim(bottom=max(0.01, min([r.macs / r.cycles for r in rows] or [1]) / 3), top=peak * 2)
    ax.grid(True, which="major", color=GRID, lw=0.6)
    ax.legend(frameon=False, loc="lower right")
    return png(fig)


def _label_top(ax, rows, intensity, count: int = 4) -> None:
    """Name the layers that take the most cycles."""
    order = sorted(range(len(rows)), key=lambda i: -rows[i].cycles)[:count]
    for i in order:
        r = rows[i]
        ax.annotate(r.name, (intensity[i], r.macs / r.cycles), fontsize=7, color="#4a5568",
                    xytext=(4, 4), textcoords="offset points", parse_math=False)  # fmt: skip


def cycle_bars(report: Report, limit: int = 60) -> bytes:
    """Cycles per layer, split into compute-unit busy time and memory stall."""
    rows = report.layers
    if len(rows) > limit:
        keep = set(sorted(range(len(rows)), key=lambda i: -rows[i].cycles)[:limit])
        rows = [r for i, r in enumerate(rows) if i in keep]
    fig, ax = plt.subplots(figsize=(6.2, 0.6 + 0.2 * max(len(rows), 4)))
    y = np.arange(len(rows))
    npu = np.array([r.device == "npu" for r in rows], dtype=bool)
    busy = np.array([r.busy_compute_cycles for r in rows]) * npu
    stall = np.array([r.stall_cycles for r in rows]) * npu
    ax.barh(y, busy, color=COMPUTE, label="compute (matrix + vector busy)")
    ax.barh(y, stall, left=busy, color=MEMORY, label="memory stall")
    if not npu.all():
        host = np.array([r.cycles for r in rows]) * ~npu
        ax.barh(y, host, color=HOST, label="host partition (estimate)")
    ax.set_yticks(y, [_short(r.name) for r in rows], fontsize=7, parse_math=False)
    ax.invert_yaxis()
    title = "Cycles per layer" + (f" (the {limit} longest)" if len(report.layers) > limit else "")
    ax.set(xlabel="cycles")
    ax.xaxis.set_major_formatter(FuncFormatter(_si))
    if len(report.layers) > limit:
        ax.set_title(title)
    ax.grid(True, axis="x", color=GRID, lw=0.6)
    ax.legend(frameon=False, loc="lower right", fontsize=8)
    return png(fig)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def unit_timeline(report: Report, events: list[dict], bins: int = 160) -> bytes:
    """Busy fraction of each unit over time (the run cut into ``bins`` windows)."""
    total = max(report.stats.total_cycles, 1)
    edges = np.linspace(0, total, bins + 1)
    fig, axes = plt.subplots(len(UNITS), 1, figsize=(12.4, 3.6), sharex=True)
    for ax, unit in zip(axes, UNITS, strict=True):
        frac = _busy_fraction(events, UNITS.index(unit), edges)
        ax.fill_between(edges[:-1], frac * 100, step="post", color=UNIT_COLORS[unit], alpha=0.8)
        ax.set_ylim(0, 105)
        ax.set_yticks([0, 100], ["0", "100%"], fontsize=7)
        ax.set_ylabel(unit, rotation=0, ha="right", va="center", fontsize=9)
        ax.grid(True, axis="y", color=GRID, lw=0.5)
    axes[-1].set_xlabel("cycle")
    axes[-1].set_xlim(0, total)
    axes[-1].xaxis.set_major_formatter(FuncFormatter(_si))
    return png(fig)


def _busy_fraction(events: list[dict], tid: int, edges: np.ndarray) -> np.ndarray:
    """Fraction of each window [edges[i], edges[i+1]) that unit ``tid`` spends busy."""
    spans = [(e["args"]["start_cycle"], e["args"]["cycles"]) for e in events
             if e.get("ph") == "X" and e.get("tid") == tid]  # fmt: skip
    if not spans:
        return np.zeros(len(edges) - 1)
    start = np.array([s for s, _ in spans], dtype=float)
    end = start + np.array([c for _, c in spans], dtype=float)
    lo, hi = edges[:-1, None], edges[1:, None]
    overlap = np.clip(np.minimum(end, hi) - np.maximum(start, lo), 0, None).sum(axis=1)
    return overlap / np.diff(edges)
