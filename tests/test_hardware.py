"""utils.hardware: parsing, the peak formula on hand examples, and the measurement plumbing.

No timing assertions (speed is ``make bench``): measurements are checked for structure and
internal consistency (GFLOP/s = 2n³ / seconds), the formulas against hand-computed values.
"""

import math
import os

import pytest
import torch

from utils import hardware as hw

X86 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 23
model		: 49
model name	: AMD EPYC 7B12
cpu MHz		: 2250.000
physical id	: 0
core id		: 0
flags		: fpu sse sse2 avx avx2 fma f16c hypervisor

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 23
model		: 49
model name	: AMD EPYC 7B12
cpu MHz		: 2250.000
physical id	: 0
core id		: 0
flags		: fpu sse sse2 avx avx2 fma f16c hypervisor

processor	: 2
vendor_id	: AuthenticAMD
cpu family	: 23
model		: 49
model name	: AMD EPYC 7B12
cpu MHz		: 2250.000
physical id	: 0
core id		: 1
flags		: fpu sse sse2 avx avx2 fma f16c hypervisor
"""

ARM = """processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16
CPU implementer	: 0x41

processor	: 1
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16
CPU implementer	: 0x41
"""


def test_parse_x86_cpuinfo():
    cpu = hw.cpu_info_from_text(X86)
    assert cpu.model == "AMD EPYC 7B12" and cpu.vendor == "AuthenticAMD"
    assert (cpu.family, cpu.model_number) == (23, 49)
    assert cpu.logical_cpus == 3 and cpu.physical_cores == 2 and cpu.threads_per_core == 1
    assert cpu.nominal_mhz == 2250.0 and cpu.hypervisor and "avx2" in cpu.flags


def test_parse_arm_cpuinfo_and_low_precision():
    cpu = hw.cpu_info_from_text(ARM)
    assert cpu.logical_cpus == 2 and cpu.physical_cores == 2 and cpu.nominal_mhz is None
    assert hw.simd_width(cpu.flags) == (128, "NEON")
    lp = hw.low_precision_support(cpu.flags)
    assert lp["fp16"]["native"] and lp["bf16"]["native"]
    with pytest.raises(ValueError, match="clock is unknown"):
        hw.theoretical_peak(cpu)


def test_empty_cpuinfo_is_an_error():
    with pytest.raises(ValueError, match="no CPU entries"):
        hw.cpu_info_from_text("\n\n")


def test_peak_hand_example_zen2():
    # Zen 2 (family 17h, model 31h): 2 cores × 8 fp32 lanes × 2 FLOP × 2 pipes × 2.25 GHz
    cpu = hw.cpu_info_from_text(X86)
    est = hw.theoretical_peak(cpu)
    assert (est.cores, est.simd_lanes, est.flop_per_fma, est.fma_pipes) == (2, 8, 2, 2)
    assert est.gflops == pytest.approx(2 * 8 * 2 * 2 * 2.25)
    assert est.flop_per_cycle_per_core == 32
    # fp64 halves the lanes; fp16 with F16C only keeps the fp32 lanes (conversion, not math)
    assert hw.theoretical_peak(cpu, "fp64").gflops == pytest.approx(est.gflops / 2)
    assert hw.theoretical_peak(cpu, "fp16").gflops == pytest.approx(est.gflops)
    # measured clock and pipes override the nominal ones
    assert hw.theoretical_peak(cpu, clock_ghz=3.0, fma_pipes=1).gflops == pytest.approx(96.0)


def test_peak_native_fp16_doubles_lanes_and_zen1_has_one_pipe():
    avx512 = hw.CPUInfo("Xeon", "GenuineIntel", 6, 143, 4, 4, 1,
                        frozenset({"avx512f", "avx2", "fma", "avx512_fp16"}), 2000.0)
    assert hw.theoretical_peak(avx512, "fp32").simd_lanes == 16
    assert hw.theoretical_peak(avx512, "fp16").simd_lanes == 32
    zen1 = hw.CPUInfo("EPYC", "AuthenticAMD", 23, 1, 2, 2, 1,
                      frozenset({"avx2", "fma"}), 2000.0)
    assert hw.fma_pipes_guess(zen1)[0] == 1
    assert hw.theoretical_peak(zen1).gflops == pytest.approx(2 * 8 * 2 * 1 * 2.0)


def test_student_i7_example():
    # seed 002's own formula: 12 cores × 16 FLOP/cycle × 3.6 GHz = 691.2 GFLOP/s
    assert hw.PeakEstimate("fp32", 12, 8, 2, 1, 3.6).gflops == pytest.approx(691.2)
    # with two FMA pipes on the 8 P-cores and the E-cores at 2.7 GHz: 921.6 + 172.8
    p, e = hw.PeakEstimate("fp32", 8, 8, 2, 2, 3.6), hw.PeakEstimate("fp32", 4, 8, 2, 1, 2.7)
    assert p.gflops + e.gflops == pytest.approx(1094.4)


def test_gpu_peak_rtx_3060ti():
    g = hw.gpu_peak(38, (8, 6), 1.665, geforce=True)
    assert g["fp32"] == pytest.approx(38 * 128 * 2 * 1.665)          # 16.2 TFLOP/s
    assert g["fp16_tensor"] == pytest.approx(38 * 1024 * 1.665)      # 64.8
    assert g["fp16_tensor_fp32_acc"] == pytest.approx(g["fp16_tensor"] / 2)
    a100 = hw.gpu_peak(108, (8, 0), 1.41)
    assert a100["fp16_tensor"] / 1e3 == pytest.approx(312, rel=0.01)   # A100's rated 312
    with pytest.raises(ValueError, match="compute capability"):
        hw.gpu_peak(10, (5, 0), 1.0)


def test_gpu_peak_of_a_gpu_info_entry():
    """The peak of a gpu_info() entry is gpu_peak of its fields (an RTX name halves the
    fp32-accumulate tensor rate on Ampere); no clock or an unknown capability gives None."""
    rtx = {"name": "NVIDIA GeForce RTX 3060 Ti", "sms": 38, "capability": (8, 6),
           "max_clock_mhz": 1665.0}
    assert hw.gpu_peak_of(rtx) == hw.gpu_peak(38, (8, 6), 1.665, geforce=True)
    h200 = {"name": "NVIDIA H200", "sms": 132, "capability": [9, 0], "max_clock_mhz": 1980.0}
    assert hw.gpu_peak_of(h200)["fp16_tensor"] == pytest.approx(132 * 4096 * 1.98)
    assert hw.gpu_peak_of(h200)["fp16_tensor_fp32_acc"] == hw.gpu_peak_of(h200)["fp16_tensor"]
    assert hw.gpu_peak_of({**h200, "max_clock_mhz": None}) is None
    assert hw.gpu_peak_of({**h200, "capability": (5, 0)}) is None


def test_dram_bandwidth():
    assert hw.dram_bandwidth_gbs(4800, 64, 2) == pytest.approx(76.8)
    assert hw.dram_bandwidth_gbs(14000, 256) == pytest.approx(448.0)
    with pytest.raises(ValueError):
        hw.dram_bandwidth_gbs(0)


def test_this_machine_is_detected():
    cpu = hw.cpu_info()
    assert cpu.logical_cpus >= 1 and cpu.physical_cores >= 1
    fp = hw.machine_fingerprint(cpu)
    assert cpu.model in fp and f"{cpu.logical_cpus} CPUs" in fp
    mem = hw.memory_info()
    assert 0 < mem["available_bytes"] <= mem["total_bytes"]
    assert hw.gpu_info() == [] or torch.cuda.is_available()


def test_measure_matmul_is_consistent():
    r = hw.measure_matmul(48, threads=1, repeats=3, min_time=0.0)
    assert len(r["gflops"]) == len(r["seconds"]) == 3
    for g, s in zip(r["gflops"], r["seconds"]):
        assert g == pytest.approx(2 * 48 ** 3 / s / 1e9)
    rect = hw.measure_matmul(16, m=8, k=4, repeats=1, min_time=0.0)
    assert rect["gflops"][0] == pytest.approx(2 * 8 * 4 * 16 / rect["seconds"][0] / 1e9)


def test_measure_bandwidth_is_consistent():
    c = hw.measure_bandwidth("copy", 1 << 16, threads=1, repeats=2, min_time=0.0)
    r = hw.measure_bandwidth("reduce", 1 << 16, threads=1, repeats=2, min_time=0.0)
    assert c["gbs"][0] == pytest.approx(2 * (1 << 16) / c["seconds"][0] / 1e9)
    assert r["gbs"][0] == pytest.approx((1 << 16) / r["seconds"][0] / 1e9)


def test_num_threads_restores():
    before = torch.get_num_threads()
    with hw.num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"):
        with hw.num_threads(0):
            pass


def test_bad_measurement_arguments():
    with pytest.raises(ValueError, match="dtype must be one of"):
        hw.measure_matmul(8, dtype="int8")
    with pytest.raises(ValueError, match="op must be"):
        hw.measure_bandwidth("triad", 1024)
    with pytest.raises(ValueError, match="repeats and warmup must be"):
        hw.time_samples(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="dtype must be one of"):
        hw.theoretical_peak(hw.cpu_info_from_text(X86), dtype="fp8")


@pytest.mark.skipif(hw.build_fma_probe(32) is None or "avx2" not in hw.cpu_info().flags,
                    reason="needs a C compiler and an AVX2 CPU")
def test_fma_probe_reports_lanes_and_a_consistent_ratio():
    r = hw.fma_probe(copies=1, iters=200_000)
    assert r["lanes"] == hw.simd_width(hw.cpu_info().flags)[0] // 32
    assert r["clock_ghz"][0] > 0 and r["gflops"][0] > 0
    assert r["flop_per_cycle"] == pytest.approx(r["gflops"][0] / r["clock_ghz"][0])
    assert r["fma_pipes"] == pytest.approx(r["flop_per_cycle"] / (2 * r["lanes"]))
    with pytest.raises(ValueError, match="copies must be"):
        hw.fma_probe(copies=len(os.sched_getaffinity(0)) + 1)


def test_time_samples_counts_calls():
    calls = []
    out = hw.time_samples(lambda: calls.append(1), repeats=3, warmup=0, calls=4)
    assert len(calls) == 12 and len(out["wall"]) == len(out["cpu"]) == 3
    calls.clear()
    hw.time_samples(lambda: calls.append(1), repeats=2, warmup=2, min_time=0)
    assert len(calls) == 4                               # 2 warm-up + 2 samples of one call
    with pytest.raises(ValueError, match="repeats and warmup must be"):
        hw.time_samples(lambda: None, warmup=0)          # nothing would size the samples
    with pytest.raises(ValueError, match="calls >= 1"):
        hw.time_samples(lambda: None, calls=0)


# --------------------------------------------------------------------------------------------
# the probe's sanity checks and the sentences of notebook 00, on recorded detections of three
# machines: this project machine (recorded: tests/fixtures/hardware/zen4_avx512_bf16.json), the
# AVX-512/AMX Xeon of issue 17 (constructed from the numbers: 2 cores, nominal 2.6 GHz,
# 480 MiB L3, old probe 23.25 GHz and 0.24 pipes, imul/add chains ~4.1 GHz) and an AVX2 Zen 2
# (constructed: the EPYC 7B12 above, 16 MiB L3 per CCX, 3.3 GHz boost, two 256-bit FMA pipes).
# --------------------------------------------------------------------------------------------

import json
from pathlib import Path

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "hardware" /
                       "zen4_avx512_bf16.json").read_text())


def _block(i, vendor, fam, model, name, mhz, flags, core):
    return (f"processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {fam}\nmodel\t\t: {model}\n"
            f"model name\t: {name}\ncpu MHz\t\t: {mhz}\nphysical id\t: 0\ncore id\t\t: {core}\n"
            f"flags\t\t: {flags}\n\n")


XEON_FLAGS = ("fpu sse sse2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16 "
              "avx512_fp16 amx_bf16 amx_tile amx_int8 avx_vnni hypervisor")
XEON = hw.cpu_info_from_text(
    "".join(_block(i, "GenuineIntel", 6, 173, "Intel(R) Xeon(R) Processor", "2600.000",
                   XEON_FLAGS, i) for i in range(2)),
    caches=((1, "Data", "48K", "0"), (2, "Unified", "2048K", "0"),
            (3, "Unified", "491520K", "0-1")))
# the old probe (add $1 chain) on the Xeon, and the new one (imul chain) as the issue measured it
XEON_OLD_PROBE = {"clock_ghz": [23.25], "gflops": [0.24 * 2 * 16 * 23.25], "lanes": 16}
XEON_NEW_PROBE = {"clock_ghz": [4.1], "add_clock_ghz": [4.1],
                  "gflops": [0.24 * 2 * 16 * 23.25], "lanes": 16}
ZEN2 = hw.cpu_info_from_text(
    "".join(_block(i, "AuthenticAMD", 23, 49, "AMD EPYC 7B12", "2250.000",
                   "fpu sse sse2 avx avx2 fma f16c hypervisor", i) for i in range(2)),
    caches=((1, "Data", "32K", "0"), (2, "Unified", "512K", "0"), (3, "Unified", "16384K", "0-1")))
ZEN2_PROBE = {"clock_ghz": [3.3], "add_clock_ghz": [3.3], "gflops": [2 * 2 * 8 * 3.3 * 0.98],
              "lanes": 8}
ZEN4 = hw.cpu_info_from_text(RECORDED["cpuinfo"], caches=tuple(map(tuple, RECORDED["caches"])))


def test_recorded_machine_is_zen4_with_avx512_bf16_and_no_amx():
    assert (ZEN4.vendor, ZEN4.family, ZEN4.model_number) == ("AuthenticAMD", 25, 17)
    assert {"avx512f", "avx512_bf16"} <= ZEN4.flags and "amx_bf16" not in ZEN4.flags
    assert "avx512_fp16" not in ZEN4.flags
    # Zen 4 splits a 512-bit FMA over its two 256-bit units: one full-width pipe, as recorded
    assert hw.fma_pipes_guess(ZEN4)[0] == 1
    assert round(RECORDED["probe_single"]["fma_pipes"]) == 1
    zen3 = hw.CPUInfo("EPYC", "AuthenticAMD", 25, 1, 2, 2, 1, frozenset({"avx2", "fma"}), 2000.)
    assert hw.fma_pipes_guess(zen3)[0] == 2


def test_check_probe_rejects_the_folded_add_clock_and_falls_back_to_nominal(capsys):
    v = hw.check_probe(XEON_OLD_PROBE, XEON)
    assert not v.clock_measured and v.clock_ghz == pytest.approx(2.6)
    assert "23.25 GHz" in capsys.readouterr().out            # the warning is printed
    # at the nominal clock the FMA rate is 178.6 / (2.6 × 32) = 2.15 pipes: two, measured
    assert v.pipes_raw == pytest.approx(0.24 * 2 * 16 * 23.25 / (2.6 * 32))
    assert v.fma_pipes == 2 and v.pipes_measured
    # the nominal peak: 2 cores × 16 lanes × 2 × 2 pipes × 2.6 GHz = 332.8
    est = hw.theoretical_peak(XEON, clock_ghz=v.clock_ghz, fma_pipes=v.fma_pipes)
    assert est.gflops == pytest.approx(332.8)


def test_check_probe_imul_clock_on_the_xeon_and_fractional_pipes_fall_back():
    v = hw.check_probe(XEON_NEW_PROBE, XEON, verbose=False)
    assert v.clock_measured and v.clock_ghz == pytest.approx(4.1)
    assert v.pipes_raw == pytest.approx(178.56 / (4.1 * 32))      # 1.36: not a whole number
    assert not v.pipes_measured and v.fma_pipes == hw.fma_pipes_guess(XEON)[0] == 2
    assert any("not a whole number" in w for w in v.warnings)
    # a one-thread matmul at 80 % of a 2-pipe core at nominal clock is below this peak
    one_core = hw.theoretical_peak(XEON, clock_ghz=v.clock_ghz, fma_pipes=v.fma_pipes, cores=1)
    assert 0.8 * 2 * 16 * 2 * 2.6 / one_core.gflops <= 1


def test_check_probe_on_recorded_zen4_and_constructed_avx2():
    p = RECORDED["probe_single"]
    v = hw.check_probe(p, ZEN4, verbose=False)
    assert v.clock_measured and v.clock_ghz == p["clock_ghz"][0] and v.warnings == ()
    assert RECORDED["nominal_ghz"] <= v.clock_ghz <= 6.0           # nominal..turbo
    assert v.fma_pipes == 1 and v.pipes_measured
    peak = hw.theoretical_peak(ZEN4, clock_ghz=v.clock_ghz, fma_pipes=v.fma_pipes, cores=1)
    assert peak.gflops == pytest.approx(16 * 2 * 1 * p["clock_ghz"][0])
    assert RECORDED["matmul_1thread_gflops_512"] / peak.gflops <= 1
    # all CPUs busy: same verdict from the per-CPU rate
    allc = RECORDED["probe_all"]
    v_all = hw.check_probe(p, ZEN4, verbose=False, gflops=sum(allc["gflops"]) / 2)
    assert v_all.fma_pipes == 1 and v_all.pipes_measured
    z = hw.check_probe(ZEN2_PROBE, ZEN2, verbose=False)
    assert (z.clock_ghz, z.fma_pipes, z.pipes_measured) == (3.3, 2, True)
    assert z.pipes_raw == pytest.approx(0.98 * 2)


def test_check_probe_add_disagreement_and_missing_probe():
    folded = {**XEON_NEW_PROBE, "add_clock_ghz": [23.25]}
    v = hw.check_probe(folded, XEON, verbose=False)
    assert v.clock_ghz == 4.1 and any("add chain reads 23.25" in w for w in v.warnings)
    none = hw.check_probe(None, ZEN2, verbose=False)
    assert (none.clock_ghz, none.fma_pipes, none.clock_measured) == (2.25, 2, False)
    too_slow = {**ZEN2_PROBE, "clock_ghz": [0.3]}
    assert hw.check_probe(too_slow, ZEN2, verbose=False).clock_ghz == 2.25


def test_cache_bytes_and_last_level_cache():
    assert hw.cache_bytes("32768K") == 32 * 2**20 and hw.cache_bytes("480 MiB") == 480 * 2**20
    assert hw.cache_bytes("1M") == 2**20 and hw.cache_bytes("512") == 512
    with pytest.raises(ValueError, match="cache size"):
        hw.cache_bytes("big")
    assert hw.last_level_cache_bytes(XEON) == 480 * 2**20
    assert hw.last_level_cache_bytes(ZEN4) == 32 * 2**20
    assert hw.last_level_cache_bytes(hw.cpu_info_from_text(X86)) is None


@pytest.mark.parametrize("cpu", [XEON, ZEN2, ZEN4], ids=["xeon-amx", "zen2-avx2", "zen4"])
def test_dram_buffer_is_sized_from_the_cache_and_the_caption_is_true(cpu):
    d = hw.dram_buffer_bytes(cpu, 8 * 2**30, cap_bytes=2**30)
    llc = hw.last_level_cache_bytes(cpu)
    assert d["nbytes"] & (d["nbytes"] - 1) == 0 and d["nbytes"] <= 2**30
    assert d["capped"] == (d["nbytes"] < 4 * llc)
    if not d["capped"]:
        assert d["nbytes"] >= 4 * llc
    caption = hw.dram_caption(d["nbytes"], llc)
    # the caption claims DRAM only when the buffer is at least 4x the cache
    assert ("streams from DRAM" in caption) == (d["nbytes"] >= 4 * llc)
    assert f"{llc / 2**20:g} MiB last-level cache" in caption
    assert "far beyond" not in caption
    # the smoke profile's 8 MiB buffer is cache, not DRAM, on all three
    assert "fits in the" in hw.dram_caption(2**23, llc)


def test_dram_buffer_numbers():
    xeon = hw.dram_buffer_bytes(XEON, 8 * 2**30, cap_bytes=2**30)
    assert xeon["nbytes"] == 2**30 and xeon["capped"]               # 4 × 480 MiB > the cap
    assert xeon["times_llc"] == pytest.approx(1024 / 480)
    assert hw.dram_buffer_bytes(ZEN4, 8 * 2**30)["nbytes"] == 128 * 2**20   # exactly 4 × 32
    assert hw.dram_buffer_bytes(ZEN2, 8 * 2**30)["nbytes"] == 64 * 2**20    # 4 × 16
    assert hw.dram_buffer_bytes(ZEN2, 2**28)["nbytes"] == 2**25     # 1/8 of available memory


def test_low_precision_sentence_follows_flags_and_measurements():
    xeon = hw.low_precision_sentence(XEON.flags)
    assert "fp16: native arithmetic (AVX512-FP16)" in xeon
    assert "bf16: native arithmetic (AMX-BF16" in xeon
    zen2 = hw.low_precision_sentence(ZEN2.flags, {"fp16": 0.05, "bf16": 0.95})
    assert "fp16: no native arithmetic; its matmul measured 0.05× the fp32 rate, slower" in zen2
    assert "bf16: no native arithmetic; its matmul measured 0.95× the fp32 rate, about as fast" \
        in zen2
    zen4 = hw.low_precision_sentence(ZEN4.flags, {"fp16": 0.3, "bf16": 2.4})
    assert "bf16: native arithmetic (AVX512-BF16); its matmul measured 2.40× the fp32 rate, " \
           "faster than fp32" in zen4 and "fp16: no native" in zen4


def test_kernel_note_names_the_detected_cpu():
    assert "'Intel(R) Xeon(R) Processor' (family 6, model 173)" in hw.kernel_choice_note(XEON)
    bare = hw.CPUInfo("Some CPU", "x", 1, 2, 1, 1, 1, frozenset({"avx2"}))
    assert "VM" not in hw.kernel_choice_note(bare)


def test_notebook_00_has_no_hard_coded_machine_facts():
    src = (Path(__file__).parents[1] / "notebooks" / "00_hardware.py").read_text()
    for phrase in ("far beyond the", "generic 'AMD EPYC'", "F16C-only", "no faster on this CPU",
                   "round(pipes_alone)", "round(pipes_shared)"):
        assert phrase not in src, phrase
