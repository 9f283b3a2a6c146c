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
# # 08 · Transformer theory: the feed-forward block, normalisation, residuals, the paper
#
# Seed 002's part A questions that no other notebook answers, one section each, every answer
# backed by a check that runs here:
#
# * **1.4.1** what the two-layer MLP does in each block, and **1.4.2** why the same weights are
#   applied at every position (section 1);
# * **1.5.1** what LayerNorm and RMSNorm compute, their invariances and cost (section 2);
# * **1.5.2** why residual connections matter for deep networks (section 3);
# * **1.6.1** the tasks and results of the Transformer paper [Vaswani et al., 2017] (section 4);
# * **1.6.2** Transformers against RNNs/LSTMs: parallelism and performance (section 5).
#
# The seed student's answers are checked on the way; where they are wrong the text says so.
# The models are the pack's own: `utils.nn.layers` (norms, feed-forward), `utils.nn.lstm`
# (notebook 03) and `utils.nn.transformer_lm` (notebook 06).

# %% tags=["parameters"]
profile = "laptop"   # smoke | laptop | full
seeds = [0, 1, 2]
threads = 1          # torch threads for the timings of sections 2 and 5

# %%
from utils.notebook import answer, finish, show_source, start
from utils.params import Int

P = start("08_transformer_theory", globals(), threads=Int(min=1, max=256))

# %%
import numpy as np
import pandas as pd
import torch

from utils import hardware as hw
from utils import plots
from utils.nn.layers import FeedForward, LayerNorm, RMSNorm
from utils.nn.lstm import LSTM
from utils.nn.transformer_lm import TransformerConfig, TransformerLM
from utils.references import cite
from utils.runs import RunStore
from utils.seeding import seed_everything
from utils.stats import table

store = RunStore("08_transformer_theory")
torch.set_num_threads(P.threads)
MACHINE = hw.machine_fingerprint()
DEPTHS = P.pick(smoke=[2, 8], laptop=[2, 4, 8, 16, 32], full=[2, 4, 8, 16, 32, 64])
SEQ_LENS = P.pick(smoke=[16, 64], laptop=[16, 32, 64, 128, 256, 512],
                  full=[16, 32, 64, 128, 256, 512, 1024, 2048])
REPEATS = P.pick(smoke=2, laptop=5, full=9)
MIN_TIME = P.pick(smoke=0.005, laptop=0.05, full=0.2)
print(f"residual depths {DEPTHS} × {len(P.seeds)} seed(s); timing lengths {SEQ_LENS}, "
      f"{REPEATS} samples each (median), {P.threads} thread(s); load average now "
      f"{hw.load_average():.2f} on {hw.cpu_info().logical_cpus} CPUs")

# %% [markdown]
# ## 1 · The position-wise feed-forward network (questions 1.4.1 and 1.4.2)
#
# Each block of the 2017 Transformer has two sublayers: multi-head attention, which **mixes
# information across positions** (each output is a weighted average of value vectors of other
# tokens), and a feed-forward network applied to each position on its own:
#
# $$\mathrm{FFN}(x) = \max(0,\, xW_1 + b_1)\,W_2 + b_2,\qquad W_1 \in \mathbb{R}^{d\times d_{ff}},
#   \; W_2 \in \mathbb{R}^{d_{ff}\times d},$$
#
# with $d = 512$, $d_{ff} = 2048$ in the paper. Its role: attention only *moves* information
# between positions (for fixed weights it is linear in the values); the FFN is where each token's
# vector is transformed **non-linearly**: it expands to $d_{ff} = 4d$ features, gates them with
# the ReLU, and projects back. It holds about two thirds of a block's parameters
# ($2 d\, d_{ff} = 8d^2$ against $4d^2$ for the attention projections). The pack's models use SiLU/GELU or SwiGLU instead of
# ReLU (`utils.nn.layers`); the structure is the same.
#
# Three properties follow from the formula and are checked below: (a) output $t$ depends only on
# input $t$ (the Jacobian across positions is block-diagonal); (b) the paper's "two convolutions
# with kernel size 1" is the same computation written as a convolution (a 1×1 convolution over
# positions is a matrix multiply at each position); (c) permuting the positions permutes the
# outputs in the same way (the FFN is permutation-equivariant), because the same $W_1, W_2$ are
# used at every position.

