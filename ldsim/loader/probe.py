"""Open one candidate file the way glibc's ``open_verify`` does (``elf/dl-load.c``).

Soft rejections (missing file, EACCES, wrong ELF class or machine, an ABI note for another
OS) let the search go on; hard rejections abort the whole program load, also in trace mode.
Facts are parsed once per file and cached by identity (device, inode, size, mtime).
"""

from __future__ import annotations

import errno

from ldsim.buffers import Buffer, head_of
from ldsim.config.arch import Arch, arch_of
from ldsim.config.env import may_read
from ldsim.elf.facts import (
    ELFMAG,
    EV_CURRENT,
    LOADABLE_TYPES,
    NT_GNU_ABI_TAG,
    ElfData,
    ElfFacts,
    ElfIdent,
    OsAbi,
    SegmentType,
    ehdr_size,
    phentsize_of,
)
from ldsim.elf.layout import ElfImage, parse_ident
from ldsim.elf.reader import parse_elf
from ldsim.errors import AccessError, ElfError, FsError
from ldsim.fs.view import ACCESS_REASON, FileStat, View
from ldsim.records import record
from ldsim.result import Attempt, Outcome

_SOFT_ERRNOS = {"ENOENT": Outcome.ABSENT, "ENOTDIR": Outcome.ABSENT, "EACCES": Outcome.UNREADABLE}


@record(frozen=True, slots=True)
class Probe:
    path: str
    outcome: Outcome
    reason: str = ""  # the loader's words for a rejection ("invalid ELF header")
    real_path: str | None = None
    stat: FileStat | None = None
    facts: ElfFacts | None = None
    errno: str = ""  # what errno is after a failed probe (open_verify sets ENOENT on
    # the soft rejections it makes itself); "" when the file is usable


