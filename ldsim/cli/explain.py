"""``ldsim explain``: resolve one program in a root and explain every lookup."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ldsim.config.env import X86_64_HWCAPS, Invocation, LoaderEnv, cpu_defaults
from ldsim.errors import UsageError
from ldsim.result import Resolution


def add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default="/", metavar="DIR",
                   help="directory the simulated process sees as / (default: /)")
    p.add_argument("--ld-library-path", metavar="V", default=None,
                   help="the simulated process's LD_LIBRARY_PATH (default: unset)")
    p.add_argument("--preload", metavar="V", default=None,
                   help="the simulated process's LD_PRELOAD (default: unset)")
    p.add_argument("--cwd", default=None, metavar="DIR",
                   help="its working directory inside the root (default: /, or the current "
                   "directory when --root is /)")
    p.add_argument("--hwcaps", metavar="LEVELS", default=None,
                   help="glibc-hwcaps levels of the simulated CPU, best first, e.g. "
                   "x86-64-v3,x86-64-v2, or 'none' (default: this machine's)")
    p.add_argument("--platform", metavar="NAME", default=None,
                   help="value of $PLATFORM (default: this machine's, e.g. x86_64 or haswell)")
    p.add_argument("--secure", action="store_true",
                   help="simulate a set-uid/set-gid program (AT_SECURE): LD_LIBRARY_PATH "
                   "ignored, $ORIGIN restricted, preloads restricted")
    snap = p.add_argument_group(
        "snap target", "explain a snap's program in its runtime view instead of a plain root")
    snap.add_argument("--snap", metavar="SNAP", default=None,
                      help="the snap: a prime directory, an unpacked snap, or a .snap file")
    snap.add_argument("--base", metavar="BASE", default=None,
                      help="its base snap (directory or .snap; default: HOST/snap/BASE/current)")
    snap.add_argument("--host", metavar="DIR", default="/",
                      help="the host root filesystem (default: /)")
    snap.add_argument("--confinement", choices=["classic", "strict"], default=None,
                      help="which runtime view (default: the snap's own; devmode is strict)")
    snap.add_argument("--app", metavar="NAME", default=None,
                      help="the app whose program to explain (default: the only app)")
    p.add_argument("--loader", choices=["glibc", "musl"], default=None,
                   help="loader model (default: from PT_INTERP: ld-musl-* is musl, else glibc)")
    p.add_argument("--user", metavar="UID[:GID]", default=None,
                   help="the simulated caller, for file read permissions (default: root, who "
                   "reads everything); glibc skips a candidate it may not open (EACCES)")
    p.add_argument("--invocation", choices=[i.value for i in Invocation],
                   default=Invocation.EXEC.value,
                   help="exec (default): the kernel runs the program, $ORIGIN of the program "
                   "is the directory of its real path; ldd: as `ldd`/`ld.so PROGRAM`, $ORIGIN "
                   "from the path as given")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain", help="explain which file the loader opens for every DT_NEEDED",
        description="Resolve EXECUTABLE's dependencies as the dynamic loader of the root "
        "would (glibc ld.so, in trace mode like ldd) and explain every lookup.",
        epilog="Exit status: 0 the program would load, 1 something is unresolved or the "
        "load would abort, 2 bad usage or unreadable input.")
    add_target_options(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print the ldsim.explain/1 JSON document")
    fmt.add_argument("--tree", action="store_true", help="print a dependency tree")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every candidate path tried, including absent ones")
    p.add_argument("--symbols", action="store_true",
                   help="also bind every undefined symbol of every object (undefined-symbol, "
                   "interposed-symbol findings; slower)")
    p.add_argument("--abi-only", action="store_true",
                   help="print only the ABI findings (as `ldsim check`); exit 1 on any error")
    p.add_argument("executable", metavar="EXECUTABLE", nargs="?", default=None,
                   help="the program's path inside the root (with --snap: optional, relative "
                   "to $SNAP or absolute in the snap's view)")
    p.set_defaults(func=run, check=False)
    c = sub.add_parser(
        "check", help="ABI hazards only: libc mixing, symbol versions, symbol binding",
        description="Resolve EXECUTABLE like `explain`, then report only the ABI findings: "
        "libc-mix, version-missing, unversioned-provider, undefined-symbol, interposed-symbol.",
        epilog="Exit status: 0 no error-level finding, 1 at least one, 2 bad usage or "
        "unreadable input.")
    add_target_options(c)
    c.add_argument("--json", action="store_true", help="print the ldsim.explain/1 document")
    c.add_argument("--no-symbols", dest="symbols", action="store_false",
                   help="skip symbol binding (faster; version and libc checks only)")
    c.add_argument("executable", metavar="EXECUTABLE", nargs="?", default=None,
                   help="the program's path inside the root")
    c.set_defaults(func=run, check=True, tree=False, verbose=False, abi_only=True)


def loader_env(args: argparse.Namespace) -> LoaderEnv:
    """Build the simulated process from the command line (the only place that does)."""
    levels: tuple[str, ...] = X86_64_HWCAPS
    platform = "x86_64"
    legacy: tuple[str, ...] = ("x86_64",)
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            levels, platform, legacy = cpu_defaults(fh.read())
    except OSError:
        pass
    if args.hwcaps is not None:
        value = args.hwcaps.strip()
        levels = () if value in ("", "none") else tuple(x for x in value.split(",") if x)
        bad = [x for x in levels if not x.replace("-", "").replace("_", "").isalnum()]
        if bad:
            raise UsageError("--hwcaps", f"invalid level name {bad[0]!r}")
    if args.platform is not None:
        platform = args.platform
    cwd = args.cwd
    if cwd is None:
        cwd = os.getcwd() if os.path.realpath(args.root) == "/" else "/"
    if not cwd.startswith("/"):
        raise UsageError("--cwd", f"must be an absolute path inside the root, got {cwd!r}")
    user = None
    if getattr(args, "user", None):
        uid_s, _, gid_s = args.user.partition(":")
        if not uid_s.isdigit() or (gid_s and not gid_s.isdigit()):
            raise UsageError("--user", f"expected UID or UID:GID (numbers), got {args.user!r}")
        user = (int(uid_s), int(gid_s or uid_s))
    return LoaderEnv(
        ld_library_path=args.ld_library_path, preload=args.preload, cwd=cwd, user=user,
        hwcaps=levels, platform=platform, legacy_hwcap_names=legacy, secure=args.secure,
        invocation=Invocation(args.invocation),
    )


def resolve_target(args: argparse.Namespace) -> tuple[Any, Resolution, Any]:
    """(view, resolution, snap context or None) for a plain root or a snap's runtime view."""
    from ldsim.fs.view import HostDirView
    from ldsim.loader.run import resolve

    env = loader_env(args)
    if args.snap is None:
        for opt in ("base", "app", "confinement"):
            if getattr(args, opt) is not None:
                raise UsageError(f"--{opt}", "only makes sense with --snap")
        if args.executable is None:
            raise UsageError("EXECUTABLE", "missing: the program's path inside the root")
        root = HostDirView(args.root)
        return root, resolve(root, args.executable, env, loader=args.loader), None
    from ldsim.analysis.compare import attribute_realms
    from ldsim.snap import compose

    if args.root != "/":
        raise UsageError("--root", "use --host with --snap (the snap's view is built from it)")
    target = compose.load_target(args.snap, args.base, args.host)
    confinement = args.confinement or (
        "classic" if target.meta.confinement == "classic" else "strict")
    app = None
    if args.executable is not None:
        exe = compose.payload_path(target, args.executable)
    else:
        apps = compose.pick_apps(target, args.app)
        if len(apps) != 1:
            names = ", ".join(a.name for a in apps) or "none"
            raise UsageError("--app", f"snap '{target.name}' has {len(apps)} apps ({names}): "
                             "choose one with --app NAME or give a PATH")
        app = apps[0]
        exe = compose.program_path(target, app)
    snap_view = compose.runtime_view(target, confinement)
    res = resolve(snap_view, exe, compose.app_env(target, app, confinement, env),
                  loader=args.loader)
    attribute_realms(res, snap_view)
    return snap_view, res, (target, confinement)


def run(args: argparse.Namespace) -> int:
    from ldsim.analysis.abi import analyse

    view, res, snap = resolve_target(args)
    symbols = args.symbols or (args.abi_only and not args.check)
    findings = analyse(res, view if symbols else None)
    has_error = any(f.severity.value == "error" for f in findings)
    if args.json:
        from ldsim.render.json import render_explain_json

        extra = None
        if snap is not None:
            target, confinement = snap
            extra = {"snap": {"name": target.name, "base": target.meta.base,
                              "confinement": confinement, "revision": target.revision}}
        sys.stdout.write(render_explain_json(res, findings, extra))
    elif args.abi_only:
        from ldsim.render.text import render_findings

        sys.stdout.write("\n".join(render_findings(findings)) + "\n")
    elif args.tree:
        from ldsim.render.text import render_explain_tree

        sys.stdout.write(render_explain_tree(res))
    else:
        from ldsim.render.text import render_explain_text

        sys.stdout.write(render_explain_text(res, verbose=args.verbose, findings=findings,
                                             realms=snap is not None))
    if args.abi_only:
        return 1 if has_error else 0
    return 0 if res.ok else 1
