"""A directory presented as ``/``, with chroot semantics.

Every path ldsim handles is a *guest* path: a path inside the modelled root. One function,
:meth:`View.resolve`, turns a guest path into its canonical form by walking it component by
component like the kernel's ``path_lookupat`` does inside a chroot:

* an absolute symlink target starts again at the view's root, never at the host's ``/``;
* ``..`` at the root stays at the root, and ``..`` after a symlink applies to the link's
  *target* (physical, not lexical, as the kernel does);
* at most 40 symlinks are followed (the kernel's ``MAXSYMLINKS``), then ELOOP.

Host paths are only ever built from canonical component lists whose every prefix was
``lstat``-ed and found not to be a symlink, and files are opened with ``O_NOFOLLOW``; so
nothing ldsim reads can lie outside the root it was given.

:meth:`View.walk` lists a whole tree and must end on any input, however hostile: it lists each
directory once (by identity: :meth:`View._dir_key`, device and inode number, so a directory
entry leading back to an ancestor, or a directory reachable by two names, is not walked
again), never descends past ``PATH_MAX``, and an entry or directory it cannot use (a name
the kernel would never hand out, an unreadable listing, a corrupt inode in an image) hides
only itself: it is reported to ``on_error`` and kept in :attr:`View.skipped`, and the walk goes
on. Temporary copies ``ldsim fix`` leaves behind when it is killed (``.NAME.RANDOM.ldsim-fix``,
:data:`FIX_TEMP_SUFFIX`) are not part of any tree.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from collections.abc import Callable, Hashable, Iterator
from enum import StrEnum

from ldsim.buffers import Buffer, FileBytes
from ldsim.errors import AccessError, FsError, LdsimError, RootError
from ldsim.records import record

MAXSYMLINKS = 40
NAME_MAX = 255  # the longest file name component (Linux include/uapi/linux/limits.h)
PATH_MAX = 4096  # the longest path, NUL included, the kernel's getname() accepts
FIX_TEMP_SUFFIX = ".ldsim-fix"
"""Suffix of the temporary copy ``ldsim fix --apply`` patches next to a file
(``.BASENAME.RANDOM.ldsim-fix``); walks skip such names."""


class Realm(StrEnum):
    """Which tree a file comes from. A plain root is one realm; a snap's runtime view mounts
    three (the payload, the base snap, the host), and a name nothing was found for is
    ``missing``."""

    ROOT = "root"
    PAYLOAD = "payload"
    BASE = "base"
    HOST = "host"
    MISSING = "missing"


_ERRNO_TEXT = {
    "ENOENT": "no such file or directory",
    "ENOTDIR": "a path component is not a directory",
    "ELOOP": "too many levels of symbolic links",
    "EACCES": "permission denied",
    "EISDIR": "is a directory",
    "ENAMETOOLONG": "file name too long",
    "ENXIO": "not a regular file (a FIFO, socket or device: not read, a loader would block "
             "or fail on it)",
    "ENOMEM": "too large to map into this process's memory (its address space is limited)",
    "EIO": "input/output error",
    # what HostDirView says of a file it opened outside its root (a directory on the way
    # replaced by a link while ldsim ran): the file is not read
    "EXDEV": "it was outside the root when opened (the root changed while ldsim read it); "
             "not read",
}


def _errno_text(errno_name: str) -> str:
    """What a failed call on a file means; errnos without a sentence get the C library's."""
    text = _ERRNO_TEXT.get(errno_name)
    if text is None:
        code = getattr(errno, errno_name, None)
        text = os.strerror(code).lower() if isinstance(code, int) else errno_name.lower()
    return text


@record(frozen=True, slots=True)
class FileStat:
    """What ldsim needs from ``lstat(2)``/``stat(2)`` of a file in a view."""

    dev: int
    ino: int
    mode: int
    size: int
    mtime_ns: int = 0
    uid: int = 0
    gid: int = 0
    ctime_ns: int = 0

    @property
    def is_dir(self) -> bool:
        return stat_mod.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return stat_mod.S_ISREG(self.mode)

    @property
    def is_link(self) -> bool:
        return stat_mod.S_ISLNK(self.mode)

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid,
                   st.st_gid, st.st_ctime_ns)


