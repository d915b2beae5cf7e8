"""``npu scalesim``: SCALE-Sim's topology and config in, its COMPUTE_REPORT.csv out.

SCALE-Sim 3.0 on examples/scalesim/resnet18.csv (ResNet-18's 21 convolutions and its FC, as
SCALE-Sim maps them: unpadded IFMAPs) at 32x32 reports compute cycles summing to 2,519,815
(weight stationary) and 1,718,353 (output stationary), measured on this machine class.
"""

from __future__ import annotations

import csv
import math

import pytest
from conftest import REPO, assert_user_error, files_in, npu

from npu import scalesim
from simulator.config import load_config

EXAMPLES = REPO / "examples" / "scalesim"
TOPOLOGY = EXAMPLES / "resnet18.csv"


def scalesim_cycles(m: int, k: int, n: int, r: int, c: int, dataflow: str) -> int:
    """SCALE-Sim 3.0's compute cycles of one layer: folds * per_fold - 1, its folds run back
    to back; a WS fold holds R x C weights and streams the M rows (2R + C + M - 2 cycles), an
    OS fold holds R x C outputs and streams the K operand pairs (K + R + C - 2)."""
    if dataflow == "ws":
        return math.ceil(k / r) * math.ceil(n / c) * (2 * r + c + m - 2) - 1
    return math.ceil(m / r) * math.ceil(n / c) * (k + r + c - 2) - 1


@pytest.mark.parametrize("dataflow, total", [("ws", 2_519_815), ("os", 1_718_353)])
def test_resnet18_at_32x32_matches_scalesim(tmp_path, dataflow, total):
    r = npu("scalesim", TOPOLOGY, "--cfg", EXAMPLES / f"32x32_{dataflow}.cfg", "-o", tmp_path)
    assert r.code == 0, r.err
    assert f"{total:,} compute cycles" in r.out
    text = (tmp_path / "COMPUTE_REPORT.csv").read_text()
    assert text.splitlines()[0] == scalesim.REPORT_HEADER
    rows = list(csv.reader(text.splitlines()[1:], skipinitialspace=True))
    layers = scalesim.read_topology(TOPOLOGY)
    assert len(rows) == len(layers) == 21
    for row, layer in zip(rows, layers, strict=True):
        m, k, n = layer.mkn
        cycles = scalesim_cycles(m, k, n, 32, 32, dataflow)
        assert row[:4] == [row[0], str(cycles), str(cycles), "0"]
        assert float(row[4]) == pytest.approx(100 * m * k * n / (cycles * 1024))
    assert sum(int(row[2]) for row in rows) == total
    assert files_in(tmp_path) == ["COMPUTE_REPORT.csv"]


def test_layers_follow_scalesims_unpadded_ofmap():
    conv1 = scalesim.read_topology(TOPOLOGY)[0]
    assert conv1.ofmap == (110, 110)  # ceil((224 - 7 + 2) / 2), no padding
    assert conv1.mkn == (110 * 110, 7 * 7 * 3, 64)


def test_mapping_efficiency_counts_the_pes_each_fold_uses():
    layer = scalesim.Layer("l", 4, 4, 1, 1, 40, 48, 1)  # M 16, K 40, N 48
    ws = scalesim.report([layer], load_config("base", {"timing": "scalesim"}))[0]
    assert ws.mapping_efficiency == pytest.approx(100 * 40 * 48 / (2 * 2 * 1024))
    os_config = load_config("base", {"timing": "scalesim", "array.dataflow": "output_stationary"})
    assert scalesim.report([layer], os_config)[0].mapping_efficiency == pytest.approx(
        100 * 16 * 48 / (1 * 2 * 1024)
    )


BAD_TOPOLOGIES = {
    "short": ("conv,8,8,3,3\n", ("line 2", "5 fields", "expected 8")),
    "text": ("conv,8,8,3,x,4,4,1,\n", ("line 2", "Filter Width", "'x'")),
    "zero": ("conv,8,8,3,3,4,4,0,\n", ("line 2", "Strides", "'0'")),
    "big_filter": ("conv,2,8,3,3,4,4,1,\n", ("line 2", "conv", "3x3 filter", "pad")),
    "no_layer": ("\n", ("no layer",)),
}


@pytest.mark.parametrize("case", BAD_TOPOLOGIES)
def test_bad_topology_is_one_line(tmp_path, case):
    body, words = BAD_TOPOLOGIES[case]
    topo = tmp_path / "t.csv"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\n" + body)  # fmt: skip
    out = tmp_path / "out"
    r = npu("scalesim", topo, "--cfg", EXAMPLES / "32x32_ws.cfg", "-o", out)
    assert_user_error(r, "t.csv", *words)
    assert not out.exists()


BAD_CFGS = {
    "no_section": ("[general]\nrun_name = x\n", ("architecture_presets",)),
    "no_width": ("[architecture_presets]\nArrayHeight: 8\nDataflow: ws\n", ("ArrayWidth",)),
    "is": (
        "[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nDataflow: is\n",
        ("Dataflow", "'is'", "ws, os"),
    ),
    "rows": (
        "[architecture_presets]\nArrayHeight: 8x\nArrayWidth: 8\nDataflow: ws\n",
        ("ArrayHeight", "'8x'"),
    ),
    "zero": (
        "[architecture_presets]\nArrayHeight: 0\nArrayWidth: 8\nDataflow: ws\n",
        ("array.rows", "0"),
    ),
    "not_ini": ("ArrayHeight = 8\n", ("not a valid .cfg",)),
}


@pytest.mark.parametrize("case", BAD_CFGS)
def test_bad_cfg_is_one_line(tmp_path, case):
    body, words = BAD_CFGS[case]
    cfg = tmp_path / "s.cfg"
    cfg.write_text(body)
    r = npu("scalesim", TOPOLOGY, "--cfg", cfg, "-o", tmp_path / "out")
    assert_user_error(r, *words)
    assert files_in(tmp_path) == ["s.cfg"]


def test_missing_files_and_a_file_as_outdir(tmp_path):
    cfg = EXAMPLES / "32x32_ws.cfg"
    assert_user_error(npu("scalesim", tmp_path / "nope.csv", "--cfg", cfg, "-o", tmp_path),
                      "nope.csv", "does not exist")  # fmt: skip
    assert_user_error(npu("scalesim", TOPOLOGY, "--cfg", tmp_path / "nope.cfg", "-o", tmp_path),
                      "nope.cfg", "does not exist")  # fmt: skip
    plain = tmp_path / "file"
    plain.write_text("")
    assert_user_error(npu("scalesim", TOPOLOGY, "--cfg", cfg, "-o", plain), "not a directory")
