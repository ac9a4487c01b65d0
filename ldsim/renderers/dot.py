"""Graphviz DOT for a dependency graph (:mod:`ldsim.depgraph`): plain text, no graphviz needed.

The picture: left to right from the program, one cluster per realm (payload, base, host,
root, not found) coloured with a legend below; host objects (leaks into a snap) in red;
unresolved names as dashed red boxes, an aborted load as a red octagon. Edge labels say how
each DT_NEEDED was found (and how many places were probed when more than one). Edges to an
object that was already loaded are light, dotted, unlabelled and do not constrain the
layout, so the ranks follow the loading tree; above :data:`BIG` objects they are left out
(counted in the legend) and the commonest way of finding goes unlabelled, so a graph of
100+ objects stays a readable tree rather than a hairball. A graph holding two views of a snap (``classic`` and
``strict``) marks what only one view has: edges in the view's colour, objects with a double
border. Everything is sorted: the same graph always gives the same bytes.

Names and paths come from the input: node ids go through :func:`ldsim.safetext.escaped`
(one-to-one), label and tooltip text through :func:`ldsim.safetext.shown`, then DOT's own
quoting (``\\``, ``\"``, ``\n``; graphviz ``escString``) or XML escaping for HTML-like
labels, so no label can end its string or carry a control character into the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from ldsim.depgraph import PT_INTERP, NodeKind
from ldsim.fs.view import Realm
from ldsim.result import LookupKind
from ldsim.safetext import escaped, shown

if TYPE_CHECKING:
    from ldsim.depgraph import Graph

ALREADY = "already_loaded"
FONT = "Helvetica,Arial,sans-serif"
RED = "#cb181d"
# realm -> (node fill, node border, cluster background, title)
REALMS: dict[str, tuple[str, str, str, str]] = {
    Realm.PAYLOAD: ("#d9f0d3", "#1b7837", "#f4fbf2", "payload ($SNAP)"),
    Realm.BASE: ("#d6e6f5", "#2171b5", "#f3f8fd", "base snap"),
    Realm.HOST: ("#fcbba1", RED, "#fff3ee", "host: leaks into the snap"),
    Realm.ROOT: ("#ececec", "#525252", "#fbfbfb", "root"),
    Realm.MISSING: ("#ffffff", RED, "#ffffff", "not loaded"),
}
VIEW_COLOURS = {"classic": "#e6550d", "strict": "#6a51a3"}
_OTHER_VIEW = "#238b45"
EDGE = "#404040"
ALREADY_EDGE = "#b0b0b0"
ALREADY_LEAK_EDGE = "#f1948a"
BIG = 40
"""Above this many objects the commonest via is not written and (by default) arrows to
objects already loaded are left out: the loading tree alone stays readable at 100+ objects."""
REUSE = ("auto", "show", "hide")


def quote(text: str) -> str:
    """A DOT quoted string (ids, escString attributes); a line feed is DOT's ``\\n``. Input
    in it is escaped already; any other control character that would still reach here is
    escaped too, never written raw."""
    if not text.isprintable():
        text = "\n".join(p if p.isprintable() else escaped(p) for p in text.split("\n"))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _id(node: str) -> str:
    """A node's DOT id: its name escaped one-to-one, quoted."""
    return quote(escaped(node))


class Html(str):
    """An HTML-like label, written between ``<`` and ``>`` instead of quoted."""

    __slots__ = ()


def _attrs(items: Mapping[str, str | float | int]) -> str:
    out = []
    for k in sorted(items):
        v = items[k]
        if isinstance(v, Html):
            out.append(f"{k}=<{v}>")
        elif isinstance(v, str):
            out.append(f"{k}={quote(v)}")
        else:
            out.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return "[" + ", ".join(out) + "]"


def _h(text: str) -> str:
    """Text in an HTML-like label: shown safely, then XML-escaped."""
    return escape(shown(text), quote=True)


def _s(value: object) -> str:
    return shown(str(value))


def shown_path(a: dict[str, Any]) -> str:
    """The path to show: inside its realm's tree when located, else as the loader opened it."""
    loc = a.get("location")
    if loc:
        return "$SNAP" + loc if a.get("realm") == Realm.PAYLOAD else str(loc)
    return str(a.get("path") or "")


def _split(path: str) -> tuple[str, str]:
    d, _, b = path.rpartition("/")
    return (d or "/") if "/" in path else "", b or path


