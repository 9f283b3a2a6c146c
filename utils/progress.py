"""Progress bars for long loops, readable both in JupyterLab and in headless logs.

In JupyterLab the bar is a widget (``tqdm.auto``). Headless (``COURSEPACK_HEADLESS=1``, set by
``make run`` and the tests) it is plain text on stderr, refreshed at most every
``mininterval`` seconds so the executed notebook does not fill with thousands of updates; the
report drops stderr, so bars never reach the PDF.
"""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from .paths import is_headless

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, total: int | None = None,
             desc: str | None = None, mininterval: float | None = None, **kwargs):
    """``tqdm`` that fits the context: widget in a live notebook, sparse text when headless."""
    if is_headless():
        from tqdm.std import tqdm

        return tqdm(iterable, total=total, desc=desc, file=sys.stderr, ascii=True,
                    mininterval=10.0 if mininterval is None else mininterval,
                    dynamic_ncols=False, ncols=100, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc,
                mininterval=0.2 if mininterval is None else mininterval, **kwargs)
