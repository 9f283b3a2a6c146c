"""Attention beyond the single function: heads, Bahdanau's score, blocked attention, costs.

Taught in notebook 01 (seed 002 part A; seed 003 sections 2.1-2.2 and question 2.1). The core
operation softmax(Q Kᵀ / sqrt(d_k) + M) V lives in :mod:`utils.nn.functional` and is imported
here, not redefined. This module adds, in reading order:

* ``split_heads`` / ``merge_heads``: (B, S, h·d_k) <-> (B, h, S, d_k). Projecting with one
  d_model x d_model matrix and splitting the result into h slices is the same as h separate
  d_model x d_k projections W_i^Q (Vaswani et al., 2017, section 3.2.2).
* ``MultiHeadSelfAttention``: MultiHead(X) = Concat(head_1, ..., head_h) W^O with
  head_i = Attention(X W_i^Q, X W_i^K, X W_i^V), as plain tensor operations; optional causal
  mask; returns the per-head weights on request. ``from_torch`` copies the weights of a
  ``torch.nn.MultiheadAttention`` (the tests check both give the same output).
* ``AdditiveAttention`` (Bahdanau, Cho & Bengio, 2015, eq. 5-6 and appendix A.1.2):
  e_ij = vᵀ tanh(W_q q_i + W_k k_j), α_ij = softmax_j(e_ij), c_i = Σ_j α_ij v_j.
* ``blocked_attention``: exact attention computed block by block with the online softmax
  (Milakov & Gimelshein, 2018) as in FlashAttention (Dao et al., 2022): a running maximum m,
  a running normaliser l and a running weighted sum are rescaled when a new block of keys
  arrives, so the S_q x S_k score matrix is never stored. Optional causal mask and causal
  sliding window (Beltagy et al., 2020), which also cuts the work from O(S²) to O(S·w).
* measurement helpers: ``peak_memory_bytes`` (bytes allocated at the peak of a call, from
  torch's own allocator records), ``time_call`` (median seconds), ``measure_attention`` (both,
  for one implementation and one sequence length) and ``input_gradient_profile`` (how much an
  output position depends on each input position: the receptive field, measured).

Shapes: B batch, h heads, S sequence length, d_k = d_model / h.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .functional import causal_mask, check_qkv, scaled_dot_product_attention, softmax


# --------------------------------------------------------------------------- heads
def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, S, h·d_k) -> (B, h, S, d_k): head i gets features i·d_k ... (i+1)·d_k − 1."""
    _check_positive_int("n_heads", n_heads)
    if x.dim() != 3:
        raise ValueError(f"split_heads expects (B, S, d_model), got shape {tuple(x.shape)}")
    B, S, D = x.shape
    if D % n_heads:
        raise ValueError(f"d_model={D} is not divisible by n_heads={n_heads}; choose n_heads "
                         f"among the divisors of {D}")
    # >>> exercise: split_merge_heads
    # hint: (B, S, h*d_k) -> (B, h, S, d_k): head i gets features i*d_k ... (i+1)*d_k - 1.
    return x.view(B, S, n_heads, D // n_heads).transpose(1, 2)      # (B, h, S, d_k)
    # <<< exercise


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, h, S, d_k) -> (B, S, h·d_k): the concatenation Concat(head_1, ..., head_h)."""
    if x.dim() != 4:
        raise ValueError(f"merge_heads expects (B, h, S, d_k), got shape {tuple(x.shape)}")
    # >>> exercise: split_merge_heads
    # hint: the inverse of split_heads: (B, h, S, d_k) -> (B, S, h*d_k).
    B, H, S, d = x.shape
    return x.transpose(1, 2).reshape(B, S, H * d)                   # (B, S, h·d_k)
    # <<< exercise


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention: Q, K, V = X W^Q, X W^K, X W^V, h heads of d_k = d_model / h.

    The four projections are d_model x d_model, whatever h is: more heads means narrower heads,
    the same parameters and the same matrix-multiply FLOPs.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        _check_positive_int("d_model", d_model)
        _check_positive_int("n_heads", n_heads)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}; "
                             f"choose n_heads among the divisors of {d_model}")
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.W_q = nn.Linear(d_model, d_model, bias=bias)
        self.W_k = nn.Linear(d_model, d_model, bias=bias)
        self.W_v = nn.Linear(d_model, d_model, bias=bias)
        self.W_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, causal: bool = False, return_weights: bool = False):
        """x (B, S, d_model) -> (B, S, d_model) [and the weights (B, h, S, S)]."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected input (B, S, {self.d_model}), got {tuple(x.shape)}")
        # >>> exercise: mha_forward
        # hint: W_q, W_k, W_v, split_heads, causal_mask if causal, scaled_dot_product_attention
        # hint: (return_weights=True), merge_heads, W_o; return y [and the weights].
        S = x.shape[1]
        q = split_heads(self.W_q(x), self.n_heads)                   # (B, h, S, d_k)
        k = split_heads(self.W_k(x), self.n_heads)                   # (B, h, S, d_k)
        v = split_heads(self.W_v(x), self.n_heads)                   # (B, h, S, d_k)
        mask = causal_mask(S, device=x.device) if causal else None   # (S, S), True = may attend
        out, weights = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
        y = self.W_o(merge_heads(out))                               # (B, S, d_model)
        return (y, weights) if return_weights else y
        # <<< exercise

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> "MultiHeadSelfAttention":
        """A copy of a ``torch.nn.MultiheadAttention(d, h, batch_first=True)``'s weights."""
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"expected torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if not mha._qkv_same_embed_dim:
            raise ValueError("only MultiheadAttention with kdim = vdim = embed_dim is supported")
        bias = mha.in_proj_bias is not None
        if bias != (mha.out_proj.bias is not None) or mha.bias_k is not None:
            raise ValueError("only MultiheadAttention(bias=True|False, add_bias_kv=False) is "
                             "supported")
        # in the source's dtype and device *before* copying, so a float64 (or GPU) source is
        # copied exactly instead of through float32 on the CPU
        w = mha.in_proj_weight
        ours = cls(mha.embed_dim, mha.num_heads, bias=bias).to(device=w.device, dtype=w.dtype)
        D = mha.embed_dim
        with torch.no_grad():
            for i, lin in enumerate((ours.W_q, ours.W_k, ours.W_v)):
                lin.weight.copy_(mha.in_proj_weight[i * D:(i + 1) * D])
                if bias:
                    lin.bias.copy_(mha.in_proj_bias[i * D:(i + 1) * D])
            ours.W_o.weight.copy_(mha.out_proj.weight)
            if bias:
                ours.W_o.bias.copy_(mha.out_proj.bias)
        return ours