# %%
show_source(FeedForward.forward)
seed_everything(P.seeds[0])
d, d_ff, S = 64, 256, 12
ffn = FeedForward(d, d_ff, activation="gelu")
torch.set_grad_enabled(False)                                   # checks only, no training
x = torch.randn(2, S, d)
y = ffn(x)

# (a) perturb position t: only output t changes
t = 5
x2 = x.clone()
x2[:, t] += torch.randn(d)
dy = (ffn(x2) - y).abs().amax(dim=(0, 2))                       # (S,) largest change per position
other_change = float(torch.cat([dy[:t], dy[t + 1:]]).max())
own_change = float(dy[t])

# (b) the same FFN as two 1-d convolutions with kernel size 1 over the positions
w1 = ffn.w1.weight.detach().unsqueeze(-1)                       # (d_ff, d, 1)
w2 = ffn.w2.weight.detach().unsqueeze(-1)                       # (d, d_ff, 1)
h = torch.nn.functional.conv1d(x.transpose(1, 2), w1)           # (B, d_ff, S)
y_conv = torch.nn.functional.conv1d(ffn.act(h), w2).transpose(1, 2)
conv_err = float((y_conv - y).abs().max())

# (c) permutation equivariance: FFN(P x) = P FFN(x)
perm = torch.randperm(S)
perm_err = float((ffn(x[:, perm]) - y[:, perm]).abs().max())

# parameter shares in the pack's 2017-style block (ReLU/GELU FFN with d_ff = 4d)
cfg = TransformerConfig(vocab_size=100, context_length=64, d_model=d, num_layers=1, num_heads=4,
                        ffn="gelu", d_ff=4 * d)
block = TransformerLM(cfg).layers[0]
n_attn = sum(p.numel() for p in block.attn.parameters())
n_ffn = sum(p.numel() for p in block.ffn.parameters())
# a per-position FFN (different weights at each of S positions) for comparison
per_position_params = S * n_ffn
torch.set_grad_enabled(True)
pd.DataFrame([
    ("largest output change at the perturbed position", f"{own_change:.3g}"),
    ("largest output change at any other position", f"{other_change:.3g}"),
    ("|conv1d(kernel 1) version − FFN| (max)", f"{conv_err:.2e}"),
    ("|FFN(permuted x) − permuted FFN(x)| (max)", f"{perm_err:.2e}"),
    (f"FFN parameters (d = {d}, d_ff = {4 * d})", f"{n_ffn:,}"),
    ("attention parameters", f"{n_attn:,}"),
    ("FFN share of the block", f"{n_ffn / (n_ffn + n_attn):.3f}"),
    (f"a separate FFN per position, S = {S}", f"{per_position_params:,}"),
], columns=["check", "value"]).style.hide(axis="index").set_caption(
    "Table 1: the position-wise FFN, checked on random inputs.")

# %%
answer(f"**1.4.1 — what the MLP does.** Attention mixes tokens; the FFN transforms each token's "
       f"vector on its own, non-linearly, through a {4 * d}-wide hidden layer (4d; 2048 for "
       f"d = 512 in the paper). Checked: perturbing position {t} changes output {t} by up to "
       f"{own_change:.3g} and every other output by {other_change:.3g}; the FFN holds "
       f"**{n_ffn / (n_ffn + n_attn):.0%}** of the block's parameters ({n_ffn:,} of "
       f"{n_ffn + n_attn:,}). *The student's answer*: the formula and the 512 → 2048 → 512 "
       f"shapes are right, but the FFN is not \"two convolutions\" that the expansion then "
       f"\"allows a kernel size of 1\": it is two linear maps applied at each position. The "
       f"paper's remark that it *can be described* as two convolutions with kernel size 1 is "
       f"an equivalent way to write the same computation (checked: the conv1d form differs by "
       f"{conv_err:.1e}, rounding), and the kernel size 1 is what makes it position-wise, not "
       f"a consequence of the expansion. The ReLU also does not \"adjust\" the network: it is "
       f"the non-linearity without which the two layers would collapse into one linear map.")
