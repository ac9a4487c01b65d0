"""A model of musl 1.2.3's dynamic loader (``ldso/dynlink.c``).

``load_library``: names musl implements itself (``libc.``, ``libpthread.``, ``librt.``,
``libm.``, ``libdl.``, ``libutil.``, ``libxnet.`` and the loader's own path) resolve to the
loader; other bare names are matched against loaded objects by *short name* (the basename
of the path a search found), never by DT_SONAME; then LD_LIBRARY_PATH, then the rpath of
the requester and of every ``needed_by`` ancestor (``fixup_rpath``: RUNPATH if present,
else RPATH, both inherited; only ``$ORIGIN`` expanded, an rpath with any other ``$`` is
ignored), then the system path from ``PREFIX/etc/ld-musl-ARCH.path``. ``path_open`` takes
the first file that opens (ENOENT, ENOTDIR, EACCES, ENAMETOOLONG go on; anything else
ends the lookup); ``map_library`` then accepts or fails it without trying further
directories and without checking class or machine. A failed dependency is reported and the
walk goes on (``load_direct_deps``). ``docs/loader-model.md`` lists the rules and the oracle
tests that pin them (``tests/oracle/test_musl.py``).
"""

from __future__ import annotations

import re

from ldsim.buffers import Buffer
from ldsim.config.env import Invocation, LoaderEnv, may_read
from ldsim.elf.facts import LOADABLE_TYPES, ElfData, ElfFacts, ehdr_size
from ldsim.elf.flavour import Libc
from ldsim.errors import ElfError, FsError
from ldsim.fs.view import FileStat, View, bytes_at_least, dirname, join
from ldsim.loader.probe import FileCache
from ldsim.loader.walk import Entry, LookupRecord, ObjectRecord, UnresolvedRecord, Walk
from ldsim.result import Attempt, Diagnostic, LookupKind, Outcome, Severity, Via

RESERVED = ("c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet.")
DEFAULT_SYSTEM_PATH = "/lib:/usr/local/lib:/usr/lib"
_SOFT = {"ENOENT", "ENOTDIR", "EACCES", "ENAMETOOLONG"}
_STRERROR = {
    "ENOENT": "No such file or directory", "ELOOP": "Symbolic link loop",
    "EISDIR": "Is a directory", "ENOEXEC": "Exec format error", "EACCES": "Permission denied",
    "ENOTDIR": "Not a directory", "ENAMETOOLONG": "Filename too long",
    "EINVAL": "Invalid argument", "ENXIO": "No such device or address",
    "": "No error information",
}
_ARCH = re.compile(r"ld-musl-([A-Za-z0-9_]+)\.so")


def musl_arch(interp: str) -> str:
    m = _ARCH.search(interp.rsplit("/", 1)[-1])
    return m.group(1) if m else "x86_64"


def path_file_for(interp: str) -> str:
    """``PREFIX/etc/ld-musl-ARCH.path``: PREFIX is PT_INTERP minus its last two components."""
    prefix = ""
    if interp.startswith("/"):
        slashes = [i for i, ch in enumerate(interp) if ch == "/"]
        prefix = interp[:slashes[-2]] if len(slashes) >= 2 else ""
    return f"{prefix}/etc/ld-musl-{musl_arch(interp)}.path"


def reserved_kind(name: str) -> str | None:
    if not name.startswith("lib"):
        return None
    rest = name[3:]
    return next((r for r in RESERVED if rest.startswith(r)), None)


class _Failed(Exception):
    def __init__(self, errno_name: str) -> None:
        super().__init__(errno_name)
        self.errno_name = errno_name


