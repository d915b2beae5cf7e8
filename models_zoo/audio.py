"""A music-generation backbone: 1-D convolutions over audio-token frames plus attention.

The shape of codec-token models (MusicGen-like decoders with a Conformer flavour): a
Conv1d stem over [1, channels, frames] latent frames, blocks of self-attention and a
convolution module (pointwise, depthwise k=7, BatchNorm, SiLU, pointwise), and a head
giving logits over a 1024-entry codebook for every frame.
"""

import onnx

from models_zoo.layers import ModelBuilder
from models_zoo.weights import SeededWeights


def conv_module(b: ModelBuilder, x, name, d, kernel=7):
    """Conformer convolution module on [1, frames, d]; convolves over frames."""
    h = b.transpose(x, [0, 2, 1])
    h = b.conv(h, f"{name}.pointwise_conv1", d, d, 1, ndim=1)
    h = b.conv(h, f"{name}.depthwise_conv", d, d, kernel, groups=d, ndim=1)
    h = b.silu(b.batchnorm(h, f"{name}.batch_norm", d))
    h = b.conv(h, f"{name}.pointwise_conv2", d, d, 1, ndim=1)
    return b.transpose(h, [0, 2, 1])


def convformer_layer(b: ModelBuilder, x, name, d, frames, heads):
    h = b.layernorm(x, f"{name}.norm_attn", d)
    x = b.residual(x, b.attention(h, f"{name}.attn", frames, d, heads))
    h = b.layernorm(x, f"{name}.norm_conv", d)
    x = b.residual(x, conv_module(b, h, f"{name}.conv", d))
    h = b.layernorm(x, f"{name}.norm_mlp", d)
    return b.residual(x, b.mlp(h, f"{name}.mlp", d, 4 * d))


def audio_convformer(
    channels=128, frames=256, d=256, heads=4, layers=4, codebook=1024
) -> onnx.ModelProto:
    b = ModelBuilder("audio_convformer", SeededWeights(seed=0))
    x = b.input("frames", [1, channels, frames])
    x = b.gelu(b.conv(x, "stem", channels, d, 7, ndim=1))
    x = b.transpose(x, [0, 2, 1])
    for i in range(layers):
        x = convformer_layer(b, x, f"layers.{i}", d, frames, heads)
    x = b.layernorm(x, "norm", d)
    b.output(b.linear(x, "head", d, codebook), "logits")
    return b.build(
        "Conv1d + attention backbone over 256 audio-token frames, 1024-way codebook head"
    )
