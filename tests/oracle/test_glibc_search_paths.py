"""Spec D.1 S4a–S4h (DT_RPATH chain, rule 4), S5 (LD_LIBRARY_PATH, rule 5), S6 (DT_RUNPATH is
not inherited, rule 6).

The recipe mutates one S4 directory step by step; here every step gets its own directory
``/s4<step>`` built in the state the recipe reaches at that step, so the tests are independent.
"""

from __future__ import annotations

import pytest
from glibcroot import Root, compare, expect, expect_error, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"


def build_s4(r: Root, base: str, *, liba: str, libb_dir: str, libcc_dir: str) -> None:
    """exe (RPATH D1) → D1/liba.so → libb.so → libcc.so.

    ``liba``: ``rpath`` (DT_RPATH D2), ``runpath`` (DT_RUNPATH D2) or ``both``
    (DT_RPATH D3 and DT_RUNPATH D2, made with the recipe's ``retag``).
    """
    r.mkdir(f"{base}/D1", f"{base}/D2", f"{base}/D3", f"{base}/bin")
    r.mklib(f"{base}/{libcc_dir}/libcc.so", "libcc.so")
    r.mklib(f"{base}/{libb_dir}/libb.so", "libb.so", needed=["libcc.so"])
    if liba == "rpath":
        r.mklib(f"{base}/D1/liba.so", "liba.so", rpath=f"{base}/D2", needed=["libb.so"])
    elif liba == "runpath":
        r.mklib(f"{base}/D1/liba.so", "liba.so", runpath=f"{base}/D2", needed=["libb.so"])
    else:
        r.mklib(f"{base}/D1/liba.so", "liba.so", rpath=f"{base}/D3", needed=[f"{base}/D2"])
        r.retag(f"{base}/D1/liba.so", f"{base}/D2")
        r.addneeded(f"{base}/D1/liba.so", "libb.so")
    r.mkexe(f"{base}/bin/exe", rpath=f"{base}/D1", needed=["liba.so"])


S4_CASES = {
    # id: (liba, libb_dir, libcc_dir, expected listing with {b} = base)
    "S4a-libcc-via-rpath-of-liba": (
        "rpath",
        "D2",
        "D2",
        """
        liba.so => {b}/D1/liba.so  # rpath
        {libc}
        libb.so => {b}/D2/libb.so  # rpath
        {interp}
        libcc.so => {b}/D2/libcc.so  # rpath
        """,
    ),
    "S4b-libcc-via-rpath-of-exe": (
        "rpath",
        "D2",
        "D1",
        """
        liba.so => {b}/D1/liba.so  # rpath
        {libc}
        libb.so => {b}/D2/libb.so  # rpath
        {interp}
        libcc.so => {b}/D1/libcc.so  # rpath
        """,
    ),
    "S4c-runpath-ancestor-does-not-stop-rpath-walk": (
        "runpath",
        "D2",
        "D1",
        """
        liba.so => {b}/D1/liba.so  # rpath
        {libc}
        libb.so => {b}/D2/libb.so  # runpath
        {interp}
        libcc.so => {b}/D1/libcc.so  # rpath
        """,
    ),
    "S4d-requester-with-runpath-uses-no-rpath": (
        "runpath",
        "D1",
        "D1",
        """
        liba.so => {b}/D1/liba.so  # rpath
        {libc}
        {interp}
        libb.so => not found
        """,
    ),
    "S4e-rpath-ignored-when-runpath-present": (
        "both",
        "D2",
        "D3",
        """
        liba.so => {b}/D1/liba.so  # rpath
        {libc}
        libb.so => {b}/D2/libb.so  # runpath
        {interp}
        libcc.so => not found
        """,
    ),
    "S4f-rpath-ignored-for-own-deps": (
        "both",
        "D3",
        "D3",
        """
        liba.so => {b}/D1/liba.so  # rpath
        {libc}
        {interp}
        libb.so => not found
        """,
    ),
}


@pytest.mark.parametrize("case", list(S4_CASES))
def test_s4_rpath_chain(module_root: Root, case: str) -> None:
    liba, libb_dir, libcc_dir, listing = S4_CASES[case]
    base = f"/s4/{case.split('-')[0]}"
    build_s4(module_root, base, liba=liba, libb_dir=libb_dir, libcc_dir=libcc_dir)
    real = run_real_loader(module_root, "bin/exe", cwd=base)
    expect(real, listing.format(b=base, libc=LIBC_DEFAULT, interp=INTERP))
    compare(real, module_root)


@pytest.fixture(scope="module")
def s4g(module_root: Root) -> Root:
    r = module_root
    r.mkdir("/s4g/E", "/s4g/F", "/s4g/bin")
    r.mklib("/s4g/F/libcc.so", "libcc.so")
    r.mklib("/s4g/E/liba2.so", "liba2.so", needed=["libcc.so"])
    r.mklib("/s4g/E/libb2.so", "libb2.so", rpath="/s4g/F", needed=["libcc.so"])
    r.mkexe("/s4g/bin/exe2", runpath="/s4g/E", needed=["liba2.so", "libb2.so"])
    return r


def test_s4g_first_requester_fails_second_succeeds(s4g: Root) -> None:
    real = run_real_loader(s4g, "bin/exe2", cwd="/s4g")
    expect(
        real,
        f"""
        liba2.so => /s4g/E/liba2.so  # runpath
        libb2.so => /s4g/E/libb2.so  # runpath
        {LIBC_DEFAULT}
        libcc.so => not found
        libcc.so => /s4g/F/libcc.so  # rpath
        {INTERP}
        """,
    )
    compare(real, s4g)


