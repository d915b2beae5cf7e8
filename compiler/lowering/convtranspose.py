"""ConvTranspose as stride-1 convolutions, one per output phase (sub-pixel decomposition).

Along an axis with stride s, dilation d and begin pad p, output o = r + s*q (phase r) gets
y[o] = sum over taps k with (r + p - k*d) % s == 0 of x[q + (r + p - k*d) / s] * w[k]. The
taps of one phase are k0, k0 + m, ... (m = s / gcd(s, d)), so the phase is an ordinary
correlation over q with the taps reversed, dilation d / gcd(s, d) and begin pad -c_last.
Each phase is a GemmLayer whose output operand writes every s-th pixel of y: no zero MACs,
no upsampled copy. A phase without taps is bias only (one zero-weight 1x1 tap).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from compiler.lowering import conv as convlow
from compiler.lowering.common import Ctx
from compiler.lowering.gemm import GemmLayer, Geom, Operand
from compiler.opdecl import OpTable
from simulator.isa import DType

OPS = OpTable()  # merged into the registry by compiler.ops
declare = OPS.declare


@dataclass(frozen=True)
class Phase:
    r: int  # first output index
    count: int  # outputs r, r + s, ...
    taps: tuple[int, ...]  # kernel index per tap in correlation order; -1: a zero tap
    dil: int
    pad: int  # begin pad of the phase's correlation


def phases(n_out: int, k: int, s: int, d: int, pb: int) -> list[Phase]:
    out = []
    for r in range(min(s, n_out)):
        count = len(range(r, n_out, s))
        ks = [t for t in range(k) if (r + pb - t * d) % s == 0]
        if not ks:
            out.append(Phase(r, count, (-1,), 1, 0))
            continue
        dc = d // np.gcd(s, d)
        c_last = (r + pb - ks[-1] * d) // s
        out.append(Phase(r, count, tuple(reversed(ks)), dc, -c_last))
    return out


def _check(node, graph) -> str | None:
    if graph.type(node.inputs[0]).rank not in (3, 4):
        return "only 1-D and 2-D transposed convolutions"
    if not graph.is_const(node.inputs[1]):
        return "weights must be constant"
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        return f"auto_pad={node.attr('auto_pad')!r} (give explicit pads)"
    if node.attr("output_shape") is not None:
        return "output_shape attribute (give explicit pads and output_padding)"
    return None


def _attrs2d(node, rank: int):
    k = len(node.attr("kernel_shape") or ()) or (rank - 2)
    s = tuple(node.attr("strides") or (1,) * k)
    d = tuple(node.attr("dilations") or (1,) * k)
    p = tuple(node.attr("pads") or (0,) * (2 * k))
    if node.attr("auto_pad", "NOTSET") == "VALID":
        p = (0,) * (2 * k)
    if k == 1:
        return (1, *s), (1, *d), (0, p[0])
    return s, d, p[:2]


@declare(
    "ConvTranspose",
    "float32",
    "2-D and 1-D; groups, strides, dilations, pads, output_padding; constant weights; "
    "one stride-1 convolution per output phase; auto_pad SAME_* and output_shape rejected",
    _check,
)
def lower_convtranspose(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xt, yt = ctx.type(x), ctx.type(y)
    w = ctx.graph.constants[node.inputs[1]].astype(np.float32)
    if xt.rank == 3:
        w = w[:, :, None, :]
    groups = node.attr("group", 1)
    cin, cout_g = w.shape[:2]
    cout = cout_g * groups
    wc = w.reshape(groups, cin // groups, cout_g, *w.shape[2:]).transpose(0, 2, 1, 3, 4)
    wc = np.pad(wc.reshape(cout, cin // groups, *w.shape[2:]), ((0, 0), (0, 0), (0, 1), (0, 1)))
    s, d, pb = _attrs2d(node, xt.rank)
    axes = (0, 2, 3, 1) if xt.rank == 4 else (0, None, 2, 1)
    n, h, wd = xt.shape[0], *((xt.shape[2:]) if xt.rank == 4 else (1, xt.shape[2]))
    oh, ow = yt.shape[2:] if yt.rank == 4 else (1, yt.shape[2])
    bias = ctx.graph.constants[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    xo, yo = convlow.operand(ctx, x, axes), convlow.operand(ctx, y, axes)
    ph = phases(oh, w.shape[2], s[0], d[0], pb[0])
    pw = phases(ow, w.shape[3], s[1], d[1], pb[1])
    tilings = []
    for a, b in product(ph, pw):
        kh, kw = len(a.taps), len(b.taps)
        g = Geom(
            n, h, wd, cin, a.count, b.count, cout, kh, kw, 1, 1, a.dil, b.dil, a.pad, b.pad, groups
        )
        wk = wc[:, :, list(a.taps)][:, :, :, list(b.taps)]
        sn, sh_, sw_, sc = yo.strides
        yaddr = yo.addr + (a.r * sh_ + b.r * sw_) * 4
        yph = Operand(yaddr, (sn, sh_ * s[0], sw_ * s[1], sc), yo.key, yo.writes)
        layer = GemmLayer(
            node.name,
            g,
            DType.FP32,
            DType.FP32,
            xo,
            yph,
            convlow._const_operand(ctx, convlow.arrange_conv_weights(wk, g)),
            convlow._epilogue(ctx, node, cout, bias),
        )
        t = convlow._run(ctx, node, layer)
        tilings.append(t.describe(g.kpos))
    macs = n * h * wd * cin * cout_g * w.shape[2] * w.shape[3]
    ctx.record(node, macs=macs, tiling="; ".join(sorted(set(tilings))))
