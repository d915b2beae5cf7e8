"""vector_apply: every VFunc against a numpy reference, dtype conversions, reductions."""

import math

import numpy as np
import pytest

from simulator.isa import DType, VFunc
from simulator.semantics import pack_requant_scale, pack_requant_scales, quantize, requantize
from simulator.vector import (
    bf16_to_fp32,
    float_bits,
    fp32_to_bf16,
    int_bits,
    vector_apply,
)

RNG = np.random.default_rng(0)
I32 = RNG.integers(-1000, 1000, size=(2, 3, 5)).astype(np.int32)
J32 = RNG.integers(-1000, 1000, size=(2, 3, 5)).astype(np.int32)
F32 = RNG.standard_normal((2, 3, 5)).astype(np.float32)
G32 = RNG.standard_normal((2, 3, 5)).astype(np.float32)


@pytest.mark.parametrize(
    "func, ref",
    [
        (VFunc.ADD, lambda a, b: a + b),
        (VFunc.SUB, lambda a, b: a - b),
        (VFunc.MUL, lambda a, b: a * b),
        (VFunc.MAX, np.maximum),
        (VFunc.MIN, np.minimum),
    ],
)
def test_binary_int_and_float(func, ref):
    got = vector_apply(func, I32, J32, dst_dtype=DType.INT32)
    np.testing.assert_array_equal(got, ref(I32.astype(np.int64), J32).astype(np.int32))
    got = vector_apply(func, F32, G32, dst_dtype=DType.FP32)
    np.testing.assert_array_equal(got, ref(F32, G32))


def test_int_add_wraps_and_saturates_to_int8():
    a = np.array([2**31 - 1, 100, -100], dtype=np.int32)
    b = np.array([1, 100, -100], dtype=np.int32)
    np.testing.assert_array_equal(vector_apply(VFunc.ADD, a, b), [-(2**31), 200, -200])
    got = vector_apply(VFunc.ADD, a[1:], b[1:], dst_dtype=DType.INT8)
    assert got.dtype == np.int8 and got.tolist() == [127, -128]


def test_mixed_int_float_operands_compute_in_float():
    got = vector_apply(VFunc.ADD, I32, F32, dst_dtype=DType.FP32)
    np.testing.assert_array_equal(got, I32.astype(np.float32) + F32)


def test_immediates_int_and_float():
    got = vector_apply(VFunc.ADD_IMM, I32, imm0=int_bits(-7))
    np.testing.assert_array_equal(got, I32 - 7)
    got = vector_apply(VFunc.MUL_IMM, F32, imm0=float_bits(0.5), dst_dtype=DType.FP32)
    np.testing.assert_array_equal(got, F32 * np.float32(0.5))
    got = vector_apply(VFunc.CLIP, I32, imm0=int_bits(-10), imm1=int_bits(20))
    np.testing.assert_array_equal(got, np.clip(I32, -10, 20))
    got = vector_apply(
        VFunc.CLIP, F32, imm0=float_bits(-0.5), imm1=float_bits(0.5), dst_dtype=DType.FP32
    )
    np.testing.assert_array_equal(got, np.clip(F32, -0.5, 0.5))


def test_relu_int8_to_int8():
    a = np.array([-5, 0, 7, -128, 127], dtype=np.int8)
    got = vector_apply(VFunc.RELU, a, dst_dtype=DType.INT8)
    assert got.dtype == np.int8 and got.tolist() == [0, 0, 7, 0, 127]


