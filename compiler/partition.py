"""The host partition: what the NPU cannot run runs on the host, through onnxruntime.

After the frontend has fixed the input shapes and folded the constants, every node is placed:
on the host when the op registry names a reason (``ops.unsupported_reason``: an op without a
lowering, a dtype the op does not take, a limit) or when a tensor it reads or writes has no
static shape (data-dependent shapes: NonMaxSuppression, TopK by a computed k, Loop outputs,
sequences). Nodes that only compute constants for the host follow their consumers.

The nodes are then cut, in topological order, into alternating runs of one device
(``segments``); each run becomes a valid ONNX model of its own (``submodel``): an NPU run is
compiled by ``driver.compile`` into a ``Program``, a host run is kept as serialized ONNX for
onnxruntime. Tensors that cross between runs go through DRAM (``npu.runtime`` runs them in
turn and counts those bytes). An NPU run that the compiler still refuses (a limit no support
check foresaw) becomes a host run. The model as written is one host partition
(``whole_on_host``) when the compiler refuses it whole, when importing it changed its
interface, when the import stops on ops the NPU does not declare, or when a cut gives a host
partition onnxruntime cannot load (and it loads the whole model). ``CompileOptions(strict=True)`` places nothing on the host:
the first host node is the usual ``UnsupportedOpError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler import budget, driver
from compiler import ops as op_registry
from compiler.frontend import load_model
from compiler.frontend.importer import fold_model, to_graph
from compiler.ir import Graph
from compiler.passes import fusion, qdq
from simulator.config import NpuConfig
from simulator.errors import ModelError, NpuError, UnsupportedOpError
from simulator.program import Program

NPU, HOST = "npu", "host"
DEVICES = (NPU, HOST)


@dataclass(frozen=True)
class Port:
    """A tensor at the edge of a partition: name, shape (None when data-dependent), dtype."""

    name: str
    shape: tuple[int, ...] | None
    dtype: str

    @property
    def nbytes(self) -> int | None:
        if self.shape is None:
            return None
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class Segment:
    """One run of nodes on one device; ``program`` (NPU) or ``model`` (host, ONNX bytes)."""

    device: str
    nodes: list[str]  # ONNX node names, as the IR names them
    ops: list[str]
    inputs: list[Port]
    outputs: list[Port]
    reasons: dict[str, str] = field(default_factory=dict)  # host node -> why not the NPU
    program: Program | None = None
    model: bytes | None = None
    macs: int = 0  # the MACs of its Conv/ConvTranspose/Gemm/MatMul nodes
    uncounted: list[str] = field(default_factory=list)  # such nodes of data-dependent shapes
    # an NPU run's ONNX sub-model, kept on request (``keep_sources``: ``npu sweep`` lowers it
    # again at every design point); never written to a program file
    source: onnx.ModelProto | None = field(default=None, repr=False, compare=False)


@dataclass
class Partitioned:
    """A model cut into NPU programs and host ONNX models, run in order by ``npu.runtime``."""

    config: NpuConfig
    segments: list[Segment]
    inputs: list[str]  # the model's, as a Program names them
    outputs: list[str]
    tensors: dict[str, Port]  # the model's inputs and outputs

    @property
    def meta(self) -> dict:
        """As ``Program.meta`` for the input checks: the NPU partitions check their own."""
        return {}

    @property
    def host_segments(self) -> list[Segment]:
        return [s for s in self.segments if s.device == HOST]


def compile_model(
    model: str | Path | onnx.ModelProto,
    config: NpuConfig,
    options: driver.CompileOptions | None = None,
    keep_sources: bool = False,
) -> Program | Partitioned:
    """A ``Program`` when the NPU runs every node (or ``options.strict``), else the model
    cut into NPU and host partitions (``keep_sources``: each NPU partition keeps its ONNX
    sub-model in ``Segment.source``)."""
    options = options or driver.CompileOptions()
    if options.strict or options.int8_io:  # int8_io rewrites the whole graph's interface
        return driver.compile(model, config, options)
    with budget.using(budget.Budget.of(options.max_memory)):
        proto = load_model(model)
        try:
            folded, graph = _import(proto, options)
        except UnsupportedOpError as exc:  # ops the NPU does not know stopped the import
            return _or_whole_on_host(exc, proto, None, config)
        reasons = host_reasons(graph)
    changed = interface_change(proto, folded[0])
    if changed:
        return whole_on_host(proto, graph, config, changed)
    if not reasons:
        try:
            return driver.compile(proto, config, options)
        except UnsupportedOpError as exc:
            why = f"the compiler refused the NPU partition: {exc}"
            return whole_on_host(proto, graph, config, why)
    try:
        return partition(folded, graph, reasons, config, options, keep_sources)
    except UnsupportedOpError as exc:  # a host partition onnxruntime cannot load
        return _or_whole_on_host(exc, proto, graph, config)


def host_needed(model: str | Path | onnx.ModelProto, options: driver.CompileOptions) -> bool:
    """Whether ``compile_model`` cuts the model whatever the config: a node runs on the host,
    importing changed its interface, or the import stops on ops the NPU does not declare."""
    if options.strict or options.int8_io:
        return False
    proto = load_model(model)
    try:
        folded, graph = _import(proto, options)
    except UnsupportedOpError:
        return True
    return bool(host_reasons(graph)) or interface_change(proto, folded[0]) is not None


def _or_whole_on_host(exc: UnsupportedOpError, proto, graph, config) -> Partitioned:
    """The whole model as written on the host when onnxruntime loads it, else ``exc``."""
    try:
        return whole_on_host(proto, graph, config, f"as a whole on the host: {exc}"[:600])
    except UnsupportedOpError:
        raise exc from None


def interface_change(proto: onnx.ModelProto, folded: onnx.ModelProto) -> str | None:
    """Why the imported model no longer takes or makes the tensors ``proto`` declares (an
    opset 8 Scan upgraded to opset 9 loses its batch axis), or None when it does."""
    before, after = _types(proto), _types(folded)
    for vi in [*_real_inputs(proto), *proto.graph.output]:
        old, new = _port(vi.name, before), after.get(vi.name)
        if new is None or old.dtype == "object":
            continue
        new = _port(vi.name, after)
        if old.shape is not None and (new.shape != old.shape or new.dtype != old.dtype):
            return (
                f"importing the model changed {vi.name!r} from {old.dtype}{list(old.shape)} to "
                f"{new.dtype}{list(new.shape or [])} (the opset upgrade); onnxruntime runs the "
                "model as written"
            )
    return None


def _real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def whole_on_host(proto: onnx.ModelProto, graph: Graph | None, config, reason: str) -> Partitioned:
    """The model as written, one host partition: every node for ``reason`` (MACs counted on
    the imported ``graph``; none when the import stopped)."""
    types = _types(proto)
    inputs = [vi.name for vi in _real_inputs(proto)]
    outputs = [vi.name for vi in proto.graph.output]
    names = _node_names(proto)
    seg = Segment(
        device=HOST,
        nodes=names,
        ops=[n.op_type for n in proto.graph.node],
        inputs=[_port(n, types) for n in inputs],
        outputs=[_port(n, types) for n in outputs],
        reasons=dict.fromkeys(names, reason),
        model=proto.SerializeToString(),
        macs=0 if graph is None else sum(_macs(node, graph) for node in proto.graph.node),
        uncounted=[
            name
            for name, node in zip(names, proto.graph.node, strict=True)
            if node.op_type in MATRIX_OPS and (graph is None or _uncounted(node, graph))
        ],
    )
    check_host_runs(seg)
    tensors = {n: _port(n, types) for n in [*inputs, *outputs]}
    return Partitioned(config, [seg], inputs, outputs, tensors)


def _import(proto: onnx.ModelProto, options) -> tuple[tuple, Graph]:
    try:
        folded = fold_model(proto, options.input_shapes)
        graph = to_graph(*folded, typed=False)
    except NpuError as exc:
        driver.raise_if_undeclared(proto, exc)
        raise
    except Exception as exc:  # never let a raw onnx/numpy error escape
        raise ModelError(f"cannot import the model: {type(exc).__name__}: {exc}") from None
    qdq.expose_constants(graph)  # as the strict compile does before its support check
    fusion.constant_dropout_masks(graph)
    return folded, graph


def host_reasons(graph: Graph) -> dict[str, str]:
    """Node name -> why it runs on the host, for every node the NPU cannot run."""
    reasons = {}
    for node in graph.nodes():
        reason = _reason(node, graph)
        if reason:
            reasons[node.name] = reason
    for node in reversed(graph.nodes()):  # constants computed for the host alone
        outs = [o for o in node.outputs if o]
        users = [c.name for o in outs for c in graph.consumers(o)]
        if outs and all(o in graph.constants for o in outs) and users:
            if all(u in reasons for u in users) and not set(outs) & set(graph.outputs):
                reasons.setdefault(node.name, "computes a constant only host nodes read")
    return reasons


def _reason(node, graph: Graph) -> str | None:
    decl = op_registry.lookup(node.op)
    if decl is None or decl.internal:
        return f"no NPU lowering for {node.op}"
    return _untyped(node, graph) or op_registry.unsupported_reason(node, graph)


def _untyped(node, graph: Graph) -> str | None:
    for name in (*node.inputs, *node.outputs):
        if name and name not in graph.constants and name not in graph.tensors:
            return f"tensor {name!r} has no static shape (data-dependent, or not a tensor)"
    return None


def partition(
    folded: tuple, graph: Graph, reasons: dict[str, str], config: NpuConfig, options, keep=False
) -> Partitioned:
    """Cut the folded model into segments and compile (NPU) or serialise (host) each."""
    model, _, arrays = folded
    names = _node_names(model)
    devices = [HOST if n in reasons else NPU for n in names]
    types = _types(model)
    segments = []
    for device, idx in segments_of(model, devices):
        seg = _segment(model, arrays, idx, names, device, types, reasons)
        segments.append(_build(seg, model, arrays, idx, config, options, graph, keep))
    tensors = {n: _port(n, types) for n in [*graph.inputs, *graph.outputs]}
    return Partitioned(config, segments, list(graph.inputs), list(graph.outputs), tensors)


def _build(seg: Segment, model, arrays, idx, config, options, graph, keep=False) -> Segment:
    sub = submodel(model, arrays, idx, seg)
    seg.macs = sum(_macs(model.graph.node[k], graph) for k in idx)
    seg.uncounted = [
        seg.nodes[j] for j, k in enumerate(idx) if _uncounted(model.graph.node[k], graph)
    ]
    if seg.device == NPU:
        try:
            seg.program = driver.compile(sub, config, sub_options(options))
            seg.source = sub if keep else None
            return seg
        except UnsupportedOpError as exc:
            if options.strict:
                raise
            seg.device = HOST
            seg.reasons = {n: f"the compiler refused its NPU partition: {exc}" for n in seg.nodes}
    seg.model = sub.SerializeToString()
    check_host_runs(seg)
    return seg


def check_host_runs(seg: Segment) -> None:
    """UnsupportedOpError naming the host nodes when onnxruntime cannot load their partition
    either (an unknown domain, a custom op): then nothing can run them."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(seg.model, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        nodes = "; ".join(
            f"{name} ({op}: {seg.reasons.get(name, 'host')})"
            for name, op in zip(seg.nodes, seg.ops, strict=True)
            if name in seg.reasons
        )
        raise UnsupportedOpError(
            f"node(s) the NPU cannot run, and onnxruntime cannot run them either ({line[:200]}): "
            f"{nodes}"[:600]
        ) from None


