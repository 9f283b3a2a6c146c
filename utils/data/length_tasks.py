"""Synthetic sequence tasks for "train short, test long" (notebook 30, seed 000 question Q1).

Each task makes batches ``(x, y, mask)`` of one length S: input token ids ``x`` (B, S), a target
id ``y`` (B, S) at every position, and ``mask`` (B, S), True where the target is scored. A model
reads ``x`` causally (position t sees x_0 … x_t) and predicts ``y_t`` at every masked position.
Two kinds of task, after the protocol of Delétang et al. (2023, "Neural Networks and the
Chomsky Hierarchy": train on lengths ≤ 40, test on longer ones):

* **state tracking** (regular languages; a finite automaton solves them at any length, and so
  does an RNN that has learned its transition function):

  - :func:`parity_batch`: bits x_t ∈ {0, 1}; y_t = (x_0 + … + x_t) mod 2, the prefix parity;
  - :func:`modular_count_batch`: symbols x_t ∈ {0, …, k−1}; y_t = (x_0 + … + x_t) mod m,
    a running count modulo m (parity is k = m = 2);

* **retrieval** (the answer is one of O(S) stored facts, so a fixed-size state must lose some
  once S is large, while attention can look any of them up):

  - :func:`associative_recall_batch`: n = ⌊S/4⌋ key-value pairs ``k_1 v_1 … k_n v_n`` with
    distinct keys, then queries ``q_1 a_1 q_2 a_2 …`` filling the rest of the sequence; each q_j
    is one of the stored keys and a_j its value. The target at q_j's position is a_j (the model
    has just read q_j and must produce its value; the a_j tokens themselves are inputs, as in
    multi-query associative recall, Arora et al., 2024). Key ids are 0 … K−1, value ids
    K … K+V−1; chance accuracy 1/V.

:data:`TASKS` describes each task (vocabulary, classes, smallest length, chance) for the
notebook; :func:`make_batch` dispatches by name. Every generator takes an explicit
``torch.Generator`` so a batch is a function of the seed. ``tests/test_length_tasks.py``
checks every label against a brute-force loop over the sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _check_shape(batch_size: int, length: int, min_length: int) -> None:
    for name, v in (("batch_size", batch_size), ("length", length)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if length < min_length:
        raise ValueError(f"length must be >= {min_length} for this task, got {length}")


def modular_count_batch(batch_size: int, length: int, modulus: int = 5, num_symbols: int = 3,
                        generator: torch.Generator | None = None):
    """Running sum modulo ``modulus`` of symbols in {0, …, num_symbols−1}, scored everywhere.

    Returns x (B, S) with values < num_symbols, y (B, S) with values < modulus, mask all True.
    """
    _check_shape(batch_size, length, 1)
    if modulus < 2 or num_symbols < 2:
        raise ValueError(f"modulus and num_symbols must be >= 2, got {modulus} and {num_symbols}")
    x = torch.randint(0, num_symbols, (batch_size, length), generator=generator)   # (B, S)
    y = torch.remainder(torch.cumsum(x, dim=1), modulus)                          # (B, S)
    return x, y, torch.ones_like(x, dtype=torch.bool)


def parity_batch(batch_size: int, length: int, generator: torch.Generator | None = None):
    """Prefix parity of random bits: :func:`modular_count_batch` with k = m = 2."""
    return modular_count_batch(batch_size, length, modulus=2, num_symbols=2, generator=generator)


def associative_recall_batch(batch_size: int, length: int, num_keys: int = 64,
                             num_values: int = 16, generator: torch.Generator | None = None):
    """Key-value pairs, then queries; the target at each query key is its stored value.

    Layout of one sequence of length S (n = ⌊S/4⌋ pairs, 2n ≤ S/2 tokens):
    positions 0 … 2n−1 hold ``k_1 v_1 … k_n v_n`` (n distinct keys, values uniform);
    positions 2n, 2n+2, … hold query keys drawn uniformly from the n stored keys, each followed
    by its value (the last query has no answer token when S − 2n is odd). Ids: keys 0 … K−1,
    values K … K+V−1. ``y`` is the value id at query positions (0 elsewhere, unmasked).
    """
    _check_shape(batch_size, length, 4)
    n = length // 4
    if n > num_keys:
        raise ValueError(f"length {length} needs n = {n} distinct keys but num_keys = "
                         f"{num_keys}; use num_keys >= length // 4")
    if num_values < 2:
        raise ValueError(f"num_values must be >= 2, got {num_values}")
    B = batch_size
    keys = torch.rand(B, num_keys, generator=generator).argsort(dim=1)[:, :n]    # (B, n) distinct
    values = num_keys + torch.randint(0, num_values, (B, n), generator=generator)  # (B, n)
    x = torch.zeros(B, length, dtype=torch.long)
    y = torch.zeros(B, length, dtype=torch.long)
    mask = torch.zeros(B, length, dtype=torch.bool)
    x[:, 0:2 * n:2], x[:, 1:2 * n:2] = keys, values
    q_pos = torch.arange(2 * n, length, 2)                                       # (m,)
    which = torch.randint(0, n, (B, len(q_pos)), generator=generator)           # (B, m)
    q_keys = keys.gather(1, which)                                              # (B, m)
    q_vals = values.gather(1, which)
    x[:, q_pos] = q_keys
    a_pos = q_pos + 1
    has_answer = a_pos < length
    x[:, a_pos[has_answer]] = q_vals[:, has_answer]
    y[:, q_pos], mask[:, q_pos] = q_vals, True
    return x, y, mask


@dataclass(frozen=True)
class Task:
    """What a model needs to know about a task: vocabulary, output classes, shortest length."""

    name: str
    vocab_size: int        # input ids and target ids are all < vocab_size
    min_length: int
    chance: float          # accuracy of guessing uniformly among the possible targets
    kind: str              # "state tracking" | "retrieval"


def recall_num_keys(max_length: int) -> int:
    """Keys needed so the longest test sequence can hold ⌊S/4⌋ distinct keys (at least 64)."""
    return max(64, max_length // 4)


def tasks(max_length: int = 256) -> dict[str, Task]:
    """The tasks of notebook 30, for test sequences up to ``max_length``."""
    K = recall_num_keys(max_length)
    return {
        "parity": Task("parity", 2, 1, 0.5, "state tracking"),
        "modular_count": Task("modular_count", 5, 1, 0.2, "state tracking"),
        "recall": Task("recall", K + 16, 4, 1 / 16, "retrieval"),
    }


TASKS = tuple(tasks())


def make_batch(task: str, batch_size: int, length: int, generator: torch.Generator | None = None,
               max_length: int = 256):
    """``(x, y, mask)`` of task ``task`` (one of :data:`TASKS`); ``max_length`` fixes the recall
    task's key vocabulary (:func:`recall_num_keys`), which must be the same in training and test."""
    if task == "parity":
        return parity_batch(batch_size, length, generator)
    if task == "modular_count":
        return modular_count_batch(batch_size, length, 5, 3, generator)
    if task == "recall":
        return associative_recall_batch(batch_size, length, recall_num_keys(max_length), 16,
                                        generator)
    raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")
