"""GEMM-like layers (Conv, ConvTranspose phases, Gemm, MatMul; QConv, QGemm, QMatMul), split
by stage:

- ``layer``: the layer description (geometry, DRAM operands, epilogue) and tile geometry;
- ``search``: the tilings that fit, scored by ``simulator.cost.cost`` (``plan``);
- ``buffers``: the pipeline plan (counts along the loop order, buffer placement);
- ``instrs``: the A loads, W loads and MatMuls of one step;
- ``epilogue``: per-channel words, the epilogue (bias, activation or REQUANT) and its emission;
- ``emit``: the software-pipelined nest in program order.

Float and int8 layers (QConv, QGemm, QMatMul) share every stage; the dtype matters only in the
epilogue (bias, activation or requantisation, residual) and in element sizes.
"""

from compiler.lowering.gemm.emit import emit, prefetch
from compiler.lowering.gemm.layer import Epilogue, GemmLayer, Geom, Operand, align, window
from compiler.lowering.gemm.search import plan

__all__ = [
    "Epilogue",
    "GemmLayer",
    "Geom",
    "Operand",
    "align",
    "emit",
    "plan",
    "prefetch",
    "window",
]
