"""Run ldsim on hostile input under a memory cap and a time limit (issue: hostile input).

Every regression test for a hostile input runs ldsim in a child process with
``RLIMIT_AS`` (address space, default 1 GiB) and a wall-clock limit, and reads back its
exit status, output, elapsed time and peak resident memory. A child that hits the memory
cap dies with ``MemoryError`` (exit 3, "internal error") or is killed; a child that runs past
the time limit is killed and reported as ``timed_out``. Nothing here runs the input.

    r = run_capped(["explain", "--root", root, "/bin/app"])
    assert r.ok_status and not r.timed_out and r.seconds < 2

``run_python`` runs a snippet instead of the CLI (for a parser on its own).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
GiB = 1 << 30
# Python itself, pyelftools and networkx take about 150 MB of address space before any input.
DEFAULT_MEMORY = GiB
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Capped:
    """What one capped run did."""

    argv: tuple[str, ...]
    returncode: int  # negative: killed by that signal
    stdout: bytes
    stderr: bytes
    seconds: float
    max_rss_kib: int  # the child's peak resident set (getrusage ru_maxrss)
    timed_out: bool

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @property
    def ok_status(self) -> bool:
        """Exit 0, 1 or 2: an answer or one clear error; never 3 (a bug), a signal or a hang."""
        return not self.timed_out and self.returncode in (0, 1, 2)

    def describe(self) -> str:
        return (f"{' '.join(self.argv)[:300]}: exit {self.returncode}, {self.seconds:.2f} s, "
                f"{self.max_rss_kib // 1024} MiB peak"
                f"{', TIMED OUT' if self.timed_out else ''}\nstderr: {self.err[-2000:]}")


# The child's own peak: VmHWM of its address space, written when it exits. (wait4's
# ru_maxrss is no use here: Linux carries the parent's peak over fork and exec, so a child of
# a large pytest process would report pytest's size.)
_BOOT = """import atexit as _a, os as _o
def _hwm(path=_o.environ.pop("LDSIM_HWM_FILE", "")):
    try:
        with open("/proc/self/status") as f:
            kib = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
        with open(path, "w") as f:
            f.write(str(kib))
    except Exception:
        pass
_a.register(_hwm)
"""
_LDSIM = ("import runpy, sys\nsys.argv = ['ldsim', *sys.argv[1:]]\n"
          "runpy.run_module('ldsim', run_name='__main__', alter_sys=True)\n")


def _limit(memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run(argv: Sequence[str], memory: int, timeout: float, env: dict[str, str] | None,
         stdin: bytes | None = None, cwd: str | Path | None = None,
         shown: Sequence[str] | None = None) -> Capped:
    start = time.monotonic()
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONPATH", str(REPO))
    hwm_fd, hwm_file = tempfile.mkstemp(prefix="ldsim-hwm-")
    os.close(hwm_fd)
    child_env["LDSIM_HWM_FILE"] = hwm_file
    try:
        r = _spawn(argv, memory, timeout, child_env, stdin, cwd, start)
        try:
            peak = int(Path(hwm_file).read_text() or 0)
        except ValueError:
            peak = 0
    finally:
        os.unlink(hwm_file)
    return Capped(tuple(shown or argv), r[0], r[1], r[2], time.monotonic() - start,
                  peak or r[3], r[4])


def _spawn(argv: Sequence[str], memory: int, timeout: float, child_env: dict[str, str],
           stdin: bytes | None, cwd: str | Path | None,
           start: float) -> tuple[int, bytes, bytes, int, bool]:
    proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=lambda: _limit(memory),
                            env=child_env, cwd=str(cwd or REPO))
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: IO[bytes]) -> None:
        chunks[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n, s), daemon=True)
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in readers:
        t.start()
    assert proc.stdin is not None
    try:
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    timed_out = False
    status, usage = 0, None
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            timed_out = True
            break
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    return (proc.returncode, chunks.get("out", b""), chunks.get("err", b""),
            usage.ru_maxrss if usage else 0, timed_out)


def run_capped(args: Sequence[str], *, memory: int = DEFAULT_MEMORY,
               timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None,
               stdin: bytes | None = None, cwd: str | Path | None = None) -> Capped:
    """``python -m ldsim ARGS`` under the caps."""
    words = list(map(str, args))
    return _run([sys.executable, "-c", _BOOT + _LDSIM, *words], memory, timeout, env, stdin,
                cwd, shown=[sys.executable, "-m", "ldsim", *words])


def run_python(code: str, *, memory: int = DEFAULT_MEMORY, timeout: float = DEFAULT_TIMEOUT,
               env: dict[str, str] | None = None) -> Capped:
    """``python -c CODE`` under the caps (``ldsim`` importable)."""
    return _run([sys.executable, "-c", _BOOT + code], memory, timeout, env,
                shown=[sys.executable, "-c", code])


__all__ = ["REPO", "Capped", "GiB", "run_capped", "run_python"]
