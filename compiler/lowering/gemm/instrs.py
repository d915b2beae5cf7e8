"""The instructions of one step of the GEMM nest: the A loads of each mode ("shift",
"phase", "im2col", "vcol"), the vcol COPYs, the W load of a K chunk (and kernel-row group)
and the MatMuls of an (M tile, N tile, K chunk) step.
"""

from __future__ import annotations

from itertools import product

from compiler.lowering.common import (
    Box,
    load,
    vector,
)
from compiler.lowering.gemm.buffers import col_base, n_taps, phase_bytes, phases, row_taps
from compiler.lowering.gemm.layer import (
    SP_IN,
    SP_W,
    GemmLayer,
    patch,
    pitch_of,
    sum_rows,
    w_transposed,
    window,
)
from compiler.tiling import GemmTiling
from simulator.isa import MatMul, VFunc, construct


def ones_row(L: GemmLayer, abuf: int, mt, kc):
    """``ColSums``: the Load of the row of ones after an im2col block of M tile ``mt`` and K
    chunk ``kc`` in A buffer ``abuf`` (None without ColSums). No A load of a block of the
    same size writes it, so a buffer keeps it from one such block to the next."""
    if L.epi.col_sums is None:
        return None
    _, _, tr, _, tw = mt
    kt = L.geom.kpos * kc[1]
    at = abuf + tr * tw * kt * L.es
    return load(SP_IN, at, L.es, L.epi.col_sums.ones, (1, 1, kt), (0, 0, 1), (0, 0, 1))


def patch_loads(L: GemmLayer, t: GemmTiling, abuf: int, grp: int, mt, kc, ones=True) -> list:
    """The Loads filling A buffer ``abuf`` for M tile ``mt`` and K chunk ``kc``: one patch
    ("shift", "vcol") or one strided load per kernel position ("im2col", with the row of
    ones of ``ColSums`` first unless ``ones`` is False)."""
    g, x, es = L.geom, L.x, L.es
    b, r0, tr, c0, tw = mt
    k0, tk = kc
    sn, sh_, sw_, sc = x.strides
    chan = grp * g.cin_g + k0
    if t.mode in ("shift", "vcol"):
        pr, pw = patch(L, GemmTiling(tr, tw, 1, tk, t.order, t.mode))
        ih0, iw0 = r0 * g.sh - g.pt, c0 * g.sw - g.pl
        addr = x.addr + (b * sn + ih0 * sh_ + iw0 * sw_ + chan * sc) * es
        win = (window(ih0, 1, pr, g.h), window(iw0, 1, pw, g.w), (0, tk))
        return [
            load(
                SP_IN, abuf, es, addr, (pr, pw, tk), (sh_, sw_, sc), (pw * tk, tk, 1), win, L.x_pad
            )
        ]
    out, kt = [], g.kpos * tk
    row = ones_row(L, abuf, mt, kc) if ones else None
    if row is not None:
        out.append(row)
    for kh, kw in product(range(g.kh), range(g.kw)):
        ih0 = r0 * g.sh - g.pt + kh * g.dh
        iw0 = c0 * g.sw - g.pl + kw * g.dw
        addr = x.addr + (b * sn + ih0 * sh_ + iw0 * sw_ + chan * sc) * es
        win = (window(ih0, g.sh, tr, g.h), window(iw0, g.sw, tw, g.w), (0, tk))
        sp_addr = abuf + (kh * g.kw + kw) * tk * es
        ds = (g.sh * sh_, g.sw * sw_, sc)
        out.append(load(SP_IN, sp_addr, es, addr, (tr, tw, tk), ds, (tw * kt, kt, 1), win, L.x_pad))
    return out


def a_loads(L: GemmLayer, t: GemmTiling, abuf: int, grp: int, mt, kc, ones=True) -> list:
    """``patch_loads``; "phase" mode (strided convolutions): one patch per input phase
    (every sh-th row, every sw-th column), in which each kernel position is a shifted
    window, as in "shift" mode."""
    if t.mode != "phase":
        return patch_loads(L, t, abuf, grp, mt, kc, ones)
    g, x, es = L.geom, L.x, L.es
    b, r0, tr, c0, tw = mt
    k0, tk = kc
    sn, sh_, sw_, sc = x.strides
    chan = grp * g.cin_g + k0
    pw = pitch_of(L, t, tr, tw)
    pr = tr + (g.kh - 1) // g.sh
    size = phase_bytes(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode), tr, tw)
    out = []
    for q, (a, c) in enumerate(phases(L)):
        ih0, iw0 = r0 * g.sh - g.pt + a, c0 * g.sw - g.pl + c
        addr = x.addr + (b * sn + ih0 * sh_ + iw0 * sw_ + chan * sc) * es
        win = (window(ih0, g.sh, pr, g.h), window(iw0, g.sw, pw, g.w), (0, tk))
        ds = (g.sh * sh_, g.sw * sw_, sc)
        sp = abuf + q * size
        out.append(load(SP_IN, sp, es, addr, (pr, pw, tk), ds, (pw * tk, tk, 1), win, L.x_pad))
    return out


