"""How an op is declared: ``OpSupport`` (one row of the registry) and ``OpTable`` (the rows one
lowering module declares).

Each lowering module owns an ``OpTable`` and declares its ops on it, next to their lowering
functions; ``compiler.ops`` merges the modules' tables into the registry. Nothing here imports
a lowering, and no lowering imports ``compiler.ops``, so there is no import cycle and no row is
ever patched after it is declared (a duplicate op is an error at import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

FLOAT = frozenset({"float32"})


@dataclass(frozen=True)
class OpSupport:
    """One supported op.

    ``dtypes`` and ``constraints`` are the documentation (``npu ops``, the supported-ops page);
    ``accepts`` the dtypes its non-constant, non-quantised tensors may have (quantised int8
    tensors are the QDQ pass's, checked by it); ``check(node, graph)`` returns why a node is
    not supported, or None; ``lower(ctx, node)`` emits it (None: removed or rewritten by a pass
    before lowering); ``internal`` ops are made by the compiler's passes, never accepted in a
    model, and left out of the user's list. ``weights``: whether its lowering may touch the
    weight scratchpad (a GEMM nest's ``prefetch(ctx, node)`` may only go ahead of layers
    that do not, ``compiler.driver``).
    """

    op: str
    dtypes: str
    constraints: str
    lower: Callable | None = None
    check: Callable | None = None
    internal: bool = False
    accepts: frozenset[str] = FLOAT
    weights: bool = True
    prefetch: Callable | None = None


class OpTable:
    """The ops one module declares, in declaration order; ``weights``: whether its lowerings
    may touch the weight scratchpad (a row may say otherwise)."""

    def __init__(self, weights: bool = True) -> None:
        self.rows: dict[str, OpSupport] = {}
        self.weights = weights

    def add(self, row: OpSupport) -> OpSupport:
        if row.op in self.rows:
            raise ValueError(f"op {row.op!r} declared twice")
        self.rows[row.op] = row
        return row

    def declare(
        self,
        op: str,
        dtypes: str,
        constraints: str,
        check: Callable | None = None,
        *,
        internal: bool = False,
        accepts: Iterable[str] = FLOAT,
        weights: bool | None = None,
        prefetch: Callable | None = None,
    ):
        """Decorator: ``fn`` is the lowering of ``op``."""
        w = self.weights if weights is None else weights

        def wrap(fn):
            row = OpSupport(op, dtypes, constraints, fn, check, internal, frozenset(accepts), w)
            self.add(row if prefetch is None else replace(row, prefetch=prefetch))
            return fn

        return wrap

    def __iter__(self):
        return iter(self.rows.values())