# --------------------------------------------------------------------------- Bahdanau
class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention: e_ij = vᵀ tanh(W_q q_i + W_k k_j), a one-hidden-layer
    MLP of the pair (q_i, k_j) instead of a dot product.

    In the paper q_i is the decoder state s_{i-1} and the keys and values are the encoder
    annotations h_j; here keys and values may differ. ``bias=True`` adds a bias to W_k q (the
    paper has none; its RNN states carry their own offsets).
    """

    def __init__(self, d_query: int, d_key: int, d_hidden: int, bias: bool = False):
        super().__init__()
        for name, value in (("d_query", d_query), ("d_key", d_key), ("d_hidden", d_hidden)):
            _check_positive_int(name, value)
        self.d_query, self.d_key = d_query, d_key
        self.W_q = nn.Linear(d_query, d_hidden, bias=False)
        self.W_k = nn.Linear(d_key, d_hidden, bias=bias)
        self.v = nn.Linear(d_hidden, 1, bias=False)

    def scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """q (B, S_q, d_query), k (B, S_k, d_key) -> e (B, S_q, S_k)."""
        if q.dim() != 3 or q.shape[-1] != self.d_query:
            raise ValueError(f"q must be (B, S_q, {self.d_query}), got {tuple(q.shape)}")
        if k.dim() != 3 or k.shape[-1] != self.d_key:
            raise ValueError(f"k must be (B, S_k, {self.d_key}), got {tuple(k.shape)}")
        hidden = torch.tanh(self.W_q(q)[:, :, None, :] + self.W_k(k)[:, None, :, :])
        return self.v(hidden).squeeze(-1)              # (B, S_q, S_k, d_hidden) -> (B, S_q, S_k)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None):
        """Returns the context vectors c (B, S_q, d_v) and the weights α (B, S_q, S_k)."""
        if v.dim() != 3 or v.shape[:2] != k.shape[:2]:
            raise ValueError(f"v must be (B, S_k, d_v) with the keys' B and S_k "
                             f"{tuple(k.shape[:2])}, got {tuple(v.shape)}")
        e = self.scores(q, k)                                        # (B, S_q, S_k)
        if mask is not None:
            if mask.dtype != torch.bool:
                raise TypeError(f"mask must be boolean (True = may attend), got {mask.dtype}")
            e = e.masked_fill(~mask, float("-inf"))
        alpha = softmax(e, dim=-1)                                   # (B, S_q, S_k)
        return alpha @ v, alpha                                      # (B, S_q, d_v)


# --------------------------------------------------------------------------- blocked
def blocked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                      window: int | None = None, block_q: int = 128,
                      block_k: int = 128) -> torch.Tensor:
    """Exact softmax(q kᵀ / sqrt(d_k)) v, one (block_q x block_k) tile of scores at a time.

    For each block of queries, keys arrive block by block and three running quantities are
    kept per query: m (largest score so far), l (Σ exp(score − m)) and acc (Σ exp(score − m)
    v). When a new block raises the maximum to m', the old sums are multiplied by exp(m − m')
    so that every term is relative to the same maximum; at the end out = acc / l. Memory: the
    output plus one tile, O(S·d + block_q·block_k) instead of O(S²).

    ``causal``: query i (the last S_q of S_k positions, as in :func:`causal_mask`) sees keys
    j <= i. ``window`` (causal only): query i sees keys i − window < j <= i; tiles entirely
    outside the window are skipped, so the work is O(S·window).
    """
    check_qkv(q, k, v)
    _check_positive_int("block_q", block_q)
    _check_positive_int("block_k", block_k)
    S_q, S_k = q.shape[-2], k.shape[-2]
    if window is not None:
        _check_positive_int("window", window)
        if not causal:
            raise ValueError("window needs causal=True (a causal sliding window)")
    if causal and S_k < S_q:
        raise ValueError(f"causal attention needs S_k >= S_q (queries are the last S_q "
                         f"positions), got S_q={S_q}, S_k={S_k}")
    offset = S_k - S_q                      # query row r sits at absolute position r + offset
    scale = 1.0 / math.sqrt(q.shape[-1])
    out = q.new_empty(*q.shape[:-1], v.shape[-1])                   # (…, S_q, d_v)
    for i0 in range(0, S_q, block_q):
        i1 = min(i0 + block_q, S_q)
        q_i = q[..., i0:i1, :] * scale                              # (…, bq, d_k)
        m = q.new_full((*q_i.shape[:-1], 1), float("-inf"))         # (…, bq, 1) running max
        l = q.new_zeros((*q_i.shape[:-1], 1))                       # (…, bq, 1) running Σ exp
        acc = q.new_zeros((*q_i.shape[:-1], v.shape[-1]))           # (…, bq, d_v)
        pos_q = torch.arange(i0, i1, device=q.device)[:, None] + offset     # (bq, 1)
        j_lo, j_hi = 0, S_k
        if causal:
            j_hi = i1 - 1 + offset + 1                              # keys after the last query
            if window is not None:
                j_lo = max(0, i0 + offset - window + 1)             # keys before the window
        for j0 in range(j_lo - j_lo % block_k, j_hi, block_k):
            j1 = min(j0 + block_k, S_k)
            s = q_i @ k[..., j0:j1, :].transpose(-2, -1)            # (…, bq, bk) one tile
            if causal:
                pos_k = torch.arange(j0, j1, device=q.device)[None, :]      # (1, bk)
                allowed = pos_k <= pos_q
                if window is not None:
                    allowed = allowed & (pos_k > pos_q - window)
                s = s.masked_fill(~allowed, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))  # (…, bq, 1)
            m_safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
            p = torch.exp(s - m_safe)                               # (…, bq, bk)
            correction = torch.exp(m - m_safe)                      # rescales the old sums
            l = correction * l + p.sum(dim=-1, keepdim=True)
            acc = correction * acc + p @ v[..., j0:j1, :]
            m = m_new
        out[..., i0:i1, :] = acc / l
    return out


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    causal: bool = False) -> torch.Tensor:
    """The from-scratch functional (the full S_q x S_k score matrix), with a causal flag."""
    mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device) if causal else None
    return scaled_dot_product_attention(q, k, v, mask)


def torch_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               causal: bool = False) -> torch.Tensor:
    """``torch.nn.functional.scaled_dot_product_attention`` (a fused kernel on CPU)."""
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError("torch's is_causal aligns the mask top-left; use S_q == S_k here")
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


IMPLEMENTATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "naive": naive_attention,
    "blocked": blocked_attention,
    "torch_sdpa": torch_sdpa,
}


# --------------------------------------------------------------------------- measurement
@contextlib.contextmanager
def _quiet_stderr_fd():
    """Silence file descriptor 2 (the profiler's C++ start/stop lines) for the block."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):          # no real fd 2 (some embedded interpreters)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def peak_memory_bytes(fn: Callable[[], object]) -> int:
    """Bytes allocated on the CPU at the peak of ``fn()``, beyond what existed before it.

    torch has no CPU ``max_memory_allocated``; its profiler records every allocation and free
    of the CPU allocator (``profile_memory=True``), so the running sum of those records, in
    time order, is the memory the call holds at each moment, and its maximum the peak. This
    includes the intermediates of fused kernels and the returned result.
    """
    from torch.autograd import profiler as autograd_profiler

    # torch.autograd.profiler rather than torch.profiler: the latter imports torch._inductor
    # on first use (seconds), the former records the same allocator events.
    with _quiet_stderr_fd():
        with autograd_profiler.profile(use_cpu=True, profile_memory=True) as prof:
            result = fn()
        del result
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.kineto_results.events()
                    if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in events:
        current += nbytes
        peak = max(peak, current)
    return int(peak)


def time_call(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    """Median wall seconds of ``repeat`` single calls of ``fn`` after ``warmup`` calls (the
    pack's one timer, :func:`utils.hardware.time_samples`, one call per sample)."""
    from ..hardware import time_samples

    _check_positive_int("repeat", repeat)
    return statistics.median(time_samples(fn, repeats=repeat, warmup=warmup, calls=1)["wall"])


def measure_attention(impl: str, seq_len: int, d_k: int = 64, batch: int = 1, heads: int = 1,
                      causal: bool = False, repeat: int = 3, seed: int = 0,
                      count_flops: bool = False, **kwargs) -> dict:
    """Forward time (median s) and peak memory (bytes) of one attention implementation.

    ``impl`` is a key of :data:`IMPLEMENTATIONS`; extra keyword arguments go to it (e.g.
    ``block_q``, ``window`` for ``blocked``). Inputs are float32 (batch, heads, seq_len, d_k).
    ``count_flops`` adds the matrix-multiply FLOPs seen by ``FlopCounterMode`` (0 for torch's
    fused CPU kernel, which the counter does not know).
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown attention implementation {impl!r}; choose one of "
                         f"{', '.join(IMPLEMENTATIONS)}")
    _check_positive_int("seq_len", seq_len)
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, seq_len, d_k, generator=g) for _ in range(3))
    fn = IMPLEMENTATIONS[impl]

    def call():
        with torch.no_grad():
            return fn(q, k, v, causal=causal, **kwargs)

    seconds = time_call(call, repeat=repeat)
    peak = peak_memory_bytes(call)
    out = {"impl": impl, "seq_len": seq_len, "time_s": seconds, "peak_bytes": peak,
           "input_bytes": 3 * q.numel() * q.element_size()}
    if count_flops:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            call()
        out["flops"] = counter.get_total_flops()
    return out


def input_gradient_profile(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                           position: int) -> torch.Tensor:
    """|∂ y[position] / ∂ x[j]| for every input position j (Frobenius norm over channels).

    ``model`` maps x (1, S, C) to y (1, S, C'); the result has shape (S,). Entries that are
    exactly zero lie outside the receptive field of output ``position``.
    """
    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, S, C), got {tuple(x.shape)}")
    S = x.shape[1]
    if not 0 <= position < S:
        raise ValueError(f"position must be in [0, {S - 1}], got {position}")
    x = x.detach().clone().requires_grad_(True)
    y = model(x)                                                     # (1, S, C')
    rows = []
    for c in range(y.shape[-1]):
        (g,) = torch.autograd.grad(y[0, position, c], x, retain_graph=True)
        rows.append(g[0])                                            # (S, C)
    jac = torch.stack(rows)                                          # (C', S, C)
    return jac.pow(2).sum(dim=(0, 2)).sqrt()                         # (S,)
