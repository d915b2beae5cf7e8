"""The figures of docs/codesign.md's study, from its sweep database (`make codesign`).

    python scripts/codesign_plots.py out/codesign.sqlite docs/codesign

Writes OUTDIR/<model>.png (the three Pareto fronts of `npu sweep --html`) for each model of the
rows of the current toolchain version, and prints each model's latency-area front as a
Markdown table.
"""

from __future__ import annotations

import sys
from pathlib import Path

from npu.sweep.report_html import figure
from npu.sweep.store import Store, toolchain_version
from npu.sweep.table import Table

KEYS = ("array.rows", "array.cols", "scratchpad.weight_kib", "dram.bytes_per_cycle")


def main(db: str, outdir: str) -> None:
    version = toolchain_version()
    store = Store(db)
    rows = [r for r in store.rows() if r["version"] == version]
    store.close()
    table = Table(rows, KEYS)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    for model in sorted({r["model"] for r in table}):
        done = [r for r in table if r["model"] == model and r["status"] == "ok"]
        name = model.removeprefix("zoo:")
        (Path(outdir) / f"{name}.png").write_bytes(figure(done))
        print(f"\n{model}: {len(done)} points, latency-area front:\n")
        print(
            "| " + " | ".join((*KEYS, "latency (us)", "energy (uJ)", "area (mm^2)", "util")) + " |"
        )
        print("|" + " --- |" * (len(KEYS) + 4))
        for r in sorted(table.front(model, "latency-area"), key=lambda r: r["area_mm2"]):
            cells = [str(r["point"][k]) for k in KEYS]
            cells += [f"{r['latency_us']:,.1f}", f"{r['energy_uj']:,.1f}", f"{r['area_mm2']:.2f}"]
            cells.append(f"{r['array_utilization']:.0%}")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
