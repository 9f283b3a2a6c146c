"""Decode (one generated token, KV cache) accounting of utils.accounting, notebook 32.

References: ``torch.utils.flop_counter.FlopCounterMode`` on the pack's own model
(``utils.nn.transformer_lm.TransformerLM``) generating one token after a cached prefix, and on the
plain-torch reference model with grouped-query / multi-query attention and decoupled head widths;
the released parameter counts of Llama 3 8B and Gemma 2B; hand counts for GPT-2 small.
"""

import pytest
import torch

from utils import accounting as acc
from utils.nn.transformer_lm import TransformerConfig as LMConfig
from utils.nn.transformer_lm import TransformerLM


def _lm(d=32, L=2, h=4, V=37, ffn="gelu", head_dim=None, norm="layernorm", ctx=64):
    cfg = LMConfig(vocab_size=V, context_length=ctx, d_model=d, num_layers=L, num_heads=h,
                   ffn=ffn, norm_type=norm, head_dim=head_dim, positions="rope")
    torch.manual_seed(0)
    return TransformerLM(cfg).eval()


@pytest.mark.parametrize("d,L,h,V,ffn,head_dim,S", [
    (32, 2, 4, 37, "gelu", None, 1), (32, 2, 4, 37, "gelu", None, 23),
    (48, 3, 6, 101, "swiglu", None, 40), (32, 1, 2, 50, "silu", 24, 9)])
