"""The unit of work of a scan: a chunk of files of one root, or one snap.

These functions run wherever the scan sends them: in this process (``--jobs 1``), in a
local process pool, or on a Dask worker. Everything they need travels in a
:class:`ScanSpec` (a picklable value); everything they return is a list of
:class:`~ldsim.analysis.scan.FileResult`. Each process keeps the target of the run it last
worked for (``ScanSpec.run``), so the loader configuration is read and each library parsed
once per process and run, and never reused from an earlier run (files may have changed).

A file is resolved exactly as ``ldsim explain`` resolves it (the same API call), so a
scan's document of a file and ``ldsim explain --json`` of it are the same document. One
file that cannot be read, or that trips a bug in ldsim, is a result, not the end of the
chunk.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Callable
from typing import Any

from ldsim.analysis.explain import explain
from ldsim.analysis.scan import FileResult
from ldsim.config.env import LoaderEnv
from ldsim.elf.flavour import Libc
from ldsim.errors import AccessError, LdsimError, RootError, SnapError
from ldsim.fs.view import FileStat, HostDirView, View, dirname, join
from ldsim.loader.musl import path_file_for
from ldsim.records import field, record
from ldsim.result import LookupKind, Resolution, Severity
from ldsim.scanner.discover import RACY_NS, Identity, identity_of
from ldsim.target import RootTarget, SnapTarget, Target, open_root


@record(frozen=True, slots=True)
class ScanSpec:
    """What every unit of one scan shares: where, which process, what to keep.

    ``root``: the host directory of a root scan; ``host`` and ``base_dir``: for snaps, the
    host root and where bases are found by name (None: ``HOST/snap/BASE/current``);
    ``docs``: keep each document; ``deps``: record what each result depends on (for a
    result store); ``run``: a token naming the run (a worker never reuses the files it read
    for another run)."""

    root: str = "/"  # absolute
    env: LoaderEnv = field(default_factory=LoaderEnv)
    loader: Libc | None = None
    symbols: bool = False
    docs: bool = False
    deps: bool = False
    host: str = "/"
    base_dir: str | None = None
    run: str = ""
    root_name: str | None = None  # the root as the user gave it (documents name it so)
    dlopen: bool = False  # also the dlopen calls the loaded objects declare or hint at


_CURRENT: dict[str, Target] = {}


def _root_target(spec: ScanSpec) -> RootTarget:
    key = f"{spec.run}\0{spec.root}"
    target = _CURRENT.get(key)
    if not isinstance(target, RootTarget):
        _CURRENT.clear()  # one run's files at a time: a later run may see changed files
        view = HostDirView(spec.root)
        view.name = spec.root_name or spec.root
        target = _CURRENT[key] = open_root(view)
    return target


def scan_files(spec: ScanSpec, paths: list[str],
               idents: list[Identity | None] | None = None) -> list[FileResult]:
    """Explain each of ``paths`` (in the root of ``spec``) as ``ldsim explain`` would;
    ``idents``: each file's identity as the walk saw it, for its result."""
    try:
        target = _root_target(spec)
    except LdsimError as exc:  # on a Dask worker that does not see the root: the scan stops
        import socket

        raise RootError(spec.root, f"cannot be opened on {socket.gethostname()}, where a "
                        f"worker runs: {exc.reason} (workers must see the same files at the "
                        "same paths)") from None
    if idents is None:
        return [scan_file(target, spec, path) for path in paths]
    return [scan_file(target, spec, path, ident) for path, ident in zip(paths, idents,
                                                                         strict=True)]


