"""LSTM, GRU and RNN: forward, reverse and bidirectional, every output.

1. One GEMM for the input projections of every time step and direction:
   ``P[rows, D*G*H] = X[rows, I] @ [W_0^T | W_1^T] + bias`` (the biases that add linearly
   folded in), into a scratch tensor.
2. Per time step and direction, the recurrent matmul ``h_{t-1} @ R^T`` as one more GEMM
   (its C tile starts from the step's row block of P where the gates are a plain sum: the
   GEMM's residual), then the gate math on the vector unit, tiled over (batch rows, hidden
   columns): the gate pre-activations of a tile, its previous h and c are loaded, the
   activations and products run in the input scratchpad, the new h and c are stored to the
   direction's state buffers and to Y (and to Y_h / Y_c at the last step).

Both GEMMs go through ``conv.gemm_layer`` (the project's GEMM lowering, the same tiling and
loop nest as any MatMul). The state buffers are per direction, so the two directions of a
bidirectional layer share no storage and their steps overlap on the units.

GRU with ``linear_before_reset=0`` needs ``(r * h) @ R_h^T`` after ``r``: its step is two
GEMMs (z and r columns, then the h columns) around the first half of the gate math.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.lowering.common import Ctx, f32_bits
from compiler.lowering.conv import gemm_layer
from compiler.lowering.gemm import Operand
from compiler.lowering.recurrent_tiles import (
    Tile,
    Views,
    at_view,
    dram_operand,
    gate_tiles,
    load_view,
    store_h,
    view_operand,
)
from compiler.opdecl import OpTable
from simulator.isa import VFunc

OPS = OpTable()  # merged into the registry by compiler.ops
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTS = {
    "LSTM": ("Sigmoid", "Tanh", "Tanh"),
    "GRU": ("Sigmoid", "Tanh"),
    "RNN": ("Tanh",),
}
# ONNX activation name -> (vector function, immediates from alpha/beta)
ACT_FUNCS = {
    "Sigmoid": lambda a, b: (VFunc.SIGMOID, 0, 0),
    "Tanh": lambda a, b: (VFunc.TANH, 0, 0),
    "Relu": lambda a, b: (VFunc.RELU, 0, 0),
    "HardSigmoid": lambda a, b: (
        VFunc.HARD_SIGMOID,
        f32_bits(0.2 if a is None else a),
        f32_bits(0.5 if b is None else b),
    ),
    "LeakyRelu": lambda a, b: (VFunc.LEAKY_RELU, f32_bits(0.01 if a is None else a), 0),
}


@dataclass(frozen=True)
class Rnn:
    """The shapes and constants of one recurrent node."""

    op: str
    t: int  # sequence length
    b: int  # batch
    i: int  # input size
    h: int  # hidden size
    d: int  # directions
    layout: int
    acts: tuple[tuple[VFunc, int, int], ...]
    clip: float | None
    lbr: int  # GRU linear_before_reset

    @property
    def g(self) -> int:
        return GATES[self.op]

    @property
    def gh(self) -> int:
        return self.g * self.h


def _const(graph, node, k: int):
    name = node.inputs[k] if len(node.inputs) > k else ""
    return np.asarray(graph.constants[name], np.float32) if name else None


def _acts(node) -> tuple[tuple[VFunc, int, int], ...]:
    d = 2 if node.attr("direction", "forward") == "bidirectional" else 1
    names = node.attr("activations") or DEFAULT_ACTS[node.op] * d
    alphas = list(node.attr("activation_alpha") or [])
    betas = list(node.attr("activation_beta") or [])
    per = len(DEFAULT_ACTS[node.op])
    out = []
    for k, n in enumerate(names[:per]):  # both directions use the first set (checked equal)
        a = alphas[k] if k < len(alphas) else None
        b = betas[k] if k < len(betas) else None
        out.append(ACT_FUNCS[n](a, b))
    return tuple(out)


def describe(node, graph) -> Rnn:
    xt = graph.type(node.inputs[0])
    layout = node.attr("layout", 0)
    t, b, i = xt.shape if layout == 0 else (xt.shape[1], xt.shape[0], xt.shape[2])
    w = graph.constants[node.inputs[1]]
    return Rnn(
        node.op,
        t,
        b,
        i,
        node.attr("hidden_size") or w.shape[1] // GATES[node.op],
        w.shape[0],
        layout,
        _acts(node),
        node.attr("clip"),
        node.attr("linear_before_reset", 0),
    )


def check(node, graph) -> str | None:
    """Why a recurrent node cannot run natively (None: it can)."""
    for k in (1, 2, 3):
        n = node.inputs[k] if len(node.inputs) > k else ""
        if n and not graph.is_const(n):
            return f"input {n!r} (W, R or B) must be constant"
    if graph.type(node.inputs[0]).rank != 3:
        return "X must be 3-D"
    names = node.attr("activations")
    if names:
        per = len(DEFAULT_ACTS[node.op])
        bad = [n for n in names if n not in ACT_FUNCS]
        if bad:
            return f"activation {bad[0]!r} (supported: {', '.join(ACT_FUNCS)})"
        if len(names) > per and tuple(names[:per]) != tuple(names[per:]):
            return "different activations per direction"
        if node.attr("activation_alpha") or node.attr("activation_beta"):
            if len(names) > per:
                return "activation_alpha/beta with two directions"
    if node.op == "LSTM" and node.attr("input_forget", 0):
        return "input_forget=1"
    seq = node.inputs[4] if len(node.inputs) > 4 else ""
    if seq:
        if not graph.is_const(seq):
            return "sequence_lens is not constant (only full-length sequences are supported)"
        xt = graph.type(node.inputs[0])
        t = xt.shape[0] if node.attr("layout", 0) == 0 else xt.shape[1]
        if np.any(np.asarray(graph.constants[seq]) != t):
            return f"sequence_lens shorter than the sequence ({t})"
    if node.op == "LSTM" and len(node.inputs) > 7 and node.inputs[7]:
        p = graph.constants.get(node.inputs[7])
        if p is None or np.any(p != 0):
            return "peephole weights P"
    return None


# --- lowering --------------------------------------------------------------------------------
def _order(node, r: Rnn) -> list[tuple[int, int]]:
    """(time step, direction) in emission order: the directions' steps interleaved."""
    direction = node.attr("direction", "forward")
    rev = [direction == "reverse"] if r.d == 1 else [False, True]
    return [(r.t - 1 - k if rev[d] else k, d) for k in range(r.t) for d in range(r.d)]


