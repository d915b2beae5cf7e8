"""The memory budget (compiler/budget.py): activations are checked after the passes, so a
fused attention's scores, which the program never holds, do not count; anything the
program would hold still does."""

import pytest
from test_attention import attention

import compiler
from compiler.driver import CompileOptions
from simulator.config import load_config
from simulator.errors import ResourceError

BUDGET = 64 * 1024  # 2 heads x 96 x 96 fp32 scores are 73,728 B; q, k, v, y 12,288 B each


def test_fused_attention_scores_do_not_count():
    m, _ = attention(96)
    program = compiler.compile(m, load_config("tiny"), CompileOptions(max_memory=BUDGET))
    assert [layer["op"] for layer in program.layers] == ["Attention"]


def test_scores_the_program_holds_still_count():
    """Without the Softmax nothing fuses: the 73,728-byte scores are refused by name."""
    m, _ = attention(96)
    nodes = [n for n in m.graph.node if n.op_type != "Softmax"]
    nodes[-1].input[0] = "ss"
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    with pytest.raises(ResourceError, match=r"tensor 's' .* needs 73,728 bytes"):
        compiler.compile(m, load_config("tiny"), CompileOptions(max_memory=BUDGET))
