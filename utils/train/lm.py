"""Training a Transformer LM: loss, batches, checkpoints and the training loop.

Taught in notebook 06 (seed 004, CS336 assignment 1: problems ``cross_entropy``,
``data_loading``, ``checkpointing``, ``training_together``); notebook 07 trains with it too.

* ``cross_entropy(logits, targets)``: ℓ = −log softmax(o)[y] = log Σ_j exp(o_j − m) − (o_y − m)
  with m = max_j o_j, so no exponent overflows however large the logits. Its gradient
  ∂ℓ/∂o = softmax(o) − onehot(y) is written out by hand (one pass instead of autograd's chain of
  elementwise ops over the (tokens × vocabulary) logits).
* ``get_batch(data, B, S)``: B windows of S + 1 tokens at start positions drawn uniformly from
  the len(data) − S valid ones; inputs are the first S tokens, targets the last S (shifted by
  one). ``data`` may be a ``np.memmap``: only the sampled windows are read from disk.
* ``save_checkpoint`` / ``load_checkpoint``: model, optimizer and iteration (plus the model's
  config, so loading into a different architecture fails with a message naming the difference).
* ``train_lm(config, ctx)``: the loop — cosine schedule, AdamW, clipping, periodic validation on
  fixed batches, checkpoints every ``checkpoint_interval`` iterations (with the batch sampler's
  and dropout's random states, so a killed run resumes on the same loss curve), a progress
  bar, a ``metrics.jsonl`` log and optional TensorBoard (only when ``tensorboard`` is
  installed). ``ctx`` is a ``utils.runs.RunContext``: ``RunStore(...).run(config, train_lm)``
  reuses finished runs and resumes interrupted ones.

Shell: ``python -m utils.train.lm --config cfg.json [--out-dir DIR]`` runs the same function in
a run store (default ``data/cache/runs/train_lm``); run it again after a kill to resume. The
config is the JSON form of :class:`TrainConfig` (``python -m utils.train.lm --example`` prints
one).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..nn.transformer_lm import TransformerConfig, TransformerLM
from .optim import AdamW, clip_grad_norm, cosine_schedule

# --------------------------------------------------------------------------------------------
# loss


class _CrossEntropy(torch.autograd.Function):
    """Per-token −log softmax(o)[y] with the hand-written gradient softmax(o) − onehot(y)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # >>> exercise: cross_entropy
        # hint: per row: log sum exp(o - max) + max - o_y (never exp of a large logit); save exp(o
        # hint: - max) (N, V), its row sums (N, 1) and targets for backward; ctx.used = False.
        m = logits.amax(dim=-1, keepdim=True)                    # (N, 1)
        exp = (logits - m).exp_()                                # exponents <= 0: no overflow
        sum_exp = exp.sum(dim=-1, keepdim=True)                  # (N, 1), >= 1
        target_logit = logits.gather(-1, targets[:, None])       # (N, 1)
        losses = (sum_exp.log() + m - target_logit).squeeze(-1)  # log Σ exp(o) − o_y
        ctx.save_for_backward(exp, sum_exp, targets)
        ctx.used = False
        return losses                                            # (N,)
        # <<< exercise

    @staticmethod
    def backward(ctx, grad_losses: torch.Tensor):
        if ctx.used:  # the softmax below overwrites the saved exponentials in place
            raise RuntimeError("cross_entropy's backward can run only once per forward")
        ctx.used = True
        # >>> exercise: cross_entropy
        # hint: gradient softmax(o) - onehot(y), times grad_losses per row.
        exp, sum_exp, targets = ctx.saved_tensors
        grad = exp.div_(sum_exp)                                 # softmax(o), in place
        grad[torch.arange(grad.shape[0], device=grad.device), targets] -= 1.0
        return grad.mul_(grad_losses[:, None]), None
        # <<< exercise


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                  reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy from unnormalised logits (..., V) and integer targets (...).

    ``reduction``: ``mean`` (the average over all target positions), ``sum`` or ``none``
    (per-position losses, shaped like ``targets``).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits (..., V) and targets (...) disagree: {tuple(logits.shape)} vs "
                         f"{tuple(targets.shape)}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise TypeError(f"targets must be integer class ids, got {targets.dtype}")
    V = logits.shape[-1]
    checkable = targets.numel() and targets.device.type != "meta"   # meta tensors: no values
    if checkable and (int(targets.min()) < 0 or int(targets.max()) >= V):
        raise IndexError(f"targets must lie in [0, {V - 1}] for {V} classes; got "
                         f"{int(targets.min())} to {int(targets.max())}")
    losses = _CrossEntropy.apply(logits.reshape(-1, V), targets.reshape(-1).long())
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses.view(targets.shape)


