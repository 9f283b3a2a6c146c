"""Verdicts: the one place where the pack decides that one arm beat another (or did not).

Every comparative sentence of notebooks 06-16 ("the GPT generalises sooner", "weight decay
shortens the delay", "post-norm is worse") and the criteria of the assertion studies 30-35 rest
on a handful of per-seed numbers. With three seeds a difference of means alone crowns winners
at chance level, so a difference is called only when it exceeds the spread over seeds:

* :func:`compare`: two arms, Welch's t-test on the per-seed values (:func:`utils.stats.welch_test`);
  a winner only when p < ``alpha``. Equal arms, or one seed per arm, give no winner; a tie never
  defaults to one side.
* :func:`trend`: does a metric move with a parameter? The ordinary least-squares slope of y on x
  over every run (one point per seed and parameter value), its standard error and the two-sided
  p-value of slope = 0 (``scipy.stats.linregress``); optionally on log₂ x.
* :func:`compare_slopes`: which of two arms has the lower (or higher) slope, from the difference
  of the two OLS slopes and its standard error sqrt(SE_a² + SE_b²), tested with Welch–
  Satterthwaite degrees of freedom.

Each returns a :class:`Verdict`: ``winner`` (a name, ``"increases"``/``"decreases"``, or None),
``text`` (a sentence with the numbers, ready for :func:`utils.notebook.answer`), ``p`` and
``diff``. ``bool(verdict)`` says whether something was called. Tested in ``tests/test_verdicts.py``
on constructed data (equal arms: no winner; a clear gap: the right winner).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .stats import mean_std, welch_test

ALPHA = 0.05
BETTER = ("lower", "higher", None)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison: who wins (None: no measurable difference) and why."""

    winner: str | None
    text: str
    p: float
    diff: float
    n: tuple

    def __bool__(self) -> bool:
        return self.winner is not None

    def __str__(self) -> str:
        return self.text


def _values(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError(f"{name} has no values; a verdict needs at least one per arm")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has non-finite values {arr.tolist()}; drop runs that did not "
                         "reach the quantity (and say how many) before comparing")
    return arr


def _check(better, alpha: float) -> None:
    if better not in BETTER:
        raise ValueError(f"better must be 'lower', 'higher' or None, got {better!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _fmt(x: float, digits: int) -> str:
    return f"{x:,.{digits}f}"


def _seeds(n_a: int, n_b: int) -> str:
    return f"{n_a} seeds each" if n_a == n_b else f"{n_a} and {n_b} seeds"


def compare(a: Sequence[float], b: Sequence[float], names: tuple[str, str] = ("A", "B"), *,
            better: str | None = "lower", what: str = "the metric", digits: int = 3,
            alpha: float = ALPHA) -> Verdict:
    """Compare two arms of per-seed values with Welch's t-test.

    ``better="lower"`` (a loss, a step count) or ``"higher"`` (an accuracy): the winner is the
    better arm. ``better=None``: the winner is the *larger* arm and the sentence says "higher".
    A winner is named only when p < ``alpha`` and each arm has at least two seeds.
    """
    _check(better, alpha)
    a, b = _values(a, names[0]), _values(b, names[1])
    ma, sa = mean_std(a)
    mb, sb = mean_std(b)
    nums = (f"{_fmt(ma, digits)} ± {_fmt(sa, digits)} vs {_fmt(mb, digits)} ± "
            f"{_fmt(sb, digits)}")
    if a.size < 2 or b.size < 2:
        return Verdict(None, f"no verdict on {what} with one seed in an arm ({names[0]} vs "
                       f"{names[1]}: {nums}); more seeds would tell", math.nan, ma - mb,
                       (a.size, b.size))
    w = welch_test(a, b)
    if w.p < alpha and ma != mb:
        if better == "lower":
            win, lose = (names[0], names[1]) if ma < mb else (names[1], names[0])
            word = "lower"
        else:
            win, lose = (names[0], names[1]) if ma > mb else (names[1], names[0])
            word = "higher"
        first = (ma, sa) if win == names[0] else (mb, sb)
        second = (mb, sb) if win == names[0] else (ma, sa)
        text = (f"{win} has the {word} {what}: {_fmt(first[0], digits)} ± "
                f"{_fmt(first[1], digits)} vs {_fmt(second[0], digits)} ± "
                f"{_fmt(second[1], digits)} for {lose} (Welch p = {w.p:.2g}, "
                f"{_seeds(a.size, b.size)})")
        return Verdict(win, text, w.p, ma - mb, (a.size, b.size))
    text = (f"no measurable difference in {what} at this budget ({_seeds(a.size, b.size)}): "
            f"{names[0]} {_fmt(ma, digits)} ± {_fmt(sa, digits)} vs {names[1]} "
            f"{_fmt(mb, digits)} ± {_fmt(sb, digits)} (Welch p = {w.p:.2g})")
    return Verdict(None, text, w.p, ma - mb, (a.size, b.size))


def _ols(x: np.ndarray, y: np.ndarray):
    """Slope, its standard error and the residual degrees of freedom of y ≈ a + b x."""
    if x.size != y.size:
        raise ValueError(f"x and y differ in length ({x.size} vs {y.size})")
    if np.unique(x).size < 2:
        raise ValueError(f"a trend needs at least two distinct x values, got {np.unique(x)}")
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc ** 2).sum())
    dof = x.size - 2
    if dof < 1:
        return slope, math.nan, 0
    resid = y - (y.mean() + slope * xc)
    se = float(math.sqrt((resid ** 2).sum() / dof / (xc ** 2).sum()))
    return slope, se, dof


