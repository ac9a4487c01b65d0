"""Hostile filesystem input: every view stays bounded in time and memory, and one bad entry hides
only itself (issue: hostile input).

The images come from ``rootfs-fixtures/hostile_fs.py`` (real ``mksquashfs`` output, patched by
code): a 3 GiB sparse file in a 16 KiB ``.snap``, directory entries pointing back at the root
or an ancestor, many directories sharing one listing, names no kernel hands out (``t/ol``,
``.``, ``..``, NUL, a duplicate), stream headers claiming a 4 GiB dictionary, a 16 KiB zstd frame
that decompresses to 512 MiB, a stale ``ldsim fix`` temporary copy. ``ldsim compare --all``
and ``ldsim lint`` run on each under the harness of ``rootfs-fixtures/hostile.py`` (1 GiB of
address space): exit 0, 1 or 2, never 3 or a signal, in well under 2 s, far below the cap.
The views themselves are checked in process, with walks cut off at a limit a correct walk
never reaches, and properties mutate real images at random.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import lzma
import os
import struct
import time
import zlib
from pathlib import Path

import hostile_fs as hfs
import pytest
from hostile import Capped, run_capped, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldsim.errors import FsError, LdsimError, SquashFsError
from ldsim.fs.memory import MemoryView
from ldsim.fs.overlay import OverlayView
from ldsim.fs.squashfs import SquashFsView
from ldsim.fs.view import HostDirView, Realm, View

needs_mksquashfs = pytest.mark.skipif(hfs.MKSQUASHFS is None,
                                      reason="mksquashfs (squashfs-tools) is not installed")
FAST = 2.0  # seconds, for a whole ldsim run
SMALL_KIB = 200 * 1024  # peak resident memory of a run: far below the 1 GiB cap
TIMEOUT = 15.0  # the harness kills a run after this (an old, unbounded walk never ends)
WALK_LIMIT = 5000  # entries: more than any of these images has (once each)


class Images:
    """Each hostile image built once per module, on first use."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.base, self.host = hfs.base_and_host(work)
        self.cache: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        if name not in self.cache:
            self.cache[name] = self._build(name)
        return self.cache[name]

    def _build(self, name: str) -> Path:
        w = self.work
        if name == "sparse":
            return hfs.sparse_snap(w)
        if name == "sparse-elf":
            return hfs.sparse_snap(w, elf_header=True)
        if name == "sparse-48M":
            sub = w / "sparse-48M"
            sub.mkdir()
            return hfs.sparse_snap(sub, size=48 << 20, elf_header=True)
        if name in ("cycle-root", "cycle-parent"):
            return hfs.cycle_snap(w, to=name.split("-")[1])
        if name == "shared":
            return hfs.shared_listing_snap(w)
        if name in ("dict-lzma", "dict-xz"):
            return hfs.lzma_dict_snap(w, name.split("-")[1])
        if name == "zstd-bomb":
            return hfs.zstd_bomb_snap(w)
        if name == "fix-temp":
            return hfs.fix_temp_snap(w)
        if name.startswith("bad-"):
            return hfs.bad_name_snap(w, bytes.fromhex(name[4:]))
        if name.startswith("plain-"):
            comp = name[6:]
            return hfs.mksquashfs(hfs.payload(w, name), w / f"{name}.snap", comp=comp)
        raise KeyError(name)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    if hfs.MKSQUASHFS is None:
        pytest.skip("mksquashfs (squashfs-tools) is not installed")
    return Images(tmp_path_factory.mktemp("hostile-fs"))


def ldsim(images: Images, *args: str | Path) -> Capped:
    return run_capped([*map(str, args), "--base", str(images.base), "--host",
                       str(images.host)], timeout=TIMEOUT)


def compare_all(images: Images, image: Path) -> Capped:
    return ldsim(images, "compare", "--all", "--snap", image)


def lint(images: Images, image: Path) -> Capped:
    return ldsim(images, "lint", image)


