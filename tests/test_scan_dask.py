"""``ldsim scan --scheduler``: a real Dask cluster gives the same JSON Lines as a local scan.

The module starts a real Dask scheduler and two real workers (``dask scheduler``, ``dask
worker --no-nanny``, one thread each) from this interpreter's environment, every listener
bound to 127.0.0.1 (the dashboards included), and stops them when the module is done, even
when a test fails. Then:

* a root (this machine's loader, libc and ~40 of its programs from ``/usr/bin`` with every
  library ``ldd`` lists for them, an ``ldconfig -r`` cache, plus gcc-built programs that do
  not start, that fail at run time, a truncated ELF file, an object file and text files) is
  scanned with ``--jobs 1``, ``--jobs 2`` and on the cluster (default chunks, and one file
  per task so that the results come back out of order from both workers): the JSON Lines
  are byte-identical, as are the exit status and ldsim's warnings;
* the synthetic snaps of ``rootfs-fixtures/snaproots.py`` (with their three bases and
  host) are scanned the same three ways, with the same result;
* every TCP socket the cluster's processes (and this one) listen on is on 127.0.0.1: no
  wildcard (0.0.0.0 or ::) listener, read from ``/proc/net/tcp{,6}``.

Both workers must have run some of the tasks (their executed-task counters grow), so the
comparison is one of results that travelled from two processes.

``test_relative_paths_mean_the_same_on_the_cluster`` gives the same trees by paths relative
to the directory ldsim runs in (the workers run in another).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from glibcroot import REPO, Root
from snaproots import (
    BASE_NAME,
    build_base,
    build_host,
    build_synthetic_snaps,
    copy_machine_lib,
)

distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                       reason="builds x86-64 glibc roots and reads /proc/net"),
    pytest.mark.skipif(any(shutil.which(t) is None for t in ("gcc", "patchelf", "ldconfig",
                                                              "ldd")),
                       reason="needs gcc, patchelf, ldconfig and ldd"),
]

TRIPLET = "x86_64-linux-gnu"
LIBDIR = f"/lib/{TRIPLET}"
CPU = ("--hwcaps", "none", "--platform", "x86_64", "--legacy-hwcaps", "x86_64")
"""A fixed simulated CPU: the same documents whichever machine runs the test."""
REAL_PROGRAMS = 40
TIMEOUT = 120.0
LOOPBACK = "127.0.0.1"
BASE26, BASE20 = "core26", "core20"


# -- the cluster ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    address: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """The cluster's processes and every process they started."""
        todo = [p.pid for p in self.procs.values()]
        out: list[int] = []
        while todo:
            pid = todo.pop()
            out.append(pid)
            for task in _listdir(f"/proc/{pid}/task"):
                try:
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                except OSError:
                    continue
                todo += [int(c) for c in children if int(c) not in out]
        return out

    def log_tails(self) -> str:
        parts = []
        for name, path in self.logs.items():
            try:
                text = path.read_text(errors="replace")
            except OSError:
                text = ""
            parts.append(f"--- {name} (exit status {self.procs[name].poll()}) ---\n"
                         f"{text[-3000:]}")
        return "\n".join(parts)

    def task_groups(self) -> set[str]:
        """The names (keys up to their token) of the tasks the workers' logs remember."""
        from dask.utils import key_split

        def seen(dask_worker: Any) -> list[str]:
            return [str(entry[0]) for entry in dask_worker.state.log
                    if entry and isinstance(entry[0], str)]

        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            logs = client.run(seen)
        return {key_split(k) for keys in logs.values() for k in keys}

    def executed(self) -> dict[str, int]:
        """Tasks each worker has run so far."""
        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
        return {str(k): int(v) for k, v in counts.items()}


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _dask() -> str:
    exe = Path(sys.executable).parent / "dask"
    if not exe.exists():
        pytest.skip(f"no dask command next to {sys.executable}")
    return str(exe)


