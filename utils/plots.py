"""The figure helper: one style, shown inline, saved under ``figures/<notebook>/``.

Every figure in the pack goes through :func:`show`: it gives the figure a caption, displays it
in the notebook (so the executed copy and the report contain it) and saves ``<name>.png`` and a
vector ``<name>.svg`` under ``figures/<notebook>/``. The inline backend is left alone on purpose:
``MPLBACKEND=Agg`` would drop the inline images from the executed notebook, and with them the
report's figures (shared/research/ecosystem.md, B.1).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from .paths import figures_dir

_state = {"notebook": "scratch", "count": 0, "formats": ("png", "svg")}

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "font.size": 10,
    "image.cmap": "viridis",
}


def set_notebook(name: str, profile: str | None = None) -> None:
    """Name the folder figures go to (``figures/<name>/``) and apply the pack's style.

    In the ``smoke`` profile only the PNG is saved (the SVG costs ~1 s of CPU per figure).
    """
    _state.update(notebook=name, count=0,
                  formats=("png",) if profile == "smoke" else ("png", "svg"))
    matplotlib.rcParams.update(STYLE)


def figure_dir() -> Path:
    return figures_dir() / _state["notebook"]


def subplots(nrows: int = 1, ncols: int = 1, width: float | None = None,
             height: float | None = None, **kwargs):
    """``plt.subplots`` with a size that suits the report (about 16 cm wide)."""
    width = width or min(4.2 * ncols, 11.0)
    height = height or 3.2 * nrows
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=kwargs.pop("squeeze", True),
                        **kwargs)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def show(fig, name: str, caption: str, formats: tuple[str, ...] | None = None) -> None:
    """Caption, display and save ``fig`` (as ``figures/<notebook>/<name>.<fmt>``).

    The caption is printed under the figure as "**Figure NN.k.** caption" (NN: the notebook number) (Markdown, so math works).
    """
    from IPython.display import Markdown, display

    if not _NAME.match(name):
        raise ValueError(f"figure name {name!r} must be letters, digits, '_', '-' or '.'")
    if not caption or not caption.strip():
        raise ValueError("every figure needs a caption")
    for ax in fig.axes:
        if ax.get_visible() and (ax.lines or ax.collections or ax.patches) and not ax.images \
                and not (ax.get_xlabel() and ax.get_ylabel()) and ax.get_label() != "<colorbar>":
            warnings.warn(f"figure {name!r}: an axes with data lacks an x or y label",
                          stacklevel=2)
    out = figure_dir()
    out.mkdir(parents=True, exist_ok=True)
    for fmt in formats or _state["formats"]:
        fig.savefig(out / f"{name}.{fmt}")
    _state["count"] += 1
    prefix = _state["notebook"].split("_")[0]
    label = f"{prefix}.{_state['count']}" if prefix.isdigit() else str(_state["count"])
    display(fig)
    plt.close(fig)
    display(Markdown(f"**Figure {label}.** {caption}"))
