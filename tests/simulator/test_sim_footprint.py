"""Instruction footprints (``simulator.footprint``): the one declaration of what each
instruction reads and writes, and the emitter, functional model and checker that use it."""

import numpy as np
import pytest

from compiler.emit import Emitter
from simulator.config import load_config
from simulator.errors import ConfigError, SimulationError
from simulator.footprint import DRAM, FieldError, Region, declared, dma_window, footprint
from simulator.functional import prepare
from simulator.isa import (
    INSTRUCTIONS,
    DType,
    End,
    Instr,
    Load,
    MatMul,
    Scratchpad,
    Store,
    Sync,
    Unit,
    Vector,
    VFunc,
)
from simulator.memory import Memory

TINY = load_config("tiny")
IN, WT, ACC = Scratchpad.INPUT, Scratchpad.WEIGHT, Scratchpad.ACC


def test_every_instruction_class_declares_its_footprint():
    assert declared() == set(INSTRUCTIONS)


def test_an_undeclared_class_is_an_error_naming_it():
    class Custom(Instr):
        pass

    with pytest.raises(TypeError, match="no footprint declared for Custom"):
        footprint(Custom())


def test_tokens_only_instructions_touch_nothing():
    assert footprint(End()) == ((), ())
    assert footprint(Sync(queue=2)) == ((), ())


def _load(**kw) -> Load:
    base = dict(sp=0, esize_log2=1, sp_addr=64, dram_addr=1000, n0=2, n1=3, n2=4)
    base.update(ds0=12, ds1=4, ss0=12, ss1=4, hi0=2, hi1=3, hi2=4)
    return Load(**{**base, **kw})


def test_load_reads_its_dram_window_and_writes_its_whole_box():
    ld = _load(lo1=1, hi1=3, lo2=1, hi2=3)  # a 2x2x2 window inside a 2x3x4 box
    (dram,), (sp,) = footprint(ld)
    assert dram == Region(DRAM, 1000 + 2 * (4 + 1), (2, 2, 2), (12, 4, 1), None, 2, "dram_addr")
    assert sp == Region(IN, 64, (2, 3, 4), (12, 4, 1), None, 2, "sp_addr")
    assert dma_window(ld) == ((0, 1, 1), (2, 2, 2))


def test_store_reads_the_window_of_its_box_and_writes_dram():
    st = Store(**{f: v for f, v in vars(_load(lo0=1, sp=2)).items() if f not in ("wait", "signal")})
    (sp,), (dram,) = footprint(st)
    assert sp == Region(ACC, 64 + 2 * 12, (1, 3, 4), (12, 4, 1), None, 2, "sp_addr")
    assert dram == Region(DRAM, 1000 + 2 * 12, (1, 3, 4), (12, 4, 1), None, 2, "dram_addr")


def test_an_empty_window_touches_no_dram():
    (dram,), _ = footprint(_load(lo0=2))
    assert dram.elements == 0 and dram.extent() == (dram.addr, dram.addr)


def _matmul(**kw) -> MatMul:
    base = dict(dtype=DType.INT8, a_addr=0, w_addr=128, c_addr=256, m=4, k=8, n=2)
    return MatMul(**{**base, "a_stride": 8, "w_stride": 2, "c_stride": 2, **kw})


def test_matmul_reads_a_and_w_and_c_only_when_accumulating():
    reads, (c,) = footprint(_matmul())
    assert [r.field for r in reads] == ["a_addr", "w_addr"]
    assert c == Region(ACC, 256, (4, 2), (2, 1), DType.INT32, 4, "c_addr")
    reads, _ = footprint(_matmul(accumulate=1, dtype=DType.FP32))
    assert [r.field for r in reads] == ["a_addr", "w_addr", "c_addr"]
    assert reads[2].dtype == DType.FP32


def test_transposed_weights_are_n_rows_of_k():
    (_, w), _ = footprint(_matmul(w_transposed=1, w_stride=8))
    assert w.shape == (2, 8) and w.strides == (8, 1) and w.mem == WT


