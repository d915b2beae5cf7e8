"""ONNX -> NPU program compiler."""

from compiler.driver import CompileOptions, compile
from compiler.ops import OpSupport, supported_ops

__all__ = ["CompileOptions", "OpSupport", "compile", "supported_ops"]
