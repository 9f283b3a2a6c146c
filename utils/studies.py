"""Sweeps over the modular-arithmetic trainer and their figures (seed 001, problem 4; notebooks 11-16).

A *study* trains the same model family over a grid of one or two settings (r_train, (L, d), B,
weight decay), each point with several seeds and both models, then reads every run's history
with the seed's definitions (:func:`utils.train.arithmetic.summary_row`):

    L = min_t L^(t),  A = max_t A^(t),  t_f(·) = first step reaching it,  Δt = t_f(val) − t_f(train)

optionally only over steps t ≤ T_max (a compute budget α·T, question 6). This module holds what the
six studies share, so that each notebook only states its grid and reads its answers:

* :func:`grid` and :func:`sweep_configs`: the configs of a study (grid points × models × seeds);
* :func:`summary_frame`: one row per run (config columns + L, A, t_f, Δt, P) for
  :func:`utils.stats.table` and the figures;
* :func:`mean_curve`: the mean ± std over seeds of one metric's history;
* :func:`plot_curves`: **curves over t coloured by a parameter with a colour bar** (linear or
  log₂), the seed's figure for questions 3 (a), 5 (a), 6 (a) and 7 (a);
* :func:`plot_metrics_vs`: **metric vs parameter, mean ± std over seeds, per model**, optionally
  coloured by a second parameter with a colour bar: questions 3 (b), 5 (b), 6 (b) and 7 (b);
* :func:`time_step` and :func:`estimate_cost`: seconds per training step of a config measured on
  this machine, and the cost of a sweep predicted from them (printed before a sweep starts);
* :func:`cpu_load`: the 1-minute load average, printed beside every timing;
* :func:`model_verdict`, :func:`effect_verdict` and :func:`scaling_verdict`: every comparative
  sentence of the studies (which model is better, does a metric move with a parameter, which
  model's metric moves more) through :mod:`utils.verdicts`, so a difference is called only when
  it exceeds the spread over seeds;
* :class:`Study`: the set-up every study notebook shares (run store, device, seeds, workers,
  evaluation schedule and smoke shape per profile), its sweep (cost printed, then trained
  through the store), its per-model curve figures and its summary table, so that a notebook
  states only its grid, its figures' captions and its answers.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .train.arithmetic import (SUMMARY_COLUMNS, build_data, build_model, build_optimizer,
                               check_config, evaluation_steps, make_config, summary_row)

MODEL_LABELS = {"lstm": "LSTM", "gpt": "GPT"}
# The laptop setting of notebooks 10-16: at the seed's r_train 0.5 and lr 1e-3 neither model
# generalises within thousands of steps; at r_train 0.7 and lr 3e-3 both memorise by step
# 90-275 and reach 0.99 validation accuracy by step 600-1,250 (seeds 0, 42, 1; lr 1e-2
# diverges, 1e-3 is slower; at 0.9 only 96 equations are left for validation). Notebook 10
# measures it again on every run: its calibration figure. `full` keeps the seed's settings.
LAPTOP_SETTING = {"r_train": 0.7, "lr": 3e-3}
# smoke runs prove the code path only: a narrow model keeps them to seconds (as notebook 10)
SMOKE_SHAPE = dict(embedding_size=32, hidden_size=32, num_heads=2)
MODEL_STYLES = {"lstm": dict(color="C0", ls="-", marker="o"),
                "gpt": dict(color="C3", ls="--", marker="s")}

# The four training curves of every study: (history split, metric, axis label).
CURVE_PANELS = (("train", "loss", r"$\mathcal{L}_{\mathrm{train}}^{(t)}$"),
                ("test", "loss", r"$\mathcal{L}_{\mathrm{val}}^{(t)}$"),
                ("train", "accuracy", r"$\mathcal{A}_{\mathrm{train}}^{(t)}$"),
                ("test", "accuracy", r"$\mathcal{A}_{\mathrm{val}}^{(t)}$"))

# The eight per-run numbers the seed plots against a parameter (summary_row's keys).
METRICS = ("L_train", "L_val", "A_train", "A_val", "tf_L_train", "tf_L_val", "tf_A_train",
           "tf_A_val")
METRIC_LABELS = {
    "L_train": r"$\mathcal{L}_{\mathrm{train}}$", "L_val": r"$\mathcal{L}_{\mathrm{val}}$",
    "A_train": r"$\mathcal{A}_{\mathrm{train}}$", "A_val": r"$\mathcal{A}_{\mathrm{val}}$",
    "tf_L_train": r"$t_f(\mathcal{L}_{\mathrm{train}})$",
    "tf_L_val": r"$t_f(\mathcal{L}_{\mathrm{val}})$",
    "tf_A_train": r"$t_f(\mathcal{A}_{\mathrm{train}})$",
    "tf_A_val": r"$t_f(\mathcal{A}_{\mathrm{val}})$",
    "dt_L": r"$\Delta t(\mathcal{L})$", "dt_A": r"$\Delta t(\mathcal{A})$",
}
TABLE_LABELS = {k: label for k, (label, _) in SUMMARY_COLUMNS.items()}
TABLE_BEST = {k: best for k, (_, best) in SUMMARY_COLUMNS.items() if best}
# losses and accuracies with 4 digits, steps (t_f, Δt) and counts as integers
TABLE_DIGITS = {k: 4 if k[:2] in ("L_", "A_") else 0 for k in SUMMARY_COLUMNS}


# ---------------------------------------------------------------------------------------------
# configs


def grid(**axes: Sequence) -> list[dict]:
    """The Cartesian product of named axes as a list of override dicts, first axis slowest.

    ``grid(num_layers=[1, 2], embedding_size=[64, 128])`` →
    ``[{num_layers: 1, embedding_size: 64}, {1, 128}, {2, 64}, {2, 128}]``.
    """
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"grid axis {name!r} must be a list of values, got {values!r}")
        if len(list(values)) == 0:
            raise ValueError(f"grid axis {name!r} is empty")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def early_schedule(every: int = 1, period: int = 25, first: int = 10,
                   until: int = 100) -> dict:
    """An evaluation schedule (config fields): with ``every`` = 1 the seed's, every step up to
    ``until``; with ``every`` = k > 1 every step up to ``first``, then every k steps up to
    ``until``; after that every ``period`` steps (and the last step)."""
    for name, v in (("every", every), ("period", period), ("first", first), ("until", until)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if every == 1:
        return dict(eval_first=until, eval_period=period)
    return dict(eval_first=first, eval_period=period,
                eval_steps=list(range(first + every, until, every)))


def sweep_configs(points: Sequence[Mapping], models: Sequence[str], seeds: Sequence[int],
                  **base: Any) -> list[dict]:
    """Checked trainer configs for every grid point × model × seed (point overrides ``base``).

    Order: point, then model, then seed; a key that ties LSTM hidden size to d
    (``hidden_size="d"``) is resolved to the point's ``embedding_size``.
    """
    if not points:
        raise ValueError("a sweep needs at least one grid point")
    if not models or not seeds:
        raise ValueError(f"a sweep needs models and seeds, got models={models!r}, seeds={seeds!r}")
    configs = []
    for point in points:
        for model in models:
            for seed in seeds:
                c = {**base, **point, "model": model, "seed": int(seed)}
                if c.get("hidden_size") == "d":
                    c["hidden_size"] = c.get("embedding_size", make_config()["embedding_size"])
                configs.append(make_config(**c))
    return configs


# ---------------------------------------------------------------------------------------------
# reading results


def summary_frame(results: Sequence[Mapping], columns: Sequence[str] = (),
                  T_max: float | None = None) -> pd.DataFrame:
    """One row per run: ``model``, ``seed``, the config ``columns``, P and the seed's numbers.

    ``T_max`` restricts every extremum to evaluation steps t ≤ T_max (question 6's budgets).
    """
    rows = []
    for r in results:
        c = r["config"]
        missing = [k for k in columns if k not in c]
        if missing:
            raise KeyError(f"config has no field(s) {missing}; it has {sorted(c)}")
        row = {"model": c["model"], "seed": c["seed"], **{k: c[k] for k in columns},
               "P": r["P"], "n_steps": r["n_steps"], "n_train": r["data"]["n_train"]}
        row.update(summary_row(r, T_max))
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# verdicts: every comparative sentence of notebooks 10-16 goes through these


def _arm(df: pd.DataFrame, metric: str, **where) -> np.ndarray:
    sub = df
    for k, v in where.items():
        sub = sub[sub[k] == v]
    if metric not in sub.columns:
        raise KeyError(f"no column {metric!r}; the table has {list(df.columns)}")
    return sub[metric].to_numpy(dtype=float)


def _better(metric: str) -> str:
    """Lower is better for losses and steps (t_f, Δt), higher for accuracies."""
    return "higher" if metric.startswith("A_") or "accuracy" in metric else "lower"


def model_verdict(df: pd.DataFrame, metric: str, what: str | None = None,
                  models: Sequence[str] = ("lstm", "gpt"), better: str | None = None,
                  digits: int = 3, **where):
    """LSTM vs GPT on one column of a :func:`summary_frame` (rows filtered by ``where``):
    :func:`utils.verdicts.compare` of their per-seed values; the winner is a model label."""
    from . import verdicts

    a, b = (_arm(df, metric, model=m, **where) for m in models)
    return verdicts.compare(a, b, tuple(MODEL_LABELS[m] for m in models),
                            better=better or _better(metric), what=what or metric,
                            digits=digits)


def effect_verdict(df: pd.DataFrame, param: str, metric: str, what: str | None = None,
                   param_label: str | None = None, log2_x: bool = False, digits: int = 3,
                   **where):
    """Does ``metric`` move with ``param``? :func:`utils.verdicts.trend` over every run (one
    point per seed and value) of the rows selected by ``where`` (e.g. ``model="lstm"``)."""
    from . import verdicts

    sub = df
    for k, v in where.items():
        sub = sub[sub[k] == v]
    return verdicts.trend(sub[param].to_numpy(dtype=float), sub[metric].to_numpy(dtype=float),
                          what=what or metric, param=param_label or param, log2_x=log2_x,
                          digits=digits)


def scaling_verdict(df: pd.DataFrame, param: str, metric: str, what: str | None = None,
                    models: Sequence[str] = ("lstm", "gpt"), log2_x: bool = False,
                    digits: int = 3, **where):
    """Which model *scales better* with ``param`` in ``metric``: the one whose OLS slope is
    more favourable (lower for losses and steps, higher for accuracies), beyond the slopes'
    standard errors (:func:`utils.verdicts.compare_slopes`); the winner is a model label."""
    from . import verdicts

    arms = []
    for m in models:
        sub = df[df.model == m]
        for k, v in where.items():
            sub = sub[sub[k] == v]
        arms += [sub[param].to_numpy(dtype=float), sub[metric].to_numpy(dtype=float)]
    return verdicts.compare_slopes(*arms, tuple(MODEL_LABELS[m] for m in models),
                                   better=_better(metric), log2_x=log2_x, digits=digits,
                                   what=what or f"slope of {metric} against {param}")


def mean_curve(histories: Sequence[Mapping], split: str, metric: str, geometric: bool = False):
    """Steps and the mean and sample std over runs of ``history[split][metric]``.

    ``split`` is ``"train"``, ``"test"`` or ``"extra"`` (e.g. ``param_norm``). Runs are aligned
    on the evaluation steps they share (identical grids when only the seed differs; a run that
    stopped early ends the shared grid). ``geometric``: mean and std of the natural log of the
    values (for a log axis: the band exp(mean ± std) stays positive); the mean is returned as
    exp(mean of logs), the std in log units.
    """
    if not histories:
        raise ValueError("mean_curve needs at least one history")
    for h in histories:
        if metric not in h[split]:
            raise KeyError(f"history[{split!r}] has no {metric!r}; it has {sorted(h[split])}")
    common = set(histories[0]["all_steps"])
    for h in histories[1:]:
        common &= set(h["all_steps"])
    steps = np.array(sorted(common))
    values = []
    for h in histories:
        index = {s: i for i, s in enumerate(h["all_steps"])}
        series = h[split][metric]
        values.append([series[index[s]] for s in steps])
    values = np.asarray(values, dtype=float)                        # (runs, steps)
    if geometric:
        values = np.log(np.maximum(values, 1e-12))
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(len(steps))
    mean = values.mean(axis=0)
    return steps, (np.exp(mean) if geometric else mean), std


def group_results(results: Sequence[Mapping], key) -> dict:
    """``{value: [results]}`` with ``value = key(config)`` (or ``config[key]``), sorted by value."""
    get = key if callable(key) else (lambda c: c[key])
    groups: dict = {}
    for r in results:
        groups.setdefault(get(r["config"]), []).append(r)
    return dict(sorted(groups.items()))


# ---------------------------------------------------------------------------------------------
# figures


def color_norm(values: Sequence[float], log2: bool = False):
    """A colour normalisation over ``values``: linear, or logarithmic (for log₂ colour bars)."""
    from matplotlib import colors

    lo, hi = min(values), max(values)
    if log2:
        if lo <= 0:
            raise ValueError(f"a log2 colour scale needs positive values, got {sorted(values)}")
        return colors.LogNorm(vmin=lo, vmax=hi if hi > lo else lo * 2)
    return colors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)


def _log_y(ax) -> None:
    """A log y axis whose ticks read as plain numbers (0.01, 0.1, 1, 3) at any range."""
    from matplotlib import ticker

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.LogFormatter())
    ax.yaxis.set_minor_formatter(ticker.LogFormatter(minor_thresholds=(1, 0.5)))
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 10:          # less than a decade: there may be no power of ten
        ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=4))    # or minor tick inside,
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.3g}"))  # so plain
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())      # ticks


def _log_x_steps(ax) -> None:
    """A log x axis for training steps: major ticks at powers of ten, no minor labels."""
    from matplotlib import ticker

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def add_colorbar(fig, axes, norm, cmap, label: str, values: Sequence[float],
                 log2: bool = False):
    """One colour bar for ``axes`` with a tick at each value (labelled 2^k when ``log2``)."""
    from matplotlib import cm, ticker

    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(sm, ax=list(np.ravel(axes)), label=label, fraction=0.03, pad=0.02)
    ticks = sorted(set(values))
    cbar.set_ticks(ticks)
    if log2:
        cbar.ax.yaxis.set_minor_locator(ticker.NullLocator())
        cbar.set_ticklabels([f"$2^{{{math.log2(v):g}}}$" for v in ticks])
    else:
        cbar.set_ticklabels([f"{v:g}" for v in ticks])
    return cbar


def plot_curves(groups: Mapping[float, Sequence[Mapping]], label: str, *, log2: bool = False,
                panels: Sequence = CURVE_PANELS, title: str = "", cmap: str = "viridis",
                band: bool = True, logx: bool = True, fig_axes=None):
    """Curves over t coloured by a parameter, one colour bar (linear or log₂).

    ``groups`` maps a parameter value (r_train, d, B, weight decay) to the runs (seeds) trained
    with it; each panel of ``panels`` (split, metric, y label) shows the mean over seeds per
    value, with a light ± std band when ``band``. Loss panels (and ``param_norm``) have a log
    y axis, their mean and band geometric (exp of the mean ± std of the logs); the x axis is log-scaled by default (t ≥ 1) so that the early memorisation phase
    and the late generalisation both show. Returns the figure (not yet shown).
    """
    import matplotlib.pyplot as plt

    from . import plots

    if not groups:
        raise ValueError("plot_curves needs at least one group of runs")
    values = [float(v) for v in groups]
    norm, cm = color_norm(values, log2), plt.get_cmap(cmap)
    if fig_axes is None:
        ncols = min(len(panels), 4 if len(panels) <= 4 else 3)
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = plots.subplots(nrows, ncols, width=min(3.0 * ncols + 1.2, 15.5),
                                   height=2.8 * nrows + 0.4, squeeze=False, layout="constrained")
    else:
        fig, axes = fig_axes
        axes = np.atleast_2d(axes)
    flat = np.ravel(axes)
    for ax, (split, metric, ylabel) in zip(flat, panels):
        log_y = metric == "loss" or metric.startswith("loss_") or metric == "param_norm"
        for value, runs in groups.items():
            steps, mean, std = mean_curve(runs, split, metric, geometric=log_y)
            keep = steps >= 1 if logx else np.ones_like(steps, dtype=bool)
            color = cm(norm(float(value)))
            ax.plot(steps[keep], mean[keep], color=color, lw=1.3)
            if band and len(runs) > 1:
                lo, hi = (mean * np.exp(-std), mean * np.exp(std)) if log_y else \
                    (mean - std, mean + std)
                ax.fill_between(steps[keep], lo[keep], hi[keep], color=color, alpha=0.12, lw=0)
        if logx:
            _log_x_steps(ax)
        if log_y:
            _log_y(ax)
        ax.set_xlabel("training step t" + (" (log scale)" if logx else ""))
        ax.set_ylabel(ylabel)
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    add_colorbar(fig, axes, norm, cm, label, values, log2)
    return fig


def plot_metrics_vs(df: pd.DataFrame, x: str, *, metrics: Sequence[str] = METRICS,
                    hue: str | None = None, hue_log2: bool = False, x_log2: bool = False,
                    x_log: bool = False, xlabel: str | None = None, hue_label: str | None = None,
                    models: Sequence[str] | None = None, title: str = "", cmap: str = "plasma",
                    ncols: int = 4):
    """Metric vs a parameter, mean ± std over seeds, one line per model.

    ``df`` has one row per run (:func:`summary_frame`). Without ``hue``: one line per model
    (LSTM solid circles, GPT dashed squares) with error bars. With ``hue`` (e.g. L or α): one
    line per model and hue value, coloured by the hue with a colour bar (linear or log₂), the
    model still told by line style and marker. Loss panels have a log y axis; ``x_log2`` puts
    x in log₂ scale (d, B), ``x_log`` in log₁₀ scale (parameter counts). Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from . import plots

    missing = [c for c in [x, *metrics, *([hue] if hue else [])] if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the table; it has {list(df.columns)}")
    models = list(models or [m for m in ("lstm", "gpt") if m in set(df["model"])])
    nrows = math.ceil(len(metrics) / ncols)
    fig, axes = plots.subplots(nrows, ncols, width=min(3.1 * ncols + (1.3 if hue else 0.4), 15.5),
                               height=2.6 * nrows + 0.6, squeeze=False, layout="constrained")
    flat = np.ravel(axes)
    hue_values = sorted(set(df[hue])) if hue else [None]
    norm = color_norm([float(v) for v in hue_values], hue_log2) if hue else None
    cm = plt.get_cmap(cmap)
    for ax, metric in zip(flat, metrics):
        for model in models:
            style = MODEL_STYLES.get(model, {})
            for hv in hue_values:
                sub = df[(df["model"] == model) & ((df[hue] == hv) if hue else True)]
                if sub.empty:
                    continue
                g = sub.groupby(x)[metric]
                mean = g.mean()
                std = g.std(ddof=1).fillna(0.0)
                color = cm(norm(float(hv))) if hue else style.get("color")
                ax.errorbar(mean.index.to_numpy(dtype=float), mean.to_numpy(), yerr=std.to_numpy(),
                            color=color, ls=style.get("ls", "-"), marker=style.get("marker", "o"),
                            ms=3.5, lw=1.2, capsize=2,
                            label=MODEL_LABELS.get(model, model) if not hue else None)
        if metric.startswith("L_"):
            _log_y(ax)
        if x_log2:
            ax.set_xscale("log", base=2)
            xs = sorted(set(df[x]))
            ax.set_xticks(xs, [f"$2^{{{math.log2(v):g}}}$" for v in xs])
            ax.minorticks_off()
        elif x_log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    for ax in flat[len(metrics):]:
        ax.set_visible(False)
    handles = [Line2D([], [], color="k" if hue else MODEL_STYLES[m]["color"],
                      ls=MODEL_STYLES[m]["ls"], marker=MODEL_STYLES[m]["marker"], ms=4,
                      label=MODEL_LABELS.get(m, m)) for m in models if m in MODEL_STYLES]
    if not (title and len(handles) == 1):          # one model named by the title: no legend
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles))
    if hue:
        add_colorbar(fig, axes, norm, cm, hue_label or hue, [float(v) for v in hue_values], hue_log2)
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------------
# cost: measured seconds per step, and a sweep's predicted cost


