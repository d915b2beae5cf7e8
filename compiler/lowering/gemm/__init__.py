"""GEMM-like layers (Conv, ConvTranspose phases, Gemm, MatMul), split by stage:

- ``layer``: the layer description (geometry, DRAM operands, epilogue) and tile geometry;
- ``search``: the tilings that fit, scored by ``simulator.cost.cost`` (``plan``);
- ``buffers``: the pipeline plan (counts along the loop order, buffer placement);
- ``instrs``: the A loads, W loads and MatMuls of one step;
- ``epilogue``: per-channel words, the float epilogue and its emission;
- ``emit``: the software-pipelined nest in program order;
- ``int8``: the nest of the int8 layers (QConv, QGemm, QMatMul), which float layers do not use.
"""

from compiler.lowering.gemm import int8
from compiler.lowering.gemm.emit import emit
from compiler.lowering.gemm.layer import Epilogue, GemmLayer, Geom, Operand, align, window
from compiler.lowering.gemm.search import applies, plan

__all__ = [
    "Epilogue",
    "GemmLayer",
    "Geom",
    "Operand",
    "align",
    "applies",
    "emit",
    "int8",
    "plan",
    "window",
]
