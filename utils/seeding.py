"""Same seed, same numbers: one call seeds Python, NumPy and torch.

Every random thing in a notebook is derived from its ``seeds`` parameter through
:func:`seed_everything` (global generators) or :func:`generator` / :func:`numpy_rng` (explicit
generators, preferred where an API accepts one). Deterministic algorithms are switched on with
``warn_only=True``: torch then warns instead of failing for the few CPU ops that have no
deterministic version.
"""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    import torch

    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if hasattr(torch.backends, "cudnn"):
            torch.backends.cudnn.benchmark = False


def generator(seed: int, device: str = "cpu"):
    """A fresh ``torch.Generator`` seeded with ``seed``."""
    import torch

    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def numpy_rng(seed: int) -> np.random.Generator:
    """A fresh NumPy ``Generator`` seeded with ``seed``."""
    return np.random.default_rng(int(seed))
