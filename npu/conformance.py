"""``npu conformance``: the official ONNX conformance cases through ``NpuBackend``.

Every case ends in exactly one status:

- ``passed``: outputs match the shipped expected outputs under ONNX's own comparison
  (``onnx.backend.test.runner.Runner.assert_similar_outputs``, rtol/atol of the case);
- ``rejected``: ``prepare`` raised ``UnsupportedOpError`` naming one of the case's ops;
- ``excluded``: listed in ``npu.conformance_exclusions`` with a written reason (not run);
- ``failed``: a wrong answer (values, shape, dtype or number of outputs);
- ``crashed``: anything else: an unexpected exception, an error of another class, an
  ``UnsupportedOpError`` that names no op of the case, or the per-case time bound exceeded.

``failed`` and ``crashed`` are bugs; the command exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from compiler import CompileOptions
from npu.conformance_cases import Case, all_cases
from npu.conformance_exclusions import exclusion_reason
from npu.onnx_backend import NpuBackend, supported_op_names
from npu.outputs import check_outputs, output_batch
from simulator.config import NpuConfig, load_config
from simulator.errors import NpuError, UnsupportedOpError

# native counts: the NPU alone (a node it cannot run is "rejected", not sent to the host)
STRICT = CompileOptions(strict=True)
STATUSES = ("passed", "rejected", "excluded", "failed", "crashed")
BAD = ("failed", "crashed")
HOST_DETAIL = "host partition:"  # the detail of a case that passed with nodes on the host
DEFAULT_TIMEOUT = 60.0  # seconds per node case
MODEL_FACTOR = 10  # a light architecture gets ten times the per-case bound
DEFAULT_MARKDOWN = "docs/conformance.md"
DEFAULT_HOST_MARKDOWN = "docs/conformance_host.md"  # a full run with --host
MISSES = "onnxruntime itself misses the shipped output"  # a --host rejection's detail


@dataclass(frozen=True)
class Outcome:
    name: str
    op: str
    kind: str
    status: str
    detail: str = ""
    seconds: float = 0.0


class CaseTimeout(BaseException):
    """The per-case time bound ran out (a BaseException, so no ``except Exception`` eats it)."""


@contextlib.contextmanager
def time_bound(seconds: float | None):
    """Raise ``CaseTimeout`` in the block after ``seconds`` (main thread only, else no bound)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expire(signum, frame):
        raise CaseTimeout(f"exceeded the {seconds:g} s time bound")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(
    case: Case, config: NpuConfig, timeout: float | None = DEFAULT_TIMEOUT, host: bool = False
) -> Outcome:
    """``host``: nodes the NPU cannot run go to the host partition (onnxruntime); a case that
    passes that way says so in its detail (``HOST_DETAIL``)."""
    reason = exclusion_reason(case.name, case.op)
    if reason:
        return Outcome(case.name, case.op, case.kind, "excluded", reason)
    start = time.perf_counter()
    limit = timeout * MODEL_FACTOR if timeout and case.kind == "model" else timeout
    try:
        with time_bound(limit):
            status, detail = _classify(case, config, host)
    except CaseTimeout as exc:
        status, detail = "crashed", f"timeout: {exc}"
    return Outcome(case.name, case.op, case.kind, status, detail, time.perf_counter() - start)


def _classify(case: Case, config: NpuConfig, host: bool = False) -> tuple[str, str]:
    try:
        rep = NpuBackend.prepare(case.model, config=config, options=None if host else STRICT)
    except UnsupportedOpError as exc:
        return _rejection(case, str(exc))
    except Exception as exc:  # every other failure of prepare is a crash by definition
        return "crashed", f"prepare: {_describe(exc)}"
    try:
        outputs = list(rep.run(list(case.inputs)))
    except UnsupportedOpError as exc:  # models with symbolic input dims compile at run time
        return _rejection(case, str(exc))
    except Exception as exc:
        if host and not _onnxruntime_runs(case):
            return "rejected", f"onnxruntime itself cannot run it: {_describe(exc)}"
        return "crashed", f"run: {_describe(exc)}"
    status, detail = compare(case, outputs)
    if status == "failed" and host and _host_detail(rep):
        differs = _onnxruntime_differs(case, outputs)
        if differs:
            return "rejected", differs
    return status, _host_detail(rep) if status == "passed" and _host_detail(rep) else detail


