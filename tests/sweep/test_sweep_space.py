"""The design space (--grid, --sample) and the safe --where evaluator."""

import pytest

from npu.sweep import expr, space
from simulator.config import load_config
from simulator.errors import ConfigError


def test_grid_is_the_product_in_order_with_typed_values():
    s = space.build("base", ["array.rows=16,32", "dram.bytes_per_cycle=8,16.5"])
    assert list(s.grid()) == [
        (("array.rows", 16), ("dram.bytes_per_cycle", 8.0)),
        (("array.rows", 16), ("dram.bytes_per_cycle", 16.5)),
        (("array.rows", 32), ("dram.bytes_per_cycle", 8.0)),
        (("array.rows", 32), ("dram.bytes_per_cycle", 16.5)),
    ]
    assert s.config(s.point(3)).array.rows == 32


def test_where_filters_the_grid():
    where = expr.parse("array.rows * array.cols <= 1024 and array.rows != 8")
    s = space.build("base", ["array.rows=8,16,32,64", "array.cols=16,32"], where)
    assert [dict(p) for p in s.grid()] == [
        {"array.rows": 16, "array.cols": 16},
        {"array.rows": 16, "array.cols": 32},
        {"array.rows": 32, "array.cols": 16},
        {"array.rows": 32, "array.cols": 32},
        {"array.rows": 64, "array.cols": 16},
    ]


def test_sample_is_seeded_distinct_and_within_where():
    where = expr.parse("array.rows >= array.cols")
    s = space.build("base", ["array.rows=8,16,32,64", "array.cols=8,16,32,64"], where)
    a, b = s.sample(5, seed=3), s.sample(5, seed=3)
    assert a == b and len(set(a)) == 5
    assert all(dict(p)["array.rows"] >= dict(p)["array.cols"] for p in a)
    assert s.sample(5, seed=4) != a
    assert len(s.sample(100, seed=0)) == 10  # only 10 points qualify


@pytest.mark.parametrize(
    "grid, words",
    [
        ("array.rowz=1,2", ["--grid array.rowz=1", "unknown config key 'array.rowz'"]),
        ("array.rows=16,x", ["--grid array.rows=x", "must be a number"]),
        ("array.rows=0", ["--grid array.rows=0", ">= 1"]),
        ("array.dataflow=diagonal", ["array.dataflow", "diagonal"]),
        ("array.rows", ["must look like KEY=V1,V2"]),
        ("array.rows=16,,32", ["must look like KEY=V1,V2"]),
        ("array.rows=16,16", ["gives the value '16' twice"]),
        ("scratchpad.banks=2", ["was removed"]),
    ],
)
def test_bad_grid_names_key_and_value(grid, words):
    with pytest.raises(ConfigError) as err:
        space.build("base", [grid])
    for word in words:
        assert word in str(err.value)


def test_a_key_given_twice_and_a_too_large_grid():
    with pytest.raises(ConfigError, match="more than once"):
        space.build("base", ["array.rows=8", "array.rows=16"])
    values = ",".join(str(v) for v in range(1, 102))
    axes = [f"array.rows={values}", f"array.cols={values}", f"vector.lanes={values}"]
    s = space.build("base", axes)  # 101**3 points
    with pytest.raises(ConfigError, match="more than 1,000,000"):
        next(s.grid())


def test_where_evaluates_expressions_of_keys():
    cfg = load_config("base", {"array.rows": 64, "array.cols": 16})
    true = [
        "array.rows * array.cols == 1024",
        "array.rows // array.cols == 4 and array.rows % 3 == 1",
        "max(array.rows, array.cols) == 64 and abs(-array.cols) == 16",
        "16 <= array.cols < array.rows <= 64",
        "array.dataflow == 'weight_stationary'",
        "'int8' in array.dtypes and 'bf16' not in array.dtypes",
        "not array.rows < 8",
        "2 ** 6 == array.rows",
        "clock_mhz >= 1000 or scratchpad.weight_kib > 1e9",
        "1 if array.rows > 32 else 0",
    ]
    for text in true:
        assert expr.parse(text)(cfg), text
    assert not expr.parse("array.rows < array.cols")(cfg)


@pytest.mark.parametrize(
    "text, words",
    [
        ("__import__('os').system('true')", ["calls min, max, abs"]),
        ("array.rows.__class__", ["unknown config key"]),
        ("open('/etc/passwd')", ["calls min, max, abs"]),
        ("[x for x in array.dtypes]", ["ListComp is not allowed"]),
        ("lambda: 1", ["Lambda is not allowed"]),
        ("array.rowz > 1", ["unknown config key 'array.rowz'"]),
        ("rows > 1", ["unknown config key 'rows'"]),
        ("array.rows >", ["is not an expression"]),
        ("None", ["constant None is not allowed"]),
        ("min", ["unknown config key 'min'"]),
        ("x" * 2000, ["longer than"]),
    ],
)
def test_where_refuses_what_is_not_whitelisted(text, words):
    with pytest.raises(ConfigError) as err:
        expr.parse(text)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "text, words",
    [
        ("array.rows ** (array.rows * 100) > 1", ["exponent above 64"]),
        ("array.dataflow * 10 ** 9 == 1", ["not a number"]),
        ("array.rows / (array.cols - array.cols) > 1", ["division by zero"]),
    ],
)
def test_where_refuses_huge_or_bad_arithmetic_when_evaluated(text, words):
    where = expr.parse(text)
    with pytest.raises(ConfigError) as err:
        where(load_config("base"))
    for word in words:
        assert word in str(err.value)
