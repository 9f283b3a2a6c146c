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
# * **learning_rate**: a learning-rate sweep with a divergent run, and where divergence sits
#   relative to the best rate;
# * **batch_size_experiment**: batch sizes from 1 upwards, learning rate re-tuned for each;
# * **generate**: text of at least 256 tokens, with commentary;
# * **layer_norm_ablation**, **pre_norm_ablation**, **no_pos_emb**, **swiglu_ablation**: each a
#   learning curve over the notebook's seeds;
# * **main_experiment**: a second, structurally different corpus (code) compared with prose;
# * **transformer_accounting** and **adamwAccounting**: parameters, memory, FLOPs per matrix
#   product for GPT-2 small to XL and at context 16,384, AdamW's memory and FLOPs and a
#   training-time estimate, from formulas checked against FLOPs counted on small models. The
#   seed's own answers are compared with the computed values.
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
vocab_size = 1024        # BPE vocabulary (with <|endoftext|>); the assignment uses 10,000

# %%
from utils.notebook import answer, finish, show_source, start
from utils.params import Int, Text
P = start("06_transformer_lm", globals(), corpus=Text(allow_empty=False),
          code_corpus=Text(allow_empty=False), vocab_size=Int(min=300, max=65536))

# %%
import math
import re
import time

import numpy as np
import pandas as pd
import psutil
import torch

from utils import accounting as acc
from utils import plots
from utils.data.corpora import encode_to_memmap, split_paths
from utils.generate import generate, top_p_filter
from utils.nn.transformer_lm import TransformerConfig, TransformerLM
from utils.paths import cache_dir
from utils.runs import RunStore
from utils.stats import table
from utils.tokenization import Tokenizer, train_bpe
from utils.train import optim as optim_module
from utils.train.lm import (cross_entropy, get_batch, load_tokens, model_from_result,
                            pick_threads, train_lm)
from utils.train.optim import AdamW

store = RunStore("06_transformer_lm")
EOT = "<|endoftext|>"
THREADS = pick_threads()

# %% [markdown]
# ## 1 · The pieces
#
# Everything below is imported from `utils` (each module cites its equations; the tests
# compare each piece with torch's own). Three of them, printed — the optimizer step, the
# schedule and the loss:

# %%
show_source(AdamW.step)
show_source(optim_module.cosine_schedule)
show_source(cross_entropy)

# %% [markdown]
# ## 2 · Data: two corpora, two tokenizers
#
# Each corpus is split into training and validation text (the last ~10 %, cut at a document
# boundary), a BPE tokenizer with `<|endoftext|>` is trained on the training part, and both
# parts are encoded once to `uint16` token files that the training loop memory-maps
# (`utils.train.lm.get_batch` reads only the sampled windows).

# %%
VOCAB = P.pick(smoke=320, laptop=vocab_size, full=vocab_size)
MAX_CHARS = P.pick(smoke=400_000, laptop=None, full=None)


def prepare(name: str) -> dict:
    """Tokenizer and token files for one corpus (all cached: the run store and data/cache)."""
    train_path, val_path = split_paths(name, 0.1, MAX_CHARS)   # file names carry a hash

    def fit(config, ctx):
        t0 = time.perf_counter()
        vocab, merges = train_bpe(train_path, config["vocab_size"], [EOT])
        return {"vocab": vocab, "merges": merges, "seconds": time.perf_counter() - t0}

    bpe = store.run({"what": "bpe", "train_file": train_path.name, "vocab_size": VOCAB,
                     "version": 1}, fit)
    tok = Tokenizer(bpe["vocab"], bpe["merges"], [EOT])
    out = cache_dir() / "06_transformer_lm" / f"{train_path.stem}-v{VOCAB}"
    files = {}
    for split, src in (("train", train_path), ("val", val_path)):
        files[split] = out / f"{split}.bin"
        if not files[split].exists():
            encode_to_memmap(tok, src, files[split])
    n_val = len(load_tokens(files["val"]))
    return {"name": name, "tokenizer": tok, "train": files["train"], "val": files["val"],
            "tag": f"{train_path.name}/v{VOCAB}", "bpe_seconds": bpe["seconds"],
            "train_tokens": len(load_tokens(files["train"])), "val_tokens": n_val,
            "val_bytes": val_path.stat().st_size,
            "bytes_per_token": val_path.stat().st_size / n_val}


