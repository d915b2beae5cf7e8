"""Programs for the core: hand-written ones that stress token synchronisation and DMA/compute
overlap, and the zoo's int8 models compiled for ``tiny``.

Each entry maps a name to ``f(config) -> (Program, inputs)``.
"""

from __future__ import annotations

import numpy as np

from rtl_tests.replay.programs import (
    ACC,
    I8,
    INPUT,
    WEIGHT,
    L,
    M,
    S,
    V,
    int8_mlp,
    load2d,
    rowwise,
)
from simulator import isa
from simulator.builder import ProgramBuilder
from simulator.config import NpuConfig
from simulator.program import Program
from simulator.semantics import pack_requant_scale, quantize
from simulator.vector import int_bits

Inputs = dict[str, np.ndarray]


def pipelined_matmul(config: NpuConfig, seed: int = 1) -> tuple[Program, Inputs]:
    """y = requant(x @ w) over 12 row tiles, double-buffered in every scratchpad, so that the
    LOAD of tile t+1, the MatMul of t, the requant of t-1 and the STORE of t-2 overlap. Every
    buffer reuse is a token back to the producer (MATRIX -> LOAD, VECTOR -> MATRIX,
    STORE -> VECTOR); a Sync on MATRIX and one on VECTOR take the tokens of the weight and
    scale loads. Tokens flow in all six directions between neighbouring units."""
    rng = np.random.default_rng(seed)
    tiles, rows, d_in, d_out = 12, 8, 32, 16
    b = ProgramBuilder(config, const_base=1 << 16)
    x = b.input("x", (tiles * rows, d_in), "int8")
    y = b.output("y", (tiles * rows, d_out), "int8")
    w = b.constant("w", rng.integers(-128, 128, (d_in, d_out)).astype(np.int8))
    scales = [pack_requant_scale(s) for s in rng.uniform(5e-4, 4e-3, d_out)]
    q = b.constant("q", np.array(scales, dtype=np.uint32).view(np.int32))
    q_sp = 4096  # acc
    b.emit(load2d(WEIGHT, 0, w.addr, d_in, d_out, 0, signal=M))
    b.emit(load2d(ACC, q_sp, q.addr, 1, d_out, 2, signal=V))
    b.emit(isa.Sync(queue=int(isa.Unit.MATRIX), wait=L))
    b.emit(isa.Sync(queue=int(isa.Unit.VECTOR), wait=L))
    for t in range(tiles):
        buf = t % 2
        x_sp, c_sp, y_sp = buf * 512, buf * 1024, 2048 + buf * 256
        last = t + 2 >= tiles
        b.emit(
            load2d(INPUT, x_sp, x.addr + t * rows * d_in, rows, d_in, 0,
                   wait=M if t >= 2 else 0, signal=M)
        )  # fmt: skip
        b.emit(
            isa.MatMul(
                dtype=I8, a_addr=x_sp, w_addr=0, c_addr=c_sp, m=rows, k=d_in, n=d_out,
                a_stride=d_in, w_stride=d_out, c_stride=d_out, wait=L | (V if t >= 2 else 0),
                signal=V | (0 if last else L),
            )
        )  # fmt: skip
        b.emit(
            rowwise(
                isa.VFunc.REQUANT, rows, d_out, src0_addr=c_sp, src1_addr=q_sp, src1_s1=0,
                dst_sp=INPUT, dst_addr=y_sp, dst_dtype=I8, imm0=int_bits(3),
                imm1=int_bits(-128), imm2=int_bits(127),
                wait=M | (S if t >= 2 else 0), signal=S | (0 if last else M),
            )
        )  # fmt: skip
        b.emit(
            isa.Store(
                sp=INPUT, sp_addr=y_sp, dram_addr=y.addr + t * rows * d_out, n1=rows, n2=d_out,
                ds1=d_out, ss1=d_out, hi1=rows, hi2=d_out, wait=V, signal=0 if last else V,
            )
        )  # fmt: skip
    inputs = {"x": rng.integers(-128, 128, (tiles * rows, d_in)).astype(np.int8)}
    return b.build(), inputs


