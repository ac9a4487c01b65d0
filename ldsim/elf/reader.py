"""Read ELF facts the way the dynamic loader reads them.

The loader never looks at section headers: it reads the ELF header, the program headers,
PT_INTERP, and the PT_DYNAMIC array, and finds the string table and the version records
through their *addresses* (DT_STRTAB, DT_VERNEED, DT_VERDEF) mapped through the PT_LOAD
segments (glibc ``elf/dl-load.c``, ``elf/get-dynamic-info.h``, ``elf/dl-version.c``; musl
``ldso/dynlink.c`` ``decode_dyn``). This module does the same with ``struct`` on a
memory-mapped file, which keeps ``ldsim explain`` fast and works on binaries whose section
headers were stripped. ``tests/test_elf_reader.py`` checks every field against pyelftools on
the real files of this machine.

Everything here is pure (bytes in, facts out) except :func:`map_file`.
"""

from __future__ import annotations

import mmap
import os
import struct
from typing import TypeAlias

from ldsim.elf.facts import (
    DT_FLAGS,
    DT_FLAGS_1,
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    DT_VERDEF,
    DT_VERDEFNUM,
    DT_VERNEED,
    DT_VERNEEDNUM,
    DT_VERSYM,
    ElfFacts,
    ElfIdent,
    VersionNeed,
)
from ldsim.errors import ElfError

Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap

ELFMAG = b"\x7fELF"
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
MAX_DYN_ENTRIES = 1 << 16
MAX_VERSION_RECORDS = 1 << 14


def map_file(fd: int, size: int) -> Buffer:
    """Map a file read-only; an empty file is ``b""`` (mmap refuses length 0)."""
    if size == 0:
        return b""
    return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)


def ehdr_size(elf_class: int) -> int:
    return 52 if elf_class == 1 else 64


def parse_ident(buf: Buffer, path: str, assume: tuple[int, int] | None = None) -> ElfIdent:
    """The identification bytes and the header fields ``open_verify`` checks.

    Raises :class:`ElfError` when the file is not ELF or shorter than its header.
    ``assume=(class, data)`` reads the header with that layout whatever ``e_ident`` says,
    as musl's ``map_library`` does (it never looks at the identification bytes).
    """
    mv = memoryview(buf)
    if assume is None and len(mv) >= 4 and bytes(mv[:4]) != ELFMAG:
        raise ElfError(path, "not an ELF file (bad magic)")
    if len(mv) < 16:
        raise ElfError(path, "file too short")
    ei_class, ei_data, ei_version, osabi, abiversion = mv[4], mv[5], mv[6], mv[7], mv[8]
    padding_zero = not any(mv[9:16])
    if assume is not None:
        ei_class, ei_data = assume
    if ei_class not in (1, 2):
        raise ElfError(path, f"invalid ELF class {ei_class}")
    if ei_data not in (1, 2):
        raise ElfError(path, f"invalid ELF data encoding {ei_data}")
    if len(mv) < ehdr_size(ei_class):
        raise ElfError(path, "file too short")
    end = "<" if ei_data == 1 else ">"
    e_type, e_machine, e_version = struct.unpack_from(end + "HHI", mv, 16)
    phentsize_off = 42 if ei_class == 1 else 54
    (phentsize,) = struct.unpack_from(end + "H", mv, phentsize_off)
    return ElfIdent(ei_class, ei_data, ei_version, osabi, abiversion, padding_zero,
                    e_type, e_machine, e_version, phentsize)


class _Image:
    """Address-to-offset mapping and bounded reads for one ELF file."""

    def __init__(self, buf: Buffer, path: str, ident: ElfIdent) -> None:
        self.mv = memoryview(buf)
        self.path = path
        self.end = "<" if ident.data == 1 else ">"
        self.is64 = ident.elf_class == 2
        self.loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        size = struct.calcsize(self.end + fmt)
        if offset < 0 or offset + size > len(self.mv):
            raise ElfError(self.path, f"truncated: a structure at offset {offset:#x} runs past "
                           f"the end of the file ({len(self.mv)} bytes)")
        return struct.unpack_from(self.end + fmt, self.mv, offset)

    def offset_of(self, vaddr: int, what: str) -> int:
        for p_vaddr, p_offset, p_filesz in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                return vaddr - p_vaddr + p_offset
        raise ElfError(self.path, f"{what} address {vaddr:#x} is not inside any PT_LOAD segment")

    def cstring(self, offset: int, limit: int | None = None) -> str:
        stop = len(self.mv) if limit is None else min(len(self.mv), limit)
        if offset < 0 or offset >= stop:
            raise ElfError(self.path, f"string offset {offset:#x} is outside the string table")
        raw = bytes(self.mv[offset:stop])
        nul = raw.find(b"\0")
        if nul < 0:
            raise ElfError(self.path, f"unterminated string at offset {offset:#x}")
        return raw[:nul].decode("utf-8", "surrogateescape")


