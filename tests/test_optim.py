"""Optimizer and training loop (utils/train/optim.py, utils/train/lm.py): AdamW, schedule and
clipping against torch and formulas; cross-entropy, batches, checkpoints, resume."""

import io
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.nn.transformer_lm import TransformerConfig, TransformerLM
from utils.runs import RunStore
from utils.train.lm import (TrainConfig, TrainingInterrupted, cross_entropy, get_batch,
                            load_checkpoint, load_tokens, main, param_groups, save_checkpoint,
                            train_lm)
from utils.train.optim import AdamW, clip_grad_norm, cosine_schedule

D64 = torch.float64


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(7, 5, generator=g, dtype=D64, requires_grad=True),
            torch.randn(5, generator=g, dtype=D64, requires_grad=True)]


def _loss(ps, step):
    w, b = ps
    x = torch.linspace(-1, 1, 35, dtype=D64).view(7, 5) * (1 + 0.1 * math.sin(step))
    return ((w * x).sum(0) + b - 0.5).pow(2).sum() + w.pow(4).sum() * 0.01


def test_adamw_matches_torch_over_many_steps():
    ours, ref = _params(0), _params(0)
    kw = dict(betas=(0.9, 0.95), eps=1e-8)
    opt = AdamW([{"params": [ours[0]], "weight_decay": 0.1}, {"params": [ours[1]],
                                                               "weight_decay": 0.0}], lr=1e-2, **kw)
    topt = torch.optim.AdamW([{"params": [ref[0]], "weight_decay": 0.1},
                              {"params": [ref[1]], "weight_decay": 0.0}], lr=1e-2, **kw)
    for step in range(300):
        lr = cosine_schedule(step, 1e-2, 1e-3, 20, 250)
        for o in (opt, topt):
            for g in o.param_groups:
                g["lr"] = lr
        for ps, o in ((ours, opt), (ref, topt)):
            o.zero_grad()
            _loss(ps, step).backward()
            o.step()
    for a, b in zip(ours, ref):
        assert (a - b).abs().max().item() <= 1e-6
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)     # in fact identical to rounding
    assert opt.state[ours[0]]["step"] == 300


def test_adamw_float32_and_bad_arguments():
    ours, ref = [p.detach().float().requires_grad_() for p in _params(1)], \
        [p.detach().float().requires_grad_() for p in _params(1)]
    opt, topt = AdamW(ours, lr=3e-3, weight_decay=0.01), torch.optim.AdamW(ref, lr=3e-3,
                                                                        weight_decay=0.01)
    for step in range(200):
        for ps, o in ((ours, opt), (ref, topt)):
            o.zero_grad()
            _loss(ps, step).backward()
            o.step()
    for a, b in zip(ours, ref):
        assert (a - b).abs().max().item() <= 1e-6
    for kw, msg in [(dict(lr=-1), "lr"), (dict(betas=(0.9, 1.0)), "betas"),
                    (dict(eps=-1), "eps"), (dict(weight_decay=-0.1), "weight_decay")]:
        with pytest.raises(ValueError, match=msg):
            AdamW(_params(0), **kw)


