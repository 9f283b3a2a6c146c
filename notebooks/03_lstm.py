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
# # 03 · An LSTM language model from scratch
#
# **What this notebook answers** (seed 001, problem 1): **1** the forward pass of one LSTM
# cell; **2** a multilayer, batch-first LSTM (zero initial states, dropout between layers);
# **3** how many learnable parameters the LSTM has as a function of $d_x$, $d_h$ and $L$, with
# and without bias; **4** the full language model (embedding → LSTM → classifier). Notebooks
# 10-16 train this model on modular arithmetic.
#
# Each piece is the code in `utils/nn/lstm.py`, printed here, then checked against
# `torch.nn.LSTM` with the same weights.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]

# %%
from utils.notebook import answer, finish, show_source, start

P = start("03_lstm", globals())

# %%
import itertools

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from utils import plots, stats
from utils.nn.lstm import (LSTM, LSTMCell, LSTMLM, fused_step, lstm_lm_parameter_count,
                           lstm_parameter_count)
from utils.seeding import seed_everything


# %% [markdown]
# ## 1. One cell
#
# At step $t$ the cell reads the input $\mathbf x_t\in\mathbb R^{d_x}$ and its previous state
# $(\mathbf h_{t-1}, \mathbf c_{t-1})$. Every gate is one linear map of the concatenation
# $[\mathbf x_t;\mathbf h_{t-1}]\in\mathbb R^{d_x+d_h}$ (the matrix $[\mathbf W\;\mathbf U]$ of
# the seed) followed by a squashing function:
#
# $$\mathbf i_t=\sigma(\cdot),\quad \mathbf f_t=\sigma(\cdot),\quad \mathbf o_t=\sigma(\cdot),
# \quad \tilde{\mathbf c}_t=\tanh(\cdot),\qquad
# \mathbf c_t=\mathbf f_t\odot\mathbf c_{t-1}+\mathbf i_t\odot\tilde{\mathbf c}_t,\qquad
# \mathbf h_t=\mathbf o_t\odot\tanh(\mathbf c_t).$$
#
# The forget gate decides how much of the old memory survives, the input gate how much of the
# candidate $\tilde{\mathbf c}_t$ is written, the output gate how much of the squashed memory
# is shown as $\mathbf h_t$. The candidate uses **tanh** (values in $(-1, 1)$, so memory can be
# decreased as well as increased); the seed's second, concatenated form writes $\sigma$ there,
# a typo. The starter keeps one `nn.Linear` per gate:

# %%
show_source(LSTMCell.__init__)
show_source(LSTMCell.forward)

# %% [markdown]
# **Check.** `torch.nn.LSTMCell` keeps the same four maps stacked in the order $i, f, g, o$
# (its $g$ is our $\tilde{\mathbf c}$) and split into an input part and a hidden part, with
# two bias vectors. Copying our weights into it must give the same $(\mathbf h_t,\mathbf c_t)$.


# %%
def copy_cell_into_torch(cell: LSTMCell, ref: nn.LSTMCell) -> None:
    weight, bias = cell.fused_parameters()                      # (4 d_h, d_x + d_h), (4 d_h,)
    with torch.no_grad():
        ref.weight_ih.copy_(weight[:, :cell.input_size])
        ref.weight_hh.copy_(weight[:, cell.input_size:])
        ref.bias_ih.copy_(bias)
        ref.bias_hh.zero_()


rows = []
for seed in P.seeds:
    seed_everything(seed)
    cell = LSTMCell(5, 7).double()
    with torch.no_grad():
        for gate in cell.gates():
            gate.bias.normal_()                 # the starter initialises biases to 0
    ref = nn.LSTMCell(5, 7).double()
    copy_cell_into_torch(cell, ref)
    x, h, c = torch.randn(4, 5).double(), torch.randn(4, 7).double(), torch.randn(4, 7).double()
    h1, c1 = cell(x, (h, c))
    h2, c2 = ref(x, (h, c))
    rows.append({"seed": seed, "max |h − h_torch|": (h1 - h2).abs().max().item(),
                 "max |c − c_torch|": (c1 - c2).abs().max().item()})
