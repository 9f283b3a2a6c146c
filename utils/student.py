"""The student edition: the pack with its exercises cut out, graded by the pack's own tests.

Pack machinery (issue 21), not course material. One master, two editions: the pack is the model
answer; ``make student`` writes ``build/student/``, the same repository in which every part a
student writes is replaced by ``raise NotImplementedError("exercise: <name> (see <file>)")``,
and ``make grade [STUDENT=path]`` runs the pack's tests of each exercise against a student's
edition and prints exercise / tests passed / points.

**Markers.** An exercise is marked in the pack's source by two comment lines (comments, so the
code fingerprint of :mod:`utils.code_fingerprint` and every stored run are unchanged)::

    def forward(self, x, hx):
        # >>> exercise: lstm_cell
        # hint: one sigmoid per gate i, f, o on [x; h], tanh for the candidate; then c and h
        h, c = hx                                   # (B, d_h), (B, d_h)
        ...
        return h_t, c_t
        # <<< exercise

In the student edition the markers stay (they show where to write); between them only the
comment lines survive (the ``# hint:`` lines and any other full-line comment), each shape
comment of a removed line survives as ``# h, c: (B, d_h), (B, d_h)``, and the code becomes the
``raise``. Signatures and docstrings are outside the markers, so they stay. One exercise may
have several regions (e.g. ``layer_norm``: ``utils/nn/gpt.py`` and ``utils/nn/layers.py``), so
no second copy of a solution survives elsewhere in ``utils``. The same markers work inside a
notebook's code cell (``notebooks/NN_topic.py``): that cell becomes an exercise cell.

**Exercises and points** live in one file an instructor edits, ``grading.toml`` at the
repository root: per exercise its points, the seed question it answers, and the pack's tests
that grade it (pytest node ids; a node id without ``[...]`` selects every parametrisation).
An exercise's tests may also call the exercises it builds on (``needs``).

**Notebooks.** Each student notebook gets a cell right after its ``start(...)`` cell calling
:func:`require` with the exercises its code can reach (the static import closure of its
``utils`` imports, :func:`notebook_exercises`); :func:`require` runs a tiny probe of each and
stops the notebook with :class:`ExerciseNotDone` naming the first unfinished exercise, instead
of a traceback from deep inside a training loop. In the pack every probe passes.

**Grading** runs ``python -m pytest`` on a fresh copy of the *pack's* ``tests/`` (a student
cannot grade with edited tests) in a temporary folder that links the student's ``data/`` and
``notebooks/``, with the student's tree first on ``PYTHONPATH``; a plugin stops the run unless
``utils`` is imported from the student's tree, and records each test's outcome. A student gets
``points × passed / run`` per exercise; the exit status is 0 only with full points.

Commands (also ``make student`` and ``make grade``)::

    python -m utils.student build [--out build/student] [--only NAME ...]
    python -m utils.student grade [--student PATH] [--json FILE] [--exercise NAME ...]
    python -m utils.student list
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .code_fingerprint import import_from_target
from .paths import ROOT

GRADING_FILE = "grading.toml"
OPEN = re.compile(r"^(?P<indent>[ \t]*)# >>> exercise: (?P<name>[A-Za-z_]\w*)\s*$")
CLOSE = re.compile(r"^[ \t]*# <<< exercise\s*$")
STUB = 'raise NotImplementedError("exercise: {name} (see {path})")'
STUB_RE = re.compile(r"exercise: (?P<name>[A-Za-z_]\w*) \(see (?P<path>[^)]+)\)")
SHAPE_COMMENT = re.compile(r"^#\s*\(")
LHS = re.compile(r"^\s*(?P<lhs>[A-Za-z_][\w.\[\], ]*?)\s*(?:[-+*/@]?=)(?!=)")
EXCLUDED_DIRS = (".venv", "build", "data/cache", "figures", ".git")
EXCLUDED_PARTS = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
CONTROL = re.compile(r"\s*(if|elif|else|raise|for|while|try|except|with|assert)\b")
MIN_SOLUTION_CHARS = 16
"""Removed code lines at least this long (without spaces) are grepped for in the edition."""


class ExerciseError(ValueError):
    """A marker or ``grading.toml`` problem: unbalanced markers, an unknown exercise, ..."""


class ExerciseNotDone(RuntimeError):
    """Raised by :func:`require` when an exercise a notebook needs is not written yet."""


# --------------------------------------------------------------------------- markers


@dataclass
class Region:
    """One marked region: lines ``start`` (the open marker) to ``end`` (the close marker)."""

    name: str
    path: str                   # repository-relative, posix
    start: int                  # 0-based line index of the open marker
    end: int                    # 0-based line index of the close marker
    indent: str
    hints: list[str] = field(default_factory=list)


def _comments(text: str) -> dict[int, tuple[int, str]]:
    """0-based line -> (column, text) of the comment token on that line (Python source)."""
    found = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0] - 1] = (tok.start[1], tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise ExerciseError(f"cannot tokenize: {exc}") from exc
    return found


def find_regions(text: str, path: str) -> list[Region]:
    """The exercise regions of one file, checked: markers balanced, not nested, the body at
    least as indented as its open marker and holding code."""
    lines = text.splitlines()
    regions: list[Region] = []
    current: Region | None = None
    for i, line in enumerate(lines):
        m = OPEN.match(line)
        if m:
            if current is not None:
                raise ExerciseError(f"{path}:{i + 1}: exercise {m['name']!r} opens inside "
                                    f"exercise {current.name!r} (opened at line "
                                    f"{current.start + 1}); close it first with '# <<< exercise'")
            current = Region(m["name"], path, i, -1, m["indent"])
        elif CLOSE.match(line):
            if current is None:
                raise ExerciseError(f"{path}:{i + 1}: '# <<< exercise' without an open "
                                    "'# >>> exercise: NAME' marker")
            current.end = i
            body = lines[current.start + 1:i]
            code = [b for b in body if b.strip() and not b.strip().startswith("#")]
            if not code:
                raise ExerciseError(f"{path}:{current.start + 1}: exercise {current.name!r} "
                                    "marks no code")
            shallow = [b for b in body if b.strip() and not b.startswith(current.indent)]
            if shallow:
                raise ExerciseError(f"{path}:{current.start + 1}: exercise {current.name!r}: "
                                    f"a line is less indented than its marker: {shallow[0]!r}")
            current.hints = [b.strip()[len("# hint:"):].strip() for b in body
                             if b.strip().startswith("# hint:")]
            regions.append(current)
            current = None
        elif "# >>> exercise" in line or "# <<< exercise" in line:
            raise ExerciseError(f"{path}:{i + 1}: malformed exercise marker {line.strip()!r}; "
                                "use '# >>> exercise: NAME' and '# <<< exercise' on lines "
                                "of their own")
    if current is not None:
        raise ExerciseError(f"{path}:{current.start + 1}: exercise {current.name!r} is never "
                            "closed with '# <<< exercise'")
    return regions


def cut(text: str, path: str, only: Iterable[str] | None = None
        ) -> tuple[str, list[Region], list[list[str]]]:
    """The student's version of one file: (new text, regions cut, removed code lines per
    region, each without its trailing comment).

    ``only``: cut just these exercises (the others keep their solution)."""
    regions = find_regions(text, path)
    if only is not None:
        only = set(only)
        regions = [r for r in regions if r.name in only]
    if not regions:
        return text, [], []
    comments = _comments(text)
    lines = text.splitlines(keepends=True)
    newline = "\n"
    out: list[str] = []
    removed: list[list[str]] = []
    pos = 0
    for r in regions:
        out.extend(lines[pos:r.start + 1])                   # up to and with the open marker
        removed.append([])
        for i in range(r.start + 1, r.end):
            line = lines[i].rstrip("\r\n")
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                out.append(r.indent + stripped + newline)    # hints and other comments stay
                continue
            col, comment = comments.get(i, (None, None))
            code = line[:col].rstrip() if col is not None else line.rstrip()
            removed[-1].append(code.strip())
            if comment and SHAPE_COMMENT.match(comment):
                m = LHS.match(code)
                label = f"{m['lhs'].strip()}: " if m else ""
                out.append(f"{r.indent}# {label}{comment.lstrip('#').strip()}{newline}")
        out.append(r.indent + STUB.format(name=r.name, path=path) + newline)
        out.append(lines[r.end])                             # the close marker
        pos = r.end + 1
    out.extend(lines[pos:])
    return "".join(out), regions, removed


# --------------------------------------------------------------------------- the grading file


@dataclass
class Exercise:
    name: str
    points: float
    tests: list[str]
    seed: str = ""
    title: str = ""
    needs: list[str] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({r.path for r in self.regions})


def source_files(root: Path = ROOT) -> list[str]:
    """Repository-relative paths of the files an edition is made of: tracked and untracked
    but not ignored (``git ls-files``); without git, every file outside the build, cache,
    figures and virtual-environment folders."""
    root = Path(root)
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                              "-z"], cwd=root, capture_output=True, check=True).stdout
        files = sorted({f for f in out.decode().split("\0") if f})
    except (OSError, subprocess.CalledProcessError):
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [f for f in files
            if not any(f == d or f.startswith(d + "/") for d in EXCLUDED_DIRS)
            and not any(part in EXCLUDED_PARTS for part in f.split("/"))
            and (root / f).is_file()]


def marked_files(root: Path = ROOT) -> list[str]:
    """The Python files (``utils``, notebooks) that may hold exercise markers."""
    return [f for f in source_files(root) if f.endswith(".py") and f != "utils/student.py"
            and (f.startswith("utils/") or f.startswith("notebooks/"))]


def load_exercises(root: Path = ROOT) -> dict[str, Exercise]:
    """``grading.toml`` joined with the markers found in the sources; inconsistencies (an
    exercise without markers, markers of an exercise that is not graded, no tests, no hint)
    raise :class:`ExerciseError`."""
    root = Path(root)
    gfile = root / GRADING_FILE
    try:
        table = tomllib.loads(gfile.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExerciseError(f"{gfile} is missing: it lists the exercises, their points and "
                            "tests") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExerciseError(f"{gfile}: {exc}") from None
    exercises: dict[str, Exercise] = {}
    for name, spec in table.items():
        if not isinstance(spec, dict):
            raise ExerciseError(f"{GRADING_FILE}: [{name}] must be a table with points and tests")
        unknown = set(spec) - {"points", "tests", "seed", "title", "needs"}
        if unknown:
            raise ExerciseError(f"{GRADING_FILE}: [{name}] has unknown keys {sorted(unknown)}; "
                                "allowed: points, tests, seed, title, needs")
        points, tests = spec.get("points"), spec.get("tests")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise ExerciseError(f"{GRADING_FILE}: [{name}] points must be a number >= 0, got "
                                f"{points!r}")
        if not tests or not all(isinstance(t, str) and "::" in t for t in tests):
            raise ExerciseError(f"{GRADING_FILE}: [{name}] tests must be a non-empty list of "
                                f"pytest node ids like 'tests/test_x.py::test_y', got {tests!r}")
        exercises[name] = Exercise(name, float(points), list(tests), spec.get("seed", ""),
                                   spec.get("title", ""), list(spec.get("needs", [])))
    for ex in exercises.values():
        bad = [n for n in ex.needs if n not in exercises]
        if bad:
            raise ExerciseError(f"{GRADING_FILE}: [{ex.name}] needs unknown exercises {bad}")
    for f in marked_files(root):
        for r in find_regions((root / f).read_text(encoding="utf-8"), f):
            if r.name not in exercises:
                raise ExerciseError(f"{f}:{r.start + 1}: exercise {r.name!r} is marked but not "
                                    f"listed in {GRADING_FILE}")
            exercises[r.name].regions.append(r)
    for ex in exercises.values():
        if not ex.regions:
            raise ExerciseError(f"{GRADING_FILE}: exercise {ex.name!r} has no marked region in "
                                "utils/ or notebooks/")
        if not any(r.hints for r in ex.regions):
            raise ExerciseError(f"exercise {ex.name!r} has no '# hint:' line")
    return exercises


# --------------------------------------------------------------------------- notebooks' needs


def _module_path(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _imports(tree: ast.AST, module: str, is_pkg: bool, root: Path) -> set[str]:
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = import_from_target(node, package)
            targets = [target] + [f"{target}.{a.name}" for a in node.names]
        for t in targets:
            if t.split(".")[0] == "utils" and _module_path(root, t) is not None:
                found.add(t)
    return found


def import_closure(source: str, root: Path = ROOT, module: str = "__main__") -> set[str]:
    """The ``utils`` modules ``source`` imports, directly or through other pack modules."""
    root = Path(root)
    todo = list(_imports(ast.parse(source), module, False, root))
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen or mod == "utils.student":
            continue
        seen.add(mod)
        path = _module_path(root, mod)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo.extend(_imports(tree, mod, path.name == "__init__.py", root))
    return seen


def notebook_exercises(notebook_py: Path, exercises: dict[str, Exercise],
                       root: Path = ROOT) -> list[str]:
    """The exercises (in ``grading.toml`` order) a notebook's code can reach: those with a
    region in a module of its import closure, or in the notebook itself."""
    root = Path(root)
    text = Path(notebook_py).read_text(encoding="utf-8")
    files = {_module_path(root, m).relative_to(root).as_posix()
             for m in import_closure(text, root)}
    files.add(Path(notebook_py).resolve().relative_to(root.resolve()).as_posix())
    return [n for n, ex in exercises.items() if any(f in files for f in ex.files)]


REQUIRE_CELL = '''# %% [markdown]
# **Student edition.** This notebook runs code you write in the exercises below. The next cell
# checks them with a tiny probe each and stops, naming the first one not written yet;
# `make grade` (or the tests listed in `grading.toml`) tells whether it is right.

# %%
from utils.student import require

require({names})

'''


def _insert_require(text: str, names: list[str]) -> str:
    """Put the :data:`REQUIRE_CELL` after the cell that calls ``start(...)``."""
    lines = text.splitlines(keepends=True)
    start_at = next((i for i, l in enumerate(lines) if re.search(r"\bstart\(", l)
                     and not l.lstrip().startswith("#")), None)
    if start_at is None:
        raise ExerciseError("the notebook has no start(...) call to put the require cell after")
    nxt = next((i for i in range(start_at + 1, len(lines)) if lines[i].startswith("# %%")),
               len(lines))
    cell = REQUIRE_CELL.format(names=", ".join(repr(n) for n in names))
    head = "".join(lines[:nxt])
    if not head.endswith("\n\n"):
        head = head.rstrip("\n") + "\n\n"
    return head + cell + "".join(lines[nxt:])


def _ipynb_from_py(text: str) -> str:
    import jupytext

    return jupytext.writes(jupytext.reads(text, fmt="py:percent"), fmt="ipynb")


# --------------------------------------------------------------------------- build


STUDENT_README = """# Student edition