class FileCache:
    """What is known about each file, per file identity (device, inode, size, mtime), shared
    by every lookup of one run and across runs: parsed facts, probe verdicts, symbol checks.
    A file that several lookups probe is read (and, in a .snap, decompressed) once."""

    def __init__(self, view: View) -> None:
        self.view = view
        self._facts: dict[tuple[Identity, tuple[int, int] | None], ElfFacts | ElfError] = {}
        # Verdicts of glibc_open_verify per (file identity, verify_key of the program).
        self.verdicts: dict[tuple[Identity, VerifyKey], Probe] = {}
        self._defines: dict[tuple[Identity, tuple[str, ...]], bool] = {}
        # glibc_open_verify's probes by path, per (verify_key, user, working directory)
        self._probes: dict[tuple[VerifyKey, tuple[int, int] | None, str], dict[str, Probe]] = {}
        # the ld.so.cache steps that found a file, by name, per (verify_key, user, working
        # directory, cache, lookup arguments, architecture) (see cache_steps)
        self._cache_steps: dict[tuple[object, ...], tuple[
            object, object, dict[str, tuple[Probe, Attempt] | None]]] = {}
        # what a loader model derives from a found probe, by the probe's identity (the entry
        # keeps the probe alive): see GlibcModel._load
        self.derived: dict[int, tuple[Probe, tuple[int, int], int, str | None]] = {}

    def facts(self, st: FileStat, buf: Buffer, path: str,
              assume: tuple[int, int] | None = None) -> ElfFacts:
        r"""``parse_elf`` once per file identity (and layout ``assume``\ d, see
        :func:`~ldsim.elf.layout.parse_ident`)."""
        key = (identity(st), assume)
        hit = self._facts.get(key)
        if hit is None:
            try:
                hit = parse_elf(buf, path, assume)
            except ElfError as exc:
                # only the reason is kept: the error's traceback holds the parser's frames,
                # and with them the file's buffer
                hit = ElfError(exc.path, exc.reason)
            self._facts[key] = hit
        if isinstance(hit, ElfError):
            raise ElfError(path, hit.reason)
        return hit

    def known_facts(self, st: FileStat, path: str) -> ElfFacts | None:
        """The facts :meth:`facts` already parsed for this file identity (with no layout
        assumed), or None; raises the :class:`ElfError` it gave, naming ``path``."""
        hit = self._facts.get((identity(st), None))
        if isinstance(hit, ElfError):
            raise ElfError(path, hit.reason)
        return hit

    def probes(self, expected: ElfIdent, user: tuple[int, int] | None,
               cwd: str) -> dict[str, Probe] | None:
        """Where :func:`glibc_open_verify` probes of this view for a program of ``expected``
        run by ``user`` in ``cwd`` are kept by path, shared by every run: when the view is
        stable (:attr:`~ldsim.fs.view.View.stable`) the same path always probes the same.
        None when the view is not stable."""
        if not self.view.stable:
            return None
        key = (verify_key(expected), user, cwd)
        found = self._probes.get(key)
        if found is None:
            found = self._probes[key] = {}
        return found

    def cache_steps(self, expected: ElfIdent, user: tuple[int, int] | None, cwd: str,
                    cache: object, lookup_args: tuple[object, ...],
                    arch: object) -> dict[str, tuple[Probe, Attempt] | None] | None:
        """Where glibc's ld.so.cache step (``_dl_load_cache_lookup``, then ``open_verify`` of
        its one candidate) is kept by name when it found a usable file (None: the cache has
        no entry for the name), shared by every run
        of a stable view whose programs probe alike (as :meth:`probes`) and look ``cache``
        up alike (``lookup_args``: the hwcaps, platform and hwcap bits; ``arch``: the
        architecture's rules, by identity, as :func:`~ldsim.config.ld_so_cache.lookup`
        keeps them). None when the view is not stable."""
        if not self.view.stable:
            return None
        key = (verify_key(expected), user, cwd, id(cache), lookup_args, id(arch))
        found = self._cache_steps.get(key)
        if found is None or found[0] is not cache or found[1] is not arch:
            found = self._cache_steps[key] = (cache, arch, {})
        return found[2]

    def defines(self, st: FileStat, buf: Buffer, path: str, names: tuple[str, ...]) -> bool:
        """Whether the file's dynamic symbol table defines every one of ``names``."""
        key = (identity(st), names)
        hit = self._defines.get(key)
        if hit is None:
            hit = self._defines[key] = _defines_all(buf, path, names)
        return hit

    def load(self, parts: tuple[str, ...], path: str) -> tuple[FileStat, Buffer]:
        """The file's status and content; a directory is a :class:`_ReadError` (read(2)
        fails with EISDIR), anything else the view's own OSError."""
        st = self.view.lstat_parts(parts, path)
        try:
            return st, self.view._read(parts)
        except IsADirectoryError as exc:
            raise _ReadError(f"cannot read file data: Error {exc.errno}") from None

    def read(self, parts: tuple[str, ...], path: str) -> tuple[FileStat, Buffer]:
        """The file's status and content; any failure is an :class:`FsError` naming ``path``."""
        return self.view.lstat_parts(parts, path), self.view.read_parts(parts, path)


Identity = tuple[int, int, int, int]
VerifyKey = tuple[int, int, int, int]


def verify_key(expected: ElfIdent) -> VerifyKey:
    """What of the program's ident ``open_verify``'s verdict on a file depends on (see
    :func:`_open_verify`): its class, byte order, machine and flags (its architecture's
    rules). Programs that differ only in type, OS ABI or the like share verdicts."""
    return (expected.elf_class, expected.data, expected.machine, expected.flags)


def identity(st: FileStat) -> Identity:
    """What tells one version of one file from another: device, inode, size, mtime."""
    return (st.dev, st.ino, st.size, st.mtime_ns)


def _defines_all(buf: Buffer, path: str, names: tuple[str, ...]) -> bool:
    finder = buf if isinstance(buf, (bytes, bytearray)) or hasattr(buf, "find") else bytes(buf)
    if any(finder.find(n.encode("utf-8", "surrogateescape") + b"\0") < 0 for n in names):
        return False  # cheap test before reading the symbol table (a mapped file: no copy)
    from ldsim.elf.symbols import defined_names

    try:
        defined = defined_names(buf)
    except ElfError:
        return False
    return all(n in defined for n in names)