def _project(ctx: Ctx, node, r: Rnn, v: Views) -> None:
    w = ctx.graph.constants[node.inputs[1]].astype(np.float32)  # [D, G*H, I]
    b = _const(ctx.graph, node, 3)
    b = np.zeros((r.d, 2 * r.gh), np.float32) if b is None else b
    wb, rb = b[:, : r.gh], b[:, r.gh :]
    bias = wb if (r.op == "GRU" and r.lbr) else wb + rb
    wt = np.concatenate([w[d].T for d in range(r.d)], axis=1)  # [I, D*G*H]
    xp = ctx.place(node.inputs[0])
    x = Operand(xp.addr, (0, 0, r.i, 1), xp.key)
    y = dram_operand(ctx, v.proj, v.addr(v.proj, 0), r.d * r.gh)
    gemm_layer(ctx, node, r.t * r.b, x, wt, y, bias.reshape(-1))


def lower(ctx: Ctx, node) -> None:
    r = describe(node, ctx.graph)
    v = Views(ctx, node, r)
    _project(ctx, node, r, v)
    rmat = ctx.graph.constants[node.inputs[2]].astype(np.float32)  # [D, G*H, H]
    b = _const(ctx.graph, node, 3)
    rb = None if b is None else b[:, r.gh :]
    step = {"LSTM": _lstm_step, "RNN": _rnn_step, "GRU": _gru_step}[r.op]
    h_prev = [v.initial(d, 5) for d in range(r.d)]
    c_prev = [v.initial(d, 6) for d in range(r.d)] if r.op == "LSTM" else None
    steps = _order(node, r)
    for k, (t, d) in enumerate(steps):
        last = k >= len(steps) - r.d
        step(ctx, node, r, v, (t, d, last), rmat[d], rb, h_prev, c_prev)
        h_prev[d] = v.state(d, "h")
        if c_prev is not None:
            c_prev[d] = v.state(d, "c")
    rec = r.t * r.d * r.b * r.gh * r.h
    ctx.record(
        node,
        macs=r.t * r.b * r.i * r.d * r.gh + rec,
        tiling=f"{r.op} T{r.t} B{r.b} H{r.h} D{r.d}: 1 + {r.t * r.d} GEMMs",
    )


