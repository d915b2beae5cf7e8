"""The optimised event loop equals the plain reference loop on random token programs."""

import numpy as np
import pytest
from reference_timing import simulate_reference
from sim_programs import conv_program

from simulator.builder import dma
from simulator.config import load_config
from simulator.errors import SimulationError
from simulator.isa import End, Load, MatMul, Store, Sync, Unit, Vector, VFunc
from simulator.timing import simulate, timed_ops

CONFIGS = [
    ("tiny", {}),
    ("base", {}),
    ("tiny", {"queues.instr_depth": 2}),
    ("tiny", {"queues.token_depth": 1}),  # deadlocks: the reports must agree
    ("tiny", {"dram.latency": 0, "dram.bytes_per_cycle": 3}),
    ("base", {"timing": "scalesim"}),
]


def random_program(rng: np.random.Generator, count: int) -> list:
    """Random instructions on random units; every wait pops a token signalled earlier."""
    pending = np.zeros((4, 4), dtype=np.int64)  # tokens signalled src -> dst, not yet waited
    instrs = []
    for _ in range(count):
        u = int(rng.integers(0, 4))
        wait = sum(1 << s for s in range(4) if pending[s, u] and rng.random() < 0.7)
        signal = sum(1 << d for d in range(4) if d != u and rng.random() < 0.3)
        for s in range(4):
            pending[s, u] -= wait >> s & 1
            pending[u, s] += signal >> s & 1
        instrs.append(_instr(rng, u, wait, signal))
    return [*instrs, End()]


def _instr(rng, u: int, wait: int, signal: int):
    if rng.random() < 0.1:
        return Sync(wait=wait, signal=signal, queue=u)
    if u in (Unit.LOAD, Unit.STORE):
        shape = tuple(int(n) for n in rng.integers(1, 40, 3))
        strides = (int(rng.integers(0, 3000)), int(rng.integers(0, 100)), int(rng.integers(0, 3)))
        cls = Load if u == Unit.LOAD else Store
        return dma(cls, 0, 0, 0, shape, dram_strides=strides, wait=wait, signal=signal)
    if u == Unit.MATRIX:
        m, k, n = (int(v) for v in rng.integers(1, 300, 3))
        return MatMul(wait=wait, signal=signal, m=m, k=k, n=n)
    func = VFunc(int(rng.integers(1, 32)))
    n0, n1, n2 = (int(v) for v in rng.integers(1, 50, 3))
    return Vector(wait=wait, signal=signal, func=func, n0=n0, n1=n1, n2=n2)


def _outcome(fn, timed, config):
    try:
        return fn(timed, [None] * len(timed), config)
    except SimulationError as exc:
        return str(exc)


@pytest.mark.parametrize(("preset", "overrides"), CONFIGS)
@pytest.mark.parametrize("seed", range(6))
def test_random_programs_match_the_reference_loop(preset, overrides, seed):
    config = load_config(preset, overrides)
    instrs = random_program(np.random.default_rng(seed), 300)
    timed = timed_ops(instrs, config)
    assert _outcome(simulate, timed, config) == _outcome(simulate_reference, timed, config)


@pytest.mark.parametrize(("preset", "overrides"), CONFIGS)
def test_conv_program_matches_the_reference_loop(preset, overrides):
    config = load_config(preset, overrides)
    program, _ = conv_program(config, 6, 6, 16, 8)
    timed = timed_ops(program.instructions, config)
    assert _outcome(simulate, timed, config) == _outcome(simulate_reference, timed, config)
