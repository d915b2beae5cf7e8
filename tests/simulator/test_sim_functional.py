"""Numerics of hand-built programs against numpy: GEMM tiles, a padded convolution, DMA, vector."""

import numpy as np
import pytest
from sim_programs import RNG, _as_fp32, _random, conv_program, conv_reference, gemm_program

import simulator
from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.isa import DType, Load, MatMul, Store, Unit, Vector, VFunc
from simulator.semantics import pack_requant_scale, requantize
from simulator.vector import int_bits

LD, MX, VE, ST = (1 << u for u in Unit)
TINY = load_config("tiny")


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
