"""Build tiny musl root filesystems and ask the real musl loader what it does in them.

This is the oracle of ldsim's musl model (``docs/loader-model.md``, musl). It is
self-contained on purpose: it shares no code with
``glibcroot`` (whose API may still move), only the conventions.

Building
    :class:`MuslRoot` lays out a chroot-able directory that looks like a Debian system with the
    ``musl`` package: the host's musl ``libc.so`` copied to ``/lib/ld-musl-x86_64.so.1`` (the
    loader *is* musl's libc), Debian's ``/etc/ld-musl-x86_64.path``
    (``/lib/x86_64-linux-musl`` + ``/usr/lib/x86_64-linux-musl``, pass ``path_file=None`` for a
    root without it) and an empty ``/proc``. Nothing else: no glibc, no shell. Its helpers
    mirror the recipe's ``mmklib``/``mmkexe``/``addneeded``/``retag`` and take paths *inside* the
    root (``/m1/A/libx.so``). The only non-musl file is the static launcher ``/.oracle/env``.

Asking the real loader (:func:`run_real_musl`)
    ``unshare --mount --mount-proc=ROOT/proc chroot ROOT /.oracle/env CWD [VAR=VALUE...] --
    LOADER --list EXE``

    * ``unshare`` gives the run its own mount namespace with a private ``/proc`` inside the root
      (nothing leaks to the host's mount table); ``chroot`` makes every path the loader opens a
      path of the root, so its output can be compared with ldsim's verbatim.
    * ``/.oracle/env`` is a tiny *static* musl program (:data:`LAUNCHER_C`, no PT_INTERP, so it
      does not involve the loader under test): it clears the environment, sets exactly the
      scenario's variables, changes to CWD and execs the loader. The variables are set only
      inside the chroot: ``LD_PRELOAD``/``LD_LIBRARY_PATH`` given to ``unshare``/``chroot``
      would be acted on by the host's glibc loader for those host programs.
    * ``LOADER --list EXE`` is musl's "ldd mode": the loader maps every dependency, prints one
      line per object and exits without running anything. The program is given to the loader
      by path, so its ``$ORIGIN`` is the directory of the path *as given* (not made absolute),
      which is what ``ldsim --invocation ldd`` models.
    * stdout and stderr go to one pipe: musl writes both unbuffered (``dprintf``), so the
      ``Error loading shared library`` lines keep their place among the listing lines, exactly
      as in the recipe's expected blocks.

    Output grammar (musl 1.2.3, ``ldso/dynlink.c``): first ``\\tLOADER (0xADDR)`` (the program's
    PT_INTERP string), then ``\\tNAME => PATH (0xADDR)`` for every newly loaded object and for
    the first request of each name musl implements itself (``libc.so => LOADER``), and
    ``Error loading shared library NAME: REASON (needed by OBJ)`` for each failed dependency;
    exit status 127 when anything failed, else 0.

Comparing with ldsim
    :func:`run_ldsim` runs ``python -m ldsim explain --json --root ROOT --invocation ldd
    --cwd CWD [--ld-library-path V] [--preload V] EXE``; :func:`compare` asserts that ldsim's
    ``listing``, ``unresolved``, ``objects`` and exit status agree with the real run (and with the
    ``via`` each scenario implies), printing both side by side when they do not. :func:`check`
    does all of it, after :func:`expect` has checked the real output against the recipe's
    expected block (so that a fixture mistake is not blamed on ldsim).
"""

from __future__ import annotations

import atexit
import functools
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import glibcroot

# --------------------------------------------------------------------------------------------
# Constants

MUSL_LDSO: Final = "/lib/ld-musl-x86_64.so.1"
"""The PT_INTERP of every program musl-gcc builds here (and where the root has the loader)."""
MUSL_VERSION: Final = "1.2.3"
"""The musl version the recipe's expected outputs were recorded with."""
HOST_MUSL_LIBC_CANDIDATES: Final = (
    "/usr/lib/x86_64-linux-musl/libc.so",
    "/lib/x86_64-linux-musl/libc.so",
)
"""Where Debian's ``musl`` package puts musl's libc (= the dynamic loader)."""
PATH_FILE: Final = "/etc/ld-musl-x86_64.path"
DEBIAN_PATH_FILE_TEXT: Final = "/lib/x86_64-linux-musl\n/usr/lib/x86_64-linux-musl\n"
"""What Debian 12's ``ld-musl-config`` writes to :data:`PATH_FILE`."""
DT_NEEDED, DT_RPATH, DT_RUNPATH = glibcroot.DT_NEEDED, glibcroot.DT_RPATH, glibcroot.DT_RUNPATH

