"""``CompileOptions(progress=...)`` follows the lowering without changing the program."""

import compiler
import models_zoo
from simulator.config import load_config
from simulator.program import program_to_bytes


def test_progress_counts_every_node_and_changes_nothing():
    model = models_zoo.build("lenet5")
    config = load_config("small")
    calls = []
    options = compiler.CompileOptions(progress=lambda done, total: calls.append((done, total)))
    with_bar = compiler.compile(model, config, options)
    plain = compiler.compile(model, config)
    total = calls[-1][1]
    assert calls == [(i, total) for i in range(1, total + 1)]
    assert total >= len(with_bar.layers)
    assert program_to_bytes(with_bar) == program_to_bytes(plain)
