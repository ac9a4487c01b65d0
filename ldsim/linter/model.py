"""What the classic-confinement linter produces: findings with stable ids and concrete fixes.

Rule ids (stable, used by ``--ignore RULE[:GLOB]`` and in JSON/SARIF):

* Snapcraft's (``snapcraft/linters/classic_linter.py``, ``linters/library_linter.py``):
  ``classic`` (the OK line), ``interpreter``, ``rpath``, ``missing-library``,
  ``unused-library``.
* ldsim's own, from the simulated classic view of the payload's programs: ``host-leak``,
  ``missing-library`` (as an error: a name found nowhere), ``load-abort``,
  ``runpath-not-inherited``,
  ``cache-shadowing``, ``nodefaultlib``, and the ABI findings ``libc-mix``,
  ``version-missing``, ``unversioned-provider``.
"""

from __future__ import annotations

from ldsim.elf.facts import ElfFacts
from ldsim.fs.view import Realm
from ldsim.records import record
from ldsim.result import Diagnostic, Resolution, Severity

SNAPCRAFT_RULES = ("classic", "interpreter", "rpath", "missing-library", "unused-library")
LDSIM_RULES = ("host-leak", "load-abort", "runpath-not-inherited", "cache-shadowing",
               "nodefaultlib",
               "libc-mix", "version-missing", "unversioned-provider", "dlopen-missing",
               "dlopen-leak")
ALL_RULES = SNAPCRAFT_RULES + LDSIM_RULES
CLASSIC_URL = ("https://documentation.ubuntu.com/snapcraft/stable/how-to/debugging/"
               "use-the-classic-linter")
LIBRARY_URL = ("https://documentation.ubuntu.com/snapcraft/stable/how-to/debugging/"
               "use-the-library-linter")


@record(frozen=True, slots=True)
class Fix:
    """The patchelf edits that resolve a finding (None: leave as is)."""

    interpreter: str | None = None  # patchelf --set-interpreter VALUE
    rpath: str | None = None  # patchelf --force-rpath --set-rpath VALUE
    no_default_lib: bool = False  # patchelf --no-default-lib

    def as_dict(self) -> dict[str, object]:
        return {"interpreter": self.interpreter, "rpath": self.rpath,
                "no_default_lib": self.no_default_lib}


@record(frozen=True, slots=True)
class LintFinding:
    """One finding of a lint rule: stable rule ``id``, severity, payload file, message and
    the fix (patchelf edits) that resolves it; ``ok`` for Snapcraft's "Lint OK" lines."""

    id: str
    severity: Severity
    file: str | None  # payload-relative path (the soname for unused-library), None: the snap
    message: str
    fix: Fix | None = None
    ok: bool = False  # one of Snapcraft's "Lint OK" lines

    def sort_key(self) -> tuple[int, str, str]:
        """OK lines first, then by file, then in rule order."""
        order = ALL_RULES.index(self.id) if self.id in ALL_RULES else len(ALL_RULES)
        return (0 if self.ok else 1, self.file or "", f"{order:02d}{self.id}")


@record(frozen=True, slots=True)
class FileLint:
    """One ELF file of the payload and everything the rules need to judge it."""

    path: str  # payload-relative, e.g. "usr/bin/toilet"
    guest: str  # its path in the classic view, /snap/NAME/current/...
    facts: ElfFacts
    expected_interpreter: str | None  # the linker Snapcraft wants (None: classic rules off)
    current_rpath: list[str]  # what `patchelf --print-rpath` prints (RUNPATH else RPATH)
    proposed_rpath: list[str]  # Snapcraft's get_proposed_rpath
    dependencies: tuple[tuple[str, str, Realm], ...] = ()  # (name, path, realm)
    classic: Resolution | None = None  # the real loader in the classic view
    program: bool = False  # a program (PT_INTERP; not a library that also runs)


@record(frozen=True, slots=True)
class LintReport:
    """A linted snap: its findings, sorted, and every ELF file with what the rules saw."""

    snap: dict[str, str]
    findings: tuple[LintFinding, ...] = ()
    files: tuple[FileLint, ...] = ()
    # files that could not be linted (unreadable, refused), one line each: the rest is linted
    diagnostics: tuple[Diagnostic, ...] = ()
    internal_errors: bool = False  # one of them was a bug in ldsim (lint exits 3 after all)

    def worst(self) -> Severity | None:
        """The worst severity of a finding (OK lines aside), or None."""
        sevs = [f.severity for f in self.findings if not f.ok]
        return min(sevs, key=lambda s: s.rank) if sevs else None

    def fails(self, threshold: Severity) -> bool:
        """Some finding (OK lines aside) is ``threshold`` or worse."""
        return any(not f.ok and f.severity.at_least(threshold) for f in self.findings)
