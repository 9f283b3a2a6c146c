"""Training and evaluating the norm variants on regression (notebook 31, seed 000 Q2).

Two run functions for ``RunStore.sweep``, each ``fn(config, ctx) -> dict``:

* :func:`run_tabular`: a feature-token Transformer (FT-Transformer tokens,
  :class:`~utils.nn.continuous.FeatureTokenizer`, a CLS token, :class:`~utils.nn.encoder.TokenEncoder`)
  on Friedman #1 or the diabetes table; inputs and target standardised with training
  statistics; test RMSE in the target's own units. For every model it also evaluates the test
  set in **training mode** (batch statistics) with batches of different size and composition,
  which changes nothing for LayerNorm/RMSNorm (per-token statistics) and everything that
  BatchNorm's output depends on.
* :func:`run_series`: scalar-token forecasting (:class:`~utils.nn.continuous.Forecaster`) of
  ``co2`` or ``sunspots``, windows standardised globally (training-period statistics) or per
  window with RevIN; test RMSE per forecast step h = 1..H in the series' units.

Both train with the pack's AdamW, linear warmup + cosine decay and gradient clipping
(:mod:`utils.train.optim`) on the MSE of standardised targets, evaluate on the validation set
every ``eval_every`` steps and keep the best validation state (the same model selection for
every arm).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from ..data import tabular as data
from ..nn.continuous import FeatureTokenizer, Forecaster, RevIN, ScalarTokenizer
from ..nn.encoder import TokenEncoder
from ..nn.transformer_lm import TransformerConfig
from ..seeding import seed_everything
from .optim import AdamW, cosine_schedule, optimizer_step

#: the norm arms of the study: name -> (norm_position, norm_type)
ARMS = {
    "pre-LN": ("pre", "layernorm"), "post-LN": ("post", "layernorm"),
    "pre-RMS": ("pre", "rmsnorm"), "post-RMS": ("post", "rmsnorm"),
    "pre-BN": ("pre", "batchnorm"), "post-BN": ("post", "batchnorm"),
    "none": ("none", "layernorm"),
}


def model_config(arm: str, d_model: int, num_layers: int, num_heads: int, context: int,
                 positions: str) -> TransformerConfig:
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; allowed: {', '.join(ARMS)}")
    position, norm = ARMS[arm]
    return TransformerConfig(vocab_size=1, context_length=context, d_model=d_model,
                             num_layers=num_layers, num_heads=num_heads, norm_position=position,
                             norm_type=norm, positions=positions, causal=False)


def _predict(model, X: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])


def fit(model: torch.nn.Module, Xtr, Ytr, Xva, Yva, *, steps: int, batch_size: int, lr: float,
        warmup: int, weight_decay: float, eval_every: int, seed: int, clip: float = 1.0) -> dict:
    """Minibatch MSE training; keeps the best-validation state. Returns the history."""
    g = torch.Generator().manual_seed(seed)
    opt = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist = {"step": [], "train_mse": [], "val_mse": [], "grad_norm": []}
    best, best_state, best_step = math.inf, copy.deepcopy(model.state_dict()), 0
    n, run_loss, run_gn, k = len(Xtr), 0.0, 0.0, 0
    bs = min(batch_size, n)
    for t in range(1, steps + 1):
        model.train()
        idx = torch.randint(0, n, (bs,), generator=g)
        loss = torch.mean((model(Xtr[idx]) - Ytr[idx]) ** 2)
        gn = optimizer_step(opt, loss, cosine_schedule(t, lr, 0.1 * lr, warmup, steps),
                            max_norm=clip)
        run_loss, run_gn, k = run_loss + loss.item(), max(run_gn, gn.item()), k + 1
        if t % eval_every == 0 or t == steps:
            model.eval()
            val = float(torch.mean((_predict(model, Xva) - Yva) ** 2))
            hist["step"].append(t)
            hist["train_mse"].append(run_loss / k)
            hist["val_mse"].append(val)
            hist["grad_norm"].append(run_gn)
            run_loss, run_gn, k = 0.0, 0.0, 0
            if val < best:                     # NaN never wins
                best, best_state, best_step = val, copy.deepcopy(model.state_dict()), t
    model.load_state_dict(best_state)
    model.eval()
    hist["best_step"], hist["diverged"] = best_step, not math.isfinite(hist["train_mse"][-1])
    return hist


def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# --- experiment A: tables --------------------------------------------------------------------

def tabular_data(name: str, seed: int, n_friedman: int = 2000, noise: float = 1.0):
    """(X, y, noise floor or None) of a table; Friedman's sample depends on ``seed``."""
    if name == "friedman1":
        X, y, _ = data.friedman1(n_friedman, n_features=10, noise=noise, seed=1000 + seed)
        return X, y, noise
    if name == "diabetes":
        X, y, _ = data.load_diabetes()
        return X, y, None
    raise ValueError(f"unknown table {name!r}; allowed: 'friedman1', 'diabetes'")


def batch_stat_predict(model, X: torch.Tensor, order: np.ndarray,
                       batch_size: int) -> torch.Tensor:
    """Predictions with the norms in training mode (batch statistics), batches of
    ``batch_size`` taken in ``order``; running statistics are restored afterwards."""
    m = copy.deepcopy(model).train()
    out = torch.empty(len(X), 1, dtype=X.dtype)
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            idx = torch.as_tensor(order[i:i + batch_size])
            if len(idx) < 2:                  # BatchNorm needs two rows; fold into the last
                idx = torch.as_tensor(order[i - batch_size:])
            out[idx] = m(X[idx])
    return out


