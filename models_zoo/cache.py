"""Built models on disk, keyed by name, variant and builder versions.

The cache lives in `$NPU_ZOO_CACHE`, else `~/.cache/npu-toolchain/zoo`. A file's name
carries everything its bytes depend on (zoo and model versions; for int8, the
onnxruntime version that quantized it), so a stale file is never reused. Writes go to a
temporary file first and are renamed into place, so concurrent test workers are safe.
"""

import json
import os
import tempfile
from pathlib import Path

import onnx
import onnxruntime

from models_zoo import registry
from models_zoo.errors import ZooError

CACHE_ENV = "NPU_ZOO_CACHE"


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path.home() / ".cache" / "npu-toolchain" / "zoo"


def cache_stem(name: str, int8: bool) -> str:
    entry = registry.get(name)
    stem = f"{name}-v{registry.ZOO_VERSION}.{entry.version}"
    return f"{stem}-int8-ort{onnxruntime.__version__}" if int8 else stem


def cached_model_path(name: str, int8: bool, cache_dir: Path | None) -> Path:
    return (cache_dir or default_cache_dir()) / f"{cache_stem(name, int8)}.onnx"


def cached_stats_path(name: str, cache_dir: Path | None) -> Path:
    return (cache_dir or default_cache_dir()) / f"{cache_stem(name, int8=False)}.stats.json"


def write_model(model: onnx.ModelProto, path: Path) -> Path:
    _write_atomic(path, model.SerializeToString())
    return path


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(data: dict, path: Path) -> None:
    _write_atomic(path, json.dumps(data, indent=1).encode())


def ensure_dir(folder: Path) -> Path:
    """The cache folder, created if missing; ZooError when it cannot be (a file, no rights)."""
    where = f"zoo cache {str(folder)!r} (${CACHE_ENV} or --cache-dir)"
    if folder.exists() and not folder.is_dir():
        raise ZooError(f"{where} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot create {where}: {exc.strerror or exc}") from None
    return folder


def _write_atomic(path: Path, data: bytes) -> None:
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ZooError(f"cannot write the zoo cache {str(path.parent)!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
