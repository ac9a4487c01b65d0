"""``ldsim graph``: the dependency graph of programs in a root or a snap, as a picture or data."""

from __future__ import annotations

import argparse
import os
import sys

from ldsim import api
from ldsim.cli import options
from ldsim.cli.main import COMMANDS
from ldsim.cli.options import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMATS = ("dot", "svg", "png", "jpg", "pdf", "graphml", "json", "mermaid")
BINARY = ("png", "jpg", "pdf")
PICTURES = ("dot", "svg", "png", "jpg", "pdf")
EXTENSIONS = {"dot": "dot", "gv": "dot", "svg": "svg", "png": "png", "jpg": "jpg",
              "jpeg": "jpg", "pdf": "pdf", "graphml": "graphml", "xml": "graphml",
              "json": "json", "mmd": "mermaid", "mermaid": "mermaid"}
"""The -o file name's extension (any case) → the format written."""


HELP = COMMANDS["graph"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "graph", help=HELP,
        description="Resolve programs as `explain` does and write their dependency graph: "
        "one node per loaded object (coloured by realm: payload, base, host, root), one per "
        "name not found, edges for every DT_NEEDED labelled with how it was found. Several "
        "programs share one graph: give several EXECUTABLEs, or a snap (every app by "
        "default). --compare draws a snap's classic and strict views in one picture.",
        epilog="svg, png, jpg and pdf need Graphviz's `dot`; dot, graphml, json and mermaid do "
        "not. With -o FILE the format follows FILE's extension (" + _extensions_help() + "); "
        "--format must agree with it, or name the format of a FILE whose extension is none of "
        "these; a FILE without an extension gets DOT unless --format says otherwise. "
        "Exit status: 0 every program starts (with --compare: and nothing comes from the host "
        "in the classic view); 1 some program does not start or a real run of it fails, as "
        "`ldsim explain` judges it (the graph is still written); 2 bad usage or unreadable "
        "input (a program that cannot be read is named and the rest drawn); 3 a bug in ldsim "
        "(the rest is still drawn). The worst applies.")
    options.add_target_options(p)
    p.add_argument("--dlopen", action="store_true",
                   help="also draw the dlopen calls the loaded objects declare (ELF dlopen "
                   "notes) or hint at, made after the initial load: dashed arrows with an "
                   "open head, labelled dlopen")
    p.add_argument("--format", "-f", choices=(*FORMATS, *_ALIASES), default=None,
                   help="output format (default: from the -o file name's extension, else dot;"
                   " jpeg is jpg, gv is dot, mmd is mermaid)")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write to FILE instead of standard output (- : standard output); its "
                   "extension picks the format")
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


_ALIASES = {"jpeg": "jpg", "gv": "dot", "mmd": "mermaid"}


def _extensions_help() -> str:
    by_format: dict[str, list[str]] = {}
    for ext, fmt in EXTENSIONS.items():
        by_format.setdefault(fmt, []).append("." + ext)
    return ", ".join(f"{'/'.join(exts)} {fmt}" for fmt, exts in by_format.items())


def _format(args: argparse.Namespace) -> str:
    """The output format: --format, else the -o file's extension, else DOT. Checked before
    any work: an extension that is none of :data:`EXTENSIONS` without --format, or one that
    says another format than --format, is bad usage."""
    given = None if args.format is None else _ALIASES.get(str(args.format), str(args.format))
    output = args.output
    if output in (None, "-"):
        return given or "dot"
    stem, dot, ext = os.path.basename(str(output)).rpartition(".")
    if not dot or not stem:  # no extension (a name like ".gv" is a hidden file's whole name)
        return given or "dot"
    implied = EXTENSIONS.get(ext.lower())
    where = f"-o {output}"
    formats = (f"formats: {', '.join(FORMATS)}; extensions: "
               f"{', '.join('.' + e for e in EXTENSIONS)}")
    if implied is None:
        if given is not None:
            return given  # the format is said; the extension is the user's business
        raise api.UsageError(where, f"cannot tell the format from the extension '.{ext}': "
                             f"use a known extension or give --format ({formats})")
    if given is not None and given != implied:
        raise api.UsageError(where, f"the extension '.{ext}' says {implied} but --format says "
                             f"{given}: make them agree ({formats})")
    return implied


def run(args: argparse.Namespace) -> int:
    fmt = _format(args)
    if fmt in BINARY and args.output in (None, "-") and sys.stdout.isatty():
        raise api.UsageError(f"--format {fmt}", "is binary: write it to a file with -o FILE")
    api.check_format("graph", fmt)  # say so before the work, not after
    env = options.loader_env(args)
    if args.snap is not None and args.root == "/" and args.compare \
            and args.confinement is not None:
        raise api.UsageError("--confinement", "--compare draws both views")
    target = options.open_target(args, snap_only="--compare" if args.compare else None,
                                 missing_program=not args.executables)
    if isinstance(target, api.SnapTarget):
        programs = (target.path_programs(args.executables) if args.executables
                    else target.app_programs(args.app))
        if not programs:
            raise api.UsageError("--snap", f"snap '{target.name}' has no apps: give "
                                 "EXECUTABLEs")
        views: tuple[api.Confinement, ...] = ()
        if args.compare:
            views = (api.Confinement.CLASSIC, api.Confinement.STRICT)
        elif args.confinement:
            views = (api.Confinement(args.confinement),)
    else:
        programs = [api.Program(e) for e in args.executables]
        views = ()
    show, clear = options.progress_line(label="graph ")
    try:
        run_ = api.graph(target, programs, env, views=views, loader=options.loader(args),
                         progress=show, dlopen=args.dlopen)
    finally:
        clear()
    for label, exc in run_.failures:
        sys.stderr.write(f"ldsim: warning: {shown(label)}: {shown(str(exc))}\n")
    opts: dict[str, Any] = {}
    if fmt in PICTURES:
        opts = {"legend": args.legend, "reuse": args.reuse}
    data = api.render(run_.graph, fmt, **opts)
    if args.output in (None, "-"):
        options.write(data)
    else:
        try:
            with open(args.output, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        except OSError as exc:
            raise api.UsageError(args.output, f"cannot write the graph: {exc.strerror}") \
                from None
    # the worst status: a bug in ldsim, a program that could not be read, one that fails
    if run_.internal_errors:
        return options.EXIT_INTERNAL
    if run_.failures:
        return options.EXIT_UNREADABLE
    return 1 if run_.problem else 0
