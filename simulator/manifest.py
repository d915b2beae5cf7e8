"""The program manifest's schema, declared once, and its validation at load.

``MANIFEST`` lists every top-level field of the JSON manifest of a ``.npuprog`` with its type
and allowed values: integers with ranges (addresses within the DMA's address space), strings
from closed lists (dtypes, tensor kinds), lists with a length bound, records with their own
fields, and free-form JSON of bounded depth (``meta``, extra layer facts). A new field is one
more entry in ``MANIFEST`` (or in ``TENSOR``/``LAYER``), and ``program._manifest_bytes``
writes it.

``validate(manifest, n_instructions, n_constant_bytes)`` checks the schema, then the facts
that relate fields to each other and to the file (every tensor inside DRAM, ``node_of`` one
entry per instruction and indexing ``nodes``, inputs and outputs naming tensors of their
kind). It raises ``ProgramFormatError`` naming the field path and the bad value, so nothing
downstream (simulator, reports) ever sees a value it was not written for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simulator.errors import ProgramFormatError
from simulator.limits import ADDRESS_SPACE, MAX_RANK, span

# numpy dtype names a host tensor may have (graph inputs and outputs, constant outputs)
DTYPES = {
    "bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
    "int64": 8, "uint64": 8, "float16": 2, "float32": 4, "float64": 8,
}  # fmt: skip
TENSOR_KINDS = ("input", "output", "constant", "intermediate")
MAX_DEPTH = 16  # nesting of free-form JSON values (meta, extra layer facts)
MAX_ITEMS = 1 << 26  # any list (node_of has one entry per instruction)
MAX_STRING = 1 << 16
INT32 = (-(1 << 31), (1 << 31) - 1)


@dataclass(frozen=True)
class Int:
    lo: int
    hi: int


@dataclass(frozen=True)
class Float:
    lo: float = -math.inf
    hi: float = math.inf  # values are always finite


@dataclass(frozen=True)
class Str:
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class List:
    item: Any
    max_len: int = MAX_ITEMS


@dataclass(frozen=True)
class Record:
    """A JSON object: ``fields`` name -> (spec, required); other keys only when ``extra``."""

    fields: dict[str, tuple[Any, bool]]
    extra: bool = False


@dataclass(frozen=True)
class Optional:
    spec: Any


@dataclass(frozen=True)
class Json:
    """Any JSON value nested at most ``MAX_DEPTH`` deep."""

    depth: int = MAX_DEPTH


@dataclass(frozen=True)
class Object:
    """A JSON object checked elsewhere (the config: ``config.build_config``)."""


TENSOR = Record(
    {
        "name": (Str(), True),
        "addr": (Int(0, ADDRESS_SPACE - 1), True),
        "shape": (List(Int(0, ADDRESS_SPACE), MAX_RANK), True),
        "dtype": (Str(tuple(DTYPES)), True),
        "kind": (Str(TENSOR_KINDS), False),
        "scale": (Optional(Float(0.0)), False),
        "zero_point": (Optional(Int(*INT32)), False),
        "strides": (Optional(List(Int(0, ADDRESS_SPACE), MAX_RANK)), False),
    }
)

LAYER = Record(
    {
        "name": (Str(), True),
        "op": (Str(), False),
        "fused": (List(Str()), False),
        "macs": (Int(0, 1 << 62), False),
        "tiling": (Str(), False),
        "est_cycles": (Int(0, 1 << 62), False),
        "operand_bytes": (Int(0, 1 << 62), False),
    },
    extra=True,
)

MANIFEST = Record(
    {
        "config": (Object(), True),
        "config_fingerprint": (Str(), True),
        "const_base": (Int(0, ADDRESS_SPACE), True),
        "dram_size": (Int(0, ADDRESS_SPACE), True),
        "tensors": (List(TENSOR), True),
        "inputs": (List(Str()), True),
        "outputs": (List(Str()), True),
        "nodes": (List(Str()), True),
        "node_of": (List(Int(0, MAX_ITEMS)), True),
        "layers": (List(LAYER), True),
        "meta": (Record({}, extra=True), True),
    }
)


def validate(manifest: Any, n_instructions: int, n_constant_bytes: int) -> None:
    """Raise ProgramFormatError unless ``manifest`` follows ``MANIFEST`` and is consistent."""
    check(manifest, MANIFEST, "manifest")
    _check_consistency(manifest, n_instructions, n_constant_bytes)


def check(value: Any, spec: Any, path: str) -> None:
    """Check one value against its spec; ``path`` names it in the error."""
    kind = type(spec)
    if kind is Optional:
        if value is not None:
            check(value, spec.spec, path)
    elif kind is Int:
        if type(value) is not int or not spec.lo <= value <= spec.hi:
            _fail(path, value, f"an integer in [{spec.lo}, {spec.hi}]")
    elif kind is Float:
        ok = type(value) in (int, float) and math.isfinite(value)
        if not ok or not spec.lo <= value <= spec.hi:
            _fail(path, value, f"a finite number in [{spec.lo:g}, {spec.hi:g}]")
    elif kind is Str:
        if type(value) is not str or len(value) > MAX_STRING:
            _fail(path, value, f"a string of at most {MAX_STRING} characters")
        if spec.choices is not None and value not in spec.choices:
            _fail(path, value, f"one of {', '.join(spec.choices)}")
    elif kind is List:
        _check_list(value, spec, path)
    elif kind is Record:
        _check_record(value, spec, path)
    elif kind is Object:
        if type(value) is not dict:
            _fail(path, value, "an object")
    elif kind is Json:
        _check_depth(value, spec.depth, path)
    else:
        raise TypeError(f"unknown spec {spec!r}")


def _check_list(value, spec: List, path: str) -> None:
    if type(value) is not list:
        _fail(path, value, "a list")
    if len(value) > spec.max_len:
        _fail(path, f"{len(value)} items", f"at most {spec.max_len} items")
    item = spec.item
    if type(item) is Int:  # the long lists (node_of): one pass, no call per item
        lo, hi = item.lo, item.hi
        for i, v in enumerate(value):
            if type(v) is not int or not lo <= v <= hi:
                _fail(f"{path}[{i}]", v, f"an integer in [{lo}, {hi}]")
        return
    for i, v in enumerate(value):
        check(v, item, f"{path}[{i}]")


def _check_record(value, spec: Record, path: str) -> None:
    if type(value) is not dict:
        _fail(path, value, "an object")
    for key, (sub, required) in spec.fields.items():
        if key in value:
            check(value[key], sub, f"{path}.{key}")
        elif required:
            raise ProgramFormatError(f"program {path} has no field {key!r}")
    for key in value:
        if key in spec.fields:
            continue
        if not spec.extra:
            known = ", ".join(spec.fields)
            raise ProgramFormatError(f"program {path} has unknown field {key!r}; known: {known}")
        _check_depth(value[key], MAX_DEPTH, f"{path}.{key}")


def _check_depth(value, depth: int, path: str) -> None:
    """Iteratively: JSON of any depth must not crash the check itself."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            if d > depth:
                raise ProgramFormatError(f"program {path} is nested deeper than {depth} levels")
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
        elif isinstance(v, float) and not math.isfinite(v):
            _fail(path, v, "finite numbers")
        elif isinstance(v, str) and len(v) > MAX_STRING:
            _fail(path, v, f"strings of at most {MAX_STRING} characters")


