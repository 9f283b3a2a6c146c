"""ALiBi (utils/nn/alibi.py) against the formulas of Press et al. (2022), and in the LM."""

import math

import pytest
import torch

from utils.nn.alibi import ALiBi, alibi_slopes
from utils.nn.transformer_lm import TransformerConfig, TransformerLM


def reference_slopes(n):
    """The paper's reference code (github.com/ofirpress/attention_with_linear_biases)."""
    def get_slopes_power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        ratio = start
        return [start * ratio ** i for i in range(n)]
    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return get_slopes_power_of_2(closest) + reference_slopes(2 * closest)[0::2][:n - closest]


@pytest.mark.parametrize("H", [1, 2, 4, 8, 16])
def test_slopes_power_of_two_formula(H):
    expected = torch.tensor([2.0 ** (-8 * h / H) for h in range(1, H + 1)], dtype=torch.float64)
    assert torch.allclose(alibi_slopes(H), expected, rtol=0, atol=1e-15)


def test_slopes_of_eight_heads_are_the_papers():
    assert alibi_slopes(8).tolist() == [1 / 2 ** k for k in range(1, 9)]


@pytest.mark.parametrize("H", [3, 5, 6, 7, 12])
def test_slopes_other_head_counts_match_reference_code(H):
    assert torch.allclose(alibi_slopes(H), torch.tensor(reference_slopes(H), dtype=torch.float64),
                          rtol=0, atol=1e-15)


def test_bias_is_minus_slope_times_distance():
    H, S = 4, 9
    bias = ALiBi(H)(S, S, dtype=torch.float64)                     # (H, S, S)
    m = alibi_slopes(H)
    for h in range(H):
        for i in range(S):
            for j in range(i + 1):
                assert bias[h, i, j].item() == pytest.approx(-m[h].item() * (i - j), abs=1e-12)


def test_bias_for_cached_queries_and_encoders():
    full = ALiBi(2)(7, 7)
    assert torch.equal(ALiBi(2)(3, 7), full[:, -3:])               # last 3 queries of 7 keys
    sym = ALiBi(2, causal=False)(5, 5)
    i, j = torch.arange(5)[:, None], torch.arange(5)[None, :]
    assert torch.allclose(sym, -ALiBi(2).slopes[:, None, None] * (i - j).abs().float())
    with pytest.raises(ValueError, match="at least as many keys"):
        ALiBi(2)(4, 3)
    with pytest.raises(ValueError, match="num_heads"):
        alibi_slopes(0)


def alibi_model(attention="scratch", seed=0):
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=11, context_length=32, d_model=16, num_layers=2,
                            num_heads=4, positions="alibi", attention=attention)
    return TransformerLM(cfg).double().eval()


def test_attention_logits_are_content_plus_alibi():
    model = alibi_model()
    attn = model.layers[0].attn
    attn.record_weights = True
    x = torch.randint(0, 11, (2, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model(x)
        h = model.layers[0].ln1(model.token_embeddings(x))         # no position vector added
        q, k, _ = attn.qkv(h).split(attn.cfg.d_attn, dim=-1)
        q, k = attn.split_heads(q), attn.split_heads(k)
        content = q @ k.transpose(-2, -1) / math.sqrt(attn.d_head)   # (B, H, S, S)
    m = alibi_slopes(4)
    i, j = torch.arange(10)[:, None], torch.arange(10)[None, :]
    expected = content - m[:, None, None] * (i - j)
    causal = j <= i
    assert torch.allclose(attn.last_scores[..., causal], expected[..., causal], atol=1e-12)
    assert torch.isinf(attn.last_scores[..., ~causal]).all()


def test_three_attention_paths_and_kv_cache_agree():
    x = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(2))
    ref = alibi_model("scratch")
    with torch.no_grad():
        out = ref(x)
        flash = alibi_model("flash")(x)
        for layer in ref.layers:
            layer.attn.record_weights = True
        recorded = ref(x)
        for layer in ref.layers:
            layer.attn.record_weights = False
        cache = ref.new_cache()
        steps = [ref(x[:, :5], cache=cache)] + [ref(x[:, t:t + 1], cache=cache)
                                                for t in range(5, 12)]
    assert torch.allclose(out, flash, atol=1e-10)
    assert torch.allclose(out, recorded, atol=1e-12)
    assert torch.allclose(out, torch.cat(steps, dim=1), atol=1e-10)


def test_alibi_extends_past_the_training_length_without_a_table():
    model = alibi_model()
    assert model.position_embeddings is None
    assert model.num_parameters() == TransformerLM(TransformerConfig(
        vocab_size=11, context_length=32, d_model=16, num_layers=2, num_heads=4,
        positions="none")).num_parameters()                        # no parameters of its own
    with torch.no_grad():
        assert torch.isfinite(model(torch.zeros(1, 32, dtype=torch.long))).all()
