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
# ($11^3 = 1331$), all mod 11: 1452 sequences, the binary ones right-padded with `PAD`. The same
# fraction $r_{\mathrm{train}}$ of the binary **and** of the ternary equations goes to training
# (each order split separately, as the question demands; the seed's fraction is one half). Then:
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
r_train = 0.0        # training fraction of each order (0: profile value, see LAPTOP_SETTING)
lr = 0.0             # AdamW learning rate (0: profile value, see LAPTOP_SETTING)
workers = 0          # one-thread worker processes for the sweep (0: the profile value)

# %%
from utils.notebook import answer, finish, start
from utils.params import Float, Int

P = start("12_operation_orders", globals(), n_steps=Int(min=0), r_train=Float(min=0.0, max=0.99),
          lr=Float(min=0.0), workers=Int(min=0, max=16))

# %%
import inspect

import numpy as np
import pandas as pd
import torch

from utils import plots, stats, studies, study_verdicts
from utils.data.arithmetic import get_arithmetic_dataset
from utils.train import arithmetic as arith

# the run store, device, seeds (0, 42, ...), workers and evaluation schedule of this profile
study = studies.Study.start(P, "12_operation_orders", models=("lstm", "gpt"), laptop_period=20)
# r_train and lr: the laptop setting of notebook 10 (studies.LAPTOP_SETTING), the seed's in full
R = P.r_train or study.setting["r_train"]
LR = P.lr or study.setting["lr"]

# %% [markdown]
# ## 1 · The data: one split per order
#
# `split_indices` (in `utils/data/arithmetic.py`) splits each group of equal `eq_positions`
# separately, keeping the seeded shuffle:

# %%
from utils.data.arithmetic import split_indices  # noqa: E402

print(inspect.getsource(split_indices))
(tr, va), tok, S, pad = get_arithmetic_dataset(11, 11, "+", R, [2, 3], seed=study.seeds[0])
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
# The seed's defaults otherwise (AdamW, weight decay 1, batch 512, gradient clipping at 1).
# `full` trains the seed's setting exactly ($r_{\mathrm{train}} = 0.5$, lr $10^{-3}$,
# $T = 10^4 + 1$ steps). At that setting the validation accuracy of these models rises only
# thousands of steps after the training set is fitted (notebook 10), so `laptop` uses the
# setting that notebook 10 calibrates on this machine (a larger training fraction and learning
# rate, where it measures both models memorising and then generalising on a + b mod 31 within
# its budget) and fewer steps; whether that also holds for these equations is what the runs
# below show. The deviations are printed below, computed from the configs, with the cost
# predicted first.

# %%
default = arith.make_config()
T = n_steps or P.pick(smoke=6, laptop=2000, full=10 ** 4 + 1)
configs = study.configs([dict(p=11, operation_orders=[2, 3])], n_steps=T, r_train=R, lr=LR)
# deviations from question 4's own setting (p = 11, both orders, everything else the seed's)
question = dict(p=11, operation_orders=[2, 3])
deviations = [d for d in study.deviations(configs[0]) if d.split(":")[0] not in question]
print(f"{P.profile}: T = {T} steps ({T / default['n_steps']:.1%} of the seed's "
      f"{default['n_steps']}), seeds {study.seeds}, {len(configs)} runs; {study.schedule}")
print(f"{len(tr)} training equations, batch {min(default['train_batch_size'], len(tr))}: "
      f"{-(-len(tr) // default['train_batch_size'])} batch(es) per epoch")
print("deviations from the seed's setting of question 4:", "; ".join(deviations) or "none")

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
# Compared per model, from the same runs: the first step at which the **training** accuracy
# of each order reaches 0.99 (fitted) and the first step at which its **validation** accuracy
# does (predicted on equations never trained on). Each comparison is a Welch test over the
# seeds (`utils.study_verdicts.first_reach_verdict`): a kind is called faster only when the
# difference exceeds the spread over seeds, and a run that never reaches 0.99 within $T$ is
# counted as $T$ (so an arm with such a run is never called the faster one). The accuracies
# halfway through training are shown for reading the curves, not for a verdict.

