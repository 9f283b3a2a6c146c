"""The PDF of the report, read back with poppler: pages, figures, math, nothing off the page.

A small executed notebook is built in memory (no kernel): Markdown with inline and display
math, one PNG figure of known size, a 12-column mean ± std table like notebook 10's summary, a
18-column table, and show_source-style code with a line far longer than the page. It is printed
with the report's own HTML and Chromium, then checked with ``pdfinfo``, ``pdfimages`` and
``pdftotext -bbox`` (every table cell printed and inside the margins, code identifiers whole,
code in a monospace font). The same checks run once more with the page-fitting CSS
(``report.FIT_CSS``) removed, and must then fail, so they can fail.

``make test`` installs Chromium, MathJax and poppler (``make pdf-deps``); without them this file
fails and says so (set ``COURSEPACK_NO_PDF=1`` to skip it on purpose).
"""

import base64
import io
import os
import re
import shutil
import subprocess
from xml.etree import ElementTree

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from utils import report, stats

MARGIN_PT = 12 / 25.4 * 72          # @page margin 14mm 12mm: left and right 12 mm
FIG_PX = (360, 240)
METRICS = ["L_train", "L_val", "A_train", "A_val", "t_f(L_train)", "t_f(L_val)",
           "t_f(A_train)", "t_f(A_val)", "Δt(L)", "Δt(A)"]
WIDE = [f"col{i:02d}" for i in range(18)]
CODE_WORDS = [f"argument_number_{w}" for w in ("one", "two", "three", "four", "five", "six",
                                               "seven", "eight", "nine", "ten", "eleven")]


def _need_tools():
    if os.environ.get("COURSEPACK_NO_PDF") == "1":
        pytest.skip("COURSEPACK_NO_PDF=1")
    missing = [t for t in ("pdfinfo", "pdftotext", "pdfimages") if shutil.which(t) is None]
    if report.find_chromium() is None:
        missing.append("chromium")
    if not (report.MATHJAX_DIR / "MathJax.js").exists():
        missing.append("libjs-mathjax")
    if missing:
        pytest.fail(f"missing for the PDF test: {', '.join(missing)}; run `make pdf-deps` "
                    "(apt: chromium libjs-mathjax poppler-utils), or set COURSEPACK_NO_PDF=1")


def _png() -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(FIG_PX[0] / 80, FIG_PX[1] / 80), dpi=80)
    fig.add_subplot().plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode()


def _value(i: int, j: int) -> float:
    """Distinct numbers, one per (column, seed): every cell of the table reads differently."""
    return 1000 + 37.25 * i + 3.5 * j


def _tables() -> tuple[str, str, list[str]]:
    rows = [{"model": m, "seed": s, **{c: _value(i, s) * (1 + k) for i, c in enumerate(METRICS)}}
            for k, m in enumerate(["lstm", "gpt"]) for s in range(3)]
    summary = stats.table(pd.DataFrame(rows), "model", METRICS, caption="Table 1: summary")
    wide = pd.DataFrame([{c: 100000 + 1111 * i + r for i, c in enumerate(WIDE)} for r in range(2)])
    wide_html = stats.plain_table(wide, "Table 2: eighteen columns").to_html()
    expected = [*METRICS, "seeds", *WIDE, *(str(v) for v in wide.to_numpy().ravel())]
    # the means over seeds 0, 1, 2 as the table prints them: (1000 + 37.25 i + 3.5) (1 + k)
    expected += [f"{(1000 + 37.25 * i + 3.5) * (1 + k):.3f}" for i in range(len(METRICS))
                 for k in range(2)]
    return summary.to_html(), wide_html, expected


def _notebook(path):
    summary, wide, expected = _tables()
    code = ("def long_call():\n    iiiiiiii = mmmmmmmm\n"
            "    return some_function(" + ", ".join(CODE_WORDS) + ")\n")
    nb = new_notebook(cells=[
        new_markdown_cell("# 98 · PDF check\n\nInline $\\mathrm{softmax}(x)_i = e^{x_i} / "
                          "\\sum_j e^{x_j}$ and display $$\\frac{QK^\\top}{\\sqrt{d_k}}$$"),
        new_code_cell("t", outputs=[new_output("display_data", data={"text/html": summary})]),
        new_code_cell("f", outputs=[new_output("display_data", data={"image/png": _png()})]),
        new_code_cell("w", outputs=[new_output("display_data", data={"text/html": wide})]),
        new_code_cell("s", outputs=[new_output("display_data", data={
            "text/markdown": f"```python\n{code}```"})]),
    ])
    nb.metadata["coursepack"] = {"status": "ok", "profile": "smoke", "seeds": [0], "wall_s": 1}
    nbformat.write(nb, path)
    return expected


