"""The sweep engine (utils/sweep.py) and the run store's claims (utils/runs.py), loopback only.

* the same sweep through ``local``, ``processes`` and a ``LocalCluster(n_workers=2)`` stores
  byte-identical results with the same code fingerprint, from a run function defined the way a
  notebook defines it (in ``__main__``, pickled by value);
* a worker killed (by pid) mid-run: finished runs are kept, the killed run resumes from its
  checkpoint, the results equal an undisturbed sweep (``processes`` and ``dask``);
* two sweeps over overlapping configs into one store at once: each run trained once, every
  stored file intact;
* a run that raises: the others finish, the error names its config;
* claims: exclusive, taken over when the owner died (dead pid here, no heartbeat elsewhere);
* backend and jobqueue-spec parsing with clear errors.
"""

import json
import os
import signal
import threading
import time
import warnings

import pytest
import torch

from utils import sweep as sw
from utils.runs import Claim, RunBusyError, RunStore, config_key, read_claim

# A run function as a notebook defines it: its module is __main__, so cloudpickle sends it by
# value and no worker could import it by name. It trains a least-squares model by gradient
# descent, checkpointing every step; it logs every start (and resume) of a run to `log_dir`.
TOY_SOURCE = '''
import os, time
import torch
from utils.runs import config_key

def train_toy(config, ctx, log_dir=None, step_s=0.0):
    state = ctx.load_checkpoint()
    if log_dir is not None:
        with open(os.path.join(log_dir, "starts.log"), "a") as fh:
            fh.write(f"{config_key(config)} {os.getpid()} {state is not None}\\n")
        with open(os.path.join(log_dir, config_key(config) + ".pid"), "w") as fh:
            fh.write(str(os.getpid()))
    if config.get("fail"):
        raise ValueError(f"bad config: lr {config['lr']}")
    g = torch.Generator().manual_seed(config["seed"])
    X = torch.randn(32, 4, generator=g, dtype=torch.float64)          # (N, d)
    y = X @ torch.arange(1.0, 5.0, dtype=torch.float64)                 # (N,)
    if state is None:
        state = {"step": 0, "w": torch.zeros(4, dtype=torch.float64), "losses": []}
    while state["step"] < config["steps"]:
        r = X @ state["w"] - y
        state["losses"].append(float((r ** 2).mean()))
        state["w"] = state["w"] - config["lr"] * 2 * X.T @ r / len(y)
        state["step"] += 1
        ctx.save_checkpoint(state)
        time.sleep(step_s)
    return {"w": state["w"], "losses": state["losses"]}
'''


def notebook_fn():
    namespace = {"__name__": "__main__"}
    exec(compile(TOY_SOURCE, "<notebook cell>", "exec"), namespace)
    return namespace["train_toy"]


def configs(n, steps=5, **extra):
    return [{"seed": s, "lr": 0.05, "steps": steps, **extra} for s in range(n)]


def starts(log_dir):
    path = log_dir / "starts.log"
    lines = path.read_text().split() if path.exists() else []
    return [tuple(lines[i:i + 3]) for i in range(0, len(lines), 3)]   # (key, pid, resumed)


def metas(store, cs):
    return [json.loads((store.root / config_key(c) / "meta.json").read_text()) for c in cs]


def assert_same_results(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x["w"], y["w"]) and x["losses"] == y["losses"]


@pytest.fixture(scope="module")
def dask_cluster():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                           dashboard_address=":0")
    client = Client(cluster)
    yield cluster.scheduler_address
    sw.close_clients()                       # the sweeps' own client of this cluster first
    client.close()
    cluster.close()