def bounded(r: Capped, statuses: tuple[int, ...] = (0, 1, 2)) -> Capped:
    """An answer or one clear error, quickly, in little memory."""
    assert r.ok_status and r.returncode in statuses, r.describe()
    assert "Traceback" not in r.err and "internal error" not in r.err, r.describe()
    assert r.seconds < FAST, r.describe()
    assert r.max_rss_kib < SMALL_KIB, r.describe()
    return r


def analysed(images: Images, image: Path) -> None:
    """``compare --all`` and ``lint`` analyse the payload's program (it is in their report),
    bounded. Either may exit 2 when an ELF file could not be analysed at all (how a refused
    file shows), but never without a report of the rest."""
    for r in (compare_all(images, image), lint(images, image)):
        bounded(r)
        assert "bin/app" in r.text, r.describe()


def walk_all(view: View, top: str = "/", limit: int = WALK_LIMIT) -> list[str]:
    """The paths a walk yields, cut off at ``limit`` (which a bounded walk never reaches)."""
    paths = [p for p, _st in itertools.islice(view.walk(top), limit)]
    assert len(paths) < limit, f"the walk did not end: {paths[-3:]}"
    return paths


# -- 1. memory: sparse files, decompression bombs, huge dictionaries ---------------------------
@needs_mksquashfs
def test_a_3gib_sparse_file_costs_only_its_header(images: Images) -> None:
    """Walking a payload sniffs each file's first bytes: only the first block is read."""
    image = images.get("sparse")
    assert image.stat().st_size < 64 * 1024
    analysed(images, image)


@needs_mksquashfs
def test_a_3gib_sparse_elf_file_is_refused_in_one_line(images: Images) -> None:
    """A file sniffed as ELF is read whole: one that claims 3 GiB in a 16 KiB image is
    refused (named, with the reason), the rest of the payload is analysed."""
    image = images.get("sparse-elf")
    r = bounded(compare_all(images, image))
    assert "/big: a file of 3221225472 bytes" in r.text + r.err
    analysed(images, image)


