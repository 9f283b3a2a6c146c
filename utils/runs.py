"""The run store: every experiment result is stored under a key derived from its config.

A *run* is a function ``fn(config, ctx) -> result`` applied to a plain config (a dict or a
dataclass of JSON-able values). :class:`RunStore` keeps its result on disk so that

* a re-run with the same config **reuses** the finished result instead of recomputing it,
* unless **the code changed**: every stored run records the fingerprint of the code it ran
  (:mod:`utils.code_fingerprint`: the run function's source and the ``utils`` modules it
  depends on) in ``meta.json``; when the fingerprint differs, one line names what changed and
  the run is recomputed. ``COURSEPACK_KEEP_STALE=1`` (or ``RunStore(..., on_code_change="keep")``)
  keeps such results on purpose, saying so each time one is used;
* an interrupted run **resumes** from its last checkpoint (``ctx.save_checkpoint(state)`` /
  ``ctx.load_checkpoint()``). While a run computes, ``meta.json`` records its process id, host
  and start time; a run whose process died (killed, machine restarted) or ran on another host
  reads as ``interrupted``, not ``running`` (:meth:`RunStore.status`);
* many writers may share one store (worker processes, machines on a shared filesystem): there is
  no shared index, every run has its own folder, and a run is computed only under a **claim**
  (:class:`Claim`: ``claim-<generation>.json`` created exclusively in the run's folder, recording
  owner host, pid and a heartbeat), so two workers never compute the same key. A claim whose
  owner died expires: at once on the owner's host (dead pid), after ``COURSEPACK_CLAIM_TTL``
  seconds without a heartbeat elsewhere (default 120); the run then reads ``interrupted`` and
  the next worker resumes it from its checkpoint;
* every write is **atomic** (written to a temporary file, flushed, then renamed) and gets the
  usual permissions (``0666`` less the umask), and
* a **damaged** file (truncated, edited, unreadable) is detected through its SHA-256 recorded in
  ``meta.json``: it is reported and recomputed, never silently used.

Layout: ``<cache>/runs/<namespace>/<key>/`` with ``meta.json`` (config, key, status, code
fingerprint, checksums, process, wall time), ``result.pt``, ``claim-*.json`` and, while a run is
unfinished, ``checkpoint.pt``. The key is the first 16 hex digits of the SHA-256 of the canonical JSON of
the config, so any change of a value makes a new run. A ``version`` field in a config still
separates results whose *meaning* changed with code the fingerprint does not see (data files,
third-party packages).

Taught in every notebook that trains something; tested in ``tests/test_runs.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .code_fingerprint import Fingerprint, changed_parts, code_fingerprint
from .paths import cache_dir

ON_CODE_CHANGE = ("recompute", "keep")
KEEP_STALE_ENV = "COURSEPACK_KEEP_STALE"
CLAIM_TTL_ENV = "COURSEPACK_CLAIM_TTL"


class DamagedRunWarning(UserWarning):
    """A stored file did not match its recorded checksum, or could not be read."""


class RunBusyError(RuntimeError):
    """The run is being computed by another live process or thread (it holds the claim)."""


def canonical_config(config: Any) -> dict:
    """A config as a plain dict (dataclasses are converted; keys must be strings)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise TypeError(f"a run config must be a dict or a dataclass, got {type(config).__name__}")
    try:
        json.dumps(config, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a run config must hold only JSON values (str, int, float, bool, None, "
                        f"lists and dicts of them): {exc}") from None
    return config


def config_key(config: Any) -> str:
    """First 16 hex digits of the SHA-256 of the config's canonical JSON."""
    text = json.dumps(canonical_config(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The file gets the permissions an ordinary ``open(path, "w")`` gives (``0666`` less the
    umask), not the ``0600`` of the temporary file it is written through.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dump(obj: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _load(data: bytes) -> Any:
    import torch

    # Our own files, verified by checksum before loading: full unpickling is safe here.
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


class RunContext:
    """What a running experiment may use: its config, its folder and its checkpoint."""

    def __init__(self, store: "RunStore", config: dict, key: str):
        self.store, self.config, self.key = store, config, key
        self.dir = store.root / key
        self.resumed = False

    def save_checkpoint(self, state: Any) -> None:
        """Store ``state`` atomically (model/optimizer state dicts, RNG states, history...).

        The checksum file is written first and lists the new checksum and the previous one,
        so a process killed between the two writes leaves the previous checkpoint, still valid.
        """
        data = _dump(state)
        sums = self.dir / "checkpoint.sha256"
        previous = sums.read_text().split()[:1] if sums.exists() else []
        atomic_write_text(sums, "\n".join([_sha256(data), *previous]))
        atomic_write_bytes(self.dir / "checkpoint.pt", data)

    def load_checkpoint(self) -> Any | None:
        """The last checkpoint, or None if there is none or it is damaged (then it is removed)."""
        path = self.dir / "checkpoint.pt"
        if not path.exists():
            return None
        data = path.read_bytes()
        expected = (self.dir / "checkpoint.sha256").read_text().split() \
            if (self.dir / "checkpoint.sha256").exists() else []
        if _sha256(data) not in expected:
            warnings.warn(f"checkpoint {path} is damaged (checksum mismatch); starting over",
                          DamagedRunWarning, stacklevel=2)
            path.unlink()
            return None
        try:
            state = _load(data)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is "damaged"
            warnings.warn(f"checkpoint {path} is unreadable ({exc}); starting over",
                          DamagedRunWarning, stacklevel=2)
            path.unlink()
            return None
        self.resumed = True
        return state


def _policy(on_code_change: str | None) -> tuple[str, str]:
    """(policy, why): from the argument if given, else from ``COURSEPACK_KEEP_STALE``."""
    if on_code_change is not None:
        if on_code_change not in ON_CODE_CHANGE:
            raise ValueError(f"on_code_change must be one of {ON_CODE_CHANGE}, got "
                             f"{on_code_change!r}")
        return on_code_change, f"on_code_change={on_code_change!r}"
    raw = os.environ.get(KEEP_STALE_ENV, "")
    value = raw.strip().lower()
    if value in ("", "0", "false", "no"):
        return "recompute", ""
    if value in ("1", "true", "yes"):
        return "keep", f"{KEEP_STALE_ENV}={raw}"
    raise ValueError(f"{KEEP_STALE_ENV} must be 1 (keep results computed by changed code) or "
                     f"0 / unset (recompute them), got {raw!r}")


def _process_started(pid: int) -> float | None:
    """Start time (seconds since the epoch) of process ``pid``; None if unknown or gone."""
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - no such process, no permission, no psutil
        return None


def this_process() -> dict:
    """What ``meta.json`` records about the process computing a run."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "pid_started": _process_started(os.getpid())}


def process_alive(meta: dict) -> bool:
    """Whether the process recorded in ``meta`` (:func:`this_process`) still runs: same host,
    pid alive and not a zombie, and the same start time (so a reused pid does not count). The
    current process counts as not running it: :meth:`RunStore.run` is synchronous, so a
    ``running`` entry left by this process is one whose run was interrupted."""
    pid = meta.get("pid")
    if meta.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0 \
            or pid == os.getpid():
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is pinned
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = proc.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    recorded = meta.get("pid_started")
    return recorded is None or abs(started - float(recorded)) < 1.0


# ------------------------------------------------------------------------------ claims
_HELD: set[str] = set()          # tokens of the claims this process holds now
_HELD_LOCK = threading.Lock()


def claim_ttl() -> float:
    """Seconds without a heartbeat after which another host's claim expires
    (``COURSEPACK_CLAIM_TTL``, default 120; heartbeats come every quarter of it)."""
    raw = os.environ.get(CLAIM_TTL_ENV, "").strip()
    if not raw:
        return 120.0
    try:
        ttl = float(raw)
    except ValueError:
        ttl = float("nan")
    if not ttl > 0 or ttl == float("inf"):
        raise ValueError(f"{CLAIM_TTL_ENV} must be a positive number of seconds, got {raw!r}")
    return ttl


def _claim_files(folder: Path) -> list[tuple[int, Path]]:
    out = []
    for path in Path(folder).glob("claim-*.json"):
        try:
            out.append((int(path.stem.split("-", 1)[1]), path))
        except ValueError:
            continue
    return sorted(out)


def read_claim(folder: Path) -> tuple[int, dict | None, float] | None:
    """(generation, content or None while being written, seconds since its last heartbeat) of
    the newest claim in a run's folder; None if it has none."""
    files = _claim_files(folder)
    if not files:
        return None
    gen, path = files[-1]
    try:
        age = time.time() - path.stat().st_mtime
        data = json.loads(path.read_text() or "null")
    except FileNotFoundError:
        return read_claim(folder) if _claim_files(folder) != files else None
    except (OSError, ValueError):
        data, age = None, 0.0
    return gen, data if isinstance(data, dict) else None, age


def claim_live(data: dict | None, age: float, ttl: float | None = None) -> bool:
    """Whether a claim (:func:`read_claim`) still holds: not released, and its owner alive (a
    live pid on this host: a claim of this process only while it holds it; on another host a
    heartbeat younger than ``ttl``). A claim being written (``data`` None) holds for ``ttl``."""
    ttl = claim_ttl() if ttl is None else ttl
    if data is None:
        return age < ttl
    if data.get("released"):
        return False
    if data.get("host") == socket.gethostname():
        if data.get("pid") == os.getpid():
            with _HELD_LOCK:
                return data.get("token") in _HELD
        return process_alive(data)
    return age < ttl


class Claim:
    """The exclusive right to compute one run: ``claim-<generation>.json`` in the run's folder.

    Taken by creating the next generation's file with ``O_EXCL`` (one creator wins, also over
    NFS), held while a background thread refreshes its modification time every ``ttl / 4``
    seconds (the heartbeat), given up by :meth:`release` (the file then says ``released``). A
    claim whose owner is gone is superseded by the next generation; an owner that finds a newer
    generation has ``lost`` its claim and must not store a result.
    """

    def __init__(self, folder: Path, generation: int, token: str, ttl: float):
        self.folder, self.generation, self.token, self.ttl = Path(folder), generation, token, ttl
        self.path = self.folder / f"claim-{generation:06d}.json"
        self._stop = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"claim-heartbeat-{self.folder.name}")
        self._thread.start()

    @classmethod
    def acquire(cls, folder: Path, ttl: float | None = None) -> "Claim":
        """Claim the run in ``folder`` or raise :class:`RunBusyError` naming its live owner."""
        ttl = claim_ttl() if ttl is None else ttl
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        for _ in range(100):
            current = read_claim(folder)
            if current is not None and claim_live(current[1], current[2], ttl):
                owner = current[1] or {}
                raise RunBusyError(
                    f"run {folder.name} is being computed by process {owner.get('pid')} on "
                    f"{owner.get('host')} (claimed {owner.get('claimed')}, last heartbeat "
                    f"{current[2]:.0f} s ago)")
            gen = current[0] + 1 if current is not None else 0
            path = folder / f"claim-{gen:06d}.json"
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_umask())
            except FileExistsError:                   # another worker took this generation
                continue
            with _HELD_LOCK:
                _HELD.add(token)
            data = {**this_process(), "token": token, "generation": gen,
                    "claimed": time.strftime("%Y-%m-%dT%H:%M:%S"), "ttl_s": ttl}
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(data, sort_keys=True))
                fh.flush()
                os.fsync(fh.fileno())
            for old, old_path in _claim_files(folder):   # superseded generations
                if old < gen:
                    old_path.unlink(missing_ok=True)
            return cls(folder, gen, token, ttl)
        raise RunBusyError(f"run {folder.name}: could not take its claim (100 contended tries)")

    @property
    def lost(self) -> bool:
        """Whether another worker took the run over (this owner's heartbeat had stopped)."""
        if not self._lost:
            files = _claim_files(self.folder)
            self._lost = bool(files) and files[-1][0] > self.generation
        return self._lost

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        """Give the run up (after storing its result, or when its computation failed)."""
        self._stop.set()
        with _HELD_LOCK:
            _HELD.discard(self.token)
        if not self.lost:
            try:
                data = json.loads(self.path.read_text())
                atomic_write_text(self.path, json.dumps({**data, "released": True,
                                                         "released_at": time.strftime(
                                                             "%Y-%m-%dT%H:%M:%S")},
                                                        sort_keys=True))
            except (OSError, ValueError):
                pass

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


RunFn = Callable[[dict, RunContext], Any]


class RunStore:
    """Results of one notebook's experiments, keyed by config. See the module docstring.

    ``on_code_change``: ``"recompute"`` (the default) or ``"keep"`` a stored run whose code
    fingerprint differs from the current code's; when not given, ``COURSEPACK_KEEP_STALE=1``
    in the environment means ``"keep"``. ``log`` receives the one-line notices (recomputed
    because the code changed, kept although it changed, resumed); stderr by default.
    """

    def __init__(self, namespace: str, root: Path | None = None,
                 on_code_change: str | None = None, log: Callable[[str], None] | None = None):
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise ValueError(f"namespace must be a plain folder name, got {namespace!r}")
        self.namespace = namespace
        self.root = Path(root) if root is not None else cache_dir() / "runs" / namespace
        self.on_code_change, self._keep_reason = _policy(on_code_change)
        self.log = log or _stderr
        self.hits = 0
        self.computed = 0
        self.recomputed_for_code = 0     # of `computed`: stored, but by code that has changed
        self.kept_stale = 0              # of `hits`: kept although their code changed

    def key(self, config: Any) -> str:
        return config_key(config)

    @staticmethod
    def fingerprint(fn: RunFn, code: Callable | Sequence[Callable] | None = None) -> Fingerprint:
        """The code fingerprint a run of ``fn`` records: of ``code`` when given (the
        function(s) that really compute the result, when ``fn`` only stores a result computed
        elsewhere), else of ``fn``."""
        if isinstance(code, Fingerprint):          # computed once by a sweep's parent process
            return code
        fns = fn if code is None else code
        fns = tuple(fns) if isinstance(fns, (tuple, list)) else (fns,)
        return code_fingerprint(*fns)

    def _meta(self, key: str) -> dict | None:
        path = self.root / key / "meta.json"
        if not path.exists():
            return None
        try:
            meta = json.loads(path.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
            return meta
        except (json.JSONDecodeError, OSError, UnicodeDecodeError, ValueError):
            warnings.warn(f"{path} is damaged; the run will be recomputed", DamagedRunWarning,
                          stacklevel=3)
            return None

    @staticmethod
    def _changed(meta: dict, fp: Fingerprint) -> list[str] | None:
        """None if ``meta`` was stored by the code ``fp`` describes, else what differs."""
        code = meta.get("code")
        if not isinstance(code, dict) or "fingerprint" not in code:
            return ["no code fingerprint (stored before the run store recorded one)"]
        if code["fingerprint"] == fp.digest:
            return None
        return changed_parts(code.get("parts"), fp.parts) or ["the fingerprint"]

    def _claimed(self, key: str) -> bool:
        """Whether a live claim (:class:`Claim`) on run ``key`` exists."""
        current = read_claim(self.root / key)
        return current is not None and claim_live(current[1], current[2])

    def _state(self, meta: dict | None, fp: Fingerprint | None, key: str | None = None) -> str:
        if meta is None:
            return "absent"
        status = meta.get("status")
        if status == "done":
            return "stale" if fp is not None and RunStore._changed(meta, fp) else "done"
        if status == "running" and (process_alive(meta)
                                    or (key is not None and self._claimed(key))):
            return "running"
        return "interrupted"

    def status(self, config: Any, fn: RunFn | None = None,
               code: Callable | Sequence[Callable] | None = None) -> str:
        """``"absent"``, ``"running"`` (by a live process: on this host its pid, on another
        host a claim with a recent heartbeat), ``"interrupted"`` (its process died, or its claim
        expired: :meth:`run` resumes it), ``"done"``, or ``"stale"`` (done by code that has
        changed since; known only when ``fn`` or ``code`` is given; ``code`` may be a
        :class:`~utils.code_fingerprint.Fingerprint` computed once)."""
        key = config_key(canonical_config(config))
        fp = self.fingerprint(fn, code) if fn is not None or code is not None else None
        return self._state(self._meta(key), fp, key)

    def _read_result(self, key: str, meta: dict) -> Any | None:
        path = self.root / key / "result.pt"
        if not path.exists():
            warnings.warn(f"{path} is missing; the run will be recomputed", DamagedRunWarning,
                          stacklevel=3)
            return None
        data = path.read_bytes()
        if _sha256(data) != meta.get("result_sha256"):
            warnings.warn(f"{path} is damaged (checksum mismatch); the run will be recomputed",
                          DamagedRunWarning, stacklevel=3)
            return None
        try:
            return _load(data)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"{path} is unreadable ({exc}); the run will be recomputed",
                          DamagedRunWarning, stacklevel=3)
            return None

    def load(self, config: Any, fn: RunFn | None = None,
             code: Callable | Sequence[Callable] | None = None) -> Any | None:
        """The stored result for ``config``, or None if absent, unfinished or damaged. With
        ``fn`` (or ``code``) also None when the run's code has changed since, unless this
        store keeps such results (``on_code_change="keep"``)."""
        config = canonical_config(config)
        key = config_key(config)
        fp = self.fingerprint(fn, code) if fn is not None or code is not None else None
        meta = self._meta(key)
        state = self._state(meta, fp, key)
        if state == "done" or (state == "stale" and self.on_code_change == "keep"):
            return self._read_result(key, meta)
        return None

    def is_done(self, config: Any, fn: RunFn | None = None,
                code: Callable | Sequence[Callable] | None = None) -> bool:
        """Whether :meth:`load` finds a result (pass ``fn`` to count stale runs as not done)."""
        return self.load(config, fn, code) is not None

    @staticmethod
    def _what(changed: list[str]) -> str:
        shown = ", ".join(changed[:4])
        return shown + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")

    def run(self, config: Any, fn: RunFn,
            code: Callable | Sequence[Callable] | None = None) -> Any:
        """Return the stored result for ``config``, computing (or resuming) it if needed.

        The run's code fingerprint (of ``fn``, or of ``code`` when ``fn`` only stores a result
        computed elsewhere) is recorded in ``meta.json``; a stored run whose fingerprint differs
        is recomputed (or kept, see the class docstring), with a one-line notice naming what
        changed. The run is computed under a :class:`Claim`; a run being computed by another
        live process (or thread) raises :class:`RunBusyError` (a RuntimeError).
        """
        config = canonical_config(config)
        key = config_key(config)
        fp = self.fingerprint(fn, code)
        meta = self._meta(key)
        state = self._state(meta, fp, key)
        damaged = None                                # checksum of a result found damaged
        if state == "done":
            cached = self._read_result(key, meta)
            if cached is not None:
                self.hits += 1
                return cached
            damaged = meta.get("result_sha256")
        if state == "running":
            self._refuse(key, meta)
        with Claim.acquire(self.root / key) as claim:
            return self._run_claimed(config, key, fp, fn, claim, damaged)

    def _refuse(self, key: str, meta: dict) -> None:
        raise RunBusyError(
            f"run store '{self.namespace}': run {key} is being computed by process "
            f"{meta.get('pid')} on {meta.get('host')} (started {meta.get('started')}); wait "
            "for it to finish, or stop that process: the run then reads as interrupted and "
            "resumes from its checkpoint here")

    def _run_claimed(self, config: dict, key: str, fp: Fingerprint, fn: RunFn,
                     claim: Claim, damaged: str | None = None) -> Any:
        meta = self._meta(key)                        # re-read: another worker may have finished
        state = self._state(meta, fp)
        stale = False
        if state in ("done", "stale"):
            if state == "stale":
                what = self._what(self._changed(meta, fp))
                if self.on_code_change == "keep":
                    self.log(f"run store '{self.namespace}': keeping run {key} although its code "
                             f"changed ({what}), because {self._keep_reason}")
                else:
                    self.log(f"run store '{self.namespace}': recomputing run {key}: its code "
                             f"changed since it was stored ({what}); {KEEP_STALE_ENV}=1 keeps "
                             "such results")
                    stale = True
            if not stale:
                cached = None if damaged is not None and meta.get("result_sha256") == damaged \
                    else self._read_result(key, meta)
                if cached is not None:
                    self.hits += 1
                    self.kept_stale += state == "stale"
                    return cached
        ctx = RunContext(self, config, key)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        if state == "running":
            self._refuse(key, meta)
        if state == "interrupted":
            has_ck = (ctx.dir / "checkpoint.pt").exists()
            changed = self._changed(meta, fp)
            by = f"process {meta.get('pid')} on {meta.get('host')}, started {meta.get('started')}"
            if has_ck and changed and self.on_code_change == "recompute":
                for name in ("checkpoint.pt", "checkpoint.sha256"):
                    (ctx.dir / name).unlink(missing_ok=True)
                self.log(f"run store '{self.namespace}': run {key} was interrupted ({by}) and "
                         f"its code changed since ({self._what(changed)}): starting over")
            else:
                self.log(f"run store '{self.namespace}': run {key} was interrupted ({by}); "
                         + ("resuming from its checkpoint" if has_ck else
                            "no checkpoint, starting over"))
        if stale:
            for name in ("checkpoint.pt", "checkpoint.sha256"):
                (ctx.dir / name).unlink(missing_ok=True)
        meta = {"namespace": self.namespace, "key": key, "config": config, "status": "running",
                "code": fp.as_meta(), **this_process(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_text(ctx.dir / "meta.json", json.dumps(meta, indent=1, sort_keys=True))
        t0 = time.perf_counter()
        try:
            result = fn(config, ctx)
        except BaseException as exc:
            meta.update(status="interrupted", error=f"{type(exc).__name__}: {exc}"[:500],
                        interrupted=time.strftime("%Y-%m-%dT%H:%M:%S"))
            try:
                atomic_write_text(ctx.dir / "meta.json",
                                  json.dumps(meta, indent=1, sort_keys=True))
            except OSError:
                pass
            raise
        if claim.lost:
            raise RunBusyError(f"run store '{self.namespace}': run {key} was taken over by "
                               "another worker while this one computed it (its heartbeat had "
                               "stopped for longer than the claim's time to live); the result "
                               "computed here is not stored")
        data = _dump(result)
        atomic_write_bytes(ctx.dir / "result.pt", data)
        meta.update(status="done", result_sha256=_sha256(data), resumed=ctx.resumed,
                    wall_s=round(time.perf_counter() - t0, 3),
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        atomic_write_text(ctx.dir / "meta.json", json.dumps(meta, indent=1, sort_keys=True))
        for name in ("checkpoint.pt", "checkpoint.sha256"):
            try:
                (ctx.dir / name).unlink()
            except FileNotFoundError:
                pass
        self.computed += 1
        self.recomputed_for_code += stale
        return result

    def sweep(self, configs: Iterable[Any], fn: RunFn, desc: str | None = None,
              code: Callable | Sequence[Callable] | None = None, **engine: Any) -> list[Any]:
        """``run`` over many configs with a progress bar; returns results in config order.

        Through the one sweep engine, :func:`utils.sweep.sweep`, on the backend that
        ``backend=`` names, else ``COURSEPACK_BACKEND``, else one-thread worker processes when
        two or more runs are missing (a sweep whose runs time themselves, or share the kernel's
        state, passes ``backend="local"``); the other keywords (``workers``, ``fn_kwargs``,
        ``threads``...) go to the engine. A run that raises does not stop the others; the sweep
        then raises :class:`utils.sweep.SweepError` naming every failed config.
        """
        from .sweep import sweep

        return sweep(self, configs, fn, desc=desc, code=code, **engine)

    def summary(self) -> str:
        text = f"run store '{self.namespace}': {self.hits} reused, {self.computed} computed"
        if self.recomputed_for_code:
            text += f" ({self.recomputed_for_code} because their code had changed)"
        if self.kept_stale:
            text += f"; {self.kept_stale} kept although their code had changed"
        return text