def cpu_load() -> str:
    """The 1-, 5- and 15-minute load averages (``/proc/loadavg``), for notes beside timings."""
    try:
        with open("/proc/loadavg") as fh:
            return "load average " + " ".join(fh.read().split()[:3])
    except OSError:
        return "load average unknown"


def shape_key(config: Mapping) -> tuple:
    """What a training step's cost depends on: model, shape, data size, batch."""
    c = config
    return (c["model"], c["num_layers"], c["embedding_size"], c["hidden_size"], c["num_heads"],
            c["multiplier"], c["p"], str(c["operation_orders"]), c["r_train"],
            c["train_batch_size"])


def time_step(config: Mapping, steps: int = 3, device: str = "cpu") -> dict:
    """Seconds (wall and this process's CPU) per training step and per validation pass.

    Builds the config's data, model and optimizer and times ``steps`` full steps (forward, RHS
    loss, backward, clipping, AdamW) after one warm-up step, then one evaluation of the
    validation split. A short measurement: read it with the load average beside it.
    """
    import torch

    from .train.losses import get_loss_and_accuracy

    config = dict(config)
    check_config(config)
    train_t, valid_t, tok, max_length, pad = build_data(config)
    train_t = tuple(t.to(device) for t in train_t)
    valid_t = tuple(t.to(device) for t in valid_t)
    model = build_model(config, len(tok), max_length, pad).to(device)
    opt = build_optimizer(config, model.parameters())
    batch = tuple(t[:min(config["train_batch_size"], len(train_t[0]))] for t in train_t)

    def step():
        opt.zero_grad(set_to_none=True)
        logits, *_ = model(batch[0])
        loss, _ = get_loss_and_accuracy(logits, *batch[1:], reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["max_grad_norm"] or 1.0)
        opt.step()

    def sync():
        if device != "cpu" and torch.cuda.is_available():
            torch.cuda.synchronize()

    step()
    sync()
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    sync()
    w1, c1 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        model.eval()
        for start in range(0, len(valid_t[0]), config["eval_batch_size"]):
            sl = slice(start, start + config["eval_batch_size"])
            logits, *_ = model(valid_t[0][sl])
            get_loss_and_accuracy(logits, valid_t[1][sl], valid_t[2][sl], valid_t[3][sl])
    sync()
    w2, c2 = time.perf_counter(), time.process_time()
    return {"step_s": (w1 - w0) / steps, "step_cpu_s": (c1 - c0) / steps,
            "eval_s": w2 - w1, "eval_cpu_s": c2 - c1, "batch": len(batch[0]),
            "n_train": len(train_t[0]), "threads": torch.get_num_threads()}


