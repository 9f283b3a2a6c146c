"""Batched sweeps (utils/train/batched.py) against the issue-3 trainer run by run.

The reference is :func:`utils.train.arithmetic.train`: a run trained inside a batch must give
the same metrics history (losses, accuracies, per-order metrics, parameter norms, evaluation
steps) and the same final weights as the same config trained alone.

Tolerances. Both paths perform the same floating-point operations but add them up in a
different order (a batched matrix product blocks its reductions differently from R single
ones; vmapped sums likewise), so they agree up to rounding, not bitwise. In **float64** one
operation's relative rounding is ~1e-16; after 10 training steps the two paths were measured
≤ 3e-13 apart in the parameters and ≤ 1e-15 in the losses, so ``1e-9`` leaves a margin of
three orders of magnitude and still catches any real difference (a wrong learning rate, decay,
clipping or batch moves the numbers by ≥ 1e-4 within a step). Accuracies are compared exactly
there (an argmax cannot flip for a 1e-13 change unless two logits tie). In **float32** (what
the notebooks use) rounding is ~6e-8 per operation and grows over steps, and the trainer's
default GPT uses the hand-written LayerNorm backward (the batched path the readable one):
losses are compared to 1e-4 and accuracies to within two equations.
"""

import numpy as np
import pytest
import torch

from utils.runs import RunContext, RunStore
from utils.train.arithmetic import make_config, train
from utils.train.batched import (adamw_step, batchable, clip_grad_norms, group_key, run_batched,
                                 split_evenly, train_group)

TINY = dict(embedding_size=16, hidden_size=16, num_heads=2, eval_first=4, eval_period=3,
            track_param_norm=True)


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def group(model, r_train, n_steps=6, **extra):
    """Three runs of one shape that differ in seed, lr, weight decay and clipping."""
    per_run = [dict(seed=0, lr=1e-3, weight_decay=1.0, max_grad_norm=1.0),
               dict(seed=7, lr=3e-3, weight_decay=0.25, max_grad_norm=0.05),
               dict(seed=42, lr=2e-3, weight_decay=0.0, max_grad_norm=0.0)]
    return [make_config(model=model, r_train=r_train, n_steps=n_steps, **TINY, **extra, **p)
            for p in per_run]


def assert_same_history(solo, batched, loss_tol, acc_tol):
    assert solo["all_steps"] == batched["all_steps"]
    assert solo["n_steps"] == batched["n_steps"]
    for split in ("train", "test"):
        assert set(solo[split]) == set(batched[split])
        for key in solo[split]:
            a, b = np.array(solo[split][key]), np.array(batched[split][key])
            tol = acc_tol if key.startswith("accuracy") else loss_tol
            assert np.max(np.abs(a - b)) <= tol, (split, key, np.max(np.abs(a - b)))
    a, b = np.array(solo["extra"]["param_norm"]), np.array(batched["extra"]["param_norm"])
    assert np.max(np.abs(a - b) / a) <= loss_tol
    assert set(solo["final_state"]) == set(batched["final_state"])


@pytest.mark.parametrize("model,r_train", [("gpt", 0.5), ("gpt", 0.9), ("lstm", 0.5),
                                           ("lstm", 0.9)])
def test_batched_equals_solo_float64(float64, model, r_train):
    # r_train 0.5: one batch per epoch (training metrics taken from the step's forward pass);
    # 0.9: two shuffled batches per epoch and a separate pass over the training set.
    configs = group(model, r_train)
    batched = train_group(configs)
    for c, b in zip(configs, batched):
        solo = train(c, fast=model == "lstm")       # the GPT's readable path, as batched
        assert_same_history(solo, b, loss_tol=1e-9, acc_tol=0.0)
        for k, v in solo["final_state"].items():
            assert torch.allclose(v, b["final_state"][k], rtol=0, atol=1e-9), k


def test_batched_equals_default_trainer_float32():
    configs = group("gpt", 0.5, n_steps=6)
    for c, b in zip(configs, train_group(configs)):
        solo = train(c)                                # fast path, float32: the notebooks'
        n = min(b["data"]["n_train"], b["data"]["n_valid"])
        assert_same_history(solo, b, loss_tol=1e-4, acc_tol=2.0 / n)


def test_per_order_metrics_and_tied_weights(float64):
    configs = [make_config(model="lstm", p=5, operation_orders=[2, 3], n_steps=5, seed=s,
                           share_embeddings=True, **TINY) for s in (0, 1)]
    for c, b in zip(configs, train_group(configs)):
        solo = train(c)
        assert "accuracy_order3" in b["test"]
        assert_same_history(solo, b, loss_tol=1e-9, acc_tol=0.0)
        assert torch.equal(b["final_state"]["classifier.weight"],
                           b["final_state"]["embedding.weight"])


