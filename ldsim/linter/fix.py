"""``ldsim fix``: the patchelf edits that resolve the classic linter's findings, planned from a
:class:`~ldsim.linter.model.LintReport` (:mod:`ldsim.patching` applies a plan).

The edits are Snapcraft's (``snapcraft/elf/_patcher.py``, ``Patcher.patch``): per file
**one** ``patchelf`` call with ``--set-interpreter LINKER`` and
``--force-rpath --set-rpath RPATH`` (DT_RPATH, which the loader also applies to the
libraries' own DT_NEEDED; a DT_RUNPATH is converted), then, opted in, a second call
``patchelf --no-default-lib`` (after the rpath change, patchelf issue 223). The values come from
the report's ``interpreter`` and ``rpath`` findings (a ``runpath-not-inherited`` finding alone
asks for the RUNPATH to become an RPATH). Unlike Snapcraft, ``--no-default-lib`` is also planned
for a file that needs no other edit, so that running the fixer twice gives the same result.

Files that patchelf cannot rewrite safely are refused and left untouched:

* static files (no PT_INTERP and no DT_NEEDED): the loader never runs for them;
* Go-linked files (``.note.go.buildid``, a ``Go`` build-id note, ``.go.buildinfo``): Go's own
  layout assumptions have broken under patchelf; link with ``-Wl,-dynamic-linker=`` instead;
* signed files (a signature section, an appended kernel-module signature) and files with bytes
  after the end of the last section, segment and header table (``bun build --compile``,
  ``deno compile``, PyInstaller one-file builds): rewriting moves or truncates the trailer;
* foreign interpreters (``ld-musl-*``, an unknown loader) and files of another ELF class or
  machine than the expected loader: Snapcraft picks the linker from the build host's machine,
  not from the file, and would break them.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from enum import StrEnum

from ldsim.elf.facts import (
    LOADABLE_TYPES,
    NT_GO_BUILDID,
    PN_XNUM,
    SHN_XINDEX,
    ElfClass,
    ElfFacts,
    Machine,
    SectionType,
    SegmentType,
    class_name,
    machine_name,
)
from ldsim.elf.layout import ElfImage, SectionHeader
from ldsim.elf.reader import parse_elf
from ldsim.errors import ElfError, contained
from ldsim.fs.view import Realm, View
from ldsim.linter.model import FileLint, LintReport
from ldsim.records import record
from ldsim.result import Via
from ldsim.snap.compose import elf_files

GO_SECTIONS = (".note.go.buildid", ".go.buildinfo")
GO_TEXT_MARK = b'\xff Go build ID: "'
SIGNATURE_SECTIONS = (".signature", ".sig", ".note.signature")
MODULE_SIG_MAGIC = b"~Module signature appended~\n"
NAME_SCAN = 256
# glibc loader names (snapcraft's ``_ARCH_CONFIG`` and glibc's sysdeps) -> (EI_CLASS, e_machine)
_64, _32 = ElfClass.ELF64, ElfClass.ELF32
GLIBC_LOADERS: dict[str, tuple[int, int]] = {
    "ld-linux-x86-64.so.2": (_64, Machine.X86_64),
    "ld-linux-x32.so.2": (_32, Machine.X86_64),
    "ld-linux-aarch64.so.1": (_64, Machine.AARCH64),
    "ld-linux-aarch64_be.so.1": (_64, Machine.AARCH64),
    "ld-linux-armhf.so.3": (_32, Machine.ARM),
    "ld-linux.so.3": (_32, Machine.ARM),
    "ld64.so.2": (_64, Machine.PPC64),
    "ld64.so.1": (_64, Machine.S390),
    "ld-linux-riscv64-lp64d.so.1": (_64, Machine.RISCV),
    "ld-linux-riscv64-lp64.so.1": (_64, Machine.RISCV),
    "ld-linux.so.2": (_32, Machine.I386),
    "ld-linux-loongarch-lp64d.so.1": (_64, Machine.LOONGARCH),
}


class FixStatus(StrEnum):
    """What the planner decided for one file."""

    PATCH = "patch"  # edits planned
    OK = "ok"  # nothing to change
    REFUSED = "refused"  # edits wanted, but the file cannot be patched safely
    SKIPPED = "skipped"  # nothing wanted and nothing to do (static files, no DT_NEEDED)


@record(frozen=True, slots=True)
class FixOptions:
    """The fixer's opt-outs and opt-ins (``ldsim fix`` options)."""

    patch_interpreter: bool = True  # --no-patch-interpreter turns it off
    keep_rpath: bool = False  # add the missing entries to the existing rpath, keeping order
    no_default_lib: bool = False  # a second call, patchelf --no-default-lib
    only: tuple[str, ...] = ()  # fnmatch globs on payload-relative paths ('*' crosses '/')


