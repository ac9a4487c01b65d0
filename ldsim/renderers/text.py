"""``ldsim explain`` for people: objects, then every lookup in LD_DEBUG=libs's words.

Every string read from the input (names, paths, messages quoting them) goes through
:func:`ldsim.safetext.shown`: no control character, bidi control or undecodable byte of it
reaches the terminal, and a huge name is cut.
"""

from __future__ import annotations

import re

from ldsim.analysis.abi import Finding
from ldsim.analysis.explain import Explanation
from ldsim.analysis.verdict import Verdict, VerdictStatus
from ldsim.config.arch import arch_of
from ldsim.config.env import LoaderEnv
from ldsim.fs.view import Realm
from ldsim.renderers.demangle import demangle_all, demangled_message, finding_symbol
from ldsim.renderers.style import Style, plural
from ldsim.result import (
    DlopenStatus,
    LoadedObject,
    Lookup,
    LookupKind,
    Outcome,
    Resolution,
    SearchMark,
    Severity,
    Unresolved,
    Via,
)
from ldsim.safetext import shown as _s

_VIA_WORDS = {
    Via.EXECUTABLE: "the program",
    Via.INTERPRETER: "the program's interpreter (PT_INTERP)",
    Via.PRELOAD: "preload",
    Via.RPATH: "DT_RPATH",
    Via.LD_LIBRARY_PATH: "LD_LIBRARY_PATH",
    Via.RUNPATH: "DT_RUNPATH",
    Via.CACHE: "/etc/ld.so.cache",
    Via.DEFAULT: "default directories",
    Via.DIRECT: "name with a slash, opened as is",
    Via.ALREADY_LOADED: "already loaded",
}

# how an object was found, in a list or a tree where every column counts
_VIA_SHORT = {
    Via.EXECUTABLE: "program",
    Via.INTERPRETER: "interpreter",
    Via.PRELOAD: "preload",
    Via.RPATH: "RPATH",
    Via.LD_LIBRARY_PATH: "LD_LIBRARY_PATH",
    Via.RUNPATH: "RUNPATH",
    Via.CACHE: "ld.so.cache",
    Via.DEFAULT: "default dirs",
    Via.DIRECT: "path",
    Via.ALREADY_LOADED: "already loaded",
}

# The C library and compiler runtime that nearly every program loads: a tree hides them unless
# asked (-a), as libtree does, but never when one is missing or comes from the host.
_FAMILY = re.compile(
    r"(ld-linux[-a-z0-9_]*\.so|ld64\.so|ld\.so|ld-musl-[a-z0-9_]+\.so|libc\.musl-[a-z0-9_]+\.so"
    r"|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libutil\.so|libanl\.so"
    r"|libgcc_s\.so|libstdc\+\+\.so)(\.[0-9.]*)?")


def _family(obj: LoadedObject) -> bool:
    base = obj.path.rpartition("/")[2]
    return obj.realm is not Realm.HOST and bool(
        _FAMILY.fullmatch(base) or _FAMILY.fullmatch(obj.name.rpartition("/")[2]))


def _collapse(dirs: list[str], subdirs: frozenset[str]) -> list[str]:
    """A search list without the hwcaps, tls and platform subdirectories the loader adds
    to each of its directories (``glibc-hwcaps/x86-64-v3``, ``tls/x86_64``, ``haswell``):
    what a person wrote in RPATH or ld.so.conf. A directory is such a subdirectory when
    it lies under another entry of the list (the first one in the list that it lies under
    says what the rest of its path is). Each directory's parents are looked up, not every
    other entry: a list of n entries costs n times the depth of a path, not n squared."""
    # each entry without its trailing slashes: (the first entry so, the first other one)
    first: dict[str, tuple[tuple[int, str], tuple[int, str] | None]] = {}
    for j, e in enumerate(dirs):
        key = e.rstrip("/")
        known = first.get(key)
        if known is None:
            first[key] = ((j, e), None)
        elif known[1] is None and e != known[0][1]:
            first[key] = (known[0], (j, e))
    keep: list[str] = []
    kept: set[str] = set()
    for d in dirs:
        best: tuple[int, int] | None = None  # (index of the entry it lies under, its length)
        cut = d.find("/")
        while cut != -1:
            known = first.get(d[:cut])
            if known is not None:
                hit = known[0] if known[0][1] != d else known[1]
                if hit is not None and (best is None or hit[0] < best[0]):
                    best = (hit[0], cut)
            cut = d.find("/", cut + 1)
        if best is not None:
            extra = d[best[1] + 1:]
            if extra.startswith("glibc-hwcaps/") or all(part in subdirs
                                                        for part in extra.split("/")):
                continue
        if d not in kept:
            kept.add(d)
            keep.append(d)
    return keep


