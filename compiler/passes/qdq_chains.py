"""Element-wise int8 chains of the QDQ pass: DQ(x_q) -> element-wise float ops, through
inner Q -> DQ pairs of equal parameters, -> Q becomes one QEltwise vector pass whose program
(``ChainStep``s) keeps every intermediate value, float or int8, in the scratchpad."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler import optables
from compiler.ir import Graph, Node, Quant
from compiler.passes.qdq_match import (
    int8_input,
    new_const,
    q_dtype,
    replace_node,
    requant_scales,
    sole,
    tensor_quant,
)
from simulator.isa import VFunc
from simulator.semantics import pack_requant_scale

FLOAT_BINARY = ("Add", "Sub", "Mul", "Div", "Pow")
CHAIN_UNARY = {r.op: r for r in optables.UNARY if "float32" in r.accepts and r.out is None}
FLOAT_ELTWISE = (*FLOAT_BINARY, *CHAIN_UNARY)


@dataclass(frozen=True)
class ChainStep:
    """One step of a QEltwise program. A float op (``quant`` None): ``func`` of its operands,
    each "prev" (the chain's value so far) or an index into the node's inputs, with ``imm``.
    ``func`` QUANT: the value quantised by ``quant`` (an inner Q -> DQ pair with equal
    parameters: the int8 grid the QDQ graph rounds to). ``word`` (an index into the inputs:
    the packed s_a s_b / s_y): an integer Mul of two int8 operands and its requantisation to
    ``quant``, as onnxruntime's QLinearMul (a Mul alone between its DQs and its Q)."""

    func: VFunc
    args: tuple = ()
    imm: tuple[int, int, int] = (0, 0, 0)
    quant: Quant | None = None
    word: int | None = None


def rewrite_float_eltwise(graph: Graph, node: Node) -> None:
    """DQ(x_q) -> a chain of element-wise float ops (each one's other operand a DQ'd int8
    activation or a float constant), possibly through inner Q -> DQ pairs of equal
    parameters, -> Q  ==>  QEltwise: DEQUANT, the ops in fp32, each inner pair as a QUANT to
    int8 kept in the scratchpad, the final QUANT: one vector pass, the QDQ graph's arithmetic
    exactly, no DRAM round trip per op (MobileNetV3's hard-swish, EfficientNet's SiLU)."""
    walk = _walk_chain(graph, node)
    if walk is None:
        return
    steps, inputs, members, q = walk
    if all(graph.is_const(i) for i in inputs):
        return
    steps = _integer_muls(graph, steps, inputs, node.name)
    for n in members:
        graph.remove(n.name)
    for n in (node, *members):
        for o in n.outputs:
            graph.tensors.pop(o, None)
    fused = node.fused + tuple(n.name for n in members) + (q.name,)
    attrs = {"program": tuple(steps)}
    new = node.replace(op="QEltwise", inputs=tuple(inputs), outputs=q.outputs, attrs=attrs)
    replace_node(graph, node, new.replace(fused=fused), q, [])


def _walk_chain(graph: Graph, node: Node):
    """(steps ending in the final QUANT, inputs, absorbed nodes, final Q) of the longest chain
    from ``node`` that ends in an int8 per-tensor Q, or None."""
    steps, inputs, members, best = [], [], [], None
    prev, cur = None, node
    while True:
        args = _eltwise_args(graph, cur, prev, inputs)
        step = None if args is None or (prev is None and "prev" in args) else _float_step(cur, args)
        if step is None:
            break
        steps.append(step)
        members += [cur] if cur is not node else []
        nxt = sole(graph, cur.outputs[0])
        if nxt is not None and nxt.op == "QuantizeLinear":
            quant = tensor_quant(graph, nxt)
            if quant is None or q_dtype(graph, nxt) != "int8":
                break
            steps.append(ChainStep(VFunc.QUANT, ("prev",), quant=quant))
            best = (len(steps), len(inputs), len(members), nxt)
            after = _requant_pair(graph, nxt, quant)
            if after is None:
                break
            members += [nxt, after[0]]
            prev, cur = after[0].outputs[0], after[1]
            continue
        if nxt is None or nxt.op not in FLOAT_ELTWISE:
            break
        prev, cur = cur.outputs[0], nxt
    if best is None:
        return None
    n_steps, n_inputs, n_members, q = best
    return steps[:n_steps], inputs[:n_inputs], members[:n_members], q


def _requant_pair(graph: Graph, q: Node, quant: Quant) -> tuple[Node, Node] | None:
    """(DQ, next chain op) when ``q``'s value goes only through one DQ of the same parameters
    into one element-wise op of the same shape (a chain never widens past an inner pair)."""
    dq = sole(graph, q.outputs[0])
    if dq is None or dq.op != "DequantizeLinear" or tensor_quant(graph, dq) != quant:
        return None
    nxt = sole(graph, dq.outputs[0])
    if nxt is None or nxt.op not in FLOAT_ELTWISE:
        return None
    if graph.type(nxt.outputs[0]).shape != graph.type(q.outputs[0]).shape:
        return None
    return dq, nxt


def _float_step(node: Node, args: tuple) -> ChainStep | None:
    if node.op in FLOAT_BINARY:
        return ChainStep(_BINARY_FUNCS[node.op], args)
    row = CHAIN_UNARY[node.op]
    func = row.function(node.attrs)
    return None if func is None else ChainStep(func, args, row.immediates(node.attrs))


_BINARY_FUNCS = {r.op: r.func for r in optables.BINARY if r.op in FLOAT_BINARY}


def _integer_muls(graph: Graph, steps: list, inputs: list[str], name: str) -> list:
    """A Mul alone between int8 operands and its quantisation (a segment of one op) is
    onnxruntime's QLinearMul: the integer product and one requantisation by s_a s_b / s_y."""
    out, i = [], 0
    while i < len(steps):
        step = steps[i]
        qs = _operand_quants(graph, steps, i, inputs) if _lone_mul(steps, i) else [None]
        if None in qs:
            out.append(step)
            i += 1
            continue
        qy = steps[i + 1].quant
        scale = requant_scales(qs[0].scale, np.array([qs[1].scale], np.float32), qy.scale)
        word = np.array([pack_requant_scale(scale[0])], np.uint32).view(np.int32)
        inputs.append(new_const(graph, name + "_requant", word))
        out.append(ChainStep(VFunc.MUL, step.args, quant=qy, word=len(inputs) - 1))
        i += 2
    return out


def _lone_mul(steps: list, i: int) -> bool:
    """Whether step ``i`` is a float Mul between two quantisations (or the chain's start)."""
    if steps[i].func != VFunc.MUL or steps[i].quant is not None:
        return False
    return steps[i + 1].func == VFunc.QUANT and (i == 0 or steps[i - 1].func == VFunc.QUANT)


def _operand_quants(graph: Graph, steps: list, i: int, inputs: list[str]) -> list:
    """The int8 quantisation of each operand of step ``i`` (None for a float one)."""
    out = []
    for arg in steps[i].args:
        if arg == "prev":
            out.append(steps[i - 1].quant)
        else:
            t = inputs[arg]
            out.append(None if graph.is_const(t) else graph.tensors[t].quant)
    return out


def _eltwise_args(graph: Graph, node: Node, prev, inputs: list[str]):
    """Per operand: "prev" (the chain's value so far) or an index into ``inputs`` (an int8
    activation behind a DQ, or a float constant); None if an operand is neither."""
    args = []
    for name in node.inputs:
        if name == prev:
            args.append("prev")
            continue
        if graph.is_const(name):
            if graph.constants[name].dtype.kind != "f":
                return None
            src = name
        else:
            dq = int8_input(graph, name)
            if dq is None:
                return None
            src = dq.inputs[0]
        if src not in inputs:
            inputs.append(src)
        args.append(inputs.index(src))
    return tuple(args) if args.count("prev") <= 1 else None


def merge_derived_operands(graph: Graph) -> None:
    """QEltwise(x, P(x)) with P a QEltwise of x alone (scalar constants) read only here: the
    node becomes a function of x alone (its table, see ``lowering.quant``): P's output is
    never made. Attr ``derived``: ((operand index, P, the Quant of P's output), ...); the
    operand now names x, and
    P's constants are appended to the inputs (they stay in the graph)."""
    for node in graph.nodes():
        if node.name not in graph.g or node.op != "QEltwise" or not _scalar_consts(graph, node):
            continue
        derived, inputs = [], list(node.inputs)
        for i, name in enumerate(node.inputs):
            p = graph.producer(name)
            if p is None or p.op != "QEltwise" or p.attr("derived"):
                continue
            acts = {a for a in p.inputs if not graph.is_const(a)}
            cons = graph.consumers(name)
            if len(acts) != 1 or not _scalar_consts(graph, p) or name in graph.outputs:
                continue
            if acts <= set(node.inputs) and len(cons) == 1:
                derived.append((i, p, graph.type(name).quant))
                inputs[i] = acts.pop()
        if not derived or len({a for a in inputs if not graph.is_const(a)}) != 1:
            continue
        extra = tuple(c for _, p, _ in derived for c in p.inputs if graph.is_const(c))
        fused = sum((p.fused + (p.name,) for _, p, _ in derived), node.fused)
        attrs = {**node.attrs, "derived": tuple(derived)}
        for _, p, _ in derived:
            graph.remove(p.name)
            graph.tensors.pop(p.outputs[0], None)
        graph.replace(node.replace(inputs=(*inputs, *extra), attrs=attrs, fused=fused))


def _scalar_consts(graph: Graph, node: Node) -> bool:
    return all(graph.constants[i].size == 1 for i in node.inputs if graph.is_const(i))
