"""The NPU as a standard ONNX backend: ``onnx.backend.base.Backend`` over compile + simulate.

Any tool that drives ONNX backends (the ONNX backend test runner, ``run_model`` scripts)
can use the NPU::

    from npu.onnx_backend import NpuBackend

    rep = NpuBackend.prepare(model, config="small")  # compiles once
    (y,) = rep.run([x])  # simulates; outputs in graph-output order

``prepare`` compiles (``compiler.compile_model``: nodes the NPU cannot run go to the host
partition, onnxruntime, unless ``options=CompileOptions(strict=True)``) and raises the
project's own errors (``UnsupportedOpError`` naming the unsupported ops in strict mode,
``ModelError``, ``ConfigError``); a model with symbolic input dimensions is
compiled by ``run`` instead, once the input shapes are known. ``run`` raises ``ModelError`` for
inputs that do not fit the program and ``SimulationError`` if the program misbehaves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, namedtupledict

from simulator.config import NpuConfig, load_config
from simulator.errors import ConfigError, ModelError

NPU_DEVICE = "NPU"
# The ONNX test runner asks for "CPU"; the NPU stands in for it (the host is the CPU).
DEVICES = (NPU_DEVICE, "CPU")


def resolve_config(config: str | NpuConfig | None) -> NpuConfig:
    """A preset name, a TOML path or an ``NpuConfig``; ``None`` means the ``base`` preset."""
    if isinstance(config, NpuConfig):
        return config
    return load_config(config or "base")


def graph_inputs(model: onnx.ModelProto) -> list[str]:
    """The names the caller feeds: graph inputs that are not initializers, in order."""
    inits = {t.name for t in model.graph.initializer}
    return [vi.name for vi in model.graph.input if vi.name not in inits]


class NpuBackendRep(BackendRep):
    """A compiled program plus the names needed to map positional inputs and outputs.

    A model whose inputs have symbolic dimensions cannot be compiled before its inputs are
    known: it is compiled at the first ``run`` with the shapes of the given inputs (one
    program per distinct set of input shapes, cached).
    """

    def __init__(self, model: onnx.ModelProto, config: NpuConfig, options: Any = None):
        self.model = model
        self.config = config
        self.options = options
        self.input_names = graph_inputs(model)
        self.output_names = [vi.name for vi in model.graph.output]
        self.programs: dict[tuple, Any] = {}
        # the SimResult (or runtime.PartitionedResult) of the last run, for profiling tools
        self.last_result = None
        if not has_symbolic_inputs(model):
            self.programs[()] = self._compile(None)

    @property
    def program(self) -> Any:
        """The program of a statically shaped model (or of the last shapes run)."""
        return next(reversed(self.programs.values()), None)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        import simulator
        from compiler.partition import Partitioned
        from npu import runtime

        feeds = self._feeds(inputs)
        program = self._program_for(feeds)
        checked = bool(kwargs.get("checked", False))
        if isinstance(program, Partitioned):
            result = runtime.run(program, feeds, checked=checked)
        else:
            result = simulator.run(program, feeds, checked=checked)
        self.last_result = result
        missing = [n for n in self.output_names if n not in result.outputs]
        if missing:
            raise ModelError(f"the program did not produce output(s) {', '.join(missing)}")
        values = [result.outputs[n] for n in self.output_names]
        return namedtupledict("Outputs", self.output_names)(*values)

    def _program_for(self, feeds: dict[str, np.ndarray]) -> Any:
        if () in self.programs:
            return self.programs[()]
        shapes = {
            n: tuple(int(d) for d in np.shape(feeds[n])) for n in self.input_names if n in feeds
        }
        key = tuple(sorted(shapes.items()))
        if key not in self.programs:
            self.programs[key] = self._compile(shapes)
        return self.programs[key]

    def _compile(self, shapes: dict[str, tuple[int, ...]] | None) -> Any:
        import compiler

        options = self.options
        if shapes:
            base = options or compiler.CompileOptions()
            options = dataclasses.replace(
                base, input_shapes={**(base.input_shapes or {}), **shapes}
            )
        return compiler.compile_model(self.model, self.config, options)

    def _feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        if isinstance(inputs, Mapping):
            return {str(k): np.asarray(v) for k, v in inputs.items()}
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if not isinstance(inputs, Sequence):
            raise ModelError(f"inputs must be a list or a dict of arrays, got {type(inputs)}")
        if len(inputs) != len(self.input_names):
            raise ModelError(
                f"expected {len(self.input_names)} input(s) "
                f"({', '.join(self.input_names)}), got {len(inputs)}"
            )
        return {n: _as_array(n, v) for n, v in zip(self.input_names, inputs, strict=True)}


def has_symbolic_inputs(model: onnx.ModelProto) -> bool:
    """True if a fed tensor input lacks a shape or has a dimension without a fixed value
    (and every input is a tensor: sequences and optionals go to the compiler to reject)."""
    inits = {t.name for t in model.graph.initializer}
    fed = [vi for vi in model.graph.input if vi.name not in inits]
    if any(not vi.type.HasField("tensor_type") for vi in fed):
        return False
    for vi in fed:
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or any(not d.HasField("dim_value") for d in tt.shape.dim):
            return True
    return False


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    if isinstance(value, np.ndarray | np.generic | int | float | bool):
        return np.asarray(value)
    if isinstance(value, list) or value is None:  # a sequence or an optional: the host's
        return value
    raise ModelError(f"input {name!r} must be a tensor, got {type(value).__name__}")


class NpuBackend(Backend):
    """``prepare`` compiles for an ``NpuConfig`` (keyword ``config``, default preset ``base``)."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return str(device).split(":")[0].upper() in DEVICES

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = NPU_DEVICE, **kwargs) -> bool:
        """A cheap check by op type; ``prepare`` does the full one (attributes, dtypes)."""
        if not cls.supports_device(device):
            return False
        supported = supported_op_names()
        return all(n.op_type in supported for n in model.graph.node)

    @classmethod
    def prepare(
        cls,
        model: onnx.ModelProto | str,
        device: str = NPU_DEVICE,
        *,
        config: str | NpuConfig | None = None,
        options: Any = None,
        **kwargs: Any,
    ) -> NpuBackendRep:
        if not cls.supports_device(device):
            raise ConfigError(f"device {device!r} is not supported; use {' or '.join(DEVICES)}")
        if not isinstance(model, onnx.ModelProto):
            model = _load(model)
        return NpuBackendRep(model, resolve_config(config), options)

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = NPU_DEVICE, **kwargs: Any
    ) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls,
        node: onnx.NodeProto,
        inputs: Any,
        device: str = NPU_DEVICE,
        outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, ...]:
        """Run one node: wraps it in a one-node model typed from the inputs."""
        model = node_model(node, [np.asarray(x) for x in inputs], outputs_info)
        return cls.run_model(model, inputs, device, **kwargs)