prose, code = prepare(P.corpus), prepare(P.code_corpus)
pd.DataFrame([{"corpus": d["name"], "BPE training, s": d["bpe_seconds"],
               "training tokens": d["train_tokens"], "validation tokens": d["val_tokens"],
               "bytes per token (validation)": d["bytes_per_token"]} for d in (prose, code)]) \
    .style.hide(axis="index").format({"BPE training, s": "{:.1f}", "training tokens": "{:,}",
                                      "validation tokens": "{:,}",
                                      "bytes per token (validation)": "{:.2f}"}) \
    .set_caption(f"Table 1: the two corpora with their own {VOCAB}-token BPE vocabularies")

# %% [markdown]
# ## 3 · The model and the budget
#
# The assignment's TinyStories model (`full`): vocabulary 10,000, context 256, d_model 512, 4
# layers, 16 heads, d_ff 1,344, RoPE θ = 10,000, 327,680,000 training tokens per run (batch 32 ×
# 40,000 steps × 256); its cost is printed below. On a 2-core CPU the `laptop` profile keeps the
# architecture and shrinks everything else, so that the sweep, the batch study, four
# ablations over three seeds, the second corpus and the generation are meant to fit in about 25
# minutes on a quiet 2-core machine (the closing line reports the actual time). The cell below
# times a few training steps and projects the cost of one run.

# %%
D, LAYERS, HEADS = P.pick(smoke=(32, 2, 2), laptop=(64, 4, 2), full=(512, 4, 16))
CTX = P.pick(smoke=32, laptop=64, full=256)
BATCH = P.pick(smoke=8, laptop=32, full=32)
STEPS = P.pick(smoke=16, laptop=200, full=40_000)
EVALS = 8                                    # validation points per run
BASE_MODEL = dict(vocab_size=VOCAB, context_length=CTX, d_model=D, num_layers=LAYERS,
                  num_heads=HEADS, rope_theta=10000.0, attention="flash")
base_cfg = TransformerConfig(**BASE_MODEL)


