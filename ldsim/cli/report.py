"""``ldsim report``: one self-contained HTML page for a reviewer, on a snap or on programs of a
root (:func:`ldsim.report`, rendered as ``html``)."""

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

HELP = COMMANDS["report"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help=HELP,
        description="Write one HTML page a reviewer can open offline: for a snap, each app's "
        "verdict in the view it runs in, its programs in the classic view beside the strict "
        "view with host leaks marked, the lint findings grouped by rule with their fixes, and "
        "the dependency graph of both views as inline SVG; for programs of a root, each "
        "program's verdict, the objects it loads and their graph. SNAP is a .snap file or a "
        "directory (a prime directory, an unpacked snap); anything else is a PROGRAM of the "
        "root (--root, default /).",
        epilog="The page has no script and loads no font or image; the graph needs Graphviz's "
        "`dot` (without it the page says so). Examples: `ldsim report ./prime --base "
        "./core22 -o report.html`; `ldsim report --root /srv/rootfs /usr/bin/foo -o "
        "foo.html`. Exit status: 0 every app (or program) starts and, for a snap, nothing "
        "comes from the host, is missing or aborts in the classic view and no lint finding "
        "is an error; 1 something does (the report is still written); 2 bad usage or "
        "unreadable input (a missing base included; a program or payload file that cannot be "
        "read is named in the report and the rest reported), or the report cannot be "
        "written; 3 a bug in ldsim (the rest is still reported). The worst applies.")
    options.add_target_options(p)
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="write the page to FILE (default, or -: standard output)")
    p.add_argument("targets", metavar="SNAP | PROGRAM", nargs="*",
                   help="a snap (then optional PROGRAMs relative to $SNAP instead of its "
                   "apps' programs), or programs inside the root")
    p.set_defaults(func=run, executable=None)


def _is_snap(arg: str) -> bool:
    """A positional names a snap when it is a directory of this machine or ends in ``.snap``
    (a program inside a root is never a directory)."""
    return arg.endswith(".snap") or os.path.isdir(arg)


def run(args: argparse.Namespace) -> int:
    positional = list(args.targets)
    if args.snap is None and args.root == "/" and positional and _is_snap(positional[0]):
        args.snap = positional.pop(0)
    if args.snap is None and not positional:
        raise api.UsageError("SNAP", "missing: give a snap (a directory or a .snap file), or "
                             "programs of the root")
    env = options.loader_env(args)
    target = options.open_target(args)
    programs: list[api.Program]
    if isinstance(target, api.SnapTarget):
        programs = (target.path_programs(positional) if positional
                    else target.app_programs(args.app))
        if not programs:
            raise api.UsageError(args.snap, f"snap '{target.name}' has no apps: give "
                                 "PROGRAMs (relative to $SNAP)")
    else:
        programs = [api.Program(p) for p in positional]
    show, clear = options.progress_line(label="report ")
    try:
        result = api.report(target, programs, env, confinement=options.confinement(args),
                            loader=options.loader(args), progress=show)
    finally:
        clear()
    for line in result.unreadable():
        sys.stderr.write(f"ldsim: warning: {shown(line)}\n")
    page = str(api.render(result, "html"))
    if args.output in (None, "-"):
        options.write(page)
    else:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(page)
        except OSError as exc:
            raise api.UsageError(args.output, f"cannot write the report: {exc.strerror}") \
                from None
    return result.exit_status


__all__ = ["add_parser", "run"]