@pytest.mark.parametrize(
    "func, ref",
    [
        (VFunc.SIGMOID, lambda x: 1 / (1 + np.exp(-x))),
        (VFunc.TANH, np.tanh),
        (VFunc.EXP, np.exp),
        (VFunc.NEG, lambda x: -x),
        (VFunc.ABS, np.abs),
        (VFunc.ERF, np.vectorize(math.erf)),
        (VFunc.GELU, lambda x: x / 2 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
        (VFunc.HARD_SWISH, lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    ],
)
def test_unary_float(func, ref):
    got = vector_apply(func, F32, dst_dtype=DType.FP32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref(F32.astype(np.float64)), rtol=1e-6, atol=3e-7)


def test_sqrt_recip_rsqrt_div_pow_on_positive():
    x = np.abs(F32) + 0.1
    np.testing.assert_allclose(vector_apply(VFunc.SQRT, x, dst_dtype=3), np.sqrt(x), rtol=1e-6)
    np.testing.assert_allclose(vector_apply(VFunc.RECIP, x, dst_dtype=3), 1 / x, rtol=1e-6)
    np.testing.assert_allclose(vector_apply(VFunc.RSQRT, x, dst_dtype=3), x**-0.5, rtol=1e-6)
    np.testing.assert_allclose(vector_apply(VFunc.DIV, x, G32, dst_dtype=3), x / G32, rtol=1e-6)
    np.testing.assert_allclose(vector_apply(VFunc.POW, x, G32, dst_dtype=3), x**G32, rtol=1e-5)


def test_leaky_relu_and_hard_sigmoid_use_float_immediates():
    got = vector_apply(VFunc.LEAKY_RELU, F32, imm0=float_bits(0.1), dst_dtype=DType.FP32)
    np.testing.assert_allclose(got, np.where(F32 >= 0, F32, np.float32(0.1) * F32))
    got = vector_apply(
        VFunc.HARD_SIGMOID, F32, imm0=float_bits(0.2), imm1=float_bits(0.5), dst_dtype=3
    )
    np.testing.assert_allclose(got, np.clip(0.2 * F32 + 0.5, 0, 1), rtol=1e-6)


def test_reductions_fold_last_axis():
    for func, ref in ((VFunc.RSUM, np.sum), (VFunc.RMAX, np.max), (VFunc.RMIN, np.min)):
        got = vector_apply(func, I32)
        assert got.shape == (2, 3, 1)
        np.testing.assert_array_equal(got[..., 0], ref(I32, axis=-1))
        got = vector_apply(func, F32, dst_dtype=DType.FP32)
        np.testing.assert_allclose(got[..., 0], ref(F32, axis=-1), rtol=1e-6)


def test_rsum_int8_is_exact_int32():
    a = np.full((1, 1, 300), 127, dtype=np.int8)
    assert vector_apply(VFunc.RSUM, a)[0, 0, 0] == 127 * 300


def test_requant_matches_semantics():
    acc = RNG.integers(-(2**20), 2**20, size=(4, 8)).astype(np.int32)
    scales = np.linspace(1e-4, 0.02, 8)
    packed = np.array([pack_requant_scale(s) for s in scales], np.uint32).view(np.int32)
    got = vector_apply(
        VFunc.REQUANT, acc, packed, int_bits(-3), int_bits(-128), int_bits(127), DType.INT8
    )
    np.testing.assert_array_equal(got, requantize(acc, packed, -3, -128, 127).astype(np.int8))


def test_quant_dequant_match_semantics():
    q = vector_apply(VFunc.QUANT, F32, imm0=int_bits(5), imm1=float_bits(0.02), dst_dtype=0)
    np.testing.assert_array_equal(q, quantize(F32, 0.02, 5, DType.INT8))
    d = vector_apply(VFunc.DEQUANT, q, imm0=int_bits(5), imm1=float_bits(0.02), dst_dtype=3)
    np.testing.assert_array_equal(d, (q.astype(np.float32) - 5) * np.float32(0.02))


def test_float_to_int_rounds_half_even_and_saturates():
    x = np.array([0.5, 1.5, 2.5, -0.5, 300.0, -300.0, np.nan], dtype=np.float32)
    got = vector_apply(VFunc.COPY, x, dst_dtype=DType.INT8)
    assert got.tolist() == [0, 2, 2, 0, 127, -128, 0]


def test_bf16_and_fp16_round_to_nearest_even():
    x = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-9], dtype=np.float32)
    bits = vector_apply(VFunc.COPY, x, dst_dtype=DType.BF16)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bf16_to_fp32(bits), [1.0, 1.0 + 2**-6, 1.0])
    np.testing.assert_array_equal(fp32_to_bf16(bf16_to_fp32(bits)), bits)
    half = vector_apply(VFunc.COPY, x, dst_dtype=DType.FP16)
    assert half.dtype == np.float16
    np.testing.assert_array_equal(half, x.astype(np.float16))


def test_bf16_source_widens_to_fp32():
    bits = fp32_to_bf16(np.array([1.5, -2.0], dtype=np.float32))
    got = vector_apply(VFunc.ADD, bits, bits, dst_dtype=DType.FP32)
    np.testing.assert_array_equal(got, [3.0, -4.0])


def test_binary_without_src1_is_rejected():
    with pytest.raises(ValueError, match="ADD needs src1"):
        vector_apply(VFunc.ADD, I32)


def test_comparisons_and_logic_give_zero_or_one():
    a = np.array([1.0, np.nan, -2.0, 3.0], np.float32)
    b = np.array([1.0, np.nan, 5.0, -3.0], np.float32)
    for func, want in (
        (VFunc.EQ, [1, 0, 0, 0]),
        (VFunc.LT, [0, 0, 1, 0]),
        (VFunc.LE, [1, 0, 1, 0]),
        (VFunc.AND, [1, 1, 1, 1]),
    ):
        assert vector_apply(func, a, b, dst_dtype=DType.UINT8).tolist() == want, func.name
    m = np.array([0, 1, 0, 2], np.int32)
    n = np.array([0, 0, 3, 4], np.int32)
    assert vector_apply(VFunc.OR, m, n, dst_dtype=DType.UINT8).tolist() == [0, 1, 1, 1]
    assert vector_apply(VFunc.XOR, m, n, dst_dtype=DType.UINT8).tolist() == [0, 1, 1, 0]
    assert vector_apply(VFunc.NOT, m, dst_dtype=DType.UINT8).tolist() == [1, 0, 1, 0]
    assert vector_apply(VFunc.ISNAN, a, dst_dtype=DType.UINT8).tolist() == [0, 1, 0, 0]
    inf = np.array([np.inf, -np.inf, 1.0], np.float32)
    pos = vector_apply(VFunc.ISINF, inf, None, float_bits(1.0), 0, dst_dtype=DType.UINT8)
    assert pos.tolist() == [1, 0, 0]


