"""``ldsim lint`` output: Snapcraft's report shape for people, ``ldsim.lint/1`` JSON.

The text shows file names and messages through :func:`ldsim.safetext.shown` (no control
character of the input reaches the terminal); JSON escapes them itself."""

from __future__ import annotations

import json
from typing import Any

from ldsim.linter.model import LintFinding, LintReport
from ldsim.result import Severity
from ldsim.safetext import shown

SCHEMA = "ldsim.lint/1"
_LINTER = {"classic": "classic", "interpreter": "classic", "rpath": "classic",
           "missing-library": "library", "unused-library": "library"}


def lint_dict(report: LintReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "snap": report.snap,
        "findings": [
            {"id": f.id, "severity": f.severity.value, "file": f.file, "message": f.message,
             "fix": f.fix.as_dict() if f.fix else None, **({"ok": True} if f.ok else {})}
            for f in report.findings
        ],
        **({"skipped": [{"file": d.path, "message": d.message} for d in report.diagnostics]}
           if report.diagnostics else {}),
    }


def render_lint_json(report: LintReport) -> str:
    return json.dumps(lint_dict(report), indent=2) + "\n"


def _line(f: LintFinding) -> str:
    # Snapcraft's linters only warn: their findings keep Snapcraft's label ("library",
    # "classic"); an error is ldsim's own judgement and shows its rule id.
    linter = f.id if f.severity is Severity.ERROR else _LINTER.get(f.id, f.id)
    where = f"{shown(f.file)}: " if f.file else ""
    return f"- {shown(linter)}: {where}{shown(f.message)}"


def render_lint_text(report: LintReport) -> str:
    groups = [
        ("Lint OK:", [f for f in report.findings if f.ok]),
        ("Lint warnings:", [f for f in report.findings
                            if not f.ok and f.severity is Severity.WARNING]),
        ("Lint errors:", [f for f in report.findings
                          if not f.ok and f.severity is Severity.ERROR]),
        ("Lint information:", [f for f in report.findings
                               if not f.ok and f.severity is Severity.INFO]),
    ]
    out: list[str] = []
    for title, items in groups:
        if items:
            out.append(title)
            out.extend(_line(f) for f in items)
    if report.diagnostics:
        out.append("Not linted:")
        out.extend(f"- {shown(d.message)}" for d in report.diagnostics)
    counts = {s: sum(1 for f in report.findings if not f.ok and f.severity is s)
              for s in Severity}
    out.append(f"{len(report.files)} ELF files checked: {counts[Severity.ERROR]} errors, "
               f"{counts[Severity.WARNING]} warnings, {counts[Severity.INFO]} notes")
    return "\n".join(out) + "\n"
