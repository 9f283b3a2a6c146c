"""Train short, test long: the runs of notebook 30 (seed 000, question Q1).

Two run functions for :class:`utils.runs.RunStore` (``fn(config, ctx) -> result``), each training
one model from the pack (:class:`utils.nn.transformer_lm.TransformerLM` with a choice of
positions, or :class:`utils.nn.lstm.LSTMLM` at a matched parameter count) on short sequences and
measuring it on longer ones:

* :func:`train_task`: a synthetic task of :mod:`utils.data.length_tasks` (parity, modular
  counting, associative recall). Training draws one length per batch uniformly from
  ``[min_length, train_length]`` (one length-mixed stream, as Delétang et al., 2023); the test
  measures the accuracy at each test length S on fresh sequences, over the scored positions in
  the second half of the sequence (t ≥ S/2: for S ≥ 2·train_length all of them lie beyond the
  training length).
* :func:`train_char_lm`: a character language model on the Shakespeare corpus
  (:mod:`utils.data.corpora`, :mod:`utils.data.chars`) trained on windows of ``context``
  characters and evaluated with windows of ``eval_length`` characters: the loss in bits per
  character at every position of the window (the curve of Press et al., 2022, Fig. 1), and
  with a sliding window of ``context`` characters over the second half of the window.

A Transformer meant to be tested past its training length is built with ``context_length`` =
the longest test length (its sinusoidal table and RoPE angles cover every test position; they
are functions of the position, not trained tables). A learned position table has only
``train_length`` rows: evaluation beyond it is *not defined* and is stored as NaN, never
computed by extending or clamping the table.

Sweeps of these runs go through the pack's one sweep engine (``store.sweep``, i.e.
:func:`utils.sweep.sweep`): missing runs in one-thread worker processes, reruns reuse
finished runs and an interrupted sweep resumes.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..data import length_tasks
from ..nn.lstm import LSTMLM, lstm_lm_parameter_count
from ..nn.transformer_lm import TransformerConfig, TransformerLM
from ..seeding import generator, seed_everything
from .lm import cross_entropy, get_batch
from .optim import AdamW, cosine_schedule, optimizer_step

TRANSFORMER_POSITIONS = ("sinusoidal", "learned", "rope", "alibi", "none")
MODELS = TRANSFORMER_POSITIONS + ("lstm",)
LABELS = {"sinusoidal": "Transformer, sinusoidal", "learned": "Transformer, learned",
          "rope": "Transformer, RoPE", "alibi": "Transformer, ALiBi",
          "none": "Transformer, NoPE", "lstm": "LSTM"}


# ---------------------------------------------------------------------------------------------
# models


def transformer_config(positions: str, vocab_size: int, d_model: int, num_layers: int,
                       num_heads: int, context_length: int) -> TransformerConfig:
    """The pack's default pre-norm RMSNorm / SwiGLU Transformer with the given positions, with
    torch's fused attention kernel (the same function, faster on long test sequences)."""
    return TransformerConfig(vocab_size=vocab_size, context_length=context_length,
                             d_model=d_model, num_layers=num_layers, num_heads=num_heads,
                             positions=positions, attention="flash")


def matched_lstm_hidden(vocab_size: int, d_model: int, num_layers: int, num_heads: int) -> int:
    """Hidden size h of a one-layer LSTM LM (embedding d_model) whose parameter count is closest
    to the Transformer's without position parameters (NoPE, RoPE, ALiBi and sinusoidal have the
    same count; a learned table adds context_length · d_model)."""
    target = TransformerLM(transformer_config("none", vocab_size, d_model, num_layers, num_heads,
                                              8)).num_parameters()
    return min(range(4, 8 * d_model),
               key=lambda h: abs(lstm_lm_parameter_count(vocab_size, d_model, h, 1) - target))


def build_model(model: str, vocab_size: int, d_model: int, num_layers: int, num_heads: int,
                train_length: int, max_length: int) -> torch.nn.Module:
    """A Transformer (``model`` = its positions) or the matched LSTM (``model="lstm"``).

    Context length: ``train_length`` for a learned table (its rows past the training length
    would never be trained), else ``max_length`` (the longest test length).
    """
    if model == "lstm":
        h = matched_lstm_hidden(vocab_size, d_model, num_layers, num_heads)
        return LSTMLM(vocab_size, d_model, h, 1)
    if model not in TRANSFORMER_POSITIONS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    ctx = train_length if model == "learned" else max_length
    return TransformerLM(transformer_config(model, vocab_size, d_model, num_layers, num_heads,
                                            ctx))


