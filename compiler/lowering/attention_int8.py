"""int8 attention as onnxruntime computes its QDQ graph (the default; ``attention.py``'s
one-pass loop is the opt-in ``CompileOptions.int8_attention = "online"``). For each block of
query rows, two passes over the key blocks, the scores computed in each as the unfused layers
compute them (int8 operands on the array, exact int32 sums, the QMatMul's zero-point terms,
its REQUANT to int8, the scaling QEltwise's table):

    S  = REQUANT(q8 @ k8ᵀ + row and column zero-point terms)      array, vector
    pass 1:  m' = max(m, rowmax S);  l = l * exp(s_x (m - m')) + sum exp(s_x (S - m'))
             (exp(s_x (S - m)) of the integer S - m in [-255, 0]: a 256-entry table)
    pass 2:  P = QUANT(exp(s_x (S - m)) * floor(1 / s_p) / l)     QLinearSoftmax's arithmetic
             (the product by floor(1 / s_p) in a second table)
             O += [1; P] @ [V | 1]                                 int32, exact
    Y = REQUANT(O - z_v rowsum P - z_p colsum V + keys z_p z_v)   after the last key block

Options the plan chooses by ``cost()`` (``attention_int8_plan.py``): the scores kept for pass
2 rather than computed again; K's zero-point terms kept for the head's later query blocks; P
looked up in a table per query row, its 256 entries (one per int8 score) made by the steps
above, so the bytes are the same for a DIV and a QUANT per row entry rather than per score;
and, for a maskless attention whose scaling table is monotone, three passes: m as the table
of the largest unscaled score, l through a table per row of exp(s_x (T[s] - m)), then P
(two vector steps a score fewer than two passes with row tables: the scaling table and the
SUB; l is then summed with m final, not rescaled).

The array makes the P·V zero-point terms: P's buffer has a row of ones above its rows (O's
row 0 accumulates V's column sums) and V's block a column of ones (the DMA's pad value: O's
last column accumulates P's row sums). Every integer is exact, so the only difference from
the unfused layers is the sum ``l``: accumulated per key block and rescaled when the row max
grows, where the Softmax sums the whole row at once (fp32 rounding; a probability can move
by one step where its quotient is within an ulp of a rounding boundary). A constant mask
(``Mask``) selects each element's QEltwise table; the key blocks it provably zeroes are skipped.
"""

from __future__ import annotations

import numpy as np

from compiler.lowering.attention import Mat, Step
from compiler.lowering.attention_int8_plan import layouts, plan
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
from compiler.lowering.rowwise import exp_tables, int8_values
from simulator.isa import LUT_ENTRIES, DType, MatMul, Scratchpad, VFunc
from simulator.semantics import pack_requant_scale

SP_IN, SP_W, SP_ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC
FP, I8, I32 = DType.FP32, DType.INT8, DType.INT32
FULL = (i32_bits(-128), i32_bits(127))
SKIP, MIXED = -2, -3  # key block kinds besides a table's index (-1: no table)


def _row(addr: int, dtype=FP) -> Box:
    return Box(SP_ACC, dtype, addr, (0, 1, 0))


def _vec(addr: int, dtype=FP) -> Box:
    return Box(SP_ACC, dtype, addr, (0, 0, 1))


