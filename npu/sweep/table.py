"""A sweep's results: one row per (model, point) with its Pareto fronts, as CSV or dicts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from npu.sweep import pareto
from npu.sweep.evaluate import METRICS

LEAD = ("model", "status")
TAIL = (*METRICS, "verified", "pareto", "error", "config_fp", "model_hash", "version")


class Table:
    """The rows of a sweep (``rows``: dicts), each with a ``pareto`` entry: the fronts it is on
    among its model's finished points ('latency-area;energy-area', '' for none)."""

    def __init__(self, rows: Sequence[dict[str, Any]], keys: Sequence[str], ran: int = 0):
        labels = pareto.mark(list(rows))
        self.rows = [dict(r, pareto=label) for r, label in zip(rows, labels, strict=True)]
        self.keys = tuple(keys)  # the swept config keys
        self.ran = ran  # rows computed by this run (the others came from the database)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*LEAD, *self.keys, *TAIL)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def flat(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row with one entry per column: the swept keys' values out of ``point``."""
        return {c: row["point"].get(c) if c in self.keys else row.get(c) for c in self.columns}

    def front(self, model: str, name: str) -> list[dict[str, Any]]:
        """The rows of ``model`` on the front ``name`` (see ``pareto.FRONTS``)."""
        return [r for r in self.rows if r["model"] == model and name in r["pareto"].split(";")]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _cell(v) for k, v in self.flat(row).items()})
        return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return int(value)
    return "" if value is None else value
