#!/usr/bin/env python3
"""Fuzz ldsim's readers of untrusted input: ELF files, ld.so.cache files, loader binaries,
SquashFS images (``.snap``) and ``snap.yaml``, and the whole ``explain`` pipeline.

Every input is a mutation of a real seed: files of this machine (programs, libraries, its
loader and ``/etc/ld.so.cache``), the hostile regression inputs of ``rootfs-fixtures/``
(``hostile_elf``, ``hostile_yaml``, ``hostile_fs``) and small SquashFS images made with
``mksquashfs`` in every compressor it has. Each input runs in a worker process with an
address-space cap (``--memory``, default 1 GiB); the parent kills a worker that takes longer
than ``--hard-timeout`` on one input. A finding is an input that makes a reader raise
anything but ldsim's own :class:`~ldsim.errors.LdsimError`, run longer than ``--slow``
seconds (default 2), hit the memory cap, or hang; it is written to ``--out`` for replay.

    python scripts/fuzz.py --count 100000                  # a campaign, every target
    python scripts/fuzz.py --minutes 600 --targets elf      # hours on one target
    python scripts/fuzz.py --replay fuzz-findings/elf-17.bin --targets elf
    python scripts/fuzz.py --atheris elf -- -max_total_time=3600   # coverage-guided

``--atheris TARGET`` runs one target under atheris (``pip install atheris``;
coverage-guided, in this process, its own limits: pass libFuzzer options after ``--``,
e.g. ``-rss_limit_mb=1024 -timeout=2``). Exit status: 0 no finding, 1 findings, 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "rootfs-fixtures")]

TARGETS = ("elf", "cache", "profile", "squashfs", "yaml", "explain")
INTERESTING = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
               0x80000000, 0xFFFFFFFF)


# -- seeds -------------------------------------------------------------------------------
def _host_files(paths: list[str], limit: int) -> list[bytes]:
    out = []
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except OSError:
            continue
        if len(data) <= limit:
            out.append(data)
    return out


def _squashfs_seeds(work: Path) -> list[bytes]:
    """Small images with files, a symlink, a subdirectory and a sparse file, in every
    compressor this machine's mksquashfs has."""
    if shutil.which("mksquashfs") is None:
        return []
    src = work / "sqsrc"
    (src / "bin").mkdir(parents=True)
    (src / "meta").mkdir()
    (src / "meta" / "snap.yaml").write_text("name: fz\nversion: '1'\nbase: core22\n"
                                            "apps:\n  app:\n    command: bin/app\n")
    shutil.copy("/usr/bin/true", src / "bin" / "app")
    (src / "bin" / "link").symlink_to("app")
    (src / "lib").mkdir()
    (src / "lib" / "data.txt").write_text("x" * 5000)
    with open(src / "lib" / "sparse", "wb") as fh:
        fh.truncate(300_000)
    out = []
    for comp in ("gzip", "xz", "lzo", "lz4", "zstd", "lzma"):
        img = work / f"seed-{comp}.snap"
        r = subprocess.run(["mksquashfs", str(src), str(img), "-comp", comp, "-noappend",
                            "-no-progress", "-quiet", "-all-root", "-b", "4096"],
                           capture_output=True, check=False)
        if r.returncode == 0:
            out.append(img.read_bytes())
    return out


def seeds(target: str, work: Path) -> list[bytes]:
    import hostile_elf as he
    import memroot

    if target in ("elf", "explain"):
        host = _host_files(["/usr/bin/true", "/usr/bin/ls", "/usr/bin/env",
                            "/lib/x86_64-linux-gnu/libz.so.1",
                            "/lib/x86_64-linux-gnu/libselinux.so.1"], 400_000)
        small = [he.many_needed_one_string(50, 200), he.strings_without_nul(50, 400),
                 he.overlapping_verneed(8, 8), he.verneed_section_claiming(),
                 he.huge_section_no_entsize(),
                 memroot.elf(interp=memroot.GLIBC_LOADER, needed=["libc.so.6"], rpath="$ORIGIN",
                             isa_needed=4),
                 memroot.elf(elf_class=32, machine=3, needed=["libfoo.so"], soname="libx.so",
                             abi_note_os=0)]
        return host + small
    if target == "cache":
        return [*_host_files(["/etc/ld.so.cache"], 2000000), memroot.ld_so_cache([("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"), ("libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1")]), he.ld_so_cache_one_string(40, 400)]
    if target == "profile":
        return [*_host_files(["/lib64/ld-linux-x86-64.so.2"], 1000000), memroot.glibc_loader_bytes(), he.loader_without_nul(2000), he.loader_release_digits(40)]
    if target == "squashfs":
        out = _squashfs_seeds(work)
        try:
            import hostile_fs

            out += [data for data in getattr(hostile_fs, "fuzz_seeds", lambda: [])()]
        except ImportError:
            pass
        return out
    if target == "yaml":
        out = [b"name: hello\nversion: '1.0'\nsummary: s\nbase: core22\nconfinement: classic\n"
               b"apps:\n  hello:\n    command: bin/hello\n    environment:\n      A: $SNAP/x\n",
               memroot.snaproots_yaml("s", "core22", "strict", {"a": "bin/a", "b": "usr/b"})]
        try:
            import hostile_yaml

            out += [data for data in getattr(hostile_yaml, "fuzz_seeds", lambda: [])()]
        except ImportError:
            pass
        return out
    raise ValueError(target)


