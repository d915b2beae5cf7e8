"""Design points per hour of `npu sweep` on int8 ResNet-18 (docs/codesign.md).

    python scripts/sweep_throughput.py [--points 27] [--workers 2] [--db /tmp/tp.sqlite]

Two measurements of the same 27-point grid (array.rows x array.cols x scratchpad.weight_kib):

1. per point, in this process: the CPU time (process_time) of what a worker does for a point
   after its first (lowering a prepared graph, the simulation, the scratchpad peaks), with
   --verify none; points per hour on N cores = N x 3600 / the mean. CPU time is what a point
   costs whatever else the machine runs;
2. the whole sweep with the local backend (`npu.sweep.run`, a fresh database, each model's first
   point verified against onnxruntime), wall clock, pool start-up included, at the machine's
   load (printed: on a shared machine, wall-clock figures move with it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import models_zoo
from npu import sweep
from npu.sweep.evaluate import TIMING_ONLY, Task
from npu.sweep.space import build

MODEL = "zoo:resnet18-int8"
GRID = ["array.rows=16,32,64", "array.cols=16,32,64", "scratchpad.weight_kib=64,128,256"]


def per_point(points: int) -> list[float]:
    path = str(models_zoo.resolve_model_path(MODEL))
    space = build("base", GRID)
    grid = list(space.grid())[:points]
    Task(MODEL, path, "base", grid[0], False, 0).run()  # prepares the graph (once per worker)
    times = []
    for point in grid:
        start = time.process_time()
        record = Task(MODEL, path, "base", point, False, 0).run()
        times.append(time.process_time() - start)
        assert record["status"] == "ok", record["error"]
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=27)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    print(f"timing-only simulation: {TIMING_ONLY}; load average {os.getloadavg()}")
    times = per_point(args.points)
    mean = statistics.mean(times)
    print(
        f"per point (CPU, {len(times)} points): mean {mean:.3f} s, median "
        f"{statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s; "
        f"{args.workers} cores -> {args.workers * 3600 / mean:,.0f} points/hour"
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        table = sweep.run([MODEL], db=f"{tmp}/tp.sqlite", grid=GRID, workers=args.workers)
        wall = time.perf_counter() - start
    failed = sum(r["status"] != "ok" for r in table)
    print(
        f"sweep (local backend, {args.workers} workers, {len(table)} points, {failed} failed): "
        f"{wall:.1f} s wall -> {len(table) * 3600 / wall:,.0f} points/hour; "
        f"load average after {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
