"""SquashFsView on real images made by ``mksquashfs``: every path reads as the source tree has it.

Each image is built from a directory tree in tmp_path (nested and big directories, files of
every size class, sparse and incompressible files, symlinks of every kind, hard links, special
files, odd modes and names) and compared path by path with ``os.lstat``/``os.readlink``/the
file's bytes. Directory sizes (which the host's file system reports differently) are compared
with ``unsquashfs -lln``. Corrupt images must raise only :class:`SquashFsError` (or the View
API's own errors for missing paths).
"""

from __future__ import annotations

import errno
import importlib.util
import os
import random
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldsim.errors import FsError, SquashFsError
from ldsim.fs import lzo
from ldsim.fs.squashfs import SquashFsView, is_squashfs

MKSQUASHFS = shutil.which("mksquashfs")
UNSQUASHFS = shutil.which("unsquashfs")
needs_mksquashfs = pytest.mark.skipif(MKSQUASHFS is None,
                                      reason="mksquashfs (squashfs-tools) is not installed")
IS_ROOT = os.geteuid() == 0
BASE_FLAGS = ["-noappend", "-all-root", "-no-xattrs", "-no-progress"]
SNAP_FLAGS = ["-noappend", "-comp", "xz", "-no-fragments", "-no-progress", "-all-root",
              "-no-xattrs"]  # exactly what snap pack runs
BLOCK = 128 * 1024
Parts = tuple[str, ...]


# -- source trees --------------------------------------------------------------------------
def build_tree(root: Path, *, small: bool = False) -> None:
    """A tree with every kind of entry ldsim can meet in a snap."""
    rng = random.Random(20240601)
    root.mkdir()
    lib = root / "usr/lib"
    lib.mkdir(parents=True)
    (lib / "libfoo.so.1").write_bytes(b"\x7fELF fake library\n" * 50)
    os.symlink("libfoo.so.1", lib / "libfoo.so")  # relative
    os.symlink("/usr/lib", root / "abs")  # absolute, to a directory
    os.symlink("/files/small", root / "abs-file")  # absolute, to a file
    os.symlink("nowhere", root / "dangling")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink("self", root / "self")
    nested = root / "a/b/c/d/e"
    nested.mkdir(parents=True)
    (nested / "deep.txt").write_text("deep\n")
    os.symlink("../../files/small", root / "a/b/up")
    os.symlink("x" * 200 + "/" + "y" * 200, root / "a/long-target")
    (root / "emptydir").mkdir()

    files = root / "files"
    files.mkdir()
    (files / "empty").write_bytes(b"")
    (files / "small").write_bytes(b"hello, squashfs\n")
    (files / "small-copy").write_bytes(b"hello, squashfs\n")  # a duplicate, not a hard link
    os.link(files / "small", files / "small-hardlink")
    os.link(files / "small", root / "a/small-hardlink-2")
    text = b"".join(b"line %d of a text file with some words\n" % i for i in range(4000))
    (files / "one-block").write_bytes(text[:BLOCK])
    (files / "exec").write_bytes(b"#!/bin/sh\necho hi\n")
    (files / "exec").chmod(0o755)
    (files / "small").chmod(0o644)
    (files / "setuid").write_bytes(b"suid")
    (files / "setuid").chmod(0o4755)
    sticky = root / "tmp"
    sticky.mkdir()
    sticky.chmod(0o1777)
    if IS_ROOT:  # only root can archive unreadable entries
        (files / "noperm").write_bytes(b"secret")
        (files / "noperm").chmod(0o000)
        locked = root / "locked"
        locked.mkdir()
        (locked / "inside").write_bytes(b"in a mode-000 directory")
        locked.chmod(0o000)
    os.mkfifo(root / "fifo")
    os.mknod(root / "sock", stat.S_IFSOCK | 0o600)
    try:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(root / "loop0", stat.S_IFBLK | 0o660, os.makedev(7, 0))
    except PermissionError:
        pass
    (root / "ünïcødé name").write_bytes(b"utf-8")
    (root / os.fsdecode(b"latin1-\xe9\xff")).write_bytes(b"not utf-8")
    if small:
        return

    (files / "blocks").write_bytes((text * 3)[:3 * BLOCK + 1234])
    (files / "two-blocks").write_bytes((text * 2)[:2 * BLOCK])
    (files / "random").write_bytes(rng.randbytes(300_000))  # incompressible: stored blocks
    runs = b"a" * 70_000 + b"ab" * 30_000 + b"abc" * 20_000 + bytes(range(256)) * 300
    (files / "runs").write_bytes(runs)
    with open(sys.executable, "rb") as fh:  # real machine code and tables
        (files / "elf").write_bytes(fh.read(400_000))
    with open(files / "sparse", "wb") as fh:  # a hole, data, a hole, data
        fh.truncate(6 * BLOCK + 77)
        fh.seek(3 * BLOCK + 5)
        fh.write(b"data in the middle")
        fh.seek(6 * BLOCK + 10)
        fh.write(b"tail")
    with open(files / "sparse-end", "wb") as fh:  # data, then holes to the end
        fh.write(b"head")
        fh.truncate(4 * BLOCK)
    big = root / "big"
    big.mkdir()
    for i in range(400):  # > 8 KiB of listing: an extended directory with an index
        (big / f"entry-{i:04d}-with-a-reasonably-long-name").write_bytes(b"%d\n" % i)