answer(f"**1.4.2 — why the same weights at every position.** Sharing makes the FFN a function "
       f"of the token's content only: permuting the positions permutes the outputs "
       f"(max error {perm_err:.1e}), so what a block learns at one position applies at every "
       f"other, word order is left to the positional encodings and attention, and the same "
       f"weights work for any sequence length, including lengths never seen in training. A "
       f"separate FFN per position would need {S}× the parameters ({per_position_params:,} "
       f"for S = {S}), could not run on longer sequences, and would see each position's "
       f"weights trained on 1/S of the data. The student's reasons (equal treatment, "
       f"parallelism, fixed model size) are right; the parallelism comes from the absence of "
       f"dependencies between positions: all positions form one (B·S × d) matrix multiply.")

# %% [markdown]
# ## 2 · LayerNorm and RMSNorm (question 1.5.1)
#
# For one token's vector $x \in \mathbb{R}^d$ [Ba et al., 2016; Zhang and Sennrich, 2019]:
#
# $$\mathrm{LayerNorm}(x)_i = \gamma_i\,\frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta_i,
#   \quad \mu = \tfrac1d\textstyle\sum_j x_j,\; \sigma^2 = \tfrac1d\sum_j (x_j-\mu)^2;
#   \qquad
#   \mathrm{RMSNorm}(x)_i = g_i\,\frac{x_i}{\sqrt{\tfrac1d\sum_j x_j^2 + \epsilon}}.$$
#
# LayerNorm removes the token's mean and scale, then applies a learned per-feature **scale**
# $\gamma$ and **shift** $\beta$: two separate vectors of $d$ numbers, one multiplied, one added.
# RMSNorm drops the centring and the shift: it only rescales the vector to unit root mean
# square. Consequences checked below: LayerNorm is invariant to $x \mapsto a x + c$ for any
# $a > 0$ and constant $c$; RMSNorm only to $x \mapsto a x$; both outputs (before the gains) have
# fixed size ($\|\hat x\|_2 = \sqrt d$), so the gradient with respect to $x$ is orthogonal to
# $x$ (RMSNorm) or to both $x - \mu$ and the all-ones vector (LayerNorm): a norm cannot pass on a
# gradient that would only change the scale. RMSNorm saves one reduction and one subtraction.

# %%
show_source(LayerNorm.forward, RMSNorm.forward)
seed_everything(P.seeds[0])
D = 512
ln, rms = LayerNorm(D), RMSNorm(D)
with torch.no_grad():                                   # non-trivial gains, to test them too
    ln.weight.uniform_(0.5, 1.5), ln.bias.normal_(), rms.weight.uniform_(0.5, 1.5)
ln.requires_grad_(False), rms.requires_grad_(False)     # fixed gains: these are checks
xs = torch.randn(8, D) * 3 + 1
a, c = 2.5, 4.0
plain_ln = LayerNorm(D, bias=False)
with torch.no_grad():
    ref_ln = torch.nn.functional.layer_norm(xs, (D,), ln.weight, ln.bias, eps=ln.eps)
    ref_rms = xs * torch.rsqrt(xs.pow(2).mean(-1, keepdim=True) + rms.eps) * rms.weight
    z = plain_ln(xs)
    y_ln, y_rms = ln(xs), rms(xs)
xg = xs.clone().requires_grad_(True)
g_rms = torch.autograd.grad((RMSNorm(D, eps=0.0)(xg) * torch.randn(8, D)).sum(), xg)[0]
xg2 = xs.clone().requires_grad_(True)
g_ln = torch.autograd.grad((LayerNorm(D, eps=0.0, bias=False)(xg2) * torch.randn(8, D)).sum(),
                           xg2)[0]
xc = xs - xs.mean(-1, keepdim=True)


def cos(u, v):
    return float((torch.nn.functional.cosine_similarity(u, v, dim=-1)).abs().max())


