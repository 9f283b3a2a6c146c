"""One sweep engine for every notebook: runs in the kernel, in local worker processes, or on Dask.

A *sweep* is many independent runs ``fn(config, ctx)`` through one :class:`utils.runs.RunStore`.
:func:`sweep` trains the missing ones and returns every result in config order. Where they run
is the **backend**, chosen by the ``backend`` argument (a notebook parameter), else the
environment variable ``COURSEPACK_BACKEND`` (so ``make report`` can set it for every notebook),
else ``processes`` when two or more runs are missing and this machine has two or more cores:

``local``
    one run after another in this process (the kernel), with its torch threads;
``processes``
    one-thread worker processes on this machine (``spawn``; one per core, or one per GPU with
    each worker seeing only its own GPU);
``dask``
    each run is a task on a ``distributed.Client``: a ``LocalCluster`` of one-thread worker
    processes when ``COURSEPACK_DASK`` is empty or ``local``, the scheduler at an address
    (``tcp://host:8786``), or a ``dask-jobqueue`` cluster (Slurm, PBS, SGE, LSF, HTCondor)
    described by a YAML or JSON file (:func:`jobqueue_cluster`). Workers on other machines need
    the pack importable (the same checkout and environment, e.g. on a shared filesystem) and
    the run store on a filesystem they all share (``COURSEPACK_CACHE``).

Run functions defined in a notebook work on every backend: ``fn`` is pickled with
``cloudpickle`` (by value when it lives in ``__main__``), and its code fingerprint
(:mod:`utils.code_fingerprint`) is computed once here and handed to the workers, so a stored run
records the same fingerprint whichever backend computed it; this module is infrastructure (not
part of any fingerprint), so switching engines recomputes nothing.

Results flow back through the run store, never through the scheduler: a worker computes the run
under the store's claim (:class:`utils.runs.Claim`) and stores it, then this process reads it.
Failure semantics:

* a run that raises is reported with its config and traceback; the other runs finish, then
  :class:`SweepError` names every failed config;
* a worker killed mid-run loses no finished run; its run is retried (``retries`` times; Dask
  reschedules it itself) and resumes from its last checkpoint;
* a run computed at the same time by another sweep (its claim is live) is waited for, then read.

One progress bar counts runs done / total with an ETA on every backend; the Dask dashboard's
address is printed when there is one (it needs ``bokeh``).

GPUs: runs that train on a GPU (``fn_kwargs`` with ``device="cuda"``, as the pack's trainers
take it) get one worker per GPU, on ``processes`` and on a local Dask cluster, each worker
seeing only its own GPU (``CUDA_VISIBLE_DEVICES``); ``gpus`` sets the number by hand. Runs on
the CPU get one worker per core, GPU or not (a GPU machine's cores are not left idle). On a
jobqueue cluster ask for one GPU per job in the spec (``job_extra_directives:
["--gres=gpu:1"]``, ``processes: 1``).

Used by ``RunStore.sweep`` (every notebook's sweeps; those that time themselves pass
``backend="local"``), :func:`utils.studies.run_sweep` (notebooks 10-16) and
:func:`utils.train.lm_study.run_lm_many` (06, 07); tested in ``tests/test_sweep.py``,
timed in ``bench/bench_sweeps.py``.
"""

from __future__ import annotations

import atexit
import collections
import functools
import hashlib
import json
import os
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .code_fingerprint import Fingerprint
from .runs import RunBusyError, RunStore, canonical_config, config_key

BACKENDS = ("local", "processes", "dask")
BACKEND_ENV = "COURSEPACK_BACKEND"
DASK_ENV = "COURSEPACK_DASK"
JOBQUEUE_CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster",
                     "lsf": "LSFCluster", "htcondor": "HTCondorCluster", "oar": "OARCluster",
                     "moab": "MoabCluster"}
POLL_S = 0.5                      # how often a sweep looks again at runs another sweep computes


@dataclass
class RunFailure:
    """One run that raised (or whose worker died more than ``retries`` times)."""

    config: dict
    key: str
    error: str                    # "ValueError: ..." (one line)
    traceback: str = ""
    attempts: int = 1

    def line(self) -> str:
        return f"run {self.key} {json.dumps(self.config, sort_keys=True)}: {self.error}"