@needs_mksquashfs
def test_head_reads_and_whole_reads_in_a_capped_child(images: Images) -> None:
    image = images.get("sparse")
    r = run_python(f"""
import resource, time
from ldsim.errors import SquashFsError
from ldsim.fs.squashfs import SquashFsView
t = time.monotonic()
with SquashFsView({str(image)!r}) as v:
    assert v.stat("/big").size == 3 << 30
    assert v.read("/big", limit=18) == bytes(18)
    assert v.read("/big", limit=0) == b""
    try:
        v.read("/big")
    except SquashFsError as exc:
        print("refused:", exc)
print(time.monotonic() - t)
""", timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()
    assert "refused:" in r.text and "/big: a file of 3221225472 bytes" in r.text, r.text
    assert float(r.text.split()[-1]) < 0.5, r.text
    assert r.max_rss_kib < 100 * 1024, r.describe()


@needs_mksquashfs
def test_whole_read_maps_holes_without_allocating_them(images: Images) -> None:
    """A 48 MiB file of one ELF header and holes: the whole read is a map whose holes cost
    nothing until touched."""
    image = images.get("sparse-48M")
    r = run_python(f"""
import mmap, resource
from ldsim.fs.squashfs import SquashFsView
with SquashFsView({str(image)!r}) as v:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    buf = v.read_parts(("big",))
    print(type(buf).__name__, len(buf), bytes(buf[:4]), buf[(48 << 20) - 1])
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""", timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()
    kind, size, magic, last, growth = r.text.split()
    assert (kind, size, magic, last) == ("mmap", str(48 << 20), "b'\\x7fELF'", "0"), r.text
    assert int(growth) < 8 * 1024, r.text  # KiB: not 48 MiB, let alone twice that


@needs_mksquashfs
def test_overlay_head_reads_do_not_read_whole_files(images: Images) -> None:
    image = images.get("sparse")
    r = run_python(f"""
from ldsim.fs.memory import MemoryView
from ldsim.fs.overlay import OverlayView
from ldsim.fs.squashfs import SquashFsView
from ldsim.fs.view import Realm
o = OverlayView(MemoryView(), Realm.HOST)
o.mount("/snap/x/1", SquashFsView({str(image)!r}), Realm.PAYLOAD)
print(o.read("/snap/x/1/big", limit=18) == bytes(18))
""", timeout=TIMEOUT)
    assert r.returncode == 0 and r.text.split() == ["True"], r.describe()
    assert r.seconds < FAST and r.max_rss_kib < 100 * 1024, r.describe()


@needs_mksquashfs
def test_an_image_cut_short_while_open_is_one_error_not_a_signal(images: Images,
                                                                 tmp_path: Path) -> None:
    """A ``.snap`` truncated after it was opened (rewritten in place by another program):
    the image used to be memory-mapped, and reading a block past the new end killed ldsim
    with SIGBUS. Now the read says the image changed, naming it; the process lives."""
    src = hfs.payload(tmp_path)
    (src / "bin/data").write_bytes(os.urandom(2 << 20))  # incompressible: 2 MiB of blocks
    image = hfs.mksquashfs(src, tmp_path / "cut.snap", comp="gzip")
    r = run_python(f"""
import os
from ldsim.errors import LdsimError
from ldsim.fs.squashfs import SquashFsView
with SquashFsView({str(image)!r}) as v:
    print(len(v.read("/bin/app")) > 0)
    os.truncate({str(image)!r}, 1 << 20)  # the tables (at the end) were read on opening
    try:
        print(len(v.read("/bin/data")))
    except LdsimError as exc:
        print(type(exc).__name__, "|", exc)
""", timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()  # SIGBUS (-7) with a mapped image
    first, second = r.text.strip().splitlines()
    assert first == "True", r.text
    name, message = second.split(" | ")
    assert name == "SquashFsError", r.text
    assert message.startswith(f"{image}: /bin/data: the image changed while ldsim read it ("), \
        r.text


@needs_mksquashfs
@pytest.mark.parametrize("comp", ["lzma", "xz"])
def test_a_4gib_dictionary_is_one_clear_error(images: Images, comp: str) -> None:
    """The first inode-table block's stream claims a 4 GiB dictionary: opening the image fails
    with one line naming it, nothing is allocated."""
    image = images.get(f"dict-{comp}")
    for r in (compare_all(images, image), lint(images, image)):
        bounded(r, (2,))
        last = r.err.strip().splitlines()[-1]
        assert last.startswith(f"ldsim: error: {image}: inode table"), last
        assert "dictionary larger than the image's block size" in last, last


@needs_mksquashfs
def test_a_zstd_bomb_is_not_decompressed(images: Images) -> None:
    """A 16 KiB zstd frame declaring (and holding, as RLE) 512 MiB in a 100 KB block."""
    image = images.get("zstd-bomb")
    bounded(lint(images, image))
    r = run_python(f"""
from ldsim.errors import SquashFsError
from ldsim.fs.squashfs import SquashFsView
with SquashFsView({str(image)!r}) as v:
    for limit in (18, None):
        try:
            v.read("/bomb.txt", limit=limit)
        except SquashFsError as exc:
            print(exc.reason)
""", timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()
    assert r.text.count("/bomb.txt: data block 0: zstd frame declares 536870912 bytes") == 2
    assert r.max_rss_kib < 100 * 1024, r.describe()


def _lzo_bomb(size: int) -> bytes:
    """A raw LZO1X stream: one literal, then an M3 match of ``size`` bytes at distance 1
    (its length in the extended form: 33 + 255 per zero byte + the last byte)."""
    zeros, last = divmod(size - 33, 255)
    return (bytes([17 + 1]) + b"a" + bytes([32]) + bytes(zeros) + bytes([last or 1])
            + b"\x00\x00" + b"\x11\x00\x00")


def _bombs() -> dict[str, list[bytes]]:
    zeros16, zeros64 = bytes(16 << 20), bytes(64 << 20)
    out: dict[str, list[bytes]] = {
        "gzip": [zlib.compress(zeros64, 1)],
        "xz": [lzma.compress(zeros16, format=lzma.FORMAT_XZ,
                             filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 17}])],
        "lzma": [lzma.compress(zeros16, format=lzma.FORMAT_ALONE,
                               filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 17}])],
        "lzo": [_lzo_bomb(64 << 20)],
    }
    if importlib.util.find_spec("zstandard") is not None:
        import zstandard

        out["zstd"] = [hfs.zstd_frame(64 << 20),  # declares its size
                       zstandard.ZstdCompressor(write_content_size=False).compress(zeros64)]
    if importlib.util.find_spec("lz4") is not None:
        import lz4.block

        out["lz4"] = [lz4.block.compress(zeros64, store_size=False)]
    return out


