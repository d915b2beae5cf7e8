"""How much of each scratchpad a program uses: the highest byte any instruction addresses."""

from __future__ import annotations

from simulator import Program
from simulator.isa import Dma, DType, MatMul, Scratchpad, Vector, VFunc

NAMES = {sp: sp.name.lower() for sp in Scratchpad}


def scratchpad_peaks(program: Program) -> dict[str, int]:
    """Bytes from address 0 to the highest byte addressed, per scratchpad (input, weight, acc)."""
    peaks = dict.fromkeys(NAMES.values(), 0)
    for instr in program.instructions:
        for sp, end in _extents(instr):
            peaks[NAMES[Scratchpad(sp)]] = max(peaks[NAMES[Scratchpad(sp)]], end)
    return peaks


def _box_end(addr: int, esize: int, counts, strides) -> int:
    return addr + esize * (1 + sum((n - 1) * s for n, s in zip(counts, strides, strict=True)))


def _extents(instr) -> list[tuple[int, int]]:
    if isinstance(instr, Dma):
        strides = (instr.ss0, instr.ss1, instr.ss2)
        return [(instr.sp, _box_end(instr.sp_addr, instr.esize, instr.counts, strides))]
    if isinstance(instr, MatMul):
        return _matmul_extents(instr)
    if isinstance(instr, Vector):
        return _vector_extents(instr)
    return []


def _matmul_extents(mm: MatMul) -> list[tuple[int, int]]:
    es = DType(mm.dtype).size
    w_rows, w_cols = (mm.n, mm.k) if mm.w_transposed else (mm.k, mm.n)
    return [
        (Scratchpad.INPUT, mm.a_addr + es * ((mm.m - 1) * mm.a_stride + mm.k)),
        (Scratchpad.WEIGHT, mm.w_addr + es * ((w_rows - 1) * mm.w_stride + w_cols)),
        (Scratchpad.ACC, mm.c_addr + 4 * ((mm.m - 1) * mm.c_stride + mm.n)),
    ]


def _vector_extents(v: Vector) -> list[tuple[int, int]]:
    func = VFunc(v.func)
    uses_src1 = func.info.kind == "binary" or func == VFunc.REQUANT
    out = []
    for prefix in ("dst", "src0", "src1") if uses_src1 else ("dst", "src0"):
        sp = getattr(v, f"{prefix}_sp")
        if sp > Scratchpad.ACC:
            continue
        size = DType(getattr(v, f"{prefix}_dtype")).size
        strides = tuple(getattr(v, f"{prefix}_s{d}") for d in range(3))
        out.append((sp, _box_end(getattr(v, f"{prefix}_addr"), size, v.counts, strides)))
    return out
