"""What only a GPU can check (issue 20 and the pack's GPU paths), as one prepared command.

A session lent a GPU machine has 15 minutes of device time in all, a minute or two of it spent
starting the machine; this module is what to run there, in one call, so that no device time
goes to writing or debugging it. It checks:

1. **Sweeps on the GPU through both engines.** The same four small arithmetic runs (GPT,
   p = 11, 300 steps, seeds 0-3) trained with ``device="cuda"`` through ``processes`` and
   through ``dask`` (a ``LocalCluster`` with the one-GPU-per-worker plugin), against the same
   runs trained on the CPU in this process: every worker must see exactly one GPU
   (``CUDA_VISIBLE_DEVICES``), every run must have trained on it, and the final validation
   losses must agree with the CPU's (float32 on both; a GPU's reduction order differs, so the
   check allows 1e-3).
2. **The pack's trainers on the GPU** against the CPU (same tolerance): notebooks 06/07's
   ``run_lm_many`` (and a run interrupted at step 20 and resumed there; likewise an arithmetic
   run of notebooks 10-16 at step 150), generation from a model on the GPU with a seeded CPU
   generator (greedy and top-p: the same tokens), and notebooks 10-16's ``run_sweep`` (on a
   GPU AdamW runs train batched, Adam runs alone in one worker per GPU).
3. **Notebook 00's GPU cells**: matmul rates (fp32, fp16, bf16 at 4096³) and the copy
   bandwidth on the GPU, below the data-sheet peak they are compared with.
4. **Batched sweeps** (``bench/bench_sweeps.py``, full mode): sequential / batched time for
   N = 1, 4, 16 GPT runs; target ≥ 8× at N = 16.

The device machine's image has torch (2.11 when last seen) but not Dask, so Dask and its
pure-Python needs travel as wheels. Here, once per checkout::

    .venv/bin/python -m bench.gpu_check fetch        # .whl/ (ignored by git), about 3 MB

then one device call (``run`` with ``carry: [".whl"]`` and ``timeout_s`` 360; the checks
should take about 3 minutes there, estimated from the CPU dry run and the 14 s CUDA start per
worker process seen on 2026-12-04, which leaves device time for a second try)::

    set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile \\
        --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \\
        && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 \\
        && python3 -m bench.gpu_check run --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"

It prints one line per check and writes ``gpu_check.json`` under ``--out``. Exit
status 0 only when every check passed. ``run --device cpu`` runs the same code paths on the CPU
(the dry run that proves the script before device time is spent on it; no GPU target applies).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The device image lacks these (dask, distributed and their pure-Python needs); the versions are
# the pack's pins (requirements.txt, constraints.txt).
WHEELS = ("dask==2026.8.0", "distributed==2026.8.0", "partd==1.4.2", "locket==1.0.0",
          "tblib==3.2.2", "tornado==6.6.1", "zict==3.0.0")
WHEEL_DIR = ".whl"
RUNS = 4
TOLERANCE = 1e-3


def fetch(root: Path) -> int:
    """Download the wheels the device image lacks into ``root/.whl`` (for CPython 3.12 on
    x86-64 Linux, the device's Python) and make git ignore that folder."""
    dest = root / WHEEL_DIR
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp",
           "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
           "--platform", "manylinux2014_x86_64", "--platform", "manylinux1_x86_64",
           "-d", str(dest), *WHEELS]
    rc = subprocess.call(cmd)
    exclude = root / ".git" / "info" / "exclude"
    if rc == 0 and exclude.parent.is_dir():
        lines = exclude.read_text().splitlines() if exclude.exists() else []
        if f"/{WHEEL_DIR}/" not in lines:
            exclude.write_text("\n".join(lines + [f"/{WHEEL_DIR}/"]) + "\n")
    size = sum(f.stat().st_size for f in dest.glob("*.whl")) if dest.is_dir() else 0
    print(f"{len(list(dest.glob('*.whl'))) if dest.is_dir() else 0} wheels in {dest} "
          f"({size / 1e6:.1f} MB); carry '{WHEEL_DIR}' in the device call" if rc == 0 else
          f"pip download failed (exit {rc})")
    return rc


