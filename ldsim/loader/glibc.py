"""A model of glibc 2.36's ``ld.so`` resolving the dependencies of one program.

Follows ``elf/rtld.c`` (``dl_main``: interpreter placement, preloads),
``elf/dl-deps.c`` (``_dl_map_object_deps``: the breadth-first work list, DST expansion of
DT_NEEDED), ``elf/dl-load.c`` (``_dl_map_object``: name matching, RPATH chain,
LD_LIBRARY_PATH, RUNPATH, cache, default directories, NODEFLIB; ``open_path``: hwcaps
subdirectories, abandoning a list on ELOOP & co; ``open_verify``: candidate rejection;
``_dl_map_object_from_fd``: reuse by device and inode, executables as dependencies) and
``elf/dl-cache.c`` (one candidate per cache lookup). ``docs/loader-model.md`` lists the rules;
every rule has an oracle test in ``tests/oracle`` and a unit test in ``tests/unit``.

The model runs in the loader's *trace* mode (what ``ldd`` and ``LD_TRACE_LOADED_OBJECTS=1``
do): a missing library becomes an unresolved entry and the walk goes on; a hard rejection
aborts the whole load.
"""

from __future__ import annotations

import stat as stat_mod
from functools import lru_cache

from ldsim.config.arch import Arch
from ldsim.config.env import Invocation, LoaderEnv
from ldsim.config.ld_so_cache import LdSoCache, answers_fixed, lookup
from ldsim.config.loader_profile import GlibcProfile
from ldsim.elf.facts import ElfFacts
from ldsim.elf.flavour import Libc
from ldsim.errors import AccessError, FsError, LdsimError
from ldsim.fs.view import View, dirname, join
from ldsim.loader.dirs import Directories, DirStatus, SearchList, search_mark
from ldsim.loader.probe import FileCache, Probe, glibc_open_verify
from ldsim.loader.tokens import TokenValues, count_dst, substitute
from ldsim.loader.walk import (
    Abort,
    Entry,
    LookupRecord,
    ObjectRecord,
    UnresolvedRecord,
    Walk,
)
from ldsim.result import Attempt, Diagnostic, LookupKind, Outcome, SearchMark, Severity, Via

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_FATAL = (Outcome.NOT_ELF, Outcome.FATAL)
CACHE_FILE = "/etc/ld.so.cache"
_CACHE_MARK0 = SearchMark(0, None, CACHE_FILE)  # the search cache= line of most lookups
# Members read in the per-lookup loops, as module constants (a global is read in a fraction
# of the time an enum class's attribute takes)
_FOUND = Outcome.FOUND
# the ways of _search, as module names (read faster than enum members)
_VIA_RPATH, _VIA_LD_LIBRARY_PATH, _VIA_RUNPATH, _VIA_CACHE, _VIA_DEFAULT = (
    Via.RPATH, Via.LD_LIBRARY_PATH, Via.RUNPATH, Via.CACHE, Via.DEFAULT)
_UNSEEN: Any = object()  # a name the shared cache steps know nothing of yet
_ALREADY_LOADED = Via.ALREADY_LOADED
_UNKNOWN, _EXISTING, _NONEXISTING = DirStatus.UNKNOWN, DirStatus.EXISTING, DirStatus.NONEXISTING


