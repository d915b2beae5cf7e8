"""Run ``python -m npu`` on hostile files in a subprocess and measure what it cost.

``run_npu`` returns the exit code, stdout, stderr, the wall-clock and CPU seconds and the
child's peak resident memory (``os.wait4``'s ``ru_maxrss``). The child gets an address-space
limit and a wall-clock bound, so a regression fails the test instead of exhausting the
machine. ``snapshot`` records every file under a folder (kind, size, sha256) so a test can
assert that nothing was written, replaced or destroyed.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(os.environ.get("NPU_HOSTILE_REPO") or Path(__file__).parents[2])
ADDRESS_LIMIT = 6 << 30  # the child dies of MemoryError (exit 3) rather than eat the machine
WALL_LIMIT = 120.0  # seconds; a hung child is killed and the test fails
PEAK_LIMIT = 1 << 30  # what every hostile case must stay under (bytes of resident memory)
CPU_LIMIT = 8.0  # seconds of user+system time (Python and onnx imports take ~1.5)


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    wall_s: float
    cpu_s: float
    peak_bytes: int

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]

    def summary(self) -> str:
        first = self.lines[0] if self.lines else ""
        return (
            f"exit {self.code}, {self.cpu_s:.1f} s cpu, {self.wall_s:.1f} s wall, "
            f"{self.peak_bytes / 2**20:.0f} MiB peak: {first[:160]}"
        )


def _limit_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))
    os.setsid()


def run_npu(argv, cwd: Path, env: dict | None = None, wall: float = WALL_LIMIT) -> Outcome:
    full_env = {k: v for k, v in os.environ.items() if k != "NPU_DEBUG"}
    full_env["PYTHONPATH"] = str(REPO)
    full_env.setdefault("NPU_ZOO_CACHE", str(cwd.parent / "zoo-cache"))
    full_env.update(env or {})
    out_path, err_path = cwd.parent / f".{cwd.name}.out", cwd.parent / f".{cwd.name}.err"
    start = time.monotonic()
    with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "npu", *map(str, argv)],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_limit_child,
        )
        status, usage = _wait(proc, wall)
        wall_s = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        text_out, text_err = (
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )
    out_path.unlink()
    err_path.unlink()
    code = os.waitstatus_to_exitcode(status)
    return Outcome(
        code, text_out, text_err, wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
    )


def _wait(proc: subprocess.Popen, wall: float):
    deadline = time.monotonic() + wall
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, usage
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return status, usage
        time.sleep(0.02)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: (kind, size, sha256 or link target)."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(folder))
        if stat.S_ISLNK(st.st_mode):
            entries[rel] = ("link", os.readlink(path))
        elif stat.S_ISREG(st.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if st.st_size < 1 << 26 else ""
            entries[rel] = ("file", st.st_size, digest, st.st_mtime_ns)
        elif stat.S_ISDIR(st.st_mode):
            entries[rel] = ("dir",)
        else:
            entries[rel] = ("special", stat.S_IFMT(st.st_mode))
    return entries
