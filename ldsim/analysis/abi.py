"""ABI hazards in a resolved process: libc flavours, symbol versions, symbol binding.

* Flavour of an object (glibc, musl, or none): :func:`ldsim.elf.flavour.flavour_of`; the
  process's flavour is its loader's.
* Version checks as glibc's ``_dl_check_all_versions`` does them (``elf/dl-version.c``):
  the provider is found by the Verneed file name among the loaded objects' names;
  a provider without DT_VERDEF gets ``no version information available`` at load time and an
  assertion in ``dl-lookup.c`` (``check_match``) at the first binding; a missing version is
  fatal unless the reference is weak. musl never checks versions (``ldso/dynlink.c`` has no
  version check at all; it binds by name, ``do_dlsym``/``find_sym``).
* Symbol binding (beyond ``ldd -r``): every undefined dynamic symbol of every loaded object
  is looked up through the global scope in link-map order, honouring versions for glibc
  (``do_lookup_x``/``check_match``), by name for musl.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from ldsim.elf.facts import VER_FLG_WEAK, Machine, VersionNeed, X86Isa
from ldsim.elf.flavour import Libc, flavour_of
from ldsim.errors import AccessError, LdsimError
from ldsim.fs.view import View
from ldsim.records import record
from ldsim.result import LoadedObject, LookupKind, Resolution, Severity, Via

TYPE_CHECKING = False

if TYPE_CHECKING:
    from ldsim.elf.symbols import DynSymbol




@record(frozen=True, slots=True)
class Finding:
    """An ABI hazard: a stable ``id``, its severity, the object it is about, the other
    party (provider, interposer), the version or symbol concerned, and a message."""

    id: str
    severity: Severity
    object: str  # the object the finding is about (a path as the loader opened it)
    library: str | None  # the other party (provider, interposer), if any
    detail: str  # the version, symbol or flavour concerned
    message: str

    def sort_key(self) -> tuple[int, str, str, str, str]:
        return (self.severity.rank, self.id, self.object, self.library or "",
                self.detail)


def process_flavour(res: Resolution) -> Libc:
    """A process's flavour is its loader's."""
    return _MUSL if res.loader is _MUSL else _GLIBC


# enum members read in the loops below, as module names (read faster)
_INTERPRETER, _NONE, _MUSL, _GLIBC = Via.INTERPRETER, Libc.NONE, Libc.MUSL, Libc.GLIBC


def _providers(objects: list[LoadedObject]) -> dict[str, LoadedObject]:
    """For each file name a Verneed may give, the first object (the program excepted) whose
    path or one of whose names it is."""
    found: dict[str, LoadedObject] = {}
    for obj in objects:
        if obj.index == 0:
            continue
        found.setdefault(obj.path, obj)
        for name in obj.names:
            found.setdefault(name, obj)
    return found


def _missing(need: VersionNeed, defs: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """The (version, flags) of ``need`` that ``defs`` does not define, in order. The same
    library's needs meet the same provider's definitions in program after program: the
    answer is remembered by their identity (the entry keeps both alive)."""
    key = (id(need), id(defs))
    hit = _MISSING.get(key)
    if hit is not None and hit[0] is need and hit[1] is defs:
        return hit[2]
    defined = frozenset(defs)
    missing = tuple((v, f) for v, f in need.versions if v not in defined)
    if len(_MISSING) >= _MISSING_MAX:
        _MISSING.clear()
    _MISSING[key] = (need, defs, missing)
    return missing


_MISSING: dict[tuple[int, int],
               tuple[VersionNeed, tuple[str, ...], tuple[tuple[str, int], ...]]] = {}
_MISSING_MAX = 8192


def version_findings(res: Resolution) -> list[Finding]:
    out: list[Finding] = []
    glibc = process_flavour(res) is _GLIBC
    unresolved = {u.name for u in res.unresolved}
    objects = res.objects
    memo = _MISSING
    providers: dict[str, LoadedObject] | None = None
    for obj in objects:
        facts = obj.facts
        if facts is None:
            continue
        if facts.version_error:
            out.append(Finding(
                "version-malformed", Severity.ERROR, obj.path, None, facts.version_error,
                f"{obj.path}: malformed symbol version section ({facts.version_error}); "
                "glibc refuses to start a program with an unsupported Verneed/Verdef record"))
        if not glibc:
            continue
        for need in facts.version_needs or ():
            if providers is None:
                providers = _providers(objects)
            prov = providers.get(need.file)
            if prov is None and need.file not in unresolved:
                out.append(Finding(
                    "version-provider-missing", Severity.ERROR, obj.path, need.file,
                    need.file,
                    f"{obj.path} requires versions {', '.join(v for v, _ in need.versions)} "
                    f"from {need.file}, which no DT_NEEDED loads: the real loader aborts "
                    "(assertion in dl-version.c, _dl_check_map_versions), even under ldd"))
                continue
            if prov is None or prov.facts is None:
                continue
            defs = prov.facts.version_defs
            if defs is None:
                wanted = [v for v, _ in need.versions]
                if prov.facts.has_versym:
                    at_run = ("a real run binds the references to its unversioned definitions "
                              "without any version check (dl-lookup.c, check_match accepts "
                              "them), so a wrong implementation goes unnoticed")
                else:
                    at_run = ("a real run aborts at the first binding to it (assertion in "
                              "dl-lookup.c, check_match)")
                out.append(Finding(
                    "unversioned-provider", Severity.ERROR, obj.path, prov.path,
                    ", ".join(wanted),
                    f"{obj.path} requires versions {', '.join(wanted)} from {need.file}, but "
                    f"{prov.path} defines no symbol versions: ldd (trace mode) lists it with "
                    f"only 'no version information available', yet {at_run}"))
                continue
            hit = memo.get((id(need), id(defs)))  # _missing(need, defs), its memo inlined
            missing = hit[2] if hit is not None and hit[0] is need and hit[1] is defs \
                else _missing(need, defs)
            for version, flags in missing:
                weak = bool(flags & VER_FLG_WEAK)
                out.append(Finding(
                    "version-missing", Severity.WARNING if weak else Severity.ERROR, obj.path,
                    prov.path, version,
                    f"{prov.path}: {'weak ' if weak else ''}version `{version}' not found "
                    f"(required by {obj.path})"
                    + ("; the loader only warns, but the binding fails at run time" if weak
                       else "; the real loader refuses to start the program")))
    return out


def flavour_findings(res: Resolution) -> list[Finding]:
    proc = process_flavour(res)
    out: list[Finding] = []
    for obj in res.objects:
        if obj.via is _INTERPRETER:
            continue
        flav, why = flavour_of(obj.facts, obj.real_path)
        if flav is _NONE or flav is proc:
            continue
        loader = res.interpreter or "its loader"
        hazard = ("its unversioned references bind by name to glibc's versioned symbols"
                  if flav is Libc.MUSL else
                  "musl ignores symbol versions, so its versioned references bind by name "
                  "to musl's implementations")
        out.append(Finding(
            "libc-mix", Severity.ERROR, obj.path, loader, f"{flav.value} object in a "
            f"{proc.value} process",
            f"{obj.path} is built for {flav.value} ({why}) but is loaded into a {proc.value} "
            f"process (loader {loader}): {hazard}"))
    return out


def symbol_findings(res: Resolution, read: Callable[[LoadedObject], tuple[DynSymbol, ...]],
                    explained: frozenset[tuple[str, str]] = frozenset()) -> list[Finding]:
    """Bind every undefined dynamic symbol through the global scope (link-map order).

    ``explained`` holds (object, version) pairs already reported as version-missing: their
    references are not reported again as undefined symbols.
    """
    glibc = process_flavour(res) is Libc.GLIBC
    scope = [o for o in res.objects if o.facts is not None]
    tables: dict[int, tuple[DynSymbol, ...]] = {}
    out: list[Finding] = []
    for obj in scope:
        try:
            tables[id(obj)] = read(obj)
        except AccessError:  # ldsim may not read it, or it changed under the reads: what
            raise  # the loader would bind cannot be known (not an empty table)
        except Exception as exc:
            why = exc.reason if isinstance(exc, LdsimError) else f"{type(exc).__name__}: {exc}"
            out.append(Finding("symbols-unreadable", Severity.WARNING, obj.path, None,
                               why, f"{obj.path}: cannot read dynamic symbols ({why})"))
            tables[id(obj)] = ()
    index: dict[str, list[tuple[LoadedObject, DynSymbol]]] = {}
    for obj in scope:
        for sym in tables[id(obj)]:
            if sym.defined and sym.binding in ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"):
                index.setdefault(sym.name, []).append((obj, sym))

    def matches(ref: DynSymbol, owner: LoadedObject, sym: DynSymbol) -> bool:
        if not glibc:
            return not (sym.hidden and not sym.base)
        if ref.version is None:
            if sym.version is None or not sym.hidden:
                return True
            return len([d for o, d in index.get(ref.name, []) if o is owner]) == 1
        if sym.version is None:
            return True  # unversioned provider: accepted here, reported by version_findings
        return sym.version == ref.version

    for obj in scope:
        direct = [lk.target for lk in res.lookups
                  if lk.requester is obj and lk.kind is LookupKind.NEEDED
                  and lk.target is not None]
        for ref in tables[id(obj)]:
            if ref.defined or ref.binding == "STB_LOCAL":
                continue
            defs = index.get(ref.name, [])
            bound = next(((o, s) for o, s in defs if matches(ref, o, s)), None)
            if bound is None:
                if ref.binding == "STB_WEAK" or (obj.path, ref.version or "") in explained:
                    continue
                want = f"{ref.name}@{ref.version}" if ref.version else ref.name
                out.append(Finding(
                    "undefined-symbol", Severity.ERROR, obj.path, ref.version_file, want,
                    f"{obj.path}: undefined symbol: {ref.name}"
                    + (f", version {ref.version}" if ref.version else "")
                    + " (no loaded object defines it; binding fails when it is used)"))
                continue
            owner, sym = bound
            linked: LoadedObject | None = None
            if ref.version_file:
                linked = next((t for t in direct
                               if ref.version_file == t.path or ref.version_file in t.names),
                              None)
            if linked is None:
                linked = next((t for t in direct for o, s in defs
                               if o is t and matches(ref, o, s)), None)
            if linked is None or owner is linked or owner is obj:
                continue
            if owner.index == 0 and sym.kind == "STT_OBJECT":
                continue  # a copy relocation in the executable: the normal case for data
            flav_a = flavour_of(owner.facts, owner.real_path)[0]
            flav_b = flavour_of(linked.facts, linked.real_path)[0]
            cross = Libc.NONE not in (flav_a, flav_b) and flav_a is not flav_b
            out.append(Finding(
                "interposed-symbol", Severity.WARNING if cross else Severity.INFO, obj.path,
                owner.path, ref.name,
                f"{obj.path}: {ref.name} binds to {owner.path}, which comes earlier in the "
                f"global scope, not to {linked.path} it was linked against"
                + (f" ({flav_a.value} code standing in for {flav_b.value})" if cross else "")))
    return out


def symbols_from(view: View) -> Callable[[LoadedObject], tuple[DynSymbol, ...]]:
    """Read each object's dynamic symbols through the root's view, once per file: for a
    stable view (:attr:`~ldsim.fs.view.View.stable`), once for every program resolved in it
    (a scan with ``--symbols`` meets libc's table thousands of times), the tables used last
    kept up to :data:`KEPT_SYMBOLS` symbols in all."""
    from ldsim.elf.symbols import read_dynamic_symbols

    tables = _kept_tables(view) if view.stable else _Tables(0)

    def read(obj: LoadedObject) -> tuple[DynSymbol, ...]:
        hit = tables.get(obj.real_path)
        if hit is None:
            hit = read_dynamic_symbols(view.buffer(obj.real_path), obj.path)
            tables.put(obj.real_path, hit)
        return hit

    return read


KEPT_SYMBOLS = 200_000
"""Symbols whose tables a stable view keeps between programs (some 40 MB)."""


class _Tables:
    """Dynamic symbol tables by real path, the most recently used first to stay: at most
    ``limit`` symbols in all once the run's own are read (0: only this run's, all of them)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.by_path: dict[str, tuple[DynSymbol, ...]] = {}
        self.symbols = 0

    def get(self, path: str) -> tuple[DynSymbol, ...] | None:
        hit = self.by_path.pop(path, None)
        if hit is not None:
            self.by_path[path] = hit  # now the most recently used
        return hit

    def put(self, path: str, table: tuple[DynSymbol, ...]) -> None:
        self.by_path[path] = table
        self.symbols += len(table)
        while self.limit and self.symbols > self.limit and len(self.by_path) > 1:
            oldest = next(iter(self.by_path))
            self.symbols -= len(self.by_path.pop(oldest))


