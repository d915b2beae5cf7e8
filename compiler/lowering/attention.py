"""Attention as one tiled loop (``passes/attention.py`` makes the node): for each head and
block of query rows, the key blocks stream through with a running row max ``m`` (online
softmax), so the scores never leave the chip:

    S = (scale * Q) @ K_jᵀ [+ mask_j]          array, into the accumulator
    m' = max(m, rowmax S);  c = exp(m - m')    vector
    P = exp(S - m')                            vector, into the input scratchpad
    O = O * c + P @ [V_j | 1]                  vector, then the array accumulating onto O
    Y = O[:, :d] / O[:, d]                     after the last key block, then stored

The row sums of P come from the array: V's block is loaded with a column of ones (the DMA's
pad value outside its window), so O's last column accumulates sum(P) under the same
rescaling, and the vector unit makes three passes over the scores (max, subtract, exp).
A key block whose constant mask is at or below ``MASKED`` everywhere (a causal mask's upper
triangle) is skipped: its probabilities are exactly 0 in fp32; a block whose mask is all zero
loads no mask. Q, S, P, K, V and O are double-buffered and the blocks are emitted
software-pipelined (S of block j + 1 is issued before block j's softmax), so the array, the
vector unit and the DMA overlap. Tile sizes (query rows x key columns) are chosen by
``cost()`` of one block's instructions.

int8 (q, kᵀ, v and y quantised per tensor): by default ``attention_int8.py`` computes the QDQ
graph's arithmetic in two passes; with ``CompileOptions.int8_attention = "online"`` (the node's
``online`` attribute) each Q, K and V block is loaded as int8 into a
staging buffer and DEQUANTised into the fp32 one (the scale folded into Q's), the loop runs in
fp32, and Y is QUANTised to y's quantisation before its int8 store. V's column of ones is
loaded once per layer (DEQUANT writes only the first d columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.lowering.common import (
    Box,
    Ctx,
    emit_load,
    emit_store,
    emit_vector,
    f32_bits,
    i32_bits,
    load,
    store,
    vector,
)
from compiler.opdecl import OpTable
from compiler.scratch import Scratch, align
from simulator.cost import cost
from simulator.errors import ConfigError
from simulator.isa import DType, MatMul, Scratchpad, VFunc

OPS = OpTable()  # merged into the registry by compiler.ops
declare = OPS.declare

SP_IN, SP_W, SP_ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC
FP, I8 = DType.FP32, DType.INT8
MASKED = -1e4  # exp(-1e4 + any score) is 0 in fp32: such a block contributes nothing
SKIP, PLAIN, MASK = 0, 1, 2  # key block kinds
ONE = f32_bits(1.0)


@dataclass(frozen=True)
class Mat:
    """A head's [rows, cols] matrix in DRAM: byte address, element strides, storage key."""

    addr: int
    rs: int
    cs: int
    key: str
    es: int = 4  # element bytes

    def at(self, r: int, c: int = 0) -> int:
        return self.addr + (r * self.rs + c * self.cs) * self.es


@dataclass(frozen=True)
class Bufs:
    """Scratchpad byte addresses: two of each streamed buffer, and the per-row vectors."""

    q: tuple[int, int]  # INPUT: scaled query rows
    p: tuple[int, int]  # INPUT: probabilities
    mk: int  # INPUT: a mask block
    k: tuple[int, int]  # WEIGHT: key blocks
    v: tuple[int, int]  # WEIGHT: value blocks with their column of ones
    s: tuple[int, int]  # ACC: scores
    o: tuple[int, int]  # ACC: output rows and their running sums
    m: tuple[int, int]  # ACC: running max (old, new alternate)
    r: int  # ACC: a block's row max
    c: int  # ACC: the rescale factors exp(m - m')
    q8: tuple[int, int] = (0, 0)  # int8 staging: INPUT query rows, WEIGHT keys and values,
    k8: tuple[int, int] = (0, 0)  # ACC quantised output rows (int8 attention only)
    v8: tuple[int, int] = (0, 0)
    y8: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Plan:
    tm: int
    tk: int
    bufs: Bufs
    dims: tuple[int, int, int]  # query rows, keys, head dim
    est: int  # cycles of one head

    def describe(self) -> str:
        return f"flash q{self.tm} k{self.tk}"


