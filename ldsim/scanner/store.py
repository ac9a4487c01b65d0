"""The result store of ``ldsim scan --db FILE``: SQLite, schema ``ldsim.scan-db/1``.

A store holds one scan: its configuration, every file's result (verdict, objects, findings,
the document), what each result depends on, and the directories the walk listed. A rerun
with the same configuration reads no file whose identity is unchanged and whose result's
dependencies are unchanged: an interrupted scan resumes where it stopped (results are
committed as they arrive), a finished one is checked in a fraction of the time, and a
changed library invalidates exactly the results that looked at it.

Tables (``docs/scan-db.md`` documents them for other programs; paths are stored as bytes,
``os.fsencode``, since a file name need not be UTF-8)::

    meta(key TEXT PRIMARY KEY, value TEXT)       schema, ldsim version, config (JSON), the
                                                 last scan (JSON: PATHs, walk counts, done)
    results(path BLOB PRIMARY KEY, seq INTEGER,  path: os.fsencode of the path (any bytes)
            kind TEXT, ident TEXT, status TEXT,  kind: file | snap; ident: dev:ino:size:mtime:
                                                 ctime (NULL: never reused)
            exit_status INTEGER, seconds REAL,   status: starts, does_not_start,
            summary TEXT, doc BLOB, deps TEXT)   fails_at_run_time, unreadable, error;
                                                 summary: JSON (reasons, objects, unresolved,
                                                 findings, leaks); doc: the one-line document,
                                                 zlib-compressed; deps: JSON list of
                                                 [path, state] as the resolution saw them
                                                 (a file: dev:ino:size:mtime:ctime:mode:uid:gid;
                                                 a directory: d:dev:ino; nothing there: -;
                                                 a snap's: host paths, DIR/. a listing)
    dirs(path BLOB PRIMARY KEY, dev INTEGER,     a directory the walk listed, its identity,
         ino INTEGER, mtime_ns INTEGER,          subdirectory names and ELF files (JSON),
         ctime_ns INTEGER, subdirs TEXT,         how many regular files it holds: an
         elf TEXT, files INTEGER)                unchanged one is not listed again

A store made with another configuration (root, loader options, ldsim version) keeps nothing
but its walk records: every file is resolved again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

from ldsim.analysis.scan import FileResult
from ldsim.errors import UsageError
from ldsim.scanner.discover import WALK_RULES, DirRecord

SCHEMA = "ldsim.scan-db/1"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    path BLOB PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, ident TEXT,
    status TEXT NOT NULL, exit_status INTEGER NOT NULL, seconds REAL NOT NULL,
    summary TEXT NOT NULL, doc BLOB, deps TEXT);
CREATE TABLE IF NOT EXISTS dirs (
    path BLOB PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, subdirs TEXT NOT NULL,
    elf TEXT NOT NULL, files INTEGER);
"""


def ident_text(ident: tuple[int, ...] | None) -> str | None:
    return None if ident is None else ":".join(map(str, ident))


BUSY_WAIT = 10.0
"""Seconds a write waits for another connection's lock on the database (another program
reading it in a transaction) before it fails."""


