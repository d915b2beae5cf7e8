"""The memory budget of a compile, checked before anything big is built.

A 77-byte model can declare a tensor of 10^12 elements; folding a three-scalar ``Range`` can
ask for gigabytes. Every size is therefore checked (in Python integers: no int64 overflow)
against two limits before it is materialised or planned:

- the DRAM address space of the DMA (``simulator.limits.ADDRESS_SPACE``, 512 GiB), and
- the memory budget (``CompileOptions.max_memory``, ``--max-memory``, default
  ``limits.DEFAULT_MAX_MEMORY``); a folded constant may take a quarter of it.

The checks, in pipeline order: ``check_model`` on the graph inputs and initializers, then on
the outputs and the values data propagation would build (before it and folding evaluate
anything; activations are never built before lowering); ``check_constant`` per
folded value, before it is computed (folding calls it; it reads the active budget, so it
needs no plumbing); ``check_graph`` on every tensor of the IR before lowering;
``check_dram`` on the DRAM plan (activations + constants). Each refusal is one line naming
the tensor (or node) and its size.

``active()`` is the budget of the compile in progress (set by ``using``), the default one
outside a compile.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from simulator.errors import ModelError, ResourceError
from simulator.limits import FOLD_FRACTION, check_size, fmt_size, memory_limits, numel


@dataclass(frozen=True)
class Budget:
    limit: int  # bytes any tensor and the whole DRAM image may take
    limit_name: str  # how messages name it

    @classmethod
    def of(cls, max_memory: int | None) -> Budget:
        return cls(*memory_limits(max_memory))

    @property
    def fold_limit(self) -> int:
        return self.limit // FOLD_FRACTION

    def check(self, what: str, nbytes: int) -> None:
        check_size(what, nbytes, self.limit, self.limit_name, ResourceError)


_ACTIVE: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("budget", default=None)


def active() -> Budget:
    return _ACTIVE.get() or Budget.of(None)


@contextlib.contextmanager
def using(budget: Budget) -> Iterator[Budget]:
    token = _ACTIVE.set(budget)
    try:
        yield budget
    finally:
        _ACTIVE.reset(token)


def tensor_bytes(shape, itemsize: int) -> int:
    """Bytes of a tensor; a negative dimension is refused by the caller's check."""
    return numel(shape) * itemsize


@functools.cache
def _itemsize(elem_type: int) -> int:
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return 1  # string and other odd types: count elements


def _dims(shape: onnx.TensorShapeProto) -> list[int] | None:
    """Static dims, or None when any is symbolic."""
    dims = []
    for d in shape.dim:
        if not d.HasField("dim_value"):
            return None
        dims.append(d.dim_value)
    return dims


def check_model(
    model: onnx.ModelProto, budget: Budget | None = None, propagated_only: bool = False
) -> None:
    """Every statically shaped value (graph inputs and outputs, inferred value_info) and every
    initializer must fit the budget; dims must not be negative. With ``propagated_only`` the
    inferred intermediates checked are those ONNX data propagation can materialise (rank 0
    or 1: it holds values as one list of dims); the rest are activations, never built before
    lowering, and ``check_graph`` checks them after the passes (a fused attention's scores,
    S x S a head, are gone by then); and the initializers are not checked again (the model's
    were, by ``fix_input_shapes``, and each folded one before it was built)."""
    budget = budget or active()
    g = model.graph
    for t in () if propagated_only else g.initializer:
        _check_dims("initializer", t.name, list(t.dims), _itemsize(t.data_type), budget)
    for kind, values in (("input", g.input), ("tensor", g.value_info), ("output", g.output)):
        for vi in values:
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
                continue
            if propagated_only and kind == "tensor" and len(tt.shape.dim) > 1:
                continue
            dims = _dims(tt.shape)
            if dims is not None:
                _check_dims(kind, vi.name, dims, _itemsize(tt.elem_type), budget)


def _check_dims(kind: str, name: str, dims: list[int], itemsize: int, budget: Budget) -> None:
    if any(d < 0 for d in dims):  # a model error, not a size one
        raise ModelError(f"{kind} {name!r} has a negative dimension: shape {dims}")
    nbytes = tensor_bytes(dims, itemsize)
    if nbytes > budget.limit:  # (the message only when it is needed)
        budget.check(f"{kind} {name!r} of shape {dims}", nbytes)


def check_constant(node: onnx.NodeProto, output: str, dims, itemsize: int) -> None:
    """Before folding ``node``: its ``output`` of ``dims`` must fit the folding limit."""
    budget = active()
    nbytes = tensor_bytes(dims, itemsize)
    if nbytes > budget.fold_limit:
        raise ResourceError(
            f"constant folding of node {node.name!r} ({node.op_type}) would build {output!r} "
            f"of shape {list(dims)}: {fmt_size(nbytes)}, more than a quarter of "
            f"{budget.limit_name} ({fmt_size(budget.limit)})"
        )


def check_folded(node: onnx.NodeProto, output: str, array: np.ndarray) -> None:
    """After folding (when the output's shape was not known before): the same limit."""
    check_constant(node, output, array.shape, array.dtype.itemsize)


def check_graph(graph, budget: Budget | None = None) -> None:
    """Every IR tensor and constant must fit; their total is ``check_dram``'s business."""
    budget = budget or active()
    for name, t in graph.tensors.items():
        budget.check(
            f"tensor {name!r} ({t.dtype}{list(t.shape)})", tensor_bytes(t.shape, 1) * t.itemsize
        )
    total = sum(int(c.nbytes) for c in graph.constants.values())
    budget.check("the model's constants", total)


def check_dram(peak_bytes: int, const_bytes: int, budget: Budget | None = None) -> None:
    """The planned DRAM image: activations at their peak plus the constant segment."""
    budget = budget or active()
    what = (
        f"the program's DRAM (activations {fmt_size(peak_bytes)} at their peak + "
        f"constants {fmt_size(const_bytes)})"
    )
    budget.check(what, peak_bytes + const_bytes)
