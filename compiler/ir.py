"""The compiler's one IR: a networkx graph of frozen ``Node`` records over typed tensors.

A tensor is named (ONNX names kept) and typed by ``TensorType``: logical ONNX shape, numpy
dtype name, DRAM layout (``perm``: the storage order of the logical axes, identity for plain
row-major, ``(0, 2, 3, 1)`` for NHWC of a 4-D NCHW tensor) and quantisation. Constants live in
``Graph.constants``; a node's inputs name tensors or constants, in ONNX order ("" = absent).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

NHWC = (0, 2, 3, 1)


@dataclass(frozen=True)
class Quant:
    scale: float
    zero_point: int
    dtype: str  # int8 | uint8


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: str = "float32"
    perm: tuple[int, ...] | None = None  # None: identity (plain row-major)
    quant: Quant | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def layout(self) -> tuple[int, ...]:
        return self.perm if self.perm is not None else tuple(range(self.rank))

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def replace(self, **changes) -> TensorType:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    fused: tuple[str, ...] = ()  # names of ONNX nodes folded into this one
    opset: int = 0

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def replace(self, **changes) -> Node:
        return dataclasses.replace(self, **changes)


class Graph:
    """Nodes in a networkx DiGraph (edges producer -> consumer), tensors and constants by name."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.g = nx.DiGraph()
        self.tensors: dict[str, TensorType] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self._order = 0
        self._index: tuple[dict, dict] | None = None
        self._sorted: list[Node] | None = None  # nodes() until the next add or remove
        # what lowerings derive from constant arrays (weights in the array's order), kept
        # across lowerings at other configs (``npu sweep``): ``lowering.common.derived``
        self.derived: dict[tuple, tuple[np.ndarray, Any]] = {}

    def copy(self) -> Graph:
        """A graph whose nodes, tensors and constants can change without touching this one
        (constant arrays are shared: passes replace them, never write into them)."""
        out = Graph(self.name)
        out.g = self.g.copy()
        out.tensors, out.constants = dict(self.tensors), dict(self.constants)
        out.inputs, out.outputs, out._order = list(self.inputs), list(self.outputs), self._order
        out.derived = self.derived  # keyed by the arrays themselves: shared safely
        return out

    # --- nodes -------------------------------------------------------------------------
    def add(self, node: Node, order: float | None = None) -> Node:
        """Insert ``node`` (``order``: its place among equals in ``nodes()``; default: after
        every node added so far), with its edges and its entries in the index."""
        if node.name in self.g:
            raise ValueError(f"duplicate node name {node.name!r}")
        order, edges = self._link(node, order)
        self.g.add_node(node.name, node=node, order=order)
        for a, b in edges:
            self.g.add_edge(a, b)
        self._sorted = None
        return node

    def extend(self, nodes: Iterable[Node]) -> None:
        """``add`` of each node in turn, handed to networkx in one batch: an importer's whole
        graph."""
        nodes, seen = list(nodes), set()
        for node in nodes:  # refused before anything changes
            if node.name in self.g or node.name in seen:
                raise ValueError(f"duplicate node name {node.name!r}")
            seen.add(node.name)
        entries, edges = [], []
        for node in nodes:
            order, more = self._link(node)
            entries.append((node.name, {"node": node, "order": order}))
            edges += more
        self.g.add_nodes_from(entries)
        self.g.add_edges_from(edges)
        self._sorted = None

    def _link(self, node: Node, order: float | None = None) -> tuple[float, list]:
        """``node``'s entries in the index (kept current: passes edit node by node); its
        order (default: after every node added so far) and its edges."""
        if order is None:
            order = self._order
            self._order += 1
        prod, cons = self._build_index()
        name = node.name
        for o in node.outputs:
            prod[o] = name
        for i in dict.fromkeys(node.inputs):
            cons.setdefault(i, []).append(name)
        edges = [(p, name) for i in node.inputs if (p := prod.get(i)) not in (None, name)]
        edges += [(name, c) for o in node.outputs for c in cons.get(o, ()) if c != name]
        return order, edges

    def remove(self, name: str) -> None:
        node = self.node(name)
        self.g.remove_node(name)
        self._sorted = None
        if self._index is not None:
            prod, cons = self._index
            for o in node.outputs:
                if prod.get(o) == name:
                    del prod[o]
            for i in dict.fromkeys(node.inputs):
                users = [n for n in cons.get(i, []) if n != name]
                if users:
                    cons[i] = users
                else:
                    cons.pop(i, None)

    def replace(self, node: Node) -> Node:
        order = self.g.nodes[node.name]["order"]
        self.remove(node.name)
        return self.add(node, order)

    def _build_index(self) -> tuple[dict, dict]:
        if self._index is None:
            prod: dict[str, str] = {}
            cons: dict[str, list[str]] = {}
            for name, data in self.g.nodes(data=True):
                for o in data["node"].outputs:
                    prod[o] = name
                for i in dict.fromkeys(data["node"].inputs):
                    cons.setdefault(i, []).append(name)
            self._index = (prod, cons)
        return self._index

    def node(self, name: str) -> Node:
        return self.g.nodes[name]["node"]

    def nodes(self) -> list[Node]:
        """Nodes in a deterministic topological order (ties broken by insertion order); kept
        until the graph changes (passes and checks ask for it many times)."""
        if self._sorted is None:
            data = self.g.nodes
            self._sorted = [data[n]["node"] for n in _toposort(self.g)]
        return list(self._sorted)

    def producer(self, tensor: str) -> Node | None:
        name = self._build_index()[0].get(tensor)
        return None if name is None else self.g.nodes[name]["node"]

    def consumers(self, tensor: str) -> list[Node]:
        names = self._build_index()[1].get(tensor, [])
        data = self.g.nodes
        if len(names) < 2:
            return [data[n]["node"] for n in names]
        return [data[n]["node"] for n in sorted(names, key=lambda n: data[n]["order"])]

    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self.g or name in self.tensors or name in self.constants:
            i += 1
            name = f"{base}_{i}"
        return name

    # --- tensors -----------------------------------------------------------------------
    def type(self, tensor: str) -> TensorType:
        if tensor in self.constants:
            c = self.constants[tensor]
            return TensorType(tuple(c.shape), c.dtype.name)
        return self.tensors[tensor]

    def is_const(self, tensor: str) -> bool:
        return tensor in self.constants

    def scalar(self, tensor: str) -> float | None:
        """The value of a one-element constant (0-d or any shape of one element), else None."""
        c = self.constants.get(tensor)
        if c is None or np.size(c) != 1:
            return None
        return float(np.asarray(c).reshape(-1)[0])

    def dump(self) -> str:
        lines = [f"graph {self.name}: inputs {self.inputs} outputs {self.outputs}"]
        for n in self.nodes():
            outs = ", ".join(f"{o}:{_fmt(self.tensors.get(o))}" for o in n.outputs)
            ins = ", ".join(i if not self.is_const(i) else f"const {i}" for i in n.inputs)
            extra = f" fused={list(n.fused)}" if n.fused else ""
            lines.append(f"  {n.name} = {n.op}({ins}) -> {outs} {n.attrs}{extra}")
        return "\n".join(lines)