def run_cost(config: Mapping, timing: Mapping, key: str = "step_s") -> float:
    """Predicted seconds of one run: steps × step time + evaluations × (validation pass + a
    training-set pass when a step does not see the whole training set)."""
    n_train, batch = timing["n_train"], timing["batch"]
    per_epoch = math.ceil(n_train / batch)
    n_steps = math.ceil(config["n_steps"] / per_epoch) * per_epoch
    n_evals = len(evaluation_steps(config, n_steps))
    eval_key = "eval_s" if key == "step_s" else "eval_cpu_s"
    val_cost = timing[eval_key]
    train_eval = 0.0 if per_epoch == 1 else timing[key] / 3 * n_train / batch   # forward only
    mean_step = timing[key] * (n_train / per_epoch) / batch          # the last batch is smaller
    return n_steps * mean_step + n_evals * (val_cost + train_eval)


def time_group_step(config: Mapping, n_train: int, batch: int, runs: int = 4,
                    device: str = "cpu") -> float:
    """Seconds (CPU on a CPU) per run-step of a full batch when ``runs`` copies of ``config``
    (seeds 0, 1, ...) train as one batch: the difference between one and three epochs of
    :func:`utils.train.batched.train_group`, so that building and evaluating cancel out, scaled
    from the epoch's mean batch to a full one (the convention of :func:`run_cost`)."""
    from .train.batched import train_group

    per_epoch = math.ceil(n_train / batch)
    group = [make_config(**{**config, "seed": s, "n_steps": per_epoch, "eval_first": 0,
                            "eval_period": 10 ** 6, "eval_steps": [], "keep_states": []})
             for s in range(runs)]
    clock = time.process_time if device == "cpu" else time.perf_counter
    t0 = clock()
    train_group(group, device=device)
    t1 = clock()
    train_group([{**c, "n_steps": 3 * per_epoch} for c in group], device=device)
    t2 = clock()
    mean_step = max((t2 - t1) - (t1 - t0), 1e-9) / (2 * per_epoch * runs)
    return mean_step * batch / (n_train / per_epoch)


