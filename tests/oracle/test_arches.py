"""The glibc recipes on every other architecture snaps ship for (i386, arm64, armhf, ppc64el,
s390x, riscv64), and musl's on arm64: the real loader of each architecture, run under
qemu-user (i386: natively) in a chroot, against ldsim.

How the roots are made (``rootfs-fixtures/crossroot.py``): Debian 12's ``libc6:ARCH`` of this
host's glibc version (riscv64: ``libc6-riscv64-cross``, glibc 2.36 too) in Debian's multiarch
layout, programs from Debian's cross compilers. Every ``/etc/ld.so.cache`` here is written by
the architecture's **own** ``ldconfig`` (``libc-bin:ARCH``; riscv64: Debian 13's) run inside
the chroot under qemu, because this machine's ``ldconfig`` refuses foreign libraries. Each
architecture's base root is built once per session and copied for every test.

The real loader is asked the recipe's question (``LD_TRACE_LOADED_OBJECTS=1
LD_DEBUG=libs,files``) with the emulated CPU of ``rootfs-fixtures/arches.py``, and ldsim gets
that CPU's measured ``--hwcaps``, ``--platform`` (empty when the loader gets no AT_PLATFORM)
and ``--legacy-hwcaps``. ``expect`` first checks the real loader against the expected block
(a fixture mistake is not blamed on ldsim), then ``compare`` checks ldsim: objects in order
with name, path and ``via``, unresolved names, the fatal error, the exit status and the
LD_DEBUG trail. ``test_*_as_measured`` keep the table of ``arches.py`` honest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crossroot
import pytest
from arches import ARCHES, Arch
from crossroot import CrossMuslRoot, CrossRoot, OracleUnavailable, compare, run_real_loader
from glibcroot import expect

pytestmark = pytest.mark.oracle

ARCH_NAMES = list(ARCHES)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def xroot(arch: str, cross_bases: Callable[[str], CrossRoot], tmp_path: Path) -> CrossRoot:
    """A fresh copy of ``arch``'s base root (ld.so, libc, no cache yet; ``conftest.py`` builds
    it once per session)."""
    return cross_bases(arch).clone(tmp_path / "root")


def libc_line(a: Arch, via: str = "default") -> str:
    return f"libc.so.6 => {a.libdir}/libc.so.6  # {via}"


def interp_line(a: Arch) -> str:
    return f"{a.interp}  # interpreter"


def check(
    xroot: CrossRoot,
    exe: str,
    *lines: str,
    libc_via: str = "default",
    after: tuple[str, ...] = (),
    **run: Any,
) -> None:
    """Run the real loader on ``exe`` (``run``: :func:`run_real_loader`'s options), expect the
    listing ``lines``, then libc (found by ``libc_via``) and the loader, then ``after``; then
    compare ldsim with it."""
    real = run_real_loader(xroot, exe, **run)
    listing = [*lines, libc_line(xroot.arch, libc_via), interp_line(xroot.arch), *after]
    expect(real, "\n".join(listing))
    compare(real, xroot)


# --------------------------------------------------------------------------------------------
# The table of arches.py


AUXV_C = r"""
#include <stdio.h>
#include <elf.h>
#include <sys/auxv.h>
int main(void) {
    const char *p = (const char *)getauxval(AT_PLATFORM);
    unsigned long v[2], hw = 0, hw2 = 0;
    FILE *f = fopen("/proc/self/auxv", "rb");
    while (f && fread(v, sizeof v, 1, f) == 1 && v[0] != AT_NULL) {
        if (v[0] == AT_HWCAP) hw = v[1];
        if (v[0] == AT_HWCAP2) hw2 = v[1];
    }
    printf("%s %#lx %#lx %#lx\n", p ? p : "-", hw, hw2, getauxval(AT_HWCAP));
    return 0;
}
"""


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_auxv_as_measured(xroot: CrossRoot, arch: str) -> None:
    """AT_PLATFORM, AT_HWCAP and AT_HWCAP2 a program of the architecture gets (under qemu with
    the table's ``-cpu``; i386 natively) are the table's."""
    a = xroot.arch
    xroot.mkdir("/proc")
    xroot.compile("/bin/auxv", AUXV_C)
    proc = crossroot.run_guest(xroot, "/bin/auxv")
    assert proc.returncode == 0, proc.stderr
    plat, hwcap, hwcap2, glibc_hwcap = proc.stdout.split()
    assert (None if plat == "-" else plat) == a.platform
    if a.qemu is None:  # i386 natively: the raw values are this CPU's and kernel's
        assert int(hwcap, 16) & (1 << 26), "no SSE2 in CPUID.1:EDX?"
        assert int(glibc_hwcap, 16) == 0x1  # glibc keeps HWCAP_X86_SSE2 only
    else:
        assert (int(hwcap, 16), int(hwcap2, 16)) == (a.at_hwcap, a.at_hwcap2)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_subdirectories_as_measured(xroot: CrossRoot, arch: str) -> None:
    """The hwcaps subdirectories the real loader tries in an RPATH directory, in order, are
    the table's (``Arch.subdirs``); ``ld.so --help`` lists the same ones as searched."""
    a = xroot.arch
    xroot.mkexe("/t/bin/exe", rpath="/t/D", needed=["libnone.so"])
    real = run_real_loader(xroot, "/t/bin/exe")
    m = re.search(r"search path=(\S*)\t\t\(RPATH from file /t/bin/exe\)", real.stderr)
    assert m is not None, real.stderr
    assert m[1].split(":") == [f"/t/D/{s}".rstrip("/") for s in a.subdirs()]
    helps = crossroot.run_guest(xroot, a.interp, "--help").stdout
    searched = re.findall(r"^  (\S+) \((?:AT_PLATFORM; )?supported, searched\)$", helps, re.M)
    legacy = ["tls", *([a.platform] if a.platform else []), *a.legacy_hwcaps]
    assert sorted(searched) == sorted([*a.glibc_hwcaps, *legacy])


# --------------------------------------------------------------------------------------------
# Search lists (spec D.1 S4, S5, S6)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_rpath(xroot: CrossRoot, arch: str) -> None:
    xroot.mklib("/t/D1/liba.so", "liba.so")
    xroot.mkexe("/t/bin/exe", rpath="/t/D1", needed=["liba.so"])
    check(xroot, "bin/exe", "liba.so => /t/D1/liba.so  # rpath", cwd="/t")


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_runpath_not_inherited(xroot: CrossRoot, arch: str) -> None:
    """S6: the program's DT_RUNPATH finds liba, not liba's own dependency libb."""
    xroot.mklib("/t/D/libb.so", "libb.so")
    xroot.mklib("/t/D/liba.so", "liba.so", needed=["libb.so"])
    xroot.mkexe("/t/bin/exe", runpath="/t/D", needed=["liba.so"])
    check(
        xroot,
        "bin/exe",
        "liba.so => /t/D/liba.so  # runpath",
        after=("libb.so => not found",),
        cwd="/t",
    )


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_rpath_inherited_along_the_chain(xroot: CrossRoot, arch: str) -> None:
    """S4b: exe (RPATH D1) → liba (RPATH D2) → libb → libcc, found through the program's
    RPATH after liba's."""
    a = xroot.arch
    xroot.mklib("/t/D1/libcc.so", "libcc.so")
    xroot.mklib("/t/D2/libb.so", "libb.so", needed=["libcc.so"])
    xroot.mklib("/t/D1/liba.so", "liba.so", rpath="/t/D2", needed=["libb.so"])
    xroot.mkexe("/t/bin/exe", rpath="/t/D1", needed=["liba.so"])
    real = run_real_loader(xroot, "bin/exe", cwd="/t")
    expect(
        real,
        f"""
        liba.so => /t/D1/liba.so  # rpath
        {libc_line(a)}
        libb.so => /t/D2/libb.so  # rpath
        {interp_line(a)}
        libcc.so => /t/D1/libcc.so  # rpath
        """,
    )
    compare(real, xroot)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_ld_library_path_before_runpath(xroot: CrossRoot, arch: str) -> None:
    """S5: LD_LIBRARY_PATH is searched before the program's RUNPATH."""
    xroot.mklib("/t/A/libp.so", "libp.so")
    xroot.mklib("/t/B/libp.so", "libp.so")
    xroot.mklib("/t/A/libq.so", "libq.so")
    xroot.mkexe("/t/bin/exe", runpath="/t/B", needed=["libp.so", "libq.so"])
    check(
        xroot,
        "bin/exe",
        "libp.so => /t/A/libp.so  # ld_library_path",
        "libq.so => /t/A/libq.so  # ld_library_path",
        cwd="/t",
        env={"LD_LIBRARY_PATH": "/t/A"},
    )


# --------------------------------------------------------------------------------------------
# ld.so.cache and the default directories (rules 7, 8)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_cache_only(xroot: CrossRoot, arch: str) -> None:
    """A library reachable only through ``/etc/ld.so.cache`` (its directory is in
    ``ld.so.conf.d``, in no search list). The cache is written by the architecture's own
    ``ldconfig`` (libc-bin:ARCH) under qemu in the chroot; ``ldconfig -p`` shows the entry
    flags that architecture's loader accepts, and libc.so.6 now comes from the cache too."""
    a = xroot.arch
    xroot.mklib("/t/cached/libk.so.1", "libk.so.1")
    xroot.write("/etc/ld.so.conf.d/t.conf", "/t/cached\n")
    xroot.mkexe("/t/bin/exe", needed=["libk.so.1"])
    xroot.ldconfig()
    printed = xroot.ldconfig_print()
    assert f"\tlibk.so.1 ({a.cache_flags}) => /t/cached/libk.so.1\n" in printed, printed
    check(
        xroot,
        "/t/bin/exe",
        "libk.so.1 => /t/cached/libk.so.1  # ld.so.cache",
        libc_via="ld.so.cache",
    )


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_default_directories(xroot: CrossRoot, arch: str) -> None:
    """No cache: the loader's built-in directories (``/lib/MULTIARCH``, ``/usr/lib/MULTIARCH``,
    ``/lib``, ``/usr/lib``), each with its hwcaps subdirectories."""
    a = xroot.arch
    xroot.mklib(f"/usr/lib/{a.multiarch}/libd1.so", "libd1.so")
    xroot.mklib("/usr/lib/libd2.so", "libd2.so")
    xroot.mkexe("/t/bin/exe", needed=["libd1.so", "libd2.so"])
    check(
        xroot,
        "/t/bin/exe",
        f"libd1.so => /usr/lib/{a.multiarch}/libd1.so  # default",
        "libd2.so => /usr/lib/libd2.so  # default",
    )


# --------------------------------------------------------------------------------------------
# Dynamic string tokens (rule 9)


ORIGIN_CASES = {
    # id: (explicit, expected libo path)
    "exec-via-symlink": (False, "/t/real/bin/../lib/libo.so"),
    "ldd-via-symlink": (True, "/t/lnk/../lib/libo.so"),
}


@pytest.mark.parametrize("case", list(ORIGIN_CASES))
@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_origin_of_the_main_program(xroot: CrossRoot, arch: str, case: str) -> None:
    """S9: under a kernel-style start the program's $ORIGIN is its real directory (qemu answers
    ``/proc/self/exe`` with the real path), under ``ld.so PROGRAM`` the path as given."""
    explicit, libo = ORIGIN_CASES[case]
    xroot.mklib("/t/real/lib/libo.so", "libo.so")
    xroot.mklib("/t/lib/libo.so", "libo.so")
    xroot.mkexe("/t/real/bin/exe", rpath="$ORIGIN/../lib", needed=["libo.so"])
    xroot.symlink("/t/lnk/exe", "../real/bin/exe")
    check(xroot, "/t/lnk/exe", f"libo.so => {libo}  # rpath", explicit=explicit)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_lib_and_platform_tokens(xroot: CrossRoot, arch: str) -> None:
    """``$LIB`` is Debian's ``lib/MULTIARCH``; ``$PLATFORM`` is AT_PLATFORM, and where the
    loader gets none (ppc64el, s390x under qemu; riscv64) the RPATH element is dropped."""
    a = xroot.arch
    xroot.mklib(f"/t/D/{a.dollar_lib}/libL.so", "libL.so")
    xroot.mklib(f"/t/D/{a.platform or '$PLATFORM'}/libP.so", "libP.so")
    xroot.mkexe(
        "/t/D/bin/exe", rpath="$ORIGIN/../$LIB:$ORIGIN/../$PLATFORM", needed=["libL.so", "libP.so"]
    )
    libp = f"libP.so => /t/D/bin/../{a.platform}/libP.so  # rpath" if a.platform else (
        "libP.so => not found"
    )
    check(
        xroot,
        "D/bin/exe",
        f"libL.so => /t/D/bin/../{a.dollar_lib}/libL.so  # rpath",
        libp,
        cwd="/t",
    )


# --------------------------------------------------------------------------------------------
# hwcaps subdirectories (rule 10)


def _positive_subdirs(a: Arch) -> list[str]:
    """Subdirectories to test one by one: every glibc-hwcaps level, the deepest legacy one,
    the platform and every hwcap name alone, and ``tls``."""
    out = [f"glibc-hwcaps/{h}" for h in a.glibc_hwcaps]
    legacy = a.legacy_subdirs()
    out += [legacy[0], *([a.platform] if a.platform else []), *a.legacy_hwcaps, "tls"]
    return list(dict.fromkeys(out))


NEGATIVE_SUBDIRS = {
    # known to glibc (or to x86-64), not searched for this architecture under its qemu CPU
    "i386": ("glibc-hwcaps/x86-64-v2", "x86_64", "i586"),
    "arm64": ("glibc-hwcaps/x86-64-v2", "atomics"),
    "armhf": ("glibc-hwcaps/x86-64-v2", "v8l", "tls/v8l"),
    "ppc64el": ("glibc-hwcaps/x86-64-v2", "power10", "tls/power10"),
    "s390x": ("glibc-hwcaps/x86-64-v2", "glibc-hwcaps/z14", "vxe2", "dfp", "z13"),
    "riscv64": ("glibc-hwcaps/x86-64-v2", "x86_64", "riscv64"),
}

SUBDIR_CASES = [
    pytest.param(name, sub, True, id=f"{name}-{sub}")
    for name, a in ARCHES.items()
    for sub in _positive_subdirs(a)
] + [
    pytest.param(name, sub, False, id=f"{name}-{sub}-not-searched")
    for name, subs in NEGATIVE_SUBDIRS.items()
    for sub in subs
]


@pytest.mark.parametrize(("arch", "subdir", "searched"), SUBDIR_CASES)
def test_library_only_in_a_subdirectory(
    xroot: CrossRoot, arch: str, subdir: str, searched: bool
) -> None:
    """libh.so exists only in ``D/SUBDIR`` (RPATH ``D``): found there when the loader searches
    that subdirectory under this CPU, else not found."""
    xroot.mklib(f"/t/D/{subdir}/libh.so", "libh.so")
    xroot.mkexe("/t/bin/exe", rpath="/t/D", needed=["libh.so"])
    libh = f"libh.so => /t/D/{subdir}/libh.so  # rpath" if searched else "libh.so => not found"
    check(xroot, "/t/bin/exe", libh)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_subdirectory_priority(xroot: CrossRoot, arch: str) -> None:
    """Copies of libh.so in every tested subdirectory and in D itself: the one first in the
    loader's order wins; the LD_LIBRARY_PATH directory gets the same subdirectories."""
    a = xroot.arch
    subs = _positive_subdirs(a)
    for sub in [*subs, ""]:
        xroot.mklib(f"/t/D/{sub}/libh.so".replace("//", "/"), "libh.so")
    xroot.mkexe("/t/bin/exe", needed=["libh.so"])
    first = next(s for s in a.subdirs() if s in subs)
    check(
        xroot,
        "/t/bin/exe",
        f"libh.so => /t/D/{first}/libh.so  # ld_library_path",
        env={"LD_LIBRARY_PATH": "/t/D"},
    )


# --------------------------------------------------------------------------------------------
# Candidates of another architecture (rule 11)


def _others(name: str) -> list[str]:
    """Libraries of other architectures to put first in the path: x86-64 (this machine's
    gcc), one of the other class or machine, and one of the other byte order."""
    second = "armhf" if name == "i386" else "i386"
    third = "arm64" if name == "s390x" else "s390x"
    return ["amd64", second, third]


CANDIDATE_CASES = [
    pytest.param(name, other, id=f"{name}-{other}-lib") for name in ARCHES for other in _others(name)
]


@pytest.mark.parametrize(("arch", "other"), CANDIDATE_CASES)
def test_library_of_another_architecture_is_skipped(
    xroot: CrossRoot, arch: str, other: str
) -> None:
    """RPATH ``D1:D2``, D1 holds libw.so built for ``other``, D2 the right one. Another class
    is skipped (``found_other_class``); so is another machine, and on Debian even another
    byte order: Debian's loader checks ``elf_machine_matches_host`` before the byte order
    (upstream 2.36 would abort with ``ELF file data encoding not ...-endian``; the machine
    number read in the wrong byte order never matches)."""
    xroot.mklib_foreign("/t/D1/libw.so", "libw.so", other)
    xroot.mklib("/t/D2/libw.so", "libw.so")
    xroot.mkexe("/t/bin/exe", rpath="/t/D1:/t/D2", needed=["libw.so"])
    check(xroot, "/t/bin/exe", "libw.so => /t/D2/libw.so  # rpath")


ABI_VARIANTS: dict[str, tuple[str, Callable[[int], int]]] = {
    # arch: (what, e_flags of the variant given the right one's)
    "armhf": ("soft-float (armel) EABI5", lambda f: (f & ~0x600) | 0x200),
    "riscv64": ("lp64 (soft-float) ABI", lambda f: f & ~0x6),
    "ppc64el": ("ELFv1 ABI", lambda f: (f & ~0x3) | 0x1),
}


@pytest.mark.parametrize("arch", list(ABI_VARIANTS))
def test_library_of_another_abi_is_skipped(xroot: CrossRoot, arch: str) -> None:
    """RPATH ``D1:D2``, D1's libs.so has the right class and machine but another ABI in
    ``e_flags``: skipped (on armhf Debian's loader skips a soft-float library silently;
    upstream's ``VALID_ELF_HEADER`` would abort with ``internal error``)."""
    _what, variant = ABI_VARIANTS[arch]
    xroot.mklib("/t/D1/libs.so", "libs.so")
    xroot.set_e_flags("/t/D1/libs.so", variant(xroot.e_flags("/t/D1/libs.so")))
    xroot.mklib("/t/D2/libs.so", "libs.so")
    xroot.mkexe("/t/bin/exe", rpath="/t/D1:/t/D2", needed=["libs.so"])
    check(xroot, "/t/bin/exe", "libs.so => /t/D2/libs.so  # rpath")


@pytest.mark.parametrize("arch", ["armhf"])
def test_soft_float_cache_entry_is_ignored(xroot: CrossRoot, arch: str) -> None:
    """armhf's ldconfig flags a soft-float library ``(libc6,soft-float)``; the hard-float
    loader passes over that cache entry (``_dl_cache_check_flags``)."""
    xroot.mklib("/t/cached/libk.so.1", "libk.so.1")
    xroot.set_e_flags("/t/cached/libk.so.1", ABI_VARIANTS[arch][1](xroot.e_flags(
        "/t/cached/libk.so.1")))
    xroot.write("/etc/ld.so.conf.d/t.conf", "/t/cached\n")
    xroot.mkexe("/t/bin/exe", needed=["libk.so.1"])
    xroot.ldconfig()
    assert "\tlibk.so.1 (libc6,soft-float) => /t/cached/libk.so.1\n" in xroot.ldconfig_print()
    check(xroot, "/t/bin/exe", "libk.so.1 => not found", libc_via="ld.so.cache")


# --------------------------------------------------------------------------------------------
# musl (spec D.4 M1, M7) on arm64


MUSL_ARCHES = ["i386", "arm64", "armhf", "ppc64el", "s390x"]


@pytest.fixture(scope="session")
def musl_ok() -> Callable[[str], None]:
    def check(name: str) -> None:
        reason = crossroot.unavailable_reason(name)
        if reason is not None:
            pytest.skip(reason)
        try:
            crossroot.musl_files(name)
        except OracleUnavailable as e:
            pytest.skip(str(e))

    return check


@pytest.fixture
def mroot(arch: str, musl_ok: Callable[[str], None], tmp_path: Path) -> CrossMuslRoot:
    """A musl root of ``arch`` with Debian's path file (``/lib/ARCH-linux-musl``,
    ``/usr/lib/ARCH-linux-musl``)."""
    musl_ok(arch)
    return CrossMuslRoot(tmp_path / "root", ARCHES[arch])


def _musl_libc(a: Arch) -> str:
    return f"libc.so => {a.musl_loader}"


@pytest.mark.parametrize("arch", MUSL_ARCHES)
def test_musl_ld_library_path_before_rpath(mroot: CrossMuslRoot, arch: str) -> None:
    """M1: musl searches LD_LIBRARY_PATH before the RPATH."""
    a = mroot.arch
    mroot.mmklib("/m/A/libx.so", "libx.so")
    mroot.mmklib("/m/B/libx.so", "libx.so")
    mroot.mmkexe("/m/bin/exe", rpath="/m/A", needed=["libx.so"])
    crossroot.check_musl(
        mroot,
        "bin/exe",
        f"""
        {a.musl_loader}
        libx.so => /m/B/libx.so  # ld_library_path
        {_musl_libc(a)}
        [rc=0]
        """,
        cwd="/m",
        env={"LD_LIBRARY_PATH": "/m/B"},
    )


@pytest.mark.parametrize("arch", MUSL_ARCHES)
def test_musl_rpath(mroot: CrossMuslRoot, arch: str) -> None:
    a = mroot.arch
    mroot.mmklib("/m/A/libx.so", "libx.so")
    mroot.mmklib("/m/A/liby.so", "liby.so", needed=["libx.so"])
    mroot.mmkexe("/m/bin/exe", rpath="/m/A", needed=["liby.so"])
    crossroot.check_musl(
        mroot,
        "bin/exe",
        f"""
        {a.musl_loader}
        liby.so => /m/A/liby.so  # rpath
        {_musl_libc(a)}
        libx.so => /m/A/libx.so  # rpath
        [rc=0]
        """,
        cwd="/m",
    )


@pytest.mark.parametrize("arch", MUSL_ARCHES)
def test_musl_path_file(mroot: CrossMuslRoot, arch: str) -> None:
    """M7: ``/etc/ld-musl-ARCH.path`` replaces the built-in directories: Debian's lists
    ``/usr/lib/ARCH-linux-musl``; ``/usr/lib`` is then not searched."""
    a = mroot.arch
    musl_dir = f"/usr/lib/{a.multiarch.replace('-gnu', '-musl')}"
    mroot.mmklib(f"{musl_dir}/libx.so", "libx.so")
    mroot.mmklib("/usr/lib/liby.so", "liby.so")
    mroot.mmkexe("/m/bin/exe", needed=["libx.so", "liby.so"])
    crossroot.check_musl(
        mroot,
        "/m/bin/exe",
        f"""
        {a.musl_loader}
        libx.so => {musl_dir}/libx.so  # default
        Error loading shared library liby.so: No such file or directory (needed by /m/bin/exe)
        {_musl_libc(a)}
        [rc=127]
        """,
    )


@pytest.mark.parametrize("arch", MUSL_ARCHES)
def test_musl_builtin_default_directories(
    arch: str, musl_ok: Callable[[str], None], tmp_path: Path
) -> None:
    """M7: without a path file musl searches ``/lib:/usr/local/lib:/usr/lib``."""
    musl_ok(arch)
    a = ARCHES[arch]
    r = CrossMuslRoot(tmp_path / "root", a, path_file=None)
    r.mmklib("/usr/local/lib/libx.so", "libx.so")
    r.mmklib("/usr/lib/liby.so", "liby.so")
    r.mmkexe("/m/bin/exe", needed=["libx.so", "liby.so"])
    crossroot.check_musl(
        r,
        "/m/bin/exe",
        f"""
        {a.musl_loader}
        libx.so => /usr/local/lib/libx.so  # default
        liby.so => /usr/lib/liby.so  # default
        {_musl_libc(a)}
        [rc=0]
        """,
    )
