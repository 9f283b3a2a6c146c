"""The modular-arithmetic trainer (seed 001, problem 4): notebook 10 and the studies 11-16.

``train(config, ctx)`` trains one LSTM or GPT on one split of the equations of
:mod:`utils.data.arithmetic` and returns its **metrics history**, in the starter's layout::

    history["train"]["loss" | "accuracy" | ...]   one value per evaluation step
    history["test"][...]                          the validation split (the starter calls it test)
    history["all_steps"]                          the evaluation steps t
    history["extra"][name]                        per-evaluation extras, e.g. "param_norm" ‖θ_t‖₂

plus the final weights, parameter counts and timings. It is written for the run store:
``RunStore("10_sanity_check").run(config, train)`` reuses a finished run and **resumes** an
interrupted one from its last checkpoint (model, optimizer, data-order generator, RNG state and
history), so a killed run ends with bitwise the same history as an uninterrupted one on CPU.

Defaults (:class:`ArithmeticConfig`) are the original starter code's (research note
``mila_grokking.md``): p = 31, "+", r_train = 0.5, binary equations; 2 layers, d = 128, 4 heads,
FFN multiplier 4; AdamW lr 1e-3, weight decay 1, batch 512 (min(512, N_train): the whole
training set at r_train ≤ 0.5), gradient clipping at norm 1, 10⁴ + 1 steps rounded up to whole
epochs; evaluation at step 0, every step up to 100, then every 100 and at the last step.

Evaluation on the training set is free when one batch is the whole training set and dropout is
0 (the default): the training forward pass of step t + 1 runs the parameters θ_t on exactly the
rows an evaluation would, so its loss and accuracy *are* the evaluation at step t (tested equal
to a separate pass). Only the validation pass costs extra. When the batch is smaller, the
training rows are reshuffled every epoch by a seeded generator, as the starter's DataLoader does.

Also here: :func:`get_extrema_performance_steps` (L = min loss, A = max accuracy, t_f = first
step reaching it, optionally only up to ``T_max``), the per-trials version (mean ± std over
seeds), :func:`summary_row` (the seed's table row, with Δt), and :func:`run_many` (a sweep over
configs, optionally in parallel one-thread worker processes).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..data.arithmetic import check_arguments, get_arithmetic_dataset
from ..nn.gpt import GPT
from ..nn.lstm import LSTMLM
from .losses import get_loss_and_accuracy

MODELS = ("lstm", "gpt")
OPTIMIZERS = ("adamw", "adam", "sgd", "momentum")
ORDER_OF_EQ_POSITION = {3: 2, 5: 3}        # '=' at target index 3: binary; 5: ternary


@dataclass
class ArithmeticConfig:
    """One training run. Defaults: the starter code's ``Arguments`` (seed 42 as there)."""

    # data
    p: int = 31
    operator: str = "+"
    r_train: float = 0.5
    operation_orders: Any = 2                 # 2, 3 or [2, 3]
    # model
    model: str = "lstm"                       # "lstm" or "gpt"
    num_layers: int = 2                       # L
    embedding_size: int = 128                 # d (GPT d_model; LSTM embedding)
    hidden_size: int = 128                    # LSTM hidden size (the studies set it to d)
    num_heads: int = 4                        # GPT only
    multiplier: int = 4                       # GPT FFN width / d
    dropout: float = 0.0
    share_embeddings: bool = False
    bias_classifier: bool = True
    # optimisation
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1.0
    max_grad_norm: float = 1.0
    train_batch_size: int = 512
    eval_batch_size: int = 4096
    n_steps: int = 10 ** 4 + 1
    # evaluation schedule: step 0, every step ≤ eval_first, every eval_period, the last step,
    # and any step listed in eval_steps (e.g. a compute budget T_max = α·T)
    eval_first: int = 100
    eval_period: int = 100
    eval_steps: list = field(default_factory=list)
    track_param_norm: bool = False            # record ‖θ_t‖₂ at every evaluation
    keep_states: list = field(default_factory=list)   # also return θ_t at these steps
    # stop at the first evaluation with validation accuracy >= this (0: train all n_steps);
    # the calibration of notebook 10 measures t_f(A_val >= 0.99) and needs nothing after it
    stop_at_val_accuracy: float = 0.0
    seed: int = 42
    version: int = 1                          # bump when the meaning of a result changes


