#!/usr/bin/env python3
"""Time ``ldsim scan`` beside its peers on the same files, in one run.

Five measurements, each printed as a table with its target and whether it is met:

1. ``ldsim scan --jobs 1 TREE`` (the whole command: ldsim finds the ELF files itself among
   every file of TREE) against a loop running ``libtree FILE`` once per file and against
   Debian's ``lddtree.py`` (pax-utils) imported once into one child Python process that calls
   its ``ParseELF`` for each file. The peers get ldsim's file list for free: it is the
   ``executable`` of every document of ``ldsim scan --format jsonl TREE``, computed once,
   untimed. Target: libtree loop / ldsim >= 2.
2. Peak RSS of ``ldsim scan --jobs 1 TREE``, from GNU ``/usr/bin/time -f %M`` around it
   (``wait4``'s ``ru_maxrss`` alone would include this process's RSS; see ``run_child``).
   Target: < 150 MB.
3. Scaling: ``--jobs 1`` against ``--jobs 2`` (and 4, 8, ... up to the usable cores), with
   the CPU time of each, to tell busy cores from serial work. Target: >= 1.6x with 2.
4. Rescan with ``--db``: a scan with a fresh SQLite store against a second scan of the
   unchanged tree with the same store. Target: the second >= 3x faster.
5. One ``ldsim explain --json PROGRAM`` against ``lddtree PROGRAM`` and ``libtree PROGRAM``
   (whole commands, via ``hyperfine -N`` when installed, as ``bench_explain.py`` does).
   Target: ldsim <= 0.6x lddtree's time.

Before timing, untimed: a walk of TREE of its own (every regular file whose first bytes are
an ELF header of a program or shared object) is compared with ldsim's list, and the verdicts
of the three tools on each file are cross-tabulated (who says which file cannot load).

Every scan measurement is the median of ``--runs`` runs (default 3), timed with
``time.perf_counter`` around the child, the tools of a section taking turns (warm page cache:
the untimed passes read everything first). Children run without ``PYTHONDONTWRITEBYTECODE``
(users have bytecode; ldsim's is compiled first). A peer that is missing or fails is
reported as such, never as a crash. This is a measurement, never a test: nothing here
asserts a time.

Usage: ``python benchmarks/bench_scan.py [--tree DIR] [--quick] [--runs N]
[--explain-runs N] [--sections LIST] [--no-hyperfine] [--json | --markdown]``.
"""

from __future__ import annotations

import argparse
import collections
import compileall
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_explain import (  # a sibling script, not a package
    Tool,
    _ldsim_argv,
    time_tools,
)

SCHEMA = "ldsim.bench_scan/1"
SECTIONS = ("scan", "rss", "jobs", "db", "explain")
DEFAULT_TREE = "/usr"
QUICK_TREE = "/usr/bin"
DEFAULT_PROGRAMS = ("/usr/bin/ssh", "/usr/bin/ls")
PSEUDO_TOP = ("/proc", "/sys", "/dev", "/run")
ET_LOADABLE = (2, 3)  # ET_EXEC, ET_DYN
MB = 1_000_000

# Runs inside a child Python: loads Debian's lddtree script as a module (it has no .py
# suffix, so through SourceFileLoader) and calls ParseELF, the function its main() calls
# for every path, on each file of a NUL-separated list, as `lddtree FILE...` would but
# without printing. argv: SCRIPT LIST REPORT(0|1). Prints one JSON line of counts (and with
# REPORT=1, each file's outcome).
LDDTREE_CHILD = r"""
import importlib.machinery, importlib.util, json, os, sys
import elftools.common.exceptions, elftools.elf.elffile  # bytecode as usual
script, listing, report = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.dont_write_bytecode = True  # never write /usr/bin/__pycache__
loader = importlib.machinery.SourceFileLoader("lddtree", script)
spec = importlib.util.spec_from_loader("lddtree", loader)
mod = importlib.util.module_from_spec(spec)
loader.exec_module(mod)
sys.dont_write_bytecode = False
with open(listing, "rb") as fh:
    files = [p.decode("utf-8", "surrogateescape") for p in fh.read().split(b"\0") if p]
root, cwd, prefix = "/", os.getcwd(), ""  # lddtree's own defaults
ldpaths = mod.LoadLdpaths(root, cwd=cwd, prefix=prefix)
ok = missing = failed = 0
outcomes = {}
for path in files:
    try:
        real = mod.readlink(path, root, prefixed=True)
        tree = mod.ParseELF(real, root, cwd, prefix, ldpaths, display=path)
    except Exception as exc:
        failed += 1
        if report:
            outcomes[path] = "error: %s: %s" % (type(exc).__name__, str(exc)[:200])
        continue
    lost = sorted(k for k, v in tree["libs"].items() if v.get("path") is None)
    if lost:
        missing += 1
        if report:
            outcomes[path] = "not found: " + ", ".join(lost)
    else:
        ok += 1
print(json.dumps({"files": len(files), "ok": ok, "missing": missing, "failed": failed,
                  "outcomes": outcomes}))
"""


# Runs inside a child Python: `libtree FILE` once per file of a NUL-separated list, as a
# shell loop would, each with stdout and stderr to /dev/null. argv: LIBTREE LIST.
LIBTREE_CHILD = r"""
import subprocess, sys
libtree, listing = sys.argv[1], sys.argv[2]
with open(listing, "rb") as fh:
    files = [p for p in fh.read().split(b"\0") if p]
for path in files:
    subprocess.run([libtree, path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
"""


