"""The glibc model's search rules on in-memory roots: each rule once where it applies and once
where it does not. No compiler, no root: ``rootfs-fixtures/memroot.py`` writes the ELF files
and the cache. The oracle tests (``tests/oracle/test_glibc_*.py``) pin the same rules against
the real ``ld.so`` in chroots; these make a change to a rule testable in seconds."""

from __future__ import annotations

import dataclasses

import memroot as m
import pytest
from memroot import ENV, USRLIBDIR, MemRoot, found, resolve, where

import ldsim


@pytest.fixture
def root() -> MemRoot:
    return MemRoot()


# -- DT_RPATH, and the chain of loaders ---------------------------------------------------------

def test_rpath_of_the_program_serves_its_libraries_dependencies(root: MemRoot) -> None:
    root.lib("/r/liba.so.1", soname="liba.so.1", needed=["libb.so.1"])
    root.lib("/r/libb.so.1", soname="libb.so.1")
    root.exe("/usr/bin/app", needed=["liba.so.1"], rpath="/r")
    res = resolve(root, "/usr/bin/app")
    assert where(res, "libb.so.1") == ("/r/libb.so.1", "rpath")
    lk = next(lk for lk in res.lookups if lk.name == "libb.so.1")
    assert lk.attempts[-1].source == "RPATH from file /usr/bin/app"


def test_a_runpath_stops_the_rpath_chain(root: MemRoot) -> None:
    root.lib("/r/liba.so.1", soname="liba.so.1", needed=["libb.so.1"], runpath="/elsewhere")
    root.lib("/r/libb.so.1", soname="libb.so.1")
    root.exe("/usr/bin/app", needed=["liba.so.1"], rpath="/r")
    res = resolve(root, "/usr/bin/app")
    assert where(res, "liba.so.1") == ("/r/liba.so.1", "rpath")
    assert [u.name for u in res.unresolved] == ["libb.so.1"]


def test_a_librarys_own_rpath_comes_before_its_loaders(root: MemRoot) -> None:
    root.lib("/r/liba.so.1", soname="liba.so.1", needed=["libb.so.1"], rpath="/own")
    root.lib("/own/libb.so.1", soname="libb.so.1")
    root.lib("/r/libb.so.1", soname="libb.so.1")
    root.exe("/usr/bin/app", needed=["liba.so.1"], rpath="/r")
    assert where(resolve(root, "/usr/bin/app"), "libb.so.1") == ("/own/libb.so.1", "rpath")


# -- DT_RUNPATH -------------------------------------------------------------------------------

def test_runpath_serves_the_objects_own_needed(root: MemRoot) -> None:
    root.lib("/r/liba.so.1", soname="liba.so.1")
    root.exe("/usr/bin/app", needed=["liba.so.1"], runpath="/r")
    assert where(resolve(root, "/usr/bin/app"), "liba.so.1") == ("/r/liba.so.1", "runpath")


def test_runpath_is_not_inherited(root: MemRoot) -> None:
    root.lib("/r/liba.so.1", soname="liba.so.1", needed=["libb.so.1"])
    root.lib("/r/libb.so.1", soname="libb.so.1")
    root.exe("/usr/bin/app", needed=["liba.so.1"], runpath="/r")
    res = resolve(root, "/usr/bin/app")
    assert where(res, "liba.so.1") == ("/r/liba.so.1", "runpath")
    assert [u.name for u in res.unresolved] == ["libb.so.1"]


# -- LD_LIBRARY_PATH --------------------------------------------------------------------------

def test_ld_library_path(root: MemRoot) -> None:
    root.lib("/opt/l/libx.so.1", soname="libx.so.1")
    root.exe("/usr/bin/app", needed=["libx.so.1"])
    env = dataclasses.replace(ENV, ld_library_path="/nonexistent:/opt/l")
    assert where(resolve(root, "/usr/bin/app", env), "libx.so.1") == (
        "/opt/l/libx.so.1", "ld_library_path")


def test_ld_library_path_is_ignored_in_secure_mode(root: MemRoot) -> None:
    root.lib("/opt/l/libx.so.1", soname="libx.so.1")
    root.exe("/usr/bin/app", needed=["libx.so.1"])
    env = dataclasses.replace(ENV, ld_library_path="/opt/l", secure=True)
    assert [u.name for u in resolve(root, "/usr/bin/app", env).unresolved] == ["libx.so.1"]


