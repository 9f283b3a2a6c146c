"""The from-scratch GPT against torch's built-ins, and its parameter counts (seed 001, P2)."""

import itertools
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from utils.nn.gpt import (GPT, Block, GPTEmbedding, LayerNorm, LayerNormFunction,
                          MultiHeadedAttention, create_sinusoidal_embeddings, decoder_parameter_count,
                          gpt_parameter_count, mha_parameter_count)

torch.set_num_threads(1)
DT = torch.float64


def test_layernorm_matches_torch_without_calling_it(monkeypatch):
    torch.manual_seed(0)
    ours = LayerNorm(10).to(DT)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
    ref = nn.LayerNorm(10, eps=1e-5).to(DT)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 4, 10, dtype=DT) * 5 + 2
    expected = ref(x)

    def forbidden(*a, **k):
        raise AssertionError("torch.layer_norm must not be called")
    monkeypatch.setattr(torch, "layer_norm", forbidden)
    monkeypatch.setattr(F, "layer_norm", forbidden)
    torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-12)
    y = LayerNorm(10).to(DT)(x)                             # weight 1, bias 0
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 4, dtype=DT), rtol=0, atol=1e-12)
    # biased variance: (1/n) Σ (y − ȳ)² = 1 − ε/(Var + ε) ≈ 1, not n/(n − 1)
    torch.testing.assert_close(y.var(-1, unbiased=False),
                               x.var(-1, unbiased=False) / (x.var(-1, unbiased=False) + 1e-5),
                               rtol=0, atol=1e-12)


def test_fast_layernorm_hand_derived_backward():
    torch.manual_seed(6)
    x = torch.randn(3, 5, 7, dtype=DT, requires_grad=True)
    w = torch.randn(7, dtype=DT, requires_grad=True)
    b = torch.randn(7, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: LayerNormFunction.apply(*a, 1e-5), (x, w, b))
    slow, fast = LayerNorm(7).to(DT), LayerNorm(7, fast=True).to(DT)
    with torch.no_grad():
        for m in (slow, fast):
            m.weight.copy_(w)
            m.bias.copy_(b)
    ref = nn.LayerNorm(7).to(DT)
    ref.load_state_dict(slow.state_dict())
    outs = [m(x) for m in (slow, fast, ref)]
    gy = torch.randn_like(outs[0])
    grads = [torch.autograd.grad((o * gy).sum(), [x, m.weight, m.bias])
             for o, m in zip(outs, (slow, fast, ref))]
    for o, g in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(o, outs[0], rtol=0, atol=1e-12)
        for u, v in zip(g, grads[0]):
            torch.testing.assert_close(u, v, rtol=0, atol=1e-12)


def copy_mha(ours: MultiHeadedAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.W_Q.weight, ours.W_K.weight, ours.W_V.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.W_Q.bias, ours.W_K.bias, ours.W_V.bias]))
        ref.out_proj.weight.copy_(ours.W_O.weight)
        ref.out_proj.bias.copy_(ours.W_O.bias)


@pytest.mark.parametrize("fast", [False, True])
def test_attention_matches_torch_multihead_with_causal_mask(fast):
    torch.manual_seed(1)
    d, H, B, S = 12, 3, 2, 5
    ours = MultiHeadedAttention(d, H, fast=fast).to(DT)
    with torch.no_grad():
        for lin in (ours.W_Q, ours.W_K, ours.W_V, ours.W_O):
            lin.bias.normal_()
    ref = nn.MultiheadAttention(d, H, batch_first=True).to(DT)
    copy_mha(ours, ref)
    x = torch.randn(B, S, d, dtype=DT, requires_grad=True)
    out, w = ours(x, x, x)
    future = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)   # True = masked
    out_r, w_r = ref(x, x, x, attn_mask=future, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(out, out_r, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, w_r, rtol=0, atol=1e-12)
    assert w.shape == (B, H, S, S) and not w.requires_grad
    g = torch.randn_like(out)
    gx, = torch.autograd.grad((out * g).sum(), x)
    gx_r, = torch.autograd.grad((out_r * g).sum(), x)
    torch.testing.assert_close(gx, gx_r, rtol=0, atol=1e-12)
    # cross-attention inputs (queries differ from keys/values) take the separate projections
    q = torch.randn(B, S, d, dtype=DT)
    torch.testing.assert_close(ours(q, x, x)[0],
                               ref(q, x, x, attn_mask=future, need_weights=False)[0],
                               rtol=0, atol=1e-12)


def test_attention_weights_are_causal_rows_sum_to_one():
    torch.manual_seed(2)
    mha = MultiHeadedAttention(8, 2)
    q, k = torch.randn(3, 2, 6, 4), torch.randn(3, 2, 6, 4)
    w = mha.get_attention_weights(q, k)
    assert torch.equal(torch.triu(w, diagonal=1), torch.zeros_like(w))
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 6), rtol=0, atol=1e-6)
    ref = torch.softmax((q @ k.transpose(-1, -2) / 2).masked_fill(
        torch.triu(torch.ones(6, 6, dtype=torch.bool), 1), float("-inf")), -1)
    torch.testing.assert_close(w, ref, rtol=0, atol=1e-6)


