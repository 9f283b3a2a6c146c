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
# # 15 · Weight decay and the norm of the parameters
#
# **What this notebook answers** (seed 001, problem 4, question 7). The LSTM is trained with
# AdamW weight decay $\lambda \in \{1/4, 1/2, 3/4, 1\}$ for $T = 4 \cdot 10^4 + 1$ steps, and the
# $\ell_2$ norm of all its parameters, $\|\theta^{(t)}\|_2$, is recorded at every evaluation:
#
# * **(a)** $\mathcal L^{(t)}_{\mathrm{train/val}}$, $\mathcal A^{(t)}_{\mathrm{train/val}}$ and
#   $\|\theta^{(t)}\|_2$ over $t$, one curve per $\lambda$ with a colour bar;
# * **(b)** $\mathcal L$, $\mathcal A$ (log-scale loss) and $t_f$ against $\lambda$;
# * **(c)** how $\mathcal L_{\mathrm{val}}$, $\mathcal A_{\mathrm{val}}$, $t_f(\mathcal L_{\mathrm{val}})$ and
#   $t_f(\mathcal A_{\mathrm{val}})$ change with $\lambda$;
# * **(d)** does $\|\theta^{(t)}\|_2$ change before and when the model generalises, and why?
#
# AdamW applies the decay outside the adaptive step: $\theta \leftarrow \theta - \eta\lambda\theta -
# \eta\,\hat m / (\sqrt{\hat v} + \epsilon)$, so every step shrinks each weight by the factor
# $1 - \eta\lambda$ while the gradient term pushes it wherever the loss wants it.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
n_steps = 0          # training steps T per run (0: the profile value)
r_train = 0.0        # training fraction (0: the profile value)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Float, Int

P = start("15_regularization", globals(), n_steps=Int(min=0), r_train=Float(min=0.0, max=0.99),
          workers=Int(min=0, max=16))

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from utils import plots, stats, studies
from utils.references import show_references
from utils.train import arithmetic as arith

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "15_regularization", models=("lstm",), laptop_period=20)

# %% [markdown]
# ## 1 · Tracking the norm
#
# The trainer records $\|\theta^{(t)}\|_2$ beside the losses at every evaluation when
# `track_param_norm` is set (the seed suggests adding it to `eval_model`); it is computed in
# float64 over every parameter:

# %%
print(inspect.getsource(arith.param_norm))

# %% [markdown]
# ## 2 · The runs
#
# `full` is the seed's: 4 values of $\lambda$, $T = 4\cdot 10^4 + 1$, $r_{\mathrm{train}} = 0.5$,
# lr $10^{-3}$. On the 2-core CPU one such LSTM run alone is hours of compute, so `laptop`
# trains a short $T$ (printed below) at the setting notebook 10 calibrated
# ($r_{\mathrm{train}} = 0.7$, lr $3\cdot 10^{-3}$), where the LSTM memorises within a few
# hundred steps and at $\lambda = 1$ generalises within about 1,250: so the norm can be
# watched before and at generalisation, which a short run at the seed's setting would never
# reach. The answers below say whether, and for which $\lambda$, it came. The parameters
# `r_train` and `n_steps` override the profile.

# %%
SEED_WD = [0.25, 0.5, 0.75, 1.0]
WDS = P.pick(smoke=[0.25, 1.0], laptop=SEED_WD, full=SEED_WD)
T = n_steps or P.pick(smoke=6, laptop=1500, full=4 * 10 ** 4 + 1)
R = P.r_train or study.setting["r_train"]
LR = study.setting["lr"]
configs = study.configs(studies.grid(weight_decay=WDS), n_steps=T, r_train=R, lr=LR,
                        track_param_norm=True)
default = arith.make_config()
print(f"{P.profile}: LSTM, weight decay in {WDS}, r_train = {R}, lr {LR:g}, T = {T} steps "
      f"({T / (4 * 10 ** 4 + 1):.1%} of the seed's 40001), seeds {study.seeds}, "
      f"{len(configs)} runs; {study.schedule} (losses, accuracies and the norm)")
changes = study.deviations(configs[0], ignore=("model", "seed", "weight_decay", "n_steps",
                                               "track_param_norm"))
print(f"changes from the seed's settings besides λ and T: {'; '.join(changes) or 'none'}")

# %%
results, df = study.run(configs, columns=["weight_decay"])

# %% [markdown]
# ## 3 · (a) Curves, colour = weight decay

# %%
panels = [*studies.CURVE_PANELS, ("extra", "param_norm", r"$\|\theta^{(t)}\|_2$")]
fig = studies.plot_curves(studies.group_results(results, "weight_decay"), "weight decay λ",
                          panels=panels, title="LSTM")
plots.show(fig, "curves", f"LSTM: training and validation loss and accuracy and the parameter "
           f"norm ‖θ‖₂ (log scale) over the steps t, one curve per weight decay λ (colour bar), "
           f"mean over seeds {study.seeds} with a ± std band; r_train = {R}, T = {T}.")

# %% [markdown]
# The same norm on a linear time axis, with the step at which each run first reaches 90 %
# validation accuracy marked (○):

