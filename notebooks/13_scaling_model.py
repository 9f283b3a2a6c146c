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
# # 13 · Scaling the model: depth $L$ and width $d$
#
# **What this notebook answers** (seed 001, problem 4, question 5). Both models are trained
# for $(L, d) \in \{1, 2, 3\} \times \{2^6, 2^7, 2^8\}$ (the LSTM's hidden size equals $d$; the GPT
# keeps 4 heads and an FFN of width $4d$), with everything else at the defaults:
#
# * **(a)** $\mathcal L^{(t)}_{\mathrm{train/val}}$, $\mathcal A^{(t)}_{\mathrm{train/val}}$ over $t$: one
#   figure per $L$, one curve per $d$ told apart by a log₂ colour bar;
# * **(b)** $\mathcal L$, $\mathcal A$ and $t_f$ (train and validation) against $d$ with a colour bar
#   for $L$, and, separately, against the number of parameters $P$ without the embeddings
#   (token and position), $P = $ `n_params − n_params_embeddings`;
# * **(c)** for fixed $L$, which model scales better with $d$? For fixed $d$, with $L$? And with
#   $P$? Separately in $\mathcal L_{\mathrm{val}}$ and $\mathcal A_{\mathrm{val}}$.

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

P = start("13_scaling_model", globals(), n_steps=Int(min=0), r_train=Float(min=0.0, max=0.99),
          lr=Float(min=0.0), workers=Int(min=0, max=16))

# %%
import numpy as np
import pandas as pd

from utils import plots, studies, study_verdicts
from utils.nn.gpt import decoder_parameter_count
from utils.nn.lstm import lstm_parameter_count
from utils.train.arithmetic import make_config

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile;
# smoke runs use narrow widths of their own (below), so only the head count is narrowed
study = studies.Study.start(P, "13_scaling_model", models=("lstm", "gpt"), laptop_period=25,
                            smoke_shape=dict(num_heads=2), laptop_early_every=5)

# %% [markdown]
# ## 1 · What the grid costs
#
# $P$ grows as $L d^2$ ($P_{\mathrm{LSTM}} = L(8d^2 + 4d) + dV + V$, $P_{\mathrm{GPT}} = L(12 d^2 + 8d) +
# dV + V$, each with the classifier, $V = 36$; notebooks 03-04), and so does the cost of a
# step (the ratio is printed below). At $T = 10^4 + 1$ steps the seed's grid is a GPU job
# (`full`, the seed's setting exactly). On the laptop the budget of about 15 minutes buys a
# *cross* of the grid (printed below): the widths $d \in \{2^6, 2^7\}$ at $L = 2$ and the depths
# $L \in \{1, 2, 3\}$ at $d = 2^7$, which is what question (c) compares (a slope along $d$ at
# fixed $L$, along $L$ at fixed $d$, and along $P$ over all shapes); the cost is predicted from a
# short timing of each shape on this machine before the sweep starts.
#
# At the seed's setting the validation accuracy of these models rises only thousands of steps
# after the training set is fitted (notebook 10), so a short run there could only compare how fast the sizes
# memorise. `laptop` therefore trains at the setting notebook 10 calibrates on this machine
# (`studies.LAPTOP_SETTING`: a larger training fraction and learning rate, where notebook 10
# measures the default shape memorising and then generalising within its budget); the
# deviations from the seed are printed below. The parameters `r_train` and `lr` change them.
#
# To fit its budget `laptop` also, as notebook 11 does, **stops a run at the first evaluation
# with** $\mathcal A_{\mathrm{val}} \ge 0.99$ (a generalised 3-layer GPT would otherwise train
# on for more than half of its steps) and evaluates every 5 steps, not every step, between
# steps 10 and 100. A stopped run's $t_f(\mathcal A_{\mathrm{val}})$ is its last step, and its
# $\mathcal L_{\mathrm{val}}$ is the lowest validation loss reached *by the time it generalised*:
# a shape that generalises sooner has its loss read sooner, so in (c) the loss compares the
# shapes at the point of generalisation (and the non-generalising ones at $T$), not at equal
# steps; $t_f(\mathcal A_{\mathrm{val}})$ is the clean measure of how fast a size generalises.

# %%
SEED_L, SEED_D = [1, 2, 3], [64, 128, 256]
# laptop and smoke: a cross through the default shape (widths at L = 2, depths at the default
# width); full: the seed's 3 × 3 grid
CROSS = P.pick(smoke=dict(L=2, d=32, widths=[16, 32], depths=[1, 2]),
               laptop=dict(L=2, d=128, widths=[64, 128], depths=[1, 2, 3]), full=None)
if CROSS:
    points = ([dict(num_layers=CROSS["L"], embedding_size=d) for d in CROSS["widths"]]
              + [dict(num_layers=L, embedding_size=CROSS["d"]) for L in CROSS["depths"]
                 if L != CROSS["L"]])
else:
    points = studies.grid(num_layers=SEED_L, embedding_size=SEED_D)
