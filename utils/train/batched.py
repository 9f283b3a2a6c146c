"""Many arithmetic runs trained as one batched computation (notebooks 11-15 on a GPU).

The studies of seed 001 train dozens of tiny models that differ only in their seed (hence data
split and initialisation) and in a few scalar hyperparameters. One such model leaves a GPU
idle; R of them stacked along a new leading dimension keep it busy. Here the R runs share one
module *shape* and are trained together:

* parameters are stacked, θ = [θ_1; …; θ_R] (each tensor gets a leading R dimension), and the
  forward pass is ``torch.func.vmap`` over ``torch.func.functional_call(model, θ_r, x_r)``, so
  every matrix product becomes one batched product;
* the loss is Σ_r L_r(θ_r): its gradient with respect to θ_r is ∂L_r/∂θ_r (the runs do not
  interact), so one ``backward`` gives every run its own gradient;
* each run keeps **its own** data split and batch order (built exactly as
  :func:`utils.train.arithmetic.train` builds them from its seed), initialisation, gradient
  clipping (its own total norm and ``max_grad_norm``), AdamW state, learning rate and weight
  decay (per-run tensors), evaluation schedule and metrics history.

AdamW is written out (:func:`adamw_step`, the update of ``torch.optim.AdamW``):

    θ ← θ (1 − η λ);  m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²
    θ ← θ − η / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

A run trained here gives the same history as the same config trained alone by
:func:`~utils.train.arithmetic.train` up to floating-point rounding (batched products and
reductions add in a different order); ``tests/test_batched.py`` checks it in float64, where
that rounding is ~1e-15, and in float32. The GPT is built with its readable LayerNorm path
(``fast=False``): the fast path's hand-written autograd Function has no vmap rule.

Runs are grouped by :func:`group_key` (everything that fixes tensor shapes and the schedule);
a group that cannot be batched (dropout > 0, another optimizer) is trained run by run. Results
go to the run store one per config, in the trainer's format, so a notebook cannot tell how a
run was trained; a killed group resumes from its checkpoint (bitwise on the same device).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Mapping, Sequence

import torch
from torch.func import functional_call, vmap

from ..seeding import seed_everything
from .arithmetic import (build_data, build_model, check_config, count_parameters,
                         evaluation_steps, metrics_from_samples, train)
from .losses import get_loss_and_accuracy

# Fields that may differ between the runs of one batch (scalars kept per run).
PER_RUN = ("seed", "lr", "weight_decay", "max_grad_norm")
BETAS, EPS = (0.9, 0.999), 1e-8          # torch.optim.AdamW's defaults, as the trainer uses


def group_key(config: Mapping) -> str:
    """Configs with the same key can be trained in one batch (same shapes and schedule)."""
    shared = {k: v for k, v in config.items() if k not in PER_RUN}
    return json.dumps(shared, sort_keys=True)


def batchable(config: Mapping) -> bool:
    """Whether this trainer supports the config (AdamW, no dropout, no early stop); others
    train alone."""
    return (config["optimizer"] == "adamw" and config["dropout"] == 0
            and not config.get("stop_at_val_accuracy", 0.0))


# ---------------------------------------------------------------------------------------------
# pieces


def adamw_step(params: dict, grads: dict, exp_avg: dict, exp_avg_sq: dict, step: int,
               lr: Sequence[float], weight_decay: Sequence[float]) -> None:
    """One AdamW update of stacked parameters in place; ``lr`` and ``weight_decay`` per run.

    The arithmetic of ``torch.optim.AdamW`` (single-tensor path) in the same order: the decay
    factor 1 − ηλ and the step size η / (1 − β₁ᵗ) are computed in double precision on the host
    (torch does the same with Python floats), then applied per run.
    """
    beta1, beta2 = BETAS
    bc1 = 1 - beta1 ** step
    bc2_sqrt = math.sqrt(1 - beta2 ** step)
    with torch.no_grad():
        for name, p in params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            decay = torch.tensor([1 - a * b for a, b in zip(lr, weight_decay)],
                                 dtype=torch.float64).to(p.device, p.dtype).view(shape)
            step_size = torch.tensor([a / bc1 for a in lr], dtype=torch.float64
                                     ).to(p.device, p.dtype).view(shape)
            g = grads[name]
            p.mul_(decay)
            exp_avg[name].lerp_(g, 1 - beta1)
            exp_avg_sq[name].mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (exp_avg_sq[name].sqrt() / bc2_sqrt).add_(EPS)
            p.sub_(step_size * (exp_avg[name] / denom))


def clip_grad_norms(grads: dict, max_norm: torch.Tensor) -> torch.Tensor:
    """Per-run ``clip_grad_norm_``: scale run r's gradients by min(1, c_r / (‖g_r‖ + 1e-6)).

    ‖g_r‖ is the 2-norm of the per-tensor 2-norms, as torch computes it; ``max_norm`` (R,)
    with 0 meaning no clipping. Returns the norms before clipping (R,).
    """
    norms = torch.stack([torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1)
                         for g in grads.values()])                          # (tensors, R)
    total = torch.linalg.vector_norm(norms, dim=0)                          # (R,)
    coef = torch.clamp(max_norm.to(total.dtype) / (total + 1e-6), max=1.0)
    coef = torch.where(max_norm > 0, coef, torch.ones_like(coef))
    with torch.no_grad():
        for g in grads.values():
            g.mul_(coef.view((-1,) + (1,) * (g.dim() - 1)))
    return total


def stacked_param_norms(params: dict) -> torch.Tensor:
    """‖θ_r‖₂ of every run (R,), in float64 as :func:`utils.train.arithmetic.param_norm`."""
    with torch.no_grad():
        sq = sum((p.double() ** 2).reshape(p.shape[0], -1).sum(1) for p in params.values())
        return torch.sqrt(sq)


# ---------------------------------------------------------------------------------------------
# one group


def train_group(configs: Sequence[Mapping], ctx=None, *, device: str = "cpu",
                checkpoint_every: int = 500, callback=None) -> list[dict]:
    """Train runs that share :func:`group_key` as one batch; returns each run's result.

    ``ctx`` (a :class:`utils.runs.RunContext`) checkpoints the whole group every
    ``checkpoint_every`` steps and resumes it; ``callback(step)`` runs after every step.
    """
    configs = [dict(c) for c in configs]
    if not configs:
        raise ValueError("train_group needs at least one config")
    for c in configs:
        check_config(c)
        if not batchable(c):
            raise ValueError(f"batched training supports AdamW without dropout; got optimizer="
                             f"{c['optimizer']!r}, dropout={c['dropout']!r}")
    keys = {group_key(c) for c in configs}
    if len(keys) != 1:
        raise ValueError("configs of one batch may differ only in "
                         f"{', '.join(PER_RUN)}; these differ in more")
    t_start = time.perf_counter()
    base_cfg, R = configs[0], len(configs)

    # Per run, exactly as train(): seed, data split, model initialisation.
    data_train, data_valid, models = [], [], []
    for c in configs:
        seed_everything(c["seed"])
        train_t, valid_t, tokenizer, max_length, pad = build_data(c)
        data_train.append(train_t)
        data_valid.append(valid_t)
        # the GPT's fast LayerNorm is a custom autograd Function without a vmap rule
        models.append(build_model(c, len(tokenizer), max_length, pad,
                                  fast=c["model"] == "lstm"))
    counts = count_parameters(models[0])
    stack = lambda tensors: torch.stack(tensors).to(device)                  # noqa: E731
    train_s = tuple(stack([d[i] for d in data_train]) for i in range(4))    # (R, N, ...)
    valid_s = tuple(stack([d[i] for d in data_valid]) for i in range(4))
    names = [n for n, _ in models[0].named_parameters()]
    params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models])
              .to(device).requires_grad_(True) for n in names}       # stacked on the CPU first
    base = models[0].to(device)                  # in place: only after its weights were stacked
    buffers = {n: b.to(device) for n, b in base.named_buffers()}
    exp_avg = {n: torch.zeros_like(p) for n, p in params.items()}
    exp_avg_sq = {n: torch.zeros_like(p) for n, p in params.items()}
    lr = [float(c["lr"]) for c in configs]
    wd = [float(c["weight_decay"]) for c in configs]
    max_norm = torch.tensor([float(c["max_grad_norm"]) for c in configs], device=device)

    n_train = train_s[0].shape[1]
    batch_size = min(base_cfg["train_batch_size"], n_train)
    per_epoch = math.ceil(n_train / batch_size)
    n_steps = math.ceil(base_cfg["n_steps"] / per_epoch) * per_epoch
    eval_at = evaluation_steps(base_cfg, n_steps)
    keep_at = set(base_cfg["keep_states"])
    free_train_eval = per_epoch == 1
    order_gens = [torch.Generator().manual_seed(c["seed"]) for c in configs]

    def forward(p, x):                                   # one run: logits (N, S, V)
        return functional_call(base, (p, buffers), (x,))[0]

    def per_sample(p, x, y, eq, mask):                   # one run: (N,), (N,)
        return get_loss_and_accuracy(forward(p, x), y, eq, mask, reduction="none", check=False)

    batched = vmap(per_sample)

    @torch.no_grad()
    def evaluate(tensors) -> list[dict]:
        inputs = tensors[0]
        losses, accs = [], []
        for start in range(0, inputs.shape[1], base_cfg["eval_batch_size"]):
            sl = slice(start, start + base_cfg["eval_batch_size"])
            loss, acc = batched({n: p.detach() for n, p in params.items()},
                                *(t[:, sl] for t in tensors))
            losses.append(loss)
            accs.append(acc)
        loss, acc = torch.cat(losses, 1).cpu(), torch.cat(accs, 1).cpu()
        eq = tensors[2].cpu()
        return [metrics_from_samples(loss[r], acc[r], eq[r]) for r in range(R)]

    histories = [{"train": {}, "test": {}, "all_steps": [], "steps_epoch": {}, "extra": {}}
                 for _ in range(R)]
    states: list[dict] = [{} for _ in range(R)]

    def record(r: int, split: str, metrics: dict) -> None:
        for k, v in metrics.items():
            histories[r][split].setdefault(k, []).append(v)

    def record_eval(step_: int, epoch: int, train_metrics) -> None:
        test = evaluate(valid_s)
        norms = stacked_param_norms(params).cpu() if base_cfg["track_param_norm"] else None
        for r in range(R):
            histories[r]["all_steps"].append(step_)
            histories[r]["steps_epoch"][step_] = epoch
            record(r, "test", test[r])
            if train_metrics is not None:
                record(r, "train", train_metrics[r])
            if norms is not None:
                histories[r]["extra"].setdefault("param_norm", []).append(float(norms[r]))
            if step_ in keep_at:
                states[r][step_] = {**{n: p[r].detach().cpu().clone() for n, p in params.items()},
                                    **{n: b.cpu().clone() for n, b in buffers.items()}}

    def owed() -> bool:
        return len(histories[0]["train"].get("loss", [])) < len(histories[0]["all_steps"])

    step, perms, wall_before = 0, [None] * R, 0.0
    ckpt = ctx.load_checkpoint() if ctx is not None else None
    if ckpt is not None:
        with torch.no_grad():
            for n in names:
                params[n].copy_(ckpt["params"][n])
                exp_avg[n].copy_(ckpt["exp_avg"][n])
                exp_avg_sq[n].copy_(ckpt["exp_avg_sq"][n])
        for g, s in zip(order_gens, ckpt["order_gens"]):
            g.set_state(s)
        histories, states, step = ckpt["histories"], ckpt["states"], ckpt["step"]
        perms, wall_before = ckpt["perms"], ckpt["wall_s"]
    else:
        record_eval(0, 0, None if free_train_eval else evaluate(train_s))

    t_loop, step0 = time.perf_counter(), step
    while step < n_steps:
        epoch, i = divmod(step, per_epoch)
        if per_epoch > 1:
            if i == 0:                                    # a new epoch: each run reshuffles
                perms = [torch.randperm(n_train, generator=g) for g in order_gens]
            rows = torch.stack([p[i * batch_size:(i + 1) * batch_size] for p in perms])
            rows = rows.to(device)                                          # (R, b)
            batch = tuple(torch.gather(t, 1, rows.view(R, -1, *([1] * (t.dim() - 2)))
                                       .expand(-1, -1, *t.shape[2:])) for t in train_s)
        else:
            batch = train_s
        for p in params.values():
            p.grad = None
        loss_each, acc_each = batched(params, *batch)                       # (R, b) each
        if free_train_eval and owed():
            le, ae, eq = loss_each.detach().cpu(), acc_each.cpu(), batch[2].cpu()
            for r in range(R):
                record(r, "train", metrics_from_samples(le[r], ae[r], eq[r]))
        loss_each.mean(dim=1).sum().backward()           # Σ_r L_r: run r gets ∂L_r/∂θ_r
        grads = {n: p.grad for n, p in params.items()}
        clip_grad_norms(grads, max_norm)
        step += 1
        adamw_step(params, grads, exp_avg, exp_avg_sq, step, lr, wd)
        if step in eval_at:
            last = step == n_steps
            record_eval(step, epoch + 1, evaluate(train_s) if (last or not free_train_eval)
                        else None)
        if ctx is not None and checkpoint_every and step % checkpoint_every == 0 \
                and step < n_steps:
            ctx.save_checkpoint({
                "step": step, "params": {n: p.detach().cpu() for n, p in params.items()},
                "exp_avg": {n: v.cpu() for n, v in exp_avg.items()},
                "exp_avg_sq": {n: v.cpu() for n, v in exp_avg_sq.items()},
                "order_gens": [g.get_state() for g in order_gens], "perms": perms,
                "histories": histories, "states": states,
                "wall_s": wall_before + time.perf_counter() - t_start})
        if callback is not None:
            callback(step)
    loop_s = time.perf_counter() - t_loop
    wall = wall_before + time.perf_counter() - t_start
    results = []
    for r, c in enumerate(configs):
        final = {**{n: p[r].detach().cpu().clone() for n, p in params.items()},
                 **{n: b.cpu().clone() for n, b in buffers.items()}}
        state_dict = models[r].state_dict()          # the trainer's keys (tied weights too)
        final = {k: final[k] if k in final else final[_tied_name(k, final)] for k in state_dict}
        results.append({
            **histories[r], "n_steps": n_steps, "config": c, **counts,
            "data": {"n_train": n_train, "n_valid": valid_s[0].shape[1],
                     "max_length": max_length, "vocabulary": list(tokenizer.itos),
                     "batch_size": batch_size},
            "final_state": final, "states": states[r],
            "wall_s": wall / R, "step_s": loop_s / max(step - step0, 1),
            "batched": {"runs": R, "wall_s": wall, "device": str(device)}})
    return results


def _tied_name(key: str, final: Mapping) -> str:
    """A state-dict key missing from the named parameters is a tied weight (classifier ↔
    embedding); return the parameter it shares storage with."""
    if key == "classifier.weight":
        for cand in ("embedding.tokens.weight", "embedding.weight"):
            if cand in final:
                return cand
    raise KeyError(f"no parameter or buffer named {key!r}")


# ---------------------------------------------------------------------------------------------
# a sweep through the run store


def _code(config: Mapping) -> tuple:
    """The code a stored run of ``config`` records (:mod:`utils.code_fingerprint`): a batched
    run's result comes from :func:`train_group` as well as :func:`train`."""
    return (train, train_group) if batchable(config) else (train,)


