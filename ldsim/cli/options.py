"""Options shared by the commands, and their validation, written once.

``--root`` or ``--snap``/``--base``/``--host``/``--confinement``/``--app`` name the target;
``--ld-library-path``, ``--preload``, ``--cwd``, ``--hwcaps``, ``--platform``, ``--secure``,
``--user`` and ``--invocation`` describe the simulated process (the one place a
:class:`~ldsim.LoaderEnv` is built from the command line and this machine); ``--loader``
forces a loader model.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ldsim import api
from ldsim.api import Invocation, UsageError
from ldsim.cli.interrupted import say_interrupted

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# a batch's worst status (main.py: every command's exit statuses)
EXIT_UNREADABLE, EXIT_INTERNAL = 2, 3


def shown(text: str) -> str:
    """A string from the input (a path, a name, a message quoting them) safe to print on a
    terminal: control characters, bidi controls and undecodable bytes escaped, a huge one
    cut (:func:`ldsim.render` of a ``str``, :mod:`ldsim.safetext`)."""
    return str(api.render(str(text), "text"))


class OutputError(Exception):
    """Standard output cannot be written (a full disk, a closed pipe, an I/O error)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(exc)
        self.reason = exc.strerror or str(exc)


def add_output_options(p: argparse.ArgumentParser) -> None:
    """``--color`` and ``--width``: how text for people is drawn."""
    g = p.add_argument_group("text output")
    g.add_argument("--color", "--colour", choices=["auto", "always", "never"], default="auto",
                   help="colour the text: auto (default) colours when standard output is a "
                   "terminal and NO_COLOR is not set; the words say the same without colour")
    g.add_argument("--width", metavar="COLUMNS", type=_width, default=None,
                   help="wrap text to this many columns (0: never wrap; default: $COLUMNS, "
                   "else the terminal's width, else 80)")


def _width(value: str) -> int:
    if not value.isdigit() or (int(value) and int(value) < 40) or len(value) > 5:
        raise argparse.ArgumentTypeError(f"expected 0 or a number of columns of at least 40, "
                                         f"got {value!r}")
    return int(value)


def use_color(args: argparse.Namespace, stream: object = None) -> bool:
    """``--color``: always, never, or auto: standard output (or ``stream``) is a terminal,
    ``NO_COLOR`` is unset or empty (https://no-color.org) and ``TERM`` is not ``dumb``."""
    choice = getattr(args, "color", "auto")
    if choice != "auto":
        return bool(choice == "always")
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream or sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def output_width(args: argparse.Namespace) -> int | None:
    """``--width``, else ``COLUMNS`` (as ``ls`` reads it), else the terminal's width, else 80;
    ``None`` (never wrap) for ``--width 0``."""
    width = getattr(args, "width", None)
    if width is not None:
        return int(width) or None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and 0 < len(columns) < 6 and int(columns) > 0:
        return max(int(columns), 20)
    try:
        if sys.stdout.isatty():
            columns_ = os.get_terminal_size(sys.stdout.fileno()).columns
            if columns_ > 0:  # `script`, serial consoles and some CI terminals report 0
                return max(columns_, 20)
    except (OSError, ValueError, AttributeError):
        pass
    return 80


def text_options(args: argparse.Namespace) -> dict[str, object]:
    """The options of a text renderer: ``color`` and ``width``."""
    return {"color": use_color(args), "width": output_width(args)}


def add_target_options(p: argparse.ArgumentParser) -> None:
    add_output_options(p)
    p.add_argument("--root", default="/", metavar="DIR",
                   help="directory the simulated process sees as / (default: /)")
    add_process_options(p)
    snap = p.add_argument_group(
        "snap target", "a snap's programs in their runtime view instead of a plain root")
    add_snap_options(snap, positional=False)
    snap.add_argument("--confinement", choices=["classic", "strict"], default=None,
                      help="which runtime view (default: the snap's own; devmode is strict)")
    snap.add_argument("--app", metavar="NAME", default=None,
                      help="the app whose program to use (default: the only app, or every app "
                      "where a command takes several)")
    add_loader_options(p)


