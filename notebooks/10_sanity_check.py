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
# # 10 · Modular arithmetic: the sanity check
#
# **What this notebook answers** (seed 001, problem 4, "sanity check"): train the LSTM of
# notebook 03 and the GPT of notebook 04 with the default hyperparameters on $a+b \bmod 31$,
# then (a) plot training and validation loss $\mathcal L^{(t)}$ and accuracy
# $\mathcal A^{(t)}$ for both models, and (b) report, side by side, the best values
# $\mathcal L_\text{train/val}=\min_t\mathcal L^{(t)}$, $\mathcal A_\text{train/val}=\max_t
# \mathcal A^{(t)}$, the first steps $t_f(\cdot)$ reaching them, and the delays
# $\Delta t(\mathcal L)=t_f(\mathcal L_\text{val})-t_f(\mathcal L_\text{train})$ and
# $\Delta t(\mathcal A)=t_f(\mathcal A_\text{val})-t_f(\mathcal A_\text{train})$, as mean ± std
# over seeds. The same trainer (`utils/train/arithmetic.py`) serves notebooks 11-16.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
n_steps = 0          # training steps T; 0: profile default (40 / 300 / 10001)
lr = 0.0             # AdamW learning rate; 0: profile default (1e-3)
weight_decay = -1.0  # AdamW weight decay; -1: profile default (1.0)
workers = 0          # parallel 1-thread processes for independent runs; 0: profile default

# %%
from utils.notebook import answer, finish, start
from utils.params import Float, Int

P = start("10_sanity_check", globals(), n_steps=Int(min=0), lr=Float(min=0.0),
          weight_decay=Float(min=-1.0), workers=Int(min=0, max=16))

# %%
import inspect
import time

import numpy as np
import pandas as pd
import torch

from utils import plots, stats
from utils.runs import RunStore
from utils.train import arithmetic as arith
from utils.train.losses import get_loss_and_accuracy

store = RunStore("10_sanity_check")

# %% [markdown]
# ## The task, the loss and the trainer
#
# Every equation $a+b=r$ over $\mathbb Z/31\mathbb Z$ (961 of them) is a token sequence
# `BOS a + b = r EOS`; a seeded shuffle puts half of them in the training set. The models read
# the sequence and predict each next token, but only the **right-hand side** — the result $r$
# and `EOS`, after the `=` — is scored: per equation the mean negative log-likelihood of its
# right-hand-side tokens, then the mean over equations; an equation is correct only if all its
# right-hand-side tokens are (problem 3):

# %%
print(inspect.getsource(get_loss_and_accuracy))

# %% [markdown]
# The trainer keeps the starter code's defaults: AdamW (lr $10^{-3}$, weight decay 1),
# batch 512 (here the whole training set of 480 equations), gradient clipping at norm 1,
# 2 layers of width 128 (4 heads for the GPT), $10^4+1$ steps, and an evaluation at step 0, at
# every step up to 100, then every 100 steps and at the last one. The training-set evaluation is
# free: with the whole training set in one batch and no dropout, the forward pass of step $t+1$
# runs the parameters $\theta_t$ on exactly the rows an evaluation would, so its loss and
# accuracy *are* the evaluation at $t$ (`tests/test_arithmetic.py` checks this against a
# separate pass). And since only the right-hand side is scored, the GPT computes its last block
# and its classifier only from the first right-hand-side position on: with causal attention the
# scored logits and all gradients are unchanged (tested), for about a quarter fewer FLOPs. Each
# run goes through the run store: a finished run is reused, an interrupted one resumes from its
# last checkpoint.

# %%
default = arith.ArithmeticConfig()
profile_steps = P.pick(smoke=40, laptop=300, full=default.n_steps)
profile_lr = P.pick(smoke=default.lr, laptop=default.lr, full=default.lr)
profile_wd = P.pick(smoke=default.weight_decay, laptop=default.weight_decay,
                    full=default.weight_decay)
