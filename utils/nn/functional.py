"""Softmax and scaled dot-product attention, from scratch (taught in notebook 01).

    Attention(Q, K, V) = softmax(Q Kᵀ / sqrt(d_k) + M) V            (Vaswani et al., 2017, eq. 1)

where M is 0 where a query may attend to a key and −inf where it may not. The mask convention
follows ``torch.nn.functional.scaled_dot_product_attention``: a boolean ``mask`` is **True where
attention is allowed**. Shapes: ``q`` (..., S_q, d_k), ``k`` (..., S_k, d_k), ``v`` (..., S_k,
d_v); leading dimensions (batch, heads) broadcast. Later notebooks (02, 04, 06, 07) import these
instead of redefining them; ``tests/test_functional.py`` checks them against torch.
"""

from __future__ import annotations

import math

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax: subtract the maximum before exponentiating.

    exp(x_i − m) / Σ_j exp(x_j − m) equals exp(x_i) / Σ_j exp(x_j) for any m, and with
    m = max_j x_j no exponent exceeds 0, so nothing overflows. A row that is all −inf (a query
    that may attend to nothing, e.g. a padding position with every key masked) gives zeros,
    and zero gradients, not NaN: so attention over it gives 0, as
    ``torch.nn.functional.scaled_dot_product_attention`` does (``torch.softmax`` itself gives
    NaN there). Any finite row sums to at least exp(0) = 1, so clamping the sum at 1 changes
    nothing else.
    """
    # >>> exercise: softmax
    # hint: subtract the (detached) max along dim before exp; a row that is all -inf must give
    # hint: zeros, not NaN: replace a non-finite max by 0 and clamp the sum at >= 1.
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m)).detach()
    e = torch.exp(x - m)
    return e / e.sum(dim=dim, keepdim=True).clamp_min(1.0)
    # <<< exercise


def causal_mask(s_q: int, s_k: int | None = None, device=None) -> torch.Tensor:
    """Boolean (S_q, S_k) mask, True on and below the diagonal: query i sees keys j <= i.

    With S_k > S_q (a KV cache holding earlier tokens) the queries are the last S_q positions.
    """
    # >>> exercise: causal_attention
    # hint: boolean (S_q, S_k), True where key j <= query i; with S_k > S_q the queries are the
    # hint: last S_q positions (shift i by S_k - S_q).
    s_k = s_q if s_k is None else s_k
    i = torch.arange(s_q, device=device)[:, None] + (s_k - s_q)
    j = torch.arange(s_k, device=device)[None, :]
    return j <= i
    # <<< exercise


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Clear errors for attention inputs whose shapes cannot go together."""
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the last dimension d_k, got {q.shape[-1]} and "
                         f"{k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys, got {k.shape[-2]} and "
                         f"{v.shape[-2]}")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None,
                                 return_weights: bool = False,
                                 bias: torch.Tensor | None = None):
    """softmax(q kᵀ / sqrt(d_k) + bias, masked) v. Returns the output (…, S_q, d_v) [and the
    weights]. ``bias``: an additive term broadcastable to (…, S_q, S_k), e.g. ALiBi's. A query
    that may attend to no key gets output 0 and zero gradients, as in torch (:func:`softmax`)."""
    check_qkv(q, k, v)
    # >>> exercise: sdpa
    # hint: scores = q k^T / sqrt(d_k) (+ bias); masked_fill -inf where mask is False (the mask
    # hint: must be boolean: TypeError otherwise); weights = softmax (this module's); out = weights
    # hint: v.
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])     # (…, S_q, S_k)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)                              # (…, S_q, S_k)
    out = weights @ v                                              # (…, S_q, d_v)
    return (out, weights) if return_weights else out
    # <<< exercise