def _render(tmp_path):
    src = tmp_path / "98_pdf_check.ipynb"
    expected = _notebook(src)
    (tmp_path / "mathjax").symlink_to(report.MATHJAX_DIR)    # instead of a copy, for speed
    prov = {"commit": "test", "date": "today", "cpu": "cpu", "memory": "1 GiB", "gpu": "none",
            "software": "python"}                     # report.provenance() costs seconds
    nb = report.combine([src], "smoke", [0], prov)
    html_path, offline = report.to_html(nb, tmp_path)
    assert offline
    pdf = tmp_path / "report.pdf"
    assert report.to_pdf(html_path, pdf, timeout=120)
    return html_path, pdf, expected


def _pages(pdf):
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    xml = re.sub(r"<!DOCTYPE[^>]*>", "", xml)
    root = ElementTree.fromstring(xml)
    out = []
    for page in root.iter("{http://www.w3.org/1999/xhtml}page"):
        words = [(w.text or "", float(w.get("xMin")), float(w.get("xMax")))
                 for w in page.iter("{http://www.w3.org/1999/xhtml}word")]
        out.append((float(page.get("width")), float(page.get("height")), words))
    return out


def _problems(pdf, expected) -> list[str]:
    """Everything wrong with the PDF; empty when it is right."""
    problems = []
    pages = _pages(pdf)
    words = [w for _, _, ws in pages for w, _, _ in ws]
    text = " ".join(words)
    for label in expected:                              # every header and cell is printed
        if label not in words and f"{label} ±" not in text:
            problems.append(f"table text {label!r} is missing (clipped?)")
    for width, _, ws in pages:                          # ... and inside the margins
        for w, x0, x1 in ws:
            if x1 > width - MARGIN_PT + 1 or x0 < MARGIN_PT - 1:
                problems.append(f"{w!r} at x = {x0:.0f}-{x1:.0f} pt on a {width:.0f} pt page")
    identifiers = set(re.findall(r"\w+", text))
    for word in CODE_WORDS:                             # code wraps between words
        if word not in identifiers:
            problems.append(f"code identifier {word!r} is broken or missing")
    widths = {w: x1 - x0 for _, _, ws in pages for w, x0, x1 in ws if w in ("iiiiiiii", "mmmmmmmm")}
    if len(widths) != 2 or abs(widths["iiiiiiii"] / widths["mmmmmmmm"] - 1) > 0.05:
        problems.append(f"code is not in a monospace font (widths of i×8 and m×8: {widths})")
    return problems


def test_pdf_pages_figures_math_and_nothing_off_the_page(tmp_path):
    _need_tools()
    html_path, pdf, expected = _render(tmp_path)
    assert html_path.stat().st_mode & 0o777 == 0o666 & ~_umask()       # servable as is
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    n_pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    pages = _pages(pdf)
    assert n_pages == len(pages) and 2 <= n_pages <= 6, info
    # the 18-column table gets a landscape page; the others are A4 portrait
    sizes = {(round(w), round(h)) for w, h, _ in pages}
    assert sizes == {(595, 842), (842, 595)}, sizes
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[2:]
    assert len(images) == 1 and images[0].split()[3:5] == [str(FIG_PX[0]), str(FIG_PX[1])], images
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "$" not in text and "\\mathrm" not in text and "\\frac" not in text   # math rendered
    assert "98 · PDF check" in text and "Provenance" in text
    assert _problems(pdf, expected) == []


def test_checks_fail_without_the_page_fitting_css(tmp_path, monkeypatch):
    _need_tools()
    monkeypatch.setattr(report, "CSS", report.CSS.replace(report.FIT_CSS, ""))
    _, pdf, expected = _render(tmp_path)
    problems = "\n".join(_problems(pdf, expected))
    assert "'Δt(A)' is missing" in problems                 # notebook 10's clipped columns
    assert "code identifier" in problems                    # and code cut inside a word
    assert "monospace" in problems                          # in a proportional font


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