def sub_options(options) -> driver.CompileOptions:
    """The options an NPU partition compiles with: strict (its nodes were all placed on the
    NPU), the rest as the model's."""
    return driver.CompileOptions(
        dump_ir=options.dump_ir,
        max_memory=options.max_memory,
        fuse_patterns=options.fuse_patterns,
        strict=True,
        int8_attention=options.int8_attention,
    )


def _node_names(model: onnx.ModelProto) -> list[str]:
    """The IR's name of each ONNX node (``importer.to_graph`` makes them unique the same way)."""
    from compiler.frontend.importer import _unique

    used: set[str] = set()
    return [_unique(n.name or f"{n.op_type}_{k}", used) for k, n in enumerate(model.graph.node)]


def segments_of(model: onnx.ModelProto, devices: list[str]) -> list[tuple[str, list[int]]]:
    """Alternating runs of one device: each takes every node of that device whose producers
    are done (ONNX nodes are topologically sorted), so there are as few runs as this greedy
    order finds."""
    nodes = model.graph.node
    producer = {o: k for k, n in enumerate(nodes) for o in n.output if o}
    deps = [{producer[i] for i in node_inputs(n) if i in producer} for n in nodes]
    done: set[int] = set()
    runs: list[tuple[str, list[int]]] = []
    device = devices[0] if devices else NPU
    while len(done) < len(nodes):
        take = [k for k in range(len(nodes)) if k not in done and devices[k] == device]
        run: list[int] = []
        for k in take:
            if deps[k] <= done | set(run):
                run.append(k)
        if run:
            runs.append((device, run))
            done.update(run)
        device = HOST if device == NPU else NPU
    return runs


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """The node's inputs and the outer-scope names its subgraphs (If, Loop, Scan) read."""
    return [i for i in node.input if i] + sorted(_outer_names(node))


