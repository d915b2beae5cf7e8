"""A real program built by hand (no compiler): y = x @ w + a ReLU, split into two layers.

Layer "gemm" loads x and w, multiplies on the array and stores; layer "relu" reloads the
product, applies ReLU on the vector unit and stores y. Enough to drive ``npu run`` and
``npu profile`` end to end.
"""

from __future__ import annotations

import numpy as np

from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.isa import DType, Load, MatMul, Scratchpad, Store, Unit, Vector, VFunc

M, K, N = 16, 32, 24
LOAD, MATRIX, VECTOR, STORE = (1 << u for u in (Unit.LOAD, Unit.MATRIX, Unit.VECTOR, Unit.STORE))


def weights() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((K, N)).astype(np.float32)


def reference(x: np.ndarray) -> np.ndarray:
    return np.maximum(x.astype(np.float32) @ weights(), 0)


def build(preset: str = "tiny"):
    b = ProgramBuilder(load_config(preset))
    x = b.input("x", (M, K), "float32")
    tmp = b.tensor("t", (M, N), "float32")
    y = b.output("y", (M, N), "float32")
    w = b.constant("w", weights())
    _gemm(b, x.addr, w.addr, tmp.addr)
    _relu(b, tmp.addr, y.addr)
    program = b.build()
    program.layers = [
        {"name": "gemm", "op": "MatMul", "macs": M * K * N, "tiling": f"m{M} k{K} n{N}"},
        {"name": "relu", "op": "Relu", "macs": 0, "tiling": f"{M * N} elements"},
    ]
    return program


def _gemm(b: ProgramBuilder, x: int, w: int, out: int) -> None:
    b.emit(dma(Load, Scratchpad.INPUT, 0, x, (M, K), esize=4), node="gemm")
    b.emit(dma(Load, Scratchpad.WEIGHT, 0, w, (K, N), esize=4, signal=MATRIX), node="gemm")
    mm = MatMul(
        dtype=DType.FP32, a_addr=0, w_addr=0, c_addr=0, m=M, k=K, n=N,
        a_stride=K, w_stride=N, c_stride=N, wait=LOAD, signal=STORE,
    )  # fmt: skip
    b.emit(mm, node="gemm")
    b.emit(
        dma(Store, Scratchpad.ACC, 0, out, (M, N), esize=4, wait=MATRIX, signal=LOAD), node="gemm"
    )


def _relu(b: ProgramBuilder, t: int, y: int) -> None:
    b.emit(
        dma(Load, Scratchpad.INPUT, 0, t, (M, N), esize=4, wait=STORE, signal=VECTOR), node="relu"
    )
    v = Vector(
        func=VFunc.RELU, n1=M, n2=N, wait=LOAD, signal=STORE,
        dst_sp=Scratchpad.ACC, dst_dtype=DType.FP32, dst_addr=0, dst_s1=N,
        src0_sp=Scratchpad.INPUT, src0_dtype=DType.FP32, src0_addr=0, src0_s1=N,
    )  # fmt: skip
    b.emit(v, node="relu")
    b.emit(dma(Store, Scratchpad.ACC, 0, y, (M, N), esize=4, wait=VECTOR), node="relu")