def _buffers(tm: int, tk: int, dh: int, masked: bool, config, int8: bool = False) -> Bufs | None:
    """The layout of a (tm, tk) tiling, or None when it does not fit the scratchpads; every
    buffer on pages of its own (``compiler.scratch``; the per-row vectors share one: only the
    vector unit uses them)."""
    layouts = _layouts(tm, tk, dh, masked, Scratch(config), int8)
    if not all(layouts[key].fits for key in ("input", "weight", "acc")):
        return None
    q, p = layouts["q"], layouts["p"]
    k, v, s, o, rows = (layouts[n] for n in ("k", "v", "s", "o", "rows"))
    row = align(tm * 4)
    base = rows[0]
    staging = {n: layouts[n] for n in ("q8", "k8", "v8", "y8") if n in layouts}
    ms = (base, base + row)
    return Bufs(q, p, layouts["mk"], k, v, s, o, ms, base + 2 * row, base + 3 * row, **staging)


def _layouts(tm: int, tk: int, dh: int, masked: bool, scratch: Scratch, int8=False) -> dict:
    """Each buffer's copies, placed by the allocator, and the three scratchpads' layouts
    (``input``, ``weight``, ``acc``)."""
    inp, wgt, acc = (scratch.layout(sp) for sp in (SP_IN, SP_W, SP_ACC))
    out = {"q": inp.take(tm * dh * 4, 2), "p": inp.take(tm * tk * 4, 2)}
    out["mk"] = inp.take(tm * tk * 4)[0] if masked else inp.end
    out |= {"k": wgt.take(tk * dh * 4, 2), "v": wgt.take(tk * (dh + 1) * 4, 2)}
    out |= {"s": acc.take(tm * tk * 4, 2), "o": acc.take(tm * (dh + 1) * 4, 2)}
    out["rows"] = acc.take(4 * tm * 4)
    if int8:
        out |= {"q8": inp.take(tm * dh, 2), "k8": wgt.take(tk * dh, 2)}
        out |= {"v8": wgt.take(tk * dh, 2), "y8": acc.take(tm * dh, 2)}
    out |= {"input": inp, "weight": wgt, "acc": acc}
    return out


def _row(addr: int) -> Box:
    """One value per row (reduction results, broadcast along a row)."""
    return Box(SP_ACC, FP, addr, (0, 1, 0))


def _vec(addr: int) -> Box:
    return Box(SP_ACC, FP, addr, (0, 0, 1))


@dataclass(frozen=True)
class Step:
    """One key block of one query block; ``t`` numbers the head's steps (buffer parity)."""

    t: int
    qi: int  # query block
    r0: int  # its first row
    n: int  # its rows
    j: int  # key block within the query block
    c0: int  # first key
    kn: int  # keys
    kind: int


