"""``make run``: execute notebooks headless with papermill, injecting ``profile`` and ``seeds``.

    python -m utils.runner --profile laptop --seeds "0 1 2" [--notebooks 00 01] [--keep-going]
                           [--force]

* Executed copies go to ``build/notebooks/<name>.ipynb``; the source notebooks are never written.
* Before any kernel starts, the parameters are checked against each notebook's ``parameters``
  cell (unknown names, unknown profile): a typo fails in a second, not after a long run.
* A notebook whose source, parameters, ``utils`` code and pinned requirements are unchanged since
  its last successful execution is **reused** (its fingerprint is stored in the executed copy);
  ``--force`` re-executes. Experiments inside notebooks are reused separately by the run store.
* A failing notebook stops the run with a non-zero exit naming the notebook, the cell and the
  error; the partly executed copy is kept. ``--keep-going`` runs the remaining notebooks first.
* A notebook's line also counts what its run store announced (:func:`store_notices`): runs
  recomputed because their code changed, kept although it changed, or resumed.
* Progress: one line per notebook with its elapsed time, plus papermill's per-cell bar.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from . import params as P
from .paths import NOTEBOOKS, ROOT, build_dir


def _rel(path: Path) -> str:
    path = Path(path)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def list_notebooks(selection: list[str] | None = None) -> list[Path]:
    """Notebooks in ``notebooks/`` in numeric order, optionally filtered by number or name."""
    every = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return every
    chosen = []
    for sel in selection:
        sel = Path(sel).name.removesuffix(".ipynb")
        hits = [nb for nb in every if nb.stem == sel or nb.stem.split("_")[0] == sel]
        if not hits:
            names = ", ".join(nb.stem for nb in every)
            raise SystemExit(f"error: no notebook matches {sel!r}. Available: {names}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def declared_parameters(nb_path: Path) -> list[str]:
    import papermill

    return list(papermill.inspect_notebook(str(nb_path)).keys())


def fingerprint(nb_path: Path, parameters: dict) -> str:
    """Hash of everything an executed notebook depends on inside this repository."""
    h = hashlib.sha256()
    h.update(nb_path.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    for path in sorted((ROOT / "utils").rglob("*.py")) + [ROOT / "requirements.txt"]:
        if path.exists():
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def stored_meta(out_path: Path) -> dict:
    if not out_path.exists():
        return {}
    try:
        return json.loads(out_path.read_text()).get("metadata", {}).get("coursepack", {})
    except (json.JSONDecodeError, OSError):
        return {}


NOTICES = {"recomputing run": "recomputed because their code changed",
           "keeping run": "kept although their code changed",
           "was interrupted": "resumed or restarted after an interruption"}


def store_notices(out_path: Path) -> str:
    """What the run store said inside an executed notebook (its one-line notices go to the
    notebook's stderr, which the report drops), counted, e.g. "; run store: 3 runs recomputed
    because their code changed"; empty when it said nothing."""
    import nbformat

    try:
        nb = nbformat.read(out_path, as_version=4)
    except Exception:  # noqa: BLE001 - a notebook we cannot read has nothing to report
        return ""
    counts = dict.fromkeys(NOTICES, 0)
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                for line in str(out.get("text", "")).splitlines():
                    if line.startswith("run store '"):
                        for key in NOTICES:
                            counts[key] += key in line
    said = [f"{n} run{'s' if n != 1 else ''} {NOTICES[k]}" for k, n in counts.items() if n]
    return f"; run store: {', '.join(said)}" if said else ""


def _set_meta(out_path: Path, meta: dict) -> None:
    import nbformat

    from .runs import atomic_write_text

    nb = nbformat.read(out_path, as_version=4)
    nb.metadata["coursepack"] = meta
    atomic_write_text(out_path, nbformat.writes(nb))


def run(notebooks: list[Path], profile: str, seeds: list[int], keep_going: bool = False,
        force: bool = False, out_dir: Path | None = None, extra: dict | None = None,
        log=print) -> int:
    """Execute ``notebooks``; returns the number of failures."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir = out_dir or build_dir() / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"profile": profile, "seeds": seeds, **(extra or {})}
    # Fail fast: check names and values before any kernel starts.
    P.COMMON["profile"].check("profile", profile)
    P.COMMON["seeds"].check("seeds", seeds)
    for nb in notebooks:
        declared = declared_parameters(nb)
        if "profile" not in declared or "seeds" not in declared:
            raise SystemExit(f"error: {_rel(nb)} has no parameters cell declaring "
                             "'profile' and 'seeds'")
        unknown = [k for k in parameters if k not in declared]
        if unknown:
            raise SystemExit(f"error: parameter(s) {unknown} are not declared by "
                             f"{_rel(nb)}; it declares {declared}")
    os.environ["COURSEPACK_HEADLESS"] = "1"
    failures = []
    t_all = time.perf_counter()
    for i, nb in enumerate(notebooks, 1):
        out = out_dir / nb.name
        fp = fingerprint(nb, parameters)
        old = stored_meta(out)
        tag = f"[{i}/{len(notebooks)}] {nb.stem}"
        if not force and old.get("status") == "ok" and old.get("fingerprint") == fp:
            log(f"{tag}: up to date (executed {old.get('finished')}, took {old.get('wall_s')} s); "
                "reused (make ... FORCE=1, or --force, re-executes).")
            continue
        log(f"{tag}: executing with profile={profile} seeds={seeds} ...", )
        t0 = time.perf_counter()
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        meta = {"profile": profile, "seeds": seeds, "parameters": parameters, "fingerprint": fp,
                "started": started}
        try:
            papermill.execute_notebook(
                str(nb), str(out), parameters=parameters, kernel_name="python3",
                cwd=str(ROOT), progress_bar=sys.stderr.isatty(), log_output=False,
                request_save_on_cell_execute=True)
        except PapermillExecutionError as exc:
            wall = time.perf_counter() - t0
            meta.update(status="failed", wall_s=round(wall, 1),
                        finished=time.strftime("%Y-%m-%d %H:%M:%S"),
                        error=f"{exc.ename}: {exc.evalue}", cell=exc.cell_index)
            if out.exists():
                _set_meta(out, meta)
            log(f"{tag}: FAILED after {wall:.1f} s in cell {exc.cell_index} "
                f"(execution count {exc.exec_count}): {exc.ename}: {exc.evalue}\n"
                f"    partly executed copy kept at {_rel(out)}")
            failures.append(nb.stem)
            if not keep_going:
                break
            continue
        wall = time.perf_counter() - t0
        meta.update(status="ok", wall_s=round(wall, 1), finished=time.strftime("%Y-%m-%d %H:%M:%S"))
        _set_meta(out, meta)
        log(f"{tag}: done in {wall:.1f} s{store_notices(out)}")
    total = time.perf_counter() - t_all
    if failures:
        log(f"{len(failures)} notebook(s) failed: {', '.join(failures)} ({total:.1f} s in all)")
    else:
        log(f"all {len(notebooks)} notebook(s) ok ({total:.1f} s in all)")
    return len(failures)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m utils.runner", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="laptop",
                    help=f"one of {', '.join(P.PROFILES)} (default laptop)")
    ap.add_argument("--seeds", default="0 1 2", help='e.g. "0 1 2" (default)')
    ap.add_argument("--notebooks", nargs="*", default=None,
                    help="numbers or names, e.g. 00 01_attention (default: all)")
    ap.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    ap.add_argument("--force", action="store_true", help="re-execute up-to-date notebooks")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="an extra notebook parameter (value parsed as JSON, else kept as text)")
    args = ap.parse_args(argv)
    try:
        profile = P.COMMON["profile"].check("profile", args.profile)
        seeds = P.COMMON["seeds"].check("seeds", args.seeds)
    except P.ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    extra = {}
    for name, value in args.param:
        try:
            extra[name] = json.loads(value)
        except json.JSONDecodeError:
            extra[name] = value
    selection = args.notebooks
    if selection and len(selection) == 1 and " " in selection[0]:
        selection = selection[0].split()
    notebooks = list_notebooks(selection)
    if not notebooks:
        print("error: no notebooks found in notebooks/", file=sys.stderr)
        return 2
    return 1 if run(notebooks, profile, seeds, args.keep_going, args.force, extra=extra) else 0


if __name__ == "__main__":
    sys.exit(main())
