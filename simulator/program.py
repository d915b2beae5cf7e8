"""The compiled program: what the compiler produces and the simulator (or RTL) runs.

A ``Program`` holds the instruction records, the constant segment (weights, tables) that is
loaded into DRAM at ``const_base``, and a manifest: every DRAM tensor the host touches (graph
inputs and outputs, with address, shape, dtype and quantisation), the config it was compiled
for, and for each instruction the index of the ONNX node it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.config import NpuConfig
from simulator.isa import Instr


@dataclass(frozen=True)
class TensorInfo:
    """A tensor in DRAM, row-major at ``addr`` with ONNX shape and numpy dtype name."""

    name: str
    addr: int
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: float32, int8, uint8, int32, int64, ...
    kind: str = "intermediate"  # input | output | constant | intermediate
    scale: float | None = None  # quantisation, when the tensor is quantised
    zero_point: int | None = None

    @property
    def nbytes(self) -> int:
        import numpy as np

        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class Program:
    config: NpuConfig
    instructions: list[Instr]
    constants: bytes = b""
    const_base: int = 0
    dram_size: int = 0
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # ONNX node names (index 0 may be "")
    node_of: list[int] = field(default_factory=list)  # per instruction: index into nodes
    layers: list[dict[str, Any]] = field(default_factory=list)  # per-layer compiler records
    meta: dict[str, Any] = field(default_factory=dict)

    def source_node(self, index: int) -> str:
        if not self.node_of:
            return ""
        return self.nodes[self.node_of[index]]
