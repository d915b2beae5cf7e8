"""A regression suite file (TOML): its cases, what each holds, and each metric's rule.

```toml
[defaults]                       # optional: what every case inherits
config = "base"
hold = ["cycles", "layer_cycles", "dram", "energy", "memory", "outputs"]

[rules]                          # optional: metric name or glob -> rule, for every case
"layer.*.cycles" = { rel = 0.02 }

[[case]]
name = "lenet5-tiny"
model = "zoo:lenet5"             # an .onnx path (relative to the suite) or zoo:NAME
config = "tiny"                  # a preset or a .toml file (relative to the suite)
set = { "array.rows" = 16 }      # config overrides, as --set
input_shapes = { image = [1, 1, 32, 32] }
seed = 0                         # of the random inputs
rules = { cycles = "exact", energy_pj = { rel = 1e-6 } }
```

Every mistake is a ``SuiteError`` naming the file, the case and the key with its bad value.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from npu import options as opts
from npu.models import ZOO_PREFIX
from npu.regress.metrics import DEFAULT_HOLD, HOLD_KINDS, Rule, check_metric_pattern
from simulator.config import NpuConfig, load_config
from simulator.errors import ConfigError, ModelError, NpuError

CASE_KEYS = ("name", "model", "config", "set", "input_shapes", "seed", "hold", "rules")
DEFAULT_KEYS = ("model", "config", "set", "input_shapes", "seed", "hold")


class SuiteError(NpuError):
    """The suite file, a case of it, or its baselines cannot be used as written."""


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # as the user wrote it (zoo:NAME, or a path relative to the suite)
    model_path: str  # zoo:NAME, or the .onnx path resolved against the suite's folder
    config: str  # preset name or .toml path (resolved)
    overrides: tuple[str, ...]  # "key=value", as --set
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...]
    seed: int
    hold: tuple[str, ...]
    rules: tuple[tuple[str, Rule], ...]  # this case's, then the suite's, first match wins

    def hardware(self) -> NpuConfig:
        return load_config(self.config, list(self.overrides))

    def identity(self) -> dict:
        """What the baseline records of the case, to notice a suite edited without --update."""
        return {
            "model": self.model,
            "config": self.config_label,
            "seed": self.seed,
            "input_shapes": ";".join(f"{n}={','.join(map(str, s))}" for n, s in self.input_shapes),
        }

    @property
    def config_label(self) -> str:
        return " ".join([Path(self.config).name, *self.overrides])

    def rule(self, metric: str) -> Rule:
        for pattern, rule in self.rules:
            if fnmatch.fnmatchcase(metric, pattern):
                return rule
        return Rule.default(metric)


@dataclass(frozen=True)
class Suite:
    path: Path
    cases: tuple[Case, ...] = field(default=())

    @property
    def baseline_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".baseline.toml")

    @property
    def changelog_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".changelog")

    def case(self, name: str) -> Case:
        for c in self.cases:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.cases)
        raise SuiteError(f"suite {str(self.path)!r} has no case {name!r} (cases: {known})")

    def select(self, pattern: str | None) -> list[Case]:
        """The cases whose name matches the glob (or contains it); all without a pattern."""
        if not pattern:
            return list(self.cases)
        chosen = [
            c for c in self.cases if fnmatch.fnmatchcase(c.name, pattern) or pattern in c.name
        ]
        if not chosen:
            raise SuiteError(
                f"--filter {pattern!r} matches no case of {str(self.path)!r} "
                f"(cases: {', '.join(c.name for c in self.cases)})"
            )
        return chosen


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"suite {str(path)!r} is not valid TOML: {exc}") from None
    where = f"suite {str(path)!r}"
    _known(raw, ("defaults", "rules", "case"), where)
    defaults = _table(raw.get("defaults", {}), f"{where}: [defaults]")
    _known(defaults, DEFAULT_KEYS, f"{where}: [defaults]")
    suite_rules = _rules(raw.get("rules", {}), f"{where}: [rules]")
    cases = raw.get("case")
    if not isinstance(cases, list) or not cases:
        raise SuiteError(f"{where} has no [[case]] tables; add at least one")
    parsed = tuple(
        _case(c, i, path.parent, defaults, suite_rules, where) for i, c in enumerate(cases)
    )
    names = [c.name for c in parsed]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise SuiteError(f"{where}: case name {dup!r} appears twice")
    return Suite(path, parsed)


def _case(raw, index: int, folder: Path, defaults: dict, suite_rules, where: str) -> Case:
    raw = _table(raw, f"{where}: case #{index + 1}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise SuiteError(f"{where}: case #{index + 1} needs a name (a non-empty string)")
    where = f"{where}: case {name!r}"
    _known(raw, CASE_KEYS, where)
    merged = {**defaults, **raw}
    model = merged.get("model")
    if not isinstance(model, str) or not model:
        raise SuiteError(f"{where}: model must be an .onnx path or zoo:NAME, got {model!r}")
    case = Case(
        name=name,
        model=model,
        model_path=_model_path(model, folder, where),
        config=_config_ref(merged.get("config", "base"), folder, where),
        overrides=_overrides(merged.get("set", {}), where),
        input_shapes=_shapes(merged.get("input_shapes", {}), where),
        seed=_seed(merged.get("seed", 0), where),
        hold=_hold(merged.get("hold", list(DEFAULT_HOLD)), where),
        rules=_rules(raw.get("rules", {}), f"{where}: rules") + suite_rules,
    )
    try:
        case.hardware()
    except ConfigError as exc:
        raise SuiteError(f"{where}: {exc}") from None
    return case


def _model_path(model: str, folder: Path, where: str) -> str:
    if model.startswith(ZOO_PREFIX):
        return model
    path = Path(model) if Path(model).is_absolute() else folder / model
    if path.suffix != ".onnx":
        raise SuiteError(f"{where}: model {model!r} must be an .onnx file or zoo:NAME")
    if not path.is_file():
        raise SuiteError(f"{where}: model file {str(path)!r} does not exist")
    return str(path)


def _config_ref(value, folder: Path, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SuiteError(f"{where}: config must be a preset name or a .toml file, got {value!r}")
    if value.endswith(".toml") and not Path(value).is_absolute():
        return str(folder / value)
    return value


def _overrides(value, where: str) -> tuple[str, ...]:
    """``{ "array.rows" = 16 }`` or ``{ array.rows = 16 }`` (a dotted TOML key is a nested
    table) -> ``("array.rows=16",)``."""
    items = []
    for key, v in _flat(_table(value, f"{where}: set")):
        if isinstance(v, list) or isinstance(v, float) and v != v:
            raise SuiteError(f"{where}: set.{key} = {v!r} is not a single value")
        text = str(v).lower() if isinstance(v, bool) else str(v)
        items.append(f"{key}={text}")
    return tuple(items)


def _flat(table: dict, prefix: str = ""):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _shapes(value, where: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    table = _table(value, f"{where}: input_shapes")
    items = []
    for name, dims in table.items():
        if not isinstance(dims, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in dims
        ):
            raise SuiteError(f"{where}: input_shapes.{name} = {dims!r} is not a list of integers")
        items.append(f"{name}={','.join(map(str, dims))}")
    try:
        return tuple(opts.parse_input_shapes(items).items())
    except ModelError as exc:
        raise SuiteError(f"{where}: input_shapes: {exc}") from None


def _seed(value, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise SuiteError(f"{where}: seed must be an integer in [0, 2**63), got {value!r}")
    return value


def _hold(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SuiteError(f"{where}: hold must be a non-empty list of {', '.join(HOLD_KINDS)}")
    for kind in value:
        if kind not in HOLD_KINDS:
            raise SuiteError(f"{where}: hold: unknown {kind!r}; known: {', '.join(HOLD_KINDS)}")
    return tuple(k for k in HOLD_KINDS if k in value)


def _rules(value, where: str) -> tuple[tuple[str, Rule], ...]:
    table = _table(value, where)
    rules = []
    for pattern, spec in table.items():
        problem = check_metric_pattern(pattern)
        if problem:
            raise SuiteError(f"{where}: {pattern!r}: {problem}")
        try:
            rules.append((pattern, Rule.parse(spec)))
        except ValueError as exc:
            raise SuiteError(f"{where}: {pattern} = {spec!r}: {exc}") from None
    return tuple(rules)


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise SuiteError(f"{where} must be a table, got {value!r}")
    return value


def _known(table: dict, keys: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in keys:
            raise SuiteError(f"{where}: unknown key {key!r}; known: {', '.join(keys)}")