@pytest.mark.parametrize(("tag", "via"), [("rpath", "rpath"), ("runpath", "ld_library_path")])
def test_rpath_before_and_runpath_after_ld_library_path(root: MemRoot, tag: str,
                                                        via: str) -> None:
    root.lib("/r/libx.so.1", soname="libx.so.1")
    root.lib("/opt/l/libx.so.1", soname="libx.so.1")
    root.exe("/usr/bin/app", needed=["libx.so.1"], **{tag: "/r"})
    env = dataclasses.replace(ENV, ld_library_path="/opt/l")
    assert where(resolve(root, "/usr/bin/app", env), "libx.so.1")[1] == via  # type: ignore[index]


# -- /etc/ld.so.cache and the default directories ----------------------------------------------

def test_cache_then_default_directories(root: MemRoot) -> None:
    root.lib(f"{USRLIBDIR}/libc1.so.1", soname="libc1.so.1")  # in the cache
    root.lib("/usr/lib/libd1.so.1", soname="libd1.so.1", cache=False)  # only in a default dir
    root.cache_entries.append(("libo1.so.1", "/opt/c/libo1.so.1"))
    root.lib("/opt/c/libo1.so.1", soname="libo1.so.1", cache=False)
    root.exe("/usr/bin/app", needed=["libc1.so.1", "libd1.so.1", "libo1.so.1"])
    res = resolve(root, "/usr/bin/app")
    assert where(res, "libc1.so.1") == (f"{USRLIBDIR}/libc1.so.1", "ld.so.cache")
    assert where(res, "libd1.so.1") == ("/usr/lib/libd1.so.1", "default")
    assert where(res, "libo1.so.1") == ("/opt/c/libo1.so.1", "ld.so.cache")


def test_without_a_cache_the_default_directories_serve(root: MemRoot) -> None:
    root.with_cache = False
    root.lib(f"{USRLIBDIR}/libc1.so.1", soname="libc1.so.1")
    root.exe("/usr/bin/app", needed=["libc1.so.1"])
    res = resolve(root, "/usr/bin/app")
    assert where(res, "libc1.so.1") == (f"{USRLIBDIR}/libc1.so.1", "default")
    assert any("ld.so.cache" in d.message for d in res.diagnostics)


def test_nodeflib_filters_the_cache_and_skips_the_defaults(root: MemRoot) -> None:
    root.lib(f"{USRLIBDIR}/libc1.so.1", soname="libc1.so.1")
    root.lib("/usr/lib/libd1.so.1", soname="libd1.so.1", cache=False)
    root.exe("/usr/bin/app", needed=["libc1.so.1", "libd1.so.1"], flags_1=m.DF_1_NODEFLIB)
    res = resolve(root, "/usr/bin/app")
    assert {u.name for u in res.unresolved} == {"libc1.so.1", "libd1.so.1", "libc.so.6"}
    lk = next(lk for lk in res.lookups if lk.name == "libc1.so.1")
    assert [(a.via, a.outcome) for a in lk.attempts] == [
        (ldsim.Via.CACHE, ldsim.Outcome.FILTERED)]


# -- dynamic string tokens -------------------------------------------------------------------

@pytest.mark.parametrize(("rpath", "directory"), [
    ("$ORIGIN/../../opt/o", "/usr/bin/../../opt/o"),
    ("${ORIGIN}/../../opt/o", "/usr/bin/../../opt/o"),
    ("/opt/$LIB", "/opt/lib/x86_64-linux-gnu"),
    ("/opt/$PLATFORM", "/opt/x86_64"),
    ("/opt/$FOO", "/opt/$FOO"),  # not a token: taken literally
])
def test_tokens_in_rpath(root: MemRoot, rpath: str, directory: str) -> None:
    root.lib(f"{directory.replace('/usr/bin/../..', '')}/libt.so.1", soname="libt.so.1")
    root.exe("/usr/bin/app", needed=["libt.so.1"], rpath=rpath)
    assert where(resolve(root, "/usr/bin/app"), "libt.so.1") == (f"{directory}/libt.so.1",
                                                                 "rpath")


def test_origin_in_needed_aborts_a_secure_program(root: MemRoot) -> None:
    root.lib("/usr/bin/libt.so.1", soname="libt.so.1")
    root.exe("/usr/bin/app", needed=["$ORIGIN/libt.so.1"])
    assert where(resolve(root, "/usr/bin/app"), "/usr/bin/libt.so.1") == (
        "/usr/bin/libt.so.1", "direct")
    res = resolve(root, "/usr/bin/app", dataclasses.replace(ENV, secure=True))
    assert res.error is not None and "DST not allowed" in res.error.reason


# -- hwcaps subdirectories -------------------------------------------------------------------

