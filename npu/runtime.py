"""Runs a partitioned model (``compiler.partition.Partitioned``): its NPU programs on the
simulator and its host partitions on onnxruntime, in order, tensors crossing through DRAM.

The simulator never imports onnxruntime; this module is where the two engines meet. Each host
partition reads its inputs from DRAM and writes its outputs back: those bytes are the
partition's ``transfer_bytes``. Its time is measured (wall clock of ``InferenceSession.run``)
and estimated from the config's ``[host]`` section (``host_cycles``).

Timing only (``numerics=False``): the NPU partitions are timed without numerics, and the host
partitions are NOT run (they would need the values the NPU did not compute). Each contributes
its ``[host]`` estimate from the declared shapes of its ports (``estimate_host``), which equals
a full run's estimate when those shapes are static; a port whose shape depends on data counts
0 bytes and 0 elements and is named in ``HostRun.unknown``, the estimate then a lower bound.

A host matrix node whose shapes depend on data (``Segment.uncounted``) has its MACs counted at
run time: its operands and result are also fetched from onnxruntime, and ``HostRun.macs`` is
the partition's MACs with them (``compiler.partition.matrix_macs``: one formula).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import simulator
from compiler.partition import NPU, Partitioned, Port, Segment
from npu import host_macs
from simulator.config import NpuConfig
from simulator.errors import ModelError


@dataclass
class HostRun:
    """One host partition's run: what crossed, how long it took, what the config predicts."""

    segment: Segment
    wall_s: float | None
    read_bytes: int  # its inputs, read from DRAM
    write_bytes: int  # its outputs, written back
    flops: int
    estimated_cycles: int
    macs: int = 0  # its matrix nodes', those of data-dependent shapes counted as they ran
    uncounted: list[str] = field(default_factory=list)  # matrix nodes whose MACs are unknown
    ran: bool = True  # False: timing only, not run (wall_s None, the estimate from shapes)
    unknown: list[str] = field(default_factory=list)  # ports of unknown size (timing only)
    cpu_s: float = 0.0  # process CPU time of its onnxruntime run

    @property
    def transfer_bytes(self) -> int:
        return self.read_bytes + self.write_bytes


@dataclass
class PartitionedResult:
    outputs: dict[str, np.ndarray]
    segments: list[Segment] = field(default_factory=list)
    npu: list[simulator.SimResult] = field(default_factory=list)  # one per NPU partition
    host: list[HostRun] = field(default_factory=list)  # one per host partition

    @property
    def npu_cycles(self) -> int:
        return sum(r.stats.total_cycles for r in self.npu)

    @property
    def host_cycles(self) -> int:
        return sum(h.estimated_cycles for h in self.host)

    @property
    def total_cycles(self) -> int:
        """NPU and host partitions run one after the other."""
        return self.npu_cycles + self.host_cycles

    @property
    def transfer_bytes(self) -> int:
        return sum(h.transfer_bytes for h in self.host)


def run(
    part: Partitioned,
    inputs: dict[str, np.ndarray],
    *,
    checked: bool = False,
    max_memory: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    trace: bool = False,
    numerics: bool = True,
) -> PartitionedResult:
    """Run every partition in order; outputs come back keyed by the model's output names
    (``trace``: each NPU partition's ``SimResult`` keeps its trace events). ``numerics=False``:
    timing only (no outputs; ``inputs`` may be None; host partitions estimated, not run)."""
    if numerics or inputs is not None:
        check_inputs(part, inputs or {})
    if not numerics:
        return _timing_only(part, checked, max_memory, progress, trace)
    env = dict(inputs)
    result = PartitionedResult(outputs={}, segments=part.segments)
    for seg in part.segments:
        feeds = {p.name: env[p.name] for p in seg.inputs}
        if seg.device == NPU:
            sim = simulator.run(
                seg.program,
                feeds,
                checked=checked,
                max_memory=max_memory,
                progress=progress,
                trace=trace,
            )
            result.npu.append(sim)
            env.update(sim.outputs)
        else:
            outs, host = run_host(seg, feeds, part.config)
            result.host.append(host)
            env.update(outs)
    result.outputs = {name: env[name] for name in part.outputs}
    return result


