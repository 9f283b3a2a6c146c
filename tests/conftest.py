"""Shared test set-up: every test session writes into its own temporary folders.

The run store, figures and build folders are redirected (``COURSEPACK_CACHE``,
``COURSEPACK_FIGURES``, ``COURSEPACK_BUILD``) so tests never reuse a developer's stored runs and
never touch ``build/``; ``COURSEPACK_HEADLESS=1`` makes progress bars text and widgets static.
Each pytest-xdist worker gets its own folders. Worker threads are limited to 1 so two workers
share the 2-core machine without oversubscription.
"""

import os
import tempfile
from pathlib import Path

_tmp = Path(tempfile.mkdtemp(prefix="coursepack-tests-"))
for var, sub in (("COURSEPACK_CACHE", "cache"), ("COURSEPACK_FIGURES", "figures"),
                 ("COURSEPACK_BUILD", "build")):
    os.environ[var] = str(_tmp / sub)
os.environ["COURSEPACK_HEADLESS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
