#!/usr/bin/env python3
"""A Debian 13 (trixie) amd64 root around systemd's ``libsystemd-shared-257.so``: the real
library, its ``DT_NEEDED`` closure and the libraries its dlopen notes name.

    python rootfs-fixtures/trixie_systemd.py /var/cache/ldsim-roots/trixie-systemd [--check]

The fixture of ldsim's dlopen support. ``libsystemd-shared-257.so`` declares the libraries
it ``dlopen()``s in ELF notes (UAPI.12, "dlopen() Metadata for ELF Files",
https://uapi-group.org/specifications/specs/elf_dlopen_metadata/): notes of owner ``FDO``
and type ``0x407c0c0a`` in the section ``.note.dlopen`` (also inside a ``PT_NOTE`` segment),
each descriptor a NUL-terminated UTF-8 JSON array of objects with ``soname`` (alternative
names, most preferred first), ``feature``, ``description`` and ``priority`` (``required``,
``recommended`` when absent, ``suggested``). systemd writes them with ``ELF_NOTE_DLOPEN``
(``src/basic/dlfcn-util.h``): one note per feature, 4-byte aligned. :func:`read_dlopen_notes`
reads them with the standard library only (section headers, else program headers).

What the root holds
    ``base-files`` (trixie's merged-``/usr`` symlinks ``/bin``, ``/lib``, ``/lib64``,
    ``/sbin``, ``/proc``), ``libc6`` (the loader and libc) with ``libgcc-s1`` (its
    dependency, which libc ``dlopen``s for unwinding) and ``libc-bin`` (for
    ``/etc/ld.so.conf``; its programs are never run), the package that ships
    ``/usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-257.so`` (``libsystemd-shared``
    in trixie: ``systemd`` pre-depends on it), then, soname by soname, the packages that
    provide the ``DT_NEEDED`` closure of that library and, for every dlopen note, of the
    first soname alternative some trixie package provides (and of what it needs, and so on).
    Plus ``/etc/ld.so.cache``, the test program :data:`DLO` and the static launcher
    ``/.oracle/env`` (``muslroot.LAUNCHER``) through which :func:`check` runs it.

Where the packages come from
    ``apt-get download`` through a *private* apt state for ``deb http://deb.debian.org/debian
    trixie main`` (amd64 only, signatures checked with ``debian-archive-keyring``): the one of
    ``crossroot`` (its sources.list, lists and package cache under ``crossroot.cache_dir()``;
    this module registers the suite ``trixie-amd64`` with it and uses its ``fetch_deb``), so the
    machine's own apt state is left alone and nothing is downloaded twice. ``apt-cache show``
    runs on the same state with an empty dpkg status (this machine's installed packages play
    no part). Every package is fetched at the exact version the lists name, and recorded.

From a soname to a package (:meth:`Assembler.provider`)
    No ``apt-file``, no ``apt-cache search``. The candidates, in order: the names Debian policy
    (section 8.1) derives from the soname (``libfoo.so.N`` -> ``libfooN``, ``libfoo2.so.N`` ->
    ``libfoo2-N``, each also with trixie's 64-bit-time_t suffix ``t64``); the packages the
    requesting package's ``Pre-Depends``/``Depends``/``Recommends``/``Suggests`` name (dpkg's
    shlibs and debhelper's dlopen notes put them there: ``libcrypto.so.3`` is in
    ``libssl3t64``, ``libz.so.1`` in ``zlib1g``); last the package names that start with
    ``lib<stem>`` (``apt-cache pkgnames``, a prefix lookup in the private lists:
    ``libtss2-esys.so.0`` is in ``libtss2-esys-3.0.2-0t64``). A candidate counts only when
    its ``.deb`` really ships a file or symlink of that name in a library directory. A soname
    no candidate ships is *unmapped* and reported, with every candidate tried.

Nothing from the packages runs on the host
    Packages are unpacked with ``dpkg-deb --fsys-tarfile | tar --keep-directory-symlink -x``
    (``dpkg-deb -x`` would replace base-files' ``/lib -> usr/lib`` with a directory); no
    maintainer script runs. ``/etc/ld.so.cache`` is written by *this machine's* ``ldconfig
    -r ROOT`` (glibc 2.36; its default format since 2.32 is the "new" one,
    ``glibc-ld.so.cache1.1``, which trixie's 2.41 loader reads); ``DLO`` is built by this
    machine's gcc.

Idempotent (like ``scripts/make_foreign_root.py``)
    A finished root carries :data:`STAMP` (``.fixture.json``): the recipe, the notes
    (feature, priority, sonames, what each alternative resolved to), every soname resolved
    (package, path, file, how, needed by), the unmapped ones, the package versions, the
    build time. A root whose recipe matches is left alone; another existing ``DEST`` is
    refused unless ``--force``. The work happens in ``DEST.partial``, renamed when complete.

Asking the real loader (:func:`check`, ``--check``)
    ``unshare --mount --mount-proc=DEST/proc chroot DEST /.oracle/env / [LD_DEBUG=libs,files]
    -- /usr/local/bin/dlo SONAME...`` (``muslroot.launcher_argv``: the variables are set inside
    the chroot, so the host's ``unshare``/``chroot`` never see ``LD_DEBUG``). ``dlo`` calls
    ``dlopen(NAME, RTLD_NOW)`` for each argument and prints ``NAME => OK`` or ``NAME =>
    dlerror()``. Every soname of every note is tried once in one process, then each in a
    process of its own with ``LD_DEBUG``, parsed by ``glibcroot.parse_debug`` for the file it
    mapped and whether the cache gave it.

Exit status: 0 built (or already there; with ``--check``: every resolved note soname loads),
1 the build failed (or a resolved soname does not load), 2 bad usage.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import crossroot
import glibcroot
import muslroot

# --------------------------------------------------------------------------------------------
# Constants

SUITE: Final = "trixie"
ARCH: Final = "amd64"
APT_SUITE: Final = "trixie-amd64"
"""The name of this module's private apt state in ``crossroot`` (``CACHE/apt/trixie-amd64``)."""
MULTIARCH: Final = "x86_64-linux-gnu"
LIBRARY: Final = f"/usr/lib/{MULTIARCH}/systemd/libsystemd-shared-257.so"
"""The library whose notes the root serves."""
LIBRARY_PACKAGE: Final = "libsystemd-shared"
BASE_PACKAGES: Final = ("base-files", "libc6", "libgcc-s1", "libc-bin")
"""Unpacked first, in this order (base-files makes the merged-/usr symlinks)."""
LIB_DIRS: Final = frozenset(
    {f"/usr/lib/{MULTIARCH}", "/usr/lib", "/usr/lib64", f"/usr/local/lib/{MULTIARCH}"}
)
"""Directories (after merged-/usr aliasing) where a file of a soname's name provides it."""
USR_ALIASES: Final = ("bin", "sbin", "lib", "lib64")
DLO: Final = "/usr/local/bin/dlo"
DLO_C: Final = r"""
#include <dlfcn.h>
#include <stdio.h>
/* dlo NAME...: dlopen(NAME, RTLD_NOW) each, "NAME => OK" or "NAME => dlerror()". */
int main(int argc, char **argv) {
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        void *handle = dlopen(argv[i], RTLD_NOW);
        if (handle != NULL) {
            printf("%s => OK\n", argv[i]);
        } else {
            printf("%s => %s\n", argv[i], dlerror());
            failed = 1;
        }
        fflush(stdout);
    }
    return failed;
}
"""
"""Source of :data:`DLO` (built with this machine's gcc; ``dlopen`` is in libc since 2.34)."""
STAMP: Final = ".fixture.json"
SCHEMA: Final = "ldsim.fixture.trixie-systemd/1"
RECIPE_VERSION: Final = 1
DEFAULT_DEST: Final = Path("/var/cache/ldsim-roots/trixie-systemd")
NEW_CACHE_MAGIC: Final = b"glibc-ld.so.cache1.1"