This is the course pack with its from-scratch parts left for you to write. Everything else
(data, training loops, notebooks, tests, `make report`) is the pack's; see `PACK_README.md` for
the notebooks and what each answers.

## How to work

1. `make setup` once (a `.venv` with the pinned packages), then `make lab`.
2. Pick an exercise from the table below and open its file. Between the lines
   `# >>> exercise: NAME` and `# <<< exercise` you find hints and the shapes of the
   intermediate tensors, then `raise NotImplementedError(...)`: replace that line with your
   code. Keep the signature; the docstring above says what the function must return.
3. Each notebook checks, in a cell right after its first code cells, the exercises its code
   uses, and stops there naming the first one not written yet (`ExerciseNotDone: ...`);
   once they are written it runs on.

## How to check

* `make grade` runs the tests of every exercise and prints exercise / tests passed / points
  (the weights are in `grading.toml`). The instructor grades with the same tests.
* One exercise at a time: `make grade EXERCISES="lstm_cell"`, or run its tests directly, e.g.
  `.venv/bin/python -m pytest -q tests/test_lstm.py -k cell` (the node ids are listed below and
  in `grading.toml`).
* Some tests of an exercise also use the exercises it builds on (column *needs*).

## Exercises

{table}
"""


def exercise_table(exercises: dict[str, Exercise]) -> str:
    """Markdown table: exercise, seed question, where, points, tests, needs."""
    rows = ["| exercise | seed question | where | points | tests | needs |",
            "|---|---|---|---|---|---|"]
    for ex in exercises.values():
        where = "<br>".join(f"`{f}`" for f in ex.files)
        tests = "<br>".join(f"`{t.split('::')[0].removeprefix('tests/')}::"
                            f"{t.split('::')[1]}`" for t in ex.tests)
        needs = ", ".join(ex.needs) or "–"
        rows.append(f"| `{ex.name}` {ex.title} | {ex.seed} | {where} | {ex.points:g} | {tests} "
                    f"| {needs} |")
    return "\n".join(rows)


def _chosen(exercises: dict[str, Exercise], names: Iterable[str] | None) -> list[str]:
    """``names`` checked against the exercises (all of them when None); an unknown name is an
    error that lists the known ones."""
    if names is None:
        return list(exercises)
    names = list(names)
    unknown = [n for n in names if n not in exercises]
    if unknown:
        raise ExerciseError(f"unknown exercises {unknown}; known: {', '.join(exercises)}")
    return names


def build(out: Path | str | None = None, root: Path = ROOT, only: Iterable[str] | None = None,
          log: Callable[[str], None] = print) -> dict:
    """Write the student edition of the repository at ``root`` into ``out`` (default
    ``build/student``), atomically (a temporary sibling folder renamed at the end).

    ``only``: cut just these exercises. Returns a summary: exercises, files changed and the
    removed solution lines. Raises :class:`ExerciseError` if a removed solution line
    (≥ :data:`MIN_SOLUTION_CHARS` characters) still occurs anywhere in the edition."""
    root = Path(root).resolve()
    out = Path(out) if out is not None else root / "build" / "student"
    out = out.resolve()
    if out == root or root.is_relative_to(out):
        raise ExerciseError(f"refusing to write the student edition over the pack itself ({out})")
    exercises = load_exercises(root)
    cut_names = set(_chosen(exercises, only))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    removed: dict[str, list[list[str]]] = {}
    changed: list[str] = []
    try:
        files = source_files(root)
        marked = set(marked_files(root))
        for f in files:
            src, dst = root / f, tmp / f
            dst.parent.mkdir(parents=True, exist_ok=True)
            if f in marked:
                text = src.read_text(encoding="utf-8")
                new, regions, lines = cut(text, f, cut_names)
                if f.startswith("notebooks/") and re.match(r"notebooks/\d\d_\w+\.py$", f):
                    needs = [n for n in notebook_exercises(src, exercises, root)
                             if n in cut_names]
                    if needs:
                        new = _insert_require(new, needs)
                if new != text:
                    try:
                        ast.parse(new)
                    except SyntaxError as exc:
                        raise ExerciseError(f"{f}: the cut source does not parse: {exc}") from exc
                    changed.append(f)
                    dst.write_text(new, encoding="utf-8")
                    ipynb = f[:-3] + ".ipynb"
                    if f.startswith("notebooks/") and ipynb in files:
                        (tmp / ipynb).write_text(_ipynb_from_py(new), encoding="utf-8")
                    if lines:
                        removed[f] = lines
                    continue
            if f.endswith(".ipynb") and (tmp / f).exists():
                continue                                     # written from its changed .py
            shutil.copy2(src, dst)
        if (root / "README.md").exists():
            shutil.copy2(root / "README.md", tmp / "PACK_README.md")
        (tmp / "README.md").write_text(
            STUDENT_README.format(table=exercise_table(exercises)), encoding="utf-8")
        (tmp / "STUDENT_EDITION").write_text(
            "Generated by `make student` (utils/student.py) from the course pack; exercises "
            f"cut: {', '.join(sorted(cut_names))}\n", encoding="utf-8")
        leaks = find_leaks(tmp, removed, shared_lines(root))
        if leaks:
            raise ExerciseError("solution lines survive in the student edition:\n" + "\n".join(
                f"  {where}: {line}" for where, line in leaks[:20]))
        if out.exists():
            old = out.with_name(f".{out.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n_lines = sum(len(r) for v in removed.values() for r in v)
    log(f"student edition: {out} ({len(cut_names)} exercises, {n_lines} solution lines removed "
        f"from {len(removed)} files)")
    return {"out": str(out), "exercises": sorted(cut_names), "changed": changed,
            "removed": removed}


def _squeeze(line: str) -> str:
    return re.sub(r"\s", "", line)


def _telling(line: str) -> bool:
    return len(_squeeze(line)) >= MIN_SOLUTION_CHARS


def shared_lines(root: Path = ROOT) -> set[str]:
    """Every line (whitespace removed) of the pack outside the exercise regions: code the
    solutions share with the rest of the pack (``in_dtype = x.dtype``), which may stay."""
    root = Path(root)
    marked = set(marked_files(root))
    shared: set[str] = set()
    for f in source_files(root):
        lines = _text_lines(root / f)
        if lines is None:
            continue
        if f in marked:
            for r in find_regions((root / f).read_text(encoding="utf-8"), f):
                lines[r.start + 1:r.end] = [""] * (r.end - r.start - 1)
        for line in lines:
            shared.add(_squeeze(line))
            shared.add(_squeeze(line.split("#")[0]))
    return shared


def _text_lines(path: Path) -> list[str] | None:
    """A file's lines (a notebook: its cells' source lines); None for binary files."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except ValueError:
            return text.splitlines()
        return [line for c in cells for line in "".join(c.get("source", "")).splitlines()]
    return text.splitlines()


