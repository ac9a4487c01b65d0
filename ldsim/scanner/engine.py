"""``ldsim scan``'s orchestration: walk, reuse what a store still holds, resolve the rest
in chunks (here, in a local process pool, or on a Dask cluster), and hand back every result
in the walk's order, whatever ran where.

Results are yielded as soon as every earlier one is known, so a scan streams; at most a few
chunks per worker are in flight, so the walk never runs far ahead of the work and memory
does not grow with the tree. A result store gets each result as it arrives and commits
twice a second: a scan killed at any point resumes from its last commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ldsim._version import __version__
from ldsim.analysis.scan import FileResult, ScanSummary
from ldsim.errors import LdsimError, UsageError
from ldsim.fs.view import HostDirView, real_path
from ldsim.records import asdict, field, record, replace
from ldsim.scanner import usable_cores
from ldsim.scanner.discover import Filter, Found, Identity, Walk, walk_root
from ldsim.scanner.work import (
    CWD,
    ScanSpec,
    code_identity,
    host_state,
    same_ldsim,
    scan_files,
    scan_snap,
    snap_identity,
    state,
)

if TYPE_CHECKING:  # a scan in one process without a store needs neither (nor sqlite3)
    from concurrent.futures import Future

    from ldsim.scanner.store import Store

COMMIT_EVERY = 0.5  # seconds between commits of the result store
WORKER_NICE = 10  # a pool with a worker for every core runs them at this niceness (_worker_start)
WINDOW_PER_WORKER = 32  # chunks in flight per worker: the walk must not wait for them
FIRST_CHUNK = 8  # files of a pool's first task; each next one twice as many, up to a chunk
WORKER_WAIT = 30  # seconds a Dask scheduler may take to have a worker (again)
CONNECT_WAIT = 10  # seconds to reach a Dask scheduler
HANDSHAKE_WAIT = 5  # seconds more for it to answer


STOPS = ("the scan stops; what it finished is kept with --db, and the same scan run again "
         "resumes from there")
"""What a scan that cannot go on (its workers gone) says after why."""

REUSED_BEHIND = 1024
"""A rescan sends the changed files between reused results in chunks all the same; at most
this many reused results wait (in memory, in order) for a chunk to fill, then it is sent as
it is."""


class _Future(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...

    def done(self) -> bool: ...


Submit = Callable[..., _Future]
Progress = Callable[[int, int, str], None]


@record(slots=True)
class ScanOptions:
    """How to run a scan: ``jobs`` local processes (1: in this process), or a Dask
    ``scheduler`` address; ``chunk`` files per task; a result ``store``; ``rescan_all``
    lists every directory even when a store says it is unchanged; ``dask_logs``: False
    drops the log records of Dask (and of asyncio, under it) from the moment the scan
    reaches its scheduler to the end of the process (a cluster's last words can come as
    the process exits): the scan says itself, in one line, what went wrong."""

    jobs: int = 1
    scheduler: str | None = None
    chunk: int = 0  # 0: chosen from the number of workers
    store: Store | None = None
    rescan_all: bool = False
    progress: Progress | None = None
    dask_logs: bool = True


class _Watched:
    """A Dask future whose result is waited for only while the cluster has workers: with
    none for :data:`WORKER_WAIT` seconds (all killed, a lost network), the scan stops in
    one line instead of waiting forever for workers that may never come back."""

    __slots__ = ("address", "client", "future")

    def __init__(self, future: Any, client: Any, address: str) -> None:
        self.future, self.client, self.address = future, client, address

    def done(self) -> bool:
        return bool(self.future.done())

    def result(self, timeout: float | None = None) -> Any:
        from concurrent.futures import CancelledError

        alone_since: float | None = None
        while True:
            try:
                return self.future.result(timeout=5)
            except TimeoutError:
                pass  # still running: are there workers to run it?
            except (CancelledError, OSError) as exc:  # the scheduler gone, or the way to it
                raise LdsimError("--scheduler", f"the Dask scheduler at {self.address} was "
                                 f"lost ({type(exc).__name__}: {exc}): {STOPS}") from None
            try:
                workers = bool(self.client.nthreads())
            except Exception:  # the scheduler itself is gone: no worker either
                workers = False
            if workers:
                alone_since = None
                continue
            now = time.monotonic()
            alone_since = alone_since or now
            if now - alone_since > WORKER_WAIT:
                raise LdsimError("--scheduler", f"the Dask cluster at {self.address} has "
                                 f"had no worker for {WORKER_WAIT} s: {STOPS}") from None


POOL_LOOK = 0.5
"""Seconds between looks at a local pool's workers while a result is awaited."""


