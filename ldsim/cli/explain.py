"""``ldsim explain`` and ``ldsim check``: resolve one program in a root and explain every
lookup, or report only its ABI hazards."""

from __future__ import annotations

import argparse

from ldsim import api
from ldsim.cli import options
from ldsim.cli.main import COMMANDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EXIT_STATUS = (
    "Exit status: 0 the program starts; 1 it does not (a dependency is found nowhere, the "
    "load aborts, its interpreter does not exist) or it loads but a real run fails (an "
    "error-level finding: a missing symbol version, an unversioned provider, an undefined "
    "symbol with --symbols, ...); 2 bad usage or unreadable input; 3 a bug in ldsim.")


HELP = COMMANDS["explain"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain", help=HELP,
        description="Resolve EXECUTABLE's dependencies as the dynamic loader of the root "
        "would (glibc ld.so, in trace mode like ldd) and explain every lookup.",
        epilog=EXIT_STATUS)
    options.add_target_options(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print the ldsim.explain/1 JSON document")
    fmt.add_argument("--tree", action="store_true", help="print a dependency tree")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="also show the simulated process and every lookup, candidates grouped "
                   "by search list; -vv: each lookup's trail in LD_DEBUG=libs's words "
                   "(search path=, trying file=)")
    p.add_argument("-a", "--all", action="store_true",
                   help="with --tree: also show the C library family (libc, ld-linux, libm, "
                   "libgcc_s, libstdc++, ...), hidden by default as libtree does")
    p.add_argument("--symbols", action="store_true",
                   help="also bind every undefined symbol of every object (undefined-symbol, "
                   "interposed-symbol findings; slower)")
    p.add_argument("--dlopen", action="store_true",
                   help="after the initial load, also make the dlopen calls the loaded objects "
                   "declare (ELF dlopen metadata notes, .note.dlopen) or hint at (soname-like "
                   "strings in an object that imports dlopen), as the real loader would serve "
                   "them: each alternative in turn, from the calling object")
    p.add_argument("--dlopen-add", metavar="[OBJECT=]NAME[,NAME...]", action="append",
                   default=[],
                   help="a dlopen call the files do not declare: by the program, or by OBJECT "
                   "(its path as loaded); NAMEs are alternatives, the first that loads wins; "
                   "implies --dlopen (repeatable)")
    p.add_argument("--abi-only", action="store_true",
                   help="print only the ABI findings (as `ldsim check`); exit 1 on any error")
    p.add_argument("executable", metavar="EXECUTABLE", nargs="?", default=None,
                   help="the program's path inside the root (with --snap: optional, relative "
                   "to $SNAP or absolute in the snap's view)")
    p.set_defaults(func=run, check=False)


def program(args: argparse.Namespace, target: api.Target) -> api.Program:
    """The one program EXECUTABLE names, or a snap's only app (or --app)."""
    if not isinstance(target, api.SnapTarget):
        return api.Program(args.executable)
    if args.executable is not None:
        return target.path_programs([args.executable])[0]
    progs = target.app_programs(args.app)
    if len(progs) != 1:
        names = ", ".join(p.app.name for p in progs if p.app) or "none"
        raise api.UsageError("--app", f"snap '{target.name}' has {len(progs)} apps ({names}): "
                             "choose one with --app NAME or give a PATH")
    return progs[0]


def run(args: argparse.Namespace) -> int:
    if getattr(args, "all", False) and not args.tree:
        raise api.UsageError("-a/--all", "only changes the --tree view (the list shows every "
                             "object)")
    env = options.loader_env(args)
    target = options.open_target(args, missing_program=args.executable is None)
    symbols = args.symbols or (args.abi_only and not args.check)
    expl = api.explain(target, program(args, target), env,
                       confinement=options.confinement(args), loader=options.loader(args),
                       symbols=symbols, dlopen=getattr(args, "dlopen", False),
                       dlopen_add=[api.parse_dlopen_add(v)
                                   for v in getattr(args, "dlopen_add", [])])
    if args.json:
        fmt = "json"
    elif args.abi_only:
        fmt = "findings"
    elif args.tree:
        fmt = "tree"
    else:
        fmt = "text"
    opts: dict[str, object] = {}
    if fmt != "json":
        opts = options.text_options(args)
    if fmt == "text":
        opts["verbose"] = args.verbose
    elif fmt == "tree":
        opts["all"] = args.all
    options.write(api.render(expl, fmt, **opts))
    return expl.verdict.exit_status
