"""BERT's uncased WordPiece tokenizer in a few lines, from a vocab.txt (no `tokenizers`).

Basic tokenisation (lower-case, strip accents, split on whitespace and punctuation) and
greedy longest-match-first WordPiece with `##` continuations, as BertTokenizer does.
"""

import unicodedata
from pathlib import Path


class WordPiece:
    def __init__(self, vocab_path: Path):
        tokens = vocab_path.read_text(encoding="utf-8").splitlines()
        self.vocab = {token: i for i, token in enumerate(tokens)}

    def encode(self, text: str, max_len: int) -> list[int]:
        """Token ids of [CLS] text [SEP], truncated to max_len."""
        pieces = [p for word in basic_tokens(text) for p in self.word_pieces(word)]
        ids = [self.vocab[p] for p in ["[CLS]", *pieces[: max_len - 2], "[SEP]"]]
        return ids

    def word_pieces(self, word: str) -> list[str]:
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start and self._piece(word, start, end) not in self.vocab:
                end -= 1
            if end == start:
                return ["[UNK]"]
            pieces.append(self._piece(word, start, end))
            start = end
        return pieces

    @staticmethod
    def _piece(word: str, start: int, end: int) -> str:
        return word[start:end] if start == 0 else "##" + word[start:end]


def basic_tokens(text: str) -> list[str]:
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    spaced = "".join(f" {ch} " if is_punctuation(ch) else ch for ch in text)
    return spaced.split()


def is_punctuation(ch: str) -> bool:
    code = ord(ch)
    ascii_punct = 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
    return ascii_punct or unicodedata.category(ch).startswith("P")
