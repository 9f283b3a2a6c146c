"""The Transformer LM (utils/nn/transformer_lm.py): attention against torch, causality, variants,
parameter counts, configuration and checkpoint errors."""

import io
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from utils.nn.functional import causal_mask
from utils.nn.layers import swiglu_hidden_dim
from utils.nn.transformer_lm import (CausalSelfAttention, KVCache, TransformerConfig,
                                     TransformerLM)
from utils.train.lm import load_checkpoint, save_checkpoint

D64 = torch.float64


def cfg(**kw):
    base = dict(vocab_size=50, context_length=16, d_model=32, num_layers=2, num_heads=4)
    base.update(kw)
    return TransformerConfig(**base)


def model(seed=0, **kw):
    torch.manual_seed(seed)
    return TransformerLM(cfg(**kw)).double().eval()


@pytest.mark.parametrize("attention", ["scratch", "flash"])
def test_attention_matches_torch_multihead_attention(attention):
    c = cfg(positions="none", attention=attention)
    torch.manual_seed(0)
    ours = CausalSelfAttention(c).double()
    ref = torch.nn.MultiheadAttention(32, 4, bias=False, batch_first=True, dtype=D64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)          # [W_Q; W_K; W_V], (3d, d)
        ref.out_proj.weight.copy_(ours.out.weight)
    x = torch.randn(3, 10, 32, generator=torch.Generator().manual_seed(1), dtype=D64)
    expected, _ = ref(x, x, x, attn_mask=~causal_mask(10), need_weights=False)  # True = blocked
    got = ours(x, torch.arange(10))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attention", ["scratch", "flash"])
def test_attention_with_rope_matches_manual_reference(attention):
    c = cfg(attention=attention)
    torch.manual_seed(0)
    att = CausalSelfAttention(c).double()
    x = torch.randn(2, 9, 32, generator=torch.Generator().manual_seed(2), dtype=D64)
    pos = torch.arange(3, 12)            # explicit positions, not starting at 0
    B, S, d, H = 2, 9, 32, 4
    q, k, v = F.linear(x, att.qkv.weight).split(d, -1)
    heads = lambda t: t.view(B, S, H, d // H).transpose(1, 2)   # noqa: E731
    q, k, v = heads(q), heads(k), heads(v)
    # RoPE by complex multiplication on adjacent pairs
    freqs = 10000.0 ** (-torch.arange(0, 8, 2, dtype=D64) / 8)
    rot = torch.polar(torch.ones(9, 4, dtype=D64), pos.to(D64)[:, None] * freqs)
    r = lambda t: torch.view_as_real(                            # noqa: E731
        torch.view_as_complex(t.reshape(B, H, S, 4, 2).contiguous()) * rot).flatten(-2)
    out = F.scaled_dot_product_attention(r(q), r(k), v, is_causal=True)
    expected = F.linear(out.transpose(1, 2).reshape(B, S, d), att.out.weight)
    torch.testing.assert_close(att(x, pos), expected, rtol=0, atol=1e-12)


VARIANTS = [dict(), dict(norm_position="post"), dict(norm_position="none"),
            dict(norm_type="layernorm"), dict(positions="learned"), dict(positions="sinusoidal"),
            dict(positions="none"), dict(ffn="silu"), dict(ffn="gelu"), dict(attention="flash"),
            dict(tie_weights=True), dict(init="gpt2", positions="learned")]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(f"{k}={x}" for k, x in
                                                                     v.items()) or "default")
def test_lm_is_causal(variant):
    m = model(**variant)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 50, (2, 16), generator=g)
    logits = m(ids)
    assert logits.shape == (2, 16, 50) and logits.dtype == D64
    for t in (0, 5, 14):
        changed = ids.clone()
        changed[:, t + 1:] = torch.randint(0, 50, (2, 15 - t), generator=g)
        torch.testing.assert_close(m(changed)[:, :t + 1], logits[:, :t + 1], rtol=0, atol=1e-12)
        assert not torch.allclose(m(changed)[:, t + 1:], logits[:, t + 1:])   # later ones do


def test_flash_and_scratch_give_the_same_model():
    a, b = model(attention="scratch"), model(attention="flash")
    ids = torch.randint(0, 50, (3, 16), generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a(ids), b(ids), rtol=0, atol=1e-12)