pd.DataFrame(rows).style.format("{:.1e}", subset=["max |h − h_torch|", "max |c − c_torch|"]).hide(
    axis="index").set_caption(
    "Table 1: one step of our cell against torch.nn.LSTMCell with copied weights (float64), "
    "random inputs, states and biases, one row per seed.")

# %% [markdown]
# ## 2. Stacking cells over a sequence
#
# For a batch $\mathbf x\in\mathbb R^{B\times S\times d_x}$ (batch first) layer 1 runs its cell
# over $t=1,\dots,S$; layer $\ell\ge2$ reads the hidden states $\mathbf h^{(\ell-1)}_t$ of the
# layer below at the same step. Missing initial states are zeros **of the input's dtype and
# device** (`x.new_zeros`), and dropout acts on a layer's whole output sequence before the next
# layer reads it — never inside a layer across time, never after the last layer. The outputs
# are the last layer's $[\mathbf h^{(L)}_1,\dots,\mathbf h^{(L)}_S]$ (B, S, d_h) and every
# layer's final $(\mathbf h_S^{(\ell)}, \mathbf c_S^{(\ell)})$, each (L, B, d_h).

# %%
show_source(LSTM.forward)

# %% [markdown]
# The loop calls either the readable cell above or `fused_step`, the same equations with the
# four gate matrices concatenated once per layer into one $(4d_h)\times(d_x+d_h)$ matrix: one
# matrix product per time step instead of four (what `torch.nn.LSTM` does too). It is the
# default because it is what the training notebooks run; both paths are tested equal.

# %%
show_source(fused_step)

# %% [markdown]
# **Check against `torch.nn.LSTM`**, 1 and 3 layers, with and without bias, both paths:
# outputs, final states and the gradients of a scalar function of all three with respect to
# the input and every weight.


# %%
def copy_stack_into_torch(ours: LSTM, ref: nn.LSTM) -> None:
    with torch.no_grad():
        for k, cell in enumerate(ours.layers):
            weight, bias = cell.fused_parameters()
            getattr(ref, f"weight_ih_l{k}").copy_(weight[:, :cell.input_size])
            getattr(ref, f"weight_hh_l{k}").copy_(weight[:, cell.input_size:])
            if cell.bias:
                getattr(ref, f"bias_ih_l{k}").copy_(bias)
                getattr(ref, f"bias_hh_l{k}").zero_()


def compare_with_torch(num_layers: int, bias: bool, fused: bool, seed: int) -> dict:
    seed_everything(seed)
    ours = LSTM(6, 8, num_layers, bias=bias, fused=fused).double()
    if bias:
        with torch.no_grad():
            for cell in ours.layers:
                for gate in cell.gates():
                    gate.bias.normal_()
    ref = nn.LSTM(6, 8, num_layers, bias=bias, batch_first=True).double()
    copy_stack_into_torch(ours, ref)
    x = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    out, (h, c) = ours(x)
    out_r, (h_r, c_r) = ref(x)
    f = lambda o, hh, cc: (o ** 2).sum() + hh.sum() + 3 * cc.sum()  # noqa: E731
    g = torch.autograd.grad(f(out, h, c), [x, *ours.parameters()])
    g_r = torch.autograd.grad(f(out_r, h_r, c_r), [x, *ref.parameters()])
    # our weight gradients, restacked like torch's (4 d_h, d_in) blocks
    grads = dict(zip([n for n, _ in ours.named_parameters()], g[1:]))
    grads_r = dict(zip([n for n, _ in ref.named_parameters()], g_r[1:]))
    names = ["input_gate", "forget_gate", "candidate_cell", "output_gate"]
    gw = 0.0
    for k, cell in enumerate(ours.layers):
        stacked = torch.cat([grads[f"layers.{k}.{n}.weight"] for n in names])
        gw = max(gw, (stacked[:, :cell.input_size] - grads_r[f"weight_ih_l{k}"]).abs().max().item(),
                 (stacked[:, cell.input_size:] - grads_r[f"weight_hh_l{k}"]).abs().max().item())
    return {"layers": num_layers, "bias": bias, "path": "fused" if fused else "readable",
            "seed": seed, "outputs": (out - out_r).abs().max().item(),
            "h_n, c_n": max((h - h_r).abs().max().item(), (c - c_r).abs().max().item()),
            "∂/∂x": (g[0] - g_r[0]).abs().max().item(), "∂/∂W": gw}


