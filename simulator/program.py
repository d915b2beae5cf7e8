"""The compiled program: what the compiler produces and the simulator (or RTL) runs.

A ``Program`` holds the instruction records, the constant segment (weights, tables) that is
loaded into DRAM at ``const_base``, and a manifest: every DRAM tensor the host touches (graph
inputs and outputs, with address, shape, dtype and quantisation), the config it was compiled
for, and for each instruction the index of the ONNX node it came from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator import isa
from simulator.config import NpuConfig, build_config
from simulator.errors import ConfigError, ProgramFormatError
from simulator.isa import Instr
from simulator.limits import numel, span
from simulator.manifest import validate as validate_manifest


@dataclass(frozen=True)
class TensorInfo:
    """A tensor in DRAM at ``addr`` with ONNX shape and numpy dtype name, row-major or with
    element ``strides`` per axis (a KV cache's past inside its present: ``compiler/passes/
    kvcache.py``)."""

    name: str
    addr: int
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: float32, int8, uint8, int32, int64, ...
    kind: str = "intermediate"  # input | output | constant | intermediate
    scale: float | None = None  # quantisation, when the tensor is quantised
    zero_point: int | None = None
    strides: tuple[int, ...] | None = None  # element strides; None: row-major

    @property
    def nbytes(self) -> int:
        return numel(self.shape) * self.itemsize

    @property
    def itemsize(self) -> int:
        import numpy as np

        return np.dtype(self.dtype).itemsize

    @property
    def extent(self) -> int:
        """Bytes from ``addr`` to the end of the last element."""
        return span(self.shape, self.strides) * self.itemsize


@dataclass
class Program:
    config: NpuConfig
    instructions: list[Instr]
    constants: bytes = b""
    const_base: int = 0
    dram_size: int = 0
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # ONNX node names (index 0 may be "")
    node_of: list[int] = field(default_factory=list)  # per instruction: index into nodes
    layers: list[dict[str, Any]] = field(default_factory=list)  # per-layer compiler records
    meta: dict[str, Any] = field(default_factory=dict)

    def source_node(self, index: int) -> str:
        if not self.node_of:
            return ""
        return self.nodes[self.node_of[index]]


# --- The program file (.npuprog) -------------------------------------------------------------
#
# Layout (all integers little-endian):
#   magic        8 bytes  b"NPUPROG\0"
#   version      u32      FORMAT_VERSION
#   reserved     u32      0
#   manifest     u64      length in bytes of the UTF-8 JSON manifest
#   instructions u64      number of 64-byte instruction words
#   constants    u64      length in bytes of the constant segment
#   <manifest JSON> <instruction words> <constant segment>
#   sha256       32 bytes of everything before it
#
# The manifest holds the config (every key, its name and fingerprint), const_base, dram_size,
# tensors, inputs, outputs, nodes, node_of (per instruction), layers and meta. No pickle.

MAGIC = b"NPUPROG\0"
FORMAT_VERSION = 4  # 2: no scratchpad.banks; 3: [host]; 4: tech_nm and dram.kind, no energy/area
_HEADER = struct.Struct("<8sIIQQQ")
_DIGEST = 32


def program_to_bytes(program: Program) -> bytes:
    """The whole .npuprog file as bytes. Raises ProgramFormatError if the manifest isn't JSON."""
    words = isa.encode_all(program.instructions)
    manifest = _manifest_bytes(program)
    header = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        0,
        len(manifest),
        len(program.instructions),
        len(program.constants),
    )
    body = header + manifest + words + bytes(program.constants)
    return body + hashlib.sha256(body).digest()


