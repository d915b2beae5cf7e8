"""ONNX in: load and check the model, fix input shapes, fold constants, import into the IR."""

from compiler.frontend.importer import import_model
from compiler.frontend.loader import load_model

__all__ = ["import_model", "load_model"]
