"""The encoder options of the pack's Transformer: causal=False, head_dim, num_layers=0, and
utils.nn.encoder.TokenEncoder (notebooks 31, 33, 34)."""

import pytest
import torch
import torch.nn.functional as F

from utils.nn.encoder import TokenEncoder
from utils.nn.transformer_lm import CausalSelfAttention, TransformerConfig, TransformerLM


def cfg(**kw):
    base = dict(vocab_size=7, context_length=16, d_model=16, num_layers=2, num_heads=4)
    base.update(kw)
    return TransformerConfig(**base)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("heads,head_dim", [(4, None), (1, 32), (2, 3)])
def test_attention_matches_torch_sdpa(causal, heads, head_dim):
    torch.manual_seed(0)
    c = cfg(num_heads=heads, head_dim=head_dim, causal=causal, positions="none")
    attn = CausalSelfAttention(c).double()
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    e = c.d_head
    q, k, v = (x @ attn.qkv.weight.T).split(heads * e, dim=-1)
    split = lambda t: t.view(3, 5, heads, e).transpose(1, 2)          # noqa: E731
    ref = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    ref = ref.transpose(1, 2).reshape(3, 5, heads * e) @ attn.out.weight.T
    out = attn(x, torch.arange(5))
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    assert attn.qkv.weight.shape == (3 * heads * e, 16)
    assert attn.out.weight.shape == (16, heads * e)


@pytest.mark.parametrize("causal", [True, False])
def test_causal_flag_controls_the_future(causal):
    torch.manual_seed(0)
    model = TransformerLM(cfg(causal=causal)).eval()
    ids = torch.randint(0, 7, (1, 6))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 7
    first = model(ids)[0, 0] - model(changed)[0, 0]
    assert (first.abs().max() == 0) == causal


@pytest.mark.parametrize("attention", ["scratch", "flash"])
def test_flash_and_scratch_agree_without_causal_mask(attention):
    torch.manual_seed(0)
    ref = TransformerLM(cfg(causal=False, attention="scratch")).double().eval()
    other = TransformerLM(cfg(causal=False, attention=attention)).double().eval()
    other.load_state_dict(ref.state_dict())
    ids = torch.randint(0, 7, (2, 9))
    torch.testing.assert_close(other(ids), ref(ids), rtol=1e-10, atol=1e-10)


def test_zero_layers_is_embedding_norm_head():
    torch.manual_seed(0)
    model = TransformerLM(cfg(num_layers=0, positions="none"))
    ids = torch.randint(0, 7, (2, 5))
    expected = model.lm_head(model.ln_final(model.token_embeddings(ids)))
    torch.testing.assert_close(model(ids), expected)
    assert len(model.layers) == 0


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="num_layers must be an int >= 0"):
        cfg(num_layers=-1)
    with pytest.raises(ValueError, match="head_dim must be a positive int"):
        cfg(head_dim=0)
    with pytest.raises(ValueError, match="causal must be True or False"):
        cfg(causal="yes")
    # head_dim lifts the divisibility requirement
    assert cfg(d_model=18, num_heads=4, head_dim=5, positions="learned").d_attn == 20
    with pytest.raises(ValueError, match="not divisible"):
        cfg(d_model=18, num_heads=4)


def test_token_encoder_is_permutation_equivariant_without_positions():
    torch.manual_seed(0)
    enc = TokenEncoder(cfg(causal=False, positions="none"), d_in=3, d_out=2, pool="none").double()
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    perm = torch.randperm(6)
    torch.testing.assert_close(enc(x[:, perm]), enc(x)[:, perm], rtol=1e-10, atol=1e-10)
    mean = TokenEncoder(cfg(causal=False, positions="none"), 3, 2, pool="mean").double()
    torch.testing.assert_close(mean(x[:, perm]), mean(x), rtol=1e-10, atol=1e-10)


def test_token_encoder_shapes_cls_and_errors():
    torch.manual_seed(0)
    enc = TokenEncoder(cfg(causal=False, positions="learned"), d_in=4, d_out=10, pool="cls")
    assert enc(torch.randn(5, 15, 4)).shape == (5, 10)
    assert enc.hidden_states(torch.randn(5, 15, 4)).shape == (5, 16, 16)
    with pytest.raises(ValueError, match="exceed context_length=16"):
        enc(torch.randn(1, 16, 4))
    with pytest.raises(ValueError, match=r"inputs must be \(batch, seq, d_in=4\)"):
        enc(torch.randn(5, 4))
    with pytest.raises(ValueError, match="unknown pool"):
        TokenEncoder(cfg(), 4, 10, pool="max")
    # a custom tokenizer replaces the shared input Linear
    tok = torch.nn.Linear(4, 16)
    assert TokenEncoder(cfg(), 4, 1, pool="last", tokenizer=tok).tokenizer is tok