def node_title(a: dict[str, Any]) -> str:
    if a.get("kind") != NodeKind.OBJECT:
        return str(a.get("name"))
    base = _split(shown_path(a))[1]
    soname = a.get("soname")
    return base if a.get("program") or not soname else str(soname)


def _views(a: dict[str, Any]) -> list[str]:
    v = a.get("views") or []
    return [str(x) for x in v]


class _Dot:
    def __init__(self, g: Graph, legend: bool, reuse: str) -> None:
        if reuse not in REUSE:
            raise ValueError(f"reuse must be one of {', '.join(REUSE)}, not {reuse!r}")
        self.g = g
        self.legend = legend
        self.all_views = [str(v) for v in g.graph.get("views") or [] if v]
        self.compare = len(self.all_views) > 1
        flavours = {a.get("libc") for _n, a in g.nodes(data=True)
                    if a.get("kind") == NodeKind.OBJECT}
        self.mixed_libc = len(flavours - {None, "none"}) > 1
        objects = sum(1 for _n, a in g.nodes(data=True) if a.get("kind") == NodeKind.OBJECT)
        self.big = objects > BIG
        self.show_reuse = reuse == "show" or (reuse == "auto" and not self.big)
        self.hidden = 0
        self.quiet_via = ""  # in a big graph, the commonest way of finding goes unlabelled

    # -- nodes -----------------------------------------------------------------------
    def node_attrs(self, n: str, a: dict[str, Any]) -> dict[str, str | float | int]:
        realm = str(a.get("realm") or "root")
        fill, border, _bg, _t = REALMS.get(realm, REALMS["root"])
        kind = a.get("kind")
        title = node_title(a)
        lines: list[str] = []
        tip = [shown(n)]
        out: dict[str, str | float | int] = {"class": f"realm-{realm} kind-{kind}"}
        if kind == NodeKind.OBJECT:
            directory, base = _split(shown_path(a))
            if base != title:
                directory = shown_path(a)
            if directory:
                lines.append(directory)
            tags = []
            if a.get("program"):
                tags.append("program")
            if a.get("via") == "interpreter":
                tags.append("interpreter")
            if self.mixed_libc and a.get("libc") not in (None, "none"):
                tags.append(f"libc: {a.get('libc')}")
            if tags:
                lines.append(", ".join(tags))
            tip += [f"opened as {_s(a.get('path'))}", f"real path {_s(a.get('real_path'))}",
                    f"found via {_s(a.get('via'))}", f"libc: {_s(a.get('libc') or 'unknown')}"]
            out.update(shape="box", style="rounded,filled", fillcolor=fill, color=border)
            if a.get("program"):
                out.update(penwidth=2.5)
            if a.get("leak"):
                out["class"] = f"{out['class']} leak"
                out.update(penwidth=2.0, fontcolor="#67000d")
        elif kind == NodeKind.MISSING:
            reason = str(a.get("reason") or "")
            lines.append(f"not found{': ' + reason if reason else ''}")
            out.update(shape="box", style="rounded,dashed,filled", fillcolor=fill, color=RED,
                       fontcolor=RED, penwidth=1.5)
        else:
            lines.append(f"load aborts: {a.get('reason')}")
            if a.get("path"):
                tip.append(_s(a.get("path")))
            tip.append(_s(a.get("message") or ""))
            out.update(shape="octagon", style="filled", fillcolor="#fee0d2", color=RED,
                       fontcolor="#67000d", penwidth=2.0)
        if self.compare:
            views = _views(a)
            if len(views) < len(self.all_views):
                lines.append(" and ".join(views) + " only")
                out.update(peripheries=2)
        tip.append("programs: " + " ".join(_s(p) for p in a.get("programs") or []))
        label = f"<B>{_h(title)}</B>" + "".join(
            f'<BR/><FONT POINT-SIZE="8">{_h(x)}</FONT>' for x in lines)
        out.update(label=Html(label), tooltip="\n".join(tip))
        return out

    # -- edges -----------------------------------------------------------------------
    def edge_groups(self) -> list[tuple[str, str, str, str, list[dict[str, Any]]]]:
        """Parallel edges of one request (programs or views that resolved it alike or
        differently to the same target) are drawn once."""
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        for u, v, _k, a in self.g.edges(keys=True, data=True):
            groups.setdefault((u, v, str(a.get("kind")), str(a.get("name"))), []).append(a)
        return [(u, v, kind, name, groups[(u, v, kind, name)])
                for (u, v, kind, name) in sorted(groups)]

    def edge_attrs(self, u: str, v: str, kind: str, name: str,
                   items: list[dict[str, Any]]) -> dict[str, str | float | int]:
        target = self.g.nodes[v]
        vias = sorted({str(a.get("via") or "") for a in items})
        views = sorted({str(a.get("view")) for a in items if a.get("view")})
        tried = max(int(a.get("tried") or 0) for a in items)
        loaded = [x for x in vias if x and x != ALREADY]
        out: dict[str, str | float | int] = {}
        words: list[str] = []
        if name not in (target.get("soname"), target.get("name"), node_title(target),
                        target.get("path")):
            words.append(shown(name))
        if kind == PT_INTERP:
            words.append(PT_INTERP)
        elif kind != LookupKind.NEEDED:
            words.append(shown(kind))
        leak = bool(target.get("leak"))
        if target.get("kind") == NodeKind.MISSING:
            words.append(f"not found ({tried} tried)" if tried else "not found")
            out.update(color=RED, fontcolor=RED, style="dashed", penwidth=1.5)
        elif target.get("kind") == NodeKind.ERROR:
            words.append("aborts the load")
            out.update(color=RED, fontcolor=RED, penwidth=2.0)
        elif not loaded:
            out.update(color=ALREADY_LEAK_EDGE if leak else ALREADY_EDGE, style="dotted",
                       arrowsize=0.5, constraint="false")
            if self.big:
                out.update(penwidth=0.5, arrowsize=0.3)
            words = [w for w in words if w != name]
        else:
            if kind != PT_INTERP and (vias != [self.quiet_via] or leak
                                      or kind != LookupKind.NEEDED):
                via = " / ".join(loaded + ([ALREADY] if ALREADY in vias else []))
                words.append(f"{via} ({tried} tried)" if tried > 1 else via)
            out.update(color=RED if leak else EDGE, fontcolor=RED if leak else EDGE,
                       penwidth=2.0 if leak else 1.2)
            if kind == PT_INTERP:
                out.update(style="dashed")
            elif kind == LookupKind.DLOPEN:  # after the initial load: not a DT_NEEDED
                out.update(style="dashed", arrowhead="empty")
        if self.compare and len(views) < len(self.all_views):
            colour = VIEW_COLOURS.get(views[0], _OTHER_VIEW) if len(views) == 1 else _OTHER_VIEW
            out.update(color=colour, fontcolor=colour)
            if loaded or target.get("kind") != NodeKind.OBJECT:  # reuse edges: the colour says it
                words.insert(0, " and ".join(views) + " only")
                out.update(penwidth=2.2)
        if words:
            out["label"] = "\n".join(words)
        out["class"] = f"kind-{kind.replace('/', '').replace('.', '-')}"
        out["tooltip"] = f"{shown(name)}: " + ", ".join(x or "not found" for x in vias) + (
            f" in {', '.join(views)}" if views else "")
        return out

    # -- the legend (the graph's own label: it does not move any node) -------------------
    def legend_label(self, realms: list[str], shown_reuse: int) -> Html:
        title = str(self.g.graph.get("title") or "")
        kinds = {a.get("kind") for _n, a in self.g.nodes(data=True)}
        notes = ["arrow label: how the loader found the file (N tried: places it probed)"]
        if self.quiet_via:
            notes.append(f"black arrow without a label: found in {self.quiet_via}")
        if shown_reuse:
            notes.append("dotted grey arrow: that object was already loaded")
        if self.hidden:
            notes.append(f"not drawn: {self.hidden} arrows to objects already loaded")
        if any(a.get("leak") for _n, a in self.g.nodes(data=True)):
            notes.append("red: comes from the host, a leak into the snap")
        if any(a.get("kind") == LookupKind.DLOPEN for _u, _v, a in self.g.edges(data=True)):
            notes.append("dashed arrow, open head, labelled dlopen: loaded by a dlopen call "
                         "after the initial load (ELF dlopen note, hint or --dlopen-add)")
        if NodeKind.MISSING in kinds:
            notes.append("dashed red: no file found for the name")
        if NodeKind.ERROR in kinds:
            notes.append("red octagon: the file that makes the whole load abort")
        if self.compare:
            notes.append(f"orange: {self.all_views[0]} view only; purple: "
                         f"{self.all_views[-1]} view only; double border: in one view only")
        if self.mixed_libc:
            notes.append("libc: the C library each object was built for (they are mixed)")
        rows = [f'<TR><TD ALIGN="LEFT" COLSPAN="2"><B>{_h(title)}</B></TD></TR>'] if title else []
        for i in range(max(len(realms), len(notes))):
            swatch = note = "<TD></TD>"
            if i < len(realms):
                fill, border, _bg, text = REALMS[realms[i]]
                swatch = (f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" STYLE="rounded">'
                          f'<FONT POINT-SIZE="9">{_h(text)}</FONT></TD>')
            if i < len(notes):
                note = f'<TD ALIGN="LEFT"><FONT POINT-SIZE="9">{_h(notes[i])}</FONT></TD>'
            rows.append(f"<TR>{swatch}{note}</TR>")
        return Html('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="2">'
                    + "".join(rows) + "</TABLE>")

    def _choose_quiet_via(self, groups: list[tuple[str, str, str, str,
                                                   list[dict[str, Any]]]]) -> None:
        counts: dict[str, int] = {}
        for _u, _v, kind, _name, items in groups:
            vias = sorted({str(a.get("via") or "") for a in items})
            if kind == LookupKind.NEEDED and len(vias) == 1 and vias[0] not in ("", ALREADY):
                counts[vias[0]] = counts.get(vias[0], 0) + 1
        if counts:
            top = min(counts, key=lambda k: (-counts[k], k))
            if counts[top] * 2 >= sum(counts.values()):
                self.quiet_via = top

    def render(self) -> str:
        g = self.g
        groups = self.edge_groups()
        if self.big:
            self._choose_quiet_via(groups)
        edges: list[tuple[str, str, dict[str, str | float | int]]] = []
        shown_reuse = 0
        for u, v, kind, name, items in groups:
            attrs = self.edge_attrs(u, v, kind, name, items)
            if attrs.get("constraint") == "false":
                if not self.show_reuse:
                    self.hidden += 1
                    continue
                shown_reuse += 1
            edges.append((u, v, attrs))
        by_realm: dict[str, list[str]] = {}
        for n, a in g.nodes(data=True):
            by_realm.setdefault(str(a.get("realm") or "root"), []).append(n)
        order = [r for r in REALMS if r in by_realm] + sorted(set(by_realm) - set(REALMS))
        graph_attrs: dict[str, str | float | int] = {
            "rankdir": "LR", "nodesep": 0.15, "ranksep": 0.5,
            "fontname": FONT, "fontsize": 11, "outputorder": "edgesfirst",
            "remincross": "true", "labelloc": "b", "labeljust": "l", "pad": 0.2}
        if self.legend:
            graph_attrs["label"] = self.legend_label([r for r in order if r in REALMS],
                                                     shown_reuse)
        node_defaults: dict[str, str | float | int] = {
            "fontname": FONT, "fontsize": 10, "margin": "0.12,0.04", "height": 0.3}
        edge_defaults: dict[str, str | float | int] = {
            "fontname": FONT, "fontsize": 8, "arrowsize": 0.6, "color": EDGE}
        lines = ["digraph ldsim {", f"  graph {_attrs(graph_attrs)};",
                 f"  node {_attrs(node_defaults)};", f"  edge {_attrs(edge_defaults)};"]
        for realm in order:
            _fill, border, bg, title = REALMS.get(realm, REALMS["root"])
            cluster: dict[str, str | float | int] = {
                "label": title, "style": "rounded,dashed" if realm == Realm.MISSING
                else "rounded,filled", "color": border, "fillcolor": bg, "fontcolor": border,
                "fontsize": 10, "labeljust": "l", "labelloc": "t"}
            lines.append(f"  subgraph {quote('cluster_' + realm)} {{")
            lines.append(f"    graph {_attrs(cluster)};")
            for n in sorted(by_realm[realm]):
                lines.append(f"    {_id(n)} {_attrs(self.node_attrs(n, g.nodes[n]))};")
            progs = [n for n in sorted(by_realm[realm]) if g.nodes[n].get("program")]
            if len(progs) > 1:  # the programs side by side at the left edge
                lines.append(f"    {{ rank=same; {' '.join(_id(n) + ';' for n in progs)} }}")
            lines.append("  }")
        for u, v, attrs in edges:
            lines.append(f"  {_id(u)} -> {_id(v)} {_attrs(attrs)};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def render_dot(g: Graph, *, legend: bool = True, reuse: str = "auto") -> str:
    """The DOT text of ``g`` (deterministic: sorted clusters, nodes, edges, attributes).

    ``reuse``: draw the arrows to objects already loaded (``show``), leave them out
    (``hide``), or leave them out only above :data:`BIG` objects (``auto``)."""
    return _Dot(g, legend, reuse).render()
