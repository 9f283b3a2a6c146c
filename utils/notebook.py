"""The one call that starts every notebook: validate parameters, name the figures, seed.

Usage, in the cell right after the ``parameters`` cell::

    from utils.notebook import start
    from utils.params import Int
    P = start("01_attention", globals(), max_len=Int(min=8))

It validates ``profile``, ``seeds`` and the notebook's own parameters (unknown or misspelled
names injected by papermill, wrong types, out-of-range values: each a clear error listing what is
allowed), applies the figure style, seeds everything with the first seed, and prints one line
saying how the notebook runs.
"""

from __future__ import annotations

import inspect
import platform
import time

from . import params as _params
from . import plots
from .paths import is_headless
from .seeding import seed_everything

_started = {"t0": None, "name": None}


def start(name: str, namespace: dict, **extra: _params.Spec) -> _params.Params:
    history = namespace.get("In")
    P = _params.validate(namespace, extra, history=history if isinstance(history, list) else None)
    plots.set_notebook(name, P.profile)
    seed_everything(P.seeds[0])
    _started["t0"] = time.perf_counter()
    _started["name"] = name
    mode = "headless" if is_headless() else "interactive"
    print(f"{name}: profile={P.profile}, seeds={P.seeds} ({mode}, Python "
          f"{platform.python_version()})")
    return P


def current_name() -> str | None:
    """The notebook name given to :func:`start` (None before it)."""
    return _started["name"]


def elapsed() -> float:
    """Seconds since :func:`start` (for the closing "this notebook took ..." line)."""
    return 0.0 if _started["t0"] is None else time.perf_counter() - _started["t0"]


def answer(markdown: str) -> None:
    """Show an answer as Markdown; build the text with f-strings from measured values, so the
    prose can never disagree with the data (no result is typed into a Markdown cell)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def n_sentences(text: str) -> int:
    """Sentences in ``text``, for the seeds' "answer in 1-2 sentences": a '.', '!' or '?'
    (closing quotes, brackets or '*' may follow) at the end or before a space. A decimal point
    (1.2) has no space after it, and 'e.g.', 'i.e.' and 'vs.' are not sentence ends; any other
    abbreviation counts as one (an over-count makes a limit check fail loudly, never pass)."""
    import re

    ends = r"(?<!e\.g)(?<!i\.e)(?<!\bvs)[.!?][*)\"'’”]*(?=\s+\S|\s*$)"
    return len(re.findall(ends, text.strip()))


def show_source(*objs) -> None:
    """Show the source of the functions/classes a section teaches, as one highlighted code block
    (so the lesson shows the code that actually ran, not a copy that could drift)."""
    from IPython.display import Markdown, display

    if not objs:
        raise TypeError("show_source needs at least one function, class or module")
    code = "\n\n".join(_without_exercise_markers(inspect.getsource(o)) for o in objs)
    display(Markdown(f"```python\n{code}\n```"))


def _without_exercise_markers(source: str) -> str:
    """The pack's source without the student edition's marker and hint comment lines (see
    CONTRIBUTING, "Exercises"); the student edition keeps them."""
    from .paths import ROOT

    if (ROOT / "STUDENT_EDITION").exists():
        return source
    marks = ("# " + ">" * 3 + " exercise", "# " + "<" * 3 + " exercise", "# hint:")
    keep = [line for line in source.splitlines() if not line.lstrip().startswith(marks)]
    return "\n".join(keep) + ("\n" if source.endswith("\n") else "")


def finish(store=None) -> None:
    """The closing line every notebook prints: its wall time, profile and run-store reuse."""
    extra = f"; {store.summary()}" if store is not None else ""
    t = elapsed()
    from .params import Params  # noqa: F401  (keeps the import graph explicit)

    answer(f"*This notebook took {t:.0f} s ({t / 60:.1f} min) on this machine{extra}.*")
