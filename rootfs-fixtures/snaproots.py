"""Snap fixtures: payload, base and host trees, and the physical layouts the real loader runs in.

The snap oracle (``tests/oracle/test_snaps.py``) asks two questions of every program and
checks that ldsim, which composes a snap's runtime view from *separate* directories
(``--snap PAYLOAD --base BASE --host HOST``), gives the answer the real loader gives when the
same trees are *physically* laid out the way snapd mounts them (snapd
``cmd/snap-confine/mount-support.c``; ``docs/loader-model.md``):

classic (:func:`classic_layout`)
    the host root, with the payload at ``/snap/NAME/x1`` (``current -> x1``) and the base at
    ``/snap/BASE/current``.
strict (:func:`strict_layout`)
    the base as the root, the host's ``/etc``, ``/var/snap``, ``/home``... in place of the
    base's, then the base's ``/etc/alternatives`` (and for core26 and other non-legacy names its
    ``ld.so.cache``, ``ld.so.conf`` and ``ld.so.conf.d``) back, as snap-confine mounts them, the
    payload at ``/snap/NAME/x1`` and the base again at ``/snap/BASE/current``.

Layouts are made of hard links to the source trees where possible: snap-confine *bind-mounts*
the base both at ``/`` and at ``/snap/BASE/current``, so both names must be one file (same
device and inode) for the loader, exactly as they are in ldsim's overlay.

Trees
    :func:`build_host` is a Debian-12-like (not usr-merged) root made from copies of this
    machine's loader and libc (:class:`glibcroot.Root`), its own ``/etc/ld.so.conf`` and an
    ``ldconfig -r`` cache, plus host builds of shared libraries that differ from the base's.
    :func:`build_base` is a core22-like base: usr-merged (``/lib -> usr/lib``,
    ``/lib64 -> usr/lib64``), the loader at ``usr/lib64/ld-linux-x86-64.so.2`` as a relative
    link to ``../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2``, libc and its own libraries in
    ``usr/lib/x86_64-linux-gnu``, snapd's mount points and its own ``ld.so.cache``.
    :func:`build_synthetic_snaps` compiles one small snap per situation and patches it with
    patchelf as Snapcraft does. :func:`build_debian_world` does the same from real
    Debian packages (``apt-get download``, ``dpkg-deb -x``).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import glibcroot
from glibcroot import LDSO_REAL, LIBC, OracleResult, Root, realpath_in_root, run_real_loader

TRIPLET: Final = "x86_64-linux-gnu"
BASE_NAME: Final = "core22"
REVISION: Final = "x1"
LEGACY_CACHE_BASES: Final = ("core", "core18", "core20", "core22", "core24")
SNAP_LIBRARY_PATH: Final = "/var/lib/snapd/lib/gl:/var/lib/snapd/lib/gl32"
STRICT_LD_LIBRARY_PATH: Final = "${SNAP_LIBRARY_PATH}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:$SNAP/lib"
"""What Snapcraft writes into a strict core22 snap.yaml when the prime has ``lib/``."""
BASE_MOUNT_POINTS: Final = (
    "dev", "etc", "home", "root", "proc", "sys", "tmp", "var/snap", "var/lib/snapd", "var/tmp",
    "run", "usr/src", "var/log", "media", "usr/lib/snapd", "usr/share/fonts",
    "usr/local/share/fonts", "var/cache/fontconfig", "snap", "mnt",
)
"""review-tools' ``base_required_dirs`` plus ``/snap`` and ``/mnt``."""
HOST_BINDS: Final = (
    "dev", "etc", "home", "root", "sys", "tmp", "var/snap", "var/lib/snapd", "var/tmp", "run",
    "usr/src", "var/log", "media", "mnt",
)
"""Host directories snap-confine bind-mounts over the base in the strict view (/proc is
the oracle's own, /snap is laid out separately)."""
ETC_FROM_BASE: Final = ("alternatives", "nsswitch.conf", "apparmor", "apparmor.d")
"""What snap-confine mounts back from the base after the host's /etc (/etc/ssl stays the
host's on Debian-like hosts with core* bases)."""
UBUNTU_LD_SO_CONF_D: Final = {
    "libc.conf": "# libc default configuration\n/usr/local/lib\n",
    f"{TRIPLET}.conf": f"# Multiarch support\n/usr/local/lib/{TRIPLET}\n/lib/{TRIPLET}\n"
                       f"/usr/lib/{TRIPLET}\n",
}
USER_LIBDIR: Final = "/home/u/lib"
"""A user's own library directory on the host (not in ld.so.conf), for LD_LIBRARY_PATH."""
REPO: Final = glibcroot.REPO
_SANE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIMEOUT: Final = 120.0


