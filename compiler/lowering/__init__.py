"""Lowerings, one function per op, registered in ``compiler.ops.REGISTRY`` on import."""

from compiler.lowering import (  # noqa: F401
    conv,
    convtranspose,
    eltwise,
    lrn,
    movement,
    pool,
    quant,
    rowwise,
)
