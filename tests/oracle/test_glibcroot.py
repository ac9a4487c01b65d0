"""Self-tests of the oracle harness (``rootfs-fixtures/glibcroot.py``): the builder helpers, the
listing and LD_DEBUG parsers, and the ``via`` derivation where LD_DEBUG's labels mislead."""

from __future__ import annotations

import glibcroot
import pytest
from glibcroot import DT_NEEDED, DT_RPATH, DT_RUNPATH, Root, compare, expect, run_real_loader

pytestmark = pytest.mark.oracle

LIBC_DEFAULT = "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6  # default"
INTERP = "/lib64/ld-linux-x86-64.so.2  # interpreter"


def test_parse_listing() -> None:
    static, entries = glibcroot.parse_listing(
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibfoo.so.1 => /opt/a/libfoo.so.1 (0x00007f00)\n"
        "\tsub/libr.so (0x00007f01)\n"
        "\tlibmissing.so.3 => not found\n"
        "\t/lib64/ld-linux-x86-64.so.2 => /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 (0x7f02)\n"
    )
    assert not static
    assert [(e.name, e.path) for e in entries] == [
        ("libfoo.so.1", "/opt/a/libfoo.so.1"),
        ("sub/libr.so", "sub/libr.so"),
        ("libmissing.so.3", None),
        ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    ]
    assert glibcroot.parse_listing("\tstatically linked\n") == (True, [])


def test_expected_entries_with_vias() -> None:
    assert glibcroot.expected_entries(
        """
        libp.so => /s5//A/libp.so  # ld_library_path
        libr.so  # ld_library_path
        libb.so => not found
        """
    ) == [
        ("libp.so", "/s5//A/libp.so", "ld_library_path"),
        ("libr.so", "libr.so", "ld_library_path"),
        ("libb.so", None, None),
    ]


def test_parse_debug_grammar() -> None:
    stderr = (
        "      7:\t\n"
        "      7:\tfile=liba.so [0];  needed by /bin/e [0]\n"
        "      7:\tfind library=liba.so [0]; searching\n"
        "      7:\t search path=/opt/x/glibc-hwcaps/x86-64-v2:/opt/x\t\t(RPATH from file /bin/e)\n"
        "      7:\t  trying file=/opt/x/glibc-hwcaps/x86-64-v2/liba.so\n"
        "      7:\t  trying file=/opt/x/liba.so\n"
        "      7:\t\n"
        "      7:\tfile=liba.so [0];  generating link map\n"
        "      7:\tfile=libc.so.6 [0];  needed by /bin/e [0]\n"
        "      7:\tfind library=libc.so.6 [0]; searching\n"
        "      7:\t search cache=/etc/ld.so.cache\n"
        "      7:\t  trying file=/lib/x86_64-linux-gnu/libc.so.6\n"
        "      7:\tfile=libc.so.6 [0];  generating link map\n"
        "      7:\tfile=libz.so [0];  needed by /bin/e [0]\n"
        "      7:\tfind library=libz.so [0]; searching\n"
        "      7:\t search cache=/etc/ld.so.cache\n"
        "      7:\t search path=/lib\t\t(system search path)\n"
        "      7:\t  trying file=/lib/libz.so\n"
        "/bin/e: /opt/x/liba.so: no version information available (required by /bin/e)\n"
    )
    requests, messages = glibcroot.parse_debug(stderr)
    assert [(r.name, r.needed_by, r.searched, r.mapped) for r in requests] == [
        ("liba.so", "/bin/e", True, True),
        ("libc.so.6", "/bin/e", True, True),
        ("libz.so", "/bin/e", True, False),
    ]
    assert [(t.path, t.phase) for t in requests[0].tries] == [
        ("/opt/x/glibc-hwcaps/x86-64-v2/liba.so", "lists"),
        ("/opt/x/liba.so", "lists"),
    ]
    assert requests[0].tries[-1].label == "RPATH from file /bin/e"
    assert [t.phase for t in requests[1].tries] == ["cache"]
    assert [t.phase for t in requests[2].tries] == ["default"]
    assert messages == [
        "/bin/e: /opt/x/liba.so: no version information available (required by /bin/e)"
    ]


