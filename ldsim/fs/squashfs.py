"""A SquashFS 4.0 image (a ``.snap``) read as a :class:`~ldsim.fs.view.View`, without mounting.

The on-disk format is the one the Linux kernel reads (``fs/squashfs/squashfs_fs.h``; the
layout is documented in ``Documentation/filesystems/squashfs.rst``). Everything is
little-endian:

* the 96-byte superblock (``struct squashfs_super_block``): magic ``hsqs``, inode count,
  block size (4 KiB..1 MiB, a power of two), fragment count, compressor id, flags, id count,
  version 4.0, the root inode reference and the start of every table;
* *metadata blocks*: a 2-byte header (bit 15 set: stored uncompressed; the low 15 bits: the
  size on disk) and at most 8 KiB of data once decompressed. The inode table, the directory
  table and the blocks of the id, fragment and export tables are sequences of them. An inode
  reference is ``(offset of a metadata block from the table's start) << 16 | (offset inside
  the decompressed block)``;
* the id, fragment and export tables are indexed: at ``*_table_start`` an array of 64-bit
  positions of the metadata blocks holding the entries (u32 ids; 16-byte
  ``struct squashfs_fragment_entry``);
* inodes (``struct squashfs_*_inode``): a 16-byte header (type, permission bits, uid and gid
  indexes into the id table, mtime, inode number), then per type: directories (basic and
  extended ``ldir``, with an index we do not need), regular files (``reg``/``lreg``: the
  position of the first data block, a fragment index and offset, the size, and one u32 per
  data block: bit 24 set means stored, 0 means a sparse block), symlinks, block and
  character devices, fifos and sockets (basic and extended, the extended ones adding
  an xattr index, and nlink for files);
* directory listings in the directory table: runs of up to 256 entries, each run headed by
  ``struct squashfs_dir_header`` (count - 1, the metadata block of the entries' inodes, a base
  inode number) and each entry a ``struct squashfs_dir_entry`` (offset of the inode in that
  block, inode-number delta, type, name length - 1) then the name. A directory inode's
  ``file_size`` is the listing's length + 3 (for ``.`` and ``..``), which the kernel reports as
  ``st_size``;
* data blocks: compressed unless bit 24 of their size word is set; a file's tail shorter than
  a block may live in a *fragment* block shared with other files.

Compressors (superblock id): 1 gzip (zlib streams), 2 lzma (``.lzma``/"alone" streams, as
squashfs-tools writes them), 3 lzo (raw LZO1X, :mod:`ldsim.fs.lzo`), 4 xz, 5 lz4 (raw LZ4
blocks; needs the ``lz4`` package), 6 zstd (needs the ``zstandard`` package).

The primitives report what ``lstat(2)``, ``readlink(2)``, ``read(2)`` and ``getdents(2)``
would on the mounted image. The structural checks the kernel makes at mount, lookup and read
time are made here too (and a few stricter ones); anything wrong with the image raises
:class:`~ldsim.errors.SquashFsError` naming the image (and, for a problem found while
looking up or reading a file, the path inside it), never a low-level exception.

Hostile images. Nothing a header *claims* is allocated or iterated before the bytes behind it
are seen, so work and memory follow what the image really holds:

* every decompression is bounded by the size its block may have (8 KiB of metadata, a data
  block's expected size, a fragment's block size), and each decompressor stops there instead
  of producing the rest: zlib and liblzma with ``max_length``, the LZO decoder and lz4 with an
  output buffer of that size, zstd after checking the frame header (a declared content size
  above the bound, or a window larger than the block size, is refused before anything is
  allocated, as the kernel's ``zstd_wrapper.c`` sizes its window from the block size);
* the LZMA and XZ decoders get a ``memlimit``: squashfs-tools writes dictionaries no larger
  than the block size (the kernel's ``xz_wrapper.c`` preallocates exactly that and refuses
  larger ones; squashfs-tools' own reader caps liblzma at ``MEMLIMIT``), so a stream header
  claiming a 4 GiB dictionary is an error, not a 4 GiB allocation;
* reading a file's first bytes (:meth:`SquashFsView._read_head`, how a walk sniffs ELF
  headers) decompresses only the blocks, or the fragment, those bytes lie in;
* a whole file is decompressed block by block into an anonymous private ``mmap`` of its size:
  a sparse block (size 0 in the block list) is never written, so it costs no memory until
  read, and only pages touched later count. Every caller that wants ``bytes``
  (:meth:`~ldsim.fs.view.View.read`) copies it, though, so a file may not claim more than
  :data:`MAX_EXPANSION` times the image (and at least :data:`EXPANSION_FLOOR` is always
  allowed): a 32 KiB image declaring a 3 GiB file (holes, or a decompression bomb) is a
  :class:`~ldsim.errors.SquashFsError` naming the file. Real ELF files compress about 3:1;
* table counts (inodes, ids, fragments, export entries) are checked against the table's
  bytes before anything is unpacked; metadata reads move strictly forward (a block's
  successor starts after it), so a chain cannot loop and ends at its table's end; a symlink
  target is at most 4 KiB, as the kernel allows;
* a directory listing is read no further than the directory table holds; each run header in
  the table belongs to one directory (two directory inodes sharing or overlapping a listing
  would make a walk quadratic), an entry with a name the kernel never returns from
  ``getdents`` (``/``, NUL, ``.``, ``..``), a duplicate name or a bad inode offset hides only
  itself (:meth:`SquashFsView._listing_problems` says which), and a structurally corrupt
  listing hides that directory only.
"""

