"""``npu regress SUITE.toml``: hold models' outputs, cycles and traffic to recorded baselines."""

from __future__ import annotations

import argparse
import json

from npu.outputs import check_outputs, output_batch
from npu.regress import runner
from npu.regress.junit import junit_tree
from npu.regress.report import print_report, to_json
from npu.regress.suite import SuiteError, load_suite

EXAMPLES = """\
examples:
  npu regress tests/regress/zoo.toml
  npu regress suite.toml --jobs 2 --junit results.xml --json results.json
  npu regress suite.toml --filter 'resnet*' --update --reason "im2col for 1x1 convs"

exit status: 0 every metric within its rule, 1 a metric moved outside it (regressed, improved,
changed, newly failing: a change must come with --update), 2 a user error (the suite, a case,
a baseline). --update rewrites the baselines beside the suite (SUITE.baseline.toml) and
appends --reason to its change log (SUITE.changelog). See docs/regressions.md.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "regress",
        help="run a regression suite against its baselines (cycles, traffic, outputs per layer)",
        description="Compile and simulate every case of SUITE.toml and compare what each holds "
        "with its baseline.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suite", metavar="SUITE.toml", help="the suite file")
    p.add_argument("--update", action="store_true", help="record the results as the baselines")
    p.add_argument("--reason", help="why the baselines move (required with --update)")
    p.add_argument("--junit", metavar="OUT.xml", help="JUnit XML, one testcase per case")
    p.add_argument("--json", metavar="OUT.json", help="every case and metric as JSON")
    p.add_argument("--jobs", type=_jobs, default=1, help="worker processes (default 1)")
    p.add_argument("--filter", metavar="PAT", help="only the cases whose name matches PAT")
    p.set_defaults(func=run)


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    reason = " ".join((args.reason or "").split())
    if args.update and not reason:
        raise SuiteError('--update needs --reason "...": why the baselines move (the change log)')
    if args.reason is not None and not args.update:
        raise SuiteError("--reason is only for --update")
    check_outputs({"--junit": args.junit, "--json": args.json}, [args.suite])
    suite = load_suite(args.suite)
    cases = suite.select(args.filter)
    if args.update:
        result = runner.update(suite, cases, reason, args.jobs)
    else:
        result = runner.check(suite, cases, args.jobs)
    code = 0 if result.passed or result.updated else 1
    print_report(result.outcomes, _title(suite.path.name, result))
    if args.update:
        print(_update_line(suite, result))
    _write(args, result.outcomes, suite.path.stem, code)
    return code


def _title(name: str, result: runner.Run) -> str:
    return f"npu regress {name}" + (
        " (--update: before = the old baselines)" if result.updated else ""
    )


def _update_line(suite, result: runner.Run) -> str:
    if result.updated:
        return (
            f"baselines written to {suite.baseline_path}; reason logged in {suite.changelog_path}"
        )
    return "baselines NOT updated: a case failed to run (above)"


def _write(args, outcomes, suite_name: str, code: int) -> None:
    with output_batch() as out:
        if args.junit:
            out.write(
                args.junit,
                lambda p: junit_tree(outcomes, suite_name).write(
                    p, encoding="utf-8", xml_declaration=True
                ),
            )
        if args.json:
            text = json.dumps(to_json(outcomes, suite_name, code), indent=2, allow_nan=False)
            out.write_text(args.json, text + "\n")
