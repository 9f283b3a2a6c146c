"""Study helpers (utils/studies.py): sweep construction, reading histories, figures, costs."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from utils import studies
from utils.runs import RunStore
from utils.train.arithmetic import get_extrema_performance_steps, make_config, summary_row


def history(steps, tl, ta, vl, va, norm=None, seed=0, **config):
    h = {"all_steps": list(steps), "train": {"loss": list(tl), "accuracy": list(ta)},
         "test": {"loss": list(vl), "accuracy": list(va)}, "extra": {},
         "config": make_config(seed=seed, **config), "P": 123, "n_steps": steps[-1],
         "data": {"n_train": 10}}
    if norm is not None:
        h["extra"]["param_norm"] = list(norm)
    return h


def test_grid_is_the_cartesian_product_first_axis_slowest():
    g = studies.grid(num_layers=[1, 2], embedding_size=[64, 128, 256])
    assert len(g) == 6
    assert g[0] == {"num_layers": 1, "embedding_size": 64}
    assert g[3] == {"num_layers": 2, "embedding_size": 64}
    with pytest.raises(ValueError, match="empty"):
        studies.grid(r_train=[])
    with pytest.raises(TypeError, match="list of values"):
        studies.grid(model="gpt")


def test_sweep_configs_order_and_tied_hidden_size():
    pts = studies.grid(embedding_size=[32, 64])
    cs = studies.sweep_configs(pts, ["lstm", "gpt"], [0, 42], hidden_size="d", n_steps=5)
    assert len(cs) == 2 * 2 * 2
    assert [(c["embedding_size"], c["model"], c["seed"]) for c in cs[:4]] == [
        (32, "lstm", 0), (32, "lstm", 42), (32, "gpt", 0), (32, "gpt", 42)]
    assert all(c["hidden_size"] == c["embedding_size"] for c in cs)
    assert all(c["n_steps"] == 5 for c in cs)
    with pytest.raises(ValueError, match="unknown config field"):
        studies.sweep_configs([{"widht": 3}], ["gpt"], [0])
    with pytest.raises(ValueError, match="at least one grid point"):
        studies.sweep_configs([], ["gpt"], [0])


def test_run_seeds_puts_the_assignments_seeds_first():
    assert studies.run_seeds([0, 1, 2]) == [0, 42, 1]
    assert studies.run_seeds([0, 1]) == [0, 42]
    assert studies.run_seeds([5]) == [0, 42]
    assert studies.run_seeds([42, 3, 4, 5]) == [0, 42, 3, 4]


def test_summary_frame_matches_the_trainers_extrema_with_and_without_T_max():
    h = history([0, 1, 2, 100, 200], [3, 2, 1, 0.5, 0.1], [0, .2, .9, 1, 1],
                [3, 2.5, 2, 1.5, 2.5], [0, 0, .1, .6, .5], r_train=0.3)
    df = studies.summary_frame([h], ["r_train"])
    row = df.iloc[0]
    assert row["r_train"] == 0.3 and row["model"] == "lstm" and row["P"] == 123
    assert row["L_val"] == 1.5 and row["tf_L_val"] == 100 and row["tf_A_train"] == 100
    assert row["dt_A"] == 0                               # t_f(A_val) = 100 = t_f(A_train)
    cut = studies.summary_frame([h], T_max=50).iloc[0]
    e = get_extrema_performance_steps(h, T_max=50)
    assert cut["L_val"] == e["min_test_loss"] == 2.0
    assert cut["A_train"] == e["max_train_accuracy"] == 0.9
    assert dict(cut[list(summary_row(h, 50))]) == summary_row(h, 50)
    with pytest.raises(KeyError, match="no field"):
        studies.summary_frame([h], ["widht"])


def test_mean_curve_is_the_mean_and_sample_std_on_shared_steps():
    a = history([0, 1, 2, 3], [4, 3, 2, 1], [0] * 4, [4, 3, 2, 1], [0] * 4)
    b = history([0, 1, 3], [2, 1, 0], [0] * 3, [2, 1, 0], [0] * 3)
    steps, mean, std = studies.mean_curve([a, b], "train", "loss")
    assert steps.tolist() == [0, 1, 3]
    np.testing.assert_allclose(mean, [3, 2, 0.5])
    np.testing.assert_allclose(std, np.std([[4, 3, 1], [2, 1, 0]], axis=0, ddof=1))
    _, m1, s1 = studies.mean_curve([a], "test", "loss")
    assert s1.tolist() == [0, 0, 0, 0] and m1.tolist() == [4, 3, 2, 1]
    with pytest.raises(KeyError, match="param_norm"):
        studies.mean_curve([a], "extra", "param_norm")


def test_group_results_sorts_by_value():
    rs = [history([0, 1], [1, 1], [0, 0], [1, 1], [0, 0], r_train=r) for r in (0.7, 0.3, 0.7)]
    g = studies.group_results(rs, "r_train")
    assert list(g) == [0.3, 0.7] and len(g[0.7]) == 2


def _lines(ax):
    """Data lines of an axes (an error bar's caps are markers without a line style)."""
    return [ln for ln in ax.lines if len(ln.get_xdata()) > 1 and ln.get_linestyle() != "None"]


def test_plot_curves_one_line_per_value_and_a_log2_colour_bar():
    groups = {d: [history([0, 1, 10, 100], [3, 2, 1, .5], [0, .5, 1, 1], [3, 3, 2, 1],
                          [0, 0, .5, 1], norm=[5, 6, 5, 4], seed=s, embedding_size=d)
                  for s in (0, 1)] for d in (64, 128, 256)}
    panels = [*studies.CURVE_PANELS, ("extra", "param_norm", "norm")]
    fig = studies.plot_curves(groups, "d", log2=True, panels=panels)
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]
    assert len(data_axes) == 5
    for ax in data_axes:
        assert len(_lines(ax)) == 3                       # one mean curve per d
        assert ax.get_xscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    assert data_axes[0].get_yscale() == "log" and data_axes[2].get_yscale() == "linear"
    assert data_axes[4].get_yscale() == "log"             # the norm
    cbar = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"][0]
    labels = [t.get_text() for t in cbar.get_yticklabels()]
    assert labels == ["$2^{6}$", "$2^{7}$", "$2^{8}$"]
    # curves coloured by value: the largest d gets the top of the colour map
    cmap = matplotlib.colormaps["viridis"]
    np.testing.assert_allclose(_lines(data_axes[0])[-1].get_color(), cmap(1.0))
    matplotlib.pyplot.close(fig)


