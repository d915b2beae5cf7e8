"""A tiny hand assembler: build a ``Program`` from DRAM tensors and instruction records.

Used by the tests, the benchmark and anyone writing NPU programs without the compiler::

    b = ProgramBuilder(config)
    x = b.input("x", (4, 8), "int8")
    y = b.output("y", (4, 8), "int8")
    w = b.constant("w", weights)          # placed in the constant segment
    b.emit(Load(...), node="conv1")
    program = b.build()                   # appends End

Graph tensors (inputs, outputs, scratch) are allocated from DRAM address 0 upwards, constants
from ``const_base`` upwards; every allocation is aligned to ``ALIGN`` bytes.
"""

from __future__ import annotations

import numpy as np

from simulator.config import NpuConfig
from simulator.isa import Dma, End, Instr
from simulator.program import Program, TensorInfo

ALIGN = 64


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class ProgramBuilder:
    def __init__(self, config: NpuConfig, const_base: int = 1 << 20):
        self.config = config
        self.const_base = const_base
        self.next_addr = 0
        self.constants = bytearray()
        self.tensors: dict[str, TensorInfo] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.instructions: list[Instr] = []
        self.nodes: list[str] = [""]
        self.node_index: dict[str, int] = {"": 0}
        self.node_of: list[int] = []

    def tensor(self, name: str, shape, dtype: str, kind: str = "intermediate") -> TensorInfo:
        """Allocate a graph tensor in DRAM below ``const_base``."""
        info = TensorInfo(name, self.next_addr, tuple(shape), np.dtype(dtype).name, kind)
        self.next_addr = _align(self.next_addr + info.nbytes)
        if self.next_addr > self.const_base:
            raise ValueError(f"tensor {name!r} overflows into the constant segment")
        self.tensors[name] = info
        return info

    def input(self, name: str, shape, dtype: str) -> TensorInfo:
        self.inputs.append(name)
        return self.tensor(name, shape, dtype, "input")

    def output(self, name: str, shape, dtype: str) -> TensorInfo:
        self.outputs.append(name)
        return self.tensor(name, shape, dtype, "output")

    def constant(self, name: str, array: np.ndarray) -> TensorInfo:
        """Append ``array`` (row-major, little-endian) to the constant segment."""
        array = np.ascontiguousarray(array)
        addr = self.const_base + len(self.constants)
        info = TensorInfo(name, addr, array.shape, array.dtype.name, "constant")
        self.constants += array.astype(array.dtype.newbyteorder("<")).tobytes()
        self.constants += bytes(_align(len(self.constants)) - len(self.constants))
        self.tensors[name] = info
        return info

    def emit(self, instr: Instr, node: str = "") -> int:
        """Append one instruction tagged with its source node; returns its index."""
        if node not in self.node_index:
            self.node_index[node] = len(self.nodes)
            self.nodes.append(node)
        self.instructions.append(instr)
        self.node_of.append(self.node_index[node])
        return len(self.instructions) - 1

    def build(self) -> Program:
        self.emit(End())
        return Program(
            config=self.config,
            instructions=list(self.instructions),
            constants=bytes(self.constants),
            const_base=self.const_base,
            dram_size=self.const_base + len(self.constants),
            tensors=dict(self.tensors),
            inputs=list(self.inputs),
            outputs=list(self.outputs),
            nodes=list(self.nodes),
            node_of=list(self.node_of),
        )


def dma(
    cls: type[Dma],
    sp: int,
    sp_addr: int,
    dram_addr: int,
    shape: tuple[int, ...],
    esize: int = 1,
    dram_strides: tuple[int, ...] | None = None,
    sp_strides: tuple[int, ...] | None = None,
    **fields,
) -> Dma:
    """A Load/Store of a whole box (window = box unless lo*/hi* are given).

    ``shape`` has up to 3 dims (left-padded with 1); strides default to row-major.
    """
    shape = (1,) * (3 - len(shape)) + tuple(shape)
    dense = (shape[1] * shape[2], shape[2], 1)
    ds = _pad_strides(dram_strides, dense)
    ss = _pad_strides(sp_strides, dense)
    box = dict(n0=shape[0], n1=shape[1], n2=shape[2], hi0=shape[0], hi1=shape[1], hi2=shape[2])
    box.update(ds0=ds[0], ds1=ds[1], ds2=ds[2], ss0=ss[0], ss1=ss[1], ss2=ss[2])
    box.update(fields)
    log2 = {1: 0, 2: 1, 4: 2, 8: 3}[esize]
    return cls(sp=sp, sp_addr=sp_addr, dram_addr=dram_addr, esize_log2=log2, **box)


def _pad_strides(strides, dense):
    if strides is None:
        return dense
    return (0,) * (3 - len(strides)) + tuple(strides)
