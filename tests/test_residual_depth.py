"""Notebook 35 (residual connections and depth): the pointer-chasing generator against a
brute-force rule, the path expansion of linear residual stacks against the sum over subsets,
the exact split of a trained model's gradient by path length against Veit et al.'s per-path
measurement, and the LM options ``residual`` and ``lesion``."""

import itertools
import math

import pytest
import torch

from utils.data import pointer_chasing as pc
from utils.nn import residual_paths as rp
from utils.nn.transformer_lm import TransformerConfig, TransformerLM, lesion


# ---- pointer chasing ----------------------------------------------------------------------

def brute_power(f: list[int], k: int, a: int) -> int:
    for _ in range(k):
        a = f[a]
    return a


def test_function_power_matches_the_k_fold_loop():
    g = torch.Generator().manual_seed(0)
    f = torch.randint(0, 7, (50, 7), generator=g)          # arbitrary functions, not only perms
    k = torch.randint(0, 40, (50,), generator=g)
    out = pc.function_power(f, k)
    for b in range(50):
        fb = f[b].tolist()
        assert out[b].tolist() == [brute_power(fb, int(k[b]), a) for a in range(7)]


@pytest.mark.parametrize("m,ks", [(5, [1, 2, 3]), (12, [1, 2, 4, 8])])
def test_sample_batch_labels_against_brute_force(m, ks):
    tokens, targets, k, f = pc.sample_batch(64, m, ks, torch.Generator().manual_seed(1))
    assert tokens.shape == targets.shape == (64, m + 1)
    assert int(tokens.max()) < pc.vocab_size(m, max(ks))
    for b in range(64):
        fb = f[b].tolist()
        assert sorted(fb) == list(range(m))                   # a permutation
        assert int(k[b]) in ks
        assert int(tokens[b, 0]) == m * m + int(k[b]) - 1     # the hop token says k
        assert int(targets[b, 0]) == pc.IGNORE
        keys = []
        for s in range(1, m + 1):
            a, v = divmod(int(tokens[b, s]), m)               # pair(a, b) = a·m + b
            keys.append(a)
            assert v == fb[a]
            assert int(targets[b, s]) == brute_power(fb, int(k[b]), a)
        assert sorted(keys) == list(range(m))                 # every key listed once


def test_pointer_chasing_bad_inputs():
    with pytest.raises(ValueError, match="ks"):
        pc.sample_batch(4, 5, [0, 1])
    with pytest.raises(ValueError, match="m must"):
        pc.sample_batch(4, 1, [1])
    with pytest.raises(ValueError, match="k must"):
        pc.function_power(torch.zeros(2, 3, dtype=torch.long), torch.tensor([1, -1]))


# ---- path expansion -------------------------------------------------------------------------

def test_path_counts_are_binomial():
    assert rp.path_counts(3) == [1, 3, 3, 1]
    assert sum(rp.path_counts(12)) == 2 ** 12
    assert rp.path_counts(12)[6] == 924
    with pytest.raises(ValueError):
        rp.path_counts(-1)


def test_path_expansion_equals_subsets_and_product():
    g = torch.Generator().manual_seed(0)
    mats = [0.3 * torch.randn(5, 5, generator=g, dtype=torch.float64) for _ in range(6)]
    P = rp.path_expansion(mats)
    Q = rp.path_expansion_bruteforce(mats)
    prod = torch.eye(5, dtype=torch.float64)
    for A in mats:
        prod = (torch.eye(5, dtype=torch.float64) + A) @ prod
    for k in range(7):
        torch.testing.assert_close(P[k], Q[k], rtol=0, atol=1e-12)
    torch.testing.assert_close(sum(P), prod, rtol=0, atol=1e-12)
    # non-commuting blocks: the order matters, so a reversed stack differs
    assert not torch.allclose(rp.path_expansion(mats[::-1])[2], P[2])


def test_path_expansion_scalar_blocks_give_binomial_weights():
    a = 0.7
    P = rp.path_expansion([a * torch.eye(3, dtype=torch.float64)] * 5)
    for k in range(6):
        want = math.comb(5, k) * a ** k * torch.eye(3, dtype=torch.float64)
        torch.testing.assert_close(P[k], want)


# ---- gradient by path length ----------------------------------------------------------------

def small_model(L=3, **kw):
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=11, context_length=8, d_model=16, num_layers=L,
                            num_heads=2, **kw)
    return TransformerLM(cfg).double()


