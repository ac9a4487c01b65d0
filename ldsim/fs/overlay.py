"""Views mounted on top of each other, without copying: a snap's runtime namespace.

An :class:`OverlayView` has a lower view at ``/`` and views (or a directory or file of a
view) bind-mounted at canonical prefixes, plus synthetic symlinks (``/snap/NAME/current``
-> the revision). Lookups go to the mount with the longest matching prefix, as the kernel's
mount table does; directories leading to a mount point exist even where the lower view
lacks them (snapd creates them). Symlinks are resolved by the shared walk in
:class:`~ldsim.fs.view.View` against the overlay's own root, so an absolute link inside a
mounted payload resolves in the namespace, exactly as at run time. Every mount carries a
*realm* (:class:`~ldsim.fs.view.Realm`: payload, base, host), and
:meth:`OverlayView.realm_of` says which realm a canonical path lies in.

A directory's identity for :meth:`~ldsim.fs.view.View.walk` is the mount it is seen through
plus its device and inode in that mount's view: the base bind-mounted both at ``/`` and at
``/snap/BASE/current`` is walked under both names (as ``find`` walks both bind mounts), while a
cycle inside one mounted tree is still caught.
"""

from __future__ import annotations

import errno
import stat as stat_mod
import zlib
from collections.abc import Hashable

from ldsim.buffers import Buffer
from ldsim.errors import LdsimError
from ldsim.fs.view import FileStat, Realm, View
from ldsim.records import record

_SYNTH_DEV = 0x7FFF0000


@record(frozen=True, slots=True)
class Mount:
    prefix: tuple[str, ...]
    view: View
    sub: tuple[str, ...]  # canonical parts inside ``view`` that appear at ``prefix``
    realm: Realm


def split(path: str) -> tuple[str, ...]:
    return tuple(p for p in path.split("/") if p and p != ".")


class OverlayView(View):
    def __init__(self, lower: View, realm: Realm, name: str = "") -> None:
        self.lower = lower
        self.lower_realm = realm
        self.name = name or lower.name
        self.mounts: list[Mount] = []
        self.links: dict[tuple[str, ...], str] = {}

    # -- building ----------------------------------------------------------------------
    def mount(self, prefix: str, view: View, realm: Realm, sub: str = "/") -> None:
        """Bind-mount ``sub`` of ``view`` (resolved inside ``view``) at ``prefix``."""
        self.mounts.append(Mount(split(prefix), view, view.resolve_parts(sub), realm))
        self.mounts.sort(key=lambda m: len(m.prefix), reverse=True)

    def symlink(self, path: str, target: str) -> None:
        self.links[split(path)] = target

    # -- lookups -----------------------------------------------------------------------
    def _where(self, parts: tuple[str, ...]) -> tuple[View, tuple[str, ...], Mount | None]:
        for m in self.mounts:
            n = len(m.prefix)
            if parts[:n] == m.prefix:
                return m.view, m.sub + parts[n:], m
        return self.lower, parts, None

    def realm_of(self, path: str) -> Realm:
        return self.locate(path)[0]

    def locate(self, path: str) -> tuple[Realm, str]:
        """Where a canonical path lies: the realm of the mount it is in and the path inside
        that mount's own tree (the same file of a base seen at ``/usr/lib/...`` in the strict
        view and at ``/snap/BASE/current/usr/lib/...`` in the classic view is one place)."""
        parts = split(path)
        _view, inner, mount = self._where(parts)
        if mount is None:
            return self.lower_realm, "/" + "/".join(parts)
        return mount.realm, "/" + "/".join(inner)

    def _leads_to_mount(self, parts: tuple[str, ...]) -> bool:
        n = len(parts)
        return any(len(p) > n and p[:n] == parts
                   for p in [m.prefix for m in self.mounts] + list(self.links))

    def _synthetic_dir(self, parts: tuple[str, ...]) -> FileStat:
        return FileStat(_SYNTH_DEV, _synthetic_ino("/".join(parts)), stat_mod.S_IFDIR | 0o755, 0)

    def _lstat(self, parts: tuple[str, ...]) -> FileStat:
        if parts in self.links:
            target = self.links[parts]
            return FileStat(_SYNTH_DEV, _synthetic_ino("L" + "/".join(parts)),
                            stat_mod.S_IFLNK | 0o777, len(target))
        view, inner, _m = self._where(parts)
        try:
            st = view._lstat(inner)
        except OSError:
            if self._leads_to_mount(parts):
                return self._synthetic_dir(parts)
            raise
        if self._leads_to_mount(parts) and not st.is_dir:
            return self._synthetic_dir(parts)
        return st

    def _readlink(self, parts: tuple[str, ...]) -> str:
        if parts in self.links:
            return self.links[parts]
        view, inner, _m = self._where(parts)
        return view._readlink(inner)

    def _read(self, parts: tuple[str, ...]) -> Buffer:
        if parts in self.links:
            raise OSError(errno.ELOOP, "symbolic link")
        view, inner, _m = self._where(parts)
        try:
            return view._read(inner)
        except FileNotFoundError:
            if self._leads_to_mount(parts):
                raise IsADirectoryError(errno.EISDIR, "is a directory") from None
            raise

    def _read_head(self, parts: tuple[str, ...], size: int) -> bytes:
        if parts in self.links:
            raise OSError(errno.ELOOP, "symbolic link")
        view, inner, _m = self._where(parts)
        try:
            return view._read_head(inner, size)
        except FileNotFoundError:
            if self._leads_to_mount(parts):
                raise IsADirectoryError(errno.EISDIR, "is a directory") from None
            raise

    def _dir_key(self, parts: tuple[str, ...], st: FileStat) -> Hashable:
        if st.dev == _SYNTH_DEV:  # a directory snapd creates on the way to a mount point
            return ("synthetic", parts)
        view, inner, mount = self._where(parts)
        where = None if mount is None else mount.prefix
        return (where, view._dir_key(inner, st))

    def _listing_problems(self, parts: tuple[str, ...]) -> list[LdsimError]:
        view, inner, _m = self._where(parts)
        return view._listing_problems(inner)

    def _listdir(self, parts: tuple[str, ...]) -> list[str]:
        view, inner, _m = self._where(parts)
        try:
            names = set(view._listdir(inner))
        except OSError:
            if not self._leads_to_mount(parts):
                raise
            names = set()
        n = len(parts)
        for p in [m.prefix for m in self.mounts] + list(self.links):
            if len(p) > n and p[:n] == parts:
                names.add(p[n])
        return sorted(names)


def _synthetic_ino(key: str) -> int:
    """An inode number for a directory or link the overlay makes up (never 0); ``key`` may
    hold any name an image or a snap.yaml gives, lone surrogates included."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) + 1
