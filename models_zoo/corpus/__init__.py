"""The corpus: real-world-shaped models the project exports itself with torch, as users'
models arrive (torch.onnx.export, then onnxruntime's quantize_static for the int8 variants).

torch is needed only to build them (the ``dev`` extra installs the local CPU wheel); the
exported files are cached beside the zoo's (``$NPU_ZOO_CACHE``), keyed by the corpus and model
versions and the torch version, so nothing imports torch once a model is built. Weights come
from ``torch.manual_seed(SEED)``; exports are deterministic (same bytes on every build).
"""

from __future__ import annotations

import importlib.metadata
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from models_zoo import cache
from models_zoo.errors import ZooError
from models_zoo.quantize import quantize_int8

CORPUS_VERSION = 1  # bump when the export settings change every model's bytes
SEED = 0
OPSET = 17


@dataclass(frozen=True)
class CorpusModel:
    name: str
    description: str
    module: str  # class name in corpus.vision / corpus.audio
    inputs: Callable[[np.random.Generator], dict[str, np.ndarray]]
    version: int = 1
    # exported with symbolic axes (torch's dynamic_axes): compiled with the sample inputs'
    # shapes (``input_shapes``), as a user passes --input-shape
    dynamic_axes: dict[str, dict[int, str]] | None = None


def _image(c, h, w):
    return lambda rng: {"x": rng.standard_normal((1, c, h, w)).astype(np.float32)}