def _child_env(tmp: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
            "HOME": str(tmp), "PYTHONPATH": str(REPO),
            "DASK_TEMPORARY_DIRECTORY": str(tmp / "scratch")}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A Dask scheduler and two single-thread workers, all on 127.0.0.1, stopped at the end
    (workers first) whatever happened; their logs are kept in the fixture's directory."""
    dask = _dask()
    tmp = tmp_path_factory.mktemp("dask")
    (tmp / "scratch").mkdir()
    env = _child_env(tmp)
    scheduler_file = tmp / "scheduler.json"
    cl = Cluster(address="")

    def start(name: str, argv: list[str]) -> None:
        log = cl.logs[name] = tmp / f"{name}.log"
        with open(log, "wb") as out:
            cl.procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                              start_new_session=True)

    try:
        # port 0 and the scheduler file: the kernel picks a free port, no race for it
        start("scheduler", [dask, "scheduler", "--host", LOOPBACK, "--port", "0",
                            "--dashboard-address", f"{LOOPBACK}:0", "--no-jupyter",
                            "--scheduler-file", str(scheduler_file),
                            "--idle-timeout", "600s"])
        deadline = time.monotonic() + 60
        while not cl.address:
            if cl.procs["scheduler"].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Dask scheduler did not start\n{cl.log_tails()}")
            try:
                cl.address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        assert cl.address.startswith(f"tcp://{LOOPBACK}:"), cl.address
        for i in (1, 2):
            start(f"worker{i}", [dask, "worker", cl.address, "--host", LOOPBACK,
                                 "--dashboard-address", f"{LOOPBACK}:0", "--nthreads", "1",
                                 "--nworkers", "1", "--no-nanny", "--name", f"worker{i}",
                                 "--local-directory", str(tmp / "scratch"),
                                 "--death-timeout", "60", "--memory-limit", "0"])
        with distributed.Client(cl.address, timeout=30, set_as_default=False) as client:
            try:
                client.wait_for_workers(2, timeout=60)
            except TimeoutError:
                pytest.fail(f"two Dask workers did not connect\n{cl.log_tails()}")
            assert sorted(client.nthreads().values()) == [1, 1]
        yield cl
    finally:
        for name in sorted(cl.procs, reverse=True):  # worker2, worker1, scheduler
            _stop(cl.procs[name])


# -- listening sockets ---------------------------------------------------------------------------


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    for fd in _listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[len("socket:["):-1]))
    return out


def _address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw[::-1])
    # four 32-bit words, each in the host's (little-endian) byte order
    return ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))


def _listeners() -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of every TCP socket in LISTEN state (this network
    namespace)."""
    out: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != "0A":  # TCP_LISTEN
                continue
            host, port = cols[1].split(":")
            addr = _address(host)
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            out[int(cols[9])] = (str(addr), int(port, 16))
    return out


def listening(pids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """pid -> the (address, port) each of its TCP listeners is bound to."""
    table = _listeners()
    return {pid: sorted(table[i] for i in _socket_inodes(pid) if i in table) for pid in pids}


def assert_loopback_only(cl: Cluster) -> None:
    pids = cl.pids()
    found = listening([*pids, os.getpid()])
    every = [(pid, a) for pid, addrs in found.items() for a in addrs]
    wrong = [(pid, a) for pid, a in every if a[0] != LOOPBACK]
    assert not wrong, f"listeners not on {LOOPBACK} (pid, (address, port)): {wrong}"
    # not vacuous: the scheduler listens on its address, and every cluster process listens
    sched_port = int(cl.address.rsplit(":", 1)[1])
    assert (LOOPBACK, sched_port) in found[cl.procs["scheduler"].pid], found
    for name, proc in cl.procs.items():
        assert found[proc.pid], f"{name} (pid {proc.pid}) listens on nothing: {found}"


# -- ldsim ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    status: int
    stdout: bytes
    warnings: tuple[str, ...]
    stderr: str


def ldsim_scan(*args: str, cwd: Path = REPO) -> Run:
    """``python -m ldsim scan --format jsonl ARGS`` (in ``cwd``, from the checkout);
    ``warnings``: ldsim's own lines of standard error (a Dask client may log its own)."""
    argv = (sys.executable, "-m", "ldsim", "scan", "--format", "jsonl", *CPU, *args)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(argv, capture_output=True, cwd=cwd, env=env, timeout=TIMEOUT,
                          check=False)
    err = proc.stderr.decode(errors="replace")
    return Run(argv, proc.returncode, proc.stdout,
               tuple(line for line in err.splitlines() if line.startswith("ldsim:")), err)