rows = [
    ("matches torch reference", float((y_ln - ref_ln).abs().max()),
     float((y_rms - ref_rms).abs().max())),
    ("per-token mean of the output before the gains", float(z.mean(-1).abs().max()),
     float((xs * torch.rsqrt(xs.pow(2).mean(-1, keepdim=True))).mean(-1).abs().max())),
    ("per-token RMS of the output before the gains",
     float(z.pow(2).mean(-1).sqrt().max()),
     float((xs * torch.rsqrt(xs.pow(2).mean(-1, keepdim=True))).pow(2).mean(-1).sqrt().max())),
    (f"change under x → {a}·x", float((ln(a * xs) - y_ln).abs().max()),
     float((rms(a * xs) - y_rms).abs().max())),
    (f"change under x → x + {c}", float((ln(xs + c) - y_ln).abs().max()),
     float((rms(xs + c) - y_rms).abs().max())),
    ("|cos(gradient, x − μ)| (LN) / |cos(gradient, x)| (RMS)", cos(g_ln, xc), cos(g_rms, xs)),
    ("|cos(gradient, 1)|", cos(g_ln, torch.ones_like(xs)), cos(g_rms, torch.ones_like(xs))),
    ("learned parameters", D * 2, D),
]
norm_checks = pd.DataFrame(rows, columns=["property", "LayerNorm", "RMSNorm"])
norm_checks.style.hide(axis="index").format("{:.3g}", subset=["LayerNorm", "RMSNorm"]).set_caption(
    f"Table 2: LayerNorm and RMSNorm on 8 random tokens of width {D} (gains drawn at random).")

# %%
def _norm_time(cfg, ctx):
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    xb = torch.randn(cfg["tokens"], cfg["d"])
    out = {"load_average": hw.load_average()}
    for name, mod in (("LayerNorm", LayerNorm(cfg["d"])), ("RMSNorm", RMSNorm(cfg["d"]))):
        with torch.no_grad():
            out[name] = hw.time_samples(lambda: mod(xb), repeats=cfg["repeats"],
                                        min_time=cfg["min_time"])["wall"]
    return out


norm_t = [store.run({"version": 1, "kind": "norm_time", "machine": MACHINE, "tokens": 4096,
                     "d": D, "threads": P.threads, "repeats": REPEATS, "min_time": MIN_TIME,
                     "seed": s}, _norm_time) for s in P.seeds]
nt = pd.DataFrame([{"norm": k, "seed": i, "µs per call": 1e6 * t}
                   for i, r in enumerate(norm_t) for k in ("LayerNorm", "RMSNorm")
                   for t in r[k]])
med = nt.groupby("norm")["µs per call"].median()
display(table(nt, "norm", ["µs per call"], best={"µs per call": "min"},
              caption=f"Table 3: time of one call on 4096 tokens × {D} (forward, "
                      f"{P.threads} thread(s), load average "
                      f"{min(r['load_average'] for r in norm_t):.1f}-"
                      f"{max(r['load_average'] for r in norm_t):.1f}).",
              count_label="samples"))

# %%
ln_row = dict(zip(norm_checks.property, norm_checks.LayerNorm))
rms_row = dict(zip(norm_checks.property, norm_checks.RMSNorm))
answer(f"**1.5.1 — what the norms compute.** LayerNorm centres each token's vector and divides "
       f"by its standard deviation (output mean {ln_row['per-token mean of the output before the gains']:.1e}, "
       f"RMS 1 before the gains), then multiplies by a learned γ and adds a learned β; RMSNorm "
       f"only divides by the root mean square and multiplies by g. LayerNorm is unchanged by "
       f"x → {a}x and by x → x + {c} (largest change {ln_row[f'change under x → {a}·x']:.1e} "
       f"and {ln_row[f'change under x → x + {c}']:.1e}); RMSNorm by the first "
       f"({rms_row[f'change under x → {a}·x']:.1e}) but not the second "
       f"({rms_row[f'change under x → x + {c}']:.2f}). Cost here: LayerNorm "
       f"{med['LayerNorm']:.0f} µs, RMSNorm {med['RMSNorm']:.0f} µs per call (median, "
       f"{med['LayerNorm'] / med['RMSNorm']:.2f}×; timed on a shared machine). "
       f"*Corrections to the student's answer:* (1) \"γ + β is the learning scale\": γ and β are "
       f"two learned vectors, γ a per-feature scale (multiplied) and β a per-feature shift "
       f"(added), not a sum; (2) normalisation does not by itself \"prevent vanishing "
       f"gradients\": it fixes the scale of each token's activations (and its Jacobian removes "
       f"the gradient along x: |cos| = {rms_row['|cos(gradient, x − μ)| (LN) / |cos(gradient, x)| (RMS)']:.1e} "
       f"for RMSNorm); it is the residual path that carries gradients through depth "
       f"(section 3); (3) the paper's LayerNorm(x + Sublayer(x)) is the *post-norm* layout; "
       f"most models since GPT-2, and the pack's `TransformerLM` by default, normalise the "
       f"sublayer's input instead {cite('xiong2020layernorm')}, x + Sublayer(Norm(x)), "
       f"which keeps an un-normalised residual path. Notebooks 04, 06 and 07 use these layers; this is their summary.")