def find_leaks(tree: Path, removed: dict[str, list[list[str]]], shared: set[str]
               ) -> list[tuple[str, str]]:
    """(file, line) for each piece of a solution that survives in the text files of ``tree``:

    1. a removed code line of at least :data:`MIN_SOLUTION_CHARS` characters (spaces do not
       count) that the pack has nowhere outside the exercise regions (not in ``shared``), or
    2. three consecutive computing lines (no ``if``/``raise``/loop header) of one region,
       each that long, found as consecutive code lines anywhere: a second copy of the
       solution, even one made of lines that are common on their own.
    """
    single = {_squeeze(l): l for regions in removed.values() for lines in regions
              for l in lines if _telling(l) and _squeeze(l) not in shared}
    runs = {}
    for regions in removed.values():
        for lines in regions:
            telling = [l for l in lines if _telling(l) and not CONTROL.match(l)]
            for a, b, c in zip(telling, telling[1:], telling[2:]):
                runs[(_squeeze(a), _squeeze(b), _squeeze(c))] = f"{a}  /  {b}  /  {c}"
    leaks = []
    for p in sorted(Path(tree).rglob("*")):
        lines = _text_lines(p) if p.is_file() else None
        if lines is None:
            continue
        code = [_squeeze(l.split("#")[0]) for l in lines if not l.lstrip().startswith("#")]
        code = [c for c in code if c]
        rel = p.relative_to(tree).as_posix()
        for c in sorted(set(code) | {_squeeze(l) for l in lines}):
            if c in single:
                leaks.append((rel, single[c]))
        for run in zip(code, code[1:], code[2:]):
            if run in runs:
                leaks.append((rel, runs[run]))
    return leaks


