"""A Transformer encoder over continuous tokens: the pack's blocks without a vocabulary.

Taught in notebooks 31 (feature tokens of a table, scalar tokens of a time series) and 34 (image
patches of a small vision Transformer, Dosovitskiy et al., 2021). It reuses the decoder's
:class:`~utils.nn.transformer_lm.TransformerBlock` unchanged, so every option of
:class:`~utils.nn.transformer_lm.TransformerConfig` (norm type and placement, positions, heads,
``head_dim``, ``causal``) applies here too:

    x (B, S, d_in) → tokenizer → (B, S, d) [→ prepend CLS → (B, S+1, d)] [+ positions]
      → blocks → final norm (pre-norm only) → pool → Linear → (B, d_out) or (B, S, d_out)

``cfg.vocab_size`` is not used (no embedding table, no LM head); ``cfg.context_length`` bounds
the sequence length, counting the CLS token. Pooling: ``cls`` reads the prepended CLS token,
``mean`` averages the tokens, ``last`` reads the last token, ``none`` keeps every position.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import Linear, make_norm
from .rope import LearnedPositions, SinusoidalPositions
from .transformer_lm import TransformerBlock, TransformerConfig

POOLS = ("cls", "mean", "last", "none")


class TokenEncoder(nn.Module):
    """Continuous tokens (B, S, d_in) → Transformer blocks → (B, d_out), or (B, S, d_out)."""

    def __init__(self, cfg: TransformerConfig | dict, d_in: int, d_out: int, pool: str = "cls",
                 tokenizer: nn.Module | None = None):
        super().__init__()
        cfg = TransformerConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; allowed: {', '.join(map(repr, POOLS))}")
        for name, v in (("d_in", d_in), ("d_out", d_out)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.config, self.pool, self.d_in = cfg, pool, d_in
        # the input map: a shared Linear by default, or any module (B, S, d_in) -> (B, S, d)
        self.tokenizer = tokenizer if tokenizer is not None else Linear(d_in, cfg.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model)) if pool == "cls" else None
        if cfg.positions == "learned":
            self.position_embeddings = LearnedPositions(cfg.context_length, cfg.d_model)
        elif cfg.positions == "sinusoidal":
            self.position_embeddings = SinusoidalPositions(cfg.context_length, cfg.d_model)
        else:   # rope is applied inside attention; none (NoPE) adds nothing
            self.position_embeddings = None
        self.layers = nn.ModuleList(TransformerBlock(cfg, i) for i in range(cfg.num_layers))
        self.ln_final = make_norm(cfg.norm_type, cfg.d_model, cfg.norm_eps) \
            if cfg.norm_position == "pre" else None
        self.head = Linear(cfg.d_model, d_out)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The final (normed) token states (B, S', d), S' = S + 1 with a CLS token."""
        if x.dim() != 3 or x.shape[-1] != self.d_in:
            raise ValueError(f"inputs must be (batch, seq, d_in={self.d_in}), got shape "
                             f"{tuple(x.shape)}")
        h = self.tokenizer(x)                                               # (B, S, d)
        if self.cls is not None:
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1)  # (B, S+1, d)
        S = h.shape[1]
        if S > self.config.context_length:
            raise ValueError(f"{S} tokens (CLS included) exceed context_length="
                             f"{self.config.context_length}")
        positions = torch.arange(S, device=h.device)                       # (S,)
        if self.position_embeddings is not None:
            h = h + self.position_embeddings(positions)
        for layer in self.layers:
            h = layer(h, positions)
        return self.ln_final(h) if self.ln_final is not None else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(x)                                           # (B, S', d)
        if self.pool == "cls":
            h = h[:, 0]                                                     # (B, d)
        elif self.pool == "mean":
            h = h.mean(dim=1)
        elif self.pool == "last":
            h = h[:, -1]
        return self.head(h)                                                 # (B[, S'], d_out)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