# %% [markdown]
# ## 3 · Residual connections (question 1.5.2)
#
# A block with a residual connection computes $x_{l+1} = x_l + f_l(x_l)$, so
# $\partial x_{l+1}/\partial x_l = I + \partial f_l/\partial x_l$: the identity term carries the
# gradient from the loss back to the first layer unchanged, whatever the sublayers do
# [He et al., 2016]. Without it, $x_{l+1} = f_l(x_l)$ and the gradient is a product of $L$
# Jacobians, which shrinks or grows geometrically with depth. Measured: the pack's
# `TransformerLM` (pre-norm, option `residual=False` removes both skip connections of every
# block) at initialisation, one batch of random tokens, gradient norm of the first block's
# parameters and of the last block's, over depths and seeds.

# %%
def _grad_depth(cfg, ctx):
    seed_everything(cfg["seed"])
    mcfg = TransformerConfig(vocab_size=64, context_length=32, d_model=64, num_layers=cfg["L"],
                             num_heads=4, residual=cfg["residual"])
    model = TransformerLM(mcfg)
    ids = torch.randint(0, 64, (8, 32), generator=torch.Generator().manual_seed(cfg["seed"]))
    logits = model(ids[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 64), ids[:, 1:].reshape(-1))
    loss.backward()

    def gnorm(block):
        return float(torch.sqrt(sum(p.grad.pow(2).sum() for p in block.parameters())))

    return {"first": gnorm(model.layers[0]), "last": gnorm(model.layers[-1]),
            "loss": float(loss)}


gd_cfgs = [{"version": 1, "kind": "grad_depth", "L": L, "residual": r, "seed": s}
           for r in (True, False) for L in DEPTHS for s in P.seeds]
gd = pd.DataFrame([{**c, **store.run(c, _grad_depth)} for c in gd_cfgs])
gd["first / last"] = gd["first"] / gd["last"]
gd["residual"] = gd["residual"].map({True: "with", False: "without"})

fig, ax = plots.subplots(width=6.5, height=3.4)
for r, m in (("with", "o"), ("without", "s")):
    g = gd[gd.residual == r].groupby("L")["first"]
    ax.errorbar(g.mean().index, g.mean().values, yerr=g.std().fillna(0).values, marker=m,
                capsize=3, label=f"{r} residual connections")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("number of blocks L")
ax.set_ylabel("‖∇ first block‖₂ at init")
ax.legend()
plots.show(fig, "grad_vs_depth", f"Gradient norm of the first block's parameters at "
           f"initialisation against depth (mean ± std over {len(P.seeds)} seed(s)), pre-norm "
           f"TransformerLM, d = 64, with and without residual connections.")
gsum = gd.groupby(["residual", "L"])[["first", "last"]].agg(["mean", "std"])
gsum.columns = [f"{a} ({b})" for a, b in gsum.columns]
gsum.style.format("{:.3g}").set_caption(
    f"Table 4: gradient norms (L2, all parameters of the block) of the first and last block at "
    f"initialisation, mean and std over {len(P.seeds)} seed(s). A 0 is an exact zero: the "
    f"signal has underflowed.")