def _timing_only(part: Partitioned, checked, max_memory, progress, trace) -> PartitionedResult:
    if checked:
        raise ValueError("checked=True needs numerics (the checker compares values)")
    result = PartitionedResult(outputs={}, segments=part.segments)
    for seg in part.segments:
        if seg.device == NPU:
            sim = simulator.run(
                seg.program,
                None,
                max_memory=max_memory,
                progress=progress,
                trace=trace,
                numerics=False,
            )
            result.npu.append(sim)
        else:
            result.host.append(estimate_host(seg, part.config))
    return result


def estimate_host(seg: Segment, config: NpuConfig) -> HostRun:
    """A host partition not run: its ``[host]`` estimate from its ports' declared shapes (a
    port of data-dependent shape counts nothing and is named in ``unknown``)."""
    read = sum(p.nbytes or 0 for p in seg.inputs)
    written = sum(p.nbytes or 0 for p in seg.outputs)
    elements = sum(
        int(np.prod(p.shape, dtype=np.int64)) for p in seg.outputs if p.shape is not None
    )
    flops = host_flops(seg.macs, elements)
    unknown = [p.name for p in (*seg.inputs, *seg.outputs) if p.shape is None]
    cycles = host_cycles(config, flops, read + written)
    counts = (int(read), int(written), int(flops), int(cycles), int(seg.macs))
    return HostRun(seg, None, *counts, list(seg.uncounted), False, unknown)


def execute(program, inputs: dict[str, np.ndarray], **kw):
    """A ``Program`` on the simulator (``SimResult``) or a ``Partitioned`` model here
    (``PartitionedResult``); both have ``outputs``."""
    if isinstance(program, Partitioned):
        return run(program, inputs, **kw)
    return simulator.run(program, inputs, **kw)


def check_inputs(part: Partitioned, inputs: dict[str, np.ndarray]) -> None:
    """ModelError naming the first missing, extra, misshaped or mistyped input."""
    extra = sorted(set(inputs) - set(part.inputs))
    if extra:
        raise ModelError(f"unknown input {extra[0]!r}; the model's inputs are {part.inputs}")
    for p in (part.tensors[name] for name in part.inputs):
        if p.name not in inputs:
            raise ModelError(f"missing input {p.name!r} (shape {p.shape}, {p.dtype})")
        arr = inputs[p.name]
        if p.dtype == "object":  # a sequence or optional: onnxruntime checks it
            continue
        if not isinstance(arr, np.ndarray):
            raise ModelError(f"input {p.name!r} must be an array, got {type(arr).__name__}")
        shape_ok = p.shape is None or tuple(arr.shape) == p.shape
        if not shape_ok or arr.dtype.name != p.dtype:
            raise ModelError(
                f"input {p.name!r} is {arr.dtype.name}{list(arr.shape)}; the model takes "
                f"{p.dtype}{list(p.shape or ())}"
            )


