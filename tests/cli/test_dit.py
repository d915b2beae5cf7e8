"""``npu dit``: a video diffusion transformer's denoising step, per step and per clip."""

from __future__ import annotations

import json

import pytest
from conftest import assert_user_error, files_in, npu


def test_dit_step_checked_against_onnxruntime(tmp_path):
    """512 tokens: the scores (1 MiB a head) exceed base's accumulator, so attention runs as
    the fused flash loop; numerics simulated and compared with onnxruntime."""
    out = tmp_path / "dit.json"
    r = npu("dit", "--frames", "2", "--size", "32", "--steps", "50", "--check", "--json", out)
    assert r.code == 0, r.err
    assert "outputs match onnxruntime" in r.out and "512 tokens" in r.out
    f = json.loads(out.read_text())
    assert f["tokens"] == 512 and f["matches_onnxruntime"] is True and f["numerics"]
    assert f["step_cycles"] == 3_020_864
    assert f["clip_s"] == pytest.approx(50 * 3_020_864 / 1e9)  # base runs at 1 GHz


def test_dit_timing_only_equals_the_full_simulation_and_cfg_doubles(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ("dit", "zoo:dit_video", "--frames", "2", "--size", "32", "--steps", "10")
    assert npu(*args, "--json", a).code == 0
    r = npu(*args, "--cfg", "--json", b)
    assert r.code == 0 and "classifier-free guidance" in r.out
    fa, fb = json.loads(a.read_text()), json.loads(b.read_text())
    assert not fa["numerics"] and fa["step_cycles"] == 3_020_864
    assert fb["step_cycles"] == 2 * fa["step_cycles"]
    assert fb["energy_uj_per_step"] == pytest.approx(2 * fa["energy_uj_per_step"])


@pytest.mark.parametrize(
    "args, words",
    [
        (("zoo:resnet18", "--steps", "2"), ["unknown model", "zoo:resnet18"]),
        (("--size", "33", "--steps", "2"), ["--size 33", "odd"]),
        (("--frames", "300", "--size", "64", "--steps", "2"), ["307200 tokens", "65536"]),
        (("--steps", "0"), ["--steps", "'0'"]),
        (
            ("--frames", "4", "--size", "64", "--steps", "2", "--check", "--max-memory", "200M"),
            ["--check at 4096 tokens", "268,435,456 bytes", "--max-memory"],
        ),
    ],
)
def test_dit_user_errors(tmp_path, args, words):
    out = tmp_path / "dit.json"
    assert_user_error(npu("dit", *args, "--json", out), *words)
    assert files_in(tmp_path) == []
