"""A 100,000-node model (3.4 MB of ONNX) compiles within bounded time and memory.

Before the DRAM planner became O(n log n) (``compiler/intervals.py``) its clobber lists grew
with the square of the node count: a chain of 30,000 Relus needed 2 GB and 100,000 died at
7.8 GB after 262 s. Measured after the fix on the 2-core machine: 22.6 s of CPU, 642 MiB peak
(the 30,000-node chain: 6.9 s, 266 MiB; it runs in the default suite, ``hostile_cases.ACCEPTED``).
"""

from __future__ import annotations

import hostile_files as hf
import hostile_run as hr
import pytest

NODES = 100_000
PEAK = 3 << 29  # 1.5 GiB
CPU = 150.0  # seconds


@pytest.mark.slow
def test_100k_node_chain_compiles_in_bounded_time_and_memory(tmp_path):
    hf.relu_chain_model(tmp_path / "chain.onnx", NODES)
    result = hr.run_npu(["compile", "chain.onnx", "-o", "chain.npuprog"], tmp_path, wall=1200)
    print(result.summary())
    assert result.code == 0, result.err
    assert (tmp_path / "chain.npuprog").is_file()
    assert result.peak_bytes < PEAK, result.summary()
    assert result.cpu_s < CPU, result.summary()
