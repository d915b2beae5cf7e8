"""Depthwise convolution (groups == input channels == output channels), float32 (Conv) and
int8 (QConv), on the vector unit and the array together.

A tile is output rows x all columns x a block of channels, computed from one padded input
patch (channels innermost, whole DRAM bursts). It runs on one of two units:

- vector tile: per kernel position one MUL of the patch's strided view by that position's
  weight vector (stride 0 over pixels) and one ADD into the accumulator;
- array tile (equal strides s): per kernel position and group of ``cols`` channels one MatMul
  of the patch's shifted view (K = N = the group's channels) by a diagonal weight matrix (a
  tile of one group: one MatMul per kernel row, K = kw x channels). Row m = r * patch width + c
  of A is patch pixel (s r, s c): one row stride for all output rows, M = (rows - 1) * patch
  width + output width; the rows past the output width are never stored. The diagonals are
  built in WEIGHT once per channel block: a LOAD with an empty window writes zeros, a second
  scatters the weights onto them (scratchpad stride cols + 1). The array multiplies up to
  cols times the layer's MACs (the zeros too): it trades energy for cycles on an idle unit.

Both end with the same epilogue on the vector unit: float32 adds the bias and applies the fused
activation; int8 sums the products exactly in int32 (padding loads the input zero point, the
QDQ pass folds ``- zp_x * sum(w)`` into the int32 bias), adds the bias and REQUANTs per
channel (scale, output zero point, clamp of the fused Relu/Clip) once. The layer alternates
tiles between the units in a pattern chosen by the tile search ("aav": two array tiles, one
vector tile), and defers each array tile's epilogue past the next vector tile, so both units
work at once.

Buffers: patches in INPUT and accumulators in ACC in ``nbuf`` slots used by successive tiles,
the parameters (weight rows, bias, requant words; the diagonal matrices) in two halves
of WEIGHT used by alternate channel blocks, so loads and stores overlap the compute; the
emitter derives the tokens from the slots each instruction touches.

Stages: ``lower`` (the layer description from the node) -> ``search`` (the tiling) ->
``instrs`` (each tile's instructions, the program order) -> ``emit``; ``layer`` holds the
records and the scratchpad sizes.
"""

from compiler.lowering.depthwise.lower import is_depthwise, lower, lower_int8

__all__ = ["is_depthwise", "lower", "lower_int8"]
