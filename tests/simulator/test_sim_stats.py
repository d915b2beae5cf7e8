"""Statistics (global and per ONNX node) and the Perfetto trace of a hand-built conv."""

import json
import math

import numpy as np
import pytest
from sim_programs import conv_program

import simulator
from simulator.config import load_config
from simulator.cost import cost, dma_dram_bytes
from simulator.isa import Load, MatMul, Store

TINY = load_config("tiny")
H, W, CIN, COUT = 4, 5, 8, 4


@pytest.fixture(scope="module")
def conv_run():
    program, _ = conv_program(TINY, H, W, CIN, COUT)
    x = np.ones((H, W, CIN), np.int8)
    return program, simulator.run(program, {"x": x}, trace=True)


def test_global_counters(conv_run):
    program, result = conv_run
    s = result.stats
    instrs = program.instructions
    assert s.macs == 9 * H * W * CIN * COUT
    assert s.instructions == {"LOAD": 10, "MATMUL": 9, "STORE": 1}
    assert s.busy["matrix"] == sum(cost(i, TINY) for i in instrs if isinstance(i, MatMul))
    assert s.busy["vector"] == 0
    loads = [i for i in instrs if isinstance(i, Load)]
    assert s.dram_read_bytes == sum(dma_dram_bytes(i, TINY) for i in loads)
    assert s.dram_write_bytes == H * W * COUT * 4
    assert s.sram_writes["input"] == 9 * H * W * CIN
    assert s.sram_reads["acc"] >= H * W * COUT * 4
    for unit, busy in s.busy.items():
        assert s.utilization[unit] == pytest.approx(busy / s.total_cycles)
    assert s.array_utilization == pytest.approx(s.macs / (s.total_cycles * 16))
    # tiny at 7 nm: an int8 MAC is 0.07 pJ (multiply) + 0.03 pJ (int32 add); a DDR4 byte
    # 1300 pJ / 8; a byte of the 8 KiB weight scratchpad 7.5 pJ / 8 (a 64-bit read), of the
    # 16 KiB ones 7.5 pJ * (16 / 8) ** log4(8.5 / 7.5) / 8 (between the 8 and 32 KB rows)
    assert s.energy_pj["mac"] == pytest.approx(s.macs * 0.1)
    assert s.energy_pj["dram"] == pytest.approx((s.dram_read_bytes + s.dram_write_bytes) * 162.5)
    kib16 = 7.5 * 2 ** (math.log(8.5 / 7.5) / math.log(4)) / 8
    assert kib16 == pytest.approx(0.998, abs=1e-3)
    for kind in ("read", "write"):
        count = getattr(s, f"sram_{kind}s")
        expected = (count["input"] + count["acc"]) * kib16 + count["weight"] * 7.5 / 8
        assert s.energy_pj[f"sram_{kind}"] == pytest.approx(expected)
    parts = [v for k, v in s.energy_pj.items() if k != "total"]
    assert s.energy_pj["total"] == pytest.approx(sum(parts))


def test_per_node_attribution(conv_run):
    _, result = conv_run
    nodes = result.stats.per_node
    assert list(nodes) == ["weights", "conv", "output"]
    conv = nodes["conv"]
    assert conv.macs == result.stats.macs
    assert conv.instructions == 18
    assert conv.cycles == conv.end - conv.start > 0
    assert nodes["output"].dram_write_bytes == result.stats.dram_write_bytes
    assert nodes["output"].end == result.stats.total_cycles
    total = sum(n.energy_pj for n in nodes.values())
    assert total == pytest.approx(result.stats.energy_pj["total"])
    assert sum(n.busy["load"] for n in nodes.values()) == result.stats.busy["load"]


def test_stats_dict_is_json_and_deterministic(conv_run):
    program, result = conv_run
    d = result.stats.to_dict()
    text = json.dumps(d, sort_keys=False)
    again = simulator.run(program, {"x": np.ones((H, W, CIN), np.int8)}).stats.to_dict()
    assert json.dumps(again, sort_keys=False) == text
    assert d["config_fingerprint"] == TINY.fingerprint()
    assert d["per_node"]["conv"]["macs"] == result.stats.macs


def test_perfetto_trace(conv_run, tmp_path):
    program, result = conv_run
    path = tmp_path / "trace.json"
    result.write_trace(path)
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    names = {e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {"LOAD", "MATRIX", "VECTOR", "STORE"}
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == len(program.instructions) - 1  # End has no slice
    store = next(e for e in slices if e["args"]["opcode"] == "STORE")
    assert store["tid"] == 3
    assert store["args"]["node"] == "output"
    assert store["args"]["index"] == len(program.instructions) - 2
    assert store["ts"] == store["args"]["start_cycle"] / TINY.clock_mhz
    assert store["dur"] == cost(program.instructions[-2], TINY) / TINY.clock_mhz
    assert isinstance(program.instructions[-2], Store)


def test_trace_can_be_written_without_trace_flag(tmp_path):
    program, _ = conv_program(TINY, H, W, CIN, COUT)
    result = simulator.run(program, {"x": np.ones((H, W, CIN), np.int8)})
    assert result.trace_events is None
    result.write_trace(tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
