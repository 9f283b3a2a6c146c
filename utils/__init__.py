"""The course pack's shared package.

Notebooks in ``notebooks/`` import what they teach from here, in reading order:

* infrastructure: ``paths`` (where things live), ``params`` (parameter validation),
  ``seeding`` (same seed, same numbers), ``runs`` (the run store: reuse and resume),
  ``stats`` (mean ± std tables), ``plots`` (the figure helper), ``progress`` (progress bars),
  ``widgets`` (interactive explorers with a static fallback), ``notebook`` (the one call that
  starts every notebook), ``runner`` and ``report`` (``make run`` and ``make report``).
* course material: one module per idea (hardware, attention, models, tokenizers, ...), each
  opening with a docstring that names the equation or paper and the notebook that teaches it.

Importing ``utils`` is cheap: submodules are imported on use.
"""

__version__ = "0.1.0"
