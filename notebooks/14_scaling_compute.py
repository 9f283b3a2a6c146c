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
# # 14 · Scaling compute: batch size $B$ and training budget $\alpha$
#
# **What this notebook answers** (seed 001, problem 4, question 6). The non-embedding training
# compute is $C \simeq P \cdot B \cdot T$. Keeping $P$ fixed (the default $(L, d) = (2, 2^7)$), both
# models are trained for $B \in \{2^5, \dots, 2^9\}$ and $T = 2 \cdot 10^4 + 1$ steps; a smaller
# budget $C' = \alpha C$ is read off the same runs by keeping only the steps $t \le T' = \alpha T$,
# $\alpha \in \{0.1, 0.2, \dots, 1.0\}$ (`get_extrema_performance_steps(..., T_max=αT)`):
#
# * **(a)** $\mathcal L^{(t)}_{\mathrm{train/val}}$ and $\mathcal A^{(t)}_{\mathrm{train/val}}$ over $t$, one
#   curve per $B$ with a log₂ colour bar;
# * **(b)** $\mathcal L$, $\mathcal A$ and $t_f$ (train and validation) against $B$ (log₂ axis), one
#   line per $\alpha$ with a colour bar;
# * **(c)** does the validation performance improve as $B$ and/or $\alpha$ grow, in
#   $\mathcal L_{\mathrm{val}}$ and in $\mathcal A_{\mathrm{val}}$?

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
n_steps = 0          # training steps T per run (0: the profile value)
r_train = 0.0        # training fraction (0: profile value, see LAPTOP_SETTING)
lr = 0.0             # AdamW learning rate (0: profile value, see LAPTOP_SETTING)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Float, Int

P = start("14_scaling_compute", globals(), n_steps=Int(min=0), r_train=Float(min=0.0, max=0.99),
          lr=Float(min=0.0), workers=Int(min=0, max=16))

# %%
import numpy as np
import pandas as pd

from utils import plots, stats, studies, study_verdicts
from utils.train.arithmetic import get_extrema_performance_steps_per_trials, make_config

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "14_scaling_compute", models=("lstm", "gpt"), laptop_period=25,
                            smoke_period=5, laptop_early_every=5)

# %% [markdown]
# ## 1 · The runs
#
# A step with batch $B$ costs about $B$ times a one-equation step, so the five batch sizes
# together cost about $\sum_B B / 512 \approx 2$ default steps per step; the evaluations
# (early ones, then at every budget $\alpha T$ and regularly in between; the schedule is printed
# below) are the same for all $B$ and need a separate pass over the training set whenever $B$ is
# smaller than it.
# `full` trains the seed's setting exactly ($r_{\mathrm{train}} = 0.5$, lr $10^{-3}$,
# $T = 2\cdot10^4 + 1$). At that setting the validation accuracy rises only thousands of steps
# after memorisation (notebook 10), so `laptop` trains a shorter $T$ at the setting notebook 10 calibrates on
# this machine (`studies.LAPTOP_SETTING`, where notebook 10 measures the default batch
# memorising and then generalising within its budget); the deviations are printed below, and the
# parameters `r_train` and `lr` change them. The laptop $T = 1{,}350$, with evaluations every 5
# steps rather than every step between steps 10 and 100, is what fits the notebook's 15-minute
# budget on a 2-core machine (the large batches dominate the cost; the runs start longest
# first); a run that has not generalised by $T$ is reported as such, never extrapolated. A
# budget α·T cannot end a run early here, so no run stops at $\mathcal A_{\mathrm{val}} \ge
# 0.99$ as in notebooks 11 and 13. With fewer equations than $B$ the batch is the whole
# training set, as in the starter code.

# %%
SEED_B = [2 ** k for k in range(5, 10)]
ALPHAS = [round(0.1 * k, 1) for k in range(1, 11)]
BATCHES = P.pick(smoke=[256, 512], laptop=SEED_B, full=SEED_B)
SEED_T = 2 * 10 ** 4 + 1
T = n_steps or P.pick(smoke=4, laptop=1350, full=SEED_T)   # laptop: within its 15-min budget
R = P.r_train or study.setting["r_train"]
LR = P.lr or study.setting["lr"]
budgets = sorted({int(a * T) for a in ALPHAS})
configs = study.configs(studies.grid(train_batch_size=BATCHES), n_steps=T, r_train=R, lr=LR,
                        eval_steps=study.eval_steps(budgets))