# --------------------------------------------------------------------------- require


def _probe_tensors():
    import torch

    return torch.Generator().manual_seed(0), torch


def _p_lstm_cell():
    from .nn.lstm import LSTMCell, fused_step
    g, torch = _probe_tensors()
    cell = LSTMCell(2, 3)
    x, h = torch.randn(1, 2, generator=g), torch.zeros(1, 3)
    cell(x, (h, h))
    fused_step(x, h, h, *cell.fused_parameters())


def _p_lstm_stack():
    from .nn.lstm import LSTM
    _, torch = _probe_tensors()
    lstm = LSTM(2, 3, fused=False)
    lstm.layers[0].forward = lambda x, hx: hx                       # only the stack's loop
    lstm(torch.zeros(1, 2, 2))


def _p_lstm_lm():
    from .nn.lstm import LSTMLM
    _, torch = _probe_tensors()
    lm = LSTMLM(5, 2, 3, 1)
    lm.lstm.forward = lambda x, hx=None: (x.new_zeros(*x.shape[:2], 3), (None, None))
    lm(torch.zeros(1, 2, dtype=torch.long))


def _p_layer_norm():
    from .nn import gpt, layers
    _, torch = _probe_tensors()
    gpt.LayerNorm(4)(torch.ones(1, 4))
    layers.LayerNorm(4)(torch.ones(1, 4))


