"""Notebook 31's pieces: BatchNorm over tokens (against torch.nn.BatchNorm1d), the feature
tokenizer, RevIN and the forecaster, and the regression data (utils/data/tabular.py)."""

import math

import numpy as np
import pytest
import torch

from utils.data import tabular
from utils.nn.continuous import FeatureTokenizer, Forecaster, RevIN, ScalarTokenizer
from utils.nn.encoder import TokenEncoder
from utils.nn.layers import BatchNorm, LayerNorm, make_norm
from utils.nn.transformer_lm import TransformerConfig

D64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- BatchNorm over tokens ---------------------------------------------------------------------

def _pair(d=8, momentum=0.1):
    ours = BatchNorm(d, eps=1e-5, momentum=momentum, dtype=D64)
    ref = torch.nn.BatchNorm1d(d, eps=1e-5, momentum=momentum, dtype=D64)
    with torch.no_grad():
        w = torch.randn(d, generator=gen(1), dtype=D64)
        b = torch.randn(d, generator=gen(2), dtype=D64)
        ours.weight.copy_(w), ref.weight.copy_(w)
        ours.bias.copy_(b), ref.bias.copy_(b)
    return ours, ref


def test_batchnorm_matches_torch_batchnorm1d_in_training_and_evaluation():
    ours, ref = _pair()
    for step in range(3):                                # training: batch statistics + running
        x = (torch.randn(4, 5, 8, generator=gen(10 + step), dtype=D64) * 3 + step).requires_grad_()
        y = ours(x)
        y_ref = ref(x.transpose(1, 2)).transpose(1, 2)   # BatchNorm1d wants (B, C, S)
        torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
        g = torch.randn(4, 5, 8, generator=gen(20 + step), dtype=D64)
        gx, = torch.autograd.grad(y, x, g)
        gx_ref, = torch.autograd.grad(y_ref, x, g)
        torch.testing.assert_close(gx, gx_ref, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=1e-12, atol=1e-12)
    ours.eval(), ref.eval()                              # evaluation: running statistics
    x = torch.randn(2, 7, 8, generator=gen(30), dtype=D64)
    torch.testing.assert_close(ours(x), ref(x.transpose(1, 2)).transpose(1, 2), rtol=1e-12,
                               atol=1e-12)


def test_batchnorm_depends_on_the_batch_only_in_training():
    bn = BatchNorm(6, dtype=D64)
    x = torch.randn(8, 3, 6, generator=gen(3), dtype=D64)
    other = torch.randn(8, 3, 6, generator=gen(4), dtype=D64) * 5
    both = torch.cat([x, other])
    assert not torch.allclose(bn(x)[:1], bn(both)[:1])          # train: batch mates matter
    bn.eval()
    torch.testing.assert_close(bn(x)[:1], bn(both)[:1], rtol=0, atol=0)


def test_batchnorm_statistics_are_per_channel_over_batch_and_sequence():
    bn = BatchNorm(4, dtype=D64)
    x = torch.randn(5, 9, 4, generator=gen(5), dtype=D64) * torch.tensor([1., 2., 3., 4.],
                                                                            dtype=D64) + 7
    y = bn(x).reshape(-1, 4)
    torch.testing.assert_close(y.mean(0), torch.zeros(4, dtype=D64), rtol=0, atol=1e-12)
    torch.testing.assert_close(y.var(0, unbiased=False), torch.full((4,), 1.0, dtype=D64),
                               rtol=1e-5, atol=1e-5)   # 1 up to ε / σ²