# --------------------------------------------------------------------------- measuring


def child_env() -> dict[str, str]:
    """The environment of every child: this one without PYTHONDONTWRITEBYTECODE."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass(slots=True)
class Sample:
    seconds: float
    maxrss_kib: int | None = None  # ru_maxrss of the child (KiB on Linux)
    returncode: int = 0
    cpu_seconds: float | None = None  # user + system, with its reaped children's


@dataclass(slots=True)
class Row:
    """One command of a section, with its timed runs, or why it has none."""

    name: str
    command: str
    samples: list[Sample] = field(default_factory=list)
    note: str | None = None
    files: int | None = None  # files it covers, for the per-file column

    @property
    def median(self) -> float | None:
        return statistics.median(s.seconds for s in self.samples) if self.samples else None

    @property
    def minimum(self) -> float | None:
        return min(s.seconds for s in self.samples) if self.samples else None

    @property
    def cpu_median(self) -> float | None:
        cpu = [s.cpu_seconds for s in self.samples if s.cpu_seconds is not None]
        return statistics.median(cpu) if cpu else None

    @property
    def rss_max_bytes(self) -> int | None:
        rss = [s.maxrss_kib for s in self.samples if s.maxrss_kib is not None]
        return max(rss) * 1024 if rss else None

    @property
    def rss_median_bytes(self) -> float | None:
        rss = [s.maxrss_kib for s in self.samples if s.maxrss_kib is not None]
        return statistics.median(rss) * 1024 if rss else None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "command": self.command, "median_s": self.median,
                "min_s": self.minimum, "runs": len(self.samples),
                "times_s": [s.seconds for s in self.samples],
                "maxrss_kib": [s.maxrss_kib for s in self.samples],
                "cpu_s": [s.cpu_seconds for s in self.samples],
                "exit_codes": sorted({s.returncode for s in self.samples}),
                "files": self.files, "note": self.note}


def gnu_time() -> str | None:
    """GNU time, if installed: it measures a child's peak RSS without this process's."""
    path = "/usr/bin/time"
    if not os.access(path, os.X_OK):
        return None
    with tempfile.NamedTemporaryFile(prefix="bench-time-") as out:
        probe = subprocess.run([path, "-f", "%M", "-o", out.name, "true"],
                               capture_output=True, check=False)
        ok = probe.returncode == 0 and out.read().strip().isdigit()
    return path if ok else None


def run_child(argv: Sequence[str], stdout_path: str | None = None,
              rss_with: str | None = None) -> Sample:
    """Run ``argv`` once (stdout to ``stdout_path`` or /dev/null, stderr to /dev/null);
    wall time around it, and its peak RSS.

    ``ru_maxrss`` from ``wait4`` counts what the child had before its ``exec``: the copy (or,
    with vfork, the very pages) of this process, whose RSS grows with the file list. So with
    ``rss_with`` (GNU time) the child is started by ``time -f %M``, whose own few MB are the
    floor; without it the figure is ``wait4``'s, floored at this process's RSS."""
    with open(stdout_path or os.devnull, "wb") as out, \
            tempfile.NamedTemporaryFile(prefix="bench-rss-") as rss_file:
        if rss_with:
            argv = [rss_with, "-f", "%M", "-o", rss_file.name, *argv]
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.DEVNULL, env=child_env())
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        maxrss: int | None = int(usage.ru_maxrss)
        if rss_with:  # "Command exited with non-zero status N" may come first
            lines = rss_file.read().decode("ascii", "replace").split()
            maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else None
    return Sample(elapsed, maxrss, proc.returncode, usage.ru_utime + usage.ru_stime)


def progress(msg: str) -> None:
    print(f"[bench_scan] {msg}", file=sys.stderr, flush=True)


def take_turns(rows: Sequence[Row], runners: Sequence[Callable[[], Sample]], runs: int,
               label: str, alternate: bool = False) -> None:
    """``runs`` rounds, each running every runner once in turn (noise spreads evenly);
    ``alternate``: every other round in the reverse order (A B, B A, ...), so that neither
    command always follows the other."""
    pairs = list(zip(rows, runners, strict=True))
    for r in range(runs):
        for row, runner in (pairs[::-1] if alternate and r % 2 else pairs):
            progress(f"{label}: {row.name}, run {r + 1}/{runs}")
            row.samples.append(runner())


# --------------------------------------------------------------------------- the file list


@dataclass(slots=True)
class Listing:
    """What ``ldsim scan --format jsonl TREE`` said, untimed: the peers' input."""

    files: list[str]
    verdicts: dict[str, str]  # path -> "starts" | "does_not_start" | ...
    reasons: dict[str, str]  # path -> first reason, for files that do not start
    digests: dict[str, str]  # path -> digest of its ldsim.explain/1 document
    summary: dict[str, Any]
    returncode: int
    stderr: str