# %%
fig, ax = plots.subplots(width=7, height=3.6)
norm, cmap = studies.color_norm(WDS), plt.get_cmap("viridis")
for r in results:
    wd = r["config"]["weight_decay"]
    steps, pn = np.asarray(r["all_steps"]), np.asarray(r["extra"]["param_norm"])
    ax.plot(steps, pn, color=cmap(norm(wd)), lw=1, alpha=0.8)
    s = arith.first_step_reaching(r, "test", "accuracy", 0.9)
    if s is not None:
        ax.plot(s, pn[list(steps).index(s)], "o", mfc="none", color=cmap(norm(wd)), ms=7)
ax.set(xlabel="training step t", ylabel=r"$\|\theta^{(t)}\|_2$")
studies.add_colorbar(fig, ax, norm, cmap, "weight decay λ", WDS)
plots.show(fig, "norm_linear", f"‖θ‖₂ of every run (seeds {study.seeds}) over t, colour = weight "
           f"decay; a circle marks the first step with validation accuracy ≥ 0.9 (none: never "
           f"within T = {T}).")

# %% [markdown]
# ## 4 · (b) The best values against the weight decay

# %%
fig = studies.plot_metrics_vs(df, "weight_decay", models=list(study.models), xlabel="weight decay λ")
plots.show(fig, "metrics_vs_weight_decay", f"LSTM: L (log scale), A and t_f (train and "
           f"validation) against the weight decay, mean ± std over seeds {study.seeds}; r_train = {R}, "
           f"T = {T}.")

# %%
study.table(df, ["weight_decay"],
        f"Table 1: LSTM per weight decay λ: L = min_t L(t), A = max_t A(t), t_f and Δt, mean ± "
        f"std over seeds {study.seeds}; r_train = {R}, T = {T}. Bold: best per column.",
        labels={"weight_decay": "λ"})

# %% [markdown]
# ## 5 · (c) How the validation numbers move with $\lambda$

# %%
what = {"L_val": ("L_val", 4), "A_val": ("A_val", 4), "tf_L_val": ("t_f(L_val)", 0),
        "tf_A_val": ("t_f(A_val)", 0)}
trends = {col: studies.effect_verdict(df, "weight_decay", col, what=label, param_label="λ",
                                      digits=d, model="lstm") for col, (label, d) in what.items()}
means = df.groupby("weight_decay")[list(what)].agg(["mean", "std"])


def values(col: str, d: int) -> str:
    return ", ".join(f"λ = {w:g}: {means.loc[w, (col, 'mean')]:.{d}f} ± "
                     f"{means.loc[w, (col, 'std')]:.{d}f}" for w in means.index)


def sentence(text: str) -> str:
    return text if text.startswith("t_f") else text[0].upper() + text[1:]


answer("**(c)** " + " ".join(f"{sentence(trends[col].text)} ({values(col, d)})."
                             for col, (_, d) in what.items())
       + f" (T = {T}: a t_f equal to the last step means the metric was still improving when "
       f"the run stopped; a trend is called only when the slope over all {len(df)} runs "
       f"differs from 0 beyond its standard error.)")

# %% [markdown]
# ## 6 · (d) The norm before and at generalisation
#
# For every run: the norm at the start, its peak and when, the norm at memorisation (first
# step with training accuracy ≥ 0.99), at generalisation (first step with validation accuracy
# ≥ 0.9) and at the end, and its average rate of change (per 100 steps) between memorisation
# and generalisation.

# %%
rows = []
for r in results:
    steps = np.asarray(r["all_steps"])
    pn = np.asarray(r["extra"]["param_norm"])
    at = lambda s: float(pn[list(steps).index(s)]) if s is not None else np.nan  # noqa: E731
    mem = arith.first_step_reaching(r, "train", "accuracy", 0.99)
    gen = arith.first_step_reaching(r, "test", "accuracy", 0.9)
    peak = int(pn.argmax())
    rate = (at(gen) - at(mem)) / (gen - mem) * 100 if mem is not None and gen is not None \
        and gen > mem else np.nan
    rows.append({"weight_decay": r["config"]["weight_decay"], "seed": r["config"]["seed"],
                 "norm_0": pn[0], "norm_peak": pn[peak], "t_peak": int(steps[peak]),
                 "t_mem": np.nan if mem is None else mem, "norm_mem": at(mem),
                 "t_gen": np.nan if gen is None else gen, "norm_gen": at(gen),
                 "norm_end": pn[-1], "rate_mem_gen": rate})
norms = pd.DataFrame(rows)
cols = ["norm_0", "norm_peak", "t_peak", "t_mem", "norm_mem", "t_gen", "norm_gen", "norm_end",
        "rate_mem_gen"]
