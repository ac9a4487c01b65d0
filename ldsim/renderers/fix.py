"""``ldsim fix`` output: the plan as a shell script, and the report of an applied run.

Every path and value in a command of the script is one shell word: :func:`shlex.quote` when
it is printable, else ANSI-C quoting (``$'...'``, bash(1) QUOTING; POSIX.1-2024 sh) with each
control character, bidi control and undecodable byte written as ``\\xHH`` escapes of its
bytes, so no such character appears literally in the script and the command still names the
same file. A script that needs ``$'...'`` first checks that its shell understands it. Comments
and the report of an applied run show input through :func:`ldsim.safetext.shown`.
"""

from __future__ import annotations

import os
import shlex

from ldsim.linter.fix import FixPlan, FixStatus, host_objects
from ldsim.linter.model import LintReport
from ldsim.patching import ApplyOutcome, FixRun
from ldsim.renderers.style import Style, plural
from ldsim.result import Severity
from ldsim.safetext import shown

ANSI_C_CHECK = ("[ $'\\x41' = A ] || { echo 'this script quotes names with $'\\''...'\\'': run "
                "it with bash' >&2; exit 2; }")
"""The line that stops a shell without ``$'...'`` (dash) before it names a wrong file."""


def _ansi_c(ch: str) -> str:
    if ch in ("\\", "'"):
        return "\\" + ch
    if ch.isprintable():
        return ch
    try:
        data = ch.encode("utf-8", "surrogateescape")  # U+DCNN: the raw byte NN
    except UnicodeEncodeError:
        data = ch.encode("utf-8", "surrogatepass")
    return "".join(f"\\x{b:02x}" for b in data)


def sh_word(value: str) -> str:
    """``value`` as one ``sh`` word: :func:`shlex.quote`, or ``$'...'`` with escapes when it
    holds a character that is not printable."""
    if value.isprintable():
        return shlex.quote(value)
    return "$'" + "".join(map(_ansi_c, value)) + "'"


def _c(value: object) -> str:
    """A value safe inside a ``#`` comment line: no line break can end the comment, no
    control character reaches a terminal showing the script."""
    return shown(str(value))


def render_plan(plan: FixPlan, snap_dir: str) -> str:
    """The plan as a shell script to run in the snap's directory; refused and skipped files
    as comments (nothing from the input can end a comment line or inject a command)."""
    todo = plan.with_status(FixStatus.PATCH)
    refused = plan.with_status(FixStatus.REFUSED)
    skipped = plan.with_status(FixStatus.SKIPPED)
    snap = plan.snap
    out = [f"# ldsim fix: snap {_c(snap.get('name'))} (base {_c(snap.get('base') or 'none')}, "
           f"{_c(snap.get('confinement'))} confinement): {len(todo)} to patch, "
           f"{len(refused)} refused, {len(skipped)} left alone"]
    if not plan.classic_rules:
        why = ("base: bare, which Snapcraft's classic linter leaves alone: no base to point "
               "the interpreter and the rpath at; stage the C library to stop host leaks"
               if snap.get("base") in (None, "", "bare") else
               "strict snap without staged libc")
        out.append(f"# the classic rules do not apply ({why}): nothing to patch")
    if todo:
        out.append("set -e")
        commands: list[list[str]] = []
        if os.path.isdir(snap_dir):
            commands.append(["cd", "--", os.path.abspath(snap_dir)])
        else:
            out.append(f"# run in the unpacked snap (unsquashfs -d DIR {sh_word(snap_dir)}; "
                       "cd DIR)")
        for fp in todo:
            path = "./" + fp.path if fp.path.startswith("-") else fp.path
            commands.extend(["patchelf", *c.options, path] for c in fp.calls)
        if not all(word.isprintable() for words in commands for word in words):
            out.append(ANSI_C_CHECK)
        out.extend(" ".join(map(sh_word, words)) for words in commands)
    for fp in refused:
        out.append(f"# refused: {_c(fp.path)}: {_c(fp.reason)}")
    for fp in skipped:
        out.append(f"# left alone: {_c(fp.path)}: {_c(fp.reason)}")
    if not todo and not refused:
        out.append("# nothing to do")
    return "\n".join(out) + "\n"


def _counts(report: LintReport) -> str:
    n = {s: sum(1 for f in report.findings if not f.ok and f.severity is s) for s in Severity}
    return (f"{plural(n[Severity.ERROR], 'error')}, {plural(n[Severity.WARNING], 'warning')}, "
            f"{plural(n[Severity.INFO], 'note')}")


def _leaks(names: list[str]) -> str:
    return f"{len(names)} ({', '.join(map(shown, names))})" if names else "0"


def render_fix_run(run: FixRun, *, color: bool = False, width: int | None = None) -> str:
    """What ``ldsim fix --apply`` prints: each file's outcome, the refused and skipped files,
    and the host objects of every patched file before and after."""
    st = Style(color, width)
    plan, result = run.plan, run.result
    out: list[str] = []
    name = _c(plan.snap.get("name"))
    todo = plan.with_status(FixStatus.PATCH)
    if todo and run.patchelf is not None:
        out.append(f"ldsim fix: snap {name}: patching {plural(len(todo), 'file')} with "
                   f"{_c(run.patchelf_version)} ({_c(run.patchelf)})")
    else:
        out.append(f"ldsim fix: snap {name}: nothing to patch")
    for path in result.cleaned if result is not None else ():
        out.append(f"removed: {_c(path)} (a temporary copy a killed run left behind)")
    for r in result.results if result is not None else ():
        label = {ApplyOutcome.PATCHED: "patched", ApplyOutcome.FAILED: "failed",
                 ApplyOutcome.NOT_REACHED: "not reached"}[r.outcome]
        tag = st.paint("missing" if r.outcome is ApplyOutcome.FAILED else
                       "found" if r.outcome is ApplyOutcome.PATCHED else "warning", label)
        out.append(f"{tag}: {_c(r.path)}" + (f": {_c(r.detail)}" if r.detail else ""))
    for fp in plan.with_status(FixStatus.REFUSED):
        out.append(f"{st.paint('missing', 'refused')}: {_c(fp.path)}: {_c(fp.reason)}")
    for fp in plan.with_status(FixStatus.SKIPPED):
        out.append(f"left alone: {_c(fp.path)}: {_c(fp.reason)}")
    if run.after is not None and result is not None:
        patched = {r.path for r in result.of(ApplyOutcome.PATCHED)}
        old = {f.path: f for f in run.before.files}
        new = {f.path: f for f in run.after.files}
        out.append("host objects in the classic view, before -> after:")
        for path in sorted(patched):
            was = host_objects(old[path]) if path in old else []
            now = host_objects(new[path]) if path in new else []
            out.append(f"  {_c(path)}: {_leaks(was)} -> {_leaks(now)}")
        out.append(f"lint before: {_counts(run.before)}; after: {_counts(run.after)}")
    return st.lines(out)


__all__ = ["ANSI_C_CHECK", "render_fix_run", "render_plan", "sh_word"]