VIAS: Final = frozenset({"ld_library_path", "rpath", "runpath", "default", "direct", "preload"})
"""ldsim ``objects[*].via`` values a loaded (non-interpreter) object may have under musl."""

REPO: Final = Path(__file__).resolve().parent.parent
"""The ldsim checkout that holds this file (``python -m ldsim`` runs from here)."""

_SANE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIMEOUT: Final = 60.0
_REQUIRED_TOOLS: Final = ("musl-gcc", "patchelf", "unshare", "chroot", "as", "ld")
LAUNCHER: Final = "/.oracle/env"


class SpecMismatch(AssertionError):
    """The real musl loader did not print the recipe's expected output (a fixture problem, or the
    recipe does not reproduce here)."""


class LdsimDisagrees(AssertionError):
    """ldsim's musl model disagrees with the real musl loader."""


# --------------------------------------------------------------------------------------------
# Environment checks


def _host_env() -> dict[str, str]:
    """A clean environment for host tools (no LD_* leaking in from the test runner)."""
    return {"PATH": _SANE_PATH, "LC_ALL": "C"}


def _which(tool: str) -> str | None:
    return shutil.which(tool, path=_SANE_PATH)


@functools.cache
def host_musl_libc() -> str | None:
    """The host's musl ``libc.so`` (the loader), or ``None``."""
    return next((p for p in HOST_MUSL_LIBC_CANDIDATES if os.path.isfile(p)), None)


@functools.cache
def unavailable_reason() -> str | None:
    """Why the musl oracle cannot run on this machine, or ``None`` when it can."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "the musl oracle needs Linux on x86_64"
    if os.geteuid() != 0:
        return "the musl oracle needs root (chroot, mount namespaces)"
    missing = [tool for tool in _REQUIRED_TOOLS if _which(tool) is None]
    if missing:
        return (
            f"the musl oracle needs these tools: {', '.join(missing)} (apt-get install musl-tools)"
        )
    libc = host_musl_libc()
    if libc is None:
        return f"the musl oracle needs musl's libc.so at one of {HOST_MUSL_LIBC_CANDIDATES}"
    banner = subprocess.run(
        [libc], capture_output=True, text=True, env=_host_env(), timeout=_TIMEOUT, check=False
    )
    version = re.search(r"^Version (\S+)", banner.stdout + banner.stderr, re.MULTILINE)
    if version is None or version.group(1) != MUSL_VERSION:
        found = version.group(1) if version else "unknown"
        return f"the recipe's musl outputs were recorded with musl {MUSL_VERSION}, this is {found}"
    probe = subprocess.run(
        [_which("unshare") or "unshare", "--mount", "true"],
        capture_output=True,
        text=True,
        env=_host_env(),
        timeout=_TIMEOUT,
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --mount does not work here: {probe.stderr.strip()}"
    return None


def _run(argv: Sequence[str | os.PathLike[str]]) -> subprocess.CompletedProcess[str]:
    """Run a host build tool; fail with its output when it fails."""
    proc = subprocess.run(
        [os.fspath(a) for a in argv],
        capture_output=True,
        text=True,
        env=_host_env(),
        timeout=_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        cmd = shlex.join(os.fspath(a) for a in argv)
        raise RuntimeError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


LAUNCHER_C: Final = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* env CWD [VAR=VALUE...] -- PROGRAM [ARGS...]: exactly these variables, cwd CWD, exec. */
int main(int argc, char **argv) {
    static char *envp[256];
    int n = 0, i = 2;
    if (argc < 2) return 125;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (n == 255) { fputs("env: too many variables\n", stderr); return 125; }
        envp[n++] = argv[i];
    }
    envp[n] = 0;
    if (i + 1 >= argc) { fputs("env: no program\n", stderr); return 125; }
    if (chdir(argv[1]) != 0) { perror(argv[1]); return 125; }
    execve(argv[i + 1], argv + i + 1, envp);
    perror(argv[i + 1]);
    return 126;
}
"""
"""Source of :data:`LAUNCHER` (compiled once per session with ``musl-gcc -static``)."""


