"""utils.train.lm_study: the verdict code of notebooks 06 and 07 on constructed arms, the
experiment log, the memory expression against the accounting code, and the worker pool."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from utils import accounting as acc
from utils.train.lm_study import (_ACT_MONOMIALS, _PARAM_MONOMIALS, _mono_value,
                                  ablation_verdicts, arm_verdict, batch_verdicts,
                                  config_changes, experiment_log, lr_bracket,
                                  memory_expression, show_experiment_log)

SPREAD = [0.0, 0.01, -0.01]                   # the same seed-to-seed spread in every arm
NO_DIFF = "no measurable difference"


def arms(by: str, centres: dict, diverged: dict | None = None) -> pd.DataFrame:
    rows = []
    for name, c in centres.items():
        for s, e in enumerate(SPREAD):
            div = bool(diverged and diverged.get(name) and s == 0)
            rows.append({by: name, "seed": s, "diverged": div,
                         "final_val_loss": math.nan if div else c + e})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# notebook 06: learning rate, batch size, ablations


def test_lr_bracket_on_equal_arms_calls_nothing():
    df = arms("lr", {1e-3: 4.0, 3e-3: 4.0, 1e-2: 4.0})
    df.loc[df.lr == 3e-3, "final_val_loss"] -= 1e-4    # a best rate by a hair, inside the noise
    b = lr_bracket(df)
    assert b["best"] == 3e-3 and not b["bracketed"]
    assert NO_DIFF in b["lower_verdict"] and NO_DIFF in b["upper_verdict"]
    assert not b["lower_worse"] and not b["upper_worse"]


def test_lr_bracket_with_worse_neighbours_and_a_divergent_one():
    b = lr_bracket(arms("lr", {1e-3: 4.3, 3e-3: 4.0, 1e-2: 4.2}))
    assert b["best"] == 3e-3 and b["bracketed"]
    assert "lr 0.003 has the lower" in b["lower_verdict"]
    b = lr_bracket(arms("lr", {1e-3: 4.3, 3e-3: 4.0, 1e-2: 3.9}, diverged={1e-2: True}))
    assert b["best"] == 3e-3 and b["upper"] == 1e-2 and b["upper_worse"]   # diverged = worse
    assert "diverged (1 of 3 runs)" in b["upper_verdict"]


def test_lr_bracket_at_the_edge_says_so():
    b = lr_bracket(arms("lr", {1e-3: 4.0, 3e-3: 4.2}))
    assert b["best"] == 1e-3 and b["lower"] is None and not b["bracketed"]
    assert "edge" in b["lower_verdict"] and b["plateau"] == [1e-3]


def test_lr_bracket_walks_over_a_plateau_to_the_worse_rates():
    # 1e-2 and 3e-2 cannot be told apart; 3e-3 and 1e-1 are worse: bracketed around the plateau
    b = lr_bracket(arms("lr", {3e-3: 4.2, 1e-2: 3.801, 3e-2: 3.8, 1e-1: 4.1}))
    assert b["best"] == 3e-2 and b["plateau"] == [1e-2, 3e-2] and b["bracketed"]
    assert b["lower"] == 3e-3 and b["upper"] == 1e-1
    assert NO_DIFF in b["lower_verdict"] and "for lr 0.003" in b["lower_verdict"]
    # a single-seed rate beyond the plateau stops the walk without a verdict: more seeds needed
    df = arms("lr", {3e-3: 4.2, 1e-2: 3.801, 3e-2: 3.8})
    df = df[(df.lr != 3e-3) | (df.seed == 0)]
    b = lr_bracket(df)
    assert b["lower"] == 3e-3 and not b["lower_worse"] and "one seed" in b["lower_verdict"]


def test_lr_bracket_refuses_when_everything_diverged():
    df = arms("lr", {1.0: 9.0})
    df["diverged"] = True
    with pytest.raises(ValueError, match="every learning rate diverged"):
        lr_bracket(df)


def test_ablation_verdicts_equal_arms_and_clear_gaps():
    base = "baseline"
    eq = ablation_verdicts(arms("variant", {base: 4.0, "NoPE": 4.0, "post-norm": 4.0}), base,
                           ["NoPE", "post-norm"])
    for v in eq.values():
        assert NO_DIFF in v["text"] and not v["worse"] and not v["better"]
    gap = ablation_verdicts(arms("variant", {base: 4.0, "NoPE": 4.3, "SiLU": 3.8}), base,
                            ["NoPE", "SiLU"])
    assert gap["NoPE"]["worse"] and gap["NoPE"]["verdict"].winner == base
    assert gap["SiLU"]["better"] and gap["SiLU"]["verdict"].winner == "SiLU"


def test_ablation_with_a_diverged_seed_counts_as_worse_and_says_so():
    df = arms("variant", {"baseline": 4.0, "no norm": 4.0}, diverged={"no norm": True})
    v = ablation_verdicts(df, "baseline", ["no norm"])["no norm"]
    assert v["worse"] and v["diverged"] == 1
    assert v["text"].startswith("1 of 3 seeds diverged;") and NO_DIFF in v["text"]


def test_batch_verdicts_equal_and_separated():
    eq = batch_verdicts(arms("batch", {8: 4.0, 32: 4.0, 128: 4.0}))
    assert eq["separated"] == [] and all(NO_DIFF in v.text for v in eq["others"].values())
    sep = batch_verdicts(arms("batch", {8: 4.0, 32: 4.02, 128: 4.5}))
    assert sep["best"] == 8 and sep["separated"] == [128]


# --------------------------------------------------------------------------------------------
# notebook 07: positions, decoding, batch size (frames in the notebook's shape)


def test_notebook_07_comparisons_on_equal_arms():
    pos = arms("positions", {"rope": 1.9, "learned": 1.9})
    v = arm_verdict(pos, "positions", "rope", "learned", names=("RoPE", "learned positions"))
    assert v.winner is None and NO_DIFF in v.text
    gen = pd.DataFrame({"decoding": ["greedy"] * 3 + ["top-p 0.6"] * 3,
                        "distinct_4grams": [0.5, 0.6, 0.7] * 2})
    v = arm_verdict(gen, "decoding", "greedy", "top-p 0.6", "distinct_4grams", better="higher")
    assert v.winner is None and NO_DIFF in v.text
    bs = arms("batch", {8: 2.0, 128: 2.0})
    assert arm_verdict(bs, "batch", 8, 128).winner is None


def test_arm_verdict_drops_diverged_runs_and_needs_values():
    df = arms("positions", {"rope": 1.5, "learned": 2.5})
    assert arm_verdict(df, "positions", "rope", "learned").winner == "rope"
    df.loc[df.positions == "learned", "final_val_loss"] = math.nan
    v = arm_verdict(df, "positions", "rope", "learned")
    assert v.winner is None and "no finite value" in v.text
    with pytest.raises(KeyError, match="columns"):
        arm_verdict(df, "nope", "a", "b")


# --------------------------------------------------------------------------------------------
# experiment log


def test_config_changes_and_experiment_log():
    base = {"model": {"d_model": 64, "positions": "rope"}, "lr_max": 0.003, "seed": 0,
            "train_data": "a/train.bin"}
    nope = {**base, "model": {"d_model": 64, "positions": "none"}, "seed": 1,
            "train_data": "b/train.bin"}
    assert config_changes(nope, base) == ("model.positions none (base rope); "
                                          "train_data b/train.bin (base a/train.bin)")
    assert config_changes({**base, "seed": 2}, base) == "base config"
    res_ok = {"final_val_loss": 4.0, "best_val_loss": 3.9, "iterations": 100, "wall_s": 10.0,
              "cpu_s": 9.0, "diverged": False}
    res_div = {**res_ok, "final_val_loss": math.nan, "diverged": True}
    log = experiment_log([("ablation", nope, res_ok), ("lr", {**base, "lr_max": 1.0}, res_div),
                          ("again", nope, res_ok)], base)
    assert list(log["changed from base"]) == ["model.positions none (base rope)",
                                              "lr_max 1.0 (base 0.003)"]   # paths ignored
    assert list(log.status) == ["done", "diverged"] and len(log) == 2     # duplicate dropped
    assert log["CPU s"].sum() == 18.0 and list(log.device) == ["cpu", "cpu"]
    text, table = show_experiment_log(log, 2, "log")
    assert "0.3 CPU-minutes" in text and "0.1 min of wall time" in text and "GPU" not in text
    assert "device" not in table.to_html()
    gpu = {**res_ok, "config": {"device": "cuda"}, "wall_s": 120.0, "cpu_s": 118.0}
    log = experiment_log([("ablation", nope, res_ok), ("lr", base, gpu)], base)
    text, table = show_experiment_log(log, 1, "log")
    assert "0.1 CPU-minutes" in text and "1 of them trained on a GPU: 2.0 min" in text
    assert "cuda" in table.to_html()


# --------------------------------------------------------------------------------------------
# adamwAccounting (a)


@pytest.mark.parametrize("attention", ["naive", "sdpa"])
def test_memory_expression_reproduces_the_accounting_code(attention):
    kind = acc.swiglu_variant(acc.GPT2_XL)
    e = memory_expression(kind, attention)
    # at the real XL size (not one of the fitted points) the polynomial equals the code's bytes
    pt = {"B": 3, "T": 1024, "L": 48, "d": 1600, "f": 6400, "h": 25, "V": 50257}
    act = sum(c * _mono_value(m, pt) for c, m in zip(e["act_coef"], _ACT_MONOMIALS))
    par = sum(c * _mono_value(m, pt) for c, m in zip(e["param_coef"], _PARAM_MONOMIALS))
    assert act == acc.activation_bytes(kind, 3, 1024, attention)["total"]
    assert par == acc.param_counts(kind)["total"]
    # hand-derived terms: 4-byte softmax (B·h·T² per layer) only without a fused kernel, the
    # 4-byte log-softmax of the loss (B·T·V), and P = untied embeddings + SwiGLU + attention
    assert ("4·L·B·h·T^2" in e["total"]) == (attention == "naive")
    assert "4·B·T·V" in e["total"] and e["total"].startswith("16·P + ")
    assert e["params"].startswith("4·L·d^2 + 3·L·d·d_ff + 2·d·V")


# --------------------------------------------------------------------------------------------
# the worker pool


def tiny_lm_configs(tmp_path, vocab: int, steps: int) -> list[dict]:
    """Two ``train_lm`` configs (seeds 0 and 1) of a one-layer model on a token stream of
    ``vocab`` ids written under ``tmp_path``, evaluated three times."""
    tokens = (np.arange(60 * vocab) * 7 % vocab).astype(np.uint16)
    tokens.tofile(tmp_path / "t.bin")
    base = {"model": {"vocab_size": vocab, "context_length": 8, "d_model": 16, "num_layers": 1,
                      "num_heads": 2}, "train_data": str(tmp_path / "t.bin"),
            "val_data": str(tmp_path / "t.bin"), "batch_size": 4, "max_iters": steps,
            "eval_interval": steps // 2, "eval_iters": 1, "checkpoint_interval": 0,
            "keep_model": False}
    return [{**base, "seed": s} for s in (0, 1)]


def test_run_lm_many_in_workers_equals_the_serial_run(tmp_path):
    from utils.runs import RunStore
    from utils.train.lm import train_lm
    from utils.train.lm_study import run_lm_many

    configs = tiny_lm_configs(tmp_path, vocab=50, steps=6)
    pooled = run_lm_many(RunStore("pool", root=tmp_path / "a"), configs, workers=2)
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = [train_lm(c, progress_bar=False) for c in configs]
    finally:
        torch.set_num_threads(before)
    for p, s in zip(pooled, serial):
        assert p["history"]["loss"] == pytest.approx(s["history"]["loss"], rel=1e-6)
        assert len(p["history"]["val_wall_s"]) == len(p["history"]["val_loss"]) == 3
        assert np.all(np.diff(p["history"]["val_wall_s"]) > 0) and p["cpu_s"] > 0
    assert pooled[0]["history"]["loss"] != pooled[1]["history"]["loss"]   # seeds differ
    with pytest.raises(ValueError, match="workers must be >= 1"):
        run_lm_many(RunStore("pool", root=tmp_path / "b"), configs, workers=0)


def test_run_lm_many_keeps_keys_and_fingerprint_of_plain_train_lm(tmp_path):
    """Runs stored by ``store.sweep(configs, train_lm)`` (how notebooks 06/07 stored them before
    the device option) are reused by ``run_lm_many`` on every path: the device stays out of the
    key and the fingerprint is ``train_lm``'s. A run trained by ``run_lm_many`` records where it
    trained; a bad device is a clear error."""
    import torch

    from utils.runs import RunStore
    from utils.train.lm import train_lm
    from utils.train.lm_study import check_device, run_lm_many

    configs = tiny_lm_configs(tmp_path, vocab=30, steps=4)
    store = RunStore("keys", root=tmp_path / "a")
    old = store.sweep(configs, train_lm, backend="local", fn_kwargs={"progress_bar": False})
    for workers in (1, 2):
        again = RunStore("keys", root=tmp_path / "a")
        got = run_lm_many(again, configs, workers=workers)
        assert again.hits == 2 and again.computed == 0
        assert [g["history"]["loss"] for g in got] == [o["history"]["loss"] for o in old]
    fresh = run_lm_many(RunStore("keys", root=tmp_path / "b"), configs[:1], workers=1,
                        device="cpu")
    assert fresh[0]["config"]["device"] == "cpu"
    assert fresh[0]["history"]["loss"] == pytest.approx(old[0]["history"]["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'.*got 'tpu'"):
        check_device("tpu")
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'.*got 'mps'"):
        run_lm_many(RunStore("keys", root=tmp_path / "c"), configs, device="mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no GPU"):
            check_device("cuda")


def test_repeated_measurements_are_counted_in_their_own_unit():
    from utils.train.lm_study import compare_samples

    v = compare_samples([1.0, 1.1, 0.9], [1.0, 1.1, 0.9], ("flash", "from scratch"),
                        what="time, ms")
    assert v.winner is None and NO_DIFF in v.text and "3 timing samples each" in v.text
    assert "seeds" not in v.text
    v = compare_samples([1.0, 1.1, 0.9], [5.0, 5.1, 4.9], ("flash", "from scratch"),
                        what="time, ms")
    assert v.winner == "flash" and "timing samples" in v.text
    one = compare_samples([1.0], [2.0], ("a", "b"), what="time, ms")
    assert one.winner is None and "seed" not in one.text


def test_measure_train_step_counts_the_accounting_flops():
    """The measured step's FLOPs are utils.accounting's for the same shapes (an independent
    count: torch's FlopCounterMode on the same forward + backward), and the rates follow."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from utils.nn.transformer_lm import TransformerConfig, TransformerLM
    from utils.train.lm import cross_entropy
    from utils.train.lm_study import accounting_config, measure_train_step

    for ffn in ("swiglu", "gelu"):
        cfg = TransformerConfig(vocab_size=64, context_length=16, d_model=32, num_layers=2,
                                num_heads=2, ffn=ffn)
        out = measure_train_step(cfg, batch=2, repeats=1)
        m = TransformerLM(cfg)
        x = torch.randint(0, 64, (2, 16))
        with FlopCounterMode(display=False) as fc:
            cross_entropy(m(x), x).backward()
        # torch counts every matmul (attention scores included); ours must agree to 1 %
        assert out["flops"] == pytest.approx(fc.get_total_flops(), rel=0.01), ffn
        assert out["params"] == m.num_parameters()
        assert out["tokens_per_s"] == pytest.approx(2 * 16 / out["cpu_s"])
        assert out["flops_per_s"] == pytest.approx(out["flops"] / out["cpu_s"])
        assert accounting_config(cfg).d_ff == cfg.hidden_dim
