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
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Positional encodings
#
# Self-attention compares every query with every key, whatever their order. Where does a
# Transformer get word order from? This notebook answers, with measurements:
#
# * seed 002 §1.3: why positional information is needed, the **sinusoidal** formula and the
#   property it provides (the seed's written formula is checked, and it is wrong);
# * seed 003 question **2.4**: (a) what happens without positional embeddings (**NoPE**);
#   (b) the limitations of **absolute** (learned) position embeddings and the advantages of
#   **relative** ones;
# * seed 003 §2.5 / question 2.6: **RoPE** (rotary position embedding), whose attention score
#   depends only on the offset between query and key: shown numerically.
#
# The encodings live in `utils/nn/rope.py` and plug into the Transformer of notebooks 06 and 07
# (`utils/nn/transformer_lm.py`, option `positions`). Section 5 trains small causal
# Transformers with each of the four choices on a task that needs positions and tests them on
# sequences twice as long as any seen in training.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
lag = 3              # the task of section 5: predict the token `lag` positions back
train_len = 32       # training sequence length; tested at train_len and 2 * train_len

# %%
from utils.notebook import answer, finish, show_source, start
from utils.params import Int
P = start("02_positional_encodings", globals(), lag=Int(min=1, max=16),
          train_len=Int(min=8, max=256))

# %%
import math
import time

import numpy as np
import pandas as pd
import torch

from utils import plots
from utils.nn import rope as rope_module
from utils.nn.rope import RotaryPositionalEmbedding, rope_matrix, sinusoidal_table
from utils.nn.transformer_lm import TransformerConfig, TransformerLM
from utils.progress import progress
from utils.runs import RunStore
from utils.stats import table
from utils.train.lm import cross_entropy
from utils.train.optim import AdamW, cosine_schedule
from utils.verdicts import compare

store = RunStore("02_positional_encodings")
STEPS = P.pick(smoke=20, laptop=250, full=1000)
print(f"section 5 trains {len(P.seeds)} seed(s) x 4 encodings for {STEPS} steps each")

# %% [markdown]
# ## 1 · Attention alone does not see order
#
# Scaled dot-product attention is a weighted average Σ_j softmax_j(q·k_j) v_j: permute the keys
# and values together and the average is the same. So a Transformer *without* positional
# information treats its input as a bag of tokens, except for one thing: the causal mask of a
# decoder lets position t see only tokens 0…t, and that asymmetry leaks some order information.
# The check below permutes the first 11 of 12 tokens and compares the output at the last
# position, for a one-layer and a two-layer causal model without positions (NoPE).

# %%
def last_position_change(positions: str, num_layers: int) -> float:
    torch.manual_seed(P.seeds[0])
    m = TransformerLM(TransformerConfig(vocab_size=50, context_length=16, d_model=32,
                                        num_layers=num_layers, num_heads=4,
                                        positions=positions)).double().eval()
    g = torch.Generator().manual_seed(P.seeds[0])
    ids = torch.randint(0, 50, (1, 12), generator=g)
    perm = torch.cat([torch.randperm(11, generator=g), torch.tensor([11])])
    with torch.no_grad():
        return (m(ids[:, perm])[0, -1] - m(ids)[0, -1]).abs().max().item()


perm_rows = [{"positions": p, "layers": n, "max |Δ logit| at the last position":
              last_position_change(p, n)} for p in ("none", "rope") for n in (1, 2)]
perm_df = pd.DataFrame(perm_rows)
perm_df.style.hide(axis="index").format({"max |Δ logit| at the last position": "{:.2e}"}) \
    .set_caption("Table 1: change of the last position's logits when the 11 tokens before it "
                 "are shuffled (float64)")

# %%
nope1 = perm_df.query("positions == 'none' and layers == 1").iloc[0, 2]
nope2 = perm_df.query("positions == 'none' and layers == 2").iloc[0, 2]
rope1 = perm_df.query("positions == 'rope' and layers == 1").iloc[0, 2]
answer(f"With no positional information, one causal layer gives the last position exactly the "
       f"same output for any order of the tokens before it (change {nope1:.1e}, float64 "
       f"rounding): it sees a bag of tokens. A second layer changes that ({nope2:.2f}): the "
       f"first layer's output at token j already depends on the tokens before j, so the causal "
       f"mask smuggles order in. With RoPE the order matters from the first layer ({rope1:.2f}).")

