"""Programs to replay: a hand-built int8 two-layer MLP for ``tiny``, and compiled models."""

from __future__ import annotations

import numpy as np

from simulator import isa
from simulator.builder import ProgramBuilder
from simulator.config import NpuConfig
from simulator.program import Program
from simulator.semantics import pack_requant_scale
from simulator.vector import int_bits

L, M, V, S = (1 << u for u in isa.Unit)  # token bits: LOAD, MATRIX, VECTOR, STORE
I8, I32 = int(isa.DType.INT8), int(isa.DType.INT32)
INPUT, WEIGHT, ACC = (int(s) for s in isa.Scratchpad)


def load2d(sp: int, sp_addr: int, dram_addr: int, rows: int, cols: int, esize_log2: int, **kw):
    """A row-major (rows, cols) block from DRAM into a scratchpad, densely packed."""
    return isa.Load(
        sp=sp,
        esize_log2=esize_log2,
        sp_addr=sp_addr,
        dram_addr=dram_addr,
        n1=rows,
        n2=cols,
        ds1=cols,
        ss1=cols,
        hi1=rows,
        hi2=cols,
        **kw,
    )


def rowwise(func: isa.VFunc, rows: int, cols: int, **kw) -> isa.Vector:
    """A Vector instruction over a dense (rows, cols) box; fields in kw override."""
    fields = dict(
        func=int(func),
        n1=rows,
        n2=cols,
        dst_dtype=I32,
        dst_s1=cols,
        src0_dtype=I32,
        src0_sp=ACC,
        src0_s1=cols,
        src1_dtype=I32,
        src1_sp=ACC,
        dst_sp=ACC,
    )
    fields.update(kw)
    return isa.Vector(**fields)


def int8_mlp(config: NpuConfig, seed: int = 0) -> tuple[Program, dict[str, np.ndarray]]:
    """y = requant(relu(x @ W1 + b1)) @ W2 (K split in two accumulating MatMuls), then
    requant to int8, plus RMAX/RSUM of the logits; W2 stored transposed.

    Returns the program and its inputs. Every dependency is an explicit token.
    """
    rng = np.random.default_rng(seed)
    batch, d_in, d_hid, d_out = 8, 40, 24, 10
    b = ProgramBuilder(config)
    x = b.input("x", (batch, d_in), "int8")
    y = b.output("y", (batch, d_out), "int8")
    w1 = b.constant("w1", rng.integers(-128, 128, (d_in, d_hid)).astype(np.int8))
    w2t = b.constant("w2t", rng.integers(-128, 128, (d_out, d_hid)).astype(np.int8))
    b1 = b.constant("b1", rng.integers(-5000, 5000, d_hid).astype(np.int32))
    scales1 = [pack_requant_scale(s) for s in rng.uniform(2e-4, 2e-3, d_hid)]
    q1 = b.constant("q1", np.array(scales1, dtype=np.uint32).view(np.int32))
    scales2 = [pack_requant_scale(s) for s in rng.uniform(1e-3, 1e-2, d_out)]
    q2 = b.constant("q2", np.array(scales2, dtype=np.uint32).view(np.int32))
    # scratchpad layout (bytes)
    x_sp, h_sp, y_sp = 0, 512, 1024  # input scratchpad
    w1_sp, w2_sp = 0, 1024  # weight scratchpad
    c1, b1_sp, q1_sp, c2, q2_sp, rmax, rsum = 0, 1024, 1152, 2048, 2560, 3072, 3136  # acc

    b.emit(load2d(INPUT, x_sp, x.addr, batch, d_in, 0, signal=M))
    b.emit(load2d(WEIGHT, w1_sp, w1.addr, d_in, d_hid, 0, signal=M))
    b.emit(load2d(WEIGHT, w2_sp, w2t.addr, d_out, d_hid, 0, signal=M))
    b.emit(load2d(ACC, b1_sp, b1.addr, 1, d_hid, 2, signal=V))
    b.emit(load2d(ACC, q1_sp, q1.addr, 1, d_hid, 2, signal=V))
    b.emit(load2d(ACC, q2_sp, q2.addr, 1, d_out, 2, signal=V))
    b.emit(isa.Sync(queue=int(isa.Unit.MATRIX), wait=L))
    b.emit(
        isa.MatMul(
            dtype=I8, a_addr=x_sp, w_addr=w1_sp, c_addr=c1, m=batch, k=d_in, n=d_hid,
            a_stride=d_in, w_stride=d_hid, c_stride=d_hid, wait=L, signal=V,
        )
    )  # fmt: skip
    hid = dict(dst_addr=c1, src0_addr=c1)
    b.emit(rowwise(isa.VFunc.ADD, batch, d_hid, src1_addr=b1_sp, src1_s1=0, wait=L | M, **hid))
    b.emit(rowwise(isa.VFunc.RELU, batch, d_hid, **hid))
    b.emit(
        rowwise(
            isa.VFunc.REQUANT, batch, d_hid, src0_addr=c1, src1_addr=q1_sp, src1_s1=0,
            dst_sp=INPUT, dst_addr=h_sp, dst_dtype=I8, imm0=int_bits(-3), imm1=int_bits(-128),
            imm2=int_bits(127), wait=L, signal=M,
        )
    )  # fmt: skip
    half = d_hid // 2
    for part in range(2):
        b.emit(
            isa.MatMul(
                dtype=I8, accumulate=part, w_transposed=1, a_addr=h_sp + part * half,
                w_addr=w2_sp + part * half, c_addr=c2, m=batch, k=half, n=d_out,
                a_stride=d_hid, w_stride=d_hid, c_stride=d_out,
                wait=(V | L) if part == 0 else 0, signal=V if part else 0,
            )
        )  # fmt: skip
    logits = dict(src0_addr=c2, src0_s1=d_out)
    b.emit(
        rowwise(isa.VFunc.RMAX, batch, d_out, dst_addr=rmax, dst_s1=1, dst_s2=0, wait=M, **logits)
    )
    b.emit(rowwise(isa.VFunc.RSUM, batch, d_out, dst_addr=rsum, dst_s1=1, dst_s2=0, **logits))
    b.emit(
        rowwise(
            isa.VFunc.REQUANT, batch, d_out, src0_addr=c2, src1_addr=q2_sp, src1_s1=0,
            dst_sp=INPUT, dst_addr=y_sp, dst_dtype=I8, imm0=int_bits(5), imm1=int_bits(-128),
            imm2=int_bits(127), wait=L, signal=S,
        )
    )  # fmt: skip
    b.emit(
        isa.Store(
            sp=INPUT, sp_addr=y_sp, dram_addr=y.addr, n1=batch, n2=d_out, ds1=d_out,
            ss1=d_out, hi1=batch, hi2=d_out, wait=V,
        )
    )  # fmt: skip
    inputs = {"x": rng.integers(-128, 128, (batch, d_in)).astype(np.int8)}
    return b.build(), inputs


def compiled_int8(model: str, config: NpuConfig) -> tuple[Program, dict[str, np.ndarray]]:
    """The zoo's ``model`` in int8 (QDQ) compiled by the project's compiler, and its sample inputs."""
    from compiler.driver import compile as compile_model
    from models_zoo.api import build, sample_inputs

    program = compile_model(build(model, int8=True), config)
    return program, sample_inputs(model)
