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
# # 11 · Scaling the data: how much of the table must a model see?
#
# **What this notebook answers** (seed 001, problem 4, question 3). The LSTM and the GPT of
# notebooks 03-04 learn $a + b \bmod 31$ from a fraction $r_{\mathrm{train}}$ of the $31^2 = 961$
# equations and are validated on the rest. With the default settings (notebook 10) we train both
# for $r_{\mathrm{train}} \in \{0.1, \dots, 0.9\}$ and ask:
#
# * **(a)** the curves $\mathcal L^{(t)}_{\mathrm{train/val}}$, $\mathcal A^{(t)}_{\mathrm{train/val}}$ over
#   the steps $t$, one curve per $r_{\mathrm{train}}$, told apart by a colour bar;
# * **(b)** $\mathcal L_{\mathrm{train/val}} = \min_t \mathcal L^{(t)}$,
#   $\mathcal A_{\mathrm{train/val}} = \max_t \mathcal A^{(t)}$ and the first steps $t_f$ reaching them,
#   against $r_{\mathrm{train}}$ (log-scale loss);
# * **(c)** does one model scale better with $r_{\mathrm{train}}$, in $\mathcal L_{\mathrm{val}}$ and in
#   $\mathcal A_{\mathrm{val}}$?
# * **(d)** the smallest $r_{\mathrm{train}}$ that generalises ($\mathcal A_{\mathrm{val}} \ge 0.9$) and the
#   largest that only memorises ($\mathcal A_{\mathrm{train}} \approx 1$, $\mathcal A_{\mathrm{val}} \le 0.5$).
#
# Every number is a mean ± standard deviation over the seeds; every answer is computed from the
# runs below. The sweep goes through the run store: finished runs are reused, interrupted ones
# resume from their checkpoints.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
n_steps = 0          # training steps T per run (0: the profile value)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Int

P = start("11_scaling_data", globals(), n_steps=Int(min=0), workers=Int(min=0, max=16))

# %%
import numpy as np
import pandas as pd

from utils import plots, studies
from utils.data.arithmetic import get_arithmetic_dataset
from utils.train.arithmetic import make_config

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "11_scaling_data", models=("lstm", "gpt"), laptop_period=25)

# %% [markdown]
# ## 1 · The data sizes
#
# $N_{\mathrm{train}} = \mathrm{round}(r_{\mathrm{train}} \cdot 961)$. The batch is
# $\min(512, N_{\mathrm{train}})$: up to $r_{\mathrm{train}} = 0.5$ one step sees the whole training
# set; above it an epoch has two batches (the second one smaller), and the trainer rounds $T$ up
# to whole epochs, as the starter code does.

