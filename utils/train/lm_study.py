"""Running and judging the language-model studies of notebooks 06 and 07 (seeds 004 and 003).

* :func:`run_lm_many`: the results of :func:`utils.train.lm.train_lm` for many configs through a
  run store, training the missing ones in parallel one-thread worker processes (independent runs
  on a 2-core CPU), or one worker per GPU with ``device="cuda"`` (:func:`train_on`).
* The verdicts: every comparative sentence of notebooks 06 and 07 is decided here, through
  :mod:`utils.verdicts` (Welch's t-test over seeds; no winner within the seed spread):
  :func:`arm_verdict` (two arms of a frame), :func:`lr_bracket` (is the best learning rate
  worse-bounded on both sides?), :func:`ablation_verdicts` (each variant against the
  baseline, divergence counted) and :func:`batch_verdicts` (each batch size against the best).
  Tested on constructed equal and unequal arms in ``tests/test_lm_study.py``.
* :func:`experiment_log`: the CS336 ``experiment_log`` deliverable, generated: one row per run
  with what changed from the base config, final and best validation loss, steps, wall and CPU
  time, status.
* :func:`measure_train_step`: the measured CPU and wall time of one training step of a
  :class:`~utils.nn.transformer_lm.TransformerLM` configuration and the matmul FLOP/s that gives
  (:func:`accounting_config` describes the model to :mod:`utils.accounting`), for the cost
  projections of notebooks 06 and 07 (no assumed FLOP/s).
* :func:`memory_expression`: the peak-memory expression of an fp32 AdamW training step in
  (B, V, T, L, d, d_ff, h), recovered exactly from :func:`utils.accounting.activation_bytes` and
  :func:`utils.accounting.param_counts` (the code that computes the numbers), so the formula
  printed in notebook 06 cannot drift from the numbers.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import verdicts
from .lm import train_lm

# --------------------------------------------------------------------------------------------
# measuring a training step


def accounting_config(cfg) -> "acc.TransformerConfig":
    """The :class:`utils.accounting.TransformerConfig` of a ``TransformerLM`` config (its FFN
    kind and width, norm, positions, tying), for FLOP and memory counts."""
    from .. import accounting as acc

    mlp = "swiglu" if cfg.ffn == "swiglu" else "gelu"      # SiLU and GELU MLPs: two matrices
    return acc.TransformerConfig(d_model=cfg.d_model, n_layers=cfg.num_layers,
                                 n_heads=cfg.num_heads, vocab_size=cfg.vocab_size,
                                 context_length=cfg.context_length, d_ff=cfg.hidden_dim, mlp=mlp,
                                 norm="rmsnorm" if cfg.norm_type == "rmsnorm" else "layernorm",
                                 bias=False, positions=cfg.positions if cfg.positions in
                                 ("rope", "learned") else "rope",
                                 tied_embeddings=cfg.tie_weights)


def measure_train_step(cfg, batch: int, repeats: int = 3, seed: int = 0) -> dict:
    """Median wall and CPU seconds of one training step (forward, loss, backward, AdamW) of a
    ``TransformerLM`` built from ``cfg`` (a :class:`~utils.nn.transformer_lm.TransformerConfig`)
    on random tokens of a full context, with this process's threads
    (:func:`utils.hardware.time_samples`). Rates are per CPU-second (what one busy core
    delivers), so other jobs on the machine do not inflate them; the wall time is kept for
    reference. Returns ``wall_s``, ``cpu_s``, ``flops`` (matmul FLOPs of the step,
    :func:`utils.accounting.training_flops`), ``flops_per_s``, ``tokens_per_s``, ``params``."""
    import torch

    from .. import accounting as acc
    from ..hardware import time_samples
    from ..nn.transformer_lm import TransformerLM
    from .lm import cross_entropy
    from .optim import AdamW

    torch.manual_seed(seed)
    m = TransformerLM(cfg)
    opt = AdamW(m.parameters(), lr=1e-4)
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.context_length),
                      generator=torch.Generator().manual_seed(seed))     # (B, T)

    def step():
        loss = cross_entropy(m(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    t = time_samples(step, repeats=repeats, warmup=1, calls=1)
    flops = acc.training_flops(accounting_config(cfg), batch, cfg.context_length)["total"]
    cpu = float(np.median(t["cpu"]))
    return {"wall_s": float(np.median(t["wall"])), "cpu_s": cpu, "flops": flops,
            "flops_per_s": flops / cpu, "tokens_per_s": batch * cfg.context_length / cpu,
            "params": m.num_parameters()}


# --------------------------------------------------------------------------------------------
# running many runs


def default_workers() -> int:
    """One worker process per core, at most 2 (the project machine's cores)."""
    return max(1, min(2, os.cpu_count() or 1))


def train_on(config: Mapping, ctx=None, *, device: str = "cpu", **kwargs) -> dict:
    """:func:`~utils.train.lm.train_lm` of ``config`` on ``device`` unless the config names its
    own. Where a run trains is not what it is: the device stays out of the run's key (as in
    :func:`utils.studies.run_sweep`), and the result's ``config`` records where it trained."""
    return train_lm({"device": device, **config}, ctx, **kwargs)


def check_device(device: str) -> str:
    """``device`` as :func:`run_lm_many` uses it, or a clear error: ``"cpu"``, or ``"cuda"``
    when torch sees a GPU (no index: the sweep engine gives each worker its own GPU)."""
    import torch

    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda' (the sweep engine gives each worker "
                         f"its own GPU), got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device 'cuda' asked for, but torch sees no GPU here "
                         f"(torch {torch.__version__}); use 'cpu'")
    return device


