"""Dependencies loaded with ``dlopen``: what each loaded object declares (ELF dlopen metadata
notes) or hints at (soname-like strings in an object that imports ``dlopen``), and what the
user adds; resolved after the initial load by the loader model, as the real loader would
serve the calls (``ldsim.loader``: glibc ``dl_open_worker``, musl ``dlopen``).

Nothing declares *when* a program calls ``dlopen``, nor which alternatives it gives up on:
ldsim makes every declared call once, after the initial load, in the order of the objects
and of their notes, and takes the first alternative that loads, as the uapi-group
specification ("ELF dlopen metadata") says a consumer should.
"""

from __future__ import annotations

from collections.abc import Sequence

from ldsim.analysis.abi import Finding
from ldsim.config.env import LoaderEnv
from ldsim.elf.dlopen import DlopenNote, dlopen_hints, parse_dlopen_notes
from ldsim.elf.facts import ElfFacts
from ldsim.elf.flavour import Libc
from ldsim.errors import AccessError, LdsimError, UsageError
from ldsim.fs.view import Realm, View
from ldsim.result import (
    Diagnostic,
    DlopenRequest,
    DlopenResult,
    DlopenSource,
    DlopenStatus,
    LoadedObject,
    Resolution,
    Severity,
)
from ldsim.target import Program, Target

TYPE_CHECKING = False

if TYPE_CHECKING:
    from ldsim.loader.walk import ObjectRecord
    from ldsim.snap.meta import Confinement

SEVERITY_OF_PRIORITY = {"required": Severity.ERROR, "recommended": Severity.WARNING,
                        "suggested": Severity.INFO}
MAX_ROUNDS = 4  # objects a dlopen loads may declare dlopens of their own, in turn


def parse_add(value: str) -> DlopenRequest:
    """``--dlopen-add NAME[,NAME...]`` (the main program calls dlopen on the first name that
    loads) or ``OBJECT=NAME[,NAME...]`` (the object at that path, as loaded, calls it)."""
    caller: str | None = None
    names = value
    if "=" in value:
        caller, _, names = value.partition("=")
        if not caller.startswith("/"):
            raise UsageError("--dlopen-add", f"the calling object must be a path as loaded "
                             f"(/usr/lib/...), got {caller!r}")
    alternatives = tuple(n for n in names.split(",") if n)
    if not alternatives:
        raise UsageError("--dlopen-add", f"no name to dlopen in {value!r}")
    return DlopenRequest(caller, alternatives, None, "required", None, DlopenSource.USER)


_Declared = tuple[tuple[DlopenNote, ...], tuple[str, ...], tuple[str, ...]]
_MEMO: dict[tuple[int, int, int, int, bool], _Declared] = {}
_MEMO_MAX = 8192


def _declared(view: View, obj: LoadedObject | ObjectRecord, hints: bool) -> _Declared:
    """(notes, problems, hints) of one file, read once per file identity (a whole-tree scan
    meets libc's notes thousands of times)."""
    st = view.stat(obj.real_path)
    # only a host tree's identities are unique (an in-memory root numbers its own inodes)
    key = (st.dev, st.ino, st.size, st.mtime_ns, hints)
    hit = _MEMO.get(key) if view.stable else None
    if hit is None:
        buf = view.buffer(obj.real_path)
        notes, issues = parse_dlopen_notes(buf, obj.real_path)
        found: tuple[str, ...] = ()
        if hints:
            needed = obj.facts.needed if obj.facts is not None else ()
            found = dlopen_hints(buf, obj.real_path, needed)
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        hit = _MEMO[key] = (notes, issues, found)
    return hit


def requests_of(view: View, objects: Sequence[LoadedObject | ObjectRecord], *,
                hints: bool = True,
                seen: set[str] | None = None) -> tuple[list[DlopenRequest], list[Diagnostic]]:
    """The dlopen calls the files of ``objects`` declare (notes) or hint at, in load order;
    problems with a note are diagnostics naming the file. ``seen``: real paths already
    read (updated)."""
    seen = set() if seen is None else seen
    out: list[DlopenRequest] = []
    problems: list[Diagnostic] = []
    for obj in objects:
        if obj.real_path in seen:
            continue
        seen.add(obj.real_path)
        try:
            notes, issues, hinted = _declared(view, obj, hints)
            problems += [Diagnostic(Severity.WARNING, f"{obj.path}: dlopen note: {issue}",
                                    obj.path) for issue in issues]
            out += [DlopenRequest(obj.path, n.sonames, n.feature, n.priority, n.description,
                                  DlopenSource.NOTE) for n in notes]
            declared = {name for n in notes for name in n.sonames}
            out += [DlopenRequest(obj.path, (name,), None, "suggested", None,
                                  DlopenSource.HINT)
                    for name in hinted if name not in declared]
        except AccessError:  # ldsim may not read it, or it changed under the reads
            raise
        except LdsimError as exc:
            problems.append(Diagnostic(Severity.WARNING, f"{obj.path}: dlopen notes not read: "
                                       f"{exc.reason}", obj.path))
    return out, problems


