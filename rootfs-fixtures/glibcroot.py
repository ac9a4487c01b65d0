"""Build tiny glibc root filesystems and ask the real loader what it does in them.

This is the oracle of ldsim's fidelity tests (the recipes of ``docs/loader-model.md``).

Building
    :class:`Root` lays out a chroot-able directory: copies of this host's
    ``/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`` and ``libc.so.6``, the Debian
    ``/lib64/ld-linux-x86-64.so.2`` symlink, ``/usr/bin/env`` (needs only libc), an empty ``/proc``
    and ``/etc/ld.so.conf``. Its helpers mirror the recipe's ``common.sh`` (``mklib``, ``mkexe``,
    ``addneeded``, ``retag``, ...) and take paths *inside* the root (``/opt/a/libfoo.so.1``).

Asking the real loader (:func:`run_real_loader`)
    ``unshare --mount --mount-proc=ROOT/proc chroot ROOT /usr/bin/env -i -C CWD
    LD_TRACE_LOADED_OBJECTS=1 LD_DEBUG=libs,files [VAR=VALUE...] EXE``

    * ``unshare`` gives the run its own mount namespace with a private ``/proc`` inside the root,
      so ``/proc/self/exe`` works and ``$ORIGIN`` of the main program is computed exactly as in a
      normal start (the kernel-canonical path of the program; rule 9 of
      ``docs/loader-model.md``). Nothing leaks to the host's mount table.
    * ``chroot`` makes every absolute path the loader opens a path of the root, so the listing can
      be compared with ldsim's output verbatim.
    * The program is started through the kernel (``execve`` by ``env``), so the interpreter is its
      PT_INTERP. With ``explicit=True`` the loader is started by path instead
      (``/lib64/ld-linux-x86-64.so.2 [ARGS] EXE``), which is what ``ldd`` does: the main
      program's ``$ORIGIN`` then comes from the path as given.
    * ``LD_TRACE_LOADED_OBJECTS=1`` puts rtld in *trace* mode: it maps every object, prints the
      link map on stdout (``NAME => PATH (0xADDR)``) and exits without running anything; a
      missing library becomes ``NAME => not found``; hard load errors still abort with status 127.
    * ``LD_DEBUG=libs,files`` makes rtld narrate every lookup on stderr. ``libs`` gives the
      searches (``find library``, ``search path``, ``search cache``, ``trying file``); ``files``
      adds the request boundaries (``needed by``) and which candidate became an object
      (``generating link map``). From it we learn *why* each object was found (see
      :func:`parse_debug` for the grammar and :func:`_via_of_try` for the one trap in it).
    * ``env -i`` gives the program exactly the variables asked for, nothing from the test
      runner. ``--mount-proc`` is ``unshare -m sh -c 'mount -t proc proc ROOT/proc && ...'``
      without the shell.

    The result is parsed into an :class:`OracleResult`: the listing in order (vDSO and main
    program dropped) with each found entry's ``via``, the ``not found`` names, the fatal error
    (``... error while loading shared libraries: MESSAGE``), other stderr lines (version and
    preload messages) and the exit status. :func:`expect` / :func:`expect_error` check it against
    a recipe-style expected block. :func:`run_program` really runs a program instead (secure mode,
    where rtld refuses to trace).

Comparing with ldsim
    :func:`run_ldsim` calls ``python -m ldsim explain --json`` with options equivalent to the real
    run, and :func:`compare` asserts that both agree (found objects with name, path and via;
    unresolved names; the fatal error; ldsim's exit status), printing both listings side by side
    when they do not. :func:`compare_secure` does the same for :func:`run_program` output.

The recipes' expected outputs were recorded with glibc 2.36-9+deb12u14 on Debian 12;
:func:`unavailable_reason` says why the oracle cannot run elsewhere (tests skip with it).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import platform
import re
import shlex
import shutil
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from arches import Arch

# --------------------------------------------------------------------------------------------
# Constants

LDSO: Final = "/lib64/ld-linux-x86-64.so.2"
"""The PT_INTERP of every program gcc builds here."""
MULTIARCH_DIR: Final = "/lib/x86_64-linux-gnu"
LDSO_REAL: Final = f"{MULTIARCH_DIR}/ld-linux-x86-64.so.2"
LIBC: Final = f"{MULTIARCH_DIR}/libc.so.6"
DT_NEEDED: Final = 1
DT_RPATH: Final = 15
DT_RUNPATH: Final = 29
VER_FLG_WEAK: Final = 0x2
SHT_GNU_VERNEED: Final = 0x6FFFFFFE

VIAS: Final = frozenset(
    {
        "interpreter",
        "preload",
        "rpath",
        "ld_library_path",
        "runpath",
        "ld.so.cache",
        "default",
        "direct",
    }
)
"""Values of :attr:`OracleEntry.via` for found objects (ldsim's ``objects[*].via`` vocabulary)."""

REPO: Final = Path(__file__).resolve().parent.parent
"""The ldsim checkout that holds this file (``python -m ldsim`` runs from here)."""

_SANE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIMEOUT: Final = 60.0
_REQUIRED_TOOLS: Final = ("gcc", "as", "ld", "patchelf", "unshare", "chroot", "ldconfig")

# --------------------------------------------------------------------------------------------
# Environment checks


@functools.cache
def unavailable_reason() -> str | None:
    """Why the oracle cannot run on this machine, or ``None`` when it can."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return "the glibc oracle needs Linux on x86_64"
    if os.geteuid() != 0:
        return "the glibc oracle needs root (chroot, mount namespaces)"
    missing = [tool for tool in _REQUIRED_TOOLS if shutil.which(tool, path=_SANE_PATH) is None]
    if missing:
        return f"the glibc oracle needs these tools: {', '.join(missing)}"
    for host_file in (LDSO_REAL, LIBC, "/usr/bin/env"):
        if not os.path.isfile(host_file):
            return f"the glibc oracle needs the host's {host_file}"
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        version = ""
    if version != "glibc 2.36":
        return f"the recipe's expected outputs were recorded with glibc 2.36, this is {version!r}"
    probe = subprocess.run(
        ["unshare", "--mount", "true"],
        capture_output=True,
        text=True,
        env=host_env(),
        check=False,
    )
    if probe.returncode != 0:
        return f"unshare --mount does not work here: {probe.stderr.strip()}"
    return None


@functools.cache
def host_loader_info() -> tuple[str, tuple[str, ...]]:
    """``($PLATFORM, supported glibc-hwcaps subdirectories)`` as this host's ld.so reports them."""
    out = subprocess.run(
        [LDSO_REAL, "--help"], capture_output=True, text=True, check=True, env=host_env()
    ).stdout
    plat_match = re.search(r"^\s+(\S+) \(AT_PLATFORM;", out, re.MULTILINE)
    hwcaps = tuple(re.findall(r"^\s+(x86-64-v\d) \(supported, searched\)", out, re.MULTILINE))
    return (plat_match.group(1) if plat_match else "x86_64"), hwcaps


def host_env() -> dict[str, str]:
    """A clean environment for host tools (no LD_* leaking in from the test runner)."""
    return {"PATH": _SANE_PATH, "LC_ALL": "C"}


def ctrl_c_default() -> None:
    """A ``preexec_fn`` for a child a test presses Ctrl-C for: SIGINT back to its default
    (a background job of a non-interactive shell, as a CI run may be, starts with SIGINT
    ignored, and so would the child, which then never sees the test's Ctrl-C)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)



def run_tool(
    argv: Sequence[str | os.PathLike[str]], *, timeout: float = _TIMEOUT, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a host build tool (in :func:`host_env`); fail with its output when it fails.
    ``kwargs`` go to :func:`subprocess.run` (``cwd``, ``errors``)."""
    proc = subprocess.run(
        [os.fspath(a) for a in argv],
        capture_output=True,
        text=True,
        env=host_env(),
        timeout=timeout,
        check=False,
        **kwargs,
    )
    if proc.returncode != 0:
        cmd = shlex.join(os.fspath(a) for a in argv)
        raise RuntimeError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


# --------------------------------------------------------------------------------------------
# The root builder


class Root:
    """A temporary root file system; every ``guest`` argument is a path inside it."""

    def __init__(self, path: str | os.PathLike[str], *, base: bool = True) -> None:
        self.path = Path(path).absolute()
        self.path.mkdir(parents=True, exist_ok=True)
        self.path.chmod(0o755)  # "/" must be searchable for non-root runs (S9s)
        self._src = self.path.parent / f".{self.path.name}-src"
        self._src.mkdir(exist_ok=True)
        self._counter = 0
        if base:
            self._make_base()

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    # -- the architecture (``crossroot.CrossRoot`` is a root of another one) -----------------

    @property
    def foreign_arch(self) -> Arch | None:
        """The architecture of a foreign root (``crossroot.CrossRoot``), ``None`` for this
        machine's x86-64. The module functions (:func:`run_real_loader`, :func:`run_program`,
        :func:`compare`, :func:`compare_secure`) and :func:`expect` adapt to it."""
        return None

    @property
    def arch_name(self) -> str:
        a = self.foreign_arch
        return "x86_64" if a is None else a.name

    @property
    def libdir(self) -> str:
        """``/lib/MULTIARCH``: the loader's and libc's directory, the first default one."""
        a = self.foreign_arch
        return MULTIARCH_DIR if a is None else a.libdir

    @property
    def interp(self) -> str:
        """The PT_INTERP of the programs the root's compiler links."""
        a = self.foreign_arch
        return LDSO if a is None else a.interp

    @property
    def ldso_path(self) -> str:
        """The loader's real path (PT_INTERP is a symlink to it)."""
        a = self.foreign_arch
        return LDSO_REAL if a is None else a.ldso

    @property
    def dollar_lib(self) -> str:
        """What ``$LIB`` expands to (Debian: ``lib/MULTIARCH``)."""
        return self.libdir.lstrip("/")

    @property
    def platform_name(self) -> str | None:
        """What ``$PLATFORM`` expands to (``None``: the loader gets no AT_PLATFORM)."""
        a = self.foreign_arch
        return host_loader_info()[0] if a is None else a.platform

    @property
    def glibc_hwcaps(self) -> tuple[str, ...]:
        """The glibc-hwcaps subdirectories the loader searches here, best first."""
        a = self.foreign_arch
        if a is None:
            return tuple(reversed(host_loader_info()[1]))
        return a.glibc_hwcaps

    @property
    def elf_class(self) -> int:
        a = self.foreign_arch
        return 64 if a is None else a.elf_class

    @property
    def other_class(self) -> str:
        """The ``e_ident[EI_CLASS]`` name of :meth:`mklib_other_class`'s libraries."""
        return "ELFCLASS32" if self.elf_class == 64 else "ELFCLASS64"

    def localize(self, text: str) -> str:
        """``text`` written for x86-64 with this root's paths (see :func:`localize`)."""
        return localize(text, self.foreign_arch)

    def cpu_args(self) -> list[str]:
        """ldsim options for the CPU the real loader sees in this root (none for x86-64: ldsim
        asks this machine's loader)."""
        a = self.foreign_arch
        return [] if a is None else arch_cpu_args(a)

    def _trace(
        self,
        exe: str,
        *,
        env: Mapping[str, str] | None,
        cwd: str,
        explicit: bool,
        ldso_args: Sequence[str],
        ldso: str | None,
        user: str | None,
    ) -> OracleResult:
        """:func:`run_real_loader` in this root."""
        return _run_real_loader_native(
            self, exe, env=env, cwd=cwd, explicit=explicit, ldso_args=ldso_args,
            ldso=LDSO if ldso is None else ldso, user=user,
        )  # fmt: skip

    def _exec(
        self,
        exe: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str,
        user: str | None,
    ) -> ProgramResult:
        """:func:`run_program` in this root."""
        return _run_program_native(self, exe, *args, env=env, cwd=cwd, user=user)

    def _ldsim_args(self, real: OracleResult, platform_name: str | None) -> list[str]:
        """:func:`compare`'s ldsim options for ``real`` (a run in this root)."""
        return ldsim_args_for(real, platform_name=platform_name)

    def _make_base(self) -> None:
        self._make_layout("/lib64")
        shutil.copy2(LDSO_REAL, self.host(LDSO_REAL))
        shutil.copy2(LIBC, self.host(LIBC))
        self.symlink(LDSO, "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        shutil.copy2("/usr/bin/env", self.host("/usr/bin/env"))
        extra = [n for n in self.needed("/usr/bin/env") if n != "libc.so.6"]
        if extra:
            raise RuntimeError(f"/usr/bin/env needs more than libc here: {extra}")

    def _make_layout(self, *extra_dirs: str) -> None:
        """The directories of a base root in Debian's multiarch layout (the loader's, the
        default ones, ``/proc``, ...; plus ``extra_dirs``) and ``/etc/ld.so.conf``."""
        self.mkdir(
            self.libdir,
            *extra_dirs,
            f"/usr{self.libdir}",
            "/usr/lib",
            "/usr/bin",
            "/etc/ld.so.conf.d",
            "/proc",
            "/bin",
            "/opt",
        )
        self.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")

    # -- paths and plain files ---------------------------------------------------------------

    def host(self, guest: str) -> Path:
        """The host path of ``guest`` (an absolute path inside the root; symlinks not followed)."""
        if not guest.startswith("/"):
            raise ValueError(f"not an absolute path inside the root: {guest!r}")
        return self.path / guest.lstrip("/")

    def exists(self, guest: str) -> bool:
        return os.path.lexists(self.host(guest))

    def mkdir(self, *guests: str) -> None:
        for guest in guests:
            self.host(guest).mkdir(parents=True, exist_ok=True)

    def write(self, guest: str, content: str | bytes, mode: int | None = None) -> None:
        target = self.host(guest)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content)
        else:
            target.write_bytes(content)
        if mode is not None:
            target.chmod(mode)

    def read_bytes(self, guest: str) -> bytes:
        return self.host(guest).read_bytes()

    def symlink(self, guest_link: str, target: str) -> None:
        """``ln -s TARGET LINK``; ``target`` is stored verbatim (relative or a guest path)."""
        link = self.host(guest_link)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)

    def hardlink(self, guest_link: str, guest_existing: str) -> None:
        os.link(self.host(guest_existing), self.host(guest_link))

    def copy(self, guest_src: str, guest_dst: str) -> None:
        self.host(guest_dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.host(guest_src), self.host(guest_dst))

    def move(self, guest_src: str, guest_dst: str) -> None:
        self.host(guest_dst).parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.host(guest_src), self.host(guest_dst))

    def remove(self, guest: str) -> None:
        """``rm -rf``: a file, a symlink (not its target) or a directory tree; absent is fine."""
        target = self.host(guest)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif os.path.lexists(target):
            target.unlink()

    def chmod(self, guest: str, mode: int) -> None:
        self.host(guest).chmod(mode)

    def make_world_readable(self) -> None:
        """``chmod -R a+rX`` the whole root, as the recipe does before runs as uid 65534."""
        for dirpath, dirnames, filenames in os.walk(self.path):
            for name in [*dirnames, *filenames]:
                p = Path(dirpath, name)
                if p.is_symlink():
                    continue
                st = p.stat()
                extra = 0o444 | (0o111 if p.is_dir() or st.st_mode & 0o111 else 0)
                p.chmod(st.st_mode | extra)

    def patch(self, guest: str, offset: int, data: bytes) -> None:
        """Overwrite bytes in place (the recipe's ``flip``)."""
        with open(self.host(guest), "r+b") as f:
            f.seek(offset)
            f.write(data)

    def head(self, guest_src: str, guest_dst: str, size: int) -> None:
        """``head -c SIZE SRC > DST``."""
        self.write(guest_dst, self.read_bytes(guest_src)[:size])

    def realpath(self, guest: str) -> str:
        """Resolve every symlink of ``guest`` with chroot semantics (see :func:`realpath_in_root`)."""
        return realpath_in_root(self.path, guest)

    # -- compiling -----------------------------------------------------------------------------

    def _source(self, text: str, suffix: str = ".c") -> Path:
        self._counter += 1
        src = self._src / f"src{self._counter}{suffix}"
        src.write_text(text)
        return src

    def _link_args(self, link: Sequence[str], rpath: str | None, runpath: str | None) -> list[str]:
        args: list[str] = []
        for guest_lib in link:
            args += [
                f"-L{self.host(os.path.dirname(guest_lib))}",
                f"-l:{os.path.basename(guest_lib)}",
            ]
        if rpath is not None:
            args += ["-Wl,--disable-new-dtags", f"-Wl,-rpath,{rpath}"]
        if runpath is not None:
            args += ["-Wl,--enable-new-dtags", f"-Wl,-rpath,{runpath}"]
        return args

    def compile(self, guest_out: str, source: str, *gcc_args: str) -> None:
        """``gcc -o OUT SOURCE.c ARGS`` (ARGS may hold host paths, e.g. for ``-include``)."""
        self.compile_with("gcc", guest_out, source, *gcc_args)

    def compile_with(self, gcc: str, guest_out: str, source: str, *gcc_args: str) -> None:
        """``GCC -o OUT SOURCE.c ARGS`` with the given compiler."""
        out = self.host(guest_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        run_tool([gcc, "-o", out, self._source(source), *gcc_args])

    def mklib(
        self,
        guest_out: str,
        soname: str | None,
        *gcc_args: str,
        link: Sequence[str] = (),
        needed: Sequence[str] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        source: str | None = None,
    ) -> None:
        """The recipe's ``mklib OUT SONAME [args]``: a shared library defining ``f_<basename>``.

        ``link``: guest paths of libraries to link against (``-L DIR -l:NAME``, in order);
        ``needed``: names prepended to DT_NEEDED afterwards with :meth:`addneeded`;
        ``rpath``/``runpath``: a DT_RPATH / DT_RUNPATH string.
        """
        if source is None:
            source = lib_source(guest_out)
        args = ["-shared", "-fPIC"]
        if soname:
            args.append(f"-Wl,-soname,{soname}")
        args += ["-Wl,--no-as-needed", *gcc_args, *self._link_args(link, rpath, runpath)]
        self.compile(guest_out, source, *args)
        if needed:
            self.addneeded(guest_out, *needed)

    def mkexe(
        self,
        guest_out: str,
        *gcc_args: str,
        link: Sequence[str] = (),
        needed: Sequence[str] = (),
        rpath: str | None = None,
        runpath: str | None = None,
        source: str = "int main(void){return 0;}\n",
    ) -> None:
        """The recipe's ``mkexe OUT [args]``: a PIE with DT_NEEDED ``[<link>..., libc.so.6]``,
        then ``needed`` prepended with :meth:`addneeded`."""
        args = ["-Wl,--no-as-needed", *gcc_args, *self._link_args(link, rpath, runpath)]
        self.compile(guest_out, source, *args)
        if needed:
            self.addneeded(guest_out, *needed)

    def mklib_other_class(self, guest_out: str, soname: str) -> None:
        """A shared library of the other ELF class (:attr:`other_class`), which the loader
        skips: x86-64's is an i386 library (:meth:`mklib32`)."""
        self.mklib32(guest_out, soname)

    def mklib32(self, guest_out: str, soname: str) -> None:
        """A real ELFCLASS32 (i386) shared library with one function ``f``."""
        src = self._source(".globl f\nf: ret\n", ".s")
        obj = src.with_suffix(".o")
        run_tool(["as", "--32", "-o", obj, src])
        self.host(guest_out).parent.mkdir(parents=True, exist_ok=True)
        run_tool(
            ["ld", "-m", "elf_i386", "-shared", "-soname", soname, "-o", self.host(guest_out), obj]
        )

    # -- patching ELF files ----------------------------------------------------------------------

    def set_interpreter(self, guest: str, interp: str) -> None:
        """``patchelf --set-interpreter INTERP`` on the file."""
        run_tool(["patchelf", "--set-interpreter", interp, self.host(guest)])

    def addneeded(self, guest: str, *names: str) -> None:
        """The recipe's ``addneeded``: DT_NEEDED becomes ``[*names, <previous entries>]``.

        patchelf 0.14 sorts several ``--add-needed`` of one call, so they are added one at a time,
        last name first.
        """
        for name in reversed(names):
            run_tool(["patchelf", "--add-needed", name, self.host(guest)])

    def retag(self, guest: str, string: str, tag: int = DT_RUNPATH) -> None:
        """The recipe's ``retag``: turn the DT_NEEDED entry naming ``string`` into ``tag``.

        With :meth:`addneeded` this gives an object both DT_RPATH and DT_RUNPATH.
        """
        data = bytearray(self.read_bytes(guest))
        sections = _sections(data)
        dynamic = next(s for s in sections if s[1] == 6)  # SHT_DYNAMIC
        strtab = sections[dynamic[6]][4]
        dyn_fmt, dyn_size = _dyn_format(data)
        for i in range(dynamic[5] // dyn_size):
            off = dynamic[4] + dyn_size * i
            d_tag, d_val = struct.unpack_from(dyn_fmt, data, off)
            if d_tag == DT_NEEDED and _cstr(data, strtab + d_val) == string.encode():
                struct.pack_into(dyn_fmt[:2], data, off, tag)
                self.write(guest, bytes(data))
                return
        raise ValueError(f"{guest}: no DT_NEEDED {string!r}")

    def set_x86_isa_needed(self, guest: str, value: int) -> None:
        """Overwrite the GNU_PROPERTY_X86_ISA_1_NEEDED value of a file linked with
        ``-Wl,-z,x86-64-vN`` (the property's type and size, then the 4 bytes of the value)."""
        data = bytearray(self.read_bytes(guest))
        mark = struct.pack("<II", 0xC0008002, 4)
        at = data.find(mark)
        if at < 0 or data.find(mark, at + 1) >= 0:
            raise ValueError(f"{guest}: not exactly one x86 ISA property")
        struct.pack_into("<I", data, at + 8, value)
        self.write(guest, bytes(data))

    def set_vernaux_weak(self, guest: str, version: str) -> None:
        """Set VER_FLG_WEAK on every Vernaux (version reference) named ``version`` (S13)."""
        data = bytearray(self.read_bytes(guest))
        sections = _sections(data)
        verneed = next(s for s in sections if s[1] == SHT_GNU_VERNEED)
        strtab = sections[verneed[6]][4]
        off, hits, order = verneed[4], 0, _byte_order(data)
        while True:
            _ver, cnt, _file, aux, nxt = struct.unpack_from(order + "HHIII", data, off)
            a = off + aux
            for _ in range(cnt):
                _hash, flags, _other, name, anext = struct.unpack_from(order + "IHHII", data, a)
                if _cstr(data, strtab + name) == version.encode():
                    struct.pack_into(order + "H", data, a + 4, flags | VER_FLG_WEAK)
                    hits += 1
                a += anext
            if not nxt:
                break
            off += nxt
        if not hits:
            raise ValueError(f"{guest}: no version reference {version!r}")
        self.write(guest, bytes(data))

    def needed(self, guest: str) -> list[str]:
        """DT_NEEDED entries of ``guest`` in dynamic-section order."""
        return [v for t, v in self.dynamic_strings(guest) if t == DT_NEEDED]

    def dynamic_strings(self, guest: str) -> list[tuple[int, str]]:
        """``(tag, string)`` for the string-valued entries DT_NEEDED, DT_RPATH, DT_RUNPATH."""
        return dynamic_strings(self.read_bytes(guest))

    # -- ldconfig ------------------------------------------------------------------------------

    def ldconfig(self, fmt: str | None = None, *args: str) -> str:
        """``ldconfig -r ROOT [-c FMT] ARGS``; returns its merged output."""
        argv = ["ldconfig", "-r", str(self.path)]
        if fmt is not None:
            argv += ["-c", fmt]
        proc = run_tool([*argv, *args])
        return proc.stdout + proc.stderr

    def ldconfig_print(self) -> str:
        """``ldconfig -r ROOT -p``: the cache as ldconfig reads it back."""
        return self.ldconfig(None, "-p")


def lib_source(guest_out: str) -> str:
    """The C source of the recipe's libraries: one function ``f_<basename of guest_out>``."""
    sym = re.sub(r"[^a-zA-Z0-9]", "_", os.path.basename(guest_out))
    return f"int f_{sym}(void){{return 1;}}\n"


def realpath_in_root(root: Path, guest: str) -> str:
    """Resolve every symlink of ``guest`` inside ``root`` with chroot semantics: absolute
    targets start at the root, ``..`` at the root stays there."""
    parts = [p for p in guest.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host = root.joinpath(*resolved, part)
        if host.is_symlink():
            hops += 1
            if hops > 40:
                raise OSError(f"too many levels of symbolic links: {guest}")
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
        else:
            resolved.append(part)
    return "/" + "/".join(resolved)


def dynamic_strings(data: bytes) -> list[tuple[int, str]]:
    """``(tag, string)`` for DT_NEEDED, DT_RPATH and DT_RUNPATH of an ELF file (either class,
    either byte order), in order."""
    sections = _sections(data)
    dynamic = next(s for s in sections if s[1] == 6)  # SHT_DYNAMIC
    strtab = sections[dynamic[6]][4]
    dyn_fmt, dyn_size = _dyn_format(data)
    out: list[tuple[int, str]] = []
    for i in range(dynamic[5] // dyn_size):
        d_tag, d_val = struct.unpack_from(dyn_fmt, data, dynamic[4] + dyn_size * i)
        if d_tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH):
            out.append((d_tag, _cstr(data, strtab + d_val).decode(errors="surrogateescape")))
    return out


def _byte_order(data: bytes | bytearray) -> str:
    """The struct byte-order character of an ELF file (EI_DATA 2 is big-endian)."""
    return ">" if data[5] == 2 else "<"


def _dyn_format(data: bytes | bytearray) -> tuple[str, int]:
    """The struct format of one ``ElfN_Dyn`` (``d_tag``, ``d_val``) and its size."""
    order = _byte_order(data)
    return (order + "iI", 8) if data[4] == 1 else (order + "qQ", 16)


def _sections(data: bytes | bytearray) -> list[tuple[int, ...]]:
    """The section headers, each ``(name, type, flags, addr, offset, size, link, ...)``, of an
    ELF file of either class (EI_CLASS 1 is ELFCLASS32) and either byte order."""
    order = _byte_order(data)
    if data[4] == 1:
        shoff = struct.unpack_from(order + "I", data, 0x20)[0]
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x2E)
        fmt = order + "IIIIIIIIII"
    else:
        shoff = struct.unpack_from(order + "Q", data, 0x28)[0]
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A)
        fmt = order + "IIQQQQIIQQ"
    return [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]


def _cstr(data: bytes | bytearray, off: int) -> bytes:
    return bytes(data[off : data.index(b"\0", off)])


# --------------------------------------------------------------------------------------------
# The real loader


@dataclass(frozen=True)
class OracleEntry:
    """One line of the trace listing (the vDSO and the main program are never entries).

    ``path`` is ``None`` for ``NAME => not found``; ``via`` is ``None`` exactly then.
    ``needed_by`` is the requester LD_DEBUG named (for preloads: the main program), if known.
    """

    name: str
    path: str | None
    via: str | None = None
    needed_by: str | None = None

    def line(self) -> str:
        if self.path is None:
            return f"{self.name} => not found"
        text = self.name if self.path == self.name else f"{self.name} => {self.path}"
        return f"{text}  [{self.via}]" if self.via else text


@dataclass(frozen=True)
class Try:
    """One ``trying file=`` line: a candidate path and where in the lookup it came."""

    path: str
    label: str
    """The WHAT of the last ``search path`` line (``RPATH from file X``, ``LD_LIBRARY_PATH``,
    ``RUNPATH from file X``, ``system search path``), or ``cache``."""
    phase: str
    """``lists`` (RPATH, LD_LIBRARY_PATH, RUNPATH: before the cache lookup), ``cache`` (the one
    candidate the cache returned) or ``default`` (after the cache lookup)."""


@dataclass
class Request:
    """One ``_dl_map_object`` call that got past the already-loaded check, as LD_DEBUG told it."""

    name: str
    needed_by: str | None = None
    searched: bool = False
    """A ``find library=`` line was seen: a bare name that went through the search."""
    tries: list[Try] = field(default_factory=list)
    mapped: bool = False
    """A ``generating link map`` line was seen: a new object was created for this request."""


@dataclass
class OracleResult:
    """What the real loader did for one program, parsed (see :func:`run_real_loader`)."""

    # the request, so that ldsim can be asked the same question
    exe: str
    cwd: str
    env: dict[str, str]
    explicit: bool
    ldso_args: tuple[str, ...]
    ldso: str
    preloads: tuple[str, ...]
    root: Path | None
    # raw output
    status: int
    stdout: str
    stderr: str
    # parsed
    static: bool = False
    entries: list[OracleEntry] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    error: str | None = None
    messages: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    arch: Arch | None = None
    """The architecture of a foreign root (``crossroot``); ``None``: this machine's x86-64."""

    @property
    def found(self) -> list[OracleEntry]:
        return [e for e in self.entries if e.path is not None]

    def listing(self) -> str:
        if self.static:
            return "statically linked"
        return "\n".join(e.line() for e in self.entries)

    def describe(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        how = shlex.join([self.ldso, *self.ldso_args, self.exe]) if self.explicit else self.exe
        return f"cd {self.cwd} && {env + ' ' if env else ''}{how}  [rc={self.status}]"


def run_real_loader(
    root: Root | str | os.PathLike[str],
    exe: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    explicit: bool = False,
    ldso_args: Sequence[str] = (),
    ldso: str | None = None,
    user: str | None = None,
) -> OracleResult:
    """Run glibc's loader in trace mode on ``exe`` inside a chroot of ``root`` and parse it.

    ``user`` (``UID:GID``) runs it as that user (``chroot --userspec``).

    ``exe`` is the program as it is started (absolute, or relative to ``cwd``; it must contain a
    ``/`` so that ``env`` does not search PATH). ``env`` is the program's whole environment
    besides the trace variables. ``explicit`` starts ``ldso [ldso_args] exe`` instead of ``exe``
    (``ldso``: the root's PT_INTERP unless given). A :class:`Root` of another architecture
    (``crossroot.CrossRoot``) runs its own loader (``crossroot.run_real_loader``).
    """
    if isinstance(root, Root):
        return root._trace(
            exe, env=env, cwd=cwd, explicit=explicit, ldso_args=ldso_args, ldso=ldso, user=user
        )
    return _run_real_loader_native(
        root, exe, env=env, cwd=cwd, explicit=explicit, ldso_args=ldso_args,
        ldso=LDSO if ldso is None else ldso, user=user,
    )  # fmt: skip


def _run_real_loader_native(
    root: Root | str | os.PathLike[str],
    exe: str,
    *,
    env: Mapping[str, str] | None,
    cwd: str,
    explicit: bool,
    ldso_args: Sequence[str],
    ldso: str,
    user: str | None,
) -> OracleResult:
    if "/" not in exe:
        raise ValueError(f"give the program with a slash (./{exe}), not a bare name: {exe!r}")
    root_path = Path(root).absolute()
    variables = dict(env or {})
    command = [ldso, *ldso_args, exe] if explicit else [exe]
    argv = [
        "unshare",
        "--mount",
        f"--mount-proc={root_path / 'proc'}",
        "chroot",
        *([f"--userspec={user}"] if user else []),
        str(root_path),
        "/usr/bin/env",
        "-i",
        "-C",
        cwd,
        "LD_TRACE_LOADED_OBJECTS=1",
        "LD_DEBUG=libs,files",
        *(f"{k}={v}" for k, v in variables.items()),
        *command,
    ]
    return run_traced(
        argv,
        root_path,
        exe,
        cwd=cwd,
        env=variables,
        explicit=explicit,
        ldso_args=ldso_args,
        ldso=ldso,
    )


def run_traced(
    argv: Sequence[str],
    root: Path,
    exe: str,
    *,
    cwd: str,
    env: Mapping[str, str],
    explicit: bool,
    ldso_args: Sequence[str],
    ldso: str,
    timeout: float = _TIMEOUT,
    arch: Arch | None = None,
) -> OracleResult:
    """Run ``argv``, a command that starts a glibc loader in trace mode with
    ``LD_DEBUG=libs,files`` on ``exe`` inside ``root`` (as :func:`run_real_loader` builds it, or
    through an emulator: ``crossroot``), and parse its output into an :class:`OracleResult`
    recording the question (``cwd``, ``env``, ``explicit``, ``ldso_args``, ``ldso``; ``arch``:
    the architecture of a foreign root)."""
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=host_env(),
        timeout=timeout,
        check=False,
    )
    return parse_trace(
        root, exe, cwd=cwd, env=env, explicit=explicit, ldso_args=ldso_args, ldso=ldso,
        status=proc.returncode, stdout=proc.stdout, stderr=proc.stderr, arch=arch,
    )  # fmt: skip


def parse_trace(
    root: Path,
    exe: str,
    *,
    cwd: str,
    env: Mapping[str, str],
    explicit: bool,
    ldso_args: Sequence[str],
    ldso: str,
    status: int,
    stdout: str,
    stderr: str,
    arch: Arch | None = None,
) -> OracleResult:
    """The :class:`OracleResult` of a glibc loader's trace of ``exe`` inside ``root`` (its exit
    ``status``, the listing on ``stdout``, the ``LD_DEBUG=libs,files`` narration on ``stderr``)
    for the question ``cwd``, ``env``, ``explicit``, ``ldso_args``, ``ldso``: each object with
    its ``via``, the ``not found`` names, the fatal error and the other messages."""
    variables = dict(env)
    result = OracleResult(
        exe=exe,
        cwd=cwd,
        env=variables,
        explicit=explicit,
        ldso_args=tuple(ldso_args),
        ldso=ldso,
        preloads=preload_names(root, variables, ldso_args),
        root=root,
        status=status,
        stdout=stdout,
        stderr=stderr,
        arch=arch,
    )
    _parse_into(result)
    return result


def preload_names(root: Path, env: Mapping[str, str], ldso_args: Sequence[str]) -> tuple[str, ...]:
    """Every preload request rtld would make, in order (rule 1 of ``docs/loader-model.md``):
    LD_PRELOAD and
    ``--preload`` split on space and ``:``, then ``/etc/ld.so.preload`` split on whitespace and
    ``:`` with ``#`` comments."""
    names = re.split(r"[ :]", env.get("LD_PRELOAD", ""))
    args = list(ldso_args)
    for i, arg in enumerate(args[:-1]):
        if arg == "--preload":
            names += re.split(r"[ :]", args[i + 1])
    try:
        text = (root / "etc/ld.so.preload").read_text(errors="surrogateescape")
    except OSError:
        text = ""
    text = re.sub(r"#[^\n]*", "", text)
    names += re.split(r"[ \t\n:]", text)
    return tuple(n for n in names if n)


# -- parsing ------------------------------------------------------------------------------------

_LISTING_RE: Final = re.compile(
    r"^\t(?P<name>.+?)(?: => (?:(?P<nf>not found)|(?P<path>.+?)))?(?: \(0x[0-9a-f]+\))?$"
)
_VDSO_NAMES: Final = frozenset({"linux-vdso.so.1", "linux-gate.so.1"})
DEBUG_RE: Final = re.compile(r"^ *\d+:\t(?P<msg>.*)$")
"""One LD_DEBUG line (``%5d:\\t`` + the message, group ``msg``)."""
_ERROR_RE: Final = re.compile(r"error while loading shared libraries: (?P<msg>.*)$")
_NEEDED_BY_RE: Final = re.compile(
    r"^file=(?P<name>.*) \[\d+\];  (?:needed|dynamically loaded) by (?P<by>.*) \[\d+\]$"
)
_FIND_RE: Final = re.compile(r"^find library=(?P<name>.*) \[\d+\]; searching$")
_SEARCH_PATH_RE: Final = re.compile(r"^ search path=(?P<dirs>.*)\t\t\((?P<what>.*)\)$")
_SEARCH_CACHE_RE: Final = re.compile(r"^ search cache=(?P<cache>.*)$")
_TRYING_RE: Final = re.compile(r"^  trying file=(?P<path>.*)$")
_MAPPED_RE: Final = re.compile(r"^file=(?P<name>.*) \[\d+\];  generating link map$")


def parse_listing(text: str) -> tuple[bool, list[OracleEntry]]:
    """Parse rtld's trace listing (or a recipe-style expected block).

    Returns ``(statically_linked, entries)``; the vDSO is skipped. Lines are ``\\tNAME => PATH
    (0xADDR)``, ``\\tNAME (0xADDR)`` (path equals name), ``\\tNAME => not found`` or
    ``\\tstatically linked``; the address is optional so expected blocks may omit it.
    """
    static = False
    entries: list[OracleEntry] = []
    for line in text.splitlines():
        if line == "\tstatically linked":
            static = True
            continue
        m = _LISTING_RE.match(line)
        if not m or m["name"] in _VDSO_NAMES:
            continue
        path = None if m["nf"] else (m["path"] if m["path"] is not None else m["name"])
        entries.append(OracleEntry(m["name"], path))
    return static, entries


def parse_debug(stderr: str) -> tuple[list[Request], list[str]]:
    """Split stderr into LD_DEBUG=libs,files requests and the other lines (messages).

    Grammar (glibc 2.36; every debug line is ``%5d:\\t`` + message):

    * ``file=NAME [NS];  needed by REQUESTER [NS]`` — a new ``_dl_map_object`` request that was
      not satisfied by an already loaded object (a match by name or SONAME prints nothing at
      all). REQUESTER is the requesting object's path string (for the main program: as invoked).
    * ``find library=NAME [NS]; searching`` — NAME has no ``/`` and is searched. Names with a
      ``/`` are opened directly and get no such line (``direct``).
    * `` search path=DIR:DIR:...\\t\\t(WHAT)`` — printed when ``open_path`` starts on a search
      list, and again inside it whenever WHAT changes; it lists the directories (with their
      hwcaps subdirectories) not yet known to be missing. WHAT is ``RPATH from file X``,
      ``RUNPATH from file X``, ``LD_LIBRARY_PATH`` or ``system search path``. Caveat: WHAT
      belongs to the *directory*, and rtld shares one record per directory string across all
      lists, labelled by the list that introduced it first (system dirs at start-up, then the
      program's RPATH/RUNPATH, then LD_LIBRARY_PATH, then libraries' lists lazily). See
      :func:`_via_of_try` for how the oracle copes.
    * `` search cache=/etc/ld.so.cache`` — the cache step (printed even without a cache file);
      a hit is followed by exactly one ``trying file``, then the default directories follow
      with their own ``search path`` line.
    * ``  trying file=PATH`` — one candidate opened.
    * ``file=NAME [NS];  generating link map`` — the last candidate was accepted and a new
      object created: the last ``trying file`` is its path. A request without this line either
      failed (``not found``, preload error) or opened a file that is already loaded under another
      name (same device and inode). The interpreter's own map is never generated.
    """
    requests: list[Request] = []
    messages: list[str] = []
    current: Request | None = None
    label, phase = "", "lists"
    for line in stderr.splitlines():
        dm = DEBUG_RE.match(line)
        if dm is None:
            if line.strip():
                messages.append(line)
            continue
        msg = dm["msg"]
        if m := _NEEDED_BY_RE.match(msg):
            current = Request(m["name"], needed_by=m["by"])
            requests.append(current)
            label, phase = "", "lists"
        elif m := _FIND_RE.match(msg):
            if current is None or current.name != m["name"] or current.searched or current.mapped:
                current = Request(m["name"])
                requests.append(current)
            current.searched = True
            label, phase = "", "lists"
        elif m := _SEARCH_PATH_RE.match(msg):
            label = m["what"]
            if phase != "lists":
                phase = "default"
        elif _SEARCH_CACHE_RE.match(msg):
            label, phase = "cache", "cache"
        elif (m := _TRYING_RE.match(msg)) and current is not None:
            current.tries.append(Try(m["path"], label, phase))
        elif m := _MAPPED_RE.match(msg):
            if current is None or current.name != m["name"] or current.mapped:
                current = Request(m["name"])  # e.g. the main program under explicit invocation
                requests.append(current)
            current.mapped = True
    return requests, messages


_LEGACY_SUBDIR_NAMES: Final = ("tls", "x86_64", "haswell", "xeon_phi", "avx512_1")


def _candidate_in_dir(
    path: str, name: str, directory: str, legacy: Sequence[str] = _LEGACY_SUBDIR_NAMES
) -> bool:
    """Is ``path`` what ``open_path`` tries for ``name`` in ``directory`` (itself or one of its
    glibc-hwcaps / legacy hwcap subdirectories, named by ``legacy``)?"""
    prefix = directory if directory.endswith("/") or not directory else f"{directory}/"
    if not path.startswith(prefix) or not path.endswith(name):
        return False
    middle = path[len(prefix) : len(path) - len(name)]
    if middle == "" or re.fullmatch(r"glibc-hwcaps/[^/]+/", middle):
        return True
    parts = middle.rstrip("/").split("/")
    depth = 3 if legacy is _LEGACY_SUBDIR_NAMES else len(legacy)  # x86-64: tls/PLATFORM/HWCAP
    return len(parts) <= depth and all(p in legacy for p in parts)


def _llp_dirs(value: str) -> list[str]:
    """LD_LIBRARY_PATH elements as rtld stores them (split on ``:`` and ``;``, trailing slashes
    dropped; DSTs are not expanded, so such elements simply never match)."""
    return [
        e.rstrip("/") if e.rstrip("/") else ("/" if e else "") for e in re.split(r"[:;]", value)
    ]


def _classify_label(label: str) -> str:
    if label.startswith("RPATH from file"):
        return "rpath"
    if label.startswith("RUNPATH from file"):
        return "runpath"
    if label == "LD_LIBRARY_PATH":
        return "ld_library_path"
    if label == "system search path":
        return "default"
    return f"unknown({label})"


def _via_of_try(result: OracleResult, req: Request, t: Try, requester_has_runpath: bool) -> str:
    """How the accepted candidate ``t`` of ``req`` was found.

    The position is exact: the candidate right after ``search cache`` is the cache's, anything
    after it comes from the default directories. Before the cache step rtld searches the RPATH
    chain, then LD_LIBRARY_PATH, then the requester's RUNPATH; there the label is used, corrected
    where it provably belongs to another list that shares the directory:

    * ``system search path`` before the cache step: a system directory listed in
      LD_LIBRARY_PATH (→ ``ld_library_path``; LD_LIBRARY_PATH precedes the defaults); else only
      with the cache inhibited is it really the default step;
    * ``RUNPATH``/``RPATH`` label on a directory that is also in LD_LIBRARY_PATH, when the label's
      list cannot have been searched first (RUNPATH always comes after LD_LIBRARY_PATH; RPATH is
      not searched at all for a requester that has RUNPATH) → ``ld_library_path``;
    * ``RPATH`` label for a requester with RUNPATH and not in LD_LIBRARY_PATH → ``runpath``.

    Not covered: a directory in LD_LIBRARY_PATH that is also in the RPATH of a *library* up the
    chain is labelled ``LD_LIBRARY_PATH`` although the RPATH step found it.
    """
    if t.phase == "cache":
        return "ld.so.cache"
    if t.phase == "default":
        return "default"
    llp = result.env.get("LD_LIBRARY_PATH")
    legacy = _LEGACY_SUBDIR_NAMES if result.arch is None else result.arch.legacy_components
    in_llp = llp is not None and any(
        _candidate_in_dir(t.path, req.name, d, legacy) for d in _llp_dirs(llp)
    )
    via = _classify_label(t.label)
    if via == "default":
        if in_llp:
            return "ld_library_path"
        if "--inhibit-cache" in result.ldso_args:
            return "default"
        return "unknown(system directory in an RPATH/RUNPATH list)"
    if via == "runpath" and in_llp:
        return "ld_library_path"
    if via == "rpath" and requester_has_runpath:
        return "ld_library_path" if in_llp else "runpath"
    return via


def _parse_into(result: OracleResult) -> None:
    result.static, listed = parse_listing(result.stdout)
    result.requests, messages = parse_debug(result.stderr)
    for line in messages:
        m = _ERROR_RE.search(line)
        if m and result.error is None:
            result.error = m["msg"]
        else:
            result.messages.append(line)

    # Preload requests come first: the longest prefix of requests that are preload names in order.
    preload_ids: set[int] = set()
    remaining = list(result.preloads)
    for req in result.requests:
        if req.needed_by is None and not req.searched:
            continue  # the main program, mapped by rtld itself under explicit invocation
        if req.name not in remaining:
            break
        del remaining[: remaining.index(req.name) + 1]
        preload_ids.add(id(req))

    pending = [r for r in result.requests if r.mapped]
    for entry in listed:
        if entry.path is None:
            result.entries.append(entry)
            result.unresolved.append(entry.name)
            continue
        req = next((r for r in pending if r.name == entry.name), None)
        if req is None:
            via = "interpreter"  # the loader's own map is never "generated"
            needed_by = None
        else:
            pending.remove(req)
            needed_by = req.needed_by
            if id(req) in preload_ids:
                via = "preload"
            elif not req.searched:
                via = "direct"
            elif req.tries and req.tries[-1].path == entry.path:
                runpath = has_runpath(result, req.needed_by)
                via = _via_of_try(result, req, req.tries[-1], runpath)
            else:
                via = f"unknown(tries={req.tries[-1:]})"
        result.entries.append(OracleEntry(entry.name, entry.path, via, needed_by))


def has_runpath(result: OracleResult, requester: str | None) -> bool:
    """Does the requesting object (named as LD_DEBUG names it) carry DT_RUNPATH?"""
    if requester is None or result.root is None:
        return False
    guest = requester if requester.startswith("/") else os.path.join(result.cwd, requester)
    try:
        real = realpath_in_root(result.root, guest)
        data = (result.root / real.lstrip("/")).read_bytes()
        return any(tag == DT_RUNPATH for tag, _ in dynamic_strings(data))
    except (OSError, StopIteration, struct.error, ValueError, IndexError):
        return False


# -- a plain run (no trace): secure mode --------------------------------------------------------


@dataclass
class ProgramResult:
    argv: list[str]
    status: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str | None:
        for line in self.stderr.splitlines():
            if m := _ERROR_RE.search(line):
                return m["msg"]
        return None


def run_program(
    root: Root | str | os.PathLike[str],
    exe: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    user: str | None = None,
) -> ProgramResult:
    """Really run ``exe`` in a chroot of ``root`` (private /proc), optionally as ``user``
    (``UID:GID``, e.g. ``65534:65534`` with a set-uid program for AT_SECURE). A root of another
    architecture runs it its own way (``crossroot.CrossRoot``)."""
    if isinstance(root, Root):
        return root._exec(exe, args, env=env, cwd=cwd, user=user)
    return _run_program_native(root, exe, *args, env=env, cwd=cwd, user=user)


def _run_program_native(
    root: Root | str | os.PathLike[str],
    exe: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    user: str | None = None,
) -> ProgramResult:
    root_path = Path(root).absolute()
    argv = ["unshare", "--mount", f"--mount-proc={root_path / 'proc'}", "chroot"]
    if user is not None:
        argv.append(f"--userspec={user}")
    argv += [
        str(root_path),
        "/usr/bin/env",
        "-i",
        "-C",
        cwd,
        *(f"{k}={v}" for k, v in (env or {}).items()),
        exe,
        *args,
    ]
    return run_command(argv)


def run_command(argv: list[str], *, timeout: float = _TIMEOUT) -> ProgramResult:
    """Run the host command ``argv`` (in :func:`host_env`, not checked): its status and
    output as a :class:`ProgramResult`."""
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=host_env(),
        timeout=timeout,
        check=False,
    )
    return ProgramResult(argv, proc.returncode, proc.stdout, proc.stderr)


