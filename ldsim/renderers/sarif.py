"""``ldsim lint --format sarif``: the lint report as a SARIF 2.1.0 log (OASIS standard).

One run; the tool driver ``ldsim`` lists one rule per finding id that occurs, in the order of
``ALL_RULES`` (Snapcraft's rules point at Snapcraft's linter documentation); one result per
finding (Snapcraft's "Lint OK" lines are not results). A result's location is its
payload-relative file, relative to the base id ``SNAP`` (``/snap/NAME/current/``); the
unused-library finding, which Snapcraft files under the soname, is located at the library's
file. The patchelf edits that resolve a finding are in ``properties.fix``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from ldsim._version import __version__
from ldsim.linter.model import (
    ALL_RULES,
    CLASSIC_URL,
    LIBRARY_URL,
    SNAPCRAFT_RULES,
    LintFinding,
    LintReport,
)
from ldsim.result import Severity

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/os/schemas/sarif-schema-2.1.0.json"
SARIF_VERSION = "2.1.0"
BASE_ID = "SNAP"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
DESCRIPTIONS = {
    "classic": "The snap is classic or stages libc: the classic linter applies.",
    "interpreter": "The ELF interpreter is not the dynamic linker of the base (or the staged "
    "one).",
    "rpath": "The ELF rpath does not list every directory of the snap and its base that "
    "holds a dependency.",
    "missing-library": "A dependency is found neither in the snap nor in its base (an error "
    "when a program's classic-view load finds it nowhere at all).",
    "unused-library": "A library the snap ships is needed by none of its ELF files.",
    "host-leak": "In the classic view the real loader loads an object from the host.",
    "load-abort": "In the classic view the real loader aborts the load of a program.",
    "runpath-not-inherited": "DT_RUNPATH applies only to the file's own DT_NEEDED, not to "
    "its libraries' dependencies.",
    "cache-shadowing": "The host's ld.so.cache sends a name the snap or its base ships to a "
    "host file.",
    "nodefaultlib": "Lookups fall through to the host's default directories (DF_1_NODEFLIB "
    "is not set).",
    "libc-mix": "Objects built for different C libraries are loaded together.",
    "version-missing": "A required symbol version is not defined by the library that "
    "provides the name.",
    "unversioned-provider": "A versioned requirement is satisfied by a library that defines "
    "no versions.",
    "dlopen-missing": "A dlopen dependency an object declares (ELF dlopen note) or hints at "
    "loads from nowhere in the classic view.",
    "dlopen-leak": "In the classic view a dlopen dependency loads from the host.",
}
LIBRARY_RULES = ("missing-library", "unused-library")


def _help_uri(rule: str) -> str | None:
    if rule not in SNAPCRAFT_RULES:
        return None
    return LIBRARY_URL if rule in LIBRARY_RULES else CLASSIC_URL


def _rule(rule: str) -> dict[str, Any]:
    d: dict[str, Any] = {"id": rule, "name": "".join(w.title() for w in rule.split("-"))}
    d["shortDescription"] = {"text": DESCRIPTIONS.get(rule, f"ldsim lint rule {rule}.")}
    uri = _help_uri(rule)
    if uri is not None:
        d["helpUri"] = uri
    d["properties"] = {"linter": ("library" if rule in LIBRARY_RULES else "classic")
                       if rule in SNAPCRAFT_RULES else "ldsim"}
    return d


def _artifact(report: LintReport, f: LintFinding) -> str | None:
    """The payload-relative file a finding is about (the library's file for unused-library)."""
    if f.file is None:
        return None
    if f.id == "unused-library":
        for fl in sorted(report.files, key=lambda x: x.path):
            if fl.facts.soname == f.file and f"'{fl.path}'" in f.message:
                return fl.path
        for fl in sorted(report.files, key=lambda x: x.path):
            if fl.facts.soname == f.file:
                return fl.path
    return f.file


def sarif_dict(report: LintReport) -> dict[str, Any]:
    findings = sorted((f for f in report.findings if not f.ok), key=LintFinding.sort_key)
    present = {f.id for f in findings}
    ids = [r for r in ALL_RULES if r in present] + sorted(present - set(ALL_RULES))
    index = {r: i for i, r in enumerate(ids)}
    results: list[dict[str, Any]] = []
    for f in findings:
        res: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": LEVELS.get(f.severity, "warning"),
            "message": {"text": f.message},
        }
        uri = _artifact(report, f)
        if uri is not None:
            res["locations"] = [{"physicalLocation": {"artifactLocation": {
                # a byte of the file name that is not UTF-8 (U+DCNN) is percent-encoded as
                # that byte (RFC 3986 section 2.1), not an error
                "uri": quote(uri, safe="/!$&'()*+,;=:@-._~", errors="surrogateescape"),
                "uriBaseId": BASE_ID}}}]
        if f.fix is not None:
            res["properties"] = {"fix": f.fix.as_dict()}
        results.append(res)
    name = report.snap.get("name", "")
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "ldsim", "version": __version__,
                            "rules": [_rule(r) for r in ids]}},
        "originalUriBaseIds": {BASE_ID: {
            "uri": f"file:///snap/{quote(name, safe='')}/current/",
            "description": {"text": "the snap's payload ($SNAP)"}}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {"snap": dict(sorted(report.snap.items())),
                       "files": len(report.files)},
    }
    if report.diagnostics:  # files that could not be linted: the run is incomplete
        run["invocations"] = [{"executionSuccessful": not report.internal_errors,
                               "toolExecutionNotifications": [
                                   {"level": "warning", "message": {"text": d.message}}
                                   for d in report.diagnostics]}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: LintReport) -> str:
    return json.dumps(sarif_dict(report), indent=2) + "\n"


__all__ = ["SARIF_SCHEMA", "render_sarif", "sarif_dict"]