def estimate_cost(configs: Sequence[Mapping], workers: int = 1, steps: int = 2,
                  device: str = "cpu", store=None, verbose: bool = True) -> dict:
    """Predict a sweep's cost from a short timing of each distinct shape on this machine.

    Runs already in ``store`` cost nothing. A shape that :func:`executor` batches is timed as a
    batch (per run-step), the others alone. With ``workers`` > 1 one-thread processes the wall
    time is the CPU time divided by ``workers`` (an idle machine; a loaded one is slower: see
    ``load``); with one worker the runs train in this process with all its threads, so the
    prediction is wall time (``cpu_s`` is then wall × threads, an upper bound).
    Returns ``{"runs", "to_run", "cpu_s", "wall_s", "per_shape", "per_run", "load"}``
    (``per_run``: predicted seconds of each run to train, by its run-store key).
    """
    import torch

    from .train.arithmetic import train
    from .train.batched import _code

    todo = [c for c in configs if store is None
            or not store.is_done(c, code=_code(c) if executor(c, device) == "batched" else train)]
    per_shape: dict = {}
    threads = torch.get_num_threads()
    if workers > 1 and device == "cpu":
        torch.set_num_threads(1)
    # one worker on a CPU trains in this process with all its threads: predict from wall time
    # (the CPU time of a multi-threaded process also counts threads spinning at barriers)
    in_process = device == "cpu" and workers <= 1
    key = "step_cpu_s" if device == "cpu" and workers > 1 else "step_s"
    try:
        for c in todo:
            k = shape_key(c)
            if k not in per_shape:
                per_shape[k] = time_step(c, steps=steps, device=device)
                if executor(c, device) == "batched":
                    same = sum(shape_key(o) == k for o in todo)
                    runs = max(1, min(8, math.ceil(same / max(1, workers))))
                    t = per_shape[k]
                    t[key] = time_group_step(c, t["n_train"], t["batch"], runs=runs,
                                             device=device)
                    per_shape[k]["batched_runs"] = runs
    finally:
        torch.set_num_threads(threads)
    per_run = {_cost_key(c): run_cost(c, per_shape[shape_key(c)], key) for c in todo}
    total = sum(per_run.values())
    if key == "step_cpu_s":
        cpu_s, wall_s = total, total / max(1, min(workers, len(todo) or 1))
    else:
        wall_s, cpu_s = total, total * (threads if in_process else 1)   # CPU: an upper bound
    out = {"runs": len(configs), "to_run": len(todo), "cpu_s": cpu_s, "wall_s": wall_s,
           "per_shape": per_shape, "per_run": per_run, "load": cpu_load()}
    if verbose:
        how = (f"in this process with {threads} thread(s)" if in_process else
               f"device time, {workers} worker(s)" if device != "cpu" else
               f"CPU time {cpu_s / 60:.1f} min over {workers} one-thread worker(s)")
        print(f"{len(todo)} of {len(configs)} runs to train; predicted wall time "
              f"{wall_s / 60:.1f} min ({how}, on an idle machine; measured on {device}, "
              f"{out['load']})")
    return out