def dma_patterns(config: NpuConfig, seed: int = 2) -> tuple[Program, Inputs]:
    """The DMA engines' descriptors: windows with pad fill (int8 and int32), a broadcast
    (ds2 = 0), a strided gather (ds2 = 2), rows read backwards (negative ds1), a 3-D box, a
    STORE with a window, and LOADs and STOREs in flight together (they share the bandwidth)."""
    rng = np.random.default_rng(seed)
    b = ProgramBuilder(config, const_base=1 << 16)
    a = b.input("a", (24, 40), "int8")
    v = b.input("v", (6,), "int32")
    outs = {
        "padded": b.output("padded", (26, 44), "int8"),
        "bcast": b.output("bcast", (6, 5), "int32"),
        "every2": b.output("every2", (24, 20), "int8"),
        "reversed": b.output("reversed", (24, 40), "int8"),
        "box": b.output("box", (2, 3, 16), "int8"),
        "window": b.output("window", (24, 40), "int8"),
    }
    load = dict(sp=INPUT, esize_log2=0)
    # 1. a inside a 26 x 44 frame of 0x7f (lo/hi windows on dims 1 and 2), DRAM rows of 40
    b.emit(isa.Load(**load, sp_addr=0, dram_addr=a.addr - 40 - 2, n1=26, n2=44, ds1=40,
                    ss1=44, lo1=1, hi1=25, lo2=2, hi2=42, pad=0x7F, signal=S))  # fmt: skip
    # 2. v broadcast along dim 2 (ds2 = 0): 6 x 5 int32 into the accumulator, ACC pad 0
    b.emit(isa.Load(sp=ACC, esize_log2=2, sp_addr=0, dram_addr=v.addr, n1=6, n2=5, ds1=1,
                    ds2=0, ss1=5, hi1=6, hi2=5, signal=S))  # fmt: skip
    # 3. every second column (ds2 = 2)
    b.emit(isa.Load(**load, sp_addr=2048, dram_addr=a.addr, n1=24, n2=20, ds1=40, ds2=2,
                    ss1=20, hi1=24, hi2=20, signal=S))  # fmt: skip
    # 4. rows backwards (ds1 = -40)
    b.emit(isa.Load(**load, sp_addr=4096, dram_addr=a.addr + 23 * 40, n1=24, n2=40, ds1=-40,
                    ss1=40, hi1=24, hi2=40, signal=S))  # fmt: skip
    # 5. a 3-D box: 2 blocks of 3 rows of 16, from rows 0-2 and 8-10 at column 4
    b.emit(isa.Load(**load, sp_addr=6144, dram_addr=a.addr + 4, n0=2, n1=3, n2=16, ds0=320,
                    ds1=40, ss0=48, ss1=16, hi0=2, hi1=3, hi2=16, signal=S))  # fmt: skip
    store = dict(sp=INPUT, esize_log2=0)
    b.emit(isa.Sync(queue=int(isa.Unit.STORE), wait=L))
    b.emit(isa.Store(**store, sp_addr=0, dram_addr=outs["padded"].addr, n1=26, n2=44, ds1=44,
                     ss1=44, hi1=26, hi2=44))  # fmt: skip
    # a LOAD (the same a again, into a spare buffer) while the STOREs run
    b.emit(load2d(WEIGHT, 0, a.addr, 24, 40, 0))
    b.emit(isa.Sync(queue=int(isa.Unit.STORE), wait=L))
    b.emit(isa.Store(sp=ACC, esize_log2=2, sp_addr=0, dram_addr=outs["bcast"].addr, n1=6, n2=5,
                     ds1=5, ss1=5, hi1=6, hi2=5))  # fmt: skip
    b.emit(isa.Sync(queue=int(isa.Unit.STORE), wait=L))
    b.emit(isa.Store(**store, sp_addr=2048, dram_addr=outs["every2"].addr, n1=24, n2=20, ds1=20,
                     ss1=20, hi1=24, hi2=20))  # fmt: skip
    b.emit(isa.Sync(queue=int(isa.Unit.STORE), wait=L))
    b.emit(isa.Store(**store, sp_addr=4096, dram_addr=outs["reversed"].addr, n1=24, n2=40,
                     ds1=40, ss1=40, hi1=24, hi2=40))  # fmt: skip
    b.emit(isa.Sync(queue=int(isa.Unit.STORE), wait=L))
    b.emit(isa.Store(**store, sp_addr=6144, dram_addr=outs["box"].addr, n0=2, n1=3, n2=16,
                     ds0=48, ds1=16, ss0=48, ss1=16, hi0=2, hi1=3, hi2=16))  # fmt: skip
    # a STORE with a window: only rows 2-21, columns 3-36 of the reversed copy are written
    b.emit(isa.Store(**store, sp_addr=4096, dram_addr=outs["window"].addr, n1=24, n2=40,
                     ds1=40, ss1=40, lo1=2, hi1=22, lo2=3, hi2=37))  # fmt: skip
    inputs = {
        "a": rng.integers(-128, 128, (24, 40)).astype(np.int8),
        "v": rng.integers(-(2**31), 2**31, 6).astype(np.int32),
    }
    return b.build(), inputs


