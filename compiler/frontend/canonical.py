"""Rewrites before folding that make what a model fixes by its shapes explicit: a zero-size
graph input has no values, so it is a constant; its readers read an empty initializer instead
(the input stays, unread, so callers still feed it)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from compiler.frontend.loader import real_inputs


def canonicalize(model: onnx.ModelProto) -> onnx.ModelProto:
    _empty_inputs_as_constants(model)
    return model


def _empty_inputs_as_constants(model: onnx.ModelProto) -> None:
    g = model.graph
    taken = {n for node in g.node for n in (*node.input, *node.output)}
    taken |= {t.name for t in g.initializer} | {vi.name for vi in g.input}
    for vi in real_inputs(model):
        tt = vi.type.tensor_type
        dims = [d.dim_value for d in tt.shape.dim]
        if 0 not in dims or not all(d.HasField("dim_value") for d in tt.shape.dim):
            continue
        name, k = f"{vi.name}__empty", 0
        while name in taken:
            k += 1
            name = f"{vi.name}__empty{k}"
        taken.add(name)
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        g.initializer.append(numpy_helper.from_array(np.zeros(dims, dtype), name))
        for node in g.node:
            for i, inp in enumerate(node.input):
                if inp == vi.name:
                    node.input[i] = name
