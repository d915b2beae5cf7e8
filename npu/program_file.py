"""The ``.npuprog`` file of a compiled model: a plain program (``simulator/program.py``) when
the NPU runs every node, or a partitioned one (``simulator/partfile.py``) that carries its host
partitions as ONNX models, covered by the same checksum.

A host partition read from a file is checked before onnxruntime sees it: it must parse as ONNX,
pass the checker, name no external data (so it reads no file the user did not name), declare
exactly the inputs and outputs the manifest gives it, and hold no static tensor over the memory
budget. The manifest's tensor flow is checked too: every partition's inputs are the model's or
an earlier partition's outputs, and every model output is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx

from compiler import budget
from compiler.partition import DEVICES, NPU, Partitioned, Port, Segment
from simulator import partfile
from simulator.config import build_config
from simulator.errors import ConfigError, NpuError, ProgramFormatError
from simulator.program import Program, program_from_bytes, save_program

HOST_DTYPES = frozenset(
    ["float32", "float16", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32"]
    + ["int64", "uint64", "bool", "object"]
)


def save(compiled: Program | Partitioned, path: str | Path) -> None:
    if isinstance(compiled, Program):
        save_program(compiled, path)
    else:
        Path(path).write_bytes(to_bytes(compiled))


def to_bytes(part: Partitioned) -> bytes:
    manifest = {
        "config": part.config.to_dict(),
        "inputs": part.inputs,
        "outputs": part.outputs,
        "tensors": [_port_dict(p) for p in part.tensors.values()],
        "segments": [_segment_dict(s) for s in part.segments],
    }
    parts = [(s.device, s.program if s.device == NPU else s.model) for s in part.segments]
    return partfile.to_bytes(manifest, parts)


def load(path: str | Path) -> Program | Partitioned:
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise ProgramFormatError(f"cannot read program file {str(path)!r}: {exc}") from None
    return from_bytes(blob)


def from_bytes(blob: bytes) -> Program | Partitioned:
    if not partfile.is_partitioned(blob):
        return program_from_bytes(blob)
    manifest, parts = partfile.from_bytes(blob)
    try:
        part = _partitioned(manifest, parts)
    except ConfigError as exc:
        raise ProgramFormatError(f"partitioned program manifest.config: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProgramFormatError(f"partitioned program manifest is malformed: {exc!r}") from None
    check_flow(part)
    for k, seg in enumerate(part.segments):
        if seg.device == NPU:
            _check_npu(seg, k, part)
        else:
            check_host_model(seg, k)
    return part


def _port_dict(p: Port) -> dict[str, Any]:
    return {"name": p.name, "shape": None if p.shape is None else list(p.shape), "dtype": p.dtype}


def _segment_dict(s: Segment) -> dict[str, Any]:
    return {
        "device": s.device,
        "nodes": s.nodes,
        "ops": s.ops,
        "inputs": [_port_dict(p) for p in s.inputs],
        "outputs": [_port_dict(p) for p in s.outputs],
        "reasons": s.reasons,
        "macs": s.macs,
        "uncounted": s.uncounted,
    }


def _partitioned(m: dict, parts: list) -> Partitioned:
    raw = dict(m["config"])
    config = build_config(raw, raw.get("name", "custom"))
    if len(m["segments"]) != len(parts):
        raise ValueError(f"{len(m['segments'])} segments for {len(parts)} parts")
    segments = [_segment(d, p) for d, p in zip(m["segments"], parts, strict=True)]
    tensors = {p.name: p for p in (_port(t) for t in m["tensors"])}
    inputs, outputs = _names(m["inputs"]), _names(m["outputs"])
    for name in [*inputs, *outputs]:
        if name not in tensors:
            raise ValueError(f"model tensor {name!r} is not described")
    return Partitioned(config, segments, inputs, outputs, tensors)


def _segment(d: dict, part: tuple) -> Segment:
    device, body = part
    if d["device"] != device or device not in DEVICES:
        raise ValueError(f"segment device {d['device']!r} is not its part's ({device!r})")
    reasons = {str(k): str(v) for k, v in dict(d["reasons"]).items()}
    return Segment(
        device=device,
        nodes=_names(d["nodes"]),
        ops=_names(d["ops"]),
        inputs=[_port(p) for p in d["inputs"]],
        outputs=[_port(p) for p in d["outputs"]],
        reasons=reasons,
        program=body if device == NPU else None,
        model=None if device == NPU else body,
        macs=_count(d["macs"]),
        uncounted=_names(d.get("uncounted", [])),
    )


def _names(items) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise TypeError(f"expected a list of names, not {items!r}"[:120])
    return list(items)


def _count(x) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise ValueError(f"expected a count, not {x!r}")
    return x


def _port(d: dict) -> Port:
    shape = d["shape"]
    if shape is not None:
        shape = tuple(_count(s) for s in shape)
    if d["dtype"] not in HOST_DTYPES or not isinstance(d["name"], str):
        raise ValueError(f"tensor {d['name']!r} has dtype {d['dtype']!r}")
    return Port(d["name"], shape, d["dtype"])


def check_flow(part: Partitioned) -> None:
    """Every partition reads only the model's inputs and earlier partitions' outputs."""
    known = set(part.inputs)
    for k, seg in enumerate(part.segments):
        missing = [p.name for p in seg.inputs if p.name not in known]
        if missing:
            raise ProgramFormatError(
                f"partition {k} ({seg.device}) reads {missing[0]!r}, which nothing before it makes"
            )
        known |= {p.name for p in seg.outputs}
    missing = [n for n in part.outputs if n not in known]
    if missing:
        raise ProgramFormatError(f"no partition makes the model output {missing[0]!r}")


def _check_npu(seg: Segment, k: int, part: Partitioned) -> None:
    prog = seg.program
    names = ([p.name for p in seg.inputs], [p.name for p in seg.outputs])
    if (prog.inputs, prog.outputs) != names:
        raise ProgramFormatError(f"NPU partition {k}'s program does not take and make its ports")
    if prog.config.fingerprint() != part.config.fingerprint():
        raise ProgramFormatError(f"NPU partition {k} was compiled for another config")


def check_host_model(seg: Segment, k: int) -> None:
    """ProgramFormatError unless the host partition is a checked, self-contained ONNX model
    with the manifest's inputs and outputs and no static tensor over the memory budget."""
    what = f"host partition {k} ({', '.join(seg.nodes[:3]) or 'no nodes'})"
    try:
        model = onnx.ModelProto.FromString(seg.model)
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ProgramFormatError(f"{what} is not a valid ONNX model: {line}"[:300]) from None
    functions = [n for f in model.functions for n in f.node]
    if _external(model.graph) or _external(None, functions):
        raise ProgramFormatError(f"{what} refers to external data; a host partition holds its own")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ProgramFormatError(f"{what} is not a valid ONNX model: {line}"[:300]) from None
    inits = {t.name for t in model.graph.initializer}
    ins = [v.name for v in model.graph.input if v.name not in inits]
    outs = [v.name for v in model.graph.output]
    if (ins, outs) != ([p.name for p in seg.inputs], [p.name for p in seg.outputs]):
        raise ProgramFormatError(f"{what} does not take and make the tensors its manifest names")
    try:
        budget.check_model(onnx.shape_inference.infer_shapes(model))
    except NpuError as exc:
        raise ProgramFormatError(f"{what}: {exc}") from None
    except Exception as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ProgramFormatError(f"{what}: shape inference failed: {line}"[:300]) from None


def _external(graph: onnx.GraphProto, nodes=None) -> bool:
    """Does any tensor of ``graph`` (its subgraphs, sparse initializers, attributes) name
    external data?"""
    tensors = list(graph.initializer) if graph is not None else []
    if graph is not None:
        tensors += [t for s in graph.sparse_initializer for t in (s.values, s.indices)]
    for node in graph.node if nodes is None else nodes:
        for attr in node.attribute:
            tensors += ([attr.t] if attr.HasField("t") else []) + list(attr.tensors)
            tensors += [
                t for s in [attr.sparse_tensor, *attr.sparse_tensors] for t in (s.values, s.indices)
            ]
            subgraphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
            if any(_external(g) for g in subgraphs):
                return True
    external = onnx.TensorProto.EXTERNAL
    return any(t.data_location == external or len(t.external_data) for t in tensors)