def _windows(L: GemmLayer, t: GemmTiling, abuf: int, tr: int, tw: int, tk: int, ri=0) -> list:
    """(A address, rows, K) of each MatMul of an M tile: one per kernel position (of row
    group ``ri``) over a shifted window ("shift", "phase"), or the whole im2col block
    ("im2col", "vcol")."""
    g, es = L.geom, L.es
    if t.mode == "im2col":
        return [(abuf, tr * tw + sum_rows(L), g.kpos * tk)]
    if t.mode == "vcol":
        return [(abuf + col_base(L, t, tr, tw, tk), tr * tw, n_taps(L, t) * tk)]
    pw = pitch_of(L, t, tr, tw)
    m = (tr - 1) * pw + tw
    taps = [divmod(p, g.kw) for p in row_taps(L, t, ri)]
    if t.mode == "shift":
        return [(abuf + (kh * g.dh * pw + kw * g.dw) * tk * es, m, tk) for kh, kw in taps]
    size = phase_bytes(L, GemmTiling(tr, tw, t.tn, tk, t.order, t.mode), tr, tw)
    phase = {pq: i for i, pq in enumerate(phases(L))}
    out = []
    for kh, kw in taps:
        q = phase[(kh % g.sh, kw % g.sw)]
        out.append((abuf + q * size + ((kh // g.sh) * pw + kw // g.sw) * tk * es, m, tk))
    return out


def matmuls(
    L: GemmLayer, t: GemmTiling, bufs, mt, nc, kc, first: bool, w_view=None, ri: int = 0
) -> list:
    """The MatMuls of one (M tile, N tile, K chunk, kernel-row group) step. ``w_view``:
    (width, column) of the N tile in a W panel holding a whole N block (default: the tile)."""
    first = first and L.epi.residual is None  # a preloaded residual: accumulate onto it
    abuf, wbuf, cbuf = bufs
    _, _, tr, _, tw = mt
    tn, tk = nc[1], kc[1]
    width, col = w_view or (tn, 0)
    wt = w_transposed(L)
    out = []
    for p, (a_addr, m, k) in enumerate(_windows(L, t, abuf, tr, tw, tk, ri)):
        if wt:  # stored [N, K]: the tile's rows start at its column of the panel
            w_addr, w_stride = wbuf + (p * tk * width + col * tk) * L.es, tk
        else:
            w_addr, w_stride = wbuf + (p * tk * width + col) * L.es, width
        values = {
            "dtype": int(L.dtype),
            "accumulate": int(not (first and p == 0)),
            "w_transposed": int(wt),
            "a_addr": a_addr,
            "w_addr": w_addr,
            "c_addr": cbuf,
            "m": m,
            "k": k,
            "n": tn,
            "a_stride": k if t.mode in ("im2col", "vcol") else tk,
            "w_stride": w_stride,
            "c_stride": tn,
        }
        mm = construct(MatMul, values)
        out.append(mm)
    return out


def w_load(L: GemmLayer, t: GemmTiling, wbuf: int, grp: int, nc, kc, ri: int):
    """The W of one step: the kernel positions of row group ``ri``, K chunk ``kc``, the N
    range ``nc``, stored [positions, K, N] (or [positions, N, K] when W is transposed)."""
    w, es = L.w, L.es
    n0, tn = nc
    k0, tk = kc
    pos = row_taps(L, t, ri)
    sg, sp_, sk, sn = w.strides
    addr = w.addr + (grp * sg + pos.start * sp_ + k0 * sk + n0 * sn) * es
    if w_transposed(L):
        return load(SP_W, wbuf, es, addr, (len(pos), tn, tk), (sp_, sn, sk), (tn * tk, tk, 1))
    return load(SP_W, wbuf, es, addr, (len(pos), tk, tn), (sp_, sk, sn), (tk * tn, tn, 1))


def a_copies(L: GemmLayer, t: GemmTiling, abuf: int, mt, kc, ri: int = 0) -> list[tuple]:
    """ "vcol" mode: (Vector, dst, src) COPYs gathering the im2col block of kernel-row group
    ``ri`` from the patch, one per kernel row (a row's kw positions are contiguous in both
    when the dilation is 1)."""
    if t.mode != "vcol":
        return []
    g, es = L.geom, L.es
    _, _, tr, _, tw = mt
    tk = kc[1]
    pw = patch(L, GemmTiling(tr, tw, 1, tk, t.order, t.mode))[1]
    kt = n_taps(L, t) * tk
    col = abuf + col_base(L, t, tr, tw, tk)
    first = row_taps(L, t, ri).start
    rows = range(first // g.kw, row_taps(L, t, ri).stop // g.kw)
    runs = [(kh, 0, g.kw) for kh in rows] if g.dw == 1 else []
    runs = runs or [(kh, kw, 1) for kh, kw in product(rows, range(g.kw))]
    out = []
    for kh, kw, nkw in runs:
        src_addr = abuf + ((kh * g.dh) * pw + kw * g.dw) * tk * es
        src = Box(SP_IN, L.dtype, src_addr, (g.sh * pw * tk, g.sw * tk, 1))
        dst_addr = col + (kh * g.kw + kw - first) * tk * es
        dst = Box(SP_IN, L.dtype, dst_addr, (tw * kt, kt, 1))
        out.append((vector(VFunc.COPY, (tr, tw, nkw * tk), dst, src), dst, src))
    return out
