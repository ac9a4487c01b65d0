"""The one reader of ELF structure: the header, program headers, section headers and notes.

Every part of ldsim that looks inside an ELF file goes through :class:`ElfImage`: the facts
reader (what ``ld.so`` reads: program headers, the dynamic segment, strings found by address),
the loader's ``open_verify`` probe (the ``NT_GNU_ABI_TAG`` note), and the fixer's layout checks
(sections, notes, trailing bytes). Reads are bounded by the bytes really present; a structure
that runs past the end of the file is an :class:`~ldsim.errors.ElfError` naming the file.

Pure: bytes in, values out.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator

from ldsim.buffers import Buffer, FileBytes
from ldsim.elf.facts import ELFMAG, ElfClass, ElfData, ElfIdent, ehdr_size
from ldsim.errors import ElfError
from ldsim.records import record


def parse_ident(buf: Buffer, path: str, assume: tuple[int, int] | None = None) -> ElfIdent:
    """The identification bytes and the header fields ``open_verify`` checks.

    Raises :class:`ElfError` when the file is not ELF or shorter than its header.
    ``assume=(class, data)`` reads the header with that layout whatever ``e_ident`` says,
    as musl's ``map_library`` does (it never looks at the identification bytes).
    """
    size = len(buf)
    # the header's 64 bytes at most: a large file's are read, a small one is not copied
    mv = memoryview(buf[:64] if isinstance(buf, FileBytes) else buf)
    if assume is None and size >= 4 and bytes(mv[:4]) != ELFMAG:
        raise ElfError(path, "not an ELF file (bad magic)")
    if size < 16:
        raise ElfError(path, "file too short")
    ei_class, ei_data, ei_version, osabi, abiversion = mv[4], mv[5], mv[6], mv[7], mv[8]
    padding_zero = not any(mv[9:16])
    if assume is not None:
        ei_class, ei_data = assume
    if ei_class != _ELF32 and ei_class != _ELF64:
        raise ElfError(path, f"invalid ELF class {ei_class}")
    if ei_data != _LSB and ei_data != _MSB:
        raise ElfError(path, f"invalid ELF data encoding {ei_data}")
    if size < ehdr_size(ei_class):
        raise ElfError(path, "file too short")
    head, tail = _IDENT_LAYOUTS[ei_data == _LSB]
    e_type, e_machine, e_version = head.unpack_from(mv, 16)
    # e_flags, e_ehsize, e_phentsize
    e_flags, _ehsize, phentsize = tail.unpack_from(mv, 36 if ei_class == _ELF32 else 48)
    return ElfIdent(ei_class, ei_data, ei_version, osabi, abiversion, padding_zero,
                    e_type, e_machine, e_version, phentsize, e_flags)


_ELF32, _ELF64 = int(ElfClass.ELF32), int(ElfClass.ELF64)
_LSB, _MSB = int(ElfData.LSB), int(ElfData.MSB)
# (e_type, e_machine, e_version) and (e_flags, e_ehsize, e_phentsize), by little-endianness
_IDENT_LAYOUTS = {True: (struct.Struct("<HHI"), struct.Struct("<IHH")),
                  False: (struct.Struct(">HHI"), struct.Struct(">IHH"))}


def sniff_type(head: bytes) -> int | None:
    """``e_type`` of a file that starts with the ELF magic (at least 18 bytes read), in the
    byte order its ``e_ident`` names; None when it is not ELF."""
    if len(head) < 18 or head[:4] != ELFMAG:
        return None
    return int.from_bytes(head[16:18], "big" if head[5] == ElfData.MSB else "little")


@record(frozen=True, slots=True)
class ProgramHeader:
    type: int
    offset: int
    vaddr: int
    filesz: int
    align: int


@record(frozen=True, slots=True)
class SectionHeader:
    name: int  # offset in the section name string table
    type: int
    offset: int
    size: int
    link: int
    info: int
    align: int
    entsize: int = 0


@record(frozen=True, slots=True)
class Note:
    name: bytes  # as stored, NULs included
    type: int
    desc_offset: int
    desc_size: int


@record(frozen=True, slots=True)
class Header:
    """The ELF header fields that locate the tables."""

    phoff: int
    shoff: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int
    shstrndx: int


_STRUCTS: dict[str, struct.Struct] = {}
_PHDR64, _PHDR32 = "IIQQQQQQ", "IIIIIIII"  # Elf64_Phdr, Elf32_Phdr (no padding either)
PHDR_FORMATS = {True: _PHDR64, False: _PHDR32}  # by ``is64``, as ElfImage._layout takes it
PHDR_FIELDS = {True: (2, 3, 5), False: (1, 2, 4)}
"""By ``is64``: where p_offset, p_vaddr and p_filesz are among a program header's fields
(p_type is first, and the fields of the two classes are in different orders)."""


def _struct(fmt: str) -> struct.Struct:
    """The compiled layout of a format with its byte order (a handful exist)."""
    hit = _STRUCTS.get(fmt)
    if hit is None:
        hit = _STRUCTS[fmt] = struct.Struct(fmt)
    return hit


# Work in proportion to the input: however the tables of a file point into each other
# (records that overlap, counts that repeat the same bytes, strings that are suffixes of one
# long run), one image reads at most READ_BASE + size / READ_RATIO structures and decodes at
# most STRING_BASE + STRING_RATIO x size bytes of distinct strings. Real files use a small
# fraction of either (a 2 MB libc: a few hundred structures, 30 KB of strings).
READ_BASE, READ_RATIO = 1 << 16, 8
STRING_BASE, STRING_RATIO = 1 << 20, 4
_CHUNK = 4096
_WINDOW = 1 << 16  # bytes of a large file's array decoded at a time (unpack_array)
NOTE_NAME_MAX = 64


class ElfImage:
    """Bounded reads of one ELF file's structures, in the file's own class and byte order.

    Every structure read and every string decoded is counted against a budget proportional
    to the file's size; a file whose tables make a reader exceed it is an
    :class:`~ldsim.errors.ElfError` ("its tables overlap"), so no header can make ldsim do
    more work, or hold more memory, than the bytes it really holds justify. Strings are
    shared: the same offset decodes once."""

    def __init__(self, buf: Buffer, path: str, ident: ElfIdent) -> None:
        self.buf = buf
        # a large file is read a page at a time (FileBytes slices into bytes, as a
        # memoryview does into a view)
        self.mv: memoryview | FileBytes = buf if isinstance(buf, FileBytes) else memoryview(buf)
        self.path = path
        self.ident = ident
        self.end = "<" if ident.data == _LSB else ">"
        self.is64 = ident.elf_class == _ELF64
        self.loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz) for offset_of
        self.reads_left = READ_BASE + len(self.mv) // READ_RATIO
        self.string_bytes_left = STRING_BASE + STRING_RATIO * len(self.mv)
        self._strings: dict[tuple[int, int], str] = {}
        self._structs: dict[str, struct.Struct] = {}  # by format, in this file's byte order
        self._find = getattr(buf, "find", None)  # bytes, bytearray and mmap search in C
        self._sliceable = isinstance(buf, (bytes, bytearray, mmap.mmap))

    def _overlap(self, what: str) -> ElfError:
        return ElfError(self.path, f"its tables overlap: reading them needs more {what} than "
                        f"a file of {len(self.mv)} bytes can hold")

    @classmethod
    def of(cls, buf: Buffer, path: str) -> ElfImage:
        """Check the identification bytes, then read with the layout they name."""
        return cls(buf, path, parse_ident(buf, path))

    def __len__(self) -> int:
        return len(self.mv)

    def unpack(self, fmt: str, offset: int) -> tuple[int, ...]:
        self.reads_left -= 1
        if self.reads_left < 0:
            raise self._overlap("structure reads")
        layout = self._layout(fmt)
        if offset < 0 or offset + layout.size > len(self.mv):
            raise ElfError(self.path, f"truncated: a structure at offset {offset:#x} runs past "
                           f"the end of the file ({len(self.mv)} bytes)")
        mv = self.mv
        if isinstance(mv, FileBytes):
            return mv.unpack_from(layout.unpack, offset, layout.size)
        return layout.unpack_from(mv, offset)

    def unpack_array(self, fmt: str, offset: int, count: int) -> Iterator[tuple[int, ...]]:
        """``count`` structures of ``fmt`` laid end to end from ``offset``, exactly as
        :meth:`unpack` reads them one by one (each one read counts against the budget when
        it is taken; the first that cannot be read raises the same error), the ones that
        surely can be read decoded together."""
        layout = self._layout(fmt)
        size = layout.size
        fit = (len(self.mv) - offset) // size if offset >= 0 else 0
        bulk = max(0, min(count, fit))
        # a large file's array is read a window at a time: what is held stays bounded
        step = max(1, _WINDOW // size) if isinstance(self.mv, FileBytes) else max(bulk, 1)
        for first in range(0, bulk, step):
            stop = offset + min(bulk, first + step) * size
            for values in layout.iter_unpack(self.mv[offset + first * size:stop]):
                self.reads_left -= 1
                if self.reads_left < 0:
                    raise self._overlap("structure reads")
                yield values
        for i in range(bulk, count):
            yield self.unpack(fmt, offset + i * size)

    def _layout(self, fmt: str) -> struct.Struct:
        layout = self._structs.get(fmt)
        if layout is None:
            layout = self._structs[fmt] = _struct(self.end + fmt)
        return layout

    def header(self) -> Header:
        if self.is64:
            phoff, shoff = self.unpack("QQ", 32)
            ehsize, phentsize, phnum, shentsize, shnum, shstrndx = self.unpack("HHHHHH", 52)
        else:
            phoff, shoff = self.unpack("II", 28)
            ehsize, phentsize, phnum, shentsize, shnum, shstrndx = self.unpack("HHHHHH", 40)
        return Header(phoff, shoff, ehsize, phentsize, phnum, shentsize, shnum, shstrndx)

    def program_header(self, offset: int) -> ProgramHeader:
        return self._program_header(self.unpack(_PHDR64 if self.is64 else _PHDR32, offset))

    def _program_header(self, fields: tuple[int, ...]) -> ProgramHeader:
        if self.is64:
            p_type, _flags, p_offset, p_vaddr, _pa, p_filesz, _memsz, p_align = fields
        else:
            p_type, p_offset, p_vaddr, _pa, p_filesz, _memsz, _flags, p_align = fields
        return ProgramHeader(p_type, p_offset, p_vaddr, p_filesz, p_align)

    def program_headers(self, phoff: int, phnum: int, stride: int) -> Iterator[ProgramHeader]:
        """``phnum`` program headers from ``phoff``, ``stride`` bytes apart (the loader uses
        ``sizeof (ElfW(Phdr))``, tools ``e_phentsize``), read one at a time."""
        for fields in self.program_header_fields(phoff, phnum, stride):
            yield self._program_header(fields)

    def program_header_fields(self, phoff: int, phnum: int, stride: int
                              ) -> Iterator[tuple[int, ...]]:
        """:meth:`program_headers` undecoded: each header's fields in the class's order
        (:data:`PHDR_FIELDS` says where ``p_offset``, ``p_vaddr`` and ``p_filesz`` are)."""
        fmt = _PHDR64 if self.is64 else _PHDR32
        if stride == self._layout(fmt).size:
            yield from self.unpack_array(fmt, phoff, phnum)
            return
        for i in range(phnum):
            yield self.unpack(fmt, phoff + i * stride)

    def section_header(self, offset: int) -> SectionHeader:
        fmt = "IIQQQQIIQQ" if self.is64 else "IIIIIIIIII"
        name, sh_type, _flags, _addr, off, size, link, info, align, ent = self.unpack(fmt, offset)
        return SectionHeader(name, sh_type, off, size, link, info, align, ent)

    def notes(self, offset: int, size: int, align: int = 4) -> Iterator[Note]:
        """The notes of a ``PT_NOTE`` segment or ``SHT_NOTE`` section, laid out as glibc's
        ``ELF_NOTE_DESC_OFFSET``/``ELF_NOTE_NEXT_OFFSET`` say: the descriptor starts at the
        header and name rounded up to ``align`` (8 for 8-aligned note segments, else 4), the
        next note after the descriptor rounded up likewise."""
        stop = min(offset + size, len(self.mv))
        pos = offset
        while pos + 12 <= stop:
            namesz, descsz, ntype = self.unpack("III", pos)
            name_off = pos + 12
            desc_off = pos + (12 + namesz + align - 1) // align * align
            # Names longer than NOTE_NAME_MAX are kept cut (no note ldsim knows has one):
            # overlapping notes must not copy the rest of the file once each.
            name = bytes(self.mv[name_off:name_off + min(namesz, NOTE_NAME_MAX)])
            yield Note(name, ntype, desc_off, descsz)
            pos = desc_off + (descsz + align - 1) // align * align

    def offset_of(self, vaddr: int, what: str) -> int:
        """The file offset of a virtual address, through the PT_LOAD segments in ``loads``."""
        for p_vaddr, p_offset, p_filesz in self.loads:
            if p_vaddr <= vaddr < p_vaddr + p_filesz:
                return vaddr - p_vaddr + p_offset
        raise ElfError(self.path, f"{what} address {vaddr:#x} is not inside any PT_LOAD segment")

    def cstring(self, offset: int, limit: int | None = None) -> str:
        """The NUL-terminated string at ``offset`` (before ``limit``), decoded with
        ``surrogateescape``; the same string read twice is one object."""
        size = len(self.mv)
        stop = size if limit is None or limit > size else limit
        key = (offset, stop)
        known = self._strings.get(key)
        if known is not None:
            return known
        if offset < 0 or offset >= stop:
            raise ElfError(self.path, f"string offset {offset:#x} is outside the string table")
        mv = self.mv
        raw: bytes | None = None
        if isinstance(mv, FileBytes):
            nul, raw = mv.string_at(offset, stop)
        else:
            find = self._find
            nul = find(b"\0", offset, stop) if find is not None else self._find_nul(offset, stop)
        if nul < 0:
            raise ElfError(self.path, f"unterminated string at offset {offset:#x}")
        self.string_bytes_left -= nul - offset
        if self.string_bytes_left < 0:
            raise self._overlap("bytes of strings")
        if raw is None:
            # bytes, bytearray and mmap slice into a copy of their own, ready to decode
            sliced = self.buf[offset:nul] if self._sliceable else bytes(mv[offset:nul])
            text = sliced.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]
        else:
            text = raw.decode("utf-8", "surrogateescape")
        self._strings[key] = text
        return text

    def _find_nul(self, start: int, stop: int) -> int:
        """The offset of the first NUL in [start, stop), or -1; costs the string's length."""
        find = self._find
        if find is not None:
            return int(find(b"\0", start, stop))
        pos = start
        while pos < stop:
            chunk = bytes(self.mv[pos:min(pos + _CHUNK, stop)])
            at = chunk.find(b"\0")
            if at >= 0:
                return pos + at
            pos += len(chunk)
        return -1


__all__ = ["ElfImage", "Header", "Note", "ProgramHeader", "SectionHeader",
           "parse_ident", "sniff_type"]
