"""Baselines: a TOML file beside the suite, one ``[case."NAME"]`` block per case.

Each block starts with the case's identity (model, config, seed, input shapes, the config's
fingerprint), then one line per metric in the order the report shows them, so a baseline move
reads in review as the lines that changed. ``--update`` rewrites the file whole (under a lock
on the suite, so parallel pytest workers updating different cases do not lose each other's)
and appends one line to the suite's change log.
"""

from __future__ import annotations

import fcntl
import json
import math
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from npu.outputs import output_batch
from npu.regress.suite import Suite, SuiteError

IDENTITY = ("model", "config", "seed", "input_shapes", "fingerprint")
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def read_baselines(suite: Suite) -> dict[str, dict]:
    """``{case: {key: value}}`` as recorded; SuiteError when the file is missing or malformed."""
    path = suite.baseline_path
    if not path.is_file():
        raise SuiteError(
            f"no baselines for suite {str(suite.path)!r}: {str(path)!r} does not exist "
            f"(record them with: npu regress {suite.path} --update --reason '...')"
        )
    return _parse(path)


def _parse(path: Path) -> dict[str, dict]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"baseline file {str(path)!r} is not valid TOML: {exc}") from None
    cases = raw.get("case")
    if set(raw) != {"case"} or not isinstance(cases, dict):
        raise SuiteError(f'baseline file {str(path)!r} must hold only [case."NAME"] tables')
    for name, block in cases.items():
        if not isinstance(block, dict) or any(isinstance(v, dict | list) for v in block.values()):
            raise SuiteError(f"baseline file {str(path)!r}: case {name!r} is not a flat table")
    return cases


def baseline_of(suite: Suite, baselines: dict[str, dict], case: str) -> dict:
    """The recorded block of ``case``; SuiteError when it has none."""
    if case not in baselines:
        raise SuiteError(
            f"case {case!r} has no baseline in {str(suite.baseline_path)!r} "
            f"(record it with: npu regress {suite.path} --filter '{case}' --update --reason '...')"
        )
    return baselines[case]


def split(block: dict) -> tuple[dict, dict]:
    """A baseline block's identity and its metrics."""
    identity = {k: block[k] for k in IDENTITY if k in block}
    return identity, {k: v for k, v in block.items() if k not in IDENTITY}


@contextmanager
def locked(suite: Suite) -> Iterator[None]:
    """Exclusive among processes updating this suite's baselines (a lock on the suite file)."""
    with open(suite.path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_baselines(suite: Suite, blocks: dict[str, dict], log_line: str) -> None:
    """Replace the blocks of ``blocks``' cases (others kept; cases no longer in the suite
    dropped), in the suite's case order, and append ``log_line`` to the change log."""
    with locked(suite):
        path = suite.baseline_path
        current = _parse(path) if path.is_file() else {}
        current.update(blocks)
        ordered = {c.name: current[c.name] for c in suite.cases if c.name in current}
        log = suite.changelog_path
        old_log = log.read_text(encoding="utf-8") if log.is_file() else ""
        with output_batch() as out:
            out.write_text(path, render(suite, ordered))
            out.write_text(log, old_log + log_line + "\n")


def log_line(reason: str, summary: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{stamp} | {' '.join(reason.split())} | {summary}"


def render(suite: Suite, blocks: dict[str, dict]) -> str:
    lines = [
        f"# Baselines of {suite.path.name}, written by `npu regress {suite.path.name} --update`.",
        f"# Every change is explained in {suite.changelog_path.name}; see docs/regressions.md.",
    ]
    for name, block in blocks.items():
        lines += ["", f"[case.{_key(name)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in block.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes, but for DEL, which TOML also wants escaped)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return _string(str(value))
