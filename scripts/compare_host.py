#!/usr/bin/env python3
"""Compare ldsim with the real glibc loader on this machine's own programs.

For every regular ELF file in ``/usr/bin`` and ``/usr/sbin`` that has a PT_INTERP naming a
glibc loader, run that loader in trace mode (what ``ldd`` does; the program's own code never
runs)::

    LD_TRACE_LOADED_OBJECTS=1 /lib64/ld-linux-x86-64.so.2 PROGRAM

and compare its listing with ``ldsim explain --json --invocation ldd PROGRAM`` (run in-process
by default, with one ``RootConfig`` shared by every program; ``--cli`` runs the real command
line instead). Both sides see the same process: no LD_LIBRARY_PATH, no LD_PRELOAD, working
directory ``/``, not set-uid (running ``ld.so PROGRAM`` never grants AT_SECURE).

Agreement for one program means: the same sequence of (name, path) for the objects found
(``linux-vdso.so.1`` and load addresses stripped), the same unresolved names in the same
order, and the same fatal error; when the ldsim document has its ``listing`` (what ``ldd``
prints, not-found entries in place), that must match the loader's lines too.

Nothing outside the scanned directories is followed: symlinks to programs already covered and
symlinks leading elsewhere are skipped (``--follow-outside`` compares the latter too, under
the symlink's path), as are scripts, static programs (never executed, not even through the
loader) and programs whose interpreter is not glibc's. For every disagreement the loader is
run once more with ``LD_DEBUG=libs`` and its search for each differing name is printed
beside ldsim's trail.

Exit status: 0 when the agreement is at least the threshold (99 % by default), 1 when it is
lower, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import stat
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DIRS: tuple[str, ...] = ("/usr/bin", "/usr/sbin")
DEFAULT_LOADER = "/lib64/ld-linux-x86-64.so.2"
DEFAULT_THRESHOLD = 99.0
SCHEMA = "ldsim.compare_host/1"
LOADER_TIMEOUT = 60.0

PT_INTERP, PT_DYNAMIC = 3, 2
_VDSO_NAMES = frozenset({"linux-vdso.so.1", "linux-vdso64.so.1", "linux-vdso32.so.1",
                         "linux-gate.so.1"})
_ERROR_MARK = ": error while loading shared libraries: "
_DEBUG_LINE = re.compile(r"^ *\d+:\t(.*)$")
_TRAIL_STARTS = ("search path=", "search cache=", "trying file=")
_ARROW_LINE = re.compile(r"^\t(?P<name>.*?) => (?P<path>.*) \(0x[0-9a-fA-F]+\)$")
_NOT_FOUND_LINE = re.compile(r"^\t(?P<name>.*) => not found$")
_PLAIN_LINE = re.compile(r"^\t(?P<name>.*) \(0x[0-9a-fA-F]+\)$")


# -- discovery -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Program:
    """A dynamically linked program to compare, with its PT_INTERP string."""

    path: str
    interp: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file of the scanned directories that is not compared, and why."""

    path: str
    kind: str  # short category: "symlink", "not-elf", "static", "non-glibc", ...
    reason: str


