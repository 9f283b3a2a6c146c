"""Corpora of any size: tokenized once to a memory-mapped token file, streamed in training.

Taught in notebook 09 (seed 004, CS336 assignment 1: ``data_loading`` and ``leaderboard``); the
assignment's own recipe, written so that OpenWebText's ~12 GB never has to fit in memory:

1. the text file is read in 1 MiB pieces (:func:`text_pieces`, an incremental UTF-8 decoder, so
   a character cut between two pieces is still decoded right) and encoded with
   ``Tokenizer.encode_iterable``; the ids are written in blocks to a flat binary file of
   ``uint16`` when every id is below 2**16 = 65,536 (TinyStories' 10K and OpenWebText's 32K
   vocabularies), else ``uint32`` (:func:`token_dtype`). Memory stays bounded by one piece,
   one block and the tokenizer's word cache, whatever the file's size;
2. the file is written to a temporary name and renamed (``os.replace``): a killed run leaves no
   half file under the real name. A JSON sidecar written after it records the token count, the
   dtype, the largest id and the SHA-256 of the token bytes;
3. it is cached under ``data/cache/tokens/`` by a **fingerprint**: the SHA-256 of the tokenizer
   (vocabulary, merges, special tokens) and of the source text's bytes (and the byte range
   used). Asking again returns the stored file without encoding; a changed text or tokenizer
   gives a new file. A damaged cache (a size that disagrees with the sidecar, a checksum that
   does not match, an unreadable sidecar) is detected, reported, and encoded again;
4. training memory-maps it (``np.memmap``, read-only): ``utils.train.lm.get_batch`` reads only
   the sampled windows. The anonymous memory of training does not grow with the corpus; the
   resident count does grow with the file pages the windows touch (about 1 MB per window on a
   kernel with large page-cache folios), at most the token file's size, and those clean pages
   are the first the kernel drops under memory pressure (``bench/bench_streaming.py``).

:func:`split_file` cuts a single text file into training and validation byte ranges at a
document separator without reading it whole (TinyStories and OpenWebText ship a separate
validation file; a corpus that does not is split this way), and :func:`prefix_file` writes the
first N bytes (cut at a separator) for training a tokenizer on a sample.
``utils.data.corpora.load_corpus`` / ``split_paths`` read a file whole and remain for the small
stand-in corpora; ``tests/test_token_files.py`` measures the peak memory of both paths.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import tempfile
import warnings
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..tokenization.tokenizer import Tokenizer

PIECE_BYTES = 1 << 20        # text read per piece
BLOCK_TOKENS = 1 << 20       # ids written per block
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# fingerprints


def file_sha256(path: str | os.PathLike, start: int = 0, end: int | None = None,
                chunk: int = 1 << 20) -> str:
    """SHA-256 of bytes ``[start, end)`` of a file, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            data = fh.read(chunk if left is None else min(chunk, left))
            if not data:
                break
            h.update(data)
            if left is not None:
                left -= len(data)
    return h.hexdigest()


def tokenizer_fingerprint(tokenizer: "Tokenizer") -> str:
    """SHA-256 of what decides a tokenizer's output: vocabulary, merges, special tokens."""
    h = hashlib.sha256()
    for i in sorted(tokenizer.vocab):
        h.update(i.to_bytes(4, "little") + len(tokenizer.vocab[i]).to_bytes(2, "little")
                 + tokenizer.vocab[i])
    h.update(b"merges")
    for a, b in tokenizer.merges:
        h.update(len(a).to_bytes(2, "little") + a + len(b).to_bytes(2, "little") + b)
    h.update(b"special" + json.dumps(list(tokenizer.special_tokens)).encode())
    return h.hexdigest()


def token_dtype(max_id: int) -> np.dtype:
    """``uint16`` when every id fits (max_id < 65,536), else ``uint32``."""
    if isinstance(max_id, bool) or not isinstance(max_id, (int, np.integer)) or max_id < 0:
        raise ValueError(f"max_id must be a non-negative int, got {max_id!r}")
    if max_id >= 2**32:
        raise ValueError(f"token ids up to {max_id} do not fit in uint32")
    return np.dtype(np.uint16) if max_id < 2**16 else np.dtype(np.uint32)


# ---------------------------------------------------------------------------------------------
# reading a text file in pieces


def _check_source(path) -> Path:
    if isinstance(path, str) and not path:
        raise ValueError("the text file path is empty")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"text file {str(path)!r} does not exist (or is not a file)")
    return p


