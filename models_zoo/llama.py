"""A LLaMA-style decoder as exported for serving: a prefill graph (the prompt, causal) and a
decode-step graph (one token over a KV cache), both with the cache as graph inputs/outputs.

Pre-RMSNorm, rotary position embeddings written as exporters write them (``x * cos +
rotate_half(x) * sin`` with ``rotate_half`` a Slice/Neg/Concat), grouped-query attention
(each K/V head serves ``heads / kv_heads`` query heads: the query heads of a group are rows
of one MatMul against their shared K and V, so the repeat is never materialised), SwiGLU
MLP, final RMSNorm and LM head. Token embeddings stay outside the graph (the input is the
embedded sequence), as in the zoo's other transformers. Caches hold rotated keys, shaped
[1, kv_heads, positions, head_dim] (Hugging Face's layout); the new rows are appended by
``Concat(past, new, axis=2)``, which the compiler turns into an in-place append.
"""

from dataclasses import dataclass

import numpy as np
import onnx

from models_zoo.layers import ATTENTION_MASK_VALUE, ModelBuilder
from models_zoo.quantize import quantize_weights_nbits
from models_zoo.transformers import swiglu
from models_zoo.weights import SeededWeights


@dataclass(frozen=True)
class LlamaConfig:
    d: int = 256
    heads: int = 8
    kv_heads: int = 2
    ffn: int = 704
    layers: int = 2
    vocab: int = 1024
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.d // self.heads

    @property
    def groups(self) -> int:
        return self.heads // self.kv_heads


SMALL = LlamaConfig()
# LLaMA-3.2-1B's shape (vocabulary cut to 32,000): for timing, one layer at a time
ONE_B = LlamaConfig(d=2048, heads=32, kv_heads=8, ffn=8192, layers=16, vocab=32000)


def rope_tables(cfg: LlamaConfig, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of positions [start, start + count), [count, head_dim], HF's layout (the
    frequencies repeated over both halves)."""
    dh = cfg.head_dim
    inv = 1.0 / cfg.rope_theta ** (np.arange(0, dh, 2) / dh)
    angles = np.arange(start, start + count)[:, None] * inv[None, :]
    angles = np.concatenate([angles, angles], axis=-1)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def _rope(b: ModelBuilder, x, cos, sin, dh):
    """x * cos + rotate_half(x) * sin on the last axis (as torch.onnx exports it)."""
    half = dh // 2
    x1 = b.op("Slice", [x, b.const([0]), b.const([half]), b.const([-1])])
    x2 = b.op("Slice", [x, b.const([half]), b.const([dh]), b.const([-1])])
    rotated = b.op("Concat", [b.op("Neg", [x2]), x1], axis=-1)
    return b.op("Add", [b.op("Mul", [x, cos]), b.op("Mul", [rotated, sin])])


class _Layer:
    """One decoder layer over ``seq`` new tokens after ``past`` cached ones."""

    def __init__(
        self, b: ModelBuilder, cfg: LlamaConfig, name: str, seq: int, past: int, batch: int = 1
    ):
        self.b, self.cfg, self.name, self.seq, self.past = b, cfg, name, seq, past
        self.batch = batch
        cos, sin = rope_tables(cfg, past, seq)
        self.cos = b.const(cos[None, None], np.float32)  # [1, 1, seq, dh]
        self.sin = b.const(sin[None, None], np.float32)

    def heads(self, x, proj, n):
        """[batch, seq, d] -> projection -> [batch, n, seq, dh]."""
        b, cfg, seq = self.b, self.cfg, self.seq
        y = b.linear(x, f"{self.name}.self_attn.{proj}", cfg.d, n * cfg.head_dim, bias=False)
        return b.transpose(b.reshape(y, [self.batch, seq, n, cfg.head_dim]), [0, 2, 1, 3])

    def cache(self, new, kind):
        """Concat(past, new) on the positions axis: the present cache, a graph output."""
        b, cfg, name = self.b, self.cfg, f"{self.name}.{kind}"
        if not self.past:
            return b.output(new, f"present.{name}")
        shape = [self.batch, cfg.kv_heads, self.past, cfg.head_dim]
        past = b.input(f"past_key_values.{name}", shape)
        return b.output(b.op("Concat", [past, new], axis=2), f"present.{name}")

    def attention(self, x, mask):
        b, cfg, seq, n = self.b, self.cfg, self.seq, self.batch
        dh, g, kvh = cfg.head_dim, cfg.groups, cfg.kv_heads
        q = _rope(b, self.heads(x, "q_proj", cfg.heads), self.cos, self.sin, dh)
        k = self.cache(_rope(b, self.heads(x, "k_proj", kvh), self.cos, self.sin, dh), "key")
        v = self.cache(self.heads(x, "v_proj", kvh), "value")
        q = b.reshape(q, [n, kvh, g * seq, dh])  # a group's query heads as rows
        scale = b.const(1.0 / np.sqrt(dh), np.float32)
        scores = b.op("Mul", [b.op("MatMul", [q, b.transpose(k, [0, 1, 3, 2])]), scale])
        if mask is not None:
            scores = b.op("Add", [scores, mask])
        context = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), v])
        context = b.reshape(context, [n, cfg.heads, seq, dh])
        context = b.reshape(b.transpose(context, [0, 2, 1, 3]), [n, seq, cfg.d])
        return b.linear(context, f"{self.name}.self_attn.o_proj", cfg.d, cfg.d, bias=False)

    def __call__(self, x, mask):
        b, cfg, name = self.b, self.cfg, self.name
        h = b.rmsnorm(x, f"{name}.input_layernorm", cfg.d)
        x = b.residual(x, self.attention(h, mask))
        h = b.rmsnorm(x, f"{name}.post_attention_layernorm", cfg.d)
        return b.residual(x, swiglu(b, h, f"{name}.mlp", cfg.d, cfg.ffn))


def _causal_mask(b: ModelBuilder, cfg: LlamaConfig, seq: int, past: int):
    """[g * seq, past + seq]: query row i of every group head sees positions <= past + i."""
    if seq == 1:
        return None
    rows = np.arange(seq)[:, None] + past
    mask = (np.arange(past + seq)[None, :] > rows) * ATTENTION_MASK_VALUE
    return b.const(np.tile(mask, (cfg.groups, 1)).astype(np.float32), np.float32)


def llama(
    cfg: LlamaConfig = SMALL, seq: int = 32, past: int = 0, seed: int = 0, batch: int = 1
) -> onnx.ModelProto:
    """``seq`` tokens after ``past`` cached ones: prefill (past 0) or a decode step (seq 1),
    for ``batch`` sequences at once (each with its own cache; every weight read once for all).
    Outputs: ``logits`` [batch, seq, vocab], then every layer's present key and value."""
    kind = "prefill" if not past else "decode"
    b = ModelBuilder(f"llama_{kind}", SeededWeights(seed=seed))
    x = b.input("inputs_embeds", [batch, seq, cfg.d])
    mask = _causal_mask(b, cfg, seq, past)
    for i in range(cfg.layers):
        x = _Layer(b, cfg, f"model.layers.{i}", seq, past, batch)(x, mask)
    x = b.rmsnorm(x, "model.norm", cfg.d)
    b.output(b.linear(x, "lm_head", cfg.d, cfg.vocab, bias=False), "logits")
    b.outputs.insert(0, b.outputs.pop())  # logits first
    doc = (
        f"LLaMA-style {kind}: {cfg.layers} layers, hidden {cfg.d}, {cfg.heads} heads "
        f"({cfg.kv_heads} KV heads), SwiGLU {cfg.ffn}, {seq} tokens after {past} cached"
        + (f", batch {batch}" if batch > 1 else "")
    )
    return b.build(doc)