def _onnxruntime_outputs(case: Case) -> list | None:
    """onnxruntime's outputs for the case's model and inputs, or None when it cannot run it."""
    import onnxruntime as ort

    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(case.model.SerializeToString(), opts)
        names = [i.name for i in sess.get_inputs()]
        return sess.run(None, dict(zip(names, case.inputs, strict=False)))
    except Exception:
        return None


def _onnxruntime_runs(case: Case) -> bool:
    """Does onnxruntime run the case's model on its inputs (the host partition's bar)?"""
    return _onnxruntime_outputs(case) is not None


def _onnxruntime_differs(case: Case, outputs: list) -> str | None:
    """When onnxruntime's own answer misses the shipped one and ours equals onnxruntime's (the
    host partition ran it faithfully): the reason, else None (then the wrong answer is ours)."""
    theirs = _onnxruntime_outputs(case)
    if theirs is None:
        return None
    status, detail = compare(case, theirs)
    if status == "passed":
        return None
    same, _ = compare(dataclasses.replace(case, expected=tuple(theirs)), outputs)
    if same != "passed":
        return None
    return f"{MISSES} ({detail[:160]}); ours equals its"


def _host_detail(rep) -> str:
    from compiler.partition import Partitioned

    program = rep.program
    if not isinstance(program, Partitioned):
        return ""
    ops = sorted({op for s in program.host_segments for op in s.ops})
    return f"{HOST_DETAIL} {', '.join(ops)}"


def native_and_host(outcomes: Iterable[Outcome]) -> tuple[int, int]:
    """Passed cases the NPU ran whole, and passed cases that used the host partition."""
    passed = [o for o in outcomes if o.status == "passed"]
    host = sum(o.detail.startswith(HOST_DETAIL) for o in passed)
    return len(passed) - host, host


def _rejection(case: Case, message: str) -> tuple[str, str]:
    """A rejection must name an op of the case (or the op an old model became) or one of
    its graph inputs (a zero-size tensor, a sequence): else it explains nothing."""
    inputs = {f"'{vi.name}'" for vi in case.model.graph.input}
    names = case.op_types() | inputs
    if any(n in message for n in names) or any(n in message for n in _upgraded_op_types(case)):
        return "rejected", _first_line(message)
    return "crashed", f"UnsupportedOpError names none of the case's ops: {_first_line(message)}"


def _upgraded_op_types(case: Case) -> set[str]:
    """Op types after onnx's opset upgrade (the compiler upgrades old models: Upsample ->
    Resize), so a rejection may name the op the model became."""
    from onnx import version_converter

    try:
        upgraded = version_converter.convert_version(case.model, 13)
    except Exception:  # the converter cannot handle every model; then nothing more to name
        return set()
    return {n.op_type for n in upgraded.graph.node}


def compare(case: Case, outputs: list) -> tuple[str, str]:
    """ONNX's own comparison of a backend's outputs with the expected ones."""
    from onnx.backend.test.runner import Runner

    if len(outputs) != len(case.expected):
        return "failed", f"{len(outputs)} outputs, expected {len(case.expected)}"
    expected, got = _flatten(list(case.expected), outputs)
    try:
        Runner.assert_similar_outputs(expected, got, case.rtol, case.atol)
    except (AssertionError, TypeError, ValueError) as exc:
        return "failed", _first_line(str(exc).strip(), 300)
    return "passed", ""


def _flatten(expected: list, outputs: list) -> tuple[list, list]:
    """Sequence outputs (lists of equal length) compared element by element: onnx's runner
    cannot compare a sequence of tensors of different shapes."""
    exp, got = [], []
    for e, o in zip(expected, outputs, strict=True):
        if isinstance(e, list) and isinstance(o, list) and len(e) == len(o):
            a, b = _flatten(e, o)
            exp += a
            got += b
        else:
            exp.append(e)
            got.append(o)
    return exp, got


def _describe(exc: BaseException) -> str:
    kind = type(exc).__name__ if isinstance(exc, NpuError) else f"{type(exc).__name__} (bug)"
    return f"{kind}: {_first_line(str(exc))}"


