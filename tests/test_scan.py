"""``ldsim scan``: every file's document is ``ldsim explain --json``'s, the summary and the
exit status follow the files, a result store reuses exactly what is unchanged, and a killed
scan resumes to the same results.

The small root is a real one (this machine's loader and libc, programs and libraries built
with gcc, a cache made by ``ldconfig``); the host tests scan this machine's ``/usr``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from glibcroot import Root, ctrl_c_default

import ldsim
from ldsim.cli.main import main
from ldsim.renderers.schema import load_schema

REPO = Path(__file__).resolve().parent.parent


def cli(*argv: str) -> tuple[int, str, str]:
    """``ldsim ARGV`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse's usage errors
            status = int(exc.code or 0)
    return status, out.getvalue(), err.getvalue()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def explain_doc(*argv: str) -> dict[str, Any] | None:
    status, out, _err = cli("explain", "--json", *argv)
    return json.loads(out) if status in (0, 1) else None


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests change files and rescan at once: a dependency changed in the last two
    seconds is recorded as racy (never reused, see test_a_file_changed_just_before_it_was_
    looked_at_is_looked_at_again), which the other tests set aside."""
    monkeypatch.setattr("ldsim.scanner.work.RACY_NS", 0)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Root:
    if shutil.which("gcc") is None or shutil.which("ldconfig") is None:
        pytest.skip("needs gcc and ldconfig")
    r = Root(tmp_path_factory.mktemp("scan") / "root")
    lib = r.libdir
    r.mklib(f"{lib}/libA.so.1", "libA.so.1")
    r.mklib(f"{lib}/libB.so.1", "libB.so.1", link=[f"{lib}/libA.so.1"])
    r.mkexe("/usr/bin/ok", link=[f"{lib}/libB.so.1"])
    r.mkexe("/usr/bin/alone")
    r.mkexe("/usr/bin/rp", link=[f"{lib}/libA.so.1"], rpath="/opt/rp")
    r.mkexe("/usr/bin/missing", needed=["libnothere.so.1"])
    r.mkexe("/usr/sbin/missing2", needed=["libnothere.so.1", "libgone.so.2"])
    r.head("/usr/bin/ok", "/usr/bin/broken", 200)  # ELF magic, the rest cut off
    r.write("/usr/bin/script", "#!/bin/sh\necho hi\n", 0o755)
    r.symlink("/usr/bin/ok-link", "ok")
    r.compile("/usr/lib/plugin.o", "int f(void){return 1;}\n", "-c")
    r.ldconfig()
    return r


def test_every_line_is_explain_json_of_its_file(root: Root) -> None:
    status, out, err = cli("scan", "--format", "jsonl", "--jobs", "1", "--root", str(root.path))
    docs = lines(out)
    summary = docs.pop()
    assert summary["schema"] == "ldsim.scan-summary/1"
    paths = [d["executable"] for d in docs]
    assert "/usr/bin/ok" in paths and "/usr/sbin/missing2" in paths
    assert f"{root.libdir}/libA.so.1" in paths
    assert "/usr/bin/ok-link" not in paths  # links are not followed
    assert "/usr/lib/plugin.o" not in paths and summary["walk"]["other_elf"] == 1
    assert "/usr/bin/broken" not in paths
    assert summary["unreadable"][0]["path"] == "/usr/bin/broken"
    assert "ldsim: warning: /usr/bin/broken:" in err
    for doc in docs:
        assert doc["schema"] == "ldsim.explain/1"
        assert doc == explain_doc("--root", str(root.path), doc["executable"]), doc["executable"]
    assert status == 2  # a file could not be read (the rest is scanned)


def test_symbols_each_table_is_read_once_per_scan(root: Root,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With --symbols, a library's dynamic symbol table is read once for all the programs
    that load it (libc's, by every one), and each document is still ``explain --symbols``'s."""
    import ldsim.elf.symbols as symbols

    reads: list[str] = []
    real = symbols.read_dynamic_symbols

    def counted(data: Any, path: str) -> Any:
        reads.append(path)
        return real(data, path)

    monkeypatch.setattr(symbols, "read_dynamic_symbols", counted)
    _status, out, _err = cli("scan", "--format", "jsonl", "--jobs", "1", "--symbols",
                             "--root", str(root.path), "/usr/bin")
    docs = lines(out)[:-1]
    assert len(docs) >= 5
    libc = [p for p in reads if p.endswith("/libc.so.6")]
    assert len(libc) == 1 and len(reads) == len(set(reads))
    for doc in docs:
        assert doc == explain_doc("--symbols", "--root", str(root.path), doc["executable"])


def test_kept_symbol_tables_are_bounded_the_last_used_staying() -> None:
    from ldsim.analysis.abi import _Tables

    kept = _Tables(5)
    kept.put("/a", ("x",) * 2)  # type: ignore[arg-type]
    kept.put("/b", ("x",) * 2)  # type: ignore[arg-type]
    assert kept.get("/a") is not None  # /a is now the most recently used
    kept.put("/c", ("x",) * 2)  # type: ignore[arg-type]
    assert list(kept.by_path) == ["/a", "/c"] and kept.symbols == 4
    kept.put("/huge", ("x",) * 9)  # type: ignore[arg-type]
    assert list(kept.by_path) == ["/huge"]  # alone over the limit, still kept for its run


def test_the_order_and_bytes_do_not_depend_on_the_processes(root: Root) -> None:
    one = cli("scan", "--format", "jsonl", "--jobs", "1", "--root", str(root.path))
    two = cli("scan", "--format", "jsonl", "--jobs", "2", "--chunk", "1", "--root", str(root.path))
    assert one == two
    paths = [d.get("executable") for d in lines(one[1])[:-1]]
    # a directory's files by name, then its subdirectories in turn
    assert paths.index("/usr/bin/ok") < paths.index("/usr/bin/rp") \
        < paths.index("/usr/sbin/missing2")


def test_summary_counts_names_and_exit_status(root: Root) -> None:
    status, out, _err = cli("scan", "--root", str(root.path), "--jobs", "1", "--width", "0",
                            "--color", "never", "--exclude", "*/broken")
    assert status == 1, out
    assert "1 excluded" in out
    assert "2 do not start" in out and "8 start" in out
    assert "Not found, most frequent first:" in out
    row = next(line for line in out.splitlines() if line.lstrip().startswith("libnothere.so.1"))
    assert "2 files" in row and "/usr/bin/missing" in row
    assert "libgone.so.2" in out
    assert out.rstrip().splitlines()[-1].startswith("Result: 2 of 10 files do not start")


def test_summary_says_why_loads_abort_most_frequent_first(tmp_path: Path) -> None:
    """Files that do not start without missing a name (their loader is not there, the file
    is a separate debuginfo file) are counted by the loader's message, most frequent first,
    with the first of them; a message about the file itself counts without its path. A
    stored scan's --report says the same."""
    r = Root(tmp_path / "r")
    r.mkexe("/usr/bin/fine")
    for name in ("a", "b"):
        r.mkexe(f"/usr/bin/{name}")
        r.set_interpreter(f"/usr/bin/{name}", "/lib/ld-nowhere.so.1")
    r.mklib("/usr/lib/libd.so.1", "libd.so.1")
    r.mkdir("/usr/lib/debug")
    run = subprocess.run(["objcopy", "--only-keep-debug", str(r.host("/usr/lib/libd.so.1")),
                          str(r.host("/usr/lib/debug/libd.so.1.debug"))], capture_output=True)
    assert run.returncode == 0, run.stderr
    r.remove("/usr/lib/libd.so.1")
    r.ldconfig()
    db = tmp_path / "r.sqlite"
    status, out, _err = cli("scan", "--root", str(r.path), "--jobs", "1", "--width", "0",
                            "--color", "never", "--db", str(db), "/usr/bin", "/usr/lib")
    assert status == 1, out
    section = out.split("Load aborted, most frequent first:\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == [
        "      2 files  /lib/ld-nowhere.so.1: No such file or directory",
        "               /usr/bin/a and 1 more",
        "       1 file  object file has no dynamic section",
        "               /usr/lib/debug/libd.so.1.debug",
    ], section
    assert "Not found" not in out
    _status, again, _err = cli("scan", "--db", str(db), "--report", "--width", "0",
                               "--color", "never")
    assert section in again


def test_a_relative_path_is_in_the_working_directory_as_explains_program_is(
        root: Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative PATH was taken from the root's top: `ldsim scan .` scanned the whole
    machine, and `scan --cwd /usr bin` found nothing where `explain --cwd /usr bin/ok`
    found the program. It is in the working directory (--cwd; with --root /, the current
    directory), as explain's program is."""
    _status, by_cwd, _err = cli("scan", "--root", str(root.path), "--cwd", "/usr", "--jobs", "1",
                                "--format", "jsonl", "bin")
    _status, whole, _err = cli("scan", "--root", str(root.path), "--jobs", "1", "--format",
                               "jsonl", "/usr/bin")
    assert by_cwd == whole and len(lines(whole)) > 3
    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(root.host("/usr/bin/alone"), here / "prog")
    monkeypatch.chdir(here)
    _status, out, _err = cli("scan", "--jobs", "1", "--format", "jsonl", ".")
    docs = lines(out)
    assert [d["executable"] for d in docs[:-1]] == [f"{here}/prog"]
    assert docs[0] == explain_doc(f"{here}/prog")


def test_a_file_with_the_elf_magic_too_short_for_a_type_is_named(tmp_path: Path) -> None:
    """A file that starts with the ELF magic but ends before its e_type (a download cut
    short) was passed by as no ELF file: not resolved, not counted, not named, where
    explain says "file too short". It is resolved, and named, by a rescan too."""
    bin_dir = tmp_path / "r" / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "cut16").write_bytes(Path("/usr/bin/true").read_bytes()[:16])
    (bin_dir / "magic").write_bytes(b"\x7fELF")
    old = time.time_ns() - 3600 * 10**9  # not changed just now: the rescan trusts its record
    os.utime(bin_dir, ns=(old, old))
    db = tmp_path / "r.sqlite"
    for _ in range(2):
        status, out, _err = cli("scan", "--root", str(tmp_path / "r"), "--jobs", "1",
                                "--format", "jsonl", "--db", str(db))
        summary = lines(out)[-1]
        assert status == 2 and summary["files"] == 2, out
        assert summary["unreadable"] == [{"path": "/usr/bin/cut16", "error": "file too short"},
                                         {"path": "/usr/bin/magic", "error": "file too short"}]
    status, _out, err = cli("explain", "--root", str(tmp_path / "r"), "/usr/bin/cut16")
    assert status == 2 and "/usr/bin/cut16: file too short" in err
    # a store whose directory records an older ldsim made (it passed such files by, and
    # recorded no walk rules): not trusted, the directory is listed again
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("DELETE FROM meta WHERE key = 'walk_rules'")
        assert con.execute("UPDATE dirs SET elf = '[]', files = 2").rowcount >= 1
        con.commit()
    status, out, _err = cli("scan", "--root", str(tmp_path / "r"), "--jobs", "1", "--format",
                            "jsonl", "--db", str(db))
    assert status == 2 and lines(out)[-1]["files"] == 2, out


def test_a_path_that_does_not_exist_is_named_and_the_rest_scanned(root: Root) -> None:
    status, out, err = cli("scan", "--root", str(root.path), "--jobs", "1", "/nope", "/usr/sbin")
    assert status == 2
    assert "/nope: no such file or directory" in err
    assert "Scanned 1 ELF file under /nope, /usr/sbin" in out


def test_usage_errors() -> None:
    for argv, words in [
        (["scan", "--report"], "give --db FILE"),
        (["scan", "--snap", "x.snap", "--", "/usr"], "not both"),
        (["scan", "--base-dir", "/tmp"], "only makes sense with --snap"),
        (["scan", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], "leave out --jobs"),
        (["scan", "--root", "/does/not/exist"], "root directory does not exist"),
        (["scan", "--cwd", "/does/not/exist", "/usr/bin/true"],
         "--cwd: /does/not/exist: no such file or directory"),
        (["scan", "--cwd", "/usr/bin/true", "/usr/bin/true"], "--cwd: /usr/bin/true: not a "
         "directory"),
    ]:
        status, _out, err = cli(*argv)
        assert status == 2, argv
        assert words in err, (argv, err)
    status, _out, err = cli("scan", "--jobs", "0")
    assert status == 2 and "expected a number of processes" in err


def test_sarif_names_every_file_that_does_not_start(root: Root) -> None:
    status, out, _err = cli("scan", "--format", "sarif", "--root", str(root.path), "--jobs", "1")
    log = json.loads(out)
    run = log["runs"][0]
    results = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
               for r in run["results"]}
    assert ("does-not-start", "usr/bin/missing") in results
    assert ("does-not-start", "usr/sbin/missing2") in results
    assert ("unreadable", "usr/bin/broken") in results
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"does-not-start", "unreadable"}
    assert run["properties"]["summary"]["exit_status"] == status == 2


def test_the_summary_line_follows_its_schema(root: Root) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    _status, out, _err = cli("scan", "--format", "jsonl", "--root", str(root.path), "--jobs", "1")
    jsonschema.validate(lines(out)[-1], load_schema("ldsim.scan-summary/1"))


# -- the result store ------------------------------------------------------------------------
def _scan(root: Root, db: Path, *paths: str) -> ldsim.api.Scan:
    s = ldsim.scan(str(root.path), paths, db=str(db), jobs=1)
    for _r in s:
        pass
    return s


def test_a_rescan_reuses_what_is_unchanged_and_redoes_what_depends_on_a_change(
        root: Root, tmp_path: Path) -> None:
    r = Root(tmp_path / "r")
    lib = r.libdir
    r.mklib(f"{lib}/libA.so.1", "libA.so.1")
    r.mklib(f"{lib}/libB.so.1", "libB.so.1")
    r.mkexe("/usr/bin/usesA", link=[f"{lib}/libA.so.1"], rpath="/opt/rp")
    r.mkexe("/usr/bin/usesB", link=[f"{lib}/libB.so.1"])
    r.ldconfig()
    # a directory changed in the last 2 s may change again within its mtime's resolution:
    # the walk keeps no record of it (git's "racy" rule); this one is older
    an_hour_ago = time.time_ns() - 3600 * 10**9
    os.utime(r.path / "usr/bin", ns=(an_hour_ago, an_hour_ago))
    db = tmp_path / "results.sqlite"
    first = _scan(r, db, "/usr/bin")
    assert first.summary.files == 3 and first.summary.reused == 0  # and the root's env
    again = _scan(r, db, "/usr/bin")
    assert again.summary.reused == 3
    assert again.walk.dirs_reused == again.walk.dirs  # no directory listed again

    # a library is replaced: the program that loads it is redone, the other is not
    r.mklib(f"{lib}/libA.so.1", "libA.so.1", "-DCHANGED")
    changed = _scan(r, db, "/usr/bin")
    assert changed.summary.reused == 2 and changed.summary.invalidated == 1

    # a file appears earlier in the search: /opt/rp (DT_RPATH) did not exist before
    r.mklib("/opt/rp/libA.so.1", "libA.so.1")
    moved = ldsim.scan(str(r.path), ["/usr/bin"], db=str(db), jobs=1, documents=True)
    docs = {res.path: json.loads(res.doc or "{}") for res in moved}
    assert moved.summary.reused == 2 and moved.summary.invalidated == 1
    via = {o["name"]: (o["path"], o["via"]) for o in docs["/usr/bin/usesA"]["objects"]}
    assert via["libA.so.1"] == ("/opt/rp/libA.so.1", "rpath")

    # a new program in a directory that was listed before is found
    r.mkexe("/usr/bin/new")
    added = _scan(r, db, "/usr/bin")
    assert added.summary.files == 4 and added.summary.reused == 3

    # a program that disappears is forgotten
    (r.path / "usr/bin/usesB").unlink()
    gone = _scan(r, db, "/usr/bin")
    assert gone.summary.files == 3 and gone.summary.reused == 3
    kept = ldsim.stored_scan(str(db))
    assert [x.path for x in kept.results()] == ["/usr/bin/env", "/usr/bin/new", "/usr/bin/usesA"]


def test_another_configuration_redoes_everything(root: Root, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    _scan(root, db, "/usr/bin")
    s = ldsim.scan(str(root.path), ["/usr/bin"], db=str(db), jobs=1,
                   env=ldsim.host_env(ld_library_path="/opt"))
    list(s)
    assert s.summary.reused == 0 and not s.kept


def test_only_a_result_that_used_the_working_directory_depends_on_it(tmp_path: Path) -> None:
    """A relative RPATH entry is searched from the process's working directory: the result
    of the program that has one depends on it, the others are reused from anywhere."""
    r = Root(tmp_path / "r")
    lib = r.libdir
    r.mklib(f"{lib}/libA.so.1", "libA.so.1")
    r.mklib("/opt/x/lib/libA.so.1", "libA.so.1")
    r.mkexe("/usr/bin/abs", link=[f"{lib}/libA.so.1"])
    r.mkexe("/usr/bin/rel", link=[f"{lib}/libA.so.1"], rpath="lib")
    r.ldconfig()
    db = tmp_path / "r.sqlite"

    def scan(cwd: str) -> dict[str, Any]:
        s = ldsim.scan(str(r.path), ["/usr/bin"], db=str(db), jobs=1, documents=True,
                       env=ldsim.host_env(cwd=cwd))
        docs = {res.path: json.loads(res.doc or "null") for res in s}
        fresh = ldsim.scan(str(r.path), ["/usr/bin"], jobs=1, documents=True,
                           env=ldsim.host_env(cwd=cwd))
        assert docs == {res.path: json.loads(res.doc or "null") for res in fresh}
        return {"reused": s.summary.reused, "kept": s.kept, "docs": docs}

    first = scan("/")
    files = len(first["docs"])
    assert first["reused"] == 0 and files >= 2
    assert scan("/")["reused"] == files
    moved = scan("/opt/x")  # rel now finds libA in /opt/x/lib
    assert moved["kept"] and moved["reused"] == files - 1
    via = {o["path"]: o["via"] for o in moved["docs"]["/usr/bin/rel"]["objects"]}
    assert via.get("lib/libA.so.1") == "rpath", via
    assert scan("/opt/x")["reused"] == files


def test_report_prints_the_kept_scan_without_scanning(root: Root, tmp_path: Path) -> None:
    db = str(tmp_path / "r.sqlite")
    status, out, _err = cli("scan", "--format", "jsonl", "--db", db, "--root", str(root.path),
                            "--jobs", "1")
    status2, out2, _err2 = cli("scan", "--db", db, "--report", "--format", "jsonl")
    assert (status2, out2) == (status, out)
    status3, text, _err3 = cli("scan", "--db", db, "--report", "--color", "never")
    assert status3 == status and "nothing scanned now" in text and "libnothere.so.1" in text
    status4, _o, err4 = cli("scan", "--db", str(tmp_path / "none.sqlite"), "--report")
    assert status4 == 2 and "no such file" in err4
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    status5, _o, err5 = cli("scan", "--db", str(bad), "--root", str(root.path))
    assert status5 == 2 and "scan database" in err5
    # an option that would change what a scan finds is not quietly ignored; how the scan
    # would run, and how to print it, are taken
    status6, _o, err6 = cli("scan", "--db", db, "--report", "--root", "/elsewhere",
                            "--symbols", "--ld-library-path", "/x")
    assert status6 == 2 and err6 == "ldsim: error: --report: prints the kept scan as it was " \
        "made, which --ld-library-path, --symbols would not change: leave them out, " \
        "or scan again without --report\n", err6
    assert cli("scan", "--db", db, "--report", "--format", "jsonl", "--jobs", "2",
               "--color", "never", "--rescan-all")[:2] == (status, out)
    # the root it was made of is taken (as a user repeats the command with --report); another
    # is refused
    assert cli("scan", "--db", db, "--report", "--format", "jsonl", "--root",
               str(root.path) + "/.")[:2] == (status, out)
    status7, _o, err7 = cli("scan", "--db", db, "--report", "--root", str(tmp_path))
    assert status7 == 2 and err7 == f"ldsim: error: --report: the scan kept in {db} is of " \
        f"{root.path}, not of {tmp_path}: leave --root out, or scan again without --report\n"


def test_a_database_that_fails_under_the_scan_stops_it_in_one_line_and_it_resumes(
        root: Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program takes the database's lock while the scan writes (a full disk fails
    the same way, in SQLite's error): the scan stops with the database's name and SQLite's
    reason (a UsageError: one line, exit 2), not an internal error; what it had committed
    is kept, and the same scan run again resumes to the results of an uninterrupted one."""
    from ldsim.errors import UsageError

    monkeypatch.setattr("ldsim.scanner.store.BUSY_WAIT", 0.2)
    monkeypatch.setattr("ldsim.scanner.engine.COMMIT_EVERY", 0.0)  # each result committed
    db = tmp_path / "r.sqlite"
    scan = ldsim.scan(str(root.path), db=str(db), jobs=1)
    results = iter(scan)
    first = next(results)
    with contextlib.closing(sqlite3.connect(db, isolation_level=None, timeout=5)) as other:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(UsageError) as stopped:
            for _r in results:
                pass
        other.execute("ROLLBACK")
    message = str(stopped.value)
    assert message.startswith(f"{db}: the scan database failed during the scan (database "
                              "is locked): the scan stops"), message
    kept = _results_in(db)
    resumed = ldsim.scan(str(root.path), db=str(db), jobs=1, documents=True)
    again = [(r.path, r.status, r.doc) for r in resumed]
    fresh = ldsim.scan(str(root.path), jobs=1, documents=True)
    assert again == [(r.path, r.status, r.doc) for r in fresh]
    assert 1 <= kept < len(again) and resumed.summary.reused >= kept
    assert first.path == again[0][0]


def test_a_crafted_number_in_a_stored_result_is_an_unreadable_database(
        root: Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored count that is no integer (1e400 reads as an infinity) is a database whose
    records cannot be read, exit 2 in one line, not an internal error."""
    monkeypatch.setattr("ldsim.scanner.discover.RACY_NS", 0)  # directory records are kept
    db = tmp_path / "r.sqlite"
    _scan(root, db)
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("UPDATE results SET summary='{\"reasons\":[],\"objects\":1e400,"
                    "\"unresolved\":[],\"findings\":[],\"leaks\":0}' WHERE seq=1")
        con.commit()
    status, _out, err = cli("scan", "--db", str(db), "--report")
    assert status == 2 and err == f"ldsim: error: {db}: a scan database whose records " \
        "cannot be read (made by another program?)\n", err
    # a finding's rule and severity, as a database may hold them, are shown escaped
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.execute("UPDATE results SET status='does_not_start', exit_status=1, summary=? "
                    "WHERE seq=1", (json.dumps({
                        "reasons": [], "objects": 1, "unresolved": [], "leaks": 0,
                        "findings": [["rule\x1b[31m", "error\x07", "/x"]]}),))
        con.commit()
    status, out, err = cli("scan", "--db", str(db), "--report", "--color", "never")
    assert "\x1b" not in out and "\x07" not in out, out
    assert "error\\x07 rule\\x1b[31m  " in out, out
    # the same in the kept walk's counts
    other_db = tmp_path / "w.sqlite"
    _scan(root, other_db)
    with contextlib.closing(sqlite3.connect(other_db)) as con:
        (last,) = con.execute("SELECT value FROM meta WHERE key='last_scan'").fetchone()
        con.execute("UPDATE meta SET value=? WHERE key='last_scan'",
                    (last.replace('"looked_at": ', '"looked_at": 1e400, "was": '),))
        con.commit()
    status, _out, err = cli("scan", "--db", str(other_db), "--report")
    assert status == 2 and "records cannot be read" in err, err
    # rows whose path is text, not the bytes this store writes (valid UTF-8 or not; one the
    # same as a file's path): never reused, dropped at the scan's end, never an internal error
    with contextlib.closing(sqlite3.connect(other_db)) as con:
        con.execute("UPDATE results SET path=CAST(path AS TEXT) WHERE seq=1")
        con.execute("INSERT INTO results SELECT CAST(x'2fff' AS TEXT), 99, kind, ident, status, "
                    "exit_status, seconds, summary, doc, 'junk' FROM results WHERE seq=2")
        con.commit()
    fresh = cli("scan", "--root", str(root.path), "--format", "jsonl")[:2]
    assert cli("scan", "--db", str(other_db), "--root", str(root.path), "--format",
               "jsonl")[:2] == fresh
    assert cli("scan", "--db", str(other_db), "--report", "--format", "jsonl")[:2] == fresh
    # a directory record with such a number is not trusted: that directory is listed again
    other = tmp_path / "d.sqlite"
    _scan(root, other)
    with contextlib.closing(sqlite3.connect(other)) as con:
        assert con.execute("UPDATE dirs SET dev=9e999").rowcount >= 1
        con.commit()
    assert cli("scan", "--db", str(other), "--root", str(root.path), "--format", "jsonl")[:2] \
        == cli("scan", "--root", str(root.path), "--format", "jsonl")[:2]


def _results_in(db: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return int(con.execute("SELECT count(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.host
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_killed_scan_resumes_to_the_same_results(tmp_path: Path, jobs: str) -> None:
    """Kill a scan of this machine's /usr halfway (SIGKILL: nothing is cleaned up), run it
    again at once with the same store: it reuses what was kept and ends with the results of
    an uninterrupted scan, byte for byte. (With worker processes, they die with the scan:
    none is left holding the store.)"""
    db = tmp_path / "usr.sqlite"
    ldsim_scan = [sys.executable, "-m", "ldsim", "scan"]
    argv = [*ldsim_scan, "--jobs", jobs, "--db", str(db), "/usr"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    deadline = time.monotonic() + 120
    while _results_in(db) < 300 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _results_in(db)
    whole = subprocess.run([*ldsim_scan, "--format", "jsonl", "--jobs", "2", "/usr"],
                           capture_output=True, text=True, env=env, check=False)
    total = len(whole.stdout.splitlines()) - 1
    assert 300 <= done_before < total, (done_before, total)

    resumed = subprocess.run([*argv, "--color", "never"], capture_output=True, text=True,
                             env=env, check=False)
    assert resumed.returncode == whole.returncode, resumed.stderr
    reused = next(line for line in resumed.stdout.splitlines() if line.startswith("Took "))
    n_reused = int(reused.split(" results reused")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert n_reused >= done_before - 1, reused
    report = subprocess.run([*ldsim_scan, "--db", str(db), "--report", "--format", "jsonl"],
                            capture_output=True, text=True, env=env, check=False)
    assert report.stdout == whole.stdout


@pytest.mark.host
@pytest.mark.parametrize(("jobs", "presses"), [("2", "three"), ("2", "storm"), ("1", "storm")])
def test_ctrl_c_pressed_again_while_a_scan_stops_ends_it_at_once(tmp_path: Path, jobs: str,
                                                                 presses: str) -> None:
    """Ctrl-C twice (or `timeout -s INT`, which signals the process and then its group):
    the second one landed while the pool was being stopped, left its workers waiting on it
    and the scan waiting on them at exit, forever (in 1 or 2 tries of 2, measured); a third
    printed a traceback, and so did one landing as the output was flushed after the
    "interrupted" line (seen once in 3 tries of three presses; every time in a storm of
    them). Now the workers go at the first, later ones are ignored while the scan stops:
    exit 130, one line, no process left."""
    ldsim_scan = [sys.executable, "-m", "ldsim", "scan"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for attempt in range(3):
        db = tmp_path / f"usr{attempt}.sqlite"
        proc = subprocess.Popen([*ldsim_scan, "--jobs", jobs, "--db", str(db), "/usr"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                start_new_session=True, preexec_fn=ctrl_c_default)
        deadline = time.monotonic() + 120
        while _results_in(db) < 200 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the scan ended before it could be interrupted"
        # three presses, or one every 2 ms until it ends (at most 10 s)
        pauses = [0.01, 0.05, 0.2] if presses == "three" else [0.002] * 5000
        for pause in pauses:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            time.sleep(pause)
            if proc.poll() is not None:
                break
        try:
            _out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"try {attempt + 1}: the scan still ran 20 s after Ctrl-C")
        assert proc.returncode == 130 and err == b"ldsim: interrupted\n", (proc.returncode, err)
        with pytest.raises(ProcessLookupError):  # its workers are gone too
            os.killpg(proc.pid, 0)


_EMBEDDED_CTRL_C = r"""
import contextlib, io, multiprocessing as mp, signal, threading, time, _thread
from ldsim.cli.main import main

def sleeper():
    time.sleep(60)

if __name__ == "__main__":
    mine = mp.Process(target=sleeper)
    mine.start()
    threading.Timer(0.3, _thread.interrupt_main).start()  # Ctrl-C while ldsim scans
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["scan", "--jobs", "2", "/usr"])
    print(status, mine.is_alive(), signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    mine.kill()
"""


@pytest.mark.host
def test_ctrl_c_in_a_program_that_calls_main_leaves_its_own_processes_alone() -> None:
    """What ends the process after a Ctrl-C (ignore the next ones, end every child left) is
    the ldsim command's, not main()'s: a program calling main() kept neither its own child
    process (killed) nor its Ctrl-C (ignored for the rest of its life)."""
    proc = subprocess.run([sys.executable, "-c", _EMBEDDED_CTRL_C], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          timeout=120, check=False, preexec_fn=ctrl_c_default)
    assert proc.stdout.split() == ["130", "True", "True"], (proc.stdout, proc.stderr)


@pytest.mark.host
def test_a_second_scan_of_one_store_is_refused_while_the_first_writes(root: Root,
                                                                     tmp_path: Path) -> None:
    """Two scans writing one store would interleave their results: the second says so at
    once (exit 2, one line, no 10 s wait for SQLite's lock); when the first is done, the
    store is free again."""
    db = tmp_path / "usr.sqlite"
    argv = [sys.executable, "-m", "ldsim", "scan", "--jobs", "1", "--db", str(db), "/usr"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        deadline = time.monotonic() + 120
        while _results_in(db) < 50 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the first scan ended before the test could race it"
        started = time.monotonic()
        status, _out, err = cli("scan", "--db", str(db), "--root", str(root.path), "--jobs",
                                "1")
        assert time.monotonic() - started < 5
        assert status == 2 and err.count("\n") == 1, err
        assert "another ldsim scan is writing this database" in err
    finally:
        proc.wait()
    assert proc.returncode in (0, 1)
    status2, out2, err2 = cli("scan", "--db", str(db), "--root", str(root.path), "--jobs",
                              "1", "--format", "jsonl")
    assert "another ldsim scan" not in err2
    assert (status2, out2) == cli("scan", "--root", str(root.path), "--jobs", "1", "--format",
                                  "jsonl")[:2]


@pytest.mark.host
def test_host_scan_lines_equal_explain_json() -> None:
    """A few hundred files of this machine's /usr, every kind: programs, libraries,
    plugins, Python extensions."""
    _status, out, _err = cli("scan", "--format", "jsonl", "/usr/bin",
                             "/usr/lib/x86_64-linux-gnu")
    docs = lines(out)[:-1]
    assert len(docs) > 1000
    sample = docs[:: max(1, len(docs) // 300)]
    for doc in sample:
        assert doc == explain_doc(doc["executable"]), doc["executable"]


def test_scan_api_streams_results_in_order(root: Root) -> None:
    s = ldsim.scan(str(root.path), ["/usr/bin", "/usr/sbin"], jobs=1)
    paths = [r.path for r in s]
    assert paths == [*sorted(p for p in paths if p.startswith("/usr/bin/")),
                     "/usr/sbin/missing2"]
    assert ldsim.render(s.summary, "json").startswith('{"schema":"ldsim.scan-summary/1"')


# -- snaps -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def snaps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A host, a core22-like base in a directory of bases, and snaps on them: ``unpatched``
    and ``host-only`` leak from the host, ``rpath-complete`` does not; one of them also as a
    ``.snap`` file (SquashFS, made by mksquashfs)."""
    if shutil.which("gcc") is None or shutil.which("patchelf") is None:
        pytest.skip("needs gcc and patchelf")
    from snaproots import build_base, build_host, build_synthetic_snaps, mksquashfs

    top = tmp_path_factory.mktemp("scan-snaps")
    build_host(top / "host")
    build_base(top / "bases" / "core22")
    made = build_synthetic_snaps(top / "synthetic")
    out = {"host": top / "host", "bases": top / "bases"}
    for name in ("rpath-complete", "unpatched", "host-only"):
        out[name] = made[name].path
    if shutil.which("mksquashfs"):
        out["packed"] = mksquashfs(made["rpath-complete"].path, top / "rpath-complete_7.snap")
    return out


def test_a_snap_line_is_compare_all_json_of_that_snap(snaps: dict[str, Path]) -> None:
    names = [n for n in ("rpath-complete", "unpatched", "host-only", "packed") if n in snaps]
    status, out, _err = cli("scan", "--format", "jsonl", "--jobs", "2",
                            "--base-dir", str(snaps["bases"]), "--host", str(snaps["host"]),
                            "--snap", *[str(snaps[n]) for n in names])
    docs = lines(out)
    summary = docs.pop()
    assert len(docs) == len(names) and summary["snaps"] == len(names)
    for name, doc in zip(names, docs, strict=True):
        _c_status, c_out, _e = cli("compare", "--all", "--json", "--snap", str(snaps[name]),
                                   "--base", str(snaps["bases"] / "core22"),
                                   "--host", str(snaps["host"]))
        assert doc == json.loads(c_out), name
    leaks = summary["leaks"]
    assert leaks[str(snaps["rpath-complete"])] == 0
    assert leaks[str(snaps["host-only"])] > 0 and leaks[str(snaps["unpatched"])] > 0
    assert status == 1 == summary["exit_status"]
    status, text, _err = cli("scan", "--color", "never", "--width", "0",
                             "--base-dir", str(snaps["bases"]), "--host", str(snaps["host"]),
                             "--snap", *[str(snaps[n]) for n in names])
    assert "Host leaks per snap (classic view):" in text
    assert f"{snaps['rpath-complete']}  none" in text.replace("  ", "  ")


def test_a_snap_rescan_reuses_unchanged_snaps_and_redoes_changed_ones(
        snaps: dict[str, Path], tmp_path: Path) -> None:
    """A snap's result records the host paths its three trees looked at (and the SquashFS
    files it read): a rerun with --db reuses a snap none of them changed, and redoes one
    whose host library, payload or .snap file changed, to what a scan without a store says."""
    if "packed" not in snaps:
        pytest.skip("needs mksquashfs")
    from snaproots import build_synthetic_snaps

    host, bases = tmp_path / "host", tmp_path / "bases"
    shutil.copytree(snaps["host"], host, symlinks=True)
    shutil.copytree(snaps["bases"], bases, symlinks=True)
    leaky = build_synthetic_snaps(tmp_path / "synthetic")["no-rpath"].path  # classic
    packed = tmp_path / "packed_7.snap"
    shutil.copy(snaps["packed"], packed)
    db = tmp_path / "snaps.sqlite"
    argv = ["--base-dir", str(bases), "--host", str(host), "--snap", str(leaky), str(packed)]

    def scan() -> tuple[ldsim.api.Scan, list[dict[str, Any]]]:
        s = ldsim.scan(snaps=[str(leaky), str(packed)], host=str(host), base_dir=str(bases),
                       db=str(db), jobs=1)
        for _r in s:
            pass
        _status, out, _err = cli("scan", "--db", str(db), "--report", "--format", "jsonl")
        return s, lines(out)[:-1]

    def fresh() -> list[dict[str, Any]]:
        _status, out, _err = cli("scan", "--format", "jsonl", *argv)
        return lines(out)[:-1]

    first, docs = scan()
    assert first.summary.reused == 0 and docs == fresh()
    time.sleep(0.01)
    again, docs_again = scan()
    assert again.summary.reused == 2 and again.summary.invalidated == 0
    assert docs_again == docs
    # the host library the classic view took goes (both snaps looked for it there)
    shared = next(p for p in host.rglob("libshared.so.1") if p.is_file())
    shared.unlink()
    changed, docs_changed = scan()
    assert changed.summary.invalidated == 2 and changed.summary.reused == 0
    assert docs_changed == fresh() and docs_changed[0] != docs[0]
    # a new program in one payload: that snap is redone, the other reused
    shutil.copy(leaky / "bin/app", leaky / "bin/app2")
    added, docs_added = scan()
    assert added.summary.invalidated == 1 and added.summary.reused == 1
    assert docs_added == fresh()
    assert len(docs_added[0]["binaries"]) == len(docs_changed[0]["binaries"]) + 1
    # the .snap file replaced by a copy (a new inode): that one is redone
    shutil.copy(packed, tmp_path / "copy.snap")
    os.replace(tmp_path / "copy.snap", packed)
    replaced, docs_replaced = scan()
    assert replaced.summary.invalidated == 1 and replaced.summary.reused == 1
    assert docs_replaced == docs_added


def test_a_snap_rescan_sees_links_repointed_and_never_reuses_a_failure(
        snaps: dict[str, Path], tmp_path: Path) -> None:
    """Paths given through symbolic links (--host, --base-dir, a base found there) depend on
    every link on the way; a base candidate that was a dangling link and now resolves
    changes the choice; a snap whose program ldsim's process could not read is unreadable
    (as compare's exit status 2 says; it was once left out of the payload silently, the
    snap said to start) and redone on the next scan."""
    from snaproots import build_synthetic_snaps

    leaky = build_synthetic_snaps(tmp_path / "synthetic")["no-rpath"].path
    real = tmp_path / "hosts"
    for name in ("a", "b"):
        shutil.copytree(snaps["host"], real / name, symlinks=True)
    for p in (real / "b").rglob("libshared.so.1"):
        p.unlink()
    (tmp_path / "host").symlink_to(real / "a")
    bases = tmp_path / "bases"
    bases.mkdir()
    shutil.copytree(snaps["bases"] / "core22", tmp_path / "core22-real", symlinks=True)
    (bases / "core22").symlink_to(tmp_path / "later" / "core22")  # dangling for now
    (bases / "core22.snap").symlink_to(tmp_path / "cur" / "core22")  # not a .snap: a dir
    (tmp_path / "cur").symlink_to(tmp_path)
    db = tmp_path / "links.sqlite"
    argv = ["--base-dir", str(bases), "--host", str(tmp_path / "host"), "--snap", str(leaky)]

    def rescan() -> tuple[ldsim.api.Scan, list[dict[str, Any]]]:
        s = ldsim.scan(snaps=[str(leaky)], host=str(tmp_path / "host"), base_dir=str(bases),
                       db=str(db), jobs=1)
        for _r in s:
            pass
        _status, out, _err = cli("scan", "--db", str(db), "--report", "--format", "jsonl")
        _status, fresh, _err = cli("scan", "--format", "jsonl", *argv)
        assert lines(out)[:-1] == lines(fresh)[:-1]
        return s, lines(out)[:-1]

    def repoint(link: Path, to: Path) -> None:
        tmp = link.with_name(link.name + ".new")
        tmp.symlink_to(to)
        os.replace(tmp, link)

    (tmp_path / "core22").symlink_to(tmp_path / "core22-real")
    first, _docs = rescan()
    assert first.summary.reused == 0
    assert rescan()[0].summary.reused == 1
    repoint(tmp_path / "host", real / "b")  # --host, through its link
    assert rescan()[0].summary.reused == 0
    assert rescan()[0].summary.reused == 1
    repoint(tmp_path / "cur", tmp_path / "hosts")  # a link on the way to the base taken
    (tmp_path / "hosts" / "core22").symlink_to(tmp_path / "core22-real")
    assert rescan()[0].summary.reused == 0
    (tmp_path / "later").mkdir()  # the dangling candidate now resolves: it is the base
    (tmp_path / "later" / "core22").symlink_to(tmp_path / "core22-real")
    assert rescan()[0].summary.reused == 0
    assert rescan()[0].summary.reused == 1
    # a program ldsim's own process may not read (mode 000 and, for root, no capability to
    # override it): unreadable, never reused once the process may read it
    app = leaky / "bin/app"
    mode = app.stat().st_mode & 0o7777
    app.chmod(0)
    code = (f"import ldsim\n"
            f"s = ldsim.scan(snaps=[{str(leaky)!r}], host={str(tmp_path / 'host')!r}, "
            f"base_dir={str(bases)!r}, db={str(db)!r}, jobs=1)\n"
            "print([r.status for r in s])\n")
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] \
        if os.geteuid() == 0 else []
    try:
        done = subprocess.run([*drop, sys.executable, "-c", code], capture_output=True,
                              text=True, check=False, timeout=120)
    finally:
        app.chmod(mode)
    assert done.stdout.strip() == "['unreadable']", (done.stdout, done.stderr)
    after, _docs = rescan()
    assert after.summary.reused == 0 and after.summary.by_status["unreadable"] == 0


def test_a_snap_scan_from_another_working_directory_redoes_the_snaps(
        snaps: dict[str, Path], tmp_path: Path) -> None:
    """A snap's result records no working-directory dependency, so the working directory
    stays in a snap scan's configuration (a relative RPATH is searched from it)."""
    db = str(tmp_path / "cwd.sqlite")

    def scan(cwd: str) -> ldsim.api.Scan:
        s = ldsim.scan(snaps=[str(snaps["unpatched"])], host=str(snaps["host"]),
                       base_dir=str(snaps["bases"]), db=db, jobs=1,
                       env=ldsim.host_env(cwd=cwd))
        list(s)
        return s

    scan("/")
    assert scan("/").summary.reused == 1
    elsewhere = scan("/tmp")
    assert not elsewhere.kept and elsewhere.summary.reused == 0


def test_a_ctime_ahead_of_the_clock_is_not_racy(monkeypatch: pytest.MonkeyPatch) -> None:
    from ldsim.scanner.discover import RACY_NS
    from ldsim.scanner.work import settled

    monkeypatch.setattr("ldsim.scanner.work.RACY_NS", RACY_NS)  # undo no_racy_window
    now = time.time_ns()
    (_p, recent), (_q, ahead), (_r, old) = settled({
        "/a": f"1:2:3:{now}:{now - 10**8}:4:5:6", "/b": f"1:2:3:{now}:{now + 10**12}:4:5:6",
        "/c": f"d:1:2:{now - 10**10}:{now - 10**10}"})
    assert recent.endswith(":racy") and not ahead.endswith(":racy")
    assert not old.endswith(":racy")


def test_a_snap_whose_base_is_not_in_base_dir_is_named(snaps: dict[str, Path],
                                                       tmp_path: Path) -> None:
    status, out, err = cli("scan", "--base-dir", str(tmp_path), "--host", str(snaps["host"]),
                           "--snap", str(snaps["unpatched"]), str(snaps["rpath-complete"]))
    assert status == 2
    assert "base snap 'core22' not found in" in err and "Not scanned:" in out


@pytest.mark.foreign_root
@pytest.mark.parametrize("arch", ["i386", "arm64"])
def test_foreign_root_scan_lines_equal_explain_json(arch: str) -> None:
    """A whole Debian 12 root of another architecture (scripts/make_foreign_root.py): every
    document of a scan of it is explain's, for a few hundred files of every kind."""
    top = Path(os.environ.get("LDSIM_FOREIGN_ROOTS", "/var/cache/ldsim-roots"))
    root = top / f"bookworm-{arch}"
    if not (root / "usr/bin").is_dir():
        pytest.skip(f"no {arch} root at {root} (scripts/make_foreign_root.py builds it)")
    _status, out, _err = cli("scan", "--format", "jsonl", "--root", str(root))
    docs = lines(out)
    summary = docs.pop()
    assert summary["files"] > 1000, summary
    for doc in docs[:: max(1, len(docs) // 250)]:
        assert doc == explain_doc("--root", str(root), doc["executable"]), doc["executable"]


def test_scan_dlopen_lines_equal_explain_dlopen_json() -> None:
    """Debian 13's libsystemd-shared and the libraries its notes name
    (rootfs-fixtures/trixie_systemd.py): with --dlopen every document is `explain --dlopen
    --json`'s, dlopen calls included."""
    top = Path(os.environ.get("LDSIM_FOREIGN_ROOTS", "/var/cache/ldsim-roots"))
    root = top / "trixie-systemd"
    if not (root / "usr/lib/x86_64-linux-gnu/systemd").is_dir():
        pytest.skip(f"no Debian 13 root at {root} (rootfs-fixtures/trixie_systemd.py)")
    _status, out, _err = cli("scan", "--dlopen", "--format", "jsonl", "--root", str(root),
                             "/usr/lib/x86_64-linux-gnu")
    docs = lines(out)
    summary = docs.pop()
    assert summary["files"] > 100
    assert any(f["id"] == "dlopen-missing" for f in summary["findings"]), summary["findings"]
    shared = next(d for d in docs if d["executable"].endswith("libsystemd-shared-257.so"))
    assert {c["feature"] for c in shared["dlopen"] if c["source"] == "note"} >= {"kmod", "zstd"}
    for doc in [shared, *docs[:: max(1, len(docs) // 40)]]:
        assert doc == explain_doc("--dlopen", "--root", str(root), doc["executable"]), \
            doc["executable"]


# -- what a review found ---------------------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_kept_in_the_store(root: Root, tmp_path: Path) -> None:
    odd = os.fsdecode(b"/usr/bin/odd-\xff")
    shutil.copy(root.host("/usr/bin/alone"), root.path / odd.lstrip("/"))
    try:
        db = tmp_path / "odd.sqlite"
        first = _scan(root, db, "/usr/bin")
        assert first.summary.by_status["error"] == 0
        again = _scan(root, db, "/usr/bin")
        assert again.summary.reused == again.summary.files
        assert odd in [r.path for r in ldsim.stored_scan(str(db)).results()]
    finally:
        os.unlink(root.path / odd.lstrip("/"))


def test_nested_paths_are_scanned_once(root: Root) -> None:
    once = [r.path for r in ldsim.scan(str(root.path), ["/usr"], jobs=1)]
    both = [r.path for r in ldsim.scan(str(root.path), ["/usr/bin", "/usr", "/usr/bin/ok"],
                                       jobs=1)]
    assert sorted(both) == sorted(once) and len(both) == len(set(both))


def test_a_crafted_store_cannot_send_the_walk_out_of_the_root(root: Root, tmp_path: Path) -> None:
    db = tmp_path / "crafted.sqlite"
    sbin = root.path / "usr/sbin"
    st = sbin.stat()
    os.utime(sbin, ns=(st.st_atime_ns, st.st_mtime_ns - 10**10))  # not changed just now
    _scan(root, db, "/usr/sbin")
    con = sqlite3.connect(db)
    assert con.execute("UPDATE dirs SET subdirs = ? WHERE path = ?",
                       (json.dumps(["../../../../../../usr/bin"]), b"/usr/sbin")).rowcount == 1
    con.commit()
    con.close()
    s = ldsim.scan(str(root.path), ["/usr/sbin"], db=str(db), jobs=1)
    assert [r.path for r in s] == ["/usr/sbin/missing2"]
    # the walk itself takes no such name from records handed to it, either
    from ldsim.fs.view import HostDirView
    from ldsim.scanner.discover import DirRecord, Walk, dir_identity, walk_root

    crafted = {"/usr/sbin": DirRecord(dir_identity(os.stat(sbin)), ("..", "../bin", "a/b"),
                                      (("missing2", 2),))}
    walk = Walk()
    assert [f.path for f in walk_root(HostDirView(str(root.path)), ["/usr/sbin"],
                                      prior=crafted, walk=walk)] == ["/usr/sbin/missing2"]
    assert walk.dirs_reused == 1
    assert sorted(walk.problems) == [(f"/usr/sbin/{n}", "not a name a directory can hold; "
                                      "skipped") for n in ("..", "../bin", "a/b")]
    bad = tmp_path / "bad.sqlite"
    shutil.copy(db, bad)
    con = sqlite3.connect(bad)
    con.execute("UPDATE results SET summary = 'not json'")
    con.commit()
    con.close()
    status, _out, err = cli("scan", "--db", str(bad), "--report")
    assert status == 2 and "cannot be read" in err, err


def test_a_tree_deeper_than_the_descriptors_kept_open_is_walked_whole(root: Root,
                                                                     tmp_path: Path) -> None:
    """Directories are opened relative to their parent's descriptor, kept open down to
    MAX_HELD levels; deeper ones by their whole path. Either way every file is found, in the
    walk's order, with nothing left open."""
    from ldsim.scanner.discover import MAX_HELD

    elf = (root.path / "usr/bin/alone").read_bytes()
    tree = tmp_path / "deep"
    tree.mkdir()
    where = tree
    depths = (0, 1, MAX_HELD - 1, MAX_HELD, MAX_HELD + 1, MAX_HELD + 6)
    for depth in range(MAX_HELD + 7):
        if depth in depths:
            (where / f"p{depth}").write_bytes(elf)
            (where / f"zz{depth}").mkdir()  # an empty sibling, after the deeper one
        where = where / "d"
        where.mkdir()
    fds = len(os.listdir("/proc/self/fd"))
    s = ldsim.scan(str(tree), jobs=1)
    paths = [r.path for r in s]
    expected = ["/" + "d/" * depth + f"p{depth}" for depth in depths]
    assert paths == expected
    assert s.summary.walk_problems == []
    assert len(os.listdir("/proc/self/fd")) == fds


def _uses_a(tmp_path: Path) -> tuple[Root, Path]:
    """A root where /usr/bin/usesA loads libA.so.1, and where its store goes."""
    r = Root(tmp_path / "r")
    r.mklib(f"{r.libdir}/libA.so.1", "libA.so.1")
    r.mkexe("/usr/bin/usesA", link=[f"{r.libdir}/libA.so.1"])
    r.ldconfig()
    return r, tmp_path / "r.sqlite"


def test_a_rescan_that_lists_nothing_counts_the_files_a_listing_would(tmp_path: Path) -> None:
    """Unchanged directories are not listed again, yet the summary (the files looked at
    included) is the first scan's, byte for byte."""
    r, db = _uses_a(tmp_path)
    r.write("/usr/bin/notes.txt", "not ELF\n", 0o644)
    for d in [r.path, *(p for p in r.path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        st = d.stat()
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns - 10**10))  # not changed just now
    argv = ("scan", "--root", str(r.path), "--db", str(db), "--format", "jsonl", "/usr")
    _status, first, _err = cli(*argv)
    s = ldsim.scan(str(r.path), ["/usr"], db=str(db), jobs=1)
    list(s)
    assert s.walk.dirs_reused == s.walk.dirs > 0 and s.summary.reused == s.summary.files
    _status, again, _err = cli(*argv)
    assert lines(again) == lines(first)
    assert lines(first)[-1]["walk"]["files_looked_at"] > s.summary.files


def test_a_file_changed_just_before_it_was_looked_at_is_looked_at_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A timestamp tick can hide a second change (a coarse clock): a result that depends on
    a file changed within the racy window of the scan is redone by the next one, and reused
    once the file has settled."""
    window = 300_000_000  # 0.3 s
    monkeypatch.setattr("ldsim.scanner.work.RACY_NS", window)
    r, db = _uses_a(tmp_path)
    _scan(r, db, "/usr/bin")
    assert _scan(r, db, "/usr/bin").summary.reused == 0  # its files had just changed
    con = sqlite3.connect(db)
    (deps,) = con.execute("SELECT deps FROM results").fetchone()
    con.close()
    assert any(state.endswith(":racy") for _path, state in json.loads(deps))
    time.sleep(window / 1e9 + 0.05)
    _scan(r, db, "/usr/bin")  # recorded settled now
    settled = _scan(r, db, "/usr/bin").summary
    assert settled.reused == settled.files > 0


def test_an_old_mtime_put_back_is_still_a_change(tmp_path: Path) -> None:
    """cp -a, tar x and touch -r restore an old mtime; the ctime still tells."""
    r, db = _uses_a(tmp_path)
    lib = r.libdir
    _scan(r, db, "/usr/bin")
    target = r.path / lib.lstrip("/") / "libA.so.1"
    st = target.stat()
    data = target.read_bytes()
    target.write_bytes(data[:64] + b"\0" * (len(data) - 64))  # same size, broken
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = _scan(r, db, "/usr/bin")
    assert changed.summary.invalidated == 1
    assert changed.summary.by_status["does_not_start"] == 1


def test_a_rescan_sends_scattered_changes_in_chunks(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Changed files between reused ones still go to the workers a chunk at a time (a task
    costs a round trip, on a cluster many milliseconds), in order, with the fresh results;
    at most REUSED_BEHIND reused results wait for a chunk to fill."""
    from ldsim.scanner import engine

    r = Root(tmp_path / "r")
    for i in range(12):
        r.mkexe(f"/usr/bin/p{i:02d}")
    r.ldconfig()
    old = time.time_ns() - 3600 * 10**9
    os.utime(r.path / "usr/bin", ns=(old, old))
    db = tmp_path / "r.sqlite"
    _scan(r, db, "/usr/bin")
    for i in range(0, 12, 2):  # every other program is rewritten (the directory is not)
        target = r.path / f"usr/bin/p{i:02d}"
        target.write_bytes(target.read_bytes())
    tasks: list[list[str]] = []
    real = engine.scan_files

    def counted(spec: Any, paths: list[str], idents: Any = None) -> Any:
        tasks.append(paths)
        return real(spec, paths, idents)

    monkeypatch.setattr(engine, "scan_files", counted)
    again = _scan(r, db, "/usr/bin")
    changed = [f"/usr/bin/p{i:02d}" for i in range(0, 12, 2)]
    assert tasks == [changed] and again.summary.reused == 7  # /usr/bin/env too
    _status, fresh, _err = cli("scan", "--root", str(r.path), "--format", "jsonl", "--jobs", "1",
                               "/usr/bin")
    _status, stored, _err = cli("scan", "--db", str(db), "--report", "--format", "jsonl")
    assert lines(stored) == lines(fresh)

    for i in range(0, 12, 2):
        target = r.path / f"usr/bin/p{i:02d}"
        target.write_bytes(target.read_bytes())
    tasks.clear()
    monkeypatch.setattr(engine, "REUSED_BEHIND", 1)  # no reused result may wait
    _scan(r, db, "/usr/bin")
    assert tasks == [[p] for p in changed]


@pytest.mark.parametrize(("statuses", "line"), [
    (["starts", "does_not_start", "fails_at_run_time", "fails_at_run_time"],
     "Result: 1 of 4 files does not start; 2 start but fail at run time."),
    (["starts", "fails_at_run_time"], "Result: 1 of 2 files starts but fails at run time."),
    (["starts", "starts"], "Result: all 2 files start."),
    (["starts"], "Result: the file starts."),
    (["does_not_start"], "Result: the file does not start."),
    (["fails_at_run_time"], "Result: the file starts but fails at run time."),
    ([], "Result: no file to resolve."),
])
def test_the_result_line_tells_not_starting_from_failing_later(statuses: list[str],
                                                               line: str) -> None:
    """A file with an error-level ABI finding starts; the last line says so, as the
    counts above it do."""
    from ldsim.analysis.scan import FileResult, ScanSummary
    from ldsim.renderers.scan import render_scan_text

    s = ScanSummary()
    for i, status in enumerate(statuses):
        s.add(FileResult(f"/usr/bin/p{i}", "file", status))
    assert render_scan_text(s).rstrip("\n").splitlines()[-1] == line


def _without_dac(*argv: str) -> subprocess.CompletedProcess[str]:
    """``ldsim ARGV`` as root without the capabilities that pass file permissions
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): ldsim then meets EACCES as another user would."""
    return subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                           sys.executable, "-m", "ldsim", *argv],
                          capture_output=True, text=True, cwd=REPO, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv (to take away the permission bypass)")
def test_what_ldsim_may_not_read_is_unreadable_not_missing(tmp_path: Path) -> None:
    """A library (or a directory) ldsim's own user may not read is not something the loader
    skips: the process ldsim simulates (root, by default) reads it. The file is reported as
    unreadable, naming what could not be read (exit 2), never as 'not found' (exit 1)."""
    r, _db = _uses_a(tmp_path)
    lib = r.path / r.libdir.lstrip("/") / "libA.so.1"
    os.chown(lib, 12345, 12345)
    lib.chmod(0o600)
    argv = ("scan", "--root", str(r.path), "--format", "jsonl", "--jobs", "1", "/usr/bin")
    as_root = subprocess.run([sys.executable, "-m", "ldsim", *argv], capture_output=True,
                             text=True, cwd=REPO, check=False)
    assert as_root.returncode == 0, as_root.stderr  # root reads it, as the loader would
    scan = _without_dac(*argv)
    summary = lines(scan.stdout)[-1]
    assert scan.returncode == 2, scan.stderr
    assert summary["unreadable"] == [{"path": "/usr/bin/usesA", "error":
                                      f"{r.libdir}/libA.so.1: permission denied to ldsim "
                                      "itself: what is there cannot be seen (run ldsim as a "
                                      "user who may read it)"}]
    assert summary["not_found"] == []
    explain = _without_dac("explain", "--root", str(r.path), "/usr/bin/usesA")
    assert explain.returncode == 2 and "Traceback" not in explain.stderr
    assert explain.stderr.splitlines() == [
        f"ldsim: error: {r.libdir}/libA.so.1: permission denied to ldsim itself: what is "
        "there cannot be seen (run ldsim as a user who may read it)"]

    lib.chmod(0o644)  # the library readable, its directory not searchable
    libdir = lib.parent
    os.chown(libdir, 12345, 12345)
    libdir.chmod(0o700)
    scan = _without_dac(*argv)
    assert scan.returncode == 2 and lines(scan.stdout)[-1]["not_found"] == [], scan.stdout


def test_a_file_rewritten_in_place_is_what_it_is_now(tmp_path: Path) -> None:
    """Rewriting a file in place changes no directory, so a rescan does not list it again;
    yet an ELF file that is text now, or a relocatable object now, is what a fresh scan
    says it is (and stays so on the next rescan)."""
    r, db = _uses_a(tmp_path)
    r.mkexe("/usr/bin/other")
    for d in [r.path, *(p for p in r.path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        st = d.stat()
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns - 10**10))  # not changed just now
    argv = ("scan", "--root", str(r.path), "--format", "jsonl", "--jobs", "1", "/usr")
    cli(*argv, "--db", str(db))
    with open(r.path / "usr/bin/usesA", "r+b") as fh:  # same inode, same directory
        fh.write(b"hello\n")
        fh.truncate()
    with open(r.path / "usr/bin/other", "r+b") as fh:
        fh.seek(16)
        fh.write((1).to_bytes(2, "little"))  # e_type ET_REL
    fresh = cli(*argv)
    docs = lines(fresh[1])
    assert [d["executable"] for d in docs[:-1]] == ["/usr/bin/env"]
    assert docs[-1]["walk"]["other_elf"] == 1 and docs[-1]["unreadable"] == []
    for _ in range(2):
        again = cli(*argv, "--db", str(db))
        assert again[0] == fresh[0] and lines(again[1]) == lines(fresh[1])


def test_a_directory_moved_behind_a_link_to_it_is_a_change(tmp_path: Path) -> None:
    """A library directory moved and replaced by a link to its new place (a merged /usr,
    an ostree deployment) keeps every inode; where the objects really are is not the same,
    and a rescan says what a fresh scan says."""
    r = Root(tmp_path / "r")
    r.mklib("/opt/app/lib/libfoo.so.1", "libfoo.so.1")
    r.mkexe("/opt/app/bin/prog", link=["/opt/app/lib/libfoo.so.1"], runpath="$ORIGIN/../lib")
    r.ldconfig()
    db = tmp_path / "r.sqlite"
    argv = ("scan", "--root", str(r.path), "--format", "jsonl", "--jobs", "1", "/opt/app/bin")
    first = cli(*argv, "--db", str(db))
    app = r.path / "opt/app"
    (app / "lib").rename(app / "lib.real")
    (app / "lib").symlink_to("lib.real")
    fresh = cli(*argv)
    assert fresh[1] != first[1] and '"real_path":"/opt/app/lib.real/libfoo.so.1"' in fresh[1]
    assert cli(*argv, "--db", str(db)) == fresh


def test_store_paths_that_are_not_files_and_a_read_only_report(root: Root, tmp_path: Path
                                                                ) -> None:
    """A directory or a device is refused as a store, and nothing is written beside it; a
    store its reader may not write is reported all the same; a store's name is shown once
    escaped; a --root that is a loop of links says so."""
    for where in (str(tmp_path), "/dev/null"):
        for argv in (("scan", "--db", where, "--root", str(root.path)),
                     ("scan", "--report", "--db", where)):
            status, _out, err = cli(*argv)
            assert status == 2 and "not a regular file" in err, err
    assert not os.path.exists("/dev/null-journal")
    odd = tmp_path / "s\x1b[31m.db"
    status, out, _err = cli("scan", "--db", str(odd), "--root", str(root.path), "/usr/bin")
    assert "reused from " + str(tmp_path) + "/s\\x1b[31m.db" in out, out
    if os.geteuid() == 0 and shutil.which("setpriv"):
        private = tmp_path / "ro"
        private.mkdir()
        db = private / "r.db"
        cli("scan", "--db", str(db), "--root", str(root.path), "--jobs", "1", "/usr/bin")
        for p in (private, db):
            os.chown(p, 12345, 12345)
        report = _without_dac("scan", "--report", "--db", str(db))
        assert report.returncode == 2 and "Result:" in report.stdout, report.stderr
        assert sorted(os.listdir(private)) == ["r.db"]
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    status, _out, err = cli("scan", "--root", str(tmp_path / "loop"))
    assert status == 2 and "too many levels of symbolic links" in err, err


def test_a_loop_of_links_where_nothing_was_is_a_change(tmp_path: Path) -> None:
    """A candidate the loader found missing (ENOENT: the search goes on) that becomes a
    loop of links (ELOOP: the rest of that list is not searched) changes the verdict; a
    rescan says what a fresh scan says."""
    r = Root(tmp_path / "r")
    r.mkdir("/opt/a")
    r.mklib("/opt/b/libfoo.so.1", "libfoo.so.1")
    r.mkexe("/opt/bin/app", link=["/opt/b/libfoo.so.1"], runpath="/opt/a:/opt/b")
    r.ldconfig()
    db = tmp_path / "r.sqlite"
    argv = ("scan", "--root", str(r.path), "--format", "jsonl", "--jobs", "1", "/opt/bin")
    assert cli(*argv, "--db", str(db))[0] == 0
    (r.path / "opt/a/libfoo.so.1").symlink_to("libfoo.so.1")
    fresh = cli(*argv)
    assert fresh[0] == 1  # the loop ends the RUNPATH search: libfoo.so.1 is not found
    assert cli(*argv, "--db", str(db)) == fresh


@pytest.mark.parametrize("address", ["tcp://127.0.0.1", "foo", "http://h:1", "",
                                     "tcp://127.0.0.1:99999", "inproc://x"])
def test_a_scheduler_address_that_is_none_is_refused_in_one_line(address: str) -> None:
    status, _out, err = cli("scan", "--scheduler", address, "/usr/bin")
    assert status == 2 and err.splitlines()[-1].startswith(
        "ldsim: error: argument --scheduler: expected a Dask scheduler's address"), err
    assert "Traceback" not in err


def test_a_worker_killed_stops_the_scan_in_one_line_and_it_resumes(tmp_path: Path) -> None:
    """A local worker killed (the OOM killer, an operator): the pool cannot go on; the scan
    says so in one line (exit 2, no traceback) and the same scan run again resumes."""
    db = tmp_path / "usr.sqlite"
    argv = [sys.executable, "-m", "ldsim", "scan", "--jobs", "2", "--db", str(db), "/usr"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True)
    deadline = time.monotonic() + 120
    while _results_in(db) < 200 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children, "no worker process"
    os.kill(int(children[0]), signal.SIGKILL)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert err.splitlines()[-1].startswith("ldsim: error: --jobs: a worker process of this "
                                           "scan died"), err
    assert "Traceback" not in err
    resumed = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert resumed.returncode in (0, 1) and "results reused" in resumed.stdout, resumed.stderr


def test_a_scan_that_cannot_start_leaves_the_store_as_it_was(
        root: Root, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr("ldsim.scanner.engine.CONNECT_WAIT", 1)
    db = tmp_path / "r.sqlite"
    status, first, first_err = cli("scan", "--root", str(root.path), "--db", str(db),
                                   "--format", "jsonl", "--jobs", "1")

    def dump() -> list[str]:
        con = sqlite3.connect(db)
        try:
            return list(con.iterdump())
        finally:
            con.close()

    before = dump()
    status, _out, err = cli("scan", "--root", str(root.path), "--db", str(db), "--hwcaps",
                            "none", "--scheduler", "tcp://127.0.0.1:1", "/usr/bin")
    assert status == 2 and "cannot reach the Dask scheduler" in err, err
    assert dump() == before  # another configuration would have dropped every result
    report = cli("scan", "--db", str(db), "--report", "--format", "jsonl")
    assert report[1] == first and report[2] == first_err


def test_report_names_the_root_and_what_could_not_be_read(root: Root, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    scan = cli("scan", "--root", str(root.path), "--db", str(db), "--color", "never",
               "/nope", "/usr/bin")
    report = cli("scan", "--db", str(db), "--report", "--color", "never")
    assert report[0] == scan[0] == 2
    assert report[1].splitlines()[0] == scan[1].splitlines()[0]
    assert f"/usr/bin of {root.path}" in scan[1].splitlines()[0]
    assert report[2] == scan[2] and "ldsim: warning: /nope:" in scan[2]


OLD_ATIME_NS = 946_684_800 * 10**9  # 2000-01-01: older than any mtime (relatime updates it)


def _age_access_times(top: Path) -> list[Path]:
    """Every file and directory under ``top`` (``top`` included), each given an access time
    older than its modification time: the next read(2) or listing updates it (relatime)."""
    paths = [top, *(p for p in top.rglob("*") if not p.is_symlink())]
    for p in paths:
        os.utime(p, ns=(OLD_ATIME_NS, p.stat().st_mtime_ns))
    return paths


def test_a_scan_leaves_access_times_alone(tmp_path: Path) -> None:
    """Reading a hundred thousand files must not write a hundred thousand inodes back (nor
    mislead what cleans up by access time): the walk and the reads open with O_NOATIME."""
    r, db = _uses_a(tmp_path)
    r.write("/usr/bin/notes.txt", "not ELF\n", 0o644)
    paths = _age_access_times(r.path)
    status, _out, err = cli("scan", "--root", str(r.path), "--jobs", "1", "--db", str(db))
    assert status == 0, err
    touched = [str(p) for p in paths if p.stat().st_atime_ns != OLD_ATIME_NS]
    assert touched == [], touched


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv (to take away CAP_FOWNER)")
def test_without_leave_to_keep_access_times_a_scan_reads_all_the_same(tmp_path: Path) -> None:
    """O_NOATIME is only for a file's owner or a process with CAP_FOWNER (EPERM otherwise):
    without it, on files of another user, the scan reads on without the flag and gives the
    same documents."""
    r, _db = _uses_a(tmp_path)
    for p in [r.path, *r.path.rglob("*")]:
        os.chown(p, 12345, 12345, follow_symlinks=False)
    argv = ("scan", "--root", str(r.path), "--jobs", "1", "--format", "jsonl")
    _status, want, _err = cli(*argv)
    run = subprocess.run(["setpriv", "--bounding-set=-fowner", sys.executable, "-m", "ldsim",
                          *argv], capture_output=True, text=True, cwd=REPO, check=False)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout == want and '"starts"' in want


def test_a_pools_first_tasks_are_small_so_that_its_workers_start_early(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With workers, the first task holds 8 files and each next one twice as many, up to a
    chunk (the workers have work while the walk goes on); in this process every task is a
    chunk. The results and their order are the same."""
    from ldsim.scanner import engine

    r = Root(tmp_path / "r")
    r.mkexe("/usr/bin/p000")
    data = (r.path / "usr/bin/p000").read_bytes()
    for i in range(1, 130):
        (r.path / f"usr/bin/p{i:03d}").write_bytes(data)
    r.ldconfig()
    tasks: list[int] = []
    real = engine.scan_files

    def counted(spec: Any, paths: list[str], idents: Any = None) -> Any:
        tasks.append(len(paths))
        return real(spec, paths, idents)

    monkeypatch.setattr(engine, "scan_files", counted)
    files = 131  # and /usr/bin/env

    def scan_with(workers: int) -> list[str]:
        tasks.clear()
        # a pool of `workers` that runs its tasks here (what is sent is what is counted)
        monkeypatch.setattr(engine._executor, "__enter__",
                            lambda self: ((lambda fn, *a: engine._Done(fn(*a))), workers))
        return [f"{x.path} {x.status}" for x in ldsim.scan(str(r.path), ["/usr/bin"],
                                                           jobs=workers)]

    pooled = scan_with(2)
    assert tasks == [8, 16, 32, 64, files - 120]
    alone = scan_with(1)
    assert tasks == [64, 64, files - 128]
    assert pooled == alone and len(alone) == files


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounts a proc file system (root, util-linux's unshare)")
def test_a_proc_mounted_below_the_root_is_never_read(tmp_path: Path) -> None:
    """A chroot's own /proc, mounted for a build, below the scanned tree: its files are the
    kernel's state (reading /proc/kmsg takes the kernel's messages from whoever else reads
    them). The walk leaves it out, as it leaves out the root's own /proc: the same output as
    with nothing mounted there; and asked for a path inside it, the scan says why it is not
    read. What is on top counts: a tmpfs mounted over a proc is walked (a program put there
    is found), a proc file bind-mounted onto a file is not opened, a mount point whose name
    holds a carriage return is still seen. A path on a tmpfs below /dev (devtmpfs) is read.
    (In a private mount namespace: nothing is left mounted.)"""
    import shlex

    r = Root(tmp_path / "r")
    r.mkexe("/usr/bin/prog")
    r.write("/usr/bin/kfile", "not ELF\n")
    r.mkdir("/srv/chroot/proc", "/over", "/x\ry", "/sub/p")
    scan = [sys.executable, "-m", "ldsim", "scan", "--root", str(r.path), "--color", "never",
            "--format", "jsonl"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    plain = subprocess.run(scan, capture_output=True, text=True, env=env, check=False)

    def at(guest: str) -> str:
        return shlex.quote(str(r.path) + guest)

    script = " && ".join([
        f"mount -t proc proc {at('/srv/chroot/proc')}",
        f"mount -t proc proc {at('/x' + chr(13) + 'y')}",
        f"mount -t proc proc {at('/over')}", f"mount -t tmpfs tmpfs {at('/over')}",
        f"cp {at('/usr/bin/prog')} {at('/over/prog')}",
        f"mount --bind /proc/version {at('/usr/bin/kfile')}",
        # a proc hidden under a tmpfs mounted over its parent directory: what is seen at
        # /sub/p is the tmpfs's own directory, with a program in it
        f"mount -t proc proc {at('/sub/p')}", f"mount -t tmpfs tmpfs {at('/sub')}",
        f"mkdir {at('/sub/p')}", f"cp {at('/usr/bin/prog')} {at('/sub/p/prog')}",
        f"{{ {shlex.join(scan)}; echo \"[rc=$?]\"; }}",
        f"{{ {shlex.join([*scan, '/srv/chroot/proc/kmsg', '/usr/bin'])}; echo \"[rc=$?]\"; }}",
        "mkdir -p /dev/shm/ldsim-test", "mount -t tmpfs tmpfs /dev/shm/ldsim-test",
        f"cp {at('/usr/bin/prog')} /dev/shm/ldsim-test/prog",
        f"{{ {shlex.join([sys.executable, '-m', 'ldsim', 'scan', '--format', 'jsonl', '/dev/shm/ldsim-test'])}; echo \"[rc=$?]\"; }}",
    ])
    mounted = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                              script], capture_output=True, text=True, env=env, check=False)
    assert plain.returncode == 0, plain.stderr
    parts = mounted.stdout.split("[rc=")
    assert len(parts) == 4, (mounted.stdout[-3000:], mounted.stderr[-3000:])
    # each command's output, then "[rc=N]": N starts the next part
    whole, asked, shm = (lines(parts[0]), parts[1].split("\n", 1)[1],
                         lines(parts[2].split("\n", 1)[1]))
    assert [p[:2] for p in parts[1:]] == ["0]", "2]", "0]"], parts
    before = lines(plain.stdout)
    # the program on the tmpfs over a proc is found; kfile (a proc file now) not looked at
    assert sorted(d["executable"] for d in whole[:-1]) == \
        sorted([d["executable"] for d in before[:-1]] + ["/over/prog", "/sub/p/prog"]), whole
    assert whole[-1]["walk"]["files_looked_at"] == before[-1]["walk"]["files_looked_at"] + 1
    assert whole[-1]["walk"]["problems"] == [] and whole[-1]["exit_status"] == 0, whole[-1]
    assert "/srv/chroot/proc/kmsg\",\"error\":\"on the proc file system mounted at " \
        "/srv/chroot/proc, whose files are the kernel's state: not read" in asked, asked
    assert [d["executable"] for d in shm[:-1]] == ["/dev/shm/ldsim-test/prog"], shm


def test_an_include_glob_that_matches_nothing_is_not_a_clean_scan(root: Root) -> None:
    """``--include 'usr/bin/*'`` (no leading slash) matches no path: the scan of nothing
    would exit 0 and a CI job pass. Each glob that matched no ELF file is named, exit 2; a
    glob that matched is not."""
    argv = ("scan", "--root", str(root.path), "--color", "never")
    status, out, err = cli(*argv, "--include", "usr/bin/*")
    assert status == 2, (out, err)
    why = "an --include glob that selected no ELF file to scan (a glob matches a whole path " \
          "in the root, from its leading /; --exclude leaves out what it also matches)"
    assert err == f"ldsim: warning: usr/bin/*: {why}\n"
    status, out, err = cli(*argv, "--include", "/usr/bin/*", "--include", "/nothing/*")
    assert status == 2 and f"ldsim: warning: /nothing/*: {why}\n" in err, (out, err)
    assert "/usr/bin/*:" not in err
    status, _out, err = cli(*argv, "--include", "/usr/bin/env", "--format", "jsonl")
    assert status == 0 and err == "", err
    # what an --exclude then leaves out is not selected, a file or its whole directory alike
    for exclude in ("/usr/bin", "/usr/bin/*"):
        status, _out, err = cli(*argv, "--include", "/usr/bin/env", "--exclude", exclude)
        assert status == 2 and err == f"ldsim: warning: /usr/bin/env: {why}\n", (exclude, err)


def test_a_damaged_database_is_one_line_whatever_page_is_damaged(root: Root,
                                                                  tmp_path: Path) -> None:
    """Each page of a kept scan's database overwritten in turn (a disk's damage, a crafted
    file): `--report` and a scan with it say what is wrong in one line, exit 2, or (where
    the damage lies in records a scan redoes) go on; never an internal error (exit 3),
    never raw bytes of the file."""
    good = tmp_path / "good.sqlite"
    assert cli("scan", "--db", str(good), "--root", str(root.path), "--jobs", "1")[0] in (1, 2)
    data = good.read_bytes()
    assert len(data) >= 8 * 4096, len(data)  # the store's pages: meta, results, dirs...
    seen = set()
    for page in range(1, len(data) // 4096):
        db = tmp_path / f"p{page}.sqlite"
        db.write_bytes(data[:page * 4096] + b"\xff" * 4096 + data[(page + 1) * 4096:])
        for argv in (("--report",), ("--root", str(root.path), "--jobs", "1")):
            status, _out, err = cli("scan", "--db", str(db), *argv)
            assert status in (0, 1, 2) and "internal error" not in err, (page, argv, err)
            assert "\xff" not in err and "\udcff" not in err, err
            if status == 2 and err.startswith(f"ldsim: error: {db}:"):
                assert err.count("\n") == 1, err
                seen.add(err.split(":", 2)[2].split("(")[0].strip())
    assert seen, "no page's damage was noticed: nothing was tested"


def test_include_and_exclude_are_for_a_root_not_snaps(snaps: dict[str, Path]) -> None:
    """A snap is compared whole: --include/--exclude with --snap are refused, not ignored."""
    snap = str(next(iter(snaps.values())))
    for option in ("--include", "--exclude"):
        status, _out, err = cli("scan", "--snap", snap, option, "/usr/bin/*")
        assert status == 2 and err == f"ldsim: error: {option}: selects files of a root's " \
            "walk; a snap is compared whole (give either, not both)\n", err


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="bind-mounts a proc file (root, util-linux's unshare)")
def test_a_directory_with_something_mounted_in_it_is_never_kept(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """A proc file bind-mounted onto a program: a scan with --db does not open it, and keeps
    no record of that directory, so once it is unmounted the next scan with the same
    database finds the program again (a record made while it was hidden left it out for as
    long as the directory's mtime stayed the same)."""
    import shlex

    r = Root(tmp_path / "r")
    r.mkexe("/usr/bin/prog")
    r.mkexe("/usr/bin/hidden")
    old = time.time_ns() - 3600 * 10**9
    os.utime(r.path / "usr/bin", ns=(old, old))  # (a directory changed just now is not kept)
    db = tmp_path / "r.sqlite"
    scan = [sys.executable, "-m", "ldsim", "scan", "--root", str(r.path), "--db", str(db),
            "--format", "jsonl", "/usr/bin"]
    hidden = shlex.quote(str(r.path / "usr/bin/hidden"))
    script = (f"mount --bind /proc/version {hidden} && {shlex.join(scan)}; echo '[--]'; "
              f"umount {hidden} && {shlex.join(scan)}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    ran = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          script], capture_output=True, text=True, env=env, check=False)
    mounted, unmounted = ran.stdout.split("[--]\n")
    assert [d["executable"] for d in lines(mounted)[:-1]] == \
        ["/usr/bin/env", "/usr/bin/prog"], ran.stderr
    assert [d["executable"] for d in lines(unmounted)[:-1]] == \
        ["/usr/bin/env", "/usr/bin/hidden", "/usr/bin/prog"], ran.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="bind-mounts a proc file (root, util-linux's unshare)")
def test_explain_never_reads_a_file_of_the_kernels_state(tmp_path: Path) -> None:
    """``explain`` of a file on a proc file system (given, reached through a link, or
    bind-mounted onto a program or onto a library it needs) refuses it in one line naming
    the file system, as the scan's walk does, and never reads it: reading /proc/kmsg takes
    the kernel's messages from whoever else reads them. It read such files before."""
    import shlex

    r = Root(tmp_path / "r")
    r.mklib("/usr/lib/libk.so.1", "libk.so.1")
    r.mkexe("/usr/bin/prog", link=["/usr/lib/libk.so.1"], rpath="/usr/lib")
    r.mkexe("/usr/bin/over")
    explain = [sys.executable, "-m", "ldsim", "explain", "--root", str(r.path)]
    script = "; ".join([
        f"mount --bind /proc/version {shlex.quote(str(r.path / 'usr/bin/over'))}",
        f"mount --bind /proc/version {shlex.quote(str(r.path / 'usr/lib/libk.so.1'))}",
        f"{shlex.join([*explain, '/usr/bin/over'])}; echo \"[rc=$?]\"",
        f"{shlex.join([*explain, '/usr/bin/prog'])}; echo \"[rc=$?]\"",
        f"{shlex.join([sys.executable, '-m', 'ldsim', 'explain', '/proc/self/status'])}; "
        "echo \"[rc=$?]\""])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    ran = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          script], capture_output=True, text=True, env=env, check=False)
    assert ran.stdout.count("[rc=2]") == 3, (ran.stdout, ran.stderr)
    errors = ran.stderr.strip().splitlines()
    assert errors[0] == "ldsim: error: /usr/bin/over: on a proc file system, whose files " \
        "are the kernel's state: not read", ran.stderr
    assert "/usr/lib/libk.so.1: on a proc file system, whose files are the kernel's state: " \
        "not read" in ran.stdout + ran.stderr, (ran.stdout, ran.stderr)
    assert "Linux version" not in ran.stdout + ran.stderr  # /proc/version was never read
    assert re.fullmatch(r"ldsim: error: /proc/\d+/status: on a proc file system, whose "
                        r"files are the kernel's state: not read", errors[-1]), ran.stderr


def _realpath_fails(path: str) -> bool:
    try:
        os.path.realpath(path)
    except OSError:
        return True
    return False


@pytest.mark.skipif(not _realpath_fails("/proc/1/root"),
                    reason="this machine lets ldsim read /proc/1/root's link")
def test_a_root_whose_link_cannot_be_read_is_one_line() -> None:
    """``--root /proc/1/root`` where that link may not be read (another user's process, or
    a confined one): Python's realpath raises, and the option's check ended ldsim with an
    internal error (exit 3); it is one line naming the root, exit 2."""
    for argv in (["explain", "--root", "/proc/1/root", "/bin/true"],
                 ["scan", "--root", "/proc/1/root", "/bin"]):
        done = subprocess.run([sys.executable, "-m", "ldsim", *argv], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 2 and "internal error" not in done.stderr, done.stderr
        assert done.stderr.startswith("ldsim: error: /proc/1/root: root directory cannot be "
                                      "opened"), done.stderr


_LATE_PROC = r"""
import os, subprocess, sys
from ldsim.errors import AccessError
from ldsim.fs.view import HostDirView
root = sys.argv[1]
print(HostDirView(root).read("/etc/os-release")[:4])  # the mount table is read by now
subprocess.run(["mount", "-t", "proc", "proc", root + "/p"], check=True)
try:
    HostDirView(root).read("/p/version")
    print("read it")
except AccessError as exc:
    print(exc)
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="mounts a proc file system (root, util-linux's unshare)")
def test_a_snap_or_a_late_mount_of_the_kernels_state_is_not_read(tmp_path: Path) -> None:
    """A ``.snap`` given on a proc file system is named, not read (the SquashFS check
    read its first bytes; ``--snap /proc/kmsg`` would have taken the kernel's messages); a
    proc file system mounted after ldsim first read the mount table has a device of its
    own, and is refused all the same (the table is read again for a device it does not
    list)."""
    for argv in (["explain", "--snap", "/proc/version", "/bin/app"], ["lint", "/proc/version"]):
        done = subprocess.run([sys.executable, "-m", "ldsim", *argv], capture_output=True,
                              text=True, check=False)
        assert (done.returncode, done.stdout) == (2, ""), (done.stdout, done.stderr)
        assert done.stderr == "ldsim: error: /proc/version: snap is on a proc file system, " \
            "whose files are the kernel's state: not read\n", done.stderr
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "p").mkdir()
    (root / "etc/os-release").write_text("ID=x\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    ran = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                          "-c", _LATE_PROC, str(root)], capture_output=True, text=True,
                         env=env, check=False)
    assert ran.stdout.splitlines() == [
        "b'ID=x'", "/p/version: on a proc file system, whose files are the kernel's state: "
        "not read"], (ran.stdout, ran.stderr)


# Run in a child Python (the pool's thread would hang this process's exit if the scan did):
# every task dies as a worker killed in the worst place would, holding the result queue's
# lock with half a result written to its pipe.
_DIES_MIDWAY = r"""
import os, struct, sys
import ldsim
import ldsim.scanner.engine as engine

def dies(*_args):
    frame = sys._getframe()
    while frame.f_code.co_name != "_process_worker":  # concurrent.futures' worker loop
        frame = frame.f_back
    queue = frame.f_locals["result_queue"]
    queue._wlock.acquire()
    os.write(queue._writer.fileno(), struct.pack("!i", 1 << 20) + b"half a result")
    os._exit(9)

engine.scan_files = dies
try:
    for _r in ldsim.scan(sys.argv[1], jobs=2):
        pass
except ldsim.LdsimError as exc:
    print(exc)
"""


def test_a_worker_that_dies_holding_the_pools_result_lock_stops_the_scan(root: Root) -> None:
    """A worker killed while it held the pool's result queue (its lock taken, half a result
    in the pipe): CPython's pool then waits on it forever, its other worker and its own
    thread alike, and so did the scan (about one kill in 15 at random moments, measured).
    The scan sees the dead worker, stops in one line and ends its processes."""
    proc = subprocess.run([sys.executable, "-c", _DIES_MIDWAY, str(root.path)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("--jobs: a worker process of this scan died"), proc.stdout
