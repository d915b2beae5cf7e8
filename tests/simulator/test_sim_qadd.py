"""QADD, the integer requantising add of two quantised tensors: its immediates
(``pack_qadd``), its arithmetic against exact rational arithmetic and against the fp32
DEQUANT/ADD/QUANT chain it replaces, and the cases it refuses."""

import numpy as np
import pytest

from simulator.isa import DType, VFunc
from simulator.semantics import dequantize, pack_qadd, qadd, quantize
from simulator.vector import vector_apply


def _exact(a, b, qa, qb, qy, lo=-128, hi=127):
    """The rational answer for the fp32 scales, in float64 (its rounding far below a step)."""
    sa, sb, sy = (np.float64(np.float32(q[0])) for q in (qa, qb, qy))
    s = (a - qa[1]) * sa + (b - qb[1]) * sb
    return np.clip(np.rint(s / sy) + qy[1], lo, hi).astype(np.int64)


def _chain(a, b, qa, qb, qy):
    t = dequantize(a, qa[0], qa[1]) + dequantize(b, qb[0], qb[1])
    return quantize(t, qy[0], qy[1], DType.INT8).astype(np.int64)


def test_qadd_matches_exact_arithmetic_and_the_fp32_chain_within_one_step():
    rng = np.random.default_rng(1)
    off_exact = off_chain = total = 0
    for _ in range(100):
        qa, qb, qy = [
            (np.float32(s), int(z))
            for s, z in zip(rng.uniform(1e-3, 0.1, 3), rng.integers(-20, 20, 3), strict=True)
        ]
        a, b = rng.integers(-128, 128, (2, 4096))
        got = np.clip(qadd(a, b, *pack_qadd(qa, qb, qy, -128, 127)), -128, 127)
        exact, chain = _exact(a, b, qa, qb, qy), _chain(a, b, qa, qb, qy)
        assert np.abs(got - exact).max() <= 1 and np.abs(got - chain).max() <= 1
        off_exact += int((got != exact).sum())
        off_chain += int((got != chain).sum())
        total += a.size
    # near-ties only: measured 2 and 1 of 409,600 with this seed
    assert off_exact <= 4 and off_chain <= 4, (off_exact, off_chain, total)


def test_qadd_equal_scales_is_exact_integer_addition():
    a, b = np.arange(-128, 128), np.arange(127, -129, -1)
    imm = pack_qadd((0.05, 3), (0.05, -7), (0.05, 1), -128, 127)
    assert np.array_equal(qadd(a, b, *imm), np.clip(a - 3 + b + 7 + 1, -128, 127))


def test_qadd_bounds_are_a_fused_relu():
    """QUANT is monotone: clamping the result at QUANT(0) = zy is QUANT(Relu(sum))."""
    rng = np.random.default_rng(2)
    qa, qb, qy = (0.02, 5), (0.03, -4), (0.04, -10)
    a, b = rng.integers(-128, 128, (2, 5000))
    got = qadd(a, b, *pack_qadd(qa, qb, qy, qy[1], 127))
    want = np.maximum(_exact(a, b, qa, qb, qy), qy[1])
    assert np.array_equal(np.clip(got, -128, 127), want)
    assert got.min() == qy[1]


def test_qadd_fields_round_trip_negative_values_and_uint8_zero_points():
    imm = pack_qadd((0.5, -256), (0.25, 255), (1.0, -100), -256, 255)
    a = np.array([-256, 0, 100])
    b = np.array([255, 255, 0])
    # (a + 256) / 2 + (b - 255) / 4 - 100, clamped to [-256, 255]
    assert qadd(a, b, *imm).tolist() == [-100, 28, 14]


@pytest.mark.parametrize(
    "qa, qb, qy",
    [
        ((1.0, 0), (1.0, 0), (2.0**-24, 0)),  # a ratio of 2**24: beyond 23-bit multipliers
        ((1e-3, 0), (1e-3, 0), (1.0, 0)),  # both ratios below 2**-9: the shift beyond 31
        ((0.1, 300), (0.1, 0), (0.1, 0)),  # a zero point beyond 9 bits
        ((-0.1, 0), (0.1, 0), (0.1, 0)),  # a negative scale
    ],
)
def test_pack_qadd_refuses_what_does_not_fit(qa, qb, qy):
    assert pack_qadd(qa, qb, qy, -128, 127) is None


def test_vector_apply_qadd_saturates_to_the_destination():
    imm = pack_qadd((1.0, 0), (1.0, 0), (1.0, 0), -256, 255)
    a = np.array([100, -100, 3], np.int8)
    b = np.array([100, -100, 4], np.int8)
    got = vector_apply(VFunc.QADD, a, b, *imm, DType.INT8)
    assert got.tolist() == [127, -128, 7]
    with pytest.raises(ValueError, match="QADD needs src1"):
        vector_apply(VFunc.QADD, a, None, *imm, DType.INT8)