def elf_summary(path: str) -> tuple[bool, int, str | None, bool]:
    """(is ELF, e_machine, PT_INTERP or None, has PT_DYNAMIC). Reads only the headers; raises
    OSError."""
    with open(path, "rb") as fh:
        ident = fh.read(64)
        if len(ident) < 20 or ident[:4] != b"\x7fELF":
            return False, 0, None, False
        elf_class, data = ident[4], ident[5]
        if elf_class not in (1, 2) or data not in (1, 2):
            return True, 0, None, False
        end = "<" if data == 1 else ">"
        machine, = struct.unpack_from(end + "H", ident, 18)
        if elf_class == 2:
            if len(ident) < 64:
                return True, machine, None, False
            phoff, = struct.unpack_from(end + "Q", ident, 32)
            phentsize, phnum = struct.unpack_from(end + "HH", ident, 54)
            ph_fmt, min_size = end + "IIQQQQQQ", 56
        else:
            if len(ident) < 52:
                return True, machine, None, False
            phoff, = struct.unpack_from(end + "I", ident, 28)
            phentsize, phnum = struct.unpack_from(end + "HH", ident, 42)
            ph_fmt, min_size = end + "IIIIIIII", 32
        if phentsize < min_size or phnum == 0:
            return True, machine, None, False
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
        interp: str | None = None
        dynamic = False
        for i in range(min(phnum, len(table) // phentsize)):
            fields = struct.unpack_from(ph_fmt, table, i * phentsize)
            if fields[0] == PT_DYNAMIC:
                dynamic = True
            elif fields[0] == PT_INTERP and interp is None:
                offset, filesz = (fields[2], fields[5]) if elf_class == 2 else (fields[1],
                                                                                  fields[4])
                fh.seek(offset)
                raw = fh.read(filesz)
                interp = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        return True, machine, interp, dynamic


def elf_interp(path: str) -> tuple[bool, str | None]:
    """(is ELF, PT_INTERP string or None). Reads only the headers; raises OSError."""
    is_elf, _machine, interp, _dynamic = elf_summary(path)
    return is_elf, interp


_glibc_loader_cache: dict[str, str | None] = {}
_glibc_loader_lock = threading.Lock()


def glibc_loader_problem(interp: str) -> str | None:
    """None if ``interp`` is a runnable glibc ``ld.so`` here, else why it cannot be used."""
    with _glibc_loader_lock:
        if interp in _glibc_loader_cache:
            return _glibc_loader_cache[interp]
        problem: str | None = None
        try:
            st = os.stat(interp)
            if not stat.S_ISREG(st.st_mode):
                problem = f"interpreter {interp} is not a regular file"
            else:
                with open(interp, "rb") as fh:
                    data = fh.read()
                if b"TRACE_LOADED_OBJECTS" not in data or b"GLIBC_PRIVATE" not in data:
                    problem = f"interpreter {interp} is not glibc's ld.so"
                elif not os.access(interp, os.X_OK):
                    problem = f"interpreter {interp} is not executable"
        except OSError as exc:
            problem = f"interpreter {interp} unusable: {exc.strerror or exc}"
        _glibc_loader_cache[interp] = problem
        return problem


def discover(dirs: Sequence[str] = DEFAULT_DIRS, *, follow_outside: bool = False,
             libraries: bool = False) -> tuple[list[Program], list[Skipped]]:
    """The programs to compare in ``dirs`` (sorted), and every file skipped with its reason.

    With ``follow_outside``, a symlink to a regular file outside ``dirs`` is compared too,
    under the symlink's own path (as ``ldd SYMLINK`` would; the first symlink to each target).
    With ``libraries``, shared libraries (``*.so*`` without PT_INTERP) are compared too, as
    ``ldd LIB`` does it: the standard loader, ``/lib64/ld-linux-x86-64.so.2``, traces them.
    """
    entries: list[tuple[str, os.stat_result]] = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            try:
                entries.append((path, os.lstat(path)))
            except OSError:
                continue
    regular = {os.path.realpath(p) for p, st in entries if stat.S_ISREG(st.st_mode)}
    programs: list[Program] = []
    skipped: list[Skipped] = []
    for path, st in entries:
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(path)
            if target in regular:
                skipped.append(Skipped(path, "symlink", f"symlink to {target}, covered"))
            elif follow_outside and os.path.isfile(target):
                regular.add(target)
                _classify(path, programs, skipped, libraries)
            elif os.path.exists(target):
                skipped.append(Skipped(path, "symlink-outside",
                                       f"symlink to {target}, outside the scanned directories"))
            else:
                skipped.append(Skipped(path, "symlink-dangling", "dangling symlink"))
            continue
        if not stat.S_ISREG(st.st_mode):
            skipped.append(Skipped(path, "not-regular", "not a regular file"))
            continue
        _classify(path, programs, skipped, libraries)
    return programs, skipped


def _classify(path: str, programs: list[Program], skipped: list[Skipped],
              libraries: bool = False) -> None:
    """Append ``path`` to ``programs`` if it is a glibc-dynamic ELF program, else skip it."""
    try:
        is_elf, interp = elf_interp(path)
    except OSError as exc:
        skipped.append(Skipped(path, "unreadable", f"unreadable: {exc.strerror or exc}"))
        return
    if not is_elf:
        skipped.append(Skipped(path, "not-elf", "not ELF (script or data)"))
    elif interp is None and libraries and ".so" in os.path.basename(path):
        programs.append(Program(path, DEFAULT_LOADER))
    elif interp is None:
        skipped.append(Skipped(path, "static", "no PT_INTERP (static program)"))
    elif (problem := glibc_loader_problem(interp)) is not None:
        skipped.append(Skipped(path, "non-glibc", problem))
    else:
        programs.append(Program(path, interp))


# -- the two listings ------------------------------------------------------------------------
@dataclass(slots=True)
class Listing:
    """One side's answer for one program, in the terms agreement is defined on."""

    found: list[tuple[str, str]] = field(default_factory=list)  # (name, path), link-map order
    unresolved: list[str] = field(default_factory=list)
    # Everything as `ldd` prints it, not-found entries in place (path None); None when the
    # ldsim document has no "listing" field.
    sequence: list[tuple[str, str | None]] | None = None
    error: str | None = None  # the fatal error, as "NAME: MESSAGE"
    unparsed: list[str] = field(default_factory=list)  # loader lines not understood
    via: dict[str, str] = field(default_factory=dict)  # ldsim only: name -> how found
    searches: dict[str, list[str]] = field(default_factory=dict)  # name -> candidates tried
    crash: str | None = None  # ldsim raised, or the loader could not be run
    # the LD_DEBUG=libs search lines (search path=, search cache=, trying file=), in order
    trail: list[str] | None = None

    def lines(self) -> list[str]:
        seq: list[tuple[str, str | None]]
        if self.sequence is not None:
            seq = list(self.sequence)
        else:
            seq = [*self.found, *((name, None) for name in self.unresolved)]
        out = [f"{name} => not found" if path is None else name if name == path
               else f"{name} => {path}" for name, path in seq]
        if self.error is not None:
            out.append(f"FATAL: {self.error}")
        if self.crash is not None:
            out.append(f"CRASH: {self.crash}")
        out += [f"UNPARSED: {line}" for line in self.unparsed]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "found": [{"name": n, "path": p} for n, p in self.found],
            "unresolved": list(self.unresolved),
            "sequence": None if self.sequence is None else [
                {"name": n, "path": p} for n, p in self.sequence],
            "error": self.error,
            "unparsed": list(self.unparsed),
            "crash": self.crash,
        }


def parse_trace(stdout: str, stderr: str, returncode: int) -> Listing:
    """The loader's trace output (``ldd`` lines) as a Listing."""
    listing = Listing(sequence=[])
    assert listing.sequence is not None
    for line in stdout.splitlines():
        if not line.strip():
            continue
        if line.strip() == "statically linked":
            continue
        m = _NOT_FOUND_LINE.match(line)
        if m:
            listing.unresolved.append(m["name"])
            listing.sequence.append((m["name"], None))
            continue
        m = _ARROW_LINE.match(line)
        if m:
            listing.found.append((m["name"], m["path"]))
            listing.sequence.append((m["name"], m["path"]))
            continue
        m = _PLAIN_LINE.match(line)
        if m:
            if m["name"] not in _VDSO_NAMES:
                listing.found.append((m["name"], m["name"]))
                listing.sequence.append((m["name"], m["name"]))
            continue
        listing.unparsed.append(line)
    # None when the loader printed no debug output at all (LD_DEBUG not honoured)
    listing.trail = [m[1].lstrip(" ") for m in (_DEBUG_LINE.match(x) for x in
                                               stderr.splitlines()) if m
                     and m[1].lstrip(" ").startswith(_TRAIL_STARTS)] or None
    if returncode != 0:
        for line in stderr.splitlines():
            if _ERROR_MARK in line:
                listing.error = line.split(_ERROR_MARK, 1)[1].strip()
                break
        else:
            text = " ".join(stderr.split()) or "no message"
            listing.error = f"exit status {returncode}: {text}"
    return listing


def run_loader(program: Program, timeout: float = LOADER_TIMEOUT) -> Listing:
    """Run the program's glibc loader in trace mode on it (never the program itself)."""
    try:
        proc = subprocess.run(
            [program.interp, program.path],
            env={"LD_TRACE_LOADED_OBJECTS": "1", "LD_DEBUG": "libs"}, cwd="/",
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Listing(crash=f"cannot run the loader: {exc}")
    return parse_trace(proc.stdout.decode("utf-8", "surrogateescape"),
                       proc.stderr.decode("utf-8", "surrogateescape"), proc.returncode)


def listing_from_json(doc: dict[str, Any]) -> Listing:
    """The ``ldsim.explain/1`` document as a Listing (objects[0] is the executable)."""
    objects = doc.get("objects") or []
    found = [(str(o["name"]), str(o["path"])) for o in objects[1:]]
    via = {str(o["name"]): str(o["via"]) for o in objects[1:]}
    unresolved = [str(u["name"]) for u in doc.get("unresolved") or []]
    err = doc.get("error")
    error = None if err is None else str(err.get("loader_message") or err.get("reason"))
    searches: dict[str, list[str]] = {}
    for edge in doc.get("edges") or []:
        name = str(edge.get("name"))
        trail = edge.get("trail") or []
        if name in searches or not trail:
            continue
        searches[name] = [
            f"{a.get('source')}: {a.get('path')} -> {a.get('outcome')}"
            + (f" ({a['detail']})" if a.get("detail") else "") for a in trail]
    sequence: list[tuple[str, str | None]] | None = None
    if isinstance(doc.get("listing"), list) and error is None:
        sequence = [(str(e["name"]), None if e.get("path") is None else str(e["path"]))
                    for e in doc["listing"]]
    from ldsim.renderers.json import trail_lines

    return Listing(found=found, unresolved=unresolved, error=error, via=via,
                   searches=searches, sequence=sequence, trail=trail_lines(doc))


def loader_searches(program: Program, names: Iterable[str],
                    timeout: float = LOADER_TIMEOUT) -> dict[str, list[str]]:
    """The loader's own account (``LD_DEBUG=libs``) of its first search for each name."""
    wanted = set(names)
    try:
        proc = subprocess.run(
            [program.interp, program.path],
            env={"LD_TRACE_LOADED_OBJECTS": "1", "LD_DEBUG": "libs"}, cwd="/",
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    lines = (raw.split(":", 1)[1].strip() if ":" in raw and raw.strip()[:1].isdigit()
             else raw.strip() for raw in proc.stderr.decode("utf-8", "surrogateescape").splitlines())
    return first_searches(lines, wanted)


def first_searches(lines: Iterable[str], names: Iterable[str],
                   ends: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The first search for each of ``names`` in LD_DEBUG=libs ``lines`` (without the pid
    prefix, stripped): the lines after its ``find library=`` line up to a blank one (or one
    starting with one of ``ends``)."""
    wanted = set(names)
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith("find library="):
            name = line[len("find library="):].split(" [", 1)[0]
            current = None
            if name in wanted and name not in out:
                current = out[name] = []
            continue
        if current is not None:
            if not line or line.startswith(ends):
                current = None
            else:
                current.append(line)
    return out


class InProcessLdsim:
    """ldsim's resolver, in this process, with one RootConfig shared by every program."""

    def __init__(self, root: str = "/") -> None:
        import ldsim

        self.target = ldsim.open_root(root)
        # The CLI's own defaults (this machine's CPU), as `ldsim explain --invocation ldd`.
        self.env = ldsim.host_env(cwd="/", invocation=ldsim.Invocation.LDD)

    def explain(self, program: str) -> Listing:
        import ldsim

        try:
            doc = json.loads(ldsim.render(ldsim.resolve(self.target, program, self.env), "json"))
        except ldsim.LdsimError as exc:
            return Listing(crash=f"ldsim: error: {exc}")
        except Exception as exc:  # a bug in ldsim is one disagreement, not the end of the run
            return Listing(crash=f"ldsim raised {type(exc).__name__}: {exc}")
        return listing_from_json(doc)


class CliLdsim:
    """``ldsim explain --json --invocation ldd PROGRAM`` as a subprocess (slow, exact CLI)."""

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def explain(self, program: str) -> Listing:
        cmd = [sys.executable, "-m", "ldsim", "explain", "--json", "--invocation", "ldd",
               "--root", self.root, "--cwd", "/", program]
        proc = subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL,
                              cwd="/")
        if proc.returncode not in (0, 1):
            msg = proc.stderr.decode("utf-8", "replace").strip()
            return Listing(crash=f"exit status {proc.returncode}: {msg}")
        try:
            doc = json.loads(proc.stdout)
        except ValueError as exc:
            return Listing(crash=f"invalid JSON: {exc}")
        return listing_from_json(doc)


# -- comparison ------------------------------------------------------------------------------
@dataclass(slots=True)
class Comparison:
    program: Program
    loader: Listing
    ldsim: Listing
    reasons: list[str]
    kinds: list[str]
    loader_searches: dict[str, list[str]] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return not self.reasons

    def diff(self) -> list[str]:
        """Both listings in one block: ' ' both, '-' loader only, '+' ldsim only."""
        a, b = self.loader.lines(), self.ldsim.lines()
        lines = list(difflib.unified_diff(a, b, "loader", "ldsim", n=max(len(a), len(b)),
                                          lineterm=""))
        return [x for x in lines[2:] if not x.startswith("@@")] if lines else [f" {x}" for x in a]

    def differing_names(self) -> list[str]:
        """Names whose entries differ between the two listings (for search traces)."""
        lp, sp = dict(self.loader.found), dict(self.ldsim.found)
        names = [n for n, p in self.loader.found if sp.get(n) != p]
        names += [n for n, _ in self.ldsim.found if n not in lp]
        names += [n for n in self.loader.unresolved if n not in self.ldsim.unresolved]
        names += [n for n in self.ldsim.unresolved if n not in self.loader.unresolved]
        return list(dict.fromkeys(names))

    def to_json(self) -> dict[str, Any]:
        return {
            "program": self.program.path, "interpreter": self.program.interp,
            "agree": self.agree, "reasons": list(self.reasons), "kinds": list(self.kinds),
            "loader": self.loader.to_json(), "ldsim": self.ldsim.to_json(),
            "searches": {
                name: {"loader": self.loader_searches.get(name, []),
                       "ldsim": self.ldsim.searches.get(name, [])}
                for name in self.differing_names()
            },
        }


def diagnose(loader: Listing, ldsim: Listing) -> list[tuple[str, str]]:
    """Why the two listings disagree, as (kind, explanation); empty when they agree."""
    out: list[tuple[str, str]] = []
    if loader.crash is not None:
        return [("loader-failed", loader.crash)]
    if ldsim.crash is not None:
        return [("ldsim-crash", ldsim.crash)]
    if loader.unparsed:
        out.append(("unparsed", f"loader printed lines this script does not understand: "
                                f"{loader.unparsed!r}"))
    if loader.error is not None or ldsim.error is not None:
        if loader.error is None:
            out.append(("ldsim-aborts", f"ldsim aborts the load ({ldsim.error}); the loader "
                                        "loads the program"))
        elif ldsim.error is None:
            out.append(("loader-aborts", f"the loader aborts ({loader.error}); ldsim does not"))
        elif loader.error != ldsim.error:
            out.append(("error-differs", f"both abort, the loader with {loader.error!r}, "
                                         f"ldsim with {ldsim.error!r}"))
        # The loader prints no listing when it aborts: the listings cannot be compared.
        if loader.error is not None:
            return out
    if loader.found != ldsim.found:
        out.extend(_found_differences(loader, ldsim))
    if loader.unresolved != ldsim.unresolved:
        out.append(("unresolved-differs", f"unresolved: loader {loader.unresolved}, "
                                          f"ldsim {ldsim.unresolved}"))
    if not out and loader.sequence is not None and ldsim.sequence is not None \
            and loader.sequence != ldsim.sequence:
        out.append(("listing-differs", "same objects and unresolved names, but ldsim's "
                                       "\"listing\" interleaves them differently from ldd"))
    return out


def _found_differences(loader: Listing, ldsim: Listing) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    lpaths = dict(loader.found)
    spaths = dict(ldsim.found)
    for name, path in loader.found:
        if name in spaths:
            if spaths[name] != path:
                out.append(("path-differs", f"{name}: the loader opens {path}, ldsim "
                                            f"{spaths[name]} (via {ldsim.via.get(name, '?')})"))
        elif name in ldsim.unresolved:
            out.append(("ldsim-not-found", f"{name}: the loader opens {path}, ldsim finds "
                                           "nothing"))
        else:
            out.append(("ldsim-missing", f"{name}: the loader loads {path}, ldsim does not "
                                         "list it"))
    for name, path in ldsim.found:
        if name not in lpaths:
            where = "the loader reports it not found" if name in loader.unresolved \
                else "the loader does not list it"
            out.append(("ldsim-extra", f"{name}: ldsim loads {path} "
                                       f"(via {ldsim.via.get(name, '?')}); {where}"))
    if not out:
        if sorted(loader.found) == sorted(ldsim.found):
            first = next(i for i, (x, y) in enumerate(zip(loader.found, ldsim.found, strict=True))
                         if x != y)
            out.append(("order-differs", f"same objects, different link-map order: position "
                                         f"{first + 1} is {loader.found[first][0]} for the "
                                         f"loader, {ldsim.found[first][0]} for ldsim"))
        else:
            out.append(("duplicates-differ", "the same names, listed a different number of "
                                             "times"))
    return out


def _trail_difference(loader: Listing, ldsim: Listing) -> list[tuple[str, str]]:
    a, b = loader.trail, ldsim.trail
    if a is None or b is None or a == b or loader.error is not None:
        return []
    i = first_difference(a, b)
    first = (f"loader {a[i]!r}" if i < len(a) else "loader: no more lines") + ", " + (
        f"ldsim {b[i]!r}" if i < len(b) else "ldsim: no more lines")
    return [("trail-differs", f"the LD_DEBUG=libs search lines differ from line {i + 1} on "
                              f"({len(a)} against {len(b)} lines): {first}")]


def first_difference(a: Sequence[str], b: Sequence[str]) -> int:
    """The index of the first line where ``a`` and ``b`` differ (the shorter one's length when
    one is a prefix of the other)."""
    return next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def compare_one(program: Program, loader: Listing, ldsim: Listing) -> Comparison:
    found = diagnose(loader, ldsim) + _trail_difference(loader, ldsim)
    return Comparison(program, loader, ldsim, [r for _, r in found], [k for k, _ in found])


# -- a whole run -----------------------------------------------------------------------------
@dataclass(slots=True)
class Report:
    dirs: list[str]
    comparisons: list[Comparison]
    skipped: list[Skipped]
    seconds: float
    threshold: float = DEFAULT_THRESHOLD

    @property
    def programs(self) -> int:
        return len(self.comparisons)

    @property
    def agreeing(self) -> int:
        return sum(1 for c in self.comparisons if c.agree)

    @property
    def disagreements(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.agree]

    @property
    def percent(self) -> float:
        return 100.0 * self.agreeing / self.programs if self.programs else 0.0

    @property
    def passed(self) -> bool:
        return self.programs > 0 and self.percent >= self.threshold

    def skipped_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s.kind for s in self.skipped).items()))

    def kind_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(k for c in self.disagreements for k in set(c.kinds)).items()))

    def summary(self) -> str:
        return (f"{self.programs} programs, {self.agreeing} agree, {self.percent:.2f}% "
                f"(threshold {self.threshold:g}%), {self.seconds:.1f} s")

    def format_disagreements(self) -> str:
        out: list[str] = []
        for c in self.disagreements:
            out.append(f"DISAGREE {c.program.path} (interpreter {c.program.interp})")
            out += [f"  reason: {r}" for r in c.reasons]
            out.append("  listings (' ' both, '-' loader only, '+' ldsim only):")
            out += [f"    {line}" for line in c.diff()]
            for name in c.differing_names():
                out.append(f"  search for {name}:")
                out.append("    loader (LD_DEBUG=libs):")
                out += [f"      {clip(x)}"
                        for x in c.loader_searches.get(name) or ["(no search)"]]
                out.append("    ldsim:")
                out += [f"      {clip(x)}" for x in c.ldsim.searches.get(name) or ["(no search)"]]
        return "\n".join(out)

    def format_text(self, verbose: bool = False) -> str:
        out = [f"ldsim vs glibc ld.so (trace mode) on {', '.join(self.dirs)}"]
        out.append(self.summary())
        skipped = ", ".join(f"{k} {n}" for k, n in self.skipped_counts().items())
        out.append(f"skipped {len(self.skipped)} files: {skipped or 'none'}")
        if verbose:
            out += [f"  skip {s.path}: {s.reason}" for s in self.skipped]
        if self.disagreements:
            kinds = ", ".join(f"{k} {n}" for k, n in self.kind_counts().items())
            out.append(f"{len(self.disagreements)} disagreements ({kinds}):")
            out.append(self.format_disagreements())
        return "\n".join(out) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "dirs": list(self.dirs),
            "programs": self.programs,
            "agree": self.agreeing,
            "percent": round(self.percent, 4),
            "threshold": self.threshold,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "skipped_counts": self.skipped_counts(),
            "skipped": [{"path": s.path, "kind": s.kind, "reason": s.reason}
                        for s in self.skipped],
            "disagreement_kinds": self.kind_counts(),
            "disagreements": [c.to_json() for c in self.disagreements],
        }