def fs_error(path: str, errno_name: str) -> FsError | AccessError:
    if errno_name == "EACCES":  # a real call's: ldsim's own permissions, not the model's
        return AccessError(path, ACCESS_REASON, errno_name)
    return FsError(path, _errno_text(errno_name), errno_name)


def bytes_at_least(text: str, limit: int) -> bool:
    """Whether ``text`` (a name or path as ldsim keeps them: surrogate-escaped bytes) takes
    ``limit`` bytes or more in a system call (a UTF-8 character takes at most 4)."""
    return len(text) >= limit or (len(text) * 4 >= limit
                                  and len(text.encode("utf-8", "surrogateescape")) >= limit)


def real_error(path: str, exc: OSError) -> FsError | AccessError:
    """What a real call on the host that failed says of ``path`` in the root: the kernel's
    errno there, but for EACCES (ldsim's own permissions) and ENAMETOOLONG. The model
    checks the guest's limits itself (NAME_MAX per component, PATH_MAX per path given), so
    that one is the host's PATH_MAX met by the root's directory and the resolved path
    together, which the kernel walking the guest's path one link at a time never meets:
    what is there cannot be seen, and no loader outcome may be made of it."""
    name = _errno_name(exc)
    if name == "ENAMETOOLONG":
        return AccessError(path, "too long a path on this host for ldsim to look at (the "
                           "root's directory and the resolved path together pass PATH_MAX)",
                           name)
    return fs_error(path, name)


ACCESS_REASON = ("permission denied to ldsim itself: what is there cannot be seen (run ldsim "
                 "as a user who may read it)")


READ, SEARCH = 4, 1  # permission bits, as in each rwx triplet of a mode
EXECUTE = SEARCH  # the x bit: a directory's search, a file's execute

NOATIME = getattr(os, "O_NOATIME", 0)
"""The open(2) flag that leaves a file's access time alone (see :class:`NoAtime`)."""


class NoAtime:
    """Opens that leave access times alone, while the kernel lets them: a first read would
    otherwise update the access time of every file (a scan's hundred thousand inodes
    written back; tools that clean up by access time misled). Only a file's owner, or a
    process with CAP_FOWNER, may use O_NOATIME: at the first EPERM, :attr:`flag` becomes 0
    and opens go on without it."""

    __slots__ = ("flag",)

    def __init__(self) -> None:
        self.flag = NOATIME

    def open(self, path: str, flags: int, dir_fd: int | None = None) -> int:
        try:
            return os.open(path, flags | self.flag, dir_fd=dir_fd)
        except OSError as exc:
            return self.again(exc, path, flags, dir_fd)

    def again(self, exc: OSError, path: str, flags: int, dir_fd: int | None = None) -> int:
        """After ``exc`` from an open with :attr:`flag` (a caller's own fast loop may open
        with it): EPERM says this process may not use it, and the open is made again
        without it, as every later one; any other error is ``exc`` itself."""
        if exc.errno != errno.EPERM or not self.flag:
            raise exc
        self.flag = 0
        return os.open(path, flags, dir_fd=dir_fd)


def permits(mode: int, owner: int, group: int, user: tuple[int, int] | None,
            want: int) -> bool:
    """Whether ``user`` (uid, gid; None: root) has the permission ``want`` (:data:`READ`, or
    the x bit: :data:`SEARCH` of a directory, :data:`EXECUTE` of a file) on a file of
    ``mode`` owned by ``owner``:``group``, as
    Linux's ``generic_permission`` decides for a process with that one group: the owner's
    bits, else the group's, else the others'. Root (CAP_DAC_OVERRIDE) may read anything and
    search any directory, but execute only a file one of whose x bits is set."""
    if user is None or user[0] == 0:
        return want != EXECUTE or stat_mod.S_ISDIR(mode) or bool(mode & 0o111)
    uid, gid = user
    if uid == owner:
        return bool(mode & (want << 6))
    if gid == group:
        return bool(mode & (want << 3))
    return bool(mode & want)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "EIO")


def join(directory: str, name: str) -> str:
    """Join like the loader does: ``dir + "/" + name`` with no normalisation."""
    if not directory:
        return name
    return directory + name if directory.endswith("/") else directory + "/" + name


