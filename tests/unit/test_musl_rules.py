"""The musl model's search rules on in-memory roots (``ldso/dynlink.c``, ``load_library``):
each rule once where it applies and once where it does not, and where musl and glibc differ.
The oracle (``tests/oracle/test_musl.py``) pins them against the real musl 1.2.3 loader."""

from __future__ import annotations

import dataclasses

import memroot as m
import pytest
from memroot import ENV, MUSL_LOADER, MemRoot, resolve, where

import ldsim


@pytest.fixture
def root() -> MemRoot:
    return MemRoot("musl")


def test_the_program_runs_under_the_musl_model(root: MemRoot) -> None:
    root.exe("/bin/app")
    res = resolve(root, "/bin/app")
    assert res.loader is ldsim.Libc.MUSL and res.ok
    assert res.listing[0] == (MUSL_LOADER, MUSL_LOADER)


def test_ld_library_path_comes_before_rpath(root: MemRoot) -> None:
    root.lib("/r/libx.so", soname="libx.so")
    root.lib("/opt/l/libx.so", soname="libx.so")
    root.exe("/bin/app", needed=["libx.so"], rpath="/r")
    assert where(resolve(root, "/bin/app"), "libx.so") == ("/r/libx.so", "rpath")
    env = dataclasses.replace(ENV, ld_library_path="/opt/l")
    assert where(resolve(root, "/bin/app", env), "libx.so") == ("/opt/l/libx.so",
                                                                "ld_library_path")


@pytest.mark.parametrize(("tag", "via"), [("rpath", "rpath"), ("runpath", "runpath")])
def test_rpath_and_runpath_are_both_inherited(root: MemRoot, tag: str, via: str) -> None:
    root.lib("/r/liba.so", soname="liba.so", needed=["libb.so"])
    root.lib("/r/libb.so", soname="libb.so")
    root.exe("/bin/app", needed=["liba.so"], **{tag: "/r"})
    assert where(resolve(root, "/bin/app"), "libb.so") == ("/r/libb.so", via)


def test_the_path_file_replaces_the_built_in_system_path() -> None:
    with_file = MemRoot("musl", musl_path_file="/opt/sys\n")
    without = MemRoot("musl")
    for r in (with_file, without):
        r.lib("/opt/sys/libs.so", soname="libs.so")
        r.lib("/usr/lib/libu.so", soname="libu.so")
        r.exe("/bin/app", needed=["libs.so", "libu.so"])
    a, b = resolve(with_file, "/bin/app"), resolve(without, "/bin/app")
    assert where(a, "libs.so") == ("/opt/sys/libs.so", "default")
    assert where(a, "libu.so") is None
    assert where(b, "libs.so") is None
    assert where(b, "libu.so") == ("/usr/lib/libu.so", "default")


def test_reuse_by_short_name_not_by_soname(root: MemRoot) -> None:
    root.lib("/opt/p/libq.so", soname="libq.so")
    root.lib("/usr/lib/libq.so", soname="libq.so")
    root.lib("/usr/lib/libr.so", soname="libr.so", needed=["libq.so"])
    root.exe("/bin/app", needed=["/opt/p/libq.so", "libq.so", "libr.so"])
    res = resolve(root, "/bin/app")
    paths = [o.path for o in res.objects]
    assert "/opt/p/libq.so" in paths and "/usr/lib/libq.so" in paths  # glibc would reuse
    lk = [lk for lk in res.lookups if lk.name == "libq.so"][-1]  # libr's, after the search
    assert lk.via is ldsim.Via.ALREADY_LOADED and lk.target is not None
    assert lk.target.path == "/usr/lib/libq.so"


@pytest.mark.parametrize("name", ["libc.so", "libpthread.so.0", "libm.so.6", "libdl.so.2"])
def test_names_musl_serves_itself(root: MemRoot, name: str) -> None:
    root.exe("/bin/app", needed=[name])
    assert where(resolve(root, "/bin/app"), name) == (MUSL_LOADER, "interpreter")


def test_a_library_named_like_libc_but_not_reserved_is_searched(root: MemRoot) -> None:
    root.exe("/bin/app", needed=["libcrypt.so.1"])
    assert [u.name for u in resolve(root, "/bin/app").unresolved] == ["libcrypt.so.1"]


def test_the_first_file_that_opens_is_final(root: MemRoot) -> None:
    root.file("/r1/libw.so", m.elf(elf_class=32, machine=m.EM_386, soname="libw.so"))
    root.lib("/r2/libw.so", soname="libw.so")
    root.exe("/bin/app", needed=["libw.so"], rpath="/r1:/r2")
    res = resolve(root, "/bin/app")
    assert [(u.name, u.reason) for u in res.unresolved] == [("libw.so", "Exec format error")]
    root.view.remove("/r1/libw.so")
    assert where(resolve(root, "/bin/app"), "libw.so") == ("/r2/libw.so", "rpath")


@pytest.mark.parametrize(("rpath", "found"), [
    ("$ORIGIN/../opt", True), ("${ORIGIN}/../opt", True), ("/opt:$LIB", False)])
def test_only_origin_is_expanded(root: MemRoot, rpath: str, found: bool) -> None:
    root.lib("/opt/libo.so", soname="libo.so")
    root.exe("/bin/app", needed=["libo.so"], rpath=rpath)
    got = where(resolve(root, "/bin/app"), "libo.so")
    assert (got is not None) is found
