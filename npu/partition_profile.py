"""The profile of a model cut into NPU and host partitions (``compiler.partition``): the
partitions run one after the other (``npu.runtime``), so they share one timeline.

- An NPU partition's layers keep their simulated cycles, shifted by the cycles of the
  partitions before it; its statistics are summed into the run's (``merged_stats``).
- A host partition is one row, device ``host``. Its cycles are an ESTIMATE, never measured:
  the config's ``[host]`` model (``runtime.host_cycles``: ``host.call_overhead_us`` per call,
  two flops per MAC of its Conv/Gemm/MatMul nodes plus one per output element at
  ``host.gflops``, the bytes it reads and writes at ``host.bytes_per_s``) at the NPU's clock.
  Its measured onnxruntime wall time on this machine (one thread) is reported beside it
  (``wall_s``) and not added to anything. Its DRAM bytes are the tensors it reads and writes;
  its energy is not modelled (0).
- The NPU MAC share is the MACs of the NPU layers (as the compiler records them) over those
  and the host partitions' MACs (``compiler.partition``'s count from the node shapes). A host
  matrix node whose shapes depend on data (after a Loop, NonMaxSuppression, ...) is counted
  from the shapes it had in the run (``npu.host_macs``); in a timing-only run the host does
  not run, such a node is not counted (``macs_uncounted`` names it) and the share is then an
  upper bound.
- Timing only (``--timing-only``): the host partitions are not run (``npu.runtime``); their
  rows keep the estimate from their ports' declared shapes and ``wall_s`` is None.
"""

from __future__ import annotations

from collections import Counter

from compiler.partition import NPU, Partitioned
from npu.analysis import LayerRow, layer_rows, totals
from npu.report import Report
from npu.runtime import HostRun, PartitionedResult
from simulator import Stats
from simulator.isa import Unit
from simulator.stats import ENERGY_KEYS, SP_NAMES, UNIT_NAMES, NodeStats
from simulator.trace import PID

HOST_TID = len(Unit)  # the trace's host track, after the NPU's units


def build_partitioned_report(
    model: str, part: Partitioned, result: PartitionedResult, **kw
) -> Report:
    stats = merged_stats(part, result)
    rows = partitioned_rows(result)
    programs = [s.program for s in part.segments if s.device == NPU]
    return Report(
        model=model,
        program=part,
        stats=stats,
        layers=rows,
        totals=totals(part.config, programs, stats, rows),
        host=host_partitions(result),
        **kw,
    )


def starts(result: PartitionedResult) -> list[int]:
    """The cycle each partition starts at: after every partition before it."""
    npu, host = iter(result.npu), iter(result.host)
    out, at = [], 0
    for seg in result.segments:
        out.append(at)
        at += next(npu).stats.total_cycles if seg.device == NPU else next(host).estimated_cycles
    return out


def partitioned_rows(result: PartitionedResult) -> list[LayerRow]:
    """The NPU partitions' layers and one row per host partition, in run order."""
    npu, host = iter(result.npu), iter(result.host)
    rows = []
    for seg, start in zip(result.segments, starts(result), strict=True):
        if seg.device == NPU:
            sim = next(npu)
            rows += [_shifted(r, start) for r in layer_rows(seg.program, sim.stats)]
        else:
            rows.append(host_row(next(host), start))
    return rows


def _shifted(row: LayerRow, offset: int) -> LayerRow:
    d = {k: v for k, v in vars(row).items()}
    d["start"], d["end"] = row.start + offset, row.end + offset
    return LayerRow(**d)


def host_row(run: HostRun, start: int) -> LayerRow:
    seg = run.segment
    name = seg.nodes[0] if len(seg.nodes) == 1 else f"{seg.nodes[0]} +{len(seg.nodes) - 1}"
    return LayerRow(
        name=name,
        op=",".join(dict.fromkeys(seg.ops)),
        tiling="onnxruntime (cycles: estimate)",
        start=start,
        end=start + run.estimated_cycles,
        cycles=run.estimated_cycles,
        macs=run.macs,
        executed_macs=0,
        utilization=0.0,
        dram_read_bytes=run.read_bytes,
        dram_write_bytes=run.write_bytes,
        compute_cycles=0.0,
        memory_cycles=0.0,
        bound="host",
        busy=dict.fromkeys(UNIT_NAMES, 0),
        energy_pj=0.0,
        device="host",
        wall_s=run.wall_s,
    )