def _kept_tables(view: View) -> _Tables:
    """The tables kept for ``view`` (for as long as the view lives)."""
    global _KEPT
    if _KEPT is None:
        import weakref

        _KEPT = weakref.WeakKeyDictionary()
    tables = _KEPT.get(view)
    if tables is None:
        tables = _KEPT[view] = _Tables(KEPT_SYMBOLS)
    return tables


_KEPT: MutableMapping[View, _Tables] | None = None


_LEVELS = ((X86Isa.V2, "x86-64-v2"), (X86Isa.V3, "x86-64-v3"), (X86Isa.V4, "x86-64-v4"))


def cpu_isa(hwcaps: tuple[str, ...]) -> int:
    """The ``isa_1`` bits of a CPU whose glibc-hwcaps levels are ``hwcaps`` (baseline always)."""
    return X86Isa.BASELINE | sum(bit for bit, name in _LEVELS if name in hwcaps)


def isa_names(bits: int) -> str:
    names = [name for bit, name in _LEVELS if bits & bit]
    if bits & X86Isa.BASELINE:
        names.insert(0, "baseline")
    unknown = bits & ~(X86Isa.BASELINE | X86Isa.V2 | X86Isa.V3 | X86Isa.V4)
    if unknown:
        names.append(f"unknown bits {unknown:#x}")
    return ", ".join(names)


