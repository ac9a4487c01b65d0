"""``ldsim compare``: a snap's programs in the classic view beside the strict view."""

from __future__ import annotations

import argparse
import sys

from ldsim import api
from ldsim.cli import options
from ldsim.cli.main import COMMANDS
from ldsim.cli.options import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HELP = COMMANDS["compare"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare", help=HELP,
        description="Resolve the snap's programs in the classic view (host root, payload and "
        "base under /snap) and in the strict view (the base as root) and show, per loaded "
        "object or DT_NEEDED name, the file each view resolves, its realm and how it was "
        "found, and where the views differ or the host leaks in.",
        epilog="With --all, each library is judged where the loader meets it: in the load of "
        "the payload's programs that map it (its dependencies are in their rows, the RPATH "
        "chain inherited as ld.so inherits it), or on its own, as `ldd LIB` would, when no "
        "program loads it (shown, but not counted). Exit status: 0 nothing leaks, is missing "
        "or aborts in the classic view of the programs, 1 something does, 2 bad usage or "
        "unreadable input (a missing base included; a program that cannot be read is named "
        "and the rest compared), 3 a bug in ldsim (the rest is still compared). The worst "
        "applies.")
    options.add_target_options(p)
    p.add_argument("--all", action="store_true",
                   help="every ELF file of the payload, not only the apps' programs; "
                   "libraries judged in the programs' loads")
    p.add_argument("--dlopen", action="store_true",
                   help="also compare the dlopen calls the loaded objects declare (ELF dlopen "
                   "notes) or hint at; only a required one's leak or miss fails the compare")
    p.add_argument("--json", action="store_true", help="print the ldsim.compare/1 document")
    p.add_argument("paths", metavar="PATH", nargs="*",
                   help="programs to compare (relative to $SNAP), instead of the apps'")
    p.set_defaults(func=run, executable=None, check=False)


def run(args: argparse.Namespace) -> int:
    if args.snap is None:
        raise api.UsageError("--snap", "compare needs a snap (--snap SNAP)")
    if args.root != "/":
        raise api.UsageError("--root", "use --host with --snap (the snap's views are built "
                             "from it)")
    if args.confinement is not None:
        raise api.UsageError("--confinement", "compare shows both views")
    env = options.loader_env(args)
    target = options.open_snap(args)
    options.check_cwd(args, target)
    if args.paths:
        programs = target.path_programs(args.paths)
    elif args.all:
        programs = target.elf_programs()
        if not programs:
            unread = target.snap.payload.skipped  # files and directories it could not read
            raise api.UsageError(args.snap, "; ".join(map(str, unread)) if unread else
                                 f"snap '{target.name}' has no ELF file in its payload")
    else:
        programs = target.app_programs(args.app)
        if not programs:
            raise api.UsageError(args.snap, f"snap '{target.name}' has no apps: give PATHs "
                                 "or --all")
    show, clear = options.progress_line(label="compare ")
    try:
        result = api.compare(target, programs, env, loader=options.loader(args),
                             progress=show, in_context=bool(args.all and not args.paths),
                             dlopen=args.dlopen)
    finally:
        clear()
    messages = [f"{f.path} ({f.view}): {f.error.reason}" for f in result.failures]
    if result.all_failed:
        raise api.UsageError(args.snap, "; ".join(messages))
    messages += [str(err) for err in target.snap.payload.skipped]  # what a walk could not use
    for line in messages:
        sys.stderr.write(f"ldsim: warning: {shown(line)}\n")
    if args.json:
        options.write(api.render(result, "json"))
    else:
        options.write(api.render(result, "text", **options.text_options(args)))
    # the worst status: a bug in ldsim, a program that could not be read, a leak
    if result.internal_errors:
        return options.EXIT_INTERNAL
    if result.failures or target.snap.payload.skipped:
        return options.EXIT_UNREADABLE
    return 0 if result.clean else 1