NOTE_OWNER: Final = b"FDO"
NT_DLOPEN_METADATA: Final = 0x407C0C0A
PRIORITIES: Final = ("required", "recommended", "suggested")
_SHT_NOTE: Final = 7
_PT_NOTE: Final = 4
_RELATIONS: Final = ("Pre-Depends", "Depends", "Recommends", "Suggests")
_NOT_RUNTIME: Final = re.compile(r"-(dev|dbg|dbgsym|doc|bin|tools|utils|udeb|tests?)$")
_PREFIX_LIMIT: Final = 12


def say(msg: str) -> None:
    print(f"trixie_systemd: {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# dlopen notes (UAPI.12), standard library only


class NoteError(ValueError):
    """An ELF file or a dlopen note that cannot be read (the message says what is wrong)."""


@dataclass(frozen=True)
class DlopenNote:
    """One object of a dlopen note's JSON array."""

    sonames: tuple[str, ...]
    feature: str | None = None
    description: str | None = None
    priority: str = "recommended"
    """As written, or ``recommended`` (the spec's default) when absent."""

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "description": self.description,
                "priority": self.priority, "sonames": list(self.sonames)}


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def note_regions(data: bytes) -> list[tuple[str, int, int, int]]:
    """``(where, offset, size, alignment)`` of every note area of an ELF file: its ``SHT_NOTE``
    sections (``where`` is the section's name), or, when it has none, its ``PT_NOTE``
    segments (``where`` is ``PT_NOTE``). Either class, either byte order."""
    if len(data) < 0x34 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise NoteError("not an ELF file")
    order = "<" if data[5] == 1 else ">"
    is64 = data[4] == 2
    if is64:
        if len(data) < 0x40:
            raise NoteError("truncated ELF header")
        phoff, shoff = struct.unpack_from(order + "QQ", data, 0x20)
        sizes = struct.unpack_from(order + "HHHHH", data, 0x36)
        sh_fmt, ph_fmt = order + "IIQQQQIIQQ", order + "IIQQQQQQ"
    else:
        phoff, shoff = struct.unpack_from(order + "II", data, 0x1C)
        sizes = struct.unpack_from(order + "HHHHH", data, 0x2A)
        sh_fmt, ph_fmt = order + "IIIIIIIIII", order + "IIIIIIII"
    phentsize, phnum, shentsize, shnum, shstrndx = sizes

    def table(off: int, entsize: int, num: int, fmt: str) -> list[tuple[int, ...]]:
        if num == 0 or off == 0:
            return []
        if entsize < struct.calcsize(fmt) or off + entsize * num > len(data):
            raise NoteError(f"header table at {off:#x} ({num} x {entsize}) is outside the file")
        return [struct.unpack_from(fmt, data, off + i * entsize) for i in range(num)]

    regions: list[tuple[str, int, int, int]] = []
    sections = table(shoff, shentsize, shnum, sh_fmt)
    names = sections[shstrndx] if 0 < shstrndx < len(sections) else None
    for sh in sections:
        name, sh_type, offset, size, addralign = sh[0], sh[1], sh[4], sh[5], sh[8]
        if sh_type != _SHT_NOTE:
            continue
        label = "SHT_NOTE"
        if names is not None and names[4] + name < len(data):
            end = data.find(b"\0", names[4] + name)
            label = data[names[4] + name : end].decode("ascii", "replace")
        regions.append((label, offset, size, 8 if addralign == 8 else 4))
    if regions:
        return regions
    for ph in table(phoff, phentsize, phnum, ph_fmt):
        if ph[0] != _PT_NOTE:
            continue
        offset, filesz, align = (ph[2], ph[5], ph[7]) if is64 else (ph[1], ph[4], ph[7])
        regions.append(("PT_NOTE", offset, filesz, 8 if align == 8 else 4))
    return regions


