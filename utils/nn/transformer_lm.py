"""A decoder-only Transformer language model, configurable for the ablations.

Taught in notebook 06 (seed 004, CS336 assignment 1: the pre-norm RMSNorm/SwiGLU/RoPE model)
and notebook 07 (seed 003 §2: the GPT with RMSNorm and RoPE or learned absolute positions and
the "flash" attention path). The default configuration is CS336's:

    x₀ = Embedding(tokens)                                    (B, S, d)
    for each block:  h = x + MHA(RMSNorm(x))                  pre-norm (Xiong et al., 2020)
                     x = h + SwiGLU(RMSNorm(h))
    logits = Linear_V(RMSNorm(x_L))                           (B, S, V)

with causal multi-head self-attention (Vaswani et al., 2017)

    MHA(x) = Concat(head_1 … head_h) W_O,  head_i = softmax(q_i k_iᵀ / sqrt(d_k) + causal) v_i,

queries and keys rotated by RoPE at explicit token positions. :class:`TransformerConfig` switches
the variants the ablations need:

* ``norm_position``: ``pre`` (above), ``post`` (x = Norm(x + Sublayer(x)), the 2017 layout; no
  final norm, the last block already ends in one), ``none`` (no norms anywhere);
* ``norm_type``: ``rmsnorm``, ``layernorm`` or ``batchnorm`` (over tokens; notebook 31);
* ``positions``: ``rope``, ``learned`` (GPT-2 table), ``sinusoidal`` (2017 table), ``alibi``
  (linear distance biases on the attention logits, Press et al., 2022; :mod:`utils.nn.alibi`,
  notebook 30) or ``none`` (NoPE);
* ``ffn``: ``swiglu``, ``silu`` or ``gelu`` (the latter two parameter-matched by default);
* ``attention``: ``scratch`` (``utils.nn.functional.scaled_dot_product_attention``, notebook 01)
  or ``flash`` (``torch.nn.functional.scaled_dot_product_attention``, FlashAttention-style fused
  kernel, seed 003 question 2.9);
* dropout on the embeddings, the attention weights and each residual branch (seed 003 §2.3);
* ``tie_weights``: the LM head shares the token embedding matrix (Press & Wolf, 2017);
* ``causal``: ``False`` lets every token attend to every token (the encoders of
  :mod:`utils.nn.encoder`, notebooks 31 and 34);
* ``head_dim``: each head's width, decoupled from d_model / num_heads (one wide head vs many
  narrow ones, notebook 34); ``num_layers`` may be 0 (embedding → final norm → head, notebook 33);
* ``init``: ``trunc_normal`` (CS336: σ² = 2/(d_in+d_out) for matrices, N(0,1) embeddings) or
  ``gpt2`` (N(0, 0.02²), residual output projections scaled by 1/sqrt(2·num_layers));
* ``residual``: ``False`` drops the skip connections, each sublayer computes x ↦ f(x) instead of
  x ↦ x + f(x) (notebook 35). :func:`lesion` bypasses whole blocks for a while (x_{l+1} = x_l,
  the lesion study of Veit et al., 2016), without touching the weights.

A :class:`KVCache` keeps each layer's keys and values so that generation (``utils.generate``)
costs O(context) per new token instead of re-running the whole prefix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .alibi import ALiBi
from .functional import causal_mask, scaled_dot_product_attention, softmax
from .layers import (FFN_TYPES, NORM_TYPES, Embedding, Linear, default_ffn_dim, make_ffn,
                     make_norm)
from .rope import (POSITION_TYPES, LearnedPositions, RotaryPositionalEmbedding,
                   SinusoidalPositions)

NORM_POSITIONS = ("pre", "post", "none")
ATTENTION_TYPES = ("scratch", "flash")
INIT_TYPES = ("trunc_normal", "gpt2")


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(repr, allowed))}")


@dataclass(frozen=True)
class TransformerConfig:
    """Everything that defines the architecture (a checkpoint stores it to detect mismatches)."""

    vocab_size: int
    context_length: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int | None = None            # None: per FFN type (layers.default_ffn_dim)
    rope_theta: float = 10000.0
    positions: str = "rope"            # rope | learned | sinusoidal | alibi | none
    norm_position: str = "pre"         # pre | post | none
    norm_type: str = "rmsnorm"         # rmsnorm | layernorm | batchnorm
    norm_eps: float = 1e-5
    ffn: str = "swiglu"                # swiglu | silu | gelu
    attention: str = "scratch"         # scratch | flash
    dropout_embedding: float = 0.0
    dropout_attention: float = 0.0
    dropout_residual: float = 0.0
    tie_weights: bool = False
    init: str = "trunc_normal"         # trunc_normal | gpt2
    causal: bool = True                # False: every token attends to every token (encoders)
    head_dim: int | None = None        # None: d_model / num_heads; else each head's width
    residual: bool = True              # False: x -> f(x) instead of x -> x + f(x) (notebook 35)

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "d_model", "num_layers", "num_heads"):
            v = getattr(self, name)
            low = 0 if name == "num_layers" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                what = "an int >= 0" if low == 0 else "a positive int"
                raise ValueError(f"{name} must be {what}, got {v!r}")
        if self.head_dim is not None and (isinstance(self.head_dim, bool)
                                          or not isinstance(self.head_dim, int)
                                          or self.head_dim < 1):
            raise ValueError(f"head_dim must be a positive int or None, got {self.head_dim!r}")
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be True or False, got {self.causal!r}")
        if not isinstance(self.residual, bool):
            raise ValueError(f"residual must be True or False, got {self.residual!r}")
        if self.head_dim is None and self.d_model % self.num_heads:
            divisors = [h for h in range(1, self.d_model + 1) if self.d_model % h == 0]
            raise ValueError(f"d_model={self.d_model} is not divisible by num_heads="
                             f"{self.num_heads}; choose num_heads among the divisors of d_model "
                             f"({', '.join(map(str, divisors))})")
        _choice("positions", self.positions, POSITION_TYPES)
        _choice("norm_position", self.norm_position, NORM_POSITIONS)
        _choice("norm_type", self.norm_type, NORM_TYPES)
        _choice("ffn", self.ffn, FFN_TYPES)
        _choice("attention", self.attention, ATTENTION_TYPES)
        _choice("init", self.init, INIT_TYPES)
        if self.positions == "rope" and self.d_head % 2:
            raise ValueError(f"RoPE needs an even head dimension, but d_head = {self.d_head} is "
                             f"odd (d_model={self.d_model}, num_heads={self.num_heads}, "
                             f"head_dim={self.head_dim})")
        if self.positions == "sinusoidal" and self.d_model % 2:
            raise ValueError(f"sinusoidal positions need an even d_model, got {self.d_model}")
        if self.d_ff is not None and (isinstance(self.d_ff, bool) or not isinstance(self.d_ff, int)
                                      or self.d_ff < 1):
            raise ValueError(f"d_ff must be a positive int or None, got {self.d_ff!r}")
        for name in ("dropout_embedding", "dropout_attention", "dropout_residual"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}")
        if not self.rope_theta > 0:
            raise ValueError(f"rope_theta must be > 0, got {self.rope_theta}")
        if not self.norm_eps > 0:
            raise ValueError(f"norm_eps must be > 0, got {self.norm_eps}")

    @property
    def d_head(self) -> int:
        """Each head's width: ``head_dim`` when given, else d_model / num_heads."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.num_heads

    @property
    def d_attn(self) -> int:
        """Width of the concatenated heads, num_heads · d_head (= d_model by default)."""
        return self.num_heads * self.d_head

    @property
    def hidden_dim(self) -> int:
        """The FFN's hidden size actually used."""
        return default_ffn_dim(self.ffn, self.d_model) if self.d_ff is None else self.d_ff

    @classmethod
    def from_dict(cls, d: dict) -> "TransformerConfig":
        """Build from a plain dict; unknown keys are an error that lists the valid ones."""
        if isinstance(d, cls):
            return d
        if not isinstance(d, dict):
            raise TypeError(f"a model config must be a dict, got {type(d).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown model config key(s) {unknown}; valid keys: {names}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.name not in d]
        if missing:
            raise ValueError(f"model config lacks required key(s) {missing}")
        return cls(**d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class KVCache:
    """Keys and values of the tokens seen so far, per layer: (B, H, length, d_k) views.

    Storage is allocated once for ``max_len`` positions; ``update`` writes the new tokens'
    keys/values after the cached ones and returns everything up to them. The model advances
    ``length`` once per forward pass, after all layers have written.
    """

    def __init__(self, num_layers: int, max_len: int):
        self.num_layers, self.max_len = num_layers, max_len
        self.k: list[torch.Tensor | None] = [None] * num_layers
        self.v: list[torch.Tensor | None] = [None] * num_layers
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        B, H, S, d = k.shape
        end = self.length + S
        if end > self.max_len:
            raise ValueError(f"the KV cache holds at most {self.max_len} positions; "
                             f"{self.length} cached + {S} new = {end}")
        if self.k[layer] is None:
            self.k[layer] = k.new_empty(B, H, self.max_len, d)
            self.v[layer] = v.new_empty(B, H, self.max_len, d)
        self.k[layer][:, :, self.length:end] = k
        self.v[layer][:, :, self.length:end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]   # (B, H, end, d) each

    def reset(self) -> None:
        self.length = 0


class CausalSelfAttention(nn.Module):
    """Causal multi-head self-attention with optional RoPE on queries and keys, or an additive
    position bias on the logits (``position_bias``: ALiBi's (H, S_q, S_k) distance penalties)."""

    def __init__(self, cfg: TransformerConfig, layer_index: int = 0):
        super().__init__()
        self.cfg, self.layer_index = cfg, layer_index
        self.num_heads, self.d_head = cfg.num_heads, cfg.d_head
        # W_Q, W_K, W_V stacked into one (3·H·d_k, d) matrix: one matmul instead of three.
        self.qkv = Linear(cfg.d_model, 3 * cfg.d_attn)
        self.out = Linear(cfg.d_attn, cfg.d_model)                      # W_O
        self.rope = (RotaryPositionalEmbedding(cfg.rope_theta, cfg.d_head, cfg.context_length)
                     if cfg.positions == "rope" else None)
        self.position_bias = ALiBi(cfg.num_heads, cfg.causal) if cfg.positions == "alibi" else None
        self.record_weights = False      # set True to keep the last attention weights and logits
        self.last_weights: torch.Tensor | None = None
        self.last_scores: torch.Tensor | None = None

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        # >>> exercise: split_merge_heads
        # hint: (B, S, H*d_k) -> (B, H, S, d_k) with self.num_heads and self.d_head.
        B, S, _ = x.shape
        return x.view(B, S, self.num_heads, self.d_head).transpose(1, 2)    # (B, H, S, d_k)
        # <<< exercise

    def forward(self, x: torch.Tensor, token_positions: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        # >>> exercise: causal_self_attention
        # hint: qkv projection split into q, k, v, heads split; RoPE (self.rope) on q and k at
        # hint: token_positions; with a cache, k, v = cache.update(...); causal_mask if cfg.causal;
        # hint: self.position_bias (ALiBi) adds to the scores. attention 'flash' (unless
        # hint: record_weights): F.scaled_dot_product_attention; else this pack's
        # hint: scaled_dot_product_attention, or explicit scores + softmax when dropout or
        # hint: record_weights (store last_weights, last_scores). Merge heads, self.out.
        B, S, d = x.shape
        q, k, v = self.qkv(x).split(self.cfg.d_attn, dim=-1)         # (B, S, H·d_k) each
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        if self.rope is not None:
            pos = token_positions if token_positions.dim() == 1 else token_positions[:, None, :]
            q, k = self.rope(q, pos), self.rope(k, pos)
        if cache is not None:
            k, v = cache.update(self.layer_index, k, v)              # (B, H, S_k, d_k)
        S_k = k.shape[-2]
        p_drop = self.cfg.dropout_attention if self.training else 0.0
        causal = self.cfg.causal
        bias = (None if self.position_bias is None                    # (H, S, S_k) additive
                else self.position_bias(S, S_k, device=x.device, dtype=q.dtype))
        if self.cfg.attention == "flash" and not self.record_weights:
            if bias is not None:   # the bias as a float mask, -inf where causality forbids
                mask = bias.masked_fill(~causal_mask(S, S_k, device=x.device), float("-inf")) \
                    if causal else bias
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop)
            elif S == S_k or not causal:
                out = F.scaled_dot_product_attention(q, k, v, dropout_p=p_drop,
                                                     is_causal=causal)
            else:  # new queries after cached keys: query i sees keys j <= S_k - S + i
                mask = None if S == 1 else causal_mask(S, S_k, device=x.device)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p_drop)
        else:
            # (S, S_k), True = attend; an encoder (causal=False) attends everywhere: no mask
            mask = causal_mask(S, S_k, device=x.device) if causal else None
            if p_drop > 0 or self.record_weights:
                scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
                if bias is not None:
                    scores = scores + bias
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = softmax(scores, dim=-1)
                if self.record_weights:
                    self.last_weights, self.last_scores = weights.detach(), scores.detach()
                out = F.dropout(weights, p_drop) @ v
            else:
                out = scaled_dot_product_attention(q, k, v, mask, bias=bias)   # (B, H, S, d_k)
        out = out.transpose(1, 2).reshape(B, S, self.cfg.d_attn)     # concat heads
        return self.out(out)
        # <<< exercise


def residual_add(x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """The residual connection: x + SubLayer(x)."""
    return x + fx


def residual_off(x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """No skip connection (``residual=False``): SubLayer(x) alone."""
    return fx


class TransformerBlock(nn.Module):
    """One decoder block: attention and FFN sublayers with residuals, norms per config."""

    def __init__(self, cfg: TransformerConfig, layer_index: int = 0):
        super().__init__()
        self.norm_position = cfg.norm_position
        self.join = residual_add if cfg.residual else residual_off     # x ⊕ SubLayer(x)
        self.attn = CausalSelfAttention(cfg, layer_index)
        self.ffn = make_ffn(cfg.ffn, cfg.d_model, cfg.d_ff)
        use_norm = cfg.norm_position != "none"
        self.ln1 = make_norm(cfg.norm_type, cfg.d_model, cfg.norm_eps) if use_norm else None
        self.ln2 = make_norm(cfg.norm_type, cfg.d_model, cfg.norm_eps) if use_norm else None
        self.drop = nn.Dropout(cfg.dropout_residual)

    def forward(self, x: torch.Tensor, token_positions: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        # >>> exercise: transformer_block
        # hint: pre-norm: x + Drop(Attn(LN1 x)), then x + Drop(FFN(LN2 x)); post-norm: LN1(x +
        # hint: ...), LN2(x + ...); 'none': no norms. Join with self.join (residual on or off).
        if self.norm_position == "pre":
            x = self.join(x, self.drop(self.attn(self.ln1(x), token_positions, cache)))
            return self.join(x, self.drop(self.ffn(self.ln2(x))))
        if self.norm_position == "post":
            x = self.ln1(self.join(x, self.drop(self.attn(x, token_positions, cache))))
            return self.ln2(self.join(x, self.drop(self.ffn(x))))
        x = self.join(x, self.drop(self.attn(x, token_positions, cache)))
        return self.join(x, self.drop(self.ffn(x)))
        # <<< exercise


class TransformerLM(nn.Module):
    """Token embedding -> blocks -> final norm -> LM head; returns logits (B, S, V)."""

    def __init__(self, cfg: TransformerConfig | dict):
        super().__init__()
        cfg = TransformerConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
        self.config = cfg
        self.token_embeddings = Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positions == "learned":
            self.position_embeddings = LearnedPositions(cfg.context_length, cfg.d_model)
        elif cfg.positions == "sinusoidal":
            self.position_embeddings = SinusoidalPositions(cfg.context_length, cfg.d_model)
        else:
            self.position_embeddings = None
        self.drop = nn.Dropout(cfg.dropout_embedding)
        self.layers = nn.ModuleList(TransformerBlock(cfg, i) for i in range(cfg.num_layers))
        self.ln_final = make_norm(cfg.norm_type, cfg.d_model, cfg.norm_eps) \
            if cfg.norm_position == "pre" else None
        self.lm_head = Linear(cfg.d_model, cfg.vocab_size)
        self.reset_parameters()
        if cfg.tie_weights:
            # One matrix for both: initialised as the LM head (an N(0, 1) embedding would give
            # logits of standard deviation sqrt(d) at the start).
            self.token_embeddings.weight = self.lm_head.weight

    def reset_parameters(self) -> None:
        cfg = self.config
        if cfg.init == "gpt2":
            for name, p in self.named_parameters():
                if p.dim() == 2:
                    std = 0.02
                    if name.endswith(("attn.out.weight", "ffn.w2.weight")):
                        std = 0.02 / math.sqrt(2 * cfg.num_layers)
                    nn.init.normal_(p, 0.0, std)
        elif self.position_embeddings is not None and cfg.positions == "learned":
            # trunc_normal scheme: a position table on the token embeddings' scale N(0, 1)
            nn.init.trunc_normal_(self.position_embeddings.table.weight, 0.0, 1.0, -3.0, 3.0)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Trainable parameters (a tied matrix counted once); optionally without the input
        embedding tables (the convention of Kaplan et al., 2020)."""
        seen, total = set(), 0
        for name, p in self.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            if exclude_embeddings and (name.startswith("position_embeddings")
                                       or (name.startswith("token_embeddings")
                                           and not self.config.tie_weights)):
                continue
            total += p.numel()
        return total

    def forward(self, token_ids: torch.Tensor, token_positions: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        if token_ids.dim() != 2:
            raise ValueError(f"token_ids must be (batch, seq), got shape {tuple(token_ids.shape)}")
        B, S = token_ids.shape
        start = cache.length if cache is not None else 0
        if start + S > self.config.context_length:
            raise ValueError(f"sequence of {start + S} tokens ({start} cached + {S} new) is "
                             f"longer than context_length={self.config.context_length}")
        if token_positions is None:
            token_positions = torch.arange(start, start + S, device=token_ids.device)   # (S,)
        # >>> exercise: lm_forward
        # hint: token embeddings, plus self.position_embeddings(token_positions) when the model
        # hint: has them; embedding dropout; every block with token_positions and the cache;
        # hint: then advance cache.length by S; the final norm if any; lm_head: logits (B, S, V).
        x = self.token_embeddings(token_ids)                                   # (B, S, d)
        if self.position_embeddings is not None:
            x = x + self.position_embeddings(token_positions)
        x = self.drop(x)
        for layer in self.layers:
            x = layer(x, token_positions, cache)
        if cache is not None:
            cache.length += S
        if self.ln_final is not None:
            x = self.ln_final(x)
        return self.lm_head(x)                                                 # (B, S, V)
        # <<< exercise

    def new_cache(self) -> KVCache:
        return KVCache(self.config.num_layers, self.config.context_length)


@contextlib.contextmanager
def lesion(model: nn.Module, skip):
    """Within the ``with`` block, the blocks ``model.layers[l]`` for l in ``skip`` are bypassed
    (x_{l+1} = x_l: the block's residual branch deleted, Veit et al., 2016); the model is
    restored afterwards, also after an exception. ``skip = range(L)`` leaves embedding → final
    norm → head. Works for any model whose blocks are an ``nn.ModuleList`` named ``layers``
    (:class:`TransformerLM`, ``utils.nn.encoder.TokenEncoder``)."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"lesion needs a model with an nn.ModuleList 'layers', got "
                        f"{type(model).__name__}")
    skip = sorted({int(i) for i in skip})
    bad = [i for i in skip if not 0 <= i < len(layers)]
    if bad:
        raise IndexError(f"blocks {bad} do not exist; the model has blocks 0..{len(layers) - 1}")
    model.layers = nn.ModuleList(b for i, b in enumerate(layers) if i not in skip)
    try:
        yield model
    finally:
        model.layers = layers