@record(frozen=True, slots=True)
class PatchelfCall:
    """One patchelf invocation: its options, without the program and the file."""

    options: tuple[str, ...]

    def argv(self, program: str, file: str) -> list[str]:
        return [program, *self.options, file]


@record(frozen=True, slots=True)
class FilePlan:
    """What the fixer decided for one payload file, and the patchelf calls that do it."""

    path: str  # payload-relative
    status: FixStatus
    reason: str | None = None  # why refused or skipped
    calls: tuple[PatchelfCall, ...] = ()
    interpreter: str | None = None  # the new PT_INTERP, when it changes
    rpath: str | None = None  # the new DT_RPATH, when it changes
    no_default_lib: bool = False
    old_interpreter: str | None = None
    old_rpath: str | None = None  # what ``patchelf --print-rpath`` shows now
    sha256: str | None = None  # of the bytes the plan was made from


@record(frozen=True, slots=True)
class FixPlan:
    """The plan for a whole snap: one :class:`FilePlan` per ELF file, sorted by path."""

    snap: dict[str, str]
    classic_rules: bool  # False: strict snap without staged libc, or base: bare: nothing planned
    files: tuple[FilePlan, ...] = ()

    def with_status(self, status: FixStatus) -> list[FilePlan]:
        return [f for f in self.files if f.status is status]


# -- what the bytes say beyond the loader's facts ---------------------------------------------
@record(frozen=True, slots=True)
class Layout:
    """Sections, notes and the extent of an ELF file's structures."""

    size: int
    data_end: int  # end of the last header table, section (not NOBITS) or segment
    section_names: tuple[str, ...]
    notes: tuple[tuple[bytes, int], ...]  # (name without NULs, type)

    @property
    def trailing(self) -> int:
        return self.size - self.data_end


def _check_table(img: ElfImage, kind: str, offset: int, count: int, entsize: int,
                 expected: int) -> None:
    """A header table patchelf can rewrite: entries of the class's size, inside the file
    (a count in a header is a claim; the file's length is what it holds)."""
    if count and entsize != expected:
        raise ElfError(img.path, f"e_{kind[0]}hentsize is {entsize}, but a {kind} header of "
                       f"this class is {expected} bytes")
    if count and offset + count * entsize > len(img):
        raise ElfError(img.path, f"the {kind} header table ({count} entries at offset "
                       f"{offset:#x}) runs past the end of the file ({len(img)} bytes)")


def read_layout(data: bytes, path: str = "") -> Layout:
    """Parse the program and section header tables. Raises ElfError on a broken file."""
    img = ElfImage.of(data, path)
    hdr = img.header()
    phnum, shnum, shstrndx = hdr.phnum, hdr.shnum, hdr.shstrndx
    ends = [hdr.ehsize]
    sections: list[SectionHeader] = []
    if hdr.shoff:
        first = img.section_header(hdr.shoff)
        if shnum == 0:
            shnum = first.size  # extended numbering: sh_size of section 0
        if shstrndx == SHN_XINDEX:
            shstrndx = first.link  # sh_link of section 0
        if phnum == PN_XNUM:
            phnum = first.info  # sh_info of section 0
        _check_table(img, "section", hdr.shoff, shnum, hdr.shentsize, 64 if img.is64 else 40)
        ends.append(hdr.shoff + shnum * hdr.shentsize)
        sections = [img.section_header(hdr.shoff + i * hdr.shentsize) for i in range(shnum)]
    notes: list[tuple[bytes, int]] = []
    if hdr.phoff:
        _check_table(img, "program", hdr.phoff, phnum, hdr.phentsize, 56 if img.is64 else 32)
        ends.append(hdr.phoff + phnum * hdr.phentsize)
        for ph in img.program_headers(hdr.phoff, phnum, hdr.phentsize):
            if ph.filesz:
                ends.append(ph.offset + ph.filesz)
            if ph.type == SegmentType.NOTE:
                notes += [(n.name.rstrip(b"\0"), n.type)
                          for n in img.notes(ph.offset, ph.filesz, 8 if ph.align == 8 else 4)]
    strtab: tuple[int, int] | None = None
    if 0 < shstrndx < len(sections):
        s = sections[shstrndx]
        strtab = (s.offset, s.size)
    names: list[str] = []
    for sh in sections:
        if sh.type != SectionType.NOBITS and sh.size:
            ends.append(sh.offset + sh.size)
        if strtab is not None and sh.name < strtab[1]:
            # a name is looked for within NAME_SCAN bytes: no section ldsim knows has a longer
            # one, and overlapping names must not cost the string table once each
            start = strtab[0] + sh.name
            stop = data.find(b"\0", start, min(strtab[0] + strtab[1], start + NAME_SCAN))
            names.append(data[start:stop if stop >= 0 else start].decode("latin-1"))
        if sh.type == SectionType.NOTE:
            notes += [(n.name.rstrip(b"\0"), n.type)
                      for n in img.notes(sh.offset, sh.size, 8 if sh.align == 8 else 4)]
    return Layout(len(data), max(ends), tuple(names), tuple(notes))