def _p_from_t(t: float, dof: float) -> float:
    from scipy import stats as sstats

    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return float(2 * sstats.t.sf(abs(t), dof))


def trend(x: Sequence[float], y: Sequence[float], *, what: str = "the metric",
          param: str = "the parameter", log2_x: bool = False, digits: int = 3,
          alpha: float = ALPHA) -> Verdict:
    """Does ``y`` move with ``x``? OLS slope over all runs (repeat x once per seed).

    The winner is ``"increases"`` or ``"decreases"`` when the slope differs from 0 at
    ``alpha``; otherwise None ("no measurable trend").
    """
    _check(None, alpha)
    x, y = _values(x, param), _values(y, what)
    if log2_x:
        if np.any(x <= 0):
            raise ValueError(f"log2_x needs positive x, got {x.tolist()}")
        x = np.log2(x)
    slope, se, dof = _ols(x, y)
    per = f"per doubling of {param}" if log2_x else f"per unit of {param}"
    if dof < 1 or se == 0 and slope == 0:
        p = 1.0 if dof >= 1 else math.nan
        return Verdict(None, f"no measurable trend of {what} with {param} (slope "
                       f"{_fmt(slope, digits)} {per}, {x.size} runs)", p, slope, (x.size,))
    t = slope / se if se > 0 else math.copysign(math.inf, slope)
    p = _p_from_t(t, dof)
    nums = (f"slope {_fmt(slope, digits)} ± {_fmt(se, digits)} (SE) {per}, p = {p:.2g}, "
            f"{x.size} runs")
    if p < alpha and slope != 0:
        word = "increases" if slope > 0 else "decreases"
        return Verdict(word, f"{what} {word} with {param}: {nums}", p, slope, (x.size,))
    return Verdict(None, f"no measurable trend of {what} with {param} at this budget: {nums}",
                   p, slope, (x.size,))


def compare_slopes(x_a: Sequence[float], y_a: Sequence[float], x_b: Sequence[float],
                   y_b: Sequence[float], names: tuple[str, str] = ("A", "B"), *,
                   better: str | None = "lower", what: str = "the slope",
                   log2_x: bool = False, digits: int = 3, alpha: float = ALPHA) -> Verdict:
    """Which arm's OLS slope is lower (``better="lower"``) or higher, beyond their errors.

    The difference of slopes d = b_a − b_b has standard error sqrt(SE_a² + SE_b²); t = d / SE
    is referred to Student's t with Welch–Satterthwaite degrees of freedom.
    """
    _check(better, alpha)
    xa, ya = _values(x_a, f"{names[0]} x"), _values(y_a, f"{names[0]} y")
    xb, yb = _values(x_b, f"{names[1]} x"), _values(y_b, f"{names[1]} y")
    if log2_x:
        if np.any(xa <= 0) or np.any(xb <= 0):
            raise ValueError("log2_x needs positive x values")
        xa, xb = np.log2(xa), np.log2(xb)
    sa, ea, da = _ols(xa, ya)
    sb, eb, db = _ols(xb, yb)
    d = sa - sb
    nums = (f"{names[0]} {_fmt(sa, digits)} ± {_fmt(ea, digits)} vs {names[1]} "
            f"{_fmt(sb, digits)} ± {_fmt(eb, digits)} (SE)")
    if da < 1 or db < 1:
        return Verdict(None, f"no verdict on {what}: too few runs for a standard error "
                       f"({nums})", math.nan, d, (xa.size, xb.size))
    se = math.sqrt(ea ** 2 + eb ** 2)
    if se == 0:
        p = 1.0 if d == 0 else 0.0
    else:
        dof = se ** 4 / (ea ** 4 / da + eb ** 4 / db) if ea > 0 and eb > 0 else max(da, db)
        p = _p_from_t(d / se, dof)
    if p < alpha and d != 0:
        word = "lower" if better == "lower" else "higher"
        if better == "lower":
            win = names[0] if sa < sb else names[1]
        else:
            win = names[0] if sa > sb else names[1]
        return Verdict(win, f"{win} has the {word} {what}: {nums}; difference p = {p:.2g}",
                       p, d, (xa.size, xb.size))
    return Verdict(None, f"no measurable difference in {what} at this budget: {nums}; "
                   f"difference p = {p:.2g}", p, d, (xa.size, xb.size))
