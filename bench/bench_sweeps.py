"""Batched sweeps: N runs trained as one vmapped computation vs the same N runs one by one.

``utils.train.batched.train_group`` stacks the parameters of N runs of one model shape and
trains them together (``torch.func.vmap`` over ``functional_call``); the reference is the
issue-3 trainer ``utils.train.arithmetic.train`` called N times. Both arms train the same
configs (default GPT shape, seeds 0..N-1, evaluation only at the first and last step) and are
timed in alternating rounds in one process; the ratio reported is **time(sequential) /
time(batched)**, the speed-up of batching.

On a CPU the matrix products already keep the cores busy, so batching cannot gain much
(expect about 1×, less where the batched path has overheads). On a GPU one run of these tiny
models leaves the device idle and batching is the lever: the target there is ≥ 8× at N = 16.
Quick mode (``--quick``) times the same N = 1, 4, 16 on a narrow model (d = 32, 2 steps, one
round) in well under a minute; the full mode uses the default shape, 4 steps and 2-3 rounds.

**Sweep engines** (:mod:`utils.sweep`, issue 20): the same 16-run smoke sweep (narrow GPT,
p = 11, 200 steps: about 1.3 s per run on one thread, long enough that a sweep's fixed costs do
not hide the second core; quick mode 10 steps; each run into a fresh store) through ``local``
(this process, one thread; the full mode adds torch's default threads as a fourth arm),
``processes`` (2 one-thread workers) and ``dask`` (a ``LocalCluster`` of 2 one-thread workers),
timed in alternating rounds after one warm-up (the worker pool and the cluster are started
once per process, as in a notebook kernel); the ratio reported is the **throughput** of the
backend over ``local`` (expected about 2× for independent one-thread runs on 2 idle cores).
The **per-task overhead** of the Dask path is the extra wall time per run of a sweep of no-op
runs on one Dask worker over the same sweep in this process (scheduling, pickling, reading the
result back through the store), as a fraction of a 10-second run: target ≤ 5 %.
"""

from __future__ import annotations

import torch

from bench.common import Result, compare, load_note, ratio_result


def _configs(n: int, quick: bool) -> list[dict]:
    from utils.train.arithmetic import make_config

    shape = dict(embedding_size=32, hidden_size=32, num_heads=2) if quick else {}
    return [make_config(model="gpt", seed=s, n_steps=2 if quick else 4, eval_first=0,
                        eval_period=10 ** 6, **shape) for s in range(n)]


def _noop(config: dict, ctx) -> dict:
    """A run that computes nothing: what is left of a sweep is its overhead."""
    return {"x": config["seed"]}


def _sweep_configs(quick: bool) -> list[dict]:
    from utils.train.arithmetic import make_config

    return [make_config(model="gpt", seed=s, p=11, embedding_size=32, hidden_size=32,
                        num_heads=2, n_steps=10 if quick else 200, eval_first=0,
                        eval_period=10 ** 6) for s in range(16)]


