"""Pareto fronts on known data."""

from npu.sweep.pareto import front, mark


def test_front_of_known_points():
    points = [(1, 9), (2, 4), (3, 5), (4, 1), (2, 8), (5, 1), (6, 0.5)]
    # (3, 5) is beaten by (2, 4); (2, 8) by (2, 4); (5, 1) by (4, 1)
    assert front(points) == [0, 1, 3, 6]


def test_front_keeps_equal_points_together():
    assert front([(1, 1), (1, 1), (2, 0)]) == [0, 1, 2]
    assert front([(1, 1), (2, 1), (2, 1)]) == [0]  # equal y at larger x: dominated


def test_front_of_nothing_and_of_one():
    assert front([]) == []
    assert front([(3, 3)]) == [0]


def test_front_against_brute_force():
    import random

    rng = random.Random(7)
    points = [(rng.randint(0, 20), rng.randint(0, 20)) for _ in range(300)]

    def dominated(p):
        return any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)

    assert sorted(front(points)) == [i for i, p in enumerate(points) if not dominated(p)]


def test_mark_per_model_and_only_finished_rows():
    def row(model, lat, energy, area, status="ok"):
        return dict(model=model, status=status, latency_us=lat, energy_uj=energy, area_mm2=area)

    rows = [
        row("a", 1.0, 5.0, 9.0),
        row("a", 2.0, 1.0, 2.0),
        row("a", 3.0, 6.0, 3.0),
        row("b", 9.0, 9.0, 9.0),  # alone in its model: on every front
        row("a", None, None, None, status="error"),
    ]
    assert mark(rows) == [
        "latency-area;latency-energy",
        "latency-area;energy-area;latency-energy",
        "",
        "latency-area;energy-area;latency-energy",
        "",
    ]
