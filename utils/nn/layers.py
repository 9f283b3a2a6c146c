"""Transformer building blocks from scratch: Linear, Embedding, norms, activations, FFNs.

Taught in notebooks 06 (the Transformer LM, seed 004 "CS336 assignment 1") and 07 (the
character GPT, seed 003 section 2); notebook 02 uses the embedding. Each module stores its
weights as plain ``nn.Parameter`` tensors and computes its output with tensor operations, so
the reader sees the equation; ``tests/test_layers.py`` checks each against its torch built-in.

* ``Linear``: y = x Wᵀ, W of shape (d_out, d_in), no bias. Initialisation as in the CS336
  handout: W ~ N(0, σ²) with σ² = 2 / (d_in + d_out), truncated to [−3σ, 3σ].
* ``Embedding``: row lookup E[token_id], E ~ N(0, 1) truncated to [−3, 3].
* ``RMSNorm`` (Zhang & Sennrich, 2019): x / sqrt(mean(x²) + ε) · g, computed in float32 (or
  wider) and cast back to the input's dtype.
* ``LayerNorm`` (Ba et al., 2016): (x − μ) / sqrt(σ² + ε) · g + b, for the norm-type ablation.
* ``BatchNorm`` (Ioffe & Szegedy, 2015) over the token dimension: per channel, statistics over
  every batch and sequence position of (B, S, d); running statistics at evaluation (notebook 31,
  the LayerNorm-vs-BatchNorm assertion).
* ``silu`` (Hendrycks & Gimpel, 2016; Elfwing et al., 2018): x · σ(x). ``gelu``: the GPT-2 /
  BERT tanh approximation 0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³))).
* ``SwiGLU`` (Shazeer, 2020): W₂ (SiLU(W₁ x) ⊙ W₃ x), hidden size d_ff ≈ 8/3 · d_model rounded
  to the nearest multiple of 64 (``swiglu_hidden_dim``), so it has about as many parameters
  (3 · d · d_ff ≈ 8 d²) as a classic 4d FFN.
* ``FeedForward``: the classic two-matrix FFN W₂ act(W₁ x) with SiLU or GELU, for the
  SwiGLU-vs-SiLU ablation (parameter-matched with d_ff = 3/2 · d_ff(SwiGLU)).

Shapes: ``...`` is any number of leading dimensions (batch, sequence).
"""

from __future__ import annotations

import math

import torch
from torch import nn

NORM_TYPES = ("rmsnorm", "layernorm", "batchnorm")
FFN_TYPES = ("swiglu", "silu", "gelu")


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def trunc_normal_(weight: torch.Tensor, std: float) -> torch.Tensor:
    """Fill ``weight`` in place with N(0, std²) truncated to [−3·std, 3·std]."""
    return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-3.0 * std, b=3.0 * std)


class Linear(nn.Module):
    """y = x Wᵀ without bias; W is stored (d_out, d_in) like ``torch.nn.Linear``."""

    def __init__(self, d_in: int, d_out: int, std: float | None = None, device=None,
                 dtype=None):
        super().__init__()
        _check_positive("d_in", d_in)
        _check_positive("d_out", d_out)
        self.d_in, self.d_out = d_in, d_out
        self.weight = nn.Parameter(torch.empty(d_out, d_in, device=device, dtype=dtype))
        trunc_normal_(self.weight, math.sqrt(2.0 / (d_in + d_out)) if std is None else std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # >>> exercise: linear_embedding
        # hint: y = x W^T for W of shape (d_out, d_in); no bias, no torch.nn.functional.linear.
        return x @ self.weight.T                                  # (..., d_in) -> (..., d_out)
        # <<< exercise

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, bias=False"


class Embedding(nn.Module):
    """Row lookup: token id i -> E[i], E of shape (num_embeddings, d)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, std: float = 1.0, device=None,
                 dtype=None):
        super().__init__()
        _check_positive("num_embeddings", num_embeddings)
        _check_positive("embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim, device=device,
                                               dtype=dtype))
        trunc_normal_(self.weight, std)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(f"token ids must be an integer tensor, got {token_ids.dtype}")
        checkable = token_ids.numel() and token_ids.device.type != "meta"   # meta: no values
        if checkable and (int(token_ids.min()) < 0
                          or int(token_ids.max()) >= self.num_embeddings):
            raise IndexError(
                f"token ids must lie in [0, {self.num_embeddings - 1}] (the table has "
                f"{self.num_embeddings} rows); got values from {int(token_ids.min())} to "
                f"{int(token_ids.max())}")
        # >>> exercise: linear_embedding
        # hint: a row lookup in self.weight (no torch.nn.functional.embedding).
        return self.weight[token_ids]                              # (...) -> (..., d)
        # <<< exercise

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class RMSNorm(nn.Module):
    """RMSNorm(x) = x / sqrt(mean_i x_i² + ε) · g, over the last dimension.

    The statistics are computed in float32 (or in the input's dtype if it is wider): squaring
    bfloat16 or float16 values loses too much precision. The result is cast back.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, device=None, dtype=None):
        super().__init__()
        _check_positive("d_model", d_model)
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # >>> exercise: rmsnorm
        # hint: compute in float32 (or wider: torch.promote_types), x / sqrt(mean(x^2) + eps) *
        # hint: weight over the last dim, cast back to the input dtype.
        in_dtype = x.dtype
        x = x.to(torch.promote_types(in_dtype, torch.float32))
        inv_rms = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)   # (..., 1)
        return (x * inv_rms * self.weight).to(in_dtype)
        # <<< exercise

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}"