from __future__ import annotations

import bisect
import errno
import lzma
import mmap
import os
import stat as stat_mod
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

from ldsim.buffers import Buffer, FileBytes
from ldsim.errors import ChangedError, LdsimError, SquashFsError
from ldsim.fs import lzo
from ldsim.fs.view import FileStat, View, pseudo_reason, pseudo_type
from ldsim.records import record

__all__ = ["SQUASHFS_MAGIC", "SquashFsView", "is_squashfs"]

SQUASHFS_MAGIC = b"hsqs"
_BIG_ENDIAN_MAGIC = b"sqsh"
_SUPER = struct.Struct("<5I6H8Q")  # struct squashfs_super_block, 96 bytes
SUPERBLOCK_SIZE = _SUPER.size

METADATA_SIZE = 8192  # SQUASHFS_METADATA_SIZE
_META_COMPRESSED_BIT = 1 << 15  # SQUASHFS_COMPRESSED_BIT
_BLOCK_COMPRESSED_BIT = 1 << 24  # SQUASHFS_COMPRESSED_BIT_BLOCK
INVALID_FRAG = 0xFFFFFFFF  # SQUASHFS_INVALID_FRAG
INVALID_BLK = 0xFFFFFFFFFFFFFFFF  # SQUASHFS_INVALID_BLK (-1 as u64)
_MIN_BLOCK_LOG, _MAX_BLOCK_LOG = 12, 20  # 4 KiB (PAGE_SIZE) .. 1 MiB (SQUASHFS_FILE_MAX_SIZE)
_DIR_COUNT = 256  # SQUASHFS_DIR_COUNT: entries per directory header
_NAME_LEN = 256  # SQUASHFS_NAME_LEN
_SYMLINK_MAX = 4096  # the kernel refuses longer symlinks (PAGE_SIZE)
_COMPRESSOR_OPTIONS = 0x0400  # SQUASHFS_COMP_OPT flag

# Inode types (SQUASHFS_*_TYPE); the extended ("L") types are the basic ones + 7.
DIR, REG, SYMLINK, BLKDEV, CHRDEV, FIFO, SOCKET = range(1, 8)
_IFMT = {
    DIR: stat_mod.S_IFDIR,
    REG: stat_mod.S_IFREG,
    SYMLINK: stat_mod.S_IFLNK,
    BLKDEV: stat_mod.S_IFBLK,
    CHRDEV: stat_mod.S_IFCHR,
    FIFO: stat_mod.S_IFIFO,
    SOCKET: stat_mod.S_IFSOCK,
}
_INODE_HEADER = struct.Struct("<4H2I")  # type, mode, uid, guid, mtime, inode_number
_DIR_INODE = struct.Struct("<2I2HI")  # start_block, nlink, file_size, offset, parent_inode
_LDIR_INODE = struct.Struct("<4I2HI")  # nlink, file_size, start_block, parent, i_count, offset, xattr
_REG_INODE = struct.Struct("<4I")  # start_block, fragment, offset, file_size
_LREG_INODE = struct.Struct("<3Q4I")  # start_block, file_size, sparse, nlink, fragment, offset, xattr
_SYMLINK_INODE = struct.Struct("<2I")  # nlink, symlink_size
_DIR_HEADER = struct.Struct("<3I")  # count - 1, start_block, inode_number
_DIR_ENTRY = struct.Struct("<HhHH")  # offset, inode_number delta, type, size - 1
_FRAGMENT_ENTRY = struct.Struct("<QII")  # start_block, size, unused

COMPRESSORS = {1: "gzip", 2: "lzma", 3: "lzo", 4: "xz", 5: "lz4", 6: "zstd"}

# Synthetic st_dev values start above every real dev_t (a 64-bit number).
_DEV_BASE = 1 << 64
_FRAGMENT_CACHE = 16
_META_CACHE = 4096  # decompressed metadata blocks kept (at most 32 MiB)
_SMALL_FILE = 64 * 1024  # files up to this size are read into bytes, larger ones mapped
MAX_EXPANSION = 64
"""A file read whole may be at most this many times the image's size..."""
EXPANSION_FLOOR = 64 << 20
"""...or this many bytes, whichever is more."""
_LZMA_MARGIN = 1 << 20  # liblzma's decoder state beside the dictionary (about 30 KiB)


class _Corrupt(Exception):
    """Internal: a structural problem; turned into SquashFsError with context."""


