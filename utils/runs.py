"""The run store: every experiment result is stored under a key derived from its config.

A *run* is a function ``fn(config, ctx) -> result`` applied to a plain config (a dict or a
dataclass of JSON-able values). :class:`RunStore` keeps its result on disk so that

* a re-run with the same config **reuses** the finished result instead of recomputing it,
* an interrupted run **resumes** from its last checkpoint (``ctx.save_checkpoint(state)`` /
  ``ctx.load_checkpoint()``),
* every write is **atomic** (written to a temporary file, flushed, then renamed), and
* a **damaged** file (truncated, edited, unreadable) is detected through its SHA-256 recorded in
  ``meta.json``: it is reported and recomputed, never silently used.

Layout: ``<cache>/runs/<namespace>/<key>/`` with ``meta.json`` (config, key, checksums, wall
time), ``result.pt`` and, while a run is unfinished, ``checkpoint.pt``. The key is the first 16
hex digits of the SHA-256 of the canonical JSON of the config, so any change of a value makes a
new run. Put a ``version`` field in a config to invalidate old results on purpose when the code
that produces them changes meaning.

Taught in every notebook that trains something; tested in ``tests/test_runs.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable

from .paths import cache_dir


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


class RunStore:
    """Results of one notebook's experiments, keyed by config. See the module docstring."""

    def __init__(self, namespace: str, root: Path | None = None):
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise ValueError(f"namespace must be a plain folder name, got {namespace!r}")
        self.namespace = namespace
        self.root = Path(root) if root is not None else cache_dir() / "runs" / namespace
        self.hits = 0
        self.computed = 0

    def key(self, config: Any) -> str:
        return config_key(config)

    def _meta(self, key: str) -> dict | None:
        path = self.root / key / "meta.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            warnings.warn(f"{path} is damaged; the run will be recomputed", DamagedRunWarning,
                          stacklevel=3)
            return None

    def load(self, config: Any) -> Any | None:
        """The stored result for ``config``, or None if absent or damaged."""
        config = canonical_config(config)
        key = config_key(config)
        meta = self._meta(key)
        if meta is None or meta.get("status") != "done":
            return None
        path = self.root / key / "result.pt"
        if not path.exists():
            warnings.warn(f"{path} is missing; the run will be recomputed", DamagedRunWarning,
                          stacklevel=2)
            return None
        data = path.read_bytes()
        if _sha256(data) != meta.get("result_sha256"):
            warnings.warn(f"{path} is damaged (checksum mismatch); the run will be recomputed",
                          DamagedRunWarning, stacklevel=2)
            return None
        try:
            return _load(data)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"{path} is unreadable ({exc}); the run will be recomputed",
                          DamagedRunWarning, stacklevel=2)
            return None

    def is_done(self, config: Any) -> bool:
        return self.load(config) is not None

    def run(self, config: Any, fn: Callable[[dict, RunContext], Any]) -> Any:
        """Return the stored result for ``config``, computing (or resuming) it if needed."""
        config = canonical_config(config)
        key = config_key(config)
        cached = self.load(config)
        if cached is not None:
            self.hits += 1
            return cached
        ctx = RunContext(self, config, key)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        meta = {"namespace": self.namespace, "key": key, "config": config, "status": "running",
                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_text(ctx.dir / "meta.json", json.dumps(meta, indent=1, sort_keys=True))
        t0 = time.perf_counter()
        result = fn(config, ctx)
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
        return result

    def sweep(self, configs: Iterable[Any], fn: Callable[[dict, RunContext], Any],
              desc: str | None = None) -> list[Any]:
        """``run`` over many configs with a progress bar; returns results in config order."""
        from .progress import progress

        configs = list(configs)
        todo = sum(not self.is_done(c) for c in configs)
        label = desc or self.namespace
        bar = progress(configs, total=len(configs),
                       desc=f"{label} ({len(configs) - todo} stored, {todo} to run)")
        return [self.run(c, fn) for c in bar]

    def summary(self) -> str:
        return f"run store '{self.namespace}': {self.hits} reused, {self.computed} computed"
