"""A deliberate change is caught with the right layer and metric, and --update records it.

LeNet-5 on ``tiny`` (its layers: conv_1, averagepool_1, conv_2, averagepool_2,
relayout_averagepool_2, gemm_1..3), every metric held, then four changes, each made in this
process (``jobs=1``): a different tile for conv_2, a dearer vector function in the cost model,
a corrupted output byte, an instruction added to averagepool_2.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

import compiler
import simulator
from compiler import tiling
from npu.regress import runner
from npu.regress.suite import load_suite
from simulator import cost
from simulator.isa import Vector, VFunc

SUITE = """\
[[case]]
name = "lenet5"
model = "zoo:lenet5"
config = "tiny"
hold = ["cycles", "layer_cycles", "dram", "layer_dram", "energy", "memory", "outputs", "check"]
"""
LAYERS = ("conv_1", "averagepool_1", "conv_2", "averagepool_2", "gemm_1", "gemm_2", "gemm_3")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lenet5")
    (folder / "suite.toml").write_text(SUITE)
    suite = load_suite(folder / "suite.toml")
    assert runner.update(suite, list(suite.cases), "first").updated
    return folder


@pytest.fixture
def suite(recorded, tmp_path):
    for f in recorded.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return load_suite(tmp_path / "suite.toml")


def check(suite):
    (outcome,) = runner.check(suite, list(suite.cases)).outcomes
    return outcome, {d.metric: d for d in outcome.failing()}


def test_the_recorded_baseline_holds(suite):
    outcome, failing = check(suite)
    assert outcome.passed and not failing
    metrics = {d.metric for d in outcome.diffs}
    assert {f"layer.{name}.cycles" for name in LAYERS} <= metrics
    assert {"output.logits.sha256", "check.logits.passed", "energy_pj"} <= metrics


def test_a_different_tile_size_is_caught_at_its_layer(suite, monkeypatch):
    real = tiling.choose
    picked = {}

    def narrower_conv_2(layer, candidates, need, estimate):
        candidates = list(candidates)
        best = real(layer, candidates, need, estimate)
        if layer != "conv_2":
            return best
        size = (best.tr, best.tw, best.tn, best.tk)
        others = [c for c in candidates if (c.tr, c.tw, c.tn, c.tk) != size]
        picked["tile"] = real(layer, others, need, estimate)
        return picked["tile"]

    monkeypatch.setattr(tiling, "choose", narrower_conv_2)
    outcome, failing = check(suite)
    assert picked, "conv_2 went through the tile search"
    assert outcome.status == "regressed"
    layer_metrics = [m for m in failing if m.startswith("layer.")]
    assert layer_metrics[0] == "layer.conv_2.cycles"
    assert {m.split(".")[1] for m in layer_metrics} == {"conv_2"}
    assert failing["layer.conv_2.cycles"].status in ("regressed", "improved")
    assert failing["cycles"].delta == failing["layer.conv_2.cycles"].delta

    assert runner.update(suite, list(suite.cases), "conv_2: another tile").updated
    outcome, failing = check(suite)
    assert outcome.passed and not failing
    last = suite.changelog_path.read_text().splitlines()[-1]
    assert "| conv_2: another tile | lenet5: cycles " in last


def test_a_changed_cost_formula_is_caught_at_the_layers_that_use_it(suite, monkeypatch):
    real = cost.vector_cycles

    def dearer_mul_imm(func, elements, config):
        return real(func, elements, config) + (5 if func == VFunc.MUL_IMM else 0)

    monkeypatch.setattr(cost, "vector_cycles", dearer_mul_imm)
    outcome, failing = check(suite)
    assert outcome.status == "regressed"
    # MUL_IMM scales the pooled sums: the two average pools take longer (and conv_2, whose
    # first loads overlap averagepool_1, spans a different stretch); no byte or bit moves
    pools = ("layer.averagepool_1.cycles", "layer.averagepool_2.cycles")
    assert list(failing)[:2] == ["cycles", pools[0]]
    assert all(failing[m].status == "regressed" and failing[m].delta > 0 for m in pools)
    assert set(failing) <= {"cycles", *pools, "layer.conv_2.cycles"}


def test_a_corrupted_output_byte_is_caught_in_its_hash_and_check(suite, monkeypatch):
    real = simulator.run

    def corrupted(*args, **kw):
        result = real(*args, **kw)
        result.outputs["logits"].view("uint8").reshape(-1)[3] ^= 0x40  # logit 0's exponent
        return result

    monkeypatch.setattr(simulator, "run", corrupted)
    outcome, failing = check(suite)
    assert outcome.status == "newly failing"
    assert failing["output.logits.sha256"].status == "changed"
    assert failing["check.logits.passed"].status == "newly failing"
    assert not [m for m in failing if "cycles" in m or "bytes" in m]


def test_an_added_instruction_is_caught_at_its_layer(suite, monkeypatch):
    real = compiler.compile

    def one_more_vector(*args, **kw):
        program = real(*args, **kw)
        at = next(
            i
            for i, instr in enumerate(program.instructions)
            if isinstance(instr, Vector) and program.source_node(i) == "averagepool_2"
        )
        extra = dataclasses.replace(program.instructions[at], wait=0, signal=0)
        program.instructions.insert(at + 1, extra)
        program.node_of.insert(at + 1, program.node_of[at])
        return program

    monkeypatch.setattr(compiler, "compile", one_more_vector)
    outcome, failing = check(suite)
    assert outcome.status == "regressed"
    layers = {m for m in failing if m.startswith("layer.")}
    assert layers == {"layer.averagepool_2.cycles"}
    assert failing["cycles"].delta == failing["layer.averagepool_2.cycles"].delta > 0
    assert failing["energy_pj"].status == "regressed"