# %%
gm = gd.groupby(["residual", "L"])["first"].mean()
Lmin, Lmax = DEPTHS[0], DEPTHS[-1]
with_drop = gm[("with", Lmax)] / gm[("with", Lmin)]
without_drop = gm[("without", Lmax)] / gm[("without", Lmin)]
ratio_with = gd[(gd.residual == "with") & (gd.L == Lmax)]["first / last"].mean()
ratio_without = gd[(gd.residual == "without") & (gd.L == Lmax)]["first / last"].mean()
zero_at = [L for L in DEPTHS if gm[("without", L)] == 0]
answer(f"**1.5.2 — why residuals matter.** Going from {Lmin} to {Lmax} blocks, the first "
       f"block's gradient norm goes from {gm[('with', Lmin)]:.3g} to {gm[('with', Lmax)]:.3g} "
       f"(×{with_drop:.3g}) with residual connections and from {gm[('without', Lmin)]:.3g} to "
       f"{gm[('without', Lmax)]:.3g} without"
       + (f" (exactly 0 from L = {zero_at[0]} on: the signal itself shrinks below float32's "
          f"range, each norm's ε stops it from being rescaled)" if zero_at else "")
       + f"; at L = {Lmax} the first block receives {ratio_with:.3g}× the last block's gradient "
       f"with residuals and {ratio_without:.3g}× without. "
       + ("Without the identity path the gradient reaching the first block is a product of "
          f"{Lmax} Jacobians and " + ("explodes" if without_drop > 1 else "vanishes")
          + " geometrically with depth, so no single learning rate suits both ends of the "
          "network; with it, every block gets a gradient of the same order. "
          if max(without_drop, 1 / max(without_drop, 1e-30)) > 10 * max(with_drop, 1 / with_drop)
          else "At these depths the difference is smaller than expected; the table shows the "
          "numbers. ")
       + "Residuals also make a block easy to initialise as (near) identity, so adding layers "
       "cannot make the starting network worse, the degradation problem of deep plain nets "
       f"{cite('he2016deep')}. *The student's answer* gets the idea (information and gradients "
       "flow directly) but mixes in the LayerNorm formula and the decoder mask, which are not "
       "about residuals, and \"this avoids backpropagation\" is wrong: residuals do not avoid "
       "backpropagation, they give it an identity path through every block.")

# %% [markdown]
# ## 4 · The paper's tasks and results (question 1.6.1)
#
# [Vaswani et al., 2017] evaluate on **machine translation**, WMT 2014 English→German (4.5 M
# sentence pairs) and English→French (36 M), and on **English constituency parsing** (Penn
# Treebank WSJ section 23), to show the model generalises beyond translation. The BLEU scores and
# training costs below are the paper's Table 2 (arXiv v5; the NeurIPS proceedings' abstract
# gives 41.0 for the big model on EN-FR, the later arXiv versions 41.8). The paper estimates a
# training cost as hours × GPUs × an assumed sustained rate per GPU (9.5 TFLOP/s for a P100);
# the cell recomputes its two Transformer figures from the stated training times.

# %%
PAPER = pd.DataFrame([  # Table 2 of the paper: BLEU (newstest2014) and training cost (FLOPs)
    ("ByteNet", "CNN", 23.75, None, None, None),
    ("GNMT + RL", "LSTM", 24.6, 39.92, 2.3e19, 1.4e20),
    ("ConvS2S", "CNN", 25.16, 40.46, 9.6e18, 1.5e20),
    ("MoE", "LSTM + mixture of experts", 26.03, 40.56, 2.0e19, 1.2e20),
    ("GNMT + RL ensemble", "LSTM", 26.30, 41.16, 1.8e20, 1.1e21),
    ("ConvS2S ensemble", "CNN", 26.36, 41.29, 7.7e19, 1.2e21),
    ("Transformer (base)", "attention", 27.3, 38.1, 3.3e18, 3.3e18),
    ("Transformer (big)", "attention", 28.4, 41.8, 2.3e19, 2.3e19),
], columns=["model", "kind", "BLEU EN-DE", "BLEU EN-FR", "FLOPs EN-DE", "FLOPs EN-FR"])
P100 = 9.5e12                        # the paper's assumed sustained FLOP/s of one P100
base_cost = 12 * 3600 * 8 * P100     # 12 hours on 8 P100s (100k steps)
big_cost = 3.5 * 86400 * 8 * P100    # 3.5 days on 8 P100s (300k steps)
display(PAPER.style.hide(axis="index").format(
    {"BLEU EN-DE": "{:.2f}", "BLEU EN-FR": "{:.2f}", "FLOPs EN-DE": "{:.1e}",
     "FLOPs EN-FR": "{:.1e}"}, na_rep="–").set_caption(
    "Table 5: BLEU on newstest2014 and training cost, from Table 2 of Vaswani et al. (2017)."))
best_prev_de = PAPER.iloc[:6]["BLEU EN-DE"].max()
best_prev_fr_single = PAPER.iloc[:4]["BLEU EN-FR"].max()
big = PAPER.set_index("model").loc["Transformer (big)"]
base = PAPER.set_index("model").loc["Transformer (base)"]
gnmt = PAPER.set_index("model").loc["GNMT + RL"]
print(f"recomputed: base 12 h × 8 × 9.5 TFLOP/s = {base_cost:.2e} FLOPs (paper 3.3e18); "
      f"big 3.5 d × 8 × 9.5 TFLOP/s = {big_cost:.2e} (paper 2.3e19)")