def is_squashfs(path: str) -> bool:
    """True when ``path`` is a readable regular host file that starts with the SquashFS
    magic (a FIFO is not waited for, a file of the kernel's state is not read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode) or pseudo_type(st.st_dev) is not None:
            return False
        return os.pread(fd, 4, 0) == SQUASHFS_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)


# -- decompressors -----------------------------------------------------------------------
Decompressor = Callable[[bytes, int], bytes]


def _check_len(out: bytes, max_out: int) -> bytes:
    if len(out) > max_out:
        raise _Corrupt(f"block decompresses to more than {max_out} bytes")
    return out


def _gzip(data: bytes, max_out: int) -> bytes:
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, max_out + 1)
    except zlib.error as exc:
        raise _Corrupt(f"gzip decompression failed ({exc})") from None
    _check_len(out, max_out)
    if not d.eof:
        raise _Corrupt("gzip decompression failed (truncated stream)")
    return out


def _lzma_with(fmt: int, label: str, memlimit: int) -> Decompressor:
    def run(data: bytes, max_out: int) -> bytes:
        try:
            d = lzma.LZMADecompressor(format=fmt, memlimit=memlimit)
            out = d.decompress(data, max_out + 1)
        except lzma.LZMAError as exc:
            if "memory usage limit" in str(exc).lower():
                raise _Corrupt(f"{label} stream needs more than {memlimit} bytes of memory "
                               "(a dictionary larger than the image's block size)") from None
            raise _Corrupt(f"{label} decompression failed ({exc})") from None
        _check_len(out, max_out)
        if not d.eof:
            raise _Corrupt(f"{label} decompression failed (truncated stream)")
        return out

    return run


def _lzo(data: bytes, max_out: int) -> bytes:
    try:
        return lzo.decompress(data, max_out)
    except lzo.LzoError as exc:
        raise _Corrupt(f"lzo decompression failed ({exc})") from None


def _missing(image: str, package: str, comp: str) -> SquashFsError:
    return SquashFsError(
        image, f"{comp}-compressed SquashFS image needs the Python package '{package}' "
               f"(pip install {package})")


def _lz4(image: str) -> Decompressor:
    try:
        import lz4.block as block
    except ImportError:
        raise _missing(image, "lz4", "lz4") from None

    def run(data: bytes, max_out: int) -> bytes:
        try:
            out = block.decompress(data, uncompressed_size=max_out)
        except Exception as exc:  # lz4.block.LZ4BlockError, or anything else it raises
            raise _Corrupt(f"lz4 decompression failed ({exc})") from None
        return _check_len(bytes(out), max_out)

    return run


def _zstd(image: str, max_window: int) -> Decompressor:
    try:
        import zstandard
    except ImportError:
        raise _missing(image, "zstandard", "zstd") from None
    dctx = zstandard.ZstdDecompressor(max_window_size=max_window)

    def run(data: bytes, max_out: int) -> bytes:
        try:
            # ZstdDecompressor.decompress() sizes its output from the frame header's content
            # size when there is one, whatever max_output_size says: check it first.
            params = zstandard.get_frame_parameters(data)
            if params.content_size > max_out:  # -1 (ZSTD_CONTENTSIZE_UNKNOWN) passes
                raise _Corrupt(f"zstd frame declares {params.content_size} bytes, more than "
                               f"{max_out}")
            if params.window_size > max_window:
                raise _Corrupt(f"zstd frame window of {params.window_size} bytes is larger "
                               f"than the block size")
            out = dctx.decompress(data, max_output_size=max_out)
        except _Corrupt:
            raise
        except Exception as exc:  # zstandard.ZstdError, or anything else it raises
            raise _Corrupt(f"zstd decompression failed ({exc})") from None
        return _check_len(bytes(out), max_out)

    return run


# -- parsed structures -------------------------------------------------------------------
@record(frozen=True, slots=True)
class _Inode:
    itype: int  # the on-disk type: 1..7 basic, 8..14 extended
    kind: int  # the basic type (DIR..SOCKET), for extended inodes too
    mode: int  # st_mode: file type bits | permission bits
    ino: int
    mtime: int
    size: int  # st_size: dir listing + 3, file size, symlink length, 0 otherwise
    # directories: where the listing starts (block offset from the table, offset inside it)
    # regular files: position of the first data block, and where the block list starts
    start: int = 0
    offset: int = 0
    fragment: int = INVALID_FRAG
    frag_offset: int = 0
    list_pos: int = 0  # regular files: metadata block (absolute) holding the block list
    list_off: int = 0
    target: str = ""  # symlinks


@record(frozen=True, slots=True)
class _Table:
    name: str
    lo: int  # metadata blocks of this table lie in [lo, hi)
    hi: int


def _printable(raw: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and b != 0x27 else f"\\x{b:02x}" for b in raw)


class SquashFsView(View):
    """A SquashFS 4.0 image (a host file) presented as ``/``.

    Opening reads the superblock and the id and fragment tables and checks every table's
    bounds; inodes and directory listings are decoded on first use and cached, file data is
    decompressed only by :meth:`_read` (the whole file, into an anonymous map) and
    :meth:`_read_head` (the blocks a prefix needs). :meth:`close` (or ``with``) unmaps the
    image.
    """

    dev: int  # the synthetic st_dev of every file in the image
    inode_count: int
    mkfs_time: int
    block_size: int
    fragment_count: int
    compression: int
    compressor_name: str
    flags: int
    id_count: int
    bytes_used: int
    root_ref: int
    ids: list[int]
    fragments: list[tuple[int, int]]

    def __init__(self, image_path: str) -> None:
        self.name = image_path
        self.image_path = image_path
        self._map: FileBytes | bytes = b""  # the image, read when asked for (never mapped)
        self._inodes: dict[int, _Inode] = {}
        self._dirs: dict[int, dict[str, int] | _Corrupt] = {}
        self._bad_entries: dict[int, list[str]] = {}  # directory ref -> entries left out
        self._listing_owner: dict[int, int] = {}  # run header position -> directory ref
        self._paths: dict[tuple[str, ...], tuple[int, _Inode]] = {}
        self._meta_cache: dict[int, tuple[bytes, int]] = {}
        self._frag_cache: OrderedDict[int, bytes] = OrderedDict()
        try:
            self._open()
        except _Corrupt as exc:
            self.close()
            raise SquashFsError(image_path, str(exc)) from None
        except SquashFsError:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------
    def _fail(self, reason: str) -> SquashFsError:
        return SquashFsError(self.image_path, reason)

    def _open(self) -> None:
        path = self.image_path
        try:
            # O_NONBLOCK: opening a fifo must not wait for a writer.
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise self._fail(f"cannot open the image: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if stat_mod.S_ISDIR(st.st_mode):
                raise self._fail("is a directory, not a SquashFS image")
            if not stat_mod.S_ISREG(st.st_mode):
                raise self._fail("not a regular file, so not a SquashFS image")
            fstype = pseudo_type(st.st_dev)
            if fstype is not None:
                raise self._fail(pseudo_reason(fstype))
            head = os.pread(fd, SUPERBLOCK_SIZE, 0)
            if head[:4] != SQUASHFS_MAGIC:
                if head[:4] == _BIG_ENDIAN_MAGIC:
                    raise self._fail("big-endian SquashFS image (a pre-4.0 format); only "
                                     "little-endian SquashFS 4.0 is supported")
                raise self._fail(f"not a SquashFS image (magic is '{_printable(head[:4])}', "
                                 "expected 'hsqs')")
            if len(head) < SUPERBLOCK_SIZE:
                raise self._fail(f"truncated superblock ({len(head)} of {SUPERBLOCK_SIZE} "
                                 "bytes)")
            self._map = FileBytes(os.dup(fd), st.st_size, path)
        except OSError as exc:
            raise self._fail(f"cannot read the image: {exc.strerror}") from None
        finally:
            os.close(fd)
        # Unique per image file, and above every real dev_t (64 bits).
        self.dev = _DEV_BASE + ((st.st_dev << 64) | st.st_ino)
        self._parse_superblock(head, len(self._map))

    def _parse_superblock(self, head: bytes, file_size: int) -> None:
        (_magic, self.inode_count, self.mkfs_time, self.block_size, self.fragment_count,
         self.compression, block_log, self.flags, self.id_count, major, minor,
         root_inode, self.bytes_used, id_table_start, xattr_id_table_start,
         inode_table_start, directory_table_start, fragment_table_start,
         lookup_table_start) = _SUPER.unpack(head)
        if (major, minor) != (4, 0):
            raise _Corrupt(f"SquashFS version {major}.{minor} is not supported (only 4.0)")
        comp = self.compression
        if comp not in COMPRESSORS:
            raise _Corrupt(f"unknown compressor id {comp}")
        if not (_MIN_BLOCK_LOG <= block_log <= _MAX_BLOCK_LOG) or \
                self.block_size != 1 << block_log:
            raise _Corrupt(f"bad block size {self.block_size} (block_log {block_log})")
        if self.bytes_used < SUPERBLOCK_SIZE:
            raise _Corrupt(f"bad filesystem size {self.bytes_used} in the superblock")
        if self.bytes_used > file_size:
            raise _Corrupt(f"image truncated: the superblock says {self.bytes_used} bytes, "
                           f"the file has {file_size}")
        if self.id_count == 0:
            raise _Corrupt("the id table is empty")
        if root_inode & 0xFFFF >= METADATA_SIZE:
            raise _Corrupt("root inode reference out of range")
        used = self.bytes_used
        for label, pos in (("inode", inode_table_start), ("directory", directory_table_start),
                           ("id", id_table_start)):
            if pos >= used:
                raise _Corrupt(f"{label} table start {pos} is beyond the filesystem's end")
        self.compressor_name = COMPRESSORS[comp]
        self._decompress = self._decompressor(comp)
        self.max_file_size = max(EXPANSION_FLOOR, MAX_EXPANSION * self.bytes_used)

        # The tables' bounds, in the order and with the checks of the kernel's
        # squashfs_fill_super(): each table ends where the next one (in that order) starts.
        next_table = used
        if xattr_id_table_start != INVALID_BLK:
            if xattr_id_table_start + 16 > next_table:
                raise _Corrupt("xattr id table out of range")
            (xattr_table_start,) = struct.unpack("<Q", self._at(xattr_id_table_start, 8))
            if xattr_table_start >= xattr_id_table_start:
                raise _Corrupt("xattr table out of range")
            next_table = xattr_table_start
        raw_ids, next_table = self._read_indexed("id", id_table_start, self.id_count * 4,
                                                 next_table, directory_table_start)
        self.ids = list(struct.unpack_from(f"<{self.id_count}I", raw_ids))
        if lookup_table_start != INVALID_BLK:
            n = -(-self.inode_count * 8 // METADATA_SIZE)
            index = self._index("export", lookup_table_start, n, next_table,
                                directory_table_start)
            if index:
                next_table = index[0]
        self.fragments = []
        if self.fragment_count:
            raw, next_table = self._read_indexed(
                "fragment", fragment_table_start, self.fragment_count * 16, next_table,
                directory_table_start)
            self.fragments = [(s, z) for s, z, _u in
                              _FRAGMENT_ENTRY.iter_unpack(raw[:self.fragment_count * 16])]
        if directory_table_start > next_table:
            raise _Corrupt("directory table out of range")
        if inode_table_start >= directory_table_start:
            raise _Corrupt("inode table out of range")
        self._inode_table = _Table("inode", inode_table_start, directory_table_start)
        self._dir_table = _Table("directory", directory_table_start, next_table)

        if self.flags & _COMPRESSOR_OPTIONS and comp == 5:
            # lz4 options: version (1 = LZ4_LEGACY, the only one) and flags.
            opts, _n = self._meta_block(_Table("options", SUPERBLOCK_SIZE, used),
                                        SUPERBLOCK_SIZE)
            if len(opts) < 8 or struct.unpack_from("<I", opts)[0] != 1:
                raise _Corrupt("unsupported lz4 compressor options (version is not 1)")

        self.root_ref = root_inode
        root = self._inode(root_inode)
        if root.kind != DIR:
            raise _Corrupt("the root inode is not a directory")
        self._paths[()] = (root_inode, root)

    def _decompressor(self, comp: int) -> Decompressor:
        # The largest dictionary or window a stream of this image may use: the block size
        # (metadata blocks use the same compressor settings; 8 KiB at least).
        window = max(self.block_size, METADATA_SIZE)
        memlimit = 2 * window + _LZMA_MARGIN
        if comp == 1:
            return _gzip
        if comp == 2:
            return _lzma_with(lzma.FORMAT_ALONE, "lzma", memlimit)
        if comp == 3:
            return _lzo
        if comp == 4:
            return _lzma_with(lzma.FORMAT_XZ, "xz", memlimit)
        if comp == 5:
            return _lz4(self.image_path)
        return _zstd(self.image_path, window)

    def _index(self, name: str, start: int, count: int, limit: int, lo: int) -> list[int]:
        """The ``count`` 64-bit block positions at ``start`` (kernel: squashfs_read_table)."""
        if start == INVALID_BLK or start + 8 * count > limit:
            raise _Corrupt(f"{name} table out of range")
        index = list(struct.unpack(f"<{count}Q", self._at(start, 8 * count)))
        bounds = [*index, start]
        for a, b in pairwise(bounds):
            if a < lo or a >= b or b - a > METADATA_SIZE + 2:
                raise _Corrupt(f"{name} table index is corrupt")
        return index

    def _read_indexed(self, name: str, start: int, length: int, limit: int,
                      lo: int) -> tuple[bytes, int]:
        """``length`` bytes of an indexed table, and the position of its first block."""
        count = -(-length // METADATA_SIZE)
        index = self._index(name, start, count, limit, lo)
        table = _Table(name, lo, start)
        parts = []
        for i, pos in enumerate(index):
            data, _next = self._meta_block(table, pos)
            if i < count - 1 and len(data) != METADATA_SIZE:
                raise _Corrupt(f"{name} table: short metadata block at {pos}")
            parts.append(data)
        raw = b"".join(parts)
        if len(raw) < length:
            raise _Corrupt(f"{name} table is truncated")
        return raw, index[0]

    # -- metadata ------------------------------------------------------------------------
    def _meta_block(self, table: _Table, pos: int) -> tuple[bytes, int]:
        """The decompressed metadata block at ``pos`` and the position of the next one."""
        hit = self._meta_cache.get(pos)
        if hit is not None:
            if pos < table.lo or hit[1] > table.hi:  # decoded for another table
                raise _Corrupt(f"{table.name} table: metadata block at {pos} out of range")
            return hit
        if pos < table.lo or pos + 2 > table.hi:
            raise _Corrupt(f"{table.name} table: metadata block at {pos} out of range")
        (header,) = struct.unpack("<H", self._at(pos, 2))
        size = header & ~_META_COMPRESSED_BIT or _META_COMPRESSED_BIT
        end = pos + 2 + size
        if end > table.hi:
            raise _Corrupt(f"{table.name} table: metadata block at {pos} out of range")
        raw = self._at(pos + 2, end - pos - 2)
        if header & _META_COMPRESSED_BIT:
            if size > METADATA_SIZE:
                raise _Corrupt(f"{table.name} table: metadata block at {pos} too large")
            data = raw
        else:
            try:
                data = self._decompress(raw, METADATA_SIZE)
            except _Corrupt as exc:
                raise _Corrupt(f"{table.name} table: metadata block at {pos}: {exc}") from None
        if not data:
            raise _Corrupt(f"{table.name} table: empty metadata block at {pos}")
        hit = (data, end)
        if len(self._meta_cache) >= _META_CACHE:
            del self._meta_cache[next(iter(self._meta_cache))]  # the oldest
        self._meta_cache[pos] = hit
        return hit

    def _read_meta(self, table: _Table, pos: int, offset: int, length: int,
                   spans: list[tuple[int, int]] | None = None) -> tuple[bytes, int, int]:
        """``length`` bytes from (block ``pos``, ``offset``) on, crossing blocks as needed.

        Returns the bytes and the position after them, moving to the next block as soon as
        one is used up (kernel: squashfs_read_metadata). The next block always starts after
        the current one, so the chain cannot loop and stops at the table's end: a length
        claimed beyond the table is an error after reading what the table holds. ``spans``,
        when given, gets ``(index in the result, position)`` where each block's piece starts;
        a position is ``block * METADATA_SIZE + offset``, unique in the image.
        """
        chunks = []
        got = 0
        while length > 0:
            data, nxt = self._meta_block(table, pos)
            if offset >= len(data):
                raise _Corrupt(f"{table.name} table: offset {offset} beyond the block at {pos}")
            piece = data[offset:offset + length]
            if spans is not None:
                spans.append((got, pos * METADATA_SIZE + offset))
            got += len(piece)
            chunks.append(piece)
            length -= len(piece)
            offset += len(piece)
            if offset == len(data):
                pos, offset = nxt, 0
        return b"".join(chunks), pos, offset

    # -- inodes and directories ---------------------------------------------------------
    def _inode(self, ref: int) -> _Inode:
        hit = self._inodes.get(ref)
        if hit is None:
            hit = self._inodes[ref] = self._parse_inode(ref)
        return hit

    def _parse_inode(self, ref: int) -> _Inode:
        table = self._inode_table
        block, offset = ref >> 16, ref & 0xFFFF
        if offset >= METADATA_SIZE or table.lo + block >= table.hi:
            raise _Corrupt(f"inode reference {ref:#x} out of range")
        pos = table.lo + block
        raw, pos, offset = self._read_meta(table, pos, offset, _INODE_HEADER.size)
        itype, perm, uid, gid, mtime, ino = _INODE_HEADER.unpack(raw)
        if uid >= self.id_count or gid >= self.id_count:
            raise _Corrupt(f"inode {ino}: uid/gid index out of range")
        if not 1 <= itype <= 14:
            raise _Corrupt(f"inode {ino}: unknown inode type {itype}")
        kind = itype if itype <= 7 else itype - 7
        extended = itype > 7
        mode = _IFMT[kind] | (perm & 0o7777)

        def read(s: struct.Struct) -> tuple[Any, ...]:
            nonlocal pos, offset
            data, pos, offset = self._read_meta(table, pos, offset, s.size)
            return s.unpack(data)

        if kind == DIR:
            if extended:
                _nlink, file_size, start, _parent, _icount, doff, _x = read(_LDIR_INODE)
            else:
                start, _nlink, file_size, doff, _parent = read(_DIR_INODE)
            if doff >= METADATA_SIZE:
                raise _Corrupt(f"inode {ino}: directory listing offset out of range")
            return _Inode(itype, kind, mode, ino, mtime, file_size, start=start, offset=doff)
        if kind == REG:
            if extended:
                start, file_size, _sparse, _nlink, frag, foff, _x = read(_LREG_INODE)
            else:
                start, frag, foff, file_size = read(_REG_INODE)
            if frag != INVALID_FRAG and frag >= self.fragment_count:
                raise _Corrupt(f"inode {ino}: fragment index {frag} out of range")
            return _Inode(itype, kind, mode, ino, mtime, file_size, start=start, fragment=frag,
                          frag_offset=foff, list_pos=pos, list_off=offset)
        if kind == SYMLINK:
            _nlink, length = read(_SYMLINK_INODE)
            if length > _SYMLINK_MAX:
                raise _Corrupt(f"inode {ino}: symlink target of {length} bytes")
            target, pos, offset = self._read_meta(table, pos, offset, length)
            if b"\0" in target:
                raise _Corrupt(f"inode {ino}: NUL byte in a symlink target")
            return _Inode(itype, kind, mode, ino, mtime, length,
                          target=target.decode("utf-8", "surrogateescape"))
        # Devices (nlink, rdev[, xattr]) and fifos/sockets (nlink[, xattr]): nothing we use,
        # but the kernel reads them, so a truncated inode is an error here too.
        size = 8 if kind in (BLKDEV, CHRDEV) else 4
        self._read_meta(table, pos, offset, size + (4 if extended else 0))
        return _Inode(itype, kind, mode, ino, mtime, 0)

    def _entries(self, ref: int, inode: _Inode) -> dict[str, int]:
        hit = self._dirs.get(ref)
        if hit is None:
            try:
                hit = self._parse_dir(ref, inode)
            except _Corrupt as exc:
                hit = exc  # a corrupt listing is corrupt every time: parse it once
            self._dirs[ref] = hit
        if isinstance(hit, _Corrupt):
            raise _Corrupt(str(hit))
        return hit

    def _parse_dir(self, ref: int, inode: _Inode) -> dict[str, int]:
        """The entries of a directory's listing (kernel: squashfs_readdir, squashfs_lookup).

        A structural problem (a truncated run, a run of more than 256 entries, a name longer
        than 256 bytes, a listing that overlaps another directory's) makes the whole listing
        corrupt, as the kernel fails the whole ``getdents``; an entry the kernel would show
        but that cannot be a file name (``/`` or NUL in it, ``.``, ``..``), a second entry of
        one name, or an inode offset out of range is left out and recorded in
        ``_bad_entries``.
        """
        entries: dict[str, int] = {}
        bad: list[str] = []
        length = inode.size - 3
        if length <= 0:
            return entries
        table = self._dir_table
        if table.lo + inode.start >= table.hi:
            raise _Corrupt("directory listing out of range")
        spans: list[tuple[int, int]] = []
        raw, _p, _o = self._read_meta(table, table.lo + inode.start, inode.offset, length,
                                      spans)
        starts = [s for s, _pos in spans]
        at = 0
        while at < length:
            if at + _DIR_HEADER.size > length:
                raise _Corrupt("truncated directory header")
            span = spans[bisect.bisect_right(starts, at) - 1]
            where = span[1] + at - span[0]
            if self._listing_owner.setdefault(where, ref) != ref:
                raise _Corrupt("directory listing overlaps another directory's")
            count, block, _base = _DIR_HEADER.unpack_from(raw, at)
            at += _DIR_HEADER.size
            if count + 1 > _DIR_COUNT:
                raise _Corrupt(f"directory header with {count + 1} entries")
            for _ in range(count + 1):
                if at + _DIR_ENTRY.size > length:
                    raise _Corrupt("truncated directory entry")
                offset, _delta, _type, size = _DIR_ENTRY.unpack_from(raw, at)
                at += _DIR_ENTRY.size
                size += 1
                if size > _NAME_LEN or at + size > length:
                    raise _Corrupt("truncated directory entry name")
                name_b = raw[at:at + size]
                at += size
                name = name_b.decode("utf-8", "surrogateescape")
                if b"/" in name_b:
                    problem = "a name containing '/'"
                elif b"\0" in name_b:
                    problem = "a name containing a NUL byte"
                elif name_b in (b".", b".."):
                    problem = "a directory entry named '.' or '..'"
                elif offset >= METADATA_SIZE:
                    problem = f"inode offset {offset} out of range"
                elif name in entries:
                    problem = "a second entry of that name"
                else:
                    entries[name] = (block << 16) | offset
                    continue
                bad.append(f"entry '{_printable(name_b)}': {problem}; skipped")
        if bad:
            self._bad_entries[ref] = bad
        return entries

    def _lookup(self, parts: tuple[str, ...]) -> tuple[int, _Inode]:
        """The inode reference and inode at ``parts`` (a plain walk: no symlinks)."""
        hit = self._paths.get(parts)
        if hit is not None:
            return hit
        # Start from the deepest directory already walked (usually the parent).
        depth = len(parts) - 1
        while parts[:depth] not in self._paths:
            depth -= 1
        ref, inode = self._paths[parts[:depth]]
        try:
            for i in range(depth, len(parts)):
                if inode.kind != DIR:
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                             _guest(parts[:i]))
                found = self._entries(ref, inode).get(parts[i])
                if found is None:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                            _guest(parts[:i + 1]))
                ref = found
                inode = self._inode(ref)
                self._paths[parts[:i + 1]] = (ref, inode)
        except _Corrupt as exc:
            raise self._fail(f"{_guest(parts)}: {exc}") from None
        return ref, inode

    # -- the View primitives --------------------------------------------------------------
    def _lstat(self, parts: tuple[str, ...]) -> FileStat:
        _ref, inode = self._lookup(parts)
        return FileStat(self.dev, inode.ino, inode.mode, inode.size, inode.mtime * 1_000_000_000)

    def _readlink(self, parts: tuple[str, ...]) -> str:
        _ref, inode = self._lookup(parts)
        if inode.kind != SYMLINK:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), _guest(parts))
        return inode.target

    def _listdir(self, parts: tuple[str, ...]) -> list[str]:
        ref, inode = self._lookup(parts)
        if inode.kind != DIR:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), _guest(parts))
        try:
            return list(self._entries(ref, inode))
        except _Corrupt as exc:
            raise self._fail(f"{_guest(parts)}: {exc}") from None

    def _listing_problems(self, parts: tuple[str, ...]) -> list[LdsimError]:
        try:
            ref, inode = self._lookup(parts)
            if inode.kind == DIR:
                self._entries(ref, inode)
        except (OSError, SquashFsError, _Corrupt):
            return []
        return [self._fail(f"{_guest(parts)}: {m}") for m in self._bad_entries.get(ref, ())]

    def _open_file(self, parts: tuple[str, ...]) -> _Inode | None:
        """The inode of a file ``open(2)`` would read: OSError as the kernel gives it, None
        for devices and fifos (nothing to read statically)."""
        _ref, inode = self._lookup(parts)
        path = _guest(parts)
        if inode.kind == DIR:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if inode.kind == SYMLINK:  # open(O_NOFOLLOW) on a symlink
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        if inode.kind == SOCKET:  # open(2) on a socket
            raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), path)
        return inode if inode.kind == REG else None

    def _read(self, parts: tuple[str, ...]) -> Buffer:
        inode = self._open_file(parts)
        if inode is None:
            return b""
        try:
            return self._file_data(inode)
        except _Corrupt as exc:
            raise self._fail(f"{_guest(parts)}: {exc}") from None

    def _read_head(self, parts: tuple[str, ...], size: int) -> bytes:
        inode = self._open_file(parts)
        if inode is None:
            return b""
        try:
            return self._file_head(inode, size)
        except _Corrupt as exc:
            raise self._fail(f"{_guest(parts)}: {exc}") from None

    # -- file data -----------------------------------------------------------------------
    def _block_count(self, inode: _Inode) -> int:
        """How many full-or-last data blocks the file has (the rest is in a fragment)."""
        log = self.block_size.bit_length() - 1
        if inode.fragment != INVALID_FRAG:
            return inode.size >> log
        return -(-inode.size >> log)

    def _data_blocks(self, inode: _Inode, count: int) -> Iterator[tuple[int, bytes | None]]:
        """The first ``count`` data blocks of a file, in order: each block's expected size
        and its bytes, or None for a sparse block (that many zero bytes, never stored).

        Only ``4 * count`` bytes of the block list are read, and each block is decompressed
        into at most its expected size (kernel: squashfs_readpage, squashfs_read_data).
        """
        size, bs = inode.size, self.block_size
        nblocks = self._block_count(inode)
        count = min(count, nblocks)
        if count <= 0:
            return
        has_frag = inode.fragment != INVALID_FRAG
        raw, _p, _o = self._read_meta(self._inode_table, inode.list_pos, inode.list_off,
                                      4 * count)
        pos = inode.start
        used = self.bytes_used
        for i, word in enumerate(struct.unpack(f"<{count}I", raw)):
            expected = bs if (i < nblocks - 1 or has_frag) else size - i * bs
            if word >> 25:
                raise _Corrupt(f"data block {i}: bad size word {word:#x}")
            disk = word & ~_BLOCK_COMPRESSED_BIT
            if disk == 0:  # a sparse block
                yield expected, None
                continue
            if disk > bs or pos + disk > used:
                raise _Corrupt(f"data block {i} out of range")
            raw_block = self._at(pos, disk)
            pos += disk
            if word & _BLOCK_COMPRESSED_BIT:
                data = raw_block
            else:
                try:
                    data = self._decompress(raw_block, expected)
                except _Corrupt as exc:
                    raise _Corrupt(f"data block {i}: {exc}") from None
            if len(data) != expected:
                raise _Corrupt(f"data block {i} has {len(data)} bytes, expected {expected}")
            yield expected, data

    def _tail(self, inode: _Inode) -> bytes:
        """The part of a file kept in a fragment block (empty without one)."""
        if inode.fragment == INVALID_FRAG:
            return b""
        tail = inode.size - self._block_count(inode) * self.block_size
        frag = self._fragment(inode.fragment)
        if inode.frag_offset + tail > len(frag):
            raise _Corrupt(f"tail end out of range in fragment {inode.fragment}")
        return frag[inode.frag_offset:inode.frag_offset + tail]

    def _file_head(self, inode: _Inode, size: int) -> bytes:
        """The first ``size`` bytes of a file: only the blocks (or the fragment) they lie in
        are read and decompressed, whatever size the inode claims."""
        want = min(max(size, 0), inode.size)
        out: list[bytes] = []
        got = 0
        for expected, data in self._data_blocks(inode, -(-want // self.block_size)):
            take = min(expected, want - got)
            out.append(bytes(take) if data is None else data[:take])
            got += take
        if got < want:
            out.append(self._tail(inode)[:want - got])
        return b"".join(out)

    def _file_data(self, inode: _Inode) -> Buffer:
        """The whole file: bytes for a small file, otherwise an anonymous private map of its
        size that only real blocks are written into (a sparse block stays untouched, costing
        nothing until read). A file claiming more than :attr:`max_file_size` is refused."""
        size = inode.size
        if size > self.max_file_size:
            raise _Corrupt(f"a file of {size} bytes in an image of {self.bytes_used} bytes "
                           f"(more than {MAX_EXPANSION} times its size, holes or a "
                           "decompression bomb): not read")
        nblocks = self._block_count(inode)
        if size <= _SMALL_FILE:
            parts = [bytes(expected) if data is None else data
                     for expected, data in self._data_blocks(inode, nblocks)]
            parts.append(self._tail(inode))
            return b"".join(parts)
        try:
            out = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
        except OSError as exc:
            raise _Corrupt(f"cannot map {size} bytes of memory ({exc.strerror})") from None
        try:
            at = 0
            for expected, data in self._data_blocks(inode, nblocks):
                if data is not None:
                    out[at:at + expected] = data
                at += expected
            tail = self._tail(inode)
            out[at:at + len(tail)] = tail
        except BaseException:
            out.close()
            raise
        return out

    def _fragment(self, index: int) -> bytes:
        hit = self._frag_cache.get(index)
        if hit is not None:
            self._frag_cache.move_to_end(index)
            return hit
        start, word = self.fragments[index]
        if word >> 25:
            raise _Corrupt(f"fragment {index}: bad size word {word:#x}")
        disk = word & ~_BLOCK_COMPRESSED_BIT
        if disk == 0 or disk > self.block_size or start + disk > self.bytes_used:
            raise _Corrupt(f"fragment {index} out of range")
        raw = self._at(start, disk)
        if word & _BLOCK_COMPRESSED_BIT:
            data = raw
        else:
            try:
                data = self._decompress(raw, self.block_size)
            except _Corrupt as exc:
                raise _Corrupt(f"fragment {index}: {exc}") from None
        self._frag_cache[index] = data
        if len(self._frag_cache) > _FRAGMENT_CACHE:
            self._frag_cache.popitem(last=False)
        return data

    # -- lifetime ------------------------------------------------------------------------
    def _at(self, pos: int, size: int) -> bytes:
        """``size`` bytes of the image at ``pos`` (fewer past its end); an image that
        shrank since it was opened is corrupt now."""
        try:
            return self._map[pos:pos + size]
        except ChangedError as exc:  # "the file changed while ldsim read it (...)"
            raise _Corrupt("the image" + exc.reason.removeprefix("the file")) from None

    def close(self) -> None:
        if isinstance(self._map, FileBytes):
            self._map.close()
        self._map = b""

    def __enter__(self) -> SquashFsView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SquashFsView({self.image_path!r})"


def _guest(parts: tuple[str, ...]) -> str:
    return "/" + "/".join(parts)