def profile_device(profile: str) -> str:
    """Where notebooks 06 and 07 train in ``profile``: the GPU in ``full`` when torch sees one
    (that profile is meant for a GPU), else the CPU (``smoke`` and ``laptop`` are CPU budgets,
    and their cost projections use the CPU's measured rates)."""
    import torch

    return "cuda" if profile == "full" and torch.cuda.is_available() else "cpu"


def run_lm_many(store, configs: Sequence[Mapping], workers: int | None = None,
                desc: str | None = None, device: str = "cpu") -> list[dict]:
    """``train_lm`` results for every config (in order), training only the missing ones,
    through the pack's sweep engine (:func:`utils.sweep.sweep`).

    On the CPU with ``workers > 1`` (default: one per core, at most 2) the missing runs train in
    that many worker processes with one torch thread each (or on the backend
    ``COURSEPACK_BACKEND`` names); a one-thread run may differ from a multi-thread run of the
    same config in the last float bits, not more. ``device="cuda"``: one worker per GPU, each
    seeing its own (``workers`` is not used). Stored runs (and stale ones: the fingerprint of
    ``train_lm`` is checked) are handled by the run store, whichever device trained them.
    """
    from ..sweep import sweep

    device = check_device(device)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    configs = [dict(c) for c in configs]
    if device == "cuda" or workers > 1:           # worker processes: one per GPU, or per core
        return sweep(store, configs, train_on, workers=None if device == "cuda" else workers,
                     desc=desc, threads=1, code=train_lm,
                     fn_kwargs={"device": device, "progress_bar": False})
    return store.sweep(configs, train_on, desc=desc, backend="local", code=train_lm,
                       fn_kwargs={"device": device})


def cpu_seconds(results: Sequence[Mapping]) -> float:
    """CPU seconds the runs took (``cpu_s`` recorded by ``train_lm``; 0 for older results)."""
    return float(sum(r.get("cpu_s", 0.0) for r in results))