def test_make_norm_and_config_accept_batchnorm_and_reject_bad_input():
    assert isinstance(make_norm("batchnorm", 8), BatchNorm)
    with pytest.raises(ValueError, match="batchnorm"):
        make_norm("groupnorm", 8)
    with pytest.raises(ValueError, match="at least 2"):
        BatchNorm(3)(torch.randn(1, 1, 3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        BatchNorm(3)(torch.randn(2, 2, 4))
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=0.0)
    cfg = TransformerConfig(vocab_size=1, context_length=12, d_model=16, num_layers=1,
                            num_heads=2, norm_type="batchnorm", causal=False, positions="none")
    enc = TokenEncoder(cfg, d_in=1, d_out=1, pool="cls").double().eval()
    assert sum(isinstance(m, BatchNorm) for m in enc.modules()) == 3   # ln1, ln2, final
    x = torch.randn(6, 5, 1, generator=gen(6), dtype=D64)
    torch.testing.assert_close(enc(x)[:2], enc(x[:2]), rtol=1e-12, atol=1e-12)  # eval: per row


# --- the feature tokenizer, RevIN, the forecaster ---------------------------------------------

def test_feature_tokenizer_matches_a_loop_over_features():
    tok = FeatureTokenizer(5, 8).double()
    x = torch.randn(3, 5, generator=gen(7), dtype=D64)
    out = tok(x)
    assert out.shape == (3, 5, 8)
    for b in range(3):
        for i in range(5):
            torch.testing.assert_close(out[b, i], x[b, i] * tok.weight[i] + tok.bias[i],
                                       rtol=0, atol=1e-15)
    torch.testing.assert_close(tok(x.unsqueeze(-1)), out, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"\(batch, 5, 1\)"):
        tok(torch.randn(3, 4))
    bound = 1 / math.sqrt(8)
    assert tok.weight.abs().max() <= bound and tok.bias.abs().max() <= bound


def test_scalar_tokenizer_and_layernorm_collapse_without_bias():
    tok = ScalarTokenizer(16).double()
    x = torch.randn(2, 5, 1, generator=gen(11), dtype=D64)
    torch.testing.assert_close(tok(x), x * tok.weight + tok.bias, rtol=0, atol=0)
    ln = LayerNorm(16, eps=0.0).double()
    plain = ScalarTokenizer(16, bias=False).double()
    s = torch.tensor([[[0.5], [50.0]]], dtype=D64)
    out = ln(plain(s))                                  # the magnitude is gone (section 3e)
    torch.testing.assert_close(out[0, 0], out[0, 1], rtol=0, atol=1e-12)
    out_b = ln(tok(s))                                  # with a bias it is not
    assert (out_b[0, 0] - out_b[0, 1]).abs().max() > 0.1
    with pytest.raises(ValueError, match="batch, seq, 1"):
        tok(torch.randn(2, 5))


def test_revin_round_trip_and_statistics():
    rev = RevIN().double()
    with torch.no_grad():
        rev.gamma.fill_(1.7), rev.beta.fill_(-0.3)
    x = torch.randn(4, 20, generator=gen(8), dtype=D64) * 3 + 100
    mu, sigma = rev.statistics(x)
    torch.testing.assert_close(mu.squeeze(1), x.mean(1), rtol=0, atol=1e-12)
    torch.testing.assert_close(sigma.squeeze(1) ** 2, x.var(1, unbiased=False) + 1e-5,
                               rtol=1e-12, atol=1e-12)
    z = rev.normalize(x, mu, sigma)
    torch.testing.assert_close(z.mean(1), torch.full((4,), -0.3, dtype=D64), rtol=0, atol=1e-10)
    torch.testing.assert_close(rev.denormalize(z, mu, sigma), x, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="batch, length"):
        rev.statistics(torch.randn(2, 3, 1))


def test_forecaster_with_revin_is_equivariant_to_level_and_scale():
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=1, context_length=16, d_model=16, num_layers=1,
                            num_heads=2, norm_type="layernorm", causal=False,
                            positions="learned")
    model = Forecaster(TokenEncoder(cfg, 1, 3, pool="last"), RevIN()).double().eval()
    x = torch.randn(5, 12, generator=gen(9), dtype=D64)
    y = model(x)
    assert y.shape == (5, 3)
    # RevIN makes forecasts equivariant: f(a·x + b) = a·f(x) + b (a > 0), up to ε in σ
    torch.testing.assert_close(model(4.0 * x + 300.0), 4.0 * y + 300.0, rtol=1e-5, atol=1e-4)
    plain = Forecaster(TokenEncoder(cfg, 1, 3, pool="last")).double().eval()
    assert plain(x).shape == (5, 3)
    with pytest.raises(ValueError, match="batch, length"):
        model(x.unsqueeze(-1))


# --- data ------------------------------------------------------------------------------------

def test_friedman1_labels_match_the_formula_row_by_row():
    X, y, f = tabular.friedman1(50, n_features=7, noise=0.0, seed=3)
    assert X.shape == (50, 7) and y.shape == f.shape == (50,)
    assert X.min() >= 0 and X.max() <= 1
    for row, target in zip(X, y):
        x1, x2, x3, x4, x5 = row[:5]
        want = 10 * math.sin(math.pi * x1 * x2) + 20 * (x3 - 0.5) ** 2 + 10 * x4 + 5 * x5
        assert abs(target - want) < 1e-12
    np.testing.assert_array_equal(y, f)
    with pytest.raises(ValueError, match=">= 5"):
        tabular.friedman1(10, n_features=4)