# -- expectations in the recipe's notation ------------------------------------------------------

_X86_64_TEXT: Final = re.compile(
    r"/lib64/ld-linux-x86-64\.so\.2|x86_64-linux-gnu|ld-linux-x86-64\.so\.2|\(libc6,x86-64\)"
)


def localize(text: str, arch: Arch | None) -> str:
    """``text`` written for x86-64, with the paths of ``arch`` (``None``: unchanged): the
    PT_INTERP ``/lib64/ld-linux-x86-64.so.2`` becomes the architecture's, the multiarch
    directory name ``x86_64-linux-gnu`` (in ``/lib/...``, ``/usr/lib/...``, ``$LIB``) its
    own, the loader's file name ``ld-linux-x86-64.so.2`` its loader's, and the flags
    ``(libc6,x86-64)`` of an ``ldconfig -p`` line its libraries' flags. Nothing else is
    touched (``x86_64`` alone, ``x86-64-v2``, other paths)."""
    if arch is None:
        return text
    table = {
        "/lib64/ld-linux-x86-64.so.2": arch.interp,
        "x86_64-linux-gnu": arch.multiarch,
        "ld-linux-x86-64.so.2": arch.ldso_name,
        "(libc6,x86-64)": f"({arch.cache_flags})",
    }
    return _X86_64_TEXT.sub(lambda m: table[m[0]], text)



