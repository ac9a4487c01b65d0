"""Spec D.4 M1–M8: ldsim's musl model against the real musl 1.2.3 loader in a chroot (rule 14).

The recipes ran M1–M6 and M8 on the host under ``$T/mN`` (where Debian's
``/etc/ld-musl-x86_64.path`` exists); here the same files live in ``/mN`` of a musl root that has
that path file too. M7 (the path file itself) uses roots without it. Each test builds its own
root and states the real loader's output as the recipe recorded it, translated to paths inside the
root, with the ``via`` ldsim must report for each loaded object (``  # VIA``). The real loader
is always run as ``/lib/ld-musl-x86_64.so.1 --list PROG`` (ldd mode), ldsim with
``--invocation ldd``.

Tests named ``test_x_*`` go beyond the recipes: consequences of rule 14 read against musl's
``ldso/dynlink.c``, with the output musl 1.2.3 printed here. Those where ldsim disagrees with the
real loader were first marked ``xfail``; ldsim's musl model was fixed to pass all of them
(errno of the last failed call as the reason, no inode identity for the loader itself, the
other-libc replacement for any library, no e_ident checks in map_library). A real output that
does not match a test's expected block raises ``SpecMismatch``, so a fixture mistake is never
blamed on ldsim.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import muslroot
import pytest
from muslroot import MUSL_LDSO, PATH_FILE, MuslRoot, check

pytestmark = pytest.mark.oracle

INTERP = MUSL_LDSO
LIBC = f"libc.so => {MUSL_LDSO}"
ERR = "Error loading shared library "


@pytest.fixture(autouse=True)
def _musl_available() -> None:
    reason = muslroot.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def mroot(tmp_path: Path) -> MuslRoot:
    """A musl root with Debian's path file (as on the host where the recipes M1–M6, M8 ran)."""
    return MuslRoot(tmp_path / "root")


# --------------------------------------------------------------------------------------------
# M1 LD_LIBRARY_PATH before RPATH


@pytest.fixture
def m1(mroot: MuslRoot) -> MuslRoot:
    mroot.mmklib("/m1/A/libx.so", "libx.so")
    mroot.mmklib("/m1/B/libx.so", "libx.so")
    mroot.mmkexe("/m1/bin/exe", rpath="/m1/A", needed=["libx.so"])
    assert mroot.dynamic_strings("/m1/bin/exe") == [
        (muslroot.DT_NEEDED, "libx.so"),
        (muslroot.DT_NEEDED, "libc.so"),
        (muslroot.DT_RPATH, "/m1/A"),
    ]
    return mroot


def test_m1_rpath_without_llp(m1: MuslRoot) -> None:
    check(
        m1,
        "bin/exe",
        f"""
        {INTERP}
        libx.so => /m1/A/libx.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m1",
    )


def test_m1_llp_before_rpath(m1: MuslRoot) -> None:
    check(
        m1,
        "bin/exe",
        f"""
        {INTERP}
        libx.so => /m1/B/libx.so  # ld_library_path
        {LIBC}
        [rc=0]
        """,
        cwd="/m1",
        env={"LD_LIBRARY_PATH": "/m1/B"},
    )


# --------------------------------------------------------------------------------------------
# M2 RUNPATH inherited along needed_by; RUNPATH overrides RPATH


@pytest.fixture
def m2(mroot: MuslRoot) -> MuslRoot:
    mroot.mkdir("/m2/B")
    mroot.mmklib("/m2/A/libb.so", "libb.so")
    mroot.mmklib("/m2/A/liba.so", "liba.so", needed=["libb.so"])
    mroot.mmkexe("/m2/bin/exe", runpath="/m2/A", needed=["liba.so"])
    return mroot


def test_m2_runpath_inherited(m2: MuslRoot) -> None:
    check(
        m2,
        "bin/exe",
        f"""
        {INTERP}
        liba.so => /m2/A/liba.so  # runpath
        {LIBC}
        libb.so => /m2/A/libb.so  # runpath
        [rc=0]
        """,
        cwd="/m2",
    )


def test_m2_runpath_overrides_rpath(m2: MuslRoot) -> None:
    m2.move("/m2/A/libb.so", "/m2/B/libb.so")
    m2.mmkexe("/m2/bin/exe2", rpath="/m2/B")
    m2.addneeded("/m2/bin/exe2", "/m2/A")
    m2.retag("/m2/bin/exe2", "/m2/A", muslroot.DT_RUNPATH)
    m2.addneeded("/m2/bin/exe2", "liba.so")
    tags = {t for t, _v in m2.dynamic_strings("/m2/bin/exe2")}
    assert {muslroot.DT_RPATH, muslroot.DT_RUNPATH} <= tags
    check(
        m2,
        "bin/exe2",
        f"""
        {INTERP}
        liba.so => /m2/A/liba.so  # runpath
        {LIBC}
        Error loading shared library libb.so: No such file or directory (needed by /m2/A/liba.so)
        [rc=127]
        """,
        cwd="/m2",
    )


# --------------------------------------------------------------------------------------------
# M3 already loaded: SONAME ignored, short name + inode


def test_m3_soname_ignored(mroot: MuslRoot) -> None:
    mroot.mmklib("/m3/d1/libv1.so", "libz.so.1")
    mroot.mmklib("/m3/d2/libz.so.1", "libz.so.1")
    mroot.mmkexe("/m3/bin/exe", rpath="/m3/d1:/m3/d2", needed=["libv1.so", "libz.so.1"])
    check(
        mroot,
        "bin/exe",
        f"""
        {INTERP}
        libv1.so => /m3/d1/libv1.so  # rpath
        libz.so.1 => /m3/d2/libz.so.1  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m3",
    )


