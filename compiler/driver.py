"""The compiler, top to bottom: a flat list of named passes with an IR check after each.

Set ``NPU_DUMP_IR=1`` (or ``CompileOptions(dump_ir=True)``) to print the IR between passes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from compiler import budget
from compiler import ops as op_registry
from compiler.emit import Emitter
from compiler.frontend import import_model, load_model
from compiler.frontend.validate import validate
from compiler.ir import Graph, Node, verify
from compiler.lowering.common import ConstPool, Ctx, logical_strides
from compiler.memory import plan_dram
from compiler.passes import (
    attention,
    fusion,
    int8_io,
    kvcache,
    late_fusion,
    layout,
    patterns,
    qdq,
    qdq_chains,
    recurrent,
)
from simulator.config import NpuConfig
from simulator.errors import ConfigError, ModelError, NpuError, ResourceError, UnsupportedOpError
from simulator.isa import Scratchpad
from simulator.program import Program, TensorInfo


@dataclass(frozen=True)
class CompileOptions:
    input_shapes: dict[str, tuple[int, ...]] | None = None
    dump_ir: bool = False
    # progress(lowered, total) after each node is lowered (the long part of a compile)
    progress: Callable[[int, int], None] | None = field(default=None, compare=False, repr=False)
    # the memory budget in bytes (None: simulator.limits.DEFAULT_MAX_MEMORY); see budget.py
    max_memory: int | None = None
    # rewrite decomposed activations and normalisations into one op (passes/patterns.py)
    fuse_patterns: bool = True
    # partition.compile_model: refuse any node the NPU cannot run instead of giving it to
    # the host (compile() itself always does; see compiler/partition.py)
    strict: bool = False
    # keep a quantised model's int8 interface: input QuantizeLinear and output
    # DequantizeLinear stay on the host (passes/int8_io.py); implies strict
    int8_io: bool = False
    # int8 AveragePool windows as integer sums REQUANTed by s_x / (s_y * count), within one
    # output step of onnxruntime's fp32 QLinearAveragePool (lowering/pool.py)
    integer_avgpool: bool = False
    # int8 fused attention: "exact" computes the QDQ graph's arithmetic in two or three passes
    # over the key blocks (lowering/attention_int8.py), "online" the one-pass fp32 loop of the int8
    # inputs (lowering/attention.py: faster, within the steps docs/llm.md states)
    int8_attention: str = "exact"

    @property
    def online_attention(self) -> bool:
        return self.int8_attention == "online"


def check_supported(graph: Graph) -> None:
    """Raise one UnsupportedOpError naming every unsupported node (name, op, opset, reason)."""
    bad = []
    for node in graph.nodes():
        reason = op_registry.unsupported_reason(node, graph)
        if reason == op_registry.NOT_DECLARED:
            bad.append(f"{node.name} ({node.op}, opset {node.opset})")
        elif reason:
            bad.append(f"{node.name} ({node.op}, opset {node.opset}: {reason})")
    if bad:
        raise UnsupportedOpError(f"{len(bad)} unsupported node(s): " + "; ".join(bad))
    check_interface(graph)


def _is_text(dtype: str) -> bool:
    try:
        return np.dtype(dtype).kind in "OSU"
    except TypeError:  # a dtype numpy does not name (float8_e4m3fn, ...): not text
        return False


def check_interface(graph: Graph) -> None:
    """The NPU holds no strings: a graph input or output of strings is refused by name."""
    for kind, names in (("input", graph.inputs), ("output", graph.outputs)):
        for name in names:
            dtype = graph.type(name).dtype
            if _is_text(dtype):
                raise UnsupportedOpError(
                    f"graph {kind} {name!r} is a tensor of strings ({dtype}); the NPU holds "
                    "numbers only"
                )


OPTIONAL_PASSES = ("fuse_patterns", "int8_io", "integer_avgpool", "online_attention")  # when on
PASSES = [
    ("expose_constants", qdq.expose_constants),
    ("constant_dropout_masks", fusion.constant_dropout_masks),
    ("check_supported", check_supported),
    ("validate", validate),
    ("remove_identity", fusion.remove_identity),
    ("lower_qdq", qdq.lower_qdq),
    ("merge_derived_operands", qdq_chains.merge_derived_operands),
    ("fuse_patterns", patterns.fuse_patterns),
    ("fold_batchnorm", fusion.fold_batchnorm),
    ("fuse_residual", fusion.fuse_residual),
    ("fuse_matmul_bias", fusion.fuse_matmul_bias),
    ("fuse_activation", fusion.fuse_activation),
    ("fuse_qadd", fusion.fuse_qadd),
    ("recurrent_buffers", recurrent.add_buffers),
    ("int8_io", int8_io.int8_interface),
    ("integer_avgpool", int8_io.integer_avgpool),
    ("online_attention", int8_io.online_attention),
    ("assign_layouts", layout.assign_layouts),
    ("kv_cache_in_place", kvcache.kv_append),
]


def compile(
    model: str | Path | onnx.ModelProto, config: NpuConfig, options: CompileOptions | None = None
) -> Program:
    options = options or CompileOptions()
    with budget.using(budget.Budget.of(options.max_memory)):
        return _compile(model, config, options)


def _compile(model, config: NpuConfig, options: CompileOptions) -> Program:
    return lower(prepare(model, options), config, options.progress)


def prepare(model: str | Path | onnx.ModelProto, options: CompileOptions) -> Graph:
    """Import and run every pass: the config-independent part of a compile. ``lower`` does
    not change the graph, so one prepared graph serves many configs (``npu sweep``)."""
    if options.int8_attention not in int8_io.INT8_ATTENTION:
        choices = ", ".join(int8_io.INT8_ATTENTION)
        raise ConfigError(f"int8_attention {options.int8_attention!r} is not one of {choices}")
    proto = load_model(model)
    try:
        graph = import_model(proto, options.input_shapes)
    except NpuError as exc:
        raise_if_undeclared(proto, exc)
        raise
    except Exception as exc:  # never let a raw onnx/numpy error escape
        raise_if_undeclared(proto, exc)
        raise ModelError(f"cannot import the model: {type(exc).__name__}: {exc}") from None
    dump = options.dump_ir or os.environ.get("NPU_DUMP_IR")
    for name, fn in PASSES:
        if name in OPTIONAL_PASSES and not getattr(options, name):
            continue
        fn(graph)
        verify(graph)
        if dump:
            print(f"--- after {name}\n{graph.dump()}", file=sys.stderr)
    return graph


AHEAD = 4  # how many layers before it a GEMM nest's prologue may go


def prefetch_points(graph: Graph, order: list[Node]) -> dict[str, Node]:
    """For the layers with a ``prefetch`` (GEMM nests), the layer whose lowering their
    prologue goes ahead of: the earliest of the up to ``AHEAD`` layers just before that keep
    off the weight scratchpad (which the prologue fills) and make nothing the prologue reads
    (its W operand: a constant, or a tensor made before)."""
    pos = {n.name: i for i, n in enumerate(order)}
    out = {}
    for i, node in enumerate(order):
        decl = op_registry.lookup(node.op)
        if decl is None or decl.prefetch is None:
            continue
        w = node.inputs[1] if len(node.inputs) > 1 else ""
        made = graph.producer(w) if w and not graph.is_const(w) else None
        while made is not None and _view(made):  # its bytes are its input's: their maker
            made = graph.producer(made.inputs[0])
        first = i
        while first > 0 and i - first < AHEAD:
            prev = order[first - 1]
            pdecl = op_registry.lookup(prev.op)
            if (
                pdecl is None
                or pdecl.weights
                or prev.name in out
                or first - 1 <= pos.get(made.name if made else "", -1)
            ):
                break
            first -= 1
        if first < i:
            out[order[first].name] = node
    return out


def _keeps_off_weights(em: Emitter, start: int, node: Node, waiting: Node) -> Node:
    """``waiting``, after checking that ``node``'s instructions (from ``start``), lowered
    between ``waiting``'s prologue and its body, write nothing in the weight scratchpad,
    which holds the prologue's tiles (a declaration's ``weights=False`` checked)."""
    if em.last_write(Scratchpad.WEIGHT, 0, em.config.weight_bytes) >= start:
        raise AssertionError(
            f"layer {node.name!r} ({node.op}) writes the weight scratchpad between the "
            f"prologue of {waiting.name!r} and its body: its op must not be declared "
            "weights=False"
        )
    return waiting


def _view(node: Node) -> bool:
    """Whether a node emits nothing, its output a view of its input's bytes."""
    return node.op in (*layout.ALIAS_OPS, "TransposeView") or (
        node.op == "Transpose" and bool(node.attr("alias"))
    )