def test_friedman1_noise_floor_is_sigma():
    X, y, f = tabular.friedman1(200_000, noise=1.5, seed=0)
    rmse_bayes = np.sqrt(np.mean((y - f) ** 2))          # the best possible predictor's RMSE
    assert abs(rmse_bayes - 1.5) < 0.01                  # std error of the RMSE ≈ 1.5/√(2n)
    a, b = tabular.friedman1(10, seed=4), tabular.friedman1(10, seed=4)
    np.testing.assert_array_equal(a[0], b[0])            # same seed, same data
    assert not np.array_equal(a[0], tabular.friedman1(10, seed=5)[0])


def test_split_indices_sizes_and_disjointness():
    tr, va, te = tabular.split_indices(442, (0.6, 0.2, 0.2), seed=1)
    assert (len(tr), len(va), len(te)) == (265, 88, 89)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(442))
    with pytest.raises(ValueError, match="sum"):
        tabular.split_indices(10, (0.5, 0.2, 0.2))


def test_standardizer_uses_training_statistics():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = tabular.Standardizer.fit(x)
    np.testing.assert_allclose(s.transform(x), [[-1.0, 0.0], [1.0, 0.0]])   # constant column: std 1
    np.testing.assert_allclose(s.inverse(s.transform([[7.0, 2.0]])), [[7.0, 2.0]])


def test_chronological_windows_are_slices_split_by_time():
    s = np.arange(100, dtype=float)
    w = tabular.chronological_windows(s, context=8, horizon=3, fractions=(0.7, 0.1, 0.2))
    X, Y = w["train"]
    assert X.shape[1] == 8 and Y.shape[1] == 3
    np.testing.assert_array_equal(X[0], np.arange(0, 8))
    np.testing.assert_array_equal(Y[0], np.arange(8, 11))
    assert Y.max() < 70                                  # train targets inside [0, 70)
    assert w["val"][1].min() >= 70 and w["val"][1].max() < 80
    assert w["test"][1].min() >= 80 and w["test"][1].max() == 99
    assert len(w["train"][0]) == 70 - 8 - 3 + 1 and len(w["test"][0]) == 20 - 3 + 1
    with pytest.raises(ValueError, match="no window"):
        tabular.chronological_windows(np.arange(20.0), context=8, horizon=3)


def test_load_diabetes_shape():
    pytest.importorskip("sklearn")
    X, y, names = tabular.load_diabetes()
    assert X.shape == (442, 10) and y.shape == (442,) and len(names) == 10
    assert y.min() == 25 and y.max() == 346 and not np.isnan(X).any()


def test_load_series_shapes_and_interpolation():
    pytest.importorskip("statsmodels")
    from statsmodels import datasets as smd

    co2 = tabular.load_series("co2")
    assert co2.shape == (2284,) and not np.isnan(co2).any()
    raw = smd.co2.load_pandas().data["co2"].to_numpy()
    missing = np.flatnonzero(np.isnan(raw))
    assert len(missing) == 59
    np.testing.assert_array_equal(co2[~np.isnan(raw)], raw[~np.isnan(raw)])
    inner = [i for i in missing if 0 < i < len(raw) - 1]
    for i in inner:                                      # an interpolated week lies between its
        lo = raw[:i][~np.isnan(raw[:i])][-1]             # nearest observed neighbours
        hi = raw[i + 1:][~np.isnan(raw[i + 1:])][0]
        assert min(lo, hi) - 1e-9 <= co2[i] <= max(lo, hi) + 1e-9
    sun = tabular.load_series("sunspots")
    assert sun.shape == (309,) and not np.isnan(sun).any() and sun.min() >= 0
    with pytest.raises(ValueError, match="co2"):
        tabular.load_series("airline")


def test_block_means():
    np.testing.assert_allclose(tabular.block_means(np.arange(10.0), 4), [1.5, 5.5])
    np.testing.assert_array_equal(tabular.block_means(np.arange(3.0), 1), np.arange(3.0))
    with pytest.raises(ValueError, match="k must be"):
        tabular.block_means(np.arange(3.0), 0)