class MuslModel(Walk):
    """musl's ``__dls3``/``load_deps``/``load_library`` on a root, in ``ldd`` mode."""

    flavour = Libc.MUSL

    def __init__(self, view: View, env: LoaderEnv, files: FileCache | None = None,
                 interp: str | None = None) -> None:
        super().__init__(view, env, files)
        self.interp_path = interp  # PT_INTERP, or the loader musl's `ldd` is for a library
        self._rpaths: dict[ObjectRecord, tuple[str | None, Via]] = {}
        self.shortnames: dict[ObjectRecord, str] = {}  # object -> basename of a searched path

    # -- hooks -------------------------------------------------------------------------
    def main_origin(self, exe_path: str, real_exe: str) -> str | None:
        """Kernel-mapped program: /proc/self/exe. ``ld-musl PROG``: PROG as given, not
        made absolute (``fixup_rpath``); ``.`` when it has no slash."""
        if self.env.invocation is Invocation.EXEC:
            return dirname(real_exe)
        return dirname(exe_path) if "/" in exe_path else "."

    def start(self) -> None:
        facts = self.main.facts
        interp = self.interp_path or (facts.interp if facts else None)
        self.interpreter = interp
        self.interp = ObjectRecord(1, interp or "ld-musl", interp or "ld-musl",
                                   interp or "ld-musl", Via.INTERPRETER, None, None, None,
                                   names=[])
        if interp:
            try:
                parts = self.view.resolve_parts(interp, cwd=self.env.cwd)  # (a relative
                self.interp.real_path = "/" + "/".join(parts)  # one: from the cwd, as execve)
                # musl never records its own device and inode (__dls2b): no file_id.
                st, data = self.files.read(parts, interp)
                self.interp.facts = self.files.facts(st, data, interp)
            except (FsError, ElfError):
                pass
        self.chain.append(self.interp)
        self.loaded.append(self.interp)
        self.listing.append((self.interp.path, self.interp.path))
        self.reported: set[str] = set()
        self.errno = ""  # musl reports the errno of the last failed call ("" = 0)
        self._sys: tuple[str, str] | None = None
        if self.env.preload and not self.env.secure:
            for name in re.split(r"[\s:]+", self.env.preload):
                if name:
                    self._preload(name)

    def finish(self) -> list[Entry]:
        return self.number(self.chain)

    def dlopen_one(self, caller: ObjectRecord, name: str
                   ) -> tuple[ObjectRecord | None, bool, str, bool]:
        """musl's ``dlopen``: ``load_library(file, head)``: the search is the main program's
        (LD_LIBRARY_PATH, the program's RPATH and RUNPATH, the system path), whoever calls;
        then ``load_deps`` of the new object. Any failure longjmps back and unmaps what the
        call loaded; dlerror() says ``Error loading shared library NAME: ERROR``."""
        mark = self.mark()
        lk = self.lookup(caller, name, LookupKind.DLOPEN)
        self._load_library(lk, name, self.main)
        target = lk.target
        if target is None:
            error = lk.note or "No such file or directory"
            reason = f"Error loading shared library {name}: {error}"
            self._undo(mark, lk, reason)
            return None, False, reason, error == "No such file or directory"
        if len(self.search_list) == mark[2]:
            del self.listing[mark[4]:]  # the listing is ldd's: the initial load only
            return target, True, "", False
        self.run_needed(mark[2])
        missing = next((e for e in self.chain[mark[0]:] if isinstance(e, UnresolvedRecord)),
                       None)
        if missing is not None:
            by = missing.needed_by.path if missing.needed_by is not None else "?"
            reason = (f"Error loading shared library {missing.name}: "
                      f"{missing.reason or 'No such file or directory'} (needed by {by})")
            self._undo(mark, lk, reason)
            return None, False, reason, False
        for obj in self.loaded[mark[1]:]:
            obj.dlopened = True
        del self.listing[mark[4]:]
        return target, False, "", False

    def _undo(self, mark: tuple[int, int, int, int, int], lk: LookupRecord,
              reason: str) -> None:
        gone = self.loaded[mark[1]:]
        self.undo(mark)
        for obj in gone:
            self.shortnames.pop(obj, None)
        lk.target, lk.via, lk.note = None, None, reason

    def needed(self, requester: ObjectRecord, name: str) -> None:
        lk = self.lookup(requester, name)
        self._load_library(lk, name, requester)
        if lk.target is None:
            self.chain.append(UnresolvedRecord(name, requester, lk.note))

    # -- configuration -----------------------------------------------------------------
    def _system_path(self) -> tuple[str, str]:
        """Read once, when a search first needs it (the failed open sets errno, as in musl)."""
        if self._sys is None:
            path_file = path_file_for(self.interp.path)
            try:
                self._check_open(path_file)  # fopen, as the process: the caller's rights
                data = self.view.read(path_file)
                self._sys = (data.decode("utf-8", "surrogateescape"),
                             f"system path ({path_file})")
            except FsError as exc:
                self.errno = exc.errno_name
                if exc.errno_name == "ENOENT":
                    self._sys = (DEFAULT_SYSTEM_PATH, "system path (built-in default)")
                else:
                    self._sys = ("", f"system path ({path_file} unreadable)")
        return self._sys

    def _fail(self, errno_name: str) -> _Failed:
        self.errno = errno_name
        return _Failed(errno_name)

    def _rpath_of(self, obj: ObjectRecord) -> tuple[str | None, Via]:
        """``fixup_rpath``: RUNPATH else RPATH; only ``$ORIGIN``; any other ``$`` drops it."""
        hit = self._rpaths.get(obj)
        if hit is not None:
            return hit
        facts = obj.facts
        raw: str | None = None
        via = Via.RPATH
        if facts is not None:
            if facts.runpath is not None:
                raw, via = facts.effective_runpath, Via.RUNPATH
            elif facts.rpath is not None:
                raw = facts.effective_rpath
        value = raw
        if raw is not None and "$" in raw:
            parts = raw.split("$")
            other = any(not (p.startswith("ORIGIN") or p.startswith("{ORIGIN}"))
                        for p in parts[1:])
            if other or (obj is self.main and self.env.secure
                         and self.env.invocation is Invocation.EXEC):
                value = None
            else:
                origin = obj.origin if obj is self.main else dirname(obj.path)
                if not origin:
                    origin = "."
                if self.env.secure and not origin.startswith("/"):
                    value = None
                else:
                    value = re.sub(r"\$(\{ORIGIN\}|ORIGIN)", lambda _m: origin, raw)
        self._rpaths[obj] = (value, via)
        return value, via

    # -- load_library ------------------------------------------------------------------
    def _preload(self, name: str) -> None:
        lk = self.lookup(None, name, LookupKind.LD_PRELOAD)
        self._load_library(lk, name, None, preload=True)
        if lk.target is None:
            self.diagnostics.append(Diagnostic(
                Severity.WARNING, f"LD_PRELOAD entry '{name}' not loaded ({lk.note}); musl "
                "ignores it silently"))

    def _load_library(self, lk: LookupRecord, name: str, needed_by: ObjectRecord | None,
                      preload: bool = False) -> None:
        if not name:
            self.errno = "EINVAL"  # load_library: an empty name is EINVAL
            lk.note = "Invalid argument"
            return
        kind = reserved_kind(name)
        if kind is not None or name == self.interp.path:
            if kind is not None and kind not in self.reported:
                self.reported.add(kind)
                self.listing.append((name, self.interp.path))
            lk.target, lk.via = self.interp, Via.INTERPRETER
            if self.interp.needed_by is None and needed_by is not None:
                self.interp.needed_by = needed_by
            if name not in self.interp.names:
                self.interp.names.append(name)
            return
        try:
            if "/" in name:
                path, st, via = self._open_direct(lk, name), None, Via.DIRECT
            else:
                for obj in self.loaded:
                    if self.shortnames.get(obj) == name:
                        lk.target, lk.via = obj, Via.ALREADY_LOADED
                        return
                if len(name.encode("utf-8", "surrogateescape")) > 255:  # its bytes
                    raise _Failed(self.errno)  # musl returns without touching errno
                path, via = self._search(lk, name, needed_by)
            st = self.view.stat(path, cwd=self.env.cwd)
            for obj in self.loaded:
                if obj.file_id == (st.dev, st.ino):
                    lk.target, lk.via = obj, Via.ALREADY_LOADED
                    lk.attempts[-1] = Attempt(path, lk.attempts[-1].source,
                                              lk.attempts[-1].via, Outcome.SAME_FILE)
                    if "/" not in name and obj not in self.shortnames:
                        self.shortnames[obj] = obj.path.rsplit("/", 1)[-1]
                    if name not in obj.names:
                        obj.names.append(name)
                    return
            facts = self._map_library(lk, path, st)
        except _Failed as failed:
            lk.note = _STRERROR.get(failed.errno_name, failed.errno_name)
            return
        if self._defines_libc(path):
            lk.note = "another libc: replaced by the loader itself"
            self._load_library(lk, "libc.so", needed_by)
            return
        origin = dirname(path) or "."
        obj = ObjectRecord(len(self.chain), name, path, self.view.resolve(path, cwd=self.env.cwd),
                           Via.PRELOAD if preload else via, needed_by, facts, origin,
                           names=[name], file_id=(st.dev, st.ino))
        self.add_object(obj)
        if "/" not in name:
            self.shortnames[obj] = path.rsplit("/", 1)[-1]
        self.listing.append((name, path))
        lk.target, lk.via = obj, obj.via

    def _check_open(self, path: str) -> None:
        """Raise the FsError ``open(path, O_RDONLY)`` would fail with for the caller (who
        must be allowed to search each directory on the way, and to read the file)."""
        st = self.view.stat(path, cwd=self.env.cwd, user=self.env.user)
        if not st.is_dir and not may_read(st.mode, st.uid, st.gid, self.env.user):
            raise FsError(path, "permission denied", "EACCES")

    def _open_direct(self, lk: LookupRecord, name: str) -> str:
        try:
            self._check_open(name)
        except FsError as exc:
            lk.attempts.append(Attempt(name, "direct", Via.DIRECT, _outcome(exc.errno_name)))
            raise self._fail(exc.errno_name) from None
        lk.attempts.append(Attempt(name, "direct", Via.DIRECT, Outcome.FOUND))
        return name

    def _search(self, lk: LookupRecord, name: str,
                needed_by: ObjectRecord | None) -> tuple[str, Via]:
        if self.env.ld_library_path is not None and not self.env.secure:
            hit = self._path_open(lk, name, self.env.ld_library_path, "LD_LIBRARY_PATH",
                                  Via.LD_LIBRARY_PATH)
            if hit is not None:
                return hit, Via.LD_LIBRARY_PATH
        p = needed_by
        while p is not None:
            rpath, via = self._rpath_of(p)
            if rpath is not None:
                tag = "RUNPATH" if via is Via.RUNPATH else "RPATH"
                hit = self._path_open(lk, name, rpath, f"{tag} from file {p.path}", via)
                if hit is not None:
                    return hit, via
            p = p.needed_by
        system_path, system_source = self._system_path()
        hit = self._path_open(lk, name, system_path, system_source, Via.DEFAULT)
        if hit is not None:
            return hit, Via.DEFAULT
        raise _Failed(self.errno)

    def _path_open(self, lk: LookupRecord, name: str, value: str, source: str,
                   via: Via) -> str | None:
        for d in re.split(r"[:\n]", value):
            if not d:
                continue
            cand = f"{d}/{name}"
            if bytes_at_least(cand, _PATH_BUF):
                # path_open's snprintf into load_library's buf[2*NAME_MAX+2] did not fit:
                # the candidate is passed by, never opened
                lk.attempts.append(Attempt(cand, source, via, Outcome.ABSENT,
                                           f"{_PATH_BUF} bytes or more: longer than musl's "
                                           "path buffer, not opened"))
                continue
            try:
                self._check_open(cand)
            except FsError as exc:
                lk.attempts.append(Attempt(cand, source, via, _outcome(exc.errno_name),
                                           exc.reason))
                self.errno = exc.errno_name
                if exc.errno_name in _SOFT:
                    continue
                raise _Failed(exc.errno_name) from None
            lk.attempts.append(Attempt(cand, source, via, Outcome.FOUND))
            return cand
        return None

    def _map_library(self, lk: LookupRecord, path: str, st: FileStat) -> ElfFacts:
        """``map_library``: the first file that opened is final; no class/machine check."""
        last = lk.attempts[-1]
        if st.is_dir:
            lk.attempts[-1] = Attempt(path, last.source, last.via, Outcome.FATAL, "EISDIR")
            raise self._fail("EISDIR")
        try:
            parts = self.view.resolve_parts(path, cwd=self.env.cwd)
            st, data = self.files.read(parts, path)
        except FsError as exc:
            lk.attempts[-1] = Attempt(path, last.source, last.via, Outcome.NOT_ELF, exc.reason)
            raise self._fail("ENOEXEC") from None
        # map_library reads a native Ehdr (the class and byte order musl was built for: its
        # program's) and never looks at e_ident
        facts, why = map_library(self.files, st, data, path,
                                 (self.expected.elf_class, self.expected.data))
        if facts is None:
            lk.attempts[-1] = Attempt(path, last.source, last.via, Outcome.NOT_ELF, why)
            raise self._fail("ENOEXEC")
        return facts

    def _defines_libc(self, path: str) -> bool:
        """musl replaces any library defining both ``__libc_start_main`` and ``stdin``
        (``load_library``: the check on the symbols of a newly mapped object)."""
        try:
            parts = self.view.resolve_parts(path, cwd=self.env.cwd)
            st, data = self.files.read(parts, path)
        except FsError:
            return False
        return self.files.defines(st, data, path, ("__libc_start_main", "stdin"))


