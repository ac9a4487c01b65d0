"""The lint rules: one small function each, with a stable id, a severity, a message, a fix.

Snapcraft's rules reproduce ``snapcraft/linters/classic_linter.py`` and
``linters/library_linter.py`` (the same messages); ldsim's own are decided by the simulated
classic view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath

from ldsim.analysis.abi import analyse
from ldsim.analysis.dlopen import dlopen_severity
from ldsim.errors import LdsimError
from ldsim.fs.overlay import OverlayView
from ldsim.fs.view import Realm
from ldsim.linter.context import Context, Ignores
from ldsim.linter.model import CLASSIC_URL, LIBRARY_URL, FileLint, Fix, LintFinding
from ldsim.linter.rpath import covered
from ldsim.records import record
from ldsim.result import DlopenStatus, LoadedObject, Resolution, Severity, Via

W, E, INFO = Severity.WARNING, Severity.ERROR, Severity.INFO

def _lib_path_patterns(ctx: Context) -> tuple[str, ...]:
    """``_is_library_path``: pathlib's right-anchored ``PurePath.match`` on these patterns."""
    return ("lib/*", "lib32/*", "lib64/*", f"lib/{ctx.arch.triplet}/*")


def _rel(ctx: Context, path: str) -> str:
    return path[len(ctx.snap_dir) + 1:] if path.startswith(ctx.snap_dir + "/") else path


def _chain(obj: LoadedObject, ctx: Context) -> str:
    names: list[str] = []
    cur: LoadedObject | None = obj
    while cur is not None:
        names.append(_rel(ctx, cur.path) if cur.index == 0 else cur.name)
        cur = cur.needed_by
    return " -> ".join(reversed(names))


def _rpath_fix(f: FileLint) -> Fix | None:
    if f.proposed_rpath and not covered(f.proposed_rpath, f.current_rpath):
        return Fix(rpath=":".join(f.proposed_rpath))
    return None


