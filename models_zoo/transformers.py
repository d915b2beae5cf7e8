"""Transformer workloads: a BERT encoder, a GPT-style decoder stack, a DiT block.

Token and position embedding lookups (a Gather) happen outside the graph: the models
take the embedded sequence as a float32 input, as the compiler handles float inputs.
"""

import numpy as np
import onnx

from models_zoo.layers import ModelBuilder
from models_zoo.weights import SeededWeights


def bert_layer(b: ModelBuilder, x, name, seq, d, heads, ffn, mask=None, eps=1e-12):
    """A post-LN BERT layer; weight names follow Hugging Face's BertLayer."""
    attn = b.attention(x, f"{name}.attention", seq, d, heads, mask)
    x = b.layernorm(b.residual(x, attn), f"{name}.attention.output.LayerNorm", d, eps)
    h = b.mlp(x, name, d, ffn)
    return b.layernorm(b.residual(x, h), f"{name}.output.LayerNorm", d, eps)


def bert_tiny(seq=128, d=128, heads=2, layers=2) -> onnx.ModelProto:
    b = ModelBuilder("bert_tiny", SeededWeights(seed=0))
    x = b.layernorm(b.input("embeddings", [1, seq, d]), "embeddings.LayerNorm", d, 1e-12)
    for i in range(layers):
        x = bert_layer(b, x, f"encoder.layer.{i}", seq, d, heads, 4 * d)
    x = b.output(x, "last_hidden_state")
    cls = b.reshape(b.op("Slice", [x, b.const([0]), b.const([1]), b.const([1])]), [1, d])
    b.output(b.op("Tanh", [b.gemm(cls, "pooler.dense", d, d)]), "pooler_output")
    return b.build("BERT-tiny encoder (2 layers, hidden 128, 2 heads), embedded sequence of 128")


def swiglu(b: ModelBuilder, x, name, d, hidden):
    gate = b.silu(b.linear(x, f"{name}.gate_proj", d, hidden, bias=False))
    up = b.linear(x, f"{name}.up_proj", d, hidden, bias=False)
    return b.linear(b.op("Mul", [gate, up]), f"{name}.down_proj", hidden, d, bias=False)


def gpt_block(seq=128, d=256, heads=4, layers=4, vocab=4096) -> onnx.ModelProto:
    """A LLaMA-style decoder: pre-RMSNorm, causal attention, SwiGLU MLP, LM head."""
    b = ModelBuilder("gpt_block", SeededWeights(seed=0))
    x = b.input("hidden_states", [1, seq, d])
    mask = b.causal_mask(seq)
    for i in range(layers):
        name = f"layers.{i}"
        h = b.rmsnorm(x, f"{name}.input_layernorm", d)
        x = b.residual(x, b.attention(h, f"{name}.self_attn", seq, d, heads, mask))
        h = b.rmsnorm(x, f"{name}.post_attention_layernorm", d)
        x = b.residual(x, swiglu(b, h, f"{name}.mlp", d, 3 * d))
    x = b.rmsnorm(x, "norm", d)
    b.output(b.linear(x, "lm_head", d, vocab, bias=False), "logits")
    return b.build("GPT-style decoder: 4 layers, hidden 256, 4 heads, causal, sequence 128")


def sincos_positions(tokens: int, d: int) -> np.ndarray:
    position = np.arange(tokens)[:, None]
    freq = np.exp(-np.log(10000.0) * np.arange(0, d, 2) / d)[None, :]
    table = np.zeros((tokens, d))
    table[:, 0::2], table[:, 1::2] = np.sin(position * freq), np.cos(position * freq)
    return table[None]


def ada_ln(b: ModelBuilder, c, name, d, chunks):
    """adaLN: SiLU(c) -> Linear -> `chunks` modulation vectors of shape [1, 1, d]."""
    mod = b.gemm(b.silu(c), name, d, chunks * d)
    parts = b.op("Split", [mod, b.const([d] * chunks)], n_out=chunks, axis=1)
    return [b.op("Unsqueeze", [p, b.const([1])]) for p in parts]