def run_host(seg: Segment, feeds: dict, config: NpuConfig) -> tuple[dict, HostRun]:
    """One host partition on onnxruntime (one thread, as measured and estimated); the
    operands of its data-dependent matrix nodes are fetched too, to count their MACs."""
    probe = host_macs.probe(seg)
    session = host_session(probe.model if probe else seg.model)
    names = [p.name for p in seg.outputs]
    extra = probe.names if probe else []
    start, cpu = time.perf_counter(), time.process_time()
    try:
        values = session.run(names + extra, feeds)
    except Exception as exc:  # onnxruntime's errors name the node; one line of it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"host partition ({', '.join(seg.nodes[:3])}...): {first}") from None
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    own = values[: len(names)]
    outs = {p.name: as_declared(v, p) for p, v in zip(seg.outputs, own, strict=True)}
    macs, uncounted = seg.macs, list(seg.uncounted)
    if probe:
        seen = {**feeds, **outs, **dict(zip(extra, values[len(names) :], strict=True))}
        counted = probe.macs({n: tuple(np.shape(v)) for n, v in seen.items()})
        macs += sum(counted.values())
        uncounted = [n for n in uncounted if n not in counted]
    read, written = _nbytes(feeds.values()), _nbytes(outs.values())
    flops = host_flops(macs, sum(int(v.size) for v in outs.values() if isinstance(v, np.ndarray)))
    cycles = host_cycles(config, flops, read + written)
    counts = (int(read), int(written), int(flops), int(cycles), int(macs))  # never numpy ints
    return outs, HostRun(seg, wall, *counts, uncounted, cpu_s=cpu)


def as_declared(value, port: Port):
    """onnxruntime's Python binding hands float8 and 4-bit tensors back as raw bytes (uint8):
    the same bytes, viewed as the dtype the model declares."""
    if not isinstance(value, np.ndarray) or value.dtype.name == port.dtype:
        return value
    declared = _np_dtype(port.dtype)
    if declared is not None and value.dtype == np.uint8 and declared.itemsize == 1:
        return value.view(declared)
    return value


def _np_dtype(name: str) -> np.dtype | None:
    return _onnx_dtypes().get(name)


@functools.cache
def _onnx_dtypes() -> dict[str, np.dtype]:
    """Every numpy dtype an ONNX tensor type maps to, by name (float8_e4m3fn, int4, ...)."""
    from onnx import TensorProto, helper

    out = {}
    for code in TensorProto.DataType.values():
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(code))
        except (KeyError, TypeError, ValueError):
            continue
        out[dtype.name] = dtype
    return out


def host_session(model: bytes):
    import onnx
    import onnxruntime as ort

    from compiler.check import exact_integer_kernels

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    model = exact_integer_kernels(onnx.load_from_string(model)) or model
    try:
        return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime cannot load a host partition: {first}") from None


def _nbytes(values) -> int:
    return sum(int(v.nbytes) for v in values if isinstance(v, np.ndarray))


def host_flops(macs: int, elements: int) -> int:
    """Two per MAC of its matrix nodes plus one per output element of the partition (a floor
    for the element-wise work; the ops inside If/Loop bodies are not counted)."""
    return 2 * macs + elements


def host_cycles(config: NpuConfig, flops: int, moved: int) -> int:
    """The ``[host]`` model: per-call overhead + compute at ``gflops`` + bytes at
    ``bytes_per_s``, in NPU clock cycles."""
    h = config.host
    seconds = h.call_overhead_us * 1e-6 + flops / (h.gflops * 1e9) + moved / h.bytes_per_s
    return int(round(seconds * config.clock_mhz * 1e6))


def port_nbytes(ports: list[Port]) -> int:
    return sum(p.nbytes or 0 for p in ports)


def stats_dict(result: PartitionedResult) -> dict:
    """The counters of a partitioned run (no wall-clock times: identical for identical runs):
    each NPU partition's simulator statistics, each host partition's estimate and transfers."""
    npu = iter(result.npu)
    host = iter(result.host)
    parts = []
    for seg in result.segments:
        if seg.device == NPU:
            parts.append({"device": NPU, "nodes": seg.nodes, "stats": next(npu).stats.to_dict()})
        else:
            h = next(host)
            parts.append(
                {
                    "device": "host",
                    "nodes": seg.nodes,
                    "ops": seg.ops,
                    "estimated_cycles": h.estimated_cycles,
                    "flops": h.flops,
                    "transfer_bytes": h.transfer_bytes,
                }
            )
    return {
        "total_cycles": result.total_cycles,
        "npu_cycles": result.npu_cycles,
        "host_cycles": result.host_cycles,
        "transfer_bytes": result.transfer_bytes,
        "partitions": parts,
    }