def searched(lk: Lookup, env: LoaderEnv | None = None) -> list[tuple[str, str]]:
    """Where a lookup looked, one (directories, which list) per search list, in order: the
    loader's ``search path=`` lines when it has them (glibc), else the directories of the
    candidates tried (musl)."""
    out: list[tuple[str, str]] = []
    subdirs = frozenset(("tls", *((*(env.legacy_hwcap_names or ()), env.platform or "")
                                   if env else ())))
    if lk.searches:
        for m in lk.searches:
            if m.dirs is None:
                out.append((_s(m.label), "cache"))
            else:
                out.append((", ".join(_s(d) for d in _collapse(list(m.dirs), subdirs)),
                            _s(m.label)))
        return out
    groups: dict[str, list[str]] = {}
    for a in lk.attempts:
        if a.via is Via.DIRECT:
            groups.setdefault("opened as is", []).append(a.path)
        else:
            groups.setdefault(a.source, []).append(a.path.rpartition("/")[0] or "/")
    for source, dirs in groups.items():
        out.append((", ".join(_s(d) for d in _collapse(dirs, subdirs)), _s(source)))
    return out


def _searched_lines(lk: Lookup | None, pad: str, env: LoaderEnv | None) -> list[str]:
    if lk is None:
        return []
    found = searched(lk, env)
    if not found:
        return [f"{pad}searched nowhere" + (f" ({_s(lk.note)})" if lk.note else "")]
    return [f"{pad}searched {dirs}" + ("" if label == "cache" else f"  ({label})")
            for dirs, label in found]


def _failed_lookups(res: Resolution) -> dict[tuple[int, str], Lookup]:
    return {(id(lk.requester), lk.name): lk for lk in res.lookups if lk.target is None}


def _entry_lines(e: LoadedObject | Unresolved, st: Style, realms: bool,
                 failed: dict[tuple[int, str], Lookup], env: LoaderEnv | None) -> list[str]:
    if isinstance(e, Unresolved):
        who = _s(e.needed_by.path) if e.needed_by else "a preload"
        why = f": {_s(e.reason)}" if e.reason else ""
        head = f"  {st.paint('missing', '!! NOT FOUND')} {_s(e.name)}  (needed by {who}{why})"
        return [head, *_searched_lines(failed.get((id(e.needed_by), e.name)), "       ",
                                       env)]
    head = _s(e.name) if e.name == e.path else f"{_s(e.name)} => {_s(e.path)}"
    realm = ""
    if realms:
        leak = e.realm is Realm.HOST
        realm = st.paint("leak", "LEAK ") if leak else "     "
        realm += f"{e.realm:<8}"
    via = _VIA_SHORT[e.via] + (", dlopen" if e.dlopened else "")
    return [f"  {st.paint('dim', f'{e.index:>2}')} {realm}{head}  "
            f"{st.paint('dim', '[' + via + ']')}"]


_DLOPEN_WORDS = {"loaded": "", "already_loaded": " (already loaded)"}


def _dlopen_lines(res: Resolution, st: Style) -> list[str]:
    """The dlopen calls made after the initial load, grouped by caller: what each declares
    (feature, priority) or that it is a hint, the alternative that loaded and where, or why
    none did."""
    from ldsim.analysis.dlopen import dlopen_severity  # (only a --dlopen run has calls)

    out = ["", "dlopen, after the initial load (ELF dlopen notes; hints; --dlopen-add):"]
    caller: str | None = "\0"
    for d in res.dlopens:
        req = d.request
        if req.caller != caller:
            caller = req.caller
            out.append(f"  from {_s(caller) if caller else 'the program'}:")
        what = (f"{_s(req.feature)} ({req.priority})" if req.feature
                else f"{req.source.value} ({req.priority})")
        if d.target is not None and d.name is not None:
            realm = st.paint("leak", " LEAK") if d.target.realm is Realm.HOST else ""
            result = (f"{_s(d.name)} => {_s(d.target.path)}{realm}"
                      f"{_DLOPEN_WORDS.get(d.status.value, '')}")
        elif d.status is DlopenStatus.NOT_CALLED:
            result = f"{' | '.join(map(_s, req.names))}: not called ({_s(d.reason)})"
        else:
            word = "NOT FOUND" if d.status is DlopenStatus.MISSING else "FAILS"
            result = (f"{' | '.join(map(_s, req.names))} => "
                      f"{st.severity(dlopen_severity(d).value, word)}: {_s(d.reason)}")
        out.append(f"    {what}: {result}")
    return out



