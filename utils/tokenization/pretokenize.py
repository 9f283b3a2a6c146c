"""Pre-tokenization: the GPT-2 regular expression, splitting on special tokens, chunk boundaries.

Byte-level BPE (Sennrich et al., 2016; GPT-2, Radford et al., 2019) never merges across the
boundaries of *pre-tokens*: the text is first cut into words with the GPT-2 pattern

    '(?:[sdmt]|ll|ve|re) | ?\\p{L}+ | ?\\p{N}+ | ?[^\\s\\p{L}\\p{N}]+ | \\s+(?!\\S) | \\s+

(contractions, an optional space plus a run of letters, of digits, or of other symbols, and
whitespace), and BPE then works inside each pre-token. Before that, the text is split on the
special tokens (e.g. ``<|endoftext|>``), so no pre-token, and therefore no merge, ever crosses a
special token; where special tokens overlap, the longest one wins.

Speed (measured in ``bench/bench_bpe.py``): the ``regex`` module is needed for ``\\p{L}`` on
arbitrary Unicode, but on pure-ASCII text an equivalent pattern for the standard ``re`` module
is about 1.7x faster. Restricted to ASCII, ``\\p{L}`` is ``[A-Za-z]``, ``\\p{N}`` is ``[0-9]``
and ``\\s`` is ``[\\t\\n\\x0b\\x0c\\r ]`` in both engines, so both patterns give the same
pre-tokens there (tested with random ASCII strings in ``tests/test_bpe.py``).

For parallel pre-tokenization a file is cut into chunks whose boundaries fall at the start of a
special token (the documents' separator), where the pre-tokens of the chunks are exactly those of
the whole text. A chunk with no special token in reach is cut after a newline that sits between
two printable ASCII characters (``x\\nY``), which is also a pre-token boundary of the GPT-2
pattern whatever surrounds it. Taught in notebook 05.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Iterator, Sequence

import regex

GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# The same pattern restricted to ASCII text, for the (faster) standard-library engine.
GPT2_PAT_ASCII = r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""

_GPT2_RE = regex.compile(GPT2_PAT)
_GPT2_RE_ASCII = re.compile(GPT2_PAT_ASCII, re.ASCII)
# A newline between two printable ASCII characters: the GPT-2 pattern always ends a pre-token
# before the "\n" (nothing but whitespace joins a newline) and starts a new one after it.
_SAFE_NEWLINE = re.compile(rb"[\x21-\x7e]\n[\x21-\x7e]")
_SAFE_NEWLINE_STR = re.compile(r"[\x21-\x7e]\n[\x21-\x7e]")


def pretokenize(text: str, block_chars: int = 4096) -> list[str]:
    """The GPT-2 pre-tokens of ``text`` (no special-token handling), in order.

    ASCII text goes to the fast pattern. A longer text with some non-ASCII characters is cut into
    blocks of about ``block_chars`` at ``x\\nY`` newlines (:func:`safe_blocks`), so that only the
    blocks that need it pay for the ``regex`` engine (web text often has one curly quote per
    page).
    """
    if text.isascii():
        return _GPT2_RE_ASCII.findall(text)
    if len(text) <= block_chars:
        return _GPT2_RE.findall(text)
    out: list[str] = []
    for block in safe_blocks(text, block_chars):
        out += (_GPT2_RE_ASCII if block.isascii() else _GPT2_RE).findall(block)
    return out


def check_special_tokens(special_tokens: Sequence[str] | None) -> list[str]:
    """Validate special tokens: a list of distinct non-empty strings (order kept)."""
    if special_tokens is None:
        return []
    if isinstance(special_tokens, (str, bytes)):
        raise TypeError(f"special_tokens must be a list of strings such as ['<|endoftext|>'], "
                        f"got the single value {special_tokens!r}")
    out = list(special_tokens)
    for tok in out:
        if not isinstance(tok, str) or not tok:
            raise ValueError(f"each special token must be a non-empty string, got {tok!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"special tokens must be distinct, got {out}")
    return out


def special_token_regex(special_tokens: Sequence[str]) -> re.Pattern | None:
    """A pattern matching any special token, longest first (so overlapping ones give the
    longest match at a position); None when there are no special tokens."""
    tokens = check_special_tokens(special_tokens)
    if not tokens:
        return None
    ordered = sorted(tokens, key=lambda t: (-len(t), t))
    return re.compile("|".join(map(re.escape, ordered)))


def split_on_special(text: str, special_re: re.Pattern | None) -> Iterator[tuple[str, bool]]:
    """Yield ``(piece, is_special)``: the ordinary text between special tokens and the special
    tokens themselves, in order (empty ordinary pieces are skipped)."""
    if special_re is None:
        if text:
            yield text, False
        return
    pos = 0
    for m in special_re.finditer(text):
        if m.start() > pos:
            yield text[pos:m.start()], False
        yield m.group(), True
        pos = m.end()
    if pos < len(text):
        yield text[pos:], False


def safe_blocks(text: str, size: int = 1 << 20) -> Iterator[str]:
    """Cut ``text`` into pieces of about ``size`` characters at ``x\\nY`` newlines (see the module
    docstring), whose pre-tokens together are exactly those of ``text``. Bounds the memory of
    ``findall`` on long texts; a text with no such newline stays whole."""
    start = 0
    while len(text) - start > size:
        m = _SAFE_NEWLINE_STR.search(text, start + size)
        if m is None:
            break
        yield text[start:m.start() + 2]
        start = m.start() + 2
    yield text[start:]


def count_pretokens(text: str, special_tokens: Sequence[str] | None = None,
                    block_chars: int = 1 << 20) -> Counter:
    """How often each pre-token occurs in ``text`` after removing the special tokens (long
    pieces are counted in blocks of about ``block_chars`` characters: see :func:`safe_blocks`)."""
    counts: Counter = Counter()
    for piece, is_special in split_on_special(text, special_token_regex(special_tokens or [])):
        if not is_special:
            for block in safe_blocks(piece, block_chars):
                counts.update(pretokenize(block))  # Counter.update(list) counts in C
    return counts


# ---------------------------------------------------------------------------------------------
# Chunk boundaries for parallel pre-tokenization
# ---------------------------------------------------------------------------------------------


def find_chunk_boundaries(path: str | os.PathLike, num_chunks: int,
                          special_tokens: Sequence[str] | None = None,
                          window: int = 1 << 16) -> list[int]:
    """Byte offsets ``[0, b1, ..., size]`` that cut ``path`` into about ``num_chunks`` chunks.

    Each inner boundary is moved forward from an even split to the next start of a special token
    (searched in windows of ``window`` bytes); where none comes before the next even split, to
    the next ``x\\nY`` newline (see the module docstring). A chunk with neither is merged into
    its neighbour, so fewer chunks may come back. Pre-tokenizing the chunks separately gives
    exactly the pre-tokens of the whole file.
    """
    if not isinstance(num_chunks, int) or num_chunks < 1:
        raise ValueError(f"num_chunks must be a positive int, got {num_chunks!r}")
    tokens = check_special_tokens(special_tokens)
    size = os.path.getsize(path)
    if num_chunks == 1 or size == 0:
        return [0, size]
    special_re = None
    if tokens:
        special_re = re.compile(b"|".join(re.escape(t.encode("utf-8"))
                                          for t in sorted(tokens, key=lambda t: (-len(t), t))))
    newline_ok = not any("\n" in t for t in tokens)
    longest = max((len(t.encode("utf-8")) for t in tokens), default=1)
    step = size / num_chunks
    guesses = [int(i * step) for i in range(1, num_chunks)]
    bounds = [0]
    with open(path, "rb") as fh:
        for i, guess in enumerate(guesses):
            limit = guesses[i + 1] if i + 1 < len(guesses) else size
            found = _next_boundary(fh, max(guess, bounds[-1] + 1), limit, special_re, longest,
                                   newline_ok, window)
            if found is not None and bounds[-1] < found < size:
                bounds.append(found)
    bounds.append(size)
    return bounds


def _next_boundary(fh, start: int, limit: int, special_re, longest: int, newline_ok: bool,
                   window: int) -> int | None:
    """First special-token start at or after ``start`` (before ``limit``), else the first
    safe newline, else None."""
    first_newline = None
    pos = start
    while pos < limit:
        # Read a little before ``pos`` so a special token that straddles it is seen whole and
        # the scan stays in step with a leftmost-longest scan of the file.
        lo = max(0, pos - (longest - 1))
        fh.seek(lo)
        buf = fh.read(min(window, limit - pos) + (pos - lo) + longest)
        if not buf:
            break
        if special_re is not None:
            for m in special_re.finditer(buf):
                if lo + m.start() >= pos:
                    return lo + m.start()
        if newline_ok and first_newline is None:
            m = _SAFE_NEWLINE.search(buf, max(0, pos - lo - 1))
            if m is not None and lo + m.start() + 2 <= limit:
                first_newline = lo + m.start() + 2  # the offset just after "\n"
                if special_re is None:
                    return first_newline
        pos += window
    return first_newline


def read_chunk(path: str | os.PathLike, start: int, end: int) -> str:
    """Bytes ``[start, end)`` of ``path`` decoded as UTF-8; a clear error names the first
    invalid byte's offset in the file."""
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 4]
        raise ValueError(
            f"{os.fspath(path)} is not valid UTF-8: byte offset {start + exc.start} "
            f"({bad!r}...): {exc.reason}. BPE training reads UTF-8 text; convert the file "
            f"first, e.g. with `iconv -f latin1 -t utf-8`.") from None