def llama_nbits(
    cfg: LlamaConfig = SMALL,
    seq: int = 32,
    past: int = 0,
    bits: int = 4,
    block: int = 32,
    batch: int = 1,
) -> onnx.ModelProto:
    """``llama`` with weight-only ``bits``-bit weights (onnxruntime's MatMulNBitsQuantizer,
    a scale and zero point per block of ``block``): every projection, the MLP and the LM head
    are ``MatMulNBits``; activations, norms and the cache stay fp32."""
    return quantize_weights_nbits(llama(cfg, seq, past, batch=batch), bits, block)


ZOO_PROMPT = 128  # the registered prefill's tokens; the decode step's cached positions + 1
ZOO_BLOCK = 32  # weights per scale and zero point (SMALL's SwiGLU width 704 is not 128s)


def zoo_models(entry) -> list:
    """The zoo's entries (``entry`` is ``registry.ZooModel``): the SMALL decoder's prefill of
    ZOO_PROMPT tokens and its decode step at context ZOO_PROMPT, fp32 and weight-only int8
    and int4 (MatMulNBits, blocks of ZOO_BLOCK); no QDQ variants (``NAME-int8``)."""
    shape = f"{SMALL.layers} layers, hidden {SMALL.d}, GQA {SMALL.heads}/{SMALL.kv_heads} heads"
    graphs = {
        "llama": (f"LLaMA-style prefill: {shape}, RoPE, SwiGLU, {ZOO_PROMPT} tokens", 0),
        "llama_decode": (
            f"LLaMA-style decode step: {shape}, one token over a KV cache of "
            f"{ZOO_PROMPT - 1} positions",
            ZOO_PROMPT - 1,
        ),
    }
    out = []
    for name, (doc, past) in graphs.items():
        seq = 1 if past else ZOO_PROMPT
        out.append(entry(name, "llm", doc, lambda s=seq, p=past: llama(SMALL, s, p), qdq=False))
        for bits in (8, 4):
            out.append(
                entry(
                    f"{name}_int{bits}",
                    "llm",
                    f"{doc}; weight-only int{bits} (MatMulNBits, blocks of {ZOO_BLOCK})",
                    lambda s=seq, p=past, b=bits: llama_nbits(SMALL, s, p, b, ZOO_BLOCK),
                    qdq=False,
                )
            )
    return out
