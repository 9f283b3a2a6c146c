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
