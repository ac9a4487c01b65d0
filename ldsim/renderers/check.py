"""``ldsim check`` output: the ABI findings of one program, for people and as ``ldsim.check/1``.

The text groups the findings by severity (errors, warnings, info), each finding once, C++
symbol names demangled (``_ZdaPv`` is shown as ``operator delete[](void*)``,
:mod:`ldsim.renderers.demangle`), then the result line when the program does not start.
The JSON document carries the findings with their mangled ``detail`` (and ``demangled`` when
it differs), the verdict, and counts. ``min_severity`` leaves out what is less severe; the
verdict (and so the exit status) is decided by every finding, shown or not.

Every string from the input goes through :func:`ldsim.safetext.shown` in the text; JSON
escapes it itself.
"""

from __future__ import annotations

import json

from ldsim.analysis.abi import Finding
from ldsim.analysis.explain import Explanation
from ldsim.errors import UsageError
from ldsim.renderers.demangle import (
    demangle_all,
    demangled_detail,
    demangled_message,
    finding_symbol,
)
from ldsim.renderers.style import Style, plural
from ldsim.renderers.text import result_line, warning_lines
from ldsim.result import Severity
from ldsim.safetext import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA = "ldsim.check/1"
_HEADINGS = {Severity.ERROR: "Errors", Severity.WARNING: "Warnings", Severity.INFO: "Info"}
_COUNTS = {Severity.ERROR: ("error", "errors"), Severity.WARNING: ("warning", "warnings"),
           Severity.INFO: ("info", "info")}


def severity_of(value: Severity | str) -> Severity:
    """A ``min_severity`` option as a :class:`Severity`; :class:`UsageError` names the
    choices."""
    try:
        return Severity(value)
    except ValueError:
        raise UsageError("min_severity", f"expected one of {', '.join(s.value for s in Severity)}"
                         f", got {value!r}") from None


def _unique(findings: tuple[Finding, ...]) -> list[Finding]:
    """Each finding once, in the order of :meth:`Finding.sort_key`."""
    seen = {(f.id, f.severity, f.object, f.library, f.detail, f.message): f for f in findings}
    return sorted(seen.values(), key=Finding.sort_key)


def _counts(findings: list[Finding]) -> dict[Severity, int]:
    return {sev: sum(1 for f in findings if f.severity is sev) for sev in Severity}


def check_text(expl: Explanation, *, min_severity: Severity | str = Severity.INFO,
               color: bool = False, width: int | None = None) -> str:
    """``ldsim check``: a line counting the findings, then the findings of ``min_severity``
    or worse grouped by severity, then the result when the program does not start."""
    threshold = severity_of(min_severity)
    st = Style(color, width)
    findings = _unique(expl.findings)
    counts = _counts(findings)
    shown_findings = [f for f in findings if f.severity.at_least(threshold)]
    names = demangle_all(finding_symbol(f) for f in shown_findings)
    out: list[str] = []
    if not findings:
        out.append("Findings: none")
    else:
        parts = [st.severity(sev.value, plural(n, *_COUNTS[sev])) for sev, n in counts.items()
                 if n]
        head = f"Findings: {', '.join(parts)}"
        hidden = [plural(n, *_COUNTS[sev]) for sev, n in counts.items()
                  if n and not sev.at_least(threshold)]
        why = f"--min-severity {threshold.value}"
        if not shown_findings:
            head += f" (not shown: {why})"
        elif hidden:
            head += f" ({', '.join(hidden)} not shown: {why})"
        out.append(head)
    for sev in Severity:
        group = [f for f in shown_findings if f.severity is sev]
        if not group:
            continue
        out += ["", st.severity(sev.value, f"{_HEADINGS[sev]} ({len(group)}):")]
        for f in group:
            out.append(f"  {st.severity(sev.value, shown(f.id))}: "
                       f"{shown(demangled_message(f, names))}")
    out += warning_lines(expl.resolution, st)
    if not expl.verdict.starts:
        out += ["", result_line(expl.resolution, expl.verdict, st)]
    return st.lines(out)


def check_dict(expl: Explanation, *, min_severity: Severity | str = Severity.INFO
               ) -> dict[str, Any]:
    """The ``ldsim.check/1`` document (see ``ldsim/schemas/ldsim.check-1.json``)."""
    threshold = severity_of(min_severity)
    res = expl.resolution
    findings = _unique(expl.findings)
    counts = _counts(findings)
    shown_findings = [f for f in findings if f.severity.at_least(threshold)]
    names = demangle_all(finding_symbol(f) for f in shown_findings)
    items: list[dict[str, Any]] = []
    for f in shown_findings:
        item: dict[str, Any] = {"id": f.id, "severity": f.severity.value, "object": f.object,
                                "library": f.library, "detail": f.detail}
        demangled = demangled_detail(f, names)
        if demangled != f.detail:
            item["demangled"] = demangled
        item["message"] = f.message
        items.append(item)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "root": res.root,
        "executable": res.executable,
        "loader": res.loader.value,
    }
    if expl.snap is not None:
        doc["snap"] = expl.snap
    doc.update({
        "verdict": expl.verdict.as_dict(),
        "min_severity": threshold.value,
        "summary": {"errors": counts[Severity.ERROR], "warnings": counts[Severity.WARNING],
                    "infos": counts[Severity.INFO]},
        "findings": items,
    })
    return doc


def check_json(expl: Explanation, *, min_severity: Severity | str = Severity.INFO) -> str:
    """``ldsim check --json``: the ``ldsim.check/1`` document."""
    return json.dumps(check_dict(expl, min_severity=min_severity), indent=2) + "\n"


__all__ = ["SCHEMA", "check_dict", "check_json", "check_text", "severity_of"]
