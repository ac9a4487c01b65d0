"""``ldsim fix`` output: the plan as a shell script, and the report of an applied run."""

from __future__ import annotations

import os
import shlex

from ldsim.linter.fix import FixPlan, FixStatus, host_objects
from ldsim.linter.model import LintReport
from ldsim.patching import ApplyOutcome, FixRun
from ldsim.result import Severity


def _q(path: str) -> str:
    return shlex.quote("./" + path if path.startswith("-") else path)


def _c(value: object) -> str:
    """A value safe inside a ``#`` comment line: no line break can end the comment."""
    text = str(value)
    return text if text.isprintable() else repr(text)


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
    n = {s: sum(1 for f in report.findings if not f.ok and f.severity is s) for s in Severity}
    return (f"{n[Severity.ERROR]} errors, {n[Severity.WARNING]} warnings, "
            f"{n[Severity.INFO]} notes")


def _leaks(names: list[str]) -> str:
    return f"{len(names)} ({', '.join(names)})" if names else "0"


def render_fix_run(run: FixRun) -> str:
    """What ``ldsim fix --apply`` prints: each file's outcome, the refused and skipped files,
    and the host objects of every patched file before and after."""
    plan, result = run.plan, run.result
    out: list[str] = []
    name = plan.snap.get("name")
    todo = plan.with_status(FixStatus.PATCH)
    if todo and run.patchelf is not None:
        out.append(f"ldsim fix: snap {name}: patching {len(todo)} files with "
                   f"{run.patchelf_version} ({run.patchelf})")
    else:
        out.append(f"ldsim fix: snap {name}: nothing to patch")
    for r in result.results if result is not None else ():
        label = {ApplyOutcome.PATCHED: "patched", ApplyOutcome.FAILED: "failed",
                 ApplyOutcome.NOT_REACHED: "not reached"}[r.outcome]
        out.append(f"{label}: {r.path}" + (f": {r.detail}" if r.detail else ""))
    for fp in plan.with_status(FixStatus.REFUSED):
        out.append(f"refused: {fp.path}: {fp.reason}")
    for fp in plan.with_status(FixStatus.SKIPPED):
        out.append(f"left alone: {fp.path}: {fp.reason}")
    if run.after is not None and result is not None:
        patched = {r.path for r in result.of(ApplyOutcome.PATCHED)}
        old = {f.path: f for f in run.before.files}
        new = {f.path: f for f in run.after.files}
        out.append("host objects in the classic view, before -> after:")
        for path in sorted(patched):
            was = host_objects(old[path]) if path in old else []
            now = host_objects(new[path]) if path in new else []
            out.append(f"  {path}: {_leaks(was)} -> {_leaks(now)}")
        out.append(f"lint before: {_counts(run.before)}; after: {_counts(run.after)}")
    return "\n".join(out) + "\n"


__all__ = ["render_fix_run", "render_plan"]