def assert_same(runs: dict[str, Run]) -> list[dict[str, Any]]:
    """Every run printed the same bytes, exited alike and warned alike; the parsed lines."""
    (first_name, first), *rest = runs.items()
    assert first.status in (0, 1, 2), f"{first_name}: {first.status}\n{first.stderr}"
    for name, run in rest:
        assert run.status == first.status, \
            f"exit status {name} {run.status} != {first_name} {first.status}\n{run.stderr}"
        if run.stdout != first.stdout:
            a, b = first.stdout.splitlines(), run.stdout.splitlines()
            diff = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                        min(len(a), len(b)))
            pytest.fail(f"{name} and {first_name} differ at line {diff + 1} ({len(b)} lines "
                        f"vs {len(a)}):\n{name}: {b[diff][:600] if diff < len(b) else b''!r}"
                        f"\n{first_name}: {a[diff][:600] if diff < len(a) else b''!r}\n"
                        f"{name}'s standard error:\n{run.stderr[-2000:]}")
        assert run.warnings == first.warnings, name
    assert first.stdout.endswith(b"\n")
    return [json.loads(line) for line in first.stdout.splitlines()]


def scan_three_ways(cl: Cluster, *args: str, chunk: str) -> list[dict[str, Any]]:
    """One scan with --jobs 1, --jobs 2 and on the cluster (default chunks, and ``chunk``);
    both workers must have taken part."""
    before = cl.executed()
    runs = {
        "jobs1": ldsim_scan("--jobs", "1", *args),
        "jobs2": ldsim_scan("--jobs", "2", *args),
        "dask": ldsim_scan("--scheduler", cl.address, *args),
        f"dask-chunk{chunk}": ldsim_scan("--scheduler", cl.address, "--chunk", chunk, *args),
    }
    after = cl.executed()
    for name in ("dask", f"dask-chunk{chunk}"):
        assert "Traceback" not in runs[name].stderr, runs[name].stderr
    idle = [w for w in after if after[w] <= before.get(w, 0)]
    assert len(after) == 2 and not idle, f"workers without a task: {idle} ({before} -> {after})"
    return assert_same(runs)


# -- the trees -----------------------------------------------------------------------------------


