"""docs/models.md is generated from the zoo and says honestly what is not measured yet."""

from pathlib import Path

import pytest

import models_zoo
from models_zoo import docs, minilm


def test_rendered_doc_has_a_section_per_model_and_no_invented_cycles():
    text = docs.render(models_zoo.list_models(), {"models": {}})
    for name in models_zoo.names():
        assert f"## {name}" in text
    assert text.count(docs.CYCLES_PENDING) >= 2 * len(models_zoo.names())


def test_measured_cells_come_from_the_measurements():
    measured = {
        "clock_mhz": 1000.0,
        "peak_macs_per_cycle": 1024,
        "models": {"lenet5": {"cycles": 2_000_000, "matches_onnxruntime": False}},
    }
    info = next(i for i in models_zoo.list_models() if i.name == "lenet5")
    cycles, util = docs.fmt_cycles(info, measured)
    assert cycles == "2,000,000 (2 ms) (outputs did NOT match onnxruntime)"
    assert util == f"{100 * info.macs / (2_000_000 * 1024):.1f}%"
    text = docs.render(models_zoo.list_models(), measured)
    assert text.count("| 2,000,000 (2 ms) (outputs did NOT match onnxruntime) |") == 2


def test_committed_measurements_cover_the_zoo_and_matched_onnxruntime():
    measured = docs.load_measured()
    assert measured["preset"] == "base"
    for name in models_zoo.names():
        if name == "minilm_l6" and name not in measured["models"]:
            continue
        assert measured["models"][name]["matches_onnxruntime"], name
        assert measured["models"][name]["cycles"] > 0


@pytest.mark.skipif(
    not minilm.available(), reason=f"the doc lists minilm_l6: {minilm.INSTALL_HINT}"
)
def test_committed_doc_is_up_to_date():
    committed = Path(__file__).parents[2] / "docs" / "models.md"
    assert committed.read_text() == docs.render(models_zoo.list_models())


def test_int8_cycles_cell_comes_from_the_measurements():
    info = next(i for i in models_zoo.list_models() if i.name == "lenet5")
    measured = {"clock_mhz": 1000.0, "models": {"lenet5": {"int8_cycles": 1_500_000}}}
    assert docs.fmt_int8_cycles(info, measured) == "1,500,000 (1.5 ms)"
    assert docs.fmt_int8_cycles(info, {"models": {}}) == docs.CYCLES_PENDING
