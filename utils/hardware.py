"""What machine is this, how fast could it be, and how fast is it? (taught in notebook 00)

Three parts, in reading order:

1. **Detection**: CPU model, cores, SIMD flags and clock from ``/proc/cpuinfo`` (Linux),
   caches from ``/sys``, memory from psutil, GPUs from ``torch.cuda``.
2. **Theoretical peak** (:func:`theoretical_peak`)::

       peak FLOP/s = cores × SIMD lanes × FLOP per FMA × FMA pipes × clock

   cores: physical cores that run in parallel; SIMD lanes: values one vector instruction holds
   (register bits / bits per value: AVX2 256/32 = 8 fp32 lanes); FLOP per FMA: a fused
   multiply-add a·b + c is 2 FLOPs; FMA pipes: FMA instructions a core can start per cycle (not
   in ``/proc/cpuinfo``: from a table of microarchitectures, or measured with
   :func:`fma_probe`); clock: cycles per second. On a GPU the same formula reads
   SMs × FP32 units per SM × 2 × clock, and Tensor Cores have their own rate
   (:func:`gpu_peak`).
3. **Measurement**: matmul GFLOP/s over sizes and thread counts (:func:`measure_matmul`) and
   memory bandwidth of a copy and a reduction (:func:`measure_bandwidth`), each a list of
   samples (mean ± std over repeats), on CPU or CUDA. :func:`fma_probe` compiles a small C
   program (when a C compiler is present) that measures the clock (a dependent ``imul`` chain,
   which no core can fold, unlike ``add $1, reg``) and the register-only FMA rate, the ceiling
   no memory-bound code can reach; :func:`check_probe` rejects implausible readings.
4. **Sentences** notebook 00 renders from what is detected (:func:`dram_caption`,
   :func:`low_precision_sentence`, :func:`kernel_choice_note`), tested on recorded machines.

Timing rules: warm up first, take several samples, set the thread count explicitly, and read
``/proc/loadavg`` (:func:`load_average`): on a shared machine other jobs steal cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import torch

from .paths import cache_dir

# --------------------------------------------------------------------------------------------
# 1. detection
# --------------------------------------------------------------------------------------------


def parse_cpuinfo(text: str) -> list[dict[str, str]]:
    """``/proc/cpuinfo`` as one dict per logical CPU (keys as in the file, values stripped)."""
    cpus, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                cpus.append(cur)
                cur = {}
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            cur[key.strip()] = value.strip()
    if cur:
        cpus.append(cur)
    return cpus


@dataclass(frozen=True)
class CPUInfo:
    """What the operating system says about the CPU (a VM may hide or mask some of it)."""

    model: str
    vendor: str
    family: int | None
    model_number: int | None
    logical_cpus: int
    physical_cores: int
    sockets: int
    flags: frozenset = field(default_factory=frozenset)
    nominal_mhz: float | None = None
    caches: tuple = ()          # ((level, type, size, shared_by_cpus), ...)
    hypervisor: bool = False
    arch: str = ""

    @property
    def threads_per_core(self) -> int:
        return max(1, self.logical_cpus // max(1, self.physical_cores))


def _int(value: str | None, base: int = 10) -> int | None:
    try:
        return int(value, base) if value is not None else None
    except ValueError:
        return None


def cpu_info_from_text(text: str, usable_cpus: int | None = None, caches: tuple = (),
                       arch: str = "") -> CPUInfo:
    """Build :class:`CPUInfo` from ``/proc/cpuinfo`` text (x86 and ARM field names)."""
    cpus = parse_cpuinfo(text)
    if not cpus:
        raise ValueError("no CPU entries found in the cpuinfo text (expected 'processor : N' "
                         "blocks separated by blank lines)")
    first = cpus[0]
    flags = frozenset((first.get("flags") or first.get("Features") or "").split())
    model = (first.get("model name") or first.get("Model") or first.get("cpu model")
             or first.get("Hardware") or "unknown CPU")
    vendor = first.get("vendor_id") or first.get("CPU implementer") or "unknown"
    cores = {(c.get("physical id", "0"), c.get("core id", str(i))) for i, c in enumerate(cpus)}
    sockets = len({c.get("physical id", "0") for c in cpus})
    logical = usable_cpus or len(cpus)
    physical = len(cores) if "core id" in first else len(cpus)
    mhz = first.get("cpu MHz")
    return CPUInfo(model=model, vendor=vendor, family=_int(first.get("cpu family")),
                   model_number=_int(first.get("model")), logical_cpus=logical,
                   physical_cores=min(physical, logical), sockets=sockets, flags=flags,
                   nominal_mhz=float(mhz) if mhz else None, caches=caches,
                   hypervisor="hypervisor" in flags, arch=arch)


def _caches() -> tuple:
    base = "/sys/devices/system/cpu/cpu0/cache"
    out = []
    if not os.path.isdir(base):
        return ()
    for entry in sorted(os.listdir(base)):
        if not entry.startswith("index"):
            continue
        try:
            read = lambda n: open(os.path.join(base, entry, n)).read().strip()  # noqa: E731
            shared = read("shared_cpu_list")
            out.append((int(read("level")), read("type"), read("size"), shared))
        except OSError:
            continue
    return tuple(out)


def usable_cpus() -> int:
    """CPUs this process may run on (``sched_getaffinity``; containers often restrict it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def cpu_info(path: str = "/proc/cpuinfo") -> CPUInfo:
    """Detect the CPU. Off Linux, falls back to ``platform`` (no flags, no clock)."""
    try:
        with open(path) as fh:
            text = fh.read()
        return cpu_info_from_text(text, usable_cpus(), _caches(), platform.machine())
    except (OSError, ValueError):
        n = usable_cpus()
        return CPUInfo(model=platform.processor() or platform.machine() or "unknown CPU",
                       vendor="unknown", family=None, model_number=None, logical_cpus=n,
                       physical_cores=n, sockets=1, arch=platform.machine())


def memory_info() -> dict:
    """Total and available RAM in bytes (psutil). The memory *type and speed* (DDR4/5, MT/s)
    need ``dmidecode`` as root and are usually fake or hidden inside a VM: reported when found."""
    import psutil

    vm = psutil.virtual_memory()
    out = {"total_bytes": vm.total, "available_bytes": vm.available, "type": None,
           "speed_mts": None}
    if shutil.which("dmidecode") and os.geteuid() == 0:
        try:
            text = subprocess.run(["dmidecode", "-t", "memory"], capture_output=True,
                                  text=True, timeout=10).stdout
            types = re.findall(r"^\s*Type:\s*(DDR\S*|LPDDR\S*)", text, re.M)
            speeds = re.findall(r"^\s*Speed:\s*(\d+)\s*MT/s", text, re.M)
            out["type"] = types[0] if types else None
            out["speed_mts"] = int(speeds[0]) if speeds else None
        except (OSError, subprocess.SubprocessError):
            pass
    return out


def _nvidia_smi_clock_mhz(index: int) -> float | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "-i", str(index), "--query-gpu=clocks.max.sm",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=20).stdout.strip()
        return float(out.splitlines()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def gpu_info() -> list[dict]:
    """One dict per CUDA device (empty list without one): name, SMs, memory, compute
    capability, and the maximum SM clock from ``nvidia-smi`` when available."""
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        out.append({"index": i, "name": p.name, "sms": p.multi_processor_count,
                    "memory_bytes": p.total_memory, "capability": (p.major, p.minor),
                    "max_clock_mhz": _nvidia_smi_clock_mhz(i)})
    return out


def machine_fingerprint(cpu: CPUInfo | None = None) -> str:
    """A short string that changes when the measuring machine changes (CPU model, usable CPUs,
    architecture, torch version, GPU names): put it in run-store configs so that results
    measured elsewhere are not reused."""
    cpu = cpu or cpu_info()
    gpus = ",".join(g["name"] for g in gpu_info()) or "no GPU"
    return (f"{cpu.model} | {cpu.logical_cpus} CPUs | {cpu.arch} | torch {torch.__version__} | "
            f"{gpus}")


def load_average() -> float | None:
    """The 1-minute load average (runnable processes; above the CPU count means contention)."""
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover
        return None


# --------------------------------------------------------------------------------------------
# 2. theoretical peak
# --------------------------------------------------------------------------------------------

def simd_width(flags) -> tuple[int, str]:
    """Widest floating-point vector register the flags promise: (bits, name)."""
    flags = set(flags)
    if "avx512f" in flags:
        return 512, "AVX-512"
    if "avx2" in flags:
        return 256, "AVX2"
    if "avx" in flags:
        return 256, "AVX"
    if "sse2" in flags or "sse" in flags:
        return 128, "SSE"
    if "asimd" in flags or "neon" in flags:
        return 128, "NEON"
    return 64, "scalar (no vector flags found)"


def fma_pipes_guess(cpu: CPUInfo) -> tuple[int, str]:
    """FMA pipes per core at the full SIMD width, from the vendor/family; with the reason.

    /proc/cpuinfo does not say how many FMA units a core has, so this is a table lookup and can
    be wrong, above all in a VM that reports a generic CPU: :func:`fma_probe` measures it.
    """
    flags, fam, mod = cpu.flags, cpu.family, cpu.model_number
    if "fma" not in flags and "fma4" not in flags and "asimd" not in flags:
        return 1, "no FMA flag: a multiply and an add issue separately (count 1 pipe)"
    if cpu.vendor == "AuthenticAMD" and fam is not None:
        if fam == 0x17 and (mod or 0) < 0x30:
            return 1, ("AMD family 17h model < 30h = Zen/Zen+: two 128-bit FMA units, so one "
                       "256-bit FMA per cycle")
        if fam == 0x17:
            return 2, "AMD family 17h model >= 30h = Zen 2: two 256-bit FMA units"
        if fam == 0x19 and "avx512f" in flags:
            return 1, ("AMD family 19h with AVX-512 = Zen 4: two 256-bit FMA units, so one "
                       "512-bit FMA per cycle (AVX-512 runs as two 256-bit halves)")
        if fam == 0x19:
            return 2, "AMD family 19h without AVX-512 = Zen 3: two 256-bit FMA units"
        if fam >= 0x1A:
            return 2, "AMD family 1Ah = Zen 5: two FMA units at full width"
    if cpu.vendor == "GenuineIntel":
        if "avx512f" in flags:
            return 2, ("Intel with AVX-512: two 512-bit FMA units on most server parts (some "
                       "have one)")
        if "avx2" in flags:
            return 2, "Intel Haswell or later: two 256-bit FMA units (ports 0 and 1)"
    return 1, "unknown microarchitecture: assume 1 pipe (measure it with fma_probe)"


@dataclass(frozen=True)
class PeakEstimate:
    """The factors of ``cores × lanes × FLOP/FMA × pipes × clock`` and what each one means."""

    dtype: str
    cores: int
    simd_lanes: int
    flop_per_fma: int
    fma_pipes: int
    clock_ghz: float
    notes: dict = field(default_factory=dict)

    @property
    def flop_per_cycle_per_core(self) -> int:
        return self.simd_lanes * self.flop_per_fma * self.fma_pipes

    @property
    def gflops_per_core(self) -> float:
        return self.flop_per_cycle_per_core * self.clock_ghz

    @property
    def gflops(self) -> float:
        return self.cores * self.gflops_per_core

    def rows(self) -> list[dict]:
        """The factors as table rows: factor, value, why."""
        return [{"factor": k, "value": v, "why": self.notes.get(k, "")} for k, v in (
            ("cores", self.cores), ("SIMD lanes", self.simd_lanes),
            ("FLOP per FMA", self.flop_per_fma), ("FMA pipes", self.fma_pipes),
            ("clock (GHz)", round(self.clock_ghz, 3)),
            ("peak (GFLOP/s)", round(self.gflops, 1)))]


def theoretical_peak(cpu: CPUInfo, dtype: str = "fp32", clock_ghz: float | None = None,
                     fma_pipes: int | None = None, cores: int | None = None) -> PeakEstimate:
    """Theoretical peak of ``cpu`` for ``dtype`` (``fp32``, ``fp64``, ``fp16``, ``bf16``).

    Defaults: cores = physical cores usable by this process; clock = the nominal MHz of
    /proc/cpuinfo (pass a measured one: turbo often runs above it); pipes =
    :func:`fma_pipes_guess`. For fp16/bf16 the lanes double only with *native* arithmetic
    (:func:`low_precision_support`); with conversion-only support (F16C) the compute peak is the
    fp32 one.
    """
    bits_per_value = {"fp64": 64, "fp32": 32, "fp16": 16, "bf16": 16}
    if dtype not in bits_per_value:
        raise ValueError(f"dtype must be one of {sorted(bits_per_value)}, got {dtype!r}")
    width, simd = simd_width(cpu.flags)
    notes = {}
    n_cores = cores if cores is not None else cpu.physical_cores
    if n_cores < 1:
        raise ValueError(f"cores must be >= 1, got {n_cores}")
    notes["cores"] = (f"{cpu.physical_cores} physical core(s) usable by this process "
                      f"({cpu.logical_cpus} logical CPU(s); SMT threads share a core's FMA "
                      f"units, so they do not add FLOPs)")
    lanes = width // bits_per_value[dtype]
    if dtype in ("fp16", "bf16"):
        support = low_precision_support(cpu.flags)[dtype]
        if not support["native"]:
            lanes = width // 32
        notes["SIMD lanes"] = f"{simd} {width}-bit registers; {dtype}: {support['why']}"
    else:
        notes["SIMD lanes"] = (f"{simd}: {width}-bit registers / {bits_per_value[dtype]} bits "
                               f"per {dtype} value")
    has_fma = bool({"fma", "fma4", "asimd"} & set(cpu.flags))
    notes["FLOP per FMA"] = ("a fused multiply-add a·b+c counts as 2 FLOPs" if has_fma else
                             "no FMA: a multiply and an add, if both pipes issue each cycle")
    if fma_pipes is None:
        fma_pipes, why = fma_pipes_guess(cpu)
        notes["FMA pipes"] = why
    else:
        notes["FMA pipes"] = "given (e.g. measured by fma_probe)"
    if clock_ghz is None:
        if not cpu.nominal_mhz:
            raise ValueError("the CPU clock is unknown here: pass clock_ghz (e.g. from fma_probe)")
        clock_ghz = cpu.nominal_mhz / 1000
        notes["clock (GHz)"] = "nominal clock from /proc/cpuinfo (turbo may run faster)"
    else:
        notes["clock (GHz)"] = "given (e.g. measured by fma_probe)"
    if clock_ghz <= 0 or fma_pipes < 1:
        raise ValueError(f"clock_ghz must be > 0 and fma_pipes >= 1, got {clock_ghz}, "
                         f"{fma_pipes}")
    return PeakEstimate(dtype, n_cores, lanes, 2, fma_pipes, clock_ghz, notes)


def low_precision_support(flags) -> dict[str, dict]:
    """What the CPU flags say about fp16 and bf16 *arithmetic*, per dtype:
    ``native`` (vector FMAs on that type at twice the fp32 lanes), ``why``."""
    flags = set(flags)
    out = {}
    if "avx512_fp16" in flags:
        out["fp16"] = {"native": True, "why": "AVX512-FP16: native fp16 FMAs, 32 lanes"}
    elif "asimdhp" in flags or "fphp" in flags:
        out["fp16"] = {"native": True, "why": "ARMv8.2 FP16: native fp16 vector arithmetic"}
    elif "f16c" in flags:
        out["fp16"] = {"native": False,
                       "why": ("F16C only converts fp16 <-> fp32; the arithmetic is fp32, so "
                               "the compute peak is the fp32 one (fp16 halves memory traffic)")}
    else:
        out["fp16"] = {"native": False, "why": "no fp16 support in the flags: emulated via fp32"}
    if "amx_bf16" in flags:
        out["bf16"] = {"native": True, "why": ("AMX-BF16 tile matmuls (far above the vector "
                                               "rate; not modelled by this formula) and "
                                               "AVX512-BF16 dot products")}
    elif "avx512_bf16" in flags:
        out["bf16"] = {"native": True, "why": ("AVX512-BF16: VDPBF16PS multiplies pairs of bf16 "
                                               "and accumulates in fp32, 2x the fp32 rate")}
    elif "bf16" in flags:
        out["bf16"] = {"native": True, "why": "ARM BF16: BFDOT/BFMMLA dot products"}
    else:
        out["bf16"] = {"native": False,
                       "why": ("no bf16 instructions: values are widened to fp32 (a shift) "
                               "and computed in fp32; the compute peak is the fp32 one")}
    return out


# GPU tables (NVIDIA architecture whitepapers). FP32 units per SM, and dense FP16 Tensor Core
# FLOP per clock per SM with FP16 accumulation; GeForce parts of Ampere and Ada run FP16 with
# FP32 accumulation at half that rate.
FP32_UNITS_PER_SM = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128,
                     (9, 0): 128}