def _p_layer_norm_fast():
    from .nn import gpt
    _, torch = _probe_tensors()
    x = torch.randn(2, 4, requires_grad=True)
    gpt.LayerNorm(4, fast=True)(x).sum().backward()


def _p_split_merge_heads():
    from .nn import attention, gpt
    from .nn.transformer_lm import CausalSelfAttention, TransformerConfig
    _, torch = _probe_tensors()
    x = torch.zeros(1, 2, 4)
    mha = gpt.MultiHeadedAttention(4, 2)
    mha.merge_heads(mha.split_heads(x))
    attention.merge_heads(attention.split_heads(x, 2))
    cfg = TransformerConfig(vocab_size=4, context_length=2, d_model=4, num_layers=1, num_heads=2,
                            positions="none")
    CausalSelfAttention(cfg).split_heads(x)


def _p_causal_attention():
    from .nn import functional, gpt
    _, torch = _probe_tensors()
    functional.causal_mask(2)
    mha = gpt.MultiHeadedAttention(4, 2)
    q = torch.zeros(1, 2, 2, 2)
    mha.get_attention_weights(q, q)
    mha.apply_attention(q, q, q)


def _p_mha_forward():
    from .nn import attention, gpt
    _, torch = _probe_tensors()
    x = torch.zeros(1, 2, 4)
    gpt.MultiHeadedAttention(4, 2)(x, x, x)
    attention.MultiHeadSelfAttention(4, 2)(x)


