"""AdamW, the cosine learning-rate schedule with warmup, and global-norm gradient clipping.

Taught in notebook 06 (seed 004, CS336 assignment 1: problems ``adamw``,
``learning_rate_schedule``, ``gradient_clipping``); notebook 07 trains with them too.

**AdamW** (Loshchilov & Hutter, 2019, "Decoupled weight decay regularization"; Kingma & Ba,
2015), for each parameter θ with gradient g at step t = 1, 2, …:

    θ ← θ − α λ θ                                  decoupled weight decay (not added to g)
    m ← β₁ m + (1 − β₁) g                          first moment
    v ← β₂ v + (1 − β₂) g²                         second moment
    m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)          bias corrections
    θ ← θ − α m̂ / (sqrt(v̂) + ε)

This is the order and the ε placement of ``torch.optim.AdamW`` (tests check agreement to 1e-6
over many steps). The CS336 handout folds the corrections into α_t = α sqrt(1−β₂ᵗ)/(1−β₁ᵗ) and
divides by sqrt(v) + ε, which moves ε by a factor sqrt(1−β₂ᵗ); the two differ only while v is
tiny. State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v): 2 floats per
parameter, the "2P" of the AdamW memory accounting.

**Cosine schedule with linear warmup** (Loshchilov & Hutter, 2017; as in the CS336 handout), at
iteration t with warmup T_w and cosine end T_c:

    t < T_w:          α_t = t / T_w · α_max
    T_w ≤ t ≤ T_c:    α_t = α_min + ½ (1 + cos(π (t − T_w) / (T_c − T_w))) (α_max − α_min)
    t > T_c:          α_t = α_min

**Gradient clipping** by the global L2 norm ‖g‖ = sqrt(Σ_p ‖g_p‖²): if ‖g‖ > M every gradient
is scaled by M / (‖g‖ + 10⁻⁶) (as ``torch.nn.utils.clip_grad_norm_``).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch


class AdamW(torch.optim.Optimizer):
    """AdamW with decoupled weight decay (see the module docstring for the update)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01):
        if not (isinstance(lr, (int, float)) and lr >= 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, wd = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                # >>> exercise: adamw
                # hint: state step, exp_avg m, exp_avg_sq v (zeros at first); decoupled decay p <-
                # hint: p (1 - lr wd); m, v moving averages; bias corrections 1 - beta^t; p <- p -
                # hint: lr m_hat / (sqrt(v_hat) + eps).
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p,
                                                           memory_format=torch.preserve_format)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                if wd != 0:
                    p.mul_(1.0 - lr * wd)                                # θ ← θ − αλθ
                m.lerp_(g, 1.0 - beta1)                                  # m ← β₁m + (1−β₁)g
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)          # v ← β₂v + (1−β₂)g²
                bias1 = 1.0 - beta1 ** t
                bias2 = 1.0 - beta2 ** t
                denom = (v.sqrt() / math.sqrt(bias2)).add_(eps)          # sqrt(v̂) + ε
                p.addcdiv_(m, denom, value=-lr / bias1)                  # θ ← θ − α m̂ / denom
                # <<< exercise
        return loss


def cosine_schedule(t: int, lr_max: float, lr_min: float, warmup_iters: int,
                    cosine_iters: int) -> float:
    """Learning rate at iteration ``t`` (linear warmup, cosine decay, then constant ``lr_min``).

    ``warmup_iters`` = T_w, ``cosine_iters`` = T_c (the iteration where the decay ends).
    """
    if t < 0:
        raise ValueError(f"iteration t must be >= 0, got {t}")
    if warmup_iters < 0 or cosine_iters < warmup_iters:
        raise ValueError(f"need 0 <= warmup_iters <= cosine_iters, got warmup_iters="
                         f"{warmup_iters}, cosine_iters={cosine_iters}")
    # >>> exercise: cosine_schedule
    # hint: t < T_w: t/T_w lr_max; T_w <= t <= T_c: lr_min + (1 + cos(pi (t - T_w)/(T_c - T_w)))
    # hint: (lr_max - lr_min) / 2 (T_c == T_w: lr_max); after T_c: lr_min.
    if t < warmup_iters:
        return t / warmup_iters * lr_max
    if t <= cosine_iters:
        if cosine_iters == warmup_iters:
            return lr_max
        progress = (t - warmup_iters) / (cosine_iters - warmup_iters)
        return lr_min + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr_max - lr_min)
    return lr_min
    # <<< exercise


def clip_grad_norm(parameters: Iterable[torch.nn.Parameter], max_norm: float,
                   eps: float = 1e-6) -> torch.Tensor:
    """Scale all gradients in place so their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping (a 0-dim tensor), like ``torch.nn.utils.clip_grad_norm_``.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm!r}")
    # >>> exercise: grad_clip
    # hint: global L2 norm over all gradients (accumulate in float32 or wider); scale every
    # hint: gradient in place by min(1, max_norm / (norm + eps)); return the norm before.
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    acc = torch.promote_types(grads[0].dtype, torch.float32)
    total = torch.sqrt(sum((g.detach().to(acc).pow(2).sum() for g in grads),
                           torch.tensor(0.0, dtype=acc, device=grads[0].device)))
    scale = torch.clamp(max_norm / (total + eps), max=1.0)
    for g in grads:
        g.detach().mul_(scale.to(g.dtype))
    return total
    # <<< exercise


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group of ``optimizer`` the learning rate ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, lr: float,
                   max_norm: float | None = None) -> torch.Tensor | None:
    """One update of the training loops (notebooks 30, 31, 34, 35): set the learning rate,
    back-propagate ``loss`` from fresh gradients, clip their global norm at ``max_norm`` (None: no
    clipping) and step. Returns the norm before clipping, or None without clipping."""
    set_lr(optimizer, lr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = None
    if max_norm is not None:
        norm = clip_grad_norm([p for g in optimizer.param_groups for p in g["params"]], max_norm)
    optimizer.step()
    return norm