class _Pooled:
    """A local pool's future whose result is waited for only while every worker lives.
    A worker killed while it held the result queue's lock (or had written half a result)
    leaves the pool unable to tell: its peers and its own thread wait on it forever
    (CPython's ProcessPoolExecutor, 3.11), and so would the scan."""

    __slots__ = ("future", "workers")

    def __init__(self, future: Future[Any], workers: Callable[[], list[Any]]) -> None:
        self.future, self.workers = future, workers

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> Any:
        while True:
            try:
                return self.future.result(timeout=POOL_LOOK)
            except TimeoutError:
                if any(p.exitcode not in (None, 0) for p in self.workers()):
                    raise _pool_broken() from None


def _workers_of(pool: Any) -> Callable[[], list[Any]]:
    """The processes of a ``ProcessPoolExecutor`` now (a private name of it: none when it
    changes)."""
    return lambda: list((getattr(pool, "_processes", None) or {}).values())


class _Task:
    """A task being filled, then its future once sent (``submit``)."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: _Future | None = None


@record(slots=True)
class _Done:
    value: Any

    def result(self, timeout: float | None = None) -> Any:
        return self.value

    def done(self) -> bool:
        return True


@record(slots=True)
class Scan:
    """One scan, run by iterating it: every :class:`FileResult` in order; then
    :attr:`summary` holds the counts and :attr:`walk` what the walk saw."""

    spec: ScanSpec
    tops: Sequence[str] = ()
    snaps: Sequence[str] = ()
    filt: Filter = field(default_factory=Filter)
    options: ScanOptions = field(default_factory=ScanOptions)
    summary: ScanSummary = field(default_factory=ScanSummary)
    walk: Walk = field(default_factory=Walk)
    kept: bool = True  # whether the store's earlier results were kept (same configuration)

    def config(self) -> dict[str, Any]:
        """What a stored result depends on besides the files: the configuration."""
        env = asdict(self.spec.env)
        cpu = env.pop("cpuinfo", None) or ""
        # what the model reads of the CPU, not the clock speed /proc/cpuinfo also shows
        steady = "\n".join(line for line in cpu.splitlines()
                           if not line.lower().startswith(("cpu mhz", "bogomips")))
        import hashlib

        env["cpuinfo"] = hashlib.sha256(steady.encode()).hexdigest()[:16]
        env["invocation"] = str(env["invocation"])
        if not self.snaps:  # a file result depends on it only if it used it (work.CWD);
            del env["cwd"]  # a snap's records no such dependency
        return {"ldsim": __version__, "root": real_path(self.spec.root),
                "root_name": self.spec.root_name,
                "host": self.spec.host, "base_dir": self.spec.base_dir,
                "loader": self.spec.loader.value if self.spec.loader else None,
                "symbols": self.spec.symbols, "dlopen": self.spec.dlopen,
                "env": json.loads(json.dumps(env, default=str))}

    def __iter__(self) -> Iterator[FileResult]:
        store = self.options.store
        try:
            yield from self._scan()
        except Exception as exc:
            # the database failing under the scan (another program holding its lock too
            # long, a full disk): what was committed is kept, as when a scan is killed
            if store is not None and _raised(exc, "sqlite3", "OperationalError"):
                raise UsageError(store.path, f"the scan database failed during the scan "
                                 f"({exc}): {STOPS}") from None
            if store is not None and _raised(exc, "sqlite3", "Error"):  # it is damaged
                raise UsageError(store.path, f"the scan database cannot be used ({exc}): "
                                 "the scan stops; remove it, or give another --db") from None
            raise

    def _scan(self) -> Iterator[FileResult]:
        opts = self.options
        store = opts.store
        wanted = self.spec.docs  # the documents the caller asked for
        # with a store, results are made with their documents, which it keeps
        self.spec = replace(self.spec, run=os.urandom(16).hex(), docs=self.spec.docs or bool(store),
                            deps=bool(store))
        try:
            # the workers first: a scan that cannot start them leaves the store as it was
            with _executor(opts) as (submit, workers):
                stored, prior = self._prepare(store) if store is not None else ({}, None)
                self.walk.keep_records = store is not None
                chunk = opts.chunk or 64
                yield from self._run(submit, workers, chunk, stored, prior, wanted)
        finally:
            if store is not None:  # interrupted or not, what arrived is kept
                try:
                    store.commit()
                finally:
                    store.close()

    def _prepare(self, store: Store) -> tuple[dict[str, str | None], Any]:
        """The store made ready for this scan: its results of another configuration
        dropped, those whose dependencies changed deleted; (the identities of the results
        it keeps, the directory records the walk may trust)."""
        prior = None
        self.kept = store.use_config(self.config())
        if not self.snaps:
            view = HostDirView(self.spec.root)
            cwd = self.spec.env.cwd
            invalid = store.invalidate(lambda p: cwd if p == CWD else state(view, p))
            self.summary.invalidated = invalid
            if not self.options.rescan_all:
                prior = store.dir_records()
        else:  # a snap's dependencies are host paths (see work.scan_snap)
            self.summary.invalidated = store.invalidate(host_state)
        stored = store.idents()
        store.put("last_scan", {"paths": list(self.tops or self.snaps),
                                "snaps": bool(self.snaps), "done": False,
                                "root": self.spec.root_name or self.spec.root})
        store.commit()
        return stored, prior

    def _units(self, prior: Any) -> Iterator[tuple[str, Found | None]]:
        if self.snaps:
            for snap in self.snaps:
                yield snap, None
            return
        view = HostDirView(self.spec.root)
        for found in walk_root(view, self.tops, filt=self.filt, prior=prior, walk=self.walk):
            yield found.path, found

    def _run(self, submit: Submit, workers: int, chunk: int, stored: dict[str, str | None],
             prior: Any, wanted: bool) -> Iterator[FileResult]:
        opts = self.options
        store = opts.store
        summary = self.summary
        # each slot, in the walk's order: (path, Found or None, a reused result or None, the
        # task that resolves it, index in that task's chunk)
        slots: deque[tuple[str, Found | None, FileResult | None, _Task | None, int]] = deque()
        # the files (or snaps) of the task not sent yet, each with its task and identity
        pending: list[tuple[str, _Task, Identity | None]] = []
        task = _Task()  # the chunk of files that pending fills
        behind = 0  # reused results waiting in slots behind that chunk
        in_flight: deque[_Future] = deque()
        seq = 0
        seen: list[str] = []
        last_commit = time.monotonic()
        window = max(2, workers * WINDOW_PER_WORKER)
        # the first tasks are small, so that the workers start while the walk goes on: 8
        # files, then 16, 32, ... up to ``chunk`` (one process: every task is ``chunk``)
        size = min(chunk, FIRST_CHUNK) if workers > 1 else chunk

        def flush() -> None:
            nonlocal task, behind, size
            if not pending:
                return
            size = min(chunk, size * 2)
            if self.snaps:  # one task per snap
                for path, each, _ident in pending:
                    each.future = submit(scan_snap, self.spec, path)
                    in_flight.append(each.future)
            else:
                task.future = submit(scan_files, self.spec, [p for p, _t, _i in pending],
                                     [i for _p, _t, i in pending])
                in_flight.append(task.future)
                task = _Task()
            pending.clear()
            behind = 0

        def ready(block: bool) -> Iterator[FileResult]:
            nonlocal seq, last_commit
            while slots:
                path, found, reused, holder, index = slots[0]
                if reused is None:
                    assert holder is not None
                    fut = holder.future
                    assert fut is not None or not block  # everything is sent before blocking
                    if fut is None or (not block and not fut.done()):
                        return
                    try:
                        value = fut.result()
                        r: FileResult = value[index] if index >= 0 else value
                    except (LdsimError, KeyboardInterrupt):  # the scan's, not a file's
                        raise
                    except Exception as exc:  # a worker killed (out of memory), a lost node
                        if _broken_pool(exc):
                            raise _pool_broken() from None
                        if _raised(exc, "distributed.scheduler", "KilledWorker"):
                            raise _killed_worker(exc) from None
                        r = FileResult(path, "snap" if self.snaps else "file", "error",
                                       (f"its worker failed: {type(exc).__name__}: {exc}",))
                    if found is not None and r.ident != found.ident:  # a worker's failure
                        r = replace(r, ident=found.ident)
                    if store is not None:
                        store.add(seq, r)
                else:
                    r = reused
                    if store is not None:
                        store.renumber(seq, path)
                    summary.reused += 1
                slots.popleft()
                seq += 1
                seen.append(path)
                summary.add(r)
                if opts.progress is not None:
                    opts.progress(seq, seq + len(slots), path)
                if store is not None and time.monotonic() - last_commit > COMMIT_EVERY:
                    store.commit()
                    last_commit = time.monotonic()
                yield r

        for path, found in self._units(prior):
            known = stored.get(path)
            if store is not None and known is not None and known == self._ident_now(path, found):
                # a reused result's document is read only when asked for
                slots.append((path, found, store.load(path, doc=wanted), None, -1))
                if pending:  # the changed files around it still go in one task, unless
                    behind += 1  # too many results wait for it
                    if behind >= REUSED_BEHIND:
                        flush()
            else:
                each = _Task() if self.snaps else task
                slots.append((path, found, None, each, -1 if self.snaps else len(pending)))
                pending.append((path, each, found.ident if found is not None else None))
                if len(pending) >= size or self.snaps:
                    flush()
            yield from ready(block=False)
            while in_flight and in_flight[0].done():
                in_flight.popleft()
            while len(in_flight) >= window:  # the walk waits for the work
                _wait(in_flight.popleft())
                yield from ready(block=False)
        flush()
        yield from ready(block=True)
        summary.looked_at = self.walk.files
        summary.other_elf = self.walk.other_elf
        summary.excluded = self.walk.excluded
        summary.walk_problems = list(self.walk.problems)
        if store is not None:
            if not self.snaps:
                store.save_dir_records(self.walk.records, replace=not self.tops_partial())
            store.keep_only(seen)
            store.put("last_scan", {"paths": list(self.tops or self.snaps), "snaps":
                                    bool(self.snaps), "done": True,
                                    "walk": summary_walk(summary),
                                    "root": self.spec.root_name or self.spec.root})
            store.commit()

    def _ident_now(self, path: str, found: Found | None) -> str | None:
        """The identity a stored result of ``path`` must have to be reused: the walk's of
        a file; a snap's as it is now (its dependencies were checked before the scan)."""
        from ldsim.scanner.store import ident_text

        if found is not None:
            return ident_text(found.ident)
        ident = snap_identity(path) if self.snaps else None
        return None if ident is None else ident_text(ident)

    def tops_partial(self) -> bool:
        return bool(self.filt.include or self.filt.exclude)


