"""Finding the ELF files of a tree, fast: what ``ldsim scan`` resolves.

A scan of a whole root meets ten thousand directories and a hundred thousand files, of which
a few thousand are ELF. Each directory is opened relative to its parent's open descriptor,
and each regular file relative to its directory's (no path walk in the kernel), and only a
file's first 64 bytes are read: the magic and ``e_type``. Symbolic links are never followed
(the file they name is scanned under its own path, if it lies in the tree); the root's
``/proc``, ``/sys``, ``/dev`` and ``/run`` are not walked (a live system's are not files).
Files and directories are opened with O_NOATIME while the kernel lets ldsim (see
:class:`ldsim.fs.view.NoAtime`): a scan leaves access times alone. Nothing outside the root's
directory is opened: the walk starts from a path resolved inside
the view, with chroot semantics, checked to be in the root, and below it opens each
directory by its name in its parent, never following a link (a directory renamed out of the
root while the walk is inside it is walked to the end of what it holds, which was in the
root).

With the records of a previous walk (``prior``, from ``ldsim.scanner.store``), a directory
whose identity (device, inode, mtime, ctime) is unchanged is not listed again: its entries
cannot have changed, so it is only opened to compare, and its ELF files ``stat``-ed (their
content may have changed in place). A non-ELF file rewritten in place into an ELF file,
without a rename, in a directory that did not otherwise change, is the one thing this
misses; ``--rescan-all`` walks everything (package managers replace files by renaming,
which changes the directory).

The order is fixed: a directory's ELF files in name order, then its subdirectories in name
order, each in turn; every kind of scan (one process, a pool, a Dask cluster) reports in it.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat as stat_mod
import time
from collections.abc import Generator, Iterator, Mapping, Sequence

from ldsim.elf.facts import ELFMAG, LOADABLE_TYPES
from ldsim.elf.layout import sniff_type
from ldsim.errors import LdsimError
from ldsim.fs.view import PSEUDO_FS, HostDirView, NoAtime, View, mount_table, opened_inside
from ldsim.records import field, record, replace

HEAD = 64
PSEUDO_TOP = frozenset({"proc", "sys", "dev", "run"})
TOO_SHORT = -1
"""The ``e_type`` the walk gives a file that starts with the ELF magic but is too short to
hold one: it is resolved all the same, so that the scan names it (``file too short``, as
``explain`` says), rather than passing it by as no ELF file."""
LOADABLE = LOADABLE_TYPES | {TOO_SHORT}
WALK_RULES = 2
"""Which files the walk's directory records call ELF files: a result store trusts only the
records of these rules (1 passed by a file too short for an e_type)."""
_OPEN_FILE = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
_OPEN_DIR = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_DIRECTORY

Identity = tuple[int, ...]
"""(device, inode, size, mtime, ctime in ns) of a file: what tells one version from another
(the ctime too: ``cp -a``, ``tar x`` and ``touch -r`` put an old mtime back, none can set
the ctime)."""
RACY_NS = 2_000_000_000  # a directory changed this recently may change again unseen


def identity_of(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def dir_identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


@record(frozen=True, slots=True)
class Found:
    """One ELF file the walk found: its path in the root, ``e_type``, identity."""

    path: str
    e_type: int
    ident: Identity

    @property
    def loadable(self) -> bool:
        return self.e_type in LOADABLE


@record(frozen=True, slots=True)
class DirRecord:
    """What a walk saw in one directory: enough to skip listing it again while its
    identity is unchanged."""

    ident: tuple[int, int, int, int]  # (device, inode, mtime, ctime in ns)
    subdirs: tuple[str, ...]
    elf: tuple[tuple[str, int], ...]  # (name, e_type)
    files: int = 0  # its regular files (what a listing of it counts as looked at)


@record(slots=True)
class Walk:
    """The counts and problems of one discovery, and the directory records to keep."""

    files: int = 0  # regular files looked at (read, or known from an unchanged directory)
    dirs: int = 0
    dirs_reused: int = 0
    links: int = 0
    other_elf: int = 0  # relocatable objects, core files: nothing a loader maps
    excluded: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    records: dict[str, DirRecord] = field(default_factory=dict)
    keep_records: bool = True  # False: make none (nothing will store them)
    pseudo: dict[str, str] = field(default_factory=dict)  # path in the root: its fs type
    pseudo_dirs: frozenset[str] = frozenset()  # the directories that hold such paths
    noatime: NoAtime = field(default_factory=NoAtime)  # its opens leave access times alone


def _join(directory: str, name: str) -> str:
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


class Filter:
    """``--include``/``--exclude`` globs on paths in the root (``fnmatch``: ``*`` matches
    ``/`` too). An excluded directory is not walked; a file is kept when it matches an
    include glob (or there are none) and no exclude glob."""

    def __init__(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.matched: set[str] = set()  # the include globs that kept some ELF file

    def dir_excluded(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, g) or fnmatch.fnmatchcase(path + "/", g)
                   for g in self.exclude)

    def keep(self, path: str) -> bool:
        hits = [g for g in self.include if fnmatch.fnmatchcase(path, g)]
        if self.include and not hits:
            return False
        if any(fnmatch.fnmatchcase(path, g) for g in self.exclude):
            return False
        self.matched.update(hits)
        return True

    def unmatched(self) -> list[str]:
        """The include globs that have kept no ELF file (so far): a mistyped one makes a
        scan of nothing, which must not pass as a scan where everything starts. (What
        ``--exclude`` then leaves out, a file or its whole directory, is not kept.)"""
        return [g for g in self.include if g not in self.matched]


def elf_type(head: bytes) -> int | None:
    """``e_type`` of a file whose first bytes are ``head`` (:data:`TOO_SHORT`: it has none);
    None when it is not ELF."""
    if head[:4] != ELFMAG:
        return None
    e_type = sniff_type(head)
    return TOO_SHORT if e_type is None else e_type


def walk_root(view: View, tops: Sequence[str], *, filt: Filter | None = None,
              prior: Mapping[str, DirRecord] | None = None,
              walk: Walk | None = None) -> Iterator[Found]:
    """Every ELF file under ``tops`` (paths in ``view``; default the whole root), in the
    fixed order. Only a host directory can be walked this way (``view`` a
    :class:`~ldsim.fs.view.HostDirView`); problems (an unreadable directory or file, a top
    that does not exist) go to ``walk.problems`` and the rest is still walked."""
    if not isinstance(view, HostDirView):
        raise TypeError("walk_root walks a host directory")
    filt = filt or Filter()
    walk = walk if walk is not None else Walk()
    mounts = mounts_below(view.root)
    walk.pseudo = {p: t for p, t in mounts.items() if t in PSEUDO_FS}
    walk.pseudo_dirs = frozenset(p.rsplit("/", 1)[0] or "/" for p in walk.pseudo)
    resolved: list[tuple[str, bool]] = []
    for top in tops or ["/"]:
        try:
            parts = view.resolve_parts(top)
            st = view.lstat_parts(parts, top)
        except LdsimError as exc:  # missing, or ldsim may not look (AccessError)
            walk.problems.append((top, exc.reason))
            continue
        guest = "/" + "/".join(parts)
        # the file system it is on: that of the deepest mount point above it
        mount = max((m for m in mounts if m == guest or _under(guest, m)), key=len,
                    default=None)
        if mount is not None and mount in walk.pseudo:
            walk.problems.append((top, f"on the {walk.pseudo[mount]} file system mounted at "
                                  f"{mount}, whose files are the kernel's state: not read"))
            continue
        if not (st.is_reg or st.is_dir):
            walk.problems.append((top, "not a regular file or directory"))
            continue
        resolved.append((guest, st.is_dir))
    # a top inside another top's tree is walked there, once
    dirs = [p for p, is_dir in resolved if is_dir]
    seen: set[str] = set()
    for guest, is_dir in resolved:
        if guest in seen or any(_under(guest, d) for d in dirs if d != guest):
            continue
        seen.add(guest)
        if is_dir:
            yield from _walk_dir(view, guest, filt, prior or {}, walk)
        else:
            yield from _one_file(view, guest, filt, walk)
    for glob in filt.unmatched():
        walk.problems.append((glob, "an --include glob that selected no ELF file to scan "
                              "(a glob matches a whole path in the root, from its leading /; "
                              "--exclude leaves out what it also matches)"))


def _under(path: str, top: str) -> bool:
    return top == "/" or path.startswith(top.rstrip("/") + "/")


def mounts_below(root: str) -> dict[str, str]:
    """Every mount point in the host directory ``root`` (as a path in it) with the type of
    the file system a path lookup finds there, as this process's mount table says. Where
    that is one of :data:`PSEUDO_FS` (a chroot's own ``/proc``, mounted for a build,
    anywhere below a scanned tree; a file of one bind-mounted onto a file), the walk neither
    goes in nor opens it, as it leaves out the root's own ``/proc``, ``/sys``, ``/dev`` and
    ``/run``."""
    at: dict[bytes, list[tuple[bytes, bytes, str]]] = {}
    for ident, parent, _device, point, fstype in mount_table():
        at.setdefault(_unoctal(point), []).append((ident, parent, fstype))
    seen = {ident for here in at.values() for ident, _p, _t in here}
    visible: dict[bytes, tuple[bytes, str]] = {}  # point: (ID, type) of what a lookup meets
    for point in sorted(at, key=lambda p: (p.count(b"/") - (p == b"/"), p)):
        if point == b"/":
            under = b""  # the root's mount has its parent outside this namespace's table
        else:
            parent_dir = point.rsplit(b"/", 1)[0] or b"/"
            while parent_dir not in visible and parent_dir != b"/":
                parent_dir = parent_dir.rsplit(b"/", 1)[0] or b"/"
            if parent_dir not in visible:
                continue
            under = visible[parent_dir][0]
        # the mount on the directory as its parent sees it, then each mounted on top of it
        # (a mount hidden under a later one over its parent directory has another parent)
        here = at[point]
        top = next(((i, t) for i, p, t in here
                    if p == under or (not under and p not in seen)), None)
        for _ in here:  # (at most one step per mount there, whatever the table says)
            if top is None:
                break
            visible[point] = top
            top = next(((i, t) for i, p, t in here if p == top[0]), None)
    prefix = os.fsencode(root.rstrip("/"))
    # the root's own file system: that of the deepest mount point at or above it
    own = max((p for p in visible if p == b"/" or prefix == p or prefix.startswith(p + b"/")),
              key=len, default=None)
    out = {"/": visible[own][1]} if own is not None else {}
    out.update({os.fsdecode(point[len(prefix):]) or "/": fstype
                for point, (_i, fstype) in visible.items()
                if point == prefix or point.startswith(prefix + b"/")})
    return out


def _unoctal(field: bytes) -> bytes:
    """A mountinfo path: space, tab, newline and backslash are written as ``\\ooo``."""
    if b"\\" not in field:
        return field
    out, i = bytearray(), 0
    while i < len(field):
        if field[i] == 0x5C and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(int(field[i + 1:i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def _why(exc: OSError) -> str:
    return os.strerror(exc.errno or 0).lower()


def _found(path: str, e_type: int, st: os.stat_result, filt: Filter,
           walk: Walk) -> Found | None:
    """An ELF file the scan resolves, or counted as excluded or not loadable."""
    if not filt.keep(path):
        walk.excluded += 1
    elif e_type not in LOADABLE:
        walk.other_elf += 1
    else:
        return Found(path, e_type, identity_of(st))
    return None


def _one_file(view: HostDirView, guest: str, filt: Filter, walk: Walk) -> Iterator[Found]:
    host = view.root.rstrip("/") + guest
    walk.files += 1
    try:
        fd = walk.noatime.open(host, _OPEN_FILE)
    except OSError as exc:
        walk.problems.append((guest, _why(exc)))
        return
    try:
        head = os.read(fd, HEAD)
        st = os.fstat(fd)
    except OSError as exc:
        walk.problems.append((guest, _why(exc)))
        return
    finally:
        os.close(fd)
    e_type = elf_type(head)
    if e_type is None:
        walk.problems.append((guest, "not an ELF file"))
    elif (hit := _found(guest, e_type, st, filt, walk)) is not None:
        yield hit


def _walk_dir(view: HostDirView, top: str, filt: Filter, prior: Mapping[str, DirRecord],
              walk: Walk) -> Iterator[Found]:
    """Depth first from ``top``: each directory is opened relative to its parent's open
    descriptor, by its one name and without following a link, so it is in the root because
    its parent is, and the kernel walks no path again. Only ``top`` (and the directories
    deeper than :data:`MAX_HELD`, whose ancestors' descriptors are not all kept open) is
    opened by its whole path, and checked to be inside the root."""
    base = view.root.rstrip("/")
    # (descriptor or None, path in the root, (path, name) of the subdirectories still to
    # walk, last first)
    frames: list[tuple[int | None, str, list[tuple[str, str]]]] = []
    try:
        todo: list[tuple[str, str]] | None = [(top, "")]
        parent_fd: int | None = None
        while True:
            if todo:
                guest, name = todo.pop()
                dfd = _open_dir(view, base, guest, name, parent_fd, walk)
                if dfd is None:
                    continue
                try:
                    subdirs = yield from _one_dir(dfd, guest, filt, prior.get(guest), walk)
                except BaseException:
                    os.close(dfd)
                    raise
                if len(frames) >= MAX_HELD:
                    os.close(dfd)
                    held: int | None = None
                else:
                    held = dfd
                frames.append((held, guest, _subdirs(guest, subdirs, filt, walk)))
            elif frames:
                held, _done, _empty = frames.pop()
                if held is not None:
                    os.close(held)
            else:
                return
            parent_fd, _parent, todo = frames[-1] if frames else (None, "", None)
    finally:
        for held, _guest, _rest in frames:
            if held is not None:
                os.close(held)


MAX_HELD = 64
"""Directories deeper than this below a walked top are opened by their whole path (a tree
of any depth must not run the process out of descriptors)."""


def _open_dir(view: HostDirView, base: str, guest: str, name: str, parent_fd: int | None,
              walk: Walk) -> int | None:
    """A directory of the walk, open; None (and a problem) when it cannot be opened."""
    try:
        if parent_fd is not None:
            return walk.noatime.open(name, _OPEN_DIR, parent_fd)
        dfd = walk.noatime.open(base + guest if guest != "/" else (base or "/"), _OPEN_DIR)
    except OSError as exc:
        walk.problems.append((guest, _why(exc)))
        return None
    # a directory on the way swapped for a link to elsewhere is not followed
    if not opened_inside(dfd, view.root):
        os.close(dfd)
        walk.problems.append((guest, "moved out of the root while walked; skipped"))
        return None
    return dfd


def _one_dir(dfd: int, guest: str, filt: Filter, record: DirRecord | None, walk: Walk
             ) -> Generator[Found, None, Sequence[str]]:
    """The ELF files of one open directory; returns its subdirectories. A directory whose
    identity is that of its record is not listed again."""
    if record is None and not walk.keep_records:
        walk.dirs += 1
        _elf, subdirs = yield from _list_dir(dfd, guest, filt, walk)
        return subdirs
    try:
        # its identity before listing it: an entry added during the listing makes the
        # record stale, never wrongly fresh
        dst = os.fstat(dfd)
    except OSError as exc:
        walk.problems.append((guest, _why(exc)))
        return ()
    walk.dirs += 1
    if guest in walk.pseudo_dirs:
        # something is mounted on a name it holds: listed afresh each time, and never kept
        # (a pseudo file there is not opened; once it is gone, the file under it is seen)
        _elf, subdirs = yield from _list_dir(dfd, guest, filt, walk)
        return subdirs
    if record is not None and dir_identity(dst) == record.ident:
        walk.dirs_reused += 1
        walk.records[guest] = record
        yield from _known_dir(dfd, guest, record, filt, walk)
        return record.subdirs
    problems = len(walk.problems)
    files = walk.files
    found, subdirs = yield from _list_dir(dfd, guest, filt, walk)
    # a record is kept only of a whole listing of a directory not changed just now
    if len(walk.problems) == problems and time.time_ns() - dst.st_mtime_ns > RACY_NS:
        walk.records[guest] = DirRecord(dir_identity(dst), tuple(subdirs), tuple(found),
                                        walk.files - files)
    return subdirs


def _subdirs(guest: str, names: Sequence[str], filt: Filter, walk: Walk
             ) -> list[tuple[str, str]]:
    """(path, name) of the subdirectories to walk, last first."""
    out = []
    pseudo = walk.pseudo
    for name in reversed(names):
        if guest == "/" and name in PSEUDO_TOP:
            continue
        path = _join(guest, name)
        if pseudo and path in pseudo:
            continue  # the kernel's state, not files (see mounts_below)
        if not name or "/" in name or "\0" in name or name in (".", ".."):
            # no directory lists such a name: it comes from a crafted store
            walk.problems.append((path, "not a name a directory can hold; skipped"))
            continue
        if filt.exclude and filt.dir_excluded(path):
            walk.excluded += 1
            continue
        out.append((path, name))
    return out


def _list_dir(dfd: int, guest: str, filt: Filter, walk: Walk
              ) -> Generator[Found, None, tuple[list[tuple[str, int]], list[str]]]:
    """The ELF files of one open directory, in name order; returns (elf, subdirs)."""
    files: list[str] = []
    subdirs: list[str] = []
    try:
        with os.scandir(dfd) as it:
            for entry in it:
                try:
                    if entry.is_file(follow_symlinks=False):  # most are: asked first
                        files.append(entry.name)
                    elif entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.name)
                    elif entry.is_symlink():
                        walk.links += 1
                except OSError:
                    continue
    except OSError as exc:
        walk.problems.append((guest, _why(exc)))
    if guest in walk.pseudo_dirs:  # a pseudo file bind-mounted onto a file here
        files = [n for n in files if _join(guest, n) not in walk.pseudo]
    files.sort()
    subdirs.sort()
    found: list[tuple[str, int]] = []
    walk.files += len(files)
    # the one loop that runs for every file of the tree: its names bound here
    noatime = walk.noatime
    open_, read, close, fstat, flags, magic = \
        os.open, os.read, os.close, os.fstat, _OPEN_FILE | noatime.flag, ELFMAG
    for name in files:
        try:
            fd = open_(name, flags, dir_fd=dfd)
        except OSError as exc:
            try:
                fd = noatime.again(exc, name, _OPEN_FILE, dfd)
            except OSError as again:
                walk.problems.append((_join(guest, name), _why(again)))
                continue
            flags = _OPEN_FILE | noatime.flag
        try:
            head = read(fd, HEAD)
            if not head.startswith(magic):
                continue
            e_type = sniff_type(head)
            if e_type is None:
                e_type = TOO_SHORT
            st = fstat(fd)
        except OSError as exc:
            walk.problems.append((_join(guest, name), _why(exc)))
            continue
        finally:
            close(fd)
        found.append((name, e_type))
        if (hit := _found(_join(guest, name), e_type, st, filt, walk)) is not None:
            yield hit
    return found, subdirs


def _known_dir(dfd: int, guest: str, record: DirRecord, filt: Filter,
               walk: Walk) -> Iterator[Found]:
    """An unchanged directory's ELF files, each looked at again as a listing would (a file
    rewritten in place changes no directory: it may be no ELF file now, or another type of
    one). The record is kept up to date with what they are now."""
    walk.files += record.files
    now: list[tuple[str, int]] = []
    for name, _was in record.elf:
        path = _join(guest, name)
        try:
            if not stat_mod.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
                continue  # no longer a regular file: never opened (a device might act)
            fd = walk.noatime.open(name, _OPEN_FILE, dfd)
            try:
                st = os.fstat(fd)
                head = os.read(fd, HEAD)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # gone since: as a listing would not have it
                walk.problems.append((path, _why(exc)))
            continue
        e_type = elf_type(head)
        if e_type is None:
            continue
        now.append((name, e_type))
        if (hit := _found(path, e_type, st, filt, walk)) is not None:
            yield hit
    if tuple(now) != record.elf:
        walk.records[guest] = replace(record, elf=tuple(now))


__all__ = ["WALK_RULES", "DirRecord", "Filter", "Found", "Identity", "LdsimError", "Walk",
           "elf_type", "identity_of", "walk_root"]