class _Head:
    """The instructions of one head: every (query block, key block) step in one software
    pipeline (step t + 1's scores are issued before step t's softmax, across query blocks
    too, and a query block's normalisation waits until the next block's first softmax)."""

    def __init__(self, ctx: Ctx, node, plan: Plan, mats: dict[str, Mat], mask2d):
        self.ctx, self.b, self.mask2d = ctx, plan.bufs, mask2d
        self.scale, self.y_name = node.attr("scale"), node.outputs[0]
        self.mats = mats
        self.tm, self.tk = plan.tm, plan.tk
        self.sq, self.sk, self.dh = plan.dims
        self.wt = mats["kt"].rs == 1  # K stored [keys, dh]: the array reads it transposed
        tensors = (*node.inputs[:3], self.y_name)
        self.quant = {n: ctx.type(t).quant for n, t in zip("qkvy", tensors, strict=True)}
        self.int8 = self.quant["q"] is not None

    def v(self, *args) -> None:
        emit_vector(self.ctx, vector(*args))

    def steps(self) -> list[Step]:
        out: list[Step] = []
        for qi, r0 in enumerate(range(0, self.sq, self.tm)):
            n = min(self.tm, self.sq - r0)
            for j, (c0, kn, kind) in enumerate(self.key_blocks(r0, n)):
                out.append(Step(len(out), qi, r0, n, j, c0, kn, kind))
        return out

    def run(self) -> None:
        steps = self.steps()
        self.issue(steps[0])
        pending = None
        for st in steps:
            if st.t + 1 < len(steps):
                self.issue(steps[st.t + 1])
            self.softmax(st)
            if pending is not None:
                self.finish(pending)
                pending = None
            self.accumulate(st)
            if st.t + 1 == len(steps) or steps[st.t + 1].j == 0:
                pending = st
        self.finish(pending)

    def key_blocks(self, r0: int, n: int) -> list[tuple[int, int, int]]:
        """(first key, keys, kind) of each key block a query block needs."""
        out = []
        for c0 in range(0, self.sk, self.tk):
            kn = min(self.tk, self.sk - c0)
            out.append((c0, kn, self._kind(r0, n, c0, kn)))
        kept = [blk for blk in out if blk[2] != SKIP]
        return kept or [(c0, kn, MASK) for c0, kn, _ in out]  # every key masked: as written

    def _kind(self, r0: int, n: int, c0: int, kn: int) -> int:
        if self.mask2d is None:
            return PLAIN
        blk = self.mask2d[r0 : r0 + n, c0 : c0 + kn]
        if np.all(blk <= MASKED):
            return SKIP
        return MASK if np.any(blk) else PLAIN

    def issue(self, st: Step) -> None:
        """Load (and scale) a query block's rows at its first step; load K and V (with its
        column of ones); S = Q Kᵀ (+ mask)."""
        ctx, b, dh, tk = self.ctx, self.b, self.dh, self.tk
        kt, vm, q = self.mats["kt"], self.mats["v"], self.mats["q"]
        qb, kb, vb, sb = b.q[st.qi % 2], b.k[st.t % 2], b.v[st.t % 2], b.s[st.t % 2]
        if st.j == 0:
            cnt, qs = (1, st.n, dh), (0, q.rs, q.cs)
            if self.int8:  # the scale folded into the DEQUANT's
                self.load8(SP_IN, qb, b.q8[st.qi % 2], q, q.at(st.r0), cnt, qs, "q", self.scale)
            else:
                emit_load(ctx, load(SP_IN, qb, 4, q.at(st.r0), cnt, qs, (0, dh, 1)), q.key)
                qbox = Box(SP_IN, FP, qb, (0, dh, 1))
                self.v(VFunc.MUL_IMM, cnt, qbox, qbox, None, (f32_bits(self.scale), 0, 0))
        if self.wt:  # kᵀ's columns are K's contiguous rows
            counts, strides, sp = (1, st.kn, dh), (0, kt.cs, kt.rs), (0, dh, 1)
        else:
            counts, strides, sp = (1, dh, st.kn), (0, kt.rs, kt.cs), (0, st.kn, 1)
        if self.int8:
            self.load8(SP_W, kb, b.k8[st.t % 2], kt, kt.at(0, st.c0), counts, strides, "k")
            self.load8(
                SP_W, vb, b.v8[st.t % 2], vm, vm.at(st.c0), (1, st.kn, dh), (0, vm.rs, vm.cs), "v"
            )
        else:
            emit_load(ctx, load(SP_W, kb, 4, kt.at(0, st.c0), counts, strides, sp), kt.key)
            win = ((0, 1), (0, st.kn), (0, dh))
            counts, strides, sp = (1, st.kn, dh + 1), (0, vm.rs, vm.cs), (0, dh + 1, 1)
            emit_load(ctx, load(SP_W, vb, 4, vm.at(st.c0), counts, strides, sp, win, ONE), vm.key)
        wt = int(self.wt)
        mm = MatMul(dtype=int(FP), w_transposed=wt, a_addr=qb, w_addr=kb, c_addr=sb, k=dh)
        ctx.em.add(
            mm.replace(m=st.n, n=st.kn, a_stride=dh, w_stride=dh if wt else st.kn, c_stride=tk)
        )
        if st.kind == MASK:
            mk, cnt = self.mats["mask"], (1, st.n, st.kn)
            ld = load(SP_IN, b.mk, 4, mk.at(st.r0, st.c0), cnt, (0, mk.rs, mk.cs), (0, tk, 1))
            emit_load(ctx, ld, mk.key)
            sbox = Box(SP_ACC, FP, sb, (0, tk, 1))
            self.v(VFunc.ADD, cnt, sbox, sbox, Box(SP_IN, FP, b.mk, (0, tk, 1)))

    def load8(self, sp, dst, stage, mat, addr, cnt, strides, name, scale=1.0) -> None:
        """Load ``cnt`` int8 elements into ``stage`` (packed rows), DEQUANT them into the fp32
        buffer ``dst`` (V's rows keep their last column for the ones)."""
        emit_load(self.ctx, load(sp, stage, 1, addr, cnt, strides, (0, cnt[2], 1)), mat.key)
        q, row = self.quant[name], cnt[2] + (name == "v")
        imm = (i32_bits(q.zero_point), f32_bits(q.scale * scale), 0)
        src = Box(sp, I8, stage, (0, cnt[2], 1))
        self.v(VFunc.DEQUANT, cnt, Box(sp, FP, dst, (0, row, 1)), src, None, imm)

    def softmax(self, st: Step) -> None:
        """m' = max(m, rowmax S); c = exp(m - m'); P = exp(S - m')."""
        b, cnt, one = self.b, (1, st.n, st.kn), (1, 1, st.n)
        sbox = Box(SP_ACC, FP, b.s[st.t % 2], (0, self.tk, 1))
        m_new = b.m[st.t % 2]
        if st.j == 0:
            self.v(VFunc.RMAX, cnt, _row(m_new), sbox)
        else:
            m_old = b.m[(st.t - 1) % 2]
            self.v(VFunc.RMAX, cnt, _row(b.r), sbox)
            self.v(VFunc.MAX, one, _vec(m_new), _vec(b.r), _vec(m_old))
            self.v(VFunc.SUB, one, _vec(b.c), _vec(m_old), _vec(m_new))
            self.v(VFunc.EXP, one, _vec(b.c), _vec(b.c))
        self.v(VFunc.SUB, cnt, sbox, sbox, _row(m_new))
        self.v(VFunc.EXP, cnt, Box(SP_IN, FP, b.p[st.t % 2], (0, self.tk, 1)), sbox)

    def accumulate(self, st: Step) -> None:
        """O = O * c + P @ [V | 1] (the first key block: O = P @ [V | 1])."""
        b, d1, ob = self.b, self.dh + 1, self.b.o[st.qi % 2]
        if st.j:
            obox = Box(SP_ACC, FP, ob, (0, d1, 1))
            self.v(VFunc.MUL, (1, st.n, d1), obox, obox, _row(b.c))
        mm = MatMul(dtype=int(FP), accumulate=int(st.j > 0), a_addr=b.p[st.t % 2], c_addr=ob)
        mm = mm.replace(w_addr=b.v[st.t % 2], m=st.n, k=st.kn, n=d1)
        self.ctx.em.add(mm.replace(a_stride=self.tk, w_stride=d1, c_stride=d1))

    def finish(self, st: Step) -> None:
        """Y = O[:, :d] / O[:, d] for the query block of ``st``, stored."""
        y, dh, d1, ob = self.mats["y"], self.dh, self.dh + 1, self.b.o[st.qi % 2]
        obox = Box(SP_ACC, FP, ob, (0, d1, 1))
        sums = Box(SP_ACC, FP, ob + dh * 4, (0, d1, 0))
        self.v(VFunc.DIV, (1, st.n, dh), obox, obox, sums)
        cnt, ys = (1, st.n, dh), (0, y.rs, y.cs)
        if self.int8:
            yq, y8 = self.quant["y"], self.b.y8[st.qi % 2]
            imm = (i32_bits(yq.zero_point), f32_bits(yq.scale), 0)
            self.v(VFunc.QUANT, cnt, Box(SP_ACC, I8, y8, (0, dh, 1)), obox, None, imm)
            st_ = store(SP_ACC, y8, 1, y.at(st.r0), cnt, ys, (0, dh, 1))
        else:
            st_ = store(SP_ACC, ob, 4, y.at(st.r0), cnt, ys, (0, d1, 1))
        emit_store(self.ctx, st_, self.ctx.writes(self.y_name))


