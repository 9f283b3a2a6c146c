"""utils.verdicts: a winner only beyond the spread over seeds; ties never go to one side."""

import math

import numpy as np
import pytest
from scipy import stats as sstats

from utils import verdicts


def test_equal_arms_have_no_winner():
    v = verdicts.compare([1.0, 1.1, 0.9], [1.0, 1.1, 0.9], ("GPT", "LSTM"), what="loss")
    assert v.winner is None and not v
    assert "no measurable difference" in v.text
    assert v.p == pytest.approx(1.0)


def test_identical_constant_arms_are_a_tie_not_a_default():
    for better in ("lower", "higher", None):
        v = verdicts.compare([0.5, 0.5, 0.5], [0.5, 0.5, 0.5], ("GPT", "LSTM"), better=better)
        assert v.winner is None
    # the argument order does not decide a tie either
    v1 = verdicts.compare([0.0, 0.0], [0.0, 0.0], ("x", "y"))
    v2 = verdicts.compare([0.0, 0.0], [0.0, 0.0], ("y", "x"))
    assert v1.winner is None and v2.winner is None


def test_noise_level_gap_is_not_called():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.1, 3), rng.normal(1.02, 0.1, 3)
    v = verdicts.compare(a, b, ("a", "b"))
    assert v.p == pytest.approx(sstats.ttest_ind(a, b, equal_var=False).pvalue)
    assert v.winner is None


@pytest.mark.parametrize("better,expected", [("lower", "GPT"), ("higher", "LSTM"), (None, "LSTM")])
def test_clear_gap_names_the_right_winner(better, expected):
    gpt, lstm = [0.10, 0.12, 0.11], [0.50, 0.52, 0.49]
    v = verdicts.compare(gpt, lstm, ("GPT", "LSTM"), better=better, what="validation loss")
    assert v.winner == expected
    assert v.p < 1e-3 and v.diff == pytest.approx(np.mean(gpt) - np.mean(lstm))
    assert expected in v.text and "Welch p" in v.text
    # swapping the arms swaps nothing but the order
    w = verdicts.compare(lstm, gpt, ("LSTM", "GPT"), better=better)
    assert w.winner == expected


def test_separated_constant_arms_are_called():
    v = verdicts.compare([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], ("a", "b"), better="higher")
    assert v.winner == "a" and v.p == 0.0


def test_one_seed_gives_no_verdict():
    v = verdicts.compare([1.0], [5.0], ("a", "b"))
    assert v.winner is None and "one seed" in v.text


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="better must be"):
        verdicts.compare([1, 2], [1, 2], better="smaller")
    with pytest.raises(ValueError, match="non-finite"):
        verdicts.compare([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="no values"):
        verdicts.compare([], [1, 2])
    with pytest.raises(ValueError, match="two distinct x"):
        verdicts.trend([1, 1, 1], [1, 2, 3])


def test_trend_matches_linregress_and_detects_direction():
    x = np.repeat([0.0, 0.1, 0.3, 1.0], 3)
    rng = np.random.default_rng(1)
    y = 1000 - 600 * x + rng.normal(0, 20, x.size)
    v = verdicts.trend(x, y, what="t_f", param="weight decay")
    ref = sstats.linregress(x, y)
    assert v.diff == pytest.approx(ref.slope, rel=1e-12)
    assert v.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert v.winner == "decreases"
    # the same spread at every x, no slope: no trend is called
    flat = verdicts.trend(x, np.tile([980.0, 1020.0, 1000.0], 4), what="t_f", param="weight decay")
    assert flat.winner is None and "no measurable trend" in flat.text


def test_trend_constant_y_is_no_trend():
    v = verdicts.trend([1, 2, 3, 4], [5, 5, 5, 5])
    assert v.winner is None


def test_trend_log2():
    x = np.repeat([32, 64, 128, 256], 3).astype(float)
    y = 10 * np.log2(x) + np.tile([0.1, -0.1, 0.0], 4)
    v = verdicts.trend(x, y, log2_x=True, param="width")
    assert v.winner == "increases" and v.diff == pytest.approx(10, rel=1e-3)
    assert "per doubling" in v.text


def test_compare_slopes():
    x = np.repeat([0.3, 0.5, 0.7, 0.9], 3)
    noise = np.tile([0.01, -0.01, 0.0], 4)
    steep, shallow = 1 - 1.0 * x + noise, 1 - 0.2 * x + noise
    v = verdicts.compare_slopes(x, steep, x, shallow, ("GPT", "LSTM"), better="lower")
    assert v.winner == "GPT"
    assert v.diff == pytest.approx(-0.8, abs=1e-9)
    # hand check of the standard error: equal residuals give equal SEs
    se = sstats.linregress(x, steep).stderr
    assert sstats.linregress(x, shallow).stderr == pytest.approx(se)
    assert v.p == pytest.approx(2 * sstats.t.sf(0.8 / math.sqrt(2 * se ** 2), 20), rel=1e-6)
    same = verdicts.compare_slopes(x, steep, x, steep + 0.5, ("a", "b"))
    assert same.winner is None
