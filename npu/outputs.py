"""Output files that cannot hurt: checked before any work, written whole or not at all.

Every command that writes files uses this module, in two steps:

1. ``check_outputs({"--out": args.out, "--stats": args.stats}, inputs=[args.model, ...])``
   first, before any long work. It raises ``NpuError`` (exit 2, one line naming the flag and
   the path) when an output

   - is the same file as one of the command's inputs (also through a hard link or a
     symlinked folder), or as another output of the same command;
   - exists and is a symlink, or is not a regular file (a directory, a FIFO, a device such as
     ``/dev/null``, a socket): it is never replaced or written through;
   - lies in a folder that does not exist or where a file cannot be created (probed by
     creating and removing a temporary file there, so ``/proc`` and read-only mounts fail
     now, not after the work).

   ``check_output_dir(path, "-o")`` does the same for a command that writes into a folder
   (it must be a directory, or not exist yet); its files then go through ``check_outputs``.

2. ``with output_batch() as out: out.write(path, writer); out.write_text(path, text)`` at
   the end: each file is written to a temporary file in its destination folder and all of
   them are renamed into place when the block ends without an exception; otherwise the
   temporary files are removed. A failed command leaves no half-written file, and a rename
   replaces a directory entry: it never writes into whatever the path pointed to.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from simulator.errors import NpuError

PathLike = str | Path


def check_outputs(
    outputs: Mapping[str, PathLike | None], inputs: Iterable[PathLike | None] = ()
) -> None:
    """Raise NpuError now, before any work, unless every output can be written safely.

    ``outputs`` maps how each output was named (its flag, e.g. ``"--out"``) to its path
    (None: not asked for); ``inputs`` are the files the command reads.
    """
    seen: dict[tuple, tuple[str, Path]] = {}
    for path, keys in inputs_identities(inputs):
        for key in keys:
            seen.setdefault(key, ("input", path))
    for flag, raw in outputs.items():
        if raw is None:
            continue
        path = Path(raw)
        _check_target(flag, path)
        for key in _identities(path):
            other = seen.get(key)
            if other is not None:
                kind, first = other
                what = "the input" if kind == "input" else f"the output of {kind}"
                raise NpuError(
                    f"cannot write {str(path)!r} ({flag}): it is the same file as {what} "
                    f"{str(first)!r}; give another path"
                )
        for key in _identities(path):
            seen[key] = (flag, path)


def check_writable(*paths: PathLike | None) -> None:
    """``check_outputs`` for paths without flags (each named by itself)."""
    check_outputs({str(p): p for p in paths if p is not None})


def check_output_dir(path: PathLike, flag: str) -> Path:
    """A folder a command writes into: an existing directory, or one that can be created."""
    path = Path(path)
    if path.is_symlink() and not path.is_dir():
        raise NpuError(f"cannot write into {str(path)!r} ({flag}): it is a dangling symlink")
    if path.exists() and not path.is_dir():
        raise NpuError(f"cannot write into {str(path)!r} ({flag}): it is not a directory")
    if not path.exists():
        _check_folder(flag, path, path.parent)
    else:
        _probe(flag, path, path)
    return path


def inputs_identities(inputs: Iterable[PathLike | None]) -> list[tuple[Path, list[tuple]]]:
    """Each input path with the keys that identify its file."""
    out = []
    for raw in inputs:
        if raw is None or str(raw) == "":
            continue
        path = Path(raw)
        out.append((path, _identities(path)))
    return out


def _identities(path: Path) -> list[tuple]:
    """Keys under which two paths name the same file: the real path, and (device, inode)."""
    keys: list[tuple] = [("path", os.path.realpath(path))]
    with contextlib.suppress(OSError):
        st = path.stat()
        keys.append(("inode", st.st_dev, st.st_ino))
    return keys


def _check_target(flag: str, path: Path) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise NpuError(f"cannot write {str(path)!r} ({flag}): {exc.strerror}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise NpuError(
                f"cannot write {str(path)!r} ({flag}): it is a symlink (to "
                f"{os.readlink(path)!r}); name the file itself"
            )
        if stat.S_ISDIR(st.st_mode):
            raise NpuError(f"cannot write {str(path)!r} ({flag}): it is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise NpuError(
                f"cannot write {str(path)!r} ({flag}): it is not a regular file "
                f"(a {_kind(st.st_mode)}); it would be replaced"
            )
    _check_folder(flag, path, path.parent)


def _check_folder(flag: str, path: Path, folder: Path) -> None:
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise NpuError(f"cannot write {str(path)!r} ({flag}): directory {str(folder)!r} {what}")
    _probe(flag, path, folder)


def _probe(flag: str, path: Path, folder: Path) -> None:
    """Create and remove a temporary file in ``folder``: the only sure test of writability."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".npu-probe-", dir=folder)
    except OSError as exc:
        raise NpuError(
            f"cannot write {str(path)!r} ({flag}): directory {str(folder)!r}: {exc.strerror or exc}"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


class OutputBatch:
    """Collects outputs written to temporary files; ``commit`` renames them all into place."""

    def __init__(self) -> None:
        self._staged: list[tuple[Path, Path]] = []

    def write(self, path: PathLike | None, writer: Callable[[Path], None]) -> None:
        """Call ``writer(tmp_path)``; the file becomes ``path`` at commit. No-op for None."""
        if path is None:
            return
        path = Path(path)
        _check_target(str(path), path)
        try:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
            )
        except OSError as exc:
            raise NpuError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        os.close(fd)
        self._staged.append((Path(tmp), path))
        try:
            writer(Path(tmp))
        except OSError as exc:
            raise NpuError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc

    def write_text(self, path: PathLike | None, text: str) -> None:
        self.write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def commit(self) -> None:
        try:
            for tmp, path in self._staged:
                os.chmod(tmp, 0o666 & ~_umask())
                os.replace(tmp, path)
        except OSError as exc:
            self.discard()
            raise NpuError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
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