# -- mutations ---------------------------------------------------------------------------
def mutate(data: bytes, rnd: random.Random, pool: list[bytes]) -> bytes:
    """A few random edits: bit flips, interesting integers at aligned offsets, inserted,
    deleted or duplicated runs, splices from another seed, truncation."""
    buf = bytearray(data or b"\0")
    for _ in range(rnd.choice((1, 1, 2, 3, 5, 8))):
        n = len(buf)
        op = rnd.randrange(8)
        pos = rnd.randrange(n) if n else 0
        if op == 0:
            buf[pos] ^= 1 << rnd.randrange(8)
        elif op == 1:
            buf[pos] = rnd.randrange(256)
        elif op in (2, 3):
            size, fmt = rnd.choice(((2, "<H"), (4, "<I"), (8, "<Q")))
            at = (pos // size) * size
            if at + size <= n:
                value = rnd.choice((*INTERESTING, n, n - at, rnd.randrange(1 << 16)))
                buf[at:at + size] = struct.pack(fmt, value & ((1 << (8 * size)) - 1))
        elif op == 4:
            buf[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 16)))
        elif op == 5 and n > 1:
            del buf[pos:pos + rnd.randrange(1, min(64, n))]
        elif op == 6:
            length = rnd.randrange(1, 256)
            buf[pos:pos] = buf[pos:pos + length] * rnd.randrange(1, 8)
        elif op == 7 and pool:
            other = rnd.choice(pool)
            if other:
                start = rnd.randrange(len(other))
                buf[pos:pos + rnd.randrange(1, 64)] = other[start:start + rnd.randrange(1, 256)]
        if rnd.random() < 0.03 and len(buf) > 1:
            del buf[rnd.randrange(1, len(buf)):]
    return bytes(buf)


