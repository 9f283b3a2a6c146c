"""The run store: reuse, resume, atomic writes, damage detection, code fingerprints (a changed
run function or pack module recomputes), interrupted runs (a killed process resumes)."""

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from utils import code_fingerprint as cf
from utils.runs import (DamagedRunWarning, RunStore, atomic_write_text, config_key,
                        process_alive)


def test_key_is_canonical_and_sensitive():
    assert config_key({"a": 1, "b": 2.0}) == config_key({"b": 2.0, "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    assert len(config_key({"a": 1})) == 16


@dataclass
class Cfg:
    lr: float
    seed: int


def test_dataclass_and_bad_configs():
    assert config_key(Cfg(0.1, 0)) == config_key({"lr": 0.1, "seed": 0})
    with pytest.raises(TypeError, match="JSON"):
        config_key({"x": object()})
    with pytest.raises(TypeError, match="dict or a dataclass"):
        config_key([1, 2])
    with pytest.raises(TypeError):
        config_key({"x": float("nan")})


def test_reuse(tmp_path):
    calls = []

    def fn(cfg, ctx):
        calls.append(cfg["x"])
        return {"y": cfg["x"] ** 2}

    store = RunStore("t", root=tmp_path)
    assert store.run({"x": 3}, fn) == {"y": 9}
    assert RunStore("t", root=tmp_path).run({"x": 3}, fn) == {"y": 9}
    assert calls == [3]
    assert store.sweep([{"x": 3}, {"x": 4}], fn, backend="local") == [{"y": 9}, {"y": 16}]
    assert calls == [3, 4]


def _counting_fn(stop_at=None):
    """A 10-step 'training' that checkpoints every step; optionally dies at step stop_at."""

    def fn(cfg, ctx):
        state = ctx.load_checkpoint() or {"step": 0, "history": []}
        while state["step"] < 10:
            if stop_at is not None and state["step"] == stop_at:
                raise KeyboardInterrupt("killed")
            state["history"].append(state["step"] * cfg["k"])
            state["step"] += 1
            ctx.save_checkpoint(state)
        return {"history": state["history"], "resumed": ctx.resumed}

    return fn


def test_resume_after_interrupt_gives_same_result(tmp_path):
    store = RunStore("t", root=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        store.run({"k": 2}, _counting_fn(stop_at=4))
    assert store.load({"k": 2}) is None  # unfinished runs are never returned as results
    resumed = store.run({"k": 2}, _counting_fn())
    fresh = RunStore("u", root=tmp_path / "u").run({"k": 2}, _counting_fn())
    assert resumed["history"] == fresh["history"] == [2 * i for i in range(10)]
    assert resumed["resumed"] is True and fresh["resumed"] is False
    assert not (tmp_path / config_key({"k": 2}) / "checkpoint.pt").exists()


def test_damaged_result_is_detected_and_recomputed(tmp_path):
    calls = []

    def fn(cfg, ctx):
        calls.append(1)
        return {"v": list(range(100))}

    store = RunStore("t", root=tmp_path)
    store.run({"a": 1}, fn)
    path = tmp_path / config_key({"a": 1}) / "result.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(DamagedRunWarning, match="damaged"):
        assert store.run({"a": 1}, fn) == {"v": list(range(100))}
    assert len(calls) == 2
    # truncated meta.json
    (tmp_path / config_key({"a": 1}) / "meta.json").write_text("{\"stat")
    with pytest.warns(DamagedRunWarning):
        store.run({"a": 1}, fn)
    assert len(calls) == 3


def test_damaged_checkpoint_restarts(tmp_path):
    store = RunStore("t", root=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        store.run({"k": 1}, _counting_fn(stop_at=5))
    ck = tmp_path / config_key({"k": 1}) / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:20])
    with pytest.warns(DamagedRunWarning, match="checkpoint"):
        out = store.run({"k": 1}, _counting_fn())
    assert out["history"] == list(range(10)) and out["resumed"] is False


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_text(target, json.dumps({"old": 1}))

    import os

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, json.dumps({"new": 2}))
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_bad_namespace():
    with pytest.raises(ValueError):
        RunStore("a/b")


# ------------------------------------------------------------------ code fingerprints (issue 18)
ROOT = Path(__file__).resolve().parent.parent


def _define(tmp_path, source, name="run_fn", extra_globals=None):
    """Functions as a notebook defines them: exec'd from a source file with its own globals."""
    path = tmp_path / f"cell_{uuid.uuid4().hex[:8]}.py"
    path.write_text(textwrap.dedent(source))
    ns = {"__name__": "notebook_under_test", **(extra_globals or {})}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns[name]


RUN_V1 = """
def helper(x):
    return x + 1


def run_fn(cfg, ctx):
    return {"y": helper(cfg["x"]) * 2}
"""


def _store(tmp_path, **kw):
    lines = []
    return RunStore("t", root=tmp_path / "store", log=lines.append, **kw), lines


def test_meta_records_fingerprint_of_fn_and_pack_modules(tmp_path):
    from utils import seeding

    fn = _define(tmp_path, """
        def run_fn(cfg, ctx):
            S.seed_everything(cfg["a"])
            return {"p": np.random.rand()}
        """, extra_globals={"S": seeding, "np": __import__("numpy")})
    store, _ = _store(tmp_path)
    store.run({"a": 1}, fn)
    meta = json.loads((store.root / config_key({"a": 1}) / "meta.json").read_text())
    code = meta["code"]
    assert len(code["fingerprint"]) == 16 and code["fingerprint"] == cf.code_fingerprint(fn).digest
    # the function's own source, and the pack module it uses; not the run store, not torch
    assert set(code["parts"]) == {"notebook_under_test.run_fn", "utils/seeding.py"}
    assert meta["pid"] == os.getpid() and meta["status"] == "done"
    # a pack function: its module and the pack modules that module imports, transitively
    from utils.train import arithmetic

    parts = cf.code_fingerprint(arithmetic.train).parts
    for f in ("utils/train/arithmetic.py", "utils/nn/gpt.py", "utils/nn/lstm.py",
              "utils/data/arithmetic.py", "utils/train/losses.py"):
        assert f in parts, f
    assert "utils/runs.py" not in parts and "utils/progress.py" not in parts   # infrastructure
    assert "utils/tokenization/bpe.py" not in parts                             # not imported


def test_changing_run_function_source_recomputes(tmp_path):
    store, lines = _store(tmp_path)
    assert store.run({"x": 1}, _define(tmp_path, RUN_V1)) == {"y": 4}
    # comments, docstrings and layout are not code: reused
    same = RUN_V1.replace("return x + 1", "# add one\n    return (x\n            + 1)")
    assert store.run({"x": 1}, _define(tmp_path, same)) == {"y": 4}
    assert (store.hits, store.computed, lines) == (1, 1, [])
    # the run function itself changed
    v2 = RUN_V1.replace("* 2", "* 3")
    assert store.status({"x": 1}, _define(tmp_path, v2)) == "stale"
    assert store.run({"x": 1}, _define(tmp_path, v2)) == {"y": 6}
    assert store.computed == 2 and store.recomputed_for_code == 1
    assert len(lines) == 1 and "recomputing" in lines[0]
    assert "notebook_under_test.run_fn" in lines[0]
    # a helper defined beside it (another cell of the notebook) changed
    v3 = v2.replace("return x + 1", "return x + 2")
    assert store.run({"x": 1}, _define(tmp_path, v3)) == {"y": 9}
    assert "notebook_under_test.helper" in lines[-1] and "run_fn" not in lines[-1]
    # unchanged code, a new store object: reused
    store2, lines2 = _store(tmp_path)
    assert store2.run({"x": 1}, _define(tmp_path, v3)) == {"y": 9}
    assert (store2.hits, store2.computed, lines2) == (1, 0, [])
    assert store.summary().endswith("1 reused, 3 computed (2 because their code had changed)")


@pytest.fixture
def temp_pack(tmp_path, monkeypatch):
    """A throw-away package counted as pack code: a.py <- b.py (static import), c.py apart."""
    name = f"cptmp_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def scale():\n    return 2\n")
    (pkg / "b.py").write_text("from .a import scale\n\n\ndef f(x):\n    return scale() * x\n")
    (pkg / "c.py").write_text("def unrelated():\n    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(cf, "PACKAGES", (*cf.PACKAGES, name))
    cf._package_dir.cache_clear()
    yield name, pkg
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def test_changing_an_imported_pack_module_recomputes(tmp_path, temp_pack):
    name, pkg = temp_pack
    b = importlib.import_module(f"{name}.b")
    fn = _define(tmp_path, """
        def run_fn(cfg, ctx):
            return {"y": B.f(cfg["x"])}
        """, extra_globals={"B": b})
    assert set(cf.code_fingerprint(fn).parts) == {"notebook_under_test.run_fn",
                                                  f"{name}/a.py", f"{name}/b.py"}
    store, lines = _store(tmp_path)
    assert store.run({"x": 5}, fn) == {"y": 10}
    (pkg / "c.py").write_text("def unrelated():\n    return 1\n")   # not imported: reused
    assert store.run({"x": 5}, fn) == {"y": 10} and store.computed == 1 and lines == []
    (pkg / "a.py").write_text("def scale():\n    return 3  # fixed\n")   # imported by b.py
    importlib.reload(importlib.import_module(f"{name}.a"))
    importlib.reload(b)
    assert store.run({"x": 5}, fn) == {"y": 15}
    assert store.computed == 2 and len(lines) == 1 and f"{name}/a.py" in lines[0]
    assert f"{name}/b.py" not in lines[0]


def test_keeping_stale_results_on_purpose(tmp_path, monkeypatch):
    store, _ = _store(tmp_path)
    store.run({"x": 1}, _define(tmp_path, RUN_V1))
    v2 = _define(tmp_path, RUN_V1.replace("* 2", "* 3"))
    monkeypatch.setenv("COURSEPACK_KEEP_STALE", "1")
    kept, lines = _store(tmp_path)
    assert kept.on_code_change == "keep"
    assert kept.run({"x": 1}, v2) == {"y": 4} and kept.computed == 0 and kept.kept_stale == 1
    assert "keeping run" in lines[0] and "COURSEPACK_KEEP_STALE=1" in lines[0]
    assert kept.load({"x": 1}, v2) == {"y": 4} and kept.status({"x": 1}, v2) == "stale"
    monkeypatch.setenv("COURSEPACK_KEEP_STALE", "maybe")
    with pytest.raises(ValueError, match="COURSEPACK_KEEP_STALE must be 1"):
        RunStore("t", root=tmp_path)
    monkeypatch.delenv("COURSEPACK_KEEP_STALE")
    arg, lines = _store(tmp_path, on_code_change="keep")
    assert arg.run({"x": 1}, v2) == {"y": 4} and "on_code_change='keep'" in lines[0]
    with pytest.raises(ValueError, match="on_code_change must be one of"):
        RunStore("t", root=tmp_path, on_code_change="ignore")
    # the default recomputes; load with the function says "not stored" meanwhile
    fresh, _ = _store(tmp_path)
    assert fresh.load({"x": 1}, v2) is None and fresh.load({"x": 1}) == {"y": 4}
    assert fresh.run({"x": 1}, v2) == {"y": 6}


def test_run_stored_without_fingerprint_is_recomputed(tmp_path):
    store, lines = _store(tmp_path)
    fn = _define(tmp_path, RUN_V1)
    store.run({"x": 1}, fn)
    path = store.root / config_key({"x": 1}) / "meta.json"
    meta = json.loads(path.read_text())
    del meta["code"]                                   # as written before issue 18
    path.write_text(json.dumps(meta))
    assert store.status({"x": 1}, fn) == "stale"
    store.run({"x": 1}, fn)
    assert store.computed == 2 and "no code fingerprint" in lines[0]


KILLED = """
import os, signal, sys
sys.path.insert(0, {src!r})
from killfn import run_fn
from utils.runs import RunStore
RunStore("t", root={root!r}).run({{"k": 3}}, run_fn)
"""


def test_killed_run_reads_as_interrupted_and_resumes(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "killfn.py").write_text(textwrap.dedent("""
        import os
        import signal


        def run_fn(cfg, ctx):
            state = ctx.load_checkpoint() or {"step": 0, "history": []}
            while state["step"] < 10:
                if state["step"] == 4 and os.environ.get("KILL_AT_4"):
                    os.kill(os.getpid(), signal.SIGKILL)
                state["history"].append(state["step"] * cfg["k"])
                state["step"] += 1
                ctx.save_checkpoint(state)
            return {"history": state["history"], "resumed": ctx.resumed}
        """))
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(src=str(src), root=str(root))],
                            cwd=ROOT, env={**os.environ, "KILL_AT_4": "1"})
    assert proc.wait(timeout=120) == -signal.SIGKILL
    meta = json.loads((root / config_key({"k": 3}) / "meta.json").read_text())
    assert meta["status"] == "running" and meta["pid"] == proc.pid   # what the dead process left
    assert not process_alive(meta)
    sys.path.insert(0, str(src))
    try:
        from killfn import run_fn
    finally:
        sys.path.remove(str(src))
    lines = []
    store = RunStore("t", root=root, log=lines.append)
    assert store.status({"k": 3}) == "interrupted" and store.load({"k": 3}) is None
    out = store.run({"k": 3}, run_fn)
    assert out == {"history": [3 * i for i in range(10)], "resumed": True}
    assert "was interrupted" in lines[0] and "resuming from its checkpoint" in lines[0]
    assert store.status({"k": 3}, run_fn) == "done"


