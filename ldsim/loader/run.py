"""Resolve one program in a root: read what the loader would read, pick the model, walk.

This is the one place that turns (view, executable, LoaderEnv) into a Resolution: it reads
the program, its interpreter (for the default directories and ``$LIB``), the root's
``/etc/ld.so.cache`` and ``/etc/ld.so.preload``. Nothing is executed.
"""

from __future__ import annotations

import contextlib

from ldsim.config.arch import ARCHES, Arch, arch_of, generic, process_env
from ldsim.config.env import Invocation, LoaderEnv
from ldsim.config.ld_so_cache import LdSoCache, parse_ld_so_cache
from ldsim.config.loader_profile import GlibcProfile, fallback_profile, glibc_profile_from_bytes
from ldsim.elf.facts import (
    ELFMAG,
    LOADABLE_TYPES,
    ElfFacts,
    ElfIdent,
    class_name,
    ehdr_size,
    machine_name,
    phentsize_of,
)
from ldsim.elf.flavour import Libc, flavour_of, loader_flavour
from ldsim.elf.layout import ElfImage, parse_ident
from ldsim.elf.reader import kernel_phdr_error, parse_elf
from ldsim.errors import CacheFormatError, FsError
from ldsim.fs.view import EXECUTE, READ, View, permits
from ldsim.loader.glibc import GlibcModel
from ldsim.loader.musl import MuslModel, map_library
from ldsim.loader.probe import FileCache, ident_error
from ldsim.loader.walk import DlopenCalls
from ldsim.result import Diagnostic, Resolution, Severity

CACHE_PATH = "/etc/ld.so.cache"
PRELOAD_PATH = "/etc/ld.so.preload"


