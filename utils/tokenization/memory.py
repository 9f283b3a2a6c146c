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
what the process already held. A long-lived process keeps memory it freed (CPython's allocator
rarely returns it), which would hide a call's peak; :func:`measure_in_fresh_process` therefore
runs the call in a new interpreter (``spawn``) and measures there. :func:`encode_count` and
:func:`stream_count` are picklable encoding jobs for it.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
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


def _child(conn, fn, args, kwargs) -> None:
    try:
        t0 = time.perf_counter()
        result, peak = measure_peak(fn, *args, **kwargs)
        conn.send(("ok", result, peak, time.perf_counter() - t0))
    except BaseException as exc:  # noqa: BLE001 - sent back and re-raised in the parent
        conn.send(("error", exc, None, 0.0))
    finally:
        conn.close()


def measure_in_fresh_process(fn: Callable[..., Any], *args, **kwargs
                             ) -> tuple[Any, PeakMemory, float]:
    """Run ``measure_peak(fn, *args, **kwargs)`` in a new interpreter; return the result, the
    :class:`PeakMemory` and the call's wall time in seconds. ``fn``, its arguments and its result
    must be picklable (module-level functions). The child may start its own workers."""
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args, kwargs))
    proc.start()
    send.close()
    try:
        status, result, peak, wall = recv.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"the measuring process died (exit code {proc.exitcode})") from None
    proc.join()
    if status == "error":
        raise result
    return result, peak, wall


def encode_count(vocab, merges, special_tokens, text: str) -> int:
    """Build a tokenizer and ``encode`` the whole text (the ids are kept in a list)."""
    from .tokenizer import Tokenizer

    return len(Tokenizer(vocab, merges, special_tokens).encode(text))


def stream_count(vocab, merges, special_tokens, chunks: list[str]) -> int:
    """Build a tokenizer and stream ``chunks`` through ``encode_iterable``, counting the ids."""
    from .tokenizer import Tokenizer

    return sum(1 for _ in Tokenizer(vocab, merges, special_tokens).encode_iterable(chunks))