checks = pd.DataFrame([compare_with_torch(L, b, f, s) for L, b, f in
                       itertools.product([1, 3], [True, False], [False, True]) for s in P.seeds])
summary = checks.groupby(["layers", "bias", "path"])[["outputs", "h_n, c_n", "∂/∂x", "∂/∂W"]].max()
summary.style.format("{:.1e}").set_caption(
    f"Table 2: largest absolute difference to torch.nn.LSTM (float64) over {len(P.seeds)} "
    "seeds: outputs, final states, and gradients with respect to the input and the weights.")

# %%
worst = checks[["outputs", "h_n, c_n", "∂/∂x", "∂/∂W"]].to_numpy().max()
answer(f"**Questions 1-2.** Both paths reproduce `torch.nn.LSTM` (1 and 3 layers, with and "
       f"without bias): the largest difference over every output, state and gradient above is "
       f"**{worst:.1e}**, i.e. float64 rounding. `tests/test_lstm.py` checks the same at "
       f"atol 1e-10 (float64) and 1e-5 (float32).")

# %% [markdown]
# ## 3. Parameter count (question 3)
#
# A layer whose cell reads $d_\text{in}$ inputs has four gates, each a $d_h\times(d_\text{in}+d_h)$
# matrix plus, with `bias=True`, one $d_h$ vector. Layer 1 reads $d_\text{in}=d_x$, layers
# $2,\dots,L$ read $d_\text{in}=d_h$. With $b\in\{0,1\}$ the bias flag:
#
# $$P_\text{LSTM}(d_x,d_h,L,b)=4d_h\,(d_x+d_h+b)\;+\;(L-1)\cdot4d_h\,(2d_h+b).$$
#
# With `bias=False` simply $b=0$: $4d_h(d_x+d_h)+8(L-1)d_h^2$. The language model adds the
# embedding $V d_e$ ($d_x=d_e$) and the classifier $V d_h$ (+ $V$ with its bias). The seed's
# tables (which count the whole language model) agree with this. `torch.nn.LSTM` has **two**
# bias vectors per gate ($b_{ih}$ and $b_{hh}$), so with bias it has $8d_h$ instead of $4d_h$
# bias parameters per layer, although the two only ever appear as a sum.
#
# **Check:** the formula against `sum(p.numel())` of the built module over a grid of shapes.

# %%
grid = list(itertools.product([1, 16, 128], [8, 64, 128, 256], [1, 2, 3], [True, False]))
counted = []
for d_x, d_h, L, b in grid:
    n = sum(p.numel() for p in LSTM(d_x, d_h, L, bias=b).parameters())
    counted.append({"d_x": d_x, "d_h": d_h, "L": L, "bias": b, "counted": n,
                    "formula": lstm_parameter_count(d_x, d_h, L, b)})
counted = pd.DataFrame(counted)
mismatches = int((counted["counted"] != counted["formula"]).sum())
counted[counted["d_x"] == 128].head(12).style.hide(axis="index").set_caption(
    f"Table 3: LSTM parameters, counted vs formula (12 of the {len(counted)} grid shapes; "
    f"mismatches over the whole grid: {mismatches}).")

# %%
fig, ax = plots.subplots(1, 1, width=5.5, height=3.6)
d_hs = np.array([8, 16, 32, 64, 128, 256, 512])
for L, color in zip([1, 2, 3], ["C0", "C1", "C2"]):
    ax.plot(d_hs, [lstm_parameter_count(128, d, L, True) for d in d_hs], "-", color=color,
            label=f"formula, L={L}")
    sub = counted[(counted.L == L) & (counted.d_x == 128) & counted.bias]
    ax.plot(sub.d_h, sub.counted, "o", color=color, ms=5, label=f"counted, L={L}")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("hidden size $d_h$")
