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
r_train = 0.0        # training fraction (0: the profile value)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Float, Int

P = start("13_scaling_model", globals(), n_steps=Int(min=0), r_train=Float(min=0.0, max=0.99),
          workers=Int(min=0, max=16))

# %%
import numpy as np
import pandas as pd

from utils import plots, studies
from utils.nn.gpt import decoder_parameter_count
from utils.nn.lstm import lstm_parameter_count
from utils.train.arithmetic import make_config

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile;
# smoke runs use narrow widths of their own (below), so only the head count is narrowed
study = studies.Study.start(P, "13_scaling_model", models=("lstm", "gpt"), laptop_period=25,
                            smoke_shape=dict(num_heads=2))

# %% [markdown]
# ## 1 · What the grid costs
#
# $P$ grows as $L d^2$ ($P_{\mathrm{LSTM}} = L(8d^2 + 4d) + dV + V$, $P_{\mathrm{GPT}} = L(12 d^2 + 8d) +
# dV + V$, each with the classifier, $V = 36$; notebooks 03-04), and so does the cost of a
# step (the ratio is printed below). At $T = 10^4 + 1$ steps the seed's grid is a GPU job
# (`full`). On the laptop the budget of about
# 12 minutes buys a short run of a part of the grid (printed below); the cost is predicted from
# a short timing of each shape on this machine before the sweep starts.
#
# At the default $r_{\mathrm{train}} = 0.5$ neither model generalises within a few hundred steps
# (notebook 11: validation accuracy stays near 0 long after memorisation), so a short run could
# only compare how fast models memorise. The more of the table a model sees, the shorter the
# delay before it generalises (notebook 11 measures it), so `laptop` trains at
# $r_{\mathrm{train}} = 0.9$, where part of the validation set is already predicted correctly
# within the budget and the sizes can be compared on generalisation too. The parameter
# `r_train` sets the fraction (`full` uses the seed's 0.5).

# %%
SEED_L, SEED_D = [1, 2, 3], [64, 128, 256]
LAYERS = P.pick(smoke=[1, 2], laptop=[1, 2, 3], full=SEED_L)
WIDTHS = P.pick(smoke=[16, 32], laptop=[64, 128], full=SEED_D)
T = n_steps or P.pick(smoke=6, laptop=200, full=10 ** 4 + 1)
R = P.r_train or P.pick(smoke=0.9, laptop=0.9, full=0.5)
HEADS = study.shape
points = studies.grid(num_layers=LAYERS, embedding_size=WIDTHS)
configs = study.configs(points, hidden_size="d", n_steps=T, r_train=R)
default = make_config()
ratio = sum(L * d * d for L in SEED_L for d in SEED_D) / (default["num_layers"] * 128 ** 2)
print(f"the seed's {len(SEED_L) * len(SEED_D)} shapes hold sum(L·d²) = {ratio:.2f} × the default "
      f"shape's (L = 2, d = 128): about that many default runs per model and seed")
print(f"{P.profile}: L in {LAYERS}, d in {WIDTHS} ({len(points)} of the seed's "
      f"{len(SEED_L) * len(SEED_D)} shapes), r_train = {R} (seed: {default['r_train']}), T = {T} "
      f"steps ({T / default['n_steps']:.1%} of the seed's {default['n_steps']}), seeds {study.seeds}, "
      f"{len(configs)} runs; {study.schedule}")

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
                   f"mean over seeds {study.seeds} with a ± std band; r_train = {R}, T = {T}.")

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
# Read from the means over seeds: with $L$ fixed, the change of $\log_{10}\mathcal L_{\mathrm{val}}$
# and of $\mathcal A_{\mathrm{val}}$ per doubling of $d$ (least-squares slope over the trained
# widths); with $d$ fixed, the change per added layer; over all shapes, the slope against
# $\log_{10} P$. A more negative loss slope or a more positive accuracy slope scales better.

