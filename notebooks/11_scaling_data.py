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
from utils.references import show_references
from utils.data.arithmetic import get_arithmetic_dataset
from utils.train.arithmetic import make_config

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "11_scaling_data", models=("lstm", "gpt"), laptop_period=25,
                            laptop_early_every=5)

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
# `full` is the seed's experiment: 9 values of $r_{\mathrm{train}}$, lr $10^{-3}$, $T = 10^4 + 1$
# steps, both models, evaluation at every step up to 100 then every 100 (the resolution of
# $t_f$): a GPU job (its size and, measured here, the CPU cost of one default step are printed
# below). `laptop` trains at the learning rate that notebook 10's calibration found to make both
# models generalise within about a thousand steps at large $r_{\mathrm{train}}$ (3e-3), on fewer
# values of $r_{\mathrm{train}}$, for fewer steps (printed below, computed from the parameters),
# and, to fit its budget, **stops a run at the first evaluation with**
# $\mathcal A_{\mathrm{val}} \ge 0.99$: there $t_f(\mathcal A_{\mathrm{val}})$ is that step and
# $\mathcal L_{\mathrm{val}}$ is the lowest validation loss reached by the time the model
# generalised (a longer run would lower it further); runs that do not generalise train all $T$
# steps. It evaluates every 5 steps rather than every step between steps 10 and 100 (72 fewer
# evaluations per run; $t_f$ below step 100 is read to within 5 steps), and trains three values
# of the seed's grid, $r_{\mathrm{train}} \in \{0.4, 0.6, 0.8\}$, around the change from
# memorising to generalising that notebook 10's calibration finds between 0.5 and 0.7 at this
# learning rate (a fourth value costs about a quarter more: a step costs about the number of
# equations in its batch, $\min(512, N_{\mathrm{train}})$; 0.9 would leave only 96 validation
# equations). The cost is predicted from a short timing on this machine before the sweep
# starts, and the runs start longest first so that both workers finish together.

# %%
R_VALUES = P.pick(smoke=[0.3, 0.7], laptop=[0.4, 0.6, 0.8], full=SEED_R)
T = n_steps or P.pick(smoke=6, laptop=1300, full=10 ** 4 + 1)
LR = study.setting["lr"]
STOP = P.pick(smoke=0.99, laptop=0.99, full=0.0)      # stop at A_val >= 0.99 (0: never)
configs = study.configs(studies.grid(r_train=R_VALUES), n_steps=T, lr=LR,
                        stop_at_val_accuracy=STOP)
default = make_config()
print(f"{P.profile}: r_train in {R_VALUES} ({len(R_VALUES)} of the seed's {len(SEED_R)} values), "
      f"T = {T} steps ({T / default['n_steps']:.1%} of the seed's {default['n_steps']}), "
      f"{len(study.seeds)} seeds {study.seeds}, models {', '.join(m.upper() for m in study.models)}: "
      f"{len(configs)} runs; {study.schedule}")
changes = study.deviations(configs[0], ignore=("model", "seed", "r_train"))
print(f"changes from the seed's settings besides r_train: {'; '.join(changes) or 'none'}")
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
              f"a ± std band; T = {T} steps"
              + (f"; a run stops at the first evaluation with A_val ≥ {STOP}, so a curve ends "
                 f"where its first seed stopped." if STOP else "."))

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
# **(c)** "Scales better" is a statement about how a metric moves with $r_{\mathrm{train}}$:
# we fit, per model, the least-squares slope of the metric against $r_{\mathrm{train}}$ over
# every run (one point per seed and value; $\log_{10}\mathcal L_{\mathrm{val}}$ for the loss)
# and call one model better only when the difference of the two slopes exceeds its standard
# error (`utils.studies.scaling_verdict`; otherwise "no measurable difference").

# %%
df["log10_L_val"] = np.log10(df["L_val"])
v_L = studies.scaling_verdict(df, "r_train", "log10_L_val",
                              what="slope of log10 L_val per unit of r_train (more negative: "
                                   "scales better)")
v_A = studies.scaling_verdict(df, "r_train", "A_val",
                              what="slope of A_val per unit of r_train (higher: scales better)")
