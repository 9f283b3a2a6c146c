"""Linear, Embedding, norms, activations, FFNs and positional encodings against torch and
formulas (utils/nn/layers.py, utils/nn/rope.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from utils.nn.layers import (GELU, Embedding, FeedForward, LayerNorm, Linear, RMSNorm, SiLU,
                             SwiGLU, default_ffn_dim, gelu, make_ffn, make_norm, silu,
                             swiglu_hidden_dim)
from utils.nn.rope import (LearnedPositions, RotaryPositionalEmbedding, SinusoidalPositions,
                           rope_matrix, sinusoidal_table)

D64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_linear_matches_f_linear_and_init():
    torch.manual_seed(0)
    lin = Linear(48, 80, dtype=D64)
    assert lin.weight.shape == (80, 48)
    x = torch.randn(3, 5, 48, generator=gen(), dtype=D64)
    torch.testing.assert_close(lin(x), F.linear(x, lin.weight), rtol=0, atol=1e-12)
    big = Linear(512, 1536)
    std = math.sqrt(2 / (512 + 1536))
    w = big.weight.detach()
    assert w.abs().max() <= 3 * std + 1e-7                    # truncated at 3σ
    # a N(0, σ²) truncated at ±3σ has std 0.9866 σ; 786k samples pin it to ~0.1 %
    assert abs(w.std().item() / (0.98659 * std) - 1) < 0.01
    assert abs(w.mean().item()) < 0.01 * std


def test_embedding_matches_f_embedding_and_checks_ids():
    torch.manual_seed(0)
    emb = Embedding(20, 8, dtype=D64)
    ids = torch.randint(0, 20, (4, 7), generator=gen())
    torch.testing.assert_close(emb(ids), F.embedding(ids, emb.weight), rtol=0, atol=0)
    assert emb.weight.abs().max() <= 3.0
    with pytest.raises(IndexError, match=r"\[0, 19\]"):
        emb(torch.tensor([[3, 20]]))
    with pytest.raises(IndexError, match="-1"):
        emb(torch.tensor([[-1]]))
    with pytest.raises(TypeError, match="integer"):
        emb(torch.tensor([[1.0]]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rmsnorm_matches_torch(dtype):
    x = torch.randn(4, 6, 32, generator=gen(1), dtype=dtype) * 3 + 1
    ours = RMSNorm(32, eps=1e-5, dtype=dtype)
    ref = torch.nn.RMSNorm(32, eps=1e-5, dtype=dtype)
    with torch.no_grad():
        w = torch.randn(32, generator=gen(2), dtype=dtype)
        ours.weight.copy_(w)
        ref.weight.copy_(w)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(ours(x), ref(x), rtol=tol, atol=tol)


def test_rmsnorm_computes_in_float32_and_casts_back():
    x = torch.randn(8, 64, generator=gen(3)) * 50
    norm = RMSNorm(64)
    out = norm(x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    # computed in float32, then rounded once: within bf16 rounding (2^-8 relative) of the exact
    exact = x.to(torch.bfloat16).double()
    exact = exact / exact.pow(2).mean(-1, keepdim=True).add(1e-5).sqrt()
    assert ((out.double() - exact).abs() <= exact.abs() * 2 ** -8 + 1e-6).all()


def test_layernorm_matches_torch():
    x = torch.randn(3, 5, 16, generator=gen(4), dtype=D64) * 2 - 1
    ours = LayerNorm(16, eps=1e-5, dtype=D64)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(16, generator=gen(5), dtype=D64))
        ours.bias.copy_(torch.randn(16, generator=gen(6), dtype=D64))
    ref = F.layer_norm(x, (16,), ours.weight, ours.bias, eps=1e-5)
    torch.testing.assert_close(ours(x), ref, rtol=0, atol=1e-12)
    assert LayerNorm(4, bias=False).bias is None


def test_make_norm_and_bad_names():
    assert isinstance(make_norm("rmsnorm", 8), RMSNorm)
    assert isinstance(make_norm("layernorm", 8), LayerNorm)
    with pytest.raises(ValueError, match="rmsnorm"):
        make_norm("groupnorm", 8)


def test_activations_match_torch():
    x = torch.linspace(-30, 30, 2001, dtype=D64)
    torch.testing.assert_close(silu(x), F.silu(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(SiLU()(x), F.silu(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(gelu(x), F.gelu(x, approximate="tanh"), rtol=0, atol=1e-12)
    torch.testing.assert_close(GELU()(x), F.gelu(x, approximate="tanh"), rtol=0, atol=1e-12)
    assert torch.isfinite(silu(torch.tensor([-1e4, 1e4]))).all()


def test_swiglu_formula_and_hidden_dim():
    # 8/3·d to the nearest multiple of 64: CS336's d=512 -> 1344; hand-computed others
    assert swiglu_hidden_dim(512) == 1344
    assert swiglu_hidden_dim(256) == 704    # 682.7 -> 704 (640 is 42.7 away)
    assert swiglu_hidden_dim(128) == 320    # 341.3 -> 320
    assert swiglu_hidden_dim(768) == 2048
    assert swiglu_hidden_dim(16) == 64      # at least one multiple
    torch.manual_seed(0)
    ff = SwiGLU(32, 64).double()
    x = torch.randn(2, 3, 32, generator=gen(7), dtype=D64)
    ref = F.linear(F.silu(F.linear(x, ff.w1.weight)) * F.linear(x, ff.w3.weight), ff.w2.weight)
    torch.testing.assert_close(ff(x), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("act", ["silu", "gelu"])
def test_feedforward_formula(act):
    torch.manual_seed(0)
    ff = FeedForward(16, 40, act).double()
    x = torch.randn(5, 16, generator=gen(8), dtype=D64)
    f = F.silu if act == "silu" else (lambda t: F.gelu(t, approximate="tanh"))
    ref = F.linear(f(F.linear(x, ff.w1.weight)), ff.w2.weight)
    torch.testing.assert_close(ff(x), ref, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="silu"):
        FeedForward(16, 40, "relu")


@pytest.mark.parametrize("d", [64, 128, 256, 512])
def test_silu_ffn_is_parameter_matched_to_swiglu(d):
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    swi, sil = make_ffn("swiglu", d), make_ffn("silu", d)
    assert n(sil) == n(swi) == 3 * d * swiglu_hidden_dim(d)
    assert default_ffn_dim("gelu", d) == default_ffn_dim("silu", d)
    with pytest.raises(ValueError, match="swiglu"):
        make_ffn("relu", d)


# ------------------------------------------------------------------------------ positions

def rope_complex_reference(x, positions, theta):
    """RoPE as complex multiplication (Llama style) on adjacent pairs: an independent route."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=D64) / d)
    angles = positions.to(D64)[:, None] * freqs[None, :]                     # (S, d/2)
    z = torch.view_as_complex(x.to(D64).reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles)).flatten(-2)


