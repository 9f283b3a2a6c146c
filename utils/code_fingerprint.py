"""Which code a run ran: a fingerprint of a run function and the pack modules it depends on.

The run store (:mod:`utils.runs`) keys a run by its config; this module adds *what code
produced it*, so that a fix to a trainer, a loss or a data generator makes the stored results
of that code stale instead of silently reused. :func:`code_fingerprint` hashes

1. the **run function's own source**, and the source of every function or class it references
   that is defined beside it (same module: the notebook's other cells, a test module), followed
   through their globals and closures;
2. the **source files of the** ``utils`` **modules it depends on**: the modules of the
   functions, classes, modules and objects referenced from those globals that live in the pack,
   closed transitively over their static imports (``from .x import y``, ``from ..x import y``,
   ``import utils.x``, also inside functions). Modules that only store, display or schedule
   runs (:data:`INFRASTRUCTURE`: the run store itself, the sweep engine, paths, progress bars,
   plots, the report)
   are left out, so editing them recomputes nothing.

Each source is hashed through its syntax tree without docstrings (``ast.dump``), so comments,
docstrings, blank lines and formatting do not count; any change of code does. Granularity is
the module: editing one function of ``utils/train/arithmetic.py`` makes every run that depends
on that module stale, while a notebook that never imports it keeps its runs. File digests are
cached per process by (path, modification time, size).

The fingerprint reads the files on disk, which is what a fresh kernel (``make run``) imports; a
module edited after it was imported into a live kernel is fingerprinted as edited.
Used by :class:`utils.runs.RunStore`; tested in ``tests/test_runs.py``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

PACKAGES = ("utils",)
"""Top-level packages whose modules count as the pack's code (their files are hashed)."""

INFRASTRUCTURE = frozenset({
    "utils.runs", "utils.code_fingerprint", "utils.paths", "utils.progress", "utils.report",
    "utils.runner", "utils.notebook", "utils.widgets", "utils.plots", "utils.params",
    "utils.references", "utils.sweep",
})
"""Pack modules that store, display or schedule runs but compute no result: not hashed."""


@dataclass(frozen=True)
class Fingerprint:
    """``digest``: 16 hex digits over every part; ``parts``: ``{name: 16-hex digest}`` where a
    name is a repository-relative file (``utils/train/lm.py``) or ``module.qualname`` of a
    function outside the pack (``__main__.train_box_net``)."""

    digest: str
    parts: dict = field(default_factory=dict)

    def as_meta(self) -> dict:
        return {"fingerprint": self.digest, "parts": dict(self.parts)}