def _loader_of(interp: str) -> tuple[int, int] | None:
    return GLIBC_LOADERS.get(interp.rsplit("/", 1)[-1])


def _kind(elf_class: int, machine: int) -> str:
    return f"{class_name(elf_class)} {machine_name(machine)}"


def refusal(data: bytes, facts: ElfFacts, expected_interpreter: str | None) -> str | None:
    """Why patchelf must not rewrite this file, or None when it may."""
    if facts.interp is None and not facts.needed:
        return ("static (no PT_INTERP and no DT_NEEDED): the loader never runs for it, "
                "there is nothing to patch")
    try:
        lay = read_layout(data)
    except ElfError as exc:
        return (f"its ELF structure cannot be read ({exc.reason}), so its layout cannot be "
                "checked")
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
    first: list[str] = []
    if interp is not None:
        first += ["--set-interpreter", interp]
    if rpath is not None:
        first += ["--force-rpath", "--set-rpath", rpath]
    calls: list[PatchelfCall] = []
    if first:
        calls.append(PatchelfCall(tuple(first)))
    if nodeflib:
        calls.append(PatchelfCall(("--no-default-lib",)))
    status, why = FixStatus.OK, None
    if calls:
        why = refusal(data, f.facts, f.expected_interpreter)
        status = FixStatus.PATCH if why is None else FixStatus.REFUSED
    return FilePlan(f.path, status, why, tuple(calls), interpreter=interp, rpath=rpath,
                    no_default_lib=nodeflib, old_interpreter=f.facts.interp,
                    old_rpath=":".join(f.current_rpath) if f.current_rpath else None,
                    sha256=hashlib.sha256(data).hexdigest())


def _other_elf_files(payload: View, known: set[str]) -> list[tuple[str, ElfFacts]]:
    """ELF executables and libraries the report leaves out (no DT_NEEDED: Snapcraft's
    linters select only files with one)."""
    out: list[tuple[str, ElfFacts]] = []
    for rel, etype in elf_files(payload):
        if rel in known or rel.endswith(".o") or etype not in LOADABLE_TYPES:
            continue
        try:
            out.append((rel, parse_elf(payload.read("/" + rel), rel)))
        except Exception as exc:  # reported by lint already (its "not linted" lines)
            contained(rel, exc)
            continue
    return out


def plan_fixes(report: LintReport, payload: View, options: FixOptions | None = None) -> FixPlan:
    """Plan the edits for every selected payload ELF file."""
    options = options or FixOptions()
    classic = any(f.expected_interpreter is not None for f in report.files) or any(
        f.id == "classic" and f.ok for f in report.findings)
    files: list[FilePlan] = []
    for f in report.files:
        if not _selected(f.path, options.only):
            continue
        try:
            data = payload.read("/" + f.path)
            files.append(plan_file(report, f, data, options))
        except Exception as exc:  # one file's failure, even a bug, refuses only that file
            err = contained(f.path, exc)
            files.append(FilePlan(f.path, FixStatus.REFUSED, f"cannot be read: {err.reason}"))
    known = {f.path for f in report.files}
    for rel, facts in _other_elf_files(payload, known):
        if not _selected(rel, options.only):
            continue
        if facts.interp is None:
            why = ("static (no PT_INTERP and no DT_NEEDED): the loader never runs for it, "
                   "there is nothing to patch")
        else:
            why = "no DT_NEEDED: Snapcraft never selects it and the loader searches nothing"
        files.append(FilePlan(rel, FixStatus.SKIPPED, why, old_interpreter=facts.interp))
    return FixPlan(dict(report.snap), classic, tuple(sorted(files, key=lambda p: p.path)))


def host_objects(f: FileLint) -> list[str]:
    """What the real loader loads from the host for this file in the classic view."""
    res = f.classic
    if res is None:
        return []
    return [("the interpreter" if o.via is Via.INTERPRETER else o.name)
            for o in res.objects[1:] if o.realm is Realm.HOST]


__all__ = [
    "FilePlan", "FixOptions", "FixPlan", "FixStatus", "Layout", "PatchelfCall", "host_objects",
    "plan_fixes", "read_layout", "refusal",
]
