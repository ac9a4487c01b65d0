"""The result store of ``ldsim scan --db FILE``: SQLite, schema ``ldsim.scan-db/1``.

A store holds one scan: its configuration, every file's result (verdict, objects, findings,
the document), what each result depends on, and the directories the walk listed. A rerun
with the same configuration reads no file whose identity is unchanged and whose result's
dependencies are unchanged: an interrupted scan resumes where it stopped (results are
committed as they arrive), a finished one is checked in a fraction of the time, and a
changed library invalidates exactly the results that looked at it.

Tables (``docs/scan-db.md`` documents them for other programs)::

    meta(key TEXT PRIMARY KEY, value TEXT)       schema, ldsim version, config (JSON), the
                                                 last scan (JSON: PATHs, walk counts, done)
    results(path TEXT PRIMARY KEY, seq INTEGER,  seq: the file's place in the scan's order
            kind TEXT, ident TEXT, status TEXT,  kind: file | snap; ident: dev:ino:size:mtime
            exit_status INTEGER, seconds REAL,   status: starts, does_not_start,
            summary TEXT, doc BLOB, deps TEXT)   fails_at_run_time, unreadable, error;
                                                 summary: JSON (reasons, objects, unresolved,
                                                 findings, leaks); doc: the one-line document,
                                                 zlib-compressed; deps: JSON list of paths
    deps(path TEXT PRIMARY KEY, state TEXT)      each dependency's state when last checked
                                                 (a file: dev:ino:size:mtime; a directory:
                                                 d:dev:ino; nothing there: -)
    dirs(path TEXT PRIMARY KEY, dev INTEGER,     a directory the walk listed, its identity,
         ino INTEGER, mtime_ns INTEGER,          subdirectory names and ELF files (JSON):
         subdirs TEXT, elf TEXT)                 an unchanged one is not listed again

A store made with another configuration (root, loader options, ldsim version) keeps nothing
but its walk records: every file is resolved again.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ldsim.analysis.scan import FileResult
from ldsim.errors import UsageError
from ldsim.scanner.discover import DirRecord

SCHEMA = "ldsim.scan-db/1"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    path TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, ident TEXT,
    status TEXT NOT NULL, exit_status INTEGER NOT NULL, seconds REAL NOT NULL,
    summary TEXT NOT NULL, doc BLOB, deps TEXT);
CREATE TABLE IF NOT EXISTS deps (path TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY, dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, subdirs TEXT NOT NULL, elf TEXT NOT NULL);
"""


def ident_text(ident: tuple[int, int, int, int] | None) -> str | None:
    return None if ident is None else ":".join(map(str, ident))


