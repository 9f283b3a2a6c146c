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
# # 04 · A GPT from scratch
#
# **What this notebook answers** (seed 001, problem 2): **1** layer normalisation with the
# biased variance; **2** splitting and merging attention heads; **3** causal attention weights;
# **4-5** applying attention and the multi-head forward pass; **6** the attention module's
# parameter count; **7-8** sinusoidal position encodings and the embedding; **9** the GPT
# forward pass (logits, hidden states, attention maps); **10** the decoder's parameter count.
# Notebooks 10-16 train this model on modular arithmetic.
#
# Every piece is the code of `utils/nn/gpt.py`, printed here, then checked against torch's
# built-ins (`nn.LayerNorm`, `nn.MultiheadAttention`) with the same weights.

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]

# %%
from utils.notebook import answer, finish, show_source, start

P = start("04_gpt", globals())

# %%
import itertools

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from utils import plots
from utils.nn.functional import causal_mask, softmax
from utils.nn.gpt import (GPT, Block, Decoder, GPTEmbedding, LayerNorm, MultiHeadedAttention,
                          create_sinusoidal_embeddings, decoder_parameter_count,
                          gpt_parameter_count, mha_parameter_count)
from utils.seeding import seed_everything


# %% [markdown]
# ## 1. Layer normalisation (question 1)
#
# Over the last dimension of $\mathbf x\in\mathbb R^{\dots\times n}$:
# $$\mathrm{LN}(\mathbf x)=\frac{\mathbf x-\mathbb E[\mathbf x]}{\sqrt{\mathrm{Var}[\mathbf x]+\epsilon}}
# \odot\boldsymbol\gamma+\boldsymbol\beta,\qquad
# \mathrm{Var}[\mathbf x]=\frac1n\sum_i(x_i-\bar x)^2 .$$
# The variance is the **biased** estimate ($1/n$); `torch.var`'s default divides by $n-1$. We
# may not call `nn.LayerNorm` or `torch.layer_norm`, so the module computes the two moments
# itself (it imports `softmax` and `causal_mask` from `utils.nn.functional`, notebook 01):

# %%
show_source(LayerNorm.forward)

# %%
rows = []
for seed in P.seeds:
    seed_everything(seed)
    ours = LayerNorm(128)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    ref = nn.LayerNorm(128)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(8, 6, 128) * 3 + 1
    # the same formula with torch's default (unbiased) variance, for contrast
    unbiased = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + 1e-5) \
        * ours.weight + ours.bias
    rows.append({"seed": seed, "max |ours − nn.LayerNorm|": (ours(x) - ref(x)).abs().max().item(),
                 "max |unbiased − nn.LayerNorm|": (unbiased - ref(x)).abs().max().item()})
ln_table = pd.DataFrame(rows)
ln_table.style.format("{:.1e}", subset=ln_table.columns[1:]).hide(axis="index").set_caption(
    "Table 1: our LayerNorm against nn.LayerNorm (float32, n = 128, random affine parameters), "
    "and what the unbiased variance would give instead.")

# %%
answer(f"**Question 1.** Our LayerNorm matches `nn.LayerNorm` to "
       f"**{ln_table.iloc[:, 1].max():.1e}** (float32 rounding); dividing by $n-1$ instead of "
       f"$n$ would be off by up to {ln_table.iloc[:, 2].max():.1e} at $n=128$ (a factor "
       f"$\\sqrt{{127/128}}$ on the normalised values).")

# %% [markdown]
# ## 2. Heads: split and merge (question 2)
#
# The projections produce all $m$ heads side by side: a (B, S, m·d) tensor. `split_heads`
# reshapes it to (B, S, m, d) and swaps the sequence and head axes, giving (B, m, S, d), so
# that every head is an independent (S, d) matrix for batched matrix products; `merge_heads`
# undoes it:
# $$y[i,j,k,l]=x[i,k,\;d\cdot j+l],\qquad 0\le j<m,\;0\le l<d .$$
# The seed prints the index as `num_heads * j + l` (with `l` misread as `1`); that map sends
# two different $(j,l)$ to the same column unless $m=d$, so the stride must be the head size.

