"""The unrolled view of a residual network: paths, their lengths, and the gradient along them.

Taught in notebook 35 (seed 000 question 6: is a residual Transformer "just an ensemble of
shallow networks"?). A stack of L residual blocks x_{l+1} = x_l + G_l(x_l) with *linear*
branches G_l = A_l unrolls exactly into a sum over the 2^L subsets S ⊆ {1, …, L} ("paths",
[Veit et al., 2016]):

    x_L = (I + A_L) ⋯ (I + A_1) x_0 = Σ_S (Π_{l ∈ S, in order} A_l) x_0 = Σ_k P_k x_0,

where P_k sums the C(L, k) paths that go through exactly k branches. :func:`path_expansion`
computes the P_k with the recursion P_k ← P_k + A_l P_{k−1} (block by block, O(L²) products);
:func:`path_expansion_bruteforce` sums the 2^L subsets literally (the tests compare the two).

With nonlinear branches the sum over subsets is no longer exact: G_2(x_0 + G_1(x_0)) is not
G_2(x_0) + G_2(G_1(x_0)). The *gradient* still unrolls exactly at a given input, because the
Jacobian of the stack is the product of the blocks' Jacobians I + J_l (J_l = ∂G_l/∂x at the
actual x_l). :func:`gradient_by_path_length` splits ∂loss/∂x_0 of a trained
:class:`~utils.nn.transformer_lm.TransformerLM` into the parts g_k carried by the paths through
exactly k block branches (Σ_k g_k = ∂loss/∂x_0, checked in the tests):

    u_k ← u_k + J_lᵀ u_{k−1}   for l = L … 1 (vector-Jacobian products, O(L²) of them),

a tractable, exact variant of Veit et al.'s sampling measurement; :func:`single_path_gradient`
is their measurement itself (back-propagate through the branches of k sampled blocks and
through the skip connections of the others).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import torch


def path_counts(L: int) -> list[int]:
    """C(L, k) for k = 0 … L: how many of the 2^L paths use exactly k branches."""
    if isinstance(L, bool) or not isinstance(L, int) or L < 0:
        raise ValueError(f"L must be an int >= 0, got {L!r}")
    return [math.comb(L, k) for k in range(L + 1)]


def _check_mats(mats: Sequence[torch.Tensor]) -> int:
    if len(mats) == 0:
        raise ValueError("need at least one block matrix")
    n = mats[0].shape[0]
    for A in mats:
        if A.dim() != 2 or A.shape != (n, n):
            raise ValueError(f"block matrices must all be square ({n}, {n}), got {tuple(A.shape)}")
    return n


def path_expansion(mats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """[P_0, …, P_L] with Π_l (I + A_l) = Σ_k P_k (A_1 applied first), by the recursion
    P_k^{(l)} = P_k^{(l−1)} + A_l P_{k−1}^{(l−1)}."""
    n = _check_mats(mats)
    L = len(mats)
    P = [torch.eye(n, dtype=mats[0].dtype)] + [torch.zeros(n, n, dtype=mats[0].dtype)] * L
    for l, A in enumerate(mats, start=1):
        # descending k so that P[k - 1] is still the previous block's value
        for k in range(l, 0, -1):
            P[k] = P[k] + A @ P[k - 1]
    return P


def path_expansion_bruteforce(mats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The same sums, literally: every subset S of blocks, its ordered product, added to P_|S|."""
    n = _check_mats(mats)
    L = len(mats)
    P = [torch.zeros(n, n, dtype=mats[0].dtype) for _ in range(L + 1)]
    for k in range(L + 1):
        for S in itertools.combinations(range(L), k):
            M = torch.eye(n, dtype=mats[0].dtype)
            for l in S:                    # increasing l: A_l acts after the earlier blocks
                M = mats[l] @ M
            P[k] += M
    return P


