"""Lowerings, one function per op, registered in ``compiler.ops.REGISTRY`` on import."""

from compiler.lowering import conv, eltwise, pool, quant, rowwise  # noqa: F401
