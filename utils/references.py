"""The pack's bibliography: one BibTeX file, author-year citations, References sections.

Every paper the pack cites is an entry of ``references.bib`` at the repository root, with a DOI
or an arXiv id (checked against the paper when it was added). Notebooks cite in the text with
author-year labels derived from the entry:

    one author       [Hahn, 2020]
    two authors      [Press and Wolf, 2017]
    three or more    [Vaswani et al., 2017]
    several          [Press et al., 2022; Hahn, 2020]

(two entries with the same label get ``2022a``/``2022b`` in key order). :func:`cite` builds a
label from keys for f-strings; :func:`show_references` renders the list of everything a
notebook's source cites (the last section of notebooks 30-35); the report ends with one
References section for all notebooks (:func:`references_markdown`, used by ``utils.report``).
A label or key that is not in the file is an error naming it, so a typo cannot reach the report
(``tests/test_references.py`` checks every notebook).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .paths import ROOT

BIB_PATH = ROOT / "references.bib"

# one citation inside brackets: "Name[ and Name| et al.], 2020[a]"
_NAME = r"[A-Z][\w'\u00C0-\u024F\-]*(?: [a-z]+)*(?: [A-Z][\w'\u00C0-\u024F\-]*)*"
_ONE = rf"{_NAME}(?: and {_NAME}| et al\.)?, \d{{4}}[a-z]?"
CITATION_RE = re.compile(rf"\[({_ONE}(?:; {_ONE})*)\]")
CITE_CALL_RE = re.compile(r"\bcite\(([^)]*)\)")
_STRING_RE = re.compile(r"""["']([^"']+)["']""")


def _plain(text: str) -> str:
    """LaTeX-free text: decode accents (latexcodec), drop braces."""
    import codecs

    import latexcodec  # noqa: F401  (registers the "ulatex" codec)

    try:
        text = codecs.decode(text, "ulatex")
    except (TypeError, UnicodeDecodeError, ValueError):
        pass
    return re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()


class Bibliography:
    """The entries of one BibTeX file, with their author-year labels."""

    def __init__(self, path: Path = BIB_PATH):
        from pybtex.database import parse_file

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"the bibliography {self.path} does not exist")
        self.entries = parse_file(str(self.path), bib_format="bibtex").entries
        base = {key: self._base_label(key) for key in self.entries}
        self.labels: dict[str, str] = {}
        for key in sorted(self.entries):
            same = sorted(k for k, b in base.items() if b == base[key])
            suffix = "abcdefghijklmnopqrstuvwxyz"[same.index(key)] if len(same) > 1 else ""
            self.labels[key] = base[key] + suffix
        self.keys_by_label = {label: key for key, label in self.labels.items()}

    def authors(self, key: str) -> list[tuple[str, str]]:
        """(last, first) names of an entry's authors, LaTeX decoded."""
        persons = self.entries[key].persons.get("author", [])
        return [(_plain(" ".join(p.prelast_names + p.last_names)),
                 _plain(" ".join(p.first_names + p.middle_names))) for p in persons]

    def year(self, key: str) -> str:
        return self.entries[key].fields.get("year", "n.d.")

    def _base_label(self, key: str) -> str:
        names = [last for last, _ in self.authors(key)]
        if not names:
            raise ValueError(f"{self.path.name}: entry {key!r} has no author")
        if len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        return f"{who}, {self.year(key)}"

    def key(self, label: str) -> str:
        """The entry cited by ``label`` (e.g. 'Press et al., 2022'); an unknown label is a
        KeyError naming it and the labels with the same first author."""
        if label in self.keys_by_label:
            return self.keys_by_label[label]
        first = label.split(",")[0].split(" ")[0]
        near = sorted(lb for lb in self.keys_by_label if lb.startswith(first))
        hint = f"; entries by {first}: {near}" if near else ""
        raise KeyError(f"citation [{label}] is not in {self.path.name}{hint}. Add the paper "
                       f"(with its DOI or arXiv id) to {self.path.name} or fix the label")

    def check_key(self, key: str) -> str:
        if key not in self.entries:
            raise KeyError(f"bibliography key {key!r} is not in {self.path.name}")
        return key

    def identifiers(self, key: str) -> dict[str, str]:
        """{'doi': ..., 'arxiv': ...} of an entry (whichever it has)."""
        f = self.entries[key].fields
        out = {}
        if f.get("doi"):
            out["doi"] = f["doi"]
        arxiv = f.get("eprint") if f.get("archivePrefix", f.get("archiveprefix", "")).lower() \
            == "arxiv" else None
        if arxiv:
            out["arxiv"] = arxiv
        return out

    def format(self, key: str) -> str:
        """One Markdown reference: authors (year). Title. Venue. arXiv/DOI link."""
        f = self.entries[key].fields
        names = [f"{last}, {first[:1]}." if first else last for last, first in self.authors(key)]
        who = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
        venue = _plain(f.get("booktitle", f.get("journal", "")))
        parts = [f"{who} ({self.year(key)}). {_plain(f.get('title', ''))}."]
        if venue:
            parts.append(f"*{venue}*.")
        ids = self.identifiers(key)
        if "arxiv" in ids:
            parts.append(f"[arXiv:{ids['arxiv']}](https://arxiv.org/abs/{ids['arxiv']})")
        if "doi" in ids:
            parts.append(f"[doi:{ids['doi']}](https://doi.org/{ids['doi']})")
        return " ".join(parts)