def test_cosine_schedule_three_phases_exactly():
    a_max, a_min, Tw, Tc = 1.0, 0.1, 10, 30
    for t in range(Tw):                                          # warmup: t/Tw · a_max
        assert cosine_schedule(t, a_max, a_min, Tw, Tc) == t / Tw * a_max
    assert cosine_schedule(Tw, a_max, a_min, Tw, Tc) == a_max
    assert cosine_schedule(20, a_max, a_min, Tw, Tc) == pytest.approx(0.55, abs=1e-15)  # midpoint
    for t in range(Tw, Tc + 1):
        expected = a_min + 0.5 * (1 + math.cos(math.pi * (t - Tw) / (Tc - Tw))) * (a_max - a_min)
        assert cosine_schedule(t, a_max, a_min, Tw, Tc) == pytest.approx(expected, abs=1e-15)
    assert cosine_schedule(Tc, a_max, a_min, Tw, Tc) == pytest.approx(a_min, abs=1e-15)
    for t in (Tc + 1, 100, 10 ** 6):                            # after: a_min
        assert cosine_schedule(t, a_max, a_min, Tw, Tc) == a_min
    # the CS336 reference values (tests/test_optimizer.py of the assignment)
    ref = [0, 0.14285714285714285, 0.2857142857142857, 0.42857142857142855, 0.5714285714285714,
           0.7142857142857143, 0.8571428571428571, 1.0, 0.9887175604818206, 0.9554359905560885,
           0.9018241671106134, 0.8305704108364301, 0.7452476826029011, 0.6501344202803414,
           0.55, 0.44986557971965857, 0.3547523173970989, 0.26942958916356996,
           0.19817583288938662, 0.14456400944391146, 0.11128243951817937, 0.1, 0.1, 0.1, 0.1]
    got = [cosine_schedule(t, 1, 0.1, 7, 21) for t in range(25)]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="warmup_iters <= cosine_iters"):
        cosine_schedule(0, 1, 0.1, 10, 5)


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    a, b = _params(2), _params(2)
    for ps in (a, b):
        _loss(ps, 0).backward()
    n_ours = clip_grad_norm(a, max_norm)
    n_ref = torch.nn.utils.clip_grad_norm_(b, max_norm)
    torch.testing.assert_close(n_ours, n_ref, rtol=0, atol=1e-12)
    for p, q in zip(a, b):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-12)
    total = math.sqrt(sum(p.grad.pow(2).sum().item() for p in a))
    assert total <= max_norm + 1e-9 if n_ref > max_norm else total == pytest.approx(float(n_ref))
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(a, 0)


# ------------------------------------------------------------------------------ loss, data

@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_cross_entropy_matches_torch_value_and_gradient(scale):
    g = torch.Generator().manual_seed(3)
    logits = (torch.randn(4, 6, 11, generator=g, dtype=D64) * scale).requires_grad_()
    targets = torch.randint(0, 11, (4, 6), generator=g)
    ours = cross_entropy(logits, targets)
    ref_logits = logits.detach().clone().requires_grad_()
    ref = F.cross_entropy(ref_logits.view(-1, 11), targets.view(-1))
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad, rtol=0, atol=1e-12)
    for red in ("sum", "none"):
        torch.testing.assert_close(cross_entropy(logits, targets, red),
                                   F.cross_entropy(logits.transpose(1, 2), targets,
                                                   reduction=red), rtol=1e-12, atol=1e-9)


