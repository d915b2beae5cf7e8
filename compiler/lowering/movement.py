"""Data movement on the DMA engines: Concat, Split, Slice, Pad, Resize (nearest).

Each op is one or more strided N-d copies DRAM -> input scratchpad -> DRAM. A copy reads a
source ``View`` (byte address of the element output index 0 maps to, element strides per output
axis) and writes a destination ``View``; a per-axis window of valid output indices makes the
LOAD fill everything outside it with the pad pattern (Pad's constant).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from compiler.lowering.common import Ctx, emit_load, emit_store, f32_bits, load, store
from compiler.lowering.gemm import window
from compiler.opdecl import OpTable
from simulator.isa import Scratchpad

OPS = OpTable(weights=False)  # merged into the registry by compiler.ops
declare = OPS.declare

SP = Scratchpad.INPUT
ANY = frozenset({"float32", "int32", "int64", "bool"})


@dataclass(frozen=True)
class View:
    addr: int
    strides: tuple[int, ...]


def _view(ctx: Ctx, tensor: str, start: tuple[int, ...] | None = None, steps=None) -> View:
    """``tensor`` read from logical index ``start`` with per-axis index steps (a constant
    from the constant segment)."""
    p = ctx.const_place(tensor) if ctx.graph.is_const(tensor) else ctx.place(tensor)
    start = start or (0,) * len(p.strides)
    steps = steps or (1,) * len(p.strides)
    off = sum(i * s for i, s in zip(start, p.strides, strict=True))
    return View(
        p.addr + off * p.itemsize, tuple(s * k for s, k in zip(p.strides, steps, strict=True))
    )


def _merge(shape, src, dst, valid):
    """Drop size-1 axes; merge neighbours contiguous in both views with full windows."""
    axes = [(n, s, d, v) for n, s, d, v in zip(shape, src, dst, valid, strict=True) if n != 1]
    out: list[list] = []
    for n, s, d, v in axes:
        if out:
            pn, ps, pd, pv = out[-1]
            full = pv == (0, pn) and v == (0, n)
            if full and ps == s * n and pd == d * n:
                out[-1] = [pn * n, s, d, (0, pn * n)]
                continue
        out.append([n, s, d, v])
    while len(out) < 3:
        out.insert(0, [1, 0, 0, (0, 1)])
    return out


def copy(ctx: Ctx, shape, src: View, dst: View, x_key: str, y: str, valid=None, pad=0) -> None:
    """dst[i] = src[i] for i inside ``valid`` (per-axis output ranges), else ``pad``."""
    valid = valid or tuple((0, n) for n in shape)
    if prod(shape) == 0:
        return
    axes = _merge(shape, src.strides, dst.strides, valid)
    dims = [a[0] for a in axes]
    es = ctx.place(y).itemsize
    copies = ctx.scratch.copies(SP, 2)
    tiles = _tile_sizes(dims[-3:], axes[-3:], copies.capacity // es)
    copies.use(prod(tiles) * es)
    buf = 0
    for outer in np.ndindex(*dims[:-3]):
        for starts in np.ndindex(*(-(-d // t) for d, t in zip(dims[-3:], tiles, strict=True))):
            origin = (*outer, *(s * t for s, t in zip(starts, tiles, strict=True)))
            _tile(ctx, axes, origin, tiles, (src, dst), (x_key, y), pad, copies.base(buf))
            buf ^= 1


def _tile_sizes(dims, axes, budget: int) -> tuple[int, ...]:
    """The source's and the destination's most contiguous dims get at least a burst's worth
    (64 elements), then the budget fills from the innermost dim out."""
    tiles = [1, 1, 1]
    for col in (1, 2):
        i = min(range(3), key=lambda d: (abs(axes[d][col]) or 1 << 60, -d))
        tiles[i] = min(dims[i], max(tiles[i], min(64, budget // prod(tiles))))
    for i in (2, 1, 0):
        rest = prod(t for j, t in enumerate(tiles) if j != i)
        tiles[i] = min(dims[i], max(tiles[i], budget // rest))
    return tuple(tiles)


def _tile(ctx, axes, origin, tiles, views, names, pad, base) -> None:
    src, dst = views
    x_key, y = names
    es = ctx.place(y).itemsize
    counts = tuple(min(t, a[0] - o) for t, a, o in zip(tiles, axes[-3:], origin[-3:], strict=True))
    soff = sum(o * a[1] for o, a in zip(origin, axes, strict=True))
    doff = sum(o * a[2] for o, a in zip(origin, axes, strict=True))
    inside = all(a[3][0] <= o < a[3][1] for o, a in zip(origin[:-3], axes[:-3], strict=True))
    win = [
        window(o - a[3][0], 1, n, a[3][1] - a[3][0])
        for o, a, n in zip(origin[-3:], axes[-3:], counts, strict=True)
    ]
    if not inside:
        win[0] = (0, 0)
    ss = (counts[1] * counts[2], counts[2], 1)
    ds_src = tuple(a[1] for a in axes[-3:])
    ds_dst = tuple(a[2] for a in axes[-3:])
    load_ = load(SP, base, es, src.addr + soff * es, counts, ds_src, ss, tuple(win), pad)
    emit_load(ctx, load_, x_key)
    emit_store(ctx, store(SP, base, es, dst.addr + doff * es, counts, ds_dst, ss), ctx.writes(y))


def _key(ctx: Ctx, tensor: str) -> str:
    return "const" if ctx.graph.is_const(tensor) else ctx.place(tensor).key


def _consts(ctx_or_graph, name: str):
    g = ctx_or_graph.graph if isinstance(ctx_or_graph, Ctx) else ctx_or_graph
    return None if not name else np.asarray(g.constants[name]).tolist()


def _inputs_const(node, graph, first: int = 1) -> str | None:
    for i in node.inputs[first:]:
        if i and not graph.is_const(i):
            return f"input {i!r} must be constant"
    return None


# --- Transpose / Relayout -------------------------------------------------------------------
@declare(
    "Transpose",
    "float32, int32, int64, bool, int8 (QDQ, equal quantisation)",
    "any perm (a strided DMA copy, both sides in whole bursts; free when it only moves axes of size 1 on row-major data)",
    accepts=ANY,
)
def lower_transpose(ctx: Ctx, node) -> None:
    if node.attr("alias"):  # only moves axes of size 1 (passes.layout.relabels): no copy
        return
    x, y = node.inputs[0], node.outputs[0]
    xp = ctx.place(x)
    perm = node.attr("perm") or tuple(reversed(range(len(xp.strides))))
    src = View(xp.addr, tuple(xp.strides[p] for p in perm))
    copy(ctx, ctx.type(y).shape, src, _view(ctx, y), xp.key, y)
    ctx.record(node, macs=0)


@declare(
    "Relayout",
    "float32, int8",
    "compiler-inserted: change a tensor's DRAM layout",
    internal=True,
)
def lower_relayout(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    copy(ctx, ctx.type(y).shape, _view(ctx, x), _view(ctx, y), _key(ctx, x), y)
    ctx.record(node, macs=0)


# --- Concat / Split ------------------------------------------------------------------------
@declare(
    "Concat",
    "float32, int32, int64, bool, int8 (QDQ; other quantisations requantised)",
    "any axis; one strided DMA copy per input",
    accepts=ANY,
)
def lower_concat(ctx: Ctx, node) -> None:
    y = node.outputs[0]
    rank = ctx.type(y).rank
    axis = node.attr("axis") % rank
    off = 0
    for x in node.inputs:
        shape = ctx.type(x).shape
        start = tuple(off if a == axis else 0 for a in range(rank))
        copy(ctx, shape, _view(ctx, x), _view(ctx, y, start), _key(ctx, x), y)
        off += shape[axis]
    ctx.record(node, macs=0)


def _check_split(node, graph) -> str | None:
    return _inputs_const(node, graph)


@declare(
    "Split",
    "float32, int32, int64, bool, int8 (QDQ, equal quantisation)",
    "any axis; split sizes from the input, attribute or num_outputs",
    _check_split,
    accepts=ANY,
)
def lower_split(ctx: Ctx, node) -> None:
    x = node.inputs[0]
    rank = ctx.type(x).rank
    axis = node.attr("axis", 0) % rank
    off = 0
    for y in node.outputs:
        shape = ctx.type(y).shape if y else None
        if shape is None:
            continue
        start = tuple(off if a == axis else 0 for a in range(rank))
        if y in ctx.places:
            copy(ctx, shape, _view(ctx, x, start), _view(ctx, y), _key(ctx, x), y)
        off += shape[axis]
    ctx.record(node, macs=0)


# --- Slice -----------------------------------------------------------------------------------
def _check_slice(node, graph) -> str | None:
    return _inputs_const(node, graph)


def slice_params(node, graph, shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-axis first index and step (numpy slicing semantics, which ONNX's clamping equals)."""
    if len(node.inputs) > 1:
        starts, ends = _consts(graph, node.inputs[1]), _consts(graph, node.inputs[2])
        axes = _consts(graph, node.inputs[3]) if len(node.inputs) > 3 else None
        steps = _consts(graph, node.inputs[4]) if len(node.inputs) > 4 else None
    else:
        starts, ends, axes, steps = (node.attr(k) for k in ("starts", "ends", "axes", None))
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    first, step = [0] * len(shape), [1] * len(shape)
    for s, e, a, k in zip(starts, ends, axes, steps, strict=True):
        a = int(a) % len(shape)
        big = 2**62
        r = range(
            *slice(max(min(int(s), big), -big), max(min(int(e), big), -big), int(k)).indices(
                shape[a]
            )
        )
        first[a], step[a] = (r.start if len(r) else 0), int(k)
    return tuple(first), tuple(step)


