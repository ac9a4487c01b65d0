"""Dynamic symbols read directly agree with pyelftools' reading of them.

``read_dynamic_symbols`` reads an ordinary file's ``.dynsym``, ``.gnu.version``,
``.gnu.version_d`` and ``.gnu.version_r`` itself (some 16 times faster than pyelftools on this
machine's ``/usr``: 3.9 s against 62 s for its 3,224 programs and libraries) and leaves
anything unusual to pyelftools. Here both readers are compared on real files of this machine
(64- and 32-bit, both byte orders, where the cross toolchains have put them) and on
thousands of damaged copies of one: the direct reader gives pyelftools' symbols, or leaves
the file to it, or reads a file whose only fault is in a section that has no part in the
symbols (pyelftools builds every section, and refuses some).
"""

from __future__ import annotations

import os
import random
import struct

import pytest

from ldsim.elf.symbols import _symbols_direct, _symbols_pyelftools, read_dynamic_symbols
from ldsim.errors import ElfError

TOPS = ("/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/i686-linux-gnu/lib",
        "/usr/s390x-linux-gnu/lib", "/usr/aarch64-linux-gnu/lib", "/usr/arm-linux-gnueabihf/lib")


def _elf_files(limit_per_top: int) -> list[str]:
    out = []
    for top in TOPS:
        if not os.path.isdir(top):
            continue
        entries = sorted((e for e in os.scandir(top) if e.is_file(follow_symlinks=False)),
                         key=lambda e: e.name)
        taken = 0
        for entry in entries[::3]:
            with open(entry.path, "rb") as fh:
                if fh.read(4) != b"\x7fELF":
                    continue
            out.append(entry.path)
            taken += 1
            if taken == limit_per_top:
                break
    return out


def _pyelftools(data: bytes, path: str) -> tuple[object, ...] | ElfError:
    try:
        return _symbols_pyelftools(data, path)
    except ElfError as exc:
        return exc


def test_real_files_read_directly_as_pyelftools_reads_them() -> None:
    files = _elf_files(120)
    if len(files) < 50:
        pytest.skip("too few ELF files on this machine")
    classes = set()
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        classes.add(data[4:6])
        direct = _symbols_direct(data)
        assert direct is not None, path  # every real file is an ordinary one
        assert direct == _pyelftools(data, path), path
        assert read_dynamic_symbols(data, path) == direct
    assert b"\x02\x01" in classes  # x86-64; the others where this machine has them
    with open("/usr/lib/x86_64-linux-gnu/libc.so.6", "rb") as fh:
        libc = read_dynamic_symbols(fh.read(), "libc.so.6")
    printf = [s for s in libc if s.name == "printf" and s.defined]
    assert printf and printf[0].version and printf[0].binding == "STB_GLOBAL"


def test_damaged_copies_agree_or_go_to_pyelftools() -> None:
    """Bytes changed in the section headers and the symbol and version tables of a real
    library: each damaged copy is read as pyelftools reads it, or left to pyelftools, or
    (when pyelftools refuses it for a section without symbols) read all the same."""
    with open("/usr/lib/x86_64-linux-gnu/libz.so.1", "rb") as fh:
        clean = fh.read()
    rng = random.Random(14)
    shoff, = struct.unpack_from("<Q", clean, 0x28)
    shnum, = struct.unpack_from("<H", clean, 0x3C)
    regions = [(shoff, shoff + shnum * 64)]
    for i in range(shnum):
        sh_type, = struct.unpack_from("<I", clean, shoff + i * 64 + 4)
        off, size = struct.unpack_from("<QQ", clean, shoff + i * 64 + 24)
        if sh_type in (11, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF):
            regions.append((off, off + size))
    agree = fallback = only_direct = 0
    for _ in range(1500):
        data = bytearray(clean)
        lo, hi = rng.choice(regions)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(lo, hi)
            data[at] = rng.choice((0, 0xFF, rng.randrange(256), data[at] ^ 0x80))
        blob = bytes(data)
        direct = _symbols_direct(blob)
        if direct is None:
            fallback += 1
            continue
        theirs = _pyelftools(blob, "libz")
        if isinstance(theirs, ElfError):
            only_direct += 1
            continue
        assert direct == theirs
        agree += 1
    assert agree > 500 and fallback > 50, (agree, fallback, only_direct)
    assert only_direct < 50, only_direct  # a fault in another section only