def _h(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_digest(source: str) -> str:
    """Digest of Python source that ignores comments, docstrings and layout (raw text if it does
    not parse on its own, e.g. a lambda cut out of a longer line)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return _h("\n".join(line.strip() for line in source.splitlines() if line.strip()).encode())
    return _h(ast.dump(_strip_docstrings(tree)).encode())


# ------------------------------------------------------------------------------ pack files
def _pack_of(module_name: str | None) -> bool:
    return bool(module_name) and module_name.split(".")[0] in PACKAGES


@functools.lru_cache(maxsize=64)
def _package_dir(top: str) -> Path | None:
    mod = sys.modules.get(top)
    path = getattr(mod, "__file__", None) if mod is not None else None
    if path is None:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        path = spec.origin if spec is not None else None
    return Path(path).parent if path else None


def _module_file(name: str) -> Path | None:
    """The source file of pack module ``name`` (``utils.nn.gpt`` -> .../utils/nn/gpt.py), found
    on disk without importing anything; None if ``name`` is not a module of the pack."""
    top, *rest = name.split(".")
    root = _package_dir(top) if top in PACKAGES else None
    if root is None:
        return None
    base = root.joinpath(*rest)
    for path in (base.with_name(base.name + ".py") if rest else None, base / "__init__.py"):
        if path is not None and path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=4096)
def _file_info(path: str, mtime_ns: int, size: int) -> tuple[str, tuple[str, ...]]:
    """(normalised digest, pack modules imported statically) of one file; cached by stat."""
    source = Path(path).read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return _h(source.encode()), ()
    digest = _h(ast.dump(_strip_docstrings(tree)).encode())
    return digest, tuple(sorted(_static_imports(tree, _module_name_of(Path(path)))))


def _pack_path(path: Path) -> tuple[str, ...] | None:
    """``.../utils/nn/gpt.py`` -> ("utils", "nn", "gpt.py"): the path inside its pack package."""
    path = Path(path).resolve()
    for top in PACKAGES:
        root = _package_dir(top)
        if root is not None and path.is_relative_to(root.resolve()):
            return (top, *path.relative_to(root.resolve()).parts)
    return None


def _module_name_of(path: Path) -> str:
    """``.../utils/nn/gpt.py`` -> ``utils.nn.gpt`` (``__init__.py`` -> the package)."""
    parts = _pack_path(path)
    if parts is None:
        return Path(path).stem
    parts = (*parts[:-1], parts[-1].removesuffix(".py"))
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_from_target(node: ast.ImportFrom, package: str) -> str:
    """The absolute module an ``from ... import`` names, from inside ``package`` (relative
    imports resolved: one dot is ``package`` itself, each further dot one level up)."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def _static_imports(tree: ast.AST, module: str) -> set[str]:
    is_pkg = False
    path = _module_file(module)
    if path is not None and path.name == "__init__.py":
        is_pkg = True
    package = module if is_pkg else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if _pack_of(a.name))
        elif isinstance(node, ast.ImportFrom):
            target = import_from_target(node, package)
            if not _pack_of(target):
                continue
            subs = [f"{target}.{a.name}" for a in node.names]
            sub_mods = [s for s in subs if _module_file(s) is not None]
            found.update(sub_mods)
            if len(sub_mods) < len(subs):           # some names are defined in `target` itself
                found.add(target)
    return found


def _file_entry(name: str) -> tuple[str, str, tuple[str, ...]] | None:
    path = _module_file(name)
    if path is None or not path.exists():
        return None
    st = path.stat()
    digest, imports = _file_info(str(path), st.st_mtime_ns, st.st_size)
    return _rel(path), digest, imports


def _rel(path: Path) -> str:
    parts = _pack_path(path)
    return "/".join(parts) if parts is not None else str(path)


# ------------------------------------------------------------------------------ functions
@functools.lru_cache(maxsize=4096)
def _code_digest(code: types.CodeType) -> str:
    """Digest of a function's source (its code object when the source is unavailable)."""
    try:
        lines, _ = inspect.findsource(code)
        source = "".join(inspect.getblock(lines[code.co_firstlineno - 1:]))
        return normalised_digest(source)
    except Exception:  # noqa: BLE001 - no source (exec'd, built at run time): the code object
        h = hashlib.sha256(code.co_code)
        h.update(repr([c for c in code.co_consts if not isinstance(c, types.CodeType)]).encode())
        h.update(repr(code.co_names).encode())
        for c in code.co_consts:
            if isinstance(c, types.CodeType):
                h.update(_code_digest(c).encode())
        return h.hexdigest()[:16]


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _unwrap(obj: Any) -> Any:
    for _ in range(20):
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, (types.MethodType, staticmethod, classmethod)):
            obj = obj.__func__
        elif isinstance(obj, property):
            obj = obj.fget
        else:
            try:
                wrapped = None if isinstance(obj, type) else getattr(obj, "__wrapped__", None)
            except Exception:  # noqa: BLE001 - an object whose attribute lookup fails
                wrapped = None
            if wrapped is None:
                return obj
            obj = wrapped
    return obj


