"""Input and output maps for continuous data: feature tokens and reversible instance norm.

Taught in notebook 31 (the LayerNorm-vs-BatchNorm assertion, seed 000 Q2), where they sit
around :class:`~utils.nn.encoder.TokenEncoder`:

* :class:`FeatureTokenizer` (the FT-Transformer of Gorishniy et al., 2021): a table row
  x ∈ ℝ^F becomes F tokens, token i = x_i · W_i + b_i with its own W_i, b_i ∈ ℝ^d, so every
  feature has its own direction and offset in the model's space:

      x (B, F, 1) → T (B, F, d),   T[b, i] = x[b, i] · W[i] + B[i]

* :class:`ScalarTokenizer`: one shared map x_t · w + b for every time step (the bias keeps a
  scalar's magnitude visible to LayerNorm; section 3e of notebook 31).
* :class:`RevIN` (reversible instance normalisation, Kim et al., 2022): each input window is
  standardised by its own mean and standard deviation over time, and the model's output is
  mapped back with the same two numbers (and an optional learned affine pair):

      x̃ = (x − μ_b) / σ_b · γ + β          (B, L)   μ_b, σ_b per window b
      ŷ = (y − β) / γ · σ_b + μ_b           (B, H)

* :class:`Forecaster`: window (B, L) → [RevIN] → scalar tokens (B, L, 1) → encoder → (B, H)
  forecasts → [RevIN⁻¹]. The encoder sees each time step as one token x_t · w (+ position).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import _check_positive


class FeatureTokenizer(nn.Module):
    """Per-feature embeddings: (B, F, 1) → (B, F, d), token i = x_i · W_i + b_i."""

    def __init__(self, n_features: int, d_model: int, bias: bool = True):
        super().__init__()
        _check_positive("n_features", n_features)
        _check_positive("d_model", d_model)
        self.n_features, self.d_model = n_features, d_model
        # FT-Transformer initialisation: U(−1/√d, 1/√d) for W and b
        bound = 1.0 / math.sqrt(d_model)
        self.weight = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound)) \
            if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:                                     # (B, F) rows are accepted too
            x = x.unsqueeze(-1)
        if x.dim() != 3 or x.shape[1:] != (self.n_features, 1):
            raise ValueError(f"inputs must be (batch, {self.n_features}, 1) or (batch, "
                             f"{self.n_features}), got shape {tuple(x.shape)}")
        t = x * self.weight                                  # (B, F, 1) · (F, d) → (B, F, d)
        return t + self.bias if self.bias is not None else t

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, d_model={self.d_model}, bias={self.bias is not None}"


class ScalarTokenizer(nn.Module):
    """One shared embedding for every scalar of a sequence: (B, S, 1) → (B, S, d), x_t · w + b.

    With ``bias=False`` this is the encoder's default linear map x_t · w, whose LayerNorm is
    ±w/‖w‖ whatever the magnitude of x_t (notebook 31, section 3e); the bias b keeps the
    magnitude visible to a LayerNorm (through the ratio of x_t·w to b).
    """

    def __init__(self, d_model: int, bias: bool = True):
        super().__init__()
        _check_positive("d_model", d_model)
        self.d_model = d_model
        bound = 1.0 / math.sqrt(d_model)
        self.weight = nn.Parameter(torch.empty(d_model).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(d_model).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != 1:
            raise ValueError(f"inputs must be (batch, seq, 1), got shape {tuple(x.shape)}")
        t = x * self.weight                                  # (B, S, 1) · (d,) → (B, S, d)
        return t + self.bias if self.bias is not None else t


class RevIN(nn.Module):
    """Reversible instance normalisation over the time axis of (B, L) windows."""

    def __init__(self, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(1)) if affine else None
        self.beta = nn.Parameter(torch.zeros(1)) if affine else None

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-window mean and standard deviation, each (B, 1)."""
        if x.dim() != 2:
            raise ValueError(f"RevIN expects windows (batch, length), got shape {tuple(x.shape)}")
        mu = x.mean(dim=1, keepdim=True)                                        # (B, 1)
        sigma = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
        return mu, sigma

    def normalize(self, x: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        z = (x - mu) / sigma                                                    # (B, L)
        return z * self.gamma + self.beta if self.gamma is not None else z

    def denormalize(self, y: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        if self.gamma is not None:
            y = (y - self.beta) / (self.gamma + self.eps ** 2)     # ε² guard, as the paper's code
        return y * sigma + mu                                                   # (B, H)


class Forecaster(nn.Module):
    """Window (B, L) → H forecasts (B, H) through an encoder of scalar tokens, optional RevIN."""

    def __init__(self, encoder: nn.Module, revin: RevIN | None = None):
        super().__init__()
        self.encoder, self.revin = encoder, revin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"windows must be (batch, length), got shape {tuple(x.shape)}")
        if self.revin is None:
            return self.encoder(x.unsqueeze(-1))                                # (B, H)
        mu, sigma = self.revin.statistics(x)
        y = self.encoder(self.revin.normalize(x, mu, sigma).unsqueeze(-1))      # (B, H)
        return self.revin.denormalize(y, mu, sigma)
