"""The element-wise and reduction op families, as tables: one row per ONNX op.

A row names the vector function (``simulator.isa.VFunc``: its numpy semantics in
``simulator/vector.py``, its cycles in the ISA table the cost model reads), the activation
dtypes the op accepts, and how attributes become immediates. ``compiler.lowering.families``
and ``compiler.lowering.reduce`` turn every row into a declared op (lowering, ``npu ops``,
``docs/supported_ops.md``, the conformance selection); the passes read the same rows (which
activations fuse into an epilogue, which ops keep a channels-last layout). Data only: this
module imports no lowering and no pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.isa import VFunc

FLOAT = frozenset({"float32"})
INT = frozenset({"int32", "int64"})
NUM = FLOAT | INT
BOOL = frozenset({"bool"})


def f32_bits(x: float) -> int:
    return int(np.array(x, dtype=np.float32).view(np.uint32))


@dataclass(frozen=True)
class Unary:
    """``y = func(x)``; ``imm``: attributes (name, default) read as fp32 immediates, in order;
    ``variants``: an attribute whose value picks another function; ``fusable``: applied in a
    Conv/Gemm/MatMul epilogue when it follows one; ``out``: the output dtype when fixed."""

    op: str
    func: VFunc
    accepts: frozenset[str] = FLOAT
    imm: tuple[tuple[str, float], ...] = ()
    variants: tuple[str, tuple[tuple[object, VFunc], ...]] | None = None
    fusable: bool = False
    out: str | None = None

    def function(self, attrs: dict) -> VFunc | None:
        """The vector function for a node's attributes (None: an unsupported variant)."""
        if self.variants is None:
            return self.func
        name, table = self.variants
        return dict(table).get(attrs.get(name, table[0][0]))

    def immediates(self, attrs: dict) -> tuple[int, int, int]:
        vals = [f32_bits(float(attrs.get(k, d))) for k, d in self.imm]
        return (*vals, *[0] * (3 - len(vals)))


_GELU = ("approximate", (("none", VFunc.GELU), ("tanh", VFunc.GELU_TANH)))

UNARY: tuple[Unary, ...] = (
    Unary("Relu", VFunc.RELU, NUM, fusable=True),
    Unary("LeakyRelu", VFunc.LEAKY_RELU, imm=(("alpha", 0.01),), fusable=True),
    Unary("Sigmoid", VFunc.SIGMOID, fusable=True),
    Unary("Tanh", VFunc.TANH, fusable=True),
    Unary("HardSigmoid", VFunc.HARD_SIGMOID, imm=(("alpha", 0.2), ("beta", 0.5)), fusable=True),
    Unary("HardSwish", VFunc.HARD_SWISH, fusable=True),
    Unary("Gelu", VFunc.GELU, variants=_GELU, fusable=True),
    Unary("Swish", VFunc.SWISH, imm=(("alpha", 1.0),), fusable=True),
    Unary("Mish", VFunc.MISH, fusable=True),
    Unary("Elu", VFunc.ELU, imm=(("alpha", 1.0),), fusable=True),
    Unary("Selu", VFunc.SELU, imm=(("alpha", 1.6732632423543772), ("gamma", 1.0507009873554805))),
    Unary("Celu", VFunc.CELU, imm=(("alpha", 1.0),)),
    Unary("ThresholdedRelu", VFunc.THRESHOLDED_RELU, imm=(("alpha", 1.0),)),
    Unary("Shrink", VFunc.SHRINK, imm=(("lambd", 0.5), ("bias", 0.0))),
    Unary("Softplus", VFunc.SOFTPLUS, fusable=True),
    Unary("Softsign", VFunc.SOFTSIGN),
    Unary("Erf", VFunc.ERF),
    Unary("Exp", VFunc.EXP),
    Unary("Log", VFunc.LOG),
    Unary("Sqrt", VFunc.SQRT),
    Unary("Reciprocal", VFunc.RECIP),
    Unary("Neg", VFunc.NEG, NUM),
    Unary("Abs", VFunc.ABS, NUM),
    Unary("Sign", VFunc.SIGN, NUM),
    Unary("Floor", VFunc.FLOOR),
    Unary("Ceil", VFunc.CEIL),
    Unary("Round", VFunc.ROUND),
    Unary("Sin", VFunc.SIN),
    Unary("Cos", VFunc.COS),
    Unary("Tan", VFunc.TAN),
    Unary("Asin", VFunc.ASIN),
    Unary("Acos", VFunc.ACOS),
    Unary("Atan", VFunc.ATAN),
    Unary("Sinh", VFunc.SINH),
    Unary("Cosh", VFunc.COSH),
    Unary("Asinh", VFunc.ASINH),
    Unary("Acosh", VFunc.ACOSH),
    Unary("Atanh", VFunc.ATANH),
    Unary("IsNaN", VFunc.ISNAN, FLOAT | BOOL, out="bool"),
    Unary(
        "IsInf",
        VFunc.ISINF,
        FLOAT | BOOL,
        imm=(("detect_positive", 1.0), ("detect_negative", 1.0)),
        out="bool",
    ),
    Unary("Not", VFunc.NOT, BOOL, out="bool"),
    Unary("BitwiseNot", VFunc.BITNOT, INT),
)