def test_candidate_in_dir() -> None:
    f = glibcroot._candidate_in_dir
    assert f("/a/libx.so", "libx.so", "/a")
    assert f("/a/glibc-hwcaps/x86-64-v3/libx.so", "libx.so", "/a")
    assert f("/a/tls/x86_64/x86_64/libx.so", "libx.so", "/a")
    assert f("libx.so", "libx.so", "")
    assert f("x86_64/libx.so", "libx.so", "")
    assert f("/libx.so", "libx.so", "/")
    assert not f("/a/b/libx.so", "libx.so", "/a")
    assert not f("/ab/libx.so", "libx.so", "/a")
    assert glibcroot._llp_dirs("/a//:;b/:/") == ["/a", "", "b", "/"]


def test_builder_addneeded_order_and_retag(root: Root) -> None:
    root.mklib("/opt/l/liba.so", "liba.so", rpath="/r1", needed=["n1", "/abs/n2", "n3"])
    root.addneeded("/opt/l/liba.so", "/r2")
    root.retag("/opt/l/liba.so", "/r2")
    assert root.dynamic_strings("/opt/l/liba.so") == [
        (DT_RUNPATH, "/r2"),
        (DT_NEEDED, "n1"),
        (DT_NEEDED, "/abs/n2"),
        (DT_NEEDED, "n3"),
        (DT_NEEDED, "libc.so.6"),
        (DT_RPATH, "/r1"),
    ]


def test_realpath_in_root(root: Root) -> None:
    root.mkdir("/x/real/sub")
    root.symlink("/x/abs", "/x/real")
    root.symlink("/x/rel", "real/sub")
    root.symlink("/x/up", "../../../../x")
    assert root.realpath("/x/abs/sub/../sub") == "/x/real/sub"
    assert root.realpath("/x/rel/..") == "/x/real"
    assert root.realpath("/x/up/rel") == "/x/real/sub"
    assert root.realpath(root.interp) == root.ldso_path


def test_via_llp_dir_shared_with_program_runpath(root: Root) -> None:
    """LD_DEBUG labels /opt/x "RUNPATH" (the program's RUNPATH introduced the directory), but
    LD_LIBRARY_PATH is searched first and finds liba.so there."""
    root.mklib("/opt/x/liba.so", "liba.so")
    root.mkexe("/bin/e", runpath="/opt/x", needed=["liba.so"])
    real = run_real_loader(root, "/bin/e", env={"LD_LIBRARY_PATH": "/opt/x"})
    assert real.requests[0].tries[-1].label == "RUNPATH from file /bin/e"
    expect(real, f"liba.so => /opt/x/liba.so  # ld_library_path\n{LIBC_DEFAULT}\n{INTERP}")
    compare(real, root)


def test_via_runpath_dir_shared_with_program_rpath(root: Root) -> None:
    """/opt/x is the program's RPATH and liba's RUNPATH: liba's request for libb.so is labelled
    "RPATH from file /bin/e", yet a requester with RUNPATH never searches any RPATH."""
    root.mklib("/opt/x/libb.so", "libb.so")
    root.mklib("/opt/x/liba.so", "liba.so", runpath="/opt/x", needed=["libb.so"])
    root.mkexe("/bin/e", rpath="/opt/x", needed=["liba.so"])
    real = run_real_loader(root, "/bin/e")
    assert real.requests[-1].name == "libb.so"
    assert real.requests[-1].tries[-1].label == "RPATH from file /bin/e"
    expect(
        real,
        f"""
        liba.so => /opt/x/liba.so  # rpath
        {LIBC_DEFAULT}
        libb.so => /opt/x/libb.so  # runpath
        {INTERP}
        """,
    )
    compare(real, root)


def test_via_preload_by_bare_name_uses_program_rpath(root: Root) -> None:
    """A bare LD_PRELOAD name is searched like a DT_NEEDED of the program (its RPATH here);
    the oracle reports it as ``preload`` all the same."""
    root.mklib("/opt/x/libpre.so", "libpre.so")
    root.mkexe("/bin/e", rpath="/opt/x")
    real = run_real_loader(root, "/bin/e", env={"LD_PRELOAD": "libpre.so"})
    expect(real, f"libpre.so => /opt/x/libpre.so  # preload\n{LIBC_DEFAULT}\n{INTERP}")
    compare(real, root)