def is_fix_temp(name: str) -> bool:
    """Whether a directory entry is a temporary copy left by ``ldsim fix --apply``."""
    return name.startswith(".") and name.endswith(FIX_TEMP_SUFFIX)


def bad_name(name: str) -> str | None:
    """Why ``name`` cannot be a directory entry the kernel hands out (``getdents(2)`` never
    returns ``/``, NUL, an empty name, or ``.``/``..`` other than the directory's own), or
    None. A corrupt image may hold such names; joined into a path they would name another
    file."""
    if not name:
        return "empty file name"
    if name in (".", ".."):
        return f"a directory entry named '{name}'"
    if "/" in name:
        return "a file name containing '/'"
    if "\0" in name:
        return "a file name containing a NUL byte"
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        return f"a file name longer than {NAME_MAX} bytes"
    return None


OnError = Callable[[LdsimError], None]


_ROOT_REALM = Realm.ROOT  # (a module name is read faster than an enum member)


def dirname(path: str) -> str:
    """The directory part of a path string, as glibc's ``_dl_get_origin`` computes it."""
    idx = path.rfind("/")
    if idx < 0:
        return ""
    return path[:idx] if idx > 0 else "/"


@record(frozen=True, slots=True)
class _Failed:
    """A resolution that failed: the :class:`FsError` to raise again."""

    path: str
    reason: str
    errno_name: str