def logits_of(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Next-token logits (B, S, V) of either model family."""
    out = model(x)
    return out[0] if isinstance(model, LSTMLM) else out


def max_defined_length(model: torch.nn.Module) -> int | float:
    """The longest input the model is defined for: a learned table's size, else unbounded
    (the Transformer's ``context_length`` is set to the longest test length)."""
    if isinstance(model, TransformerLM) and model.config.positions == "learned":
        return model.config.context_length
    return math.inf


def count_parameters(model: torch.nn.Module) -> int:
    if isinstance(model, TransformerLM):
        return model.num_parameters()
    return sum(p.numel() for p in model.parameters())


def _optimizer(model, config):
    return AdamW(model.parameters(), lr=config["lr"], betas=(0.9, 0.98), weight_decay=0.0)


def _lr(step: int, config: dict) -> float:
    T = config["steps"]
    return cosine_schedule(step, config["lr"], config["lr"] / 10, max(1, T // 20), T)


# ---------------------------------------------------------------------------------------------
# experiment A: synthetic tasks


def _train_steps(model: torch.nn.Module, opt, config: dict, step_loss) -> list[float]:
    """``config["steps"]`` AdamW steps on ``step_loss(step)`` (a fresh batch's loss), with the
    warm-up/cosine rate of :func:`_lr` and gradients clipped at norm 1; returns the losses."""
    losses = []
    model.train()
    for step in range(config["steps"]):
        loss = step_loss(step)
        optimizer_step(opt, loss, _lr(step, config), max_norm=1.0)
        losses.append(loss.item())
    return losses


def task_accuracy(model: torch.nn.Module, task: str, length: int, batch_size: int, seed: int,
                  max_length: int) -> dict:
    """Accuracy on ``batch_size`` fresh sequences of one length: over the scored positions of
    the second half (``acc``) and per position (``acc_by_pos``, NaN where nothing is scored);
    NaN throughout when the length exceeds what the model is defined for."""
    if length > max_defined_length(model):
        return {"acc": float("nan"), "acc_by_pos": np.full(length, np.nan)}
    g = generator(seed)
    x, y, mask = length_tasks.make_batch(task, batch_size, length, g, max_length=max_length)
    with torch.no_grad():
        hit = (logits_of(model, x).argmax(-1) == y) & mask                      # (B, S)
    scored = mask.sum(0).numpy()
    by_pos = np.where(scored > 0, hit.sum(0).numpy() / np.maximum(scored, 1), np.nan)
    half = torch.arange(length) >= length // 2
    acc = float(hit[:, half].sum() / mask[:, half].sum())
    return {"acc": acc, "acc_by_pos": by_pos}


def train_task(config: dict, ctx=None) -> dict:
    """Train one model on one task with lengths ≤ train_length; test at every test length.

    Config keys: task, model, seed, steps, batch_size, lr, train_length, test_lengths,
    d_model, num_layers, num_heads, test_batch (and "version").
    """
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    seed_everything(config["seed"])
    task, L_train = config["task"], config["train_length"]
    max_length = max(config["test_lengths"])
    spec = length_tasks.tasks(max_length)[task]
    model = build_model(config["model"], spec.vocab_size, config["d_model"],
                        config["num_layers"], config["num_heads"], L_train, max_length)
    opt = _optimizer(model, config)
    g = generator(config["seed"])

    def step_loss(step: int) -> torch.Tensor:
        length = int(torch.randint(spec.min_length, L_train + 1, (1,), generator=g))
        x, y, mask = length_tasks.make_batch(task, config["batch_size"], length, g,
                                             max_length=max_length)
        return cross_entropy(logits_of(model, x)[mask], y[mask])

    losses = _train_steps(model, opt, config, step_loss)
    train_cpu = time.process_time() - t_cpu
    model.eval()
    tests = {S: task_accuracy(model, task, S, config["test_batch"], 10_000 + S, max_length)
             for S in config["test_lengths"]}
    return {"loss": np.array(losses, dtype=np.float32),
            "acc": {S: r["acc"] for S, r in tests.items()},
            "acc_by_pos": {S: r["acc_by_pos"] for S, r in tests.items()},
            "acc_train_length": task_accuracy(model, task, L_train, config["test_batch"],
                                              20_000, max_length)["acc"],
            "params": count_parameters(model),
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "train_cpu_s": train_cpu, "cpu_s": time.process_time() - t_cpu,
            "wall_s": time.perf_counter() - t_wall}


# ---------------------------------------------------------------------------------------------
# experiment B: character language model


def char_data(max_chars: int, val_fraction: float = 0.1):
    """The first ``max_chars`` characters of the Shakespeare corpus as ids: (train, val, tok)."""
    from ..data.chars import CharTokenizer
    from ..data.corpora import load_corpus, train_val_split

    text = load_corpus("shakespeare")[:max_chars]
    tok = CharTokenizer.from_text(text)
    train, val = train_val_split(text, val_fraction)
    return tok.encode_array(train), tok.encode_array(val), tok


def per_position_bits(model: torch.nn.Module, val: np.ndarray, eval_length: int, windows: int,
                      batch_size: int = 16) -> np.ndarray:
    """Mean loss in bits per character at each position 0 … eval_length−1 of ``windows``
    validation windows (evenly spaced, the same for every model); NaN past a learned table."""
    n_defined = int(min(eval_length, max_defined_length(model)))
    starts = np.linspace(0, len(val) - eval_length - 2, windows).astype(np.int64)
    total = np.zeros(n_defined)
    with torch.no_grad():
        for i in range(0, windows, batch_size):
            idx = starts[i:i + batch_size, None] + np.arange(n_defined + 1)      # (b, S+1)
            chunk = torch.from_numpy(val[idx].astype(np.int64))
            logits = logits_of(model, chunk[:, :-1])                            # (b, S, V)
            nats = cross_entropy(logits, chunk[:, 1:], reduction="none")        # (b, S)
            total += nats.sum(0).double().numpy()
    bits = total / windows / math.log(2)
    return np.concatenate([bits, np.full(eval_length - n_defined, np.nan)])


def sliding_window_bits(model: torch.nn.Module, val: np.ndarray, eval_length: int, windows: int,
                        context: int, stride: int = 4, batch_size: int = 512) -> float:
    """Mean bits/char at positions eval_length/2 … eval_length−1 of the same windows as
    :func:`per_position_bits` (every ``stride``-th position), each predicted from only its last
    ``context`` characters placed at positions 0 … context−1: the model reads the same nearby
    text but never a position it was not trained on (Press et al., 2022, "sliding window")."""
    starts = np.linspace(0, len(val) - eval_length - 2, windows).astype(np.int64)
    targets = np.arange(eval_length // 2, eval_length, stride)                  # positions t
    ends = (starts[:, None] + targets[None, :]).ravel()                         # (windows·T,)
    idx = ends[:, None] + np.arange(-context + 1, 2)                            # (N, context+1)
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(idx), batch_size):
            chunk = torch.from_numpy(val[idx[i:i + batch_size]].astype(np.int64))
            logits = logits_of(model, chunk[:, :-1])[:, -1]                      # (b, V)
            total += float(cross_entropy(logits, chunk[:, -1], reduction="sum"))
            n += len(chunk)
    return total / n / math.log(2)


def train_char_lm(config: dict, ctx=None) -> dict:
    """Train one character LM on windows of ``context`` characters; per-position bits/char on
    windows of ``eval_length``.

    Config keys: model, seed, steps, batch_size, lr, context, eval_length, eval_windows,
    max_chars, d_model, num_layers, num_heads (and "version").
    """
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    seed_everything(config["seed"])
    train, val, tok = char_data(config["max_chars"])
    model = build_model(config["model"], tok.vocab_size, config["d_model"],
                        config["num_layers"], config["num_heads"], config["context"],
                        config["eval_length"])
    opt = _optimizer(model, config)
    g = generator(config["seed"])

    def step_loss(step: int) -> torch.Tensor:
        x, y = get_batch(train, config["batch_size"], config["context"], generator=g)
        return cross_entropy(logits_of(model, x), y)

    losses = _train_steps(model, opt, config, step_loss)
    train_cpu = time.process_time() - t_cpu
    model.eval()
    bits = per_position_bits(model, val, config["eval_length"], config["eval_windows"])
    window = sliding_window_bits(model, val, config["eval_length"], config["eval_windows"],
                                 config["context"])
    return {"loss": np.array(losses, dtype=np.float32), "bits_by_pos": bits,
            "bits_far_sliding": window,
            "params": count_parameters(model), "vocab_size": tok.vocab_size,
            "train_chars": len(train), "val_chars": len(val),
            "train_cpu_s": train_cpu, "cpu_s": time.process_time() - t_cpu,
            "wall_s": time.perf_counter() - t_wall}
