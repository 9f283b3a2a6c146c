"""Token files (utils.data.token_files): streamed encoding, cache by fingerprint, damage detection,
byte-range splits, and the peak memory of the streaming path against the whole-file path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from utils.data import token_files as tf
from utils.tokenization import Tokenizer, train_bpe

EOT = "<|endoftext|>"
REPO = Path(__file__).resolve().parents[1]


def synthetic_text(n_docs: int, seed: int = 0) -> str:
    """Documents of words from a small random lexicon (with some non-ASCII), joined by EOT."""
    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz") + ["é", "ß", "ж", "水"]
    lexicon = ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(300)]
    docs = []
    for _ in range(n_docs):
        words = rng.choice(lexicon, rng.integers(5, 40))
        docs.append(" ".join(words) + ".\n")
    return EOT.join(docs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    path = d / "stories.txt"
    path.write_text(synthetic_text(400), encoding="utf-8")
    vocab, merges = train_bpe(path, 400, [EOT], num_processes=1)
    return path, Tokenizer(vocab, merges, [EOT])


def test_text_pieces_split_characters_correctly(tmp_path):
    text = "ab水cé" * 50 + "ж"
    p = tmp_path / "t.txt"
    p.write_text(text, encoding="utf-8")
    for piece in (1, 2, 3, 5, 7):            # pieces cut inside multi-byte characters
        assert "".join(tf.text_pieces(p, piece_bytes=piece)) == text
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc\xff\xfedef")
    with pytest.raises(ValueError, match="not valid UTF-8 near byte offset 3"):
        list(tf.text_pieces(bad))


def test_token_file_round_trip_and_cache(corpus, tmp_path):
    path, tok = corpus
    text = path.read_text(encoding="utf-8")
    mm = tf.token_file(tok, path, cache=tmp_path)
    assert mm.dtype == np.uint16 and isinstance(mm, np.memmap)
    assert mm.tolist() == tok.encode(text)                   # the streamed ids equal encode()
    assert tok.decode(mm.tolist()) == text
    meta = tf.token_file_meta(mm.filename)
    assert meta["n_tokens"] == len(mm) and meta["max_id"] == int(mm.max())
    mtime = os.stat(mm.filename).st_mtime_ns
    again = tf.token_file(tok, path, cache=tmp_path)         # reused, not re-encoded
    assert again.filename == mm.filename and os.stat(mm.filename).st_mtime_ns == mtime
    # a different tokenizer (one merge fewer) gives a different file
    tok2 = Tokenizer(tok.vocab, tok.merges[:-1], [EOT])
    other = tf.token_file(tok2, path, cache=tmp_path)
    assert other.filename != mm.filename


@pytest.mark.parametrize("damage", ["truncate", "flip", "sidecar"])
def test_damaged_cache_is_detected_and_rebuilt(corpus, tmp_path, damage):
    path, tok = corpus
    good = tf.token_file(tok, path, cache=tmp_path)
    ids = good.tolist()
    f = Path(good.filename)
    del good
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-6])
    elif damage == "flip":
        data = bytearray(f.read_bytes())
        data[10] ^= 0xFF
        f.write_bytes(bytes(data))
    else:
        f.with_suffix(".json").write_text("{not json")
    assert tf.check_token_file(f) is not None
    with pytest.warns(UserWarning, match="damaged token cache"):
        rebuilt = tf.token_file(tok, path, cache=tmp_path)
    assert rebuilt.tolist() == ids and tf.check_token_file(rebuilt.filename) is None


def test_interrupted_encoding_leaves_no_file(corpus, tmp_path):
    path, tok = corpus

    def pieces():
        yield "hello world " * 1000
        raise KeyboardInterrupt                          # the run is killed mid-stream

    out = tmp_path / "x.bin"
    with pytest.raises(KeyboardInterrupt):
        tf.write_token_file(tok, pieces(), out, block_tokens=100)
    assert list(tmp_path.iterdir()) == []               # no half file, no temporary file


def test_token_dtype():
    assert tf.token_dtype(255) == np.uint16 and tf.token_dtype(65_535) == np.uint16
    assert tf.token_dtype(65_536) == np.uint32 and tf.token_dtype(31_999) == np.uint16
    with pytest.raises(ValueError, match="non-negative"):
        tf.token_dtype(-1)


def test_large_vocabulary_uses_uint32(tmp_path):
    vocab = {i: bytes([i]) for i in range(256)}
    vocab[70_000] = b"ab"                                 # an id above uint16's range
    tok = Tokenizer(vocab, [(b"a", b"b")], [EOT])
    p = tmp_path / "t.txt"
    p.write_text("abab cab" + EOT + "ab", encoding="utf-8")
    mm = tf.token_file(tok, p, cache=tmp_path / "c")
    assert mm.dtype == np.uint32 and mm.tolist() == tok.encode(p.read_text())
    assert 70_000 in mm.tolist()


def test_split_file_cuts_at_a_separator(tmp_path):
    docs = [f"document {i} " + "x" * (i % 7) for i in range(50)]
    text = EOT.join(docs)
    p = tmp_path / "c.txt"
    p.write_text(text, encoding="utf-8")
    (a, b), (c, d) = tf.split_file(p, 0.2)
    raw = p.read_bytes()
    assert a == 0 and d == len(raw) and raw[b:c] == EOT.encode()
    assert raw[b:c] == EOT.encode() and b >= int(0.8 * len(raw))
    assert raw[c:].decode().startswith("document ")      # a whole document starts the val part
    lines = tmp_path / "lines.txt"                        # no separator: cut at a line start
    lines.write_text("".join(f"line {i}\n" for i in range(100)))
    (a, b), (c, d) = tf.split_file(lines, 0.1)
    raw = lines.read_bytes()
    assert b == c and raw[b - 1:b] == b"\n" and raw[c:].startswith(b"line 9")
    q = tmp_path / "none.txt"
    q.write_text("no separators at all " * 10)
    with pytest.raises(ValueError, match="cannot be split"):
        tf.split_file(q, 0.1)


def test_prefix_file_keeps_whole_documents(corpus, tmp_path):
    path, _ = corpus
    raw = path.read_bytes()
    out = tf.prefix_file(path, len(raw) // 3, cache=tmp_path)
    data = out.read_bytes()
    assert len(data) <= len(raw) // 3 and raw.startswith(data)
    assert raw[len(data):].startswith(EOT.encode())
    assert tf.prefix_file(path, len(raw) + 10, cache=tmp_path) == path


def test_prepare_lm_data_with_and_without_a_validation_file(corpus, tmp_path):
    path, _ = corpus
    raw = path.read_text(encoding="utf-8")
    # a TinyStories-style pair: separate training and validation files
    docs = raw.split(EOT)
    train_p, val_p = tmp_path / "TinyStories-train.txt", tmp_path / "TinyStories-valid.txt"
    train_p.write_text(EOT.join(docs[:350]), encoding="utf-8")
    val_p.write_text(EOT.join(docs[350:]), encoding="utf-8")
    d = tf.prepare_lm_data(train_p, val_p, 300, cache=tmp_path / "cache")
    tok = d["tokenizer"]
    assert d["dtype"] == "uint16" and len(tok.vocab) == 300
    assert d["val"].tolist() == tok.encode(val_p.read_text(encoding="utf-8"))
    assert d["train"].tolist() == tok.encode(train_p.read_text(encoding="utf-8"))
    again = tf.prepare_lm_data(train_p, val_p, 300, cache=tmp_path / "cache")
    assert again["bpe_seconds"] == 0.0                          # the tokenizer is reused
    # one file: split at a separator; the tokenizer sees only the training part
    one = tf.prepare_lm_data(path, None, 300, val_fraction=0.25, cache=tmp_path / "cache")
    (_, cut), (v0, v1) = tf.split_file(path, 0.25)
    assert one["bpe_bytes"] == cut and one["val_bytes"] == v1 - v0
    assert one["tokenizer"].decode(one["val"].tolist()) == path.read_bytes()[v0:].decode()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tf.prepare_lm_data(tmp_path / "missing.txt", None, 300, cache=tmp_path / "cache")


# ---------------------------------------------------------------------------------------------
# peak memory: the streaming path stays far below a limit that the whole-file path exceeds

_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from utils.data import token_files as tf
    from utils.data.corpora import load_corpus
    from utils.tokenization import Tokenizer
    mode, src, vocab, merges, cache = sys.argv[1:6]
    tok = Tokenizer.from_files(vocab, merges, ["<|endoftext|>"])
    tok.encode("warm up the imports")

    def peak_kb():
        # VmHWM: this process's own peak RSS (ru_maxrss is inherited from the parent across
        # exec on Linux, so under a large pytest worker it would not move)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    base = peak_kb()
    if mode == "stream":
        n = len(tf.token_file(tok, src, cache=cache))
    else:                                   # the whole-file path: read it, encode it, store it
        n = len(np.array(tok.encode(load_corpus(src)), dtype=np.uint16))
    peak = peak_kb()
    print(n, (peak - base) * 1024)
""")


