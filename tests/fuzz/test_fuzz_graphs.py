"""Differential fuzz: random valid graphs of the declared ops compile, simulate and match
onnxruntime. Failing examples hypothesis found are kept below as plain regression tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from fuzz_common import BUDGETS, fuzz
from fuzz_graphs import graphs

import compiler
import simulator
from compiler.check import infer, session
from npu.onnx_backend import supported_op_names
from simulator.config import load_config
from simulator.errors import ConfigError, ModelError, UnsupportedOpError

FLOAT_TOL = dict(rtol=1e-3, atol=1e-4)
# About one int8 step of the output, relative to its magnitude: the quantised grid of ORT.
INT8_TOL = dict(rtol=2e-2, atol=2e-2)
# The smallest legal scratchpads: most layers need many tiles, some fit no tile at all.
TINY_SRAM = ["scratchpad.input_kib=1", "scratchpad.weight_kib=1", "scratchpad.acc_kib=1"]


def onnxruntime_outputs(model: onnx.ModelProto, feeds: dict) -> dict[str, np.ndarray]:
    """onnxruntime's outputs through the oracle's session (exact int8 GEMMs on every x86 CPU)."""
    return infer(session(model, threads=1), feeds, model)


def npu_outputs(model: onnx.ModelProto, feeds: dict, preset: str = "base") -> dict | None:
    """The simulated outputs, or None when the compiler declines cleanly: an unsupported
    constraint (naming the op), or, on scratchpads too small, a layer no tile fits."""
    config = load_config("tiny", TINY_SRAM) if preset == "tiny-sram" else load_config(preset)
    try:
        program = compiler.compile(model, config, None)
    except UnsupportedOpError as exc:
        assert any(n.op_type in str(exc) or n.name in str(exc) for n in model.graph.node), exc
        return None
    except (ConfigError, ModelError) as exc:
        assert preset == "tiny-sram" and "bytes" in str(exc), exc
        return None
    return simulator.run(program, feeds).outputs


def check_against_onnxruntime(example, tol=None, preset: str = "base") -> None:
    """``preset`` is a preset name, or ``tiny-sram`` for ``tiny`` with 1 KiB scratchpads."""
    model, feeds = example
    onnx.checker.check_model(model, full_check=True)
    got = npu_outputs(model, feeds, preset)
    if got is None:
        return
    for name, want in onnxruntime_outputs(model, feeds).items():
        atol = (tol or FLOAT_TOL)["atol"] * max(1.0, float(np.nanmax(np.abs(want), initial=0)))
        np.testing.assert_allclose(
            got[name], want, rtol=(tol or FLOAT_TOL)["rtol"], atol=atol, err_msg=name
        )


def declared() -> frozenset[str]:
    return supported_op_names()


@pytest.mark.parametrize("budget", BUDGETS)
def test_chains_match_onnxruntime(budget):
    fuzz(budget, graphs(declared(), dag=False), check_against_onnxruntime)


@pytest.mark.parametrize("budget", BUDGETS)
def test_dags_match_onnxruntime(budget):
    fuzz(budget, graphs(declared(), dag=True), check_against_onnxruntime)


@pytest.mark.parametrize("budget", BUDGETS)
def test_small_config_matches_onnxruntime(budget):
    """The same graphs on the ``tiny`` preset: many tiles per layer, same answers."""
    fuzz(
        budget, graphs(declared(), dag=True), lambda ex: check_against_onnxruntime(ex, None, "tiny")
    )


@pytest.mark.parametrize("budget", BUDGETS)
def test_tiny_scratchpads_are_correct_or_clean(budget):
    """1 KiB scratchpads: the answer is right, or the compiler names a layer that cannot fit."""
    fuzz(
        budget,
        graphs(declared(), dag=True),
        lambda ex: check_against_onnxruntime(ex, None, "tiny-sram"),
    )


@pytest.mark.parametrize("budget", BUDGETS)
def test_int8_qdq_matches_onnxruntime(budget):
    ops = declared()
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    fuzz(
        budget, graphs(ops, dag=False, qdq=True), lambda ex: check_against_onnxruntime(ex, INT8_TOL)
    )


# ---- regression examples found by the fuzzer ------------------------------------------------
# Each tests/fuzz/regressions/NAME.onnx (+ NAME.npz inputs) is a shrunk example hypothesis
# found (kept with NPU_FUZZ_SAVE=DIR); it must now be right or cleanly declined.

REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.onnx"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_regression(path):
    model = onnx.load(path)
    feeds = dict(np.load(path.with_suffix(".npz")))
    int8 = any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    check_against_onnxruntime((model, feeds), INT8_TOL if int8 else None)