def test_same_stored_results_through_local_processes_and_dask(tmp_path, dask_cluster):
    fn = notebook_fn()
    cs = configs(4)
    stores = {b: RunStore("toy", root=tmp_path / b) for b in sw.BACKENDS}
    results = {b: sw.sweep(stores[b], cs, fn, backend=b, workers=2, threads=1,
                           dask=dask_cluster if b == "dask" else None) for b in sw.BACKENDS}
    for b in ("processes", "dask"):
        assert_same_results(results[b], results["local"])
        assert stores[b].computed == 4 and stores[b].hits == 0
        for m, m_local in zip(metas(stores[b], cs), metas(stores["local"], cs)):
            assert m["result_sha256"] == m_local["result_sha256"]      # same bytes stored
            assert m["code"] == m_local["code"]                        # same fingerprint
            assert m["pid"] != os.getpid()                             # computed by a worker
    # the stored runs are reused as they are, whatever the backend asked for now
    again = RunStore("toy", root=tmp_path / "dask")
    assert_same_results(sw.sweep(again, cs + cs[:1], fn, backend="processes"), results["local"]
                        + results["local"][:1])
    assert again.computed == 0 and again.hits == 5


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_killed_worker_resumes_and_loses_no_finished_run(tmp_path, backend, dask_cluster):
    fn = notebook_fn()
    cs = configs(4, steps=8)
    cs[2]["steps"] = 40                      # the long run, killed once another has finished
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    store = RunStore("toy", root=tmp_path / "store")
    target = config_key(cs[2])
    seen = {}

    def killer():
        ck = store.root / target / "checkpoint.pt"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = {config_key(c) for c in cs if store.status(c) == "done"}
            if ck.exists() and (log_dir / f"{target}.pid").exists() and done \
                    and target not in done:
                seen["done_before"] = done
                pid = int((log_dir / f"{target}.pid").read_text())
                seen["pid"] = pid
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    out = sw.sweep(store, cs, fn, backend=backend, workers=2, retries=3,
                   fn_kwargs={"log_dir": str(log_dir), "step_s": 0.05},
                   dask=dask_cluster if backend == "dask" else None)
    t.join()
    assert "pid" in seen, "the run to kill never started"
    reference = sw.sweep(RunStore("ref", root=tmp_path / "ref"), cs, fn, backend="local")
    assert_same_results(out, reference)
    by_key = {}
    for key, pid, resumed in starts(log_dir):
        by_key.setdefault(key, []).append((int(pid), resumed))
    assert by_key[target][0] == (seen["pid"], "False")
    assert by_key[target][-1][1] == "True"                    # resumed from its checkpoint
    assert metas(store, [cs[2]])[0]["resumed"] is True
    assert seen["done_before"]                                # some run had finished ...
    for key in seen["done_before"]:
        assert len(by_key[key]) == 1                          # ... and was not trained again
    assert all(m["status"] == "done" for m in metas(store, cs))