def expected_entries(text: str) -> list[tuple[str, str | None, str | None]]:
    """Parse an expected block in the recipe's notation into ``(name, path, via)``.

    One entry per non-blank line, leading whitespace ignored; ``linux-vdso.so.1`` lines are
    skipped; an optional trailing ``  # VIA`` also checks how the entry was found.
    """
    out: list[tuple[str, str | None, str | None]] = []
    for raw in text.strip("\n").splitlines():
        body, _, via = raw.strip().partition("  # ")
        if not body:
            continue
        _static, entries = parse_listing("\t" + body.rstrip())
        out += [(e.name, e.path, via.strip() or None) for e in entries]
    return out


def expect(real: OracleResult, listing: str, *, status: int = 0) -> None:
    """Assert that the real loader printed ``listing`` (the recipes' notation, see
    :func:`expected_entries`; ``statically linked`` allowed) and exited with ``status``.
    For a run in a root of another architecture the x86-64 paths of ``listing`` are read as
    that architecture's (:func:`localize`)."""
    listing = localize(listing, real.arch)
    problems: list[str] = []
    if real.status != status:
        problems.append(f"exit status {real.status}, expected {status}")
    if listing.strip() == "statically linked":
        if not real.static or real.entries:
            problems.append("expected 'statically linked'")
    else:
        want = expected_entries(listing)
        got = [(e.name, e.path, e.via) for e in real.entries]
        if [(n, p) for n, p, _v in want] != [(n, p) for n, p, _v in got]:
            problems.append("listing differs")
        for (n, p, v), (_gn, _gp, gv) in zip(want, got, strict=False):
            if v is not None and v != gv:
                problems.append(f"{n} => {p}: via {gv}, expected {v}")
        if any(e.via is not None and e.via not in VIAS for e in real.entries):
            problems.append("some via could not be derived from LD_DEBUG")
    if problems:
        want_entries = [] if listing.strip() == "statically linked" else expected_entries(listing)
        expected_block = (
            "\n".join("  " + OracleEntry(n, p, v).line() for n, p, v in want_entries)
            or "  statically linked"
        )
        raise AssertionError(
            "real loader does not match the recipe: "
            + "; ".join(problems)
            + f"\n$ {real.describe()}\n-- expected:\n{expected_block}\n-- real:\n"
            + _indent(real.listing())
            + f"\n-- stderr (no debug):\n{_indent(_messages(real))}"
        )