default = make_config()
print(f"{P.profile}: B in {BATCHES}, T = {T} steps ({T / SEED_T:.1%} of the seed's {SEED_T}), "
      f"budgets αT = {budgets}, seeds {study.seeds}, {len(configs)} runs; {study.schedule}, "
      f"and at each αT")
# deviations from the seed's setting of question 6 (T = 20001; B is what the question varies)
deviations = [d for d in study.deviations(configs[0]) if d.split(":")[0] not in ("train_batch_size", "n_steps", "eval_steps")]
if T != SEED_T:
    deviations.append(f"n_steps: {SEED_T} → {T}")
print("deviations from the seed's setting of question 6:", "; ".join(deviations) or "none")

# %%
results, _ = study.run(configs)
print("effective batch sizes (min(B, N_train)) and steps (whole epochs):",
      sorted({(r["config"]["train_batch_size"], r["data"]["batch_size"], r["n_steps"])
              for r in results}))

# %% [markdown]
# ## 2 · (a) Training curves, colour = $B$ (log₂)

# %%
study.show_curves(results, "train_batch_size", "batch size B",
              f"training and validation loss and accuracy over the steps t, one curve per batch "
              f"size B (log2 colour bar), mean over seeds {study.seeds} with a ± std band; "
              f"r_train = {R}, T = {T}.", log2=True)

# %% [markdown]
# ## 3 · (b) The best values within a budget $\alpha T$, against $B$
#
# For each run and each $\alpha$, the extrema over the evaluation steps $t \le \alpha T$
# (`T_max`); $T$ is the run's own number of steps (rounded up to whole epochs).

# %%
frames = []
for a in ALPHAS:
    for r in results:
        f = studies.summary_frame([r], ["train_batch_size"], T_max=a * r["n_steps"])
        f["alpha"] = a
        frames.append(f)
df = pd.concat(frames, ignore_index=True)
for model in study.models:
    fig = studies.plot_metrics_vs(df, "train_batch_size", hue="alpha", models=[model],
                                  x_log2=True, xlabel="batch size B (log2 scale)",
                                  hue_label="budget fraction α", cmap="viridis",
                                  title=studies.MODEL_LABELS[model])
    plots.show(fig, f"metrics_vs_B_{model}",
               f"{studies.MODEL_LABELS[model]}: L (log scale), A and t_f (train and validation) "
               f"within the budget T' = αT, against the batch size B, one line per α (colour "
               f"bar), mean ± std over seeds {study.seeds}; r_train = {R}, T = {T}.")

# %%
full_budget = df[df.alpha == 1.0]
study.table(full_budget, ["model", "train_batch_size"],
        f"Table 1: per model and batch size B, the whole budget (α = 1): L, A, t_f and Δt, mean "
        f"± std over seeds {study.seeds}; r_train = {R}, T = {T}. Bold: best per column.",
        labels={"train_batch_size": "B"})

# %% [markdown]
# The per-trials helper of the trainer gives the same means (and the sample std) straight from
# the histories; a check at one $(B, \alpha)$:

# %%
b0, a0 = BATCHES[-1], 0.5
hs = [r for r in results if r["config"]["model"] == study.models[-1]
      and r["config"]["train_batch_size"] == b0]
e = get_extrema_performance_steps_per_trials(hs, T_max=a0 * hs[0]["n_steps"])
sub = df[(df.model == study.models[-1]) & (df.train_batch_size == b0) & (df.alpha == a0)]
print(f"{study.models[-1]}, B = {b0}, α = {a0}: min_test_loss {e['min_test_loss']:.4f} ± "
      f"{e['min_test_loss_std']:.4f} (table: {sub.L_val.mean():.4f}), max_test_accuracy "
      f"{e['max_test_accuracy']:.4f} (table: {sub.A_val.mean():.4f}); evaluation points kept "
      f"{e['T_max_indexes']}")
assert np.isclose(e["min_test_loss"], sub.L_val.mean()) and np.isclose(e["max_test_accuracy"],
                                                                        sub.A_val.mean())

# %% [markdown]
# ## 4 · (c) Does validation improve with $B$ and with $\alpha$?
#
# *With $B$*: at a budget fraction $\alpha$, the least-squares slope of the metric against
# $\log_2 B$ over every run (one point per seed and batch size), with its standard error; the
# metric is said to move with $B$ only when the slope differs from 0 at $p < 0.05$
# (`utils.study_verdicts.batch_verdict`). *With $\alpha$*: within one run
# $\mathcal L_{\mathrm{val}}$ over a longer prefix can only fall and $\mathcal A_{\mathrm{val}}$ only
# rise, and the prefixes of one run are not independent, so no slope over $\alpha$ is fitted:
# per batch size the seeds at the smallest budget are compared with the whole one (Welch,
# `budget_verdict`). A loss improves when it falls, an accuracy when it rises.

