"""Every error the hardware model names: config, program file, simulation, checked mode, inputs."""

import gc
import hashlib

import numpy as np
import pytest
from sim_programs import conv_program, gemm_program

import simulator
from simulator.builder import ProgramBuilder, dma
from simulator.config import load_config
from simulator.errors import ConfigError, ModelError, ProgramFormatError, SimulationError
from simulator.isa import DType, End, Load, MatMul, Store, Sync, Unit, Vector, VFunc
from simulator.program import FORMAT_VERSION, MAGIC
from simulator.semantics import matmul_float

LD, MX, VE, ST = (1 << u for u in Unit)
TINY = load_config("tiny")


# --- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"array.colums": 4}, "unknown config key 'array.colums'"),
        ({"bogus": 1}, "unknown config key 'bogus'"),
        ({"array.rows": "wide"}, "'array.rows' must be a number, got 'wide'"),
        ({"array.rows": 2.5}, "'array.rows' must be an integer"),
        ({"array.rows": 0}, "'array.rows' is 0; it must be >= 1"),
        ({"dram.bytes_per_cycle": -1}, "'dram.bytes_per_cycle' is -1.0"),
        ({"array.dataflow": "diagonal"}, "'array.dataflow' is 'diagonal'"),
        ({"timing": "fast"}, "'timing' is 'fast'"),
        ({"scratchpad.banks": 4}, "'scratchpad.banks' was removed: nothing modelled it"),
    ],
)
def test_config_errors_name_key_and_value(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config("tiny", overrides)


def test_unknown_preset_and_bad_override_syntax():
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        load_config("huge")
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config("tiny", ["array.rows"])


# --- program file ---------------------------------------------------------------------------


def _blob() -> bytes:
    program, _ = gemm_program(TINY, 4, 8, 4, DType.INT8)
    return simulator.program_to_bytes(program)


def _rehash(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()


def test_program_round_trips_through_a_file(tmp_path):
    program, _ = gemm_program(TINY, 4, 8, 4, DType.INT8)
    path = tmp_path / "gemm.npuprog"
    simulator.save_program(program, path)
    loaded = simulator.load_program(path)
    assert loaded.instructions == program.instructions
    assert loaded.constants == program.constants
    assert loaded.tensors == program.tensors
    assert loaded.config == program.config
    assert (loaded.nodes, loaded.node_of) == (program.nodes, program.node_of)
    assert simulator.program_to_bytes(loaded) == simulator.program_to_bytes(program)


def test_program_file_errors():
    blob = _blob()
    with pytest.raises(ProgramFormatError, match="magic"):
        simulator.program_from_bytes(b"ONNXPROG" + blob[8:])
    with pytest.raises(ProgramFormatError, match=f"version {FORMAT_VERSION + 1}"):
        version = (FORMAT_VERSION + 1).to_bytes(4, "little")
        simulator.program_from_bytes(_rehash(MAGIC + version + blob[12:-32]))
    flipped = bytearray(blob)
    flipped[-40] ^= 1
    with pytest.raises(ProgramFormatError, match="checksum"):
        simulator.program_from_bytes(bytes(flipped))
    with pytest.raises(ProgramFormatError, match="truncated"):
        simulator.program_from_bytes(blob[:-100])
    with pytest.raises(ProgramFormatError, match="truncated"):
        simulator.program_from_bytes(blob[:20])
    with pytest.raises(ProgramFormatError, match="trailing"):
        simulator.program_from_bytes(blob + b"\0")


def test_program_file_with_bad_instruction_word_or_manifest():
    program, _ = gemm_program(TINY, 4, 8, 4, DType.INT8)
    blob = simulator.program_to_bytes(program)
    words_at = len(blob) - 32 - len(program.constants) - 64 * len(program.instructions)
    body = bytearray(blob[:-32])
    body[words_at] = 0  # first instruction's opcode
    with pytest.raises(ProgramFormatError, match="instruction 0: unknown opcode 0"):
        simulator.program_from_bytes(_rehash(bytes(body)))
    body = bytearray(blob[:-32])
    body[40] = ord("#")  # inside the JSON manifest
    with pytest.raises(ProgramFormatError, match="manifest"):
        simulator.program_from_bytes(_rehash(bytes(body)))


def test_unreadable_program_file(tmp_path):
    with pytest.raises(ProgramFormatError, match="cannot read"):
        simulator.load_program(tmp_path / "missing.npuprog")


# --- simulation -----------------------------------------------------------------------------


def _run_one(*instrs, config=TINY, checked=False):
    b = ProgramBuilder(config)
    for instr in instrs:
        b.emit(instr)
    return simulator.run(b.build(), {}, checked=checked)


def test_scratchpad_bounds_name_instruction_field_and_value():
    with pytest.raises(SimulationError, match=r"instruction 1 \(LOAD\): sp_addr=16380 .* input"):
        _run_one(dma(Load, 0, 0, 0, (4,)), dma(Load, 0, 16380, 0, (8,)))


def test_dram_bounds_and_alignment():
    with pytest.raises(SimulationError, match=r"instruction 0 \(STORE\): dram_addr=-4 "):
        _run_one(dma(Store, 0, 0, -4, (4,)))
    with pytest.raises(SimulationError, match=r"dram_addr=2 is not aligned to its 4-byte"):
        _run_one(dma(Load, 2, 0, 2, (4,), esize=4))


def test_matmul_and_vector_operand_errors():
    mm = MatMul(m=4, k=4, n=4, a_stride=4, w_stride=4, c_stride=4)
    with pytest.raises(SimulationError, match=r"MATMUL\): c_addr=16384"):
        _run_one(mm.replace(c_addr=16384))
    with pytest.raises(SimulationError, match="dtype=FP16 is not supported by the array"):
        _run_one(mm.replace(dtype=DType.FP16))
    vec = Vector(func=VFunc.RSUM, n2=4, src0_dtype=2, dst_dtype=2, dst_s2=1)
    with pytest.raises(SimulationError, match="RSUM folds dim 2, so dst_s2 must be 0, got 1"):
        _run_one(vec)
    with pytest.raises(SimulationError, match="func=99 is not a VFunc"):
        _run_one(vec.replace(func=99))
    with pytest.raises(SimulationError, match="dst_dtype=7 is not a DType"):
        _run_one(vec.replace(func=VFunc.COPY, dst_dtype=7))


def test_end_must_be_last():
    program, _ = gemm_program(TINY, 4, 8, 4, DType.INT8)
    program.instructions.insert(1, End())
    with pytest.raises(SimulationError, match="instruction 1: End before the last"):
        simulator.run(program, {"x": np.zeros((4, 8), np.int8)})
    program.instructions = program.instructions[:-1]
    program.instructions.pop(1)
    with pytest.raises(SimulationError, match="does not end with an End"):
        simulator.run(program, {"x": np.zeros((4, 8), np.int8)})


def test_deadlock_lists_queue_heads():
    with pytest.raises(SimulationError, match="deadlock") as err:
        _run_one(
            dma(Load, 0, 0, 0, (4,), wait=MX),
            MatMul(m=4, k=4, n=4, a_stride=4, w_stride=4, c_stride=4, wait=LD),
            Sync(queue=Unit.VECTOR),
        )
    message = str(err.value)
    assert "LOAD: head is instruction 0, waiting for token MATRIX->LOAD" in message
    assert "MATRIX: head is instruction 1, waiting for token LOAD->MATRIX" in message
    assert "VECTOR: queue empty" in message


def test_runs_restore_the_garbage_collector_state():
    deadlock = (dma(Load, 0, 0, 0, (4,), wait=MX),)
    assert gc.isenabled()
    _run_one(dma(Load, 0, 0, 0, (4,)))
    assert gc.isenabled()
    with pytest.raises(SimulationError, match="deadlock"):
        _run_one(*deadlock)
    assert gc.isenabled()
    gc.disable()
    try:
        _run_one(dma(Load, 0, 0, 0, (4,)))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_checked_mode_catches_a_missing_token():
    program, _ = gemm_program(TINY, 4, 8, 4, DType.INT8)
    x = {"x": np.ones((4, 8), np.int8)}
    simulator.run(program, x, checked=True)  # correct tokens: no error
    store = len(program.instructions) - 2
    program.instructions[store] = program.instructions[store].replace(wait=0)
    simulator.run(program, x)  # the unchecked mode does not notice
    with pytest.raises(SimulationError, match="write-after-read hazard") as err:
        simulator.run(program, x, checked=True)
    # The store ran first and read the accumulator before the matmul overwrote it.
    assert "instruction 2 (MATMUL on MATRIX) writes acc byte 0" in str(err.value)
    assert "last read by instruction 3 (STORE on STORE)" in str(err.value)


def test_checked_mode_catches_read_after_write():
    mm = MatMul(m=4, k=4, n=4, a_stride=4, w_stride=4, c_stride=4)
    load = dma(Load, 0, 0, 0, (16,))  # no token to MATRIX
    program = [load, mm]
    _run_one(*program)
    with pytest.raises(SimulationError, match="read-after-write hazard: instruction 1") as err:
        _run_one(*program, checked=True)
    assert "reads input byte 0, last written by instruction 0 (LOAD on LOAD)" in str(err.value)


def test_checked_mode_catches_write_after_read():
    program, _ = conv_program(TINY, 4, 4, 8, 4, double_buffer=True)
    # Let the third tile's load overwrite buffer 0 without waiting for matmul 0 to finish.
    third_load = 5
    assert program.instructions[third_load].wait == MX
    program.instructions[third_load] = program.instructions[third_load].replace(wait=0)
    with pytest.raises(SimulationError, match="write-after-read hazard: instruction 5"):
        simulator.run(program, {"x": np.ones((4, 4, 8), np.int8)}, checked=True)


def test_checked_mode_catches_write_after_read_through_dram():
    """A STORE overwrites DRAM bytes a LOAD on another queue read, with no token between."""

    def program(token: bool):
        b = ProgramBuilder(TINY)
        x = b.input("x", (16,), "int8")
        b.emit(dma(Load, 0, 0, x.addr, (16,), signal=ST if token else 0))
        b.emit(dma(Store, 0, 64, x.addr + 8, (8,), wait=LD if token else 0))
        return b.build()

    x = {"x": np.arange(16, dtype=np.int8)}
    simulator.run(program(token=True), x, checked=True)  # the token orders them: no error
    simulator.run(program(token=False), x)  # the unchecked mode does not notice
    with pytest.raises(SimulationError, match="write-after-read hazard: instruction 1") as err:
        simulator.run(program(token=False), x, checked=True)
    assert "(STORE on STORE) writes dram byte" in str(err.value)
    assert "last read by instruction 0 (LOAD on LOAD)" in str(err.value)


# --- inputs ---------------------------------------------------------------------------------


def test_input_errors_name_the_input():
    program, _ = gemm_program(TINY, 4, 8, 4, DType.INT8)
    with pytest.raises(ModelError, match=r"missing \['x'\]"):
        simulator.run(program, {})
    with pytest.raises(ModelError, match=r"unexpected \['z'\]"):
        simulator.run(program, {"x": np.zeros((4, 8), np.int8), "z": 1})
    with pytest.raises(ModelError, match=r"input 'x' has shape \(8, 4\), expected \(4, 8\)"):
        simulator.run(program, {"x": np.zeros((8, 4), np.int8)})
    with pytest.raises(ModelError, match="input 'x' has dtype float32, expected int8"):
        simulator.run(program, {"x": np.zeros((4, 8), np.float32)})
    with pytest.raises(ModelError, match="input 'x' has dtype int64, expected int8"):
        simulator.run(program, {"x": np.full((4, 8), 300)})


def test_safely_castable_inputs_are_cast():
    program, w = gemm_program(TINY, 4, 8, 4, DType.INT8)
    x = np.arange(32).reshape(4, 8)  # int64 values that fit int8
    y = simulator.run(program, {"x": x}).outputs["y"]
    np.testing.assert_array_equal(y, x @ w.astype(np.int64))
    config = TINY
    program, w = gemm_program(config, 4, 8, 4, DType.FP32)
    x64 = np.linspace(-1, 1, 32).reshape(4, 8)  # float64 for a float32 input
    y = simulator.run(program, {"x": x64}).outputs["y"]
    np.testing.assert_array_equal(y, matmul_float(x64.astype(np.float32), w))
