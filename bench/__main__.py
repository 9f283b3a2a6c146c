"""Run the benchmarks: ``python -m bench [topic ...] [--quick]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import bench
from bench.common import load_note


def topics() -> list[str]:
    return sorted(m.name.removeprefix("bench_") for m in pkgutil.iter_modules(bench.__path__)
                  if m.name.startswith("bench_"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("topics", nargs="*", help=f"any of {', '.join(topics())} (default: all)")
    ap.add_argument("--quick", action="store_true", help="few rounds: proves the code path only")
    args = ap.parse_args(argv)
    chosen = args.topics or topics()
    unknown = [t for t in chosen if t not in topics()]
    if unknown:
        print(f"error: unknown benchmark(s) {unknown}; available: {', '.join(topics())}",
              file=sys.stderr)
        return 2
    misses = 0
    for topic in chosen:
        mod = importlib.import_module(f"bench.bench_{topic}")
        t0 = time.perf_counter()
        print(f"== {topic} ({load_note()})", flush=True)
        for res in mod.run(quick=args.quick):
            print(res.line(), flush=True)
            misses += res.ok is False
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"{misses} target(s) missed" if misses else "all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
