"""The checks of the sweep engine that need a GPU (issue 20), as one short prepared command.

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
2. **Batched sweeps** (``bench/bench_sweeps.py``, full mode): sequential / batched time for
   N = 1, 4, 16 GPT runs; target ≥ 8× at N = 16.

The device machine's image has torch (2.11 when last seen) but not Dask, so Dask and its
pure-Python needs travel as wheels. Here, once per checkout::

    .venv/bin/python -m bench.gpu_check fetch        # .whl/ (ignored by git), about 3 MB

then one device call (``run`` with ``carry: [".whl"]`` and ``timeout_s`` 480, which leaves time
for a second try)::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \\
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 \\
        && python3 -m bench.gpu_check run --out "$OUT"

It prints one line per check and writes ``gpu_check.json`` (and the log) under ``--out``. Exit
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
    """One run on ``device``, and where it ran: the GPUs its process sees and the device its
    weights ended on."""
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
    reference = sw.sweep(RunStore("gpu-check-cpu", root=tmp / "cpu"), cs, train_where, backend="local",
                         threads=1)
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
        diffs = [max(abs(a - b) for a, b in zip(g["val_loss"], r["val_loss"]))
                 for g, r in zip(got, reference)]
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
        for part in (lambda: check_engines(device, Path(tmp)), lambda: check_batched(device)):
            t0 = time.perf_counter()
            new = part()
            for r in new:
                print(("PASS " if r["ok"] else "FAIL ") + json.dumps(r), flush=True)
            rows += new
            print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
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
