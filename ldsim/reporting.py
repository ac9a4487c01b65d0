"""A report for a reviewer: everything ldsim knows about a snap (or programs of a root), in one
finished value that the HTML renderer (:mod:`ldsim.renderers.html`) writes as one page.

For a snap: each app's verdict in the view it runs in (:mod:`ldsim.analysis.verdict`), its
programs in the classic view beside the strict view (:mod:`ldsim.analysis.compare`), the lint
findings with their fixes (:mod:`ldsim.linter`), and the dependency graph of both views
(:mod:`ldsim.analysis.graphs`). For a root: each program's verdict and their graph. The
:func:`ldsim.report` function of the API computes it (the one orchestration); this module only
holds the result and judges it, with the exit statuses of the other commands:

* 0: every program starts and, for a snap, nothing comes from the host, is missing or aborts
  in the classic view and no lint finding is an error;
* 1: something does;
* 2: an input could not be read (a program, a payload file the linter skipped);
* 3: a bug in ldsim while handling one input (the rest of the report is still made).

The worst applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldsim.errors import InternalError, LdsimError
from ldsim.fs.view import Realm
from ldsim.records import record
from ldsim.registry import display
from ldsim.result import Severity

if TYPE_CHECKING:
    from ldsim.analysis.compare import Comparison
    from ldsim.analysis.explain import Explanation
    from ldsim.analysis.graphs import GraphRun
    from ldsim.linter.model import LintReport

EXIT_OK, EXIT_PROBLEM, EXIT_UNREADABLE, EXIT_INTERNAL = 0, 1, 2, 3


@record(frozen=True, slots=True)
class ProgramReport:
    """One program of the report: its path in the target's view, the snap app it is the
    program of (None: given by path, or a root's), the view it was judged in (a snap's
    ``classic`` or ``strict``; None for a root), and its explanation, or the error that kept
    it from being read."""

    program: str
    app: str | None = None
    view: str | None = None
    explanation: Explanation | None = None
    error: LdsimError | None = None

    @property
    def starts(self) -> bool:
        return self.explanation is not None and self.explanation.verdict.starts


@record(frozen=True, slots=True)
class Report:
    """What :func:`ldsim.report` found: ``target`` describes the snap (name, base,
    confinement) or the root (``{"root": DIR}``); ``programs`` are judged one by one; a snap
    also has its ``comparison`` (classic beside strict) and ``lint`` report; ``graph`` is
    the dependency graph of the programs (None when it could not be made: ``graph_error``).
    ``skipped`` names payload files a walk could not use. Write it with
    ``ldsim.render(report, "html")``; :attr:`exit_status` is what ``ldsim report`` exits
    with."""

    target: dict[str, str]
    programs: tuple[ProgramReport, ...]
    comparison: Comparison | None = None
    lint: LintReport | None = None
    graph: GraphRun | None = None
    graph_error: LdsimError | None = None
    skipped: tuple[str, ...] = ()

    @property
    def is_snap(self) -> bool:
        return "root" not in self.target

    @property
    def lint_errors(self) -> int:
        """Lint findings (OK lines aside) that are errors."""
        if self.lint is None:
            return 0
        return sum(1 for f in self.lint.findings if not f.ok and f.severity is Severity.ERROR)

    def problems(self) -> list[str]:
        """Why the report does not pass (exit status 1), one phrase each; empty: it passes."""
        out: list[str] = []
        what = "app" if self.is_snap and all(p.app for p in self.programs) else "program"
        for status, one, many in (("does_not_start", "does not start", "do not start"),
                                  ("fails_at_run_time", "fails at run time",
                                   "fail at run time")):
            n = sum(1 for p in self.programs if p.explanation is not None
                    and p.explanation.verdict.status.value == status)
            if n:
                total = len(self.programs)
                out.append(f"{n} of {total} {what}{'' if total == 1 else 's'} "
                           f"{one if n == 1 else many}")
        if self.comparison is not None:
            rows = self.comparison.deciding_rows
            leaks = sum(r.leak for r in rows)
            missing = sum(r.classic.realm is Realm.MISSING for r in rows)
            aborted = sum(1 for b in self.comparison.binaries if b.decides and b.classic_error)
            for count, one, many in ((leaks, "host leak", "host leaks"),
                                     (missing, "name found nowhere", "names found nowhere"),
                                     (aborted, "aborted load", "aborted loads")):
                if count:
                    out.append(f"{count} {one if count == 1 else many} in the classic view")
        if self.lint_errors:
            out.append(f"{self.lint_errors} lint error{'' if self.lint_errors == 1 else 's'}")
        return out

    def unreadable(self) -> list[str]:
        """Inputs that could not be read or handled (exit status 2, or 3 for a bug), one
        line each."""
        out = [f"{p.program}: {p.error.reason}" for p in self.programs if p.error is not None]
        if self.comparison is not None:
            out += [f"{f.path} ({f.view}): {f.error.reason}" for f in self.comparison.failures]
        if self.lint is not None:
            out += [f"{d.path}: {d.message}" for d in self.lint.diagnostics]
        if self.graph is not None:
            out += [f"{label}: {exc.reason}" for label, exc in self.graph.failures]
        if self.graph_error is not None and all(p.error is None for p in self.programs):
            out.append(f"graph: {self.graph_error}")  # else it is that program's error
        out += list(self.skipped)
        return list(dict.fromkeys(out))

    @property
    def internal_errors(self) -> bool:
        """Some input failed on a bug in ldsim."""
        return (any(isinstance(p.error, InternalError) for p in self.programs)
                or (self.comparison is not None and self.comparison.internal_errors)
                or (self.lint is not None and self.lint.internal_errors)
                or (self.graph is not None and self.graph.internal_errors)
                or isinstance(self.graph_error, InternalError))

    @property
    def exit_status(self) -> int:
        """3 a bug in ldsim, 2 something could not be read, 1 :meth:`problems`, else 0:
        the worst applies."""
        if self.internal_errors:
            return EXIT_INTERNAL
        if self.unreadable():
            return EXIT_UNREADABLE
        return EXIT_PROBLEM if self.problems() else EXIT_OK

    @property
    def passed(self) -> bool:
        return self.exit_status == EXIT_OK

    # A notebook shows the report itself, through the renderer registry (filled by
    # ldsim.renderers; nothing here imports a renderer).
    def _repr_html_(self) -> str | None:
        return display(self, "text/html")


__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_PROBLEM", "EXIT_UNREADABLE", "ProgramReport",
           "Report"]