T = P.n_steps or profile_steps
LR = P.lr or profile_lr
WD = profile_wd if P.weight_decay < 0 else P.weight_decay
WORKERS = P.workers or P.pick(smoke=1, laptop=2, full=2)
# the assignment fixes seeds 0 and 42; the other slots come from `seeds`
RUN_SEEDS = list(dict.fromkeys([0, 42] + list(P.seeds)))[:max(len(P.seeds), 2)]
SHAPE = P.pick(smoke=dict(embedding_size=32, hidden_size=32, num_heads=2), laptop={}, full={})
MODELS = ["lstm", "gpt"]


def config(model: str, seed: int) -> dict:
    return arith.make_config(model=model, seed=seed, n_steps=T, lr=LR, weight_decay=WD, **SHAPE)


configs = [config(m, s) for m in MODELS for s in RUN_SEEDS]
changes = [f"{k}: {getattr(default, k)} → {v}" for k, v in configs[0].items()
           if k not in ("model", "seed") and getattr(default, k) != v]
print(f"{len(configs)} runs: models {MODELS} × seeds {RUN_SEEDS}; changes from the "
      f"assignment's settings: {changes or 'none'}")

# %% [markdown]
# **Cost before training.** A few timed steps of each model on this machine give the price of
# the runs still missing from the run store (independent runs go to `WORKERS` one-thread
# processes).

# %%
def seconds_per_step(model: str, steps: int = 3) -> float:
    c = config(model, RUN_SEEDS[0])
    tr, _, tok, S, pad = arith.build_data(c)
    net = arith.build_model(c, len(tok), S, pad)
    opt = arith.build_optimizer(c, net.parameters())
    with_threads = torch.get_num_threads()
    torch.set_num_threads(1)                      # as in a worker process
    start = arith.rhs_start(tr[2])                # the trainer scores the right-hand side only
    try:
        for i in range(steps + 1):
            if i == 1:
                t0 = time.perf_counter()
            opt.zero_grad()
            loss, _ = arith.rhs_loss(net, *tr, start)
            loss.mean().backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), c["max_grad_norm"])
            opt.step()
    finally:
        torch.set_num_threads(with_threads)
    return (time.perf_counter() - t0) / steps


missing = [c for c in configs if not store.is_done(c)]
per_step = {m: seconds_per_step(m) for m in MODELS if any(c["model"] == m for c in missing)}
serial = sum(per_step[c["model"]] * c["n_steps"] for c in missing)
estimate = serial / max(1, min(WORKERS, len(missing)))
load = open("/proc/loadavg").read().split()[0]
print(f"{len(configs) - len(missing)} runs stored, {len(missing)} to train; measured "
      + ", ".join(f"{m}: {1e3 * s:.0f} ms/step" for m, s in per_step.items())
      + f" (1 thread, load average {load}); estimated {estimate / 60:.1f} min with {WORKERS} "
      "process(es), plus evaluations")

# %%
t_train = time.perf_counter()
results = arith.run_many(store, configs, workers=WORKERS, threads=P.pick(smoke=1, laptop=None,
                         full=None), checkpoint_every=500, progress=WORKERS == 1)
t_train = time.perf_counter() - t_train
runs = {(r["config"]["model"], r["config"]["seed"]): r for r in results}
print(f"training took {t_train / 60:.1f} min here (0 when every run was stored)")

# %% [markdown]
# ## (a) Loss and accuracy during training
#
# Mean over seeds (line) ± one standard deviation (band); the horizontal axis is logarithmic
# (step $t+1$) so that the first hundred steps, evaluated one by one, stay visible.

# %%
def band(ax, steps, values, color, label, style="-"):
    v = np.asarray(values, dtype=float)                     # (seeds, evaluations)
    mean, std = v.mean(0), v.std(0, ddof=1) if len(v) > 1 else np.zeros(v.shape[1])
    x = np.asarray(steps) + 1
    ax.plot(x, mean, style, color=color, label=label, lw=1.6)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, lw=0)