def _wait(future: _Future) -> None:
    """Until ``future`` is done. What its task raised is not raised here: its results'
    turn comes in order (``ready``), which says what it means for the scan (a killed local
    worker, Dask's KilledWorker). What stops the scan itself (a cluster gone) is."""
    try:
        future.result()
    except (LdsimError, KeyboardInterrupt):
        raise
    except Exception:
        return


def summary_walk(s: ScanSummary) -> dict[str, Any]:
    return {"looked_at": s.looked_at, "other_elf": s.other_elf, "excluded": s.excluded,
            "problems": [list(p) for p in s.walk_problems]}


class StoredScan:
    """The last scan a result store holds, read back without scanning anything."""

    def __init__(self, store: Store) -> None:
        self.store = store
        last = store.get("last_scan")
        if not isinstance(last, dict):
            raise UsageError(store.path, "holds no scan yet")
        paths = last.get("paths")
        self.paths: list[str] = [str(p) for p in paths] if isinstance(paths, list) else []
        self.snaps = bool(last.get("snaps"))
        self.done = bool(last.get("done"))
        root = last.get("root")
        self.root: str | None = root if isinstance(root, str) else None  # as given
        walk = last.get("walk")
        self._walk: dict[str, Any] = walk if isinstance(walk, dict) else {}

    def results(self, *, documents: bool = False) -> Iterator[FileResult]:
        """Every stored result, in the scan's order."""
        return self.store.results(doc=documents)

    @property
    def summary(self) -> ScanSummary:
        s = ScanSummary()
        s.extend(self.results())
        walk = self._walk
        try:
            s.looked_at = int(walk.get("looked_at", 0))
            s.other_elf = int(walk.get("other_elf", 0))
            s.excluded = int(walk.get("excluded", 0))
            s.walk_problems = [(str(p), str(e)) for p, e in walk.get("problems", [])]
        except (TypeError, ValueError, OverflowError):  # (int of an infinity)
            raise UsageError(self.store.path, "a scan database whose records cannot be read "
                             "(made by another program?)") from None
        return s


