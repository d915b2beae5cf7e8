"""Partitioned models through the program file, the ``npu`` command, ``NpuBackend`` and
``npu conformance --host``."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import partition_models as pm
import pytest

import compiler
from compiler.partition import Partitioned
from npu import conformance, program_file, runtime
from npu.cli import main as npu_main
from npu.conformance_cases import all_cases
from npu.onnx_backend import NpuBackend
from simulator import partfile
from simulator.config import load_config
from simulator.errors import ProgramFormatError, UnsupportedOpError

TINY = load_config("tiny")


def test_program_file_round_trip_runs_the_same():
    part = compiler.compile_model(pm.if_model(), TINY)
    blob = program_file.to_bytes(part)
    back = program_file.from_bytes(blob)
    assert isinstance(back, Partitioned)
    assert [(s.device, s.nodes, s.reasons) for s in back.segments] == [
        (s.device, s.nodes, s.reasons) for s in part.segments
    ]
    assert program_file.to_bytes(back) == blob  # nothing lost
    feeds = pm.inputs_for("if")
    a, b = runtime.run(part, feeds), runtime.run(back, feeds)
    np.testing.assert_array_equal(a.outputs["out"], b.outputs["out"])
    assert a.npu_cycles == b.npu_cycles and a.transfer_bytes == b.transfer_bytes


def test_a_flipped_byte_in_a_host_partition_fails_the_checksum():
    blob = bytearray(program_file.to_bytes(compiler.compile_model(pm.middle_model(), TINY)))
    blob[-40] ^= 1
    with pytest.raises(ProgramFormatError, match="checksum"):
        program_file.from_bytes(bytes(blob))


def test_malformed_host_partition_is_a_format_error():
    manifest, parts = partfile.from_bytes(
        program_file.to_bytes(compiler.compile_model(pm.middle_model(), TINY))
    )
    parts[1] = ("host", b"\x0a\x05hello")
    with pytest.raises(ProgramFormatError, match="host partition 1 .*not a valid ONNX"):
        program_file.from_bytes(partfile.to_bytes(manifest, parts))


def cli(capsys, *argv):
    code = npu_main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compile_and_run_a_partitioned_program(tmp_path, capsys):
    model, feeds = tmp_path / "m.onnx", tmp_path / "in.npz"
    onnx.save(pm.loop_topk_nms_model(), model)
    np.savez(feeds, **pm.inputs_for("loop"))
    prog = tmp_path / "m.npuprog"
    code, out, _ = cli(capsys, "compile", model, "--config", "tiny", "-o", prog)
    assert code == 0
    assert "3 partitions (2 NPU, 1 host: Loop 'loop', TopK 'topk', NonMaxSuppression 'nms')" in out
    code, out, _ = cli(
        capsys,
        "run",
        prog,
        "--inputs",
        feeds,
        "--out",
        tmp_path / "o.npz",
        "--stats",
        tmp_path / "s.json",
    )
    assert code == 0 and "host partition" in out
    got = dict(np.load(tmp_path / "o.npz"))
    sess = ort.InferenceSession(model.read_bytes())
    for o, want in zip(sess.get_outputs(), sess.run(None, pm.inputs_for("loop")), strict=True):
        np.testing.assert_allclose(got[o.name], want, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("flag", ["--strict", "--npu-only"])
def test_strict_compile_is_a_one_line_error(tmp_path, capsys, flag):
    model = tmp_path / "m.onnx"
    onnx.save(pm.middle_model(), model)
    code, _, err = cli(capsys, "compile", model, flag, "-o", tmp_path / "m.npuprog")
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert "cumsum (CumSum" in err
    assert not (tmp_path / "m.npuprog").exists()


def test_strict_run_of_a_partitioned_program_names_the_host_node(tmp_path, capsys):
    prog, feeds = tmp_path / "m.npuprog", tmp_path / "in.npz"
    program_file.save(compiler.compile_model(pm.if_model(), TINY), prog)
    np.savez(feeds, **pm.inputs_for("if"))
    code, _, err = cli(
        capsys, "run", prog, "--strict", "--inputs", feeds, "--out", tmp_path / "o.npz"
    )
    assert code == 2 and "'branch' (If)" in err and "no NPU lowering for If" in err


def test_onnx_backend_runs_partitioned_models():
    rep = NpuBackend.prepare(pm.if_model(), config="tiny")
    assert isinstance(rep.program, Partitioned)
    x = pm.inputs_for("if")["x"]
    (y,) = rep.run([x])
    want = ort.InferenceSession(pm.if_model().SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, want, rtol=1e-3, atol=1e-5)
    strict = compiler.CompileOptions(strict=True)
    with pytest.raises(UnsupportedOpError, match="branch"):
        NpuBackend.prepare(pm.if_model(), config="tiny", options=strict)


# Node cases of ops with no NPU lowering (and control flow, sequences, data-dependent shapes)
HOST_OPS = {"If", "Loop", "TopK", "NonMaxSuppression", "CumSum", "Hardmax", "SequenceInsert"}


def test_conformance_with_the_host_partition_subset():
    cases = conformance.select(all_cases(True, False), HOST_OPS | {"Relu"}, False)
    outcomes = conformance.run_all(cases, TINY, timeout=120, host=True)
    totals = conformance.totals(outcomes)
    assert totals["failed"] == 0 and totals["crashed"] == 0, [
        (o.name, o.detail) for o in outcomes if o.status in conformance.BAD
    ]
    native, host = conformance.native_and_host(outcomes)
    assert native >= 1 and host >= 30  # Relu natively; the others through onnxruntime
    rejected = [o for o in outcomes if o.status == "rejected"]
    assert all("onnxruntime" in o.detail for o in rejected)  # only what it cannot run either


def test_check_runs_a_partitioned_model(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    onnx.save(pm.middle_model(), model)
    code, out, _ = cli(capsys, "check", model, "--config", "tiny")
    assert code == 0 and "1 of 1 outputs match onnxruntime" in out


# Cases the full `npu conformance --host` run got wrong or crashed on, and their status now
HOST_CASES = {
    "test_cast_FLOAT_to_FLOAT8E4M3FN": "passed",  # onnxruntime's float8 bytes, as float8
    "test_regex_full_match_empty": "passed",  # a string graph input: all on the host
    "test_string_split_empty_tensor": "passed",
    "test_scan_sum": "passed",  # opset 8 Scan: the upgrade changes its inputs; run as written
    "test_mvn": "passed",  # the import stops (shape inference): all on the host
    "test_affine_grid_2d_expanded": "passed",  # a host partition onnxruntime cannot load
    "test_dft": "rejected",  # onnxruntime's own answer misses the shipped one; ours equals it
    "test_training_dropout": "excluded",  # a random mask
}


@pytest.mark.parametrize("name", sorted(HOST_CASES))
def test_conformance_cases_with_the_host_partition(name):
    (case,) = [c for c in all_cases(True, False) if c.name == name]
    outcome = conformance.run_case(case, TINY, timeout=120, host=True)
    assert outcome.status == HOST_CASES[name], outcome.detail
    if outcome.status == "rejected":
        assert outcome.detail.startswith(conformance.MISSES)


def test_a_string_graph_input_is_refused_by_name_in_strict_mode():
    (case,) = [c for c in all_cases(True, False) if c.name == "test_regex_full_match_empty"]
    with pytest.raises(UnsupportedOpError, match="graph input 'X' is a tensor of strings"):
        compiler.compile_model(case.model, TINY, compiler.CompileOptions(strict=True))