def cost_sentence(results: Sequence[Mapping]) -> str:
    """What the runs cost, from what each recorded: "The N runs took X CPU-seconds (Y s of
    wall-clock time)", summed over runs (parallel runs overlap in wall-clock time). Runs stored
    before ``train`` recorded ``cpu_s`` count their wall time."""
    cpu = sum(r.get("cpu_s", r["wall_s"]) for r in results)
    wall = sum(r["wall_s"] for r in results)
    return (f"The {len(results)} runs took {cpu:,.0f} CPU-seconds ({wall:,.0f} s of wall-clock "
            f"time, summed over runs).")


def seed_setting_cost(configs: Sequence[Mapping], workers: int, what: str,
                      **seed_fields: Any) -> str:
    """The sentence "<what> would cost about N CPU-minutes (or CPU-hours) on this machine
    (timed steps, load): the `full` profile." for ``configs`` moved to the seed's setting: the
    r_train, learning rate, T, evaluation schedule and (no) early stop of
    :func:`~utils.train.arithmetic.make_config`, then ``seed_fields`` (e.g. the seed's T of
    question 6). Predicted by :func:`estimate_cost` from timed steps (nothing is trained)."""
    seed = make_config()
    base = {k: seed[k] for k in ("r_train", "lr", "n_steps", "eval_first", "eval_period",
                                 "eval_steps", "stop_at_val_accuracy")}
    cost = estimate_cost([{**c, **base, **seed_fields} for c in configs], workers=workers,
                         verbose=False)
    cpu = cost["cpu_s"]
    amount = f"{cpu / 3600:.1f} CPU-hours" if cpu >= 3600 else f"{cpu / 60:.0f} CPU-minutes"
    return (f"{what} would cost about {amount} on this machine (timed steps, {cost['load']}): "
            f"the `full` profile.")


