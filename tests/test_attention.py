"""utils.nn.attention against independent references: torch built-ins, hand computations and
properties (round trips, causality, normalisation)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.nn.attention import (AdditiveAttention, MultiHeadSelfAttention, blocked_attention,
                                input_gradient_profile, measure_attention, merge_heads,
                                naive_attention, peak_memory_bytes, split_heads, torch_sdpa)
from utils.nn.functional import causal_mask


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------- split / merge heads
@pytest.mark.parametrize("n_heads", [1, 2, 3, 6])
def test_split_merge_are_inverses(n_heads):
    x = torch.randn(2, 5, 12, generator=gen())
    h = split_heads(x, n_heads)
    assert h.shape == (2, n_heads, 5, 12 // n_heads)
    assert torch.equal(merge_heads(h), x)
    y = torch.randn(2, n_heads, 5, 4, generator=gen(1))
    assert torch.equal(split_heads(merge_heads(y), n_heads), y)


def test_split_heads_is_per_head_projection():
    """x W (one d x d projection) split into h slices == h separate d x d_k projections."""
    d, h = 8, 4
    x = torch.randn(1, 3, d, generator=gen(), dtype=torch.float64)
    W = torch.randn(d, d, generator=gen(1), dtype=torch.float64)
    heads = split_heads(x @ W, h)
    for i in range(h):
        W_i = W[:, i * d // h:(i + 1) * d // h]           # the head's own d x d_k matrix
        torch.testing.assert_close(heads[:, i], x @ W_i, rtol=0, atol=1e-14)


# ----------------------------------------------------------------- multi-head self-attention
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n_heads", [1, 4])
def test_mhsa_matches_torch_multiheadattention(causal, n_heads):
    torch.manual_seed(0)
    d, S = 16, 7
    ref = nn.MultiheadAttention(d, n_heads, batch_first=True)
    with torch.no_grad():                      # torch initialises the biases to 0: randomise
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    ours = MultiHeadSelfAttention.from_torch(ref)
    x = torch.randn(3, S, d, generator=gen(2))
    attn_mask = ~causal_mask(S) if causal else None      # torch: True = may NOT attend
    y_ref, w_ref = ref(x, x, x, attn_mask=attn_mask, need_weights=True,
                       average_attn_weights=False)
    y, w = ours(x, causal=causal, return_weights=True)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-5)
    assert w.shape == (3, n_heads, S, S)


def test_mhsa_without_bias_matches_torch():
    torch.manual_seed(1)
    ref = nn.MultiheadAttention(8, 2, bias=False, batch_first=True)
    ours = MultiHeadSelfAttention.from_torch(ref)
    assert ours.W_q.bias is None
    x = torch.randn(2, 5, 8, generator=gen(3))
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0], rtol=0, atol=1e-5)


def test_mhsa_causality_property():
    """Changing tokens after position t leaves outputs 0..t exactly unchanged."""
    torch.manual_seed(2)
    m = MultiHeadSelfAttention(12, 3).double()
    x = torch.randn(2, 9, 12, generator=gen(4), dtype=torch.float64)
    t = 4
    x2 = x.clone()
    x2[:, t + 1:] = torch.randn(2, 9 - t - 1, 12, generator=gen(5), dtype=torch.float64)
    y, y2 = m(x, causal=True), m(x2, causal=True)
    assert torch.equal(y[:, :t + 1], y2[:, :t + 1])
    assert (y[:, t + 1:] - y2[:, t + 1:]).abs().max() > 1e-3      # the future did change
    y_nc, y2_nc = m(x), m(x2)                                      # without the mask it leaks
    assert (y_nc[:, :t + 1] - y2_nc[:, :t + 1]).abs().max() > 1e-3


def test_mhsa_weights_rows_sum_to_one():
    m = MultiHeadSelfAttention(8, 2)
    _, w = m(torch.randn(1, 6, 8, generator=gen()), causal=True, return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 2, 6), rtol=0, atol=1e-6)
    assert torch.all(w.triu(1) == 0)


def test_mhsa_bad_input():
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="positive int"):
        MultiHeadSelfAttention(8, 0)
    with pytest.raises(ValueError, match=r"expected input \(B, S, 8\)"):
        MultiHeadSelfAttention(8, 2)(torch.ones(2, 3, 6))
    with pytest.raises(ValueError, match="not divisible"):
        split_heads(torch.ones(1, 2, 10), 4)
    with pytest.raises(ValueError, match=r"\(B, S, d_model\)"):
        split_heads(torch.ones(2, 10), 2)
    with pytest.raises(ValueError, match=r"\(B, h, S, d_k\)"):
        merge_heads(torch.ones(2, 3, 4))
    with pytest.raises(TypeError, match="MultiheadAttention"):
        MultiHeadSelfAttention.from_torch(nn.Linear(2, 2))


# ----------------------------------------------------------------- additive attention
def test_additive_attention_matches_hand_computation():
    att = AdditiveAttention(d_query=2, d_key=2, d_hidden=2).double()
    with torch.no_grad():
        att.W_q.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        att.W_k.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, -1.0]]))
        att.v.weight.copy_(torch.tensor([[2.0, -1.0]]))
    q = torch.tensor([[[0.5, -0.5]]], dtype=torch.float64)                 # (1, 1, 2)
    k = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0]]], dtype=torch.float64)  # (1, 3, 2)
    vals = torch.tensor([[[1.0], [10.0], [100.0]]], dtype=torch.float64)
    # by hand: W_q q = (0.5, -0.5); W_k k_j = (k1 + k2, -k2)
    e = [2 * math.tanh(0.5 + 1) - math.tanh(-0.5 + 0),
         2 * math.tanh(0.5 + 1) - math.tanh(-0.5 - 1),
         2 * math.tanh(0.5 + 1) - math.tanh(-0.5 - 2)]
    z = sum(math.exp(x) for x in e)
    alpha = [math.exp(x) / z for x in e]
    c, a = att(q, k, vals)
    torch.testing.assert_close(a[0, 0], torch.tensor(alpha, dtype=torch.float64), rtol=0,
                               atol=1e-14)
    torch.testing.assert_close(c[0, 0, 0], torch.tensor(alpha[0] + 10 * alpha[1] + 100 * alpha[2],
                                                        dtype=torch.float64), rtol=0, atol=1e-12)


def test_additive_attention_weights_sum_to_one_and_mask():
    att = AdditiveAttention(3, 5, 7, bias=True)
    q, k, v = torch.randn(2, 4, 3), torch.randn(2, 6, 5), torch.randn(2, 6, 2)
    c, a = att(q, k, v)
    assert c.shape == (2, 4, 2) and a.shape == (2, 4, 6)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 4), rtol=0, atol=1e-6)
    mask = causal_mask(4, 6)
    _, a = att(q, k, v, mask=mask)
    assert torch.all(a[:, ~mask] == 0)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, 4), rtol=0, atol=1e-6)


def test_additive_attention_bad_input():
    att = AdditiveAttention(3, 5, 7)
    with pytest.raises(ValueError, match=r"q must be \(B, S_q, 3\)"):
        att(torch.ones(1, 2, 4), torch.ones(1, 3, 5), torch.ones(1, 3, 1))
    with pytest.raises(ValueError, match=r"k must be \(B, S_k, 5\)"):
        att(torch.ones(1, 2, 3), torch.ones(1, 3, 4), torch.ones(1, 3, 1))
    with pytest.raises(ValueError, match="v must be"):
        att(torch.ones(1, 2, 3), torch.ones(1, 3, 5), torch.ones(1, 4, 1))
    with pytest.raises(TypeError, match="boolean"):
        att(torch.ones(1, 2, 3), torch.ones(1, 3, 5), torch.ones(1, 3, 1), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="d_hidden must be a positive int"):
        AdditiveAttention(3, 5, 0)


# ----------------------------------------------------------------- blocked (online softmax)
@pytest.mark.parametrize("S_q,S_k", [(37, 37), (64, 64), (5, 29)])
@pytest.mark.parametrize("blocks", [(2, 3), (8, 8), (7, 16), (64, 5), (128, 128)])
@pytest.mark.parametrize("causal", [False, True])
def test_blocked_equals_naive(S_q, S_k, blocks, causal):
    g = gen(S_q * 100 + S_k)
    q = torch.randn(2, 3, S_q, 8, generator=g, dtype=torch.float64) * 3
    k = torch.randn(2, 3, S_k, 8, generator=g, dtype=torch.float64) * 3
    v = torch.randn(2, 3, S_k, 5, generator=g, dtype=torch.float64)
    ours = blocked_attention(q, k, v, causal=causal, block_q=blocks[0], block_k=blocks[1])
    ref = naive_attention(q, k, v, causal=causal)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("window", [1, 3, 16, 100])
@pytest.mark.parametrize("blocks", [(4, 4), (5, 7), (64, 64)])
def test_blocked_sliding_window_equals_masked_naive(window, blocks):
    g = gen(window)
    S = 41
    q, k, v = (torch.randn(1, 2, S, 6, generator=g, dtype=torch.float64) for _ in range(3))
    i = torch.arange(S)[:, None]
    j = torch.arange(S)[None, :]
    mask = (j <= i) & (j > i - window)
    from utils.nn.functional import scaled_dot_product_attention
    ref = scaled_dot_product_attention(q, k, v, mask)
    ours = blocked_attention(q, k, v, causal=True, window=window, block_q=blocks[0],
                             block_k=blocks[1])
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


def test_blocked_extreme_scores_stay_finite():
    """Scores of ±1e4 would overflow exp() without the running maximum."""
    q = torch.tensor([[[100.0, 0.0], [-100.0, 0.0]]], dtype=torch.float64)   # (1, 2, 2)
    k = torch.tensor([[[100.0, 0.0], [0.0, 0.0], [-100.0, 0.0]]], dtype=torch.float64)
    v = torch.tensor([[[1.0], [2.0], [3.0]]], dtype=torch.float64)
    out = blocked_attention(q, k, v, block_k=1)
    torch.testing.assert_close(out, torch.tensor([[[1.0], [3.0]]], dtype=torch.float64),
                               rtol=0, atol=1e-12)


def test_blocked_and_naive_match_torch_sdpa_float32():
    g = gen(7)
    q, k, v = (torch.randn(1, 2, 50, 16, generator=g) for _ in range(3))
    for causal in (False, True):
        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        torch.testing.assert_close(torch_sdpa(q, k, v, causal), ref, rtol=0, atol=0)
        torch.testing.assert_close(blocked_attention(q, k, v, causal, block_q=16, block_k=9),
                                   ref, rtol=0, atol=1e-5)


def test_blocked_bad_input():
    x = torch.ones(1, 4, 8)
    with pytest.raises(ValueError, match="d_k"):
        blocked_attention(x, torch.ones(1, 4, 7), torch.ones(1, 4, 7))
    with pytest.raises(ValueError, match="same number of keys"):
        blocked_attention(x, x, torch.ones(1, 5, 8))
    with pytest.raises(ValueError, match="block_q must be a positive int"):
        blocked_attention(x, x, x, block_q=0)
    with pytest.raises(ValueError, match="window needs causal=True"):
        blocked_attention(x, x, x, window=2)
    with pytest.raises(ValueError, match="S_k >= S_q"):
        blocked_attention(torch.ones(1, 6, 8), x, x, causal=True)


# ----------------------------------------------------------------- measurement helpers
def test_peak_memory_counts_a_known_allocation():
    n = 1_000_000
    peak = peak_memory_bytes(lambda: torch.empty(n, dtype=torch.float32))
    assert 4 * n <= peak <= 4 * n + 4096
    # two live temporaries of n floats each, then their sum: peak 3 n floats
    def f():
        a = torch.ones(n)
        b = torch.ones(n)
        return a + b
    assert 12 * n <= peak_memory_bytes(f) <= 12 * n + 8192


def test_naive_peak_memory_holds_the_score_matrix_blocked_does_not():
    S, d = 512, 16
    naive = measure_attention("naive", S, d_k=d, repeat=1)
    blocked = measure_attention("blocked", S, d_k=d, repeat=1, block_q=64, block_k=64)
    assert naive["peak_bytes"] >= 4 * S * S              # at least one S x S float32 matrix
    assert blocked["peak_bytes"] < 4 * S * S / 4         # a tile and the output only
    with pytest.raises(ValueError, match="unknown attention implementation"):
        measure_attention("flash3", 8)


def test_measure_attention_counts_the_matmul_flops():
    S, d = 64, 8
    full = 2 * 2 * S * S * d                               # Q Kᵀ and α V, 2 FLOPs per MAC
    assert measure_attention("naive", S, d_k=d, repeat=1, count_flops=True)["flops"] == full
    blocked = measure_attention("blocked", S, d_k=d, repeat=1, count_flops=True, block_q=16,
                                block_k=16)
    assert blocked["flops"] == full
    causal = measure_attention("blocked", S, d_k=d, causal=True, repeat=1, count_flops=True,
                               block_q=16, block_k=16)
    n_tiles = S // 16 * (S // 16 + 1) // 2                 # tiles on or below the diagonal
    assert causal["flops"] == n_tiles * 2 * 2 * 16 * 16 * d


def test_input_gradient_profile_conv_receptive_field():
    """A stack of L convolutions of kernel 3 sees exactly 2L + 1 inputs; attention sees all."""
    torch.manual_seed(0)
    S, C, L = 21, 4, 3
    conv = nn.Sequential(*[m for _ in range(L) for m in (nn.Conv1d(C, C, 3, padding=1),
                                                         nn.Tanh())]).double()

    def conv_model(x):                                   # (1, S, C) -> (1, S, C)
        return conv(x.transpose(1, 2)).transpose(1, 2)

    x = torch.randn(1, S, C, dtype=torch.float64, generator=gen())
    prof = input_gradient_profile(conv_model, x, position=10)
    assert prof.shape == (S,)
    assert torch.nonzero(prof).flatten().tolist() == list(range(10 - L, 10 + L + 1))
    attn = MultiHeadSelfAttention(C, 2).double()
    prof = input_gradient_profile(attn, x, position=10)
    assert bool(torch.all(prof > 0))
    prof = input_gradient_profile(lambda z: attn(z, causal=True), x, position=10)
    assert bool(torch.all(prof[:11] > 0)) and bool(torch.all(prof[11:] == 0))
    with pytest.raises(ValueError, match="position must be in"):
        input_gradient_profile(conv_model, x, position=S)


def test_from_torch_keeps_float64_exactly():
    """A float64 source is copied in float64 (not rounded through float32): the outputs agree
    to float64 precision and every weight is bit-identical."""
    torch.manual_seed(3)
    ref = nn.MultiheadAttention(16, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    ours = MultiHeadSelfAttention.from_torch(ref)
    assert ours.W_q.weight.dtype == torch.float64
    assert torch.equal(ours.W_k.weight, ref.in_proj_weight[16:32])
    assert torch.equal(ours.W_o.bias, ref.out_proj.bias)
    x = torch.randn(2, 6, 16, generator=gen(4), dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0], rtol=0, atol=1e-12)
    for causal in (False, True):
        mask = ~causal_mask(6) if causal else None
        torch.testing.assert_close(ours(x, causal=causal), ref(x, x, x, attn_mask=mask,
                                   need_weights=False)[0], rtol=0, atol=1e-12)


def test_time_call_is_the_pack_timer():
    """utils.nn.attention.time_call and bench.common.time_call count calls as
    utils.hardware.time_samples does: warm-up plus one call per sample, or `repeat` calls."""
    import bench.common
    from utils.nn import attention

    calls = []
    t = attention.time_call(lambda: calls.append(1), repeat=5, warmup=2)
    assert len(calls) == 7 and t >= 0
    calls.clear()
    assert bench.common.time_call(lambda: calls.append(1), repeat=4) >= 0 and len(calls) == 4
    with pytest.raises(ValueError, match="repeat"):
        attention.time_call(lambda: None, repeat=0)