def isa_findings(res: Resolution) -> list[Finding]:
    """glibc's ``dl_isa_level_check`` (``sysdeps/x86/dl-prop.h``): before relocation, every
    loaded object but the loader itself must need no x86 ISA level the CPU lacks, else a real
    run aborts ("CPU ISA level is lower than required"); trace mode (ldd) exits before the
    check."""
    if process_flavour(res) is not Libc.GLIBC or res.env is None:
        return []
    objects = res.objects
    main = objects[0].facts if objects else None
    if main is None or main.machine not in (Machine.X86_64, Machine.I386):
        return []  # the property number means something else on other machines
    # (most objects need no level: then the CPU's are not even looked at)
    needing = [(obj, obj.facts.x86_isa_needed) for obj in objects
               if obj.facts is not None and obj.facts.x86_isa_needed
               and obj.via is not _INTERPRETER]
    if not needing:
        return []
    have = cpu_isa(res.env.isa if res.env.isa is not None else (res.env.hwcaps or ()))
    out: list[Finding] = []
    for obj, needed in needing:
        if needed & have == needed:
            continue
        missing = needed & ~have
        out.append(Finding(
            "isa-level", Severity.ERROR, obj.path, None, isa_names(missing),
            f"{obj.path} needs x86 ISA level {isa_names(needed)} "
            f"(GNU_PROPERTY_X86_ISA_1_NEEDED), but the simulated CPU offers "
            f"{isa_names(have)} (--hwcaps): a real run aborts with 'CPU ISA level is lower "
            "than required' (ldd does not check it)"))
    return out


def analyse(res: Resolution, view: View | None = None) -> list[Finding]:
    """Findings, sorted. With a ``view``, also bind every symbol (undefined/interposed).

    A load that aborts never reaches the version checks nor any binding (``dl_main`` stops at
    the error): then only what is known of the objects loaded so far is reported."""
    if res.error is not None:
        return sorted(flavour_findings(res), key=Finding.sort_key)
    versions = version_findings(res)
    findings = flavour_findings(res) + versions + isa_findings(res)
    if view is not None:
        # a missing version aborts the start (reported once); a *weak* one only warns at
        # start, and each non-weak reference to it then fails to bind: those are reported
        explained = frozenset((f.object, f.detail) for f in versions
                              if f.id == "version-missing" and f.severity is Severity.ERROR)
        findings += symbol_findings(res, symbols_from(view), explained)
    unique = {(f.id, f.object, f.library, f.detail): f for f in findings}
    return sorted(unique.values(), key=Finding.sort_key)