class GlibcModel(Walk):
    """Resolve one executable. Construct once per run; call :meth:`run`."""

    flavour = Libc.GLIBC

    def __init__(self, view: View, env: LoaderEnv, profile: GlibcProfile,
                 cache: LdSoCache | None, files: FileCache | None = None,
                 preload_file: str | None = None, interp: str | None = None,
                 arch: Arch | None = None, loader_runs: bool = True) -> None:
        super().__init__(view, env, files)
        self.loader_runs = loader_runs  # False: the kernel starts the program itself
        self.arch = arch  # None: an architecture ldsim has no table for (x86-64's rules)
        self.hwcaps: tuple[str, ...] = env.hwcaps or ()
        self.platform = env.platform or ""
        self.legacy: tuple[str, ...] = env.legacy_hwcap_names or ()
        self.interp_path = interp  # PT_INTERP, or the loader `ldd` runs on a library
        self.profile = profile
        self.cache = cache
        self.preload_file = preload_file  # contents of /etc/ld.so.preload, if any
        # What follows from the (frozen) process, loader and architecture alone is the same
        # for every program of a run that shares them: made once (the entry keeps them alive)
        key = (id(env), id(profile), id(arch))
        known = _SETUPS.get(key)
        if known is None or known[0] is not env or known[1] is not profile \
                or known[2] is not arch:
            capstr = self._subdirs()
            # GLRO(dl_hwcap) & hwcap_mask, as the cache lookup compares it
            bits = (arch.hwcap_mask(self.legacy) if arch is not None
                    else _hwcap_bits(self.legacy))
            system = tuple(d.rstrip("/") + "/" for d in profile.system_dirs)
            if len(_SETUPS) >= _SETUPS_MAX:
                _SETUPS.clear()
            known = _SETUPS[key] = (env, profile, arch, capstr, bits, system)
        self.capstr, self.hwcap_bits, self.system_prefixes = known[3], known[4], known[5]
        # One string per candidate path and one probe per path in a run: a name that many
        # DT_NEEDED entries repeat (or a long one) costs its length once, not per lookup.
        self._candidates: dict[tuple[str, str, str], str] = {}
        self._probed: dict[str, Probe] = {}  # shared by every run when the view is stable
        # (only a stable view's probes are shared by its runs: another's are each run's own)
        self._derived = self.files.derived if self.files.view is view and view.stable \
            else None
        self._known: _Known | None = None
        # the cache step's answers by name, shared by every run (see start)
        self._cache_steps: dict[str, tuple[Probe, Attempt] | None] | None = None

    # -- search directories ------------------------------------------------------------
    def _subdirs(self) -> tuple[str, ...]:
        """glibc-hwcaps subdirectories, then (<= 2.36) the legacy power set, then ``""``."""
        return _subdirs(tuple(self.hwcaps), bool(self.profile.legacy_hwcaps), tuple(self.legacy),
                        self.platform)

    def _tokens(self, owner: ObjectRecord | None) -> TokenValues:
        return TokenValues(
            origin=owner.origin if owner is not None else None,
            platform=self.platform or None,
            lib=self.profile.lib,
            secure=self.env.secure,
            owner_is_executable=owner is not None and owner.index == 0,
            trusted_dirs=self.profile.system_dirs,
        )

    def _dirnames(self, value: str, seps: str, owner: ObjectRecord | None) -> list[str]:
        """``fillin_rpath``: split, expand tokens, one trailing slash (``""``: the working
        directory); an element whose tokens have no value is dropped."""
        out: list[str] = []
        elements = [value]
        for sep in seps:
            elements = [piece for e in elements for piece in e.split(sep)]
        for element in elements:
            d = element
            if d:
                d = substitute(d, self._tokens(owner))
                if not d:
                    continue
                d = d.rstrip("/") or "/"
                if not d.endswith("/"):
                    d += "/"
            out.append(d)
        return out

    def _decompose(self, obj: ObjectRecord, value: str | None, tag: str,
                   via: Via) -> SearchList | None:
        """``decompose_rpath``: the object's RPATH or RUNPATH list (None: absent or empty)."""
        if not value:
            return None
        return self.dirs.search_list(self._dirnames(value, ":", obj), tag, obj.path, via,
                                     f"{tag} from file {obj.path}", droppable=True)

    def _rpath_list(self, obj: ObjectRecord) -> SearchList | None:
        """``cache_rpath (l, &l->l_rpath_dirs, DT_RPATH, "RPATH")``: made when first needed
        (the program's at start-up); none when the object has a RUNPATH."""
        if obj not in self.rpaths:
            facts = obj.facts
            value = facts.effective_rpath if facts is not None and facts.runpath is None \
                else None
            self.rpaths[obj] = self._decompose(obj, value, "RPATH", Via.RPATH)
        lst = self.rpaths[obj]
        return None if lst is None or lst.dropped else lst

    def _runpath_list(self, obj: ObjectRecord) -> SearchList | None:
        if obj not in self.runpaths:
            facts = obj.facts
            value = facts.effective_runpath if facts is not None else None
            self.runpaths[obj] = self._decompose(obj, value, "RUNPATH", _VIA_RUNPATH)
        lst = self.runpaths[obj]
        return None if lst is None or lst.dropped else lst

    # -- the walk (hooks of loader.walk.Walk) ---------------------------------------------
    def main_origin(self, exe_path: str, real_exe: str) -> str | None:
        """A kernel exec reads /proc/self/exe (the real path); ``ld.so PROG`` uses PROG."""
        if self.env.invocation is Invocation.EXEC:
            return dirname(real_exe)
        return dirname(exe_path if exe_path.startswith("/") else join(self._getcwd(), exe_path))

    def _getcwd(self) -> str:
        """The working directory as ``getcwd`` gives it, which ``_dl_get_origin`` puts before
        a relative name (elf/dl-origin.c): its real path, whatever ``--cwd`` spelled."""
        try:
            return self.view.resolve(self.env.cwd)
        except LdsimError:  # (a working directory that is gone: as given)
            return self.env.cwd

    def start(self) -> None:
        # what each candidate path probes as is known from earlier runs (a stable view)
        if self.files.view is self.view:
            shared = self.files.probes(self.expected, self.env.user, self.env.cwd)
            if shared is not None:
                self._probed = shared
                # The cache step is the same in every run for the same name: one
                # _dl_load_cache_lookup candidate (elf/dl-cache.c) from a cache that cannot
                # change, probed as every run probes it (the shared probes above). Only its
                # answer when it found a file is kept, and not in secure mode (a preload's
                # candidate must then be set-uid: see _probe). Whether the step is reached at
                # all (an RPATH or RUNPATH found it first, DF_1_NODEFLIB) is each lookup's own.
                if self.cache is not None and not self.env.secure \
                        and answers_fixed(self.cache):
                    self._cache_steps = self.files.cache_steps(
                        self.expected, self.env.user, self.env.cwd, self.cache,
                        (self.hwcaps, self.platform, self.hwcap_bits), self.arch)
        # _dl_init_paths: the system directories, then the program's RUNPATH or RPATH, then
        # LD_LIBRARY_PATH (ignored when empty, and in secure mode) get their records first
        self.dirs = Directories(len(self.capstr))
        system = self.dirs.search_list(
            list(self.system_prefixes), "system search path",
            None, Via.DEFAULT, "system search path", droppable=False)
        self.system = system
        self.rpaths: dict[ObjectRecord, SearchList | None] = {}
        # whether an object of the run has a DT_RPATH (add_object keeps it up to date)
        self._with_rpath = self.main.facts is not None and bool(self.main.facts.rpath)
        self.runpaths: dict[ObjectRecord, SearchList | None] = {}
        if self.main.facts is not None and self.main.facts.runpath is not None:
            self._runpath_list(self.main)
        else:
            self._rpath_list(self.main)
        llp = self.env.ld_library_path
        self.llp = self.dirs.search_list(
            self._dirnames(llp, ":;", self.main), "LD_LIBRARY_PATH", None,
            Via.LD_LIBRARY_PATH, "LD_LIBRARY_PATH", droppable=False) \
            if llp and not self.env.secure else None
        interp = self.interp_path or (self.main.facts.interp if self.main.facts else None)
        self.interpreter = interp
        self.interp: ObjectRecord | None = None
        if interp is not None:
            self.interp = self._make_interpreter(interp)
            self._with_rpath |= self.interp.facts is not None and bool(self.interp.facts.rpath)
        if self.loader_runs:  # (else nothing reads LD_PRELOAD or the preload file)
            self._preloads()

    def finish(self) -> list[Entry]:
        chain = self._final_link_map()
        if self.error is None:
            self.listing = [
                (e.name, None) if isinstance(e, UnresolvedRecord) else (e.name, e.path)
                for e in chain[1:]]
        return chain

    def _make_interpreter(self, interp: str) -> ObjectRecord:
        facts: ElfFacts | None = None
        real = interp
        try:
            # (a relative PT_INTERP: the kernel opened it from the working directory)
            real = self.view.resolve(interp, cwd=self.env.cwd)
            # the probes of this run's caller serve when they are root's (an absolute path
            # probes alike from any working directory)
            known = self._probed if self.env.user is None and interp.startswith("/") \
                else None
            probe = known.get(interp) if known is not None else None
            if probe is None:
                probe = glibc_open_verify(self.view, self.files, interp, self.env.cwd,
                                          self.expected)
                if known is not None:
                    known[interp] = probe
            facts = probe.facts
        except AccessError:
            raise
        except LdsimError:  # a missing interpreter is reported by loader.run
            facts = None
        return ObjectRecord(-1, interp, interp, real, Via.INTERPRETER, None, facts, None,
                            names=[interp])

    def _final_link_map(self) -> list[Entry]:
        """``dl_main``: re-link the interpreter after its predecessor in the search list."""
        chain = list(self.chain)
        interp = self.interp
        if interp is not None and interp in self.search_list:
            pos = self.search_list.index(interp)
            pred = self.search_list[pos - 1]
            chain.insert(chain.index(pred) + 1, interp)
        return self.number(chain)

    # -- one request -------------------------------------------------------------------
    def _index(self) -> _Known:
        """The index of this run's objects (made when first needed; :meth:`add_object` keeps
        it up to date)."""
        known = self._known
        if known is None or known.main is not self.main or known.interp is not self.interp:
            known = self._known = _Known(self.main, self.interp, self.chain, self.loaded)
        return known

    def add_object(self, obj: ObjectRecord) -> ObjectRecord:
        super().add_object(obj)
        if obj.facts is not None and obj.facts.rpath:
            self._with_rpath = True
        if self._known is not None:
            self._known.add(obj)
        return obj

    def _match_loaded(self, name: str) -> ObjectRecord | None:
        """``_dl_map_object``'s scan: names as opened or requested, then DT_SONAME.

        The main program's ``l_name`` is ``""`` after a kernel exec, so an empty DT_NEEDED
        matches it and nothing is searched. The scan goes over the main program, the
        interpreter, then the loaded objects in load order; the first object that answers
        to ``name`` (by its path or a name it was requested by, the main program excepted;
        or by its DT_SONAME, which it then answers to by name too) is the one."""
        if not name and self.env.invocation is Invocation.EXEC:
            return self.main
        known = self._known  # self._index(), inlined: this runs for every lookup
        if known is None or known.main is not self.main or known.interp is not self.interp:
            known = self._index()
        by_name = known.by_name.get(name)
        by_soname = known.by_soname.get(name)
        if by_name is not None and (by_soname is None or by_name[0] <= by_soname[0]):
            return by_name[1]
        if by_soname is None:
            return None
        obj = by_soname[1]
        if obj is not self.main:  # not among its names, or it would have come first
            obj.names.append(name)
            known.named(obj, name)
        return obj

    def dlopen_one(self, caller: ObjectRecord, name: str
                   ) -> tuple[ObjectRecord | None, bool, str, bool]:
        """``dlopen`` from ``caller`` (``dl_open_worker``): ``_dl_map_object`` with the caller
        as loader (its RPATH chain unless it has a RUNPATH, the program's RPATH,
        LD_LIBRARY_PATH, its RUNPATH, the cache, the default directories; a name with a
        slash is a path; a name already loaded is that object), then ``_dl_map_object_deps``
        over the new object's DT_NEEDED (the new object has no loader: its dependencies see
        its own RPATH and the program's, not the caller's). Any failure unloads what the call loaded
        (``_dl_close_worker``) and is dlerror()'s message; the process goes on."""
        mark = self.mark()
        lk = self.lookup(caller, name, LookupKind.DLOPEN)
        reason = ""
        absent = False
        try:
            request = name
            if "$" in name and count_dst(name):
                request = substitute(name, self._tokens(caller))
            lk.request = request
            if not request:
                reason = f"{name}: empty dynamic string token substitution"
            else:
                target = self._map_object(lk, caller, request, secure_preload=False)
                if target is None:
                    reason = f"{request}: cannot open shared object file: No such file or " \
                        "directory"
                    absent = True
                elif len(self.search_list) == mark[2]:
                    return target, True, "", False
                else:
                    # _dl_map_object: "if (mode & __RTLD_CALLMAP) loader = NULL": the new
                    # object has no l_loader, its own dependencies inherit no RPATH of the
                    # caller (only the program's)
                    target.needed_by = None
                    self.run_needed(mark[2])
                    missing = next((e for e in self.chain[mark[0]:]
                                    if isinstance(e, UnresolvedRecord)), None)
                    if missing is None:
                        for obj in self.loaded[mark[1]:]:
                            obj.dlopened = True
                        return target, False, "", False
                    reason = f"{missing.name}: cannot open shared object file: No such file " \
                        "or directory"
        except Abort as abort:
            reason = abort.error.loader_message
        self.undo(mark)
        self._known = None  # rebuilt from what is left
        lk.target, lk.via, lk.note = None, None, reason
        return None, False, reason, absent

    def final_link_map(self) -> list[Entry]:
        return self._final_link_map()

    def needed(self, requester: ObjectRecord, raw: str) -> None:
        if "$" in raw and count_dst(raw):
            self._needed_dst(requester, raw)
            return
        hit = self._match_loaded(raw)
        if hit is None:
            lookup_ = LookupRecord(requester, raw, raw, None, None)  # self.lookup(), inlined
            self.lookups.append(lookup_)
            self._map_new(lookup_, requester, raw, secure_preload=False)
            return
        # Most DT_NEEDED names (some 70% over a system's programs) are already loaded, and
        # nothing is searched for them: such a lookup is kept as an AlreadyLoaded triple
        # (the walk freezes it as any other)
        self.lookups.append((requester, raw, hit))
        if hit is self.interp:
            self._reached(hit, requester)

    def _needed_dst(self, requester: ObjectRecord, raw: str) -> None:
        """A DT_NEEDED name with dynamic string tokens (``expand_dynamic_string_token`` in
        ``_dl_map_object_deps``): refused in secure mode, else expanded, then mapped."""
        lookup_ = self.lookup(requester, raw)
        if self.env.secure:
            self.abort(raw, None, requester, "DST not allowed in SUID/SGID programs",
                        f"{raw}: DST not allowed in SUID/SGID programs")
        name = substitute(raw, self._tokens(requester))
        if not name:
            self.abort(raw, None, requester, "empty dynamic string token substitution",
                        f"{raw}: empty dynamic string token substitution")
        lookup_.request = name
        self._map_object(lookup_, requester, name, secure_preload=False)

    def _preloads(self) -> None:
        env = self.env
        lists: list[tuple[LookupKind, list[str]]] = []
        if env.preload:
            lists.append((LookupKind.LD_PRELOAD, [p for p in _split(env.preload, " :") if p]))
        if self.preload_file is not None:
            # rtld.c: the file ends at its first NUL; "#" starts a comment up to "\n"
            text = self.preload_file.split("\0", 1)[0]
            text = "\n".join(line.split("#", 1)[0] for line in text.split("\n"))
            lists.append((LookupKind.PRELOAD_FILE, [p for p in _split(text, " \t\n:") if p]))
        for kind, names in lists:
            for name in names:
                if kind is LookupKind.LD_PRELOAD and env.secure and "/" in name:
                    self.diagnostics.append(Diagnostic(
                        Severity.INFO, f"LD_PRELOAD entry '{name}' ignored in secure mode "
                        "(names with a slash are not allowed)"))
                    continue
                lookup_ = self.lookup(self.main, name, kind)
                request = name
                if "/" in name and count_dst(name):
                    request = substitute(name, self._tokens(self.main))
                lookup_.request = request
                try:
                    target = self._map_object(lookup_, self.main, request, secure_preload=True,
                                              preload=True)
                except Abort as abort:
                    target = None
                    lookup_.note = abort.error.reason
                if target is None:
                    reason = lookup_.note or "cannot open shared object file"
                    self.diagnostics.append(Diagnostic(
                        Severity.WARNING,
                        f"ERROR: ld.so: object '{name}' from {kind} cannot be preloaded "
                        f"({reason}): ignored."))

    def _map_object(self, lookup_: LookupRecord, requester: ObjectRecord, name: str, *,
                    secure_preload: bool, preload: bool = False) -> ObjectRecord | None:
        hit = self._match_loaded(name)
        if hit is not None:
            lookup_.target = hit
            lookup_.via = Via.ALREADY_LOADED
            self._reached(hit, requester)
            return hit
        return self._map_new(lookup_, requester, name, secure_preload=secure_preload,
                             preload=preload)

    def _reached(self, hit: ObjectRecord, requester: ObjectRecord) -> None:
        """A name answered by a loaded object: the interpreter, mapped by the kernel, joins
        the search list (its DT_NEEDED walked) when first needed, by ``requester``."""
        if hit is self.interp and hit not in self.search_list:
            self.search_list.append(hit)
            hit.needed_by = requester

    def _map_new(self, lookup_: LookupRecord, requester: ObjectRecord, name: str, *,
                 secure_preload: bool, preload: bool = False) -> ObjectRecord | None:
        """:meth:`_map_object` for a name no loaded object answers to: search, open, map."""
        if "/" in name:
            probe = self._probe(lookup_, name, "direct", Via.DIRECT, secure_preload=False)
            found = probe if probe.outcome is Outcome.FOUND else None
            via = Via.DIRECT
        else:
            found, via = self._search(lookup_, requester, name, secure_preload)
        if found is None:
            if preload:
                return None
            self.chain.append(UnresolvedRecord(name, requester))
            return None
        return self._load(lookup_, requester, name, found, Via.PRELOAD if preload else via)

    def _probe(self, lookup_: LookupRecord, path: str, source: str, via: Via,
               secure_preload: bool) -> Probe:
        probe = self._probed.get(path)
        if probe is None:
            probe = self._probed[path] = glibc_open_verify(
                self.view, self.files, path, self.env.cwd, self.expected, self.env.user)
        outcome = probe.outcome
        if outcome is _FOUND and secure_preload and self.env.secure and probe.stat \
                and not probe.stat.mode & stat_mod.S_ISUID:
            outcome = Outcome.NOT_SUID  # open_path then sets errno to ENOENT
            probe = Probe(path, outcome, "set-uid bit not set", probe.real_path, probe.stat,
                          errno="ENOENT")
        lookup_.attempts.append(Attempt(path, source, via, outcome, probe.reason))
        if outcome in _FATAL:
            self.abort(lookup_.request, path, lookup_.requester, probe.reason,
                        f"{path}: {probe.reason}")
        return probe

    def _search(self, lookup_: LookupRecord, requester: ObjectRecord, name: str,
                secure_preload: bool) -> tuple[Probe | None, Via]:
        """``_dl_map_object`` for a bare name: RPATH chain, LD_LIBRARY_PATH, RUNPATH, cache,
        default directories."""
        env = self.env
        # DT_RPATH of the requester and its chain of loaders, then of the executable (no
        # object of the run has one: nothing to search, nothing to learn)
        if self._with_rpath and (requester.facts is None or requester.facts.runpath is None):
            did_main = False
            obj: ObjectRecord | None = requester
            while obj is not None:
                rpath = self._rpath_list(obj)
                if rpath is not None:
                    found = self._open_path(lookup_, name, rpath, secure_preload)
                    if found:
                        return found, _VIA_RPATH
                    did_main |= obj is self.main
                obj = obj.needed_by
            if not did_main:
                rpath = self._rpath_list(self.main)
                if rpath is not None:
                    found = self._open_path(lookup_, name, rpath, secure_preload)
                    if found:
                        return found, _VIA_RPATH
        if self.llp is not None:
            found = self._open_path(lookup_, name, self.llp, secure_preload)
            if found:
                return found, _VIA_LD_LIBRARY_PATH
        runpath = self._runpath_list(requester)
        if runpath is not None:
            found = self._open_path(lookup_, name, runpath, secure_preload)
            if found:
                return found, _VIA_RUNPATH
        nodeflib = requester.facts is not None and requester.facts.nodeflib
        if not (secure_preload and env.secure):
            # _dl_load_cache_lookup prints its line and its one candidate even when the
            # candidate is then dropped for DF_1_NODEFLIB
            at = len(lookup_.attempts)
            lookup_.searches.append(_CACHE_MARK0 if at == 0 else SearchMark(at, None, CACHE_FILE))
            steps = self._cache_steps
            known = _UNSEEN
            if steps is not None and not nodeflib:
                known = steps.get(name, _UNSEEN)
                if known is not None and known is not _UNSEEN:
                    lookup_.attempts.append(known[1])
                    return known[0], _VIA_CACHE
            entry = None if self.cache is None or known is None else lookup(
                self.cache, name, hwcaps_subdirs=self.hwcaps, platform=self.platform,
                hwcap_bits=self.hwcap_bits, arch=self.arch)
            if entry is None and steps is not None and self.cache is not None:
                steps[name] = None  # the cache has no entry for it: nothing to probe, ever
            elif entry is not None:
                cached = entry.value
                if nodeflib and any(cached.startswith(p) for p in self.system_prefixes):
                    lookup_.attempts.append(Attempt(cached, "cache=/etc/ld.so.cache", _VIA_CACHE,
                                                    Outcome.FILTERED, "DF_1_NODEFLIB"))
                else:
                    probe = self._probe(lookup_, cached, "cache=/etc/ld.so.cache", _VIA_CACHE,
                                        secure_preload)
                    if probe.outcome is _FOUND:
                        if steps is not None:
                            steps[name] = (probe, lookup_.attempts[-1])
                        return probe, _VIA_CACHE
        if not nodeflib and self.system is not None:
            found = self._open_path(lookup_, name, self.system, secure_preload)
            if found:
                return found, _VIA_DEFAULT
        return None, _VIA_DEFAULT

    def _open_path(self, lookup_: LookupRecord, name: str, slist: SearchList,
                   secure_preload: bool) -> Probe | None:
        """``open_path``: every hwcaps subdirectory of every directory not known to be
        missing, learning which exist; a ``search path=`` line whenever the creating list
        changes; after a directory, an errno other than ENOENT and EACCES ends the list; a
        list of an object none of whose directories exists is dropped."""
        current_what = None
        any_dir = False
        capstr = self.capstr
        candidates = self._candidates
        source, via = slist.source, slist.via
        for i, d in enumerate(slist.dirs):
            if d.what != current_what:
                current_what = d.what
                lookup_.searches.append(
                    search_mark(len(lookup_.attempts), slist.dirs[i:], capstr))
            here_any = False
            err = ""
            statuses = d.status
            dirname_ = d.dirname
            for cnt, sub in enumerate(capstr):
                status = statuses[cnt]
                if status is _NONEXISTING:
                    continue
                key = (dirname_, sub, name)
                path = candidates.get(key)
                if path is None:
                    path = candidates[key] = dirname_ + sub + name
                probe = self._probe(lookup_, path, source, via, secure_preload)
                found = probe.outcome is _FOUND
                err = probe.errno
                if status is _UNKNOWN:
                    if found:
                        status = statuses[cnt] = _EXISTING
                    else:
                        exists, stat_err = self._is_dir(dirname_ + sub)
                        status = statuses[cnt] = _EXISTING if exists else _NONEXISTING
                        err = stat_err or err
                here_any |= status is not _NONEXISTING
                if found:
                    return probe
            if here_any and err not in ("ENOENT", "EACCES"):
                return None  # the file exists but cannot be used: the rest of the list goes
            any_dir |= here_any
        if not any_dir and slist.droppable:
            slist.dropped = True
        return None

    def _is_dir(self, directory: str) -> tuple[bool, str]:
        """``stat (dir)`` and ``S_ISDIR``: (is a directory, the errno of a failed stat; a
        directory whose parent the caller may not search cannot be stat-ed: EACCES)."""
        try:
            st = self.view.stat(directory or ".", cwd=self.env.cwd, user=self.env.user)
        except FsError as exc:
            return False, exc.errno_name
        return st.is_dir, ""

    def _load(self, lookup_: LookupRecord, requester: ObjectRecord, name: str, probe: Probe,
              via: Via) -> ObjectRecord | None:
        # the same probe (shared by the runs of a stable view) is loaded in run after run:
        # what follows from it alone is worked out once
        derived = self._derived
        hit = derived.get(id(probe)) if derived is not None else None
        if hit is None or hit[0] is not probe:
            hit = (probe, *_mapping(probe))
            if derived is not None:
                if len(derived) >= _DERIVED_MAX:
                    derived.clear()
                derived[id(probe)] = hit
        _probe, file_id, refused, origin = hit
        known = self._index()
        entry = known.by_file.get(file_id)
        if entry is not None:  # the first object of the chain (after the program) with it
            if name not in entry.names:
                entry.names.append(name)
                known.named(entry, name)
            lookup_.target = entry
            lookup_.via = _ALREADY_LOADED
            lookup_.attempts[-1] = Attempt(probe.path, lookup_.attempts[-1].source,
                                           lookup_.attempts[-1].via, Outcome.SAME_FILE)
            return entry
        if refused:
            reason, message = _REFUSED[refused]
            self.abort(name, probe.path, requester, reason, f"{name}: {message}")
        path = probe.path
        if origin is None:  # a relative path: the working directory's
            origin = dirname(join(self._getcwd(), path))
        obj = ObjectRecord(len(self.chain), name, path, probe.real_path or path, via, requester,
                           probe.facts, origin, [name], file_id)
        self.add_object(obj)
        lookup_.target = obj
        lookup_.via = via
        return obj


