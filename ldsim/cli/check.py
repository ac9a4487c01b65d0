"""``ldsim check``: resolve a program like ``explain``, bind its symbols, and report only its
ABI hazards (text for people, or the ``ldsim.check/1`` document)."""

from __future__ import annotations

import argparse

from ldsim import api
from ldsim.cli import explain, options
from ldsim.cli.main import COMMANDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SEVERITIES = ("error", "warning", "info")


HELP = COMMANDS["check"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "check", help=HELP,
        description="Resolve EXECUTABLE like `explain`, bind every undefined symbol, then "
        "report only the ABI findings (libc-mix, version-missing, version-provider-missing, "
        "unversioned-provider, version-malformed, isa-level, undefined-symbol, "
        "interposed-symbol, symbols-unreadable), grouped by severity, C++ names demangled.",
        epilog="--min-severity only chooses what is shown: the exit status is the verdict on "
        "every finding. " + explain.EXIT_STATUS.replace(
            "an undefined symbol with --symbols", "an undefined symbol (unless --no-symbols)"))
    options.add_target_options(c)
    c.add_argument("--json", action="store_true",
                   help="print the ldsim.check/1 document: the findings (C++ names mangled in "
                   "`detail`, demangled in `demangled`), the verdict and the counts")
    c.add_argument("--min-severity", choices=SEVERITIES, default="info",
                   help="show only findings of this severity or worse (default: info, all); "
                   "the exit status does not change: it is 1 when the program does not start "
                   "or an error finding says a real run fails, shown or not")
    c.add_argument("--dlopen", action="store_true",
                   help="also make the dlopen calls the loaded objects declare (ELF dlopen "
                   "notes) or hint at, as `explain --dlopen` does: dlopen-missing findings "
                   "(required: error, recommended: warning, suggested and hints: info)")
    c.add_argument("--no-symbols", dest="symbols", action="store_false",
                   help="skip symbol binding (faster; version and libc checks only)")
    c.add_argument("executable", metavar="EXECUTABLE", nargs="?", default=None,
                   help="the program's path inside the root (with --snap: optional, relative "
                   "to $SNAP or absolute in the snap's view)")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env = options.loader_env(args)
    target = options.open_target(args, missing_program=args.executable is None)
    expl = api.check(target, explain.program(args, target), env,
                     confinement=options.confinement(args), loader=options.loader(args),
                     symbols=args.symbols, dlopen=args.dlopen)
    if args.json:
        data = api.render(expl, "check-json", min_severity=args.min_severity)
    else:
        data = api.render(expl, "check-text", min_severity=args.min_severity,
                          **options.text_options(args))
    options.write(data)
    return expl.verdict.exit_status


__all__ = ["add_parser", "run"]