def test_rope_matches_complex_reference_and_matrix():
    rope = RotaryPositionalEmbedding(10000.0, 16, 64, dtype=D64)
    x = torch.randn(2, 3, 10, 16, generator=gen(9), dtype=D64)
    pos = torch.tensor([0, 1, 2, 5, 9, 17, 30, 31, 50, 63])
    out = rope(x, pos)
    torch.testing.assert_close(out, rope_complex_reference(x, pos, 10000.0), rtol=0, atol=1e-12)
    for i, m in enumerate(pos.tolist()):
        torch.testing.assert_close(out[1, 2, i], rope_matrix(16, m) @ x[1, 2, i], rtol=0,
                                   atol=1e-12)
    # position 0 is the identity; pairs (0,1) rotate fastest (angle = m radians)
    torch.testing.assert_close(out[..., 0, :], x[..., 0, :], rtol=0, atol=0)
    a = torch.tensor([1.0, 0.0] + [0.0] * 14, dtype=D64)
    r = rope(a[None, :], torch.tensor([3]))[0]
    torch.testing.assert_close(r[:2], torch.tensor([math.cos(3), math.sin(3)], dtype=D64))


def test_rope_relative_property_and_norm_preservation():
    rope = RotaryPositionalEmbedding(10000.0, 32, 128, dtype=D64)
    q = torch.randn(32, generator=gen(10), dtype=D64)
    k = torch.randn(32, generator=gen(11), dtype=D64)
    pos = torch.arange(128)
    Q = rope(q.expand(128, 32), pos)                       # q at every position
    K = rope(k.expand(128, 32), pos)
    scores = Q @ K.T                                        # scores[m, n] = <R_m q, R_n k>
    for offset in (-100, -7, 0, 1, 50, 127):
        diag = torch.diagonal(scores, offset=offset)       # all pairs with n - m = offset
        assert (diag - diag[0]).abs().max() < 1e-10
        torch.testing.assert_close(diag[0], q @ (rope_matrix(32, abs(offset)) @ k) if offset >= 0
                                   else (rope_matrix(32, -offset) @ q) @ k, rtol=0, atol=1e-10)
    torch.testing.assert_close(Q.norm(dim=-1), q.norm().expand(128), rtol=0, atol=1e-12)
    x32 = torch.randn(4, 8, 20, 32, generator=gen(12))
    r32 = RotaryPositionalEmbedding(10000.0, 32, 20)(x32, torch.arange(20))
    torch.testing.assert_close(r32.norm(dim=-1), x32.norm(dim=-1), rtol=1e-5, atol=1e-5)


def test_rope_bad_input():
    with pytest.raises(ValueError, match="even"):
        RotaryPositionalEmbedding(10000.0, 15, 8)
    rope = RotaryPositionalEmbedding(10000.0, 8, 16)
    with pytest.raises(IndexError, match="max_seq_len=16"):
        rope(torch.zeros(1, 17, 8), torch.arange(17))
    with pytest.raises(ValueError, match="d_k=8"):
        rope(torch.zeros(1, 4, 6), torch.arange(4))


def test_sinusoidal_table_hand_values():
    pe = sinusoidal_table(50, 8)
    # PE[p, 2i] = sin(p / 10000^(2i/8)), PE[p, 2i+1] = cos(...)
    for p in (0, 1, 7, 49):
        for i in range(4):
            w = p / 10000 ** (2 * i / 8)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(w), abs=1e-12)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(w), abs=1e-12)
    # PE[p + k] is a fixed linear (rotation) function of PE[p] for each offset k
    k = 5
    for i in range(4):
        w = 1 / 10000 ** (2 * i / 8)
        R = torch.tensor([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]],
                         dtype=D64)
        torch.testing.assert_close(pe[:-k, 2 * i:2 * i + 2] @ R, pe[k:, 2 * i:2 * i + 2],
                                   rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_table(4, 7)


def test_position_modules():
    sp = SinusoidalPositions(10, 8)
    torch.testing.assert_close(sp(torch.arange(3)), sinusoidal_table(10, 8)[:3].float())
    lp = LearnedPositions(10, 8)
    assert lp(torch.arange(4)).shape == (4, 8)
    assert sum(p.numel() for p in lp.parameters()) == 80
    with pytest.raises(IndexError, match="max_seq_len=10"):
        lp(torch.arange(11))
    with pytest.raises(IndexError, match="max_seq_len=10"):
        sp(torch.arange(11))
