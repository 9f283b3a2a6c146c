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
"""

from __future__ import annotations

import torch

from bench.common import Result, compare, load_note, ratio_result


def _configs(n: int, quick: bool) -> list[dict]:
    from utils.train.arithmetic import make_config

    shape = dict(embedding_size=32, hidden_size=32, num_heads=2) if quick else {}
    return [make_config(model="gpt", seed=s, n_steps=2 if quick else 4, eval_first=0,
                        eval_period=10 ** 6, **shape) for s in range(n)]


def run(quick: bool = False) -> list[Result]:
    from utils.train.arithmetic import train
    from utils.train.batched import train_group

    device = "cuda" if torch.cuda.is_available() else "cpu"
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
