"""Loader rules found in review, each against the real loader in a chroot.

* An empty LD_LIBRARY_PATH is ignored (``_dl_init_paths`` uses it only when it is not
  empty), while ``:`` means the current directory twice.
* ``/etc/ld.so.preload`` is split on space, tab, newline and ``:`` only: a ``\\r`` stays part
  of the name.
* A trailing slash on a DT_NEEDED path wants a directory (ENOTDIR for a file).
"""

from __future__ import annotations

import pytest
from glibcroot import Root, compare, run_real_loader

pytestmark = pytest.mark.oracle


@pytest.fixture
def edge(root: Root) -> Root:
    root.mkdir("/w", "/bin")
    root.mklib("/w/libfoo.so", "libfoo.so")
    root.mkexe("/bin/exe", needed=["libfoo.so"])
    return root


@pytest.mark.parametrize(("llp", "found"), [("", False), (":", True)])
def test_empty_ld_library_path(edge: Root, llp: str, found: bool) -> None:
    real = run_real_loader(edge, "/bin/exe", cwd="/w", env={"LD_LIBRARY_PATH": llp})
    assert (real.found[0].name == "libfoo.so") is found, real.listing()
    compare(real, edge)


def test_preload_file_split_like_rtld(edge: Root) -> None:
    edge.mklib("/w/libpre.so", "libpre.so")
    edge.write("/etc/ld.so.preload", "/w/libpre.so\r\n")
    real = run_real_loader(edge, "/bin/exe", cwd="/w", env={"LD_LIBRARY_PATH": "/w"})
    assert "/w/libpre.so" not in [e.name for e in real.found], real.listing()
    compare(real, edge)
    edge.write("/etc/ld.so.preload", "# comment\n/w/libpre.so\n")
    real = run_real_loader(edge, "/bin/exe", cwd="/w", env={"LD_LIBRARY_PATH": "/w"})
    assert real.found[0].name == "/w/libpre.so", real.listing()
    compare(real, edge)


def test_trailing_slash_on_a_needed_path(edge: Root) -> None:
    edge.mkexe("/bin/slash", needed=["/w/libfoo.so/"])
    real = run_real_loader(edge, "/bin/slash")
    assert real.unresolved == ["/w/libfoo.so/"], real.listing()
    compare(real, edge)