@declare(
    "Slice",
    "float32, int32, int64, bool, int8 (QDQ, equal quantisation)",
    "constant starts/ends/axes/steps, negative steps too",
    _check_slice,
    accepts=ANY,
)
def lower_slice(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    first, step = slice_params(node, ctx.graph, ctx.type(x).shape)
    copy(ctx, ctx.type(y).shape, _view(ctx, x, first, step), _view(ctx, y), _key(ctx, x), y)
    ctx.record(node, macs=0)


# --- Pad -------------------------------------------------------------------------------------
PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _check_pad(node, graph) -> str | None:
    mode = node.attr("mode", "constant")
    if mode not in PAD_MODES:
        return f"mode={mode!r}"
    reason = _inputs_const(node, graph)
    if reason is None and graph.type(node.outputs[0]).dtype == "int64":
        value = pad_params(node, graph, graph.type(node.inputs[0]).rank)[1]
        if not 0 <= value < 2**31:
            return f"int64 pad value {value:g} (the DMA's 32-bit pad pattern: 0 <= value < 2**31)"
    if reason or mode == "constant":
        return reason
    shape = graph.type(node.inputs[0]).shape
    pads, _ = pad_params(node, graph, len(shape))
    for a, n in enumerate(shape):
        before, after = pads[a], pads[a + len(shape)]
        limit = n - 1 if mode == "reflect" else n
        if min(before, after) < 0 or ((before or after) and max(before, after) > limit):
            return f"mode={mode!r} with pads {before}, {after} on an axis of {n}"
    return None


def pad_bits(value: float, t) -> int:
    """The DMA pad pattern of ``value`` in ``t``'s dtype (the low element-size bytes count)."""
    if t.dtype == "float32":
        return f32_bits(value)
    return int(value) & 0xFFFFFFFF


def pad_params(node, graph, rank) -> tuple[list[int], float]:
    if len(node.inputs) > 1 and node.inputs[1]:
        pads = [int(p) for p in _consts(graph, node.inputs[1])]
        value = node.inputs[2] if len(node.inputs) > 2 else ""
        value = float(np.asarray(graph.constants[value]).reshape(-1)[0]) if value else 0.0
    else:
        pads, value = list(node.attr("pads")), float(node.attr("value", 0.0))
    axes = _consts(graph, node.inputs[3]) if len(node.inputs) > 3 and node.inputs[3] else None
    if axes is not None:
        full = [0] * (2 * rank)
        for i, a in enumerate(axes):
            full[int(a) % rank] = pads[i]
            full[int(a) % rank + rank] = pads[i + len(axes)]
        pads = full
    return pads, value


@declare(
    "Pad",
    "float32, int32, int64, bool, int8 (QDQ, equal quantisation: the value quantised)",
    "mode 'constant' (any value, negative pads crop); 'reflect', 'edge' and 'wrap' "
    "(pads within the axis): the interior copy, then per axis the borders copied from the "
    "output itself (a reversed, stride-0 or shifted strided view)",
    _check_pad,
    accepts=ANY,
)
def lower_pad(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xshape, yshape = ctx.type(x).shape, ctx.type(y).shape
    rank = len(xshape)
    pads, value = pad_params(node, ctx.graph, rank)
    begin = pads[:rank]
    src = _view(ctx, x, tuple(-b for b in begin))
    valid = tuple((max(b, 0), min(b + n, m)) for b, n, m in zip(begin, xshape, yshape, strict=True))
    copy(ctx, yshape, src, _view(ctx, y), _key(ctx, x), y, valid, pad_bits(value, ctx.type(y)))
    mode = node.attr("mode", "constant")
    if mode != "constant":
        for axis in range(rank):
            _pad_borders(ctx, y, axis, mode, xshape, begin)
    ctx.record(node, macs=0)


def _pad_borders(ctx: Ctx, y: str, axis: int, mode: str, xshape, begin) -> None:
    """Fill the two borders of ``axis`` from ``y`` itself: full extent on the axes before
    (already padded), the interior on the axes after."""
    yshape = ctx.type(y).shape
    n, b = xshape[axis], begin[axis]
    sizes = (b, yshape[axis] - b - n)
    # first source index along the axis and its step, per border
    src = {
        "reflect": ((2 * b, -1), (b + n - 2, -1)),
        "edge": ((b, 0), (b + n - 1, 0)),
        "wrap": ((n, 1), (b, 1)),
    }[mode]
    before = [(yshape[a], 0) for a in range(axis)]  # (extent, first index) per axis
    after = [(xshape[a], begin[a]) for a in range(axis + 1, len(yshape))]
    for side, size in enumerate(sizes):
        if size <= 0:
            continue
        first, step = src[side]
        shape = tuple(e for e, _ in before) + (size,) + tuple(e for e, _ in after)
        lead, tail = tuple(f for _, f in before), tuple(f for _, f in after)
        ones = (1,) * len(before), (1,) * len(after)
        view = _view(ctx, y, (*lead, first, *tail), (*ones[0], step, *ones[1]))
        dst = _view(ctx, y, (*lead, 0 if side == 0 else b + n, *tail))
        copy(ctx, shape, view, dst, _key(ctx, y), y)


# --- Resize (nearest) ------------------------------------------------------------------------
RESIZE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
)


def _check_resize(node, graph) -> str | None:
    if node.attr("mode", "nearest") != "nearest":
        return f"mode={node.attr('mode')!r} (only 'nearest' is implemented)"
    ctm = node.attr("coordinate_transformation_mode", "half_pixel")
    if ctm not in RESIZE_MODES:
        return f"coordinate_transformation_mode={ctm!r}"
    if node.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        return f"keep_aspect_ratio_policy={node.attr('keep_aspect_ratio_policy')!r}"
    if node.opset < 11:
        return "opset < 11 (scales as the second input)"
    return _inputs_const(node, graph)


def resize_index(node, graph, axis: int, n_in: int, n_out: int) -> np.ndarray:
    """Input index of every output index along ``axis``, from onnx's reference Resize run on
    arange(n_in) (the axes are independent in nearest mode)."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    rank = len(graph.type(node.inputs[0]).shape)
    shape = [1] * rank
    shape[axis] = n_in
    x = np.arange(n_in, dtype=np.float32).reshape(shape)
    scales = _consts(graph, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    attrs = {k: v for k, v in node.attrs.items() if k != "axes"}
    names = node.attr("axes")
    if scales:
        full = [1.0] * rank
        for i, a in enumerate(names or range(rank)):
            full[int(a) % rank] = float(scales[i])
        full = [full[a] if a == axis else 1.0 for a in range(rank)]
        extra = {"scales": np.array(full, np.float32)}
    else:
        extra = {"sizes": np.array([n_out if a == axis else 1 for a in range(rank)], np.int64)}
    inits = [numpy_helper.from_array(v, k) for k, v in extra.items()]
    ins = ["x", "", "scales" if scales else "", "" if scales else "sizes"]
    g = helper.make_graph(
        [helper.make_node("Resize", ins, ["y"], **attrs)],
        "r",
        [helper.make_tensor_value_info("x", 1, shape)],
        [helper.make_tensor_value_info("y", 1, None)],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", max(node.opset, 13))])
    return ReferenceEvaluator(m).run(None, {"x": x})[0].reshape(-1).astype(np.int64)


def _pieces(
    idx: np.ndarray,
) -> list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """Cover out indices by pieces (out start, in start, counts, (out strides, in strides))
    of one or two axes: repeat form idx = a + (o // r) * d, else arithmetic runs per phase."""
    n = len(idx)
    r = int(np.argmax(idx != idx[0])) if np.any(idx != idx[0]) else n
    if n % r == 0:
        q = idx[::r]
        d = int(q[1] - q[0]) if len(q) > 1 else 0
        if np.array_equal(idx, idx[0] + (np.arange(n) // r) * d):
            return [(0, int(idx[0]), (n // r, r), ((r, 1), (d, 0)))]
    for period in range(1, n + 1):
        out = []
        for p in range(min(period, n)):
            seq = idx[p::period]
            d = int(seq[1] - seq[0]) if len(seq) > 1 else 0
            if not np.array_equal(seq, seq[0] + np.arange(len(seq)) * d):
                break
            out.append((p, int(seq[0]), (len(seq),), ((period,), (d,))))
        else:
            return out
    raise AssertionError("unreachable")


@declare(
    "Resize",
    "float32, int8 (QDQ, equal quantisation)",
    "mode 'nearest' (every nearest_mode), scales or sizes, coordinate_transformation_mode "
    "half_pixel/half_pixel_symmetric/pytorch_half_pixel/align_corners/asymmetric",
    _check_resize,
)
def lower_resize(ctx: Ctx, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xshape, yshape = ctx.type(x).shape, ctx.type(y).shape
    per_axis = []
    for a, (ni, no) in enumerate(zip(xshape, yshape, strict=True)):
        idx = resize_index(node, ctx.graph, a, ni, no)
        per_axis.append(_pieces(idx))
    xp, yp = ctx.place(x), ctx.place(y)
    for combo in np.ndindex(*(len(p) for p in per_axis)):
        shape, xs, ys, xoff, yoff = [], [], [], 0, 0
        for a, k in enumerate(combo):
            o0, i0, counts, (ostr, istr) = per_axis[a][k]
            shape += counts
            xs += [s * xp.strides[a] for s in istr]
            ys += [s * yp.strides[a] for s in ostr]
            xoff += i0 * xp.strides[a]
            yoff += o0 * yp.strides[a]
        src = View(xp.addr + xoff * xp.itemsize, tuple(xs))
        dst = View(yp.addr + yoff * yp.itemsize, tuple(ys))
        copy(ctx, tuple(shape), src, dst, xp.key, y)
    ctx.record(node, macs=0)
