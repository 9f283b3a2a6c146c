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
n_steps = 0          # training steps T; 0: profile default (40 / 1500 / 10001)
lr = 0.0             # AdamW learning rate; 0: profile default (laptop 3e-3, full 1e-3)
r_train = 0.0        # training fraction; 0: profile default (laptop 0.7, full 0.5)
weight_decay = -1.0  # AdamW weight decay; -1: profile default (1.0)
workers = 0          # parallel 1-thread processes for independent runs; 0: profile default

# %%
from utils.notebook import answer, finish, show_source, start
from utils.params import Float, Int

P = start("10_sanity_check", globals(), n_steps=Int(min=0), lr=Float(min=0.0),
          r_train=Float(min=0.0, max=0.99), weight_decay=Float(min=-1.0),
          workers=Int(min=0, max=16))

# %%
import time

import numpy as np
import pandas as pd
import torch

from utils import plots, stats, studies
from utils.references import cite, show_references
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
show_source(get_loss_and_accuracy)

# %% [markdown]
# The trainer keeps the starter code's defaults: AdamW (lr $10^{-3}$, weight decay 1),
# batch 512 (at $r_\text{train} = 0.5$ the whole training set of 480 equations), gradient
# clipping at norm 1, 2 layers of width 128 (4 heads for the GPT), $10^4+1$ steps, and an
# evaluation at step 0, at every step up to 100, then every 100 steps and at the last one. The
# training-set evaluation is free: with the whole training set in one batch and no dropout, the
# forward pass of step $t+1$ runs the parameters $\theta_t$ on exactly the rows an evaluation
# would, so its loss and accuracy *are* the evaluation at $t$ (`tests/test_arithmetic.py`
# checks this against a separate pass). And since only the right-hand side is scored, the GPT
# computes its last block and its classifier only from the first right-hand-side position on:
# with causal attention the scored logits and all gradients are unchanged (tested), for about a
# quarter fewer FLOPs. Each run goes through the run store: a finished run is reused, an
# interrupted one resumes from its last checkpoint.
#
# ## A setting that groks on a laptop, found by measurement
#
# At the seed's setting both models fit the training equations within a few hundred steps, but
# their validation accuracy rises only thousands of steps later (grokking
# [Power et al., 2022]): the student's table in the seed reports $t_f(\mathcal A_\text{val})$
# near step 8,000 of its $10^4$ (more than five times the laptop budget of a run). A laptop profile that
# trains a few hundred steps of that setting shows memorisation only, so every later question
# (how the data fraction, the model size, the batch or the weight decay move the delay) would
# be answered on curves that never generalise. The levers that shorten the delay are known
# [Power et al., 2022; Nanda et al., 2023]: the training fraction $r_\text{train}$ (the
# optimisation needed to generalise grows steeply as the training set shrinks), then the
# learning rate. We measure, for both models, the first step with validation accuracy
# $\ge 0.99$ over a small grid of each lever (one seed, each run stopped at that step or at a
# cap), and its cost on this machine; the setting used for the rest of the notebook (and for
# notebooks 11-16 at `laptop`) is where both models memorise first and then generalise well
# within the budget. `full` keeps the seed's settings exactly.

# %%
default = arith.ArithmeticConfig()
setting = P.pick(smoke=studies.LAPTOP_SETTING, laptop=studies.LAPTOP_SETTING,
                 full=dict(r_train=default.r_train, lr=default.lr))
T = P.n_steps or P.pick(smoke=40, laptop=1500, full=default.n_steps)
LR = P.lr or setting["lr"]
R_TRAIN = P.r_train or setting["r_train"]
WD = default.weight_decay if P.weight_decay < 0 else P.weight_decay
WORKERS = P.workers or P.pick(smoke=1, laptop=2, full=2)
# the assignment fixes seeds 0 and 42; the other slots come from `seeds`
RUN_SEEDS = list(dict.fromkeys([0, 42] + list(P.seeds)))[:max(len(P.seeds), 2)]
SHAPE = P.pick(smoke=dict(embedding_size=32, hidden_size=32, num_heads=2), laptop={}, full={})
MODELS = ["lstm", "gpt"]
# every step up to 100, then every 100 (the seed's) or every 25 (laptop: a finer t_f)
EVAL = dict(eval_first=P.pick(smoke=3, laptop=100, full=100),
            eval_period=P.pick(smoke=5, laptop=25, full=100))