def test_running_elsewhere_is_refused_and_other_host_is_interrupted(tmp_path):
    store, _ = _store(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        store.run({"k": 1}, _counting_fn(stop_at=2))
    path = store.root / config_key({"k": 1}) / "meta.json"
    meta = json.loads(path.read_text())
    assert meta["status"] == "interrupted" and "KeyboardInterrupt" in meta["error"]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        meta.update(status="running", pid=sleeper.pid,
                    pid_started=psutil.Process(sleeper.pid).create_time())
        path.write_text(json.dumps(meta))
        assert store.status({"k": 1}) == "running"
        with pytest.raises(RuntimeError, match=f"being computed by process {sleeper.pid}"):
            store.run({"k": 1}, _counting_fn())
        path.write_text(json.dumps({**meta, "pid_started": meta["pid_started"] - 100}))
        assert store.status({"k": 1}) == "interrupted"          # the pid was reused
        path.write_text(json.dumps({**meta, "host": "another-machine"}))
        assert store.status({"k": 1}) == "interrupted"
    finally:
        sleeper.kill()
        sleeper.wait()
    path.write_text(json.dumps(meta))
    assert store.status({"k": 1}) == "interrupted"              # its process is gone
    assert store.run({"k": 1}, _counting_fn())["resumed"] is True


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_get_umask_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "f.html", "<p>")
    finally:
        os.umask(old)
    assert (tmp_path / "f.html").stat().st_mode & 0o777 == 0o666 & ~umask
