"""The IR's node order: a topological order, ties broken by each node's ``order`` and then by
when it was added, the same as networkx's ``lexicographical_topological_sort`` (which it
replaces for speed); a cycle is an error."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from compiler.ir import Graph, Node, _toposort, verify


def test_same_order_as_networkx_on_random_dags():
    rng = random.Random(1)
    for _ in range(300):
        g = nx.DiGraph()
        names = [f"n{i}" for i in range(rng.randint(1, 40))]
        rng.shuffle(names)
        for i, name in enumerate(names):  # orders tie, and go back (inserted nodes: i - 0.5)
            g.add_node(name, order=rng.choice([i, i - 0.5, rng.randint(0, 5)]))
        for _ in range(rng.randint(0, 3 * len(names))):
            a, b = sorted(rng.sample(range(len(names)), 2)) if len(names) > 1 else (0, 0)
            if a != b:
                g.add_edge(names[a], names[b])
        want = nx.lexicographical_topological_sort(g, key=lambda n: g.nodes[n]["order"])
        assert _toposort(g) == list(want)


def test_a_cycle_fails_verification():
    graph = Graph("loop")
    graph.add(Node("a", "Relu", ("y",), ("x",)))
    graph.add(Node("b", "Relu", ("x",), ("y",)))
    with pytest.raises(AssertionError, match="cycle"):
        verify(graph)