def iter_notes(
    data: bytes, offset: int, size: int, align: int = 4
) -> Iterator[tuple[bytes, int, bytes]]:
    """``(name, type, descriptor)`` of each note in ``data[offset:offset+size]`` (the name
    without its NUL; ``namesz``, ``descsz``, ``type`` in the file's byte order)."""
    if offset + size > len(data):
        raise NoteError(f"note area at {offset:#x} (+{size}) is outside the file")
    order = "<" if data[5] == 1 else ">"
    pos, end = offset, offset + size
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from(order + "III", data, pos)
        name_at = pos + 12
        desc_at = name_at + _align(namesz, align)
        nxt = desc_at + _align(descsz, align)
        if desc_at + descsz > end:
            raise NoteError(
                f"note at {pos:#x} runs past its area (namesz {namesz}, descsz {descsz})"
            )
        name = data[name_at : name_at + namesz].rstrip(b"\0")
        yield name, ntype, data[desc_at : desc_at + descsz]
        pos = nxt


def parse_dlopen_json(descriptor: bytes) -> list[DlopenNote]:
    """The objects of one dlopen note's descriptor (JSON up to the first NUL)."""
    text = descriptor.split(b"\0", 1)[0]
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NoteError(f"dlopen note is not UTF-8 JSON: {exc}: {text[:80]!r}") from None
    if not isinstance(doc, list):
        raise NoteError(f"dlopen note is not a JSON array: {text[:80]!r}")
    notes: list[DlopenNote] = []
    for obj in doc:
        if not isinstance(obj, dict):
            raise NoteError(f"dlopen note entry is not an object: {obj!r}")
        sonames = obj.get("soname")
        if (not isinstance(sonames, list) or not sonames
                or not all(isinstance(s, str) and s for s in sonames)):
            raise NoteError(f"dlopen note entry without a soname array: {obj!r}")
        priority = obj.get("priority", "recommended")
        if priority not in PRIORITIES:
            raise NoteError(f"dlopen note priority {priority!r} is none of {', '.join(PRIORITIES)}")
        feature, description = obj.get("feature"), obj.get("description")
        if not isinstance(feature, str | None) or not isinstance(description, str | None):
            raise NoteError(f"dlopen note feature or description is not a string: {obj!r}")
        notes.append(DlopenNote(tuple(sonames), feature, description, priority))
    return notes


