"""C++ symbol names for people: Itanium C++ ABI names (``_ZdaPv``) demangled
(``operator delete[](void*)``) by this machine's own libstdc++ (``__cxa_demangle``).

Symbol names come from the files ldsim reads, and a demangler is a parser of hostile input
whose output can grow exponentially with the name: each back-reference (``S0_``, ``T_``) may
stand for a type that itself holds back-references, so a name of 187 characters demangles
to 7 MB (``_Z1fP1APFvS0_S0_EPFvS2_S2_E...``: every ``PFvSn_Sn_E`` doubles it), and one of 331
kept libstdc++ 12's ``__cxa_demangle`` busy for more than 5 seconds of CPU time, without
growing, until it was killed. A length bound alone does not bound the work, and a call into
C cannot be interrupted. So the demangler never runs in ldsim's
own process: a small child (``python -I -S``, this machine's libstdc++ loaded once by
``ctypes``, every returned buffer freed with libc's ``free``) demangles a batch of names,
with a CPU timer per name, limits on its memory and total CPU time and no core file, and a
wall-clock deadline for the batch. A name that times out or fails stays mangled; so does
every name when no child can be started or libstdc++ cannot be loaded (remembered for the
rest of the process). Only names that look mangled (``_Z`` and ``[A-Za-z0-9_.$]``, at most
:data:`LIMIT` characters) are ever sent, so nothing else of the input reaches the child.

A symbol version stays as it is: ``_ZdaPv@GLIBCXX_3.4`` → ``operator delete[](void*)@GLIBCXX_3.4``.
The result is plain ASCII, but a renderer still shows it through :func:`ldsim.safetext.shown`
like every string derived from the input.
"""

from __future__ import annotations

import _thread
import re
import sys
import time
from collections.abc import Iterable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ldsim.analysis.abi import Finding

LIMIT = 4096
"""Longest mangled name (characters, before any ``@version``) that is demangled at all."""
OUTPUT_LIMIT = 16384
"""Longest demangled name kept; a longer one stays mangled (it would not be read anyway)."""
NAME_SECONDS = 0.5
"""CPU time one name may take in the child (real names take microseconds)."""
BATCH_SECONDS = 5.0
"""Wall-clock time all the children of one call may take together."""
MEMORY = 256 << 20
"""The child's data segment limit (RLIMIT_DATA); the demangler's allocations fail beyond it."""
LIBSTDCXX = "libstdc++.so.6"

_MANGLED = re.compile(r"_Z[A-Za-z0-9_.$]+")

# The child: says "ready" once libstdc++ is loaded, reads names (one a line) on stdin and
# answers one line each ("+NAME" or "-"), each written at once, so that what was done before
# a name that kills it is not lost.
_CHILD = r"""
import ctypes, os, resource, signal, sys
name_seconds, memory, out_limit, cpu = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def limit(which, value):
    hard = resource.getrlimit(which)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))
limit(resource.RLIMIT_CORE, 0)
limit(resource.RLIMIT_DATA, memory)
limit(resource.RLIMIT_CPU, cpu)
signal.signal(signal.SIGPROF, signal.SIG_DFL)
try:
    lib = ctypes.CDLL(sys.argv[5])
    libc = ctypes.CDLL("libc.so.6")
    demangle = lib.__cxa_demangle
except (OSError, AttributeError):
    sys.exit(3)
os.write(1, b"ready\n")
demangle.restype = ctypes.c_void_p
demangle.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                     ctypes.POINTER(ctypes.c_int)]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]
names = sys.stdin.buffer.read().split(b"\n")
for name in names[:-1]:
    status = ctypes.c_int(0)
    signal.setitimer(signal.ITIMER_PROF, name_seconds)
    buf = demangle(name, None, None, ctypes.byref(status))
    signal.setitimer(signal.ITIMER_PROF, 0)
    answer = b"-"
    if buf:
        try:
            text = ctypes.string_at(buf)
        finally:
            libc.free(buf)
        if status.value == 0 and 0 < len(text) <= out_limit and text.isascii() \
                and b"\n" not in text:
            answer = b"+" + text
    os.write(1, answer + b"\n")
"""

_lock = _thread.allocate_lock()  # (threading's Lock: without its import)
_cache: dict[str, str] = {}
_cache_chars = 0
_CACHE_CHARS = 8 << 20
_unavailable = False


def _split(symbol: str) -> tuple[str, str]:
    """``_ZdaPv@@GLIBCXX_3.4`` → (``_ZdaPv``, ``@@GLIBCXX_3.4``)."""
    at = symbol.find("@")
    return (symbol, "") if at < 0 else (symbol[:at], symbol[at:])


def is_mangled(name: str) -> bool:
    """Whether ``name`` (without a version) is a candidate: an Itanium C++ ABI name of at
    most :data:`LIMIT` plain characters."""
    return len(name) <= LIMIT and _MANGLED.fullmatch(name) is not None


def _remember(name: str, text: str) -> None:
    global _cache_chars
    if _cache_chars > _CACHE_CHARS:
        _cache.clear()
        _cache_chars = 0
    _cache[name] = text
    _cache_chars += len(name) + len(text)