@needs_mksquashfs
def test_every_decompressor_stops_at_the_bound(images: Images, tmp_path: Path) -> None:
    """Each compressor's stream of 16-64 MiB of zeros, decompressed with an 8 KiB bound (a
    metadata block), in a capped child: refused at once, the output never produced."""
    cases = []
    for comp, bombs in _bombs().items():
        image = images.get(f"plain-{comp}")
        for i, bomb in enumerate(bombs):
            path = tmp_path / f"{comp}-{i}.bin"
            path.write_bytes(bomb)
            cases.append((comp, str(image), str(path)))
    r = run_python(f"""
import json, resource, time
from ldsim.fs.squashfs import SquashFsView
out = []
for comp, image, bomb in {cases!r}:
    data = open(bomb, "rb").read()
    with SquashFsView(image) as v:
        assert v.compressor_name == comp, (v.compressor_name, comp)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.monotonic()
        try:
            got = len(v._decompress(data, 8192))
        except Exception as exc:
            got = type(exc).__name__ + ": " + str(exc)
        out.append((comp, got, time.monotonic() - t,
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before))
print(json.dumps(out))
""", timeout=TIMEOUT)
    assert r.returncode == 0, r.describe()
    results = json.loads(r.text)
    assert len(results) == len(cases)
    for comp, got, seconds, growth_kib in results:
        assert isinstance(got, str) and got.startswith("_Corrupt: "), (comp, got)
        assert seconds < 0.5, (comp, seconds)
        assert growth_kib < 8 * 1024, (comp, got, growth_kib)


# -- 2. directory cycles and shared listings ----------------------------------------------------
@needs_mksquashfs
@pytest.mark.parametrize("to", ["root", "parent"])
def test_a_directory_cycle_ends(images: Images, to: str) -> None:
    image = images.get(f"cycle-{to}")
    with SquashFsView(str(image)) as v:
        paths = walk_all(v)
        link = "/loop/back" if to == "root" else "/sub/deeper/up"
        assert link in paths and "/bin/app" in paths and "/sub/file" in paths
        assert not any(p.startswith(link + "/") for p in paths)
        assert [e.errno_name for e in v.skipped if isinstance(e, FsError)] == ["ELOOP"]
        assert str(v.skipped[0]).startswith(f"{link}: directory already walked")
    analysed(images, image)


@needs_mksquashfs
def test_directories_sharing_one_listing_are_walked_once(images: Images) -> None:
    """1500 directories each listing all 1500 of them: a cycle, and 2.25 million entries for
    a walk that only remembers inodes. Each listing belongs to one directory."""
    image = images.get("shared")
    with SquashFsView(str(image)) as v:
        t = time.monotonic()
        paths = walk_all(v)
        assert time.monotonic() - t < FAST
        mesh = [p for p in paths if p.startswith("/mesh/")]
        assert len(mesh) == 1500 and all(p.count("/") == 2 for p in mesh)
        reasons = {e.reason.split(": ", 1)[1] for e in v.skipped}
        assert reasons == {"directory listing overlaps another directory's"}
        assert len(v.skipped) == 1500
    analysed(images, image)


def test_memory_view_hard_linked_directories() -> None:
    """A cycle (a directory hard-linked below itself) and a directory with two names."""
    view = MemoryView()
    view.add_file("/usr/lib/libx.so", b"x")
    view.add_hardlink("/usr/lib/again", "/usr")  # a cycle
    view.add_hardlink("/other", "/usr/lib")  # a second name
    paths = walk_all(view)
    # Depth first in sorted order: /other (= /usr/lib) is walked first, /other/again (= /usr)
    # next; /usr and /other/again/lib (= /usr/lib) are then known.
    assert paths == ["/other", "/usr", "/other/again", "/other/libx.so", "/other/again/lib"]
    assert {e.path for e in view.skipped} == {"/other/again/lib", "/usr"}


