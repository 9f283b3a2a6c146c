"""Pointer chasing: the k-th power of a random permutation, a task whose difficulty k sets the
number of sequential look-ups (notebook 35, seed 000 question 6: does depth buy composition?).

A sequence lists a random permutation f of [m] = {0, …, m−1} as m *pair tokens*, one per key a,
in a random order, after one *hop token* that says k:

    tokens  = [hop(k), pair(a_1, f(a_1)), …, pair(a_m, f(a_m))]            (m + 1,)
    targets = [IGNORE, f^k(a_1), …, f^k(a_m)]                             (m + 1,)

with pair(a, b) = a·m + b (ids 0 … m²−1), hop(k) = m² + k − 1 and f^k = f ∘ … ∘ f (k times).
Every pair position is supervised, so one sequence gives m labels. The order of the pairs is
random and carries no information (a model without positional encodings and with bidirectional
attention is the natural reader: the input is a set). :func:`one_hot_inputs` gives each token as
[one-hot key | one-hot value | one-hot k] (2m + k_max features) for a Transformer over continuous
tokens (``utils.nn.encoder.TokenEncoder``), whose input Linear then embeds a pair as
W_key a + W_value b: the factorised embedding is given, not learned from m² separate rows.

Why depth: each pair token already holds one hop, f(a). One attention look-up lets position a
read the token whose key is its current pointer p and copy that token's pointer; with every
position doing this in parallel ("pointer doubling", [Sanford et al., 2024]) the pointers go
f → f² → f⁴ …, so after L layers of exact single look-ups a position can hold f^(2^L)(a), and
k hops need L ≥ ⌈log₂ k⌉ layers of this kind. A non-doubling reader that adds one hop per layer
needs L ≥ k − 1. The targets are computed here by repeated squaring (:func:`function_power`);
``tests/test_residual_depth.py`` checks them against the literal k-fold loop.
"""

from __future__ import annotations

import torch

IGNORE = -100          # target of the hop-token position (skipped by the loss and accuracy)


def _positive_int(name: str, v, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return v


def vocab_size(m: int, k_max: int) -> int:
    """m² pair tokens and one hop token per k in 1 … k_max."""
    return _positive_int("m", m, 2) ** 2 + _positive_int("k_max", k_max)


def pair_token(a: torch.Tensor | int, b: torch.Tensor | int, m: int):
    """The id of the token that says "f(a) = b"."""
    return a * m + b


def hop_token(k: torch.Tensor | int, m: int):
    """The id of the token that says "answer with f^k"."""
    return m * m + k - 1


def function_power(f: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """f^k for a batch of functions: ``f`` (B, m) with f[b, a] = f_b(a), ``k`` (B,) int >= 0;
    returns (B, m) with out[b, a] = f_b^{k_b}(a). Repeated squaring: O(m log k) per row."""
    if f.dim() != 2 or k.dim() != 1 or k.shape[0] != f.shape[0]:
        raise ValueError(f"f must be (B, m) and k (B,), got {tuple(f.shape)} and {tuple(k.shape)}")
    if (k < 0).any():
        raise ValueError("k must be >= 0")
    B, m = f.shape
    result = torch.arange(m).expand(B, m).clone()           # identity, (B, m)
    base, k = f.clone(), k.clone()
    while bool((k > 0).any()):
        odd = (k % 2 == 1)[:, None]                          # (B, 1)
        result = torch.where(odd, base.gather(1, result), result)    # base ∘ result
        base = base.gather(1, base)                          # base ∘ base
        k = k // 2
    return result


def sample_batch(batch_size: int, m: int, ks, generator: torch.Generator | None = None):
    """A batch of pointer-chasing sequences.

    ``ks``: the hop counts to draw from (uniformly, one per sequence), each in 1 … k_max.
    Returns ``(tokens, targets, k, f)``: tokens and targets (B, m + 1) int64, k (B,), and the
    permutations f (B, m).
    """
    _positive_int("batch_size", batch_size)
    _positive_int("m", m, 2)
    ks = torch.as_tensor(list(ks), dtype=torch.long)
    if ks.numel() == 0 or (ks < 1).any():
        raise ValueError(f"ks must be a non-empty list of hop counts >= 1, got {ks.tolist()}")
    B = batch_size
    f = torch.rand(B, m, generator=generator).argsort(dim=1)          # random permutations
    order = torch.rand(B, m, generator=generator).argsort(dim=1)      # key listed at each slot
    k = ks[torch.randint(0, ks.numel(), (B,), generator=generator)]   # (B,)
    values = f.gather(1, order)                                       # f(a) at each slot
    answers = function_power(f, k).gather(1, order)                   # f^k(a) at each slot
    tokens = torch.cat([hop_token(k, m)[:, None], pair_token(order, values, m)], dim=1)
    targets = torch.cat([torch.full((B, 1), IGNORE), answers], dim=1)
    return tokens, targets, k, f


def one_hot_inputs(tokens: torch.Tensor, m: int, k_max: int) -> torch.Tensor:
    """(B, S) token ids → (B, S, 2m + k_max) floats: [one-hot key | one-hot value | one-hot k];
    a pair token sets one key and one value feature, a hop token one k feature."""
    if int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size(m, k_max):
        raise ValueError(f"token ids must lie in [0, {vocab_size(m, k_max) - 1}] for m={m}, "
                         f"k_max={k_max}")
    is_hop = (tokens >= m * m)[..., None]                              # (B, S, 1)
    pair = torch.where(is_hop[..., 0], 0, tokens)
    hop = torch.where(is_hop[..., 0], tokens - m * m, 0)
    key = torch.nn.functional.one_hot(pair // m, m) * ~is_hop          # (B, S, m)
    value = torch.nn.functional.one_hot(pair % m, m) * ~is_hop         # (B, S, m)
    k = torch.nn.functional.one_hot(hop, k_max) * is_hop               # (B, S, k_max)
    return torch.cat([key, value, k], dim=-1).float()
