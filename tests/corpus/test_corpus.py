"""The corpus (``models_zoo.corpus``): real-world-shaped models exported with torch, compiled
in strict mode for ``base``, simulated and compared with onnxruntime on seeded inputs.

Float models must be within the float tolerance (rtol 1e-3); int8 QDQ variants (quantize_static)
within the stated steps of onnxruntime's default session (its integer kernels). Models that
still wait for an op or a frontend fix are strict xfails naming what they wait for: when that
lands they pass, the xfail turns into a failure, and this table must be updated.

Exports are cached in the zoo cache (``$NPU_ZOO_CACHE``); the first run exports with torch
(about 1-10 s a model, quantisation 5-20 s). ``scripts/corpus_table.py`` prints the
per-model table (strict, NPU MAC share, cycles, error) that docs/corpus.md records.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
import pytest

from compiler.check import check_outputs, output_scales, reference
from compiler.driver import CompileOptions, compile
from models_zoo import corpus
from simulator.api import run
from simulator.config import load_config
from simulator.errors import UnsupportedOpError

BASE = load_config("base")
RECURRENT = {"crnn", "gru_enhancer", "lstm_tagger"}  # simulated in checked mode

# What each refused model waits for (issue #12 items of i12a).
WAITS: dict[str, str] = {}
# int8 variants: largest difference from onnxruntime's default session, in output steps
# (measured on the sample inputs: all bit-exact)
INT8_STEPS = {f"{n}-int8": 0.0 for n in corpus.INT8}


@functools.cache
def documented() -> dict[str, tuple[int, int]]:
    """docs/corpus.md's MACs and cycles per model (scripts/corpus_table.py wrote them)."""
    text = (Path(__file__).parents[2] / "docs" / "corpus.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[4].replace(",", "").isdigit():
            rows[cells[0]] = (int(cells[4].replace(",", "")), int(cells[5].replace(",", "")))
    return rows


@functools.cache
def _model(spec: str) -> onnx.ModelProto:
    return onnx.load(corpus.build_to_path(spec))


def _case(spec):
    reason = WAITS.get(spec)
    if reason is None:
        return spec
    return pytest.param(spec, marks=pytest.mark.xfail(strict=True, raises=UnsupportedOpError,
                                                      reason=reason))  # fmt: skip


@pytest.mark.parametrize("spec", [_case(s) for s in corpus.names()])
def test_corpus_model_matches_onnxruntime(spec):
    model = _model(spec)
    program = compile(model, BASE, CompileOptions(input_shapes=corpus.input_shapes(spec)))
    inputs = corpus.sample_inputs(spec)
    name = spec.removesuffix("-int8")
    result = run(program, inputs, checked=name in RECURRENT)
    macs = sum(layer.get("macs", 0) for layer in program.layers)
    assert documented()[spec] == (macs, result.stats.total_cycles), (
        "python scripts/corpus_table.py > docs/corpus.md"
    )
    checks = check_outputs(result.outputs, reference(model, inputs), output_scales(model))
    if spec.endswith("-int8"):
        for s in checks:
            assert s.steps <= INT8_STEPS[spec], f"{s.name}: {s.steps} steps"
        return
    for e in checks:
        assert e.passed, f"{e.name}: max abs {e.max_abs_error:.3g}, rel {e.max_rel_error:.3g}"


def test_exports_are_deterministic(tmp_path):
    """Two exports of a model (weights from the seed) are the same bytes."""
    a = corpus.build("lstm_tagger").SerializeToString()
    b = corpus.build("lstm_tagger").SerializeToString()
    assert a == b


def test_inputs_are_seeded():
    a, b = corpus.sample_inputs("text_classifier"), corpus.sample_inputs("text_classifier")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert a["mask"][0, 0] == 1 and a["mask"][0, -1] == 0  # padding at the end