def test_one_layer_nope_sees_a_bag_of_tokens():
    """Without positions, one causal layer's output at the last position is a function of the
    set of earlier tokens: permuting them leaves it unchanged (RoPE breaks the symmetry)."""
    m = model(positions="none", num_layers=1)
    ids = torch.randint(0, 50, (1, 12), generator=torch.Generator().manual_seed(5))
    perm = torch.cat([torch.randperm(11, generator=torch.Generator().manual_seed(6)),
                      torch.tensor([11])])
    torch.testing.assert_close(m(ids[:, perm])[:, -1], m(ids)[:, -1], rtol=0, atol=1e-12)
    r = model(positions="rope", num_layers=1)
    assert not torch.allclose(r(ids[:, perm])[:, -1], r(ids)[:, -1])


def expected_params(V, C, d, L, d_ff, ffn_mats, norms_per_block=2, final=1, tie=False,
                    pos=0):
    block = 4 * d * d + ffn_mats * d * d_ff + norms_per_block * d
    return V * d * (1 if tie else 2) + L * block + final * d + pos


def test_parameter_count_formula():
    m = TransformerLM(cfg(vocab_size=1000, d_model=64, num_heads=4, num_layers=3))
    d_ff = swiglu_hidden_dim(64)
    assert m.num_parameters() == expected_params(1000, 16, 64, 3, d_ff, 3)
    assert m.num_parameters(exclude_embeddings=True) == expected_params(1000, 16, 64, 3, d_ff,
                                                                         3) - 1000 * 64
    t = TransformerLM(cfg(vocab_size=1000, d_model=64, tie_weights=True, positions="learned"))
    assert t.lm_head.weight is t.token_embeddings.weight
    assert t.num_parameters() == expected_params(1000, 16, 64, 2, d_ff, 3, tie=True, pos=16 * 64)
    s = TransformerLM(cfg(vocab_size=1000, d_model=64, ffn="silu", norm_position="none"))
    assert s.num_parameters() == expected_params(1000, 16, 64, 2, 3 * d_ff // 2, 2,
                                                 norms_per_block=0, final=0)


def test_post_norm_has_no_final_norm_and_gpt2_init():
    m = TransformerLM(cfg(norm_position="post", d_model=256, num_heads=4, num_layers=4,
                          init="gpt2", vocab_size=2000))
    assert m.ln_final is None and m.layers[0].ln1 is not None
    assert abs(m.token_embeddings.weight.std().item() - 0.02) < 0.001
    assert abs(m.layers[0].attn.out.weight.std().item() - 0.02 / math.sqrt(8)) < 0.0005
    assert abs(m.layers[0].ffn.w2.weight.std().item() - 0.02 / math.sqrt(8)) < 0.0005
    assert abs(m.layers[0].attn.qkv.weight.std().item() - 0.02) < 0.001


def test_dropout_only_in_training():
    m = model(dropout_embedding=0.2, dropout_attention=0.2, dropout_residual=0.2)
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(m(ids), m(ids), rtol=0, atol=0)        # eval: deterministic
    m.train()
    assert not torch.allclose(m(ids), m(ids))
    m.eval()
    ref = model()
    ref.load_state_dict(m.state_dict())
    torch.testing.assert_close(m(ids), ref(ids), rtol=0, atol=1e-12)  # dropout off == no dropout


@pytest.mark.parametrize("attention,positions", list(itertools.product(
    ["scratch", "flash"], ["rope", "learned"])))
def test_kv_cache_forward_equals_full_forward(attention, positions):
    m = model(attention=attention, positions=positions)
    ids = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(8))
    full = m(ids)
    cache = m.new_cache()
    parts = [m(ids[:, :5], cache=cache), m(ids[:, 5:6], cache=cache), m(ids[:, 6:16], cache=cache)]
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=0, atol=1e-12)
    assert cache.length == 16
    with pytest.raises(ValueError, match="context_length=16"):
        m(ids[:, :1], cache=cache)


