"""The one symlink walk: chroot semantics on real directories and real symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ldsim.errors import FsError, RootError
from ldsim.fs.view import HostDirView, dirname, join


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "usr/lib/real").mkdir(parents=True)
    (r / "usr/lib/real/libx.so.1").write_bytes(b"inside")
    (r / "etc").mkdir()
    (r / "etc/secret").write_text("inside etc")
    # A file with the same name outside the root: it must never be read.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/secret").write_text("OUTSIDE")
    return r


def test_absolute_symlink_target_starts_at_the_root(root: Path) -> None:
    os.symlink("/usr/lib/real", root / "usr/lib/abs")
    view = HostDirView(str(root))
    assert view.resolve("/usr/lib/abs/libx.so.1") == "/usr/lib/real/libx.so.1"
    assert view.read("/usr/lib/abs/libx.so.1") == b"inside"


def test_dotdot_at_the_root_stays_there(root: Path) -> None:
    os.symlink("../../../../../../etc/secret", root / "usr/lib/up")
    view = HostDirView(str(root))
    assert view.resolve("/usr/lib/up") == "/etc/secret"
    assert view.read("/usr/lib/up") == b"inside etc"
    assert view.read("/../../../etc/secret") == b"inside etc"


def test_absolute_link_to_host_path_is_read_inside(root: Path, tmp_path: Path) -> None:
    os.symlink(str(tmp_path / "etc/secret"), root / "escape")
    view = HostDirView(str(root))
    with pytest.raises(FsError) as info:
        view.read("/escape")
    assert info.value.errno_name == "ENOENT"


def test_dotdot_after_symlink_is_physical(root: Path) -> None:
    # L/libdir_link -> real/sub ; L/libdir_link/../dep is L/real/dep, not L/dep (recipe S9).
    (root / "L/real/sub").mkdir(parents=True)
    (root / "L/real/dep").mkdir()
    (root / "L/dep").mkdir()
    (root / "L/real/dep/f").write_text("physical")
    (root / "L/dep/f").write_text("lexical")
    os.symlink("real/sub", root / "L/libdir_link")
    view = HostDirView(str(root))
    assert view.read("/L/libdir_link/../dep/f") == b"physical"


def test_symlink_loop_is_eloop(root: Path) -> None:
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    view = HostDirView(str(root))
    with pytest.raises(FsError) as info:
        view.resolve("/a")
    assert info.value.errno_name == "ELOOP"


def test_long_chain_within_limit_resolves(root: Path) -> None:
    prev = "usr/lib/real/libx.so.1"
    for i in range(40):
        os.symlink("/" + prev, root / f"l{i}")
        prev = f"l{i}"
    view = HostDirView(str(root))
    assert view.resolve("/l39") == "/usr/lib/real/libx.so.1"
    os.symlink("/l39", root / "l40")
    with pytest.raises(FsError):
        view.resolve("/l40")


def test_enotdir_and_enoent(root: Path) -> None:
    view = HostDirView(str(root))
    with pytest.raises(FsError) as info:
        view.resolve("/etc/secret/x")
    assert info.value.errno_name == "ENOTDIR"
    with pytest.raises(FsError) as info:
        view.resolve("/nope/x")
    assert info.value.errno_name == "ENOENT"


def test_dangling_symlink_is_enoent(root: Path) -> None:
    os.symlink("nowhere", root / "dangling")
    view = HostDirView(str(root))
    with pytest.raises(FsError) as info:
        view.read("/dangling")
    assert info.value.errno_name == "ENOENT"
    assert view.resolve("/dangling", follow=False) == "/dangling"


def test_relative_paths_use_cwd(root: Path) -> None:
    view = HostDirView(str(root))
    assert view.read("real/libx.so.1", cwd="/usr/lib") == b"inside"
    assert view.resolve("../lib/real", cwd="/usr/lib") == "/usr/lib/real"


def test_listdir_is_sorted(root: Path) -> None:
    for name in ("zz", "aa", "mm"):
        (root / name).write_text("")
    view = HostDirView(str(root))
    names = view.listdir("/")
    assert names == sorted(names)


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(RootError):
        HostDirView(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    with pytest.raises(RootError):
        HostDirView(str(tmp_path / "file"))


def test_join_and_dirname_are_the_loaders() -> None:
    assert join("", "libr.so") == "libr.so"
    assert join("/a/", "x") == "/a/x"
    assert join("/a", "x") == "/a/x"
    assert dirname("/a/b/c") == "/a/b"
    assert dirname("/c") == "/"
    assert dirname("c") == ""


def test_walk_is_sorted_and_does_not_follow_links(root: Path) -> None:
    os.symlink("/usr", root / "usrlink")
    (root / "usr/lib/real/z").write_text("")
    view = HostDirView(str(root))
    entries = [p for p, _st in view.walk()]
    assert entries == [p for p, _st in view.walk()]  # deterministic
    assert sorted(entries) == ["/etc", "/etc/secret", "/usr", "/usr/lib", "/usr/lib/real",
                       "/usr/lib/real/libx.so.1", "/usr/lib/real/z", "/usrlink"]
    assert [st.is_link for p, st in view.walk() if p == "/usrlink"] == [True]


def test_trailing_slash_wants_a_directory_and_empty_path_is_enoent(root: Path) -> None:
    view = HostDirView(str(root))
    with pytest.raises(FsError) as info:
        view.resolve("/usr/lib/real/libx.so.1/")
    assert info.value.errno_name == "ENOTDIR"
    os.symlink("real", root / "usr/lib/dirlink")
    assert view.resolve("/usr/lib/dirlink/", follow=False) == "/usr/lib/real"
    with pytest.raises(FsError) as info:
        view.resolve("")
    assert info.value.errno_name == "ENOENT"


def test_fifo_is_never_opened(root: Path) -> None:
    os.mkfifo(root / "fifo")
    view = HostDirView(str(root))
    with pytest.raises(FsError) as info:
        view.read("/fifo")  # would block forever if it were opened
    assert info.value.errno_name == "ENXIO"
    with pytest.raises(FsError):
        view.read("/fifo", limit=4)


def test_a_file_swapped_for_a_fifo_after_its_lstat_is_not_waited_on(root: Path) -> None:
    """The view's lstat said a regular file; a FIFO put in its place since would block
    open(2) forever (no writer comes): it is opened without blocking, and refused as a FIFO
    found by lstat is (in a child, so that a hang fails the test instead of stopping it)."""
    code = f"""
