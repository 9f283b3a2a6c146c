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
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · A Transformer language model, trained and taken apart
#
# Seed 004 (CS336 assignment 1, "Basics"), from the model onwards: the pre-norm Transformer LM
# (RMSNorm, SwiGLU, RoPE), cross-entropy, AdamW, the cosine schedule, gradient clipping, data
# loading, checkpointing, the training loop and decoding — all in `utils` and tested against
# torch — then the experiments and the resource accounting. Answered here with measurements:
#
# * **learning_rate**: a learning-rate sweep that brackets the best rate and includes a
#   divergent run, and where divergence sits relative to the best rate;
# * **batch_size_experiment**: batch sizes on one token budget, learning rate re-tuned for each;
# * **generate**: text of at least 256 tokens, with commentary;
# * **layer_norm_ablation**, **pre_norm_ablation**, **no_pos_emb**, **swiglu_ablation**: each a
#   learning curve over the notebook's seeds, judged against the seed-to-seed spread;
# * **main_experiment**: a second, structurally different corpus (code) compared with prose;
# * **experiment_log**: every run of the notebook in one generated table, and loss against
#   wall-clock time beside loss against steps;
# * **transformer_accounting** and **adamwAccounting**: parameters, memory, FLOPs per matrix
#   product for GPT-2 small to XL and at context 16,384, AdamW's memory (the expression rendered
#   from the code that computes it) and FLOPs and a training-time estimate, from formulas
#   checked against FLOPs counted on small models. The seed's own answers are compared with the
#   computed values.
#
# Every comparison ("post-norm is worse", "batch 8 beats batch 128") is decided by
# `utils.verdicts` (Welch's t-test over the seeds; `utils.train.lm_study` applies it): a
# difference inside the seed-to-seed spread is reported as "no measurable difference at this
# budget", never as a winner.
#
# **Data.** The assignment uses TinyStories and OpenWebText, neither available offline. The
# stand-ins (see `data/README.md`): English prose (`shakespeare`) and Python source code
# (`python`, the standard library), each with its own byte-level BPE tokenizer
# (`utils.tokenization`, notebook 05). Any UTF-8 text file can be passed as `corpus` instead.

# %% tags=["parameters"]
profile = "laptop"       # smoke | laptop | full
seeds = [0, 1, 2]
corpus = "shakespeare"   # prose: a corpus name of utils.data.corpora or a UTF-8 text file
code_corpus = "python"   # the second, structurally different corpus
vocab_size = 0           # BPE vocabulary of the prose corpus; 0 means the profile default
code_vocab_size = 0      # BPE vocabulary of the code corpus; 0 means the profile default

# %%
from utils.notebook import answer, finish, show_source, start
from utils.params import Int, Text
P = start("06_transformer_lm", globals(), corpus=Text(allow_empty=False),
          code_corpus=Text(allow_empty=False), vocab_size=Int(min=0, max=65536),
          code_vocab_size=Int(min=0, max=65536))
for _name in ("vocab_size", "code_vocab_size"):
    if 0 < getattr(P, _name) < 300:
        raise ValueError(f"{_name} must be 0 (the profile default) or at least 300 (256 bytes, "
                         f"<|endoftext|> and some merges), got {getattr(P, _name)}")

# %%
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import torch

from utils import accounting as acc
from utils import plots
from utils.data import token_files as tf
from utils.data.corpora import corpus_path
from utils.generate import generate, top_p_filter
from utils.nn.transformer_lm import TransformerConfig, TransformerLM
from utils.runs import RunStore
from utils.stats import table
from utils.studies import cpu_load
from utils.train import optim as optim_module
from utils.train.lm import (checkpoint_state, cross_entropy, get_batch, load_checkpoint,
                            model_from_result, pick_threads, restore_checkpoint_state,
                            save_checkpoint, train_lm)
from utils.train.lm_study import (ablation_verdicts, arm_verdict, batch_verdicts, cpu_seconds,
                                  default_workers, experiment_log, lr_bracket, measure_train_step,
                                  memory_expression, profile_device, run_lm_many,
                                  show_experiment_log)
from utils.train.optim import AdamW

store = RunStore("06_transformer_lm")
EOT = "<|endoftext|>"
THREADS = pick_threads()
WORKERS = P.pick(smoke=1, laptop=default_workers(), full=1)
DEVICE = profile_device(P.profile)          # full: the GPU when there is one

# %% [markdown]
# ## 1 · The pieces
#
# Everything below is imported from `utils` (each module cites its equations; the tests
# compare each piece with torch's own). The training pieces, printed — the optimizer step,
# the schedule, the loss and gradient clipping (`utils.train.optim`, `utils.train.lm`):

# %%
show_source(AdamW.step)
show_source(optim_module.cosine_schedule)
show_source(cross_entropy)
show_source(optim_module.clip_grad_norm)

# %% [markdown]
# Data loading and checkpointing (`utils.train.lm`): `get_batch` samples random windows of a
# token array (a memory-mapped file at real size, §2), and a checkpoint holds the model, the
# optimizer state and the iteration, written atomically and refused on load when the
# architecture differs.

# %%
show_source(get_batch)
show_source(checkpoint_state, save_checkpoint, load_checkpoint, restore_checkpoint_state)

# %% [markdown]
# ## 2 · Data: two corpora, two tokenizers
#
# Each corpus goes through `utils.data.token_files.prepare_lm_data`, the streaming path of
# notebook 09 that takes a text file of any size (OpenWebText's 12 GB included) in bounded
# memory: the last ~10 % is held out as validation text (cut at a document boundary), a BPE
# tokenizer with `<|endoftext|>` is trained on the training part only, and both parts are
# encoded in pieces, once, to `uint16` token files (cached by fingerprint, damage detected)
# that the training loop memory-maps (`utils.train.lm.get_batch` reads only the sampled
# windows). The vocabulary sizes: the
# assignment's 10,000 (TinyStories) and 32,000 (OpenWebText) in `full`; 1,024 for both corpora
# at `laptop`, where a 10,000-row embedding and LM head would hold most of a small model's
# parameters and most of its step time.

# %%
VOCAB = P.vocab_size or P.pick(smoke=320, laptop=1024, full=10_000)
CODE_VOCAB = P.code_vocab_size or P.pick(smoke=320, laptop=1024, full=32_000)
MAX_BYTES = P.pick(smoke=400_000, laptop=None, full=None)   # smoke: a prefix (the code path)


def prepare(name: str, vocab: int) -> dict:
    """Tokenizer and token files for one corpus (a name of `utils.data.corpora` or a text
    file of any size), streamed and cached by `utils.data.token_files`."""
    source = corpus_path(name)
    if MAX_BYTES is not None:
        source = tf.prefix_file(source, MAX_BYTES, EOT)
    d = tf.prepare_lm_data(source, None, vocab, val_fraction=0.1, separator=EOT)
    size = source.stat().st_size
    return {"name": name, "tokenizer": d["tokenizer"], "train": Path(d["train_file"]),
            "val": Path(d["val_file"]), "vocab": vocab,
            "tag": f"{Path(d['train_file']).name}/v{vocab}", "bpe_seconds": d["bpe_seconds"],
            "train_tokens": d["train_tokens"], "val_tokens": d["val_tokens"],
            "source": source, "train_range": (0, d["train_bytes"]),
            "val_range": (size - d["val_bytes"], size), "val_bytes": d["val_bytes"],
            "bytes_per_token": d["val_bytes"] / d["val_tokens"]}


def read_text(data: dict, split: str, max_bytes: int = 10 ** 7) -> str:
    """The first ``max_bytes`` of a corpus' training or validation text (never a whole 12 GB
    file), decoded as UTF-8 (a character cut at the end is dropped)."""
    lo, hi = data[f"{split}_range"]
    with open(data["source"], "rb") as fh:
        fh.seek(lo)
        return fh.read(min(hi - lo, max_bytes)).decode("utf-8", errors="ignore")


prose, code = prepare(P.corpus, VOCAB), prepare(P.code_corpus, CODE_VOCAB)
pd.DataFrame([{"corpus": d["name"], "vocabulary": d["vocab"], "BPE training, s": d["bpe_seconds"],
               "training tokens": d["train_tokens"], "validation tokens": d["val_tokens"],
               "bytes per token (validation)": d["bytes_per_token"]} for d in (prose, code)]) \
    .style.hide(axis="index").format({"BPE training, s": "{:.1f}", "training tokens": "{:,}",
                                      "validation tokens": "{:,}", "vocabulary": "{:,}",
                                      "bytes per token (validation)": "{:.2f}"}) \
    .set_caption("Table 1: the two corpora, each with its own BPE vocabulary")