def _p_sinusoidal_embeddings():
    from .nn import gpt, rope
    gpt.create_sinusoidal_embeddings(2, 4)
    rope.sinusoidal_table(2, 4)


def _p_gpt_forward():
    from .nn import gpt
    _, torch = _probe_tensors()
    model = gpt.GPT(1, 1, 4, 5, 3)
    model.decoder.forward = lambda h, p=0: (h, (None, None))        # only embedding + head
    model(torch.zeros(1, 2, dtype=torch.long))


def _p_rhs_loss():
    from .train.losses import get_loss_and_accuracy
    _, torch = _probe_tensors()
    get_loss_and_accuracy(torch.zeros(1, 3, 2), torch.zeros(1, 3, dtype=torch.long),
                          torch.zeros(1, dtype=torch.long), torch.ones(1, 3))


def _p_rmsnorm():
    from .nn.layers import RMSNorm
    _, torch = _probe_tensors()
    RMSNorm(4)(torch.ones(1, 4))


def _p_rope():
    from .nn.rope import RotaryPositionalEmbedding
    _, torch = _probe_tensors()
    RotaryPositionalEmbedding(10000.0, 4, 3)(torch.ones(1, 2, 4), torch.arange(2))


def _p_top_p():
    from .generate import top_p_filter
    _, torch = _probe_tensors()
    top_p_filter(torch.tensor([0.5, 0.3, 0.2]), 0.6)


def _p_gcn_message():
    from .nn.gnn import MessageGraphConvolution
    _, torch = _probe_tensors()
    MessageGraphConvolution(2, 3)(torch.ones(2, 2), torch.tensor([[0], [1]]))


def _p_gcn_matrix():
    from .nn.gnn import MatrixGraphConvolution
    _, torch = _probe_tensors()
    MatrixGraphConvolution(2, 3)(torch.ones(2, 2), torch.tensor([[0], [1]]))


def _p_gat():
    from .nn.gnn import GraphAttention
    _, torch = _probe_tensors()
    GraphAttention(2, 3)(torch.ones(2, 2), torch.tensor([[0], [1]]))


def _p_cnn_padding():
    from .nn.cnn import feature_map_sizes
    feature_map_sizes("sconv", 8)


def _p_bpe_merges():
    from .tokenization.bpe import bpe_merges, initial_vocab, naive_bpe_merges
    naive_bpe_merges({b"abab": 2}, 1)
    bpe_merges({b"abab": 2}, 1, initial_vocab([]))


def _p_bpe_encode():
    from .tokenization.tokenizer import Tokenizer
    vocab = {i: bytes([i]) for i in range(256)}
    vocab[256] = b"ab"
    Tokenizer(vocab, [(b"a", b"b")]).encode("abab")


def _p_linear_embedding():
    from .nn.layers import Embedding, Linear
    _, torch = _probe_tensors()
    Linear(2, 3)(torch.ones(1, 2))
    Embedding(3, 2)(torch.zeros(1, dtype=torch.long))


def _p_swiglu():
    from .nn.layers import SwiGLU
    _, torch = _probe_tensors()
    SwiGLU(4, 8)(torch.ones(1, 4))


def _p_softmax():
    from .nn.functional import softmax
    _, torch = _probe_tensors()
    softmax(torch.zeros(2, 3))


def _p_sdpa():
    from .nn.functional import scaled_dot_product_attention
    _, torch = _probe_tensors()
    q = torch.zeros(1, 2, 4)
    scaled_dot_product_attention(q, q, q)


