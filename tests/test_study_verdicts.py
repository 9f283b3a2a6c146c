"""utils.study_verdicts: the comparison logic of notebooks 12-14 on constructed summary tables.

Equal arms must give "no measurable difference" (never a default winner), a clear gap the right
winner, and the numbers must match independent references (scipy's Welch test, numpy's
least-squares fit).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from utils import study_verdicts as sv

NOISE = np.array([-1.0, 0.0, 1.0])          # the same spread in every arm: equal means exactly


# --- notebook 12: first step reaching a threshold, binary vs ternary --------------------------


def test_equal_arms_no_winner():
    v = sv.first_reach_verdict([100, 120, 140], [100, 120, 140], T=1500)
    assert v.winner is None and not v
    assert "no measurable difference" in v.text and "3 seeds each" in v.text
    assert v.p == pytest.approx(1.0)


def test_identical_constant_arms_never_default_to_a_side():
    v = sv.first_reach_verdict([200, 200, 200], [200, 200, 200], T=1500)
    assert v.winner is None and "no measurable difference" in v.text


def test_clear_gap_names_the_faster_kind_with_welch_p():
    a, b = [100, 102, 104], [500, 510, 490]
    v = sv.first_reach_verdict(a, b, T=1500)
    assert v.winner == "binary"
    assert v.p == pytest.approx(sstats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    w = sv.first_reach_verdict(b, a, T=1500)
    assert w.winner == "ternary"


def test_censored_slower_arm_still_gives_a_verdict():
    # ternary never reaches it within T: counted as T (its true step is later), so the binary
    # arm is faster at least by that much
    v = sv.first_reach_verdict([100, 110, 120], [np.nan, np.nan, np.nan], T=1000)
    assert v.winner == "binary"
    assert "3 of 3 ternary runs did not reach it within T = 1000" in v.text


def test_censored_faster_arm_gives_no_verdict():
    # binary has a run that never reached it: counting it as T would flatter the binary arm
    a, b = [100] * 8 + [np.nan], [np.nan] * 9
    filled = np.nan_to_num(a, nan=1000.0)
    assert sstats.ttest_ind(filled, [1000.0] * 8 + [999.0], equal_var=False).pvalue < 0.001
    v = sv.first_reach_verdict(a, b, T=1000)
    assert v.winner is None and "no verdict" in v.text and "(binary)" in v.text


def test_no_run_reaching_gives_no_verdict():
    v = sv.first_reach_verdict([np.nan] * 3, [np.nan] * 3, T=1000)
    assert v.winner is None and "no run of either kind" in v.text


def test_bad_steps_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        sv.first_reach_verdict([100, 2000], [100, 200], T=1000)
    with pytest.raises(ValueError, match="positive"):
        sv.first_reach_verdict([1], [1], T=0)


def order_frame(binary, ternary):
    rows = []
    for model in ("LSTM", "GPT"):
        for kind, steps in (("binary", binary), ("ternary", ternary)):
            for seed, s in zip((0, 42, 1), steps):
                rows.append({"model": model, "equations": kind, "seed": seed,
                             "t_train_0.99": s, "t_val_0.99": s + 50})
    return pd.DataFrame(rows)


def test_order_verdicts_equal_and_gap():
    cols = {"t_train_0.99": "fitted", "t_val_0.99": "generalised"}
    same = sv.order_verdicts(order_frame([100, 120, 140], [100, 120, 140]), "GPT", 1500, cols)
    assert all(v.winner is None and "no measurable difference" in v.text for v in same.values())
    gap = sv.order_verdicts(order_frame([700, 710, 690], [200, 210, 190]), "LSTM", 1500, cols)
    assert {v.winner for v in gap.values()} == {"ternary"}
    with pytest.raises(ValueError, match="no rows"):
        sv.order_verdicts(order_frame([1], [1]), "RNN", 1500, cols)


# --- notebook 13: which model scales better -------------------------------------------------


SHAPES = ((2, 64), (1, 128), (2, 128), (3, 128))


def scaling_frame(effect_gpt_d=0.0, effect_lstm_d=0.0):
    """Cross design: A_val = 0.5 + effect * log2(d / 64) + noise; L_val = exp(-A_val)."""
    rows = []
    for model, eff in (("lstm", effect_lstm_d), ("gpt", effect_gpt_d)):
        for L, d in SHAPES:
            for seed, e in zip((0, 42, 1), NOISE):
                a = 0.5 + eff * np.log2(d / 64) + 0.01 * e
                rows.append({"model": model, "seed": seed, "num_layers": L, "embedding_size": d,
                             "P": L * 12 * d * d, "A_val": a, "L_val": float(np.exp(-a))})
    return pd.DataFrame(rows)


def test_scaling_equal_models_no_winner():
    df = scaling_frame(0.1, 0.1)
    assert sv.axes_of(df) == ([2], [128])
    out = sv.scaling_verdicts(df, *sv.axes_of(df))
    assert set(out) == {(a, f, m) for a, f in (("d", 2), ("L", 128), ("P", None))
                        for m in ("log10_L_val", "A_val")}
    for v in out.values():
        assert v.winner is None and "no measurable difference" in v.text


def test_scaling_clear_gap_in_d():
    df = scaling_frame(effect_gpt_d=0.3, effect_lstm_d=0.0)
    out = sv.scaling_verdicts(df, fixed_L=[2], fixed_d=[128])
    assert out[("d", 2, "A_val")].winner == "GPT"          # accuracy rises with d: higher slope
    assert out[("d", 2, "log10_L_val")].winner == "GPT"    # loss falls with d: lower slope
    # the slopes against an independent least-squares fit
    sub = df[df.num_layers == 2]
    slope = {m: np.polyfit(np.log2(g.embedding_size), g.A_val, 1)[0] for m, g in sub.groupby("model")}
    assert out[("d", 2, "A_val")].diff == pytest.approx(slope["lstm"] - slope["gpt"], abs=1e-12)
    # depth has no effect in this frame, for either model
    assert out[("L", 128, "A_val")].winner is None


# --- notebook 14: batch size and budget fraction --------------------------------------------


def compute_frame(slope_B=0.0, gain_alpha=0.0):
    """A_val = 0.6 + slope_B * log2(B / 32) + gain_alpha * alpha + noise, for both models."""
    rows = []
    for model in ("lstm", "gpt"):
        for B in (32, 64, 128, 256, 512):
            for alpha in (0.1, 0.5, 1.0):
                for seed, e in zip((0, 42, 1), NOISE):
                    a = 0.6 + slope_B * np.log2(B / 32) + gain_alpha * alpha + 0.01 * e
                    rows.append({"model": model, "seed": seed, "train_batch_size": B,
                                 "alpha": alpha, "A_val": a, "L_val": float(np.exp(-a))})
    return pd.DataFrame(rows)


def test_batch_and_budget_equal_no_verdict():
    df = compute_frame()
    for metric in ("A_val", "L_val"):
        v = sv.batch_verdict(df, "gpt", metric, alpha=1.0)
        assert v.winner is None and "no measurable trend" in v.text
        assert sv.improves(v, metric) == "no measurable change"
        w = sv.budget_verdict(df, "lstm", metric, batch=64)
        assert w.winner is None and "no measurable difference" in w.text
        assert sv.improves(w, metric, larger="α = 1") == "no measurable change"


def test_batch_trend_and_budget_gain():
    df = compute_frame(slope_B=-0.05, gain_alpha=0.2)
    v = sv.batch_verdict(df, "lstm", "A_val", alpha=0.1)
    assert v.winner == "decreases" and sv.improves(v, "A_val") == "worsens"
    sub = df[(df.model == "lstm") & np.isclose(df.alpha, 0.1)]
    assert v.diff == pytest.approx(np.polyfit(np.log2(sub.train_batch_size), sub.A_val, 1)[0])
    vl = sv.batch_verdict(df, "lstm", "L_val", alpha=0.1)
    assert vl.winner == "increases" and sv.improves(vl, "L_val") == "worsens"
    w = sv.budget_verdict(df, "gpt", "A_val", batch=128)
    assert w.winner == "α = 1" and sv.improves(w, "A_val", larger="α = 1") == "improves"
    wl = sv.budget_verdict(df, "gpt", "L_val", batch=128)
    assert wl.winner == "α = 1" and sv.improves(wl, "L_val", larger="α = 1") == "improves"
    with pytest.raises(ValueError, match="alpha"):
        sv.batch_verdict(df, "gpt", "A_val", alpha=0.3)