def _gemm(ctx, node, r: Rnn, x_view, w: np.ndarray, y_view, bias=None, res_view=None) -> None:
    x = view_operand(ctx, x_view)
    y = view_operand(ctx, y_view)
    res = view_operand(ctx, res_view) if res_view is not None else None
    gemm_layer(ctx, node, r.b, x, w, y, bias, res)


def _lstm_step(ctx, node, r: Rnn, v: Views, where, rmat, rb, h_prev, c_prev) -> None:
    t, d, last = where
    f, g, h = r.acts
    gates = v.state(d, "gates")
    gates = (gates[0], gates[1], r.gh)
    _gemm(ctx, node, r, h_prev[d], rmat.T, gates, res_view=v.proj_step(t, d))
    for b0, tb, j0, tj, base in gate_tiles(ctx, r, 7):
        tile = Tile(ctx, base, tb, tj)
        tile.slot("g", 4)
        for s in ("c", "t1", "t2"):
            tile.slot(s)
        load_view(tile, "g", gates, b0, j0, r.h)
        load_view(tile, "c", c_prev[d], b0, j0)
        tile.clip(r, ("g", 0), 4)
        tile.act(f, ("g", 0), 3)  # i, o, f
        tile.act(g, ("g", 3))  # c~
        tile.op(VFunc.MUL, ("t1", 0), ("g", 2), ("c", 0))
        tile.op(VFunc.MUL, ("t2", 0), ("g", 0), ("g", 3))
        tile.op(VFunc.ADD, ("c", 0), ("t1", 0), ("t2", 0))
        tile.op(h[0], ("t1", 0), ("c", 0), imm=(h[1], h[2], 0))
        tile.op(VFunc.MUL, ("t2", 0), ("g", 1), ("t1", 0))
        for view in [v.state(d, "c")] + ([v.last(v.y_c, d)] if last else []):
            tile.store("c", at_view(view, b0, j0), view[0])
        store_h(tile, v, "t2", where, (b0, j0))


def _rnn_step(ctx, node, r: Rnn, v: Views, where, rmat, rb, h_prev, c_prev) -> None:
    t, d, _ = where
    gates = v.state(d, "gates")
    _gemm(ctx, node, r, h_prev[d], rmat.T, gates, res_view=v.proj_step(t, d))
    for b0, tb, j0, tj, base in gate_tiles(ctx, r, 1):
        tile = Tile(ctx, base, tb, tj)
        tile.slot("g")
        load_view(tile, "g", gates, b0, j0)
        tile.clip(r, ("g", 0), 1)
        tile.act(r.acts[0], ("g", 0))
        store_h(tile, v, "g", where, (b0, j0))


def _gru_step(ctx, node, r: Rnn, v: Views, where, rmat, rb, h_prev, c_prev) -> None:
    (_gru_linear if r.lbr else _gru_reset)(ctx, node, r, v, where, rmat, rb, h_prev)


