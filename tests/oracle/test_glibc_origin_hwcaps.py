"""Spec D.1 S9 (dynamic string tokens and $ORIGIN, rule 9) and S10 (glibc-hwcaps and legacy
hwcap subdirectories, rule 10)."""

from __future__ import annotations

import glibcroot
import pytest
from glibcroot import Root, compare, expect, expect_error, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"


@pytest.fixture(scope="module")
def s9(module_root: Root) -> Root:
    r = module_root
    r.mkdir("/s9/real/bin", "/s9/real/lib", "/s9/lnk", "/s9/lib")
    r.mklib("/s9/real/lib/libo.so", "libo.so")
    r.mklib("/s9/lib/libo.so", "libo.so")
    r.mkexe("/s9/real/bin/exe", rpath="$ORIGIN/../lib", needed=["libo.so"])
    r.symlink("/s9/lnk/exe", "../real/bin/exe")
    return r


S9_ORIGIN_CASES = {
    # id: (cwd, exe, explicit, expected libo path)
    "ldd-via-symlink-absolute": ("/", "/s9/lnk/exe", True, "/s9/lnk/../lib/libo.so"),
    "exec-via-symlink": ("/", "/s9/lnk/exe", False, "/s9/real/bin/../lib/libo.so"),
    "ldd-via-relative-path": ("/s9/lnk", "./exe", True, "/s9/lnk/./../lib/libo.so"),
    "exec-via-relative-path": ("/s9/lnk", "./exe", False, "/s9/real/bin/../lib/libo.so"),
}