def host_tree(src: Path) -> dict[Parts, os.stat_result]:
    out: dict[Parts, os.stat_result] = {(): os.lstat(src)}
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        parts: Parts = () if rel == "." else tuple(rel.split(os.sep))
        for name in dirnames + filenames:
            out[(*parts, name)] = os.lstat(os.path.join(dirpath, name))
    return out


def unsquashfs_sizes(image: Path) -> dict[Parts, int]:
    """Directory sizes as ``unsquashfs -lln`` prints them (the inode's file_size)."""
    assert UNSQUASHFS is not None
    raw = subprocess.run([UNSQUASHFS, "-lln", "-d", "R", str(image)], check=True,
                         capture_output=True).stdout
    sizes: dict[Parts, int] = {}
    for line in raw.split(b"\n"):
        if not line.startswith(b"d"):
            continue
        fields = line.split(None, 5)
        path = os.fsdecode(fields[5])
        parts = tuple(path.split("/")[1:])
        sizes[parts] = int(fields[2])
    return sizes


def assert_matches(view: SquashFsView, src: Path) -> None:
    tree = host_tree(src)
    squash_ino: dict[tuple[int, int], int] = {}
    for parts, hs in tree.items():
        host = os.path.join(src, *parts)
        ss = view._lstat(parts)
        where = "/" + "/".join(parts)
        assert ss.mode == hs.st_mode, where
        assert ss.mtime_ns == hs.st_mtime_ns // 10**9 * 10**9, where
        assert ss.dev == view.dev
        key = (hs.st_dev, hs.st_ino)
        assert squash_ino.setdefault(key, ss.ino) == ss.ino, where  # hard links share
        if stat.S_ISDIR(hs.st_mode):
            assert sorted(view._listdir(parts)) == sorted(os.listdir(host)), where
            assert view.listdir(where) == sorted(os.listdir(host)), where
            with pytest.raises(IsADirectoryError) as info:
                view._read(parts)
            assert info.value.errno == errno.EISDIR
            continue
        with pytest.raises(NotADirectoryError):
            view._listdir(parts)
        if stat.S_ISREG(hs.st_mode):
            assert ss.size == hs.st_size, where
            with open(host, "rb") as fh:  # a large file is a map, as HostDirView gives it
                assert bytes(view._read(parts)) == fh.read(), where
        elif stat.S_ISLNK(hs.st_mode):
            target = os.readlink(host)
            assert view._readlink(parts) == target, where
            assert ss.size == len(os.fsencode(target)), where
        else:
            assert ss.size == 0, where
        if not stat.S_ISLNK(hs.st_mode):
            with pytest.raises(OSError) as err:
                view._readlink(parts)
            assert err.value.errno == errno.EINVAL
    # Distinct host inodes are distinct SquashFS inodes.
    assert len(set(squash_ino.values())) == len(squash_ino)
    with pytest.raises(FileNotFoundError):
        view._lstat(("no-such-entry",))
    with pytest.raises(FileNotFoundError):
        view._lstat(("files", "no-such-entry"))
    with pytest.raises(NotADirectoryError):
        view._lstat(("files", "small", "x"))


