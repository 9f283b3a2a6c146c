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
# # 12 · Binary and ternary equations: which are learned first?
#
# **What this notebook answers** (seed 001, problem 4, question 4). With $p = 11$ the data set
# holds every binary equation $a + b = r$ ($11^2 = 121$) and every ternary one $a + b + c = r$
# ($11^3 = 1331$), all mod 11: 1452 sequences, the binary ones right-padded with `PAD`. Half of
# the binary **and** half of the ternary equations go to training (each order split separately,
# as the question demands). Then:
#
# * **(a)** $\mathcal L^{(t)}_{\mathrm{train/val}}$ and $\mathcal A^{(t)}_{\mathrm{train/val}}$ over $t$,
#   for the LSTM and the GPT;
# * **(b)** the same curves computed **separately** on the binary and the ternary equations:
#   the loss is evaluated with `reduction='none'` (one value per equation) and averaged per
#   `eq_positions` (3 for binary, 5 for ternary);
# * **(c)** are some operations predicted more quickly than others?

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
n_steps = 0          # training steps T per run (0: the profile value)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Int

P = start("12_operation_orders", globals(), n_steps=Int(min=0), workers=Int(min=0, max=16))

# %%
import inspect

import numpy as np
import pandas as pd
import torch

from utils import plots, stats, studies
from utils.data.arithmetic import get_arithmetic_dataset
from utils.train import arithmetic as arith

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "12_operation_orders", models=("lstm", "gpt"), laptop_period=20)

# %% [markdown]
# ## 1 · The data: one split per order
#
# `split_indices` (in `utils/data/arithmetic.py`) splits each group of equal `eq_positions`
# separately, keeping the seeded shuffle:

# %%
from utils.data.arithmetic import split_indices  # noqa: E402

print(inspect.getsource(split_indices))
(tr, va), tok, S, pad = get_arithmetic_dataset(11, 11, "+", 0.5, [2, 3], seed=study.seeds[0])
counts = pd.DataFrame({split: {f"order {o} (eq_position {pos})": int((ds.tensors[2] == pos).sum())
                               for o, pos in ((2, 3), (3, 5))} for split, ds in
                       (("train", tr), ("validation", va))})
print(f"vocabulary {len(tok)} tokens, sequence length S = {S}, PAD id {pad}")
print("a binary training sequence:", tok.decode(tr.tensors[0][tr.tensors[2] == 3][0]), "→",
      tok.decode(tr.tensors[1][tr.tensors[2] == 3][0]))
counts

# %% [markdown]
# Per equation the trainer keeps the loss and accuracy of `get_loss_and_accuracy(...,
# reduction='none')` and averages them per order (`metrics_from_samples`):

# %%
print(inspect.getsource(arith.metrics_from_samples))

# %% [markdown]
# ## 2 · Training
#
# Defaults otherwise (AdamW lr $10^{-3}$, weight decay 1, batch 512, so the 726 training
# equations make two batches per epoch). `full` trains the seed's $T = 10^4 + 1$ steps;
# `laptop` fewer (printed below), with the predicted cost measured on this machine first.

# %%
default = arith.make_config()
T = n_steps or P.pick(smoke=6, laptop=400, full=10 ** 4 + 1)
configs = study.configs([dict(p=11, operation_orders=[2, 3])], n_steps=T)
print(f"{P.profile}: T = {T} steps ({T / default['n_steps']:.1%} of the seed's "
      f"{default['n_steps']}), seeds {study.seeds}, {len(configs)} runs; {study.schedule}")

# %%
results, _ = study.run(configs)
by_model = study.by_model(results)

# %% [markdown]
# ## 3 · (a) All equations, and (b) binary vs ternary
#
# Left: every validation or training equation; middle: binary only; right: ternary only.
# Solid blue: training; dashed red: validation (mean over seeds, band ± std).

# %%
ORDERS = (("", "all equations"), ("_order2", "binary (a + b = r)"),
          ("_order3", "ternary (a + b + c = r)"))
for model in study.models:
    fig, axes = plots.subplots(2, 3, width=12, height=6.4, layout="constrained")
    for j, (suffix, title) in enumerate(ORDERS):
        for i, metric in enumerate(("loss", "accuracy")):
            ax = axes[i, j]
            studies.plot_train_val(ax, by_model[model], metric, split_suffix=suffix)
            ax.set_ylabel({"loss": "loss $\\mathcal{L}^{(t)}$ (log scale)",
                           "accuracy": "accuracy $\\mathcal{A}^{(t)}$"}[metric])
            ax.set_title(title)
            ax.legend()
    plots.show(fig, f"curves_{model}",
               f"{studies.MODEL_LABELS[model]}, p = 11, both orders: loss (top) and accuracy "
               f"(bottom) on all equations (left), the binary ones (middle) and the ternary ones "
               f"(right); training solid blue, validation dashed red, mean ± std over seeds "
               f"{study.seeds}; T = {T} steps.")

# %% [markdown]
# ## 4 · The numbers per order
#
# The seed's per-run numbers (best values and first steps reaching them) for each order
# separately, plus the first step at which the training accuracy reaches 0.5 and 0.99: how fast
# each kind of equation is fitted.

# %%
def order_history(h, suffix):
    return {"all_steps": h["all_steps"],
            "train": {k: h["train"][k + suffix] for k in ("loss", "accuracy")},
            "test": {k: h["test"][k + suffix] for k in ("loss", "accuracy")}}


