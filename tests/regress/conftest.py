# The fixture comes from the package's pytest11 entry point; importing it here too keeps these
# tests running in a virtualenv installed before the entry point existed (pip install -e .
# registers it).
import pytest

from npu.regress.pytest_plugin import npu_regress  # noqa: F401


@pytest.fixture(autouse=True)
def _wide_reports(monkeypatch):
    """Report tables as a wide log would show them: xdist workers may look like an 80-column
    terminal to rich, which would cut the case and metric names the tests look for."""
    monkeypatch.setenv("COLUMNS", "250")
