"""Positional information for a Transformer: RoPE, sinusoidal, learned absolute, or none.

Taught in notebook 02 (positional encodings) and used by ``utils.nn.transformer_lm``
(notebooks 06 and 07).

* **Sinusoidal** (Vaswani et al., 2017, §3.5), added to the token embeddings:
  PE(pos, 2i) = sin(pos / base^(2i/d)),  PE(pos, 2i+1) = cos(pos / base^(2i/d)),  base 10000.
  (The exponent is 2i/d: ``base ** (2 * i) / d``, as one seed answer writes it, overflows.)
* **Learned absolute** (GPT-2): a trainable (max_len, d) table added to the embeddings.
* **RoPE** (Su et al., 2021, "RoFormer"), applied to queries and keys inside attention: each
  adjacent pair (x_{2k}, x_{2k+1}) of a d_k-dimensional vector at position m is rotated by the
  angle θ_{m,k} = m · Θ^(−2k/d_k), k = 0 … d_k/2 − 1:

      [x'_{2k}  ]   [cos θ  −sin θ] [x_{2k}  ]
      [x'_{2k+1}] = [sin θ   cos θ] [x_{2k+1}]

  Rotations preserve norms, and R_mᵀ R_n = R_{n−m}, so ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends on
  the positions only through the offset n − m (the "relative property"). cos and sin are
  precomputed for every position up to ``max_seq_len`` and looked up by explicit token
  positions, so a KV cache can rotate new tokens at their true positions.
* **NoPE**: no positional signal at all; a causal model can still infer order from its mask.

Shapes: ``x`` (..., S, d_k); ``token_positions`` (..., S), broadcastable against x's leading
dimensions (e.g. (S,) for every batch element and head).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import Embedding

POSITION_TYPES = ("rope", "learned", "sinusoidal", "alibi", "none")   # alibi: utils/nn/alibi.py


def _check_positions(token_positions: torch.Tensor, max_len: int, what: str) -> None:
    if token_positions.dtype.is_floating_point or token_positions.dtype == torch.bool:
        raise TypeError(f"token positions must be an integer tensor, got {token_positions.dtype}")
    checkable = token_positions.numel() and token_positions.device.type != "meta"
    if checkable and (int(token_positions.min()) < 0
                      or int(token_positions.max()) >= max_len):
        raise IndexError(
            f"token positions must lie in [0, {max_len - 1}] ({what} was built for "
            f"max_seq_len={max_len}); got positions {int(token_positions.min())} to "
            f"{int(token_positions.max())}")


def rope_angles(d_k: int, max_seq_len: int, theta: float = 10000.0) -> torch.Tensor:
    """θ_{m,k} = m · Θ^(−2k/d_k) as a float64 (max_seq_len, d_k/2) table."""
    if d_k % 2:
        raise ValueError(f"RoPE rotates pairs of dimensions, so the head dimension d_k must be "
                         f"even; got d_k={d_k}")
    if max_seq_len < 1:
        raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")
    if theta <= 0:
        raise ValueError(f"theta must be > 0, got {theta}")
    # >>> exercise: rope
    # hint: theta_{m,k} = m * theta^(-2k/d_k) for k < d_k/2, in float64: (max_seq_len, d_k/2).
    k = torch.arange(d_k // 2, dtype=torch.float64)
    inv_freq = theta ** (-2.0 * k / d_k)                             # (d_k/2,)
    m = torch.arange(max_seq_len, dtype=torch.float64)
    return torch.outer(m, inv_freq)                                  # (S_max, d_k/2)
    # <<< exercise


class RotaryPositionalEmbedding(nn.Module):
    """Rotate adjacent pairs of ``x`` by position-dependent angles (RoPE); no parameters."""

    def __init__(self, theta: float, d_k: int, max_seq_len: int, device=None,
                 dtype=torch.float32):
        super().__init__()
        angles = rope_angles(d_k, max_seq_len, theta)
        self.theta, self.d_k, self.max_seq_len = theta, d_k, max_seq_len
        self.register_buffer("cos", angles.cos().to(device=device, dtype=dtype), persistent=False)
        self.register_buffer("sin", angles.sin().to(device=device, dtype=dtype), persistent=False)

    def _apply(self, fn, *args, **kwargs):
        # after .to(dtype/device) / .double(): recompute the tables from float64 angles, so a
        # float64 model gets float64-accurate rotations (not float32 values widened)
        super()._apply(fn, *args, **kwargs)
        angles = rope_angles(self.d_k, self.max_seq_len, self.theta).to(self.cos.device)
        self.cos, self.sin = angles.cos().to(self.cos.dtype), angles.sin().to(self.sin.dtype)
        return self

    def forward(self, x: torch.Tensor, token_positions: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_k:
            raise ValueError(f"x has last dimension {x.shape[-1]}, RoPE was built for "
                             f"d_k={self.d_k}")
        _check_positions(token_positions, self.max_seq_len, "RoPE")
        # >>> exercise: rope
        # hint: rotate each pair (x[2k], x[2k+1]) by the angle of its position: cos/sin rows of
        # hint: self.cos/self.sin at token_positions; (e, o) -> (e cos - o sin, e sin + o cos),
        # hint: interleaved back into (..., S, d_k).
        cos = self.cos[token_positions].to(x.dtype)                  # (..., S, d_k/2)
        sin = self.sin[token_positions].to(x.dtype)
        x_even, x_odd = x[..., 0::2], x[..., 1::2]                   # (..., S, d_k/2) each
        out = torch.stack((x_even * cos - x_odd * sin,
                           x_even * sin + x_odd * cos), dim=-1)      # (..., S, d_k/2, 2)
        return out.flatten(-2)                                       # (..., S, d_k)
        # <<< exercise

    def extra_repr(self) -> str:
        return f"theta={self.theta}, d_k={self.d_k}, max_seq_len={self.max_seq_len}"


def rope_matrix(d_k: int, position: int, theta: float = 10000.0) -> torch.Tensor:
    """The explicit block-diagonal rotation R_{Θ,m} (d_k, d_k), float64, for teaching/tests."""
    angles = rope_angles(d_k, position + 1, theta)[position]
    R = torch.zeros(d_k, d_k, dtype=torch.float64)
    for k, a in enumerate(angles.tolist()):
        c, s = math.cos(a), math.sin(a)
        R[2 * k:2 * k + 2, 2 * k:2 * k + 2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return R


def sinusoidal_table(max_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """PE (max_len, d_model), float64: PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(...)."""
    if d_model % 2:
        raise ValueError(f"the sinusoidal table interleaves sin and cos, so d_model must be "
                         f"even; got {d_model}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    # >>> exercise: sinusoidal_embeddings
    # hint: Vaswani et al.: PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(...), float64.
    i = torch.arange(d_model // 2, dtype=torch.float64)
    inv_freq = base ** (-2.0 * i / d_model)                          # (d/2,)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)
    pe = torch.empty(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = angles.sin(), angles.cos()
    return pe
    # <<< exercise


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal table; ``forward(positions)`` returns rows to add to the embeddings."""

    def __init__(self, max_len: int, d_model: int, base: float = 10000.0, dtype=torch.float32):
        super().__init__()
        self.max_len, self.d_model, self.base = max_len, d_model, base
        self.register_buffer("table", sinusoidal_table(max_len, d_model, base).to(dtype),
                             persistent=False)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)      # recompute at the new dtype (see RoPE)
        self.table = sinusoidal_table(self.max_len, self.d_model, self.base).to(
            device=self.table.device, dtype=self.table.dtype)
        return self

    def forward(self, token_positions: torch.Tensor) -> torch.Tensor:
        _check_positions(token_positions, self.max_len, "the sinusoidal table")
        return self.table[token_positions]                            # (..., S, d)


class LearnedPositions(nn.Module):
    """A trainable (max_len, d) table (GPT-2's ``wpe``), added to the token embeddings."""

    def __init__(self, max_len: int, d_model: int, std: float = 0.02):
        super().__init__()
        self.max_len = max_len
        self.table = Embedding(max_len, d_model, std=std)

    def forward(self, token_positions: torch.Tensor) -> torch.Tensor:
        _check_positions(token_positions, self.max_len, "the learned position table")
        return self.table(token_positions)                            # (..., S, d)
