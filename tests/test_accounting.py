"""utils.accounting: every formula against an independent count on real (small) models.

References: ``sum(p.numel())`` for parameters, ``torch.utils.flop_counter.FlopCounterMode`` for
matmul FLOPs (2 FLOPs per multiply-add, the formulas' convention), ``saved_tensors_hooks`` for
the activations autograd keeps, ``torch.optim.AdamW``'s state and traced ops for the optimizer,
the released GPT-2 parameter counts, and hand-computed examples.
"""

import itertools
import math

import pytest
import torch

from utils import accounting as acc

STYLES = ("gpt2", "swiglu")


def make(style, L=2, d=32, h=4, V=50, ctx=32, bias=True, tied=True):
    base = acc.TransformerConfig(d_model=d, n_layers=L, n_heads=h, vocab_size=V,
                                 context_length=ctx, bias=bias, tied_embeddings=tied)
    return base if style == "gpt2" else acc.swiglu_variant(base, d_ff=acc.swiglu_d_ff(d, 16))


# ---------------------------------------------------------------- parameters

@pytest.mark.parametrize("mlp,norm,bias,positions,tied", list(itertools.product(
    acc.MLP_KINDS, acc.NORM_KINDS, (True, False), acc.POSITION_KINDS, (True, False))))
def test_param_counts_match_built_model(mlp, norm, bias, positions, tied):
    cfg = acc.TransformerConfig(d_model=24, n_layers=3, n_heads=3, vocab_size=41,
                                context_length=20, d_ff=40, mlp=mlp, norm=norm, bias=bias,
                                positions=positions, tied_embeddings=tied)
    model = acc.build_reference(cfg, device="meta")
    counts = acc.param_counts(cfg)
    assert counts["total"] == acc.count_params(model)
    emb = model.tok_emb.weight.numel() + (model.pos_emb.weight.numel() if model.pos_emb else 0)
    assert counts["non_embedding"] == acc.count_params(model) - emb


@pytest.mark.parametrize("cfg,expected", [
    (acc.GPT2_SMALL, 124_439_808), (acc.GPT2_MEDIUM, 354_823_168),
    (acc.GPT2_LARGE, 774_030_080), (acc.GPT2_XL, 1_557_611_200)])
def test_gpt2_released_parameter_counts(cfg, expected):
    # the counts of the released checkpoints (Hugging Face gpt2, gpt2-medium, -large, -xl)
    assert acc.param_counts(cfg)["total"] == expected


def test_param_counts_hand_example():
    # d=4, f=8, L=1, V=10, ctx=6, GPT-2 style: attn 4·16+16, mlp 2·32+8+4, norms 2·8,
    # tok 40, pos 24, final norm 8, tied head 0
    cfg = acc.TransformerConfig(d_model=4, n_layers=1, n_heads=2, vocab_size=10,
                                context_length=6, d_ff=8)
    assert acc.param_counts(cfg)["total"] == 80 + 76 + 16 + 40 + 24 + 8


def test_swiglu_d_ff():
    assert acc.swiglu_d_ff(768) == 2048          # 8/3·768 = 2048 exactly
    assert acc.swiglu_d_ff(1600) == 4288         # 4266.7 rounded up to a multiple of 64
    assert acc.swiglu_d_ff(100, multiple=1) == 267


# ---------------------------------------------------------------- FLOPs

@pytest.mark.parametrize("style,L,d,h,T,B", [
    ("gpt2", 1, 32, 2, 8, 1), ("gpt2", 2, 48, 4, 17, 3), ("swiglu", 2, 32, 4, 12, 2),
    ("swiglu", 3, 64, 8, 5, 1)])
def test_forward_flops_match_flopcounter_per_matmul(style, L, d, h, T, B):
    cfg = make(style, L, d, h)
    model = acc.build_reference(cfg)
    idx = torch.randint(0, cfg.vocab_size, (B, T))
    counted = acc.counted_flops(lambda: model(idx))
    formula = acc.forward_flops(cfg, B, T)
    for name in acc.MATMULS:
        assert counted[name] == formula[name], name
    assert counted["total"] == formula["total"] and counted["other"] == 0