@pytest.fixture
def m3c(mroot: MuslRoot) -> MuslRoot:
    mroot.mmklib("/m3/c/libfoo.so.1", "libfoo.so.1")
    mroot.symlink("/m3/c/libfoo.so", "libfoo.so.1")
    mroot.mmklib("/m3/c/libq.so", "libq.so", needed=["libfoo.so.1"])
    mroot.mmkexe("/m3/bin/exe2", rpath="/m3/c", needed=["libfoo.so", "libq.so"])
    return mroot


def test_m3_symlink_same_inode(m3c: MuslRoot) -> None:
    check(
        m3c,
        "bin/exe2",
        f"""
        {INTERP}
        libfoo.so => /m3/c/libfoo.so  # rpath
        libq.so => /m3/c/libq.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m3",
    )


def test_m3_copy_is_another_object(m3c: MuslRoot) -> None:
    m3c.remove("/m3/c/libfoo.so")
    m3c.copy("/m3/c/libfoo.so.1", "/m3/c/libfoo.so")
    check(
        m3c,
        "bin/exe2",
        f"""
        {INTERP}
        libfoo.so => /m3/c/libfoo.so  # rpath
        libq.so => /m3/c/libq.so  # rpath
        {LIBC}
        libfoo.so.1 => /m3/c/libfoo.so.1  # rpath
        [rc=0]
        """,
        cwd="/m3",
    )


# --------------------------------------------------------------------------------------------
# M4 ORIGIN, unsupported tokens, LD_LIBRARY_PATH syntax


@pytest.fixture
def m4(mroot: MuslRoot) -> MuslRoot:
    r = mroot
    r.mkdir("/m4/lnk")
    r.mmklib("/m4/real/lib/libo.so", "libo.so")
    r.mmklib("/m4/lib/libo.so", "libo.so")
    r.mmkexe("/m4/real/bin/exe", rpath="$ORIGIN/../lib", needed=["libo.so"])
    r.symlink("/m4/lnk/exe", "../real/bin/exe")
    r.mmkexe("/m4/real/bin/exe2", rpath="${ORIGIN}/../lib", needed=["libo.so"])
    r.mmkexe("/m4/real/bin/exe3", rpath="$ORIGIN/../lib:/nonexistent/$LIB", needed=["libo.so"])
    r.mmkexe("/m4/x/exe4", needed=["libo.so"])
    return r


def test_m4_origin_symlinked_program_by_absolute_path(m4: MuslRoot) -> None:
    check(
        m4,
        "/m4/lnk/exe",
        f"""
        {INTERP}
        libo.so => /m4/lnk/../lib/libo.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m4",
    )


def test_m4_origin_relative_program_path(m4: MuslRoot) -> None:
    check(
        m4,
        "real/bin/exe",
        f"""
        {INTERP}
        libo.so => real/bin/../lib/libo.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m4",
    )


def test_m4_braced_origin(m4: MuslRoot) -> None:
    check(
        m4,
        "real/bin/exe2",
        f"""
        {INTERP}
        libo.so => real/bin/../lib/libo.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m4",
    )


def test_m4_rpath_with_lib_token_ignored_entirely(m4: MuslRoot) -> None:
    check(
        m4,
        "real/bin/exe3",
        f"""
        {INTERP}
        Error loading shared library libo.so: No such file or directory (needed by real/bin/exe3)
        {LIBC}
        [rc=127]
        """,
        cwd="/m4",
    )


@pytest.mark.parametrize(
    ("llp", "expected"),
    [
        pytest.param(
            ":/nonexistent:",
            "Error loading shared library libo.so: No such file or directory"
            " (needed by /m4/x/exe4)",
            id="empty-elements-are-not-cwd",
        ),
        pytest.param(
            "/nonexistent;.",
            "Error loading shared library libo.so: No such file or directory"
            " (needed by /m4/x/exe4)",
            id="semicolon-is-not-a-separator",
        ),
        pytest.param("/nonexistent:.", "libo.so => ./libo.so  # ld_library_path", id="dot-is-cwd"),
    ],
)
def test_m4_llp_syntax(m4: MuslRoot, llp: str, expected: str) -> None:
    rc = 127 if expected.startswith("Error") else 0
    check(
        m4,
        "/m4/x/exe4",
        f"""
        {INTERP}
        {expected}
        {LIBC}
        [rc={rc}]
        """,
        cwd="/m4/real/lib",
        env={"LD_LIBRARY_PATH": llp},
    )