def _fmt(t: TensorType | None) -> str:
    if t is None:
        return "?"
    q = f" q({t.quant.scale:.4g},{t.quant.zero_point})" if t.quant else ""
    p = f" perm{t.perm}" if t.perm else ""
    return f"{t.dtype}{list(t.shape)}{p}{q}"


def _toposort(g: nx.DiGraph) -> list[str]:
    """networkx's ``lexicographical_topological_sort`` keyed by each node's ``order`` (ties:
    the node added first), without its generic machinery: Kahn's algorithm on a heap.
    ``nx.NetworkXUnfeasible`` on a cycle."""
    data, succ = g.nodes, g.succ
    rank = {n: (data[n]["order"], i) for i, n in enumerate(g)}
    indeg = dict(g.in_degree())
    ready = [(rank[n], n) for n, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(ready, (rank[m], m))
    if len(out) != len(indeg):
        raise nx.NetworkXUnfeasible("Graph contains a cycle")
    return out


def verify(graph: Graph) -> None:
    """The IR's rules: acyclic, every input defined, every tensor typed, outputs produced."""
    try:  # the topological order the passes ask for anyway (kept until the graph changes)
        nodes = graph.nodes()
    except nx.NetworkXUnfeasible:
        raise AssertionError("IR has a cycle") from None
    defined, consts = set(graph.inputs), graph.constants
    for n in nodes:
        for i in n.inputs:
            if i and i not in defined and i not in consts:
                raise AssertionError(f"node {n.name} ({n.op}) reads undefined tensor {i!r}")
        for o in n.outputs:
            if o and o not in graph.tensors:
                raise AssertionError(f"node {n.name} ({n.op}) output {o!r} has no type")
            t = graph.tensors.get(o)
            if t is not None and t.perm is not None and sorted(t.perm) != list(range(t.rank)):
                raise AssertionError(f"tensor {o!r} has bad perm {t.perm}")
            defined.add(o)
    for o in graph.outputs:
        if o not in defined and o not in consts:
            raise AssertionError(f"graph output {o!r} is never produced")
