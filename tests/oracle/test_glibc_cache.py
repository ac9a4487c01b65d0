"""Spec D.2 S7a–S7g (/etc/ld.so.cache and ldconfig, rule 7), S12 (DF_1_NODEFLIB, rule 12) and
S1f (/etc/ld.so.preload, rule 1): chroot scenarios with a cache built by ``ldconfig -r``.

Every test starts from a fresh root in the state the recipe's S7a leaves it in. ld.so's
``--inhibit-cache`` has no ldsim option; the real loader shows that it is the same as a root
without ``/etc/ld.so.cache``, and ldsim is compared on such a root.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import glibcroot
import pytest
from glibcroot import Root, compare, expect, expect_error, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_CACHE = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # ld.so.cache"
LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"
S7A_LISTING = f"""
    libfoo.so.1 => /opt/a/libfoo.so.1  # ld.so.cache
    libbar.so.2 => /opt/b/libbar.so.2  # ld.so.cache
    {LIBC_CACHE}
    {INTERP}
    """


def cache_lines(ldconfig_p: str, grep: str = "") -> list[str]:
    """The entry lines of ``ldconfig -p`` output (optionally only those containing ``grep``)."""
    return [
        line.strip() for line in ldconfig_p.splitlines() if line.startswith("\t") and grep in line
    ]


def build_s7a(r: Root) -> str:
    """The recipe's S7a setup; returns the output of ``ldconfig -v``."""
    r.mkdir("/opt/a", "/opt/b")
    r.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
    r.write("/etc/ld.so.conf.d/10-b.conf", "/opt/b\n")
    r.write("/etc/ld.so.conf.d/05-a.conf", "/opt/a   # comment\n")
    r.mklib("/opt/a/libfoo.so.1.2", "libfoo.so.1")
    r.mklib("/opt/b/libfoo.so.1.0", "libfoo.so.1")
    r.mklib("/opt/b/libbar.so.2.0", "libbar.so.2")
    verbose = r.ldconfig(None, "-v")
    r.mkexe("/bin/exe", needed=["libfoo.so.1", "libbar.so.2"])
    return verbose


@contextlib.contextmanager
def without_cache(r: Root) -> Iterator[None]:
    """Move /etc/ld.so.cache aside for the duration (what ``--inhibit-cache`` amounts to)."""
    r.move("/etc/ld.so.cache", "/etc/ld.so.cache.aside")
    try:
        yield
    finally:
        r.move("/etc/ld.so.cache.aside", "/etc/ld.so.cache")


@pytest.fixture
def s7(root: Root) -> Root:
    build_s7a(root)
    return root


def test_s7a_include_glob_order_duplicate_soname(root: Root) -> None:
    verbose = build_s7a(root)
    for line in (
        "/opt/a: (from /etc/ld.so.conf.d/05-a.conf:1)",
        "\tlibfoo.so.1 -> libfoo.so.1.2 (changed)",
        "/opt/b: (from /etc/ld.so.conf.d/10-b.conf:1)",
        "\tlibbar.so.2 -> libbar.so.2.0 (changed)",
        "\tlibfoo.so.1 -> libfoo.so.1.0 (changed)",
    ):
        assert line in verbose.splitlines(), verbose
    assert verbose.index("/opt/a:") < verbose.index("/opt/b:")
    want = [
        "libfoo.so.1 (libc6,x86-64) => /opt/a/libfoo.so.1",
        "libfoo.so.1 (libc6,x86-64) => /opt/b/libfoo.so.1",
        "libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6",
        "libbar.so.2 (libc6,x86-64) => /opt/b/libbar.so.2",
        "ld-linux-x86-64.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
    ]
    if (a := root.foreign_arch) is not None:
        # The loader's entry: i386's ld-linux.so.2 needs no libc (plain "ELF"); the PT_INTERP
        # symlink of i386/arm64/armhf lies in /lib, which ldconfig scans too (x86-64's in /lib64).
        flags = "ELF" if a.name == "i386" else a.cache_flags
        want = [root.localize(line) for line in want[:-1]]
        want += [f"{a.ldso_name} ({flags}) => {a.ldso}", f"{a.ldso_name} ({flags}) => {a.interp}"]
    assert cache_lines(root.ldconfig_print()) == want
    real = run_real_loader(root, "/bin/exe")
    expect(real, S7A_LISTING)
    compare(real, root)