@dataclass(frozen=True)
class Binary:
    """``y = func(a, b)`` with numpy broadcasting. ``nary``: any number of inputs, folded left
    (``mean``: then times 1/n); ``swap``: the operands exchanged (Greater is LT(b, a));
    ``int_func``: the function on integer operands; ``variants`` as for ``Unary``; ``out``:
    the output dtype when fixed (comparisons: bool)."""

    op: str
    func: VFunc
    accepts: frozenset[str] = FLOAT
    nary: bool = False
    mean: bool = False
    swap: bool = False
    int_func: VFunc | None = None
    variants: tuple[str, tuple[tuple[object, VFunc], ...]] | None = None
    out: str | None = None

    def function(self, attrs: dict, integer: bool) -> VFunc | None:
        if self.variants is not None:
            name, table = self.variants
            return dict(table).get(attrs.get(name, table[0][0]))
        return self.int_func if integer and self.int_func is not None else self.func


BINARY: tuple[Binary, ...] = (
    Binary("Add", VFunc.ADD, NUM),
    Binary("Sub", VFunc.SUB, NUM),
    Binary("Mul", VFunc.MUL, NUM),
    Binary("Div", VFunc.DIV, NUM, int_func=VFunc.IDIV),
    Binary("Pow", VFunc.POW, NUM),
    Binary("Mod", VFunc.MOD, NUM, variants=("fmod", ((0, VFunc.MOD), (1, VFunc.FMOD)))),
    Binary("PRelu", VFunc.PRELU),
    Binary("Max", VFunc.MAX, NUM, nary=True),
    Binary("Min", VFunc.MIN, NUM, nary=True),
    Binary("Sum", VFunc.ADD, nary=True),
    Binary("Mean", VFunc.ADD, nary=True, mean=True),
    Binary("BitwiseAnd", VFunc.BITAND, INT),
    Binary("BitwiseOr", VFunc.BITOR, INT),
    Binary("BitwiseXor", VFunc.BITXOR, INT),
    Binary("Equal", VFunc.EQ, NUM | BOOL, out="bool"),
    Binary("Less", VFunc.LT, NUM, out="bool"),
    Binary("LessOrEqual", VFunc.LE, NUM, out="bool"),
    Binary("Greater", VFunc.LT, NUM, swap=True, out="bool"),
    Binary("GreaterOrEqual", VFunc.LE, NUM, swap=True, out="bool"),
    Binary("And", VFunc.AND, BOOL, out="bool"),
    Binary("Or", VFunc.OR, BOOL, out="bool"),
    Binary("Xor", VFunc.XOR, BOOL, out="bool"),
)


@dataclass(frozen=True)
class Reduce:
    """A reduction over any axes (``keepdims``, ``noop_with_empty_axes``). Per element
    ``pre`` (ABS, or MUL for x*x), per row ``combine`` (RSUM/RMAX/RMIN/RPROD; the partial
    results of a row's chunks are combined by ``merge``), then ``post`` on the result;
    ``mean``: times 1/count; ``lse``: log-sum-exp (max first, then the sum of exp(x - max));
    ``arg``: ArgMax/ArgMin (one axis, an int64 index)."""

    op: str
    combine: VFunc
    merge: VFunc
    accepts: frozenset[str] = FLOAT
    pre: VFunc | None = None
    post: tuple[VFunc, ...] = ()
    mean: bool = False
    lse: bool = False
    arg: bool = False
    spatial: bool = False  # GlobalMaxPool: the axes are 2.. (keepdims)


REDUCE: tuple[Reduce, ...] = (
    Reduce("ReduceSum", VFunc.RSUM, VFunc.ADD, NUM),
    Reduce("ReduceMean", VFunc.RSUM, VFunc.ADD, mean=True),
    Reduce("ReduceMax", VFunc.RMAX, VFunc.MAX, NUM),
    Reduce("ReduceMin", VFunc.RMIN, VFunc.MIN, NUM),
    Reduce("ReduceProd", VFunc.RPROD, VFunc.MUL, NUM),
    Reduce("ReduceL1", VFunc.RSUM, VFunc.ADD, NUM, pre=VFunc.ABS),
    Reduce("ReduceL2", VFunc.RSUM, VFunc.ADD, pre=VFunc.MUL, post=(VFunc.SQRT,)),
    Reduce("ReduceSumSquare", VFunc.RSUM, VFunc.ADD, NUM, pre=VFunc.MUL),
    Reduce("ReduceLogSum", VFunc.RSUM, VFunc.ADD, post=(VFunc.LOG,)),
    Reduce("ReduceLogSumExp", VFunc.RSUM, VFunc.ADD, lse=True),
    Reduce("ArgMax", VFunc.RARGMAX, VFunc.MAX, NUM, arg=True),
    Reduce("ArgMin", VFunc.RARGMIN, VFunc.MIN, NUM, arg=True),
    Reduce("GlobalMaxPool", VFunc.RMAX, VFunc.MAX, spatial=True),
)

UNARY_OPS = {r.op: r for r in UNARY}
BINARY_OPS = {r.op: r for r in BINARY}
REDUCE_OPS = {r.op: r for r in REDUCE}
# element-wise ops whose output can keep the layout of their first activation input
ELEMENTWISE = frozenset(UNARY_OPS) | frozenset(BINARY_OPS) | {"Clip", "Where", "Cast"}
FUSABLE = tuple(r.op for r in UNARY if r.fusable)  # plus Clip with constant bounds


def epilogue_act(op: str, params: dict) -> tuple[VFunc, int, int]:
    """The (function, imm0, imm1) of an activation fused into a GEMM epilogue."""
    if op == "Clip":
        return VFunc.CLIP, f32_bits(params["min"]), f32_bits(params["max"])
    row = UNARY_OPS[op]
    imm = row.immediates(params)
    return row.function(params), imm[0], imm[1]
