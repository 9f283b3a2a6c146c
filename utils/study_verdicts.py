"""The comparisons of notebooks 12-14 (seed 001, problem 4, questions 4 (c), 5 (c) and 6 (c)).

Each study asks a comparative question of a handful of per-seed numbers; the answer is never a
difference of means but a :class:`utils.verdicts.Verdict` (Welch's t-test, or OLS slopes with
their standard errors), so that "no measurable difference at this budget" is the answer when the
seeds disagree. This module holds the comparison logic of the three notebooks, as functions of
their summary tables, so that it is tested on constructed frames (``tests/test_study_verdicts.py``):

* :func:`first_reach_verdict` (notebook 12): which kind of equation (binary or ternary) first
  reaches an accuracy threshold. A run that never reaches it within ``T`` is *censored*: it is
  counted as ``T`` (the earliest it could have reached it), which can only make that arm look
  faster than it is, so an arm with a censored run is never named the faster one;
* :func:`scaling_verdicts` (notebook 13): for L fixed, which model scales better with d; for d
  fixed, with L; and with the parameter count P, in L_val (on a log₁₀ scale) and A_val, from
  :func:`utils.studies.scaling_verdict` (the difference of the two models' OLS slopes);
* :func:`batch_verdict` and :func:`budget_verdict` (notebook 14): does the validation metric
  move with the batch size B at one budget fraction α (an OLS trend over every run, log₂ B), and
  does it improve from the smallest budget to the whole one at one B (Welch over the seeds; the
  prefixes of one run are not independent, so no trend over α is fitted).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import studies, verdicts
from .verdicts import Verdict


# ---------------------------------------------------------------------------------------------
# notebook 12: which kind of equation is predicted first


def first_reach_verdict(a: Sequence[float], b: Sequence[float], T: int,
                        names: tuple[str, str] = ("binary", "ternary"),
                        what: str = "first step with training accuracy ≥ 0.99",
                        alpha: float = verdicts.ALPHA) -> Verdict:
    """Which arm reaches a threshold first: per-seed first steps ``a`` and ``b`` (NaN: not
    within ``T`` steps), compared with :func:`utils.verdicts.compare` (lower is better).

    Runs that never reach it count as ``T`` (censored: their true step is later). The faster
    arm is named only when it has no censored run; when no run of either arm reaches the
    threshold there is no verdict.
    """
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be a positive number of steps, got {T!r}")
    arms = [np.asarray(x, dtype=float).ravel() for x in (a, b)]
    for arm, name in zip(arms, names):
        if arm.size == 0:
            raise ValueError(f"arm {name!r} has no runs")
        if np.any(arm[~np.isnan(arm)] > T) or np.any(arm[~np.isnan(arm)] < 0):
            raise ValueError(f"arm {name!r} has steps outside [0, T = {T}]: {arm.tolist()}")
    missed = [int(np.isnan(arm).sum()) for arm in arms]
    if all(m == arm.size for m, arm in zip(missed, arms)):
        return Verdict(None, f"no verdict on the {what}: no run of either kind reached it within "
                       f"T = {T} steps ({arms[0].size} and {arms[1].size} runs)", math.nan,
                       math.nan, (arms[0].size, arms[1].size))
    filled = [np.where(np.isnan(arm), float(T), arm) for arm in arms]
    v = verdicts.compare(*filled, names, better="lower", what=what, digits=0, alpha=alpha)
    note = "; ".join(f"{m} of {arm.size} {name} runs did not reach it within T = {T} and count "
                     f"as {T}" for m, arm, name in zip(missed, arms, names) if m)
    if v.winner is not None and missed[names.index(v.winner)]:
        return Verdict(None, f"no verdict on the {what}: the earlier arm ({v.winner}) has runs "
                       f"that did not reach it within T = {T} ({note}; {v.text})", v.p, v.diff,
                       v.n)
    return Verdict(v.winner, v.text + (f" ({note})" if note else ""), v.p, v.diff, v.n)


def order_verdicts(df: pd.DataFrame, model: str, T: int, columns: Mapping[str, str],
                   kinds: tuple[str, str] = ("binary", "ternary"),
                   alpha: float = verdicts.ALPHA) -> dict:
    """:func:`first_reach_verdict` of binary vs ternary for each ``{column: description}`` of
    ``df`` (one row per run and kind of equation: columns ``model``, ``equations``, ``seed``),
    for one ``model``. Rows are matched by seed."""
    sub = df[df["model"] == model]
    if sub.empty:
        raise ValueError(f"no rows for model {model!r}; the table has {sorted(set(df['model']))}")
    out = {}
    for col, what in columns.items():
        a, b = (sub[sub["equations"] == k].sort_values("seed")[col].to_numpy(float)
                for k in kinds)
        out[col] = first_reach_verdict(a, b, T, kinds, what=what, alpha=alpha)
    return out


# ---------------------------------------------------------------------------------------------
# notebook 13: which model scales better with d, L and P


SCALING_METRICS = {"log10_L_val": "log10 L_val", "A_val": "A_val"}


def with_log_loss(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a column ``log10_L_val`` (losses scale multiplicatively)."""
    if (df["L_val"] <= 0).any():
        raise ValueError("L_val must be positive to take its log")
    return df.assign(log10_L_val=np.log10(df["L_val"].to_numpy(float)))


