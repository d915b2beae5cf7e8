"""Small ONNX models built in the tests, and the onnxruntime comparison."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from compiler.check import compare_with_onnxruntime
from simulator.config import load_config


def model(nodes, inputs, outputs, inits=None, opset=17):
    """inputs/outputs: {name: shape}; inits: {name: array}."""
    vin = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()]
    vout = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    g = helper.make_graph(nodes, "test", vin, vout, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def check(m, inputs, preset="tiny", rtol=1e-3, atol=1e-4):
    errors, result = compare_with_onnxruntime(m, load_config(preset), inputs, rtol=rtol, atol=atol)
    for e in errors:
        assert e.passed, f"{e.name}: max abs {e.max_abs_error:.3g} rel {e.max_rel_error:.3g}"
    return result
