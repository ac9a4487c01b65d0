"""``ldsim compare`` output: a table for people, ``ldsim.compare/1`` JSON for programs.

The table shows names and paths through :func:`ldsim.safetext.shown` (no control character
of the input reaches the terminal; columns are as wide as what is shown)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ldsim.analysis.compare import BinaryComparison, Comparison
from ldsim.fs.view import Realm
from ldsim.safetext import shown

SCHEMA = "ldsim.compare/1"


def _summary(results: Sequence[BinaryComparison]) -> dict[str, int]:
    rows = [r for b in results if b.decides for r in b.rows]
    return {"binaries": len(results), "rows": len(rows), "leaks": sum(r.leak for r in rows),
            "differences": sum(not r.same for r in rows),
            "missing": sum(r.classic.realm is Realm.MISSING for r in rows),
            "loaded": sum(bool(b.loaded_by) for b in results),
            "alone": sum(b.alone for b in results)}


def compare_dict(snap: dict[str, str], results: Sequence[BinaryComparison]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "snap": snap,
        "binaries": [
            {"path": b.path,
             **({"classic_error": b.classic_error} if b.classic_error else {}),
             **({"strict_error": b.strict_error} if b.strict_error else {}),
             **({"loaded_by": list(b.loaded_by)} if b.loaded_by else {}),
             **({"alone": True} if b.alone else {}),
             "rows": [{"name": r.name, "classic": r.classic.as_dict(),
                       "strict": r.strict.as_dict(), "same": r.same, "leak": r.leak,
                       "shadowed": r.shadowed} for r in b.rows]}
            for b in results
        ],
        "summary": _summary(results),
    }


def render_compare_json(c: Comparison) -> str:
    return json.dumps(compare_dict(c.snap, c.binaries), indent=2) + "\n"


def _cell(path: str | None, realm: str) -> str:
    return f"{realm:<8} {shown(path) if path is not None else '-'}"


def render_compare_text(c: Comparison) -> str:
    snap, results = c.snap, c.binaries
    out = [f"snap {shown(snap['name'])} (base {shown(snap['base'])}, "
           f"{shown(snap['confinement'])}): classic view beside strict view"]
    for b in results:
        out.append("")
        out.append(shown(b.path))
        if b.loaded_by:
            whose = "that program's load" if len(b.loaded_by) == 1 else "those programs' loads"
            out.append(f"  loaded by {', '.join(map(shown, b.loaded_by))}: judged in {whose} "
                       "(its dependencies are in the rows there)")
            continue
        if b.alone:
            out.append("  no program of the snap loads it: compared on its own, as `ldd` "
                       "would (not counted)")
        for label, err in (("classic", b.classic_error), ("strict", b.strict_error)):
            if err:
                out.append(f"  {label} view: LOAD ABORTED: {shown(err)}")
        if not b.rows:
            out.append("  (no dependencies)")
            continue
        names = [shown(r.name) for r in b.rows]
        w_name = max(len(n) for n in names)
        w_c = max(len(_cell(r.classic.path, r.classic.realm)) for r in b.rows)
        out.append(f"  {'NAME':<{w_name}}  {'CLASSIC':<{w_c}}  STRICT")
        for r, name in zip(b.rows, names, strict=True):
            flags = []
            if r.leak:
                flags.append("LEAK" + (" (shadows the snap's copy)" if r.shadowed else ""))
            if r.classic.realm is Realm.MISSING:
                flags.append("MISSING")
            if not r.same:
                flags.append("differs")
            out.append(f"  {name:<{w_name}}  {_cell(r.classic.path, r.classic.realm):<{w_c}}  "
                       f"{_cell(r.strict.path, r.strict.realm)}"
                       + (f"   {', '.join(flags)}" if flags else ""))
    s = _summary(results)
    out.append("")
    context = ""
    if s["loaded"] or s["alone"]:
        context = (f" ({s['loaded']} libraries judged in their programs' loads, "
                   f"{s['alone']} on their own and not counted)")
    out.append(f"Summary: {s['binaries']} binaries{context}, {s['rows']} rows, "
               f"{s['leaks']} leaks, {s['missing']} missing in classic, "
               f"{s['differences']} differences")
    return "\n".join(out) + "\n"
