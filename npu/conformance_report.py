"""``docs/conformance.md``: the conformance table written by ``npu conformance``."""

from __future__ import annotations

import onnx

from npu.conformance import (
    BAD,
    MISSES,
    STATUSES,
    Outcome,
    counts_by_op,
    native_and_host,
    totals,
)
from npu.conformance_exclusions import EXCLUDED
from npu.onnx_backend import supported_op_names
from simulator.config import NpuConfig

INTRO = """\
# ONNX conformance

Written by `npu conformance` (do not edit by hand). Every ONNX node case
(`onnx.backend.test.case.node.collect_testcases`) and the nine `light` real architectures
(`onnx/backend/test/data/light`) run through `npu.onnx_backend.NpuBackend`: compile, then
simulate, then compare with the outputs shipped with onnx using ONNX's own rule
(`Runner.assert_similar_outputs`: `assert_allclose` with the case's rtol/atol, default 1e-3 and
1e-7; exact dtype and shape).

Statuses: **passed**; **rejected** (the compiler raised `UnsupportedOpError` naming the op or
attribute); **excluded** (listed with its reason in `npu/conformance_exclusions.py`);
**failed** (a wrong answer); **crashed** (any other exception, or the per-case time bound).
Failed and crashed must be zero.

Where it runs: `make test` runs every node case whose ops the compiler declares, the fast
light models (alexnet, inception_v1, shufflenet, squeezenet, zfnet512: under 15 s each) and
checks this page shows no wrong answer or crash (`tests/conformance/test_conformance.py`);
`make test-full` runs the whole suite (`test_full_suite`, slow-marked) as does
`npu conformance` (about 3 minutes; it rewrites this page).
`npu conformance --ops Conv,test_relu --no-models -v` runs a subset.

This page counts what the NPU runs natively (a node it cannot run is "rejected"). With the
host partition (`npu conformance --host`, onnxruntime runs what the NPU cannot), the same cases
are counted in [conformance_host.md](conformance_host.md).

The same contract for inputs that are not conformance cases: `tests/fuzz` (hypothesis: random
graphs of the declared ops against onnxruntime on the base, tiny and 1 KiB-scratchpad
configs; random, truncated and bit-flipped ONNX and program files; random instruction streams;
each example time-bounded) and `tests/conformance/test_bad_inputs.py` (the corpus in
`tests/data/bad` through the `npu` command: exit 2, one `error:` line, no traceback, no file
written).
"""


HOST_INTRO = """\
# ONNX conformance with the host partition

Written by `npu conformance --host` (do not edit by hand; `make conformance` runs it). The
cases of [conformance.md](conformance.md), compiled as `npu compile` does by default: what
the NPU cannot run goes to a host partition that onnxruntime runs (`compiler/partition.py`),
the rest is simulated; then compared with the outputs shipped with onnx by ONNX's own rule.

Statuses: **passed** (natively: the whole case on the NPU; or with a host partition);
**rejected** only where onnxruntime itself cannot run the case (it refuses to load or run
it: then nothing can) or where onnxruntime's own answer misses the shipped output and ours
equals onnxruntime's (the host ran it faithfully; the difference is onnxruntime's);
**excluded** (listed with its reason in `npu/conformance_exclusions.py`); **failed** (a wrong
answer); **crashed**. Failed and crashed must be zero.
"""


def render_markdown(
    outcomes: list[Outcome], config: NpuConfig, full: bool = True, host: bool = False
) -> str:
    intro = [HOST_INTRO, _host_summary(outcomes)] if host else [INTRO]
    parts = [*intro, _run_line(outcomes, config, full), _totals(outcomes)]
    parts += [_bad(outcomes), _models(outcomes), _ops(outcomes)]
    parts += [_partial(outcomes), _exclusions()]
    return "\n".join(p for p in parts if p)


def _host_summary(outcomes: list[Outcome]) -> str:
    native, host = native_and_host(outcomes)
    rejected = [o.detail for o in outcomes if o.status == "rejected"]
    misses = sum(d.startswith(MISSES) for d in rejected)
    return (
        f"Passed: **{native}** natively on the NPU, **{host}** with a host partition. Rejected: "
        f"{len(rejected) - misses} that onnxruntime itself cannot run, {misses} where "
        "onnxruntime's own answer misses the shipped one (and ours equals onnxruntime's).\n"
    )


def _run_line(outcomes: list[Outcome], config: NpuConfig, full: bool) -> str:
    scope = "the full suite" if full else "a subset"
    return (
        f"Last run: {scope}, {len(outcomes)} cases, onnx {onnx.__version__}, "
        f"config `{config.name}` (fingerprint `{config.fingerprint()}`).\n"
    )


def _row(cells: list) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(cells: list[str]) -> str:
    return _row(cells) + "\n" + _row(["---"] * len(cells))


def _totals(outcomes: list[Outcome]) -> str:
    lines = ["## Totals\n", _header(["kind", *STATUSES, "total"])]
    for kind in ("node", "model"):
        subset = [o for o in outcomes if o.kind == kind]
        if subset:
            t = totals(subset)
            lines.append(_row([kind, *(t[s] for s in STATUSES), len(subset)]))
    t = totals(outcomes)
    lines.append(_row(["**all**", *(f"**{t[s]}**" for s in STATUSES), len(outcomes)]))
    return "\n".join(lines) + "\n"


def _bad(outcomes: list[Outcome]) -> str:
    bad = [o for o in outcomes if o.status in BAD]
    if not bad:
        return "No wrong answers and no crashes.\n"
    lines = ["## Wrong answers and crashes (bugs)\n", _header(["case", "op", "status", "detail"])]
    lines += [_row([o.name, o.op, o.status, _cell(o.detail)]) for o in bad]
    return "\n".join(lines) + "\n"


def _models(outcomes: list[Outcome]) -> str:
    models = [o for o in outcomes if o.kind == "model"]
    if not models:
        return ""
    lines = ["## Real architectures (light)\n", _header(["model", "status", "detail"])]
    lines += [_row([o.name, o.status, _cell(o.detail)]) for o in models]
    return "\n".join(lines) + "\n"


def _ops(outcomes: list[Outcome]) -> str:
    supported = supported_op_names()
    nodes = [o for o in outcomes if o.kind == "node"]
    lines = ["## Node cases per op\n", _header(["op", "declared", *STATUSES, "total"])]
    for op, counts in counts_by_op(nodes).items():
        declared = "yes" if op in supported else ""
        lines.append(_row([op, declared, *(counts[s] or "" for s in STATUSES), counts.total()]))
    return "\n".join(lines) + "\n"


def _partial(outcomes: list[Outcome]) -> str:
    """Rejected cases of declared ops: the attribute or dtype limits of supported ops."""
    supported = supported_op_names()
    rows = [o for o in outcomes if o.status == "rejected" and o.op in supported]
    if not rows:
        return ""
    lines = ["## Limits of declared ops (rejected cases)\n", _header(["case", "reason"])]
    lines += [_row([o.name, _cell(o.detail)]) for o in rows]
    return "\n".join(lines) + "\n"


def _exclusions() -> str:
    if not EXCLUDED:
        return "## Exclusions\n\nNone.\n"
    lines = ["## Exclusions\n", _header(["case or op", "reason"])]
    lines += [_row([k, _cell(v)]) for k, v in sorted(EXCLUDED.items())]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