# -- images --------------------------------------------------------------------------------
VARIANTS: dict[str, list[str]] = {
    "gzip": ["-comp", "gzip"],
    "gzip-no-fragments": ["-comp", "gzip", "-no-fragments"],
    "gzip-b4096": ["-comp", "gzip", "-b", "4096"],
    "gzip-uncompressed": ["-comp", "gzip", "-noI", "-noD", "-noF", "-noX"],
    "xz": ["-comp", "xz"],
    "xz-b1M-always-fragments": ["-comp", "xz", "-b", "1M", "-always-use-fragments"],
    "lzo": ["-comp", "lzo"],
    "lzo-no-fragments": ["-comp", "lzo", "-no-fragments"],
    "lzo-b4096": ["-comp", "lzo", "-b", "4096"],
    "lz4": ["-comp", "lz4"],
    "zstd": ["-comp", "zstd"],
    "lzma": ["-comp", "lzma"],
    # Compressor options (a metadata block after the superblock) change nothing for reading.
    "xz-bcj-options": ["-comp", "xz", "-Xbcj", "x86,arm", "-Xdict-size", "25%"],
    "gzip-options": ["-comp", "gzip", "-Xwindow-size", "9", "-Xcompression-level", "1"],
    "lz4-hc": ["-comp", "lz4", "-Xhc"],
    "zstd-level-19": ["-comp", "zstd", "-Xcompression-level", "19"],
}
PACKAGE_OF = {"lz4": "lz4", "zstd": "zstandard"}


