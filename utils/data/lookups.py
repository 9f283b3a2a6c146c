"""k simultaneous look-ups: a task that one attention distribution per query cannot solve.

Taught in notebook 34 (seed 000, question Q5: is one wide head as good as several narrow
ones?). It grows the two-look-up task of notebook 01 (section 5) into k look-ups; with
``LookupTask(k=2, n_tags=8, c_dim=4, width=32)`` it draws exactly notebook 01's batches.

A sequence has ``n_tags`` + 1 continuous tokens of ``width`` features (zero-padded):

* **item tokens** j = 0 … n_tags−1: a tag t_j (one-hot in features 0 … n_tags−1; the tags of a
  sequence are a random permutation, so they are distinct) and a content vector
  c_j ~ N(0, I_{c_dim}) (features n_tags … n_tags + c_dim − 1);
* **the query token** (last, index n_tags): for look-up i = 0 … k−1 it names one tag u_i with a
  one-hot in its own slot of n_tags features, starting at n_tags + c_dim + i·n_tags. The k
  named items are distinct (a random k-subset of the items, in random order).

The target is y = (c_{u_0}, …, c_{u_{k−1}}) ∈ R^{k·c_dim}: the contents of the k named items,
in slot order. A model reads the query token's final state (``pool="last"``).

**Why one head cannot do it in one layer.** A head's output at the query is
Σ_j α_j W_V x_j (one distribution α over the items); its content part is B Σ_j α_j c_j, a
single c_dim-dimensional mixture. For Gaussian contents and fixed α the best estimate of c_{u_i}
from that mixture, by any read-out, is linear, with relative error 1 − α_{u_i}²/Σ_l α_{u_l}²;
averaged over the k look-ups this is 1 − 1/k whatever α is. h heads give h mixtures, so the
floor is max(0, 1 − h/k) (:meth:`LookupTask.one_layer_floor`). Widening the head does not
help: the value map is shared by all positions, so the mixture stays one vector.

Metrics: the relative MSE (MSE / Var(y)) and the **retrieval accuracy**: a look-up counts as
correct when the predicted vector is closer to the named item's content than to any other
item's content of the same sequence (chance 1/n_tags). ``tests/test_multi_head.py`` checks the
targets and the accuracy against brute-force loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _positive_int(name: str, v) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


@dataclass(frozen=True)
class LookupTask:
    """k look-ups among ``n_tags`` tagged items; tokens of ``width`` features."""

    k: int = 2                 # look-ups per query
    n_tags: int = 8            # items per sequence (each with a distinct tag)
    c_dim: int = 4             # content dimension per item
    width: int | None = None   # token width; None: the minimum n_tags + c_dim + k·n_tags

    def __post_init__(self):
        for name in ("k", "n_tags", "c_dim"):
            _positive_int(name, getattr(self, name))
        if self.k > self.n_tags:
            raise ValueError(f"k={self.k} look-ups need at least k distinct items; "
                             f"n_tags={self.n_tags} < k")
        if self.width is not None:
            _positive_int("width", self.width)
            if self.width < self.min_width:
                raise ValueError(f"width={self.width} is too small: the tags, contents and "
                                 f"{self.k} query slots need n_tags + c_dim + k·n_tags = "
                                 f"{self.min_width}")

    @property
    def min_width(self) -> int:
        return self.n_tags + self.c_dim + self.k * self.n_tags

    @property
    def d_in(self) -> int:
        """Features per token."""
        return self.width if self.width is not None else self.min_width

    @property
    def seq_len(self) -> int:
        """Tokens per sequence: the items and the query."""
        return self.n_tags + 1

    @property
    def d_out(self) -> int:
        """Target size, k·c_dim."""
        return self.k * self.c_dim

    def batch(self, n: int, generator: torch.Generator | None = None):
        """``(x, y)``: x (n, n_tags + 1, d_in) float32 tokens, y (n, k·c_dim) targets."""
        _positive_int("n", n)
        N, C, k = self.n_tags, self.c_dim, self.k
        tags = torch.argsort(torch.rand(n, N, generator=generator), dim=1)       # (n, N) distinct
        c = torch.randn(n, N, C, generator=generator)                           # (n, N, C)
        x = torch.zeros(n, N + 1, self.d_in)
        x[:, :N, :N] = torch.nn.functional.one_hot(tags, N).float()            # item tags
        x[:, :N, N:N + C] = c                                                   # item contents
        pick = torch.argsort(torch.rand(n, N, generator=generator), dim=1)[:, :k]  # (n, k) items
        rows = torch.arange(n)
        for i in range(k):                                                      # query slot i
            x[rows, N, N + C + i * N + tags[rows, pick[:, i]]] = 1.0
        y = torch.cat([c[rows, pick[:, i]] for i in range(k)], dim=1)           # (n, k·C)
        return x, y

    def contents(self, x: torch.Tensor) -> torch.Tensor:
        """The items' content vectors (n, n_tags, c_dim) of a batch ``x``."""
        self._check_x(x)
        return x[:, :self.n_tags, self.n_tags:self.n_tags + self.c_dim]

    def named_items(self, x: torch.Tensor) -> torch.Tensor:
        """(n, k) index of the item each query slot names (decoded from the one-hots)."""
        self._check_x(x)
        N, C = self.n_tags, self.c_dim
        tags = x[:, :N, :N].argmax(-1)                                          # (n, N) item tags
        slots = x[:, N, N + C:N + C + self.k * N].reshape(-1, self.k, N)        # (n, k, N)
        wanted = slots.argmax(-1)                                               # (n, k) tags
        return (tags[:, None, :] == wanted[:, :, None]).float().argmax(-1)      # (n, k)

    def retrieval_correct(self, pred: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(n, k) bools: is predicted look-up i nearest (Euclidean) to the named item's content?"""
        self._check_x(x)
        if pred.shape != (x.shape[0], self.d_out):
            raise ValueError(f"pred must be (n, k·c_dim) = ({x.shape[0]}, {self.d_out}), got "
                             f"{tuple(pred.shape)}")
        p = pred.detach().reshape(-1, self.k, self.c_dim)                       # (n, k, C)
        dist = torch.cdist(p, self.contents(x).to(p.dtype))                     # (n, k, N)
        return dist.argmin(-1) == self.named_items(x)

    def accuracy(self, pred: torch.Tensor, x: torch.Tensor) -> float:
        """Fraction of look-ups retrieved correctly (chance 1 / n_tags)."""
        return self.retrieval_correct(pred, x).float().mean().item()

    def one_layer_floor(self, heads: int) -> float:
        """Relative MSE that ``heads`` attention distributions cannot beat in one layer,
        max(0, 1 − heads/k) (module docstring; Gaussian contents, attention weights that do not
        depend on the contents)."""
        _positive_int("heads", heads)
        return max(0.0, 1.0 - heads / self.k)

    def _check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1:] != (self.seq_len, self.d_in):
            raise ValueError(f"x must be (n, {self.seq_len}, {self.d_in}) for this task, got "
                             f"{tuple(x.shape)}")