def scan_file(target: RootTarget, spec: ScanSpec, path: str,
              ident: Identity | None = None) -> FileResult:
    start = time.perf_counter()
    try:
        expl = explain(target, path, spec.env, loader=spec.loader, symbols=spec.symbols,
                       dlopen=spec.dlopen)
    except LdsimError as exc:
        looked_at = [path] + ([exc.path] if exc.path.startswith("/") else [])
        # an error of this process (out of memory, of descriptors), not of the files, is
        # never reused: no dependencies recorded
        lasting = getattr(exc, "errno_name", "") not in PROCESS_ERRNOS \
            and not isinstance(exc, AccessError)  # ldsim's own user's, not the files'
        return FileResult(path, "file", "unreadable", (_reason(exc, path),),
                          seconds=time.perf_counter() - start, ident=ident,
                          deps=_deps(target.view(), looked_at, spec.env.cwd)
                          if spec.deps and lasting else None)
    except Exception as exc:  # a bug on one file must not end the batch
        return FileResult(path, "file", "error", (_bug(exc),),
                          seconds=time.perf_counter() - start, ident=ident)
    res = expl.resolution
    doc = None
    if spec.docs:
        from ldsim.renderers.json import explanation_line

        doc = explanation_line(expl)
    seconds = time.perf_counter() - start
    return FileResult(
        path, "file", expl.verdict.status.value, expl.verdict.reasons, len(res.objects),
        tuple((u.name, u.needed_by.path if u.needed_by is not None else None)
              for u in res.unresolved),
        tuple((f.id, f.severity.value, f.object) for f in expl.findings),
        seconds=seconds, doc=doc, ident=ident,
        deps=_deps(target.view(), _read_paths(res), spec.env.cwd) if spec.deps else None)


_OWN_IDENTITY: list[str] = []  # this process's code_identity(), once computed


def code_identity() -> str:
    """Which ldsim this process runs: its version and a digest of its Python sources (a
    Dask worker running another ldsim would give other results, which a store would keep).
    Computed once per process, at its first call: on a Dask worker, the scan's check when
    it connects, as the worker imports ldsim; sources edited on disk after that are not
    what the worker runs, and do not change its answer."""
    if not _OWN_IDENTITY:
        _OWN_IDENTITY.append(_sources_digest())
    return _OWN_IDENTITY[0]