@pytest.mark.parametrize("case", list(S9_ORIGIN_CASES))
def test_s9_origin_of_the_main_program(s9: Root, case: str) -> None:
    """``$ORIGIN`` of the program: the path as given under ``ld.so``/ldd, the real directory
    (/proc/self/exe) under a kernel exec. (The last case is not a recipe; it follows from
    the same rule.)"""
    cwd, exe, explicit, libo = S9_ORIGIN_CASES[case]
    real = run_real_loader(s9, exe, cwd=cwd, explicit=explicit)
    expect(
        real,
        f"""
        libo.so => {libo}  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s9)


@pytest.mark.parametrize("libdep_in", ["L/real/dep", "L/dep"])
def test_s9_origin_of_a_library_reached_through_a_symlinked_dir(
    module_root: Root, libdep_in: str
) -> None:
    r = module_root
    b = f"/s9l-{libdep_in.replace('/', '_')}"
    r.mkdir(f"{b}/L/real/sub", f"{b}/L/real/dep", f"{b}/L/dep")
    r.symlink(f"{b}/L/libdir_link", "real/sub")
    r.mklib(f"{b}/{libdep_in}/libdep.so", "libdep.so")
    r.mklib(f"{b}/L/real/sub/libs.so", "libs.so", runpath="$ORIGIN/../dep", needed=["libdep.so"])
    r.mkexe(f"{b}/L/exe", rpath=f"{b}/L/libdir_link", needed=["libs.so"])
    real = run_real_loader(r, "L/exe", cwd=b)
    if libdep_in == "L/real/dep":  # the kernel applies ".." to the symlink's target
        listing = f"""
            libs.so => {b}/L/libdir_link/libs.so  # rpath
            {LIBC_DEFAULT}
            libdep.so => {b}/L/libdir_link/../dep/libdep.so  # runpath
            {INTERP}
            """
    else:
        listing = f"""
            libs.so => {b}/L/libdir_link/libs.so  # rpath
            {LIBC_DEFAULT}
            {INTERP}
            libdep.so => not found
            """
    expect(real, listing)
    compare(real, r)


def test_s9_lib_platform_curly_origin_unknown_token(module_root: Root) -> None:
    """``$LIB`` = lib/x86_64-linux-gnu (Debian), ``$PLATFORM`` = this CPU's platform string
    (x86_64 on the recipe's AMD machine), ``${ORIGIN}`` works, ``$FOO`` stays literal."""
    r = module_root
    plat, lib = r.platform_name, r.dollar_lib
    if plat is None:
        pytest.skip(f"{r.arch_name}: the loader gets no AT_PLATFORM under qemu-user")
    r.mkdir("/s9/D/bin", f"/s9/D/{lib}", f"/s9/D/{plat}", "/s9/D/curly", "/s9/D/$FOO")
    r.mklib(f"/s9/D/{lib}/libL.so", "libL.so")
    r.mklib(f"/s9/D/{plat}/libP.so", "libP.so")
    r.mklib("/s9/D/curly/libC.so", "libC.so")
    r.mklib("/s9/D/$FOO/libF.so", "libF.so")
    r.mkexe(
        "/s9/D/bin/exe",
        rpath="$ORIGIN/../$LIB:$ORIGIN/../$PLATFORM:${ORIGIN}/../curly:$ORIGIN/../$FOO",
        needed=["libL.so", "libP.so", "libC.so", "libF.so"],
    )
    real = run_real_loader(r, "D/bin/exe", cwd="/s9")
    expect(
        real,
        f"""
        libL.so => /s9/D/bin/../lib/x86_64-linux-gnu/libL.so  # rpath
        libP.so => /s9/D/bin/../{plat}/libP.so  # rpath
        libC.so => /s9/D/bin/../curly/libC.so  # rpath
        libF.so => /s9/D/bin/../$FOO/libF.so  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, r, platform_name=plat)


# -- S10 glibc-hwcaps and legacy subdirectories --------------------------------------------------

S10_COPIES = ["glibc-hwcaps/x86-64-v2", "tls", "x86_64", ""]


def s10_copies(r: Root) -> list[str | None]:
    """:data:`S10_COPIES` for the root's architecture: its lowest glibc-hwcaps level and its
    platform (``None`` where it has none)."""
    a = r.foreign_arch
    if a is None:
        return list(S10_COPIES)
    hwcaps = f"glibc-hwcaps/{a.glibc_hwcaps[-1]}" if a.glibc_hwcaps else None
    return [hwcaps, "tls", a.platform, ""]


@pytest.mark.parametrize("first", range(len(S10_COPIES)), ids=["v2", "tls", "x86_64", "plain"])
def test_s10_subdirectory_order(module_root: Root, first: int) -> None:
    """Copies of libh.so in D/glibc-hwcaps/x86-64-v2, D/tls, D/x86_64, D; the recipe deletes them
    one by one, here each step has its own D with the copies from ``first`` on. (Another
    architecture: its lowest glibc-hwcaps level and its platform instead.)"""
    if module_root.foreign_arch is None and "x86-64-v2" not in glibcroot.host_loader_info()[1]:
        pytest.skip("this CPU does not support x86-64-v2")
    copies = s10_copies(module_root)
    if copies[first] is None:
        what = "glibc-hwcaps level" if first == 0 else "AT_PLATFORM"
        pytest.skip(f"{module_root.arch_name} has no {what} (glibc 2.36, qemu-user)")
    r, b = module_root, f"/s10/step{first}"
    subs = [c for c in copies if c is not None]
    start = subs.index(copies[first])
    r.mkdir(*(f"{b}/D/{sub}" for sub in subs))  # emptied directories stay, as in the recipe
    for sub in subs[start:]:
        r.mklib(f"{b}/D/{sub}/libh.so".replace("//", "/"), "libh.so")
    r.mkexe(f"{b}/bin/exe", rpath=f"{b}/D", needed=["libh.so"])
    real = run_real_loader(r, f"{b}/bin/exe")
    libh = f"{b}/D/{subs[start]}/libh.so".replace("//", "/")
    expect(
        real,
        f"""
        libh.so => {libh}  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, r)


def s10e_sub(r: Root) -> str:
    """Where libe.so lies in /s10/E: glibc-hwcaps/x86-64-v3; on another architecture its best
    glibc-hwcaps level, else (none in glibc 2.36 for i386, arm64, armhf) its platform's legacy
    subdirectory, which ``--glibc-hwcaps-mask`` does not hide."""
    a = r.foreign_arch
    if a is None:
        return "glibc-hwcaps/x86-64-v3"
    if a.glibc_hwcaps:
        return f"glibc-hwcaps/{a.glibc_hwcaps[0]}"
    if a.platform is None:
        pytest.skip(f"{a.name} has neither glibc-hwcaps levels nor AT_PLATFORM here")
    return a.platform


@pytest.fixture(scope="module")
def s10e(module_root: Root) -> Root:
    r = module_root
    r.mklib(f"/s10/E/{s10e_sub(r)}/libe.so", "libe.so")
    r.mkexe("/s10/bin/exe2", needed=["libe.so"])
    r.mkexe("/s10/bin/exe3", needed=["/s10/E/libe.so"])
    return r


def test_s10_llp_dirs_get_hwcaps_subdirs(s10e: Root) -> None:
    if s10e.foreign_arch is None and "x86-64-v3" not in glibcroot.host_loader_info()[1]:
        pytest.skip("this CPU does not support x86-64-v3")
    real = run_real_loader(s10e, "/s10/bin/exe2", env={"LD_LIBRARY_PATH": "/s10/E"})
    expect(
        real,
        f"""
        libe.so => /s10/E/{s10e_sub(s10e)}/libe.so  # ld_library_path
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s10e)


def test_s10_slash_name_gets_no_hwcaps_subdirs(s10e: Root) -> None:
    real = run_real_loader(s10e, "/s10/bin/exe3")
    expect(
        real,
        f"""
        /s10/E/libe.so => not found
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s10e)


def test_s10_hwcaps_mask(s10e: Root) -> None:
    """``--glibc-hwcaps-mask x86-64-v2`` hides the v3 copy (ldsim: ``--hwcaps x86-64-v2``);
    a legacy subdirectory's copy (i386, arm64, armhf) stays visible."""
    sub = s10e_sub(s10e)
    libe = "libe.so => not found"
    if not sub.startswith("glibc-hwcaps/"):
        libe = f"libe.so => /s10/E/{sub}/libe.so  # ld_library_path"
    real = run_real_loader(
        s10e,
        "/s10/bin/exe2",
        env={"LD_LIBRARY_PATH": "/s10/E"},
        explicit=True,
        ldso_args=["--glibc-hwcaps-mask", "x86-64-v2"],
    )
    expect(
        real,
        f"""
        {libe}
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s10e)


def test_s10_hwcaps_mask_list_mode_real_loader_only(s10e: Root) -> None:
    """The recipe's literal command (``--library-path``, ``--list``)."""
    real = run_real_loader(
        s10e,
        "/s10/bin/exe2",
        explicit=True,
        ldso_args=["--glibc-hwcaps-mask", "x86-64-v2", "--library-path", "/s10/E", "--list"],
    )
    sub = s10e_sub(s10e)
    if sub.startswith("glibc-hwcaps/"):
        expect_error(real, "libe.so: cannot open shared object file: No such file or directory")
    else:  # (the oracle derives no via for --library-path)
        assert real.status == 0 and real.error is None, real.describe()
        assert real.found[0].path == f"/s10/E/{sub}/libe.so", real.listing()