def configs() -> list[dict]:
    from utils.train.arithmetic import make_config

    return [make_config(model="gpt", seed=s, p=11, embedding_size=32, hidden_size=32,
                        num_heads=2, n_steps=300, eval_first=0, eval_period=100)
            for s in range(RUNS)]


def train_where(config: dict, ctx=None, *, device: str = "cpu") -> dict:
    """One run on ``device``, and where it ran: the GPUs its process sees (``visible``) and the
    name of the device it trained on."""
    import torch

    from utils.train.arithmetic import train

    out = train(config, ctx, device=device)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    return {"val_loss": [float(v) for v in out["test"]["loss"]],
            "visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(),
            "device_name": name, "wall_s": out.get("wall_s")}


def check_engines(device: str, tmp: Path) -> list[dict]:
    """Four runs on ``device`` through ``processes`` and ``dask`` against the CPU in-process."""
    from utils import sweep as sw
    from utils.runs import RunStore

    gpus = max(sw.gpu_count(), 1)        # on a CPU dry run the plugin's path runs too
    cs = configs()
    t0 = time.perf_counter()
    reference = sw.sweep(RunStore("gpu-check-cpu", root=tmp / "cpu"), cs, train_where,
                         backend="local", threads=1)
    ref_s = time.perf_counter() - t0
    rows = []
    for backend in ("processes", "dask"):
        t0 = time.perf_counter()
        try:
            got = sw.sweep(RunStore(f"gpu-check-{backend}", root=tmp / backend), cs, train_where,
                           backend=backend, gpus=gpus, fn_kwargs={"device": device},
                           dask="local" if backend == "dask" else None)
            error = None
        except Exception as e:  # noqa: BLE001 - reported as the check's failure
            got, error = [], f"{type(e).__name__}: {e}"
        wall = time.perf_counter() - t0
        diffs = [_max_diff(g["val_loss"], r["val_loss"]) for g, r in zip(got, reference)]
        visible = sorted({str(g["visible"]) for g in got})
        per_pid = {}
        one_gpu_each = all(per_pid.setdefault(g["pid"], g["visible"]) == g["visible"]
                           for g in got)
        on_device = all((g["device_name"] != "cpu") == (device != "cpu") for g in got)
        ok = (error is None and len(got) == RUNS and one_gpu_each and on_device
              and all(v in [str(i) for i in range(gpus)] for v in visible)
              and max(diffs, default=float("inf")) <= TOLERANCE)
        rows.append({"check": f"{backend} sweep of {RUNS} runs on {device}", "ok": ok,
                     "wall_s": round(wall, 2), "cpu_reference_s": round(ref_s, 2),
                     "workers": len(per_pid), "visible": visible,
                     "devices": sorted({g["device_name"] for g in got}),
                     "max_val_loss_diff": max(diffs, default=None), "error": error})
    sw.close_clients()
    sw.close_pools()
    return rows


def lm_configs(tmp: Path) -> list[dict]:
    """Two small ``train_lm`` runs on a learnable token stream (a noisy walk over 40 ids)."""
    import numpy as np

    tmp.mkdir(parents=True, exist_ok=True)
    steps = np.random.default_rng(0).choice([1, 1, 1, 2, 3], size=6000)
    tokens = (np.cumsum(steps) % 40).astype(np.uint16)
    tokens[:5000].tofile(tmp / "train.bin")
    tokens[5000:].tofile(tmp / "val.bin")
    base = {"model": {"vocab_size": 40, "context_length": 16, "d_model": 32, "num_layers": 2,
                      "num_heads": 2},
            "train_data": str(tmp / "train.bin"), "val_data": str(tmp / "val.bin"),
            "batch_size": 8, "max_iters": 40, "lr_max": 3e-3, "warmup_iters": 5,
            "eval_interval": 10, "eval_iters": 2, "checkpoint_interval": 20}
    return [{**base, "seed": s} for s in (0, 1)]


def _max_diff(a, b) -> float:
    return max((abs(x - y) for x, y in zip(a, b)), default=float("inf")) \
        if len(a) == len(b) else float("inf")


