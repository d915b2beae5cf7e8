"""Run a suite's cases (in parallel when asked), compare them, and update the baselines."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from npu.regress import baseline
from npu.regress.compare import Outcome, compare
from npu.regress.measure import Measured, compile_key, measure_group
from npu.regress.report import change_summary
from npu.regress.suite import Case, Suite, SuiteError


@dataclass
class Run:
    outcomes: list[Outcome]
    updated: bool = False  # the baselines were rewritten (--update)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)


def check(suite: Suite, cases: list[Case], jobs: int = 1) -> Run:
    """Every case against its baseline; SuiteError (before any work) when one is missing or
    was recorded for another model, config, seed or input shapes."""
    baselines = baseline.read_baselines(suite)
    recorded = {
        c.name: baseline.split(baseline.baseline_of(suite, baselines, c.name)) for c in cases
    }
    for case in cases:
        _same_identity(suite, case, recorded[case.name][0])
    measured = measure(cases, jobs)
    outcomes = []
    for case, m in zip(cases, measured, strict=True):
        identity, metrics = recorded[case.name]
        outcomes.append(compare(case, m, metrics, identity.get("fingerprint", "")))
    return Run(outcomes)


def update(suite: Suite, cases: list[Case], reason: str, jobs: int = 1) -> Run:
    """Run the cases, show what moved against the old baselines (if any), and record the new
    ones with ``reason`` in the change log; nothing is written when a case fails to run."""
    path = suite.baseline_path
    old = baseline.read_baselines(suite) if path.exists() else {}
    measured = measure(cases, jobs)
    outcomes = []
    for case, m in zip(cases, measured, strict=True):
        identity, metrics = baseline.split(old.get(case.name, {}))
        outcomes.append(compare(case, m, metrics, identity.get("fingerprint", "")))
    if any(m.error for m in measured):
        return Run(outcomes)
    blocks = {c.name: _block(c, m) for c, m in zip(cases, measured, strict=True)}
    baseline.write_baselines(suite, blocks, baseline.log_line(reason, change_summary(outcomes)))
    return Run(outcomes, updated=True)


def _block(case: Case, m: Measured) -> dict:
    return {**case.identity(), "fingerprint": m.fingerprint, **m.metrics}


def _same_identity(suite: Suite, case: Case, recorded: dict) -> None:
    for key, value in case.identity().items():
        if recorded.get(key) != value:
            raise SuiteError(
                f"case {case.name!r}: {key} is {value!r} in {str(suite.path)!r} but its baseline "
                f"was recorded with {recorded.get(key)!r}; record it again with --update"
            )


def measure(cases: list[Case], jobs: int = 1) -> list[Measured]:
    """Each case's metrics, in the order given; cases of one compile key share a compile (and
    a worker process when ``jobs`` > 1)."""
    groups: dict[tuple, list[Case]] = {}
    for case in cases:
        groups.setdefault(compile_key(case), []).append(case)
    work = list(groups.values())
    if jobs <= 1 or len(work) == 1:
        results = [measure_group(g) for g in work]
    else:
        context = multiprocessing.get_context("spawn")  # no fork of onnxruntime's threads
        with ProcessPoolExecutor(min(jobs, len(work)), mp_context=context) as pool:
            results = list(pool.map(measure_group, work))
    by_name = {m.case: m for group in results for m in group}
    return [by_name[c.name] for c in cases]
