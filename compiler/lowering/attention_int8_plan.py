"""The plan of int8 exact attention (``attention_int8.py``): the buffers of a (query rows, key
columns) tiling, whether they fit, its cycles by ``cost()``, and the cheapest plan. A plan's
options (``Plan.bufs``):

- ``kept``: a query block's int8 scores kept for the later passes in the input scratchpad,
  or computed again (K reloaded, the same arithmetic);
- ``tables``: pass 2's probabilities looked up in a table per query row (its 256 entries by
  the steps pass 2 would take on each score), or computed score by score;
- ``keys``: a head's K zero-point terms, one word a key, kept for its later query blocks;
- ``three``: three passes over the kept scores: the row max of the scores REQUANTed (a
  monotone scaling table commutes with the max), their sum through a table per row of
  exp(s_x (T[s] - m)), and the probabilities through a second table per row: two vector
  steps a score fewer than two passes with row tables, for a maskless attention.
"""

from __future__ import annotations

from itertools import product

from compiler.lowering.attention import search
from compiler.lowering.common import Box, load, vector
from compiler.scratch import Scratch, align
from simulator.cost import cost
from simulator.errors import ConfigError
from simulator.isa import LUT_ENTRIES, DType, MatMul, Scratchpad, VFunc

SP_IN, SP_W, SP_ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC
FP, I8 = DType.FP32, DType.INT8


def layouts(
    tm: int, tk: int, dh: int, scratch: Scratch, cols=0, tables=False, keys=0, three=False
) -> dict:
    """Each buffer's copies (byte addresses) and the three scratchpads' layouts; ``cols``:
    the int8 scores of a whole query block (``cols`` keys) kept in the input scratchpad;
    ``tables``: each query row's table of probabilities by score ("t8", built in "tf");
    ``keys``: a head's K zero-point terms, one word a key ("ck"); ``three``: each row's
    table of exp(s_x (T[s] - m)) ("te")."""
    inp, wgt, acc = (scratch.layout(sp) for sp in (SP_IN, SP_W, SP_ACC))
    out = {"q": inp.take(tm * dh, 2), "p": inp.take((tm + 1) * tk, 2)}
    out |= {"k": wgt.take(tk * dh, 2), "v": wgt.take(tk * (dh + 1), 2)}
    out["s"] = acc.take(tm * tk * 4, 2)
    if cols:
        out |= {"s8": inp.take(tm * cols)[0], "s8sp": SP_IN, "s8rs": cols}
    else:
        out |= {"s8": acc.take(tm * tk)[0], "s8sp": SP_ACC, "s8rs": tk}
    out |= {"e": acc.take(tm * tk * 4)[0], "o": acc.take((tm + 1) * (dh + 1) * 4, 2)}
    out |= {"y": acc.take(tm * dh)[0]}
    out |= {"sel": acc.take(tm * tk)[0], "ind": acc.take(tm * tk)[0]}  # a mixed mask block
    extra = tm * LUT_ENTRIES + LUT_ENTRIES + 128 if tables else 0
    # only the vector unit uses these, so they share pages: per-row vectors m (2), r, c, l;
    # 2 words; 4 tables; Q's and K's zero-point terms (2 each); with row tables, each row's
    # probabilities by score and the scores -128 .. 127
    rows = acc.take(5 * tm * 4 + 8 + 512 + 2048 + 64 + 2 * (tm + tk) * 4 + 64 + extra)[0]
    out |= {"m": (rows, rows + tm * 4), "r": rows + 2 * tm * 4, "c": rows + 3 * tm * 4}
    out |= {"l": rows + 4 * tm * 4, "words": rows + 5 * tm * 4, "lut": rows + 5 * tm * 4 + 8}
    out["exp"] = align(out["lut"] + 512)
    at = align(out["exp"] + 2048)
    out["rc"] = (at, at + tm * 4)
    out["cc"] = (at + 2 * tm * 4, at + 2 * tm * 4 + tk * 4)
    at = align(at + 2 * (tm + tk) * 4)
    if keys:
        out["ck"] = acc.take(keys * 4)[0]
    if tables:  # the fp32 working copy in e's buffer when a row of it holds a table
        out["t8"] = at
        out["iota"] = align(out["t8"] + tm * LUT_ENTRIES)
        out["tf"] = out["e"] if tk >= LUT_ENTRIES else acc.take(tm * LUT_ENTRIES * 4)[0]
    if three:
        out["te"] = acc.take(tm * LUT_ENTRIES * 4)[0]
    return out | {"input": inp, "weight": wgt, "acc": acc}


