"""Every notebook in notebooks/: hygiene checks and a smoke-profile execution.

Hygiene: stored without outputs, the first code cell tagged ``parameters`` and declaring
``profile`` and ``seeds``, the next code cell calling ``start(...)`` with a spec for every other
parameter, and the paired py:percent source in sync with the ``.ipynb``.
Smoke: papermill with ``profile='smoke'`` and two seeds, each notebook a test of its own.
"""

import ast
import json
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from utils import runner

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def assigned_names(source: str) -> list[str]:
    tree = ast.parse(source)
    return [t.id for node in tree.body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a code cell has stored outputs"
            assert cell.get("execution_count") is None, f"{path.name}: execution counts stored"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: widget state stored"
    assert "papermill" not in nb.get("metadata", {}), f"{path.name}: an executed copy"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_cell_and_validation(path):
    nb = nbformat.read(path, as_version=4)
    cells = code_cells(nb)
    assert "parameters" in cells[0].metadata.get("tags", []), \
        f"{path.name}: the first code cell must be tagged 'parameters'"
    names = assigned_names(cells[0].source)
    assert {"profile", "seeds"} <= set(names), f"{path.name}: parameters cell lacks profile/seeds"
    tree = ast.parse(cells[1].source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", getattr(n.func, "attr", None)) == "start"]
    assert calls, f"{path.name}: the cell after the parameters must call start(...)"
    call = calls[0]
    assert isinstance(call.args[0], ast.Constant) and call.args[0].value == path.stem, \
        f"{path.name}: start() must be given the notebook's own name {path.stem!r}"
    specced = {kw.arg for kw in call.keywords}
    unchecked = set(names) - {"profile", "seeds"} - specced
    assert not unchecked, f"{path.name}: parameters {sorted(unchecked)} are not validated by start()"
    default_profile = ast.literal_eval(
        next(n.value for n in ast.parse(cells[0].source).body if isinstance(n, ast.Assign)
             and n.targets[0].id == "profile"))
    assert default_profile in ("smoke", "laptop", "full")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_paired_source_in_sync(path):
    import jupytext

    py = path.with_suffix(".py")
    assert py.exists(), f"{path.name}: the paired py:percent source {py.name} is missing"
    a = nbformat.read(path, as_version=4)
    b = jupytext.read(py)
    strip = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert strip(a) == strip(b), (f"{path.name} and {py.name} differ: run "
                                  f"`make notebooks` (jupytext --sync)")


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_smoke_execution(path, tmp_path):
    logs = []
    fails = runner.run([path], "smoke", [0, 1], out_dir=tmp_path, force=True, log=logs.append)
    assert fails == 0, "\n".join(logs)