def digest(doc: Any) -> str:
    """A document's fingerprint: the file list stays small in this process."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def list_files(ldsim: Sequence[str], tree: str) -> Listing:
    argv = [*ldsim, "scan", "--jobs", "1", "--format", "jsonl", tree]
    proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, env=child_env(),
                          check=False)
    files: list[str] = []
    verdicts: dict[str, str] = {}
    reasons: dict[str, str] = {}
    digests: dict[str, str] = {}
    summary: dict[str, Any] = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        if doc.get("schema") == "ldsim.scan-summary/1":
            summary = doc
        elif doc.get("schema") == "ldsim.explain/1":
            path = str(doc["executable"])
            files.append(path)
            digests[path] = digest(doc)
            verdict = doc.get("verdict") or {}
            verdicts[path] = str(verdict.get("status"))
            if verdict.get("reasons"):
                reasons[path] = str(verdict["reasons"][0])
    return Listing(files, verdicts, reasons, digests, summary, proc.returncode,
                   proc.stderr.decode("utf-8", "replace"))


def own_walk(tree: str) -> tuple[set[str], int, list[str]]:
    """ELF programs and shared objects under ``tree`` found without ldsim: regular files
    (links not followed) whose header says ET_EXEC or ET_DYN; also the count of other ELF
    files (relocatables, cores) and the paths that could not be read."""
    loadable: set[str] = set()
    other = 0
    unreadable: list[str] = []
    tree = os.path.abspath(tree)
    for top, dirs, names in os.walk(tree, followlinks=False):
        if top == "/":
            dirs[:] = [d for d in dirs if "/" + d not in PSEUDO_TOP]
        for name in names:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode):
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    head = os.read(fd, 18)
                finally:
                    os.close(fd)
            except OSError:
                unreadable.append(path)
                continue
            if head[:4] != b"\x7fELF" or len(head) < 18:
                continue
            e_type = int.from_bytes(head[16:18], "big" if head[5] == 2 else "little")
            if e_type in ET_LOADABLE:
                loadable.add(path)
            else:
                other += 1
    return loadable, other, unreadable


# --------------------------------------------------------------------------- the peers


def libtree_loop(python: str, libtree: str, listfile: str) -> Sample:
    """``libtree FILE`` once per file of the list, stdout and stderr to /dev/null, driven by
    a small child Python (the loop is timed as that one command)."""
    return run_child([python, "-c", LIBTREE_CHILD, libtree, listfile])


def libtree_outcomes(libtree: str, files: Sequence[str]) -> dict[str, str]:
    """Untimed: why libtree fails on each file it fails on (its ``Error [...]: why``)."""
    env = child_env()
    out: dict[str, str] = {}
    for path in files:
        proc = subprocess.run([libtree, path], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                              check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            why = lines[0] if lines else "no message"
            why = re.sub(r"^Error \[.*?\]:\s*", "", why)
            out[path] = f"exit {proc.returncode}: {why}"
    return out


def lddtree_script() -> tuple[str | None, str | None]:
    """(path of Debian's Python lddtree, None) or (None, why it cannot be used)."""
    path = shutil.which("lddtree")
    if path is None:
        return None, "not installed (apt-get install pax-utils)"
    try:
        with open(path, "rb") as fh:
            text = fh.read(1 << 20)
    except OSError as exc:
        return None, f"unreadable: {exc}"
    if b"python" not in text.split(b"\n", 1)[0] or b"def ParseELF(" not in text:
        return None, f"{path} is not the Python lddtree.py (no ParseELF)"
    return path, None


def lddtree_python() -> tuple[str | None, str | None]:
    """The interpreter for the in-process lddtree loop: ldsim's (it has pyelftools), else
    the system's."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if not os.access(exe, os.X_OK):
            continue
        probe = subprocess.run([exe, "-c", "import elftools"], capture_output=True,
                               env=child_env(), check=False)
        if probe.returncode == 0:
            return exe, None
    return None, "pyelftools missing (pip install pyelftools, or apt-get install " \
                 "python3-pyelftools)"


def lddtree_once(python: str, script: str, listfile: str, report: bool,
                 rss_with: str | None = None) -> tuple[Sample, dict[str, Any]]:
    with tempfile.NamedTemporaryFile(prefix="bench-lddtree-", suffix=".json") as out:
        sample = run_child([python, "-c", LDDTREE_CHILD, script, listfile,
                            "1" if report else "0"], out.name, rss_with)
        text = out.read().decode("utf-8", "replace").strip()
    result: dict[str, Any] = json.loads(text.splitlines()[-1]) if text else {}
    return sample, result


def _lddtree_timed(python: str, script: str, listfile: str, rss_with: str | None) -> Sample:
    return lddtree_once(python, script, listfile, False, rss_with)[0]


# --------------------------------------------------------------------------- output


@dataclass(slots=True)
class Target:
    section: str
    measure: str
    value: float | None
    op: str  # ">=", "<=" or "<"
    goal: float
    unit: str = "x"
    note: str | None = None

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return {">=": self.value >= self.goal, "<=": self.value <= self.goal,
                "<": self.value < self.goal}[self.op]

    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "n/a"}[self.met] + \
            (f": {self.note}" if self.note and self.met is None else "")

    def fmt(self, v: float) -> str:
        return f"{v:.2f}{self.unit}" if self.unit == "x" else f"{v:.1f} {self.unit}"

    def line(self) -> str:
        value = self.fmt(self.value) if self.value is not None else "n/a"
        return f"target: {self.measure} {self.op} {self.fmt(self.goal)}: {value}, " \
               f"{self.verdict()}"

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "measure": self.measure, "value": self.value,
                "op": self.op, "goal": self.goal, "unit": self.unit, "met": self.met,
                "note": self.note}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """Aligned columns (first left, the rest right), or a Markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(headers)))
                 + " |"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n" + "\n".join(lines) + "\n"  # blank lines around it: a Markdown block
    def is_note(r: Sequence[str]) -> bool:  # a name and why it has no figures
        return len(r) > 2 and not any(r[2:])

    full = [headers, *[r for r in rows if not is_note(r)]]
    widths = [max(len(str(r[i])) for r in full) for i in range(len(headers))]
    widths[0] = max(len(r[0]) for r in [headers, *rows])
    out = []
    for r in [headers, *rows]:
        if r is not headers and is_note(r):
            out.append(f"  {r[0]:<{widths[0]}}  {r[1]}")
            continue
        out.append("  " + "  ".join(f"{c:<{widths[i]}}" if i == 0 else f"{c:>{widths[i]}}"
                                    for i, c in enumerate(r)).rstrip())
    return "\n".join(out)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fx(v: float | None, spec: str = ".2f", suffix: str = "x") -> str:
    return f"{v:{spec}}{suffix}" if v is not None else "n/a"