def parse_elf(buf: Buffer, path: str, assume: tuple[int, int] | None = None) -> ElfFacts:
    """Parse the facts of one ELF file. Raises :class:`ElfError` naming ``path`` and the reason.

    ``assume``: see :func:`parse_ident`.
    """
    ident = parse_ident(buf, path, assume)
    img = _Image(buf, path, ident)
    if img.is64:
        phoff, = img.unpack("Q", 32)
        phnum, = img.unpack("H", 56)
        phfmt, phsize = "IIQQQQQQ", 56
    else:
        phoff, = img.unpack("I", 28)
        phnum, = img.unpack("H", 44)
        phfmt, phsize = "IIIIIIII", 32
    interp: str | None = None
    dynamic: tuple[int, int] | None = None
    load_extent = 0
    for i in range(phnum):
        ph = img.unpack(phfmt, phoff + i * phsize)
        if img.is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = ph[:6]
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = ph[:5]
        if p_type == PT_LOAD:
            img.loads.append((p_vaddr, p_offset, p_filesz))
            load_extent = max(load_extent, p_offset + p_filesz)
        elif p_type == PT_INTERP:
            interp = img.cstring(p_offset, p_offset + p_filesz)
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return ElfFacts(ident, interp, False, (), None, None, None, 0, 0, None, None, load_extent)
    return _parse_dynamic(img, ident, interp, dynamic, load_extent)


def _parse_dynamic(img: _Image, ident: ElfIdent, interp: str | None,
                   dynamic: tuple[int, int], load_extent: int) -> ElfFacts:
    d_off, d_size = dynamic
    entfmt, entsize = ("qQ", 16) if img.is64 else ("iI", 8)
    entries: list[tuple[int, int]] = []
    for i in range(min(d_size // entsize, MAX_DYN_ENTRIES)):
        tag, val = img.unpack(entfmt, d_off + i * entsize)
        if tag == 0:
            break
        entries.append((tag & 0xFFFFFFFF if not img.is64 else tag & 0xFFFFFFFFFFFFFFFF, val))
    last: dict[int, int] = {}
    for tag, val in entries:
        last[tag] = val
    if DT_STRTAB not in last:
        if any(tag in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) for tag, _ in entries):
            raise ElfError(img.path, "dynamic section has strings but no DT_STRTAB")
        strtab = 0
    else:
        strtab = img.offset_of(last[DT_STRTAB], "DT_STRTAB")
    strsz = last.get(DT_STRSZ, len(img.mv) - strtab)
    str_end = strtab + strsz

    def string(val: int) -> str:
        return img.cstring(strtab + val, str_end)

    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    soname: str | None = None
    for tag, val in entries:
        if tag == DT_NEEDED:
            needed.append(string(val))
        elif tag == DT_RPATH:
            rpath.append(string(val))
        elif tag == DT_RUNPATH:
            runpath.append(string(val))
        elif tag == DT_SONAME:
            soname = string(val)
    # A broken version section does not stop the loader from mapping the file (the check
    # comes later, in _dl_check_all_versions): keep the rest of the facts and say what broke.
    version_needs = None
    version_defs = None
    version_error = None
    try:
        if DT_VERNEED in last:
            version_needs = _parse_verneed(img, last[DT_VERNEED], last.get(DT_VERNEEDNUM, 0),
                                           string)
        if DT_VERDEF in last:
            version_defs = _parse_verdef(img, last[DT_VERDEF], last.get(DT_VERDEFNUM, 0), string)
    except ElfError as exc:
        version_error = exc.reason
    return ElfFacts(
        ident=ident, interp=interp, has_dynamic=True, needed=tuple(needed), soname=soname,
        rpath=tuple(rpath) if rpath else None, runpath=tuple(runpath) if runpath else None,
        flags=last.get(DT_FLAGS, 0), flags_1=last.get(DT_FLAGS_1, 0),
        version_needs=version_needs, version_defs=version_defs, load_extent=load_extent,
        version_error=version_error, has_versym=DT_VERSYM in last,
    )


def _parse_verneed(img: _Image, vaddr: int, count: int,
                   string: object) -> tuple[VersionNeed, ...]:
    assert callable(string)
    off = img.offset_of(vaddr, "DT_VERNEED")
    needs: list[VersionNeed] = []
    for _ in range(min(count, MAX_VERSION_RECORDS)):
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = img.unpack("HHIII", off)
        if vn_version != 1:
            raise ElfError(img.path, f"unsupported DT_VERNEED record version {vn_version}")
        versions: list[tuple[str, int]] = []
        aux = off + vn_aux
        for _ in range(min(vn_cnt, MAX_VERSION_RECORDS)):
            _hash, vna_flags, _other, vna_name, vna_next = img.unpack("IHHII", aux)
            versions.append((string(vna_name), vna_flags))
            if vna_next == 0:
                break
            aux += vna_next
        needs.append(VersionNeed(string(vn_file), tuple(versions)))
        if vn_next == 0:
            break
        off += vn_next
    return tuple(needs)


def _parse_verdef(img: _Image, vaddr: int, count: int, string: object) -> tuple[str, ...]:
    assert callable(string)
    off = img.offset_of(vaddr, "DT_VERDEF")
    names: list[str] = []
    for _ in range(min(count, MAX_VERSION_RECORDS)):
        vd_version, _flags, _ndx, vd_cnt, _hash, vd_aux, vd_next = img.unpack("HHHHIII", off)
        if vd_version != 1:
            raise ElfError(img.path, f"unsupported DT_VERDEF record version {vd_version}")
        if vd_cnt:
            vda_name, _vda_next = img.unpack("II", off + vd_aux)
            names.append(string(vda_name))
        if vd_next == 0:
            break
        off += vd_next
    return tuple(names)


def read_file_facts(path: str) -> ElfFacts:
    """Read a *host* file's facts (for tools and tests; the model reads through a View)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        return parse_elf(map_file(fd, size), path)
    finally:
        os.close(fd)