_PATH_BUF = 512
"""load_library's ``buf[2*NAME_MAX+2]``, where ``path_open`` writes each "dir/name" it tries
(ldso/dynlink.c): one that does not fit, NUL included, is skipped."""


def map_library(files: FileCache, st: FileStat, data: Buffer, path: str,
                native: tuple[int, int]) -> tuple[ElfFacts | None, str]:
    """musl's ``map_library`` (ldso/dynlink.c) of a file's bytes, for a loader of class and
    byte order ``native``: (the file's facts as it reads them, ""), or (None, why it fails,
    ENOEXEC): too short for an ELF header, an e_type neither ET_DYN nor ET_EXEC, a program
    header table it cannot read, no PT_DYNAMIC (or one at address 0) or no PT_LOAD."""
    e_type = int.from_bytes(data[16:18], "little" if native[1] == ElfData.LSB else "big")
    if len(data) < ehdr_size(native[0]) or e_type not in LOADABLE_TYPES:
        return None, "not a loadable ELF object"
    try:
        facts = files.facts(st, data, path, assume=native)
    except ElfError as exc:
        return None, exc.reason
    if not facts.has_dynamic:
        return None, "no PT_DYNAMIC"
    return facts, ""


def _outcome(errno_name: str) -> Outcome:
    if errno_name in ("ENOENT", "ENOTDIR"):
        return Outcome.ABSENT
    if errno_name == "EACCES":
        return Outcome.UNREADABLE
    return Outcome.LOOP


__all__ = ["MuslModel", "join", "map_library", "path_file_for"]
