"""``ldsim compare`` output: a table for people, ``ldsim.compare/1`` JSON for programs.

The table shows names and paths through :func:`ldsim.safetext.shown` (no control character
of the input reaches the terminal; columns are as wide as what is shown)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ldsim.analysis.compare import BinaryComparison, Comparison, Row
from ldsim.fs.view import Realm
from ldsim.renderers.style import Style, plural, width_of
from ldsim.safetext import shown

SCHEMA = "ldsim.compare/1"


def _summary(results: Sequence[BinaryComparison]) -> dict[str, int]:
    rows = [r for b in results if b.decides for r in b.rows if r.decides]
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
                       "shadowed": r.shadowed, **({"dlopen": r.dlopen} if r.dlopen else {})}
                      for r in b.rows]}
            for b in results
        ],
        "summary": _summary(results),
    }


def render_compare_json(c: Comparison) -> str:
    return json.dumps(compare_dict(c.snap, c.binaries), indent=2) + "\n"


def comparison_line(c: Comparison) -> str:
    """The ``ldsim.compare/1`` document on one line (JSON Lines, ``ldsim scan --snap``)."""
    return json.dumps(compare_dict(c.snap, c.binaries), separators=(",", ":"))


def _cell(path: str | None, realm: str) -> str:
    return f"{realm:<8} {shown(path) if path is not None else '-'}"


def _marker(r: Row) -> str:
    """The word at the start of a row: what is wrong with it, if anything."""
    if r.leak:
        return "LEAK*" if r.shadowed else "LEAK"
    if r.classic.realm is Realm.MISSING:
        return "MISSING"
    return "" if r.same else "DIFFERS"


_MEANING = {"LEAK": "leak", "LEAK*": "leak", "MISSING": "missing", "DIFFERS": "warning"}


def _rows(b: BinaryComparison, st: Style) -> list[str]:
    """A table (marker, name, classic, strict) when it fits the width, else each row as a
    name line and one line per view (one for both when they agree)."""
    names = [shown(r.name) + (f" (dlopen, {r.dlopen})" if r.dlopen else "") for r in b.rows]
    marks = [_marker(r) for r in b.rows]
    cells = [(_cell(r.classic.path, r.classic.realm), _cell(r.strict.path, r.strict.realm))
             for r in b.rows]
    w_mark = max(7, *(len(m) for m in marks))
    w_name = max(4, *(width_of(n) for n in names))
    w_c = max(7, *(width_of(c) for c, _ in cells))
    w_s = max(6, *(width_of(x) for _, x in cells))
    out: list[str] = []
    if st.width is None or 2 + w_mark + 2 + w_name + 2 + w_c + 2 + w_s <= st.width:
        out.append(st.paint("heading", f"  {'':<{w_mark}}  {'NAME':<{w_name}}  "
                                       f"{'CLASSIC':<{w_c}}  STRICT"))
        for mark, name, (c, x) in zip(marks, names, cells, strict=True):
            tag = st.paint(_MEANING[mark], mark) if mark else ""
            pad = " " * (w_mark - len(mark))
            out.append(f"  {tag}{pad}  {name}{' ' * (w_name - width_of(name))}  "
                       f"{c}{' ' * (w_c - width_of(c))}  {x}".rstrip())
        return out
    for r, mark, name, (c, x) in zip(b.rows, marks, names, cells, strict=True):
        tag = st.paint(_MEANING[mark], mark) if mark else ""
        out.append(f"  {tag}{' ' * (w_mark - len(mark))}  {name}")
        pad = " " * (2 + w_mark + 4)
        if r.same:
            out.extend(st.fit(f"{pad}both     {c}", cont=pad + " " * 18))
        else:
            out.extend(st.fit(f"{pad}classic  {c}", cont=pad + " " * 18))
            out.extend(st.fit(f"{pad}strict   {x}", cont=pad + " " * 18))
    return out


def render_compare_text(c: Comparison, *, color: bool = False, width: int | None = None) -> str:
    """The snap's programs, each with one row per loaded object or DT_NEEDED name: a marker
    (``LEAK``, ``LEAK*`` when the host file shadows the snap's own copy, ``MISSING``,
    ``DIFFERS``) at the start, then the name and what each view resolves it to."""
    st = Style(color, width)
    snap, results = c.snap, c.binaries
    out = [f"snap {shown(snap['name'])} (base {shown(snap['base'])}, "
           f"{shown(snap['confinement'])}): classic view beside strict view"]
    shadowed = False
    for b in results:
        out.append("")
        out.append(st.paint("heading", shown(b.path)))
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
                out.append(f"  {label} view: {st.paint('missing', 'LOAD ABORTED')}: "
                           f"{shown(err)}")
        if not b.rows:
            out.append("  (no dependencies)")
            continue
        shadowed = shadowed or any(r.shadowed and r.leak for r in b.rows)
        out.extend(_rows(b, st))
    s = _summary(results)
    out.append("")
    if shadowed:
        out.append("LEAK*: the host's file shadows the snap's own copy of that library")
    context = ""
    if s["loaded"] or s["alone"]:
        context = (f" ({plural(s['loaded'], 'library', 'libraries')} judged in their "
                   f"programs' loads, {s['alone']} on {'its' if s['alone'] == 1 else 'their'} "
                   "own and not counted)")
    line = (f"Summary: {plural(s['binaries'], 'binary', 'binaries')}{context}, "
            f"{plural(s['rows'], 'row')}, {plural(s['leaks'], 'leak')}, "
            f"{s['missing']} missing in classic, {plural(s['differences'], 'difference')}")
    bad = s["leaks"] or s["missing"] or any(b.classic_error for b in results if b.decides)
    out.append(st.paint("missing" if bad else "found", line))
    return st.lines(out)
