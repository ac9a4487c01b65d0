"""ELF facts: what a file says about itself, not what a loader decides.

DT_RPATH and DT_RUNPATH are kept separate and unexpanded: ``None`` when the tag is absent,
a tuple with one raw string per occurrence otherwise (both loaders use the last one).
Which list wins is loader logic, and glibc and musl disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ElfClass(IntEnum):
    ELF32 = 1
    ELF64 = 2


class ElfData(IntEnum):
    LSB = 1
    MSB = 2


class ElfType(IntEnum):
    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class OsAbi(IntEnum):
    SYSV = 0
    HPUX = 1
    NETBSD = 2
    GNU = 3
    SOLARIS = 6
    AIX = 7
    IRIX = 8
    FREEBSD = 9
    OPENBSD = 12


# Dynamic tags and flags this project reads (elf/elf.h).
DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_FLAGS = 30
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERSYM = 0x6FFFFFF0
DT_VERDEF = 0x6FFFFFFC
DT_VERDEFNUM = 0x6FFFFFFD
DT_VERNEED = 0x6FFFFFFE
DT_VERNEEDNUM = 0x6FFFFFFF

DF_ORIGIN = 0x1
DF_1_NODEFLIB = 0x800
DF_1_ORIGIN = 0x80
DF_1_PIE = 0x08000000

EM_NAMES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390", 40: "arm", 62: "x86_64",
            183: "aarch64", 243: "riscv", 258: "loongarch"}


def machine_name(machine: int) -> str:
    return EM_NAMES.get(machine, f"machine {machine}")


@dataclass(frozen=True, slots=True)
class ElfIdent:
    """The identification bytes and header fields the loader's ``open_verify`` checks."""

    elf_class: int
    data: int
    ident_version: int
    osabi: int
    abiversion: int
    padding_zero: bool
    e_type: int
    machine: int
    version: int
    phentsize: int


@dataclass(frozen=True, slots=True)
class VersionNeed:
    """One DT_VERNEED record: versions required from the library named ``file``."""

    file: str
    versions: tuple[tuple[str, int], ...]  # (version name, vna_flags)


@dataclass(frozen=True, slots=True)
class ElfFacts:
    """Facts about one ELF file, as the dynamic loader would see them."""

    ident: ElfIdent
    interp: str | None
    has_dynamic: bool
    needed: tuple[str, ...]
    soname: str | None
    rpath: tuple[str, ...] | None
    runpath: tuple[str, ...] | None
    flags: int
    flags_1: int
    version_needs: tuple[VersionNeed, ...] | None
    version_defs: tuple[str, ...] | None
    load_extent: int  # largest p_offset + p_filesz over PT_LOAD: the file must be this long
    version_error: str | None = None  # a malformed DT_VERNEED/DT_VERDEF, said in words
    has_versym: bool = False  # DT_VERSYM present (a version index for every dynamic symbol)

    @property
    def elf_class(self) -> int:
        return self.ident.elf_class

    @property
    def machine(self) -> int:
        return self.ident.machine

    @property
    def e_type(self) -> int:
        return self.ident.e_type

    @property
    def is_pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)

    @property
    def effective_rpath(self) -> str | None:
        """The DT_RPATH string glibc uses (the last one), or None when absent."""
        return self.rpath[-1] if self.rpath else None

    @property
    def effective_runpath(self) -> str | None:
        return self.runpath[-1] if self.runpath else None