def _run_child(names: list[str], deadline: float) -> tuple[list[str | None], bool]:
    """Demangle ``names`` in one child: the answers it gave (None: failed), in order, and
    whether it started (libstdc++ loaded). Fewer answers than names: it died (or ran out of
    time) on the next one."""
    argv = [sys.executable, "-I", "-S", "-c", _CHILD, str(NAME_SECONDS), str(MEMORY),
            str(OUTPUT_LIMIT), str(int(BATCH_SECONDS) + 1), LIBSTDCXX]
    data = "".join(f"{n}\n" for n in names).encode("ascii")
    import subprocess  # (2 ms of imports: only when there is a C++ name to demangle)

    try:
        proc = subprocess.run(argv, input=data, capture_output=True, check=False,
                              timeout=max(deadline - time.monotonic(), 0.001))
        out = proc.stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
    except (OSError, ValueError):
        return [], False
    lines = out.split(b"\n")[:-1]  # a last line without its newline was cut off
    if not lines or lines[0] != b"ready":
        return [], False
    return [line[1:].decode("ascii") if line.startswith(b"+") else None
            for line in lines[1:len(names) + 1]], True


def _demangle_batch(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """The names demangled in children, and the names tried (demangled, failed, or killing
    their child: that one is skipped and the next child goes on after it), until the
    batch's deadline. Names not tried are not failures: another call may try them again."""
    global _unavailable
    done: dict[str, str] = {}
    deadline = time.monotonic() + BATCH_SECONDS
    todo, tried = names, 0
    while todo and time.monotonic() < deadline:
        answers, started = _run_child(todo, deadline)
        if not started:
            # no child, or no libstdc++ in it: remembered (unless time simply ran out)
            _unavailable = time.monotonic() < deadline
            break
        for name, answer in zip(todo, answers, strict=False):
            if answer is not None:
                done[name] = answer
        step = len(answers) + 1 if time.monotonic() < deadline else len(answers)
        tried += step
        todo = todo[step:]
    return done, names[:tried]


def demangle_all(symbols: Iterable[str]) -> dict[str, str]:
    """Every symbol (``NAME`` or ``NAME@VERSION``) mapped to its demangled form; a name that
    is not mangled, or cannot be demangled, maps to itself. One child process does the
    batch (none when every name is plain C or already known)."""
    wanted = dict.fromkeys(symbols)
    with _lock:
        known: dict[str, str] = {}
        todo: list[str] = []
        for name in sorted({_split(symbol)[0] for symbol in wanted}):
            if not is_mangled(name):
                continue
            hit = _cache.get(name)
            if hit is None:
                todo.append(name)
            else:
                known[name] = hit
        if todo and not _unavailable and sys.executable:
            found, tried = _demangle_batch(todo)
            for name in tried:
                _remember(name, found.get(name, name))
            known.update(found)
    out: dict[str, str] = {}
    for symbol in wanted:
        name, version = _split(symbol)
        out[symbol] = known.get(name, name) + version
    return out


def demangle(symbol: str) -> str:
    """``symbol`` demangled (``_ZdaPv`` → ``operator delete[](void*)``, a version kept:
    ``_ZdaPv@GLIBCXX_3.4`` → ``operator delete[](void*)@GLIBCXX_3.4``), or unchanged when it
    is not an Itanium C++ ABI name, is longer than :data:`LIMIT`, or cannot be demangled
    (see the module's docstring for how hostile names are handled). For many names,
    :func:`demangle_all` does one batch."""
    return demangle_all([symbol])[symbol]




_SYMBOL_CHAR = "A-Za-z0-9_.$"


def finding_symbol(f: Finding) -> str:
    """The symbol a finding's ``detail`` names, without its version (``_ZdaPv`` of
    ``_ZdaPv@GLIBCXX_3.4``); only a mangled C++ name ever demangles to something else."""
    return f.detail.split("@", 1)[0]


def demangled_detail(f: Finding, names: dict[str, str]) -> str:
    name = finding_symbol(f)
    return names.get(name, name) + f.detail[len(name):]


def demangled_message(f: Finding, names: dict[str, str]) -> str:
    """The message with the mangled name it quotes replaced by the demangled one: the
    first occurrence after the object's path (every symbol message starts ``OBJECT: ``),
    as a whole word."""
    mangled = finding_symbol(f)
    plain = names.get(mangled, mangled)
    if plain == mangled:
        return f.message
    start = len(f.object) + 2 if f.message.startswith(f"{f.object}: ") else 0
    word = re.compile(rf"(?<![{_SYMBOL_CHAR}]){re.escape(mangled)}(?![{_SYMBOL_CHAR}])")
    m = word.search(f.message, start)
    if m is None:
        return f.message
    return f.message[:m.start()] + plain + f.message[m.end():]


__all__ = ["LIMIT", "OUTPUT_LIMIT", "demangle", "demangle_all", "demangled_detail",
           "demangled_message", "finding_symbol", "is_mangled"]