@functools.lru_cache(maxsize=4)
def _bib_cached(path: str, mtime: float) -> Bibliography:
    return Bibliography(Path(path))


def bibliography(path: Path = BIB_PATH) -> Bibliography:
    """The parsed bibliography (re-read when the file changes)."""
    path = Path(path)
    return _bib_cached(str(path), path.stat().st_mtime if path.exists() else 0.0)


def cite(*keys: str) -> str:
    """'[Press et al., 2022; Hahn, 2020]' for the given BibTeX keys (unknown key: KeyError)."""
    if not keys:
        raise TypeError("cite() needs at least one BibTeX key")
    bib = bibliography()
    return "[" + "; ".join(bib.labels[bib.check_key(k)] for k in keys) + "]"


def labels_in(text: str) -> list[str]:
    """Every author-year label cited in ``text`` (in order, repeats kept)."""
    return [one for group in CITATION_RE.findall(text) for one in group.split("; ")]


def cited_keys(text: str, bib: Bibliography | None = None) -> list[str]:
    """The BibTeX keys ``text`` cites, by label or through ``cite("key", ...)`` calls, in order
    of first appearance; an unknown label or key raises KeyError naming it."""
    bib = bib or bibliography()
    found: list[tuple[int, str]] = []
    for m in CITATION_RE.finditer(text):
        for one in m.group(1).split("; "):
            found.append((m.start(), bib.key(one)))
    for m in CITE_CALL_RE.finditer(text):
        for key in _STRING_RE.findall(m.group(1)):
            found.append((m.start(), bib.check_key(key)))
    keys: list[str] = []
    for _, key in sorted(found, key=lambda t: t[0]):
        if key not in keys:
            keys.append(key)
    return keys


def notebook_source(name: str) -> str:
    path = ROOT / "notebooks" / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"no notebook source {path}")
    return path.read_text()


def references_markdown(keys: list[str], heading: str = "## References") -> str:
    """A References list (sorted by label) of the given keys."""
    bib = bibliography()
    keys = sorted(set(keys), key=lambda k: bib.labels[k].lower())
    lines = [heading, ""] if heading else []
    lines += [f"- **[{bib.labels[k]}]** {bib.format(k)}" for k in keys]
    return "\n".join(lines)


def show_references(name: str | None = None) -> None:
    """Render the References of a notebook: every entry its source cites. ``name`` defaults to
    the notebook given to ``utils.notebook.start``. (Returns nothing, so the list is not echoed
    as a cell's value; :func:`cited_keys` gives the keys.)"""
    from IPython.display import Markdown, display

    from .notebook import current_name

    name = name or current_name()
    if not name:
        raise RuntimeError("show_references() needs the notebook name: call start() first "
                           "or pass name='NN_topic'")
    keys = cited_keys(notebook_source(name))
    if not keys:
        raise ValueError(f"notebook {name} cites no paper; an assertion study needs at least two")
    display(Markdown(references_markdown(keys)))
