"""The decode-step tables of docs/llm.md, measured: cycles against context, against DRAM
bandwidth and scratchpad size, with weight-only int8/int4 weights (onnxruntime's
MatMulNBits), and the int8 (QDQ) step with an int8 KV cache (timing-only simulation; the
numerics are tested elsewhere).

    python scripts/llm_tables.py          # markdown on stdout, about a minute
    python scripts/llm_tables.py batch    # the zoo decoder's decode step at batch 1 to 16
    python scripts/llm_tables.py one_b    # the 1B-class decoder, about ten minutes
    python scripts/llm_tables.py int8     # the int8 (QDQ) step against its bytes roofline
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

import compiler
from models_zoo import llama
from models_zoo.llm import decode_step, int8_kv_cache
from models_zoo.quantize import quantize_int8, quantize_weights_nbits, random_inputs
from npu import llm_cmd
from simulator.api import run
from simulator.config import load_config
from simulator.limits import DEFAULT_MAX_MEMORY

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


WEIGHT_ONLY = (("fp32", 32, 0), ("int8, block 32", 8, 32), ("int4, block 32", 4, 32))
WEIGHT_ONLY += (("int4, block 128", 4, 128),)


def weight_floor(context: int, config, weights: int) -> int:
    """The bytes roofline with the weights' part at least what the array and the vector unit
    can take: a GEMV streams ``cols`` weights a cycle through the array, DEQUANT_PACKED
    writes ``lanes`` a cycle."""
    bpc = config.dram.bytes_per_cycle
    cache = 2 * HEADS * context * DH * 4
    width = min(config.array.cols, config.vector.lanes)
    return int(cache / bpc + max(weights / bpc, MATRIX_WEIGHTS / width))


def weight_only_table(base) -> None:
    """The decode step with fp32, int8 and int4 weights (MatMulNBits) against context."""
    print(
        "| weights | context | cycles | roofline | ratio | array floor | ratio | DRAM bytes "
        "| weight bytes | vs fp16 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    fp16 = WEIGHT_BYTES // 2
    for context in (256, 1024, 2048, 4096):
        for label, bits, block in WEIGHT_ONLY:
            s = measure(context, base, bits, block)
            weights = stored_weights(bits, block)
            top = roofline(context, weights=weights)
            floor = weight_floor(context, base, weights)
            print(
                f"| {label} | {context:,} | {s.total_cycles:,} | {top:,} "
                f"| {s.total_cycles / top:.2f} | {floor:,} | {s.total_cycles / floor:.2f} "
                f"| {s.dram_read_bytes + s.dram_write_bytes:,} | {weights:,} "
                f"| {weights / fp16:.2f} |"
            )


def width_table(base) -> None:
    """What the array's columns and the vector lanes buy the weight-only step at 2,048."""
    widths = (
        ("base (32 x 32, 32 lanes)", {}),
        ("64 lanes", {"vector.lanes": 64}),
        ("64 columns", {"array.cols": 64}),
        ("64 columns, 64 lanes", {"array.cols": 64, "vector.lanes": 64}),
    )
    print("| array and vector unit | " + " | ".join(w[0] for w in WEIGHT_ONLY[1:]) + " |")
    print("| --- | ---: | ---: | ---: |")
    for label, sets in widths:
        config = base.with_overrides(sets)
        cells = []
        for _, bits, block in WEIGHT_ONLY[1:]:
            cycles = measure(2048, config, bits, block).total_cycles
            top = roofline(2048, weights=stored_weights(bits, block))
            cells.append(f"{cycles:,} ({cycles / top:.2f}x)")
        print(f"| {label} | " + " | ".join(cells) + " |")


