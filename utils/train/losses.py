"""Loss and accuracy on the right-hand side of an equation (seed 001, problem 3; notebook 10).

For targets Y (B, S), logits Ŷ (B, S, V), '=' positions P (B,) and mask M (B, S), the right-hand
side of row i is RHS(Y_i) = {j : j > P_i and M_ij = 1} (the result and EOS, never PAD). Then

    L = −1/B Σ_i  1/|RHS(Y_i)|  Σ_{j ∈ RHS(Y_i)}  log softmax(Ŷ_ij)[Y_ij]
    A =  1/B Σ_i  Π_{j ∈ RHS(Y_i)}  1(argmax_k Ŷ_ijk = Y_ij)

i.e. each equation's loss is the mean over **its own** RHS tokens, then equations are averaged
(``F.nll_loss`` with ``ignore_index`` would instead average over all RHS tokens of the batch, a
different number when rows have different RHS lengths), and an equation counts as correct only
if every RHS token is. ``reduction`` is ``'mean'`` (the formulas), ``'sum'`` (no 1/B) or
``'none'`` (per-equation values, shape (B,), e.g. to split the metrics by operation order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("mean", "sum", "none")


def get_loss_and_accuracy(logits: torch.Tensor, targets: torch.Tensor,
                          eq_positions: torch.Tensor, mask: torch.Tensor,
                          reduction: str = "mean", check: bool = True):
    """RHS negative log-likelihood and exact-match accuracy (see the module docstring).

    Returns ``(loss, accuracy)``: 0-dim tensors for ``'mean'``/``'sum'``, (B,) for ``'none'``.
    ``check=False`` skips the data-dependent test that every row has a right-hand side (one
    host sync; also needed under ``torch.func.vmap``); such a row would give a NaN loss.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, S, V), got {tuple(logits.shape)}")
    B, S, _ = logits.shape
    if tuple(targets.shape) != (B, S) or tuple(mask.shape) != (B, S):
        raise ValueError(f"targets and mask must have shape (B, S) = {(B, S)}, got "
                         f"{tuple(targets.shape)} and {tuple(mask.shape)}")
    if tuple(eq_positions.shape) != (B,):
        raise ValueError(f"eq_positions must have shape (B,) = ({B},), got "
                         f"{tuple(eq_positions.shape)}")
    eq_positions = eq_positions.to(logits.device)          # the starter's eval leaves these on
    mask = mask.to(logits.device)                          # the CPU; move them ourselves
    targets = targets.to(logits.device)

    # >>> exercise: rhs_loss
    # hint: RHS = positions after eq_positions with mask != 0; per-sample mean NLL over its RHS
    # hint: tokens (not a token mean over the batch); a row is correct iff every RHS token is the
    # hint: argmax. ValueError if a row has no RHS token (when check). Names: loss (B,), accuracy
    # hint: (B,) in logits' dtype; the reductions below use them.
    positions = torch.arange(S, device=logits.device)                       # (S,)
    rhs = (positions[None, :] > eq_positions[:, None]) & (mask != 0)        # (B, S)
    n_rhs = rhs.sum(dim=1)                                                  # (B,)
    if check and bool((n_rhs == 0).any()):
        raise ValueError("a row has no right-hand-side token (no valid target after its '='): "
                         "check eq_positions and mask")

    log_probs = F.log_softmax(logits, dim=-1)                               # (B, S, V)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)          # (B, S)
    loss = nll.masked_fill(~rhs, 0.0).sum(dim=1) / n_rhs                                  # (B,)

    correct = (logits.argmax(dim=-1) == targets) | ~rhs                     # (B, S)
    accuracy = correct.all(dim=1).to(logits.dtype)                          # (B,)
    # <<< exercise

    if reduction == "mean":
        return loss.mean(), accuracy.mean()
    if reduction == "sum":
        return loss.sum(), accuracy.sum()
    return loss, accuracy