def test_overlay_identity_includes_the_mount() -> None:
    """The same tree bind-mounted twice is walked under both names; a cycle inside it is
    caught in each."""
    tree = MemoryView("tree")
    tree.add_file("/lib/libx.so", b"x")
    tree.add_hardlink("/lib/self", "/lib")
    overlay = OverlayView(MemoryView("host"), Realm.HOST)
    overlay.mount("/a", tree, Realm.BASE)
    overlay.mount("/snap/b/current", tree, Realm.BASE)
    paths = walk_all(overlay)
    for top in ("/a", "/snap/b/current"):
        assert f"{top}/lib/libx.so" in paths and f"{top}/lib/self" in paths
        assert not any(p.startswith(f"{top}/lib/self/") for p in paths)
    assert sorted(e.path for e in overlay.skipped) == ["/a/lib/self",
                                                       "/snap/b/current/lib/self"]


def test_walks_stop_at_path_max() -> None:
    view = MemoryView()
    view.add_file("/" + "/".join(["d"] * 2100) + "/deep", b"x")
    paths = walk_all(view)
    assert max(len(p) for p in paths) <= 4096 + 2
    assert [e.errno_name for e in view.skipped if isinstance(e, FsError)] == ["ENAMETOOLONG"]


# -- 3. a bad entry hides only itself --------------------------------------------------------
BAD = {name.hex(): name for name in hfs.BAD_NAMES}


@needs_mksquashfs
@pytest.mark.parametrize("label", sorted(BAD))
def test_a_bad_name_hides_only_itself(images: Images, label: str) -> None:
    name = BAD[label]
    image = images.get(f"bad-{label}")
    with SquashFsView(str(image)) as v:
        paths = walk_all(v)
        assert {"/bin/app", "/data/tyol", "/lib/libok.so", "/meta/snap.yaml"} <= set(paths)
        assert v.listdir("/data") == ["tyol"]
        assert v.read("/data/tyol") == b"sibling"
        problems = [str(e) for e in v.skipped]
        assert len(problems) == 1, problems
        shown = name.replace(b"\0", b"\\x00").decode()
        assert problems[0].startswith(f"{image}: /data: entry '{shown}': "), problems
        assert problems[0].endswith("; skipped")
        if name == b"t/ol":
            assert not v.exists("/data/t/ol") and not v.exists("/data/t")
    analysed(images, image)


@needs_mksquashfs
def test_on_error_names_each_skipped_entry(images: Images) -> None:
    image = images.get("bad-" + b"t/ol".hex())
    seen: list[LdsimError] = []
    with SquashFsView(str(image)) as v:
        list(v.walk(on_error=seen.append))
        list(v.walk("/data", on_error=seen.append))
        assert [str(e) for e in seen] == [str(v.skipped[0])] * 2  # reported per walk...
        assert len(v.skipped) == 1  # ...kept once
        assert isinstance(seen[0], SquashFsError)


@needs_mksquashfs
def test_a_scan_names_a_partly_read_snap_by_what_it_could_not_read(
        images: Images, tmp_path: Path) -> None:
    """A snap whose image has an entry ldsim cannot use is unreadable (exit 2): the summary
    named it by a library not found (a reason that followed from it) and left its leaks
    out; it names the entry, and keeps the leaks of what was read."""
    import shutil

    image = images.get("bad-" + b"t/ol".hex())
    bases = tmp_path / "bases"
    bases.mkdir()
    (bases / "core22").symlink_to(images.base)
    host = tmp_path / "host"  # the host's loader and C library: the classic view leaks
    for lib in ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"):
        (host / lib[1:]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lib, host / lib[1:])
    run = run_capped(["scan", "--snap", str(image), "--base-dir", str(bases), "--host",
                      str(host), "--format", "jsonl"], timeout=TIMEOUT)
    summary = json.loads(run.stdout.splitlines()[-1])
    assert run.returncode == 2 and summary["by_status"] == {"unreadable": 1}, run.stderr
    assert summary["unreadable"][0]["error"].startswith(f"{image}: /data: entry 't/ol': "), \
        summary["unreadable"]
    assert summary["leaks"] == {str(image): 2}


