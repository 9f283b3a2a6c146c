# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Environment and hardware
#
# **What this notebook answers** (seed 002, part C, "computer architecture and system
# analysis"): **2.1** which CPU, GPU and memory this machine has; **2.2** its theoretical peak
# FLOP/s (fp32 and fp16) and memory bandwidth; **2.3** what it really achieves, and why there is
# a gap; **2.4** the FLOPs and memory of a Transformer forward pass, and whether the workload is
# compute- or memory-bound; **2.5** how much more a training step costs than inference, and
# which of the two uses the hardware better; **2.6** how FLOPs and memory scale when the width or
# the depth doubles, and what to do when the model no longer fits. Every number is computed
# here, on the machine that runs the notebook; the seed student's answers are checked one by one
# (section 6 and the end of each later section).
#
# **Conventions.** A matrix product (m×k)·(k×n) costs **2·m·k·n FLOPs** (a multiply and an add
# per multiply-accumulate), the convention of `torch.utils.flop_counter.FlopCounterMode`, which
# checks every formula below. GFLOP/s = 10⁹ FLOP/s, GB = 10⁹ bytes, MiB = 2²⁰ bytes. The probes
# live in `utils/hardware.py`, the workload formulas in `utils/accounting.py` (notebook 06 reuses
# them for seed 004's accounting questions).

# %% tags=["parameters"]
profile = "laptop"     # smoke | laptop | full
seeds = [0, 1, 2]      # seeds of the random matrices and models; each adds `repeats` samples
max_threads = 0        # largest thread count to measure; 0 means every usable CPU
run_fma_probe = True   # compile and run the C register-FMA probe when a C compiler exists
measure_tag = ""       # any new text re-measures instead of reusing the stored measurements

# %%
from utils.notebook import answer, finish, start
from utils.params import Bool, Int, Text

P = start("00_hardware", globals(), max_threads=Int(min=0, max=4096), run_fma_probe=Bool(),
          measure_tag=Text())

# %%
import inspect

import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import torch
from torch.nn import functional as F

from utils import accounting as acc
from utils import hardware as hw
from utils import plots, stats
from utils.runs import RunStore

store = RunStore("00_hardware")
torch.set_num_threads(1)   # model-level timings and counts run on one core; sweeps set their own
cpu = hw.cpu_info()
MACHINE = hw.machine_fingerprint(cpu)
n_threads = cpu.logical_cpus if P.max_threads == 0 else min(P.max_threads, cpu.logical_cpus)
THREADS = sorted({1, n_threads, *[2 ** k for k in range(1, 12) if 2 ** k < n_threads]})
SIZES = P.pick(smoke=[64, 256], laptop=[32, 64, 128, 256, 512, 1024, 2048],
               full=[32, 64, 128, 256, 512, 1024, 2048, 4096])
REPEATS = P.pick(smoke=2, laptop=4, full=10)
MIN_TIME = P.pick(smoke=0.01, laptop=0.08, full=0.2)
MAX_TIME = P.pick(smoke=0.5, laptop=4.0, full=30.0)   # per point: stop early on a busy machine
# the largest bandwidth buffer: 4x the detected last-level cache (capped by memory and time)
DRAM = hw.dram_buffer_bytes(cpu, hw.memory_info()["available_bytes"],
                            cap_bytes=P.pick(smoke=2 ** 23, laptop=2 ** 30, full=2 ** 32))
BW_SIZES = sorted({*[2 ** k for k in range(P.pick(smoke=16, laptop=12, full=12),
                                            DRAM["nbytes"].bit_length() - 1,
                                            P.pick(smoke=8, laptop=2, full=1))],
                   DRAM["nbytes"]})
LOWP_SIZES = P.pick(smoke=[128], laptop=[256], full=[512, 1024])
GPU = torch.cuda.is_available()


def measured(kind: str, fn, **config):
    """Run (or reuse) one measurement; the key holds the machine fingerprint and the settings."""
    config = {"version": 1, "kind": kind, "machine": MACHINE, "tag": P.measure_tag, **config}

    def run(c, ctx):
        out = fn(c)
        out["load_average"] = hw.load_average()
        return out

    return store.run(config, run)


def sample_table(df, by, metrics, best, caption, labels=None, digits=2):
    """utils.stats.table, with the count column named for what it counts (timing samples)."""
    return stats.table(df, by, metrics, best=best, caption=caption, labels=labels,
                       digits=digits, count_label="samples")


def plain_table(df, caption, formats=None):
    """A deterministic table (formula vs count): no spread to show, so no mean ± std."""
    return df.style.hide(axis="index").set_caption(caption).format(formats or {}, precision=3)


n_seeds = len(P.seeds)
worst_case_s = n_seeds * MAX_TIME * (len(SIZES) * len(THREADS) + 3 * len(LOWP_SIZES)
                                     + len(BW_SIZES) * len(THREADS) + 3 + 10 / 2)
print(f"machine: {MACHINE}\nthreads measured: {THREADS}; matmul sizes {SIZES}; "
      f"{n_seeds} seed(s) × {REPEATS} repeats = {n_seeds * REPEATS} samples per point, each "
      f"≥ {MIN_TIME} s (a point stops after ~{MAX_TIME} s); bandwidth sizes "
      f"{BW_SIZES[0] >> 10} KiB … {BW_SIZES[-1] >> 20} MiB; load average now "
      f"{hw.load_average():.1f}.\nUpper bound on the measuring time (every point hitting its "
      f"limit): {worst_case_s / 60:.0f} min; stored measurements are reused.")

# %% [markdown]
# The profile sets how much is measured: the `smoke` profile only proves the code path (a
# couple of sizes, few samples); `laptop` and `full` sweep the sizes printed above.
# Timings on a shared machine depend on what else runs: the 1-minute load average is stored
# with every measurement and shown next to the results. Above the CPU count, other processes
# take turns on our cores and every wall-clock figure drops.
#
# ## 1 · What machine is this? (questions 2.1.1 and 2.1.2)
#
# Linux describes each logical CPU in `/proc/cpuinfo` (model, vendor, family, clock, *flags*:
# the instruction-set extensions, e.g. `avx2`, `fma`, `f16c`, `avx512f`); caches are in
# `/sys/devices/system/cpu/cpu0/cache`; psutil gives the memory; `torch.cuda` the GPUs.

# %%
mem = hw.memory_info()
gpus = hw.gpu_info()
width, simd_name = hw.simd_width(cpu.flags)
interesting = [f for f in ("sse2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_fp16",
                           "avx512_bf16", "amx_bf16", "avx_vnni", "hypervisor") if f in cpu.flags]
caches = ", ".join(f"L{lvl} {typ.lower()} {size}" for lvl, typ, size, _ in cpu.caches)
spec = pd.DataFrame([
    ("CPU model (as reported)", cpu.model),
    ("vendor, family, model", f"{cpu.vendor}, {cpu.family}, {cpu.model_number}"),
    ("usable logical CPUs / physical cores / sockets",
     f"{cpu.logical_cpus} / {cpu.physical_cores} / {cpu.sockets}"),
    ("nominal clock (/proc/cpuinfo)", f"{cpu.nominal_mhz:.0f} MHz" if cpu.nominal_mhz else "–"),
    ("widest vector unit", f"{simd_name} ({width} bits)"),
    ("relevant flags", " ".join(interesting)),
    ("caches (per core unless shared)", caches or "–"),
    ("memory", f"{mem['total_bytes'] / 2**30:.1f} GiB total, "
               f"{mem['available_bytes'] / 2**30:.1f} GiB available"),
    ("memory type and speed", f"{mem['type']} {mem['speed_mts']} MT/s" if mem["type"]
     else "not visible (needs dmidecode as root; a VM hides it)"),
    ("GPU", "; ".join(f"{g['name']} ({g['sms']} SMs, {g['memory_bytes'] / 2**30:.0f} GiB)"
                      for g in gpus) or "none (torch.cuda.is_available() is False)"),
    ("torch, BLAS", f"{torch.__version__}, CPU capability "
                    f"{torch.backends.cpu.get_cpu_capability()}, MKL "
                    f"{'yes' if torch.backends.mkl.is_available() else 'no'}"),
], columns=["item", "this machine"])
plain_table(spec, "Table 1: the machine, as the operating system and torch report it.")

# %%
answer(f"**2.1 — this machine.** CPU: *{cpu.model}* ({cpu.vendor}, family {cpu.family}, model "
       f"{cpu.model_number}), {cpu.physical_cores} core(s) usable by this process at a nominal "
       f"{(cpu.nominal_mhz or 0) / 1000:.2f} GHz, {simd_name} vector units; "
       f"{mem['total_bytes'] / 2**30:.1f} GiB of RAM whose type and speed "
       f"{'are ' + str(mem['type']) if mem['type'] else ('the VM does not reveal' if cpu.hypervisor else 'are not visible without root')}; "
       f"{'GPU: ' + gpus[0]['name'] if gpus else 'no GPU'}. "
       f"{'The hypervisor flag is set: this is a virtual machine, and a generic model name with family/model numbers that may not match the real host CPU is common there; section 2 measures what the cores really do.' if cpu.hypervisor else ''}")

# %% [markdown]
# ## 2 · Theoretical peak (question 2.2.1)
#
# A core finishes at most *pipes* fused multiply-adds (FMA, a·b + c = 2 FLOPs) per cycle, each
# on a whole vector register of *lanes* values:
#
# $$\text{peak} = \text{cores} \times \text{SIMD lanes} \times \text{FLOP per FMA} \times
#   \text{FMA pipes} \times \text{clock}.$$
#
# Four factors can be read from the system; the number of FMA pipes cannot (it is a property of
# the microarchitecture), so `fma_pipes_guess` looks it up from the vendor and family, and the
# C probe below measures it.

# %%
peak_nominal = hw.theoretical_peak(cpu)
plain_table(pd.DataFrame(peak_nominal.rows()).astype({"value": str}),
            "Table 2: the fp32 peak from what /proc/cpuinfo reports (nominal clock, FMA pipes "
            "from the family table).")

# %% [markdown]
# **Measuring the clock and the FMA rate.** `hw.fma_probe` compiles a 60-line C program
# (source: `hw.FMA_PROBE_C`) that (a) runs a chain of dependent 64-bit multiplies (`imul`), each
# of which waits 3 cycles for the previous one on every x86-64 core since 2011, so multiplies
# per second × 3 = cycles per second = the real clock (turbo included). A chain of `add $1, reg`
# looks simpler but recent x86 cores fold such immediate adds and run several per cycle (it read
# 22-23 GHz on a 2.6 GHz Xeon); no core can fold a multiply. A chain of register-register adds
# is printed as a cross-check. `hw.check_probe` then rejects an implausible reading: a clock
# outside 0.5-6 GHz falls back to the nominal one, and an FMA rate that is not a whole number of
# pipes falls back to the table, each with a printed warning; (b) runs 12
# independent chains `acc = acc·a + b` on full vector registers, enough to keep every FMA pipe
# busy without touching memory: the highest FLOP rate any code can reach on one core. Timing
# uses the thread's own CPU-time clock and keeps the best of 7 bursts, so other processes on a
# busy machine disturb it little. One copy runs alone, then one copy per CPU at once: if the
# CPUs were hyperthreads of one physical core they would split its FMA units.