def _outer_names(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    for attr in node.attribute:
        graphs = list(attr.graphs) + ([attr.g] if attr.HasField("g") else [])
        for g in graphs:
            defined = {v.name for v in g.input} | {t.name for t in g.initializer}
            defined |= {o for n in g.node for o in n.output}
            used = {i for n in g.node for i in node_inputs(n)} | {v.name for v in g.output}
            names |= used - defined
    return names


def _segment(model, arrays, idx, names, device, types, reasons) -> Segment:
    nodes = model.graph.node
    inits = {t.name for t in model.graph.initializer}
    inside = {o for k in idx for o in nodes[k].output if o}
    reads = [i for k in idx for i in node_inputs(nodes[k])]
    inputs = _unique_list(i for i in reads if i not in inside and i not in inits)
    outside = [i for k, n in enumerate(nodes) if k not in set(idx) for i in node_inputs(n)]
    wanted = set(outside) | {o.name for o in model.graph.output}
    outputs = [o for k in idx for o in nodes[k].output if o and o in wanted]
    return Segment(
        device=device,
        nodes=[names[k] for k in idx],
        ops=[nodes[k].op_type for k in idx],
        inputs=[_port(n, types) for n in inputs],
        outputs=[_port(n, types) for n in outputs],
        reasons={names[k]: reasons[names[k]] for k in idx if names[k] in reasons},
    )


def _unique_list(items) -> list[str]:
    return list(dict.fromkeys(items))


def submodel(model: onnx.ModelProto, arrays: dict, idx: list[int], seg: Segment):
    """The segment's nodes as a model of their own: its inputs, outputs, the initializers it
    reads (large folded values written out in full), the model's opsets and functions."""
    g = model.graph
    types = _types(model)
    nodes = [g.node[k] for k in idx]
    reads = {i for n in nodes for i in node_inputs(n)}
    inits = [_full(t, arrays) for t in g.initializer if t.name in reads]
    graph = helper.make_graph(
        nodes,
        f"{g.name or 'model'}_{seg.device}",
        [_value_info(p.name, types) for p in seg.inputs],
        [_value_info(p.name, types) for p in seg.outputs],
        initializer=inits,
    )
    sub = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    sub.functions.extend(model.functions)
    return sub


def _full(t: onnx.TensorProto, arrays: dict) -> onnx.TensorProto:
    if t.name in arrays:
        return numpy_helper.from_array(arrays[t.name], t.name)
    return t


def _types(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    g = model.graph
    types = {vi.name: vi for vi in [*g.value_info, *g.input, *g.output]}
    for t in g.initializer:
        types.setdefault(t.name, helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    return types


def _value_info(name: str, types: dict) -> onnx.ValueInfoProto:
    vi = types.get(name)
    if vi is None or not vi.type.WhichOneof("value"):
        raise UnsupportedOpError(
            f"tensor {name!r} crosses between NPU and host partitions but has no known type"
        )
    return vi


def _port(name: str, types: dict) -> Port:
    vi = types.get(name)
    tt = vi.type.tensor_type if vi is not None else None
    if tt is None or not tt.elem_type:
        return Port(name, None, "object")
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
    dims = tt.shape.dim if tt.HasField("shape") else None
    if dims is None or not all(d.HasField("dim_value") for d in dims):
        return Port(name, None, dtype)
    return Port(name, tuple(d.dim_value for d in dims), dtype)


MATRIX_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _macs(node: onnx.NodeProto, graph: Graph) -> int:
    """MACs of a Conv, ConvTranspose, Gemm or MatMul from its shapes (0 for other nodes)."""
    if node.op_type not in MATRIX_OPS or len(node.input) < 2 or not node.output:
        return 0
    shapes = [_shape(n, graph) for n in (node.input[0], node.input[1], node.output[0])]
    if None in shapes:
        return 0
    return matrix_macs(node, *shapes)


def matrix_macs(node: onnx.NodeProto, a_shape, w_shape, out_shape) -> int:
    """MACs of a matrix node (``MATRIX_OPS``) from its first two inputs' and its output's
    shapes, known at compile time or, for data-dependent ones, at run time (``npu.runtime``)."""
    a, w, out = (int(np.prod(s, dtype=np.int64)) for s in (a_shape, w_shape, out_shape))
    if node.op_type == "Conv":
        return out * (w // max(w_shape[0], 1))
    if node.op_type == "ConvTranspose":
        return a * (w // max(w_shape[0], 1))
    if node.op_type == "Gemm":
        trans_b = any(x.name == "transB" and x.i for x in node.attribute)
        return out * w_shape[1 if trans_b else 0]
    return out * a_shape[-1] if a_shape else 0


def _uncounted(node: onnx.NodeProto, graph: Graph) -> bool:
    """A matrix node whose MACs depend on data (a shape only known at run time)."""
    if node.op_type not in MATRIX_OPS or len(node.input) < 2 or not node.output:
        return False
    return any(_shape(n, graph) is None for n in (node.input[0], node.input[1], node.output[0]))


def _shape(name: str, graph: Graph) -> tuple[int, ...] | None:
    if name in graph.constants:
        return tuple(graph.constants[name].shape)
    t = graph.tensors.get(name)
    return t.shape if t is not None else None
