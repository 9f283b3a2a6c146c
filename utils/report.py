"""``make report``: one HTML page and one PDF from the executed notebooks.

    python -m utils.report [--profile laptop] [--seeds "0 1 2"] [--notebooks 00 01] [--no-pdf]

Reads ``build/notebooks/*.ipynb`` (written by :mod:`utils.runner`) and writes
``build/report/report.html`` and ``build/report/report.pdf``:

* a title page with provenance: git commit, profile, seeds, hardware, software versions, and
  the wall time and status of every notebook;
* one section per notebook in numeric order; code cells are hidden by default (a button shows
  them in the HTML); stderr (progress bars, warnings) and papermill's injected cell are dropped;
* a closing References section: every paper the included notebooks cite, from the one
  bibliography ``references.bib`` (:mod:`utils.references`);
* figures and tables embedded in the file; math rendered offline with MathJax from Debian's
  ``libjs-mathjax`` (copied next to the report), or from a CDN with a warning when it is missing;
* the PDF printed from that HTML by headless Chromium (``--print-to-pdf``), the offline route
  measured in shared/research/ecosystem.md (B.3). Without Chromium the HTML is still written and
  the message says how to get the PDF. In print (:data:`FIT_CSS`) every table fits the page:
  smaller type, cells and headers that wrap, a landscape page for 13 or more columns, and past
  18 columns words that may break anywhere; code wraps between words at a size where a
  100-column line fits. ``tests/test_report_pdf.py`` reads the PDF back with poppler.
"""

from __future__ import annotations

import argparse
import copy
import html
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .paths import ROOT, build_dir

MATHJAX_DIR = Path("/usr/share/javascript/mathjax")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--no-pdf-header-footer", "--virtual-time-budget=30000"]

FIT_CSS = """
  /* What keeps every table and every line of code on the page (tests/test_report_pdf.py
     removes this block and checks that the PDF then loses columns). */
  @page cp-wide { size: A4 landscape; }
  /* Code (show_source, printed output) wraps between words, never inside one: Jupyter's
     "word-break: break-all" on output <pre> cut identifiers in half. */
  .jp-OutputArea-output pre, .jp-RenderedHTMLCommon pre {
    white-space: pre-wrap; word-break: normal; overflow-wrap: break-word; }
  /* A monospace font that is installed first: with Jupyter's "Menlo, Consolas, ..." Chromium on
     Linux took fontconfig's substitute for Menlo, a proportional font, and indentation broke. */
  .jp-OutputArea-output pre, .jp-RenderedHTMLCommon pre, .jp-RenderedHTMLCommon code {
    font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; }
  @media print {
    /* Nothing may be clipped at the page edge: outputs do not scroll on paper. */
    .jp-OutputArea-output, .jp-RenderedHTMLCommon { overflow: visible !important; }
    /* Tables fit the page width: smaller type, cells and headers wrap (between words first,
       inside a word only when it is wider than its column); 9+ columns get smaller type. */
    .jp-RenderedHTMLCommon table { table-layout: auto !important; width: auto;
      max-width: 100% !important; font-size: 10px; margin-left: 0; margin-right: 0; }
    .jp-RenderedHTMLCommon table:has(tr > :nth-child(9)) { font-size: 8.5px; }
    .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {
      white-space: normal !important; overflow-wrap: break-word; padding: 0.25em 0.4em; }
    /* 13+ columns: a landscape page of its own; 19+: as the last resort a word may break
       anywhere, so that the table always fits. */
    .jp-OutputArea-output:has(table tr > :nth-child(13)) { page: cp-wide; }
    .jp-RenderedHTMLCommon table:has(tr > :nth-child(13)) { font-size: 7.5px; }
    .jp-RenderedHTMLCommon table:has(tr > :nth-child(19)) :is(th, td) {
      overflow-wrap: anywhere; padding: 0.2em 0.25em; }
    /* Code: a 100-column line fits at this size (longer ones wrap between words). */
    .jp-OutputArea-output pre, .jp-RenderedHTMLCommon pre { font-size: 9px; line-height: 1.3; }
  }
"""

CSS = """
<style>
  body { max-width: 1100px; margin: 0 auto; }
  .jp-CodeCell .jp-Cell-inputWrapper { display: none; }
  body.cp-show-code .jp-CodeCell .jp-Cell-inputWrapper { display: block; }
  .cp-toggle { position: fixed; top: 10px; right: 10px; z-index: 10; padding: 6px 10px;
               font: 13px sans-serif; background: #f4f4f4; border: 1px solid #bbb;
               border-radius: 4px; cursor: pointer; }
  .cp-title { text-align: center; padding-top: 2em; }
  .cp-provenance table, table.dataframe, .jp-RenderedHTMLCommon table { font-size: 12px; }
  .jp-RenderedHTMLCommon table caption { caption-side: top; font-weight: 600; padding: 4px;
               text-align: left; }
  .cp-page-break { break-before: page; }
  @page { size: A4; margin: 14mm 12mm; }
  @media print {
    .cp-toggle { display: none; }
    .jp-OutputArea-output img { max-width: 100% !important; height: auto; }
    .jp-Cell { break-inside: avoid-page; }
    body { max-width: none; }
  }
""" + FIT_CSS + """</style>
"""

