"""One-node models of any dtype, run on the NPU and by onnxruntime, compared: floats within
rtol 1e-3 (NaN and Inf where onnxruntime has them), integers and bools exactly."""

from __future__ import annotations

import numpy as np
from onnx import defs, helper

from compiler.check import reference
from compiler.driver import CompileOptions, compile
from simulator.api import run
from simulator.config import load_config

ONNX_TYPE = {
    "float32": 1,
    "int32": 6,
    "int64": 7,
    "bool": 9,
}


def opset_for(op: str) -> int:
    """17, or the first opset that has ``op``."""
    first = min(
        s.since_version
        for s in defs.get_all_schemas_with_history()
        if s.name == op and not s.domain
    )
    return max(17, first)


def node_model(op, inputs: dict, outputs: dict, attrs=None, consts=None, opset=None):
    """inputs/outputs: {name: (dtype name, shape)}; consts: {name: array} initializers."""
    consts = consts or {}
    vin = [
        helper.make_tensor_value_info(n, ONNX_TYPE[d], s)
        for n, (d, s) in inputs.items()
        if n not in consts
    ]
    vout = [helper.make_tensor_value_info(n, ONNX_TYPE[d], s) for n, (d, s) in outputs.items()]
    inits = [helper.make_tensor(n, *_tensor(a)) for n, a in consts.items()]
    node = helper.make_node(op, list(inputs), list(outputs), **(attrs or {}))
    g = helper.make_graph([node], "t", vin, vout, inits)
    return helper.make_model(
        g, opset_imports=[helper.make_opsetid("", opset or opset_for(op))], ir_version=8
    )


def _tensor(a):
    a = np.asarray(a)
    return helper.np_dtype_to_tensor_dtype(a.dtype), a.shape, a.reshape(-1).tolist()


def assert_matches(got: np.ndarray, want: np.ndarray, name: str = "y", rtol=1e-3, atol=1e-5):
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, onnxruntime {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape}, onnxruntime {want.shape}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=name)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaN")
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=name)


def run_both(model, feeds: dict, preset: str = "tiny", options: CompileOptions | None = None):
    """(NPU outputs, onnxruntime outputs, SimResult) of ``model`` on ``feeds``."""
    program = compile(model, load_config(preset), options)
    result = run(program, feeds, checked=True)
    return result.outputs, oracle(model, feeds), result


def oracle(model, feeds: dict) -> dict:
    """onnxruntime's outputs; onnx's ReferenceEvaluator for the few op/dtype pairs onnxruntime
    has no kernel for (Relu on int64, ...)."""
    try:
        return reference(model, feeds)
    except Exception as exc:
        if "NOT_IMPLEMENTED" not in str(exc):
            raise
    from onnx.reference import ReferenceEvaluator

    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model).run(None, feeds), strict=True))


def check_node(model, feeds: dict, preset: str = "tiny", rtol=1e-3, atol=1e-5):
    got, want, result = run_both(model, feeds, preset)
    assert want
    for name, w in want.items():
        assert_matches(got[name], w, name, rtol, atol)
    return result


def values(dtype: str, shape, seed: int = 0, low=-4.0, high=4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return rng.uniform(low, high, shape).astype(np.float32)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(int(low) * 5, int(high) * 5 + 1, shape).astype(dtype)
