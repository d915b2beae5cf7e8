"""``npu llm MODEL --prompt-len P --gen-len G [--batch B]``: a language model served on the NPU.

The prompt's prefill and every decode step are compiled (static shapes: one program per
context length) and simulated in turn, each step's present KV cache fed to the next as its
past (the new tokens' embeddings are seeded random: the zoo's decoders take embedded
tokens). With ``--batch B`` the graphs take B sequences (a decode step's projections are
GEMMs of M = B: every weight is read once a step for all B) and the figures per token count
B tokens a step; the same run at B = 1 is reported beside them. Reported: time to first
token, time per output token against the context, tokens per second, DRAM bytes and energy
per token against the weight bytes, and the longest context whose weights and cache fit the
memory budget.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

import numpy as np

import compiler
import simulator
from models_zoo import llama
from npu import options as opts
from npu import outputs
from simulator.errors import ModelError
from simulator.limits import DEFAULT_MAX_MEMORY

BLOCK = 32  # weights per scale and zero point of the weight-only variants
# name -> (decoder, weight bits: None for fp32, else MatMulNBits); npu llm runs the prefill
# and the decode steps of each, so zoo:llama_decode* name the same decoders
MODELS = {
    f"zoo:llama{graph}{suffix}": (llama.SMALL, bits)
    for graph in ("", "_decode")
    for suffix, bits in (("", None), ("_int8", 8), ("_int4", 4))
}
EXAMPLES = """\
examples:
  npu llm zoo:llama --prompt-len 32 --gen-len 8
  npu llm zoo:llama_decode_int4 --prompt-len 32 --gen-len 8
  npu llm zoo:llama --prompt-len 32 --gen-len 4 --batch 8
  npu llm zoo:llama --prompt-len 64 --gen-len 4 --set dram.bytes_per_cycle=64 --plot tpot.png
"""


_positive = opts.int_in(1 << 20)
MAX_BATCH = 1024  # sequences decoded together (each its own cache)


@dataclass(frozen=True)
class Step:
    context: int  # positions in the cache after the step
    cycles: int
    dram_bytes: int
    energy_uj: float


def add_parser(sub) -> None:
    p = sub.add_parser(
        "llm",
        help="prefill and decode a zoo language model: TTFT, time per token, tokens/s",
        description="Simulate a language model's prefill and decode steps with the KV cache "
        "growing.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help=f"one of {', '.join(MODELS)}")
    p.add_argument("--prompt-len", type=_positive, required=True, metavar="P")
    p.add_argument("--gen-len", type=_positive, required=True, metavar="G")
    p.add_argument("--batch", type=opts.int_in(MAX_BATCH), default=1, metavar="B",
                   help="sequences decoded together (1)")  # fmt: skip
    opts.add_config(p, shapes=False)
    p.add_argument("--json", metavar="OUT.json", help="write the figures as JSON")
    p.add_argument("--plot", metavar="OUT.png", help="plot time per token against context")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = MODELS.get(args.model)
    if spec is None:
        raise ModelError(f"npu llm: unknown model {args.model!r}; known: {', '.join(MODELS)}")
    outputs.check_outputs({"--json": args.json, "--plot": args.plot}, opts.input_files(args))
    config = opts.resolve_config(args)
    budget = opts.max_memory(args)
    first, steps = simulate(spec, args.prompt_len, args.gen_len, config, batch=args.batch)
    figures = summarise(spec, config, first, steps, budget, args.batch)
    if args.batch > 1:
        single = simulate(spec, args.prompt_len, args.gen_len, config)
        figures["batch_1"] = summarise(spec, config, *single, budget)
    print_figures(figures)
    with outputs.output_batch() as out:
        if args.json:
            out.write_text(args.json, json.dumps(figures, indent=2) + "\n")
        if args.plot:
            picture = plot(steps, config.clock_mhz)
            out.write(args.plot, lambda tmp: tmp.write_bytes(picture))
    return 0


def _stats(result) -> tuple[int, int, float]:
    s = result.stats
    return s.total_cycles, s.dram_read_bytes + s.dram_write_bytes, s.energy_pj["total"] / 1e6


def build(spec, seq: int, past: int, batch: int = 1):
    """The decoder graph of ``seq`` tokens after ``past`` for ``batch`` sequences (fp32 or
    weight-only quantised)."""
    cfg, bits = spec
    if bits is None:
        return llama.llama(cfg, seq=seq, past=past, batch=batch)
    return llama.llama_nbits(cfg, seq=seq, past=past, bits=bits, block=BLOCK, batch=batch)


def simulate(
    spec, prompt: int, gen: int, config, seed: int = 0, batch: int = 1
) -> tuple[Step, list[Step]]:
    """The prefill of ``prompt`` tokens, then ``gen - 1`` decode steps (the first output
    token comes from the prefill), each fed the previous present caches; ``batch``
    sequences at once."""
    cfg = spec[0]
    rng = np.random.default_rng(seed)
    embed = lambda n: rng.standard_normal((batch, n, cfg.d)).astype(np.float32)  # noqa: E731
    program = compiler.compile(build(spec, prompt, 0, batch), config)
    result = simulator.run(program, {"inputs_embeds": embed(prompt)})
    first = Step(prompt, *_stats(result))
    steps, context = [], prompt
    for _ in range(gen - 1):
        feeds = {"inputs_embeds": embed(1), **_past(result.outputs)}
        program = compiler.compile(build(spec, 1, context, batch), config)
        result = simulator.run(program, feeds)
        context += 1
        steps.append(Step(context, *_stats(result)))
    return first, steps


def _past(outputs_: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "past_key_values." + name.removeprefix("present."): value
        for name, value in outputs_.items()
        if name.startswith("present.")
    }


def weight_bytes(spec) -> int:
    """DRAM bytes of the weights as the NPU holds them: fp32 matrices, or ``bits``-bit codes
    and an fp32 scale and zero point per block; the norms' fp32 weights."""
    cfg, bits = spec
    d, kv, f = cfg.d, cfg.kv_heads * cfg.head_dim, cfg.ffn
    matrices = cfg.layers * (2 * d * d + 2 * d * kv + 3 * d * f) + d * cfg.vocab
    norms = 4 * (2 * d * cfg.layers + d)
    if bits is None:
        return 4 * matrices + norms
    return matrices * bits // 8 + matrices // BLOCK * 8 + norms


