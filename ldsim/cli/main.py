"""``ldsim``: the command line. One parser, one error boundary, documented exit codes.

Exit status: 0 the program starts; 1 it does not, or a real run of it fails;
2 bad usage or unreadable input (one line on stderr, no traceback); 3 an internal error
(a bug in ldsim: one line on stderr; set LDSIM_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ldsim import api
from ldsim._version import __version__

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"ldsim: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ldsim",
        description="Show, without running anything, which file the Linux dynamic loader "
        "opens for every DT_NEEDED of a program, in which order, and why.",
        epilog="Exit status: 0 success (the program starts; nothing to report), 1 a program "
        "does not start, a real run of it fails, something leaks or is reported (each "
        "command's help says what), 2 bad usage or unreadable input, 3 an internal error.",
    )
    parser.add_argument("--version", action="version", version=f"ldsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from ldsim.cli import compare, explain, fix, graph, lint

    explain.add_parser(sub)
    compare.add_parser(sub)
    graph.add_parser(sub)
    lint.add_parser(sub)
    fix.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except api.LdsimError as exc:
        sys.stderr.write(f"ldsim: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        sys.stderr.write("ldsim: interrupted\n")
        return 130
    except Exception as exc:
        if os.environ.get("LDSIM_DEBUG"):
            raise
        sys.stderr.write(f"ldsim: internal error: {type(exc).__name__}: {exc} (this is a bug "
                         "in ldsim; LDSIM_DEBUG=1 shows the traceback)\n")
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