def _mapping(probe: Probe) -> tuple[tuple[int, int], int, str | None]:
    """What ``_dl_map_object_from_fd`` makes of a file a probe found: (its device and inode,
    why it refuses to map it as a dependency (an index of _REFUSED; 0: it does not), its
    $ORIGIN when the path is absolute (None: the working directory's, each run's own))."""
    assert probe.stat is not None and probe.facts is not None
    facts = probe.facts
    refused = (1 if facts.is_executable else 2 if not facts.has_dynamic
               else 3 if facts.is_pie else 4 if probe.stat.size < facts.load_extent else 0)
    path = probe.path
    return ((probe.stat.dev, probe.stat.ino), refused,
            dirname(path) if path.startswith("/") else None)


_DERIVED_MAX = 1 << 16

# _dl_map_object_from_fd's refusals, in the order it checks: (ldsim's reason, the message)
_REFUSED = {
    1: ("cannot dynamically load executable", "cannot dynamically load executable"),
    2: ("object file has no dynamic section", "object file has no dynamic section"),
    3: ("cannot dynamically load position-independent executable",
        "cannot dynamically load position-independent executable"),
    4: ("file is shorter than its load segments (the real loader crashes with SIGBUS)",
        "truncated file"),
}


# GlibcModel.__init__'s values per (process, loader profile, architecture), by identity:
# (env, profile, arch, hwcaps subdirectories, hwcap bits, system directories with one "/")
_SETUPS: dict[tuple[int, int, int], tuple[LoaderEnv, GlibcProfile, Arch | None,
                                          tuple[str, ...], int, tuple[str, ...]]] = {}