class Head8:
    """The instructions of one head (see the module docstring); the loads and the QKᵀ
    MatMul of step t + 1 are issued before step t's vector work."""

    def __init__(self, ctx: Ctx, node, dims, tiles, lay: dict, mats: dict[str, Mat], mask):
        self.ctx, self.b, self.mats = ctx, lay, mats
        self.sq, self.sk, self.dh = dims
        self.tm, self.tk = tiles
        self.wt = mats["kt"].rs == 1
        tensors = (*node.inputs[:3], node.outputs[0])
        self.quant = {n: ctx.type(t).quant for n, t in zip("qkvy", tensors, strict=True)}
        self.y_name, self.attrs = node.outputs[0], node.attrs
        self.tables, self.mask = len(node.attr("tables")), mask
        self.m_final = 0
        self.kept = lay["s8sp"] == SP_IN
        self.row_tables, self.three = "t8" in lay, "te" in lay
        self.k_terms: set[int] = set()  # key blocks whose K terms "ck" holds
        self.kinds: dict[tuple[int, int], int] = {}  # (query block, first key): the table
        self.keys: dict[int, int] = {}  # a query block's keys not skipped
        self.last: dict[int, int] = {}  # and its last key block's first key

    def v(self, *args) -> None:
        emit_vector(self.ctx, vector(*args))

    def s8(self, st: Step) -> Box:
        """The int8 scores of ``st``'s block (kept: at its keys' columns of the query block's)."""
        b = self.b
        at = b["s8"] + (st.c0 if self.kept else 0)
        return Box(b["s8sp"], I8, at, (0, b["s8rs"], 1))

    def steps(self) -> list[Step]:
        out: list[Step] = []
        for qi, r0 in enumerate(range(0, self.sq, self.tm)):
            n = min(self.tm, self.sq - r0)
            for kind in (1, 3, 2) if self.three else (1, 2):  # the pass (3: the sums)
                for j, (c0, kn) in enumerate(self.key_blocks(qi, r0, n)):
                    out.append(Step(len(out), qi, r0, n, j, c0, kn, kind))
        return out

    def key_blocks(self, qi: int, r0: int, n: int) -> list[tuple[int, int]]:
        """(first key, keys) of each key block the query block needs (a block whose mask
        values ``Mask.skip`` proves contribute nothing is left out); its table in ``kinds``."""
        out = []
        for c0 in range(0, self.sk, self.tk):
            kn = min(self.tk, self.sk - c0)
            kind = self.tables - 1 if self.mask is None else self.mask.kind(r0, n, c0, kn)
            if kind != SKIP:
                self.kinds[qi, c0] = kind
                out.append((c0, kn))
        self.keys[qi], self.last[qi] = sum(kn for _, kn in out), out[-1][0]
        return out

    def run(self) -> None:
        steps = self.steps()
        self.issue(steps[0])
        for st in steps:
            if st.t + 1 < len(steps):
                self.issue(steps[st.t + 1])
            if st.kind == 1 or not self.kept:
                self.scores(st)
            if st.kind == 1:
                self.stats(st)
            elif st.kind == 3:
                self.sums_of_rows(st)
            else:
                if st.j == 0 and self.row_tables:
                    self.tables_of_rows(st)
                self.probabilities(st)
                if st.c0 == self.last[st.qi]:
                    self.finish(st)

    def issue(self, st: Step) -> None:
        """Q's rows and their zero-point term at a query block's first step; V's block in
        pass 2 (with its column of ones); the scores' int32 sums (not in pass 2 when kept)."""
        ctx, b, dh, q, vm = self.ctx, self.b, self.dh, self.mats["q"], self.mats["v"]
        qb, rc = b["q"][st.qi % 2], b["rc"][st.qi % 2]
        if st.j == 0 and st.kind == 1:
            cnt, kz = (1, st.n, dh), self.quant["k"].zero_point
            emit_load(ctx, load(SP_IN, qb, 1, q.at(st.r0), cnt, (0, q.rs, q.cs), (0, dh, 1)), q.key)
            if kz:  # -z_k sum_d q + dh z_q z_k
                self.v(VFunc.RSUM, cnt, _row(rc, I32), Box(SP_IN, I8, qb, (0, dh, 1)))
                one, rv = (1, 1, st.n), _vec(rc, I32)
                self.v(VFunc.MUL_IMM, one, rv, rv, None, (i32_bits(-kz), 0, 0))
                add = i32_bits(dh * self.quant["q"].zero_point * kz)
                self.v(VFunc.ADD_IMM, one, rv, rv, None, (add, 0, 0))
        if st.kind == 2:
            win, cnt, vs = ((0, 1), (0, st.kn), (0, dh)), (1, st.kn, dh + 1), (0, vm.rs, vm.cs)
            vb = b["v"][st.t % 2]
            emit_load(ctx, load(SP_W, vb, 1, vm.at(st.c0), cnt, vs, (0, dh + 1, 1), win, 1), vm.key)
        if st.kind == 1 or not self.kept:
            self.sums(st, qb, rc)

    def sums(self, st: Step, qb: int, rc: int) -> None:
        """K's block and its zero-point term; S = the two terms, then += Q Kᵀ on the array."""
        ctx, b, dh, kt = self.ctx, self.b, self.dh, self.mats["kt"]
        kb, cc = b["k"][st.t % 2], b["cc"][st.t % 2]
        qz, kz = self.quant["q"].zero_point, self.quant["k"].zero_point
        if self.wt:  # kᵀ's columns are K's contiguous rows
            counts, strides, sp, kbox = (1, st.kn, dh), (0, kt.cs, kt.rs), (0, dh, 1), (0, dh, 1)
        else:
            counts, strides, sp = (1, dh, st.kn), (0, kt.rs, kt.cs), (0, st.kn, 1)
            kbox = (0, 1, st.kn)
        emit_load(ctx, load(SP_W, kb, 1, kt.at(0, st.c0), counts, strides, sp), kt.key)
        if "ck" in b:  # the head's terms, each key block's made at its first use
            cc = b["ck"] + st.c0 * 4
        if qz and not (st.c0 in self.k_terms and "ck" in b):  # -z_q sum_d k
            self.k_terms.add(st.c0)
            self.v(VFunc.RSUM, (1, st.kn, dh), _row(cc, I32), Box(SP_W, I8, kb, kbox))
            cv = _vec(cc, I32)
            self.v(VFunc.MUL_IMM, (1, 1, st.kn), cv, cv, None, (i32_bits(-qz), 0, 0))
        sbox, cnt = Box(SP_ACC, I32, b["s"][st.t % 2], (0, self.tk, 1)), (1, st.n, st.kn)
        if kz and qz:
            self.v(VFunc.ADD, cnt, sbox, _row(rc, I32), _vec(cc, I32))
        elif kz or qz:
            self.v(VFunc.COPY, cnt, sbox, _row(rc, I32) if kz else _vec(cc, I32))
        mm = MatMul(dtype=int(I8), w_transposed=int(self.wt), accumulate=int(bool(kz or qz)))
        mm = mm.replace(a_addr=qb, w_addr=kb, c_addr=sbox.addr, m=st.n, n=st.kn, k=dh)
        ctx.em.add(mm.replace(a_stride=dh, w_stride=dh if self.wt else st.kn, c_stride=self.tk))

    def scores(self, st: Step) -> None:
        """S's int32 sums REQUANTed to the scores' int8, then the scaling table."""
        b, cnt = self.b, (1, st.n, st.kn)
        s8 = self.s8(st)
        word = Box(SP_ACC, I32, b["words"], (0, 0, 0))
        imm = (i32_bits(self.attrs["s_zero"]), *FULL)
        self.v(
            VFunc.REQUANT, cnt, s8, Box(SP_ACC, I32, b["s"][st.t % 2], (0, self.tk, 1)), word, imm
        )
        kind, imm = self.kinds[st.qi, st.c0], (i32_bits(-128), 0, 0)
        if self.three:  # the table is applied to the row max and in the row tables
            return
        if kind == MIXED:  # table 1 where the mask has its second value, else table 0
            sel, ind = (Box(SP_ACC, I8, b[n], (0, self.tk, 1)) for n in ("sel", "ind"))
            m = self.mask.mat
            ld = load(SP_ACC, ind.addr, 1, m.at(st.r0, st.c0), cnt, (0, m.rs, m.cs), ind.strides)
            emit_load(self.ctx, ld, "const")
            self.v(VFunc.LUT, cnt, sel, s8, Box(SP_ACC, I8, b["lut"] + 256, (0, 0, 1)), imm)
            self.v(VFunc.LUT, cnt, s8, s8, Box(SP_ACC, I8, b["lut"], (0, 0, 1)), imm)
            self.v(VFunc.SELECT, cnt, s8, ind, sel)
        elif kind >= 0:
            self.v(VFunc.LUT, cnt, s8, s8, Box(SP_ACC, I8, b["lut"] + 256 * kind, (0, 0, 1)), imm)

    def exp(self, st: Step, m: int, which: int = 0) -> Box:
        """exp(s_x (S - m)) (``which`` 1: times floor(1 / s_p)) into the fp32 buffer: S - m,
        an integer in [-255, 0], looked up in ``exp_tables``."""
        b, cnt = self.b, (1, st.n, st.kn)
        e, d = (Box(SP_ACC, dt, b["e"], (0, self.tk, 1)) for dt in (FP, I32))
        self.v(VFunc.SUB, cnt, d, self.s8(st), _row(m, I32))
        table = Box(SP_ACC, FP, b["exp"] + which * 1024, (0, 0, 1))
        self.v(VFunc.LUT, cnt, e, d, table, (i32_bits(-255), 0, 0))
        return e

    def stats(self, st: Step) -> None:
        """Pass 1: the running row max m and the running sum l of exp(s_x (S - m))."""
        b, cnt, one = self.b, (1, st.n, st.kn), (1, 1, st.n)
        s8 = self.s8(st)
        m_new, m_old = b["m"][st.j % 2], b["m"][(st.j - 1) % 2]
        if st.j == 0:
            self.v(VFunc.RMAX, cnt, _row(m_new, I32), s8)
        else:
            self.v(VFunc.RMAX, cnt, _row(b["r"], I32), s8)
            self.v(VFunc.MAX, one, _vec(m_new, I32), _vec(b["r"], I32), _vec(m_old, I32))
        self.m_final = m_new
        if self.three:  # the max only: the sums come in their own pass
            return
        if st.j > 0:
            self.v(VFunc.SUB, one, _vec(b["c"]), _vec(m_old, I32), _vec(m_new, I32))
            self.v(
                VFunc.MUL_IMM,
                one,
                _vec(b["c"]),
                _vec(b["c"]),
                None,
                (f32_bits(self.attrs["x_scale"]), 0, 0),
            )
            self.v(VFunc.EXP, one, _vec(b["c"]), _vec(b["c"]))
        e = self.exp(st, m_new)
        if st.j == 0:
            self.v(VFunc.RSUM, cnt, _row(b["l"]), e)
        else:
            self.v(VFunc.RSUM, cnt, _row(b["r"]), e)
            self.v(VFunc.MUL, one, _vec(b["l"]), _vec(b["l"]), _vec(b["c"]))
            self.v(VFunc.ADD, one, _vec(b["l"]), _vec(b["l"]), _vec(b["r"]))

    def iota(self) -> Box:
        """The scores -128 .. 127 (row tables only)."""
        return Box(SP_ACC, I8, self.b["iota"], (0, 0, 1))

    def scaled(self) -> Box:
        """T[s] for s = -128 .. 127: the scaling table (the scores themselves if none)."""
        return Box(SP_ACC, I8, self.b["lut"], (0, 0, 1)) if self.tables else self.iota()

    def sums_of_rows(self, st: Step) -> None:
        """Three passes, the second: m = T[max s] (the table is monotone), each row's table
        of exp(s_x (T[s] - m)), and l = the sum of its entries at the block's scores."""
        b, cnt, one = self.b, (1, st.n, st.kn), (1, 1, st.n)
        if st.j == 0:
            imm = (i32_bits(-128), 0, 0)
            self.v(VFunc.LUT, one, _vec(b["c"], I32), _vec(self.m_final, I32), self.scaled(), imm)
            self.m_final = b["c"]
            row = (1, st.n, LUT_ENTRIES)
            d = Box(SP_ACC, I32, b["tf"], (0, LUT_ENTRIES, 1))
            self.v(VFunc.SUB, row, d, self.scaled(), _row(self.m_final, I32))
            te = Box(SP_ACC, FP, b["te"], (0, LUT_ENTRIES, 1))
            exp = Box(SP_ACC, FP, b["exp"], (0, 0, 1))
            self.v(VFunc.LUT, row, te, d, exp, (i32_bits(-255), 0, 0))
        e = Box(SP_ACC, FP, b["e"], (0, self.tk, 1))
        rows = Box(SP_ACC, FP, b["te"], (0, LUT_ENTRIES, 1))
        self.v(VFunc.LUT, cnt, e, self.s8(st), rows, (i32_bits(-128), 0, 0))
        if st.j == 0:
            self.v(VFunc.RSUM, cnt, _row(b["l"]), e)
        else:
            self.v(VFunc.RSUM, cnt, _row(b["r"]), e)
            self.v(VFunc.ADD, one, _vec(b["l"]), _vec(b["l"]), _vec(b["r"]))

    def tables_of_rows(self, st: Step) -> None:
        """Before pass 2 of a query block: for each row and each int8 score s, the
        probability QUANT(exp(s_x (s - m)) * floor(1 / s_p) / l) by the same steps pass 2
        would take per element (so a lookup gives the same bytes), for keys many enough
        that 256 entries a row cost less than those steps on every score."""
        b, cnt = self.b, (1, st.n, LUT_ENTRIES)
        d, e = (Box(SP_ACC, dt, b["tf"], (0, LUT_ENTRIES, 1)) for dt in (I32, FP))
        src = self.scaled() if self.three else self.iota()
        self.v(VFunc.SUB, cnt, d, src, _row(self.m_final, I32))
        table = Box(SP_ACC, FP, b["exp"] + 1024, (0, 0, 1))
        self.v(VFunc.LUT, cnt, e, d, table, (i32_bits(-255), 0, 0))
        self.v(VFunc.DIV, cnt, e, e, _row(b["l"]))
        t8 = Box(SP_ACC, I8, b["t8"], (0, LUT_ENTRIES, 1))
        self.v(VFunc.QUANT, cnt, t8, e, None, (i32_bits(self.attrs["p_zero"]), f32_bits(1.0), 0))

    def probabilities(self, st: Step) -> None:
        """Pass 2: P = QUANT(e * floor(1 / s_p) / l) (or its row's table at S), then
        O (+)= [1; P] @ [V | 1]."""
        b, cnt, d1 = self.b, (1, st.n, st.kn), self.dh + 1
        pb = b["p"][st.t % 2]
        p8 = Box(SP_IN, I8, pb + self.tk, (0, self.tk, 1))
        if self.row_tables:
            rows = Box(SP_ACC, I8, b["t8"], (0, LUT_ENTRIES, 1))
            self.v(VFunc.LUT, cnt, p8, self.s8(st), rows, (i32_bits(-128), 0, 0))
        else:
            e = self.exp(st, self.m_final, 1)
            self.v(VFunc.DIV, cnt, e, e, _row(b["l"]))
            imm = (i32_bits(self.attrs["p_zero"]), f32_bits(1.0), 0)
            self.v(VFunc.QUANT, cnt, p8, e, None, imm)
        mm = MatMul(dtype=int(I8), accumulate=int(st.j > 0), a_addr=pb, w_addr=b["v"][st.t % 2])
        mm = mm.replace(c_addr=b["o"][st.qi % 2], m=st.n + 1, k=st.kn, n=d1)
        self.ctx.em.add(mm.replace(a_stride=self.tk, w_stride=d1, c_stride=d1))

    def finish(self, st: Step) -> None:
        """Y = REQUANT(O's rows with the P·V zero-point terms added), stored."""
        b, dh, d1, ob = self.b, self.dh, self.dh + 1, self.b["o"][st.qi % 2]
        zp, zv = self.attrs["p_zero"], self.quant["v"].zero_point
        cnt = (1, st.n, dh)
        rows = Box(SP_ACC, I32, ob + d1 * 4, (0, d1, 1))
        if zv:  # -z_v rowsum P
            col = Box(SP_ACC, I32, ob + (d1 + dh) * 4, (0, 0, d1))
            self.v(VFunc.MUL_IMM, (1, 1, st.n), col, col, None, (i32_bits(-zv), 0, 0))
            self.v(VFunc.ADD, cnt, rows, rows, col.replace(strides=(0, d1, 0)))
        if zp:  # -z_p colsum V + keys z_p z_v
            top = Box(SP_ACC, I32, ob, (0, 0, 1))
            self.v(VFunc.MUL_IMM, (1, 1, dh), top, top, None, (i32_bits(-zp), 0, 0))
            keys = self.keys[st.qi]
            self.v(VFunc.ADD_IMM, (1, 1, dh), top, top, None, (i32_bits(keys * zp * zv), 0, 0))
            self.v(VFunc.ADD, cnt, rows, rows, top)
        y, yq = self.mats["y"], self.quant["y"]
        y8 = Box(SP_ACC, I8, b["y"], (0, dh, 1))
        word = Box(SP_ACC, I32, b["words"] + 4, (0, 0, 0))
        self.v(VFunc.REQUANT, cnt, y8, rows, word, (i32_bits(yq.zero_point), *FULL))
        st_ = store(SP_ACC, b["y"], 1, y.at(st.r0), cnt, (0, y.rs, y.cs), (0, dh, 1))
        emit_store(self.ctx, st_, self.ctx.writes(self.y_name))