def test_gradient_split_sums_to_the_gradient_and_matches_single_paths():
    model = small_model(3)
    tokens = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(3))
    targets = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(4))

    def loss_fn(logits):
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 11), targets.reshape(-1))

    out = rp.gradient_by_path_length(model, tokens, loss_fn)
    assert len(out["g"]) == 4
    torch.testing.assert_close(sum(out["g"]), out["total"], rtol=1e-9, atol=1e-12)
    # the gradient w.r.t. the embeddings' output, by autograd through the whole model
    x0 = model.token_embeddings(tokens).detach().requires_grad_(True)
    x = x0
    for b in model.layers:
        x = b(x, torch.arange(8))
    full = torch.autograd.grad(loss_fn(model.lm_head(model.ln_final(x))), x0)[0]
    torch.testing.assert_close(out["total"], full, rtol=1e-9, atol=1e-12)
    # g_k = the sum of Veit et al.'s single-path gradients over the C(3, k) paths of length k
    for k in range(4):
        paths = [rp.single_path_gradient(model, tokens, loss_fn, S)
                 for S in itertools.combinations(range(3), k)]
        torch.testing.assert_close(out["g"][k], sum(paths), rtol=1e-9, atol=1e-12)
    assert model.training  # restored


# ---- the LM options: residual on/off and lesions ---------------------------------------------

def test_residual_false_computes_sublayers_without_skips():
    model = small_model(1, residual=False).eval()
    blk = model.layers[0]
    x = torch.randn(2, 8, 16, dtype=torch.float64)
    pos = torch.arange(8)
    h = blk.attn(blk.ln1(x), pos)
    torch.testing.assert_close(blk(x, pos), blk.ffn(blk.ln2(h)))
    model2 = small_model(1, residual=False, norm_position="none").eval()
    b2 = model2.layers[0]
    torch.testing.assert_close(b2(x, pos), b2.ffn(b2.attn(x, pos)))
    with_skip = small_model(1).eval().layers[0]
    h = x + with_skip.attn(with_skip.ln1(x), pos)
    torch.testing.assert_close(with_skip(x, pos), h + with_skip.ffn(with_skip.ln2(h)))
    with pytest.raises(ValueError, match="residual"):
        TransformerConfig(vocab_size=5, context_length=4, d_model=8, num_layers=1, num_heads=2,
                          residual=1)


def test_lesion_all_blocks_is_embedding_norm_head_and_restores():
    model = small_model(3).eval()
    tokens = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(5))
    before = model(tokens)
    layers = model.layers
    with lesion(model, range(3)):
        got = model(tokens)
        assert len(model.layers) == 0
    want = model.lm_head(model.ln_final(model.token_embeddings(tokens)))
    torch.testing.assert_close(got, want)
    assert model.layers is layers
    torch.testing.assert_close(model(tokens), before, rtol=0, atol=0)
    # one block skipped = the forward with that block replaced by the identity
    with lesion(model, [1]):
        got = model(tokens)
    x = model.token_embeddings(tokens)
    for l in (0, 2):
        x = model.layers[l](x, torch.arange(8))
    torch.testing.assert_close(got, model.lm_head(model.ln_final(x)))
    # restored after an exception too; bad indices are refused
    with pytest.raises(RuntimeError):
        with lesion(model, [0]):
            raise RuntimeError("boom")
    assert model.layers is layers and len(model.layers) == 3
    with pytest.raises(IndexError, match="0..2"):
        with lesion(model, [3]):
            pass
    with pytest.raises(TypeError):
        with lesion(torch.nn.Linear(2, 2), [0]):
            pass


def test_one_hot_inputs_decode_back_to_pairs_and_hops():
    m, K = 6, 4
    tokens, _, k, _ = pc.sample_batch(20, m, [1, 2, 3, 4], torch.Generator().manual_seed(2))
    x = pc.one_hot_inputs(tokens, m, K)
    assert x.shape == (20, m + 1, 2 * m + K)
    assert torch.all(x.sum(-1)[:, 1:] == 2) and torch.all(x.sum(-1)[:, 0] == 1)
    key, value, hop = x[..., :m].argmax(-1), x[..., m:2 * m].argmax(-1), x[..., 2 * m:].argmax(-1)
    torch.testing.assert_close(key[:, 1:] * m + value[:, 1:], tokens[:, 1:])
    torch.testing.assert_close(hop[:, 0] + 1, k)
    with pytest.raises(ValueError, match="token ids"):
        pc.one_hot_inputs(torch.tensor([[m * m + K]]), m, K)


def test_gradient_split_on_the_pointer_encoder_and_pooled_models_refused():
    from utils.nn.encoder import TokenEncoder
    from utils.train import pointer as ptr

    cfg = {"m": 5, "ks": [1, 2], "d_model": 16, "num_heads": 2, "num_layers": 3}
    torch.manual_seed(0)
    model = ptr.make_model(cfg).double()
    tokens, targets, _, _ = pc.sample_batch(8, 5, [1, 2], torch.Generator().manual_seed(0))
    x = pc.one_hot_inputs(tokens, 5, 2).double()
    out = rp.gradient_by_path_length(model, x, lambda o: ptr.pair_loss(o, targets))
    assert len(out["g"]) == 4
    torch.testing.assert_close(sum(out["g"]), out["total"], rtol=1e-9, atol=1e-12)
    pooled = TokenEncoder(ptr.model_config(cfg), d_in=12, d_out=5, pool="mean")
    with pytest.raises(ValueError, match="per-token"):
        rp.gradient_by_path_length(pooled, x.float(), lambda o: o.sum())
