"""Transformer workload accounting: parameters, FLOPs, memory and time, from the shapes alone.

Taught in notebook 00 (hardware: seed 002 part C) and used again in notebook 06 (seed 004:
``transformer_accounting`` and ``adamwAccounting``) and notebook 32 (seed 000, Q3: the FLOPs and
bytes of one generated token with a KV cache, :func:`decode_flops`, :func:`decode_bytes`, and the
crossovers :func:`crossover_vocab` / :func:`crossover_context`; grouped-query and multi-query
attention through ``n_kv_heads`` and ``head_dim``). Every formula below is derived in its
docstring and checked in ``tests/test_accounting.py`` (decode: ``tests/test_decode_accounting.py``)
against counts taken from real models:
``torch.utils.flop_counter.FlopCounterMode`` for FLOPs, ``sum(p.numel())`` for parameters,
``torch.optim.AdamW``'s state for optimizer memory and ``torch.autograd.graph.saved_tensors_hooks``
for the activations autograd keeps for the backward pass.

Conventions (the same as FlopCounterMode's):

* a matrix product (m×k)·(k×n) costs **2·m·k·n FLOPs** (one multiply and one add per
  multiply-accumulate); bias additions, norms, softmax and activations are *not* matmul FLOPs and
  are reported separately (:func:`elementwise_flops`);
* attention scores are counted for the full T×T square even with a causal mask (what a plain
  matmul does, and what FlopCounterMode counts); ``causal_skip=True`` halves them, as a
  FlashAttention-style kernel that skips masked blocks would (about T²/2);
* memory in bytes; fp32 = 4 bytes unless a ``bytes_per_*`` argument says otherwise.

Symbols: B batch, T context (tokens per sequence), d = ``d_model``, L layers, h heads,
d_h = d/h, f = ``d_ff`` (MLP width), V vocabulary.

Two families are covered by one :class:`TransformerConfig`:

* **GPT-2 style** (``GPT2_SMALL`` ... ``GPT2_XL``): GELU MLP with f = 4d, LayerNorm (weight and
  bias), biases in every Linear, learned position embeddings, LM head tied to the token
  embedding (Radford et al., 2019);
* **seed-004 / LLaMA style** (:func:`swiglu_variant`): SwiGLU MLP with three matrices (Shazeer,
  2020), RMSNorm (weight only), no biases, RoPE (no position parameters), untied LM head.

The reference model (:class:`ReferenceTransformer`) is a plain-torch pre-norm decoder used only
to *check* the formulas; the pack's teaching models live in ``utils/nn``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

MLP_KINDS = ("gelu", "swiglu")
NORM_KINDS = ("layernorm", "rmsnorm")
POSITION_KINDS = ("learned", "rope")
ATTENTION_KINDS = ("naive", "sdpa")


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TransformerConfig:
    """Shapes and architecture choices of a decoder-only Transformer LM.

    ``d_ff`` defaults to 4·d_model (GPT-2). ``context_length`` is the longest context the model
    supports (it sizes learned position tables); FLOPs and activations take the actual sequence
    length ``T`` as an argument. ``n_kv_heads`` (grouped-query attention, Ainslie et al., 2023;
    1 = multi-query, Shazeer, 2019) and ``head_dim`` (Gemma's 256-wide heads) describe published
    models whose K/V or head widths differ from d_model: the queries have width
    d_attn = n_heads·d_head, the keys and values d_kv = kv_heads·d_head. Parameters and FLOPs
    follow them; :func:`activation_bytes` and :func:`operation_costs` assume the default shapes.
    """

    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    context_length: int
    d_ff: int | None = None
    mlp: str = "gelu"
    norm: str = "layernorm"
    bias: bool = True
    positions: str = "learned"
    tied_embeddings: bool = True
    name: str = ""
    n_kv_heads: int | None = None      # None: n_heads (multi-head); 1: multi-query; else GQA
    head_dim: int | None = None        # None: d_model / n_heads; else each head's width

    def __post_init__(self):
        for field in ("d_model", "n_layers", "n_heads", "vocab_size", "context_length"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TransformerConfig.{field} must be a positive int, got {value!r}")
        if self.d_ff is None:
            object.__setattr__(self, "d_ff", 4 * self.d_model)
        if isinstance(self.d_ff, bool) or not isinstance(self.d_ff, int) or self.d_ff < 1:
            raise ValueError(f"TransformerConfig.d_ff must be a positive int, got {self.d_ff!r}")
        for field in ("n_kv_heads", "head_dim"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"TransformerConfig.{field} must be a positive int or None, "
                                 f"got {value!r}")
        if self.head_dim is None and self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads "
                             f"({self.n_heads})")
        if self.n_kv_heads is not None and self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads "
                             f"({self.n_kv_heads}): each key/value head serves a group of "
                             f"query heads")
        for field, allowed in (("mlp", MLP_KINDS), ("norm", NORM_KINDS),
                               ("positions", POSITION_KINDS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"TransformerConfig.{field} must be one of {allowed}, got "
                                 f"{getattr(self, field)!r}")
        if self.positions == "rope" and self.d_head % 2:
            raise ValueError(f"RoPE needs an even head dimension, got d_model/n_heads = "
                             f"{self.d_head}")

    @property
    def d_head(self) -> int:
        return self.head_dim if self.head_dim is not None else self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        """Key/value heads: n_heads (multi-head), 1 (multi-query) or a divisor (grouped)."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def d_attn(self) -> int:
        """Width of the concatenated query heads, n_heads · d_head (= d_model by default)."""
        return self.n_heads * self.d_head

    @property
    def d_kv(self) -> int:
        """Width of the keys (and of the values) of one token: kv_heads · d_head."""
        return self.kv_heads * self.d_head

    def replace(self, **changes) -> "TransformerConfig":
        """A copy with some fields changed (``cfg.replace(d_model=2 * cfg.d_model)``)."""
        return dataclasses.replace(self, **changes)


def _gpt2(name: str, d: int, layers: int, heads: int) -> TransformerConfig:
    return TransformerConfig(d_model=d, n_layers=layers, n_heads=heads, vocab_size=50257,
                             context_length=1024, name=name)


# GPT-2 (Radford et al., 2019, table 2; the released checkpoints' config.json).
GPT2_SMALL = _gpt2("GPT-2 small", 768, 12, 12)
GPT2_MEDIUM = _gpt2("GPT-2 medium", 1024, 24, 16)
GPT2_LARGE = _gpt2("GPT-2 large", 1280, 36, 20)
GPT2_XL = _gpt2("GPT-2 XL", 1600, 48, 25)
GPT2_CONFIGS = {c.name: c for c in (GPT2_SMALL, GPT2_MEDIUM, GPT2_LARGE, GPT2_XL)}

# Two open models with large vocabularies (notebook 32), from their released configurations.
# Llama 3 8B (Grattafiori et al., 2024; config.json of meta-llama/Meta-Llama-3-8B): 128,256
# tokens, grouped-query attention with 8 K/V heads, SwiGLU, untied head; 8,030,261,248 params.
LLAMA3_8B = TransformerConfig(d_model=4096, n_layers=32, n_heads=32, vocab_size=128256,
                              context_length=8192, d_ff=14336, mlp="swiglu", norm="rmsnorm",
                              bias=False, positions="rope", tied_embeddings=False, n_kv_heads=8,
                              name="Llama-3-8B")
# Gemma 2B (Gemma Team, 2024, tables 1-2): 256,128 tokens, multi-query attention (1 K/V head)
# with 8 heads of width 256, a gated (GeGLU: three matrices, counted as "swiglu") MLP of width
# 16,384, tied head; 524,550,144 embedding + 1,981,884,416 non-embedding parameters.
GEMMA_2B = TransformerConfig(d_model=2048, n_layers=18, n_heads=8, vocab_size=256128,
                             context_length=8192, d_ff=16384, mlp="swiglu", norm="rmsnorm",
                             bias=False, positions="rope", tied_embeddings=True, n_kv_heads=1,
                             head_dim=256, name="Gemma-2B")


def swiglu_d_ff(d_model: int, multiple: int = 64) -> int:
    """The SwiGLU width that keeps the MLP's parameters near a 4d GELU MLP's: 8/3·d, rounded up
    to a multiple of ``multiple`` (three d×f matrices, 3·(8/3)d² = 8d² = two d×4d matrices)."""
    if d_model < 1 or multiple < 1:
        raise ValueError(f"d_model and multiple must be positive, got {d_model}, {multiple}")
    return multiple * math.ceil(8 * d_model / 3 / multiple)


def swiglu_variant(cfg: TransformerConfig, d_ff: int | None = None) -> TransformerConfig:
    """The same shapes in the seed-004 (CS336 / LLaMA) style: SwiGLU MLP, RMSNorm, no biases,
    RoPE, untied LM head. ``d_ff`` keeps ``cfg.d_ff`` unless given (CS336's "GPT-2 XL" uses
    d_ff = 6400 = 4d; :func:`swiglu_d_ff` gives the parameter-matched 8/3·d)."""
    return cfg.replace(mlp="swiglu", norm="rmsnorm", bias=False, positions="rope",
                       tied_embeddings=False, d_ff=cfg.d_ff if d_ff is None else d_ff,
                       name=f"{cfg.name} (SwiGLU)" if cfg.name else "")


def _check_bt(batch: int, seq_len: int, cfg: TransformerConfig | None = None) -> None:
    for name, value in (("batch", batch), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if cfg is not None and cfg.positions == "learned" and seq_len > cfg.context_length:
        raise ValueError(f"seq_len={seq_len} exceeds the learned position table "
                         f"(context_length={cfg.context_length})")


def _require_default_heads(cfg: TransformerConfig, where: str) -> None:
    if cfg.d_attn != cfg.d_model or cfg.d_kv != cfg.d_model:
        raise ValueError(f"{where} models multi-head attention with d_attn = d_kv = d_model; "
                         f"this config has d_attn={cfg.d_attn}, d_kv={cfg.d_kv}, "
                         f"d_model={cfg.d_model} (n_kv_heads/head_dim are not supported here)")


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------

def param_counts(cfg: TransformerConfig) -> dict[str, int]:
    """Trainable parameters, by part.

    Per layer (d = d_model, f = d_ff, b = 1 with biases else 0):

    * attention: Q, K, V, O are d×d matrices → 4d² (+ 4d biases); in general Q is d×d_attn,
      K and V are d×d_kv, O is d_attn×d → 2·d·d_attn + 2·d·d_kv (+ d_attn + 2d_kv + d biases);
    * MLP, GELU: up d×f and down f×d → 2df (+ f + d biases);
      SwiGLU: up and gate d×f, down f×d → 3df (+ 2f + d biases);
    * norms: two per layer; LayerNorm has a scale and a shift (2d), RMSNorm a scale (d).

    Outside the layers: token embedding V·d; learned positions context_length·d (RoPE: none);
    a final norm; the LM head d×V (no bias), which costs nothing extra when tied to the token
    embedding. GPT-2 small gives 124,439,808, the released checkpoint's count.

    ``non_embedding`` = total − token embedding − position embedding (Kaplan et al., 2020); an
    untied LM head stays in it (it is a matmul like the others, as in Chinchilla's counts).
    """
    d, f, L, V = cfg.d_model, cfg.d_ff, cfg.n_layers, cfg.vocab_size
    b = 1 if cfg.bias else 0
    norm = 2 * d if cfg.norm == "layernorm" else d
    da, dkv = cfg.d_attn, cfg.d_kv
    attention = 2 * d * da + 2 * d * dkv + b * (da + 2 * dkv + d)
    if cfg.mlp == "gelu":
        mlp = 2 * d * f + b * (f + d)
    else:
        mlp = 3 * d * f + b * (2 * f + d)
    per_layer = attention + mlp + 2 * norm
    out = {
        "token_embedding": V * d,
        "position_embedding": cfg.context_length * d if cfg.positions == "learned" else 0,
        "attention_per_layer": attention,
        "mlp_per_layer": mlp,
        "norms_per_layer": 2 * norm,
        "per_layer": per_layer,
        "layers": L * per_layer,
        "final_norm": norm,
        "lm_head": 0 if cfg.tied_embeddings else V * d,
    }
    out["total"] = (out["token_embedding"] + out["position_embedding"] + out["layers"]
                    + out["final_norm"] + out["lm_head"])
    out["non_embedding"] = out["total"] - out["token_embedding"] - out["position_embedding"]
    return out


def count_params(model: nn.Module) -> int:
    """Parameters of a built model (shared tensors, e.g. a tied head, counted once)."""
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# FLOPs
# --------------------------------------------------------------------------------------------

MATMULS = ("q_proj", "k_proj", "v_proj", "o_proj", "qk", "av", "mlp_up", "mlp_gate", "mlp_down",
           "lm_head")


def forward_flops(cfg: TransformerConfig, batch: int, seq_len: int,
                  causal_skip: bool = False) -> dict[str, int]:
    """Matmul FLOPs of one forward pass over ``batch`` sequences of ``seq_len`` tokens, by matmul
    (summed over the L layers) and in total.

    With N = B·T tokens, each Linear is an (N×in)·(in×out) product → 2·N·in·out:

    * ``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``: 2·N·d² each (8·N·d² together);
    * ``qk``: per sequence and head, (T×d_h)·(d_h×T) → 2·T²·d_h; times B·h heads → 2·B·T²·d;
    * ``av``: (T×T)·(T×d_h) per head → 2·B·T²·d;
    * ``mlp_up`` 2·N·d·f, ``mlp_down`` 2·N·f·d, and for SwiGLU ``mlp_gate`` 2·N·d·f;
    * ``lm_head``: 2·N·d·V (once, after the last layer).

    With grouped or decoupled heads, ``q_proj``/``o_proj`` are 2·N·d·d_attn, ``k_proj``/``v_proj``
    2·N·d·d_kv and ``qk``/``av`` 2·B·T²·d_attn (every query head scores every key).

    Per layer: 8Nd² + 4BT²d + 4Ndf (GELU; 6Ndf for SwiGLU); with f = 4d that is
    24Nd² + 4BT²d. ``causal_skip`` halves ``qk`` and ``av`` to T(T+1)/2 score entries (what a
    kernel that skips the masked triangle computes); the default counts T², like a plain matmul
    and like FlopCounterMode. Embedding lookups are gathers (0 FLOPs); biases, norms, softmax and
    activations are in :func:`elementwise_flops`.
    """
    _check_bt(batch, seq_len, cfg)
    d, f, L, V = cfg.d_model, cfg.d_ff, cfg.n_layers, cfg.vocab_size
    N = batch * seq_len
    scores = seq_len * (seq_len + 1) // 2 if causal_skip else seq_len * seq_len
    da, dkv = cfg.d_attn, cfg.d_kv
    out = {
        "q_proj": L * 2 * N * d * da,
        "k_proj": L * 2 * N * d * dkv,
        "v_proj": L * 2 * N * d * dkv,
        "o_proj": L * 2 * N * da * d,
        "qk": L * 2 * batch * scores * da,
        "av": L * 2 * batch * scores * da,
        "mlp_up": L * 2 * N * d * f,
        "mlp_gate": L * 2 * N * d * f if cfg.mlp == "swiglu" else 0,
        "mlp_down": L * 2 * N * f * d,
        "lm_head": 2 * N * d * V,
    }
    out["total"] = sum(out[k] for k in MATMULS)
    return out


def flop_shares(flops: dict[str, int]) -> dict[str, float]:
    """Fractions of the forward matmul FLOPs in attention (projections + scores), in the MLP and
    in the LM head; ``attention_scores`` (QKᵀ and AV, the T² part) is also given alone."""
    total = flops["total"]
    proj = sum(flops[k] for k in ("q_proj", "k_proj", "v_proj", "o_proj"))
    scores = flops["qk"] + flops["av"]
    mlp = flops["mlp_up"] + flops["mlp_gate"] + flops["mlp_down"]
    return {"attention": (proj + scores) / total, "attention_projections": proj / total,
            "attention_scores": scores / total, "mlp": mlp / total,
            "lm_head": flops["lm_head"] / total}


def training_flops(cfg: TransformerConfig, batch: int, seq_len: int,
                   causal_skip: bool = False) -> dict[str, int]:
    """Matmul FLOPs of one training step: forward + backward (the optimizer: :func:`adamw_flops`).

    For Y = X·W the backward pass needs dX = dY·Wᵀ and dW = Xᵀ·dY: two products of the same size
    as the forward one, so backward = 2 × forward and a step = 3 × forward. QKᵀ and AV have two
    inputs that both need gradients, so the same holds. The one exception: a matmul whose input
    needs no gradient (raw features fed to the first Linear) skips dX; in an LM the first layer
    reads the token embedding, a trainable tensor, so the ratio is exactly 3. The classic
    "6·N·P" (Kaplan et al., 2020) is this 3 × 2·N·P with the T² terms and the head left out.
    """
    fwd = forward_flops(cfg, batch, seq_len, causal_skip)["total"]
    return {"forward": fwd, "backward": 2 * fwd, "total": 3 * fwd}


def elementwise_flops(cfg: TransformerConfig, batch: int, seq_len: int) -> dict[str, int]:
    """Non-matmul FLOPs of one forward pass (a convention; FlopCounterMode does not count them).

    Per element: softmax 5 (max, subtract, exp, sum, divide), plus 2 for scaling and masking the
    scores; LayerNorm 8 (mean 1, variance 3, normalise 2, scale and shift 2), RMSNorm 4 (square
    and sum 2, normalise 1, scale 1); GELU-tanh 9 (x³ 2, ·c 1, +x 1, ·k 1, tanh 1, +1 1, ·x 1, ·½ 1);
    SwiGLU 5 (SiLU x·σ(x): exp, add, divide, multiply; then the gate product 1); residual add 1;
    RoPE 3 per rotated element (two multiplies and an add) on Q and K; bias add 1. Transcendental
    functions count as 1 FLOP, which understates their real cost. These are tiny next to the
    matmuls (check with the totals) but, as the roofline shows, they are memory-bound and take
    time far beyond their FLOP share.
    """
    _check_bt(batch, seq_len, cfg)
    d, f, L, h, V = cfg.d_model, cfg.d_ff, cfg.n_layers, cfg.n_heads, cfg.vocab_size
    N = batch * seq_len
    norm = 8 if cfg.norm == "layernorm" else 4
    act = 9 * N * f if cfg.mlp == "gelu" else 5 * N * f
    biases = (4 * N * d + N * f + N * d + (N * f if cfg.mlp == "swiglu" else 0)) if cfg.bias else 0
    out = {
        "softmax": L * 7 * batch * h * seq_len * seq_len,
        "norms": (2 * L + 1) * norm * N * d,
        "activation": L * act,
        "residual": L * 2 * N * d,
        "rope": L * 3 * 2 * N * d if cfg.positions == "rope" else 0,
        "bias": L * biases,
        "loss_softmax": 5 * N * V,
    }
    out["total"] = sum(out.values())
    return out


def adamw_flops(n_params: int) -> int:
    """FLOPs of one AdamW step: 14 per parameter, read off ``torch.optim.AdamW``'s update.

    Per element, torch's single-tensor AdamW does: decoupled decay ``p ← p·(1−lr·λ)`` (1);
    ``m ← lerp(m, g, 1−β₁)`` (3: subtract, multiply, add); ``v ← β₂·v + (1−β₂)·g²`` (1 + 3:
    multiply, then addcmul = square, scale, add); ``denom = √v / √(1−β₂ᵗ) + ε`` (3);
    ``p ← p − step·m/denom`` (addcdiv: divide, multiply, add = 3). Total 1+3+4+3+3 = 14. Counting
    lerp or addcmul as one op would give a smaller constant (10-12 are common in write-ups); the
    order of magnitude, a few FLOPs per parameter, is what matters: negligible next to the
    ~6 FLOPs per parameter *per token* of the forward and backward passes.
    """
    if n_params < 0:
        raise ValueError(f"n_params must be >= 0, got {n_params}")
    return 14 * n_params


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------

def weight_bytes(cfg: TransformerConfig, bytes_per_param: int = 4) -> int:
    """Bytes of the weights: P × bytes per parameter (4 fp32, 2 fp16/bf16, 1 int8)."""
    return param_counts(cfg)["total"] * bytes_per_param


def adamw_state_bytes(cfg_or_params, bytes_per_value: int = 4) -> int:
    """Bytes of AdamW's state: the first and second moments m and v, one value each per
    parameter → 2·P values (torch also keeps a scalar ``step`` per parameter tensor, ignored)."""
    n = cfg_or_params if isinstance(cfg_or_params, int) else param_counts(cfg_or_params)["total"]
    return 2 * n * bytes_per_value


def activation_bytes(cfg: TransformerConfig, batch: int, seq_len: int, attention: str = "naive",
                     bytes_per_value: int = 4, loss: bool = True,
                     checkpointing: bool = False) -> dict[str, int]:
    """Bytes that autograd keeps from the forward pass for the backward pass (training), by part.

    Counted tensor by tensor on :class:`ReferenceTransformer` (pre-norm, no dropout), i.e. what
    each op saves for its gradient, each storage once, parameters excluded. With N = B·T and
    s = ``bytes_per_value`` (index tensors are int64, 8 bytes; norm statistics fp32, 4 bytes):

    per layer

    * LayerNorm saves its input and per-token mean and 1/σ: N·d·s + 2·N·4;
      RMSNorm (``nn.RMSNorm``) saves its input, 1/rms and the normalised x̂: 2·N·d·s + N·4;
      two norms per layer;
    * Q, K, V and O projections save their input, the norm output (one N·d tensor shared by Q, K
      and V) and the attention output;
    * attention keeps Q, K and V (3·N·d) and then
      ``naive``: the softmax output P, B·h·T² values, which both softmax and P·V need;
      ``sdpa`` (PyTorch's CPU flash kernel): its output (N·d) and the per-row log-sum-exp
      (B·h·T, fp32), and *no* T×T matrix: the scores are recomputed in the backward pass;
    * the residual stream entering the second norm (N·d);
    * MLP, GELU: the up-projection output (GELU's input) and GELU's output (down's input):
      2·N·f; SwiGLU: up output (SiLU's input), SiLU output, gate output, and their product
      (down's input): 4·N·f.

    So a GELU/LayerNorm layer keeps 8·N·d·s + 2·N·f·s + 4·N·4 bytes plus B·h·T²·s (naive) or
    N·d·s + B·h·T·4 (sdpa); with f = 4d that is 16·N·d values: activations grow with B·T·d
    and, without a fused kernel, with B·h·T².

    outside the layers: the token ids (N·8) and position ids (T·8) of the embedding lookups; the
    final norm; its output (the LM head's input, N·d); with ``loss``, the log-softmax output
    (N·V) and the targets (N·8) of the cross-entropy, and one fp32 scalar.

    ``checkpointing`` (``torch.utils.checkpoint`` around each layer) keeps only each layer's
    input (N·d per layer) during the forward pass; the backward pass recomputes one layer at a
    time, so the peak adds one layer's activations (reported as ``recompute_peak``).
    """
    _check_bt(batch, seq_len, cfg)
    _require_default_heads(cfg, "activation_bytes")
    if attention not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
    d, f, L, h, V = cfg.d_model, cfg.d_ff, cfg.n_layers, cfg.n_heads, cfg.vocab_size
    s, N = bytes_per_value, batch * seq_len
    if cfg.norm == "layernorm":
        norm = N * d * s + 2 * N * 4
    else:
        norm = 2 * N * d * s + N * 4
    layer = {
        "norms": 2 * norm,
        "norm_outputs": 2 * N * d * s,          # inputs of the Q/K/V projections and of the MLP
        "qkv": 3 * N * d * s,
        "attention_core": (batch * h * seq_len * seq_len * s if attention == "naive"
                           else N * d * s + batch * h * seq_len * 4),
        "o_proj_input": N * d * s,
        "mlp": (2 if cfg.mlp == "gelu" else 4) * N * f * s,
    }
    per_layer = sum(layer.values())
    final_norm = norm
    outside = {
        "token_ids": N * 8,
        "position_ids": seq_len * 8 if cfg.positions == "learned" else 0,
        "final_norm": final_norm,
        "lm_head_input": N * d * s,
        "loss": (N * V * s + N * 8 + 4) if loss else 0,
    }
    out = {f"layer_{k}": v for k, v in layer.items()}
    out["per_layer"] = per_layer
    if checkpointing:
        out["layers"] = L * N * d * s
        out["recompute_peak"] = per_layer
    else:
        out["layers"] = L * per_layer
        out["recompute_peak"] = 0
    out.update(outside)
    out["total"] = out["layers"] + sum(outside.values())
    return out


def training_memory_bytes(cfg: TransformerConfig, batch: int, seq_len: int,
                          attention: str = "naive", bytes_per_value: int = 4,
                          checkpointing: bool = False) -> dict[str, int]:
    """Weights + gradients + AdamW state + activations of one fp32 training step.

    Weights P·s, gradients P·s (one per parameter), AdamW 2·P·s, so 16·P bytes in fp32 before a
    single activation — the fixed cost; the activations (:func:`activation_bytes`) grow linearly
    with the batch, so total = a·B + b (see :func:`max_batch_size`). Temporary buffers of the
    backward pass and allocator slack come on top (a peak-memory measurement is larger).
    """
    P = param_counts(cfg)["total"]
    act = activation_bytes(cfg, batch, seq_len, attention, bytes_per_value,
                           checkpointing=checkpointing)
    out = {"weights": P * bytes_per_value, "gradients": P * bytes_per_value,
           "adamw_state": adamw_state_bytes(P, bytes_per_value),
           "activations": act["total"] + act["recompute_peak"]}
    out["total"] = sum(out.values())
    return out


def max_batch_size(cfg: TransformerConfig, seq_len: int, budget_bytes: float,
                   attention: str = "naive", bytes_per_value: int = 4,
                   checkpointing: bool = False) -> tuple[int, int, int]:
    """Largest batch whose training memory a·B + b fits in ``budget_bytes``.

    Returns ``(max_batch, a, b)`` with a the bytes per extra sequence and b the fixed part; the
    memory is exactly linear in B (every activation term has a factor B except the position ids
    and the loss scalar, which go into b). ``max_batch`` is 0 when even b does not fit.
    """
    m1 = training_memory_bytes(cfg, 1, seq_len, attention, bytes_per_value, checkpointing)["total"]
    m2 = training_memory_bytes(cfg, 2, seq_len, attention, bytes_per_value, checkpointing)["total"]
    a, b = m2 - m1, 2 * m1 - m2
    if budget_bytes < b + a:
        return 0, a, b
    return int((budget_bytes - b) // a), a, b


def training_time_seconds(total_flops: float, peak_flops_per_s: float, mfu: float) -> float:
    """Wall time of ``total_flops`` on hardware with ``peak_flops_per_s`` used at ``mfu`` (model
    FLOPs utilisation, 0 < mfu <= 1): t = FLOPs / (peak · MFU)."""
    if not 0 < mfu <= 1:
        raise ValueError(f"mfu must be in (0, 1], got {mfu}")
    if peak_flops_per_s <= 0 or total_flops < 0:
        raise ValueError("peak_flops_per_s must be > 0 and total_flops >= 0")
    return total_flops / (peak_flops_per_s * mfu)


# --------------------------------------------------------------------------------------------
# generating one token with a KV cache (decode; notebook 32)
# --------------------------------------------------------------------------------------------

DECODE_PARTS = ("projections", "mlp", "attention", "head")


def _check_context(context: int) -> None:
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive int (positions in the KV cache), got "
                         f"{context!r}")


def decode_flops(cfg: TransformerConfig, context: int) -> dict[str, int]:
    """Matmul FLOPs to generate **one** token with a KV cache holding ``context`` = S positions
    (the new token's own key included: it attends to S keys).

    Only the new token passes through the Linears, so each costs 2·in·out (N = 1):

    * ``projections`` = Σ_L (2·d·d_attn [Q] + 2·2·d·d_kv [K, V] + 2·d_attn·d [O])
      = 8·L·d² with multi-head attention;
    * ``mlp`` = 2·L·d·f·(2 GELU | 3 gated) = 16·L·d² for GELU with f = 4d;
    * ``attention`` over the cache: qᵀK (S scores per head) and the weighted sum of S values:
      2·S·d_attn + 2·S·d_attn = 4·L·S·d_attn, the only term that grows with the context;
    * ``head`` (output projection): 2·d·V, the only term that grows with the vocabulary.

    ``blocks`` = projections + mlp + attention ≈ 24·L·d² + 4·L·S·d (GPT-2 shapes). The batch does
    not change FLOPs per token (it changes the bytes: :func:`decode_bytes`). Per matmul keys as
    in :func:`forward_flops`; S may exceed ``context_length`` (a hypothetical longer context).
    """
    _check_context(context)
    L, da = cfg.n_layers, cfg.d_attn
    one = forward_flops(cfg, 1, 1)                  # the Linears for one new token
    out = {k: one[k] for k in MATMULS}
    out["qk"] = L * 2 * context * da
    out["av"] = L * 2 * context * da
    out["projections"] = sum(out[k] for k in ("q_proj", "k_proj", "v_proj", "o_proj"))
    out["mlp"] = out["mlp_up"] + out["mlp_gate"] + out["mlp_down"]
    out["attention"] = out["qk"] + out["av"]
    out["head"] = out["lm_head"]
    out["blocks"] = out["projections"] + out["mlp"] + out["attention"]
    out["total"] = out["blocks"] + out["head"]
    return out


def decode_bytes(cfg: TransformerConfig, context: int, batch: int = 1,
                 bytes_per_param: float = 2, bytes_per_kv: float | None = None
                 ) -> dict[str, float]:
    """Bytes read from memory per generated token when ``batch`` sequences decode together,
    each with ``context`` = S cached positions (weights in ``bytes_per_param``, the cache in
    ``bytes_per_kv``, default the same; 2 = fp16/bf16).

    At small batch a decode step is memory-bound (Pope et al., 2023): every weight is read once
    per step and serves the ``batch`` tokens of that step, while each sequence reads its own
    cache. Per generated token:

    * ``blocks_weights`` = (L·per-layer parameters)·b / B (projections, MLP, norms, biases);
    * ``head`` = V·d·b / B (the output projection's matrix, tied or not);
    * ``kv_cache`` = 2·L·S·d_kv·b_kv (keys and values of S positions; not shared across the
      batch); grouped/multi-query attention shrinks d_kv, not the FLOPs;
    * ``other`` = the final norm (/B) and one embedding row (d·b) per token.

    Activations (a few d-vectors per layer) are left out. At B = 1 with multi-head attention
    every byte of weight or cache feeds exactly 2/b FLOPs, so bytes and FLOPs give the same
    shares; a larger B amortises the weights (head included) but not the cache.
    """
    _check_context(context)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if not bytes_per_param > 0 or (bytes_per_kv is not None and not bytes_per_kv > 0):
        raise ValueError("bytes_per_param and bytes_per_kv must be > 0")
    b = bytes_per_param
    b_kv = b if bytes_per_kv is None else bytes_per_kv
    counts = param_counts(cfg)
    out = {
        "blocks_weights": counts["layers"] * b / batch,
        "kv_cache": 2 * cfg.n_layers * context * cfg.d_kv * b_kv,
        "head": cfg.vocab_size * cfg.d_model * b / batch,
        "other": counts["final_norm"] * b / batch + cfg.d_model * b,
    }
    out["blocks"] = out["blocks_weights"] + out["kv_cache"]
    out["total"] = out["blocks"] + out["head"] + out["other"]
    return out


def crossover_vocab(cfg: TransformerConfig, context: int, metric: str = "flops",
                    **bytes_kwargs) -> float:
    """V* at which the output projection costs as much as all the blocks for one generated
    token at context S, the other shapes of ``cfg`` fixed (its own V is ignored).

    FLOPs: 2·d·V* = C_blocks(S) → V* = C_blocks(S) / (2d) ≈ 12·L·d + 2·L·S (GPT-2 shapes).
    Bytes (``metric="bytes"``, keywords of :func:`decode_bytes`): V*·d·b/B = blocks weights + KV
    cache → V* = (P_layers·b/B + 2·L·S·d_kv·b_kv) / (d·b/B). The head dominates iff V > V*.
    """
    if metric == "flops":
        return decode_flops(cfg, context)["blocks"] / (2 * cfg.d_model)
    if metric == "bytes":
        by = decode_bytes(cfg, context, **bytes_kwargs)
        return by["blocks"] / (by["head"] / cfg.vocab_size)
    raise ValueError(f"metric must be 'flops' or 'bytes', got {metric!r}")


def crossover_context(cfg: TransformerConfig, metric: str = "flops", **bytes_kwargs) -> float:
    """S* past which attention over the cache costs more than the output projection, for the
    vocabulary of ``cfg``.

    FLOPs: 4·L·S*·d_attn = 2·d·V → S* = d·V / (2·L·d_attn) (= V / 2L with d_attn = d).
    Bytes: 2·L·S*·d_kv·b_kv = V·d·b/B → S* = V·d·b / (2·L·d_kv·b_kv·B): grouped-query attention
    (small d_kv) pushes it out, batching (B > 1) pulls it in.
    """
    V, d, L = cfg.vocab_size, cfg.d_model, cfg.n_layers
    if metric == "flops":
        return d * V / (2 * L * cfg.d_attn)
    if metric == "bytes":
        by = decode_bytes(cfg, 1, **bytes_kwargs)
        return by["head"] / by["kv_cache"]          # the cache bytes are linear in S
    raise ValueError(f"metric must be 'flops' or 'bytes', got {metric!r}")


def from_lm_config(lm_cfg) -> TransformerConfig:
    """The accounting config of the pack's model (``utils.nn.transformer_lm.TransformerConfig``):
    same shapes, no biases (the pack's Linears have none), gated MLP for ``swiglu`` and a
    two-matrix MLP for ``gelu``/``silu``. Used to check :func:`decode_flops` on the model that
    generates text (``utils.generate``)."""
    return TransformerConfig(
        d_model=lm_cfg.d_model, n_layers=max(1, lm_cfg.num_layers), n_heads=lm_cfg.num_heads,
        vocab_size=lm_cfg.vocab_size, context_length=lm_cfg.context_length,
        d_ff=lm_cfg.hidden_dim, mlp="swiglu" if lm_cfg.ffn == "swiglu" else "gelu",
        norm="layernorm" if lm_cfg.norm_type == "layernorm" else "rmsnorm", bias=False,
        positions="learned" if lm_cfg.positions == "learned" else "rope",
        tied_embeddings=lm_cfg.tie_weights, head_dim=lm_cfg.head_dim,
        name="pack TransformerLM")


# --------------------------------------------------------------------------------------------
# arithmetic intensity of the main operations (for the roofline)
# --------------------------------------------------------------------------------------------

def operation_costs(cfg: TransformerConfig, batch: int, seq_len: int,
                    bytes_per_value: int = 4) -> list[dict]:
    """FLOPs, minimum bytes moved and arithmetic intensity (FLOP/byte) of one layer's main ops.

    Minimum traffic = read every input once + write every output once (weights included), the
    best any kernel can do; I = FLOPs / bytes. A matmul (m×k)·(k×n) has I = 2mkn / (s·(mk + kn +
    mn)), which grows with the smallest dimension, so big matmuls are compute-bound; an
    elementwise op reads and writes each value for a few FLOPs, I ≈ (FLOPs per element)/(2s), so
    it is memory-bound on any machine whose peak/bandwidth ratio exceeds a few FLOP/byte.
    """
    _check_bt(batch, seq_len, cfg)
    _require_default_heads(cfg, "operation_costs")
    d, f, h, dh = cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.d_head
    s, N, T = bytes_per_value, batch * seq_len, seq_len

    def mm(name, groups, m, k, n, kind):
        flops = 2 * groups * m * k * n
        weight_once = kind == "linear"          # one weight matrix shared by all rows
        nbytes = s * (groups * m * k + (k * n if weight_once else groups * k * n) + groups * m * n)
        return {"op": name, "kind": "matmul", "flops": flops, "bytes": nbytes,
                "shape": f"{groups}×({m}×{k})·({k}×{n})" if groups > 1 else f"({m}×{k})·({k}×{n})"}

    def ew(name, elements, flops_per, reads, writes):
        return {"op": name, "kind": "elementwise", "flops": flops_per * elements,
                "bytes": s * elements * (reads + writes), "shape": f"{elements:,} elements"}

    norm_flops = 8 if cfg.norm == "layernorm" else 4
    act_name, act_flops = ("GELU", 9) if cfg.mlp == "gelu" else ("SiLU·gate", 5)
    ops = [
        mm("Q/K/V/O projection", 1, N, d, d, "linear"),
        mm("QKᵀ scores", batch * h, T, dh, T, "batched"),
        mm("softmax·V", batch * h, T, T, dh, "batched"),
        mm("MLP up", 1, N, d, f, "linear"),
        mm("MLP down", 1, N, f, d, "linear"),
        ew("softmax", batch * h * T * T, 5, 1, 1),
        ew(cfg.norm == "layernorm" and "LayerNorm" or "RMSNorm", N * d, norm_flops, 1, 1),
        ew(act_name, N * f, act_flops, 1 if cfg.mlp == "gelu" else 2, 1),
        ew("residual add", N * d, 1, 2, 1),
    ]
    for op in ops:
        op["intensity"] = op["flops"] / op["bytes"]
    return ops


# --------------------------------------------------------------------------------------------
# the reference model (plain torch; used to check the formulas above)
# --------------------------------------------------------------------------------------------

class MatMul(nn.Module):
    """``a @ b`` as a module, so FlopCounterMode can attribute QKᵀ and AV by name."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


def rope_tables(seq_len: int, d_head: int, theta: float = 10000.0, device=None):
    """cos and sin tables (seq_len, d_head) for rotate-half RoPE (Su et al., 2021)."""
    inv = theta ** (-torch.arange(0, d_head, 2, device=device, dtype=torch.float32) / d_head)
    angles = torch.arange(seq_len, device=device, dtype=torch.float32)[:, None] * inv[None]
    angles = torch.cat([angles, angles], dim=-1)                  # (T, d_h)
    return angles.cos(), angles.sin()


def _on_meta() -> bool:
    return torch.empty(0).device.type == "meta"


def _future_mask(T: int) -> torch.Tensor:
    """(T, T) boolean, True above the diagonal (the keys a query must not see). On the meta
    device only the shape exists; skipping ``triu`` there avoids torch's slow reference path."""
    if _on_meta():
        return torch.empty(T, T, dtype=torch.bool)
    return torch.ones(T, T, dtype=torch.bool).triu(1)


def _positions(T: int, device) -> torch.Tensor:
    if torch.device(device).type == "meta":
        return torch.empty(T, dtype=torch.long, device=device)
    return torch.arange(T, device=device)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class ReferenceAttention(nn.Module):
    """Causal multi-head self-attention with separate Q, K, V, O projections."""

    def __init__(self, cfg: TransformerConfig, attention: str = "naive"):
        super().__init__()
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        d, T = cfg.d_model, cfg.context_length
        self.n_heads, self.attention, self.rope = cfg.n_heads, attention, cfg.positions == "rope"
        self.kv_heads, self.d_head = cfg.kv_heads, cfg.d_head
        self.q_proj = nn.Linear(d, cfg.d_attn, bias=cfg.bias)
        self.k_proj = nn.Linear(d, cfg.d_kv, bias=cfg.bias)
        self.v_proj = nn.Linear(d, cfg.d_kv, bias=cfg.bias)
        self.o_proj = nn.Linear(cfg.d_attn, d, bias=cfg.bias)
        self.qk, self.av = MatMul(), MatMul()
        self.register_buffer("future", _future_mask(T), persistent=False)
        if self.rope:
            cos, sin = rope_tables(T, cfg.d_head)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        h, g, dh = self.n_heads, self.kv_heads, self.d_head
        q = self.q_proj(x).view(B, T, h, dh).transpose(1, 2)          # (B, h, T, d_h)
        k = self.k_proj(x).view(B, T, g, dh).transpose(1, 2)          # (B, g, T, d_h)
        v = self.v_proj(x).view(B, T, g, dh).transpose(1, 2)
        if g != h:                                   # each K/V head serves h/g query heads
            k, v = k.repeat_interleave(h // g, dim=1), v.repeat_interleave(h // g, dim=1)
        if self.rope:
            cos, sin = self.cos[:T], self.sin[:T]
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        if self.attention == "naive":
            scores = self.qk(q, k.transpose(-2, -1)) / math.sqrt(dh)    # (B, h, T, T)
            scores = scores.masked_fill(self.future[:T, :T], float("-inf"))
            y = self.av(torch.softmax(scores, dim=-1), v)               # (B, h, T, d_h)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, h * dh)           # (B, T, d_attn)
        return self.o_proj(y)


class ReferenceMLP(nn.Module):
    """GELU (tanh) MLP ``down(gelu(up x))`` or SwiGLU ``down(silu(up x) ⊙ gate x)``."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.kind = cfg.mlp
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        if self.kind == "swiglu":
            self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        else:
            self.act = nn.GELU(approximate="tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "swiglu":
            return self.down(F.silu(self.up(x)) * self.gate(x))
        return self.down(self.act(self.up(x)))


def _norm(cfg: TransformerConfig) -> nn.Module:
    return nn.LayerNorm(cfg.d_model) if cfg.norm == "layernorm" else nn.RMSNorm(cfg.d_model,
                                                                               eps=1e-5)


class ReferenceBlock(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then + mlp(norm(x))."""

    def __init__(self, cfg: TransformerConfig, attention: str = "naive"):
        super().__init__()
        self.ln1, self.ln2 = _norm(cfg), _norm(cfg)
        self.attn = ReferenceAttention(cfg, attention)
        self.mlp = ReferenceMLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def _embedding(rows: int, dim: int) -> nn.Embedding:
    """``nn.Embedding`` initialised N(0, 1), except on the meta device, where torch's ``normal_``
    takes a slow reference path (seconds) and there are no values to initialise anyway."""
    weight = torch.empty(rows, dim)
    if weight.device.type != "meta":
        nn.init.normal_(weight)
    return nn.Embedding(rows, dim, _weight=weight)


class ReferenceTransformer(nn.Module):
    """A decoder-only LM built from a :class:`TransformerConfig` with plain torch modules.

    For checking the accounting only (no dropout, no initialisation scheme). Build it on
    ``device="meta"`` to count parameters and matmul FLOPs of a full-size model (GPT-2 XL)
    without allocating its weights.
    """

    def __init__(self, cfg: TransformerConfig, attention: str = "naive",
                 checkpointing: bool = False):
        super().__init__()
        self.cfg, self.checkpointing = cfg, checkpointing
        self.tok_emb = _embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = (_embedding(cfg.context_length, cfg.d_model)
                        if cfg.positions == "learned" else None)
        self.blocks = nn.ModuleList(ReferenceBlock(cfg, attention) for _ in range(cfg.n_layers))
        self.ln_f = _norm(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tied_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape                                                # (B, T) token ids
        x = self.tok_emb(idx)                                           # (B, T, d)
        if self.pos_emb is not None:
            x = x + self.pos_emb(_positions(T, idx.device))
        for block in self.blocks:
            if self.checkpointing:
                from torch.utils.checkpoint import checkpoint

                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.lm_head(self.ln_f(x))                               # (B, T, V)

    def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self(idx)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def build_reference(cfg: TransformerConfig, attention: str = "naive", device="cpu",
                    checkpointing: bool = False) -> ReferenceTransformer:
    """Build :class:`ReferenceTransformer` directly on ``device`` (``"meta"``: shapes only, no
    memory). Building in place, rather than ``.to(device)`` afterwards, keeps a tied LM head
    tied (moving a built model to meta gives the two modules separate parameters)."""
    with torch.device(device):
        return ReferenceTransformer(cfg, attention, checkpointing)


# --------------------------------------------------------------------------------------------
# counting on real models (the independent references the formulas are checked against)
# --------------------------------------------------------------------------------------------

_MODULE_TO_MATMUL = {"q_proj": "q_proj", "k_proj": "k_proj", "v_proj": "v_proj",
                     "o_proj": "o_proj", "qk": "qk", "av": "av", "up": "mlp_up",
                     "gate": "mlp_gate", "down": "mlp_down", "lm_head": "lm_head"}


def counted_flops(fn: Callable[[], object]) -> dict[str, int]:
    """Run ``fn`` under FlopCounterMode; FLOPs per matmul name (summed over layers) and total.

    Names come from the leaf modules of :class:`ReferenceTransformer` (``q_proj`` ... ``lm_head``);
    FLOPs outside them land in ``other``. Note: on CPU, PyTorch 2.13's FlopCounterMode has no
    formula for ``_scaled_dot_product_flash_attention_for_cpu`` and counts SDPA as 0 FLOPs;
    count the ``naive`` model, or an SDPA model on the meta device (which decomposes SDPA into
    matmuls).
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, depth=None) as counter:
        fn()
    counts = counter.get_flop_counts()
    out = {k: 0 for k in MATMULS}
    for module, ops in counts.items():
        leaf = module.rsplit(".", 1)[-1]
        if leaf in _MODULE_TO_MATMUL and module != "Global":
            out[_MODULE_TO_MATMUL[leaf]] += sum(ops.values())
    out["total"] = counter.get_total_flops()
    out["other"] = out["total"] - sum(out[k] for k in MATMULS)
    return out


def saved_tensor_bytes(fn: Callable[[], object], exclude: nn.Module | None = None) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs.

    Each storage is counted once (views share storage); the parameters and buffers of
    ``exclude`` (the model) are left out, since they are not activations. Works on the meta
    device, so full-size models can be measured without memory.
    """
    excluded = set()
    if exclude is not None:
        excluded = {t.untyped_storage()._cdata
                    for t in [*exclude.parameters(), *exclude.buffers()]}
    seen: dict[int, int] = {}
    keep: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = storage._cdata
        if key not in excluded and key not in seen:
            seen[key] = storage.nbytes()
            keep.append(t)            # keep the storage alive so its address is not reused
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


# FLOPs per output element of each element-wise op that count_elementwise_op_flops counts
EW_FLOPS_PER_ELEMENT = {"mul": 1, "mul_": 1, "add": 1, "add_": 1, "sub": 1, "sub_": 1,
                        "div": 1, "div_": 1, "sqrt": 1, "lerp_": 3, "lerp": 3,
                        "addcmul_": 3, "addcmul": 3, "addcdiv_": 3, "addcdiv": 3}


def count_elementwise_op_flops(fn: Callable[[], object]) -> tuple[int, list[tuple[str, int]]]:
    """Trace the aten ops ``fn`` dispatches and count elementwise FLOPs with the per-op weights of
    :func:`adamw_flops` (lerp, addcmul, addcdiv: 3; other arithmetic ops: 1 per output element).

    Used to check the AdamW formula on ``torch.optim.AdamW(foreach=False).step``. Returns the
    total and the op trace (name, elements); ops on 0-d tensors (the step counter, bias
    corrections) are skipped because they do not scale with the parameters.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    trace: list[tuple[str, int]] = []

    class _Trace(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            if isinstance(out, torch.Tensor) and out.dim() > 0 and name in EW_FLOPS_PER_ELEMENT:
                trace.append((name, out.numel()))
            return out

    with _Trace():
        fn()
    return sum(EW_FLOPS_PER_ELEMENT[n] * e for n, e in trace), trace