class _ReadError(Exception):
    pass


def _abi_note_os(buf: Buffer, ident: ElfIdent) -> int | None:
    """The OS field of a PT_NOTE ``NT_GNU_ABI_TAG`` (0 = Linux), as ``open_verify`` reads it."""
    img = ElfImage(buf, "", ident)
    try:
        hdr = img.header()
        for ph in img.program_headers(hdr.phoff, hdr.phnum, phentsize_of(ident.elf_class)):
            if ph.type != SegmentType.NOTE or ph.filesz < 32 or ph.align < 4:
                continue
            for note in img.notes(ph.offset, ph.filesz):
                if note.type == NT_GNU_ABI_TAG and note.name == b"GNU\0" \
                        and note.desc_size >= 16:
                    os_field, = img.unpack("I", note.desc_offset)
                    return int(os_field)
    except ElfError:
        return None  # notes out of the file: glibc's pread fails and it skips the check
    return None


def ident_error(ident: ElfIdent, data: int, arch: Arch | None) -> str:
    """What glibc's ``open_verify`` (elf/dl-load.c) says of an ELF header whose magic and
    class are right, for a loader of byte order ``data`` and architecture ``arch``: the
    byte order, the e_ident version, OS ABI, ABI version and padding, the machine's own
    fatal check, the ELF version; "" when it finds nothing wrong there."""
    if ident.data != data:
        return ("ELF file data encoding not little-endian" if data == ElfData.LSB
                else "ELF file data encoding not big-endian")
    if ident.ident_version != EV_CURRENT:
        return "ELF file version ident does not match current one"
    if not (arch.valid_osabi(ident.osabi) if arch is not None
            else ident.osabi in (OsAbi.SYSV, OsAbi.GNU)):
        return "ELF file OS ABI invalid"
    if not (arch.valid_abiversion(ident.osabi, ident.abiversion) if arch is not None
            else ident.abiversion == 0 or (ident.osabi == OsAbi.GNU and ident.abiversion < 4)):
        return "ELF file ABI version invalid"
    if not ident.padding_zero:
        return "nonzero padding in e_ident"
    if arch is not None and (problem := arch.header_problem(
            ident.machine, ident.osabi, ident.flags)) is not None and problem[0] == "fatal":
        return problem[1]  # ARM's VALID_ELF_HEADER: a float ABI that is not the loader's
    if ident.version != EV_CURRENT:
        return "ELF file version does not match current one"
    return ""


def glibc_open_verify(view: View, cache: FileCache, path: str, cwd: str,
                      expected: ElfIdent, user: tuple[int, int] | None = None) -> Probe:
    """Probe ``path`` (relative paths against ``cwd``) like glibc's ``open_verify``;
    ``user`` (uid, gid) is the caller whose permissions open(2) checks: to search each
    directory on the way, to read the file."""
    try:
        parts = view.resolve_parts(path, cwd=cwd, user=user)
        st0 = view.lstat_parts(parts, path)
    except FsError as exc:
        soft = _SOFT_ERRNOS.get(exc.errno_name)
        if soft is not None:
            return Probe(path, soft, exc.reason, errno=exc.errno_name)
        return Probe(path, Outcome.LOOP, exc.reason, errno=exc.errno_name)
    if not st0.is_dir and not may_read(st0.mode, st0.uid, st0.gid, user):
        return Probe(path, Outcome.UNREADABLE, "permission denied (EACCES)",
                     "/" + "/".join(parts), errno="EACCES")
    key = (identity(st0), verify_key(expected))
    hit = cache.verdicts.get(key)
    if hit is None:
        hit = cache.verdicts[key] = _open_verify(view, cache, path, parts, expected)
    real = "/" + "/".join(parts)  # this spelling's, not the first probe's (bind mounts)
    return Probe(path, hit.outcome, hit.reason, real if hit.real_path else None, hit.stat,
                 hit.facts, hit.errno)


