"""Random valid ONNX graphs for the differential fuzz (NPU vs onnxruntime).

A graph grows from one float input: each step applies an op to a tensor of the pool (the last
one for a chain, any one for a DAG); binary ops take a second pool tensor of the same shape or
a broadcastable constant. Only ops the compiler declares are drawn. Weights come from a numpy
generator seeded by a drawn integer (fast to draw, still shrinkable). ``qdq`` wraps the
matrix ops in int8 QuantizeLinear/DequantizeLinear pairs, the pattern onnxruntime's quantiser
emits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from hypothesis import assume
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
Shape = tuple[int, ...]


@dataclass
class Builder:
    draw: Callable
    rng: np.random.Generator
    qdq: bool = False
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    pool: list[tuple[str, Shape]] = field(default_factory=list)
    count: int = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, shape: Shape, scale: float = 1.0, positive: bool = False) -> str:
        values = self.rng.standard_normal(shape).astype(np.float32) * np.float32(scale)
        if positive:
            values = np.abs(values) + np.float32(0.5)
        name = self.fresh("k")
        self.inits.append(numpy_helper.from_array(values.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], shape: Shape, **attrs) -> tuple[str, Shape]:
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"n_{out}", **attrs))
        self.pool.append((out, shape))
        return out, shape

    def int8_weight(self, shape: Shape, scale: float) -> str:
        """A weight as onnxruntime's quantiser stores it (int8 initializer -> DequantizeLinear)
        or, less often, as a float initializer wrapped in QuantizeLinear -> DequantizeLinear."""
        if self.draw(st.integers(0, 3)) == 0:
            return self.qdq_pair(self.const(shape, scale=127 * scale), scale)
        values = self.rng.integers(-127, 128, shape).astype(np.int8)
        q, s, z, dq = self.fresh("wq"), self.fresh("s"), self.fresh("z"), self.fresh("dq")
        self.inits.append(numpy_helper.from_array(values, q))
        self.inits.append(numpy_helper.from_array(np.array(scale, np.float32), s))
        self.inits.append(numpy_helper.from_array(np.array(0, np.int8), z))
        self.nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"n_{dq}"))
        return dq

    def qdq_pair(self, x: str, scale: float) -> str:
        """x -> QuantizeLinear(int8) -> DequantizeLinear: the fake-quant wrapper."""
        s = self.fresh("s")
        z = self.fresh("z")
        self.inits.append(numpy_helper.from_array(np.array(scale, np.float32), s))
        self.inits.append(numpy_helper.from_array(np.array(0, np.int8), z))
        q, dq = self.fresh("q"), self.fresh("dq")
        self.nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [q], name=f"n_{q}"))
        self.nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"n_{dq}"))
        return dq


# ---- op generators: (builder, x, shape) -> (name, shape) or None when not applicable ---------

UNARY: dict[str, dict] = {
    "Relu": {},
    "Sigmoid": {},
    "Tanh": {},
    "Abs": {},
    "Neg": {},
    "Exp": {},
    "Erf": {},
    "Softplus": {},
    "HardSwish": {},
    "LeakyRelu": {"alpha": 0.1},
    "Elu": {"alpha": 0.7},
    "HardSigmoid": {"alpha": 0.25, "beta": 0.4},
}


def unary(op: str):
    def gen(b: Builder, x: str, shape: Shape):
        return b.node(op, [x], shape, **UNARY[op])

    return gen


def clip(b: Builder, x: str, shape: Shape):
    lo = b.draw(st.sampled_from([-1.0, -0.5, 0.0]))
    hi = b.draw(st.sampled_from([0.5, 1.0, 6.0]))
    lo_name, hi_name = b.fresh("lo"), b.fresh("hi")
    b.inits.append(numpy_helper.from_array(np.array(lo, np.float32), lo_name))
    b.inits.append(numpy_helper.from_array(np.array(hi, np.float32), hi_name))
    return b.node("Clip", [x, lo_name, hi_name], shape)


def broadcast_shape(b: Builder, shape: Shape) -> Shape:
    dims = tuple(d if b.draw(st.booleans()) else 1 for d in shape)
    drop = b.draw(st.integers(0, len(dims)))
    return dims[drop:]


def binary(op: str):
    def gen(b: Builder, x: str, shape: Shape):
        peers = [n for n, s in b.pool if s == shape and n != x]
        if peers and b.draw(st.booleans()):
            other = b.draw(st.sampled_from(peers))
        else:
            other = b.const(broadcast_shape(b, shape), positive=op == "Div")
        pair = [x, other] if b.draw(st.booleans()) or op == "Div" else [other, x]
        return b.node(op, pair, shape)

    return gen


def conv(b: Builder, x: str, shape: Shape):
    if len(shape) != 4:
        return None
    n, c, h, w = shape
    k = b.draw(st.integers(1, 3))
    stride, dil = b.draw(st.integers(1, 2)), b.draw(st.integers(1, 2))
    pad = b.draw(st.integers(0, k - 1))
    span = dil * (k - 1) + 1
    if min(h, w) + 2 * pad < span:
        return None
    depthwise = b.draw(st.booleans())
    co, group = (c, c) if depthwise else (b.draw(st.integers(1, 8)), 1)
    x = b.qdq_pair(x, 0.02) if b.qdq else x
    wshape, fan_in = (co, c // group, k, k), k * k * c / group
    if b.qdq:
        wname = b.int8_weight(wshape, 1.0 / (127 * np.sqrt(fan_in)))
    else:
        wname = b.const(wshape, scale=1.0 / np.sqrt(fan_in))
    inputs = [x, wname] + ([b.const((co,), 0.1)] if b.draw(st.booleans()) else [])
    out = tuple((d + 2 * pad - span) // stride + 1 for d in (h, w))
    attrs = dict(kernel_shape=[k, k], strides=[stride] * 2, dilations=[dil] * 2)
    return b.node("Conv", inputs, (n, co, *out), pads=[pad] * 4, group=group, **attrs)


def matmul(b: Builder, x: str, shape: Shape):
    if len(shape) < 2:
        return None
    n = b.draw(st.integers(1, 24))
    x = b.qdq_pair(x, 0.02) if b.qdq else x
    if b.qdq:
        wname = b.int8_weight((shape[-1], n), 1.0 / (127 * np.sqrt(shape[-1])))
    else:
        wname = b.const((shape[-1], n), scale=1.0 / np.sqrt(shape[-1]))
    return b.node("MatMul", [x, wname], (*shape[:-1], n))


def gemm(b: Builder, x: str, shape: Shape):
    if len(shape) != 2:
        return None
    m, k = shape
    n = b.draw(st.integers(1, 24))
    trans_b = b.draw(st.integers(0, 1))
    wshape = (n, k) if trans_b else (k, n)
    inputs = [x, b.const(wshape, scale=1.0 / np.sqrt(k))]
    if b.draw(st.booleans()):
        inputs.append(b.const(b.draw(st.sampled_from([(n,), (1, n), (m, n)]))))
    return b.node("Gemm", inputs, (m, n), transB=trans_b)


def pool(op: str):
    def gen(b: Builder, x: str, shape: Shape):
        if len(shape) != 4:
            return None
        k, stride = b.draw(st.integers(1, 3)), b.draw(st.integers(1, 2))
        pad = b.draw(st.integers(0, k - 1))
        if min(shape[2:]) + 2 * pad < k:
            return None
        out = tuple((d + 2 * pad - k) // stride + 1 for d in shape[2:])
        attrs = dict(kernel_shape=[k, k], strides=[stride] * 2, pads=[pad] * 4)
        return b.node(op, [x], (*shape[:2], *out), **attrs)

    return gen


def global_pool(op: str):
    def gen(b: Builder, x: str, shape: Shape):
        if len(shape) != 4:
            return None
        return b.node(op, [x], (*shape[:2], 1, 1))

    return gen


def softmax(b: Builder, x: str, shape: Shape):
    axis = b.draw(st.integers(-len(shape), len(shape) - 1))
    return b.node("Softmax", [x], shape, axis=axis)


def flatten(b: Builder, x: str, shape: Shape):
    axis = b.draw(st.integers(0, len(shape)))
    lead = int(np.prod(shape[:axis], dtype=np.int64))
    return b.node("Flatten", [x], (lead, int(np.prod(shape[axis:], dtype=np.int64))), axis=axis)


def transpose(b: Builder, x: str, shape: Shape):
    perm = b.draw(st.permutations(range(len(shape))))
    return b.node("Transpose", [x], tuple(shape[p] for p in perm), perm=list(perm))


def reshape(b: Builder, x: str, shape: Shape):
    size = int(np.prod(shape, dtype=np.int64))
    target = b.draw(st.sampled_from([(1, size), (size,), (size, 1), tuple(reversed(shape))]))
    name = b.fresh("shape")
    b.inits.append(numpy_helper.from_array(np.array(target, np.int64), name))
    return b.node("Reshape", [x, name], target)


def concat(b: Builder, x: str, shape: Shape):
    axis = b.draw(st.integers(0, len(shape) - 1))
    peers = [n for n, s in b.pool if len(s) == len(shape) and _same_but(s, shape, axis)]
    other = b.draw(st.sampled_from(peers))  # x itself is always a peer
    extra = dict(b.pool)[other][axis]
    out = tuple(d + extra if i == axis else d for i, d in enumerate(shape))
    return b.node("Concat", [x, other], out, axis=axis)


def _same_but(a: Shape, b: Shape, axis: int) -> bool:
    return all(x == y for i, (x, y) in enumerate(zip(a, b, strict=True)) if i != axis)


def batchnorm(b: Builder, x: str, shape: Shape):
    if len(shape) != 4:
        return None
    c = shape[1]
    params = [b.const((c,)), b.const((c,), 0.1), b.const((c,), 0.1), b.const((c,), positive=True)]
    return b.node("BatchNormalization", [x, *params], shape, epsilon=1e-5)


GENERATORS: dict[str, Callable] = {
    **{op: unary(op) for op in UNARY},
    "Clip": clip,
    **{op: binary(op) for op in ("Add", "Sub", "Mul", "Div", "Max", "Min")},
    "Conv": conv,
    "MatMul": matmul,
    "Gemm": gemm,
    "MaxPool": pool("MaxPool"),
    "AveragePool": pool("AveragePool"),
    "GlobalAveragePool": global_pool("GlobalAveragePool"),
    "GlobalMaxPool": global_pool("GlobalMaxPool"),
    "Softmax": softmax,
    "Flatten": flatten,
    "Transpose": transpose,
    "Reshape": reshape,
    "Concat": concat,
    "BatchNormalization": batchnorm,
}
MATRIX_OPS = ("Conv", "MatMul")


@st.composite
def graphs(draw, ops: frozenset[str], dag: bool = True, qdq: bool = False, max_ops: int = 6):
    """(model, feeds): a random graph over ``ops`` with one float input."""
    usable = sorted(op for op in GENERATORS if op in ops)
    if qdq:
        usable = [op for op in MATRIX_OPS if op in usable]
    rank4 = draw(st.booleans())
    shape = (
        (1, draw(st.integers(1, 8)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
        if rank4
        else (draw(st.integers(1, 8)), draw(st.integers(1, 32)))
    )
    b = Builder(draw, np.random.default_rng(draw(st.integers(0, 2**32 - 1))), qdq=qdq)
    b.pool.append(("x", shape))
    for _ in range(draw(st.integers(1, max_ops))):
        x, xshape = draw(st.sampled_from(b.pool)) if dag else b.pool[-1]
        if int(np.prod(xshape)) > 4096:
            break
        GENERATORS[draw(st.sampled_from(usable))](b, x, xshape)  # None: not applicable
    assume(len(b.pool) > 1)
    out, out_shape = b.pool[-1]
    return _model(b, shape, out, out_shape), {"x": _input(draw, shape)}


def _input(draw, shape: Shape) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _model(b: Builder, shape: Shape, out: str, out_shape: Shape) -> onnx.ModelProto:
    graph = helper.make_graph(
        b.nodes,
        "fuzz",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
        b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model
