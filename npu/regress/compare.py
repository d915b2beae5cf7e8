"""A case's run against its baseline, metric by metric, in LNT's vocabulary.

| status | meaning |
| --- | --- |
| unchanged | equal to the baseline, or within the metric's rule |
| improved / regressed | a number outside its rule, lower / higher (``passed``: true / false) |
| newly failing / newly passing | a check that passed and fails now, or the reverse; a case that ran and now stops with an error is newly failing |
| changed | an output hash differs |
| added / removed | a metric without a baseline (a new layer), or a baseline without a metric |

Every status but ``unchanged`` fails the suite (exit 1): an improvement, too, must be recorded
with ``--update`` so that the baseline says what the code does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npu.regress.measure import Measured, Value
from npu.regress.metrics import Rule, better
from npu.regress.suite import Case

UNCHANGED = "unchanged"
ORDER = (
    "newly failing",
    "regressed",
    "changed",
    "removed",
    "added",
    "improved",
    "newly passing",
    UNCHANGED,
)


@dataclass(frozen=True)
class MetricDiff:
    metric: str
    before: Value | None
    after: Value | None
    rule: Rule
    status: str

    @property
    def delta(self) -> float | None:
        if not (_number(self.before) and _number(self.after)):
            return None
        return self.after - self.before

    @property
    def delta_pct(self) -> float | None:
        delta = self.delta
        if delta is None or not self.before:
            return None
        return 100.0 * delta / abs(self.before)

    @property
    def moved(self) -> bool:
        return self.before != self.after


@dataclass
class Outcome:
    """One case: its metric diffs, or the error that stopped it."""

    case: str
    diffs: list[MetricDiff] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timing_only: bool = False

    @property
    def status(self) -> str:
        if self.error:
            return "newly failing"
        statuses = {d.status for d in self.diffs}
        return next((s for s in ORDER if s in statuses), UNCHANGED)

    @property
    def passed(self) -> bool:
        return self.status == UNCHANGED

    def failing(self) -> list[MetricDiff]:
        return [d for d in self.diffs if d.status != UNCHANGED]


def compare(case: Case, measured: Measured, before: dict[str, Value], fingerprint: str) -> Outcome:
    """``before``: the baseline's metrics; ``fingerprint``: the config it was recorded on."""
    out = Outcome(case.name, seconds=measured.seconds, timing_only=measured.timing_only)
    if measured.error:
        out.error = measured.error
        return out
    if fingerprint and fingerprint != measured.fingerprint:
        out.notes.append(
            f"config {case.config_label!r} changed since the baseline "
            f"(fingerprint {fingerprint} -> {measured.fingerprint})"
        )
    after = measured.metrics
    names = list(after) + [name for name in before if name not in after]
    out.diffs = [_diff(case.rule(n), n, before.get(n), after.get(n)) for n in names]
    return out


def _diff(rule: Rule, metric: str, before, after) -> MetricDiff:
    return MetricDiff(metric, before, after, rule, status(rule, before, after))


def status(rule: Rule, before, after) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    if rule.holds(before, after):
        return UNCHANGED
    if isinstance(before, bool) and isinstance(after, bool):
        return "newly passing" if after else "newly failing"
    if isinstance(before, str) or isinstance(after, str):
        return "changed"
    return "improved" if better(before, after) else "regressed"


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """Cases per status, in ORDER (statuses no case has left out)."""
    counts = {s: 0 for s in ORDER}
    for o in outcomes:
        counts[o.status] += 1
    return {s: n for s, n in counts.items() if n}
