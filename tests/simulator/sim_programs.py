"""Hand-built programs shared by the simulator tests (no compiler involved)."""

import numpy as np

from simulator.builder import ProgramBuilder, dma
from simulator.isa import DType, Load, MatMul, Store, Unit
from simulator.semantics import NUMPY_DTYPE
from simulator.vector import bf16_to_fp32, fp32_to_bf16

LD, MX, VE, ST = (1 << u for u in Unit)
RNG = np.random.default_rng(42)


def gemm_program(config, m, k, n, dtype: DType, w_transposed=False, accumulate_twice=False):
    """y = x @ w (twice, accumulating, when accumulate_twice) with w a constant."""
    b = ProgramBuilder(config)
    store = np.dtype(NUMPY_DTYPE[dtype])
    x = b.input("x", (m, k), store.name)
    y = b.output("y", (m, n), "float32" if dtype.is_float else "int32")
    w_shape = (n, k) if w_transposed else (k, n)
    w_values = _random(w_shape, dtype)
    w = b.constant("w", w_values)
    es = store.itemsize
    b.emit(dma(Load, 0, 0, x.addr, (m, k), esize=es))
    b.emit(dma(Load, 1, 0, w.addr, w_shape, esize=es, signal=MX))
    mm = MatMul(
        dtype=dtype,
        w_transposed=int(w_transposed),
        m=m,
        k=k,
        n=n,
        a_stride=k,
        w_stride=w_shape[1],
        c_stride=n,
    )
    if accumulate_twice:
        b.emit(mm.replace(wait=LD))
        b.emit(mm.replace(accumulate=1, signal=ST))
    else:
        b.emit(mm.replace(wait=LD, signal=ST))
    b.emit(dma(Store, 2, 0, y.addr, (m, n), esize=4, wait=MX))
    return b.build(), w_values


def _random(shape, dtype: DType) -> np.ndarray:
    if dtype == DType.INT8:
        return RNG.integers(-128, 128, shape).astype(np.int8)
    if dtype == DType.UINT8:
        return RNG.integers(0, 256, shape).astype(np.uint8)
    values = RNG.standard_normal(shape).astype(np.float32)
    if dtype == DType.BF16:
        return fp32_to_bf16(values)
    return values.astype(NUMPY_DTYPE[dtype])


def _as_fp32(a, dtype):
    return bf16_to_fp32(a) if dtype == DType.BF16 else a.astype(np.float32)


def conv_program(config, h, w, cin, cout, double_buffer=True):
    """3x3 conv, pad 1, as 9 accumulating tiles; each tile's input is a padded DMA window.

    With double_buffer the input tiles alternate between two buffers, so LOAD runs one tile
    ahead of MATRIX; otherwise each load waits for the previous matmul.
    """
    b = ProgramBuilder(config)
    x = b.input("x", (h, w, cin), "int8")
    y = b.output("y", (h, w, cout), "int32")
    weights = RNG.integers(-128, 128, (3, 3, cin, cout)).astype(np.int8)
    wt = b.constant("w", weights)
    b.emit(dma(Load, 1, 0, wt.addr, (9 * cin, cout)), "weights")
    ahead = 2 if double_buffer else 1
    tile = h * w * cin
    for t in range(9):
        kh, kw = divmod(t, 3)
        buf = (t % ahead) * tile
        load = dma(
            Load,
            0,
            buf,
            x.addr + ((kh - 1) * w + (kw - 1)) * cin,
            (h, w, cin),
            lo0=max(0, 1 - kh),
            hi0=min(h, h + 1 - kh),
            lo1=max(0, 1 - kw),
            hi1=min(w, w + 1 - kw),
            wait=MX if t >= ahead else 0,
            signal=MX,
        )
        b.emit(load, "conv")
        mm = MatMul(
            wait=LD,
            signal=(LD if t + ahead < 9 else 0) | (ST if t == 8 else 0),
            dtype=DType.INT8,
            accumulate=int(t > 0),
            a_addr=buf,
            w_addr=t * cin * cout,
            m=h * w,
            k=cin,
            n=cout,
            a_stride=cin,
            w_stride=cout,
            c_stride=cout,
        )
        b.emit(mm, "conv")
    b.emit(dma(Store, 2, 0, y.addr, (h * w, cout), esize=4, wait=MX), "output")
    return b.build(), weights


def conv_reference(x, weights):
    h, w, _ = x.shape
    xp = np.pad(x.astype(np.int64), ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, weights.shape[3]), np.int64)
    for kh in range(3):
        for kw in range(3):
            out += xp[kh : kh + h, kw : kw + w] @ weights[kh, kw].astype(np.int64)
    return out
