#!/usr/bin/env python3
"""Time ``ldsim explain PROGRAM`` beside its peers on the same input.

Peers: pax-utils ``lddtree`` (Debian's is the Python ``lddtree.py``), ``libtree``, the glibc
loader itself in trace mode (``ld.so --list PROGRAM``, the built-in form of
``LD_TRACE_LOADED_OBJECTS=1 ld.so PROGRAM``; it maps every library but runs no program code)
and the ``ldd`` script around it. Every tool is timed as a whole command, process start-up
included, because that is what a user waits for. One more row, measured inside this process,
shows ldsim's resolution alone (a fresh root configuration every time, so ``ld.so.cache`` is
parsed each time) without Python's start-up.

Uses hyperfine (``--export-json``) when it is installed, otherwise a loop of
``time.perf_counter`` around ``subprocess.run``. A peer that is not installed is reported as
such, not as a crash. This is a measurement, never a test: nothing here asserts a time.

Usage: ``python benchmarks/bench_explain.py [PROGRAM ...] [--runs N] [--warmup N]
[--no-hyperfine] [--json]`` (default program: /usr/bin/ssh, else /usr/bin/ls).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PROGRAMS = ("/usr/bin/ssh", "/usr/bin/ls")
LOADER = "/lib64/ld-linux-x86-64.so.2"
SCHEMA = "ldsim.bench_explain/1"


@dataclass(slots=True)
class Tool:
    """One command to time, or the reason it cannot be."""

    name: str
    argv: list[str] | None  # None when not available
    missing: str | None = None  # e.g. "not installed (apt-get install libtree)"


@dataclass(slots=True)
class Timing:
    tool: str
    command: str
    median: float | None = None
    minimum: float | None = None
    mean: float | None = None
    stddev: float | None = None
    runs: int = 0
    note: str | None = None  # "not installed (...)", "failed: ...", "in-process"
    times: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "command": self.command, "median_s": self.median,
                "min_s": self.minimum, "mean_s": self.mean, "stddev_s": self.stddev,
                "runs": self.runs, "note": self.note}


def _ldsim_argv() -> list[str]:
    """The installed console script beside this interpreter (not a pyenv shim), else -m."""
    beside = os.path.join(os.path.dirname(sys.executable), "ldsim")
    if os.access(beside, os.X_OK):
        return [beside]
    return [sys.executable, "-m", "ldsim"]


def tools_for(program: str) -> list[Tool]:
    """ldsim and its peers on ``program``; peers that are absent carry an install hint."""
    out = [Tool("ldsim", [*_ldsim_argv(), "explain", program])]
    lddtree = shutil.which("lddtree")
    # Debian's lddtree is a script for Debian's python3 (with python3-pyelftools); run it
    # with that interpreter, not whichever python3 comes first on PATH.
    system_python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
    argv = ([system_python, lddtree, program] if system_python else [lddtree, program]) \
        if lddtree else None
    out.append(Tool("lddtree (pax-utils)", argv) if argv else
               Tool("lddtree (pax-utils)", None, "not installed (apt-get install pax-utils)"))
    libtree = shutil.which("libtree")
    out.append(Tool("libtree", [libtree, program]) if libtree else
               Tool("libtree", None, "not installed (apt-get install libtree)"))
    if os.access(LOADER, os.X_OK):
        out.append(Tool("ld.so --list (trace)", [LOADER, "--list", program]))
    else:
        out.append(Tool("ld.so --list (trace)", None,
                        f"not installed ({LOADER} missing: apt-get install libc6)"))
    ldd = shutil.which("ldd")
    out.append(Tool("ldd (script)", [ldd, program]) if ldd else
               Tool("ldd (script)", None, "not installed (apt-get install libc-bin)"))
    return out


def _command(argv: Sequence[str]) -> str:
    return " ".join(argv)


def _check(tool: Tool) -> str | None:
    """Run the tool once; None if it produced output, else why it cannot be timed."""
    assert tool.argv is not None
    try:
        proc = subprocess.run(tool.argv, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"failed: {exc}"
    if not proc.stdout.strip():
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"failed (exit {proc.returncode}): {msg[0] if msg else 'no output'}"
    return None


def time_loop(tool: Tool, runs: int, warmup: int) -> Timing:
    """The fallback: ``runs`` runs timed with perf_counter (stdout to /dev/null)."""
    assert tool.argv is not None
    for _ in range(warmup):
        subprocess.run(tool.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, check=False)
    times: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(tool.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return _timing(tool.name, _command(tool.argv), times)


def _timing(name: str, command: str, times: list[float], note: str | None = None) -> Timing:
    return Timing(name, command, statistics.median(times), min(times), statistics.fmean(times),
                  statistics.stdev(times) if len(times) > 1 else 0.0, len(times), note, times)


def time_hyperfine(hyperfine: str, tools: list[Tool], runs: int, warmup: int) -> list[Timing]:
    """All available tools in one hyperfine run (no shell: ``-N``), read from its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        export = os.path.join(tmp, "hyperfine.json")
        cmd = [hyperfine, "-N", "-i", "--style", "basic", "--warmup", str(warmup),
               "--runs", str(runs), "--export-json", export]
        for tool in tools:
            assert tool.argv is not None
            cmd += ["-n", tool.name, _command(tool.argv)]
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:  # its warnings (outliers, cold caches) are not shown
            raise RuntimeError(f"hyperfine failed: {proc.stderr.decode('utf-8', 'replace')}")
        with open(export, encoding="utf-8") as fh:
            doc = json.load(fh)
    out: list[Timing] = []
    for tool, res in zip(tools, doc["results"], strict=True):
        assert tool.argv is not None
        times = [float(t) for t in res.get("times") or []]
        out.append(Timing(tool.name, _command(tool.argv), float(res["median"]), float(res["min"]),
                          float(res["mean"]), float(res.get("stddev") or 0.0), len(times),
                          None, times))
    return out