def read_dlopen_notes(data: bytes) -> list[DlopenNote]:
    """Every dlopen note object of an ELF file, in file order (found by owner and type in
    any note section, else in the ``PT_NOTE`` segments)."""
    out: list[DlopenNote] = []
    for _where, offset, size, align in note_regions(data):
        for name, ntype, desc in iter_notes(data, offset, size, align):
            if name == NOTE_OWNER and ntype == NT_DLOPEN_METADATA:
                out += parse_dlopen_json(desc)
    return out


def format_notes(notes: Sequence[DlopenNote]) -> str:
    """A table like ``systemd-analyze dlopen-metadata``'s (FEATURE PRIORITY SONAMES)."""
    width = max((len(n.feature or "-") for n in notes), default=7)
    return "\n".join(f"{n.feature or '-':<{width}}  {n.priority:<11}  {' | '.join(n.sonames)}"
                     for n in notes)


def needed_of(data: bytes) -> list[str]:
    """The ``DT_NEEDED`` names of an ELF file (``glibcroot.dynamic_strings``)."""
    try:
        return [s for tag, s in glibcroot.dynamic_strings(data) if tag == glibcroot.DT_NEEDED]
    except StopIteration:  # no SHT_DYNAMIC
        return []


# --------------------------------------------------------------------------------------------
# The private apt state (crossroot's, for trixie amd64)


def apt_update() -> None:
    """Refresh the private lists (once per build: versions named later must exist)."""
    with crossroot._locked(f"apt-{APT_SUITE}"):
        crossroot._apt_update(APT_SUITE)


def _apt_cache(*args: str) -> subprocess.CompletedProcess[str]:
    status = crossroot.cache_dir() / "apt" / APT_SUITE / "empty-status"
    if not status.exists():
        status.touch()
    return subprocess.run(
        ["apt-cache", *crossroot._apt_options(APT_SUITE), "-o", f"Dir::State::status={status}",
         *args],
        capture_output=True, text=True, env=glibcroot.host_env(), timeout=300, check=False,
    )  # fmt: skip


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    fields: Mapping[str, str]

    def relations(self) -> list[str]:
        """Package names of ``Pre-Depends``, ``Depends``, ``Recommends``, ``Suggests``, in
        order, alternatives included, versions and architecture qualifiers dropped."""
        out: list[str] = []
        for key in _RELATIONS:
            for alt in re.split(r"[,|]", self.fields.get(key, "")):
                name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>|:\S+", "", alt).strip()
                if name and name not in out:
                    out.append(name)
        return out


def _paragraphs(text: str) -> Iterator[dict[str, str]]:
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and "Version" in fields:
            yield fields


class AptIndex:
    """``apt-cache show`` of the private state, remembered (missing names too)."""

    def __init__(self) -> None:
        self._known: dict[str, Package | None] = {}

    def show(self, names: Sequence[str]) -> None:
        wanted = [n for n in dict.fromkeys(names) if n not in self._known]
        if not wanted:
            return
        proc = _apt_cache("show", "--no-all-versions", *wanted)
        for fields in _paragraphs(proc.stdout):
            if fields["Package"] in wanted and fields["Package"] not in self._known:
                self._known[fields["Package"]] = Package(fields["Package"], fields["Version"],
                                                         fields)
        for name in wanted:
            self._known.setdefault(name, None)

    def get(self, name: str) -> Package | None:
        self.show([name])
        return self._known[name]

    @staticmethod
    @functools.cache
    def prefixed(prefix: str) -> tuple[str, ...]:
        """Package names starting with ``prefix`` (``apt-cache pkgnames``), sorted."""
        return tuple(sorted(set(_apt_cache("pkgnames", prefix).stdout.split())))


def fetch(pkg: Package) -> Path:
    """The ``.deb`` of ``pkg`` at its exact version (``crossroot.fetch_deb``, cached)."""
    return crossroot.fetch_deb(pkg.name, ARCH, pkg.version, suite=APT_SUITE)


def _guest(member: str) -> str:
    """A tar member name as an absolute path with the merged-/usr aliases resolved."""
    path = "/" + member.removeprefix("./").lstrip("/")
    first, _, rest = path[1:].partition("/")
    if first in USR_ALIASES:
        path = f"/usr/{first}" + (f"/{rest}" if rest else "")
    return path.rstrip("/") or "/"