def fs(v: float | None) -> str:
    return f"{v:.3f}" if v is not None else "n/a"


def time_rows(rows: Sequence[Row], base: Row | None, markdown: bool,
              per_file: bool = False, vs: str = "vs ldsim") -> str:
    headers = ["command", "median s", "min s"]
    if per_file:
        headers.append("ms/file")
    headers += [vs, "runs"]
    body: list[list[str]] = []
    for row in rows:
        if not row.samples:
            body.append([row.name, row.note or "n/a", *[""] * (len(headers) - 2)])
            continue
        cells = [row.name, fs(row.median), fs(row.minimum)]
        if per_file:
            med = row.median
            cells.append(f"{1000 * med / row.files:.2f}" if row.files and med else "n/a")
        cells += [fx(ratio(row.median, base.median if base else None)), str(len(row.samples))]
        body.append(cells)
    return table(headers, body, markdown)


def examples(paths: Sequence[str], n: int = 3) -> str:
    shown = ", ".join(list(paths)[:n])
    return shown + (f", ... ({len(paths)} in all)" if len(paths) > n else "")


# --------------------------------------------------------------------------- the sections


@dataclass(slots=True)
class Bench:
    tree: str
    runs: int
    explain_runs: int
    warmup: int
    use_hyperfine: bool
    markdown: bool
    ldsim: list[str]
    listing: Listing
    listfile: str
    quiet: bool = False
    rss_with: str | None = None  # GNU time, else wait4
    targets: list[Target] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    _jobs1: Row | None = None

    def out(self, text: str = "") -> None:
        if not self.quiet:
            print(text, flush=True)

    def scan_argv(self, *extra: str) -> list[str]:
        return [*self.ldsim, "scan", *extra, self.tree]

    def jobs1(self) -> Row:
        """``ldsim scan --jobs 1 TREE``, measured once for sections 1-3."""
        if self._jobs1 is None:
            argv = self.scan_argv("--jobs", "1")
            row = Row("ldsim scan --jobs 1", " ".join(argv), files=len(self.listing.files))
            take_turns([row], [functools.partial(run_child, argv, None, self.rss_with)],
                       self.runs, "ldsim --jobs 1")
            self._jobs1 = row
        return self._jobs1

    # 1 -----------------------------------------------------------------
    def section_scan(self) -> None:
        files = self.listing.files
        n = len(files)
        argv = self.scan_argv("--jobs", "1")
        ldsim_row = Row("ldsim scan --jobs 1", " ".join(argv), files=n)
        rows: list[Row] = [ldsim_row]
        runners: list[Callable[[], Sample]] = [
            functools.partial(run_child, argv, None, self.rss_with)]
        libtree = shutil.which("libtree")
        lt_row = Row("libtree loop", f"{sys.executable} -c 'for FILE in LIST: run "
                     f"{libtree or 'libtree'} FILE'", files=n)
        lt_out: dict[str, str] = {}
        if libtree is None:
            lt_row.note = "not installed (apt-get install libtree)"
        else:
            progress(f"libtree: untimed pass over {n} files")
            lt_out = libtree_outcomes(libtree, files)
            rows.append(lt_row)
            runners.append(functools.partial(libtree_loop, sys.executable, libtree,
                                             self.listfile))
        # the same loop starting `true FILE` instead: what creating a process per file costs
        # on this machine, the part of the libtree loop that is not libtree's own work (the
        # target's ratio moves with it from one machine to another)
        true = shutil.which("true")
        spawn_row = Row("spawn-only loop (`true FILE`)", f"{sys.executable} -c 'for FILE in "
                        f"LIST: run {true or 'true'} FILE'", files=n)
        if libtree is not None and true is not None:
            rows.append(spawn_row)
            runners.append(functools.partial(libtree_loop, sys.executable, true,
                                             self.listfile))
        script, why = lddtree_script()
        python, why_py = lddtree_python()
        ld_row = Row("lddtree.py in one process",
                     f"{python} -c '<load {script}; ParseELF(FILE) for FILE in LIST>'", files=n)
        ld_res: dict[str, Any] = {}
        if script is None or python is None:
            ld_row.note = why or why_py
        else:
            progress(f"lddtree: untimed pass over {n} files")
            check, ld_res = lddtree_once(python, script, self.listfile, True)
            if check.returncode != 0 or not ld_res:
                ld_row.note = f"failed (exit {check.returncode})"
            else:
                # lddtree.py (no target) is timed on its own, first: the command run right
                # after its 40 s of work was measured 8-17% slower (ldsim: 1.52-1.64 s
                # against 1.40-1.43 s; the libtree loop, which then followed ldsim, was not),
                # so in one round of three, ldsim always came after it and paid for it
                take_turns([ld_row], [functools.partial(_lddtree_timed, python, script,
                                                        self.listfile, self.rss_with)],
                           self.runs, "scan")
                progress("scan: ldsim scan --jobs 1, untimed (after lddtree.py)")
                run_child(argv)
        take_turns(rows, runners, self.runs, "scan", alternate=True)
        if self._jobs1 is None:
            self._jobs1 = ldsim_row
        shown = [ldsim_row, lt_row, *([spawn_row] if spawn_row.samples else []), ld_row]
        self.out(f"1. Scan of {self.tree} in one process: {n} ELF files "
                 f"({self.listing.summary.get('walk', {}).get('files_looked_at', '?')} files "
                 f"looked at by ldsim)")
        self.out(time_rows(shown, ldsim_row, self.markdown, per_file=True))
        t1 = Target("scan", "libtree loop / ldsim", ratio(lt_row.median, ldsim_row.median),
                    ">=", 2.0, note=lt_row.note)
        self.targets.append(t1)
        self.out(t1.line())
        if spawn_row.median is not None and lt_row.median is not None:
            own = lt_row.median - spawn_row.median
            self.out(f"        libtree loop less the spawn-only loop: {own:.3f} s, libtree's own "
                     f"work; creating the {n} processes costs {spawn_row.median:.3f} s here "
                     f"(spawn-only loop / ldsim: {fx(ratio(spawn_row.median, ldsim_row.median))})")
        self.out(f"        lddtree.py / ldsim: {fx(ratio(ld_row.median, ldsim_row.median))} "
                 "(no target)")
        codes = sorted({s.returncode for s in ldsim_row.samples})
        self.out(f"ldsim exit status {codes} (0 all start, 1 some do not, 2 something "
                 "unreadable, 3 a bug)")
        self.report["scan"] = {"files": n, "rows": [r.to_json() for r in shown]}
        self.out()
        self.disagreements(lt_out if libtree else None, ld_res or None, ld_row.samples)

    def disagreements(self, lt_out: dict[str, str] | None, ld_res: dict[str, Any] | None,
                      ld_samples: Sequence[Sample]) -> None:
        """Untimed: who says which file cannot load, and what they failed on."""
        lst = self.listing
        bad = sorted(p for p, v in lst.verdicts.items() if v != "starts")
        lines = [f"Verdicts on the same {len(lst.files)} files (untimed):",
                 f"  ldsim: {len(lst.files) - len(bad)} start, {len(bad)} do not"]
        why = collections.Counter(_short(lst.reasons.get(p, "?")) for p in bad)
        for reason, count in why.most_common(6):
            lines.append(f"    {count:6d}  {reason}")
        info: dict[str, Any] = {"ldsim_not_starting": len(bad),
                                "ldsim_reasons": dict(why.most_common())}
        if lt_out is not None:
            lines.append(f"  libtree: {len(lst.files) - len(lt_out)} exit 0, {len(lt_out)} "
                         "fail")
            c = collections.Counter(_short(v) for v in lt_out.values())
            for reason, count in c.most_common(6):
                lines.append(f"    {count:6d}  {reason}")
            only_ldsim = [p for p in bad if p not in lt_out]
            only_lt = sorted(p for p in lt_out if lst.verdicts.get(p) == "starts")
            lines.append(f"    ldsim 'does not start', libtree exit 0: {len(only_ldsim)}"
                         + (f"  e.g. {examples(only_ldsim)}" if only_ldsim else ""))
            lines.append(f"    ldsim 'starts', libtree fails: {len(only_lt)}"
                         + (f"  e.g. {examples(only_lt)}" if only_lt else ""))
            info["libtree_failing"] = len(lt_out)
            info["libtree_reasons"] = dict(c.most_common())
            info["ldsim_only"] = len(only_ldsim)
            info["libtree_only"] = len(only_lt)
            info["libtree_only_examples"] = only_lt[:20]
        if ld_res is not None:
            outcomes: dict[str, str] = ld_res.get("outcomes", {})
            lines.append(f"  lddtree.py: {ld_res.get('ok')} all found, {ld_res.get('missing')} "
                         f"with a library not found, {ld_res.get('failed')} raised")
            c = collections.Counter(_short(v) for v in outcomes.values())
            for reason, count in c.most_common(6):
                lines.append(f"    {count:6d}  {reason}")
            only_ld = sorted(p for p in outcomes if lst.verdicts.get(p) == "starts")
            lines.append(f"    ldsim 'starts', lddtree.py not found/raised: {len(only_ld)}"
                         + (f"  e.g. {examples(only_ld)}" if only_ld else ""))
            rss = [s.maxrss_kib for s in ld_samples if s.maxrss_kib]
            if rss:
                lines.append(f"    (its peak RSS: {max(rss) * 1024 / MB:.0f} MB)")
            info["lddtree"] = {k: ld_res.get(k) for k in ("ok", "missing", "failed")}
            info["lddtree_reasons"] = dict(c.most_common())
            info["lddtree_only_examples"] = only_ld[:20]
        self.out("\n".join(lines))
        self.report["verdicts"] = info

    # 2 -----------------------------------------------------------------
    def section_rss(self) -> None:
        row = self.jobs1()
        peak = row.rss_max_bytes
        med = row.rss_median_bytes
        how = f"{self.rss_with} -f %M" if self.rss_with else \
            "ru_maxrss from wait4, at least this process's RSS: install GNU time"
        self.out(f"2. Peak RSS of `ldsim scan --jobs 1 {self.tree}` ({how})")
        self.out(table(["command", "median MB", "max MB", "runs"],
                       [[row.name, fx(med / MB if med else None, ".1f", ""),
                         fx(peak / MB if peak else None, ".1f", ""), str(len(row.samples))]],
                       self.markdown))
        t = Target("rss", "peak RSS", peak / MB if peak else None, "<", 150.0, "MB")
        self.targets.append(t)
        self.out(t.line())
        self.report["rss"] = {"max_bytes": peak, "median_bytes": med}

    # 3 -----------------------------------------------------------------
    def section_jobs(self) -> None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)
        counts = [1]
        while counts[-1] * 2 <= cores:
            counts.append(counts[-1] * 2)
        if counts[-1] != cores:
            counts.append(cores)
        if len(counts) == 1:
            counts.append(2)  # one core: still show what two processes do
        rows: list[Row] = []
        runners: list[Callable[[], Sample]] = []
        for j in counts:  # --jobs 1 again, taking turns with the others: same conditions
            argv = self.scan_argv("--jobs", str(j))
            rows.append(Row(f"ldsim scan --jobs {j}", " ".join(argv)))
            runners.append(functools.partial(run_child, argv))
        take_turns(rows, runners, self.runs, "jobs", alternate=True)
        base = rows[0]
        self.out(f"3. Scaling on {cores} usable core(s): --jobs 1 vs more processes (taking "
                 "turns)")
        body = []
        for j, row in zip(counts, rows, strict=True):
            sp = ratio(base.median, row.median)
            body.append([row.name, fs(row.median), fs(row.minimum), fs(row.cpu_median),
                         fx(ratio(row.cpu_median, row.median), ".2f", ""), fx(sp),
                         fx(sp / j if sp else None, ".2f", ""),
                         "" if j <= cores else f"only {cores} core(s)"])
        self.out(table(["command", "median s", "min s", "CPU s", "CPU/wall", "speed-up",
                        "per process", "note"], body, self.markdown))
        self.out("        CPU s: user + system of ldsim and its workers; CPU/wall well under N "
                 "with --jobs N: the cores were not free (or the work was serial)")
        t = Target("jobs", "--jobs 1 / --jobs 2", ratio(base.median, rows[1].median), ">=", 1.6,
                   note=None if cores >= 2 else "one core")
        if cores < 2:
            t.value = None
        self.targets.append(t)
        self.out(t.line())
        self.report["jobs"] = {"cores": cores, "rows": [r.to_json() for r in rows]}

    # 4 -----------------------------------------------------------------
    def section_db(self) -> None:
        first = Row("first scan, fresh --db", " ".join(self.scan_argv("--jobs", "1", "--db",
                                                                      "DB")))
        second = Row("rescan, same --db", first.command)
        reused: list[int] = []
        check: dict[str, Any] = {}
        for r in range(self.runs):
            with tempfile.TemporaryDirectory(prefix="bench-scan-db-") as tmp:
                db = os.path.join(tmp, "scan.db")
                argv = self.scan_argv("--jobs", "1", "--db", db)
                progress(f"db: first scan, run {r + 1}/{self.runs}")
                first.samples.append(run_child(argv))
                progress(f"db: rescan, run {r + 1}/{self.runs}")
                out = os.path.join(tmp, "rescan.txt")
                second.samples.append(run_child(argv, out))
                with open(out, encoding="utf-8", errors="replace") as fh:
                    m = re.search(r"(\d[\d,.]*) results? reused", fh.read())
                if m:
                    reused.append(int(re.sub(r"\D", "", m.group(1))))
                if r == self.runs - 1:
                    check = self.compare_rescan(db)
        base = self._jobs1
        rows = [first, second]
        self.out(f"4. Rescan of the unchanged {self.tree} with --db (--jobs 1, a fresh "
                 "temporary db per run)")
        self.out(time_rows(rows, first, self.markdown, vs="vs first"))
        if base is not None:
            self.out(f"        first scan with --db / without: "
                     f"{fx(ratio(first.median, base.median))} (cost of writing the db)")
        if reused:
            total = self.listing.summary.get("files", len(self.listing.files))
            self.out(f"        results reused by the rescan: {min(reused)} of {total} "
                     "(ldsim's count, with the files it could not read)")
        if check:
            self.out(f"        rescan --format jsonl == fresh scan --format jsonl: "
                     f"{check['identical']} ({check['differing']} documents differ"
                     + (f", e.g. {check['example']}" if check.get("example") else "") + ")")
        t = Target("db", "first / rescan", ratio(first.median, second.median), ">=", 3.0)
        self.targets.append(t)
        self.out(t.line())
        self.report["db"] = {"rows": [r.to_json() for r in rows], "reused": reused,
                             "rescan_check": check}

    def compare_rescan(self, db: str) -> dict[str, Any]:
        """Untimed: the documents a rescan prints are those of the fresh list pass."""
        progress("db: untimed jsonl rescan, compared with the fresh scan")
        argv = self.scan_argv("--jobs", "1", "--db", db, "--format", "jsonl")
        proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL,
                              env=child_env(), check=False)
        docs: dict[str, str] = {}
        for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
            if line.strip():
                d = json.loads(line)
                if d.get("schema") == "ldsim.explain/1":
                    docs[str(d["executable"])] = digest(d)
        fresh = self.listing.digests
        differ = sorted(p for p in fresh.keys() | docs.keys() if fresh.get(p) != docs.get(p))
        return {"identical": "yes" if not differ else "no", "differing": len(differ),
                "example": differ[0] if differ else None}

    # 5 -----------------------------------------------------------------
    def section_explain(self, program: str) -> None:
        script, why = lddtree_script()
        system_python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else None
        tools = [Tool("ldsim explain --json", [*self.ldsim, "explain", "--json", program])]
        if script is None:
            tools.append(Tool("lddtree (pax-utils)", None, why))
        else:  # as bench_explain.py: Debian's script with Debian's python3
            tools.append(Tool("lddtree (pax-utils)",
                              [system_python, script, program] if system_python
                              else [script, program]))
        libtree = shutil.which("libtree")
        tools.append(Tool("libtree", [libtree, program]) if libtree else
                     Tool("libtree", None, "not installed (apt-get install libtree)"))
        progress(f"explain: {sum(1 for t in tools if t.argv)} tools x {self.explain_runs} runs")
        used_hyperfine, timings = time_tools(tools, self.explain_runs, self.warmup,
                                             self.use_hyperfine)
        method = "hyperfine -N" if used_hyperfine else "perf_counter loop"
        ordered = [timings[t.name] for t in tools]
        base = ordered[0].median
        body = []
        for t in ordered:
            if t.median is None:
                body.append([t.tool, t.note or "n/a", "", "", ""])
            else:
                body.append([t.tool, f"{t.median:.4f}", f"{t.minimum or 0:.4f}",
                             fx(ratio(t.median, base)), str(t.runs)])
        self.out(f"5. One program: {program} (timed with {method})")
        self.out(table(["command", "median s", "min s", "vs ldsim", "runs"], body,
                       self.markdown))
        lddtree_t = timings["lddtree (pax-utils)"]
        goal = Target("explain", "ldsim / lddtree", ratio(base, lddtree_t.median), "<=", 0.6,
                      note=lddtree_t.note)
        self.targets.append(goal)
        self.out(goal.line())
        self.report["explain"] = {"program": program, "method": method,
                                  "timings": [x.to_json() for x in ordered]}