def setup(ctx: Ctx, node, lay: dict, tk: int) -> None:
    """Once a layer: the two REQUANT scale words, the scaling table, P's rows of ones, the
    scores a row table has an entry for."""
    words = [pack_requant_scale(node.attr(k)) for k in ("qk_requant", "pv_requant")]
    w = ctx.const(np.array(words, np.uint32).view(np.int32))
    emit_load(ctx, load(SP_ACC, lay["words"], 4, w.addr, (1, 1, 2), (0, 0, 1), (0, 0, 1)), "const")
    if node.attr("tables"):
        t = ctx.const(np.array(node.attr("tables"), np.int8).reshape(-1))
        cnt = (1, 1, 256 * len(node.attr("tables")))
        emit_load(ctx, load(SP_ACC, lay["lut"], 1, t.addr, cnt, (0, 0, 1), (0, 0, 1)), "const")
    e = ctx.const(exp_tables(node.attr("x_scale"), node.attr("p_inv")))
    emit_load(ctx, load(SP_ACC, lay["exp"], 4, e.addr, (1, 1, 512), (0, 0, 1), (0, 0, 1)), "const")
    if "iota" in lay:
        iota = ctx.const(int8_values())
        cnt = (1, 1, LUT_ENTRIES)
        emit_load(ctx, load(SP_ACC, lay["iota"], 1, iota.addr, cnt, (0, 0, 1), (0, 0, 1)), "const")
    ones = ctx.const(np.ones(tk, np.int8))
    for pb in lay["p"]:
        emit_load(ctx, load(SP_IN, pb, 1, ones.addr, (1, 1, tk), (0, 0, 1), (0, 0, 1)), "const")