def config(model: str, seed: int, **over) -> dict:
    return arith.make_config(**{**dict(model=model, seed=seed, n_steps=T, lr=LR,
                                       r_train=R_TRAIN, weight_decay=WD, **EVAL, **SHAPE),
                                **over})


configs = [config(m, s) for m in MODELS for s in RUN_SEEDS]
changes = [f"{k}: {getattr(default, k)} → {v}" for k, v in configs[0].items()
           if k not in ("model", "seed") and getattr(default, k) != v]
print(f"{len(configs)} runs: models {MODELS} × seeds {RUN_SEEDS}; changes from the "
      f"assignment's settings: {changes or 'none'}")

# the calibration grid: each lever moved alone around the chosen point, one seed, each run
# stopped at the first evaluation with A_val >= 0.99 (or at the cap CAL_CAP)
CAL_R = P.pick(smoke=[0.5, 0.9], laptop=[0.5, 0.7, 0.9], full=[0.3, 0.5, 0.7, 0.9])
CAL_LR = P.pick(smoke=[1e-3, 3e-3], laptop=[1e-3, 3e-3, 1e-2], full=[1e-3, 3e-3, 1e-2])
CAL_CAP = P.pick(smoke=20, laptop=1500, full=default.n_steps)
cal_points = ([("r_train", dict(r_train=r, lr=LR)) for r in CAL_R]
              + [("lr", dict(r_train=R_TRAIN, lr=lr)) for lr in CAL_LR])
cal_configs = [config(m, RUN_SEEDS[0], n_steps=CAL_CAP, stop_at_val_accuracy=0.99,
                      **point) for _, point in cal_points for m in MODELS]
cal_configs = list({store.key(c): c for c in cal_configs}.values())     # (r, lr) twice: once
print(f"calibration: {len(cal_configs)} runs (seed {RUN_SEEDS[0]}): r_train in {CAL_R} at lr "
      f"{LR:g}, lr in {CAL_LR} at r_train {R_TRAIN}; cap {CAL_CAP} steps, stop at A_val >= 0.99")

# %% [markdown]
# **Cost before training.** A few timed steps of each shape on this machine give the price of
# the runs still missing from the run store (an upper bound: the calibration runs stop early;
# independent runs go to `WORKERS` one-thread processes).

# %%
studies.estimate_cost(cal_configs + configs, workers=WORKERS, store=store);

# %%
t_train = time.perf_counter()
everything = arith.run_many(store, cal_configs + configs, workers=WORKERS,
                            threads=P.pick(smoke=1, laptop=None, full=None),
                            checkpoint_every=500, progress=WORKERS == 1)
t_train = time.perf_counter() - t_train
cal_results, results = everything[:len(cal_configs)], everything[len(cal_configs):]
runs = {(r["config"]["model"], r["config"]["seed"]): r for r in results}
print(f"training took {t_train / 60:.1f} min here (0 when every run was stored)")

# %% [markdown]
# ### The calibration: first step with $\mathcal A_\text{val} \ge 0.99$ against each lever
#
# Filled markers: the run reached 0.99 at that step; an open triangle at the cap: it did not
# within the cap. Below each panel, the cost of the run on this machine: the steps it trained
# times the CPU seconds of one step (and of its evaluations) timed here on one thread, as a
# worker process runs it (a prediction for an idle core, not the run's wall time, which
# depends on what else the machine was doing).

# %%
timings = {}
with_threads = torch.get_num_threads()
torch.set_num_threads(1)                       # as in a worker process
try:
    for r in cal_results:
        c = r["config"]
        if (c["model"], c["r_train"]) not in timings:
            timings[(c["model"], c["r_train"])] = studies.time_step(c)
finally:
    torch.set_num_threads(with_threads)