def test_glibc_hwcaps_subdirectory_of_an_active_level(root: MemRoot) -> None:
    root.lib("/r/glibc-hwcaps/x86-64-v3/libh.so.1", soname="libh.so.1")
    root.lib("/r/libh.so.1", soname="libh.so.1")
    root.exe("/usr/bin/app", needed=["libh.so.1"], rpath="/r")
    env = dataclasses.replace(ENV, hwcaps=("x86-64-v3", "x86-64-v2"))
    assert where(resolve(root, "/usr/bin/app", env), "libh.so.1") == (
        "/r/glibc-hwcaps/x86-64-v3/libh.so.1", "rpath")
    assert where(resolve(root, "/usr/bin/app"), "libh.so.1") == ("/r/libh.so.1", "rpath")


def test_legacy_platform_subdirectory(root: MemRoot) -> None:
    root.lib("/r/x86_64/libh.so.1", soname="libh.so.1")
    root.lib("/r/libh.so.1", soname="libh.so.1")
    root.exe("/usr/bin/app", needed=["libh.so.1"], rpath="/r")
    assert where(resolve(root, "/usr/bin/app"), "libh.so.1") == ("/r/x86_64/libh.so.1", "rpath")
    env = dataclasses.replace(ENV, platform="", legacy_hwcap_names=())
    assert where(resolve(root, "/usr/bin/app", env), "libh.so.1") == ("/r/libh.so.1", "rpath")


# -- reuse of loaded objects -----------------------------------------------------------------

def test_a_soname_matches_an_object_loaded_by_path(root: MemRoot) -> None:
    root.lib("/opt/s/libs.so.1", soname="libs.so.1")
    root.lib(f"{USRLIBDIR}/libs.so.1", soname="libs.so.1")  # another copy: never searched
    root.exe("/usr/bin/app", needed=["/opt/s/libs.so.1", "libs.so.1"])
    res = resolve(root, "/usr/bin/app")
    assert [o.path for o in res.objects].count(f"{USRLIBDIR}/libs.so.1") == 0
    lk = next(lk for lk in res.lookups if lk.name == "libs.so.1")
    assert lk.via is ldsim.Via.ALREADY_LOADED and lk.target is not None
    assert lk.target.path == "/opt/s/libs.so.1" and not lk.attempts


def test_another_soname_is_another_object(root: MemRoot) -> None:
    root.lib("/opt/s/libs.so.1", soname="libs-other.so.1")
    root.lib(f"{USRLIBDIR}/libs.so.1", soname="libs.so.1")
    root.exe("/usr/bin/app", needed=["/opt/s/libs.so.1", "libs.so.1"])
    assert where(resolve(root, "/usr/bin/app"), "libs.so.1") == (f"{USRLIBDIR}/libs.so.1",
                                                                 "ld.so.cache")


def test_the_same_file_under_another_name_is_reused(root: MemRoot) -> None:
    root.lib("/r1/liby.so.1", soname="liby.so.1")
    root.view.add_hardlink("/r2/liby-copy.so.1", "/r1/liby.so.1")
    root.exe("/usr/bin/app", needed=["liby.so.1", "liby-copy.so.1"], rpath="/r1:/r2")
    res = resolve(root, "/usr/bin/app")
    lk = next(lk for lk in res.lookups if lk.name == "liby-copy.so.1")
    assert lk.via is ldsim.Via.ALREADY_LOADED
    assert lk.attempts[-1].outcome is ldsim.Outcome.SAME_FILE
    assert [o.path for o in res.objects].count("/r1/liby.so.1") == 1


# -- rejection of unsuitable files -------------------------------------------------------------

@pytest.mark.parametrize(("bad", "outcome"), [
    (m.elf(elf_class=32, machine=m.EM_386, soname="libw.so.1"), ldsim.Outcome.WRONG_CLASS),
    (m.elf(machine=m.EM_AARCH64, soname="libw.so.1"), ldsim.Outcome.WRONG_MACHINE),
    (m.elf(soname="libw.so.1", abi_note_os=1), ldsim.Outcome.ABI_NOTE),
])
def test_unsuitable_files_are_skipped(root: MemRoot, bad: bytes,
                                      outcome: ldsim.Outcome) -> None:
    root.file("/r1/libw.so.1", bad)
    root.lib("/r2/libw.so.1", soname="libw.so.1")
    root.exe("/usr/bin/app", needed=["libw.so.1"], rpath="/r1:/r2")
    res = resolve(root, "/usr/bin/app")
    assert where(res, "libw.so.1") == ("/r2/libw.so.1", "rpath")
    lk = next(lk for lk in res.lookups if lk.name == "libw.so.1")
    assert [a.outcome for a in lk.attempts if a.path == "/r1/libw.so.1"] == [outcome]