def expect_error(real: OracleResult, message: str, *, status: int = 127) -> None:
    """Assert that the real loader aborted with ``... error while loading shared libraries:
    MESSAGE`` and listed nothing (``MESSAGE`` localized as in :func:`expect`)."""
    message = localize(message, real.arch)
    if real.status != status or real.error != message or real.entries:
        raise AssertionError(
            f"real loader: expected fatal {message!r} [rc={status}]\n$ {real.describe()}\n"
            f"-- listing:\n{_indent(real.listing())}\n-- error: {real.error!r}\n"
            f"-- stderr (no debug):\n{_indent(_messages(real))}"
        )


def _messages(real: OracleResult) -> str:
    lines = [*real.messages]
    if real.error is not None:
        lines.insert(0, f"error while loading shared libraries: {real.error}")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines()) if text else "  (nothing)"


# --------------------------------------------------------------------------------------------
# ldsim


@dataclass
class LdsimResult:
    argv: list[str]
    status: int
    stdout: str
    stderr: str
    doc: dict[str, Any] | None
    """The parsed JSON document, or ``None`` if stdout was not one JSON object."""

    @property
    def objects(self) -> list[dict[str, Any]]:
        return list(self.doc.get("objects") or []) if self.doc else []

    @property
    def unresolved(self) -> list[str]:
        return [str(u.get("name")) for u in (self.doc.get("unresolved") or [])] if self.doc else []

    def trail(self) -> list[str]:
        """The LD_DEBUG=libs search lines the document gives, in order."""
        from ldsim.renderers.json import trail_lines

        return trail_lines(self.doc or {})

    @property
    def loader_message(self) -> str | None:
        error = self.doc.get("error") if self.doc else None
        return None if error is None else str(error.get("loader_message"))


