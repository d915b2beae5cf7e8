"""The energy and area model (simulator/tech.py): its anchors, scaling rule and docs."""

import math
from pathlib import Path

import pytest

from simulator import tech
from simulator.config import load_config
from simulator.energy_docs import render
from simulator.errors import ConfigError

ROOT = Path(__file__).parents[2]


def at(nm: float, preset: str = "base", **overrides):
    return load_config(preset, {"tech_nm": nm, **overrides})


def test_horowitz_at_45_nm_and_tpuv4i_at_7_nm():
    e45, e7 = tech.energies(at(45)), tech.energies(at(7))
    assert e45.mac["int8"] == pytest.approx(0.2 + 0.1)  # int8 multiply + int32 add
    assert e45.mac["fp32"] == pytest.approx(3.7 + 0.9)
    assert e45.mac["fp16"] == pytest.approx(1.1 + 0.9)  # fp16 multiply, fp32 accumulate
    assert e7.mac["int8"] == pytest.approx(0.07 + 0.03)
    assert e7.mac["fp32"] == pytest.approx(1.31 + 0.38)
    assert e45.vector_op == pytest.approx(4.6)
    assert tech.sram_read64_pj(8, 45) == pytest.approx(10.0)  # 8 KB, 64-bit read
    assert tech.sram_read64_pj(32, 45) == pytest.approx(20.0)
    assert tech.sram_read64_pj(1024, 45) == pytest.approx(100.0)
    assert tech.sram_read64_pj(1024, 7) == pytest.approx(14.0)
    assert e45.dram_per_byte == e7.dram_per_byte == pytest.approx(1300 / 8)


def test_scaling_is_geometric_between_the_anchors():
    mid = math.sqrt(45 * 7)
    assert tech.at_node("e.mult_fp32", mid) == pytest.approx(math.sqrt(3.7 * 1.31))
    values = [tech.at_node("e.mult_int8", n) for n in (5, 7, 16, 28, 45, 65)]
    assert values == sorted(values)  # smaller nodes cost less
    assert tech.sram_read64_pj(16, 45) == pytest.approx(10 * math.sqrt(2))  # 10 -> 20 over 4x
    assert tech.sram_read64_pj(4096, 45) == pytest.approx(100 * 4 ** math.log(5, 32))


def test_sram_energy_follows_each_scratchpads_size():
    e = tech.energies(load_config("base", ["scratchpad.input_kib=8", "scratchpad.acc_kib=1024"]))
    assert e.sram_read_per_byte[0] == pytest.approx(7.5 / 8)
    assert e.sram_read_per_byte[2] == pytest.approx(14.0 / 8)
    assert e.sram_write_per_byte == e.sram_read_per_byte


def test_areas_add_up_from_the_table():
    base = at(7)
    a = tech.areas(base)
    pe = 1.5 * (282 + 137 + 7700 + 4184) / tech.LOGIC_DENSITY_RATIO / 1e6  # int8 + fp32
    assert a["array"] == pytest.approx(32 * 32 * pe)
    assert a["sram"] == pytest.approx(768 * 8192 * 0.027 / 0.5 / 1e6)
    assert a["dram_phy"] == pytest.approx(32 * 0.12)  # 32 B/cycle at 1 GHz: 32 GB/s of DDR4
    assert a["total"] == pytest.approx(sum(v for k, v in a.items() if k != "total"))
    assert base.area_mm2() == a["total"]
    int8_only = tech.areas(load_config("base", ['array.dtypes=["int8"]']))
    assert int8_only["array"] == pytest.approx(a["array"] * (282 + 137) / (282 + 137 + 11884))
    hbm = tech.areas(load_config("base", ['dram.kind="hbm2"']))
    assert hbm["dram_phy"] == pytest.approx(32 * 0.04)
    assert tech.areas(at(45))["sram"] == pytest.approx(768 * 8192 * 0.346 / 0.5 / 1e6)


def test_a_runs_energy_scales_with_the_node():
    import numpy as np
    from sim_programs import conv_program

    import simulator

    x = np.ones((4, 5, 8), np.int8)
    runs = {}
    for nm in (7, 45):
        program, _ = conv_program(load_config("tiny", {"tech_nm": nm}), 4, 5, 8, 4)
        runs[nm] = simulator.run(program, {"x": x}).stats
    assert runs[7].total_cycles == runs[45].total_cycles
    assert runs[45].energy_pj["mac"] == pytest.approx(3 * runs[7].energy_pj["mac"])
    assert runs[45].energy_pj["dram"] == runs[7].energy_pj["dram"]


@pytest.mark.parametrize(
    "override, words",
    [
        ({"tech_nm": 2}, ("tech_nm", ">= 5")),
        ({"tech_nm": 90}, ("tech_nm", "<= 65")),
        ({"dram": {"kind": "lpddr9"}}, ("dram.kind", "lpddr9", "hbm2")),
        ({"energy": {"mac_int8_pj": 0.2}}, ("energy", "removed", "tech_nm")),
        ({"area": {"pe_mm2": 0.1}}, ("area", "removed", "energy_area.md")),
    ],
)
def test_bad_keys_name_the_key(override, words):
    with pytest.raises(ConfigError) as info:
        load_config("base", override)
    for word in words:
        assert word in str(info.value)


def test_docs_energy_area_md_is_generated():
    assert (ROOT / "docs" / "energy_area.md").read_text() == render(), (
        "docs/energy_area.md is stale: run make docs"
    )