# --- tiling --------------------------------------------------------------------------------
def _estimate(tm: int, tk: int, dims, config, int8: bool = False) -> int:
    """Cycles of one head by ``cost()``: per key block the busiest of the array (two
    MatMuls), the vector unit (the softmax update) and the DMA (K and V blocks), times the
    blocks, plus each query block's load, scaling and normalisation."""
    sq, sk, dh = dims
    n, kn = min(tm, sq), min(tk, sk)
    box = _row(0)

    def vec(func, cnt):
        return cost(vector(func, cnt, box, box), config)

    def mm(m, k, nn):
        return cost(MatMul(dtype=int(FP), m=m, k=k, n=nn), config)

    es = 1 if int8 else 4

    def dma(rows, cols):
        return cost(load(SP_W, 0, es, 0, (1, rows, cols), (0, cols, 1), (0, cols, 1)), config)

    array = mm(n, dh, kn) + mm(n, kn, dh + 1)
    vector_unit = vec(VFunc.EXP, (1, n, kn)) + 2 * vec(VFunc.SUB, (1, n, kn))
    vector_unit += vec(VFunc.MUL, (1, n, dh + 1)) + 4 * vec(VFunc.SUB, (1, 1, n))
    vector_unit += 2 * int8 * vec(VFunc.DEQUANT, (1, kn, dh))
    block = max(array, vector_unit, dma(kn, dh) + dma(kn, dh + 1))
    tail = dma(n, dh) + 2 * vec(VFunc.DIV, (1, n, dh)) + int8 * vec(VFunc.QUANT, (1, n, dh))
    return -(-sq // tm) * (-(-sk // tk) * block + tail)


def flash_fits(
    dims: tuple[int, int, int], masked: bool, config, int8: bool = False, exact: bool = False
) -> bool:
    """Whether some (query rows, key columns) tiling of these dims fits the scratchpads
    (``exact``: the int8 two-pass loop of ``attention_int8.py``)."""
    try:
        if exact:
            from compiler.lowering import attention_int8_plan

            attention_int8_plan.plan(dims, config)
        else:
            plan(dims, masked, config, int8)
    except ConfigError:
        return False
    return True


def plan(dims: tuple[int, int, int], masked: bool, config, int8: bool = False) -> Plan:
    """The (query rows, key columns) tiling of least estimated cycles that fits."""

    def layout(tm, tk):
        return _buffers(tm, tk, dims[2], masked, config, int8)

    return search(dims, layout, lambda tm, tk, d, c: _estimate(tm, tk, d, c, int8), config)


def search(dims: tuple[int, int, int], layout, estimate, config) -> Plan:
    """The tiling of least ``estimate(tm, tk, dims, config)`` whose ``layout(tm, tk)`` is not
    None (the buffers fit)."""
    sq, sk, dh = dims
    best = None
    for tm in (512, 256, 128, 64, 32, 16, 8, 4, 2, 1):
        for tk in (512, 256, 128, 64, 32, 16, 8):
            if (tm > sq and tm > 1) or (tk > sk and tk > 8):
                continue
            bufs = layout(tm, tk)
            if bufs is not None:
                est = estimate(tm, tk, dims, config)
                if best is None or est < best.est:
                    best = Plan(tm, tk, bufs, dims, est)
    if best is None:
        raise ConfigError(f"attention with head dim {dh} does not fit this config's scratchpads")
    return best


# --- the op --------------------------------------------------------------------------------
def _mat(ctx: Ctx, tensor: str, idx: tuple[int, ...]) -> Mat:
    p = ctx.place(tensor)
    off = sum(i * s for i, s in zip(idx, p.strides, strict=False))
    return Mat(p.addr + off * p.itemsize, p.strides[-2], p.strides[-1], p.key, p.itemsize)


def _mask(ctx: Ctx, mask: str, lead, idx, dims) -> tuple[Mat, np.ndarray]:
    """The mask's [sq, sk] matrix at head ``idx``: where it is in the constant segment
    (broadcast axes with stride 0) and its values."""
    arr = np.asarray(ctx.graph.constants[mask], np.float32)
    arr = arr.reshape((1,) * (len(lead) + 2 - arr.ndim) + arr.shape)
    p = ctx.const(np.ascontiguousarray(arr))
    st = [0 if d == 1 else s for d, s in zip(arr.shape, p.strides, strict=True)]
    off = sum(i * s for i, s in zip(idx, st, strict=False))
    values = np.broadcast_to(arr, (*lead, dims[0], dims[1]))[idx]
    return Mat(p.addr + off * 4, st[-2], st[-1], "const"), values


@declare(
    "Attention",
    "float32, int8",
    "compiler-made from MatMul(q, kᵀ) [* scale] [+ constant mask] -> Softmax -> MatMul(·, v) "
    "when one head's scores do not fit the accumulator: online softmax over key blocks, "
    "fully masked blocks skipped; int8 (QDQ; a constant mask of up to two values, skipped "
    "blocks where provably zero): the QDQ graph's arithmetic in two passes "
    "over the key blocks (row max and sum, then the int8 probabilities and P·V; bit-exact with "
    "onnxruntime but for fp32 sum order), or with --int8-attention online the fp32 loop of the "
    "int8 inputs, the output QUANTised (within the stated steps)",
    internal=True,
)
def lower_attention(ctx: Ctx, node) -> None:
    q, kt, v = node.inputs[:3]
    mask = node.inputs[3] if len(node.inputs) > 3 else ""
    qt, y = ctx.type(q), node.outputs[0]
    lead = qt.shape[:-2]
    dims = (qt.shape[-2], ctx.type(kt).shape[-1], qt.shape[-1])
    int8 = qt.quant is not None
    if int8 and not node.attr("online"):
        from compiler.lowering import attention_int8

        return attention_int8.lower(ctx, node, dims, lead)
    p = plan(dims, bool(mask), ctx.config, int8)
    layouts = _layouts(p.tm, p.tk, dims[2], bool(mask), ctx.scratch, int8)
    for key in ("input", "weight", "acc"):
        layouts[key].commit()
    if int8:  # V's column of ones, once: the DEQUANTs write only its first d columns
        ones = ctx.const(np.ones(p.tk, np.float32))
        for vb in p.bufs.v:
            cnt, sp = (1, p.tk, 1), (0, dims[2] + 1, 1)
            ld = load(SP_W, vb + dims[2] * 4, 4, ones.addr, cnt, (0, 1, 1), sp)
            emit_load(ctx, ld, "const")
    for idx in np.ndindex(*lead) if lead else [()]:
        mats = {name: _mat(ctx, t, idx) for name, t in (("q", q), ("kt", kt), ("v", v), ("y", y))}
        values = None
        if mask:
            mats["mask"], values = _mask(ctx, mask, lead, idx, dims)
        _Head(ctx, node, p, mats, values).run()
    heads = int(np.prod(lead, dtype=np.int64))
    ctx.record(
        node,
        macs=2 * heads * dims[0] * dims[1] * dims[2],
        tiling=p.describe(),
        est_cycles=p.est * heads,
        operand_bytes=sum(ctx.type(t).nbytes for t in (q, kt, v, y)),
    )
