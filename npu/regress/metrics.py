"""What a case can hold, the metrics each kind yields, and the rule a metric is held to.

| hold | metrics | from |
| --- | --- | --- |
| ``cycles`` | ``cycles`` | the simulated run's total |
| ``layer_cycles`` | ``layer.NAME.cycles`` | each layer's span (``Stats.per_node``) |
| ``dram`` | ``dram_read_bytes``, ``dram_write_bytes`` | DRAM traffic, bursts rounded up |
| ``layer_dram`` | ``layer.NAME.dram_bytes`` | each layer's DRAM bytes, read + written |
| ``energy`` | ``energy_pj`` | the run's energy (``config.energy`` tables) |
| ``memory`` | ``peak_dram_bytes``, ``peak_scratchpad_bytes`` | the program's DRAM image, scratchpad peaks |
| ``outputs`` | ``output.NAME.sha256`` | the outputs' bytes (with dtype and shape) |
| ``check`` | ``check.NAME.passed``, ``check.NAME.max_abs_error`` | against onnxruntime |

Every metric is held exactly unless a rule says otherwise, but ``check.*.max_abs_error``,
which depends on onnxruntime's own rounding (its version, its threads, the CPU's vector
width: its AVX2 and AVX-512 fp32 kernels round differently): 1% relative, or 1e-5 absolute,
whichever is larger (the outputs' hashes hold the NPU's own numbers exactly). Lower is
better for every number; ``passed`` is better true; a hash only changes.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

HOLD_KINDS = (
    "cycles",
    "layer_cycles",
    "dram",
    "layer_dram",
    "energy",
    "memory",
    "outputs",
    "check",
)
DEFAULT_HOLD = HOLD_KINDS[:-1]  # onnxruntime is asked only when a suite says so
NUMERIC_KINDS = ("outputs", "check")  # the others come from a timing-only simulation
TOTALS = {
    "cycles": ("cycles",),
    "dram": ("dram_read_bytes", "dram_write_bytes"),
    "energy": ("energy_pj",),
    "memory": ("peak_dram_bytes", "peak_scratchpad_bytes"),
}
FAMILIES = {
    "layer": ("cycles", "dram_bytes"),
    "output": ("sha256",),
    "check": ("passed", "max_abs_error"),
}
ORT_ERROR_RULE_REL = 0.01
ORT_ERROR_FLOOR = 1e-5  # onnxruntime's fp32 results move by about this from CPU to CPU


@dataclass(frozen=True)
class Rule:
    """How far a metric may move from its baseline: ``exact``, ``abs`` or ``rel``."""

    kind: str = "exact"
    value: float = 0.0
    floor: float = 0.0  # a move this small holds whatever the rule

    @classmethod
    def parse(cls, spec) -> Rule:
        """``"exact"``, ``{abs = 10}`` or ``{rel = 0.01}``; ValueError says what is wrong."""
        if spec == "exact":
            return cls()
        if not isinstance(spec, dict) or len(spec) != 1:
            raise ValueError('a rule is "exact", { abs = N } or { rel = F }')
        (kind, value), *_ = spec.items()
        if kind not in ("abs", "rel"):
            raise ValueError(
                f'unknown rule {kind!r}; a rule is "exact", {{ abs = N }} or {{ rel = F }}'
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{kind} must be a number >= 0, got {value!r}")
        if math.isinf(value):
            raise ValueError(f"{kind} must be finite, got {value!r}")
        return cls(kind, float(value))

    @classmethod
    def default(cls, metric: str) -> Rule:
        if metric.startswith("check.") and metric.endswith(".max_abs_error"):
            return cls("rel", ORT_ERROR_RULE_REL, ORT_ERROR_FLOOR)
        return cls()

    def holds(self, before, after) -> bool:
        if before == after:
            return True
        if self.kind == "exact" or not _number(before) or not _number(after):
            return False
        delta = abs(after - before)
        allowed = self.value if self.kind == "abs" else self.value * abs(before)
        return delta <= max(allowed, self.floor)

    def __str__(self) -> str:
        if self.kind == "exact":
            return "exact"
        text = f"abs {self.value:g}" if self.kind == "abs" else f"rel {self.value:.3g}"
        return f"{text} (or abs {self.floor:g})" if self.floor else text


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def needs_numerics(hold: tuple[str, ...]) -> bool:
    return any(kind in NUMERIC_KINDS for kind in hold)


def check_metric_pattern(pattern: str) -> str:
    """'' when the glob can name a metric, else why not."""
    names = [n for names in TOTALS.values() for n in names]
    if any(fnmatch.fnmatchcase(n, pattern) for n in names):
        return ""
    family, _, rest = pattern.partition(".")
    suffixes = FAMILIES.get(family)
    if suffixes and "." in rest:
        suffix = rest.rpartition(".")[2]
        if any(fnmatch.fnmatchcase(s, suffix) for s in suffixes):
            return ""
    examples = ", ".join(
        [*names, "layer.*.cycles", "layer.NAME.dram_bytes", "check.*.max_abs_error"]
    )
    return f"names no metric (metrics: {examples})"


def kind_of(metric: str) -> str:
    """The hold kind a metric belongs to."""
    for kind, names in TOTALS.items():
        if metric in names:
            return kind
    family, _, rest = metric.partition(".")
    if family == "layer":
        return "layer_cycles" if rest.endswith(".cycles") else "layer_dram"
    return "outputs" if family == "output" else "check"


def better(before, after) -> bool:
    """Whether ``after`` is an improvement on ``before`` (for values that differ)."""
    if isinstance(after, bool):
        return after
    return _number(before) and _number(after) and after < before