def scaling_verdicts(df: pd.DataFrame, fixed_L: Sequence[int], fixed_d: Sequence[int],
                     metrics: Mapping[str, str] = SCALING_METRICS,
                     models: Sequence[str] = ("lstm", "gpt")) -> dict:
    """``{(axis, fixed, metric): Verdict}``: axis ``"d"`` for each L in ``fixed_L`` (the runs
    with that depth, slope per doubling of d), ``"L"`` for each d in ``fixed_d`` (per added
    layer) and ``"P"`` (``fixed`` None: every run, per doubling of P): which model's slope is
    more favourable (lower for losses and steps, higher for accuracies) beyond the slopes'
    standard errors (:func:`utils.studies.scaling_verdict`)."""
    if "log10_L_val" in metrics and "log10_L_val" not in df:
        df = with_log_loss(df)
    out = {}
    for metric, label in metrics.items():
        for L in fixed_L:
            out[("d", L, metric)] = studies.scaling_verdict(
                df, "embedding_size", metric, models=models, log2_x=True, digits=3,
                what=f"slope of {label} per doubling of d (L = {L})", num_layers=L)
        for d in fixed_d:
            out[("L", d, metric)] = studies.scaling_verdict(
                df, "num_layers", metric, models=models, digits=3,
                what=f"slope of {label} per added layer (d = {d})", embedding_size=d)
        out[("P", None, metric)] = studies.scaling_verdict(
            df, "P", metric, models=models, log2_x=True, digits=3,
            what=f"slope of {label} per doubling of P (all shapes)")
    return out


def axes_of(df: pd.DataFrame) -> tuple[list, list]:
    """The depths L with at least two widths in ``df`` and the widths d with at least two
    depths: where a slope along d (at fixed L) or along L (at fixed d) can be fitted."""
    Ls = [L for L, g in df.groupby("num_layers") if g["embedding_size"].nunique() > 1]
    ds = [d for d, g in df.groupby("embedding_size") if g["num_layers"].nunique() > 1]
    return [int(L) for L in Ls], [int(d) for d in ds]


# ---------------------------------------------------------------------------------------------
# notebook 14: does validation improve with B and with the budget fraction α


def improves(verdict: Verdict, metric: str, larger: str | None = None) -> str:
    """'improves', 'worsens' or 'no measurable change'. For a trend (:func:`batch_verdict`) a
    loss improves when it falls and an accuracy when it rises; for a comparison of budgets
    (:func:`budget_verdict`) it improves when the better arm is ``larger`` (the larger budget)."""
    if verdict.winner is None:
        return "no measurable change"
    if larger is not None:
        return "improves" if verdict.winner == larger else "worsens"
    if verdict.winner not in ("increases", "decreases"):
        raise ValueError(f"not a trend verdict (winner {verdict.winner!r}); pass larger=")
    good_up = metric.startswith("A_") or "accuracy" in metric
    return "improves" if (verdict.winner == "increases") == good_up else "worsens"


def batch_verdict(df: pd.DataFrame, model: str, metric: str, alpha: float,
                  what: str | None = None) -> Verdict:
    """Does ``metric`` move with the batch size B (OLS over every run, log₂ B) within the
    budget fraction ``alpha``, for one ``model``? (``df``: one row per run and α.)"""
    sub = df[np.isclose(df["alpha"], alpha)]
    if sub.empty:
        raise ValueError(f"no rows with alpha = {alpha}; the table has {sorted(set(df['alpha']))}")
    return studies.effect_verdict(sub, "train_batch_size", metric, what=what or metric,
                                  param_label="B", log2_x=True, digits=4, model=model)


def budget_verdict(df: pd.DataFrame, model: str, metric: str, batch: int,
                   alphas: tuple[float, float] = (0.1, 1.0)) -> Verdict:
    """Is ``metric`` better at the budget fraction ``alphas[1]`` than at ``alphas[0]`` for one
    model and batch size? Welch over the seeds (:func:`utils.verdicts.compare`); the winner's
    name is ``"α = <value>"``."""
    sub = df[(df["model"] == model) & (df["train_batch_size"] == batch)]
    lo, hi = (sub[np.isclose(sub["alpha"], a)].sort_values("seed")[metric].to_numpy(float)
              for a in alphas)
    if lo.size == 0 or hi.size == 0:
        raise ValueError(f"no rows for {model}, B = {batch} at α in {alphas}")
    better = "higher" if metric.startswith("A_") else "lower"
    return verdicts.compare(lo, hi, (f"α = {alphas[0]:g}", f"α = {alphas[1]:g}"), better=better,
                            what=f"{metric} (B = {batch})", digits=4)