# --------------------------------------------------------------------------------------------
# data


def load_tokens(path: str | Path, dtype: str = "uint16") -> np.ndarray:
    """A token array on disk, memory-mapped: ``.npy`` via ``np.load``, anything else as raw
    ``dtype`` values (the ``encode_to_memmap`` / CS336 ``.bin`` layout)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"token file {path} does not exist")
    if path.suffix == ".npy":
        data = np.load(path, mmap_mode="r")
    else:
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"unknown token dtype {dtype!r}; use e.g. 'uint16' or 'int32'") \
                from None
        if path.stat().st_size % np_dtype.itemsize:
            raise ValueError(f"{path} has {path.stat().st_size} bytes, not a whole number of "
                             f"{dtype} tokens: wrong data_dtype?")
        data = np.memmap(path, dtype=np_dtype, mode="r")
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise ValueError(f"{path} must hold a 1-D array of integer token ids, got "
                         f"{data.ndim}-D {data.dtype}")
    return data


def get_batch(data, batch_size: int, context_length: int, device: str | torch.device = "cpu",
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), each (batch_size, context_length) int64 on ``device``.

    Start positions are uniform over 0 … len(data) − context_length − 1, the windows whose
    S + 1 tokens (S inputs and the next-token target of the last) lie inside ``data``.
    """
    n = len(data)
    if batch_size < 1 or context_length < 1:
        raise ValueError(f"batch_size and context_length must be >= 1, got {batch_size} and "
                         f"{context_length}")
    if n < context_length + 1:
        raise ValueError(f"the token array holds {n} tokens, shorter than context_length + 1 = "
                         f"{context_length + 1} (one window and its next-token target); use a "
                         f"larger corpus or a shorter context")
    starts = torch.randint(0, n - context_length, (batch_size,), generator=generator)
    idx = starts.numpy()[:, None] + np.arange(context_length + 1)            # (B, S+1)
    chunk = torch.from_numpy(np.asarray(data[idx]).astype(np.int64))
    x, y = chunk[:, :-1], chunk[:, 1:]
    if torch.device(device).type != "cpu":
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x.contiguous(), y.contiguous()


# --------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                     iteration: int, **extra) -> dict:
    """What a checkpoint holds: model and optimizer state, iteration, the model's config."""
    config = getattr(model, "config", None)
    return {"model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "iteration": int(iteration),
            "model_config": config.to_dict() if hasattr(config, "to_dict") else None,
            **extra}


def restore_checkpoint_state(state: dict, model: torch.nn.Module,
                             optimizer: torch.optim.Optimizer | None = None) -> int:
    """Load ``state`` into ``model`` (and ``optimizer``); returns the iteration.

    A checkpoint from a different architecture is refused with the differing config fields
    (or, without configs, the differing parameter names and shapes).
    """
    if not isinstance(state, dict) or "model" not in state or "iteration" not in state:
        raise ValueError("not a checkpoint: expected a dict with 'model', 'optimizer' and "
                         "'iteration' (written by save_checkpoint)")
    saved_cfg, cfg = state.get("model_config"), getattr(model, "config", None)
    if saved_cfg is not None and hasattr(cfg, "to_dict"):
        here = cfg.to_dict()
        diff = [f"{k}: checkpoint {saved_cfg.get(k)!r}, model {here.get(k)!r}"
                for k in sorted(set(saved_cfg) | set(here)) if saved_cfg.get(k) != here.get(k)]
        if diff:
            raise ValueError("the checkpoint was saved from a different architecture; differing "
                             "config fields: " + "; ".join(diff))
    own = model.state_dict()
    theirs = state["model"]
    problems = [f"missing {k}" for k in own if k not in theirs][:5]
    problems += [f"unexpected {k}" for k in theirs if k not in own][:5]
    problems += [f"{k}: checkpoint {tuple(theirs[k].shape)}, model {tuple(v.shape)}"
                 for k, v in own.items() if k in theirs and theirs[k].shape != v.shape][:5]
    if problems:
        raise ValueError("the checkpoint does not match this model's architecture: "
                         + "; ".join(problems))
    model.load_state_dict(theirs)
    if optimizer is not None:
        if state.get("optimizer") is None:
            raise ValueError("the checkpoint holds no optimizer state")
        optimizer.load_state_dict(state["optimizer"])
    return int(state["iteration"])