stats.table(norms, "weight_decay", cols, digits={c: 0 if c.startswith("t_") else 2 for c in cols},
            labels={"weight_decay": "λ", "norm_0": "‖θ‖ at t=0", "norm_peak": "peak ‖θ‖",
                    "t_peak": "t of peak", "t_mem": "t: A_train ≥ 0.99",
                    "norm_mem": "‖θ‖ at memorisation", "t_gen": "t: A_val ≥ 0.9", "norm_gen": "‖θ‖ at generalisation",
                    "norm_end": "‖θ‖ at T", "rate_mem_gen": "Δ‖θ‖ per 100 steps (mem → gen)"},
            caption=f"Table 2: the parameter norm along each LSTM run, mean ± std over seeds "
                    f"{study.seeds} (a '–' or nan: the event never happened within T = {T}).")

# %%
nm = norms.groupby("weight_decay").mean(numeric_only=True)
n_gen = norms.groupby("weight_decay")["t_gen"].apply(lambda v: int(v.notna().sum()))
lines = []
for wd, row in nm.iterrows():
    text = (f"λ = {wd:g}: ‖θ‖ starts at {row.norm_0:.1f}, peaks at {row.norm_peak:.1f} (step "
            f"{row.t_peak:.0f})")
    if not np.isnan(row.t_mem):
        text += f", is {row.norm_mem:.1f} at memorisation (step {row.t_mem:.0f})"
    if n_gen[wd]:
        text += (f", {row.norm_gen:.1f} when validation accuracy reaches 0.9 (step "
                 f"{row.t_gen:.0f}, {n_gen[wd]} of {len(study.seeds)} runs)")
        if not np.isnan(row.rate_mem_gen):
            text += f", changing by {row.rate_mem_gen:+.2f} per 100 steps in between"
    else:
        text += ", and the runs do not reach 0.9 validation accuracy"
    lines.append(text + f"; {row.norm_end:.1f} at T.")
falls = [wd for wd, row in nm.iterrows() if row.norm_end < row.norm_peak * 0.95]
gen_runs = norms[norms.t_gen.notna()]
after_peak = int((gen_runs.t_gen > gen_runs.t_peak).sum())
answer("**(d)** " + " ".join(lines) + f" The norm falls from its peak by more than 5 % by the "
       f"end for λ in {[float(w) for w in falls] or 'none'} within T = {T}. Of the "
       f"{len(gen_runs)} runs that reach 0.9 validation accuracy, {after_peak} do so after the "
       f"norm has peaked, i.e. while it is shrinking.")

# %% [markdown]
# **Why** (a reading, checked against the runs below). Early on the gradient term dominates:
# fitting the training equations grows the weights. Once the training loss is small its
# gradient is small too, and the decay term $-\eta\lambda\theta$ — which pulls every weight
# towards 0 at a rate proportional to $\lambda$ — takes over: among the parameter settings that
# still fit the training set, the optimiser drifts towards those of small norm. If the rule
# $a + b \bmod p$ can be written with smaller, structured weights than a lookup table of the
# training equations, shrinking the norm favours the solution that generalises
# [Power et al., 2022; Nanda et al., 2023]. Two consequences can be checked: generalisation should
# come while the norm is falling from its peak, and sooner when $\lambda$ is larger.

# %%
fell = gen_runs[gen_runs.t_gen > gen_runs.t_peak]
if len(gen_runs) == 0:
    check = (f"No run reached 0.9 validation accuracy within T = {T}, so neither consequence can "
             f"be checked at this budget.")
else:
    first = (f"{len(fell)} of the {len(gen_runs)} runs that reach 0.9 validation accuracy do so "
             f"after the norm has peaked, i.e. while it is falling"
             + (" — as the reading predicts." if len(fell) == len(gen_runs) else
                " — so in this run the reading does not hold for every run." if len(fell) else
                " — against the reading."))
    n_wd = norms.dropna(subset=["t_gen"]).weight_decay.nunique()
    if n_wd < 2:
        second = (f"Only λ = {norms.dropna(subset=['t_gen']).weight_decay.iloc[0]:g} "
                  f"generalised within T = {T}, so whether larger λ brings it sooner is answered "
                  f"only by which λ got there at all.")
    else:
        v_t = studies.effect_verdict(norms.dropna(subset=["t_gen"]), "weight_decay", "t_gen",
                                     what="the first step with A_val ≥ 0.9", param_label="λ",
                                     digits=0)
        second = (f"On the runs that got there: {v_t.text}"
                  + ("; sooner with larger λ, as the reading predicts." if v_t.winner == "decreases"
                     else "; later with larger λ, against the reading." if v_t.winner == "increases"
                     else "; the reading's second prediction is not confirmed at this budget."))
    never = sorted(set(WDS) - set(norms.dropna(subset=["t_gen"]).weight_decay))
    if never:
        second += (f" λ = {', '.join(f'{w:g}' for w in never)} did not reach 0.9 validation "
                   f"accuracy in any run within T = {T}.")
    check = first + " " + second
answer("**Checked on these runs:** " + check)

# %%
answer(f"*At this budget:* r_train = {R}, lr {LR:g}, T = {T} steps ({T / (4 * 10 ** 4 + 1):.1%} "
       f"of the seed's 40001), seeds {study.seeds}. Changes from the seed's settings besides λ "
       f"and T: {'; '.join(changes) or 'none'}; `full` trains the seed's setting.")

# %% [markdown]
# ## References

# %%
show_references()

# %%
finish(study.store)
