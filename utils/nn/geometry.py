"""The geometry of an embedding matrix: effective rank, anisotropy, neighbours.

Taught in notebook 33 (seed 000, question 4: does weight tying make the embedding space
poorer?). Each function takes a matrix X of shape (n, d), one row per token.

* :func:`effective_rank` (Roy and Vetterli, 2007): with the singular values s_1 ≥ … ≥ s_r of X
  and p_k = s_k / Σ_l s_l, erank(X) = exp(−Σ_k p_k log p_k). It lies between 1 (all energy in
  one direction) and rank(X) (all singular values equal).
* :func:`mean_cosine_similarity`: the mean of cos(x_i, x_j) over all pairs i ≠ j, the usual
  measure of **anisotropy** (Ethayarajh, 2019; Gao et al., 2019): about 0 for directions spread
  over the sphere, near 1 when the rows crowd into a narrow cone.
* :func:`explained_variance_ratio`: the share of the variance of the centred rows along the top
  ``k`` principal directions (1/d for isotropic rows, 1 for rows on a line).
* :func:`nearest_neighbours`: the ``k`` rows of highest cosine similarity to each queried row
  (the row itself excluded).
"""

from __future__ import annotations

import torch


def _matrix(X, name: str = "X") -> torch.Tensor:
    X = torch.as_tensor(X)
    if X.dim() != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D matrix (n, d) with n, d >= 1, got shape "
                         f"{tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return X.detach().to(torch.float64)


def _unit_rows(X: torch.Tensor) -> torch.Tensor:
    norms = X.norm(dim=1, keepdim=True)                                  # (n, 1)
    if (norms == 0).any():
        zero = torch.nonzero(norms[:, 0] == 0)[:5, 0].tolist()
        raise ValueError(f"rows {zero} are zero vectors: their cosine similarity is undefined")
    return X / norms


def effective_rank(X, center: bool = False) -> float:
    """exp(entropy of the normalised singular values) of X (n, d); ``center`` subtracts the
    mean row first. 1 ≤ erank ≤ rank(X); a zero matrix raises."""
    X = _matrix(X)
    if center:
        X = X - X.mean(dim=0, keepdim=True)
    s = torch.linalg.svdvals(X)                                          # (min(n, d),)
    if s.sum() <= 0:
        raise ValueError("the matrix is zero: its effective rank is undefined")
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def mean_cosine_similarity(X) -> float:
    """Mean of cos(x_i, x_j) over the n(n−1) ordered pairs i ≠ j (n ≥ 2 non-zero rows)."""
    X = _matrix(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("the mean pairwise cosine needs at least 2 rows")
    U = _unit_rows(X)                                                    # (n, d)
    total = U.sum(dim=0)                                                 # (d,)
    # Σ_{i≠j} u_i·u_j = |Σ_i u_i|² − Σ_i |u_i|² = |Σ u|² − n, without the (n, n) matrix
    return float((total @ total - n) / (n * (n - 1)))


def explained_variance_ratio(X, k: int = 1) -> float:
    """Share of the total variance of the centred rows along the top ``k`` principal axes."""
    X = _matrix(X)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    Xc = X - X.mean(dim=0, keepdim=True)
    var = torch.linalg.svdvals(Xc).pow(2)                                # eigenvalues × (n−1)
    if var.sum() <= 0:
        raise ValueError("all rows are equal: there is no variance to explain")
    return float(var[:k].sum() / var.sum())


def nearest_neighbours(X, ids, k: int = 5) -> torch.Tensor:
    """(len(ids), k) indices of the rows most cosine-similar to each row in ``ids``, most
    similar first, the row itself excluded."""
    X = _matrix(X)
    n = X.shape[0]
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k must be an int in 1..{n - 1} (rows other than the query), got {k!r}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
        raise IndexError(f"ids must lie in 0..{n - 1}")
    U = _unit_rows(X)
    sims = U[ids] @ U.T                                                  # (q, n)
    sims[torch.arange(len(ids)), ids] = -float("inf")                    # not itself
    return sims.topk(k, dim=1).indices