# %%
show_source(MultiHeadedAttention.split_heads)
show_source(MultiHeadedAttention.merge_heads)

# %%
mha = MultiHeadedAttention(12, 3)                            # m = 3 heads of size d = 4
B, S, m, d = 2, 5, 3, 4
x = torch.arange(B * S * m * d, dtype=torch.float32).reshape(B, S, m * d)
y = mha.split_heads(x)
by_index = all(y[i, j, k, l] == x[i, k, d * j + l] for i, j, k, l in
               itertools.product(range(B), range(m), range(S), range(d)))
seed_map = {(j, l): m * j + l for j in range(m) for l in range(d)}
answer(f"**Question 2.** `split_heads` maps {tuple(x.shape)} → {tuple(y.shape)}; every entry "
       f"follows $y[i,j,k,l] = x[i,k,d j+l]$: **{by_index}**; `merge_heads(split_heads(x)) == x`: "
       f"**{torch.equal(mha.merge_heads(y), x)}** (and the other way round: "
       f"{torch.equal(mha.split_heads(mha.merge_heads(y)), y)}). The printed `num_heads * j + l` "
       f"would reach only {len(set(seed_map.values()))} of the {m * d} columns here.")

# %% [markdown]
# ## 3. Causal attention weights (question 3)
#
# For each head, $\mathbf s=\mathbf q\mathbf k^\top/\sqrt d$ (S × S); a language model may only
# look back, so positions $k>t$ are set to $-\infty$ before the softmax, which turns them into
# exact zeros. One vectorised expression handles all sequences and heads, returning
# (B, m, S, S):

# %%
show_source(MultiHeadedAttention.get_attention_weights)
show_source(MultiHeadedAttention.apply_attention)
show_source(MultiHeadedAttention.forward)

# %%
seed_everything(P.seeds[0])
S = 6
mha = MultiHeadedAttention(16, 2)
q, k = torch.randn(1, 2, S, 8), torch.randn(1, 2, S, 8)
w = mha.get_attention_weights(q, k)
fig, axes = plots.subplots(1, 3, width=11, height=3.4, layout="constrained")
panels = [(causal_mask(S).float(), "mask M (1 = may attend)"),
          ((q @ k.transpose(-1, -2) / 8 ** 0.5)[0, 0], "scores $qk^T/\\sqrt{d}$, head 1"),
          (w[0, 0], "weights softmax(masked), head 1")]
for ax, (mat, title) in zip(axes, panels):
    im = ax.imshow(mat.numpy(), cmap="viridis")
    ax.grid(False)
    ax.set_title(title)
    ax.set_xlabel("key position $k$")
    ax.set_ylabel("query position $t$")
    fig.colorbar(im, ax=ax, fraction=0.046)
plots.show(fig, "causal_attention",
           "From scores to causal attention weights for one random head: the mask keeps "
           "$k \\le t$; the masked scores become exact zeros after the softmax, and every row "
           "sums to 1 (the first query can only attend to itself).")

# %%
rows = []
for seed in P.seeds:
    seed_everything(seed)
    ours = MultiHeadedAttention(128, 4).double()
    with torch.no_grad():
        for lin in (ours.W_Q, ours.W_K, ours.W_V, ours.W_O):
            lin.bias.normal_()
    ref = nn.MultiheadAttention(128, 4, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.W_Q.weight, ours.W_K.weight, ours.W_V.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.W_Q.bias, ours.W_K.bias, ours.W_V.bias]))
        ref.out_proj.load_state_dict(ours.W_O.state_dict())
    x = torch.randn(4, 6, 128, dtype=torch.float64)
    out, w = ours(x, x, x)
    future = ~causal_mask(6)                              # torch's convention: True = blocked
    out_r, w_r = ref(x, x, x, attn_mask=future, average_attn_weights=False)
    rows.append({"seed": seed, "output": (out - out_r).abs().max().item(),
                 "attention weights": (w - w_r).abs().max().item(),
                 "weight above the diagonal": torch.triu(w, 1).abs().max().item(),
                 "max |row sum − 1|": (w.sum(-1) - 1).abs().max().item()})
