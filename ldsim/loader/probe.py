"""Open one candidate file the way glibc's ``open_verify`` does (``elf/dl-load.c``).

Soft rejections (missing file, EACCES, wrong ELF class or machine, an ABI note for another
OS) let the search go on; hard rejections abort the whole program load, also in trace mode.
Facts are parsed once per file and cached by identity (device, inode, size, mtime).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

from ldsim.config.env import may_read
from ldsim.elf.facts import ElfFacts, ElfIdent
from ldsim.elf.reader import Buffer, ehdr_size, parse_elf, parse_ident
from ldsim.errors import ElfError, FsError
from ldsim.fs.view import FileStat, View
from ldsim.result import Outcome

_SOFT_ERRNOS = {"ENOENT": Outcome.ABSENT, "ENOTDIR": Outcome.ABSENT, "EACCES": Outcome.UNREADABLE}
PT_NOTE = 4


@dataclass(frozen=True, slots=True)
class Probe:
    path: str
    outcome: Outcome
    reason: str = ""  # the loader's words for a rejection ("invalid ELF header")
    real_path: str | None = None
    stat: FileStat | None = None
    facts: ElfFacts | None = None


class FileCache:
    """Parsed facts per file identity, shared by every lookup of one run (and across runs)."""

    def __init__(self, view: View) -> None:
        self.view = view
        self._facts: dict[tuple[int, int, int, int], ElfFacts | ElfError] = {}
        # Verdicts of glibc_open_verify per (file identity, expected ident), so a file that
        # several lookups probe is read (and, in a .snap, decompressed) once.
        self.verdicts: dict[tuple[tuple[int, int, int, int], ElfIdent], Probe] = {}

    def facts(self, st: FileStat, buf: Buffer, path: str) -> ElfFacts:
        """``parse_elf`` once per file identity (device, inode, size, mtime)."""
        key = (st.dev, st.ino, st.size, st.mtime_ns)
        hit = self._facts.get(key)
        if hit is None:
            try:
                hit = parse_elf(buf, path)
            except ElfError as exc:
                hit = exc
            self._facts[key] = hit
        if isinstance(hit, ElfError):
            raise ElfError(path, hit.reason)
        return hit

    def load(self, parts: tuple[str, ...], path: str) -> tuple[FileStat, Buffer]:
        st = self.view.lstat_parts(parts, path)
        try:
            return st, self.view._read(parts)
        except IsADirectoryError as exc:
            raise _ReadError(f"cannot read file data: Error {exc.errno}") from None


class _ReadError(Exception):
    pass


def expected_phentsize(elf_class: int) -> int:
    return 56 if elf_class == 2 else 32


def _abi_note_os(buf: Buffer, ident: ElfIdent) -> int | None:
    """The OS field of a PT_NOTE ``NT_GNU_ABI_TAG`` (0 = Linux), as ``open_verify`` reads it."""
    end = "<" if ident.data == 1 else ">"
    mv = memoryview(buf)
    try:
        if ident.elf_class == 2:
            phoff, = struct.unpack_from(end + "Q", mv, 32)
            phnum, = struct.unpack_from(end + "H", mv, 56)
            fmt, size = end + "IIQQQQQQ", 56
        else:
            phoff, = struct.unpack_from(end + "I", mv, 28)
            phnum, = struct.unpack_from(end + "H", mv, 44)
            fmt, size = end + "IIIIIIII", 32
        for i in range(phnum):
            ph = struct.unpack_from(fmt, mv, phoff + i * size)
            if ident.elf_class == 2:
                p_type, p_offset, p_filesz, p_align = ph[0], ph[2], ph[5], ph[7]
            else:
                p_type, p_offset, p_filesz, p_align = ph[0], ph[1], ph[4], ph[7]
            if p_type != PT_NOTE or p_filesz < 32 or p_align < 4:
                continue
            off, stop = p_offset, p_offset + p_filesz
            while off + 12 <= stop:
                namesz, descsz, ntype = struct.unpack_from(end + "III", mv, off)
                name_off = off + 12
                desc_off = name_off + ((namesz + 3) & ~3)
                if ntype == 1 and namesz == 4 and bytes(mv[name_off:name_off + 4]) == b"GNU\0" \
                        and descsz >= 16:
                    os_field, = struct.unpack_from(end + "I", mv, desc_off)
                    return int(os_field)
                off = desc_off + ((descsz + 3) & ~3)
    except (struct.error, OverflowError, ValueError):
        return None  # notes out of the file: glibc's pread fails and it skips the check
    return None


def glibc_open_verify(view: View, cache: FileCache, path: str, cwd: str,
                      expected: ElfIdent, user: tuple[int, int] | None = None) -> Probe:
    """Probe ``path`` (relative paths against ``cwd``) like glibc's ``open_verify``;
    ``user`` (uid, gid) is the caller whose read permission open(2) checks."""
    try:
        parts = view.resolve_parts(path, cwd=cwd)
        st0 = view.lstat_parts(parts, path)
    except FsError as exc:
        soft = _SOFT_ERRNOS.get(exc.errno_name)
        if soft is not None:
            return Probe(path, soft, exc.reason)
        return Probe(path, Outcome.LOOP, exc.reason)
    if not st0.is_dir and not may_read(st0.mode, st0.uid, st0.gid, user):
        return Probe(path, Outcome.UNREADABLE, "permission denied (EACCES)",
                     "/" + "/".join(parts))
    key = ((st0.dev, st0.ino, st0.size, st0.mtime_ns), expected)
    hit = cache.verdicts.get(key)
    if hit is None:
        hit = cache.verdicts[key] = _open_verify(view, cache, path, parts, expected)
    real = "/" + "/".join(parts)  # this spelling's, not the first probe's (bind mounts)
    return Probe(path, hit.outcome, hit.reason, real if hit.real_path else None, hit.stat,
                 hit.facts)


def _open_verify(view: View, cache: FileCache, path: str, parts: tuple[str, ...],
                 expected: ElfIdent) -> Probe:
    real = "/" + "/".join(parts)
    try:
        st, buf = cache.load(parts, path)
    except _ReadError as exc:
        return Probe(path, Outcome.FATAL, str(exc), real)
    except (OSError, FsError) as exc:  # from the view, or the primitive's own OSError
        name = exc.errno_name if isinstance(exc, FsError) else errno.errorcode.get(
            exc.errno or 5, "EIO")
        if name == "EACCES":
            return Probe(path, Outcome.UNREADABLE, "permission denied", real)
        if name == "ENXIO":  # a FIFO or device: glibc would block or fail; never read it
            return Probe(path, Outcome.FATAL, "not a regular file (a FIFO, socket or device)",
                         real)
        return Probe(path, Outcome.LOOP, str(exc), real)
    ehdr = ehdr_size(expected.elf_class)
    if len(buf) < ehdr:
        return Probe(path, Outcome.NOT_ELF, "file too short", real, st)
    mv = memoryview(buf)
    if bytes(mv[:4]) != b"\x7fELF":
        return Probe(path, Outcome.NOT_ELF, "invalid ELF header", real, st)
    if mv[4] != expected.elf_class:
        return Probe(path, Outcome.WRONG_CLASS, f"wrong ELF class: ELFCLASS{32 * mv[4]}", real, st)
    try:
        ident = parse_ident(buf, path)
    except ElfError as exc:
        return Probe(path, Outcome.NOT_ELF, exc.reason, real, st)
    reason = ""
    if ident.data != expected.data:
        reason = ("ELF file data encoding not little-endian" if expected.data == 1
                  else "ELF file data encoding not big-endian")
    elif ident.ident_version != 1:
        reason = "ELF file version ident does not match current one"
    elif ident.osabi not in (0, 3):
        reason = "ELF file OS ABI invalid"
    elif not (ident.abiversion == 0 or (ident.osabi == 3 and ident.abiversion < 4)):
        reason = "ELF file ABI version invalid"
    elif not ident.padding_zero:
        reason = "nonzero padding in e_ident"
    elif ident.version != 1:
        reason = "ELF file version does not match current one"
    if reason:
        return Probe(path, Outcome.FATAL, reason, real, st)
    if ident.machine != expected.machine:
        return Probe(path, Outcome.WRONG_MACHINE, f"wrong machine {ident.machine}", real, st)
    if ident.e_type not in (2, 3):
        return Probe(path, Outcome.FATAL, "only ET_DYN and ET_EXEC can be loaded", real, st)
    if ident.phentsize != expected_phentsize(ident.elf_class):
        return Probe(path, Outcome.FATAL, "ELF file's phentsize not the expected size", real, st)
    try:
        facts = cache.facts(st, buf, path)
    except ElfError as exc:
        if "past the end of the file" in exc.reason:
            return Probe(path, Outcome.FATAL, "cannot read file data", real, st)
        return Probe(path, Outcome.FATAL, exc.reason, real, st)
    note_os = _abi_note_os(buf, ident)
    if note_os not in (None, 0):
        return Probe(path, Outcome.ABI_NOTE, f"ABI note for OS {note_os}", real, st, facts)
    return Probe(path, Outcome.FOUND, "", real, st, facts)
