"""Peak memory of a 1 GB corpus through the streaming path (issue 19): tokenize, train.

A synthetic 1 GB UTF-8 corpus (documents of words from a 2,000-word random lexicon with some
non-ASCII letters, joined by ``<|endoftext|>``; generated once into ``data/cache/bench/``) goes
through ``utils.data.token_files.prepare_lm_data`` in a fresh process: split at a document
boundary (last 10 % for validation), a 1,024-token BPE trained on its first 16 MB, both parts
encoded to ``uint16`` token files in 1 MiB pieces (in a fresh temporary cache, so every run
measures the encoding), then ``utils.train.lm.train_lm`` trains the
notebook-06 laptop model for 30 steps reading the memory-mapped files (one thread). Measured:
the process's peak resident memory (``ru_maxrss``) and the BPE worker processes' peak, against
the target of < 1 GB (1,000,000,000 bytes); beside it the anonymous memory and the mapped file
pages at the end. ``ru_maxrss`` counts the token-file pages training has touched, and on this
kernel (Linux 6.18, large page-cache folios) one sampled window maps about 1 MB of the file,
so that part grows with the steps up to the token file's size (here about 0.5 GB); those pages
are clean and the kernel can drop them under pressure, unlike the anonymous part. For scale,
the whole-file path (``load_corpus`` + ``Tokenizer.encode`` to a list) needs the text (1 GB as a
``str``) plus about 12 bytes per token for the list, several GB here
(``tests/test_token_files.py`` measures both paths on 24 MB: +3.7 MB vs +163 MB).

``quick``: a 64 MB corpus, 5 steps, the same target (proves the code path only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result

EOT = "<|endoftext|>"
TARGET = 1_000_000_000

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
from utils.data.token_files import prepare_lm_data
from utils.train.lm import train_lm
src, cache, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = prepare_lm_data(src, None, 1024, bpe_max_bytes=16_000_000, cache=cache)
t1 = time.perf_counter()
rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
cfg = {"model": {"vocab_size": 1024, "context_length": 64, "d_model": 64, "num_layers": 4,
                 "num_heads": 2, "rope_theta": 10000.0, "attention": "flash"},
       "train_data": d["train_file"], "val_data": d["val_file"], "data_dtype": d["dtype"],
       "batch_size": 32, "max_iters": steps, "lr_max": 1e-2, "warmup_iters": 1,
       "eval_interval": steps, "eval_iters": 2, "checkpoint_interval": 0, "keep_model": False}
r = train_lm(cfg, progress_bar=False)
status = open("/proc/self/status").read()
kb = lambda key: int(status.split(key + ":")[1].split()[0]) * 1024
print(json.dumps({"prepare_s": t1 - t0, "train_s": time.perf_counter() - t1,
                  "rss_after_data": rss_data,
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "children_peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                  * 1024, "train_tokens": d["train_tokens"], "val_tokens": d["val_tokens"],
                  "bytes": d["train_bytes"] + d["val_bytes"], "val_loss": r["final_val_loss"],
                  "rss_anon_end": kb("RssAnon"), "rss_file_end": kb("RssFile"),
                  "token_bytes": d["train"].nbytes + d["val"].nbytes}))
"""


def synthetic_corpus(path: Path, size: int, seed: int = 0) -> Path:
    """Write (once, atomically) ``size`` bytes or a little more of synthetic documents."""
    import numpy as np

    if path.is_file() and path.stat().st_size >= size:
        return path
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz") + ["é", "ö", "ж", "水"])
    lexicon = ["".join(rng.choice(letters, rng.integers(2, 10))) for _ in range(2000)]
    weights = 1.0 / np.arange(1, 2001)
    weights /= weights.sum()
    docs = []
    for _ in range(4000):                         # a 4,000-document block, repeated shuffled
        words = rng.choice(lexicon, rng.integers(20, 300), p=weights)
        docs.append(" ".join(words) + ".\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        while written < size:
            block = EOT.join(docs[i] for i in rng.permutation(len(docs))) + EOT
            fh.write(block)
            written += len(block.encode("utf-8"))
    os.replace(tmp, path)
    return path


def run(quick: bool) -> list[Result]:
    from utils.paths import ROOT, cache_dir

    size = 64 * 10**6 if quick else 10**9
    steps = 5 if quick else 30
    folder = cache_dir() / "bench"
    t0 = time.perf_counter()
    src = synthetic_corpus(folder / f"synthetic-{size // 10**6}MB.txt", size)
    gen_s = time.perf_counter() - t0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(dir=folder) as tokens:    # fresh: encode, train the BPE
        out = subprocess.run([sys.executable, "-c", _CHILD, str(src), tokens, str(steps)],
                             capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"the streaming child failed:\n{out.stderr[-3000:]}")
    m = json.loads(out.stdout.strip().splitlines()[-1])
    detail = (f"{m['bytes'] / 1e9:.3f} GB of text -> {m['train_tokens'] + m['val_tokens']:,} "
              f"tokens ({m['token_bytes'] / 1e6:.0f} MB uint16); prepare {m['prepare_s']:.0f} s, "
              f"{steps} training steps {m['train_s']:.0f} s, corpus generated in {gen_s:.0f} s; "
              f"peak after data prep {m['rss_after_data'] / 1e6:.0f} MB; at the end "
              f"{m['rss_anon_end'] / 1e6:.0f} MB anonymous + {m['rss_file_end'] / 1e6:.0f} MB "
              f"mapped file pages; "
              f"val loss {m['val_loss']:.2f}")
    return [
        Result(f"streaming path, {size / 1e9:g} GB corpus: peak RSS", m["peak_rss"] / 1e9, "GB",
               detail=detail, target=f"< {TARGET / 1e9:g}", ok=m["peak_rss"] < TARGET),
        Result("streaming path: BPE worker processes' peak RSS", m["children_peak_rss"] / 1e9,
               "GB", detail="tokenizer trained on the first 16 MB (pre-tokenization workers)"),
    ]
