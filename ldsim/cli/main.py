"""``ldsim``: the command line. One parser, one error boundary, documented exit codes.

Exit status: 0 the program starts; 1 it does not, or a real run of it fails;
2 bad usage or unreadable input, or the output cannot be written (a full disk, a closed
pipe: one line on stderr, no traceback); 3 an internal error (a bug in ldsim: one line on
stderr; set LDSIM_DEBUG=1 for the traceback).

Messages quote input (paths, names): each is printed through :func:`ldsim.safetext.shown`,
and standard output and error write what their encoding cannot hold as backslash escapes
(a strict ``PYTHONIOENCODING=ascii`` or ``LC_ALL=C`` does not end the run).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ldsim import api
from ldsim._version import __version__
from ldsim.cli.interrupted import say_interrupted
from ldsim.cli.options import OutputError, flush_output, shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from _typeshed import SupportsWrite

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops an OSError of --help and --version: a full disk would exit 0
        if message:
            (file or sys.stderr).write(message)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"ldsim: error: {shown(message)}\n")
        raise SystemExit(EXIT_USAGE)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument; its default width imports
        # shutil (and with it bz2, lzma, zlib, fnmatch) for get_terminal_size alone
        formatter = self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]
        set_color = getattr(formatter, "_set_color", None)  # Python 3.14's argparse
        if set_color is not None:
            set_color(getattr(self, "color", False))
        return formatter


def _columns() -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


COMMANDS = {
    "explain": "explain which file the loader opens for every DT_NEEDED",
    "check": "ABI hazards only: libc mixing, symbol versions, symbol binding",
    "compare": "a snap's programs: classic view beside strict view, leaks marked",
    "graph": "draw the dependency graph (DOT, SVG, PNG, JPEG, PDF, GraphML, JSON, Mermaid)",
    "lint": "lint a classic (or libc-staging) snap's ELF files",
    "fix": "patch a classic snap's ELF files as the classic linter asks (patchelf)",
    "report": "one self-contained HTML page: verdicts, classic vs strict, lint, graph",
    "scan": "every ELF file of a tree (or many snaps): verdicts, names not found, findings; "
            "resumable",
    "completion": "print a shell completion script (bash, zsh)",
}
"""The subcommands, in the order ``ldsim --help`` lists them (one module of ``ldsim.cli``
each), and their help lines (a run of one command imports no other command's module)."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only`` (a command), that command's options only, the others
    by name and help line (what a run of one command needs, without building the rest: some
    commands' help texts import what theirs does not)."""
    parser = _Parser(
        prog="ldsim",
        description="Show, without running anything, which file the Linux dynamic loader "
        "opens for every DT_NEEDED of a program, in which order, and why.",
        epilog="Exit status: 0 success (the program starts; nothing to report), 1 a program "
        "does not start, a real run of it fails, something leaks or is reported (each "
        "command's help says what), 2 bad usage or unreadable input, 3 an internal error, "
        "130 interrupted (Ctrl-C).",
    )
    parser.add_argument("--version", action="version", version=f"ldsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_line in COMMANDS.items():
        if only is None or name == only:
            # (__import__: importing importlib itself would cost more than the rest of this)
            __import__(f"ldsim.cli.{name}", fromlist=["add_parser"]).add_parser(sub)
        else:
            sub.add_parser(name, help=help_line)
    return parser


def _translate_once() -> tuple[Any, Any]:
    """argparse translates each of its messages with ``gettext.gettext``, which looks for the
    catalogue files of the language anew on every call (some 120 ``stat`` calls for one
    command's parser). The catalogue cannot change during a run: it is looked up once, the
    same way, and argparse is given that translation's functions; returns argparse's own, to
    put back."""
    import gettext

    saved = (argparse._, argparse.ngettext)  # type: ignore[attr-defined]
    domain = gettext.textdomain()
    found = gettext.translation(domain, gettext.bindtextdomain(domain), fallback=True)
    argparse._, argparse.ngettext = found.gettext, found.ngettext  # type: ignore[attr-defined]
    return saved


def _tolerant_streams() -> None:
    """Characters the encoding of stdout/stderr cannot hold (an undecodable byte of a file
    name, any non-ASCII with ``PYTHONIOENCODING=ascii`` or in the C locale without UTF-8
    mode) become backslash escapes, not a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", "backslashreplace") != "backslashreplace":
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="backslashreplace")


def _error_line(exc: BaseException) -> str:
    """``ldsim: error: PATH: REASON``, each part shown safely (and cut) on its own."""
    if isinstance(exc, api.LdsimError) and str(exc) == f"{exc.path}: {exc.reason}":
        return f"ldsim: error: {shown(exc.path)}: {shown(exc.reason)}\n"
    return f"ldsim: error: {shown(str(exc))}\n"


def _output_failed(exc: OutputError) -> int:
    """One line on stderr, then stdout pointed at /dev/null so that the interpreter's own last
    flush of what is still buffered cannot fail again (the idiom of the Python documentation,
    ``signal``: "Note on SIGPIPE")."""
    try:
        sys.stderr.write(f"ldsim: error: cannot write the output: {exc.reason}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_USAGE


def _run(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    # one command's parser, but `completion` writes the whole command line's
    saved = _translate_once()
    try:
        parser = build_parser(first if first in COMMANDS and first != "completion" else None)
        args = parser.parse_args(args_list)
    except OSError as exc:  # --help or --version written to a full disk or closed pipe
        raise OutputError(exc) from None
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except OutputError:
        raise
    except api.LdsimError as exc:
        sys.stderr.write(_error_line(exc))
        return EXIT_USAGE
    except BrokenPipeError as exc:  # a pipe closed under a write that is not options.write
        raise OutputError(exc) from None
    except KeyboardInterrupt:
        say_interrupted()
        return 130
    except Exception as exc:
        if os.environ.get("LDSIM_DEBUG"):
            raise
        sys.stderr.write(f"ldsim: internal error: {type(exc).__name__}: {shown(str(exc))} "
                         "(this is a bug in ldsim; LDSIM_DEBUG=1 shows the traceback)\n")
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; any write error on standard output (ENOSPC, EPIPE, EIO) ends it with
    one line on stderr and exit status 2."""
    _tolerant_streams()
    try:
        try:
            status = _run(argv)
        except SystemExit:  # argparse: --help, --version, bad usage
            flush_output()
            raise
        flush_output()
    except OutputError as exc:
        return _output_failed(exc)
    return status
