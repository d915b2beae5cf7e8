"""Graph inputs: read from IN.npz (keyed by ONNX input name) or made up from a seed.

An ``.npz`` is a zip archive of ``.npy`` members, and both layers can lie: a member may
inflate to gigabytes, a header may declare 10^12 elements over a few bytes. So the reader
never decompresses anything it has not checked:

1. ``inspect_npz``: the file is a zip of uniquely named ``.npy`` members, each with a readable
   header (only the header bytes are inflated) of a plain numeric dtype (no pickled objects),
   whose declared size matches the member's size in the zip directory;
2. ``read_inputs(path, program)``: the member names are compared with the program's inputs,
   and each declared shape and dtype with the input's, before any data is read; then each
   member is read exactly to its declared size and checked as ``simulator.run`` would.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from simulator import Program
from simulator.api import check_input_header, check_input_names, check_inputs
from simulator.errors import ModelError
from simulator.limits import fmt_size, numel

MAX_MEMBERS = 4096
MAX_HEADER = 1 << 16
PLAIN_KINDS = "biuf"  # bool, signed, unsigned, float (complex and objects are refused)


@dataclass(frozen=True)
class Member:
    """One array of an .npz as its header declares it (nothing of its data read yet)."""

    name: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes of header before the data


def inspect_npz(path: str | Path) -> dict[str, Member]:
    """Every member of an .npz, by key, from the headers alone; ModelError when it is not a
    plain-array .npz."""
    path = Path(path)
    label = f"inputs file {str(path)!r}"
    if not path.is_file():
        raise ModelError(f"{label} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            return _members(zf, label)
    except zipfile.BadZipFile:
        raise ModelError(f"{label} is not an .npz archive{_npy_hint(path)}") from None
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise ModelError(f"{label} is not a readable .npz: {exc}") from None


def _npy_hint(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            is_npy = f.read(6) == b"\x93NUMPY"
    except OSError:
        is_npy = False
    if is_npy or path.suffix == ".npy":
        return " (an .npy holds one unnamed array; save the inputs with np.savez(path, name=x))"
    return ""


def _members(zf: zipfile.ZipFile, label: str) -> dict[str, Member]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelError(f"{label} has {len(infos)} members; at most {MAX_MEMBERS} are read")
    members: dict[str, Member] = {}
    for info in infos:
        if not info.filename.endswith(".npy"):
            raise ModelError(f"{label}: member {info.filename!r} is not an .npy array")
        key = info.filename[: -len(".npy")]
        if key in members:
            raise ModelError(f"{label}: array {key!r} appears twice")
        members[key] = _member(zf, info, key, label)
    return members


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, label: str) -> Member:
    with zf.open(info) as f:
        try:
            version = npy.read_magic(f)
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran, dtype = read(f, max_header_size=MAX_HEADER)
        except (ValueError, SyntaxError, TypeError) as exc:
            raise ModelError(f"{label}: array {key!r} has no readable .npy header: {exc}") from None
        offset = f.tell()
    if dtype.hasobject or dtype.kind not in PLAIN_KINDS or dtype.fields is not None:
        raise ModelError(
            f"{label}: array {key!r} has dtype {dtype}; inputs are plain numbers (bool, "
            "integers, floats), never pickled objects"
        )
    declared = numel(shape) * dtype.itemsize
    if info.file_size != offset + declared:
        raise ModelError(
            f"{label}: array {key!r} declares shape {tuple(shape)} of {dtype} "
            f"({fmt_size(declared)}) but its member holds {fmt_size(info.file_size - offset)}"
        )
    return Member(key, info, tuple(shape), dtype, fortran, offset)


def read_inputs(path: str | Path, program: Program) -> dict[str, np.ndarray]:
    """The program's inputs from an .npz, checked against it before anything is inflated."""
    members = inspect_npz(path)
    check_input_names(program, list(members))
    for name in program.inputs:
        check_input_header(program.tensors[name], members[name].shape, members[name].dtype)
    label = f"inputs file {str(path)!r}"
    arrays = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for name in program.inputs:
                arrays[name] = _read(zf, members[name])
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{label} is not a readable .npz: {exc}") from None
    return check_inputs(program, arrays)


def _read(zf: zipfile.ZipFile, member: Member) -> np.ndarray:
    nbytes = numel(member.shape) * member.dtype.itemsize
    with zf.open(member.info) as f:
        f.seek(member.offset)
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"array {member.name!r} is truncated")
    order = "F" if member.fortran else "C"
    return np.frombuffer(data, member.dtype).reshape(member.shape, order=order)


def random_inputs(program: Program, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for every graph input: N(0, 1) floats, uniform integers over the dtype."""
    rng = np.random.default_rng(seed)
    return {name: _random(program.tensors[name], rng) for name in program.inputs}


def _random(info, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(info.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(info.shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, info.shape).astype(dtype)
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    return rng.integers(max(lo, -128), min(hi, 127), info.shape, endpoint=True).astype(dtype)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
