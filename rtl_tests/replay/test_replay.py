"""Replay harness: a program for the ``tiny`` preset runs through the simulator (capture.py),
then each of its MatMul and Vector instructions runs on the RTL units with the operands the
simulator saw; outputs and cycles must match. Reports how many were replayed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import cocotb
import numpy as np
import pytest

from rtl_tests.hdl import build_dir, design_sources, run_bench, simulators
from rtl_tests.ports import MatrixPort, VectorPort, start_clock
from rtl_tests.replay import capture, programs
from simulator import isa
from simulator.config import load_config


async def replay(dut, kind: type[isa.Instr], make_port, execute) -> None:
    records = [
        r for r in capture.load(Path(os.environ["NPU_REPLAY_RECORDS"])) if isinstance(r.instr, kind)
    ]
    port = make_port(dut)
    await start_clock(dut)
    mismatches = []
    for rec in records:
        got, cycles = await execute(port, rec)
        want = np.ravel(rec.result).astype(np.int32)
        if not np.array_equal(np.ravel(got), want) or cycles != rec.cycles:
            mismatches.append(
                {"index": rec.index, "instr": type(rec.instr).__name__, "rtl_cycles": cycles,
                 "sim_cycles": rec.cycles, "outputs_equal": bool(np.array_equal(np.ravel(got), want))}
            )  # fmt: skip
    report = {"replayed": len(records), "mismatches": mismatches}
    Path(os.environ["NPU_REPLAY_REPORT"]).write_text(json.dumps(report, indent=1))
    dut._log.info(
        "replayed %d %s instructions, %d mismatches", len(records), kind.__name__, len(mismatches)
    )
    assert not mismatches, mismatches


async def _matmul(port: MatrixPort, rec: capture.Record):
    ops = rec.operands
    return await port.execute(rec.instr, ops["a"], ops["w"], ops["c"], timeout=4 * rec.cycles + 100)


async def _vector(port: VectorPort, rec: capture.Record):
    ops = rec.operands
    src0 = ops["src0"].astype(np.int64)
    src1 = ops["src1"].astype(np.int64) if "src1" in ops else None
    src2 = ops["src2"].astype(np.int64) if "src2" in ops else None
    return await port.execute(rec.instr, src0, src1, 4 * rec.cycles + 100, src2)


@cocotb.test()
async def replay_matmuls(dut):
    await replay(dut, isa.MatMul, lambda d: MatrixPort(d, np.random.default_rng(0)), _matmul)


@cocotb.test()
async def replay_vectors(dut):
    await replay(dut, isa.Vector, VectorPort, _vector)


def distinct(records: list[capture.Record], per_kind: int) -> list[capture.Record]:
    """The first ``per_kind`` records of each kind of instruction, in program order: a kind is
    the instruction's fields but its addresses and tokens (shape, strides, flags, function)."""
    seen: dict[tuple, int] = {}
    out = []
    for rec in records:
        fields = dataclasses.asdict(rec.instr)
        kind = (type(rec.instr).__name__,) + tuple(
            (f, v)
            for f, v in sorted(fields.items())
            if not f.endswith("addr") and f not in ("wait", "signal")
        )
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= per_kind:
            out.append(rec)
    return out


def replay_program(program, inputs, sim: str, name: str, per_kind: int = 0) -> dict:
    """Capture ``program`` in the simulator, replay on both RTL units; the combined report.
    ``per_kind`` > 0 replays only that many instructions of each kind (see ``distinct``)."""
    config = program.config
    records, skipped = capture.capture(program, inputs)
    if per_kind:
        records = distinct(records, per_kind)
    folder = build_dir("replay", sim, {"program": name})
    folder.mkdir(parents=True, exist_ok=True)
    records_path = folder / "records.npz"
    capture.save(records, records_path)
    total = {"replayed": 0, "mismatches": [], "skipped": skipped}
    units = [
        ("npu_matrix_top", {"ROWS": config.array.rows, "COLS": config.array.cols}, "replay_matmuls"),
        ("npu_vector_top", {"LANES": config.vector.lanes, "PIPELINE_DEPTH": config.vector.pipeline_depth}, "replay_vectors"),
    ]  # fmt: skip
    for top, params, testcase in units:
        report_path = folder / f"{testcase}.json"
        env = {"NPU_REPLAY_RECORDS": str(records_path), "NPU_REPLAY_REPORT": str(report_path)}
        run_bench(sim=sim, bench_file=__file__, toplevel=top, sources=design_sources(top),
                  parameters=params, extra_env=env, testcase=testcase)  # fmt: skip
        report = json.loads(report_path.read_text())
        total["replayed"] += report["replayed"]
        total["mismatches"] += report["mismatches"]
    print(f"replay of {name} on {sim}: {total}")
    return total


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
def test_replay_hand_built_int8_mlp(sim: str) -> None:
    program, inputs = programs.int8_mlp(load_config("tiny"))
    report = replay_program(program, inputs, sim, "int8_mlp")
    assert report["replayed"] == 9 and not report["mismatches"] and not report["skipped"]


@pytest.mark.rtl
@pytest.mark.parametrize("sim", simulators())
def test_replay_compiled_int8_lenet5(sim: str) -> None:
    """The zoo's int8 LeNet-5 compiled for tiny. Of its 168 replayable instructions (101
    MatMuls: the convolutions as M=224/112/66 tiles, the dense layers as M=1; 67 Vectors:
    COPY, ADD_IMM, REQUANT_BIAS with its scale words) the first 2 of each kind (``distinct``,
    39 at this writing) are replayed. The
    QUANT, DEQUANT, MUL_IMM, DIV (the int8 AveragePool runs in fp32 as onnxruntime's
    QLinearAveragePool) and other float Vectors are skipped, counted by reason (2, 11, 0, 20,
    60 at this writing). The floors leave the compiler room to change its tiling."""
    program, inputs = programs.compiled_int8("lenet5", load_config("tiny"))
    report = replay_program(program, inputs, sim, "compiled_int8_lenet5", per_kind=2)
    assert report["replayed"] >= 30 and not report["mismatches"]
    assert set(report["skipped"]) <= {
        "VFunc QUANT is not in the RTL vector unit",
        "VFunc DEQUANT is not in the RTL vector unit",
        "VFunc MUL_IMM is not in the RTL vector unit",
        "VFunc DIV is not in the RTL vector unit",
        "a float operand",
    }
