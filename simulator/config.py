"""The hardware description: a frozen ``NpuConfig`` built from TOML presets.

A preset is a TOML file in ``simulator/configs/``. It may name another preset with
``inherit = "base"``; its sections then override the parent's keys. Overrides given as
``section.key=value`` strings (``array.rows=64``) are applied last. Every key is declared
once, in the section dataclasses below, with its type and allowed range; anything else is a
``ConfigError`` that names the key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from simulator import isa, tech
from simulator.errors import ConfigError
from simulator.tech import DRAM_KINDS, TECH_NM_RANGE

PRESET_DIR = Path(__file__).parent / "configs"
DTYPES = ("int8", "fp32", "fp16", "bf16")


# Every number is finite and at most these unless its key declares a tighter ``hi``: ranges
# the timing model's integers hold with room (simulate() also bounds the total cycles).
INT_MAX = (1 << 31) - 1
FLOAT_MAX = 1e12
MAX_INHERIT = 32  # files in one inherit chain
MAX_NESTING = 8  # tables and arrays in a config file or --set value
# The scratchpad address fields of the ISA bound every scratchpad's size.
SP_KIB_MAX = (1 << next(f.bits for f in isa.layout(isa.Load) if f.name == "sp_addr")) >> 10


def _spec(
    doc: str, lo: float | None = None, choices: tuple | None = None, hi: float | None = None, **kw
):
    """A dataclass field carrying its documentation and allowed values."""
    return field(metadata={"doc": doc, "min": lo, "max": hi, "choices": choices}, **kw)


@dataclass(frozen=True)
class ArrayConfig:
    rows: int = _spec(
        "systolic array rows (reduction dimension in weight-stationary)", 1, default=32
    )
    cols: int = _spec(
        "systolic array columns (output channels in weight-stationary)", 1, default=32
    )
    dataflow: str = _spec(
        "weight_stationary or output_stationary",
        choices=("weight_stationary", "output_stationary"),
        default="weight_stationary",
    )
    dtypes: tuple[str, ...] = _spec(
        "operand types the array multiplies", choices=DTYPES, default=("int8", "fp32")
    )


@dataclass(frozen=True)
class ScratchpadConfig:
    input_kib: int = _spec("input scratchpad size in KiB", 1, hi=SP_KIB_MAX, default=256)
    weight_kib: int = _spec("weight scratchpad size in KiB", 1, hi=SP_KIB_MAX, default=256)
    acc_kib: int = _spec(
        "accumulator scratchpad size in KiB (32-bit entries)", 1, hi=SP_KIB_MAX, default=256
    )


@dataclass(frozen=True)
class VectorConfig:
    lanes: int = _spec("vector unit lanes (elements per cycle)", 1, default=32)
    pipeline_depth: int = _spec("vector pipeline latency in cycles", 0, default=4)


@dataclass(frozen=True)
class DramConfig:
    bytes_per_cycle: float = _spec("DRAM bandwidth in bytes per NPU cycle", 0.001, default=32.0)
    latency: int = _spec("DRAM access latency in cycles", 0, default=100)
    burst_bytes: int = _spec(
        "DRAM burst size; shorter contiguous runs still cost a burst", 1, hi=1 << 20, default=64
    )
    kind: str = _spec(
        "DRAM type: its energy per byte and PHY area (docs/energy_area.md)",
        choices=DRAM_KINDS,
        default="ddr4",
    )


@dataclass(frozen=True)
class QueueConfig:
    instr_depth: int = _spec("instruction queue depth per unit", 1, default=64)
    token_depth: int = _spec("dependency-token FIFO depth per queue pair", 1, default=8)


@dataclass(frozen=True)
class HostConfig:
    """The host CPU that runs the host partitions (compiler/partition.py) through onnxruntime:
    the numbers give each host partition a time estimate beside its measured wall time."""

    gflops: float = _spec("host throughput for host partitions (GFLOP/s)", 0.001, default=20.0)
    bytes_per_s: float = _spec(
        "host memory bandwidth for the tensors a host partition reads and writes (bytes/s)",
        1.0,
        default=10e9,
    )
    call_overhead_us: float = _spec(
        "fixed cost of one host partition call (microseconds)", 0, default=20.0
    )


# Keys that existed once, and why they are gone (a config naming one gets this reason).
REMOVED = {
    "scratchpad.banks": "nothing modelled it: every unit reads and writes each scratchpad at "
    "full width and any stride, with no bank conflicts (docs/architecture.md)",
    "energy": "energies per action are derived from tech_nm and dram.kind "
    "(simulator/tech.py, docs/energy_area.md)",
    "area": "areas per component are derived from tech_nm and dram.kind "
    "(simulator/tech.py, docs/energy_area.md)",
}

SECTIONS = {
    "array": ArrayConfig,
    "scratchpad": ScratchpadConfig,
    "vector": VectorConfig,
    "dram": DramConfig,
    "queues": QueueConfig,
    "host": HostConfig,
}


@dataclass(frozen=True)
class NpuConfig:
    name: str = "custom"
    clock_mhz: float = _spec("core clock in MHz", 1, default=1000.0)
    timing: str = _spec(
        "npu (overlapped, DMA-aware) or scalesim (SCALE-Sim 3.0 compatible compute cycles)",
        choices=("npu", "scalesim"),
        default="npu",
    )
    tech_nm: float = _spec(
        "technology node in nm: the energies and areas of docs/energy_area.md",
        TECH_NM_RANGE[0],
        hi=TECH_NM_RANGE[1],
        default=7.0,
    )
    array: ArrayConfig = field(default_factory=ArrayConfig)
    scratchpad: ScratchpadConfig = field(default_factory=ScratchpadConfig)
    vector: VectorConfig = field(default_factory=VectorConfig)
    dram: DramConfig = field(default_factory=DramConfig)
    queues: QueueConfig = field(default_factory=QueueConfig)
    host: HostConfig = field(default_factory=HostConfig)

    @property
    def input_bytes(self) -> int:
        return self.scratchpad.input_kib * 1024

    @property
    def weight_bytes(self) -> int:
        return self.scratchpad.weight_kib * 1024

    @property
    def acc_bytes(self) -> int:
        return self.scratchpad.acc_kib * 1024

    @property
    def peak_macs_per_cycle(self) -> int:
        return self.array.rows * self.array.cols

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A short, stable hash of every hardware parameter (the name is not hashed)."""
        d = self.to_dict()
        d.pop("name")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> NpuConfig:
        return build_config(_apply_overrides(self.to_dict(), overrides), self.name)

    def area_mm2(self) -> float:
        """The chip's area at ``tech_nm`` (``simulator.tech.areas`` has the breakdown)."""
        return tech.areas(self)["total"]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_config(
    preset_or_path: str | Path = "base", overrides: list[str] | dict | None = None
) -> NpuConfig:
    """Resolve a preset name or a TOML file (with ``inherit``), then apply overrides."""
    raw, name = _resolve(str(preset_or_path))
    if overrides:
        raw = _apply_overrides(raw, overrides)
    return build_config(raw, name)