def raise_if_undeclared(proto: onnx.ModelProto, exc: Exception) -> None:
    """An import failure in a model with undeclared ops is reported as those ops."""
    if isinstance(exc, UnsupportedOpError | ResourceError):
        return
    declared = {o.op for o in op_registry.supported_ops()}  # internal ops are no ONNX ops
    bad = sorted({n.op_type for n in proto.graph.node if n.op_type not in declared})
    if bad:
        raise UnsupportedOpError(
            f"unsupported op(s): {', '.join(bad)} (import stopped at: {exc})"
        ) from None
    values = [*proto.graph.input, *proto.graph.output]
    kinds = [(v.name, v.type.WhichOneof("value")) for v in values]
    for name, kind in kinds:
        if kind != "tensor_type":
            users = sorted({n.op_type for n in proto.graph.node if name in (*n.input, *n.output)})
            raise UnsupportedOpError(
                f"graph value {name!r} is a {kind} (used by {', '.join(users) or 'no node'}); "
                "the NPU supports tensors only"
            ) from None


def lower(
    graph: Graph, config: NpuConfig, progress: Callable[[int, int], None] | None = None
) -> Program:
    graph = attention.fuse_attention(graph, config)  # a copy when it fuses: see prepare()
    graph = late_fusion.fuse(graph)  # after it: the fused attention takes its own nodes
    budget.check_graph(graph)
    order = graph.nodes()
    plan = plan_dram(graph, order, {**layout.aliases(graph), **kvcache.views(graph)})
    const_base = -(-plan.size // 4096) * 4096
    budget.check_dram(const_base, 0)  # activations before emitting; constants once pooled
    em = Emitter(config)
    ctx = Ctx(graph, config, em, plan.places, ConstPool(const_base), clobbers=plan.clobbers)
    ahead, waiting = prefetch_points(graph, order), None
    for done, node in enumerate(order, 1):
        if node.name in ahead:  # a GEMM nest's prologue ahead of the layers before it
            waiting = ahead[node.name]
            em.set_node(waiting.name)
            op_registry.lookup(waiting.op).prefetch(ctx, waiting)
        em.set_node(node.name)
        decl = op_registry.lookup(node.op)
        start = len(em.instrs)
        if decl.lower is not None:
            first = len(ctx.layers)
            ctx.scratch.start(node.name)
            decl.lower(ctx, node)
            for entry in ctx.layers[first:]:
                entry["scratch_bytes"] = ctx.scratch.layer_bytes()
        if waiting is not None:
            waiting = None if node is waiting else _keeps_off_weights(em, start, node, waiting)
        if progress is not None:
            progress(done, len(order))
    instrs = em.finish()
    tensors = {}
    for kind, names in (("input", graph.inputs), ("output", graph.outputs)):
        for n in names:
            tensors[n] = _tensor_info(ctx, n, kind)
    constants = bytes(ctx.consts.blob)
    budget.check_dram(const_base, len(constants))
    return Program(
        config=config,
        instructions=instrs,
        constants=constants,
        const_base=const_base,
        dram_size=const_base + len(constants),
        tensors=tensors,
        inputs=list(graph.inputs),
        outputs=list(graph.outputs),
        nodes=em.nodes,
        node_of=em.node_of,
        layers=ctx.layers,
        meta={
            "dram_peak_bytes": plan.size,
            "scratch_peak_bytes": ctx.scratch.peaks(),
            "const_bytes": len(constants),
            # the vector unit computes int64 in 32 bits: these inputs must fit int32
            "int32_inputs": [n for n in graph.inputs if graph.type(n).dtype == "int64"],
        },
    )


def _tensor_info(ctx: Ctx, name: str, kind: str) -> TensorInfo:
    """Where the host finds a graph input or output; a constant output (folded Shape,
    Constant, ...) is its bytes in the constant segment, in its own dtype (int64 too)."""
    if ctx.graph.is_const(name):
        arr = np.require(ctx.graph.constants[name], requirements="C")  # 0-d stays 0-d
        return TensorInfo(name, ctx.consts.add(arr), arr.shape, arr.dtype.name, kind)
    t, p = ctx.graph.tensors[name], ctx.places[name]
    strides = None if p.strides == logical_strides(t.replace(perm=None)) else p.strides
    q = t.quant
    scale, zp = (q.scale, q.zero_point) if q is not None else (None, None)
    return TensorInfo(name, p.addr, t.shape, t.dtype, kind, scale, zp, strides)
