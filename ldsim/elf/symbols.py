"""Dynamic symbols and their versions, read with pyelftools (imported only when needed).

Used by the ABI analysis (binding every undefined symbol through the global scope) and by
the musl model's "is this another libc" check. Symbols come from ``.dynsym`` with
``.gnu.version``, ``.gnu.version_d`` and ``.gnu.version_r``; a malformed table is an
:class:`~ldsim.errors.ElfError` naming the file, never a crash.
"""

from __future__ import annotations

import io
from typing import Any

from ldsim.buffers import Buffer
from ldsim.errors import ElfError
from ldsim.records import record

STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = "STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"
# pyelftools trusts the counts in section headers (sh_info of a version section, sh_size of a
# symbol table) and reads strings to their NUL; it reads everything through the stream it is
# given, so a stream that stops after READ_RATIO x the file (+ READ_BASE) bounds its work by
# what the file holds, whatever the headers claim. A real libc reads about a tenth of itself.
READ_BASE, READ_RATIO = 1 << 20, 16


class _BoundedStream(io.RawIOBase):
    """A read-only stream over the file's bytes (no copy: a mapped file stays mapped) that
    fails every read once the budget is spent (construct and pyelftools wrap the exception
    in their own: ``exhausted`` says what really happened)."""

    def __init__(self, data: Buffer) -> None:
        super().__init__()
        self.mv = memoryview(data).cast("B")
        self.pos = 0
        self.left = READ_BASE + READ_RATIO * len(self.mv)
        self.exhausted = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: len(self.mv)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self.mv) if size is None or size < 0 else min(len(self.mv), self.pos + size)
        out = bytes(self.mv[self.pos:end]) if self.pos < end else b""
        self.pos += len(out)
        self.left -= len(out)
        if self.left < 0:
            self.exhausted = True
            raise OSError("read budget exhausted")
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


@record(frozen=True, slots=True)
class DynSymbol:
    name: str
    defined: bool
    binding: str  # STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE | STB_LOCAL
    kind: str  # STT_FUNC, STT_OBJECT, ...
    version: str | None  # version name (needed or defined), None when unversioned
    version_file: str | None  # for a reference: the library the version is required from
    hidden: bool  # a non-default version (name@VER, not name@@VER) or hidden visibility
    base: bool = False  # version index 1 (the object's base version) or 0 (local)


def _malformed(path: str, data: Buffer, stream: _BoundedStream, exc: Exception) -> ElfError:
    """What went wrong reading a symbol table with pyelftools, in one line."""
    if stream.exhausted:
        return ElfError(path, "malformed dynamic symbol table: its tables overlap or claim "
                        f"more entries than a file of {len(data)} bytes can hold")
    return ElfError(path, f"malformed dynamic symbol table: {exc or type(exc).__name__}")


def read_dynamic_symbols(data: Buffer, path: str) -> tuple[DynSymbol, ...]:
    """All dynamic symbols of one file (index 0 skipped)."""
    try:
        from elftools.elf.elffile import ELFFile
        from elftools.elf.gnuversions import (
            GNUVerDefSection,
            GNUVerNeedSection,
            GNUVerSymSection,
        )
        from elftools.elf.sections import SymbolTableSection
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise ElfError(path, f"pyelftools is not installed ({exc})") from None
    stream = _BoundedStream(data)
    try:
        elf = ELFFile(stream)  # type: ignore[arg-type]  # a readable, seekable stream
        dynsym = versym = None
        vdef: dict[int, str] = {}
        vneed: dict[int, tuple[str, str | None]] = {}
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection) and sec["sh_type"] == "SHT_DYNSYM":
                dynsym = sec
            elif isinstance(sec, GNUVerSymSection):
                versym = sec
            elif isinstance(sec, GNUVerDefSection):
                for vd, auxs in sec.iter_versions():
                    first = next(iter(auxs), None)
                    if first is not None:
                        vdef[vd["vd_ndx"]] = first.name
            elif isinstance(sec, GNUVerNeedSection):
                for vn, auxs in sec.iter_versions():
                    for aux in auxs:
                        vneed[aux["vna_other"]] = (aux.name, vn.name)
        if dynsym is None:
            return ()
        out: list[DynSymbol] = []
        for i, sym in enumerate(dynsym.iter_symbols()):
            if i == 0:
                continue
            defined = sym["st_shndx"] != "SHN_UNDEF"
            version = vfile = None
            hidden = sym["st_other"]["visibility"] in ("STV_HIDDEN", "STV_INTERNAL")
            base = True
            if versym is not None and i < versym.num_symbols():
                ndx = versym.get_symbol(i)["ndx"]
                raw = ndx if isinstance(ndx, int) else {"VER_NDX_LOCAL": 0,
                                                        "VER_NDX_GLOBAL": 1}.get(ndx, 1)
                idx = raw & 0x7FFF
                if raw & 0x8000:
                    hidden = True
                if idx > 1:
                    base = False
                    if defined and idx in vdef:
                        version = vdef[idx]
                    elif idx in vneed:
                        version, vfile = vneed[idx]
                    elif idx in vdef:
                        version = vdef[idx]
            out.append(DynSymbol(sym.name, defined, sym["st_info"]["bind"],
                                 sym["st_info"]["type"], version, vfile, hidden, base))
        return tuple(out)
    except Exception as exc:  # pyelftools and construct raise their own types on bad data
        raise _malformed(path, data, stream, exc) from None


