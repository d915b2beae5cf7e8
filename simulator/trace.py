"""Chrome / Perfetto trace-event JSON of a run (open it in ui.perfetto.dev).

One process ("NPU"), one thread per unit (LOAD, MATRIX, VECTOR, STORE, named by ``thread_name``
metadata events) and one complete event (``"ph": "X"``) per instruction. Timestamps are real
time: ``ts`` and ``dur`` are microseconds, ``cycles / clock_mhz``; each slice's ``args`` carry the
instruction ``index``, ``opcode``, source ``node``, ``start_cycle`` and ``cycles``.
"""

from __future__ import annotations

import json
from pathlib import Path

from simulator.isa import Instr, Unit

PID = 1


def trace_events(
    instrs: list[Instr],
    units: list[int],
    starts: list[int],
    ends: list[int],
    nodes: list[str],
    clock_mhz: float,
) -> list[dict]:
    events = [{"ph": "M", "pid": PID, "name": "process_name", "args": {"name": "NPU"}}]
    for u in Unit:
        events.append(_thread_name(u))
    for i, unit in enumerate(units):
        cycles = ends[i] - starts[i]
        opcode = instrs[i].OPCODE.name
        events.append(
            {
                "ph": "X",
                "pid": PID,
                "tid": unit,
                "name": f"{opcode} {nodes[i]}".strip(),
                "cat": opcode.lower(),
                "ts": starts[i] / clock_mhz,
                "dur": cycles / clock_mhz,
                "args": {
                    "index": i,
                    "opcode": opcode,
                    "node": nodes[i],
                    "start_cycle": starts[i],
                    "cycles": cycles,
                },
            }
        )
    return events


def _thread_name(u: Unit) -> dict:
    return {"ph": "M", "pid": PID, "tid": int(u), "name": "thread_name", "args": {"name": u.name}}


def write_trace(events: list[dict], path: str | Path) -> None:
    doc = {"traceEvents": events, "displayTimeUnit": "ns"}
    Path(path).write_text(json.dumps(doc, separators=(",", ":")))
