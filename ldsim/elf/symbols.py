"""Dynamic symbols and their versions, read with pyelftools (imported only when needed).

Used by the ABI analysis (binding every undefined symbol through the global scope) and by
the musl model's "is this another libc" check. Symbols come from ``.dynsym`` with
``.gnu.version``, ``.gnu.version_d`` and ``.gnu.version_r``; a malformed table is an
:class:`~ldsim.errors.ElfError` naming the file, never a crash.
"""

from __future__ import annotations

import io
import re

from ldsim.buffers import Buffer, FileBytes
from ldsim.elf.facts import DT_STRTAB, DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM, DT_VERSYM
from ldsim.errors import ChangedError, ElfError
from ldsim.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ldsim.elf.layout import ElfImage, SectionHeader

STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = "STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"
# pyelftools trusts the counts in section headers (sh_info of a version section, sh_size of a
# symbol table) and reads strings to their NUL; it reads everything through the stream it is
# given, so a stream that stops after READ_RATIO x the file (+ READ_BASE) bounds its work by
# what the file holds, whatever the headers claim. A real libc reads about a tenth of itself.
READ_BASE, READ_RATIO = 1 << 20, 16


class _BoundedStream(io.RawIOBase):
    """A read-only stream over the file's bytes (never a copy of the whole: a large file is
    read a page at a time) that fails every read once the budget is spent (construct and
    pyelftools wrap the exception in their own: ``exhausted`` says what really happened,
    ``changed`` that the file changed under the reads)."""

    def __init__(self, data: Buffer) -> None:
        super().__init__()
        self.mv = data if isinstance(data, FileBytes) else memoryview(data).cast("B")
        self.pos = 0
        self.left = READ_BASE + READ_RATIO * len(self.mv)
        self.exhausted = False
        self.changed: ChangedError | None = None  # the file changed under the reads

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
        try:
            out = bytes(self.mv[self.pos:end]) if self.pos < end else b""
        except ChangedError as exc:  # pyelftools would wrap it in its own
            self.changed = exc
            raise
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


def _version_of(raw: int | None, defined: bool, hidden: bool, vdef: dict[int, str],
                vneed: dict[int, tuple[str, str | None]]
                ) -> tuple[str | None, str | None, bool, bool]:
    """(version, the file it is needed from, hidden, base) of a symbol whose
    ``.gnu.version`` entry is ``raw`` (None: it has none): the high bit hides it (a
    non-default version); index 0 or 1 is the object's base version; a defined symbol
    names its definition, an undefined one what it needs (either table as a fallback)."""
    if raw is None:
        return None, None, hidden, True
    idx = raw & 0x7FFF
    hidden = hidden or bool(raw & 0x8000)
    if idx <= 1:
        return None, None, hidden, True
    if defined and idx in vdef:
        return vdef[idx], None, hidden, False
    if idx in vneed:
        name, file = vneed[idx]
        return name, file, hidden, False
    return vdef.get(idx), None, hidden, False


def _malformed(path: str, data: Buffer, stream: _BoundedStream,
               exc: Exception) -> ElfError | ChangedError:
    """What went wrong reading a symbol table with pyelftools, in one line."""
    if stream.changed is not None:
        return ChangedError(path, stream.changed.reason)
    if stream.exhausted:
        return ElfError(path, "malformed dynamic symbol table: its tables overlap or claim "
                        f"more entries than a file of {len(data)} bytes can hold")
    return ElfError(path, f"malformed dynamic symbol table: {exc or type(exc).__name__}")


def read_dynamic_symbols(data: Buffer, path: str) -> tuple[DynSymbol, ...]:
    """All dynamic symbols of one file (index 0 skipped). An ordinary file (see
    :func:`_symbols_direct`) is read directly, anything else with pyelftools; both give the
    same symbols (``tests/test_elf_symbols.py`` compares them on every file of this
    machine's ``/usr``). When the sections hold no table, or one that cannot be read, the
    dynamic segment's is read (:func:`_symbols_from_dynamic`), as the loader reads it."""
    direct = _symbols_direct(data)
    try:
        symbols = direct if direct is not None else _symbols_pyelftools(data, path)
    except ElfError:
        # the sections' table cannot be read (cut off, damaged): the loader never reads it
        if from_dynamic := _symbols_from_dynamic(data):
            return from_dynamic
        raise
    if not symbols:
        # no symbol table among the sections (a file stripped of its section headers runs
        # all the same): the dynamic segment's, which is what the loader reads
        return _symbols_from_dynamic(data) or symbols
    return symbols


