"""A progress display on stderr for long steps (only when stderr is a terminal)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def _console() -> Console:
    """No markup or emoji codes: descriptions hold user paths and names."""
    return Console(file=sys.stderr, markup=False, emoji=False)


@contextlib.contextmanager
def task(description: str) -> Iterator[None]:
    """Show ``description`` with a pulsing bar and the elapsed time while the block runs."""
    console = _console()
    if not console.is_terminal:
        yield
        return
    text = TextColumn("{task.description}", markup=False)
    columns = (SpinnerColumn(), text, BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        bar.add_task(description, total=None)
        yield


@contextlib.contextmanager
def bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A determinate bar; the block gets ``update(done, total)`` (a no-op off a terminal)."""
    console = _console()
    if not console.is_terminal:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task_id = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task_id, completed=done, total=total)


@contextlib.contextmanager
def eta(description: str) -> Iterator[Callable[[int, int], None]]:
    """A determinate bar with the time left (``update(done, total)``; a no-op off a terminal)."""
    console = _console()
    if not console.is_terminal:
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task_id = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task_id, completed=done, total=total)
