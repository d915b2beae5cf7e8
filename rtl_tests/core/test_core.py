"""npu_core end to end: programs run on the RTL core and match the simulator.

The cocotb test ``run_program`` (run inside the HDL simulator by ``harness.run_core``) resets
the core, loads the run folder's imem.hex / dram.hex, starts it and waits for ``halted`` within
$NPU_CORE_BOUND cycles; it writes status.txt (halted, error, err_index, cycles). The pytest
functions below run each program on Icarus and Verilator and assert: the core halts without
error, outputs are byte-identical to the simulator's, the total cycles are within 2% of the
simulator's, and every instruction's start, end and written bytes equal the simulator's with
the core's issue cycle (``reference.py``); a failure prints the first-divergence report.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from rtl_tests.core import harness, programs
from rtl_tests.hdl import simulators
from simulator import isa
from simulator.config import load_config
from simulator.semantics import quantize


@cocotb.test()
async def run_program(dut):
    bound = int(os.environ.get("NPU_CORE_BOUND", "1000000"))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.load.value = 0
    dut.run.value = 0
    dut.dump_bytes.value = int(os.environ["NPU_CORE_DUMP"])
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    dut.load.value = 1
    await RisingEdge(dut.clk)
    dut.load.value = 0
    await RisingEdge(dut.clk)
    dut.run.value = 1
    began = time.perf_counter()
    try:
        await with_timeout(RisingEdge(dut.halted), bound * 10, "ns")
        await RisingEdge(dut.clk)
    finally:
        status = {
            "halted": int(dut.halted.value) if dut.halted.value.is_resolvable else 0,
            "error": int(dut.error.value) if dut.error.value.is_resolvable else 255,
            "err_index": int(dut.err_index.value) if dut.err_index.value.is_resolvable else 0,
            "cycles": int(dut.cycles.value) if dut.cycles.value.is_resolvable else 0,
            "milliseconds": int(1000 * (time.perf_counter() - began)),
        }
        Path("status.txt").write_text("".join(f"{k} {v}\n" for k, v in status.items()))


def run_and_check(name: str, program, inputs, sim: str, mutation: int = 0) -> harness.Comparison:
    folder = harness.run_folder(name, sim, mutation)
    return harness.check(program, inputs, sim, folder, mutation=mutation)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
@pytest.mark.parametrize("name", sorted(programs.HAND_WRITTEN))
def test_hand_written_program(sim, name):
    program, inputs = programs.HAND_WRITTEN[name](load_config("tiny"))
    result = run_and_check(name, program, inputs, sim)
    assert result.ok(), result.report()


def onnxruntime_steps(name: str, program, outputs: dict[str, np.ndarray]) -> int:
    """The largest difference, in output steps, between the program's int8 outputs (raw
    bytes) and onnxruntime's outputs of the float-interface QDQ model on the same sample."""
    from compiler.check import reference
    from models_zoo.api import build, sample_inputs

    want = reference(build(name, int8=True), sample_inputs(name))
    worst = 0
    for out, raw in outputs.items():
        info = program.tensors[out]
        got = raw.view(info.dtype).astype(np.int64)
        ref = quantize(want[out], info.scale, info.zero_point, isa.DType[info.dtype.upper()])
        worst = max(worst, int(np.abs(got - ref.astype(np.int64).ravel()).max()))
    return worst


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
@pytest.mark.parametrize("name", sorted(programs.ZOO))
def test_zoo_int8_program(sim, name):
    """The zoo's int8 model compiled for tiny (int8 interface, integer pools) on the core: the
    simulator's outputs within ZOO_STEPS output steps of onnxruntime (mlp_mnist exactly;
    lenet5's integer average pools round ties where onnxruntime's fp32 ones do not), the
    core's byte-identical, every instruction's timing equal."""
    program, inputs = programs.ZOO[name](load_config("tiny"))
    result = run_and_check(name, program, inputs, sim)
    assert onnxruntime_steps(name, program, result.ref.outputs) <= programs.ZOO_STEPS[name]
    assert result.ok(), result.report()


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
def test_residual_int8_program(sim):
    """An int8 residual block (its Add a QADD after the second QConv's REQUANT, integers
    only, so the core runs it whole): byte-identical with the simulator, every instruction's
    timing equal, within one output step of onnxruntime."""
    from compiler.check import reference

    program, inputs, qdq, feeds = programs.residual_int8(load_config("tiny"))
    funcs = {isa.VFunc(i.func) for i in program.instructions if isinstance(i, isa.Vector)}
    assert isa.VFunc.QADD in funcs and isa.VFunc.DEQUANT not in funcs
    result = run_and_check("residual_int8", program, inputs, sim)
    assert result.ok(), result.report()
    info = program.tensors["y"]
    want = quantize(reference(qdq, feeds)["y"], info.scale, info.zero_point, isa.DType.INT8)
    got = result.ref.outputs["y"].view(np.int8).astype(np.int64)
    assert np.abs(got - want.astype(np.int64).ravel()).max() <= 1