def curves(model: str, name: str) -> None:
    hs = [runs[(model, s)] for s in RUN_SEEDS]
    steps = hs[0]["all_steps"]
    assert all(h["all_steps"] == steps for h in hs)
    fig, (ax_l, ax_a) = plots.subplots(1, 2, width=10, height=3.6)
    for split, color, label in (("train", "C0", "train"), ("test", "C3", "validation")):
        band(ax_l, steps, [h[split]["loss"] for h in hs], color, label)
        band(ax_a, steps, [h[split]["accuracy"] for h in hs], color, label)
    ax_l.set_yscale("log")
    ax_l.set_ylabel("loss $\\mathcal{L}^{(t)}$ (right-hand side, log scale)")
    ax_a.set_ylabel("accuracy $\\mathcal{A}^{(t)}$")
    ax_a.axhline(0.99, color="0.5", ls=":", lw=1, label="0.99")
    for ax in (ax_l, ax_a):
        ax.set_xscale("log")
        ax.set_xlabel("training step $t + 1$ (log scale)")
        ax.legend()
    plots.show(fig, f"curves_{model}",
               f"{name}: loss (left) and accuracy (right) on the training (blue) and validation "
               f"(red) equations, mean ± std over seeds {RUN_SEEDS}; T = {T} steps, lr {LR:g}, "
               f"weight decay {WD:g}. The dotted line marks 99 % accuracy.")


curves("lstm", "LSTM")
curves("gpt", "GPT")

# %% [markdown]
# ## (b) Best values, first steps and delays

# %%
rows = []
for (model, seed), h in runs.items():
    rows.append({"model": model.upper(), "seed": seed, **arith.summary_row(h)})
df = pd.DataFrame(rows)
metrics = list(arith.SUMMARY_COLUMNS)
labels = {k: v[0] for k, v in arith.SUMMARY_COLUMNS.items()}
best = {k: v[1] for k, v in arith.SUMMARY_COLUMNS.items() if v[1]}
digits = {k: 4 if k in ("L_train", "L_val", "A_train", "A_val") else 0 for k in metrics}
stats.table(df, "model", metrics, best=best, digits=digits, labels=labels, caption=(
    f"Table 1: LSTM and GPT on a + b mod 31 (r_train = 0.5), mean ± std over seeds {RUN_SEEDS} "
    f"(T = {T} steps). L = lowest loss and A = highest accuracy over the evaluations "
    f"(train / validation), t_f = first evaluation step reaching it, Δt = t_f(validation) − "
    f"t_f(train), the delay between memorising and generalising when a run does generalise "
    f"(otherwise t_f(A_val) is just where the best partial accuracy was). Bold: the better "
    f"model per column (lower loss, higher accuracy, earlier t_f)."))

# %%
def per_model(model: str) -> dict:
    hs = [runs[(model, s)] for s in RUN_SEEDS]
    reach = [arith.first_step_reaching(h, "test", "accuracy", 0.99) for h in hs]
    mem = [arith.first_step_reaching(h, "train", "accuracy", 0.99) for h in hs]
    sub = df[df.model == model.upper()]
    return {"reach": reach, "mem": mem, "A_val": sub.A_val.mean(), "A_val_min": sub.A_val.min(),
            "A_train": sub.A_train.mean(), "final_val": np.mean([h["test"]["accuracy"][-1]
                                                                 for h in hs])}


summary = {m: per_model(m) for m in MODELS}


