"""Multi-seed tables: mean ± standard deviation per group, the best value in bold.

Every number the pack reports from a randomised experiment is a mean over seeds with its
standard deviation (sample std, ``ddof=1``; 0 for a single seed). :func:`aggregate` computes
them from a long table (one row per run); :func:`table` renders them for the report with a
caption and the best entry of each metric column in bold. Two arms are compared with
:func:`welch_test` (Welch's t-test) or :func:`bootstrap_ci` (a percentile bootstrap interval).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 for one value) of a 1-D sequence."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("mean_std() needs at least one value")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def aggregate(df: pd.DataFrame, by: str | Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Group ``df`` by ``by`` and give ``<metric>_mean``, ``<metric>_std`` and ``n_runs`` per group."""
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, *metrics] if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the table; it has {list(df.columns)}")
    grouped = df.groupby(by, sort=False, dropna=False)
    out = grouped[list(metrics)].agg(["mean", lambda s: s.std(ddof=1) if len(s) > 1 else 0.0])
    out.columns = [f"{m}_{'mean' if stat == 'mean' else 'std'}" for m, stat in out.columns]
    out["n_runs"] = grouped.size()
    return out.reset_index()


def _fmt(mean: float, std: float, digits: int) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(df: pd.DataFrame, by: str | Sequence[str], metrics: Sequence[str],
          best: Mapping[str, str] | None = None, caption: str = "", digits: int | Mapping = 3,
          labels: Mapping[str, str] | None = None, count_label: str = "seeds",
          best_test: bool = True):
    """A styled "mean ± std" table (pandas ``Styler``) with the best value per metric in bold.

    ``best`` maps a metric to ``"max"`` or ``"min"`` (metrics not named get no bold). With
    ``best_test`` (the default) a best value is bold only where it *beats the runner-up* beyond
    the spread over seeds (:func:`utils.verdicts.compare`, Welch p < 0.05): a tie at the top, or
    a gap within the noise, bolds nothing, and the caption says so;
    ``labels`` renames columns for display; ``digits`` is one int or a per-metric mapping;
    ``count_label`` names the column counting the rows behind each mean ("seeds" by default).
    """
    by = [by] if isinstance(by, str) else list(by)
    agg = aggregate(df, by, metrics)
    best = dict(best or {})
    for m, how in best.items():
        if how not in ("max", "min"):
            raise ValueError(f"best[{m!r}] must be 'max' or 'min', got {how!r}")
        if m not in metrics:
            raise KeyError(f"best names {m!r}, which is not one of the metrics {list(metrics)}")
    labels = dict(labels or {})
    shown = agg[by].copy()
    bold = pd.DataFrame(False, index=agg.index, columns=[labels.get(c, c) for c in [*by, *metrics]])
    for m in metrics:
        d = digits[m] if isinstance(digits, Mapping) else digits
        col = labels.get(m, m)
        shown[col] = [_fmt(a, b, d) for a, b in zip(agg[f"{m}_mean"], agg[f"{m}_std"])]
        if m in best:
            means = agg[f"{m}_mean"].round(d)
            target = means.max() if best[m] == "max" else means.min()
            is_best = means == target
            if best_test:
                is_best = is_best & _beats_runner_up(df, by, agg, m, is_best, best[m])
            bold[col] = is_best.values
    shown = shown.rename(columns=labels)
    shown[count_label] = agg["n_runs"].values
    bold[count_label] = False
    styler = shown.style.hide(axis="index").apply(
        lambda _: np.where(bold.values, "font-weight: bold", ""), axis=None)
    if caption and best and best_test:
        caption += (" (Bold only where the best mean beats the runner-up beyond the spread over "
                    "seeds, Welch p < 0.05.)")
    if caption:
        styler = styler.set_caption(caption)
    return styler


def _beats_runner_up(df: pd.DataFrame, by: list, agg: pd.DataFrame, metric: str,
                     is_best: pd.Series, how: str) -> pd.Series:
    """True for the single best group when its runs beat the runner-up group's (Welch)."""
    from .verdicts import compare

    out = pd.Series(False, index=agg.index)
    if is_best.sum() != 1 or len(agg) < 2:
        return out                                   # a tie at the top, or nothing to beat
    i = is_best.idxmax()
    rest = agg.drop(index=i)[f"{metric}_mean"]
    j = rest.idxmax() if how == "max" else rest.idxmin()

    def values(row):
        mask = np.ones(len(df), dtype=bool)
        for k in by:
            v = agg.loc[row, k]
            mask &= (df[k] == v).to_numpy() if not pd.isna(v) else df[k].isna().to_numpy()
        return df.loc[mask, metric].to_numpy(dtype=float)

    a, b = values(i), values(j)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size and b.size:
        v = compare(a, b, ("best", "runner-up"), better="higher" if how == "max" else "lower")
        out[i] = v.winner == "best"
    return out