# --------------------------------------------------------------------------------------------
# verdicts


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _unit(v: verdicts.Verdict, unit: str) -> verdicts.Verdict:
    """The verdict with its sentence counting ``unit`` instead of seeds (timing samples,
    generated samples)."""
    if unit == "seeds":
        return v
    import dataclasses

    text = v.text.replace(" seeds each", f" {unit} each").replace(" seeds)", f" {unit})")
    text = text.replace("one seed in an arm", "one value in an arm")
    text = text.replace("more seeds would tell", f"more {unit} would tell")
    return dataclasses.replace(v, text=text)


def compare_samples(a: Sequence[float], b: Sequence[float], names: tuple[str, str], *,
                    what: str, better: str | None = "lower", digits: int = 1,
                    unit: str = "timing samples") -> verdicts.Verdict:
    """:func:`utils.verdicts.compare` of two sets of repeated measurements (e.g. times), the
    sentence counting ``unit`` instead of seeds."""
    return _unit(verdicts.compare(list(a), list(b), names, better=better, what=what,
                                  digits=digits), unit)


def arm_verdict(df: pd.DataFrame, by: str, a, b, metric: str = "final_val_loss", *,
                better: str | None = "lower", what: str = "final validation loss",
                names: tuple[str, str] | None = None, digits: int = 3,
                unit: str = "seeds") -> verdicts.Verdict:
    """:func:`utils.verdicts.compare` of ``metric`` between the rows with ``by == a`` and
    ``by == b`` (one row per seed, or per ``unit``). Non-finite values (diverged runs) are left
    out; an arm left with fewer than two values gives no verdict."""
    if by not in df or metric not in df:
        raise KeyError(f"the frame needs columns {by!r} and {metric!r}; it has {list(df)}")
    names = names or (str(a), str(b))
    va = _finite(df.loc[df[by] == a, metric])
    vb = _finite(df.loc[df[by] == b, metric])
    if not va or not vb:
        empty = names[0] if not va else names[1]
        return verdicts.Verdict(None, f"no verdict on {what}: {empty} has no finite value",
                                math.nan, math.nan, (len(va), len(vb)))
    return _unit(verdicts.compare(va, vb, names, better=better, what=what, digits=digits),
                 unit)


def lr_bracket(df: pd.DataFrame, metric: str = "final_val_loss") -> dict:
    """Is the best learning rate bracketed, i.e. is there a worse rate on both sides of it?

    ``df`` has columns ``lr``, ``seed``, ``diverged`` and ``metric``. The best rate is the one
    with the lowest mean among rates with at least two seeds and no diverged run (else among all
    rates without a divergence). From it, each side is walked outwards through the grid: a rate
    that :func:`utils.verdicts.compare` cannot tell apart from the best joins the best rate's
    **plateau** and the walk goes on; it stops at the first rate that is worse beyond the seed
    spread or diverged (that side is bracketed), at a rate with a single seed (no verdict yet:
    train more seeds for it) or at the grid's edge. Returns ``best``, ``best_mean``,
    ``plateau`` (the rates not told apart from the best, the best included), ``lower``/``upper``
    (the rate where the walk stopped, None at the edge), ``lower_worse``/``upper_worse``,
    ``lower_verdict``/``upper_verdict`` (sentences) and ``bracketed``.
    """
    lrs = sorted(float(v) for v in df.lr.unique())
    div = df.groupby("lr")["diverged"].any()
    n = df.groupby("lr")[metric].apply(lambda s: len(_finite(s)))
    mean = df.groupby("lr")[metric].apply(lambda s: np.mean(_finite(s)) if _finite(s)
                                          else math.inf)
    cands = [lr for lr in lrs if not div[lr] and n[lr] >= 2] or \
        [lr for lr in lrs if not div[lr] and n[lr] >= 1]
    if not cands:
        raise ValueError("every learning rate diverged: no best rate to bracket")
    best = min(cands, key=lambda lr: mean[lr])
    i = lrs.index(best)
    out = {"best": best, "best_mean": float(mean[best])}
    plateau = [best]
    for side, step in (("lower", -1), ("upper", 1)):
        texts, j, stop, worse = [], i + step, None, False
        while 0 <= j < len(lrs):
            other = lrs[j]
            if div[other]:
                k = int(df[df.lr == other].diverged.sum())
                texts.append(f"lr {other:g} diverged ({k} of {int((df.lr == other).sum())} "
                             f"runs)")
                stop, worse = other, True
                break
            v = arm_verdict(df, "lr", best, other, metric,
                            names=(f"lr {best:g}", f"lr {other:g}"))
            texts.append(v.text)
            if v.winner == f"lr {best:g}":
                stop, worse = other, True
                break
            if n[other] < 2 or n[best] < 2:
                stop = other
                break
            plateau.append(other)
            j += step
        if stop is None:
            texts.append(f"no rate {'below' if side == 'lower' else 'above'} "
                         f"{lrs[j - step]:g} in the grid: the edge")
        out.update({side: stop, f"{side}_worse": worse, f"{side}_verdict": "; ".join(texts)})
    out["plateau"] = sorted(plateau)
    out["bracketed"] = out["lower_worse"] and out["upper_worse"]
    return out


