"""The lint rules: one small function each, with a stable id, a severity, a message, a fix.

Snapcraft's rules reproduce ``snapcraft/linters/classic_linter.py`` and
``linters/library_linter.py`` (the same messages); ldsim's own are decided by the simulated
classic view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import PurePosixPath

from ldsim.analysis.abi import analyse
from ldsim.errors import LdsimError
from ldsim.fs.view import Realm
from ldsim.linter.context import TRIPLET, Context, Ignores
from ldsim.linter.model import CLASSIC_URL, LIBRARY_URL, FileLint, Fix, LintFinding
from ldsim.linter.rpath import covered
from ldsim.result import LoadedObject, Resolution, Severity, Via

W, E, INFO = Severity.WARNING, Severity.ERROR, Severity.INFO
HOST_LINKER_BASENAME = "ld-linux-x86-64.so.2"
# ``_is_library_path``: pathlib's right-anchored ``PurePath.match`` on these patterns.
LIB_PATH_PATTERNS = ("lib/*", "lib32/*", "lib64/*", f"lib/{TRIPLET}/*")


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
        if base == HOST_LINKER_BASENAME:
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
        if f.facts.soname and any(PurePosixPath(f.path).match(p) for p in LIB_PATH_PATTERNS):
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
def _classic(f: FileLint) -> Resolution | None:
    return f.classic


def rule_host_leak(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    res = _classic(f)
    if res is None or not ctx.classic_rules:
        return
    fix = None
    if f.expected_interpreter and f.facts.interp and f.facts.interp != f.expected_interpreter:
        fix = Fix(interpreter=f.expected_interpreter)
    rfix = _rpath_fix(f)
    if rfix is not None:
        fix = Fix(interpreter=fix.interpreter if fix else None, rpath=rfix.rpath)
    for obj in res.objects[1:]:
        if obj.realm is not Realm.HOST:
            continue
        if obj.via is Via.INTERPRETER and f.facts.interp is None:
            continue  # a library runs under its program's loader, not the one ldd picks
        what = "the interpreter" if obj.via is Via.INTERPRETER else obj.name
        yield LintFinding(
            "host-leak", E, f.path,
            f"in the classic view, {what} is loaded from the host: {obj.path} "
            f"(found via {obj.via}; {_chain(obj, ctx)}); it differs from machine to "
            "machine", fix)


def rule_runpath_not_inherited(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    res = _classic(f)
    if res is None or f.facts.runpath is None:
        return
    shipped = ctx.by_name
    for entry in res.link_map[1:]:
        requester = entry.needed_by
        if requester is None or requester.index == 0:
            continue
        if isinstance(entry, LoadedObject):
            if entry.realm is not Realm.HOST or entry.via is Via.INTERPRETER:
                continue
            where = f"comes from the host ({entry.path})"
        else:
            where = "is not found"
        if entry.name in shipped:
            rfix = _rpath_fix(f)
            yield LintFinding(
                "runpath-not-inherited", W, f.path,
                f"{f.path} has DT_RUNPATH, which the loader applies only to its own "
                f"DT_NEEDED: {entry.name}, needed by {requester.name}, {where} although the "
                "snap ships it; use DT_RPATH (patchelf --force-rpath --set-rpath), which is "
                "inherited", rfix or Fix(rpath=":".join(f.current_rpath)))


def rule_cache_shadowing(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    res = _classic(f)
    if res is None:
        return
    for obj in res.objects[1:]:
        if obj.realm is Realm.HOST and obj.via is Via.CACHE and obj.name in ctx.by_name:
            ships = ", ".join(sorted(ctx.by_name[obj.name])[:3])
            yield LintFinding(
                "cache-shadowing", W, f.path,
                f"the host's /etc/ld.so.cache sends {obj.name} to {obj.path} although the "
                f"snap or its base ships it ({ships})", _rpath_fix(f))


def rule_nodefaultlib(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    res = _classic(f)
    if res is None or f.facts.nodeflib or not ctx.classic_rules:
        return
    prefixes = ("/lib/", "/usr/lib/", "/lib64/", "/usr/lib64/")
    for obj in res.objects[1:]:
        if obj.realm is not Realm.HOST or obj.needed_by is not res.objects[0]:
            continue
        if obj.via is Via.DEFAULT or (obj.via is Via.CACHE and obj.path.startswith(prefixes)):
            yield LintFinding(
                "nodefaultlib", INFO, f.path,
                f"{obj.name} reaches the host through the {obj.via} step; "
                "DF_1_NODEFLIB (patchelf --no-default-lib, as Snapcraft does for core24+ "
                "classic snaps) would stop that lookup on the host", Fix(no_default_lib=True))


def rule_abi(ctx: Context, f: FileLint) -> Iterable[LintFinding]:
    res = _classic(f)
    if res is None:
        return
    for a in analyse(res):
        if a.id not in ("libc-mix", "version-missing", "unversioned-provider"):
            continue
        yield LintFinding(a.id, a.severity, f.path, a.message)


FILE_RULES: tuple[tuple[str, tuple[str, ...], Callable[[Context, FileLint],
                                                       Iterable[LintFinding]]], ...] = (
    ("interpreter", ("classic",), rule_interpreter),
    ("rpath", ("classic",), rule_rpath),
    ("missing-library", ("library",), rule_missing_library),
    ("host-leak", (), rule_host_leak),
    ("runpath-not-inherited", (), rule_runpath_not_inherited),
    ("cache-shadowing", (), rule_cache_shadowing),
    ("nodefaultlib", (), rule_nodefaultlib),
    ("libc-mix", (), rule_abi),
)


def run_rules(ctx: Context, files: Sequence[FileLint], ignores: Ignores) -> list[LintFinding]:
    out: list[LintFinding] = []
    if ctx.classic_rules and not ignores.all_ignored("classic"):
        text = "Snap contains staged libc." if ctx.staged_libc else \
            "Snap confinement is set to classic."
        out.append(LintFinding("classic", INFO, None, text, ok=True))
    for f in files:
        for rule_id, parents, fn in FILE_RULES:
            if rule_id in ("interpreter", "rpath") and (not ctx.classic_rules or
                                                        ignores.all_ignored("classic")):
                continue
            for finding in fn(ctx, f):
                if not ignores.ignored(finding.id, f.path, *parents):
                    out.append(finding)
    out += unused_libraries(ctx, files, ignores)
    unique = {(x.id, x.file, x.message): x for x in out}
    return sorted(unique.values(), key=LintFinding.sort_key)