@functools.cache
def deb_libraries(deb: Path) -> dict[str, str]:
    """``{file name: guest path}`` of the files and symlinks a ``.deb`` ships in
    :data:`LIB_DIRS` (read from ``dpkg-deb --fsys-tarfile`` with :mod:`tarfile`)."""
    proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          env=glibcroot.host_env(), timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb} failed: {proc.stderr.decode()!r}")
    out: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        for member in tar:
            if not (member.isfile() or member.issym()):
                continue
            path = _guest(member.name)
            if os.path.dirname(path) in LIB_DIRS:
                out.setdefault(os.path.basename(path), path)
    return out


def unpack_into(deb: Path, root: Path) -> None:
    """``dpkg-deb --fsys-tarfile DEB | tar --keep-directory-symlink -x`` into ``root``."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          env=glibcroot.host_env()) as dpkg:
        tar = subprocess.run(
            ["tar", "-x", "--keep-directory-symlink", "-f", "-", "-C", str(root)],
            stdin=dpkg.stdout, capture_output=True, text=True, env=glibcroot.host_env(),
            check=False,
        )  # fmt: skip
        assert dpkg.stdout is not None
        dpkg.stdout.close()
    if dpkg.returncode != 0 or tar.returncode != 0:
        raise RuntimeError(f"unpacking {deb} failed (dpkg-deb {dpkg.returncode}, "
                           f"tar {tar.returncode}): {tar.stderr.strip()}")


# --------------------------------------------------------------------------------------------
# Assembling the root


def policy_names(soname: str) -> list[str]:
    """Debian policy 8.1's package names for ``soname``, each also with trixie's ``t64``."""
    base = soname.lower().replace("_", "-")
    if m := re.fullmatch(r"(?P<stem>.+)\.so\.(?P<ver>[0-9][0-9.]*)", base):
        stem, ver = m["stem"], m["ver"]
        names = [f"{stem}-{ver}" if stem[-1].isdigit() else f"{stem}{ver}"]
    elif m := re.fullmatch(r"(?P<stem>.+)\.so", base):
        names = [m["stem"]]
    else:
        return []
    return [v for n in names for v in (n, f"{n}t64")]


@dataclass
class Resolved:
    soname: str
    package: str
    path: str
    """Where the root has the name (a file or symlink in a library directory)."""
    file: str
    """``path`` with every symlink resolved inside the root."""
    how: str
    needed_by: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"package": self.package, "path": self.path, "file": self.file,
                "how": self.how, "needed_by": self.needed_by}


@dataclass
class Unmapped:
    soname: str
    tried: list[str]
    needed_by: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"tried": self.tried, "needed_by": self.needed_by}


class Assembler:
    """Unpacks packages into ``root`` and maps sonames to packages (module docstring)."""

    def __init__(self, root: Path, apt: AptIndex) -> None:
        self.root = root
        self.apt = apt
        self.installed: dict[str, Package] = {}
        self.why: dict[str, str] = {}
        self.provides: dict[str, tuple[str, str]] = {}
        self.resolved: dict[str, Resolved] = {}
        self.unmapped: dict[str, Unmapped] = {}

    def install(self, name: str, why: str) -> Package:
        if name in self.installed:
            return self.installed[name]
        pkg = self.apt.get(name)
        if pkg is None:
            raise RuntimeError(f"trixie {ARCH} has no package {name}")
        deb = fetch(pkg)
        say(f"unpacking {pkg.name} {pkg.version} ({why})")
        unpack_into(deb, self.root)
        self.installed[name] = pkg
        self.why[name] = why
        for lib, path in deb_libraries(deb).items():
            self.provides.setdefault(lib, (name, path))
        return pkg

    def candidates(self, soname: str, requester: str | None) -> Iterator[tuple[str, str]]:
        """``(package, how)`` in the order of the module docstring."""
        seen: set[str] = set()
        policy = policy_names(soname)
        hinted = self.installed[requester].relations() if requester in self.installed else []
        self.apt.show([*policy, *hinted])
        for name in policy:
            if name not in seen:
                seen.add(name)
                yield name, "policy name"
        for name in hinted:
            if name not in seen:
                seen.add(name)
                yield name, f"relation of {requester}"
        stem = re.sub(r"\.so(\..*)?$", "", soname.lower().replace("_", "-"))
        prefixed = [n for n in AptIndex.prefixed(stem)
                    if re.match(r"[-.0-9]", n[len(stem):]) and not _NOT_RUNTIME.search(n)]
        self.apt.show(prefixed[:_PREFIX_LIMIT])
        for name in prefixed[:_PREFIX_LIMIT]:
            if name not in seen:
                seen.add(name)
                yield name, f"package name prefix {stem}"

    def provider(self, soname: str, requester: str | None) -> tuple[str, str] | Unmapped:
        """``(package, how)`` of the package that ships ``soname`` (installing it), or what
        was tried."""
        if soname in self.provides:
            return self.provides[soname][0], f"shipped by {self.provides[soname][0]}"
        found = self.find(soname, requester)
        if not isinstance(found, Unmapped):
            self.install(found[0], f"ships {soname}")
        return found

    def find(self, soname: str, requester: str | None) -> tuple[str, str] | Unmapped:
        """Like :meth:`provider`, without installing anything."""
        tried: list[str] = []
        for name, how in self.candidates(soname, requester):
            pkg = self.apt.get(name)
            if pkg is None:
                tried.append(f"{name} (no such package)")
                continue
            if pkg.fields.get("Architecture") == "all":  # ships no amd64 library
                tried.append(f"{name} (Architecture: all)")
                continue
            if soname not in deb_libraries(fetch(pkg)):
                tried.append(f"{name} (does not ship it)")
                continue
            return name, how
        return Unmapped(soname, tried)

    def need(self, soname: str, requester: str | None, needed_by: str) -> Resolved | None:
        """Resolve ``soname`` and, once resolved, the ``DT_NEEDED`` closure of its file."""
        if soname in self.resolved:
            self.resolved[soname].needed_by.append(needed_by)
            return self.resolved[soname]
        if soname in self.unmapped:
            self.unmapped[soname].needed_by.append(needed_by)
            return None
        found = self.provider(soname, requester)
        if isinstance(found, Unmapped):
            found.needed_by.append(needed_by)
            self.unmapped[soname] = found
            say(f"UNMAPPED {soname} (needed by {needed_by}); tried: {', '.join(found.tried)}")
            return None
        package, how = found
        path = self.provides[soname][1]
        real = glibcroot.realpath_in_root(self.root, path)
        if not (self.root / real.lstrip("/")).is_file():
            raise RuntimeError(f"{package} ships {path}, but {real} is not a file in the root")
        res = Resolved(soname, package, path, real, how, [needed_by])
        self.resolved[soname] = res
        self.close(real, package)
        return res

    def close(self, guest: str, package: str) -> None:
        for name in needed_of((self.root / guest.lstrip("/")).read_bytes()):
            self.need(name, package, guest)


def _note_entry(note: DlopenNote, asm: Assembler) -> dict[str, Any]:
    entry = note.to_json()
    alternatives: list[dict[str, Any]] = []
    chosen = None
    for soname in note.sonames:
        if chosen is not None:  # the loader's first choice exists: recorded, not installed
            found = asm.find(soname, LIBRARY_PACKAGE)
            packaged = None if isinstance(found, Unmapped) else found[0]
            alternatives.append({"soname": soname, "status": "not needed",
                                 "packaged_by": packaged})
            continue
        res = asm.need(soname, LIBRARY_PACKAGE, f"dlopen note {note.feature}")
        if res is None:
            alternatives.append({"soname": soname, "status": "unmapped"})
        else:
            chosen = soname
            alternatives.append({"soname": soname, "status": "resolved", **res.to_json()})
    entry["alternatives"] = alternatives
    entry["resolved"] = chosen
    return entry


def recipe() -> dict[str, Any]:
    return {"schema": SCHEMA, "suite": SUITE, "arch": ARCH, "mirror": crossroot.MIRROR,
            "library": LIBRARY, "library_package": LIBRARY_PACKAGE,
            "base_packages": list(BASE_PACKAGES), "version": RECIPE_VERSION}


def read_stamp(root: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _rmtree(path: Path) -> None:
    """Remove ``path``; refuse if anything is mounted below it (a ``/proc`` left mounted)."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        mounted = [line.split()[1] for line in fh if line.split()[1].startswith(prefix)]
    if mounted:
        raise RuntimeError(f"{path} still has mounts ({', '.join(mounted)}); unmount them first")
    shutil.rmtree(path)


