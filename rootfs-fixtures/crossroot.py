"""Tiny root file systems of another architecture, and their real loaders run under qemu.

The foreign-architecture counterpart of ``glibcroot`` (and, for musl, of ``muslroot``): the
same recipes, builders and parsers, for the architectures of :mod:`arches` (i386, arm64,
armhf, ppc64el, s390x, riscv64).

Building (:class:`CrossRoot`)
    A chroot-able directory in Debian 12's multiarch layout for ``arch``: ``ld.so`` and
    ``libc.so.6`` in ``/lib/MULTIARCH``, the PT_INTERP symlink exactly as ``libc6:ARCH`` ships
    it (``/lib/ld-linux-aarch64.so.1 -> aarch64-linux-gnu/ld-linux-aarch64.so.1``; ppc64el's
    ``/lib64/ld64.so.2`` is absolute), ``/etc/ld.so.conf`` including ``ld.so.conf.d`` and an
    empty ``/proc``. Helper programs live in ``/.oracle``: ``env`` (a static x86-64 launcher,
    ``muslroot.LAUNCHER_C``), ``qemu-ARCH-static`` and the architecture's own ``ldconfig``.
    Programs and libraries are built with Debian's cross compiler (``aarch64-linux-gnu-gcc``
    against ``libc6-dev-arm64-cross``); glibcroot's ELF patchers (``retag``, ``addneeded``,
    ``set_interpreter``) work for either class and byte order.

Where the glibc files come from
    For i386, arm64, armhf, ppc64el and s390x: Debian 12's ``libc6:ARCH`` and
    ``libc-bin:ARCH`` of *this host's* glibc version (2.36-9+deb12u14 here), so the loader is
    the same source version as the x86-64 oracle's and the one a Debian system of that
    architecture runs. riscv64 is not a Debian 12 release architecture: its loader and libc are
    ``libc6-riscv64-cross``'s (glibc 2.36-8, built with Debian's paths) and its ``ldconfig``
    is Debian 13's ``libc-bin:riscv64`` (2.41; a static binary; the cache format and the
    riscv64 entry flags are the same as 2.36's). The ``.deb`` files are fetched with
    ``apt-get download`` through a *private* apt state (its own ``sources.list``, lists and
    package cache under :func:`cache_dir`, signatures checked with Debian's archive keyring),
    so the machine's dpkg architectures and apt lists are left alone; nothing is fetched
    again once the files are in the cache.

Making ``/etc/ld.so.cache`` (:meth:`CrossRoot.ldconfig`)
    This machine's ``ldconfig`` refuses other architectures' libraries (``unknown machine``),
    so the root's cache is written by the architecture's own ``ldconfig``, run inside the
    chroot under qemu (i386: natively): ``chroot ROOT /.oracle/env / -- /.oracle/qemu-ARCH-static
    -cpu MODEL /.oracle/ldconfig``.

Asking the real loader (:func:`run_real_loader`)
    ``unshare --mount --mount-proc=ROOT/proc chroot ROOT /.oracle/env CWD
    LD_TRACE_LOADED_OBJECTS=1 LD_DEBUG=libs,files [VAR=VALUE...] -- /.oracle/qemu-ARCH-static
    -cpu MODEL EXE`` (i386: ``... -- EXE``, the kernel runs it).

    * binfmt_misc is not used (not registered on this machine nor in CI): qemu is started
      explicitly and maps the program and its PT_INTERP the way the kernel would.
    * The variables are set by the static launcher *inside* the chroot: qemu-user-static
      ignores ``LD_*`` itself and hands its whole environment to the guest, and the host's
      ``unshare``/``chroot`` (dynamically linked) never see them. qemu's ``-E``/``-U``
      would do the same; the launcher also sets the working directory and works for i386.
    * ``$ORIGIN`` of the main program under qemu: glibc reads ``/proc/self/exe``; qemu answers
      that ``readlink`` with ``realpath()`` of the guest program it was given, which is the
      kernel's answer (symlinks resolved); ``test_arches.py`` checks it.
    * The output is glibc's, parsed by ``glibcroot.run_traced`` (so :class:`glibcroot.
      OracleResult`, ``expect``, ``expect_error``) and compared by :func:`compare`, which
      passes ldsim the measured CPU of :mod:`arches` (``--hwcaps``, ``--platform``,
      ``--legacy-hwcaps``).

musl (:class:`CrossMuslRoot`, :func:`run_real_musl`, :func:`check_musl`)
    Debian 12's ``musl:ARCH`` (the loader, ``/lib/ld-musl-ARCH.so.1``, and Debian's path file)
    and ``musl-dev:ARCH`` (crt files and a ``musl-gcc.specs`` whose paths are rewritten to the
    unpacked copy); programs are built with the glibc cross gcc and that specs file, as
    Debian's ``ARCH-linux-musl-gcc`` wrapper does. The run is muslroot's ``LOADER --list EXE``
    under qemu; ``muslroot.Expected``/``expect``/``compare`` check it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import platform
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import glibcroot
import muslroot
from arches import ARCHES, Arch
from glibcroot import OracleResult

ORACLE_DIR: Final = "/.oracle"
LAUNCHER: Final = muslroot.LAUNCHER
"""``/.oracle/env CWD [VAR=VALUE...] -- PROGRAM [ARGS...]`` (static x86-64)."""
QEMU: Final = f"{ORACLE_DIR}/qemu"
"""Where a root holds its ``qemu-ARCH-static``."""
LDCONFIG: Final = f"{ORACLE_DIR}/ldconfig"
"""Where a root holds its architecture's ``ldconfig``."""
CACHE_ENV: Final = "LDSIM_ORACLE_CACHE"
DEFAULT_CACHE: Final = Path("/var/cache/ldsim-oracle")
KEYRING: Final = "/usr/share/keyrings/debian-archive-keyring.gpg"
MIRROR: Final = "http://deb.debian.org/debian"
SECURITY_MIRROR: Final = "http://deb.debian.org/debian-security"
BOOKWORM_ARCHES: Final = ("i386", "arm64", "armhf", "ppc64el", "s390x")
"""Foreign architectures whose glibc and musl come from Debian 12 itself."""