def _worker_start(nice: int, parent: int, inherited: tuple[int, ...]) -> None:
    """In a pool's worker: Ctrl-C is the parent's to handle (it stops the pool); ``nice``:
    a lower priority than the parent's. The worker dies with its parent (``parent``, the
    scan's process: killed, it would otherwise leave its workers waiting forever), and
    closes the descriptors it ``inherited`` from it (the result store's lock: a store whose
    scan was killed must be free for the scan that resumes it)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        # Linux's prctl(PR_SET_PDEATHSIG, SIGKILL): killed when the parent dies
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(0)
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)


def _abandon(client: Any) -> None:
    """Let go of a Dask client whose connection failed, at once. Its ``__del__`` would
    close it: wait twice its timeout (20 s) for a scheduler that is not there, then print
    a traceback ("Exception ignored in Client.__del__") when that runs out."""
    client.status = "closed"  # what Client.close takes for nothing left to do
    with contextlib.suppress(Exception):  # its event loop's thread (a private name)
        client._loop_runner.stop()


def _connect_error(exc: Exception) -> str:
    """Why Dask's client could not connect, in words. A peer that is no Dask scheduler (a
    web server, a proxy that accepts every connection) sends bytes that Dask reads as the
    length of a message: a MemoryError or an OverflowError, which say nothing."""
    if isinstance(exc, (MemoryError, OverflowError)) or not str(exc):
        return (f"what answers there does not speak Dask's protocol ({type(exc).__name__} "
                "while reading its reply): is it the scheduler's address, not a web "
                "server's or a proxy's?")
    return str(exc)


def _raised(exc: BaseException, module: str, name: str) -> bool:
    """Whether ``exc`` is the exception class ``name`` of ``module``, when that module is
    loaded at all (only a pool imports ``concurrent.futures.process``, 18 ms that a scan in
    one process does not pay; only a scan on a cluster imports ``distributed``)."""
    import sys

    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def _broken_pool(exc: BaseException) -> bool:
    """Whether ``exc`` says a local pool lost a worker."""
    return _raised(exc, "concurrent.futures.process", "BrokenProcessPool")


def _pool_broken() -> LdsimError:
    """A local worker died (killed, out of memory): the pool cannot go on, nor the scan."""
    return LdsimError("--jobs", "a worker process of this scan died (killed, or out of "
                      f"memory?): {STOPS}")


DASK_LOGGERS = ("distributed", "asyncio", "tornado")
"""Whose records ``ScanOptions(dask_logs=False)`` drops: Dask's, and those of the event
loop under it ("Task exception was never retrieved")."""


def _drop_logs(names: Sequence[str]) -> None:
    """The records of the loggers ``names`` and of every logger under them go nowhere:
    the handlers they have are removed (Dask gives ``distributed``, ``distributed.client``
    and others a stderr one each when imported), the top ones get a handler that keeps
    nothing and pass nothing up (where Python's last-resort handler would print)."""
    import logging

    prefixes = tuple(f"{name}." for name in names)
    under = [n for n in list(logging.root.manager.loggerDict)
             if n in names or n.startswith(prefixes)]
    for name in {*names, *under}:
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
        if name in names:
            log.addHandler(logging.NullHandler())
            log.propagate = False
        else:
            log.propagate = True  # up to the top one, which keeps nothing


def _killed_worker(exc: BaseException) -> LdsimError:
    """A task of the scan was on Dask workers that died as often as the scheduler allows
    (``distributed.scheduler.allowed-failures``, 3 by default): the cluster goes on, but
    the scan stops, as it does when a local worker dies, rather than call its files
    ldsim's errors."""
    return LdsimError("--scheduler", "the Dask workers that ran a task of this scan died "
                      f"while running it ({type(exc).__name__}: killed, or out of memory?): "
                      f"{STOPS}")


class _executor:
    """A context giving ``(submit, workers)``: in this process, a local process pool, or a
    Dask cluster's client. Leaving it stops the pool or closes the client."""

    def __init__(self, opts: ScanOptions) -> None:
        self.opts = opts
        self._close: Callable[[bool], None] = lambda failed: None

    def __enter__(self) -> tuple[Submit, int]:
        opts = self.opts
        if opts.scheduler:
            return self._dask(opts.scheduler)
        if opts.jobs <= 1:
            return (lambda fn, *args: _Done(fn(*args))), 1
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # The walk that feeds the workers runs here, and it is what a local scan waits for
        # (the workers resolve faster than one process finds the files): when the workers
        # alone fill every core, they give it way.
        nice = WORKER_NICE if opts.jobs >= usable_cores() else 0
        inherited = (opts.store.lock_fd,) if opts.store and opts.store.lock_fd is not None \
            else ()
        pool = ProcessPoolExecutor(opts.jobs, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_worker_start,
                                   initargs=(nice, os.getpid(), inherited))
        workers = _workers_of(pool)

        def close(failed: bool) -> None:
            # a scan that stops early (Ctrl-C, an error, a caller that stops reading) needs
            # nothing more from its workers, and one that died may have held the result
            # queue's lock, or left half a result in its pipe, and its peers and the pool's
            # own thread would wait forever. They all go, and this process's end of the
            # pipe's writing side too: the pool's thread then reads the end of it, and
            # stops (private names again). A second Ctrl-C meanwhile is ignored: stopping
            # the pool halfway left its workers waiting on it, and the process on them.
            with _ctrl_c_ignored():
                if failed or any(p.exitcode not in (None, 0) for p in workers()):
                    for p in workers():
                        with contextlib.suppress(Exception):
                            p.kill()
                    with contextlib.suppress(Exception):
                        pool._result_queue._writer.close()  # type: ignore[attr-defined]
                pool.shutdown(wait=True, cancel_futures=True)

        self._close = close
        pool.submit(int)  # the workers start now, ready when the walk finds the first files

        def submit(fn: Callable[..., Any], *args: Any) -> _Pooled:
            try:
                return _Pooled(pool.submit(fn, *args), workers)
            except Exception as exc:
                if _broken_pool(exc):
                    raise _pool_broken() from None
                raise

        return submit, opts.jobs

    def _dask(self, address: str) -> tuple[Submit, int]:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler", "needs Dask's distributed scheduler: pip install "
                             "'ldsim[dask]'") from None
        import threading

        if not self.opts.dask_logs:
            _drop_logs(DASK_LOGGERS)

        made: dict[str, Any] = {}

        def connect() -> None:
            # made before it connects, so that one whose connection failed can be let go
            client = made["partial"] = Client.__new__(Client)
            try:
                client.__init__(address, timeout=CONNECT_WAIT,  # type: ignore[misc]
                                set_as_default=False)
                made["client"] = client
            except BaseException as exc:  # handed to the main thread
                made["error"] = exc

        # Client's timeout covers the connection, not the handshake: something that accepts
        # the connection and says nothing (a dashboard's port) would hold it forever
        thread = threading.Thread(target=connect, name="ldsim-dask-connect", daemon=True)
        thread.start()
        thread.join(CONNECT_WAIT + HANDSHAKE_WAIT)
        if thread.is_alive():
            raise UsageError("--scheduler", f"nothing at {address} answers as a Dask scheduler "
                             f"(waited {CONNECT_WAIT + HANDSHAKE_WAIT} s): is it the "
                             "scheduler's address (not its dashboard's)?")
        error = made.get("error")
        if isinstance(error, KeyboardInterrupt):
            raise error
        if isinstance(error, Exception):  # refused, timed out, or no scheduler's answer
            _abandon(made["partial"])
            raise UsageError("--scheduler", f"cannot reach the Dask scheduler at {address}: "
                             f"{_connect_error(error)}") from None
        if error is not None:
            raise error
        client = made["client"]
        self._close = lambda failed: client.close()
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except (OSError, TimeoutError):
            client.close()
            raise UsageError("--scheduler", f"the Dask scheduler at {address} has no worker "
                             f"(waited {WORKER_WAIT} s): start some with `dask worker "
                             f"{address}`") from None
        mine = code_identity()
        try:
            theirs = client.run(code_identity)
        except Exception as exc:
            client.close()
            raise UsageError("--scheduler", f"the workers of the Dask cluster at {address} "
                             f"cannot run ldsim: {type(exc).__name__}: {exc}") from None
        other = {str(w): str(v) for w, v in theirs.items() if v != mine}
        if other:
            client.close()
            worker, theirs_one = next(iter(other.items()))
            raise UsageError("--scheduler", f"{len(other)} of the {len(theirs)} workers of the "
                             f"Dask cluster at {address} run another ldsim ({worker}: "
                             f"{theirs_one}; this one: {mine}): their results would not be "
                             "this ldsim's; give them the same ldsim")
        threads = sum(client.nthreads().values()) or 1

        def submit(fn: Callable[..., Any], *args: Any) -> Any:
            # a worker that joins later is checked by its first task; the dashboard groups
            # tasks by their name up to the token: "ldsim.scan_files", not "same_ldsim"
            key = f"ldsim.{fn.__name__}-{os.urandom(16).hex()}"
            return _Watched(client.submit(same_ldsim, mine, fn, *args, key=key), client,
                            address)

        return submit, threads

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._close(kind is not None)


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """SIGINT ignored for a moment (in the main thread only: elsewhere, signals are not
    this code's to set), then as it was."""
    import signal

    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


__all__ = ["Scan", "ScanOptions", "StoredScan"]
