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


def test_extend_builds_what_adding_each_node_builds():
    """``Graph.extend`` (the importer's batch) gives the orders, edges, order of nodes and
    producer/consumer index of ``add`` node by node, also for tensors made twice and nodes
    reading their own output; a repeated name is refused by both."""
    rng = random.Random(2)
    for _ in range(200):
        tensors = [f"t{i}" for i in range(rng.randint(1, 12))]
        nodes = [
            Node(
                f"n{i}",
                "Op",
                tuple(rng.sample(tensors, rng.randint(0, min(2, len(tensors))))),
                (rng.choice(tensors),),
            )
            for i in range(rng.randint(1, 15))
        ]
        one, batch = Graph("one"), Graph("batch")
        one.add(Node("first", "Op", ("t0",), ("t1",)))  # a graph that has nodes already
        batch.add(Node("first", "Op", ("t0",), ("t1",)))
        for node in nodes:
            one.add(node)
        batch.extend(nodes)
        assert set(one.g.edges) == set(batch.g.edges)
        assert dict(one.g.nodes(data="order")) == dict(batch.g.nodes(data="order"))
        for t in tensors:
            assert one.producer(t) == batch.producer(t)
            assert one.consumers(t) == batch.consumers(t)
        if nx.is_directed_acyclic_graph(one.g):
            assert one.nodes() == batch.nodes()
    graph = Graph()
    graph.add(Node("b", "Op", (), ("x",)))
    with pytest.raises(ValueError, match="duplicate node name 'a'"):
        graph.extend([Node("a", "Op", ("x",), ("y",)), Node("a", "Op", (), ("z",))])
    assert [n.name for n in graph.nodes()] == ["b"] and graph.consumers("x") == []  # untouched