def test_kv_cache_capacity_error():
    c = KVCache(1, 4)
    c.update(0, torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2))
    c.length = 3
    with pytest.raises(ValueError, match="at most 4"):
        c.update(0, torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="not divisible by num_heads=5"):
        cfg(num_heads=5)
    with pytest.raises(ValueError, match="even head dimension.*= 3 is odd"):
        cfg(d_model=12, num_heads=4)
    cfg(d_model=12, num_heads=4, positions="learned")          # odd head dim fine without RoPE
    for key, bad, allowed in [("positions", "t5_bias", "'rope'"), ("norm_position", "sandwich",
                              "'post'"), ("norm_type", "groupnorm", "'layernorm'"),
                              ("ffn", "relu", "'swiglu'"), ("attention", "linear", "'flash'"),
                              ("init", "xavier", "'gpt2'")]:
        with pytest.raises(ValueError, match=f"unknown {key} '{bad}'; allowed: .*{allowed}"):
            cfg(**{key: bad})
    with pytest.raises(ValueError, match="dropout_attention"):
        cfg(dropout_attention=1.0)
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        cfg(vocab_size=0)
    with pytest.raises(ValueError, match=r"unknown model config key\(s\) \['d_modle'\]"):
        TransformerConfig.from_dict(dict(vocab_size=5, context_length=4, d_model=8,
                                         num_layers=1, num_heads=2, d_modle=8))
    m = model()
    with pytest.raises(ValueError, match="longer than context_length=16"):
        m(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(IndexError, match=r"\[0, 49\]"):
        m(torch.full((1, 3), 50))


def test_checkpoint_from_a_different_architecture_is_refused():
    a, b = model(d_model=32), model(d_model=64)
    buf = io.BytesIO()
    save_checkpoint(a, None, 7, buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="different architecture.*d_model: checkpoint 32, "
                                         "model 64"):
        load_checkpoint(buf, b)
    # without a stored config the shapes are compared
    state = {"model": a.state_dict(), "optimizer": None, "iteration": 1}
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="does not match.*token_embeddings.weight: checkpoint "
                                         r"\(50, 32\), model \(50, 64\)"):
        load_checkpoint(buf, b)


def test_counted_flops_and_parameters_match_the_accounting_formulas():
    """utils.accounting's formulas (notebook 06's resource accounting) describe this model:
    FLOPs counted by torch's FlopCounterMode on the from-scratch attention path, parameters."""
    from torch.utils.flop_counter import FlopCounterMode

    from utils import accounting as acc

    for ffn, tie in (("swiglu", False), ("gelu", True)):
        c = cfg(vocab_size=97, d_model=48, num_heads=3, num_layers=3, ffn=ffn, tie_weights=tie)
        m = TransformerLM(c)
        a = acc.TransformerConfig(d_model=48, n_layers=3, n_heads=3, vocab_size=97,
                                  context_length=16, d_ff=c.hidden_dim,
                                  mlp="swiglu" if ffn == "swiglu" else "gelu", norm="rmsnorm",
                                  bias=False, positions="rope", tied_embeddings=tie)
        assert m.num_parameters() == acc.param_counts(a)["total"]
        with FlopCounterMode(display=False) as counter:
            m(torch.zeros(2, 11, dtype=torch.long))
        assert counter.get_total_flops() == acc.forward_flops(a, 2, 11)["total"]


@pytest.mark.parametrize("attention", ["scratch", "flash"])
def test_recorded_attention_weights_are_causal_distributions(attention):
    m = model(attention=attention)
    ids = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(9))
    expected = m(ids)
    for layer in m.layers:
        layer.attn.record_weights = True
    torch.testing.assert_close(m(ids), expected, rtol=0, atol=1e-12)   # same output
    w = m.layers[1].attn.last_weights                                  # (B, H, S, S)
    assert w.shape == (2, 4, 10, 10)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 10, dtype=D64), rtol=0, atol=1e-12)
    assert (w.triu(diagonal=1) == 0).all()                             # no weight on the future


def test_the_model_traces_on_the_meta_device_and_saves_what_the_cpu_run_saves():
    """Full-size models can be traced on the meta device (no values: the id checks are skipped
    there, and only there); with the from-scratch attention the saved bytes equal those of the
    same step on the CPU. (SDPA's meta kernel saves a slightly different set than its CPU
    flash kernel, so the "flash" path is not compared.)"""
    attention = "scratch"
    from utils.accounting import saved_tensor_bytes
    from utils.train.lm import cross_entropy

    torch.manual_seed(0)
    cpu = TransformerLM(cfg(attention=attention))
    with torch.device("meta"):
        meta = TransformerLM(cfg(attention=attention))
    x = torch.randint(0, 50, (3, 16))
    xm = torch.zeros(3, 16, dtype=torch.long, device="meta")
    loss = cross_entropy(meta(xm), xm)
    assert loss.device.type == "meta" and loss.shape == ()
    assert saved_tensor_bytes(lambda: cross_entropy(meta(xm), xm), exclude=meta) == \
        saved_tensor_bytes(lambda: cross_entropy(cpu(x), x), exclude=cpu)
    with pytest.raises(IndexError, match=r"\[0, 49\]"):              # CPU ids are still checked
        cpu(torch.full((1, 3), 50))
