"""Timing helpers for the benchmarks: interleaved rounds, per-round ratios, targets."""

from __future__ import annotations

import gc
import statistics
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Result:
    """One benchmark line: a measured quantity, optionally a ratio with a target."""

    name: str
    value: float
    unit: str
    detail: str = ""
    target: str = ""          # e.g. "<= 1.10"
    ok: bool | None = None    # None when there is no target
    extra: dict = field(default_factory=dict)

    def line(self) -> str:
        status = "" if self.ok is None else ("  PASS" if self.ok else "  MISS")
        target = f"  (target {self.target})" if self.target else ""
        detail = f"  [{self.detail}]" if self.detail else ""
        return f"{self.name:<58} {self.value:>10.3f} {self.unit:<8}{target}{status}{detail}"


def time_call(fn: Callable[[], object], repeat: int = 1) -> float:
    """Seconds per call of ``fn`` (mean over ``repeat`` back-to-back calls, no warm-up: the
    callers warm up themselves), by the pack's one timer :func:`utils.hardware.time_samples`."""
    from utils.hardware import time_samples

    return time_samples(fn, repeats=1, warmup=0, calls=repeat)["wall"][0]


def compare(candidates: dict[str, Callable[[], object]], reference: str, rounds: int = 7,
            warmup: int = 1, repeat: int = 1) -> dict[str, dict]:
    """Time every candidate once per round, in alternating order; ratios are per round.

    Returns ``{name: {"median_s", "min_s", "max_s", "ratio_median", "ratio_min",
    "ratio_max"}}``, the ratio being ``time(name) / time(reference)`` within each round.
    """
    if reference not in candidates:
        raise KeyError(f"reference {reference!r} is not one of {list(candidates)}")
    names = list(candidates)
    for _ in range(warmup):
        for n in names:
            candidates[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            gc.collect()
            times[n].append(time_call(candidates[n], repeat))
    out = {}
    for n in names:
        ratios = [a / b for a, b in zip(times[n], times[reference])]
        out[n] = {"median_s": statistics.median(times[n]), "min_s": min(times[n]),
                  "max_s": max(times[n]), "ratio_median": statistics.median(ratios),
                  "ratio_min": min(ratios), "ratio_max": max(ratios)}
    return out


def ratio_result(name: str, stats: dict, target_max: float | None = None,
                 target_min: float | None = None, detail: str = "") -> Result:
    r = stats["ratio_median"]
    target, ok = "", None
    if target_max is not None:
        target, ok = f"<= {target_max:g}", r <= target_max
    elif target_min is not None:
        target, ok = f">= {target_min:g}", r >= target_min
    spread = f"ratio range {stats['ratio_min']:.2f}-{stats['ratio_max']:.2f}"
    return Result(name, r, "x", detail=f"{spread}{'; ' + detail if detail else ''}",
                  target=target, ok=ok)


def load_note() -> str:
    """The 1-minute load average, to print beside timings (above ~1.5 the machine is busy)."""
    try:
        with open("/proc/loadavg") as fh:
            return f"load average {fh.read().split()[0]}"
    except OSError:
        return "load average unknown"