def _p_causal_self_attention():
    from .nn.transformer_lm import CausalSelfAttention, TransformerConfig
    _, torch = _probe_tensors()
    cfg = TransformerConfig(vocab_size=4, context_length=2, d_model=4, num_layers=1, num_heads=2,
                            positions="none")
    CausalSelfAttention(cfg)(torch.zeros(1, 2, 4), torch.arange(2))


def _p_transformer_block():
    from .nn.transformer_lm import TransformerBlock, TransformerConfig
    _, torch = _probe_tensors()
    cfg = TransformerConfig(vocab_size=4, context_length=2, d_model=4, num_layers=1, num_heads=2,
                            positions="none", norm_position="none")
    block = TransformerBlock(cfg)
    block.attn.forward = lambda x, pos, cache=None: x                 # only the block's wiring
    block.ffn.forward = lambda x: x
    block(torch.zeros(1, 2, 4), torch.arange(2))


def _p_lm_forward():
    from .nn.transformer_lm import TransformerConfig, TransformerLM
    _, torch = _probe_tensors()
    cfg = TransformerConfig(vocab_size=4, context_length=2, d_model=4, num_layers=1, num_heads=2,
                            positions="none")
    lm = TransformerLM(cfg)
    for part in (*lm.layers, lm.ln_final):                            # only the LM's wiring
        part.forward = lambda x, *args, **kwargs: x
    lm.token_embeddings.forward = lambda ids: torch.zeros(*ids.shape, 4)
    lm.lm_head.forward = lambda x: x
    lm(torch.zeros(1, 2, dtype=torch.long))


def _p_cross_entropy():
    from .train.lm import cross_entropy
    _, torch = _probe_tensors()
    logits = torch.zeros(2, 3, requires_grad=True)
    cross_entropy(logits, torch.zeros(2, dtype=torch.long)).backward()


def _p_adamw():
    from .train.optim import AdamW
    _, torch = _probe_tensors()
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    AdamW([p]).step()


def _p_cosine_schedule():
    from .train.optim import cosine_schedule
    cosine_schedule(1, 1.0, 0.1, 1, 3)


def _p_grad_clip():
    from .train.optim import clip_grad_norm
    _, torch = _probe_tensors()
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    clip_grad_norm([p], 1.0)


PROBES: dict[str, Callable[[], None]] = {
    name.removeprefix("_p_"): fn for name, fn in list(globals().items())
    if name.startswith("_p_") and callable(fn)}
"""exercise -> a probe that runs the exercise's code on tiny inputs (milliseconds)."""


def require(*names: str) -> None:
    """Stop with :class:`ExerciseNotDone` naming the first of ``names`` whose code is not
    written yet (its probe reaches a ``raise NotImplementedError("exercise: ...")``).

    Put in a notebook's first cells (the student edition does this for every notebook): the
    notebook then stops there with one clear message instead of a traceback from deep inside.
    In the pack every probe passes."""
    for name in names:
        if name not in PROBES:
            raise ValueError(f"unknown exercise {name!r}; known: {', '.join(PROBES)}")
        try:
            PROBES[name]()
        except NotImplementedError as exc:
            m = STUB_RE.search(str(exc))
            if m is None:
                raise
            hit = m["name"]
            also = "" if hit == name else f" (reached while checking {name!r})"
            raise ExerciseNotDone(
                f"this notebook needs the exercise {hit!r} in {m['path']}{also}, which is not "
                f"written yet. Replace its `raise NotImplementedError` between the "
                f"'# >>> exercise: {hit}' markers, check it with `make grade "
                f"EXERCISES={hit}`, then run the notebook again.") from None


# --------------------------------------------------------------------------- grade


_PLUGIN = '''"""Grading plugin (written by utils.student): utils must come from the graded tree;
records each test's outcome and the first line of its failure."""
import json, os
from pathlib import Path

import pytest

RESULTS = {}


def pytest_configure(config):
    import utils
    root = Path(os.environ["COURSEPACK_GRADE_ROOT"]).resolve()
    where = Path(utils.__file__).resolve()
    if not where.is_relative_to(root):
        raise pytest.UsageError(f"grading imported utils from {where}, not from {root}")


def pytest_runtest_logreport(report):
    entry = RESULTS.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    if report.failed or (report.skipped and entry["outcome"] == "passed"):
        if entry["outcome"] != "failed":
            entry["outcome"] = "failed" if report.failed else "skipped"
            crash = getattr(report.longrepr, "reprcrash", None)
            entry["message"] = (crash.message if crash else str(report.longrepr))[:500]


def pytest_sessionfinish(session):
    Path(os.environ["COURSEPACK_GRADE_OUT"]).write_text(json.dumps(RESULTS))
'''


def _matches(nodeid: str, test: str) -> bool:
    return nodeid == test or nodeid.startswith(test + "[")


