"""Hostile ELF files, ld.so.cache files and loader binaries, built by code (issue: hostile input).

Each builder returns the bytes of one small input crafted so that a naive reader does work
or allocates memory out of proportion to its size: many references to one long string,
version records that overlap, section headers whose counts claim far more than the file
holds, a loader binary whose read-only data has no NUL for 200 KB. They are the regression
corpus (``scripts/hostile_corpus.py`` writes them out) and the seeds of the fuzz targets.

The layout of :func:`raw_elf` is the simplest the loader accepts: ELF header, program
headers (one PT_LOAD over the whole file at address 0, so addresses are file offsets;
PT_DYNAMIC; PT_INTERP when asked), then the blobs, then the dynamic array.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from memroot import GLIBC_LOADER, SYSTEM_DIRS, elf

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_VERSYM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF
SHT_STRTAB, SHT_DYNSYM, SHT_GNU_VERNEED, SHT_GNU_VERSYM = 3, 11, 0x6FFFFFFE, 0x6FFFFFFF
EHDR, PHDR, SHDR, DYN = 64, 56, 64, 16


def raw_elf(*, dynamic: Sequence[tuple[int, int]], blobs: Sequence[bytes] = (),
            interp: str | None = GLIBC_LOADER, e_type: int = 3,
            sections: bytes = b"", shnum: int = 0, shentsize: int = SHDR,
            shstrndx: int = 0) -> tuple[bytes, list[int]]:
    """An x86-64 ELF file with ``dynamic`` (DT_NULL added) and ``blobs`` laid out after the
    program headers; returns the bytes and each blob's offset (= its address). The dynamic
    entries may name blob offsets: pass a callable-free list by computing offsets with
    :func:`blob_offsets` first. ``sections`` (raw section headers) go last, ``shnum`` of
    them."""
    nph = 3 if interp is not None else 2
    off = EHDR + PHDR * nph
    interp_bytes = interp.encode() + b"\0" if interp is not None else b""
    interp_off = off
    off += len(interp_bytes)
    offsets: list[int] = []
    body = bytearray()
    for b in blobs:
        off = (off + 7) & ~7
        offsets.append(off)
        body_start = off - (EHDR + PHDR * nph + len(interp_bytes))
        body.extend(b"\0" * (body_start - len(body)))
        body.extend(b)
        off += len(b)
    dyn_off = (off + 7) & ~7
    body.extend(b"\0" * (dyn_off - (EHDR + PHDR * nph + len(interp_bytes)) - len(body)))
    dyn = b"".join(struct.pack("<qQ", t, v) for t, v in (*dynamic, (DT_NULL, 0)))
    sh_off = dyn_off + len(dyn) if sections else 0
    total = dyn_off + len(dyn) + len(sections)
    ehdr = (b"\x7fELF\x02\x01\x01" + b"\0" * 9
            + struct.pack("<HHIQQQIHHHHHH", e_type, 62, 1, 0, EHDR, sh_off, 0, EHDR, PHDR,
                          nph, shentsize, shnum, shstrndx))
    phdrs = struct.pack("<IIQQQQQQ", PT_LOAD, 5, 0, 0, 0, total, total, 0x1000)
    phdrs += struct.pack("<IIQQQQQQ", PT_DYNAMIC, 6, dyn_off, dyn_off, dyn_off, len(dyn),
                         len(dyn), 8)
    if interp is not None:
        phdrs += struct.pack("<IIQQQQQQ", PT_INTERP, 4, interp_off, interp_off, interp_off,
                             len(interp_bytes), len(interp_bytes), 1)
    data = ehdr + phdrs + interp_bytes + bytes(body) + dyn + sections
    assert len(data) == total
    return data, offsets


def blob_offsets(sizes: Sequence[int], interp: str | None = GLIBC_LOADER) -> list[int]:
    """Where :func:`raw_elf` will put blobs of these sizes (to point dynamic entries at)."""
    nph = 3 if interp is not None else 2
    off = EHDR + PHDR * nph + (len(interp.encode()) + 1 if interp is not None else 0)
    out = []
    for size in sizes:
        off = (off + 7) & ~7
        out.append(off)
        off += size
    return out


def _strtab_elf(strtab: bytes, entries: Sequence[tuple[int, int]], extra: Sequence[bytes] = (),
                **kw: object) -> bytes:
    offs = blob_offsets([len(strtab), *map(len, extra)])
    dyn = [*entries, (DT_STRTAB, offs[0]), (DT_STRSZ, len(strtab))]
    return raw_elf(dynamic=dyn, blobs=[strtab, *extra], **kw)[0]  # type: ignore[arg-type]


def many_needed_one_string(count: int = 20_000, length: int = 100_000) -> bytes:
    """``count`` DT_NEEDED entries all naming one ``length``-byte string: a reader that copies
    the string per reference needs count x length bytes (2 GB by default) from 420 KB."""
    strtab = b"\0" + b"A" * length + b"\0"
    return _strtab_elf(strtab, [(DT_NEEDED, 1)] * count)


def strings_without_nul(count: int = 20_000, length: int = 200_000) -> bytes:
    """DT_NEEDED entries pointing at successive offsets of a ``length``-byte run that has a
    NUL only at its very end: a reader that copies "from the offset to the end of the string
    table" per string does count x length work."""
    strtab = b"\0" + b"B" * length + b"\0"
    return _strtab_elf(strtab, [(DT_NEEDED, 1 + i * (length // count)) for i in range(count)])


def overlapping_verneed(records: int = 16_384, vn_cnt: int = 16_384) -> bytes:
    """``records`` Verneed records that all point (``vn_aux``) into one chain of ``vn_cnt``
    Vernaux entries, each record 16 bytes after the previous: the records overlap the chain,
    so a reader visits records x vn_cnt entries (268 million by default) in a 330 KB file."""
    strtab = b"\0libc.so.6\0GLIBC_2.2.5\0"
    # Vernaux: vna_hash, vna_flags, vna_other, vna_name, vna_next (16 bytes each)
    aux = b"".join(struct.pack("<IHHII", 0x09691A75, 0, 2, 11, 16 if i + 1 < vn_cnt else 0)
                   for i in range(vn_cnt))
    # Verneed: vn_version, vn_cnt, vn_file, vn_aux, vn_next (16 bytes); record i sits at
    # 16*i and its vn_aux reaches the chain that follows the records.
    need = b"".join(struct.pack("<HHIII", 1, vn_cnt, 1, 16 * (records - i), 16)
                    for i in range(records))
    offs = blob_offsets([len(strtab), len(need) + len(aux)])
    dyn = [(DT_NEEDED, 1), (DT_STRTAB, offs[0]), (DT_STRSZ, len(strtab)),
           (DT_VERNEED, offs[1]), (DT_VERNEEDNUM, records)]
    return raw_elf(dynamic=dyn, blobs=[strtab, need + aux])[0]


def verneed_section_claiming(count: int = 0xFFFFFFFF) -> bytes:
    """A file whose ``SHT_GNU_verneed`` section header says (``sh_info``) it holds ``count``
    records while it holds one, beside a real ``.dynsym``/``.gnu.version``: a section reader
    that trusts sh_info loops for minutes (pyelftools does)."""
    dynstr = b"\0libc.so.6\0GLIBC_2.2.5\0puts\0.dynstr\0.dynsym\0.gnu.version\0" \
             b".gnu.version_r\0.shstrtab\0"
    names = {n: dynstr.index(n.encode() + b"\0") for n in
             (".dynstr", ".dynsym", ".gnu.version", ".gnu.version_r", ".shstrtab")}
    puts = dynstr.index(b"puts\0")
    dynsym = b"\0" * 24 + struct.pack("<IBBHQQ", puts, 0x12, 0, 0, 0, 0)
    versym = struct.pack("<HH", 0, 2)
    verneed = struct.pack("<HHIII", 1, 1, 1, 16, 0) + struct.pack("<IHHII", 0x09691A75, 0, 2,
                                                                    11, 0)
    blobs = [dynstr, dynsym, versym, verneed]
    offs = blob_offsets(list(map(len, blobs)))
    dyn = [(DT_NEEDED, 1), (DT_STRTAB, offs[0]), (DT_STRSZ, len(dynstr)),
           (DT_VERSYM, offs[2]), (DT_VERNEED, offs[3]), (DT_VERNEEDNUM, 1)]

    def shdr(name: int, sh_type: int, off: int, size: int, link: int = 0, info: int = 0,
             entsize: int = 0, align: int = 8) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, sh_type, 2, off, off, size, link, info, align,
                           entsize)

    sections = b"".join([
        b"\0" * SHDR,
        shdr(names[".dynstr"], SHT_STRTAB, offs[0], len(dynstr), align=1),
        shdr(names[".dynsym"], SHT_DYNSYM, offs[1], len(dynsym), link=1, info=1, entsize=24),
        shdr(names[".gnu.version"], SHT_GNU_VERSYM, offs[2], len(versym), link=2, entsize=2,
             align=2),
        shdr(names[".gnu.version_r"], SHT_GNU_VERNEED, offs[3], len(verneed), link=1,
             info=count),
        shdr(names[".shstrtab"], SHT_STRTAB, offs[0], len(dynstr), align=1),
    ])
    return raw_elf(dynamic=dyn, blobs=blobs, sections=sections, shnum=6, shstrndx=5)[0]


def huge_section_no_entsize(count: int = 1 << 40) -> bytes:
    """``e_shentsize`` 0, ``e_shnum`` 0 and section 0's ``sh_size`` (the extended section
    count) ``count``: a layout reader that believes the count reads the same 64 bytes 2^40
    times (``ldsim fix`` died with MemoryError)."""
    strtab = b"\0libc.so.6\0"
    offs = blob_offsets([len(strtab)])
    sections = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, count, 0, 0, 0, 0)
    return raw_elf(dynamic=[(DT_NEEDED, 1), (DT_STRTAB, offs[0]), (DT_STRSZ, len(strtab))],
                   blobs=[strtab], sections=sections, shnum=0, shentsize=0)[0]


def loader_without_nul(length: int = 200_000) -> bytes:
    """A loader binary whose read-only data is ``length`` bytes of ``/a/a/a...`` and no NUL (no
    directory list at all): a regular expression that retries at every offset runs in
    quadratic time (6 s for 80 KB, 65 s for 200 KB)."""
    return elf(soname="ld-linux-x86-64.so.2") + b"/a" * (length // 2)


def loader_release_digits(digits: int = 5_000) -> bytes:
    """A loader whose release string is ``release version 2.`` and ``digits`` digits (Python's
    int() refuses more than 4,300)."""
    blob = (b"".join(d.encode() + b"\0" for d in SYSTEM_DIRS)
            + b"ORIGIN\0PLATFORM\0LIB\0lib/x86_64-linux-gnu\0"
            + b"ld.so (GNU libc) release version 2." + b"9" * digits + b"\0")
    return elf(soname="ld-linux-x86-64.so.2", extra=blob)


def ld_so_cache_one_string(entries: int = 20_000, length: int = 200_000) -> bytes:
    """A new-format ld.so.cache (``glibc-ld.so.cache1.1``, as ``ldconfig`` writes it) of
    ``entries`` entries whose keys and values point at successive offsets of one
    ``length``-byte string (each a suffix of it): a reader that decodes every entry's strings
    holds entries x length / 2 bytes (2 GB by default) from 680 KB."""
    from ldsim.config.ld_so_cache import NEW_MAGIC

    start = 48 + 24 * entries
    string = b"/" + b"C" * (length - 1) + b"\0"
    step = max(1, (length - 1) // entries)
    body = b"".join(struct.pack("<iIIIQ", 0x0303, start + i * step, start + i * step, 0, 0)
                    for i in range(entries))
    header = NEW_MAGIC + struct.pack("<IIB3xI12x", entries, len(string), 2, 0)
    return bytes(header + body + string)


__all__ = ["SYSTEM_DIRS", "blob_offsets", "huge_section_no_entsize", "ld_so_cache_one_string",
           "loader_release_digits", "loader_without_nul", "many_needed_one_string",
           "overlapping_verneed", "raw_elf", "strings_without_nul", "verneed_section_claiming"]
