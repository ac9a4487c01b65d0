"""``ldsim lint``: Snapcraft's classic and library linters, and ldsim's own rules."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ldsim.errors import UsageError
from ldsim.lint.model import ALL_RULES
from ldsim.result import Severity

_ORDER = {"error": 0, "warning": 1, "info": 2}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lint", help="lint a classic (or libc-staging) snap's ELF files",
        description="Check every ELF file of the snap as Snapcraft's classic and library "
        "linters do (interpreter, rpath, missing and unused libraries), with dependencies "
        "decided by ldsim's loader model instead of the build machine's ldd, and add what "
        "the simulated classic view shows: host leaks, RUNPATH that is not inherited, host "
        "cache entries shadowing the snap's libraries, NODEFLIB advice, ABI hazards.",
        epilog="Rules: " + ", ".join(ALL_RULES) + ". Exit status: 0 no finding at or above "
        "--fail-on, 1 some, 2 bad usage or unreadable input.")
    p.add_argument("snap", metavar="SNAP", help="a prime directory, unpacked snap or .snap")
    p.add_argument("--base", metavar="BASE", default=None,
                   help="its base snap (directory or .snap; default: HOST/snap/BASE/current)")
    p.add_argument("--host", metavar="DIR", default="/", help="the host root (default: /)")
    p.add_argument("--ignore", metavar="RULE[:GLOB]", action="append", default=[],
                   help="skip a rule, or a rule for payload paths matching GLOB (fnmatch, "
                   "'*' crosses '/'); 'classic' and 'library' name Snapcraft's linters; "
                   "the snap's own snap/snapcraft.yaml lint: ignore: applies too")
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    p.add_argument("--fail-on", choices=["error", "warning", "info"], default="error",
                   help="lowest severity that makes the exit status 1 (default: error)")
    p.set_defaults(func=run)


def parse_ignores(values: list[str]) -> list[tuple[str, list[str] | None]]:
    out: list[tuple[str, list[str] | None]] = []
    known = (*ALL_RULES, "library")
    for v in values:
        rule, _, glob = v.partition(":")
        if rule not in known:
            raise UsageError("--ignore", f"unknown rule {rule!r} (rules: {', '.join(known)})")
        out.append((rule, [glob] if glob else None))
    return out


def run(args: argparse.Namespace) -> int:
    from ldsim.lint.engine import lint_snap
    from ldsim.snap import compose

    ignores = parse_ignores(args.ignore)
    target = compose.load_target(args.snap, args.base, args.host)
    tty = sys.stderr.isatty()

    def progress(n: int, total: int, path: str) -> None:
        if tty and total > 3:
            sys.stderr.write(f"\r\033[K[{n}/{total}] {path}" if n <= total else "")
            sys.stderr.flush()

    report = lint_snap(target, ignore=ignores, progress=progress)
    if tty and len(report.files) > 3:
        sys.stderr.write("\r\033[K")
    if args.format == "json":
        from ldsim.render.lint import render_lint_json

        sys.stdout.write(render_lint_json(report))
    elif args.format == "sarif":
        from ldsim.render.sarif import render_sarif

        sys.stdout.write(render_sarif(report))
    else:
        from ldsim.render.lint import render_lint_text

        sys.stdout.write(render_lint_text(report))
    limit = _ORDER[args.fail_on]
    fail = any(not f.ok and _ORDER[f.severity.value] <= limit for f in report.findings)
    return 1 if fail else 0


__all__ = ["Severity", "add_parser", "parse_ignores", "run"]