def longest_first(configs: Sequence[Mapping], cost: Mapping) -> list[int]:
    """Indices of ``configs`` in decreasing predicted cost (:func:`estimate_cost`'s
    ``per_run``; stored runs cost 0), ties in config order. Started in this order, a sweep's
    last runs are its shortest ones (longest-processing-time-first scheduling), so the
    workers finish close together. For a run that may stop early (``stop_at_val_accuracy``)
    the prediction is an upper bound."""
    per_run = cost.get("per_run", {})
    keyed = [per_run.get(_cost_key(c), 0.0) for c in configs]
    return sorted(range(len(configs)), key=lambda i: (-keyed[i], i))


def _cost_key(config: Mapping) -> str:
    from .runs import config_key

    return config_key(dict(config))


def default_workers() -> int:
    """Worker processes for :func:`utils.train.arithmetic.run_many`: one per core, at most 2."""
    return max(1, min(2, os.cpu_count() or 1))


# ---------------------------------------------------------------------------------------------
# running a sweep


def executor(config: Mapping, device: str = "cpu") -> str:
    """How a run is trained: ``"batched"`` (with the others of its shape, one vmapped
    computation, :mod:`utils.train.batched`) or ``"solo"`` (:func:`utils.train.arithmetic.train`).

    On a GPU every batchable run is batched: one of these tiny models leaves the GPU idle. On a
    CPU the matrix products already keep a core busy: batching measured 0.98× (LSTM) and about
    1.0× (GPT) the per-run-step CPU time of solo runs (``bench/bench_sweeps.py``), so CPU runs
    train solo in parallel one-thread processes, as notebook 10's do.
    """
    from .train.batched import batchable

    return "batched" if device != "cpu" and batchable(config) else "solo"