def ablation_verdicts(df: pd.DataFrame, baseline: str, variants: Sequence[str],
                      metric: str = "final_val_loss", by: str = "variant") -> dict:
    """Each variant against ``baseline``: ``{variant: {"verdict", "worse", "better",
    "diverged", "text"}}``. A variant with a diverged seed is reported as such (its remaining
    seeds are still compared when two or more are left)."""
    out = {}
    for name in variants:
        rows = df[df[by] == name]
        n_div = int(rows.diverged.sum()) if "diverged" in rows else 0
        v = arm_verdict(df, by, name, baseline, metric, names=(name, baseline))
        text = v.text
        if n_div:
            text = f"{n_div} of {len(rows)} seeds diverged; " + text
        out[name] = {"verdict": v, "diverged": n_div, "text": text,
                     "worse": n_div > 0 or v.winner == baseline,
                     "better": n_div == 0 and v.winner == name}
    return out


def batch_verdicts(df: pd.DataFrame, metric: str = "final_val_loss") -> dict:
    """Each batch size against the one with the lowest mean ``metric``: ``{"best", "others":
    {batch: Verdict}, "separated": [batches worse than the best beyond noise]}``."""
    means = df.groupby("batch")[metric].apply(lambda s: np.mean(_finite(s)) if _finite(s)
                                              else math.inf)
    best = int(means.idxmin())
    others = {int(b): arm_verdict(df, "batch", best, b, metric,
                                  names=(f"batch {best}", f"batch {int(b)}"))
              for b in means.index if int(b) != best}
    return {"best": best, "others": others,
            "separated": [b for b, v in others.items() if v.winner == f"batch {best}"]}


# --------------------------------------------------------------------------------------------
# the experiment log (CS336 experiment_log)


