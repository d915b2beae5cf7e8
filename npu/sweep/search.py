"""``--search nsga2 --trials N``: optuna's NSGA-II over the grid's values, minimising the
latency and the energy (each summed over the models) and the area.

The search asks a whole generation (``population`` trials) at a time and tells every result
back in order, so for one seed it visits the same points whatever the number of workers.
Each trial is a point like any other: its records go to the same database (a point met
before costs nothing) and the table holds every point the search visited. A point outside
``--where`` or one that fails on some model is told as failed.
"""

from __future__ import annotations

from typing import Any

from simulator.errors import ConfigError

SEARCHES = ("nsga2",)
OBJECTIVES = ("latency_us", "energy_uj", "area_mm2")


def population(trials: int) -> int:
    """Trials per generation: at least 4, at most 50, about a quarter of the trials."""
    return max(4, min(50, trials // 4))


def run(sweep, name: str, trials: int | None, seed: int) -> list:
    if name not in SEARCHES:
        raise ConfigError(f"unknown search {name!r}; searches: {', '.join(SEARCHES)}")
    if trials is None or trials < 1:
        raise ConfigError(f"--search {name} needs --trials N with N >= 1")
    if not sweep.space.axes:
        raise ConfigError(f"--search {name} needs at least one --grid to search over")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    size = population(trials)
    sampler = optuna.samplers.NSGAIISampler(population_size=size, seed=seed)
    study = optuna.create_study(directions=["minimize"] * len(OBJECTIVES), sampler=sampler)
    keys: list = []
    while len(study.trials) < trials:
        asked = [study.ask() for _ in range(min(size, trials - len(study.trials)))]
        keys.extend(_generation(sweep, study, asked))
    return list(dict.fromkeys(keys))


def _generation(sweep, study, asked: list) -> list:
    points = [_suggest(trial, sweep.space) for trial in asked]
    allowed = [p for p in points if sweep.space.allowed(p)]
    keys = sweep.evaluate(allowed)
    rows = {
        tuple(r[k] for k in ("model_hash", "config_fp", "version")): r
        for r in sweep.store.rows(keys)
    }
    for trial, point in zip(asked, points, strict=True):
        values = _objectives(sweep, point, rows) if point in allowed else None
        if values is None:
            study.tell(trial, state=optuna_failed())
        else:
            study.tell(trial, values)
    return keys


def _suggest(trial, space) -> tuple[tuple[str, Any], ...]:
    point = []
    for axis in space.axes:
        text = trial.suggest_categorical(axis.key, list(axis.texts))
        point.append((axis.key, axis.values[axis.texts.index(text)]))
    return tuple(point)


def _objectives(sweep, point, rows: dict) -> list[float] | None:
    found = [rows.get(key) for key in sweep.keys(point)]
    if any(r is None or r["status"] != "ok" for r in found):
        return None
    return [
        sum(r["latency_us"] for r in found),
        sum(r["energy_uj"] for r in found),
        found[0]["area_mm2"],
    ]


def optuna_failed():
    import optuna

    return optuna.trial.TrialState.FAIL
