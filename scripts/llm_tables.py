"""The decode-step tables of docs/llm.md, measured: cycles against context and against DRAM
bandwidth and scratchpad size (timing-only simulation; the numerics are tested elsewhere).

    python scripts/llm_tables.py   # markdown on stdout, about a minute
"""

from __future__ import annotations

import compiler
from models_zoo.llm import decode_step
from simulator.api import run
from simulator.config import load_config

D, HEADS, DH = 512, 8, 64
WEIGHT_BYTES = 12 * 2**20


def roofline(context: int, bytes_per_cycle: int = 32) -> int:
    cache = 2 * HEADS * context * DH * 4  # K and V, fp32, read once
    return (WEIGHT_BYTES + cache) // bytes_per_cycle


def measure(context: int, config):
    prog = compiler.compile(decode_step(d=D, heads=HEADS, context=context), config)
    return run(prog, None, numerics=False).stats


def with_sizes(config, bytes_per_cycle: int, kib: int):
    keys = ("scratchpad.input_kib", "scratchpad.weight_kib", "scratchpad.acc_kib")
    return config.with_overrides(
        {"dram.bytes_per_cycle": bytes_per_cycle} | dict.fromkeys(keys, kib)
    )


def main() -> None:
    base = load_config("base")
    print("| context | cycles | roofline | ratio | DRAM bytes | energy |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for context in (256, 512, 1024, 2048):
        s = measure(context, base)
        dram = s.dram_read_bytes + s.dram_write_bytes
        ratio = s.total_cycles / roofline(context)
        print(
            f"| {context:,} | {s.total_cycles:,} | {roofline(context):,} | {ratio:.2f} "
            f"| {dram:,} | {s.energy_pj['total'] / 1e6:,.0f} µJ |"
        )
    print()
    print("| DRAM B/cycle | 256 KiB | 1 MiB | tokens/s (256 KiB) |")
    print("| ---: | ---: | ---: | ---: |")
    for bw in (16, 32, 64, 128):
        small, large = (measure(2048, with_sizes(base, bw, kib)) for kib in (256, 1024))
        tokens = base.clock_mhz * 1e6 / small.total_cycles
        print(f"| {bw} | {small.total_cycles:,} | {large.total_cycles:,} | {tokens:,.0f} |")


if __name__ == "__main__":
    main()