def _flatten(d: Mapping, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(config: Mapping, base: Mapping,
                   ignore: Sequence[str] = ("seed",)) -> str:
    """What ``config`` changes from ``base``: ``"lr_max 0.01 (base 0.003); model.positions
    none (base rope)"``, or ``"base config"``. Keys in ``ignore`` are left out."""
    a, b = _flatten(config), _flatten(base)
    parts = []
    for k in sorted(set(a) | set(b)):
        if k in ignore or a.get(k) == b.get(k):
            continue
        parts.append(f"{k} {a.get(k, '–')!s} (base {b.get(k, '–')!s})")
    return "; ".join(parts) or "base config"


def experiment_log(entries: Sequence[tuple[str, Mapping, Mapping]], base: Mapping,
                   ignore: Sequence[str] = ("seed", "eval_interval", "checkpoint_interval",
                                            "warmup_iters", "train_data", "val_data")
                   ) -> pd.DataFrame:
    """One row per run: ``entries`` are ``(study, config, result)`` of :func:`train_lm` runs.

    Columns: study, seed, changed from base, final and best validation loss, steps run,
    wall and CPU seconds, status (``done``, ``diverged`` or ``stopped at its time budget``),
    and the device it trained on.
    Duplicate runs (the same config in two studies) appear once, under the first study.
    """
    rows, seen = [], set()
    for study, config, result in entries:
        key = repr(sorted(_flatten(config).items()))
        if key in seen:
            continue
        seen.add(key)
        status = ("diverged" if result.get("diverged") else
                  "stopped at its time budget" if result.get("budget_hit") else "done")
        rows.append({"study": study, "seed": config.get("seed"),
                     "changed from base": config_changes(config, base, ignore),
                     "final val loss": result.get("final_val_loss", math.nan),
                     "best val loss": result.get("best_val_loss", math.nan),
                     "steps": result.get("iterations"), "wall s": result.get("wall_s", math.nan),
                     "CPU s": result.get("cpu_s", math.nan), "status": status,
                     "device": (result.get("config") or {}).get("device", "cpu")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# adamwAccounting (a): the peak-memory expression, recovered from the accounting code

SYMBOLS = ("B", "T", "L", "d", "f", "h", "V")
_ACT_MONOMIALS = [{"L": 1, "B": 1, "T": 1, "d": 1}, {"L": 1, "B": 1, "T": 1, "f": 1},
                  {"L": 1, "B": 1, "h": 1, "T": 2}, {"L": 1, "B": 1, "h": 1, "T": 1},
                  {"L": 1, "B": 1, "T": 1}, {"B": 1, "T": 1, "d": 1}, {"B": 1, "T": 1, "V": 1},
                  {"B": 1, "T": 1}, {"T": 1}, {}]
_PARAM_MONOMIALS = [{"L": 1, "d": 2}, {"L": 1, "d": 1, "f": 1}, {"V": 1, "d": 1},
                    {"L": 1, "d": 1}, {"d": 1}, {"L": 1, "f": 1}, {"V": 1}, {"T": 1, "d": 1},
                    {}]



def show_experiment_log(exp_log, workers: int, caption: str):
    """The log's summary sentence (runs done / diverged, CPU-minutes and the idle wall time
    they mean with ``workers`` worker processes; the wall time of runs trained on a GPU, whose
    CPU seconds are only the host's) and the log as a styled table (with a device column only
    when some run trained on a GPU)."""
    on_gpu = exp_log["device"] != "cpu"
    cpu_s = exp_log.loc[~on_gpu, "CPU s"].sum()
    text = (f"{len(exp_log)} distinct runs: {int((exp_log.status == 'done').sum())} done, "
            f"{int((exp_log.status == 'diverged').sum())} diverged; "
            f"{cpu_s / 60:.1f} CPU-minutes of training in all, i.e. about "
            f"{cpu_s / 60 / max(1, workers):.1f} min of wall time on an idle "
            f"machine with {workers} worker process(es).")
    if on_gpu.any():
        text += (f" {int(on_gpu.sum())} of them trained on a GPU: "
                 f"{exp_log.loc[on_gpu, 'wall s'].sum() / 60:.1f} min of wall time, not counted "
                 f"in the CPU-minutes.")
    table = exp_log.style.hide(axis="index").format(
        {"final val loss": "{:.3f}", "best val loss": "{:.3f}", "wall s": "{:.0f}",
         "CPU s": "{:.0f}"}).set_caption(caption)
    if not on_gpu.any():
        table = table.hide(["device"], axis="columns")
    return text, table


def _mono_value(m: Mapping, point: Mapping) -> int:
    return math.prod(point[k] ** e for k, e in m.items())


def _fit(monomials, fn, points) -> list[Fraction]:
    """Exact coefficients c with fn(p) = Σ c_i m_i(p) at ``points`` (Gaussian elimination over
    the rationals); raises if the monomials cannot reproduce fn."""
    rows = [[Fraction(_mono_value(m, p)) for m in monomials] + [Fraction(fn(p))]
            for p in points]
    n = len(monomials)
    A = [r[:] for r in rows]
    piv_cols, r = [], 0
    for c in range(n):
        piv = next((i for i in range(r, len(A)) if A[i][c] != 0), None)
        if piv is None:
            continue
        A[r], A[piv] = A[piv], A[r]
        A[r] = [x / A[r][c] for x in A[r]]
        for i in range(len(A)):
            if i != r and A[i][c] != 0:
                A[i] = [x - A[i][c] * y for x, y in zip(A[i], A[r])]
        piv_cols.append(c)
        r += 1
    coef = [Fraction(0)] * n
    for i, c in enumerate(piv_cols):
        coef[c] = A[i][n]
    for row in rows:                    # every point reproduced exactly
        if sum(cf * x for cf, x in zip(coef, row[:n])) != row[n]:
            raise ValueError("the accounting function is not a combination of the expected "
                             "monomials; extend the monomial list")
    return coef


def _render(monomials, coef) -> str:
    def mono(m):
        parts = []
        for k in ("L", "B", "h", "T", "d", "f", "V"):
            e = m.get(k, 0)
            name = "d_ff" if k == "f" else k
            if e == 1:
                parts.append(name)
            elif e > 1:
                parts.append(f"{name}^{e}")
        return "·".join(parts)

    terms = []
    for m, c in zip(monomials, coef):
        if c == 0:
            continue
        c_s = str(c) if c.denominator == 1 else f"({c})"
        body = mono(m)
        terms.append(c_s if not body else body if c == 1 else f"{c_s}·{body}")
    return " + ".join(terms) or "0"


def memory_expression(kind, attention: str = "naive", bytes_per_value: int = 4,
                      seed: int = 0) -> dict:
    """The bytes of an fp32 AdamW training step as polynomials in (B, T, L, d, d_ff, h, V).

    ``kind`` is a :class:`utils.accounting.TransformerConfig` whose architecture switches
    (MLP, norm, positions, tying, bias) are kept; its sizes are replaced by integer points at
    which :func:`~utils.accounting.activation_bytes` and :func:`~utils.accounting.param_counts`
    are evaluated, and the exact rational coefficients of the monomials are solved for and
    checked on every point. Returns ``{"activations", "params", "total", "act_coef",
    "param_coef"}`` (strings: ``activations`` in bytes for the batch, ``params`` P, ``total``
    = 16·P + activations; 16 = 4 bytes × (weights, gradients, two AdamW moments)).
    """
    from .. import accounting as acc

    rng = np.random.default_rng(seed)
    points = []
    for _ in range(40):
        h = int(rng.integers(1, 5))
        pt = {"B": int(rng.integers(1, 6)), "T": int(rng.integers(2, 40)),
              "L": int(rng.integers(1, 5)), "h": h, "d": 2 * h * int(rng.integers(1, 9)),
              "f": int(rng.integers(1, 60)), "V": int(rng.integers(2, 90))}
        points.append(pt)

    def cfg_at(p):
        return kind.replace(d_model=p["d"], n_layers=p["L"], n_heads=p["h"], d_ff=p["f"],
                            vocab_size=p["V"], context_length=p["T"], name="")

    act = _fit(_ACT_MONOMIALS, lambda p: acc.activation_bytes(
        cfg_at(p), p["B"], p["T"], attention, bytes_per_value)["total"], points)
    par = _fit(_PARAM_MONOMIALS, lambda p: acc.param_counts(cfg_at(p))["total"], points)
    a_s, p_s = _render(_ACT_MONOMIALS, act), _render(_PARAM_MONOMIALS, par)
    return {"activations": a_s, "params": p_s,
            "total": f"{4 * bytes_per_value}·P + {a_s}", "act_coef": act, "param_coef": par}
