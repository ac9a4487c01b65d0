#!/usr/bin/env python3
"""Build a Debian 12 root of another architecture for ``scripts/compare_root.py``.

    python scripts/make_foreign_root.py i386  /var/cache/ldsim-roots/bookworm-i386
    python scripts/make_foreign_root.py arm64 /var/cache/ldsim-roots/bookworm-arm64

Both roots hold the same packages (debootstrap's default set plus :data:`DEFAULT_INCLUDE`,
chosen for their many shared libraries and plugins), so their figures can be compared.

i386
    ``debootstrap --arch=i386`` runs both stages natively: an x86-64 kernel runs i386
    programs, so dpkg configures every package and its ``ldconfig`` trigger writes
    ``/etc/ld.so.cache`` exactly as on a real i386 machine.

arm64
    Without binfmt_misc the second stage cannot run (its shell execs arm64 programs, and
    qemu-user does not intercept ``execve``). The root is assembled instead:
    ``debootstrap --foreign`` downloads every package and unpacks the required ones (and
    merges ``/usr``), this script unpacks the others it downloaded with ``dpkg-deb
    --fsys-tarfile | tar --keep-directory-symlink -x`` (what debootstrap itself does), copies
    ``qemu-aarch64-static`` into ``/usr/bin`` and runs the root's own ``/sbin/ldconfig`` under
    it. No maintainer script runs (alternatives, generated configuration), which does not
    change what the loader sees: the libraries, their symlinks, ``/etc/ld.so.conf.d`` and
    the cache made by the arm64 ``ldconfig`` are all there.

Idempotent: a finished root carries ``.ldsim-root.json`` (its recipe); a root whose recipe
matches is left alone, any other existing ``DIR`` is refused unless ``--force`` (which
replaces it once the new root is complete). The work
happens in ``DIR.partial`` (removed first if a previous run was interrupted) and in a
private mount namespace (``unshare --mount``), so nothing stays mounted if it fails; the
finished root is renamed to ``DIR``.

Exit status: 0 built or already there, 1 the build failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# debootstrap's resolver ignores virtual packages: gdb's libsource-highlight4v5 depends on
# libboost-regex1.74.0-icu72, provided by libboost-regex1.74.0, which must be named.
# openjdk: libraries outside the cache's directories, found through RUNPATH $ORIGIN/...;
# imagemagick, gstreamer: hundreds of plugins, traced as `ldd PLUGIN` does. dbus-x11
# provides the dbus-session-bus that gstreamer's dconf-service needs (see above).
DEFAULT_INCLUDE: tuple[str, ...] = ("openssh-client", "curl", "python3", "gdb", "git",
                                    "perl", "vim-nox", "rsync", "gnupg",
                                    "libboost-regex1.74.0", "openjdk-17-jre-headless",
                                    "imagemagick", "gstreamer1.0-plugins-good", "dbus-x11")
STAMP = ".ldsim-root.json"
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Arch:
    name: str
    loader: str  # the glibc loader of the arch (PT_INTERP of its programs)
    qemu: str | None  # qemu-user binary needed to run the arch's programs here, if any


ARCHES: dict[str, Arch] = {
    "i386": Arch("i386", "/lib/ld-linux.so.2", None),
    "arm64": Arch("arm64", "/lib/ld-linux-aarch64.so.1", "qemu-aarch64-static"),
}


@dataclass(frozen=True)
class Recipe:
    arch: str
    suite: str
    mirror: str
    include: tuple[str, ...]
    method: str
    version: int = RECIPE_VERSION


def say(msg: str) -> None:
    print(f"make_foreign_root: {msg}", flush=True)


def run(argv: Sequence[str], **kwargs: object) -> None:
    say("$ " + " ".join(argv))
    subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]


def read_stamp(root: Path) -> dict[str, object] | None:
    try:
        doc = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def recipe_of(doc: dict[str, object]) -> dict[str, object]:
    keys = {"arch", "suite", "mirror", "include", "method", "version"}
    return {k: (list(v) if isinstance(v, (list, tuple)) else v)
            for k, v in doc.items() if k in keys}


def safe_rmtree(path: Path) -> None:
    """Remove ``path``; refuse if anything is still mounted below it."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        mounted = [line.split()[1] for line in fh if line.split()[1].startswith(prefix)]
    if mounted:
        raise SystemExit(f"make_foreign_root: {path} still has mounts ({', '.join(mounted)}); "
                         "unmount them first")
    say(f"removing {path}")
    shutil.rmtree(path)


def tools_missing(arch: Arch) -> list[str]:
    tools = ["debootstrap", "unshare", "chroot", "dpkg-deb", "tar"]
    if arch.qemu:
        tools.append(arch.qemu)
    return [t for t in tools if shutil.which(t) is None]