def _tokens(vocab, seq, mask=False):
    def make(rng):
        out = {"ids": rng.integers(0, vocab, (1, seq)).astype(np.int64)}
        if mask:
            m = np.ones((1, seq), np.int64)
            m[:, int(rng.integers(seq // 2, seq)) :] = 0  # padding at the end
            out["mask"] = m
        return out

    return make


def _bytes(length):
    return lambda rng: {"ids": rng.integers(0, 256, (1, length)).astype(np.int64)}


def _spec(rng):
    return {"spec": np.abs(rng.standard_normal((1, 20, 65))).astype(np.float32)}


def _wave(rng):
    return {"wav": (0.1 * rng.standard_normal((1, 1, 2048))).astype(np.float32)}


MODELS = {
    m.name: m
    for m in [
        CorpusModel("yolo_det", "YOLO-style detector, 64x64, SiLU, grid/anchor decode", "YoloDetector", _image(3, 64, 64)),
        CorpusModel("yolo_det_dyn", "the detector exported with symbolic height and width: the grid from Shape, Range, Expand", "YoloDetector", _image(3, 64, 64), dynamic_axes={"x": {2: "h", 3: "w"}}),
        CorpusModel("mobilenet_v3", "MobileNetV3-small-like, 64x64, hard-swish, SE", "MobileNetV3", _image(3, 64, 64)),
        CorpusModel("efficientnet", "EfficientNet-B0-like, 64x64, SiLU, SE", "EfficientNet", _image(3, 64, 64)),
        CorpusModel("convnext", "ConvNeXt-like, 64x64, 7x7 depthwise, LayerNorm, GELU", "ConvNeXt", _image(3, 64, 64)),
        CorpusModel("vit", "ViT, 32x32 in 8x8 patches, 2 blocks, cls token", "ViT", _image(3, 32, 32)),
        CorpusModel("crnn", "CRNN text recogniser, 32x64 line, bidirectional LSTM", "CRNN", _image(1, 32, 64)),
        CorpusModel("gru_enhancer", "speech enhancer: 2-layer GRU spectral mask, 20 frames", "GruEnhancer", _spec),
        CorpusModel("dscnn_kws", "DS-CNN keyword spotter, 49x10 MFCC", "DsCnn", _image(1, 49, 10)),
        CorpusModel("mel_frontend", "log-mel front end: STFT as Conv1d, Log, ReduceMax", "MelFrontEnd", _wave),
        CorpusModel("whisper_encoder", "Whisper-style audio encoder, 32 mels x 64 frames", "WhisperEncoder", lambda rng: {"mel": rng.standard_normal((1, 32, 64)).astype(np.float32)}),
        CorpusModel("text_classifier", "token-id classifier: embedding Gather, attention mask", "TextClassifier", _tokens(1000, 32, mask=True)),
        CorpusModel("lstm_tagger", "sequence tagger: embedding Gather, 2-layer LSTM", "LstmTagger", _tokens(500, 24)),
        CorpusModel("byte_classifier", "byte-level text classifier: byte embedding, dilated Conv1d, max over time", "ByteClassifier", _bytes(64)),
        CorpusModel("tcn_forecaster", "temporal conv net: causal dilated Conv1d (Pad), residuals, 8 sensors x 128 steps", "TcnForecaster", lambda rng: {"x": rng.standard_normal((1, 8, 128)).astype(np.float32)}),
        CorpusModel("conformer", "Conformer speech encoder: Conv2d subsampling, GLU, depthwise Conv1d, SiLU, attention", "ConformerEncoder", lambda rng: {"mel": rng.standard_normal((1, 64, 40)).astype(np.float32)}),
    ]
}  # fmt: skip
INT8 = (
    "dscnn_kws",
    "mobilenet_v3",
    "efficientnet",
    "vit",
    "yolo_det",
    "crnn",
    "conformer",
    "tcn_forecaster",
)  # -int8 variants


def names() -> list[str]:
    """Every corpus entry, float then int8 (``NAME-int8``)."""
    return [*MODELS, *(f"{n}-int8" for n in INT8)]


def get(spec: str) -> tuple[CorpusModel, bool]:
    name = spec.removesuffix("-int8")
    int8 = spec.endswith("-int8")
    if name not in MODELS or (int8 and name not in INT8):
        raise ZooError(f"unknown corpus model {spec!r}; known: {', '.join(names())}")
    return MODELS[name], int8


def sample_inputs(spec: str, seed: int = 0) -> dict[str, np.ndarray]:
    return get(spec)[0].inputs(np.random.default_rng(seed))


def input_shapes(spec: str) -> dict[str, tuple[int, ...]] | None:
    """The shapes to compile a model exported with symbolic axes for (None: static)."""
    entry, _ = get(spec)
    if not entry.dynamic_axes:
        return None
    return {k: v.shape for k, v in sample_inputs(spec).items()}


def torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        raise ZooError(
            "the corpus models are exported with torch, which is not installed "
            "(make .venv/.stamp-dev installs the dev extra, torch included)"
        ) from None


def build(spec: str) -> onnx.ModelProto:
    """Export the model with torch (float32), then quantise it for ``-int8``."""
    entry, int8 = get(spec)
    model = _export(entry)
    if not int8:
        return model
    rng = np.random.default_rng(1234)
    return quantize_int8(model, [entry.inputs(rng) for _ in range(4)])


def build_to_path(spec: str, cache_dir=None):
    entry, int8 = get(spec)
    stem = f"corpus-{entry.name}-v{CORPUS_VERSION}.{entry.version}-torch{torch_version()}"
    if int8:
        import onnxruntime

        stem += f"-int8-ort{onnxruntime.__version__}"
    path = (cache_dir or cache.default_cache_dir()) / f"{stem}.onnx"
    if not path.is_file():
        cache.write_model(build(spec), path)
    return path


def _export(entry: CorpusModel) -> onnx.ModelProto:
    import torch

    from models_zoo.corpus import audio, sequence, vision

    torch.manual_seed(SEED)
    modules = (vision, audio, sequence)
    cls = next(getattr(m, entry.module) for m in modules if hasattr(m, entry.module))
    module = cls().eval()
    example = entry.inputs(np.random.default_rng(SEED))
    args = tuple(torch.from_numpy(v) for v in example.values())
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            buf,
            input_names=list(example),
            output_names=["out"],
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=True,
            dynamic_axes=entry.dynamic_axes,
        )
    model = onnx.load_from_string(buf.getvalue())
    model.graph.name = entry.name
    model.doc_string = f"corpus:{entry.name}: {entry.description} (torch {torch.__version__})"
    return model