_SANE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIMEOUT: Final = 120.0
_FETCH_TIMEOUT: Final = 600.0
_REQUIRED_TOOLS: Final = (
    "unshare", "chroot", "patchelf", "musl-gcc", "dpkg-deb", "dpkg-query", "apt-get", "gcc",
)


class OracleUnavailable(Exception):
    """The foreign oracle cannot run here (a tool or a package is missing): tests skip."""


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=_SANE_PATH)


def _run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = _TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a host tool; fail with its output when it fails (glibcroot's
    :func:`~glibcroot.run_tool`, this module's timeout)."""
    return glibcroot.run_tool(argv, cwd=cwd, timeout=timeout, errors="surrogateescape")


# --------------------------------------------------------------------------------------------
# Environment checks


@functools.cache
def unavailable_reason(arch_name: str) -> str | None:
    """Why the oracle cannot run ``arch_name``'s loader here (``None``: it can, as far as
    can be told without downloading anything; a failed download is reported later)."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "the foreign-architecture oracle needs Linux on x86_64"
    if os.geteuid() != 0:
        return "the foreign-architecture oracle needs root (chroot, mount namespaces)"
    arch = ARCHES[arch_name]
    tools = [*_REQUIRED_TOOLS, arch.gcc, *([arch.qemu] if arch.qemu else [])]
    missing = [t for t in tools if _which(t) is None]
    if missing:
        return (
            f"the {arch_name} oracle needs these tools: {', '.join(missing)} "
            "(scripts/check.sh installs them)"
        )
    if not os.path.isfile(KEYRING):
        return f"the foreign-architecture oracle needs {KEYRING} (debian-archive-keyring)"
    return None


def host_glibc_version() -> str:
    """This machine's ``libc6`` package version (``2.36-9+deb12u14``)."""
    return _run(["dpkg-query", "-W", "-f", "${Version}", "libc6"]).stdout.strip()


# --------------------------------------------------------------------------------------------
# Fetching and unpacking Debian packages (a private apt state in the cache)


def cache_dir() -> Path:
    """``$LDSIM_ORACLE_CACHE``, else ``/var/cache/ldsim-oracle`` (never in the checkout)."""
    path = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock on ``CACHE/.NAME.lock`` (parallel sessions share the cache)."""
    with open(cache_dir() / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_SUITES: Final = {
    # suite: (architectures, sources.list lines)
    "bookworm": (
        BOOKWORM_ARCHES,
        [
            f"deb [arch={{arches}} signed-by={KEYRING}] {MIRROR} bookworm main",
            f"deb [arch={{arches}} signed-by={KEYRING}] {MIRROR} bookworm-updates main",
            f"deb [arch={{arches}} signed-by={KEYRING}] {SECURITY_MIRROR} bookworm-security main",
        ],
    ),
    "trixie": (("riscv64",), [f"deb [arch={{arches}} signed-by={KEYRING}] {MIRROR} trixie main"]),
    # Debian 13's own amd64 packages (trixie_systemd.py: libsystemd-shared and its dlopen libs)
    "trixie-amd64": (("amd64",),
                     [f"deb [arch={{arches}} signed-by={KEYRING}] {MIRROR} trixie main"]),
}


def _apt_options(suite: str) -> list[str]:
    arches, lines = _SUITES[suite]
    base = cache_dir() / "apt" / suite
    for sub in ("lists/partial", "cache/archives/partial"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    sources = base / "sources.list"
    text = "".join(line.format(arches=",".join(arches)) + "\n" for line in lines)
    if not sources.is_file() or sources.read_text() != text:
        sources.write_text(text)
    return [
        "-q",
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", f"Dir::State::Lists={base / 'lists'}",
        "-o", f"Dir::Cache={base / 'cache'}",
        "-o", f"APT::Architectures={','.join(arches)}",
        "-o", "Acquire::Languages=none",
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip


def _apt_update(suite: str) -> None:
    proc = subprocess.run(
        ["apt-get", *_apt_options(suite), "update"],
        capture_output=True, text=True, env=glibcroot.host_env(), timeout=_FETCH_TIMEOUT, check=False,
    )  # fmt: skip
    # "Some index files failed to download. They have been ignored": a mirror caught mid-sync
    # (seen for a day on bookworm-security's i386, armhf and ppc64el indexes, "File has
    # unexpected size"); the suite's other indexes were fetched and a download may still find
    # its package there (an older build of it, if the host's came from that index)
    partial = "Some index files failed to download" in proc.stderr
    if proc.returncode != 0 and not partial:
        raise OracleUnavailable(
            f"apt-get update of the private {suite} apt state failed ({proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-400:]}"
        )
    (cache_dir() / "apt" / suite / "updated").touch()


def fetch_deb(package: str, arch: str, version: str | None = None, *, suite: str = "bookworm"
              ) -> Path:
    """``PACKAGE_VERSION_ARCH.deb`` in ``CACHE/debs`` (``apt-get download PACKAGE:ARCH[=V]``
    unless it is there; without ``version`` any cached version will do)."""
    debs = cache_dir() / "debs"
    debs.mkdir(exist_ok=True)
    pattern = f"{package}_{version.replace(':', '%3a') if version else '*'}_{arch}.deb"
    found = sorted(debs.glob(pattern))
    if found:
        return found[-1]
    spec = f"{package}:{arch}" + (f"={version}" if version else "")
    with _locked(f"apt-{suite}"):
        found = sorted(debs.glob(pattern))
        if found:
            return found[-1]
        lists = cache_dir() / "apt" / suite / "updated"
        for attempt in ("cached lists", "fresh lists"):
            if attempt == "fresh lists" or not lists.exists():
                _apt_update(suite)
            proc = subprocess.run(
                ["apt-get", *_apt_options(suite), "download", spec],
                capture_output=True, text=True, cwd=debs, env=glibcroot.host_env(),
                timeout=_FETCH_TIMEOUT, check=False,
            )  # fmt: skip
            found = sorted(debs.glob(pattern))
            if proc.returncode == 0 and found:
                return found[-1]
        raise OracleUnavailable(
            f"apt-get download {spec} ({suite}) failed ({proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-400:]}"
        )


def unpack(deb: Path) -> Path:
    """``dpkg-deb -x DEB`` into ``CACHE/x/<name of the .deb>`` (once)."""
    dest = cache_dir() / "x" / deb.name.removesuffix(".deb")
    if dest.is_dir():
        return dest
    with _locked("unpack"):
        if not dest.is_dir():
            tmp = dest.with_name(dest.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            _run(["dpkg-deb", "-x", deb, tmp])
            tmp.rename(dest)
    return dest


def deb_version(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip()


@dataclass(frozen=True)
class GlibcFiles:
    """The host paths of one architecture's glibc files, and where they came from."""

    ldso: Path
    libc: Path
    interp_target: str
    """The PT_INTERP symlink's target as the package ships it."""
    ldconfig: Path
    version: str
    """The loader's and libc's package version."""
    ldconfig_version: str


@functools.cache
def glibc_files(arch_name: str) -> GlibcFiles:
    """Fetch (once) and unpack the loader, libc and ``ldconfig`` of ``arch_name`` (see the
    module docstring for which packages); raises :class:`OracleUnavailable`."""
    arch = ARCHES[arch_name]
    if arch_name in BOOKWORM_ARCHES:
        want = host_glibc_version()
        try:
            libc6 = fetch_deb("libc6", arch_name, want)
            libc_bin = fetch_deb("libc-bin", arch_name, want)
        except OracleUnavailable:  # the archive moved on: the newest Debian 12 build
            libc6 = fetch_deb("libc6", arch_name)
            libc_bin = fetch_deb("libc-bin", arch_name)
        tree, bin_tree = unpack(libc6), unpack(libc_bin)
        files = GlibcFiles(
            ldso=tree / arch.ldso.lstrip("/"),
            libc=tree / arch.libdir.lstrip("/") / "libc.so.6",
            interp_target=os.readlink(tree / arch.interp.lstrip("/")),
            ldconfig=_first_file(bin_tree, ("sbin/ldconfig", "usr/sbin/ldconfig")),
            version=deb_version(libc6),
            ldconfig_version=deb_version(libc_bin),
        )
    else:
        cross = Path("/usr") / arch.triplet / "lib"
        pkg = f"libc6-{arch_name}-cross"
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", pkg],
            capture_output=True, text=True, env=glibcroot.host_env(), check=False,
        )  # fmt: skip
        if proc.returncode != 0 or not (cross / arch.ldso_name).is_file():
            raise OracleUnavailable(f"the {arch_name} oracle needs {pkg} (apt-get install {pkg})")
        libc_bin = fetch_deb("libc-bin", arch_name, suite="trixie")
        bin_tree = unpack(libc_bin)
        files = GlibcFiles(
            ldso=cross / arch.ldso_name,
            libc=cross / "libc.so.6",
            interp_target=f"{arch.multiarch}/{arch.ldso_name}",
            ldconfig=_first_file(bin_tree, ("sbin/ldconfig", "usr/sbin/ldconfig")),
            version=proc.stdout.strip(),
            ldconfig_version=deb_version(libc_bin),
        )
    banner = files.ldso.read_bytes()
    if b"stable release version 2.36." not in banner:
        raise OracleUnavailable(f"{files.ldso} is not glibc 2.36")
    return files


