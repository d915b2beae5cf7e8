"""The one float tolerance (``compiler.check.float_error``) that the tests and ``npu check``
share: rtol 1e-3 / atol 1e-4, NaN and Inf only where onnxruntime has them."""

import numpy as np

from compiler.check import ATOL, RTOL, float_error
from npu.compare import compare_one


def test_within_rtol_passes_and_just_outside_fails():
    want = np.array([1000.0, -2.0, 0.0], np.float32)
    inside = want + np.array([0.999, 0.0, ATOL * 0.9], np.float32)
    outside = want + np.array([1.2, 0.0, 0.0], np.float32)
    assert float_error("y", inside, want).ok
    bad = float_error("y", outside, want)
    assert not bad.ok
    assert abs(bad.max_abs - 1.2) < 1e-3
    assert abs(bad.max_rel - 1.2e-3) < 1e-5
    assert RTOL == 1e-3


def test_nan_and_inf_must_sit_where_the_reference_has_them():
    want = np.array([np.nan, np.inf, 1.0], np.float32)
    assert float_error("y", want.copy(), want).ok
    moved = np.array([1.0, np.inf, np.nan], np.float32)
    e = float_error("y", moved, want)
    assert not e.ok and e.max_abs == float("inf")
    assert not float_error("y", np.array([np.nan, -np.inf, 1.0], np.float32), want).ok


def test_npu_check_uses_the_same_tolerance():
    want = np.array([[1.0, 2.0]], np.float32)
    for got in (want * (1 + 0.9e-3), want * (1 + 1.5e-3)):
        assert compare_one("y", got, want).passed == float_error("y", got, want).ok