def test_names_no_kernel_returns_are_skipped_in_any_view() -> None:
    """A view whose listing holds such names (as a corrupt image's may) never yields them:
    joined into a path they would name another file."""

    class Odd(MemoryView):
        def _listdir(self, parts: tuple[str, ...]) -> list[str]:
            names = super()._listdir(parts)
            return [*names, "a/b", "", ".", "..", "x\0y", "n" * 256] if not parts else names

    view = Odd()
    view.add_file("/a/b", b"not this one")
    view.add_file("/ok", b"fine")
    assert walk_all(view) == ["/a", "/ok", "/a/b"]
    assert len(view.skipped) == 6
    assert all(isinstance(e, FsError) and e.errno_name == "EINVAL" for e in view.skipped)


# -- 4. ldsim fix temporaries ------------------------------------------------------------------
def test_fix_temporaries_are_not_part_of_a_tree(tmp_path: Path) -> None:
    from ldsim.fs.view import FIX_TEMP_SUFFIX

    assert FIX_TEMP_SUFFIX == ".ldsim-fix"
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "bin/app").write_bytes(b"\x7fELF")
    (root / "bin/.app.x1y2z3.ldsim-fix").write_bytes(b"\x7fELF")
    (root / "bin/app.ldsim-fix").write_bytes(b"not hidden: no leading dot")
    (root / ".d.ldsim-fix").mkdir()  # a directory of that name is not walked either
    (root / ".d.ldsim-fix/inside").write_bytes(b"x")
    assert walk_all(HostDirView(str(root))) == ["/bin", "/bin/app", "/bin/app.ldsim-fix"]
    memory = MemoryView()
    memory.add_file("/bin/.libx.so.abc.ldsim-fix", b"x")
    memory.add_file("/bin/libx.so", b"x")
    assert walk_all(memory) == ["/bin", "/bin/libx.so"]
    assert not memory.skipped


@needs_mksquashfs
def test_lint_does_not_count_a_stale_fix_temporary(images: Images) -> None:
    image = images.get("fix-temp")
    r = bounded(lint(images, image))
    assert "1 ELF file checked" in r.text and "ldsim-fix" not in r.text, r.text
    r = bounded(compare_all(images, image))
    assert "bin/app" in r.text and "ldsim-fix" not in r.text


# -- properties: mutated real images -----------------------------------------------------------
def exercise(path: str) -> int:
    """Open an image and use everything in it through the View API; the number of entries.
    Only ldsim's own errors may come out."""
    try:
        view = SquashFsView(path)
    except SquashFsError:
        return 0
    with view:
        n = 0
        for p, st_ in itertools.islice(view.walk(), WALK_LIMIT):
            n += 1
            try:
                if st_.is_dir:
                    view.listdir(p)
                elif st_.is_link:
                    view.resolve(p)
                else:
                    view.read(p, limit=64)
                    view.read(p)
            except LdsimError:
                pass
        assert n < WALK_LIMIT
        return n


def seed_image(work: Path, *flags: str, comp: str = "xz") -> tuple[bytes, int, int]:
    """A small image with nested directories, files (one sparse), symlinks and an ELF
    program; its bytes, where its metadata starts and where the filesystem ends."""
    src = hfs.payload(work)
    (src / "lib/sub").mkdir(parents=True)
    (src / "lib/libx.so.1").write_bytes(b"\x7fELF" + bytes(300))
    os.symlink("libx.so.1", src / "lib/libx.so")
    os.symlink("/lib", src / "lib/sub/up")
    (src / "lib/sub/data").write_bytes(b"data " * 3000)
    with open(src / "lib/sub/sparse", "wb") as fh:
        fh.write(b"head")
        fh.truncate(5 * 4096 + 7)
    image = hfs.mksquashfs(src, work / "seed.snap", "-b", "4096", *flags, comp=comp)
    data = image.read_bytes()
    sb = hfs.Super.of(data)
    return data, sb.inode_table, sb.bytes_used


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int, int]:
    """The seed image with its inode and directory tables in the clear (``-noI``)."""
    if hfs.MKSQUASHFS is None:
        pytest.skip("mksquashfs (squashfs-tools) is not installed")
    return seed_image(tmp_path_factory.mktemp("seed"), "-noI")