def _elf_program(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head[:4] == b"\x7fELF" and head[4] == 2 and head[16] in (2, 3)


def _ldd(path: Path) -> list[str] | None:
    """The sonames ldd lists (besides the loader, libc and the vDSO), when every one of them
    is found in the multiarch directory; else None."""
    try:
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=20,
                              env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"}, check=False)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0 or "not found" in proc.stdout:
        return None
    names: list[str] = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(("linux-vdso", "/")) or parts[0] == "libc.so.6":
            continue
        if len(parts) < 3 or parts[1] != "=>":
            return None
        where = os.path.dirname(parts[2])
        if where not in (LIBDIR, f"/usr{LIBDIR}"):
            return None
        names.append(parts[0])
    return names


def copy_machine_programs(root: Root, count: int) -> list[str]:
    """``count`` of this machine's programs (``/usr/bin``, by name, those whose libraries are
    all in the multiarch directory) with those libraries, as real files and soname links."""
    copied: list[str] = []
    libs: set[str] = set()
    for name in sorted(os.listdir("/usr/bin")):
        src = Path("/usr/bin", name)
        if len(copied) >= count:
            break
        if src.is_symlink() or not src.is_file() or src.stat().st_size > 3_000_000 \
                or not _elf_program(src) or root.exists(f"/usr/bin/{name}"):
            continue
        needed = _ldd(src)
        if needed is None:
            continue
        for soname in needed:
            if soname not in libs and not copy_machine_lib(root, soname, LIBDIR):
                break
            libs.add(soname)
        else:
            shutil.copy2(src, root.host(f"/usr/bin/{name}"))
            copied.append(name)
    return copied


@pytest.fixture(scope="module")
def scan_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root of real parts: this machine's loader and libc, some of its programs with their
    libraries, Debian's ld.so.conf.d and a cache made by ``ldconfig -r``; and gcc-built files:

    ``/opt/app/bin/ok`` (RUNPATH ``$ORIGIN/../lib``: starts), ``/opt/app/bin/broken`` (needs
    ``libgone.so.1``, found nowhere), ``/opt/app/bin/dep-broken`` (its library needs
    ``libgone.so.1``), ``/opt/app/bin/old`` (needs version ``V2`` of ``libver.so.1``, whose
    installed build only has ``V1``), ``/opt/app/bin/truncated`` (the first 200 bytes of a
    program), ``/opt/app/obj/x.o`` (a relocatable object), and text files."""
    top = tmp_path_factory.mktemp("scanroot")
    r = Root(top / "root")
    r.write(f"/etc/ld.so.conf.d/{TRIPLET}.conf", f"/usr/local/lib/{TRIPLET}\n{LIBDIR}\n"
            f"/usr/lib/{TRIPLET}\n")
    copied = copy_machine_programs(r, REAL_PROGRAMS)
    assert len(copied) >= 10, f"too few usable programs in /usr/bin: {copied}"
    r.mklib("/opt/app/lib/libok.so.1", "libok.so.1")
    r.mkexe("/opt/app/bin/ok", needed=["libok.so.1"], runpath="$ORIGIN/../lib")
    r.mkexe("/opt/app/bin/broken", needed=["libgone.so.1"])
    r.mklib("/opt/app/lib/libdep.so.1", "libdep.so.1", needed=["libgone.so.1"])
    r.mkexe("/opt/app/bin/dep-broken", needed=["libdep.so.1"], runpath="$ORIGIN/../lib")
    # a symbol version the installed library does not define
    v1, v2 = top / "v1.map", top / "v2.map"
    v1.write_text("V1 { global: f_ver; local: *; };\n")
    v2.write_text("V2 { global: f_ver; local: *; };\n")
    r.mklib("/opt/app/build/libver.so.1", "libver.so.1", f"-Wl,--version-script={v2}",
            source="int f_ver(void){return 2;}\n")
    r.mkexe("/opt/app/bin/old", link=["/opt/app/build/libver.so.1"], runpath="$ORIGIN/../lib",
            source="int f_ver(void);\nint main(void){return f_ver();}\n")
    r.mklib("/opt/app/lib/libver.so.1", "libver.so.1", f"-Wl,--version-script={v1}",
            source="int f_ver(void){return 1;}\n")
    r.remove("/opt/app/build")
    r.head("/opt/app/bin/ok", "/opt/app/bin/truncated", 200)
    r.compile("/opt/app/obj/x.o", "int x;\n", "-c")
    r.write("/opt/app/README", "not an ELF file\n")
    r.write("/usr/bin/script", "#!/bin/sh\nexit 0\n", mode=0o755)
    r.ldconfig()
    assert r.exists("/etc/ld.so.cache")
    return r.path


@dataclass(frozen=True)
class Snaps:
    host: Path
    bases: Path
    snaps: list[Path]


@pytest.fixture(scope="module")
def snap_world(tmp_path_factory: pytest.TempPathFactory) -> Snaps:
    """snaproots' synthetic snaps (one per situation), their bases by name in one directory
    (core22, core26 with a directory only its own cache lists, core20 with an absolute loader
    link) and the host."""
    top = tmp_path_factory.mktemp("snapworld")
    host = build_host(top / "host").path
    build_base(top / "bases" / BASE_NAME)
    build_base(top / "bases" / BASE26, BASE26, cache_only_dir=True)
    build_base(top / "bases" / BASE20, BASE20, absolute_loader=True)
    snaps = build_synthetic_snaps(top / "snaps")
    return Snaps(host, top / "bases", [s.path for s in snaps.values()])


# -- the tests -----------------------------------------------------------------------------------


def test_root_scan_on_the_cluster_is_the_local_scan(cluster: Cluster, scan_root: Path) -> None:
    lines = scan_three_ways(cluster, "--root", str(scan_root), chunk="1")
    *docs, summary = lines
    assert summary["schema"] == "ldsim.scan-summary/1"
    assert all(d["schema"] == "ldsim.explain/1" for d in docs)
    by_status = summary["by_status"]
    # a document per file resolved; a file that cannot be read is named in the summary only
    assert len(docs) == summary["files"] - by_status.get("unreadable", 0) >= 40
    paths = [str(d["executable"]) for d in docs]
    assert len(set(paths)) == len(paths)
    status = {d["executable"]: d["verdict"]["status"] for d in docs}
    assert {p: st for p, st in status.items() if p.startswith("/opt/")} == {
        "/opt/app/bin/broken": "does_not_start",
        "/opt/app/bin/dep-broken": "does_not_start",
        "/opt/app/bin/ok": "starts",
        "/opt/app/bin/old": "fails_at_run_time",
        "/opt/app/lib/libdep.so.1": "does_not_start",
        "/opt/app/lib/libok.so.1": "starts",
        "/opt/app/lib/libver.so.1": "starts",
    }
    assert by_status["starts"] >= 30 and by_status["unreadable"] == 1, by_status
    assert summary["exit_status"] == 2
    assert [u["path"] for u in summary["unreadable"]] == ["/opt/app/bin/truncated"]
    assert summary["walk"]["other_elf"] >= 1
    not_found = {n["name"] for n in summary["not_found"]}
    assert "libgone.so.1" in not_found
    # the dashboard shows what the tasks are, not the wrapper that checks the worker
    groups = cluster.task_groups()
    assert "ldsim.scan_files" in groups and "same_ldsim" not in groups, groups
    assert_loopback_only(cluster)


def test_snap_scan_on_the_cluster_is_the_local_scan(cluster: Cluster, snap_world: Snaps) -> None:
    lines = scan_three_ways(cluster, "--snap", *map(str, snap_world.snaps), "--base-dir",
                            str(snap_world.bases), "--host", str(snap_world.host), chunk="1")
    *docs, summary = lines
    assert summary["schema"] == "ldsim.scan-summary/1"
    assert all(d["schema"] == "ldsim.compare/1" for d in docs)
    assert len(docs) == summary["snaps"] == len(snap_world.snaps) >= 10
    by_status = summary["by_status"]
    assert len(by_status) >= 2 and by_status.get("unreadable", 0) == 0, by_status
    assert sum(summary["leaks"].values()) > 0, summary
    assert_loopback_only(cluster)


def test_the_cluster_listens_on_loopback_only(cluster: Cluster) -> None:
    assert_loopback_only(cluster)
    assert not any(p.poll() is not None for p in cluster.procs.values()), cluster.log_tails()


@pytest.mark.parametrize("what", ["root", "snaps"])
def test_relative_paths_mean_the_same_on_the_cluster(cluster: Cluster, scan_root: Path,
                                                     snap_world: Snaps, what: str) -> None:
    """Paths given relative to the directory ldsim runs in (the workers run elsewhere)."""
    if what == "root":
        cwd = scan_root.parent
        args = ["--root", scan_root.name]
    else:
        cwd = snap_world.host.parent
        args = ["--snap", *(os.path.relpath(s, cwd) for s in snap_world.snaps), "--base-dir",
                os.path.relpath(snap_world.bases, cwd), "--host",
                os.path.relpath(snap_world.host, cwd)]
    assert cwd != REPO and all(not a.startswith("/") for a in args)
    runs = {"jobs1": ldsim_scan("--jobs", "1", *args, cwd=cwd),
            "dask": ldsim_scan("--scheduler", cluster.address, *args, cwd=cwd)}
    *docs, summary = assert_same(runs)
    counted = summary["files" if what == "root" else "snaps"]
    assert docs and counted - len(summary["unreadable"]) == len(docs), summary
    if what == "root":  # documents name the root as given, as `ldsim explain --root` does
        assert {d["root"] for d in docs} == {scan_root.name}


# -- a cluster that goes away --------------------------------------------------------------------


def test_something_that_is_not_a_scheduler_is_named_in_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts the connection and never answers (a dashboard's, a stray
    listener): Dask's Client would wait forever; the scan names it and stops."""
    import socket

    from ldsim.cli.main import main

    monkeypatch.setattr("ldsim.scanner.engine.CONNECT_WAIT", 1)
    monkeypatch.setattr("ldsim.scanner.engine.HANDSHAKE_WAIT", 1)
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(5)
        address = f"tcp://{LOOPBACK}:{listener.getsockname()[1]}"
        start = time.monotonic()
        status = main(["scan", "--scheduler", address, "--root", str(tmp_path)])
        assert status == 2 and time.monotonic() - start < 30


@contextlib.contextmanager
def _peer_that(answer: Callable[[Any], object]) -> Iterator[str]:
    """A listener on loopback that answers every connection with ``answer(conn)``, in a
    thread, while the block runs: its address."""
    import socket
    import threading

    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(5)
        listener.settimeout(0.2)
        done = threading.Event()

        def serve() -> None:
            while not done.is_set():
                try:
                    conn, _peer = listener.accept()
                except OSError:
                    continue
                with conn:
                    conn.settimeout(5)
                    with contextlib.suppress(OSError):
                        answer(conn)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            yield f"tcp://{LOOPBACK}:{listener.getsockname()[1]}"
        finally:
            done.set()
            server.join()


def test_a_port_that_answers_garbage_is_refused_as_no_scheduler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A listener that sends bytes no Dask peer sends, then hangs up: whatever Dask's
    client raises for it (an OverflowError here) is a scheduler that cannot be reached,
    exit 2, not an internal error."""
    from ldsim.cli.main import main

    monkeypatch.setattr("ldsim.scanner.engine.CONNECT_WAIT", 2)
    monkeypatch.setattr("ldsim.scanner.engine.HANDSHAKE_WAIT", 2)
    with _peer_that(lambda conn: conn.sendall(b"\xff" * 64 + b"HTTP/1.0 400 Bad\r\n\r\n" * 10)
                    ) as address:
        status = main(["scan", "--scheduler", address, "--root", str(tmp_path)])
    assert status == 2


def test_a_web_server_given_as_the_scheduler_is_one_line_at_once(tmp_path: Path) -> None:
    """A port that reads Dask's handshake and answers as a web server or a proxy does
    (``HTTP/1.0 426 Upgrade Required``): Dask reads "HTTP/1.0" as the length of a message
    and raises a MemoryError with no text. The command says what answers there in one line
    with a reason, exit 2; the failed client is let go at once, so nothing waits for it to
    close (Dask's ``Client.__del__``: 20 s, then an "Exception ignored" traceback)."""
    served: list[bytes] = []

    def proxy(conn: Any) -> None:
        served.append(conn.recv(4096))  # the client speaks first
        conn.sendall(b"HTTP/1.0 426 Upgrade Required\r\nserver: proxy\r\n"
                     b"connection: close\r\ncontent-length: 0\r\n\r\n")

    with _peer_that(proxy) as address:
        proc = subprocess.run([sys.executable, "-m", "ldsim", "scan", "--scheduler", address,
                               "--root", str(tmp_path)], capture_output=True, text=True,
                              timeout=120, env=_child_env(tmp_path))
    assert served and served[0], "the client never sent its handshake: nothing was tested"
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"ldsim: error: --scheduler: cannot reach the Dask scheduler at {address}: what "
        "answers there does not speak Dask's protocol (MemoryError while reading its reply): "
        "is it the scheduler's address, not a web server's or a proxy's?"], proc.stderr


def _own_cluster(tmp: Path, worker_env: dict[str, str] | None = None,
                 wrap: list[str] | None = None, scheduler_env: dict[str, str] | None = None
                 ) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A scheduler and one worker of a test's own (``worker_env``: the worker's environment;
    ``wrap``: a command the worker runs under; ``scheduler_env``: added to the scheduler's),
    on 127.0.0.1; the caller stops them."""
    dask = _dask()
    (tmp / "scratch").mkdir(exist_ok=True)
    env = _child_env(tmp)
    sched_file = tmp / "scheduler.json"
    procs = [subprocess.Popen(
        [dask, "scheduler", "--host", LOOPBACK, "--port", "0", "--dashboard-address",
         f"{LOOPBACK}:0", "--no-jupyter", "--scheduler-file", str(sched_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**env, **(scheduler_env or {})}, cwd=tmp, start_new_session=True)]
    deadline = time.monotonic() + 60
    address = ""
    while not address and time.monotonic() < deadline:
        try:
            address = json.loads(sched_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    procs.append(subprocess.Popen(
        [*(wrap or []), dask, "worker", address, "--host", LOOPBACK, "--dashboard-address",
         f"{LOOPBACK}:0", "--nthreads", "1", "--no-nanny", "--local-directory",
         str(tmp / "scratch"), "--memory-limit", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=worker_env or env, cwd=tmp,
        start_new_session=True))
    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=60)
    return address, procs


def _stopped_after_100(address: str, act: Callable[[], object], **options: Any) -> str:
    """Scan this machine's /usr on the cluster at ``address`` (``options`` as
    :func:`ldsim.scan` takes them), calling ``act`` once 100 results are in: the scan must
    stop with an error of its own, no file marked as ldsim's error. Its message."""
    import ldsim
    from ldsim.errors import LdsimError

    scan = ldsim.scan("/", ["/usr"], scheduler=address, chunk=8, **options)
    done = 0
    with pytest.raises(LdsimError) as stopped:
        for _result in scan:
            done += 1
            if done == 100:
                act()
    assert 100 <= done < 3000 and scan.summary.by_status["error"] == 0
    return str(stopped.value)


