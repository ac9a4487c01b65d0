"""Resolution → a networkx dependency graph, built in one place, and the queries over it.

The graph is a :class:`networkx.MultiDiGraph` with string node ids:

objects (``kind="object"``)
    one node per loaded file, keyed by its real path inside the root (or, with a
    :data:`Locate` function, by ``REALM:PATH-IN-THAT-TREE``, so one file seen through two
    runtime views of a snap is one node). Attributes: ``name`` (the request that first
    loaded it), ``path`` (as the loader opened it), ``real_path``, ``soname``, ``realm``
    (``payload``/``base``/``host`` in a snap's view, ``root`` for a plain root), ``libc``
    (``glibc``/``musl``/``none`` from :func:`ldsim.analysis.abi.flavour_of`, ``None`` when
    the file could not be read), ``via`` (how it was found: ``executable``, ``interpreter``,
    ``rpath``, ``ld.so.cache``, ...), ``program`` (it is an executable of the graph),
    ``leak`` (it comes from the host), ``location`` (the path inside its realm's tree, when
    located), ``programs`` and ``views`` (which programs and views load it).
unresolved names (``kind="missing"``, id ``missing:NAME``, realm ``missing``)
    one per name nothing was found for (glibc's ``NAME => not found``).
an aborted load (``kind="error"``, id ``error:NAME``, realm ``missing``)
    the object whose rejection aborts the whole program load, with ``reason`` and the
    loader's ``message``.

Edges go from the requesting object to what its request resolved to, one per DT_NEEDED
entry (``kind="needed"``), preload (``LD_PRELOAD``, ``/etc/ld.so.preload``, drawn from the
program) and the program's PT_INTERP (``kind="PT_INTERP"``). Attributes: ``name`` (as
written), ``request`` (after $ORIGIN/$LIB/$PLATFORM expansion), ``via`` (the Via value,
``already_loaded`` included; ``None`` when nothing was found), ``tried`` (how many places
were probed), ``view`` and ``programs``. Edge keys are ``VIEW|KIND|NAME|VIA``, so several
programs (all apps of a snap, many executables, two views) share one graph, each edge and
node listing the programs and views it belongs to.

networkx is imported inside the functions that need it (``ldsim explain`` never pays for
it); type names are only for the checker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ldsim.elf.flavour import flavour_of
from ldsim.fs.overlay import OverlayView
from ldsim.fs.view import Realm
from ldsim.registry import GRAPH_SCHEMA
from ldsim.result import LoadedObject, Lookup, LookupKind, Resolution, Via
from ldsim.safetext import escaped

if TYPE_CHECKING:
    import networkx as nx

    Graph = nx.MultiDiGraph[str]

SCHEMA = GRAPH_SCHEMA
MISSING = Realm.MISSING.value
REALM_ORDER = tuple(r.value for r in (Realm.PAYLOAD, Realm.BASE, Realm.HOST, Realm.ROOT,
                                      Realm.MISSING))
ALREADY = Via.ALREADY_LOADED.value
PT_INTERP = "PT_INTERP"  # the kind of the edge from a program to its interpreter


class NodeKind(StrEnum):
    """What a node of the graph stands for."""

    OBJECT = "object"  # a loaded file
    MISSING = "missing"  # a name nothing was found for
    ERROR = "error"  # the object whose rejection aborts the load
Locate = Callable[[str], tuple[str, str]]
"""A real path inside a view → (realm, the path inside that realm's own tree)."""


def new_graph(title: str = "") -> Graph:
    import networkx as nx

    g: Graph = nx.MultiDiGraph()
    g.graph.update(schema=SCHEMA, title=title, programs=[], views=[], loaders=[])
    return g


def realm_locator(view: OverlayView) -> Locate:
    """Where a canonical path of a snap's runtime view lies: (realm, path in its tree)."""
    return view.locate


def _append(attrs: dict[str, Any], key: str, value: str) -> None:
    if value and value not in attrs[key]:
        attrs[key].append(value)
        attrs[key].sort()


class _Builder:
    def __init__(self, g: Graph, res: Resolution, view: str, locate: Locate | None) -> None:
        self.g, self.res, self.view, self.locate = g, res, view, locate
        self.ids: dict[int, str] = {}
        self.program = res.executable

    # -- nodes -----------------------------------------------------------------------
    def obj(self, obj: LoadedObject) -> str:
        nid = self.ids.get(id(obj))
        if nid is not None:
            return nid
        location = None
        if self.locate is not None:
            realm, location = self.locate(obj.real_path)
            nid = f"{realm}:{location}"
        else:
            nid = obj.real_path
        self.ids[id(obj)] = nid
        if nid not in self.g:
            libc = str(flavour_of(obj.facts, obj.real_path)[0]) if obj.facts else None
            self.g.add_node(
                nid, kind=str(NodeKind.OBJECT), name=obj.name, path=obj.path,
                real_path=obj.real_path,
                soname=obj.facts.soname if obj.facts else None, realm=str(obj.realm),
                libc=libc, via=str(obj.via), program=False, leak=obj.realm is Realm.HOST,
                location=location, programs=[], views=[])
        attrs = self.g.nodes[nid]
        if obj.via is Via.EXECUTABLE:
            attrs["program"] = True
        self._mark(attrs)
        return nid

    def special(self, kind: NodeKind, name: str, **extra: Any) -> str:
        nid = f"{kind}:{name}"
        if nid not in self.g:
            self.g.add_node(nid, kind=str(kind), name=name, realm=MISSING, leak=False, programs=[],
                            views=[], **extra)
        self._mark(self.g.nodes[nid])
        return nid

    def _mark(self, attrs: dict[str, Any]) -> None:
        _append(attrs, "programs", self.program)
        _append(attrs, "views", self.view)

    # -- edges -----------------------------------------------------------------------
    def edge(self, src: str, dst: str, kind: str, name: str, request: str, via: str | None,
             tried: int) -> None:
        key = f"{self.view}|{kind}|{name}|{via or ''}"
        if not self.g.has_edge(src, dst, key):
            self.g.add_edge(src, dst, key=key, kind=kind, name=name, request=request, via=via,
                            tried=tried, view=self.view, programs=[])
        _append(self.g.edges[src, dst, key], "programs", self.program)

    def build(self) -> str:
        res = self.res
        objects = res.objects
        for o in objects:
            self.obj(o)
        exe = self.obj(objects[0]) if objects else self.special(
            NodeKind.ERROR, res.executable, reason="no program", message="")
        err = res.error
        err_used = False
        unresolved = {u.name for u in res.unresolved}
        present = set(map(id, objects))
        for lk in res.lookups:
            if (lk.requester is not None and id(lk.requester) not in present) or \
                    (lk.target is not None and id(lk.target) not in present):
                continue  # made by a dlopen that failed: those objects were unloaded
            src = self.obj(lk.requester) if lk.requester is not None else exe
            kind = str(lk.kind)
            if lk.target is not None:
                via = str(lk.via) if lk.via is not None else None
                self.edge(src, self.obj(lk.target), kind, lk.name, lk.request, via,
                          len(lk.attempts))
            elif err is not None and not err_used and _aborts(lk, err.name, err.needed_by):
                err_used = True
                dst = self.special(NodeKind.ERROR, err.name, path=err.path, reason=err.reason,
                                   message=err.loader_message)
                self.edge(src, dst, kind, lk.name, lk.request, None, len(lk.attempts))
            else:
                reason = lk.note or ("ignored" if lk.kind is not LookupKind.NEEDED else "")
                dst = self.special(NodeKind.MISSING, lk.request, reason=reason)
                unresolved.discard(lk.request)
                self.edge(src, dst, kind, lk.name, lk.request, None, len(lk.attempts))
        for u in res.unresolved:  # a name no lookup recorded (defensive: models record all)
            if u.name in unresolved:
                src = self.obj(u.needed_by) if u.needed_by is not None else exe
                self.edge(src, self.special(NodeKind.MISSING, u.name, reason=u.reason),
                          str(LookupKind.NEEDED), u.name, u.name, None, 0)
        interp = next((o for o in objects if o.via is Via.INTERPRETER), None)
        if interp is not None and res.interpreter:
            self.edge(exe, self.obj(interp), PT_INTERP, res.interpreter, res.interpreter,
                      str(Via.INTERPRETER), 1)
        if err is not None and not err_used:  # e.g. the interpreter itself is missing
            src = self.obj(err.needed_by) if err.needed_by is not None else exe
            kind = PT_INTERP if err.name == res.interpreter else str(LookupKind.NEEDED)
            dst = self.special(NodeKind.ERROR, err.name, path=err.path, reason=err.reason,
                               message=err.loader_message)
            self.edge(src, dst, kind, err.name, err.name, None, 0)
        return exe


def _aborts(lk: Lookup, name: str, needed_by: LoadedObject | None) -> bool:
    return lk.requester is needed_by and name in (lk.name, lk.request)


def add_resolution(g: Graph, res: Resolution, *, view: str = "",
                   locate: Locate | None = None) -> str:
    """Add one program's resolution to ``g`` (in ``view``, e.g. ``classic``); returns the
    program's node id. Objects already in the graph (same file) are shared."""
    nid = _Builder(g, res, view, locate).build()
    _append(g.graph, "programs", res.executable)
    _append(g.graph, "views", view)
    _append(g.graph, "loaders", str(res.loader))
    return nid


def dependency_graph(resolutions: Resolution | Iterable[Resolution], *, view: str = "",
                     locate: Locate | None = None, title: str = "") -> Graph:
    """The graph of one resolution, or of several sharing one graph."""
    items = [resolutions] if isinstance(resolutions, Resolution) else list(resolutions)
    if not title and len(items) == 1:
        r = items[0]
        title = f"{r.executable} ({r.loader})"
    g = new_graph(title)
    for r in items:
        add_resolution(g, r, view=view, locate=locate)
    return g


# -- queries -------------------------------------------------------------------------------

def find(g: Graph, what: str) -> list[str]:
    """Node ids matching ``what``: an id, a path (as opened or real), a soname, the request
    that loaded it, or a file name."""
    exact = [n for n in g if n == what]
    if exact:
        return exact
    hits = []
    for n, a in g.nodes(data=True):
        keys = {a.get("path"), a.get("real_path"), a.get("soname"), a.get("name"),
                a.get("location")}
        base = str(a.get("real_path") or a.get("path") or "").rsplit("/", 1)[-1]
        if what in keys or what == base:
            hits.append(n)
    return sorted(hits)


def node(g: Graph, what: str) -> str:
    """The one node ``what`` names; KeyError when none or several do."""
    hits = find(g, what)
    if len(hits) != 1:
        found = ", ".join(hits) if hits else "nothing"
        raise KeyError(f"{what!r} names {found} in the graph")
    return hits[0]


def programs(g: Graph) -> list[str]:
    return sorted(n for n, a in g.nodes(data=True) if a.get("program"))


def _paths(g: Graph, sources: Iterable[str], is_end: Callable[[str], bool],
           through: Callable[[str], bool], limit: int) -> list[list[str]]:
    """Simple paths from ``sources`` to nodes where ``is_end`` holds, only through nodes
    where ``through`` holds; successors in sorted order, at most ``limit`` paths."""
    out: list[list[str]] = []
    for s in sorted(sources):
        path = [s]
        stack: list[Iterator[str]] = [iter(sorted(set(g.successors(s))))]
        while stack and len(out) < limit:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                path.pop()
                continue
            if nxt in path:
                continue
            if is_end(nxt):
                out.append([*path, nxt])
            elif through(nxt):
                path.append(nxt)
                stack.append(iter(sorted(set(g.successors(nxt)))))
    out.sort(key=lambda p: (len(p), p))
    return out


def why(g: Graph, what: str, *, program: str | None = None,
        limit: int = 1000) -> list[list[str]]:
    """Why is ``what`` loaded: every simple path from a program (or ``program``) to it,
    shortest first (at most ``limit``; a large graph has very many paths to libc)."""
    target = node(g, what)
    sources = [node(g, program)] if program is not None else programs(g)
    if target in sources:
        return [[target]]
    return _paths(g, sources, lambda n: n == target, lambda n: True, limit)


def load_chain(g: Graph, what: str, *, program: str | None = None) -> list[str]:
    """The path the loader actually took to ``what``: back along the edges that loaded each
    object (not ``already_loaded``), up to the program."""
    target = node(g, what)
    prog = g.nodes[node(g, program)]["path"] if program is not None else None
    chain = [target]
    while not g.nodes[chain[0]].get("program"):
        preds = sorted(
            u for u, _v, a in g.in_edges(chain[0], data=True)
            if a.get("via") != ALREADY and u not in chain
            and (prog is None or prog in a.get("programs", [])))
        if not preds:
            break
        chain.insert(0, preds[0])
    return chain


def dependents(g: Graph, what: str, *, transitive: bool = False) -> list[str]:
    """What depends on ``what``: objects with a DT_NEEDED (or preload) that resolved to it,
    or with ``transitive`` everything that reaches it."""
    import networkx as nx

    target = node(g, what)
    found = nx.ancestors(g, target) if transitive else set(g.predecessors(target))
    return sorted(found)


def leaks(g: Graph) -> list[str]:
    """Objects that come from the host (in a snap's runtime view)."""
    return sorted(n for n, a in g.nodes(data=True) if a.get("leak"))


def leak_paths(g: Graph, *, limit: int = 10000) -> list[list[str]]:
    """Every path from a program that ends in a leak: its last node comes from the host,
    the ones before it do not (each is where the snap's own files reach out)."""
    return _paths(g, programs(g), lambda n: bool(g.nodes[n].get("leak")),
                  lambda n: not g.nodes[n].get("leak"), limit)


# -- serialised forms ------------------------------------------------------------------------

def graph_document(g: Graph) -> dict[str, Any]:
    """The ``ldsim.graph/1`` document: networkx's node-link form (``edges``), sorted."""
    nodes = [{"id": n, **{k: g.nodes[n][k] for k in sorted(g.nodes[n])}} for n in sorted(g)]
    edges = [{"source": u, "target": v, "key": k, **{x: a[x] for x in sorted(a)}}
             for u, v, k, a in sorted(g.edges(keys=True, data=True),
                                      key=lambda e: (e[0], e[1], e[2]))]
    graph = {k: g.graph[k] for k in sorted(g.graph) if k != "schema"}
    return {"schema": SCHEMA, "directed": True, "multigraph": True, "graph": graph,
            "nodes": nodes, "edges": edges}


def render_graph_json(g: Graph) -> str:
    return json.dumps(graph_document(g), indent=2) + "\n"


def _graphml_value(v: Any) -> str | int | float | bool | None:
    if v is None or isinstance(v, int | float | bool):
        return v
    if isinstance(v, list | tuple):
        return escaped(" ".join(str(x) for x in v))
    return escaped(str(v))


def render_graphml(g: Graph) -> bytes:
    """GraphML (yEd, Gephi, Cytoscape, ``networkx.read_graphml``): lists become
    space-separated strings and absent values are left out, as GraphML has neither. XML
    holds no control character (and no byte that is not UTF-8): a name of the input with
    one is written escaped (:func:`ldsim.safetext.escaped`, ``\\x1b`` for ESC), as every
    view shows it, so that the file parses and prints nothing raw."""
    import networkx as nx

    def clean(attrs: dict[str, Any]) -> dict[str, Any]:
        out = {k: _graphml_value(attrs[k]) for k in sorted(attrs)}
        return {k: v for k, v in out.items() if v is not None}

    def name(x: Any) -> Any:
        return escaped(x) if isinstance(x, str) else x

    h: Graph = nx.MultiDiGraph()
    h.graph.update(clean(dict(g.graph)))
    for n in sorted(g):
        h.add_node(name(n), **clean(g.nodes[n]))
    for u, v, k, a in sorted(g.edges(keys=True, data=True), key=lambda e: (e[0], e[1], e[2])):
        h.add_edge(name(u), name(v), key=name(k), **clean(a))
    return b"".join(line.encode("utf-8") + b"\n" for line in nx.generate_graphml(h))


def graph_from_document(doc: dict[str, Any] | str) -> Graph:
    """Load an ``ldsim.graph/1`` document (or its JSON text) back into a graph."""
    if isinstance(doc, str):
        doc = json.loads(doc)
        assert isinstance(doc, dict)
    g = new_graph()
    g.graph.update(doc.get("graph", {}))
    for n in doc["nodes"]:
        g.add_node(n["id"], **{k: v for k, v in n.items() if k != "id"})
    for e in doc["edges"]:
        g.add_edge(e["source"], e["target"], key=e["key"],
                   **{k: v for k, v in e.items() if k not in ("source", "target", "key")})
    return g


__all__ = [
    "MISSING",
    "PT_INTERP",
    "REALM_ORDER",
    "SCHEMA",
    "Locate",
    "NodeKind",
    "add_resolution",
    "dependency_graph",
    "dependents",
    "find",
    "graph_document",
    "graph_from_document",
    "leak_paths",
    "leaks",
    "load_chain",
    "new_graph",
    "node",
    "programs",
    "realm_locator",
    "render_graph_json",
    "render_graphml",
    "why",
]
