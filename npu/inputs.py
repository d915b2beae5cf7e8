"""Graph inputs: read from IN.npz (keyed by ONNX input name) or made up from a seed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from simulator import Program
from simulator.errors import ModelError


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array in an .npz file, by key; ModelError when the file is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"inputs file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"inputs file {str(path)!r} is not a readable .npz: {exc}") from None


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
