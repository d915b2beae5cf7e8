"""The zoo's public API: list, build, build to a cached file, resolve `zoo:NAME`."""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from models_zoo import cache, registry
from models_zoo.errors import ZooError
from models_zoo.quantize import CALIBRATION_SAMPLES, CALIBRATION_SEED, quantize_int8, random_inputs
from models_zoo.stats import model_stats

ZOO_PREFIX = "zoo:"
INT8_SUFFIX = "-int8"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    description: str
    available: bool  # False when an optional package (minilm_l6's weights) is missing
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]
    ops: tuple[str, ...]
    params: int
    macs: int


def build(name: str, int8: bool = False) -> onnx.ModelProto:
    """The model as an in-memory ModelProto (float32, or int8 QDQ)."""
    entry = qdq_entry(name) if int8 else registry.get(name)
    model = entry.builder()
    if not int8:
        return model
    rng = np.random.default_rng(CALIBRATION_SEED)
    calibrate = entry.calibration or (lambda r, n: random_inputs(model, r, n))
    return quantize_int8(model, calibrate(rng, CALIBRATION_SAMPLES))


def qdq_entry(name: str) -> registry.ZooModel:
    """The registry's entry of a model that has an int8 QDQ variant."""
    entry = registry.get(name)
    if not entry.qdq:
        raise ZooError(
            f"zoo model {name!r} has no int8 QDQ variant (the LLaMA decoders are quantised "
            "weight-only: llama_int8, llama_int4, llama_decode_int8, llama_decode_int4)"
        )
    return entry


def build_to_path(name: str, int8: bool = False, cache_dir: Path | None = None) -> Path:
    """The model's .onnx file in the cache, built on first use."""
    path = cache.cached_model_path(name, int8, cache_dir)
    cache.ensure_dir(path.parent)  # before a build that may take minutes
    if path.is_file():
        return path
    return cache.write_model(build(name, int8), path)


def list_models(cache_dir: Path | None = None) -> list[ModelInfo]:
    """Every zoo model with its statistics (computed once, then cached)."""
    return [model_info(name, cache_dir) for name in registry.names()]


def model_info(name: str, cache_dir: Path | None = None) -> ModelInfo:
    entry = registry.get(name)
    described = dict(name=name, family=entry.family, description=entry.description)
    if not entry.available():
        return ModelInfo(
            **described, available=False, inputs={}, outputs={}, ops=(), params=0, macs=0
        )
    stats_path = cache.cached_stats_path(name, cache_dir)
    stats = cache.read_json(stats_path)
    if stats is None:
        stats = asdict(model_stats(build(name)))
        cache.write_json(stats, stats_path)
    return ModelInfo(
        **described,
        available=True,
        inputs={k: tuple(v) for k, v in stats["inputs"].items()},
        outputs={k: tuple(v) for k, v in stats["outputs"].items()},
        ops=tuple(stats["ops"]),
        params=stats["params"],
        macs=stats["macs"],
    )


def sample_inputs(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """One seeded input set for the model (real sentences for minilm_l6)."""
    entry, rng = registry.get(name), np.random.default_rng(seed)
    if entry.calibration:
        return entry.calibration(rng, 1)[0]
    shapes = model_info(name).inputs
    return {k: rng.standard_normal(shape).astype(np.float32) for k, shape in shapes.items()}


def parse_zoo_name(spec: str) -> tuple[str, bool]:
    """'resnet18' -> ('resnet18', False); 'resnet18-int8' -> ('resnet18', True)."""
    name = spec.removeprefix(ZOO_PREFIX)
    int8 = name.endswith(INT8_SUFFIX)
    name = name.removesuffix(INT8_SUFFIX)
    if int8:
        qdq_entry(name)
    registry.get(name)
    return name, int8


def is_zoo_spec(spec: str | Path) -> bool:
    return isinstance(spec, str) and spec.startswith(ZOO_PREFIX)


def resolve_model_path(spec: str | Path, cache_dir: Path | None = None) -> Path:
    """`zoo:NAME[-int8]` -> the cached .onnx file; any other path is returned as a Path."""
    if not is_zoo_spec(spec):
        return Path(spec)
    name, int8 = parse_zoo_name(spec)
    return build_to_path(name, int8, cache_dir)