# %%
answer(f"**1.6.1 — tasks and results.** Two translation tasks, WMT 2014 EN→DE and EN→FR, plus "
       f"English constituency parsing. The big Transformer reaches **{big['BLEU EN-DE']} BLEU** "
       f"on EN-DE, {big['BLEU EN-DE'] - best_prev_de:.2f} above the best previous result "
       f"including ensembles ({best_prev_de}), and **{big['BLEU EN-FR']}** on EN-FR (best "
       f"previous single model {best_prev_fr_single}); its EN-FR training cost "
       f"({big['FLOPs EN-FR']:.1e} FLOPs, recomputed here as {big_cost:.2e}) is "
       f"{gnmt['FLOPs EN-FR'] / big['FLOPs EN-FR']:.1f}× less than GNMT + RL's. The base model, "
       f"trained for 12 hours ({base_cost:.1e} FLOPs recomputed), already beats every earlier "
       f"EN-DE model. On WSJ parsing it reaches 91.3 F1 trained on WSJ alone and 92.7 "
       f"semi-supervised. *The student's answer* has the two WMT tasks and the scores right "
       f"(28.4; 41.8 in the arXiv version), but omits parsing, and \"1/4 the time\" is not in the "
       f"paper: it gives costs in FLOPs; the big model's equals GNMT + RL's on EN-DE "
       f"({big['FLOPs EN-DE']:.1e}) and is {gnmt['FLOPs EN-FR'] / big['FLOPs EN-FR']:.1f}× less "
       f"on EN-FR, and the base model needs {gnmt['FLOPs EN-DE'] / base['FLOPs EN-DE']:.1f}× "
       f"less than GNMT + RL on EN-DE. Paper: {cite('vaswani2017attention')}.")

# %% [markdown]
# ## 5 · Transformers vs RNNs/LSTMs: parallelism and performance (question 1.6.2)
#
# An LSTM computes $h_t = f(h_{t-1}, x_t)$: step $t$ cannot start before step $t-1$ ends, so a
# sequence of length $S$ is $S$ dependent steps, each a small $(B \times d)\cdot(d \times 4d)$
# matrix product [Hochreiter and Schmidhuber, 1997]. A Transformer layer has no dependency
# between positions: all $S$ positions go through one $(B S \times d)$ matrix product, plus
# attention's $S^2$ scores, also computed at once. Measured below: the pack's own `LSTM`
# (notebook 03) and a `TransformerLM` stack of the same width and depth, forward pass over one
# batch, time per sequence length (median of the samples, one process).

# %%
def _seq_time(cfg, ctx):
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    B, d, L, S = cfg["batch"], cfg["d"], cfg["layers"], cfg["S"]
    lstm = LSTM(d, d, num_layers=L)
    tcfg = TransformerConfig(vocab_size=64, context_length=max(cfg["S"], 16), d_model=d,
                             num_layers=L, num_heads=4)
    tf = TransformerLM(tcfg)
    x = torch.randn(B, S, d)
    out = {"load_average": hw.load_average()}
    with torch.no_grad():
        out["LSTM"] = hw.time_samples(lambda: lstm(x), repeats=cfg["repeats"],
                                      min_time=cfg["min_time"])["wall"]
        out["Transformer"] = hw.time_samples(
            lambda: [blk(x, torch.arange(S), None) for blk in tf.layers],
            repeats=cfg["repeats"], min_time=cfg["min_time"])["wall"]
    return out


st_cfgs = [{"version": 1, "kind": "seq_time", "machine": MACHINE, "S": S, "batch": 8, "d": 128,
            "layers": 2, "threads": P.threads, "repeats": REPEATS, "min_time": MIN_TIME,
            "seed": P.seeds[0]} for S in SEQ_LENS]
st_res = [store.run(c, _seq_time) for c in st_cfgs]
stt = pd.DataFrame([{"S": c["S"], "model": m, "ms": 1e3 * t}
                    for c, r in zip(st_cfgs, st_res) for m in ("LSTM", "Transformer")
                    for t in r[m]])
st_med = stt.groupby(["S", "model"])["ms"].median().unstack()
loads = [r["load_average"] for r in st_res]