def run_sweep(store, configs: Sequence[Mapping], workers: int | None = None, device: str = "cpu",
              **train_kwargs) -> list[dict]:
    """Results of every config (in order) through ``store``, training only the missing ones.

    Each run goes to its :func:`executor`: solo runs to :func:`utils.sweep.sweep` (parallel
    one-thread processes, one per GPU on a GPU, or the backend ``COURSEPACK_BACKEND`` names),
    batched ones to :func:`utils.train.batched.run_batched` (on a CPU split over ``workers``
    one-thread processes), each run keeping its own data, seed, optimizer state, clipping and
    metrics.
    """
    from .train.arithmetic import train
    from .train.batched import run_batched

    configs = [dict(c) for c in configs]
    workers = workers or default_workers()
    how = [executor(c, device) for c in configs]
    out: list = [None] * len(configs)
    batched_idx = [i for i, h in enumerate(how) if h == "batched"]
    solo_idx = [i for i, h in enumerate(how) if h == "solo"]
    if batched_idx:
        res = run_batched(store, [configs[i] for i in batched_idx], device=device,
                          workers=workers)
        for i, r in zip(batched_idx, res):
            out[i] = r
    if solo_idx:
        kwargs = dict(train_kwargs)
        if device != "cpu":
            kwargs["device"] = device
        # the pack's one sweep engine (utils/sweep.py): one-thread worker processes here, or the
        # backend COURSEPACK_BACKEND names (dask: a local or remote cluster); in this process
        # with one worker. Same runs, keys and fingerprints as run_many's pool.
        from .sweep import sweep

        solo = [configs[i] for i in solo_idx]
        for c in solo:
            check_config(c)
        n = workers if device == "cpu" else None     # on a GPU: one worker per GPU
        res = sweep(store, solo, train, workers=n, fn_kwargs=kwargs or None)
        for i, r in zip(solo_idx, res):
            out[i] = r
    return out


def run_seeds(seeds: Sequence[int]) -> list[int]:
    """The seeds a study trains: the assignment's 0 and 42 first, then the notebook's ``seeds``,
    as many as ``seeds`` holds (at least two), e.g. ``[0, 1, 2]`` → ``[0, 42, 1]`` (notebook 10's
    rule, so that the same config gives the same run-store key in every notebook)."""
    seeds = [int(s) for s in seeds]
    return list(dict.fromkeys([0, 42] + seeds))[:max(len(seeds), 2)]


def plot_train_val(ax, runs: Sequence[Mapping], metric: str, *, split_suffix: str = "",
                   logx: bool = True, label_prefix: str = "") -> None:
    """Training (blue, solid) and validation (red, dashed) ``metric`` over t on ``ax``: mean over
    seeds with a ± std band (``split_suffix``, e.g. ``"_order2"``, picks a per-order metric)."""
    for split, color, ls, name in (("train", "C0", "-", "train"), ("test", "C3", "--", "validation")):
        steps, mean, std = mean_curve(runs, split, metric + split_suffix)
        keep = steps >= 1 if logx else np.ones_like(steps, dtype=bool)
        ax.plot(steps[keep], mean[keep], color=color, ls=ls, lw=1.4, label=label_prefix + name)
        if len(runs) > 1:
            ax.fill_between(steps[keep], (mean - std)[keep], (mean + std)[keep], color=color,
                            alpha=0.15, lw=0)
    if logx:
        _log_x_steps(ax)
    if metric == "loss":
        _log_y(ax)
    ax.set_xlabel("training step t" + (" (log scale)" if logx else ""))