def _vector(func: VFunc | int, **kw) -> Vector:
    base = dict(func=int(func), n0=1, n1=3, n2=4, dst_sp=0, dst_dtype=DType.INT32)
    base.update(dst_addr=512, dst_s1=4, src0_sp=2, src0_dtype=DType.INT32, src0_s1=4)
    base.update(src1_sp=1, src1_dtype=DType.FP32, src1_addr=64, src1_s1=0)
    return Vector(**{**base, **kw})


@pytest.mark.parametrize(
    "func, sources",
    [(VFunc.RELU, 1), (VFunc.ADD, 2), (VFunc.REQUANT, 2), (VFunc.QUANT, 1), (VFunc.RSUM, 1)],
)
def test_vector_reads_src1_only_when_the_function_has_two_sources(func, sources):
    reads, _ = footprint(_vector(func))
    assert [r.field for r in reads] == ["src0_addr", "src1_addr"][:sources]
    assert func.info.sources == sources


def test_a_select_reads_its_dst_whose_unselected_elements_it_keeps():
    reads, (dst,) = footprint(_vector(VFunc.SELECT))
    assert [r.field for r in reads] == ["src0_addr", "src1_addr", "dst_addr"]
    assert reads[2] == dst and VFunc.SELECT.info.sources == 2


def test_a_reduction_writes_one_element_per_row():
    _, (dst,) = footprint(_vector(VFunc.RMAX, dst_s2=0))
    assert dst.shape == (1, 3, 1) and dst.dtype == DType.INT32
    assert dst.nbytes == 12


def test_a_broadcast_source_counts_every_access_but_spans_one_row():
    (_, src1), _ = footprint(_vector(VFunc.ADD))
    assert src1.elements == 12 and src1.extent() == (64, 64 + 4 * 4)


def test_extent_of_negative_dram_strides():
    r = Region(DRAM, 100, (3, 2), (-4, 1), None, 2, "dram_addr")
    assert r.extent() == (100 - 2 * 4 * 2, 100 + 2 * 2)


@pytest.mark.parametrize(
    "instr, message",
    [
        (_vector(VFunc.ADD, src1_dtype=7), "src1_dtype=7 is not a DType"),
        (_vector(VFunc.ADD, dst_sp=3), "dst_sp=3 is not a scratchpad"),
        (_vector(99), "func=99 is not a VFunc"),
        (_matmul(dtype=6), "dtype=6 is not a DType"),
        (_load(sp=3), "sp=3 is not a scratchpad"),
    ],
)
def test_undefined_field_values_name_the_field(instr, message):
    with pytest.raises(FieldError, match=message):
        footprint(instr)
    with pytest.raises(
        SimulationError, match=f"instruction 0 \\({instr.OPCODE.name}\\): {message}"
    ):
        prepare([instr], Memory(TINY, 1 << 16), TINY)


def test_the_functional_model_views_exactly_the_footprint():
    """Every view of an op is the region of its footprint: same bytes, same element type."""
    memory = Memory(TINY, 1 << 16)
    instrs = [_load(lo1=1), _matmul(accumulate=1), _vector(VFunc.ADD)]
    for instr, op in zip(instrs, prepare(instrs, memory, TINY), strict=True):
        assert op.footprint == footprint(instr)
    base = memory.buffers[0].ctypes.data
    view = memory.view(footprint(instrs[0]).writes[0], 0, "LOAD")
    assert view.ctypes.data - base == 64 and view.shape == (2, 3, 4)
    assert view.strides == (24, 8, 2) and view.dtype == np.uint16


# --- the emitter's tokens come from the footprint ---------------------------------------------


def test_the_emitter_links_a_write_and_a_read_of_the_same_page():
    em = Emitter(TINY)
    em.add(_load(sp=2, sp_addr=256), dram=["x"])  # writes ACC where src0 reads
    em.add(_vector(VFunc.RELU, src0_addr=256))
    load, relu, _ = em.finish()
    assert load.signal == 1 << Unit.VECTOR and relu.wait == 1 << Unit.LOAD


def test_an_unread_src1_makes_no_token():
    em = Emitter(TINY)
    em.add(_load(sp=1, sp_addr=64), dram=["x"])  # writes WEIGHT where src1 points
    em.add(_vector(VFunc.RELU, src0_addr=2048))  # unary: src1 is not read
    load, relu, _ = em.finish()
    assert load.signal == 0 and relu.wait == 0