@pytest.mark.parametrize("bad", [b"not an ELF file at all, but long enough to be read\n",
                                 m.elf(e_type=m.ET_EXEC, soname="libw.so.1")])
def test_hard_rejections_abort_the_load(root: MemRoot, bad: bytes) -> None:
    root.file("/r1/libw.so.1", bad)
    root.lib("/r2/libw.so.1", soname="libw.so.1")
    root.exe("/usr/bin/app", needed=["libw.so.1"], rpath="/r1:/r2")
    res = resolve(root, "/usr/bin/app")
    assert res.error is not None and res.error.path == "/r1/libw.so.1"
    assert where(res, "libw.so.1") is None and not res.ok


def test_unreadable_candidate_is_skipped_for_an_unprivileged_caller(root: MemRoot) -> None:
    root.lib("/r1/libp.so.1", soname="libp.so.1", mode=0o600)
    root.lib("/r2/libp.so.1", soname="libp.so.1")
    root.exe("/usr/bin/app", needed=["libp.so.1"], rpath="/r1:/r2")
    assert where(resolve(root, "/usr/bin/app"), "libp.so.1") == ("/r1/libp.so.1", "rpath")
    env = dataclasses.replace(ENV, user=(65534, 65534))
    assert where(resolve(root, "/usr/bin/app", env), "libp.so.1") == ("/r2/libp.so.1", "rpath")


def test_candidate_in_a_directory_the_caller_may_not_search_is_skipped(root: MemRoot) -> None:
    """A readable file in a directory of mode 0700 (root's): open(2) fails with EACCES for
    another user; the search goes on."""
    root.lib("/r1/libp.so.1", soname="libp.so.1")
    root.view.add_dir("/r1", 0o700)
    root.lib("/r2/libp.so.1", soname="libp.so.1")
    root.exe("/usr/bin/app", needed=["libp.so.1"], rpath="/r1:/r2")
    assert where(resolve(root, "/usr/bin/app"), "libp.so.1") == ("/r1/libp.so.1", "rpath")
    env = dataclasses.replace(ENV, user=(65534, 65534))
    assert where(resolve(root, "/usr/bin/app", env), "libp.so.1") == ("/r2/libp.so.1", "rpath")


# -- the order of the link map ------------------------------------------------------------------

def test_breadth_first_link_map(root: MemRoot) -> None:
    """Each object's DT_NEEDED in order, level by level; the interpreter, first needed by
    libc, is linked in after the object before it in the search list (``dl_main``)."""
    root.lib(f"{USRLIBDIR}/liba.so.1", soname="liba.so.1", needed=["libc1.so.1"])
    root.lib(f"{USRLIBDIR}/libb.so.1", soname="libb.so.1")
    root.lib(f"{USRLIBDIR}/libc1.so.1", soname="libc1.so.1")
    root.exe("/usr/bin/app", needed=["liba.so.1", "libb.so.1"])
    assert [name for name, _p, _v in found(resolve(root, "/usr/bin/app"))] == [
        "liba.so.1", "libb.so.1", "libc.so.6", "libc1.so.1", m.GLIBC_LOADER]
    root.exe("/usr/bin/app2", needed=["libb.so.1"])
    assert [name for name, _p, _v in found(resolve(root, "/usr/bin/app2"))] == [
        "libb.so.1", "libc.so.6", m.GLIBC_LOADER]


# -- x86 ISA levels (a real run, not the search) -------------------------------------------------

@pytest.mark.parametrize(("cpu", "fires"), [(("x86-64-v2",), True),
                                            (("x86-64-v3", "x86-64-v2"), False)])
def test_isa_level_above_the_cpus(root: MemRoot, cpu: tuple[str, ...], fires: bool) -> None:
    root.lib(f"{USRLIBDIR}/libv3.so.1", soname="libv3.so.1", isa_needed=1 << 2)
    root.exe("/usr/bin/app", needed=["libv3.so.1"])
    expl = ldsim.explain(root.open(), "/usr/bin/app", dataclasses.replace(ENV, hwcaps=cpu))
    assert [f.id for f in expl.findings] == (["isa-level"] if fires else [])
    assert expl.verdict.status is (ldsim.VerdictStatus.FAILS_AT_RUN_TIME if fires
                                   else ldsim.VerdictStatus.STARTS)
