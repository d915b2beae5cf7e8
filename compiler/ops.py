"""The op registry: every op the compiler knows, declared once in the ``OpTable`` of the
lowering module that lowers it, merged here.

``supported_ops()`` (``npu ops``, ``docs/supported_ops.md``, the conformance and fuzz
selections), ``unsupported_reason()`` (the per-node predicate the support check and the host
partition call) and the lowering dispatch (``lookup``) all read this registry. Imports go one
way: this module imports the lowerings; they import only ``compiler.opdecl``.
"""

from __future__ import annotations

from compiler.ir import Graph, Node
from compiler.lowering import TABLES
from compiler.opdecl import OpSupport

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
NOT_DECLARED = "op not supported"  # the reason of a node whose op the NPU has no lowering for


def _merge(tables) -> dict[str, OpSupport]:
    registry: dict[str, OpSupport] = {}
    for table in tables:
        for row in table:
            if row.op in registry:
                raise ValueError(f"op {row.op!r} is declared by two lowering modules")
            registry[row.op] = row
    return registry


REGISTRY: dict[str, OpSupport] = _merge(TABLES)


def supported_ops(internal: bool = False) -> list[OpSupport]:
    """The ops a model may contain, sorted by name; with ``internal``, also the ops the
    compiler's passes make (QConv, Relayout, ...)."""
    return [REGISTRY[k] for k in sorted(REGISTRY) if internal or not REGISTRY[k].internal]


def lookup(op: str) -> OpSupport | None:
    """The declaration of ``op`` (internal ops too), or None."""
    return REGISTRY.get(op)


def unsupported_reason(node: Node, graph: Graph) -> str | None:
    """Why the NPU cannot run ``node`` of an imported model (before the compiler's passes),
    or None when it can: the op is not declared (or is internal), a tensor's dtype is not one
    the op accepts, or the op's own check names a limit."""
    decl = REGISTRY.get(node.op)
    if decl is None or decl.internal:
        return NOT_DECLARED
    return dtype_reason(node, graph, decl) or (decl.check(node, graph) if decl.check else None)


def dtype_reason(node: Node, graph: Graph, decl: OpSupport) -> str | None:
    """Name the first non-constant, non-quantised tensor whose dtype ``decl`` does not accept
    (QuantizeLinear/DequantizeLinear check their own dtypes)."""
    if node.op in QDQ_OPS:
        return None
    for name in (*node.inputs, *node.outputs):
        t = graph.tensors.get(name)
        if not name or name in graph.constants or t is None or t.quant is not None:
            continue
        if t.dtype not in decl.accepts:
            allowed = ", ".join(sorted(decl.accepts))
            return f"tensor {name!r} has dtype {t.dtype}; {node.op} accepts {allowed}"
    return None
