"""How an op is declared: ``OpSupport`` (one row of the registry) and ``OpTable`` (the rows one
lowering module declares).

Each lowering module owns an ``OpTable`` and declares its ops on it, next to their lowering
functions; ``compiler.ops`` merges the modules' tables into the registry. Nothing here imports
a lowering, and no lowering imports ``compiler.ops``, so there is no import cycle and no row is
ever patched after it is declared (a duplicate op is an error at import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

FLOAT = frozenset({"float32"})


@dataclass(frozen=True)
class OpSupport:
    """One supported op.

    ``dtypes`` and ``constraints`` are the documentation (``npu ops``, the supported-ops page);
    ``accepts`` the dtypes its non-constant, non-quantised tensors may have (quantised int8
    tensors are the QDQ pass's, checked by it); ``check(node, graph)`` returns why a node is
    not supported, or None; ``lower(ctx, node)`` emits it (None: removed or rewritten by a pass
    before lowering); ``internal`` ops are made by the compiler's passes, never accepted in a
    model, and left out of the user's list.
    """

    op: str
    dtypes: str
    constraints: str
    lower: Callable | None = None
    check: Callable | None = None
    internal: bool = False
    accepts: frozenset[str] = FLOAT


class OpTable:
    """The ops one module declares, in declaration order."""

    def __init__(self) -> None:
        self.rows: dict[str, OpSupport] = {}

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
    ):
        """Decorator: ``fn`` is the lowering of ``op``."""

        def wrap(fn):
            self.add(OpSupport(op, dtypes, constraints, fn, check, internal, frozenset(accepts)))
            return fn

        return wrap

    def __iter__(self):
        return iter(self.rows.values())