def lower(ctx: Ctx, node, dims, lead) -> None:
    """The layer: its tiling, the once-a-layer loads, each head's loop, the record."""
    from compiler.lowering.attention import _mat

    tabs = [np.asarray(t, np.int64) for t in node.attr("tables")]
    monotone = len(tabs) <= 1 and all(np.all(np.diff(t) >= 0) for t in tabs)
    p = plan(dims, ctx.config, three_ok=monotone and len(node.inputs) == 3)
    kept, tables, keys, three = p.bufs
    cols = dims[1] if kept else 0
    lay = layouts(p.tm, p.tk, dims[2], ctx.scratch, cols, tables, keys, three)
    for key in ("input", "weight", "acc"):
        lay[key].commit()
    setup(ctx, node, lay, p.tk)
    q, kt, v = node.inputs[:3]
    y = node.outputs[0]
    mask = Mask(ctx, node, dims) if len(node.inputs) > 3 else None
    for idx in np.ndindex(*lead) if lead else [()]:
        mats = {name: _mat(ctx, t, idx) for name, t in (("q", q), ("kt", kt), ("v", v), ("y", y))}
        Head8(ctx, node, dims, (p.tm, p.tk), lay, mats, mask).run()
    heads = int(np.prod(lead, dtype=np.int64))
    ctx.record(
        node,
        macs=2 * heads * dims[0] * dims[1] * dims[2],
        tiling=p.describe() + (" three-pass" if three else " two-pass") + " row-tables" * tables,
        est_cycles=p.est * heads,
        operand_bytes=sum(ctx.type(t).nbytes for t in (q, kt, v, y)),
    )