def int8_table(base) -> None:
    """The QDQ step (``quantize_static``, then ``int8_kv_cache``: int8 weights, activations
    and cache) against the int8 bytes roofline: its weights and its cache read once."""
    print("| context | cycles | roofline | ratio | DRAM bytes |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for context in (1024, 2048, 4096):
        model = decode_step(d=D, heads=HEADS, context=context)
        samples = random_inputs(model, np.random.default_rng(0), 4)
        prog = compiler.compile(int8_kv_cache(quantize_int8(model, samples)), base)
        s = run(prog, None, numerics=False).stats
        top = (MATRIX_WEIGHTS + 2 * HEADS * context * DH) // 32
        print(
            f"| {context:,} | {s.total_cycles:,} | {top:,} | {s.total_cycles / top:.2f} "
            f"| {s.dram_read_bytes + s.dram_write_bytes:,} |"
        )


def with_sizes(config, bytes_per_cycle: int, kib: int):
    keys = ("scratchpad.input_kib", "scratchpad.weight_kib", "scratchpad.acc_kib")
    return config.with_overrides(
        {"dram.bytes_per_cycle": bytes_per_cycle} | dict.fromkeys(keys, kib)
    )


def llama_step(cfg, seq: int, past: int, bits: int, config, batch: int = 1):
    """Timing-only statistics of the zoo decoder's graph (``bits`` 32: fp32, else
    weight-only MatMulNBits in blocks of llm_cmd.BLOCK)."""
    spec = (cfg, None if bits == 32 else bits)
    prog = compiler.compile(llm_cmd.build(spec, seq, past, batch), config)
    return run(prog, None, numerics=False).stats


def batch_table(base, context: int = 1024) -> None:
    """The SMALL decoder's decode step for ``batch`` sequences at ``context``."""
    print("| batch | cycles a step | tokens/s | DRAM B a token | energy a token |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for batch in (1, 2, 4, 8, 16):
        s = llama_step(llama.SMALL, 1, context - 1, 32, base, batch)
        dram = (s.dram_read_bytes + s.dram_write_bytes) / batch
        tokens = batch * base.clock_mhz * 1e6 / s.total_cycles
        print(
            f"| {batch} | {s.total_cycles:,} | {tokens:,.0f} | {dram:,.0f} "
            f"| {s.energy_pj['total'] / 1e6 / batch:,.1f} µJ |"
        )


ONE_B_RUNS = (("prefill 512", 512, 0), ("decode 1,024", 1, 1023), ("decode 2,048", 1, 2047))


def one_b_scaled(seq: int, past: int, bits: int, config) -> tuple[int, int]:
    """Cycles and DRAM bytes of ONE_B's graph, from one layer: the graph without layers
    (final norm and LM head) plus ``layers`` times what one layer adds to it. The full
    model is never built (a one-layer build takes 3.6 GB; sixteen would not fit here)."""
    cfg = llama.ONE_B
    parts = [
        llama_step(dataclasses.replace(cfg, layers=n), seq, past, bits, config) for n in (0, 1)
    ]
    cycles, dram = (
        [p.total_cycles for p in parts],
        [p.dram_read_bytes + p.dram_write_bytes for p in parts],
    )
    scale = lambda v: v[0] + cfg.layers * (v[1] - v[0])  # noqa: E731
    return scale(cycles), scale(dram)


def one_b_table(base) -> None:
    """ONE_B at fp32, int8 and int4 weights: time to first token, decode steps, tokens/s."""
    print(
        "| weights | weight bytes | TTFT, prompt 512 | decode at 1,024 | tokens/s | "
        "decode at 2,048 | tokens/s | DRAM B a token at 2,048 | longest context in 8 GiB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    us = lambda cycles: f"{cycles:,} ({cycles / base.clock_mhz / 1e3:,.2f} ms)"  # noqa: E731
    for label, bits in (("fp32", 32), ("int8, block 32", 8), ("int4, block 32", 4)):
        (ttft, _), (d1, _), (d2, bytes2) = (
            one_b_scaled(seq, past, bits, base) for _, seq, past in ONE_B_RUNS
        )
        spec = (llama.ONE_B, None if bits == 32 else bits)
        weights = llm_cmd.weight_bytes(spec)
        longest = llm_cmd.max_context(spec, DEFAULT_MAX_MEMORY)
        tps = lambda c: f"{base.clock_mhz * 1e6 / c:,.1f}"  # noqa: E731
        print(
            f"| {label} | {weights:,} | {us(ttft)} | {us(d1)} | {tps(d1)} | {us(d2)} "
            f"| {tps(d2)} | {bytes2:,} | {longest:,} |"
        )


def main() -> None:
    base = load_config("base")
    if sys.argv[1:] == ["batch"]:
        return batch_table(base)
    if sys.argv[1:] == ["one_b"]:
        return one_b_table(base)
    if sys.argv[1:] == ["int8"]:
        return int8_table(base)
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
    print()
    width_table(base)
    print()
    int8_table(base)


if __name__ == "__main__":
    main()
