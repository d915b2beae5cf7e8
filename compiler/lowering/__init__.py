"""Lowerings, one function per op, registered in ``compiler.ops.REGISTRY`` on import."""

from compiler.lowering import conv, convtranspose, eltwise, movement, pool, quant, rowwise  # noqa: F401