def test_plot_metrics_vs_means_and_std_per_model_and_hue():
    rows = [{"model": m, "seed": s, "x": x, "L": L, **{k: x + s + L + (m == "gpt")
                                                       for k in studies.METRICS}}
            for m in ("lstm", "gpt") for s in (0, 2) for x in (64, 128) for L in (1, 2)]
    df = pd.DataFrame(rows)
    fig = studies.plot_metrics_vs(df, "x", hue="L", x_log2=True)
    ax = [a for a in fig.axes if a.get_label() != "<colorbar>"][2]    # A_train
    assert len(_lines(ax)) == 4                                        # 2 models × 2 L
    lstm_L1 = _lines(ax)[0]
    np.testing.assert_allclose(lstm_L1.get_ydata(), [64 + 1 + 1, 128 + 1 + 1])   # mean seed 1
    assert ax.get_xscale() == "log"
    matplotlib.pyplot.close(fig)
    fig = studies.plot_metrics_vs(df[df.L == 1], "x", metrics=["L_val", "A_val"], ncols=2)
    axes = [a for a in fig.axes if a.get_visible()]
    assert axes[0].get_yscale() == "log" and axes[1].get_yscale() == "linear"
    assert len(_lines(axes[1])) == 2
    matplotlib.pyplot.close(fig)
    with pytest.raises(KeyError, match="not in the table"):
        studies.plot_metrics_vs(df, "y")


def test_color_norm_rejects_nonpositive_log_values():
    with pytest.raises(ValueError, match="positive"):
        studies.color_norm([0, 1, 2], log2=True)