def run_tabular(config: dict, ctx=None) -> dict:
    """One feature-token Transformer on one table (config keys: see the notebook)."""
    c = config
    seed_everything(c["seed"])
    t0, cpu0 = time.perf_counter(), time.process_time()
    X, y, floor = tabular_data(c["dataset"], c["seed"], c.get("n_friedman", 2000))
    tr, va, te = data.split_indices(len(y), (0.6, 0.2, 0.2), seed=c["seed"])
    sx, sy = data.Standardizer.fit(X[tr]), data.Standardizer.fit(y[tr])
    T = lambda a: torch.as_tensor(a, dtype=torch.float32)       # noqa: E731
    Xs = {k: T(sx.transform(X[i]))[..., None] for k, i in (("tr", tr), ("va", va), ("te", te))}
    Ys = {k: T(sy.transform(y[i])[:, None]) for k, i in (("tr", tr), ("va", va), ("te", te))}
    F = X.shape[1]
    cfg = model_config(c["arm"], c["d_model"], c["num_layers"], c["num_heads"], F + 1, "none")
    model = TokenEncoder(cfg, d_in=1, d_out=1, pool="cls",
                         tokenizer=FeatureTokenizer(F, c["d_model"]))
    hist = fit(model, Xs["tr"], Ys["tr"], Xs["va"], Ys["va"], steps=c["steps"],
               batch_size=c["batch_size"], lr=c["lr"], warmup=c["warmup"],
               weight_decay=c["weight_decay"], eval_every=c["eval_every"], seed=c["seed"])
    inv = lambda z: sy.inverse(z.numpy()[:, 0])               # noqa: E731
    pred = inv(_predict(model, Xs["te"]))
    out = {"test_rmse": _rmse(pred, y[te]),
           "val_rmse": _rmse(inv(_predict(model, Xs["va"])), y[va]),
           "train_rmse": _rmse(inv(_predict(model, Xs["tr"])), y[tr]),
           "noise_floor": floor, "n_train": len(tr), "n_test": len(te),
           "params": model.num_parameters(), "history": hist}
    # the same trained model with batch statistics at evaluation (BatchNorm's train mode)
    rng = np.random.default_rng(c["seed"])
    order_random = rng.permutation(len(te))
    order_sorted = np.argsort(y[te], kind="stable")          # homogeneous batches
    for name, order, bs in (("batch64_random", order_random, 64),
                            ("batch8_random", order_random, 8),
                            ("batch64_sorted", order_sorted, 64)):
        out[f"test_rmse_{name}"] = _rmse(inv(batch_stat_predict(model, Xs["te"], order, bs)), y[te])
    out["wall_s"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    return out


# --- experiment B: time series ---------------------------------------------------------------

def linear_baseline_rmse(dataset: str, seed: int, n_friedman: int = 2000) -> float:
    """Test RMSE of ordinary least squares (with intercept) on the same split: the reference a
    deep model should beat (it cannot on diabetes by much: the target is nearly linear)."""
    X, y, _ = tabular_data(dataset, seed, n_friedman)
    tr, _, te = data.split_indices(len(y), (0.6, 0.2, 0.2), seed=seed)
    A = lambda i: np.c_[X[i], np.ones(len(i))]                     # noqa: E731
    coef, *_ = np.linalg.lstsq(A(tr), y[tr], rcond=None)
    return _rmse(A(te) @ coef, y[te])


def naive_rmse_by_h(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Persistence forecast (the last observed value for every step), RMSE per step h."""
    return np.sqrt(np.mean((Y - X[:, -1:]) ** 2, axis=0))


def run_series(config: dict, ctx=None) -> dict:
    """One scalar-token forecaster on one series (config keys: see the notebook)."""
    c = config
    seed_everything(c["seed"])
    t0, cpu0 = time.perf_counter(), time.process_time()
    s = data.block_means(data.load_series(c["dataset"]), c["block"])
    L, H = c["context"], c["horizon"]
    w = data.chronological_windows(s, L, H, (0.7, 0.1, 0.2))
    n_train_points = round(0.7 * len(s))
    mu, sd = float(s[:n_train_points].mean()), float(s[:n_train_points].std())
    T = lambda a: torch.as_tensor((a - mu) / sd, dtype=torch.float32)   # noqa: E731
    Xs = {k: T(w[k][0]) for k in w}
    Ys = {k: T(w[k][1]) for k in w}
    cfg = model_config(c["arm"], c["d_model"], c["num_layers"], c["num_heads"], L + 1, "learned")
    # token_bias: x_t·w + b (ScalarTokenizer) instead of the encoder's default x_t·w
    tok = ScalarTokenizer(c["d_model"]) if c.get("token_bias", False) else None
    model = Forecaster(TokenEncoder(cfg, d_in=1, d_out=H, pool="cls", tokenizer=tok),
                       RevIN() if c["revin"] else None)
    hist = fit(model, Xs["train"], Ys["train"], Xs["val"], Ys["val"], steps=c["steps"],
               batch_size=c["batch_size"], lr=c["lr"], warmup=c["warmup"],
               weight_decay=c["weight_decay"], eval_every=c["eval_every"], seed=c["seed"])
    pred = _predict(model, Xs["test"]).numpy() * sd + mu                  # (n, H) in units
    Yte = w["test"][1]
    by_h = np.sqrt(np.mean((pred - Yte) ** 2, axis=0))
    out = {"test_rmse": _rmse(pred, Yte), "test_rmse_by_h": by_h.tolist(),
           "naive_rmse_by_h": naive_rmse_by_h(w["test"][0], Yte).tolist(),
           "test_bias": float(np.mean(pred - Yte)),
           "val_rmse": _rmse(_predict(model, Xs["val"]).numpy() * sd + mu, w["val"][1]),
           "n_train": len(w["train"][0]), "n_test": len(Yte), "params": sum(
               p.numel() for p in model.parameters()), "history": hist}
    out["wall_s"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
    return out