def mksquashfs(src: Path, image: Path, flags: list[str]) -> Path:
    if MKSQUASHFS is None:
        pytest.skip("mksquashfs (squashfs-tools) is not installed")
    cmd = [MKSQUASHFS, str(src), str(image), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        if "compressor" in (proc.stdout + proc.stderr).lower() and "-comp" in flags:
            pytest.skip(f"this mksquashfs lacks a compressor: {proc.stderr.strip()}")
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
    return image


class Images:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.src = base / "src"
        build_tree(self.src)
        self.small_src = base / "small-src"
        build_tree(self.small_src, small=True)
        self.cache: dict[tuple[str, str], Path] = {}

    def get(self, name: str, flags: list[str], *, small: bool = False) -> Path:
        key = (name, "small" if small else "full")
        if key not in self.cache:
            src = self.small_src if small else self.src
            self.cache[key] = mksquashfs(src, self.base / f"{name}-{key[1]}.sqfs", flags)
        return self.cache[key]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    return Images(tmp_path_factory.mktemp("squashfs"))


def compressor_of(flags: list[str]) -> str:
    return flags[flags.index("-comp") + 1] if "-comp" in flags else "gzip"


def open_or_missing_package(image: Path, flags: list[str]) -> SquashFsView | None:
    """Open ``image``; if its compressor's Python package is missing, check the error."""
    package = PACKAGE_OF.get(compressor_of(flags))
    if package is not None and importlib.util.find_spec(package) is None:
        with pytest.raises(SquashFsError, match=package):
            SquashFsView(str(image))
        return None
    return SquashFsView(str(image))


# -- every path of every image -------------------------------------------------------------
@needs_mksquashfs
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_image_matches_source(images: Images, variant: str) -> None:
    flags = BASE_FLAGS + VARIANTS[variant]
    image = images.get(variant, flags)
    view = open_or_missing_package(image, flags)
    if view is None:
        return
    with view:
        assert view.name == str(image)
        assert view.compressor_name == compressor_of(flags)
        assert_matches(view, images.src)


@needs_mksquashfs
def test_snap_pack_flags_and_resolution(images: Images) -> None:
    image = images.get("snap", SNAP_FLAGS)
    with SquashFsView(str(image)) as view:
        assert view.compressor_name == "xz"
        assert view.fragment_count == 0
        assert_matches(view, images.src)
        # View.resolve semantics on top: absolute links resolve inside the image.
        assert view.resolve("/abs/libfoo.so") == "/usr/lib/libfoo.so.1"
        assert view.read("/abs/libfoo.so") == (images.src / "usr/lib/libfoo.so.1").read_bytes()
        assert view.resolve("/abs-file") == "/files/small"
        assert view.read("/abs-file") == b"hello, squashfs\n"
        assert view.resolve("/a/b/up") == "/files/small"
        assert view.resolve("/a/b/up", follow=False) == "/a/b/up"
        assert view.resolve("/../../abs/../lib/./") == "/usr/lib"  # physical ..
        assert view.listdir("/abs") == sorted(os.listdir(images.src / "usr/lib"))
        assert view.stat("/abs-file").ino == view.stat("/files/small-hardlink").ino
        assert view.stat("/abs-file").ino != view.stat("/files/small-copy").ino
        assert view.exists("/abs/libfoo.so") and not view.exists("/dangling")
        for path, name in [("/loop1", "ELOOP"), ("/self", "ELOOP"), ("/dangling", "ENOENT"),
                           ("/nope", "ENOENT"), ("/files/small/x", "ENOTDIR"),
                           ("/abs-file/x", "ENOTDIR")]:
            with pytest.raises(FsError) as info:
                view.resolve(path)
            assert info.value.errno_name == name, path
        with pytest.raises(FsError) as info:
            view.read("/files")
        assert info.value.errno_name == "EISDIR"
        with pytest.raises(FsError) as info:
            view.listdir("/abs-file")
        assert info.value.errno_name == "ENOTDIR"


@needs_mksquashfs
def test_directory_sizes_match_unsquashfs(images: Images) -> None:
    if UNSQUASHFS is None:
        pytest.skip("unsquashfs is not installed")
    for variant in ("gzip", "lzo-b4096"):
        image = images.get(variant, BASE_FLAGS + VARIANTS[variant])
        sizes = unsquashfs_sizes(image)
        assert len(sizes) >= 10
        with SquashFsView(str(image)) as view:
            for parts, size in sizes.items():
                assert view._lstat(parts).size == size, parts


@needs_mksquashfs
def test_inode_kinds_and_identity(images: Images, tmp_path: Path) -> None:
    image = images.get("gzip", BASE_FLAGS + VARIANTS["gzip"])
    other = images.get("xz", BASE_FLAGS + VARIANTS["xz"])
    with SquashFsView(str(image)) as view, SquashFsView(str(other)) as view2:
        def itype(path: str) -> int:
            return view._lookup(view.resolve_parts(path, follow=False))[1].itype

        assert itype("/big") == 8  # extended directory (with an index)
        assert itype("/files") == 1
        assert itype("/files/small-hardlink") == 9  # nlink > 1: extended file
        assert itype("/files/sparse") == 9  # sparse: extended file
        assert itype("/files/one-block") == 2
        assert itype("/abs") == 3
        assert itype("/fifo") == 6 and itype("/sock") == 7
        # Devices: one per image, above every real device number.
        assert view.dev >= 1 << 64 and view2.dev >= 1 << 64
        assert view.dev != view2.dev
        assert view.dev != os.stat(image).st_dev
        # Hard links share the inode number; the inode numbers are SquashFS's own.
        a = view.stat("/files/small")
        assert a.ino == view.stat("/a/small-hardlink-2").ino
        assert 1 <= a.ino <= view.inode_count
        assert 1 <= view.stat("/").ino <= view.inode_count


@needs_mksquashfs
def test_extended_inodes_via_xattrs(tmp_path: Path) -> None:
    """Symlinks, devices, fifos and sockets only get extended inodes when they have xattrs."""
    src = tmp_path / "src"
    build_tree(src, small=True)
    try:
        for name in ("abs", "fifo", "sock", "files/small", "files", "a"):
            os.setxattr(src / name, "trusted.ldsim", b"1", follow_symlinks=False)
        if (src / "null").exists():
            os.setxattr(src / "null", "trusted.ldsim", b"1", follow_symlinks=False)
            os.setxattr(src / "loop0", "trusted.ldsim", b"1", follow_symlinks=False)
    except OSError as exc:
        pytest.skip(f"cannot set trusted xattrs here: {exc}")
    image = mksquashfs(src, tmp_path / "x.sqfs", ["-noappend", "-all-root", "-comp", "xz"])
    with SquashFsView(str(image)) as view:
        assert_matches(view, src)
        kinds = {p: view._lookup(view.resolve_parts(p, follow=False))[1].itype
                 for p in ("/abs", "/fifo", "/sock", "/files/small", "/files")}
        assert kinds == {"/abs": 10, "/fifo": 13, "/sock": 14, "/files/small": 9,
                         "/files": 8}
        if (src / "null").exists():
            assert view._lookup(("null",))[1].itype == 12
            assert view._lookup(("loop0",))[1].itype == 11


@needs_mksquashfs
@pytest.mark.parametrize("algorithm", ["lzo1x_1", "lzo1x_1_11", "lzo1x_1_12", "lzo1x_1_15",
                                       "lzo1x_999"])
def test_lzo_algorithms(tmp_path: Path, algorithm: str) -> None:
    """Every LZO1X compressor mksquashfs offers writes streams the decoder reads."""
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(algorithm)
    words = [bytes(rng.choices(b"abcdefghij", k=rng.randrange(1, 9))) for _ in range(300)]
    (src / "text").write_bytes(b" ".join(rng.choices(words, k=60_000)))
    with open(sys.executable, "rb") as fh:
        (src / "elf").write_bytes(fh.read(300_000))
    (src / "runs").write_bytes(b"\0" * 50_000 + b"xy" * 40_000 + rng.randbytes(3000) * 5)
    image = mksquashfs(src, tmp_path / "x.sqfs",
                       [*BASE_FLAGS, "-comp", "lzo", "-Xalgorithm", algorithm])
    with SquashFsView(str(image)) as view:
        assert view.compressor_name == "lzo"
        for name in ("text", "elf", "runs"):
            assert view.read("/" + name) == (src / name).read_bytes(), name


# -- errors ----------------------------------------------------------------------------------
def superblock(image: Path) -> bytearray:
    return bytearray(image.read_bytes())


def patched(tmp_path: Path, data: bytes | bytearray, name: str = "bad.sqfs") -> str:
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def expect_error(path: str, fragment: str) -> SquashFsError:
    with pytest.raises(SquashFsError) as info:
        SquashFsView(path)
    assert fragment in info.value.reason, info.value.reason
    assert str(info.value).startswith(path + ": ")
    return info.value


def test_not_a_squashfs_image(tmp_path: Path) -> None:
    elf = patched(tmp_path, b"\x7fELF" + bytes(200), "elf")
    expect_error(elf, "not a SquashFS image (magic is '\\x7fELF', expected 'hsqs')")
    expect_error(patched(tmp_path, b"", "empty"), "magic is ''")
    expect_error(patched(tmp_path, b"sqsh" + bytes(92), "be"), "big-endian")
    expect_error(patched(tmp_path, b"hsqs" + bytes(40), "short"), "truncated superblock")
    expect_error(str(tmp_path / "missing"), "cannot open")
    expect_error(str(tmp_path), "is a directory")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    expect_error(str(fifo), "not a regular file")
    assert not is_squashfs(elf)
    assert not is_squashfs(str(tmp_path / "missing"))
    assert not is_squashfs(str(tmp_path))


@needs_mksquashfs
def test_bad_superblocks(images: Images, tmp_path: Path) -> None:
    image = images.get("gzip", BASE_FLAGS + VARIANTS["gzip"], small=True)
    assert is_squashfs(str(image))
    good = superblock(image)

    def with_field(fmt: str, offset: int, value: int) -> str:
        data = bytearray(good)
        struct.pack_into(fmt, data, offset, value)
        return patched(tmp_path, data)

    expect_error(with_field("<H", 28, 3), "version 3.0 is not supported")
    expect_error(with_field("<H", 30, 1), "version 4.1 is not supported")
    expect_error(with_field("<H", 20, 9), "unknown compressor id 9")
    expect_error(with_field("<H", 22, 16), "bad block size")
    expect_error(with_field("<I", 12, 3000), "bad block size")
    expect_error(with_field("<Q", 40, len(good) + 4096), "image truncated")
    expect_error(with_field("<H", 26, 0), "id table")
    expect_error(with_field("<Q", 48, 1 << 40), "beyond the filesystem's end")
    expect_error(patched(tmp_path, good[:len(good) // 2]), "image truncated")


@needs_mksquashfs
def test_missing_compressor_package(images: Images, monkeypatch: pytest.MonkeyPatch) -> None:
    for variant, module in (("lz4", "lz4.block"), ("zstd", "zstandard")):
        image = images.get(variant, BASE_FLAGS + VARIANTS[variant], small=True)
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
        error = expect_error(str(image), f"needs the Python package '{PACKAGE_OF[variant]}'")
        assert variant in error.reason


@needs_mksquashfs
def test_corrupt_file_names_the_path(images: Images, tmp_path: Path) -> None:
    image = images.get("gzip", BASE_FLAGS + VARIANTS["gzip"])
    with SquashFsView(str(image)) as view:
        inode = view._lookup(("files", "one-block"))[1]
        start = inode.start
    data = superblock(image)
    for i in range(start + 20, start + 40):
        data[i] ^= 0x5A
    with SquashFsView(patched(tmp_path, data)) as bad:
        assert bad.read("/files/small") == b"hello, squashfs\n"
        with pytest.raises(SquashFsError) as info:
            bad.read("/files/one-block")
        assert info.value.path == str(tmp_path / "bad.sqfs")
        assert info.value.reason.startswith("/files/one-block: data block 0")


ALLOWED = (SquashFsError, FsError, OSError)


def exercise(path: str) -> bool:
    """Open ``path`` and touch everything in it; False when opening failed (cleanly)."""
    try:
        view = SquashFsView(path)
    except SquashFsError:
        return False
    with view:
        stack: list[Parts] = [()]
        visited = 0
        while stack and visited < 500:
            parts = stack.pop()
            visited += 1
            guest = "/" + "/".join(parts)
            try:
                st_ = view._lstat(parts)
                if st_.is_dir:
                    if len(parts) < 8:
                        stack.extend((*parts, n) for n in view._listdir(parts))
                elif st_.is_link:
                    view._readlink(parts)
                    view.resolve(guest)
                else:
                    view.read_parts(parts)
            except ALLOWED:
                pass
    return True


def corruption_images(images: Images) -> Iterator[tuple[str, bytes, int]]:
    for variant in ("gzip-uncompressed", "gzip", "lzo", "xz", "zstd", "lz4"):
        flags = BASE_FLAGS + VARIANTS[variant]
        package = PACKAGE_OF.get(compressor_of(flags))
        if package is not None and importlib.util.find_spec(package) is None:
            continue
        data = images.get(variant, flags, small=True).read_bytes()
        (inode_table,) = struct.unpack_from("<Q", data, 64)
        yield variant, data, inode_table


@needs_mksquashfs
def test_truncated_tables(images: Images, tmp_path: Path) -> None:
    """Cut the image anywhere, and make the superblock agree: only SquashFsError."""
    for _variant, data, inode_table in corruption_images(images):
        (used,) = struct.unpack_from("<Q", data, 40)
        assert exercise(patched(tmp_path, data[:used]))
        cuts = set(range(inode_table, used, max(1, (used - inode_table) // 60)))
        cuts |= set(range(96, inode_table, max(1, inode_table // 20)))
        for cut in sorted(cuts):
            short = bytearray(data[:cut])
            struct.pack_into("<Q", short, 40, cut)
            exercise(patched(tmp_path, short))
            # The same cut with the superblock unchanged: refused at open.
            assert not exercise(patched(tmp_path, data[:cut]))


@needs_mksquashfs
def test_flipped_bytes_in_superblock_and_tables(images: Images, tmp_path: Path) -> None:
    for variant, data, inode_table in corruption_images(images):
        (used,) = struct.unpack_from("<Q", data, 40)
        step = 1 if variant == "gzip-uncompressed" else 3
        offsets = [*range(0, 96), *range(inode_table, used, step)]
        for offset in offsets:
            for mask in (0xFF, 0x01) if variant == "gzip-uncompressed" else (0xFF,):
                bad = bytearray(data)
                bad[offset] ^= mask
                exercise(patched(tmp_path, bad))


@needs_mksquashfs
def test_random_corruption(images: Images, tmp_path_factory: pytest.TempPathFactory) -> None:
    variant = "gzip-uncompressed"
    data = images.get(variant, BASE_FLAGS + VARIANTS[variant], small=True).read_bytes()
    (inode_table,) = struct.unpack_from("<Q", data, 64)
    (used,) = struct.unpack_from("<Q", data, 40)
    work = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.integers(inode_table, used - 1), st.integers(0, 255)),
                    min_size=1, max_size=6))
    def run(changes: list[tuple[int, int]]) -> None:
        bad = bytearray(data)
        for offset, value in changes:
            bad[offset] = value
        exercise(patched(work, bad))

    run()


# -- the LZO decoder on its own ------------------------------------------------------------
EOF_MARKER = b"\x11\x00\x00"


def test_lzo_hand_made_streams() -> None:
    assert lzo.decompress(bytes([17 + 3]) + b"abc" + EOF_MARKER, 100) == b"abc"
    # Literal "abcd", then an M2 match of 4 bytes at distance 4.
    assert lzo.decompress(bytes([17 + 4]) + b"abcd" + b"\x6c\x00" + EOF_MARKER,
                          100) == b"abcdabcd"
    # An overlapping M2 match: 8 bytes at distance 1.
    assert lzo.decompress(bytes([17 + 4]) + b"abcd" + b"\xe0\x00" + EOF_MARKER,
                          100) == b"abcd" + b"d" * 8
    # Two trailing literals after a match (low bits of the distance byte).
    assert lzo.decompress(bytes([17 + 4]) + b"abcd" + b"\x6e\x00xy" + EOF_MARKER,
                          100) == b"abcdabcdxy"
    # A literal run with an extended length (0, then 255: 255 + 15 + 3 = 273 bytes).
    body = bytes(range(256)) + b"x" * 17
    assert lzo.decompress(b"\x00\xff" + body + EOF_MARKER, 1000) == body


@pytest.mark.parametrize(("stream", "reason"), [
    (b"", "input overrun"),
    (bytes([17 + 3]) + b"abc", "input overrun"),  # no end marker
    (bytes([17 + 3]) + b"abc" + EOF_MARKER + b"!", "input not consumed"),
    (bytes([17 + 4]) + b"abcd" + b"\x6c\x01" + EOF_MARKER, "lookbehind overrun"),
    (bytes([17 + 4]) + b"abcd" + b"\xe0\x00" + EOF_MARKER, "output overrun"),
    (bytes([17 + 3]) + b"abc" + b"\x12\x00\x00", "bad end-of-stream marker"),
])
def test_lzo_rejects_bad_streams(stream: bytes, reason: str) -> None:
    with pytest.raises(lzo.LzoError, match=reason):
        lzo.decompress(stream, 10)


def lzo_blocks(images: Images) -> list[bytes]:
    """Compressed metadata blocks of a real lzo image, as seeds for mutation."""
    data = images.get("lzo", BASE_FLAGS + VARIANTS["lzo"]).read_bytes()
    (pos,) = struct.unpack_from("<Q", data, 64)
    blocks = []
    for _ in range(4):
        (header,) = struct.unpack_from("<H", data, pos)
        size = header & 0x7FFF
        if not header & 0x8000:
            blocks.append(data[pos + 2:pos + 2 + size])
        pos += 2 + size
    return blocks


@needs_mksquashfs
def test_lzo_mutated_real_streams(images: Images) -> None:
    seeds = lzo_blocks(images)
    assert seeds
    for block in seeds:
        assert len(lzo.decompress(block, 8192)) <= 8192

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(seeds), st.lists(st.tuples(st.integers(0, 1 << 16),
                                                      st.integers(0, 255)), max_size=4),
           st.integers(0, 1 << 16))
    def run(block: bytes, changes: list[tuple[int, int]], cut: int) -> None:
        data = bytearray(block)
        for offset, value in changes:
            data[offset % len(data)] = value
        try:
            out = lzo.decompress(bytes(data[:cut]), 8192)
        except lzo.LzoError:
            return
        assert len(out) <= 8192

    run()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200), st.integers(0, 4096))
def test_lzo_random_input_is_rejected_or_bounded(data: bytes, max_out: int) -> None:
    try:
        out = lzo.decompress(data, max_out)
    except lzo.LzoError:
        return
    assert len(out) <= max_out

