"""``make bench``: speed and memory targets, checked as ratios measured side by side.

Each ``bench/bench_<topic>.py`` module defines ``run(quick: bool) -> list[Result]``. The harness
(:func:`bench.common.compare`) times a candidate and its reference **in one process, alternating
rounds**, so machine load affects both alike; a target is judged on the median per-round ratio.

    python -m bench                 # all benchmarks
    python -m bench hardware        # one topic (module bench_hardware)
    python -m bench --quick         # fewer rounds (used by the tests to prove the code path)
"""