def _open_verify(view: View, cache: FileCache, path: str, parts: tuple[str, ...],
                 expected: ElfIdent) -> Probe:
    # only what verify_key keeps of ``expected`` may be used here
    real = "/" + "/".join(parts)
    try:
        st, buf = cache.load(parts, path)
    except _ReadError as exc:
        return Probe(path, Outcome.FATAL, str(exc), real)
    except (OSError, FsError) as exc:  # from the view, or the primitive's own OSError
        name = exc.errno_name if isinstance(exc, FsError) else errno.errorcode.get(
            exc.errno or 5, "EIO")
        if name == "EACCES":  # a real call's (the caller's permission was checked before)
            raise AccessError(path, ACCESS_REASON, name) from None
        if name == "ENXIO":  # a FIFO or device: glibc would block or fail; never read it
            return Probe(path, Outcome.FATAL, "not a regular file (a FIFO, socket or device)",
                         real)
        return Probe(path, Outcome.LOOP, str(exc), real, errno=name)
    if len(buf) < ehdr_size(expected.elf_class):
        return Probe(path, Outcome.NOT_ELF, "file too short", real, st)
    head = head_of(buf, 5)
    if head[:4] != ELFMAG:
        return Probe(path, Outcome.NOT_ELF, "invalid ELF header", real, st)
    if head[4] != expected.elf_class:
        return Probe(path, Outcome.WRONG_CLASS, f"wrong ELF class: ELFCLASS{32 * head[4]}", real,
                     st, errno="ENOENT")
    try:
        ident = parse_ident(buf, path)
    except ElfError as exc:
        return Probe(path, Outcome.NOT_ELF, exc.reason, real, st)
    arch = arch_of(expected.machine, expected.elf_class, expected.data, expected.flags)
    if arch is not None and ident.data != expected.data:
        # Debian's loader compares e_machine (read in its own byte order) before the byte
        # order: a library of another, big- or little-endian, architecture is skipped; one
        # whose machine still reads right is refused below (upstream 2.36 refuses both).
        native = int.from_bytes(head_of(buf, 20)[18:20], "little" if expected.data == ElfData.LSB else "big")
        if arch.header_problem(native, ident.osabi, 0) is not None:
            return Probe(path, Outcome.WRONG_MACHINE, f"wrong machine {native}", real, st,
                         errno="ENOENT")
    reason = ident_error(ident, expected.data, arch)
    if reason:
        return Probe(path, Outcome.FATAL, reason, real, st)
    if arch is not None:
        problem = arch.header_problem(ident.machine, ident.osabi, ident.flags)
        if problem is not None:  # elf_machine_matches_host: skipped, the search goes on
            return Probe(path, Outcome.WRONG_MACHINE, problem[1], real, st, errno="ENOENT")
    elif ident.machine != expected.machine:
        return Probe(path, Outcome.WRONG_MACHINE, f"wrong machine {ident.machine}", real, st,
                     errno="ENOENT")
    if ident.e_type not in LOADABLE_TYPES:
        return Probe(path, Outcome.FATAL, "only ET_DYN and ET_EXEC can be loaded", real, st)
    if ident.phentsize != phentsize_of(ident.elf_class):
        return Probe(path, Outcome.FATAL, "ELF file's phentsize not the expected size", real, st)
    try:
        facts = cache.facts(st, buf, path)
    except ElfError as exc:
        if "past the end of the file" in exc.reason:
            return Probe(path, Outcome.FATAL, "cannot read file data", real, st)
        return Probe(path, Outcome.FATAL, exc.reason, real, st)
    note_os = _abi_note_os(buf, ident)
    if note_os not in (None, 0):
        return Probe(path, Outcome.ABI_NOTE, f"ABI note for OS {note_os}", real, st, facts,
                     "ENOENT")
    return Probe(path, Outcome.FOUND, "", real, st, facts)