def _readout(model, x: torch.Tensor) -> torch.Tensor:
    """Final norm and head on the last block's output: ``TransformerLM`` (``lm_head``) or a
    per-token ``TokenEncoder`` (``head``, ``pool="none"``)."""
    if getattr(model, "pool", "none") != "none":
        raise ValueError("path gradients need per-token outputs: use a TokenEncoder with "
                         "pool='none'")
    head = model.lm_head if hasattr(model, "lm_head") else model.head
    return head(model.ln_final(x) if model.ln_final is not None else x)


def _stream(model, tokens: torch.Tensor):
    """Inputs x_0 … x_{L−1} of every block (captured by hooks), the positions they got, and the
    logits. Hooks, so the model's own forward runs unchanged."""
    xs, pos = [], []

    def grab(_module, args):
        xs.append(args[0])
        pos.append(args[1])

    handles = [b.register_forward_pre_hook(grab) for b in model.layers]
    try:
        logits = model(tokens)
    finally:
        for h in handles:
            h.remove()
    return xs, pos, logits


def gradient_by_path_length(model, tokens: torch.Tensor, loss_fn: Callable) -> dict:
    """Exact split of the gradient of ``loss_fn(outputs)`` w.r.t. the first block's input x_0
    into g_0 … g_L, g_k = the sum over the paths through exactly k block branches.

    Returns ``{"g": [g_0 … g_L] (each shaped like x_0), "norm": (L+1,) tensor of ‖g_k‖,
    "total": ∂loss/∂x_0 from autograd}``. The model is put in eval mode for the measurement
    (dropout off) and restored.
    """
    was = model.training
    model.eval()
    try:
        L = len(model.layers)
        if L == 0:
            raise ValueError("the model has no blocks")
        with torch.enable_grad():
            xs, pos, _ = _stream(model, tokens)
            xs = [x.detach().requires_grad_(True) for x in xs]
            # the loss as a function of the last block's output, and the full gradient at x_0
            x_last = model.layers[-1](xs[-1], pos[-1])
            u = [torch.autograd.grad(loss_fn(_readout(model, x_last)), x_last)[0]]   # u_0 at x_L
            for l in range(L - 1, -1, -1):
                x = xs[l]
                G = model.layers[l](x, pos[l]) - x                   # branch G_l(x_l)
                new = list(u) + [torch.zeros_like(u[0])]
                for k in range(1, len(u) + 1):                       # J_lᵀ u_{k−1}
                    new[k] = new[k] + torch.autograd.grad(G, x, u[k - 1], retain_graph=True)[0]
                u = new
            x0 = xs[0].detach().requires_grad_(True)
            x = x0
            for l in range(L):
                x = model.layers[l](x, pos[l])
            total = torch.autograd.grad(loss_fn(_readout(model, x)), x0)[0]
    finally:
        model.train(was)
    g = [t.detach() for t in u]
    return {"g": g, "norm": torch.stack([t.norm() for t in g]), "total": total.detach()}


def single_path_gradient(model, tokens: torch.Tensor, loss_fn: Callable,
                         path: Sequence[int]) -> torch.Tensor:
    """Veit et al.'s measurement: ∂loss/∂x_0 back-propagated through the branches of the blocks
    in ``path`` only (skip connections elsewhere), at the activations of the full forward pass.
    Returns the gradient (shaped like x_0)."""
    was = model.training
    model.eval()
    try:
        L = len(model.layers)
        path = sorted({int(l) for l in path})
        if any(not 0 <= l < L for l in path):
            raise IndexError(f"path blocks must lie in 0..{L - 1}, got {path}")
        with torch.enable_grad():
            xs, pos, _ = _stream(model, tokens)
            xs = [x.detach().requires_grad_(True) for x in xs]
            x_last = model.layers[-1](xs[-1], pos[-1])
            u = torch.autograd.grad(loss_fn(_readout(model, x_last)), x_last)[0]
            for l in reversed(path):
                G = model.layers[l](xs[l], pos[l]) - xs[l]
                u = torch.autograd.grad(G, xs[l], u)[0]
    finally:
        model.train(was)
    return u.detach()
