"""Modular-arithmetic equations as token sequences (seed 001; notebooks 10-16 train on them).

Every equation over Z/pZ with one operator ∘ ∈ {+, −, ×, ÷}::

    order 2 (binary):   BOS a ∘ b = r EOS              r = (a ∘ b) mod q
    order 3 (ternary):  BOS a ∘ b ∘ c = r EOS          r = (a ∘ b ∘ c) mod q

is written with one token per symbol. The vocabulary is the numbers ``0 .. max(p, q) − 1``, then
the operator, ``=``, ``BOS``, ``EOS`` and ``PAD`` (so |V| = p + 5 and PAD is the last id). A model
reads ``inputs = sequence[:-1]`` and predicts ``targets = sequence[1:]``; ``eq_positions`` is the
index of ``=`` **in the targets** (3 for binary, 5 for ternary equations), so the right-hand side
scored by :func:`utils.train.losses.get_loss_and_accuracy` is every target after it (``r`` and
``EOS``). With both orders the binary sequences are right-padded with PAD and ``mask`` is 0 where
the **target** is PAD. (The starter stores ``mask[:, :-1]``, the inputs' mask, which is one
position off against the targets: its loss would also score the first PAD after a binary
equation's EOS, which the seed's RHS = {j : '=' < y_j < PAD} excludes.)

Division follows the starter code: it writes ``(b·c mod q) ÷ b = c`` for b ≠ 0, which needs no
modular inverse but is a correct equation only when q is prime (every b ≠ 0 is then invertible);
``÷`` with a composite q is refused.

The split is seeded: the equations are shuffled with ``numpy.random.RandomState(seed)`` (as in the
starter), then the first ``round(r_train · N)`` go to training. With both orders, each order is
split **separately** in the ratio ``r_train`` (seed 001, question 4: half of the binary and half of
the ternary equations go to training), keeping the shuffled order. Sizes: p = 31, binary: 31² =
961 equations (480 train / 481 validation at r_train = 0.5; Python rounds 480.5 to the even 480);
p = 11 with orders [2, 3]: 11² + 11³ = 1452.

API as in the starter's ``data.py``: :class:`Tokenizer` and :func:`get_arithmetic_dataset`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

BOS_TOKEN = "BOS"
EOS_TOKEN = "EOS"
EQ_TOKEN = "="
PAD_TOKEN = "PAD"
OPERATORS = ("+", "-", "*", "/")


class Tokenizer:
    """Token strings ↔ ids: ``encode("BOS 3 + 4 = 7 EOS")`` and ``decode(ids)``."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.itos = list(tokens)                                   # id -> token
        if len(set(self.itos)) != len(self.itos):
            raise ValueError(f"tokens must be distinct, got {self.itos}")
        self.stoi = {s: i for i, s in enumerate(self.itos)}        # token -> id

    def encode(self, obj: str | Sequence[str]):
        """A space-separated string → LongTensor of ids; a list of strings → list of tensors."""
        if isinstance(obj, str):
            ids = []
            for t in obj.split(" "):
                if t not in self.stoi:
                    raise KeyError(f"unknown token {t!r}; the vocabulary is {self.itos}")
                ids.append(self.stoi[t])
            return torch.tensor(ids, dtype=torch.long)
        if isinstance(obj, (list, tuple)):
            return [self.encode(s) for s in obj]
        raise TypeError(f"encode() takes a string or a list of strings, got {type(obj).__name__}")

    def decode(self, ids) -> str:
        """Ids (tensor or list of ints) → the space-separated token string."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= int(i) < len(self.itos)]
        if bad:
            raise IndexError(f"ids {bad} are outside the vocabulary [0, {len(self.itos)})")
        return " ".join(self.itos[int(i)] for i in ids)

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Tokenizer({len(self)} tokens: {' '.join(self.itos)})"


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % k for k in range(2, int(n ** 0.5) + 1))


def normalize_orders(operation_orders) -> list[int]:
    """2, 3, [2], [3] or [2, 3] (in any order) → a sorted list; anything else is an error."""
    orders = [operation_orders] if isinstance(operation_orders, (int, np.integer)) \
        and not isinstance(operation_orders, bool) else operation_orders
    ok = isinstance(orders, (list, tuple)) and len(orders) > 0 and all(
        isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in orders)
    if ok:
        orders = [int(o) for o in orders]
        ok = len(set(orders)) == len(orders) and set(orders) <= {2, 3}
    if not ok:
        raise ValueError(f"operation_orders must be 2 (binary), 3 (ternary) or [2, 3] (both); "
                         f"got {operation_orders!r}")
    return sorted(orders)


def check_arguments(p: int, q: int, operator: str, r_train: float, operation_orders) -> list[int]:
    """Validate the data set's arguments; returns the normalized operation orders."""
    for name, v in (("p", p), ("q", q)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    if operator not in OPERATORS:
        raise ValueError(f"unknown operator {operator!r}; allowed: {', '.join(OPERATORS)}")
    if operator == "/" and not is_prime(int(q)):
        raise ValueError(f"division mod q needs a prime q (so every b != 0 is invertible); "
                         f"got q={q}, which is not prime")
    if isinstance(r_train, bool) or not isinstance(r_train, (int, float)) \
            or not 0.0 < float(r_train) < 1.0:
        raise ValueError(f"r_train must be a fraction strictly between 0 and 1, got {r_train!r}")
    return normalize_orders(operation_orders)


def make_equations(p: int, q: int, operator: str, operation_orders,
                   is_symmetric: bool = False) -> list[str]:
    """All equations "a ∘ b = r" (and/or "a ∘ b ∘ c = r") in the starter's order."""
    orders = normalize_orders(operation_orders)
    lo = 1 if operator == "/" else 0                     # no division by 0
    equations: list[str] = []
    if 2 in orders:
        for a in range(p):
            for b in range(max(a, lo) if is_symmetric else lo, p):
                if operator == "/":                      # (b·c) ÷ b = c
                    equations.append(f"{(b * a) % q} / {b} = {a}")
                else:
                    r = {"+": a + b, "-": a - b, "*": a * b}[operator] % q
                    equations.append(f"{a} {operator} {b} = {r}")
    if 3 in orders:
        for a in range(p):
            for b in range(max(a, lo) if is_symmetric else lo, p):
                for c in range(max(b, lo) if is_symmetric else lo, p):
                    if operator == "/":                  # (b·c·d) ÷ b ÷ c = d
                        equations.append(f"{(b * c * a) % q} / {b} / {c} = {a}")
                    else:
                        r = {"+": a + b + c, "-": a - b - c, "*": a * b * c}[operator] % q
                        equations.append(f"{a} {operator} {b} {operator} {c} = {r}")
    return equations


def split_indices(eq_positions: torch.Tensor, r_train: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Train/validation row indices: per group of equal ``eq_positions`` (one group per order),
    the first ``round(r_train · n_group)`` rows (rows are already shuffled) go to training."""
    train_rows = []
    for pos in torch.unique(eq_positions).tolist():
        rows = torch.nonzero(eq_positions == pos).flatten()            # in shuffled order
        n_train = round(len(rows) * float(r_train))
        if n_train == 0 or n_train == len(rows):
            raise ValueError(f"r_train={r_train} leaves an empty training or validation set for "
                             f"the {len(rows)} equations with '=' at target position {pos}")
        train_rows.append(rows[:n_train])
    is_train = torch.zeros(len(eq_positions), dtype=torch.bool)
    is_train[torch.cat(train_rows)] = True
    return torch.nonzero(is_train).flatten(), torch.nonzero(~is_train).flatten()


def get_arithmetic_dataset(p: int, q: int, operator: str, r_train: float,
                           operation_orders=2, is_symmetric: bool = False,
                           shuffle: bool = True, seed: int = 42):
    """The starter's data function, with the per-order split and input checks.

    Returns ``(train_dataset, valid_dataset), tokenizer, max_length, padding_index``; each data
    set is a ``TensorDataset`` of (inputs (N, S), targets (N, S), eq_positions (N,), mask (N, S))
    with S = ``max_length`` = full sequence length − 1 and mask = 1 where the target is not PAD.
    """
    orders = check_arguments(p, q, operator, r_train, operation_orders)
    tokens = list(dict.fromkeys([str(i) for i in range(max(p, q))]
                                + [operator, EQ_TOKEN, BOS_TOKEN, EOS_TOKEN, PAD_TOKEN]))
    tokenizer = Tokenizer(tokens)
    equations = make_equations(p, q, operator, orders, is_symmetric)
    if shuffle:
        np.random.RandomState(seed=seed).shuffle(equations)
    encoded = tokenizer.encode([f"{BOS_TOKEN} {eq} {EOS_TOKEN}" for eq in equations])
    full_length = max(len(s) for s in encoded)
    pad = tokenizer.stoi[PAD_TOKEN]
    data = torch.full((len(encoded), full_length), pad, dtype=torch.long)   # (N, S + 1)
    mask = torch.zeros((len(encoded), full_length), dtype=torch.long)       # 1 = real token
    for i, seq in enumerate(encoded):
        data[i, :len(seq)] = seq
        mask[i, :len(seq)] = 1
    eq_positions = torch.nonzero(data == tokenizer.stoi[EQ_TOKEN])[:, 1] - 1  # (N,) in targets
    train_rows, valid_rows = split_indices(eq_positions, r_train)

    def subset(rows):
        d = data[rows]
        return TensorDataset(d[:, :-1], d[:, 1:], eq_positions[rows], mask[rows][:, 1:])

    return (subset(train_rows), subset(valid_rows)), tokenizer, full_length - 1, pad
