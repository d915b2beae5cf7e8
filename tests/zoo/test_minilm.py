"""The trained MiniLM-L6: tokenizer, and sentence embeddings that rank meaning."""

import numpy as np
import onnxruntime as ort
import pytest

from models_zoo import minilm

pytestmark = pytest.mark.skipif(not minilm.available(), reason=minilm.INSTALL_HINT)

PARAPHRASE = ("A man is eating food.", "A man is eating a piece of bread.")
UNRELATED = "The new movie is awesome about outer space."


def embed(model, texts: list[str]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [session.run(None, minilm.minilm_inputs(t))[0][0] for t in texts]


def test_wordpiece_matches_bert_uncased_ids():
    # ids from BertTokenizer("bert-base-uncased"), which MiniLM's vocab.txt shares
    assert minilm.tokenizer().encode("Hello, world! Unbelievable", 16) == [
        101,
        7592,
        1010,
        2088,
        999,
        23653,
        102,
    ]


def test_wordpiece_truncates_to_sequence_length():
    ids = minilm.tokenizer().encode("word " * 500, minilm.SEQ)
    assert len(ids) == minilm.SEQ and ids[0] == 101 and ids[-1] == 102


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_paraphrase_ranks_above_unrelated(zoo, int8):
    a, b, c = embed(zoo("minilm_l6", int8), [*PARAPHRASE, UNRELATED])
    assert a @ b > max(a @ c, b @ c) + 0.3, (a @ b, a @ c, b @ c)


def test_float_embedding_is_unit_norm_and_matches_sentence_transformers(zoo):
    a, b = embed(zoo("minilm_l6", False), list(PARAPHRASE))
    np.testing.assert_allclose([np.linalg.norm(a), np.linalg.norm(b)], 1.0, rtol=1e-5)
    # sentence-transformers' all-MiniLM-L6-v2 gives 0.7553 for this pair
    assert a @ b == pytest.approx(0.7553, abs=2e-3)