def _gru_linear(ctx, node, r: Rnn, v: Views, where, rmat, rb, h_prev) -> None:
    """linear_before_reset=1: h~ = g(P_h + r * (h R_h^T + Rb_h)); one GEMM of all gates."""
    t, d, _ = where
    f, g = r.acts
    gates = v.state(d, "gates")
    gates = (gates[0], gates[1], r.gh)
    bias = None if rb is None else rb[d]
    _gemm(ctx, node, r, h_prev[d], rmat.T, gates, bias=bias)
    proj = v.proj_step(t, d)
    for b0, tb, j0, tj, base in gate_tiles(ctx, r, 8):
        tile = Tile(ctx, base, tb, tj)
        tile.slot("p", 3)
        tile.slot("q", 3)
        tile.slot("hp")
        tile.slot("t1")
        load_view(tile, "p", proj, b0, j0, r.h)
        load_view(tile, "q", gates, b0, j0, r.h)
        load_view(tile, "hp", h_prev[d], b0, j0)
        tile.op(VFunc.ADD, ("p", 0), ("p", 0), ("q", 0), width=2)
        tile.clip(r, ("p", 0), 2)
        tile.act(f, ("p", 0), 2)  # z, r
        tile.op(VFunc.MUL, ("t1", 0), ("p", 1), ("q", 2))
        tile.op(VFunc.ADD, ("t1", 0), ("t1", 0), ("p", 2))
        tile.clip(r, ("t1", 0), 1)
        tile.act(g, ("t1", 0))  # h~
        _blend(tile, ("p", 0), ("t1", 0), ("hp", 0), ("q", 0))
        store_h(tile, v, "q", where, (b0, j0))


def _blend(tile: Tile, z, cand, prev, out) -> None:
    """out = cand + z * (prev - cand) = (1 - z) * cand + z * prev."""
    tile.op(VFunc.SUB, out, prev, cand)
    tile.op(VFunc.MUL, out, z, out)
    tile.op(VFunc.ADD, out, cand, out)


def _gru_reset(ctx, node, r: Rnn, v: Views, where, rmat, rb, h_prev) -> None:
    """linear_before_reset=0: z, r from a first GEMM; then (r * h) @ R_h^T, a second."""
    t, d, _ = where
    f, g = r.acts
    gates = v.state(d, "gates")
    gates = (gates[0], gates[1], r.gh)
    _gemm(ctx, node, r, h_prev[d], rmat[: 2 * r.h].T, gates, res_view=v.proj_step(t, d))
    rh, hp = v.state(d, "rh"), v.state(d, "hp")
    for b0, tb, j0, tj, base in gate_tiles(ctx, r, 4):
        tile = Tile(ctx, base, tb, tj)
        tile.slot("g")
        tile.slot("hp")
        load_view(tile, "g", (gates[0], gates[1] + 4 * r.h, r.gh), b0, j0)  # the r columns
        load_view(tile, "hp", h_prev[d], b0, j0)
        tile.clip(r, ("g", 0), 1)
        tile.act(f, ("g", 0))  # r
        tile.op(VFunc.MUL, ("hp", 0), ("g", 0), ("hp", 0))
        tile.store("hp", at_view(rh, b0, j0), rh[0])
    _gemm(ctx, node, r, rh, rmat[2 * r.h :].T, hp, res_view=v.proj_step(t, d, 2))
    for b0, tb, j0, tj, base in gate_tiles(ctx, r, 4):
        tile = Tile(ctx, base, tb, tj)
        for s in ("z", "a", "hp", "o"):
            tile.slot(s)
        load_view(tile, "z", gates, b0, j0)
        load_view(tile, "a", hp, b0, j0)
        load_view(tile, "hp", h_prev[d], b0, j0)
        tile.clip(r, ("z", 0), 1)
        tile.act(f, ("z", 0))
        tile.clip(r, ("a", 0), 1)
        tile.act(g, ("a", 0))  # h~
        _blend(tile, ("z", 0), ("a", 0), ("hp", 0), ("o", 0))
        store_h(tile, v, "o", where, (b0, j0))


def _declare(op: str, extra: str) -> None:
    OPS.declare(
        op,
        "float32",
        "forward, reverse, bidirectional; layout 0/1; initial states; every output; "
        "activations Sigmoid/Tanh/Relu/HardSigmoid/LeakyRelu; clip; " + extra + "; "
        "one GEMM for the input projections, per step a GEMM and the gate math on the vector unit",
        check,
    )(lower)


_declare("LSTM", "no peepholes, input_forget=0")
_declare("GRU", "linear_before_reset 0 (two GEMMs per step) or 1")
_declare("RNN", "any hidden_size")