def test_two_sweeps_at_once_train_each_run_once(tmp_path):
    fn = notebook_fn()
    cs = configs(6, steps=10)
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    kw = {"log_dir": str(log_dir), "step_s": 0.02}
    out = {}

    def run(name, part, backend):
        out[name] = sw.sweep(RunStore("toy", root=tmp_path / "store"), part, fn,
                             backend=backend, workers=2, fn_kwargs=kw)

    threads = [threading.Thread(target=run, args=("a", cs[:4], "processes")),
               threading.Thread(target=run, args=("b", cs[1:][::-1], "local"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [k for k, _, _ in starts(log_dir)]
    assert sorted(keys) == sorted(config_key(c) for c in cs)    # each trained exactly once
    reference = sw.sweep(RunStore("ref", root=tmp_path / "ref"), cs, fn, backend="local")
    assert_same_results(out["a"], reference[:4])
    assert_same_results(out["b"], reference[1:][::-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # a damaged file would warn
        fresh = RunStore("toy", root=tmp_path / "store")
        assert_same_results([fresh.load(c, fn) for c in cs], reference)
        assert all(fresh.status(c, fn) == "done" for c in cs)


@pytest.mark.parametrize("backend", ["local", "processes"])
def test_a_failing_run_is_named_and_the_others_finish(tmp_path, backend):
    fn = notebook_fn()
    cs = configs(3) + [{"seed": 9, "lr": 0.125, "steps": 5, "fail": True}]
    store = RunStore("toy", root=tmp_path)
    with pytest.raises(sw.SweepError) as info:
        sw.sweep(store, cs, fn, backend=backend, workers=2)
    err = info.value
    assert len(err.failures) == 1 and err.failures[0].config == cs[3]
    assert "1 of 4 runs failed" in str(err) and '"fail": true' in str(err)
    assert "ValueError: bad config: lr 0.125" in str(err) and "Traceback" in str(err)
    assert [store.status(c, fn) for c in cs] == ["done"] * 3 + ["interrupted"]


def test_claims_are_exclusive_and_expire(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    claim = Claim.acquire(folder, ttl=60)
    with pytest.raises(RunBusyError, match=f"process {os.getpid()}"):
        Claim.acquire(folder, ttl=60)                        # held (another thread here)
    claim.release()
    second = Claim.acquire(folder, ttl=60)                   # released: the next generation
    assert second.generation == claim.generation + 1 and not claim.path.exists()
    # an owner on another machine: live while its heartbeat is recent, expired after the TTL
    data = json.loads(second.path.read_text())
    second._stop.set()
    second.path.write_text(json.dumps({**data, "host": "node-17", "pid": 4242}))
    with pytest.raises(RunBusyError, match="node-17"):
        Claim.acquire(folder, ttl=60)
    old = time.time() - 61
    os.utime(second.path, (old, old))
    third = Claim.acquire(folder, ttl=60)                    # taken over
    assert third.generation == second.generation + 1 and second.lost and not third.lost
    third.release()
    # a dead process on this host: taken over at once, whatever its heartbeat
    fourth = Claim.acquire(folder, ttl=60)
    fourth._stop.set()
    dead = json.loads(fourth.path.read_text())
    fourth.path.write_text(json.dumps({**dead, "pid": 2 ** 22 + 7}))
    assert read_claim(folder)[0] == fourth.generation
    Claim.acquire(folder, ttl=60).release()


def test_status_running_while_another_hosts_claim_beats(tmp_path, monkeypatch):
    fn = notebook_fn()
    store = RunStore("toy", root=tmp_path)
    c = configs(1)[0]
    folder = store.root / config_key(c)
    folder.mkdir(parents=True)
    meta = {"status": "running", "host": "node-3", "pid": 11, "config": c}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "claim-000000.json").write_text(json.dumps({"host": "node-3", "pid": 11}))
    assert store.status(c) == "running"
    with pytest.raises(RunBusyError, match="node-3"):
        store.run(c, fn)
    monkeypatch.setenv("COURSEPACK_CLAIM_TTL", "0.5")
    time.sleep(0.6)                                          # its heartbeat stopped
    assert store.status(c) == "interrupted"
    assert store.run(c, fn)["losses"] == sw.sweep(RunStore("r", root=tmp_path / "r"), [c], fn,
                                                  backend="local")[0]["losses"]


def test_backend_choice_and_errors(monkeypatch):
    monkeypatch.delenv(sw.BACKEND_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert sw.resolve_backend(None, runs=2) == "processes"
    assert sw.resolve_backend(None, runs=1) == "local"
    assert sw.resolve_backend(None, runs=5, workers=1) == "local"     # one worker: no pool
    assert sw.resolve_backend("local", runs=9) == "local"
    monkeypatch.setenv(sw.BACKEND_ENV, "dask")
    assert sw.resolve_backend(None, runs=1) == "dask"
    assert sw.resolve_backend("processes") == "processes"
    monkeypatch.setenv(sw.BACKEND_ENV, "slurm")
    with pytest.raises(ValueError, match="COURSEPACK_BACKEND must be one of local, processes, "
                                         "dask"):
        sw.resolve_backend(None)
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        sw.sweep(RunStore("x", root="/nonexistent"), [], notebook_fn(), workers=0)
    with pytest.raises(ValueError, match="COURSEPACK_DASK must be empty or 'local'"):
        sw._make_client("/no/such/spec.yaml", 1, 0)
    monkeypatch.setenv("COURSEPACK_CLAIM_TTL", "-1")
    from utils.runs import claim_ttl

    with pytest.raises(ValueError, match="COURSEPACK_CLAIM_TTL must be a positive number"):
        claim_ttl()


def test_store_sweep_uses_worker_processes_for_two_or_more_missing_runs(tmp_path, monkeypatch):
    fn = notebook_fn()
    monkeypatch.delenv(sw.BACKEND_ENV, raising=False)
    store = RunStore("toy", root=tmp_path)
    out = store.sweep(configs(2), fn)                        # two missing runs: worker processes
    pids = [m["pid"] for m in metas(store, configs(2))]
    assert os.getpid() not in pids
    assert_same_results(out, sw.sweep(RunStore("r", root=tmp_path / "r"), configs(2), fn,
                                      backend="local", threads=1))
    store.sweep(configs(3), fn)                              # one missing run: in this process
    assert metas(store, configs(3))[2]["pid"] == os.getpid()
    monkeypatch.setenv(sw.BACKEND_ENV, "processes")          # an explicit backend wins over it
    local = RunStore("local", root=tmp_path / "l")
    local.sweep(configs(2), fn, backend="local")
    assert [m["pid"] for m in metas(local, configs(2))] == [os.getpid()] * 2
    with pytest.raises(TypeError, match="fn_kwargs must be a dict"):
        sw.sweep(store, configs(2), fn, fn_kwargs=[1])


def test_jobqueue_spec_builds_a_slurm_cluster(tmp_path):
    spec = tmp_path / "slurm.yaml"
    spec.write_text("cluster: slurm\njobs: 2\nqueue: gpu\nwalltime: '02:00:00'\n"
                    "job_extra_directives: ['--gres=gpu:1']\n")
    assert sw.read_spec(spec)["jobs"] == 2
    cluster = sw.jobqueue_cluster(spec, start=False)           # nothing submitted
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH --gres=gpu:1" in script and "#SBATCH -p gpu" in script
    assert "#SBATCH -t 02:00:00" in script and "--nthreads 1" in script
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cluster": "kubernetes"}))
    with pytest.raises(ValueError, match="'cluster' must be one of slurm, pbs"):
        sw.read_spec(bad)


GPU_SOURCE = '''
import os

def which_gpu(config, ctx):
    return {"visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid()}


def which_gpu_on(config, ctx, device="cpu"):
    return which_gpu(config, ctx)
'''


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_one_gpu_per_worker(tmp_path, backend):
    """``gpus=2``: each worker process sees exactly one GPU (CUDA_VISIBLE_DEVICES 0 or 1, the
    same for every run it takes), on both backends (the Dask path registers a WorkerPlugin on a
    LocalCluster it starts). Checked through the variable alone: no GPU is needed."""
    namespace = {"__name__": "__main__"}
    exec(compile(GPU_SOURCE, "<notebook cell>", "exec"), namespace)
    out = sw.sweep(RunStore("gpu", root=tmp_path), configs(4), namespace["which_gpu"],
                   backend=backend, workers=2, gpus=2, dask="local" if backend == "dask" else None)
    seen = {}
    for r in out:
        assert r["visible"] in ("0", "1") and r["pid"] != os.getpid()
        assert seen.setdefault(r["pid"], r["visible"]) == r["visible"]
    if backend == "dask":
        sw.close_clients()
    else:
        sw.close_pools()


def test_only_runs_on_a_gpu_get_one_worker_per_gpu(tmp_path, monkeypatch, capsys):
    """On a machine with a GPU (faked: the run functions never touch CUDA) runs on the CPU get
    one worker per core and see no GPU; runs whose ``fn_kwargs`` name ``cuda`` get one worker
    per GPU, each seeing its own."""
    monkeypatch.setattr(sw, "gpu_count", lambda: 1)
    assert (sw.gpus_for(None), sw.gpus_for({"device": "cpu"}), sw.gpus_for({"device": "cuda"})) \
        == (0, 0, 1)
    namespace = {"__name__": "__main__"}
    exec(compile(GPU_SOURCE, "<notebook cell>", "exec"), namespace)
    n = min(4, os.cpu_count() or 1)
    try:
        on_cpu = sw.sweep(RunStore("cpu", root=tmp_path / "cpu"), configs(4),
                          namespace["which_gpu_on"], backend="processes",
                          fn_kwargs={"device": "cpu"})
        assert f"on processes ({n} worker{'s' if n != 1 else ''})" in capsys.readouterr().err
        assert {r["visible"] for r in on_cpu} == {None}
        on_gpu = sw.sweep(RunStore("gpu", root=tmp_path / "gpu"), configs(4),
                          namespace["which_gpu_on"], backend="processes",
                          fn_kwargs={"device": "cuda"})
        assert "on processes (1 worker)" in capsys.readouterr().err
        assert {r["visible"] for r in on_gpu} == {"0"}
    finally:
        sw.close_pools()


def test_job_files_of_killed_kernels_are_removed(tmp_path, monkeypatch):
    import subprocess
    import tempfile
    from pathlib import Path

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()                                              # a pid that no longer runs
    orphan = tmp_path / f"coursepack-sweep-{dead.pid}-0123456789abcdef.pkl"
    live = tmp_path / f"coursepack-sweep-{os.getppid()}-0123456789abcdef.pkl"
    other = tmp_path / "coursepack-sweep-notes.pkl"          # not a job file's name: kept
    for f in (orphan, live, other):
        f.write_bytes(b"job")
    path, digest = sw._job_file(b"a job")
    assert not orphan.exists() and live.exists() and other.exists()
    assert Path(path).read_bytes() == b"a job" and Path(path).name.startswith(
        f"coursepack-sweep-{os.getpid()}-{digest[:16]}")


def test_gpu_check_dry_run_passes_and_can_fail(tmp_path, monkeypatch):
    """``bench/gpu_check.py`` is what a GPU lease runs in one call; its CPU dry run goes through
    the same code (both engines, the one-GPU-per-worker plugin with gpus=1) and must pass, and a
    tolerance no result can meet must fail it (the check is not vacuous)."""
    from bench import gpu_check
    from utils.train.arithmetic import make_config

    small = [make_config(model="gpt", seed=s, p=5, embedding_size=16, hidden_size=16,
                         num_heads=2, n_steps=20, eval_first=0, eval_period=10)
             for s in range(2)]
    monkeypatch.setattr(gpu_check, "configs", lambda: small)
    monkeypatch.setattr(gpu_check, "RUNS", 2)
    rows = gpu_check.check_engines("cpu", tmp_path / "a")
    assert [r["ok"] for r in rows] == [True, True], rows
    assert all(r["visible"] == ["0"] and r["max_val_loss_diff"] == 0.0 for r in rows)
    monkeypatch.setattr(gpu_check, "TOLERANCE", -1.0)
    assert not any(r["ok"] for r in gpu_check.check_engines("cpu", tmp_path / "b"))


def test_gpu_check_trainers_dry_run(tmp_path):
    """The trainer checks of ``bench/gpu_check.py`` (06/07's run_lm_many with an interrupted and
    resumed run, generation, 10-16's run_sweep) and notebook 00's measurements run and pass on
    the CPU, so a GPU lease spends no time on a broken script."""
    from bench import gpu_check

    rows = gpu_check.check_trainers("cpu", tmp_path)
    assert len(rows) == 5 and all(r["ok"] for r in rows), rows
    assert all(r.get("max_val_loss_diff", 0.0) == 0.0 for r in rows)
    hw = gpu_check.check_hardware("cpu")
    assert hw[0]["ok"] and hw[0]["gflops"]["fp32"] > 0 and hw[0]["copy_gbs"] > 0
