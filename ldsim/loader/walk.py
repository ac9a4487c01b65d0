"""The breadth-first walk both loaders share, and the hooks each flavour fills in.

Both glibc (``elf/dl-deps.c``, ``_dl_map_object_deps``) and musl (``load_deps`` in
``ldso/dynlink.c``) walk a work list from the main program onwards, resolve each object's
DT_NEEDED in dynamic-section order, and append each newly loaded object at the tail. What
differs (how a name is matched and searched, which files are acceptable, what preloads see,
where the interpreter is listed) is each model's business.

During the walk the models work on mutable *records* (an object's names grow as later
requests match it, a lookup's attempts accumulate); :meth:`Walk.run` returns them frozen as
one finished :class:`~ldsim.result.Resolution`, with every object's realm taken from the view
and every diagnostic and the load error in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ldsim.config.env import LoaderEnv
from ldsim.elf.facts import ElfFacts
from ldsim.elf.flavour import Libc
from ldsim.fs.view import View
from ldsim.loader.probe import FileCache
from ldsim.records import field, lazy, record
from ldsim.result import (
    Attempt,
    Diagnostic,
    DlopenRequest,
    DlopenResult,
    DlopenStatus,
    LoadedObject,
    LoadError,
    Lookup,
    LookupKind,
    Resolution,
    SearchMark,
    Unresolved,
    Via,
)


@record(slots=True, eq=False)
class ObjectRecord:
    """A loaded object while the walk is under way (see :class:`~ldsim.result.LoadedObject`)."""

    index: int
    name: str
    path: str
    real_path: str
    via: Via
    needed_by: ObjectRecord | None
    facts: ElfFacts | None
    origin: str | None
    names: list[str] = field(default_factory=list)
    file_id: tuple[int, int] | None = None
    dlopened: bool = False


@record(slots=True, eq=False)
class LookupRecord:
    """A lookup while the walk is under way (see :class:`~ldsim.result.Lookup`)."""

    requester: ObjectRecord | None
    name: str
    request: str
    target: ObjectRecord | None
    via: Via | None
    attempts: list[Attempt] = field(default_factory=list)
    kind: LookupKind = LookupKind.NEEDED
    note: str = ""
    searches: list[SearchMark] = field(default_factory=list)


@record(frozen=True, slots=True)
class UnresolvedRecord:
    name: str
    needed_by: ObjectRecord | None
    reason: str = ""


@record(frozen=True, slots=True)
class ErrorRecord:
    name: str
    path: str | None
    needed_by: ObjectRecord | None
    reason: str
    loader_message: str


Entry = ObjectRecord | UnresolvedRecord

AlreadyLoaded = tuple[ObjectRecord, str, ObjectRecord]
"""A DT_NEEDED lookup of a name without dynamic string tokens that an object already loaded
answered, nothing searched: (requester, name, that object). Most lookups of a run are such;
frozen, it is the :class:`~ldsim.result.Lookup` a :class:`LookupRecord` of it would give
(request = name, via ALREADY_LOADED, no attempts, kind NEEDED, no note, no searches)."""

DlopenCalls = (Sequence[DlopenRequest]
               | Callable[[Sequence[ObjectRecord]], Sequence[DlopenRequest]])
"""The ``dlopen`` calls of a run: a list, or a function of the objects of the initial load
(in link-map order) giving it, called once that load is done (and not when it failed)."""


_ALREADY_LOADED = Via.ALREADY_LOADED


class Abort(Exception):
    """A hard rejection: the real loader stops the whole program."""

    def __init__(self, error: ErrorRecord) -> None:
        super().__init__(error.loader_message)
        self.error = error


class Walk:
    """Template for one run: set up, preload, breadth-first over DT_NEEDED, finish, freeze."""

    flavour = Libc.NONE

    def __init__(self, view: View, env: LoaderEnv, files: FileCache | None = None) -> None:
        self.view = view
        self.env = env
        self.files = files or FileCache(view)

    def run(self, exe_path: str, exe_facts: ElfFacts, *,
            before: Sequence[Diagnostic] = (), after: Sequence[Diagnostic] = (),
            interpreter: str | None = None,
            refuse: tuple[str, str] | None = None,
            dlopen: DlopenCalls = ()) -> Resolution:
        """Resolve ``exe_path``. ``before`` and ``after`` are diagnostics about the run's
        inputs, placed around the model's own; ``interpreter`` is the loader the kernel (or
        ``ldd``) must find for the program to start at all: when it does not exist, nothing
        is loaded (execve fails with ENOENT). ``refuse`` is (reason, loader message) when the
        program itself cannot be started or mapped (its PT_INTERP, its PT_DYNAMIC): nothing is
        loaded either. ``dlopen``: the ``dlopen`` calls made after the initial load, in order
        (each caller's, as the loader would serve them; a failed one leaves nothing behind),
        or a function of the initial load's objects giving them (see :data:`DlopenCalls`)."""
        self.interpreter = exe_facts.interp
        self.lookups: list[LookupRecord | AlreadyLoaded] = []
        self.diagnostics: list[Diagnostic] = list(before)
        self.listing: list[tuple[str, str | None]] = []
        self.error: ErrorRecord | None = None
        self.dlopen_records: list[tuple[DlopenRequest, DlopenStatus, str | None,
                                        ObjectRecord | None, tuple[str, ...], str]] = []
        self.expected = exe_facts.ident
        real_exe = self.view.resolve(exe_path, cwd=self.env.cwd)
        self.main = ObjectRecord(0, exe_path, exe_path, real_exe, Via.EXECUTABLE, None,
                                 exe_facts, self.main_origin(exe_path, real_exe))
        self.chain: list[Entry] = [self.main]
        self.search_list: list[ObjectRecord] = [self.main]
        self.loaded: list[ObjectRecord] = []  # the chain's objects after the main program
        self.unloaded: list[ObjectRecord] = []  # what failed dlopen calls unloaded
        if refuse is not None:
            self.interpreter = interpreter or exe_facts.interp
            self.error = ErrorRecord(exe_path, exe_path, None, *refuse)
            self.diagnostics.extend(after)
            return self._freeze(exe_path, exe_facts, self.number(self.chain))
        if interpreter and not self.view.exists(interpreter, cwd=self.env.cwd):
            # (a relative PT_INTERP is the kernel's open from the working directory)
            # execve fails before any loader runs: nothing is loaded, nothing searched.
            self.error = ErrorRecord(
                interpreter, interpreter, None,
                "interpreter not found (the kernel cannot start the program)",
                f"{interpreter}: No such file or directory")
            self.diagnostics.extend(after)
            return self._freeze(exe_path, exe_facts, self.number(self.chain))
        try:
            self.start()
            self.run_needed(0)
        except Abort as abort:
            self.error = abort.error
        link_map = self.finish()
        calls: Sequence[DlopenRequest] = ()
        if self.error is None:
            calls = dlopen([e for e in link_map if isinstance(e, ObjectRecord)]) \
                if callable(dlopen) else dlopen
        if calls:
            for request in calls:
                self._dlopen(request)
            link_map = self.final_link_map()
        self.diagnostics.extend(after)
        return self._freeze(exe_path, exe_facts, link_map)

    # -- dlopen after the initial load ---------------------------------------------------
    def _dlopen(self, request: DlopenRequest) -> None:
        caller = self._caller(request.caller)
        if caller is None:
            self.dlopen_records.append((request, DlopenStatus.NOT_CALLED, None, None, (),
                                        f"{request.caller} is not loaded by this program"))
            return
        tried: list[str] = []
        reason = ""
        missing = True
        for name in request.names:
            tried.append(name)
            target, already, why, absent = self.dlopen_one(caller, name)
            if target is not None:
                status = DlopenStatus.ALREADY_LOADED if already else DlopenStatus.LOADED
                self.dlopen_records.append((request, status, name, target, tuple(tried), ""))
                return
            reason = why
            missing = missing and absent
        status = DlopenStatus.MISSING if missing else DlopenStatus.FAILED
        self.dlopen_records.append((request, status, None, None, tuple(tried), reason))

    def _caller(self, path: str | None) -> ObjectRecord | None:
        if path is None:
            return self.main
        for entry in self.chain:
            if isinstance(entry, ObjectRecord) and path in (entry.path, entry.real_path):
                return entry
        return None

    def dlopen_one(self, caller: ObjectRecord, name: str
                   ) -> tuple[ObjectRecord | None, bool, str, bool]:
        """``dlopen(name)`` called from ``caller``: (the object, whether it was already
        loaded, '', False) or (None, False, the error dlerror() gives, whether the name itself
        was found nowhere). Each flavour's own."""
        raise NotImplementedError

    def final_link_map(self) -> list[Entry]:
        """The link map after the dlopen calls (the listing stays the initial load's)."""
        return self.number(self.chain)

    def mark(self) -> tuple[int, int, int, int, int]:
        """Where the process stands, to undo a failed dlopen (:meth:`undo`)."""
        return (len(self.chain), len(self.loaded), len(self.search_list), len(self.lookups),
                len(self.listing))

    def undo(self, mark: tuple[int, int, int, int, int]) -> None:
        """A failed dlopen unloads what it loaded (glibc ``_dl_close_worker``; musl reverts
        its tail): the objects go; the lookups it made stay (the loader made those searches:
        ``LD_DEBUG`` shows them), naming objects no longer in the link map."""
        chain, loaded, search, _lookups, listing = mark
        self.unloaded.extend(e for e in self.chain[chain:] if isinstance(e, ObjectRecord))
        del self.chain[chain:], self.loaded[loaded:], self.search_list[search:]
        del self.listing[listing:]

    def run_needed(self, start: int) -> None:
        """The breadth-first walk over DT_NEEDED from ``search_list[start]`` on."""
        i = start
        while i < len(self.search_list):
            obj = self.search_list[i]
            i += 1
            if obj.facts is None:
                continue
            for name in obj.facts.needed:
                self.needed(obj, name)

    # -- hooks -------------------------------------------------------------------------
    def main_origin(self, exe_path: str, real_exe: str) -> str | None:
        raise NotImplementedError

    def start(self) -> None:
        """Interpreter and preloads, before the main program's dependencies."""
        raise NotImplementedError

    def needed(self, requester: ObjectRecord, name: str) -> None:
        raise NotImplementedError

    def finish(self) -> list[Entry]:
        """The link map, in order (indexes numbered)."""
        raise NotImplementedError

    # -- shared bookkeeping ------------------------------------------------------------
    def add_object(self, obj: ObjectRecord) -> ObjectRecord:
        self.chain.append(obj)
        self.loaded.append(obj)
        self.search_list.append(obj)
        return obj

    def lookup(self, requester: ObjectRecord | None, name: str,
               kind: LookupKind = LookupKind.NEEDED) -> LookupRecord:
        """A new lookup, recorded in the order the loader makes them."""
        lk = LookupRecord(requester, name, name, None, None, kind=kind)
        self.lookups.append(lk)
        return lk

    def abort(self, name: str, path: str | None, requester: ObjectRecord | None, reason: str,
              message: str) -> None:
        raise Abort(ErrorRecord(name, path, requester, reason, message))

    @staticmethod
    def number(chain: list[Entry]) -> list[Entry]:
        for idx, entry in enumerate(e for e in chain if isinstance(e, ObjectRecord)):
            entry.index = idx
        return chain

    # -- the finished value ------------------------------------------------------------
    def _freeze(self, exe_path: str, exe_facts: ElfFacts, link_map: list[Entry]) -> Resolution:
        frozen: dict[ObjectRecord | None, LoadedObject] = {}
        known = frozen.get  # (None and records not frozen yet: None, and obj() it is)

        realm_of = self.view.realm_of

        def make(r: ObjectRecord, parent: LoadedObject | None) -> LoadedObject:
            made = frozen[r] = LoadedObject(
                r.index, r.name, r.path, r.real_path, r.via, parent, r.facts, r.origin,
                tuple(r.names), r.file_id, realm_of(r.real_path), r.dlopened)
            return made

        def obj(rec: ObjectRecord | None) -> LoadedObject | None:
            if rec is None:
                return None
            hit = known(rec)
            if hit is not None:
                return hit
            up = rec.needed_by
            if up is None:
                return make(rec, None)
            parent = known(up)
            if parent is not None:  # most are: their loader came first
                return make(rec, parent)
            pending: list[ObjectRecord] = []
            cur: ObjectRecord | None = rec
            while cur is not None and cur not in frozen:  # ancestors first, no recursion
                pending.append(cur)
                cur = cur.needed_by
            for r in reversed(pending):
                make(r, frozen[r.needed_by] if r.needed_by is not None else None)
            return frozen[rec]

        entries: list[LoadedObject | Unresolved] = []
        for e in link_map:
            if isinstance(e, ObjectRecord):
                done = obj(e)
                assert done is not None
                entries.append(done)
            else:
                entries.append(Unresolved(e.name, obj(e.needed_by), e.reason))
        # Every object a lookup can name is frozen now: those of the link map, the objects
        # failed dlopen calls unloaded, the interpreter. The lookups themselves are frozen
        # when first read, from what this run left (this run's, finished: nothing changes
        # them any more) and nothing else: not the view, nor the model.
        for rec in (*self.unloaded, getattr(self, "interp", None)):
            obj(rec)
        records = self.lookups

        def lookups() -> tuple[Lookup, ...]:
            made: dict[ObjectRecord | None, LoadedObject | None] = {None: None, **frozen}
            return tuple([
                Lookup(made[lk[0]], lk[1], lk[1], made[lk[2]], _ALREADY_LOADED)
                if isinstance(lk, tuple) else
                Lookup(made[lk.requester], lk.name, lk.request, made[lk.target], lk.via,
                       tuple(lk.attempts), lk.kind, lk.note, tuple(lk.searches))
                for lk in records])
        err = self.error
        error = None if err is None else LoadError(err.name, err.path, obj(err.needed_by),
                                                   err.reason, err.loader_message)
        return Resolution(
            root=self.view.name, loader=self.flavour, executable=exe_path,
            interpreter=self.interpreter, link_map=tuple(entries),
            # some 28 per program, most never read (a scan's summary needs none): frozen
            # when first asked for
            lookups=lazy(lookups),
            error=error, diagnostics=tuple(self.diagnostics),
            static=exe_facts.interp is None and not exe_facts.needed
            and exe_facts.interp_error is None and not exe_facts.empty_dynamic,
            listing=tuple(self.listing), env=self.env,
            dlopens=tuple(DlopenResult(req, status, name, obj(target), tried, reason)
                          for req, status, name, target, tried, reason in self.dlopen_records))
