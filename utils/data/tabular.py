"""Regression data for notebook 31: tables (feature tokens) and time series (scalar tokens).

Taught in notebook 31 (seed 000 Q2, LayerNorm vs BatchNorm on fine-grained regression).

* :func:`friedman1`: the Friedman #1 benchmark (Friedman, 1991; the formula of scikit-learn's
  ``make_friedman1``), x ~ U[0, 1]^F (F ≥ 5, features 6..F are pure noise) and

      y = 10 sin(π x₁ x₂) + 20 (x₃ − ½)² + 10 x₄ + 5 x₅ + σ ε,   ε ~ N(0, 1).

  The Bayes predictor is the noiseless f(x), so no model can have an expected test RMSE below
  σ: the **noise floor** is known exactly.
* :func:`load_diabetes`: scikit-learn's diabetes table (Efron et al., 2004), 442 patients × 10
  baseline variables (age, sex, BMI, blood pressure, six serum measurements; raw units), target
  a disease-progression score 25-346 one year later.
* :func:`load_series`: statsmodels' Mauna Loa ``co2`` (weekly ppm, 1958-2001, 2,284 weeks, the
  59 missing weeks filled by linear interpolation in time) and ``sunspots`` (yearly mean
  sunspot number, 1700-2008, 309 years).
* :func:`block_means` (four-week means of the weekly co2), :func:`split_indices` (random
  train/val/test split), :class:`Standardizer` (statistics of the
  training rows only) and :func:`chronological_windows` (sliding windows context → horizon,
  split by time so the test period comes after the training period).

Nothing is downloaded: the tables ship inside the scikit-learn and statsmodels wheels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SERIES = ("co2", "sunspots")


def friedman1_target(X: np.ndarray) -> np.ndarray:
    """The noiseless Friedman #1 function f(x) of the first five columns, (n, F) → (n,)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] < 5:
        raise ValueError(f"Friedman #1 needs (n, F >= 5) inputs, got shape {X.shape}")
    return (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2 + 10 * X[:, 3]
            + 5 * X[:, 4])


def friedman1(n: int, n_features: int = 10, noise: float = 1.0, seed: int = 0):
    """(X (n, F), y (n,), f (n,)): inputs, noisy targets, noiseless targets. RMSE floor = noise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
            or n_features < 5:
        raise ValueError(f"n_features must be an int >= 5 (Friedman #1 uses five), got "
                         f"{n_features!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, n_features))
    f = friedman1_target(X)
    y = f + noise * rng.standard_normal(n)
    return X, y, f


def load_diabetes() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(X (442, 10) raw units, y (442,), feature names) from scikit-learn's bundled CSV."""
    try:
        from sklearn.datasets import load_diabetes as _load
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("the diabetes table ships with scikit-learn: pip install "
                          "scikit-learn (requirements.txt)") from exc
    d = _load(scaled=False)
    return np.asarray(d.data, float), np.asarray(d.target, float), list(d.feature_names)


def load_series(name: str) -> np.ndarray:
    """A real univariate series as float64 (no NaN): ``co2`` (2,284 weeks) or ``sunspots``."""
    if name not in SERIES:
        raise ValueError(f"unknown series {name!r}; allowed: {', '.join(map(repr, SERIES))}")
    try:
        from statsmodels import datasets as smd
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError(f"the {name} series ships with statsmodels: pip install statsmodels "
                          f"(requirements.txt)") from exc
    if name == "co2":
        s = smd.co2.load_pandas().data["co2"]
        s = s.interpolate(method="time", limit_direction="both")     # 59 missing weeks
    else:
        s = smd.sunspots.load_pandas().data["SUNACTIVITY"]
    out = s.to_numpy(dtype=float)
    assert not np.isnan(out).any()
    return out


def block_means(series: np.ndarray, k: int) -> np.ndarray:
    """Means of consecutive blocks of ``k`` values (a trailing partial block is dropped):
    weekly co2 with k = 4 gives 571 four-week means."""
    s = np.asarray(series, dtype=float)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or k > len(s):
        raise ValueError(f"k must be an int in 1..{len(s)}, got {k!r}")
    n = len(s) // k
    return s[:n * k].reshape(n, k).mean(axis=1)


def split_indices(n: int, fractions=(0.6, 0.2, 0.2), seed: int = 0):
    """Random disjoint (train, val, test) index arrays; sizes round(f·n), test gets the rest."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got "
                         f"{fractions}")
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    if n_train < 1 or n_val < 1 or n - n_train - n_val < 1:
        raise ValueError(f"n={n} is too small for fractions {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


@dataclass
class Standardizer:
    """z = (x − mean) / std per column, with mean and std from the training rows only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "Standardizer":
        x = np.asarray(x, dtype=float)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, x):
        return (np.asarray(x, dtype=float) - self.mean) / self.std

    def inverse(self, z):
        return np.asarray(z, dtype=float) * self.std + self.mean


def chronological_windows(series: np.ndarray, context: int, horizon: int,
                          fractions=(0.7, 0.1, 0.2)) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sliding windows x = s[t−L : t] → y = s[t : t+H], split by time.

    The series is cut into consecutive train / val / test segments of sizes round(f·N) (test
    gets the rest). A window belongs to the segment that holds **all** its targets; its context
    may reach back into the previous segment (as at forecasting time). Returns
    ``{"train": (X (n, L), Y (n, H)), "val": ..., "test": ...}``.
    """
    s = np.asarray(series, dtype=float)
    for name, v in (("context", context), ("horizon", horizon)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if s.ndim != 1 or np.isnan(s).any():
        raise ValueError("series must be a 1-D array without NaN")
    N = len(s)
    n_train, n_val = round(fractions[0] * N), round(fractions[1] * N)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
              "test": (n_train + n_val, N)}
    out = {}
    for split, (lo, hi) in bounds.items():
        starts = np.arange(max(lo, context), hi - horizon + 1)      # t: first target index
        if len(starts) < 1:
            raise ValueError(f"the {split} segment [{lo}, {hi}) holds no window of context "
                             f"{context} and horizon {horizon} (series of {N})")
        X = np.stack([s[t - context:t] for t in starts])
        Y = np.stack([s[t:t + horizon] for t in starts])
        out[split] = (X, Y)
    return out