def text_pieces(path: str | os.PathLike, start: int = 0, end: int | None = None,
                piece_bytes: int = PIECE_BYTES) -> Iterator[str]:
    """The UTF-8 text of bytes ``[start, end)`` of ``path``, as strings of about
    ``piece_bytes`` bytes each (never the whole file at once). Invalid UTF-8 raises a
    ``ValueError`` naming the byte offset."""
    p = _check_source(path)
    size = p.stat().st_size
    end = size if end is None else min(end, size)
    decoder = codecs.getincrementaldecoder("utf-8")()
    pos = start
    with open(p, "rb") as fh:
        fh.seek(start)
        while pos < end:
            data = fh.read(min(piece_bytes, end - pos))
            if not data:
                break
            try:
                text = decoder.decode(data, final=False)
            except UnicodeDecodeError as exc:
                raise ValueError(f"{p} is not valid UTF-8 near byte offset {pos + exc.start}: "
                                 f"{exc.reason}; corpora must be UTF-8 text") from None
            pos += len(data)
            if text:
                yield text
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ValueError(f"{p} ends inside a UTF-8 character (byte range {start}-{end}): "
                             f"{exc.reason}") from None
        if tail:
            yield tail


def _find_separator(fh, target: int, size: int, sep: bytes, window: int = 1 << 20
                    ) -> int | None:
    """Byte offset of the first ``sep`` at or after ``target`` (None if there is none)."""
    pos = target
    while pos < size:
        fh.seek(pos)
        buf = fh.read(window + len(sep) - 1)
        i = buf.find(sep)
        if i >= 0:
            return pos + i
        if len(buf) < window:
            return None
        pos += window
    return None


def split_file(path: str | os.PathLike, val_fraction: float = 0.1,
               separator: str = "<|endoftext|>") -> tuple[tuple[int, int], tuple[int, int]]:
    """Byte ranges ``(train, val)`` of a text file: the last ~``val_fraction`` of the bytes,
    starting after the first ``separator`` at or after the cut (so no document is split), is
    the validation part; with no separator within half the validation size, at the next line
    start instead (as ``corpora.train_val_split``). Reads only around the cut."""
    p = _check_source(path)
    if isinstance(val_fraction, bool) or not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
    size = p.stat().st_size
    sep = separator.encode("utf-8")
    if not sep:
        raise ValueError("separator must be a non-empty string")
    target = int(size * (1.0 - float(val_fraction)))
    reach = (size - target) // 2          # a separator farther away would skew the split
    with open(p, "rb") as fh:
        cut = _find_separator(fh, target, min(size, target + reach + len(sep)), sep)
        if cut is not None and cut + len(sep) < size:
            return (0, cut), (cut + len(sep), size)
        line = _find_separator(fh, target, min(size, target + reach), b"\n")
    if line is None or not 0 < line + 1 < size:
        raise ValueError(f"{p} has neither a {separator!r} nor a newline within {reach:,} bytes "
                         f"after byte {target:,} (of {size:,}), so it cannot be split into "
                         f"training and validation text without cutting a line; pass a separate "
                         f"validation file")
    return (0, line + 1), (line + 1, size)     # no document boundary near: at a line start


def prefix_file(path: str | os.PathLike, max_bytes: int, separator: str = "<|endoftext|>",
                cache: str | os.PathLike | None = None) -> Path:
    """The first ``max_bytes`` bytes of a text file, cut just before the last ``separator``
    inside them (whole documents; with none in the last 4 MiB, at a line start), copied once
    to the cache (streamed, atomic); the file itself when it is not longer than ``max_bytes``.
    For training a tokenizer on a sample."""
    p = _check_source(path)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
    size = p.stat().st_size
    if size <= max_bytes:
        return p
    sep = separator.encode("utf-8")
    with open(p, "rb") as fh:
        lo = max(0, max_bytes - (1 << 22))
        fh.seek(lo)
        buf = fh.read(max_bytes - lo)
    i = buf.rfind(sep)
    if i < 0:
        i = buf.rfind(b"\n") + 1                 # no document boundary near: a line start
    if i <= 0:
        raise ValueError(f"neither a {separator!r} nor a newline in the last 4 MiB before byte "
                         f"{max_bytes} of {p}: cannot cut a sample there")
    return copy_prefix(p, lo + i, cache)


def copy_prefix(path: str | os.PathLike, cut: int, cache: str | os.PathLike | None = None
                ) -> Path:
    """Bytes ``[0, cut)`` of a file, copied once to the cache (streamed, atomic)."""
    p = _check_source(path)
    if not 0 < cut <= p.stat().st_size:
        raise ValueError(f"cut must lie in 1..{p.stat().st_size}, got {cut}")
    if cut == p.stat().st_size:
        return p
    key = hashlib.sha256(f"{file_sha256(p, 0, cut)}:{cut}".encode()).hexdigest()[:16]
    out = _cache_root(cache) / f"{p.stem}-first{cut}-{key}.txt"
    if out.is_file() and out.stat().st_size == cut:
        return out
    with open(p, "rb") as src, _AtomicFile(out) as dst:
        left = cut
        while left:
            data = src.read(min(1 << 24, left))
            dst.write(data)
            left -= len(data)
    return out


