#!/usr/bin/env python3
"""Compare ldsim with the real glibc loader of a whole root of another architecture.

    python scripts/compare_root.py /var/cache/ldsim-roots/bookworm-i386
    python scripts/compare_root.py /var/cache/ldsim-roots/bookworm-arm64 --qemu-cpu neoverse-n1

The roots come from ``scripts/make_foreign_root.py`` (its ``.ldsim-root.json`` names the
architecture; ``--arch`` says it otherwise). Every regular dynamic ELF file of the root is
compared, as ``scripts/compare_host.py --libraries`` does on this machine: programs (with a
PT_INTERP naming the root's glibc loader) and shared libraries (``*.so*`` without PT_INTERP,
traced by the architecture's standard loader, as ``ldd LIB`` does). Hard links are compared
once, symlinks never (their targets are), and nothing outside the root is read.

The real side is the root's own loader, inside the root, in trace mode (``ldd``'s question;
no program code runs)::

    unshare --mount --mount-proc=ROOT/proc chroot ROOT
        /usr/bin/env -i LD_TRACE_LOADED_OBJECTS=1 LD_DEBUG=libs:files LOADER FILE     # i386
        /usr/bin/qemu-aarch64-static -cpu CPU -E LD_TRACE_LOADED_OBJECTS=1
            -E LD_DEBUG=libs:files LOADER FILE                                           # arm64

(i386 programs run natively on an x86-64 kernel; arm64 ones under qemu-user, started
explicitly since binfmt_misc is not needed). ldsim's side is ``ldsim explain --json
--invocation ldd --root ROOT FILE``, in-process with one target for the whole run, with the
CPU the loader really saw: ``$PLATFORM``, the glibc-hwcaps subdirectories and the legacy
hwcap names are read from the root's loader itself (``ld.so --list-diagnostics`` and the
subdirectory lists of ``ld.so --help``, run exactly like the traces); ``LD_SHOW_AUXV=1`` gives
AT_PLATFORM and AT_HWCAP for the report.

Agreement for one file: everything ``compare_host.py`` checks (objects with their paths, in
order, unresolved names, the fatal error, the ``LD_DEBUG=libs`` search lines) and, for each
object, ``via``: how the loader found it, derived from its ``LD_DEBUG=libs,files`` narration
as the oracle tests derive it (``rootfs-fixtures/glibcroot.py``), against ldsim's
``objects[].via``. The figures count files, objects (the loader's objects of every file whose
load did not abort: same name and path in ldsim's answer) and objects with the same ``via``
too. Disagreements are grouped by cause (the kind and its shape, file names generalised).

Exit status: 0 when the agreement is at least the threshold (100 % by default), 1 when it is
lower, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
for _p in (_HERE, _HERE.parent / "rootfs-fixtures"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import compare_host as ch  # noqa: E402
import glibcroot  # noqa: E402
from compare_host import elf_summary  # noqa: E402  (part of this script's interface)

SCHEMA = "ldsim.compare_root/1"
DEFAULT_THRESHOLD = 100.0
DEFAULT_QEMU_CPU = "neoverse-n1"  # an arm64 server core (Graviton2, Ampere Altra): atomics
LOADER_TIMEOUT = 120.0
STAMP = ".ldsim-root.json"
SKIP_TOP = frozenset({"proc", "sys", "dev"})

@dataclass(frozen=True)
class Arch:
    name: str
    machine: int  # e_machine
    loader: str  # the standard glibc loader (what `ldd LIB` uses)
    qemu: str | None  # qemu-user binary inside the root, when the CPU is foreign


ARCHES: dict[str, Arch] = {
    "i386": Arch("i386", 3, "/lib/ld-linux.so.2", None),
    "amd64": Arch("amd64", 62, "/lib64/ld-linux-x86-64.so.2", None),
    "arm64": Arch("arm64", 183, "/lib/ld-linux-aarch64.so.1", "qemu-aarch64-static"),
}


# -- running something inside the root ------------------------------------------------------
@dataclass(frozen=True)
class RootRunner:
    root: str
    arch: Arch
    qemu_cpu: str | None = None

    def argv(self, command: Sequence[str], env: dict[str, str]) -> list[str]:
        unshare = shutil.which("unshare") or "/usr/bin/unshare"
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        base = [unshare, "--mount", f"--mount-proc={self.root}/proc", chroot, self.root]
        if self.arch.qemu is None:
            return [*base, "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()),
                    *command]
        qemu = [f"/usr/bin/{self.arch.qemu}"]
        if self.qemu_cpu:
            qemu += ["-cpu", self.qemu_cpu]
        for k, v in env.items():
            if "," in v:  # -E splits its argument on commas (getsubopt)
                raise ValueError(f"qemu -E cannot pass {k}={v!r}")
            qemu += ["-E", f"{k}={v}"]
        return [*base, *qemu, *command]

    def run(self, command: Sequence[str], env: dict[str, str],
            timeout: float = LOADER_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        # The host's unshare and chroot get an empty environment: LD_* must reach only the
        # root's programs (through env -i or qemu's -E).
        return subprocess.run(self.argv(command, env), env={}, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)


# -- the CPU the loader sees -----------------------------------------------------------------
@dataclass(frozen=True)
class Cpu:
    """What the root's loader reports about the (real or emulated) CPU."""

    at_platform: str | None
    at_hwcap: str | None
    at_hwcap2: str | None
    dl_platform: str | None
    dl_hwcap: str | None
    hwcaps: tuple[str, ...]  # glibc-hwcaps subdirectories searched, best first
    legacy: tuple[str, ...]  # legacy hwcap subdirectory names searched, lowest bit first
    legacy_platform: bool  # whether AT_PLATFORM is a searched legacy subdirectory
    qemu_cpu: str | None

    def to_json(self) -> dict[str, Any]:
        return {"at_platform": self.at_platform, "at_hwcap": self.at_hwcap,
                "at_hwcap2": self.at_hwcap2, "dl_platform": self.dl_platform,
                "dl_hwcap": self.dl_hwcap, "glibc_hwcaps": list(self.hwcaps),
                "legacy_hwcap_names": list(self.legacy),
                "legacy_platform_searched": self.legacy_platform, "qemu_cpu": self.qemu_cpu}