def _sources_digest() -> str:
    import hashlib
    from pathlib import Path

    from ldsim._version import __version__

    top = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for source in sorted(top.rglob("*.py")):
        digest.update(str(source.relative_to(top)).encode() + b"\0" + source.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"




def same_ldsim(expected: str, fn: Callable[..., Any], *args: Any) -> Any:
    """On a Dask worker: ``fn(*args)``, once this process is known to run the ldsim whose
    :func:`code_identity` is ``expected`` (the scan's). The scan checks the workers it
    finds when it starts; one that joins the cluster later is checked here, before its
    first task: another ldsim stops the scan rather than give results that are not this
    ldsim's."""
    mine = code_identity()
    if mine != expected:
        import socket

        raise LdsimError("--scheduler", f"a worker of the Dask cluster, on "
                         f"{socket.gethostname()}, runs another ldsim ({mine}; "
                         f"this one: {expected}): its results would not be this ldsim's; "
                         "give every worker the same ldsim")
    return fn(*args)


PROCESS_ERRNOS = frozenset({"ENOMEM", "EMFILE", "ENFILE", "EAGAIN", "EINTR", "ENOBUFS", "EIO"})
"""Errors that say more about the process or the machine than about the files."""


def _reason(exc: LdsimError, path: str) -> str:
    """What is wrong, without the path when it is the file's own (the summary names it)."""
    return exc.reason if exc.path == path else str(exc)


def _bug(exc: BaseException) -> str:
    import traceback  # (only for a bug: 2 ms of start-up otherwise)

    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    return f"internal error{at}: {type(exc).__name__}: {exc}"


def _read_paths(res: Resolution) -> list[str]:
    """Every path the resolution looked at: the program, its interpreter, the loader's
    configuration files, every candidate the loader tried (found or not)."""
    paths = [res.executable]
    if res.interpreter:
        paths.append(res.interpreter)
        if res.loader is Libc.MUSL:
            paths.append(path_file_for(res.interpreter))
    if res.loader is Libc.GLIBC:
        paths += ["/etc/ld.so.cache", LookupKind.PRELOAD_FILE.value]  # what ld.so reads
    for lk in res.lookups:
        paths += [a.path for a in lk.attempts]
    for obj in res.objects:
        if obj.path:
            paths.append(obj.path)
    return paths


def _deps(view: View, paths: list[str], cwd: str) -> tuple[tuple[str, str], ...]:
    """(path, state) of each path the result looked at, and whether its directory exists.

    A file's state is its identity (device, inode, size, mtime), following symbolic links
    (a link pointed elsewhere changes it); a path where nothing was found is ``-`` until a
    file appears there. Directories count only by existence (``d`` + device and inode): a
    directory the loader found missing is not searched again in that process, so the names
    it would have been searched for are not all attempts; its appearance changes its state.
    A later scan whose states all match may reuse the result."""
    out: dict[str, str] = {}
    for path in paths:
        if not path.startswith("/"):
            out[CWD] = cwd  # a relative RPATH, RUNPATH or LD_LIBRARY_PATH entry: the
            path = join(cwd, path)  # result depends on where the process runs
        if path not in out:
            out[path] = state(view, path)
        parent = dirname(path)
        if parent not in out:
            out[parent] = state(view, parent)
    return settled(out)


CWD = "\0cwd"
"""The dependency that stands for the process's working directory (no path has a NUL):
its state is the directory's path. Only a result that looked at a relative path has it,
so a scan started elsewhere reuses every other result."""

RACY = ":racy"


def settled(states: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Dependencies as a result records them, sorted. A state whose ctime is within
    :data:`~ldsim.scanner.discover.RACY_NS` before now is marked ``:racy``, so that no later
    state matches it: a file changed again within the same timestamp tick (a coarse clock,
    a kernel before multigrain timestamps) would show no change in its times, so the next
    scan looks again. (A ctime ahead of this machine's clock, from another machine's, is
    not marked: it would be racy forever.)"""
    now = time.time_ns()
    out = []
    for path, text in sorted(states.items()):
        fields = text.split(":")
        # a file's DEV:INO:SIZE:MTIME:CTIME:..., a listing's d:DEV:INO:MTIME:CTIME
        if len(fields) >= 5 and fields[4].isdigit() and 0 <= now - int(fields[4]) < RACY_NS:
            text += RACY
        out.append((path, text))
    return tuple(out)


def state(view: View, path: str) -> str:
    """A path's state in ``view``, following symbolic links inside it: ``-`` when nothing
    is there, ``!ERRNO`` when it cannot be reached otherwise (a loop of links, a file where
    a directory is expected: the loader tells them apart), else as :func:`_stat_state`
    writes it, a file's followed by ``:@REAL`` when the links lead to another path (a
    result shows where an object really is: a directory moved and replaced by a link to it
    keeps every inode, not that path)."""
    try:
        parts = view.resolve_parts(path)
        st = view.lstat_parts(parts, path)
    except LdsimError as exc:
        name = getattr(exc, "errno_name", "ENOENT")
        return "-" if name == "ENOENT" else f"!{name}"
    text = _stat_state(st)
    real = "/" + "/".join(parts)
    return text if st.is_dir or real == path else f"{text}:@{real}"


def find_base(base_dir: str, name: str, looked: dict[str, str] | None = None) -> str:
    """A base snap by name in ``base_dir``: ``NAME/`` (a directory), ``NAME.snap``, or the
    highest revision of ``NAME_REV.snap``. ``looked``: where to record the state of every
    host path the choice depended on (see :func:`walked`), each taken before it is used."""
    if looked is not None:
        looked.update(walked(base_dir))
        real = os.path.realpath(base_dir).rstrip("/")
        looked[real + LISTING] = host_state(real + LISTING)  # the NAME_REV.snap there
    for candidate in (os.path.join(base_dir, name), os.path.join(base_dir, f"{name}.snap")):
        if looked is not None:
            looked.update(walked(candidate))
        if os.path.exists(candidate):
            return candidate
    revisions = sorted(glob.glob(os.path.join(glob.escape(base_dir), f"{name}_*.snap")),
                       key=_revision_key)
    if revisions:
        if looked is not None:
            looked.update(walked(revisions[-1]))
        return revisions[-1]
    raise SnapError(name, f"base snap '{name}' not found in {base_dir} (looked for {name}/, "
                    f"{name}.snap and {name}_REV.snap)")


def _revision_key(path: str) -> tuple[int, str]:
    rev = path.rsplit("_", 1)[-1].removesuffix(".snap").lstrip("x")
    return (int(rev) if rev.isdigit() and len(rev) < 12 else -1, path)


def open_scan_snap(spec: ScanSpec, snap: str,
                   looked: dict[str, str] | None = None) -> SnapTarget:
    """The snap ``snap`` with its base (by name in ``spec.base_dir``, or on the host).
    ``looked``: see :func:`find_base`."""
    from ldsim.snap.compose import load_snap, open_tree, read_meta

    if spec.base_dir is None:
        return SnapTarget.open(snap, None, spec.host)
    payload = open_tree(snap, "snap")
    meta = read_meta(payload, snap)
    base = None if meta.base == "bare" else find_base(spec.base_dir, meta.base, looked)
    return SnapTarget(load_snap(payload, base, spec.host))


LISTING = "/."
"""A snap dependency's path ending so is the listing of that directory, not just the
directory: its state has the directory's mtime and ctime too (an entry added or removed
changes them). No path a view looked at ends so (its components have no ``.``)."""


def host_state(path: str) -> str:
    """A host path's state as a snap result's dependency: what ``lstat`` says (a link is
    itself; what it points to is a dependency of its own), as :func:`state` writes it; a
    directory's listing (``DIR/.``) ``d:DEV:INO:MTIME_NS:CTIME_NS``."""
    listing = path.endswith(LISTING)
    try:
        st = FileStat.of(os.lstat(path[:-len(LISTING)] or "/" if listing else path))
    except OSError:
        return "-"
    return _stat_state(st, listing)


