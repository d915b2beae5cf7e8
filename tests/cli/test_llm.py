"""``npu llm``: a zoo decoder's prefill and decode steps simulated with the cache growing."""

from __future__ import annotations

import json

import pytest
from conftest import assert_user_error, npu


def test_llm_reports_prefill_and_decode(tmp_path):
    out, plot = tmp_path / "llm.json", tmp_path / "tpot.png"
    r = npu(
        "llm", "zoo:llama", "--prompt-len", "8", "--gen-len", "2", "--json", out, "--plot", plot
    )
    assert r.code == 0, r.err
    assert "TTFT" in r.out and "tokens/s" in r.out
    f = json.loads(out.read_text())
    assert [s["context"] for s in f["steps"]] == [9]
    assert f["ttft_cycles"] > f["steps"][0]["cycles"] > 0
    # a decode step reads every weight once: its DRAM bytes are the weights' and a little more
    assert 1.0 < f["dram_bytes_per_token"] / f["weight_bytes"] < 1.1
    assert f["max_context"] == (8 << 30) - f["weight_bytes"] >> 10  # 1 KiB of cache a token
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "args, words",
    [
        (("zoo:resnet18", "--prompt-len", "4", "--gen-len", "2"), ["unknown model", "resnet18"]),
        (("zoo:llama", "--prompt-len", "4", "--gen-len", "2", "--batch", "0"), ["--batch", "'0'"]),
        (
            ("zoo:llama", "--prompt-len", "4", "--gen-len", "2", "--batch", "1025"),
            ["'1025'", "1024"],
        ),
        (("zoo:llama", "--prompt-len", "0", "--gen-len", "2"), ["--prompt-len", "'0'"]),
    ],
)
def test_llm_user_errors(args, words):
    assert_user_error(npu("llm", *args), *words)


def test_llm_int4_decoder_reads_its_packed_weights(tmp_path):
    """zoo:llama_decode_int4: the weights as MatMulNBits codes (4 bits, an fp32 scale and
    zero point per 32) are read once a decode step, under a third of the fp32 weights."""
    out = tmp_path / "llm.json"
    r = npu("llm", "zoo:llama_decode_int4", "--prompt-len", "4", "--gen-len", "2", "--json", out)
    assert r.code == 0, r.err
    f = json.loads(out.read_text())
    assert f["weight_bits"] == 4
    assert (
        f["weight_bytes"] == 1_258_496
    )  # 1,671,168 matrix weights x (1/2 + 8/32) + 5,120 B of norms
    assert 1.0 < f["dram_bytes_per_token"] / f["weight_bytes"] < 1.2


def test_llm_batch_reads_the_weights_once_for_every_sequence(tmp_path):
    """--batch 4: a decode step is GEMMs of M = 4, so it costs about a B = 1 step and each
    token carries a quarter of the weight bytes; the B = 1 run is reported beside it."""
    out = tmp_path / "llm.json"
    r = npu(
        "llm", "zoo:llama", "--prompt-len", "8", "--gen-len", "2", "--batch", "4", "--json", out
    )
    assert r.code == 0, r.err
    assert "x 4 sequences" in r.out and "batch 1:" in r.out
    f = json.loads(out.read_text())
    one = f["batch_1"]
    assert f["batch"] == 4 and one["batch"] == 1
    (step,), (single,) = f["steps"], one["steps"]
    assert step["context"] == single["context"] == 9
    assert single["cycles"] < step["cycles"] < 1.2 * single["cycles"]
    assert f["tokens_per_s"] == pytest.approx(4e9 / step["cycles"])  # base: 1 GHz
    assert f["tokens_per_s"] > 3.3 * one["tokens_per_s"]
    assert f["dram_bytes_per_token"] == step["dram_bytes"] / 4
    assert 0.25 < f["dram_bytes_per_token"] / one["dram_bytes_per_token"] < 0.3
    assert f["energy_uj_per_token"] < 0.3 * one["energy_uj_per_token"]
    assert f["max_context"] == ((8 << 30) - f["weight_bytes"]) // (4 << 10)
