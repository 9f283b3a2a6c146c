"""BPE training (utils.tokenization.bpe, .pretokenize) and the corpora (utils.data.corpora).

References: merges worked out by hand (in the comments), the textbook trainer that recounts every
pair after every merge (``naive_bpe_merges``), the ``regex`` module's GPT-2 pattern for the ASCII
fast path, and whole-text pre-token counts for the parallel, chunked pre-tokenization.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utils.data import corpora
from utils.tokenization.bpe import (bpe_merges, initial_vocab, naive_bpe_merges, train_bpe,
                                    train_bpe_from_counts)
from utils.tokenization.pretokenize import (_GPT2_RE, _GPT2_RE_ASCII, count_file_pretokens,
                                            count_pretokens, find_chunk_boundaries, pretokenize,
                                            read_chunk, safe_blocks)

EOT = "<|endoftext|>"


def write(tmp_path, text, name="corpus.txt"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


# --- hand-worked examples -------------------------------------------------------------------

def test_hand_worked_merges_with_ties(tmp_path):
    # GPT-2 pre-tokens and counts: "low" 1, " low" 4, " lower" 2, " widest" 3, " newest" 6.
    # Pair counts: (e,s)=9 (s,t)=9 (w,e)=8 (l,o)=7 (o,w)=7 (' ',l)=6 (' ',n)=6 (n,e)=6 (e,w)=6 ...
    #  1. (s,t): tie at 9 with (e,s); b"s" > b"e"        2. (e,st) = 9
    #  3. (o,w): tie at 7 with (l,o); b"o" > b"l"        4. (l,ow) = 7
    #  5. (w,est): ties at 6 with (' ',low), (' ',n), (n,e), (e,w); b"w" is the greatest
    #  6. (n,e): ties at 6 with (' ',low), (' ',n), (e,west); b"n" > b"e" > b" "
    #  7. (ne,west): ties with (' ',low), (' ',ne)          8. (' ',newest): b"newest" > b"low"
    #  9. (' ',low)
    text = "low low low low low lower lower widest widest widest " \
           "newest newest newest newest newest newest"
    vocab, merges = train_bpe(write(tmp_path, text), 256 + 1 + 9, [EOT])
    assert merges == [(b"s", b"t"), (b"e", b"st"), (b"o", b"w"), (b"l", b"ow"), (b"w", b"est"),
                      (b"n", b"e"), (b"ne", b"west"), (b" ", b"newest"), (b" ", b"low")]
    assert vocab[256] == EOT.encode()
    assert [vocab[257 + i] for i in range(9)] == [a + b for a, b in merges]


def test_tie_on_the_second_token_prefers_the_longer_string():
    # (b,c)=3 first; then (a,bc)=1 and (a,b)=1 tie, and (b"a", b"bc") > (b"a", b"b").
    vocab = initial_vocab([])
    merges = bpe_merges({b"bc": 2, b"abc": 1, b"ab": 1}, 3, vocab)
    assert merges == [(b"b", b"c"), (b"a", b"bc"), (b"a", b"b")]
    assert naive_bpe_merges({b"bc": 2, b"abc": 1, b"ab": 1}, 3) == merges


def test_overlapping_pairs_merge_left_to_right():
    # "aaaaa" x1: (a,a)=4 -> "aa aa a"; then (aa,aa)=1 and (aa,a)=1 tie: b"aa" + b"aa" > b"a".
    merges = bpe_merges({b"aaaaa": 1}, 3, initial_vocab([]))
    assert merges == [(b"a", b"a"), (b"aa", b"aa"), (b"aaaa", b"a")]


def test_matches_the_naive_trainer_on_real_text():
    text = corpora.load_corpus("shakespeare")[100_000:112_000] + \
        corpora.load_corpus("python")[:12_000] + " naïve café — “quotes” 😀"
    counts = {w.encode(): c for w, c in count_pretokens(text, [EOT]).items()}
    fast = bpe_merges(counts, 150, initial_vocab([EOT]))
    assert fast == naive_bpe_merges(counts, 150)


# --- vocabulary and special tokens ----------------------------------------------------------

def test_ids_are_contiguous_and_special_tokens_are_never_merged_into(tmp_path):
    prose = corpora.load_corpus("shakespeare")[200_000:230_000]
    docs = [prose[i:i + 300] for i in range(0, len(prose), 300)]  # 100 documents
    path = write(tmp_path, EOT.join(docs))
    vocab, merges = train_bpe(path, 400, [EOT, "<|pad|>"])
    assert sorted(vocab) == list(range(400))
    assert vocab[256] == EOT.encode() and vocab[257] == b"<|pad|>"
    learned = [vocab[i] for i in range(258, 400)]
    assert not any(b"<|" in t or b"|>" in t or b"endoft" in t for t in learned)
    assert all(b"<|" not in a + b for a, b in merges)
    # The test can fail: without the special token, its pieces are learned.
    vocab2, _ = train_bpe(path, 400, [])
    assert any(b"<|" in t or b"|>" in t or b"endoft" in t for t in vocab2.values())


def test_running_out_of_pairs_warns(tmp_path):
    with pytest.warns(UserWarning, match="ran out of pairs"):
        vocab, merges = train_bpe(write(tmp_path, "ab ab"), 300, [])
    assert merges == [(b"a", b"b"), (b" ", b"ab")] and len(vocab) == 258


# --- pre-tokenization -----------------------------------------------------------------------

PIECES = ["a", "bc", " ", "  ", "\n", "\n\n\n", "'", "ll", "'s", "1", ".", "é", "😀", EOT, "\t"]


def test_gpt2_pretokens_by_hand():
    assert pretokenize("Hello, world! It's 2024  \n\n ok") == \
        ["Hello", ",", " world", "!", " It", "'s", " 2024", "  \n\n", " ok"]
    assert pretokenize("naïve 世界") == ["naïve", " 世界"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_fast_path_equals_regex_module(s):
    assert _GPT2_RE_ASCII.findall(s) == _GPT2_RE.findall(s)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=300), st.integers(1, 40))
def test_mixed_ascii_blocks_equal_regex_module(pieces, block_chars):
    text = "".join(pieces).replace(EOT, "x")
    assert pretokenize(text, block_chars=block_chars) == _GPT2_RE.findall(text)


def test_special_tokens_split_and_longest_wins():
    counts = count_pretokens(f"a{EOT}{EOT}b", [EOT, EOT + EOT])
    assert counts == {"a": 1, "b": 1}
    assert count_pretokens(f"x{EOT}y", None) != count_pretokens(f"x{EOT}y", [EOT])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), max_size=400), st.integers(2, 9),
       st.booleans())
def test_chunked_counts_equal_whole_text_counts(tmp_path, pieces, n_chunks, with_special):
    text = "".join(pieces)
    specials = [EOT] if with_special else []
    path = write(tmp_path, text)
    bounds = find_chunk_boundaries(path, n_chunks, specials, window=7)
    data = text.encode()
    assert bounds[0] == 0 and bounds[-1] == len(data)
    assert all(x < y for x, y in zip(bounds, bounds[1:])) or not data
    total = {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        if a > 0:
            at_special = with_special and data.startswith(EOT.encode(), a)
            safe_newline = re.fullmatch(rb"[\x21-\x7e]\n[\x21-\x7e]", data[a - 2:a + 1])
            assert at_special or safe_newline, (a, data[a - 15:a + 15])
        for k, v in count_pretokens(read_chunk(path, a, b), specials).items():
            total[k] = total.get(k, 0) + v
    assert total == dict(count_pretokens(text, specials))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=300), st.integers(1, 60))
def test_counting_in_blocks_equals_counting_whole(pieces, block_chars):
    text = "".join(pieces)
    whole = count_pretokens(text, [EOT], block_chars=10**9)
    assert count_pretokens(text, [EOT], block_chars=block_chars) == whole
    assert "".join(safe_blocks(text, block_chars)) == text


def test_parallel_counts_equal_serial_counts(tmp_path):
    prose = corpora.load_corpus("shakespeare")[:400_000]  # a few documents: special-token cuts
    code = corpora.load_corpus("python")[:400_000].replace(EOT, "\n")  # newline cuts only
    for text, specials in ((prose, [EOT]), (code, [])):
        path = write(tmp_path, text)
        parallel = count_file_pretokens(path, specials, num_processes=2, min_parallel_bytes=0)
        assert parallel == count_pretokens(text, specials)


def test_one_process_reads_the_file_in_chunks_with_the_same_counts(tmp_path):
    prose = corpora.load_corpus("shakespeare")[:400_000]
    code = corpora.load_corpus("python")[:400_000].replace(EOT, "\n")
    for text, specials in ((prose, [EOT]), (code, [])):
        path = write(tmp_path, text)
        chunked = count_file_pretokens(path, specials, num_processes=1, chunk_bytes=30_000)
        assert chunked == count_pretokens(text, specials)
    with pytest.raises(ValueError, match="chunk_bytes must be a positive int"):
        count_file_pretokens(path, [], chunk_bytes=0)


# One process pre-tokenizing a file: peak resident memory above the start (VmHWM, this process's
# own peak; ru_maxrss would be inherited across exec) with chunks of 1 MiB or the whole file.
_PEAK_CHILD = textwrap.dedent("""
    import sys
    from utils.tokenization.pretokenize import count_file_pretokens

    def peak_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    path, chunk = sys.argv[1], int(sys.argv[2])
    count_file_pretokens(path, ["<|endoftext|>"], num_processes=1,
                         chunk_bytes=1 << 16)                # warm up imports and regexes
    base = peak_kb()
    counts = count_file_pretokens(path, ["<|endoftext|>"], num_processes=1, chunk_bytes=chunk)
    print(sum(counts.values()), (peak_kb() - base) * 1024)
