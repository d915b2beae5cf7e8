"""Probe for internal errors: "never an internal error on a model onnxruntime runs".

Every ONNX node conformance case, as shipped and with odd shapes (every graph input dim above 1
grown by 2, output shapes left to inference), and the corpus models (on every preset; the
symbolic detector at odd sizes), compiled and simulated in process. A model onnxruntime
refuses is skipped. The ``npu`` command maps an ``NpuError`` to its one-line error and exit
code 2 and anything else to exit 3 (an internal error): this prints every case of the second
kind, and every exit-2 message that names none of the model's nodes, ops or inputs.

    python scripts/probe_errors.py [--no-nodes] [--no-corpus] [--limit N]

Deterministic (seeded inputs). Exit status 1 when any internal error was found.
"""

from __future__ import annotations

import argparse
import sys
import traceback

import numpy as np
import onnx

from compiler.check import reference
from compiler.driver import CompileOptions, compile
from npu.conformance import time_bound
from npu.conformance_cases import node_cases
from simulator.api import run
from simulator.config import load_config
from simulator.errors import NpuError

TIMEOUT = 60.0
NUMPY = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.BOOL: np.bool_,
    onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.UINT8: np.uint8,
}


def grown(model: onnx.ModelProto, extra: int = 2) -> onnx.ModelProto | None:
    """The model with every graph input dim above 1 grown by ``extra`` (None: nothing to grow
    or a symbolic dim); output dims symbolic and value_info cleared for inference to redo."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    changed = False
    for vi in m.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                return None
            if d.dim_value > 1:
                d.dim_value += extra
                changed = True
    for vi in m.graph.output:  # symbolic: inference gives the grown shapes
        for j, d in enumerate(vi.type.tensor_type.shape.dim):
            d.dim_param = f"{vi.name}_{j}"
    del m.graph.value_info[:]
    return m if changed else None


def random_inputs(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray] | None:
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        dtype = NUMPY.get(t.elem_type)
        if dtype is None or not vi.type.HasField("tensor_type"):
            return None
        shape = [d.dim_value for d in t.shape.dim]
        if np.issubdtype(dtype, np.floating):
            out[vi.name] = rng.standard_normal(shape).astype(dtype)
        else:
            out[vi.name] = rng.integers(0, 3, shape).astype(dtype)
    return out


def probe(name: str, model, inputs, config, options=None) -> str:
    """ "ok", "refused: ..." (exit 2), "skipped" (onnxruntime refuses) or "INTERNAL: ..."."""
    try:
        reference(model, inputs)
    except Exception:  # noqa: BLE001 (onnxruntime's refusal: not a model it runs)
        return "skipped"
    try:
        with time_bound(TIMEOUT):
            program = compile(model, config, options)
            run(program, inputs)
    except NpuError as exc:
        return f"refused: {str(exc).splitlines()[0]}"
    except Exception as exc:  # noqa: BLE001 (the bug this probe looks for)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return f"INTERNAL: {type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
    return "ok"


def _names(model) -> set[str]:
    g = model.graph
    return (
        {n.op_type for n in g.node} | {n.name for n in g.node if n.name} | {i.name for i in g.input}
    )


def node_probes(limit: int | None):
    for case in node_cases()[:limit]:
        model = case.model
        inputs = random_inputs(model)
        if inputs is not None:
            yield case.name, model, inputs, None
        big = grown(model)
        if big is not None and (feeds := random_inputs(big)) is not None:
            yield f"{case.name} (dims + 2)", big, feeds, None


def corpus_probes():
    from models_zoo import corpus

    for spec in corpus.names():
        model = onnx.load(corpus.build_to_path(spec))
        shapes = corpus.input_shapes(spec)
        for preset in ("tiny", "small"):
            yield f"{spec} @{preset}", model, corpus.sample_inputs(spec), (preset, shapes)
    model = onnx.load(corpus.build_to_path("yolo_det_dyn"))
    for h, w in ((33, 47), (8, 8), (1, 1), (65, 3)):
        x = np.random.default_rng(0).standard_normal((1, 3, h, w)).astype(np.float32)
        yield f"yolo_det_dyn {h}x{w}", model, {"x": x}, ("base", {"x": x.shape})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-nodes", action="store_true")
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="node cases to probe")
    args = parser.parse_args()
    base = load_config("base")
    probes = [] if args.no_nodes else node_probes(args.limit)
    counts, internal = {}, 0
    for name, model, inputs, extra in [*probes, *([] if args.no_corpus else corpus_probes())]:
        config, options = base, None
        if extra is not None:
            config, options = load_config(extra[0]), CompileOptions(input_shapes=extra[1])
        outcome = probe(name, model, inputs, config, options)
        kind = outcome.split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
        unnamed = kind == "refused" and not any(n in outcome for n in _names(model))
        if kind == "INTERNAL" or unnamed:
            internal += kind == "INTERNAL"
            print(f"{name}: {outcome}{' (names nothing of the model)' if unnamed else ''}")
            sys.stdout.flush()
    print("totals:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if internal else 0


if __name__ == "__main__":
    sys.exit(main())