def test_s7b_stale_cache_entry(s7: Root) -> None:
    s7.move("/opt/a/libfoo.so.1.2", "/libfoo.so.1.2")  # the cache still names /opt/a/libfoo.so.1
    real = run_real_loader(s7, "/bin/exe")
    expect(
        real,
        f"""
        libfoo.so.1 => not found
        libbar.so.2 => /opt/b/libbar.so.2  # ld.so.cache
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s7)

    s7.copy("/opt/b/libfoo.so.1.0", "/usr/lib/libfoo.so.1")
    real = run_real_loader(s7, "/bin/exe")
    expect(
        real,
        f"""
        libfoo.so.1 => /usr/lib/libfoo.so.1  # default
        libbar.so.2 => /opt/b/libbar.so.2  # ld.so.cache
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s7)


def test_s7c_inhibit_cache(s7: Root) -> None:
    listed = run_real_loader(s7, "/bin/exe", explicit=True, ldso_args=["--inhibit-cache", "--list"])
    expect_error(listed, "libfoo.so.1: cannot open shared object file: No such file or directory")

    no_cache_listing = f"""
        libfoo.so.1 => not found
        libbar.so.2 => not found
        {LIBC_DEFAULT}
        {INTERP}
        """
    inhibited = run_real_loader(s7, "/bin/exe", explicit=True, ldso_args=["--inhibit-cache"])
    expect(inhibited, no_cache_listing)
    with without_cache(s7):
        real = run_real_loader(s7, "/bin/exe")
        expect(real, no_cache_listing)
        compare(real, s7)


@pytest.mark.parametrize(
    ("fmt", "magic"),
    [("old", b"ld.so-1.7.0"), ("compat", b"ld.so-1.7.0"), ("new", b"glibc-ld.so.cache1.1")],
)
def test_s7c_cache_formats(s7: Root, fmt: str, magic: bytes) -> None:
    s7.ldconfig(fmt)
    assert s7.read_bytes("/etc/ld.so.cache").startswith(magic)
    real = run_real_loader(s7, "/bin/exe")
    listing = S7A_LISTING
    if s7.arch_name == "armhf" and fmt == "old":
        # Measured: with an old-format-only cache, armhf's loader takes the *second* of the two
        # libfoo.so.1 entries (both flagged libc6,hard-float), not the first as elsewhere.
        listing = listing.replace("/opt/a/libfoo.so.1", "/opt/b/libfoo.so.1")
    expect(real, listing)
    compare(real, s7)


def test_s7d_numeric_key_comparison(s7: Root) -> None:
    s7.mkexe("/bin/num", needed=["libfoo.so.01", "libbar.so.002"])
    real = run_real_loader(s7, "/bin/num")
    expect(
        real,
        f"""
        libfoo.so.01 => /opt/a/libfoo.so.1  # ld.so.cache
        libbar.so.002 => /opt/b/libbar.so.2  # ld.so.cache
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s7)

    no_cache_listing = f"""
        libfoo.so.01 => not found
        libbar.so.002 => not found
        {LIBC_DEFAULT}
        {INTERP}
        """
    inhibited = run_real_loader(s7, "/bin/num", explicit=True, ldso_args=["--inhibit-cache"])
    expect(inhibited, no_cache_listing)
    with without_cache(s7):
        real = run_real_loader(s7, "/bin/num")
        expect(real, no_cache_listing)
        compare(real, s7)


def test_s7e_what_ldconfig_records(s7: Root) -> None:
    s7.mkdir("/opt/n")
    s7.write("/etc/ld.so.conf.d/30-n.conf", "/opt/n\n")
    s7.mklib("/opt/n/libdev.so.1.0", "libdev.so.1")
    s7.symlink("/opt/n/libdev.so", "libdev.so.1")
    s7.mklib("/opt/n/foo.so", "foo.so")
    s7.mklib("/opt/n/libnosoname.so.3", None)
    s7.mklib("/opt/n/libx.so.5", "liby.so.5")
    s7.mklib("/opt/n/libplain", None)
    s7.write("/opt/n/libtext.so.1", "not elf at all\n")
    s7.ldconfig()
    s7.ldconfig()  # second run: the libdev.so symlink's target now exists
    assert s7.host("/opt/n/liby.so.5").readlink().as_posix() == "libx.so.5"
    assert s7.host("/opt/n/libdev.so.1").readlink().as_posix() == "libdev.so.1.0"
    assert cache_lines(s7.ldconfig_print(), "/opt/n") == [
        s7.localize(line)
        for line in (
            "liby.so.5 (libc6,x86-64) => /opt/n/liby.so.5",
            "libnosoname.so.3 (libc6,x86-64) => /opt/n/libnosoname.so.3",
            "libdev.so.1 (libc6,x86-64) => /opt/n/libdev.so.1",
            "libdev.so (libc6,x86-64) => /opt/n/libdev.so",
        )
    ]
    # Not a recipe: what the loader makes of that cache. libdev.so is the file libdev.so.1
    # already loaded (same inode): no line of its own.
    s7.mkexe(
        "/bin/n",
        needed=["liby.so.5", "libx.so.5", "libnosoname.so.3", "libdev.so.1", "libdev.so",
                "foo.so", "libplain", "libtext.so.1"],
    )  # fmt: skip
    real = run_real_loader(s7, "/bin/n")
    expect(
        real,
        f"""
        liby.so.5 => /opt/n/liby.so.5  # ld.so.cache
        libx.so.5 => not found
        libnosoname.so.3 => /opt/n/libnosoname.so.3  # ld.so.cache
        libdev.so.1 => /opt/n/libdev.so.1  # ld.so.cache
        foo.so => not found
        libplain => not found
        libtext.so.1 => not found
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s7)