def _first_file(tree: Path, candidates: Sequence[str]) -> Path:
    for rel in candidates:
        if (tree / rel).is_file():
            return tree / rel
    raise OracleUnavailable(f"none of {list(candidates)} in {tree}")


# --------------------------------------------------------------------------------------------
# Running guest programs


def _install_helpers(root: glibcroot.Root, arch: Arch) -> None:
    """``/.oracle/env`` and (unless the kernel runs the architecture) ``/.oracle/qemu``."""
    root.mkdir(ORACLE_DIR)
    shutil.copy2(muslroot.launcher_binary(), root.host(LAUNCHER))
    if arch.qemu is not None:
        qemu = _which(arch.qemu)
        if qemu is None:
            raise OracleUnavailable(f"no {arch.qemu} (apt-get install qemu-user-static)")
        shutil.copy2(qemu, root.host(QEMU))


def guest_argv(arch: Arch, *argv: str) -> list[str]:
    """The command inside the chroot that runs the guest program ``argv`` of ``arch``."""
    if arch.qemu is None:
        return list(argv)
    return [QEMU, *(["-cpu", arch.qemu_cpu] if arch.qemu_cpu else []), *argv]


def host_argv(
    root: glibcroot.Root | str | os.PathLike[str],
    arch: Arch,
    argv: Sequence[str],
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> list[str]:
    """The host command that runs guest ``argv`` in a chroot of ``root`` (private /proc) with
    exactly the variables ``env`` in the working directory ``cwd``, as ``user`` if given."""
    return muslroot.launcher_argv(root, guest_argv(arch, *argv), cwd=cwd, env=env, user=user)


def run_guest(
    root: CrossRoot, *argv: str, cwd: str = "/", env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a guest program in ``root`` (not traced); its status, stdout and stderr."""
    return subprocess.run(
        host_argv(root, root.arch, argv, cwd=cwd, env=env),
        capture_output=True, text=True, errors="surrogateescape", env=glibcroot.host_env(),
        timeout=_TIMEOUT, check=False,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The glibc root builder


class CrossRoot(glibcroot.Root):
    """A temporary glibc root of ``arch``; every ``guest`` argument is a path inside it."""

    def __init__(self, path: str | os.PathLike[str], arch: Arch, *, base: bool = True) -> None:
        self.arch = arch
        super().__init__(path, base=base)

    def __repr__(self) -> str:
        return f"CrossRoot({str(self.path)!r}, {self.arch.name})"

    # -- glibcroot's hooks: its module functions and recipes work on this root -----------------

    @property
    def foreign_arch(self) -> Arch:
        return self.arch

    def _trace(
        self,
        exe: str,
        *,
        env: Mapping[str, str] | None,
        cwd: str,
        explicit: bool,
        ldso_args: Sequence[str],
        ldso: str | None,
        user: str | None,
    ) -> OracleResult:
        return run_real_loader(
            self, exe, env=env, cwd=cwd, explicit=explicit, ldso_args=ldso_args, ldso=ldso,
            user=user,
        )  # fmt: skip

    def _exec(
        self,
        exe: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str,
        user: str | None,
    ) -> glibcroot.ProgramResult:
        return run_program(self, exe, *args, env=env, cwd=cwd, user=user)

    def _ldsim_args(self, real: OracleResult, platform_name: str | None) -> list[str]:
        return ldsim_args_for(real, self.arch)

    def mklib_other_class(self, guest_out: str, soname: str) -> None:
        """A library of the other ELF class: arm64's is an armhf one, armhf's an arm64 one,
        i386's an x86-64 one (this machine's gcc); other 64-bit architectures get i386's."""
        other = {"i386": "amd64", "armhf": "arm64", "arm64": "armhf"}
        fallback = "i386" if self.arch.elf_class == 64 else "amd64"
        self.mklib_foreign(guest_out, soname, other.get(self.arch.name, fallback))

    def _make_base(self) -> None:
        a = self.arch
        files = glibc_files(a.name)
        self._make_layout()
        shutil.copy2(files.ldso, self.host(a.ldso))
        shutil.copy2(files.libc, self.host(f"{a.libdir}/libc.so.6"))
        self.symlink(a.interp, files.interp_target)
        _install_helpers(self, a)
        shutil.copy2(files.ldconfig, self.host(LDCONFIG))

    def clone(self, path: str | os.PathLike[str]) -> CrossRoot:
        """A copy of this root at ``path`` (symlinks kept as they are)."""
        shutil.copytree(self.path, path, symlinks=True)
        return CrossRoot(path, self.arch, base=False)

    # -- compiling -----------------------------------------------------------------------------

    def compile(self, guest_out: str, source: str, *gcc_args: str) -> None:
        """``TRIPLET-gcc -o OUT SOURCE.c ARGS`` (Debian's cross compiler for the arch)."""
        self.compile_with(self.arch.gcc, guest_out, source, *gcc_args)

    def mklib_foreign(self, guest_out: str, soname: str, other: str) -> None:
        """A shared library of another architecture: ``other`` is a name of :data:`ARCHES`
        or ``amd64`` (this machine's gcc)."""
        gcc = "gcc" if other == "amd64" else ARCHES[other].gcc
        self.compile_with(
            gcc, guest_out, glibcroot.lib_source(guest_out), "-shared", "-fPIC",
            f"-Wl,-soname,{soname}",
        )  # fmt: skip

    def e_flags(self, guest: str) -> int:
        """``e_flags`` of the ELF header (the ARM and RISC-V float ABI, the PowerPC64 ABI)."""
        data = self.read_bytes(guest)
        fmt, off = _e_flags_field(data)
        return int(struct.unpack_from(fmt, data, off)[0])

    def set_e_flags(self, guest: str, flags: int) -> None:
        """Overwrite ``e_flags``: e.g. mark an ARM EABI5 library soft-float (armel,
        ``EF_ARM_ABI_FLOAT_SOFT`` 0x200 instead of ``_HARD`` 0x400), a RISC-V one lp64
        (soft-float), a PowerPC64 one ELFv1."""
        data = bytearray(self.read_bytes(guest))
        fmt, off = _e_flags_field(data)
        struct.pack_into(fmt, data, off, flags)
        self.write(guest, bytes(data))

    # -- ldconfig ------------------------------------------------------------------------------

    def ldconfig(self, fmt: str | None = None, *args: str) -> str:
        """The architecture's own ``ldconfig [-c FMT] ARGS``, run inside the chroot (under
        qemu): writes the root's ``/etc/ld.so.cache``; returns its merged output."""
        argv = [LDCONFIG, *(["-c", fmt] if fmt is not None else []), *args]
        proc = _run(host_argv(self, self.arch, argv))
        return proc.stdout + proc.stderr


def _e_flags_field(data: bytes | bytearray) -> tuple[str, int]:
    """The struct format and offset of the ELF header's ``e_flags`` (either class, either
    byte order)."""
    order = ">" if data[5] == 2 else "<"
    return order + "I", (0x24 if data[4] == 1 else 0x30)


# --------------------------------------------------------------------------------------------
# The real loader


def run_real_loader(
    root: CrossRoot,
    exe: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    explicit: bool = False,
    ldso_args: Sequence[str] = (),
    ldso: str | None = None,
    user: str | None = None,
) -> OracleResult:
    """glibcroot's :func:`~glibcroot.run_real_loader` for a foreign root: the architecture's
    loader in trace mode with ``LD_DEBUG=libs,files`` on ``exe`` (through its PT_INTERP, or
    ``ldso [ldso_args] exe`` with ``explicit``), under qemu with the CPU of :mod:`arches`."""
    if "/" not in exe:
        raise ValueError(f"give the program with a slash (./{exe}), not a bare name: {exe!r}")
    ldso = ldso or root.arch.interp
    variables = dict(env or {})
    command = [ldso, *ldso_args, exe] if explicit else [exe]
    trace = {"LD_TRACE_LOADED_OBJECTS": "1", "LD_DEBUG": "libs,files", **variables}
    argv = host_argv(root, root.arch, command, cwd=cwd, env=trace, user=user)
    return glibcroot.run_traced(
        argv,
        root.path,
        exe,
        cwd=cwd,
        env=variables,
        explicit=explicit,
        ldso_args=ldso_args,
        ldso=ldso,
        timeout=_TIMEOUT,
        arch=root.arch,
    )


SUID_QEMU: Final = f"{ORACLE_DIR}/qemu-suid"
"""A set-uid-root copy of the root's qemu (see :func:`run_program`)."""


def run_program(
    root: CrossRoot,
    exe: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    user: str | None = None,
) -> glibcroot.ProgramResult:
    """glibcroot's :func:`~glibcroot.run_program` for a foreign root: really run ``exe`` (under
    qemu with the CPU of :mod:`arches`; i386 natively) with exactly the variables ``env``.

    Set-uid programs under qemu: the kernel execs qemu, not the program, so a set-uid program
    run as another ``user`` would get neither the owner's credentials nor ``AT_SECURE``. Debian
    registers qemu-user-static with binfmt_misc's ``C`` flag, with which the kernel takes the
    credentials (and ``AT_SECURE``) from the *program*; qemu passes its own ``AT_SECURE`` on
    to the guest. The oracle does the same without binfmt_misc: when ``user`` is given and
    ``exe`` is set-uid, qemu is started as a set-uid copy owned by the program's owner. Such a
    qemu is itself in secure mode: its static libc drops ``LD_PRELOAD``, ``LD_LIBRARY_PATH``
    and the other unsafe variables from the environment it hands on, so they are given to the
    guest with qemu's ``-E VAR=VALUE`` (as a real machine's kernel would pass them)."""
    argv = host_argv(root, root.arch, [exe, *args], cwd=cwd, env=env, user=user)
    if user is not None and root.arch.qemu is not None:
        guest = exe if exe.startswith("/") else os.path.join(cwd, exe)
        st = os.stat(root.host(root.realpath(guest)))
        if st.st_mode & 0o4000:
            suid = root.host(SUID_QEMU)
            if not suid.exists():
                shutil.copy2(root.host(QEMU), suid)
            os.chown(suid, st.st_uid, -1)
            suid.chmod(0o4755)
            argv = host_argv(root, root.arch, [exe, *args], cwd=cwd, user=user)
            at = argv.index(QEMU)
            options = [o for k, v in (env or {}).items() for o in ("-E", f"{k}={v}")]
            argv[at : at + 1] = [SUID_QEMU, *options]
    return glibcroot.run_command(argv, timeout=_TIMEOUT)


def ldsim_args_for(real: OracleResult, arch: Arch) -> list[str]:
    """ldsim options that pose ``real``'s question for a program of ``arch`` under the
    oracle's emulated CPU: the measured glibc-hwcaps levels, ``$PLATFORM`` (empty: none)
    and legacy hwcap names of :mod:`arches`."""
    args = ["--cwd", real.cwd] if real.cwd != "/" else []
    args += glibcroot.env_args(real.env)
    hwcaps = ",".join(arch.glibc_hwcaps) or "none"
    rest = list(real.ldso_args)
    while rest:
        opt = rest.pop(0)
        if opt == "--glibc-hwcaps-mask" and rest:
            mask = rest.pop(0).split(":")
            hwcaps = ",".join(h for h in arch.glibc_hwcaps if h in mask) or "none"
        else:
            raise ValueError(f"no ldsim option models ld.so {opt}")
    if real.explicit:
        if real.ldso != arch.interp:
            raise ValueError(f"ldsim models explicit invocation as {arch.interp} only")
        args += ["--invocation", "ldd"]
    return args + glibcroot.arch_cpu_args(arch, hwcaps)


def compare(
    real: OracleResult, root: CrossRoot, *, trail: bool = True, extra_args: Sequence[str] = ()
) -> glibcroot.LdsimResult:
    """:func:`glibcroot.compare` (objects, ``via``, unresolved names, fatal error, exit status,
    the LD_DEBUG trail) with the options of :func:`ldsim_args_for`."""
    return glibcroot.compare(
        real, root, ldsim_args=ldsim_args_for(real, root.arch), trail=trail, extra_args=extra_args
    )


# --------------------------------------------------------------------------------------------
# musl


@dataclass(frozen=True)
class MuslFiles:
    loader: Path
    """musl's ``libc.so`` (the loader), unpacked from ``musl:ARCH``."""
    libdir: Path
    """A directory holding the crt files, ``libc.a`` and ``libc.so`` to link against."""
    specs: Path
    """``musl-gcc.specs`` with its paths pointing at the unpacked ``musl-dev:ARCH``."""
    include: Path
    path_file_text: str
    """Debian's ``/etc/ld-musl-ARCH.path``."""
    version: str


@functools.cache
def musl_files(arch_name: str) -> MuslFiles:
    """Fetch (once) and unpack Debian 12's ``musl:ARCH`` and ``musl-dev:ARCH``."""
    if arch_name not in BOOKWORM_ARCHES:
        raise OracleUnavailable(f"Debian 12 has no musl:{arch_name}")
    arch = ARCHES[arch_name]
    musl_deb, dev_deb = fetch_deb("musl", arch_name), fetch_deb("musl-dev", arch_name)
    musl, dev = unpack(musl_deb), unpack(dev_deb)
    multi = arch.multiarch.replace("-gnu", "-musl")  # aarch64-linux-musl, arm-linux-musleabihf
    loader = musl / "lib" / multi / "libc.so"
    dev_lib = dev / "usr" / "lib" / multi
    work = cache_dir() / "musl-sysroot" / musl_deb.name.removesuffix(".deb")
    with _locked("unpack"):
        if not work.is_dir():
            tmp = work.with_name(work.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / "lib").mkdir(parents=True)
            for f in dev_lib.iterdir():
                if f.is_file() and f.name != "musl-gcc.specs":
                    shutil.copy2(f, tmp / "lib" / f.name)
            shutil.copy2(loader, tmp / "lib" / "libc.so")
            specs = (dev_lib / "musl-gcc.specs").read_text()
            specs = specs.replace(f"/usr/lib/{multi}", str(work / "lib"))
            specs = specs.replace(f"/usr/include/{multi}", str(dev / "usr" / "include" / multi))
            (tmp / "musl-gcc.specs").write_text(specs)
            tmp.rename(work)
    return MuslFiles(
        loader=loader,
        libdir=work / "lib",
        specs=work / "musl-gcc.specs",
        include=dev / "usr" / "include" / multi,
        path_file_text=(musl / arch.musl_path_file.lstrip("/")).read_text(),
        version=deb_version(musl_deb),
    )


class CrossMuslRoot(muslroot.MuslRoot):
    """A musl root of ``arch`` (Debian's ``musl:ARCH``): muslroot's builders (``mmklib``,
    ``mmkexe``), with the cross gcc and the unpacked specs file instead of ``musl-gcc``."""

    def __init__(
        self, path: str | os.PathLike[str], arch: Arch, *, path_file: str | None = ""
    ) -> None:
        """``path_file``: the content of ``/etc/ld-musl-ARCH.path`` (``""``: Debian's,
        ``None``: no file, so the loader uses its built-in ``/lib:/usr/local/lib:/usr/lib``)."""
        self.arch = arch
        self.files = musl_files(arch.name)
        glibcroot.Root.__init__(self, path, base=False)
        self.mkdir("/lib", "/usr/lib", "/etc", "/proc", "/bin")
        self.install_loader(arch.musl_loader)
        _install_helpers(self, arch)
        if path_file is not None:
            text = path_file or self.files.path_file_text
            for line in text.split():
                self.mkdir(line)
            self.write(arch.musl_path_file, text)

    def __repr__(self) -> str:
        return f"CrossMuslRoot({str(self.path)!r}, {self.arch.name})"

    def loader_file(self) -> Path:
        """``libc.so`` of the unpacked ``musl:ARCH``."""
        return self.files.loader

    def _musl_gcc(self, guest_out: str, source: str, args: Sequence[str]) -> None:
        out = self.host(guest_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        _run([self.arch.gcc, "-specs", self.files.specs, "-o", out, self._source(source), *args])


def run_real_musl(
    root: CrossMuslRoot,
    exe: str,
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
) -> muslroot.MuslRun:
    """muslroot's :func:`~muslroot.run_real_musl` under qemu: ``LOADER --list EXE`` in a chroot
    of ``root``, stdout and stderr merged, parsed into a :class:`muslroot.MuslRun`."""
    ldso = root.arch.musl_loader
    variables = dict(env or {})
    argv = host_argv(root, root.arch, [ldso, "--list", exe], cwd=cwd, env=variables)
    return muslroot.run_listing(argv, exe=exe, cwd=cwd, env=variables, ldso=ldso, timeout=_TIMEOUT)


def check_musl(
    root: CrossMuslRoot,
    exe: str,
    expected: str,
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
) -> tuple[muslroot.MuslRun, muslroot.LdsimResult]:
    """muslroot's :func:`~muslroot.check` for a foreign musl root: the real run must print the
    ``expected`` block, then ldsim must agree with it."""
    want = muslroot.Expected.parse(expected)
    real = run_real_musl(root, exe, cwd=cwd, env=env)
    muslroot.expect(real, want)
    sim = muslroot.run_ldsim(root, exe, cwd=cwd, env=env)
    muslroot.compare(real, sim, want.vias)
    return real, sim


__all__ = [
    "ARCHES",
    "LAUNCHER",
    "LDCONFIG",
    "QEMU",
    "CrossMuslRoot",
    "CrossRoot",
    "GlibcFiles",
    "MuslFiles",
    "OracleUnavailable",
    "cache_dir",
    "check_musl",
    "compare",
    "fetch_deb",
    "glibc_files",
    "guest_argv",
    "host_argv",
    "ldsim_args_for",
    "musl_files",
    "run_guest",
    "run_program",
    "run_real_loader",
    "run_real_musl",
    "unavailable_reason",
]
