"""The bibliography (references.bib), author-year labels, and every notebook's citations."""

from pathlib import Path

import pytest

from conftest import ROOT
from utils import references as refs

NOTEBOOK_SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))

BIB = r"""
@article{solo2020, author = {Hahn, Michael}, title = {One}, journal = {TACL}, year = {2020},
  doi = {10.1162/tacl_a_00306}}
@inproceedings{duo2017, author = {Press, Ofir and Wolf, Lior}, title = {Two}, year = {2017},
  eprint = {1608.05859}, archivePrefix = {arXiv}}
@inproceedings{many2022b, author = {Press, Ofir and Smith, Noah A. and Lewis, Mike},
  title = {Train {S}hort}, year = {2022}, eprint = {2108.12409}, archivePrefix = {arXiv}}
@inproceedings{many2022a, author = {Press, Ofir and Other, A. and Third, B.}, title = {X},
  year = {2022}, eprint = {0000.00000}, archivePrefix = {arXiv}}
@article{accent2023, author = {Del{\'e}tang, Gr{\'e}goire and Ruoss, Anian and Grau-Moya, Jordi},
  title = {Chomsky}, year = {2023}, eprint = {2207.02098}, archivePrefix = {arXiv}}
"""


@pytest.fixture
def bib(tmp_path: Path):
    path = tmp_path / "test.bib"
    path.write_text(BIB)
    return refs.Bibliography(path)


def test_labels_follow_author_count_and_disambiguate(bib):
    assert bib.labels["solo2020"] == "Hahn, 2020"
    assert bib.labels["duo2017"] == "Press and Wolf, 2017"
    # two "Press et al., 2022" entries: a/b in key order
    assert bib.labels["many2022a"] == "Press et al., 2022a"
    assert bib.labels["many2022b"] == "Press et al., 2022b"
    assert bib.labels["accent2023"] == "Delétang et al., 2023"      # LaTeX accents decoded


def test_cited_keys_by_label_and_by_cite_call(bib):
    text = ('As shown [Hahn, 2020; Press and Wolf, 2017], and again [Hahn, 2020]. '
            'answer(f"... {cite("many2022b")} ...") [Delétang et al., 2023]. A list [0, 1, 2].')
    assert refs.cited_keys(text, bib) == ["solo2020", "duo2017", "many2022b", "accent2023"]


def test_unknown_label_or_key_is_an_error_naming_it(bib):
    with pytest.raises(KeyError, match=r"\[Press et al., 2021\] is not in test.bib.*"
                                       r"entries by Press"):
        refs.cited_keys("see [Press et al., 2021]", bib)
    with pytest.raises(KeyError, match="'nosuchkey' is not in test.bib"):
        refs.cited_keys('cite("nosuchkey")', bib)


def test_format_has_link_to_identifier(bib):
    line = bib.format("many2022b")
    assert line.startswith("Press, O., Smith, N. and Lewis, M. (2022). Train Short.")
    assert "(https://arxiv.org/abs/2108.12409)" in line
    assert "(https://doi.org/10.1162/tacl_a_00306)" in bib.format("solo2020")


def test_pack_bibliography_entries_have_doi_or_arxiv_and_unique_labels():
    bib = refs.Bibliography(refs.BIB_PATH)
    assert bib.entries, "references.bib is empty"
    for key in bib.entries:
        ids = bib.identifiers(key)
        assert ids, f"references.bib: entry {key} has neither a DOI nor an arXiv id"
        if "arxiv" in ids:
            assert __import__("re").fullmatch(r"\d{4}\.\d{4,5}(v\d+)?", ids["arxiv"]), \
                f"{key}: arXiv id {ids['arxiv']!r} is not of the form NNNN.NNNNN"
        assert bib.entries[key].fields.get("title"), f"{key}: no title"
    assert len(set(bib.labels.values())) == len(bib.labels)


def test_cite_renders_labels_from_the_pack_file():
    assert refs.cite("vaswani2017attention") == "[Vaswani et al., 2017]"
    with pytest.raises(KeyError, match="'vaswani2017' is not in references.bib"):
        refs.cite("vaswani2017")


@pytest.mark.parametrize("path", NOTEBOOK_SOURCES, ids=[p.stem for p in NOTEBOOK_SOURCES])
def test_every_notebook_citation_resolves(path):
    refs.cited_keys(path.read_text())          # raises KeyError naming an unknown citation


ASSERTION_NOTEBOOKS = [p for p in NOTEBOOK_SOURCES if p.stem[:2] in {"30", "31", "32", "33",
                                                                       "34", "35"}]


@pytest.mark.parametrize("path", ASSERTION_NOTEBOOKS, ids=[p.stem for p in ASSERTION_NOTEBOOKS])
def test_assertion_notebooks_cite_two_papers_and_list_them(path):
    text = path.read_text()
    assert len(refs.cited_keys(text)) >= 2, f"{path.name} cites fewer than two papers"
    assert "show_references()" in text, f"{path.name} does not end with show_references()"


def test_report_ends_with_the_references_the_notebooks_cite():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from utils import report

    cites = new_notebook(cells=[new_markdown_cell("Attention [Vaswani et al., 2017].")])
    answer = new_code_cell("answer(...)", outputs=[new_output(
        "display_data", data={"text/markdown": "as [Vaswani et al., 2017] showed"})])
    silent = new_notebook(cells=[new_markdown_cell("No citation here [0, 1]."), answer])
    text = report.references_section([cites, silent])
    assert text.startswith("# References")
    assert text.count("- **[Vaswani") == 1 and "https://arxiv.org/abs/1706.03762" in text
    assert report.references_section([new_notebook(cells=[new_markdown_cell("none")])]) == ""
    bad = new_notebook(cells=[new_markdown_cell("[Nobody et al., 1999]")])
    assert "Unresolved citations" in report.references_section([bad])