def describe(model: str) -> str:
    s = summary[model]
    got = [r for r in s["reach"] if r is not None]
    mem = [r for r in s["mem"] if r is not None]
    text = (f"The **{model.upper()}** fits the training equations (training accuracy ≥ 0.99) in "
            f"{len(mem)} of {len(RUN_SEEDS)} runs"
            + (f", first at step {int(np.mean(mem))} on average" if mem else "")
            + f"; its best validation accuracy is {s['A_val']:.3f} on average "
            f"(worst seed {s['A_val_min']:.3f}), ")
    if len(got) == len(RUN_SEEDS):
        text += (f"and **every run generalises** (validation accuracy ≥ 0.99), first at step "
                 f"{np.mean(got):.0f} on average (range {min(got)}-{max(got)})")
    elif got:
        text += (f"and {len(got)} of {len(RUN_SEEDS)} runs generalise (validation accuracy ≥ "
                 f"0.99, at steps {got})")
    else:
        text += f"so **no run generalises** (≥ 0.99) within {T} steps"
        hs = [runs[(model, seed)] for seed in RUN_SEEDS]
        half = [np.interp(T / 2, h["all_steps"], h["test"]["accuracy"]) for h in hs]
        text += (f" (mean validation accuracy {np.mean(half):.3f} at step {T // 2}, "
                 f"{s['final_val']:.3f} at step {T})")
    return text


answer("**Sanity check.** " + " ".join(describe(m) + "." for m in MODELS))

# %% [markdown]
# ## What the budget allowed

# %%
full_T = default.n_steps
# reported, not measured: the student's sanity-check table in seed 001 (mean ± std, seeds 0, 42)
SEED_TF_A_VAL = {"LSTM": (7850, 350), "GPT": (8400, 200)}
everyone = all(len([r for r in summary[m]["reach"] if r is not None]) == len(RUN_SEEDS)
               for m in MODELS)
if T >= full_T and not changes:
    budget = (f"This run used the assignment's exact settings (T = {T}), seeds {RUN_SEEDS}.")
else:
    budget = (f"This profile ({P.profile}) changes the assignment's settings: "
              f"{'; '.join(changes)}. The full profile (T = {full_T}, everything else as here "
              f"by default) costs about {full_T / T:.1f}× this run's training.")
if not everyone:
    late = [m for m in MODELS
            if len([r for r in summary[m]["reach"] if r is not None]) < len(RUN_SEEDS)]
    budget += (f" Within T = {T} steps, {' and '.join(m.upper() for m in late)} did not reach "
               f"99 % validation accuracy in every run. ")
    for m in late:
        mem = [r for r in summary[m]["mem"] if r is not None]
        budget += (f"The {m.upper()} fitted the training equations in {len(mem)} of "
                   f"{len(RUN_SEEDS)} runs" + (f" (by step {max(mem)})" if mem else "")
                   + f" and ends at validation accuracy {summary[m]['final_val']:.3f} (mean over "
                   f"seeds). ")
        marks = [T - 2 * (T // 10), T - T // 10, T]          # the last fifth of the run
        for seed, reached in zip(RUN_SEEDS, summary[m]["reach"]):
            if reached is None and T >= full_T:        # at the assignment's own budget
                h = runs[(m, seed)]
                acc = [float(np.interp(t, h["all_steps"], h["test"]["accuracy"])) for t in marks]
                trend = ("still rising at the end" if acc[2] > acc[1] > acc[0]
                         else "not rising at the end")
                budget += (f"Seed {seed}: validation accuracy "
                           + ", ".join(f"{a:.3f} at step {t}" for a, t in zip(acc, marks))
                           + f" — {trend}. ")
    why = {"smoke": "Why not: the smoke profile only proves the code path (a smaller model, a "
                    "few steps). ",
           "laptop": f"Why not at this budget: the laptop profile trains only T = {T} of the "
                     f"assignment's {full_T} steps per run, so that all {len(configs)} runs fit "
                     f"in minutes on a 2-core CPU. "}
    budget += why.get(P.profile, "")
    if T < full_T:
        budget += ("Under weight decay the validation accuracy of these models rises only long "
                   "after the training set is fitted (grokking): the student's table in the seed "
                   "reports t_f(A_val) = "
                   + " and ".join(f"{m} {v[0]:,} ± {v[1]:,}" for m, v in SEED_TF_A_VAL.items())
                   + f" steps, far beyond T = {T}; the `full` profile trains all {full_T} steps.")
answer(budget)

# %%
finish(store)
