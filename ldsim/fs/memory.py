"""An in-memory root: files, directories and symlinks held in a dict, presented as ``/``.

For unit tests of the loader models (no compiler, no root, no chroot) and for programs that
build a tree to analyse without writing it to disk. It answers like a directory on a Linux
filesystem: ``lstat`` with a device and inode per file (hard links share one), modes and
owners; ENOENT, ENOTDIR, EISDIR where the kernel gives them; symlinks are resolved by the
shared walk of :class:`~ldsim.fs.view.View`, with chroot semantics.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod

from ldsim.buffers import Buffer
from ldsim.fs.view import FileStat, View
from ldsim.records import field, record

_DEV = 0x4D454D  # "MEM"


@record(slots=True)
class _Node:
    mode: int
    ino: int
    data: bytes = b""
    target: str = ""  # a symlink's
    children: dict[str, _Node] = field(default_factory=dict)
    uid: int = 0
    gid: int = 0
    mtime_ns: int = 0


def _parts(path: str) -> tuple[str, ...]:
    if not path.startswith("/"):
        raise ValueError(f"an in-memory root takes absolute paths, not {path!r}")
    return tuple(p for p in path.split("/") if p and p != ".")


class MemoryView(View):
    """A tree built in memory. Paths given to the builders are absolute guest paths; parent
    directories are created as needed (mode 0755)."""

    def __init__(self, name: str = "<memory>") -> None:
        self.name = name
        self._next_ino = 1
        self._root = self._new(stat_mod.S_IFDIR | 0o755)

    def _new(self, mode: int, **kw: object) -> _Node:
        node = _Node(mode, self._next_ino, **kw)  # type: ignore[arg-type]
        self._next_ino += 1
        return node

    # -- building ----------------------------------------------------------------------
    def _parent(self, path: str) -> tuple[_Node, str]:
        parts = _parts(path)
        if not parts:
            raise ValueError("the root itself cannot be replaced")
        node = self._root
        for comp in parts[:-1]:
            child = node.children.get(comp)
            if child is None:
                child = node.children[comp] = self._new(stat_mod.S_IFDIR | 0o755)
            if not stat_mod.S_ISDIR(child.mode):
                raise ValueError(f"{path}: {comp} is not a directory")
            node = child
        return node, parts[-1]

    def add_file(self, path: str, data: bytes, mode: int = 0o644, *, uid: int = 0,
                 gid: int = 0) -> None:
        """A regular file (replacing whatever was at ``path``: a new inode and mtime)."""
        parent, name = self._parent(path)
        parent.children[name] = self._new(stat_mod.S_IFREG | (mode & 0o7777), data=bytes(data),
                                          uid=uid, gid=gid, mtime_ns=self._next_ino)

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        parent, name = self._parent(path)
        existing = parent.children.get(name)
        if existing is not None and stat_mod.S_ISDIR(existing.mode):
            existing.mode = stat_mod.S_IFDIR | (mode & 0o7777)
            return
        parent.children[name] = self._new(stat_mod.S_IFDIR | (mode & 0o7777))

    def add_symlink(self, path: str, target: str) -> None:
        parent, name = self._parent(path)
        parent.children[name] = self._new(stat_mod.S_IFLNK | 0o777, target=target)

    def add_hardlink(self, path: str, existing: str) -> None:
        """Another name for the file at ``existing`` (same device and inode)."""
        node = self._node(self.resolve_parts(existing, follow=False))
        parent, name = self._parent(path)
        parent.children[name] = node

    def add_fifo(self, path: str) -> None:
        parent, name = self._parent(path)
        parent.children[name] = self._new(stat_mod.S_IFIFO | 0o644)

    def remove(self, path: str) -> None:
        parent, name = self._parent(path)
        parent.children.pop(name, None)

    # -- the primitives of View --------------------------------------------------------
    def _node(self, parts: tuple[str, ...]) -> _Node:
        node = self._root
        for comp in parts:
            if not stat_mod.S_ISDIR(node.mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            child = node.children.get(comp)
            if child is None:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
            node = child
        return node

    def _lstat(self, parts: tuple[str, ...]) -> FileStat:
        n = self._node(parts)
        size = len(n.target) if stat_mod.S_ISLNK(n.mode) else len(n.data)
        return FileStat(_DEV, n.ino, n.mode, size, n.mtime_ns, n.uid, n.gid)

    def _readlink(self, parts: tuple[str, ...]) -> str:
        n = self._node(parts)
        if not stat_mod.S_ISLNK(n.mode):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return n.target

    def _read(self, parts: tuple[str, ...]) -> Buffer:
        n = self._node(parts)
        if stat_mod.S_ISDIR(n.mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat_mod.S_ISREG(n.mode):
            raise OSError(errno.ENXIO, "not a regular file")
        return n.data

    def _read_head(self, parts: tuple[str, ...], size: int) -> bytes:
        return bytes(self._read(parts)[:size])

    def _listdir(self, parts: tuple[str, ...]) -> list[str]:
        n = self._node(parts)
        if not stat_mod.S_ISDIR(n.mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        return list(n.children)


__all__ = ["MemoryView"]