# %% [markdown]
# ## 2 · Sinusoidal encodings (Vaswani et al., 2017)
#
# The 2017 Transformer adds a fixed vector to each token embedding:
#
# $$PE(pos, 2i) = \sin\!\big(pos / 10000^{2i/d}\big), \qquad
#   PE(pos, 2i+1) = \cos\!\big(pos / 10000^{2i/d}\big).$$
#
# Dimension pair i oscillates with wavelength 2π·10000^{2i/d}: from 2π (fast, pair 0) to almost
# 2π·10⁴ (slow, the last pair), a geometric progression. The code, from `utils/nn/rope.py`:

# %%
show_source(sinusoidal_table)

# %%
d_show, n_show = 128, 200
pe = sinusoidal_table(n_show, d_show)
fig, ax = plots.subplots(1, 1, width=9, height=3.4)
im = ax.imshow(pe.T.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, origin="lower")
ax.set_xlabel("position pos")
ax.set_ylabel("dimension (2i: sin, 2i+1: cos)")
fig.colorbar(im, ax=ax, label="PE(pos, dim)")
plots.show(fig, "sinusoidal_table", f"The sinusoidal table for d = {d_show}: low dimensions "
           "oscillate fast, high dimensions slowly, so every position gets a distinct pattern.")

# %% [markdown]
# **The seed's formula.** The seed-002 answer writes the angle as (10000^{2i}/d_model)·pos.
# That puts 2i in the exponent alone and *multiplies* by 10000^{2i}: the frequencies grow
# instead of shrinking, and 10000^{2i} exceeds the largest float64 once 2i > 77, so the angle
# becomes infinite and sin(∞) is NaN. The correct exponent is 2i/d, and the frequency is its
# inverse.

