"""What ldsim remembers to resolve many programs in one process gives the answers it would
compute afresh: a stable view's resolutions (errors too), ``ld.so.cache`` lookups, the index
of loaded objects the glibc model's name scan and file reuse use, bulk structure reads, and a
program's facts taken from the file cache. Each is compared with the computation it stands
for, on in-memory roots and hand-made bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import struct
import traceback
from pathlib import Path

import memroot as m
import pytest

import ldsim
from ldsim.config.arch import AARCH64, I386, X86_64
from ldsim.config.env import Invocation, LoaderEnv
from ldsim.config.ld_so_cache import _lookup, lookup, parse_ld_so_cache
from ldsim.elf.facts import ElfClass, ElfData, ElfFacts, ElfIdent
from ldsim.elf.layout import ElfImage
from ldsim.elf.reader import parse_elf
from ldsim.errors import ElfError, FsError, LdsimError
from ldsim.fs.memory import MemoryView
from ldsim.fs.view import HostDirView
from ldsim.loader.glibc import GlibcModel
from ldsim.loader.probe import FileCache
from ldsim.loader.run import read_program
from ldsim.loader.walk import ObjectRecord
from ldsim.result import LoadedObject, Resolution, Via


class StableMemoryView(MemoryView):
    """An in-memory tree that promises not to change: it remembers its resolutions."""

    stable = True

    def __init__(self) -> None:
        super().__init__("<stable memory>")
        self._resolve_memo = {}


def _tree(view: MemoryView) -> None:
    view.add_file("/usr/lib/libx.so.1", b"data")
    view.add_file("/usr/lib/x/y/z", b"deep")
    view.add_symlink("/lib", "usr/lib")
    view.add_symlink("/abs", "/usr/lib/libx.so.1")
    view.add_symlink("/up", "../../../usr")
    view.add_symlink("/loop", "loop")
    view.add_symlink("/ping", "pong")
    view.add_symlink("/pong", "ping/x")
    view.add_symlink("/usr/lib/dangling", "nowhere")
    view.add_symlink("/usr/lib/dir", "x/./y/")
    view.add_symlink("/usr/lib/tofile", "libx.so.1")
    view.add_fifo("/usr/lib/fifo")


PATHS = ["/", "", ".", "..", "/lib/libx.so.1", "/abs", "/abs/", "/up/lib", "/loop", "/ping",
         "/nope", "/usr/lib/libx.so.1/x", "/usr/lib/", "/usr/lib/dangling",
         "/usr/lib/dangling/", "/usr/lib/dir/z", "/usr/lib/dir", "/usr/lib/dir/",
         "/usr/lib/tofile", "/usr/lib/tofile/", "lib/libx.so.1", "x/y/z", "../lib/./x//y",
         "libx.so.1", "fifo", "./dir/../x", "/" + "n" * 256, "/usr/lib/" + "\udcff" * 200,
         "/usr/lib/" + "é" * 100, "/lib/../lib/x/y/z/"]
CWDS = ["/", "", "/usr/lib", "/lib", "/usr/lib/dir", "/nope", "/abs"]


def _outcome(view: MemoryView, path: str, cwd: str, follow: bool) -> object:
    try:
        return view.resolve_parts(path, cwd=cwd, follow=follow)
    except FsError as exc:
        return ("error", type(exc), exc.path, exc.reason, exc.errno_name, str(exc))


def test_a_stable_view_resolves_as_a_plain_one() -> None:
    plain, stable = MemoryView(), StableMemoryView()
    _tree(plain)
    _tree(stable)
    for path in PATHS:
        for cwd in CWDS:
            for follow in (True, False):
                want = _outcome(plain, path, cwd, follow)
                assert _outcome(stable, path, cwd, follow) == want, (path, cwd, follow)
                assert _outcome(stable, path, cwd, follow) == want, (path, cwd, follow)
    assert stable._resolve_memo  # it did remember


def test_a_remembered_error_is_raised_afresh(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    view = HostDirView(str(tmp_path))
    raised = []
    for _ in range(3):
        with pytest.raises(FsError) as exc:
            view.resolve_parts("/file/below")
        raised.append(exc.value)
    assert len({id(e) for e in raised}) == 3
    assert {(e.path, e.reason, e.errno_name) for e in raised} == {
        ("/file/below", "a path component is not a directory", "ENOTDIR")}
    lstat_errors = []
    for _ in range(3):
        with pytest.raises(OSError) as os_exc:
            view._lstat(("missing",))
        lstat_errors.append(os_exc.value)
    assert len({id(e) for e in lstat_errors}) == 3
    assert {type(e) for e in lstat_errors} == {FileNotFoundError}
    assert len({str(e) for e in lstat_errors}) == 1
    # the remembered error does not collect the frames of every call it is raised from
    depths = {len(traceback.extract_tb(e.__traceback__)) for e in lstat_errors}
    assert len(depths) == 1  # the same depth each time: not growing


def test_cache_lookups_are_remembered_by_every_argument() -> None:
    entries = [("libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo.so.1"),
               ("libfoo.so.1", "/usr/lib/i386-linux-gnu/libfoo.so.1", 0x0001),
               ("libfoo.so.1", "/usr/lib/aarch64-linux-gnu/libfoo.so.1", 0x0a03),
               ("libbar.so.2", "/lib/libbar.so.2"), ("libbar.so.10", "/lib/libbar.so.10"),
               ("libbaz.so", "/lib/libbaz.so", 0x0001)]
    cache = parse_ld_so_cache(m.ld_so_cache(entries), "/etc/ld.so.cache")
    names = ["libfoo.so.1", "libfoo.so.01", "libbar.so.2", "libbar.so.10", "libbaz.so",
             "libnone.so", ""]
    for _ in range(2):  # computed, then remembered
        for name in names:
            for arch in (None, X86_64, I386, AARCH64):
                for subdirs in ((), ("x86-64-v2",), ["x86-64-v3", "x86-64-v2"]):
                    for platform, bits in (("x86_64", 2), ("haswell", 3), ("", 0)):
                        got = lookup(cache, name, hwcaps_subdirs=subdirs, platform=platform,
                                     hwcap_bits=bits, arch=arch)
                        assert got == _lookup(cache, name, tuple(subdirs), platform, bits,
                                              15, arch), (name, arch, subdirs, platform)
    assert cache._answers
    i386 = lookup(cache, "libfoo.so.1", hwcaps_subdirs=(), platform="x86_64", arch=I386)
    x86_64 = lookup(cache, "libfoo.so.1", hwcaps_subdirs=(), platform="x86_64", arch=None)
    assert i386 is not None and i386.value == "/usr/lib/i386-linux-gnu/libfoo.so.1"
    assert x86_64 is not None and x86_64.value == "/usr/lib/x86_64-linux-gnu/libfoo.so.1"


def _scan(model: GlibcModel, name: str) -> tuple[ObjectRecord | None, bool]:
    """``_dl_map_object``'s scan as a loop over the objects: (the object, whether the name
    is added to its names)."""
    if name == "" and model.env.invocation is Invocation.EXEC:
        return model.main, False
    for obj in [model.main, *([model.interp] if model.interp else []), *model.loaded]:
        if obj is not model.main and (name == obj.path or name in obj.names):
            return obj, False
        if obj.facts is not None and obj.facts.soname == name:
            return obj, name not in obj.names and obj is not model.main
    return None, False


def _facts(soname: str | None) -> ElfFacts:
    return parse_elf(m.elf(soname=soname), "/x")


@pytest.mark.parametrize("seed", range(12))
def test_the_loaded_objects_index_answers_as_the_scan(seed: int) -> None:
    rng = random.Random(seed)
    words = ["a", "b", "c", "d", "e", "/p/a", "/p/b", ""]
    facts = {s: _facts(s) for s in [None, *words[:5]]}
    model = GlibcModel.__new__(GlibcModel)
    invocation = Invocation.EXEC if seed % 2 else Invocation.LDD
    model.env = LoaderEnv(invocation=invocation)
    model._known = None

    def record(index: int) -> ObjectRecord:
        return ObjectRecord(index, rng.choice(words), rng.choice(words[5:]), "/real", Via.CACHE,
                            None, facts[rng.choice([None, *words[:5]])],
                            None, names=rng.sample(words, rng.randint(0, 2)),
                            file_id=(1, rng.randint(1, 4)))

    model.main = record(0)
    model.interp = record(-1) if seed % 3 else None
    model.chain, model.loaded, model.search_list = [model.main], [], [model.main]
    for step in range(200):
        action = rng.random()
        if action < 0.2:
            model.add_object(record(len(model.chain)))
        elif action < 0.3:
            obj = rng.choice([model.main, *model.loaded])
            name = rng.choice(words)
            if name not in obj.names and model._known is not None:
                obj.names.append(name)  # as _load adds a name to the object it reuses
                model._known.named(obj, name)
        else:
            name = rng.choice(words)
            want, adds = _scan(model, name)
            before = [] if want is None else list(want.names)
            assert model._match_loaded(name) is want, (seed, step, name)
            if want is not None:
                assert want.names == ([*before, name] if adds else before), (seed, step)
        file_id = (1, rng.randint(1, 4))
        reused = next((e for e in model.chain[1:]
                       if isinstance(e, ObjectRecord) and e.file_id == file_id), None)
        assert model._index().by_file.get(file_id) is reused


def test_unpack_array_reads_as_unpack_does() -> None:
    data = bytes(range(256)) * 4
    ident = ElfIdent(ElfClass.ELF64, ElfData.LSB, 1, 0, 0, True, 3, 62, 1, 56)

    def one_by_one(img: ElfImage, fmt: str, offset: int, count: int) -> list[object]:
        size = struct.calcsize("<" + fmt)
        out: list[object] = []
        try:
            for i in range(count):
                out.append(img.unpack(fmt, offset + i * size))
        except ElfError as exc:
            out.append(str(exc))
        return out

    def bulk(img: ElfImage, fmt: str, offset: int, count: int) -> list[object]:
        out: list[object] = []
        try:
            out.extend(img.unpack_array(fmt, offset, count))
        except ElfError as exc:
            out.append(str(exc))
        return out

    for fmt in ("qQ", "IIQQQQQQ", "H"):
        for offset in (0, 8, 1000, 1020, 1024, 2000, -8):
            for count in (0, 1, 3, 40, 200):
                for budget in (None, 0, 2, 10):
                    imgs = [ElfImage(data, "/f", ident) for _ in range(2)]
                    if budget is not None:
                        for img in imgs:
                            img.reads_left = budget
                    want = one_by_one(imgs[0], fmt, offset, count)
                    assert bulk(imgs[1], fmt, offset, count) == want, (fmt, offset, count)
                    assert imgs[1].reads_left == imgs[0].reads_left


def test_a_program_known_as_a_library_reads_the_same() -> None:
    view = MemoryView()
    view.add_file("/lib/liba.so.1", m.elf(soname="liba.so.1", needed=["libc.so.6"]))
    view.add_file("/lib/broken.so", m.elf(soname="broken.so")[:80])
    view.add_file("/lib/text", b"#!/bin/sh\n")
    files = FileCache(view)
    for path in ("/lib/liba.so.1", "/lib/broken.so", "/lib/text", "/lib", "/nope"):
        results: list[object] = []
        for _ in range(2):
            for cache in (None, files):
                try:
                    results.append(read_program(view, path, "/", cache))
                except (ElfError, FsError) as exc:
                    results.append((type(exc), str(exc)))
            parts = view.resolve_parts(path) if path != "/nope" else ()
            if path.startswith("/lib/"):
                st, buf = files.read(parts, path)
                with contextlib.suppress(ElfError):
                    files.facts(st, buf, path)  # now the cache knows the file
        assert all(r == results[0] for r in results), path


def _shape(res: Resolution) -> object:
    """Everything a resolution says, as plain values."""
    def obj(o: LoadedObject | None) -> object:
        return None if o is None else (o.index, o.name, o.path, o.real_path, o.via,
                                       o.needed_by.index if o.needed_by else None, o.origin,
                                       o.names, o.file_id, o.realm)
    return (res.executable, res.interpreter, res.static, res.listing,
            [obj(e) if isinstance(e, LoadedObject) else (e.name, obj(e.needed_by), e.reason)
             for e in res.link_map],
            [(obj(lk.requester), lk.name, lk.request, obj(lk.target), lk.via, lk.attempts,
              lk.kind, lk.note, lk.searches) for lk in res.lookups],
            res.error and (res.error.name, res.error.path, res.error.reason,
                           res.error.loader_message, obj(res.error.needed_by)),
            res.diagnostics)


def _root(stable: bool) -> m.MemRoot:
    root = m.MemRoot()
    if stable:  # the same tree, promising not to change
        root.view.__class__ = StableMemoryView
        root.view._resolve_memo = {}
    root.lib(f"{m.USRLIBDIR}/liba.so.1", soname="liba.so.1", needed=["libb.so.1"])
    root.lib(f"{m.USRLIBDIR}/libb.so.1", soname="libb.so.1")
    root.lib("/opt/r/libb.so.1", soname="libb.so.1", needed=["libgone.so.3"])
    root.lib("/opt/r/libc.so", soname="libc.so")
    root.view.add_symlink("/opt/link", "r")
    root.lib(f"{m.USRLIBDIR}/glibc-hwcaps/x86-64-v2/liba.so.1", soname="liba.so.1",
             cache=False)
    root.exe("/usr/bin/one", needed=["liba.so.1", "libb.so.1"])
    root.exe("/usr/bin/two", needed=["libb.so.1", "liba.so.1", "libgone.so.3"], rpath="/opt/r")
    root.exe("/usr/bin/three", needed=["../opt/link/libb.so.1", "liba.so.1"],
             runpath="$ORIGIN/../../opt/link")
    root.exe("/usr/bin/four", needed=["libc.so", "liba.so.1"], runpath="/opt/link:/nope")
    root.lib("/opt/r/libsecret.so.1", soname="libsecret.so.1", mode=0o600)
    root.lib(f"{m.USRLIBDIR}/libsecret.so.1", soname="libsecret.so.1")
    root.exe("/usr/bin/five", needed=["libsecret.so.1"], rpath="/opt/r")
    return root


def test_a_stable_root_resolves_program_after_program_as_a_plain_one() -> None:
    plain, stable = _root(False).open(), _root(True).open()
    envs = [m.ENV, dataclasses.replace(m.ENV, cwd="/usr/bin"),
            dataclasses.replace(m.ENV, hwcaps=("x86-64-v2",), ld_library_path="/opt/r:rel"),
            dataclasses.replace(m.ENV, preload="liba.so.1 /opt/r/libb.so.1", secure=True),
            dataclasses.replace(m.ENV, invocation=Invocation.LDD, cwd="/usr"),
            dataclasses.replace(m.ENV, user=(65534, 65534))]
    for _ in range(2):
        for env in envs:
            for prog in ("/usr/bin/one", "/usr/bin/two", "/usr/bin/three", "/usr/bin/four",
                         "/usr/bin/five", "bin/one", f"{m.USRLIBDIR}/liba.so.1"):
                try:
                    want = _shape(ldsim.resolve(plain, prog, env))
                except LdsimError as exc:
                    want = (type(exc), str(exc))
                try:
                    got = _shape(ldsim.resolve(stable, prog, env))
                except LdsimError as exc:
                    got = (type(exc), str(exc))
                assert got == want, (prog, env)
    assert stable.config().files._probes  # the probes were shared


def test_a_result_holds_neither_its_view_nor_its_model_until_its_lookups_are_read() -> None:
    """A result's lookups are frozen when first read, from what its run left: until then it
    keeps no view (a snap's holds an open image) and no model alive, and read later they
    are what a result frozen at once says."""
    import gc
    import weakref

    for prog in ("/usr/bin/two", "/usr/bin/three", "/usr/bin/five"):
        root = _root(True)
        target = root.open()
        res = ldsim.resolve(target, prog, m.ENV)
        gone = weakref.ref(root.view)
        del root, target
        gc.collect()
        assert gone() is None, prog
        assert _shape(res) == _shape(ldsim.resolve(_root(False).open(), prog, m.ENV))


def test_what_loading_a_probe_gives_is_kept_only_for_a_stable_view() -> None:
    """A stable view's probes are shared by its runs, and so is what _load derives from
    them; another view's are each run's own, and nothing of them is kept."""
    plain, stable = _root(False).open(), _root(True).open()
    for _ in range(3):
        for target in (plain, stable):
            ldsim.resolve(target, "/usr/bin/one", m.ENV)
    assert not plain.config().files.derived
    assert stable.config().files.derived


def test_programs_of_two_float_abis_without_a_loader_each_get_their_own_directories() -> None:
    """ARM programs that name no loader (no PT_INTERP, or `ldd` on a file without one) get
    the system directories of their own float ABI (arm-linux-gnueabi for armel,
    arm-linux-gnueabihf for armhf), whichever the same process resolved first."""
    soft, hard = 0x05000200, 0x05000400  # EABI5 with the soft-float or the hard-float flag

    def root() -> m.MemRoot:
        r = m.MemRoot()
        for name, flags in (("soft", soft), ("hard", hard)):
            r.view.add_file(f"/usr/bin/{name}", m.elf(e_type=m.ET_EXEC, machine=40,
                                                       elf_class=32, e_flags=flags))
        return r

    env = dataclasses.replace(m.ENV, preload="libz.so.1")
    alone = {p: _shape(ldsim.resolve(root().open(), p, env))
             for p in ("/usr/bin/soft", "/usr/bin/hard")}
    assert alone["/usr/bin/soft"] != alone["/usr/bin/hard"]
    for order in (("/usr/bin/soft", "/usr/bin/hard"), ("/usr/bin/hard", "/usr/bin/soft")):
        shared = root().open()
        for p in order:
            assert _shape(ldsim.resolve(shared, p, env)) == alone[p], (order, p)
