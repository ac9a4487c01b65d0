"""``ldsim scan`` output: a summary for people, the summary line that ends the JSON Lines
stream (``ldsim.scan-summary/1``), and SARIF 2.1.0 for code-scanning tools.

The summary line holds only what the tree decides (counts, names found nowhere, findings,
leaks, what could not be read), never how the scan ran (time, jobs, what a result store
reused): two scans of the same tree give the same JSON Lines, one process or a cluster.
Paths and names are shown through :func:`ldsim.safetext.shown`.
"""

from __future__ import annotations

import json
from typing import Any

from ldsim._version import __version__
from ldsim.analysis.scan import ScanSummary
from ldsim.renderers.style import Style, plural
from ldsim.safetext import shown

SUMMARY_SCHEMA = "ldsim.scan-summary/1"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json"

_STATUS_WORDS = {"starts": ("starts", "start"), "does_not_start": ("does not start",
                                                                   "do not start"),
                 "fails_at_run_time": ("fails at run time", "fail at run time"),
                 "unreadable": ("cannot be read", "cannot be read"),
                 "error": ("hit a bug in ldsim", "hit a bug in ldsim")}
_STATUS_MEANING = {"starts": "path", "does_not_start": "error", "fails_at_run_time": "error",
                   "unreadable": "warning", "error": "error"}


def summary_dict(s: ScanSummary) -> dict[str, Any]:
    """The ``ldsim.scan-summary/1`` document (the last line of ``--format jsonl``)."""
    return {
        "schema": SUMMARY_SCHEMA,
        "files": s.files,
        "snaps": s.snaps,
        "by_status": {k: s.by_status[k] for k in sorted(s.by_status)},
        "not_found": [{"name": n, "files": count, "needed_by": by}
                      for n, count, by in s.missing_by_frequency()],
        "findings": [{"id": rule, "severity": sev, "count": n, "files": files}
                     for rule, sev, n, files in s.findings_by_rule()],
        "leaks": {k: s.leaks[k] for k in sorted(s.leaks)},
        "unreadable": [{"path": p, "error": e} for p, e in s.unreadable],
        "errors": [{"path": p, "error": e} for p, e in s.errors],
        "walk": {"files_looked_at": s.looked_at, "other_elf": s.other_elf,
                 "excluded": s.excluded,
                 "problems": [{"path": p, "error": e} for p, e in s.walk_problems]},
        "exit_status": s.exit_status,
    }


def summary_line(s: ScanSummary) -> str:
    return json.dumps(summary_dict(s), separators=(",", ":"))


def _n(n: int) -> str:
    return f"{n:,}"


def _files(paths: list[str], total: int) -> str:
    """The first file, and how many more (``--format jsonl`` names them all)."""
    first = shown(paths[0]) if paths else ""
    more = total - min(len(paths), 1)
    return first + (f" and {_n(more)} more" if more > 0 else "")


def render_scan_text(s: ScanSummary, *, what: str = "", how: str = "", color: bool = False,
                     width: int | None = None) -> str:
    """The summary for people: counts by verdict, the names found nowhere (most frequent
    first, with who needs them), why the loads that abort do (most frequent first),
    findings by rule, leaks per snap, what could not be read,
    the slowest files, and the result. ``what``: what was scanned; ``how``: how it ran."""
    st = Style(color, width)
    out: list[str] = []
    unit = plural(s.snaps, "snap") if s.snaps else plural(s.files, "ELF file")
    head = f"Scanned {unit}" + (f" {shown(what)}" if what else "")
    extra = []
    if s.looked_at:
        extra.append(f"{plural(s.looked_at, 'file')} looked at")
    if s.other_elf:
        extra.append(f"{plural(s.other_elf, 'relocatable object or core file', 'relocatable objects or core files')} skipped")
    if s.excluded:
        extra.append(f"{_n(s.excluded)} excluded")
    out.append(st.paint("heading", head) + (f" ({'; '.join(extra)})" if extra else ""))
    if how:
        out.append(shown(how))
    out.append("")
    total = s.total
    for key in ("starts", "does_not_start", "fails_at_run_time", "unreadable", "error"):
        n = s.by_status[key]
        if n or key in ("starts", "does_not_start"):
            one, many = _STATUS_WORDS[key]
            label = f"{n:>{len(_n(total))+1},} {one if n == 1 else many}"
            out.append(st.paint(_STATUS_MEANING[key], label) if n and key != "starts"
                       else label)
    missing = s.missing_by_frequency()
    if missing:
        out += ["", st.paint("heading", "Not found, most frequent first:")]
        wide = max(len(shown(n)) for n, _c, _b in missing[:20])
        for name, count, by in missing[:20]:
            out.append(f"  {st.paint('error', shown(name).ljust(wide))}  "
                       f"{plural(count, 'file'):>9}  {_files(by, count)}")
        if len(missing) > 20:
            out.append(f"  ... and {plural(len(missing) - 20, 'other name')} (--format jsonl "
                       "lists them all)")
    aborted = s.aborted_by_frequency()
    if aborted:
        # a message is often long (it may name the interpreter): the files go under it
        out += ["", st.paint("heading", "Load aborted, most frequent first:")]
        for why, count, files in aborted[:20]:
            out.append(f"  {plural(count, 'file'):>11}  {st.paint('error', shown(why))}")
            out.append(f"  {'':>11}  {_files(files, count)}")
        if len(aborted) > 20:
            out.append(f"  ... and {plural(len(aborted) - 20, 'other message')} (--format "
                       "jsonl gives every file's)")
    findings = s.findings_by_rule()
    if findings:
        out += ["", st.paint("heading", "Findings by rule:")]
        # (a stored scan's rule and severity are whatever its database holds)
        wide = max(len(shown(rule)) for rule, _s, _n2, _f in findings)
        for rule, sev, n, files in findings:
            out.append(f"  {st.severity(sev, shown(sev).ljust(7))} {shown(rule).ljust(wide)}"
                       f"  {n:>6,}  {_files(files, n)}")
    if s.leaks:
        out += ["", st.paint("heading", "Host leaks per snap (classic view):")]
        wide = max(len(shown(k)) for k in s.leaks)
        for snap in sorted(s.leaks):
            n = s.leaks[snap]
            label = plural(n, "leak") if n else "none"
            out.append(f"  {shown(snap).ljust(wide)}  {st.paint('leak', label) if n else label}")
    problems = [*s.unreadable, *s.errors, *s.walk_problems]
    if problems:
        out += ["", st.paint("heading", "Not scanned:")]
        for path, err in problems[:20]:
            out.append(f"  {shown(path)}: {shown(err)}")
        if len(problems) > 20:
            out.append(f"  ... and {_n(len(problems) - 20)} more")
    slowest = s.slowest
    if slowest and total > 1:
        out += ["", st.paint("heading", "Slowest:")]
        for seconds, path in slowest:
            out.append(f"  {seconds * 1000:8.1f} ms  {shown(path)}")
    out += ["", _result_line(s, st)]
    return st.lines(out)


