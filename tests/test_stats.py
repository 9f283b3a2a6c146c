"""Multi-seed aggregation against numpy, and the bold-best table."""

import re

import numpy as np
import pandas as pd
import pytest

from utils import stats


def test_mean_std_matches_numpy():
    x = [1.0, 2.0, 4.0]
    m, s = stats.mean_std(x)
    assert m == pytest.approx(np.mean(x)) and s == pytest.approx(np.std(x, ddof=1))
    assert stats.mean_std([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError):
        stats.mean_std([])


def test_aggregate_and_table_bold_best():
    df = pd.DataFrame({"model": ["a", "a", "b", "b"], "acc": [0.5, 0.7, 0.9, 0.8],
                       "loss": [2.0, 1.0, 0.1, 0.3]})
    agg = stats.aggregate(df, "model", ["acc", "loss"])
    assert agg.loc[agg.model == "b", "acc_mean"].item() == pytest.approx(0.85)
    assert agg.loc[agg.model == "a", "acc_std"].item() == pytest.approx(np.std([0.5, 0.7], ddof=1))
    html = stats.table(df, "model", ["acc", "loss"], best={"acc": "max", "loss": "min"},
                       caption="cap", best_test=False).to_html()
    assert "0.850 ± 0.071" in html and "cap" in html
    style = html.split("</style>")[0]
    bold_rule = style[:style.index("font-weight: bold")].rsplit("}", 1)[-1]
    # row 1 is model b: best accuracy (max) and best loss (min); nothing of row 0 is bold
    assert "row1_col1" in bold_rule and "row1_col2" in bold_rule and "row0" not in bold_rule
    # with the test (the default), two seeds whose gap is within the noise bold nothing
    html = stats.table(df, "model", ["acc", "loss"], best={"acc": "max", "loss": "min"},
                       caption="cap").to_html()
    assert "font-weight: bold" not in html.split("</style>")[0] and "Welch p < 0.05" in html
    with pytest.raises(KeyError):
        stats.aggregate(df, "nope", ["acc"])
    with pytest.raises(ValueError):
        stats.table(df, "model", ["acc"], best={"acc": "biggest"})


def _bold_cells(html):
    style = html.split("</style>")[0]
    rules = re.findall(r"([^{}]*)\{\s*font-weight: bold;?\s*\}", style)
    return sorted(set(re.findall(r"row(\d+)_col(\d+)", " ".join(rules))))


def test_table_bolds_only_a_best_that_beats_the_runner_up():
    df = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
                       "clear": [0.10, 0.11, 0.12, 0.50, 0.51, 0.52, 0.90, 0.91, 0.92],
                       "noisy": [0.50, 0.70, 0.60, 0.55, 0.65, 0.62, 0.10, 0.20, 0.15],
                       "tie": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.4, 0.6]})
    html = stats.table(df, "g", ["clear", "noisy", "tie"],
                       best={"clear": "max", "noisy": "max", "tie": "max"}, caption="c").to_html()
    # clear: group c (row 2) beats b; noisy: the best (b, 0.607) vs a (0.600) is noise;
    # tie: a and b tie at 1.0, so nothing is bold
    assert _bold_cells(html) == [("2", "1")]


def test_fit_power_law_recovers_exponent():
    x = np.array([1, 2, 4, 8, 16.0])
    k, c = stats.fit_power_law(x, 3 * x ** 1.5)
    assert k == pytest.approx(1.5) and c == pytest.approx(3.0)


def test_plain_table_bolds_the_best_cell_and_rejects_bad_names():
    df = pd.DataFrame({"method": ["a", "b", "c"], "time": [3.0, 1.0, 2.0], "acc": [0.5, 0.7, 0.9]})
    html = stats.plain_table(df, "A caption", bold={"time": "min", "acc": "max"}).to_html()
    assert "A caption" in html
    # pandas writes one CSS rule per style, listing the cells it applies to
    bold_rule = re.search(r"([^{}]*)\{\s*font-weight: bold;?\s*\}", html).group(1)
    cells = sorted(re.findall(r"row(\d+)_col(\d+)", bold_rule))
    assert cells == [("1", "1"), ("2", "2")]   # time 1.0 (min) and acc 0.9 (max)
    with pytest.raises(KeyError, match="not a column"):
        stats.plain_table(df, "c", bold={"speed": "max"})
    with pytest.raises(ValueError, match="'max' or 'min'"):
        stats.plain_table(df, "c", bold={"time": "fastest"})


def test_welch_test_matches_the_formula():
    import math

    from scipy import stats as sstats

    from utils.stats import welch_test

    a, b = [1.0, 2.0, 4.0], [3.0, 5.0, 6.0, 9.0]
    r = welch_test(a, b)
    va, vb = np.var(a, ddof=1) / 3, np.var(b, ddof=1) / 4
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3)          # Welch–Satterthwaite
    p = 2 * sstats.t.sf(abs(t), df)
    assert r.t == pytest.approx(t, rel=1e-12) and r.p == pytest.approx(p, rel=1e-10)
    assert (r.n_a, r.n_b) == (3, 4) and r.diff == pytest.approx(7 / 3 - 23 / 4)
    assert "Welch t" in str(r)


def test_welch_test_degenerate_and_bad_arms():
    from utils.stats import welch_test

    assert welch_test([1, 1, 1], [1, 1, 1]).p == 1.0
    r = welch_test([1, 1, 1], [0.5, 0.5, 0.5])
    assert r.p == 0.0 and r.t == np.inf
    with pytest.raises(ValueError, match="at least 2 values"):
        welch_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        welch_test([1.0, float("nan")], [1.0, 2.0])


def test_bootstrap_ci_covers_the_mean_and_is_reproducible():
    from utils.stats import bootstrap_ci

    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 200), rng.normal(0.0, 1.0, 200)
    lo, hi = bootstrap_ci(a)
    se = a.std(ddof=1) / np.sqrt(a.size)
    assert lo < a.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)     # normal-theory width
    dlo, dhi = bootstrap_ci(a, b)
    assert dlo < a.mean() - b.mean() < dhi and dlo > 0
    assert bootstrap_ci(a, b) == (dlo, dhi)
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(a, level=1.5)