def test_run_cost_counts_steps_and_evaluations():
    c = make_config(n_steps=10, eval_first=2, eval_period=5)
    one_batch = {"n_train": 100, "batch": 100, "step_cpu_s": 1.0, "eval_cpu_s": 0.5}
    # steps 10 × 1 s; evaluations at 0, 1, 2, 5, 10 → 5 × 0.5 s (training metrics are free)
    assert studies.run_cost(c, one_batch, "step_cpu_s") == pytest.approx(10 + 5 * 0.5)
    two = {"n_train": 150, "batch": 100, "step_cpu_s": 1.0, "eval_cpu_s": 0.5}
    # 2 batches per epoch: 10 steps of mean 75 rows; each evaluation adds a forward pass
    # over the 150 training rows (a third of a 100-row step per 100 rows)
    expected = 10 * 0.75 + 5 * (0.5 + 1.0 / 3 * 1.5)
    assert studies.run_cost(c, two, "step_cpu_s") == pytest.approx(expected)


def test_executor_batches_only_off_cpu():
    c = make_config()
    assert studies.executor(c, "cpu") == "solo"
    assert studies.executor(c, "cuda") == "batched"
    assert studies.executor(make_config(dropout=0.1), "cuda") == "solo"


def test_stored_configs_and_run_sweep_through_a_store(tmp_path):
    store = RunStore("studies_test", root=tmp_path)
    assert studies.stored_configs(store) == []
    cs = studies.sweep_configs([{}], ["gpt"], [0], n_steps=2, embedding_size=16, num_heads=2,
                               eval_first=1, eval_period=1)
    res = studies.run_sweep(store, cs, workers=1)
    assert res[0]["config"] == cs[0] and res[0]["all_steps"] == [0, 1, 2]
    assert studies.stored_configs(store) == cs
    again = studies.run_sweep(RunStore("studies_test", root=tmp_path), cs, workers=1)
    assert again[0]["test"]["loss"] == res[0]["test"]["loss"]


def test_time_step_and_estimate_cost_are_positive_and_skip_stored_runs(tmp_path):
    c = make_config(model="lstm", n_steps=3, embedding_size=8, hidden_size=8, eval_first=1)
    t = studies.time_step(c, steps=1)
    assert t["step_s"] > 0 and t["eval_s"] > 0 and t["batch"] == t["n_train"] == 480
    est = studies.estimate_cost([c], verbose=False)
    assert est["to_run"] == 1 and est["cpu_s"] > 0 and math.isfinite(est["wall_s"])
    # one worker trains in this process: predicted from wall time; more: from one-thread CPU time
    shape = est["per_shape"][studies.shape_key(c)]
    assert est["wall_s"] == studies.run_cost(c, shape, "step_s")
    est2 = studies.estimate_cost([c, {**c, "seed": 1}], workers=2, verbose=False)
    shape2 = est2["per_shape"][studies.shape_key(c)]
    assert est2["cpu_s"] == 2 * studies.run_cost(c, shape2, "step_cpu_s")
    assert est2["wall_s"] == est2["cpu_s"] / 2
    store = RunStore("cost_test", root=tmp_path, log=lambda _: None)
    store.run(c, lambda cfg, ctx: {"done": True})       # stored, but not by `train`'s code
    assert studies.estimate_cost([c], store=store, verbose=False)["to_run"] == 1
    from utils.train.arithmetic import train

    store.run({**c, "seed": 5}, lambda cfg, ctx: {"done": True}, code=train)
    assert studies.estimate_cost([{**c, "seed": 5}], store=store, verbose=False)["cpu_s"] == 0


def _params(profile, seeds=(0, 1, 2), workers=0):
    from utils.params import Params

    return Params({"profile": profile, "seeds": list(seeds), "workers": workers})


