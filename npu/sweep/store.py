"""The sweep's SQLite database: one row per (model hash, resolved-config fingerprint, version).

Each point is written in its own transaction as it finishes, by the one process that runs the
sweep (workers only compute), with ``INSERT OR IGNORE`` on the primary key: a sweep killed at
any moment (SIGKILL included) leaves whole rows only, and started again it skips every key
already there, so no point is lost, run twice or written in part.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import compiler
import simulator
from npu.sweep.evaluate import METRICS
from npu.version import package_version
from simulator.errors import ConfigError

KEY = ("model_hash", "config_fp", "version")
COLUMNS = (
    *KEY,
    "model",
    "point",
    "config",
    "status",
    "error",
    *METRICS,
    "verified",
    "finished_at",
)
TYPES = {
    "cycles": "INTEGER",
    "dram_read_bytes": "INTEGER",
    "dram_write_bytes": "INTEGER",
    "peak_scratchpad_bytes": "INTEGER",
    "verified": "INTEGER",
}
REAL = {"latency_us", "energy_uj", "area_mm2", "array_utilization", "compile_s", "simulate_s"}
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS results ("
    + ", ".join(f"{c} {TYPES.get(c, 'REAL' if c in REAL else 'TEXT')}" for c in COLUMNS)
    + f", PRIMARY KEY ({', '.join(KEY)}))"
)


def toolchain_version() -> str:
    """The package version and a digest of the compiler's and simulator's sources: a result
    is reused only by the code that produced it."""
    digest = hashlib.sha256()
    for package in (compiler, simulator):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")) + sorted(root.rglob("*.toml")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return f"{package_version()}+{digest.hexdigest()[:12]}"


def model_hash(path: str | Path) -> str:
    """sha256 of the .onnx file's bytes (external data files are not hashed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class Store:
    """The results table of one database file."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(SCHEMA)
            self._check_columns()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"--db {self.path!r} is not a sweep database: {exc}") from None

    def _check_columns(self) -> None:
        have = [row[1] for row in self.conn.execute("PRAGMA table_info(results)")]
        if tuple(have) != COLUMNS:
            raise ConfigError(
                f"--db {self.path!r} has a results table of other columns "
                f"({', '.join(have)}); use a new file"
            )

    def done(self, keys: Iterable[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        """Which of ``keys`` have a row."""
        have = set(self.conn.execute(f"SELECT {', '.join(KEY)} FROM results"))
        return {k for k in keys if k in have}

    def add(self, row: dict[str, Any]) -> bool:
        """Write one finished point in its own transaction; False when its key was there."""
        values = [_sql(row.get(c)) for c in COLUMNS]
        marks = ", ".join("?" * len(COLUMNS))
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            cursor = self.conn.execute(
                f"INSERT OR IGNORE INTO results ({', '.join(COLUMNS)}) VALUES ({marks})", values
            )
        return cursor.rowcount == 1

    def rows(self, keys: Iterable[tuple[str, str, str]] | None = None) -> list[dict[str, Any]]:
        """Every row (or those of ``keys``, in their order, once each), ``point`` and ``config``
        decoded."""
        cursor = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM results")
        found = [_decode(dict(zip(COLUMNS, r, strict=True))) for r in cursor]
        if keys is None:
            return found
        by_key = {tuple(r[k] for k in KEY): r for r in found}
        return [by_key[k] for k in dict.fromkeys(keys) if k in by_key]

    def close(self) -> None:
        self.conn.close()


def _sql(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    return value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["point"] = json.loads(row["point"])
    row["config"] = json.loads(row["config"])
    if row["verified"] is not None:
        row["verified"] = bool(row["verified"])
    return row
