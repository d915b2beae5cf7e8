"""The checked-in ``npu_isa.vh`` is exactly what ``simulator.isa_verilog`` generates."""

from __future__ import annotations

from rtl_tests.hdl import RTL_DIR
from simulator import isa
from simulator.isa_verilog import header


def test_checked_in_header_is_generated() -> None:
    checked_in = (RTL_DIR / "npu_isa.vh").read_text()
    assert checked_in == header(), (
        "rtl_tests/rtl/npu_isa.vh is stale: run "
        "`python -m simulator.isa_verilog > rtl_tests/rtl/npu_isa.vh`"
    )


def test_header_declares_every_code_and_field() -> None:
    text = header()
    for op in isa.Opcode:
        assert f"OPCODE_{op.name} = 8'd{int(op)};" in text
    for func, info in isa.VFUNC_INFO.items():
        assert f"VFUNC_{func.name}: vfunc_cycles = 8'd{info.cycles};" in text
    for cls in isa.INSTRUCTIONS:
        for fl in isa.layout(cls):
            name = f"{cls.__name__.upper()}_{fl.name.upper()}"
            assert f"localparam integer {name}_LSB = {fl.offset};" in text
            assert f"localparam integer {name}_BITS = {fl.bits};" in text