TOGGLE = """
<button class="cp-toggle" onclick="document.body.classList.toggle('cp-show-code');
  this.textContent = document.body.classList.contains('cp-show-code') ? 'Hide code' : 'Show code';">
Show code</button>
"""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance() -> dict:
    """Git commit, hardware and software of the machine building the report."""
    import psutil

    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown (not a git checkout)"
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch_v = torch.__version__
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:  # pragma: no cover
        torch_v, gpu = "not installed", "unknown"
    return {
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "gpu": gpu,
        "software": f"Python {platform.python_version()}, torch {torch_v}, {platform.system()} "
                    f"{platform.release()}",
    }


def _clean_cells(nb) -> list:
    """The cells of an executed notebook as they should appear in the report."""
    cells = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "remove-cell" in tags:
            continue
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            outs = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    continue
                data = out.get("data", {})
                if data and set(data) <= {"application/vnd.jupyter.widget-view+json", "text/plain"} \
                        and "application/vnd.jupyter.widget-view+json" in data:
                    continue
                outs.append(out)
            cell["outputs"] = outs
        cells.append(cell)
    return cells


def _notebook_text(nb) -> str:
    """Markdown and code of an executed notebook, plus its Markdown outputs (answers)."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            parts.append(str(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


def references_section(nbs: list) -> str:
    """The report's closing References (utils.references): every paper any included notebook
    cites, from the pack's one BibTeX file. Empty when nothing is cited."""
    from .references import BIB_PATH, bibliography, cited_keys, references_markdown

    if not BIB_PATH.exists():
        return ""
    bib, keys, unknown = bibliography(), [], []
    for nb in nbs:
        try:
            keys += cited_keys(_notebook_text(nb), bib)
        except KeyError as exc:        # the tests catch this; the report says it, not hides it
            unknown.append(str(exc))
    if not keys and not unknown:
        return ""
    text = references_markdown(keys, heading="# References") if keys else "# References\n"
    if unknown:
        text += "\n\n> **Unresolved citations:** " + "; ".join(unknown)
    return text


def combine(executed: list[Path], profile: str, seeds: list[int], prov: dict):
    """One notebook: title page, contents, then every executed notebook's cells."""
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    rows, sections = [], []
    for path in executed:
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get("coursepack", {})
        title = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        status = meta.get("status", "unknown")
        note = ""
        if meta.get("profile") not in (None, profile) or meta.get("seeds") not in (None, seeds):
            note = f" (executed with profile={meta.get('profile')}, seeds={meta.get('seeds')})"
        rows.append(f"| [{path.stem}](#{path.stem}) | {html.escape(title)} | {status}{note} | "
                    f"{meta.get('wall_s', '–')} | {meta.get('finished', '–')} |")
        sections.append((path.stem, nb, meta))
    total = sum(float(nbformat.read(p, as_version=4).metadata.get("coursepack", {}).get("wall_s", 0)
                      or 0) for p in executed)
    head = (
        '<div class="cp-title">\n\n'
        "# Deep learning and LLMs: the course pack report\n\n"
        f"Profile **{profile}**, seeds **{' '.join(map(str, seeds))}**\n\n</div>\n\n"
        "## Provenance\n\n"
        "| | |\n|---|---|\n"
        f"| git commit | `{prov['commit']}` |\n| built | {prov['date']} |\n"
        f"| CPU | {html.escape(prov['cpu'])} |\n| memory | {prov['memory']} |\n"
        f"| GPU | {html.escape(prov['gpu'])} |\n| software | {html.escape(prov['software'])} |\n\n"
        "## Notebooks\n\n"
        "| notebook | title | status | wall time (s) | executed |\n|---|---|---|---|---|\n"
        + "\n".join(rows) +
        f"\n\nTotal notebook wall time: **{total:.0f} s** ({total / 60:.1f} min). Every number in "
        "the text below was computed by the run that produced this report; code is hidden "
        "(the HTML has a *Show code* button).\n")
    cells = [new_markdown_cell(head)]
    for stem, nb, meta in sections:
        cells.append(new_markdown_cell(f'<div class="cp-page-break" id="{stem}"></div>'))
        if meta.get("status") != "ok":
            cells.append(new_markdown_cell(
                f"> **This notebook did not finish** (status: {meta.get('status', 'unknown')}; "
                f"cell {meta.get('cell', '?')}: `{html.escape(str(meta.get('error', '')))}`). "
                "What follows is its partly executed copy."))
        cells += _clean_cells(nb)
    refs = references_section([nb for _, nb, _ in sections])
    if refs:
        cells.append(new_markdown_cell('<div class="cp-page-break" id="references"></div>\n\n'
                                       + refs))
    out = new_notebook(cells=cells)
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                  "language": "python"}
    out.metadata["language_info"] = {"name": "python"}
    return out


