"""The in-memory root answers like a directory on Linux, through the one symlink walk."""

from __future__ import annotations

import pytest

from ldsim.errors import FsError
from ldsim.fs.memory import MemoryView


@pytest.fixture
def view() -> MemoryView:
    v = MemoryView()
    v.add_file("/usr/lib/libx.so.1", b"data", 0o640, uid=7, gid=8)
    v.add_symlink("/lib", "usr/lib")
    v.add_symlink("/abs", "/usr/lib/libx.so.1")
    v.add_symlink("/up", "../../../usr")
    v.add_symlink("/loop", "loop")
    v.add_hardlink("/usr/lib/libx-again.so.1", "/usr/lib/libx.so.1")
    return v


def test_symlinks_resolve_inside_the_root(view: MemoryView) -> None:
    assert view.resolve("/lib/libx.so.1") == "/usr/lib/libx.so.1"
    assert view.resolve("/abs") == "/usr/lib/libx.so.1"
    assert view.resolve("/up/lib") == "/usr/lib"  # ".." at the root stays at the root
    assert view.read("/lib/libx.so.1") == b"data"


@pytest.mark.parametrize(("path", "errno_name"), [
    ("/nope", "ENOENT"), ("/usr/lib/libx.so.1/x", "ENOTDIR"), ("/loop", "ELOOP"),
    ("/usr/lib/", "ENOENT")])
def test_errors_are_the_kernels(view: MemoryView, path: str, errno_name: str) -> None:
    if path == "/usr/lib/":
        assert view.resolve(path) == "/usr/lib"  # a directory with a trailing slash is fine
        with pytest.raises(FsError) as exc:
            view.read(path)
        assert exc.value.errno_name == "EISDIR"
        return
    with pytest.raises(FsError) as exc:
        view.read(path)
    assert exc.value.errno_name == errno_name


def test_stat_identity_modes_and_hard_links(view: MemoryView) -> None:
    a, b = view.stat("/usr/lib/libx.so.1"), view.stat("/usr/lib/libx-again.so.1")
    assert (a.dev, a.ino) == (b.dev, b.ino)
    assert (a.mode & 0o777, a.uid, a.gid, a.size, a.is_reg) == (0o640, 7, 8, 4, True)
    view.add_file("/usr/lib/libx.so.1", b"new")  # a new file: a new identity
    c = view.stat("/usr/lib/libx.so.1")
    assert c.ino != a.ino and c.mtime_ns != a.mtime_ns


def test_listing_is_sorted_and_walk_does_not_follow_links(view: MemoryView) -> None:
    assert view.listdir("/") == ["abs", "lib", "loop", "up", "usr"]
    walked = [p for p, _st in view.walk()]
    assert "/usr/lib/libx.so.1" in walked and "/lib" in walked
    assert not any(p.startswith("/lib/") for p in walked)


def test_a_fifo_is_never_read(view: MemoryView) -> None:
    view.add_fifo("/pipe")
    with pytest.raises(FsError) as exc:
        view.read("/pipe")
    assert exc.value.errno_name == "ENXIO"