@needs_mksquashfs
@pytest.mark.parametrize("comp", ["xz-clear-metadata", "gzip-fragments", "zstd", "lzo"])
def test_mutated_images_raise_only_ldsim_errors(comp: str, seed: tuple[bytes, int, int],
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    """Bytes anywhere (superblock, data blocks, metadata) set to anything: opening, walking,
    listing, reading heads and whole files raise only ldsim's own errors, quickly."""
    work = tmp_path_factory.mktemp("mutated")
    if comp == "xz-clear-metadata":
        data, lo, hi = seed
    elif comp == "gzip-fragments":
        data, lo, hi = seed_image(work, "-always-use-fragments", comp="gzip")
    else:
        data, lo, hi = seed_image(work, comp=comp)

    anywhere = st.one_of(st.integers(0, 95), *[st.integers(96, lo - 1)] * 2,
                         *[st.integers(lo, hi - 1)] * 3)

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(anywhere, st.integers(0, 255)), min_size=1, max_size=4))
    def run(changes: list[tuple[int, int]]) -> None:
        bad = bytearray(data)
        for offset, value in changes:
            bad[offset] = value
        path = work / "m.snap"
        path.write_bytes(bytes(bad))
        t = time.monotonic()
        exercise(str(path))
        assert time.monotonic() - t < FAST

    run()


@needs_mksquashfs
def test_rewired_and_renamed_entries(seed: tuple[bytes, int, int],
                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """Directory entries pointed at other inodes (ancestors, themselves, files) and renamed
    to arbitrary bytes: every walk ends, yields only usable names, raises nothing else."""
    data, _lo, _hi = seed
    work = tmp_path_factory.mktemp("rewired")
    path = work / "seed.snap"
    path.write_bytes(data)
    _d, sb, _inodes, dirs = hfs.tables(path)
    entries = hfs.dir_entries(dirs)
    refs = sorted({e.ref for e in entries} | {sb.root_ref})

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(entries), st.sampled_from(refs)), max_size=5),
           st.lists(st.tuples(st.sampled_from(entries),
                              st.lists(st.sampled_from(b"/.\0aZ\xff"), min_size=1,
                                       max_size=4)), max_size=3))
    def run(rewire: list[tuple[hfs.Entry, int]],
            rename: list[tuple[hfs.Entry, list[int]]]) -> None:
        image, _sb, _i, table = hfs.tables(path)
        for entry, ref in rewire:
            table.write(entry.header + 4, struct.pack("<I", ref >> 16))
            table.write(entry.entry, struct.pack("<H", ref & 0xFFFF))
        for entry, raw in rename:
            name = bytes(raw)[:len(entry.name)].ljust(len(entry.name), b"a")
            table.write(entry.entry + hfs.DIR_ENTRY.size, name)
        out = work / "rewired.snap"
        out.write_bytes(bytes(image))
        t = time.monotonic()
        exercise(str(out))
        try:
            v = SquashFsView(str(out))
        except SquashFsError:
            return
        with v:
            for p in walk_all(v):
                assert all(c and c not in (".", "..") and "\0" not in c
                           for c in p.split("/")[1:]), p
        assert time.monotonic() - t < FAST

    run()


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=12))
def test_memory_trees_with_linked_directories_walk_each_directory_once(
        links: list[tuple[int, int]]) -> None:
    """Random hard links between eight nested directories (cycles, second names)."""
    view = MemoryView()
    dirs = ["/" + "/".join(f"d{j}" for j in range(i + 1)) for i in range(8)]
    view.add_file(dirs[-1] + "/f", b"x")
    for k, (a, b) in enumerate(links):
        view.add_hardlink(f"{dirs[a]}/l{k}", dirs[b])
    paths = walk_all(view, limit=200)
    assert len([p for p in paths if p.endswith("/f")]) == 1
    assert len(paths) == 9 + len(links)  # every entry of every directory, once