# %% [markdown]
# ## 3 · The model and the budget
#
# The assignment's TinyStories model (`full`): vocabulary 10,000, context 256, d_model 512, 4
# layers, 16 heads, d_ff 1,344, RoPE θ = 10,000, 327,680,000 training tokens per run (batch 32 ×
# 40,000 steps × 256). On a 2-core CPU the `laptop` profile keeps the architecture's shape
# (4 pre-norm layers, RMSNorm, SwiGLU, RoPE) and shrinks width, context, vocabulary and tokens,
# so that the whole notebook fits in about 15 minutes on an idle 2-core machine; independent
# runs train in parallel one-thread processes (one per core). The budget goes to fewer, longer
# runs: every learning rate near the optimum, every ablation and the code corpus get all seeds
# at the full length, since a comparison needs the seed-to-seed spread. The cell below measures
# one training step of this model and of the assignment's, and projects their cost from the
# measured rate (no assumed FLOP/s).

# %%
D, LAYERS, HEADS = P.pick(smoke=(32, 2, 2), laptop=(64, 4, 2), full=(512, 4, 16))
CTX = P.pick(smoke=32, laptop=64, full=256)
BATCH = P.pick(smoke=8, laptop=32, full=32)
STEPS = P.pick(smoke=16, laptop=360, full=40_000)
EVALS = 8                                    # validation points per run
BASE_MODEL = dict(vocab_size=VOCAB, context_length=CTX, d_model=D, num_layers=LAYERS,
                  num_heads=HEADS, rope_theta=10000.0, attention="flash")
base_cfg = TransformerConfig(**BASE_MODEL)