def plain_table(df: pd.DataFrame, caption: str, fmt=None, bold: Mapping[str, str] | None = None):
    """A captioned table of single measurements (no seeds to average), best value in bold.

    ``fmt`` is a pandas format (one string or a per-column mapping); ``bold`` maps a column to
    ``"max"`` or ``"min"``. Use :func:`table` instead when rows are repeated over seeds.
    """
    bold = dict(bold or {})
    for col, how in bold.items():
        if how not in ("max", "min"):
            raise ValueError(f"bold[{col!r}] must be 'max' or 'min', got {how!r}")
        if col not in df.columns:
            raise KeyError(f"bold names {col!r}, which is not a column of {list(df.columns)}")
    styler = df.style.hide(axis="index").set_caption(caption)
    if fmt:
        styler = styler.format(fmt)
    for col, how in bold.items():
        target = df[col].max() if how == "max" else df[col].min()
        styler = styler.apply(
            lambda s, t=target: ["font-weight: bold" if v == t else "" for v in s], subset=[col])
    return styler


def fit_power_law(x, y) -> tuple[float, float]:
    """Fit ``y = c · x^k`` by least squares in log-log space; returns ``(k, c)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("fit_power_law needs at least two positive (x, y) points")
    k, logc = np.polyfit(np.log(x), np.log(y), 1)
    return float(k), float(np.exp(logc))


# --- Comparing two arms (the assertion studies, notebooks 30-35; the studies 06-16 too) -------

class WelchResult(NamedTuple):
    """Welch's unequal-variance t-test of arm a against arm b (two-sided)."""

    mean_a: float
    std_a: float
    n_a: int
    mean_b: float
    std_b: float
    n_b: int
    diff: float          # mean_a - mean_b
    t: float
    p: float

    def __str__(self) -> str:
        return (f"{self.mean_a:.4g} ± {self.std_a:.3g} (n={self.n_a}) vs {self.mean_b:.4g} ± "
                f"{self.std_b:.3g} (n={self.n_b}): Δ = {self.diff:+.4g}, Welch t = {self.t:.3g}, "
                f"p = {self.p:.3g}")


def _arm(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size < 2:
        raise ValueError(f"arm {name} needs at least 2 values (seeds) for a t-test, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"arm {name} holds non-finite values: {arr.tolist()}")
    return arr


def welch_test(a, b) -> WelchResult:
    """Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``), two-sided.

    t = (ā − b̄) / sqrt(s_a²/n_a + s_b²/n_b), with Welch–Satterthwaite degrees of freedom. When
    both arms have zero variance the statistic is undefined; then p = 1 if the means are equal
    and p = 0 if they differ (the arms are separated without overlap), with t = ±inf.
    """
    from scipy import stats as sstats

    a, b = _arm(a, "a"), _arm(b, "b")
    ma, mb = float(a.mean()), float(b.mean())
    sa, sb = float(a.std(ddof=1)), float(b.std(ddof=1))
    if sa == 0 and sb == 0:
        t = 0.0 if ma == mb else float(np.sign(ma - mb)) * np.inf
        p = 1.0 if ma == mb else 0.0
    else:
        import warnings

        with warnings.catch_warnings():      # nearly equal arms: scipy warns, the p is right
            warnings.simplefilter("ignore", RuntimeWarning)
            res = sstats.ttest_ind(a, b, equal_var=False)
        t, p = float(res.statistic), float(res.pvalue)
    return WelchResult(ma, sa, a.size, mb, sb, b.size, ma - mb, t, p)


def bootstrap_ci(a, b=None, level: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a), or of mean(a) − mean(b) when ``b`` is given
    (each arm resampled with replacement on its own). Seeded, so the interval is reproducible."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    rng = np.random.default_rng(seed)
    a = np.asarray(a, dtype=float).ravel()
    if a.size < 1:
        raise ValueError("bootstrap_ci needs at least one value in a")
    stat = a[rng.integers(0, a.size, (n_boot, a.size))].mean(axis=1)
    if b is not None:
        b = np.asarray(b, dtype=float).ravel()
        if b.size < 1:
            raise ValueError("bootstrap_ci needs at least one value in b")
        stat = stat - b[rng.integers(0, b.size, (n_boot, b.size))].mean(axis=1)
    lo, hi = np.quantile(stat, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