def run_config(data: dict, lr: float, seed: int, model: dict | None = None,
               batch: int = BATCH, steps: int = STEPS) -> dict:
    """One training run (a plain dict: the run store's key)."""
    return {"model": {**BASE_MODEL, **(model or {})}, "train_data": str(data["train"]),
            "val_data": str(data["val"]), "batch_size": batch, "max_iters": steps,
            "lr_max": lr, "lr_min": lr / 10, "warmup_iters": max(1, steps // 10),
            "beta1": 0.9, "beta2": 0.95, "weight_decay": 0.1, "grad_clip": 1.0,
            "eval_interval": max(1, steps // EVALS), "eval_iters": P.pick(smoke=2, laptop=4,
                                                                           full=100),
            "eval_batch_size": 64, "checkpoint_interval": max(10, steps // 3), "seed": seed,
            "tag": data["tag"], "version": 1}


def step_seconds(model_kw: dict, batch: int, steps: int = 3) -> float:
    torch.manual_seed(0)
    m = TransformerLM(TransformerConfig(**{**BASE_MODEL, **model_kw}))
    opt = AdamW(m.parameters(), lr=1e-4)
    data = load_tokens(prose["train"])
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 1):
        x, y = get_batch(data, batch, CTX, "cpu", g)
        t0 = time.perf_counter()
        loss = cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


n_params = TransformerLM(base_cfg).num_parameters()
t_step = step_seconds({}, BATCH)
tokens_run = BATCH * CTX * STEPS
print(f"{P.profile}: d_model {D}, {LAYERS} layers, {HEADS} heads, d_ff {base_cfg.hidden_dim}, "
      f"context {CTX}, vocabulary {VOCAB}: {n_params:,} parameters; batch {BATCH} x {STEPS} "
      f"steps = {tokens_run:,} tokens per run ({tokens_run / prose['train_tokens']:.2f} epochs of "
      f"the prose training tokens)")
print(f"measured: {t_step * 1e3:.0f} ms per training step ({BATCH * CTX / t_step:,.0f} tokens/s, "
      f"{THREADS} thread(s)) -> {STEPS * t_step:.0f} s per full-length run")
cs336 = acc.TransformerConfig(d_model=512, n_layers=4, n_heads=16, vocab_size=10000,
                              context_length=256, d_ff=1344, mlp="swiglu", norm="rmsnorm",
                              bias=False, positions="rope", tied_embeddings=False)
full_flops = 40_000 * acc.training_flops(cs336, 32, 256)["total"]
print(f"the assignment's run: {acc.param_counts(cs336)['total']:,} parameters, "
      f"{full_flops:.2e} FLOPs per run = {full_flops / 1e12 / 3600 / 0.05:.0f} h at 50 "
      f"GFLOP/s (this CPU), {acc.training_time_seconds(full_flops, 989e12, 0.4) / 60:.0f} min "
      f"on an H100 (989 TFLOP/s bf16) at 40 % MFU")
if P.profile == "full":
    print("full profile: every experiment below runs at these settings; expect days on a CPU")
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
# first step's loss; the training loop then stops it. To fit the laptop budget, every rate is
# trained with the first seed, and the two best rates that did not diverge are then repeated
# with every other seed; the best rate is the one with the lower mean over all seeds.

# %%
LRS = P.pick(smoke=[1e-2, 3.0], laptop=[3e-3, 1e-2, 3e-2, 1e-1, 1.0, 3.0],
             full=[1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 1.0, 3.0])
first = [run_config(prose, lr, P.seeds[0]) for lr in LRS]
first_results = store.sweep(first, train_lm, desc="learning rates, first seed")
stable_first = sorted((r["final_val_loss"], c["lr_max"]) for c, r in zip(first, first_results)
                      if not r["diverged"])
TOP_LRS = [lr for _, lr in stable_first[:2]]
more = [run_config(prose, lr, s) for lr in TOP_LRS for s in P.seeds[1:]]
lr_configs = first + more
lr_results = first_results + store.sweep(more, train_lm, desc="learning rates, more seeds")


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
ok = lr_df[lr_df.lr.isin(TOP_LRS)].groupby("lr").filter(lambda g: not g.diverged.any())
lr_mean = ok.groupby("lr")["final_val_loss"].mean()
BEST_LR = float(lr_mean.idxmin()) if len(lr_mean) else LRS[0]
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
lr_tab = lr_df.copy()
table(lr_tab, "lr", ["final_val_loss", "best_val_loss", "iterations"],
      best={"final_val_loss": "min", "best_val_loss": "min"},
      labels={"final_val_loss": "final val loss", "best_val_loss": "best val loss",
              "iterations": "steps run"}, digits={"final_val_loss": 3, "best_val_loss": 3,
                                                  "iterations": 0},
      caption=f"Table 2: learning-rate sweep ({STEPS} steps; '–' or nan: diverged); mean ± std "
              f"over seeds ({len(P.seeds)} for lr {', '.join(f'{v:g}' for v in TOP_LRS)}, "
              f"the first seed for the others)")

# %%
lr_all = lr_df.groupby("lr")["final_val_loss"].mean()
if diverging:
    first_div = diverging[0]
    stable = [lr for lr in LRS if lr < first_div]
    last_ok = max(stable) if stable else None
    factor = first_div / BEST_LR
    div_steps = int(lr_df[lr_df.lr == first_div].iterations.max())
    where = ("just above it: the best rate sits at the edge of stability" if factor <= 3.5 else
             f"{factor:.0f}× above it: with warmup, clipping and pre-norm, rates well above the "
             f"best one do not blow up but train worse, so here the best rate is not 'just below "
             f"divergence'")
    answer(f"**learning_rate (a, b).** The lowest final validation loss is reached at "
           f"**lr = {BEST_LR:g}** ({lr_mean[BEST_LR]:.3f} nats/token, mean of "
           f"{len(P.seeds)} seeds). Search strategy: a log grid (steps of about 3×) from "
           f"{LRS[0]:g} to {LRS[-1]:g}, wide enough to bracket both an under-trained and a "
           f"divergent run, with the first seed; then the two best rates with every seed"
           + (f". Below the best rate training is stable but slower (lr {LRS[0]:g}: "
              f"{lr_all[LRS[0]]:.3f} after {STEPS} steps)" if LRS[0] < BEST_LR else "")
           + (f"; above it, up to lr {last_ok:g}, runs survive but end worse (lr {last_ok:g}: "
              f"{lr_all[last_ok]:.3f})" if last_ok and last_ok > BEST_LR else "")
           + f". The smallest rate with a diverged run is **{first_div:g}**, {where}. (The "
           f"divergent runs are stopped within {div_steps} steps"
           + (", during the warmup, before the peak rate is reached)."
              if div_steps <= max(1, STEPS // 10) else ")."))
else:
    answer(f"**learning_rate.** The lowest final validation loss is at lr = {BEST_LR:g}; **no "
           f"run diverged** up to lr = {LRS[-1]:g} at this budget (gradient clipping and the "
           f"warmup keep even large rates bounded), so the position of divergence relative to "
           f"the best rate could not be measured here.")

# %% [markdown]
# ## 5 · Batch size (problem `batch_size_experiment`)
#
# On a fixed budget of training tokens (the fair comparison on a compute-bound machine),
# batch sizes from 1 upwards. For each batch size the learning rate is re-tuned over a 3-point
# grid (× 0.5, 1, 2) around the square-root scaling rule lr(B) = lr*·sqrt(B / B₀) (B₀ = the
# batch of the sweep above) with the first seed; the best rate is then run with every seed.

# %%
BATCHES = P.pick(smoke=[2, 8], laptop=[1, 4, 16, 64, 128], full=[1, 8, 32, 64, 128, 256, 512])
LR_FACTORS = P.pick(smoke=(1.0,), laptop=(0.5, 1.0, 2.0), full=(0.5, 1.0, 2.0))
BS_TOKENS = P.pick(smoke=8 * CTX * 20, laptop=BATCH * CTX * STEPS // 4,
                   full=BATCH * CTX * STEPS // 4)


def bs_config(b: int, lr: float, seed: int) -> dict:
    steps = max(4, BS_TOKENS // (b * CTX))
    return run_config(prose, lr, seed, batch=b, steps=steps)


bs_grid = []
for b in BATCHES:
    centre = BEST_LR * math.sqrt(b / BATCH)
    bs_grid += [bs_config(b, round(centre * f, 8), P.seeds[0]) for f in LR_FACTORS]
grid_results = store.sweep(bs_grid, train_lm, desc="batch sizes: lr grid")
grid_df = frame(bs_grid, grid_results)
best_bs_lr = {b: float(g[~g.diverged].sort_values("final_val_loss").lr.iloc[0])
              if (~g.diverged).any() else float(g.lr.min())
              for b, g in grid_df.groupby("batch")}
bs_configs = [bs_config(b, best_bs_lr[b], s) for b in BATCHES for s in P.seeds]
bs_results = store.sweep(bs_configs, train_lm, desc="batch sizes: seeds")
bs_df = frame(bs_configs, bs_results)

# %%
fig, ax = plots.subplots(1, 1, width=7.5, height=3.5)
for i, b in enumerate(BATCHES):
    rs = [r for c, r in zip(bs_configs, bs_results) if c["batch_size"] == b]
    va = np.array([r["history"]["val_loss"] for r in rs])
    tokens = np.array(rs[0]["history"]["val_iter"]) * b * CTX
    ax.errorbar(tokens, va.mean(0), yerr=va.std(0), marker="o", ms=3, capsize=2,
                label=f"batch {b} (lr {best_bs_lr[b]:.2g})")
ax.set_xlabel("training tokens")
ax.set_ylabel("validation loss, nats/token")
ax.legend(fontsize=8)
plots.show(fig, "batch_sizes", f"Validation loss against training tokens for each batch size at "
           f"its re-tuned learning rate ({BS_TOKENS:,} tokens each), mean ± std over "
           f"{len(P.seeds)} seeds.")

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
bs_mean = bs_df.groupby("batch")["final_val_loss"].mean()
edge = [b for b in BATCHES if len(LR_FACTORS) > 1
        and best_bs_lr[b] == float(grid_df[grid_df.batch == b].lr.max())]
tps = bs_df.groupby("batch")["tokens_per_s"].mean()
best_b = int(bs_mean.idxmin())
if best_b == BATCHES[0]:
    pattern = ("the smallest batch wins: on a fixed token budget many small, noisy steps beat "
               "fewer averaged ones")
elif best_b == BATCHES[-1]:
    pattern = "the largest batch wins even on a fixed token budget"
else:
    pattern = (f"an intermediate batch ({best_b}) wins: the smallest batches take many very "
               f"noisy steps, the largest too few steps on this budget — averaging a gradient "
               f"over more sequences stops paying once its noise is small compared with its "
               f"signal (the gradient noise scale of McCandlish et al., 2018)")
answer(f"**batch_size_experiment.** Final validation loss after {BS_TOKENS:,} training tokens, "
       f"by batch size: " + ", ".join(f"{b}: {bs_mean[b]:.3f}" for b in BATCHES) + f" — "
       f"{pattern}. The re-tuned rates by batch: "
       f"{', '.join(f'{b}: {best_bs_lr[b]:.2g}' for b in BATCHES)}"
       + (" — they grow with the batch, as larger batches give less noisy gradients that "
          "tolerate larger steps" if all(best_bs_lr[a] <= best_bs_lr[b] for a, b in
                                         zip(BATCHES, BATCHES[1:]))
          else " — not monotone in the batch at this budget (a 3-point grid with one seed)")
       + ("" if not edge else f"; for batch {', '.join(map(str, edge))} the best rate is the "
          f"largest of its grid, so the optimum may lie higher and the loss there is an upper "
          f"bound")
       + f". Throughput is the other half: batch "
       f"{BATCHES[0]} processes {tps[BATCHES[0]]:,.0f} tokens/s against "
       f"{tps[BATCHES[-1]]:,.0f} at batch {BATCHES[-1]}"
       + (" (small matrices leave the hardware idle), so on a wall-clock budget larger batches "
          "gain further" if tps[BATCHES[-1]] > tps[BATCHES[0]] else "")
       + f". The memory limit of this "
       f"machine ({ram / 2**30:.0f} GiB) is far away for this small model: the accounting of "
       f"section 9 gives {per_seq / 2**20:.2f} MiB of activations per sequence of {CTX} tokens "
       f"plus {fixed / 2**20:.0f} MiB fixed, i.e. a batch of about {mem_limit:,}. Counting "
       f"the tensors our model actually saves for the backward pass (traced at batches 1, 9 "
       f"and 17: " + ("exactly linear" if linear else "not exactly linear") + ") gives "
       f"{per_seq_meas / 2**20:.2f} MiB per sequence "
       f"({per_seq_meas / per_seq - 1:+.0%} against the formula, which counts only the minimal "
       f"set of activations) and a limit of **{limit_meas:,}** sequences. The sweep "
       f"stops at {BATCHES[-1]} because on a fixed token budget that batch already has only "
       f"{max(4, BS_TOKENS // (BATCHES[-1] * CTX))} optimizer steps.")

# %% [markdown]
# ## 6 · Ablations
# Problems `layer_norm_ablation`, `pre_norm_ablation`, `no_pos_emb` and `swiglu_ablation`.
#
# Each variant changes one thing in the baseline (pre-norm RMSNorm, RoPE, SwiGLU) and trains
# with every seed at the best rate of section 4 (the baseline runs are reused from there):
#
# * **no norm**: all RMSNorms removed — at the best rate, and at a third of it (the assignment
#   asks whether a lower rate restores stability);
# * **post-norm**: x = RMSNorm(x + Sublayer(x)), the 2017 layout;
# * **NoPE**: no positional information at all;
# * **SiLU**: the FFN W₂ SiLU(W₁x) with d_ff = 3/2 · d_ff(SwiGLU), so both FFNs have the same
#   number of parameters.

# %%
ABLATIONS = {
    "baseline (pre-norm, RoPE, SwiGLU)": ({}, BEST_LR),
    "no norm": ({"norm_position": "none"}, BEST_LR),
    "no norm, lr / 3": ({"norm_position": "none"}, BEST_LR / 3),
    "post-norm": ({"norm_position": "post"}, BEST_LR),
    "NoPE": ({"positions": "none"}, BEST_LR),
    "SiLU (parameter-matched)": ({"ffn": "silu"}, BEST_LR),
}
ab_configs, ab_names = [], []
for name, (change, lr) in ABLATIONS.items():
    for s in P.seeds:
        ab_configs.append(run_config(prose, lr, s, model=change))
        ab_names.append(name)
ab_results = store.sweep(ab_configs, train_lm, desc="ablations")
ab_df = frame(ab_configs, ab_results)
ab_df["variant"] = ab_names
ab_df["params"] = [r["n_params"] for r in ab_results]

# %%
fig, axes = plots.subplots(2, 2, width=10.5, height=6.4)
panels = [("no norm", "no norm, lr / 3"), ("post-norm",), ("NoPE",),
          ("SiLU (parameter-matched)",)]
base_name = "baseline (pre-norm, RoPE, SwiGLU)"


def curves(name):
    rs = [r for n, r in zip(ab_names, ab_results) if n == name]
    L_ = min(len(r["history"]["val_loss"]) for r in rs)
    return (np.array(rs[0]["history"]["val_iter"][:L_]),
            np.array([r["history"]["val_loss"][:L_] for r in rs]),
            any(r["diverged"] for r in rs))


for ax, names in zip(axes.flat, panels):
    for name in (base_name, *names):
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
ab = ab_df.groupby("variant")["final_val_loss"].agg(["mean", "std"])
ab_div = ab_df.groupby("variant")["diverged"].any()
b_mean, b_std = ab.loc[base_name, "mean"], ab.loc[base_name, "std"]


def compare(name: str) -> str:
    if ab_div[name]:
        n_div = int(ab_df[(ab_df.variant == name)].diverged.sum())
        return f"{n_div} of {len(P.seeds)} seeds **diverged**"
    m, s = ab.loc[name, "mean"], ab.loc[name, "std"]
    d = m - b_mean
    spread = 2 * max(s, b_std)
    verdict = ("worse" if d > spread else "better" if d < -spread
               else "not distinguishable from the baseline at this budget")
    return f"{m:.3f} ± {s:.3f} ({d:+.3f} vs the baseline: {verdict})"


answer(f"Baseline: {b_mean:.3f} ± {b_std:.3f} nats/token. A difference counts only when it "
       f"exceeds twice the larger seed-to-seed standard deviation.\n\n"
       f"* **layer_norm_ablation** — without any RMSNorm at the best rate: {compare('no norm')}; "
       f"at a third of that rate: {compare('no norm, lr / 3')}. Normalisation keeps the "
       f"residual stream's scale in check; without it the effective step size grows with the "
       f"activations, so the stable learning rate shrinks"
       + ("" if ab_div["no norm"] or ab.loc["no norm", "mean"] - b_mean > 2 * max(
           ab.loc["no norm", "std"], b_std) else
          f" — an instability that does not show here, with {LAYERS} layers of width {D} and "
          f"{STEPS} steps (the assignment trains d_model 512 for 40,000 steps)")
       + ".\n"
       f"* **pre_norm_ablation** — post-norm: {compare('post-norm')}. Post-norm puts a norm on "
       f"the residual path itself, so gradients to early layers pass through every norm; "
       f"pre-norm leaves an identity path from the loss to the embeddings (Xiong et al., 2020), "
       f"which is why it tolerates larger rates and needs less warmup.\n"
       f"* **no_pos_emb** — NoPE: {compare('NoPE')}. A causal model can infer positions from "
       f"its mask (notebook 02), so NoPE still learns; what it loses is easy access to exact "
       f"offsets.\n"
       f"* **swiglu_ablation** — SiLU FFN with the same parameter count: "
       f"{compare('SiLU (parameter-matched)')}. SwiGLU's gate multiplies two projections, a "
       f"more expressive function per parameter (Shazeer, 2020).")

# %% [markdown]
# ## 7 · Prose and code (problem `main_experiment`)
#
# The same model and rate trained on the second corpus (its own BPE vocabulary of the same
# size). Losses per token are not comparable across tokenizers, so both are also given in
# **bits per byte** of text: loss / ln 2 / (bytes per token).

# %%
code_configs = [run_config(code, BEST_LR, s) for s in P.seeds]
code_results = store.sweep(code_configs, train_lm, desc="code corpus")
prose_results = [r for n, r in zip(ab_names, ab_results) if n == base_name]

fig, axes = plots.subplots(1, 2, width=10.5, height=3.5)
summary = {}
for data, rs, label in ((prose, prose_results, f"prose ({P.corpus})"),
                        (code, code_results, f"code ({P.code_corpus})")):
    x_ = np.array(rs[0]["history"]["val_iter"])
    va = np.array([r["history"]["val_loss"] for r in rs])
    bpb = va / math.log(2) / data["bytes_per_token"]
    axes[0].errorbar(x_, va.mean(0), yerr=va.std(0), marker="o", ms=3, capsize=2, label=label)
    axes[1].errorbar(x_, bpb.mean(0), yerr=bpb.std(0), marker="o", ms=3, capsize=2,
                     label=label)
    summary[label] = (va[:, -1].mean(), va[:, -1].std(), bpb[:, -1].mean(), bpb[:, -1].std())
axes[0].set_ylabel("validation loss, nats/token")
axes[1].set_ylabel("validation loss, bits/byte")
for ax in axes:
    ax.set_xlabel("step")
    ax.legend()
plots.show(fig, "prose_vs_code", f"The same model trained on prose and on code: per token "
           f"(left) and per byte of text (right), mean ± std over {len(P.seeds)} seeds.")

# %%
(pl, ps, pb, pbs), (cl, cs, cb, cbs) = summary.values()
easier = "code" if cb < pb else "prose"
answer(f"**main_experiment.** After {STEPS} steps: prose {pl:.3f} ± {ps:.3f} nats/token = "
       f"{pb:.3f} ± {pbs:.3f} bits/byte; code {cl:.3f} ± {cs:.3f} nats/token = {cb:.3f} ± "
       f"{cbs:.3f} bits/byte ({prose['bytes_per_token']:.2f} and {code['bytes_per_token']:.2f} "
       f"bytes per token). Per byte, **{easier}** is the more predictable text for this model. "
       f"Code is highly regular — indentation, keywords, recurring identifiers, and whole "
       f"boilerplate lines — so much of it is predictable from local context; prose has a "
       f"larger effective vocabulary and longer-range meaning. The assignment's comparison "
       f"(TinyStories vs OpenWebText) is the same question with a narrow corpus against a "
       f"broad one; the seed answer's claim that the difference comes from 'vocabulary size' "
       f"cannot be right there, since both used their own tokenizer: it is the entropy of the "
       f"text itself.")

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
    prompt_ids = list(np.asarray(load_tokens(data["val"])[:16]))
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
train_words = set(re.findall(r"[A-Za-z']+", split_paths(P.corpus, 0.1, MAX_CHARS)[0]
                             .read_text(encoding="utf-8").lower()))
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


val_text = split_paths(P.corpus, 0.1, MAX_CHARS)[1].read_text(encoding="utf-8")
answer(f"**generate.** The prose sample has {len(prose_ids)} new tokens, {len(words)} words: "
       f"{real:.0%} of them are words of the training text, {distinct:.0%} of its word 3-grams "
       f"are distinct ("
       + ("it does not loop" if distinct >= 0.9 else "it repeats itself") +
       f"). Its non-empty lines average {mean_line_chars(prose_text):.0f} characters against "
       f"{mean_line_chars(val_text):.0f} in the validation text ("
       + ("the line layout of the corpus is imitated"
          if 2 / 3 <= mean_line_chars(prose_text) / mean_line_chars(val_text) <= 1.5
          else "the line layout of the corpus is not yet imitated")
       + f"), while (read the sample) the sentences carry little meaning beyond a few words: "
       f"a model of {n_params:,} parameters "
       f"that has seen {tokens_run:,} tokens learns spelling, local syntax and format first. "
       f"In the code sample, {parse_share:.0%} of the {len(lines)} non-empty lines compile on "
       f"their own as Python: it picks up indentation, keywords and the look of identifiers "
       f"quickly. The validation loss of these models ({pl:.2f} nats/token for prose) is the "
       f"number behind the impression: lower temperature or top-p trades diversity for "
       f"fluency (notebook 07 compares greedy and top-p decoding).")

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
counted_adamw, _ = acc.count_elementwise_op_flops(opt_check.step)
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

# %%
max_b, a_bytes, b_bytes = acc.max_batch_size(XL, 1024, 80e9)
P_xl = xl_params["total"]
adam = acc.adamw_flops(P_xl)
steps_, batch_ = 400_000, 1024
total_train = steps_ * (acc.training_flops(XL, batch_, 1024)["total"] + adam)
a100 = 19.5e12
days = acc.training_time_seconds(total_train, a100, 0.5) / 86400
answer(f"**(a)** memory = 16·P + activations(B) = {16 * P_xl / 1e9:.2f} GB + "
       f"{act['total'] / 1e9:.2f} GB per sequence of 1,024 tokens. **(b)** As a·B + b: "
       f"**{a_bytes / 1e9:.2f} · batch_size + {b_bytes / 1e9:.2f} GB**, so the largest batch in "
       f"80 GB is **{max_b}**. **(c)** One AdamW step costs about {adam / P_xl:.0f} FLOPs per "
       f"parameter "
       f"(decay 1, first moment 3, second moment 4, bias-corrected denominator 3, update 3; "
       f"counted op by op on our `AdamW.step` in Table 5): {adam / 1e9:.1f} GFLOPs for the XL "
       f"model — negligible next to the ≈ 6 FLOPs per parameter *per token* of forward and "
       f"backward. **(d)** {steps_:,} steps of batch {batch_} × 1,024 tokens = "
       f"{total_train:.2e} FLOPs (backward = 2 × forward); on one A100 at 19.5 TFLOP/s fp32 and "
       f"50 % MFU that is **{days:,.0f} days** ({days / 365:.1f} years).")

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
answer(f"Where the seed's numbers come from. Its parameter count is 12·L·d² + V·d = "
       f"{seed_params / 1e9:.3f} B: a two-matrix 4d MLP and a tied head, not the assignment's "
       f"three d × {f_:,} SwiGLU matrices and untied head ({P_xl / 1e9:.3f} B). Its forward "
       f"FLOPs are 2·T·L·(4d² + 2·d·d_ff) = {seed_fwd / 1e12:.2f} TFLOPs: the third SwiGLU "
       f"matrix, the T² score and value products and the LM head are missing, hence its exact "
       f"1:2 attention/MLP split for XL. Computed with every product, attention's share for "
       f"small, medium and large is {', '.join(f'{v:.1%}' for v in small_med_large)} (the "
       f"seed: 19.4 %, 24.2 %, 28.6 %), and what changes most with size is the LM head's share "
       f"shrinking in favour of the MLP (Table 7). Its training-time estimate uses 6·P per token: "
       f"{seed_total:.2e} FLOPs, which at its own 9.75 TFLOP/s take {seed_days:,.0f} days — the "
       f"seed's '4.6 days' is off by a factor of {seed_days / 4.6:,.0f} in the last division "
       f"({seed_total / (0.5 * a100):.1e} s, not about 4·10⁵ s). Its maximum batch size "
       + ("agrees with" if max_b == 3 else f"differs from (3 against {max_b})")
       + f" the computed one; its 12 FLOPs per parameter for AdamW is a coarser count of the "
       f"same update (Table 5 counts {counted_adamw / check_model.num_parameters():.0f} "
       f"elementwise FLOPs per parameter in our step).")

# %%
finish(store)