@pytest.fixture
def s7f(s7: Root) -> Root:
    if s7.foreign_arch is not None:
        pytest.skip(
            f"x86-64 only: glibc-hwcaps x86-64-v2/v3 levels (glibc 2.36 has none for {s7.arch_name})"
        )
    s7.mkdir("/opt/h/glibc-hwcaps/x86-64-v3", "/opt/h/glibc-hwcaps/x86-64-v2")
    s7.write("/etc/ld.so.conf.d/40-h.conf", "/opt/h\n")
    s7.mklib("/opt/h/libhw.so.1", "libhw.so.1")
    s7.mklib("/opt/h/glibc-hwcaps/x86-64-v3/libhw.so.1", "libhw.so.1")
    s7.mklib("/opt/h/glibc-hwcaps/x86-64-v2/libhw.so.1.0", "libhw.so.1")
    s7.ldconfig()
    s7.mkexe("/bin/hw", needed=["libhw.so.1"])
    return s7


def test_s7f_cache_records_hwcaps_entries(s7f: Root) -> None:
    assert cache_lines(s7f.ldconfig_print(), "libhw") == [
        'libhw.so.1 (libc6,x86-64, hwcap: "x86-64-v2") => '
        "/opt/h/glibc-hwcaps/x86-64-v2/libhw.so.1.0",
        'libhw.so.1 (libc6,x86-64, hwcap: "x86-64-v3") => /opt/h/glibc-hwcaps/x86-64-v3/libhw.so.1',
        "libhw.so.1 (libc6,x86-64) => /opt/h/libhw.so.1",
    ]


@pytest.mark.parametrize(
    ("mask", "libhw"),
    [
        (None, "/opt/h/glibc-hwcaps/x86-64-v3/libhw.so.1"),
        ("x86-64-v2", "/opt/h/glibc-hwcaps/x86-64-v2/libhw.so.1.0"),
        ("none", "/opt/h/libhw.so.1"),
    ],
    ids=["default", "mask-v2", "mask-none"],
)
def test_s7f_hwcaps_cache_entries_by_priority(s7f: Root, mask: str | None, libhw: str) -> None:
    if not {"x86-64-v2", "x86-64-v3"} <= set(glibcroot.host_loader_info()[1]):
        pytest.skip("this CPU does not support x86-64-v3")
    if mask is None:
        real = run_real_loader(s7f, "/bin/hw")
    else:
        real = run_real_loader(
            s7f, "/bin/hw", explicit=True, ldso_args=["--glibc-hwcaps-mask", mask]
        )
    expect(
        real,
        f"""
        libhw.so.1 => {libhw}  # ld.so.cache
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s7f)


# How the ldconfig of each architecture flags the library of the other class (mklib_other_class)
OTHER_CLASS_FLAGS = {
    "x86_64": "ELF",  # an i386 library
    "i386": "libc6,x86-64",
    "arm64": "libc6,hard-float",  # an armhf library
    "armhf": "libc6,AArch64",
}


def test_s7g_32bit_cache_entry_is_ignored(s7: Root) -> None:
    """A library of the other class (x86-64: 32-bit) in the cache is skipped."""
    s7.mklib_other_class("/opt/c32/libbad.so", "libbad.so")
    s7.write("/etc/ld.so.conf.d/50-c.conf", "/opt/c32\n")
    s7.ldconfig()
    if (flags := OTHER_CLASS_FLAGS.get(s7.arch_name)) is not None:
        assert cache_lines(s7.ldconfig_print(), "libbad") == [
            f"libbad.so ({flags}) => /opt/c32/libbad.so"
        ]
    s7.mkexe("/bin/b32", needed=["libbad.so"])
    real = run_real_loader(s7, "/bin/b32")
    expect(
        real,
        f"""
        libbad.so => not found
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s7)