def make_config(**overrides) -> dict:
    """The defaults with ``overrides`` applied, checked, as a plain dict for the run store."""
    names = {f.name for f in dataclasses.fields(ArithmeticConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; allowed: {sorted(names)}")
    config = dataclasses.asdict(ArithmeticConfig(**overrides))
    check_config(config)
    return config


def check_config(config: Mapping) -> None:
    """Raise a clear error for any value the trainer cannot use."""
    c = config
    check_arguments(c["p"], c["p"], c["operator"], c["r_train"], c["operation_orders"])
    if c["model"] not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {c['model']!r}")
    if c["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got "
                         f"{c['optimizer']!r}")
    for name in ("num_layers", "embedding_size", "hidden_size", "num_heads", "train_batch_size",
                 "eval_batch_size", "n_steps", "eval_period"):
        v = c[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if c["model"] == "gpt" and c["embedding_size"] % c["num_heads"]:
        raise ValueError(f"embedding_size (d_model={c['embedding_size']}) must be divisible by "
                         f"num_heads={c['num_heads']}")
    for name in ("lr", "weight_decay", "max_grad_norm"):
        if not isinstance(c[name], (int, float)) or not c[name] >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {c[name]!r}")
    if not 0 <= c["dropout"] < 1:
        raise ValueError(f"dropout must be in [0, 1), got {c['dropout']!r}")
    stop = c.get("stop_at_val_accuracy", 0.0)
    if isinstance(stop, bool) or not isinstance(stop, (int, float)) or not 0 <= stop <= 1:
        raise ValueError(f"stop_at_val_accuracy must be in [0, 1] (0: never stop early), got "
                         f"{stop!r}")
    if not isinstance(c["eval_first"], int) or c["eval_first"] < 0:
        raise ValueError(f"eval_first must be an int >= 0, got {c['eval_first']!r}")
    for name in ("eval_steps", "keep_states"):
        if not all(isinstance(s, int) and s >= 0 for s in c[name]):
            raise ValueError(f"{name} must be a list of steps (ints >= 0), got {c[name]!r}")


# ---------------------------------------------------------------------------------------------
# building blocks


def build_data(config: Mapping):
    """(train, valid) tensors (inputs, targets, eq_positions, mask), the tokenizer, S, PAD."""
    (train_ds, valid_ds), tokenizer, max_length, pad = get_arithmetic_dataset(
        config["p"], config["p"], config["operator"], config["r_train"],
        config["operation_orders"], is_symmetric=False, shuffle=True, seed=config["seed"])
    return train_ds.tensors, valid_ds.tensors, tokenizer, max_length, pad


def build_model(config: Mapping, vocabulary_size: int, max_length: int, padding_index: int,
                fast: bool = True) -> torch.nn.Module:
    """The LSTMLM or GPT of the config (biases on, as the starter hard-codes)."""
    c = config
    if c["model"] == "lstm":
        return LSTMLM(vocabulary_size, c["embedding_size"], c["hidden_size"], c["num_layers"],
                      dropout=c["dropout"], padding_index=padding_index, bias_lstm=True,
                      bias_classifier=c["bias_classifier"],
                      share_embeddings=c["share_embeddings"], fused=fast)
    return GPT(c["num_heads"], c["num_layers"], c["embedding_size"], vocabulary_size,
               max_length, multiplier=c["multiplier"], dropout=c["dropout"],
               non_linearity="gelu", padding_index=padding_index, bias_attention=True,
               bias_classifier=c["bias_classifier"], share_embeddings=c["share_embeddings"],
               fast=fast)


def build_optimizer(config: Mapping, params) -> torch.optim.Optimizer:
    c = config
    if c["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=c["lr"], weight_decay=c["weight_decay"])
    if c["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=c["lr"], weight_decay=c["weight_decay"])
    if c["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=c["lr"], weight_decay=c["weight_decay"])
    return torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"],
                           weight_decay=c["weight_decay"])


def count_parameters(model: torch.nn.Module) -> dict:
    """All trainable parameters, and P: without the token (and position) embeddings."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_emb = sum(p.numel() for p in model.embedding.parameters() if p.requires_grad)
    return {"n_params": n, "n_params_embedding": n_emb, "P": n - n_emb}


def param_norm(model: torch.nn.Module) -> float:
    """‖θ‖₂ over all parameters (a tied weight counted once)."""
    with torch.no_grad():
        return float(torch.sqrt(sum((p.double() ** 2).sum() for p in model.parameters())))


def metrics_from_samples(loss: torch.Tensor, accuracy: torch.Tensor,
                         eq_positions: torch.Tensor) -> dict:
    """Mean loss/accuracy over per-sample values, and per operation order when there are two."""
    out = {"loss": float(loss.mean()), "accuracy": float(accuracy.mean())}
    positions = torch.unique(eq_positions).tolist()
    if len(positions) > 1:
        for pos in positions:
            rows = eq_positions == pos
            order = ORDER_OF_EQ_POSITION.get(pos, pos)
            out[f"loss_order{order}"] = float(loss[rows].mean())
            out[f"accuracy_order{order}"] = float(accuracy[rows].mean())
    return out


def rhs_start(eq_positions: torch.Tensor) -> int:
    """The first target position that any equation scores (its '=' position + 1)."""
    return int(eq_positions.min()) + 1


def rhs_loss(model: torch.nn.Module, inputs, targets, eq_positions, mask, start: int = 0):
    """Per-equation loss and accuracy (reduction 'none'), the model computing logits only from
    position ``start`` on (0: all positions). Identical values: earlier logits are never scored."""
    logits, *_ = model(inputs, from_position=start) if start else model(inputs)
    return get_loss_and_accuracy(logits, targets[:, start:], eq_positions - start,
                                 mask[:, start:], reduction="none")


@torch.no_grad()
def evaluate(model: torch.nn.Module, tensors, batch_size: int, rhs_only: bool = True) -> dict:
    """Loss and accuracy of ``model`` on a whole split, in batches of ``batch_size``."""
    was_training = model.training
    model.eval()
    inputs, targets, eq_positions, mask = tensors
    start = rhs_start(eq_positions) if rhs_only else 0
    losses, accs = [], []
    for first in range(0, len(inputs), batch_size):
        sl = slice(first, first + batch_size)
        loss, acc = rhs_loss(model, inputs[sl], targets[sl], eq_positions[sl], mask[sl], start)
        losses.append(loss)
        accs.append(acc)
    model.train(was_training)
    return metrics_from_samples(torch.cat(losses), torch.cat(accs), eq_positions)


def evaluation_steps(config: Mapping, n_steps: int) -> set:
    """The steps at which the run is evaluated (0 = before any update)."""
    steps = {0, n_steps, *range(1, min(config["eval_first"], n_steps) + 1),
             *range(config["eval_period"], n_steps + 1, config["eval_period"])}
    return steps | {s for s in config["eval_steps"] if s <= n_steps}


# ---------------------------------------------------------------------------------------------
# the training loop


def train(config: Mapping, ctx=None, *, device: str = "cpu", checkpoint_every: int = 500,
          progress: bool | str = False, metric_fns: Mapping[str, Callable] | None = None,
          callback: Callable[[int], None] | None = None, fast: bool = True) -> dict:
    """Train one run and return its history (see the module docstring).

    ``ctx``: a :class:`utils.runs.RunContext` (from ``RunStore.run``) to checkpoint every
    ``checkpoint_every`` steps and resume. ``metric_fns``: extra ``name -> fn(model) -> float``
    recorded at every evaluation in ``history["extra"]``. ``callback(step)`` runs after every
    step (the tests use it to interrupt a run). ``fast`` picks the models' fast paths and
    computes logits only from the first right-hand-side position on (same numbers up to float
    rounding; see ``tests/test_lstm.py``, ``tests/test_gpt.py`` and ``test_arithmetic.py``).
    """
    config = dict(config)
    check_config(config)
    t_start, c_start = time.perf_counter(), time.process_time()
    from ..seeding import seed_everything

    seed_everything(config["seed"])
    train_t, valid_t, tokenizer, max_length, pad = build_data(config)
    train_t = tuple(t.to(device) for t in train_t)
    valid_t = tuple(t.to(device) for t in valid_t)
    model = build_model(config, len(tokenizer), max_length, pad, fast=fast).to(device)
    optimizer = build_optimizer(config, model.parameters())
    counts = count_parameters(model)

    n_train = len(train_t[0])
    batch_size = min(config["train_batch_size"], n_train)
    batches_per_epoch = math.ceil(n_train / batch_size)
    total_epochs = math.ceil(config["n_steps"] / batches_per_epoch)
    n_steps = total_epochs * batches_per_epoch                       # whole epochs, as starter
    eval_at = evaluation_steps(config, n_steps)
    keep_at = set(config["keep_states"])
    # The training forward pass doubles as the evaluation on the training set when it sees the
    # whole set in the evaluation's order with the evaluation's arithmetic (no dropout).
    free_train_eval = batches_per_epoch == 1 and config["dropout"] == 0
    order_gen = torch.Generator().manual_seed(config["seed"])        # shuffles batches
    start = rhs_start(train_t[2]) if fast else 0                     # first scored position

    history = {"train": {}, "test": {}, "all_steps": [], "steps_epoch": {}, "extra": {}}
    states: dict[int, dict] = {}
    step, wall_before, cpu_before = 0, 0.0, 0.0
    metric_fns = dict(metric_fns or {})

    def record(split: str, metrics: dict) -> None:
        for k, v in metrics.items():
            history[split].setdefault(k, []).append(v)

    def record_eval(step_: int, epoch: int, train_metrics: dict | None) -> None:
        history["all_steps"].append(step_)
        history["steps_epoch"][step_] = epoch
        record("test", evaluate(model, valid_t, config["eval_batch_size"], rhs_only=fast))
        if train_metrics is not None:
            record("train", train_metrics)
        extras = dict(param_norm=param_norm(model)) if config["track_param_norm"] else {}
        extras.update({name: float(fn(model)) for name, fn in metric_fns.items()})
        for k, v in extras.items():
            history["extra"].setdefault(k, []).append(v)
        if step_ in keep_at:
            states[step_] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def owed() -> bool:            # train metrics of the last evaluation not recorded yet
        return len(history["train"].get("loss", [])) < len(history["all_steps"])

    perm = None                                                       # this epoch's order
    ckpt = ctx.load_checkpoint() if ctx is not None else None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        order_gen.set_state(ckpt["order_gen"])
        torch.set_rng_state(ckpt["torch_rng"])
        history, states, step = ckpt["history"], ckpt["states"], ckpt["step"]
        perm = ckpt["perm"]
        wall_before, cpu_before = ckpt["wall_s"], ckpt.get("cpu_s", 0.0)
    else:
        record_eval(0, 0, None if free_train_eval else evaluate(
            model, train_t, config["eval_batch_size"], rhs_only=fast))

    bar = None
    if progress:
        from ..progress import progress as _progress

        label = progress if isinstance(progress, str) else f"{config['model']} seed {config['seed']}"
        bar = _progress(total=n_steps, desc=label, initial=step)
    t_loop = time.perf_counter()
    step0 = step
    model.train()
    while step < n_steps:
        epoch, i = divmod(step, batches_per_epoch)                   # 0-based epoch, batch i
        if batches_per_epoch > 1:
            if i == 0:                                               # a new epoch: reshuffle
                perm = torch.randperm(n_train, generator=order_gen)
            rows = perm[i * batch_size:(i + 1) * batch_size].to(device)
            batch = tuple(t[rows] for t in train_t)
        else:
            batch = train_t
        inputs, targets, eq_positions, mask = batch
        optimizer.zero_grad(set_to_none=True)
        loss_each, acc_each = rhs_loss(model, inputs, targets, eq_positions, mask, start)
        loss = loss_each.mean()
        if free_train_eval and owed():
            record("train", metrics_from_samples(loss_each.detach(), acc_each, eq_positions))
        loss.backward()
        if config["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=config["max_grad_norm"])
        optimizer.step()
        step += 1
        if step in eval_at:
            last = step == n_steps
            record_eval(step, epoch + 1, evaluate(model, train_t, config["eval_batch_size"],
                                                  rhs_only=fast)
                        if (last or not free_train_eval) else None)
            stop = config.get("stop_at_val_accuracy", 0.0)
            if stop and not last and history["test"]["accuracy"][-1] >= stop:
                if owed():                  # the free training evaluation of this step
                    record("train", evaluate(model, train_t, config["eval_batch_size"],
                                             rhs_only=fast))
                n_steps = step              # the run ends here, as if T had been this step
                break
        if bar is not None:
            bar.update(1)
        if ctx is not None and checkpoint_every and step % checkpoint_every == 0 \
                and step < n_steps:
            ctx.save_checkpoint({
                "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "order_gen": order_gen.get_state(), "perm": perm,
                "torch_rng": torch.get_rng_state(),
                "history": history, "states": states,
                "wall_s": wall_before + time.perf_counter() - t_start,
                "cpu_s": cpu_before + time.process_time() - c_start})
        if callback is not None:
            callback(step)
    if bar is not None:
        bar.close()
    loop_s = time.perf_counter() - t_loop
    return {
        **history,
        "n_steps": n_steps,
        "config": config,
        **counts,
        "data": {"n_train": n_train, "n_valid": len(valid_t[0]), "max_length": max_length,
                 "vocabulary": list(tokenizer.itos), "batch_size": batch_size},
        "final_state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "states": states,
        "wall_s": wall_before + time.perf_counter() - t_start,
        "cpu_s": cpu_before + time.process_time() - c_start,   # this process's CPU time
        "step_s": loop_s / max(step - step0, 1),
    }


def load_model(result: Mapping, state: Mapping | None = None) -> tuple[torch.nn.Module, Any]:
    """Rebuild a trained model (final weights, or ``state``) and its tokenizer from a result."""
    from ..data.arithmetic import Tokenizer

    config = result["config"]
    tokenizer = Tokenizer(result["data"]["vocabulary"])
    model = build_model(config, len(tokenizer), result["data"]["max_length"],
                        tokenizer.stoi["PAD"])
    model.load_state_dict(state if state is not None else result["final_state"])
    return model.eval(), tokenizer


# ---------------------------------------------------------------------------------------------
# reading a history: the seed's L, A, t_f and Δt


def get_extrema_performance_steps(all_metrics: Mapping, T_max: float | None = None) -> dict:
    """Min train/test loss, max train/test accuracy and the **first** step reaching each.

    Only evaluation steps ≤ ``T_max`` count when it is given (a compute budget α·T).
    Keys as in the starter: ``min_train_loss``, ``min_train_loss_step``, ``min_test_loss``, ...,
    ``max_test_accuracy_step``, ``T_max_index`` (how many evaluation points were kept).
    """
    steps = list(all_metrics["all_steps"])
    n = len(steps) if T_max is None else int((np.asarray(steps) <= T_max).sum())
    if n == 0:
        raise ValueError(f"T_max={T_max} keeps no evaluation step (the first is {steps[0]})")
    out = {}
    for split, name in (("train", "train"), ("test", "test")):
        for metric, how in (("loss", "min"), ("accuracy", "max")):
            values = list(all_metrics[split][metric][:n])
            best = min(values) if how == "min" else max(values)
            out[f"{how}_{name}_{metric}"] = float(best)
            out[f"{how}_{name}_{metric}_step"] = steps[values.index(best)]
    out["T_max_index"] = n
    return out


def get_extrema_performance_steps_per_trials(all_metrics, T_max: float | None = None,
                                             ddof: int = 1) -> dict:
    """Mean and std over trials (seeds) of every value of :func:`get_extrema_performance_steps`.

    ``all_metrics`` is a list of histories, or the starter's per-trials dict (each leaf a list
    over trials). ``ddof=1``: the sample std used everywhere in the pack (the starter's
    ``np.std`` is ``ddof=0``). Returns ``<key>`` (mean) and ``<key>_std``, and ``T_max_indexes``.
    """
    if isinstance(all_metrics, Mapping):
        k = len(all_metrics["all_steps"])
        trials = [{"all_steps": all_metrics["all_steps"][i],
                   "train": {m: v[i] for m, v in all_metrics["train"].items()},
                   "test": {m: v[i] for m, v in all_metrics["test"].items()}} for i in range(k)]
    else:
        trials = list(all_metrics)
    if not trials:
        raise ValueError("need at least one trial")
    per = [get_extrema_performance_steps(t, T_max) for t in trials]
    out = {}
    for key in per[0]:
        if key == "T_max_index":
            continue
        values = np.array([p[key] for p in per], dtype=float)
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=ddof)) if len(values) > ddof else 0.0
    out["T_max_indexes"] = [p["T_max_index"] for p in per]
    return out


SUMMARY_COLUMNS = {             # column -> (label, best)
    "L_train": ("L_train", "min"), "L_val": ("L_val", "min"),
    "A_train": ("A_train", "max"), "A_val": ("A_val", "max"),
    "tf_L_train": ("t_f(L_train)", "min"), "tf_L_val": ("t_f(L_val)", "min"),
    "tf_A_train": ("t_f(A_train)", "min"), "tf_A_val": ("t_f(A_val)", "min"),
    "dt_L": ("Δt(L)", None), "dt_A": ("Δt(A)", None),
}


def summary_row(history: Mapping, T_max: float | None = None) -> dict:
    """The seed's per-run numbers: L, A, t_f and Δt(·) = t_f(val) − t_f(train)."""
    e = get_extrema_performance_steps(history, T_max)
    row = {"L_train": e["min_train_loss"], "L_val": e["min_test_loss"],
           "A_train": e["max_train_accuracy"], "A_val": e["max_test_accuracy"],
           "tf_L_train": e["min_train_loss_step"], "tf_L_val": e["min_test_loss_step"],
           "tf_A_train": e["max_train_accuracy_step"], "tf_A_val": e["max_test_accuracy_step"]}
    row["dt_L"] = row["tf_L_val"] - row["tf_L_train"]
    row["dt_A"] = row["tf_A_val"] - row["tf_A_train"]
    return row


def first_step_reaching(history: Mapping, split: str, metric: str, threshold: float,
                        above: bool = True) -> int | None:
    """The first evaluation step at which ``metric`` ≥ threshold (or ≤ if not ``above``)."""
    for s, v in zip(history["all_steps"], history[split][metric]):
        if (v >= threshold) if above else (v <= threshold):
            return s
    return None


# ---------------------------------------------------------------------------------------------
# many runs


def run_many(store, configs: Sequence[Mapping], workers: int = 1, desc: str | None = None,
             threads: int | None = None, **train_kwargs) -> list[dict]:
    """Results of ``train`` for every config (in order), computing only the missing ones, through
    the pack's one sweep engine (:func:`utils.sweep.sweep`).

    ``workers > 1`` trains the missing runs in that many one-thread worker processes (or on the
    backend ``COURSEPACK_BACKEND`` names, e.g. a Dask cluster); independent runs on a 2-core
    CPU: about 1.16× the throughput of one two-thread process; a one-thread run can differ from
    a two-thread run of the same config in the last float bits. ``workers`` = 1 trains in this
    process; ``threads`` then sets torch's thread count (on a busy machine one thread avoids
    OpenMP threads waiting for each other at every small operation). ``train_kwargs`` go to
    :func:`train` (e.g. ``checkpoint_every``; a per-run ``progress`` bar only in this process).
    """
    from ..sweep import sweep

    configs = [dict(c) for c in configs]
    for c in configs:
        check_config(c)
    kwargs = dict(train_kwargs)
    if workers > 1:
        kwargs.pop("progress", None)                 # the sweep's own bar counts the runs
    return sweep(store, configs, train, backend=None if workers > 1 else "local",
                 workers=workers, desc=desc, threads=threads, fn_kwargs=kwargs or None)