mha_table = pd.DataFrame(rows)
mha_table.style.format("{:.1e}", subset=mha_table.columns[1:]).hide(axis="index").set_caption(
    "Table 2: our multi-head attention (d = 128, 4 heads, random biases) against "
    "nn.MultiheadAttention with the same weights and a causal mask (float64).")

# %%
answer(f"**Questions 3-5.** The attention weights have shape (B, m, S, S) = {tuple(w.shape)}, "
       f"are exactly zero above the diagonal (largest: {mha_table.iloc[:, 3].max():.1e}) and "
       f"rows sum to 1; outputs and weights equal `nn.MultiheadAttention`'s to "
       f"**{mha_table.iloc[:, 1:3].to_numpy().max():.1e}**.")

# %% [markdown]
# ## 4. Parameters of the attention module (question 6)
#
# Four projections $\mathbf W_Q,\mathbf W_K,\mathbf W_V,\mathbf W_O$, each $d_\text{model}\times
# d_\text{model}$ with $d_\text{model}=m\cdot d_h$ (heads × head size), each with a
# $d_\text{model}$ bias when `bias=True`:
# $$P_\text{MHA}=4\,(m d_h)^2+4\,b\,m d_h .$$
# The number of heads does not change the count, only how $d_\text{model}$ is cut.

# %%
grid = []
for m_, hs, b in itertools.product([1, 2, 4, 8], [8, 16, 32], [True, False]):
    n = sum(p.numel() for p in MultiHeadedAttention(m_ * hs, m_, bias=b).parameters())
    grid.append({"num_heads": m_, "head_size": hs, "bias": b, "counted": n,
                 "formula": mha_parameter_count(m_, hs, b)})
grid = pd.DataFrame(grid)
bad6 = int((grid.counted != grid.formula).sum())
answer(f"**Question 6.** $P = 4(m d_h)^2 + 4 m d_h$ with bias and $4(m d_h)^2$ without; it "
       f"matches the counted parameters on all {len(grid)} shapes tried ({bad6} mismatches). "
       f"The default (4 heads of 32) has **{mha_parameter_count(4, 32, True):,}** "
       f"({mha_parameter_count(4, 32, False):,} without bias). The seed's answer is the same.")

# %% [markdown]
# ## 5. Sinusoidal position encodings (questions 7-8)
#
# Attention itself ignores order (permuting the keys permutes nothing in the output of a
# query), so each position gets a fixed vector added to its token embedding:
# $$\mathrm{PE}(pos,2k)=\sin\!\big(pos/10000^{k/d}\big),\qquad
# \mathrm{PE}(pos,2k+1)=\cos\!\big(pos/10000^{k/d}\big).$$
# This is the seed's (and the starter's) exponent $k/d$; Vaswani et al. use $2k/d$, so here the
# wavelengths span $2\pi$ to only $2\pi\cdot10^{2}$ (at $d=128$, largest $k=63$: $10000^{63/128}
# \approx 93$) instead of $2\pi\cdot10^4$. Either works for our six positions. The matrix is not
# learned: `register_buffer` stores it with the model (state dict, device moves) without making
# it a parameter.

# %%
show_source(create_sinusoidal_embeddings)
show_source(GPTEmbedding.__init__)
show_source(GPTEmbedding.forward)

