"""MODEL arguments: an ``.onnx`` file (compiled here), an ``.npuprog`` file, or ``zoo:NAME``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from compiler.partition import Partitioned
from npu import program_file
from simulator import Program
from simulator.config import NpuConfig
from simulator.errors import ConfigError, ModelError, UnsupportedOpError

ZOO_PREFIX = "zoo:"
PROGRAM_SUFFIX = ".npuprog"


@dataclass(frozen=True)
class Loaded:
    """A program ready to simulate (or a model cut into NPU and host partitions, run by
    ``npu.runtime``), with where it came from."""

    program: Program | Partitioned
    onnx_path: Path | None  # None when MODEL was an .npuprog: nothing to check against
    compile_s: float | None  # wall-clock compile time; None when nothing was compiled


def onnx_path(model: str) -> Path | None:
    """The .onnx file MODEL names (building a zoo model on first use), or None for a program."""
    if model.startswith(ZOO_PREFIX):
        return _zoo_path(model)
    path = Path(model)
    if path.suffix == PROGRAM_SUFFIX:
        return None
    if not path.is_file():
        raise ModelError(f"model file {model!r} does not exist")
    if path.suffix != ".onnx":
        raise ModelError(f"model {model!r} must be an .onnx file, an .npuprog file or zoo:NAME")
    return path


def _zoo_path(model: str) -> Path:
    try:
        import models_zoo
    except ImportError:  # the zoo package is optional at the front door
        raise ModelError(f"{model!r}: the model zoo (models_zoo) is not installed") from None
    return Path(models_zoo.resolve_model_path(model))


def check_exists(model: str) -> None:
    """ModelError now when MODEL names a file that is not there (zoo names are checked later)."""
    if not model.startswith(ZOO_PREFIX) and not Path(model).is_file():
        kind = "program" if Path(model).suffix == PROGRAM_SUFFIX else "model"
        raise ModelError(f"{kind} file {model!r} does not exist")


def load(
    model: str,
    config: NpuConfig,
    shapes: dict,
    *,
    config_given: bool,
    progress=None,
    max_memory: int | None = None,
    strict: bool = False,
    int8_attention: str = "exact",
) -> Loaded:
    """Compile MODEL for ``config``, or read it when it is a compiled program; ``strict``: any
    node the NPU cannot run is an error (else it runs on the host)."""
    path = onnx_path(model)
    if path is None:
        return Loaded(read_program(model, config, config_given, strict), None, None)
    start = time.perf_counter()
    program = compile_onnx(path, config, shapes, progress, max_memory, strict, int8_attention)
    return Loaded(program, path, time.perf_counter() - start)


def compile_onnx(
    path: Path,
    config: NpuConfig,
    shapes: dict,
    progress=None,
    max_memory: int | None = None,
    strict: bool = False,
    int8_attention: str = "exact",
) -> Program | Partitioned:
    """``progress(lowered, total)`` follows the lowering of the graph's nodes."""
    import compiler

    options = compiler.CompileOptions(
        input_shapes=shapes,
        progress=progress,
        max_memory=max_memory,
        strict=strict,
        int8_attention=int8_attention,
    )
    return compiler.compile_model(str(path), config, options)


def read_program(
    model: str, config: NpuConfig, config_given: bool, strict: bool = False
) -> Program | Partitioned:
    """Load an .npuprog; a --config/--set that differs from the one it was compiled for is an
    error, and so is a host partition in strict mode."""
    if not Path(model).is_file():
        raise ModelError(f"program file {model!r} does not exist")
    program = program_file.load(model)
    if strict and isinstance(program, Partitioned):
        first = program.host_segments[0]
        node, reason = next(iter(first.reasons.items()), (first.nodes[0], "host partition"))
        raise UnsupportedOpError(
            f"{model!r} runs node {node!r} ({first.ops[first.nodes.index(node)]}) on the host "
            f"({reason}); strict mode runs NPU programs only"
        )
    if config_given and config.fingerprint() != program.config.fingerprint():
        raise ConfigError(
            f"{model!r} was compiled for config {program.config.name!r} "
            f"(fingerprint {program.config.fingerprint()}), not {config.name!r} "
            f"({config.fingerprint()}); drop --config/--set or recompile the .onnx"
        )
    return program
