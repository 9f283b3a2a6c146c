"""Hardware probes for ``make bench``: matmul GFLOP/s and memory bandwidth as ratios to the peak.

    python -m bench hardware [--quick]

Lines printed: fp32 matmul GFLOP/s at 1 thread and at 2 threads (or every usable CPU when fewer),
each as a fraction of the theoretical fp32 peak for that many cores (``utils.hardware``: cores ×
lanes × 2 × FMA pipes × clock, with the clock and pipes measured by the C register probe when a
compiler exists, else the nominal clock and the table guess); copy and reduce bandwidth of a
tensor of 4× the last-level cache (capped; 64 MiB cap quick) at each thread count. No targets: these describe the machine, and
on a busy machine they drop (the load average is printed with the header); the detail column
adds the rate per CPU-second of the process, which estimates what an idle machine gives.
"""

from __future__ import annotations

import statistics

from bench.common import Result
from utils import hardware as hw


def _peak_per_core(cpu) -> tuple[float, str]:
    probe = hw.fma_probe(cpu, copies=1)
    v = hw.check_probe(probe, cpu)       # implausible readings fall back, with a warning
    est = hw.theoretical_peak(cpu, clock_ghz=v.clock_ghz, fma_pipes=v.fma_pipes, cores=1)
    how = (f"clock {v.clock_ghz:.2f} GHz {'measured' if v.clock_measured else 'nominal'}, "
           f"{v.fma_pipes} FMA pipe(s) {'measured' if v.pipes_measured else 'from the table'}")
    return est.gflops, how


def run(quick: bool = False) -> list[Result]:
    cpu = hw.cpu_info()
    per_core, how = _peak_per_core(cpu)
    threads = sorted({1, min(2, cpu.logical_cpus)})
    n = 512 if quick else 1024
    repeats, min_time = (3, 0.03) if quick else (7, 0.2)
    nbytes = hw.dram_buffer_bytes(cpu, hw.memory_info()["available_bytes"],
                                  cap_bytes=(64 if quick else 1024) << 20)["nbytes"]
    out = []
    for t in threads:
        peak = per_core * min(t, cpu.physical_cores)
        r = hw.measure_matmul(n, threads=t, repeats=repeats, min_time=min_time)
        g = statistics.median(r["gflops"])
        out.append(Result(f"matmul fp32 {n}³, t={t}: GFLOP/s", g, "GFLOP/s",
                          detail=f"range {min(r['gflops']):.1f}-{max(r['gflops']):.1f}; "
                                 f"per CPU-second "
                                 f"{statistics.median(r['gflop_per_cpu_s']):.1f}"))
        gc = statistics.median(r["gflop_per_cpu_s"]) * min(t, cpu.physical_cores)
        out.append(Result(f"matmul fp32 {n}³, t={t}: fraction of theoretical peak", g / peak,
                          "x", detail=f"peak {peak:.1f} GFLOP/s ({how}); per CPU-second "
                                      f"{gc / peak:.2f}"))
    for op in ("copy", "reduce"):
        for t in threads:
            r = hw.measure_bandwidth(op, nbytes, threads=t, repeats=repeats, min_time=min_time)
            g = statistics.median(r["gbs"])
            out.append(Result(f"{op} {nbytes >> 20} MiB fp32, t={t}: GB/s", g, "GB/s",
                              detail=f"range {min(r['gbs']):.1f}-{max(r['gbs']):.1f}; per "
                                     f"CPU-second {statistics.median(r['gb_per_cpu_s']):.1f}"))
    return out