class View:
    """A read-only view of a directory tree as a root filesystem.

    Subclasses provide the primitives on *canonical* component tuples (no symlinks, no
    ``.``/``..``); the walk in :meth:`resolve` is shared.
    """

    name: str

    def realm_of(self, path: str) -> Realm:
        """The realm a canonical path of this view lies in (one realm for a plain tree)."""
        return _ROOT_REALM

    # -- primitives (on canonical component tuples; raise OSError like the kernel) -------
    def _lstat(self, parts: tuple[str, ...]) -> FileStat:
        raise NotImplementedError

    def _readlink(self, parts: tuple[str, ...]) -> str:
        raise NotImplementedError

    def _read(self, parts: tuple[str, ...]) -> Buffer:
        """The whole content of a regular file (EISDIR for a directory)."""
        raise NotImplementedError

    def _listdir(self, parts: tuple[str, ...]) -> list[str]:
        raise NotImplementedError

    def _read_head(self, parts: tuple[str, ...], size: int) -> bytes:
        """The first ``size`` bytes (views that can read less than the whole file override)."""
        return bytes(self._read(parts)[:size])

    # -- the one symlink walk ----------------------------------------------------------
    stable = False
    """Whether the tree cannot change under the view for its lifetime (a view that caches
    what ``lstat`` says, as :class:`HostDirView` does): then what a path resolves to, and what
    is known of the file there, may be remembered by the view and by its readers."""
    # A stable view's resolutions, successes and errors alike (None: resolve every time).
    _resolve_memo: dict[tuple[str, str, bool, tuple[int, int] | None],
                        tuple[str, ...] | _Failed] | None = None

    def resolve_parts(self, path: str, *, cwd: str = "/", follow: bool = True,
                      user: tuple[int, int] | None = None) -> tuple[str, ...]:
        """Canonical components of ``path`` (relative paths start at ``cwd``). ``user``
        (uid, gid): the walk is a process of that user's (not root), who must be allowed to
        search every directory it looks a name up in (``may_lookup`` in Linux
        ``fs/namei.c``): EACCES otherwise, whatever comes after.

        Raises :class:`FsError` with the errno the kernel would give (ENOENT, ENOTDIR,
        ELOOP, EACCES, ENAMETOOLONG).
        """
        if bytes_at_least(path, PATH_MAX):  # getname(): the NUL must fit too
            raise fs_error(path, "ENAMETOOLONG")
        searcher = None if user is None or user[0] == 0 else user  # root searches all
        memo = self._resolve_memo
        if memo is None:
            return self._resolve_parts(path, cwd, follow, searcher)
        # the working directory only matters to a relative path
        key = (path, "/" if path.startswith("/") or cwd == "" else cwd, follow, searcher)
        hit = memo.get(key)
        if hit is None:
            try:
                hit = self._resolve_known_dir(path, follow) if searcher is None else None
                if hit is None:
                    hit = self._resolve_parts(path, cwd, follow, searcher)
            except FsError as exc:
                if type(exc) is not FsError:
                    raise
                hit = _Failed(exc.path, exc.reason, exc.errno_name)
            memo[key] = hit
        if isinstance(hit, _Failed):
            raise FsError(hit.path, hit.reason, hit.errno_name)
        return hit

    # A stable view's walks of directory paths (absolute, as root: no search permission
    # asked): where the walk stands after their components, (the components so far, the
    # links followed), for the paths of the files in them (see _resolve_known_dir)
    _dir_states: dict[str, tuple[tuple[str, ...], int]]

    def _resolve_known_dir(self, path: str, follow: bool) -> tuple[str, ...] | None:
        """:meth:`_resolve_parts` of an absolute ``path`` (as root) when the walk of its
        directory part is known: the walk goes on from where that one stood with the last
        component alone, as the whole walk would have. None when it does not apply (a
        relative path, a last component that is empty, ``.`` or ``..``, a directory part
        that cannot be walked: the whole walk then says why)."""
        cut = path.rfind("/")
        last = path[cut + 1:]
        if cut <= 0 or not path.startswith("/") or not last or last in (".", ".."):
            return None
        states = getattr(self, "_dir_states", None)
        if states is None:
            states = self._dir_states = {}
        head = path[:cut]
        state = states.get(head)
        if state is None:
            try:
                # the directory part as the walk takes it: every component followed, a
                # directory at the end (as in "head/")
                stack, links = self._walk_parts([], self._pending(head), 0, head, True, True,
                                                None)
            except FsError:
                return None
            state = states[head] = (tuple(stack), links)
        stack, links = self._walk_parts(list(state[0]), [last], state[1], path, False, follow,
                                        None)
        return tuple(stack)

    @staticmethod
    def _pending(path: str) -> list[str]:
        """The components still to walk, last first, without the empty ones (a component is
        the last when nothing is left; one followed by "." is not: it must be a
        directory, as in "ld.so/.", ENOTDIR)."""
        return [c for c in reversed(path.split("/")) if c]

    def _resolve_parts(self, path: str, cwd: str, follow: bool,
                       searcher: tuple[int, int] | None = None) -> tuple[str, ...]:
        if not path:
            raise fs_error("''", "ENOENT")
        must_be_dir = path.endswith("/")  # the kernel follows a final link and wants a dir
        if path.startswith("/"):
            stack: list[str] = []
        else:
            stack = list(self.resolve_parts(cwd)) if cwd not in ("", "/") else []
        stack, _links = self._walk_parts(stack, self._pending(path), 0, path, must_be_dir,
                                         follow, searcher)
        return tuple(stack)

    def _walk_parts(self, stack: list[str], pending: list[str], links: int, path: str,
                    must_be_dir: bool, follow: bool, searcher: tuple[int, int] | None
                    ) -> tuple[list[str], int]:
        """Walk the components ``pending`` (last first) from ``stack`` with ``links`` links
        followed so far: (the components, the links followed). Errors name ``path``."""
        while pending:
            comp = pending.pop()
            if searcher is not None:
                self._may_search(tuple(stack), path, searcher)
            if comp == ".":
                continue
            if comp == "..":
                if stack:
                    stack.pop()
                continue
            if (len(comp) if comp.isascii()
                    else len(comp.encode("utf-8", "surrogateescape"))) > NAME_MAX:
                raise fs_error(path, "ENAMETOOLONG")
            candidate = (*stack, comp)
            try:
                st = self._lstat(candidate)
            except OSError as exc:
                raise real_error(path, exc) from None
            is_last = not pending
            if st.is_link and (follow or must_be_dir or not is_last):
                links += 1
                if links > MAXSYMLINKS:
                    raise fs_error(path, "ELOOP")
                try:
                    target = self._readlink(candidate)
                except OSError as exc:  # no longer a link: the tree changed under the view
                    raise real_error(path, exc) from None
                if target.startswith("/"):
                    stack = []
                # a target ending in "/" names a directory, as "target/." does (a file
                # there: ENOTDIR)
                pending.extend([c for c in reversed((target + "." if target.endswith("/")
                                                     else target).split("/")) if c])
                continue
            if (not is_last or must_be_dir) and not st.is_dir:
                raise fs_error(path, "ENOTDIR")
            stack.append(comp)
        return stack, links

    def _may_search(self, parts: tuple[str, ...], path: str, user: tuple[int, int]) -> None:
        """Raise the EACCES a lookup of a name in the directory ``parts`` gives ``user``
        when its mode does not let them search it (its own EACCES, when ldsim may not look
        at it, is ldsim's)."""
        try:
            st = self._lstat(parts)
        except OSError as exc:
            raise real_error(path, exc) from None
        if not permits(st.mode, st.uid, st.gid, user, SEARCH):
            where = "/" + "/".join(parts)
            raise FsError(path, f"permission denied (EACCES): may not search {where}",
                          "EACCES")

    def resolve(self, path: str, *, cwd: str = "/", follow: bool = True) -> str:
        """The canonical guest path of ``path`` (all symlinks resolved inside the view)."""
        return "/" + "/".join(self.resolve_parts(path, cwd=cwd, follow=follow))

    # -- conveniences on guest paths -------------------------------------------------
    def lstat_parts(self, parts: tuple[str, ...], path: str = "") -> FileStat:
        try:
            return self._lstat(parts)
        except OSError as exc:
            raise real_error(path or "/" + "/".join(parts), exc) from None

    def read_parts(self, parts: tuple[str, ...], path: str = "") -> Buffer:
        try:
            return self._read(parts)
        except OSError as exc:
            raise real_error(path or "/" + "/".join(parts), exc) from None

    def stat(self, path: str, *, cwd: str = "/", user: tuple[int, int] | None = None
             ) -> FileStat:
        """``stat(2)`` (``user``: see :meth:`resolve_parts`)."""
        return self.lstat_parts(self.resolve_parts(path, cwd=cwd, user=user), path)

    def read(self, path: str, *, cwd: str = "/", limit: int | None = None) -> bytes:
        """Read a file (at most ``limit`` bytes). Errors as :class:`FsError`."""
        parts = self.resolve_parts(path, cwd=cwd)
        if limit is not None:
            try:
                return self._read_head(parts, limit)
            except OSError as exc:
                raise real_error(path, exc) from None
        return bytes(self.read_parts(parts, path))

    def buffer(self, path: str, *, cwd: str = "/") -> Buffer:
        """A whole file as the view holds it, not copied (a large host file is read a page
        at a time when asked for: only what is looked at costs memory; a host file of at
        most :data:`READ_WHOLE` bytes is read). Errors as :class:`FsError`."""
        return self.read_parts(self.resolve_parts(path, cwd=cwd), path)

    def exists(self, path: str, *, cwd: str = "/") -> bool:
        try:
            self.resolve_parts(path, cwd=cwd)
        except FsError:
            return False
        return True

    def walk(self, top: str = "/", *,
             on_error: OnError | None = None) -> Iterator[tuple[str, FileStat]]:
        """Every entry below ``top`` (symlinks not followed): a directory's entries in sorted
        order, then its subdirectories' in turn.

        Bounded on any tree: each directory is listed once (:meth:`_dir_key`; a directory met
        again, through a cycle or a second name, is reported and not walked again), nothing
        deeper than ``PATH_MAX`` is walked, and a problem hides only what it is about: an
        unreadable or corrupt directory hides its contents, a bad entry (a name the kernel
        would never return, a corrupt inode) hides itself. Each problem is passed to
        ``on_error`` (when given) and kept in :attr:`skipped`. ``ldsim fix`` temporary copies
        (:func:`is_fix_temp`) are left out silently.
        """
        def skip(err: LdsimError) -> None:
            self._note_skipped(err)
            if on_error is not None:
                on_error(err)

        try:
            top_parts = self.resolve_parts(top)
            top_st = self.lstat_parts(top_parts, top)
        except FsError:
            return  # no such directory: nothing below it
        except LdsimError as exc:
            skip(exc)
            return
        seen: set[Hashable] = set()
        stack: list[tuple[str, tuple[str, ...], FileStat]] = [(top, top_parts, top_st)]
        while stack:
            d, parts, dst = stack.pop()
            key = self._dir_key(parts, dst)
            if key in seen:
                skip(FsError(d, "directory already walked under another name (a directory "
                                "cycle or a hard-linked directory); not walked again",
                             "ELOOP"))
                continue
            seen.add(key)
            try:
                names = self._list_parts(parts, d)
            except LdsimError as exc:
                if not (d == top and isinstance(exc, FsError)
                        and exc.errno_name in ("ENOENT", "ENOTDIR")):
                    skip(exc)
                continue
            for problem in self._listing_problems(parts):
                skip(problem)
            base = d.rstrip("/")
            subdirs = []
            for n in names:
                if is_fix_temp(n):
                    continue
                p = base + "/" + n
                reason = bad_name(n)
                if reason is not None:
                    skip(FsError(base or "/", f"entry '{_printable_name(n)}': {reason}; "
                                              "skipped", "EINVAL"))
                    continue
                child = (*parts, n)
                try:
                    st = self.lstat_parts(child, p)
                except LdsimError as exc:
                    skip(exc)
                    continue
                yield p, st
                if st.is_dir:
                    if len(p.encode("utf-8", "surrogateescape")) + 1 >= PATH_MAX:
                        skip(FsError(p, "path longer than PATH_MAX; not walked",
                                     "ENAMETOOLONG"))
                        continue
                    subdirs.append((p, child, st))
            stack.extend(reversed(subdirs))

    @property
    def skipped(self) -> list[LdsimError]:
        """What walks of this view skipped, each problem once, in the order met (for a
        command to report in one line each: ``str(error)`` names the entry)."""
        return list(self._skipped_map().values())

    def _skipped_map(self) -> dict[str, LdsimError]:
        found: dict[str, LdsimError] | None = self.__dict__.get("_skipped")
        if found is None:
            found = self.__dict__["_skipped"] = {}
        return found

    def _note_skipped(self, err: LdsimError) -> None:
        self._skipped_map().setdefault(str(err), err)

    def note_skipped(self, err: LdsimError) -> None:
        """Keep ``err`` in :attr:`skipped`: an entry a walk found that its caller then could
        not use (a file it may not read)."""
        self._note_skipped(err)

    def _dir_key(self, parts: tuple[str, ...], st: FileStat) -> Hashable:
        """What identifies a directory for :meth:`walk`: its device and inode number (views
        composed of several trees add which one it comes from)."""
        return (st.dev, st.ino)

    def _listing_problems(self, parts: tuple[str, ...]) -> list[LdsimError]:
        """Entries of the (already listed) directory at ``parts`` that its listing left out as
        unusable (views reading an image override; a real directory has none)."""
        return []

    def _list_parts(self, parts: tuple[str, ...], path: str) -> list[str]:
        try:
            return sorted(self._listdir(parts))
        except OSError as exc:
            raise real_error(path, exc) from None

    def listdir(self, path: str) -> list[str]:
        """Directory entries, sorted (output must not depend on the host's readdir order)."""
        return self._list_parts(self.resolve_parts(path), path)


