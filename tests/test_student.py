"""The student edition (utils/student.py, grading.toml; `make student`, `make grade`).

The cutter on hand-written sources (expected output written out by hand, marker errors); the
grading file against the sources; then one edition generated into a temporary folder: no
removed solution line survives in it, it imports, every probe and every graded test fails on
its own exercise or on one it is declared to need, and a notebook stops at its check cell
naming the exercise; the pack graded by the same code gets full points, and an edition with
one file's solutions restored gets full points for exactly the exercises of that file.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from utils import student
from utils.student import ExerciseError, cut, find_regions

pytestmark = pytest.mark.xdist_group("student")

HAND_SOURCE = '''def f(x):
    """Doc."""
    # >>> exercise: demo
    # hint: add one
    y = x + 1                # (B, d)
    # a comment that stays
    return y
    # <<< exercise


def g():
    return 2
'''

HAND_CUT = '''def f(x):
    """Doc."""
    # >>> exercise: demo
    # hint: add one
    # y: (B, d)
    # a comment that stays
    raise NotImplementedError("exercise: demo (see m.py)")
    # <<< exercise


def g():
    return 2
'''


def test_cut_replaces_the_body_and_keeps_signature_docstring_hints_and_shapes():
    new, regions, removed = cut(HAND_SOURCE, "m.py")
    assert new == HAND_CUT
    assert [(r.name, r.start, r.end, r.hints) for r in regions] == [("demo", 2, 7, ["add one"])]
    assert removed == [["y = x + 1", "return y"]]
    namespace = {}
    exec(compile(new, "m.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"^exercise: demo \(see m\.py\)$"):
        namespace["f"](1)
    assert namespace["g"]() == 2
    assert cut(HAND_SOURCE, "m.py", only=["other"])[0] == HAND_SOURCE
    assert cut(HAND_SOURCE, "m.py", only=["demo"])[0] == HAND_CUT


@pytest.mark.parametrize("source, message", [
    ("    # >>> exercise: a\n    x = 1\n", "never closed"),
    ("x = 1\n# <<< exercise\n", "without an open"),
    ("# >>> exercise: a\n# >>> exercise: b\nx = 1\n# <<< exercise\n", "opens inside"),
    ("# >>> exercise: a\n# hint: h\n# <<< exercise\n", "marks no code"),
    ("if x:\n    # >>> exercise: a\n    y = 1\nz = 2\n    # <<< exercise\n", "less indented"),
    ("x = 1  # >>> exercise: a\n", "malformed"),
])
def test_marker_errors_say_what_is_wrong(source, message):
    with pytest.raises(ExerciseError, match=message):
        find_regions(source, "m.py")


def test_grading_file_matches_the_sources_probes_and_tests():
    exercises = student.load_exercises()
    assert set(student.PROBES) == set(exercises)
    defined = {}
    for ex in exercises.values():
        assert ex.points > 0 and ex.seed and ex.title
        for test in ex.tests:
            path, name = test.split("::")
            if path not in defined:
                tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
                defined[path] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name.split("[")[0] in defined[path], f"{ex.name}: no test {test}"
    seeds = " ".join(ex.seed for ex in exercises.values())
    for seed in ("001", "003", "004"):
        assert seed in seeds
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Student edition"):]
    missing = [n for n in exercises if f"`{n}`" not in section]
    assert not missing, f"README's Student edition table lacks {missing}"


def test_every_probe_passes_in_the_pack():
    student.require(*student.PROBES)


def test_require_names_the_exercise_and_rejects_unknown_names(monkeypatch):
    def unfinished():
        raise NotImplementedError("exercise: demo (see utils/x.py)")

    monkeypatch.setitem(student.PROBES, "outer", unfinished)
    with pytest.raises(student.ExerciseNotDone,
                       match=r"exercise 'demo' in utils/x.py \(reached while checking 'outer'\)"):
        student.require("softmax", "outer")
    with pytest.raises(ValueError, match="unknown exercise 'nope'"):
        student.require("nope")


def test_require_cell_goes_after_the_start_cell():
    import jupytext

    text = ('# %% tags=["parameters"]\nprofile = "laptop"\nseeds = [0]\n\n'
            '# %%\nfrom utils.notebook import start\n\nP = start("99_x", globals())\n\n'
            '# %%\nimport torch\n')
    nb = jupytext.reads(student._insert_require(text, ["softmax", "sdpa"]), fmt="py:percent")
    sources = [(c.cell_type, c.source) for c in nb.cells]
    assert sources[1][1].endswith('P = start("99_x", globals())')
    assert sources[2][0] == "markdown" and "Student edition" in sources[2][1]
    assert sources[3] == ("code", "from utils.student import require\n\n"
                                  "require('softmax', 'sdpa')")
    assert sources[4] == ("code", "import torch")


def test_import_closure_follows_relative_and_absolute_imports(tmp_path):
    (tmp_path / "utils" / "nn").mkdir(parents=True)
    files = {"utils/__init__.py": "", "utils/nn/__init__.py": "",
             "utils/a.py": "from .nn import b\n", "utils/nn/b.py": "from ..c import f\n",
             "utils/c.py": "import os\nimport utils.d\n", "utils/d.py": "",
             "utils/e.py": "import utils.a\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    got = student.import_closure("import numpy\nfrom utils import a\n", tmp_path)
    assert got == {"utils", "utils.a", "utils.nn", "utils.nn.b", "utils.c", "utils.d"}


# --------------------------------------------------------------------------- one edition


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "edition"
    summary = student.build(out, log=lambda line: None)
    return out, summary


def _solution_lines_by_hand():
    """Every removed code line, read from the pack's markers here (not through cut): the
    stripped lines inside the regions that are not comments."""
    found = {}
    for f in student.marked_files():
        lines = (ROOT / f).read_text(encoding="utf-8").splitlines()
        for r in find_regions("\n".join(lines), f):
            for line in lines[r.start + 1:r.end]:
                code = line.split("  #")[0].strip()
                if code and not code.startswith("#"):
                    found.setdefault(code, f)
    return found


def test_no_solution_line_survives_in_the_edition(edition):
    out, summary = edition
    assert (out / "STUDENT_EDITION").exists() and (out / "grading.toml").exists()
    assert not (out / ".venv").exists() and not (out / "build").exists()
    shared = student.shared_lines()
    wanted = {code: f for code, f in _solution_lines_by_hand().items()
              if len(re.sub(r"\s", "", code)) >= student.MIN_SOLUTION_CHARS
              and re.sub(r"\s", "", code) not in shared}
    assert len(wanted) > 150                       # the check has something to look for
    squeeze = lambda line: re.sub(r"\s", "", line)                   # noqa: E731
    lines = {}                      # every line of the edition's text files, spaces removed
    for p in out.rglob("*"):
        if not p.is_file() or p.suffix not in (".py", ".ipynb", ".md", ".toml", ".txt"):
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        if p.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        for line in text.splitlines():
            for variant in (line, line.split("#")[0]):
                lines.setdefault(squeeze(variant), p.relative_to(out).as_posix())
    for code, f in wanted.items():
        where = lines.get(squeeze(code))
        assert where is None, f"a solution line of {f} survives in {where}: {code}"
    # each exercise's files now hold its stub between the markers
    for ex in student.load_exercises().values():
        for path in ex.files:
            text = (out / path).read_text(encoding="utf-8")
            assert f'raise NotImplementedError("exercise: {ex.name} (see {path})")' in text
            assert f"# >>> exercise: {ex.name}" in text


def test_the_leak_check_finds_a_planted_copy(edition, tmp_path):
    _, summary = edition
    removed = summary["removed"]
    lines = removed["utils/nn/lstm.py"][0]
    (tmp_path / "copy.py").write_text("\n".join(lines[:4]) + "\n")
    leaks = student.find_leaks(tmp_path, removed, shared=set())
    assert leaks and all(f == "copy.py" for f, _ in leaks)
    assert student.find_leaks(tmp_path, {"x.py": [["a_long_enough_line = 1"]]}, set()) == []


def _run_in(tree: Path, code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300)


def test_edition_imports_and_each_probe_stops_on_its_exercise(edition):
    out, _ = edition
    code = """
