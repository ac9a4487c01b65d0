"""The ``ldsim.explain/1`` JSON document (the contract other tools call)."""

from __future__ import annotations

import json

from ldsim.analysis.abi import Finding
from ldsim.analysis.explain import Explanation
from ldsim.analysis.verdict import Verdict, judge
from ldsim.result import DlopenResult, LoadedObject, Lookup, LookupKind, Resolution

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SCHEMA = "ldsim.explain/1"


def _path(obj: LoadedObject | None) -> str | None:
    return obj.path if obj is not None else None


def lookup_dict(lk: Lookup) -> dict[str, Any]:
    d: dict[str, Any] = {
        "from": _path(lk.requester) if lk.kind in (LookupKind.NEEDED, LookupKind.DLOPEN)
        else lk.kind.value,
        "name": lk.name,
        "to": _path(lk.target),
        "via": lk.via.value if lk.via is not None and lk.target is not None else None,
        "trail": [
            {"path": a.path, "source": a.source, "outcome": a.outcome.value,
             **({"detail": a.detail} if a.detail else {})}
            for a in lk.attempts
        ],
    }
    if lk.request != lk.name:
        d["request"] = lk.request
    if lk.kind is LookupKind.DLOPEN:
        d["kind"] = "dlopen"
        if lk.note:
            d["error"] = lk.note
    if lk.searches:
        d["searches"] = [{"before": m.at, "dirs": list(m.dirs) if m.dirs is not None else None,
                          "label": m.label} for m in lk.searches]
    return d


def finding_dict(f: Finding) -> dict[str, Any]:
    return {"id": f.id, "severity": f.severity.value, "object": f.object, "library": f.library,
            "detail": f.detail, "message": f.message}


def explain_dict(res: Resolution, findings: list[Finding] | None = None,
                 verdict: Verdict | None = None) -> dict[str, Any]:
    objects = [
        {"name": o.name, "path": o.path, "real_path": o.real_path,
         "needed_by": _path(o.needed_by), "via": o.via.value,
         "soname": o.facts.soname if o.facts else None, "realm": o.realm,
         **({"dlopen": True} if o.dlopened else {})}
        for o in res.objects
    ]
    err = res.error
    verdict = verdict if verdict is not None else judge(res, findings or [])
    return {
        "schema": SCHEMA,
        "root": res.root,
        "executable": res.executable,
        "interpreter": res.interpreter,
        "loader": res.loader.value,
        "static": res.static,
        "objects": objects,
        "unresolved": [{"name": u.name, "needed_by": _path(u.needed_by),
                        **({"reason": u.reason} if u.reason else {})} for u in res.unresolved],
        "error": None if err is None else {
            "name": err.name, "path": err.path, "needed_by": _path(err.needed_by),
            "reason": err.reason, "loader_message": err.loader_message,
        },
        "verdict": verdict.as_dict(),
        "listing": [{"name": n, "path": p} for n, p in res.listing],
        "edges": [lookup_dict(lk) for lk in res.lookups
                  if lk.kind in (LookupKind.NEEDED, LookupKind.DLOPEN)],
        "preloads": [lookup_dict(lk) for lk in res.lookups
                     if lk.kind in (LookupKind.LD_PRELOAD, LookupKind.PRELOAD_FILE)],
        "findings": [finding_dict(f) for f in findings or []],
        "diagnostics": [
            {"severity": d.severity.value, "message": d.message, "path": d.path}
            for d in res.diagnostics
        ],
        **({"dlopen": [dlopen_dict(d) for d in res.dlopens]} if res.dlopens else {}),
    }


def dlopen_dict(d: DlopenResult) -> dict[str, Any]:
    r = d.request
    return {"caller": r.caller, "sonames": list(r.names), "feature": r.feature,
            "priority": r.priority, "description": r.description, "source": r.source.value,
            "status": d.status.value, "name": d.name, "path": _path(d.target),
            "via": d.target.via.value if d.target is not None else None,
            "realm": d.target.realm if d.target is not None else None,
            "tried": list(d.tried), "reason": d.reason or None}


def render_explain_json(res: Resolution, findings: list[Finding] | None = None,
                        extra: dict[str, Any] | None = None,
                        verdict: Verdict | None = None) -> str:
    doc = explain_dict(res, findings, verdict)
    if extra:
        doc.update(extra)
    return json.dumps(doc, indent=2) + "\n"


def explanation_json(e: Explanation) -> str:
    """The ``ldsim.explain/1`` document of an explanation (with ``snap`` in a snap's view)."""
    return render_explain_json(e.resolution, list(e.findings),
                               {"snap": e.snap} if e.snap is not None else None, e.verdict)


def explanation_line(e: Explanation) -> str:
    """The same document as :func:`explanation_json`, on one line (JSON Lines, ``ldsim
    scan``): equal to it once parsed."""
    doc = explain_dict(e.resolution, list(e.findings), e.verdict)
    if e.snap is not None:
        doc["snap"] = e.snap
    return json.dumps(doc, separators=(",", ":"))


def resolution_json(res: Resolution) -> str:
    """The ``ldsim.explain/1`` document of a resolution on its own (no findings)."""
    return render_explain_json(res)


def trail_lines(doc: dict[str, Any]) -> list[str]:
    """From an ``ldsim.explain/1`` document of a glibc program, what ``LD_DEBUG=libs`` would
    print of the searches, in order: every ``search path=``, ``search cache=`` and
    ``trying file=`` line (without the pid prefix and the leading spaces). Preloads come first,
    as the loader makes them first; a name with a slash prints none."""
    out: list[str] = []
    for lk in [*doc.get("preloads", []), *doc.get("edges", [])]:
        marks: dict[int, list[str]] = {}
        for m in lk.get("searches", []):
            line = (f"search cache={m['label']}" if m["dirs"] is None
                    else f"search path={':'.join(m['dirs'])}\t\t({m['label']})")
            marks.setdefault(int(m["before"]), []).append(line)
        for i, step in enumerate(lk["trail"]):
            out += marks.pop(i, [])
            if step["source"] != "direct":
                out.append(f"trying file={step['path']}")
        for at in sorted(marks):
            out += marks[at]
    return out

