"""Run numpy's BLAS single-threaded while the simulator runs.

Every simulated MatMul is one tile (a few hundred rows at most): a multi-threaded BLAS spends
more time waking and joining its threads than multiplying, and on a loaded machine a thread
that waits for a descheduled sibling can make a 256x128x128 product 50x slower. OpenBLAS
(numpy's bundled ``scipy_openblas``) can set the thread count of the calling thread only
(``openblas_set_num_threads_local``, OpenBLAS >= 0.3.27); other BLAS builds are left alone.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np


@cache
def _set_threads_local():
    """openblas_set_num_threads_local of numpy's bundled OpenBLAS, or None."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "libscipy_openblas*"))):
        try:
            func = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        func.restype = ctypes.c_int
        func.argtypes = [ctypes.c_int]
        return func
    return None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS calls from this thread run on one thread inside the block (restored after)."""
    func = _set_threads_local()
    if func is None:
        yield
        return
    previous = func(1)
    try:
        yield
    finally:
        func(previous)
