"""``npu dit [MODEL] --steps N``: a diffusion transformer's denoising loop on the NPU.

One denoising step is one forward pass of the denoiser over every token of the clip (with
classifier-free guidance, ``--cfg``, two: conditioned and unconditioned). The step is compiled
at the clip's token count (``--frames``, ``--size``: the video DiT of the zoo, built in code)
and simulated timing-only by default (cycles and statistics are the full simulation's; no
data moves, so 16k-token clips fit); ``--check`` simulates the numerics too and compares the
outputs with onnxruntime. Reported: tokens, cycles and time per step, array utilisation, DRAM
bytes and energy per step, and per clip for the given step count.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import compiler
import simulator
from compiler.check import check_outputs, output_scales, reference
from compiler.driver import CompileOptions
from models_zoo import transformers
from npu import options as opts
from npu import outputs
from simulator.errors import ModelError
from simulator.limits import DEFAULT_MAX_MEMORY

MODELS = ("zoo:dit_video",)
_count = opts.int_in(1 << 16)
DEFAULTS = {"frames": 4, "size": 32, "layers": 2, "d": 256, "heads": 4}
EXAMPLES = """\
examples:
  npu dit zoo:dit_video --steps 50
  npu dit zoo:dit_video --frames 16 --size 64 --layers 1 --steps 50 --cfg
  npu dit zoo:dit_video --frames 2 --size 32 --steps 4 --check --json dit.json
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dit",
        help="a diffusion transformer's denoising steps: time per step and per clip",
        description="Simulate a video diffusion transformer's denoising step at a clip's "
        "token count and report the time per step and per clip.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", nargs="?", default=MODELS[0], help=MODELS[0])
    p.add_argument("--steps", type=_count, required=True, metavar="N", help="denoising steps")
    p.add_argument("--frames", type=_count, default=DEFAULTS["frames"], metavar="F")
    p.add_argument("--size", type=_count, default=DEFAULTS["size"], metavar="S",
                   help="latent height and width (even)")  # fmt: skip
    p.add_argument("--layers", type=_count, default=DEFAULTS["layers"], metavar="L")
    p.add_argument("--cfg", action="store_true", help="classifier-free guidance: two passes")
    p.add_argument("--check", action="store_true", help="simulate numerics, compare with ORT")
    opts.add_config(p, shapes=False)
    p.add_argument("--json", metavar="OUT.json", help="write the figures as JSON")
    p.set_defaults(func=run)


def tokens_of(args: argparse.Namespace) -> int:
    return args.frames * (args.size // 2) ** 2


def _validate(args: argparse.Namespace) -> None:
    if args.model not in MODELS:
        raise ModelError(f"npu dit: unknown model {args.model!r}; known: {', '.join(MODELS)}")
    if args.size % 2:
        raise ModelError(f"npu dit: --size {args.size} is odd; the patches are 2x2")
    tokens = tokens_of(args)
    if tokens > 65536:
        raise ModelError(f"npu dit: {tokens} tokens (--frames x (--size/2)^2) exceed 65536")
    budget = opts.max_memory(args) or DEFAULT_MAX_MEMORY
    scores = DEFAULTS["heads"] * tokens * tokens * 4  # onnxruntime holds every score
    if args.check and scores > budget:
        raise ModelError(
            f"npu dit: --check at {tokens} tokens: onnxruntime would hold {scores:,} bytes of "
            f"attention scores, over the memory budget of {budget:,} (--max-memory)"
        )


def run(args: argparse.Namespace) -> int:
    _validate(args)
    outputs.check_outputs({"--json": args.json}, opts.input_files(args))
    config = opts.resolve_config(args)
    figures = simulate(args, config)
    print_figures(figures)
    with outputs.output_batch() as out:
        if args.json:
            out.write_text(args.json, json.dumps(figures, indent=2) + "\n")
    return 1 if figures.get("matches_onnxruntime") is False else 0


def _inputs(tokens: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "latent_patches": rng.standard_normal((1, tokens, 16)).astype(np.float32),
        "conditioning": rng.standard_normal((1, DEFAULTS["d"])).astype(np.float32),
    }


def simulate(args: argparse.Namespace, config) -> dict:
    tokens = tokens_of(args)
    model = transformers.dit_video(frames=args.frames, size=args.size, layers=args.layers)
    inputs = _inputs(tokens)
    start = time.perf_counter()
    program = compiler.compile(model, config, CompileOptions(max_memory=opts.max_memory(args)))
    compiled = time.perf_counter()
    result = simulator.run(program, inputs, numerics=args.check)
    done = time.perf_counter()
    matches = None
    if args.check:
        want = reference(model, inputs)
        matches = all(c.passed for c in check_outputs(result.outputs, want, output_scales(model)))
    return summarise(
        args, config, tokens, result.stats, (compiled - start, done - compiled), matches
    )


def summarise(args, config, tokens: int, s, wall: tuple[float, float], matches) -> dict:
    passes = 2 if args.cfg else 1
    step_cycles = passes * s.total_cycles
    step_us = step_cycles / config.clock_mhz
    energy = passes * s.energy_pj["total"] / 1e6
    figures = {
        "model": {**DEFAULTS, "frames": args.frames, "size": args.size, "layers": args.layers},
        "tokens": tokens,
        "config": config.name,
        "passes_per_step": passes,
        "step_cycles": step_cycles,
        "step_ms": step_us / 1e3,
        "array_utilization": s.array_utilization,
        "dram_bytes_per_step": passes * (s.dram_read_bytes + s.dram_write_bytes),
        "energy_uj_per_step": energy,
        "steps": args.steps,
        "clip_s": args.steps * step_us / 1e6,
        "clip_energy_mj": args.steps * energy / 1e3,
        "compile_s": wall[0],
        "simulate_s": wall[1],
        "numerics": bool(args.check),
    }
    if matches is not None:
        figures["matches_onnxruntime"] = matches
    return figures


def print_figures(f: dict) -> None:
    m = f["model"]
    print(
        f"video DiT: {m['frames']} frames of {m['size']}x{m['size']} latents = {f['tokens']:,} "
        f"tokens, {m['layers']} blocks, hidden {m['d']}, {m['heads']} heads ({f['config']})"
    )
    cfg = " (2 passes: classifier-free guidance)" if f["passes_per_step"] == 2 else ""
    print(
        f"denoising step{cfg}: {f['step_cycles']:,} cycles = {f['step_ms']:.2f} ms, array "
        f"{f['array_utilization']:.1%} busy, {f['dram_bytes_per_step']:,} DRAM B, "
        f"{f['energy_uj_per_step']:,.0f} µJ"
    )
    print(
        f"clip of {f['steps']} steps: {f['clip_s']:.3f} s, {f['clip_energy_mj']:,.1f} mJ  "
        f"(compiled in {f['compile_s']:.1f} s, simulated in {f['simulate_s']:.1f} s"
        f"{', numerics checked' if f['numerics'] else ', timing only'})"
    )
    if "matches_onnxruntime" in f:
        verdict = "match" if f["matches_onnxruntime"] else "DO NOT match"
        print(f"outputs {verdict} onnxruntime (rtol 1e-3)")