print("CPU ms per step (one thread, full batch; " + studies.cpu_load() + "): "
      + ", ".join(f"{m.upper()} r_train {r:g}: {1e3 * t['step_cpu_s']:.0f}"
                  for (m, r), t in sorted(timings.items())))


def cal_row(r) -> dict:
    c = r["config"]
    reach = arith.first_step_reaching(r, "test", "accuracy", 0.99)
    mem = arith.first_step_reaching(r, "train", "accuracy", 0.99)
    cost = studies.run_cost({**c, "n_steps": r["n_steps"]}, timings[(c["model"], c["r_train"])],
                            key="step_cpu_s")
    return {"model": c["model"], "r_train": c["r_train"], "lr": c["lr"],
            "t_mem": np.nan if mem is None else mem,
            "t_gen": np.nan if reach is None else reach, "steps": r["n_steps"],
            "cpu_s": cost, "A_val_end": r["test"]["accuracy"][-1]}


cal = pd.DataFrame([cal_row(r) for r in cal_results])
fig, axes = plots.subplots(2, 2, width=10, height=5.6, sharex="col",
                           gridspec_kw=dict(height_ratios=[2.2, 1]))
for j, (lever, fixed, label) in enumerate((("r_train", ("lr", LR), r"$r_\mathrm{train}$"),
                                           ("lr", ("r_train", R_TRAIN), "learning rate"))):
    sub = cal[cal[fixed[0]] == fixed[1]]
    for model in MODELS:
        st = studies.MODEL_STYLES[model]
        m = sub[sub.model == model].sort_values(lever)
        ok = m[m.t_gen.notna()]
        axes[0, j].plot(ok[lever], ok.t_gen, marker=st["marker"], ls=st["ls"], color=st["color"],
                        label=f"{studies.MODEL_LABELS[model]}: A_val ≥ 0.99")
        axes[0, j].plot(m[lever], m.t_mem, marker=".", ls=":", color=st["color"], alpha=0.6,
                        label=f"{studies.MODEL_LABELS[model]}: A_train ≥ 0.99")
        miss = m[m.t_gen.isna()]
        axes[0, j].plot(miss[lever], [CAL_CAP] * len(miss), "^", mfc="none",
                        ms=11 if model == "lstm" else 7, color=st["color"])
        axes[1, j].plot(m[lever], m.cpu_s, marker=st["marker"], ls=st["ls"], color=st["color"])
    axes[0, j].axhline(CAL_CAP, color="0.6", lw=0.8, ls="--")
    axes[0, j].set(ylabel="first step reaching 0.99", xlabel=label,
                   title=f"{label} (at {fixed[0].replace('_', ' ')} = {fixed[1]:g})")
    axes[1, j].set(xlabel=label, ylabel="CPU s per run\n(predicted, 1 thread)")
    if lever == "lr":
        axes[1, j].set_xscale("log")
    axes[0, j].legend(fontsize=7)
plots.show(fig, "calibration",
           f"The first step at which validation accuracy (solid) and training accuracy "
           f"(dotted) reach 0.99, against the training fraction (left, lr {LR:g}) and the "
           f"learning rate (right, r_train {R_TRAIN}), seed {RUN_SEEDS[0]}, weight decay {WD:g}; "
           f"open triangles: not reached within the cap of {CAL_CAP} steps (dashed; the larger one "
           f"is the LSTM). Bottom: the cost of each run on this machine, steps trained × CPU "
           f"seconds per step timed here on one thread (the run stops at 0.99).")
stats.plain_table(cal.sort_values(["model", "lr", "r_train"]),
                  "Table 1: the calibration runs: first steps with training / validation accuracy "
                  "≥ 0.99 (nan: not within the cap), steps trained, predicted CPU seconds (one "
                  "thread), final validation accuracy.")

