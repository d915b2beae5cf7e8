"""The design space: ``--grid KEY=V1,V2,...`` axes over any config key, the points of their
product (all, or a seeded sample) that satisfy ``--where``.

Every value is checked once, up front, by building the base config with it
(``simulator.config``): a bad key or value is a ``ConfigError`` naming it before any point
runs. A point is the tuple of (key, value) pairs in axis order, values typed as the config
holds them (``array.rows=16`` -> 16; lists as tuples), so a point is hashable.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from npu.sweep.expr import Where
from simulator.config import NpuConfig, load_config
from simulator.errors import ConfigError

MAX_POINTS = 1_000_000  # a grid or sample draws from at most this many points

Point = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[Any, ...]  # typed, distinct, in the order given
    texts: tuple[str, ...]  # as the user wrote them (optuna's categorical choices)


@dataclass(frozen=True)
class Space:
    base: str  # preset name or TOML file
    axes: tuple[Axis, ...]
    where: Where | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(len(a.values) for a in self.axes)

    def config(self, point: Point) -> NpuConfig:
        return _config(self.base, point)

    def allowed(self, point: Point) -> bool:
        """The point satisfies ``--where`` (a ConfigError for a bad value is not allowed)."""
        if self.where is None:
            return True
        return self.where(self.config(point))

    def point(self, index: int) -> Point:
        """The ``index``-th point of the product (the last axis varies fastest)."""
        values = []
        for axis in reversed(self.axes):
            index, i = divmod(index, len(axis.values))
            values.append((axis.key, axis.values[i]))
        return tuple(reversed(values))

    def grid(self) -> Iterator[Point]:
        self._check_size()
        for index in range(self.size):
            point = self.point(index)
            if self.allowed(point):
                yield point

    def sample(self, n: int, seed: int) -> list[Point]:
        """``n`` distinct points drawn with ``random.Random(seed)`` (fewer if fewer qualify)."""
        self._check_size()
        order = random.Random(seed).sample(range(self.size), self.size)
        points: list[Point] = []
        for index in order:
            if len(points) == n:
                break
            point = self.point(index)
            if self.allowed(point):
                points.append(point)
        return points

    def _check_size(self) -> None:
        if self.size > MAX_POINTS:
            raise ConfigError(
                f"the grid has {self.size:,} points, more than {MAX_POINTS:,}; "
                "narrow it or use --search nsga2"
            )


@functools.lru_cache(maxsize=4096)
def _config(base: str, point: Point) -> NpuConfig:
    return load_config(base, dict(point))


def parse_axis(text: str, base: str) -> Axis:
    """``array.rows=16,32,64`` -> Axis; each value checked by building ``base`` with it."""
    key, sep, values = text.partition("=")
    key = key.strip()
    texts = tuple(v.strip() for v in values.split(","))
    if not sep or not key or not all(texts):
        raise ConfigError(f"--grid {text!r} must look like KEY=V1,V2,... (e.g. array.rows=16,32)")
    typed: list[Any] = []
    for value in texts:
        try:
            resolved = lookup(load_config(base, [f"{key}={value}"]), key)
        except ConfigError as exc:
            raise ConfigError(f"--grid {key}={value}: {exc}") from None
        if resolved in typed:
            raise ConfigError(f"--grid {text!r} gives the value {value!r} twice")
        typed.append(resolved)
    return Axis(key, tuple(typed), texts)


def lookup(config: NpuConfig, key: str) -> Any:
    """The value of ``key`` ('section.name' or 'name') in ``config`` (lists as tuples)."""
    section, _, name = key.partition(".")
    return getattr(getattr(config, section), name) if name else getattr(config, section)


def build(base: str, grids: list[str], where: Where | None = None) -> Space:
    axes = [parse_axis(text, base) for text in grids]
    keys = [a.key for a in axes]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ConfigError(f"--grid names {', '.join(repeated)} more than once")
    if "name" in keys:
        raise ConfigError("--grid name=...: the config's name is no hardware parameter")
    return Space(base, tuple(axes), where)