@pytest.mark.rtl
def test_mutation_token_released_early():
    """A core whose MATRIX unit releases its tokens one cycle early (MUTATION=1): the report's
    first divergence is the first instruction that waited for such a token, one cycle early."""
    program, inputs = programs.int8_mlp(load_config("tiny"))
    result = run_and_check("int8_mlp", program, inputs, "icarus", mutation=1)
    assert not result.ok()
    first = result.divergences[0]
    instr = program.instructions[first.index]
    assert instr.wait & programs.M, result.report()
    assert (first.start_delta, first.bytes_differ) == (-1, False), result.report()
    assert "first divergence: instruction" in result.report()


@pytest.mark.rtl
def test_mutation_dma_stride_off_by_one():
    """A core whose LOAD engine reads DRAM with row stride ds1 + 1 (MUTATION=2): the report's
    first divergence is the first LOAD with more than one row, with the bytes it wrote."""
    program, inputs = programs.int8_mlp(load_config("tiny"))
    result = run_and_check("int8_mlp", program, inputs, "icarus", mutation=2)
    assert not result.ok() and not result.outputs_equal()
    first = result.divergences[0]
    assert first.index == 0 and first.bytes_differ, result.report()
    assert (first.start_delta, first.end_delta) == (0, 0), result.report()


@pytest.mark.rtl
def test_rtl_check_out_of_scope_is_exit_2(tmp_path, capsys):
    """A program with a float vector function: one line naming the instruction, exit 2."""
    from rtl_tests.core import rtl_check
    from simulator.builder import ProgramBuilder
    from simulator.program import save_program

    config = load_config("tiny")
    b = ProgramBuilder(config, const_base=1 << 12)
    x = b.input("x", (4, 8), "int8")
    b.output("y", (4, 8), "int8")
    b.emit(programs.load2d(programs.INPUT, 0, x.addr, 4, 8, 0, signal=programs.V))
    b.emit(
        programs.rowwise(
            isa.VFunc.DEQUANT, 4, 8, src0_sp=programs.INPUT, src0_dtype=0, dst_dtype=3,
            wait=programs.L,
        )
    )  # fmt: skip
    path = tmp_path / "float.npuprog"
    save_program(b.build(), path)
    code = rtl_check.main([str(path), "--sim", "icarus", "--dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: the RTL core cannot run this program: ")
    assert "instruction 1" in err[-1] and "func=DEQUANT" in err[-1]


def test_rtl_check_int8_io_needs_a_model_not_a_program(tmp_path, capsys):
    """--int8-io compiles a model: a .npuprog is one line naming the flags, exit 2."""
    from rtl_tests.core import rtl_check
    from simulator.program import save_program

    program, _ = programs.int8_mlp(load_config("tiny"))
    path = tmp_path / "mlp.npuprog"
    save_program(program, path)
    code = rtl_check.main([str(path), "--int8-io", "--sim", "icarus"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == "error: --int8-io and --integer-avgpool compile a model, not a .npuprog"


def test_rtl_check_compiles_with_the_integer_options():
    """rtl-check --int8-io --integer-avgpool compiles as the zoo programs here are compiled."""
    from rtl_tests.core import rtl_check

    args = rtl_check.build_parser().parse_args(
        ["zoo:lenet5-int8", "--int8-io", "--integer-avgpool", "--config", "tiny"]
    )
    program = rtl_check.load_program(args)
    zoo, _ = programs.ZOO["lenet5"](load_config("tiny"))
    assert program.instructions == zoo.instructions
    assert program.tensors["image"].dtype == "int8"
