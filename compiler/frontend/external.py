"""External tensor data, checked by us before onnx reads a byte of it.

A model may keep its weights in other files (``location``, ``offset``, ``length`` in each
tensor's ``external_data``). A crafted model can point them anywhere: an absolute path, a
``../`` escape, or a symlink planted in the model's folder (onnx 1.17 to 1.20.1 followed
those: CVE-2026-27489, CVE-2026-34445). Whatever the installed onnx does, ``check`` refuses
any location that is not a relative path resolving (symlinks followed) to a regular file
inside the model's own folder, any window outside that file, and any tensor whose bytes
exceed the memory budget, before ``load`` reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper, helper

from compiler import budget
from simulator.errors import ModelError
from simulator.limits import fmt_size, numel

PACKED = {"INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2"}  # several elements per byte


def all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto of the model: initializers, sparse ones, node attributes, in every
    subgraph and function (iteratively: nesting depth cannot exhaust the stack)."""
    graphs: list[onnx.GraphProto] = [model.graph]
    nodes: list[onnx.NodeProto] = [n for f in model.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            g = graphs.pop()
            yield from g.initializer
            for sparse in g.sparse_initializer:
                yield sparse.values
                yield sparse.indices
            nodes.extend(g.node)
            continue
        for attr in nodes.pop().attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices
            if attr.HasField("g"):
                graphs.append(attr.g)
            graphs.extend(attr.graphs)


def check(model: onnx.ModelProto, folder: Path) -> None:
    """ModelError unless every external location is a file inside ``folder``."""
    root = os.path.realpath(folder)
    total = 0
    for t in all_tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in t.external_data}
        location = entries.get("location", "")
        what = f"tensor {t.name!r}: external data {location!r}"
        if not location or os.path.isabs(location) or "\0" in location:
            raise ModelError(f"{what} must be a relative path inside the model's folder")
        target = os.path.realpath(os.path.join(root, location))
        if os.path.commonpath([root, target]) != root:
            raise ModelError(f"{what} resolves to {target!r}, outside the model's folder {root!r}")
        if not os.path.isfile(target):
            raise ModelError(f"{what} is not a file in the model's folder")
        total += _window(t, entries, target, what)
    if total:
        budget.active().check("the model's external data", total)


def _window(t: onnx.TensorProto, entries: dict, target: str, what: str) -> int:
    size = os.path.getsize(target)
    try:
        offset = int(entries.get("offset", 0))
        length = int(entries.get("length", size - offset))
    except ValueError:
        raise ModelError(f"{what}: offset and length must be integers") from None
    if offset < 0 or length < 0 or offset + length > size:
        raise ModelError(
            f"{what}: bytes [{offset}, {offset + length}) are not inside its {size}-byte file"
        )
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return length
    need = numel(t.dims) * itemsize
    packed = onnx.TensorProto.DataType.Name(t.data_type) in PACKED
    if not packed and t.data_type != onnx.TensorProto.STRING and need != length:
        raise ModelError(
            f"{what}: shape {list(t.dims)} needs {fmt_size(need)}, the file window holds "
            f"{fmt_size(length)}"
        )
    return length


def load(model: onnx.ModelProto, folder: Path) -> onnx.ModelProto:
    """Check, then read the external data into ``model`` (in place)."""
    check(model, folder)
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in all_tensors(model)):
        external_data_helper.load_external_data_for_model(model, str(folder))
    return model