def defined_names(data: Buffer) -> set[str]:
    return {s.name for s in read_dynamic_symbols(data, "<file>") if s.defined}


_SHT_STRTAB, _SHT_DYNSYM = 3, 11


def imports_any(data: Buffer, path: str, names: frozenset[str]) -> bool:
    """Whether one of the file's undefined dynamic symbols is named one of ``names``.
    An ordinary table (a section header table of standard entries inside the file; the
    first ``SHT_DYNSYM`` and its ``SHT_STRTAB`` inside it too) is read directly, a name
    compared where it starts, as pyelftools reads it; anything else goes through
    :func:`undefined_names` (a malformed table: an :class:`~ldsim.errors.ElfError`). On
    every file pyelftools reads, the answer is ``undefined_names(data, path) & names``'s;
    a file where pyelftools fails on another section than these (a relocation table of
    the wrong entry size) is answered from the symbol table all the same. A program
    importing ``dlopen`` is thus told in microseconds, not the tens of milliseconds
    pyelftools takes over a large table."""
    fast = _imports_direct(data, names)
    if fast is not None:
        return fast
    return bool(undefined_names(data, path) & names)


def _imports_direct(data: Buffer, names: frozenset[str]) -> bool | None:
    """:func:`imports_any` on an ordinary table, read through :class:`ElfImage`; None for
    anything else."""
    from ldsim.elf.layout import ElfImage

    try:
        img = ElfImage.of(data, "")
        hdr = img.header()
        shdr_size, sym_fmt, name_i, shndx_i = (64, "IBBHQQ", 0, 3) if img.is64 \
            else (40, "IIIBBH", 0, 5)
        if hdr.shoff == 0 or hdr.shnum == 0 or hdr.shentsize != shdr_size \
                or not 0 < hdr.shstrndx < hdr.shnum \
                or hdr.shoff + hdr.shnum * shdr_size > len(img):
            return None
        headers = [img.section_header(hdr.shoff + i * shdr_size) for i in range(hdr.shnum)]
        if headers[hdr.shstrndx].type != _SHT_STRTAB:
            return None
        dynsym = next((h for h in headers if h.type == _SHT_DYNSYM), None)
        if dynsym is None:
            return False  # no dynamic symbol table: nothing imported
        size = dynsym.entsize
        if size != (24 if img.is64 else 16) or dynsym.size % size \
                or dynsym.offset + dynsym.size > len(img) \
                or not 0 <= dynsym.link < hdr.shnum \
                or headers[dynsym.link].type != _SHT_STRTAB:
            return None
        strtab = headers[dynsym.link].offset
        wanted = [n.encode() + b"\0" for n in names]
        mv = img.mv
        for i, entry in enumerate(img.unpack_array(sym_fmt, dynsym.offset,
                                                   dynsym.size // size)):
            if i and entry[shndx_i] == 0:  # SHN_UNDEF
                at = strtab + entry[name_i]
                if any(mv[at:at + len(w)] == w for w in wanted):
                    return True
        return False
    except ElfError:
        return None


def undefined_names(data: Buffer, path: str) -> frozenset[str]:
    """The names of the undefined dynamic symbols (``.dynsym`` entries whose ``st_shndx`` is
    ``SHN_UNDEF``, index 0 skipped): what a file imports, without the version records
    :func:`read_dynamic_symbols` reads (a quarter of its time on a large library). Bounded
    the same way; a malformed table is an :class:`~ldsim.errors.ElfError`."""
    try:
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise ElfError(path, f"pyelftools is not installed ({exc})") from None
    stream = _BoundedStream(data)
    try:
        elf = ELFFile(stream)  # type: ignore[arg-type]  # a readable, seekable stream
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection) and sec["sh_type"] == "SHT_DYNSYM":
                return frozenset(sym.name for i, sym in enumerate(sec.iter_symbols())
                                 if i and sym["st_shndx"] == "SHN_UNDEF")
        return frozenset()
    except Exception as exc:  # pyelftools and construct raise their own types on bad data
        raise _malformed(path, data, stream, exc) from None