def run_engines(quick: bool = False) -> list[Result]:
    """Throughput of a 16-run smoke sweep on each backend vs ``local``; Dask's per-task cost."""
    import sys
    import tempfile
    from pathlib import Path

    import cloudpickle

    from utils import sweep as sw
    from utils.runs import RunStore
    from utils.train.arithmetic import train

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # like a notebook's function
    configs = _sweep_configs(quick)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweeps-"))
    count = iter(range(10 ** 6))

    def arm(backend: str, fn=train, cs=configs, workers: int = 2, threads=None):
        return lambda: sw.sweep(RunStore("bench", root=tmp / str(next(count))), cs, fn,
                                backend=backend, workers=workers, threads=threads,
                                dask="local" if backend == "dask" else None)

    out = []
    try:
        # warm-up: the worker pool and the Dask cluster started, torch imported in the workers
        for b in ("processes", "dask"):
            arm(b, _noop, [{"seed": s} for s in range(4)])()
        # the reference: one run after another in this process with one thread (as the pack's
        # one-thread sweeps run); the full mode adds torch's default thread count, which on a
        # busy machine can be far slower (OpenMP threads waiting for each other)
        arms = {"local": arm("local", threads=1), "processes": arm("processes"),
                "dask": arm("dask")}
        if not quick:
            arms[f"local, {torch.get_num_threads()} threads"] = arm("local")
        stats = compare(arms, reference="local", rounds=1 if quick else 3, warmup=0)
        for b in [a for a in arms if a != "local"]:
            r = stats[b]
            out.append(Result(f"sweeps: 16-run smoke sweep, {b} throughput / local",
                              1 / r["ratio_median"], "x",
                              detail=f"ratio range {1 / r['ratio_max']:.2f}-"
                                     f"{1 / r['ratio_min']:.2f}; {b} {r['median_s']:.1f} s, local "
                                     f"(1 thread) {stats['local']['median_s']:.1f} s, "
                                     + ("this process" if b.startswith("local") else
                                        "2 one-thread workers")
                                     + f", {configs[0]['n_steps']} steps/run; {load_note()}"))
        n = 16 if quick else 32
        noop = [{"seed": s} for s in range(n)]
        arm("dask", _noop, noop[:2], workers=1)()          # start the one-worker cluster
        arm("processes", _noop, noop[:2], workers=1)()     # and the one-worker pool
        stats = compare({"local": arm("local", _noop, noop),
                         "dask": arm("dask", _noop, noop, workers=1),
                         "processes": arm("processes", _noop, noop, workers=1)},
                        reference="local", rounds=1 if quick else 3, warmup=0)
        for b, target in (("dask", 0.05), ("processes", None)):
            per_task = (stats[b]["median_s"] - stats["local"]["median_s"]) / n
            res = Result(f"sweeps: {b} overhead per task / a 10-second run", per_task / 10.0,
                         "", detail=f"{per_task * 1e3:.1f} ms per task over {n} no-op runs on "
                                    f"1 worker (local {stats['local']['median_s'] / n * 1e3:.1f} "
                                    f"ms per run); {load_note()}")
            if target is not None:
                res.target, res.ok = f"<= {target:g}", per_task / 10.0 <= target
            out.append(res)
    finally:
        sw.close_clients()
        sw.close_pools()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_batched(quick: bool = False, device: str | None = None) -> list[Result]:
    """Sequential / batched time for N = 1, 4, 16 runs on ``device`` (default: the GPU when
    torch sees one); the target (≥ 8× at N = 16) applies on a GPU in full mode."""
    from utils.train.arithmetic import train
    from utils.train.batched import train_group

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    out = []
    for n in (1, 4, 16):
        configs = _configs(n, quick)
        steps = configs[0]["n_steps"]
        arms = {
            "batched": lambda: train_group(configs, device=device),
            "sequential": lambda: [train(c, device=device) for c in configs],
        }
        # one warm-up call absorbs the one-time costs (imports, first vmap trace); in quick mode
        # only before N = 1, the first and cheapest arm
        stats = compare(arms, reference="batched", rounds=1 if quick else (3 if n < 16 else 2),
                        warmup=(1 if n == 1 else 0) if quick else 1)
        target = dict(target_min=8.0) if device == "cuda" and n == 16 and not quick else {}
        detail = (f"{device}, {threads} thread(s), {n} GPT runs × {steps} steps "
                  f"(d={configs[0]['embedding_size']}); batched {stats['batched']['median_s']:.2f} s, "
                  f"sequential {stats['sequential']['median_s']:.2f} s; {load_note()}")
        res = ratio_result(f"sweeps: speed-up of batching N={n} runs (seq/batched)",
                           stats["sequential"], detail=detail, **target)
        out.append(res)
    if device == "cpu":
        out.append(Result("sweeps: GPU speed-up (target >= 8x at N=16)", float("nan"), "x",
                          detail="unmeasured: no GPU in this session"))
    return out


def run(quick: bool = False) -> list[Result]:
    return run_batched(quick) + run_engines(quick)
