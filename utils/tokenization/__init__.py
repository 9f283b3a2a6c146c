"""Byte-level BPE tokenization, taught in notebook 05 (seed 004: unicode1-2, train_bpe,
tokenizer experiments), in reading order:

* :mod:`~utils.tokenization.pretokenize`: the GPT-2 regular expression, splitting on special
  tokens, and special-token-aligned chunks for parallel pre-tokenization;
* :mod:`~utils.tokenization.bpe`: ``train_bpe(input_path, vocab_size, special_tokens) -> (vocab,
  merges)``, incremental pair counts with a max-heap;
* :mod:`~utils.tokenization.tokenizer`: ``Tokenizer`` (``encode``, ``decode``,
  ``encode_iterable``, ``save`` / ``from_files``);
* :mod:`~utils.tokenization.memory`: peak-memory measurement used by the notebook, the tests and
  ``bench/bench_bpe.py``.
"""

from .bpe import train_bpe
from .tokenizer import Tokenizer

__all__ = ["train_bpe", "Tokenizer"]