class _Walker:
    def __init__(self, home: set[str]):
        self.home = home                    # modules whose functions count as "beside" the root
        self.sources: dict[str, str] = {}
        self.modules: set[str] = set()
        self.seen: set[int] = set()

    def add(self, obj: Any, root: bool = False) -> None:
        try:
            self._add(obj, root)
        except Exception:  # noqa: BLE001 - an object that resists inspection adds nothing
            if root:
                raise

    def _add(self, obj: Any, root: bool = False) -> None:
        obj = _unwrap(obj)
        if id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            if _pack_of(obj.__name__):
                self.modules.add(obj.__name__)
            return
        module = getattr(obj, "__module__", None) if isinstance(obj, (type, types.FunctionType)) \
            else type(obj).__module__
        if _pack_of(module):
            self.modules.add(module)
            return
        if isinstance(obj, types.FunctionType) and (root or module in self.home):
            self.sources[f"{module}.{obj.__qualname__}"] = _code_digest(obj.__code__)
            self._follow(obj)
        elif isinstance(obj, type) and module in self.home:
            for base in obj.__mro__[1:]:
                self.add(base)
            for name, attr in sorted(vars(obj).items()):
                attr = _unwrap(attr)
                if isinstance(attr, types.FunctionType):
                    self.sources[f"{module}.{obj.__qualname__}.{name}"] = \
                        _code_digest(attr.__code__)
                    self._follow(attr)
        elif not isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) \
                and callable(obj) and type(obj).__module__ in self.home:
            self.add(type(obj))                                # a callable object of a local class

    def _follow(self, fn: types.FunctionType) -> None:
        names = _names(fn.__code__)
        g = fn.__globals__
        found = [g[n] for n in sorted(names) if n in g]
        for cell in fn.__closure__ or ():
            try:
                found.append(cell.cell_contents)
            except ValueError:                                 # an empty cell
                pass
        for obj in found:
            self.add(obj)
        # attribute chains through pack modules: `utils.nn.gpt.GPT`, `A.time_call`
        mods = [o for o in found if isinstance(o, types.ModuleType) and _pack_of(o.__name__)]
        while mods:
            mod = mods.pop()
            for n in names:
                sub = getattr(mod, n, None)
                if isinstance(sub, types.ModuleType) and _pack_of(sub.__name__) \
                        and sub.__name__ not in self.modules:
                    self.modules.add(sub.__name__)
                    mods.append(sub)
                elif sub is not None and not isinstance(sub, types.ModuleType):
                    self.add(sub)


def code_fingerprint(*fns: Callable) -> Fingerprint:
    """The :class:`Fingerprint` of the code behind ``fns`` (run functions; a
    ``functools.partial``, bound method or decorated function is unwrapped). See the module
    docstring for what is included."""
    if not fns:
        raise TypeError("code_fingerprint needs at least one function")
    roots = [_unwrap(f) for f in fns]
    for f in roots:
        if not callable(f):
            raise TypeError(f"code_fingerprint expects functions, got {type(f).__name__}")
    home = {getattr(f, "__module__", None) or type(f).__module__ for f in roots}
    walker = _Walker({m for m in home if not _pack_of(m)})
    for f in roots:
        walker.add(f, root=True)
    parts = dict(walker.sources)
    todo = sorted(m for m in walker.modules if m not in INFRASTRUCTURE)
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done or name in INFRASTRUCTURE:
            continue
        done.add(name)
        entry = _file_entry(name)
        if entry is None:
            continue
        rel, digest, imports = entry
        parts[rel] = digest
        todo += [m for m in imports if m not in done]
    digest = _h("\n".join(f"{k}={v}" for k, v in sorted(parts.items())).encode())
    return Fingerprint(digest, dict(sorted(parts.items())))


def changed_parts(old: dict | None, new: dict) -> list[str]:
    """Names of the parts that differ between two ``Fingerprint.parts`` (added, removed or
    edited), sorted; all of ``new`` when ``old`` is missing."""
    old = old or {}
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