LAYERS = sorted({p["num_layers"] for p in points})
WIDTHS = sorted({p["embedding_size"] for p in points})
T = n_steps or P.pick(smoke=6, laptop=1250, full=10 ** 4 + 1)
R = P.r_train or study.setting["r_train"]
LR = P.lr or study.setting["lr"]
STOP = P.pick(smoke=0.99, laptop=0.99, full=0.0)      # stop at A_val >= 0.99 (0: never)
HEADS = study.shape
configs = study.configs(points, hidden_size="d", n_steps=T, r_train=R, lr=LR,
                        stop_at_val_accuracy=STOP)
default = make_config()
ratio = sum(L * d * d for L in SEED_L for d in SEED_D) / (default["num_layers"] * 128 ** 2)
print(f"the seed's {len(SEED_L) * len(SEED_D)} shapes hold sum(L·d²) = {ratio:.2f} × the default "
      f"shape's (L = 2, d = 128): about that many default runs per model and seed")
print(f"{P.profile}: (L, d) in {[(p['num_layers'], p['embedding_size']) for p in points]} "
      f"({len(points)} of the seed's {len(SEED_L) * len(SEED_D)} shapes), T = {T} steps "
      f"({T / default['n_steps']:.1%} of the seed's {default['n_steps']}), seeds {study.seeds}, "
      f"{len(configs)} runs; {study.schedule}")
# deviations from the seed's setting, besides the shapes the question varies
deviations = [d for d in study.deviations(configs[0])
              if d.split(":")[0] not in ("num_layers", "embedding_size", "hidden_size")]
print("deviations from the seed's setting:", "; ".join(deviations) or "none")

# %%
results, df = study.run(configs, columns=["num_layers", "embedding_size"])

# %% [markdown]
# The parameter counts $P$ (without embeddings) of the trained models, checked against the
# formulas of notebooks 03 and 04 (decoder or LSTM stack, plus the classifier $dV + V$):

# %%
V = 36
formula = {"lstm": lambda L, d: lstm_parameter_count(d, d, L) + d * V + V,
           "gpt": lambda L, d: decoder_parameter_count(d, HEADS.get("num_heads", 4), 4, L)
           + d * V + V}
counts = (df.groupby(["model", "num_layers", "embedding_size"])["P"].first().reset_index())
counts["formula"] = [formula[m](L, d) for m, L, d in
                     zip(counts.model, counts.num_layers, counts.embedding_size)]
assert (counts.P == counts.formula).all(), counts
counts.pivot_table(index=["model", "num_layers"], columns="embedding_size", values="P")

# %% [markdown]
# ## 2 · (a) Training curves: one figure per $L$, colour = $d$ (log₂)

# %%
for model in study.models:
    for L in LAYERS:
        runs = [r for r in results if r["config"]["model"] == model
                and r["config"]["num_layers"] == L]
        fig = studies.plot_curves(studies.group_results(runs, "embedding_size"), "d", log2=True,
                                  title=f"{studies.MODEL_LABELS[model]}, L = {L}")
        plots.show(fig, f"curves_{model}_L{L}",
                   f"{studies.MODEL_LABELS[model]} with L = {L} layers: training and validation "
                   f"loss and accuracy over the steps t, one curve per width d (log2 colour bar), "
                   f"mean over seeds {study.seeds} with a ± std band; r_train = {R}, T = {T}"
                   + (f"; a run stops at the first evaluation with A_val ≥ {STOP}, so a curve "
                      f"ends where its first seed stopped." if STOP else "."))

# %% [markdown]
# ## 3 · (b) The best values against $d$ (colour = $L$) and against $P$

# %%
fig = studies.plot_metrics_vs(df, "embedding_size", hue="num_layers", x_log2=True,
                              xlabel="width d (log2 scale)", hue_label="layers L")
plots.show(fig, "metrics_vs_d", f"L (log scale), A and t_f (train and validation) against the "
           f"width d, one line per number of layers L (colour bar) and model (LSTM solid "
           f"circles, GPT dashed squares), mean ± std over seeds {study.seeds}; r_train = {R}, T = {T}.")

# %%
fig = studies.plot_metrics_vs(df, "P", hue="num_layers", x_log=True,
                              xlabel="parameters P without embeddings (log scale)",
                              hue_label="layers L")
plots.show(fig, "metrics_vs_params", f"The same metrics against the number of parameters P "
           f"(embeddings excluded), one line per L (colour bar) and model (LSTM solid, GPT "
           f"dashed), mean ± std over seeds {study.seeds}; r_train = {R}, T = {T}.")

# %%
study.table(df, ["model", "num_layers", "embedding_size"],
        f"Table 1: per model, L and d: P (parameters without embeddings), L = min_t L(t), "
        f"A = max_t A(t), t_f and Δt, mean ± std over seeds {study.seeds}; r_train = {R}, T = {T}. "
        f"Bold: best per column.", labels={"num_layers": "L", "embedding_size": "d"},
        metrics=["P", *studies.TABLE_LABELS])