def save_checkpoint(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
                    iteration: int, out, **extra) -> None:
    """Write model, optimizer and iteration to ``out`` (a path, written atomically, or a
    binary file object)."""
    state = checkpoint_state(model, optimizer, iteration, **extra)
    if isinstance(out, (str, Path)):
        from ..runs import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(Path(out), buf.getvalue())
    else:
        torch.save(state, out)


def load_checkpoint(src, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None = None) -> int:
    """Restore ``model`` and ``optimizer`` from ``src`` (path or file object); returns the
    iteration it was saved at."""
    device = next(model.parameters()).device
    state = torch.load(src, map_location=device, weights_only=True)
    return restore_checkpoint_state(state, model, optimizer)


# --------------------------------------------------------------------------------------------
# the training loop


def pick_threads(max_threads: int | None = None, verbose: bool = True) -> int:
    """Set and return torch's intra-op thread count for training on a CPU.

    One thread per core that other processes leave free (measured over half a second with
    ``psutil.cpu_percent``), at least 1 and at most ``max_threads``. On a shared 2-core machine
    two threads that must synchronise at every operation run many times slower than one when
    another process holds a core (``../shared/research/perf_baselines.md`` §0 measured 18× for a
    GPT step at load 7-9). The thread count changes only float rounding, not the results.
    """
    import os

    import psutil

    cores = os.cpu_count() or 1
    want = min(cores, max_threads or cores)
    busy = psutil.cpu_percent(interval=0.5) / 100.0 * cores      # cores used by others now
    n = max(1, min(want, int(cores - busy + 0.5)))
    torch.set_num_threads(n)
    if verbose:
        print(f"torch threads: {n} ({cores} cores, {busy:.1f} of them busy with other work)")
    return n


