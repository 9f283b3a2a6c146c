"""Modular-arithmetic data, the right-hand-side loss and the trainer (seed 001, problems 3-4)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.data.arithmetic import Tokenizer, get_arithmetic_dataset, make_equations
from utils.runs import RunStore
from utils.train import arithmetic as A
from utils.train.losses import get_loss_and_accuracy

torch.set_num_threads(1)


# ------------------------------------------------------------------------------ data


def test_sizes_vocabulary_and_eq_positions():
    (tr, va), tok, S, pad = get_arithmetic_dataset(31, 31, "+", 0.5, 2, seed=0)
    assert len(tr) + len(va) == 961 and (len(tr), len(va)) == (480, 481)   # round(480.5) = 480
    assert len(tok) == 36 and pad == 35 and tok.itos[pad] == "PAD" and S == 6
    assert set(tr.tensors[2].tolist()) == {3}
    assert bool((tr.tensors[3] == 1).all())                                  # no padding
    (tr, va), tok, S, pad = get_arithmetic_dataset(11, 11, "+", 0.5, [2, 3], seed=0)
    assert len(tr) + len(va) == 1452 and len(tok) == 16 and pad == 15 and S == 8
    assert set(tr.tensors[2].tolist()) == {3, 5}


def test_every_equation_is_correct_and_present():
    for op, f in (("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("*", lambda a, b: a * b)):
        eqs = make_equations(7, 7, op, 2)
        assert len(eqs) == 49
        seen = set()
        for e in eqs:
            a, o, b, eq, r = e.split()
            assert o == op and eq == "=" and int(r) == f(int(a), int(b)) % 7
            seen.add((int(a), int(b)))
        assert len(seen) == 49
    for e in make_equations(7, 7, "/", 2):                  # a / b = c  <=>  a = b c (mod 7)
        a, _, b, _, c = e.split()
        assert int(b) != 0 and int(a) == int(b) * int(c) % 7
    assert len(make_equations(7, 7, "/", 2)) == 42
    ternary = make_equations(5, 5, "-", 3)
    assert len(ternary) == 125
    for e in ternary:
        a, _, b, _, c, _, r = e.split()
        assert int(r) == (int(a) - int(b) - int(c)) % 5


def test_sequences_targets_and_rhs_layout():
    (tr, _), tok, _, _ = get_arithmetic_dataset(11, 11, "+", 0.5, [2, 3], seed=3)
    inputs, targets, eq_pos, mask = tr.tensors
    for i in range(20):
        full = tok.decode(torch.cat([inputs[i, :1], targets[i]])).split()
        assert full[0] == "BOS" and torch.equal(inputs[i, 1:], targets[i, :-1])
        assert full[eq_pos[i] + 1] == "="                     # '=' sits at target index eq_pos
        if eq_pos[i] == 3:                                    # binary: "... r EOS PAD PAD"
            assert full[5:] == [full[5], "EOS", "PAD", "PAD"]
            assert mask[i].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]     # 0 where the TARGET is PAD
            assert int(full[5]) == (int(full[1]) + int(full[3])) % 11
        else:
            assert full[-1] == "EOS" and bool((mask[i] == 1).all())


def test_per_order_split_and_determinism():
    def split(seed):
        (tr, va), _, _, _ = get_arithmetic_dataset(11, 11, "+", 0.5, [2, 3], seed=seed)
        return tr, va
    tr, va = split(0)
    assert torch.bincount(tr.tensors[2], minlength=6)[[3, 5]].tolist() == [60, 666]
    assert torch.bincount(va.tensors[2], minlength=6)[[3, 5]].tolist() == [61, 665]
    tr2, va2 = split(0)
    assert all(torch.equal(a, b) for a, b in zip(tr.tensors + va.tensors, tr2.tensors + va2.tensors))
    tr3, _ = split(1)
    assert not torch.equal(tr.tensors[0], tr3.tensors[0])
    # train and validation are disjoint and cover everything
    rows = lambda ds: {tuple(r) for r in ds.tensors[0].tolist()}  # noqa: E731
    assert not rows(tr) & rows(va) and len(rows(tr) | rows(va)) == 1452
    # r_train = 0.3 on one order: the first round(0.3 N) shuffled equations
    (tr, va), _, _, _ = get_arithmetic_dataset(31, 31, "*", 0.3, 3 - 1, seed=5)
    assert len(tr) == round(0.3 * 961)


def test_tokenizer_round_trip_and_errors():
    tok = Tokenizer(["0", "1", "+", "=", "BOS", "EOS", "PAD"])
    ids = tok.encode("BOS 1 + 0 = 1 EOS")
    assert ids.tolist() == [4, 1, 2, 0, 3, 1, 5] and tok.decode(ids) == "BOS 1 + 0 = 1 EOS"
    assert [t.tolist() for t in tok.encode(["0", "1 1"])] == [[0], [1, 1]]
    with pytest.raises(KeyError, match="unknown token '7'"):
        tok.encode("7")
    with pytest.raises(IndexError, match="outside the vocabulary"):
        tok.decode([9])


@pytest.mark.parametrize("kwargs, message", [
    (dict(operator="^"), "unknown operator '\\^'; allowed: \\+, -, \\*, /"),
    (dict(r_train=1.0), "r_train must be a fraction strictly between 0 and 1"),
    (dict(r_train=0.0), "strictly between 0 and 1"),
    (dict(operation_orders=4), "operation_orders must be 2 \\(binary\\), 3 \\(ternary\\) or \\[2, 3\\]"),
    (dict(operation_orders=[2, 2]), "operation_orders must be"),
    (dict(operator="/", p=12), "division mod q needs a prime q"),
])
def test_bad_data_arguments(kwargs, message):
    args = dict(p=11, operator="+", r_train=0.5, operation_orders=2) | kwargs
    with pytest.raises(ValueError, match=message):
        get_arithmetic_dataset(args["p"], args["p"], args["operator"], args["r_train"],
                               args["operation_orders"])


# ------------------------------------------------------------------------------ loss


def hand_example():
    """Two equations, V = 4: a binary one padded (eq at 1, PAD at 3) and a ternary-like one."""
    logits = torch.tensor([
        [[0., 0, 0, 0], [9, 0, 0, 0], [1., 2, 3, 4], [0, 0, 0, 5]],     # row 0: RHS = {2}
        [[0., 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [4., 1, 1, 1]],     # row 1: RHS = {2, 3}
    ])
    targets = torch.tensor([[1, 2, 3, 3], [0, 1, 2, 0]])
    eq_positions = torch.tensor([1, 1])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    return logits, targets, eq_positions, mask


def test_loss_hand_computed_with_padding():
    logits, targets, eq, mask = hand_example()
    # row 0: only position 2 counts: −log softmax([1,2,3,4])[3] = log(e+e²+e³+e⁴) − 4
    l0 = math.log(sum(math.exp(k) for k in (1, 2, 3, 4))) - 4
    # row 1: positions 2 (uniform over 4: log 4) and 3 (−log softmax([4,1,1,1])[0])
    l1 = (math.log(4) + (math.log(math.exp(4) + 3 * math.e) - 4)) / 2
    loss, acc = get_loss_and_accuracy(logits, targets, eq, mask, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([l0, l1]), rtol=0, atol=1e-6)
    # row 0: argmax at 2 is 3 = target -> correct (PAD position 3 ignored although wrong)
    # row 1: argmax at 2 is 0 (ties -> first) != 2 -> wrong, even though position 3 is right
    assert acc.tolist() == [1.0, 0.0]
    loss_m, acc_m = get_loss_and_accuracy(logits, targets, eq, mask)
    assert math.isclose(loss_m.item(), (l0 + l1) / 2, abs_tol=1e-6) and acc_m.item() == 0.5
    loss_s, acc_s = get_loss_and_accuracy(logits, targets, eq, mask, reduction="sum")
    assert math.isclose(loss_s.item(), l0 + l1, abs_tol=1e-6) and acc_s.item() == 1.0


def test_loss_is_per_sample_mean_not_token_mean_and_ignores_lhs():
    logits, targets, eq, mask = hand_example()
    loss, _ = get_loss_and_accuracy(logits, targets, eq, mask)
    token_mean = F.cross_entropy(logits.reshape(-1, 4), torch.where(
        (torch.arange(4) > eq[:, None]) & (mask == 1), targets, -100).reshape(-1))
    assert not math.isclose(loss.item(), token_mean.item(), abs_tol=1e-4)
    changed = logits.clone()
    changed[:, :2] = torch.randn(2, 2, 4) * 10          # left-hand side positions
    changed[0, 3] = torch.randn(4) * 10                 # the PAD position of row 0
    l2, a2 = get_loss_and_accuracy(changed, targets, eq, mask, reduction="none")
    l1, a1 = get_loss_and_accuracy(logits, targets, eq, mask, reduction="none")
    assert torch.equal(l1, l2) and torch.equal(a1, a2)


def test_loss_against_reference_on_mixed_orders_and_perfect_logits():
    g = torch.Generator().manual_seed(0)
    (tr, _), tok, S, _ = get_arithmetic_dataset(11, 11, "+", 0.5, [2, 3], seed=0)
    x, y, eq, mask = (t[:64] for t in tr.tensors)
    logits = torch.randn(64, S, len(tok), generator=g, dtype=torch.float64)
    loss, acc = get_loss_and_accuracy(logits, y, eq, mask, reduction="none")
    ref = []
    for i in range(64):
        js = [j for j in range(S) if j > eq[i] and mask[i, j]]
        ref.append(np.mean([-torch.log_softmax(logits[i, j], -1)[y[i, j]].item() for j in js]))
        assert len(js) == 2
    torch.testing.assert_close(loss, torch.tensor(ref, dtype=torch.float64), rtol=0, atol=1e-12)
    perfect = F.one_hot(y, len(tok)).double() * 50
    lp, ap = get_loss_and_accuracy(perfect, y, eq, mask)
    assert lp.item() < 1e-12 and ap.item() == 1.0
    wrong_eos = perfect.clone()
    rows = torch.arange(64)
    wrong_eos[rows, eq + 2] = torch.roll(wrong_eos[rows, eq + 2], 1, dims=-1)   # EOS wrong only
    assert get_loss_and_accuracy(wrong_eos, y, eq, mask)[1].item() == 0.0


def test_loss_bad_input():
    logits, targets, eq, mask = hand_example()
    with pytest.raises(ValueError, match="reduction must be one of mean, sum, none"):
        get_loss_and_accuracy(logits, targets, eq, mask, reduction="avg")
    with pytest.raises(ValueError, match="targets and mask must have shape"):
        get_loss_and_accuracy(logits, targets[:, :3], eq, mask)
    with pytest.raises(ValueError, match="no right-hand-side token"):
        get_loss_and_accuracy(logits, targets, torch.tensor([1, 3]), mask)


# ------------------------------------------------------------------------------ trainer


def tiny(**kw):
    base = dict(p=7, embedding_size=16, hidden_size=16, num_heads=2, num_layers=1, n_steps=12,
                eval_first=3, eval_period=4, seed=0)
    return A.make_config(**(base | kw))


@pytest.mark.parametrize("model", ["lstm", "gpt"])
def test_history_layout_and_schedule(model):
    h = A.train(tiny(model=model, track_param_norm=True, eval_steps=[6], keep_states=[4]))
    assert h["all_steps"] == [0, 1, 2, 3, 4, 6, 8, 12]
    for split in ("train", "test"):
        assert set(h[split]) == {"loss", "accuracy"}
        assert all(len(v) == 8 for v in h[split].values())
    assert len(h["extra"]["param_norm"]) == 8 and list(h["states"]) == [4]
    assert h["n_params"] - h["n_params_embedding"] == h["P"]


@pytest.mark.parametrize("model", ["lstm", "gpt"])
def test_free_train_metrics_equal_a_separate_evaluation(model):
    """The training forward pass of step t+1 gives the evaluation of θ_t on the training set."""
    seen = {}

    def probe(m):                      # a separate evaluation pass at every evaluation step
        tr, *_ = A.build_data(tiny(model=model))
        seen.setdefault("values", []).append(A.evaluate(m, tr, 4096))
        return 0.0
    h = A.train(tiny(model=model), metric_fns={"probe": probe})
    assert h["data"]["batch_size"] == h["data"]["n_train"]
    sep = seen["values"]
    assert len(sep) == len(h["all_steps"])
    for i in range(len(sep)):
        assert abs(sep[i]["loss"] - h["train"]["loss"][i]) <= 1e-6
        assert sep[i]["accuracy"] == h["train"]["accuracy"][i]


@pytest.mark.parametrize("model, batch", [("lstm", 512), ("gpt", 512), ("gpt", 8)])
def test_early_stop_is_a_prefix_of_the_full_run(model, batch):
    """stop_at_val_accuracy ends the run at the first evaluation reaching it; everything
    before is the uninterrupted run's history, and the stop's training metrics are recorded."""
    full = A.train(tiny(model=model, n_steps=40, eval_first=40, lr=1e-2, train_batch_size=batch))
    acc = full["test"]["accuracy"]
    threshold = min(a for a in acc if a > acc[0])    # reached after step 0
    first = next(i for i, a in enumerate(acc) if a >= threshold)
    assert 0 < first < len(acc) - 1
    h = A.train(tiny(model=model, n_steps=40, eval_first=40, lr=1e-2, train_batch_size=batch,
                     stop_at_val_accuracy=threshold))
    assert h["all_steps"] == full["all_steps"][:first + 1]
    assert h["n_steps"] == full["all_steps"][first]
    for split in ("train", "test"):
        for k in ("loss", "accuracy"):
            assert len(h[split][k]) == first + 1
            np.testing.assert_allclose(h[split][k], full[split][k][:first + 1], rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize("model, orders", [("gpt", 2), ("lstm", 2), ("gpt", [2, 3])])
def test_rhs_only_fast_path_matches_the_plain_computation(model, orders):
    """fast=True scores logits only from the first right-hand-side position on."""
    c = tiny(model=model, p=5, operation_orders=orders, n_steps=6, eval_first=6)
    fast, plain = A.train(c, fast=True), A.train(c, fast=False)
    assert fast["all_steps"] == plain["all_steps"]
    for split in ("train", "test"):
        assert fast[split].keys() == plain[split].keys()
        for k in fast[split]:
            np.testing.assert_allclose(fast[split][k], plain[split][k], rtol=0, atol=2e-5)


def test_epoch_rounding_and_shuffled_minibatches():
    c = tiny(model="lstm", train_batch_size=10, n_steps=7)          # N_train = 24: 3 batches/epoch
    h = A.train(c)
    assert h["n_steps"] == 9 and h["all_steps"][-1] == 9
    assert h["steps_epoch"][9] == 3


def test_per_order_metrics():
    h = A.train(tiny(p=5, operation_orders=[2, 3], model="gpt", n_steps=3))
    assert {"loss_order2", "loss_order3", "accuracy_order2", "accuracy_order3"} <= set(h["test"])
    # the overall mean is the size-weighted mean of the per-order means
    _, va, *_ = A.build_data(tiny(p=5, operation_orders=[2, 3]))
    n2, n3 = int((va[2] == 3).sum()), int((va[2] == 5).sum())
    mixed = (n2 * h["test"]["loss_order2"][-1] + n3 * h["test"]["loss_order3"][-1]) / (n2 + n3)
    assert abs(mixed - h["test"]["loss"][-1]) < 1e-5


class Killed(Exception):
    pass


@pytest.mark.parametrize("model, batch", [("gpt", 512), ("lstm", 10)])
def test_killed_run_resumes_to_identical_history(tmp_path, model, batch):
    config = tiny(model=model, n_steps=14, train_batch_size=batch, track_param_norm=True,
                  dropout=0.1 if model == "lstm" else 0.0, num_layers=2)
    ref = RunStore("ref", root=tmp_path / "ref").run(
        config, lambda c, ctx: A.train(c, ctx, checkpoint_every=4))

    def kill_at_10(step):
        if step == 10:
            raise Killed
    store = RunStore("killed", root=tmp_path / "killed")
    with pytest.raises(Killed):
        store.run(config, lambda c, ctx: A.train(c, ctx, checkpoint_every=4, callback=kill_at_10),
                  code=A.train)            # the wrappers differ, the code that trains does not
    resumed_ctx = {}

    def resume(c, ctx):
        resumed_ctx["ctx"] = ctx
        resumed_ctx["cpu_before"] = ctx.load_checkpoint()["cpu_s"]
        return A.train(c, ctx, checkpoint_every=4)
    out = store.run(config, resume, code=A.train)
    assert resumed_ctx["ctx"].resumed                             # it did start from step 8
    # CPU time accumulates over the interruption: the checkpoint's part plus the resumed part
    assert 0 < resumed_ctx["cpu_before"] < out["cpu_s"]
    for key in ("train", "test", "extra", "all_steps", "steps_epoch"):
        assert out[key] == ref[key], key                          # bitwise equal floats
    for k in ref["final_state"]:
        assert torch.equal(out["final_state"][k], ref["final_state"][k])


def test_extrema_and_summary_on_a_hand_history():
    h = {"all_steps": [0, 1, 2, 100, 200],
         "train": {"loss": [3.0, 1.0, 0.5, 0.5, 0.7], "accuracy": [0.0, 0.5, 1.0, 1.0, 1.0]},
         "test": {"loss": [3.0, 2.0, 2.5, 0.1, 0.2], "accuracy": [0.0, 0.1, 0.2, 0.9, 0.95]}}
    e = A.get_extrema_performance_steps(h)
    assert (e["min_train_loss"], e["min_train_loss_step"]) == (0.5, 2)       # first time
    assert (e["max_test_accuracy"], e["max_test_accuracy_step"]) == (0.95, 200)
    e = A.get_extrema_performance_steps(h, T_max=150)
    assert e["T_max_index"] == 4 and e["max_test_accuracy"] == 0.9
    row = A.summary_row(h)
    assert row["dt_A"] == 200 - 2 and row["dt_L"] == 100 - 2
    h2 = {"all_steps": h["all_steps"], "train": h["train"],
          "test": {"loss": h["test"]["loss"], "accuracy": [0.0, 0.1, 0.2, 1.0, 1.0]}}
    per = A.get_extrema_performance_steps_per_trials([h, h2])
    assert per["max_test_accuracy"] == pytest.approx(0.975)
    assert per["max_test_accuracy_std"] == pytest.approx(np.std([0.95, 1.0], ddof=1))
    assert per["max_test_accuracy_step"] == pytest.approx(150.0)
    starter_layout = {"all_steps": [h["all_steps"], h2["all_steps"]],
                      "train": {k: [h["train"][k], h2["train"][k]] for k in h["train"]},
                      "test": {k: [h["test"][k], h2["test"][k]] for k in h["test"]}}
    per0 = A.get_extrema_performance_steps_per_trials(starter_layout, ddof=0)
    assert per0["max_test_accuracy_std"] == pytest.approx(0.025)
    with pytest.raises(ValueError, match="keeps no evaluation step"):
        A.get_extrema_performance_steps(h, T_max=-1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="rnn"), "model must be one of lstm, gpt"),
    (dict(model="gpt", embedding_size=30, num_heads=4), "must be divisible by num_heads=4"),
    (dict(operator="%"), "unknown operator"),
    (dict(r_train=1.5), "strictly between 0 and 1"),
    (dict(operation_orders=[3, 4]), "operation_orders must be"),
    (dict(operator="/", p=9), "needs a prime q"),
    (dict(n_step=5), "unknown config field"),
    (dict(optimizer="lion"), "optimizer must be one of"),
    (dict(stop_at_val_accuracy=1.5), "stop_at_val_accuracy must be in"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        A.make_config(**kwargs)


def test_run_many_parallel_matches_sequential(tmp_path):
    configs = [tiny(model="lstm", seed=s, n_steps=4) for s in (0, 1)]
    seq = A.run_many(RunStore("seq", root=tmp_path / "a"), configs, workers=1)
    store = RunStore("par", root=tmp_path / "b")
    par = A.run_many(store, configs, workers=2)
    assert store.computed == 2 and store.hits == 0
    for a, b in zip(seq, par):
        assert a["all_steps"] == b["all_steps"]
        np.testing.assert_allclose(a["test"]["loss"], b["test"]["loss"], rtol=0, atol=1e-5)
    again = A.run_many(store, configs, workers=2)
    assert store.hits == 2 and again[1]["test"] == par[1]["test"]