def test_split_and_merge_heads_index_mapping_and_inverse():
    mha = MultiHeadedAttention(12, 3)                      # head_size 4 != num_heads 3
    B, S, m, dim = 2, 5, 3, 7                              # dim arbitrary, as the docstring says
    x = torch.randn(B, S, m * dim)
    y = mha.split_heads(x)
    assert y.shape == (B, m, S, dim)
    for i, j, k, l in itertools.product(range(B), range(m), range(S), range(dim)):
        assert y[i, j, k, l] == x[i, k, dim * j + l]
    assert torch.equal(mha.merge_heads(y), x)
    z = torch.randn(B, m, S, dim)
    assert torch.equal(mha.split_heads(mha.merge_heads(z)), z)
    # the seed prints x[i, k, num_heads * j + l]: with num_heads != dim that is not one-to-one
    seed_index = {(j, l): m * j + l for j in range(m) for l in range(dim)}
    assert len(set(seed_index.values())) < m * dim


def test_sinusoidal_embeddings_formula_and_buffer():
    P, d = 9, 10
    pe = create_sinusoidal_embeddings(P, d)
    for pos, i in itertools.product(range(P), range(d)):
        angle = pos / 10000 ** ((i // 2) / d)
        expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
        assert abs(pe[pos, i].item() - expected) < 1e-6
    emb = GPTEmbedding(7, d, P, padding_index=6)
    assert "position_encoding" in emb.state_dict()
    assert all(p is not emb.position_encoding for p in emb.parameters())
    assert torch.equal(GPTEmbedding.create_sinusoidal_embeddings(P, d), pe)
    tokens = torch.randint(0, 7, (2, 4))
    torch.testing.assert_close(emb(tokens), emb.tokens(tokens) + pe[:4], rtol=0, atol=0)


class RefBlock(nn.Module):
    """The starter's post-LN block from torch built-ins (nn.MultiheadAttention, nn.LayerNorm)."""

    def __init__(self, ours: Block, d: int, H: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, H, batch_first=True).to(DT)
        copy_mha(ours.self_attn, self.attn)
        self.n1, self.n2 = nn.LayerNorm(d).to(DT), nn.LayerNorm(d).to(DT)
        self.n1.load_state_dict(ours.self_attn_norm.state_dict())
        self.n2.load_state_dict(ours.ffn_norm.state_dict())
        self.ffn = ours.ffn

    def forward(self, x):
        S = x.shape[1]
        future = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
        x = self.n1(x + self.attn(x, x, x, attn_mask=future, need_weights=False)[0])
        return self.n2(x + self.ffn(x))


@pytest.mark.parametrize("fast", [False, True])
def test_gpt_matches_a_reference_built_from_torch(fast):
    torch.manual_seed(3)
    V, d, H, L, S = 13, 16, 4, 3, 7
    gpt = GPT(H, L, d, V, S, fast=fast).to(DT)
    with torch.no_grad():
        for name, p in gpt.named_parameters():
            if "norm" in name:
                p.normal_()
    x = torch.randint(0, V, (5, S))
    logits, (hidden, attn) = gpt(x)
    assert logits.shape == (5, S, V) and hidden.shape == (5, L, S, d)
    assert attn.shape == (5, L, H, S, S)
    h = gpt.embedding.tokens(x) + create_sinusoidal_embeddings(S, d).to(DT)
    for k, block in enumerate(gpt.decoder.blocks):
        h = RefBlock(block, d, H)(h)
        torch.testing.assert_close(hidden[:, k], h, rtol=0, atol=1e-10)
    torch.testing.assert_close(logits, gpt.classifier(h), rtol=0, atol=1e-10)


def test_fast_path_equals_readable_path_in_float32_with_gradients():
    torch.manual_seed(4)
    a, b = GPT(4, 2, 32, 11, 6), GPT(4, 2, 32, 11, 6, fast=True)
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 11, (8, 6))
    la, lb = a(x)[0], b(x)[0]
    torch.testing.assert_close(la, lb, rtol=0, atol=1e-5)
    w = torch.randn_like(la)
    ga = torch.autograd.grad((la * w).sum(), list(a.parameters()))
    gb = torch.autograd.grad((lb * w).sum(), list(b.parameters()))
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fast", [False, True])
def test_future_tokens_never_change_past_logits(fast):
    torch.manual_seed(5)
    gpt = GPT(2, 2, 8, 9, 6, fast=fast).eval()
    x = torch.randint(0, 9, (4, 6))
    logits = gpt(x)[0]
    for t in range(6):
        y = x.clone()
        y[:, t + 1:] = torch.randint(0, 9, (4, 5 - t))
        assert torch.equal(gpt(y)[0][:, :t + 1], logits[:, :t + 1])


@pytest.mark.parametrize("H, hs, bias", list(itertools.product([1, 2, 4, 8], [1, 8, 32],
                                                               [True, False])))
def test_attention_parameter_count(H, hs, bias):
    mha = MultiHeadedAttention(H * hs, H, bias=bias)
    assert sum(p.numel() for p in mha.parameters()) == mha_parameter_count(H, hs, bias)


@pytest.mark.parametrize("d, H, m, L, bias", list(itertools.product(
    [8, 64, 128], [1, 4], [1, 4], [1, 2, 3], [True, False])))
def test_decoder_and_gpt_parameter_counts(d, H, m, L, bias):
    gpt = GPT(H, L, d, 36, 6, multiplier=m, bias_attention=bias, bias_classifier=bias)
    counted = sum(p.numel() for p in gpt.decoder.parameters())
    assert counted == decoder_parameter_count(d, H, m, L, bias)
    seed_answer = L * (4 * d * d + (4 * d if bias else 0) + 2 * d * d * m)
    assert counted - seed_answer == L * 4 * d            # the two LayerNorms the seed forgets
    assert sum(p.numel() for p in gpt.parameters()) == gpt_parameter_count(36, d, H, L, m, bias,
                                                                           bias)


def test_default_model_count():
    assert gpt_parameter_count(36, 128, 4, 2) == 404_516             # research note's count


def test_bad_input():
    with pytest.raises(ValueError, match="d_model must be a positive multiple of num_heads=3"):
        MultiHeadedAttention(10, 3)
    with pytest.raises(ValueError, match="d_model must be a positive multiple of num_heads=4"):
        GPT(4, 2, 30, 10, 6)
    with pytest.raises(ValueError, match="non_linearity must be one of relu, gelu"):
        Block(8, 2, 4, 0.0, non_linearity="tanh")
    with pytest.raises(ValueError, match="sequence length 7 exceeds n_max_positions=6"):
        GPT(2, 1, 8, 10, 6)(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="last dimension must be hidden_size=8"):
        LayerNorm(8)(torch.zeros(2, 7))


@pytest.mark.parametrize("fast", [False, True])
def test_from_position_gives_the_same_logits_and_gradients(fast):
    torch.manual_seed(7)
    gpt = GPT(4, 3, 16, 11, 8, fast=fast).to(DT)
    x = torch.randint(0, 11, (5, 8))
    full = gpt(x)[0]
    for p in (1, 4, 7):
        part, (hidden, attn) = gpt(x, from_position=p)
        assert part.shape == (5, 8 - p, 11) and hidden is None and attn is None
        torch.testing.assert_close(part, full[:, p:], rtol=0, atol=1e-12)
        w = torch.randn_like(part)
        g_part = torch.autograd.grad((part * w).sum(), list(gpt.parameters()), allow_unused=True)
        g_full = torch.autograd.grad((full[:, p:] * w).sum(), list(gpt.parameters()),
                                     retain_graph=True, allow_unused=True)
        for a, b in zip(g_part, g_full):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="from_position must be in"):
        gpt(x, from_position=8)
