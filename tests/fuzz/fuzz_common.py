"""Shared fuzz settings: bounded example counts, a time bound per example.

The default run draws ``SMALL`` examples per property; the ``slow``-marked twin of each
property (``make test-full``) draws ``LARGE``. ``NPU_FUZZ_EXAMPLES`` overrides both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from npu.conformance import CaseTimeout, time_bound

SMALL = 12
LARGE = 300
PER_EXAMPLE_SECONDS = 30.0

BUDGETS = [
    pytest.param(SMALL, id="quick"),
    pytest.param(LARGE, id="long", marks=pytest.mark.slow),
]


def examples(budget: int) -> int:
    return int(os.environ.get("NPU_FUZZ_EXAMPLES", budget))


def fuzz(budget: int, strategy, check: Callable) -> None:
    """Run ``check`` on ``budget`` examples of ``strategy``, each within the time bound."""

    @settings(
        max_examples=examples(budget),
        deadline=None,
        database=None if os.environ.get("CI") else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(strategy)
    def property_(example):
        bounded(check, example)

    property_()


def bounded(check: Callable, example) -> None:
    try:
        with time_bound(PER_EXAMPLE_SECONDS):
            check(example)
    except CaseTimeout as exc:
        save_failure(example)
        raise AssertionError(f"hang: {exc}") from None
    except Exception:
        save_failure(example)
        raise


def save_failure(example) -> None:
    """With ``NPU_FUZZ_SAVE=DIR``, keep the latest failing (model, feeds) example there:
    hypothesis replays the shrunk example last, so the files end up holding the minimal one
    (copy it into ``tests/fuzz/regressions`` to keep it as a regression test)."""
    folder = os.environ.get("NPU_FUZZ_SAVE")
    if not folder or not (isinstance(example, tuple) and len(example) == 2):
        return
    import numpy as np
    import onnx

    model, feeds = example
    if isinstance(model, onnx.ModelProto):
        Path(folder).mkdir(parents=True, exist_ok=True)
        onnx.save(model, Path(folder) / "failure.onnx")
        np.savez(Path(folder) / "failure.npz", **feeds)