class Store:
    """An open result store. ``Store(path)`` creates it when missing; a file that is not
    such a store is a :class:`~ldsim.errors.UsageError` naming it."""

    def __init__(self, path: str, *, create: bool = True) -> None:
        self.path = path
        if os.path.exists(path) and not os.path.isfile(path):
            # a directory, a device (/dev/null): SQLite would put its journal beside it
            raise UsageError(path, "not a regular file: a scan database is one (a new one "
                             "is made where none is)")
        # read-only use (--report) never creates an empty store by mistake
        uri = f"file:{quote(os.fsencode(path))}" + ("" if create else "?mode=ro")
        try:
            self.db = sqlite3.connect(uri, uri=True, timeout=BUSY_WAIT)
        except sqlite3.Error as exc:
            raise UsageError(path, f"cannot use it as a scan database: {exc}") from None
        self._lock: int | None = None
        # a damaged or crafted store's text that is no UTF-8 is read as a record that cannot
        # be parsed (then redone or refused), not as an error of SQLite's
        self.db.text_factory = _text_of
        try:
            self.db.execute("PRAGMA trusted_schema=OFF")
            schema = self._schema()
            if schema is None and create:
                self.db.executescript(_TABLES)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA,))
                self.db.commit()
            elif schema != SCHEMA:
                raise UsageError(path, f"not an ldsim scan database (schema {schema!r}, "
                                 f"expected {SCHEMA!r})" if schema else
                                 "not an ldsim scan database")
            if create:  # only a store of ours: another program's SQLite file is not touched
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                columns = {row[1] for row in self.db.execute("PRAGMA table_info(dirs)")}
                if "files" not in columns:  # a store made before dirs.files: its records
                    self.db.execute("ALTER TABLE dirs ADD COLUMN files INTEGER")  # are unused
        except sqlite3.Error as exc:
            self.db.close()
            raise UsageError(path, f"cannot use it as a scan database: {exc}") from None
        except UsageError:
            self.db.close()
            raise
        if create:
            self._take_lock()

    def _schema(self) -> str | None:
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            if "no such table" in str(exc):
                empty = self.db.execute(
                    "SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
                return None if empty else ""
            raise
        return str(row[0]) if row else ""

    def _take_lock(self) -> None:
        """One writing scan per store: an exclusive ``flock`` on the file for as long as it
        is open (SQLite's own locks are byte ranges of ``fcntl``, which ``flock`` does not
        touch). A second scan says so at once, instead of interleaving its results."""
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.db.close()
            raise UsageError(self.path, f"cannot lock it: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            self.db.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UsageError(self.path, "another ldsim scan is writing this database; "
                                 "wait for it to finish, or give this scan another --db"
                                 ) from None
            raise UsageError(self.path, f"cannot lock it: {exc.strerror}") from None
        self._lock = fd

    @property
    def lock_fd(self) -> int | None:
        """The descriptor that holds the store's lock (None: a reader's store)."""
        return self._lock

    def close(self) -> None:
        if self._lock is not None:  # the writer: left as a plain database file, which a
            with contextlib.suppress(sqlite3.Error):  # reader who may not write can open
                self.db.execute("PRAGMA journal_mode=DELETE")  # (no -wal, -shm to make)
        self.db.close()
        if self._lock is not None:
            os.close(self._lock)  # and with it the lock
            self._lock = None

    # -- meta ----------------------------------------------------------------------
    def get(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return _json(self.path, row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        (key, json.dumps(value, sort_keys=True)))

    def use_config(self, config: dict[str, Any]) -> bool:
        """Make ``config`` the store's; drop every result of another configuration. True
        when the results were kept."""
        if self.get("config") == config:
            return True
        self.db.execute("DELETE FROM results")
        self.put("config", config)
        self.db.commit()
        return False

    # -- the walk's records --------------------------------------------------------
    def dir_records(self) -> dict[str, DirRecord]:
        """The walk's records; one whose names are not plain directory entries (a store
        made by hand) is left out, so the walk lists that directory itself. Records made
        under other rules of what is an ELF file (an older ldsim's) are none: each
        directory is listed again."""
        out: dict[str, DirRecord] = {}
        if self.get("walk_rules") != WALK_RULES:
            return out
        for path, dev, ino, mtime, ctime, subdirs, elf, count in self.db.execute(
                "SELECT path, dev, ino, mtime_ns, ctime_ns, subdirs, elf, files FROM dirs"):
            try:
                subs = tuple(str(n) for n in _json(self.path, subdirs))
                files = tuple((str(n), int(t)) for n, t in _json(self.path, elf))
                ident = (int(dev), int(ino), int(mtime), int(ctime))
                regular = int(count)  # None (an older store's record): listed again
            except (UsageError, TypeError, ValueError, OverflowError):
                continue
            if all(_entry_name(n) for n in subs) and all(_entry_name(n) for n, _t in files):
                out[_text(path)] = DirRecord(ident, subs, files, regular)
        return out

    def save_dir_records(self, records: dict[str, DirRecord], *, replace: bool) -> None:
        if replace or self.get("walk_rules") != WALK_RULES:  # (no record of other rules kept)
            self.db.execute("DELETE FROM dirs")
        self.put("walk_rules", WALK_RULES)
        self.db.executemany(
            "INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(os.fsencode(path), *r.ident, json.dumps(r.subdirs), json.dumps(r.elf), r.files)
             for path, r in records.items()])

    # -- dependencies --------------------------------------------------------------
    def invalidate(self, state: Callable[[str], str]) -> int:
        """Check every result's dependencies against their state now (``state(path)``, asked
        once per path); delete the results one of whose dependencies changed, or whose
        record cannot be read. The number deleted."""
        now: dict[str, str] = {}
        stale: list[int] = []
        for key, deps in self.db.execute("SELECT rowid, deps FROM results"):
            try:
                pairs = _json(self.path, deps) if deps else []
                changed = False
                for dep, seen in pairs:
                    current = now.get(dep)
                    if current is None:
                        current = now[dep] = state(str(dep))
                    if current != seen:
                        changed = True
                        break
            except (UsageError, TypeError, ValueError, OverflowError):
                changed = True
            if changed:
                stale.append(key)
        self.db.executemany("DELETE FROM results WHERE rowid=?", [(k,) for k in stale])
        self.db.commit()
        return len(stale)

    # -- results -------------------------------------------------------------------
    def idents(self) -> dict[str, str | None]:
        """Each stored result's file identity, by path (a path this store never writes, as
        text rather than bytes, names nothing a scan reuses; the scan's end drops it)."""
        return {_text(p): i for p, i in self.db.execute(
            "SELECT path, ident FROM results WHERE typeof(path) = 'blob'")}

    def load(self, path: str, *, doc: bool) -> FileResult:
        row = self.db.execute(
            f"SELECT path, kind, ident, status, seconds, summary, {'doc' if doc else 'NULL'} "
            "FROM results WHERE path=?", (os.fsencode(path),)).fetchone()
        return self._result(row)  # (None: gone since idents(), another program's change)

    def add(self, seq: int, r: FileResult) -> None:
        s = {"reasons": list(r.reasons), "objects": r.objects,
             "unresolved": [list(u) for u in r.unresolved],
             "findings": [list(f) for f in r.findings], "leaks": r.leaks}
        # a result with no dependencies recorded (a bug, a root a worker could not open, a
        # snap that could not be read) is kept for --report but never reused: no identity
        ident = ident_text(r.ident) if r.deps is not None else None
        deps = None if r.deps is None else json.dumps([list(d) for d in r.deps])
        self.db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (os.fsencode(r.path), seq, r.kind, ident, r.status, r.exit_status, r.seconds,
             json.dumps(s), None if r.doc is None else zlib.compress(r.doc.encode(), 1),
             deps))

    def renumber(self, seq: int, path: str) -> None:
        self.db.execute("UPDATE results SET seq=? WHERE path=?", (seq, os.fsencode(path)))

    def keep_only(self, paths: Sequence[str]) -> None:
        """After a whole scan: forget results of files it no longer saw."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (path BLOB PRIMARY KEY)")
        self.db.execute("DELETE FROM seen")
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?)",
                            [(os.fsencode(p),) for p in paths])
        self.db.execute("DELETE FROM results WHERE path NOT IN (SELECT path FROM seen)")

    def results(self, *, doc: bool) -> Iterator[FileResult]:
        """Every stored result in the scan's order."""
        for row in self.db.execute(
                f"SELECT path, kind, ident, status, seconds, summary, {'doc' if doc else 'NULL'}"
                " FROM results ORDER BY seq"):
            yield self._result(row)

    def commit(self) -> None:
        self.db.commit()

    def _result(self, row: tuple[Any, ...] | None) -> FileResult:
        try:
            path, kind, ident, status, seconds, summary, doc = row  # type: ignore[misc]
            s = _json(self.path, summary)
            return FileResult(
                _text(path), str(kind), str(status), tuple(map(str, s["reasons"])),
                int(s["objects"]), tuple((str(n), by if by is None else str(by))
                                         for n, by in s["unresolved"]),
                tuple((str(a), str(b), str(c)) for a, b, c in s["findings"]), int(s["leaks"]),
                float(seconds), None if doc is None else _doc(self.path, doc),
                None if ident is None else tuple(int(x) for x in str(ident).split(":")))
        except (KeyError, TypeError, ValueError, OverflowError):  # (int of an infinity)
            raise UsageError(self.path, "a scan database whose records cannot be read (made "
                             "by another program?)") from None


MAX_DOC = 64 << 20  # bytes of one stored document, decompressed


def _text_of(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _text(key: Any) -> str:
    return os.fsdecode(key) if isinstance(key, bytes) else str(key)


def _entry_name(name: str) -> bool:
    """A name a directory listing can give (no path, no NUL)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def _json(path: str, text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise UsageError(path, "a scan database whose records cannot be read (made by "
                         "another program?)") from None


def _doc(path: str, blob: Any) -> str:
    """A stored document, decompressed within :data:`MAX_DOC` and written again by this
    process (a crafted store cannot put raw control bytes on standard output)."""
    try:
        d = zlib.decompressobj()
        raw = d.decompress(blob, MAX_DOC)
        if d.unconsumed_tail:
            raise UsageError(path, f"a stored document larger than {MAX_DOC} bytes")
        return json.dumps(json.loads(raw.decode()), separators=(",", ":"))
    except (zlib.error, TypeError, ValueError, RecursionError):
        raise UsageError(path, "a stored document cannot be read (a scan database made by "
                         "another program?)") from None


__all__ = ["SCHEMA", "Store", "ident_text"]
