"""What a loader model produces: every object, every lookup, every probe.

``explain`` and every renderer are queries over these values. The string values of the
enums are the JSON contract (schema ``ldsim.explain/1``).
"""

from __future__ import annotations

from enum import StrEnum

from ldsim.config.env import LoaderEnv
from ldsim.elf.facts import ElfFacts
from ldsim.elf.flavour import Libc
from ldsim.fs.view import Realm
from ldsim.records import field, record
from ldsim.registry import display


class Via(StrEnum):
    """How an object was found (a loaded object's ``via``, or a lookup's)."""

    EXECUTABLE = "executable"
    INTERPRETER = "interpreter"
    PRELOAD = "preload"
    RPATH = "rpath"
    LD_LIBRARY_PATH = "ld_library_path"
    RUNPATH = "runpath"
    CACHE = "ld.so.cache"
    DEFAULT = "default"
    DIRECT = "direct"
    ALREADY_LOADED = "already_loaded"


class Outcome(StrEnum):
    """What happened when the loader probed one candidate path."""

    FOUND = "found"
    SAME_FILE = "same_file"  # the file is an already loaded object (device and inode)
    ABSENT = "absent"  # ENOENT, ENOTDIR, dangling symlink: try the next candidate
    UNREADABLE = "unreadable"  # EACCES: try the next candidate
    WRONG_CLASS = "wrong_class"
    WRONG_MACHINE = "wrong_machine"
    ABI_NOTE = "abi_note"  # .note.ABI-tag for another OS or a newer kernel: skipped
    NOT_SUID = "not_suid"  # secure-mode preload without the set-uid bit: skipped
    LOOP = "loop"  # ELOOP & co: the rest of this search list is abandoned
    FILTERED = "filtered"  # a cache result dropped by DF_1_NODEFLIB
    NOT_ELF = "not_elf"  # fatal: invalid ELF header, file too short
    FATAL = "fatal"  # fatal: any other hard rejection (aborts the whole load)


