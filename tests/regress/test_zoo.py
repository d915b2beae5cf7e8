"""The project's regression suite (zoo.toml): each case against its baseline, exactly.

A change to the compiler's schedules or to the timing model fails here with the layers and
metrics it moved; when the change is intended, record it in the same commit:
``npu regress tests/regress/zoo.toml --update --reason "..."`` (docs/regressions.md).
"""

from pathlib import Path

import pytest

from npu.regress.pytest_plugin import regress_cases

SUITE = Path(__file__).with_name("zoo.toml")


@pytest.mark.parametrize("case", regress_cases(SUITE))
def test_zoo_case(npu_regress, case):
    run = npu_regress(SUITE, case)
    assert [o.case for o in run.outcomes] == [case]
    assert run.outcomes[0].diffs, "a case holds at least one metric"
