"""Compile and simulate every zoo model (float, and its int8 variant's cycles) at the `base`
preset: the measured numbers that docs/models.md shows (`make measure`, then `make docs`).

    python scripts/measure_zoo.py > models_zoo/measured_base.json
    python scripts/measure_zoo.py --into models_zoo/measured_base.json NAME...  # those rows

Deterministic (same compiler and simulator -> same JSON); takes several minutes, which is why
the docs generator reads this file instead of simulating. Each model's simulated outputs are
compared with onnxruntime on the zoo's sample inputs and the result is recorded too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import models_zoo
from compiler.check import compare_with_onnxruntime
from compiler.driver import compile
from models_zoo import minilm
from simulator.api import run
from simulator.config import load_config

PRESET = "base"


def measure_int8(name: str, config) -> int:
    """Cycles of the int8 QDQ variant (its numerics are tested on `small` in
    tests/zoo/test_zoo_compile_int8.py)."""
    program = compile(models_zoo.build(name, int8=True), config)
    return run(program, models_zoo.sample_inputs(name), checked=False).stats.total_cycles


def measure(name: str, config) -> dict:
    errors, result = compare_with_onnxruntime(
        models_zoo.build(name), config, models_zoo.sample_inputs(name), checked=False
    )
    s = result.stats
    return {
        "cycles": s.total_cycles,
        **({"int8_cycles": measure_int8(name, config)} if name in models_zoo.qdq_names() else {}),
        "executed_array_macs": s.macs,
        "dram_read_bytes": s.dram_read_bytes,
        "dram_write_bytes": s.dram_write_bytes,
        "matches_onnxruntime": all(e.passed for e in errors),
        "max_abs_error": max(e.max_abs_error for e in errors),
    }


def main(names: list[str]) -> dict:
    config = load_config(PRESET)
    models = {}
    for name in names:
        if name == "minilm_l6" and not minilm.available():
            continue
        print(f"measuring {name}", file=sys.stderr, flush=True)
        models[name] = measure(name, config)
    return {
        "preset": PRESET,
        "peak_macs_per_cycle": config.peak_macs_per_cycle,
        "clock_mhz": config.clock_mhz,
        "rtol": 1e-3,
        "atol": 1e-4,
        "models": models,
    }


def merged(path: Path, names: list[str]) -> dict:
    """The measurements in ``path`` with the rows of ``names`` measured anew (the rest kept)."""
    old = json.loads(path.read_text())
    new = main(names)
    if {k: v for k, v in old.items() if k != "models"} != {
        k: v for k, v in new.items() if k != "models"
    }:
        raise SystemExit(f"{path} was measured with another preset or tolerance")
    return {**old, "models": {**old["models"], **new["models"]}}


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--into"]:
        path = Path(args[1])
        text = json.dumps(merged(path, args[2:]), indent=2, sort_keys=True) + "\n"
        path.write_text(text)
    else:
        out = main(args or models_zoo.names())
        sys.stdout.write(json.dumps(out, indent=2, sort_keys=True) + "\n")