TENSOR_FP16_FLOP_PER_CLOCK_PER_SM = {(7, 0): 1024, (7, 5): 1024, (8, 0): 2048, (8, 6): 1024,
                                     (8, 7): 1024, (8, 9): 1024, (9, 0): 4096}


def gpu_peak(sms: int, capability: tuple[int, int], clock_ghz: float,
             geforce: bool = False) -> dict[str, float]:
    """Theoretical GFLOP/s of an NVIDIA GPU: ``fp32`` = SMs × FP32 units × 2 × clock (CUDA
    cores); ``fp16_tensor`` = SMs × Tensor-Core FP16 FLOP/clock × clock (dense, FP16
    accumulate); ``fp16_tensor_fp32_acc`` (what a PyTorch fp16 matmul uses) = the same on data-
    centre parts, half on GeForce Ampere/Ada (``geforce=True``)."""
    capability = tuple(capability)
    if capability not in FP32_UNITS_PER_SM:
        raise ValueError(f"no table entry for compute capability {capability}; known: "
                         f"{sorted(FP32_UNITS_PER_SM)}")
    if sms < 1 or clock_ghz <= 0:
        raise ValueError(f"sms must be >= 1 and clock_ghz > 0, got {sms}, {clock_ghz}")
    fp32 = sms * FP32_UNITS_PER_SM[capability] * 2 * clock_ghz
    tensor = sms * TENSOR_FP16_FLOP_PER_CLOCK_PER_SM[capability] * clock_ghz
    half_rate = geforce and capability in ((8, 6), (8, 7), (8, 9))
    return {"fp32": fp32, "fp16_tensor": tensor,
            "fp16_tensor_fp32_acc": tensor / 2 if half_rate else tensor}