def _stripped(data: bytes) -> bytearray:
    """``data`` with no section header table (what the loader reads is all there)."""
    out = bytearray(data)
    if out[4] == 2:  # ELFCLASS64: e_shoff, e_shnum + e_shstrndx
        out[0x28:0x30], out[0x3C:0x40] = bytes(8), bytes(4)
    else:
        out[0x20:0x24], out[0x30:0x34] = bytes(4), bytes(4)
    return out


def test_the_dynamic_segment_gives_the_sections_symbols() -> None:
    """Every ELF file here (both classes), stripped of its section headers, reads the same
    symbols (names, bindings, types, versions) through its dynamic segment as through its
    sections, as the loader finds them (DT_SYMTAB, DT_GNU_HASH or DT_HASH, DT_VERSYM...)."""
    files = _elf_files(120)
    if len(files) < 50:
        pytest.skip("too few ELF files on this machine")
    compared = 0
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        direct = _symbols_direct(data)
        assert direct is not None, path
        stripped = bytes(_stripped(data))
        assert read_dynamic_symbols(stripped, path) == direct, path
        compared += bool(direct)
    assert compared > 50


def test_a_hostile_hash_table_reads_no_further_than_its_segment() -> None:
    """A DT_HASH chain count of 2**32 - 1 and a GNU hash chain that never ends (every word
    even) in a sectionless copy of libc: symbols are read no further than the segment that
    holds the table, and nothing but symbols or an ElfError comes out. A memoryview (a
    caller's own buffer) of a sectionless file reads no symbol, as before, never an
    AttributeError."""
    with open("/usr/lib/x86_64-linux-gnu/libc.so.6", "rb") as fh:
        libc = _stripped(fh.read())
    (phoff,) = struct.unpack_from("<Q", libc, 32)
    (phnum,) = struct.unpack_from("<H", libc, 56)
    loads, dyn = [], None
    for i in range(phnum):
        p_type, _f, off, vaddr, _pa, filesz = struct.unpack_from("<IIQQQQ", libc, phoff + 56 * i)
        if p_type == 1:
            loads.append((vaddr, off, filesz))
        elif p_type == 2:
            dyn = (off, filesz)
    assert dyn is not None
    tags = {t: (dyn[0] + 16 * k, v) for k in range(dyn[1] // 16)
            for t, v in [struct.unpack_from("<QQ", libc, dyn[0] + 16 * k)]}

    def offset(vaddr: int) -> int:
        return next(vaddr - v + o for v, o, n in loads if v <= vaddr < v + n)

    symtab = offset(tags[6][1])
    room = next(o + n - symtab for v, o, n in loads if o <= symtab < o + n)
    gnu = offset(tags[0x6FFFFEF5][1])
    nbuckets, _symoffset, bloom, _shift = struct.unpack_from("<IIII", libc, gnu)
    chains = gnu + 16 + 8 * bloom + 4 * nbuckets
    endless = bytearray(libc)
    for at in range(chains, min(len(endless), chains + 4 * 200_000), 4):
        endless[at] &= 0xFE  # no chain ever ends
    symbols = read_dynamic_symbols(bytes(endless), "libc.so.6")
    assert len(symbols) < room // 24
    sysv = bytearray(libc)  # DT_GNU_HASH's tag made DT_HASH's, pointing at a huge nchain
    struct.pack_into("<Q", sysv, tags[0x6FFFFEF5][0], 4)
    struct.pack_into("<II", sysv, gnu, 1, 0xFFFFFFFF)
    symbols = read_dynamic_symbols(bytes(sysv), "libc.so.6")
    assert len(symbols) < room // 24
    assert read_dynamic_symbols(memoryview(bytes(libc)), "libc.so.6") == ()