# t_f(A_val) is a generalisation time only where the run generalised: those runs only
gen = df[df.A_val >= 0.99]
tf_lines = []
for m in study.models:
    sub = gen[gen.model == m]
    label = studies.MODEL_LABELS[m]
    if sub.r_train.nunique() >= 2:
        tf_lines.append(studies.effect_verdict(
            sub, "r_train", "tf_A_val", what=f"the {label}'s t_f(A_val)", param_label="r_train",
            digits=0).text + f" (its {len(sub)} runs with A_val ≥ 0.99)")
    else:
        tf_lines.append(f"the {label} generalised (A_val ≥ 0.99) at "
                        + (f"r_train = {sub.r_train.iloc[0]:g} only" if len(sub) else "no r_train")
                        + ", so no trend of t_f(A_val) can be measured")
answer(f"**(c) In L_val:** {v_L.text}. **In A_val:** {v_A.text}. **When A_val is reached**, "
       f"among the runs that generalised: " + "; ".join(tf_lines)
       + f" (T = {T} steps, {len(study.seeds)} seeds).")

# %% [markdown]
# **(d)** The thresholds are read from the mean over seeds at each trained $r_{\mathrm{train}}$
# ($\mathcal A_{\mathrm{train}} \approx 1$ taken as $\ge 0.99$); with a coarse grid the true
# threshold lies between the trained values.

# %%
agg = df.groupby(["model", "r_train"])[["A_train", "A_val"]].agg(["mean", "min"])
read = {}
for model in study.models:
    a = agg.loc[model]
    r = a.index.to_numpy(dtype=float)
    generalises = [x for x in r if a.loc[x, ("A_val", "mean")] >= 0.9]
    memorises = [x for x in r if a.loc[x, ("A_train", "mean")] >= 0.99
                 and a.loc[x, ("A_val", "mean")] <= 0.5]
    read[model] = dict(r_gen=min(generalises) if generalises else None,
                       r_mem=max(memorises) if memorises else None,
                       A_val={x: (a.loc[x, ("A_val", "mean")], a.loc[x, ("A_val", "min")])
                              for x in r})


def fmt_r(x):
    return "none of the trained values" if x is None else f"r_train = {x:g}"


lines = []
for model in study.models:
    m = read[model]
    gap = (f"a gap of {m['r_gen'] - m['r_mem']:.1f}" if m["r_gen"] is not None
           and m["r_mem"] is not None else "no gap can be measured")
    lines.append(f"**{studies.MODEL_LABELS[model]}**: smallest r_train with A_val ≥ 0.9: "
                 f"{fmt_r(m['r_gen'])}; largest r_train that only memorises (A_train ≥ 0.99, "
                 f"A_val ≤ 0.5): {fmt_r(m['r_mem'])}; {gap} (best A_val per r_train, mean / "
                 f"worst seed: " + ", ".join(f"{x:g}: {mu:.3f} / {lo:.3f}"
                                             for x, (mu, lo) in m["A_val"].items()) + ").")
gaps = [read[m]["r_gen"] - read[m]["r_mem"] for m in study.models
        if read[m]["r_gen"] is not None and read[m]["r_mem"] is not None]
grid_step = float(np.min(np.diff(sorted(R_VALUES)))) if len(R_VALUES) > 1 else float("nan")
if gaps and max(gaps) <= grid_step + 1e-9:
    why = (f" The two values are neighbours on this grid (gap {max(gaps):.1f}), so the "
           f"transition from memorising to generalising lies between them: a small change of "
           f"r_train moves a model from one regime to the other within this budget. One reason "
           f"consistent with this: the optimisation needed to generalise grows steeply as the "
           f"training set shrinks [Power et al., 2022], so at a fixed budget T the regime "
           f"changes over a narrow range of r_train.")
elif gaps:
    why = (f" The gap is wider than one grid step ({max(gaps):.1f} > {grid_step:.1f}): between "
           f"the two regimes lies a range where a model generalises only partly within the "
           f"budget.")
else:
    why = (" With no trained value on one side of the threshold the gap cannot be measured at "
           "this budget.")
short = T < default["n_steps"]
answer("**(d)** " + " ".join(lines) + why + (
    f" These runs stop at T = {T} steps ({T / default['n_steps']:.1%} of the seed's "
    f"{default['n_steps']}) at lr {LR:g}: a run that has not generalised here may still do so "
    f"later, so the smallest generalising r_train measured here is an upper bound on the one a "
    f"longer run would find." if short else ""))

# %% [markdown]
# ## References

# %%
show_references()

# %%
finish(study.store)