def _check_consistency(m: dict, n_instructions: int, n_constant_bytes: int) -> None:
    tensors = {}
    for i, t in enumerate(m["tensors"]):
        if t["name"] in tensors:
            _fail(f"manifest.tensors[{i}].name", t["name"], "a name used once")
        tensors[t["name"]] = t
    size = m["dram_size"] or dram_extent(m, n_constant_bytes)
    const_end = m["const_base"] + n_constant_bytes
    if const_end > size:
        _fail(
            "manifest.dram_size", m["dram_size"], f"at least const_base + constants = {const_end}"
        )
    if size > ADDRESS_SPACE:
        _fail("manifest.dram_size", size, f"at most the DMA's address space ({ADDRESS_SPACE})")
    for name, t in tensors.items():
        if t.get("strides") is not None and len(t["strides"]) != len(t["shape"]):
            _fail(f"manifest.tensors {name!r}.strides", t["strides"], "one stride per axis")
        end = t["addr"] + _extent(t)
        if end > size:
            raise ProgramFormatError(
                f"program manifest.tensors {name!r}: addr {t['addr']} + its "
                f"{end - t['addr']} bytes end at {end}, outside the {size} bytes of DRAM"
            )
    for key in ("inputs", "outputs"):
        for i, name in enumerate(m[key]):
            if name not in tensors:
                _fail(f"manifest.{key}[{i}]", name, "the name of a tensor in manifest.tensors")
        if len(set(m[key])) != len(m[key]):
            _fail(f"manifest.{key}", m[key], "names listed once")
    node_of = m["node_of"]
    if node_of and len(node_of) != n_instructions:
        _fail(
            "manifest.node_of", f"{len(node_of)} entries", f"{n_instructions} (one per instruction)"
        )
    if node_of and max(node_of) >= len(m["nodes"]):
        bad = next(i for i, v in enumerate(node_of) if v >= len(m["nodes"]))
        _fail(
            f"manifest.node_of[{bad}]", node_of[bad], f"an index into nodes (< {len(m['nodes'])})"
        )


def dram_extent(m: dict, n_constant_bytes: int) -> int:
    """The DRAM a program needs when its manifest says ``dram_size: 0``."""
    ends = [m["const_base"] + n_constant_bytes]
    ends += [t["addr"] + _extent(t) for t in m["tensors"]]
    return max(ends)


def _extent(t: dict) -> int:
    return span(t["shape"], t.get("strides")) * DTYPES[t["dtype"]]


def _fail(path: str, value: Any, expected: str) -> None:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    raise ProgramFormatError(f"program {path} is {text}; expected {expected}")