def gpu_peak_of(gpu: dict) -> dict[str, float] | None:
    """:func:`gpu_peak` of one :func:`gpu_info` entry (GeForce and RTX parts count as
    GeForce), or None when its maximum clock is unknown or its compute capability has no table
    entry."""
    if not gpu.get("max_clock_mhz") or tuple(gpu["capability"]) not in FP32_UNITS_PER_SM:
        return None
    return gpu_peak(gpu["sms"], gpu["capability"], gpu["max_clock_mhz"] / 1000,
                    geforce="GeForce" in gpu["name"] or "RTX" in gpu["name"])


def dram_bandwidth_gbs(mega_transfers_per_s: float, bus_bits: int = 64, channels: int = 1) -> float:
    """Theoretical memory bandwidth: transfers/s × bytes per transfer × channels (GB/s).
    DDR5-4800 dual channel: 4800e6 × 8 B × 2 = 76.8 GB/s; a GPU's GDDR6 at 14 Gb/s per pin on a
    256-bit bus: 14e9 × 256/8 = 448 GB/s (there the "MT/s" is the per-pin data rate)."""
    if mega_transfers_per_s <= 0 or bus_bits < 1 or channels < 1:
        raise ValueError("transfer rate, bus width and channels must be positive")
    return mega_transfers_per_s * 1e6 * bus_bits / 8 * channels / 1e9