def clip(line: str, width: int = 160) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def compare_programs(programs: Iterable[Program], *, jobs: int | None = None,
                     use_cli: bool = False) -> list[Comparison]:
    """Run the loader (in worker threads) and ldsim (in this thread) on every program."""
    progs = list(programs)
    sim: InProcessLdsim | CliLdsim = CliLdsim() if use_cli else InProcessLdsim()
    workers = max(1, jobs or (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: list[Future[Listing]] = [pool.submit(run_loader, p) for p in progs]
        ours = [sim.explain(p.path) for p in progs]
        theirs = [f.result() for f in futures]
        comparisons = [compare_one(p, t, o) for p, t, o in zip(progs, theirs, ours, strict=True)]
        # Only for disagreements: the loader's own account of the searches that differ.
        bad = [c for c in comparisons if not c.agree and c.differing_names()]
        debug = [pool.submit(loader_searches, c.program, c.differing_names()) for c in bad]
        for c, f in zip(bad, debug, strict=True):
            c.loader_searches = f.result()
    return comparisons


def run_comparison(dirs: Sequence[str] = DEFAULT_DIRS, *, programs: Sequence[str] = (),
                   jobs: int | None = None, use_cli: bool = False,
                   follow_outside: bool = False, libraries: bool = False,
                   threshold: float = DEFAULT_THRESHOLD) -> Report:
    """Discover (or take the given programs), compare, and time the whole run."""
    start = time.perf_counter()
    if programs:
        progs: list[Program] = []
        skipped: list[Skipped] = []
        for path in programs:
            _classify(path, progs, skipped, libraries)
        dirs = ["(given programs)"]
    else:
        progs, skipped = discover(dirs, follow_outside=follow_outside, libraries=libraries)
    comparisons = compare_programs(progs, jobs=jobs, use_cli=use_cli)
    return Report(list(dirs), comparisons, skipped, time.perf_counter() - start, threshold)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Compare `ldsim explain --invocation ldd` with glibc's loader in trace "
        "mode (LD_TRACE_LOADED_OBJECTS=1 ld.so PROGRAM) on every dynamically linked program "
        "of /usr/bin and /usr/sbin.",
        epilog="Exit status: 0 agreement >= threshold, 1 below it, 2 bad usage.")
    p.add_argument("programs", nargs="*", metavar="PROGRAM",
                   help="compare only these programs (default: scan the directories)")
    p.add_argument("--dir", action="append", dest="dirs", metavar="DIR",
                   help="directory to scan, repeatable (default: /usr/bin and /usr/sbin)")
    p.add_argument("--follow-outside", action="store_true",
                   help="also compare symlinks in the directories that lead to programs "
                   "elsewhere (e.g. /usr/lib/llvm-14/bin), under the symlink's path")
    p.add_argument("--libraries", action="store_true",
                   help="also compare shared libraries (*.so* without PT_INTERP), traced by "
                   "/lib64/ld-linux-x86-64.so.2 as `ldd LIB` does")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--cli", action="store_true",
                   help="run `python -m ldsim explain` per program instead of in-process")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="loader runs in parallel (default: number of CPUs)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help="minimum agreement in percent for exit status 0 (default: 99)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every skipped file")
    args = p.parse_args(argv)
    report = run_comparison(tuple(args.dirs or DEFAULT_DIRS), programs=args.programs,
                            jobs=args.jobs, use_cli=args.cli, follow_outside=args.follow_outside,
                            libraries=args.libraries, threshold=args.threshold)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(report.format_text(verbose=args.verbose))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