def opened_inside(fd: int, root: str) -> bool:
    """Whether an open file or directory is inside the host directory ``root`` (its path in
    ``/proc`` names it)."""
    if root == "/":
        return True
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True  # no /proc: the O_NOFOLLOW open is all the check there is
    return where == root or where.startswith(root.rstrip("/") + "/")


def _printable_name(name: str) -> str:
    raw = name.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if 32 <= b < 127 and b != 0x27 else f"\\x{b:02x}" for b in raw)


def _copy(exc: OSError) -> OSError:
    """The same error (type, errno, message, file name), never raised: no traceback."""
    return type(exc)(exc.errno, exc.strerror, exc.filename)


PSEUDO_FS = frozenset({
    "proc", "sysfs", "devpts", "devtmpfs", "debugfs", "tracefs", "securityfs", "cgroup",
    "cgroup2", "pstore", "bpf", "configfs", "fusectl", "mqueue", "binfmt_misc", "hugetlbfs",
    "efivarfs", "rpc_pipefs", "nsfs", "selinuxfs"})
"""File systems whose files are the kernel's state, not files: reading one can act (reading
``/proc/kmsg`` takes the kernel's messages from whoever else reads them)."""

_MOUNTS: tuple[frozenset[int], dict[int, str]] | None = None
_UNLISTED: set[int] = set()  # devices of no mount even when the table was read again
_UNLISTED_MAX = 4096