def _env_lines(res: Resolution) -> list[str]:
    """What the simulated process was, and what secure mode dropped (``-v``)."""
    env = res.env
    if env is None:
        return []
    hw = ",".join(env.hwcaps or ()) or "none"
    legacy = ",".join(env.legacy_hwcap_names or ()) or "none"
    facts = res.objects[0].facts if res.objects else None
    arch = arch_of(facts.machine, facts.elf_class, facts.ident.data, facts.ident.flags) \
        if facts is not None else None
    machine = "?" if facts is None else f"machine {facts.machine}, glibc's generic rules"
    out = [f"Simulated process: {arch.name if arch else machine}"
           f", {env.invocation.value} invocation, cwd {_s(env.cwd)}, hwcaps "
           f"{_s(hw)}, $PLATFORM {_s(env.platform or '(none)')}, legacy hwcaps {_s(legacy)}"
           + (f", x86 ISA levels {_s(','.join(env.isa) or 'baseline')}"
              if env.isa is not None else "")
           + (f", uid:gid {env.user[0]}:{env.user[1]}" if env.user else ", root (reads all)")]
    if env.ld_library_path is not None:
        if env.secure:
            out.append(f"  LD_LIBRARY_PATH={_s(env.ld_library_path)} IGNORED: secure mode "
                       "(AT_SECURE) drops it")
        else:
            out.append(f"  LD_LIBRARY_PATH={_s(env.ld_library_path)}")
    if env.preload is not None:
        out.append(f"  LD_PRELOAD={_s(env.preload)}"
                   + ("  (secure mode: only names without a slash, from the trusted "
                      "directories, are preloaded)" if env.secure else ""))
    if env.secure:
        out.append("  secure mode (AT_SECURE): $ORIGIN only expands to trusted directories")
    return out


def _lookup_lines(lk: Lookup, verbose: bool) -> list[str]:
    who = _s(lk.requester.path) if lk.kind is LookupKind.NEEDED and lk.requester else lk.kind
    head = f"{who} needs {_s(lk.name)}"
    if lk.request != lk.name:
        head += f" (expanded to {_s(lk.request)})"
    lines = [head]
    if lk.via is Via.ALREADY_LOADED and not lk.attempts and lk.target is not None:
        lines.append(f"    already loaded as {_s(lk.target.path)}")
        return lines
    if lk.via is Via.INTERPRETER and lk.target is not None:
        lines.append(f"    served by the loader itself => {_s(lk.target.path)}")
        return lines
    if verbose and lk.searches:
        lines += _debug_lines(lk)
    else:
        lines += _grouped_lines(lk, verbose)
    if lk.target is None:
        lines.append("    => NOT FOUND" + (f" ({_s(lk.note)})" if lk.note else ""))
    elif lk.via is Via.ALREADY_LOADED:
        lines.append(f"    => same file as already loaded {_s(lk.target.path)}")
    else:
        lines.append(f"    => {_s(lk.target.path)}")
    return lines


def _search_line(m: SearchMark) -> str:
    """:attr:`SearchMark.line`, glibc's own tabs kept, the directories and label shown
    safely (each directory cut on its own)."""
    if m.dirs is None:
        return f"search cache={_s(m.label)}"
    return f"search path={':'.join(map(_s, m.dirs))}\t\t({_s(m.label)})"


def _debug_lines(lk: Lookup) -> list[str]:
    """glibc's own words: the ``search path=``, ``search cache=`` and ``trying file=`` lines
    of ``LD_DEBUG=libs``, verbatim and in its order, each probe's outcome below it when it is
    more than "absent"."""
    lines: list[str] = []
    marks: dict[int, list[str]] = {}
    for m in lk.searches:
        marks.setdefault(m.at, []).append(f"     {_search_line(m)}")
    for i, a in enumerate(lk.attempts):
        lines += marks.pop(i, [])
        if a.via is Via.DIRECT:
            lines.append("    name contains a slash: opened directly")
            lines.append(f"      {_s(a.path)}  -> {a.outcome.value}")
            continue
        lines.append(f"      trying file={_s(a.path)}")
        if a.outcome not in (Outcome.ABSENT, Outcome.FOUND):
            lines.append(f"        -> {a.outcome.value}"
                         + (f" ({_s(a.detail)})" if a.detail else ""))
    for at in sorted(marks):
        lines += marks[at]
    return lines


