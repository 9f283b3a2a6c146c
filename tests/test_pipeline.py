"""The headless pipeline end to end on a fixture notebook: run, reuse, fail, report."""

import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import FIXTURES, ROOT
from utils import report, runner

pytestmark = pytest.mark.xdist_group("pipeline")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb")
    nb = out / "99_fixture.ipynb"
    shutil.copy(FIXTURES / "99_fixture.ipynb", nb)
    logs = []
    fails = runner.run([nb], "smoke", [0, 1], out_dir=out / "build", log=logs.append)
    assert fails == 0, logs
    return nb, out / "build" / "99_fixture.ipynb", logs


def _text(nb):
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_run_injects_parameters_and_stores_metadata(executed):
    _, out, logs = executed
    nb = nbformat.read(out, as_version=4)
    text = _text(nb)
    assert "FIXTURE_DONE smoke [0, 1]" in text
    assert "STORE 0 2" in text                      # two runs computed in a fresh store
    assert "WIDGET_DEFAULT 3" in text               # static fallback drew the default view
    meta = nb.metadata["coursepack"]
    assert meta["status"] == "ok" and meta["profile"] == "smoke" and meta["wall_s"] > 0
    assert any("done in" in line for line in logs)
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_rerun_with_nothing_changed_is_reused(executed):
    src, out, _ = executed
    logs = []
    assert runner.run([src], "smoke", [0, 1], out_dir=out.parent, log=logs.append) == 0
    assert "up to date" in logs[0]
    logs = []
    assert runner.run([src], "smoke", [0, 1], out_dir=out.parent, force=True,
                      log=logs.append) == 0
    text = _text(nbformat.read(out, as_version=4))
    assert "STORE 2 0" in text                      # forced re-execution reuses stored runs


def test_failure_names_notebook_and_cell_and_keeps_copy(executed, tmp_path):
    src, _, _ = executed
    logs = []
    fails = runner.run([src], "smoke", [0], out_dir=tmp_path, log=logs.append,
                       extra={"fail": True})
    assert fails == 1
    msg = "\n".join(logs)
    assert "99_fixture: FAILED" in msg and "in cell" in msg and "asked to fail" in msg
    kept = nbformat.read(tmp_path / "99_fixture.ipynb", as_version=4)
    assert kept.metadata["coursepack"]["status"] == "failed"


def test_unknown_parameter_fails_before_any_kernel(executed, tmp_path):
    src, _, _ = executed
    with pytest.raises(SystemExit, match=r"\['seed'\] are not declared.*seeds"):
        runner.run([src], "smoke", [0], out_dir=tmp_path, extra={"seed": 3})
    assert not (tmp_path / "99_fixture.ipynb").exists()


def test_cli_rejects_bad_profile_fast():
    proc = subprocess.run([sys.executable, "-m", "utils.runner", "--profile", "nonsense",
                           "--notebooks", "00"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "'smoke', 'laptop', 'full'" in proc.stderr


def test_papermill_cli_misspelled_parameter_fails_in_notebook(executed, tmp_path):
    src, _, _ = executed
    proc = subprocess.run([sys.executable, "-m", "papermill", str(src), str(tmp_path / "o.ipynb"),
                           "-p", "seed", "3", "-k", "python3", "--cwd", str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "unknown parameter 'seed'" in proc.stderr + proc.stdout
    assert "seeds" in proc.stderr + proc.stdout


def test_report_html_has_provenance_figure_table_and_no_stderr(executed, tmp_path):
    _, out, _ = executed
    nb = report.combine([out], "smoke", [0, 1], report.provenance())
    html_path, _ = report.to_html(nb, tmp_path)
    html = html_path.read_text()
    assert "Provenance" in html and "99_fixture" in html and "git commit" in html
    assert "data:image/png;base64" in html
    assert "Table: fixture values" in html and "font-weight: bold" in html
    assert "progress to stderr" not in html
    assert "# Parameters" not in html              # papermill's injected cell is dropped
    assert "Show code" in html


@pytest.mark.skipif(report.find_chromium() is None, reason="chromium not installed")
def test_report_pdf(executed, tmp_path):
    _, out, _ = executed
    nb = report.combine([out], "smoke", [0], report.provenance())
    html_path, _ = report.to_html(nb, tmp_path)
    assert report.to_pdf(html_path, tmp_path / "r.pdf")
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"


def test_changed_run_function_is_recomputed_by_the_next_run(executed, tmp_path):
    """Acceptance of issue 18: editing a run function's source makes the next `make run` /
    `make report` recompute that run instead of reusing the result of the old code."""
    src, _, _ = executed
    nb = nbformat.read(src, as_version=4)
    cell = next(c for c in nb.cells if "def experiment" in c.source)
    old = 'float(rng.normal(size=config["n"]).mean())'
    assert old in cell.source
    changed = tmp_path / "src" / src.name
    changed.parent.mkdir()
    shutil.copy(src, changed)
    out = tmp_path / "build"
    assert runner.run([changed], "smoke", [7], out_dir=out, log=lambda _: None) == 0
    assert "STORE 0 1" in _text(nbformat.read(out / src.name, as_version=4))
    cell.source = cell.source.replace(old, 'float(rng.normal(size=config["n"]).mean() + 1.0)')
    nbformat.write(nb, changed)
    logs = []
    assert runner.run([changed], "smoke", [7], out_dir=out, log=logs.append) == 0
    text = _text(nbformat.read(out / src.name, as_version=4))
    assert "STORE 0 1" in text                      # recomputed, not reused
    assert "recomputing run" in text and "__main__.experiment" in text
    assert "run store: 1 run recomputed because their code changed" in logs[-2], logs
