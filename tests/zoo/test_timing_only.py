"""Timing-only simulation (``run(..., numerics=False)``) equals the full one on the zoo.

Every counter of ``Stats`` (cycles, busy time, MACs, traffic, energy, per node) and every
instruction's start and end cycle must be the same, bit for bit: timing and statistics never
read data. A representative handful runs by default (a float and an int8 CNN, a transformer
block, an MLP, at the tiny and base presets); every zoo model, float and int8, at small and
base runs with the slow tests.
"""

import pytest

import models_zoo
from compiler.driver import compile
from models_zoo import minilm
from npu.inputs import random_inputs
from simulator.api import run
from simulator.config import load_config
from simulator.errors import ModelError

FAST = [
    ("lenet5", False, "tiny"),
    ("lenet5", True, "base"),
    ("mlp_mnist", True, "tiny"),
    ("gpt_block", False, "base"),
    ("bert_tiny", False, "base"),
]


def _slow_cases():
    for name in models_zoo.names():
        for int8 in (False, True) if name in models_zoo.qdq_names() else (False,):
            for preset in ("small", "base"):
                marks = [pytest.mark.slow]
                if name == "minilm_l6":
                    marks.append(
                        pytest.mark.skipif(not minilm.available(), reason=minilm.INSTALL_HINT)
                    )
                yield pytest.param(name, int8, preset, marks=marks)


def assert_same_run(zoo, name: str, int8: bool, preset: str) -> None:
    program = compile(zoo(name, int8), load_config(preset))
    full = run(program, random_inputs(program, 0))
    timing = run(program, None, numerics=False)
    assert timing.outputs == {} and full.outputs
    assert timing.stats.total_cycles == full.stats.total_cycles > 0
    assert timing.stats.to_dict() == full.stats.to_dict()
    assert timing._timeline[2:] == full._timeline[2:]  # every start and end cycle


@pytest.mark.parametrize("name, int8, preset", FAST)
def test_timing_only_equals_the_full_simulation(zoo, name, int8, preset):
    assert_same_run(zoo, name, int8, preset)


@pytest.mark.parametrize("name, int8, preset", list(_slow_cases()))
def test_timing_only_equals_the_full_simulation_on_the_whole_zoo(zoo, name, int8, preset):
    assert_same_run(zoo, name, int8, preset)


def test_timing_only_checks_given_inputs_and_refuses_the_checker(zoo):
    program = compile(zoo("mlp_mnist", False), load_config("tiny"))
    with pytest.raises(ModelError, match="missing"):
        run(program, {}, numerics=False)
    with pytest.raises(ValueError, match="numerics"):
        run(program, None, numerics=False, checked=True)
    traced = run(program, random_inputs(program, 1), numerics=False, trace=True)
    assert traced.trace_events == run(program, random_inputs(program, 1), trace=True).trace_events