class RootConfig:
    """Per-root loader configuration, read once and shared by every program of a run."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.files = FileCache(view)
        self.diagnostics: list[Diagnostic] = []
        self._profiles: dict[tuple[str, int, str, str], GlibcProfile] = {}
        self._interps: dict[tuple[str, str, int, int, int], tuple[int, str] | None] = {}
        self.cache = self._read_cache()
        self.preload_file = self._read_text(PRELOAD_PATH)

    def _read_text(self, path: str) -> str | None:
        try:
            return self.view.read(path).decode("utf-8", "surrogateescape")
        except FsError:
            return None

    def _read_cache(self) -> LdSoCache | None:
        try:
            data = self.view.read(CACHE_PATH)
        except FsError as exc:
            self.diagnostics.append(Diagnostic(
                Severity.INFO, f"{CACHE_PATH}: {exc.reason}; the loader skips the cache step",
                CACHE_PATH))
            return None
        try:
            return parse_ld_so_cache(data, CACHE_PATH)
        except CacheFormatError as exc:
            self.diagnostics.append(Diagnostic(
                Severity.WARNING, f"{CACHE_PATH}: {exc.reason}; ignored, as ld.so ignores a "
                "cache it cannot read", CACHE_PATH))
            return None

    def glibc_profile(self, interp: str | None, machine: int,
                      arch: Arch | None = None, cwd: str = "/") -> GlibcProfile:
        # (the architecture too: with no loader to read, armel's and armhf's differ; the
        # working directory for a relative PT_INTERP, which the kernel opens from there)
        where = cwd if interp and not interp.startswith("/") else "/"
        key = (interp or "", machine, arch.name if arch is not None else "", where)
        prof = self._profiles.get(key)
        if prof is None:
            prof = fallback_profile(machine, arch)
            if interp:
                with contextlib.suppress(FsError):
                    prof = glibc_profile_from_bytes(self.view.read(interp, cwd=where), interp,
                                                    machine, arch)
            self._profiles[key] = prof
        return prof

    def kernel_refuses_interp(self, interp: str, cwd: str, ident: ElfIdent
                              ) -> tuple[int, str] | None:
        """Why ``execve`` refuses ``interp``, the interpreter of a program of ``ident``'s
        class, byte order and machine (Linux ``fs/binfmt_elf.c``, ``load_elf_binary``):
        (errno, why); None when it takes it (or it is missing, which is the model's to
        say). The kernel opens it as it opens a program (``open_exec``: a directory, a FIFO,
        a device is refused, EACCES), reads an ELF header of the program's class (fewer
        bytes: EIO), checks the magic and the machine, then reads its program headers
        (``load_elf_phdrs``): ELIBBAD when any of that fails."""
        key = (interp, cwd, ident.elf_class, ident.data, ident.machine)
        if key not in self._interps:
            self._interps[key] = _interp_refusal(self.view, interp, cwd, ident)
        return self._interps[key]


def _musl_unmapped(view: View, exe: str, cwd: str, files: FileCache, ident: ElfIdent,
                   type_error: str | None) -> str:
    """Why musl's ``map_library`` fails on the file ``exe`` (see :func:`map_library`), or
    "" when it maps it."""
    if type_error is not None:
        return type_error
    try:
        parts = view.resolve_parts(exe, cwd=cwd)
        st, data = files.read(parts, exe)
    except FsError as exc:  # (read a moment ago: changed since)
        return exc.reason
    return map_library(files, st, data, exe, (ident.elf_class, ident.data))[1]


_PATH_ERRNOS = frozenset({"ELOOP", "ENOTDIR", "ENAMETOOLONG"})
"""What ``open_exec`` of an interpreter path fails with, besides ENOENT, before any file is
opened: execve returns it for the program."""


def _interp_refusal(view: View, interp: str, cwd: str, ident: ElfIdent
                    ) -> tuple[int, str] | None:
    import errno
    import stat as stat_mod

    try:
        st = view.stat(interp, cwd=cwd)
    except FsError as exc:  # missing (ENOENT) is the model's to say
        if exc.errno_name not in _PATH_ERRNOS:
            return None
        return getattr(errno, exc.errno_name), exc.reason
    if not st.is_reg:
        kind = ("a directory" if st.is_dir else "a FIFO" if stat_mod.S_ISFIFO(st.mode)
                else "a socket" if stat_mod.S_ISSOCK(st.mode) else "a device"
                if stat_mod.S_ISCHR(st.mode) or stat_mod.S_ISBLK(st.mode) else "no file")
        return errno.EACCES, f"it is {kind}, not a regular file"
    size = ehdr_size(ident.elf_class)  # the kernel reads the program's class of header
    try:
        head = view.read(interp, cwd=cwd, limit=size)
    except FsError:  # gone since the stat: the model finds it missing; (ldsim's own lack
        return None  # of permission is an AccessError, which stops it, as anywhere else)
    if len(head) < size:
        return errno.EIO, (f"it has {len(head)} bytes, fewer than the {size} of an ELF "
                           "header of the program's class")
    if head[:4] != ELFMAG:
        return errno.ELIBBAD, "it is not an ELF file"
    theirs = parse_ident(head, interp, assume=(ident.elf_class, ident.data))
    if theirs.machine != ident.machine:
        return errno.ELIBBAD, (f"it is built for {machine_name(theirs.machine)}, the "
                               f"program for {machine_name(ident.machine)}")
    hdr = ElfImage(head, interp, theirs).header()
    problem = kernel_phdr_error(ident.elf_class, theirs.phentsize, hdr.phnum)
    if problem is None and hdr.phoff + theirs.phentsize * hdr.phnum > st.size:
        problem = "its program headers run past its end"
    return (errno.ELIBBAD, problem) if problem is not None else None


def read_program(view: View, path: str, cwd: str = "/",
                 files: FileCache | None = None) -> ElfFacts:
    """The executable's facts. Raises FsError/ElfError naming the program. ``files``: a
    cache of the view whose facts of the same file (parsed when a program loaded it as a
    library) are used as they are."""
    if files is None or files.view is not view:
        return parse_elf(view.buffer(path, cwd=cwd), path)
    parts = view.resolve_parts(path, cwd=cwd)
    known = files.known_facts(view.lstat_parts(parts, path), path)
    if known is not None:
        return known
    return parse_elf(view.read_parts(parts, path), path)


# The loader `ldd` runs on an object that names none (Debian's ldd: RTLDLIST), per machine.
LDD_LOADERS: dict[int, str] = {a.machine: a.ldd_loader for a in reversed(ARCHES)}


def resolve(view: View, exe: str, env: LoaderEnv, config: RootConfig | None = None,
            facts: ElfFacts | None = None, loader: Libc | None = None,
            ldd_loader: str | None = None, dlopen: DlopenCalls = ()) -> Resolution:
    """Resolve ``exe`` in ``view`` as the process ``env`` would load it: a finished
    :class:`~ldsim.result.Resolution`. ``loader`` forces a model (default: from PT_INTERP);
    ``ldd_loader`` models ``ldd``: that glibc loader traces the file, whatever its PT_INTERP
    says (glibc's ldd script runs the loaders of RTLDLIST). ``dlopen``: calls made after the
    initial load (see :meth:`ldsim.loader.walk.Walk.run`)."""
    config = config or RootConfig(view)
    if facts is None:
        facts = read_program(view, exe, env.cwd, config.files)
    ident = facts.ident
    arch = arch_of(ident.machine, ident.elf_class, ident.data, ident.flags)
    notes: list[Diagnostic] = []
    if arch is not None and env.hwcaps and (problem := arch.check_hwcaps(
            tuple(h for h in env.hwcaps if not (arch.name == "i386" and h.startswith("x86-64-"))))):
        notes.append(Diagnostic(Severity.WARNING, f"--hwcaps: {problem}; the loader of this "
                                "program never searches such a subdirectory"))
    if arch is not None:
        notes += [Diagnostic(Severity.WARNING, f"{why}: the loader of this program never "
                             "searches such a subdirectory")
                  for why in arch.check_cpu(env.platform, env.legacy_hwcap_names)]
    env = process_env(env, arch)  # the CPU as a program of its architecture sees it
    rules = arch or generic(ident.machine, ident.elf_class, ident.data)
    flavour = Libc.GLIBC if ldd_loader else (loader or loader_flavour(facts))
    if loader is None and not ldd_loader and facts.interp is None and arch is not None \
            and flavour_of(facts)[0] is Libc.MUSL \
            and view.exists(f"/lib/ld-musl-{arch.musl}.so.1"):
        flavour = Libc.MUSL  # a musl library, and the root has musl's loader: its `ldd`
    interp = ldd_loader or facts.interp
    refuse: tuple[str, str] | None = None
    kernel = ldd_loader is None and env.invocation is Invocation.EXEC
    # the kernel starts this very file (a library that names no loader is traced as `ldd`
    # does, below)
    execs = kernel and not (facts.interp is None and facts.interp_error is None
                            and (facts.needed or facts.empty_dynamic) and arch is not None)
    denied = None
    caller = env.user
    user = caller is not None and caller[0] != 0
    # what the kernel starts must be executable by its caller. Root needs one x bit of a
    # program: one that names a loader and is an executable, a PIE or has no SONAME (and
    # some x bit: see _plugin), a static ET_EXEC or static-PIE program, a file whose
    # PT_INTERP the kernel refuses; a library it starts (one that also runs, as libc.so.6
    # does, or one that needs nothing, which `ldd` calls statically linked) is judged as
    # the library it is, by what loads it
    plugin = execs and not user and facts.is_program and not facts.is_executable \
        and not facts.is_pie and facts.interp_error is None and _plugin(view, exe, env.cwd)
    judged = execs and (user or facts.is_program or facts.is_executable or facts.is_pie
                        or facts.interp_error is not None) and not plugin
    if plugin:
        notes.append(Diagnostic(
            Severity.INFO, f"{exe} names a loader (PT_INTERP) but has no SONAME, no DF_1_PIE "
            "and no x bit, and is named as a shared object is: judged as the plugin it is, "
            "which dlopen loads (as `ldd` traces it); execve would refuse to run it (EACCES)",
            exe))
    if judged or user:
        # the caller's rights come first: execve needs to search the way to the program and
        # to execute it, then its interpreter (fs/exec.c, open_exec; fs/binfmt_elf.c opens
        # it after reading the program's headers); ld.so PROG (and ldd) opens the program
        # for reading
        denied = _caller_denied(view, exe, env.cwd, caller, EXECUTE if judged else READ)
    # load_elf_binary checks e_type before it reads the program headers
    type_error = None if ident.e_type in LOADABLE_TYPES else \
        f"its e_type is {ident.e_type:#x}, neither ET_EXEC nor ET_DYN"
    enoexec = (type_error or facts.phdr_error or facts.interp_error) if execs else None
    refused = None
    if denied is None and enoexec is None and execs and facts.interp:
        denied = _caller_denied(view, facts.interp, env.cwd, caller, EXECUTE)
        denied = denied and f"its interpreter {facts.interp}: {denied}"
        refused = None if denied else config.kernel_refuses_interp(facts.interp, env.cwd,
                                                                      ident)
    if refused is not None:
        import errno
        import os

        code, why = refused
        refuse = (f"the kernel cannot start it: its interpreter {facts.interp}: {why} "
                  f"({errno.errorcode[code]})", f"{exe}: {os.strerror(code)}")
    elif denied is not None:
        refuse = ((f"the kernel cannot start it: {denied}", f"{exe}: Permission denied")
                  if execs else
                  (denied, f"{exe}: cannot open shared object file: Permission denied"))
    elif enoexec is not None:
        # execve fails (ENOEXEC): no loader runs, whatever the rest of the file says (the
        # program headers are read and checked before PT_INTERP is looked for)
        refuse = (f"the kernel cannot start it: {enoexec}",
                  f"{exe}: cannot execute binary file: Exec format error")
    elif not execs and flavour is Libc.GLIBC and (bad := ident_error(ident, ident.data, arch)):
        # ld.so maps the file it traces or runs itself (_dl_map_object, open_verify in
        # elf/dl-load.c): the e_ident fields first (the kernel checks none of them)
        refuse = (bad, f"{exe}: {bad}")
    elif not execs and flavour is Libc.GLIBC and type_error is not None:
        # then e_type
        refuse = (f"only ET_DYN and ET_EXEC can be loaded ({type_error})",
                  f"{exe}: only ET_DYN and ET_EXEC can be loaded")
    elif not execs and flavour is Libc.MUSL and (bad := _musl_unmapped(
            view, exe, env.cwd, config.files, ident, type_error)):
        # musl's ldd is its loader's --list, which maps the file itself: when map_library
        # fails on it (ldso/dynlink.c), __dls3 gives up on the program
        ldname = interp or (f"/lib/ld-musl-{arch.musl}.so.1" if arch is not None else "ldd")
        refuse = (f"not a valid dynamic program ({bad})",
                  f"{ldname}: {exe}: Not a valid dynamic program")
    elif not execs and flavour is Libc.GLIBC \
            and ident.phentsize != phentsize_of(ident.elf_class):
        # ld.so maps the file it traces or runs itself (_dl_map_object, open_verify in
        # elf/dl-load.c), which refuses program headers of another size
        refuse = (f"ELF file's phentsize not the expected size (its e_phentsize is "
                  f"{ident.phentsize}, not {phentsize_of(ident.elf_class)})",
                  f"{exe}: ELF file's phentsize not the expected size")
    if arch is None and flavour is Libc.GLIBC:
        notes.append(Diagnostic(
            Severity.WARNING, f"{exe}: ldsim has no table for the glibc loader of "
            f"{machine_name(ident.machine)} ({class_name(ident.elf_class)}): glibc's generic "
            "rules are assumed (cache entries flagged libc6 or ELF, no hwcaps or platform "
            "subdirectories, $PLATFORM unexpanded) unless --hwcaps, --platform or "
            f"--legacy-hwcaps say otherwise (tables: {', '.join(a.name for a in ARCHES)})",
            exe))
    if interp is None and refuse is None and (facts.needed or facts.empty_dynamic) \
            and arch is not None:
        # ldd: glibc's runs its RTLDLIST loader on the file; musl's ldd is the loader itself
        interp = arch.ldd_loader if flavour is Libc.GLIBC else f"/lib/ld-musl-{arch.musl}.so.1"
        how = (f"`ldd {exe}`, which runs {interp} on it" if flavour is Libc.GLIBC
               else f"musl's `ldd {exe}`, which is `{interp} --list {exe}`")
        notes.append(Diagnostic(
            Severity.INFO, f"{exe} has no PT_INTERP: the kernel cannot start it as a "
            f"program; modelled as {how}", exe))
    if flavour is Libc.MUSL:
        return MuslModel(view, env, config.files, interp).run(exe, facts, after=notes,
                                                               interpreter=interp, refuse=refuse,
                                                               dlopen=dlopen)
    profile = config.glibc_profile(interp, facts.machine, arch, env.cwd)
    if profile.source == "fallback" and interp and refuse is None \
            and view.exists(interp, cwd=env.cwd):
        # (a loader that is missing or that the kernel refuses searches nothing)
        notes.append(Diagnostic(
            Severity.WARNING, f"{interp}: cannot read the loader's built-in search "
            f"directories; assuming {':'.join(profile.system_dirs)}", interp))
    if refuse is None and facts.empty_dynamic and (not kernel or facts.interp is None):
        # ld.so maps the file itself (ldd, ld.so PROG): _dl_map_object_from_fd refuses a
        # PT_DYNAMIC of no bytes, "usually separate debuginfo" (elf/dl-load.c)
        refuse = ("object file has no dynamic section (its PT_DYNAMIC segment has no bytes in "
                  "the file: a separate debuginfo file?)",
                  f"{exe}: object file has no dynamic section")
    cache, preload_file = config.cache, config.preload_file
    if env.user is not None and env.user[0] != 0:
        # ld.so opens them as the process it runs in (_dl_load_cache_lookup; rtld.c's
        # access (R_OK) of the preload file): one its caller may not read is skipped
        if cache is not None and _caller_denied(view, CACHE_PATH, "/", env.user, READ):
            cache = None
            notes.append(Diagnostic(
                Severity.INFO, f"{CACHE_PATH}: the caller (uid:gid {env.user[0]}:"
                f"{env.user[1]}) may not read it; the loader skips the cache step",
                CACHE_PATH))
        if preload_file is not None and _caller_denied(view, PRELOAD_PATH, "/", env.user,
                                                       READ):
            preload_file = None
    # No PT_INTERP and nothing to trace: the kernel starts the program itself (a static or
    # static-PIE executable; fs/binfmt_elf.c maps no interpreter), so no loader reads
    # LD_PRELOAD or the preload file
    loader_runs = not (kernel and interp is None and refuse is None)
    if not loader_runs and (env.preload or preload_file is not None):
        asked = [w for w, given in (("LD_PRELOAD", bool(env.preload)),
                                    (PRELOAD_PATH, preload_file is not None)) if given]
        notes.append(Diagnostic(
            Severity.INFO, f"{exe} has no PT_INTERP: the kernel starts it without a loader, "
            f"so {' and '.join(asked)} {'are' if len(asked) > 1 else 'is'} not read and nothing "
            "is preloaded", exe))
    model = GlibcModel(view, env, profile, cache, config.files, preload_file,
                       interp=interp, arch=rules, loader_runs=loader_runs)
    return model.run(exe, facts, before=config.diagnostics, after=notes, interpreter=interp,
                     refuse=refuse, dlopen=dlopen)


def _plugin(view: View, path: str, cwd: str) -> bool:
    """Whether a file that names a loader but is no executable, no PIE and has no SONAME
    is a plugin that also runs (``pam_cap.so``), not a program: named as a shared object
    is (``NAME.so``, ``NAME.so.1``) and no x bit at all. Nothing runs it then (execve
    refuses it, even to root), what loads it is ``dlopen``: it is judged as the library it
    is, as ``ldd`` traces it, like a library with a SONAME that also runs (``libc.so.6``,
    ``libcap.so.2``). (A program linked before DF_1_PIE, by binutils before 2.26 or Go's
    own linker, has neither a SONAME nor that flag: its name and its mode tell it apart.)"""
    name = path.rpartition("/")[2]
    if not (name.endswith(".so") or ".so." in name):
        return False
    try:
        return not view.stat(path, cwd=cwd).mode & 0o111
    except FsError:
        return False


def _caller_denied(view: View, path: str, cwd: str, user: tuple[int, int] | None,
                   want: int) -> str | None:
    """Why ``user`` (None: root) may not open ``path`` for ``want``
    (:data:`~ldsim.fs.view.READ` or :data:`~ldsim.fs.view.EXECUTE`), or None: a directory
    on the way it may not search, or the file's own mode. A path that is not there is not a permission problem (None)."""
    try:
        st = view.stat(path, cwd=cwd, user=user)
    except FsError as exc:
        return exc.reason if exc.errno_name == "EACCES" else None
    if permits(st.mode, st.uid, st.gid, user, want):
        return None
    if user is None or user[0] == 0:  # the one thing root may not do
        return (f"permission denied (EACCES): {path} has no execute bit (mode "
                f"{st.mode & 0o7777:04o}), which even root needs to execute a file")
    what = "execute" if want == EXECUTE else "read"
    return (f"permission denied (EACCES): uid:gid {user[0]}:{user[1]} may not {what} "
            f"{path} (mode {st.mode & 0o7777:04o}, owner {st.uid}:{st.gid})")


__all__ = ["LDD_LOADERS", "RootConfig", "read_program", "resolve"]