def _stat_state(st: FileStat | None, listing: bool = False) -> str:
    """``d:DEV:INO`` for a directory (``:MTIME_NS:CTIME_NS`` more for its ``listing``),
    ``DEV:INO:SIZE:MTIME:CTIME:MODE:UID:GID`` for anything else (the ctime: an old mtime
    put back; mode and owners: what ``--user`` may read), ``-`` for nothing."""
    if st is None:
        return "-"
    if st.is_dir:
        return f"d:{st.dev}:{st.ino}:{st.mtime_ns}:{st.ctime_ns}" if listing \
            else f"d:{st.dev}:{st.ino}"
    return f"{st.dev}:{st.ino}:{st.size}:{st.mtime_ns}:{st.ctime_ns}:{st.mode}:{st.uid}:{st.gid}"


def snap_identity(snap: str) -> Identity | None:
    """What a snap result is stored under: the identity of the snap as given (a ``.snap``
    file or a directory, links followed); None when it cannot be looked at."""
    try:
        return identity_of(os.stat(snap))
    except OSError:
        return None


def walked(path: str) -> dict[str, str]:
    """The state of every host path the kernel goes through to reach ``path`` (a path the
    user gave: a snap, a base, ``--host``, ``--base-dir``): each component in turn, each
    symbolic link met and the components of what it names, as they are now (the view's own
    walk, :meth:`~ldsim.fs.view.View.resolve_parts`, on the host's ``/``). A link pointed
    elsewhere, anywhere along the way, or a missing component appearing, changes one."""
    host = HostDirView("/")
    with contextlib.suppress(LdsimError):  # what was looked at until it failed counts
        host.resolve_parts(path, cwd=os.getcwd())
    return {where: _stat_state(st) for where, st, _listed in host.looked_at()}


def _snap_deps(target: SnapTarget, given: dict[str, str]
               ) -> tuple[tuple[str, str], ...] | None:
    """What a snap's result depends on: ``given`` (states taken before the snap was
    opened), every host path its directory trees (payload, base, host) looked at, with what
    was seen then, and each SquashFS image it read; None when one of its trees is of a kind
    whose reads cannot be listed (such a result is never reused)."""
    from ldsim.fs.overlay import OverlayView
    from ldsim.fs.squashfs import SquashFsView

    out: dict[str, str] = dict(given)
    todo: list[View | None] = [target.snap.payload, target.snap.base, target.snap.host]
    seen: set[int] = set()
    while todo:
        view = todo.pop()
        if view is None or id(view) in seen:
            continue
        seen.add(id(view))
        if isinstance(view, HostDirView):
            for path, st, listed in view.looked_at():
                out.setdefault(path, _stat_state(st))
                if listed:
                    out.setdefault(path.rstrip("/") + LISTING, _stat_state(st, True))
        elif isinstance(view, OverlayView):
            todo += [view.lower, *(m.view for m in view.mounts)]
        elif isinstance(view, SquashFsView):
            for path, state_now in walked(view.image_path).items():
                out.setdefault(path, state_now)
        else:
            return None
    return settled(out)


