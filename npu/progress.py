"""A progress display on stderr for long steps (only when stderr is a terminal)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def _console() -> Console:
    return Console(file=sys.stderr)


@contextlib.contextmanager
def task(description: str) -> Iterator[None]:
    """Show ``description`` with a pulsing bar and the elapsed time while the block runs."""
    console = _console()
    if not console.is_terminal:
        yield
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(description, total=None)
        yield