def _preset_path(ref: str, folder: Path | None = None) -> Path:
    """A preset name, or a .toml path (relative to ``folder``: the inheriting file's)."""
    if not ref:
        raise ConfigError("config name is empty; give a preset name or a .toml file")
    path = Path(ref)
    if path.suffix == ".toml":
        if folder is not None and not path.is_absolute():
            path = folder / path
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        return path
    candidate = PRESET_DIR / f"{ref}.toml"
    if "/" in ref or not candidate.is_file():
        raise ConfigError(f"unknown preset {ref!r}; presets: {', '.join(preset_names())}")
    return candidate


def _resolve(ref: str) -> tuple[dict, str]:
    """Follow the ``inherit`` chain (at most MAX_INHERIT files), then merge it top down."""
    chain: list[tuple[Path, dict]] = []
    seen: list[str] = []
    folder = None
    while ref is not None:
        path = _preset_path(ref, folder)
        key = str(path.resolve())
        if key in seen:
            raise ConfigError(f"preset {ref!r} inherits itself (chain: {' -> '.join(seen)})")
        if len(seen) >= MAX_INHERIT:
            raise ConfigError(
                f"config {str(path)!r}: the inherit chain is longer than {MAX_INHERIT} files"
            )
        seen.append(key)
        data = _read_toml(path)
        ref = data.pop("inherit", None)
        if ref is not None and not isinstance(ref, str):
            raise ConfigError(f"key 'inherit' in {path.name} must be a preset name, got {ref!r}")
        data.setdefault("name", path.stem)
        chain.append((path, data))
        folder = path.parent
    raw: dict = {}
    for _, data in reversed(chain):
        raw = _merge(raw, data)
    return raw, chain[0][1]["name"]


