"""Where the pack's files live, independent of the working directory.

papermill starts kernels in the caller's folder, JupyterLab and nbmake in the notebook's folder,
so every path is resolved from this package's own location (the repository root), never from
the current directory. Three environment variables redirect the writable folders (the tests use
them to keep a run hermetic):

* ``COURSEPACK_CACHE``: the run store (default ``data/cache``),
* ``COURSEPACK_FIGURES``: saved figures (default ``figures``),
* ``COURSEPACK_BUILD``: executed notebooks and the report (default ``build``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DATA = ROOT / "data"


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def cache_dir() -> Path:
    """Root of the run store and other caches (ignored by git)."""
    return _env_path("COURSEPACK_CACHE", DATA / "cache")


def figures_dir() -> Path:
    """Root of the saved figures: ``figures/<notebook>/<name>.png``."""
    return _env_path("COURSEPACK_FIGURES", ROOT / "figures")


def build_dir() -> Path:
    """Executed notebooks (``build/notebooks``) and the report (``build/report``)."""
    return _env_path("COURSEPACK_BUILD", ROOT / "build")


def is_headless() -> bool:
    """True when a notebook runs without a person watching (papermill, tests, CI).

    ``make run`` and the tests set ``COURSEPACK_HEADLESS=1``; JupyterLab does not, so there the
    widgets are live and progress bars are drawn as widgets.
    """
    return os.environ.get("COURSEPACK_HEADLESS", "") not in ("", "0", "false", "False")
