"""Pareto fronts of two objectives, both minimised.

A point is on the front when no other point is at least as good in both objectives and better
in one. Equal points are all on the front (or all off it) together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The fronts a sweep reports: (name, x, y) over the rows' metrics.
FRONTS = (
    ("latency-area", "latency_us", "area_mm2"),
    ("energy-area", "energy_uj", "area_mm2"),
    ("latency-energy", "latency_us", "energy_uj"),
)


def front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points, in order of x (then y, then index)."""
    order = sorted(range(len(points)), key=lambda i: (points[i], i))
    best_y = float("inf")  # the least y of every point with a smaller x
    chosen: list[int] = []
    i = 0
    while i < len(order):
        end = i
        while end < len(order) and points[order[end]][0] == points[order[i]][0]:
            end += 1  # sorted: the points of equal x come together, least y first
        low = points[order[i]][1]
        if low < best_y:
            chosen.extend(j for j in order[i:end] if points[j][1] == low)
            best_y = low
        i = end
    return chosen


def mark(rows: list[dict[str, Any]]) -> list[str]:
    """For each row, the fronts it is on ('latency-area;energy-area', '' for none), taken
    among the rows of its model that finished ('ok')."""
    labels: list[list[str]] = [[] for _ in rows]
    models = sorted({r["model"] for r in rows})
    for model in models:
        members = [i for i, r in enumerate(rows) if r["model"] == model and r["status"] == "ok"]
        for name, x, y in FRONTS:
            points = [(rows[i][x], rows[i][y]) for i in members]
            for k in front(points):
                labels[members[k]].append(name)
    return [";".join(names) for names in labels]
