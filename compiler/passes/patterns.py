"""Pattern fusion: the subgraphs exporters decompose common activations and normalisations
into, rewritten back into the one op the NPU runs in a single vector pass (or in the
producer's epilogue, for the activations ``fusion.fuse_activation`` then absorbs). ``ROWS``
lists them (``docs/supported_ops.md`` prints it); the activations are matched here, the
normalisations and Softmax in ``norms.py``.

A match needs every intermediate tensor to be read only inside the pattern (and not be a graph
output) and the output to have the input's shape; the new node writes the pattern's output
tensor and lists the nodes it replaced in ``fused``. Constants are compared with a relative
tolerance of 1e-4 (``matching.TOL``). Runs after the QDQ pass, so it sees float subgraphs
only: between a DequantizeLinear and a QuantizeLinear the QDQ pass already runs such a chain
(and the Q/DQ pairs inside it) as one int8 vector pass with the QDQ graph's own arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from compiler.ir import Graph, Node
from compiler.passes import matching as pm
from compiler.passes.fusion import clip_params
from compiler.passes.norms import layernorm, rmsnorm, softmax

# (the subgraph, what it becomes): the table of docs/supported_ops.md
ROWS: tuple[tuple[str, str], ...] = (
    ("`Clip(x + 3, 0, 6) / 6` (or `* 1/6`; any `Clip(x + a, 0, d) / d`)", "HardSigmoid"),
    ("`x * HardSigmoid(x)` (alpha 1/6, beta 1/2), `x * Clip(x + 3, 0, 6) / 6`", "HardSwish"),
    ("`x * Sigmoid(x)`, `x * Sigmoid(a * x)`", "Swish (SiLU: alpha 1)"),
    ("`x * 0.5 * (1 + Erf(x / sqrt 2))`, any association and order", "Gelu"),
    (
        "`x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))` (`Pow` or `x * x * x`)",
        "Gelu (approximate tanh)",
    ),
    (
        "`(x - mean x) / sqrt(mean (x - mean x)^2 + eps) [* g] [+ b]` over trailing axes",
        "LayerNormalization",
    ),
    ("`x / sqrt(mean x^2 + eps) [* g]` (or `x * Reciprocal(...)`)", "RMSNormalization"),
    ("`Exp(x [- max x]) / sum Exp(...)` over one axis", "Softmax"),
)


def fuse_patterns(graph: Graph) -> None:
    for rule in RULES:
        for node in graph.nodes():
            if node.name in graph.g:  # an earlier rewrite may have removed it
                rule(graph, node)


# --- hard-sigmoid and hard-swish -----------------------------------------------------------
def _relu6_shift(graph: Graph, tensor: str) -> tuple[str, set[str], float, float] | None:
    """``Clip(x + a, 0, hi)``: (x, node names, a, hi)."""
    clip = pm.made_by(graph, tensor, "Clip")
    if clip is None:
        return None
    params = clip_params(graph, clip)
    if params is None or params["min"] != 0.0 or params["max"] <= 0.0:
        return None
    add = pm.made_by(graph, clip.inputs[0], "Add")
    split = pm.split_const(graph, add) if add is not None else None
    if split is None or not pm.float_act(graph, split[0]):
        return None
    return split[0], {clip.name, add.name}, split[1], params["max"]


def hard_sigmoid(graph: Graph, node: Node) -> None:
    """Clip(x + a, 0, d) / d == HardSigmoid(x; alpha 1/d, beta a/d)."""
    scaled = pm.scaled(graph, node)
    if scaled is None:
        return
    shift = _relu6_shift(graph, scaled[0])
    if shift is None:
        return
    x, names, a, hi = shift
    if not pm.near(hi * scaled[1], 1.0):
        return
    attrs = {"alpha": scaled[1], "beta": a * scaled[1]}
    pm.replace(graph, names | {node.name}, pm.new_node(graph, node, "HardSigmoid", [x], attrs))


def _product(graph: Graph, node: Node) -> tuple[list[str], float, set[str]] | None:
    """A product: (its activation factors, the product of its constant factors, the node
    names), for a tree of Muls, or such a tree divided (or multiplied) by a constant."""
    inner: set[str] = set()
    factor = 1.0
    if node.op == "Div":
        scaled = pm.scaled(graph, node)
        if scaled is None or pm.made_by(graph, scaled[0], "Mul") is None:
            return None
        if not pm.sole_reader(graph, scaled[0], node):
            return None
        inner.add(node.name)
        factor, tensor = scaled[1], scaled[0]
    elif node.op == "Mul":
        tensor = node.outputs[0]
    else:
        return None
    leaves = pm.mul_leaves(graph, tensor, inner)
    if leaves is None:
        return None
    acts = []
    for leaf in leaves:
        v = graph.scalar(leaf)
        if v is None:
            acts.append(leaf)
        else:
            factor *= v
    return acts, factor, inner


def hard_swish(graph: Graph, node: Node) -> None:
    """x * HardSigmoid(x) with alpha 1/6, beta 1/2, and x * Clip(x + 3, 0, 6) / 6 (the
    scaling anywhere in the product) == HardSwish(x)."""
    got = _product(graph, node)
    if got is None or len(got[0]) != 2:
        return
    acts, factor, inner = got
    for x, other in (acts, acts[::-1]):
        hs = pm.made_by(graph, other, "HardSigmoid")
        if hs is not None and hs.inputs[0] == x and pm.near(factor, 1.0):
            alpha, beta = hs.attr("alpha", 0.2), hs.attr("beta", 0.5)
            if pm.near(alpha, 1 / 6) and pm.near(beta, 0.5):
                pm.replace(graph, inner | {hs.name}, pm.new_node(graph, node, "HardSwish", [x]))
                return
        shift = _relu6_shift(graph, other)
        if (
            shift is not None
            and shift[0] == x
            and pm.near(shift[2], 3.0)
            and pm.near(shift[3], 6.0)
        ):
            if pm.near(factor, 1 / 6):
                pm.replace(graph, inner | shift[1], pm.new_node(graph, node, "HardSwish", [x]))
                return


# --- SiLU / Swish --------------------------------------------------------------------------
def swish(graph: Graph, node: Node) -> None:
    """x * Sigmoid(x) == Swish(x, alpha=1) (SiLU); x * Sigmoid(a * x) == Swish(x, alpha=a)."""
    if node.op != "Mul" or len(node.inputs) != 2:
        return
    for x, s in (pm.operands(node), pm.operands(node)[::-1]):
        sig = pm.made_by(graph, s, "Sigmoid")
        if sig is None or not pm.float_act(graph, x):
            continue
        names, alpha = {node.name, sig.name}, 1.0
        if sig.inputs[0] != x:
            scale = pm.made_by(graph, sig.inputs[0], "Mul")
            split = pm.split_const(graph, scale) if scale is not None else None
            if split is None or split[0] != x:
                continue
            names.add(scale.name)
            alpha = split[1]
        if pm.replace(graph, names, pm.new_node(graph, node, "Swish", [x], {"alpha": alpha}, 24)):
            return


# --- GELU ----------------------------------------------------------------------------------
def _one_plus(graph: Graph, tensor: str, op: str) -> tuple[Node, Node] | None:
    """``1 + op(t)``: (the Add, the op node)."""
    add = pm.made_by(graph, tensor, "Add")
    split = pm.split_const(graph, add) if add is not None else None
    if split is None or not pm.near(split[1], 1.0):
        return None
    inner = pm.made_by(graph, split[0], op)
    return (add, inner) if inner is not None else None


def _erf_arg(graph: Graph, tensor: str) -> tuple[str, str] | None:
    """``x / sqrt 2`` or ``x * (1 / sqrt 2)``: (x, node name)."""
    node = graph.producer(tensor)
    scaled = pm.scaled(graph, node) if node is not None else None
    if scaled is None or not pm.near(scaled[1], 1 / math.sqrt(2)):
        return None
    return scaled[0], node.name


def _cubic_arg(graph: Graph, tensor: str) -> tuple[str, set[str]] | None:
    """``k * (x + 0.044715 * x^3)`` with k = sqrt(2/pi): (x, node names)."""
    inner: set[str] = set()
    leaves = pm.mul_leaves(graph, tensor, inner)
    if not leaves or len(leaves) != 2:
        return None
    k = [leaf for leaf in leaves if graph.scalar(leaf) is not None]
    if len(k) != 1 or not pm.near(graph.scalar(k[0]), math.sqrt(2 / math.pi)):
        return None
    s = [leaf for leaf in leaves if leaf != k[0]][0]
    add = pm.made_by(graph, s, "Add")
    if add is None or not pm.sole_reader(graph, s, graph.producer(tensor)):
        return None
    for x, p in (pm.operands(add), pm.operands(add)[::-1]):
        names: set[str] = set()
        factors = pm.mul_leaves(graph, p, names)
        if factors is None:
            continue
        consts = [f for f in factors if graph.scalar(f) is not None]
        rest = [f for f in factors if f not in consts]
        if len(consts) != 1 or not pm.near(graph.scalar(consts[0]), 0.044715):
            continue
        if rest == [x, x, x]:
            return x, inner | names | {add.name}
        if len(rest) == 1:
            pw = pm.made_by(graph, rest[0], "Pow")
            if pw is not None and pw.inputs[0] == x and pm.near(graph.scalar(pw.inputs[1]), 3.0):
                return x, inner | names | {add.name, pw.name}
    return None


def gelu(graph: Graph, node: Node) -> None:
    """x * (1 + Erf(x / sqrt 2)) * 0.5 (any association of the three factors) == Gelu(x); with
    Tanh(sqrt(2/pi) (x + 0.044715 x^3)) in place of the Erf term: Gelu(approximate=tanh)."""
    if node.op != "Mul":
        return
    inner: set[str] = set()
    leaves = pm.mul_leaves(graph, node.outputs[0], inner)
    if not leaves or len(leaves) != 3:
        return
    half = [leaf for leaf in leaves if pm.near(graph.scalar(leaf), 0.5)]
    acts = [leaf for leaf in leaves if graph.scalar(leaf) is None]
    if len(half) != 1 or len(acts) != 2:
        return
    for x, term in (acts, acts[::-1]):
        if not pm.float_act(graph, x):
            continue
        erf = _one_plus(graph, term, "Erf")
        if erf is not None:
            arg = _erf_arg(graph, erf[1].inputs[0])
            if arg is not None and arg[0] == x:
                names = inner | {erf[0].name, erf[1].name, arg[1]}
                pm.replace(graph, names, pm.new_node(graph, node, "Gelu", [x], {}, 20))
                return
        tanh = _one_plus(graph, term, "Tanh")
        if tanh is not None:
            arg = _cubic_arg(graph, tanh[1].inputs[0])
            if arg is not None and arg[0] == x:
                names = inner | {tanh[0].name, tanh[1].name} | arg[1]
                attrs = {"approximate": "tanh"}
                pm.replace(graph, names, pm.new_node(graph, node, "Gelu", [x], attrs, 20))
                return


RULES: tuple[Callable[[Graph, Node], None], ...] = (
    hard_swish,  # before hard_sigmoid, which would take its Clip / 6 apart
    hard_sigmoid,
    hard_swish,  # x * HardSigmoid(x) once the HardSigmoid exists
    swish,
    gelu,
    layernorm,
    rmsnorm,
    softmax,
)
