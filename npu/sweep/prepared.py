"""A worker's prepared models: what no swept key changes, done once per model and worker.

- A model the NPU runs whole: its graph after import and every pass (``driver.prepare``); a
  point lowers it at its config (``driver.lower``).
- A model with host nodes (``compiler.partition``): cut once, by ``compile_model`` at the
  first point's config, and each NPU partition's sub-model prepared once. A point lowers each
  NPU partition at its config and keeps the host partitions as they are: ``npu.runtime`` then
  estimates them from the point's ``[host]`` section (timing only) or runs them on onnxruntime
  (a verified point), as ``npu run`` does. Which nodes run on the host does not depend on the
  config; a point at which the compiler refuses an NPU partition fails with its error, as a
  point of a model the NPU runs whole does (``npu run`` would move that partition to the host:
  a design point that cannot run it is a failed point here).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from compiler import driver, partition
from compiler.ir import Graph
from compiler.partition import NPU, Partitioned
from simulator.config import NpuConfig
from simulator.errors import UnsupportedOpError
from simulator.program import Program

REFUSED = "the compiler refused"  # compiler.partition's reason for an NPU partition it moved


@dataclasses.dataclass
class Cut:
    """A partitioned model, cut once: the partitions and each NPU partition's prepared graph."""

    part: Partitioned
    graphs: dict[int, Graph]  # segment index -> the prepared graph of its sub-model


_PREPARED: dict[tuple[str, int | None], Graph | Cut] = {}


def lower(path: str, config: NpuConfig, max_memory: int | None) -> Program | Partitioned:
    """The model at ``config``: a ``Program``, or a ``Partitioned`` whose NPU partitions are
    lowered at ``config`` (call within the point's ``budget``)."""
    key = (path, max_memory)
    if key not in _PREPARED:
        _PREPARED[key] = _prepare(path, config, max_memory)
    prepared = _PREPARED[key]
    if isinstance(prepared, Graph):
        return driver.lower(prepared, config)
    segments = [
        dataclasses.replace(seg, program=driver.lower(prepared.graphs[k], config), source=None)
        if k in prepared.graphs
        else seg
        for k, seg in enumerate(prepared.part.segments)
    ]
    return dataclasses.replace(prepared.part, config=config, segments=segments)


def _prepare(path: str, config: NpuConfig, max_memory: int | None) -> Graph | Cut:
    options = driver.CompileOptions(max_memory=max_memory)
    if not partition.host_needed(path, options):
        return driver.prepare(path, options)
    part = partition.compile_model(path, config, options, keep_sources=True)
    for seg in part.segments:
        refused = [r for r in seg.reasons.values() if r.startswith(REFUSED)]
        if refused:  # at this point's config: the point fails, the next one cuts again
            raise UnsupportedOpError(refused[0])
    sub = partition.sub_options(options)
    graphs = {
        k: driver.prepare(seg.source, sub)
        for k, seg in enumerate(part.segments)
        if seg.device == NPU
    }
    return Cut(dataclasses.replace(part, segments=_without_sources(part.segments)), graphs)


def _without_sources(segments: list[Any]) -> list[Any]:
    return [dataclasses.replace(seg, source=None) for seg in segments]