def test_decode_flops_match_flopcounter_on_the_pack_model(d, L, h, V, ffn, head_dim, S):
    model = _lm(d, L, h, V, ffn, head_dim)
    cache = model.new_cache()
    with torch.no_grad():
        if S > 1:                                        # fill the cache with S - 1 positions
            model(torch.randint(0, V, (1, S - 1)), cache=cache)
        new = torch.randint(0, V, (1, 1))
        counted = acc.counted_flops(lambda: model(new, cache=cache))
    assert cache.length == S                             # the new token attended to S keys
    formula = acc.decode_flops(acc.from_lm_config(model.config), S)
    assert counted["total"] == formula["total"]
    assert counted["lm_head"] == formula["head"] == 2 * d * V
    assert formula["attention"] == 4 * L * S * h * (head_dim or d // h)


def test_decode_flops_equal_the_last_row_of_a_full_forward():
    # a forward pass over S tokens costs S times the Linears of one token; the last query's
    # scores are the last row of the S x S score matrix (S of the S² entries).
    cfg = acc.swiglu_variant(acc.TransformerConfig(d_model=64, n_layers=3, n_heads=4,
                                                   vocab_size=300, context_length=64))
    S = 29
    full, one = acc.forward_flops(cfg, 1, S), acc.decode_flops(cfg, S)
    for k in ("q_proj", "k_proj", "v_proj", "o_proj", "mlp_up", "mlp_gate", "mlp_down", "lm_head"):
        assert full[k] == S * one[k], k
    assert full["qk"] == S * one["qk"] and full["av"] == S * one["av"]


@pytest.mark.parametrize("kv,head_dim", [(2, None), (1, None), (1, 12), (4, 6)])
def test_grouped_and_decoupled_heads_match_the_reference_model(kv, head_dim):
    cfg = acc.TransformerConfig(d_model=32, n_layers=2, n_heads=4, vocab_size=41,
                                context_length=16, mlp="swiglu", norm="rmsnorm", bias=False,
                                positions="rope", tied_embeddings=False, n_kv_heads=kv,
                                head_dim=head_dim)
    model = acc.build_reference(cfg)
    assert acc.param_counts(cfg)["total"] == acc.count_params(model)
    idx = torch.randint(0, 41, (2, 11))
    counted = acc.counted_flops(lambda: model(idx))
    formula = acc.forward_flops(cfg, 2, 11)
    for name in acc.MATMULS:
        assert counted[name] == formula[name], name
    assert counted["other"] == 0


def test_published_configs_parameter_counts():
    # Llama 3 8B: the released checkpoint holds 8,030,261,248 parameters (model card: 8.03B);
    # Gemma 2B: 524,550,144 embedding + 1,981,884,416 non-embedding (Gemma Team, 2024, table 2)
    assert acc.param_counts(acc.LLAMA3_8B)["total"] == 8_030_261_248
    g = acc.param_counts(acc.GEMMA_2B)
    assert g["token_embedding"] == 524_550_144 and g["non_embedding"] == 1_981_884_416
    assert acc.GEMMA_2B.d_kv == 256 and acc.LLAMA3_8B.d_kv == 1024


def test_decode_flops_hand_count_gpt2_small():
    f = acc.decode_flops(acc.GPT2_SMALL, 1024)
    L, d, V, S = 12, 768, 50257, 1024
    assert f["projections"] == 8 * L * d * d == 56_623_104
    assert f["mlp"] == 16 * L * d * d == 113_246_208
    assert f["attention"] == 4 * L * S * d == 37_748_736
    assert f["head"] == 2 * d * V == 77_194_752
    assert f["total"] == f["projections"] + f["mlp"] + f["attention"] + f["head"]


def test_crossovers_are_where_the_costs_are_equal():
    cfg = acc.GPT2_SMALL
    for S in (128, 2048, 8192):
        v_star = acc.crossover_vocab(cfg, S)
        assert v_star == 12 * cfg.n_layers * cfg.d_model + 2 * cfg.n_layers * S   # exact
        f = acc.decode_flops(cfg.replace(vocab_size=int(v_star)), S)
        assert f["head"] == f["blocks"]
    s_star = acc.crossover_context(cfg)
    assert s_star == pytest.approx(cfg.vocab_size / (2 * cfg.n_layers))
    f = acc.decode_flops(cfg, 2048)
    per_position = f["attention"] / 2048
    assert s_star * per_position == pytest.approx(f["head"])
    # bytes, multi-query: the cache term equals the head at S*
    g = acc.GEMMA_2B
    s_b = acc.crossover_context(g, "bytes", bytes_per_param=2)
    by = acc.decode_bytes(g, 1000, bytes_per_param=2)
    assert s_b * by["kv_cache"] / 1000 == pytest.approx(by["head"])
    v_b = acc.crossover_vocab(g, 4096, "bytes", bytes_per_param=2)
    by = acc.decode_bytes(g.replace(vocab_size=1), 4096, bytes_per_param=2)
    assert v_b * by["head"] == pytest.approx(by["blocks"])


def test_decode_bytes_hand_example_and_batch_amortisation():
    # d=4, L=1, h=2, V=10, no biases, RMSNorm: layer params 4·16 + 2·4·16 + 2·4 = 200
    cfg = acc.TransformerConfig(d_model=4, n_layers=1, n_heads=2, vocab_size=10,
                                context_length=8, d_ff=16, norm="rmsnorm", bias=False,
                                positions="rope", tied_embeddings=False)
    by = acc.decode_bytes(cfg, 5, bytes_per_param=2)
    assert by["blocks_weights"] == 200 * 2
    assert by["kv_cache"] == 2 * 1 * 5 * 4 * 2
    assert by["head"] == 10 * 4 * 2
    assert by["other"] == 4 * 2 + 4 * 2
    b4 = acc.decode_bytes(cfg, 5, batch=4, bytes_per_param=2)
    assert b4["blocks_weights"] == by["blocks_weights"] / 4 and b4["head"] == by["head"] / 4
    assert b4["kv_cache"] == by["kv_cache"]              # each sequence reads its own cache


def test_bytes_and_flops_agree_at_batch_one_with_multi_head_attention():
    cfg = acc.swiglu_variant(acc.GPT2_SMALL)            # no biases
    f, by = acc.decode_flops(cfg, 3000), acc.decode_bytes(cfg, 3000, bytes_per_param=4)
    norms = cfg.n_layers * 2 * cfg.d_model              # norm weights: read, no matmul FLOPs
    assert f["projections"] + f["mlp"] == 2 * (by["blocks_weights"] / 4 - norms)
    assert f["attention"] == 2 * by["kv_cache"] / 4
    assert f["head"] == 2 * by["head"] / 4


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="context"):
        acc.decode_flops(acc.GPT2_SMALL, 0)
    with pytest.raises(ValueError, match="metric"):
        acc.crossover_vocab(acc.GPT2_SMALL, 10, metric="time")
    with pytest.raises(ValueError, match="batch"):
        acc.decode_bytes(acc.GPT2_SMALL, 10, batch=0)
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        acc.TransformerConfig(d_model=32, n_layers=1, n_heads=4, vocab_size=10,
                              context_length=8, n_kv_heads=3)
    with pytest.raises(ValueError, match="n_kv_heads/head_dim"):
        acc.activation_bytes(acc.LLAMA3_8B, 1, 8)
