"""``run(..., progress=...)`` reports instruction starts without changing any result."""

import numpy as np
from sim_programs import conv_program

import simulator
from simulator.config import load_config

SMALL = load_config("small")


def test_progress_is_monotonic_ends_at_total_and_changes_nothing():
    program, _ = conv_program(SMALL, 12, 12, 8, 16)
    x = np.random.default_rng(0).integers(-128, 128, (12, 12, 8)).astype(np.int8)
    calls = []
    with_bar = simulator.run(
        program, {"x": x}, progress=lambda done, total: calls.append((done, total))
    )
    plain = simulator.run(program, {"x": x})
    total = len(program.instructions) - 1  # every instruction but End
    assert calls[-1] == (total, total)
    assert len(calls) >= 2 and all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    np.testing.assert_array_equal(with_bar.outputs["y"], plain.outputs["y"])
    assert with_bar.stats.to_dict() == plain.stats.to_dict()