def test_resume_gives_the_uninterrupted_history(tmp_path):
    store = RunStore("batched_resume", root=tmp_path)
    configs = group("lstm", 0.9, n_steps=12)
    reference = train_group(configs)

    ctx = RunContext(store, {"batched": "test"}, "batch-test")
    ctx.dir.mkdir(parents=True)

    class Killed(Exception):
        pass

    def kill_at(step):
        if step == 7:
            raise Killed

    with pytest.raises(Killed):
        train_group(configs, ctx, checkpoint_every=4, callback=kill_at)
    assert (ctx.dir / "checkpoint.pt").exists()
    ctx = RunContext(store, {"batched": "test"}, "batch-test")
    resumed = train_group(configs, ctx, checkpoint_every=4)
    assert ctx.resumed
    for a, b in zip(reference, resumed):
        for key in ("all_steps", "train", "test", "extra", "steps_epoch"):
            assert a[key] == b[key], key                      # bitwise on CPU
        for k in a["final_state"]:
            assert torch.equal(a["final_state"][k], b["final_state"][k])


def test_run_batched_stores_each_run_under_its_config(tmp_path):
    store = RunStore("batched_store", root=tmp_path)
    configs = group("gpt", 0.5, n_steps=3)[:2] + [make_config(model="gpt", dropout=0.1, seed=3,
                                                               n_steps=3, **TINY)]
    results = run_batched(store, configs, progress=False)
    assert [r["config"] for r in results] == configs
    assert store.computed == 3
    assert results[0].get("batched", {}).get("runs") == 2       # the two batchable ones
    assert "batched" not in results[2]                          # dropout: trained alone
    for c, r in zip(configs, results):
        assert store.load(c)["all_steps"] == r["all_steps"]
    again = run_batched(RunStore("batched_store", root=tmp_path), configs, progress=False)
    assert [a["test"]["loss"] for a in again] == [r["test"]["loss"] for r in results]
    assert not list(tmp_path.glob("batch-*"))                   # checkpoints cleaned up


def test_adamw_step_matches_torch():
    torch.manual_seed(0)
    lr, wd = [1e-3, 3e-2, 5e-3], [1.0, 0.0, 0.3]
    p0 = torch.randn(3, 4, 5)
    params = {"w": p0.clone()}
    m, v = {"w": torch.zeros_like(p0)}, {"w": torch.zeros_like(p0)}
    refs = [torch.nn.Parameter(p0[r].clone()) for r in range(3)]
    opts = [torch.optim.AdamW([refs[r]], lr=lr[r], weight_decay=wd[r]) for r in range(3)]
    for step in range(1, 6):
        g = torch.randn(3, 4, 5)
        adamw_step(params, {"w": g}, m, v, step, lr, wd)
        for r in range(3):
            refs[r].grad = g[r].clone()
            opts[r].step()
            torch.testing.assert_close(params["w"][r], refs[r].detach(), rtol=0, atol=1e-6)


def test_clip_grad_norms_matches_torch_per_run():
    torch.manual_seed(1)
    grads = {"a": torch.randn(3, 4, 5) * 3, "b": torch.randn(3, 7)}
    max_norm = torch.tensor([1.0, 100.0, 0.0])           # clip, no effect, disabled
    expected = []
    for r in range(3):
        ps = [torch.nn.Parameter(torch.zeros(4, 5)), torch.nn.Parameter(torch.zeros(7))]
        ps[0].grad, ps[1].grad = grads["a"][r].clone(), grads["b"][r].clone()
        if max_norm[r] > 0:
            torch.nn.utils.clip_grad_norm_(ps, float(max_norm[r]))
        expected.append([p.grad for p in ps])
    clip_grad_norms(grads, max_norm)
    for r in range(3):
        torch.testing.assert_close(grads["a"][r], expected[r][0], rtol=0, atol=1e-6)
        torch.testing.assert_close(grads["b"][r], expected[r][1], rtol=0, atol=1e-6)


def test_bad_groups_are_refused():
    a = make_config(model="gpt", seed=0, **TINY)
    b = make_config(model="gpt", seed=1, **{**TINY, "embedding_size": 32})
    assert group_key(a) != group_key(b)
    with pytest.raises(ValueError, match="may differ only in"):
        train_group([a, b])
    with pytest.raises(ValueError, match="AdamW without dropout"):
        train_group([make_config(model="lstm", dropout=0.2, **TINY)])
    assert not batchable(make_config(optimizer="sgd"))
    with pytest.raises(ValueError, match="at least one"):
        train_group([])


def test_split_evenly():
    assert split_evenly(list(range(5)), 2) == [[0, 1, 2], [3, 4]]
    assert split_evenly([1], 4) == [[1]]
    assert sum(split_evenly(list(range(17)), 3), []) == list(range(17))
