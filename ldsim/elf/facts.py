"""ELF facts: what a file says about itself, not what a loader decides.

DT_RPATH and DT_RUNPATH are kept separate and unexpanded: ``None`` when the tag is absent,
a tuple with one raw string per occurrence otherwise (both loaders use the last one).
Which list wins is loader logic, and glibc and musl disagree.
"""

from __future__ import annotations

from enum import IntEnum

from ldsim.records import record


class ElfClass(IntEnum):
    """``e_ident[EI_CLASS]``."""

    ELF32 = 1
    ELF64 = 2


class ElfData(IntEnum):
    """``e_ident[EI_DATA]``: the byte order."""

    LSB = 1
    MSB = 2


class ElfType(IntEnum):
    """``e_type``."""

    NONE = 0
    REL = 1
    EXEC = 2
    DYN = 3
    CORE = 4


class OsAbi(IntEnum):
    """``e_ident[EI_OSABI]``."""

    SYSV = 0
    HPUX = 1
    NETBSD = 2
    GNU = 3
    SOLARIS = 6
    AIX = 7
    IRIX = 8
    FREEBSD = 9
    OPENBSD = 12


class Machine(IntEnum):
    """``e_machine`` values of the architectures Linux distributions and snaps ship for."""

    I386 = 3
    MIPS = 8
    PPC = 20
    PPC64 = 21
    S390 = 22
    ARM = 40
    X86_64 = 62
    AARCH64 = 183
    RISCV = 243
    LOONGARCH = 258


class SegmentType(IntEnum):
    """``p_type`` of the program headers the loaders (and the fixer) read."""

    LOAD = 1
    DYNAMIC = 2
    INTERP = 3
    NOTE = 4


class SectionType(IntEnum):
    """``sh_type`` values the fixer's layout checks need."""

    NOTE = 7
    NOBITS = 8


class X86Isa(IntEnum):
    """The x86 ISA level bits of ``GNU_PROPERTY_X86_ISA_1_NEEDED`` (``elf/elf.h``) and of a
    CPU's ``isa_1`` (``sysdeps/x86/get-isa-level.h``)."""

    BASELINE = 1 << 0
    V2 = 1 << 1
    V3 = 1 << 2
    V4 = 1 << 3


ELFMAG = b"\x7fELF"
EV_CURRENT = 1
NT_GNU_ABI_TAG = 1  # owner "GNU": the OS and minimum kernel (glibc open_verify)
NT_GO_BUILDID = 4  # owner "Go"
NT_GNU_PROPERTY_TYPE_0 = 5  # owner "GNU": .note.gnu.property
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
SHN_XINDEX = 0xFFFF
PN_XNUM = 0xFFFF
VER_FLG_WEAK = 0x2  # vna_flags: a weak version reference

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



def machine_name(machine: int) -> str:
    """``x86_64``, ``aarch64``...; ``machine N`` for a value ldsim has no name for."""
    try:
        return Machine(machine).name.lower()
    except ValueError:
        return f"machine {machine}"


def class_name(elf_class: int) -> str:
    """``ELF32``, ``ELF64``; ``class N`` for anything else."""
    try:
        return ElfClass(elf_class).name
    except ValueError:
        return f"class {elf_class}"


_CLASS64 = int(ElfClass.ELF64)  # (a module name is read faster than an enum member)


def phentsize_of(elf_class: int) -> int:
    """The size of one program header of this class (``sizeof (ElfW(Phdr))``)."""
    return 56 if elf_class == _CLASS64 else 32


def ehdr_size(elf_class: int) -> int:
    """The size of the ELF header of this class."""
    return 64 if elf_class == _CLASS64 else 52


_ET_EXEC = int(ElfType.EXEC)  # (a module name is read faster than an enum member)
LOADABLE_TYPES = frozenset({int(ElfType.EXEC), int(ElfType.DYN)})
"""The ``e_type`` values a loader maps and execve starts (every other is refused)."""


@record(frozen=True, slots=True)
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
    flags: int = 0  # e_flags: ARM and RISC-V float ABI, PowerPC64 ELF ABI version


@record(frozen=True, slots=True)
class VersionNeed:
    """One DT_VERNEED record: versions required from the library named ``file``."""

    file: str
    versions: tuple[tuple[str, int], ...]  # (version name, vna_flags)


@record(frozen=True, slots=True)
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
    x86_isa_needed: int = 0  # GNU_PROPERTY_X86_ISA_1_NEEDED as glibc reads it (0: none)
    interp_error: str | None = None  # a PT_INTERP the kernel refuses (then interp is None)
    phdr_error: str | None = None  # program headers execve refuses (load_elf_phdrs)
    empty_dynamic: bool = False  # PT_DYNAMIC of 0 bytes in the file: separate debuginfo

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
    def is_executable(self) -> bool:
        """``ET_EXEC``: a non-PIE executable (no loader maps it as a dependency)."""
        return self.ident.e_type == _ET_EXEC

    @property
    def is_pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)

    @property
    def is_program(self) -> bool:
        """A program: it names an interpreter and is an executable, a PIE, or has no SONAME
        (a library that also runs, such as a staged ``libc.so.6``, is a library)."""
        return self.interp is not None and (self.is_executable or self.is_pie
                                            or self.soname is None)

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