def test_cross_entropy_float32_large_logits_and_errors():
    logits = torch.tensor([[1e30, 0.0, -1e30], [50.0, 60.0, 70.0]])
    t = torch.tensor([0, 0])
    torch.testing.assert_close(cross_entropy(logits, t), F.cross_entropy(logits, t))
    with pytest.raises(IndexError, match=r"\[0, 2\]"):
        cross_entropy(logits, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="disagree"):
        cross_entropy(logits, torch.tensor([0]))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(logits, t, reduction="avg")
    x = torch.randn(3, 5, requires_grad=True)
    loss = cross_entropy(x, torch.tensor([0, 1, 2]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="only once"):
        loss.backward()


def test_get_batch_covers_every_start_uniformly():
    n, C, B = 40, 8, 64
    data = np.arange(n, dtype=np.uint16)
    g = torch.Generator().manual_seed(4)
    counts = np.zeros(n, dtype=int)
    for _ in range(200):
        x, y = get_batch(data, B, C, "cpu", g)
        assert x.shape == y.shape == (B, C) and x.dtype == torch.int64
        assert torch.equal(y, x + 1)                         # targets are inputs shifted by one
        assert torch.equal(x - x[:, :1], torch.arange(C).expand(B, C))
        np.add.at(counts, x[:, 0].numpy(), 1)
    valid = n - C                                            # starts 0 … n − C − 1
    assert (counts[:valid] > 0).all() and (counts[valid:] == 0).all()
    expected = 200 * B / valid
    chi2 = ((counts[:valid] - expected) ** 2 / expected).sum()
    assert chi2 < 70                                         # 31 dof: p ≈ 1e-4 bound


def test_get_batch_memmap_and_short_data(tmp_path):
    path = tmp_path / "tokens.bin"
    np.arange(100, dtype=np.uint16).tofile(path)
    data = load_tokens(path)
    assert isinstance(data, np.memmap) and len(data) == 100
    x, y = get_batch(data, 3, 99, "cpu", torch.Generator().manual_seed(0))
    assert torch.equal(x[0], torch.arange(99)) and torch.equal(y[0], torch.arange(1, 100))
    with pytest.raises(ValueError, match="holds 100 tokens, shorter than context_length \\+ 1 "
                                         "= 101"):
        get_batch(data, 3, 100)
    np.save(tmp_path / "t.npy", np.arange(10, dtype=np.int32))
    assert load_tokens(tmp_path / "t.npy").dtype == np.int32
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_tokens(tmp_path / "nope.bin")


# ------------------------------------------------------------------------------ checkpoints

def small_model(seed=0):
    torch.manual_seed(seed)
    return TransformerLM(TransformerConfig(vocab_size=30, context_length=12, d_model=16,
                                           num_layers=2, num_heads=2))


def _train_steps(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    data = np.arange(500) % 30
    losses = []
    for _ in range(steps):
        x, y = get_batch(data, 4, 12, "cpu", g)
        loss = cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_checkpoint_round_trip_restores_optimizer_state(tmp_path):
    m = small_model()
    opt = AdamW(m.parameters(), lr=1e-2)
    _train_steps(m, opt, 5, seed=0)
    save_checkpoint(m, opt, 5, tmp_path / "ckpt.pt")
    after_a = _train_steps(m, opt, 5, seed=1)

    m2 = small_model(seed=99)                         # different weights, fresh optimizer
    opt2 = AdamW(m2.parameters(), lr=1e-2)
    assert load_checkpoint(tmp_path / "ckpt.pt", m2, opt2) == 5
    assert opt2.state[next(iter(m2.parameters()))]["step"] == 5
    after_b = _train_steps(m2, opt2, 5, seed=1)
    assert after_a == after_b                         # identical continuation
    buf = io.BytesIO()
    save_checkpoint(m, None, 3, buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(buf, m2, opt2)


def test_param_groups_linear_only():
    m = small_model()
    groups = param_groups(m, 0.1, "linear")
    decayed = {id(p) for p in groups[0]["params"]}
    assert id(m.lm_head.weight) in decayed and id(m.layers[0].attn.qkv.weight) in decayed
    assert id(m.token_embeddings.weight) not in decayed and id(m.layers[0].ln1.weight) not in \
        decayed
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))


# ------------------------------------------------------------------------------ train_lm

@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    # a learnable sequence: a noisy walk over 40 tokens
    steps = rng.choice([1, 1, 1, 2, 3], size=6000)
    tokens = (np.cumsum(steps) % 40).astype(np.uint16)
    tokens[:5000].tofile(tmp_path / "train.bin")
    tokens[5000:].tofile(tmp_path / "val.bin")
    return tmp_path


def config(corpus, **kw):
    c = {"model": {"vocab_size": 40, "context_length": 16, "d_model": 32, "num_layers": 2,
                   "num_heads": 2, "dropout_residual": 0.1},
         "train_data": str(corpus / "train.bin"), "val_data": str(corpus / "val.bin"),
         "batch_size": 8, "max_iters": 30, "lr_max": 3e-3, "warmup_iters": 5,
         "eval_interval": 10, "eval_iters": 2, "checkpoint_interval": 10}
    c.update(kw)
    return c


def test_train_lm_learns_and_resume_gives_the_same_curve(corpus):
    cfg = config(corpus)
    full = RunStore("a", root=corpus / "runs_a").run(cfg, lambda c, ctx: train_lm(
        c, ctx, progress_bar=False))
    assert full["iterations"] == 30 and not full["diverged"]
    h = full["history"]
    assert h["val_iter"] == [0, 10, 20, 30]
    assert h["val_loss"][-1] < h["val_loss"][0] - 0.3            # it learns
    assert h["lr"][:6] == [0, 6e-4, 1.2e-3, 1.8e-3, 2.4e-3, 3e-3][:6] or \
        np.allclose(h["lr"][:6], [0, 6e-4, 1.2e-3, 1.8e-3, 2.4e-3, 3e-3])

    store = RunStore("b", root=corpus / "runs_b")
    with pytest.raises(TrainingInterrupted):
        store.run(cfg, lambda c, ctx: train_lm(c, ctx, stop_after=20, progress_bar=False),
                  code=train_lm)           # the wrappers differ, the code that trains does not
    resumed = store.run(cfg, lambda c, ctx: train_lm(c, ctx, progress_bar=False), code=train_lm)
    meta = json.loads((store.root / store.key(cfg) / "meta.json").read_text())
    assert meta["resumed"] is True
    assert resumed["history"]["loss"] == h["loss"]              # the same curve, bit for bit
    assert resumed["history"]["val_loss"] == h["val_loss"]
    for k, v in full["model_state"].items():
        assert torch.equal(v, resumed["model_state"][k])


def test_train_lm_stops_a_divergent_run(corpus):
    res = train_lm(config(corpus, lr_max=30.0, warmup_iters=0, grad_clip=0.0,
                          checkpoint_interval=0, max_iters=60), progress_bar=False)
    assert res["diverged"] and res["iterations"] < 60 and math.isnan(res["final_val_loss"])


def test_train_lm_bad_config_and_data(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"unknown training config key\(s\) \['lr'\]"):
        train_lm(config(corpus, lr=1e-3))
    with pytest.raises(ValueError, match="vocab_size is 20"):
        train_lm(config(corpus, model={**config(corpus)["model"], "vocab_size": 20}))
    short = tmp_path / "short.bin"
    np.arange(10, dtype=np.uint16).tofile(short)
    with pytest.raises(ValueError, match="holds 10 tokens, shorter than context_length \\+ 1"):
        train_lm(config(corpus, train_data=str(short)))
    with pytest.raises(ValueError, match="decay"):
        TrainConfig.from_dict(config(corpus, decay="some"))


def test_shell_entry_point(corpus, capsys):
    cfg_path = corpus / "cfg.json"
    cfg_path.write_text(json.dumps(config(corpus, max_iters=10, eval_interval=5)))
    assert main(["--config", str(cfg_path), "--out-dir", str(corpus / "cli")]) == 0
    out = capsys.readouterr().out
    assert "trained: 10 iterations" in out
    run_dirs = [p for p in (corpus / "cli").iterdir() if p.is_dir()]
    assert (run_dirs[0] / "model.pt").exists() and (run_dirs[0] / "metrics.jsonl").exists()
    assert main(["--config", str(cfg_path), "--out-dir", str(corpus / "cli")]) == 0
    assert "reused" in capsys.readouterr().out
    bad = corpus / "bad.json"
    bad.write_text(json.dumps({**config(corpus), "max_iter": 3}))
    assert main(["--config", str(bad)]) == 2
    assert "max_iter" in capsys.readouterr().err


@pytest.mark.parametrize("max_norm", [None, 0.05])
def test_optimizer_step_equals_the_manual_update(max_norm):
    from utils.train.optim import AdamW, clip_grad_norm, optimizer_step

    def setup():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
        return model, AdamW(model.parameters(), lr=1.0)

    x = torch.randn(16, 4)
    a, opt_a = setup()
    b, opt_b = setup()
    for step in range(3):
        lr = 0.01 * (step + 1)
        norm = optimizer_step(opt_a, a(x).pow(2).mean(), lr, max_norm=max_norm)
        for group in opt_b.param_groups:          # the loop it replaces, written out
            group["lr"] = lr
        loss = b(x).pow(2).mean()
        opt_b.zero_grad()
        loss.backward()
        ref = clip_grad_norm(b.parameters(), max_norm) if max_norm is not None else None
        opt_b.step()
        assert all(g["lr"] == lr for g in opt_a.param_groups)
        assert (norm is None) == (ref is None) and (norm is None or torch.equal(norm, ref))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