def interp_of(base: str) -> str:
    """The interpreter Snapcraft patches in for a classic snap on ``base``."""
    return f"/snap/{base}/current/lib64/ld-linux-x86-64.so.2"


def libdir_of(base: str) -> str:
    """The base's library directory as Snapcraft spells it in rpaths."""
    return f"/snap/{base}/current/lib/{TRIPLET}"


def _env() -> dict[str, str]:
    return {"PATH": _SANE_PATH, "LC_ALL": "C"}


def _run(argv: Sequence[str | os.PathLike[str]], cwd: Path | None = None,
         timeout: float = _TIMEOUT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([os.fspath(a) for a in argv], capture_output=True, text=True,
                          env=_env(), cwd=cwd, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(os.fspath(a) for a in argv)} failed "
                           f"({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def lib_source(stem: str, flavour: str) -> str:
    """C source of a test library: ``f_<stem>`` plus a marker string naming its build, so two
    builds of one library (host and base) have different bytes."""
    return (f'const char {stem}_built_for[] = "{flavour} build of {stem}";\n'
            f"int f_{stem}(void){{return {len(flavour)};}}\n")


# --------------------------------------------------------------------------------------------
# ELF patching, snap.yaml


def patch_elf(path: Path, *, interpreter: str | None = None, rpath: str | None = None,
              runpath: str | None = None) -> None:
    """One patchelf call, as Snapcraft's ``Patcher`` makes it: ``--set-interpreter`` and
    ``--force-rpath --set-rpath`` (DT_RPATH). ``runpath`` writes DT_RUNPATH instead (patchelf's
    default without ``--force-rpath``), which is what a RUNPATH-linked build has."""
    args: list[str] = []
    if interpreter is not None:
        args += ["--set-interpreter", interpreter]
    if rpath is not None:
        args += ["--force-rpath", "--set-rpath", rpath]
    if runpath is not None:
        args += ["--set-rpath", runpath]
    if args:
        _run(["patchelf", *args, path])


def pt_interp(path: Path) -> str | None:
    """PT_INTERP of an ELF64 little-endian file."""
    import struct

    data = path.read_bytes()
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 3:
            return data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    return None


def snap_yaml(name: str, base: str, confinement: str, apps: Mapping[str, str],
              environment: Mapping[str, str] | None = None, snap_type: str = "app") -> str:
    doc: dict[str, Any] = {"name": name, "version": "1.0", "summary": f"ldsim fixture {name}",
                           "type": snap_type}
    if snap_type != "base":
        doc["base"] = base
        doc["confinement"] = confinement
        doc["grade"] = "devel"
        doc["architectures"] = ["amd64"]
        doc["apps"] = {app: {"command": cmd} for app, cmd in apps.items()}
    if environment:
        doc["environment"] = dict(environment)
    return json.dumps(doc, indent=2) + "\n"  # JSON is YAML


# --------------------------------------------------------------------------------------------
# Host and base


def build_host(path: Path) -> Root:
    """A host root: this machine's loader and libc, Debian's ld.so.conf.d, host builds of
    ``libshared.so.1`` (also in the base, different bytes) and ``libhostonly.so.1`` (only on the
    host), a user's build of ``libshared.so.1`` in :data:`USER_LIBDIR` and an ``ldconfig -r``
    cache."""
    host = Root(path)
    for name, text in UBUNTU_LD_SO_CONF_D.items():
        host.write(f"/etc/ld.so.conf.d/{name}", text)
    libdir = f"/usr/lib/{TRIPLET}"
    host.mklib(f"{libdir}/libshared.so.1", "libshared.so.1", source=lib_source("libshared", "host"))
    host.mklib(f"{libdir}/libhostonly.so.1", "libhostonly.so.1",
               source=lib_source("libhostonly", "host"))
    host.mklib(f"{USER_LIBDIR}/libshared.so.1", "libshared.so.1",
               source=lib_source("libshared", "user"))
    # Debian's alternatives: the host picks another implementation of libalt.so.1
    host.mklib(f"{libdir}/hostalt/libalt.so.1", "libalt.so.1", source=lib_source("libalt", "host"))
    host.symlink("/etc/alternatives/libalt.so.1", f"{libdir}/hostalt/libalt.so.1")
    host.symlink(f"{libdir}/libalt.so.1", "/etc/alternatives/libalt.so.1")
    # a library the snap keeps in $SNAP_COMMON (host /var/snap, bind-mounted in strict too)
    host.mklib("/var/snap/snap-data/common/lib/libplugin.so.1", "libplugin.so.1",
               source=lib_source("libplugin", "common"))
    host.ldconfig()
    return host


def copy_machine_lib(root: Root, soname: str, guest_dir: str) -> bool:
    """Copy this machine's ``soname`` (real file, plus the soname link) into ``guest_dir``."""
    for d in (f"/lib/{TRIPLET}", f"/usr/lib/{TRIPLET}"):
        link = Path(d, soname)
        if link.exists():
            real = link.resolve()
            root.mkdir(guest_dir)
            shutil.copy2(real, root.host(f"{guest_dir}/{real.name}"))
            if real.name != soname:
                root.symlink(f"{guest_dir}/{soname}", real.name)
            return True
    return False


def finish_base(base: Root, name: str) -> None:
    """What every base gets besides its libraries: usr-merge links, the relative loader link,
    snapd's mount points, ``/usr/bin/env`` (the oracle's launcher), Ubuntu's ld.so.conf,
    ``meta/snap.yaml`` and its own ``ld.so.cache``."""
    base.mkdir("/usr/lib64", "/usr/bin", "/usr/sbin", f"/usr/lib/{TRIPLET}")
    for top in ("lib", "lib64", "bin", "sbin"):
        if not base.exists(f"/{top}"):
            base.symlink(f"/{top}", f"usr/{top}")
    if not base.exists("/usr/lib64/ld-linux-x86-64.so.2"):
        base.symlink("/usr/lib64/ld-linux-x86-64.so.2", f"../lib/{TRIPLET}/ld-linux-x86-64.so.2")
    base.mkdir(*(f"/{d}" for d in BASE_MOUNT_POINTS))
    if not base.exists("/usr/bin/env"):
        shutil.copy2("/usr/bin/env", base.host("/usr/bin/env"))
    base.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n\n")
    for conf, text in UBUNTU_LD_SO_CONF_D.items():
        if not base.exists(f"/etc/ld.so.conf.d/{conf}"):
            base.write(f"/etc/ld.so.conf.d/{conf}", text)
    base.write("/meta/snap.yaml", snap_yaml(name, "", "", {}, snap_type="base"))
    base.ldconfig()


def build_base(path: Path, name: str = BASE_NAME, *, cache_only_dir: bool = False,
               absolute_loader: bool = False) -> Root:
    """A synthetic core22-like base: copies of this machine's loader and libc, base builds of
    ``libbase.so.1`` (only in the base) and ``libshared.so.1`` (the host has another build), and
    ``libalt.so.1`` behind an absolute ``/etc/alternatives`` link (the host has its own choice).

    ``cache_only_dir``: also ``libbasesub.so.1`` in ``usr/lib/x86_64-linux-gnu/basesub``, a
    directory only the base's own ld.so.conf lists, so only the base's cache finds it.
    ``absolute_loader``: the loader link is ``usr/lib64/ld-linux-x86-64.so.2 ->
    /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2``, as Debian's libc6 ships it and as the
    regression canonical/core-base's 031-fix-ld-so-symlink guards against.
    """
    base = Root(path, base=False)
    libdir = f"/usr/lib/{TRIPLET}"
    base.mkdir(libdir, "/usr/lib64")
    shutil.copy2(LDSO_REAL, base.host(f"{libdir}/ld-linux-x86-64.so.2"))
    shutil.copy2(LIBC, base.host(f"{libdir}/libc.so.6"))
    base.mklib(f"{libdir}/libbase.so.1", "libbase.so.1", source=lib_source("libbase", "base"))
    base.mklib(f"{libdir}/libshared.so.1", "libshared.so.1", source=lib_source("libshared", "base"))
    base.mklib(f"{libdir}/alt/libalt.so.1", "libalt.so.1", source=lib_source("libalt", "base"))
    base.symlink("/etc/alternatives/libalt.so.1", f"{libdir}/alt/libalt.so.1")
    base.symlink(f"{libdir}/libalt.so.1", "/etc/alternatives/libalt.so.1")
    if cache_only_dir:
        base.mklib(f"{libdir}/basesub/libbasesub.so.1", "libbasesub.so.1",
                   source=lib_source("libbasesub", "base"))
        base.write("/etc/ld.so.conf.d/basesub.conf", f"{libdir}/basesub\n")
    if absolute_loader:
        base.symlink("/usr/lib64/ld-linux-x86-64.so.2", f"/lib/{TRIPLET}/ld-linux-x86-64.so.2")
    finish_base(base, name)
    return base


# --------------------------------------------------------------------------------------------
# Snaps


@dataclass
class SnapFixture:
    """One payload tree and how its apps are started."""

    name: str
    path: Path
    base: str
    confinement: str
    apps: dict[str, str]
    """app name -> program relative to ``$SNAP``."""
    env: dict[str, str] = field(default_factory=dict)
    """The loader-relevant environment snap-exec gives every app (snap.yaml, expanded by hand,
    independently of ldsim)."""
    about: str = ""
    revision: str = REVISION

    @property
    def snap_dir(self) -> str:
        return f"/snap/{self.name}/{self.revision}"

    def program(self, app: str) -> str:
        """The program as ``snap run`` starts it (through ``current``)."""
        return f"/snap/{self.name}/current/{self.apps[app]}"


def _new_payload(parent: Path, name: str, base: str, confinement: str,
                 environment: Mapping[str, str] | None = None) -> Root:
    p = Root(parent / name, base=False)
    p.write("/meta/snap.yaml", snap_yaml(name, base, confinement, {"app": "bin/app"},
                                         environment))
    return p


def _libpay(p: Root, *, runpath: str | None = None) -> None:
    """``lib/libpay.so.1`` needs ``libshared.so.1`` (base and host) and ``lib/libpaydep.so.1``
    (payload), then libc."""
    p.mklib("/lib/libpaydep.so.1", "libpaydep.so.1", source=lib_source("libpaydep", "payload"))
    p.mklib("/lib/libpay.so.1", "libpay.so.1", needed=["libshared.so.1", "libpaydep.so.1"],
            source=lib_source("libpay", "payload"))
    if runpath is not None:
        patch_elf(p.host("/lib/libpay.so.1"), runpath=runpath)


SYNTHETIC: Final = (
    "rpath-complete", "no-rpath", "unpatched", "runpath", "host-only", "cache26", "abs-symlink",
    "abs-loader", "alternatives", "snap-data", "current-rpath",
)
BASE26: Final = "core26"
"""A non-legacy base name: snap-confine mounts its own ld.so.cache back in the strict view."""
BASE20: Final = "core20"
"""A base whose loader link is absolute (Snapcraft's linter must not be fooled by it)."""


def build_synthetic_snaps(parent: Path, base: str = BASE_NAME) -> dict[str, SnapFixture]:
    """One small snap per situation (app ``app`` = ``bin/app`` in each)."""
    interp, libdir = interp_of(base), libdir_of(base)
    complete = f"$ORIGIN/../lib:{libdir}"
    snaps: dict[str, SnapFixture] = {}

    p = _new_payload(parent, "rpath-complete", base, "classic")
    _libpay(p)
    p.mkexe("/bin/app", needed=["libpay.so.1", "libbase.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp, rpath=complete)
    snaps["rpath-complete"] = SnapFixture(
        "rpath-complete", p.path, base, "classic", {"app": "bin/app"},
        about="interpreter patched and RPATH complete: nothing leaks")

    p = _new_payload(parent, "no-rpath", base, "classic")
    p.mkexe("/bin/app", needed=["libshared.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp)
    snaps["no-rpath"] = SnapFixture(
        "no-rpath", p.path, base, "classic", {"app": "bin/app"},
        about="interpreter patched, no RPATH: libc and libshared leak through the host cache")

    env = {"LD_LIBRARY_PATH": STRICT_LD_LIBRARY_PATH}
    p = _new_payload(parent, "unpatched", base, "strict", env)
    _libpay(p)
    p.mkexe("/bin/app", needed=["libpay.so.1", "libshared.so.1"])
    snaps["unpatched"] = SnapFixture(
        "unpatched", p.path, base, "strict", {"app": "bin/app"},
        env={"LD_LIBRARY_PATH": f"{SNAP_LIBRARY_PATH}:/snap/unpatched/{REVISION}/lib"},
        about="interpreter not patched, Snapcraft's strict LD_LIBRARY_PATH: classic runs the "
        "host's loader and libc")

    p = _new_payload(parent, "runpath", base, "classic")
    _libpay(p, runpath="$ORIGIN")
    p.mkexe("/bin/app", needed=["libpay.so.1", "libbase.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp, runpath=complete)
    snaps["runpath"] = SnapFixture(
        "runpath", p.path, base, "classic", {"app": "bin/app"},
        about="RUNPATH instead of RPATH: libpay's libshared.so.1 is not covered and leaks")

    p = _new_payload(parent, "host-only", base, "classic")
    _libpay(p)
    p.mkexe("/bin/app", needed=["libpay.so.1", "libhostonly.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp, rpath=complete)
    snaps["host-only"] = SnapFixture(
        "host-only", p.path, base, "classic", {"app": "bin/app"},
        about="libhostonly.so.1 is in neither payload nor base: host in classic, missing strict")

    p = _new_payload(parent, "cache26", BASE26, "strict")
    p.mkexe("/bin/app", needed=["libbasesub.so.1", "libshared.so.1"])
    snaps["cache26"] = SnapFixture(
        "cache26", p.path, BASE26, "strict", {"app": "bin/app"},
        about="base core26, unpatched: the strict view reads the base's own ld.so.cache")

    p = _new_payload(parent, "abs-symlink", base, "classic")
    p.symlink("/lib/libshared.so.1", f"/usr/lib/{TRIPLET}/libshared.so.1")
    p.mkexe("/bin/app", needed=["libshared.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp, rpath=complete)
    snaps["abs-symlink"] = SnapFixture(
        "abs-symlink", p.path, base, "classic", {"app": "bin/app"},
        about="payload lib/libshared.so.1 is an absolute symlink: the host's file in classic, "
        "the base's in strict, under a payload path")

    p = _new_payload(parent, "abs-loader", BASE20, "classic")
    p.mkexe("/bin/app", needed=["libbase.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp_of(BASE20),
              rpath=f"$ORIGIN/../lib:{libdir_of(BASE20)}")
    snaps["abs-loader"] = SnapFixture(
        "abs-loader", p.path, BASE20, "classic", {"app": "bin/app"},
        about="the base's loader link is absolute: the patched interpreter is the host's "
        "loader in classic")

    p = _new_payload(parent, "alternatives", base, "classic")
    p.mkexe("/bin/app", needed=["libalt.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp, rpath=f"$ORIGIN/../lib:{libdir}")
    snaps["alternatives"] = SnapFixture(
        "alternatives", p.path, base, "classic", {"app": "bin/app"},
        about="the base's libalt.so.1 links to /etc/alternatives: the host's choice in classic, "
        "the base's in strict (snap-confine mounts the base's /etc/alternatives back)")

    env = {"LD_LIBRARY_PATH": "$SNAP_COMMON/lib"}
    p = _new_payload(parent, "snap-data", base, "strict", env)
    p.mkexe("/bin/app", needed=["libplugin.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp, rpath=f"$ORIGIN/../lib:{libdir}")
    snaps["snap-data"] = SnapFixture(
        "snap-data", p.path, base, "strict", {"app": "bin/app"},
        env={"LD_LIBRARY_PATH": "/var/snap/snap-data/common/lib"},
        about="LD_LIBRARY_PATH=$SNAP_COMMON/lib: the host's /var/snap in both views")

    p = _new_payload(parent, "current-rpath", base, "classic")
    _libpay(p, runpath="$ORIGIN")
    p.mkexe("/bin/app", needed=["libpay.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp,
              rpath=f"/snap/current-rpath/current/lib:{libdir}")
    snaps["current-rpath"] = SnapFixture(
        "current-rpath", p.path, base, "classic", {"app": "bin/app"},
        about="an absolute RPATH through /snap/NAME/current: libpay's $ORIGIN is that "
        "(uncanonicalised) directory")
    return snaps


# --------------------------------------------------------------------------------------------
# Physical layouts


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _tree(src: Path, dst: Path) -> None:
    """Copy a tree as hard links (symlinks kept as symlinks)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy, dirs_exist_ok=True)


def _install_snaps(dest: Path, bases: Mapping[str, Path], snaps: Iterable[SnapFixture]) -> None:
    for name, base in bases.items():
        _tree(base, dest / "snap" / name / "current")
    for s in snaps:
        _tree(s.path, dest / "snap" / s.name / s.revision)
        os.symlink(s.revision, dest / "snap" / s.name / "current")


def classic_layout(dest: Path, host: Path, bases: Mapping[str, Path],
                   snaps: Iterable[SnapFixture]) -> Path:
    """The host root with the payloads at ``/snap/NAME/x1`` and the bases at
    ``/snap/BASE/current``: what a classic app sees."""
    _tree(host, dest)
    _install_snaps(dest, bases, snaps)
    return dest


def _same_type(a: Path, b: Path) -> bool:
    return stat.S_IFMT(os.lstat(a).st_mode) == stat.S_IFMT(os.lstat(b).st_mode)


def _replace(src: Path, dst: Path) -> None:
    """Put ``src`` where ``dst`` is (a bind mount of ``src`` over ``dst``)."""
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif os.path.lexists(dst):
        dst.unlink()
    if src.is_dir() and not src.is_symlink():
        _tree(src, dst)
    elif src.is_symlink():
        os.symlink(os.readlink(src), dst)
    else:
        _link_or_copy(str(src), str(dst))


def strict_layout(dest: Path, host: Path, base_name: str, bases: Mapping[str, Path],
                  snaps: Iterable[SnapFixture]) -> Path:
    """What a strict app sees (``mount-support.c``): the base ``base_name`` as the root;
    the host's directories of :data:`HOST_BINDS` over it; then from the base again
    :data:`ETC_FROM_BASE` (and, for base names other than core..core24, the ld.so.cache, .conf
    and .conf.d), each only where both sides have it with the same type; the payloads and
    every base under ``/snap``."""
    base = bases[base_name]
    _tree(base, dest)
    for d in HOST_BINDS:
        if (host / d).is_dir() and not (host / d).is_symlink():
            _replace(host / d, dest / d)
    etc_back = list(ETC_FROM_BASE)
    if base_name not in LEGACY_CACHE_BASES:
        etc_back += ["ld.so.cache", "ld.so.conf", "ld.so.conf.d"]
    for item in etc_back:
        src, dst = base / "etc" / item, dest / "etc" / item
        if os.path.lexists(src) and os.path.lexists(dst) and _same_type(src, dst):
            _replace(src, dst)
    (dest / "proc").mkdir(exist_ok=True)
    _install_snaps(dest, bases, snaps)
    return dest


def mksquashfs(src: Path, dest: Path) -> Path:
    """``mksquashfs SRC DEST -noappend -comp xz -no-fragments -all-root -no-xattrs`` (an app
    snap as snapd packs it)."""
    _run(["mksquashfs", src, dest, "-noappend", "-comp", "xz", "-no-fragments", "-all-root",
          "-no-xattrs", "-no-progress", "-quiet"])
    return dest


# --------------------------------------------------------------------------------------------
# ldsim


@dataclass
class CliResult:
    argv: list[str]
    status: int
    stdout: str
    stderr: str
    doc: dict[str, Any] | None

    def describe(self) -> str:
        return f"$ {' '.join(self.argv[2:])}  [rc={self.status}]"


def run_ldsim_cli(*args: str) -> CliResult:
    """``python -m ldsim ARGS`` from the checkout; ``doc`` is stdout parsed as a JSON object."""
    argv = [sys.executable, "-m", "ldsim", *args]
    env = {**_env(), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=_TIMEOUT, check=False)
    doc: dict[str, Any] | None
    try:
        loaded = json.loads(proc.stdout)
        doc = loaded if isinstance(loaded, dict) else None
    except json.JSONDecodeError:
        doc = None
    return CliResult(argv, proc.returncode, proc.stdout, proc.stderr, doc)


# --------------------------------------------------------------------------------------------
# A world: host + bases + snaps + both layouts


@dataclass(frozen=True)
class Origin:
    """Where a file the real loader opened comes from: its realm and its canonical path inside
    that realm's source tree (payload ``SNAP:/lib/x``, base ``BASE:/usr/lib/...``, host)."""

    realm: str
    where: str


@dataclass
class World:
    host: Path
    bases: dict[str, Path]
    snaps: dict[str, SnapFixture]
    classic: Path
    strict: dict[str, Path]
    """base name -> strict layout with that base as the root."""
    _real: dict[tuple[str, str, str, str], OracleResult] = field(default_factory=dict)

    def layout(self, snap: SnapFixture, view: str) -> Path:
        return self.classic if view == "classic" else self.strict[snap.base]

    def real(self, snap: str, app: str, view: str,
             env: Mapping[str, str] | None = None) -> OracleResult:
        """The real loader (trace mode, chroot of the physical layout), cached. ``env`` is the
        program's environment (default: the snap's own, :attr:`SnapFixture.env`)."""
        s = self.snaps[snap]
        variables = dict(s.env if env is None else env)
        key = (snap, app, view, json.dumps(variables, sort_keys=True))
        if key not in self._real:
            self._real[key] = run_real_loader(self.layout(s, view), s.program(app),
                                              env=variables)
        return self._real[key]

    @functools.cached_property
    def _files(self) -> dict[tuple[int, int], Origin]:
        """(device, inode) of every file of the source trees -> its origin. The layouts are
        hard links, so a file the loader opened is found here by identity, wherever the layout
        put it."""
        trees: list[tuple[str, str, Path]] = [("host", "host", self.host)]
        trees += [("base", name, path) for name, path in self.bases.items()]
        trees += [("payload", name, s.path) for name, s in self.snaps.items()]
        out: dict[tuple[int, int], Origin] = {}
        for realm, label, top in trees:
            for dirpath, _dirs, files in os.walk(top):
                for f in files:
                    p = Path(dirpath, f)
                    if not p.is_symlink():
                        st = p.stat()
                        where = f"{label}:/{p.relative_to(top)}"
                        out.setdefault((st.st_dev, st.st_ino), Origin(realm, where))
        return out

    def origin(self, snap: SnapFixture, view: str, path: str) -> Origin:
        """The realm and source file of ``path`` as the loader opened it in ``view``."""
        layout = self.layout(snap, view)
        real = realpath_in_root(layout, path)
        st = (layout / real.lstrip("/")).stat()
        try:
            return self._files[(st.st_dev, st.st_ino)]
        except KeyError:
            raise AssertionError(f"{path} ({real} in {layout}) is in no source tree") from None

    def explain(self, snap: str, app: str, view: str, *extra: str, payload: Path | None = None,
                base: Path | None = None) -> CliResult:
        s = self.snaps[snap]
        return run_ldsim_cli(
            "explain", "--json", "--snap", str(payload or s.path),
            "--base", str(base or self.bases[s.base]), "--host", str(self.host),
            "--confinement", view, "--app", app, *extra)

    def compare(self, snap: str, *extra: str, payload: Path | None = None,
                base: Path | None = None) -> CliResult:
        s = self.snaps[snap]
        return run_ldsim_cli(
            "compare", "--json", "--snap", str(payload or s.path),
            "--base", str(base or self.bases[s.base]), "--host", str(self.host), *extra)


def build_synthetic_world(top: Path) -> World:
    host = build_host(top / "host").path
    bases = {BASE_NAME: build_base(top / "bases" / BASE_NAME).path,
             BASE26: build_base(top / "bases" / BASE26, BASE26, cache_only_dir=True).path,
             BASE20: build_base(top / "bases" / BASE20, BASE20, absolute_loader=True).path}
    snaps = build_synthetic_snaps(top / "snaps")
    classic = classic_layout(top / "classic", host, bases, snaps.values())
    strict = {b: strict_layout(top / f"strict-{b}", host, b, bases, snaps.values())
              for b in bases}
    return World(host, bases, snaps, classic, strict)


# --------------------------------------------------------------------------------------------
# Real Debian packages

DEBIAN_PAYLOAD_PACKAGES: Final = ("zstd", "liblz4-1", "liblzma5")
DEBIAN_BASE_PACKAGES: Final = ("libc6", "zlib1g")
DEBIAN_HOST_SONAMES: Final = {"libz.so.1": "zlib1g", "liblzma.so.5": "liblzma5",
                               "liblz4.so.1": "liblz4-1"}
"""Libraries the realistic host has its own copies of (this machine's, else the package's)."""


class DebianUnavailable(Exception):
    """The packages could not be downloaded (no network, no apt lists): tests skip."""


def fetch_debs(packages: Iterable[str], cache: Path) -> dict[str, Path]:
    """``apt-get download`` each package into ``cache`` unless a ``PKG_*.deb`` is there."""
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for pkg in packages:
        found = sorted(cache.glob(f"{pkg}_*.deb"))
        if not found:
            proc = subprocess.run(
                ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg],
                capture_output=True, text=True, cwd=cache, env=_env(), timeout=300,
                check=False)
            found = sorted(cache.glob(f"{pkg}_*.deb"))
            if proc.returncode != 0 or not found:
                raise DebianUnavailable(f"apt-get download {pkg} failed ({proc.returncode}): "
                                        f"{(proc.stderr or proc.stdout).strip()[-300:]}")
        out[pkg] = found[-1]
    return out


def deb_version(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", deb, "Package", "Version"]).stdout.replace("\n", " ").strip()


def extract(deb: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", deb, dest])


def usr_merge(staging: Path, dest: Path) -> None:
    """Merge an unpacked tree into ``dest`` the usr-merged way (``lib/…`` to ``usr/lib/…``),
    then make absolute symlinks relative, as core-base's 031-fix-ld-so-symlink demands."""
    for dirpath, dirnames, filenames in os.walk(staging):
        rel = Path(dirpath).relative_to(staging)
        parts = rel.parts
        if parts and parts[0] in ("lib", "lib64", "bin", "sbin"):
            rel = Path("usr", *parts)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in [*filenames, *(d for d in dirnames if Path(dirpath, d).is_symlink())]:
            src = Path(dirpath, name)
            dst = dest / rel / name
            if src.is_symlink():
                target = os.readlink(src)
                if target.startswith("/"):
                    tparts = Path(target).parts[1:]
                    if tparts and tparts[0] in ("lib", "lib64", "bin", "sbin"):
                        tparts = ("usr", *tparts)
                    target = os.path.relpath(Path("/", *tparts), Path("/", rel))
                if os.path.lexists(dst):
                    dst.unlink()
                os.symlink(target, dst)
            else:
                shutil.copy2(src, dst)


def build_debian_base(path: Path, debs: Mapping[str, Path], name: str = BASE_NAME) -> Root:
    staging = path.parent / f".{path.name}-debs"
    for pkg in DEBIAN_BASE_PACKAGES:
        extract(debs[pkg], staging / pkg)
    base = Root(path, base=False)
    for pkg in DEBIAN_BASE_PACKAGES:
        usr_merge(staging / pkg, base.path)
    base.remove("/usr/share")
    finish_base(base, name)
    return base


def build_debian_snap(parent: Path, debs: Mapping[str, Path], base: str = BASE_NAME) -> SnapFixture:
    """``zstd`` from Debian, with liblz4 and liblzma staged in the payload (libz and libc come
    from the base). ``usr/bin/zstd`` is patched the way Snapcraft's ``enable-patchelf`` patches a
    core22 classic snap (interpreter, RPATH with ``$ORIGIN`` entries then the base dir; the
    libraries get the base dir only); ``usr/bin/zstd-unpatched`` is the Debian binary as is."""
    p = Root(parent / "zstd", base=False)
    for pkg in DEBIAN_PAYLOAD_PACKAGES:
        extract(debs[pkg], p.path)
    for junk in ("/usr/share", "/usr/bin/pzstd", "/usr/bin/zstdgrep", "/usr/bin/zstdless"):
        p.remove(junk)
    p.copy("/usr/bin/zstd", "/usr/bin/zstd-unpatched")
    libdir = libdir_of(base)
    patch_elf(p.host("/usr/bin/zstd"), interpreter=interp_of(base),
              rpath=f"$ORIGIN/../../lib/{TRIPLET}:$ORIGIN/../lib/{TRIPLET}:{libdir}")
    for guest in (f"/lib/{TRIPLET}", f"/usr/lib/{TRIPLET}"):
        for lib in sorted(p.host(guest).iterdir()):
            if not lib.is_symlink() and ".so" in lib.name:
                patch_elf(lib, rpath=libdir)
    apps = {"zstd": "usr/bin/zstd", "unpatched": "usr/bin/zstd-unpatched"}
    p.write("/meta/snap.yaml", snap_yaml("zstd", base, "classic", apps))
    return SnapFixture("zstd", p.path, base, "classic", apps,
                       about="Debian zstd, staged liblz4/liblzma, libc6+zlib1g base")


def build_debian_world(top: Path, cache: Path) -> tuple[World, list[str]]:
    """The realistic fixture; returns it and the ``Package Version`` of every .deb used.
    Raises :class:`DebianUnavailable` when the packages cannot be downloaded."""
    debs = fetch_debs((*DEBIAN_PAYLOAD_PACKAGES, *DEBIAN_BASE_PACKAGES), cache)
    host_root = build_host(top / "host")
    libdir = f"/usr/lib/{TRIPLET}"
    for soname, pkg in DEBIAN_HOST_SONAMES.items():
        if not copy_machine_lib(host_root, soname, libdir):
            staging = top / f".host-{pkg}"
            extract(debs[pkg], staging)
            real = next(staging.rglob(soname)).resolve()
            shutil.copy2(real, host_root.host(f"{libdir}/{real.name}"))
            host_root.symlink(f"{libdir}/{soname}", real.name)
    host_root.ldconfig()
    host = host_root.path
    bases = {BASE_NAME: build_debian_base(top / "bases" / BASE_NAME, debs).path}
    snap = build_debian_snap(top / "snaps", debs)
    snaps = {snap.name: snap}
    classic = classic_layout(top / "classic", host, bases, snaps.values())
    strict = {BASE_NAME: strict_layout(top / "strict", host, BASE_NAME, bases, snaps.values())}
    return World(host, bases, snaps, classic, strict), [deb_version(d) for d in debs.values()]


@functools.cache
def squashfs_reader_present() -> bool:
    """Whether ldsim can read .snap files yet (``ldsim/fs/squashfs.py``)."""
    return (REPO / "ldsim" / "fs" / "squashfs.py").is_file()
