"""Peak memory of a function call, for this process and the worker processes it starts.

Used by notebook 05 (peak memory of BPE training and encoding), ``tests/test_tokenizer.py`` (the
streaming encoder's memory bound) and ``bench/bench_bpe.py``.

* This process: Linux records the peak resident set size (``VmHWM`` in ``/proc/self/status``);
  writing ``5`` to ``/proc/self/clear_refs`` resets it, so the peak *during* the call is exact,
  including allocations that live for microseconds. Where that is not allowed, a thread samples
  the resident set every ``interval`` seconds instead (a lower bound of the true peak).
* Child processes (the parallel pre-tokenizers): a thread samples the sum of their *unique* set
  sizes (USS: pages no other process shares) every ``interval`` seconds. Forked workers share the
  parent's pages, which their RSS would count a second time; USS counts what they add.

The reported growth is ``peak - resident size at the start``: memory the call needed beyond
what the process already held.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import psutil

_STATUS = "/proc/self/status"


def _status_kb(field: str) -> int | None:
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kb("VmHWM") is not None
    except OSError:
        return False


@dataclass
class PeakMemory:
    """Memory a call needed beyond what the process held when it started (bytes)."""

    self_bytes: int
    children_bytes: int
    exact_self: bool  # True: kernel peak (VmHWM); False: sampled

    @property
    def total_bytes(self) -> int:
        return self.self_bytes + self.children_bytes

    @property
    def total_mb(self) -> float:
        return self.total_bytes / 1e6

    def __str__(self) -> str:
        how = "kernel peak" if self.exact_self else "sampled"
        return (f"{self.total_mb:.1f} MB (this process {self.self_bytes / 1e6:.1f} MB, {how}; "
                f"workers {self.children_bytes / 1e6:.1f} MB)")


def measure_peak(fn: Callable[..., Any], *args, interval: float = 0.01, **kwargs
                 ) -> tuple[Any, PeakMemory]:
    """Call ``fn(*args, **kwargs)``; return its result and the :class:`PeakMemory` it needed."""
    proc = psutil.Process()
    start_rss = proc.memory_info().rss
    exact = _reset_peak()
    peak = {"self": start_rss, "children": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            if not exact:
                peak["self"] = max(peak["self"], proc.memory_info().rss)
            total = 0
            for child in proc.children(recursive=True):
                try:
                    total += child.memory_full_info().uss
                except (psutil.Error, OSError):
                    pass
            peak["children"] = max(peak["children"], total)
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn(*args, **kwargs)
    finally:
        stop.set()
        thread.join()
    if exact:
        peak["self"] = max(peak["self"], (_status_kb("VmHWM") or 0) * 1024)
    return result, PeakMemory(max(0, peak["self"] - start_rss), peak["children"], exact)