# %%
def _probe(c):
    res = {"single": hw.fma_probe(cpu, copies=1)}
    res["all"] = hw.fma_probe(cpu, copies=cpu.logical_cpus) if res["single"] else None
    return res


probe = (measured("fma_probe", _probe, copies=cpu.logical_cpus) if P.run_fma_probe
         else {"single": None, "all": None})
if probe["single"]:
    one, every = probe["single"], probe["all"]
    # every reading is checked: an implausible clock or a fractional pipe count falls back to
    # the nominal clock / the table's pipes, with a printed warning (hw.check_probe)
    verdict = hw.check_probe(one, cpu)
    clock = verdict.clock_ghz
    pipes_alone = verdict.pipes_raw                                # one copy of the probe running
    shared_rate = float(np.mean(every["gflops"]))
    verdict_all = hw.check_probe(one, cpu, verbose=False, gflops=shared_rate)
    pipes_shared = verdict_all.pipes_raw                           # all CPUs busy
    sharing = shared_rate / one["gflops"][0]
    peak_1 = hw.theoretical_peak(cpu, clock_ghz=clock, fma_pipes=verdict.fma_pipes,
                                 cores=1).gflops
    peak_probe = hw.theoretical_peak(cpu, clock_ghz=clock,
                                     fma_pipes=min(verdict.fma_pipes, verdict_all.fma_pipes)
                                     if verdict_all.pipes_measured else verdict.fma_pipes)
    probe_rows = pd.DataFrame([
        ("clock (GHz): dependent imul chain × 3 cycles", f"{one['clock_ghz'][0]:.3f}",
         f"{(cpu.nominal_mhz or 0) / 1000:.3f} nominal"
         + ("" if verdict.clock_measured else " (implausible reading: nominal used)")),
        ("clock (GHz): dependent register adds (cross-check)",
         f"{one.get('add_clock_ghz', [float('nan')])[0]:.3f}",
         "a core that folds adds reads too high here"),
        ("FMA rate, one copy alone (GFLOP/s)", f"{one['gflops'][0]:.1f}",
         f"{peak_nominal.gflops_per_core:.1f} per core in table 2"),
        ("⇒ FLOP per cycle, one copy alone", f"{one['flop_per_cycle']:.1f}",
         f"{peak_nominal.flop_per_cycle_per_core} in table 2"),
        ("⇒ FMA pipes = FLOP per cycle / (2 × lanes)", f"{pipes_alone:.2f}",
         f"{peak_nominal.fma_pipes} guessed; used: {verdict.fma_pipes}"
         + ("" if verdict.pipes_measured else " (not a whole number: table used)")),
        (f"FMA rate, {every['copies']} copies at once (GFLOP/s each)",
         ", ".join(f"{g:.1f}" for g in every["gflops"]),
         f"{sharing:.0%} of one copy alone (100% if the CPUs share nothing)"),
        ("⇒ FMA pipes per CPU with every CPU busy", f"{pipes_shared:.2f}", ""),
        ("fp32 peak, one CPU alone (GFLOP/s)", f"{peak_1:.1f}",
         f"{peak_nominal.gflops_per_core:.1f} in table 2"),
        ("fp32 peak, all CPUs (GFLOP/s)", f"{peak_probe.gflops:.1f}",
         f"{peak_nominal.gflops:.1f} in table 2"),
    ], columns=["quantity", "measured", "for comparison"])
    display_probe = plain_table(probe_rows, "Table 3: the register-only probe (load average "
                                f"{probe['load_average']:.1f} when measured).")
else:
    clock = pipes_alone = pipes_shared = sharing = peak_probe = display_probe = None
    peak_1 = peak_nominal.gflops_per_core
    verdict = hw.check_probe(None, cpu)
    print("No C compiler here (or run_fma_probe=False): the peak uses the nominal clock and "
          "the table's FMA pipes.")
peak_ref = peak_probe or peak_nominal


def peak_threads(t: int) -> float:
    """Theoretical fp32 GFLOP/s for t busy threads: one alone gets a whole core's FMA units;
    with more, each CPU gets its share measured with every CPU busy."""
    t = min(t, cpu.logical_cpus)
    return peak_1 if t == 1 else peak_ref.gflops * t / cpu.logical_cpus


display_probe

# %% [markdown]
# **fp16 and bf16.** Halving the bits doubles the lanes *only if the core can do arithmetic on
# the narrow type*. The `f16c` flag only means the core can **convert** between fp16 and fp32;
# the arithmetic stays fp32. Native fp16 FMAs need AVX512-FP16 (Sapphire Rapids and later), native
# bf16 dot products AVX512-BF16 or AMX. Section 3 measures what torch does with fp16/bf16 here.

# %%
lowp = hw.low_precision_support(cpu.flags)
lp_rows = []
for dt in ("fp32", "fp16", "bf16"):
    est = hw.theoretical_peak(cpu, dtype=dt, clock_ghz=peak_ref.clock_ghz,
                              fma_pipes=peak_ref.fma_pipes)
    lp_rows.append({"dtype": dt, "lanes": est.simd_lanes, "peak GFLOP/s": round(est.gflops, 1),
                    "native arithmetic": "yes" if dt == "fp32" else
                    ("yes" if lowp[dt]["native"] else "no"),
                    "why": "" if dt == "fp32" else lowp[dt]["why"]})
plain_table(pd.DataFrame(lp_rows), "Table 4: theoretical peak per data type on this CPU.",
            {"peak GFLOP/s": "{:.1f}"})

# %%
shared_note = ""
if peak_probe is not None:
    shared_note = (
        f"With every CPU running the probe at once each gets {sharing:.0%} of the rate of one "
        f"copy alone, so "
        + ("the CPUs share FMA units: in a VM two vCPUs can be the two hyperthreads of one host "
           "core, or a vCPU's sibling may be busy with another guest's work — the guest cannot "
           "tell which. " if sharing < 0.75 else "the CPUs do not compete for FMA units. ")
        + (f"(Measured at load {probe['load_average']:.1f} on {cpu.logical_cpus} CPUs: 'alone' "
           f"was not alone, and a busy hyperthread sibling on the host, invisible from here, "
           f"would halve the FMA rate; an idle machine may show more pipes.) "
           if probe["load_average"] > cpu.logical_cpus else ""))
answer(f"**2.2.1 — theoretical peak.** From the reported numbers: {peak_nominal.cores} cores × "
       f"{peak_nominal.simd_lanes} lanes × 2 FLOP/FMA × {peak_nominal.fma_pipes} pipe(s) × "
       f"{peak_nominal.clock_ghz:.2f} GHz = **{peak_nominal.gflops:.1f} GFLOP/s fp32**. "
       + (("Measured (a dependent multiply chain, which no core can fold), the clock runs at "
           f"{clock:.2f} GHz, not {peak_nominal.clock_ghz:.2f}, and " if verdict.clock_measured
           else f"The probe's clock reading ({one['clock_ghz'][0]:.2f} GHz) is implausible, so "
           f"the nominal {clock:.2f} GHz is used, and ")
          + f"one copy of the probe alone sustains {one['gflops'][0] / clock:.1f} FLOP/cycle = "
          f"{pipes_alone:.2f} × (2 × {one['lanes']} lanes), i.e. "
          + (f"{verdict.fma_pipes} full-width FMA pipe(s)" if verdict.pipes_measured else
             f"not a whole number of pipes, so the table's {verdict.fma_pipes} is used")
          + f": {peak_1:.1f} GFLOP/s for one "
          f"thread. {shared_note}The measured peak of the whole machine is "
          f"**{peak_probe.gflops:.1f} GFLOP/s** ({peak_probe.cores} CPUs × "
          f"{peak_probe.simd_lanes} × 2 × {peak_probe.fma_pipes} × {clock:.2f} GHz). "
          if peak_probe else "")
       + f"fp16: {lowp['fp16']['why']}; bf16: {lowp['bf16']['why']}. "
       + (f"So on this CPU the fp16 and bf16 compute peaks equal the fp32 one "
          f"({peak_ref.gflops:.1f} GFLOP/s) at best; the narrow types only halve the bytes to "
          f"move." if not (lowp["fp16"]["native"] or lowp["bf16"]["native"]) else
          "Table 4 gives the resulting peaks."))

# %% [markdown]
# ## 3 · Measured matmul throughput (question 2.3.1)
#
# `torch.matmul` on square n×n fp32 matrices (2n³ FLOPs per call), over sizes and thread counts.
# Each point: `repeats` samples per seed, each sample the mean of enough calls to last
# `MIN_TIME`; we plot mean ± std over all samples.
#
# Two clocks. *Wall-clock* GFLOP/s is what a user waits for. On a shared machine it also counts
# the time our threads sat waiting while other processes had the core, so every measurement
# also records the process's *CPU time*: FLOPs per CPU-second is what a thread does while it
# actually runs. With one thread the two agree on an idle machine; their ratio says how much of
# the time our thread held a core. Later sections report one-thread measurements per
# CPU-second, which makes them comparable across busy and idle hours.

# %%
def _matmul(c):
    return hw.measure_matmul(c["n"], threads=c["threads"], dtype=c["dtype"],
                             repeats=c["repeats"], min_time=c["min_time"], seed=c["seed"],
                             max_time=c["max_time"])


def matmul_configs(sizes, dtypes=("fp32",), threads=THREADS):
    return [{"version": 1, "kind": "matmul", "machine": MACHINE, "tag": P.measure_tag, "n": n,
             "threads": t, "dtype": dt, "repeats": REPEATS, "min_time": MIN_TIME,
             "max_time": MAX_TIME, "seed": s}
            for dt in dtypes for n in sizes for t in threads for s in P.seeds]


def run_sweep(configs, fn, desc):
    def with_load(c, ctx):
        out = fn(c)
        out["load_average"] = hw.load_average()
        return out
    return store.sweep(configs, with_load, desc=desc, backend="local")   # timings: one at a time


mm_cfgs = matmul_configs(SIZES)
mm_res = run_sweep(mm_cfgs, _matmul, "matmul sweep")
mm = pd.DataFrame([{"n": c["n"], "threads": c["threads"], "seed": c["seed"], "GFLOP/s": g,
                    "GFLOP per CPU-s": gc, "load": r["load_average"]}
                   for c, r in zip(mm_cfgs, mm_res)
                   for g, gc in zip(r["gflops"], r["gflop_per_cpu_s"])]).rename(
    columns={"n": "size"})