def time_in_process(program: str, runs: int, warmup: int) -> Timing:
    """ldsim's resolution alone, in this process: a freshly opened root every run."""
    import ldsim

    env = ldsim.host_env(cwd="/")

    def once() -> None:
        ldsim.render(ldsim.resolve(ldsim.open_root("/"), program, env), "text")

    for _ in range(warmup):
        once()
    times: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return _timing("ldsim (in-process resolve)", f"resolve({program!r}) + text render", times,
                   "in-process, no interpreter start-up")


def time_tools(tools: Sequence[Tool], runs: int, warmup: int, use_hyperfine: bool
               ) -> tuple[bool, dict[str, Timing]]:
    """Each tool that is installed and runs, timed (all in one ``hyperfine -N`` run when
    it is installed and wanted, else a ``perf_counter`` loop); the others with why not.
    Returns (whether hyperfine timed them, timings by tool name)."""
    timings: dict[str, Timing] = {}
    ready: list[Tool] = []
    for tool in tools:
        if tool.argv is None:
            timings[tool.name] = Timing(tool.name, "", note=tool.missing)
            continue
        problem = _check(tool)
        if problem is not None:
            timings[tool.name] = Timing(tool.name, _command(tool.argv), note=problem)
        else:
            ready.append(tool)
    hyperfine = shutil.which("hyperfine") if use_hyperfine else None
    if hyperfine and ready:
        for t in time_hyperfine(hyperfine, ready, runs, warmup):
            timings[t.tool] = t
    else:
        for tool in ready:
            timings[tool.name] = time_loop(tool, runs, warmup)
    return bool(hyperfine and ready), timings


def bench(program: str, runs: int, warmup: int, use_hyperfine: bool) -> tuple[str, list[Timing]]:
    """Every tool on ``program``; returns (method, timings) with ldsim first."""
    tools = tools_for(program)
    used_hyperfine, timings = time_tools(tools, runs, warmup, use_hyperfine)
    method = "hyperfine" if used_hyperfine else "perf_counter loop"
    ordered = [timings[t.name] for t in tools]
    try:
        ordered.insert(1, time_in_process(program, runs, warmup))
    except Exception as exc:  # the in-process row is informative; never fail the benchmark
        ordered.insert(1, Timing("ldsim (in-process resolve)", "", note=f"failed: {exc}"))
    return method, ordered


def format_table(program: str, method: str, timings: list[Timing]) -> str:
    base = timings[0].median if timings and timings[0].tool == "ldsim" else None
    rows = [("tool", "median s", "min s", "vs ldsim", "runs")]
    for t in timings:
        if t.median is None or t.minimum is None:
            rows.append((t.tool, t.note or "n/a", "", "", ""))
            continue
        rel = f"{t.median / base:.2f}x" if base else "n/a"
        rows.append((t.tool, f"{t.median:.4f}", f"{t.minimum:.4f}", rel, str(t.runs)))
    widths = [max(len(r[i]) for r in rows if r[2] or i == 0) for i in range(5)]
    lines = [f"{program}  (timed with {method}; 'vs ldsim' = median / ldsim's median)"]
    for r in rows:
        if not r[2] and r is not rows[0]:
            lines.append(f"  {r[0]:<{widths[0]}}  {r[1]}")
        else:
            lines.append("  " + "  ".join(
                f"{c:<{widths[i]}}" if i == 0 else f"{c:>{widths[i]}}" for i, c in enumerate(r)))
    return "\n".join(lines)


def default_programs() -> list[str]:
    for p in DEFAULT_PROGRAMS:
        if os.path.isfile(p):
            return [p]
    return [sys.executable]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Time `ldsim explain` beside lddtree, libtree, "
                                "ldd and the loader's own trace mode.")
    p.add_argument("programs", nargs="*", metavar="PROGRAM",
                   help="programs to resolve (default: /usr/bin/ssh, else /usr/bin/ls)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per tool (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--no-hyperfine", action="store_true",
                   help="use the perf_counter loop even if hyperfine is installed")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    args = p.parse_args(argv)
    if args.runs < 2 or args.warmup < 0:
        p.error("--runs must be at least 2 and --warmup at least 0")
    programs = args.programs or default_programs()
    for prog in programs:
        if not os.path.isfile(prog):
            p.error(f"{prog}: no such file")
    results: list[dict[str, Any]] = []
    for prog in programs:
        method, timings = bench(prog, args.runs, args.warmup, not args.no_hyperfine)
        results.append({"program": prog, "method": method,
                        "timings": [t.to_json() for t in timings]})
        if not args.json:
            print(format_table(prog, method, timings), flush=True)
            print()
    if args.json:
        print(json.dumps({"schema": SCHEMA, "cpus": os.cpu_count(), "results": results},
                         indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
