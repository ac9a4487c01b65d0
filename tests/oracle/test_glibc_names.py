"""Spec D.1 S2 (names with a slash, rule 2) and S3a–S3e (already-loaded matching, rule 3)."""

from __future__ import annotations

import pytest
from glibcroot import Root, compare, expect, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"


@pytest.fixture(scope="module")
def s2(module_root: Root) -> Root:
    r = module_root
    r.mkdir("/s2/bin", "/s2/sub", "/s2/other/sub", "/s2/D", "/s2/lib")
    r.mklib("/s2/sub/libr.so", "libr.so")
    r.mklib("/s2/other/sub/libr.so", "libr.so")
    r.mklib("/s2/D/libabs.so", "libabs.so")
    r.mklib("/s2/lib/libN.so", "libN.so")
    r.mkexe("/s2/bin/exe", needed=["/s2/D/libabs.so", "sub/libr.so", "$ORIGIN/../lib/libN.so"])
    return r


@pytest.mark.parametrize(
    ("cwd", "exe", "libr", "libn"),
    [
        ("/s2", "bin/exe", "sub/libr.so  # direct", "/s2/bin/../lib/libN.so"),
        ("/s2/other", "../bin/exe", "sub/libr.so  # direct", "/s2/other/../bin/../lib/libN.so"),
        ("/s2/bin", "./exe", "sub/libr.so => not found", "/s2/bin/./../lib/libN.so"),
    ],
    ids=["cwd-s2", "cwd-other", "cwd-bin"],
)
def test_s2_slash_names_ldd_invocation(s2: Root, cwd: str, exe: str, libr: str, libn: str) -> None:
    """As the recipe ran it: ``ld.so EXE``, so ``$ORIGIN`` comes from the path as given."""
    real = run_real_loader(s2, exe, cwd=cwd, explicit=True)
    expect(
        real,
        f"""
        /s2/D/libabs.so  # direct
        {libr}
        {libn}  # direct
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s2)


def test_s2_slash_names_kernel_exec(s2: Root) -> None:
    """A kernel exec takes ``$ORIGIN`` from /proc/self/exe: the real directory, not the path
    as given (``../bin/..`` disappears); relative slash names stay relative to the cwd."""
    real = run_real_loader(s2, "../bin/exe", cwd="/s2/other")
    expect(
        real,
        f"""
        /s2/D/libabs.so  # direct
        sub/libr.so  # direct
        /s2/bin/../lib/libN.so  # direct
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s2)


@pytest.fixture(scope="module")
def s3(module_root: Root) -> Root:
    r = module_root
    r.mkdir("/s3/d1", "/s3/d2", "/s3/b", "/s3/m")
    # S3a
    r.mklib("/s3/d1/libv1.so", "libz.so.1")
    r.mklib("/s3/d2/libz.so.1", "libz.so.1")
    r.mkexe("/s3/exe", rpath="/s3/d1:/s3/d2", needed=["libv1.so", "libz.so.1"])
    # S3b
    r.mklib("/s3/b/libfoo.so.1", "libfoo.so.1")
    r.symlink("/s3/b/libfoo.so", "libfoo.so.1")
    r.mklib("/s3/b/libq.so", "libq.so", needed=["libfoo.so.1"])
    r.mkexe("/s3/exe_b", rpath="/s3/b", needed=["libfoo.so", "libq.so"])
    # S3c: one directory per way of making libfoo.so
    for how in ("symlink", "hardlink", "copy"):
        d = f"/s3/c-{how}"
        r.mklib(f"{d}/libfoo.so.1", None)
        if how == "symlink":
            r.symlink(f"{d}/libfoo.so", "libfoo.so.1")
        elif how == "hardlink":
            r.hardlink(f"{d}/libfoo.so", f"{d}/libfoo.so.1")
        else:
            r.copy(f"{d}/libfoo.so.1", f"{d}/libfoo.so")
        r.mklib(f"{d}/libq.so", "libq.so", needed=["libfoo.so.1"])
        r.mkexe(f"{d}/exe_c", rpath=d, needed=["libfoo.so", "libq.so"])
    # S3d
    r.mkexe("/s3/m/exe", "-Wl,-soname,libexe.so.1", rpath="/s3/m")
    r.mklib("/s3/m/libq.so", "libq.so", needed=["libexe.so.1"])
    r.addneeded("/s3/m/exe", "libq.so")
    r.copy("/s3/m/exe", "/s3/m/libexe.so.1")
    # S3e
    r.mklib("/s3/m/libr.so", "libr.so", needed=[r.ldso_path])
    r.mkexe("/s3/m/exe2", rpath="/s3/m", needed=["libr.so"])
    return r


def test_s3a_two_files_share_a_soname(s3: Root) -> None:
    real = run_real_loader(s3, "./exe", cwd="/s3")
    expect(
        real,
        f"""
        libv1.so => /s3/d1/libv1.so  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s3)


def test_s3b_symlink_then_soname(s3: Root) -> None:
    real = run_real_loader(s3, "./exe_b", cwd="/s3")
    expect(
        real,
        f"""
        libfoo.so => /s3/b/libfoo.so  # rpath
        libq.so => /s3/b/libq.so  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    assert all(r.name != "libfoo.so.1" for r in real.requests), "SONAME match: no search"
    compare(real, s3)


@pytest.mark.parametrize("how", ["symlink", "hardlink", "copy"])
def test_s3c_no_soname_symlink_hardlink_copy(s3: Root, how: str) -> None:
    d = f"/s3/c-{how}"
    copy_line = f"libfoo.so.1 => {d}/libfoo.so.1  # rpath" if how == "copy" else ""
    real = run_real_loader(s3, f"{d}/exe_c")
    expect(
        real,
        f"""
        libfoo.so => {d}/libfoo.so  # rpath
        libq.so => {d}/libq.so  # rpath
        {LIBC_DEFAULT}
        {copy_line}
        {INTERP}
        """,
    )
    compare(real, s3)


def test_s3d_executable_soname_satisfies_needed(s3: Root) -> None:
    real = run_real_loader(s3, "m/exe", cwd="/s3")
    expect(
        real,
        f"""
        libq.so => /s3/m/libq.so  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s3)


@pytest.mark.parametrize("explicit", [False, True], ids=["exec", "ldd"])
def test_s3e_needed_names_interpreter_by_other_path(s3: Root, explicit: bool) -> None:
    real = run_real_loader(s3, "m/exe2", cwd="/s3", explicit=explicit)
    expect(
        real,
        f"""
        libr.so => /s3/m/libr.so  # rpath
        {LIBC_DEFAULT}
        {s3.ldso_path}  # direct
        {INTERP}
        """,
    )
    compare(real, s3)


def test_s3e_loader_started_by_real_path_real_loader_only(s3: Root) -> None:
    """Started as /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 (its real path) the loader's own
    path matches the DT_NEEDED by name (ldsim has no option for the loader's invocation path)."""
    real = run_real_loader(s3, "m/exe2", cwd="/s3", explicit=True, ldso=s3.ldso_path)
    expect(
        real,
        f"""
        libr.so => /s3/m/libr.so  # rpath
        {LIBC_DEFAULT}
        /lib64/ld-linux-x86-64.so.2 => {s3.ldso_path}  # interpreter
        """,
    )