def _count_chunk(args) -> Counter:
    path, start, end, special_tokens = args
    return count_pretokens(read_chunk(path, start, end), special_tokens)


def default_num_processes() -> int:
    """The CPUs this process may use (``os.sched_getaffinity``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def count_file_pretokens(path: str | os.PathLike, special_tokens: Sequence[str] | None = None,
                         num_processes: int | None = None,
                         min_parallel_bytes: int = 1 << 20,
                         chunk_bytes: int = 64 << 20) -> Counter:
    """Pre-token counts of a UTF-8 file, computed in parallel over special-token-aligned chunks.

    ``num_processes`` defaults to the usable CPUs; files under ``min_parallel_bytes`` are done
    in this process (starting workers would cost more than it saves). A file is read one chunk
    of at most about ``chunk_bytes`` at a time, in each worker or, with one process, here: a
    file of any size (OpenWebText's ~12 GB) needs memory for a chunk and the counts, never for
    the whole text.
    """
    tokens = check_special_tokens(special_tokens)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"training file {path!r} does not exist (or is not a file)")
    n = default_num_processes() if num_processes is None else num_processes
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"num_processes must be a positive int or None, got {num_processes!r}")
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be a positive int, got {chunk_bytes!r}")
    size = os.path.getsize(path)
    parallel = n > 1 and size >= min_parallel_bytes
    # Several chunks per worker (load balance), none above chunk_bytes (memory per worker).
    n_chunks = max(4 * n if parallel else 1, -(-size // chunk_bytes))
    bounds = find_chunk_boundaries(path, n_chunks, tokens)
    jobs = [(path, a, b, tokens) for a, b in zip(bounds[:-1], bounds[1:])]
    if not parallel or len(jobs) == 1:
        total = Counter()
        for job in jobs:
            total.update(_count_chunk(job))
        return total
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    total: Counter = Counter()
    with ctx.Pool(min(n, len(jobs))) as pool:
        for part in pool.imap(_count_chunk, jobs):
            total.update(part)
    return total