def run_config(data: dict, lr: float, seed: int, model: dict | None = None,
               batch: int = BATCH, steps: int = STEPS) -> dict:
    """One training run (a plain dict: the run store's key)."""
    return {"model": {**BASE_MODEL, "vocab_size": data["vocab"], **(model or {})},
            "train_data": str(data["train"]), "val_data": str(data["val"]), "batch_size": batch,
            "max_iters": steps, "lr_max": lr, "lr_min": lr / 10,
            "warmup_iters": max(1, steps // 10), "beta1": 0.9, "beta2": 0.95,
            "weight_decay": 0.1, "grad_clip": 1.0, "eval_interval": max(1, steps // EVALS),
            "eval_iters": P.pick(smoke=2, laptop=4, full=100), "eval_batch_size": 64,
            "checkpoint_interval": max(10, steps // 3), "seed": seed, "tag": data["tag"],
            "version": 1}


def measure_step(model_kw: dict, batch: int, ctx: int, repeats: int = 3) -> dict:
    """One training step of this notebook's model (changed by ``model_kw``) at context ``ctx``,
    measured (`utils.train.lm_study.measure_train_step`: CPU and wall seconds, FLOP/s)."""
    cfg = TransformerConfig(**{**BASE_MODEL, "context_length": ctx, **model_kw})
    return measure_train_step(cfg, batch, repeats)


n_params = TransformerLM(base_cfg).num_parameters()
ours = measure_step({}, BATCH, CTX)
tokens_run = BATCH * CTX * STEPS
CS336 = dict(vocab_size=10_000, d_model=512, num_layers=4, num_heads=16, d_ff=1344)
theirs = measure_step(CS336, P.pick(smoke=1, laptop=2, full=2), 256,
                      repeats=P.pick(smoke=1, laptop=2, full=3))
cs336 = acc.TransformerConfig(d_model=512, n_layers=4, n_heads=16, vocab_size=10000,
                              context_length=256, d_ff=1344, mlp="swiglu", norm="rmsnorm",
                              bias=False, positions="rope", tied_embeddings=False)
full_flops = 40_000 * acc.training_flops(cs336, 32, 256)["total"]
print(f"{P.profile}: d_model {D}, {LAYERS} layers, {HEADS} heads, d_ff {base_cfg.hidden_dim}, "
      f"context {CTX}, vocabulary {VOCAB}: {n_params:,} parameters; batch {BATCH} x {STEPS} "
      f"steps = {tokens_run:,} tokens per run ({tokens_run / prose['train_tokens']:.2f} epochs of "
      f"the prose training tokens)")
print(f"measured ({THREADS} thread(s), {cpu_load()}; rates per CPU-second): "
      f"{ours['cpu_s'] * 1e3:.0f} ms of CPU per training step ({ours['wall_s'] * 1e3:.0f} ms "
      f"wall now), {ours['tokens_per_s']:,.0f} tokens/s, {ours['flops_per_s'] / 1e9:.1f} GFLOP/s "
      f"of matrix products -> {STEPS * ours['cpu_s']:.0f} CPU-s per full-length run")
print(f"the assignment's model, measured here at batch {P.pick(smoke=1, laptop=2, full=2)}: "
      f"{theirs['cpu_s']:.2f} CPU-s per step, {theirs['flops_per_s'] / 1e9:.1f} GFLOP/s per core; "
      f"its run ({acc.param_counts(cs336)['total']:,} parameters, {full_flops:.2e} FLOPs) would "
      f"take {full_flops / theirs['flops_per_s'] / 3600:,.0f} h of one core at that measured "
      f"rate, "
      f"{acc.training_time_seconds(full_flops, 989e12, 0.4) / 60:.0f} min on an H100 (989 "
      f"TFLOP/s bf16, the data sheet's number) at 40 % MFU")
if P.profile == "full":
    print("full profile: every experiment below runs at these settings, " + (
        f"on {torch.cuda.get_device_name(0)} (one worker per GPU)" if DEVICE == "cuda" else
        "on this CPU: expect days"))
else:
    print(f"reductions vs the assignment: d_model {D} (not 512), {HEADS} heads (not 16), context "
          f"{CTX} (not 256), vocabulary {VOCAB} (not 10,000), {tokens_run:,} tokens per run "
          f"(not 327,680,000, i.e. {tokens_run / 327_680_000:.2%}); {len(P.seeds)} seeds")

# %% [markdown]
# ## 4 · Learning rate (problem `learning_rate`)
#
# A log-spaced sweep at fixed everything else: cosine schedule from the peak rate to a tenth
# of it, 10 % linear warmup, AdamW (β = (0.9, 0.95), weight decay 0.1), clipping at norm 1.
# A run counts as **diverged** when its loss becomes NaN or its 10-step mean exceeds 1.5× the
# first step's loss; the training loop then stops it. Search strategy: every rate of a log grid
# (steps of about 3×) with the first seed; while the best of them sits at the grid's edge, the
# grid is extended by 3× on that side (at most twice), and when no rate has diverged, 10× the
# top rate is added; then the best rate and its two grid neighbours are trained with every
# seed. The best rate is the lowest mean over seeds. Rates that `utils.verdicts.compare`
# cannot tell apart from it form a plateau; the best rate counts as **bracketed** only when on
# each side of that plateau a rate is worse beyond the seed spread or diverged (a single-seed
# rate reached this way is first trained with every seed).

# %%
LRS = P.pick(smoke=[1e-2, 3.0], laptop=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0],
             full=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 3.0])
first_cfg, first_res = {}, {}                       # rate -> config / result, first seed


def train_first_seed(lrs: list, desc: str) -> list:
    """Train the first seed at each of ``lrs``; returns the whole grid so far, sorted."""
    for lr in lrs:
        first_cfg[lr] = run_config(prose, lr, P.seeds[0])
    for lr, r in zip(lrs, run_lm_many(store, [first_cfg[lr] for lr in lrs], WORKERS,
                                      device=DEVICE, desc=desc)):
        first_res[lr] = r
    return sorted(first_cfg)


LRS = train_first_seed(list(LRS), "learning rates, first seed")
for _ in range(2):                                  # extend the grid while its best is at an edge
    ok_lrs = [lr for lr in LRS if not first_res[lr]["diverged"]]
    if not ok_lrs:
        break
    b = min(ok_lrs, key=lambda lr: first_res[lr]["final_val_loss"])
    new = ([round(LRS[0] / 3, 10)] if b == LRS[0] else []) + \
          ([round(LRS[-1] * 3, 10)] if b == LRS[-1] else [])
    if not new:
        break
    LRS = train_first_seed(new, "learning rates, grid extended")
if not any(first_res[lr]["diverged"] for lr in LRS):   # no divergent run: 10x the top rate
    LRS = train_first_seed([round(LRS[-1] * 10, 10)], "learning rates, looking for divergence")
ok_lrs = [lr for lr in LRS if not first_res[lr]["diverged"]]
best_first = min(ok_lrs, key=lambda lr: first_res[lr]["final_val_loss"]) if ok_lrs else LRS[0]
i_best = LRS.index(best_first)
TOP_LRS = [lr for lr in LRS[max(0, i_best - 1):i_best + 2] if not first_res[lr]["diverged"]]
more = [run_config(prose, lr, s) for lr in TOP_LRS for s in P.seeds[1:]]
lr_configs = [first_cfg[lr] for lr in LRS] + more
lr_results = [first_res[lr] for lr in LRS] + run_lm_many(store, more, WORKERS, device=DEVICE,
                                                         desc="learning rates, more seeds")


def frame(configs, results, **extra_cols) -> pd.DataFrame:
    rows = []
    for c, r in zip(configs, results):
        rows.append({"lr": c["lr_max"], "seed": c["seed"], "batch": c["batch_size"],
                     "diverged": r["diverged"], "final_val_loss": r["final_val_loss"],
                     "best_val_loss": r["best_val_loss"], "iterations": r["iterations"],
                     "tokens_per_s": r["tokens_per_s"],
                     **{k: f(c) for k, f in extra_cols.items()}})
    return pd.DataFrame(rows)


lr_df = frame(lr_configs, lr_results)
for _ in range(3):           # the bracket stopped at a single-seed rate: give it every seed
    bracket = lr_bracket(lr_df)
    need = [lr for lr in (bracket["lower"], bracket["upper"]) if lr is not None
            and not lr_df[lr_df.lr == lr].diverged.any()
            and (lr_df.lr == lr).sum() < len(P.seeds)]
    if not need:
        break
    extra = [run_config(prose, lr, s) for lr in need for s in P.seeds[1:]]
    lr_configs += extra
    lr_results += run_lm_many(store, extra, WORKERS, device=DEVICE,
                              desc="learning rates, new neighbours")
    TOP_LRS = sorted(set(TOP_LRS) | set(need))
    lr_df = frame(lr_configs, lr_results)
bracket = lr_bracket(lr_df)
BEST_LR = bracket["best"]
diverging = sorted(float(v) for v in lr_df[lr_df.diverged].lr.unique())
print(f"best learning rate {BEST_LR:g}; rates with a diverged run: "
      f"{', '.join(f'{v:g}' for v in diverging) or 'none'}")

# %%
fig, axes = plots.subplots(1, 2, width=10.5, height=3.6)
cmap = plots.plt.get_cmap("viridis")
for i, lr in enumerate(LRS):
    color = cmap(i / max(1, len(LRS) - 1))
    rs = [r for c, r in zip(lr_configs, lr_results) if c["lr_max"] == lr]
    for j, r in enumerate(rs):
        h = r["history"]
        lab = f"lr {lr:g}" + (" (diverged)" if r["diverged"] else "") if j == 0 else None
        smooth = pd.Series(h["loss"]).rolling(10, min_periods=1).mean()
        axes[0].plot(smooth, color=color, lw=1, alpha=0.8, label=lab)
        if r["diverged"]:
            axes[0].plot(len(h["loss"]) - 1, smooth.iloc[-1], "x", color=color, ms=8)
        axes[1].plot(h["val_iter"], h["val_loss"], "o-", color=color, ms=2, lw=1, alpha=0.8,
                     label=lab)
axes[0].set_ylabel("training loss (10-step mean), nats/token")
axes[1].set_ylabel("validation loss, nats/token")
for ax in axes:
    ax.set_xlabel("step")
    ax.set_ylim(top=max(2 * math.log(VOCAB), 1))
axes[1].legend(fontsize=7, ncol=2)
plots.show(fig, "lr_sweep", f"Learning-rate sweep on {P.corpus!r}, every seed drawn (one colour "
           "per rate; × marks where a diverged run was stopped).")

# %%
table(lr_df, "lr", ["final_val_loss", "best_val_loss", "iterations"],
      best={"final_val_loss": "min", "best_val_loss": "min"},
      labels={"final_val_loss": "final val loss", "best_val_loss": "best val loss",
              "iterations": "steps run"}, digits={"final_val_loss": 3, "best_val_loss": 3,
                                                  "iterations": 0},
      caption=f"Table 2: learning-rate sweep ({STEPS} steps; nan: diverged); mean ± std over "
              f"seeds ({len(P.seeds)} for lr {', '.join(f'{v:g}' for v in TOP_LRS)}, the first "
              f"seed for the others)")

# %%
lr_all = lr_df.groupby("lr")["final_val_loss"].mean()
n_best = int((lr_df.lr == BEST_LR).sum())
plateau = bracket["plateau"]
plateau_text = ("" if len(plateau) == 1 else
                f" The rates {', '.join(f'{v:g}' for v in plateau)} cannot be told apart from "
                f"each other at this budget (a plateau around the optimum); the best one is "
                f"picked by its mean only.")
if bracket["bracketed"]:
    where_best = (f"It is **bracketed**: below it, {bracket['lower_verdict']}; above it, "
                  f"{bracket['upper_verdict']}." + plateau_text)
else:
    sides = [s for s in ("lower", "upper") if not bracket[f"{s}_worse"]]
    where_best = (f"It is **not bracketed** on the {' and '.join(sides)} side (no worse rate "
                  f"there: the optimum may lie beyond): below it, {bracket['lower_verdict']}; "
                  f"above it, {bracket['upper_verdict']}." + plateau_text)
if diverging:
    first_div = diverging[0]
    factor = first_div / BEST_LR
    div_steps = int(lr_df[lr_df.lr == first_div].iterations.max())
    stable_above = [lr for lr in LRS if BEST_LR < lr < first_div]
    div_text = (f"The smallest rate with a diverged run is **{first_div:g}**, {factor:.0f}× the "
                f"best rate"
                + (f"; between them, {', '.join(f'{v:g}' for v in stable_above)} "
                   f"train without diverging (mean final loss "
                   f"{', '.join(f'{lr_all[v]:.3f}' for v in stable_above)}, against "
                   f"{bracket['best_mean']:.3f} at the best rate)"
                   if stable_above else "; no grid rate lies between them")
                + ". So here the best rate is "
                + ("at the edge of stability (the next grid rate diverges)" if not stable_above
                   else f"well inside the stable range, not 'just below divergence': warmup, "
                   f"clipping and pre-norm keep rates up to {max(stable_above):g} bounded")
                + f". The divergent runs are stopped within {div_steps} steps"
                + (", during the warmup, before the peak rate is reached."
                   if div_steps <= max(1, STEPS // 10) else "."))
else:
    div_text = (f"**No run diverged** up to lr = {LRS[-1]:g} at this budget, so the position of "
                f"divergence relative to the best rate could not be measured here.")
answer(f"**learning_rate (a, b).** The lowest mean final validation loss is reached at "
       f"**lr = {BEST_LR:g}** ({bracket['best_mean']:.3f} nats/token, mean of {n_best} "
       f"seed(s)). {where_best} " + div_text)

# %% [markdown]
# ## 5 · Batch size (problem `batch_size_experiment`)
#
# On the token budget of one run of the sweep above (the fair comparison on a compute-bound
# machine), batch sizes from small to large. For each batch size the learning rate is re-tuned
# over a 3-point grid (× 0.5, 1, 2) around the square-root scaling rule lr(B) = lr*·sqrt(B / B₀)
# (B₀ = the sweep's batch, whose runs are reused) with the first seed; the best rate is then
# run with every seed. Validation loss is plotted against tokens and against wall-clock time.

# %%
BATCHES = P.pick(smoke=[4, 8], laptop=[8, 32, 128], full=[1, 8, 32, 64, 128, 256, 512])
LR_FACTORS = P.pick(smoke=(1.0,), laptop=(0.5, 1.0, 2.0), full=(0.5, 1.0, 2.0))
BS_TOKENS = BATCH * CTX * STEPS


def bs_config(b: int, lr: float, seed: int) -> dict:
    return run_config(prose, lr, seed, batch=b, steps=max(4, BS_TOKENS // (b * CTX)))


bs_grid = []
for b in BATCHES:
    if b != BATCH:
        centre = BEST_LR * math.sqrt(b / BATCH)
        bs_grid += [bs_config(b, round(centre * f, 8), P.seeds[0]) for f in LR_FACTORS]

# %% [markdown]
# ## 6 · Ablations
# Problems `layer_norm_ablation`, `pre_norm_ablation`, `no_pos_emb` and `swiglu_ablation`.
#
# Each variant changes one thing in the baseline (pre-norm RMSNorm, RoPE, SwiGLU) and trains
# with every seed at the best rate of section 4 (the baseline runs are reused from there):
#
# * **no norm**: all RMSNorms removed — at the best rate, and, when that is worse than the
#   baseline or diverges, at a third of it (the assignment asks whether a lower rate restores
#   stability);
# * **post-norm**: x = RMSNorm(x + Sublayer(x)), the 2017 layout;
# * **NoPE**: no positional information at all;
# * **SiLU**: the FFN W₂ SiLU(W₁x) with d_ff = 3/2 · d_ff(SwiGLU), so both FFNs have the same
#   number of parameters.
#
# The batch-size grid, the ablations and the code corpus of section 7 are independent of each
# other, so they train together (one pool of worker processes); the cell prints the CPU time.

# %%
base_name = "baseline (pre-norm, RoPE, SwiGLU)"
ABLATIONS = {
    "no norm": ({"norm_position": "none"}, BEST_LR),
    "post-norm": ({"norm_position": "post"}, BEST_LR),
    "NoPE": ({"positions": "none"}, BEST_LR),
    "SiLU (parameter-matched)": ({"ffn": "silu"}, BEST_LR),
}
ab_configs = [run_config(prose, BEST_LR, s) for s in P.seeds]
ab_names = [base_name] * len(P.seeds)
for name, (change, lr) in ABLATIONS.items():
    for s in P.seeds:
        ab_configs.append(run_config(prose, lr, s, model=change))
        ab_names.append(name)
code_configs = [run_config(code, BEST_LR, s) for s in P.seeds]
together = bs_grid + ab_configs + code_configs
t0 = time.perf_counter()
together_res = run_lm_many(store, together, WORKERS, device=DEVICE,
                           desc="batch grid, ablations, code")
grid_results = together_res[:len(bs_grid)]
ab_results = together_res[len(bs_grid):len(bs_grid) + len(ab_configs)]
code_results = together_res[len(bs_grid) + len(ab_configs):]
grid_df = frame(bs_grid, grid_results)
best_bs_lr = {BATCH: BEST_LR}
for b, g in grid_df.groupby("batch"):
    best_bs_lr[int(b)] = (float(g[~g.diverged].sort_values("final_val_loss").lr.iloc[0])
                          if (~g.diverged).any() else float(g.lr.min()))
ab_df = frame(ab_configs, ab_results)
ab_df["variant"] = ab_names
first_pass = ablation_verdicts(ab_df, base_name, list(ABLATIONS))
second = []
if first_pass["no norm"]["worse"]:
    ABLATIONS["no norm, lr / 3"] = ({"norm_position": "none"}, BEST_LR / 3)
    second += [(("no norm, lr / 3"), run_config(prose, BEST_LR / 3, s,
                                                 model={"norm_position": "none"}))
               for s in P.seeds]
bs_configs = [bs_config(b, best_bs_lr[b], s) for b in BATCHES for s in P.seeds]
second_res = run_lm_many(store, [c for _, c in second] + bs_configs, WORKERS, device=DEVICE,
                         desc="batch seeds" + (", no norm at lr / 3" if second else ""))
for (name, c), r in zip(second, second_res):
    ab_configs.append(c)
    ab_names.append(name)
    ab_results.append(r)
bs_results = second_res[len(second):]
bs_df = frame(bs_configs, bs_results)
ab_df = frame(ab_configs, ab_results)
ab_df["variant"] = ab_names
ab_df["params"] = [r["n_params"] for r in ab_results]
print(f"{len(together) + len(second) + len(bs_configs)} runs (stored ones included): "
      f"{cpu_seconds(together_res + second_res):.0f} CPU-s when trained, "
      f"{time.perf_counter() - t0:.0f} s wall now ({cpu_load()})")

# %%
fig, axes = plots.subplots(1, 2, width=10.5, height=3.5)
for i, b in enumerate(BATCHES):
    rs = [r for c, r in zip(bs_configs, bs_results) if c["batch_size"] == b]
    n = min(len(r["history"]["val_loss"]) for r in rs)
    va = np.array([r["history"]["val_loss"][:n] for r in rs])
    wall = np.array([r["history"]["val_wall_s"][:n] for r in rs]).mean(0)
    tokens = np.array(rs[0]["history"]["val_iter"][:n]) * b * CTX
    lab = f"batch {b} (lr {best_bs_lr[b]:.2g})"
    axes[0].errorbar(tokens, va.mean(0), yerr=va.std(0), marker="o", ms=3, capsize=2, label=lab)
    axes[1].errorbar(wall, va.mean(0), yerr=va.std(0), marker="o", ms=3, capsize=2, label=lab)
axes[0].set_xlabel("training tokens")
axes[1].set_xlabel("wall-clock seconds of the run (mean over seeds)")
for ax in axes:
    ax.set_ylabel("validation loss, nats/token")
    ax.legend(fontsize=8)
plots.show(fig, "batch_sizes", f"Validation loss for each batch size at its re-tuned learning "
           f"rate ({BS_TOKENS:,} tokens each), mean ± std over {len(P.seeds)} seeds: against "
           f"training tokens (left) and wall-clock time (right; one-thread worker processes on "
           f"a shared machine, so read the right panel as relative).")

# %%
model_acc = acc.TransformerConfig(d_model=D, n_layers=LAYERS, n_heads=HEADS, vocab_size=VOCAB,
                                  context_length=CTX, d_ff=base_cfg.hidden_dim, mlp="swiglu",
                                  norm="rmsnorm", bias=False, positions="rope",
                                  tied_embeddings=False)
ram = psutil.virtual_memory().total
mem_limit, per_seq, fixed = acc.max_batch_size(model_acc, CTX, ram, attention="sdpa")
trace_model = TransformerLM(base_cfg)


def saved_bytes(b: int) -> int:
    """Bytes autograd keeps for backward in one training step of batch b (our model, traced)."""
    xs = torch.randint(0, VOCAB, (b, CTX), generator=torch.Generator().manual_seed(0))
    return acc.saved_tensor_bytes(lambda: cross_entropy(trace_model(xs), xs), exclude=trace_model)


s1, s9, s17 = saved_bytes(1), saved_bytes(9), saved_bytes(17)
per_seq_meas = (s9 - s1) / 8
linear = s17 == s1 + 16 * per_seq_meas                     # exactly linear in the batch?
fixed_meas = 16 * n_params + s1 - per_seq_meas             # weights, grads, AdamW: 16 B/param
limit_meas = int((ram - fixed_meas) // per_seq_meas)
bs_df["lr"] = bs_df.batch.map(best_bs_lr)
table(bs_df, "batch", ["lr", "final_val_loss", "tokens_per_s"],
      best={"final_val_loss": "min", "tokens_per_s": "max"},
      digits={"lr": 4, "final_val_loss": 3, "tokens_per_s": 0},
      labels={"final_val_loss": "final val loss", "tokens_per_s": "training tokens/s"},
      caption=f"Table 3: batch sizes on {BS_TOKENS:,} training tokens, learning rate re-tuned "
              f"per batch")

# %%
bv = batch_verdicts(bs_df)
best_b = bv["best"]
edge = [b for b in BATCHES if b != BATCH and len(LR_FACTORS) > 1
        and best_bs_lr[b] in (float(grid_df[grid_df.batch == b].lr.max()),
                              float(grid_df[grid_df.batch == b].lr.min()))]
tps = bs_df.groupby("batch")["tokens_per_s"].mean()
steps_of = {b: max(4, BS_TOKENS // (b * CTX)) for b in BATCHES}
if not bv["separated"]:
    pattern = ("no batch size is measurably better than the others at this budget: "
               + "; ".join(v.text for v in bv["others"].values()))
else:
    same = [b for b in BATCHES if b != best_b and b not in bv["separated"]]
    pattern = (f"batch {best_b} has the lowest loss, and beats "
               + ", ".join(f"batch {b}" for b in bv["separated"])
               + " beyond the seed spread (" + "; ".join(bv["others"][b].text
                                                           for b in bv["separated"]) + ")"
               + (f"; against {', '.join(f'batch {b}' for b in same)}: "
                  + "; ".join(bv["others"][b].text for b in same) if same else ""))
    if best_b == min(BATCHES):
        pattern += (". On a fixed token budget the smallest batch takes the most optimizer steps "
                    f"({steps_of[best_b]:,} against {steps_of[max(BATCHES)]:,} at batch "
                    f"{max(BATCHES)}), and here more, noisier steps win")
    elif best_b == max(BATCHES):
        pattern += ". The largest batch wins even with the fewest optimizer steps"
    else:
        pattern += (f". An intermediate batch wins: the smaller batch takes more but noisier "
                    f"steps, the larger one only {steps_of[max(BATCHES)]:,} steps on this budget")
mono = all(best_bs_lr[a] <= best_bs_lr[b] for a, b in zip(BATCHES, BATCHES[1:]))
tps_v = arm_verdict(bs_df, "batch", BATCHES[-1], BATCHES[0], "tokens_per_s", better="higher",
                    names=(f"batch {BATCHES[-1]}", f"batch {BATCHES[0]}"),
                    what="training throughput", digits=0)
t_b1 = measure_step({}, 1, CTX, repeats=P.pick(smoke=1, laptop=3, full=3))
answer(f"**batch_size_experiment.** Final validation loss after {BS_TOKENS:,} training tokens, "
       f"by batch size: " + ", ".join(f"{b}: {bs_df[bs_df.batch == b].final_val_loss.mean():.3f}"
                                      f" ({steps_of[b]:,} steps)" for b in BATCHES)
       + f" — {pattern}. The re-tuned rates by batch: "
       + ", ".join(f"{b}: {best_bs_lr[b]:.2g}" for b in BATCHES)
       + (" (non-decreasing in the batch, as the square-root rule expects)" if mono
          else " (not monotone in the batch: the 3-point grid with one seed is coarse)")
       + ("" if not edge else f"; for batch {', '.join(map(str, edge))} the best rate is at the "
          f"edge of its grid, so its optimum may lie outside and its loss is an upper bound")
       + f". Throughput (training tokens/s, one thread each): {tps_v.text}"
       + (f", so on a wall-clock budget (right panel) batch {BATCHES[-1]} gains further"
          if tps_v.winner == f"batch {BATCHES[-1]}" else "")
       + f". Batch 1 measured at {t_b1['tokens_per_s']:,.0f} tokens per CPU-second, against "
       f"{ours['tokens_per_s']:,.0f} at batch {BATCH}: a run on this token budget would take "
       f"{BS_TOKENS:,} steps and about {BS_TOKENS * t_b1['cpu_s'] / 60:.0f} CPU-minutes, which is "
       + ("why the laptop grid starts at " + str(min(BATCHES)) if 1 not in BATCHES
          else "included above") +
       f". The memory limit of this machine ({ram / 2**30:.0f} GiB) is far away for this small "
       f"model: the accounting of section 9 gives {per_seq / 2**20:.2f} MiB of activations per "
       f"sequence of {CTX} tokens plus {fixed / 2**20:.0f} MiB fixed, i.e. a batch of about "
       f"{mem_limit:,}. Counting the tensors our model actually saves for the backward pass "
       f"(traced at batches 1, 9 and 17: " + ("exactly linear" if linear else
                                              "not exactly linear") + ") gives "
       f"{per_seq_meas / 2**20:.2f} MiB per sequence ({per_seq_meas / per_seq - 1:+.0%} against "
       f"the formula, which counts only the minimal set of activations) and a limit of "
       f"**{limit_meas:,}** sequences.")

# %%
fig, axes = plots.subplots(2, 2, width=10.5, height=6.4)
panels = [("no norm", "no norm, lr / 3"), ("post-norm",), ("NoPE",),
          ("SiLU (parameter-matched)",)]


def curves(name):
    rs = [r for n, r in zip(ab_names, ab_results) if n == name]
    L_ = min(len(r["history"]["val_loss"]) for r in rs)
    return (np.array(rs[0]["history"]["val_iter"][:L_]),
            np.array([r["history"]["val_loss"][:L_] for r in rs]),
            any(r["diverged"] for r in rs))


for ax, names in zip(axes.flat, panels):
    for name in (base_name, *names):
        if name not in ab_names:
            continue
        x_, va, div = curves(name)
        ax.errorbar(x_, va.mean(0), yerr=va.std(0), marker="o", ms=3, capsize=2,
                    label=name + (" (a seed diverged)" if div else ""))
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss, nats/token")
    ax.legend(fontsize=7)
plots.show(fig, "ablations", f"Each ablation against the baseline: validation loss, mean ± std "
           f"over {len(P.seeds)} seeds, at lr = {BEST_LR:g} unless stated.")

# %%
table(ab_df, "variant", ["final_val_loss", "params"], best={"final_val_loss": "min"},
      digits={"final_val_loss": 3, "params": 0},
      labels={"final_val_loss": "final val loss", "params": "parameters"},
      caption=f"Table 4: ablations after {STEPS} steps (nan: a seed diverged)")

# %%
av = ablation_verdicts(ab_df, base_name, list(ABLATIONS))
b_vals = ab_df[ab_df.variant == base_name].final_val_loss
separated = [n for n in ABLATIONS if av[n]["worse"] or av[n]["better"]]
hidden = [n for n in ABLATIONS if n not in separated]


def effect(name: str) -> str:
    return "worse" if av[name]["worse"] else "better" if av[name]["better"] else "not separated"


nn_text = (f"without any RMSNorm at the best rate: {av['no norm']['text']}"
           + (f"; at a third of that rate: {av['no norm, lr / 3']['text']}"
              if "no norm, lr / 3" in av else ""))
if av["no norm"]["worse"]:
    nn_why = (" Normalisation keeps the residual stream's scale in check; without it the "
              "effective step size grows with the activations, so the stable learning rate "
              "shrinks" + ((" — and the lower rate " + ("does not close the gap"
                                                          if av["no norm, lr / 3"]["worse"]
                                                          else "closes the gap within the "
                                                          "seed spread"))
                           if "no norm, lr / 3" in av else "") + ".")
else:
    nn_why = (f" So at {LAYERS} layers of width {D} and {STEPS} steps the instability that "
              f"normalisation prevents does not show (the assignment trains d_model 512 for "
              f"40,000 steps, where it reports a much worse loss without it).")
pn_why = (" Post-norm puts a norm on the residual path itself, so gradients to early layers pass "
          "through every norm, while pre-norm leaves an identity path from the loss to the "
          "embeddings [Xiong et al., 2020]; " + (
              "the measured gap is consistent with that." if av["post-norm"]["worse"] else
              "with warmup, clipping and only " + str(LAYERS) + " layers that difference does "
              "not show beyond the seed spread here." if not av["post-norm"]["better"] else
              "here post-norm is better, so at this depth and budget the argument does not "
              "decide the outcome."))
np_why = (" A causal model can infer positions from its mask (notebook 02; [Kazemnejad et al., "
          "2023]), so NoPE still learns; "
          + ("what it measurably loses here is easy access to exact offsets."
             if av["NoPE"]["worse"] else
             "at this budget the loss of explicit positions does not show beyond the seed "
             "spread." if not av["NoPE"]["better"] else
             "here it is even better, so explicit positions do not help at this budget."))
sw_why = (" SwiGLU's gate multiplies two projections (Shazeer, 2020); "
          + ("at equal parameters it measurably helps here." if av["SiLU (parameter-matched)"]
             ["worse"] else "at equal parameters the gain does not show beyond the seed spread "
             "at this budget." if not av["SiLU (parameter-matched)"]["better"] else
             "here the plain SiLU FFN is better at equal parameters."))
answer(f"Baseline: {b_vals.mean():.3f} ± {b_vals.std():.3f} nats/token ({len(b_vals)} seeds, "
       f"{STEPS} steps). Each variant is compared with it by Welch's t-test over seeds "
       f"(`utils.verdicts.compare`, p < 0.05). Separated from the baseline: "
       + (", ".join(f"{n} ({effect(n)})" for n in separated) or "none")
       + "; not separated at this budget: " + (", ".join(hidden) or "none") + ".\n\n"
       f"* **layer_norm_ablation** — {nn_text}.{nn_why}\n"
       f"* **pre_norm_ablation** — post-norm: {av['post-norm']['text']}.{pn_why}\n"
       f"* **no_pos_emb** — NoPE: {av['NoPE']['text']}.{np_why}\n"
       f"* **swiglu_ablation** — SiLU FFN with the same parameter count: "
       f"{av['SiLU (parameter-matched)']['text']}.{sw_why}")

# %% [markdown]
# ## 7 · Prose and code (problem `main_experiment`)
#
# The same model and rate trained on the second corpus (its own BPE vocabulary; at `laptop` of
# the same size as the prose one). A per-token loss depends on how much text a token carries
# (bytes per token), so the two corpora are compared in **bits per byte** of text as well:
# loss / ln 2 / (bytes per token), a unit that no tokenizer choice changes.

# %%
prose_results = [r for n, r in zip(ab_names, ab_results) if n == base_name]
fig, axes = plots.subplots(1, 3, width=13, height=3.5)
summary, per_seed = {}, []
for data, rs, label in ((prose, prose_results, f"prose ({P.corpus})"),
                        (code, code_results, f"code ({P.code_corpus})")):
    x_ = np.array(rs[0]["history"]["val_iter"])
    va = np.array([r["history"]["val_loss"] for r in rs])
    wall = np.array([r["history"]["val_wall_s"] for r in rs]).mean(0)
    bpb = va / math.log(2) / data["bytes_per_token"]
    axes[0].errorbar(x_, va.mean(0), yerr=va.std(0), marker="o", ms=3, capsize=2, label=label)
    axes[1].errorbar(x_, bpb.mean(0), yerr=bpb.std(0), marker="o", ms=3, capsize=2,
                     label=label)
    axes[2].errorbar(wall, bpb.mean(0), yerr=bpb.std(0), marker="o", ms=3, capsize=2,
                     label=label)
    summary[label] = (va[:, -1].mean(), va[:, -1].std(), bpb[:, -1].mean(), bpb[:, -1].std())
    per_seed += [{"corpus": label, "nats_per_token": v, "bits_per_byte": bb}
                 for v, bb in zip(va[:, -1], bpb[:, -1])]
axes[0].set_ylabel("validation loss, nats/token")
axes[1].set_ylabel("validation loss, bits/byte")
axes[2].set_ylabel("validation loss, bits/byte")
axes[0].set_xlabel("step")
axes[1].set_xlabel("step")
axes[2].set_xlabel("wall-clock seconds of the run (mean over seeds)")
for ax in axes:
    ax.legend(fontsize=8)
plots.show(fig, "prose_vs_code", f"The same model trained on prose and on code: per token "
           f"(left), per byte of text (middle) and per byte against wall-clock time (right), "
           f"mean ± std over {len(P.seeds)} seeds.")

# %%
(pl, ps, pb, pbs), (cl, cs, cb, cbs) = summary.values()
seed_df = pd.DataFrame(per_seed)
lab_p, lab_c = list(summary)
v_tok = arm_verdict(seed_df, "corpus", lab_p, lab_c, "nats_per_token", names=("prose", "code"),
                    what="validation loss per token")
v_byte = arm_verdict(seed_df, "corpus", lab_p, lab_c, "bits_per_byte", names=("prose", "code"),
                     what="validation loss per byte")
same_vocab = prose["vocab"] == code["vocab"]
agree = v_tok.winner == v_byte.winner
why = (f"Both tokenizers have {prose['vocab']:,} entries here, so vocabulary size is held fixed "
       f"and cannot be what separates the two corpora; " if same_vocab else
       f"The vocabularies differ ({prose['vocab']:,} and {code['vocab']:,} entries), as in the "
       f"assignment; ")
why += (f"what differs is how much text a token carries ({prose['bytes_per_token']:.2f} and "
        f"{code['bytes_per_token']:.2f} bytes) and the text itself. ")
if v_byte.winner is None:
    why += ("Per byte, the two corpora are not separated at this budget, so this run gives no "
            "evidence that either text is more predictable for this model.")
else:
    why += (f"Per byte — the unit that does not depend on the tokenizer — **{v_byte.winner}** "
            f"is the more predictable text for this model"
            + (", and the per-token comparison agrees." if agree else
               f", while the per-token comparison "
               + ("does not separate them" if v_tok.winner is None else
                  f"points the other way ({v_tok.winner} lower)")
               + ": a token of one corpus carries more bytes than a token of the other, which "
                 "is why per-token losses under different tokenizers are not comparable."))
why += (" For the seed's claim that OpenWebText's higher loss comes from its 'vocabulary size': "
        "a larger vocabulary puts more bytes into each token and so raises the loss per token "
        "even at equal predictability per byte; the per-byte comparison is the one that can "
        "attribute the gap to the text, and it is the one reported above.")
answer(f"**main_experiment.** After {STEPS} steps: prose {pl:.3f} ± {ps:.3f} nats/token = "
       f"{pb:.3f} ± {pbs:.3f} bits/byte; code {cl:.3f} ± {cs:.3f} nats/token = {cb:.3f} ± "
       f"{cbs:.3f} bits/byte. Per token: {v_tok.text}. Per byte: {v_byte.text}. {why}")

# %% [markdown]
# ## 7b · The experiment log (problem `experiment_log`)
#
# Every training run of this notebook, generated from the run store: what it changed from the
# base config (the baseline of the ablations: the best learning rate, batch 32, pre-norm,
# RoPE, SwiGLU, the prose corpus), its final and best validation loss, the steps it ran, its
# wall-clock and CPU time (the wall time of a stored run is the one it took when trained) and
# its status. The curves against wall-clock time are the right panels of the batch-size and
# prose/code figures.

# %%
log_entries = ([("learning rate", c, r) for c, r in zip(lr_configs, lr_results)]
               + [("ablation: " + n, c, r) for n, c, r in zip(ab_names, ab_configs, ab_results)]
               + [("batch size (lr grid)", c, r) for c, r in zip(bs_grid, grid_results)]
               + [("batch size", c, r) for c, r in zip(bs_configs, bs_results)]
               + [("code corpus", c, r) for c, r in zip(code_configs, code_results)])
exp_log = experiment_log(log_entries, run_config(prose, BEST_LR, P.seeds[0]))
log_text, log_table = show_experiment_log(
    exp_log, WORKERS, "Table 4b: the experiment log of notebook 06 (one row per run)")
answer(log_text)
log_table

# %% [markdown]
# ## 8 · Generating text (problem `generate`)
#
# The best prose model (baseline, first seed) and the code model continue the first tokens of
# their validation text for 256 new tokens, with temperature 0.8 and top-p 0.9, and a KV cache
# (when the text outgrows the model's context, the oldest half is dropped; see
# `utils/generate.py`). `generate` can stop at `<|endoftext|>` (`eos_id`); here it does not, so
# that each sample has its full length: an `<|endoftext|>` the model draws stays in the text and
# is counted below (the model then starts a new document, as in training).

# %%
def sample_text(data: dict, result: dict, n_tokens: int, seed: int) -> tuple[str, str, list]:
    model = model_from_result(result)
    tok = data["tokenizer"]
    prompt_ids = list(np.asarray(tf.open_token_file(data["val"])[:16]))
    g = torch.Generator().manual_seed(seed)
    new = generate(model, prompt_ids, n_tokens, temperature=0.8, top_p=0.9, eos_id=None,
                   generator=g)
    return tok.decode(prompt_ids), tok.decode(new), new


N_GEN = P.pick(smoke=40, laptop=256, full=512)
prose_prompt, prose_text, prose_ids = sample_text(prose, prose_results[0], N_GEN, P.seeds[0])
code_prompt, code_text, code_ids = sample_text(code, code_results[0], N_GEN, P.seeds[0])
print(f"=== prose model: {len(prose_ids)} new tokens after the prompt (in brackets)\n"
      f"[{prose_prompt}]{prose_text}\n")
print(f"=== code model: {len(code_ids)} new tokens after the prompt (in brackets)\n"
      f"[{code_prompt}]{code_text}")
eot_counts = [ids.count(tok_eot) for ids, tok_eot in
              ((prose_ids, prose["tokenizer"].encode(EOT)[0]),
               (code_ids, code["tokenizer"].encode(EOT)[0]))]
print(f"<|endoftext|> drawn: {eot_counts[0]} times in the prose sample, {eot_counts[1]} in the "
      f"code sample")

# %%
train_words = set(re.findall(r"[A-Za-z']+", read_text(prose, "train").lower()))
words = re.findall(r"[A-Za-z']+", prose_text.replace(EOT, " ").lower())
real = np.mean([w in train_words for w in words]) if words else float("nan")
grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
distinct = len(set(grams)) / len(grams) if grams else float("nan")
lines = [ln for ln in code_text.replace(EOT, "\n").splitlines() if ln.strip()]


def parses(line: str) -> bool:
    try:
        compile(line.strip(), "<line>", "exec")
        return True
    except SyntaxError:
        return False


parse_share = np.mean([parses(ln) for ln in lines]) if lines else float("nan")


def mean_line_chars(text: str) -> float:
    return float(np.mean([len(ln) for ln in text.replace(EOT, "\n").splitlines() if ln.strip()]
                         or [float("nan")]))


val_text = read_text(prose, "val")
answer(f"**generate.** The prose sample has {len(prose_ids)} new tokens, {len(words)} words: "
       f"{real:.0%} of them are words of the training text (its first 10 MB), {distinct:.0%} of its word 3-grams "
       f"are distinct ("
       + ("it does not loop" if distinct >= 0.9 else "it repeats itself") +
       f"). Its non-empty lines average {mean_line_chars(prose_text):.0f} characters against "
       f"{mean_line_chars(val_text):.0f} in the validation text ("
       + ("the line layout of the corpus is imitated"
          if 2 / 3 <= mean_line_chars(prose_text) / mean_line_chars(val_text) <= 1.5
          else "the line layout of the corpus is not yet imitated")
       + f"). In the code sample, {parse_share:.0%} of the {len(lines)} non-empty lines compile "
       f"on their own as Python. These shares measure spelling, layout and local syntax only; "
       f"whether the text means anything is left to the reader of the samples above. The "
       f"model has {n_params:,} parameters and has seen {tokens_run:,} tokens; its validation "
       f"loss ({pl:.2f} nats/token, {pb:.2f} bits/byte for prose) is the number behind these "
       f"samples. Notebook 07 compares greedy and top-p decoding on its own model.")

# %% [markdown]
# ## 9 · Resource accounting (problems `transformer_accounting`, `adamwAccounting`)
#
# All numbers come from `utils.accounting` (notebook 00), whose formulas are checked first
# against this notebook's own model: FLOPs counted by `torch.utils.flop_counter` during a
# forward and a training step, parameters counted, and AdamW's elementwise FLOPs counted op by
# op while our `AdamW.step` runs.

# %%
from torch.utils.flop_counter import FlopCounterMode

check_model = TransformerLM(TransformerConfig(**{**BASE_MODEL, "attention": "scratch"}))
xb = torch.randint(0, VOCAB, (2, CTX), generator=torch.Generator().manual_seed(0))
with FlopCounterMode(display=False) as fwd_counter:
    check_model(xb)
with FlopCounterMode(display=False) as step_counter:
    cross_entropy(check_model(xb), xb).backward()
opt_check = AdamW(check_model.parameters(), lr=1e-3, weight_decay=0.1)
opt_check.step()                         # creates the state; the next step is counted
counted_adamw, adamw_trace = acc.count_elementwise_op_flops(opt_check.step)
checks = pd.DataFrame([
    {"quantity": "parameters", "counted": check_model.num_parameters(),
     "formula": acc.param_counts(model_acc)["total"]},
    {"quantity": "forward matmul FLOPs (B=2)", "counted": fwd_counter.get_total_flops(),
     "formula": acc.forward_flops(model_acc, 2, CTX)["total"]},
    {"quantity": "training-step matmul FLOPs (B=2)", "counted": step_counter.get_total_flops(),
     "formula": acc.training_flops(model_acc, 2, CTX)["total"]},
    {"quantity": "AdamW step FLOPs", "counted": counted_adamw,
     "formula": acc.adamw_flops(check_model.num_parameters())},
])
checks["equal"] = checks.counted == checks.formula
checks.style.hide(axis="index").format({"counted": "{:,}", "formula": "{:,}"}) \
    .set_caption("Table 5: the accounting formulas against counts on this notebook's model")

# %% [markdown]
# **transformer_accounting.** The assignment's "GPT-2 XL": vocabulary 50,257, context 1,024,
# 48 layers, d_model 1,600, 25 heads, d_ff 6,400, with this notebook's architecture (SwiGLU —
# three d × d_ff matrices —, RMSNorm, RoPE, no biases, untied LM head). (a) parameters and fp32
# memory; (b) the matrix products of one forward pass of a 1,024-token sequence; (c) which
# parts cost most:

# %%
XL = acc.swiglu_variant(acc.GPT2_XL)            # d_ff stays 6,400 = 4d (the assignment's)
xl_params = acc.param_counts(XL)
xl_flops = acc.forward_flops(XL, 1, 1024)
shapes = {"q_proj": "(T×d)·(d×d)", "k_proj": "(T×d)·(d×d)", "v_proj": "(T×d)·(d×d)",
          "o_proj": "(T×d)·(d×d)", "qk": "h × (T×d_h)·(d_h×T)", "av": "h × (T×T)·(T×d_h)",
          "mlp_up": "(T×d)·(d×d_ff)", "mlp_gate": "(T×d)·(d×d_ff)",
          "mlp_down": "(T×d_ff)·(d_ff×d)", "lm_head": "(T×d)·(d×V)"}
mm = pd.DataFrame([{"matmul": k, "shape (per layer)": shapes[k], "FLOPs (all layers)": v,
                    "share": v / xl_flops["total"]} for k, v in xl_flops.items()
                   if k in shapes])
mm.style.hide(axis="index").format({"FLOPs (all layers)": "{:.3e}", "share": "{:.1%}"}) \
    .set_caption(f"Table 6: forward-pass matrix products of the assignment's GPT-2 XL, T = 1,024 "
                 f"(total {xl_flops['total']:.3e} FLOPs)")

# %%
sh = acc.flop_shares(xl_flops)
answer(f"**(a)** {xl_params['total']:,} trainable parameters; loading them in fp32 takes "
       f"{acc.weight_bytes(XL) / 1e9:.2f} GB ({acc.weight_bytes(XL) / 2**30:.2f} GiB). "
       f"**(b)** One forward pass over 1,024 tokens: {xl_flops['total'] / 1e12:.2f} TFLOPs "
       f"(Table 6; each product (m×k)·(k×n) costs 2mkn). **(c)** The MLP dominates: "
       f"{sh['mlp']:.1%} of the FLOPs, attention {sh['attention']:.1%} (projections "
       f"{sh['attention_projections']:.1%}, the T² score and value products "
       f"{sh['attention_scores']:.1%}), the LM head {sh['lm_head']:.1%}.")

# %%
rows = []
for cfg in (acc.GPT2_SMALL, acc.GPT2_MEDIUM, acc.GPT2_LARGE, acc.GPT2_XL):
    for T in ((1024,) if cfg is not acc.GPT2_XL else (1024, 16384)):
        c = acc.swiglu_variant(cfg).replace(context_length=T)
        f = acc.forward_flops(c, 1, T)
        s = acc.flop_shares(f)
        rows.append({"model": cfg.name, "context": T, "parameters": acc.param_counts(c)["total"],
                     "fp32 GB": acc.weight_bytes(c) / 1e9, "forward TFLOPs": f["total"] / 1e12,
                     "attention proj.": s["attention_projections"],
                     "attention T² part": s["attention_scores"], "MLP": s["mlp"],
                     "LM head": s["lm_head"]})
gpt = pd.DataFrame(rows)
gpt.style.hide(axis="index").format({"parameters": "{:,}", "fp32 GB": "{:.2f}",
                                     "forward TFLOPs": "{:.2f}", "attention proj.": "{:.1%}",
                                     "attention T² part": "{:.1%}", "MLP": "{:.1%}",
                                     "LM head": "{:.1%}"}) \
    .set_caption("Table 7: the GPT-2 family in the assignment's architecture (SwiGLU with "
                 "d_ff = 4d, RMSNorm, untied head): forward FLOPs of one sequence and where they "
                 "go")

# %%
g = gpt.set_index(["model", "context"])
sm, xl_long = g.loc[("GPT-2 small", 1024)], g.loc[("GPT-2 XL", 16384)]
xl_short = g.loc[("GPT-2 XL", 1024)]
answer(f"**(d)** From small to XL at T = 1,024 the MLP's share grows from {sm['MLP']:.1%} to "
       f"{xl_short['MLP']:.1%} and the LM head's shrinks from {sm['LM head']:.1%} to "
       f"{xl_short['LM head']:.1%}: the per-layer costs grow as d² (projections, MLP) while "
       f"the head grows only as d·V and the T² attention part as T·d, so bigger models spend "
       f"relatively more in the MLP and less in the head and the score products. **(e)** At "
       f"T = 16,384 one XL forward pass costs {xl_long['forward TFLOPs']:.0f} TFLOPs, "
       f"{xl_long['forward TFLOPs'] / xl_short['forward TFLOPs']:.0f}× the 1,024-token pass "
       f"for 16× the tokens, and the T² attention part rises from "
       f"{xl_short['attention T² part']:.1%} to {xl_long['attention T² part']:.1%}: the score "
       f"and value products grow as T² and take over from the MLP, whose cost per token is "
       f"constant.")

# %% [markdown]
# **adamwAccounting.** (a) Peak memory of an fp32 training step = parameters + gradients +
# AdamW's two moments (16 bytes per parameter) + the activations autograd keeps for the
# backward pass. With N = B·T tokens, per layer (pre-norm, SwiGLU, no fused attention): two
# RMSNorms (input, normalised output and 1/rms each), the shared input of Q/K/V, Q, K and V,
# the B·h·T² softmax output, the attention output, the residual stream, and four N·d_ff
# tensors of the SwiGLU; outside the layers the final norm, the LM head's input and the
# N·V log-probabilities of the loss. The breakdown for the XL model at B = 1:

# %%
mem = acc.training_memory_bytes(XL, 1, 1024)
act = acc.activation_bytes(XL, 1, 1024)
mem_rows = [{"part": k, "GB": v / 1e9} for k, v in mem.items() if k != "total"]
mem_rows += [{"part": f"  of which {k}", "GB": v / 1e9} for k, v in act.items()
             if k.startswith("layer_")]
mem_rows.append({"part": "total", "GB": mem["total"] / 1e9})
pd.DataFrame(mem_rows).style.hide(axis="index").format({"GB": "{:.2f}"}) \
    .set_caption("Table 8: fp32 training memory of GPT-2 XL (assignment's architecture), batch 1, "
                 "T = 1,024; the 'of which' rows are per layer")

# %% [markdown]
# The same memory as an expression. `utils.train.lm_study.memory_expression` evaluates the
# accounting code above (`activation_bytes`, `param_counts`) at many integer sizes and solves
# exactly for the coefficients of each monomial in (B, T, L, d, d_ff, h, V), checking every
# point, so the expression below is the code's, not a copy typed beside it. It is compared with
# what autograd actually saves in our `TransformerLM` at the XL size with its from-scratch
# attention (traced on the meta device: no memory used); the two differ by whatever tensors
# the implementation keeps beyond the component list.

# %%
expr_naive = memory_expression(XL, "naive")
expr_sdpa = memory_expression(XL, "sdpa")


def autograd_per_sequence(cfg_acc, T: int, attention: str = "scratch") -> tuple[int, int]:
    """Bytes autograd saves in one training step of our TransformerLM at batches 1 and 2
    (meta device)."""
    kw = dict(vocab_size=cfg_acc.vocab_size, context_length=T, d_model=cfg_acc.d_model,
              num_layers=cfg_acc.n_layers, num_heads=cfg_acc.n_heads, d_ff=cfg_acc.d_ff,
              attention=attention)
    with torch.device("meta"):
        m = TransformerLM(TransformerConfig(**kw))
    out = []
    for b in (1, 2):
        x = torch.zeros(b, T, dtype=torch.long, device="meta")
        out.append(acc.saved_tensor_bytes(lambda: cross_entropy(m(x), x), exclude=m))
    return out[0], out[1]


ag1, ag2 = autograd_per_sequence(XL, 1024)
ag_per_seq, ag_fixed = ag2 - ag1, 16 * acc.param_counts(XL)["total"] + 2 * ag1 - ag2
ag_max = int((80e9 - ag_fixed) // ag_per_seq)
answer(f"**adamwAccounting (a), the expression** (fp32, bytes; P = parameters, a component list "
       f"in the handout's style with the naive attention that keeps the B·h·T² softmax):\n\n"
       f"memory = {expr_naive['total']}, with P = {expr_naive['params']}.\n\n"
       f"With a fused (flash) attention kernel the T² term becomes linear in T: memory = "
       f"{expr_sdpa['total']}.\n\n"
       f"For GPT-2 XL (B = 1, T = 1,024) the component list gives "
       f"{act['total'] / 1e9:.2f} GB of activations per sequence; what autograd actually saves "
       f"in our model (traced at batches 1 and 2 on the meta device, from-scratch attention) is "
       f"**{ag_per_seq / 1e9:.2f} GB per sequence** ({ag_per_seq / act['total'] - 1:+.0%}). The "
       f"largest batch in 80 GB is **{acc.max_batch_size(XL, 1024, 80e9)[0]}** by the component "
       f"list and **{max(ag_max, 0)}** by what autograd saves.")

# %%
max_b, a_bytes, b_bytes = acc.max_batch_size(XL, 1024, 80e9)
P_xl = xl_params["total"]
adam = acc.adamw_flops(P_xl)
# Table 5's count, op by op: the aten ops our AdamW.step dispatched, weighted as
# count_elementwise_op_flops weights them, per parameter of the checked model
P_check = check_model.num_parameters()
adam_per_op = {}
for op, n in adamw_trace:
    adam_per_op[op] = adam_per_op.get(op, 0) + acc.EW_FLOPS_PER_ELEMENT[op] * n
assert sum(adam_per_op.values()) == counted_adamw
adam_per_param = counted_adamw / P_check
OP_ROLE = {"mul_": "decay p·(1 − αλ) and β₂·v", "lerp_": "first moment", "addcmul_":
           "+ (1 − β₂)·g²", "sqrt": "√v", "div": "bias correction of v", "add_": "+ ε",
           "addcdiv_": "update"}                # what each op does in AdamW.step (§1)
adam_ops = ", ".join(f"`{op}` {v / P_check:g}" + (f" ({OP_ROLE[op]})" if op in OP_ROLE else "")
                     for op, v in adam_per_op.items())
steps_, batch_ = 400_000, 1024
total_train = steps_ * (acc.training_flops(XL, batch_, 1024)["total"] + adam)
a100 = 19.5e12
days = acc.training_time_seconds(total_train, a100, 0.5) / 86400
answer(f"**(a)** memory = 16·P + activations(B) = {16 * P_xl / 1e9:.2f} GB + "
       f"{act['total'] / 1e9:.2f} GB per sequence of 1,024 tokens. **(b)** As a·B + b: "
       f"**{a_bytes / 1e9:.2f} · batch_size + {b_bytes / 1e9:.2f} GB**, so the largest batch in "
       f"80 GB is **{max_b}**. **(c)** Counted op by op on our `AdamW.step` (Table 5), one "
       f"step costs per parameter {adam_ops}: **{adam_per_param:g}·P** FLOPs in all"
       + (f", as `acc.adamw_flops` has it" if acc.adamw_flops(P_check) == counted_adamw else
          f", while `acc.adamw_flops` says {acc.adamw_flops(P_check) / P_check:g}·P")
       + f"; {adam / 1e9:.1f} GFLOPs for the XL model — "
       + ("negligible next to" if adam < 0.01 * 6 * P_xl * 1024 else "to compare with")
       + f" the ≈ 6 FLOPs per parameter *per token* of forward and backward ("
       f"{6 * P_xl * 1024 / 1e12:.1f} TFLOPs for one 1,024-token sequence). **(d)** "
       f"{steps_:,} steps of batch {batch_} × 1,024 tokens = {total_train:.2e} FLOPs "
       f"(backward = 2 × forward); on one A100 at 19.5 TFLOP/s fp32 and 50 % MFU that is "
       f"**{days:,.0f} days** ({days / 365:.1f} years).")

# %%
seed_claims = [
    ("XL parameters", "1.56 B", f"{P_xl / 1e9:.2f} B"),
    ("XL fp32 weights", "5.80 GB", f"{acc.weight_bytes(XL) / 1e9:.2f} GB"),
    ("XL forward FLOPs, T = 1,024", "3.02 TFLOPs", f"{xl_flops['total'] / 1e12:.2f} TFLOPs"),
    ("XL attention / MLP share", "33.3 % / 66.7 %", f"{sh['attention']:.1%} / {sh['mlp']:.1%}"),
    ("GPT-2 small parameters", "0.19 B",
     f"{g.loc[('GPT-2 small', 1024), 'parameters'] / 1e9:.2f} B"),
    ("GPT-2 small forward FLOPs", "0.30 TFLOPs",
     f"{g.loc[('GPT-2 small', 1024), 'forward TFLOPs']:.2f} TFLOPs"),
    ("GPT-2 medium forward FLOPs", "0.85 TFLOPs",
     f"{g.loc[('GPT-2 medium', 1024), 'forward TFLOPs']:.2f} TFLOPs"),
    ("GPT-2 large forward FLOPs", "1.69 TFLOPs",
     f"{g.loc[('GPT-2 large', 1024), 'forward TFLOPs']:.2f} TFLOPs"),
    ("XL forward FLOPs, T = 16,384", "133.42 TFLOPs",
     f"{xl_long['forward TFLOPs']:.2f} TFLOPs"),
    ("XL attention share at T = 16,384", "61.8 %",
     f"{xl_long['attention proj.'] + xl_long['attention T² part']:.1%}"),
    ("AdamW FLOPs per step", "12·P",
     f"{counted_adamw / check_model.num_parameters():.0f}·P (counted)"),
    ("max batch in 80 GB", "3", f"{max_b}"),
    ("XL training time, 400k steps", "4.6 days", f"{days:,.0f} days"),
]
pd.DataFrame(seed_claims, columns=["quantity", "seed answer", "computed here"]).style \
    .hide(axis="index").set_caption("Table 9: the seed's accounting answers against the computed "
                                    "values")

# %%
L_, d_, V_, f_ = XL.n_layers, XL.d_model, XL.vocab_size, XL.d_ff
seed_params = 12 * L_ * d_ ** 2 + V_ * d_
seed_fwd = 2 * 1024 * L_ * (4 * d_ ** 2 + 2 * d_ * f_)
seed_total = 6 * seed_params * steps_ * batch_ * 1024
seed_days = seed_total / (0.5 * a100) / 86400
small_med_large = [g.loc[(n, 1024), "attention proj."] + g.loc[(n, 1024), "attention T² part"]
                   for n in ("GPT-2 small", "GPT-2 medium", "GPT-2 large")]
PART = {"attention proj.": "attention projections'", "attention T² part": "T² attention part's",
        "MLP": "MLP's", "LM head": "LM head's"}
share_change = {k: xl_short[k] - sm[k] for k in PART}            # GPT-2 small → XL, T = 1,024
most = max(share_change, key=lambda k: abs(share_change[k]))
# the part moving most the other way: where the share goes (or comes from)
other = max((k for k in PART if k != most), key=lambda k: -np.sign(share_change[most])
            * share_change[k])
answer(f"Where the seed's numbers come from. Its parameter count is 12·L·d² + V·d = "
       f"{seed_params / 1e9:.3f} B: a two-matrix 4d MLP and a tied head, not the assignment's "
       f"three d × {f_:,} SwiGLU matrices and untied head ({P_xl / 1e9:.3f} B). Its forward "
       f"FLOPs are 2·T·L·(4d² + 2·d·d_ff) = {seed_fwd / 1e12:.2f} TFLOPs: the third SwiGLU "
       f"matrix, the T² score and value products and the LM head are missing, hence its exact "
       f"1:2 attention/MLP split for XL. Computed with every product, attention's share for "
       f"small, medium and large is {', '.join(f'{v:.1%}' for v in small_med_large)} (the "
       f"seed: 19.4 %, 24.2 %, 28.6 %), and what changes most from small to XL is the "
       f"{PART[most]} share, which {'shrinks' if share_change[most] < 0 else 'grows'} from "
       f"{sm[most]:.1%} to {xl_short[most]:.1%}, "
       f"{'in favour of' if share_change[most] < 0 else 'at the expense of'} the {PART[other]} "
       f"({sm[other]:.1%} → {xl_short[other]:.1%}, Table 7). "
       f"Its training-time estimate uses 6·P per token: "
       f"{seed_total:.2e} FLOPs, which at its own 9.75 TFLOP/s take {seed_days:,.0f} days — the "
       f"seed's '4.6 days' is off by a factor of {seed_days / 4.6:,.0f} in the last division "
       f"({seed_total / (0.5 * a100):.1e} s, not about 4·10⁵ s). Its maximum batch size "
       + ("agrees with" if max_b == 3 else f"differs from (3 against {max_b})")
       + f" the computed one; its 12 FLOPs per parameter for AdamW "
       + ("is a coarser count of the same update" if adam_per_param > 12 else
          "agrees with our count" if adam_per_param == 12 else
          "is a finer count of the same update")
       + f" (Table 5 counts {adam_per_param:g} elementwise FLOPs per parameter in our step).")

# %%
finish(store)