class SweepError(RuntimeError):
    """Raised at the end of a sweep in which runs failed; ``failures`` lists them (config, error
    and traceback). Every other run finished and is stored."""

    def __init__(self, namespace: str, failures: Sequence[RunFailure], total: int):
        self.failures = list(failures)
        lines = "\n".join(f"  - {f.line()}" for f in self.failures)
        last = self.failures[-1].traceback.strip() if self.failures else ""
        super().__init__(f"run store '{namespace}': {len(self.failures)} of {total} runs failed "
                         f"(the others are stored):\n{lines}"
                         + (f"\ntraceback of the last one:\n{last}" if last else ""))


# ---------------------------------------------------------------------------------------------
# choosing the backend


def resolve_backend(backend: str | None = None, runs: int = 2, workers: int | None = None) -> str:
    """The backend a sweep of ``runs`` missing runs uses: ``backend`` if given (not None, ``""``
    or ``"auto"``), else ``COURSEPACK_BACKEND``, else ``processes`` for two or more runs on a
    machine with two or more cores (or GPUs) unless ``workers`` is 1, else ``local``."""
    source = "backend"
    name = (backend or "").strip().lower()
    if name in ("", "auto"):
        source = BACKEND_ENV
        name = os.environ.get(BACKEND_ENV, "").strip().lower()
    if name in ("", "auto"):
        slots = workers or max(os.cpu_count() or 1, gpu_count())
        return "processes" if runs >= 2 and slots >= 2 else "local"
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(BACKENDS)} (or auto / empty for "
                         f"the default), got {name!r}")
    return name


def gpu_count() -> int:
    """CUDA devices torch sees (0 without torch's CUDA)."""
    torch = sys.modules.get("torch")
    try:
        if torch is None:
            import torch
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - a broken driver counts as no GPU
        return 0


def gpus_for(fn_kwargs: dict | None) -> int:
    """The GPUs a sweep spreads its workers over: those torch sees when the runs train on a GPU
    (``fn_kwargs`` name a CUDA ``device``), else 0, so that CPU runs get one worker per core."""
    device = str((fn_kwargs or {}).get("device", "cpu"))
    return gpu_count() if device.startswith("cuda") else 0


def default_workers(backend: str, runs: int, gpus: int = 0) -> int:
    """One worker per GPU when there are GPUs, else one per core; never more than ``runs``."""
    per_machine = gpus if gpus > 0 else (os.cpu_count() or 1)
    return max(1, min(per_machine, runs)) if backend != "local" else 1


def _check_int(name: str, value: Any, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low} (or None), got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# the work one task does (in a worker process, a Dask worker or here)


@dataclass
class _Job:
    """What every task of one sweep shares: the store's place and policy, the run function
    (cloudpickled) and the fingerprint computed by the sweep's process."""

    namespace: str
    root: str
    on_code_change: str
    fn_bytes: bytes
    fingerprint: Fingerprint
    threads: int | None


_JOBS: dict[str, tuple[_Job, Callable]] = {}       # per worker process: digest -> (job, fn)