def du(path: Path) -> int:
    """Bytes allocated below ``path`` (``du -s``, symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                continue
    return total


def _assemble(work: Path) -> dict[str, Any]:
    apt_update()
    apt = AptIndex()
    apt.show([*BASE_PACKAGES, LIBRARY_PACKAGE])
    asm = Assembler(work, apt)
    for name in BASE_PACKAGES:
        asm.install(name, "base")
    for alias in USR_ALIASES:
        if not (work / alias).is_symlink():
            raise RuntimeError(f"/{alias} is not base-files' merged-/usr symlink")
    asm.install(LIBRARY_PACKAGE, f"ships {LIBRARY}")
    library = work / LIBRARY.lstrip("/")
    if not library.is_file():
        raise RuntimeError(f"{LIBRARY_PACKAGE} does not ship {LIBRARY}")
    asm.close(LIBRARY, LIBRARY_PACKAGE)
    notes = read_dlopen_notes(library.read_bytes())
    say(f"{len(notes)} dlopen notes in {LIBRARY}:\n{format_notes(notes)}")
    entries = [_note_entry(note, asm) for note in notes]

    (work / "proc").mkdir(exist_ok=True)
    (work / "var/cache/ldconfig").mkdir(parents=True, exist_ok=True)
    glibcroot.run_tool(["ldconfig", "-r", work])
    cache = (work / "etc/ld.so.cache").read_bytes()
    if not cache.startswith(NEW_CACHE_MAGIC):
        raise RuntimeError(f"/etc/ld.so.cache does not start with {NEW_CACHE_MAGIC!r}")
    ldconfig_version = glibcroot.run_tool(["ldconfig", "--version"]).stdout.splitlines()[0]

    (work / DLO.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trixie-dlo-") as tmp:
        src = Path(tmp) / "dlo.c"
        src.write_text(DLO_C)
        glibcroot.run_tool(["gcc", "-O2", "-Wall", "-o", work / DLO.lstrip("/"), src])
    (work / muslroot.LAUNCHER.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(muslroot.launcher_binary(), work / muslroot.LAUNCHER.lstrip("/"))

    return {
        "notes": entries,
        "sonames": {s: r.to_json() for s, r in sorted(asm.resolved.items())},
        "unmapped": {s: u.to_json() for s, u in sorted(asm.unmapped.items())},
        "packages": {n: {"version": p.version, "why": asm.why[n]}
                     for n, p in sorted(asm.installed.items())},
        "ld_so_cache": {"made_by": f"ldconfig -r ROOT ({ldconfig_version})",
                        "format": NEW_CACHE_MAGIC.decode()},
        "helpers": {DLO: "dlopen(NAME, RTLD_NOW) for each argument (this machine's gcc)",
                    muslroot.LAUNCHER: "muslroot's static launcher: env CWD [VAR=VALUE...] -- "
                                       "PROGRAM"},
    }


def build(dest: Path, *, force: bool = False) -> int:
    """Build ``dest`` (see the module docstring); 0 built or already there, 1 failed,
    2 refused."""
    wanted = recipe()
    if dest.exists():
        stamp = read_stamp(dest)
        if stamp is not None and stamp.get("recipe") == wanted:
            say(f"{dest}: already built ({stamp.get('built')}); nothing to do")
            return 0
        if not force:
            why = "was built with another recipe" if stamp else "was not built by this script"
            print(f"trixie_systemd: {dest} exists and {why}; give --force to rebuild it",
                  file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("trixie_systemd: unpacking packages as their owners needs root", file=sys.stderr)
        return 2
    missing = [t for t in ("apt-get", "apt-cache", "dpkg-deb", "tar", "ldconfig", "gcc",
                           "musl-gcc") if shutil.which(t) is None]
    if missing or not os.path.isfile(crossroot.KEYRING):
        print(f"trixie_systemd: missing: {' '.join(missing) or crossroot.KEYRING} "
              "(apt-get install debian-archive-keyring gcc musl-tools)", file=sys.stderr)
        return 2
    work = dest.with_name(dest.name + ".partial")
    if work.exists():
        _rmtree(work)
    work.mkdir(parents=True)
    work.chmod(0o755)
    start = time.monotonic()
    try:
        content = _assemble(work)
    except (RuntimeError, NoteError, OSError, subprocess.SubprocessError,
            crossroot.OracleUnavailable) as exc:
        print(f"trixie_systemd: failed: {exc}; the partial root stays in {work}",
              file=sys.stderr)
        return 1
    seconds = time.monotonic() - start
    doc = {"schema": SCHEMA, "recipe": wanted,
           "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "seconds": round(seconds, 1), "library": LIBRARY, **content}
    (work / STAMP).write_text(json.dumps(doc, indent=2) + "\n")
    if dest.exists():  # --force: the old root goes only once the new one is complete
        _rmtree(dest)
    work.rename(dest)
    unmapped = ", ".join(content["unmapped"]) or "none"
    say(f"{dest}: built in {seconds:.0f} s, {du(dest) / 2**20:.0f} MiB, "
        f"{len(content['packages'])} packages; unmapped sonames: {unmapped}")
    return 0


# --------------------------------------------------------------------------------------------
# Asking the real loader


@dataclass(frozen=True)
class LoadResult:
    soname: str
    message: str
    """``OK`` or dlopen's error."""
    mapped: tuple[tuple[str, str], ...]
    """``(requested name, path)`` of every object the dlopen mapped (itself first, then its
    dependencies), in order (its own ``LD_DEBUG=libs,files`` run)."""
    via_cache: bool
    """The named object's path came from ``/etc/ld.so.cache``."""

    @property
    def ok(self) -> bool:
        return self.message == "OK"