# %%
SEED_R = [round(0.1 * k, 1) for k in range(1, 10)]
sizes = []
for r in SEED_R:
    (tr, va), *_ = get_arithmetic_dataset(31, 31, "+", r, 2, seed=P.seeds[0])
    sizes.append({"r_train": r, "N_train": len(tr), "N_val": len(va),
                  "batches per epoch": -(-len(tr) // 512)})
pd.DataFrame(sizes).set_index("r_train").T

# %% [markdown]
# ## 2 · The sweep and what it costs
#
# `full` is the seed's experiment: 9 values of $r_{\mathrm{train}}$, $T = 10^4 + 1$ steps, both
# models, evaluation at every step up to 100 then every 100 (the resolution of $t_f$): a GPU
# job (its size and, measured here, the CPU cost of one default step are printed below).
# `laptop` keeps the questions answerable within its budget of minutes by training fewer
# values of $r_{\mathrm{train}}$ for fewer steps (printed below, computed from the parameters);
# the cost is predicted from a short timing on this machine before the sweep starts.

# %%
R_VALUES = P.pick(smoke=[0.3, 0.7], laptop=[0.3, 0.5, 0.7, 0.9], full=SEED_R)
T = n_steps or P.pick(smoke=6, laptop=240, full=10 ** 4 + 1)
configs = study.configs(studies.grid(r_train=R_VALUES), n_steps=T)
default = make_config()
print(f"{P.profile}: r_train in {R_VALUES} ({len(R_VALUES)} of the seed's {len(SEED_R)} values), "
      f"T = {T} steps ({T / default['n_steps']:.1%} of the seed's {default['n_steps']}), "
      f"{len(study.seeds)} seeds {study.seeds}, models {', '.join(m.upper() for m in study.models)}: "
      f"{len(configs)} runs; {study.schedule}")
n_full = len(SEED_R) * len(study.models) * len(study.seeds)
steps_full = n_full * default["n_steps"]
steps_here = sum(c["n_steps"] for c in configs)
print(f"full: {n_full} runs × {default['n_steps']} steps = {steps_full:,} run-steps, "
      f"{steps_full / steps_here:.0f}× this profile's {steps_here:,}")

# %%
results, df = study.run(configs, columns=["r_train"])

# %% [markdown]
# ## 3 · (a) Training curves, coloured by $r_{\mathrm{train}}$
#
# One curve per $r_{\mathrm{train}}$ (mean over seeds, light band ± std), losses on a log scale,
# steps on a log scale so that the first hundred steps (memorisation) and the end both show.

# %%
study.show_curves(results, "r_train", r"$r_{\mathrm{train}}$",
              f"training and validation loss (top-left pair) and accuracy over the training "
              f"steps t, one curve per r_train (colour bar), mean over {len(study.seeds)} seeds with "
              f"a ± std band; T = {T} steps.")

# %% [markdown]
# ## 4 · (b) The best values and when they are reached, against $r_{\mathrm{train}}$

# %%
fig = studies.plot_metrics_vs(df, "r_train", xlabel=r"$r_{\mathrm{train}}$")
plots.show(fig, "metrics_vs_r_train",
           f"L (min over t, log scale), A (max over t) and the first step t_f reaching each, "
           f"for training and validation, against r_train; mean ± std over {len(study.seeds)} seeds, "
           f"LSTM solid, GPT dashed; T = {T} steps.")

# %%
study.table(df, ["model", "r_train"],
        f"Table 1: per model and r_train, L = min_t L(t), A = max_t A(t), the first step t_f "
        f"reaching each and Δt = t_f(val) − t_f(train), mean ± std over {len(study.seeds)} seeds, "
        f"T = {T}. Bold: best per column (over both models).")

# %% [markdown]
# ## 5 · Answers
#
# **(c)** "Scales better" is read from the curves of (b): how fast $\mathcal L_{\mathrm{val}}$
# falls as $r_{\mathrm{train}}$ grows (the slope of $\log_{10}\mathcal L_{\mathrm{val}}$ against
# $r_{\mathrm{train}}$, fitted over the grid) and how early and how much $\mathcal A_{\mathrm{val}}$
# rises (its mean over the grid, and the first $r_{\mathrm{train}}$ reaching 0.9).

# %%
agg = df.groupby(["model", "r_train"])[["L_train", "L_val", "A_train", "A_val"]].mean()
read = {}
for model in study.models:
    a = agg.loc[model]
    r = a.index.to_numpy(dtype=float)
    slope = np.polyfit(r, np.log10(a["L_val"].to_numpy()), 1)[0] if len(r) > 1 else float("nan")
    generalises = [x for x in r if a.loc[x, "A_val"] >= 0.9]
    memorises = [x for x in r if a.loc[x, "A_train"] >= 0.99 and a.loc[x, "A_val"] <= 0.5]
    read[model] = dict(slope=slope, mean_A_val=float(a["A_val"].mean()),
                       L_val_lo=float(a["L_val"].iloc[0]), L_val_hi=float(a["L_val"].iloc[-1]),
                       r_lo=r[0], r_hi=r[-1],
                       r_gen=min(generalises) if generalises else None,
                       r_mem=max(memorises) if memorises else None,
                       A_val_max=float(a["A_val"].max()))
L, G = read["lstm"], read["gpt"]
better_L = "LSTM" if L["slope"] < G["slope"] else "GPT"
better_A = "LSTM" if L["mean_A_val"] > G["mean_A_val"] else "GPT"


def fmt_r(x):
    return "none of the trained values" if x is None else f"r_train = {x:g}"


answer(f"**(c) In L_val.** From r_train = {L['r_lo']:g} to {L['r_hi']:g} the LSTM's validation loss "
       f"goes from {L['L_val_lo']:.3g} to {L['L_val_hi']:.3g} (fitted slope "
       f"{L['slope']:.2f} decades per unit of r_train) and the GPT's from {G['L_val_lo']:.3g} to "
       f"{G['L_val_hi']:.3g} (slope {G['slope']:.2f}): the **{better_L}** scales better in L_val. "
       f"**In A_val**, averaged over the grid, the LSTM reaches {L['mean_A_val']:.3f} and the GPT "
       f"{G['mean_A_val']:.3f}; the first r_train with A_val ≥ 0.9 is {fmt_r(L['r_gen'])} for the "
       f"LSTM and {fmt_r(G['r_gen'])} for the GPT: the **{better_A}** scales better in A_val "
       f"(T = {T} steps).")

# %% [markdown]
# **(d)** The thresholds are read from the mean over seeds at each trained $r_{\mathrm{train}}$
# ($\mathcal A_{\mathrm{train}} \approx 1$ taken as $\ge 0.99$); with a coarse grid the true
# threshold lies between the trained values.

# %%
lines = []
for model in study.models:
    m = read[model]
    gap = (f"a gap of {m['r_gen'] - m['r_mem']:.1f}" if m["r_gen"] is not None
           and m["r_mem"] is not None else "no gap can be measured")
    lines.append(f"**{studies.MODEL_LABELS[model]}**: smallest r_train with A_val ≥ 0.9: "
                 f"{fmt_r(m['r_gen'])}; largest r_train that only memorises (A_train ≥ 0.99, "
                 f"A_val ≤ 0.5): {fmt_r(m['r_mem'])}; {gap} (best A_val over the grid "
                 f"{m['A_val_max']:.3f}).")
short = T < default["n_steps"]
gaps = [read[m]["r_gen"] - read[m]["r_mem"] for m in study.models
        if read[m]["r_gen"] is not None and read[m]["r_mem"] is not None]
grid_step = float(np.min(np.diff(sorted(R_VALUES)))) if len(R_VALUES) > 1 else float("nan")
if gaps and max(gaps) <= grid_step + 1e-9:
    why = (f" The two values are neighbours on this grid (gap {max(gaps):.1f}): generalising "
           f"here means finding the rule behind the table, and below a critical fraction of the "
           f"table memorising is the cheaper solution for the optimizer, so a small change of "
           f"r_train moves a model from one regime to the other; a finer grid would locate the "
           f"transition more precisely.")
elif gaps:
    why = (f" The gap is wider than one grid step ({max(gaps):.1f} > {grid_step:.1f}): between "
           f"the two regimes lies a range where a model generalises only partly within the "
           f"budget.")
else:
    why = (" With no value on one side of the threshold the gap cannot be measured at this "
           "budget.")
answer("**(d)** " + " ".join(lines) + why + (
    f" These runs stop at T = {T} steps, {T / default['n_steps']:.1%} of the seed's "
    f"{default['n_steps']}: on this task generalisation at small r_train comes thousands of "
    f"steps after memorisation (notebook 10 and the seed's own tables), so a run that has not "
    f"generalised here may still do so later, and the threshold measured here is an upper bound "
    f"on the one a full run would find." if short else ""))

# %%
finish(study.store)