def host_partitions(result: PartitionedResult) -> list[dict]:
    """Each host partition: its place in the run, its nodes and why each is not on the NPU,
    its estimate and measured time, what it moved."""
    out = []
    host = iter(result.host)
    for k, (seg, start) in enumerate(zip(result.segments, starts(result), strict=True)):
        if seg.device == NPU:
            continue
        run = next(host)
        out.append(
            {
                "partition": k,
                "of": len(result.segments),
                "start": start,
                "nodes": [
                    {"name": n, "op": op, "reason": seg.reasons.get(n, "")}
                    for n, op in zip(seg.nodes, seg.ops, strict=True)
                ],
                "estimated_cycles": run.estimated_cycles,
                "wall_s": run.wall_s,
                "flops": run.flops,
                "macs": run.macs,
                "macs_uncounted": run.uncounted,
                "read_bytes": run.read_bytes,
                "write_bytes": run.write_bytes,
                "ports_unknown": run.unknown,
            }
        )
    return out


def merged_stats(part: Partitioned, result: PartitionedResult) -> Stats:
    """The NPU partitions' counters summed; cycles are the whole run's (host estimates
    included), so the units' utilisation is over the whole run."""
    stats = [r.stats for r in result.npu]
    total = result.total_cycles
    busy = {u: sum(s.busy[u] for s in stats) for u in UNIT_NAMES}
    macs = sum(s.macs for s in stats)
    energy = {k: sum(s.energy_pj[k] for s in stats) for k in (*ENERGY_KEYS, "total")}
    peak = total * part.config.peak_macs_per_cycle
    return Stats(
        total_cycles=total,
        clock_mhz=part.config.clock_mhz,
        timing=part.config.timing,
        config_fingerprint=part.config.fingerprint(),
        busy=busy,
        utilization={u: (b / total if total else 0.0) for u, b in busy.items()},
        macs=macs,
        array_utilization=macs / peak if peak else 0.0,
        dram_read_bytes=sum(s.dram_read_bytes for s in stats),
        dram_write_bytes=sum(s.dram_write_bytes for s in stats),
        sram_reads={m: sum(s.sram_reads[m] for s in stats) for m in SP_NAMES},
        sram_writes={m: sum(s.sram_writes[m] for s in stats) for m in SP_NAMES},
        energy_pj=energy,
        instructions=dict(sorted(sum((Counter(s.instructions) for s in stats), Counter()).items())),
        per_node=_per_node(result),
    )


def _per_node(result: PartitionedResult) -> dict[str, NodeStats]:
    out = {}
    npu = iter(result.npu)
    for seg, start in zip(result.segments, starts(result), strict=True):
        if seg.device != NPU:
            continue
        for name, node in next(npu).stats.per_node.items():
            shifted = NodeStats(**vars(node))
            shifted.start, shifted.end = node.start + start, node.end + start
            out[name] = shifted
    return out


def merged_events(part: Partitioned, result: PartitionedResult) -> list[dict]:
    """One trace for the run: each NPU partition's slices shifted to its start, and a HOST
    track with one slice per host partition (its estimated cycles)."""
    clock = part.config.clock_mhz
    npu, host = iter(result.npu), iter(result.host)
    meta: list[dict] = []
    slices: list[dict] = []
    for seg, start in zip(result.segments, starts(result), strict=True):
        if seg.device == NPU:
            events = next(npu).trace_events or []
            meta = meta or [e for e in events if e.get("ph") != "X"]
            slices += [_shifted_event(e, start, clock) for e in events if e.get("ph") == "X"]
        else:
            slices.append(_host_event(next(host), start, clock))
    return [*meta, _host_track(), *slices]


def _shifted_event(event: dict, offset: int, clock_mhz: float) -> dict:
    args = {**event["args"], "start_cycle": event["args"]["start_cycle"] + offset}
    return {**event, "ts": args["start_cycle"] / clock_mhz, "args": args}


def _host_event(run: HostRun, start: int, clock_mhz: float) -> dict:
    seg = run.segment
    return {
        "ph": "X",
        "pid": PID,
        "tid": HOST_TID,
        "name": f"host {','.join(dict.fromkeys(seg.ops))}",
        "cat": "host",
        "ts": start / clock_mhz,
        "dur": run.estimated_cycles / clock_mhz,
        "args": {
            "nodes": seg.nodes,
            "start_cycle": start,
            "cycles": run.estimated_cycles,
            "estimate": "the [host] section's model, not measured",
            "wall_s": run.wall_s,
        },
    }


def _host_track() -> dict:
    name = {"name": "HOST (estimate)"}
    return {"ph": "M", "pid": PID, "tid": HOST_TID, "name": "thread_name", "args": name}
