"""BPE tokenizer speed and memory (issue 4): ours against Hugging Face ``tokenizers`` and tiktoken.

Targets, each timed side by side in this process with alternating rounds:

* training a byte-level BPE on a >= 5 MB real corpus (Shakespeare, 5.06 MB) to vocab 10,000:
  our time / HF ``BpeTrainer`` (ByteLevel pre-tokenizer) time <= 3, both on 2 CPUs (our
  pre-tokenization on 2 processes, HF's rayon pool on 2 threads);
* training time against corpus size (1, 2, 4, 8 MiB prefixes of the Python-source corpus): the
  fitted exponent k of t ~ size^k, <= 1.1 (linear or better);
* encoding throughput, one thread, with the same merges: ours >= 1.5x HF and >= 0.5x tiktoken.
  Ours starts every round with an empty word cache (``clear_cache``): the first pass over a
  text, the honest number; the steady-state (warm cache) speed is reported beside it;
* peak memory of training and encoding (reported, no target).

``quick`` (used to prove the code path) trains on 1 MB to vocab 2,000, scales over 0.25-2 MiB and
encodes 1 MB, one round each.
"""

from __future__ import annotations

import os

# HF's thread pool reads this once, at its first use: 2 threads, as the training target says.
os.environ.setdefault("RAYON_RS_NUM_CPUS", "2")

import tempfile  # noqa: E402

import numpy as np  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.common import Result, compare, load_note, ratio_result, time_call  # noqa: E402

EOT = "<|endoftext|>"


def hf_train(path: Path, vocab_size: int):
    """Hugging Face's byte-level BPE trainer, configured like ours (GPT-2 regex, all 256 bytes,
    ``<|endoftext|>`` special, no minimum frequency)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train([str(path)], trainer)
    return tok


def hf_train_size(path: Path, vocab_size: int) -> int:
    """``hf_train`` returning only the vocabulary size (picklable, for the memory probe)."""
    return hf_train(path, vocab_size).get_vocab_size()


def hf_from_ours(tok, folder: Path):
    """An HF tokenizer with exactly our vocabulary and merges (loaded from our saved files)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok.save(folder / "vocab.json", folder / "merges.txt")
    hf = Tokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(tok.special_tokens)
    return hf


def tiktoken_from_ours(tok):
    """A ``tiktoken.Encoding`` built offline from our vocabulary: ranks = our ids."""
    import tiktoken

    from utils.tokenization.pretokenize import GPT2_PAT

    special = {s: i for s, i in tok.special_ids.items()}
    ranks = {t: i for i, t in tok.vocab.items() if i not in special.values()}
    return tiktoken.Encoding("ours-offline", pat_str=GPT2_PAT, mergeable_ranks=ranks,
                             special_tokens=special)


def _prefix_file(text: str, n_bytes: int, folder: Path, name: str) -> Path:
    data = text.encode("utf-8")[:n_bytes]
    cut = data.rfind(b"\n") + 1 or len(data)  # whole lines only
    path = folder / name
    path.write_bytes(data[:cut])
    return path


