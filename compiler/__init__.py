"""ONNX -> NPU program compiler."""

from compiler.driver import CompileOptions, compile
from compiler.ops import OpSupport, supported_ops
from compiler.partition import Partitioned, compile_model

__all__ = [
    "CompileOptions",
    "OpSupport",
    "Partitioned",
    "compile",
    "compile_model",
    "supported_ops",
]