# -- S12 DF_1_NODEFLIB ---------------------------------------------------------------------------


@pytest.fixture
def s12(s7: Root) -> Root:
    s7.mkdir("/usr/lib/sub")
    s7.write("/etc/ld.so.conf.d/20-sub.conf", "/usr/lib/sub\n")
    s7.mklib("/usr/lib/sub/libsub.so.1", "libsub.so.1")
    s7.mklib("/usr/lib/libdef.so.1", "libdef.so.1")
    s7.ldconfig()
    s7.mkexe("/bin/nodef", "-Wl,-z,nodefaultlib", needed=["libfoo.so.1", "libsub.so.1",
                                                           "libdef.so.1"])  # fmt: skip
    s7.mklib("/opt/nd/libnd.so", "libnd.so", "-Wl,-z,nodefaultlib", needed=["libdef.so.1"])
    s7.mkexe("/bin/ndlib", rpath="/opt/nd", needed=["libnd.so"])
    s7.copy("/bin/ndlib", "/bin/ndlib2")
    s7.addneeded("/bin/ndlib2", "libdef.so.1")
    return s7


def test_s12_nodeflib_program(s12: Root) -> None:
    real = run_real_loader(s12, "/bin/nodef")
    expect(
        real,
        f"""
        libfoo.so.1 => /opt/a/libfoo.so.1  # ld.so.cache
        libsub.so.1 => not found
        libdef.so.1 => not found
        libc.so.6 => not found
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s12)


def test_s12_nodeflib_program_with_llp(s12: Root) -> None:
    """The recipe uses ``--library-path /lib/x86_64-linux-gnu``; LD_LIBRARY_PATH is the same."""
    real = run_real_loader(s12, "/bin/nodef", env={"LD_LIBRARY_PATH": s12.libdir})
    expect(
        real,
        f"""
        libfoo.so.1 => /opt/a/libfoo.so.1  # ld.so.cache
        libsub.so.1 => not found
        libdef.so.1 => not found
        libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # ld_library_path
        {INTERP}
        """,
    )
    compare(real, s12)


def test_s12_nodeflib_library(s12: Root) -> None:
    real = run_real_loader(s12, "/bin/ndlib")
    expect(
        real,
        f"""
        libnd.so => /opt/nd/libnd.so  # rpath
        {LIBC_CACHE}
        {INTERP}
        libdef.so.1 => not found
        """,
    )
    compare(real, s12)


def test_s12_nodeflib_library_dep_loaded_by_program_first(s12: Root) -> None:
    real = run_real_loader(s12, "/bin/ndlib2")
    expect(
        real,
        f"""
        libdef.so.1 => /usr/lib/libdef.so.1  # ld.so.cache
        libnd.so => /opt/nd/libnd.so  # rpath
        {LIBC_CACHE}
        {INTERP}
        """,
    )
    compare(real, s12)


# -- S1f /etc/ld.so.preload ----------------------------------------------------------------------


@pytest.fixture
def s1f(s7: Root) -> Root:
    for n in (1, 2, 3):
        s7.mklib(f"/opt/a/libpre{n}.so", f"libpre{n}.so")
    s7.write("/etc/ld.so.preload", "# comment\n/opt/a/libpre3.so\n")
    return s7


S1F_LISTING = f"""
    /opt/a/libpre1.so  # preload
    /opt/a/libpre2.so  # preload
    /opt/a/libpre3.so  # preload
    {S7A_LISTING}
    """


def test_s1f_ld_so_preload_real_loader_only(s1f: Root) -> None:
    """The recipe's literal command: LD_PRELOAD, then ``--preload``, then /etc/ld.so.preload."""
    real = run_real_loader(
        s1f,
        "/bin/exe",
        env={"LD_PRELOAD": "/opt/a/libpre1.so"},
        explicit=True,
        ldso_args=["--preload", "/opt/a/libpre2.so", "--list"],
    )
    expect(real, S1F_LISTING)


def test_s1f_ld_so_preload_after_ld_preload(s1f: Root) -> None:
    real = run_real_loader(
        s1f, "/bin/exe", env={"LD_PRELOAD": "/opt/a/libpre1.so /opt/a/libpre2.so"}
    )
    expect(real, S1F_LISTING)
    compare(real, s1f)
