"""A character-level tokenizer: one token per distinct character of a text.

Taught in notebook 07 (seed 003 §2.4, the "Vocabulary" paragraph: the assignment's GPT is
trained with a simple character-level tokenizer). The vocabulary is the sorted set of the
characters in the training text, so ids are stable for a given text; ``encode`` refuses a
character outside the vocabulary (naming it) rather than silently dropping it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


class CharTokenizer:
    """Maps each character of ``vocab`` to its index (``stoi``) and back (``itos``)."""

    def __init__(self, vocab: Iterable[str]):
        chars = list(vocab)
        if not chars:
            raise ValueError("a character vocabulary needs at least one character")
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"vocabulary entries must be single characters, got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be distinct")
        self.itos: list[str] = chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The sorted set of characters in ``text``."""
        if not isinstance(text, str) or not text:
            raise ValueError("from_text needs a non-empty string")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            unknown = sorted({c for c in text if c not in self.stoi})
            raise ValueError(f"{len(unknown)} character(s) not in the vocabulary: "
                             f"{''.join(unknown)[:40]!r}; the vocabulary has {self.vocab_size} "
                             f"characters built from the training text") from None

    def encode_array(self, text: str, dtype=np.uint16) -> np.ndarray:
        """``encode`` as a NumPy array (what ``utils.train.lm.get_batch`` samples from)."""
        if self.vocab_size > np.iinfo(dtype).max + 1:
            raise ValueError(f"{self.vocab_size} characters do not fit in {np.dtype(dtype)}")
        return np.asarray(self.encode(text), dtype=dtype)

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size - 1}], got {bad[:5]}")
        return "".join(self.itos[i] for i in ids)

    def to_dict(self) -> dict:
        return {"vocab": "".join(self.itos)}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        return cls(d["vocab"])

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