def run(quick: bool) -> list[Result]:
    from utils.data.corpora import corpus_path, load_corpus
    from utils.stats import fit_power_law
    from utils.tokenization import Tokenizer, train_bpe
    from utils.tokenization.memory import encode_count, measure_in_fresh_process, stream_count

    results: list[Result] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-bpe-"))
    prose = load_corpus("shakespeare")
    if quick:
        train_path, vocab_size, rounds, warmup = _prefix_file(prose, 1_000_000, tmp, "p.txt"), \
            2_000, 1, 0
    else:
        train_path, vocab_size, rounds, warmup = corpus_path("shakespeare"), 10_000, 3, 1
    mb = train_path.stat().st_size / 1e6

    # 1. training: ours vs HF, alternating rounds
    trained = {}

    def ours_train():
        trained["ours"] = train_bpe(train_path, vocab_size, [EOT], num_processes=2)

    stats = compare({"ours": ours_train, "hf": lambda: hf_train(train_path, vocab_size)},
                    reference="hf", rounds=rounds, warmup=warmup)
    detail = f"{mb:.2f} MB Shakespeare, vocab {vocab_size:,}; {load_note()}"
    results.append(Result("train: ours wall time", stats["ours"]["median_s"], "s", detail))
    results.append(Result("train: HF tokenizers wall time (2 threads)", stats["hf"]["median_s"],
                          "s", detail))
    results.append(ratio_result("train: ours / HF time", stats["ours"], target_max=3.0,
                                detail=detail))
    timings: dict = {}
    train_bpe(train_path, vocab_size, [EOT], num_processes=2, timings=timings)
    results.append(Result("train: ours pre-tokenization share", timings["pretokenize_s"] /
                          (timings["pretokenize_s"] + timings["merge_s"]), "frac",
                          f"pre-tokenize {timings['pretokenize_s']:.2f} s, merges "
                          f"{timings['merge_s']:.2f} s, {timings['n_unique']:,} distinct words"))

    # 2. training time against corpus size
    code = load_corpus("python")
    sizes = [2**18, 2**19, 2**20, 2**21] if quick else [2**20, 2**21, 2**22, 2**23]
    xs, ys = [], []
    for s in sizes:
        path = _prefix_file(code, s, tmp, f"code{s}.txt")
        t = min(time_call(lambda: train_bpe(path, vocab_size, [EOT], num_processes=2))
                for _ in range(1 if quick else 2))
        xs.append(path.stat().st_size)
        ys.append(t)
        results.append(Result(f"train: ours on {xs[-1] / 2**20:.2f} MiB of Python code",
                              t, "s", f"vocab {vocab_size:,}"))
    k, _ = fit_power_law(xs, ys)
    results.append(Result("train: time ~ size^k, fitted k", k, "", "sizes "
                          + ", ".join(f"{x / 2**20:.2f}" for x in xs) + " MiB",
                          target="<= 1.1", ok=k <= 1.1))
    mib = np.asarray(xs) / 2**20
    slope, intercept = np.polyfit(mib, ys, 1)
    worst = float(np.max(np.abs(np.polyval([slope, intercept], mib) - ys) / ys))
    results.append(Result("train: straight-line fit t = a + b * MiB, b", slope, "s/MiB",
                          f"a = {intercept:.2f} s (the merges' share, which grows with the "
                          f"number of distinct words, not bytes); largest deviation from the "
                          f"line {worst:.0%}"))

    # 3. encoding throughput, one thread, same merges
    tok = Tokenizer(*trained["ours"], special_tokens=[EOT])
    hf = hf_from_ours(tok, tmp)
    enc = tiktoken_from_ours(tok)
    text = prose[:1_000_000] if quick else prose
    lines = text.splitlines(keepends=True)
    chunks = ["".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)]
    ids = tok.encode(text)
    # HF is called per chunk (one call on megabytes is slow), so compare chunk by chunk.
    same_hf = all(hf.encode(c).ids == tok.encode(c) for c in chunks)
    same_tt = enc.encode(text, allowed_special="all") == ids
    results.append(Result("encode: identical ids (HF, tiktoken)", float(same_hf and same_tt), "",
                          f"HF {same_hf}, tiktoken {same_tt}", target="== 1",
                          ok=same_hf and same_tt))

    def ours_cold():
        tok.clear_cache()
        tok.encode(text)

    stats = compare({"ours": ours_cold,
                     "hf": lambda: [hf.encode(c) for c in chunks],
                     "tiktoken": lambda: enc.encode(text, allowed_special="all")},
                    reference="ours", rounds=rounds, warmup=warmup)
    size_mb = len(text.encode("utf-8")) / 1e6
    detail = f"{size_mb:.2f} MB, vocab {len(tok.vocab):,}; {load_note()}"
    for name in ("ours", "hf", "tiktoken"):
        results.append(Result(f"encode: {name} throughput (1 thread)",
                              size_mb / stats[name]["median_s"], "MB/s",
                              "cold word cache" if name == "ours" else "HF: encode() per "
                              "1,000-line chunk" if name == "hf" else "encode(whole text)"))
    tok.encode(text)
    warm = min(time_call(lambda: tok.encode(text)) for _ in range(rounds))
    results.append(Result("encode: ours throughput, warm word cache", size_mb / warm, "MB/s",
                          "steady state: every word of the text already cached"))
    results.append(ratio_result("encode: ours throughput / HF", stats["hf"], target_min=1.5,
                                detail=detail))
    results.append(ratio_result("encode: ours throughput / tiktoken", stats["tiktoken"],
                                target_min=0.5, detail=detail))

    # 4. peak memory, each measured in a fresh interpreter (see utils.tokenization.memory)
    vocab, merges = trained["ours"]
    _, peak, wall = measure_in_fresh_process(train_bpe, train_path, vocab_size, [EOT],
                                             num_processes=2)
    results.append(Result("memory: ours training peak", peak.total_mb, "MB",
                          f"{peak}; {wall:.1f} s"))
    _, peak, wall = measure_in_fresh_process(hf_train_size, train_path, vocab_size)
    results.append(Result("memory: HF training peak", peak.total_mb, "MB", f"{peak}; {wall:.1f} s"))
    n, peak, wall = measure_in_fresh_process(encode_count, vocab, merges, [EOT], text)
    results.append(Result("memory: ours encode(whole text) peak", peak.total_mb, "MB",
                          f"{size_mb:.2f} MB text -> list of {n:,} ids"))
    n, peak, wall = measure_in_fresh_process(stream_count, vocab, merges, [EOT], chunks)
    results.append(Result("memory: ours encode_iterable peak", peak.total_mb, "MB",
                          f"{n:,} ids streamed and counted, not kept"))
    return results