def stored_configs(store) -> list[dict]:
    """The configs of every finished run in ``store`` (read from each run's ``meta.json``).

    The run store has no listing call; this reads its folder layout
    (``<root>/<key>/meta.json``, status ``done``). Used by notebook 16 to find a trained GPT in
    notebook 10's store whatever profile produced it.
    """
    import json

    out = []
    root = store.root
    if not root.exists():
        return out
    for meta_path in sorted(root.glob("*/meta.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("status") == "done" and isinstance(meta.get("config"), dict):
            out.append(meta["config"])
    return out


# ---------------------------------------------------------------------------------------------
# the set-up every study notebook shares


@dataclass
class Study:
    """One study notebook's sweep: where its runs live and how they are trained and read.

    ``Study.start(P, "11_scaling_data")`` (right after :func:`utils.notebook.start`) gives

    * ``store``: the notebook's :class:`utils.runs.RunStore`;
    * ``device``: ``"cuda"`` when a GPU is present (runs then train batched), else ``"cpu"``;
    * ``seeds``: :func:`run_seeds` of the notebook's seeds (0 and 42 first), one in ``smoke``;
    * ``workers``: one-thread processes for CPU runs (the ``workers`` parameter, or 1 in
      ``smoke`` and :func:`default_workers` otherwise);
    * ``eval``: the evaluation schedule, every step up to ``eval_first`` then every
      ``eval_period``: ``smoke`` 3/3, ``laptop`` 100/``laptop_period``, ``full`` the seed's
      100/100 (the resolution of its t_f). With ``laptop_early_every`` = k > 1 the laptop
      schedule evaluates every step up to 10, then every k steps up to 100
      (:func:`early_schedule`; 72 fewer evaluations per run, each a forward pass over the
      validation set and, when a step does not see the whole training set, over that too);
    * ``shape``: the narrow model of ``smoke`` runs (:data:`SMOKE_SHAPE`), nothing otherwise.
    """

    P: Any
    name: str
    models: tuple
    store: Any
    device: str
    seeds: list
    workers: int
    eval: dict
    shape: dict = field(default_factory=dict)

    @classmethod
    def start(cls, P, name: str, models: Sequence[str] = ("lstm", "gpt"),
              laptop_period: int = 25, smoke_period: int = 3,
              smoke_shape: Mapping | None = None, laptop_early_every: int = 1) -> "Study":
        import torch

        from .runs import RunStore

        bad = [m for m in models if m not in MODEL_LABELS]
        if not models or bad:
            raise ValueError(f"models must be a non-empty subset of {list(MODEL_LABELS)}, "
                             f"got {list(models)}")
        workers = int(getattr(P, "workers", 0) or 0)
        return cls(
            P=P, name=name, models=tuple(models), store=RunStore(name),
            device="cuda" if torch.cuda.is_available() else "cpu",
            seeds=run_seeds(P.seeds)[:P.pick(smoke=1, laptop=None, full=None)],
            workers=workers or P.pick(smoke=1, laptop=default_workers(), full=default_workers()),
            eval=P.pick(smoke=dict(eval_first=3, eval_period=smoke_period),
                        laptop=early_schedule(laptop_early_every, laptop_period),
                        full=dict(eval_first=100, eval_period=100)),
            shape=dict(P.pick(smoke=SMOKE_SHAPE if smoke_shape is None else smoke_shape,
                              laptop={}, full={})))

    @property
    def setting(self) -> dict:
        """r_train and lr of this profile: :data:`LAPTOP_SETTING` in ``smoke`` and ``laptop``,
        the seed's (0.5, 1e-3) in ``full``."""
        seed = make_config()
        return dict(self.P.pick(smoke=LAPTOP_SETTING, laptop=LAPTOP_SETTING,
                                full={"r_train": seed["r_train"], "lr": seed["lr"]}))

    @staticmethod
    def deviations(config: Mapping, ignore: Sequence[str] = ("model", "seed")) -> list[str]:
        """``"field: seed's value → this value"`` for every field of ``config`` that differs
        from the seed's defaults (:class:`~utils.train.arithmetic.ArithmeticConfig`); the
        listed evaluation steps (``eval_steps``) are left to :attr:`schedule`."""
        seed = make_config()
        return [f"{k}: {seed[k]} → {v}" for k, v in config.items()
                if k not in ignore and k != "eval_steps" and k in seed and seed[k] != v]

    @property
    def schedule(self) -> str:
        """The evaluation schedule in words, for the notebook's printed reductions."""
        early = self.eval.get("eval_steps") or []
        middle = (f", every {early[1] - early[0]} up to {early[-1] + early[1] - early[0]}"
                  if len(early) >= 2 else "")
        return (f"evaluation at every step up to {self.eval['eval_first']}{middle}, then every "
                f"{self.eval['eval_period']}")

    def eval_steps(self, *extra: Iterable[int]) -> list[int]:
        """This schedule's listed evaluation steps together with ``extra`` ones (e.g. the
        budgets α·T of notebook 14), sorted, for a config's ``eval_steps``."""
        return sorted(set(self.eval.get("eval_steps", [])).union(*extra))

    def configs(self, points: Sequence[Mapping], **base: Any) -> list[dict]:
        """:func:`sweep_configs` of ``points`` × this study's models × seeds, with its
        evaluation schedule and (in ``smoke``) its narrow shape under ``base``."""
        return sweep_configs(points, self.models, self.seeds, **{**self.eval, **self.shape, **base})

    def run(self, configs: Sequence[Mapping], columns: Sequence[str] = ()):
        """Print the predicted cost, train what the store lacks, and return ``(results, df)``:
        the results in config order and their :func:`summary_frame` with ``columns``.

        The runs start longest first (:func:`longest_first`, from the predicted costs), so that
        the last runs to finish are short ones and no worker idles long at the end."""
        workers = self.workers if self.device == "cpu" else 1
        cost = estimate_cost(configs, workers=workers, store=self.store, device=self.device)
        order = longest_first(configs, cost)
        ran = run_sweep(self.store, [configs[i] for i in order], workers=self.workers,
                        device=self.device)
        results: list = [None] * len(configs)
        for i, r in zip(order, ran):
            results[i] = r
        return results, summary_frame(results, columns)

    def by_model(self, results: Sequence[Mapping]) -> dict:
        """``{model: [results of that model]}`` in this study's model order."""
        return {m: [r for r in results if r["config"]["model"] == m] for m in self.models}

    def show_curves(self, results: Sequence[Mapping], key, label: str, caption: str, *,
                    name: str = "curves", **kwargs) -> None:
        """One :func:`plot_curves` figure per model (runs grouped by ``key``), saved as
        ``<name>_<model>`` with ``caption`` (a string, or a function of the model's label)."""
        from . import plots

        for model, runs in self.by_model(results).items():
            label_m = MODEL_LABELS[model]
            fig = plot_curves(group_results(runs, key), label, title=label_m, **kwargs)
            plots.show(fig, f"{name}_{model}" if len(self.models) > 1 else name,
                       caption(label_m) if callable(caption) else f"{label_m}: {caption}")

    def table(self, df: pd.DataFrame, by: Sequence[str], caption: str,
              labels: Mapping[str, str] | None = None, metrics: Sequence[str] | None = None):
        """:func:`utils.stats.table` of the seed's numbers per ``by`` (mean ± std over seeds,
        best in bold, L and A to 4 digits, steps as integers)."""
        from . import stats

        metrics = list(metrics or TABLE_LABELS)
        return stats.table(df, list(by), metrics,
                           best={k: v for k, v in TABLE_BEST.items() if k in metrics},
                           labels={**TABLE_LABELS, **(labels or {})},
                           digits={**TABLE_DIGITS, **{m: 0 for m in metrics
                                                      if m not in TABLE_DIGITS}},
                           caption=caption)
