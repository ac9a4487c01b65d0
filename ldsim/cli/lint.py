"""``ldsim lint``: Snapcraft's classic and library linters, and ldsim's own rules."""

from __future__ import annotations

import argparse

from ldsim import api
from ldsim.cli import options
from ldsim.cli.main import COMMANDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HELP = COMMANDS["lint"]
"""The one line ``ldsim --help`` shows for this command."""
LIMIT = 20
"""Findings the text shows per rule unless --limit says otherwise."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lint", help=HELP,
        description="Check every ELF file of the snap as Snapcraft's classic and library "
        "linters do (interpreter, rpath, missing and unused libraries), with dependencies "
        "decided by ldsim's loader model instead of the build machine's ldd, and add what "
        "the simulated classic view shows: host leaks, RUNPATH that is not inherited, host "
        "cache entries shadowing the snap's libraries, NODEFLIB advice, ABI hazards.",
        epilog="Rules: " + ", ".join(api.ALL_RULES) + ". ldsim's rules judge each file in the "
        "classic-view load of the payload's programs that load it (RPATH inherited as ld.so "
        "inherits it; the finding says '(when bin/app starts)'); a library no program loads "
        "is judged on its own, one severity lower, and the finding says so. Exit status: 0 "
        "no finding at or above --fail-on, 1 some, 2 bad usage or unreadable input (a "
        "missing base included; a payload file that cannot be read is named and the rest "
        "linted), 3 a bug in ldsim (the rest is still linted). The worst applies.")
    options.add_snap_options(p, positional=True)
    p.add_argument("--ignore", metavar="RULE[:GLOB]", action="append", default=[],
                   help="skip a rule, or a rule for payload paths matching GLOB (fnmatch, "
                   "'*' crosses '/'); 'classic' and 'library' name Snapcraft's linters; "
                   "the snap's own snap/snapcraft.yaml lint: ignore: applies too")
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text",
                   help="text for people (default: findings grouped by rule id, each with "
                   "its fix), ldsim.lint/1 JSON, or SARIF 2.1.0 for code-scanning tools")
    options.add_output_options(p)
    p.add_argument("--fail-on", choices=["error", "warning", "info"], default="error",
                   help="lowest severity that makes the exit status 1 (default: error)")
    p.add_argument("--limit", type=_limit, default=LIMIT, metavar="N",
                   help=f"text: show at most N findings per rule (default: {LIMIT}; 0: all); "
                   "the counts, JSON and SARIF always have every one")
    p.set_defaults(func=run)


def _limit(value: str) -> int:
    if not value.isdigit() or len(value) > 9:
        raise argparse.ArgumentTypeError(f"expected a number of findings (0: all), got "
                                         f"{value!r}")
    return int(value)


def parse_ignores(values: list[str]) -> list[api.RuleIgnore]:
    out: list[api.RuleIgnore] = []
    known = (*api.ALL_RULES, "library")
    for v in values:
        rule, _, glob = v.partition(":")
        if rule not in known:
            raise api.UsageError("--ignore", f"unknown rule {rule!r} (rules: {', '.join(known)})")
        out.append((rule, [glob] if glob else None))
    return out


def run(args: argparse.Namespace) -> int:
    ignores = parse_ignores(args.ignore)
    target = options.open_snap(args)
    show, clear = options.progress_line(label="lint ")
    try:
        report = api.lint(target, ignore=ignores, progress=show)
    finally:
        clear()
    opts = {**options.text_options(args), "limit": args.limit} if args.format == "text" \
        else {}
    options.write(api.render(report, args.format, **opts))
    # the worst status: a bug in ldsim, a file that could not be linted, a finding
    if report.internal_errors:
        return options.EXIT_INTERNAL
    if report.diagnostics:
        return options.EXIT_UNREADABLE
    return 1 if report.fails(api.Severity(args.fail_on)) else 0


__all__ = ["add_parser", "parse_ignores", "run"]