def _result_line(s: ScanSummary, st: Style) -> str:
    bad = s.by_status["does_not_start"]
    failing = s.by_status["fails_at_run_time"]
    unit = "snap" if s.snaps else "file"
    parts = []
    one = s.total == 1  # "the file", not "1 of 1 file"
    if bad:
        parts.append(f"the {unit} does not start" if one else
                     f"{_n(bad)} of {plural(s.total, unit)} do{'es' if bad == 1 else ''} "
                     "not start")
    if failing:  # they start: an error-level ABI finding fails a real run later
        parts.append(f"the {unit} starts but fails at run time" if one else
                     f"{_n(failing)}{'' if bad else ' of ' + plural(s.total, unit)} "
                     f"start{'s' if failing == 1 else ''} but fail{'s' if failing == 1 else ''}"
                     " at run time")
    leaking = sum(1 for n in s.leaks.values() if n)
    if leaking:
        parts.append(f"{plural(leaking, 'snap')} leak{'s' if leaking == 1 else ''} from "
                     "the host")
    unread = s.by_status["unreadable"] + len(s.walk_problems)
    if unread:
        parts.append(f"{_n(unread)} could not be read")
    if s.by_status["error"]:
        parts.append(f"{plural(s.by_status['error'], 'file')} hit a bug in ldsim")
    if not parts:
        if s.total == 0:
            return st.paint("path", f"Result: no {unit} to resolve.")
        if s.total == 1:
            return st.paint("path", f"Result: the {unit} starts.")
        return st.paint("path", f"Result: all {plural(s.total, unit)} start.")
    return st.paint("error", "Result: " + "; ".join(parts) + ".")


_RULES = {
    "does-not-start": "The loader would not finish loading the file: a dependency is found "
    "nowhere, or the load aborts.",
    "fails-at-run-time": "Everything loads, but a real run fails (an error-level ABI "
    "finding).",
    "unreadable": "ldsim cannot read the file as a program.",
    "leak": "In the classic view the real loader loads an object from the host.",
}


def render_scan_sarif(s: ScanSummary) -> str:
    """A SARIF 2.1.0 log: one result per file that does not start (or per snap that leaks
    or misses a library), per ABI finding, per file that cannot be read; locations are the
    files' paths in the root (base id ``ROOT``)."""
    from urllib.parse import quote  # (only for SARIF: 1.3 ms of start-up otherwise)

    rules: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []

    def add(rule: str, level: str, message: str, path: str) -> None:
        if rule not in rules:
            rules[rule] = {"id": rule, "shortDescription": {
                "text": _RULES.get(rule, f"ldsim finding {rule}")}}
        out.append({"ruleId": rule, "level": level, "message": {"text": message},
                    "locations": [{"physicalLocation": {"artifactLocation": {
                        "uri": quote(path.lstrip("/"), safe="/!$&'()*+,;=:@-._~",
                                     errors="surrogateescape"),
                        "uriBaseId": "ROOT"}}}]})

    for r in s.problems:
        if r.status in ("does_not_start", "fails_at_run_time"):
            rule = r.status.replace("_", "-")
            add(rule, "error", "; ".join(r.reasons) or rule, r.path)
        elif r.status in ("unreadable", "error"):
            add("unreadable", "error" if r.status == "error" else "warning",
                "; ".join(r.reasons), r.path)
        for rule, sev, obj in r.findings:
            add(rule, {"error": "error", "warning": "warning"}.get(sev, "note"),
                f"{rule} in {obj}", r.path)
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "ldsim", "version": __version__,
                            "rules": [rules[k] for k in sorted(rules)]}},
        "originalUriBaseIds": {"ROOT": {"uri": "file:///", "description": {
            "text": "the scanned root (paths as the loader sees them)"}}},
        "results": out,
        "properties": {"summary": summary_dict(s)}}]}
    return json.dumps(doc, indent=2) + "\n"


__all__ = ["SUMMARY_SCHEMA", "render_scan_sarif", "render_scan_text", "summary_dict",
           "summary_line"]
