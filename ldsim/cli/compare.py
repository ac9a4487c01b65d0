"""``ldsim compare``: a snap's programs in the classic view beside the strict view."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ldsim.errors import LdsimError, UsageError


def add_parser(sub: Any) -> None:
    from ldsim.cli.explain import add_target_options

    p = sub.add_parser(
        "compare", help="a snap's programs: classic view beside strict view, leaks marked",
        description="Resolve the snap's programs in the classic view (host root, payload and "
        "base under /snap) and in the strict view (the base as root) and show, per loaded "
        "object or DT_NEEDED name, the file each view resolves, its realm and how it was "
        "found, and where the views differ or the host leaks in.",
        epilog="Exit status: 0 nothing leaks or is missing in the classic view, 1 something "
        "does, 2 bad usage or unreadable input.")
    add_target_options(p)
    p.add_argument("--all", action="store_true",
                   help="every ELF file of the payload, not only the apps' programs")
    p.add_argument("--json", action="store_true", help="print the ldsim.compare/1 document")
    p.add_argument("paths", metavar="PATH", nargs="*",
                   help="programs to compare (relative to $SNAP), instead of the apps'")
    p.set_defaults(func=run, executable=None, check=False)


def run(args: argparse.Namespace) -> int:
    from ldsim.analysis.compare import attribute_realms, compare_resolutions, file_names
    from ldsim.cli.explain import loader_env
    from ldsim.loader.run import RootConfig, resolve
    from ldsim.render.compare import render_compare_json, render_compare_text
    from ldsim.snap import compose

    if args.snap is None:
        raise UsageError("--snap", "compare needs a snap (--snap SNAP)")
    env = loader_env(args)
    target = compose.load_target(args.snap, args.base, args.host)
    views = {c: compose.runtime_view(target, c) for c in ("classic", "strict")}
    configs = {c: RootConfig(v) for c, v in views.items()}
    programs: list[tuple[str, Any]] = []
    if args.paths:
        programs = [(compose.payload_path(target, p), None) for p in args.paths]
    elif args.all:
        programs = [(compose.payload_path(target, rel), None)
                    for rel, etype in compose.elf_files(target.payload) if etype in (2, 3)]
        if not programs:
            raise UsageError(args.snap, f"snap '{target.name}' has no ELF file in its payload")
    else:
        programs = [(compose.program_path(target, a), a)
                    for a in compose.pick_apps(target, args.app)]
        if not programs:
            raise UsageError(args.snap, f"snap '{target.name}' has no apps: give PATHs or --all")
    shipped = file_names(target.payload) | (file_names(target.base) if target.base else set())
    results = []
    failures: dict[tuple[str, str], LdsimError] = {}  # (program, view) -> why it was not read
    progress = sys.stderr.isatty() and len(programs) > 3
    for n, (exe, app) in enumerate(programs, 1):
        if progress:
            sys.stderr.write(f"\r\033[K[{n}/{len(programs)}] {exe}")
            sys.stderr.flush()
        res: dict[str, Any] = {}
        for c, view in views.items():
            try:
                r = resolve(view, exe, compose.app_env(target, app, c, env), configs[c],
                            loader=args.loader)
            except LdsimError as exc:
                failures[(exe, c)] = exc
                res[c] = None
                continue
            attribute_realms(r, view)
            res[c] = r
        comparison = compare_resolutions(exe, res["classic"], res["strict"], shipped)
        if (exe, "classic") in failures:
            comparison.classic_error = failures[(exe, "classic")].reason
        if (exe, "strict") in failures:
            comparison.strict_error = failures[(exe, "strict")].reason
        results.append(comparison)
    if progress:
        sys.stderr.write("\r\033[K")
    messages = [f"{exe} ({c}): {exc.reason}" for (exe, c), exc in failures.items()]
    if failures and all((b.path, "classic") in failures and (b.path, "strict") in failures
                        for b in results):
        raise UsageError(args.snap, "; ".join(messages))
    for line in messages:
        sys.stderr.write(f"ldsim: warning: {line}\n")
    snap = {"name": target.name, "base": target.meta.base,
            "confinement": target.meta.confinement}
    if args.json:
        sys.stdout.write(render_compare_json(snap, results))
    else:
        sys.stdout.write(render_compare_text(snap, results))
    bad = any(r.leak or r.classic.realm == "missing" for b in results for r in b.rows)
    bad = bad or any(b.classic_error for b in results)
    return 1 if bad else 0