def debootstrap(arch: Arch, work: Path, recipe: Recipe) -> None:
    argv = ["unshare", "--mount", "--propagation", "private", "debootstrap",
            f"--arch={arch.name}", f"--include={','.join(recipe.include)}"]
    if arch.qemu:
        argv.append("--foreign")
    run([*argv, recipe.suite, str(work), recipe.mirror])


def assemble(arch: Arch, work: Path) -> None:
    """Unpack what ``debootstrap --foreign`` downloaded, then run the root's ldconfig."""
    assert arch.qemu is not None
    debpaths = work / "debootstrap" / "debpaths"
    debs: list[Path] = []
    for line in debpaths.read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            debs.append(work / parts[1].lstrip("/"))
    say(f"unpacking {len(debs)} packages into {work}")
    for deb in debs:
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                              capture_output=True).stdout
        subprocess.run(["tar", "--keep-directory-symlink", "-xf", "-", "-C", str(work)],
                       input=data, check=True)
    qemu = shutil.which(arch.qemu)
    assert qemu is not None
    dest = work / "usr" / "bin" / arch.qemu
    say(f"copying {qemu} to {dest}")
    shutil.copy2(qemu, dest)
    run(["chroot", str(work), f"/usr/bin/{arch.qemu}", "/sbin/ldconfig"])
    say("removing the downloaded packages (/debootstrap, /var/cache/apt/archives/*.deb)")
    shutil.rmtree(work / "debootstrap")
    for deb in (work / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        deb.unlink()


def du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            total += st.st_blocks * 512
    return total


def build(arch_name: str, root: Path, *, include: Sequence[str], suite: str, mirror: str,
          force: bool) -> int:
    arch = ARCHES[arch_name]
    recipe = Recipe(arch.name, suite, mirror, tuple(include),
                    "debootstrap --foreign + dpkg-deb -x + ldconfig under qemu" if arch.qemu
                    else "debootstrap")
    wanted = recipe_of(asdict(recipe))
    if root.exists():
        stamp = read_stamp(root)
        if stamp is not None and recipe_of(stamp) == wanted:
            say(f"{root}: already built ({stamp.get('built')}, {arch.name}, "
                f"{', '.join(include)}); nothing to do")
            return 0
        if not force:
            why = "was built with another recipe" if stamp else "was not built by this script"
            print(f"make_foreign_root: {root} exists and {why}; give --force to rebuild it",
                  file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("make_foreign_root: debootstrap and chroot need root", file=sys.stderr)
        return 2
    missing = tools_missing(arch)
    if missing:
        print(f"make_foreign_root: missing tools: {' '.join(missing)} "
              "(apt-get install debootstrap qemu-user-static)", file=sys.stderr)
        return 2
    work = root.with_name(root.name + ".partial")
    if work.exists():
        safe_rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        debootstrap(arch, work, recipe)
        if arch.qemu:
            assemble(arch, work)
    except subprocess.CalledProcessError as exc:
        print(f"make_foreign_root: failed: {exc}; the partial root stays in {work}",
              file=sys.stderr)
        return 1
    seconds = time.monotonic() - start
    doc = {**asdict(recipe), "include": list(recipe.include),
           "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "seconds": round(seconds, 1), "loader": arch.loader}
    (work / STAMP).write_text(json.dumps(doc, indent=2) + "\n")
    if root.exists():  # --force: the old root goes only once the new one is complete
        safe_rmtree(root)
    work.rename(root)
    say(f"{root}: built in {seconds:.0f} s, {du(root) / 2**20:.0f} MiB")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Build a Debian root of another architecture (i386 natively with "
        "debootstrap, arm64 assembled from debootstrap --foreign and ldconfig under qemu) "
        "for scripts/compare_root.py.",
        epilog="Exit status: 0 built or already there, 1 the build failed, 2 bad usage.")
    p.add_argument("arch", choices=sorted(ARCHES), help="Debian architecture")
    p.add_argument("dir", type=Path, help="where the root goes (outside the repository)")
    p.add_argument("--include", default=",".join(DEFAULT_INCLUDE),
                   help="packages added to debootstrap's default set, comma-separated "
                   f"(default: {','.join(DEFAULT_INCLUDE)})")
    p.add_argument("--suite", default=SUITE, help=f"Debian suite (default: {SUITE})")
    p.add_argument("--mirror", default=MIRROR, help=f"Debian mirror (default: {MIRROR})")
    p.add_argument("--force", action="store_true",
                   help="remove an existing DIR that was not built with this recipe")
    args = p.parse_args(argv)
    include = [x for x in args.include.split(",") if x]
    return build(args.arch, args.dir.absolute(), include=include, suite=args.suite,
                 mirror=args.mirror, force=args.force)


if __name__ == "__main__":
    sys.exit(main())