# %%
chosen = cal[(cal.r_train == R_TRAIN) & (cal.lr == LR)]
both = chosen.t_gen.notna().all() and len(chosen) == len(MODELS)
seed_point = cal[(cal.r_train == default.r_train) & (cal.lr == default.lr)]
text = (f"**The setting.** This run trains at r_train = {R_TRAIN}, lr {LR:g}, weight decay "
        f"{WD:g} for T = {T} steps. In the calibration (seed {RUN_SEEDS[0]}) at this point "
        + "; ".join(f"the {r.model.upper()} fits the training set at step {r.t_mem:.0f} and "
                    + (f"reaches 0.99 validation accuracy at step {r.t_gen:.0f}"
                       if not np.isnan(r.t_gen) else f"does not reach 0.99 within {r.steps} steps")
                    for r in chosen.itertuples()) + ". ")
if both and chosen.t_gen.max() <= T:
    text += "Both models memorise first and generalise later, within the budget T. "
elif not both:
    text += ("At this point not every model generalised within the cap: the curves below show "
             "memorisation without generalisation for that model. ")
other = cal[(cal.model.isin(MODELS)) & ~((cal.r_train == R_TRAIN) & (cal.lr == LR))]
slow = other[other.t_gen.isna()]
if len(slow):
    text += ("Not generalised within the cap of " f"{CAL_CAP} steps: "
             + ", ".join(f"{r.model.upper()} at r_train {r.r_train}, lr {r.lr:g}"
                         for r in slow.itertuples()) + ". ")
fast = other[other.t_gen.notna()]
if len(fast):
    text += ("Generalised elsewhere in the grid: " + ", ".join(
        f"{r.model.upper()} at r_train {r.r_train}, lr {r.lr:g} by step {r.t_gen:.0f}"
        for r in fast.itertuples()) + ". ")
if P.profile != "full":
    text += (f"The seed's own point (r_train {default.r_train}, lr {default.lr:g}) "
             + ("is in the grid: " + ", ".join(
                 f"{r.model.upper()} " + (f"at step {r.t_gen:.0f}" if not np.isnan(r.t_gen)
                                          else f"not within {r.steps} steps")
                 for r in seed_point.itertuples()) if len(seed_point) else "is not in this grid")
             + f". Deviations of this profile from the seed: {'; '.join(changes) or 'none'}.")
answer(text)

# %% [markdown]
# ## (a) Loss and accuracy during training
#
# Mean over seeds (line) ± one standard deviation (band; for the loss, on a log scale, the
# geometric mean and standard deviation); the horizontal axis is logarithmic (step $t+1$) so
# that the first hundred steps, evaluated one by one, stay visible.

# %%
def band(ax, steps, values, color, label, style="-", log=False):
    """Mean ± one std over seeds; on a log axis (``log``) the band is taken on log values
    (geometric mean ×/÷ the geometric std), which a loss near 0 needs to stay visible."""
    v = np.asarray(values, dtype=float)                     # (seeds, evaluations)
    if log:
        v = np.log(np.maximum(v, 1e-12))
    mean, std = v.mean(0), v.std(0, ddof=1) if len(v) > 1 else np.zeros(v.shape[1])
    lo, mid, hi = mean - std, mean, mean + std
    if log:
        lo, mid, hi = np.exp(lo), np.exp(mid), np.exp(hi)
    x = np.asarray(steps) + 1
    ax.plot(x, mid, style, color=color, label=label, lw=1.6)
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)


def curves(model: str, name: str) -> None:
    hs = [runs[(model, s)] for s in RUN_SEEDS]
    steps = hs[0]["all_steps"]
    assert all(h["all_steps"] == steps for h in hs)
    fig, (ax_l, ax_a) = plots.subplots(1, 2, width=10, height=3.6)
    for split, color, label in (("train", "C0", "train"), ("test", "C3", "validation")):
        band(ax_l, steps, [h[split]["loss"] for h in hs], color, label, log=True)
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
               f"(red) equations, mean ± std over seeds {RUN_SEEDS} (for the loss, geometric); "
               f"r_train {R_TRAIN}, T = {T} steps, lr {LR:g}, "
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
    f"Table 2: LSTM and GPT on a + b mod 31 (r_train = {R_TRAIN}, lr {LR:g}), mean ± std over "
    f"seeds {RUN_SEEDS} "
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
# **Which model is faster?** Every comparison goes through `utils.studies.model_verdict`
# (Welch's t-test over the seeds): a difference is called only when it exceeds the spread over
# seeds.

