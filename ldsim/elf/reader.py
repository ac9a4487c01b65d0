"""Read ELF facts the way the dynamic loader reads them.

The loader never looks at section headers: it reads the ELF header, the program headers,
PT_INTERP, and the PT_DYNAMIC array, and finds the string table and the version records
through their *addresses* (DT_STRTAB, DT_VERNEED, DT_VERDEF) mapped through the PT_LOAD
segments (glibc ``elf/dl-load.c``, ``elf/get-dynamic-info.h``, ``elf/dl-version.c``; musl
``ldso/dynlink.c`` ``decode_dyn``). This module does the same with ``struct`` on the few
pages of the file that hold them, which keeps ``ldsim explain`` fast and works on binaries
whose section headers were stripped. ``tests/test_elf_reader.py`` checks every field
against pyelftools on the real files of this machine.

Everything here is pure (bytes in, facts out) except :func:`read_file_facts`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ldsim.buffers import Buffer, FileBytes
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
    GNU_PROPERTY_X86_ISA_1_NEEDED,
    NT_GNU_PROPERTY_TYPE_0,
    ElfFacts,
    ElfIdent,
    Machine,
    SegmentType,
    VersionNeed,
    phentsize_of,
)
from ldsim.elf.layout import PHDR_FIELDS, PHDR_FORMATS, ElfImage, ProgramHeader, parse_ident
from ldsim.errors import ElfError

MAX_DYN_ENTRIES = 1 << 16
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP, _PT_NOTE = (
    int(SegmentType.LOAD), int(SegmentType.DYNAMIC), int(SegmentType.INTERP),
    int(SegmentType.NOTE))
MAX_VERSION_RECORDS = 1 << 14


def parse_elf(buf: Buffer, path: str, assume: tuple[int, int] | None = None) -> ElfFacts:
    """Parse the facts of one ELF file. Raises :class:`ElfError` naming ``path`` and the reason.

    ``assume``: see :func:`~ldsim.elf.layout.parse_ident`; the program headers are then
    also read ``e_phentsize`` apart, as musl's ``map_library`` reads them.
    """
    ident = parse_ident(buf, path, assume)
    img = ElfImage(buf, path, ident)
    hdr = img.header()
    interp: str | None = None
    interp_error: str | None = None
    dynamic: tuple[int, int] | None = None
    load_extent = 0
    notes: list[ProgramHeader] = []
    loads = img.loads
    off, vaddr, filesz = PHDR_FIELDS[img.is64]
    # glibc walks sizeof (ElfW(Phdr)) apart, whatever e_phentsize says (it refuses another
    # size before that: open_verify); musl's map_library (read with ``assume``) reads its
    # own way (see _musl_program_headers)
    headers = _musl_program_headers(img, hdr.phoff, hdr.phnum, ident.phentsize) \
        if assume is not None else \
        img.program_header_fields(hdr.phoff, hdr.phnum, phentsize_of(ident.elf_class))
    dynamic_vaddr = 0
    for fields in headers:
        p_type = fields[0]
        if p_type == _PT_LOAD:
            loads.append((fields[vaddr], fields[off], fields[filesz]))
            load_extent = max(load_extent, fields[off] + fields[filesz])
        elif p_type == _PT_INTERP:
            interp, interp_error = _interp(img, img._program_header(fields))
        elif p_type == _PT_DYNAMIC:
            dynamic = (fields[off], fields[filesz])
            dynamic_vaddr = fields[vaddr]
        elif p_type == _PT_NOTE:
            notes.append(img._program_header(fields))
    if assume is not None and (not loads or not dynamic_vaddr):
        # map_library: "if (!dyn) goto noexec" (a PT_DYNAMIC at address 0 is none); with
        # no PT_LOAD there is nothing to map (the real loader says ENOEXEC)
        dynamic = None
    isa = x86_isa_needed(img, notes)
    phdr_error = kernel_phdr_error(ident.elf_class, ident.phentsize, hdr.phnum)
    if dynamic is None:
        return ElfFacts(ident, interp, False, (), None, None, None, 0, 0, None, None, load_extent,
                        x86_isa_needed=isa, interp_error=interp_error, phdr_error=phdr_error)
    return _parse_dynamic(img, ident, interp, dynamic, load_extent, isa, interp_error,
                          phdr_error)


_MUSL_BUF = {True: 15 * 64, False: 18 * 52}  # map_library's Ehdr buf[(896+sizeof)/sizeof]


def _musl_program_headers(img: ElfImage, phoff: int, phnum: int, phentsize: int
                          ) -> Iterator[tuple[int, ...]]:
    """The program headers as musl's ``map_library`` reads them (``ldso/dynlink.c``): it
    reads the file's first bytes into a buffer of 15 ELF headers (960 bytes; 18 of 52 for
    ELF32) and takes the table ``e_phentsize * e_phnum`` bytes long from there when it lies
    inside what was read; else it reads the table with ``pread``, into that buffer after its
    first header when the table fits in the rest (896 bytes), into memory of its own when
    not; a ``pread`` that does not return the whole table is ENOEXEC (an ElfError here).
    Headers are ``e_phentsize`` apart, never checked; what a header reads past the table
    is the buffer's other bytes (the file's, where it read them) or, past the buffer,
    memory of unknown content, read as zeros."""
    is64 = img.is64
    ehdr, size = (64, 56) if is64 else (52, 32)
    layout = img._layout(PHDR_FORMATS[is64])
    phsize = phentsize * phnum
    length = len(img)
    bufsize = _MUSL_BUF[is64]
    head = min(bufsize, length)

    def whole_table() -> None:
        if phsize and phoff + phsize > length:  # (a pread of 0 bytes returns them all)
            raise ElfError(img.path, f"its program header table ({phnum} of {phentsize} bytes "
                           f"at {phoff:#x}) runs past the end of the file")

    if phsize > bufsize - ehdr:
        whole_table()  # (and read a header at a time: memory does not follow the table)
        for i in range(phnum):
            at = phoff + i * phentsize
            raw = bytes(img.mv[at:min(at + size, phoff + phsize)])
            yield layout.unpack(raw.ljust(size, b"\0"))
        return
    memory = bytearray(bytes(img.mv[:head]).ljust(bufsize, b"\0"))
    if phoff + phsize > head:
        whole_table()
        memory[ehdr:ehdr + phsize] = bytes(img.mv[phoff:phoff + phsize])
        base = ehdr
    else:
        base = phoff
    for i in range(phnum):
        at = base + i * phentsize
        yield layout.unpack(bytes(memory[at:at + size]).ljust(size, b"\0"))


MAX_PHDR_BYTES = 65536
"""The largest program header table ``execve`` reads (Linux 6: older kernels took no more
than a page, 4 KiB)."""


def kernel_phdr_error(elf_class: int, phentsize: int, phnum: int) -> str | None:
    """Why ``execve`` refuses a file's program header table (Linux ``fs/binfmt_elf.c``,
    ``load_elf_phdrs``: ENOEXEC), or None. The kernel checks ``e_phentsize`` and the
    table's size before it reads it; the dynamic loader, which maps libraries, walks
    ``sizeof (ElfW(Phdr))`` apart and checks the size itself (``open_verify``)."""
    size = phentsize_of(elf_class)
    if phentsize != size:
        return f"its e_phentsize is {phentsize}, not {size}, the size of a program header"
    if phnum == 0 or size * phnum > MAX_PHDR_BYTES:
        return (f"its {phnum} program headers take {size * phnum} bytes (the kernel reads 1 "
                f"to {MAX_PHDR_BYTES // size} of them, up to {MAX_PHDR_BYTES} bytes)")
    return None


PATH_MAX = 4096


def _interp(img: ElfImage, ph: ProgramHeader) -> tuple[str | None, str | None]:
    """PT_INTERP as the kernel reads it (Linux ``fs/binfmt_elf.c``, ``load_elf_binary``): 2 to
    ``PATH_MAX`` bytes, read whole, the last one NUL; anything else and ``execve`` fails
    (ENOEXEC; EIO when the file is shorter). ``(interpreter, None)`` or ``(None, why not)``.
    A separate debuginfo file (``objcopy --only-keep-debug``) has one of 0 bytes."""
    if not 2 <= ph.filesz <= PATH_MAX:
        return None, (f"its PT_INTERP segment is {ph.filesz} bytes long (the kernel takes 2 to "
                      f"{PATH_MAX}; a separate debuginfo file has 0)")
    if ph.offset < 0 or ph.offset + ph.filesz > len(img):
        return None, "its PT_INTERP segment runs past the end of the file"
    if img.mv[ph.offset + ph.filesz - 1] != 0:
        return None, "its PT_INTERP segment does not end with a NUL byte"
    return img.cstring(ph.offset, ph.offset + ph.filesz), None


def x86_isa_needed(img: ElfImage, notes: list[ProgramHeader]) -> int:
    """``GNU_PROPERTY_X86_ISA_1_NEEDED`` as glibc 2.36 reads it (``sysdeps/x86/dl-prop.h``,
    ``_dl_process_property_note``): the PT_NOTE segments from the last to the first, only
    those aligned to the class's word size; the first segment holding an
    ``NT_GNU_PROPERTY_TYPE_0`` note decides; properties in ascending order; a second such note
    in that segment (an older linker's) voids them all. 0 when there is none, or the file is
    not an x86 one."""
    if img.ident.machine not in (Machine.X86_64, Machine.I386):
        return 0
    word = 8 if img.is64 else 4
    for ph in reversed(notes):
        if ph.align != word:
            continue
        found = False
        isa = 0
        try:
            for note in img.notes(ph.offset, ph.filesz, word):
                if note.type != NT_GNU_PROPERTY_TYPE_0 or note.name != b"GNU\0":
                    continue
                if found:
                    return 0  # a second property note: glibc returns without using any
                found = True
                if note.desc_size < 8 or note.desc_size % word:
                    break
                isa = _isa_property(img, note.desc_offset, note.desc_size, word)
        except ElfError:
            return 0  # glibc reads the mapped segment; out of the file there is nothing
        if found:
            return isa
    return 0


def _isa_property(img: ElfImage, start: int, size: int, word: int) -> int:
    pos, end, last = start, start + size, 0
    while end - pos >= 8:
        ptype, datasz = img.unpack("II", pos)
        if ptype < last or pos + 8 + datasz > end:
            return 0
        last = ptype
        if ptype == GNU_PROPERTY_X86_ISA_1_NEEDED:
            return img.unpack("I", pos + 8)[0] if datasz == 4 else 0
        if ptype > GNU_PROPERTY_X86_ISA_1_NEEDED:
            return 0
        pos += 8 + (datasz + word - 1) // word * word
    return 0


def dynamic_entries(img: ElfImage, dynamic: tuple[int, int]) -> list[tuple[int, int]]:
    """The (tag, value) entries of the dynamic segment at ``dynamic`` (file offset, size),
    up to ``DT_NULL`` and at most :data:`MAX_DYN_ENTRIES`. ``d_tag`` is signed; it is read
    unsigned, as the loader compares it (a negative one is a tag ldsim knows nothing of
    either way)."""
    d_off, d_size = dynamic
    entfmt, entsize = ("QQ", 16) if img.is64 else ("II", 8)
    entries: list[tuple[int, int]] = []
    for entry in img.unpack_array(entfmt, d_off, min(d_size // entsize, MAX_DYN_ENTRIES)):
        if entry[0] == 0:
            break
        entries.append(entry)  # type: ignore[arg-type]  # (tag, value), as unpacked
    return entries


def _parse_dynamic(img: ElfImage, ident: ElfIdent, interp: str | None,
                   dynamic: tuple[int, int], load_extent: int, isa: int,
                   interp_error: str | None, phdr_error: str | None) -> ElfFacts:
    entries = dynamic_entries(img, dynamic)
    last = dict(entries)
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
        version_error=version_error, has_versym=DT_VERSYM in last, x86_isa_needed=isa,
        interp_error=interp_error, empty_dynamic=dynamic[1] == 0, phdr_error=phdr_error,
    )


def _parse_verneed(img: ElfImage, vaddr: int, count: int,
                   string: Callable[[int], str]) -> tuple[VersionNeed, ...]:
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


def _parse_verdef(img: ElfImage, vaddr: int, count: int,
                  string: Callable[[int], str]) -> tuple[str, ...]:
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
    buf = FileBytes(fd, os.fstat(fd).st_size, path)  # it owns the descriptor
    try:
        return parse_elf(buf, path)
    finally:
        buf.close()