def env_args(env: Mapping[str, str]) -> list[str]:
    """ldsim options for a run's environment (``LD_LIBRARY_PATH``, ``LD_PRELOAD``; any other
    variable is a ``ValueError``)."""
    args: list[str] = []
    for key, value in env.items():
        if key == "LD_LIBRARY_PATH":
            args += ["--ld-library-path", value]
        elif key == "LD_PRELOAD":
            args += ["--preload", value]
        else:
            raise ValueError(f"no ldsim option models the environment variable {key}")
    return args


def arch_cpu_args(arch: Arch, hwcaps: str | None = None) -> list[str]:
    """ldsim options for the CPU a loader of ``arch`` sees under the oracle (:mod:`arches`):
    the glibc-hwcaps levels (``hwcaps``: instead of the table's), ``$PLATFORM`` (empty: none)
    and the legacy hwcap names."""
    return [
        "--hwcaps", (",".join(arch.glibc_hwcaps) or "none") if hwcaps is None else hwcaps,
        "--platform", arch.platform or "",
        "--legacy-hwcaps", ",".join(arch.legacy_hwcaps) or "none",
    ]  # fmt: skip


def ldsim_args_for(real: OracleResult, *, platform_name: str | None = None) -> list[str]:
    """ldsim options that pose the question ``real`` posed to the real loader."""
    args = ["--cwd", real.cwd] if real.cwd != "/" else []
    args += env_args(real.env)
    rest = list(real.ldso_args)
    while rest:
        opt = rest.pop(0)
        if opt == "--glibc-hwcaps-mask" and rest:
            args += ["--hwcaps", rest.pop(0)]
        else:
            raise ValueError(f"no ldsim option models ld.so {opt}")
    if real.explicit:
        if real.ldso != LDSO:
            raise ValueError(f"ldsim models explicit invocation as {LDSO} only, not {real.ldso}")
        args += ["--invocation", "ldd"]
    if platform_name is not None:
        args += ["--platform", platform_name]
    return args