# %%
frame = df.assign(model=df.model.str.lower())
verdict_lines = [studies.model_verdict(frame, col, what=what, digits=d).text
                 for col, what, d in (("tf_A_train", "first step of best training accuracy", 0),
                                      ("tf_A_val", "first step of best validation accuracy", 0),
                                      ("dt_A", "delay Δt(A) between memorising and generalising",
                                       0),
                                      ("A_val", "best validation accuracy", 4),
                                      ("L_val", "lowest validation loss", 4))]
answer("**LSTM vs GPT** (seeds " + ", ".join(map(str, RUN_SEEDS)) + "): "
       + "; ".join(verdict_lines) + ".")

# %% [markdown]
# ## What the budget allowed

# %%
full_T = default.n_steps
# reported, not measured: the student's sanity-check table in seed 001 (mean ± std, seeds 0, 42)
SEED_TF_A_VAL = {"LSTM": (7850, 350), "GPT": (8400, 200)}
everyone = all(len([r for r in summary[m]["reach"] if r is not None]) == len(RUN_SEEDS)
               for m in MODELS)
if T >= full_T and not changes:
    budget = (f"This run used the assignment's exact settings (T = {T}), seeds {RUN_SEEDS}. "
              f"The student's table in the seed (reported, not measured here) gives t_f(A_val) = "
              + " and ".join(f"{m} {v[0]:,} ± {v[1]:,}" for m, v in SEED_TF_A_VAL.items())
              + "; this run's values are in Table 2.")
else:
    budget = (f"This profile ({P.profile}) changes the assignment's settings: "
              f"{'; '.join(changes)}. The full profile (the seed's r_train, lr and T = "
              f"{full_T}) trains {full_T / T:.1f}× the steps of each run here; at the seed's "
              f"point the student's table reports t_f(A_val) = "
              + " and ".join(f"{m} {v[0]:,} ± {v[1]:,}" for m, v in SEED_TF_A_VAL.items())
              + " steps (reported in the seed, not measured here).")
if everyone:
    budget += (f" Within T = {T} steps every run of both models generalised (validation accuracy "
               f"≥ 0.99), so t_f(A_val) and Δt above are the quantities the seed asks for.")
else:
    late = [m for m in MODELS
            if len([r for r in summary[m]["reach"] if r is not None]) < len(RUN_SEEDS)]
    budget += (f" Within T = {T} steps, {' and '.join(m.upper() for m in late)} did not reach "
               f"99 % validation accuracy in every run, so for {'it' if len(late) == 1 else 'them'} "
               f"t_f(A_val) is where the best partial accuracy was, not a generalisation time. ")
    for m in late:
        mem = [r for r in summary[m]["mem"] if r is not None]
        budget += (f"The {m.upper()} fitted the training equations in {len(mem)} of "
                   f"{len(RUN_SEEDS)} runs" + (f" (by step {max(mem)})" if mem else "")
                   + f" and ends at validation accuracy {summary[m]['final_val']:.3f} (mean over "
                   f"seeds). ")
        marks = [T - 2 * (T // 10), T - T // 10, T]          # the last fifth of the run
        for seed, reached in zip(RUN_SEEDS, summary[m]["reach"]):
            if reached is None:
                h = runs[(m, seed)]
                acc = [float(np.interp(t, h["all_steps"], h["test"]["accuracy"])) for t in marks]
                trend = ("still rising at the end" if acc[2] > acc[1] > acc[0]
                         else "not rising at the end")
                budget += (f"Seed {seed}: validation accuracy "
                           + ", ".join(f"{a:.3f} at step {t}" for a, t in zip(acc, marks))
                           + f" — {trend}. ")
    if P.profile == "smoke":
        budget += "The smoke profile only proves the code path (a smaller model, a few steps). "
answer(budget)

# %% [markdown]
# ## References

# %%
show_references()

# %%
finish(store)
