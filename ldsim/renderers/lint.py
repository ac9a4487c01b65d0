"""``ldsim lint`` output: Snapcraft's report shape for people, ``ldsim.lint/1`` JSON.

The text shows file names and messages through :func:`ldsim.safetext.shown` (no control
character of the input reaches the terminal); JSON escapes them itself."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from ldsim.linter.model import ALL_RULES, LintFinding, LintReport
from ldsim.renderers.style import Style, plural
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


_LINTER_WORDS = {"classic": "Snapcraft's classic linter", "library": "Snapcraft's library linter"}
_URL = re.compile(r" \((https://[^ )]+)\)$")
_WORD = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "INFO"}


def _fix_command(f: LintFinding) -> str | None:
    """The patchelf command that resolves a finding, for a person to read or run."""
    if f.fix is None or not f.file:
        return None
    args = []
    if f.fix.interpreter is not None:
        args.append(f"--set-interpreter {shlex.quote(shown(f.fix.interpreter))}")
    if f.fix.rpath is not None:
        args.append(f"--force-rpath --set-rpath {shlex.quote(shown(f.fix.rpath))}")
    if f.fix.no_default_lib:
        args.append("--no-default-lib")
    if not args:
        return None
    return f"patchelf {' '.join(args)} {shlex.quote(shown(f.file))}"


def render_lint_text(report: LintReport, *, color: bool = False,
                     width: int | None = None, limit: int = 0) -> str:
    """Findings grouped by rule id (the id ``--ignore`` takes), worst severity first, each
    finding once with its fix (the patchelf command) beside it, a fix that several findings
    of one file in a row share once after them; at most ``limit`` findings per rule (0: all),
    with how many more there are; Snapcraft's "Lint OK" lines first, files that could not be
    linted, then the counts."""
    st = Style(color, width)
    out: list[str] = []
    oks = list(dict.fromkeys(f"  {shown(f.message)}" for f in report.findings if f.ok))
    if oks:
        out.append(st.paint("found", "Lint OK:"))
        out.extend(oks)
    groups: dict[str, list[LintFinding]] = {}
    seen: set[tuple[str, str, str | None, str]] = set()
    for f in report.findings:
        key = (f.id, f.severity.value, f.file, f.message)
        if f.ok or key in seen:
            continue
        seen.add(key)
        groups.setdefault(f.id, []).append(f)
    for items in groups.values():  # worst first, then as the report orders them
        items.sort(key=lambda f: f.severity.rank)

    def order(rule: str) -> tuple[int, int, str]:
        worst = min(f.severity.rank for f in groups[rule])
        return (worst, ALL_RULES.index(rule) if rule in ALL_RULES else len(ALL_RULES), rule)

    for rule in sorted(groups, key=order):
        items = groups[rule]
        worst = items[0].severity
        linter = _LINTER.get(rule)
        # Snapcraft's linters only warn: an error under the same id is ldsim's classic view
        about = ""
        if linter in _LINTER_WORDS:
            about = f" ({_LINTER_WORDS[linter]}" + ("; its errors are ldsim's" if any(
                f.severity is Severity.ERROR for f in items) else "") + ")"
        by_sev = [plural(sum(1 for f in items if f.severity is sev), _WORD[sev].lower())
                  for sev in Severity if any(f.severity is sev for f in items)]
        urls = {m.group(1) for f in items if (m := _URL.search(f.message))}
        out.append("")
        out.append(f"{st.severity(worst.value, _WORD[worst])} {st.paint('heading', shown(rule))}"
                   f"{about}: {plural(len(items), 'finding')}"
                   + (f" ({', '.join(by_sev)})" if len(by_sev) > 1 else ""))
        if len(urls) == 1:
            out.append(f"  see {shown(urls.pop())}")
            strip = True
        else:
            strip = False
        shown_items = items[:limit] if limit > 0 else items
        # (file, fix) of each: a fix the next finding of the same file shares waits for it
        keys = [(f.file, _fix_command(f)) for f in shown_items] + [(None, None)]
        for i, f in enumerate(shown_items):
            message = _URL.sub("", f.message) if strip else f.message
            where = f"{shown(f.file)}: " if f.file else ""
            mark = st.severity(f.severity.value, f"{_WORD[f.severity]:<7}")
            out.extend(st.fit(f"  {mark} {where}{shown(message)}", 12))
            cmd = keys[i][1]
            if cmd and keys[i + 1] != keys[i]:
                out.extend(st.fit(f"          fix: {cmd}", 15))
        if len(shown_items) < len(items):
            rest = items[len(shown_items):]
            files = len({f.file for f in rest if f.file})
            out.extend(st.fit(
                f"  ... and {plural(len(rest), 'more finding')} of this rule"
                + (f" in {plural(files, 'file')}" if files > 1 else "")
                + " (--limit 0 shows them all; --format json lists every one)", 4))
    if report.diagnostics:
        out.append("")
        out.append(st.paint("missing", "Not linted:"))
        out.extend(f"  - {shown(d.message)}" for d in report.diagnostics)
    counts = {s: sum(1 for v in groups.values() for f in v if f.severity is s)
              for s in Severity}
    out.append("")
    line = (f"{plural(len(report.files), 'ELF file')} checked: "
            f"{plural(counts[Severity.ERROR], 'error')}, "
            f"{plural(counts[Severity.WARNING], 'warning')}, "
            f"{plural(counts[Severity.INFO], 'note')}")
    out.append(st.paint("missing" if counts[Severity.ERROR] else
                        "warning" if counts[Severity.WARNING] else "found", line))
    return st.lines(out)