@functools.cache
def launcher_binary() -> Path:
    """:data:`LAUNCHER` on the host, built once per session from :data:`LAUNCHER_C` (a static
    x86-64 program: ``crossroot`` puts it in foreign roots too)."""
    work = Path(tempfile.mkdtemp(prefix="muslroot-launcher-"))
    atexit.register(shutil.rmtree, work, True)
    src = work / "env.c"
    src.write_text(LAUNCHER_C)
    out = work / "env"
    _run(["musl-gcc", "-static", "-O2", "-o", out, src])
    return out


# --------------------------------------------------------------------------------------------
# The root builder


class MuslRoot(glibcroot.Root):
    """A temporary musl root file system; every ``guest`` argument is a path inside it.

    The file and ELF-patching helpers are glibcroot's; this adds the musl loader, the path
    file, the static launcher, and ``musl-gcc`` builds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        path_file: str | None = DEBIAN_PATH_FILE_TEXT,
    ) -> None:
        """``path_file``: the content of ``/etc/ld-musl-x86_64.path`` (``None``: no file, so
        the loader falls back to its built-in ``/lib:/usr/local/lib:/usr/lib``)."""
        super().__init__(path, base=False)
        self.mkdir("/lib", "/usr/lib", "/etc", "/proc", "/bin", os.path.dirname(LAUNCHER))
        self.install_loader(MUSL_LDSO)
        shutil.copy2(launcher_binary(), self.host(LAUNCHER))
        if path_file is not None:
            self.mkdir("/lib/x86_64-linux-musl", "/usr/lib/x86_64-linux-musl")
            self.write(PATH_FILE, path_file)

    def __repr__(self) -> str:
        return f"MuslRoot({str(self.path)!r})"

    def install_loader(self, guest: str) -> None:
        """Copy musl's ``libc.so`` (the dynamic loader, :meth:`loader_file`) to ``guest``."""
        libc = self.loader_file()
        target = self.host(guest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(libc, target)
        target.chmod(0o755)

    def loader_file(self) -> str | os.PathLike[str]:
        """The host file of the root's loader: the host's musl ``libc.so``."""
        libc = host_musl_libc()
        if libc is None:
            raise RuntimeError("no musl libc.so on this host")
        return libc

    # -- compiling -----------------------------------------------------------------------------

    @staticmethod
    def _path_args(rpath: str | None, runpath: str | None) -> list[str]:
        args: list[str] = []
        if rpath is not None:
            args += ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
        if runpath is not None:
            args += ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
        return args

    def _musl_gcc(self, guest_out: str, source: str, args: Sequence[str]) -> None:
        out = self.host(guest_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        _run(["musl-gcc", "-o", out, self._source(source), *args])

    def mmklib(
        self,
        guest_out: str,
        soname: str | None,
        *gcc_args: str,
        needed: Sequence[str] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        source: str | None = None,
    ) -> None:
        """The recipe's ``mmklib OUT SONAME [args]``: a musl shared library defining
        ``f_<basename>`` (or built from ``source``), DT_NEEDED ``[*needed, libc.so]``."""
        if source is None:
            sym = re.sub(r"[^a-zA-Z0-9]", "_", os.path.basename(guest_out))
            source = f"int f_{sym}(void){{return 1;}}\n"
        args = ["-shared", "-fPIC"]
        if soname:
            args.append(f"-Wl,-soname,{soname}")
        args += ["-Wl,--no-as-needed", *gcc_args, *self._path_args(rpath, runpath)]
        self._musl_gcc(guest_out, source, args)
        if needed:
            self.addneeded(guest_out, *needed)

    def mmkexe(
        self,
        guest_out: str,
        *gcc_args: str,
        needed: Sequence[str] = (),
        rpath: str | None = None,
        runpath: str | None = None,
    ) -> None:
        """The recipe's ``mmkexe OUT [args]``: a musl program, DT_NEEDED ``[*needed, libc.so]``."""
        args = ["-Wl,--no-as-needed", *gcc_args, *self._path_args(rpath, runpath)]
        self._musl_gcc(guest_out, "int main(void){return 0;}\n", args)
        if needed:
            self.addneeded(guest_out, *needed)


# --------------------------------------------------------------------------------------------
# The real loader

_ADDR_RE: Final = re.compile(r" \(0x[0-9a-f]+\)$")
_LIST_RE: Final = re.compile(r"^\t(?P<name>.+?)(?: => (?P<path>.+))?$")
_ERROR_RE: Final = re.compile(
    r"^Error loading shared library (?P<name>.+?): (?P<reason>.+) \(needed by (?P<by>.*)\)$"
)


@dataclass(frozen=True)
class Failure:
    """One ``Error loading shared library NAME: REASON (needed by OBJ)`` line."""

    name: str
    reason: str
    needed_by: str

    def line(self) -> str:
        return (
            f"Error loading shared library {self.name}: {self.reason} (needed by {self.needed_by})"
        )


@dataclass
class MuslRun:
    """One ``LOADER --list EXE`` run inside a root, parsed."""

    exe: str
    cwd: str
    env: dict[str, str]
    ldso: str
    argv: list[str]
    status: int
    output: str
    """stdout and stderr, merged in the order the loader wrote them."""
    transcript: list[str] = field(default_factory=list)
    """The output lines without load addresses and leading tabs (the recipe's notation)."""
    listing: list[tuple[str, str]] = field(default_factory=list)
    """``(name, path)`` per listing line; the first one is ``(interp, interp)``."""
    failures: list[Failure] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    """Lines that are neither listing lines nor load errors (should be none)."""

    @property
    def interp(self) -> str | None:
        return self.listing[0][0] if self.listing else None

    def describe(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        cmd = shlex.join([self.ldso, "--list", self.exe])
        return f"(chroot) cd {self.cwd} && {env + ' ' if env else ''}{cmd}  [rc={self.status}]"


def run_real_musl(
    root: MuslRoot | str | os.PathLike[str],
    exe: str,
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
    ldso: str = MUSL_LDSO,
    user: str | None = None,
) -> MuslRun:
    """Run ``ldso --list exe`` inside a chroot of ``root`` (cwd ``cwd``, environment exactly
    ``env``, as ``user`` UID:GID if given) and parse its output (see the module docstring)."""
    variables = dict(env or {})
    argv = launcher_argv(root, [ldso, "--list", exe], cwd=cwd, env=variables, user=user)
    return run_listing(argv, exe=exe, cwd=cwd, env=variables, ldso=ldso)


def launcher_argv(
    root: glibcroot.Root | str | os.PathLike[str],
    argv: Sequence[str],
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> list[str]:
    """The host command that runs ``argv`` in a chroot of ``root`` (private /proc) through
    :data:`LAUNCHER`: exactly the variables ``env``, working directory ``cwd``, as ``user``
    (``chroot --userspec``) if given."""
    root_path = Path(root).absolute()
    return [
        _which("unshare") or "unshare",
        "--mount",
        f"--mount-proc={root_path / 'proc'}",
        _which("chroot") or "chroot",
        *([f"--userspec={user}"] if user else []),
        str(root_path),
        LAUNCHER,
        cwd,
        *(f"{k}={v}" for k, v in (env or {}).items()),
        "--",
        *argv,
    ]


def run_listing(
    argv: list[str],
    *,
    exe: str,
    cwd: str,
    env: dict[str, str],
    ldso: str,
    timeout: float = _TIMEOUT,
) -> MuslRun:
    """Run ``argv``, a host command that starts musl's ``ldso --list exe`` in a root (as
    :func:`run_real_musl` builds it, or under qemu: ``crossroot``), stdout and stderr merged,
    and parse its output into a :class:`MuslRun` recording the question (``cwd``, ``env``)."""
    proc = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="surrogateescape",
        env=_host_env(),
        timeout=timeout,
        check=False,
    )
    run = MuslRun(exe, cwd, env, ldso, argv, proc.returncode, proc.stdout)
    for raw in proc.stdout.splitlines():
        line = _ADDR_RE.sub("", raw)
        if m := _ERROR_RE.match(line):
            failure = Failure(m["name"], m["reason"], m["by"])
            run.failures.append(failure)
            run.transcript.append(failure.line())
        elif m := _LIST_RE.match(line):
            name = m["name"]
            path = m["path"] if m["path"] is not None else name
            run.listing.append((name, path))
            run.transcript.append(line[1:])
        elif line.strip():
            run.other.append(line)
            run.transcript.append(line)
    run.transcript.append(f"[rc={run.status}]")
    return run


# --------------------------------------------------------------------------------------------
# Expected blocks (the recipe's notation)


@dataclass(frozen=True)
class Expected:
    """A recipe-style expected block, parsed.

    One output line per non-blank line, leading whitespace ignored, the last line ``[rc=N]``.
    A listing line ``NAME => PATH`` of a newly loaded object must end in ``  # VIA`` (the ldsim
    ``via`` the scenario implies); lines that map to the interpreter need none.
    """

    lines: list[str]
    vias: list[tuple[str, str, str]]
    """``(name, path, via)`` for every annotated listing line, in order."""

    @classmethod
    def parse(cls, text: str) -> Expected:
        lines: list[str] = []
        vias: list[tuple[str, str, str]] = []
        interp: str | None = None
        for raw in text.strip("\n").splitlines():
            body, _, via = raw.strip().partition("  # ")
            body = body.rstrip()
            if not body:
                continue
            lines.append(body)
            if body.startswith(("Error loading shared library ", "[rc=")):
                continue
            name, _, path = body.partition(" => ")
            if interp is None:
                interp = name
                continue
            path = path or name
            if via:
                vias.append((name, path, via.strip()))
            elif path != interp:
                raise ValueError(f"expected block: no '  # VIA' on the loaded object {body!r}")
        if not lines or not re.fullmatch(r"\[rc=\d+\]", lines[-1]):
            raise ValueError("expected block must end with [rc=N]")
        return cls(lines, vias)


def expect(real: MuslRun, expected: Expected) -> None:
    """Assert that the real loader printed the recipe's expected block (addresses stripped)."""
    if real.transcript != expected.lines:
        raise SpecMismatch(
            "the real musl loader does not print the recipe's expected output (fixture mistake, "
            f"or the recipe does not reproduce)\n$ {real.describe()}\n"
            + _side_by_side(expected.lines, real.transcript, "recipe (expected)", "real musl loader")
        )


# --------------------------------------------------------------------------------------------
# ldsim


class LdsimResult(glibcroot.LdsimResult):
    """glibcroot's result, plus the musl listing and musl's failure lines."""

    @property
    def listing(self) -> list[tuple[str, str]]:
        if not self.doc:
            return []
        return [(str(e.get("name")), str(e.get("path"))) for e in self.doc.get("listing") or []]

    @property
    def failures(self) -> list[Failure]:
        if not self.doc:
            return []
        return [
            Failure(str(u.get("name")), str(u.get("reason")), str(u.get("needed_by")))
            for u in self.doc.get("unresolved") or []
        ]


def run_ldsim(
    root: MuslRoot | str | os.PathLike[str],
    exe: str,
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> LdsimResult:
    """``python -m ldsim explain --json --root ROOT --invocation ldd --cwd CWD [...] EXE``
    (``--user USER`` if given)."""
    args = ["--invocation", "ldd", "--cwd", cwd, *(["--user", user] if user else [])]
    for key, value in (env or {}).items():
        if key == "LD_LIBRARY_PATH":
            args += ["--ld-library-path", value]
        elif key == "LD_PRELOAD":
            args += ["--preload", value]
        else:
            raise ValueError(f"no ldsim option models the environment variable {key}")
    r = glibcroot.run_ldsim(root, exe, *args)
    return LdsimResult(r.argv, r.status, r.stdout, r.stderr, r.doc)


def _side_by_side(
    left: list[str], right: list[str], left_title: str, right_title: str, width: int = 62
) -> str:
    rows = [f"   {left_title:<{width}} | {right_title}"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        mark = "   " if a == b else "!! "
        rows.append(f"{mark}{a:<{width}} | {b}")
    return "\n".join(rows)


def _listing_line(name: str, path: str, interp: str | None) -> str:
    return name if name == interp and path == interp else f"{name} => {path}"


def _outcome(failed: bool) -> str:
    return "[something failed]" if failed else "[everything loaded]"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines()) if text.strip() else "  (nothing)"


def compare(real: MuslRun, sim: LdsimResult, vias: Sequence[tuple[str, str, str]] = ()) -> None:
    """Assert that ldsim agrees with the real musl loader on ``real``'s question.

    Compared: ``loader`` is ``musl`` and ``interpreter`` is the real first line; ``listing``
    equals the real listing lines in order (interpreter first); ``unresolved`` equals the real
    ``Error loading shared library`` lines in order (name, reason, needed_by); ``objects[0]`` is
    the executable, ``objects[1]`` the interpreter, and ``objects[2:]`` are the newly loaded
    objects (the real listing lines whose path is not the interpreter) with a musl ``via``,
    which must also match ``vias`` (``(name, path, via)`` the scenario implies); ldsim's exit
    status is 1 exactly when the real one is 127 (0 when it is 0).
    """
    header = f"$ {real.describe()}\n$ {shlex.join(sim.argv)}  [rc={sim.status}]"
    if sim.doc is None:
        raise LdsimDisagrees(
            f"ldsim did not print a JSON object\n{header}\n-- stdout:\n{_indent(sim.stdout)}\n"
            f"-- stderr:\n{_indent(sim.stderr)}"
        )
    doc = sim.doc
    interp = real.interp
    problems: list[str] = []
    if real.other:
        problems.append(f"unexpected real output lines {real.other!r}")
    if doc.get("loader") != "musl":
        problems.append(f"loader is {doc.get('loader')!r}, not 'musl'")
    if doc.get("interpreter") != interp:
        problems.append(f"interpreter {doc.get('interpreter')!r}, real {interp!r}")
    if sim.listing != real.listing:
        problems.append("listing differs")
    if sim.failures != real.failures:
        problems.append("unresolved (load errors) differ")

    objects = sim.objects
    if not objects or objects[0].get("via") != "executable":
        problems.append("objects[0] is not the executable")
    if len(objects) < 2 or (objects[1].get("via"), objects[1].get("path")) != (
        "interpreter",
        interp,
    ):
        problems.append(f"objects[1] is not the interpreter {interp}")
    loaded = [(str(o.get("name")), str(o.get("path")), str(o.get("via"))) for o in objects[2:]]
    real_loaded = [(n, p) for n, p in real.listing[1:] if p != interp]
    if [(n, p) for n, p, _v in loaded] != real_loaded:
        problems.append("loaded objects (objects[2:]) differ from the real new-object lines")
    bad_vias = [f"{n}: {v}" for n, _p, v in loaded if v not in VIAS]
    if bad_vias:
        problems.append(f"vias outside {sorted(VIAS)}: {bad_vias}")
    sim_vias = {(n, p): v for n, p, v in loaded}
    for name, path, via in vias:
        got = sim_vias.get((name, path))
        if got != via:
            problems.append(f"{name} => {path}: via {got!r}, the scenario implies {via!r}")

    if real.status not in (0, 127):
        problems.append(f"real loader exit status {real.status} (not 0/127)")
    want_status = 1 if real.status != 0 else 0
    if sim.status != want_status:
        problems.append(f"ldsim exit status {sim.status}, expected {want_status}")

    if problems:
        real_lines = [_listing_line(n, p, interp) for n, p in real.listing]
        real_lines += [f.line() for f in real.failures] + [_outcome(real.status != 0)]
        by_path = {(n, p): v for n, p, v in loaded}
        sim_lines = [
            _listing_line(n, p, interp) + (f"  [{by_path[(n, p)]}]" if (n, p) in by_path else "")
            for n, p in sim.listing
        ]
        sim_lines += [f.line() for f in sim.failures] + [_outcome(sim.status != 0)]
        diagnostics = [str(d) for d in doc.get("diagnostics") or []]
        raise LdsimDisagrees(
            "ldsim disagrees with the real musl loader: "
            + "; ".join(problems)
            + f"\n{header}\n-- listing, then load errors, then the outcome (exit status 127 = 1):\n"
            + _side_by_side(real_lines, sim_lines, "real musl loader (chroot)", "ldsim  [via]")
            + f"\n-- ldsim diagnostics:\n{_indent(chr(10).join(diagnostics))}"
            + f"\n-- ldsim stderr:\n{_indent(sim.stderr)}"
        )


def check(
    root: MuslRoot | str | os.PathLike[str],
    exe: str,
    expected: str,
    *,
    cwd: str = "/",
    env: Mapping[str, str] | None = None,
    ldso: str = MUSL_LDSO,
    user: str | None = None,
) -> tuple[MuslRun, LdsimResult]:
    """Run the real loader, check it against the recipe's ``expected`` block (:func:`expect`,
    raises :class:`SpecMismatch`), then ask ldsim the same question and :func:`compare`
    (raises :class:`LdsimDisagrees`). ``user``: both as that UID:GID (``--user``)."""
    want = Expected.parse(expected)
    real = run_real_musl(root, exe, cwd=cwd, env=env, ldso=ldso, user=user)
    expect(real, want)
    sim = run_ldsim(root, exe, cwd=cwd, env=env, user=user)
    compare(real, sim, want.vias)
    return real, sim


__all__ = [
    "DEBIAN_PATH_FILE_TEXT",
    "MUSL_LDSO",
    "PATH_FILE",
    "Expected",
    "Failure",
    "LdsimDisagrees",
    "LdsimResult",
    "MuslRoot",
    "MuslRun",
    "SpecMismatch",
    "check",
    "compare",
    "expect",
    "run_ldsim",
    "run_real_musl",
    "unavailable_reason",
]