ax.set_ylabel("learnable parameters $P$")
ax.legend(ncol=2)
plots.show(fig, "lstm_parameters",
           "LSTM parameters with bias for $d_x = 128$: lines are the formula $4d_h(d_x+d_h+b) + "
           "(L-1)4d_h(2d_h+b)$, dots the parameters counted in the built module. $P$ grows as "
           "$8Ld_h^2$ for large $d_h$; without bias it is smaller by only $4Ld_h$ (Table 3).")

# %%
V, d = 36, 128
lm = LSTMLM(V, d, d, 2, padding_index=V - 1)
n_lm = sum(p.numel() for p in lm.parameters())
n_torch = sum(p.numel() for p in nn.LSTM(d, d, 2).parameters())
answer(
    f"**Question 3.** $P = 4d_h(d_x+d_h+b) + (L-1)\\,4d_h(2d_h+b)$ with $b=1$ for `bias=True` "
    f"and $b=0$ for `bias=False`; it equals the counted parameters on all {len(counted)} grid "
    f"shapes ({mismatches} mismatches). For the assignment's model ($d_x=d_h={d}$, $L=2$): "
    f"**{lstm_parameter_count(d, d, 2, True):,}** LSTM parameters with bias "
    f"({lstm_parameter_count(d, d, 2, False):,} without); `torch.nn.LSTM` of the same shape "
    f"has {n_torch:,} (its second bias vector). The whole language model with $V={V}$ has "
    f"{n_lm:,} = formula {lstm_lm_parameter_count(V, d, d, 2):,}, of which "
    f"{n_lm - V * d:,} are not in the embedding (the $P$ of the scaling studies).")

# %% [markdown]
# ## 4. The language model (question 4)
#
# Token ids $\mathbf x\in\{0,\dots,V-1\}^{B\times S}$ are embedded ($\mathbf C(\mathbf x)$,
# B × S × d_e), run through the LSTM, and a linear classifier turns each $\mathbf h^{(L)}_t$
# into logits $\hat{\mathbf Y}_t\in\mathbb R^V$ for the next token. The forward returns logits
# (not probabilities: the loss applies `log_softmax` itself) and the final $(\mathbf h,\mathbf c)$.

# %%
show_source(LSTMLM.forward)

# %%
seed_everything(P.seeds[0])
S = 6
x = torch.randint(0, V, (4, S))
logits, (h, c) = lm(x)
print("logits", tuple(logits.shape), " h", tuple(h.shape), " c", tuple(c.shape))

# %% [markdown]
# **Evidence that the model is causal.** A recurrent model reads left to right, so the logits
# at position $t$ may depend on tokens $\le t$ only. We change the token at one position $s$
# and measure how much the logits at every position $t$ move: the matrix must be zero above the
# diagonal ($s>t$).

# %%
with torch.no_grad():
    base = lm(x)[0]
    effect = np.zeros((S, S))
    for s in range(S):
        y = x.clone()
        y[:, s] = (y[:, s] + 1 + torch.randint(0, V - 1, (4,))) % V       # a different token
        effect[:, s] = (lm(y)[0] - base).abs().amax(dim=(0, 2)).numpy()
fig, ax = plots.subplots(1, 1, width=4.4, height=3.6)
im = ax.imshow(effect, cmap="viridis")
ax.grid(False)
ax.set_xlabel("changed input position $s$")
ax.set_ylabel("logit position $t$")
fig.colorbar(im, ax=ax, label="max |Δ logit|")
plots.show(fig, "lstm_causality",
           "Largest change of the logits at position $t$ when the input token at position $s$ "
           "is replaced (untrained model, 4 sequences): zero above the diagonal, so no "
           "position sees the future.")
answer(f"**Question 4.** The language model maps (B, S) = {tuple(x.shape)} token ids to logits "
       f"{tuple(logits.shape)} and final states {tuple(h.shape)}; changing a future token moves "
       f"past logits by at most **{np.triu(effect, 1).max():.1e}**"
       f"{' (exactly zero)' if np.triu(effect, 1).max() == 0 else ''}, while a "
       f"change at $s$ moves the logit at $t=s$ by up to {np.diag(effect).max():.2f}.")

# %%
finish()
