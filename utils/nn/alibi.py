"""ALiBi: attention with linear biases (Press, Smith and Lewis, 2022, "Train Short, Test Long").

Used by ``utils.nn.transformer_lm`` (``positions="alibi"``) and taught in notebook 30 (seed 000,
question Q1: length generalisation). ALiBi adds no position vector to the embeddings. Instead,
head h adds a fixed penalty proportional to the distance between query i and key j to the
attention logit before the softmax:

    score_h(i, j) = q_i · k_j / sqrt(d_k) − m_h · (i − j),        j ≤ i (causal),

with head-specific slopes forming a geometric sequence. For H heads, H a power of two,

    m_h = 2^(−8h/H),   h = 1 … H          (H = 8: 1/2, 1/4, …, 1/256);

for other H the paper takes the 2^⌊log₂H⌋ slopes of the nearest smaller power of two and adds
every other slope of the sequence for twice that many heads (its reference code, reproduced by
:func:`alibi_slopes`). The bias depends on the offset i − j only, and grows linearly without
bound: every head is "myopic" by construction (distant keys are penalised), with a different
horizon 1/m_h per head, and nothing new appears at offsets longer than those of training. That
is why the paper's models trained on short sequences extrapolate to longer ones.

An encoder (``causal=False``) uses the symmetric bias −m_h·|i − j|.

:class:`ALiBi` is an *attention-bias provider*: attention calls it with the query and key counts
and adds the (H, S_q, S_k) result to its logits. Queries are the last S_q of the S_k key
positions (as with a KV cache: query a sits at position S_k − S_q + a). ``tests/test_alibi.py``
checks the slopes and the bias against the formulas above.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """The H slopes m_h of Press et al. (2022), float64, largest first."""
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)                      # m_1 = 2^(−8/n), ratio the same
        return [start ** (h + 1) for h in range(n)]

    if math.log2(num_heads).is_integer():
        slopes = power_of_two(num_heads)
    else:
        base = 2 ** math.floor(math.log2(num_heads))
        slopes = power_of_two(base) + alibi_slopes(2 * base).tolist()[0::2][:num_heads - base]
    return torch.tensor(slopes, dtype=torch.float64)


class ALiBi(nn.Module):
    """Linear distance penalties, one slope per head; ``forward(S_q, S_k)`` → (H, S_q, S_k)."""

    def __init__(self, num_heads: int, causal: bool = True):
        super().__init__()
        self.num_heads, self.causal = num_heads, causal
        self.register_buffer("slopes", alibi_slopes(num_heads).float(), persistent=False)

    def forward(self, s_q: int, s_k: int, device=None, dtype=torch.float32) -> torch.Tensor:
        if s_q > s_k:
            raise ValueError(f"ALiBi needs at least as many keys as queries, got S_q={s_q}, "
                             f"S_k={s_k}")
        i = torch.arange(s_k - s_q, s_k, device=device)[:, None]      # query positions (S_q, 1)
        j = torch.arange(s_k, device=device)[None, :]                  # key positions (1, S_k)
        distance = (i - j).abs() if not self.causal else (i - j).clamp(min=0)   # (S_q, S_k)
        slopes = self.slopes.to(device=device, dtype=dtype)
        return -slopes[:, None, None] * distance.to(dtype)            # (H, S_q, S_k)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, causal={self.causal}"