def _first_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split("\n")[:3]).strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def select(cases: Iterable[Case], ops: set[str] | None, supported_only: bool) -> list[Case]:
    """Cases of the given op labels; with ``supported_only``, cases whose every op is declared."""
    supported = supported_op_names() if supported_only else frozenset()
    picked = []
    for case in cases:
        if ops and case.op not in ops and case.name not in ops:
            continue
        if supported_only and not case.op_types() <= supported:
            continue
        picked.append(case)
    return picked


def run_all(
    cases: Iterable[Case],
    config: NpuConfig,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: Callable[[Outcome], None] | None = None,
    host: bool = False,
) -> list[Outcome]:
    outcomes = []
    for case in cases:
        outcome = run_case(case, config, timeout, host)
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    return outcomes


def counts_by_op(outcomes: Iterable[Outcome]) -> dict[str, Counter]:
    table: dict[str, Counter] = {}
    for o in outcomes:
        table.setdefault(o.op if o.kind == "node" else o.name, Counter())[o.status] += 1
    return dict(sorted(table.items()))


def totals(outcomes: Iterable[Outcome]) -> Counter:
    return Counter(o.status for o in outcomes)


def print_table(outcomes: list[Outcome], out=None) -> None:
    out = out or sys.stdout
    header = f"{'op / model':<34}" + "".join(f"{s:>9}" for s in STATUSES)
    print(header, file=out)
    for op, counts in counts_by_op(outcomes).items():
        print(f"{op:<34}" + "".join(f"{counts[s]:>9}" for s in STATUSES), file=out)
    total = totals(outcomes)
    print(f"{'TOTAL':<34}" + "".join(f"{total[s]:>9}" for s in STATUSES), file=out)
    native, host = native_and_host(outcomes)
    print(f"passed: {native} natively on the NPU, {host} with a host partition", file=out)
    for o in outcomes:
        if o.status in BAD:
            print(f"{o.status.upper()}: {o.name} ({o.op}): {o.detail}", file=out)


# ---- the ``npu conformance`` subcommand ------------------------------------------------------


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``npu conformance`` on the CLI's subparsers; dispatch via ``func``."""
    p = subparsers.add_parser(
        "conformance",
        help="run the ONNX conformance suite through NpuBackend",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--config", default="base", help="preset name or TOML file (default: base)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--ops", help="comma-separated op labels or case names to run")
    p.add_argument("--supported-only", action="store_true", help="only cases of declared ops")
    p.add_argument("--no-nodes", action="store_true", help="skip the node cases")
    p.add_argument("--no-models", action="store_true", help="skip the light architectures")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds per node case (x10 per model)",
    )
    p.add_argument(
        "--host",
        action="store_true",
        help="run the nodes the NPU cannot run on the host partition (onnxruntime); by default "
        "such cases are 'rejected' (the NPU's native count)",
    )
    p.add_argument(
        "--markdown",
        help=f"report path (default on a full run: {DEFAULT_MARKDOWN}; {DEFAULT_HOST_MARKDOWN} "
        "with --host)",
    )
    p.add_argument("--json", help="write every outcome as JSON here")
    p.add_argument("--verbose", "-v", action="store_true", help="print every case as it ends")
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    ops = set(args.ops.split(",")) if args.ops else None
    full = not (ops or args.supported_only or args.no_nodes or args.no_models)
    default = DEFAULT_HOST_MARKDOWN if args.host else DEFAULT_MARKDOWN
    markdown = args.markdown or (default if full else None)
    check_outputs({"--markdown": markdown, "--json": args.json})  # before the long run
    cases = select(all_cases(not args.no_nodes, not args.no_models), ops, args.supported_only)
    progress = _print_outcome if args.verbose else None
    outcomes = run_all(cases, config, args.timeout, progress, host=args.host)
    print_table(outcomes)
    with output_batch() as out:
        if markdown:
            from npu.conformance_report import render_markdown

            page = render_markdown(outcomes, config, full=full, host=args.host)
            out.write_text(markdown, page)
        if args.json:
            out.write_text(args.json, json.dumps([asdict(o) for o in outcomes], indent=1))
    return 1 if any(o.status in BAD for o in outcomes) else 0


def _print_outcome(o: Outcome) -> None:
    print(f"{o.status:<9} {o.seconds:6.2f}s {o.name} {o.detail[:120]}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m npu.conformance [options]``."""
    parser = argparse.ArgumentParser(prog="npu")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["conformance", *(argv if argv is not None else sys.argv[1:])])
    try:
        return args.func(args)
    except NpuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
