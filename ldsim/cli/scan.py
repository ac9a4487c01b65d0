"""``ldsim scan``: every ELF file of a tree (or every snap of a batch), resolved as ``ldsim
explain`` resolves each, summed up; streamed as JSON Lines or SARIF for programs; kept in a
SQLite result store so that a rerun only redoes what changed."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from ldsim import api
from ldsim.cli import options
from ldsim.cli.main import COMMANDS
from ldsim.cli.options import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _jobs(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= 4096:
        raise argparse.ArgumentTypeError(f"expected a number of processes (1 to 4096), got "
                                         f"{value!r}")
    return int(value)


def _chunk(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= 100000:
        raise argparse.ArgumentTypeError(f"expected a number of files per task, got {value!r}")
    return int(value)


def _scheduler(value: str) -> str:
    """A Dask scheduler's address: [tcp:// or tls://]HOST:PORT (what ``dask scheduler``
    prints), checked here: Dask's own parsing fails with a traceback."""
    import re

    if not re.fullmatch(r"(?:(?:tcp|tls)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}",
                        value) or not 0 < int(value.rsplit(":", 1)[1]) < 65536:
        raise argparse.ArgumentTypeError(f"expected a Dask scheduler's address, "
                                         f"tcp://HOST:PORT, got {value!r}")
    return value


HELP = COMMANDS["scan"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "scan", help=HELP,
        description="Resolve every ELF file under PATHs (paths inside the root; default: the "
        "whole root) as `ldsim explain` resolves it: a program as the kernel starts it, a "
        "library as `ldd LIB` does. Or, with --snap, compare every ELF file of each snap's "
        "payload in the classic and the strict view, as `ldsim compare --all` does. Symbolic "
        "links are not followed; the root's /proc, /sys, /dev and /run are not walked; "
        "relocatable objects (.o) and core files are counted, not resolved.",
        epilog="Output: a summary for people (default); --format jsonl: one document per "
        "line, in the walk's order (a directory's files by name, then its subdirectories): "
        "ldsim.explain/1 per file, the same document `ldsim explain --json FILE` prints "
        "(ldsim.compare/1 per snap, as `ldsim compare --all --json`), then one "
        "ldsim.scan-summary/1 line, which names the files that could not be read (they have "
        "no document, as `ldsim explain` prints none); --format sarif: a SARIF 2.1.0 log. "
        "With --db FILE (SQLite) every result is kept as it arrives; a rerun with the same "
        "options reads no file whose identity (size, mtime, inode) is unchanged and whose "
        "result's dependencies (every file and directory its lookups looked at) are "
        "unchanged, so an interrupted scan resumes where it stopped; --db FILE --report "
        "prints the kept scan again without scanning. "
        "Exit status: 0 every file starts; 1 some file does not start or fails at run time "
        "(a snap: leaks from the host or misses a library); 2 bad usage, or something could "
        "not be read (named in the summary; the rest is scanned); 3 a bug in ldsim (the rest "
        "is scanned). The worst applies.")
    options.add_output_options(p)
    p.add_argument("--root", default="/", metavar="DIR",
                   help="the root filesystem to scan and resolve in (default: /)")
    p.add_argument("--format", choices=["summary", "jsonl", "sarif"], default="summary",
                   help="summary for people (default), jsonl (JSON Lines: one document per "
                   "file, then a summary line), or sarif")
    sel = p.add_argument_group("what to scan")
    sel.add_argument("--include", metavar="GLOB", action="append", default=[],
                     help="scan only files whose path in the root matches GLOB (fnmatch: * "
                     "matches / too; repeatable), e.g. --include '/usr/bin/*'; a GLOB that "
                     "selects no ELF file is named, exit status 2")
    sel.add_argument("--exclude", metavar="GLOB", action="append", default=[],
                     help="skip files and directories whose path matches GLOB (repeatable), "
                     "e.g. --exclude '/usr/lib/debug/*'")
    sel.add_argument("--snap", metavar="SNAP", nargs="+", action="extend", default=[],
                     help="scan these snaps (.snap files, prime directories or unpacked "
                     "snaps) instead of a root: payload + base + host, both views")
    sel.add_argument("--base-dir", metavar="DIR", default=None,
                     help="with --snap: find each snap's base by name here (BASE/, BASE.snap "
                     "or the highest BASE_REV.snap; default: HOST/snap/BASE/current)")
    sel.add_argument("--host", metavar="DIR", default="/",
                     help="with --snap: the host root filesystem (default: /)")
    run = p.add_argument_group("how to run")
    run.add_argument("-j", "--jobs", metavar="N", type=_jobs, default=None,
                     help=f"local worker processes (default: every core, here "
                     f"{api.usable_cores()}; 1: in this process); with one for every core they run "
                     "at a lower priority (nice +10) than the walk that feeds them")
    run.add_argument("--scheduler", metavar="ADDRESS", default=None, type=_scheduler,
                     help="hand the work to this Dask distributed scheduler (tcp://HOST:PORT; "
                     "pip install 'ldsim[dask]'), whose workers must run the same ldsim and "
                     "see the same files at the same paths")
    run.add_argument("--chunk", metavar="N", type=_chunk, default=None,
                     help="files per task (default: 64; a pool's first tasks are smaller: 8, "
                     "16, 32, ... so that its workers start early)")
    run.add_argument("--db", metavar="FILE", default=None,
                     help="keep every result in this SQLite file and reuse what is unchanged "
                     "(created when missing; schema ldsim.scan-db/1)")
    run.add_argument("--report", action="store_true",
                     help="with --db: print the kept scan again (in --format) without scanning")
    run.add_argument("--rescan-all", action="store_true",
                     help="with --db: list every directory again, even those whose mtime is "
                     "unchanged (finds a non-ELF file rewritten in place into an ELF file)")
    proc = p.add_argument_group("the simulated process (as for explain)")
    options.add_process_options(proc)
    options.add_loader_options(proc)
    p.add_argument("--symbols", action="store_true",
                   help="also bind every undefined symbol of every object (slower)")
    p.add_argument("--dlopen", action="store_true",
                   help="also make the dlopen calls each file's objects declare (ELF dlopen "
                   "notes) or hint at, as `ldsim explain --dlopen` does (dlopen-missing "
                   "findings by priority); with --snap, as `ldsim compare --dlopen` does")
    p.add_argument("paths", metavar="PATH", nargs="*",
                   help="files or directories inside the root to scan (default: the whole "
                   "root); a relative one is in the working directory, as explain's program "
                   "is (--cwd; with --root /, the current directory)")
    # what --report cannot honour: every option that would change what a scan finds
    scanning = {a.dest: (a.option_strings[-1] if a.option_strings else "PATH", a.default)
                for a in p._actions if a.dest not in _REPORT_TAKES}
    p.set_defaults(func=run_scan, check=False, scan_options=scanning)


