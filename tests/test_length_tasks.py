"""The synthetic tasks of notebook 30 (utils/data/length_tasks.py): labels against brute force."""

import pytest
import torch

from utils.data import length_tasks as lt


def g(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("length", [1, 2, 7, 40, 97])
def test_parity_labels_brute_force(length):
    x, y, mask = lt.parity_batch(16, length, g(length))
    assert x.shape == y.shape == mask.shape == (16, length)
    assert mask.all() and set(x.unique().tolist()) <= {0, 1}
    for b in range(16):
        ones = 0
        for t in range(length):
            ones += int(x[b, t])
            assert int(y[b, t]) == ones % 2


@pytest.mark.parametrize("length", [1, 5, 33, 128])
def test_modular_count_labels_brute_force(length):
    x, y, mask = lt.modular_count_batch(8, length, modulus=5, num_symbols=3, generator=g(1))
    assert mask.all() and int(x.max()) < 3 and int(y.max()) < 5
    for b in range(8):
        state = 0
        for t in range(length):
            state = (state + int(x[b, t])) % 5
            assert int(y[b, t]) == state


def test_parity_is_modular_count_with_two_symbols():
    a = lt.parity_batch(4, 30, g(3))
    b = lt.modular_count_batch(4, 30, modulus=2, num_symbols=2, generator=g(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("length", [4, 5, 6, 7, 40, 41, 256])
def test_associative_recall_brute_force(length):
    K, V = 64, 16
    x, y, mask = lt.associative_recall_batch(32, length, K, V, g(length))
    n = length // 4
    for b in range(32):
        seq = x[b].tolist()
        store = {}
        for i in range(n):                       # the pairs: distinct keys, then their values
            k, v = seq[2 * i], seq[2 * i + 1]
            assert 0 <= k < K and K <= v < K + V and k not in store
            store[k] = v
        for t in range(length):
            in_query_slot = t >= 2 * n and (t - 2 * n) % 2 == 0
            assert bool(mask[b, t]) == in_query_slot
            if in_query_slot:
                assert seq[t] in store                       # a stored key
                assert int(y[b, t]) == store[seq[t]]         # target: its value
                if t + 1 < length:
                    assert seq[t + 1] == store[seq[t]]       # followed by the answer token
    assert mask.sum(1).min() >= 1


def test_recall_keys_are_uniform_over_the_key_vocabulary():
    x, _, _ = lt.associative_recall_batch(2000, 8, 64, 16, g(7))
    counts = torch.bincount(x[:, 0], minlength=64).float()
    assert counts.min() > 0 and counts.max() / counts.mean() < 1.8


def test_make_batch_and_task_table():
    spec = lt.tasks(512)
    assert spec["recall"].vocab_size == 128 + 16 and lt.recall_num_keys(512) == 128
    for name in lt.TASKS:
        x, y, mask = lt.make_batch(name, 3, 12, g(), max_length=512)
        assert int(x.max()) < spec[name].vocab_size and int(y[mask].max()) < spec[name].vocab_size
    a = lt.make_batch("recall", 3, 12, g(5))
    b = lt.make_batch("recall", 3, 12, g(5))
    assert all(torch.equal(u, v) for u, v in zip(a, b))      # a batch is a function of the seed


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown task"):
        lt.make_batch("copy", 2, 8)
    with pytest.raises(ValueError, match="length must be >= 4"):
        lt.associative_recall_batch(2, 3)
    with pytest.raises(ValueError, match="distinct keys"):
        lt.associative_recall_batch(2, 400, num_keys=64)
    with pytest.raises(ValueError, match="batch_size"):
        lt.parity_batch(0, 5)
    with pytest.raises(TypeError, match="length must be an int"):
        lt.parity_batch(2, 5.0)
