"""The recurrent lowering's working set: the gate-math tiles on the vector unit and the DRAM
views of each step's matrices (``recurrent.py`` drives them step by step).

``Tile`` is a (rows x columns) block of the gate math in one half of the input scratchpad, with
named fp32 slots loaded, combined and stored; ``Views`` says where P (the input projections), Y,
Y_h, Y_c, the initial states and the per-direction state buffers live in DRAM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    f32_bits,
    load,
    store,
    vector,
)
from compiler.lowering.gemm import Operand
from simulator.isa import DType, Scratchpad, VFunc

if TYPE_CHECKING:
    from compiler.lowering.recurrent import Rnn

SP = Scratchpad.INPUT
FP = DType.FP32
# Outputs after the ONNX ones: the per-direction scratch buffers the pass adds.
SCRATCH = {"LSTM": ("gates", "h", "c"), "GRU": ("gates", "h", "rh", "hp"), "RNN": ("gates", "h")}
ONNX_OUTPUTS = {"LSTM": 3, "GRU": 2, "RNN": 2}


# --- the vector unit's tiles -----------------------------------------------------------------
class Tile:
    """A (rows x columns) tile of the gate math in one half of the input scratchpad: named
    fp32 slots of ``parts`` blocks of ``cols`` per row, loaded, combined and stored."""

    def __init__(self, ctx: Ctx, base: int, rows: int, cols: int):
        self.ctx, self.base, self.rows, self.cols = ctx, base, rows, cols
        self.top = base
        self.slots: dict[str, tuple[int, int]] = {}  # name -> (address, parts)

    def slot(self, name: str, parts: int = 1) -> None:
        self.slots[name] = (self.top, parts)
        self.top += -(-self.rows * parts * self.cols * 4 // 64) * 64

    def box(self, name: str, part: int = 0) -> Box:
        addr, parts = self.slots[name]
        return Box(SP, FP, addr + part * self.cols * 4, (0, parts * self.cols, 1))

    def load(self, name: str, dram: tuple[int, int, int], key: str) -> None:
        """``dram``: (byte address of row 0 part 0, row stride, part stride in elements)."""
        addr, parts = self.slots[name]
        a, rs, ps = dram
        counts = (self.rows, parts, self.cols)
        ss = (parts * self.cols, self.cols, 1)
        emit_load(self.ctx, load(SP, addr, 4, a, counts, (rs, ps, 1), ss), key)

    def store(self, name: str, dram: tuple[int, int], tensor: str) -> None:
        addr, parts = self.slots[name]
        a, rs = dram
        counts = (1, self.rows, self.cols)
        st = store(SP, addr, 4, a, counts, (0, rs, 1), (0, parts * self.cols, 1))
        emit_store(self.ctx, st, self.ctx.writes(tensor))

    def op(self, func, dst, src0, src1=None, width: int = 1, imm=(0, 0, 0)) -> None:
        """``dst``/``src``: (slot, first part); ``width`` parts wide."""
        boxes = [self.box(*dst), self.box(*src0)] + ([self.box(*src1)] if src1 else [])
        counts = (1, self.rows, width * self.cols)
        ins = vector(func, counts, boxes[0], boxes[1], boxes[2] if src1 else None, imm)
        emit_vector(self.ctx, ins)

    def act(self, f: tuple[VFunc, int, int], at, width: int = 1) -> None:
        self.op(f[0], at, at, width=width, imm=(f[1], f[2], 0))

    def clip(self, r: Rnn, at, width: int) -> None:
        if r.clip is not None:
            imm = (f32_bits(-r.clip), f32_bits(r.clip), 0)
            self.op(VFunc.CLIP, at, at, width=width, imm=imm)


# --- DRAM views ------------------------------------------------------------------------------
def dram_operand(ctx: Ctx, tensor: str, addr: int, row: int) -> Operand:
    p = ctx.place(tensor)
    return Operand(addr, (0, 0, row, 1), p.key, ctx.clobbers.get(p.key, ()))


class Views:
    """Where each step's matrices live: (element address, row stride) pairs per tensor."""

    def __init__(self, ctx: Ctx, node, r: Rnn):
        self.ctx, self.node, self.r = ctx, node, r
        n_onnx = ONNX_OUTPUTS[r.op]
        names = node.outputs[n_onnx:]
        per = len(SCRATCH[r.op])
        self.scratch = [
            dict(zip(SCRATCH[r.op], names[d * per : (d + 1) * per], strict=True))
            for d in range(r.d)
        ]
        self.proj = names[-1]
        self.y, self.y_h = node.outputs[0], node.outputs[1]
        self.y_c = node.outputs[2] if r.op == "LSTM" else None
        for t in node.outputs:
            if ctx.place(t).strides[-1] != 1:
                raise AssertionError(f"{t} is not row-major")

    def addr(self, tensor: str, offset: int) -> int:
        p = self.ctx.place(tensor)
        return p.addr + offset * p.itemsize

    def proj_step(self, t: int, d: int, part: int = 0) -> tuple[str, int, int]:
        """(tensor, byte address, row stride) of P's rows of step t, direction d."""
        r = self.r
        width = r.d * r.gh
        row0, rs = (t * r.b, width) if r.layout == 0 else (t, r.t * width)
        return self.proj, self.addr(self.proj, row0 * width + d * r.gh + part * r.h), rs

    def y_step(self, t: int, d: int) -> tuple[str, int, int]:
        s = self.ctx.place(self.y).strides
        if self.r.layout == 0:  # [T, D, B, H]
            return self.y, self.addr(self.y, t * s[0] + d * s[1]), s[2]
        return self.y, self.addr(self.y, t * s[1] + d * s[2]), s[0]  # [B, T, D, H]

    def last(self, tensor: str, d: int) -> tuple[str, int, int]:
        """Y_h, Y_c, initial_h or initial_c of direction d: [D, B, H] or [B, D, H]."""
        if self.ctx.graph.is_const(tensor):
            p = self.ctx.const_place(tensor)
            s, addr = p.strides, p.addr
        else:
            p = self.ctx.place(tensor)
            s, addr = p.strides, p.addr
        if self.r.layout == 0:
            return tensor, addr + d * s[0] * 4, s[1]
        return tensor, addr + d * s[1] * 4, s[0]

    def state(self, d: int, which: str) -> tuple[str, int, int]:
        name = self.scratch[d][which]
        return name, self.addr(name, 0), self.r.h

    def initial(self, d: int, k: int) -> tuple[str, int, int]:
        """initial_h (k=5) or initial_c (k=6) of direction d, or zeros."""
        node = self.node
        name = node.inputs[k] if len(node.inputs) > k else ""
        if name:
            return self.last(name, d)
        p = self.ctx.const(np.zeros((self.r.b, self.r.h), np.float32))
        return "const", p.addr, self.r.h


