"""Mermaid ``flowchart`` text for a dependency graph (GitHub and GitLab render it in Markdown).

The same picture as :mod:`ldsim.renderers.dot` in Mermaid's vocabulary: left to right, one
subgraph per realm, realm colours as classes, ``-->|via|`` for an object found, ``-.->`` for
one already loaded, a red dashed link to a name not found. Sorted, so deterministic.

Label text from the input goes through :func:`ldsim.safetext.shown` (no control character,
no line break that would end the statement), then Mermaid's entity codes for the characters
that would end the label or turn it into HTML or Markdown; the title is JSON in the YAML
front matter (``ensure_ascii``: every non-ASCII character escaped).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ldsim.depgraph import PT_INTERP, NodeKind
from ldsim.fs.view import Realm
from ldsim.renderers.dot import ALREADY, REALMS, RED, VIEW_COLOURS, node_title, shown_path
from ldsim.result import LookupKind
from ldsim.safetext import shown

if TYPE_CHECKING:
    from ldsim.depgraph import Graph


def _text(s: str) -> str:
    """Mermaid label text inside double quotes: shown safely, entity codes for what would
    break it (a backquote would start a Markdown string)."""
    return (shown(s).replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("|", "#124;").replace("`", "#96;"))


def render_mermaid(g: Graph) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g))}
    all_views = [str(v) for v in g.graph.get("views") or [] if v]
    compare = len(all_views) > 1
    lines = ["flowchart LR"]
    title = str(g.graph.get("title") or "")
    if title:
        lines.insert(0, f"---\ntitle: {json.dumps(title)}\n---")  # JSON is YAML
    by_realm: dict[str, list[str]] = {}
    for n, realm_of in g.nodes(data="realm"):
        by_realm.setdefault(str(realm_of or "root"), []).append(n)
    order = [r for r in REALMS if r in by_realm] + sorted(set(by_realm) - set(REALMS))
    for realm in order:
        lines.append(f'  subgraph {realm}["{_text(REALMS.get(realm, REALMS["root"])[3])}"]')
        for n in sorted(by_realm[realm]):
            a: dict[str, Any] = g.nodes[n]
            label = _text(node_title(a))
            kind = a.get("kind")
            if kind == NodeKind.OBJECT:
                label += f"<br/><small>{_text(shown_path(a))}</small>"
            elif kind == NodeKind.MISSING:
                label += "<br/><small>not found</small>"
            else:
                label += f"<br/><small>load aborts: {_text(str(a.get('reason')))}</small>"
            views = [str(v) for v in a.get("views") or []]
            if compare and len(views) < len(all_views):
                label += f"<br/><small>{' and '.join(views)} only</small>"
            shape = ('{{"', '"}}') if kind == NodeKind.ERROR else ('("', '")')
            lines.append(f"    {ids[n]}{shape[0]}{label}{shape[1]}")
        lines.append("  end")
    styles: list[str] = []
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for u, v, _k, e in g.edges(keys=True, data=True):
        groups.setdefault((u, v, str(e.get("kind")), str(e.get("name"))), []).append(e)
    for i, (u, v, kind, name) in enumerate(sorted(groups)):
        items = groups[(u, v, kind, name)]
        target = g.nodes[v]
        vias = sorted({str(e.get("via") or "") for e in items})
        views = sorted({str(e.get("view")) for e in items if e.get("view")})
        loaded = [x for x in vias if x and x != ALREADY]
        words = [] if kind == LookupKind.NEEDED else [kind]
        style = ""
        if target.get("kind") == NodeKind.MISSING:
            arrow, style = "-.->", f"stroke:{RED},stroke-dasharray:4"
            words.append("not found")
        elif target.get("kind") == NodeKind.ERROR:
            arrow, style = "==>", f"stroke:{RED}"
            words.append("aborts the load")
        elif not loaded:
            arrow = "-.->"
        else:
            arrow = "-->"
            if kind != PT_INTERP:
                words.append(" / ".join(loaded))
            if target.get("leak"):
                style = f"stroke:{RED},stroke-width:2px"
        if compare and len(views) < len(all_views):
            colour = VIEW_COLOURS.get(views[0], "#238b45") if len(views) == 1 else "#238b45"
            style = f"stroke:{colour},stroke-width:2px"
            words.insert(0, f"{' and '.join(views)} only")
        label = f'|"{_text(", ".join(words))}"|' if words else ""
        lines.append(f"  {ids[u]} {arrow}{label} {ids[v]}")
        if style:
            styles.append(f"  linkStyle {i} {style}")
    lines += styles
    for realm in order:
        fill, border, _bg, _t = REALMS.get(realm, REALMS["root"])
        dash = ",stroke-dasharray:4" if realm == Realm.MISSING else ""
        lines.append(f"  classDef {realm} fill:{fill},stroke:{border}{dash}")
        lines.append(f"  class {','.join(ids[n] for n in sorted(by_realm[realm]))} {realm}")
    return "\n".join(lines) + "\n"
