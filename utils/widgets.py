"""Interactive explorers with a static fallback.

:func:`explore` builds an ``ipywidgets.interact`` UI in a live notebook. Headless (papermill,
tests, the report) a widget cannot be drawn offline, so it calls the function once with each
control's default value instead: the report shows the default view as an ordinary figure.
"""

from __future__ import annotations

from typing import Any, Callable

from .paths import is_headless


def _default(control: Any) -> Any:
    if hasattr(control, "value"):
        return control.value
    if isinstance(control, (list, tuple)) and control and not isinstance(control[0], (int, float)):
        return control[0]
    raise TypeError("explore() controls must be ipywidgets widgets (with a .value) or a list of "
                    f"choices; got {control!r}")


def explore(fn: Callable[..., Any], **controls: Any):
    """Interactive ``fn(**values)`` in JupyterLab; one static call with the defaults headless."""
    if is_headless():
        return fn(**{k: _default(c) for k, c in controls.items()})
    import ipywidgets

    return ipywidgets.interact(fn, **controls)