_SEARCHED = re.compile(r"^  (?P<name>\S+)(?: \((?P<what>[^)]*)\))?$")


def parse_help_subdirs(text: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(glibc-hwcaps searched, legacy names searched in increasing bit order, platform
    searched) from ``ld.so --help`` (glibc 2.36 ``elf/dl-usage.c``: hwcaps in priority order;
    the legacy list prints AT_PLATFORM, ``tls``, then the HWCAP_IMPORTANT bits from the
    highest down)."""
    hwcaps: list[str] = []
    legacy: list[str] = []
    platform_searched = False
    section = ""
    for line in text.splitlines():
        if line.startswith("Subdirectories of glibc-hwcaps"):
            section = "hwcaps"
            continue
        if line.startswith("Legacy HWCAP subdirectories"):
            section = "legacy"
            continue
        if not line.startswith("  "):
            section = "" if line.strip() else section
            continue
        m = _SEARCHED.match(line)
        if m is None or not section:
            continue
        what = m["what"] or ""
        searched = "searched" in what
        if section == "hwcaps" and searched:
            hwcaps.append(m["name"])
        elif section == "legacy":
            if what.startswith("AT_PLATFORM"):
                platform_searched = searched
            elif searched and m["name"] != "tls":
                legacy.append(m["name"])
    return tuple(hwcaps), tuple(reversed(legacy)), platform_searched


def measure_cpu(runner: RootRunner) -> Cpu:
    loader = [runner.arch.loader]
    auxv = runner.run([*loader, "/bin/true"], {"LD_SHOW_AUXV": "1"}).stdout.decode(
        "utf-8", "replace")
    aux: dict[str, str] = {}
    for line in auxv.splitlines():
        key, _, value = line.partition(":")
        aux[key.strip()] = value.strip()
    diag = runner.run([*loader, "--list-diagnostics"], {}).stdout.decode("utf-8", "replace")
    dl: dict[str, str] = {}
    for line in diag.splitlines():
        key, _, value = line.partition("=")
        if key in ("dl_platform", "dl_hwcap") and key not in dl:
            dl[key] = value.strip().strip('"')
    help_text = runner.run([*loader, "--help"], {}).stdout.decode("utf-8", "replace")
    hwcaps, legacy, platform_searched = parse_help_subdirs(help_text)
    return Cpu(aux.get("AT_PLATFORM"), aux.get("AT_HWCAP"), aux.get("AT_HWCAP2"),
               dl.get("dl_platform"), dl.get("dl_hwcap"), hwcaps, legacy, platform_searched,
               runner.qemu_cpu)


# -- discovery -------------------------------------------------------------------------------
class LoaderCheck:
    """Is a PT_INTERP string a runnable glibc loader inside the root? (cached per string)"""

    def __init__(self, root: str) -> None:
        self.root = root
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def problem(self, interp: str) -> str | None:
        with self._lock:
            if interp not in self._cache:
                self._cache[interp] = self._check(interp)
            return self._cache[interp]

    def _check(self, interp: str) -> str | None:
        try:
            real = glibcroot.realpath_in_root(Path(self.root), interp)
            host = os.path.join(self.root, real.lstrip("/"))
            if not os.path.isfile(host):
                return f"interpreter {interp} is not a regular file in the root"
            with open(host, "rb") as fh:
                data = fh.read()
        except (OSError, ValueError, RuntimeError) as exc:
            return f"interpreter {interp} unusable: {exc}"
        if b"TRACE_LOADED_OBJECTS" not in data or b"GLIBC_PRIVATE" not in data:
            return f"interpreter {interp} is not glibc's ld.so"
        return None


def discover(root: str, arch: Arch) -> tuple[list[ch.Program], list[ch.Skipped]]:
    """Every dynamic ELF file of ``root`` to compare (guest paths, sorted), and the rest."""
    check = LoaderCheck(root)
    programs: list[ch.Program] = []
    skipped: list[ch.Skipped] = []
    seen: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d not in SKIP_TOP]
        dirnames.sort()
        for name in sorted(filenames):
            host = os.path.join(dirpath, name)
            guest = "/" + os.path.relpath(host, root)
            try:
                st = os.lstat(host)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue  # symlinks: their targets are compared; sockets, fifos, devices
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    skipped.append(ch.Skipped(guest, "hardlink", f"hard link to {seen[key]}"))
                    continue
                seen[key] = guest
            try:
                is_elf, machine, interp, dynamic = elf_summary(host)
            except OSError as exc:
                skipped.append(ch.Skipped(guest, "unreadable", f"unreadable: {exc}"))
                continue
            if not is_elf:
                continue  # not counted: scripts, data, ...
            if machine != arch.machine:
                skipped.append(ch.Skipped(guest, "other-machine", f"e_machine {machine}"))
            elif not dynamic:
                skipped.append(ch.Skipped(guest, "static", "no PT_DYNAMIC (static, object)"))
            elif interp is not None:
                problem = check.problem(interp)
                if problem is None:
                    programs.append(ch.Program(guest, interp))
                else:
                    skipped.append(ch.Skipped(guest, "non-glibc", problem))
            elif ".so" in name:
                programs.append(ch.Program(guest, arch.loader))
            else:
                skipped.append(ch.Skipped(guest, "no-interp",
                                          "PT_DYNAMIC without PT_INTERP, not named *.so* "
                                          "(static-pie)"))
    return programs, skipped


# -- one file --------------------------------------------------------------------------------
@dataclass(slots=True)
class Traced:
    listing: ch.Listing
    via: dict[str, str]  # name -> via derived from LD_DEBUG (found objects)
    stderr: str


def run_loader(runner: RootRunner, program: ch.Program) -> Traced:
    try:
        proc = runner.run([program.interp, program.path],
                          {"LD_TRACE_LOADED_OBJECTS": "1", "LD_DEBUG": "libs:files"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Traced(ch.Listing(crash=f"cannot run the loader: {exc}"), {}, "")
    stdout = proc.stdout.decode("utf-8", "surrogateescape")
    stderr = proc.stderr.decode("utf-8", "surrogateescape")
    listing = ch.parse_trace(stdout, stderr, proc.returncode)
    oracle = glibcroot.parse_trace(
        Path(runner.root), program.path, cwd="/", env={}, explicit=True, ldso_args=(),
        ldso=program.interp, status=proc.returncode, stdout=stdout, stderr=stderr)
    via: dict[str, str] = {}
    for e in oracle.entries:
        if e.path is None or e.via is None:
            continue
        v = e.via
        if v.startswith("unknown(system directory"):
            # A system directory that an RPATH or RUNPATH names is labelled "system search
            # path" (rtld shares one record per directory). Tried before the cache step with
            # no LD_LIBRARY_PATH, it came from the requester's RUNPATH if it has one (then
            # RPATH is not searched), else from an RPATH of the chain.
            v = "runpath" if glibcroot.has_runpath(oracle, e.needed_by) else "rpath"
        via[e.name] = v
    return Traced(listing, via, stderr)


def debug_searches(stderr: str, names: Iterable[str]) -> dict[str, list[str]]:
    """The loader's first search for each of ``names`` from its LD_DEBUG output."""
    return ch.first_searches(map(_debug_message, stderr.splitlines()), names, ends=("file=",))


def _debug_message(raw: str) -> str:
    m = glibcroot.DEBUG_RE.match(raw)
    return m["msg"].strip() if m else raw.strip()


@dataclass(slots=True)
class FileResult:
    comparison: ch.Comparison
    loader_via: dict[str, str]
    objects: int  # the loader's objects (0 when its load aborted or it failed)
    objects_agree: int  # same name and path in ldsim's answer
    via_agree: int  # ... and the same via
    via_diffs: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, path, l, s

    @property
    def agree(self) -> bool:
        return self.comparison.agree

    def differing_names(self) -> list[str]:
        """Names found differently, or found by the same path with another ``via``."""
        return list(dict.fromkeys([*self.comparison.differing_names(),
                                   *(name for name, *_ in self.via_diffs)]))


def compare_file(program: ch.Program, traced: Traced, ours: ch.Listing) -> FileResult:
    comparison = ch.compare_one(program, traced.listing, ours)
    loader = traced.listing
    objects = objects_agree = via_agree = 0
    diffs: list[tuple[str, str, str, str]] = []
    if loader.crash is None and loader.error is None and ours.crash is None:
        sim_paths = dict(ours.found)
        for name, path in loader.found:
            objects += 1
            if sim_paths.get(name) != path:
                continue
            objects_agree += 1
            lv, sv = traced.via.get(name, "?"), ours.via.get(name, "?")
            if lv == sv:
                via_agree += 1
            else:
                diffs.append((name, path, lv, sv))
        if diffs:
            kind = "via-differs"
            if all(lv.startswith("unknown(") for _, _, lv, _ in diffs):
                kind = "via-undetermined"
            comparison.kinds.append(kind)
            comparison.reasons.append("; ".join(
                f"{n}: via {lv} for the loader, {sv} for ldsim" for n, _, lv, sv in diffs))
    elif loader.crash is None and loader.error is not None:
        objects = 0
    return FileResult(comparison, traced.via, objects, objects_agree, via_agree, diffs)


# -- causes ---------------------------------------------------------------------------------
def _shape(path: str | None, name: str | None = None) -> str:
    """A path with the library's own name (and version digits) generalised."""
    if path is None:
        return "-"
    base = os.path.basename(path)
    if name and base == name:
        return os.path.dirname(path) + "/NAME"
    return os.path.dirname(path) + "/" + re.sub(r"\d+", "N", base)


def _trail_shape(line: str) -> str:
    if line.startswith("trying file="):
        return "trying file=" + os.path.dirname(line[len("trying file="):]) + "/*"
    if line.startswith("search path="):
        dirs, _, what = line[len("search path="):].partition("\t\t")
        what = re.sub(r"file \S+", "file F", what)
        parts = dirs.split(":")
        first = parts[0] if parts else ""
        return f"search path={first}:... ({len(parts)} dirs) {what}"
    return line


def causes(result: FileResult) -> list[tuple[str, str]]:
    """(cause, example) for each disagreement of one file; the cause is generalised."""
    c = result.comparison
    loader, ours = c.loader, c.ldsim
    out: list[tuple[str, str]] = []
    lpaths, spaths = dict(loader.found), dict(ours.found)
    for kind, reason in zip(c.kinds, c.reasons, strict=True):
        if kind == "path-differs":
            for name, path in loader.found:
                if name in spaths and spaths[name] != path:
                    out.append((f"path-differs: loader {_shape(path, name)}, ldsim "
                                f"{_shape(spaths[name], name)} (ldsim via "
                                f"{ours.via.get(name, '?')}, loader via "
                                f"{result.loader_via.get(name, '?')})",
                                f"{c.program.path}: {name} => {path} | ldsim {spaths[name]}"))
        elif kind in ("ldsim-not-found", "ldsim-missing"):
            for name, path in loader.found:
                if name not in spaths:
                    out.append((f"{kind}: loader {_shape(path, name)} via "
                                f"{result.loader_via.get(name, '?')}",
                                f"{c.program.path}: {name} => {path} | ldsim: "
                                f"{'not found' if name in ours.unresolved else 'absent'}"))
        elif kind == "ldsim-extra":
            for name, path in ours.found:
                if name not in lpaths:
                    out.append((f"ldsim-extra: ldsim {_shape(path, name)} via "
                                f"{ours.via.get(name, '?')}",
                                f"{c.program.path}: ldsim {name} => {path} | loader: "
                                f"{'not found' if name in loader.unresolved else 'absent'}"))
        elif kind in ("via-differs", "via-undetermined"):
            for name, path, lv, sv in result.via_diffs:
                out.append((f"{kind}: loader {lv}, ldsim {sv} ({_shape(path, name)})",
                            f"{c.program.path}: {name} => {path}"))
        elif kind == "trail-differs":
            a, b = loader.trail or [], ours.trail or []
            i = ch.first_difference(a, b)
            la = _trail_shape(a[i]) if i < len(a) else "(end)"
            lb = _trail_shape(b[i]) if i < len(b) else "(end)"
            out.append((f"trail-differs: loader {la!r} / ldsim {lb!r}",
                        f"{c.program.path}: line {i + 1}: loader "
                        f"{a[i] if i < len(a) else '(end)'!r} | ldsim "
                        f"{b[i] if i < len(b) else '(end)'!r}"))
        elif kind in ("ldsim-aborts", "loader-aborts", "error-differs"):
            shape = re.sub(r"/\S+", "PATH", reason)
            out.append((f"{kind}: {shape}", f"{c.program.path}: {reason}"))
        else:
            out.append((kind, f"{c.program.path}: {reason}"))
    return out


# -- a whole run -----------------------------------------------------------------------------
@dataclass(slots=True)
class RootReport:
    root: str
    arch: str
    cpu: Cpu
    results: list[FileResult]
    skipped: list[ch.Skipped]
    seconds: float
    loader_seconds: float
    ldsim_seconds: float
    threshold: float = DEFAULT_THRESHOLD
    ldsim_cpu: str = "measured"  # or "default": ldsim's own default CPU for the arch

    @property
    def files(self) -> int:
        return len(self.results)

    @property
    def agreeing(self) -> int:
        return sum(1 for r in self.results if r.agree)

    @property
    def objects(self) -> int:
        return sum(r.objects for r in self.results)

    @property
    def objects_agree(self) -> int:
        return sum(r.objects_agree for r in self.results)

    @property
    def via_agree(self) -> int:
        return sum(r.via_agree for r in self.results)

    @property
    def percent(self) -> float:
        return 100.0 * self.agreeing / self.files if self.files else 0.0

    @property
    def passed(self) -> bool:
        return self.files > 0 and self.percent >= self.threshold

    def via_counts(self) -> dict[str, int]:
        """How the loader found its objects (files whose load did not abort)."""
        return dict(sorted(Counter(v for r in self.results if r.objects
                                   for v in r.loader_via.values()).items()))

    def kind_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(k for r in self.results if not r.agree
                                   for k in set(r.comparison.kinds)).items()))

    def cause_table(self) -> list[tuple[str, int, int, list[str]]]:
        """(cause, occurrences, files, up to 3 examples), most frequent first."""
        count: Counter[str] = Counter()
        files: dict[str, set[str]] = defaultdict(set)
        examples: dict[str, list[str]] = defaultdict(list)
        for r in self.results:
            if r.agree:
                continue
            for cause, example in causes(r):
                count[cause] += 1
                files[cause].add(r.comparison.program.path)
                if len(examples[cause]) < 3:
                    examples[cause].append(example)
        return [(c, n, len(files[c]), examples[c])
                for c, n in sorted(count.items(), key=lambda x: (-x[1], x[0]))]

    def summary(self) -> str:
        def pct(a: int, b: int) -> str:
            return f"{100.0 * a / b:.2f}%" if b else "-"
        return (f"{self.files} files, {self.agreeing} agree ({pct(self.agreeing, self.files)}, "
                f"threshold {self.threshold:g}%); objects {self.objects_agree}/{self.objects} "
                f"({pct(self.objects_agree, self.objects)}), via {self.via_agree}/"
                f"{self.objects} ({pct(self.via_agree, self.objects)}); {self.seconds:.1f} s "
                f"(the loader runs, in parallel: {self.loader_seconds:.1f} s; ldsim alongside: "
                f"{self.ldsim_seconds:.1f} s)")

    def format_text(self, verbose: bool = False, examples: int = 3) -> str:
        out = [f"ldsim vs glibc ld.so (trace mode) on {self.root} ({self.arch})"]
        cpu = self.cpu
        out.append(f"CPU: AT_PLATFORM {cpu.at_platform}, AT_HWCAP {cpu.at_hwcap}, AT_HWCAP2 "
                   f"{cpu.at_hwcap2}, dl_platform {cpu.dl_platform}, glibc-hwcaps "
                   f"{','.join(cpu.hwcaps) or '-'}, legacy {','.join(cpu.legacy) or '-'}"
                   f"{' (qemu -cpu ' + cpu.qemu_cpu + ')' if cpu.qemu_cpu else ''}; ldsim "
                   f"given {'this CPU' if self.ldsim_cpu == 'measured' else 'its default CPU'}")
        out.append(self.summary())
        out.append("the loader found its objects by: " + ", ".join(
            f"{k} {n}" for k, n in self.via_counts().items()))
        skipped = ", ".join(f"{k} {n}" for k, n in
                            sorted(Counter(s.kind for s in self.skipped).items()))
        out.append(f"skipped {len(self.skipped)} ELF files: {skipped or 'none'}")
        if verbose:
            out += [f"  skip {s.path}: {s.reason}" for s in self.skipped]
        bad = [r for r in self.results if not r.agree]
        if bad:
            kinds = ", ".join(f"{k} {n}" for k, n in self.kind_counts().items())
            out.append(f"{len(bad)} files disagree ({kinds}); causes (occurrences, files):")
            for cause, n, nfiles, ex in self.cause_table():
                out.append(f"  {n:6d} {nfiles:6d}  {cause}")
                out += [f"                 e.g. {ch.clip(e, 200)}" for e in ex[:examples]]
            if verbose:
                for r in bad:
                    c = r.comparison
                    out.append(f"DISAGREE {c.program.path} (interpreter {c.program.interp})")
                    out += [f"  reason: {x}" for x in c.reasons]
                    out += [f"    {line}" for line in c.diff()]
                    for name in r.differing_names():
                        out.append(f"  search for {name}:")
                        out += [f"    loader: {ch.clip(x)}"
                                for x in c.loader_searches.get(name) or ["(no search)"]]
                        out += [f"    ldsim:  {ch.clip(x)}"
                                for x in c.ldsim.searches.get(name) or ["(no search)"]]
        return "\n".join(out) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "root": self.root, "arch": self.arch, "cpu": self.cpu.to_json(),
            "ldsim_cpu": self.ldsim_cpu,
            "files": self.files, "agree": self.agreeing, "percent": round(self.percent, 4),
            "objects": self.objects, "objects_agree": self.objects_agree,
            "via_agree": self.via_agree, "via_counts": self.via_counts(), "threshold": self.threshold, "passed": self.passed,
            "seconds": round(self.seconds, 3), "loader_seconds": round(self.loader_seconds, 3),
            "ldsim_seconds": round(self.ldsim_seconds, 3),
            "skipped_counts": dict(sorted(Counter(s.kind for s in self.skipped).items())),
            "disagreement_kinds": self.kind_counts(),
            "causes": [{"cause": c, "occurrences": n, "files": f, "examples": ex}
                       for c, n, f, ex in self.cause_table()],
            "disagreements": [{**r.comparison.to_json(),
                               "loader_via": r.loader_via,
                               "ldsim_via": r.comparison.ldsim.via}
                              for r in self.results if not r.agree],
        }


