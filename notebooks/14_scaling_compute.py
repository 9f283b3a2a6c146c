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
r_train = 0.0        # training fraction (0: the profile value)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Float, Int

P = start("14_scaling_compute", globals(), n_steps=Int(min=0), r_train=Float(min=0.0, max=0.99),
          workers=Int(min=0, max=16))

# %%
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from utils import plots, studies
from utils.train.arithmetic import get_extrema_performance_steps_per_trials, make_config

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "14_scaling_compute", models=("lstm", "gpt"), laptop_period=25,
                            smoke_period=5)

# %% [markdown]
# ## 1 · The runs
#
# A step with batch $B$ costs about $B$ times a one-equation step, so the five batch sizes
# together cost about $\sum_B B / 512 \approx 2$ default steps per step; the evaluations
# (every step up to 100, then at every budget $\alpha T$ and regularly in between) are the same
# for all $B$ and need a separate pass over the training set whenever $B$ is smaller than it.
# `full` trains the seed's $T = 2\cdot10^4 + 1$; `laptop` a short $T$ (printed below) at
# $r_{\mathrm{train}} = 0.9$, where the delay before generalisation is short enough for part of
# it to show within the budget (notebooks 11 and 13; at the default 0.5 a short run shows only
# memorisation; the parameter `r_train` changes it).
# With fewer equations than $B$ the batch is the whole training set, as in the starter code.

# %%
SEED_B = [2 ** k for k in range(5, 10)]
ALPHAS = [round(0.1 * k, 1) for k in range(1, 11)]
BATCHES = P.pick(smoke=[256, 512], laptop=SEED_B, full=SEED_B)
T = n_steps or P.pick(smoke=4, laptop=250, full=2 * 10 ** 4 + 1)
R = P.r_train or P.pick(smoke=0.9, laptop=0.9, full=0.5)
budgets = sorted({int(a * T) for a in ALPHAS})
configs = study.configs(studies.grid(train_batch_size=BATCHES), n_steps=T, r_train=R,
                    eval_steps=budgets)
default = make_config()
print(f"{P.profile}: B in {BATCHES}, r_train = {R} (seed: {default['r_train']}), T = {T} steps "
      f"({T / (2 * 10 ** 4 + 1):.1%} of the seed's 20001), budgets αT = {budgets}, seeds {study.seeds}, "
      f"{len(configs)} runs; {study.schedule}, and at each αT")

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
# With $\alpha$: within one run, $\mathcal L_{\mathrm{val}}$ over a longer prefix can only fall and
# $\mathcal A_{\mathrm{val}}$ only rise, so the question is *how much* a larger budget buys. With $B$:
# at each $\alpha$ the rank correlation (Spearman ρ over the seed-mean values) between $B$ and
# the metric, and the best $B$.

# %%
mean = df.groupby(["model", "alpha", "train_batch_size"])[["L_val", "A_val"]].mean()
rows = []
for model in study.models:
    for a in ALPHAS:
        s = mean.loc[(model, a)]
        bs = s.index.to_numpy()
        rho_L = spearmanr(bs, s["L_val"]).statistic if s["L_val"].nunique() > 1 else np.nan
        rho_A = spearmanr(bs, s["A_val"]).statistic if s["A_val"].nunique() > 1 else np.nan
        rows.append({"model": model, "alpha": a, "rho_L": rho_L, "rho_A": rho_A,
                     "best_B_L": int(s["L_val"].idxmin()), "best_B_A": int(s["A_val"].idxmax()),
                     "L_val_best": s["L_val"].min(), "A_val_best": s["A_val"].max()})
trend = pd.DataFrame(rows)
trend.style.hide(axis="index").format({"rho_L": "{:+.2f}", "rho_A": "{:+.2f}", "L_val_best": "{:.4f}",
                                       "A_val_best": "{:.3f}"}).set_caption(
    "Table 2: per model and budget α, Spearman ρ between B and L_val (positive: the loss grows "
    "with B) and between B and A_val (positive: accuracy grows with B), the best B and its value "
    "(means over seeds).")

# %%
def describe(model: str) -> str:
    t = trend[trend.model == model]
    lo, hi = t[t.alpha == ALPHAS[0]].iloc[0], t[t.alpha == 1.0].iloc[0]
    m = mean.loc[model]
    gain_L = m.xs(ALPHAS[0], level="alpha")["L_val"] / m.xs(1.0, level="alpha")["L_val"]
    gain_A = m.xs(1.0, level="alpha")["A_val"] - m.xs(ALPHAS[0], level="alpha")["A_val"]

    def sign(rho, word_up, word_down):
        if np.isnan(rho):
            return "does not change"
        return word_up if rho > 0.3 else word_down if rho < -0.3 else "shows no clear trend"

    return (f"**{studies.MODEL_LABELS[model]}** — *with B*: at α = 1 the validation loss "
            f"{sign(hi.rho_L, 'grows with B', 'falls with B')} (ρ = {hi.rho_L:+.2f}, best B = "
            f"{hi.best_B_L}) and the validation accuracy {sign(hi.rho_A, 'grows with B', 'falls with B')} "
            f"(ρ = {hi.rho_A:+.2f}, best B = {hi.best_B_A}, A_val = {hi.A_val_best:.3f}); at "
            f"α = {ALPHAS[0]} the loss {sign(lo.rho_L, 'grows with B', 'falls with B')} (ρ = "
            f"{lo.rho_L:+.2f}) and the accuracy {sign(lo.rho_A, 'grows with B', 'falls with B')} "
            f"(ρ = {lo.rho_A:+.2f}). *With α*: from α = {ALPHAS[0]} to 1 the validation loss "
            f"falls by a factor {gain_L.min():.2f}-{gain_L.max():.2f} and the validation "
            f"accuracy rises by {gain_A.min():.3f}-{gain_A.max():.3f} across the batch sizes.")


answer("**(c)** " + " ".join(describe(m) for m in study.models)
       + f" Note that a step costs about B, so equal steps are not equal compute: B = "
         f"{BATCHES[0]} spends {BATCHES[0] / BATCHES[-1]:.1%} of the compute of B = "
         f"{BATCHES[-1]} per step.")

# %%
answer(f"*At this budget:* r_train = {R}, T = {T} steps ({T / (2 * 10 ** 4 + 1):.1%} of the "
       f"seed's 20001), seeds {study.seeds}. "
       + ("The full profile trains the seed's settings; the trends above may change when the "
          "late, weight-decay-driven generalisation of long runs is included."
          if T < 2 * 10 ** 4 + 1 else ""))

# %%
finish(study.store)