def mount_table() -> list[tuple[bytes, bytes, bytes, bytes, str]]:
    """This process's mounts, from ``/proc/self/mountinfo`` (its first 4 MiB): (ID, parent
    ID, ``MAJ:MIN``, mount point as written there (``\\ooo`` escapes), file system type)
    each; none when it cannot be read."""
    try:
        with open("/proc/self/mountinfo", "rb") as fh:
            table = fh.read(1 << 22)
    except OSError:
        return []
    rows = []
    # ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    for line in table.split(b"\n"):  # (only \n ends a line: \r may be in a name)
        fields = line.split(b" ")
        if len(fields) < 7 or b"-" not in fields[6:]:
            continue
        rest = fields[fields.index(b"-", 6) + 1:]
        if rest:
            rows.append((fields[0], fields[1], fields[2], fields[4],
                         rest[0].decode("ascii", "replace")))
    return rows


def _read_mounts() -> tuple[frozenset[int], dict[int, str]]:
    """Every device (``st_dev``) of this process's mounts, and those of a
    :data:`PSEUDO_FS` file system with its type."""
    every: set[int] = set()
    pseudo: dict[int, str] = {}
    for _ident, _parent, device, _point, fstype in mount_table():
        major, _colon, minor = device.partition(b":")
        if major.isdigit() and minor.isdigit():
            dev = os.makedev(int(major), int(minor))
            every.add(dev)
            if fstype in PSEUDO_FS:
                pseudo[dev] = fstype
    return frozenset(every), pseudo