# --------------------------------------------------------------------------------------------
# M5 bad candidates (RPATH=D1:D2)

TEXT = "hello, this is a text file that is definitely longer than sixty-four bytes\n"


def _bad_text(r: MuslRoot, target: str) -> None:
    r.write(target, TEXT)


def _bad_elf32(r: MuslRoot, target: str) -> None:
    r.mklib32(target, "libbad.so")


def _bad_machine(r: MuslRoot, target: str) -> None:
    r.copy("/m5/D2/libbad.so", target)
    r.patch(target, 18, b"\xb7\x00")  # e_machine = EM_AARCH64


def _bad_dir(r: MuslRoot, target: str) -> None:
    r.mkdir(target)


def _bad_dangling(r: MuslRoot, target: str) -> None:
    r.symlink(target, "nowhere")


def _bad_loop(r: MuslRoot, target: str) -> None:
    r.symlink(target, "libbad.so")


def _error(reason: str) -> str:
    return f"Error loading shared library libbad.so: {reason} (needed by bin/exe)"


M5_ROWS: dict[str, tuple[Callable[[MuslRoot, str], None], str]] = {
    "text": (_bad_text, _error("Exec format error")),
    "elf32": (_bad_elf32, _error("Exec format error")),
    "machine": (_bad_machine, "libbad.so => /m5/D1/libbad.so  # rpath"),
    "dir": (_bad_dir, _error("Is a directory")),
    "dangling": (_bad_dangling, "libbad.so => /m5/D2/libbad.so  # rpath"),
    "symlink-loop": (_bad_loop, _error("Symbolic link loop")),
}


@pytest.mark.parametrize("kind", list(M5_ROWS))
def test_m5_bad_candidate(mroot: MuslRoot, kind: str) -> None:
    make_bad, line = M5_ROWS[kind]
    mroot.mkdir("/m5/D1")
    mroot.mmklib("/m5/D2/libbad.so", "libbad.so")
    mroot.mmkexe("/m5/bin/exe", rpath="/m5/D1:/m5/D2", needed=["libbad.so"])
    make_bad(mroot, "/m5/D1/libbad.so")
    rc = 127 if line.startswith("Error") else 0
    check(
        mroot,
        "bin/exe",
        f"""
        {INTERP}
        {line}
        {LIBC}
        [rc={rc}]
        """,
        cwd="/m5",
    )