# %%
CRITERIA = {"t_train_0.99": "first step with training accuracy ≥ 0.99",
            "t_val_0.99": "first step with validation accuracy ≥ 0.99"}
texts, order_verdicts = [], {}
for model in study.models:
    label = studies.MODEL_LABELS[model]
    hs = by_model[model]
    steps = hs[0]["all_steps"]                          # the evaluation step nearest T / 2
    half = int(np.argmin([abs(t - steps[-1] / 2) for t in steps]))
    acc = {o: {split: np.mean([h[split][f"accuracy_order{o}"][half] for h in hs])
               for split in ("train", "test")} for o in (2, 3)}
    vs = study_verdicts.order_verdicts(df, label, T, CRITERIA)
    order_verdicts[model] = vs
    texts.append(f"**{label}** — fitted: {vs['t_train_0.99'].text}. Predicted on validation "
                 f"equations: {vs['t_val_0.99'].text}. (At step {steps[half]}, halfway, the "
                 f"training accuracy is {acc[2]['train']:.3f} binary vs {acc[3]['train']:.3f} "
                 f"ternary and the validation accuracy {acc[2]['test']:.3f} vs "
                 f"{acc[3]['test']:.3f}, means over seeds.)")
answer("**(c)** " + "\n\n".join(texts))

# %%
called = {(m, c): v.winner for m, vs in order_verdicts.items() for c, v in vs.items() if v}
if not called:
    summary = (f"**Answer at this budget:** for neither model does one kind of equation reach "
               f"0.99 measurably sooner than the other ({len(study.seeds)} seed(s)), in training or "
               f"in validation accuracy.")
else:
    summary = "**Answer at this budget:** " + "; ".join(
        f"the {studies.MODEL_LABELS[m]}'s {w} equations reach 0.99 "
        f"{'training' if c == 't_train_0.99' else 'validation'} accuracy measurably sooner"
        for (m, c), w in called.items()) + "; the other comparisons show no measurable difference."
answer(summary)

# %% [markdown]
# Reading it: a ternary equation needs one more addition and has two more tokens to attend
# over or carry through the recurrence, which would make it slower; but the per-order split
# keeps the proportions of the full table, so most of the training set, and of each gradient
# step, is ternary, which would make it faster. The verdicts above say which (if either) wins
# here.

# %%
n_b, n_t = int((tr.tensors[2] == 3).sum()), int((tr.tensors[2] == 5).sum())
v_b = int((va.tensors[2] == 3).sum())
answer(f"The training set holds {n_t} ternary and {n_b} binary equations ({n_t / n_b:.0f} to 1); "
       f"the binary validation accuracy is measured on only {v_b} equations, so it moves in "
       f"steps of 1/{v_b} = {1 / v_b:.3f}.")

# %%
gen = df[df.equations == "all"]
n_gen = {m: int((gen[gen.model == studies.MODEL_LABELS[m]]["A_val"] >= 0.99).sum())
         for m in study.models}
budget = (f"*Budget:* T = {T} steps ({T / default['n_steps']:.1%} of the seed's "
          f"{default['n_steps']}), seeds {study.seeds}; deviations from the seed's setting: "
          f"{'; '.join(deviations) or 'none'}. Runs reaching validation accuracy ≥ 0.99 on all "
          f"equations within T: " + ", ".join(f"{studies.MODEL_LABELS[m]} {n_gen[m]} of "
                                               f"{len(by_model[m])}" for m in study.models)
          + ". " + studies.cost_sentence(results))
if P.profile == "laptop":
    budget += " " + studies.seed_setting_cost(
        configs, study.workers, f"The seed's own setting (r_train {default['r_train']}, lr "
        f"{default['lr']:g}, T = {default['n_steps']}) for these {len(configs)} runs")
answer(budget)

# %%
finish(study.store)