@dataclass
class TrainConfig:
    """One training run (JSON-able: it is the run store's key)."""

    model: dict                        # TransformerConfig fields
    train_data: str                    # token file (.npy or raw data_dtype)
    val_data: str = ""                 # "" -> no validation
    data_dtype: str = "uint16"
    batch_size: int = 32
    max_iters: int = 1000
    lr_max: float = 1e-3
    lr_min: float | None = None        # None -> lr_max / 10
    warmup_iters: int = 0
    cosine_iters: int | None = None    # None -> max_iters
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    decay: str = "all"                 # all | linear (Linear weights only, as minGPT)
    grad_clip: float = 1.0             # 0 -> no clipping
    eval_interval: int = 100           # also evaluated before the first step
    eval_iters: int = 10               # validation batches per evaluation (the same each time)
    eval_batch_size: int | None = None
    checkpoint_interval: int = 100     # 0 -> never (only with a run context)
    divergence_factor: float = 1.5     # stop once the 10-step mean loss > factor × first loss
    max_train_s: float = 0.0           # wall-clock budget of training steps, s (0 -> none)
    seed: int = 0
    device: str = "cpu"
    tensorboard: str = ""              # a log folder; needs the tensorboard package
    keep_model: bool = True            # return the final weights in the result
    tag: str = ""                      # free label (e.g. a data fingerprint), part of the key
    version: int = 1

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if isinstance(d, cls):
            return d
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown training config key(s) {unknown}; valid keys: {names}")
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.name not in d]
        if missing:
            raise ValueError(f"training config lacks required key(s) {missing}")
        cfg = cls(**d)
        cfg.check()
        return cfg

    def check(self) -> None:
        for name in ("batch_size", "max_iters", "eval_interval", "eval_iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.warmup_iters < 0 or self.checkpoint_interval < 0:
            raise ValueError("warmup_iters and checkpoint_interval must be >= 0")
        if self.cosine_end < self.warmup_iters:
            raise ValueError(f"cosine_iters ({self.cosine_end}) must be >= warmup_iters "
                             f"({self.warmup_iters})")
        if not self.lr_max >= 0 or not (self.lr_min is None or self.lr_min >= 0):
            raise ValueError(f"learning rates must be >= 0, got lr_max={self.lr_max}, "
                             f"lr_min={self.lr_min}")
        if self.decay not in ("all", "linear"):
            raise ValueError(f"unknown decay {self.decay!r}; allowed: 'all', 'linear'")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        if not self.max_train_s >= 0:
            raise ValueError(f"max_train_s must be >= 0 (0 = no budget), got {self.max_train_s}")
        TransformerConfig.from_dict(self.model)

    @property
    def cosine_end(self) -> int:
        return self.max_iters if self.cosine_iters is None else self.cosine_iters

    @property
    def final_lr(self) -> float:
        return self.lr_max / 10 if self.lr_min is None else self.lr_min


class TrainingInterrupted(RuntimeError):
    """Raised by ``train_lm(..., stop_after=k)`` after iteration k (tests simulate a kill)."""


def param_groups(model: torch.nn.Module, weight_decay: float, decay: str = "all") -> list:
    """AdamW groups: every parameter decayed (``all``, CS336) or only the Linear weight
    matrices (``linear``: no decay on norms, embeddings and position tables, as minGPT)."""
    if decay == "all":
        return [{"params": [p for p in model.parameters()], "weight_decay": weight_decay}]
    from ..nn.layers import Linear

    linear = {id(m.weight) for m in model.modules() if isinstance(m, Linear)}
    params = list(model.parameters())         # unique (a tied matrix appears once)
    yes = [p for p in params if id(p) in linear]   # a tied LM head/embedding counts as Linear
    no = [p for p in params if id(p) not in linear]
    return [{"params": yes, "weight_decay": weight_decay}, {"params": no, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model: TransformerLM, data, batch_size: int, context_length: int, batches: int,
             device="cpu", seed: int = 1234) -> float:
    """Mean loss over ``batches`` validation batches drawn with a fixed seed (the same
    windows at every evaluation and for every run, so curves are comparable)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(batches):
        x, y = get_batch(data, batch_size, context_length, device, gen)
        total += float(cross_entropy(model(x), y))
    model.train(was_training)
    return total / batches


def _max_id(data, block: int = 1 << 24) -> int:
    """The largest token id. A memmap of a whole file is read with plain reads in blocks, so
    its pages are not left mapped in this process (resident memory stays at one block, not the
    corpus: ``bench/bench_streaming.py``)."""
    path = getattr(data, "filename", None)
    if not (isinstance(data, np.memmap) and path and Path(path).is_file()
            and Path(path).stat().st_size == data.offset + data.nbytes):
        return int(np.max(data))
    hi = 0
    for i in range(0, len(data), block):
        part = np.fromfile(path, dtype=data.dtype, count=min(block, len(data) - i),
                           offset=data.offset + i * data.itemsize)
        hi = max(hi, int(part.max()))
    return hi


def _check_tokens(data, vocab_size: int, context_length: int, what: str) -> None:
    if len(data) < context_length + 1:
        raise ValueError(f"the {what} token file holds {len(data)} tokens, shorter than "
                         f"context_length + 1 = {context_length + 1}")
    hi = _max_id(data)
    if hi >= vocab_size:
        raise ValueError(f"the {what} tokens go up to id {hi}, but the model's vocab_size is "
                         f"{vocab_size}: was the data encoded with a different tokenizer?")


def _tensorboard(logdir: str):
    if not logdir:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard logging was requested but the 'tensorboard' package is not "
                      "installed (pip install tensorboard); continuing without it", stacklevel=3)
        return None
    return SummaryWriter(logdir)


def train_lm(config: dict, ctx=None, *, stop_after: int | None = None,
             progress_bar: bool = True) -> dict:
    """Train a :class:`TransformerLM` as ``config`` (a :class:`TrainConfig` dict) says.

    ``ctx`` (a ``utils.runs.RunContext``) enables checkpoints and resume. Returns a dict with
    the ``history`` (per-iteration ``loss``, ``lr``, ``grad_norm``; ``val_iter``/``val_loss`` and
    ``val_wall_s``, the run's wall-clock seconds at each evaluation, resumes included),
    ``final_val_loss``, ``diverged``, ``iterations``, ``n_params``, ``tokens_per_s``,
    ``wall_s``, ``cpu_s`` (this process's CPU seconds) and (``keep_model``) the final
    ``model_state``.
    """
    from ..progress import progress

    cfg = TrainConfig.from_dict(dict(config))
    mcfg = TransformerConfig.from_dict(cfg.model)
    device = torch.device(cfg.device)
    C = mcfg.context_length
    train_data = load_tokens(cfg.train_data, cfg.data_dtype)
    _check_tokens(train_data, mcfg.vocab_size, C, "training")
    val_data = None
    if cfg.val_data:
        val_data = load_tokens(cfg.val_data, cfg.data_dtype)
        _check_tokens(val_data, mcfg.vocab_size, C, "validation")
    eval_bs = cfg.eval_batch_size or cfg.batch_size

    torch.manual_seed(cfg.seed)
    model = TransformerLM(mcfg).to(device)
    opt = AdamW(param_groups(model, cfg.weight_decay, cfg.decay), lr=cfg.lr_max,
                betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay)
    batch_gen = torch.Generator().manual_seed(cfg.seed)
    hist = {"loss": [], "lr": [], "grad_norm": [], "val_iter": [], "val_loss": [],
            "val_wall_s": []}
    start, train_s, wall0, diverged, budget_hit = 0, 0.0, 0.0, False, False

    state = ctx.load_checkpoint() if ctx is not None else None
    if state is not None:
        start = restore_checkpoint_state(state, model, opt)
        batch_gen.set_state(state["batch_rng"])
        torch.set_rng_state(state["torch_rng"])
        hist, train_s, wall0 = state["history"], state["train_s"], state["wall_s"]

    def evaluate_now(it: int):
        if val_data is not None:
            hist["val_iter"].append(it)
            hist["val_loss"].append(evaluate(model, val_data, eval_bs, C, cfg.eval_iters, device))
            hist.setdefault("val_wall_s", []).append(wall0 + time.perf_counter() - t_wall)

    writer = _tensorboard(cfg.tensorboard)
    metrics_path = Path(ctx.dir) / "metrics.jsonl" if ctx is not None else None
    t_wall, cpu0 = time.perf_counter(), time.process_time() - (state or {}).get("cpu_s", 0.0)
    if start == 0:
        evaluate_now(0)
    model.train()
    bar = progress(total=cfg.max_iters, initial=start, desc=f"train (lr {cfg.lr_max:g})",
                   disable=not progress_bar)
    it = start
    for it in range(start, cfg.max_iters):
        t0 = time.perf_counter()
        lr = cosine_schedule(it, cfg.lr_max, cfg.final_lr, cfg.warmup_iters, cfg.cosine_end)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_data, cfg.batch_size, C, device, batch_gen)
        loss = cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            gnorm = float(clip_grad_norm(model.parameters(), cfg.grad_clip))
        else:
            gnorm = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()
                                         if p.grad is not None)))
        opt.step()
        train_s += time.perf_counter() - t0
        loss_f = loss.item()
        hist["loss"].append(loss_f)
        hist["lr"].append(lr)
        hist["grad_norm"].append(gnorm)
        bar.update(1)
        if (it + 1) % 10 == 0:
            bar.set_postfix(loss=f"{loss_f:.3f}", refresh=False)
        if writer is not None:
            writer.add_scalar("train/loss", loss_f, it + 1)
            writer.add_scalar("train/lr", lr, it + 1)
        recent = hist["loss"][-10:]
        if not math.isfinite(loss_f) or (cfg.divergence_factor > 0 and len(recent) == 10 and
                                         sum(recent) / 10 > cfg.divergence_factor
                                         * hist["loss"][0]):
            diverged = True
            break
        done = it + 1
        if done % cfg.eval_interval == 0 or done == cfg.max_iters:
            evaluate_now(done)
            if writer is not None and val_data is not None:
                writer.add_scalar("val/loss", hist["val_loss"][-1], done)
            if metrics_path is not None:
                with open(metrics_path, "a") as fh:
                    fh.write(json.dumps({
                        "iter": done, "train_loss": loss_f, "lr": lr,
                        "val_loss": hist["val_loss"][-1] if val_data is not None else None,
                        "tokens_per_s": (done - start) * cfg.batch_size * C / max(train_s, 1e-9)
                    }) + "\n")
        if ctx is not None and cfg.checkpoint_interval and done % cfg.checkpoint_interval == 0 \
                and done < cfg.max_iters:
            ctx.save_checkpoint(checkpoint_state(
                model, opt, done, batch_rng=batch_gen.get_state(), torch_rng=torch.get_rng_state(),
                history=hist, train_s=train_s, wall_s=wall0 + time.perf_counter() - t_wall,
                cpu_s=time.process_time() - cpu0))
        if stop_after is not None and done == stop_after:
            bar.close()
            raise TrainingInterrupted(f"stopped after iteration {done} (stop_after)")
        if cfg.max_train_s and train_s >= cfg.max_train_s:   # wall-clock budget spent
            if done % cfg.eval_interval:
                evaluate_now(done)
            budget_hit = True
            break
    bar.close()
    if writer is not None:
        writer.close()
    iterations = len(hist["loss"])
    finite_val = [v for v in hist["val_loss"] if math.isfinite(v)]
    result = {
        "config": dataclasses.asdict(cfg),
        "history": hist,
        "iterations": iterations,
        "diverged": diverged,
        "budget_hit": budget_hit,
        "final_train_loss": float(np.mean(hist["loss"][-10:])) if hist["loss"] else float("nan"),
        "final_val_loss": (float("nan") if diverged or not hist["val_loss"]
                           else hist["val_loss"][-1]),
        "best_val_loss": min(finite_val) if finite_val else float("nan"),
        "n_params": model.num_parameters(),
        "tokens_per_s": iterations * cfg.batch_size * C / max(train_s, 1e-9),
        "train_s": train_s,
        "wall_s": wall0 + time.perf_counter() - t_wall,
        "cpu_s": time.process_time() - cpu0,      # this process's CPU time (all its threads)
    }
    if cfg.keep_model:
        result["model_config"] = mcfg.to_dict()
        result["model_state"] = {k: v.detach().cpu().clone() for k, v in
                                 model.state_dict().items()}
    return result


def model_from_result(result: dict) -> TransformerLM:
    """The trained model stored in a ``train_lm`` result (``keep_model=True``), in eval mode."""
    if "model_state" not in result:
        raise ValueError("this result holds no weights: train with keep_model=True")
    model = TransformerLM(TransformerConfig.from_dict(result["model_config"]))
    model.load_state_dict(result["model_state"])
    return model.eval()


# --------------------------------------------------------------------------------------------
# shell entry point

EXAMPLE = {
    "model": {"vocab_size": 10000, "context_length": 256, "d_model": 512, "num_layers": 4,
              "num_heads": 16, "rope_theta": 10000.0},
    "train_data": "data/tinystories_train.bin", "val_data": "data/tinystories_valid.bin",
    "batch_size": 32, "max_iters": 5000, "lr_max": 1e-3, "warmup_iters": 200,
    "eval_interval": 250, "checkpoint_interval": 250,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.train.lm",
                                 description="Train a Transformer LM from a JSON config; run "
                                             "again after a kill to resume.")
    ap.add_argument("--config", help="JSON file with the TrainConfig fields")
    ap.add_argument("--out-dir", help="run store folder (default data/cache/runs/train_lm)")
    ap.add_argument("--example", action="store_true", help="print an example config and exit")
    args = ap.parse_args(argv)
    if args.example:
        print(json.dumps(EXAMPLE, indent=2))
        return 0
    if not args.config:
        ap.error("--config is required (or --example to see one)")
    try:
        config = json.loads(Path(args.config).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the config {args.config}: {exc}", file=sys.stderr)
        return 2
    from ..runs import RunStore

    store = RunStore("train_lm", root=Path(args.out_dir) if args.out_dir else None)
    try:
        TrainConfig.from_dict(config)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = store.run(config, train_lm)
    run_dir = store.root / store.key(config)
    model = model_from_result(result) if "model_state" in result else None
    if model is not None:
        save_checkpoint(model, None, result["iterations"], run_dir / "model.pt")
    print(f"{'reused' if store.hits else 'trained'}: {result['iterations']} iterations, "
          f"final validation loss {result['final_val_loss']:.4f}, "
          f"{result['tokens_per_s']:.0f} tokens/s; results in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
