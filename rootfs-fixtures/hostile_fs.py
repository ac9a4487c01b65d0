"""Hostile SquashFS images (``.snap`` files) for ldsim's views, built by code (issue: hostile input).

Every image starts as a real one made by ``mksquashfs`` from a small payload tree (the flags
``snap pack`` uses: xz, no fragments, all files owned by root), then a few bytes are patched
with Python where the hostile case needs them. Metadata is left uncompressed where a patch
must reach it (``-noI``: the inode and directory tables), which changes nothing for a
reader: each metadata block says whether it is compressed. The layout patched is the one the
Linux kernel reads (``fs/squashfs/squashfs_fs.h``): the superblock, the inode
and directory tables made of metadata blocks (a 2-byte header, bit 15 set when stored
uncompressed), directory runs (``struct squashfs_dir_header`` then ``struct
squashfs_dir_entry`` + name), inode references ``block << 16 | offset``.

Builders (each returns the image's path, written in ``work``):

* :func:`sparse_snap`: a 3 GiB sparse file in a 32 KiB image (optionally starting with an ELF
  header, so that it is sniffed as an ELF file and read whole);
* :func:`cycle_snap`: a directory entry pointing back at the root inode or at an ancestor;
* :func:`bad_name_snap`: one entry of an unused directory renamed to ``t/ol``, ``.``, ``..``, a
  name with a NUL byte, or a sibling's name;
* :func:`shared_listing_snap`: many directory inodes sharing one listing of themselves (each
  directory contains all of them: a cycle, and quadratic for a walk keyed on inodes only);
* :func:`lzma_dict_snap`: an lzma (``.lzma``) or xz stream header claiming a 4 GiB dictionary;
* :func:`zstd_bomb_snap`: a 16 KiB zstd frame that decompresses to 512 MiB, in a data block;
* :func:`fix_temp_snap`: a stale ``.app.RANDOM.ldsim-fix`` copy left by a killed ``ldsim fix``.

:func:`base_and_host` makes the (empty) base and host trees ``compare --all`` and ``lint``
need besides a snap.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

MKSQUASHFS = shutil.which("mksquashfs")
TRUE = shutil.which("true")
GiB = 1 << 30
SNAP_FLAGS = ("-noappend", "-no-fragments", "-all-root", "-no-xattrs", "-no-progress",
              "-quiet")  # and -comp xz, unless told otherwise
SNAP_YAML = ("name: hostile\nversion: '1'\nbase: core22\nconfinement: classic\n"
             "apps: {app: {command: bin/app}}\n")
SUPERBLOCK = struct.Struct("<5I6H8Q")
INVALID = 0xFFFFFFFFFFFFFFFF
UNCOMPRESSED = 0x8000  # metadata block header: stored uncompressed
DIR_HEADER = struct.Struct("<3I")  # count - 1, start_block, inode_number
DIR_ENTRY = struct.Struct("<HhHH")  # offset, inode_number delta, type, size - 1


# -- building ------------------------------------------------------------------------------
def payload(top: Path, name: str = "payload", *, app: bool = True) -> Path:
    """A payload tree: ``meta/snap.yaml`` and (``app``) ``bin/app``, a copy of ``true(1)``."""
    root = top / name
    (root / "meta").mkdir(parents=True)
    (root / "meta/snap.yaml").write_text(SNAP_YAML)
    if app:
        (root / "bin").mkdir()
        assert TRUE is not None, "true(1) is needed as a real ELF program"
        shutil.copyfile(TRUE, root / "bin/app")
        (root / "bin/app").chmod(0o755)
    return root


def mksquashfs(src: Path, image: Path, *extra: str, comp: str = "xz") -> Path:
    assert MKSQUASHFS is not None, "mksquashfs (squashfs-tools) is not installed"
    subprocess.run([MKSQUASHFS, str(src), str(image), *SNAP_FLAGS, "-comp", comp, *extra],
                   check=True, capture_output=True)
    return image


def base_and_host(top: Path) -> tuple[Path, Path]:
    """An empty core22-like base (``usr/lib``) and an empty host root (``etc``)."""
    base, host = top / "base", top / "host"
    (base / "usr/lib").mkdir(parents=True, exist_ok=True)
    (host / "etc").mkdir(parents=True, exist_ok=True)
    return base, host


# -- reading what mksquashfs wrote -----------------------------------------------------------
@dataclass(frozen=True)
class Super:
    inode_count: int
    block_size: int
    fragment_count: int
    compression: int
    root_ref: int
    bytes_used: int
    id_table: int
    inode_table: int
    dir_table: int
    fragment_table: int
    lookup_table: int

    @classmethod
    def of(cls, data: bytes | bytearray) -> Super:
        f = SUPERBLOCK.unpack_from(data)
        return cls(inode_count=f[1], block_size=f[3], fragment_count=f[4], compression=f[5],
                   root_ref=f[11], bytes_used=f[12], id_table=f[13], inode_table=f[15],
                   dir_table=f[16], fragment_table=f[17], lookup_table=f[18])

    def dir_table_end(self, data: bytes | bytearray) -> int:
        """Where the directory table's blocks end: at the first block of the next table
        (fragments, then the export table, then ids: each index's first entry)."""
        for start, present in ((self.fragment_table, self.fragment_count > 0),
                               (self.lookup_table, self.lookup_table != INVALID),
                               (self.id_table, True)):
            if present:
                (first,) = struct.unpack_from("<Q", data, start)
                return int(first)
        raise AssertionError("no table after the directory table")


class MetaTable:
    """An uncompressed metadata table (``-noI``): its bytes as the reader sees them,
    and where each one lies in the image, so that a patch can be written back."""

    def __init__(self, data: bytearray, start: int, end: int) -> None:
        self.data = data
        self.stream = bytearray()
        self.file_pos: list[int] = []
        self.block_index: dict[int, int] = {}  # block offset from the table start -> index
        pos = start
        while pos < end:
            (header,) = struct.unpack_from("<H", data, pos)
            assert header & UNCOMPRESSED, "build the image with -noI to patch it"
            size = header & ~UNCOMPRESSED
            self.block_index[pos - start] = len(self.stream)
            self.stream += data[pos + 2:pos + 2 + size]
            self.file_pos.extend(range(pos + 2, pos + 2 + size))
            pos += 2 + size

    def index(self, ref: int) -> int:
        return self.block_index[ref >> 16] + (ref & 0xFFFF)

    def write(self, index: int, raw: bytes) -> None:
        for k, b in enumerate(raw):
            self.stream[index + k] = b
            self.data[self.file_pos[index + k]] = b


@dataclass(frozen=True)
class Entry:
    name: bytes
    ref: int  # the inode reference the entry points at
    header: int  # indexes in the directory table's stream
    entry: int
    run_length: int  # entries in this entry's run


def dir_entries(table: MetaTable) -> list[Entry]:
    """Every directory entry of the table, in order (listings are written back to back)."""
    out: list[Entry] = []
    s = table.stream
    at = 0
    while at < len(s):
        count, block, _ino = DIR_HEADER.unpack_from(s, at)
        header = at
        at += DIR_HEADER.size
        for _ in range(count + 1):
            offset, _delta, _type, size = DIR_ENTRY.unpack_from(s, at)
            name = bytes(s[at + DIR_ENTRY.size:at + DIR_ENTRY.size + size + 1])
            out.append(Entry(name, block << 16 | offset, header, at, count + 1))
            at += DIR_ENTRY.size + size + 1
    return out


def find_entry(entries: list[Entry], name: bytes) -> Entry:
    found = [e for e in entries if e.name == name]
    assert len(found) == 1, (name, found)
    return found[0]


def point_entry(table: MetaTable, entry: Entry, ref: int) -> None:
    """Make ``entry`` point at inode ``ref`` (alone in its run: the run's header holds the
    block of every entry in it)."""
    assert entry.run_length == 1, "the entry must be alone in its directory"
    table.write(entry.header + 4, struct.pack("<I", ref >> 16))
    table.write(entry.entry, struct.pack("<H", ref & 0xFFFF))


@dataclass(frozen=True)
class DirInode:
    itype: int
    start: int
    offset: int
    file_size: int


def dir_inode(inodes: MetaTable, ref: int) -> DirInode:
    i = inodes.index(ref)
    itype = struct.unpack_from("<H", inodes.stream, i)[0]
    if itype == 1:  # struct squashfs_dir_inode
        start, _nlink, size, offset, _parent = struct.unpack_from("<2I2HI", inodes.stream,
                                                                  i + 16)
    elif itype == 8:  # struct squashfs_ldir_inode
        _nlink, size, start, _parent, _icount, offset, _x = struct.unpack_from(
            "<4I2HI", inodes.stream, i + 16)
    else:
        raise AssertionError(f"inode {ref:#x} is not a directory (type {itype})")
    return DirInode(itype, start, offset, size)


def set_basic_dir_listing(inodes: MetaTable, ref: int, listing: DirInode) -> None:
    """Make the basic directory inode at ``ref`` use ``listing``'s listing."""
    i = inodes.index(ref)
    assert struct.unpack_from("<H", inodes.stream, i)[0] == 1
    inodes.write(i + 16, struct.pack("<I", listing.start))
    inodes.write(i + 24, struct.pack("<HH", listing.file_size, listing.offset))


def tables(image: Path) -> tuple[bytearray, Super, MetaTable, MetaTable]:
    """The image's bytes, superblock, inode table and directory table (uncompressed)."""
    data = bytearray(image.read_bytes())
    sb = Super.of(data)
    inodes = MetaTable(data, sb.inode_table, sb.dir_table)
    dirs = MetaTable(data, sb.dir_table, sb.dir_table_end(data))
    return data, sb, inodes, dirs


# -- the hostile images -----------------------------------------------------------------------
def sparse_snap(work: Path, *, size: int = 3 * GiB, elf_header: bool = False) -> Path:
    """A payload with ``big``: ``size`` bytes, all one hole (all sparse blocks), or (with
    ``elf_header``) the first 64 bytes of ``true(1)`` then the hole.

    mksquashfs reads the whole hole: from tmpfs (``/dev/shm``, where reading a hole copies
    the zero page) that takes about a second for 3 GiB, from a disk file system ten."""
    label = "sparse-elf" if elf_header else "sparse"
    shm = Path("/dev/shm")
    where = shm if shm.is_dir() and os.access(shm, os.W_OK) else work
    with tempfile.TemporaryDirectory(dir=where, prefix="ldsim-hostile-") as tmp:
        src = payload(Path(tmp), label)
        with open(src / "big", "wb") as fh:
            if elf_header:
                assert TRUE is not None
                fh.write(Path(TRUE).read_bytes()[:64])
            fh.truncate(size)
        return mksquashfs(src, work / f"{label}.snap")


def cycle_snap(work: Path, *, to: str = "root") -> Path:
    """``loop/back`` (a directory alone in ``loop``) pointing back at the root inode, or
    (``to="parent"``) ``sub/deeper/up`` (alone in ``deeper``) pointing back at ``sub``."""
    src = payload(work, f"cycle-{to}-src")
    (src / "loop/back").mkdir(parents=True)
    (src / "sub/deeper/up").mkdir(parents=True)
    (src / "sub/file").write_bytes(b"x")
    image = mksquashfs(src, work / f"cycle-{to}.snap", "-noI")
    data, sb, _inodes, dirs = tables(image)
    entries = dir_entries(dirs)
    if to == "root":
        point_entry(dirs, find_entry(entries, b"back"), sb.root_ref)
    else:
        point_entry(dirs, find_entry(entries, b"up"), find_entry(entries, b"sub").ref)
    image.write_bytes(bytes(data))
    return image


BAD_NAMES = {  # the hostile name -> the name mksquashfs writes first (same length)
    b"t/ol": b"txol",
    b".": b"Q",
    b"..": b"QQ",
    b"t\0ol": b"tNol",
    b"tyol": b"tzol",  # a duplicate of the sibling "tyol"
}


def bad_name_snap(work: Path, name: bytes) -> Path:
    """``data/`` (no program uses it) holds ``tyol`` and one more entry, renamed to ``name``
    after mksquashfs wrote it; ``lib/libok.so`` beside it is fine."""
    placeholder = BAD_NAMES[name]
    label = name.hex()
    src = payload(work, f"badname-{label}-src")
    (src / "data").mkdir()
    (src / "data" / placeholder.decode()).write_bytes(b"renamed")
    (src / "data/tyol").write_bytes(b"sibling")
    (src / "lib").mkdir()
    (src / "lib/libok.so").write_bytes(b"fine")
    image = mksquashfs(src, work / f"badname-{label}.snap", "-noI")
    data, _sb, _inodes, dirs = tables(image)
    entry = find_entry(dir_entries(dirs), placeholder)
    dirs.write(entry.entry + DIR_ENTRY.size, name)
    image.write_bytes(bytes(data))
    return image


def shared_listing_snap(work: Path, count: int = 1500) -> Path:
    """``mesh/`` with ``count`` empty subdirectories, each then made to use ``mesh``'s own
    listing: every one of them contains all of them."""
    src = payload(work, f"shared-{count}-src")
    mesh = src / "mesh"
    mesh.mkdir()
    for i in range(count):
        (mesh / f"d{i:05d}").mkdir()
    image = mksquashfs(src, work / f"shared-{count}.snap", "-noI")
    data, _sb, inodes, dirs = tables(image)
    entries = dir_entries(dirs)
    listing = dir_inode(inodes, find_entry(entries, b"mesh").ref)
    for e in entries:
        if e.name.startswith(b"d0") or e.name.startswith(b"d1"):
            set_basic_dir_listing(inodes, e.ref, listing)
    image.write_bytes(bytes(data))
    return image


def _metadata_stream(data: bytearray, sb: Super) -> int:
    """Where the first compressed metadata block's stream starts (the inode table's)."""
    (header,) = struct.unpack_from("<H", data, sb.inode_table)
    assert not header & UNCOMPRESSED, "the first inode table block is stored uncompressed"
    return sb.inode_table + 2


def lzma_dict_snap(work: Path, comp: str = "lzma") -> Path:
    """An image compressed with ``comp`` (lzma or xz) whose first inode-table block's stream
    header claims a 4 GiB dictionary (every command opens the image by reading it)."""
    src = payload(work, f"dict-{comp}-src")
    for i in range(60):  # enough inodes for the first inode block to compress
        (src / f"file-{i:03d}").write_bytes(b"%d" % i)
    image = mksquashfs(src, work / f"dict-{comp}.snap", comp=comp)
    data = bytearray(image.read_bytes())
    at = _metadata_stream(data, Super.of(data))
    if comp == "lzma":  # .lzma header: properties byte, dictionary size (u32), size (u64)
        struct.pack_into("<I", data, at + 1, 0xFFFFFFFF)
    else:  # xz: stream header (12 bytes), then the block header with the LZMA2 filter
        assert data[at:at + 6] == b"\xfd7zXZ\x00"
        block = at + 12
        header_size = (data[block] + 1) * 4
        flags = data[block + 1]
        nfilters = (flags & 3) + 1
        p = block + 2
        for present in (flags & 0x40, flags & 0x80):  # compressed, uncompressed size
            if present:
                while data[p] & 0x80:  # a multibyte integer
                    p += 1
                p += 1
        for _ in range(nfilters):
            fid, plen = data[p], data[p + 1]
            if fid == 0x21:  # LZMA2: one byte, dictionary size; 40 is 4 GiB - 1
                assert plen == 1
                data[p + 2] = 40
            p += 2 + plen
        crc = zlib.crc32(bytes(data[block:block + header_size - 4]))
        struct.pack_into("<I", data, block + header_size - 4, crc)
    image.write_bytes(bytes(data))
    return image


def zstd_frame(content_size: int, real: int | None = None) -> bytes:
    """A zstd frame (RFC 8878: single segment, 8-byte content size, no checksum) declaring
    ``content_size`` bytes and holding ``real`` of them (default: all) as RLE blocks of
    128 KiB, 4 bytes each: 512 MiB fit in 16 KiB."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", content_size)
    left = content_size if real is None else real
    blocks = bytearray()
    while True:
        n = min(left, 128 * 1024)
        left -= n
        last = 1 if left == 0 else 0
        blocks += struct.pack("<I", last | 1 << 1 | n << 3)[:3] + b"z"  # RLE of n bytes
        if last:
            return header + bytes(blocks)


def zstd_bomb_snap(work: Path, content_size: int = 512 << 20, real: int | None = None) -> Path:
    """``bomb.txt``'s one data block (100 KB, stored) replaced by :func:`zstd_frame` (padded
    to the block's size on disk with a skippable frame) and marked compressed."""
    src = payload(work, f"zstd-{content_size}-src", app=False)
    (src / "bomb.txt").write_bytes(random.Random(0).randbytes(100_000))
    image = mksquashfs(src, work / f"zstd-bomb-{content_size}.snap", "-noI", comp="zstd")
    data, _sb, inodes, dirs = tables(image)
    ref = find_entry(dir_entries(dirs), b"bomb.txt").ref
    i = inodes.index(ref)
    assert struct.unpack_from("<H", inodes.stream, i)[0] == 2  # a basic file
    start, _frag, _off, size = struct.unpack_from("<4I", inodes.stream, i + 16)
    (word,) = struct.unpack_from("<I", inodes.stream, i + 32)  # its one block's size word
    assert size == 100_000 and word == 1 << 24 | size, "stored uncompressed"
    frame = zstd_frame(content_size, real)
    pad = size - len(frame) - 8
    assert pad >= 0
    data[start:start + size] = frame + struct.pack("<II", 0x184D2A50, pad) + bytes(pad)
    inodes.write(i + 32, struct.pack("<I", size))  # now "compressed"
    image.write_bytes(bytes(data))
    return image


def fix_temp_snap(work: Path) -> Path:
    """A payload with ``bin/.app.k3x9q1.ldsim-fix``: the full copy of ``bin/app`` a killed
    ``ldsim fix --apply`` leaves behind."""
    src = payload(work, "fixtemp-src")
    shutil.copyfile(src / "bin/app", src / "bin/.app.k3x9q1.ldsim-fix")
    return mksquashfs(src, work / "fixtemp.snap")


def fuzz_seeds() -> list[bytes]:
    """Small hostile images as seeds for ``scripts/fuzz.py`` (none without mksquashfs): each
    builder's output, with a 64 MiB sparse file instead of 3 GiB."""
    if MKSQUASHFS is None:
        return []
    with tempfile.TemporaryDirectory(prefix="ldsim-hostile-fs-") as tmp:
        w = Path(tmp)
        images = [sparse_snap(w, size=64 << 20, elf_header=True), cycle_snap(w),
                  cycle_snap(w, to="parent"), shared_listing_snap(w, 40), lzma_dict_snap(w),
                  lzma_dict_snap(w, "xz"), zstd_bomb_snap(w), fix_temp_snap(w)]
        images += [bad_name_snap(w, name) for name in BAD_NAMES]
        return [image.read_bytes() for image in images]


__all__ = ["BAD_NAMES", "MKSQUASHFS", "GiB", "bad_name_snap", "base_and_host", "cycle_snap",
           "dir_entries", "fix_temp_snap", "fuzz_seeds", "lzma_dict_snap", "mksquashfs", "payload",
           "shared_listing_snap", "sparse_snap", "tables", "zstd_bomb_snap", "zstd_frame"]
