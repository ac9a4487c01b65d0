"""A snap's runtime views: payload + base + host, as the loader sees them per confinement.

Follows snapd's ``cmd/snap-confine/mount-support.c`` (the mount namespace) and
``cmd/snap-exec`` (the environment): in *classic* confinement ``/`` is the host, the payload is
at ``/snap/NAME/REV`` (``current`` links to it) and the base at ``/snap/BASE/current``; the
user's LD_LIBRARY_PATH and LD_PRELOAD pass through. In *strict* confinement ``/`` is the base,
with the host's ``/etc`` (and ``/var/lib/snapd``...) over it; for bases other than core,
core18, core20, core22 and core24 snap-confine mounts the base's ``ld.so.cache``,
``ld.so.conf`` and ``ld.so.conf.d`` back; the user's LD_* variables are dropped and the
environment comes from snap.yaml. Views are overlays of the inputs: nothing is copied.
``docs/loader-model.md`` lists what is modelled.
"""

from __future__ import annotations

import os
import re

from ldsim.config.env import LoaderEnv
from ldsim.elf.layout import sniff_type
from ldsim.errors import FsError, LdsimError, SnapError
from ldsim.fs.overlay import OverlayView
from ldsim.fs.view import HostDirView, Realm, View, pseudo_reason, pseudo_type
from ldsim.records import record, replace
from ldsim.snap.meta import App, Confinement, SnapMeta, app_environment, parse_snap_yaml

LEGACY_CACHE_BASES = ("core", "core18", "core20", "core22", "core24")
# Host directories snap-confine bind-mounts over the base (mount-support.c).
HOST_BINDS = ("/dev", "/etc", "/home", "/root", "/sys", "/tmp", "/var/snap", "/var/lib/snapd",
              "/var/tmp", "/run", "/usr/src", "/var/log", "/media", "/mnt", "/lib/modules",
              "/lib/firmware", "/var/lib/extrausers")
# ... and what it mounts back from the base over the host's /etc, when both sides exist
# with the same type.
ETC_FROM_BASE = ("/etc/alternatives", "/etc/nsswitch.conf", "/etc/apparmor", "/etc/apparmor.d")
LD_SO_FROM_BASE = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
SNAP_LIBRARY_PATH = "/var/lib/snapd/lib/gl:/var/lib/snapd/lib/gl32"


def open_tree(path: str, what: str) -> View:
    """A directory, or a SquashFS image (a .snap), as a view."""
    if os.path.isdir(path):
        return HostDirView(path)
    if not os.path.exists(path):
        raise SnapError(path, f"{what} does not exist")
    fstype = pseudo_type(os.stat(path).st_dev)
    if fstype is not None:
        raise SnapError(path, f"{what} is {pseudo_reason(fstype)}")
    from ldsim.fs.squashfs import SquashFsView, is_squashfs

    if not is_squashfs(path):
        raise SnapError(path, f"{what} is neither a directory nor a SquashFS image (.snap)")
    return SquashFsView(path)


@record(slots=True)
class Snap:
    """The three trees a snap runs from, opened: its payload, its base, the host."""

    payload: View
    meta: SnapMeta
    revision: str
    base: View | None
    base_source: str
    host: View
    source: str
    opened_with: tuple[str | View, str | View | None, str | View] = ("", None, "/")
    """What :func:`load_snap` was given (snap, base, host), to open it again afresh."""

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def snap_dir(self) -> str:
        """``$SNAP``."""
        return f"/snap/{self.meta.name}/{self.revision}"

    @property
    def confinement(self) -> Confinement:
        """The view the snap's apps run in: classic, or strict (devmode runs as strict)."""
        return self.meta.confinement.view

    def apps(self, app: str | None = None) -> list[App]:
        """The app named ``app``, or every app, sorted by name."""
        if app is not None:
            if app not in self.meta.apps:
                names = ", ".join(sorted(self.meta.apps)) or "none"
                raise SnapError(self.source, f"no app '{app}' in snap '{self.meta.name}' "
                                f"(apps: {names})")
            return [self.meta.apps[app]]
        return [self.meta.apps[n] for n in sorted(self.meta.apps)]

    def program_path(self, app: App) -> str:
        """The app's program as ``snap run`` starts it (through ``current``)."""
        return f"/snap/{self.meta.name}/current/{app.program}"

    def payload_path(self, path: str) -> str:
        """A program given by path: relative to ``$SNAP``, or absolute in the namespace."""
        if path.startswith("/"):
            return path
        return f"/snap/{self.meta.name}/current/{path}"


def _revision(path: str) -> str:
    m = re.match(r"^[a-z0-9-]+_(x?\d+)\.snap$", os.path.basename(path))
    return m.group(1) if m else "x1"


def read_meta(payload: View, source: str) -> SnapMeta:
    """The snap's ``meta/snap.yaml``, parsed; a :class:`SnapError` naming ``source`` when
    there is none."""
    try:
        text = payload.read("/meta/snap.yaml").decode("utf-8", "replace")
    except FsError:
        raise SnapError(source, "no meta/snap.yaml in the snap (is this a prime directory or "
                        "an unpacked snap?)") from None
    return parse_snap_yaml(text, f"{source}/meta/snap.yaml")