class LayerNorm(nn.Module):
    """LayerNorm(x) = (x − mean(x)) / sqrt(var(x) + ε) · g + b (biased variance), last dim."""

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        _check_positive("d_model", d_model)
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(d_model, device=device, dtype=dtype)) if bias \
            else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # >>> exercise: layer_norm
        # hint: as gpt.LayerNorm but computed in float32 (or wider) and cast back; bias may be
        # hint: None.
        in_dtype = x.dtype
        x = x.to(torch.promote_types(in_dtype, torch.float32))
        mu = x.mean(dim=-1, keepdim=True)
        var = (x - mu).pow(2).mean(dim=-1, keepdim=True)
        y = (x - mu) * torch.rsqrt(var + self.eps) * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y.to(in_dtype)
        # <<< exercise

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}, bias={self.bias is not None}"


class BatchNorm(nn.Module):
    """BatchNorm over tokens: y = (x − μ_c) / sqrt(σ²_c + ε) · g + b, per channel c (last dim).

    Training: μ_c and the biased σ²_c are taken over all leading positions (batch and sequence:
    B·S values per channel for (B, S, d)), and the running estimates move by
    ``momentum`` towards them (the running variance uses the unbiased estimate, as
    ``torch.nn.BatchNorm1d``). Evaluation: the running estimates, so a token's output no longer
    depends on the other tokens of its batch.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, momentum: float = 0.1, device=None,
                 dtype=None):
        super().__init__()
        _check_positive("d_model", d_model)
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.d_model, self.eps, self.momentum = d_model, eps, momentum
        self.weight = nn.Parameter(torch.ones(d_model, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(d_model, device=device, dtype=dtype))
        self.register_buffer("running_mean", torch.zeros(d_model, device=device, dtype=dtype))
        self.register_buffer("running_var", torch.ones(d_model, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"BatchNorm expects (..., {self.d_model}) inputs, got shape "
                             f"{tuple(x.shape)}")
        in_dtype = x.dtype
        x = x.to(torch.promote_types(in_dtype, torch.float32))
        flat = x.reshape(-1, self.d_model)                             # (B·S, d)
        if self.training:
            n = flat.shape[0]
            if n < 2:
                raise ValueError("BatchNorm in training mode needs at least 2 positions per "
                                 "channel (batch × sequence), got 1")
            mu = flat.mean(dim=0)                                      # (d,)
            var = (flat - mu).pow(2).mean(dim=0)                       # biased, (d,)
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(m * mu.to(self.running_mean.dtype))
                self.running_var.mul_(1 - m).add_(
                    m * (var * n / (n - 1)).to(self.running_var.dtype))
        else:
            mu, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        y = (x - mu) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return y.to(in_dtype)

    def extra_repr(self) -> str:
        return f"{self.d_model}, eps={self.eps}, momentum={self.momentum}"


def make_norm(norm_type: str, d_model: int, eps: float = 1e-5) -> nn.Module:
    """``RMSNorm``, ``LayerNorm`` or ``BatchNorm`` (over tokens) by name."""
    if norm_type == "rmsnorm":
        return RMSNorm(d_model, eps)
    if norm_type == "layernorm":
        return LayerNorm(d_model, eps)
    if norm_type == "batchnorm":
        return BatchNorm(d_model, eps)
    raise ValueError(f"unknown norm type {norm_type!r}; allowed: {', '.join(NORM_TYPES)}")


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU / Swish: x · σ(x)."""
    # >>> exercise: swiglu
    # hint: SiLU(x) = x * sigmoid(x).
    return x * torch.sigmoid(x)
    # <<< exercise