_DT_HASH, _DT_SYMTAB, _DT_GNU_HASH = 4, 6, 0x6FFFFEF5
# relocation tables: (address tag, size tag, whether entries are Elf_Rela; None: as
# DT_PLTREL says) of DT_RELA, DT_REL and DT_JMPREL
_RELOCS = ((7, 8, True), (17, 18, False), (23, 2, None))
_DT_PLTREL = 20
_ODD = re.compile(b"[" + re.escape(bytes(range(1, 256, 2))) + b"]")  # a byte, low bit set


def _symbols_from_dynamic(data: Buffer) -> tuple[DynSymbol, ...] | None:
    """The dynamic symbols as the loader finds them, with no section header: the table at
    ``DT_SYMTAB`` (the last of each tag counts, as in glibc's ``get-dynamic-info.h``), its
    names at ``DT_STRTAB``; as many as the hash table covers (``DT_GNU_HASH``, which the
    loader uses when there is one, else ``DT_HASH``'s chain count; glibc
    ``elf/dl-setup_hash.c``), and at least every symbol a relocation names (what the
    loader looks up: a GNU table with no hashed symbol covers none of them); never past
    the end of the segment holding the table. Versions from ``DT_VERSYM``, ``DT_VERDEF``
    and ``DT_VERNEED``. None when the file has no such table (or a broken one)."""
    from ldsim.elf.facts import phentsize_of
    from ldsim.elf.layout import PHDR_FIELDS, ElfImage, SectionHeader
    from ldsim.elf.reader import dynamic_entries

    if not hasattr(data, "find"):  # a memoryview: what its caller holds, as pyelftools read it
        return None
    try:
        img = ElfImage.of(data, "")
        is64 = img.is64
        hdr = img.header()
        off, vaddr, filesz = PHDR_FIELDS[is64]
        dynamic = None
        for fields in img.program_header_fields(hdr.phoff, hdr.phnum,
                                                phentsize_of(img.ident.elf_class)):
            if fields[0] == 1:  # PT_LOAD
                img.loads.append((fields[vaddr], fields[off], fields[filesz]))
            elif fields[0] == 2:  # PT_DYNAMIC
                dynamic = (fields[off], fields[filesz])
        if dynamic is None:
            return None
        tags = dict(dynamic_entries(img, dynamic))
        if _DT_SYMTAB not in tags or DT_STRTAB not in tags:
            return None
        size = 24 if is64 else 16
        symtab = img.offset_of(tags[_DT_SYMTAB], "DT_SYMTAB")
        names = _Strings(data, img.offset_of(tags[DT_STRTAB], "DT_STRTAB"))
        # the loader sees no symbol past the end of the segment that holds the table
        room = next((o + n - symtab for v, o, n in img.loads if o <= symtab < o + n), 0)
        if _DT_GNU_HASH in tags:
            count = _gnu_hash_count(img, img.offset_of(tags[_DT_GNU_HASH], "DT_GNU_HASH"),
                                    symtab + room)
        elif _DT_HASH in tags:
            count = img.unpack("II", img.offset_of(tags[_DT_HASH], "DT_HASH"))[1]
        else:
            return None
        count = min(max(count, _relocated_count(img, tags)), room // size)
        vdef: dict[int, str] = {}
        vneed: dict[int, tuple[str, str | None]] = {}
        if DT_VERDEF in tags:
            _verdefs(img, SectionHeader(0, _SHT_GNU_VERDEF, img.offset_of(
                tags[DT_VERDEF], "DT_VERDEF"), 0, 0, min(tags.get(DT_VERDEFNUM, 0),
                                                         _MAX_VERSIONS), 0), names, vdef)
        if DT_VERNEED in tags:
            _verneeds(img, SectionHeader(0, _SHT_GNU_VERNEED, img.offset_of(
                tags[DT_VERNEED], "DT_VERNEED"), 0, 0, min(tags.get(DT_VERNEEDNUM, 0),
                                                           _MAX_VERSIONS), 0), names, vneed)
        ndx: list[int] = []
        if DT_VERSYM in tags:
            ndx = [v for (v,) in img.unpack_array(
                "H", img.offset_of(tags[DT_VERSYM], "DT_VERSYM"), count)]
        return _dyn_symbols(img, symtab, count, names, ndx, vdef, vneed)
    except ElfError:
        return None


def _gnu_hash_count(img: ElfImage, at: int, end: int) -> int:
    """How many symbols a ``DT_GNU_HASH`` table covers: one past the end of the chain of
    the highest bucket (a chain ends with a hash whose low bit is set), looked for in one
    search of the words' low bytes up to ``end``; ``symoffset`` when no symbol is hashed."""
    nbuckets, symoffset, bloom_size, _shift = img.unpack("IIII", at)
    buckets = at + 16 + bloom_size * (8 if img.is64 else 4)
    last = max((b for (b,) in img.unpack_array("I", buckets, nbuckets)), default=0)
    if last < symoffset:
        return symoffset
    start = buckets + 4 * nbuckets + 4 * (last - symoffset)
    if not 0 <= start < end:
        return symoffset
    words = bytes(img.mv[start:min(end, len(img))])
    low = words[0::4] if img.ident.data == 1 else words[3::4]  # ELFDATA2LSB: byte 0
    hit = _ODD.search(low)
    return last + 1 + (hit.start() if hit is not None else len(low))


def _relocated_count(img: ElfImage, tags: dict[int, int]) -> int:
    """One past the highest symbol a relocation of ``DT_RELA``, ``DT_REL`` or
    ``DT_JMPREL`` names (0 when none does): the symbols the loader looks up."""
    top = 0
    is64 = img.is64
    for addr_tag, size_tag, rela in _RELOCS:
        if addr_tag not in tags or size_tag not in tags:
            continue
        if rela is None:
            rela = tags.get(_DT_PLTREL) == 7
        fmt = ("QQq" if rela else "QQ") if is64 else ("IIi" if rela else "II")
        width = (24 if rela else 16) if is64 else (12 if rela else 8)
        at = img.offset_of(tags[addr_tag], "a relocation table")
        for entry in img.unpack_array(fmt, at, tags[size_tag] // width):
            top = max(top, entry[1] >> 32 if is64 else entry[1] >> 8)
    return top + 1 if top else 0


def _dyn_symbols(img: ElfImage, symtab: int, count: int, names: _Strings, ndx: list[int],
                 vdef: dict[int, str], vneed: dict[int, tuple[str, str | None]]
                 ) -> tuple[DynSymbol, ...]:
    """``count`` symbols of the table at ``symtab`` (index 0 skipped), as pyelftools reads
    them: names, binding, type, and the version each ``ndx`` entry names."""
    sym_fmt, order = ("IBBHQQ", (0, 1, 2, 3)) if img.is64 else ("IIIBBH", (0, 3, 4, 5))
    binds, types = _names()
    out: list[DynSymbol] = []
    for i, entry in enumerate(img.unpack_array(sym_fmt, symtab, count)):
        if i == 0:
            continue
        st_name, st_info, st_other, st_shndx = (entry[k] for k in order)
        defined = st_shndx != 0  # SHN_UNDEF
        raw = ndx[i] if i < len(ndx) else None
        if raw in (0xFF00, 0xFF01):  # VER_NDX_LORESERVE, _ELIMINATE: pyelftools' 1
            raw = 1
        version, vfile, hidden, base = _version_of(
            raw, defined, (st_other & 7) in (1, 2), vdef, vneed)  # STV_INTERNAL, _HIDDEN
        out.append(DynSymbol(names(st_name), defined, binds.get(st_info >> 4, st_info >> 4),
                             types.get(st_info & 15, st_info & 15), version, vfile,
                             hidden, base))
    return tuple(out)


def _symbols_pyelftools(data: Buffer, path: str) -> tuple[DynSymbol, ...]:
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
            raw = None
            if versym is not None and i < versym.num_symbols():
                ndx = versym.get_symbol(i)["ndx"]
                raw = ndx if isinstance(ndx, int) else {"VER_NDX_LOCAL": 0,
                                                        "VER_NDX_GLOBAL": 1}.get(ndx, 1)
            version, vfile, hidden, base = _version_of(
                raw, defined, sym["st_other"]["visibility"] in ("STV_HIDDEN", "STV_INTERNAL"),
                vdef, vneed)
            bind = sym["st_info"]["bind"]
            out.append(DynSymbol(sym.name, defined, _UNIQUE if bind == "STB_LOOS" else bind,
                                 sym["st_info"]["type"], version, vfile, hidden, base))
        return tuple(out)
    except Exception as exc:  # pyelftools and construct raise their own types on bad data
        raise _malformed(path, data, stream, exc) from None




# Binding 10, which pyelftools names STB_LOOS: a definition to both loaders (glibc
# elf/dl-lookup.c, do_lookup_x's case STB_GNU_UNIQUE; musl ldso/dynlink.c, OK_BINDS).
_UNIQUE = "STB_GNU_UNIQUE"
_SHT_GNU_VERDEF, _SHT_GNU_VERNEED, _SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
_MAX_VERSIONS = 1 << 14  # version records of one file read directly (more: pyelftools)
_NAMES: tuple[dict[int, Any], dict[int, Any]] | None = None


def _names() -> tuple[dict[int, Any], dict[int, Any]]:
    """pyelftools' names of symbol bindings and types, by value, as its ``Enum`` decodes
    them (the last name of a value wins; a value it does not name stays a number)."""
    global _NAMES
    if _NAMES is None:
        from elftools.elf.enums import ENUM_ST_INFO_BIND, ENUM_ST_INFO_TYPE

        binds = {v: k for k, v in ENUM_ST_INFO_BIND.items() if k != "_default_"}
        binds[10] = _UNIQUE
        _NAMES = binds, {v: k for k, v in ENUM_ST_INFO_TYPE.items() if k != "_default_"}
    return _NAMES


class _Strings:
    """The strings pyelftools reads from a string table: from the offset to the next NUL
    anywhere before the end of the file ('' when there is none), decoded as UTF-8 with
    replacement; each offset decoded once, all of them within a byte budget."""

    def __init__(self, data: Buffer, offset: int) -> None:
        self.data, self.base = data, offset
        self.find = data.find  # type: ignore[union-attr]  # bytes, mmap, FileBytes (checked)
        self.left = READ_BASE + 4 * len(data)
        self.seen: dict[int, str] = {}

    def __call__(self, at: int) -> str:
        text = self.seen.get(at)
        if text is None:
            start = self.base + at
            data = self.data
            if isinstance(data, FileBytes):
                end, raw = data.string_at(start) if start >= 0 else (-1, b"")
            else:
                end = self.find(b"\0", start) if start < len(data) else -1
                raw = b""
            self.left -= max(0, end - start)
            if self.left < 0:
                raise ElfError("", "string budget exhausted")
            if end <= start:
                text = ""
            else:
                text = (raw or bytes(data[start:end])).decode("utf-8", "replace")
            self.seen[at] = text
        return text


def _symbols_direct(data: Buffer) -> tuple[DynSymbol, ...] | None:
    """:func:`read_dynamic_symbols` of an ordinary file, read through :class:`ElfImage`
    as pyelftools reads it (the last ``SHT_DYNSYM`` section and the last
    ``SHT_GNU_versym``; every version definition's first name and every needed version, in
    section order): a section header table of standard entries inside the file, these
    sections inside it, each linked to a string table (the version symbols to that symbol
    table), standard entry sizes, version records of at least one entry each. None for
    anything else (then pyelftools reads it, or says what is wrong). pyelftools also
    builds every other section and may refuse one of them (a relocation table of the wrong
    entry size): such a file's symbols are read here all the same."""
    from ldsim.elf.layout import ElfImage

    if not hasattr(data, "find"):  # a memoryview: pyelftools
        return None
    try:
        img = ElfImage.of(data, "")
        headers = _ordinary_sections(img)
        if headers is None:
            return None
        shnum = len(headers)

        def inside(h: SectionHeader) -> bool:
            return bool(h.offset + h.size <= len(img))

        def strings_of(h: SectionHeader) -> _Strings | None:
            if not 0 <= h.link < shnum or headers[h.link].type != _SHT_STRTAB:
                return None
            return _Strings(data, headers[h.link].offset)

        dynsym = versym = None
        dyn_index = -1
        vdef: dict[int, str] = {}
        vneed: dict[int, tuple[str, str | None]] = {}
        for index, h in enumerate(headers):
            if h.type == _SHT_DYNSYM:
                dynsym, dyn_index = h, index
            elif h.type == _SHT_GNU_VERSYM:
                versym = h
            elif h.type in (_SHT_GNU_VERDEF, _SHT_GNU_VERNEED):
                text = strings_of(h)
                if text is None or not inside(h) or h.info > _MAX_VERSIONS:
                    return None
                if h.type == _SHT_GNU_VERDEF:
                    if not _verdefs(img, h, text, vdef):
                        return None
                elif not _verneeds(img, h, text, vneed):
                    return None
        if dynsym is None:
            return ()
        size = 24 if img.is64 else 16
        names = strings_of(dynsym)
        if dynsym.entsize != size or dynsym.size % size or not inside(dynsym) or names is None:
            return None
        count = dynsym.size // size
        ndx: list[int] = []
        if versym is not None:
            if versym.entsize != 2 or versym.link != dyn_index or not inside(versym):
                return None
            ndx = [v for (v,) in img.unpack_array("H", versym.offset,
                                                  min(versym.size // 2, count))]
        return _dyn_symbols(img, dynsym.offset, count, names, ndx, vdef, vneed)
    except ElfError:
        return None


def _verdefs(img: ElfImage, h: SectionHeader, text: _Strings, vdef: dict[int, str]) -> bool:
    """Each version definition's index and first name (pyelftools' ``iter_versions``:
    ``sh_info`` records, ``vd_next`` apart); False when a record has no name."""
    at = h.offset
    for _ in range(h.info):
        _version, _flags, vd_ndx, vd_cnt, _hash, vd_aux, vd_next = img.unpack("HHHHIII", at)
        if vd_cnt == 0:
            return False
        (vda_name, _next) = img.unpack("II", at + vd_aux)
        vdef[vd_ndx] = text(vda_name)
        at += vd_next
    return True


def _verneeds(img: ElfImage, h: SectionHeader, text: _Strings,
              vneed: dict[int, tuple[str, str | None]]) -> bool:
    """Each needed version's index, name and file (``sh_info`` records, ``vn_next``
    apart, each with ``vn_cnt`` entries ``vna_next`` apart); False when a record has none."""
    at = h.offset
    for _ in range(h.info):
        _version, vn_cnt, vn_file, vn_aux, vn_next = img.unpack("HHIII", at)
        if vn_cnt == 0 or vn_cnt > _MAX_VERSIONS:
            return False
        file = text(vn_file)
        aux = at + vn_aux
        for _ in range(vn_cnt):
            _hash, _flags, vna_other, vna_name, vna_next = img.unpack("IHHII", aux)
            vneed[vna_other] = (text(vna_name), file)
            aux += vna_next
        at += vn_next
    return True


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


def _ordinary_sections(img: ElfImage) -> list[SectionHeader] | None:
    """The section headers of a file whose table is an ordinary one (standard entries,
    inside the file, a section name string table where the header says), as pyelftools
    reads them; None for anything else. Raises :class:`ElfError` when a header cannot be
    read."""
    hdr = img.header()
    shdr_size = 64 if img.is64 else 40
    if hdr.shoff == 0 or hdr.shnum == 0 or hdr.shentsize != shdr_size \
            or not 0 < hdr.shstrndx < hdr.shnum \
            or hdr.shoff + hdr.shnum * shdr_size > len(img):
        return None
    headers = [img.section_header(hdr.shoff + i * shdr_size) for i in range(hdr.shnum)]
    return headers if headers[hdr.shstrndx].type == _SHT_STRTAB else None


def _imports_direct(data: Buffer, names: frozenset[str]) -> bool | None:
    """:func:`imports_any` on an ordinary table, read through :class:`ElfImage`; None for
    anything else."""
    from ldsim.elf.layout import ElfImage

    try:
        img = ElfImage.of(data, "")
        sym_fmt, name_i, shndx_i = ("IBBHQQ", 0, 3) if img.is64 else ("IIIBBH", 0, 5)
        headers = _ordinary_sections(img)
        if headers is None:
            return None
        dynsym = next((h for h in headers if h.type == _SHT_DYNSYM), None)
        if dynsym is None:
            return False  # no dynamic symbol table: nothing imported
        size = dynsym.entsize
        if size != (24 if img.is64 else 16) or dynsym.size % size \
                or dynsym.offset + dynsym.size > len(img) \
                or not 0 <= dynsym.link < len(headers) \
                or headers[dynsym.link].type != _SHT_STRTAB:
            return None
        strtab = headers[dynsym.link].offset
        wanted = tuple(n.encode("utf-8", "surrogateescape") + b"\0" for n in names)
        longest = max(map(len, wanted), default=0)
        mv = img.mv
        for i, entry in enumerate(img.unpack_array(sym_fmt, dynsym.offset,
                                                   dynsym.size // size)):
            if i and entry[shndx_i] == 0:  # SHN_UNDEF
                at = strtab + entry[name_i]
                if bytes(mv[at:at + longest]).startswith(wanted):
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