class Mask:
    """A constant mask of at most two values (``mask_values``, one QEltwise table each) over
    a head's [queries, keys]: each key block's kind, and the indicator of the second value
    (int8 0/1, a constant) for blocks that hold both. A value is skipped where every row has
    an element of the other value and, by the tables, its exp(s_x (S - max)) is exactly 0
    whatever the scores (its largest result is far enough below the other's smallest, which
    bounds the row max from below): its probabilities are the zero point, their P·V terms 0."""

    def __init__(self, ctx: Ctx, node, dims):
        arr = np.asarray(ctx.graph.constants[node.inputs[3]], np.float32)
        arr = arr.reshape(arr.shape[-2:] if arr.ndim >= 2 else (1,) * (2 - arr.ndim) + arr.shape)
        values = node.attr("mask_values")
        self.index = (np.broadcast_to(arr, dims[:2]) == values[-1]).astype(np.int8)
        if len(values) == 1:
            self.index[...] = 0
        p = ctx.const(np.ascontiguousarray(self.index))
        self.mat = Mat(p.addr, dims[1], 1, "const", 1)
        tables = [np.asarray(t, np.int64) for t in node.attr("tables")]
        e = exp_tables(node.attr("x_scale"), node.attr("p_inv"))[:256]
        self.skip = set()
        for a, b in ((0, 1), (1, 0)):
            if len(tables) == 2 and np.all(np.any(self.index == b, axis=1)):
                d = int(tables[a].max() - tables[b].min())
                if d <= 0 and e[d + 255] == 0.0:
                    self.skip.add(a)

    def kind(self, r0: int, n: int, c0: int, kn: int) -> int:
        found = set(np.unique(self.index[r0 : r0 + n, c0 : c0 + kn]).tolist())
        if found <= self.skip:
            return SKIP
        return found.pop() if len(found) == 1 else MIXED