def test_select_is_a_masked_write():
    old = np.array([9, 9, 9, 9], np.int32)
    got = vector_apply(
        VFunc.SELECT,
        np.array([1, 0, 1, 0], np.uint8),
        np.array([1.5, 2.5, -3.5, 4.5], np.float32),
        dst_dtype=DType.INT32,
        old=old,
    )
    assert got.tolist() == [2, 9, -4, 9]  # converted to the dst dtype, half to even
    with pytest.raises(ValueError, match="old dst values"):
        vector_apply(VFunc.SELECT, old, old, dst_dtype=DType.INT32)


def test_arg_reductions_break_ties_first_or_last():
    x = np.array([[[3, 7, 7, 1], [2, 2, 2, 2]]], np.int32)
    first = vector_apply(VFunc.RARGMAX, x, dst_dtype=DType.INT32)
    last = vector_apply(VFunc.RARGMAX, x, None, 1, dst_dtype=DType.INT32)
    assert first.reshape(-1).tolist() == [1, 0] and last.reshape(-1).tolist() == [2, 3]
    low = vector_apply(VFunc.RARGMIN, x.astype(np.float32), dst_dtype=DType.INT32)
    assert low.reshape(-1).tolist() == [3, 0]
    assert vector_apply(VFunc.RPROD, x, dst_dtype=DType.INT32).reshape(-1).tolist() == [147, 16]


def test_integer_division_and_remainder():
    a = np.array([-7, 7, -7, 7, 5], np.int32)
    b = np.array([2, 2, -2, -2, 0], np.int32)
    assert vector_apply(VFunc.IDIV, a, b).tolist() == [-3, 3, 3, -3, 0]
    assert vector_apply(VFunc.MOD, a, b).tolist() == [1, 1, -1, -1, 0]
    f = vector_apply(VFunc.FMOD, a.astype(np.float32), b.astype(np.float32), dst_dtype=DType.FP32)
    assert f[:4].tolist() == [-1, 1, -1, 1]
    assert vector_apply(VFunc.BITXOR, a, b).tolist() == (a ^ b).tolist()
    assert vector_apply(VFunc.BITNOT, a).tolist() == (~a).tolist()


@pytest.mark.parametrize(
    "func, ref",
    [
        (VFunc.LOG, np.log),
        (VFunc.FLOOR, np.floor),
        (VFunc.CEIL, np.ceil),
        (VFunc.ROUND, np.rint),
        (VFunc.TRUNC, np.trunc),
        (VFunc.SIN, np.sin),
        (VFunc.ATAN, np.arctan),
        (VFunc.SOFTSIGN, lambda x: x / (1 + np.abs(x))),
        (VFunc.SOFTPLUS, lambda x: np.log1p(np.exp(x))),
        (VFunc.GELU_TANH, lambda x: 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))),
    ],
)
def test_new_unary_float(func, ref):
    x = np.abs(F32) + 0.1 if func == VFunc.LOG else F32 * 3
    got = vector_apply(func, x, dst_dtype=DType.FP32)
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_lut_looks_up_every_int8_value_and_clamps_the_index():
    """dst = src1[clamp(src0 - imm0, 0, 255)]: imm0 = -128 maps int8 values onto the table."""
    table = RNG.integers(-128, 128, 256).astype(np.int8)
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 2, 128)
    got = vector_apply(VFunc.LUT, x, table.reshape(1, 1, 256), int_bits(-128), 0, 0, DType.INT8)
    np.testing.assert_array_equal(got.reshape(-1), table)
    wide = np.array([[[-1000, 0, 1000]]], np.int32)  # outside the table: its first / last entry
    got = vector_apply(VFunc.LUT, wide, table.reshape(1, 1, 256), 0, 0, 0, DType.INT8)
    np.testing.assert_array_equal(got.reshape(-1), table[[0, 0, 255]])
    with pytest.raises(ValueError, match="LUT needs src1"):
        vector_apply(VFunc.LUT, x)