def node_model(
    node: onnx.NodeProto,
    inputs: list[np.ndarray],
    outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
) -> onnx.ModelProto:
    """A one-node model whose inputs are typed from ``inputs``; outputs inferred if unknown."""
    names = [n for n in node.input if n]
    ins = [_value_info(n, x.dtype, x.shape) for n, x in zip(names, inputs, strict=False)]
    outs_info = outputs_info or [(None, None)] * len(node.output)
    outs = [
        _value_info(n, dt, shape) for n, (dt, shape) in zip(node.output, outs_info, strict=False)
    ]
    graph = onnx.helper.make_graph([node], "run_node", ins, outs)
    model = onnx.helper.make_model(graph)
    return onnx.shape_inference.infer_shapes(model)


def _value_info(name: str, dtype: Any, shape: Any) -> onnx.ValueInfoProto:
    if dtype is None:
        return onnx.helper.make_empty_tensor_value_info(name)
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return onnx.helper.make_tensor_value_info(name, elem, list(shape))


def _load(path: str) -> onnx.ModelProto:
    try:
        return onnx.load(path)
    except Exception as exc:  # protobuf raises several unrelated types
        raise ModelError(f"cannot read ONNX model {path!r}: {exc}") from None


def supported_op_names() -> frozenset[str]:
    """Op type names from the compiler's declarations, whatever container it returns."""
    import compiler

    decls = compiler.supported_ops()
    if isinstance(decls, Mapping):
        return frozenset(str(k) for k in decls)
    return frozenset(_op_name(d) for d in decls)


def _op_name(decl: Any) -> str:
    if isinstance(decl, str):
        return decl
    for attr in ("op_type", "op", "name"):
        value = getattr(decl, attr, None)
        if isinstance(value, str):
            return value
    raise TypeError(f"cannot read an op name from {decl!r}")