def _grouped_lines(lk: Lookup, verbose: bool) -> list[str]:
    """Probes grouped by search list, absent candidates counted unless ``verbose``."""
    lines: list[str] = []
    current = None
    hidden = 0
    for a in lk.attempts:
        if a.source != current:
            if hidden:
                lines.append(f"      ... {hidden} more candidate(s) absent")
                hidden = 0
            current = a.source
            lines.append(f"    search {_s(a.source)}" if a.via is not Via.DIRECT
                         else "    name contains a slash: opened directly")
        if a.outcome is Outcome.ABSENT and not verbose:
            hidden += 1
            continue
        extra = f" ({_s(a.detail)})" if a.detail and a.outcome is not Outcome.ABSENT else ""
        lines.append(f"      trying file={_s(a.path)}  -> {a.outcome.value}{extra}")
    if hidden:
        lines.append(f"      ... {hidden} more candidate(s) absent")
    return lines


def render_findings(findings: list[Finding], st: Style | None = None) -> list[str]:
    st = st or Style()
    if not findings:
        return ["Findings: none"]
    out = [f"Findings ({len(findings)}):"]
    names = demangle_all(finding_symbol(f) for f in findings)  # C++ names for people
    for f in findings:
        sev = f.severity.value
        out.append(f"  {st.severity(sev, f'{sev.upper():7}')} {_s(f.id)}: "
                   f"{_s(demangled_message(f, names))}")
    return out


def warning_lines(res: Resolution, st: Style) -> list[str]:
    """The warnings about the run itself (an architecture with no table, a --hwcaps level the
    program's loader never searches, an unreadable loader or cache): every view shows them."""
    warnings = [d for d in res.diagnostics if d.severity is not Severity.INFO]
    if not warnings:
        return []
    return ["", "Notes:", *(f"  {st.severity(d.severity.value, d.severity.value)}: "
                            f"{_s(d.message)}" for d in warnings)]


def result_line(res: Resolution, verdict: Verdict | None = None,
                st: Style | None = None) -> str:
    """The last line: what the loader does with the program, and with a verdict, whether a
    real run of it starts."""
    st = st or Style()
    unresolved = res.unresolved
    if res.error is not None:
        return st.paint("missing", "Result: the program would not start (load aborted).")
    if unresolved:
        names = ", ".join(sorted({_s(u.name) for u in unresolved}))
        return st.paint("missing", f"Result: {plural(len(unresolved), 'name')} not found, "
                        f"the program would not start: {names}")
    n = len(res.objects) - 1
    if verdict is not None and verdict.status is VerdictStatus.FAILS_AT_RUN_TIME:
        ids = ", ".join(sorted({_s(r.split(":", 1)[0]) for r in verdict.reasons}))
        return st.paint("missing", f"Result: {_resolve_words(n)}, but a real run fails "
                        f"({plural(len(verdict.reasons), 'error finding')}: {ids}).")
    if res.static:
        return st.paint("found", "Result: statically linked: nothing to load.")
    leaks = [o for o in res.objects if o.realm is Realm.HOST]
    if leaks:
        return st.paint("leak", f"Result: {_resolve_words(n)}; "
                        f"{_leak_words(len(leaks))} from the host (LEAK: what it loads "
                        "depends on the machine; compare and lint judge it).")
    return st.paint("found", f"Result: {_resolve_words(n)}.")


def _leak_words(n: int) -> str:
    return "one of them comes" if n == 1 else f"{n} of them come"


def _resolve_words(n: int) -> str:
    if n == 0:
        return "no dependencies"
    if n == 1:
        return "the one dependency resolves"
    return f"all {n} dependencies resolve"