# %%
pe = create_sinusoidal_embeddings(64, 128)
fig, axes = plots.subplots(1, 3, width=11, height=3.4, layout="constrained")
im = axes[0].imshow(pe.numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
axes[0].grid(False)
axes[0].set_xlabel("dimension $i$")
axes[0].set_ylabel("position $pos$")
fig.colorbar(im, ax=axes[0], label="PE(pos, i)")
for i in (0, 30, 60, 126):
    axes[1].plot(pe[:, i].numpy(), label=f"i = {i}")
axes[1].set_xlabel("position $pos$")
axes[1].set_ylabel("PE(pos, i)")
axes[1].set_ylim(-1.1, 1.6)
axes[1].legend(ncol=4, loc="upper center", fontsize=7, handlelength=1.2, columnspacing=0.8)
sim = pe @ pe.T
im = axes[2].imshow(sim.numpy(), cmap="viridis")
axes[2].grid(False)
axes[2].set_xlabel("position $pos'$")
axes[2].set_ylabel("position $pos$")
fig.colorbar(im, ax=axes[2], label="PE(pos)·PE(pos')")
plots.show(fig, "sinusoidal_encodings",
           "Sinusoidal encodings for 64 positions, $d = 128$ (exponent $k/d$). Left: the matrix; "
           "middle: single dimensions oscillate more slowly as $i$ grows; right: the dot product "
           "of two encodings depends only on their distance $pos - pos'$ (constant along "
           "diagonals), which lets attention read relative positions.")

# %%
emb = GPTEmbedding(36, 128, 6, padding_index=35)
diag_spread = max(float(torch.diagonal(sim, off).std()) for off in range(-8, 9))
answer(f"**Questions 7-8.** The buffer `position_encoding` has shape "
       f"{tuple(emb.position_encoding.shape)}, is in the state dict "
       f"({'position_encoding' in emb.state_dict()}) and among the parameters: "
       f"{any(p is emb.position_encoding for p in emb.parameters())}. The embedding of a batch "
       f"(B, S) is `tokens(x) + position_encoding[:S]`, shape (B, S, 128). Along any diagonal of "
       f"the dot-product matrix the values vary by at most {diag_spread:.1e} (std): it depends on "
       f"the distance only, as $\\sin a\\sin b+\\cos a\\cos b=\\cos(a-b)$ predicts.")

# %% [markdown]
# ## 6. Blocks, decoder and the GPT (question 9)
#
# The starter's block is **post-LN**: $\mathbf x\leftarrow\mathrm{LN}(\mathbf x+\mathrm{Attn}(\mathbf x))$,
# then $\mathbf x\leftarrow\mathrm{LN}(\mathbf x+\mathrm{Dropout}(\mathrm{FFN}(\mathbf x)))$ with a
# bias-free FFN $d\to 4d\to d$ and GELU. The decoder stacks $L$ blocks and the GPT adds the
# embedding below and a linear classifier above (no final LayerNorm: the last block already ends
# with one). It returns the logits, every block's output `hidden_states` (B, L, S, d) — as the
# seed asks; the starter's decoder also stacks the embedding as an extra first entry — and the
# attention maps (B, L, m, S, S).

# %%
show_source(Block.forward)
show_source(Decoder.forward)
show_source(GPT.forward)

# %%
seed_everything(P.seeds[0])
V, d, m, L, S = 36, 128, 4, 2, 6
gpt = GPT(m, L, d, V, S, padding_index=V - 1).eval()
x = torch.randint(0, V - 1, (4, S))
with torch.no_grad():
    logits, (hidden, attentions) = gpt(x)
    base = logits
    effect = np.zeros((S, S))
    for s in range(S):
        y = x.clone()
        y[:, s] = (y[:, s] + 1 + torch.randint(0, V - 2, (4,))) % (V - 1)
        effect[:, s] = (gpt(y)[0] - base).abs().amax(dim=(0, 2)).numpy()
print("logits", tuple(logits.shape), " hidden_states", tuple(hidden.shape),
      " attentions", tuple(attentions.shape))

# %%
fig, axes = plots.subplots(1, 2, width=9.5, height=3.6, layout="constrained")
im = axes[0].imshow(effect, cmap="viridis")
axes[0].grid(False)
axes[0].set_xlabel("changed input position $s$")
axes[0].set_ylabel("logit position $t$")
fig.colorbar(im, ax=axes[0], label="max |Δ logit|")
im = axes[1].imshow(attentions[0, -1, 0].numpy(), cmap="viridis", vmin=0, vmax=1)
axes[1].grid(False)
axes[1].set_xlabel("key position")
axes[1].set_ylabel("query position")
axes[1].set_title("last layer, head 1, sequence 1")
fig.colorbar(im, ax=axes[1], label="attention weight")
plots.show(fig, "gpt_causality",
           "The untrained GPT ($L=2$, $d=128$, 4 heads). Left: largest change of the logits at "
           "$t$ when the token at $s$ is replaced — zero above the diagonal, the model is causal. "
           "Right: one of its attention maps (B, L, m, S, S), lower triangular with rows summing "
           "to 1.")

# %%
answer(f"**Question 9.** For (B, S) = {tuple(x.shape)} the GPT returns logits "
       f"{tuple(logits.shape)}, hidden_states {tuple(hidden.shape)} (the last entry equals the "
       f"input of the classifier: "
       f"{torch.allclose(gpt.classifier(hidden[:, -1]), logits, atol=1e-6)}) and attentions "
       f"{tuple(attentions.shape)}. Replacing a future token changes earlier logits by at most "
       f"**{np.triu(effect, 1).max():.1e}**. `tests/test_gpt.py` also checks the whole model "
       f"against blocks rebuilt from `nn.MultiheadAttention` and `nn.LayerNorm` (float64, "
       f"atol 1e-10).")

# %% [markdown]
# ## 7. Parameters of the decoder (question 10)
#
# Per block: the attention module (question 6), the bias-free FFN with
# $d\cdot md+md\cdot d=2md^2$ weights, and **two LayerNorms with a weight and a bias each,
# $4d$**:
# $$P_\text{decoder}=L\,\big(4d^2+4bd+2md^2+4d\big).$$
# The seed's printed answer, $L(4d^2+4d+2d^2m)$ with bias and $L(4d^2+2d^2m)$ without, leaves out
# the LayerNorm parameters. (LayerNorm always has its affine parameters; `bias` only concerns the
# attention projections.)

# %%
rows = []
for d_, m_, L_, mult, b in itertools.product([64, 128, 256], [4], [1, 2, 3], [4], [True, False]):
    g = GPT(m_, L_, d_, V, S, multiplier=mult, bias_attention=b)
    counted = sum(p.numel() for p in g.decoder.parameters())
    seed_answer = L_ * (4 * d_ ** 2 + (4 * d_ if b else 0) + 2 * d_ ** 2 * mult)
    rows.append({"d": d_, "L": L_, "bias": b, "counted": counted,
                 "formula": decoder_parameter_count(d_, m_, mult, L_, b),
                 "seed's answer": seed_answer, "counted − seed's": counted - seed_answer})
dec = pd.DataFrame(rows)
dec.style.hide(axis="index").set_caption(
    "Table 3: decoder parameters (4 heads, multiplier 4) counted in the built model, from the "
    "formula with the LayerNorms, and from the seed's answer; the gap is 4dL, the LayerNorms.")

# %%
bad10 = int((dec.counted != dec.formula).sum())
gap_is_ln = bool((dec["counted − seed's"] == 4 * dec.d * dec.L).all())
full_default = sum(p.numel() for p in GPT(4, 2, 128, V, S).parameters())
answer(f"**Question 10.** $P_\\text{{decoder}} = L(4d^2 + 4bd + 2md^2 + 4d)$, where $m$ is the "
       f"multiplier and the last $4d$ are the two LayerNorms; it matches every counted model "
       f"({bad10} mismatches in {len(dec)}). The seed's answer is short by "
       f"{'exactly $4dL$ in every row' if gap_is_ln else 'more than the LayerNorms'}. For $d=128$, $L=2$, $m=4$: **{decoder_parameter_count(128, 4, 4, 2):,}** "
       f"decoder parameters; with the embedding and classifier ($V={V}$) the GPT has "
       f"{full_default:,} = {gpt_parameter_count(V, 128, 4, 2):,} (formula), "
       f"{full_default - V * 128:,} without the token embedding (the $P$ of the scaling studies).")

# %%
finish()