def gelu(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (GPT-2, BERT): 0.5 x (1 + tanh(sqrt(2/π)(x + 0.044715 x³)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class SiLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return silu(x)


class GELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gelu(x)


def swiglu_hidden_dim(d_model: int, multiple_of: int = 64) -> int:
    """d_ff for SwiGLU: 8/3 · d_model rounded to the nearest multiple of ``multiple_of``.

    The nearest multiple (not the next one up) reproduces the CS336 configuration
    (d_model 512 -> d_ff 1344). At least one multiple.
    """
    _check_positive("d_model", d_model)
    _check_positive("multiple_of", multiple_of)
    return max(multiple_of, multiple_of * round(8 * d_model / 3 / multiple_of))


class SwiGLU(nn.Module):
    """FFN_SwiGLU(x) = W₂ (SiLU(W₁ x) ⊙ W₃ x); W₁, W₃: (d_ff, d), W₂: (d, d_ff)."""

    def __init__(self, d_model: int, d_ff: int | None = None):
        super().__init__()
        d_ff = swiglu_hidden_dim(d_model) if d_ff is None else d_ff
        self.d_model, self.d_ff = d_model, d_ff
        self.w1 = Linear(d_model, d_ff)
        self.w2 = Linear(d_ff, d_model)
        self.w3 = Linear(d_model, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # >>> exercise: swiglu
        # hint: W2 (SiLU(W1 x) * W3 x) with this module's silu.
        return self.w2(silu(self.w1(x)) * self.w3(x))              # (..., d) -> (..., d)
        # <<< exercise


class FeedForward(nn.Module):
    """FFN(x) = W₂ act(W₁ x) with act = SiLU or GELU; W₁: (d_ff, d), W₂: (d, d_ff)."""

    def __init__(self, d_model: int, d_ff: int, activation: str = "silu"):
        super().__init__()
        if activation not in ("silu", "gelu"):
            raise ValueError(f"unknown activation {activation!r}; allowed: 'silu', 'gelu'")
        self.d_model, self.d_ff, self.activation = d_model, d_ff, activation
        self.w1 = Linear(d_model, d_ff)
        self.w2 = Linear(d_ff, d_model)
        self.act = silu if activation == "silu" else gelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.act(self.w1(x)))                       # (..., d) -> (..., d)


def default_ffn_dim(ffn: str, d_model: int) -> int:
    """The default hidden size per FFN type.

    SwiGLU: ``swiglu_hidden_dim(d)``; SiLU / GELU: 3/2 of that (rounded to a multiple of 2),
    which gives exactly the SwiGLU's parameter count (2 · d · 3/2 d_ff = 3 · d · d_ff): the
    parameter-matched comparison the SwiGLU ablation asks for.
    """
    if ffn == "swiglu":
        return swiglu_hidden_dim(d_model)
    if ffn in ("silu", "gelu"):
        return 2 * round(3 * swiglu_hidden_dim(d_model) / 4)
    raise ValueError(f"unknown FFN type {ffn!r}; allowed: {', '.join(FFN_TYPES)}")


def make_ffn(ffn: str, d_model: int, d_ff: int | None = None) -> nn.Module:
    """``SwiGLU`` or ``FeedForward`` (SiLU / GELU) by name; ``d_ff`` defaults per type."""
    d_ff = default_ffn_dim(ffn, d_model) if d_ff is None else d_ff
    _check_positive("d_ff", d_ff)
    if ffn == "swiglu":
        return SwiGLU(d_model, d_ff)
    return FeedForward(d_model, d_ff, activation=ffn)