def summarise(spec, config, first: Step, steps: list[Step], max_memory, batch: int = 1) -> dict:
    """The figures of a run; a step of ``batch`` sequences makes ``batch`` tokens, so the
    per-token bytes and energy are a step's over ``batch``; ``max_context`` is per sequence
    (``batch`` caches share the budget)."""
    us = lambda cycles: cycles / config.clock_mhz  # noqa: E731
    per_step = [s.cycles for s in steps]
    mean = float(np.mean(per_step)) if per_step else float(first.cycles)
    budget = max_memory or DEFAULT_MAX_MEMORY
    weights = weight_bytes(spec)
    per_token = lambda key: float(np.mean([getattr(s, key) for s in steps])) / batch  # noqa: E731
    return {
        "model": asdict(spec[0]),
        "weight_bits": spec[1] or 32,
        "config": config.name,
        "batch": batch,
        "prompt_len": first.context,
        "ttft_cycles": first.cycles,
        "ttft_us": us(first.cycles),
        "steps": [asdict(s) for s in steps],
        "tpot_us_mean": us(mean),
        "tokens_per_s": batch * 1e6 / us(mean),
        "weight_bytes": weights,
        "dram_bytes_per_token": per_token("dram_bytes") if steps else None,
        "energy_uj_per_token": per_token("energy_uj") if steps else None,
        "kv_bytes_per_token": kv_bytes_per_token(spec[0]),
        "max_context": max_context(spec, budget, batch),
    }


def kv_bytes_per_token(cfg) -> int:
    """One position of one sequence's caches: K and V, fp32, every layer."""
    return 2 * cfg.layers * cfg.kv_heads * cfg.head_dim * 4


def max_context(spec, budget: int, batch: int = 1) -> int:
    """The longest context of ``batch`` sequences whose caches and the weights fit
    ``budget`` bytes (activations not counted)."""
    return max(0, (budget - weight_bytes(spec)) // (kv_bytes_per_token(spec[0]) * batch))


def print_figures(f: dict) -> None:
    seqs = f" x {f['batch']} sequences" if f["batch"] > 1 else ""
    print(
        f"prefill of {f['prompt_len']} tokens{seqs}: {f['ttft_cycles']:,} cycles, "
        f"TTFT {f['ttft_us']:.1f} µs"
    )
    for s in f["steps"]:
        print(
            f"  decode at context {s['context']:>6}: {s['cycles']:>10,} cycles  {s['dram_bytes']:>12,} DRAM B  {s['energy_uj']:.1f} µJ"
        )
    step = "output token" if f["batch"] == 1 else f"step ({f['batch']} tokens)"
    print(f"time per {step} {f['tpot_us_mean']:.1f} µs  ({f['tokens_per_s']:,.0f} tokens/s)")
    if f["dram_bytes_per_token"] is not None:
        ratio = f["dram_bytes_per_token"] / f["weight_bytes"]
        print(
            f"DRAM bytes per token {f['dram_bytes_per_token']:,.0f} ({ratio:.2f}x the "
            f"{f['weight_bytes']:,} weight bytes)  energy per token {f['energy_uj_per_token']:.1f} µJ"
        )
    one = f.get("batch_1")
    if one and one["dram_bytes_per_token"] is not None:
        print(
            f"batch 1: {one['tpot_us_mean']:.1f} µs a step, {one['tokens_per_s']:,.0f} tokens/s, "
            f"{one['dram_bytes_per_token']:,.0f} DRAM B and {one['energy_uj_per_token']:.1f} µJ "
            f"per token (batch {f['batch']}: {f['tokens_per_s'] / one['tokens_per_s']:.2f}x the "
            f"tokens/s, {f['dram_bytes_per_token'] / one['dram_bytes_per_token']:.2f}x the "
            f"bytes per token)"
        )
    caches = f" ({f['batch']} caches)" if f["batch"] > 1 else ""
    print(
        f"KV cache {f['kv_bytes_per_token']:,} B per token: the longest context that fits the "
        f"memory budget{caches} is {f['max_context']:,} tokens"
    )


def plot(steps: list[Step], clock_mhz: float) -> bytes:
    from npu.plots import plt, png

    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    ax.plot([s.context for s in steps], [s.cycles / clock_mhz for s in steps], marker="o")
    ax.set_xlabel("context (tokens in the KV cache)")
    ax.set_ylabel("time per output token (µs)")
    ax.set_title("decode step time against context")
    ax.set_ylim(bottom=0)
    return png(fig)