def scan_snap(spec: ScanSpec, snap: str) -> FileResult:
    """One snap, every ELF file of its payload, both views: ``ldsim compare --all``. With
    ``spec.deps``, the result records what it depends on (see :func:`_snap_deps`)."""
    from ldsim.analysis.compare import compare_snap
    from ldsim.analysis.dlopen import SEVERITY_OF_PRIORITY
    from ldsim.fs.view import Realm

    start = time.perf_counter()
    ident = snap_identity(snap) if spec.deps else None
    # taken before anything is read: a change after them is a change the next scan sees
    given: dict[str, str] | None = None
    if spec.deps:
        given = walked(snap)
        given.update(walked(spec.host))
    try:
        target = open_scan_snap(spec, snap, given)
        programs = target.elf_programs()
        comparison = compare_snap(target, programs, spec.env, loader=spec.loader,
                                  in_context=True, dlopen=spec.dlopen)
    except LdsimError as exc:
        return FileResult(snap, "snap", "unreadable", (_reason(exc, snap),),
                          seconds=time.perf_counter() - start)
    except Exception as exc:  # one snap's bug must not end the batch
        return FileResult(snap, "snap", "error", (_bug(exc),),
                          seconds=time.perf_counter() - start)
    rows = comparison.deciding_rows
    judged = [(b, r) for b in comparison.binaries if b.decides for r in b.rows]
    missing = tuple((r.name, b.path) for b, r in judged
                    if r.decides and r.classic.realm is Realm.MISSING)
    aborted = [f"{b.path}: {b.classic_error}" for b in comparison.binaries
               if b.decides and b.classic_error]
    # as compare --dlopen: a required dlopen's leak or miss decides, like the initial
    # load's; another dlopen's is a finding of its priority's severity
    findings = tuple(
        ("leak" if r.dlopen is None else "dlopen-leak", "error", f"{b.path}: {r.name}")
        for b, r in judged if r.decides and r.leak) + tuple(
        (f"dlopen-{'leak' if r.leak else 'missing'}",
         SEVERITY_OF_PRIORITY.get(r.dlopen or "", Severity.INFO).value,
         f"{b.path}: {r.name} (dlopen, {r.dlopen})")
        for b, r in judged
        if not r.decides and (r.leak or r.classic.realm is Realm.MISSING))
    failures = [f"{f.path} ({f.view}): {f.error.reason}" for f in comparison.failures]
    skipped = [str(err) for err in target.snap.payload.skipped]  # what the walk could not use
    # the worst, as compare's exit status: a bug in ldsim, a program or a part of the
    # payload that could not be read, a program that does not start
    if comparison.internal_errors:
        status = "error"
    elif failures or skipped:
        status = "unreadable"
    else:
        status = "does_not_start" if missing or aborted else "starts"
    doc = None
    if spec.docs:
        from ldsim.renderers.compare import comparison_line

        doc = comparison_line(comparison)
    # a failure may be this process's (out of memory, of descriptors): never reused
    deps = _snap_deps(target, given) if ident is not None and given is not None \
        and status in ("starts", "does_not_start") else None
    found = tuple(f"{n}: not found (needed by {by})" for n, by in missing) + tuple(aborted)
    unread = tuple(failures) + tuple(skipped)
    return FileResult(
        snap, "snap", status,
        # what decides the status first: a summary names a snap by its first reason
        unread + found if status in ("unreadable", "error") else found + unread,
        len(programs), missing, findings, sum(r.leak for r in rows),
        time.perf_counter() - start, doc, ident if deps is not None else None, deps)


__all__ = ["CWD", "ScanSpec", "code_identity", "find_base", "host_state", "open_scan_snap",
           "scan_file", "scan_files", "scan_snap", "snap_identity", "state"]
