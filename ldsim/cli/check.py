"""``ldsim check``: resolve a program like ``explain`` and report only its ABI hazards."""

from __future__ import annotations

import argparse
from typing import Any

from ldsim.cli import explain, options


def add_parser(sub: Any) -> None:
    c = sub.add_parser(
        "check", help="ABI hazards only: libc mixing, symbol versions, symbol binding",
        description="Resolve EXECUTABLE like `explain`, then report only the ABI findings: "
        "libc-mix, version-missing, unversioned-provider, undefined-symbol, interposed-symbol.",
        epilog=explain.EXIT_STATUS)
    options.add_target_options(c)
    c.add_argument("--json", action="store_true", help="print the ldsim.explain/1 document")
    c.add_argument("--no-symbols", dest="symbols", action="store_false",
                   help="skip symbol binding (faster; version and libc checks only)")
    c.add_argument("executable", metavar="EXECUTABLE", nargs="?", default=None,
                   help="the program's path inside the root")
    c.set_defaults(func=run, check=True, tree=False, verbose=False, abi_only=True)


def run(args: argparse.Namespace) -> int:
    return explain.run(args)


__all__ = ["add_parser", "run"]