def to_html(nb, out_dir: Path) -> tuple[Path, bool]:
    """Write ``report.html``; returns its path and whether math is rendered offline."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    offline = (MATHJAX_DIR / "MathJax.js").exists()
    if offline:
        target = out_dir / "mathjax"
        if not (target / "MathJax.js").exists():
            shutil.copytree(MATHJAX_DIR, target, dirs_exist_ok=True, symlinks=False)
        exporter.mathjax_url = "mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
    body, _ = exporter.from_notebook_node(nb)
    body = body.replace("</head>", CSS + "</head>", 1)
    body = body.replace("<body", "<body data-cp-report", 1)
    i = body.find(">", body.find("<body")) + 1
    body = body[:i] + TOGGLE + body[i:]
    path = out_dir / "report.html"
    from .runs import atomic_write_text

    atomic_write_text(path, body)
    return path, offline


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def to_pdf(html_path: Path, pdf_path: Path, timeout: int = 300) -> bool:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium; False if Chromium is missing."""
    chrome = find_chromium()
    if chrome is None:
        return False
    with tempfile.TemporaryDirectory(prefix="cp-chromium-") as profile_dir:
        tmp_pdf = pdf_path.with_suffix(".pdf.tmp")
        cmd = [chrome, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
               f"--print-to-pdf={tmp_pdf}", html_path.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not tmp_pdf.exists() or tmp_pdf.stat().st_size == 0:
            raise RuntimeError(f"chromium failed to print the PDF (exit {proc.returncode}):\n"
                               f"{proc.stderr[-2000:]}")
        os.replace(tmp_pdf, pdf_path)
    return True


def build(selection: list[str] | None, profile: str, seeds: list[int], pdf: bool = True,
          log=print) -> int:
    from .runner import list_notebooks

    src = list_notebooks(selection)
    nb_dir = build_dir() / "notebooks"
    executed = [nb_dir / p.name for p in src if (nb_dir / p.name).exists()]
    missing = [p.stem for p in src if not (nb_dir / p.name).exists()]
    if missing:
        log(f"warning: not executed yet, left out of the report: {', '.join(missing)} "
            "(run `make run` first)")
    if not executed:
        log("error: no executed notebooks in build/notebooks; run `make run` first")
        return 1
    out_dir = build_dir() / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    nb = combine(executed, profile, seeds, provenance())
    html_path, offline = to_html(nb, out_dir)
    log(f"report: {html_path} ({html_path.stat().st_size / 1e6:.1f} MB, {len(executed)} notebooks, "
        f"{time.perf_counter() - t0:.1f} s)")
    if not offline:
        log("warning: Debian's libjs-mathjax is not installed: the HTML loads MathJax from a CDN, "
            "so math shows as raw TeX offline and in the PDF. `apt-get install libjs-mathjax`.")
    if pdf:
        t1 = time.perf_counter()
        pdf_path = out_dir / "report.pdf"
        if to_pdf(html_path, pdf_path):
            log(f"report: {pdf_path} ({pdf_path.stat().st_size / 1e6:.1f} MB, "
                f"{time.perf_counter() - t1:.1f} s)")
        else:
            log("note: Chromium not found, so no PDF. Install it (Debian: `apt-get install "
                "chromium libjs-mathjax`) and run `make report` again, or print "
                f"{html_path} from any browser.")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .params import COMMON, ParameterError

    ap = argparse.ArgumentParser(prog="python -m utils.report", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="laptop")
    ap.add_argument("--seeds", default="0 1 2")
    ap.add_argument("--notebooks", nargs="*", default=None)
    ap.add_argument("--no-pdf", action="store_true")
    args = ap.parse_args(argv)
    try:
        profile = COMMON["profile"].check("profile", args.profile)
        seeds = COMMON["seeds"].check("seeds", args.seeds)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    selection = args.notebooks
    if selection and len(selection) == 1 and " " in selection[0]:
        selection = selection[0].split()
    return build(selection, profile, seeds, pdf=not args.no_pdf)


if __name__ == "__main__":
    sys.exit(main())