def _peak_extra_bytes(mode, src, tok_files, cache) -> tuple[int, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(src), *map(str, tok_files),
                          str(cache)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    n, extra = out.stdout.split()
    return int(n), int(extra)


def test_streaming_memory_stays_under_a_limit_the_whole_file_path_exceeds(tmp_path):
    # 24 MB of text in 1,000-document slices; the limit is twice the file's size. Measured (own
    # peak RSS of a fresh process, VmHWM): the streaming path adds about 27-30 MB whatever the
    # size (8 MB and 32 MB files), the whole-file path about 7x the file (57 and 226 MB)
    path = tmp_path / "big.txt"
    piece = synthetic_text(1000, seed=1)
    with open(path, "w", encoding="utf-8") as fh:
        while fh.tell() < 24_000_000:
            fh.write(piece + EOT)
    size = path.stat().st_size
    vocab, merges = train_bpe(tf.prefix_file(path, 1_000_000, cache=tmp_path), 400, [EOT],
                              num_processes=1)
    files = (tmp_path / "vocab.json", tmp_path / "merges.txt")
    Tokenizer(vocab, merges, [EOT]).save(*files)
    limit = 2 * size
    n_stream, stream = _peak_extra_bytes("stream", path, files, tmp_path / "cache")
    n_whole, whole = _peak_extra_bytes("whole", path, files, tmp_path / "cache")
    assert n_stream == n_whole > size // 8                 # the same tokens either way
    print(f"stream {stream/1e6:.1f} MB whole {whole/1e6:.1f} MB limit {limit/1e6:.1f} MB tokens {n_stream}")
    assert stream < limit < whole, (f"streaming path +{stream / 1e6:.1f} MB, whole-file path "
                                    f"+{whole / 1e6:.1f} MB, limit {limit / 1e6:.1f} MB")


# ---------------------------------------------------------------------------------------------
# training from token files: the largest id without mapping every page; the wall-clock budget


def test_max_id_matches_numpy_for_every_kind_of_array(tmp_path):
    from utils.train.lm import _max_id, load_tokens

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 5000, 100_003).astype(np.uint16)
    ids[77_777] = 60_001                                  # the maximum, in a later block
    ids.tofile(tmp_path / "t.bin")
    np.save(tmp_path / "t.npy", ids)
    mm = load_tokens(tmp_path / "t.bin")
    for arr in (mm, mm[:50_000], mm[10:], load_tokens(tmp_path / "t.npy"), ids):
        assert _max_id(arr, block=4096) == int(np.max(np.asarray(arr)))


