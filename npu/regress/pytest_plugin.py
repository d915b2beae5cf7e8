"""pytest plugin (entry point ``pytest11``): the ``npu_regress`` fixture.

```python
SUITE = Path(__file__).with_name("suite.toml")

@pytest.mark.parametrize("case", regress_cases(SUITE))
def test_regress(npu_regress, case):
    npu_regress(SUITE, case)
```

A case runs as ``npu regress`` would: the report's table goes to the test's captured output,
every metric to the test's JUnit properties (``record_property``), and a metric outside its
rule fails the test with the diff. Baselines are recorded by the command, once per change:
``npu regress SUITE --update --reason "..."`` (one line in the change log).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def regress_cases(suite: str | Path) -> list[str]:
    """The names of a suite's cases (for ``pytest.mark.parametrize``)."""
    from npu.regress.suite import load_suite

    return [case.name for case in load_suite(suite).cases]


@pytest.fixture
def npu_regress(request):
    """``npu_regress(suite, case=None, jobs=1)``: check one case (or all) against the
    baselines; returns the ``runner.Run``; fails the test when a metric left its rule."""

    def check(suite: str | Path, case: str | None = None, jobs: int = 1):
        from npu.regress import runner
        from npu.regress.report import diff_text, print_report
        from npu.regress.suite import load_suite
        from simulator.errors import NpuError

        try:
            loaded = load_suite(suite)
            cases = [loaded.case(case)] if case else list(loaded.cases)
            run = runner.check(loaded, cases, jobs)
        except NpuError as exc:
            pytest.fail(f"error: {exc}", pytrace=False)
        print_report(run.outcomes, f"npu regress {loaded.path.name}")
        for outcome in run.outcomes:
            for d in outcome.diffs:
                request.node.user_properties.append((f"{outcome.case}.{d.metric}", d.after))
        if not run.passed:
            diffs = "\n".join(diff_text(o) for o in run.outcomes if not o.passed)
            hint = f"if intended: npu regress {loaded.path} --update --reason '...'"
            pytest.fail(f"{diffs}\n{hint}", pytrace=False)
        return run

    return check
