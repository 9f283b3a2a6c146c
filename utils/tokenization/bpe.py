"""Byte-level BPE training (Sennrich et al., 2016; the GPT-2 variant of Radford et al., 2019).

    vocab, merges = train_bpe("corpus.txt", vocab_size=10_000, special_tokens=["<|endoftext|>"])

The vocabulary starts with the 256 single bytes (id = byte value) and the special tokens
(ids 256, 257, ...). Training then repeats, until ``vocab_size`` tokens exist:

    (a, b) = argmax over adjacent pairs of count(a, b)   (ties: the greater (bytes a, bytes b))
    add the token a+b with the next id; replace every a b by a+b in every pre-token

``merges`` lists the pairs in the order they were added; ``vocab`` maps ids 0..vocab_size-1 to
bytes. Counting happens over *unique* pre-tokens weighted by their frequency
(:mod:`utils.tokenization.pretokenize`, parallel over chunks of the file): the 5 MB Shakespeare
corpus has 1.36 M pre-tokens but only about 36 k distinct words.

Why it is fast enough (``bench/bench_bpe.py``): a merge changes only the words that contain the
merged pair, and only the pairs next to each occurrence. We keep

* ``pair_counts``: (a, b) -> weighted count, updated incrementally at the merge sites,
* ``pair_words``: (a, b) -> ids of the words that contain it (entries may be stale: a word is
  checked when visited), and
* a max-heap of (count, pair) with lazy invalidation: an entry whose count no longer matches is
  dropped or pushed back with the current count when it reaches the top.

A naive trainer recounts every pair after every merge: O(merges x corpus) instead of
O(corpus + merges x log). ``naive_bpe_merges`` keeps that version as the readable reference the
tests compare against. Taught in notebook 05.
"""

from __future__ import annotations

import heapq
import os
import time
import warnings
from collections import Counter
from typing import Mapping, Sequence

from .pretokenize import check_special_tokens, count_file_pretokens

N_BYTES = 256


def _inverse_key(token: bytes) -> bytes:
    """A bytes key whose ascending order is the *descending* lexicographic order of ``token``.

    Each byte x becomes the two bytes (0, 255 - x) and a terminator 0x01 closes the key, so a
    proper prefix (a smaller string) sorts after its extensions. Concatenating the keys of a and b
    orders pairs like the tuple (a, b). This lets the min-heap ``heapq`` pop the pair with the
    highest count and, among equal counts, the lexicographically greatest pair first.
    """
    return b"".join(bytes((0, 255 - x)) for x in token) + b"\x01"


def check_vocab_size(vocab_size: int, special_tokens: Sequence[str]) -> None:
    base = N_BYTES + len(special_tokens)
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"vocab_size must be an int, got {vocab_size!r}")
    if vocab_size < base:
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the base vocabulary: {N_BYTES} single bytes "
            f"+ {len(special_tokens)} special token(s) = {base}. Use vocab_size >= {base}.")


def initial_vocab(special_tokens: Sequence[str]) -> dict[int, bytes]:
    """ids 0..255: the single bytes; then the special tokens (UTF-8) in the given order."""
    vocab = {i: bytes([i]) for i in range(N_BYTES)}
    for tok in special_tokens:
        vocab[len(vocab)] = tok.encode("utf-8")
    return vocab


