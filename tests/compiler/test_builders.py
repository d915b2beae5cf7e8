"""The instruction builders of ``compiler.lowering.common``: a DMA's dims in burst order, and
the builders' instructions equal to the dataclass's own."""

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.lowering.common import Box, burst_order, dma, vector
from simulator.isa import DType, Load, Scratchpad, Store, Vector, VFunc

DIMS = st.tuples(st.integers(0, 5), st.integers(-300, 300), st.integers(0, 300))


@settings(max_examples=300, deadline=None)
@given(st.tuples(DIMS, DIMS, DIMS))
def test_burst_order_is_a_stable_sort_unless_a_dim_broadcasts(dims):
    counts, ds, ss = (tuple(d[i] for d in dims) for i in range(3))
    window = tuple((0, n) for n in counts)
    out = burst_order(counts, ds, ss, window)
    if any(s == 0 and n > 1 for n, s in zip(counts, ds, strict=True)):
        assert out == (counts, ds, ss, window)  # a broadcast keeps its order
        return
    key = [-(1 << 62) if n == 1 else -abs(s) for n, s in zip(counts, ds, strict=True)]
    order = sorted(range(3), key=lambda d: key[d])  # single elements outermost, then by stride
    assert out == tuple(tuple(v[d] for d in order) for v in (counts, ds, ss, window))


def test_dma_builds_the_dataclass_with_its_dims_in_burst_order():
    made = dma(Store, Scratchpad.ACC, 64, 4, 4096, (4, 1, 8), (1, 7, 32), (8, 8, 1))
    assert made == Store(
        sp=int(Scratchpad.ACC), esize_log2=2, sp_addr=64, dram_addr=4096,
        n0=1, n1=8, n2=4, ds0=7, ds1=32, ds2=1, ss0=8, ss1=1, ss2=8,
        lo0=0, hi0=1, lo1=0, hi1=8, lo2=0, hi2=4, pad=0,
    )  # fmt: skip
    assert vars(made) == vars(Store(**vars(made)))
    pad = dma(Load, Scratchpad.INPUT, 0, 1, 0, (2, 3, 4), (12, 4, 1), (12, 4, 1), pad=-128)
    assert pad.pad == -128 and isinstance(pad, Load) and pad.counts == (2, 3, 4)


def test_vector_builds_the_dataclass():
    dst = Box(Scratchpad.ACC, DType.INT32, 256, (64, 8, 1))
    src = Box(Scratchpad.INPUT, DType.INT8, 32, (16, 4, 0))
    made = vector(VFunc.ADD, (2, 3, 4), dst, src, imm=(1, 2, 3))
    assert made == Vector(
        func=int(VFunc.ADD), n0=2, n1=3, n2=4,
        dst_sp=2, dst_dtype=int(DType.INT32), dst_addr=256, dst_s0=64, dst_s1=8, dst_s2=1,
        src0_sp=0, src0_dtype=int(DType.INT8), src0_addr=32, src0_s0=16, src0_s1=4, src0_s2=0,
        src1_sp=0, src1_dtype=int(DType.INT8), src1_addr=32, src1_s0=16, src1_s1=4, src1_s2=0,
        imm0=1, imm1=2, imm2=3,
    )  # fmt: skip
    assert vars(made) == vars(Vector(**vars(made)))