@pytest.mark.parametrize(("killed", "said"), [
    ("worker", "has had no worker for 2 s: the scan stops"),
    ("scheduler", "was lost"),
])
def test_a_cluster_that_goes_away_stops_the_scan_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed: str, said: str) -> None:
    """Its own scheduler and one worker; one of them killed halfway through a scan of this
    machine's /usr: the scan stops with one error naming the cluster (without a worker it
    waited forever; without the scheduler every file still to come was an 'error')."""
    monkeypatch.setattr("ldsim.scanner.engine.WORKER_WAIT", 2)
    address, procs = _own_cluster(tmp_path)
    try:
        stopped = _stopped_after_100(address, procs[0 if killed == "scheduler" else 1].kill)
        assert said in stopped and "the scan stops" in stopped
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _another_ldsim(tmp: Path) -> dict[str, str]:
    """The environment of a worker importing another ldsim: a copy of this one with one
    source file changed."""
    other = tmp / "other"
    shutil.copytree(REPO / "ldsim", other / "ldsim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "ldsim/records.py", "a") as fh:
        fh.write("\n# another ldsim\n")
    return {**_child_env(tmp), "PYTHONPATH": str(other)}


LOG_PROBE = """
import logging, sys
import ldsim
for _ in ldsim.scan(sys.argv[1], scheduler=sys.argv[2], dask_logs=sys.argv[3] == "1"):
    pass
for name in ("distributed.client", "distributed.core", "asyncio", "tornado.application"):
    logging.getLogger(name).error("LOGGED by %s", name)
"""


@pytest.mark.parametrize("dask_logs", [True, False])
def test_dask_logs_are_kept_off_the_terminal_when_asked(
        cluster: Cluster, scan_root: Path, tmp_path: Path, dask_logs: bool) -> None:
    """After a scan on the cluster, what Dask (and the event loop under it) logs reaches
    stderr through the handlers Dask installed, unless ``dask_logs=False`` (what the
    command line does: a cluster's trouble is said in one line of ldsim's own)."""
    status = subprocess.run(
        [sys.executable, "-c", LOG_PROBE, str(scan_root), cluster.address,
         "1" if dask_logs else "0"], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=TIMEOUT, check=False)
    assert status.returncode == 0, status.stderr
    logged = [line for line in status.stderr.splitlines() if "LOGGED by" in line]
    if dask_logs:
        assert any("distributed.client" in line for line in logged), status.stderr
    else:
        assert logged == [], status.stderr


def _cli_scan_stopped(address: str, chunk: str, act: Callable[[], object]) -> str:
    """``ldsim scan --scheduler ADDRESS --symbols --chunk CHUNK /usr`` (slow enough to be
    under way), ``act`` after 3 s: the scan must stop with exit 2 and one line on stderr,
    which is returned."""
    cli = subprocess.Popen(
        [sys.executable, "-m", "ldsim", "scan", "--scheduler", address, "--symbols",
         "--chunk", chunk, "/usr"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, cwd=REPO)
    time.sleep(3)
    act()
    _out, err = cli.communicate(timeout=TIMEOUT)
    assert cli.returncode == 2 and len(err.strip().splitlines()) == 1, err
    return err


def test_a_lost_scheduler_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    """The scheduler killed under a running ``ldsim scan --scheduler``: one line on stderr
    and exit status 2, none of the Dask client's own error logs and tracebacks (it
    retries for 10 s and then logs them)."""
    address, procs = _own_cluster(tmp_path)
    try:
        err = _cli_scan_stopped(address, "8", procs[0].kill)
        assert "--scheduler" in err, err
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_workers_of_another_ldsim_are_refused(tmp_path: Path) -> None:
    """A worker importing another ldsim (one source file differs) would give other
    documents, which a store would then keep: the scan refuses the cluster."""
    address, procs = _own_cluster(tmp_path, worker_env=_another_ldsim(tmp_path))
    try:
        status = subprocess.run(
            [sys.executable, "-m", "ldsim", "scan", "--scheduler", address, "/usr/bin"],
            capture_output=True, text=True, cwd=REPO, check=False)
        assert status.returncode == 2, status.stderr
        assert "run another ldsim" in status.stderr and "Traceback" not in status.stderr
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _second_worker(tmp: Path, address: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Another worker for a cluster of :func:`_own_cluster`, once it is connected."""
    proc = subprocess.Popen(
        [_dask(), "worker", address, "--host", LOOPBACK, "--dashboard-address",
         f"{LOOPBACK}:0", "--nthreads", "1", "--no-nanny", "--local-directory",
         str(tmp / "scratch"), "--memory-limit", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp,
        start_new_session=True)
    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
    return proc


def _kill_busy(address: str, worker: subprocess.Popen[bytes]) -> None:
    """Kill ``worker`` while the scheduler has a task of it in hand: stopped first (a task
    it holds stays held), killed once the scheduler lists one."""
    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        where = [a for a, pid in client.run(os.getpid).items() if pid == worker.pid]
        assert len(where) == 1
        worker.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if client.processing(workers=where).get(where[0]):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the stopped worker never had a task in hand")
    worker.kill()


def test_a_task_that_its_workers_die_running_stops_the_scan(tmp_path: Path) -> None:
    """Dask gives up on a task whose workers died running it as often as it allows
    (``allowed-failures``; 0 here, so one death is enough): the scan stops in one line, as
    when a local worker dies, instead of marking the task's files as ldsim's errors (exit
    status 3) and going on."""
    address, procs = _own_cluster(
        tmp_path, scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    other: subprocess.Popen[bytes] | None = None
    try:
        other = _second_worker(tmp_path, address, _child_env(tmp_path))
        # with symbols, slow enough for each worker to have tasks in hand when one dies
        stopped = _stopped_after_100(address, lambda: _kill_busy(address, procs[1]),
                                     symbols=True)
        assert "died while running it" in stopped and "the scan stops" in stopped, stopped
    finally:
        for proc in [*([other] if other is not None else []), *reversed(procs)]:
            _stop(proc)


def test_a_task_whose_worker_dies_while_the_walk_waits_for_it_stops_the_scan(
        tmp_path: Path) -> None:
    """On the command line, one file per task: the walk, a window of tasks ahead, waits for
    the oldest, which the one worker holds; killed, Dask gives it up (``allowed-failures``
    0). The scan stops in one line, exit 2, as when ``ready`` meets it (the wait raised
    Dask's KilledWorker itself: an 'internal error', exit 3, in most runs); when the oldest
    was done just before, it is the cluster left without a worker that stops it."""
    address, procs = _own_cluster(
        tmp_path, scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    try:
        err = _cli_scan_stopped(address, "1", lambda: _kill_busy(address, procs[1]))
        assert "the scan stops" in err, err
        assert "died while running it" in err or "has had no worker" in err, err
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_sources_edited_under_a_running_worker_are_not_what_it_runs(tmp_path: Path) -> None:
    """A worker imports ldsim when a scan first checks it; sources edited on disk after that
    are not the code it runs. Its identity is the one it had then, so the next scan (from
    the edited sources) refuses it, instead of taking the old code's results for the new's
    (the identity used to be read from the files at each check)."""
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "ldsim", copy / "ldsim", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**_child_env(tmp_path), "PYTHONPATH": str(copy)}
    address, procs = _own_cluster(tmp_path, worker_env=env)
    (tmp_path / "empty").mkdir()
    argv = [sys.executable, "-m", "ldsim", "scan", "--scheduler", address, str(tmp_path / "empty")]
    try:
        first = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env,
                               check=False)
        assert first.returncode == 0, first.stderr
        with open(copy / "ldsim/records.py", "a") as fh:
            fh.write("\n# edited under a running worker\n")
        again = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env,
                               check=False)
        assert again.returncode == 2 and "run another ldsim" in again.stderr, again.stderr
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_a_worker_of_another_ldsim_that_joins_later_stops_the_scan(tmp_path: Path) -> None:
    """A worker of another ldsim that joins the cluster after the scan checked its workers
    (here: the only one left once the first is killed) stops the scan at its first task,
    in one line, with no file marked (it used to run the rest of the scan)."""
    address, procs = _own_cluster(tmp_path)

    def join_late() -> None:
        procs.append(_second_worker(tmp_path, address, _another_ldsim(tmp_path)))
        procs[1].kill()  # the rest can only go to the late worker

    try:
        assert "runs another ldsim" in _stopped_after_100(address, join_late)
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="needs root and unshare (a worker that does not see the root)")
def test_a_worker_that_does_not_see_the_root_stops_the_scan_in_one_line(
        tmp_path: Path) -> None:
    hidden = tmp_path / "hidden/root"
    (hidden / "usr/bin").mkdir(parents=True)
    shutil.copy("/usr/bin/true", hidden / "usr/bin/true")
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount -t tmpfs none "{hidden.parent}" && exec "$0" "$@"']
    address, procs = _own_cluster(tmp_path, wrap=wrap)
    try:
        status = subprocess.run(
            [sys.executable, "-m", "ldsim", "scan", "--scheduler", address, "--root",
             str(hidden)], capture_output=True, text=True, cwd=REPO, check=False)
        assert status.returncode == 2, status.stderr
        lines = status.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot be opened on" in lines[0], status.stderr
    finally:
        for proc in reversed(procs):
            _stop(proc)