fig, ax = plots.subplots(width=7.5, height=3.6)
for t in THREADS:
    g = mm[mm.threads == t].groupby("size")["GFLOP/s"]
    ax.errorbar(g.mean().index, g.mean().values, yerr=g.std().fillna(0).values, marker="o",
                capsize=3, label=f"torch.matmul, {t} thread{'s' if t > 1 else ''}")
    ax.axhline(peak_threads(t), ls="--", lw=1, color=ax.lines[-1].get_color(),
               label=f"theoretical peak, {t} thread{'s' if t > 1 else ''}")
    if t == 1:
        c1 = mm[mm.threads == 1].groupby("size")["GFLOP per CPU-s"].mean()
        ax.plot(c1.index, c1.values, ls=":", marker=".", color=ax.lines[-2].get_color(),
                label="1 thread, per CPU-second")
ax.set_xscale("log", base=2)
ax.set_xlabel("matrix size n (n×n · n×n, fp32)")
ax.set_ylabel("GFLOP/s")
ax.legend(ncol=2, fontsize=8)
plots.show(fig, "matmul_gflops",
           f"Measured fp32 matmul throughput, wall clock (mean ± std over "
           f"{len(P.seeds) * REPEATS} samples; dotted: one thread per CPU-second) "
           f"against the theoretical peak ({'measured clock and FMA pipes' if peak_probe else 'nominal clock, table pipes'}). "
           f"Load average during the sweep: {mm.load.min():.1f}–{mm.load.max():.1f}.")

# %%
best_n = mm.groupby("size")["GFLOP/s"].mean().idxmax()
sample_table(mm[mm["size"].isin([SIZES[0], best_n, SIZES[-1]])], ["size", "threads"],
             ["GFLOP/s", "GFLOP per CPU-s"], best={"GFLOP/s": "max"},
             caption="Table 5: fp32 matmul, smallest, best and largest size. 'GFLOP per CPU-s' "
                     "divides by the process's CPU time instead of wall time: on a busy machine "
                     "it estimates what the threads do while they actually run.")

# %% [markdown]
# **fp16 and bf16 on this CPU.** Same matmul, narrower types, one thread.

# %%
lp_cfgs = matmul_configs(LOWP_SIZES, dtypes=("fp32", "fp16", "bf16"), threads=[1])
lp_res = run_sweep(lp_cfgs, _matmul, "fp16/bf16 matmul")
lp = pd.DataFrame([{"size": c["n"], "dtype": c["dtype"], "GFLOP/s": g, "GFLOP per CPU-s": gc}
                   for c, r in zip(lp_cfgs, lp_res)
                   for g, gc in zip(r["gflops"], r["gflop_per_cpu_s"])])
lp_mean = lp.groupby(["size", "dtype"])["GFLOP per CPU-s"].mean().unstack()
lp_ratio = {dt: lp_mean[dt].iloc[-1] / lp_mean["fp32"].iloc[-1] for dt in ("fp16", "bf16")}
display(sample_table(lp, ["size", "dtype"], ["GFLOP/s", "GFLOP per CPU-s"],
                     best={"GFLOP per CPU-s": "max"},
                     caption="Table 6: matmul throughput by data type, one thread."))
answer(f"**Low precision, measured (n = {LOWP_SIZES[-1]}, one thread, per CPU-second).** "
       + hw.low_precision_sentence(cpu.flags, lp_ratio)
       + (" AMX tiles are present (amx_bf16): oneDNN can run bf16 matmuls on them, above the "
          "vector-FMA peak of table 4; the measured ratio above says whether torch did here."
          if "amx_bf16" in cpu.flags else ""))

# %%
if GPU:   # runs only where a CUDA GPU is present (not on the project's CPU machine)
    gpu_rows = []
    for dt in ("fp32", "fp16", "bf16"):
        r = measured("gpu_matmul", lambda c: hw.measure_matmul(
            c["n"], dtype=c["dtype"], device="cuda", repeats=REPEATS, min_time=MIN_TIME),
            n=4096, dtype=dt)
        gpu_rows += [{"dtype": dt, "TFLOP/s": g / 1e3} for g in r["gflops"]]
    gbw = measured("gpu_copy", lambda c: hw.measure_bandwidth("copy", 2**30, device="cuda",
                                                              repeats=REPEATS), nbytes=2**30)
    print(f"GPU copy bandwidth: {np.mean(gbw['gbs']):.0f} ± {np.std(gbw['gbs']):.0f} GB/s")
    display(sample_table(pd.DataFrame(gpu_rows), "dtype", ["TFLOP/s"], {"TFLOP/s": "max"},
                         "Table 6b: GPU matmul 4096³ by data type."))
    g0 = gpus[0]
    gp = hw.gpu_peak_of(g0)
    if gp is not None:
        answer(f"**GPU peak ({g0['name']}).** {g0['sms']} SMs at {g0['max_clock_mhz']:.0f} MHz: "
               f"fp32 {gp['fp32'] / 1e3:.1f} TFLOP/s on the CUDA cores, fp16 "
               f"{gp['fp16_tensor_fp32_acc'] / 1e3:.1f} TFLOP/s on the Tensor Cores with fp32 "
               f"accumulation (table 6b measures what torch gets).")

# %% [markdown]
# ## 4 · Measured memory bandwidth
#
# `dst.copy_(src)` (counted as bytes read + written) and `src.sum()` (bytes read) on fp32
# tensors from a few KiB, which live in the L1 cache, to hundreds of MiB, which must stream from
# DRAM.

# %%
def _bandwidth(c):
    return hw.measure_bandwidth(c["op"], c["nbytes"], threads=c["threads"],
                                repeats=c["repeats"], min_time=c["min_time"],
                                max_time=c["max_time"])


bw_cfgs = [{"version": 2, "kind": "bandwidth", "machine": MACHINE, "tag": P.measure_tag,
            "op": op, "nbytes": nb, "threads": t, "repeats": REPEATS,
            "min_time": MIN_TIME / 2, "max_time": MAX_TIME / 2, "seed": s}
           for op in ("copy", "reduce") for nb in BW_SIZES for t in THREADS for s in P.seeds]
bw_res = run_sweep(bw_cfgs, _bandwidth, "bandwidth sweep")
bw = pd.DataFrame([{"op": c["op"], "bytes": c["nbytes"], "threads": c["threads"], "GB/s": g,
                    "GB per CPU-s": gc, "load": r["load_average"]}
                   for c, r in zip(bw_cfgs, bw_res) for g, gc in zip(r["gbs"], r["gb_per_cpu_s"])])


def _cache_bytes(size: str) -> int:
    return int(size[:-1]) * {"K": 2**10, "M": 2**20, "G": 2**30}[size[-1]]