def run_ldsim(root: Root | str | os.PathLike[str], exe: str, *args: str) -> LdsimResult:
    """``python -m ldsim explain --json --root ROOT [args] EXE`` from the checkout."""
    argv = [
        sys.executable,
        "-m",
        "ldsim",
        "explain",
        "--json",
        "--root",
        str(Path(root).absolute()),
        *args,
        exe,
    ]
    env = {**host_env(), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=_TIMEOUT, check=False
    )
    doc: dict[str, Any] | None
    try:
        loaded = json.loads(proc.stdout)
        doc = loaded if isinstance(loaded, dict) else None
    except json.JSONDecodeError:
        doc = None
    return LdsimResult(argv, proc.returncode, proc.stdout, proc.stderr, doc)


def _sim_line(obj: Mapping[str, Any]) -> str:
    name, path, via = obj.get("name"), obj.get("path"), obj.get("via")
    text = str(name) if path == name else f"{name} => {path}"
    return f"{text}  [{via}]"


def _side_by_side(left: list[str], right: list[str], width: int = 58) -> str:
    rows = [f"   {'real ld.so (chroot)':<{width}} | ldsim"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        mark = "   " if a == b else "!! "
        rows.append(f"{mark}{a:<{width}} | {b}")
    return "\n".join(rows)


def compare(
    real: OracleResult,
    root: Root | str | os.PathLike[str],
    *,
    platform_name: str | None = None,
    extra_args: Sequence[str] = (),
    run_status: int | None = None,
    trail: bool = True,
    ldsim_args: Sequence[str] | None = None,
) -> LdsimResult:
    """Ask ldsim the same question as ``real`` and assert that it gives the same answer.

    Compared: the found objects in order with ``name``, ``path`` and ``via`` (ldsim's
    ``objects[1:]``; ``objects[0]`` must be the executable), the unresolved names in order, the
    fatal error (``error.loader_message``), and ldsim's exit status: 0 when everything loads,
    1 otherwise, or, given ``run_status`` (the exit status of a real run of the program), 0
    exactly when the real run succeeded. When the real load aborts, rtld prints no listing, so
    only the error and the status are compared. With ``trail``, the ``search path=``,
    ``search cache=`` and ``trying file=`` lines of ``LD_DEBUG=libs`` must equal, in order,
    the ones ldsim's document gives (``explain -v`` prints them). ``ldsim_args`` replaces
    the options :func:`ldsim_args_for` derives from ``real`` (``crossroot`` passes its own).
    """
    if ldsim_args is None:
        if isinstance(root, Root):
            ldsim_args = root._ldsim_args(real, platform_name)
        else:
            ldsim_args = ldsim_args_for(real, platform_name=platform_name)
    sim = run_ldsim(root, real.exe, *ldsim_args, *extra_args)
    header = f"$ {real.describe()}\n$ {shlex.join(sim.argv)}  [rc={sim.status}]"
    if sim.doc is None:
        raise AssertionError(
            f"ldsim did not print a JSON object\n{header}\n-- stdout:\n{_indent(sim.stdout)}\n"
            f"-- stderr:\n{_indent(sim.stderr)}"
        )
    problems: list[str] = []
    objects = sim.objects
    if not objects or objects[0].get("via") != "executable":
        problems.append("objects[0] is not the executable")
    real_lines = [e.line() for e in real.found]
    sim_lines = [_sim_line(o) for o in objects[1:]]
    if real.error is None:
        if real_lines != sim_lines:
            problems.append("found objects differ")
        if real.unresolved != sim.unresolved:
            problems.append("unresolved names differ")
    if real.error != sim.loader_message:
        problems.append("fatal error differs")
    real_trail, sim_trail = trail_of_debug(real.stderr), sim.trail()
    if trail and real_trail != sim_trail:
        problems.append("the LD_DEBUG trail differs")
    want_status = 1 if (real.error or real.unresolved) else 0
    if run_status is not None:
        want_status = 0 if run_status == 0 else 1
    if sim.status != want_status:
        problems.append(f"ldsim exit status {sim.status}, expected {want_status}")
    if problems:
        unresolved = _side_by_side(
            [f"{n} => not found" for n in real.unresolved],
            [f"{n} => not found" for n in sim.unresolved],
        )
        errors = _side_by_side([repr(real.error)], [repr(sim.loader_message)])
        trails = ""
        if real_trail != sim_trail:
            diff = difflib.unified_diff(real_trail, sim_trail, "real LD_DEBUG=libs", "ldsim",
                                        lineterm="", n=2)
            trails = "-- trail (unified diff):\n" + _indent("\n".join(diff)) + "\n"
        raise AssertionError(
            "ldsim disagrees with the real loader: " + "; ".join(problems) + f"\n{header}\n"
            f"-- found objects:\n{_side_by_side(real_lines, sim_lines)}\n"
            f"-- unresolved:\n{unresolved}\n-- fatal error:\n{errors}\n{trails}"
            f"-- ldsim stderr:\n{_indent(sim.stderr)}"
        )
    return sim


def trail_of_debug(stderr: str) -> list[str]:
    """The ``search path=``, ``search cache=`` and ``trying file=`` lines of LD_DEBUG=libs,
    in order, without the pid prefix and the leading spaces."""
    out: list[str] = []
    for line in stderr.splitlines():
        m = DEBUG_RE.match(line)
        if m is None:
            continue
        msg = m["msg"].lstrip(" ")
        if msg.startswith(("search path=", "search cache=", "trying file=")):
            out.append(msg)
    return out


def _is_listed_in_maps(path: str) -> bool:
    """The filter of the recipe's S9s test program (``pm.c``) over /proc/self/maps paths."""
    return ".so" in path and "libc.so" not in path and "ld-linux" not in path


def compare_secure(
    run: ProgramResult,
    root: Root,
    exe: str,
    *,
    env: Mapping[str, str] | None = None,
    secure: bool = True,
) -> LdsimResult:
    """S9s: compare a real run of the maps-printing program with ldsim.

    The set of non-libc shared objects the program found mapped (kernel-canonical paths) must
    equal the in-root real paths of ldsim's found objects after the same filter; if the real
    start failed with ``NAME: cannot open shared object file``, ldsim must report NAME unresolved.
    """
    args: list[str] = ["--secure"] if secure else []
    args += root.cpu_args()
    args += env_args(env or {})
    sim = run_ldsim(root, exe, *args)
    header = f"$ {shlex.join(run.argv)}  [rc={run.status}]\n$ {shlex.join(sim.argv)}"
    if sim.doc is None:
        raise AssertionError(
            f"ldsim did not print a JSON object\n{header}\n-- stdout:\n{_indent(sim.stdout)}\n"
            f"-- stderr:\n{_indent(sim.stderr)}"
        )
    real_set = sorted({line for line in run.stdout.splitlines() if line})
    sim_set = sorted(
        {
            root.realpath(str(o["path"]))
            for o in sim.objects[1:]
            if o.get("path") and _is_listed_in_maps(root.realpath(str(o["path"])))
        }
    )
    problems = []
    if real_set != sim_set:
        problems.append("mapped libraries differ")
    missing = re.match(r"(.*): cannot open shared object file", run.error or "")
    if missing and missing[1] not in sim.unresolved:
        problems.append(f"ldsim does not report {missing[1]} unresolved")
    if problems:
        raise AssertionError(
            "ldsim disagrees with the real (secure) run: "
            + "; ".join(problems)
            + f"\n{header}\n-- non-libc objects (real paths):\n"
            f"{_side_by_side(real_set, sim_set)}\n-- real stderr:\n{_indent(run.stderr)}\n"
            f"-- ldsim objects:\n{_indent(chr(10).join(_sim_line(o) for o in sim.objects))}\n"
            f"-- ldsim unresolved: {sim.unresolved}\n-- ldsim stderr:\n{_indent(sim.stderr)}"
        )
    return sim
