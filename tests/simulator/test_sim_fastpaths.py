"""The simulator's fast paths agree bit for bit with the general definitions they shortcut."""

import numpy as np
import pytest

from simulator.isa import DType, VFunc
from simulator.semantics import fp32_matmul_is_exact, matmul_int8, matmul_int8_fp32
from simulator.vector import RequantFp64, vector_apply

INT_DTYPES = {DType.INT8: np.int8, DType.UINT8: np.uint8, DType.INT32: np.int32}


def _packed(rng, shape, mult_bits: int) -> np.ndarray:
    mult = rng.integers(0, 1 << mult_bits, shape, dtype=np.int64)
    shift = rng.integers(0, 256, shape, dtype=np.int64)
    shift[..., ::3] = rng.integers(0, 40, shift[..., ::3].shape)  # mostly useful shifts
    return ((mult << 8) | shift).astype(np.uint32).view(np.int32)


def _acc(rng, shape, dtype, bits: int) -> np.ndarray:
    if dtype != np.int32:
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, shape).astype(dtype)
    acc = rng.integers(-(1 << bits), 1 << bits, shape, dtype=np.int64)
    acc.ravel()[:2] = (-(2**31), 2**31 - 1)
    return acc.astype(np.int32)


@pytest.mark.parametrize("seed", range(40))
def test_requant_fp64_matches_vector_apply(seed):
    _check_requant(seed)


def test_requant_fp64_is_taken_on_realistic_operands():
    taken = [t for seed in range(40) for t in _check_requant(seed)]
    assert sum(taken) >= 60 and not all(taken)


def _check_requant(seed: int) -> list[bool]:
    """Random REQUANT operands: the fast path equals vector_apply whenever it answers."""
    rng = np.random.default_rng(seed)
    shape = (2, 3, 16)
    src_dtype = [np.int32, np.int8, np.uint8][seed % 3]
    acc = _acc(rng, shape, src_dtype, int(rng.integers(4, 32)))
    packed = _packed(rng, [(1, 1, 16), shape, (1, 3, 1)][seed % 3], int(rng.integers(1, 25)))
    if seed % 4 < 2:  # one scale for the whole tensor (the kernel multiplies by a float)
        packed[...] = packed.flat[0]
    imms = [int(v) & 0xFFFFFFFF for v in rng.integers(-(2**31), 2**31, 3)]
    if seed % 2:  # realistic: small zero point, clamp inside the destination range
        imms = [int(rng.integers(-20, 20)) & 0xFFFFFFFF, (-128) & 0xFFFFFFFF, 127]
    taken = []
    for dst in INT_DTYPES:
        want = vector_apply(VFunc.REQUANT, acc, packed, *imms, dst)
        kernel = RequantFp64(*imms, dst)
        got = kernel(acc, packed)
        if got is not None:
            np.testing.assert_array_equal(got.astype(INT_DTYPES[dst]), want)
            assert (got == want).all()
        into = np.full(want.shape, 7, INT_DTYPES[dst])
        work = np.empty(want.shape), np.empty(want.shape, np.int64)
        answered = kernel.into(acc, packed, into, work)
        assert answered == (got is not None)
        np.testing.assert_array_equal(into, want if answered else 7)
        taken.append(got is not None)
    return taken


def test_requant_fp64_rounds_ties_to_even_and_declines_inexact_products():
    acc = np.array([[[1, 3, 5, -1, -3, -5, 2, 6]]], np.int32)
    packed = np.full((1, 1, 8), (1 << 8) | 1, np.int32)  # mult 1, shift 1: halves
    got = RequantFp64(0, -(2**31) & 0xFFFFFFFF, 2**31 - 1, DType.INT32)(acc, packed)
    np.testing.assert_array_equal(got, [[[0, 2, 2, 0, -2, -2, 1, 3]]])
    big = np.full((1, 1, 2), 2**31 - 1, np.int32)
    for shift, dst in [(60, DType.INT8), (40, DType.INT32)]:  # |acc * mult| >= 2**52
        top = np.full((1, 1, 2), ((2**24 - 1) << 8) | shift, np.uint32).view(np.int32)
        kernel = RequantFp64(0, -(2**31) & 0xFFFFFFFF, 2**31 - 1, dst)
        assert kernel(big, top) is None
        untouched = np.zeros((1, 1, 2), INT_DTYPES[dst])
        work = np.empty((1, 1, 2)), np.empty((1, 1, 2), np.int64)
        assert not kernel.into(big, top, untouched, work)
        assert not untouched.any()


def test_requant_fp64_answers_inexact_products_that_saturate():
    """2**(52 - 40) = 4096 > 128: an inexact product is far past the int8 clamp."""
    acc = np.array([[[2**31 - 1, -(2**31), 2**30, 5]]], np.int32)
    packed = np.full((1, 1, 4), ((2**24 - 1) << 8) | 40, np.uint32).view(np.int32)
    got = RequantFp64(3, -(2**31) & 0xFFFFFFFF, 2**31 - 1, DType.INT8)(acc, packed)
    want = vector_apply(VFunc.REQUANT, acc, packed, 3, -(2**31) & 0xFFFFFFFF, 2**31 - 1, DType.INT8)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [[[127, -128, 127, 3]]])