fig, axes = plots.subplots(1, 2, width=10.5, height=3.6)
for ax, metric, threads, title in ((axes[0], "GB/s", THREADS, "wall clock"),
                                   (axes[1], "GB per CPU-s", [1], "one thread, per CPU-second")):
    for op, ls in (("copy", "-"), ("reduce", ":")):
        for t in threads:
            g = bw[(bw.op == op) & (bw.threads == t)].groupby("bytes")[metric]
            ax.errorbar(g.mean().index, g.mean().values, yerr=g.std().fillna(0).values, ls=ls,
                        marker="o", ms=3, capsize=2,
                        label=f"{op}, {t} thread{'s' if t > 1 else ''}")
    for lvl, typ, size, _ in cpu.caches:
        if typ != "Instruction":
            ax.axvline(_cache_bytes(size), color="grey", lw=0.8, ls="--")
            ax.text(_cache_bytes(size), 0.02, f" L{lvl} {size}", fontsize=8, color="grey",
                    transform=ax.get_xaxis_transform())
    ax.set_xscale("log", base=2)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.set_xlabel("working set (bytes of the source tensor)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8, loc="upper right")
plots.show(fig, "bandwidth",
           f"Memory bandwidth against the working-set size (mean ± std); dashed lines: cache "
           f"sizes. Small tensors stay in cache (the smallest are dominated by the fixed cost of "
           f"a call), large ones stream from DRAM. Left: wall clock; right: the same one-thread "
           f"runs per CPU-second, which removes the time lost to other processes. Load average "
           f"{bw.load.min():.1f}–{bw.load.max():.1f}.")

# %%
dram = bw[bw["bytes"] == BW_SIZES[-1]]
sample_table(dram, ["op", "threads"], ["GB/s", "GB per CPU-s"], best={"GB/s": "max"},
             caption=f"Table 7: bandwidth at the largest buffer, "
                     f"{hw.dram_caption(BW_SIZES[-1], DRAM['llc'])}"
                     + (" (capped by memory and time)" if DRAM["capped"] else "") + ".")

# %%
dram_1 = dram[(dram.op == "copy") & (dram.threads == 1)]
dram_all = dram[(dram.op == "copy") & (dram.threads == n_threads)]
if mem["speed_mts"]:
    formula_note = (f"This machine reports {mem['type']} at {mem['speed_mts']} MT/s: "
                    f"{hw.dram_bandwidth_gbs(mem['speed_mts']):.1f} GB/s per 64-bit channel "
                    f"(the channel count is not reported; multiply by it).")
else:
    formula_note = (f"{'This VM' if cpu.hypervisor else 'This system (without root)'} "
                    f"exposes neither the memory type nor its speed nor the channel "
                    f"count, so the formula cannot be evaluated for it; for scale, one DDR4-3200 "
                    f"channel gives {hw.dram_bandwidth_gbs(3200):.1f} GB/s and a dual-channel "
                    f"DDR5-4800 desktop {hw.dram_bandwidth_gbs(4800, 64, 2):.1f} GB/s.")
answer(f"**2.2.2 — theoretical memory bandwidth** = transfers per second × 8 bytes per 64-bit "
       f"channel × channels. {formula_note} Measured at the largest buffer "
       f"({hw.dram_caption(BW_SIZES[-1], DRAM['llc'])}): "
       f"a copy reaches {dram_1['GB/s'].mean():.1f} GB/s with one thread "
       f"({dram_1['GB per CPU-s'].mean():.1f} per CPU-second) and "
       f"{dram_all['GB/s'].mean():.1f} GB/s with {n_threads}. One core cannot reach a memory "
       f"system's peak on its own: it keeps only a limited number of cache-line misses in "
       f"flight (Little's law: bandwidth ≤ misses in flight × 64 B / latency).")

# %% [markdown]
# ## 5 · Why the measured numbers fall short of the peak (question 2.3.1)
#
# The peak assumes every pipe of every core issues a full-width FMA every cycle. Each way a real
# matmul falls short is measured below.

# %%
mm_mean = mm.groupby(["size", "threads"])["GFLOP/s"].mean()
mm_cpu = mm.groupby(["size", "threads"])["GFLOP per CPU-s"].mean()
best_1 = mm_mean.xs(1, level="threads").max()
best_t = mm_mean.xs(n_threads, level="threads").max()
best_any = mm_mean.max()
best_any_n, best_any_t = mm_mean.idxmax()
peak_any = peak_threads(best_any_t)
cpu_1 = mm_cpu.xs(1, level="threads")
best_1_cpu, best_1_cpu_n = cpu_1.max(), cpu_1.idxmax()
small_1_cpu = cpu_1.iloc[0]
held = mm_mean[(best_1_cpu_n, 1)] / best_1_cpu      # share of the time our thread had a core
copy_dram_1_cpu = dram[(dram.op == "copy") & (dram.threads == 1)]["GB per CPU-s"].mean()
copy_best_1_cpu = bw[(bw.op == "copy") & (bw.threads == 1)].groupby("bytes")[
    "GB per CPU-s"].mean().max()
mm_load = mm.load.mean()
gap_rows = [
    ("1. clock", f"nominal {peak_nominal.clock_ghz:.2f} GHz vs measured "
     + (f"{clock:.2f} GHz" if clock else "(no probe)"),
     "turbo runs above the nominal clock: a peak computed from it is too low"),
    ("2. FMA pipes", f"table {peak_nominal.fma_pipes} vs measured "
     + (f"{pipes_alone:.2f} alone, {pipes_shared:.2f} with every CPU busy" if clock
        else "(no probe)"),
     "cpuinfo cannot tell, so the table guesses from vendor and family"
     + ("; a VM's CPU name and numbers may not be the host's, which makes the guess unreliable"
        if cpu.hypervisor else "")),
    ("3. BLAS kernel efficiency (1 thread, per CPU-second)",
     f"{best_1_cpu:.1f} of {peak_1:.1f} GFLOP/s = {best_1_cpu / peak_1:.0%} (n = {best_1_cpu_n})",
     "loads, stores, packing of blocks and loop overhead share the issue slots with FMAs; "
     + hw.kernel_choice_note(cpu)),
    (f"4. small matrices (n = {SIZES[0]}, 1 thread, per CPU-second)",
     f"{small_1_cpu:.1f} GFLOP/s = {small_1_cpu / best_1_cpu:.0%} of the best size",
     "2n³ FLOPs on 3n² values: too little work per call to hide call overhead and memory"),
    (f"5. other processes (1 thread, n = {best_1_cpu_n})",
     f"wall clock {mm_mean[(best_1_cpu_n, 1)]:.1f} vs {best_1_cpu:.1f} GFLOP per CPU-s: our "
     f"thread held a core {held:.0%} of the time", f"load average {mm_load:.1f} on "
     f"{cpu.logical_cpus} CPUs during the sweep"),
    (f"6. threads ({n_threads} vs 1)", f"{best_t:.1f} vs {best_1:.1f} GFLOP/s = "
     f"{best_t / best_1:.2f}× (ideal {min(n_threads, cpu.physical_cores)}×)",
     f"threads wait for each other and share caches and DRAM; on a busy machine (load "
     f"{mm_load:.1f} during the sweep) a thread that loses its core stalls the others"),
    ("7. memory", f"1 thread, per CPU-s: DRAM copy {copy_dram_1_cpu:.1f} GB/s, best cache copy "
     f"{copy_best_1_cpu:.1f} GB/s",
     "only operations with enough FLOPs per byte can run near the compute peak (section 10)"),
]
plain_table(pd.DataFrame(gap_rows, columns=["cause", "measured here", "why it costs"]),
            "Table 8: from the theoretical peak to the measured matmul, one cause per row.")

# %%
answer(f"**2.3.1 — theory vs practice.** The best fp32 matmul reaches **{best_any:.1f} "
       f"GFLOP/s** with {best_any_t} thread(s) (n = {best_any_n}), **{best_any / peak_any:.0%}** "
       f"of the {peak_any:.1f} GFLOP/s peak for {best_any_t} thread(s) "
       f"({'measured clock and pipes' if peak_probe else 'nominal clock, table pipes'}) and "
       f"{best_any / peak_nominal.gflops:.0%} of the {peak_nominal.gflops:.1f} GFLOP/s computed "
       f"from the nominal figures for all cores (wall clock). One thread, counted per "
       f"CPU-second, reaches {best_1_cpu:.1f} GFLOP/s = **{best_1_cpu / peak_1:.0%}** of one "
       f"core's {peak_1:.1f} GFLOP/s: that is the BLAS kernel's own efficiency; the rest of the "
       f"wall-clock gap is the machine's other work (our thread held a core {held:.0%} of the "
       f"time, load {mm_load:.1f} on {cpu.logical_cpus} CPUs) and imperfect thread scaling. "
       f"Table 8 lists the causes, each measured."
       + (f" **Caution: the machine was busy** (load {mm_load:.1f} > {cpu.logical_cpus} CPUs): "
          f"other processes took turns on our cores, so the wall-clock figures, above all the "
          f"multi-threaded ones, understate the hardware; re-run with a new `measure_tag` on "
          f"an idle machine." if mm_load > cpu.logical_cpus else ""))

# %% [markdown]
# ## 6 · The seed student's part C, checked (2.1–2.3)
#
# The student describes an Intel Core i7-12700K with an NVIDIA RTX 3060 Ti. We cannot measure
# that machine, but we can recompute every formula from the vendors' specifications (inputs
# below, with their sources) and check the reasoning.
#
# *Specification inputs.* i7-12700K: 8 performance cores (Golden Cove, base 3.6 GHz, two 256-bit
# FMA ports) and 4 efficient cores (Gracemont, base 2.7 GHz, two 128-bit FMA units = one
# 256-bit FMA per cycle), AVX-512 disabled, so no AVX512-FP16 (Intel ARK; Intel optimisation
# manual). RTX 3060 Ti: GA104, 38 SMs of 128 FP32 units, 4 third-generation Tensor Cores per SM,
# boost 1.665 GHz, 14 Gb/s GDDR6 on a 256-bit bus (NVIDIA GA102 whitepaper, appendix A, same
# SM for GA104: 1024 dense FP16 Tensor FLOP per clock per SM with FP16 accumulation, half that
# with FP32 accumulation on GeForce cards).

# %%
# Inputs (specifications, not results): see the cell above.
I7 = {"p_cores": 8, "p_ghz": 3.6, "p_pipes": 2, "e_cores": 4, "e_ghz": 2.7, "e_pipes": 1}
GPU_3060TI = {"sms": 38, "capability": (8, 6), "boost_ghz": 1.665, "gbps_per_pin": 14,
              "bus_bits": 256}
STUDENT = {"cpu_fp32_gflops": 691, "gpu_fp32_tflops": 16.2, "gpu_fp16_tflops_theory": 16.2,
           "gpu_fp32_measured": 17.09, "gpu_fp16_measured": 35.73, "ram_gbs": 76.8,
           "vram_gbs": 448}

student_cpu = hw.PeakEstimate("fp32", 12, 8, 2, 1, 3.6)   # their formula: 12 × 16 FLOP × 3.6
p_core = hw.PeakEstimate("fp32", I7["p_cores"], 8, 2, I7["p_pipes"], I7["p_ghz"])
e_core = hw.PeakEstimate("fp32", I7["e_cores"], 8, 2, I7["e_pipes"], I7["e_ghz"])
g = hw.gpu_peak(GPU_3060TI["sms"], GPU_3060TI["capability"], GPU_3060TI["boost_ghz"],
                geforce=True)
clock_fp32 = STUDENT["gpu_fp32_measured"] * 1e3 / (GPU_3060TI["sms"] * 128 * 2)
clock_fp16 = STUDENT["gpu_fp16_measured"] * 1e3 / (GPU_3060TI["sms"] * 512)
ram = hw.dram_bandwidth_gbs(4800, bus_bits=64, channels=2)
vram = hw.dram_bandwidth_gbs(GPU_3060TI["gbps_per_pin"] * 1000, bus_bits=GPU_3060TI["bus_bits"])
checks = pd.DataFrame([
    ("CPU fp32 peak", f"{STUDENT['cpu_fp32_gflops']} GFLOP/s (12 cores × 16 FLOP × 3.6 GHz; "
     f"formula gives {student_cpu.gflops:.0f})",
     f"P: {p_core.gflops:.1f} + E: {e_core.gflops:.1f} = {p_core.gflops + e_core.gflops:.1f} "
     "GFLOP/s", "wrong: P-cores have 2 FMA pipes (32 FLOP/cycle), E-cores run at 2.7 GHz"),
    ("CPU fp16 peak", "≈ fp32 peak (no native fp16 SIMD)",
     f"fp16 = fp32 arithmetic; measured here: fp16 matmul "
     f"{lp_mean['fp16'].iloc[-1] / lp_mean['fp32'].iloc[-1]:.3f}× fp32, bf16 "
     f"{lp_mean['bf16'].iloc[-1] / lp_mean['fp32'].iloc[-1]:.3f}× (per CPU-s) on this CPU "
     f"({'native fp16' if lowp['fp16']['native'] else 'no native fp16'}, "
     f"{'native bf16' if lowp['bf16']['native'] else 'no native bf16'})",
     "right for the peak; in practice fp16 matmuls can be far slower (conversions)"),
    ("GPU fp32 peak", f"{STUDENT['gpu_fp32_tflops']} TFLOP/s", f"{g['fp32'] / 1e3:.2f} TFLOP/s",
     "right (4864 units × 2 × 1.665 GHz)"),
    ("GPU fp16 peak", f"≈ {STUDENT['gpu_fp16_tflops_theory']} TFLOP/s",
     f"{g['fp16_tensor_fp32_acc'] / 1e3:.1f} (Tensor Cores, fp32 accumulate, what torch uses); "
     f"{g['fp16_tensor'] / 1e3:.1f} (fp16 accumulate)",
     "wrong: 16.2 is the CUDA-core fp16 rate; fp16 matmuls run on Tensor Cores"),
    ("measured fp32 17.09 > 16.2", "not explained", f"implies a {clock_fp32:.3f} GHz clock",
     "GPU Boost above the rated 1.665 GHz: +" f"{clock_fp32 / 1.665 - 1:.0%}"),
    ("measured fp16 35.73 = '2× gap'", "Tensor Cores + boost clock beyond 1.665 GHz",
     f"{STUDENT['gpu_fp16_measured'] / (g['fp16_tensor_fp32_acc'] / 1e3):.2f}× the Tensor-Core "
     f"peak; implies {clock_fp16:.3f} GHz",
     "no gap: measured/peak is about 1 once the right peak is used; boost explains the rest"),
    ("system RAM bandwidth", f"{STUDENT['ram_gbs']} GB/s", f"{ram:.1f} GB/s "
     "(4800 MT/s × 8 B × 2 channels)", "right (16 B = two 64-bit channels)"),
    ("VRAM bandwidth", f"{STUDENT['vram_gbs']} GB/s", f"{vram:.0f} GB/s", "right"),
], columns=["claim", "student", "recomputed", "verdict"])
plain_table(checks, "Table 9: the student's part C numbers recomputed from the specifications.")

# %%
answer(f"**Where the student is wrong (2.2–2.3).** (1) *CPU peak*: their 16 FLOP/cycle/core "
       f"omits the second FMA pipe of the Golden Cove P-cores and uses the P-core clock for the "
       f"E-cores; recomputed {p_core.gflops + e_core.gflops:.0f} GFLOP/s, not "
       f"{STUDENT['cpu_fp32_gflops']}. (2) *The 'FP16 2×' reasoning*: the theoretical fp16 "
       f"figure of {STUDENT['gpu_fp16_tflops_theory']} TFLOP/s is the CUDA-core rate, but an "
       f"fp16 matmul runs on the Tensor Cores, whose peak is "
       f"{g['fp16_tensor_fp32_acc'] / 1e3:.1f} TFLOP/s with fp32 accumulation "
       f"({g['fp16_tensor'] / 1e3:.1f} with fp16 accumulation). Against the right peak the "
       f"measured {STUDENT['gpu_fp16_measured']} TFLOP/s is "
       f"{STUDENT['gpu_fp16_measured'] / (g['fp16_tensor_fp32_acc'] / 1e3):.2f}× — no 2× "
       f"gap, and 'the boost clock' explains only the last "
       f"{clock_fp16 / GPU_3060TI['boost_ghz'] - 1:.0%} (an implied {clock_fp16:.2f} GHz; "
       f"likewise fp32 at {STUDENT['gpu_fp32_measured']} TFLOP/s implies {clock_fp32:.2f} "
       f"GHz). Measured above 'theoretical' is a signal that an input of the formula is wrong, "
       f"not an achievement. Their bandwidth arithmetic ({ram:.1f} and {vram:.0f} GB/s) is right.")

# %% [markdown]
# ## 7 · Transformer FLOPs (question 2.4.1)
#
# The forward matmul FLOPs, per matmul, summed over layers (`acc.forward_flops`; its docstring
# derives each term):

# %%
print(inspect.getsource(acc.forward_flops).split('    """')[0]
      + "    ...\n" + inspect.getsource(acc.forward_flops).split('    """')[2])

# %% [markdown]
# With N = B·T tokens, per layer: Q, K, V, O projections 4 × 2Nd² = 8Nd²; scores QKᵀ and the
# weighted sum PV 2·B·T²·d each; MLP 2 × 2Nd·f = 16Nd² for f = 4d. Total per layer
# **24·N·d² + 4·B·T²·d**, plus the LM head 2·N·d·V once.
#
# **Check against FlopCounterMode.** We build the student's model (L = 4, h = 4, d = 256,
# T = 128, GPT-2 style) with plain torch modules (`acc.ReferenceTransformer`, attention written
# out as two matmuls so each can be counted by name) and count the FLOPs torch actually
# dispatches. The vocabulary is not stated in the answer; their 3.22 M parameters fit a
# character-level vocabulary of about 100 symbols, so we use V = 100.

# %%
STUDENT_MODEL = acc.TransformerConfig(d_model=256, n_layers=4, n_heads=4, vocab_size=100,
                                      context_length=128, name="student's model")
T_S = 128
model = acc.build_reference(STUDENT_MODEL)
idx = torch.randint(0, STUDENT_MODEL.vocab_size, (1, T_S))
counted = acc.counted_flops(lambda: model(idx))
formula = acc.forward_flops(STUDENT_MODEL, 1, T_S)
rows = [{"matmul": k, "formula": formula[k], "FlopCounterMode": counted[k],
         "ratio": counted[k] / formula[k] if formula[k] else float("nan")}
        for k in acc.MATMULS if formula[k] or counted[k]]
rows.append({"matmul": "total", "formula": formula["total"],
             "FlopCounterMode": counted["total"], "ratio": counted["total"] / formula["total"]})
plain_table(pd.DataFrame(rows), "Table 10: forward FLOPs of the student's model (B = 1, "
            "T = 128), formula vs counted.", {"formula": "{:,}", "FlopCounterMode": "{:,}",
                                              "ratio": "{:.4f}"})

# %% [markdown]
# The same check over a grid of shapes and both families (GPT-2 style and the seed-004
# SwiGLU/RMSNorm/RoPE style), plus the parameter count (formula vs `sum(p.numel())`) and the
# training step (counted forward + backward vs 3 × forward):

# %%
grid = [(L, d, h, T, B, style) for (L, d, h) in [(1, 32, 2), (2, 64, 4), (3, 96, 8)]
        for (T, B) in [(8, 1), (24, 3)] for style in ("gpt2", "swiglu")]
grid = grid if P.profile != "smoke" else grid[:2]
grid_rows = []
for L, d, h, T, B, style in grid:
    base = acc.TransformerConfig(d_model=d, n_layers=L, n_heads=h, vocab_size=97,
                                 context_length=32)
    cfg = base if style == "gpt2" else acc.swiglu_variant(base, d_ff=acc.swiglu_d_ff(d))
    m = acc.build_reference(cfg)
    x = torch.randint(0, 97, (B, T))
    fwd = acc.counted_flops(lambda: m(x))["total"]
    train = acc.counted_flops(lambda: m.loss(x, x).backward())["total"]
    grid_rows.append({"style": style, "L": L, "d": d, "h": h, "T": T, "B": B,
                      "params ratio": acc.count_params(m) / acc.param_counts(cfg)["total"],
                      "forward ratio": fwd / acc.forward_flops(cfg, B, T)["total"],
                      "train/forward (counted)": train / fwd})
grid_df = pd.DataFrame(grid_rows)
plain_table(grid_df, f"Table 11: formula vs count on {len(grid_df)} small models: "
            "counted/formula for parameters and forward FLOPs, and counted training/forward "
            "FLOPs.", {c: "{:.4f}" for c in ("params ratio", "forward ratio",
                                             "train/forward (counted)")})

# %%
student_per_layer = 20 * T_S * 256 ** 2 + 4 * T_S ** 2 * 256      # their formula
blocks = formula["total"] - formula["lm_head"]
sdpa_model = acc.build_reference(STUDENT_MODEL, attention="sdpa")
sdpa_counted = acc.counted_flops(lambda: sdpa_model(idx))
answer(f"**2.4.1 — forward FLOPs.** Every formula matches the count exactly (tables 10 and 11: "
       f"all ratios {grid_df['forward ratio'].min():.4f}–{grid_df['forward ratio'].max():.4f}). "
       f"For L = 4, d = 256, T = 128 the blocks cost **{blocks / 1e9:.3f} GFLOP** per sequence "
       f"(24·T·d² + 4·T²·d = {blocks // 4:,} per layer), plus {formula['lm_head'] / 1e6:.1f} "
       f"MFLOP for the LM head at V = 100 (at GPT-2's V = 50,257 the head alone would cost "
       f"{acc.forward_flops(STUDENT_MODEL.replace(vocab_size=50257), 1, T_S)['lm_head'] / 1e9:.2f} "
       f"GFLOP, more than all the blocks). The student's 20·T·d² + 4·T²·d = "
       f"{student_per_layer:,} per layer ({4 * student_per_layer / 1e9:.3f} GFLOP) counts the "
       f"four attention projections as 4·T·d² instead of 8·T·d² (1 FLOP per multiply-add there, "
       f"2 in the MLP): {1 - 4 * student_per_layer / blocks:.0%} too low. 'B does not affect "
       f"per-sequence FLOPs' is true, but a batch costs B times as much. Caveat found on the "
       f"way: on CPU, FlopCounterMode has no formula for PyTorch's fused attention kernel, so "
       f"the same model with `F.scaled_dot_product_attention` counts "
       f"{sdpa_counted['total'] / 1e9:.3f} GFLOP, missing the "
       f"{(formula['qk'] + formula['av']) / 1e6:.1f} MFLOP of QKᵀ and PV.")

# %% [markdown]
# ## 8 · Memory: weights, optimizer state, activations (question 2.4.2)
#
# * **Weights**: P parameters × 4 bytes (fp32).
# * **Gradients**: one per parameter, P × 4 bytes.
# * **AdamW state**: two moments (m, v) per parameter, 2P × 4 bytes. Together with the weights
#   and gradients: **16 bytes per parameter** before any activation.
# * **Activations**: what autograd keeps from the forward pass for the backward pass. We count it
#   exactly with `torch.autograd.graph.saved_tensors_hooks` (each storage once, parameters
#   excluded) and compare with `acc.activation_bytes`, whose docstring lists the tensors each
#   op keeps: for a GELU/LayerNorm layer 8·N·d + 2·N·f values (16·N·d for f = 4d), plus the B·h·T²
#   softmax output when attention is written out (`naive`), or N·d + B·h·T log-sum-exp values
#   with PyTorch's fused kernel (`sdpa`), which recomputes the scores during backward.

# %%
opt_model = acc.build_reference(STUDENT_MODEL)
opt = torch.optim.AdamW(opt_model.parameters(), foreach=False)
tgt = torch.randint(0, STUDENT_MODEL.vocab_size, (1, T_S))
opt_model.loss(idx, tgt).backward()
adam_flops_traced, adam_trace = acc.count_elementwise_op_flops(opt.step)
state_bytes = sum(s["exp_avg"].nbytes + s["exp_avg_sq"].nbytes for s in opt.state.values())
P_student = acc.param_counts(STUDENT_MODEL)["total"]
mem_rows = [
    {"quantity": "parameters", "formula": P_student, "counted": acc.count_params(opt_model)},
    {"quantity": "AdamW state bytes (m, v)", "formula": acc.adamw_state_bytes(P_student),
     "counted": state_bytes},
    {"quantity": "AdamW step FLOPs (elementwise)", "formula": acc.adamw_flops(P_student),
     "counted": adam_flops_traced},
]
act_shapes = [(1, 16), (2, 64), (4, 128)] if P.profile != "smoke" else [(1, 16)]
for attention in ("naive", "sdpa"):
    m = acc.build_reference(STUDENT_MODEL, attention=attention)
    for B, T in act_shapes:
        x, y = torch.randint(0, 100, (B, T)), torch.randint(0, 100, (B, T))
        mem_rows.append({"quantity": f"activations, {attention}, B={B}, T={T}",
                         "formula": acc.activation_bytes(STUDENT_MODEL, B, T, attention)["total"],
                         "counted": acc.saved_tensor_bytes(lambda: m.loss(x, y), m)})
ck = acc.build_reference(STUDENT_MODEL, checkpointing=True)
B_CK, T_CK = P.pick(smoke=(1, 16), laptop=(2, 64), full=(2, 64))
x, y = torch.randint(0, 100, (B_CK, T_CK)), torch.randint(0, 100, (B_CK, T_CK))
mem_rows.append({"quantity": f"activations, checkpointed layers, B={B_CK}, T={T_CK}",
                 "formula": acc.activation_bytes(STUDENT_MODEL, B_CK, T_CK,
                                                 checkpointing=True)["total"],
                 "counted": acc.saved_tensor_bytes(lambda: ck.loss(x, y), ck)})
mem_df = pd.DataFrame(mem_rows)
mem_df["ratio"] = mem_df["counted"] / mem_df["formula"]
plain_table(mem_df, "Table 12: memory and optimizer formulas vs counts on the student's model "
            "(AdamW FLOPs: aten ops traced during `torch.optim.AdamW.step`, weighted as in "
            "`acc.adamw_flops`).", {"formula": "{:,}", "counted": "{:,}", "ratio": "{:.4f}"})

# %%
B64 = 64
meta = acc.build_reference(STUDENT_MODEL, device="meta")
xm = torch.empty(B64, T_S, dtype=torch.long, device="meta")
ym = torch.empty(B64, T_S, dtype=torch.long, device="meta")   # targets: a tensor of their own
act_meta = acc.saved_tensor_bytes(lambda: meta.loss(xm, ym), meta)
act_naive = acc.activation_bytes(STUDENT_MODEL, B64, T_S, "naive")
act_sdpa = acc.activation_bytes(STUDENT_MODEL, B64, T_S, "sdpa")
train_mem = acc.training_memory_bytes(STUDENT_MODEL, B64, T_S)
answer(f"**2.4.2 — memory.** Weights: {P_student:,} parameters × 4 B = "
       f"{acc.weight_bytes(STUDENT_MODEL) / 1e6:.1f} MB (the student's 3.22 M → 12.9 MB is the "
       f"same arithmetic; their count fits V ≈ 100). Training adds gradients and AdamW's two "
       f"moments: 16 B per parameter = {16 * P_student / 1e6:.1f} MB. Activations at B = 64, "
       f"T = 128: **{act_naive['total'] / 1e6:.0f} MB** with attention written out (counting "
       f"the saved tensors of this full-size batch on the meta device gives "
       f"{act_meta / 1e6:.1f} MB, {'identical' if act_meta == act_naive['total'] else 'NOT equal'}"
       f"; {act_naive['layer_attention_core'] * STUDENT_MODEL.n_layers / 1e6:.0f} MB of it the "
       f"{STUDENT_MODEL.n_layers} layers' B·h·T² softmax outputs) and "
       f"{act_sdpa['total'] / 1e6:.0f} MB with the "
       f"fused kernel. The student's 370 MB is "
       f"{370e6 / act_naive['total']:.2f}× the written-out figure and "
       f"{370e6 / act_sdpa['total']:.2f}× the fused one: an undercount, whichever "
       f"implementation. Total for a training step: {train_mem['total'] / 1e6:.0f} MB, "
       f"{train_mem['activations'] / train_mem['total']:.0%} of it activations. "
       f"Gradient checkpointing keeps only each layer's input "
       f"({acc.activation_bytes(STUDENT_MODEL, B64, T_S, checkpointing=True)['layers'] / 1e6:.1f} MB "
       f"for the layers instead of {act_naive['layers'] / 1e6:.0f} MB, table 12 last row) and "
       f"recomputes the rest during backward.")

# %% [markdown]
# ## 9 · Training vs inference (questions 2.5.1 and 2.5.2)
#
# **FLOPs.** Table 11's last column already counts it: forward + backward = 3 × forward for
# every model (for Y = X·W the backward pass computes dX = dY·Wᵀ and dW = Xᵀ·dY, two matmuls of
# the forward's size). The optimizer adds a few FLOPs per parameter (table 12).
#
# **Utilisation.** We time, on one thread (so the result does not depend on what else runs
# on the other CPUs), (a) inference over full sequences (`no_grad`
# forward of B × T tokens, like scoring or the prefill of generation), (b) a training step
# (forward, backward, AdamW) and (c) one decoding step (one new token per sequence, B = 1:
# each weight matrix multiplies a single vector, what a KV-cached generation step does in its
# projections and MLP), and divide the counted matmul FLOPs by the time.

# %%
B_TI = P.pick(smoke=1, laptop=8, full=64)
T_TI = P.pick(smoke=32, laptop=T_S, full=T_S)


def _train_vs_infer(c):
    torch.manual_seed(c["seed"])
    m = acc.build_reference(STUDENT_MODEL)
    x, y = torch.randint(0, 100, (c["B"], c["T"])), torch.randint(0, 100, (c["B"], c["T"]))
    one = torch.randint(0, 100, (1, 1))
    opt = torch.optim.AdamW(m.parameters())

    def infer():
        with torch.no_grad():
            m(x)

    def decode():
        with torch.no_grad():
            m(one)

    def step():
        opt.zero_grad(set_to_none=True)
        m.loss(x, y).backward()
        opt.step()

    out = {"flops_infer": acc.counted_flops(infer)["total"],
           "flops_decode": acc.counted_flops(decode)["total"],
           "flops_train": acc.counted_flops(lambda: m.loss(x, y).backward())["total"]}
    with hw.num_threads(c["threads"]):
        for name, fn in (("infer", infer), ("train", step), ("decode", decode)):
            out[name] = hw.time_samples(fn, repeats=c["repeats"], min_time=c["min_time"],
                                        max_time=c["max_time"])
    return out


ti_cfgs = [{"version": 2, "kind": "train_vs_infer", "machine": MACHINE, "tag": P.measure_tag,
            "B": B_TI, "T": T_TI, "threads": 1, "repeats": REPEATS, "min_time": MIN_TIME,
            "max_time": MAX_TIME,
            "seed": s} for s in P.seeds]
ti_res = run_sweep(ti_cfgs, _train_vs_infer, "training vs inference")
ti = pd.DataFrame([{"stage": stage, "seed": c["seed"], "ms (wall)": 1e3 * w,
                    "ms (CPU)": 1e3 * t, "GFLOP per CPU-s": r[f"flops_{stage}"] / t / 1e9,
                    "MFU": r[f"flops_{stage}"] / t / 1e9 / best_1_cpu}
                   for c, r in zip(ti_cfgs, ti_res) for stage in ("infer", "train", "decode")
                   for w, t in zip(r[stage]["wall"], r[stage]["cpu"])])
k_inf, k_tr, k_dec = (f"inference, B={B_TI}×T={T_TI}", f"training step, B={B_TI}×T={T_TI}",
                      "one decoding step, B=1, 1 token")
ti["stage"] = ti["stage"].map({"infer": k_inf, "train": k_tr, "decode": k_dec})
sample_table(ti, "stage", ["ms (wall)", "ms (CPU)", "GFLOP per CPU-s", "MFU"],
             best={"GFLOP per CPU-s": "max"},
             caption=f"Table 13: time and achieved matmul FLOP rate per stage on the student's "
                     f"model (one thread); MFU = model FLOPs per CPU-second relative to the best "
                     f"one-thread matmul ({best_1_cpu:.1f} GFLOP per CPU-s).", digits=3)

# %%
r0 = ti_res[0]
ti_mean = ti.groupby("stage")["GFLOP per CPU-s"].mean()
t_mean = ti.groupby("stage")["ms (CPU)"].mean()
answer(f"**2.5.1 — how much more is training?** Counted, not assumed: forward + backward = "
       f"**{r0['flops_train'] / r0['flops_infer']:.3f} ×** the forward FLOPs "
       f"(every model in table 11: {grid_df['train/forward (counted)'].min():.3f}–"
       f"{grid_df['train/forward (counted)'].max():.3f}), plus AdamW's "
       f"{adam_flops_traced / P_student:.0f} FLOPs per parameter per step "
       f"({adam_flops_traced / r0['flops_train']:.2%} of the step here). The student's "
       f"'nearly double' is wrong: the backward pass alone costs twice the forward. In time, a "
       f"step took {t_mean[k_tr] / t_mean[k_inf]:.1f}× an inference pass on the same batch "
       f"here ("
       + ("beyond the 3× in FLOPs: the optimizer, the loss and the memory-bound backward ops"
          if t_mean[k_tr] / t_mean[k_inf] > 3.15 else
          "below the 3× in FLOPs: the backward matmuls ran at a higher FLOP rate"
          if t_mean[k_tr] / t_mean[k_inf] < 2.85 else
          "close to the 3× in FLOPs: both ran at about the same FLOP rate") + ")."
       + f"\n\n**2.5.2 — which uses the hardware better?** Measured per CPU-second on one "
       f"thread: inference over full sequences reached {ti_mean[k_inf]:.1f} GFLOP/s (MFU "
       f"{ti_mean[k_inf] / best_1_cpu:.0%}), a training step {ti_mean[k_tr]:.1f} GFLOP/s "
       f"({ti_mean[k_tr] / best_1_cpu:.0%}), and one decoding step {ti_mean[k_dec]:.2f} GFLOP/s "
       f"({ti_mean[k_dec] / best_1_cpu:.0%}). What decides utilisation "
       f"is not training vs inference but how many tokens each weight matrix meets per call: "
       f"batched, full-sequence passes (both training and prefill) run large matmuls; "
       f"token-by-token generation multiplies each weight by one vector (2 FLOPs per 4-byte "
       f"weight, section 10) and is bound by memory and per-call overhead. The student's "
       f"'training has higher utilisation' holds only against token-by-token inference.")

# %% [markdown]
# ## 10 · Roofline: compute-bound or memory-bound? (question 2.4.3)
#
# An operation that does F FLOPs while moving Q bytes has *arithmetic intensity* I = F/Q. It
# cannot run faster than the compute peak, nor faster than bandwidth × I (the bytes cannot
# arrive sooner): attainable = min(peak, bandwidth × I). The *ridge* I* = peak / bandwidth
# separates the memory-bound ops (I < I*) from the compute-bound ones. `acc.operation_costs`
# gives F and the minimal Q (each input read once, each output written once) for the main ops
# of one layer; we time each op alone with torch and place it on the measured roofs.

# %%
B_RF = P.pick(smoke=1, laptop=8, full=64)
T_RF = P.pick(smoke=32, laptop=T_S, full=T_S)
ops = acc.operation_costs(STUDENT_MODEL, B_RF, T_RF)
ops_decode = acc.operation_costs(STUDENT_MODEL, 1, 1)
d, f, h, dh, N = 256, 1024, 4, 64, B_RF * T_RF


def _op_times(c):
    g = torch.Generator().manual_seed(c["seed"])
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    x, y, W, W_up, W_dn = r(N, d), r(N, d), r(d, d), r(d, f), r(f, d)
    q, kT, v = r(B_RF * h, T_RF, dh), r(B_RF * h, dh, T_RF), r(B_RF * h, T_RF, dh)
    p, hid, lw, lb = r(B_RF * h, T_RF, T_RF), r(N, f), r(d), r(d)
    x1 = r(1, d)
    fns = {"Q/K/V/O projection": lambda: x @ W, "QKᵀ scores": lambda: torch.bmm(q, kT),
           "softmax·V": lambda: torch.bmm(p, v), "MLP up": lambda: x @ W_up,
           "MLP down": lambda: hid @ W_dn, "softmax": lambda: torch.softmax(p, -1),
           "LayerNorm": lambda: F.layer_norm(x, (d,), lw, lb),
           "GELU": lambda: F.gelu(hid, approximate="tanh"), "residual add": lambda: x + y,
           "MLP up, 1 token (decode)": lambda: x1 @ W_up}
    with hw.num_threads(c["threads"]):
        return {k: hw.time_samples(fn, repeats=c["repeats"], min_time=c["min_time"],
                                   max_time=c["max_time"])["cpu"] for k, fn in fns.items()}


rf_cfgs = [{"version": 2, "kind": "roofline_ops", "machine": MACHINE, "tag": P.measure_tag,
            "B": B_RF, "T": T_RF, "threads": 1, "repeats": REPEATS,
            "min_time": MIN_TIME / 2, "max_time": MAX_TIME / 2, "seed": s} for s in P.seeds]
rf_res = run_sweep(rf_cfgs, _op_times, "roofline ops")
decode_op = dict(next(o for o in ops_decode if o["op"] == "MLP up"), op="MLP up, 1 token (decode)")
all_ops = ops + [decode_op]
per_layer_count = {"Q/K/V/O projection": 4, "QKᵀ scores": 1, "softmax·V": 1, "MLP up": 1,
                   "MLP down": 1, "softmax": 1, "LayerNorm": 2, "GELU": 1, "residual add": 2}
rf = pd.DataFrame([{"op": o["op"], "kind": o["kind"], "intensity": o["intensity"],
                    "flops": o["flops"], "seed": c["seed"], "s": t,
                    "GFLOP/s": o["flops"] / t / 1e9}
                   for c, r in zip(rf_cfgs, rf_res) for o in all_ops for t in r[o["op"]]])
rf_mean = rf.groupby(["op", "kind"]).agg(intensity=("intensity", "first"),
                                         gflops=("GFLOP/s", "mean"), s=("s", "mean")).reset_index()

roof_peak, roof_bw, cache_bw = best_1_cpu, copy_dram_1_cpu, copy_best_1_cpu
ridge = roof_peak / roof_bw
fig, ax = plots.subplots(width=9.5, height=4.2)
I = np.logspace(-2, 3, 200)
ax.plot(I, np.minimum(roof_peak, roof_bw * I), color="k",
        label=f"roof: best matmul {roof_peak:.0f} GFLOP/s, DRAM {roof_bw:.1f} GB/s")
ax.plot(I, np.minimum(roof_peak, cache_bw * I), color="k", ls=":",
        label=f"cache roof: best copy {cache_bw:.1f} GB/s")
ax.axhline(peak_1, color="grey", ls="--", lw=1,
           label=f"theoretical peak of one core {peak_1:.0f} GFLOP/s")
MARKERS = {"Q/K/V/O projection": "o", "QKᵀ scores": "^", "softmax·V": "v", "MLP up": ">",
           "MLP down": "<", "MLP up, 1 token (decode)": "D", "softmax": "s", "LayerNorm": "P",
           "GELU": "X", "residual add": "*"}
for k, (_, row) in enumerate(rf_mean.sort_values("intensity", ascending=False).iterrows()):
    ax.scatter(row.intensity, row.gflops, marker=MARKERS.get(row.op, "o"), s=55, zorder=3,
               color=plt.cm.Blues(0.45 + 0.09 * k) if row.kind == "matmul"
               else plt.cm.Reds(0.35 + 0.1 * k), edgecolor="k", linewidth=0.4,
               label=f"{row.op} ({row.kind})")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("arithmetic intensity (FLOP per byte, minimal traffic)")
ax.set_ylabel("attained GFLOP per CPU-second")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
plots.show(fig, "roofline",
           f"Roofline of one core of this machine (one thread) with the main operations of one "
           f"layer of the student's model (B = {B_RF}, T = {T_RF}, d = 256, h = 4), each timed "
           f"alone (mean over {len(P.seeds) * REPEATS} samples; rates and roofs per "
           f"CPU-second, one thread). Ridge point "
           f"I* = {ridge:.1f} FLOP/byte. Ops whose data fit in cache can rise above the DRAM "
           f"roof, up to the dotted cache roof.")

# %%
rf_tab = rf_mean.copy()
rf_tab["bound"] = np.where(rf_tab.intensity < ridge, "memory", "compute")
rf_tab["per layer"] = rf_tab.op.map(per_layer_count).fillna(0)
layer_time = (rf_tab.s * rf_tab["per layer"]).sum()
rf_tab["share of layer time"] = rf_tab.s * rf_tab["per layer"] / layer_time
layer_flops = sum(o["flops"] * per_layer_count[o["op"]] for o in ops)
op_flops = {o["op"]: o["flops"] for o in all_ops}
rf_tab["share of layer FLOPs"] = rf_tab.op.map(op_flops) * rf_tab["per layer"] / layer_flops
rf_tab = rf_tab.sort_values("intensity")
plain_table(rf_tab.drop(columns=["s"]).rename(columns={"gflops": "GFLOP/s"}),
            "Table 14: the roofline points; 'per layer' counts how often the op runs in one "
            "layer, the shares weight the measured time by it.",
            {"intensity": "{:.2f}", "GFLOP/s": "{:.2f}", "share of layer time": "{:.1%}",
             "share of layer FLOPs": "{:.1%}", "per layer": "{:.0f}"})

# %%
mem_ops = rf_tab[(rf_tab.bound == "memory") & (rf_tab["per layer"] > 0)]
rf_tab["share of its roof"] = rf_tab.gflops / np.minimum(roof_peak, cache_bw * rf_tab.intensity)
slow = rf_tab[rf_tab["share of its roof"] < 0.25]
ew = rf_tab[rf_tab.kind == "elementwise"]
mm_ops = rf_tab[(rf_tab.kind == "matmul") & (rf_tab["per layer"] > 0)]
gpu_ridge = g["fp32"] / vram
whole = acc.forward_flops(STUDENT_MODEL, 1, T_S)["total"] / acc.weight_bytes(STUDENT_MODEL)
answer(f"**2.4.3 — compute- or memory-bound?** Both, op by op. With the measured roofs the "
       f"ridge is at {ridge:.1f} FLOP/byte. The layer's matmuls have intensities of "
       f"{mm_ops.intensity.min():.0f}–{mm_ops.intensity.max():.0f} FLOP/byte "
       f"({', '.join(mm_ops[mm_ops.bound == 'compute'].op) or 'none'} above the ridge: "
       f"compute-bound); softmax, the norm, GELU and the residual adds do "
       f"{ew.intensity.min():.2f}–{ew.intensity.max():.2f} FLOP per byte and are "
       f"{'all memory-bound' if (ew.bound == 'memory').all() else 'not all below the ridge'}: "
       f"the memory-bound ops are {mem_ops['share of layer FLOPs'].sum():.1%} of a layer's FLOPs "
       f"but took {mem_ops['share of layer time'].sum():.0%} of its measured time. A decoding "
       f"step's matrix-vector product has I = {decode_op['intensity']:.2f} and is memory-bound "
       f"at any batch of one. "
       + (f"Some ops stay far below even the cache roof ({', '.join(slow.op)}: under 25% of "
          f"it): they are limited by what the FLOP convention does not count — tanh and exp "
          f"cost tens of instructions each — or by the fixed cost of a call on small tensors. "
          if len(slow) else "")
       + f"The student's argument (0.74 GFLOP vs 13 MB of weights, i.e. "
       f"{whole:.0f} FLOP/byte for the whole forward pass of one sequence) ignores the "
       f"activations and the per-op view: "
       f"{'the large matmuls are compute-bound, the rest is not' if (mm_ops.bound == 'compute').all() else 'even some matmuls fall below the ridge'}, "
       f"and on a GPU (ridge {g['fp32'] / 1e3:.1f} TFLOP/s / {vram:.0f} GB/s = {gpu_ridge:.0f} "
       f"FLOP/byte for their card, before Tensor Cores) the elementwise ops are even further "
       f"below it.")

# %% [markdown]
# ## 11 · Scaling: doubling the width or the depth (question 2.6.1)
#
# FLOPs per layer are 24·N·d² + 4·B·T²·d, parameters 12·L·d² + V·d (GPT-2 style), activations
# ≈ L·(16·N·d + B·h·T²) values. So doubling **d** multiplies the d² terms by 4, the T² attention
# term and the activations by 2; doubling **L** doubles everything per layer and leaves the
# embeddings and the head alone. We compute both from the formulas for the student's model
# (B = 64, T = 128, V = 100, training with AdamW in fp32, written-out attention):

# %%
mults = [1, 2, 4, 8, 16, 32]
scale_rows = []
for what in ("d_model", "n_layers"):
    for k in mults:
        cfg = STUDENT_MODEL.replace(**{what: getattr(STUDENT_MODEL, what) * k,
                                       "d_ff": 4 * STUDENT_MODEL.d_model * (k if what == "d_model" else 1)})
        tm = acc.training_memory_bytes(cfg, B64, T_S)
        scale_rows.append({"scaled": "width d" if what == "d_model" else "depth L", "×": k,
                           "params": acc.param_counts(cfg)["total"],
                           "forward GFLOP": acc.forward_flops(cfg, B64, T_S)["total"] / 1e9,
                           "weights+grads+AdamW GB": (tm["total"] - tm["activations"]) / 1e9,
                           "activations GB": tm["activations"] / 1e9,
                           "training GB": tm["total"] / 1e9})
scale = pd.DataFrame(scale_rows)
ram_gb = mem["available_bytes"] / 1e9
fig, axes = plots.subplots(1, 2, width=9.5, height=3.4)
for ax, col, label in ((axes[0], "forward GFLOP", "forward GFLOP per batch"),
                       (axes[1], "training GB", "training memory (GB)")):
    for what, marker in (("width d", "o"), ("depth L", "s")):
        s = scale[scale.scaled == what]
        ax.plot(s["×"], s[col], marker=marker, label=f"scale {what}")
    if col == "training GB":
        ax.axhline(ram_gb, color="grey", ls="--",
                   label=f"RAM available on this machine, {ram_gb:.0f} GB")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("multiplier of d (with f = 4d) or of L")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
plots.show(fig, "scaling", f"FLOPs and training memory (weights, gradients, AdamW state, "
           f"activations; fp32) of the student's model at B = {B64}, T = {T_S} as the width or "
           "the depth is multiplied. Width grows FLOPs and weights quadratically, depth linearly.")

# %%
def ratio(what, col):
    s = scale[scale.scaled == what].set_index("×")[col]
    return s[2] / s[1]


avail = mem["available_bytes"]


def widened(k):
    return STUDENT_MODEL.replace(d_model=256 * k, d_ff=4 * 256 * k, n_heads=4 * k)


k_big = next((k for k in [2 ** i for i in range(1, 10)]
              if acc.training_memory_bytes(widened(k), B64, T_S)["total"] > avail), None)
big = widened(k_big)
P_big = acc.param_counts(big)["total"]


def option(name, batch, attention="naive", value_bytes=4, ckpt=False, adam_bytes=4):
    m = acc.training_memory_bytes(big, batch, T_S, attention, 4, ckpt)
    act = acc.activation_bytes(big, batch, T_S, attention, value_bytes, checkpointing=ckpt)
    total = m["weights"] + m["gradients"] + 2 * P_big * adam_bytes + act["total"] + \
        act["recompute_peak"]
    return {"option (cumulative)": name, "batch per step": batch,
            "fixed GB (weights, grads, AdamW)": (m["weights"] + m["gradients"]
                                                 + 2 * P_big * adam_bytes) / 1e9,
            "activations GB": (act["total"] + act["recompute_peak"]) / 1e9,
            "total GB": total / 1e9, "fits in available RAM": total <= avail}


fit_rows = [option("as is (fp32, attention written out)", B64),
            option("+ fused attention kernel (no T×T matrix)", B64, "sdpa"),
            option("+ gradient checkpointing per layer", B64, "sdpa", ckpt=True),
            option("+ bf16 activations (mixed precision)", B64, "sdpa", 2, True),
            option("+ micro-batches of 8, 8 accumulation steps", 8, "sdpa", 2, True),
            option("+ 8-bit AdamW moments", 8, "sdpa", 2, True, adam_bytes=1)]
fit_df = pd.DataFrame(fit_rows)
plain_table(fit_df, f"Table 16: training the student's model widened {k_big}× (d = "
            f"{big.d_model}, {P_big / 1e6:.0f} M parameters) at {B64} × {T_S} tokens per "
            f"update, against the {avail / 1e9:.1f} GB of RAM available now; each row adds one "
            f"measure to the previous ones.", {c: "{:.2f}" for c in fit_df.columns if "GB" in c})

# %%
first_fit = fit_df[fit_df["fits in available RAM"]]
answer(f"**2.6.1 — scaling.** Doubling d: forward FLOPs ×{ratio('width d', 'forward GFLOP'):.2f} "
       f"(the d² terms ×4, the T²·d attention term ×2), parameters "
       f"×{ratio('width d', 'params'):.2f}, activations ×{ratio('width d', 'activations GB'):.2f}. "
       f"Doubling L: FLOPs ×{ratio('depth L', 'forward GFLOP'):.2f}, parameters "
       f"×{ratio('depth L', 'params'):.2f}, activations ×{ratio('depth L', 'activations GB'):.2f} "
       f"(not exactly 2: the embeddings, the head and the loss do not grow). The student's "
       f"'FLOPs ×4' is the d² part only, and 'layers would double' says nothing about memory. "
       f"**Does it fit?** On this machine the limit is RAM ({avail / 1e9:.1f} GB available): "
       f"training at B = {B64}, T = {T_S} first fails at {k_big}× the width "
       f"({fit_df['total GB'].iloc[0]:.1f} GB). Table 16 applies the usual remedies in order: "
       f"the fused attention kernel and gradient checkpointing attack the activations, bf16 "
       f"halves what is left, micro-batches with gradient accumulation keep the update the same "
       f"with 1/8 of the activations, and 8-bit optimizer moments shrink the fixed "
       f"16 B/parameter to {(fit_df['fixed GB (weights, grads, AdamW)'].iloc[-1] * 1e9 / P_big):.0f}. "
       + (f"It fits from the row '{first_fit['option (cumulative)'].iloc[0]}' on "
          f"({first_fit['total GB'].iloc[0]:.1f} GB). " if len(first_fit) else
          "Even with all of them it does not fit: the fixed part must be split across devices "
          "(ZeRO-style sharding) or offloaded to disk. ")
       + f"For inference alone only the weights ({acc.weight_bytes(big) / 1e9:.1f} GB in fp32) "
       f"and a KV cache are needed, and int8/int4 quantisation cuts the weights 4–8×.")


# %% [markdown]
# ## 12 · GPT-2 sizes (for notebook 06 and seed 004)
#
# The same formulas for the released GPT-2 models and for seed 004's SwiGLU "GPT-2 XL"
# (CS336 shapes: d_ff = 6400, untied head); parameters and FLOPs counted on the meta device
# (shapes only, no memory), T = 1024, B = 1.

# %%
sizes = list(acc.GPT2_CONFIGS.values()) + [acc.swiglu_variant(acc.GPT2_XL)]
if P.profile == "smoke":
    sizes = sizes[:1]
g2_rows = []
for cfg in sizes:
    m = acc.build_reference(cfg, device="meta")
    x = torch.empty(1, 1024, dtype=torch.long, device="meta")
    fl = acc.forward_flops(cfg, 1, 1024)
    sh = acc.flop_shares(fl)
    g2_rows.append({"model": cfg.name, "params (formula)": acc.param_counts(cfg)["total"],
                    "params (counted)": acc.count_params(m),
                    "forward GFLOP (formula)": fl["total"] / 1e9,
                    "forward GFLOP (counted)": acc.counted_flops(lambda: m(x))["total"] / 1e9,
                    "attention": sh["attention"], "MLP": sh["mlp"], "LM head": sh["lm_head"],
                    "fp32 weights GB": acc.weight_bytes(cfg) / 1e9,
                    "training GB, B=1": acc.training_memory_bytes(cfg, 1, 1024)["total"] / 1e9})
plain_table(pd.DataFrame(g2_rows), "Table 15: GPT-2 sizes at T = 1024: parameters and forward "
            "FLOPs by formula and by count, FLOP shares, memory.",
            {"params (formula)": "{:,}", "params (counted)": "{:,}",
             "forward GFLOP (formula)": "{:.1f}", "forward GFLOP (counted)": "{:.1f}",
             "attention": "{:.1%}", "MLP": "{:.1%}", "LM head": "{:.1%}",
             "fp32 weights GB": "{:.2f}", "training GB, B=1": "{:.1f}"})

# %%
T_grid = [128, 256, 512, 1024, 2048, 4096, 8192, 16384]
fig, ax = plots.subplots(width=7, height=3.4)
for cfg in (acc.GPT2_SMALL, acc.GPT2_XL):
    shares = [acc.flop_shares(acc.forward_flops(cfg.replace(context_length=T), 1, T))
              for T in T_grid]
    ax.plot(T_grid, [s["attention_scores"] for s in shares], marker="o",
            label=f"{cfg.name}: QKᵀ and PV (the T² part)")
    ax.plot(T_grid, [s["mlp"] for s in shares], marker="s", ls="--", label=f"{cfg.name}: MLP")
ax.set_xscale("log", base=2)
ax.set_xlabel("context length T")
ax.set_ylabel("share of forward FLOPs")
ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 0.12))
plots.show(fig, "flop_share_context", "Share of the forward FLOPs in the T² attention "
           "products and in the MLP as the context grows (formula, exact per table 15). The "
           "T² part overtakes a 4d MLP when 4·B·T²·d > 16·B·T·d², i.e. T > 4d.")