def pseudo_type(dev: int) -> str | None:
    """The :data:`PSEUDO_FS` type of the file system on device ``dev`` (a file's
    ``st_dev``), or None. The mount table is read once, and again for a device it does not
    list (a file system mounted since: a new proc mount has a device of its own)."""
    global _MOUNTS
    if _MOUNTS is None:
        _MOUNTS = _read_mounts()
    every, pseudo = _MOUNTS
    if dev not in every and dev not in _UNLISTED and len(_UNLISTED) < _UNLISTED_MAX:
        _MOUNTS = every, pseudo = _read_mounts()
        if dev not in every:
            _UNLISTED.add(dev)  # (a btrfs subvolume's, say: not mounted by itself)
    return pseudo.get(dev)


def pseudo_reason(fstype: str) -> str:
    return f"on a {fstype} file system, whose files are the kernel's state: not read"


def _refuse_pseudo(dev: int, parts: tuple[str, ...]) -> None:
    """A file of the kernel's state is not read (whatever path led to it: a bind mount, a
    link): ldsim refuses to look, as when it may not (:class:`~ldsim.errors.AccessError`)."""
    fstype = pseudo_type(dev)
    if fstype is not None:
        raise AccessError("/" + "/".join(parts), pseudo_reason(fstype))


def real_path(path: str) -> str:
    """``os.path.realpath``, or the absolute path when a link on the way may not be read
    (``/proc/1/root`` to another user)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return os.path.abspath(path)


READ_WHOLE = 1 << 16
"""A host file this small is read into memory whole (one ``read``, a small copy); a larger
one is a :class:`~ldsim.buffers.FileBytes`, read a page at a time when asked for."""


def _read_all(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes from ``fd``'s start (fewer when the file is shorter by now)."""
    data = os.read(fd, size)
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            break
        data += more
    return data