# %%
mean = df.groupby(["model", "num_layers", "embedding_size"])[["L_val", "A_val", "P"]].mean()


def slope(x, y):
    return float(np.polyfit(x, y, 1)[0]) if len(set(x)) > 1 else float("nan")


rows = []
for model in study.models:
    m = mean.loc[model]
    for L in LAYERS:
        s = m.loc[L]
        d = np.log2(s.index.to_numpy(float))
        rows.append({"model": model, "fixed": f"L = {L}", "vs": "d",
                     "L_val": slope(d, np.log10(s["L_val"])), "A_val": slope(d, s["A_val"])})
    for d in WIDTHS:
        s = m.xs(d, level="embedding_size")
        x = s.index.to_numpy(float)
        rows.append({"model": model, "fixed": f"d = {d}", "vs": "L",
                     "L_val": slope(x, np.log10(s["L_val"])), "A_val": slope(x, s["A_val"])})
    rows.append({"model": model, "fixed": "all shapes", "vs": "P",
                 "L_val": slope(np.log10(m["P"]), np.log10(m["L_val"])),
                 "A_val": slope(np.log10(m["P"]), m["A_val"])})
slopes = pd.DataFrame(rows)
wide = slopes.pivot_table(index=["vs", "fixed"], columns="model", values=["L_val", "A_val"],
                          sort=False)
wide.style.format("{:+.3f}").set_caption(
    "Table 2: slopes of log10 L_val and of A_val per doubling of d (rows 'vs d'), per added layer "
    "('vs L') and per decade of P ('vs P'), from the means over seeds. Negative for the loss and "
    "positive for the accuracy means the metric improves with size.")

# %%
def verdict(vs: str, metric: str) -> str:
    sub = slopes[slopes.vs == vs]
    better = []
    for fixed, g in sub.groupby("fixed", sort=False):
        v = g.set_index("model")[metric]
        if v.isna().any():
            continue
        good = v.idxmin() if metric == "L_val" else v.idxmax()
        better.append((fixed, good, v["lstm"], v["gpt"]))
    if not better:
        return "not measurable (one value only)"
    wins = pd.Series([b[1] for b in better]).value_counts()
    per = "; ".join(f"{f}: {studies.MODEL_LABELS[g]} (LSTM {a:+.3f}, GPT {b:+.3f})"
                    for f, g, a, b in better)
    top = wins.idxmax()
    return (f"**{studies.MODEL_LABELS[top]}** in {wins[top]} of {len(better)} cases ({per})")


answer(f"**(c)** *Scaling with d at fixed L* — in L_val: {verdict('d', 'L_val')}; in A_val: "
       f"{verdict('d', 'A_val')}.\n\n*Scaling with L at fixed d* — in L_val: "
       f"{verdict('L', 'L_val')}; in A_val: {verdict('L', 'A_val')}.\n\n*Scaling with P* — in "
       f"L_val: {verdict('P', 'L_val')}; in A_val: {verdict('P', 'A_val')}.")

# %%
gen = df.groupby(["model", "num_layers", "embedding_size"])["A_val"].mean()
n_gen = {m: int((gen.loc[m] >= 0.9).sum()) for m in study.models}
answer(f"*At this budget* (r_train = {R}, T = {T} steps, {T / default['n_steps']:.1%} of the "
       f"seed's): " + ", ".join(f"{n_gen[m]} of {len(points)} {studies.MODEL_LABELS[m]} shapes "
                                 f"reach A_val ≥ 0.9" for m in study.models)
       + ". A slope computed where every shape is still near chance (or already at 1) measures "
         "noise, not scaling: read the verdicts above together with the curves. "
       + (f"The seed's widths {SEED_D} are reduced to {WIDTHS} and its depths {SEED_L} to "
          f"{LAYERS} here; `full` trains the whole grid." if (WIDTHS, LAYERS) != (SEED_D, SEED_L)
          else ""))

# %%
finish(study.store)