import importlib, json, pkgutil, utils
from utils import student
mods = [m.name for m in pkgutil.walk_packages(utils.__path__, "utils.")]
for m in mods:
    importlib.import_module(m)
msgs = {}
for name in student.PROBES:
    try:
        student.require(name)
        msgs[name] = None
    except student.ExerciseNotDone as exc:
        msgs[name] = str(exc)
print(json.dumps({"file": utils.__file__, "modules": len(mods), "msgs": msgs}))
"""
    proc = _run_in(out, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(got["file"]).resolve().is_relative_to(out.resolve())
    assert got["modules"] > 40
    exercises = student.load_exercises()
    for name, msg in got["msgs"].items():
        assert msg is not None, f"the probe of {name} passes in the student edition"
        hit = re.search(r"needs the exercise '(\w+)'", msg)[1]
        assert hit == name or hit in exercises[name].needs, (name, msg)


def test_grading_the_edition_gives_zero_and_fails_exactly_on_the_exercises(edition):
    out, _ = edition
    summary = student.grade(out, log=lambda line: None)
    assert Path(summary["utils"]).resolve().is_relative_to(out.resolve())
    exercises = student.load_exercises()
    assert set(summary["exercises"]) == set(exercises)
    for name, r in summary["exercises"].items():
        assert r["points"] == 0 and r["passed"] == 0 and r["total"] >= len(exercises[name].tests)
        allowed = {name, *exercises[name].needs}
        for test, message in r["failures"].items():
            hit = re.search(r"NotImplementedError: exercise: (\w+)", message)
            assert hit and hit[1] in allowed, f"{name}: {test} failed with {message!r}"
    assert summary["points"] == 0 and summary["max"] == sum(e.points for e in exercises.values())
    assert "total" in student.format_table(summary)


def test_grading_the_pack_gives_full_points():
    summary = student.grade(log=lambda line: None)
    assert Path(summary["utils"]).resolve().is_relative_to(ROOT.resolve())
    bad = {n: r["failures"] for n, r in summary["exercises"].items() if r["passed"] < r["total"]}
    assert not bad
    assert summary["points"] == summary["max"] > 0


def test_restoring_one_files_solutions_gives_full_points_for_exactly_its_exercises(
        edition, tmp_path):
    out, _ = edition
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    shutil.copy2(ROOT / "utils/train/optim.py", partial / "utils/train/optim.py")
    names = ["adamw", "cosine_schedule", "grad_clip", "cross_entropy", "softmax"]
    summary = student.grade(partial, names=names, log=lambda line: None)
    points = {n: (r["points"], r["max"]) for n, r in summary["exercises"].items()}
    for n in ("adamw", "cosine_schedule", "grad_clip"):
        assert points[n][0] == points[n][1] > 0, summary["exercises"][n]
    for n in ("cross_entropy", "softmax"):
        assert points[n][0] == 0


def test_grade_refuses_a_tree_without_utils(tmp_path):
    with pytest.raises(ExerciseError, match="utils/__init__.py is missing"):
        student.grade(tmp_path)
    with pytest.raises(ExerciseError, match="unknown exercises"):
        student.grade(names=["nope"])


@pytest.mark.notebook
def test_a_student_notebook_stops_at_its_first_unfinished_exercise(edition, tmp_path):
    out, _ = edition
    code = f"""
from pathlib import Path
from utils import runner
logs = []
fails = runner.run([Path("notebooks/03_lstm.ipynb")], "smoke", [0], out_dir=Path({str(tmp_path)!r}),
                   force=True, log=logs.append)
print(fails)
print("\\n".join(logs))
"""
    proc = _run_in(out, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("1\n"), proc.stdout
    assert "ExerciseNotDone: this notebook needs the exercise 'lstm_cell'" in proc.stdout
    nb = json.loads((tmp_path / "03_lstm.ipynb").read_text())
    ran = [c for c in nb["cells"] if c["cell_type"] == "code" and c.get("execution_count")]
    assert "require(" in "".join(ran[-1]["source"])        # it stopped at the check cell


def test_the_pack_shows_its_source_without_markers_and_hints():
    from utils.notebook import _without_exercise_markers

    src = ("def f(x):\n    # >>> exercise: f\n    # hint: double it\n    y = 2 * x   # (B,)\n"
           "    # <<< exercise\n    return y\n")
    assert _without_exercise_markers(src) == "def f(x):\n    y = 2 * x   # (B,)\n    return y\n"
