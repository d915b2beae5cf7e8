"""``--int8-attention``: the int8 fused attention's two modes on the command line."""

import re
import sys
from pathlib import Path

import onnx
from conftest import assert_user_error, npu

sys.path.insert(0, str(Path(__file__).parents[1] / "compiler"))

from qdq_helpers import quantize  # noqa: E402
from test_attention import attention  # noqa: E402


def _instructions(result) -> int:
    assert result.code == 0, result.err
    return int(re.search(r"(\d+) instructions", result.out).group(1))


def test_compile_int8_attention_modes(tmp_path):
    model, _ = attention(96)  # fused on tiny (its int32 scores do not fit the accumulator)
    path = tmp_path / "attn.onnx"
    onnx.save(quantize(model), path)
    base = ("compile", path, "--config", "tiny", "-o")
    exact = _instructions(npu(*base, tmp_path / "a.npuprog"))
    same = _instructions(npu(*base, tmp_path / "b.npuprog", "--int8-attention", "exact"))
    online = _instructions(npu(*base, tmp_path / "c.npuprog", "--int8-attention", "online"))
    assert exact == same and online < exact  # one pass over the key blocks, not two


def test_int8_attention_bad_mode(tmp_path):
    result = npu(
        "compile", "zoo:lenet5-int8", "-o", tmp_path / "x.npuprog", "--int8-attention", "fast"
    )
    assert_user_error(result, "--int8-attention", "fast")
