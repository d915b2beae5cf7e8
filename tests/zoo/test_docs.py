"""docs/models.md is generated from the zoo and says honestly what is not measured yet."""

from pathlib import Path

import pytest

import models_zoo
from models_zoo import docs, minilm


def test_rendered_doc_has_a_section_per_model_and_no_invented_cycles():
    text = docs.render(models_zoo.list_models())
    for name in models_zoo.names():
        assert f"## {name}" in text
    assert text.count(docs.CYCLES_PENDING) >= 2 * len(models_zoo.names())


@pytest.mark.skipif(
    not minilm.available(), reason=f"the doc lists minilm_l6: {minilm.INSTALL_HINT}"
)
def test_committed_doc_is_up_to_date():
    committed = Path(__file__).parents[2] / "docs" / "models.md"
    assert committed.read_text() == docs.render(models_zoo.list_models())