# --------------------------------------------------------------------------------------------
# 3. measurement
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def num_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` (None: leave as is), then restore."""
    old = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise ValueError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_samples(fn, device="cpu", repeats: int = 5, min_time: float = 0.05,
                 warmup: int = 1, max_time: float | None = None,
                 calls: int | None = None) -> dict[str, list[float]]:
    """Seconds per call of ``fn``: ``repeats`` samples, each the mean of enough back-to-back calls
    to last at least ``min_time`` (so timer resolution and launch jitter do not dominate).

    Returns ``{"wall": [...], "cpu": [...]}``: wall-clock seconds, and this process's CPU seconds
    (all threads) per call. On a busy machine the wall time includes waiting for a core; the
    CPU time does not, so FLOPs / CPU-second estimates what one *busy* core delivers.
    ``max_time`` (seconds) stops after the sample that exceeds it, keeping at least two, so a
    slow point on a busy machine cannot stall a sweep; the last warm-up call sizes the samples.
    ``calls`` fixes the number of back-to-back calls per sample instead (then ``warmup`` may be
    0, for a caller that warms up itself). The pack's one timer: ``utils.nn.attention.time_call``
    and ``bench.common.time_call`` call it.
    """
    if repeats < 1 or min_time < 0 or warmup < 0 or (warmup < 1 and calls is None) \
            or (calls is not None and calls < 1):
        raise ValueError(f"repeats and warmup must be >= 1 (warmup >= 0 when calls is given), "
                         f"min_time >= 0 and calls >= 1, got repeats={repeats}, "
                         f"warmup={warmup}, min_time={min_time}, calls={calls}")
    once = None
    for _ in range(warmup):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        once = max(time.perf_counter() - t0, 1e-7)
    if calls is None:
        calls = max(1, int(min_time / once))
    wall, cpu = [], []
    start = time.perf_counter()
    for _ in range(repeats):
        _sync(device)
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        wall.append((time.perf_counter() - t0) / calls)
        cpu.append((time.process_time() - c0) / calls)
        if max_time is not None and len(wall) >= 2 and time.perf_counter() - start > max_time:
            break
    return {"wall": wall, "cpu": cpu}


_DTYPES = {"fp32": torch.float32, "fp64": torch.float64, "fp16": torch.float16,
           "bf16": torch.bfloat16}


def measure_matmul(n: int, threads: int | None = None, dtype: str = "fp32", device="cpu",
                   repeats: int = 5, min_time: float = 0.05, seed: int = 0,
                   m: int | None = None, k: int | None = None,
                   max_time: float | None = None) -> dict:
    """GFLOP/s of ``C = A @ B`` with A (m×k), B (k×n) (square n×n×n by default): 2·m·k·n FLOPs
    per call, one sample per repeat. ``gflops`` is per wall-clock second; ``gflop_per_cpu_s``
    per CPU-second of the process (see :func:`time_samples`)."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    m, k = m or n, k or n
    if min(m, k, n) < 1:
        raise ValueError(f"matrix sizes must be >= 1, got m={m}, k={k}, n={n}")
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, k, generator=g).to(device=device, dtype=_DTYPES[dtype])
    b = torch.randn(k, n, generator=g).to(device=device, dtype=_DTYPES[dtype])
    out = torch.empty(m, n, device=device, dtype=_DTYPES[dtype])
    with num_threads(threads if torch.device(device).type == "cpu" else None):
        secs = time_samples(lambda: torch.matmul(a, b, out=out), device, repeats, min_time,
                            max_time=max_time)
    flops = 2 * m * k * n
    return {"n": n, "m": m, "k": k, "threads": threads, "dtype": dtype, "device": str(device),
            "seconds": secs["wall"], "gflops": [flops / s / 1e9 for s in secs["wall"]],
            "gflop_per_cpu_s": [flops / max(c, 1e-9) / 1e9 for c in secs["cpu"]]}


def measure_bandwidth(op: str, nbytes: int, threads: int | None = None, device="cpu",
                      repeats: int = 5, min_time: float = 0.05,
                      max_time: float | None = None) -> dict:
    """GB/s of ``copy`` (``dst.copy_(src)``: counts the bytes read + written, 2·nbytes) or
    ``reduce`` (``src.sum()``: counts the bytes read, nbytes) on an fp32 tensor of ``nbytes``.

    A store to a cache line that is not yet cached first reads it (write-allocate), so the
    hardware moves up to 3·nbytes for a copy; the convention here counts 2·nbytes, the traffic
    a program asks for (STREAM's convention). ``gbs`` is per wall-clock second,
    ``gb_per_cpu_s`` per CPU-second of the process."""
    if op not in ("copy", "reduce"):
        raise ValueError(f"op must be 'copy' or 'reduce', got {op!r}")
    if nbytes < 4:
        raise ValueError(f"nbytes must be >= 4, got {nbytes}")
    numel = nbytes // 4
    src = torch.ones(numel, device=device)
    if op == "copy":
        dst = torch.empty_like(src)
        fn, moved = (lambda: dst.copy_(src)), 2 * numel * 4
    else:
        fn, moved = (lambda: src.sum()), numel * 4
    with num_threads(threads if torch.device(device).type == "cpu" else None):
        secs = time_samples(fn, device, repeats, min_time, max_time=max_time)
    return {"op": op, "nbytes": numel * 4, "threads": threads, "device": str(device),
            "seconds": secs["wall"], "gbs": [moved / s / 1e9 for s in secs["wall"]],
            "gb_per_cpu_s": [moved / max(c, 1e-9) / 1e9 for c in secs["cpu"]]}


# --------------------------------------------------------------------------------------------
# the register-only FMA probe (optional: needs a C compiler)
# --------------------------------------------------------------------------------------------

FMA_PROBE_C = r"""
/* Clock and FMA throughput of one core, from registers only (no memory traffic).
   clock: a chain of dependent 64-bit register-register multiplies (imul r64, r64), 3 cycles
          each on every x86-64 core since 2011 (Intel Sandy Bridge on, AMD Zen 1-5): no core
          can fold, fuse or eliminate them, unlike `add $1, reg` chains, which recent x86 cores
          fold so that several run per cycle (an earlier version of this probe read 22 GHz).
          Cross-check: a chain of dependent register-register adds (1 cycle each).
          On ARM64, `mul` (latency 3 on Cortex-A7x/Neoverse) and `add`.
   FMA:   NACC independent chains acc = acc*a + b on VBYTES-wide vectors, enough chains to
          cover the FMA latency on every pipe, so the pipes never wait.
   Time is this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so time slices lost to other
   processes on a busy machine do not count; each figure is the best of BURSTS short bursts.
   Output: imul-chain GHz, add-chain GHz, FMA GFLOP/s, fp32 lanes. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifndef VBYTES
#define VBYTES 32
#endif
#define NACC 12
#define LANES (VBYTES / 4)
#define BURSTS 7
#define MUL_LATENCY 3
typedef float vf __attribute__((vector_size(VBYTES)));

static double cpu_now(void) {
    struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double mul_clock_ghz(long iters) {
    unsigned long x = 1, m = 3;
    double t0 = cpu_now();
    for (long i = 0; i < iters; i++) {
#if defined(__x86_64__)
        __asm__ volatile(".rept 100\n\timul %1, %0\n\t.endr" : "+r"(x) : "r"(m));
#elif defined(__aarch64__)
        __asm__ volatile(".rept 100\n\tmul %0, %0, %1\n\t.endr" : "+r"(x) : "r"(m));
#else
        return -1.0;
#endif
    }
    double dt = cpu_now() - t0;
    if (x == 0) return -1.0;   /* 3^n mod 2^64 is odd, never 0: keeps x alive */
    return (double)MUL_LATENCY * 100.0 * iters / dt / 1e9;
}

static double add_clock_ghz(long iters) {
    long x = 0, one = 1;
    double t0 = cpu_now();
    for (long i = 0; i < iters; i++) {
#if defined(__x86_64__)
        __asm__ volatile(".rept 100\n\tadd %1, %0\n\t.endr" : "+r"(x) : "r"(one));
#elif defined(__aarch64__)
        __asm__ volatile(".rept 100\n\tadd %0, %0, %1\n\t.endr" : "+r"(x) : "r"(one));
#else
        return -1.0;
#endif
    }
    double dt = cpu_now() - t0;
    if (x != 100 * iters) return -1.0;
    return 100.0 * iters / dt / 1e9;
}

static double fma_gflops(long iters, float av, float bv) {
    vf acc[NACC], a, b;
    for (int j = 0; j < LANES; j++) { a[j] = av; b[j] = bv; }
    for (int i = 0; i < NACC; i++) for (int j = 0; j < LANES; j++) acc[i][j] = (float)(i + j);
    double t0 = cpu_now();
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < NACC; i++) acc[i] = acc[i] * a + b;
    }
    double dt = cpu_now() - t0;
    float s = 0; for (int i = 0; i < NACC; i++) for (int j = 0; j < LANES; j++) s += acc[i][j];
    if (s == 12345.678f) printf("#");  /* keep the result alive */
    return 2.0 * LANES * NACC * (double)iters / dt / 1e9;
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 3000000;
    float av = argc > 2 ? (float)atof(argv[2]) : 0.999999f;
    double ghz = 0, add = 0, gf = 0;
    for (int r = 0; r < BURSTS; r++) {   /* alternate, keep the best of each */
        double g = mul_clock_ghz(iters / 24), a = add_clock_ghz(iters / 8),
               f = fma_gflops(iters, av, 1e-7f);
        if (g > ghz) ghz = g;
        if (a > add) add = a;
        if (f > gf) gf = f;
    }
    printf("%.6f %.6f %.6f %d\n", ghz, add, gf, LANES);
    return 0;
}
"""


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def build_fma_probe(vector_bytes: int) -> str | None:
    """Compile :data:`FMA_PROBE_C` once per (source, compiler, width) into the cache; returns the
    executable's path, or None without a C compiler or when compilation fails."""
    cc = _compiler()
    if cc is None or platform.machine() not in ("x86_64", "AMD64", "aarch64", "arm64"):
        return None
    arch_flag = "-mcpu=native" if platform.machine() in ("aarch64", "arm64") else "-march=native"
    flags = ["-O2", arch_flag, "-ffp-contract=fast", f"-DVBYTES={vector_bytes}"]
    key = hashlib.sha256((FMA_PROBE_C + cc + " ".join(flags) + platform.node()).encode()
                         ).hexdigest()[:12]
    folder = cache_dir() / "hardware"
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / f"fma_probe_{key}"
    if exe.exists():
        return str(exe)
    src = folder / f"fma_probe_{key}.c"
    src.write_text(FMA_PROBE_C)
    tmp = folder / f".fma_probe_{key}.{os.getpid()}"
    try:
        subprocess.run([cc, *flags, "-o", str(tmp), str(src)], check=True, capture_output=True,
                       timeout=120)
        os.replace(tmp, exe)
    except (OSError, subprocess.SubprocessError):
        return None
    return str(exe)


def fma_probe(cpu: CPUInfo | None = None, copies: int = 1, iters: int = 3_000_000,
              timeout: float = 60.0) -> dict | None:
    """Measure the clock and the register-only FMA peak with :data:`FMA_PROBE_C`.

    ``copies`` processes run at once, one pinned to each CPU, to see whether the cores share FMA
    units (SMT siblings) or really add up. The probe times with its own CPU-time clock and keeps
    the best of several bursts, so other processes on a busy machine disturb it little. Returns per-copy lists ``clock_ghz`` and
    ``gflops`` plus ``flop_per_cycle`` (= GFLOP/s / GHz of copy 0) and ``fma_pipes`` (=
    FLOP/cycle / (2 × lanes)); None when no probe can be built here.
    """
    cpu = cpu or cpu_info()
    width, _ = simd_width(cpu.flags)
    exe = build_fma_probe(max(16, width // 8))
    if exe is None:
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = list(range(os.cpu_count() or 1))
    if copies < 1 or copies > len(cpus):
        raise ValueError(f"copies must be between 1 and {len(cpus)} (usable CPUs), got {copies}")
    procs = []
    for i in range(copies):
        pin = cpus[i]
        procs.append(subprocess.Popen(
            [exe, str(iters)], stdout=subprocess.PIPE, text=True,
            preexec_fn=(lambda c=pin: os.sched_setaffinity(0, {c}))
            if hasattr(os, "sched_setaffinity") else None))
    clocks, adds, gflops, lanes = [], [], [], 0
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        ghz, add, gf, lanes = out.split()[-4:]
        clocks.append(float(ghz))
        adds.append(float(add))
        gflops.append(float(gf))
        lanes = int(lanes)
    if clocks[0] <= 0:
        return None
    fpc = gflops[0] / clocks[0]
    return {"clock_ghz": clocks, "add_clock_ghz": adds, "gflops": gflops, "lanes": lanes,
            "flop_per_cycle": fpc, "fma_pipes": fpc / (2 * lanes), "copies": copies}


# --------------------------------------------------------------------------------------------
# sanity checks on the probe's readings
# --------------------------------------------------------------------------------------------

CLOCK_RANGE_GHZ = (0.5, 6.0)   # no CPU core of the last 20 years runs outside this
PIPE_TOLERANCE = 0.2           # a pipe count must read within ±0.2 of a whole number


@dataclass(frozen=True)
class ProbeVerdict:
    """What the peak formula may use from a probe reading, and why.

    ``clock_ghz`` and ``fma_pipes`` are the values to use (measured when plausible, else the
    nominal clock / the table's pipes); ``*_measured`` say which; ``warnings`` is what was
    rejected, in sentences (printed by :func:`check_probe` when ``verbose``)."""

    clock_ghz: float | None
    clock_measured: bool
    fma_pipes: int
    pipes_measured: bool
    pipes_raw: float | None
    warnings: tuple = ()


def check_probe(probe: dict | None, cpu: CPUInfo, verbose: bool = True,
                gflops: float | None = None) -> ProbeVerdict:
    """Sanity-check a :func:`fma_probe` reading against what can be true.

    * clock: the imul-chain clock must lie in :data:`CLOCK_RANGE_GHZ`; otherwise the nominal
      clock is used. When the register-add chain disagrees by more than 25 %, a warning says
      so (a core that folds adds reads too high; the multiply chain cannot be folded).
    * FMA pipes = FMA GFLOP/s / (clock × 2 × lanes) must be a whole number ≥ 1 within
      :data:`PIPE_TOLERANCE`; a fractional count (a clock that drops while 512-bit FMAs run,
      a shared core, a wrong clock) falls back to :func:`fma_pipes_guess`.
    ``gflops`` overrides the probe's own one-copy FMA rate (e.g. the per-CPU rate with every
    CPU busy). ``probe=None`` (no compiler) gives the nominal clock and the table's pipes.
    """
    table_pipes, _ = fma_pipes_guess(cpu)
    nominal = cpu.nominal_mhz / 1000 if cpu.nominal_mhz else None
    warns = []
    if not probe:
        return ProbeVerdict(nominal, False, table_pipes, False, None, ())
    lo, hi = CLOCK_RANGE_GHZ
    ghz = probe["clock_ghz"][0]
    clock, clock_ok = ghz, lo <= ghz <= hi
    if not clock_ok:
        clock = nominal
        warns.append(f"the probe's clock reading {ghz:.2f} GHz is outside the plausible "
                     f"{lo}-{hi} GHz, so the nominal {nominal or float('nan'):.2f} GHz is used")
    add = (probe.get("add_clock_ghz") or [None])[0]
    if clock_ok and add and abs(add / ghz - 1) > 0.25:
        warns.append(f"the add chain reads {add:.2f} GHz against the multiply chain's "
                     f"{ghz:.2f} GHz: this core runs dependent adds faster than one per cycle "
                     f"(the multiply chain, which cannot be folded, is used)")
    rate = probe["gflops"][0] if gflops is None else gflops
    raw = rate / (clock * 2 * probe["lanes"]) if clock else None
    pipes, pipes_ok = table_pipes, False
    if raw is not None and round(raw) >= 1 and abs(raw - round(raw)) <= PIPE_TOLERANCE:
        pipes, pipes_ok = int(round(raw)), True
    elif raw is not None:
        warns.append(f"the FMA rate gives {raw:.2f} FMA pipes at {clock:.2f} GHz, not a whole "
                     f"number (a core that lowers its clock while wide FMAs run, a shared core "
                     f"or a busy machine), so the table's {table_pipes} pipe(s) are used")
    if verbose:
        for w in warns:
            print(f"WARNING: {w}.")
    return ProbeVerdict(clock, clock_ok, pipes, pipes_ok, raw, tuple(warns))


# --------------------------------------------------------------------------------------------
# sentences derived from what is detected and measured (notebook 00 renders these)
# --------------------------------------------------------------------------------------------

def cache_bytes(size: str) -> int:
    """``'32768K'`` / ``'1M'`` / ``'480 MiB'`` (as /sys and lscpu write them) in bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG])?(?:i?B)?\s*", size)
    if not m:
        raise ValueError(f"cache size must look like '32K', '1M' or '480 MiB', got {size!r}")
    return int(float(m.group(1)) * {None: 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)])


def last_level_cache_bytes(cpu: CPUInfo) -> int | None:
    """Size of the largest data/unified cache level reported (None when none is)."""
    data = [(lvl, cache_bytes(size)) for lvl, typ, size, _ in cpu.caches if typ != "Instruction"]
    return max(data)[1] if data else None


def dram_buffer_bytes(cpu: CPUInfo, available_bytes: int, factor: int = 4,
                      cap_bytes: int = 2**30, floor_bytes: int = 2**26) -> dict:
    """Size of a buffer that must stream from DRAM: ``factor`` × the last-level cache, rounded
    up to a power of two, at least ``floor_bytes``, at most ``cap_bytes`` and at most 1/8 of the
    available memory (a copy needs two buffers). Returns ``nbytes``, ``llc`` (bytes or None),
    ``times_llc`` and ``capped`` (True when the cap kept it below ``factor`` × the cache)."""
    if factor < 1 or cap_bytes < 4 or available_bytes < 8:
        raise ValueError("factor must be >= 1, cap_bytes >= 4 and available_bytes >= 8")
    llc = last_level_cache_bytes(cpu)
    want = max(floor_bytes, factor * (llc or 0))
    want = 1 << (want - 1).bit_length()
    limit = min(cap_bytes, available_bytes // 8)
    limit = 1 << (limit.bit_length() - 1)
    nbytes = min(want, limit)
    return {"nbytes": nbytes, "llc": llc, "times_llc": nbytes / llc if llc else None,
            "capped": nbytes < factor * (llc or 0)}


def dram_caption(nbytes: int, llc: int | None, factor: int = 4) -> str:
    """How a buffer of ``nbytes`` relates to the last-level cache, as the caption states it."""
    mib = f"{nbytes / 2**20:g} MiB"
    if not llc:
        return f"{mib} (no cache sizes were reported, so whether it fits in a cache is unknown)"
    ratio = nbytes / llc
    if ratio >= factor:
        return (f"{mib}, {ratio:g}× the {llc / 2**20:g} MiB last-level cache: it streams from "
                f"DRAM")
    if ratio > 1:
        return (f"{mib}, only {ratio:.2g}× the {llc / 2**20:g} MiB last-level cache: part of "
                f"it may still be served from the cache, so this is an upper bound on DRAM "
                f"bandwidth")
    return (f"{mib}, which fits in the {llc / 2**20:g} MiB last-level cache: this is cache "
            f"bandwidth, not DRAM bandwidth")


def low_precision_sentence(flags, ratios: dict | None = None) -> str:
    """What fp16 and bf16 buy on this CPU: the flags' promise, then the measured matmul rate
    against fp32 (``ratios``: dtype -> rate / fp32 rate, per CPU-second) when given."""
    lp = low_precision_support(flags)
    parts = []
    for dt in ("fp16", "bf16"):
        promise = ("native arithmetic (" + lp[dt]["why"].split(":")[0] + ")" if lp[dt]["native"]
                   else "no native arithmetic")
        if ratios and dt in ratios:
            r = ratios[dt]
            verdict = ("faster than" if r > 1.1 else "slower than" if r < 0.9 else
                       "about as fast as")
            parts.append(f"{dt}: {promise}; its matmul measured {r:.2f}× the fp32 rate, "
                         f"{verdict} fp32")
        else:
            parts.append(f"{dt}: {promise}")
    return "; ".join(parts) + "."


def kernel_choice_note(cpu: CPUInfo) -> str:
    """Why the BLAS kernel may not be the best one for this CPU, from what is detected."""
    cap = torch.backends.cpu.get_cpu_capability()
    note = (f"torch dispatches its {cap} kernels here; oneDNN/MKL choose their own by CPUID, "
            f"and a kernel tuned for another microarchitecture wastes issue slots")
    if cpu.hypervisor:
        note += (f"; this is a VM reporting '{cpu.model}' (family {cpu.family}, model "
                 f"{cpu.model_number}), and a VM may mask flags the host has")
    return note