# ---------------------------------------------------------------------------------------------
# the token file


def _cache_root(cache) -> Path:
    if cache is not None:
        return Path(cache)
    from ..paths import cache_dir

    return cache_dir() / "tokens"


class _AtomicFile:
    """``with _AtomicFile(path) as fh:`` writes to a temporary file in the same folder and
    renames it to ``path`` only when the block finishes without an exception."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                        dir=self.path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        self.fh = os.fdopen(fd, "wb")
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        return False


def write_token_file(tokenizer: "Tokenizer", pieces, out_path: str | os.PathLike,
                     dtype=None, block_tokens: int = BLOCK_TOKENS) -> dict:
    """Encode the strings of ``pieces`` (an iterator) into ``out_path``, atomically; returns the
    sidecar fields (``n_tokens``, ``dtype``, ``max_id``, ``sha256`` of the token bytes)."""
    dtype = token_dtype(tokenizer.max_id) if dtype is None else np.dtype(dtype)
    if tokenizer.max_id > np.iinfo(dtype).max:
        raise ValueError(f"token ids go up to {tokenizer.max_id}, which does not fit in {dtype}")
    ids = tokenizer.encode_iterable(pieces)
    h = hashlib.sha256()
    n, top = 0, -1
    with _AtomicFile(Path(out_path)) as fh:
        while True:
            block = np.fromiter(islice(ids, block_tokens), dtype=dtype)
            if block.size == 0:
                break
            data = block.tobytes()
            fh.write(data)
            h.update(data)
            n += block.size
            top = max(top, int(block.max()))
        if n == 0:
            raise ValueError("the text is empty: there are no token ids to write")
    return {"n_tokens": n, "dtype": dtype.name, "max_id": top, "sha256": h.hexdigest()}


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def check_token_file(path: str | os.PathLike, verify: bool = True) -> str | None:
    """None when the token file and its sidecar agree; else what is wrong (a sentence)."""
    path = Path(path)
    side = _sidecar(path)
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        meta = json.loads(side.read_text())
        n, dtype, digest = int(meta["n_tokens"]), np.dtype(meta["dtype"]), meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"its sidecar {side.name} is missing or unreadable ({exc.__class__.__name__})"
    if path.stat().st_size != n * dtype.itemsize:
        return (f"{path.name} has {path.stat().st_size:,} bytes, but {n:,} {dtype} tokens need "
                f"{n * dtype.itemsize:,} (a truncated or overwritten file)")
    if verify and file_sha256(path) != digest:
        return f"{path.name}'s SHA-256 does not match its sidecar (the file was modified)"
    return None


def token_file(tokenizer: "Tokenizer", source: str | os.PathLike,
               byte_range: tuple[int, int] | None = None, *, cache: str | os.PathLike | None = None,
               verify: bool = True, name: str | None = None) -> np.memmap:
    """The token ids of the text file ``source`` (bytes ``byte_range`` of it, else all), as a
    read-only ``np.memmap``: encoded once, streamed, cached by fingerprint.

    ``verify`` re-hashes the stored token file against its sidecar before trusting it (one
    sequential read, about a second per GB); the size check is always done.
    """
    src = _check_source(source)
    size = src.stat().st_size
    lo, hi = (0, size) if byte_range is None else (int(byte_range[0]), int(byte_range[1]))
    if not 0 <= lo < hi <= size:
        raise ValueError(f"byte_range must satisfy 0 <= start < end <= {size} (the file's size), "
                         f"got {byte_range!r}")
    key = hashlib.sha256(json.dumps({
        "tokenizer": tokenizer_fingerprint(tokenizer), "text": file_sha256(src, lo, hi),
        "range": [lo, hi], "format": FORMAT_VERSION}).encode()).hexdigest()[:20]
    stem = name or src.stem
    out = _cache_root(cache) / f"{stem}-{key}.bin"
    if out.exists() or _sidecar(out).exists():
        problem = check_token_file(out, verify)
        if problem is None:
            return open_token_file(out)
        warnings.warn(f"damaged token cache for {src.name}: {problem}; encoding it again",
                      stacklevel=2)
        for f in (out, _sidecar(out)):
            if f.exists():
                f.unlink()
    meta = write_token_file(tokenizer, text_pieces(src, lo, hi), out)
    meta.update(source=str(src), byte_range=[lo, hi], tokenizer=tokenizer_fingerprint(tokenizer),
                format=FORMAT_VERSION)
    with _AtomicFile(_sidecar(out)) as fh:
        fh.write(json.dumps(meta, indent=1).encode())
    return open_token_file(out)


def open_token_file(path: str | os.PathLike) -> np.memmap:
    """A token file written by :func:`token_file`, memory-mapped read-only with the dtype its
    sidecar records."""
    path = Path(path)
    problem = check_token_file(path, verify=False)
    if problem is not None:
        raise ValueError(f"cannot open token file {path}: {problem}")
    meta = json.loads(_sidecar(path).read_text())
    return np.memmap(path, dtype=np.dtype(meta["dtype"]), mode="r")


def token_file_meta(path: str | os.PathLike) -> dict:
    """The sidecar of a token file (``n_tokens``, ``dtype``, ``max_id``, ``sha256``, source)."""
    return json.loads(_sidecar(Path(path)).read_text())


# ---------------------------------------------------------------------------------------------
# a corpus ready for training: tokenizer + token files


def trained_tokenizer(text_path: str | os.PathLike, vocab_size: int,
                      special_tokens=("<|endoftext|>",), *, cache: str | os.PathLike | None = None,
                      num_processes: int | None = None) -> tuple["Tokenizer", dict]:
    """A byte-level BPE tokenizer trained on ``text_path`` (``utils.tokenization.train_bpe``,
    whose pre-tokenization reads the file in chunks), saved once in the GPT-2 file format under
    the cache, keyed by the file's SHA-256, the vocabulary size and the special tokens.
    Returns ``(tokenizer, info)`` with ``info["seconds"]`` (0 when reused) and ``info["reused"]``."""
    import time

    from ..tokenization import Tokenizer, train_bpe

    src = _check_source(text_path)
    specials = list(special_tokens)
    key = hashlib.sha256(json.dumps({"text": file_sha256(src), "vocab_size": vocab_size,
                                     "special": specials}).encode()).hexdigest()[:16]
    folder = _cache_root(cache) / f"bpe-{src.stem}-v{vocab_size}-{key}"
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    if vocab_path.is_file() and merges_path.is_file():
        try:
            return (Tokenizer.from_files(vocab_path, merges_path, specials),
                    {"seconds": 0.0, "reused": True})
        except (ValueError, TypeError, OSError) as exc:
            warnings.warn(f"damaged tokenizer cache {folder.name} ({exc}); training again",
                          stacklevel=2)
    t0 = time.perf_counter()
    vocab, merges = train_bpe(src, vocab_size, specials, num_processes=num_processes)
    seconds = time.perf_counter() - t0
    tok = Tokenizer(vocab, merges, specials)
    tok.save(vocab_path, merges_path)   # each file atomic; a missing one means train again
    return tok, {"seconds": seconds, "reused": False}


def prepare_lm_data(train_path: str | os.PathLike, val_path: str | os.PathLike | None = None,
                    vocab_size: int = 10_000, *, val_fraction: float = 0.1,
                    bpe_max_bytes: int | None = None, separator: str = "<|endoftext|>",
                    cache: str | os.PathLike | None = None, verify: bool = True) -> dict:
    """Tokenizer and token files for training a language model on a text file of any size.

    ``val_path`` is the corpus' own validation file (TinyStories and OpenWebText have one);
    without it, :func:`split_file` holds out the last ``val_fraction`` of ``train_path``. The
    tokenizer is trained on the training text only (its first ``bpe_max_bytes`` bytes, cut at a
    document boundary, when given), so validation text is never seen by the tokenizer either.
    Returns ``tokenizer``, ``train``/``val`` (memmaps), their file paths and ``dtype``, byte and
    token counts, and the BPE training time."""
    src = _check_source(train_path)
    if val_path:
        val_src = _check_source(val_path)
        train_range, val_range = (0, src.stat().st_size), (0, val_src.stat().st_size)
    else:
        val_src = src
        train_range, val_range = split_file(src, val_fraction, separator)
    bpe_src = copy_prefix(src, train_range[1], cache)    # the training text only
    if bpe_max_bytes is not None:
        bpe_src = prefix_file(bpe_src, bpe_max_bytes, separator, cache)
    tok, info = trained_tokenizer(bpe_src, vocab_size, [separator], cache=cache)
    train = token_file(tok, src, train_range, cache=cache, verify=verify)
    val = token_file(tok, val_src, val_range, cache=cache, verify=verify,
                     name=f"{val_src.stem}-val" if val_src == src else None)
    return {"tokenizer": tok, "train": train, "val": val,
            "train_file": str(train.filename), "val_file": str(val.filename),
            "dtype": train.dtype.name, "bpe_file": str(bpe_src),
            "bpe_bytes": Path(bpe_src).stat().st_size, "bpe_seconds": info["seconds"],
            "train_bytes": train_range[1] - train_range[0],
            "val_bytes": val_range[1] - val_range[0],
            "train_tokens": len(train), "val_tokens": len(val)}
