"""A byte-level BPE tokenizer: encode, decode, stream, save and load (taught in notebook 05).

    tok = Tokenizer(vocab, merges, special_tokens=["<|endoftext|>"])
    ids = tok.encode("Hello world<|endoftext|>")       # list[int]
    text = tok.decode(ids)                               # invalid UTF-8 becomes U+FFFD
    for i in tok.encode_iterable(open("big.txt")): ...   # lazily, in bounded memory

Encoding a text: split it on the special tokens (the longest wins where they overlap), cut the
rest into GPT-2 pre-tokens (:mod:`utils.tokenization.pretokenize`), and turn each pre-token's
UTF-8 bytes into tokens by applying the merges *in the order they were learned*: repeatedly
merge, everywhere in the word, the adjacent pair with the lowest merge rank, until no adjacent
pair is a merge. A word's tokens depend only on the word, so they are cached: in English prose a
few thousand distinct words make up most of the text, and the cache turns most pre-tokens into
one dictionary lookup (``bench/bench_bpe.py`` measures the speed).

File format (``save`` / ``from_files``), the one GPT-2 and Hugging Face use, human-readable:

* ``vocab.json``: a JSON object ``{"token": id}``, one token per line, in id order;
* ``merges.txt``: a ``#version: 0.2`` line, then one merge per line, ``left right``.

Tokens are bytes; to make them printable, each byte is written as one Unicode character with
GPT-2's ``bytes_to_unicode`` table: printable Latin-1 bytes stand for themselves and the others
are shifted to U+0100 and up, so a space is ``Ġ`` and a newline ``Ċ`` (" the" is ``Ġthe``).
"""

from __future__ import annotations

import json
import os
from functools import reduce
from itertools import repeat
from operator import iadd
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from .pretokenize import check_special_tokens, pretokenize, special_token_regex, split_on_special


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable Unicode characters."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


_B2U = bytes_to_unicode()
_U2B = {c: b for b, c in _B2U.items()}


def token_to_str(token: bytes) -> str:
    """A token's bytes as printable text (GPT-2 file convention), e.g. b" the" -> "Ġthe"."""
    return "".join(_B2U[b] for b in token)


def str_to_token(text: str, where: str = "") -> bytes:
    """Inverse of :func:`token_to_str`; a character outside the table is a clear error."""
    try:
        return bytes(_U2B[c] for c in text)
    except KeyError as exc:
        raise ValueError(f"{where}token {text!r} contains {exc.args[0]!r}, which is not one "
                         "of the 256 characters GPT-2's bytes_to_unicode uses to write bytes"
                         ) from None


class _WordCache(dict):
    """pre-token (str) -> token ids (tuple); a miss runs BPE on the word. Bounded: when full it
    is cleared (the frequent words come back at once), so memory stays bounded on any input."""

    __slots__ = ("bpe", "limit")

    def __init__(self, bpe, limit: int):
        super().__init__()
        self.bpe, self.limit = bpe, limit

    def __missing__(self, word: str) -> tuple[int, ...]:
        ids = self.bpe(word)
        if len(self) >= self.limit:
            self.clear()
        self[word] = ids
        return ids