_REPORT_TAKES = frozenset({"help", "db", "report", "format", "color", "width", "func",
                           "check", "paths", "jobs", "chunk", "scheduler", "rescan_all", "root"})
"""What ``--report`` takes besides the database: how to print the kept scan, and how a
scan would run (which changes none of its results). PATHs are refused on their own; a
``--root`` must be the kept scan's."""


def _check(args: argparse.Namespace) -> None:
    if args.report and not args.db:
        raise api.UsageError("--report", "reads a kept scan: give --db FILE")
    if args.report and (args.paths or args.snap):
        raise api.UsageError("--report", "prints the kept scan as it was; to scan PATHs "
                             "again, leave out --report")
    if args.report:
        given = [name for dest, (name, default) in args.scan_options.items()
                 if getattr(args, dest, default) != default]
        if given:
            raise api.UsageError("--report", f"prints the kept scan as it was made, which "
                                 f"{', '.join(given)} would not change: leave "
                                 f"{'it' if len(given) == 1 else 'them'} out, or scan again "
                                 "without --report")
    if args.snap and args.paths:
        raise api.UsageError("PATH", "give either PATHs of a root or --snap SNAPs, not both")
    if args.snap and (args.include or args.exclude):
        raise api.UsageError("--include" if args.include else "--exclude", "selects files "
                             "of a root's walk; a snap is compared whole (give either, not "
                             "both)")
    if args.snap and args.root != "/":
        raise api.UsageError("--root", "use --host with --snap (the snaps' views are built "
                             "from it)")
    if not args.snap:
        for opt in ("base_dir",):
            if getattr(args, opt) is not None:
                raise api.UsageError(f"--{opt.replace('_', '-')}", "only makes sense with "
                                     "--snap")
        if args.host != "/":
            raise api.UsageError("--host", "only makes sense with --snap (a root scan "
                                 "resolves in --root)")
    if args.jobs is not None and args.scheduler:
        raise api.UsageError("--jobs", "the Dask cluster's workers do the work with "
                             "--scheduler: leave out --jobs")