""")


def test_one_process_peak_memory_stays_below_a_limit_the_whole_file_exceeds(tmp_path):
    import numpy as np

    # 40 MB of words from a 2,000-word vocabulary, documents separated by the special token
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(2000)])
    docs = [" ".join(words[rng.integers(0, 2000, 1000)]) for _ in range(200)]
    block = (EOT.join(docs) + EOT).encode()
    path = tmp_path / "big.txt"
    with open(path, "wb") as fh:
        while fh.tell() < 40_000_000:
            fh.write(block)
    size = os.path.getsize(path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = {}
    for mode, chunk in (("stream", 1 << 20), ("whole", 1 << 40)):
        run = subprocess.run([sys.executable, "-c", _PEAK_CHILD, str(path), str(chunk)],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        out[mode] = tuple(map(int, run.stdout.split()))
    assert out["stream"][0] == out["whole"][0] > 0            # the same pre-tokens counted
    limit = size // 2
    assert out["stream"][1] < limit < size < out["whole"][1], (size, out)


# --- bad input ------------------------------------------------------------------------------

def test_non_utf8_training_file_is_a_clear_error(tmp_path):
    path = write(tmp_path, b"hello \xff\xfe world")
    with pytest.raises(ValueError, match=r"not valid UTF-8: byte offset 6"):
        train_bpe(path, 300, [EOT])
    big = write(tmp_path, b"ok text\n" * 5000 + b"\xc3(" + b"more\n" * 10, "big.txt")
    with pytest.raises(ValueError, match=r"not valid UTF-8: byte offset 40000"):
        count_file_pretokens(big, [], num_processes=2, min_parallel_bytes=0)


def test_bad_arguments(tmp_path):
    path = write(tmp_path, "some text")
    with pytest.raises(ValueError, match=r"smaller than the base vocabulary.*257"):
        train_bpe(path, 256, [EOT])
    with pytest.raises(TypeError, match="vocab_size must be an int"):
        train_bpe(path, 300.0, [EOT])
    with pytest.raises(TypeError, match="list of strings"):
        train_bpe(path, 300, EOT)
    with pytest.raises(ValueError, match="non-empty string"):
        train_bpe(path, 300, [""])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_bpe(tmp_path / "missing.txt", 300, [EOT])
    with pytest.raises(ValueError, match="num_processes"):
        train_bpe(path, 300, [EOT], num_processes=0)
    with pytest.raises(ValueError, match="base vocabulary"):
        train_bpe_from_counts({b"ab": 1}, 10, [])


# --- corpora --------------------------------------------------------------------------------

def test_named_corpora_have_their_documented_sizes():
    docs = corpora.shakespeare_documents()
    assert len(docs) == 42 and sum(map(len, docs)) == 5_057_198
    text = corpora.load_corpus("shakespeare")
    assert len(text) == 5_057_198 + 41 * len(EOT) and text.isascii()
    code = corpora.load_corpus("python")
    n_files = len(corpora.python_source_files())
    assert code.count(EOT) == n_files - 1
    assert 0.5 * corpora.PYTHON_MAX_BYTES < len(code.encode()) <= corpora.PYTHON_MAX_BYTES
    assert "def " in code and "import " in code


def test_corpus_path_and_split(tmp_path):
    p = corpora.corpus_path("shakespeare")
    assert p.read_text(encoding="utf-8") == corpora.load_corpus("shakespeare")
    assert corpora.corpus_path("shakespeare") == p  # written once, reused
    own = write(tmp_path, "my text")
    assert corpora.corpus_path(own) == own and corpora.load_corpus(own) == "my text"
    with pytest.raises(FileNotFoundError, match="shakespeare, python"):
        corpora.load_corpus("tinystories")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        corpora.load_corpus(write(tmp_path, b"\xff", "bad.txt"))
    text = EOT.join(f"document {i}\n" * 20 for i in range(30))
    train, val = corpora.train_val_split(text, 0.1)
    assert train + EOT + val == text and val.startswith("document ")
    assert abs(len(val) / len(text) - 0.1) < 0.04
    train, val = corpora.train_val_split("line\n" * 100, 0.25)
    assert train + val == "line\n" * 100 and len(val) == 125
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        corpora.train_val_split(text, 1.0)