# %%
i = np.arange(d_show // 2, dtype=np.float64)
with np.errstate(over="ignore", invalid="ignore"):
    seed_freq = 10000.0 ** (2 * i) / d_show                 # the seed's "frequency"
    seed_pe = np.sin(seed_freq[None, :] * np.arange(n_show)[:, None])
correct_wavelength = 2 * np.pi * 10000.0 ** (2 * i / d_show)
with np.errstate(divide="ignore"):
    seed_wavelength = 2 * np.pi / seed_freq
fig, ax = plots.subplots(1, 1, width=7, height=3.2)
ax.semilogy(i, correct_wavelength, label="correct: 2π·10000^(2i/d)")
ax.semilogy(i, np.where(np.isfinite(seed_wavelength) & (seed_wavelength > 0), seed_wavelength,
                        np.nan), label="seed answer: 2π·d / 10000^(2i)")
ax.axhline(2.0, color="gray", ls=":", label="2 positions (Nyquist limit)")
ax.set_ylim(1e-6, 1e6)
ax.set_xlabel("dimension pair i")
ax.set_ylabel("wavelength in positions")
ax.legend()
plots.show(fig, "sinusoidal_wavelengths", "Wavelength of each sin/cos pair: the correct formula "
           "spans 2π to 2π·10⁴ positions; the seed's formula drops below 2 positions (pure "
           "aliasing; below the plotted range after a few pairs) and then overflows.")

# %%
n_nan = int(np.isnan(seed_pe).any(axis=0).sum())
n_alias = int(((seed_wavelength < 2) & np.isfinite(seed_freq)).sum())
answer(f"With d = {d_show}, the seed's formula gives NaN in {n_nan} of {d_show // 2} sine "
       f"columns (overflow of 10000^(2i)) and a wavelength shorter than two positions — "
       f"indistinguishable from noise when sampled at integer positions — in {n_alias} more; "
       f"only pair i = 0 (wavelength {seed_wavelength[0]:.0f} positions) behaves. The correct "
       f"formula's wavelengths run from {correct_wavelength[0]:.2f} to "
       f"{correct_wavelength[-1]:,.0f} positions.")

# %% [markdown]
# **The property the sinusoids provide.** For a fixed offset k, each (sin, cos) pair at pos + k
# is a *rotation* of the pair at pos by the angle k·ω_i — a linear map that does not depend on
# pos. Hence PE(pos+k) = M_k · PE(pos), and the dot product PE(pos)·PE(pos+k) = Σ_i cos(k ω_i)
# depends only on k. Both are checked numerically:

# %%
k = 7
w = 10000.0 ** (-2 * torch.arange(d_show // 2, dtype=torch.float64) / d_show)
M = torch.zeros(d_show, d_show, dtype=torch.float64)       # block-diagonal rotation by k·ω_i
for j, wj in enumerate(w.tolist()):
    c, s = math.cos(k * wj), math.sin(k * wj)
    M[2 * j:2 * j + 2, 2 * j:2 * j + 2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
lin_err = (pe[:-k] @ M - pe[k:]).abs().max().item()
gram = pe @ pe.T                                             # (pos, pos') dot products
toeplitz_err = max((torch.diagonal(gram, o) - torch.diagonal(gram, o)[0]).abs().max().item()
                   for o in range(-150, 151))
answer(f"PE(pos + {k}) = M_{k} PE(pos) holds for every position to {lin_err:.1e}, and "
       f"PE(pos)·PE(pos') depends only on pos' − pos to {toeplitz_err:.1e} (float64): relative "
       f"offsets are linear functions of the absolute encodings, which is the property the 2017 "
       f"paper hoped attention would exploit. But the encoding is *added* to the token "
       f"embedding, so the attention score q·k mixes content and absolute position terms.")

# %% [markdown]
# ## 3 · RoPE: relative positions through rotations (Su et al., 2021)
#
# RoPE does not add anything to the embeddings. Inside attention it rotates each pair of query
# and key dimensions (x_{2k}, x_{2k+1}) at position m by the angle m·Θ^{−2k/d}:
# R_m q and R_n k. Because rotations compose, R_mᵀ R_n = R_{n−m}, so
#
# $$\langle R_m q, R_n k\rangle = \langle q, R_{n-m} k\rangle,$$
#
# a function of the offset n − m only. The module's forward pass:

# %%
show_source(RotaryPositionalEmbedding.forward)

# %% [markdown]
# Below, one query vector q and one key vector k are placed at every position m, n ∈ [0, 128)
# and all 128 × 128 scores are computed. If the score depends only on n − m, every diagonal of
# the score matrix is constant. For contrast, the same q, k with the sinusoidal table *added*
# (q + PE_m, k + PE_n) — the absolute scheme.

# %%
d_k, S = 32, 128
g = torch.Generator().manual_seed(P.seeds[0])
q = torch.randn(d_k, generator=g, dtype=torch.float64)
kv = torch.randn(d_k, generator=g, dtype=torch.float64)
rope = RotaryPositionalEmbedding(10000.0, d_k, S, dtype=torch.float64)
pos = torch.arange(S)
scores_rope = rope(q.expand(S, d_k), pos) @ rope(kv.expand(S, d_k), pos).T
pe32 = sinusoidal_table(S, d_k)
scores_abs = (q + pe32) @ (kv + pe32).T


def diagonal_spread(scores):
    return max((torch.diagonal(scores, o) - torch.diagonal(scores, o).mean()).abs().max().item()
               for o in range(-(S - 1), S))


rope_spread, abs_spread = diagonal_spread(scores_rope), diagonal_spread(scores_abs)
x_unit = torch.nn.functional.normalize(torch.randn(4, S, d_k, generator=g, dtype=torch.float64),
                                       dim=-1)
norm_err = (rope(x_unit, pos).norm(dim=-1) - 1).abs().max().item()
matrix_err = (rope(q[None], torch.tensor([37]))[0] - rope_matrix(d_k, 37) @ q).abs().max().item()

fig, axes = plots.subplots(1, 2, width=9, height=3.6)
for ax, sc, title in zip(axes, (scores_rope, scores_abs), ("RoPE: ⟨R_m q, R_n k⟩",
                                                           "absolute: ⟨q + PE_m, k + PE_n⟩")):
    im = ax.imshow(sc.numpy(), cmap="RdBu_r", origin="lower")
    ax.set_title(title)
    ax.set_xlabel("key position n")
    ax.set_ylabel("query position m")
    fig.colorbar(im, ax=ax, shrink=0.8)
plots.show(fig, "rope_relative", "Scores of one fixed query/key pair placed at all position pairs. "
           "RoPE's matrix is constant along every diagonal (it depends only on n − m); with "
           "added absolute encodings it is not.")

# %%
answer(f"Largest deviation of a score from its diagonal's mean: **{rope_spread:.1e}** with RoPE "
       f"(float64 rounding: the score is a function of n − m alone) against {abs_spread:.2f} "
       f"with added sinusoidal encodings. RoPE also preserves norms (largest change of a unit "
       f"vector's norm {norm_err:.1e}) and equals the explicit block-diagonal rotation matrix "
       f"R_Θ,m of the paper (difference {matrix_err:.1e} at m = 37).")

# %% [markdown]
# **Long-range decay.** For q = k = (1, …, 1) the score ⟨q, R_{n−m} k⟩ = 2 Σ_k cos((n−m) θ_k)
# shrinks, on average, as the offset grows (RoFormer §3.4.3): nearby tokens are favoured unless
# the learned q, k say otherwise. The base Θ sets how fast: the explorer below varies it (in
# JupyterLab it is live; in the report it shows the default).

# %%
import ipywidgets as widgets
from utils.widgets import explore


def show_rope_decay(theta=10000.0, d_k=64):
    offsets = np.arange(0, 2048)
    angles = rope_module.rope_angles(d_k, 2048, theta)             # (offset, d_k/2)
    score = 2 * angles.cos().sum(-1).numpy() / d_k                  # ⟨1, R 1⟩ / d_k
    envelope = pd.Series(np.abs(score)).rolling(33, min_periods=1, center=True).max()
    fig, ax = plots.subplots(1, 1, width=7, height=3.0)
    ax.plot(offsets, score, lw=0.6, label="⟨1, R_(n−m) 1⟩ / d_k")
    ax.plot(offsets, envelope, lw=1.5, label="max of |score| over ±16 offsets")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("offset n − m")
    ax.set_ylabel("normalised score")
    ax.set_title(f"Θ = {theta:g}, d_k = {d_k}")
    ax.legend()
    plots.show(fig, f"rope_decay_theta{int(theta)}_d{d_k}", "RoPE's score between all-ones "
               "query and key decays with the offset; a larger base Θ stretches the decay to "
               "longer distances.")


explore(show_rope_decay,
        theta=widgets.FloatLogSlider(value=10000.0, base=10, min=2, max=6, description="Θ"),
        d_k=widgets.IntSlider(value=64, min=8, max=256, step=8, description="d_k"))

# %% [markdown]
# ## 4 · Learned absolute positions and NoPE
#
# GPT-2 (and seed 003's `abs_emb=True`) learns a table of `context_length` vectors, one per
# position, added to the token embeddings. It can represent anything the sinusoids can, but
# (i) it has no entry beyond the table — a longer input is simply impossible — and (ii) each
# row is trained only by the positions that occur in training. NoPE (`positions="none"`) has no
# table at all. Asking the table for a position it does not have:

# %%
from utils.nn.rope import LearnedPositions

try:
    LearnedPositions(train_len, 16)(torch.arange(2 * train_len))
except IndexError as exc:
    print("IndexError:", exc)

# %% [markdown]
# ## 5 · Experiment: which encoding can find "the token `lag` positions back"?
#
# Task: sequences of random tokens from a vocabulary of 16; at every position t ≥ `lag` the
# model must output the token at t − `lag` (chance: 1/16). Nothing in the *content* says where
# t − `lag` is, so the model must use positions. Four identical 2-layer causal Transformers
# (d = 32, 2 heads, SwiGLU, pre-norm RMSNorm; from `utils.nn.transformer_lm`) differ only in
# their positional encoding. Each trains on sequences of `train_len` tokens with AdamW and a
# cosine schedule; the context length (and the learned table) is 2 × `train_len`, so the second
# half of the learned table is never trained. Accuracy is measured on 512 fresh sequences of
# `train_len` tokens and of 2 × `train_len` tokens (positions never seen in training).

# %%
VOCAB = 16


def train_lag_copy(config, ctx):
    """Train one model on the lag-copy task; returns loss curve and accuracies."""
    torch.manual_seed(config["seed"])
    L, lag_, T = config["train_len"], config["lag"], config["steps"]
    model = TransformerLM(TransformerConfig(
        vocab_size=VOCAB, context_length=2 * L, d_model=32, num_layers=2, num_heads=2,
        positions=config["positions"]))
    opt = AdamW(model.parameters(), lr=config["lr"], weight_decay=0.0)
    g = torch.Generator().manual_seed(config["seed"])
    losses = []
    for it in range(T):
        for group in opt.param_groups:
            group["lr"] = cosine_schedule(it, config["lr"], config["lr"] / 10, T // 10, T)
        x = torch.randint(0, VOCAB, (64, L), generator=g)              # (B, L)
        loss = cross_entropy(model(x)[:, lag_:], x[:, :-lag_])         # target: x[t - lag]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    test = torch.Generator().manual_seed(10_000 + config["seed"])
    with torch.no_grad():
        out = {"loss": losses}
        for name, length in (("acc_train_len", L), ("acc_double_len", 2 * L)):
            x = torch.randint(0, VOCAB, (512, length), generator=test)
            hit = (model(x)[:, lag_:].argmax(-1) == x[:, :-lag_]).float()   # (512, length-lag)
            out[name] = hit.mean().item()
            out[name + "_by_pos"] = hit.mean(0).numpy()
        if config["positions"] == "learned":
            out["table"] = model.position_embeddings.table.weight.detach().clone()
    return out


# These matrices are tiny (32 x 32): one thread is faster than two, whose synchronisation
# costs more than the work it splits (and on a busy machine, far more); the sweep below trains
# one run per core in one-thread worker processes instead.
torch.set_num_threads(1)
probe = TransformerLM(TransformerConfig(vocab_size=VOCAB, context_length=2 * train_len,
                                        d_model=32, num_layers=2, num_heads=2))
probe_opt = AdamW(probe.parameters(), lr=1e-3)
t0 = time.perf_counter()
for _ in range(3):
    xp = torch.randint(0, VOCAB, (64, train_len))
    lp = cross_entropy(probe(xp)[:, lag:], xp[:, :-lag])
    probe_opt.zero_grad()
    lp.backward()
    probe_opt.step()
t_step = (time.perf_counter() - t0) / 3
print(f"about {t_step * 1e3:.0f} ms per training step -> about "
      f"{4 * len(P.seeds) * STEPS * t_step / 60:.1f} min for the {4 * len(P.seeds)} runs "
      f"(runs already in the run store are reused)")
configs = [{"version": 1, "positions": p, "seed": s, "steps": STEPS, "lag": lag,
            "train_len": train_len, "lr": 3e-3}
           for p in ("rope", "learned", "sinusoidal", "none") for s in P.seeds]
results = store.sweep(configs, train_lag_copy, desc="lag-copy runs")
runs = pd.DataFrame([{**c, **{k: v for k, v in r.items() if k.startswith("acc") and
                              not k.endswith("_by_pos")}} for c, r in zip(configs, results)])

# %%
fig, ax = plots.subplots(1, 1, width=7, height=3.2)
for p in ("rope", "learned", "sinusoidal", "none"):
    curves = np.array([r["loss"] for c, r in zip(configs, results) if c["positions"] == p])
    smooth = pd.DataFrame(curves.T).rolling(10, min_periods=1).mean().values.T
    mean, std = smooth.mean(0), smooth.std(0)
    ax.plot(mean, label=p)
    ax.fill_between(np.arange(len(mean)), mean - std, mean + std, alpha=0.2)
ax.axhline(math.log(VOCAB), color="gray", ls=":", label=f"chance (ln {VOCAB})")
ax.set_xlabel("training step")
ax.set_ylabel("training loss (10-step mean)")
ax.legend()
plots.show(fig, "lag_copy_loss", f"Training loss of the lag-{lag} copy task for each "
           f"positional encoding, mean ± std over {len(P.seeds)} seeds (10-step running mean); "
           "the dotted line is the loss of guessing uniformly.")

# %%
table(runs, "positions", ["acc_train_len", "acc_double_len"],
      best={"acc_train_len": "max", "acc_double_len": "max"},
      labels={"acc_train_len": f"accuracy at length {train_len}",
              "acc_double_len": f"accuracy at length {2 * train_len}"},
      caption=f"Table 2: lag-{lag} copy accuracy after {STEPS} steps (chance 1/{VOCAB} = "
              f"{1 / VOCAB:.4g}), "
              f"on sequences as long as in training and twice as long")

# %%
fig, ax = plots.subplots(1, 1, width=7.5, height=3.2)
for p in ("rope", "learned", "sinusoidal", "none"):
    by_pos = np.array([r["acc_double_len_by_pos"] for c, r in zip(configs, results)
                       if c["positions"] == p]).mean(0)
    ax.plot(np.arange(lag, 2 * train_len), by_pos, label=p)
ax.axvline(train_len - 0.5, color="gray", ls="--", label="end of the training length")
ax.set_xlabel("position t in a sequence of length 2 × train_len")
ax.set_ylabel("accuracy (mean over seeds)")
ax.legend()
plots.show(fig, "lag_copy_by_position", "Accuracy per position on sequences twice the training "
           "length. Left of the dashed line the positions were seen in training; right of it "
           "they were not.")

# %%
first_learned = next(r for c, r in zip(configs, results) if c["positions"] == "learned")
torch.manual_seed(P.seeds[0])                      # rebuild the untrained model of that run
init_model = TransformerLM(TransformerConfig(vocab_size=VOCAB, context_length=2 * train_len,
                                             d_model=32, num_layers=2, num_heads=2,
                                             positions="learned"))
delta = first_learned["table"] - init_model.position_embeddings.table.weight.detach()
fig, ax = plots.subplots(1, 1, width=7, height=3.0)
ax.plot(np.arange(2 * train_len), delta.norm(dim=-1).numpy(), marker=".")
ax.axvline(train_len - 0.5, color="gray", ls="--", label="end of the training length")
ax.set_xlabel("position")
ax.set_ylabel("‖trained row − initial row‖")
ax.legend(loc="center right")
plots.show(fig, "learned_table_updates", "How far each row of the learned position table moved "
           f"from its initial value during training (seed {P.seeds[0]}, no weight decay); "
           f"positions from {train_len} on never occur in training.")

# %%
agg = runs.groupby("positions")[["acc_train_len", "acc_double_len"]].mean()
a = agg.to_dict("index")
second_half = {p: float(np.mean([r["acc_double_len_by_pos"][train_len - lag:]
                                 for c, r in zip(configs, results) if c["positions"] == p]))
               for p in ("rope", "learned", "sinusoidal", "none")}
others = {p: a[p]["acc_train_len"] for p in ("rope", "learned", "sinusoidal")}
nope_acc = a["none"]["acc_train_len"]
# Chance: the targets are uniform over the VOCAB tokens, so a guess is right 1/VOCAB of the time.
# Above chance: beyond 3 binomial standard errors of the accuracy over all test predictions.
chance = 1 / VOCAB
n_predictions = 512 * (train_len - lag) * len(P.seeds)
above_chance = nope_acc > chance + 3 * math.sqrt(chance * (1 - chance) / n_predictions)
if nope_acc < 0.5 * min(others.values()):
    verdict = (f"reaches only {nope_acc:.2f} accuracy at the training length (chance 1/{VOCAB} "
               f"= {chance:.2f}), far below the encodings with positions")
elif nope_acc < min(others.values()) - 0.05:
    verdict = f"reaches {nope_acc:.2f} accuracy, below the encodings with positions"
else:
    verdict = (f"reaches {nope_acc:.2f}, as good as the others: at this budget the task does not "
               f"separate them")
answer(
    f"**Q2.4 (a) — no positional embeddings.** On the lag-{lag} task NoPE {verdict}; RoPE, "
    f"learned and sinusoidal encodings reach {others['rope']:.2f}, {others['learned']:.2f} and "
    f"{others['sinusoidal']:.2f} ({STEPS} steps, mean of {len(P.seeds)} seeds). Without "
    f"positions, attention is permutation-invariant (section 1: one layer sees a bag of tokens): "
    f"the model knows *which* tokens came before, not *where*. A causal decoder can still "
    f"recover some order through its mask (section 1, two layers: change {nope2:.2f})"
    + (f", which is why NoPE beats chance here ({nope_acc:.3f} against {chance:.3f}, more than "
       f"3 standard errors above it) and why causal NoPE language models still learn; a rule "
       f"that needs an exact offset is the hard case." if above_chance else
       f"; here NoPE did not use it: {nope_acc:.3f} is not above chance ({chance:.3f}) by more "
       f"than 3 standard errors, so at this budget the exact offset the task needs stayed out "
       f"of reach."))

# %%
ranking = sorted(second_half, key=second_half.get, reverse=True)
rope_by_pos = np.array([r["acc_double_len_by_pos"] for c, r in zip(configs, results)
                        if c["positions"] == "rope"])   # (seeds, positions lag ... 2L - 1)
quarter = max(1, train_len // 4)
new = rope_by_pos[:, train_len - lag:]                  # positions train_len ... 2L - 1
near_s, far_s = new[:, :quarter].mean(1), new[:, -quarter:].mean(1)   # per seed
rope_near, rope_far = float(near_s.mean()), float(far_s.mean())
decay = compare(near_s, far_s, names=(f"the first {quarter} new positions",
                                      f"the last {quarter}"), better="higher",
                what="RoPE accuracy")
answer(
    f"**Q2.4 (b) — absolute vs relative.** On sequences twice the training length, accuracy on "
    f"the positions never seen in training is {second_half['learned']:.2f} for the learned "
    f"table, {second_half['sinusoidal']:.2f} for sinusoidal, {second_half['rope']:.2f} for RoPE "
    f"and {second_half['none']:.2f} for NoPE (mean over seeds; best: {ranking[0]}). Limitations "
    f"of absolute embeddings, each visible above: a learned table has a hard maximum length (the "
    f"`IndexError` of section 4) and its rows are only as good as the positions trained (Figure "
    f"02.7: the rows past {train_len} never moved); fixed or learned, the position is *added* "
    f"to the content, so a rule such as 'look {lag} tokens back' is tied to absolute positions and need not transfer to new ones. A "
    f"relative scheme such as RoPE makes the attention score a function of the offset alone "
    f"(section 3: exact to {rope_spread:.0e}), so one rule serves every position, including "
    f"unseen ones; it costs no parameters and leaves the embeddings to the content. "
    + (f"Its extrapolation is imperfect here ({second_half['rope']:.2f} on the new positions "
       f"against {a['rope']['acc_train_len']:.2f} on the trained ones). The cause is not the "
       f"absolute rotation angle: by section 3's identity a query and the key {lag} tokens "
       f"behind it score exactly as they did in training, wherever they sit. What is new past "
       f"position {train_len - 1} is (i) offsets of {train_len} to {2 * train_len - 1} between "
       f"a query and the earliest keys, which training never showed, so nothing taught the "
       f"network to keep those scores low, and (ii) more keys in every softmax (up to "
       f"{2 * train_len} instead of {train_len}), so the attention mass spreads thinner. "
       + (f"The accuracy per position fits that: it falls with distance past the training "
          f"length ({decay.text}), as both effects grow with the position; this run does not "
          f"separate the two."
          if decay.winner == f"the first {quarter} new positions" else
          f"The accuracy per position does not measurably fall with distance past the "
          f"training length ({decay.text}), so this run cannot tell which of the two matters.")
       if second_half['rope'] < a['rope']['acc_train_len'] - 0.02 else
       f"Here it extrapolates fully ({second_half['rope']:.2f} on the new positions)."))

# %%
finish(store)