import os
from ldsim.errors import FsError
from ldsim.fs.view import HostDirView
view = HostDirView({str(root)!r})
assert view.stat("/etc/secret").is_reg
os.unlink({str(root / "etc/secret")!r})
os.mkfifo({str(root / "etc/secret")!r})
for read in (lambda: view.read("/etc/secret"), lambda: view.read("/etc/secret", limit=4)):
    try:
        read()
    except FsError as exc:
        print(exc.errno_name)
"""
    from hostile import run_python

    run = run_python(code, timeout=10)
    assert not run.timed_out and run.returncode == 0, run.stderr
    assert run.stdout.decode().split() == ["ENXIO", "ENXIO"]


def test_a_directory_swapped_for_a_link_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    """The view walks a path with lstat, then opens it by its host path: a directory on the
    way replaced by a link to elsewhere in between (a root changing while it is scanned)
    would open a file outside the root. The open is checked, the file not read."""
    from ldsim.errors import FsError
    from ldsim.fs.view import HostDirView

    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "opt/p").mkdir(parents=True)
    (root / "opt/p/f").write_bytes(b"inside")
    (outside / "sub").mkdir(parents=True)
    (outside / "f").write_bytes(b"OUTSIDE")
    (outside / "sub/secret").write_bytes(b"OUTSIDE")
    (root / "opt/q/sub").mkdir(parents=True)
    view = HostDirView(str(root))
    assert view.read("/opt/p/f") == b"inside"
    assert view.listdir("/opt/q/sub") == []
    # what the view saw stays (a stable view); the tree changes under it
    (root / "opt/p/f").unlink()
    (root / "opt/p").rmdir()
    (root / "opt/p").symlink_to(outside)
    (root / "opt/q/sub").rmdir()
    (root / "opt/q").rmdir()
    (root / "opt/q").symlink_to(outside)
    for read in (lambda: view.read("/opt/p/f"), lambda: view.listdir("/opt/q/sub")):
        with pytest.raises(FsError) as err:
            read()
        assert err.value.errno_name == "EXDEV" and "outside the root" in err.value.reason
    # a link the view saw that is a directory now: an FsError, not an OSError
    (root / "l").symlink_to("opt")
    view2 = HostDirView(str(root))
    view2.lstat_parts(("l",))
    (root / "l").unlink()
    (root / "l").mkdir()
    with pytest.raises(FsError):
        view2.resolve("/l/x")


def test_a_simulated_user_must_be_allowed_to_search_each_directory_on_the_way(
        root: Path) -> None:
    """``user``: every directory a name is looked up in must let that user search it (the
    kernel's ``may_lookup``), through links too; EACCES is then the model's (an FsError a
    loader passes over), not ldsim's own; root and no user search everything, and the
    answers are remembered per user."""
    os.symlink("real", root / "usr/lib/link")
    os.chmod(root / "usr/lib/real", 0o700)  # the file itself stays world-readable
    owner = os.stat(root / "usr/lib/real").st_uid
    view = HostDirView(str(root))
    nobody = (owner + 1, 65534)
    for path in ("/usr/lib/real/libx.so.1", "/usr/lib/link/libx.so.1",
                 "/usr/lib/real/missing", "/usr/lib/real/../real/libx.so.1"):
        with pytest.raises(FsError) as denied:
            view.resolve_parts(path, user=nobody)
        assert type(denied.value) is FsError and denied.value.errno_name == "EACCES"
        assert "may not search /usr/lib/real" in denied.value.reason
    # the directory itself is looked up in its parent: stat-ing it is allowed
    assert view.stat("/usr/lib/real/", user=nobody).is_dir
    for user in (None, (0, 0), (owner, 12345)):
        assert view.resolve("/usr/lib/link/libx.so.1") == "/usr/lib/real/libx.so.1"
        assert view.resolve_parts("/usr/lib/link/libx.so.1", user=user) == (
            "usr", "lib", "real", "libx.so.1")
    os.chmod(root / "usr/lib/real", 0o710)  # search by the group only
    fresh = HostDirView(str(root))
    group = os.stat(root / "usr/lib/real").st_gid
    assert fresh.resolve_parts("/usr/lib/real/libx.so.1", user=(owner + 1, group))
    with pytest.raises(FsError):
        fresh.resolve_parts("/usr/lib/real/libx.so.1", user=(owner + 1, group + 1))


def test_a_path_walked_from_its_directorys_known_walk_ends_as_the_whole_walk(
        tmp_path: Path) -> None:
    """A stable view walks a path from where the walk of its directory part stood (links
    followed, their count carried): every path over a tree of links (to directories, to
    files, dangling, looping, relative with "..", chains near the 40-link limit, a file
    where a directory is wanted) ends as a whole walk from the root ends, answer or errno."""
    import itertools
    import random

    from ldsim.fs.view import MAXSYMLINKS

    r = tmp_path / "root"
    (r / "a" / "b").mkdir(parents=True)
    (r / "a" / "b" / "f").write_bytes(b"x")
    (r / "a" / "file").write_bytes(b"y")
    (r / "lnk").symlink_to("a/b")
    (r / "abs").symlink_to("/a")
    (r / "a" / "up").symlink_to("../a/b/..")
    (r / "a" / "tof").symlink_to("b/f")
    (r / "dangling").symlink_to("nowhere")
    (r / "loop1").symlink_to("loop2")
    (r / "loop2").symlink_to("loop1")
    prev = "a"
    for i in range(MAXSYMLINKS):  # c0 -> a, c1 -> c0, ...: c39 takes 40 links to reach a
        (r / f"c{i}").symlink_to(prev)
        prev = f"c{i}"
    names = ["a", "b", "f", "file", "lnk", "abs", "up", "tof", "dangling", "loop1", "..",
             ".", "c0", f"c{MAXSYMLINKS - 2}", f"c{MAXSYMLINKS - 1}", "nope", ""]
    rng = random.Random(7)
    paths = {"/" + "/".join(p) for n in (1, 2, 3) for p in itertools.product(names, repeat=n)}
    paths |= {"/" + "/".join(rng.choice(names) for _ in range(rng.randint(4, 7)))
              for _ in range(3000)}

    def outcome(view: HostDirView, path: str, follow: bool) -> object:
        try:
            return view.resolve_parts(path, follow=follow)
        except FsError as exc:
            return (exc.errno_name, exc.path)

    for follow in (True, False):
        fast = HostDirView(str(r))  # one view: directory walks known from earlier paths
        for path in sorted(paths, key=lambda p: (len(p), p)):
            whole = HostDirView(str(r))
            try:
                expected: object = tuple(whole._resolve_parts(path, "/", follow))
            except FsError as exc:
                expected = (exc.errno_name, exc.path)
            assert outcome(fast, path, follow) == expected, path
        assert fast._dir_states  # the known walks were used


def test_path_limits_are_the_guests_and_the_hosts_is_not_a_loader_outcome(root: Path) -> None:
    """A path given to the kernel of PATH_MAX bytes (NUL included) is ENAMETOOLONG in the
    root, as open(2) says; one shorter that resolves, link by link, to a host path longer
    than the host's PATH_MAX (the root's directory in front) is no error in the root, which
    the kernel walks one link at a time: ldsim cannot look, and says so (it said the
    kernel's ENAMETOOLONG: "does not start" for a program that starts)."""
    from ldsim.errors import AccessError

    view = HostDirView(str(root))
    with pytest.raises(FsError) as long_path:
        view.resolve("/usr/" + "a/" * 2046)  # 4097 bytes
    assert long_path.value.errno_name == "ENAMETOOLONG"
    name = "d" * 250
    (root / "deep").mkdir()
    fd = os.open(root / "deep", os.O_RDONLY | os.O_DIRECTORY)
    try:  # 5,000 bytes of directories below the root, made one by one (no path that long)
        for depth in range(20):
            os.mkdir(name, dir_fd=fd)
            if depth == 9:  # B, a relative link from the middle on
                os.symlink("/".join([name] * 11), "B", dir_fd=fd)  # to the 20th
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("libx.so.1", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
            f.write(b"deep")
    finally:
        os.close(fd)
    os.symlink("/deep/" + "/".join([name] * 9), root / "A")
    assert len("/A/B/libx.so.1") < 4096
    with pytest.raises(AccessError) as too_long:
        view.read("/A/B/libx.so.1")
    assert "too long a path on this host" in too_long.value.reason
