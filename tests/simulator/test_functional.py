"""Numerics of hand-built programs against numpy: GEMM tiles, a padded convolution, DMA, vector."""

import numpy as np
import pytest

import simulator
from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.isa import DType, Load, MatMul, Store, Unit, Vector, VFunc
from simulator.semantics import NUMPY_DTYPE, pack_requant_scale, requantize
from simulator.vector import bf16_to_fp32, fp32_to_bf16, int_bits

LD, MX, VE, ST = (1 << u for u in Unit)
RNG = np.random.default_rng(42)
TINY = load_config("tiny")


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


@pytest.mark.parametrize("w_transposed", [False, True])
@pytest.mark.parametrize("dtype", [DType.INT8, DType.UINT8])
def test_int_gemm_tile_is_exact(dtype, w_transposed):
    program, w = gemm_program(TINY, 8, 20, 12, dtype, w_transposed, accumulate_twice=True)
    x = _random((8, 20), dtype)
    y = simulator.run(program, {"x": x}).outputs["y"]
    w_kn = w.T if w_transposed else w
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, 2 * (x.astype(np.int64) @ w_kn.astype(np.int64)))


@pytest.mark.parametrize("dtype", [DType.FP32, DType.FP16, DType.BF16])
def test_float_gemm_tile(dtype):
    config = TINY.with_overrides({"array.dtypes": ["int8", "fp32", "fp16", "bf16"]})
    program, w = gemm_program(config, 5, 9, 7, dtype)
    x = _random((5, 9), dtype)
    y = simulator.run(program, {"x": x}).outputs["y"]
    ref = _as_fp32(x, dtype) @ _as_fp32(w, dtype)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


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


@pytest.mark.parametrize("double_buffer", [True, False])
def test_convolution_as_tiles(double_buffer):
    program, weights = conv_program(TINY, 5, 6, 8, 4, double_buffer)
    x = RNG.integers(-128, 128, (5, 6, 8)).astype(np.int8)
    result = simulator.run(program, {"x": x}, checked=True)
    np.testing.assert_array_equal(result.outputs["y"], conv_reference(x, weights))


def test_load_pads_outside_window_and_store_skips_it():
    b = ProgramBuilder(TINY)
    x = b.input("x", (3, 4), "int32")
    y = b.output("y", (5, 6), "int32")
    # Load x into the middle of a 5x6 box filled with -1, then store the whole box.
    b.emit(
        dma(
            Load,
            2,
            0,
            x.addr - 4 * 5,  # element (1, 1) is x[0, 0]
            (5, 6),
            esize=4,
            dram_strides=(4, 1),
            lo1=1,
            hi1=4,
            lo2=1,
            hi2=5,
            pad=int_bits(-1),
            signal=ST,
        )
    )
    b.emit(dma(Store, 2, 0, y.addr, (5, 6), esize=4, wait=LD))
    xv = np.arange(12, dtype=np.int32).reshape(3, 4)
    out = simulator.run(b.build(), {"x": xv}).outputs["y"]
    ref = np.full((5, 6), -1, np.int32)
    ref[1:4, 1:5] = xv
    np.testing.assert_array_equal(out, ref)


def test_store_window_leaves_dram_outside_it_untouched():
    b = ProgramBuilder(TINY)
    x = b.input("x", (4,), "int8")
    y = b.output("y", (4,), "int8")
    b.emit(dma(Load, 0, 0, x.addr, (4,), signal=ST))
    b.emit(dma(Store, 0, 0, y.addr, (4,), lo2=1, hi2=3, wait=LD))
    out = simulator.run(b.build(), {"x": np.array([1, 2, 3, 4], np.int8)}).outputs["y"]
    assert out.tolist() == [0, 2, 3, 0]


def test_requant_chain_matmul_then_vector():
    """int8 GEMM -> REQUANT (per-channel scale words in WEIGHT) -> RELU -> int8 output."""
    m, k, n = 6, 16, 8
    b = ProgramBuilder(TINY)
    x = b.input("x", (m, k), "int8")
    y = b.output("y", (m, n), "int8")
    w = RNG.integers(-128, 128, (k, n)).astype(np.int8)
    words = np.array([pack_requant_scale(s) for s in RNG.uniform(1e-3, 4e-3, n)], np.uint32)
    wc = b.constant("w", w)
    sc = b.constant("scales", words.view(np.int32))
    scale_addr = 1024
    b.emit(dma(Load, 0, 0, x.addr, (m, k)))
    b.emit(dma(Load, 1, 0, wc.addr, (k, n)))
    b.emit(dma(Load, 1, scale_addr, sc.addr, (n,), esize=4, signal=MX))
    b.emit(MatMul(wait=LD, signal=VE, m=m, k=k, n=n, a_stride=k, w_stride=n, c_stride=n))
    b.emit(
        Vector(
            wait=MX,
            func=VFunc.REQUANT,
            n1=m,
            n2=n,
            src0_sp=2,
            src0_dtype=DType.INT32,
            src0_s1=n,
            src1_sp=1,
            src1_dtype=DType.INT32,
            src1_addr=scale_addr,
            src1_s1=0,
            dst_sp=0,
            dst_dtype=DType.INT8,
            dst_addr=2048,
            dst_s1=n,
            imm0=int_bits(3),
            imm1=int_bits(-128),
            imm2=int_bits(127),
        )
    )
    b.emit(
        Vector(
            func=VFunc.RELU,
            n1=m,
            n2=n,
            src0_sp=0,
            src0_dtype=DType.INT8,
            src0_addr=2048,
            src0_s1=n,
            dst_sp=0,
            dst_dtype=DType.INT8,
            dst_addr=2048,
            dst_s1=n,
            signal=ST,
        )
    )
    b.emit(dma(Store, 0, 2048, y.addr, (m, n), wait=VE))
    xv = RNG.integers(-128, 128, (m, k)).astype(np.int8)
    out = simulator.run(b.build(), {"x": xv}, checked=True).outputs["y"]
    acc = xv.astype(np.int64) @ w.astype(np.int64)
    ref = np.maximum(requantize(acc, words[None, :].view(np.int32), 3, -128, 127), 0)
    np.testing.assert_array_equal(out, ref.astype(np.int8))


def test_reduction_writes_one_element_per_row():
    b = ProgramBuilder(TINY)
    x = b.input("x", (4, 10), "float32")
    y = b.output("y", (4,), "float32")
    b.emit(dma(Load, 0, 0, x.addr, (4, 10), esize=4, signal=VE))
    b.emit(
        Vector(
            wait=LD,
            signal=ST,
            func=VFunc.RMAX,
            n1=4,
            n2=10,
            src0_dtype=DType.FP32,
            src0_s1=10,
            dst_sp=2,
            dst_dtype=DType.FP32,
            dst_s1=1,
            dst_s2=0,
        )
    )
    b.emit(dma(Store, 2, 0, y.addr, (4,), esize=4, wait=VE))
    xv = RNG.standard_normal((4, 10)).astype(np.float32)
    out = simulator.run(b.build(), {"x": xv}).outputs["y"]
    np.testing.assert_array_equal(out, xv.max(axis=1))
