"""The model zoo: deterministic, offline ONNX workloads for the NPU (float and int8).

import models_zoo
models_zoo.list_models()                       # [ModelInfo(name, ops, params, macs, ...)]
models_zoo.build("resnet18", int8=True)        # onnx.ModelProto
models_zoo.build_to_path("resnet18")           # cached .onnx file
models_zoo.resolve_model_path("zoo:resnet18-int8")
"""

from models_zoo.api import (
    ModelInfo,
    build,
    build_to_path,
    is_zoo_spec,
    list_models,
    model_info,
    parse_zoo_name,
    resolve_model_path,
    sample_inputs,
)
from models_zoo.errors import ZooError
from models_zoo.minilm import minilm_inputs
from models_zoo.registry import names, qdq_names

__all__ = [
    "ModelInfo",
    "ZooError",
    "build",
    "build_to_path",
    "is_zoo_spec",
    "list_models",
    "minilm_inputs",
    "model_info",
    "names",
    "parse_zoo_name",
    "qdq_names",
    "resolve_model_path",
    "sample_inputs",
]
