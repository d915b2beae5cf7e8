"""MODEL arguments: an ``.onnx`` file (compiled here), an ``.npuprog`` file, or ``zoo:NAME``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from simulator import Program, load_program
from simulator.config import NpuConfig
from simulator.errors import ConfigError, ModelError

ZOO_PREFIX = "zoo:"
PROGRAM_SUFFIX = ".npuprog"


@dataclass(frozen=True)
class Loaded:
    """A program ready to simulate, with where it came from."""

    program: Program
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
) -> Loaded:
    """Compile MODEL for ``config``, or read it when it is a compiled program."""
    path = onnx_path(model)
    if path is None:
        return Loaded(read_program(model, config, config_given), None, None)
    start = time.perf_counter()
    program = compile_onnx(path, config, shapes, progress, max_memory)
    return Loaded(program, path, time.perf_counter() - start)


def compile_onnx(
    path: Path, config: NpuConfig, shapes: dict, progress=None, max_memory: int | None = None
) -> Program:
    """``progress(lowered, total)`` follows the lowering of the graph's nodes."""
    import compiler

    options = compiler.CompileOptions(input_shapes=shapes, progress=progress, max_memory=max_memory)
    return compiler.compile(str(path), config, options)


def read_program(model: str, config: NpuConfig, config_given: bool) -> Program:
    """Load an .npuprog; a --config/--set that differs from the one it was compiled for is an error."""
    if not Path(model).is_file():
        raise ModelError(f"program file {model!r} does not exist")
    program = load_program(model)
    if config_given and config.fingerprint() != program.config.fingerprint():
        raise ConfigError(
            f"{model!r} was compiled for config {program.config.name!r} "
            f"(fingerprint {program.config.fingerprint()}), not {config.name!r} "
            f"({config.fingerprint()}); drop --config/--set or recompile the .onnx"
        )
    return program
