"""Roots in memory, for the fast layer of unit tests: no compiler, no root, no chroot.

:func:`elf` writes a small, valid ELF file (what a loader reads of it: the header, PT_LOAD,
PT_INTERP, PT_DYNAMIC with DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1, and an
optional ``NT_GNU_ABI_TAG`` note), in either class and any machine. :func:`ld_so_cache` writes
a new-format ``/etc/ld.so.cache`` as ``ldconfig`` does. :class:`MemRoot` builds a glibc or
musl root in an :class:`ldsim.fs.memory.MemoryView`: a stand-in loader whose bytes hold what
ldsim reads of the real one (the built-in directories, ``$LIB``, the release), libc, and
helpers to add programs and libraries.

The oracle tests (``tests/oracle``) remain the proof that the models match the real loaders;
these roots make a rule testable in milliseconds.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import ldsim
from ldsim.fs.memory import MemoryView

ET_EXEC, ET_DYN = 2, 3
EM_386, EM_X86_64, EM_AARCH64 = 3, 62, 183
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 5, 10, 14, 15, 29
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_NODEFLIB, DF_1_PIE = 0x800, 0x08000000

GLIBC_LOADER = "/lib64/ld-linux-x86-64.so.2"
GLIBC_LOADER_REAL = "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
LIBDIR = "/lib/x86_64-linux-gnu"
USRLIBDIR = "/usr/lib/x86_64-linux-gnu"
SYSTEM_DIRS = (f"{LIBDIR}/", f"{USRLIBDIR}/", "/lib/", "/usr/lib/")
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"


def elf(*, e_type: int = ET_DYN, machine: int = EM_X86_64, elf_class: int = 64,
        interp: str | None = None, needed: Sequence[str] = (), soname: str | None = None,
        rpath: str | None = None, runpath: str | None = None, flags_1: int = 0,
        abi_note_os: int | None = None, isa_needed: int | None = None, dynamic: bool = True,
        extra: bytes = b"", e_flags: int = 0) -> bytes:
    """A little-endian ELF file of ``elf_class`` (32 or 64) bits, one PT_LOAD over the whole
    file at address 0 (so addresses are file offsets)."""
    is64 = elf_class == 64
    ehsize, phsize = (64, 56) if is64 else (52, 32)
    strtab = bytearray(b"\0")

    def s(text: str) -> int:
        off = len(strtab)
        strtab.extend(text.encode() + b"\0")
        return off

    dyn: list[tuple[int, int]] = [(DT_NEEDED, s(n)) for n in needed]
    if soname is not None:
        dyn.append((DT_SONAME, s(soname)))
    if rpath is not None:
        dyn.append((DT_RPATH, s(rpath)))
    if runpath is not None:
        dyn.append((DT_RUNPATH, s(runpath)))
    if flags_1:
        dyn.append((DT_FLAGS_1, flags_1))
    note = b""
    if abi_note_os is not None:
        note = struct.pack("<III", 4, 16, 1) + b"GNU\0" + struct.pack("<IIII", abi_note_os, 3,
                                                                       2, 0)
    prop = b""
    if isa_needed is not None:  # .note.gnu.property: GNU_PROPERTY_X86_ISA_1_NEEDED
        prop = struct.pack("<III", 4, 16, 5) + b"GNU\0" + struct.pack(
            "<IIII", 0xC0008002, 4, isa_needed, 0)
    interp_bytes = interp.encode() + b"\0" if interp is not None else b""
    nph = (1 + (1 if dynamic else 0) + (1 if interp is not None else 0) + (1 if note else 0)
           + (1 if prop else 0))
    off = ehsize + phsize * nph
    interp_off = off
    off += len(interp_bytes)
    note_off = (off + 3) & ~3
    off = note_off + len(note)
    prop_off = (off + 7) & ~7
    off = prop_off + len(prop)
    str_off = off
    off += len(strtab)
    dyn_off = (off + 7) & ~7
    entsize = 16 if is64 else 8
    dyn_entries = [*dyn, (DT_STRTAB, str_off), (DT_STRSZ, len(strtab)), (0, 0)]
    dyn_size = entsize * len(dyn_entries) if dynamic else 0
    off = dyn_off + dyn_size
    extra_off = off
    total = off + len(extra)

    def phdr(p_type: int, p_off: int, size: int, align: int) -> bytes:
        if is64:
            return struct.pack("<IIQQQQQQ", p_type, 4, p_off, p_off, p_off, size, size, align)
        return struct.pack("<IIIIIIII", p_type, p_off, p_off, p_off, size, size, 4, align)

    phdrs = [phdr(PT_LOAD, 0, total, 0x1000)]
    if interp is not None:
        phdrs.append(phdr(PT_INTERP, interp_off, len(interp_bytes), 1))
    if note:
        phdrs.append(phdr(PT_NOTE, note_off, len(note), 4))
    if prop:
        phdrs.append(phdr(PT_NOTE, prop_off, len(prop), 8))
    if dynamic:
        phdrs.append(phdr(PT_DYNAMIC, dyn_off, dyn_size, 8))
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1, 0]) + bytes(8)
    if is64:
        ehdr = ident + struct.pack("<HHIQQQIHHHHHH", e_type, machine, 1, 0, ehsize, 0,
                                   e_flags, ehsize, phsize, nph, 64, 0, 0)
    else:
        ehdr = ident + struct.pack("<HHIIIIIHHHHHH", e_type, machine, 1, 0, ehsize, 0,
                                   e_flags, ehsize, phsize, nph, 40, 0, 0)
    out = bytearray(ehdr + b"".join(phdrs) + interp_bytes)
    out += bytes(note_off - len(out)) + note
    out += bytes(prop_off - len(out)) + prop + strtab
    out += bytes(dyn_off - len(out))
    if dynamic:
        fmt = "<qQ" if is64 else "<iI"
        out += b"".join(struct.pack(fmt, tag, val) for tag, val in dyn_entries)
    out += extra
    assert len(out) == total and extra_off + len(extra) == total
    return bytes(out)


def glibc_loader_bytes(system_dirs: Sequence[str] = SYSTEM_DIRS,
                       lib: str = "lib/x86_64-linux-gnu", minor: int = 36, *,
                       soname: str = "ld-linux-x86-64.so.2", machine: int = EM_X86_64,
                       elf_class: int = 64, e_flags: int = 0) -> bytes:
    """A stand-in for glibc's ``ld.so``: an ELF shared object whose read-only data holds what
    ldsim reads of the real one (``SYSTEM_DIRS``, the ``$LIB`` token value, the release)."""
    blob = (b"".join(d.encode() + b"\0" for d in system_dirs)
            + b"ORIGIN\0PLATFORM\0LIB\0" + lib.encode() + b"\0"
            + f"ld.so (GNU libc) release version 2.{minor}\0".encode())
    return elf(soname=soname, extra=blob, machine=machine, elf_class=elf_class, e_flags=e_flags)


def ld_so_cache(entries: Sequence[tuple[str, str] | tuple[str, str, int]],
                flags: int = 0x0303, *, big_endian: bool = False) -> bytes:
    """A new-format ``ld.so.cache`` mapping each soname to a path, sorted as ``ldconfig``
    sorts (descending by its version-aware comparison); an entry's third item is its flags
    (default ``flags``: 0x0303, x86-64 libc6)."""
    from functools import cmp_to_key

    from ldsim.config.ld_so_cache import NEW_MAGIC, libcmp

    rows = sorted(((e[0], e[1], e[2] if len(e) > 2 else flags) for e in entries),  # type: ignore[misc]
                  key=cmp_to_key(lambda a, b: libcmp(b[0], a[0])))
    end = ">" if big_endian else "<"
    start = 48 + 24 * len(rows)
    strings = bytearray()

    def intern(text: str) -> int:
        off = start + len(strings)
        strings.extend(text.encode() + b"\0")
        return off

    body = b"".join(struct.pack(end + "iIIIQ", f, intern(k), intern(v), 0, 0)
                    for k, v, f in rows)
    header = NEW_MAGIC + struct.pack(end + "IIB3xI12x", len(rows), len(strings),
                                     3 if big_endian else 2, 0)
    return bytes(header + body + strings)


def snaproots_yaml(name: str, base: str, confinement: str, apps: dict[str, str]) -> bytes:
    """A ``meta/snap.yaml`` (JSON is YAML)."""
    import json

    return json.dumps({"name": name, "version": "1", "base": base,
                       "confinement": confinement,
                       "apps": {a: {"command": c} for a, c in apps.items()}}).encode()


class MemRoot:
    """A root in memory with a loader and a libc; ``view`` is the tree, ``target`` opens it."""

    def __init__(self, flavour: str = "glibc", *, cache: bool = True,
                 musl_path_file: str | None = None) -> None:
        self.view = MemoryView(f"<memory {flavour} root>")
        self.flavour = flavour
        self.cache_entries: list[tuple[str, str]] = []
        self.with_cache = cache
        if flavour == "glibc":
            self.view.add_file(GLIBC_LOADER_REAL, glibc_loader_bytes(), 0o755)
            self.view.add_symlink(GLIBC_LOADER, GLIBC_LOADER_REAL.replace("/lib/", "../lib/", 1))
            self.lib(f"{LIBDIR}/libc.so.6", soname="libc.so.6",
                     needed=["ld-linux-x86-64.so.2"])
            self.interp = GLIBC_LOADER
        else:
            self.view.add_file(MUSL_LOADER, elf(soname="libc.so"), 0o755)
            self.view.add_symlink("/lib/libc.musl-x86_64.so.1", "ld-musl-x86_64.so.1")
            if musl_path_file is not None:
                self.view.add_file("/etc/ld-musl-x86_64.path", musl_path_file.encode())
            self.interp = MUSL_LOADER
        self.view.add_dir("/etc")
        self.view.add_dir("/usr/bin")

    @property
    def libc(self) -> str:
        return "libc.so.6" if self.flavour == "glibc" else "libc.so"

    def lib(self, path: str, *, soname: str | None = None, needed: Sequence[str] = (),
            rpath: str | None = None, runpath: str | None = None, cache: bool = True,
            mode: int = 0o644, **kw: object) -> str:
        """A shared library at ``path`` (its DT_NEEDED end with libc unless it is libc); in
        the cache when ``cache`` and it lies in a system directory (as ldconfig finds it)."""
        libc_itself = soname in ("libc.so.6", "libc.so")
        deps = list(needed) if libc_itself or self.libc in needed else [*needed, self.libc]
        self.view.add_file(path, elf(soname=soname, needed=deps, rpath=rpath, runpath=runpath,
                                     **kw), mode)  # type: ignore[arg-type]
        if cache and soname and any(path.startswith(d) for d in SYSTEM_DIRS):
            self.cache_entries.append((soname, path))
        return path

    def exe(self, path: str, *, needed: Sequence[str] = (), rpath: str | None = None,
            runpath: str | None = None, interp: str | None = "", flags_1: int = 0) -> str:
        """A PIE program (interpreter: the root's loader unless given; None for none)."""
        self.view.add_file(path, elf(interp=self.interp if interp == "" else interp,
                                     needed=[*needed, self.libc], rpath=rpath, runpath=runpath,
                                     flags_1=DF_1_PIE | flags_1), 0o755)
        return path

    def file(self, path: str, data: bytes, mode: int = 0o644) -> str:
        self.view.add_file(path, data, mode)
        return path

    def open(self) -> ldsim.RootTarget:
        """The root as a target (writes ``/etc/ld.so.cache`` first, as ``ldconfig`` would)."""
        if self.flavour == "glibc" and self.with_cache:
            self.view.add_file("/etc/ld.so.cache", ld_so_cache(self.cache_entries))
        return ldsim.open_root(self.view)


ENV = ldsim.LoaderEnv(hwcaps=(), platform="x86_64", legacy_hwcap_names=("x86_64",), cwd="/")
"""The simulated process of the unit tests: no LD_* variables, no glibc-hwcaps level."""


def resolve(root: MemRoot, program: str, env: ldsim.LoaderEnv = ENV,
            **kw: object) -> ldsim.Resolution:
    return ldsim.resolve(root.open(), program, env, **kw)  # type: ignore[arg-type]


def found(res: ldsim.Resolution) -> list[tuple[str, str, str]]:
    """(name, path, via) of every loaded object after the program, in link-map order."""
    return [(o.name, o.path, str(o.via)) for o in res.objects[1:]]


def where(res: ldsim.Resolution, name: str) -> tuple[str, str] | None:
    """(path, via) of the object ``name`` loaded, or None when it is unresolved."""
    for o in res.objects:
        if o.name == name or name in o.names:
            return o.path, str(o.via)
    return None