# %%
counts = ", ".join(f"{r['model']}: {r['params (counted)']:,}" for r in g2_rows)
exact = all(r["params (counted)"] == r["params (formula)"]
            and abs(r["forward GFLOP (counted)"] - r["forward GFLOP (formula)"]) < 1e-9
            for r in g2_rows)
answer(f"The formulas {'reproduce' if exact else 'do NOT reproduce'} the GPT-2 parameter counts "
       f"({counts}) and the "
       f"counted FLOPs exactly, at full size. Notebook 06 uses these functions for seed 004's "
       f"accounting questions (`acc.param_counts`, `acc.forward_flops`, `acc.flop_shares`, "
       f"`acc.training_memory_bytes`, `acc.max_batch_size`, `acc.adamw_flops`, "
       f"`acc.training_time_seconds`).")

# %% [markdown]
# ## Summary
#
# The answers above, in one place, are rendered from this run's measurements; the figures are
# saved under `figures/00_hardware/`.

# %%
answer(f"* **2.1** {cpu.model}, {cpu.physical_cores} core(s), {simd_name}, "
       f"{mem['total_bytes'] / 2**30:.0f} GiB RAM, {'GPU ' + gpus[0]['name'] if gpus else 'no GPU'}.\n"
       f"* **2.2** fp32 peak {peak_ref.gflops:.0f} GFLOP/s "
       f"({'measured clock and pipes' if peak_probe else 'nominal'}; "
       f"{peak_nominal.gflops:.0f} from the nominal figures); {hw.low_precision_sentence(cpu.flags, lp_ratio)}\n"
       f"* **2.3** best matmul {best_any:.1f} GFLOP/s ({best_any_t} thread(s)) = "
       f"{best_any / peak_ref.gflops:.0%} of it (wall clock); one thread per CPU-second "
       f"{best_1_cpu:.1f} GFLOP/s = {best_1_cpu / peak_1:.0%} of one core; DRAM copy "
       f"{copy_dram_1_cpu:.1f} GB per CPU-s. The student's fp16 '2× gap' compares with the wrong "
       f"(CUDA-core) peak.\n"
       f"* **2.4** student's model: {blocks / 1e9:.3f} GFLOP per sequence (not 0.738), "
       f"{act_naive['total'] / 1e6:.0f} MB of activations at B = 64 (not 370); matmuls "
       f"compute-bound, elementwise ops memory-bound ({mem_ops['share of layer time'].sum():.0%} "
       f"of the time for {mem_ops['share of layer FLOPs'].sum():.1%} of the FLOPs).\n"
       f"* **2.5** training = {r0['flops_train'] / r0['flops_infer']:.2f}× inference FLOPs + "
       f"AdamW (not 'nearly double'); utilisation depends on tokens per weight, decode is worst.\n"
       f"* **2.6** 2×d → {ratio('width d', 'forward GFLOP'):.1f}× FLOPs, "
       f"{ratio('width d', 'params'):.1f}× parameters; 2×L → {ratio('depth L', 'forward GFLOP'):.1f}×; "
       f"when it does not fit: fused attention, checkpointing, bf16, micro-batches, then "
       f"sharding/offload.")

# %%
finish(store)
