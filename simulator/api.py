"""``run(program, inputs)``: the simulator's front door.

1. check the inputs against the program's TensorInfo (names, shapes, dtypes; ``ModelError``),
2. lay out DRAM: constants at ``const_base``, inputs as raw little-endian row-major bytes,
3. pre-decode every instruction (functional closures + timing records, all operands
   bounds-checked),
4. run the event-driven timing model, then each instruction's numerics in start order
   (with ``checked=True`` interleaved: a vector-clock checker flags unsynchronised reads and
   writes as instructions start and complete),
5. read the outputs back from DRAM and collect statistics (and the trace, if asked).

With ``numerics=False`` (timing only) steps 2, 3's closures, 4's numerics and 5's outputs are
skipped: no memory is allocated and no data moves. Cycles, statistics and trace are the full
run's (timing and statistics never read data), bit for bit; ``outputs`` is empty. Operands are
not bounds-checked then (that needs the memories): a program the compiler made is valid; a
hand-made one should be simulated in full once.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.blas import one_blas_thread
from simulator.decode import distinct
from simulator.errors import ModelError, SimulationError
from simulator.functional import prepare
from simulator.limits import MAX_CYCLES, check_size, memory_limits
from simulator.memory import Memory
from simulator.program import Program, TensorInfo
from simulator.stats import Stats, collect
from simulator.timing import check_end, simulate_columns, timed_columns
from simulator.trace import trace_events, write_trace


@dataclass
class SimResult:
    outputs: dict[str, np.ndarray]
    stats: Stats
    trace_events: list[dict] | None = None
    _timeline: tuple = field(default=(), repr=False)

    def write_trace(self, path: str | Path) -> None:
        """Write the Perfetto trace (built now if ``run`` was called without ``trace=True``)."""
        events = self.trace_events
        if events is None:
            events = trace_events(*self._timeline)
        write_trace(events, path)


def run(
    program: Program,
    inputs: dict[str, np.ndarray] | None,
    *,
    checked: bool = False,
    trace: bool = False,
    progress: Callable[[int, int], None] | None = None,
    max_memory: int | None = None,
    numerics: bool = True,
) -> SimResult:
    """Simulate ``program`` on ``inputs``; outputs come back in their ONNX dtype and shape.

    ``progress(started, total)`` is called about a hundred times as the started instructions'
    numerics run (after the timing loop, unless ``checked``).
    Python's cyclic garbage collector is paused meanwhile (see ``no_gc``).
    ``max_memory``: the most bytes the simulated memories (scratchpads + DRAM) may take
    (default ``limits.DEFAULT_MAX_MEMORY``); a program needing more is refused before any is
    allocated.
    ``numerics=False``: timing only (see the module's docstring); ``inputs`` may be None, else
    they are still checked (names, shapes, dtypes); ``checked`` is refused (it watches data).
    """
    if not numerics:
        if checked:
            raise ValueError("checked=True needs the numerics (numerics=False skips them)")
        if inputs is not None:
            check_inputs(program, inputs)
        with no_gc():
            return _run_timing(program, trace=trace, progress=progress)
    check_memory(program, max_memory)
    with no_gc():
        return _run(program, inputs, checked=checked, trace=trace, progress=progress)


def check_memory(program: Program, max_memory: int | None = None) -> None:
    """SimulationError when the simulated memories would exceed the budget."""
    config = program.config
    need = config.input_bytes + config.weight_bytes + config.acc_bytes + dram_size(program)
    limit, limit_name = memory_limits(max_memory)
    what = f"simulating this program (scratchpads + {dram_size(program):,} bytes of DRAM)"
    check_size(what, need, limit, limit_name, SimulationError)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector inside the block (unless it was already off).

    A run makes tens of thousands of small objects (views, closures, records) that all live
    until it returns; collections triggered by their allocation find nothing to free and cost
    3-10% of a run (more when one reaches the oldest generation). Cycles made meanwhile are
    collected after the block.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(
    program: Program,
    inputs: dict[str, np.ndarray],
    *,
    checked: bool,
    trace: bool,
    progress: Callable[[int, int], None] | None,
) -> SimResult:
    config = program.config
    arrays = check_inputs(program, inputs)
    memory = Memory(config, dram_size(program))
    if program.constants:
        memory.write_bytes(program.const_base, program.constants, "the constant segment")
    for name, array in arrays.items():
        write_input(memory, program.tensors[name], array)
    instrs = program.instructions
    check_end(instrs)
    shapes = distinct(instrs[:-1])
    ops = prepare(instrs[:-1], memory, config, shapes)
    timed = timed_columns(instrs, config, shapes)
    check_horizon(timed.cycles)
    checker = None
    if checked:
        from simulator.checked import Checker

        checker = Checker(instrs, ops, memory)
    with one_blas_thread(), np.errstate(all="ignore"):  # the NPU's overflow is no warning
        runs = [op.run for op in ops]
        if progress is not None:
            runs = with_progress(runs, progress)
        starts, ends = simulate_columns(timed, runs, config, checker)
        if progress is not None:
            progress(len(runs), len(runs))
    outputs = {name: read_output(memory, program.tensors[name]) for name in program.outputs}
    return _result(program, outputs, timed, starts, ends, shapes, trace)


def _run_timing(
    program: Program, *, trace: bool, progress: Callable[[int, int], None] | None
) -> SimResult:
    """``_run`` without memories, numerics or outputs: the same timing and statistics."""
    config = program.config
    instrs = program.instructions
    check_end(instrs)
    shapes = distinct(instrs[:-1])
    timed = timed_columns(instrs, config, shapes)
    check_horizon(timed.cycles)
    starts, ends = simulate_columns(timed, [None] * len(timed.unit), config)
    if progress is not None:
        progress(len(timed.unit), len(timed.unit))
    return _result(program, {}, timed, starts, ends, shapes, trace)


def _result(program, outputs, timed, starts, ends, shapes, trace: bool) -> SimResult:
    """Statistics (and the trace, if asked) of a simulated run."""
    config, instrs, units = program.config, program.instructions, timed.unit
    nodes = node_names(program, len(units))
    stats = collect(instrs, units, starts, ends, nodes, timed.dram_bytes, config, shapes)
    timeline = (instrs, units, starts, ends, nodes, config.clock_mhz)
    events = trace_events(*timeline) if trace else None
    return SimResult(outputs, stats, events, timeline)


def check_horizon(cycles: list[int]) -> None:
    """Refuse a program whose run could outlast ``MAX_CYCLES``: the sum of every duration (and
    a cycle per event for rounding) bounds the makespan, as DRAM sharing conserves work."""
    bound = sum(cycles) + 2 * len(cycles)
    if bound > MAX_CYCLES:
        raise SimulationError(
            f"the program's instructions take up to {bound:,} cycles in all, more than the "
            f"simulator's horizon of {MAX_CYCLES:,} cycles"
        )


def with_progress(runs: list, progress: Callable[[int, int], None]) -> list:
    """Wrap every ``len/100``-th instruction so that starting it reports progress (a None
    run, an instruction without numerics such as SYNC, reports without running)."""
    total = len(runs)
    step = max(1, total // 100)
    started = [0]

    def wrap(fn):
        def run():
            if fn is not None:
                fn()
            started[0] += step
            progress(min(started[0], total), total)

        return run

    return [wrap(fn) if i % step == step - 1 else fn for i, fn in enumerate(runs)]


def node_names(program: Program, count: int) -> list[str]:
    """The source ONNX node of each of the first ``count`` instructions ("" if unknown)."""
    names, node_of = program.nodes, program.node_of
    known = list(map(names.__getitem__, node_of[:count]))
    return known + [""] * (count - len(known))


def dram_size(program: Program) -> int:
    """``program.dram_size``, or (when 0) the smallest size holding constants and tensors."""
    if program.dram_size:
        return program.dram_size
    ends = [program.const_base + len(program.constants)]
    ends += [t.addr + t.extent for t in program.tensors.values()]
    return max(ends)


def write_input(memory: Memory, info: TensorInfo, array: np.ndarray) -> None:
    """``array`` (contiguous little-endian, the tensor's dtype) into DRAM at ``info``."""
    if info.strides is None:
        memory.write_bytes(info.addr, array.view(np.uint8).ravel(), info.name)
    else:
        _host_view(memory, info, f"input {info.name!r}")[...] = array


def read_output(memory: Memory, info: TensorInfo) -> np.ndarray:
    what = f"output {info.name!r}"
    if info.strides is not None:
        return _host_view(memory, info, what).astype(info.dtype)
    raw = memory.read_bytes(info.addr, info.nbytes, what)
    return raw.view(np.dtype(info.dtype).newbyteorder("<")).astype(info.dtype).reshape(info.shape)


def _host_view(memory: Memory, info: TensorInfo, what: str) -> np.ndarray:
    """A strided tensor as a numpy view of DRAM (its extent checked inside DRAM)."""
    raw = memory.dram_window(info.addr, info.extent, what)
    dtype = np.dtype(info.dtype).newbyteorder("<")
    strides = tuple(s * dtype.itemsize for s in info.strides)
    return np.ndarray(info.shape, dtype, buffer=raw, strides=strides)


def check_inputs(program: Program, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inputs as contiguous little-endian arrays of their TensorInfo dtype; ModelError if not."""
    check_input_names(program, list(inputs))
    arrays = {name: _check_input(program.tensors[name], inputs[name]) for name in program.inputs}
    for name in program.meta.get("int32_inputs", ()):
        _check_int32(name, arrays[name])
    return arrays


def _check_int32(name: str, array: np.ndarray) -> None:
    """An int64 input the NPU computes in 32 bits must hold int32 values only."""
    bad = (array < -(2**31)) | (array > 2**31 - 1)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ModelError(
            f"input {name!r} holds {int(array[index])} at index {list(index)}, outside the "
            "int32 range the NPU computes int64 tensors in"
        )


def check_input_names(program: Program, names: list[str]) -> None:
    """ModelError unless ``names`` are exactly the program's inputs."""
    expected = list(program.inputs)
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if missing or extra:
        raise ModelError(
            f"inputs do not match the program: missing {missing}, unexpected {extra}; "
            f"expected {expected}"
        )


def check_input_header(info: TensorInfo, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """What ``check_inputs`` checks of an input before its values are read (shape, dtype)."""
    _check_input(info, np.empty(0, dtype), tuple(shape))


def _check_input(info: TensorInfo, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(value)
    want = np.dtype(info.dtype)
    shape = array.shape if shape is None else shape
    if shape != tuple(info.shape):
        raise ModelError(f"input {info.name!r} has shape {shape}, expected {tuple(info.shape)}")
    if array.dtype != want and not _castable(array, want):
        raise ModelError(f"input {info.name!r} has dtype {array.dtype}, expected {want}")
    return np.ascontiguousarray(array, dtype=want.newbyteorder("<"))


def _castable(array: np.ndarray, want: np.dtype) -> bool:
    """Safe casts, float -> narrower float, and integers whose values all fit."""
    if np.can_cast(array.dtype, want, "safe"):
        return True
    if array.dtype.kind == "f" and want.kind == "f":
        return True
    if array.dtype.kind in "iub" and want.kind in "iu":
        info = np.iinfo(want)
        return array.size == 0 or (array.min() >= info.min and array.max() <= info.max)
    return False