def test_s4g_list_mode_aborts_real_loader_only(s4g: Root) -> None:
    real = run_real_loader(s4g, "bin/exe2", cwd="/s4g", explicit=True, ldso_args=["--list"])
    expect_error(real, "libcc.so: cannot open shared object file: No such file or directory")


def test_s4h_exe_with_rpath_and_runpath_ignores_rpath(module_root: Root) -> None:
    r, b = module_root, "/s4h"
    build_s4(r, b, liba="both", libb_dir="D2", libcc_dir="D3")
    r.mkexe(f"{b}/bin/exe3", rpath=f"{b}/D1", needed=[f"{b}/D3"])
    r.retag(f"{b}/bin/exe3", f"{b}/D3")
    r.addneeded(f"{b}/bin/exe3", "liba.so")
    real = run_real_loader(r, "bin/exe3", cwd=b)
    expect(
        real,
        f"""
        liba.so => not found
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, r)


# -- S5 LD_LIBRARY_PATH --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s5(module_root: Root) -> Root:
    r = module_root
    r.mkdir("/s5/A", "/s5/B", "/s5/C", "/s5/bin")
    r.mklib("/s5/A/libp.so", "libp.so")
    r.mklib("/s5/B/libq.so", "libq.so")
    r.mklib("/s5/C/libr.so", "libr.so")
    r.mkexe("/s5/bin/exe", needed=["libp.so", "libq.so", "libr.so"])
    r.mkexe("/s5/bin/exe_r", rpath="/s5/A:/s5/B", needed=["libp.so"])
    r.mkexe("/s5/bin/exe_u", runpath="/s5/A:/s5/B", needed=["libp.so"])
    r.copy("/s5/A/libp.so", "/s5/C/libp.so")  # the recipe copies it before the RPATH/RUNPATH cases
    return r


S5_CASES = {
    # id: (cwd, exe, LD_LIBRARY_PATH, expected)
    "semicolon-and-colon": (
        "/s5",
        "bin/exe",
        "/s5/A;/s5/B:/s5/C",
        """
        libp.so => /s5/A/libp.so  # ld_library_path
        libq.so => /s5/B/libq.so  # ld_library_path
        libr.so => /s5/C/libr.so  # ld_library_path
        """,
    ),
    "empty-element-is-cwd": (
        "/s5/C",
        "../bin/exe",
        "/s5/A::/s5/B",
        """
        libp.so => /s5/A/libp.so  # ld_library_path
        libq.so => /s5/B/libq.so  # ld_library_path
        libr.so  # ld_library_path
        """,
    ),
    "relative-elements-and-slashes": (
        "/s5",
        "bin/exe",
        "/s5//A///:/s5/./B/.:C",
        """
        libp.so => /s5//A/libp.so  # ld_library_path
        libq.so => /s5/./B/./libq.so  # ld_library_path
        libr.so => C/libr.so  # ld_library_path
        """,
    ),
    "rpath-beats-llp": (
        "/s5",
        "bin/exe_r",
        "/s5/C",
        """
        libp.so => /s5/A/libp.so  # rpath
        """,
    ),
    "llp-beats-runpath": (
        "/s5",
        "bin/exe_u",
        "/s5/C",
        """
        libp.so => /s5/C/libp.so  # ld_library_path
        """,
    ),
    "origin-in-llp-is-the-executable-dir": (
        "/s5",
        "bin/exe",
        "$ORIGIN/../B",
        """
        libp.so => not found
        libq.so => /s5/bin/../B/libq.so  # ld_library_path
        libr.so => not found
        """,
    ),
}


@pytest.mark.parametrize("case", list(S5_CASES))
def test_s5_ld_library_path(s5: Root, case: str) -> None:
    cwd, exe, llp, listing = S5_CASES[case]
    real = run_real_loader(s5, exe, cwd=cwd, env={"LD_LIBRARY_PATH": llp})
    expect(real, f"{listing}\n{LIBC_DEFAULT}\n{INTERP}\n")
    compare(real, s5)


# -- S6 RUNPATH is not inherited -----------------------------------------------------------------


@pytest.fixture(scope="module")
def s6(module_root: Root) -> Root:
    r = module_root
    r.mkdir("/s6/bin", "/s6/D")
    r.mklib("/s6/D/libb.so", "libb.so")
    r.mklib("/s6/D/liba.so", "liba.so", needed=["libb.so"])
    r.mkexe("/s6/bin/exe_u", runpath="/s6/D", needed=["liba.so"])
    r.mkexe("/s6/bin/exe_r", rpath="/s6/D", needed=["liba.so"])
    r.mkexe("/s6/bin/exe_u2", runpath="/s6/D", needed=["liba.so", "libb.so"])
    return r


S6_CASES = {
    "runpath": (
        "exe_u",
        """
        liba.so => /s6/D/liba.so  # runpath
        {libc}
        {interp}
        libb.so => not found
        """,
    ),
    "rpath": (
        "exe_r",
        """
        liba.so => /s6/D/liba.so  # rpath
        {libc}
        libb.so => /s6/D/libb.so  # rpath
        {interp}
        """,
    ),
    "runpath-exe-also-needs-libb": (
        "exe_u2",
        """
        liba.so => /s6/D/liba.so  # runpath
        libb.so => /s6/D/libb.so  # runpath
        {libc}
        {interp}
        """,
    ),
}


@pytest.mark.parametrize("case", list(S6_CASES))
def test_s6_runpath_not_inherited(s6: Root, case: str) -> None:
    exe, listing = S6_CASES[case]
    real = run_real_loader(s6, f"bin/{exe}", cwd="/s6")
    expect(real, listing.format(libc=LIBC_DEFAULT, interp=INTERP))
    compare(real, s6)