def _short(reason: str) -> str:
    """A failure reason without the paths and names that make each one unique."""
    reason = re.sub(r"/[^\s:,'\"]+", "PATH", reason)
    reason = re.sub(r"\blib[\w.+-]*\.so[\w.]*", "LIB", reason)
    reason = re.sub(r"(LIB(, )?)+", "LIB", reason)
    return reason[:90]


# --------------------------------------------------------------------------- main


def compile_ldsim() -> str | None:
    """Write ldsim's bytecode now, as an installed package has it; the package's path."""
    spec = importlib.util.find_spec("ldsim")
    if spec is None or not spec.submodule_search_locations:
        return None
    where = next(iter(spec.submodule_search_locations))
    compileall.compile_dir(where, quiet=1)
    return where


def git_rev() -> str | None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "-C", here, "log", "-1", "--format=%h"],
                             capture_output=True, check=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--", "ldsim"],
                               capture_output=True, check=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + (" with uncommitted changes" if dirty else "")


def default_program() -> str:
    for p in DEFAULT_PROGRAMS:
        if os.path.isfile(p):
            return p
    return sys.executable


def _write_list(files: Sequence[str], fh: Any) -> None:
    fh.write(b"".join(os.fsencode(p) + b"\0" for p in files))
    fh.flush()


