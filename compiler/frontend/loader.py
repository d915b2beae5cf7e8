"""Load, check, upgrade and shape an ONNX model; every failure becomes a one-line ModelError."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import helper, shape_inference, version_converter

from compiler import budget
from compiler.frontend import contrib, external
from simulator.errors import ModelError

MIN_OPSET = 11  # older models are upgraded to TARGET_OPSET with onnx.version_converter
TARGET_OPSET = 13


def load_model(model: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """Read (with external data) and check a model."""
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        proto = _read(Path(model))
    try:
        onnx.checker.check_model(proto)
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ModelError(f"ONNX checker rejected the model: {_first_line(exc)}") from None
    return proto


def _read(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise ModelError(f"model file {str(path)!r} is empty")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"{str(path)!r} is not a readable ONNX model: {_first_line(exc)}"
        ) from None
    except Exception as exc:  # protobuf raises assorted types on garbage
        raise ModelError(
            f"{str(path)!r} is not a readable ONNX model: {_first_line(exc)}"
        ) from None
    try:
        return external.load(proto, path.parent)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(
            f"cannot read the external data of {str(path)!r}: {_first_line(exc)}"
        ) from None


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def upgrade_opset(model: onnx.ModelProto) -> onnx.ModelProto:
    """Convert models older than MIN_OPSET; keep the original if the converter cannot."""
    if default_opset(model) >= MIN_OPSET:
        return model
    try:
        converted = version_converter.convert_version(model, TARGET_OPSET)
        onnx.checker.check_model(converted)
        return converted
    except Exception:
        return model


def real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def fix_input_shapes(
    model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None
) -> onnx.ModelProto:
    """Set every graph input's dims; dynamic dims need ``input_shapes``, whose keys name a graph
    input (value: its whole shape) or a symbolic dimension (``dim_param``, value: one size,
    applied wherever an input uses that name)."""
    shapes = dict(input_shapes or {})
    inputs = real_inputs(model)
    named = _named_dims(shapes, inputs)
    for vi in inputs:
        dims = vi.type.tensor_type.shape.dim
        if vi.name in shapes:
            _set_dims(vi, shapes[vi.name])
            continue
        for d in dims:
            if not d.HasField("dim_value") and d.dim_param in named:
                d.dim_value = named[d.dim_param]
        for axis, d in enumerate(dims):
            if not d.HasField("dim_value") or d.dim_value < 0:
                label = d.dim_param or "?"
                hint = f" or --input-shape {d.dim_param}=N" if d.dim_param else ""
                raise ModelError(
                    f"input {vi.name!r} has dynamic dimension {axis} ({label!r}); "
                    f"fix it with --input-shape {vi.name}=" + ",".join(["N"] * len(dims)) + hint
                )
    budget.check_model(model)
    return model


def _named_dims(shapes: dict, inputs: list[onnx.ValueInfoProto]) -> dict[str, int]:
    """The entries of ``shapes`` that name a symbolic dimension rather than an input."""
    names = {i.name for i in inputs}
    params = {d.dim_param for i in inputs for d in i.type.tensor_type.shape.dim if d.dim_param}
    named = {}
    for key, value in shapes.items():
        if key in names:
            continue
        if key not in params:
            known = ", ".join(sorted(names)) or "none"
            dims = ", ".join(sorted(params)) or "none"
            raise ModelError(
                f"input_shapes names {key!r}, which is neither an input nor a symbolic "
                f"dimension; inputs: {known}; symbolic dimensions: {dims}"
            )
        size = tuple(int(s) for s in value)
        if len(size) != 1 or size[0] <= 0:
            raise ModelError(
                f"input_shapes gives symbolic dimension {key!r} the value {list(size)}; "
                "it takes one positive size"
            )
        named[key] = size[0]
    return named


def _set_dims(vi: onnx.ValueInfoProto, shape: tuple[int, ...]) -> None:
    dims = vi.type.tensor_type.shape.dim
    shape = tuple(int(s) for s in shape)
    if len(dims) and len(dims) != len(shape):
        raise ModelError(
            f"input_shapes gives {vi.name!r} rank {len(shape)} {list(shape)}, "
            f"but the model's input has rank {len(dims)}"
        )
    if any(s <= 0 for s in shape):
        raise ModelError(f"input_shapes gives {vi.name!r} a non-positive dimension {list(shape)}")
    for axis, d in enumerate(dims):
        if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != shape[axis]:
            raise ModelError(
                f"input_shapes gives {vi.name!r} dimension {axis} = {shape[axis]}, "
                f"but the model fixes it to {d.dim_value}"
            )
    del vi.type.tensor_type.shape.dim[:]
    for s in shape:
        vi.type.tensor_type.shape.dim.add().dim_value = s


BIG_INITIALIZER = 4096  # elements; shape inference sees larger ones as typed inputs only


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference (strict, with data propagation) without serialising the weights:
    it runs on a copy whose large initializers are typed graph inputs (only small integer
    tensors feed data propagation); the inferred types are then written into ``model``."""
    big = [t for t in model.graph.initializer if _numel(t) >= BIG_INITIALIZER]
    names = {t.name for t in big}
    light = _shell(model)
    light.graph.initializer.extend(t for t in model.graph.initializer if t.name not in names)
    light.graph.input.extend(
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in big
    )
    _check_plain_shapes(light)
    try:
        inferred = contrib.infer(light, _infer)
    except Exception as exc:
        raise ModelError(f"ONNX shape inference failed: {_first_line(exc)}") from None
    for field in ("value_info", "output"):
        del getattr(model.graph, field)[:]
        getattr(model.graph, field).extend(getattr(inferred.graph, field))
    return model


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)


def _check_plain_shapes(light: onnx.ModelProto) -> None:
    """Shape inference without data propagation first, and every shape it finds checked
    against the budget: data propagation materialises the values it propagates (a Range of
    3e9 elements, then its Cast), so sizes are known to fit before it runs."""
    try:
        plain = shape_inference.infer_shapes(light, strict_mode=True, data_prop=False)
    except Exception:
        return  # the data-propagating pass reports it
    budget.check_model(plain, propagated_only=True)


def _numel(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n


def _shell(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` without its initializers."""
    shell = onnx.ModelProto()
    shell.ir_version = model.ir_version
    shell.opset_import.extend(model.opset_import)
    shell.functions.extend(model.functions)
    shell.graph.name = model.graph.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(shell.graph, field).extend(getattr(model.graph, field))
    return shell


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