@pytest.mark.parametrize("locked", ["/m5u/D1", "/m5u/locked"])
def test_m5_candidate_in_an_unsearchable_directory(mroot: MuslRoot, locked: str) -> None:
    """As uid 65534, D1's good copy lies in a directory it may not search (D1 itself, or
    one above it; mode 0700, root's): open(2) fails with EACCES, which path_open passes
    over, and the search goes on to D2."""
    d1 = "/m5u/D1" if locked == "/m5u/D1" else "/m5u/locked/D1"
    mroot.mmklib(f"{d1}/libbad.so", "libbad.so")
    mroot.mmklib("/m5u/D2/libbad.so", "libbad.so")
    mroot.mmkexe("/m5u/bin/exe", rpath=f"{d1}:/m5u/D2", needed=["libbad.so"])
    mroot.make_world_readable()
    mroot.chmod(locked, 0o700)
    check(
        mroot,
        "bin/exe",
        f"""
        {INTERP}
        libbad.so => /m5u/D2/libbad.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m5u",
        user="65534:65534",
    )


# --------------------------------------------------------------------------------------------
# M6 reserved names, slash names, preloads, the interpreter's path as DT_NEEDED


def test_m6_reserved_slash_preload_interp(mroot: MuslRoot) -> None:
    r = mroot
    r.mmklib("/m6/D/libabs.so", "libabs.so")
    r.mmklib("/m6/sub/librel.so", "librel.so")
    r.mmklib("/m6/D/libpre.so", "libpre.so")
    needed = [
        "$ORIGIN/../D/libn.so",
        "/m6/D/libabs.so",
        "sub/librel.so",
        "libm.so.6",
        "libpthread.so.0",
        "libc.so.6",
        MUSL_LDSO,
    ]
    r.mmkexe("/m6/bin/exe", needed=needed)
    assert r.needed("/m6/bin/exe") == [*needed, "libc.so"]
    check(
        r,
        "bin/exe",
        f"""
        {INTERP}
        /m6/D/libpre.so => /m6/D/libpre.so  # preload
        libabs.so => /m6/D/libabs.so  # preload
        {ERR}$ORIGIN/../D/libn.so: No such file or directory (needed by bin/exe)
        sub/librel.so => sub/librel.so  # direct
        libm.so.6 => {MUSL_LDSO}
        libpthread.so.0 => {MUSL_LDSO}
        libc.so.6 => {MUSL_LDSO}
        [rc=127]
        """,
        cwd="/m6",
        env={"LD_PRELOAD": "/m6/D/libpre.so libabs.so", "LD_LIBRARY_PATH": "/m6/D"},
    )


# --------------------------------------------------------------------------------------------
# M7 the path file (PREFIX/etc/ld-musl-x86_64.path, PREFIX = PT_INTERP minus two components)

LOCAL_LDSO = "/usr/local/musl/lib/ld-musl-x86_64.so.1"


@pytest.fixture
def m7(tmp_path: Path) -> MuslRoot:
    """The recipe's ``$M``: no path file; ``libp.so`` in /lib, /usr/lib, /usr/local/lib, /opt/x."""
    r = MuslRoot(tmp_path / "mroot", path_file=None)
    r.mkdir("/usr/local/musl/etc")
    r.install_loader(LOCAL_LDSO)
    for d in ("/lib", "/usr/lib", "/usr/local/lib", "/opt/x"):
        r.mmklib(f"{d}/libp.so", "libp.so")
    r.mmkexe("/bin/exe", needed=["libp.so"])
    assert not r.exists(PATH_FILE)
    return r


def test_m7_no_path_file_default(m7: MuslRoot) -> None:
    check(
        m7,
        "/bin/exe",
        f"""
        {INTERP}
        libp.so => /lib/libp.so  # default
        {LIBC}
        [rc=0]
        """,
    )


def test_m7_no_path_file_default_second_dir(m7: MuslRoot) -> None:
    m7.remove("/lib/libp.so")
    check(
        m7,
        "/bin/exe",
        f"""
        {INTERP}
        libp.so => /usr/local/lib/libp.so  # default
        {LIBC}
        [rc=0]
        """,
    )


def test_m7_path_file_lines(m7: MuslRoot) -> None:
    m7.remove("/lib/libp.so")
    m7.write(PATH_FILE, "/opt/x\n/usr/lib\n")
    check(
        m7,
        "/bin/exe",
        f"""
        {INTERP}
        libp.so => /opt/x/libp.so  # default
        {LIBC}
        [rc=0]
        """,
    )


def test_m7_empty_path_file(m7: MuslRoot) -> None:
    m7.remove("/lib/libp.so")
    m7.write(PATH_FILE, "")
    check(
        m7,
        "/bin/exe",
        f"""
        {INTERP}
        Error loading shared library libp.so: No error information (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
    )


def test_m7_path_file_the_caller_may_not_read(m7: MuslRoot) -> None:
    """musl opens its path file as the process: for a caller who may not read it (mode
    0600, root's), the open fails with EACCES, not ENOENT, and the system path is empty:
    nothing is found, and the errno left behind is the open's."""
    m7.write(PATH_FILE, "/opt/x\n")
    m7.make_world_readable()
    m7.chmod(PATH_FILE, 0o600)
    check(
        m7,
        "/bin/exe",
        f"""
        {INTERP}
        Error loading shared library libp.so: Permission denied (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
        user="65534:65534",
    )


@pytest.mark.parametrize(
    "loader",
    [
        pytest.param(MUSL_LDSO, id="spec-run-via-lib"),
        pytest.param(LOCAL_LDSO, id="run-via-its-pt-interp"),
    ],
)
def test_m7_pt_interp_prefix(m7: MuslRoot, loader: str) -> None:
    m7.remove("/lib/libp.so")
    m7.copy("/bin/exe", "/bin/exe2")
    m7.set_interpreter("/bin/exe2", LOCAL_LDSO)
    m7.write("/usr/local/musl/etc/ld-musl-x86_64.path", "/opt/x\n")
    m7.write(PATH_FILE, "/usr/lib\n")
    check(
        m7,
        "/bin/exe2",
        f"""
        {LOCAL_LDSO}
        libp.so => /opt/x/libp.so  # default
        libc.so => {LOCAL_LDSO}
        [rc=0]
        """,
        ldso=loader,
    )


# --------------------------------------------------------------------------------------------
# M8 a bare-name preload does not use the executable's RPATH


def test_m8_bare_preload_ignores_exe_rpath(mroot: MuslRoot) -> None:
    mroot.mmklib("/m8/A/libpre.so", "libpre.so")
    mroot.mmkexe("/m8/exe", rpath="/m8/A")
    check(
        mroot,
        "./exe",
        f"""
        {INTERP}
        {LIBC}
        [rc=0]
        """,
        cwd="/m8",
        env={"LD_PRELOAD": "libpre.so"},
    )


# ============================================================================================
# Beyond the recipes: consequences of rule 14 read against musl 1.2.3's ``ldso/dynlink.c``.
# No recipe has an expected block for these; each block below is what the real musl 1.2.3
# loader printed in this oracle (the sanity check pins it, so a fixture change is noticed).

def test_x_empty_path_file_reason_from_rpath(tmp_path: Path) -> None:
    r = MuslRoot(tmp_path / "root", path_file="")
    r.mmkexe("/bin/exe", rpath="/nonexistent", needed=["libp.so"])
    check(
        r,
        "/bin/exe",
        f"""
        {INTERP}
        Error loading shared library libp.so: No such file or directory (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
    )


def test_x_empty_path_file_reason_from_llp(tmp_path: Path) -> None:
    r = MuslRoot(tmp_path / "root", path_file="")
    r.mmkexe("/bin/exe", needed=["libp.so"])
    check(
        r,
        "/bin/exe",
        f"""
        {INTERP}
        Error loading shared library libp.so: No such file or directory (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
        env={"LD_LIBRARY_PATH": "/nowhere"},
    )


def test_x_reason_enotdir_from_last_system_dir(tmp_path: Path) -> None:
    r = MuslRoot(tmp_path / "root", path_file="/opt/x\n/bin/exe\n")
    r.mmkexe("/bin/exe", needed=["libp.so"])
    check(
        r,
        "/bin/exe",
        f"""
        {INTERP}
        Error loading shared library libp.so: Not a directory (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
    )


def test_x_reason_stale_errno_from_previous_lookup(tmp_path: Path) -> None:
    r = MuslRoot(tmp_path / "root", path_file="")
    r.mmkexe("/bin/exe", needed=["/nonexistent/libq.so", "libp.so"])
    check(
        r,
        "/bin/exe",
        f"""
        {INTERP}
        {ERR}/nonexistent/libq.so: No such file or directory (needed by /bin/exe)
        Error loading shared library libp.so: No such file or directory (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
    )


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param("dot-path", id="same-file-other-spelling"),
        pytest.param("debian-symlink", id="debian-layout-libc-path"),
    ],
)
def test_x_loader_file_by_another_path(mroot: MuslRoot, layout: str) -> None:
    if layout == "dot-path":
        other = "/lib/./ld-musl-x86_64.so.1"
    else:  # Debian: /lib/ld-musl-x86_64.so.1 -> /usr/lib/x86_64-linux-musl/libc.so
        other = "/usr/lib/x86_64-linux-musl/libc.so"
        mroot.move(MUSL_LDSO, other)
        mroot.symlink(MUSL_LDSO, other)
    mroot.mmklib("/d/libx.so", "libx.so")
    mroot.mmkexe("/bin/exe", rpath="/d", needed=[other, "libx.so"])
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        {LIBC}
        libx.so => /d/libx.so  # rpath
        [rc=0]
        """,
    )


def test_x_other_libc_by_absolute_path_is_replaced(mroot: MuslRoot) -> None:
    """A copy of musl's libc and a glibc libc.so.6, both by absolute path (musl rules of
    ``docs/loader-model.md``)."""
    mroot.install_loader("/opt/musl/libc.so")
    mroot.mkdir("/opt/glibc")
    glibc = Path("/lib/x86_64-linux-gnu/libc.so.6")
    if not glibc.is_file():
        pytest.skip("no host glibc libc.so.6 to copy")
    mroot.write("/opt/glibc/libc.so.6", glibc.read_bytes())
    mroot.mmklib("/d/libx.so", "libx.so")
    mroot.mmkexe(
        "/bin/exe", rpath="/d", needed=["/opt/glibc/libc.so.6", "/opt/musl/libc.so", "libx.so"]
    )
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        {LIBC}
        libx.so => /d/libx.so  # rpath
        [rc=0]
        """,
    )


def test_x_library_defining_libc_symbols_is_replaced(mroot: MuslRoot) -> None:
    fake = "int __libc_start_main(void){return 0;}\nvoid *stdin;\n"
    mroot.mmklib("/d/libfake.so", "libfake.so", source=fake)
    mroot.mmkexe("/bin/exe", rpath="/d", needed=["libfake.so"])
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        {LIBC}
        [rc=0]
        """,
    )


def test_x_bare_program_name_origin_is_dot(mroot: MuslRoot) -> None:
    mroot.mmklib("/m/lib/libo.so", "libo.so")
    mroot.mmkexe("/m/bin/exe", rpath="$ORIGIN/../lib", needed=["libo.so"])
    check(
        mroot,
        "exe",
        f"""
        {INTERP}
        libo.so => ./../lib/libo.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m/bin",
    )


def test_x_origin_is_a_plain_prefix(mroot: MuslRoot) -> None:
    """``$ORIGINX`` is ORIGIN followed by ``X`` (musl rules of ``docs/loader-model.md``)."""
    mroot.mkdir("/m/binX")
    mroot.mmklib("/m/lib/libo.so", "libo.so")
    mroot.mmkexe("/m/bin/exe", rpath="$ORIGINX/../lib", needed=["libo.so"])
    check(
        mroot,
        "bin/exe",
        f"""
        {INTERP}
        libo.so => binX/../lib/libo.so  # rpath
        {LIBC}
        [rc=0]
        """,
        cwd="/m",
    )


def test_x_library_origin_and_inherited_rpath(mroot: MuslRoot) -> None:
    """A library found through a relative rpath has a relative ORIGIN; its own rpath comes
    before the program's (musl rules of ``docs/loader-model.md``)."""
    mroot.mmklib("/m/lib/dep/libd.so", "libd.so")
    mroot.mmklib("/m/lib/libe.so", "libe.so")
    mroot.mmklib("/m/lib/libo.so", "libo.so", rpath="$ORIGIN/dep", needed=["libd.so", "libe.so"])
    mroot.mmkexe("/m/bin/exe", rpath="$ORIGIN/../lib", needed=["libo.so"])
    check(
        mroot,
        "bin/exe",
        f"""
        {INTERP}
        libo.so => bin/../lib/libo.so  # rpath
        {LIBC}
        libd.so => bin/../lib/dep/libd.so  # rpath
        libe.so => bin/../lib/libe.so  # rpath
        [rc=0]
        """,
        cwd="/m",
    )


def test_x_preload_separators_reserved_and_deps(mroot: MuslRoot) -> None:
    """LD_PRELOAD split on ':' and white space, a reserved name preloaded, a preload's missing
    dependency; LD_LIBRARY_PATH split on newline (musl rules of ``docs/loader-model.md``)."""
    mroot.mmklib("/d/liba.so", "liba.so", needed=["libmiss.so"])
    mroot.mmklib("/d/libb.so", "libb.so")
    mroot.mmkexe("/bin/exe", needed=["libb.so"])
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        {LIBC}
        /d/liba.so => /d/liba.so  # preload
        /d/libb.so => /d/libb.so  # preload
        Error loading shared library libmiss.so: No such file or directory (needed by /d/liba.so)
        [rc=127]
        """,
        env={"LD_PRELOAD": "libc.so:/d/liba.so\t/d/libb.so", "LD_LIBRARY_PATH": "/no\n/d"},
    )


def test_x_enotdir_continues_loop_stops(mroot: MuslRoot) -> None:
    """ENOTDIR in an rpath goes on; a slash name under a file fails with ENOTDIR; ELOOP in
    LD_LIBRARY_PATH ends the lookup before the rpath (musl rules of ``docs/loader-model.md``)."""
    mroot.mmklib("/d/liba.so", "liba.so")
    mroot.mmklib("/d/libc2.so", "libc2.so")
    mroot.symlink("/loop/libc2.so", "libc2.so")
    mroot.mmkexe(
        "/bin/exe", rpath="/bin/exe:/d", needed=["liba.so", "/bin/exe/libz.so", "libc2.so"]
    )
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        liba.so => /d/liba.so  # rpath
        Error loading shared library /bin/exe/libz.so: Not a directory (needed by /bin/exe)
        Error loading shared library libc2.so: Symbolic link loop (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
        env={"LD_LIBRARY_PATH": "/loop"},
    )


def test_x_short_name_from_inode_match(mroot: MuslRoot) -> None:
    """An object loaded by path gets, on a later inode match, the basename of *its own* path as
    short name, which then hides another file of that name (musl rules of
    ``docs/loader-model.md``)."""
    mroot.mmklib("/d/libabs.so", "libabs.so")
    mroot.symlink("/e/liblink.so", "/d/libabs.so")
    mroot.mmklib("/e/libabs.so", "libabs.so")
    mroot.mmkexe("/bin/exe", rpath="/e", needed=["/d/libabs.so", "liblink.so", "libabs.so"])
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        /d/libabs.so => /d/libabs.so  # direct
        {LIBC}
        [rc=0]
        """,
    )


@pytest.mark.parametrize(
    ("offset", "data", "line"),
    [
        pytest.param(
            4,
            b"\x01",
            "libbad.so => /x/D1/libbad.so  # rpath",
            id="class-32",
        ),
        pytest.param(
            0,
            b"X",
            "libbad.so => /x/D1/libbad.so  # rpath",
            id="bad-magic",
        ),
        pytest.param(
            5,
            b"\x02",
            "libbad.so => /x/D1/libbad.so  # rpath",
            id="big-endian",
        ),
        pytest.param(7, b"\x09", "libbad.so => /x/D1/libbad.so  # rpath", id="osabi-freebsd"),
        pytest.param(
            16,
            b"\x01\x00",
            "Error loading shared library libbad.so: Exec format error (needed by /x/bin/exe)",
            id="etype-rel",
        ),
    ],
)
def test_x_header_bytes(mroot: MuslRoot, offset: int, data: bytes, line: str) -> None:
    _bad_library(mroot, lambda path: mroot.patch("/x/D1/libbad.so", offset, data), line)


def _program_header_of(data: bytes, p_type: int) -> int:
    """The offset of the first program header of type ``p_type`` in a 64-bit file."""
    (phoff,) = struct.unpack_from("<Q", data, 32)
    size, phnum = struct.unpack_from("<HH", data, 54)
    return next(phoff + i * size for i in range(phnum)
                if struct.unpack_from("<I", data, phoff + i * size)[0] == p_type)


_UNMAPPED: dict[str, Callable[[bytes], list[tuple[int, bytes]]]] = {
    "e_type-rel": lambda data: [(16, b"\x01\x00")],
    "no-pt-dynamic": lambda data: [(_program_header_of(data, 2), struct.pack("<I", 0))],
    "pt-dynamic-at-0": lambda data: [(_program_header_of(data, 2) + 16, struct.pack("<Q", 0))],
    "phentsize-60": lambda data: [(54, struct.pack("<H", 60))],
}


@pytest.mark.parametrize("change", list(_UNMAPPED))
@pytest.mark.parametrize("path", ["/x/bin/prog", "/x/lib/libprog.so"])
def test_x_ldd_of_a_file_map_library_refuses(mroot: MuslRoot, path: str, change: str) -> None:
    """musl's ldd is its loader's ``--list``, which maps the file itself: when
    ``map_library`` fails on it (an e_type neither ET_DYN nor ET_EXEC, no PT_DYNAMIC or one
    at address 0, program headers read ``e_phentsize`` apart that are not), ``__dls3``
    prints "Not a valid dynamic program" and exits 1, for a program as for a library.
    ldsim said each loads."""
    if path.endswith(".so") and change == "no-pt-dynamic":
        # no PT_DYNAMIC, no PT_INTERP: nothing tells ldsim the file is musl's (left alone)
        pytest.skip("a file with neither PT_DYNAMIC nor PT_INTERP is taken for a static one")
    mroot.mmkexe("/x/bin/prog", needed=[])
    mroot.mmklib("/x/lib/libprog.so", "libprog.so")
    for offset, data in _UNMAPPED[change](mroot.read_bytes(path)):
        mroot.patch(path, offset, data)
    real = muslroot.run_real_musl(mroot, path)
    said = f"{MUSL_LDSO}: {path}: Not a valid dynamic program"
    assert real.status == 1 and real.output == said + "\n", real.describe()
    sim = muslroot.run_ldsim(mroot, path)
    assert sim.status == 1 and sim.doc is not None, sim.stderr
    assert sim.doc["verdict"]["status"] == "does_not_start"
    assert sim.doc["error"]["loader_message"] == said
    assert [o["path"] for o in sim.doc["objects"]] == [path]


@pytest.mark.parametrize(("length", "found"), [(511, "long"), (512, "/opt")])
def test_x_a_candidate_longer_than_musls_buffer_is_passed_by(
        mroot: MuslRoot, length: int, found: str) -> None:
    """``path_open`` writes "dir/name" into load_library's 512-byte buffer: a candidate of
    511 bytes is opened, one of 512 (no room for the NUL) is passed by, and the next RPATH
    directory's copy loads. ldsim opened it."""
    d = "/o/" + "a" * 250 + "/" + "b" * (length - 8 - 254)
    assert len(f"{d}/libq.so") == length
    mroot.mmklib(f"{d}/libq.so", "libq.so")
    mroot.mmklib("/opt/libq.so", "libq.so")
    mroot.mmkexe("/x/bin/p", f"-L{mroot.host(d)}", "-lq", rpath=f"{d}:/opt")
    where = d if found == "long" else "/opt"
    check(mroot, "/x/bin/p", f"""
        {INTERP}
        libq.so => {where}/libq.so  # rpath
        {LIBC}
        [rc=0]
        """)


def _bad_library(mroot: MuslRoot, change: Callable[[Path], None], line: str) -> None:
    """``/x/D1/libbad.so``, a copy of ``/x/D2``'s changed by ``change``, searched first by
    the program's RPATH: musl maps it (``line``: its listing line) or fails on it."""
    mroot.mmklib("/x/D2/libbad.so", "libbad.so")
    mroot.mmkexe("/x/bin/exe", rpath="/x/D1:/x/D2", needed=["libbad.so"])
    mroot.copy("/x/D2/libbad.so", "/x/D1/libbad.so")
    change(mroot.host("/x/D1/libbad.so"))
    rc = 127 if line.startswith("Error") else 0
    check(
        mroot,
        "/x/bin/exe",
        f"""
        {INTERP}
        {line}
        {LIBC}
        [rc={rc}]
        """,
    )


def _relayout(path: Path, stride: int, *, pad: int = 0, cut: int = 0, field: int | None = None,
              first_type: int | None = None) -> None:
    """Append a 64-bit file's 56-byte program headers laid ``stride`` apart (a later one over
    an earlier one's tail when ``stride`` < 56), then ``pad`` zero bytes; cut ``cut`` bytes
    off the end; point e_phoff at it, set e_phentsize to ``stride`` (or ``field``), the
    first header's type to ``first_type``."""
    data = bytearray(path.read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 32)
    size, phnum = struct.unpack_from("<HH", data, 54)
    heads = [bytearray(data[phoff + i * size:phoff + i * size + 56]) for i in range(phnum)]
    if first_type is not None:
        struct.pack_into("<I", heads[0], 0, first_type)
    table = bytearray((phnum - 1) * stride + 56)
    for i, head in enumerate(heads):
        table[i * stride:i * stride + 56] = head
    at = (len(data) + 7) // 8 * 8
    data += bytes(at - len(data)) + table + bytes(pad)
    if cut:
        del data[-cut:]
    struct.pack_into("<Q", data, 32, at)
    struct.pack_into("<H", data, 54, stride if field is None else field)
    path.write_bytes(bytes(data))


def _set_phentsize(path: Path, size: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 54, size)
    path.write_bytes(bytes(data))


def _dynamic_at_zero(path: Path) -> None:
    data = bytearray(path.read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 32)
    for i in range(struct.unpack_from("<H", data, 56)[0]):
        if struct.unpack_from("<I", data, phoff + 56 * i)[0] == 2:  # PT_DYNAMIC: p_vaddr 0
            struct.pack_into("<Q", data, phoff + 56 * i + 16, 0)
    path.write_bytes(bytes(data))


def _size_zero_far(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, 32, 1 << 40)  # e_phoff past the end, e_phentsize 0
    struct.pack_into("<H", data, 54, 0)
    path.write_bytes(bytes(data))


_LOADS = "libbad.so => /x/D1/libbad.so  # rpath"
_NOEXEC = "Error loading shared library libbad.so: Exec format error (needed by /x/bin/exe)"


@pytest.mark.parametrize(
    ("change", "line"),
    [
        # headers 64 apart, e_phoff and e_phentsize saying so: loaded; e_phentsize 64 or 0
        # over the headers 56 apart: other headers read
        pytest.param(lambda p: _relayout(p, 64, pad=8), _LOADS, id="64-apart"),
        pytest.param(lambda p: _relayout(p, 56, field=64, pad=8), _NOEXEC, id="size-64-only"),
        pytest.param(lambda p: _set_phentsize(p, 64), _NOEXEC, id="size-64-in-place"),
        pytest.param(lambda p: _set_phentsize(p, 0), _NOEXEC, id="size-0-in-place"),
        # the last header's tail (p_memsz, p_align) read past the table, from the buffer
        pytest.param(lambda p: _relayout(p, 48, cut=8), _LOADS, id="48-apart-last-past-eof"),
        pytest.param(lambda p: _relayout(p, 52, cut=4), _LOADS, id="52-apart-last-past-eof"),
        # the table's pread comes back short: ENOEXEC
        pytest.param(lambda p: _relayout(p, 56, cut=1), _NOEXEC, id="table-past-eof"),
        pytest.param(lambda p: _relayout(p, 200), _NOEXEC, id="200-apart-past-eof"),
        pytest.param(lambda p: _relayout(p, 200, pad=144), _LOADS, id="200-apart-in-file"),
        pytest.param(lambda p: _relayout(p, 63, pad=6), _NOEXEC, id="63-apart-one-short"),
        pytest.param(lambda p: _relayout(p, 63, pad=7), _LOADS, id="63-apart-in-file"),
        # e_phentsize 0: the same header over and over (a PT_DYNAMIC, no PT_LOAD); one of
        # 0 bytes read far past the end "succeeds", and the buffer's header is read
        pytest.param(lambda p: _relayout(p, 56, field=0, first_type=2), _NOEXEC,
                     id="size-0-dynamic-only"),
        pytest.param(_size_zero_far, _NOEXEC, id="size-0-past-eof"),
        # "if (!dyn) goto noexec": a PT_DYNAMIC at address 0 is none
        pytest.param(_dynamic_at_zero, _NOEXEC, id="dynamic-at-address-0"),
    ],
)
def test_x_program_header_table_as_map_library_reads_it(
        mroot: MuslRoot, change: Callable[[Path], None], line: str) -> None:
    """How musl's ``map_library`` reads a library's program header table: into its
    960-byte buffer when the table is in the first bytes read, else with a ``pread`` of
    exactly ``e_phentsize * e_phnum`` bytes (short: ENOEXEC), into that buffer when it fits,
    into memory of its own when not; headers ``e_phentsize`` apart, a header's bytes past
    the table read from what is there. glibc refuses any e_phentsize but its own."""
    _bad_library(mroot, change, line)


def test_x_needed_names_that_are_not_utf8(mroot: MuslRoot) -> None:
    """DT_NEEDED names are bytes to musl: one with a byte that is no UTF-8 (0xff) is searched
    and found like any other, and one that is missing fails with the same bytes in its line
    (ldsim keeps such bytes as surrogates; its musl model measured the name's length by
    encoding it as UTF-8, which raised)."""
    odd = "li\udcfffoo.so"  # the byte 0xff, as Python decodes it (surrogateescape)
    mroot.mmklib("/d/libplain.so", odd)
    (mroot.host("/d/libplain.so")).rename(mroot.host(f"/d/{odd}"))
    mroot.mmkexe("/bin/exe", rpath="/d", needed=[odd, "li\udcffgone.so"])
    check(
        mroot,
        "/bin/exe",
        f"""
        {INTERP}
        {odd} => /d/{odd}  # rpath
        Error loading shared library li\udcffgone.so: No such file or directory (needed by /bin/exe)
        {LIBC}
        [rc=127]
        """,
    )
