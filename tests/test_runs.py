"""The run store: reuse, resume, atomic writes, damage detection."""

import json
import warnings
from dataclasses import dataclass

import pytest

from utils.runs import DamagedRunWarning, RunStore, atomic_write_text, config_key


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
    assert store.sweep([{"x": 3}, {"x": 4}], fn) == [{"y": 9}, {"y": 16}]
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