def _guarded(name: str, fn) -> list[dict]:
    """``fn()``'s rows, or one failed row with the traceback: one broken check must not cost
    the others their device time."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - reported as the check's failure
        import traceback

        return [{"check": f"{name}: crashed", "ok": False,
                 "error": traceback.format_exc()[-2000:]}]


def _interrupt_then_resume(store, config: dict, code, stopped: type, first, second):
    """Run ``config`` through ``store`` with ``first`` (which should stop by raising
    ``stopped`` after a checkpoint), then again with ``second``, which resumes; both record
    ``code`` as their code. Returns (the resumed result, whether the first run stopped)."""
    try:
        store.run(config, first, code=code)
        interrupted = False
    except stopped:
        interrupted = True
    return store.run(config, second, code=code), interrupted


def check_trainers(device: str, tmp: Path) -> list[dict]:
    """The pack's other trainers on ``device`` against the CPU: notebooks 06/07's
    ``run_lm_many`` (and a run interrupted and resumed there), generation with a seeded CPU
    generator from a model on ``device``, and notebooks 10-16's ``run_sweep`` (batched runs on
    a GPU). Each check runs even when another crashed."""
    import torch

    from utils import studies
    from utils.generate import generate
    from utils.runs import RunStore
    from utils.train.arithmetic import make_config, train
    from utils.train.lm import TrainingInterrupted, model_from_result, train_lm
    from utils.train.lm_study import run_lm_many, train_on

    lm = lm_configs(tmp / "tokens")
    cpu = run_lm_many(RunStore("lm-cpu", root=tmp / "lm-cpu"), lm, workers=1, device="cpu")

    def lm_many():
        dev = run_lm_many(RunStore("lm-dev", root=tmp / "lm-dev"), lm, workers=1, device=device)
        diff = max(_max_diff(a["history"]["val_loss"], b["history"]["val_loss"])
                   for a, b in zip(cpu, dev))
        devices = sorted({r["config"]["device"] for r in dev})
        return [{"check": f"run_lm_many (notebooks 06/07) on {device}", "ok": diff <= TOLERANCE
                 and devices == [device], "max_val_loss_diff": diff, "devices": devices}]

    def resume():
        resumed, interrupted = _interrupt_then_resume(
            RunStore("lm-resume", root=tmp / "lm-resume"), lm[0], train_lm, TrainingInterrupted,
            lambda c, ctx: train_on(c, ctx, device=device, stop_after=20, progress_bar=False),
            lambda c, ctx: train_on(c, ctx, device=device, progress_bar=False))
        diff = _max_diff(resumed["history"]["val_loss"], cpu[0]["history"]["val_loss"])
        return [{"check": f"train_lm interrupted at step 20 and resumed on {device}",
                 "ok": interrupted and diff <= TOLERANCE, "max_val_loss_diff": diff}]

    def generation():
        here, there = model_from_result(cpu[0]), model_from_result(cpu[0]).to(device)
        prompt = [1, 2, 3, 4]
        greedy = [generate(m, prompt, 24, temperature=0) for m in (here, there)]
        sampled = [generate(m, prompt, 24, temperature=1.0, top_p=0.9,
                            generator=torch.Generator().manual_seed(0)) for m in (here, there)]
        return [{"check": f"generation on {device} (greedy; top-p with a seeded CPU "
                          f"generator) = on the CPU",
                 "ok": greedy[0] == greedy[1] and sampled[0] == sampled[1], "greedy": greedy,
                 "sampled": sampled}]

    def arithmetic():
        ar = [make_config(model="gpt", seed=s, p=11, embedding_size=32, hidden_size=32,
                          num_heads=2, n_steps=300, eval_first=0, eval_period=100,
                          optimizer=opt) for s, opt in ((0, "adamw"), (1, "adamw"),
                                                        (2, "adam"), (3, "adam"))]
        how = sorted({studies.executor(c, device) for c in ar})
        got = studies.run_sweep(RunStore("ar-dev", root=tmp / "ar-dev"), ar, workers=1,
                                device=device)
        ref = [train(c) for c in ar]
        diff = max(_max_diff(g["test"]["loss"], r["test"]["loss"]) for g, r in zip(got, ref))
        return [{"check": f"run_sweep (notebooks 10-16) on {device}, executor "
                          f"{'/'.join(how)}", "ok": diff <= TOLERANCE, "max_val_loss_diff": diff}]

    def arithmetic_resume():
        class Stop(Exception):
            pass

        def stop_at_150(step):
            if step == 150:
                raise Stop

        c = configs()[0]
        resumed, interrupted = _interrupt_then_resume(
            RunStore("ar-resume", root=tmp / "ar-resume"), c, train, Stop,
            lambda c_, ctx: train(c_, ctx, device=device, checkpoint_every=100,
                                  callback=stop_at_150),
            lambda c_, ctx: train(c_, ctx, device=device, checkpoint_every=100))
        diff = _max_diff(resumed["test"]["loss"], train(c)["test"]["loss"])
        return [{"check": f"arithmetic run interrupted at step 150 and resumed on {device} "
                          f"(checkpoint at 100)", "ok": interrupted and diff <= TOLERANCE,
                 "max_val_loss_diff": diff}]

    return [r for name, fn in (("run_lm_many", lm_many), ("resume", resume),
                               ("generation", generation), ("run_sweep", arithmetic),
                               ("arithmetic resume", arithmetic_resume))
            for r in _guarded(name, fn)]


def check_hardware(device: str) -> list[dict]:
    """Notebook 00's GPU cells: the device table, matmul rates by data type and the copy
    bandwidth on ``device``, and the data-sheet peak they are compared with (a measured rate
    above the peak means a wrong peak or a wrong timer). On the CPU: the same calls, small."""
    from utils import hardware as hw

    big = device != "cpu"
    n = 4096 if big else 256
    info = hw.gpu_info()
    rates = {dt: max(hw.measure_matmul(n, dtype=dt, device=device, repeats=3)["gflops"])
             for dt in ("fp32", "fp16", "bf16")}
    copy = max(hw.measure_bandwidth("copy", 2 ** 30 if big else 2 ** 24, device=device,
                                    repeats=3)["gbs"])
    peak = hw.gpu_peak_of(info[0]) if info else None
    ok = all(r > 0 for r in rates.values()) and copy > 0 and (
        peak is None or (rates["fp32"] <= 1.05 * peak["fp32"]
                         and rates["fp16"] <= 1.05 * peak["fp16_tensor"]))
    return [{"check": f"notebook 00's measurements on {device} (matmul {n}³, copy)", "ok": ok,
             "gflops": {k: round(v, 1) for k, v in rates.items()}, "copy_gbs": round(copy, 1),
             "peak_gflops": peak, "gpus": info}]


def check_batched(device: str) -> list[dict]:
    from bench.bench_sweeps import run_batched

    rows = []
    for res in run_batched(quick=False, device=device):
        rows.append({"check": res.name, "value": res.value, "unit": res.unit,
                     "target": res.target, "ok": res.ok is not False, "detail": res.detail})
    return rows


def run(device: str, out: Path | None) -> int:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to check here (use --device cpu for "
              "the dry run)", file=sys.stderr)
        return 3
    env = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0,
           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
           "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print("environment:", json.dumps(env), flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        parts = {"engines": lambda: check_engines(device, Path(tmp)),
                 "trainers": lambda: check_trainers(device, Path(tmp)),
                 "hardware": lambda: check_hardware(device),
                 "batched": lambda: check_batched(device)}
        for name, part in parts.items():
            t0 = time.perf_counter()
            new = _guarded(name, part)
            for r in new:
                print(("PASS " if r["ok"] else "FAIL ") + json.dumps(r), flush=True)
            rows += new
            print(f"   ({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    from utils import sweep as sw

    sw.close_pools()                     # the worker processes the trainer checks started
    sw.close_clients()
    failed = [r["check"] for r in rows if not r["ok"]]
    print(f"{len(failed)} check(s) failed: {failed}" if failed else "all checks passed")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(json.dumps({"environment": env, "checks": rows},
                                                       indent=1))
    return 1 if failed else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split(
        "\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the wheels the device image lacks into .whl/")
    r = sub.add_parser("run", help="run the checks (on the device machine)")
    r.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda (default), or cpu for a dry run of the same code paths")
    r.add_argument("--out", type=Path, default=None, help="folder for gpu_check.json")
    args = ap.parse_args(argv)
    if args.command == "fetch":
        return fetch(Path(__file__).resolve().parents[1])
    return run(args.device, args.out)


if __name__ == "__main__":
    sys.exit(main())