def test_dram_storages_go_to_the_side_the_footprint_says():
    em = Emitter(TINY)
    em.add(Store(sp=2, sp_addr=0, dram_addr=0, hi0=1), dram=["y"])  # writes y
    em.add(_load(lo0=2), dram=["y"])  # empty window: reads no DRAM, so no token
    em.add(_load(sp_addr=4096), dram=["y"])  # reads y after the STORE wrote it
    store, empty, load, _ = em.finish()
    assert empty.wait == 0
    assert store.signal == 1 << Unit.LOAD and load.wait == 1 << Unit.STORE


def test_a_lut_reads_its_whole_table_whatever_the_counts():
    """src1 of a LUT is the 256-entry table however many elements it maps (zero row
    strides), or, where src1_s1 steps rows, each row's whole table."""
    (src0, table), _ = footprint(_vector(VFunc.LUT, src1_dtype=DType.INT8, src1_s2=1))
    assert src0.elements == 12
    assert table.shape == (1, 1, 256) and table.extent() == (64, 64 + 256)
    per_row = _vector(VFunc.LUT, src1_dtype=DType.INT8, src1_s1=256, src1_s2=1)
    (_, tables), _ = footprint(per_row)
    assert tables.shape == (1, 3, 256) and tables.extent() == (64, 64 + 3 * 256)


def test_the_emitter_refuses_a_box_past_its_scratchpad():
    """A lowering whose buffer overruns a scratchpad is a ConfigError naming the layer and
    the field, never a program the simulator has to stop."""
    em = Emitter(TINY)
    em.set_node("pool_3")
    end = TINY.input_bytes
    em.add(_load(sp_addr=end - 48), dram=["x"])  # 2x3x4 int16: the last 48 bytes, in bounds
    with pytest.raises(ConfigError, match=rf"'pool_3' .* input scratchpad: dst_addr .*{end}"):
        em.add(_vector(VFunc.RELU, dst_addr=end - 8, dst_sp=0))


def test_a_too_small_scratchpad_is_refused_at_compile_time():
    """lenet5-int8 with a 1 KiB input scratchpad: the int8 AveragePool's smallest tile (one
    row, one channel) overran it and ran until the simulator's bounds check stopped it."""
    import compiler
    import models_zoo

    config = load_config("base").with_overrides(["scratchpad.input_kib=1"])
    with pytest.raises(ConfigError, match="'averagepool_1' does not fit the input scratchpad"):
        compiler.compile(models_zoo.build("lenet5", int8=True), config)


def _packed(**kw) -> Vector:
    base = dict(dst_dtype=DType.FP32, src0_dtype=DType.UINT8, src0_s0=64, src0_s1=16)
    base.update(src1_s0=8, src1_s1=2, src1_s2=1, imm0=4, imm1=1, n0=2, n1=3, n2=32)
    return _vector(VFunc.DEQUANT_PACKED, **{**base, **kw})


def test_dequant_packed_reads_its_bytes_and_its_groups_scale_and_zero_point():
    """4-bit codes: n2 / 2 bytes per group; src1 a (scale, zero point) pair per group, or the
    scale alone when the zero point is the immediate."""
    (codes, groups), (dst,) = footprint(_packed())
    assert codes.shape == (2, 3, 16) and codes.strides == (64, 16, 1) and codes.esize == 1
    assert groups.shape == (2, 3, 2) and groups.strides == (8, 2, 1) and groups.dtype == DType.FP32
    assert dst.shape == (2, 3, 32)
    (codes, groups), _ = footprint(_packed(imm0=8, imm1=0))
    assert codes.shape == (2, 3, 32) and groups.shape == (2, 3, 1)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(imm0=2), "imm0=2 is not a packed code width"),
        (dict(n2=3), "n2=3 is not whole bytes of 4-bit codes"),
        (dict(src0_s2=2), "src0_s2=2 is not 1"),
        (dict(src0_dtype=DType.INT8), "src0_dtype=0 is not UINT8"),
    ],
)
def test_dequant_packed_refuses_fields_it_cannot_unpack(kw, message):
    with pytest.raises(FieldError, match=message):
        footprint(_packed(**kw))
