"""JUnit XML in the xunit2 shape cocotb writes (``cocotb._xunit_reporter``): a
``<testsuites>`` root, one ``<testsuite>`` for the suite, one ``<testcase>`` per case with a
``<failure>`` (a metric outside its rule: the message its status, the text the diff) or an
``<error>`` (the case did not run), then ``<properties>``: one ``<property>`` per metric, its
value now (and the baseline's as ``METRIC.baseline`` where it moved)."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ElementTree, SubElement, indent

from npu.regress.compare import Outcome
from npu.regress.report import diff_text


def junit_tree(outcomes: list[Outcome], suite_name: str) -> ElementTree:
    root = Element("testsuites", name="npu regress")
    suite = SubElement(
        root,
        "testsuite",
        name=suite_name,
        errors=str(sum(bool(o.error) for o in outcomes)),
        failures=str(sum(not o.passed and not o.error for o in outcomes)),
        skipped="0",
        tests=str(len(outcomes)),
        time=f"{sum(o.seconds for o in outcomes):.3f}",
        timestamp=datetime.now(UTC).isoformat(),
        hostname=platform.node(),
    )
    for o in outcomes:
        _testcase(suite, o, suite_name)
    indent(root)
    return ElementTree(root)


def _testcase(parent: Element, o: Outcome, suite_name: str) -> None:
    case = SubElement(
        parent, "testcase", classname=f"regress.{suite_name}", name=o.case, time=f"{o.seconds:.3f}"
    )
    if not o.passed:
        tag = "error" if o.error else "failure"
        message = o.error or f"{o.status}: " + ", ".join(d.metric for d in o.failing()[:5])
        SubElement(case, tag, message=message).text = diff_text(o) + "\n"
    props = SubElement(case, "properties")
    SubElement(props, "property", name="timing_only", value=str(o.timing_only).lower())
    for d in o.diffs:
        SubElement(props, "property", name=d.metric, value=_raw(d.after))
        if d.moved:
            SubElement(props, "property", name=f"{d.metric}.baseline", value=_raw(d.before))
    if o.notes:
        SubElement(case, "system-out").text = "\n".join(o.notes) + "\n"


def _raw(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def write_junit(outcomes: list[Outcome], suite_name: str, path) -> None:
    junit_tree(outcomes, suite_name).write(path, encoding="utf-8", xml_declaration=True)
