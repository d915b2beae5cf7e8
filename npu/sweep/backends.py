"""Where the points run: ``local`` (a process pool) or ``ray`` (a local Ray or a cluster).

Both run the same ``Task.run`` on the same tasks (``local`` with one worker runs them in this
process), so their records are the same bit for bit
but for the measured compile and simulate times. ``imap`` yields (index, record) as each task
finishes; at most ``2 * workers`` tasks are in flight, so a stopped sweep loses little work.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from npu.sweep.evaluate import Task
from simulator.errors import ConfigError

BACKENDS = ("local", "ray")


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def run_task(task: Task) -> dict[str, Any]:
    return task.run()


def imap(
    tasks: Sequence[Task], backend: str = "local", workers: int | None = None, address=None
) -> Iterator[tuple[int, dict[str, Any]]]:
    workers = workers or default_workers()
    if backend == "local":
        if address is not None:
            raise ConfigError("--address joins a Ray cluster; it needs --backend ray")
        yield from _local(tasks, workers) if workers > 1 else _inline(tasks)
    elif backend == "ray":
        yield from _ray(tasks, workers, address)
    else:
        raise ConfigError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")


def _inline(tasks: Sequence[Task]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``--workers 1``: each task in this process, in order (no pool to start)."""
    for index, task in enumerate(tasks):
        yield index, task.run()


def _local(tasks: Sequence[Task], workers: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """A pool of ``workers`` processes started by a fork server (safe beside rich's thread)."""
    if not tasks:
        return
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context)
    try:
        pending: dict[Future, int] = {}
        queue = iter(enumerate(tasks))
        while True:
            for index, task in queue:
                pending[pool.submit(run_task, task)] = index
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(tasks: Sequence[Task], workers: int, address) -> Iterator[tuple[int, dict[str, Any]]]:
    """Ray tasks on the cluster at ``address``, or on a local Ray of ``workers`` CPUs."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'npu-toolchain[ray]'") from None
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(run_task)
    try:
        pending: dict[Any, int] = {}
        queue = iter(enumerate(tasks))
        width = 2 * int(ray.cluster_resources().get("CPU", workers))
        while True:
            for index, task in queue:
                pending[remote.remote(task)] = index
                if len(pending) >= width:
                    break
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        if started:
            ray.shutdown()