def _iter_sections(value: str) -> Iterator[str]:
    for part in value.split(","):
        part = part.strip()
        if part:
            yield part


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Time `ldsim scan` beside a libtree loop and "
                                "lddtree.py on the same files; peak RSS; --jobs scaling; "
                                "--db rescans; one `ldsim explain` beside lddtree and libtree.")
    p.add_argument("--tree", metavar="DIR", default=None,
                   help=f"the tree to scan (default {DEFAULT_TREE}; with --quick "
                   f"{QUICK_TREE})")
    p.add_argument("--quick", action="store_true",
                   help=f"scan {QUICK_TREE} instead of {DEFAULT_TREE} (unless --tree)")
    p.add_argument("--runs", type=int, default=3,
                   help="timed runs of every scan command, median reported (default 3)")
    p.add_argument("--explain-runs", type=int, default=20,
                   help="timed runs of each one-program command (default 20)")
    p.add_argument("--warmup", type=int, default=3,
                   help="untimed runs of each one-program command first (default 3)")
    p.add_argument("--program", default=None,
                   help="the program of section 5 (default /usr/bin/ssh, else /usr/bin/ls)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"which to run, comma-separated (default all: {','.join(SECTIONS)})")
    p.add_argument("--no-hyperfine", action="store_true",
                   help="use the perf_counter loop for section 5 even if hyperfine is there")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON document at the end")
    out.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = p.parse_args(argv)
    if args.runs < 1 or args.explain_runs < 2 or args.warmup < 0:
        p.error("--runs must be at least 1, --explain-runs at least 2, --warmup at least 0")
    sections = list(_iter_sections(args.sections))
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    tree = os.path.abspath(args.tree or (QUICK_TREE if args.quick else DEFAULT_TREE))
    if not os.path.isdir(tree):
        p.error(f"{tree}: not a directory")
    program = args.program or default_program()
    if "explain" in sections and not os.path.isfile(program):
        p.error(f"{program}: no such file")

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # for hyperfine's children too
    where = compile_ldsim()
    ldsim = _ldsim_argv()
    load_before = os.getloadavg()
    progress(f"listing the ELF files of {tree} with ldsim scan --format jsonl (untimed)")
    listing = list_files(ldsim, tree)
    if not listing.files:
        print(f"ldsim scan found no ELF file to resolve under {tree} (exit "
              f"{listing.returncode}): {listing.stderr.strip()[:500]}", file=sys.stderr)
        return 2

    header = [f"ldsim scan benchmark: {tree}, {len(listing.files)} ELF files resolved by ldsim, "
              f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f}",
              f"ldsim {' '.join(ldsim)} (package {where}, {git_rev() or 'no git'}), "
              f"Python {sys.version.split()[0]}; runs: {args.runs} per scan command "
              f"(median), {args.explain_runs} per program command"]
    if not args.json:
        print("\n".join(header), flush=True)
        print()

    # Untimed: is ldsim's list the list of ELF programs and libraries of the tree?
    progress(f"walking {tree} without ldsim (untimed)")
    mine, other, unreadable = own_walk(tree)
    theirs = set(listing.files)
    theirs_unreadable = {str(u.get("path")) for u in listing.summary.get("unreadable", [])}
    only_walk = sorted(mine - theirs - theirs_unreadable)
    only_ldsim = sorted(theirs - mine)
    walk_info = listing.summary.get("walk", {})
    file_check = {"own_walk_loadable": len(mine), "own_walk_other_elf": other,
                  "own_walk_unreadable": len(unreadable), "ldsim_documents": len(theirs),
                  "ldsim_unreadable": sorted(theirs_unreadable),
                  "ldsim_other_elf": walk_info.get("other_elf"),
                  "only_own_walk": only_walk[:50], "only_ldsim": only_ldsim[:50],
                  "ldsim_exit_status": listing.returncode}
    if not args.json:
        print(f"File list (untimed): ldsim printed {len(theirs)} documents, named "
              f"{len(theirs_unreadable)} unreadable, counted {walk_info.get('other_elf')} "
              f"other ELF (.o, core); a walk without ldsim finds {len(mine)} ELF programs and "
              f"shared objects, {other} other ELF files, {len(unreadable)} unreadable files")
        print(f"  found by the walk only: {len(only_walk)}"
              + (f"  e.g. {examples(only_walk)}" if only_walk else ""))
        print(f"  listed by ldsim only: {len(only_ldsim)}"
              + (f"  e.g. {examples(only_ldsim)}" if only_ldsim else ""))
        for u in listing.summary.get("unreadable", []):
            print(f"  ldsim could not read {u.get('path')}: {u.get('error')}")
        print(flush=True)

    with tempfile.NamedTemporaryFile(prefix="bench-scan-list-", suffix=".lst") as lf:
        _write_list(listing.files, lf)
        bench = Bench(tree, args.runs, args.explain_runs, args.warmup, not args.no_hyperfine,
                      args.markdown, ldsim, listing, lf.name)
        bench.quiet = args.json
        bench.rss_with = gnu_time()
        loads: dict[str, list[float]] = {}
        for name in SECTIONS:
            if name not in sections:
                continue
            before = os.getloadavg()[0]
            if name == "explain":
                bench.section_explain(program)
            else:
                getattr(bench, f"section_{name}")()
            loads[name] = [before, os.getloadavg()[0]]
            bench.out(f"(load average {before:.2f} before this section, "
                      f"{loads[name][1]:.2f} after; {os.cpu_count()} CPUs)")
            bench.out()
    load_after = os.getloadavg()

    if args.json:
        print(json.dumps({"schema": SCHEMA, "tree": tree, "cpus": os.cpu_count(),
                          "ldsim": ldsim, "git": git_rev(), "python": sys.version.split()[0],
                          "loadavg_before": load_before[0], "loadavg_after": load_after[0],
                          "file_list": file_check, "loadavg_per_section": loads,
                          **bench.report,
                          "targets": [t.to_json() for t in bench.targets]}, indent=2))
        return 0
    print(f"Targets ({time.strftime('%Y-%m-%d %H:%M')}, load average now "
          f"{load_after[0]:.2f}):")
    print(table(["measure", "value", "target", "verdict"],
                [[t.measure, t.fmt(t.value) if t.value is not None else "n/a",
                  f"{t.op} {t.fmt(t.goal)}", t.verdict()] for t in bench.targets],
                args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