def _group_in_worker(namespace: str, root: str, chunk: list, device: str,
                     checkpoint_every: int) -> list[str]:
    """Worker process: train one chunk with one thread and store its results."""
    torch.set_num_threads(1)
    from ..runs import RunStore

    store = RunStore(namespace, root=root)
    _train_chunk(store, chunk, device, checkpoint_every)
    return [store.key(c) for c in chunk]


def _train_chunk(store, chunk: list, device: str, checkpoint_every: int) -> dict:
    from ..runs import RunContext

    chunk = sorted(chunk, key=store.key)
    tag = hashlib.sha256("|".join(store.key(c) for c in chunk).encode()).hexdigest()[:16]
    ctx = RunContext(store, {"batched": [store.key(c) for c in chunk]}, f"batch-{tag}")
    ctx.dir.mkdir(parents=True, exist_ok=True)
    results = train_group(chunk, ctx, device=device, checkpoint_every=checkpoint_every)
    fresh = {}
    for c, res in zip(chunk, results):
        store.run(c, lambda _c, _ctx, res=res: res, code=_code(c))
        fresh[store.key(c)] = res
    for name in ("checkpoint.pt", "checkpoint.sha256"):
        (ctx.dir / name).unlink(missing_ok=True)
    try:
        ctx.dir.rmdir()
    except OSError:
        pass
    return fresh