def test_train_lm_stops_at_its_wall_clock_budget(corpus, tmp_path):
    from utils.train.lm import train_lm

    path, tok = corpus
    mm = tf.token_file(tok, path, cache=tmp_path)
    cfg = {"model": {"vocab_size": len(tok.vocab), "context_length": 16, "d_model": 16,
                     "num_layers": 1, "num_heads": 2},
           "train_data": str(mm.filename), "val_data": str(mm.filename), "batch_size": 4,
           "max_iters": 100_000, "eval_interval": 50_000, "eval_iters": 1,
           "checkpoint_interval": 0, "keep_model": False, "max_train_s": 0.3}
    r = train_lm(cfg, progress_bar=False)
    assert r["budget_hit"] and 1 <= r["iterations"] < 100_000
    assert 0.3 <= r["train_s"] < 5.0                     # stopped after the step that spent it
    assert r["history"]["val_iter"] == [0, r["iterations"]]   # evaluated where it stopped
    no_budget = train_lm({**cfg, "max_iters": 3, "max_train_s": 0.0}, progress_bar=False)
    assert not no_budget["budget_hit"] and no_budget["iterations"] == 3
    with pytest.raises(ValueError, match="max_train_s must be >= 0"):
        train_lm({**cfg, "max_train_s": -1.0}, progress_bar=False)