def _job_fn(job: bytes | tuple[str, str]) -> tuple[_Job, Callable]:
    """The job of a task, unpickled once per worker process: its bytes, or (path of a file
    holding them, their digest) as the ``processes`` backend sends it."""
    import cloudpickle

    if isinstance(job, tuple):
        path, digest = job
        if digest not in _JOBS:
            job = Path(path).read_bytes()
    else:
        digest = hashlib.sha256(job).hexdigest()
    if digest not in _JOBS:
        loaded = cloudpickle.loads(job)
        if len(_JOBS) >= 4:
            _JOBS.pop(next(iter(_JOBS)))
        _JOBS[digest] = (loaded, cloudpickle.loads(loaded.fn_bytes))
    return _JOBS[digest]


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def run_task(job_bytes: bytes | tuple[str, str], config: dict) -> dict:
    """Compute one run of a sweep where this is called and store it; return a small record
    (``status``: ``done``, ``busy`` (claimed by another live worker) or ``error`` with the
    error and traceback). Never raises for the run's own errors."""
    key = config_key(config)
    rec = {"key": key, "pid": os.getpid(), "host": socket.gethostname()}
    t0 = time.perf_counter()
    try:
        job, fn = _job_fn(job_bytes)     # fails here if the function cannot be rebuilt here
        _set_threads(job.threads)
        store = RunStore(job.namespace, root=Path(job.root), on_code_change=job.on_code_change)
        store.run(config, fn, job.fingerprint)
    except RunBusyError as exc:
        return {**rec, "status": "busy", "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported with its config, the others go on
        return {**rec, "status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc()}
    return {**rec, "status": "done", "computed": store.computed,
            "recomputed_for_code": store.recomputed_for_code,
            "wall_s": time.perf_counter() - t0}


def _init_process(gpu_queue) -> None:
    """Initializer of a ``processes`` worker: the one GPU it sees (if any); Ctrl-C (SIGINT, also
    sent to the whole process group when a Jupyter kernel shuts down) is left to the parent,
    which stops the runs in flight itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpu_queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_queue.get())


_POOLS: dict[tuple, Any] = {}                        # (workers, gpus) -> ProcessPoolExecutor
_POOLS_LOCK = threading.Lock()


def process_pool(workers: int, gpus: int = 0, broken=None):
    """The pool of ``workers`` spawned one-thread worker processes that ``processes`` sweeps
    share (started once per kernel: a worker pays its imports once); replaced when it is
    ``broken`` (a worker was killed)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    key = (workers, gpus)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is not None and (pool is broken or getattr(pool, "_broken", False)):
            pool.shutdown(wait=False, cancel_futures=True)
            pool = None
        if pool is None:
            ctx = mp.get_context("spawn")
            gpu_queue = None
            if gpus > 0:
                gpu_queue = ctx.Queue()
                for i in range(workers):
                    gpu_queue.put(i % gpus)
            pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                          initializer=_init_process, initargs=(gpu_queue,))
            _POOLS[key] = pool
        return pool


def close_pools() -> None:
    """Stop the worker processes of :func:`process_pool`."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def _job_file(job_bytes: bytes) -> tuple[str, str]:
    """The job written once to a temporary file (a worker reads it once, however many runs)."""
    import tempfile

    from .runs import atomic_write_bytes

    digest = hashlib.sha256(job_bytes).hexdigest()
    tmp = Path(tempfile.gettempdir())
    _remove_orphan_jobs(tmp)
    path = tmp / f"coursepack-sweep-{os.getpid()}-{digest[:16]}.pkl"
    if not path.exists():
        atomic_write_bytes(path, job_bytes)
        atexit.register(path.unlink, missing_ok=True)
    return str(path), digest


def _remove_orphan_jobs(tmp: Path) -> None:
    """Delete job files left by kernels that were killed (``atexit`` never ran for them): the
    pid in the name is no longer a process on this machine."""
    import psutil

    for f in tmp.glob("coursepack-sweep-*-*.pkl"):
        try:
            pid = int(f.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not psutil.pid_exists(pid):
            f.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# the sweep


@dataclass
class _Tally:
    """What the backends report back to :func:`sweep`."""

    fresh: dict = field(default_factory=dict)        # key -> record of a run a worker stored
    failures: list = field(default_factory=list)


def sweep(store: RunStore, configs: Iterable[Any], fn: Callable, *, backend: str | None = None,
          workers: int | None = None, desc: str | None = None, fn_kwargs: dict | None = None,
          code: Callable | Sequence[Callable] | Fingerprint | None = None,
          threads: int | None = None, gpus: int | None = None, retries: int = 3,
          dask: str | None = None) -> list[Any]:
    """Results of ``fn`` for every config (in order) through ``store``, computing only the
    missing or stale ones, on the backend of :func:`resolve_backend`.

    ``fn(config, ctx)`` (with ``fn_kwargs`` bound) may checkpoint through ``ctx``. ``code``:
    what the stored runs record as their code, as in :meth:`RunStore.run`. ``workers``: worker
    processes (default :func:`default_workers`). ``threads``: torch threads per run (workers
    default to 1; ``local`` keeps the kernel's unless given). ``retries``: how often a run whose
    worker died is started again (it resumes from its checkpoint). ``dask``: the Dask cluster
    (default ``COURSEPACK_DASK``, see :func:`dask_client`). ``gpus``: GPUs to give the workers
    one each (default :func:`gpus_for`: the GPUs torch sees when the runs train on one, else
    0). Raises :class:`SweepError` at the end if runs failed, naming each config.
    """
    if not isinstance(store, RunStore):
        raise TypeError(f"sweep needs a utils.runs.RunStore, got {type(store).__name__}")
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(config, ctx), got {type(fn).__name__}")
    if fn_kwargs is not None and not isinstance(fn_kwargs, dict):
        raise TypeError(f"fn_kwargs must be a dict of keyword arguments, got "
                        f"{type(fn_kwargs).__name__}")
    workers = _check_int("workers", workers, 1)
    threads = _check_int("threads", threads, 1)
    gpus = _check_int("gpus", gpus, 0)
    retries = _check_int("retries", retries, 0)
    run_fn = functools.partial(fn, **fn_kwargs) if fn_kwargs else fn
    configs = [canonical_config(c) for c in configs]
    fp = store.fingerprint(run_fn, code)
    keys = [config_key(c) for c in configs]
    unique = dict(zip(keys, configs))
    states = {k: store.status(c, code=fp) for k, c in unique.items()}
    stored = {k for k, s in states.items()
              if s == "done" or (s == "stale" and store.on_code_change == "keep")}
    todo = [c for k, c in unique.items() if k not in stored]
    name = resolve_backend(backend, len(todo), workers)
    gpus = gpus_for(fn_kwargs) if gpus is None else gpus
    if name != "local" and len(todo) == 0:
        name = "local"                               # everything stored: just read it
    n_workers = min(workers or default_workers(name, len(todo), gpus), max(len(todo), 1))
    label = desc or store.namespace
    where = "in this process" if name == "local" else \
        f"on {name} ({n_workers} worker{'s' if n_workers != 1 else ''})"
    bar_desc = f"{label}: {len(stored)} stored, {len(todo)} to run {where}"
    if name == "local":
        return _sweep_local(store, configs, run_fn, fp, bar_desc, threads)
    from .progress import progress

    job = _Job(store.namespace, str(store.root), store.on_code_change,
               _cloudpickle(run_fn, label), fp, threads or 1)
    import cloudpickle

    job_bytes = cloudpickle.dumps(job)
    bar = progress(total=len(unique), initial=len(stored), desc=bar_desc)
    tally = _Tally()
    try:
        if name == "processes":
            _run_processes(job_bytes, todo, n_workers, gpus, retries, bar, tally)
        else:
            _run_dask(job_bytes, todo, n_workers, gpus, retries, bar, tally, dask, label)
    finally:
        bar.close()
    return _collect(store, configs, run_fn, fp, tally)


def _cloudpickle(fn: Callable, label: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"sweep '{label}': the run function cannot be sent to worker processes "
                        f"({type(exc).__name__}: {exc}); use backend='local', or keep "
                        "unpicklable objects (open files, locks, generators) out of it") from exc


def _sweep_local(store: RunStore, configs: list[dict], fn: Callable, fp: Fingerprint,
                 bar_desc: str, threads: int | None) -> list[Any]:
    """In this process, in config order (``RunStore.sweep``'s behaviour): errors are collected,
    runs claimed by another sweep are waited for at the end."""
    from .progress import progress

    import torch

    before = torch.get_num_threads()
    _set_threads(threads)
    out: list = [None] * len(configs)
    failures: list[RunFailure] = []
    busy: list[int] = []
    failed_keys: set[str] = set()
    try:
        for i, c in enumerate(progress(configs, total=len(configs), desc=bar_desc)):
            key = config_key(c)
            if key in failed_keys:
                continue
            try:
                out[i] = store.run(c, fn, fp)
            except RunBusyError:
                busy.append(i)
            except Exception as exc:  # noqa: BLE001 - the others go on; reported at the end
                failed_keys.add(key)
                failures.append(RunFailure(c, key, f"{type(exc).__name__}: {exc}"[:2000],
                                           traceback.format_exc()))
        for i in busy:
            out[i] = _wait_then_run(store, configs[i], fn, fp)
    finally:
        torch.set_num_threads(before)
    if failures:
        raise SweepError(store.namespace, failures, len({config_key(c) for c in configs}))
    return out


def _wait_then_run(store: RunStore, config: dict, fn: Callable, fp: Fingerprint) -> Any:
    """A run another sweep is computing: wait until its claim is given up (or expires), then
    read it (or resume it, if that sweep died)."""
    told = False
    while True:
        try:
            return store.run(config, fn, fp)
        except RunBusyError as exc:
            if not told:
                store.log(f"{exc}; waiting for it")
                told = True
            time.sleep(POLL_S)


def _record(rec: dict, config: dict, attempts: collections.Counter, bar, tally: _Tally,
            requeue: list) -> None:
    key = rec["key"]
    if rec["status"] == "done":
        tally.fresh[key] = rec
        bar.update(1)
    elif rec["status"] == "busy":
        requeue.append((time.monotonic() + POLL_S, config))
    else:
        tally.failures.append(RunFailure(config, key, rec["error"], rec.get("traceback", ""),
                                         attempts[key] + 1))
        bar.update(1)


def _died(config: dict, error: str, attempts: collections.Counter, retries: int,
          tally: _Tally, bar, requeue: list) -> None:
    """A run whose worker died: started again (resuming from its checkpoint), or given up."""
    key = config_key(config)
    attempts[key] += 1
    if attempts[key] > retries:
        tally.failures.append(RunFailure(config, key, f"its worker died {attempts[key]} times "
                                         f"({error})", attempts=attempts[key]))
        bar.update(1)
    else:
        requeue.append((time.monotonic(), config))


def _run_processes(job_bytes: bytes, todo: list[dict], workers: int, gpus: int, retries: int,
                   bar, tally: _Tally) -> None:
    """At most ``workers`` runs in flight in the shared :func:`process_pool`; a pool broken by
    a killed worker is replaced and its in-flight runs started again (they resume)."""
    import concurrent.futures as cf
    from concurrent.futures.process import BrokenProcessPool

    job = _job_file(job_bytes)
    queue: list[tuple[float, dict]] = [(0.0, c) for c in todo]
    attempts: collections.Counter = collections.Counter()
    inflight: dict = {}
    pool = None
    try:
        while queue or inflight:
            if pool is None:
                pool = process_pool(workers, gpus)
            now = time.monotonic()
            queue.sort(key=lambda t: t[0])
            while queue and len(inflight) < workers and queue[0][0] <= now:
                _, c = queue.pop(0)
                try:
                    inflight[pool.submit(run_task, job, c)] = c
                except BrokenProcessPool:
                    queue.insert(0, (now, c))
                    pool = process_pool(workers, gpus, broken=pool)
            if not inflight:
                time.sleep(max(0.0, min(t for t, _ in queue) - now))
                continue
            done, _ = cf.wait(list(inflight), timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in done:
                c = inflight.pop(fut)
                try:
                    rec = fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    _died(c, f"{type(exc).__name__}: {exc}", attempts, retries, tally, bar,
                          queue)
                    continue
                except Exception as exc:  # noqa: BLE001 - e.g. the task could not be sent
                    rec = {"key": config_key(c), "status": "error",
                           "error": f"{type(exc).__name__}: {exc}"[:2000],
                           "traceback": traceback.format_exc()}
                _record(rec, c, attempts, bar, tally, queue)
            if broken:                               # the pool is unusable: a fresh one
                for fut, c in list(inflight.items()):
                    inflight.pop(fut)
                    _died(c, "worker pool broken", attempts, retries, tally, bar, queue)
                pool = process_pool(workers, gpus, broken=pool)
    except BaseException:                            # interrupted: stop the runs in flight
        if pool is not None and inflight:
            for fut in inflight:
                fut.cancel()
            _terminate(pool)
        raise


def _terminate(pool) -> None:
    """Stop a pool's workers now (their runs read as interrupted and resume next time)."""
    with _POOLS_LOCK:
        for key, p in list(_POOLS.items()):
            if p is pool:
                del _POOLS[key]
    for proc in list(getattr(pool, "_processes", {}).values()):
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _run_dask(job_bytes: bytes, todo: list[dict], workers: int, gpus: int, retries: int, bar,
              tally: _Tally, spec: str | None, label: str) -> None:
    """Every run a task on the Dask cluster (which reschedules a task whose worker died)."""
    client = dask_client(spec, workers=workers, gpus=gpus)
    # a small job travels with each task (it survives any worker's death); a large one (a run
    # function holding data) is copied to every worker once
    job = job_bytes if len(job_bytes) < 2 ** 21 else \
        client.scatter(job_bytes, broadcast=True, hash=True)
    attempts: collections.Counter = collections.Counter()
    requeue: list[tuple[float, dict]] = []
    tag = hashlib.sha256(job_bytes).hexdigest()[:8]

    def submit(c: dict):
        key = config_key(c)
        return client.submit(run_task, job, c, pure=False,
                             key=f"run-{label[:40]}-{key}-{tag}-{attempts[key]}-"
                                 f"{time.monotonic_ns()}")

    futures = {submit(c): c for c in todo}
    try:
        _dask_loop(futures, submit, attempts, requeue, retries, bar, tally)
    except BaseException:                            # interrupted: stop the runs in flight
        client.cancel(list(futures))
        raise


def _dask_loop(futures: dict, submit: Callable, attempts: collections.Counter, requeue: list,
               retries: int, bar, tally: _Tally) -> None:
    from distributed import as_completed
    from distributed.client import FutureCancelledError

    pending = as_completed(list(futures))
    remaining = len(futures)
    while remaining or requeue:
        if remaining == 0:
            wait = max(0.0, min(t for t, _ in requeue) - time.monotonic())
            time.sleep(wait)
        now = time.monotonic()
        due = [c for t, c in requeue if t <= now]
        requeue[:] = [(t, c) for t, c in requeue if t > now]
        for c in due:
            fut = submit(c)
            futures[fut] = c
            pending.add(fut)
            remaining += 1
        if remaining == 0:
            continue
        fut = next(pending)
        remaining -= 1
        c = futures.pop(fut)
        try:
            rec = fut.result()
        except (FutureCancelledError, Exception) as exc:  # noqa: BLE001 - KilledWorker & co
            _died(c, f"{type(exc).__name__}: {exc}", attempts, retries, tally, bar, requeue)
            continue
        finally:
            fut.release()
        _record(rec, c, attempts, bar, tally, requeue)


def _collect(store: RunStore, configs: list[dict], fn: Callable, fp: Fingerprint,
             tally: _Tally) -> list[Any]:
    """Every result in config order: those the workers stored read back (counted as computed
    here), the stored ones reused; then :class:`SweepError` if runs failed."""
    if tally.failures:
        raise SweepError(store.namespace, tally.failures, len(set(map(config_key, configs))))
    out = []
    counted: set[str] = set()
    for c in configs:
        key = config_key(c)
        rec = tally.fresh.get(key)
        if rec is not None:
            res = store.load(c)              # no fingerprint check: computed just now with fp
            if res is None:
                res = store.run(c, fn, fp)
            elif key not in counted:
                counted.add(key)
                store.computed += int(rec.get("computed", 0))
                store.recomputed_for_code += int(rec.get("recomputed_for_code", 0))
                store.hits += 1 - int(rec.get("computed", 0))
            out.append(res)
        else:
            out.append(store.run(c, fn, fp))
    return out


# ---------------------------------------------------------------------------------------------
# Dask clusters


_CLIENTS: dict[tuple, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def dask_client(spec: str | None = None, workers: int | None = None, gpus: int = 0):
    """The ``distributed.Client`` a ``dask`` sweep uses (kept for the next sweep of this
    process). ``spec`` (default ``COURSEPACK_DASK``): empty or ``local`` (a ``LocalCluster`` of
    ``workers`` one-thread processes; one per GPU when there are GPUs), a scheduler address
    (``tcp://host:8786``), or the path of a YAML/JSON jobqueue spec (:func:`jobqueue_cluster`).
    Prints the dashboard address when there is one."""
    spec = (os.environ.get(DASK_ENV, "") if spec is None else spec).strip()
    key = (spec, workers if spec in ("", "local") else None, gpus if spec in ("", "local") else 0)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None and client.status == "running":
            return client
        client = _make_client(spec, workers, gpus)
        _CLIENTS[key] = client
    link = _dashboard(client)
    print(f"Dask: {client.scheduler.address if client.scheduler else spec}, "
          f"{len(client.scheduler_info().get('workers', {}))} workers now; dashboard: {link}",
          file=sys.stderr, flush=True)
    return client


def _dashboard(client) -> str:
    try:
        import bokeh  # noqa: F401 - the dashboard needs it
    except ImportError:
        return "none (install bokeh >= 3.1 for one)"
    return client.dashboard_link


def _make_client(spec: str, workers: int | None, gpus: int):
    import logging

    from distributed import Client, LocalCluster

    if spec in ("", "local"):
        n = workers or default_workers("dask", 10 ** 6, gpus)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
        if gpus > 0:
            client.register_plugin(_one_gpu_per_worker(gpus))
        return client
    if "://" in spec or (":" in spec and not Path(spec).exists()):
        return Client(spec)
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
        return Client(jobqueue_cluster(path))
    raise ValueError(f"{DASK_ENV} must be empty or 'local' (a LocalCluster here), a scheduler "
                     f"address such as tcp://host:8786, or the path of a YAML/JSON jobqueue "
                     f"spec; got {spec!r}" + (" (no such file)" if not path.exists() else ""))


def _one_gpu_per_worker(gpus: int):
    """A worker plugin (a ``distributed.WorkerPlugin``: Dask accepts no other) by which worker
    number i of a local cluster sees only GPU i mod ``gpus``; set before the worker's first task
    imports torch."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class OneGpuPerWorker(WorkerPlugin):
        name = "coursepack-one-gpu-per-worker"

        def __init__(self, gpus: int):
            self.gpus = gpus

        def setup(self, worker) -> None:
            try:
                index = int(worker.name)
            except (TypeError, ValueError):
                index = 0
            os.environ["CUDA_VISIBLE_DEVICES"] = str(index % self.gpus)

    return OneGpuPerWorker(gpus)


def read_spec(path: Path) -> dict:
    """A jobqueue spec (YAML or JSON): ``cluster`` (``slurm``, ``pbs``, ``sge``, ``lsf``,
    ``htcondor``, ``oar``, ``moab``), ``jobs`` (how many batch jobs to start, default 1) or
    ``adapt`` (``{minimum: 0, maximum: 8}``), and every other key passed to the cluster class
    (``cores``, ``memory``, ``processes``, ``walltime``, ``queue``, ``account``,
    ``job_extra_directives``, ``job_script_prologue``...)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() == ".json":
        spec = json.loads(text)
    else:
        import yaml

        spec = yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a jobqueue spec must be a mapping, got {type(spec).__name__}")
    kind = str(spec.get("cluster", "")).lower()
    if kind not in JOBQUEUE_CLUSTERS:
        raise ValueError(f"{path}: 'cluster' must be one of {', '.join(JOBQUEUE_CLUSTERS)}, got "
                         f"{spec.get('cluster')!r}")
    jobs = spec.get("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ValueError(f"{path}: 'jobs' must be an int >= 0, got {jobs!r}")
    adapt = spec.get("adapt")
    if adapt is not None and not isinstance(adapt, dict):
        raise ValueError(f"{path}: 'adapt' must be a mapping such as {{minimum: 0, maximum: 8}}, "
                         f"got {adapt!r}")
    return spec


def jobqueue_cluster(path: Path, start: bool = True):
    """The ``dask_jobqueue`` cluster a spec file (:func:`read_spec`) describes, with one thread
    per worker process unless the spec says otherwise; its jobs are submitted (``scale`` /
    ``adapt``) unless ``start`` is False."""
    import dask_jobqueue

    spec = dict(read_spec(path))
    cls = getattr(dask_jobqueue, JOBQUEUE_CLUSTERS[str(spec.pop("cluster")).lower()])
    jobs = spec.pop("jobs", 1)
    adapt = spec.pop("adapt", None)
    spec.setdefault("cores", 1)
    spec.setdefault("processes", spec["cores"])      # one-thread workers
    spec.setdefault("memory", "4GB")
    cluster = cls(**spec)
    if start:
        if adapt:
            cluster.adapt(**adapt)
        elif jobs:
            cluster.scale(jobs=jobs)
    return cluster


def close_clients() -> None:
    """Close the Dask clients (and local clusters) this process started."""
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        cluster = getattr(client, "cluster", None)
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:  # noqa: BLE001 - closing at exit
            pass


atexit.register(close_clients)
atexit.register(close_pools)