class Store:
    """An open result store. ``Store(path)`` creates it when missing; a file that is not
    such a store is a :class:`~ldsim.errors.UsageError` naming it."""

    def __init__(self, path: str, *, create: bool = True) -> None:
        self.path = path
        try:
            if not create:
                # read-only use (--report): never create an empty store by mistake
                self.db = sqlite3.connect(f"file:{_uri(path)}?mode=ro", uri=True)
            else:
                self.db = sqlite3.connect(path)
            self.db.execute("PRAGMA journal_mode=WAL") if create else None
            self.db.execute("PRAGMA synchronous=NORMAL") if create else None
            schema = self._schema()
            if schema is None and create:
                self.db.executescript(_TABLES)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA,))
                self.db.commit()
            elif schema != SCHEMA:
                raise UsageError(path, f"not an ldsim scan database (schema {schema!r}, "
                                 f"expected {SCHEMA!r})" if schema else
                                 "not an ldsim scan database")
        except sqlite3.Error as exc:
            raise UsageError(path, f"cannot use it as a scan database: {exc}") from None

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

    def close(self) -> None:
        self.db.close()

    # -- meta ----------------------------------------------------------------------
    def get(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        (key, json.dumps(value, sort_keys=True)))

    def use_config(self, config: dict[str, Any]) -> bool:
        """Make ``config`` the store's; drop every result of another configuration. True
        when the results were kept."""
        if self.get("config") == config:
            return True
        self.db.execute("DELETE FROM results")
        self.db.execute("DELETE FROM deps")
        self.put("config", config)
        self.db.commit()
        return False

    # -- the walk's records --------------------------------------------------------
    def dir_records(self) -> dict[str, DirRecord]:
        return {path: DirRecord((dev, ino, mtime), tuple(json.loads(subdirs)),
                                tuple((n, t) for n, t in json.loads(elf)))
                for path, dev, ino, mtime, subdirs, elf in self.db.execute(
                    "SELECT path, dev, ino, mtime_ns, subdirs, elf FROM dirs")}

    def save_dir_records(self, records: dict[str, DirRecord], *, replace: bool) -> None:
        if replace:
            self.db.execute("DELETE FROM dirs")
        self.db.executemany(
            "INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?, ?, ?)",
            [(path, *r.ident, json.dumps(r.subdirs), json.dumps(r.elf))
             for path, r in records.items()])

    # -- dependencies --------------------------------------------------------------
    def invalidate(self, state: Callable[[str], str]) -> int:
        """Check every dependency's state now (``state(path)``); delete the results that
        depend on one that changed, and record the new states. The number deleted."""
        changed: dict[str, str] = {}
        for path, old in self.db.execute("SELECT path, state FROM deps").fetchall():
            now = state(path)
            if now != old:
                changed[path] = now
        if not changed:
            return 0
        stale = [path for path, deps in self.db.execute("SELECT path, deps FROM results")
                 if deps and not changed.keys().isdisjoint(json.loads(deps))]
        self.db.executemany("DELETE FROM results WHERE path=?", [(p,) for p in stale])
        self.db.executemany("UPDATE deps SET state=? WHERE path=?",
                            [(s, p) for p, s in changed.items()])
        self.db.commit()
        return len(stale)

    # -- results -------------------------------------------------------------------
    def idents(self) -> dict[str, str | None]:
        """Each stored result's file identity, by path."""
        return dict(self.db.execute("SELECT path, ident FROM results"))

    def load(self, path: str, *, doc: bool) -> FileResult:
        row = self.db.execute(
            f"SELECT path, kind, ident, status, seconds, summary, {'doc' if doc else 'NULL'} "
            "FROM results WHERE path=?", (path,)).fetchone()
        return _result(row)

    def add(self, seq: int, r: FileResult) -> None:
        s = {"reasons": list(r.reasons), "objects": r.objects,
             "unresolved": [list(u) for u in r.unresolved],
             "findings": [list(f) for f in r.findings], "leaks": r.leaks}
        deps = None
        if r.deps is not None:
            deps = json.dumps([p for p, _s in r.deps])
            self.db.executemany("INSERT OR REPLACE INTO deps VALUES (?, ?)", r.deps)
        self.db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r.path, seq, r.kind, ident_text(r.ident), r.status, r.exit_status, r.seconds,
             json.dumps(s), None if r.doc is None else zlib.compress(r.doc.encode(), 1),
             deps))

    def renumber(self, seq: int, path: str) -> None:
        self.db.execute("UPDATE results SET seq=? WHERE path=?", (seq, path))

    def keep_only(self, paths: Sequence[str]) -> None:
        """After a whole scan: forget results of files it no longer saw, and the
        dependencies nothing refers to."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS seen (path TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM seen")
        self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", [(p,) for p in paths])
        self.db.execute("DELETE FROM results WHERE path NOT IN (SELECT path FROM seen)")
        used: set[str] = set()
        for (deps,) in self.db.execute("SELECT deps FROM results WHERE deps IS NOT NULL"):
            used.update(json.loads(deps))
        stale = [(p,) for (p,) in self.db.execute("SELECT path FROM deps") if p not in used]
        self.db.executemany("DELETE FROM deps WHERE path=?", stale)

    def results(self, *, doc: bool) -> Iterator[FileResult]:
        """Every stored result in the scan's order."""
        for row in self.db.execute(
                f"SELECT path, kind, ident, status, seconds, summary, {'doc' if doc else 'NULL'}"
                " FROM results ORDER BY seq"):
            yield _result(row)

    def commit(self) -> None:
        self.db.commit()


def _result(row: tuple[Any, ...]) -> FileResult:
    path, kind, ident, status, seconds, summary, doc = row
    s = json.loads(summary)
    return FileResult(
        path, kind, status, tuple(s["reasons"]), s["objects"],
        tuple((n, by) for n, by in s["unresolved"]),
        tuple((a, b, c) for a, b, c in s["findings"]), s["leaks"], seconds,
        None if doc is None else zlib.decompress(doc).decode(),
        None if ident is None else tuple(int(x) for x in ident.split(":")))  # type: ignore[arg-type]


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path)


__all__ = ["SCHEMA", "Store", "ident_text"]
