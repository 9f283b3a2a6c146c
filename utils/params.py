"""Notebook parameters: declare, validate, and pick values per profile.

Every notebook opens with a cell tagged ``parameters`` (papermill injects new values after it)
and, right after, a call to :func:`utils.notebook.start` that validates them with the rules
here. papermill itself only *warns* about a misspelled name (``-p seed 3`` for ``seeds``); this
module turns that into an error that lists the valid names, and checks types and ranges.

The two parameters every notebook has:

* ``profile``: ``smoke`` (seconds; the tests), ``laptop`` (the report on a 2-core CPU) or
  ``full`` (the assignment's exact settings; meant for a GPU),
* ``seeds``: a non-empty list of distinct non-negative ints (a string ``"0 1 2"`` or a single
  int is accepted and converted).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Sequence

PROFILES = ("smoke", "laptop", "full")


class ParameterError(ValueError):
    """A notebook parameter has an unknown name, a wrong type or a value out of range."""


@dataclass(frozen=True)
class Spec:
    """How to check one parameter; subclasses implement :meth:`check`."""

    def check(self, name: str, value: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError


def _fmt_range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "any value"


@dataclass(frozen=True)
class Int(Spec):
    min: int | None = None
    max: int | None = None

    def check(self, name, value):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ParameterError(
                    f"parameter {name!r} must be an int {_fmt_range(self.min, self.max)}, "
                    f"got {value!r} ({type(value).__name__})")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ParameterError(
                f"parameter {name!r} must be {_fmt_range(self.min, self.max)}, got {value}")
        return value

    def describe(self):
        return f"int {_fmt_range(self.min, self.max)}"


@dataclass(frozen=True)
class Float(Spec):
    min: float | None = None
    max: float | None = None

    def check(self, name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(
                f"parameter {name!r} must be a number {_fmt_range(self.min, self.max)}, "
                f"got {value!r} ({type(value).__name__})")
        value = float(value)
        if math.isnan(value) or (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max):
            raise ParameterError(
                f"parameter {name!r} must be {_fmt_range(self.min, self.max)}, got {value}")
        return value

    def describe(self):
        return f"number {_fmt_range(self.min, self.max)}"


@dataclass(frozen=True)
class Bool(Spec):
    def check(self, name, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ParameterError(f"parameter {name!r} must be True or False, got {value!r}")

    def describe(self):
        return "True or False"


@dataclass(frozen=True)
class Choice(Spec):
    choices: tuple = ()

    def check(self, name, value):
        if value not in self.choices:
            raise ParameterError(
                f"parameter {name!r} must be one of {', '.join(map(repr, self.choices))}; "
                f"got {value!r}")
        return value

    def describe(self):
        return "one of " + ", ".join(map(repr, self.choices))


@dataclass(frozen=True)
class Text(Spec):
    """A string (e.g. a path to a user-supplied corpus); empty allowed unless ``allow_empty``."""

    allow_empty: bool = True

    def check(self, name, value):
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ParameterError(f"parameter {name!r} must be a string, got {value!r}")
        if not value and not self.allow_empty:
            raise ParameterError(f"parameter {name!r} must not be empty")
        return value

    def describe(self):
        return "a string"


@dataclass(frozen=True)
class IntList(Spec):
    """A non-empty list of ints (``"0 1 2"``, ``"0,1,2"`` and a lone int are converted)."""

    min: int | None = None
    max: int | None = None
    distinct: bool = True

    def check(self, name, value):
        if isinstance(value, str):
            parts = value.replace(",", " ").replace("[", " ").replace("]", " ").split()
            try:
                value = [int(p) for p in parts]
            except ValueError:
                raise ParameterError(
                    f"parameter {name!r} must be a list of ints such as [0, 1, 2] or '0 1 2'; "
                    f"got {value!r}") from None
        elif isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise ParameterError(
                f"parameter {name!r} must be a non-empty list of ints such as [0, 1, 2]; "
                f"got {value!r}")
        item = Int(self.min, self.max)
        out = [item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]
        if self.distinct and len(set(out)) != len(out):
            raise ParameterError(f"parameter {name!r} must not repeat a value, got {out}")
        return out

    def describe(self):
        return f"non-empty list of ints {_fmt_range(self.min, self.max)}"


COMMON: dict[str, Spec] = {
    "profile": Choice(PROFILES),
    "seeds": IntList(min=0),
}


class Params:
    """Validated parameters: attribute access plus :meth:`pick` for per-profile values."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)
        self._names = tuple(values)

    def pick(self, smoke=None, laptop=None, full=None, **unknown):
        """The value for the current profile, e.g. ``P.pick(smoke=20, laptop=2000, full=10001)``."""
        if unknown:
            raise TypeError(f"pick() takes smoke, laptop and full; got {sorted(unknown)}")
        return {"smoke": smoke, "laptop": laptop, "full": full}[self.profile]

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._names}

    def __repr__(self):
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._names)
        return f"Params({inner})"


def allowed_names_message(spec: dict[str, Spec]) -> str:
    return "; ".join(f"{k} ({s.describe()})" for k, s in spec.items())


def check_names(names: Sequence[str], spec: dict[str, Spec], where: str = "") -> None:
    """Raise if any of ``names`` is not a declared parameter."""
    unknown = [n for n in names if n not in spec]
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            f"{' ' + where if where else ''}. Valid parameters: {allowed_names_message(spec)}")


def injected_names(history: Sequence[str]) -> list[str]:
    """Names assigned in papermill's injected ``# Parameters`` cell(s), from the kernel history.

    papermill inserts a cell whose source starts with ``# Parameters`` after the ``parameters``
    cell; IPython's ``In`` list records every executed cell's source, so the kernel can see what
    was injected even though papermill keeps that list to itself.
    """
    names: list[str] = []
    for source in history:
        if not isinstance(source, str) or not source.lstrip().startswith("# Parameters"):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign):
                names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def validate(namespace: dict[str, Any], extra: dict[str, Spec] | None = None,
             history: Sequence[str] | None = None) -> Params:
    """Validate the parameters found in ``namespace`` (a notebook's ``globals()``).

    ``extra`` declares the notebook's own parameters beyond ``profile`` and ``seeds``.
    ``history`` is the kernel's ``In`` list, used to reject misspelled injected names.
    """
    spec = {**COMMON, **(extra or {})}
    if history is not None:
        check_names(injected_names(history), spec, "was passed to this notebook")
    values = {}
    for name, rule in spec.items():
        if name not in namespace:
            raise ParameterError(
                f"parameter {name!r} is declared but not defined in the parameters cell")
        values[name] = rule.check(name, namespace[name])
        namespace[name] = values[name]
    return Params(values)
