"""Output files appear whole or not at all.

Every command checks its output paths before doing any work, writes each output to a
temporary file in the destination's own directory, and renames all of them into place only
when the whole command has succeeded. On any failure the temporary files are removed, so a
failed command never leaves a half-written (or a stale-looking new) file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from simulator.errors import NpuError


def check_writable(*paths: str | Path | None) -> None:
    """Raise NpuError now, before any work, when an output cannot be written."""
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        parent = path.parent
        if not parent.is_dir():
            raise NpuError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
        if path.is_dir():
            raise NpuError(f"cannot write {str(path)!r}: it is a directory")
        if not os.access(parent, os.W_OK):
            raise NpuError(f"cannot write {str(path)!r}: directory {str(parent)!r} is not writable")


class OutputBatch:
    """Collects outputs written to temporary files; ``commit`` renames them all into place."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def write(self, path: str | Path | None, writer: Callable[[Path], None]) -> None:
        """Call ``writer(tmp_path)``; the file becomes ``path`` at commit. No-op for None."""
        if path is None:
            return
        path = Path(path)
        check_writable(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
        )
        os.close(fd)
        self._staged.append((Path(tmp), path))
        try:
            writer(Path(tmp))
        except OSError as exc:
            raise NpuError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc

    def write_text(self, path: str | Path | None, text: str) -> None:
        self.write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def commit(self) -> None:
        for tmp, path in self._staged:
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        self._staged.clear()

    def discard(self) -> None:
        for tmp, _ in self._staged:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self._staged.clear()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def output_batch() -> Iterator[OutputBatch]:
    """``with output_batch() as out: out.write(...)``: all files appear at the end, or none."""
    batch = OutputBatch()
    try:
        yield batch
    except BaseException:
        batch.discard()
        raise
    batch.commit()
