"""``ldsim explain`` for people: objects, then every lookup in LD_DEBUG=libs's words.

Every string read from the input (names, paths, messages quoting them) goes through
:func:`ldsim.safetext.shown`: no control character, bidi control or undecodable byte of it
reaches the terminal, and a huge name is cut.
"""

from __future__ import annotations

from ldsim.analysis.abi import Finding
from ldsim.analysis.explain import Explanation
from ldsim.analysis.verdict import Verdict, VerdictStatus
from ldsim.fs.view import Realm
from ldsim.result import (
    LoadedObject,
    Lookup,
    LookupKind,
    Outcome,
    Resolution,
    SearchMark,
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


def _entry_line(e: LoadedObject | Unresolved, realms: bool = False) -> str:
    if isinstance(e, Unresolved):
        who = _s(e.needed_by.path) if e.needed_by else "?"
        why = f", {_s(e.reason)}" if e.reason else ""
        return f"  !! {_s(e.name)} => NOT FOUND  (needed by {who}{why})"
    head = _s(e.name) if e.name == e.path else f"{_s(e.name)} => {_s(e.path)}"
    realm = ""
    if realms:
        realm = f"{e.realm:<8}" + (" LEAK " if e.realm is Realm.HOST else " ")
    return f"  {e.index:>2} {realm}{head}  [{_VIA_WORDS[e.via]}]"


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


def render_findings(findings: list[Finding]) -> list[str]:
    if not findings:
        return ["Findings: none"]
    out = [f"Findings ({len(findings)}):"]
    for f in findings:
        out.append(f"  {f.severity.value.upper():7} {_s(f.id)}: {_s(f.message)}")
    return out


def result_line(res: Resolution, verdict: Verdict | None = None) -> str:
    """The last line: what the loader does with the program, and with a verdict, whether a
    real run of it starts."""
    unresolved = res.unresolved
    if res.error is not None:
        return "Result: the program would not start (load aborted)."
    if unresolved:
        names = ", ".join(sorted({_s(u.name) for u in unresolved}))
        return f"Result: {len(unresolved)} unresolved: {names}"
    n = len(res.objects) - 1
    if verdict is not None and verdict.status is VerdictStatus.FAILS_AT_RUN_TIME:
        ids = ", ".join(sorted({_s(r.split(":", 1)[0]) for r in verdict.reasons}))
        return (f"Result: all {n} dependencies resolve, but a real run fails "
                f"({len(verdict.reasons)} error finding{'s' if len(verdict.reasons) != 1 else ''}"
                f": {ids}).")
    return f"Result: all {n} dependencies resolve."


def render_explain_text(res: Resolution, *, verbose: bool = False,
                        findings: list[Finding] | None = None, realms: bool = False,
                        verdict: Verdict | None = None) -> str:
    out: list[str] = []
    interp = _s(res.interpreter) if res.interpreter else ("none (static)" if res.static
                                                           else "none")
    out.append(f"{_s(res.executable)}: {res.loader} loader {interp}, root {_s(res.root)}")
    if res.static:
        out.append("  statically linked: the kernel maps no loader and no libraries")
    out.append("")
    out.append("Objects in link-map order:")
    for e in res.link_map:
        out.append(_entry_line(e, realms))
    if res.error is not None:
        out.append("")
        out.append(f"LOAD ABORTED: {_s(res.error.loader_message)}")
        if res.error.needed_by is not None:
            out.append(f"  while loading {_s(res.error.name)} for "
                       f"{_s(res.error.needed_by.path)}")
        out.append(f"  ({_s(res.error.reason)}; the real loader stops the whole program here)")
    out.append("")
    out.append("Lookups:" if res.lookups else "Lookups: none (nothing was searched)")
    for lk in res.lookups:
        out.extend("  " + line for line in _lookup_lines(lk, verbose))
    if findings is not None:
        out.append("")
        out.extend(render_findings(findings))
    if res.diagnostics:
        out.append("")
        out.append("Notes:")
        for d in res.diagnostics:
            out.append(f"  {d.severity.value}: {_s(d.message)}")
    out.append("")
    out.append(result_line(res, verdict))
    return "\n".join(out) + "\n"


def render_explain_tree(res: Resolution) -> str:
    """A dependency tree: each object expanded once, later references marked.

    Walked with an explicit stack, not recursion: a chain of thousands of libraries (each
    needing the next) is as deep as it is long."""
    by_requester: dict[int, list[Lookup]] = {}
    for lk in res.lookups:
        if lk.kind is LookupKind.NEEDED and lk.requester is not None:
            by_requester.setdefault(id(lk.requester), []).append(lk)
    out = [_s(res.executable)]
    seen: set[int] = set()

    def walk(top: LoadedObject, prefix: str) -> None:
        seen.add(id(top))
        # (the requester's lookups, the next one to show, the prefix of their lines)
        stack: list[tuple[list[Lookup], int, str]] = [(by_requester.get(id(top), []), 0,
                                                       prefix)]
        while stack:
            kids, i, pre = stack[-1]
            if i == len(kids):
                stack.pop()
                continue
            stack[-1] = (kids, i + 1, pre)
            lk = kids[i]
            last = i == len(kids) - 1
            branch = "└── " if last else "├── "
            tgt = lk.target
            if tgt is None:
                line = f"{_s(lk.name)} => NOT FOUND"
            elif id(tgt) in seen or lk.via is Via.ALREADY_LOADED:
                line = f"{_s(lk.name)} => {_s(tgt.path)} (already loaded)"
            else:
                line = f"{_s(lk.name)} => {_s(tgt.path)} [{_VIA_WORDS[tgt.via]}]"
            out.append(pre + branch + line)
            if tgt is not None and id(tgt) not in seen and lk.via is not Via.ALREADY_LOADED:
                seen.add(id(tgt))
                stack.append((by_requester.get(id(tgt), []), 0,
                              pre + ("    " if last else "│   ")))

    objects = res.objects
    if objects:
        for lk in res.lookups:
            if lk.kind is not LookupKind.NEEDED:
                tgt = lk.target
                out.append(f"[{lk.kind}] {_s(lk.name)} => "
                           f"{_s(tgt.path) if tgt else 'NOT LOADED'}")
        walk(objects[0], "")
        for lk in res.lookups:
            if lk.kind is not LookupKind.NEEDED and lk.target is not None \
                    and id(lk.target) not in seen:
                out.append(f"{_s(lk.target.path)} (preload)")
                walk(lk.target, "")
    if res.error is not None:
        out.append(f"LOAD ABORTED: {_s(res.error.loader_message)}")
    return "\n".join(out) + "\n"


def explanation_text(e: Explanation, *, verbose: bool = False) -> str:
    """``ldsim explain``'s text: objects, lookups, findings, notes, the result."""
    return render_explain_text(e.resolution, verbose=verbose, findings=list(e.findings),
                               realms=e.snap is not None, verdict=e.verdict)


def explanation_tree(e: Explanation) -> str:
    """``ldsim explain --tree``: the tree, then the findings and the result that decide the
    exit status."""
    out = [render_explain_tree(e.resolution).rstrip("\n")]
    if e.findings:
        out += ["", *render_findings(list(e.findings))]
    out += ["", result_line(e.resolution, e.verdict)]
    return "\n".join(out) + "\n"


def explanation_findings(e: Explanation) -> str:
    """``ldsim check``: the findings, and the result when the program does not start."""
    out = render_findings(list(e.findings))
    if not e.verdict.starts:
        out += ["", result_line(e.resolution, e.verdict)]
    return "\n".join(out) + "\n"


def resolution_text(res: Resolution, *, verbose: bool = False) -> str:
    """A resolution on its own: objects, lookups, notes, the result (no findings)."""
    return render_explain_text(res, verbose=verbose,
                               realms=any(o.realm is not Realm.ROOT for o in res.objects))