def split_evenly(items: Sequence, parts: int) -> list[list]:
    """``items`` in ``parts`` contiguous chunks whose sizes differ by at most one."""
    parts = max(1, min(parts, len(items)))
    q, r = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        size = q + (1 if i < r else 0)
        out.append(list(items[start:start + size]))
        start += size
    return out


def run_batched(store, configs: Sequence[Mapping], device: str = "cpu", workers: int = 1,
                max_runs: int = 64, checkpoint_every: int = 500,
                progress: bool = True) -> list[dict]:
    """Results of every config (in order) through ``store``, training the missing ones in
    batches of runs that share :func:`group_key` (at most ``max_runs`` per batch).

    On a CPU with ``workers > 1`` each group is split into that many chunks trained in parallel
    one-thread processes. Each finished run is stored under its own config, exactly as
    ``store.run(config, train)`` would; a batch's checkpoint lives in
    ``<store>/batch-<hash>/`` while it trains, so a killed sweep resumes.
    """
    configs = [dict(c) for c in configs]
    for c in configs:
        check_config(c)
    todo = {store.key(c): c for c in configs if not store.is_done(c, code=_code(c))}
    groups: dict[str, list[dict]] = {}
    for c in todo.values():
        if batchable(c):
            groups.setdefault(group_key(c), []).append(c)
        else:
            store.run(c, train)
    split = workers if device == "cpu" and workers > 1 else 1
    chunks = []
    for g in groups.values():
        for i in range(0, len(g), max_runs):
            chunks += split_evenly(g[i:i + max_runs], split)
    bar = None
    if progress and chunks:
        from ..progress import progress as _progress

        bar = _progress(total=len(chunks), desc=f"{store.namespace}: {len(todo)} runs in "
                        f"{len(chunks)} batch(es) on {device}")
    fresh: dict = {}
    if split > 1 and len(chunks) > 1:
        import concurrent.futures as cf

        from ..sweep import process_pool

        # the sweep engine's shared pool of spawned one-thread workers (utils/sweep.py)
        pool = process_pool(min(split, len(chunks)))
        futures = [pool.submit(_group_in_worker, store.namespace, str(store.root), chunk,
                               device, checkpoint_every) for chunk in chunks]
        for fut in cf.as_completed(futures):
            for key in fut.result():                     # re-raises a worker's error here
                fresh[key] = None
                store.computed += 1
            if bar is not None:
                bar.update(1)
    else:
        for chunk in chunks:
            fresh.update(_train_chunk(store, chunk, device, checkpoint_every))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    out = []
    for c in configs:
        key = store.key(c)
        res = fresh.get(key) if key in fresh else None
        out.append(res if res is not None else (store.load(c) if key in fresh
                                                 else store.run(c, train, code=_code(c))))
    return out
