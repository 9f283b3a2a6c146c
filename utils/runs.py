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
* every write is **atomic** (written to a temporary file, flushed, then renamed) and gets the
  usual permissions (``0666`` less the umask), and
* a **damaged** file (truncated, edited, unreadable) is detected through its SHA-256 recorded in
  ``meta.json``: it is reported and recomputed, never silently used.

Layout: ``<cache>/runs/<namespace>/<key>/`` with ``meta.json`` (config, key, status, code
fingerprint, checksums, process, wall time), ``result.pt`` and, while a run is unfinished,
``checkpoint.pt``. The key is the first 16 hex digits of the SHA-256 of the canonical JSON of
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
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .code_fingerprint import Fingerprint, changed_parts, code_fingerprint
from .paths import cache_dir

ON_CODE_CHANGE = ("recompute", "keep")
KEEP_STALE_ENV = "COURSEPACK_KEEP_STALE"


class DamagedRunWarning(UserWarning):
    """A stored file did not match its recorded checksum, or could not be read."""


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
        """Store ``state`` atomically (model/optimizer state dicts, RNG states, history...)."""
        data = _dump(state)
        atomic_write_bytes(self.dir / "checkpoint.pt", data)
        atomic_write_text(self.dir / "checkpoint.sha256", _sha256(data))

    def load_checkpoint(self) -> Any | None:
        """The last checkpoint, or None if there is none or it is damaged (then it is removed)."""
        path = self.dir / "checkpoint.pt"
        if not path.exists():
            return None
        data = path.read_bytes()
        expected = (self.dir / "checkpoint.sha256").read_text().strip() \
            if (self.dir / "checkpoint.sha256").exists() else None
        if expected != _sha256(data):
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

    @staticmethod
    def _state(meta: dict | None, fp: Fingerprint | None) -> str:
        if meta is None:
            return "absent"
        status = meta.get("status")
        if status == "done":
            return "stale" if fp is not None and RunStore._changed(meta, fp) else "done"
        if status == "running" and process_alive(meta):
            return "running"
        return "interrupted"

    def status(self, config: Any, fn: RunFn | None = None,
               code: Callable | Sequence[Callable] | None = None) -> str:
        """``"absent"``, ``"running"`` (by a live process), ``"interrupted"`` (its process died,
        or it ran on another host: :meth:`run` resumes it), ``"done"``, or ``"stale"`` (done by
        code that has changed since; known only when ``fn`` or ``code`` is given)."""
        key = config_key(canonical_config(config))
        fp = self.fingerprint(fn, code) if fn is not None or code is not None else None
        return self._state(self._meta(key), fp)

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
        state = self._state(meta, fp)
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
        changed. A run being computed by another live process raises RuntimeError.
        """
        config = canonical_config(config)
        key = config_key(config)
        fp = self.fingerprint(fn, code)
        meta = self._meta(key)
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
                cached = self._read_result(key, meta)
                if cached is not None:
                    self.hits += 1
                    self.kept_stale += state == "stale"
                    return cached
        ctx = RunContext(self, config, key)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        if state == "running":
            raise RuntimeError(
                f"run store '{self.namespace}': run {key} is being computed by process "
                f"{meta.get('pid')} on {meta.get('host')} (started {meta.get('started')}); wait "
                "for it to finish, or stop that process: the run then reads as interrupted and "
                "resumes from its checkpoint here")
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
              code: Callable | Sequence[Callable] | None = None) -> list[Any]:
        """``run`` over many configs with a progress bar; returns results in config order."""
        from .progress import progress

        configs = list(configs)
        todo = sum(not self.is_done(c, fn, code) for c in configs)
        label = desc or self.namespace
        bar = progress(configs, total=len(configs),
                       desc=f"{label} ({len(configs) - todo} stored, {todo} to run)")
        return [self.run(c, fn, code) for c in bar]

    def summary(self) -> str:
        text = f"run store '{self.namespace}': {self.hits} reused, {self.computed} computed"
        if self.recomputed_for_code:
            text += f" ({self.recomputed_for_code} because their code had changed)"
        if self.kept_stale:
            text += f"; {self.kept_stale} kept although their code had changed"
        return text