def test_lut_with_a_table_per_row():
    """src1 [1, rows, 256]: each row's elements looked up in that row's table."""
    tables = RNG.integers(-128, 128, (1, 3, 256)).astype(np.int8)
    x = RNG.integers(-128, 128, (1, 3, 40)).astype(np.int8)
    got = vector_apply(VFunc.LUT, x, tables, int_bits(-128), 0, 0, DType.INT8)
    want = np.stack([tables[0, r][x[0, r].astype(np.int64) + 128] for r in range(3)])
    np.testing.assert_array_equal(got, want[None])
    one = vector_apply(VFunc.LUT, x, tables[:, :1], int_bits(-128), 0, 0, DType.INT8)
    np.testing.assert_array_equal(one, tables[0, 0][x.astype(np.int64) + 128])


@pytest.mark.parametrize("bits", [4, 8])
def test_dequant_packed_unpacks_codes_and_dequantises_per_group(bits):
    """(q - zp) * scale per (i0, i1) group: q low nibble first (4 bits) or a byte, zp from
    src1[..., 1] or the constant imm2; a different zero point or scale changes the values."""
    codes = RNG.integers(0, 1 << bits, size=(3, 2, 8))
    packed = codes.astype(np.uint8) if bits == 8 else (codes[..., 0::2] | codes[..., 1::2] << 4)
    scale = RNG.uniform(0.01, 1, size=(3, 2, 1)).astype(np.float32)
    zp = RNG.integers(0, 1 << bits, size=(3, 2, 1)).astype(np.float32)
    groups = np.concatenate([scale, zp], axis=-1)
    got = vector_apply(
        VFunc.DEQUANT_PACKED, packed.astype(np.uint8), groups, bits, 1, 0, DType.FP32
    )
    np.testing.assert_array_equal(got, (codes.astype(np.float32) - zp) * scale)
    mid = 1 << (bits - 1)
    got = vector_apply(
        VFunc.DEQUANT_PACKED, packed.astype(np.uint8), scale, bits, 0, mid, DType.FP32
    )
    np.testing.assert_array_equal(got, (codes.astype(np.float32) - mid) * scale)
    with pytest.raises(ValueError, match="imm0=3 is not a packed code width"):
        vector_apply(VFunc.DEQUANT_PACKED, packed.astype(np.uint8), scale, 3, 0, 0, DType.FP32)
    with pytest.raises(ValueError, match="DEQUANT_PACKED needs src1"):
        vector_apply(VFunc.DEQUANT_PACKED, packed.astype(np.uint8))


WIDE = {
    VFunc.EXP: np.exp,
    VFunc.LOG: np.log,
    VFunc.TANH: np.tanh,
    VFunc.SIGMOID: lambda x: 1 / (1 + np.exp(-x)),
    VFunc.SIN: np.sin,
    VFunc.ATANH: np.arctanh,
}


@pytest.mark.parametrize("func", list(WIDE), ids=lambda f: f.name)
def test_fp32_transcendentals_are_float64_rounded_once(func):
    """The same bits on every CPU: numpy's fp32 kernels of these differ between its AVX2 and
    AVX-512 builds; float64 rounded once to fp32 does not (but once in ~1e8 elements)."""
    x = np.linspace(-0.99, 0.99, 4001, dtype=np.float32).reshape(1, 1, -1)
    if func == VFunc.LOG:
        x = np.abs(x) + np.float32(0.01)
    want = WIDE[func](x.astype(np.float64)).astype(np.float32)
    got = vector_apply(func, x, dst_dtype=DType.FP32)
    np.testing.assert_array_equal(got, want)


def test_fp32_rsum_is_summed_wide_and_rounded_once():
    """2**24 + 1 + 1 in fp32, left to right, stays 2**24; the wide sum is 2**24 + 2."""
    x = np.array([[[2.0**24, 1.0, 1.0]]], np.float32)
    assert vector_apply(VFunc.RSUM, x, dst_dtype=DType.FP32)[0, 0, 0] == 2.0**24 + 2


def test_pack_requant_scales_is_pack_requant_scale_of_every_element():
    """The vectorised packing (a layer's per-channel words) equals the scalar one, word for
    word: random scales over 50 decades, zero, subnormals (the shift capped at 255, the
    multiplier losing bits), 2**23 (the largest shift-0 scale) and exact powers of two."""
    rng = np.random.default_rng(0)
    edges = [0.0, 1.0, 0.5, 2.0**-130, 2.0**-149, 1e-40, 2.0**23, 16777215.0, 3e-39]
    scales = np.float32(np.concatenate([10 ** rng.uniform(-45, 7, 20000), edges]))
    want = [pack_requant_scale(s) for s in scales]
    assert pack_requant_scales(scales).tolist() == want
    for bad in ([0.5, -1.0], [np.inf], [2.0**25]):
        with pytest.raises(ValueError, match="requantisation scale"):
            pack_requant_scales(bad)