_SETUPS_MAX = 64


class _Known:
    """What ``_dl_map_object``'s scan and ``_dl_map_object_from_fd``'s reuse check find,
    indexed. The scan order is the main program, the interpreter, then the loaded objects in
    load order; per name, the position and object of the first that answers to it by path or
    by a name it was requested by (never the main program), and of the first whose DT_SONAME
    it is; per (device, inode), the first loaded object. Made from the run's lists; then
    :meth:`add` takes each object loaded, :meth:`named` each name an object answers to from
    then on."""

    def __init__(self, main: ObjectRecord, interp: ObjectRecord | None, chain: list[Entry],
                 loaded: list[ObjectRecord]) -> None:
        self.main = main
        self.interp = interp
        self.order: dict[ObjectRecord, int] = {}
        self.by_name: dict[str, tuple[int, ObjectRecord]] = {}
        self.by_soname: dict[str, tuple[int, ObjectRecord]] = {}
        self.by_file: dict[tuple[int, int], ObjectRecord] = {}
        self._scan(main)
        if interp is not None:
            self._scan(interp)
        for obj in loaded:
            self._scan(obj)
        for entry in chain[1:]:  # the main program is never reused
            if isinstance(entry, ObjectRecord) and entry.file_id is not None:
                self.by_file.setdefault(entry.file_id, entry)

    def _scan(self, obj: ObjectRecord) -> None:
        if obj in self.order:
            return  # listed earlier already: it answers there first
        pos = self.order[obj] = len(self.order)
        if obj is not self.main:
            self.by_name.setdefault(obj.path, (pos, obj))
            for n in obj.names:
                self.by_name.setdefault(n, (pos, obj))
        if obj.facts is not None and obj.facts.soname is not None:
            self.by_soname.setdefault(obj.facts.soname, (pos, obj))

    def add(self, obj: ObjectRecord) -> None:
        """``obj`` was just loaded (appended to the chain and the loaded objects)."""
        self._scan(obj)
        if obj.file_id is not None:
            self.by_file.setdefault(obj.file_id, obj)

    def named(self, obj: ObjectRecord, name: str) -> None:
        """``obj`` answers to ``name`` now (it was just appended to its names)."""
        pos = self.order.get(obj)
        if pos is None or obj is self.main:
            return
        current = self.by_name.get(name)
        if current is None or current[0] > pos:
            self.by_name[name] = (pos, obj)


@lru_cache(maxsize=64)  # one CPU and one loader for most programs of a run
def _subdirs(hwcaps: tuple[str, ...], legacy_hwcaps: bool, legacy: tuple[str, ...],
             platform: str) -> tuple[str, ...]:
    subs = [f"glibc-hwcaps/{name}/" for name in hwcaps]
    if legacy_hwcaps:
        comps = [*legacy]
        if platform:
            comps.append(platform)
        comps.append("tls")
        n = len(comps)
        for mask in range((1 << n) - 1, 0, -1):
            subs.append("/".join(comps[i] for i in reversed(range(n)) if mask & (1 << i)) + "/")
    subs.append("")
    return tuple(subs)


def _split(value: str, seps: str) -> list[str]:
    parts = [value]
    for sep in seps:
        parts = [p for piece in parts for p in piece.split(sep)]
    return parts


_X86_HWCAP_BITS = {"sse2": 0, "x86_64": 1, "avx512_1": 2}


def _hwcap_bits(names: tuple[str, ...]) -> int:
    bits = 0
    for n in names:
        if n in _X86_HWCAP_BITS:
            bits |= 1 << _X86_HWCAP_BITS[n]
    return bits