def test_study_start_per_profile_and_its_configs_are_sweep_configs():
    smoke = studies.Study.start(_params("smoke"), "study_test", laptop_period=20)
    assert smoke.seeds == [0] and smoke.workers == 1 and smoke.device in ("cpu", "cuda")
    assert smoke.eval == {"eval_first": 3, "eval_period": 3} and smoke.shape == studies.SMOKE_SHAPE
    laptop = studies.Study.start(_params("laptop", workers=3), "study_test", models=("lstm",),
                                 laptop_period=20)
    assert laptop.seeds == [0, 42, 1] and laptop.workers == 3 and laptop.shape == {}
    assert laptop.eval == {"eval_first": 100, "eval_period": 20}
    assert "every 20" in laptop.schedule
    full = studies.Study.start(_params("full"), "study_test", smoke_shape={"num_heads": 2})
    assert full.eval == {"eval_first": 100, "eval_period": 100} and full.workers >= 1
    # the study's configs are exactly sweep_configs with its schedule and shape under the base
    points = studies.grid(r_train=[0.3, 0.7])
    assert laptop.configs(points, n_steps=7) == studies.sweep_configs(
        points, ["lstm"], [0, 42, 1], n_steps=7, eval_first=100, eval_period=20)
    assert smoke.configs(points, n_steps=7, eval_period=5)[0]["eval_period"] == 5
    with pytest.raises(ValueError, match="models must be"):
        studies.Study.start(_params("smoke"), "study_test", models=("rnn",))


def test_early_schedule_evaluates_the_listed_steps():
    from utils.train.arithmetic import evaluation_steps

    assert studies.early_schedule(1, 25) == {"eval_first": 100, "eval_period": 25}
    sparse = studies.early_schedule(5, 25)
    c = make_config(n_steps=200, **sparse)
    # every step to 10, every 5 to 100, every 25 after, and the last step (hand-listed)
    expected = ({0, *range(1, 11), *range(15, 100, 5), *range(25, 201, 25)})
    assert evaluation_steps(c, 200) == expected
    assert 11 not in expected and 14 not in expected and 15 in expected
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="every must be a positive int"):
            studies.early_schedule(bad)
    laptop = studies.Study.start(_params("laptop"), "study_test", laptop_early_every=5)
    assert laptop.eval == sparse
    assert laptop.schedule == ("evaluation at every step up to 10, every 5 up to 100, then "
                               "every 25")
    # notebook 14's budgets join the early steps; deviations leave the listed steps to schedule
    assert laptop.eval_steps([130, 20, 1350]) == sorted({*range(15, 100, 5), 130, 1350})
    assert not any(d.startswith("eval_steps") for d in laptop.deviations(
        laptop.configs([{}], n_steps=50)[0]))


def test_longest_first_orders_by_predicted_cost_ties_in_config_order():
    cs = [make_config(seed=s) for s in range(5)]
    key = studies._cost_key
    cost = {"per_run": {key(cs[0]): 1.0, key(cs[1]): 5.0, key(cs[2]): 1.0, key(cs[3]): 9.0}}
    # cs[4] is stored (not in per_run): it costs nothing and goes last
    assert studies.longest_first(cs, cost) == [3, 1, 0, 2, 4]
    assert studies.longest_first(cs, {}) == [0, 1, 2, 3, 4]


def test_seed_setting_cost_moves_configs_to_the_seeds_setting(monkeypatch):
    seen = {}

    def fake_estimate(configs, workers=1, verbose=True, **_):
        seen["configs"], seen["workers"] = configs, workers
        return {"cpu_s": seen["cpu_s"], "load": "load 0.1"}

    monkeypatch.setattr(studies, "estimate_cost", fake_estimate)
    laptop = studies.Study.start(_params("laptop"), "study_test", laptop_early_every=5)
    cs = laptop.configs([{}], n_steps=1350, r_train=0.7, lr=3e-3, stop_at_val_accuracy=0.99)
    seen["cpu_s"] = 5400.0
    text = studies.seed_setting_cost(cs, 2, "The seed's runs", n_steps=20001, eval_steps=[2000])
    seed = make_config()
    for c in seen["configs"]:
        assert (c["r_train"], c["lr"], c["eval_first"], c["eval_period"]) == (
            seed["r_train"], seed["lr"], seed["eval_first"], seed["eval_period"])
        assert c["n_steps"] == 20001 and c["eval_steps"] == [2000]
        assert c["stop_at_val_accuracy"] == 0.0 and c["model"] in ("lstm", "gpt")
    assert seen["workers"] == 2 and len(seen["configs"]) == len(cs)
    assert text == ("The seed's runs would cost about 1.5 CPU-hours on this machine (timed "
                    "steps, load 0.1): the `full` profile.")
    seen["cpu_s"] = 1500.0
    assert "about 25 CPU-minutes" in studies.seed_setting_cost(cs, 1, "These")


