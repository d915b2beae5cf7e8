"""The HTML report: placeholder until the plots land."""

from npu.report import Report


def render(report: Report) -> str:
    return "<html></html>"