def modulate(b: ModelBuilder, x, name, d, shift, scale):
    """LayerNorm without affine, then x * (1 + scale) + shift."""
    h = b.layernorm(x, name, d, eps=1e-6, affine=False)
    h = b.op("Mul", [h, b.op("Add", [scale, b.const(1.0, np.float32)])])
    return b.op("Add", [h, shift])


def dit_layer(b: ModelBuilder, x, c, name, tokens, d, heads):
    shift1, scale1, gate1, shift2, scale2, gate2 = ada_ln(b, c, f"{name}.adaLN_modulation", d, 6)
    h = modulate(b, x, f"{name}.norm1", d, shift1, scale1)
    attn = b.attention(h, f"{name}.attn", tokens, d, heads)
    x = b.residual(x, b.op("Mul", [gate1, attn]))
    h = modulate(b, x, f"{name}.norm2", d, shift2, scale2)
    return b.residual(x, b.op("Mul", [gate2, b.mlp(h, f"{name}.mlp", d, 4 * d)]))


def dit_block(size=32, channels=4, patch=2, d=256, heads=4, layers=2) -> onnx.ModelProto:
    """DiT: patchify conv, adaLN-modulated transformer layers, linear head, unpatchify."""
    b = ModelBuilder("dit_block", SeededWeights(seed=0))
    x = b.input("latent", [1, channels, size, size])
    c = b.input("conditioning", [1, d])
    grid, out_channels = size // patch, 2 * channels  # learned sigma doubles the output
    x = b.conv(x, "x_embedder.proj", channels, d, patch, stride=patch)
    x = b.transpose(b.reshape(x, [1, d, grid * grid]), [0, 2, 1])
    x = b.op("Add", [x, b.param("pos_embed", sincos_positions(grid * grid, d))])
    for i in range(layers):
        x = dit_layer(b, x, c, f"blocks.{i}", grid * grid, d, heads)
    shift, scale = ada_ln(b, c, "final_layer.adaLN_modulation", d, 2)
    x = modulate(b, x, "final_layer.norm", d, shift, scale)
    x = b.linear(x, "final_layer.linear", d, patch * patch * out_channels)
    x = b.reshape(x, [1, grid, grid, patch, patch, out_channels])
    x = b.reshape(b.transpose(x, [0, 5, 1, 3, 2, 4]), [1, out_channels, size, size])
    b.output(x, "prediction")
    return b.build("DiT: 32x32x4 latent, patch 2, 2 adaLN blocks, hidden 256, 4 heads")


def dit_video(frames=4, size=32, channels=4, patch=2, d=256, heads=4, layers=2) -> onnx.ModelProto:
    """A video DiT denoiser: latent frames patchified into tokens (patch x patch per frame, the
    patchify done by the host as a reshape), a patch embedding, adaLN-modulated transformer
    layers with full spatio-temporal attention over every token, a linear head to each patch's
    noise and variance. frames=4, size=32: 1,024 tokens; frames=16, size=64: 16,384."""
    tokens, per_patch = frames * (size // patch) ** 2, channels * patch * patch
    b = ModelBuilder("dit_video", SeededWeights(seed=0))
    x = b.input("latent_patches", [1, tokens, per_patch])
    c = b.input("conditioning", [1, d])
    x = b.linear(x, "x_embedder.proj", per_patch, d)
    x = b.op("Add", [x, b.param("pos_embed", sincos_positions(tokens, d))])
    for i in range(layers):
        x = dit_layer(b, x, c, f"blocks.{i}", tokens, d, heads)
    shift, scale = ada_ln(b, c, "final_layer.adaLN_modulation", d, 2)
    x = modulate(b, x, "final_layer.norm", d, shift, scale)
    b.output(b.linear(x, "final_layer.linear", d, 2 * per_patch), "prediction")
    return b.build(
        f"video DiT: {frames} frames of {size}x{size}x{channels} latents, patch {patch}: "
        f"{tokens} tokens; {layers} adaLN blocks, hidden {d}, {heads} heads"
    )