def load_snap(snap: str | View, base: str | View | None = None,
              host: str | View = "/") -> Snap:
    """Open a snap (a prime directory, an unpacked snap, a ``.snap`` file, or a view of one),
    its base (the same kinds; default: ``HOST/snap/BASE/current``) and the host root."""
    payload = snap if isinstance(snap, View) else open_tree(snap, "snap")
    source = snap if isinstance(snap, str) else snap.name
    meta = read_meta(payload, source)
    host_view = host if isinstance(host, View) else HostDirView(host)
    base_view: View | None = None
    base_source = ""
    if base is not None:
        base_view = base if isinstance(base, View) else open_tree(base, "base")
        base_source = base if isinstance(base, str) else base.name
        _check_base(base_view, base_source, meta, source)
    elif meta.base != "bare":
        where = f"/snap/{meta.base}/current"
        if not host_view.exists(where + "/"):
            raise SnapError(source, f"its base snap '{meta.base}' (meta/snap.yaml) is not at "
                            f"{host_view.name.rstrip('/')}{where} on the host: give it with "
                            "--base DIR|FILE.snap")
        sub = host_view.resolve(where)
        base_view = OverlayView(host_view, Realm.BASE, f"{host_view.name}{sub}")
        base_view.mount("/", host_view, Realm.BASE, sub)  # the base tree as its own root
        base_source = f"{host_view.name} {sub}"
        _check_base(base_view, base_source, meta, source)
    return Snap(payload, meta, _revision(source), base_view, base_source, host_view, source,
                (snap, base, host))


def _check_base(base: View, base_source: str, meta: SnapMeta, source: str) -> None:
    """A base that says who it is must be the base the snap names (a tree without
    ``meta/snap.yaml``, such as an unpacked root file system, is taken as it is)."""
    try:
        text = base.read("/meta/snap.yaml").decode("utf-8", "replace")
    except FsError:
        return
    if meta.base == "bare":
        return  # a bare snap names no base to compare with
    info = parse_snap_yaml(text, f"{base_source}/meta/snap.yaml")
    if info.type != "base" or info.name != meta.base:
        raise SnapError(base_source, f"this is the snap '{info.name}' (type: {info.type}), but "
                        f"{source} names the base '{meta.base}' in its meta/snap.yaml")


def runtime_view(t: Snap, confinement: Confinement) -> OverlayView:
    """The mount namespace a program of the snap runs in, for ``confinement``'s view."""
    name, rev = t.meta.name, t.revision
    if confinement.view is Confinement.CLASSIC:
        view = OverlayView(t.host, Realm.HOST, f"{t.source} (classic on {t.host.name})")
    else:
        base = t.base
        if base is None:
            if t.meta.base != "bare":
                raise SnapError(t.source, f"the strict view needs the base snap "
                                f"'{t.meta.base}': give it with --base DIR|FILE.snap")
            # snapd's bare base: an empty tree with the mount points (the payload and the
            # host's binds below are all there is)
            from ldsim.fs.memory import MemoryView

            base = MemoryView("bare (an empty base)")
        view = OverlayView(base, Realm.BASE, f"{t.source} (strict on {t.meta.base})")
        for d in HOST_BINDS:
            if t.host.exists(d + "/"):
                view.mount(d, t.host, Realm.HOST, d)
        back = ETC_FROM_BASE + (LD_SO_FROM_BASE if t.meta.base not in LEGACY_CACHE_BASES
                                else ())
        for item in back:
            if _same_type(base, t.host, item):
                view.mount(item, base, Realm.BASE, item)
    view.mount(f"/snap/{name}/{rev}", t.payload, Realm.PAYLOAD)
    view.symlink(f"/snap/{name}/current", rev)
    if t.base is not None:
        view.mount(f"/snap/{t.meta.base}/current", t.base, Realm.BASE)
    return view


def _same_type(a: View, b: View, path: str) -> bool:
    """Both sides exist (symlinks followed) and are both directories or both not."""
    try:
        return a.stat(path).is_dir == b.stat(path).is_dir
    except FsError:
        return False


def app_env(t: Snap, app: App | None, confinement: Confinement, user: LoaderEnv) -> LoaderEnv:
    """The simulated process of an app: snap.yaml's environment over what snapd sets."""
    start = {
        "SNAP": t.snap_dir, "SNAP_NAME": t.meta.name, "SNAP_REVISION": t.revision,
        "SNAP_ARCH": "amd64", "SNAP_LIBRARY_PATH": SNAP_LIBRARY_PATH,
        "SNAP_DATA": f"/var/snap/{t.meta.name}/{t.revision}",
        "SNAP_COMMON": f"/var/snap/{t.meta.name}/common",
    }
    classic = confinement.view is Confinement.CLASSIC
    if classic and user.ld_library_path is not None:
        start["LD_LIBRARY_PATH"] = user.ld_library_path
    env = app_environment(t.meta, app, start)
    llp = env.get("LD_LIBRARY_PATH")
    if llp is None and classic:
        llp = user.ld_library_path
    return replace(user, ld_library_path=llp, preload=user.preload if classic else None,
                   secure=False)


def elf_files(view: View) -> list[tuple[str, int]]:
    """(path relative to the tree's root, e_type) of every regular file that starts with the
    ELF magic, symlinks not followed, sorted. Callers apply their own selection on top."""
    out: list[tuple[str, int]] = []
    for path, st in view.walk():
        if not st.is_reg or st.size < 18:
            continue
        try:
            head = view.read(path, limit=18)
        except LdsimError as exc:
            # one that cannot be read is named (its tree was not wholly analysed), unless
            # it went away since the walk saw it
            if getattr(exc, "errno_name", "") != "ENOENT":
                view.note_skipped(exc)
            continue
        e_type = sniff_type(head)
        if e_type is not None:
            out.append((path.lstrip("/"), e_type))
    return sorted(out)
