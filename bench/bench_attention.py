"""Attention forward time: our naive and blocked (online-softmax) attention against
``torch.nn.functional.scaled_dot_product_attention``, as per-round ratios (notebook 01).

One causal head, d_k = 64, batch 1, float32, 1 thread (set explicitly: steadier on a shared
2-core machine). Each length times the three implementations in alternating rounds
(``bench.common.compare``); the ratio is time(ours) / time(torch SDPA) within a round. Also
reports the peak memory of blocked vs naive attention (deterministic, from torch's allocator
records), whose target is the point of the blocked algorithm.

    python -m bench attention [--quick]
"""

from __future__ import annotations

import torch

from bench.common import Result, compare, load_note, ratio_result
from utils.nn.attention import (blocked_attention, naive_attention, peak_memory_bytes,
                                torch_sdpa)

BLOCK = 256


def _inputs(S: int, d_k: int = 64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, 1, S, d_k, generator=g) for _ in range(3)]


def run(quick: bool = False) -> list[Result]:
    lengths = [512, 1024] if quick else [1024, 2048, 4096]
    rounds = 3 if quick else 7
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results: list[Result] = []
    try:
        for S in lengths:
            q, k, v = _inputs(S)
            calls = {
                "naive": lambda: naive_attention(q, k, v, causal=True),
                "blocked": lambda: blocked_attention(q, k, v, causal=True, block_q=BLOCK,
                                                     block_k=BLOCK),
                "torch_sdpa": lambda: torch_sdpa(q, k, v, causal=True),
            }
            with torch.no_grad():
                stats = compare(calls, reference="torch_sdpa", rounds=rounds)
            sdpa_ms = 1e3 * stats["torch_sdpa"]["median_s"]
            results.append(Result(f"torch SDPA forward, S={S} (causal, d_k=64, 1 thread)",
                                  sdpa_ms, "ms", detail=load_note()))
            results.append(ratio_result(f"naive / torch SDPA time, S={S}", stats["naive"]))
            results.append(ratio_result(f"blocked (online softmax) / torch SDPA time, S={S}",
                                        stats["blocked"], target_max=3.0,
                                        detail=f"block {BLOCK}x{BLOCK}"))
        S = lengths[-1]
        q, k, v = _inputs(S)
        with torch.no_grad():
            naive_peak = peak_memory_bytes(lambda: naive_attention(q, k, v, causal=True))
            blocked_peak = peak_memory_bytes(lambda: blocked_attention(
                q, k, v, causal=True, block_q=BLOCK, block_k=BLOCK))
        ratio = blocked_peak / naive_peak
        results.append(Result(f"blocked / naive peak memory, S={S}", ratio, "x",
                              detail=f"{blocked_peak / 2**20:.2f} MiB vs "
                                     f"{naive_peak / 2**20:.2f} MiB",
                              target="<= 0.2", ok=ratio <= 0.2))
    finally:
        torch.set_num_threads(saved_threads)
    return results