# -- targets -----------------------------------------------------------------------------
class Runner:
    """The code each target runs on one input (inside a worker)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._root: Any = None

    def elf(self, data: bytes) -> None:
        from ldsim.elf.reader import parse_elf
        from ldsim.elf.symbols import read_dynamic_symbols
        from ldsim.errors import LdsimError
        from ldsim.linter.fix import read_layout

        for fn in (lambda: parse_elf(data, "/fuzz"), lambda: read_layout(data, "/fuzz"),
                   lambda: read_dynamic_symbols(data, "/fuzz")):
            with contextlib.suppress(LdsimError):
                fn()

    def cache(self, data: bytes) -> None:
        from ldsim.config.ld_so_cache import lookup, parse_ld_so_cache
        from ldsim.errors import LdsimError

        try:
            cache = parse_ld_so_cache(data, "/etc/ld.so.cache")
        except LdsimError:
            return
        for name in ("libc.so.6", "libz.so.1", "libC", ""):
            lookup(cache, name, hwcaps_subdirs=("x86-64-v3", "x86-64-v2"), platform="x86_64")
        for _ in zip(range(64), cache.entries, strict=False):
            pass

    def profile(self, data: bytes) -> None:
        from ldsim.config.loader_profile import glibc_profile_from_bytes

        glibc_profile_from_bytes(data, "/lib64/ld-linux-x86-64.so.2", 62)

    def squashfs(self, data: bytes) -> None:
        from ldsim.errors import LdsimError
        from ldsim.fs.squashfs import SquashFsView

        path = self.work / f"in-{os.getpid()}.snap"
        path.write_bytes(data)
        try:
            view = SquashFsView(str(path))
        except LdsimError:
            return
        try:
            for p, st in view.walk():
                if st.is_reg:
                    try:
                        view.read(p, limit=64)
                        view.read(p)
                    except LdsimError:
                        pass
                elif st.is_link:
                    with contextlib.suppress(LdsimError):
                        view.resolve(p)
        except LdsimError:
            pass
        finally:
            view.close()

    def yaml(self, data: bytes) -> None:
        from ldsim.errors import LdsimError
        from ldsim.snap.meta import parse_snap_yaml

        with contextlib.suppress(LdsimError):
            parse_snap_yaml(data.decode("utf-8", "replace"), "meta/snap.yaml")

    def explain(self, data: bytes) -> None:
        import memroot

        import ldsim
        from ldsim.errors import LdsimError

        if self._root is None:
            root = memroot.MemRoot()
            root.lib(f"{memroot.LIBDIR}/libz.so.1", soname="libz.so.1")
            root.file("/bin/app", b"", 0o755)
            self._root = root
        root = self._root
        root.view.add_file("/bin/app", data, 0o755)
        try:
            target = root.open()
            expl = ldsim.explain(target, "/bin/app", memroot.ENV, symbols=True)
            ldsim.render(expl, "text")
            ldsim.render(expl, "json")
        except LdsimError:
            pass


# -- workers -----------------------------------------------------------------------------
def _worker(target: str, work: str, memory: int, conn: Any) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.setrecursionlimit(10_000)
    runner = Runner(Path(work))
    fn: Callable[[bytes], None] = getattr(runner, target)
    while True:
        msg = conn.recv()
        if msg is None:
            break
        ident, data = msg
        start = time.monotonic()
        try:
            fn(data)
            error = None
        except BaseException as exc:  # the finding: anything but LdsimError got out
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        conn.send((ident, time.monotonic() - start, error,
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


class Pool:
    """Workers fed one input at a time; a worker that overruns the hard timeout is killed and
    replaced (its input is a finding)."""

    def __init__(self, target: str, work: Path, n: int, memory: int, hard: float) -> None:
        self.target, self.work, self.memory, self.hard = target, work, memory, hard
        self.ctx = mp.get_context("fork")
        self.slots = [self._start() for _ in range(n)]

    def _start(self) -> dict[str, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(self.target, str(self.work),
                                                      self.memory, child), daemon=True)
        proc.start()
        return {"proc": proc, "conn": parent, "busy": None, "since": 0.0}

    def close(self) -> None:
        for s in self.slots:
            with contextlib.suppress(OSError):
                s["conn"].send(None)
            s["proc"].join(timeout=2)
            if s["proc"].is_alive():
                s["proc"].kill()


def campaign(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="ldsim-fuzz-"))
    out = Path(args.out)
    rnd = random.Random(args.seed)
    targets = list(TARGETS) if args.targets == "all" else args.targets.split(",")
    for t in targets:
        if t not in TARGETS:
            print(f"fuzz.py: unknown target {t!r} (one of {', '.join(TARGETS)})",
                  file=sys.stderr)
            return 2
    pools: dict[str, tuple[Pool, list[bytes]]] = {}
    for t in targets:
        sd = seeds(t, work)
        if not sd:
            print(f"fuzz.py: no seeds for {t}, skipped", file=sys.stderr)
            continue
        pools[t] = (Pool(t, work, args.jobs, args.memory, args.hard_timeout), sd)
    if not pools:
        return 2
    stats = {t: {"inputs": 0, "findings": 0, "slowest": 0.0, "max_rss_mib": 0} for t in pools}
    findings: list[dict[str, Any]] = []
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    started = time.monotonic()
    sent = 0
    inputs: dict[int, tuple[str, bytes]] = {}
    order = list(pools)
    last_report = started

    def record(t: str, data: bytes, why: str, seconds: float) -> None:
        out.mkdir(parents=True, exist_ok=True)
        n = len(findings)
        path = out / f"{t}-{n}.bin"
        path.write_bytes(data)
        findings.append({"target": t, "file": str(path), "why": why[:2000],
                         "seconds": round(seconds, 3)})
        stats[t]["findings"] += 1

    per_target = {t: 0 for t in pools}
    quota = -(-args.count // len(pools))  # the same number of inputs for every target

    def more(t: str) -> bool:
        if deadline is not None:
            return time.monotonic() < deadline
        return per_target[t] < quota

    busy = True
    while busy:
        busy = False
        for t in order:
            pool, sd = pools[t]
            for i, s in enumerate(pool.slots):
                if s["busy"] is not None:
                    busy = True
                    if s["conn"].poll():
                        try:
                            ident, seconds, error, rss = s["conn"].recv()
                        except (EOFError, OSError):  # the worker died (memory, signal)
                            ident, seconds, error, rss = s["busy"], time.monotonic() - \
                                s["since"], "worker died", 0
                            pool.slots[i] = pool._start()
                        st = stats[t]
                        st["inputs"] += 1
                        st["slowest"] = max(st["slowest"], seconds)
                        st["max_rss_mib"] = max(st["max_rss_mib"], rss // 1024)
                        data = inputs.pop(ident)[1]
                        heavy = rss // 1024 > args.memory // (1 << 20) * 0.9
                        if error is not None:
                            record(t, data, error, seconds)
                        elif seconds > args.slow:
                            record(t, data, f"slow: {seconds:.2f} s", seconds)
                        elif heavy:
                            record(t, data, f"memory: {rss // 1024} MiB", seconds)
                        if error is not None or heavy:  # a fresh worker: its peak resets
                            s["conn"].send(None)
                            s["proc"].join(timeout=2)
                            pool.slots[i] = pool._start()
                        else:
                            pool.slots[i]["busy"] = None
                    elif not s["proc"].is_alive():
                        ident = s["busy"]
                        stats[t]["inputs"] += 1
                        record(t, inputs.pop(ident)[1], "worker died (memory cap or signal)",
                               time.monotonic() - s["since"])
                        pool.slots[i] = pool._start()
                    elif time.monotonic() - s["since"] > args.hard_timeout:
                        s["proc"].kill()
                        s["proc"].join()
                        ident = s["busy"]
                        stats[t]["inputs"] += 1
                        record(t, inputs.pop(ident)[1], f"hang: killed after "
                               f"{args.hard_timeout} s", args.hard_timeout)
                        pool.slots[i] = pool._start()
                    continue
                if more(t):
                    busy = True
                    base = rnd.choice(sd)
                    data = base if rnd.random() < 0.02 else mutate(base, rnd, sd)
                    sent += 1
                    per_target[t] += 1
                    inputs[sent] = (t, data)
                    s["conn"].send((sent, data))
                    s["busy"], s["since"] = sent, time.monotonic()
        if time.monotonic() - last_report > 10 and not args.quiet:
            done = sum(v["inputs"] for v in stats.values())
            print(f"fuzz: {done} inputs, {len(findings)} findings, "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr)
            last_report = time.monotonic()
        time.sleep(0.0005)
    for pool, _ in pools.values():
        pool.close()
    shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    report = {"inputs": sum(v["inputs"] for v in stats.values()), "seconds": round(elapsed, 1),
              "findings": findings, "targets": stats, "seed": args.seed}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['inputs']} inputs in {elapsed:.0f} s, {len(findings)} findings")
        for t, st in stats.items():
            print(f"  {t:<9} {st['inputs']:>7} inputs  slowest {st['slowest']:.2f} s  "
                  f"peak {st['max_rss_mib']} MiB  findings {st['findings']}")
        for f in findings[:20]:
            print(f"  {f['target']}: {f['file']}: {f['why'].splitlines()[0]}")
    return 1 if findings else 0


def replay(args: argparse.Namespace) -> int:
    data = Path(args.replay).read_bytes()
    runner = Runner(Path(tempfile.mkdtemp(prefix="ldsim-fuzz-")))
    for t in (TARGETS if args.targets == "all" else args.targets.split(",")):
        start = time.monotonic()
        getattr(runner, t)(data)
        print(f"{t}: ok in {time.monotonic() - start:.3f} s")
    return 0


def run_atheris(target: str, rest: list[str]) -> int:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        print("fuzz.py: --atheris needs atheris (pip install atheris)", file=sys.stderr)
        return 2
    import importlib

    with atheris.instrument_imports():  # coverage for every module the targets reach
        for module in ("ldsim.elf.layout", "ldsim.elf.reader", "ldsim.elf.symbols",
                       "ldsim.linter.fix", "ldsim.config.ld_so_cache",
                       "ldsim.config.loader_profile", "ldsim.fs.view", "ldsim.fs.squashfs",
                       "ldsim.fs.lzo", "ldsim.snap.yamlload", "ldsim.snap.meta",
                       "ldsim.loader.glibc", "ldsim.loader.probe", "ldsim.loader.walk",
                       "ldsim.analysis.abi", "ldsim.renderers.text", "ldsim.safetext"):
            importlib.import_module(module)
    runner = Runner(Path(tempfile.mkdtemp(prefix="ldsim-fuzz-")))
    fn = getattr(runner, target)
    atheris.Setup([sys.argv[0], *rest], fn)
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--targets", default="all", help=f"comma-separated: {', '.join(TARGETS)} "
                   "(default: all)")
    p.add_argument("--count", type=int, default=10_000, help="inputs in all (default 10000)")
    p.add_argument("--minutes", type=float, default=0, help="run this long instead of --count")
    p.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                   help="workers per target")
    p.add_argument("--memory", type=int, default=1 << 30, help="address-space cap per worker")
    p.add_argument("--slow", type=float, default=2.0, help="seconds that make an input slow")
    p.add_argument("--hard-timeout", type=float, default=10.0,
                   help="seconds after which a worker is killed")
    p.add_argument("--seed", type=int, default=0, help="random seed (reproducible campaigns)")
    p.add_argument("--out", default="fuzz-findings", help="where findings are written")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--replay", metavar="FILE", help="run one input through --targets")
    p.add_argument("--atheris", metavar="TARGET", help="coverage-guided run of one target")
    args, rest = p.parse_known_args(argv)
    if args.atheris:
        return run_atheris(args.atheris, [r for r in rest if r != "--"])
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.replay:
        return replay(args)
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