class Severity(StrEnum):
    """How bad a finding or diagnostic is; the order (error, warning, info) is defined here
    only: :attr:`rank` (0 is the worst) and :meth:`at_least`."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, threshold: Severity) -> bool:
        """Whether this severity is ``threshold`` or worse."""
        return self.rank <= threshold.rank


_SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


class LookupKind(StrEnum):
    """What made the loader look a name up."""

    NEEDED = "needed"  # a DT_NEEDED entry
    LD_PRELOAD = "LD_PRELOAD"
    PRELOAD_FILE = "/etc/ld.so.preload"
    DLOPEN = "dlopen"  # a dlopen() call after the initial load (ldsim explain --dlopen)


class DlopenSource(StrEnum):
    """How ldsim knows an object calls ``dlopen`` on a name."""

    NOTE = "note"  # an ELF dlopen metadata note (.note.dlopen): declared by its authors
    HINT = "hint"  # a soname-like string in the read-only data of an object importing dlopen
    USER = "user"  # --dlopen-add


@record(frozen=True, slots=True)
class DlopenRequest:
    """One dependency loaded with ``dlopen`` after the initial load: the object that calls it
    (``caller``: its path as loaded, or None for the main program), the names it tries,
    most preferred first (the first that loads wins), and what the declaration says."""

    caller: str | None
    names: tuple[str, ...]
    feature: str | None = None
    priority: str = "recommended"  # required | recommended | suggested
    description: str | None = None
    source: DlopenSource = DlopenSource.NOTE


class DlopenStatus(StrEnum):
    """What a dlopen call did (the values are the JSON contract)."""

    LOADED = "loaded"  # a new object (and its own dependencies) joined the process
    ALREADY_LOADED = "already_loaded"  # the name matched an object already in the process
    MISSING = "missing"  # no alternative was found
    FAILED = "failed"  # found, but dlopen fails (a dependency missing, an unusable file)
    NOT_CALLED = "not_called"  # the caller is not in this process


@record(frozen=True, slots=True)
class Attempt:
    """One probe: the path string tried, which search step it belongs to, and the result."""

    path: str
    source: str  # in LD_DEBUG's words: "RPATH from file /usr/bin/foo", "system search path"
    via: Via
    outcome: Outcome
    detail: str = ""


@record(frozen=True, slots=True)
class SearchMark:
    """Where glibc's ``LD_DEBUG=libs`` prints a search line, before attempt ``at``: a
    ``search path=`` line (``dirs``: every directory, hwcaps subdirectories included, not yet
    known to be missing, as glibc prints them; ``label``: the list that created the first of
    them, ``RPATH from file X``, ``LD_LIBRARY_PATH``, ``system search path``...) or, with
    ``dirs`` None, the ``search cache=`` line (``label``: the cache file)."""

    at: int
    dirs: tuple[str, ...] | None
    label: str

    @property
    def line(self) -> str:
        """The line as ``LD_DEBUG=libs`` prints it (without its pid prefix)."""
        if self.dirs is None:
            return f"search cache={self.label}"
        return f"search path={':'.join(self.dirs)}\t\t({self.label})"


@record(frozen=True, slots=True, eq=False)
class LoadedObject:
    """One object in the process: how it was found and what it is. Compared by identity."""

    index: int  # load order (0 = executable)
    name: str  # the (expanded) request that first loaded it
    path: str  # the path string as the loader opened it (unnormalised)
    real_path: str  # canonical path inside the root (symlinks resolved)
    via: Via
    needed_by: LoadedObject | None
    facts: ElfFacts | None
    origin: str | None
    names: tuple[str, ...] = ()  # every name it answered to (requests, SONAME matches)
    file_id: tuple[int, int] | None = None
    realm: Realm = Realm.ROOT  # payload | base | host in a snap's runtime view
    dlopened: bool = False  # loaded by a dlopen after the initial load


@record(frozen=True, slots=True, eq=False)
class Lookup:
    """One DT_NEEDED entry (or preload) of one object and how it was resolved."""

    requester: LoadedObject | None  # None for a preload from /etc/ld.so.preload
    name: str  # as written in DT_NEEDED / the preload list
    request: str  # after dynamic string token expansion
    target: LoadedObject | None
    via: Via | None
    attempts: tuple[Attempt, ...] = ()
    kind: LookupKind = LookupKind.NEEDED
    note: str = ""
    searches: tuple[SearchMark, ...] = ()  # glibc's LD_DEBUG search lines, among attempts


@record(frozen=True, slots=True, eq=False)
class DlopenResult:
    """What one :class:`DlopenRequest` did: the alternative that loaded (``name``, ``target``),
    or why none did (``reason``: the last alternative's failure, in the loader's words);
    ``tried``: the alternatives tried, in order (each is a ``dlopen`` lookup)."""

    request: DlopenRequest
    status: DlopenStatus
    name: str | None = None
    target: LoadedObject | None = None
    tried: tuple[str, ...] = ()
    reason: str = ""


@record(frozen=True, slots=True)
class Unresolved:
    """A DT_NEEDED name nothing was found for (glibc's ``NAME => not found``)."""

    name: str
    needed_by: LoadedObject | None
    reason: str = ""  # musl's error text ("No such file or directory", "Exec format error")


@record(frozen=True, slots=True)
class LoadError:
    """A hard rejection that aborts the whole program load (also in trace mode)."""

    name: str
    path: str | None
    needed_by: LoadedObject | None
    reason: str
    loader_message: str  # what ld.so prints after "error while loading shared libraries: "


@record(frozen=True, slots=True)
class Diagnostic:
    """Something worth knowing about the run's inputs (an unreadable cache, a fallback)."""

    severity: Severity
    message: str
    path: str | None = None


@record(frozen=True, slots=True, eq=False)
class Resolution:
    """A finished model run: every object in link-map order, every lookup with every probe,
    the load error if the load aborts, and what the model noticed on the way. Immutable."""

    root: str
    loader: Libc  # the loader model that ran: glibc or musl
    executable: str
    interpreter: str | None
    link_map: tuple[LoadedObject | Unresolved, ...] = ()
    # made when first read (a scan's summary never reads them): see Walk._freeze
    lookups: tuple[Lookup, ...] = field(default=(), lazy=True)
    error: LoadError | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    static: bool = False
    # What the loader's trace/list mode prints, in order (vDSO and main program left out):
    # (name, path) or (name, None) for glibc's "NAME => not found".
    listing: tuple[tuple[str, str | None], ...] = ()
    env: LoaderEnv | None = None  # the simulated process the loader ran in
    dlopens: tuple[DlopenResult, ...] = ()  # after the initial load, in call order
    # link_map split by kind, when first asked for (the value is immutable)
    _split: tuple[tuple[LoadedObject, ...], tuple[Unresolved, ...]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def _parts(self) -> tuple[tuple[LoadedObject, ...], tuple[Unresolved, ...]]:
        split = self._split
        if split is None:
            split = (tuple(e for e in self.link_map if isinstance(e, LoadedObject)),
                     tuple(e for e in self.link_map if isinstance(e, Unresolved)))
            object.__setattr__(self, "_split", split)
        return split

    @property
    def objects(self) -> list[LoadedObject]:
        return list(self._parts()[0])

    @property
    def unresolved(self) -> list[Unresolved]:
        return list(self._parts()[1])

    @property
    def ok(self) -> bool:
        return self.error is None and not self.unresolved

    # A notebook shows a resolution as its dependency graph, through the renderer registry
    # (filled by ldsim.renderers; nothing here imports a renderer).
    def _repr_svg_(self) -> str | None:
        return display(self, "image/svg+xml")

    def _repr_html_(self) -> str | None:
        return display(self, "text/html")