def fits(tm: int, tk: int, dh: int, config, cols=0, tables=False, keys=0, three=False) -> bool:
    lay = layouts(tm, tk, dh, Scratch(config), cols, tables, keys, three)
    return all(lay[key].fits for key in ("input", "weight", "acc"))


def estimate(tm, tk, dims, config, kept=False, tables=False, keys=0, three=False) -> int:
    """Cycles of one head by ``cost()``: per key block and pass the busiest of the array, the
    vector unit and the DMA, plus each query block's load, tables and output steps."""
    sq, sk, dh = dims
    n, kn = min(tm, sq), min(tk, sk)
    box = Box(SP_ACC, FP, 0, (0, 1, 0))

    def vec(funcs, cnt=(1, n, kn)):
        return sum(cost(vector(f, cnt, box, box), config) for f in funcs)

    def mm(m, k, nn):
        return cost(MatMul(dtype=int(I8), m=m, k=k, n=nn), config)

    def dma(rows, cols):
        return cost(load(SP_W, 0, 1, 0, (1, rows, cols), (0, cols, 1), (0, cols, 1)), config)

    V, row = VFunc, (1, n, LUT_ENTRIES)
    kterm = vec((V.RSUM,), (1, kn, dh)) + vec((V.MUL_IMM,), (1, 1, kn))  # K's zero-point term
    score = vec((V.ADD, V.REQUANT) if three else (V.ADD, V.REQUANT, V.LUT)) + kterm * (not keys)
    one = vec((V.RMAX,) if three else (V.RMAX, V.SUB, V.LUT, V.RSUM)) + score
    one = max(one, mm(n, dh, kn), dma(kn, dh))
    again = not kept  # pass 2 computes the scores again
    prob = (V.SUB, V.LUT, V.DIV, V.QUANT)  # a probability's steps, or those of a table entry
    build = vec(prob, row) if tables else 0
    two = vec((V.LUT,) if tables else prob) + score * again
    two = max(
        two, mm(n, dh, kn) * again + mm(n + 1, kn, dh + 1), dma(kn, dh) * again + dma(kn, dh + 1)
    )
    if three:  # the sums' pass, and its tables
        two, build = two + vec((V.LUT, V.RSUM)), build + vec((V.SUB, V.LUT), row)
    tail = dma(n, dh) + vec((V.ADD, V.ADD, V.REQUANT), (1, n, dh))
    blocks = -(-sk // tk)
    return -(-sq // tm) * (blocks * (one + two) + tail + build) + blocks * kterm * bool(keys)


def plan(dims, config, three_ok: bool = False):
    """The (query rows, key columns) tiling of least estimated cycles that fits, over the
    options of the module docstring (``three`` only where ``three_ok``): ``Plan.bufs`` is
    (kept, tables, keys, three)."""
    plans = []
    options = [(*o, False) for o in product((False, True), (False, True), (dims[1], 0))]
    if three_ok:
        options += [(True, True, keys, True) for keys in (dims[1], 0)]
    for kept, tables, keys, three in options:
        cols = dims[1] if kept else 0

        def layout(tm, tk, o=(kept, tables, keys, three), cols=cols):
            return o if fits(tm, tk, dims[2], config, cols, *o[1:]) else None

        def est(tm, tk, d, c, o=(kept, tables, keys, three)):
            return estimate(tm, tk, d, c, *o)

        try:
            plans.append(search(dims, layout, est, config))
        except ConfigError:
            continue
    if not plans:
        raise ConfigError(
            f"attention with head dim {dims[2]} does not fit this config's scratchpads"
        )
    return min(plans, key=lambda p: p.est)
