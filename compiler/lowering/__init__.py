"""Lowerings, one function per op, registered in ``compiler.ops.REGISTRY`` on import."""

from compiler.lowering import conv, eltwise, pool, rowwise  # noqa: F401