def test_study_run_trains_reads_and_tables(tmp_path, capsys):
    study = studies.Study.start(_params("smoke", seeds=(0,)), "study_run_test")
    study.store = RunStore("study_run_test", root=tmp_path)
    configs = study.configs(studies.grid(r_train=[0.5]), n_steps=2, embedding_size=16,
                            hidden_size=16)
    results, df = study.run(configs, columns=["r_train"])
    assert "runs to train; predicted" in capsys.readouterr().out
    # trained in decreasing predicted cost, returned in config order
    assert [r["config"] for r in results] == configs
    assert list(df["model"]) == ["lstm", "gpt"] and list(df["r_train"]) == [0.5, 0.5]
    assert df["L_val"].tolist() == [min(r["test"]["loss"]) for r in results]
    assert {m: len(rs) for m, rs in study.by_model(results).items()} == {"lstm": 1, "gpt": 1}
    html = study.table(df, ["model", "r_train"], "Table 9: test").to_html()
    assert "Table 9: test" in html and "t_f(A_val)" in html
    again, _ = study.run(configs)                                  # reused from the store
    assert again[1]["test"]["loss"] == results[1]["test"]["loss"]


# ------------------------------------------------------------------------------ verdicts

def _frame(lstm_values, gpt_values, xs=None):
    rows = []
    xs = xs if xs is not None else [None] * len(lstm_values)
    for model, values in (("lstm", lstm_values), ("gpt", gpt_values)):
        for i, (x, v) in enumerate(zip(xs, values)):
            rows.append({"model": model, "seed": i % 3, "x": x, "A_val": v, "L_val": v,
                         "tf_A_val": v})
    return pd.DataFrame(rows)


def test_model_verdict_equal_arms_is_no_measurable_difference():
    df = _frame([0.40, 0.42, 0.41], [0.40, 0.42, 0.41])
    for metric in ("A_val", "L_val", "tf_A_val"):
        v = studies.model_verdict(df, metric)
        assert v.winner is None and "no measurable difference" in v.text


def test_model_verdict_clear_gap_and_direction_per_metric():
    df = _frame([0.10, 0.11, 0.12], [0.90, 0.91, 0.92])
    assert studies.model_verdict(df, "A_val").winner == "GPT"          # higher accuracy
    assert studies.model_verdict(df, "L_val").winner == "LSTM"         # lower loss
    assert studies.model_verdict(df, "tf_A_val").winner == "LSTM"      # earlier step


def test_effect_and_scaling_verdicts():
    xs = [0.3, 0.3, 0.3, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9]
    jitter = [5, -5, 0] * 3
    flat = [1000 + j for j in jitter]
    falling = [1000 - 1000 * x + j for x, j in zip(xs, jitter)]
    df = _frame(flat, falling, xs)
    assert studies.effect_verdict(df, "x", "tf_A_val", model="lstm").winner is None
    assert studies.effect_verdict(df, "x", "tf_A_val", model="gpt").winner == "decreases"
    # a falling t_f scales better (lower slope) than a flat one
    assert studies.scaling_verdict(df, "x", "tf_A_val").winner == "GPT"
    same = _frame(falling, falling, xs)
    v = studies.scaling_verdict(same, "x", "tf_A_val")
    assert v.winner is None and "no measurable difference" in v.text


def test_mean_curve_geometric_is_the_mean_of_logs():
    hs = [{"all_steps": [0, 1], "train": {"loss": [1.0, 0.01]}},
          {"all_steps": [0, 1], "train": {"loss": [100.0, 1.0]}}]
    steps, mean, std = studies.mean_curve(hs, "train", "loss", geometric=True)
    np.testing.assert_allclose(mean, [10.0, 0.1], rtol=1e-12)
    np.testing.assert_allclose(std, [np.std(np.log([1, 100]), ddof=1)] * 2, rtol=1e-12)
