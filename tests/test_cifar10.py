"""CIFAR-10 loader (utils.data.images.load_cifar10) on small files written in the original
format: pickled dicts with b'data' (N, 3072) uint8 in R, G, B planes of 32×32 and b'labels'."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from utils.data.images import load_cifar10


def write_batch(path, data: np.ndarray, labels, protocol: int = 2):
    # the original batches were pickled by Python 2: keys are bytes, labels a list of ints
    with open(path, "wb") as fh:
        pickle.dump({b"batch_label": b"testing batch", b"labels": list(map(int, labels)),
                     b"data": data, b"filenames": [b"x.png"] * len(labels)}, fh,
                    protocol=protocol)


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    batches = {}
    for i, n in ((1, 6), (2, 4)):                      # two of the five training batches
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        write_batch(root / f"data_batch_{i}", data, labels)
        batches[i] = (data, labels)
    test = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    write_batch(root / "test_batch", test, [3, 1, 4, 1, 5])
    return tmp_path, batches, test


def test_layout_values_and_order(cifar_dir):
    parent, batches, test = cifar_dir
    x_tr, y_tr, x_te, y_te = load_cifar10(parent)     # the parent folder works too
    assert x_tr.shape == (10, 3, 32, 32) and x_te.shape == (5, 3, 32, 32)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    data = np.concatenate([batches[1][0], batches[2][0]])
    n, c, i, j = 7, 2, 5, 30                           # blue plane, row 5, column 30
    assert x_tr[n, c, i, j].item() == pytest.approx(data[n, c * 1024 + i * 32 + j] / 255.0)
    assert y_tr.tolist() == list(batches[1][1]) + list(batches[2][1])
    assert y_te.tolist() == [3, 1, 4, 1, 5]
    assert float(x_te.max()) <= 1.0 and float(x_te.min()) >= 0.0
    assert torch.equal((x_te * 255).round().to(torch.uint8).reshape(5, -1),
                       torch.from_numpy(test))        # exact round trip of every pixel


def test_limits(cifar_dir):
    parent, batches, _ = cifar_dir
    x_tr, y_tr, x_te, y_te = load_cifar10(parent / "cifar-10-batches-py", n_train=7, n_test=2)
    assert len(x_tr) == len(y_tr) == 7 and len(x_te) == len(y_te) == 2
    with pytest.raises(ValueError, match="n_train must be a positive int"):
        load_cifar10(parent, n_train=0)


def test_bad_input_gives_clear_errors(tmp_path, cifar_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cifar10(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="must hold the CIFAR-10 Python batches"):
        load_cifar10(empty)
    parent, _, _ = cifar_dir
    root = parent / "cifar-10-batches-py"
    write_batch(root / "test_batch", np.zeros((2, 100), np.uint8), [0, 1])
    with pytest.raises(ValueError, match=r"uint8 of shape \(N, 3072\)"):
        load_cifar10(parent)
    write_batch(root / "test_batch", np.zeros((2, 3072), np.uint8), [0, 12])
    with pytest.raises(ValueError, match="ints in 0..9"):
        load_cifar10(parent)
    (root / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a CIFAR-10 Python batch"):
        load_cifar10(parent)
