"""A sweep from start to end: resolve the models and the space, skip what the database has,
run the rest on a backend (writing each record as it comes), and return the table."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from npu import models as model_args
from npu.sweep import backends, expr, space
from npu.sweep.evaluate import Task
from npu.sweep.store import Store, model_hash, toolchain_version
from npu.sweep.table import Table
from simulator.errors import ConfigError, ModelError

VERIFY = ("all", "first", "none")

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Model:
    name: str  # as given
    path: str
    hash: str


@dataclass
class Sweep:
    """What every batch of points shares: the models, the space, the store, the backend."""

    models: list[Model]
    space: space.Space
    store: Store
    version: str
    verify: str = "first"
    seed: int = 0  # of every point's random inputs (not --seed: the key does not hold it)
    backend: str = "local"
    workers: int | None = None
    address: str | None = None
    max_memory: int | None = None
    progress: Callable[[int, int], None] | None = None
    ran: int = 0  # (model, point) records computed so far (not found in the database)
    expected: int = 0  # how many a search may compute in all (for the progress bar)
    first_seen: set[str] = field(default_factory=set)  # models given their first point

    def keys(self, point: space.Point) -> list[Key]:
        fingerprint = self.space.config(point).fingerprint()
        return [(m.hash, fingerprint, self.version) for m in self.models]

    def evaluate(self, points: Sequence[space.Point]) -> list[Key]:
        """Run every (point, model) not in the database; the keys of all, in order."""
        todo: list[tuple[Key, Task, space.Point]] = []
        keys: list[Key] = []
        for point in points:
            keys.extend(self.keys(point))
        done = self.store.done(keys)
        for index, key in enumerate(keys):
            model, point = self.models[index % len(self.models)], points[index // len(self.models)]
            if key not in done:
                todo.append((key, self._task(model, point), point))
                done.add(key)
            self.first_seen.add(model.name)
        self._run(todo)
        return keys

    def _task(self, model: Model, point: space.Point) -> Task:
        first = model.name not in self.first_seen
        return Task(
            model=model.name,
            path=model.path,
            config=self.space.base,
            point=point,
            verify=self.verify == "all" or (self.verify == "first" and first),
            seed=self.seed,
            max_memory=self.max_memory,
        )

    def _run(self, todo: list[tuple[Key, Task, space.Point]]) -> None:
        tasks = [task for _, task, _ in todo]
        total = max(self.expected, self.ran + len(todo))
        for index, record in backends.imap(tasks, self.backend, self.workers, self.address):
            key, task, point = todo[index]
            self.store.add(self._row(key, task, point, record))
            self.ran += 1
            if self.progress is not None:
                self.progress(self.ran, total)

    def _row(self, key: Key, task: Task, point: space.Point, record: dict) -> dict[str, Any]:
        config = self.space.config(point).to_dict()
        config.pop("name")
        finished = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return {
            "model_hash": key[0],
            "config_fp": key[1],
            "version": key[2],
            "model": task.model,
            "point": dict(point),
            "config": config,
            **record,
            "finished_at": finished,
        }


def resolve_models(names: Sequence[str]) -> list[Model]:
    if not names:
        raise ModelError("give at least one MODEL to sweep")
    found = []
    for name in names:
        path = model_args.onnx_path(name)
        if path is None:
            raise ModelError(f"{name!r} is a compiled program; a sweep compiles each point")
        found.append(Model(name, str(path), model_hash(path)))
    return found


def run(
    models: Sequence[str],
    *,
    db: str,
    config: str = "base",
    grid: Sequence[str] = (),
    where: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    search: str | None = None,
    trials: int | None = None,
    verify: str = "first",
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    max_memory: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Table:
    """Sweep ``models`` over ``grid`` (all points, ``sample`` of them, or an NSGA-II search of
    ``trials``); every record goes to the SQLite file ``db``; the sweep's rows come back."""
    if verify not in VERIFY:
        raise ConfigError(f"--verify {verify!r}; choose one of {', '.join(VERIFY)}")
    if backend not in backends.BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; backends: {', '.join(backends.BACKENDS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    the_space = space.build(config, list(grid), expr.parse(where) if where else None)
    sweep = Sweep(
        models=resolve_models(models),
        space=the_space,
        store=Store(db),
        version=toolchain_version(),
        verify=verify,
        backend=backend,
        workers=workers,
        address=address,
        max_memory=max_memory,
        progress=progress,
    )
    try:
        keys = _points_run(sweep, sample, seed, search, trials)
        return Table(sweep.store.rows(keys), the_space.keys, sweep.ran)
    finally:
        sweep.store.close()


def _points_run(sweep: Sweep, sample, seed: int, search, trials) -> list[Key]:
    if search is not None:
        from npu.sweep import search as searches

        sweep.expected = (trials or 0) * len(sweep.models)
        return searches.run(sweep, search, trials, seed)
    if trials is not None:
        raise ConfigError("--trials counts the trials of a --search")
    if sample is not None:
        if sample < 1:
            raise ConfigError(f"--sample {sample}: give at least 1")
        return sweep.evaluate(sweep.space.sample(sample, seed))
    return sweep.evaluate(list(sweep.space.grid()))
