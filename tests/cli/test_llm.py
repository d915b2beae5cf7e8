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
        (("zoo:llama", "--prompt-len", "4", "--gen-len", "2", "--batch", "2"), ["--batch 2"]),
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