HAND_WRITTEN = {
    "int8_mlp": int8_mlp,
    "pipelined_matmul": pipelined_matmul,
    "dma_patterns": dma_patterns,
}


# --- the zoo's int8 models ------------------------------------------------------------------
# Compiled with the int8 interface kept (the host quantises the input and dequantises the
# output: compiler/passes/int8_io.py) and the average pools in integer arithmetic: programs
# with no float vector work, which the core runs whole.
ZOO_OPTIONS = {"int8_io": True, "integer_avgpool": True}
ZOO_STEPS = {"mlp_mnist": 0, "lenet5": 2}  # output steps from onnxruntime (see test_core.py)


def zoo_int8(model: str, config: NpuConfig, seed: int = 0) -> tuple[Program, Inputs]:
    """The zoo's ``model`` int8 (QDQ) compiled for ``config`` with ``ZOO_OPTIONS``, and its
    sample inputs (seed ``seed``) quantised as the host does."""
    from compiler.driver import CompileOptions, compile
    from models_zoo.api import build, sample_inputs

    program = compile(build(model, int8=True), config, CompileOptions(**ZOO_OPTIONS))
    return program, host_inputs(program, sample_inputs(model, seed))


def host_inputs(program: Program, feeds: Inputs) -> Inputs:
    """The float inputs quantised with the manifest's scale and zero point (QuantizeLinear)."""
    out = {}
    for name, x in feeds.items():
        info = program.tensors[name]
        dtype = isa.DType[info.dtype.upper()]
        out[name] = quantize(x, info.scale, info.zero_point, dtype)
    return out


ZOO = {
    "mlp_mnist": lambda config: zoo_int8("mlp_mnist", config),
    "lenet5": lambda config: zoo_int8("lenet5", config),
}


def residual_block(channels: int = 8, hw: tuple[int, int] = (6, 5)):
    """x -> Conv 3x3 -> Relu -> Conv 3x3 -> + x -> Relu, float, seeded (a ResNet basic block)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    shape = [1, channels, *hw]

    def conv(x, y, name):
        w = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32) * 0.2
        b = rng.standard_normal(channels).astype(np.float32) * 0.1
        inits.extend(
            [numpy_helper.from_array(w, name + "w"), numpy_helper.from_array(b, name + "b")]
        )
        return helper.make_node("Conv", [x, name + "w", name + "b"], [y], pads=[1, 1, 1, 1])

    inits = []
    nodes = [
        conv("x", "a", "c1"),
        helper.make_node("Relu", ["a"], ["r"]),
        conv("r", "c", "c2"),
        helper.make_node("Add", ["c", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "residual_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def residual_int8(config: NpuConfig) -> tuple[Program, Inputs, object, Inputs]:
    """``residual_block`` quantised (QDQ) and compiled with ``ZOO_OPTIONS``: its residual Add
    is a QADD fused after the second QConv's REQUANT. (Program, host inputs, the QDQ model,
    its float inputs)."""
    from compiler.driver import CompileOptions, compile
    from models_zoo.quantize import quantize_int8, random_inputs

    rng = np.random.default_rng(8)
    model = residual_block()
    qdq = quantize_int8(model, random_inputs(model, rng, 4))
    feeds = random_inputs(model, rng, 1)[0]
    program = compile(qdq, config, CompileOptions(**ZOO_OPTIONS))
    return program, host_inputs(program, feeds), qdq, feeds