def run_scan(args: argparse.Namespace) -> int:
    _check(args)
    if args.report:
        return _report(args)
    env = options.loader_env(args)
    if not args.snap:  # a snap's programs run in views of their own
        options.check_cwd(args, api.open_root(args.root))
    jobs = args.jobs or api.usable_cores()
    if args.snap:
        what = ""  # "Scanned 3 snaps"
    else:
        where = ", ".join(args.paths) if args.paths else "the whole root"
        what = f"under {where}" + (f" of {args.root}" if args.root != "/" else "")
    show, clear = options.progress_line(label="scan ")
    scan = api.scan(args.root, args.paths, snaps=args.snap, base_dir=args.base_dir,
                    host=args.host, env=env, loader=options.loader(args),
                    symbols=args.symbols, include=args.include, exclude=args.exclude,
                    jobs=jobs, scheduler=args.scheduler, chunk=args.chunk or 0, db=args.db,
                    documents=args.format == "jsonl", rescan_all=args.rescan_all,
                    progress=show, dlopen=args.dlopen,
                    # a cluster's trouble is said in one line; its log only when debugging
                    dask_logs=bool(os.environ.get("LDSIM_DEBUG")))
    scan.summary.keep_problems = args.format == "sarif"  # only SARIF lists every one
    start = time.monotonic()
    # what is alive now lives to the end; the scan's own garbage is young and short-lived:
    # fewer, cheaper collections (a tenth of a whole-tree scan's time otherwise)
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        for result in scan:
            if args.format == "jsonl" and result.doc is not None:
                options.write_line(result.doc)
    finally:
        clear()
    seconds = time.monotonic() - start
    summary = scan.summary
    _warn(summary)
    if args.format == "jsonl":
        options.write(str(api.render(summary, "json")) + "\n")
    elif args.format == "sarif":
        options.write(api.render(summary, "sarif"))
    else:
        # (the renderer shows what and how safely: given as they are)
        how = [f"{seconds:.1f} s", "in Dask cluster " + args.scheduler
               if args.scheduler else (f"{jobs} jobs" if jobs > 1 else "1 process")]
        if args.db:
            kept = summary.reused
            how.append(f"{kept:,} {'result' if kept == 1 else 'results'} reused from "
                       f"{args.db}")
            if summary.invalidated:
                how.append(f"{summary.invalidated:,} redone: something they depend on "
                           "changed")
        options.write(api.render(summary, "text", what=what, how="Took " + ", ".join(how),
                                 **options.text_options(args)))
    return summary.exit_status


def _warn(summary: Any) -> None:
    """Name each file that could not be read on standard error, as every command does."""
    for path, err in [*summary.walk_problems, *summary.unreadable, *summary.errors][:50]:
        sys.stderr.write(f"ldsim: warning: {shown(path)}: {shown(err)}\n")


def _report(args: argparse.Namespace) -> int:
    import sqlite3

    try:
        return _print_kept(args)
    except sqlite3.Error as exc:  # a damaged database (one that is no store is named sooner)
        raise api.UsageError(args.db, f"the scan database cannot be read ({exc})") from None


def _print_kept(args: argparse.Namespace) -> int:
    kept = api.stored_scan(args.db)
    made = kept.store.get("config")
    made_in = made.get("root") if isinstance(made, dict) else None  # its real path
    if args.root != "/" and (kept.snaps or api.real_path(args.root) != made_in):
        raise api.UsageError("--report", f"the scan kept in {shown(args.db)} is of "
                             f"{'snaps' if kept.snaps else shown(kept.root or '?')}, not of "
                             f"{shown(args.root)}: leave --root out, or scan again without "
                             "--report")
    if not kept.done:
        sys.stderr.write(f"ldsim: warning: the scan kept in {shown(args.db)} did not finish; "
                         "these are its results so far (run the same scan again to resume "
                         "it)\n")
    summary = kept.summary
    _warn(summary)  # as the scan named them
    if args.format == "jsonl":
        for result in kept.results(documents=True):
            if result.doc is not None:
                options.write_line(result.doc)
        options.write(str(api.render(summary, "json")) + "\n")
    elif args.format == "sarif":
        options.write(api.render(summary, "sarif"))
    else:
        paths = ", ".join(kept.paths) if kept.paths else "the whole root"
        of = f" of {kept.root}" if kept.root not in (None, "/") else ""
        what = "" if kept.snaps else f"under {paths}{of}"
        options.write(api.render(summary, "text", what=what,
                                 how=f"Kept in {args.db} (nothing scanned now)",
                                 **options.text_options(args)))
    return summary.exit_status
