"""Every supported op declared once: name, dtypes, constraints, optional check, lowering.

``compiler.supported_ops()``, ``npu ops``, ``docs/supported_ops.md``, the unsupported-op scan
and the lowering dispatch all read this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compiler.ir import Graph, Node


@dataclass(frozen=True)
class OpSupport:
    op: str
    dtypes: str
    constraints: str
    lower: Callable | None = None  # None: removed or rewritten by a pass before lowering
    check: Callable[[Node, Graph], str | None] | None = None  # reason it is unsupported


REGISTRY: dict[str, OpSupport] = {}


def declare(op: str, dtypes: str, constraints: str, check=None):
    """Decorator: register ``fn`` as the lowering of ``op``."""

    def wrap(fn):
        REGISTRY[op] = OpSupport(op, dtypes, constraints, fn, check)
        return fn

    return wrap


def declare_pass_only(op: str, dtypes: str, constraints: str, check=None) -> None:
    REGISTRY[op] = OpSupport(op, dtypes, constraints, None, check)


def supported_ops() -> list[OpSupport]:
    import compiler.lowering  # noqa: F401  (registers the lowerings)

    return [REGISTRY[k] for k in sorted(REGISTRY)]