class HostDirView(View):
    """A host directory presented as ``/``. Stable (:attr:`View.stable`): each ``lstat`` is
    made once, so a tree that changes while the view is in use is seen as it first was."""

    stable = True

    def __init__(self, root: str) -> None:
        try:
            os.stat(root)
        except OSError as exc:
            raise RootError(root, "root directory does not exist" if exc.errno == errno.ENOENT
                            else f"root directory cannot be opened: "
                            f"{_errno_text(_errno_name(exc))}") from None
        if not os.path.isdir(root):
            raise RootError(root, "root is not a directory")
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip("/") + "/"  # of every host path below the root
        self.name = root
        self._lstat_cache: dict[tuple[str, ...], FileStat | OSError] = {}
        self._resolve_memo = {}
        self._listed: set[tuple[str, ...]] = set()
        self._noatime = NoAtime()
        self._lstat(())  # the root as it was when the view was made (see looked_at)

    def _host(self, parts: tuple[str, ...]) -> str:
        # os.path.join(self.root, *parts): canonical components hold no "/" and none is empty
        return self._prefix + "/".join(parts) if parts else self.root

    def _lstat(self, parts: tuple[str, ...]) -> FileStat:
        hit = self._lstat_cache.get(parts)
        if hit is None:
            try:
                hit = FileStat.of(os.lstat(self._host(parts)))
            except OSError as exc:
                hit = _copy(exc)
            self._lstat_cache[parts] = hit
        if isinstance(hit, OSError):
            # a copy each time: an exception raised again keeps every frame it ever went
            # through (and whatever those frames held) in its growing traceback
            raise _copy(hit)
        return hit

    def _readlink(self, parts: tuple[str, ...]) -> str:
        return os.readlink(self._host(parts))

    def _open_inside(self, parts: tuple[str, ...], flags: int) -> int:
        """Open a path walked component by component with ``lstat`` first, by its host
        path: a directory on the way swapped for a link to elsewhere in between would open
        a file outside the root, which :func:`opened_inside` sees."""
        fd = self._noatime.open(self._host(parts), flags | os.O_NOFOLLOW | os.O_CLOEXEC)
        if not opened_inside(fd, self.root):
            os.close(fd)
            raise OSError(errno.EXDEV, _ERRNO_TEXT["EXDEV"])
        return fd

    def looked_at(self) -> Iterator[tuple[str, FileStat | None, bool]]:
        """Every host path this view has ``lstat``-ed, with what it saw then (None: nothing
        there, or it could not be looked at), and whether it listed it, its root first: all
        its answers so far came from these (each read, listing and link is of a path looked
        at first)."""
        for parts, hit in list(self._lstat_cache.items()):
            yield (self._host(parts), None if isinstance(hit, OSError) else hit,
                   parts in self._listed)

    def _open_checked(self, parts: tuple[str, ...]) -> tuple[int, os.stat_result]:
        """A regular file or directory, open, and its status. A FIFO would block open(2)
        (a device may act): refused when ``lstat`` says so, and again when what was opened
        is one (swapped in since; opened without blocking)."""
        st = self._lstat(parts)
        if not (st.is_reg or st.is_dir):
            raise OSError(errno.ENXIO, "not a regular file")
        _refuse_pseudo(st.dev, parts)
        fd = self._open_inside(parts, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            now = os.fstat(fd)
            if not (stat_mod.S_ISREG(now.st_mode) or stat_mod.S_ISDIR(now.st_mode)):
                raise OSError(errno.ENXIO, "not a regular file")
            _refuse_pseudo(now.st_dev, parts)
        except BaseException:
            os.close(fd)
            raise
        return fd, now

    def _read_head(self, parts: tuple[str, ...], size: int) -> bytes:
        fd, _st = self._open_checked(parts)
        try:
            return os.read(fd, size)
        finally:
            os.close(fd)

    def _read(self, parts: tuple[str, ...]) -> Buffer:
        fd, st = self._open_checked(parts)
        if st.st_size > READ_WHOLE and stat_mod.S_ISREG(st.st_mode):
            # read when asked for, never mapped (see ldsim.buffers): it owns the descriptor
            return FileBytes(fd, st.st_size, "/" + "/".join(parts))
        try:
            if stat_mod.S_ISDIR(st.st_mode):
                os.read(fd, 1)  # raises EISDIR, as read(2) does for the loader
            if st.st_size == 0:
                return os.read(fd, 1 << 20)
            return _read_all(fd, st.st_size)
        finally:
            os.close(fd)

    def _listdir(self, parts: tuple[str, ...]) -> list[str]:
        self._listed.add(parts)
        fd = self._open_inside(parts, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)