@pytest.mark.parametrize(("dtype", "k"), [(DType.INT8, 1024), (DType.UINT8, 258)])
def test_fp32_matmul_exact_up_to_the_bound(dtype, k):
    assert fp32_matmul_is_exact(dtype, k) and not fp32_matmul_is_exact(dtype, k + 1)
    np_type = INT_DTYPES[dtype]
    extreme = np.iinfo(np_type).min if dtype == DType.INT8 else np.iinfo(np_type).max
    a = np.full((3, k), extreme, np_type)
    w = np.full((k, 5), extreme, np_type)
    np.testing.assert_array_equal(matmul_int8_fp32(a, w), matmul_int8(a, w))
    assert matmul_int8_fp32(a, w)[0, 0] == k * int(extreme) ** 2
    c = np.zeros((3, 10), np.int32)[:, ::2]  # a strided C, as the ACC scratchpad gives
    assert matmul_int8_fp32(a, w, c) is c
    np.testing.assert_array_equal(c, matmul_int8(a, w))
    rng = np.random.default_rng(k)
    info = np.iinfo(np_type)
    a = rng.integers(info.min, info.max + 1, (17, k)).astype(np_type)
    w = rng.integers(info.min, info.max + 1, (k, 9)).astype(np_type)
    np.testing.assert_array_equal(matmul_int8_fp32(a, w), matmul_int8(a, w))


# --- vector_fast: the element-wise shortcuts ----------------------------------------------------
FAST_CASES = [
    *[(f, np.int32, np.int32, DType.INT32) for f in (VFunc.ADD, VFunc.SUB, VFunc.MAX, VFunc.MIN)],
    *[(f, t, t, d) for f in (VFunc.MAX, VFunc.MIN) for t, d in ((np.int8, DType.INT8),
                                                               (np.uint8, DType.UINT8))],
    *[(f, np.float32, np.float32, DType.FP32)
      for f in (VFunc.ADD, VFunc.SUB, VFunc.MUL, VFunc.DIV, VFunc.MAX, VFunc.MIN)],
    *[(VFunc.COPY, t, None, d) for t, d in ((np.int8, DType.INT8), (np.uint8, DType.UINT8),
                                            (np.int32, DType.INT32), (np.float32, DType.FP32))],
    (VFunc.DEQUANT, np.int8, None, DType.FP32),
    (VFunc.DEQUANT, np.uint8, None, DType.FP32),
    (VFunc.QUANT, np.float32, None, DType.INT8),
    (VFunc.QUANT, np.float32, None, DType.UINT8),
]  # fmt: skip


def _operand(rng, shape, dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(dtype)
        special = np.array([np.nan, np.inf, -np.inf, 3.4e38], dtype)
        x.ravel()[:4] = special[: min(4, x.size)]
        return x
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max + 1, shape).astype(dtype)
    x.ravel()[: min(2, x.size)] = np.array([info.min, info.max], dtype)[: min(2, x.size)]
    return x


def _imms(rng, func: VFunc) -> tuple[int, int, int]:
    from simulator.vector import float_bits, int_bits

    zp = int(rng.choice([0, -128, 5, 127, 1 << 23, -(1 << 23) - 1, 1 << 30]))
    scale = float(rng.choice([0.0123, 1.0, 3e-5, 0.0, 7.5]))
    return int_bits(zp), float_bits(scale), 0


@pytest.mark.parametrize(
    "case", FAST_CASES, ids=lambda c: f"{c[0].name}-{np.dtype(c[1])}-{c[3].name}"
)
@pytest.mark.parametrize("seed", range(6))
def test_vector_fast_kernels_match_vector_apply(case, seed):
    from simulator.semantics import NUMPY_DTYPE
    from simulator.vector_fast import fast_kernel

    func, t0, t1, dst_type = case
    rng = np.random.default_rng(seed)
    shape = (2, 3, 17)
    a = _operand(rng, shape, t0)
    b = None if t1 is None else _operand(rng, [(1, 1, 17), shape, (2, 1, 1)][seed % 3], t1)
    imm = _imms(rng, func)
    with np.errstate(all="ignore"):
        want = vector_apply(func, a, b, *imm, dst_type)
    dst = np.full(shape, 0x55, NUMPY_DTYPE[dst_type])
    kernel = fast_kernel(func, a, b, dst, imm)
    if kernel is None:  # DEQUANT with |zp| > 2**23 takes the general path
        assert func == VFunc.DEQUANT and abs(imm[0] if imm[0] < 2**31 else imm[0] - 2**32) > 2**23
        return
    with np.errstate(all="ignore"):
        kernel()
    assert dst.dtype == want.dtype
    np.testing.assert_array_equal(dst.view(np.uint8), want.view(np.uint8))  # bit for bit


def test_vector_fast_kernels_are_taken_only_for_their_cases():
    from simulator.vector_fast import fast_kernel

    a8, a32 = np.zeros(4, np.int8), np.zeros(4, np.int32)
    assert fast_kernel(VFunc.ADD, a8, a8, np.zeros(4, np.int8), (0, 0, 0)) is None  # saturates
    assert fast_kernel(VFunc.COPY, a8, None, np.zeros(4, np.int32), (0, 0, 0)) is None
    assert fast_kernel(VFunc.DEQUANT, a32, None, np.zeros(4, np.float32), (0, 0, 0)) is None
    assert fast_kernel(VFunc.ADD, a32, a32, np.zeros(4, np.int32), (0, 0, 0)) is not None
