"""Spec D.1 S1–S1e: load order, preloads, interpreter placement (rule 1), in a chroot.

The recipes ran these on the host under ``$T/s1``; here the same files live in ``/s1`` of a root.
"""

from __future__ import annotations

import glibcroot
import pytest
from glibcroot import Root, compare, expect, expect_error, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"


@pytest.fixture(scope="module")
def s1(module_root: Root) -> Root:
    """The recipe's S1 directory, all of S1–S1e's files (nothing is mutated later)."""
    r = module_root
    r.mkdir("/s1")
    r.mklib("/s1/libx.so.1", "libx.so.1")
    r.mklib("/s1/liby.so.1", "liby.so.1")
    r.mklib("/s1/liba.so.1", "liba.so.1", link=["/s1/libx.so.1"])
    r.mklib("/s1/libb.so.1", "libb.so.1", link=["/s1/liby.so.1"])
    r.mkexe("/s1/exe", link=["/s1/liba.so.1", "/s1/libb.so.1"], rpath="/s1")
    # S1b/S1c
    r.mklib("/s1/libpq.so", "libpq.so", link=["/s1/liby.so.1"], rpath="/s1")
    r.mkexe("/s1/exe_s", link=["/s1/libx.so.1"], rpath="/s1")
    # S1d
    r.mklib("/s1/libn.so", "libn.so", "-nostdlib", source="int f(void){return 1;}\n")
    start = "void _start(void){for(;;);}\n"
    r.mkexe("/s1/exe_n", "-nostdlib", link=["/s1/libn.so"], rpath="/s1", source=start)
    r.mkexe("/s1/exe_0", "-nostdlib", source=start)
    # S1e
    r.mklib("/s1/libp.so", "libp.so", needed=["libmissing.so.3"])
    r.mkexe("/s1/exe_m", rpath="/s1", needed=["libmissing.so.3", "libp.so"])
    return r


def test_s1_bfs_order(s1: Root) -> None:
    assert s1.needed("/s1/exe") == ["liba.so.1", "libb.so.1", "libc.so.6"]
    real = run_real_loader(s1, "./exe", cwd="/s1")
    expect(
        real,
        f"""
        liba.so.1 => /s1/liba.so.1  # rpath
        libb.so.1 => /s1/libb.so.1  # rpath
        {LIBC_DEFAULT}
        libx.so.1 => /s1/libx.so.1  # rpath
        liby.so.1 => /s1/liby.so.1  # rpath
        {INTERP}
        """,
    )
    compare(real, s1)


def test_s1b_ld_preload_path_with_own_deps(s1: Root) -> None:
    real = run_real_loader(s1, "./exe_s", cwd="/s1", env={"LD_PRELOAD": "/s1/libpq.so"})
    expect(
        real,
        f"""
        /s1/libpq.so  # preload
        libx.so.1 => /s1/libx.so.1  # rpath
        {LIBC_DEFAULT}
        liby.so.1 => /s1/liby.so.1  # rpath
        {INTERP}
        """,
    )
    compare(real, s1)


@pytest.mark.parametrize("separator", [":", " "], ids=["colon", "space"])
def test_s1c_ld_preload_order(s1: Root, separator: str) -> None:
    preload = separator.join(["/s1/liby.so.1", "/s1/libpq.so"])
    real = run_real_loader(s1, "./exe_s", cwd="/s1", env={"LD_PRELOAD": preload})
    expect(
        real,
        f"""
        /s1/liby.so.1  # preload
        /s1/libpq.so  # preload
        libx.so.1 => /s1/libx.so.1  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )
    compare(real, s1)


def test_s1c_ld_preload_then_preload_option_real_loader_only(s1: Root) -> None:
    """The recipe's literal S1c (ld.so ``--preload`` has no ldsim equivalent): real loader only."""
    real = run_real_loader(
        s1,
        "./exe_s",
        cwd="/s1",
        env={"LD_PRELOAD": "/s1/liby.so.1:/s1/libpq.so"},
        explicit=True,
        ldso_args=["--preload", "/s1/libx.so.1"],
    )
    expect(
        real,
        f"""
        /s1/liby.so.1  # preload
        /s1/libpq.so  # preload
        /s1/libx.so.1  # preload
        {LIBC_DEFAULT}
        {INTERP}
        """,
    )


def test_s1d_interpreter_not_referenced(s1: Root) -> None:
    real = run_real_loader(s1, "./exe_n", cwd="/s1")
    expect(real, "libn.so => /s1/libn.so  # rpath")
    compare(real, s1)


def test_s1d_no_needed_is_statically_linked(s1: Root) -> None:
    real = run_real_loader(s1, "./exe_0", cwd="/s1")
    expect(real, "statically linked")
    compare(real, s1)


def test_s1e_missing_twice_and_interpreter_placement(s1: Root) -> None:
    assert s1.needed("/s1/exe_m") == ["libmissing.so.3", "libp.so", "libc.so.6"]
    real = run_real_loader(s1, "./exe_m", cwd="/s1")
    expect(
        real,
        f"""
        libmissing.so.3 => not found
        libp.so => /s1/libp.so  # rpath
        {LIBC_DEFAULT}
        {INTERP}
        libmissing.so.3 => not found
        """,
    )
    assert real.unresolved == ["libmissing.so.3", "libmissing.so.3"]
    compare(real, s1)


def test_s1e_list_mode_is_fatal_real_loader_only(s1: Root) -> None:
    """``ld.so --list`` aborts at the first missing library (ldsim models trace mode)."""
    real = run_real_loader(s1, "./exe_m", cwd="/s1", explicit=True, ldso_args=["--list"])
    expect_error(real, "libmissing.so.3: cannot open shared object file: No such file or directory")


def test_oracle_parses_vias(s1: Root) -> None:
    """Self-check of the harness: every found entry got a known via."""
    real = run_real_loader(s1, "./exe", cwd="/s1")
    assert {e.via for e in real.found} <= glibcroot.VIAS