def grade(student: Path | str | None = None, root: Path = ROOT,
          names: Iterable[str] | None = None, python: str | None = None,
          log: Callable[[str], None] = print, timeout: float = 1800) -> dict:
    """Run the pack's tests of each exercise against ``student`` (default: the pack itself).

    Returns ``{"exercises": {name: {"passed", "total", "points", "max", "failures"}},
    "points", "max", "utils"}``; prints the table through ``log``."""
    root = Path(root).resolve()
    student = Path(student).resolve() if student is not None else root
    if not (student / "utils" / "__init__.py").is_file():
        raise ExerciseError(f"{student} is not a course-pack tree: utils/__init__.py is missing")
    exercises = load_exercises(root)
    if names is not None:
        exercises = {n: exercises[n] for n in _chosen(exercises, names)}
    tests = sorted({t for ex in exercises.values() for t in ex.tests})
    python = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="coursepack-grade-") as tmp:
        tmp = Path(tmp)
        shutil.copytree(root / "tests", tmp / "tests",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(root / "pyproject.toml", tmp / "pyproject.toml")
        for name in ("data", "notebooks"):           # tests that read ROOT/data see the student's
            if (student / name).is_dir():
                (tmp / name).symlink_to(student / name, target_is_directory=True)
        (tmp / "_coursepack_grade.py").write_text(_PLUGIN, encoding="utf-8")
        out = tmp / "results.json"
        env = dict(os.environ, COURSEPACK_GRADE_ROOT=str(student), COURSEPACK_GRADE_OUT=str(out),
                   PYTHONPATH=os.pathsep.join([str(student), str(tmp)]
                                              + ([os.environ["PYTHONPATH"]]
                                                 if os.environ.get("PYTHONPATH") else [])),
                   PYTHONDONTWRITEBYTECODE="1")
        where = subprocess.run([python, "-c", "import utils; print(utils.__file__)"], cwd=tmp,
                               env=env, capture_output=True, text=True)
        utils_file = where.stdout.strip() or f"nowhere: {where.stderr.strip()[-300:]}"
        cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_coursepack_grade",
               "-o", "addopts=", "--tb=no", "-W", "ignore", *tests]
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True,
                              timeout=timeout)
        results = json.loads(out.read_text()) if out.exists() else {}
        if not results and proc.returncode not in (0, 1):
            tail = (proc.stdout + proc.stderr)[-3000:]
            log(f"pytest could not run the tests (exit {proc.returncode}):\n{tail}")
    summary: dict = {"student": str(student), "utils": utils_file, "exercises": {}}
    total_points = total_max = 0.0
    for ex in exercises.values():
        ids = [n for n in results if any(_matches(n, t) for t in ex.tests)]
        missing = [t for t in ex.tests if not any(_matches(n, t) for n in results)]
        passed = sum(results[n]["outcome"] == "passed" for n in ids)
        total = len(ids) + len(missing)
        points = round(ex.points * passed / total, 2) if total else 0.0
        failures = {n: results[n]["message"] for n in ids if results[n]["outcome"] != "passed"}
        failures.update({t: "not run (collection error or unknown test)" for t in missing})
        summary["exercises"][ex.name] = dict(passed=passed, total=total, points=points,
                                             max=ex.points, failures=failures)
        total_points += points
        total_max += ex.points
    summary["points"], summary["max"] = round(total_points, 2), total_max
    log(format_table(summary))
    return summary


def format_table(summary: dict) -> str:
    rows = [("exercise", "tests passed", "points")]
    for name, r in summary["exercises"].items():
        rows.append((name, f"{r['passed']}/{r['total']}", f"{r['points']:g} / {r['max']:g}"))
    rows.append(("total", "", f"{summary['points']:g} / {summary['max']:g}"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    line = lambda r: f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}"   # noqa: E731
    body = [line(rows[0]), "-" * (sum(w) + 4)] + [line(r) for r in rows[1:-1]] \
        + ["-" * (sum(w) + 4), line(rows[-1])]
    return f"graded: {summary['student']} (utils from {summary['utils']})\n" + "\n".join(body)


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.student", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the student edition")
    b.add_argument("--out", default=None, help="output folder (default build/student)")
    b.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="cut only these exercises")
    g = sub.add_parser("grade", help="grade a student edition with the pack's tests")
    g.add_argument("--student", default=None, help="the tree to grade (default: the pack)")
    g.add_argument("--exercise", nargs="+", default=None, metavar="NAME",
                   help="grade only these exercises")
    g.add_argument("--json", default=None, help="also write the results as JSON here")
    sub.add_parser("list", help="the exercises, their files, points and tests")
    args = ap.parse_args(argv)
    try:
        if args.command == "build":
            build(args.out, only=args.only)
            return 0
        if args.command == "list":
            for ex in load_exercises().values():
                print(f"{ex.name:<22} {ex.points:>4g}  {', '.join(ex.files)}  "
                      f"({len(ex.tests)} tests)")
            return 0
        summary = grade(args.student, names=args.exercise)
        if args.json:
            from .runs import atomic_write_text
            atomic_write_text(Path(args.json), json.dumps(summary, indent=1))
        return 0 if summary["points"] == summary["max"] else 1
    except ExerciseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
