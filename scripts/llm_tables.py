"""The decode-step tables of docs/llm.md, measured: cycles against context, against DRAM
bandwidth and scratchpad size, and with weight-only int8/int4 weights (onnxruntime's
MatMulNBits) (timing-only simulation; the numerics are tested elsewhere).

    python scripts/llm_tables.py   # markdown on stdout, about a minute
"""

from __future__ import annotations

import compiler
from models_zoo.llm import decode_step
from models_zoo.quantize import quantize_weights_nbits
from simulator.api import run
from simulator.config import load_config

D, HEADS, DH = 512, 8, 64
WEIGHT_BYTES = 12 * 2**20
MATRIX_WEIGHTS = WEIGHT_BYTES // 4  # the projections' and the MLP's, all in MatMuls


def stored_weights(bits: int = 32, block: int = 0) -> int:
    """Weight bytes in DRAM: fp32, or codes and an fp32 scale and zero point per block."""
    if bits == 32:
        return WEIGHT_BYTES
    return MATRIX_WEIGHTS * bits // 8 + MATRIX_WEIGHTS // block * 8


def roofline(context: int, bytes_per_cycle: int = 32, weights: int = WEIGHT_BYTES) -> int:
    cache = 2 * HEADS * context * DH * 4  # K and V, fp32, read once
    return (weights + cache) // bytes_per_cycle


def measure(context: int, config, bits: int = 32, block: int = 0):
    model = decode_step(d=D, heads=HEADS, context=context)
    if bits != 32:
        model = quantize_weights_nbits(model, bits, block)
    prog = compiler.compile(model, config)
    return run(prog, None, numerics=False).stats


def weight_only_table(base) -> None:
    """The decode step with fp32, int8 and int4 weights (MatMulNBits) at two contexts."""
    print("| weights | context | cycles | roofline | ratio | DRAM bytes | weight bytes | vs fp16 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    fp16 = WEIGHT_BYTES // 2
    for context in (256, 2048):
        for label, bits, block in (
            ("fp32", 32, 0),
            ("int8, block 32", 8, 32),
            ("int4, block 32", 4, 32),
            ("int4, block 128", 4, 128),
        ):
            s = measure(context, base, bits, block)
            weights = stored_weights(bits, block)
            top = roofline(context, weights=weights)
            print(
                f"| {label} | {context:,} | {s.total_cycles:,} | {top:,} "
                f"| {s.total_cycles / top:.2f} | {s.dram_read_bytes + s.dram_write_bytes:,} "
                f"| {weights:,} | {weights / fp16:.2f} |"
            )


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
    print()
    weight_only_table(base)


if __name__ == "__main__":
    main()