rows = []
for r in results:
    for suffix, name in (("_order2", "binary"), ("_order3", "ternary"), ("", "all")):
        h = order_history(r, suffix)
        row = {"model": studies.MODEL_LABELS[r["config"]["model"]], "equations": name,
               "seed": r["config"]["seed"], **arith.summary_row(h)}
        for thr in (0.5, 0.99):
            s = arith.first_step_reaching(h, "train", "accuracy", thr)
            row[f"t_train_{thr}"] = np.nan if s is None else s
            s = arith.first_step_reaching(h, "test", "accuracy", thr)
            row[f"t_val_{thr}"] = np.nan if s is None else s
        rows.append(row)
df = pd.DataFrame(rows)
metrics = ["L_train", "L_val", "A_train", "A_val", "tf_A_train", "tf_A_val", "t_train_0.5",
           "t_train_0.99"]
labels = {**studies.TABLE_LABELS, "t_train_0.5": "first t: A_train ≥ 0.5",
          "t_train_0.99": "first t: A_train ≥ 0.99"}
stats.table(df, ["model", "equations"], metrics, labels=labels,
            best={"L_train": "min", "L_val": "min", "A_train": "max", "A_val": "max"},
            digits={k: 4 if k[0] in "LA" else 0 for k in metrics},
            caption=f"Table 1: per model and kind of equation, L = min_t L(t), A = max_t A(t), "
                    f"t_f = first step reaching each, and the first step at which the training "
                    f"accuracy reaches 0.5 and 0.99 ('–' or nan: never within T = {T}); mean ± "
                    f"std over seeds {study.seeds}. Bold: best per column.")

# %% [markdown]
# ## 5 · (c) Are some operations predicted more quickly?
#
# Compared per model, from the same runs: the first step at which the training accuracy of
# each order reaches 0.5 and 0.99, and the accuracy each order has reached halfway through
# training and at the end.

# %%
def reach_text(sub, col):
    v = sub[col]
    if v.isna().all():
        return "never"
    n = int(v.notna().sum())
    return f"step {v.mean():.0f}" + ("" if n == len(v) else f" ({n} of {len(v)} runs)")


texts = []
for model in study.models:
    label = studies.MODEL_LABELS[model]
    sub = df[df.model == label]
    hs = by_model[model]
    steps = hs[0]["all_steps"]                          # the evaluation step nearest T / 2
    half = int(np.argmin([abs(t - steps[-1] / 2) for t in steps]))
    t_half = steps[half]
    acc = {o: {split: (np.mean([h[split][f"accuracy_order{o}"][half] for h in hs]),
                       np.mean([h[split][f"accuracy_order{o}"][-1] for h in hs]))
               for split in ("train", "test")} for o in (2, 3)}
    b, t3 = sub[sub.equations == "binary"], sub[sub.equations == "ternary"]
    tb, tt = b["t_train_0.99"].mean(), t3["t_train_0.99"].mean()
    if np.isnan(tb) and np.isnan(tt):
        faster = None
    elif np.isnan(tt) or (not np.isnan(tb) and tb < tt):
        faster = "binary"
    elif np.isnan(tb) or tt < tb:
        faster = "ternary"
    else:
        faster = None
    if faster is None:                                  # fall back on the halfway accuracy
        faster = "binary" if acc[2]["train"][0] > acc[3]["train"][0] else "ternary"
    texts.append(
        f"**{label}**: training accuracy ≥ 0.5 at {reach_text(b, 't_train_0.5')} (binary) vs "
        f"{reach_text(t3, 't_train_0.5')} (ternary), ≥ 0.99 at {reach_text(b, 't_train_0.99')} vs "
        f"{reach_text(t3, 't_train_0.99')}; at step {t_half} (halfway) the training accuracy "
        f"is {acc[2]['train'][0]:.3f} (binary) vs {acc[3]['train'][0]:.3f} (ternary) and the "
        f"validation accuracy {acc[2]['test'][0]:.3f} vs {acc[3]['test'][0]:.3f}; at the end "
        f"(step {hs[0]['all_steps'][-1]}) validation {acc[2]['test'][1]:.3f} vs "
        f"{acc[3]['test'][1]:.3f}. The **{faster}** equations are fitted first.")
answer("**(c)** " + " ".join(texts))

# %% [markdown]
# Reading it: a ternary equation needs one more addition and has two more tokens to attend
# over or carry through the recurrence, but the per-order split keeps the proportions of the
# full table, so most of the training set, and of each gradient step, is ternary. Which effect
# wins is what the measured steps above decide.

# %%
n_b, n_t = int((tr.tensors[2] == 3).sum()), int((tr.tensors[2] == 5).sum())
v_b = int((va.tensors[2] == 3).sum())
answer(f"The training set holds {n_t} ternary and {n_b} binary equations ({n_t / n_b:.0f} to 1); "
       f"the binary validation accuracy is measured on only {v_b} equations, so it moves in "
       f"steps of 1/{v_b} = {1 / v_b:.3f}.")

# %%
answer(f"*Budget:* T = {T} steps, {T / default['n_steps']:.1%} of the seed's {default['n_steps']}"
       + (" — the late rise of validation accuracy (grokking) that the seed's full runs show "
          "may not appear within this budget; the curves above say whether it does."
          if T < default["n_steps"] else "") + f" Seeds {study.seeds}.")

# %%
finish(study.store)