def root_arch(root: str, given: str | None) -> Arch:
    if given is not None:
        return ARCHES[given]
    try:
        doc = json.loads(Path(root, STAMP).read_text())
        return ARCHES[str(doc["arch"])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"compare_root: cannot tell the architecture of {root} "
                         f"({STAMP}: {exc}); give --arch") from None


def ldsim_env(cpu: Cpu | None) -> Any:
    """The simulated process: ``ldd``'s, with the CPU the loader saw (None: ldsim's own
    default CPU for the program's architecture, what ``ldsim explain`` assumes)."""
    import ldsim

    if cpu is None:
        return ldsim.host_env(cwd="/", invocation=ldsim.Invocation.LDD)
    return ldsim.LoaderEnv(cwd="/", invocation=ldsim.Invocation.LDD, hwcaps=cpu.hwcaps,
                           platform=cpu.dl_platform or "", legacy_hwcap_names=cpu.legacy)


def run_root(root: str, *, arch: str | None = None, qemu_cpu: str | None = DEFAULT_QEMU_CPU,
             programs: Sequence[str] = (), jobs: int | None = None,
             threshold: float = DEFAULT_THRESHOLD, progress: bool = False,
             default_cpu: bool = False) -> RootReport:
    """Discover (or take the given guest paths), compare, time."""
    start = time.perf_counter()
    root = os.path.abspath(root)
    a = root_arch(root, arch)
    runner = RootRunner(root, a, qemu_cpu if a.qemu else None)
    cpu = measure_cpu(runner)
    progs, skipped = discover(root, a)
    if programs:
        wanted = set(programs)
        progs = [p for p in progs if p.path in wanted]
        missing = wanted - {p.path for p in progs}
        skipped += [ch.Skipped(p, "not-compared", "not a dynamic ELF file of the root")
                    for p in sorted(missing)]
    sim = ch.InProcessLdsim(root)
    sim.env = ldsim_env(None if default_cpu else cpu)
    workers = max(1, jobs or (os.cpu_count() or 1))
    results: list[FileResult] = []
    loader_start = time.perf_counter()
    done = 0
    lock = threading.Lock()

    def traced(p: ch.Program) -> Traced:
        nonlocal done
        t = run_loader(runner, p)
        with lock:
            done += 1
            if progress and done % 100 == 0:
                print(f"compare_root: {done}/{len(progs)} traced", file=sys.stderr, flush=True)
        return t

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: list[Future[Traced]] = [pool.submit(traced, p) for p in progs]
        t0 = time.perf_counter()
        ours = [sim.explain(p.path) for p in progs]
        ldsim_seconds = time.perf_counter() - t0
        theirs = [f.result() for f in futures]
    loader_seconds = time.perf_counter() - loader_start
    for p, t, o in zip(progs, theirs, ours, strict=True):
        r = compare_file(p, t, o)
        if not r.agree:
            r.comparison.loader_searches = debug_searches(t.stderr, r.differing_names())
        results.append(r)
    return RootReport(root, a.name, cpu, results, skipped, time.perf_counter() - start,
                      loader_seconds, ldsim_seconds, threshold,
                      "default" if default_cpu else "measured")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Compare `ldsim explain --invocation ldd --root ROOT` with the root's own "
        "glibc loader in trace mode (natively for i386, under qemu-user for arm64) on every "
        "dynamic ELF file of a root built by scripts/make_foreign_root.py.",
        epilog="Exit status: 0 agreement >= threshold, 1 below it, 2 bad usage.")
    p.add_argument("root", help="the root directory")
    p.add_argument("programs", nargs="*", metavar="FILE",
                   help="compare only these files (guest paths, e.g. /usr/bin/ssh)")
    p.add_argument("--arch", choices=sorted(ARCHES),
                   help=f"the root's architecture (default: from ROOT/{STAMP})")
    p.add_argument("--qemu-cpu", default=DEFAULT_QEMU_CPU,
                   help=f"qemu -cpu model for foreign roots (default: {DEFAULT_QEMU_CPU})")
    p.add_argument("--default-cpu", action="store_true",
                   help="give ldsim its own default CPU for the root's architecture instead "
                   "of the one measured from the root's loader")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="loader runs in parallel (default: number of CPUs)")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help="minimum file agreement in percent for exit status 0 (default: 100)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--examples", type=int, default=3, help="examples per cause (default: 3)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list skipped files and every disagreement in full")
    p.add_argument("--progress", action="store_true", help="report progress on stderr")
    args = p.parse_args(argv)
    if not os.path.isdir(args.root):
        p.error(f"{args.root} is not a directory")
    report = run_root(args.root, arch=args.arch, qemu_cpu=args.qemu_cpu,
                      programs=args.programs, jobs=args.jobs, threshold=args.threshold,
                      progress=args.progress, default_cpu=args.default_cpu)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(report.format_text(verbose=args.verbose, examples=args.examples))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