fig, ax = plots.subplots(width=6.5, height=3.4)
for m, mk in (("LSTM", "o"), ("Transformer", "s")):
    ax.plot(st_med.index, st_med[m], marker=mk, label=f"{m} (2 layers, d = 128)")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("sequence length S")
ax.set_ylabel("forward time per batch of 8 (ms, median)")
ax.legend()
plots.show(fig, "lstm_vs_transformer", f"Forward time against sequence length, the pack's LSTM "
           f"against TransformerLM blocks of the same width and depth, batch 8, {P.threads} "
           f"thread(s), load average {min(loads):.1f}-{max(loads):.1f} (shared machine).")
slope = {m: np.polyfit(np.log2(st_med.index), np.log2(st_med[m]), 1)[0] for m in st_med}
st_med.assign(**{"LSTM / Transformer": st_med["LSTM"] / st_med["Transformer"]}).style.format(
    precision=2).set_caption("Table 6: median forward time (ms) per sequence length.")

# %%
Smax, L_ = SEQ_LENS[-1], st_cfgs[0]["layers"]
ratio = st_med["LSTM"] / st_med["Transformer"]
tf_faster = [S for S in SEQ_LENS if ratio[S] > 1]
per_step_us = 1e3 * st_med.loc[Smax, "LSTM"] / (L_ * Smax)
if tf_faster and len(tf_faster) == len(SEQ_LENS):
    cpu_verdict = (f"the Transformer blocks are faster at every length measured, "
                   f"{ratio.min():.2f}-{ratio.max():.2f}×: one large matrix product per layer "
                   f"beats S small ones even on one core")
elif tf_faster:
    cpu_verdict = (f"the Transformer blocks are faster at S = {', '.join(map(str, tf_faster))} "
                   f"and the LSTM at the other lengths (LSTM / Transformer time "
                   f"{ratio.min():.2f}-{ratio.max():.2f}×, noisy on a shared machine): with "
                   f"{P.threads} thread(s) there are no idle parallel units for the Transformer "
                   f"to fill, so total work decides, and attention's S² work grows faster than "
                   f"the LSTM's S")
else:
    cpu_verdict = (f"the LSTM is faster at every length measured (LSTM / Transformer time "
                   f"{ratio.min():.2f}-{ratio.max():.2f}×): with {P.threads} thread(s) there are "
                   f"no idle parallel units for the Transformer to fill, so total work decides")
answer(f"**1.6.2 — parallelism and performance.** *Parallelism:* per layer, the LSTM runs S "
       f"dependent steps, the Transformer one step with no dependency between positions: at "
       f"S = {Smax} and {L_} layers that is {L_ * Smax} sequential steps against {L_}. Each "
       f"LSTM step here (batch {st_cfgs[0]['batch']}, width {st_cfgs[0]['d']}) takes "
       f"{per_step_us:.0f} µs, far too little work to occupy a GPU's thousands of lanes, "
       f"and no amount of hardware can shorten the chain; the Transformer's work per layer is "
       f"one (B·S × d) product that spreads over any number of cores, which is why it trains "
       f"much faster on GPUs and TPUs. Measured on this CPU (1 process, {P.threads} thread(s), "
       f"load {min(loads):.1f}-{max(loads):.1f}, medians): {cpu_verdict}; time grows as "
       f"S^{slope['LSTM']:.2f} for the LSTM and S^{slope['Transformer']:.2f} for the "
       f"Transformer over S = {SEQ_LENS[0]}-{Smax}. The price of attention is that S² term "
       f"(notebook 01) and, in generation, a KV cache that grows with the context where an LSTM "
       f"carries a fixed-size state. *Performance:* in the paper the base Transformer scores "
       f"{base['BLEU EN-DE']} BLEU on EN-DE against {gnmt['BLEU EN-DE']} for the 8-layer LSTM "
       f"GNMT + RL with {gnmt['FLOPs EN-DE'] / base['FLOPs EN-DE']:.1f}× less training compute "
       f"(Table 5), and self-attention connects any two positions in one step where an RNN "
       f"needs their distance in steps. *The student's answer* is right in substance; \"they "
       f"are faulty their less reliant on parallelization\" should read: RNNs cannot "
       f"parallelise over positions, because each step needs the previous hidden state.")

# %% [markdown]
# ## References

# %%
from utils.references import show_references

show_references()

# %%
finish(store)
