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
                       caption="cap").to_html()
    assert "0.850 ± 0.071" in html and "cap" in html
    style = html.split("</style>")[0]
    bold_rule = style[:style.index("font-weight: bold")].rsplit("}", 1)[-1]
    # row 1 is model b: best accuracy (max) and best loss (min); nothing of row 0 is bold
    assert "row1_col1" in bold_rule and "row1_col2" in bold_rule and "row0" not in bold_rule
    with pytest.raises(KeyError):
        stats.aggregate(df, "nope", ["acc"])
    with pytest.raises(ValueError):
        stats.table(df, "model", ["acc"], best={"acc": "biggest"})


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
