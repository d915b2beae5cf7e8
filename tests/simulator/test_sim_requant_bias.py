"""REQUANT_BIAS: the int8 epilogue's bias ADD and REQUANT as one vector pass. Bit for bit the
two instructions it replaces (the int32 sum wraps as ADD's), its third operand (the scale
words, imm2 bytes after the bias words) in the footprint, the functional model and the
emitter's tokens, and its malformed immediates refused."""

import numpy as np
import pytest

from compiler.emit import Emitter
from simulator.config import load_config
from simulator.cost import cost
from simulator.footprint import FieldError, footprint
from simulator.functional import prepare
from simulator.isa import DType, Load, Unit, Vector, VFunc
from simulator.memory import Memory
from simulator.semantics import pack_bounds16, pack_requant_scale, unpack_bounds16
from simulator.vector import int_bits, vector_apply

TINY = load_config("tiny")
RNG = np.random.default_rng(4)


def _words(n: int) -> np.ndarray:
    scales = RNG.uniform(1e-6, 0.5, n)
    return np.array([pack_requant_scale(s) for s in scales], np.uint32).view(np.int32)


def _chain(acc, bias, words, zp, lo, hi, dtype):
    total = vector_apply(VFunc.ADD, acc, bias, 0, 0, 0, DType.INT32)
    return vector_apply(
        VFunc.REQUANT, total, words, int_bits(zp), int_bits(lo), int_bits(hi), dtype
    )


@pytest.mark.parametrize(
    "dtype, lo, hi",
    [
        (DType.INT8, -128, 127),
        (DType.UINT8, 0, 255),
        (DType.INT8, -5, 90),
        (DType.INT32, -32768, 32767),
    ],
)
def test_requant_bias_is_add_then_requant_bit_for_bit(dtype, lo, hi):
    acc = RNG.integers(-(2**31), 2**31, (3, 7, 16)).astype(np.int32)
    acc[0, 0, :4] = [2**31 - 1, -(2**31), 2**31 - 5, -(2**31) + 3]  # the sum wraps
    bias = RNG.integers(-(2**31), 2**31, 16).astype(np.int32)
    bias[:4] = [10, -10, 2**31 - 1, -(2**31)]
    words = _words(16)
    got = vector_apply(VFunc.REQUANT_BIAS, acc, bias, int_bits(3), pack_bounds16(lo, hi), 64,
                       dtype, src2=words)  # fmt: skip
    np.testing.assert_array_equal(got, _chain(acc, bias, words, 3, lo, hi, dtype))


def test_bounds16_round_trip_and_refuse_what_does_not_fit():
    assert unpack_bounds16(pack_bounds16(-32768, 32767)) == (-32768, 32767)
    assert unpack_bounds16(pack_bounds16(-128, -3)) == (-128, -3)
    assert pack_bounds16(-(2**15) - 1, 0) is None and pack_bounds16(0, 2**15) is None


def _vector(**kw) -> Vector:
    base = dict(func=int(VFunc.REQUANT_BIAS), n0=1, n1=3, n2=4, dst_sp=2, dst_dtype=DType.INT8)
    base.update(dst_addr=1024, dst_s1=4, src0_sp=2, src0_dtype=DType.INT32, src0_s1=4)
    base.update(src1_sp=1, src1_dtype=DType.INT32, src1_addr=64, src1_s1=0)
    base.update(imm1=pack_bounds16(-128, 127), imm2=16)
    return Vector(**{**base, **kw})


def test_its_footprint_reads_the_scale_words_imm2_bytes_after_the_bias():
    (acc, bias, words), (dst,) = footprint(_vector())
    assert [r.field for r in (acc, bias, words)] == ["src0_addr", "src1_addr", "imm2"]
    assert words.extent() == (80, 96) and words.strides == bias.strides
    assert words.mem == 1 and words.dtype == DType.INT32 and dst.dtype == DType.INT8
    assert cost(_vector(), TINY) == cost(_vector(func=int(VFunc.REQUANT)), TINY)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"imm2": 6}, "imm2=6 is not a whole number of int32 words from src1"),
        ({"src1_dtype": DType.INT8}, "imm2=16 is not a whole number of int32 words"),
    ],
)
def test_malformed_scale_word_offsets_are_refused(kw, message):
    with pytest.raises(FieldError, match=message):
        footprint(_vector(**kw))


def test_the_functional_model_runs_it_on_the_scratchpads():
    memory = Memory(TINY, 1 << 16)
    acc = RNG.integers(-(2**20), 2**20, (3, 4)).astype(np.int32)
    bias, words = RNG.integers(-1000, 1000, 4).astype(np.int32), _words(4)
    instr = _vector(imm0=int_bits(-7))
    reads, (dst,) = footprint(instr)
    for region, value in zip(reads, (acc, bias, words), strict=True):
        flat = memory.buffers[region.mem].view(np.uint8)
        flat[region.addr : region.addr + value.nbytes] = value.view(np.uint8).ravel()
    (op,) = prepare([instr], memory, TINY)
    op.run()
    got = memory.view(dst, 0, "VECTOR")
    want = _chain(acc.reshape(1, 3, 4), bias, words, -7, -128, 127, DType.INT8)
    np.testing.assert_array_equal(got, want)


def test_a_load_of_the_scale_words_is_a_token_for_it():
    """The words 4 KiB after the bias (another emitter page): only the third read links them;
    a REQUANT whose src1 is the bias does not wait for that LOAD."""
    tokens = []
    for func in (VFunc.REQUANT_BIAS, VFunc.REQUANT):
        em = Emitter(TINY)
        em.add(Load(sp=1, sp_addr=64 + 4096, dram_addr=0, n2=4, esize_log2=2), dram=["w"])
        em.add(_vector(func=int(func), imm2=4096))
        load, vec, _ = em.finish()
        tokens.append((load.signal, vec.wait))
    assert tokens == [(1 << Unit.VECTOR, 1 << Unit.LOAD), (0, 0)]