# %%
rows, budget_rows, by_b, by_alpha = [], [], {}, {}
for model in study.models:
    label = studies.MODEL_LABELS[model]
    for metric in ("L_val", "A_val"):
        for a in (ALPHAS[0], 1.0):
            v = study_verdicts.batch_verdict(df, model, metric, a, what=metric)
            by_b[(label, metric, a)] = v
            rows.append({"model": label, "metric": metric, "α": a,
                         "slope per doubling of B": v.diff, "p": v.p,
                         "with larger B": study_verdicts.improves(v, metric)})
        for b in BATCHES:
            v = study_verdicts.budget_verdict(df, model, metric, b, (ALPHAS[0], 1.0))
            word = study_verdicts.improves(v, metric, larger="α = 1")
            by_alpha[(label, metric, b)] = word
            budget_rows.append({"model": label, "metric": metric, "B": b,
                                f"from α = {ALPHAS[0]:g} to 1": word, "Welch test": v.text})
effects = pd.DataFrame(rows)
effects.style.hide(axis="index").format({"slope per doubling of B": "{:+.4f}", "p": "{:.2g}"}) \
    .set_caption(f"Table 2: per model, metric and budget fraction α, the least-squares slope of "
                 f"the metric against log2 B over every run (seeds {study.seeds}), its p-value, "
                 f"and what a larger batch does to validation performance (a change is called "
                 f"only at p < 0.05).")

# %%
stats.plain_table(pd.DataFrame(budget_rows),
                  f"Table 3: per model, metric and batch size, the validation metric within the "
                  f"smallest budget (α = {ALPHAS[0]:g}) against the whole one (α = 1), Welch's "
                  f"test over seeds {study.seeds}; a change is called only at p < 0.05.")

# %%
lines = []
for model in study.models:
    label = studies.MODEL_LABELS[model]
    parts = []
    for metric in ("L_val", "A_val"):
        for a in (ALPHAS[0], 1.0):
            v = by_b[(label, metric, a)]
            parts.append(f"at α = {a:g}, {metric} {study_verdicts.improves(v, metric)} with B "
                         f"({v.text})")
        groups = {}
        for b in BATCHES:
            groups.setdefault(by_alpha[(label, metric, b)], []).append(b)
        parts.append(f"from α = {ALPHAS[0]:g} to 1, {metric} "
                     + ", ".join(f"{w} for B in {bs}" for w, bs in groups.items())
                     + " (Table 3)")
    lines.append(f"**{label}** — " + "; ".join(parts) + ".")
answer("**(c)** " + "\n\n".join(lines)
       + f"\n\nNote that a step costs about B, so equal steps are not equal compute: B = "
         f"{BATCHES[0]} spends {BATCHES[0] / BATCHES[-1]:.1%} of the compute of B = "
         f"{BATCHES[-1]} per step.")

# %%
n_gen = {m: int((full_budget[full_budget.model == m]["A_val"] >= 0.99).sum())
         for m in study.models}
text = (f"*At this budget:* T = {T} steps ({T / SEED_T:.1%} of the seed's {SEED_T}), seeds "
        f"{study.seeds}; deviations from the seed's setting: {'; '.join(deviations) or 'none'}. "
        f"Runs reaching A_val ≥ 0.99 within T: "
        + ", ".join(f"{studies.MODEL_LABELS[m]} {n_gen[m]} of "
                    f"{int((full_budget.model == m).sum())}" for m in study.models)
        + ". " + studies.cost_sentence(results))
if T < SEED_T:
    text += (" The budgets α·T here are fractions of this T, not of the seed's; the answers hold "
             "for this setting and budget.")
if P.profile == "laptop":
    text += " " + studies.seed_setting_cost(
        configs, study.workers, f"The seed's setting (r_train {default['r_train']}, lr "
        f"{default['lr']:g}, T = {SEED_T}) for these {len(configs)} runs", n_steps=SEED_T,
        eval_steps=sorted({int(a * SEED_T) for a in ALPHAS}))
answer(text)

# %%
finish(study.store)
