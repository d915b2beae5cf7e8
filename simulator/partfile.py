"""The partitioned program file: a model cut into NPU programs and host partitions, in order.

Layout (all integers little-endian), a sibling of the plain program file (``program.py``),
told apart by its magic:
   magic     8 bytes  b"NPUPART\\0"
   version   u32      FORMAT_VERSION
   reserved  u32      0
   manifest  u64      length in bytes of the UTF-8 JSON manifest
   parts     u64      number of parts
   <manifest JSON> <part 0> ... <part n-1>
   sha256    32 bytes of everything before it

The manifest is a JSON object whose ``parts`` list gives, per part, its ``device`` ("npu" or
"host") and its length in ``bytes``; the rest of the manifest (ports, node names) is the
runtime's. An NPU part is a whole ``.npuprog`` (``program.program_from_bytes`` checks it again,
checksum included); a host part is a serialized ONNX model that this module never parses (the
simulator does not import onnx): ``npu/program_file.py`` checks it before onnxruntime sees it.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

from simulator.errors import ProgramFormatError
from simulator.program import Program, program_from_bytes, program_to_bytes

MAGIC = b"NPUPART\0"
FORMAT_VERSION = 1
DEVICES = ("npu", "host")
_HEADER = struct.Struct("<8sIIQQ")
_DIGEST = 32


def to_bytes(manifest: dict[str, Any], parts: list[tuple[str, Program | bytes]]) -> bytes:
    """The file: ``manifest`` plus ``parts`` ((device, Program) or (device, ONNX bytes))."""
    blobs = [program_to_bytes(p) if isinstance(p, Program) else bytes(p) for _, p in parts]
    meta = dict(manifest)
    meta["parts"] = [{"device": d, "bytes": len(b)} for (d, _), b in zip(parts, blobs, strict=True)]
    try:
        raw = json.dumps(meta, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ProgramFormatError(f"partitioned program manifest is not JSON: {exc}") from None
    body = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(raw), len(blobs)) + raw + b"".join(blobs)
    return body + hashlib.sha256(body).digest()


def from_bytes(blob: bytes) -> tuple[dict[str, Any], list[tuple[str, Program | bytes]]]:
    """(manifest, parts): NPU parts parsed into Programs, host parts as their bytes;
    ProgramFormatError on a bad magic, version, checksum, length or manifest."""
    if len(blob) < _HEADER.size + _DIGEST:
        raise ProgramFormatError(f"partitioned program file is truncated: {len(blob)} bytes")
    magic, version, _, n_manifest, n_parts = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise ProgramFormatError(f"not a partitioned program: magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise ProgramFormatError(
            f"partitioned program format version {version}; this reader reads version "
            f"{FORMAT_VERSION} (recompile the model)"
        )
    body = blob[:-_DIGEST]
    if hashlib.sha256(body).digest() != blob[-_DIGEST:]:
        raise ProgramFormatError("program file checksum (sha256) does not match its contents")
    start = _HEADER.size
    if n_manifest > len(body) - start:
        raise ProgramFormatError(
            f"partitioned program manifest length {n_manifest} is past the end"
        )
    manifest = _manifest(body[start : start + n_manifest], n_parts)
    sizes = [part["bytes"] for part in manifest["parts"]]
    start += n_manifest
    if start + sum(sizes) != len(body):
        raise ProgramFormatError(
            f"partitioned program parts take {sum(sizes)} bytes but the file holds "
            f"{len(body) - start}"
        )
    parts = []
    for part, size in zip(manifest["parts"], sizes, strict=True):
        raw = body[start : start + size]
        start += size
        parts.append((part["device"], program_from_bytes(raw) if part["device"] == "npu" else raw))
    return manifest, parts


def _manifest(raw: bytes, n_parts: int) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode(), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProgramFormatError(f"partitioned program manifest is not valid JSON: {exc}") from None
    parts = manifest.get("parts") if isinstance(manifest, dict) else None
    if not isinstance(parts, list) or len(parts) != n_parts:
        raise ProgramFormatError(f"partitioned program manifest must list its {n_parts} parts")
    for k, part in enumerate(parts):
        ok = isinstance(part, dict) and part.get("device") in DEVICES
        size = part.get("bytes") if ok else None
        if not ok or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ProgramFormatError(
                f"partitioned program manifest part {k} must be {{device: npu|host, bytes: "
                f"a count}}, not {part!r}"[:200]
            )
    return manifest


def _no_constant(name: str) -> None:
    raise ProgramFormatError(f"partitioned program manifest holds {name}; numbers must be finite")


def is_partitioned(head: bytes) -> bool:
    return head[: len(MAGIC)] == MAGIC