def program_from_bytes(blob: bytes) -> Program:
    """Parse a .npuprog file; ProgramFormatError on bad magic, version, checksum or length."""
    if len(blob) < _HEADER.size + _DIGEST:
        raise ProgramFormatError(f"program file is truncated: {len(blob)} bytes")
    magic, version, _, n_manifest, n_instr, n_const = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ProgramFormatError(f"not a program file: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise ProgramFormatError(
            f"program file format version {version}; this simulator reads version "
            f"{FORMAT_VERSION} (recompile the model)"
        )
    size = _HEADER.size + n_manifest + n_instr * isa.WORD_BYTES + n_const + _DIGEST
    if len(blob) != size:
        raise ProgramFormatError(
            f"program file is {len(blob)} bytes but its header describes {size} "
            f"({'truncated' if len(blob) < size else 'trailing data'})"
        )
    body = blob[:-_DIGEST]
    if hashlib.sha256(body).digest() != blob[-_DIGEST:]:
        raise ProgramFormatError("program file checksum (sha256) does not match its contents")
    start = _HEADER.size
    manifest = _parse_manifest(body[start : start + n_manifest])
    start += n_manifest
    words = body[start : start + n_instr * isa.WORD_BYTES]
    constants = body[start + len(words) :]
    return _from_manifest(manifest, isa.decode_all(words), constants)


def save_program(program: Program, path: str | Path) -> None:
    Path(path).write_bytes(program_to_bytes(program))


def load_program(path: str | Path) -> Program:
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise ProgramFormatError(f"cannot read program file {str(path)!r}: {exc}") from None
    return program_from_bytes(blob)


def _manifest_bytes(program: Program) -> bytes:
    manifest = {
        "config": program.config.to_dict(),
        "config_fingerprint": program.config.fingerprint(),
        "const_base": program.const_base,
        "dram_size": program.dram_size,
        "tensors": [_tensor_dict(t) for t in program.tensors.values()],
        "inputs": list(program.inputs),
        "outputs": list(program.outputs),
        "nodes": list(program.nodes),
        "node_of": list(program.node_of),
        "layers": program.layers,
        "meta": program.meta,
    }
    try:
        return json.dumps(manifest, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ProgramFormatError(f"program manifest is not JSON-serialisable: {exc}") from None


def _parse_manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode(), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgramFormatError(f"program manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise ProgramFormatError("program manifest is nested too deeply to read") from None
    if not isinstance(manifest, dict):
        raise ProgramFormatError("program manifest is not a JSON object")
    return manifest


def _no_constant(name: str) -> None:
    raise ProgramFormatError(f"program manifest holds {name}; numbers must be finite")


def _from_manifest(m: dict[str, Any], instructions: list[Instr], constants: bytes) -> Program:
    validate_manifest(m, len(instructions), len(constants))
    try:
        raw = dict(m["config"])
        config = build_config(raw, raw.get("name", "custom"))
        tensors = {t["name"]: _tensor(t) for t in m["tensors"]}
        program = Program(
            config=config,
            instructions=instructions,
            constants=constants,
            const_base=int(m["const_base"]),
            dram_size=int(m["dram_size"]),
            tensors=tensors,
            inputs=list(m["inputs"]),
            outputs=list(m["outputs"]),
            nodes=list(m["nodes"]),
            node_of=[int(i) for i in m["node_of"]],
            layers=list(m["layers"]),
            meta=dict(m["meta"]),
        )
    except ConfigError as exc:
        raise ProgramFormatError(f"program manifest.config: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProgramFormatError(f"program manifest is malformed: {exc!r}") from None
    if config.fingerprint() != m.get("config_fingerprint"):
        raise ProgramFormatError(
            f"program manifest config fingerprint {m.get('config_fingerprint')!r} does not "
            f"match its config ({config.fingerprint()})"
        )
    return program


def _tensor_dict(t: TensorInfo) -> dict[str, Any]:
    """A tensor's manifest entry; ``strides`` only when the tensor has them."""
    out = dataclasses.asdict(t)
    if out["strides"] is None:
        del out["strides"]
    return out


def _tensor(t: dict[str, Any]) -> TensorInfo:
    strides = t.get("strides")
    strides = None if strides is None else tuple(strides)
    return TensorInfo(**{**t, "shape": tuple(t["shape"]), "strides": strides})
