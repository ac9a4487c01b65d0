"""glibc's search directories: one shared record per directory string, with an existence memo.

Follows ``elf/dl-load.c``: ``fillin_rpath`` turns a path list into records
(``struct r_search_path_elem``), reusing the record of a directory string already known (from
any list: the system directories are created first, at start-up, then the program's RPATH or
RUNPATH, then LD_LIBRARY_PATH, then other objects' lists when first needed); each record
remembers, per hwcaps subdirectory, whether it exists (unknown until a candidate in it fails to
open and ``stat`` says, or one opens). ``open_path`` skips subdirectories known to be missing,
and a list of an object (RPATH, RUNPATH) none of whose directories exists is dropped for good.
A record is labelled by the list that created it (``what``, ``where``): that is what
``LD_DEBUG=libs`` prints in ``search path=... (WHAT from file WHERE)``.
"""

from __future__ import annotations

from enum import Enum

from ldsim.records import field, record
from ldsim.result import SearchMark, Via


class DirStatus(Enum):
    UNKNOWN = 0
    EXISTING = 1
    NONEXISTING = 2


_UNKNOWN = DirStatus.UNKNOWN  # (a module name is read faster than an enum member)


@record(slots=True, eq=False)
class DirElem:
    """One directory (with exactly one trailing ``/``; ``""`` is the working directory)."""

    dirname: str
    what: str  # "system search path", "RPATH", "RUNPATH", "LD_LIBRARY_PATH"
    where: str | None  # the object whose list created the record (RPATH/RUNPATH)
    status: list[DirStatus]
    # what search_mark shows of it, per status snapshot (statuses change a few times a run)
    shown: dict[tuple[int, ...], tuple[str, ...]] = field(default_factory=dict)

    def texts(self, capstr: tuple[str, ...]) -> tuple[str, ...]:
        """The subdirectories not known to be missing, without their trailing ``/``."""
        key = tuple(map(id, self.status))  # members are singletons; Enum.__hash__ is slow
        hit = self.shown.get(key)
        if hit is None:
            # the same directories, in the same states, come back in run after run
            shared = (self.dirname, key, capstr)
            hit = _SHOWN.get(shared)
            if hit is None:
                out = []
                for status, sub in zip(self.status, capstr, strict=True):
                    if status is not DirStatus.NONEXISTING:
                        text = self.dirname + sub
                        out.append(text if text in ("", "/") else text[:-1])
                hit = tuple(out)
                if len(_SHOWN) >= _SHOWN_MAX:
                    _SHOWN.clear()
                _SHOWN[shared] = hit
            self.shown[key] = hit
        return hit


# DirElem.texts across runs: (directory, ids of its statuses, subdirectories) -> texts
_SHOWN: dict[tuple[str, tuple[int, ...], tuple[str, ...]], tuple[str, ...]] = {}
_SHOWN_MAX = 4096


@record(slots=True, eq=False)
class SearchList:
    """One search list (``struct r_search_path_struct``) and how ldsim reports what it finds."""

    dirs: list[DirElem]
    via: Via
    source: str  # ldsim's label for the list: "RPATH from file X", "LD_LIBRARY_PATH", ...
    droppable: bool  # an object's RPATH/RUNPATH (the system and LD_LIBRARY_PATH lists stay)
    dropped: bool = False


@record(slots=True)
class Directories:
    """Every directory record of one process, by directory string."""

    ncap: int
    known: dict[str, DirElem] = field(default_factory=dict)

    def elem(self, dirname: str, what: str, where: str | None) -> DirElem:
        """The record of ``dirname``: the existing one, or a new one labelled ``what`` from
        ``where`` (relative directories are never marked missing: the working directory may
        change)."""
        hit = self.known.get(dirname)
        if hit is None:
            init = _UNKNOWN if dirname.startswith("/") else DirStatus.EXISTING
            hit = self.known[dirname] = DirElem(dirname, what, where, [init] * self.ncap)
        return hit

    def search_list(self, dirnames: list[str], what: str, where: str | None, via: Via,
                    source: str, droppable: bool) -> SearchList | None:
        """``fillin_rpath``: records for the directories (each once per list); None when the
        list ends up empty."""
        dirs: list[DirElem] = []
        for d in dirnames:
            elem = self.elem(d, what, where)
            if elem not in dirs:
                dirs.append(elem)
        return SearchList(dirs, via, source, droppable) if dirs else None


def search_mark(at: int, dirs: list[DirElem], capstr: tuple[str, ...]) -> SearchMark:
    """``print_search_path``: from the first record on, every record created by the same list
    kind, each subdirectory not known to be missing, without its trailing ``/`` (``/`` and
    ``""`` stay as they are); labelled by the first record's list."""
    first = dirs[0]
    shown: tuple[str, ...] = ()
    for d in dirs:
        if d.what != first.what:
            break
        shown += d.texts(capstr)
    label = f"{first.what} from file {first.where}" if first.where is not None else first.what
    return SearchMark(at, shown, label)


__all__ = ["DirElem", "DirStatus", "Directories", "SearchList", "search_mark"]
