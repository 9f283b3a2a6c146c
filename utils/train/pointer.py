"""Training a Transformer encoder on pointer chasing (notebook 35, seed 000 question 6).

The task is :mod:`utils.data.pointer_chasing` (given a permutation f of [m] as pair tokens and a
hop count k, output f^k(a) at every pair position). The model is the pack's
:class:`~utils.nn.encoder.TokenEncoder` over the one-hot tokens [key | value | k], bidirectional
attention (``causal=False``), no positional encoding (the pairs are a set), per-token outputs
(``pool="none"``) over the m answers. Each step draws a fresh batch (no sample is seen twice, so
there is no train/test gap to separate): the loss is the cross-entropy over the m pair
positions, AdamW with a linear warm-up and a cosine decay, gradients clipped at norm 1.

``train_pointer(config, ctx)`` is a run-store function (``RunStore.run(config, train_pointer)``);
:func:`accuracy_by_k` scores a model on a fixed test set, also inside
``utils.nn.transformer_lm.lesion``.
"""

from __future__ import annotations

import time

import torch

from ..data import pointer_chasing as pc
from ..nn.encoder import TokenEncoder
from ..nn.transformer_lm import TransformerConfig
from .lm import cross_entropy
from .optim import AdamW, cosine_schedule, optimizer_step

DEFAULTS = {"m": 12, "ks": [1, 2, 4, 8], "d_model": 64, "num_heads": 4, "num_layers": 3,
            "steps": 1000, "batch_size": 64, "lr": 3e-3, "weight_decay": 0.01,
            "warmup_frac": 0.05, "residual": True, "test_n": 2000}
TEST_SEED = 12345      # the one test set every model is scored on


def model_config(config: dict) -> TransformerConfig:
    c = {**DEFAULTS, **config}
    return TransformerConfig(vocab_size=1, context_length=c["m"] + 1, d_model=c["d_model"],
                             num_layers=c["num_layers"], num_heads=c["num_heads"], causal=False,
                             positions="none", residual=c["residual"])


def make_model(config: dict) -> TokenEncoder:
    """The encoder for ``config`` (keys of :data:`DEFAULTS`), untrained."""
    c = {**DEFAULTS, **config}
    return TokenEncoder(model_config(c), d_in=2 * c["m"] + max(c["ks"]), d_out=c["m"],
                        pool="none")


def pair_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the pair positions (the hop token at position 0 has no label)."""
    return cross_entropy(outputs[:, 1:], targets[:, 1:])          # (B, m, m) vs (B, m)


@torch.no_grad()
def accuracy_by_k(model: TokenEncoder, m: int, ks, n: int = 2000,
                  seed: int = TEST_SEED) -> dict[int, float]:
    """Per-position accuracy for each hop count k on ``n`` test sequences per k (fixed seed)."""
    was = model.training
    model.eval()
    k_max = model.d_in - 2 * m
    out = {}
    for k in ks:
        g = torch.Generator().manual_seed(seed + int(k))
        tokens, targets, _, _ = pc.sample_batch(n, m, [int(k)], g)
        pred = model(pc.one_hot_inputs(tokens, m, k_max))[:, 1:].argmax(-1)      # (n, m)
        out[int(k)] = float((pred == targets[:, 1:]).float().mean())
    model.train(was)
    return out


def train_pointer(config: dict, ctx=None) -> dict:
    """Train one encoder as ``config`` says (plus ``seed``); returns the weights, the loss
    curve, the test accuracy per k, the parameter count and the CPU / wall seconds."""
    c = {**DEFAULTS, **{k: v for k, v in config.items() if k != "version"}}
    unknown = sorted(set(c) - set(DEFAULTS) - {"seed"})
    if unknown:
        raise ValueError(f"unknown pointer-chasing config key(s) {unknown}; valid: "
                         f"{sorted(DEFAULTS) + ['seed']}")
    torch.manual_seed(c["seed"])
    model = make_model(c)
    opt = AdamW(model.parameters(), lr=c["lr"], betas=(0.9, 0.95),
                weight_decay=c["weight_decay"])
    gen = torch.Generator().manual_seed(c["seed"])
    k_max, steps = max(c["ks"]), c["steps"]
    warmup = int(c["warmup_frac"] * steps)
    losses = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model.train()
    for it in range(steps):
        tokens, targets, _, _ = pc.sample_batch(c["batch_size"], c["m"], c["ks"], gen)
        loss = pair_loss(model(pc.one_hot_inputs(tokens, c["m"], k_max)), targets)
        optimizer_step(opt, loss, cosine_schedule(it, c["lr"], c["lr"] / 10, warmup, steps),
                       max_norm=1.0)
        losses.append(loss.item())
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"model_state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "loss": losses, "acc": accuracy_by_k(model, c["m"], c["ks"], n=c["test_n"]),
            "n_params": model.num_parameters(), "cpu_s": cpu_s, "wall_s": wall_s}


def model_from_result(config: dict, result: dict) -> TokenEncoder:
    """The trained encoder of a ``train_pointer`` result, in eval mode."""
    model = make_model(config)
    model.load_state_dict(result["model_state"])
    return model.eval()