def add_process_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The simulated process: its environment, CPU and privileges."""
    p.add_argument("--ld-library-path", metavar="V", default=None,
                   help="the simulated process's LD_LIBRARY_PATH (default: unset)")
    p.add_argument("--preload", metavar="V", default=None,
                   help="the simulated process's LD_PRELOAD (default: unset)")
    p.add_argument("--cwd", default=None, metavar="DIR",
                   help="its working directory inside the root (default: /, or the current "
                   "directory when --root is /)")
    p.add_argument("--hwcaps", metavar="LEVELS", default=None,
                   help="glibc-hwcaps levels of the simulated CPU, best first, e.g. "
                   "x86-64-v3,x86-64-v2, power9, z15,z14,z13, or 'none' (default: what a "
                   "program of its architecture sees on this machine; for an architecture "
                   "this machine does not run, a typical CPU of it)")
    p.add_argument("--platform", metavar="NAME", default=None,
                   help="value of $PLATFORM (AT_PLATFORM; default: as for --hwcaps, e.g. "
                   "x86_64 or haswell, i686 for an i386 program, aarch64, v7l, power9, z15)")
    p.add_argument("--legacy-hwcaps", metavar="NAMES", default=None,
                   help="the legacy hwcap names of the simulated CPU whose subdirectories "
                   "glibc 2.36 still searches (HWCAP_IMPORTANT: x86_64, avx512_1, sse2, "
                   "atomics, vfp, neon, dfp, altivec, zarch, ...), comma-separated, or 'none' "
                   "(default: as for --hwcaps)")
    p.add_argument("--secure", action="store_true",
                   help="simulate a set-uid/set-gid program (AT_SECURE): LD_LIBRARY_PATH "
                   "ignored, $ORIGIN restricted, preloads restricted")


def add_loader_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The loader model, the caller, how the program is started."""
    p.add_argument("--loader", choices=["glibc", "musl"], default=None,
                   help="loader model (default: from PT_INTERP: ld-musl-* is musl, else glibc)")
    p.add_argument("--user", metavar="UID[:GID]", default=None,
                   help="the simulated caller, for permissions: to read a file, to search "
                   "each directory on its path, to execute the program (default: root, who "
                   "may do all of it, but execute only a file with an x bit set); the "
                   "loaders skip a candidate it may not open (EACCES) and a configuration "
                   "file it may not read")
    p.add_argument("--invocation", choices=[i.value for i in Invocation],
                   default=Invocation.EXEC.value,
                   help="exec (default): the kernel runs the program, $ORIGIN of the program "
                   "is the directory of its real path; ldd: as `ldd`/`ld.so PROGRAM`, $ORIGIN "
                   "from the path as given")


def add_snap_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, *,
                     positional: bool) -> None:
    """The snap (``--snap SNAP``, or a positional ``SNAP``), ``--base`` and ``--host``."""
    if positional:
        p.add_argument("snap", metavar="SNAP", help="a prime directory, unpacked snap or .snap")
    else:
        p.add_argument("--snap", metavar="SNAP", default=None,
                       help="the snap: a prime directory, an unpacked snap, or a .snap file")
    p.add_argument("--base", metavar="BASE", default=None,
                   help="its base snap (directory or .snap; default: HOST/snap/BASE/current)")
    p.add_argument("--host", metavar="DIR", default="/",
                   help="the host root filesystem (default: /)" if not positional
                   else "the host root (default: /)")


def loader_env(args: argparse.Namespace) -> api.LoaderEnv:
    """Build the simulated process from the command line (the only place that does): this
    machine's CPU (:func:`ldsim.host_env`) unless the options say otherwise."""
    machine = api.host_env()
    levels: tuple[str, ...] | None = None  # None: the CPU a program of its architecture sees
    legacy: tuple[str, ...] | None = None
    if args.hwcaps is not None:
        value = args.hwcaps.strip()
        levels = () if value in ("", "none") else tuple(x for x in value.split(",") if x)
        bad = [x for x in levels if x not in api.KNOWN_HWCAPS]
        if bad:
            raise UsageError("--hwcaps", f"unknown level {bad[0]!r}: glibc 2.36 knows "
                             f"{', '.join(api.KNOWN_HWCAPS)} (best first, comma-separated), "
                             "or 'none'")
        if len(set(levels)) != len(levels):
            raise UsageError("--hwcaps", f"a level is given twice in {value!r}")
    if getattr(args, "legacy_hwcaps", None) is not None:
        value = args.legacy_hwcaps.strip()
        legacy = () if value in ("", "none") else tuple(x for x in value.split(",") if x)
        bad = [x for x in legacy if not x.replace("_", "").replace("-", "").isalnum()
               or len(x) > 16]
        if bad:
            raise UsageError("--legacy-hwcaps", f"not a hwcap name: {bad[0]!r}")
    platform = args.platform
    cwd = args.cwd
    if cwd is None:
        cwd = os.getcwd() if api.real_path(args.root) == "/" else "/"
    if not cwd.startswith("/"):
        raise UsageError("--cwd", f"must be an absolute path inside the root, got {cwd!r}")
    user = None
    if getattr(args, "user", None):
        uid_s, _, gid_s = args.user.partition(":")
        if not uid_s.isdigit() or (gid_s and not gid_s.isdigit()) \
                or not all(len(n) < 11 and int(n) < 0xFFFFFFFF for n in (uid_s, gid_s) if n):
            raise UsageError("--user", "expected UID or UID:GID (numbers from 0 to "
                             f"4294967294, as the kernel takes them), got {args.user!r}")
        user = (int(uid_s), int(gid_s or uid_s))
    return api.LoaderEnv(
        ld_library_path=args.ld_library_path, preload=args.preload, cwd=cwd, user=user,
        hwcaps=levels, platform=platform, legacy_hwcap_names=legacy, cpuinfo=machine.cpuinfo,
        secure=args.secure,
        invocation=Invocation(args.invocation),
    )