def render_explain_text(res: Resolution, *, verbose: int | bool = 0,
                        findings: list[Finding] | None = None, realms: bool = False,
                        verdict: Verdict | None = None, color: bool = False,
                        width: int | None = None) -> str:
    """The objects in link-map order with how each was found (a name not found with where it
    was searched), the load error, the findings, notes and the result. ``verbose`` 1 adds
    the simulated process and every lookup, its candidates grouped by search list; 2 prints
    each lookup's trail as ``LD_DEBUG=libs`` does."""
    st = Style(color, width)
    level = int(verbose)
    out: list[str] = []
    interp = _s(res.interpreter) if res.interpreter else ("none (static)" if res.static
                                                           else "none")
    out.append(f"{_s(res.executable)}: {res.loader} loader {interp}, root {_s(res.root)}")
    if res.static:
        out.append("  statically linked: the kernel maps no loader and no libraries")
    if level:
        out.extend(_env_lines(res))
    out.append("")
    out.append("Objects in link-map order" + (":" if level else " (-v: every lookup):"))
    failed = _failed_lookups(res)
    for e in res.link_map:
        out.extend(_entry_lines(e, st, realms, failed, res.env))
    if res.dlopens:
        out.extend(_dlopen_lines(res, st))
    if res.error is not None:
        out.append("")
        out.append(f"{st.paint('missing', 'LOAD ABORTED')}: {_s(res.error.loader_message)}")
        if res.error.needed_by is not None:
            out.append(f"  while loading {_s(res.error.name)} for "
                       f"{_s(res.error.needed_by.path)}")
        out.append(f"  ({_s(res.error.reason)}; the real loader stops the whole program here)")
    if level:
        out.append("")
        out.append("Lookups:" if res.lookups else "Lookups: none (nothing was searched)")
        for lk in res.lookups:
            out.extend("  " + line for line in _lookup_lines(lk, level > 1))
    if findings is not None:
        out.append("")
        out.extend(render_findings(findings, st))
    if res.diagnostics:
        out.append("")
        out.append("Notes:")
        for d in res.diagnostics:
            out.append(f"  {st.severity(d.severity.value, d.severity.value)}: {_s(d.message)}")
    out.append("")
    out.append(result_line(res, verdict, st))
    return st.lines(out)


def _tree_label(lk: Lookup, st: Style, realms: bool) -> str:
    tgt = lk.target
    assert tgt is not None
    leak = realms and tgt.realm is Realm.HOST
    mark = st.paint("leak", "LEAK ") if leak else ""
    if lk.name in (tgt.path, tgt.path.rpartition("/")[2]):
        head = _s(tgt.path)  # the name is the file's: its path says both
    else:
        head = f"{_s(lk.name)} => {_s(tgt.path)}"
    how = _VIA_SHORT[tgt.via] + (f", {tgt.realm}" if realms else "")
    return f"{mark}{head} {st.paint('dim', '[' + how + ']')}"


