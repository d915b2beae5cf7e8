"""The JSON report: versioned (``schema_version``), described by docs/report_schema.json.

Bump SCHEMA_VERSION when a field changes meaning or disappears; adding a field is compatible.
"""

from __future__ import annotations

import json

import numpy as np

from npu.report import Report
from npu.version import package_version
from simulator import tech

SCHEMA_VERSION = 1


def to_dict(report: Report) -> dict:
    cfg, stats = report.config, report.stats
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "npu", "version": package_version()},
        "model": _model(report),
        "config": {"name": cfg.name, "fingerprint": cfg.fingerprint(), "params": cfg.to_dict()},
        "compile_s": report.compile_s,
        "simulate_s": report.simulate_s,
        "inputs": report.inputs_source,
        "totals": report.totals,
        "units": {
            unit: {"busy_cycles": busy, "utilization": stats.utilization[unit]}
            for unit, busy in stats.busy.items()
        },
        "energy_pj": dict(stats.energy_pj),
        "area_mm2": tech.areas(cfg),
        "layers": [row.to_dict() for row in report.layers],
        "host_partitions": report.host,
        "check": _check(report),
    }


def _model(report: Report) -> dict:
    p = report.program
    return {
        "source": report.model,
        "inputs": [_tensor(p.tensors[n]) for n in p.inputs],
        "outputs": [_tensor(p.tensors[n]) for n in p.outputs],
        "instructions": sum(len(prog.instructions) for prog in report.programs),
    }


def _tensor(info) -> dict:
    """A Program's TensorInfo or a partitioned model's Port (shape None: data-dependent)."""
    shape = None if info.shape is None else list(info.shape)
    return {"name": info.name, "shape": shape, "dtype": info.dtype}


def _check(report: Report) -> dict:
    if report.checks is None:
        return {"status": "skipped", "note": report.check_note, "outputs": []}
    return {
        "status": "passed" if report.check_passed else "failed",
        "note": report.check_note,
        "outputs": [c.to_dict() for c in report.checks],
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, allow_nan=False, default=_scalar) + "\n"


def _scalar(value):
    """A numpy scalar a count was left as (a host partition's shapes, a statistic) as the
    Python number it holds; anything else is still not JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} in a report is not JSON")