@pytest.mark.parametrize("style", STYLES)
def test_training_flops_are_three_times_forward(style):
    cfg = make(style)
    model = acc.build_reference(cfg)
    idx = torch.randint(0, cfg.vocab_size, (2, 9))
    counted = acc.counted_flops(lambda: model.loss(idx, idx).backward())["total"]
    assert counted == acc.training_flops(cfg, 2, 9)["total"]


def test_forward_flops_hand_example_and_causal_skip():
    # d=4, f=16, L=1, V=10, T=3, B=1: projections 4·2·3·4·4 = 384, qk = av = 2·3·3·4 = 72,
    # mlp 2·(2·3·4·16) = 768, head 2·3·4·10 = 240
    cfg = acc.TransformerConfig(d_model=4, n_layers=1, n_heads=2, vocab_size=10,
                                context_length=8)
    f = acc.forward_flops(cfg, 1, 3)
    assert f["total"] == 384 + 72 + 72 + 768 + 240
    g = acc.forward_flops(cfg, 1, 3, causal_skip=True)
    assert g["qk"] == 2 * 6 * 4 and g["total"] == f["total"] - 2 * (72 - 48)


def test_sdpa_counts_on_meta_equal_the_formula():
    cfg = make("swiglu", L=2, d=32, h=4)
    model = acc.build_reference(cfg, attention="sdpa", device="meta")
    idx = torch.empty(2, 16, dtype=torch.long, device="meta")
    counted = acc.counted_flops(lambda: model(idx))
    formula = acc.forward_flops(cfg, 2, 16)
    assert counted["total"] == formula["total"]
    assert counted["other"] == formula["qk"] + formula["av"]   # SDPA is one op, not two


def test_flop_shares_sum_to_one_and_attention_grows_with_context():
    short = acc.flop_shares(acc.forward_flops(acc.GPT2_SMALL, 1, 128))
    long = acc.flop_shares(acc.forward_flops(acc.GPT2_SMALL.replace(context_length=8192), 1,
                                             8192))
    for s in (short, long):
        assert math.isclose(s["attention"] + s["mlp"] + s["lm_head"], 1.0)
    assert long["attention_scores"] > short["attention_scores"]


def test_adamw_flops_match_traced_optimizer_ops():
    cfg = make("gpt2")
    model = acc.build_reference(cfg)
    opt = torch.optim.AdamW(model.parameters(), foreach=False, weight_decay=0.1)
    idx = torch.randint(0, cfg.vocab_size, (2, 8))
    model.loss(idx, idx).backward()
    traced, trace = acc.count_elementwise_op_flops(opt.step)
    n = acc.count_params(model)
    assert traced == acc.adamw_flops(n) == 14 * n
    assert {name for name, _ in trace} >= {"lerp_", "addcmul_", "addcdiv_", "sqrt"}


def test_elementwise_flops_small_next_to_matmuls():
    e = acc.elementwise_flops(acc.GPT2_SMALL, 1, 1024)["total"]
    m = acc.forward_flops(acc.GPT2_SMALL, 1, 1024)["total"]
    assert 0 < e < 0.05 * m


# ---------------------------------------------------------------- memory

@pytest.mark.parametrize("style,attention,device,B,T", [
    ("gpt2", "naive", "cpu", 2, 12), ("gpt2", "sdpa", "cpu", 3, 7),
    ("swiglu", "naive", "cpu", 1, 16), ("swiglu", "sdpa", "cpu", 2, 9),
    ("gpt2", "naive", "meta", 4, 32), ("swiglu", "naive", "meta", 3, 20)])
def test_activation_bytes_match_saved_tensors(style, attention, device, B, T):
    cfg = make(style, L=2, d=32, h=4)
    model = acc.build_reference(cfg, attention=attention, device=device)
    idx = torch.randint(0, cfg.vocab_size, (B, T)).to(device)
    tgt = torch.randint(0, cfg.vocab_size, (B, T)).to(device)
    counted = acc.saved_tensor_bytes(lambda: model.loss(idx, tgt), model)
    assert counted == acc.activation_bytes(cfg, B, T, attention)["total"]