class Tokenizer:
    """Byte-level BPE tokenizer from a vocabulary and an ordered list of merges.

    ``vocab`` maps ids to bytes and must contain the 256 single bytes; every merge ``(a, b)``
    must name two vocabulary tokens whose concatenation is also one. Special tokens (strings)
    that are not yet in the vocabulary are appended with new ids. ``cache_size`` bounds the
    number of cached words.
    """

    def __init__(self, vocab: Mapping[int, bytes], merges: Sequence[tuple[bytes, bytes]],
                 special_tokens: Sequence[str] | None = None, cache_size: int = 200_000):
        if not isinstance(vocab, Mapping):
            raise TypeError(f"vocab must be a dict id -> bytes, got {type(vocab).__name__}")
        self.vocab: dict[int, bytes] = {}
        self.token_to_id: dict[bytes, int] = {}
        for i, tok in vocab.items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ValueError(f"vocabulary ids must be non-negative ints, got {i!r}")
            if not isinstance(tok, bytes):
                raise TypeError(f"vocabulary entry {i} must be bytes, got {tok!r}")
            if tok in self.token_to_id:
                raise ValueError(f"ids {self.token_to_id[tok]} and {i} both stand for {tok!r}; "
                                 "each token may appear once in the vocabulary")
            self.vocab[i] = tok
            self.token_to_id[tok] = i
        missing = [b for b in range(256) if bytes([b]) not in self.token_to_id]
        if missing:
            raise ValueError(f"the vocabulary lacks {len(missing)} of the 256 single bytes (e.g. "
                             f"{bytes(missing[:4])!r}); a byte-level tokenizer needs all of them")
        self.special_tokens = check_special_tokens(special_tokens)
        self.special_ids: dict[str, int] = {}
        for s in self.special_tokens:
            b = s.encode("utf-8")
            if b not in self.token_to_id:
                new = max(self.vocab) + 1
                self.vocab[new] = b
                self.token_to_id[b] = new
            self.special_ids[s] = self.token_to_id[b]
        self.merges: list[tuple[bytes, bytes]] = []
        # (id_a, id_b) -> rank (the first merge of a pair wins); rank -> id of a+b.
        self._pair_rank: dict[tuple[int, int], int] = {}
        self._merged_id: list[int] = []
        for r, merge in enumerate(merges):
            if not (isinstance(merge, (tuple, list)) and len(merge) == 2
                    and all(isinstance(t, bytes) for t in merge)):
                raise TypeError(f"merge {r} must be a pair of bytes, got {merge!r}")
            a, b = merge
            for t in (a, b, a + b):
                if t not in self.token_to_id:
                    raise ValueError(f"merge {r} ({a!r}, {b!r}) needs the token {t!r}, which is "
                                     "not in the vocabulary")
            self.merges.append((a, b))
            self._pair_rank.setdefault((self.token_to_id[a], self.token_to_id[b]), r)
            self._merged_id.append(self.token_to_id[a + b])
        self._byte_ids = [self.token_to_id[bytes([b])] for b in range(256)]
        self._bytes_are_ids = self._byte_ids == list(range(256))
        self._special_re = special_token_regex(self.special_tokens)
        self._longest_special = max((len(s) for s in self.special_tokens), default=0)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive int, got {cache_size!r}")
        self._cache = _WordCache(self._bpe, cache_size)

    # -- construction from files ------------------------------------------------------------

    @classmethod
    def from_files(cls, vocab_path: str | os.PathLike, merges_path: str | os.PathLike,
                   special_tokens: Sequence[str] | None = None, **kwargs) -> "Tokenizer":
        """Load ``vocab.json`` and ``merges.txt`` written by :meth:`save` (or by GPT-2/HF)."""
        vocab_path, merges_path = Path(vocab_path), Path(merges_path)
        for p in (vocab_path, merges_path):
            if not p.is_file():
                raise FileNotFoundError(f"tokenizer file {str(p)!r} does not exist")
        try:
            raw = json.loads(vocab_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{vocab_path} is not a JSON vocabulary ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{vocab_path} must hold a JSON object {{token: id}}, "
                             f"got {type(raw).__name__}")
        vocab: dict[int, bytes] = {}
        for text, i in raw.items():
            if isinstance(i, bool) or not isinstance(i, int):
                raise ValueError(f"{vocab_path}: the id of {text!r} must be an int, got {i!r}")
            if i in vocab:
                raise ValueError(f"{vocab_path}: id {i} is used twice")
            vocab[i] = str_to_token(text, f"{vocab_path}: ")
        merges: list[tuple[bytes, bytes]] = []
        known = set(vocab.values())
        lines = merges_path.read_text(encoding="utf-8").split("\n")
        for lineno, line in enumerate(lines, 1):
            if not line.strip() or (lineno == 1 and line.startswith("#version")):
                continue
            parts = line.split(" ")
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"{merges_path}, line {lineno}: expected two tokens separated by "
                                 f"one space, got {line!r}")
            where = f"{merges_path}, line {lineno}: "
            a, b = (str_to_token(p, where) for p in parts)
            for t, text in ((a, parts[0]), (b, parts[1]), (a + b, parts[0] + parts[1])):
                if t not in known:
                    raise ValueError(f"{where}the merge {line!r} refers to the token {text!r}, "
                                     f"which is not in {vocab_path.name}")
            merges.append((a, b))
        return cls(vocab, merges, special_tokens, **kwargs)

    def save(self, vocab_path: str | os.PathLike, merges_path: str | os.PathLike) -> None:
        """Write ``vocab.json`` and ``merges.txt`` (format in the module docstring), atomically."""
        from ..runs import atomic_write_text

        lines = [f"  {json.dumps(token_to_str(t), ensure_ascii=False)}: {i}"
                 for i, t in sorted(self.vocab.items())]
        atomic_write_text(Path(vocab_path), "{\n" + ",\n".join(lines) + "\n}\n")
        body = "".join(f"{token_to_str(a)} {token_to_str(b)}\n" for a, b in self.merges)
        atomic_write_text(Path(merges_path), "#version: 0.2\n" + body)

    # -- encoding ---------------------------------------------------------------------------

    def _bpe(self, word: str) -> tuple[int, ...]:
        """Token ids of one pre-token: merge the lowest-ranked adjacent pair until none is left.

        One merge at a time, the leftmost occurrence of the best pair first (as tiktoken does);
        for merges learned by BPE training this equals merging all occurrences of the best pair
        at once, because a pair that contains the new token was necessarily learned later.
        ``ranks[j]`` is the rank of the pair (ids[j], ids[j+1]); after a merge only the two
        entries next to it change, so each step costs one C-level ``min`` and two lookups.
        """
        data = word.encode("utf-8")
        ids = list(data) if self._bytes_are_ids else [self._byte_ids[b] for b in data]
        if len(ids) < 2:
            return tuple(ids)
        # >>> exercise: bpe_encode
        # hint: repeatedly merge the adjacent pair with the lowest rank (self._pair_rank: (id, id)
        # hint: -> rank; self._merged_id[rank]: the id of the merged token), leftmost first, until
        # hint: no pair of ids has a rank.
        rank_of = self._pair_rank.get
        merged = self._merged_id
        none = len(merged)
        ranks = list(map(rank_of, zip(ids, ids[1:]), repeat(none)))
        while True:
            best = min(ranks)
            if best == none:
                break
            i = ranks.index(best)
            ids[i] = merged[best]
            del ids[i + 1]
            del ranks[i]
            if i < len(ranks):
                ranks[i] = rank_of((ids[i], ids[i + 1]), none)
            if i > 0:
                ranks[i - 1] = rank_of((ids[i - 1], ids[i]), none)
            elif not ranks:
                break
        return tuple(ids)
        # <<< exercise

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens become their own ids)."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}; decode bytes "
                            "first, e.g. data.decode('utf-8')")
        lookup = self._cache.__getitem__
        out: list[int] = []
        for piece, is_special in split_on_special(text, self._special_re):
            if is_special:
                out.append(self.special_ids[piece])
            else:
                out = reduce(iadd, map(lookup, pretokenize(piece)), out)  # out += ids, in C
        return out

    def encode_iterable(self, iterable: Iterable[str], buffer_chars: int = 1 << 16
                        ) -> Iterator[int]:
        """Ids of the concatenation of the strings in ``iterable`` (e.g. an open text file),
        yielded lazily; the result equals ``encode("".join(iterable))``.

        Text is gathered until ``buffer_chars`` characters are pending; then everything up to the
        last point where the tokens can no longer change is encoded, and the rest (at most a
        word plus a possible partial special token) waits for more text. Memory stays bounded
        by the buffer, the word cache and the longest pre-token.
        """
        if isinstance(iterable, (str, bytes)):
            raise TypeError("encode_iterable() takes an iterable of strings (e.g. an open text "
                            "file); for a single string use encode()")
        if isinstance(buffer_chars, bool) or not isinstance(buffer_chars, int) or buffer_chars < 1:
            raise ValueError(f"buffer_chars must be a positive int, got {buffer_chars!r}")
        pending: list[str] = []
        size = 0
        threshold = buffer_chars
        for chunk in iterable:
            if not isinstance(chunk, str):
                raise TypeError(f"encode_iterable() needs strings, got a "
                                f"{type(chunk).__name__}; open files in text mode")
            pending.append(chunk)
            size += len(chunk)
            if size >= threshold:
                text = "".join(pending)
                cut, ids = self._encode_final_part(text)
                yield from ids
                pending, size = [text[cut:]], len(text) - cut
                # A pre-token longer than the buffer: wait for twice as much text next time
                # (linear total work instead of re-scanning the same text every chunk).
                threshold = max(buffer_chars, 2 * size)
        yield from self.encode("".join(pending))

    def _encode_final_part(self, text: str) -> tuple[int, list[int]]:
        """Split ``text`` at the last position ``cut`` such that no text appended later can
        change the tokens of ``text[:cut]``; return ``cut`` and those tokens.

        Final are: every special token that starts at least ``longest special`` characters
        before the end (no longer one can still be completed), and, after the last of them,
        every pre-token except the last one and except those starting within 3 characters of
        the end of the surely-ordinary text (the contraction ``'ll`` looks 3 characters ahead;
        greedy runs and the ``\\s+(?!\\S)`` lookahead are settled by the next pre-token).
        """
        n = len(text)
        longest = self._longest_special
        safe_end = 0  # end of the last special token that can no longer change
        if self._special_re is not None:
            for m in self._special_re.finditer(text):
                if m.start() + longest <= n:
                    safe_end = m.end()
                else:
                    break
        visible = n - longest + 1 if longest else n  # no special token can start before this
        ids = self.encode(text[:safe_end])
        tail = text[safe_end:max(safe_end, visible)]
        words = pretokenize(tail)
        # Hold back the last pre-token (it may still grow) and step back until the first
        # held-back one starts at least 3 characters before the end; the emitted ones, which
        # start earlier, are then final.
        keep = len(words) - 1
        start = len(tail) - (len(words[-1]) if words else 0)  # where words[keep] starts
        while keep > 0 and start > len(tail) - 3:
            keep -= 1
            start -= len(words[keep])
        if keep <= 0:
            return safe_end, ids
        ids = reduce(iadd, map(self._cache.__getitem__, words[:keep]), ids)
        return safe_end + start, ids

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; byte sequences that are not valid UTF-8 become U+FFFD."""
        try:
            data = b"".join(map(self.vocab.__getitem__, ids))
        except KeyError as exc:
            raise ValueError(f"unknown token id {exc.args[0]!r}: this tokenizer's ids are "
                             f"{min(self.vocab)}..{max(self.vocab)} "
                             f"({len(self.vocab)} tokens)") from None
        except TypeError:
            raise TypeError("decode() takes an iterable of int token ids") from None
        return data.decode("utf-8", errors="replace")

    # -- conveniences -----------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def max_id(self) -> int:
        return max(self.vocab)

    def clear_cache(self) -> None:
        """Forget the cached words (for timing encoding from a cold start)."""
        self._cache.clear()

    def tokens(self, text: str) -> list[bytes]:
        """The bytes of each token of ``text`` (for looking at how a text is split)."""
        return [self.vocab[i] for i in self.encode(text)]

    def __repr__(self) -> str:
        return (f"Tokenizer({len(self.vocab)} tokens, {len(self.merges)} merges, "
                f"special_tokens={self.special_tokens})")