def bpe_merges(word_counts: Mapping[bytes, int], num_merges: int,
               vocab: dict[int, bytes]) -> list[tuple[bytes, bytes]]:
    """Learn up to ``num_merges`` merges from pre-token counts; new tokens are added to ``vocab``
    (in place) with consecutive ids. Words are bytes; ids 0..255 must be the single bytes."""
    # words[w] is the current token-id list of distinct pre-token w, freqs[w] its count.
    # >>> exercise: bpe_merges
    # hint: a first version may call naive_bpe_merges and add each merged token to vocab with the
    # hint: next id. The fast one keeps pair counts and which words hold each pair, and after a
    # hint: merge updates only the pairs next to each occurrence (a heap with lazy deletion finds
    # hint: the best pair; ties: the greater (bytes, bytes), see _inverse_key).
    words = [list(w) for w in word_counts]
    freqs = list(word_counts.values())
    pair_counts: dict[tuple[int, int], int] = {}
    pair_words: dict[tuple[int, int], set[int]] = {}
    for w, (word, f) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + f
            where = pair_words.get(pair)
            if where is None:
                pair_words[pair] = {w}
            else:
                where.add(w)

    inv = {i: _inverse_key(t) for i, t in vocab.items()}
    heap = [(-c, inv[a] + inv[b], a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[bytes, bytes]] = []
    next_id = max(vocab) + 1 if vocab else 0

    while len(merges) < num_merges and heap:
        neg, key, a, b = heapq.heappop(heap)
        count = pair_counts.get((a, b), 0)
        if count != -neg:  # a stale entry: the count changed since it was pushed
            if 0 < count < -neg:
                heapq.heappush(heap, (-count, key, a, b))
            continue
        new = next_id
        next_id += 1
        vocab[new] = vocab[a] + vocab[b]
        inv[new] = _inverse_key(vocab[new])
        merges.append((vocab[a], vocab[b]))
        touched: set[tuple[int, int]] = set()  # pairs that gained count (they all contain new)
        for w in pair_words.pop((a, b)):
            word = words[w]
            f = freqs[w]
            i = 0
            n = len(word) - 1  # index of the last symbol
            while i < n:
                if word[i] == a and word[i + 1] == b:
                    if i > 0:  # left neighbour x: (x, a) -> (x, new)
                        left = word[i - 1]
                        pair_counts[(left, a)] -= f
                        p = (left, new)
                        pair_counts[p] = pair_counts.get(p, 0) + f
                        touched.add(p)
                        pair_words.setdefault(p, set()).add(w)
                    if i + 1 < n:  # right neighbour y: (b, y) -> (new, y)
                        right = word[i + 2]
                        pair_counts[(b, right)] -= f
                        p = (new, right)
                        pair_counts[p] = pair_counts.get(p, 0) + f
                        touched.add(p)
                        pair_words.setdefault(p, set()).add(w)
                    word[i:i + 2] = (new,)
                    n -= 1
                i += 1
        del pair_counts[(a, b)]
        for p in touched:
            c = pair_counts[p]
            if c > 0:
                heapq.heappush(heap, (-c, inv[p[0]] + inv[p[1]], p[0], p[1]))
            elif c == 0:
                del pair_counts[p]
    return merges
    # <<< exercise


def train_bpe_from_counts(word_counts: Mapping[bytes, int], vocab_size: int,
                          special_tokens: Sequence[str] | None = None
                          ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """BPE on given pre-token counts (``{b" the": 1234, ...}``); see :func:`train_bpe`."""
    special_tokens = check_special_tokens(special_tokens)
    check_vocab_size(vocab_size, special_tokens)
    vocab = initial_vocab(special_tokens)
    num_merges = vocab_size - len(vocab)
    merges = bpe_merges(word_counts, num_merges, vocab)
    if len(merges) < num_merges:
        warnings.warn(f"the corpus ran out of pairs to merge after {len(merges)} merges: the "
                      f"vocabulary has {len(vocab)} tokens, not the {vocab_size} requested",
                      stacklevel=2)
    return vocab, merges


def train_bpe(input_path: str | os.PathLike, vocab_size: int,
              special_tokens: Sequence[str] | None = None, *, num_processes: int | None = None,
              timings: dict | None = None
              ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE tokenizer on the UTF-8 text file ``input_path``.

    Returns ``(vocab, merges)``: ``vocab`` maps ids 0..vocab_size-1 to bytes (ids 0..255 are the
    single bytes, then the special tokens, then one token per merge); ``merges`` is the ordered
    list of merged pairs. Special tokens split the text and are never merged into. Pre-tokenization
    runs on ``num_processes`` processes (default: the usable CPUs). If ``timings`` is a dict, it
    receives ``pretokenize_s``, ``merge_s``, ``n_pretokens`` and ``n_unique``.
    """
    special_tokens = check_special_tokens(special_tokens)
    check_vocab_size(vocab_size, special_tokens)
    t0 = time.perf_counter()
    counts = count_file_pretokens(input_path, special_tokens, num_processes)
    word_counts: dict[bytes, int] = {}
    for tok, c in counts.items():  # different str never give the same bytes: no collisions
        word_counts[tok.encode("utf-8")] = c
    t1 = time.perf_counter()
    vocab, merges = train_bpe_from_counts(word_counts, vocab_size, special_tokens)
    t2 = time.perf_counter()
    if timings is not None:
        timings.update(pretokenize_s=t1 - t0, merge_s=t2 - t1,
                       n_pretokens=sum(counts.values()), n_unique=len(word_counts))
    return vocab, merges


def train_bpe_timed(input_path: str | os.PathLike, vocab_size: int,
                    special_tokens: Sequence[str] | None = None,
                    num_processes: int | None = None
                    ) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]], dict]:
    """:func:`train_bpe` returning ``(vocab, merges, timings)``; a module-level function, so
    notebook 05 can run it in a fresh process to measure its peak memory."""
    timings: dict = {}
    vocab, merges = train_bpe(input_path, vocab_size, special_tokens, num_processes=num_processes,
                              timings=timings)
    return vocab, merges, timings


def naive_bpe_merges(word_counts: Mapping[bytes, int], num_merges: int
                     ) -> list[tuple[bytes, bytes]]:
    """The textbook algorithm, kept as a readable reference: recount every pair, merge the best.

    O(num_merges x total symbols); used by the tests to check :func:`bpe_merges`.
    """
    # >>> exercise: bpe_merges
    # hint: repeat: count adjacent pairs over the words weighted by their counts; take the most
    # hint: frequent (ties: the greater pair of bytes); merge it left to right in every word.
    words = {tuple(bytes([x]) for x in w): c for w, c in word_counts.items()}
    merges = []
    for _ in range(num_merges):
        counts: Counter = Counter()
        for word, c in words.items():
            for pair in zip(word, word[1:]):
                counts[pair] += c
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], p))  # ties: the greater (bytes, bytes)
        merges.append(best)
        merged = {}
        for word, c in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + c
        words = merged
    return merges
    # <<< exercise