@pytest.mark.parametrize("style", STYLES)
def test_checkpointing_keeps_only_layer_inputs(style):
    cfg = make(style, L=3)
    model = acc.build_reference(cfg, checkpointing=True)
    idx, tgt = torch.randint(0, cfg.vocab_size, (2, 10)), torch.randint(0, cfg.vocab_size, (2, 10))
    counted = acc.saved_tensor_bytes(lambda: model.loss(idx, tgt), model)
    formula = acc.activation_bytes(cfg, 2, 10, checkpointing=True)
    assert counted == formula["total"]
    assert formula["layers"] == 3 * 2 * 10 * cfg.d_model * 4


def test_forward_without_grad_saves_nothing():
    cfg = make("gpt2")
    model = acc.build_reference(cfg)
    idx = torch.randint(0, cfg.vocab_size, (2, 8))
    with torch.no_grad():
        assert acc.saved_tensor_bytes(lambda: model(idx), model) == 0


def test_adamw_state_bytes_match_torch_state():
    cfg = make("swiglu", tied=False)
    model = acc.build_reference(cfg)
    opt = torch.optim.AdamW(model.parameters())
    idx = torch.randint(0, cfg.vocab_size, (2, 8))
    model.loss(idx, idx).backward()
    opt.step()
    state = sum(s["exp_avg"].nbytes + s["exp_avg_sq"].nbytes for s in opt.state.values())
    assert state == acc.adamw_state_bytes(cfg) == 2 * 4 * acc.count_params(model)


def test_training_memory_is_linear_in_batch_and_max_batch_is_tight():
    cfg = make("gpt2", L=3, d=64, h=4, V=100, ctx=64)
    budget = 50e6
    bmax, a, b = acc.max_batch_size(cfg, 64, budget)
    mem = lambda B: acc.training_memory_bytes(cfg, B, 64)["total"]  # noqa: E731
    assert mem(5) == a * 5 + b
    assert mem(bmax) <= budget < mem(bmax + 1)
    assert acc.max_batch_size(cfg, 64, b / 2)[0] == 0
    fixed = acc.training_memory_bytes(cfg, 1, 64)
    assert fixed["weights"] + fixed["gradients"] + fixed["adamw_state"] == \
        16 * acc.param_counts(cfg)["total"]


def test_training_time_hand_example():
    # 1e18 FLOPs on a 1e15 FLOP/s device at 50 % MFU: 2000 s
    assert acc.training_time_seconds(1e18, 1e15, 0.5) == pytest.approx(2000.0)


def test_operation_costs_matmul_intensity_by_hand():
    cfg = acc.TransformerConfig(d_model=8, n_layers=1, n_heads=2, vocab_size=10,
                                context_length=4)
    proj = next(o for o in acc.operation_costs(cfg, 1, 4) if o["op"] == "Q/K/V/O projection")
    # (4×8)·(8×8): 2·4·8·8 = 512 FLOPs; bytes 4·(32 + 64 + 32) = 512
    assert proj["flops"] == 512 and proj["bytes"] == 512 and proj["intensity"] == 1.0


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs,match", [
    ({"d_model": 30, "n_heads": 4}, "divisible"),
    ({"mlp": "relu"}, "mlp must be one of"),
    ({"norm": "batchnorm"}, "norm must be one of"),
    ({"positions": "alibi"}, "positions must be one of"),
    ({"n_layers": 0}, "positive int"),
    ({"d_ff": -1}, "d_ff must be a positive int"),
    ({"d_model": 12, "n_heads": 4, "positions": "rope"}, "even head dimension"),
])
def test_bad_config_raises_clear_error(kwargs, match):
    base = {"d_model": 32, "n_layers": 2, "n_heads": 4, "vocab_size": 10, "context_length": 8}
    with pytest.raises(ValueError, match=match):
        acc.TransformerConfig(**{**base, **kwargs})


def test_bad_arguments_raise_clear_errors():
    cfg = make("gpt2", ctx=16)
    with pytest.raises(ValueError, match="exceeds the learned position table"):
        acc.forward_flops(cfg, 1, 17)
    with pytest.raises(ValueError, match="batch must be a positive int"):
        acc.forward_flops(cfg, 0, 4)
    with pytest.raises(ValueError, match="attention must be one of"):
        acc.activation_bytes(cfg, 1, 4, attention="flash2")
    with pytest.raises(ValueError, match="mfu must be in"):
        acc.training_time_seconds(1e9, 1e12, 1.5)
    with pytest.raises(ValueError, match="attention must be one of"):
        acc.ReferenceAttention(cfg, attention="linear")