def render_explain_tree(res: Resolution, *, all: bool = False, color: bool = False,
                        width: int | None = None, realms: bool | None = None) -> str:
    """A dependency tree, libtree's shape with the loader's answers.

    Drawn depth-first in DT_NEEDED order; each object is expanded once, where the tree first
    reaches it, with the path the loader opened and how it was found; a later reference is
    one short line marked ``(see above)``, so no marker ever precedes the object it refers
    to. A name not found shows where it was searched. The C library family (``libc.so.6``,
    ``ld-linux``, ``libm``, ``libgcc_s``, ``libstdc++``, musl's ``libc.so``, ...) is hidden
    unless ``all``, except when it is missing or comes from the host; the last line says what
    was hidden. In a snap's view (``realms``) each object shows its realm, and a host file
    starts with ``LEAK``.

    Walked with an explicit stack, not recursion: a chain of thousands of libraries (each
    needing the next) is as deep as it is long."""
    st = Style(color, width)
    if realms is None:
        realms = any(o.realm is not Realm.ROOT for o in res.objects)
    by_requester: dict[int, list[Lookup]] = {}
    for lk in res.lookups:
        if lk.kind is LookupKind.NEEDED and lk.requester is not None:
            by_requester.setdefault(id(lk.requester), []).append(lk)
    out: list[str] = []
    seen: set[int] = set()
    hidden: dict[str, None] = {}

    def emit(line: str, cont: str) -> None:
        out.extend(st.fit(line, cont=cont + "    "))

    def shown_here(lk: Lookup) -> bool:
        tgt = lk.target
        if all or tgt is None or not _family(tgt):
            return True
        hidden[_s(tgt.path.rpartition("/")[2])] = None
        return False

    def walk(top: LoadedObject, prefix: str) -> None:
        seen.add(id(top))
        stack: list[tuple[list[Lookup], int, str]] = [
            ([lk for lk in by_requester.get(id(top), []) if shown_here(lk)], 0, prefix)]
        while stack:
            kids, i, pre = stack[-1]
            if i == len(kids):
                stack.pop()
                continue
            stack[-1] = (kids, i + 1, pre)
            lk = kids[i]
            last = i == len(kids) - 1
            branch = "└── " if last else "├── "
            below = pre + ("    " if last else "│   ")
            tgt = lk.target
            if tgt is None:
                emit(f"{pre}{branch}{st.paint('missing', 'NOT FOUND')} {_s(lk.name)}", below)
                for line in _searched_lines(lk, "", res.env):
                    emit(f"{below}  {line}", below + "  ")
            elif id(tgt) in seen:
                same = lk.name in (tgt.name, tgt.path, tgt.path.rpartition("/")[2])
                ref = _s(lk.name) if same else f"{_s(lk.name)} => {_s(tgt.path)}"
                emit(f"{pre}{branch}{ref} {st.paint('reused', '(see above)')}", below)
            else:
                seen.add(id(tgt))
                emit(f"{pre}{branch}{_tree_label(lk, st, realms)}", below)
                stack.append(([k for k in by_requester.get(id(tgt), []) if shown_here(k)], 0,
                              below))

    objects = res.objects
    head = f"{_s(res.executable)}"
    if res.static:
        head += "  (statically linked: no loader, no libraries)"
    out.append(head)
    if objects:
        for lk in res.lookups:
            if lk.kind is not LookupKind.NEEDED:
                if lk.target is None:
                    emit(f"[{lk.kind}] {st.paint('missing', 'NOT LOADED')} {_s(lk.name)}", "")
                else:
                    emit(f"[{lk.kind}] {_tree_label(lk, st, realms)}", "")
                    if id(lk.target) not in seen:
                        walk(lk.target, "    ")
        walk(objects[0], "")
        rest = [o for o in objects if id(o) not in seen and (all or not _family(o))
                and o.via is not Via.INTERPRETER]
        for o in rest:
            out.append(f"also loaded: {_s(o.path)} {st.paint('dim', '[' + _VIA_SHORT[o.via] + ']')}")
    if res.error is not None:
        out.append(f"{st.paint('missing', 'LOAD ABORTED')}: {_s(res.error.loader_message)}")
    for o in objects[1:]:  # the family members no line reached (ld.so under a hidden libc)
        if not all and id(o) not in seen and _family(o):
            hidden[_s(o.path.rpartition("/")[2])] = None
    if hidden:
        names = ", ".join(hidden)
        out.extend(st.fit(st.paint("dim", f"(not shown: {names}; -a shows the C library "
                                   "family)")))
    return "\n".join(out) + "\n"


def explanation_text(e: Explanation, *, verbose: int | bool = 0, color: bool = False,
                     width: int | None = None) -> str:
    """``ldsim explain``'s text: objects, findings, notes, the result (``verbose``: the
    lookups too)."""
    return render_explain_text(e.resolution, verbose=verbose, findings=list(e.findings),
                               realms=e.snap is not None, verdict=e.verdict, color=color,
                               width=width)


def explanation_tree(e: Explanation, *, all: bool = False, color: bool = False,
                     width: int | None = None) -> str:
    """``ldsim explain --tree``: the tree, then the findings and the result that decide the
    exit status."""
    st = Style(color, width)
    out = render_explain_tree(e.resolution, all=all, color=color, width=width,
                              realms=e.snap is not None).rstrip("\n").split("\n")
    if e.findings:
        out += ["", *render_findings(list(e.findings), st)]
    out += warning_lines(e.resolution, st)
    out += ["", result_line(e.resolution, e.verdict, st)]
    return st.lines(out)


def explanation_findings(e: Explanation, *, color: bool = False,
                         width: int | None = None) -> str:
    """``ldsim explain --abi-only``: the findings, and the result when the program does not
    start."""
    st = Style(color, width)
    out = render_findings(list(e.findings), st) + warning_lines(e.resolution, st)
    if not e.verdict.starts:
        out += ["", result_line(e.resolution, e.verdict, st)]
    return st.lines(out)


def resolution_text(res: Resolution, *, verbose: int | bool = 0, color: bool = False,
                    width: int | None = None) -> str:
    """A resolution on its own: objects, notes, the result (no findings)."""
    return render_explain_text(res, verbose=verbose, color=color, width=width,
                               realms=any(o.realm is not Realm.ROOT for o in res.objects))