def _read_toml(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except RecursionError:
        data = None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    if data is None or _depth(data) > MAX_NESTING:
        raise ConfigError(f"config file {str(path)!r} nests deeper than {MAX_NESTING} levels")
    return data


def _depth(value: Any) -> int:
    """Nesting depth of tables and arrays, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d <= MAX_NESTING:
                stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_value(key: str, text: str) -> Any:
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        value = None
    if value is None or _depth(value) > MAX_NESTING:
        raise ConfigError(f"override {key!r}: the value nests deeper than {MAX_NESTING} levels")
    return value


def _apply_overrides(raw: dict, overrides: list[str] | dict) -> dict:
    items = overrides.items() if isinstance(overrides, dict) else map(_split_override, overrides)
    out = _merge(raw, {})
    for key, value in items:
        parts = key.split(".")
        if len(parts) > 2 or not all(parts):
            raise ConfigError(f"override key {key!r} must be 'section.key' or 'key'")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"override key {key!r}: {part!r} is not a section")
        target[parts[-1]] = _parse_value(key, value) if isinstance(value, str) else value
    return out


def _split_override(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value (e.g. array.rows=64)")
    return key.strip(), value.strip()


def build_config(raw: dict, name: str = "custom") -> NpuConfig:
    """Validate a nested dict against the declared keys and build the frozen config."""
    raw = dict(raw)
    raw.pop("inherit", None)
    kwargs: dict[str, Any] = {"name": str(raw.pop("name", name))}
    top = {f.name: f for f in fields(NpuConfig) if f.name != "name"}
    for key, value in raw.items():
        if key in REMOVED:
            raise ConfigError(f"config key {key!r} was removed: {REMOVED[key]}")
        if key not in top:
            allowed = ", ".join(sorted(top))
            raise ConfigError(f"unknown config key {key!r}; known: {allowed}")
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {key!r} must be a section, got {value!r}")
            kwargs[key] = _build_section(key, SECTIONS[key], value)
        else:
            kwargs[key] = _check_value(key, top[key], value)
    return NpuConfig(**kwargs)


def _build_section(section: str, cls: type, values: dict) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if f"{section}.{key}" in REMOVED:
            raise ConfigError(
                f"config key '{section}.{key}' was removed: {REMOVED[f'{section}.{key}']}"
            )
        if key not in known:
            raise ConfigError(
                f"unknown config key '{section}.{key}'; known in [{section}]: {', '.join(known)}"
            )
        kwargs[key] = _check_value(f"{section}.{key}", known[key], value)
    return cls(**kwargs)


def _check_value(key: str, f: dataclasses.Field, value: Any) -> Any:
    meta, kind = f.metadata, f.type
    if kind == "tuple[str, ...]":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            raise ConfigError(f"config key {key!r} must be a non-empty list, got {value!r}")
        for item in items:
            if item not in meta["choices"]:
                raise ConfigError(
                    f"config key {key!r} has {item!r}; allowed: {', '.join(meta['choices'])}"
                )
        return tuple(items)
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"config key {key!r} must be a string, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(
                f"config key {key!r} is {value!r}; allowed: {', '.join(meta['choices'])}"
            )
        return value
    return _check_number(key, f, value)


def _check_number(key: str, f: dataclasses.Field, value: Any) -> int | float:
    kind, lo, hi = f.type, f.metadata.get("min"), f.metadata.get("max")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"config key {key!r} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {key!r} is {value!r}; it must be a finite number")
    if kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"config key {key!r} must be an integer, got {value!r}")
        value, hi = int(value), INT_MAX if hi is None else hi
    else:
        value, hi = float(value), FLOAT_MAX if hi is None else hi
    if lo is not None and value < lo:
        raise ConfigError(f"config key {key!r} is {value!r}; it must be >= {lo:g}")
    if value > hi:
        raise ConfigError(f"config key {key!r} is {value!r}; it must be <= {hi:g}")
    return value


def describe_keys() -> list[tuple[str, str, Any, str]]:
    """(key, type, default, doc) for every config key: the source of the config docs."""
    rows = []
    for f in fields(NpuConfig):
        if f.name in SECTIONS:
            for sf in fields(SECTIONS[f.name]):
                default = sf.default
                rows.append((f"{f.name}.{sf.name}", str(sf.type), default, sf.metadata["doc"]))
        elif f.name != "name":
            rows.append((f.name, str(f.type), f.default, f.metadata["doc"]))
    return rows