def run_dlo(root: Path, names: Sequence[str], env: Mapping[str, str] | None = None
            ) -> glibcroot.ProgramResult:
    """``DLO NAMES...`` in a chroot of ``root`` with exactly ``env`` (module docstring)."""
    if not (root / muslroot.LAUNCHER.lstrip("/")).is_file():
        (root / muslroot.LAUNCHER.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(muslroot.launcher_binary(), root / muslroot.LAUNCHER.lstrip("/"))
    return glibcroot.run_command(muslroot.launcher_argv(root, [DLO, *names], env=env))


def _messages(stdout: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stdout.splitlines():
        name, sep, message = line.partition(" => ")
        if sep:
            out[name] = message
    return out


def check(root: Path) -> tuple[glibcroot.ProgramResult, list[LoadResult]]:
    """Every soname of every note of ``root``'s library, dlopen'ed by the real loader: all
    in one process, then each in its own with ``LD_DEBUG=libs,files``."""
    notes = read_dlopen_notes((root / LIBRARY.lstrip("/")).read_bytes())
    names = list(dict.fromkeys(s for n in notes for s in n.sonames))
    together = run_dlo(root, names)
    results: list[LoadResult] = []
    for name in names:
        run = run_dlo(root, [name], {"LD_DEBUG": "libs,files"})
        requests, _ = glibcroot.parse_debug(run.stderr)
        first = next((i for i, r in enumerate(requests) if r.name == name), len(requests))
        mapped = tuple((r.name, r.tries[-1].path) for r in requests[first:]
                       if r.mapped and r.tries)
        own = [r for r in requests[first:] if r.name == name and r.mapped and r.tries]
        via_cache = bool(own) and own[0].tries[-1].phase == "cache"
        message = _messages(run.stdout).get(name, f"no answer (status {run.status})")
        results.append(LoadResult(name, message, mapped, via_cache))
    return together, results


def report_check(root: Path) -> int:
    together, results = check(root)
    stamp = read_stamp(root) or {}
    chosen = {e.get("resolved") for e in stamp.get("notes", [])} - {None}
    say(f"$ {' '.join(together.argv)}  [rc={together.status}]")
    print(together.stdout, end="")
    bad = 0
    for r in results:
        where = next((p for n, p in r.mapped if n == r.soname), None)
        via = "ld.so.cache" if r.via_cache else "search path"
        extra = f" (+{len(r.mapped) - 1} dependencies mapped)" if len(r.mapped) > 1 else ""
        line = f"{r.soname}: {r.message}" + (f"; {where} via {via}{extra}" if where else "")
        print(line)
        if r.soname in chosen and not r.ok:
            bad = 1
    return bad


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Build a Debian 13 amd64 root with libsystemd-shared-257.so, its "
        "DT_NEEDED closure and the libraries its dlopen notes name (see the module docstring).",
        epilog="Exit status: 0 built or already there (--check: every resolved note soname "
        "loads), 1 the build failed (or one does not load), 2 bad usage.")
    p.add_argument("dest", type=Path, nargs="?", default=DEFAULT_DEST,
                   help=f"where the root goes (default: {DEFAULT_DEST})")
    p.add_argument("--force", action="store_true",
                   help="replace an existing DEST that was not built with this recipe")
    p.add_argument("--check", action="store_true",
                   help="then dlopen every note soname with the root's real loader in a chroot")
    p.add_argument("--notes", type=Path, metavar="ELF",
                   help="only print the dlopen notes of ELF (a host file) and exit")
    args = p.parse_args(argv)
    if args.notes is not None:
        try:
            notes = read_dlopen_notes(args.notes.read_bytes())
        except (OSError, NoteError) as exc:
            print(f"trixie_systemd: {args.notes}: {exc}", file=sys.stderr)
            return 2
        print(json.dumps([n.to_json() for n in notes], indent=2))
        return 0
    status = build(args.dest.absolute(), force=args.force)
    if status == 0 and args.check:
        status = report_check(args.dest.absolute())
    return status


if __name__ == "__main__":
    sys.exit(main())