def resolve_with_dlopen(target: Target, program: str | Program, env: LoaderEnv | None = None,
                        *, confinement: Confinement | None = None, loader: Libc | None = None,
                        facts: ElfFacts | None = None, added: Sequence[DlopenRequest] = (),
                        hints: bool = True) -> tuple[Resolution, list[Diagnostic]]:
    """:meth:`Target.resolve`, then every declared, hinted and ``added`` dlopen call made
    on its load; objects those calls load may declare their own, made in turn (at most
    :data:`MAX_ROUNDS` rounds)."""
    view = target.view(confinement)
    seen: set[str] = set()
    problems: list[Diagnostic] = []
    requests: list[DlopenRequest] = []

    def first_calls(objects: Sequence[ObjectRecord]) -> list[DlopenRequest]:
        # what the initial load's objects declare, asked for as soon as that load is done:
        # the same run then makes the calls (the load is not made twice)
        found, issues = requests_of(view, objects, hints=hints, seen=seen)
        problems.extend(issues)
        requests.extend(_ordered(found, added))
        return list(requests)

    res = target.resolve(program, env, confinement=confinement, loader=loader, facts=facts,
                         dlopen=first_calls)
    if res.error is not None or not requests:
        return res, problems  # no call to make: the initial load is the answer
    rounds = 1
    while True:
        new = [o for o in res.objects if o.dlopened and o.real_path not in seen]
        if not new:
            break
        more, issues = requests_of(view, new, hints=hints, seen=seen)
        problems += issues
        if not more or rounds == MAX_ROUNDS:
            break
        # declared calls go before hints: the calls are made again from the start
        requests[:] = _ordered([*requests, *more], ())
        res = target.resolve(program, env, confinement=confinement, loader=loader,
                             facts=facts, dlopen=requests)
        rounds += 1
    return res, problems


def _ordered(requests: Sequence[DlopenRequest],
             added: Sequence[DlopenRequest]) -> list[DlopenRequest]:
    """Declared calls, then the user's, then the hints (guesses) that name nothing a
    declared or added call names: a hint never takes a name before the call that makes it."""
    real = [r for r in requests if r.source is not DlopenSource.HINT] + list(added)
    named = {n for r in real for n in r.names}
    hinted = [r for r in requests if r.source is DlopenSource.HINT
              and not named.intersection(r.names)]
    out: list[DlopenRequest] = []
    for r in [*real, *hinted]:
        if r not in out:
            out.append(r)
    return out


def dlopen_findings(res: Resolution) -> list[Finding]:
    """``dlopen-missing``: a declared dlopen dependency no alternative of which loads (or
    loads but fails): an error when it is ``required``, a warning when ``recommended``, info
    when ``suggested``; a hint is at most info; a name the user added is required."""
    out: list[Finding] = []
    for d in res.dlopens:
        if d.status not in (DlopenStatus.MISSING, DlopenStatus.FAILED):
            continue
        out.append(_finding(d, "dlopen-missing", dlopen_severity(d),
                            f"dlopen of {' or '.join(d.request.names)} fails: {d.reason}"))
    return out


def dlopen_severity(d: DlopenResult) -> Severity:
    """``required`` an error, ``recommended`` a warning, ``suggested`` info; a hint info."""
    if d.request.source is DlopenSource.HINT:
        return Severity.INFO
    return SEVERITY_OF_PRIORITY.get(d.request.priority, Severity.WARNING)


def _finding(d: DlopenResult, rule: str, severity: Severity, message: str) -> Finding:
    what = f"{d.request.feature} ({d.request.priority})" if d.request.feature else \
        d.request.source.value
    return Finding(rule, severity, d.request.caller or "(the program)", None,
                   " | ".join(d.request.names), f"{message} [{what}]")


def leak_findings(res: Resolution) -> list[Finding]:
    """``dlopen-leak``: in a snap's classic view, a dlopen dependency that loads from the
    host (severity by priority, as for ``dlopen-missing``)."""
    out: list[Finding] = []
    for d in res.dlopens:
        if d.target is not None and d.target.realm is Realm.HOST:
            out.append(_finding(d, "dlopen-leak", dlopen_severity(d),
                                f"dlopen of {d.name} loads {d.target.path} from the host"))
    return out


__all__ = [
    "MAX_ROUNDS",
    "SEVERITY_OF_PRIORITY",
    "dlopen_findings",
    "dlopen_severity",
    "leak_findings",
    "parse_add",
    "requests_of",
    "resolve_with_dlopen",
]