def view_key(ctx: Ctx, tensor: str) -> str:
    return "const" if tensor == "const" or ctx.graph.is_const(tensor) else ctx.place(tensor).key


def view_operand(ctx: Ctx, view: tuple[str, int, int], part: int = 0, h: int = 0) -> Operand:
    tensor, addr, row = view
    if tensor == "const" or ctx.graph.is_const(tensor):
        return Operand(addr + part * h * 4, (0, 0, row, 1), "const")
    return dram_operand(ctx, tensor, addr + part * h * 4, row)


def gate_tiles(ctx: Ctx, r: Rnn, slots: int):
    """(first row, rows, first column, columns, buffer base) of each gate-math tile."""
    copies = ctx.scratch.copies(SP, 2)
    budget = (copies.capacity - 64 * (slots + 1)) // (4 * slots)
    tj = min(r.h, max(1, budget), 8192)
    tb = max(1, min(r.b, budget // tj, 65535))
    copies.use(slots * (-(-tb * tj * 4 // 64) * 64))
    buf = 0
    for b0 in range(0, r.b, tb):
        for j0 in range(0, r.h, tj):
            yield b0, min(tb, r.b - b0), j0, min(tj, r.h - j0), copies.base(buf)
            buf ^= 1


def at_view(view, b0: int, j0: int) -> tuple[int, int]:
    _, addr, row = view
    return addr + (b0 * row + j0) * 4, row


def store_h(tile: Tile, v: Views, slot, where, ends) -> None:
    """New h to the direction's state, to Y and (last step) to Y_h."""
    t, d, last = where
    b0, j0 = ends
    targets = [v.state(d, "h"), v.y_step(t, d)] + ([v.last(v.y_h, d)] if last else [])
    for view in targets:
        addr, row = at_view(view, b0, j0)
        tile.store(slot, (addr, row), view[0])


def load_view(tile: Tile, slot: str, view, b0: int, j0: int, part_stride: int = 0) -> None:
    addr, row = at_view(view, b0, j0)
    tile.load(slot, (addr, row, part_stride), view_key(tile.ctx, view[0]))
