"""The default rule of check.*.max_abs_error: 1% relative or 1e-5 absolute, whichever is
larger (onnxruntime's own fp32 rounding moves with the CPU); every other metric is exact."""

from npu.regress.metrics import Rule


def test_onnxruntime_error_moves_within_its_floor_hold():
    rule = Rule.default("check.logits.max_abs_error")
    assert rule.holds(4.47e-07, 5.066e-07)  # an AVX2 CPU against an AVX-512 one
    assert rule.holds(0.5, 0.504)
    assert not rule.holds(0.5, 0.51)
    assert not rule.holds(1e-6, 2e-5)
    assert str(rule) == "rel 0.01 (or abs 1e-05)"


def test_other_metrics_stay_exact():
    rule = Rule.default("cycles")
    assert rule.holds(100, 100) and not rule.holds(100, 101)
    assert str(rule) == "exact"
