"""``ldsim graph``: the dependency graph of programs in a root or a snap, as a picture or data."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from ldsim.errors import LdsimError, UsageError

if TYPE_CHECKING:
    from ldsim.graph import Graph
    from ldsim.result import Resolution

FORMATS = ("dot", "svg", "png", "pdf", "graphml", "json", "mermaid")
BINARY = ("png", "pdf")
_SUFFIXES = {"gv": "dot", "mmd": "mermaid", "xml": "graphml"}


def add_parser(sub: Any) -> None:
    from ldsim.cli.explain import add_target_options

    p = sub.add_parser(
        "graph", help="draw the dependency graph (DOT, SVG, PNG, PDF, GraphML, JSON, Mermaid)",
        description="Resolve programs as `explain` does and write their dependency graph: "
        "one node per loaded object (coloured by realm: payload, base, host, root), one per "
        "name not found, edges for every DT_NEEDED labelled with how it was found. Several "
        "programs share one graph: give several EXECUTABLEs, or a snap (every app by "
        "default). --compare draws a snap's classic and strict views in one picture.",
        epilog="svg, png and pdf need Graphviz's `dot`; dot, graphml, json and mermaid do not. "
        "Exit status: 0 every program loads (with --compare: nothing leaks or is missing in "
        "the classic view), 1 something is unresolved or a load aborts (the graph is still "
        "written), 2 bad usage or unreadable input.")
    add_target_options(p)
    p.add_argument("--format", "-f", choices=FORMATS, default=None,
                   help="output format (default: from the -o file name's extension, else dot)")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write to FILE instead of standard output")
    p.add_argument("--compare", action="store_true",
                   help="with --snap: the classic and strict views in one graph, the "
                   "differences marked")
    p.add_argument("--no-legend", dest="legend", action="store_false",
                   help="leave the legend out of pictures")
    p.add_argument("--reuse", choices=["auto", "show", "hide"], default="auto",
                   help="arrows to objects already loaded: show, hide, or auto (default: "
                   "hidden above 40 objects, so big graphs stay a readable tree)")
    p.add_argument("executables", metavar="EXECUTABLE", nargs="*",
                   help="programs inside the root (with --snap: optional, relative to $SNAP "
                   "or absolute in the snap's view; default: every app's program)")
    p.set_defaults(func=run, executable=None)


def _format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    if args.output:
        ext = os.path.basename(str(args.output)).rpartition(".")[2].lower()
        ext = _SUFFIXES.get(ext, ext)
        if ext in FORMATS:
            return ext
    return "dot"


def _resolve_each(items: list[tuple[str, Any]], one: Any) -> list[Resolution]:
    """Resolve every program; with several, a broken one is a warning and the rest go on."""
    out: list[Resolution] = []
    first: LdsimError | None = None
    for label, item in items:
        try:
            out.append(one(item))
        except LdsimError as exc:
            if len(items) == 1:
                raise
            first = first or exc
            sys.stderr.write(f"ldsim: warning: {label}: {exc}\n")
    if not out and first is not None:
        raise first
    return out


def build(args: argparse.Namespace) -> tuple[Graph, int]:
    """The graph the command line asks for, and the exit status it implies."""
    from ldsim.cli.explain import loader_env
    from ldsim.graph import add_resolution, new_graph, realm_locator
    from ldsim.loader.run import RootConfig, resolve

    env = loader_env(args)
    if args.snap is None:
        from ldsim.fs.view import HostDirView

        for opt in ("base", "app", "confinement"):
            if getattr(args, opt) is not None:
                raise UsageError(f"--{opt}", "only makes sense with --snap")
        if args.compare:
            raise UsageError("--compare", "compares a snap's two views: give --snap SNAP")
        if not args.executables:
            raise UsageError("EXECUTABLE", "missing: the program's path inside the root")
        view = HostDirView(args.root)
        config = RootConfig(view)
        exes = sorted(dict.fromkeys(args.executables))
        results = _resolve_each([(e, e) for e in exes], lambda e: resolve(
            view, e, env, config, loader=args.loader))
        title = f"{exes[0]} ({results[0].loader})" if len(exes) == 1 else f"{len(exes)} programs"
        g = new_graph(title)
        for r in results:
            add_resolution(g, r)
        return g, 0 if all(r.ok for r in results) else 1

    from ldsim.analysis.compare import attribute_realms
    from ldsim.snap import compose

    if args.root != "/":
        raise UsageError("--root", "use --host with --snap (the snap's view is built from it)")
    if args.compare and args.confinement is not None:
        raise UsageError("--confinement", "--compare draws both views")
    target = compose.load_target(args.snap, args.base, args.host)
    programs: list[tuple[str, Any]]
    if args.executables:
        programs = [(compose.payload_path(target, p), None) for p in args.executables]
    else:
        programs = [(compose.program_path(target, a), a)
                    for a in compose.pick_apps(target, args.app)]
    if not programs:
        raise UsageError("--snap", f"snap '{target.name}' has no apps: give EXECUTABLEs")
    programs = sorted(dict(programs).items(), key=lambda p: p[0])
    own = "classic" if target.meta.confinement == "classic" else "strict"
    views = ["classic", "strict"] if args.compare else [args.confinement or own]
    if args.compare:
        title = f"snap {target.name}: classic and strict views (base {target.meta.base})"
    else:
        title = f"snap {target.name}, {views[0]} view (base {target.meta.base})"
    g = new_graph(title)
    status = 0
    for c in views:
        snap_view = compose.runtime_view(target, c)
        snap_config = RootConfig(snap_view)
        locate = realm_locator(snap_view)  # one node per file, named inside its realm

        def one(p: tuple[str, Any], view: Any = snap_view, config: Any = snap_config,
                c: str = c) -> Resolution:
            r = resolve(view, p[0], compose.app_env(target, p[1], c, env), config,
                        loader=args.loader)
            attribute_realms(r, view)
            return r

        for r in _resolve_each([(f"{p[0]} ({c})", p) for p in programs], one):
            add_resolution(g, r, view=c if args.compare else "", locate=locate)
            if args.compare:
                bad = c == "classic" and (not r.ok or any(o.realm == "host" for o in r.objects))
            else:
                bad = not r.ok
            status = 1 if bad else status
    return g, status


def render(g: Graph, fmt: str, *, legend: bool = True, reuse: str = "auto") -> bytes:
    if fmt == "json":
        from ldsim.graph import render_graph_json

        return render_graph_json(g).encode("utf-8")
    if fmt == "graphml":
        from ldsim.graph import render_graphml

        return render_graphml(g)
    if fmt == "mermaid":
        from ldsim.render.mermaid import render_mermaid

        return render_mermaid(g).encode("utf-8")
    from ldsim.render.dot import render_dot

    text = render_dot(g, legend=legend, reuse=reuse)
    if fmt == "dot":
        return text.encode("utf-8")
    from ldsim.render.graphviz import render_image

    return render_image(text, fmt)


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    if fmt in BINARY and args.output in (None, "-") and sys.stdout.isatty():
        raise UsageError(f"--format {fmt}", "is binary: write it to a file with -o FILE")
    if fmt in ("svg", "png", "pdf"):
        from ldsim.render.graphviz import INSTALL_HINT, dot_program

        if dot_program() is None:  # say so before the work, not after
            raise UsageError(f"--format {fmt}", "needs Graphviz's 'dot' program, which is "
                             f"not installed: {INSTALL_HINT}")
    g, status = build(args)
    data = render(g, fmt, legend=args.legend, reuse=args.reuse)
    if args.output in (None, "-"):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            with open(args.output, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise UsageError(args.output, f"cannot write the graph: {exc.strerror}") from None
    return status