def loader(args: argparse.Namespace) -> api.Libc | None:
    return api.Libc(args.loader) if args.loader else None


def confinement(args: argparse.Namespace) -> api.Confinement | None:
    which = getattr(args, "confinement", None)  # not every command has the option
    return api.Confinement(which) if which else None


def open_target(args: argparse.Namespace, *, snap_only: str | None = None,
                missing_program: bool = False) -> api.Target:
    """The root (``--root``) or the snap (``--snap``) the command line names. ``snap_only``
    (an option name) says that option needs ``--snap``; ``missing_program``: no program was
    given, which a root needs."""
    if args.snap is None:
        for opt in ("base", "app", "confinement"):
            if getattr(args, opt, None) is not None:
                raise UsageError(f"--{opt}", "only makes sense with --snap")
        if snap_only:
            raise UsageError(snap_only, "compares a snap's two views: give --snap SNAP")
        if missing_program:
            raise UsageError("EXECUTABLE", "missing: the program's path inside the root")
        target: api.Target = api.open_root(args.root)
    else:
        if args.root != "/":
            raise UsageError("--root", "use --host with --snap (the snap's view is built "
                             "from it)")
        target = api.open_snap(args.snap, base=args.base, host=args.host)
    check_cwd(args, target)
    return target


def check_cwd(args: argparse.Namespace, target: api.Target) -> None:
    """``--cwd`` given: it must be a directory in the view the program runs in."""
    cwd = getattr(args, "cwd", None)
    if cwd is None:
        return
    view = target.view(confinement(args))
    try:
        st = view.stat(cwd)
    except api.LdsimError as exc:
        raise UsageError("--cwd", f"{cwd}: {exc.reason} (in {view.name})") from None
    if not st.is_dir:
        raise UsageError("--cwd", f"{cwd}: not a directory (in {view.name})")


def open_snap(args: argparse.Namespace) -> api.SnapTarget:
    return api.open_snap(args.snap, base=args.base, host=args.host)


def progress_line(total_at_least: int = 4, *, label: str = "") -> tuple[
        Callable[[int, int, str], None], Callable[[], None]]:
    """A progress bar on standard error for a batch of ``total_at_least`` items or more, and
    the function that removes it. Only when standard error is a terminal (nothing at all is
    written otherwise: a log or a CI job gets no control sequences); the bar is drawn by
    ``tqdm``, imported only then, and leaves no line behind when it is removed. ``show(n,
    total, what)`` is called before the n-th item (1-based); ``what`` (a path of the input)
    is shown safely, its end kept when it is long."""
    try:
        tty = sys.stderr.isatty()
    except (OSError, ValueError, AttributeError):
        tty = False
    bar: Any = None

    def show(n: int, total: int, what: str) -> None:
        nonlocal bar
        if not tty or total < total_at_least:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, file=sys.stderr, leave=False, dynamic_ncols=True,
                       unit="file", desc=label or None, mininterval=0.1,
                       bar_format="{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                       "[{elapsed}<{remaining}] {postfix}")
        if bar.total != total:  # a scan learns its total as it walks
            bar.total = total
        item = shown(what)
        if len(item) > 40:
            item = "..." + item[-37:]
        bar.set_postfix_str(item, refresh=False)
        bar.update(max(0, n - 1 - bar.n))

    def clear() -> None:
        nonlocal bar
        if bar is not None:
            bar.close()
            bar = None

    return show, clear


def write(data: str | bytes) -> None:
    """Write a rendered result to standard output, flushed: :class:`OutputError` when it
    cannot be written."""
    try:
        if isinstance(data, str):
            sys.stdout.write(data)
            sys.stdout.flush()
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    except OSError as exc:
        raise OutputError(exc) from None


def write_line(line: str) -> None:
    """Write one line of a stream (JSON Lines) to standard output; a pipe gets whole lines,
    flushed as the stream's buffer fills: :class:`OutputError` when it cannot be written."""
    try:
        sys.stdout.write(line + "\n")
    except OSError as exc:
        raise OutputError(exc) from None


def flush_output() -> None:
    """Flush standard output (what argparse printed, say): :class:`OutputError` when it
    cannot be written."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        raise OutputError(exc) from None
    except ValueError:  # closed
        pass


__all__ = [
    "OutputError",
    "add_loader_options",
    "add_output_options",
    "add_process_options",
    "add_snap_options",
    "add_target_options",
    "check_cwd",
    "confinement",
    "flush_output",
    "loader",
    "loader_env",
    "open_snap",
    "open_target",
    "output_width",
    "progress_line",
    "say_interrupted",
    "shown",
    "text_options",
    "use_color",
    "write",
    "write_line",
]