# %% [markdown]
# ## 4 · (c) Which model scales better?
#
# "Scales better" is read as a slope: with $L$ fixed, the change of $\log_{10}\mathcal L_{\mathrm{val}}$
# and of $\mathcal A_{\mathrm{val}}$ per doubling of $d$; with $d$ fixed, the change per added
# layer; over all shapes, the change per doubling of $P$. Each slope is a least-squares fit over
# every run (one point per seed and shape) with its standard error, and a model is said to scale
# better only when the difference of the two models' slopes exceeds its standard error at
# $p < 0.05$ (`utils.study_verdicts.scaling_verdicts`); otherwise the answer is "no measurable
# difference at this budget". A more negative loss slope or a more positive accuracy slope
# scales better.

# %%
fixed_L, fixed_d = study_verdicts.axes_of(df)
scaling = study_verdicts.scaling_verdicts(df, fixed_L, fixed_d)
AXES = {"d": "*Scaling with d at fixed L*", "L": "*Scaling with L at fixed d*",
        "P": "*Scaling with P*"}
lines = []
for axis, title in AXES.items():
    parts = []
    for (a, fixed, metric), v in scaling.items():
        if a == axis:
            parts.append(f"in {study_verdicts.SCALING_METRICS[metric]}"
                         + (f" ({'L' if a == 'd' else 'd'} = {fixed})" if fixed else "")
                         + f": {v.text}")
    lines.append(f"{title} — " + "; ".join(parts) + ".")
answer("**(c)** " + "\n\n".join(lines))

# %%
called = [(a, f, m, v.winner) for (a, f, m), v in scaling.items() if v]
answer("**Answer at this budget:** "
       + ("; ".join(f"the **{w}** scales better with {a}"
                    + (f" ({'L' if a == 'd' else 'd'} = {f})" if f else "")
                    + f" in {study_verdicts.SCALING_METRICS[m]}" for a, f, m, w in called)
          + "; every other comparison shows no measurable difference"
          if called else "no comparison shows a measurable difference between the models")
       + f" ({len(study.seeds)} seed(s) per shape).")

# %% [markdown]
# Not asked by the seed, but what generalisation is about: the same comparison on the first
# step with the best validation accuracy, $t_f(\mathcal A_{\mathrm{val}})$ (lower is better). It is
# a generalisation time only for runs that reach validation accuracy near 1 (counted below).

# %%
tf = study_verdicts.scaling_verdicts(df, fixed_L, fixed_d,
                                     metrics={"tf_A_val": "t_f(A_val)"})
n_reach = {m: int((df[df.model == m]["A_val"] >= 0.99).sum()) for m in study.models}
answer("*t_f(A_val)* — " + "; ".join(
    (f"{a} ({'L' if a == 'd' else 'd'} = {f})" if f else a) + f": {v.text}"
    for (a, f, _), v in tf.items())
    + ". Runs with A_val ≥ 0.99: " + ", ".join(
        f"{studies.MODEL_LABELS[m]} {n_reach[m]} of {int((df.model == m).sum())}"
        for m in study.models) + ".")

# %%
gen = df.groupby(["model", "num_layers", "embedding_size"])["A_val"].mean()
n_gen = {m: int((gen.loc[m] >= 0.99).sum()) for m in study.models}
sat = {m: bool((df[df.model == m]["A_val"] == 1.0).all()) for m in study.models}
n_stopped = sum(r["n_steps"] < r["config"]["n_steps"] for r in results)
text = (f"*At this budget* (T = {T} steps, {T / default['n_steps']:.1%} of the seed's; "
        f"deviations from the seed's setting: {'; '.join(deviations) or 'none'}): "
        + ", ".join(f"{n_gen[m]} of {len(points)} {studies.MODEL_LABELS[m]} shapes reach "
                    f"A_val ≥ 0.99 (mean over seeds)" for m in study.models) + ". ")
if any(sat.values()):
    text += ("A_val is 1 in every run of the " + " and ".join(
        studies.MODEL_LABELS[m] for m in study.models if sat[m]) + ": within T every shape "
        "generalises, so A_val cannot tell the shapes apart (a zero slope); t_f(A_val) above can. ")
if not all(n_gen[m] == len(points) for m in study.models):
    text += ("Where a shape has not generalised within T, its A_val and L_val are those of a "
             "run still memorising, and a slope through it compares training speed as much as "
             "generalisation. ")
if STOP and n_stopped:
    text += (f"{n_stopped} of {len(results)} runs stopped at their first evaluation with "
             f"A_val ≥ {STOP}: their L_val is the lowest reached by that step, so the loss "
             f"slopes in (c) compare shapes at the point of generalisation, not at equal steps. ")
if (WIDTHS, LAYERS) != (SEED_D, SEED_L):
    text += (f"The seed's 3 × 3 grid (d in {SEED_D}, L in {SEED_L}) is reduced here to the "
             f"{len(points)} shapes above; `full` trains the whole grid at the seed's setting. ")
text += studies.cost_sentence(results)
if P.profile == "laptop":
    full_cfg = studies.sweep_configs(studies.grid(num_layers=SEED_L, embedding_size=SEED_D),
                                     study.models, study.seeds[:1], hidden_size="d")
    text += " " + studies.seed_setting_cost(
        full_cfg, study.workers, f"The seed's grid at its own setting (T = "
        f"{default['n_steps']}), for one seed,")
answer(text)

# %%
finish(study.store)