# -- Snapcraft's classic linter ------------------------------------------------------------
def rule_interpreter(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    if f.expected_interpreter and f.facts.interp and f.facts.interp != f.expected_interpreter:
        yield LintFinding("interpreter", W, f.path,
                          f"ELF interpreter should be set to '{f.expected_interpreter}'. "
                          f"({CLASSIC_URL})", Fix(interpreter=f.expected_interpreter))


def rule_rpath(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    fix = _rpath_fix(f) if f.expected_interpreter else None
    if fix is not None:
        yield LintFinding("rpath", W, f.path,
                          f"ELF rpath should be set to '{fix.rpath}'. ({CLASSIC_URL})", fix)


# -- Snapcraft's library linter ------------------------------------------------------------
def rule_missing_library(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    if ctx.snap.meta.type not in ("app", ""):
        return
    missing = sorted((p, n) for n, p, _realm in f.dependencies
                     if not (ctx.base_dir and p.startswith(ctx.base_dir + "/"))
                     and not p.startswith(ctx.snap_dir + "/"))
    for path, name in missing:
        base = path.rsplit("/", 1)[-1]
        if base == ctx.arch.ldd_loader.rsplit("/", 1)[-1]:  # the host linker's basename
            continue
        where = f" (the host has it at {path})" if path.startswith("/") else ""
        yield LintFinding("missing-library", W, f.path,
                          f"missing dependency '{base if path.startswith('/') else name}'."
                          f"{where} ({LIBRARY_URL})")


def unused_libraries(ctx: Context, files: Sequence[FileLint],
                     ignores: Ignores) -> list[LintFinding]:
    if ctx.snap.meta.type not in ("app", ""):
        return []
    payload = ctx.snap.payload
    libraries: dict[str, str] = {}
    for f in files:
        if f.facts.soname and any(PurePosixPath(f.path).match(p) for p in _lib_path_patterns(ctx)):
            libraries[payload.resolve("/" + f.path)] = f.facts.soname
    used: set[str] = set()
    for f in files:
        for _n, p, _realm in f.dependencies:
            if p.startswith(ctx.snap_dir + "/"):
                try:
                    used.add(payload.resolve("/" + _rel(ctx, p)))
                except LdsimError:  # a dangling dependency path is not "used"
                    continue
    out = []
    for real in sorted(set(libraries) - used):
        rel = real.lstrip("/")
        if ignores.ignored("unused-library", rel, "library"):
            continue
        out.append(LintFinding("unused-library", W, libraries[real],
                               f"unused library '{rel}'. ({LIBRARY_URL})"))
    return out


# -- ldsim's own, from the simulated classic view -------------------------------------------
# Each is judged where the loader judges it: a library some program of the payload loads, in
# the classic-view load of that program (the RPATH chain inherited as the loader inherits it);
# a library no program loads, on its own (as `ldd LIB` would), at a lower severity since its
# real context is unknown. A finding is about the payload file whose change resolves it.

@record(frozen=True, slots=True)
class Judgement:
    subject: FileLint  # the program, or a library no program loads
    res: Resolution  # its classic-view load
    alone: bool  # a library judged on its own


@record(frozen=True, slots=True)
class Hit:
    """One rule's finding in one judgement, before the judgements are merged."""

    id: str
    severity: Severity
    file: FileLint
    key: str  # what it is about (an object, a name): one finding per (id, file, key)
    message: str
    fix: Fix | None = None


def judgements(ctx: Context, files: Sequence[FileLint]) -> list[Judgement]:
    """Every program's load, then every library that none of them loads."""
    programs = [f for f in files if f.program and f.classic is not None]
    loaded = {rel for p in programs for o in (p.classic.objects if p.classic else ())
              if (rel := _payload_rel(ctx, o)) is not None}
    out = [Judgement(p, p.classic, False) for p in programs if p.classic is not None]
    out += [Judgement(f, f.classic, True) for f in files
            if not f.program and f.classic is not None and f.path not in loaded]
    return out


def _payload_rel(ctx: Context, obj: LoadedObject) -> str | None:
    """The object's path inside the payload, when it comes from the payload."""
    if not isinstance(ctx.view, OverlayView):
        return None
    realm, inner = ctx.view.locate(obj.real_path)
    return inner.lstrip("/") or None if realm is Realm.PAYLOAD else None


def _owner(ctx: Context, obj: LoadedObject | None, j: Judgement) -> FileLint:
    """The nearest payload file on the way from ``obj`` up to the program (``obj``
    included), else the subject."""
    by_rel = ctx.files
    cur = obj
    while cur is not None:
        rel = _payload_rel(ctx, cur)
        if rel is not None and rel in by_rel:
            return by_rel[rel]
        cur = cur.needed_by
    return j.subject


def _fix_for(f: FileLint) -> Fix | None:
    fix = None
    if f.expected_interpreter and f.facts.interp and f.facts.interp != f.expected_interpreter:
        fix = Fix(interpreter=f.expected_interpreter)
    rfix = _rpath_fix(f)
    if rfix is not None:
        fix = Fix(interpreter=fix.interpreter if fix else None, rpath=rfix.rpath)
    return fix


def rule_host_leak(ctx: Context, j: Judgement) -> Iterable[Hit]:
    for obj in j.res.objects[1:]:
        if obj.realm is not Realm.HOST or obj.dlopened:  # dlopen's: rule_dlopen
            continue
        if obj.via is Via.INTERPRETER and j.subject.facts.interp is None:
            continue  # a library runs under its program's loader, not the one ldd picks
        owner = _owner(ctx, obj.needed_by, j)
        what = "the interpreter" if obj.via is Via.INTERPRETER else obj.name
        yield Hit("host-leak", E, owner, obj.path,
                  f"in the classic view, {what} is loaded from the host: {obj.path} "
                  f"(found via {obj.via}; {_chain(obj, ctx)}); it differs from machine to "
                  "machine", _fix_for(owner))


def rule_missing(ctx: Context, j: Judgement) -> Iterable[Hit]:
    """A name found nowhere in the classic view, or a load that aborts: it does not start."""
    for u in j.res.unresolved:
        owner = _owner(ctx, u.needed_by, j)
        who = u.needed_by.name if u.needed_by is not None and u.needed_by.index else \
            j.subject.path
        yield Hit("missing-library", E, owner, u.name,
                  f"{u.name}, needed by {who}, is found nowhere in the classic view (neither "
                  "in the snap, its base nor on the host): the program does not start")
    err = j.res.error
    if err is not None:
        yield Hit("load-abort", E, _owner(ctx, err.needed_by, j), err.name,
                  f"the classic-view load aborts: {err.loader_message} ({err.reason})")


def rule_runpath_not_inherited(ctx: Context, j: Judgement) -> Iterable[Hit]:
    """An object with DT_RUNPATH whose libraries' own DT_NEEDED leave the snap."""
    shipped = ctx.by_name
    for holder in j.res.objects:
        if holder.facts is None or holder.facts.runpath is None:
            continue
        f = _owner(ctx, holder, j)
        if _payload_rel(ctx, holder) != f.path:
            continue
        for entry in j.res.link_map[1:]:
            requester = entry.needed_by
            if requester is None or requester is holder or not _descends(requester, holder):
                continue
            if isinstance(entry, LoadedObject):
                if entry.realm is not Realm.HOST or entry.via is Via.INTERPRETER:
                    continue
                where = f"comes from the host ({entry.path})"
            else:
                where = "is not found"
            if entry.name in shipped:
                yield Hit(
                    "runpath-not-inherited", W, f, entry.name,
                    f"{f.path} has DT_RUNPATH, which the loader applies only to its own "
                    f"DT_NEEDED: {entry.name}, needed by {requester.name}, {where} although "
                    "the snap ships it; use DT_RPATH (patchelf --force-rpath --set-rpath), "
                    "which is inherited", _rpath_fix(f) or Fix(rpath=":".join(f.current_rpath)))


def _descends(obj: LoadedObject, ancestor: LoadedObject) -> bool:
    cur: LoadedObject | None = obj
    while cur is not None:
        if cur is ancestor:
            return True
        cur = cur.needed_by
    return False


def rule_cache_shadowing(ctx: Context, j: Judgement) -> Iterable[Hit]:
    for obj in j.res.objects[1:]:
        if obj.realm is Realm.HOST and obj.via is Via.CACHE and obj.name in ctx.by_name:
            owner = _owner(ctx, obj.needed_by, j)
            ships = ", ".join(sorted(ctx.by_name[obj.name])[:3])
            yield Hit("cache-shadowing", W, owner, obj.path,
                      f"the host's /etc/ld.so.cache sends {obj.name} to {obj.path} although "
                      f"the snap or its base ships it ({ships})", _rpath_fix(owner))


def rule_nodefaultlib(ctx: Context, j: Judgement) -> Iterable[Hit]:
    f = j.subject
    if f.facts.nodeflib or not ctx.classic_rules:
        return  # (with no base to point at, nothing else would find the C library)
    prefixes = ("/lib/", "/usr/lib/", "/lib64/", "/usr/lib64/")
    for obj in j.res.objects[1:]:
        if obj.realm is not Realm.HOST or obj.needed_by is not j.res.objects[0]:
            continue
        if obj.via is Via.DEFAULT or (obj.via is Via.CACHE and obj.path.startswith(prefixes)):
            yield Hit(
                "nodefaultlib", INFO, f, obj.name,
                f"{obj.name} reaches the host through the {obj.via} step; "
                "DF_1_NODEFLIB (patchelf --no-default-lib, as Snapcraft does for core24+ "
                "classic snaps) would stop that lookup on the host", Fix(no_default_lib=True))


def rule_abi(ctx: Context, j: Judgement) -> Iterable[Hit]:
    by_path = {o.path: o for o in j.res.objects}
    for a in analyse(j.res):
        if a.id not in ("libc-mix", "version-missing", "unversioned-provider"):
            continue
        owner = _owner(ctx, by_path.get(a.object), j)
        yield Hit(a.id, a.severity, owner, f"{a.object} {a.detail}", a.message)


def rule_dlopen(ctx: Context, j: Judgement) -> Iterable[Hit]:
    """The dlopen calls the payload's objects declare (ELF dlopen notes) or hint at, made in
    the classic view after the program's load: ``dlopen-missing`` when no alternative
    loads, ``dlopen-leak`` when the object comes from the host (or one of its own
    dependencies does); ``required`` is an error, ``recommended`` a warning, ``suggested``
    and hints are info."""
    by_path = {o.path: o for o in j.res.objects}
    targets: set[str] = set()
    for d in j.res.dlopens:
        caller = by_path.get(d.request.caller) if d.request.caller else j.res.objects[0]
        owner = _owner(ctx, caller, j)
        severity = dlopen_severity(d)
        what = (f"{d.request.feature} ({d.request.priority})" if d.request.feature
                else f"a {d.request.source.value} ({d.request.priority})")
        names = " or ".join(d.request.names)
        if d.status in (DlopenStatus.MISSING, DlopenStatus.FAILED):
            yield Hit("dlopen-missing", severity, owner, names,
                      f"the dlopen of {names} by {caller.path if caller else 'the program'} "
                      f"[{what}] fails in the classic view: {d.reason}")
        elif d.target is not None and d.target.realm is Realm.HOST:
            targets.add(d.target.path)
            yield Hit("dlopen-leak", severity, owner, d.target.path,
                      f"the dlopen of {d.name} by {caller.path if caller else 'the program'} "
                      f"[{what}] loads {d.target.path} from the host in the classic view; "
                      "it differs from machine to machine (ship it, and its RPATH entry)")
    for obj in j.res.objects:
        if obj.dlopened and obj.realm is Realm.HOST and obj.path not in targets:
            yield Hit("dlopen-leak", W, _owner(ctx, obj.needed_by, j), obj.path,
                      f"{obj.path}, a dependency of an object loaded by dlopen, comes from "
                      f"the host in the classic view ({_chain(obj, ctx)})")





CONTEXT_RULES: tuple[Callable[[Context, Judgement], Iterable[Hit]], ...] = (
    rule_host_leak, rule_missing, rule_runpath_not_inherited, rule_cache_shadowing,
    rule_nodefaultlib, rule_abi, rule_dlopen)
_LOWER = {E: W, W: INFO, INFO: INFO}


def context_findings(ctx: Context, files: Sequence[FileLint]) -> list[LintFinding]:
    """ldsim's rules over every judgement, one finding per (rule, file, subject of it),
    naming the programs in whose load it happens."""
    if not ctx.runs_classic:
        return []  # a strict snap runs in its base, not in the classic view they judge
    merged: dict[tuple[str, str, str], tuple[Hit, list[Judgement]]] = {}
    for j in judgements(ctx, files):
        for rule in CONTEXT_RULES:
            for hit in rule(ctx, j):
                slot = merged.setdefault((hit.id, hit.file.path, hit.key), (hit, []))
                slot[1].append(j)
    out: list[LintFinding] = []
    for hit, js in merged.values():
        # a fix is offered where `ldsim fix` plans one: where Snapcraft's classic rules
        # apply (not on base: bare, whose remedy is staging the C library)
        fix = hit.fix if ctx.classic_rules else None
        if js[0].alone:
            out.append(LintFinding(
                hit.id, _LOWER[hit.severity], hit.file.path,
                f"{hit.message} (no program of the snap loads {hit.file.path}: judged on its "
                f"own, as `ldd {hit.file.path}` would)", fix))
            continue
        progs = sorted({j.subject.path for j in js})
        out.append(LintFinding(hit.id, hit.severity, hit.file.path,
                               f"{hit.message} (when {', '.join(progs)} start"
                               f"{'s' if len(progs) == 1 else ''})", fix))
    return out


SNAPCRAFT_FILE_RULES: tuple[tuple[str, tuple[str, ...], Callable[[Context, FileLint],
                                                                 Iterable[LintFinding]]],
                            ...] = (
    ("interpreter", ("classic",), rule_interpreter),
    ("rpath", ("classic",), rule_rpath),
    ("missing-library", ("library",), rule_missing_library),
)


def run_rules(ctx: Context, files: Sequence[FileLint], ignores: Ignores) -> list[LintFinding]:
    out: list[LintFinding] = []
    if ctx.classic_rules and not ignores.all_ignored("classic"):
        text = "Snap contains staged libc." if ctx.staged_libc else \
            "Snap confinement is set to classic."
        out.append(LintFinding("classic", INFO, None, text, ok=True))
    for f in files:
        for rule_id, parents, fn in SNAPCRAFT_FILE_RULES:
            if rule_id in ("interpreter", "rpath") and (not ctx.classic_rules or
                                                        ignores.all_ignored("classic")):
                continue
            for finding in fn(ctx, f):
                if not ignores.ignored(finding.id, f.path, *parents):
                    out.append(finding)
    out += [x for x in context_findings(ctx, files) if not ignores.ignored(x.id, x.file)]
    out += unused_libraries(ctx, files, ignores)
    unique = {(x.id, x.file, x.message): x for x in out}
    return sorted(unique.values(), key=LintFinding.sort_key)
