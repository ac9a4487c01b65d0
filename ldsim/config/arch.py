"""What glibc 2.36's ``ld.so`` does differently on each architecture snaps ship for.

Everything here is read from glibc 2.36's sources, per architecture:

* which ``/etc/ld.so.cache`` entries the loader accepts (``_dl_cache_check_flags`` in
  ``sysdeps/unix/sysv/linux/*/dl-cache.h``, flag values of ``sysdeps/generic/ldconfig.h``):
  x86-64 ``0x0303`` only; i386 ``0x0003`` or ``0x0001`` (the generic rule); aarch64 ``0x0a03``;
  armhf ``0x0903`` or ``0x0003``; ppc64le ``0x0503``; s390x ``0x0403``; riscv64 lp64d
  ``0x1003``;
* the legacy hwcap bits that matter (``HWCAP_IMPORTANT`` of ``dl-procinfo.h`` or
  ``sysdeps/x86/dl-hwcap.h``) with their names (``_dl_*_cap_flags``), and the platforms that
  have a bit of their own in cache entries (``_dl_string_platform``);
* the glibc-hwcaps subdirectories (``sysdeps/x86_64/dl-hwcaps-subdirs.c``,
  ``sysdeps/powerpc/powerpc64/le/dl-hwcaps-subdirs.c``, ``sysdeps/s390/s390-64/
  dl-hwcaps-subdirs.c``; the other architectures have none in 2.36);
* the checks ``open_verify`` (``elf/dl-load.c``) makes beyond class and machine:
  ``elf_machine_matches_host`` (``sysdeps/*/dl-machine.h``: the RISC-V float ABI, the
  PowerPC64 ELF ABI version, s390's old machine number) and ARM's float ABI (upstream's
  ``VALID_ELF_HEADER`` in ``sysdeps/unix/sysv/linux/arm/ldsodefs.h`` would abort with
  "internal error"; Debian's armhf loader skips the file instead, and accepts
  ``ELFOSABI_ARM_AEABI``). Debian's loaders also compare ``e_machine``, read in their own
  byte order, before the byte order, so a library of another architecture of the other
  byte order is skipped, not fatal (both measured by ``tests/oracle/test_arches.py``);
* the loader Debian's ``ldd`` runs (``RTLDLIST``), the musl loader's name
  (``ld-musl-ARCH.so.1``), and the CPU a program of the architecture sees when nothing says
  otherwise (a documented typical machine: ``--hwcaps``, ``--platform`` and
  ``--legacy-hwcaps`` say otherwise).

The architecture of a process is its program's (``e_machine``, class, data and for ARM and
RISC-V the float ABI of ``e_flags``): an i386 program on an x86-64 machine gets i386's
cache entries, subdirectories and ``$PLATFORM`` (``i686``).
"""

from __future__ import annotations

from ldsim.config.env import LoaderEnv, cpu_defaults
from ldsim.elf.facts import ElfClass, ElfData, Machine
from ldsim.records import field, record, replace

# flags of an ld.so.cache entry (sysdeps/generic/ldconfig.h)
FLAG_ELF = 0x0001
FLAG_ELF_LIBC6 = 0x0003
FLAG_X8664_LIB64 = 0x0300
FLAG_S390_LIB64 = 0x0400
FLAG_POWERPC_LIB64 = 0x0500
FLAG_ARM_LIBHF = 0x0900
FLAG_AARCH64_LIB64 = 0x0A00
FLAG_ARM_LIBSF = 0x0B00
FLAG_RISCV_FLOAT_ABI_SOFT = 0x0F00
FLAG_RISCV_FLOAT_ABI_DOUBLE = 0x1000

EM_S390_OLD = 0xA390
ELFOSABI_ARM_AEABI = 97
_IFUNC_ABI = frozenset({Machine.X86_64, Machine.I386, Machine.PPC, Machine.PPC64,
                        Machine.RISCV})  # (and sparc, which ldsim has no table for)
EF_ARM_EABIMASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000
EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400
EF_RISCV_FLOAT_ABI = 0x6
EF_RISCV_FLOAT_ABI_SOFT = 0x0
EF_RISCV_FLOAT_ABI_DOUBLE = 0x4
EF_PPC64_ABI = 0x3


@record(frozen=True, slots=True)
class Cpu:
    """What the loader learns about the CPU: the active glibc-hwcaps subdirectories (best
    first), ``$PLATFORM`` (``AT_PLATFORM``, or glibc's own choice on x86; ``None``: the
    kernel gives none and ``$PLATFORM`` does not expand) and the names of the legacy hwcap
    bits of ``HWCAP_IMPORTANT`` that are set, in bit order."""

    hwcaps: tuple[str, ...]
    platform: str | None
    legacy: tuple[str, ...]


@record(frozen=True, slots=True)
class Arch:
    """One architecture's loader facts (see the module docstring for the sources)."""

    name: str  # x86_64, i386, aarch64, armhf, armel, ppc64le, s390x, riscv64
    debian: str  # Debian's name: amd64, i386, arm64, armhf, armel, ppc64el, s390x, riscv64
    machine: int
    elf_class: int
    data: int
    triplet: str  # the multiarch directory name
    ldd_loader: str  # Debian's RTLDLIST: the loader `ldd` runs on a file that names none
    musl: str  # the ARCH of ld-musl-ARCH.so.1
    cache_flags: frozenset[int]  # _dl_cache_check_flags
    cache_default_id: int  # _DL_CACHE_DEFAULT_ID: an entry with these flags ends the scan
    hwcap_bits: dict[str, int] = field(default_factory=dict)  # HWCAP_IMPORTANT name -> bit
    platform_bits: dict[str, int] = field(default_factory=dict)  # platform -> cache hwcap bit
    hwcaps_names: tuple[str, ...] = ()  # glibc-hwcaps subdirectories, best first
    default_cpu: Cpu = Cpu((), None, ())
    signed_char: bool = False  # how _dl_cache_libcmp compares bytes >= 0x80
    platforms: tuple[str, ...] = ()  # AT_PLATFORM values its kernels give (and glibc's own)
    float_abi: str = ""  # ARM: hard | soft; RISC-V: double | soft

    @property
    def fallback_dirs(self) -> tuple[str, ...]:
        """The default directories when the loader cannot be read (Debian's layout)."""
        return (f"/lib/{self.triplet}", f"/usr/lib/{self.triplet}", "/lib", "/usr/lib")

    def accepts_cache_flags(self, flags: int) -> bool:
        return flags in self.cache_flags

    def hwcap_mask(self, names: tuple[str, ...]) -> int:
        """``GLRO(dl_hwcap) & hwcap_mask`` for the legacy hwcap ``names``."""
        bits = 0
        for n in names:
            if n in self.hwcap_bits:
                bits |= 1 << self.hwcap_bits[n]
        return bits

    @property
    def platform_mask(self) -> int:
        """``_DL_HWCAP_PLATFORM``: the bits of a cache entry that name a platform."""
        mask = 0
        for bit in self.platform_bits.values():
            mask |= 1 << bit
        return mask

    def platform_bit(self, platform: str | None) -> int | None:
        """The cache bit of ``platform`` (``_dl_string_platform``), None when it has none."""
        if platform is None or platform not in self.platform_bits:
            return None
        return 1 << self.platform_bits[platform]

    def header_problem(self, machine: int, osabi: int, flags: int) -> tuple[str, str] | None:
        """What this loader's ``open_verify`` says about a candidate of the right class and
        byte order: None when it fits, ``("skip", why)`` when ``elf_machine_matches_host``
        refuses it (the search goes on, as for a wrong machine), ``("fatal", message)`` when
        the header check fails (ARM's float ABI: ``internal error``, the load aborts)."""
        if self.machine == Machine.ARM:
            eabi5 = flags & EF_ARM_EABIMASK == EF_ARM_EABI_VER5
            wrong = EF_ARM_ABI_FLOAT_SOFT if self.float_abi == "hard" else EF_ARM_ABI_FLOAT_HARD
            if eabi5 and flags & wrong and machine == Machine.ARM:
                # Upstream's VALID_ELF_HEADER makes this a fatal "internal error"; Debian's
                # loader checks the float ABI with the machine and skips the file (the
                # oracle, tests/oracle/test_arches.py, runs Debian's armhf ld.so).
                return ("skip", f"{'soft' if self.float_abi == 'hard' else 'hard'}-float "
                        "library: not this loader's float ABI")
        ok_machine = machine == self.machine or (self.machine == Machine.S390
                                                 and machine == EM_S390_OLD)
        if not ok_machine:
            return ("skip", f"wrong machine {machine}")
        if self.machine == Machine.RISCV:
            want = EF_RISCV_FLOAT_ABI_DOUBLE if self.float_abi == "double" \
                else EF_RISCV_FLOAT_ABI_SOFT
            if flags & EF_RISCV_FLOAT_ABI != want:
                return ("skip", "a different RISC-V float ABI")
        if self.machine == Machine.PPC64 and flags & EF_PPC64_ABI not in (0, 2):
            return ("skip", f"PowerPC64 ELF ABI version {flags & EF_PPC64_ABI}, not 2")
        return None

    def valid_osabi(self, osabi: int) -> bool:
        """``VALID_ELF_OSABI``: SYSV and GNU, and on ARM also ``ELFOSABI_ARM_AEABI``."""
        return osabi in (0, 3) or (self.machine == Machine.ARM and osabi == ELFOSABI_ARM_AEABI)

    def valid_abiversion(self, osabi: int, version: int) -> bool:
        """``VALID_ELF_ABIVERSION``: 0, or for ELFOSABI_GNU below ``LIBC_ABI_MAX``, which
        counts the ABIs of glibc 2.36's ``libc-abis`` its target has (scripts/gen-libc-abis):
        DEFAULT, UNIQUE, ABSOLUTE, and IFUNC on x86, powerpc, sparc and RISC-V only (an
        aarch64 loader refuses ABI version 3, an x86-64 one takes it)."""
        return version == 0 or (osabi == 3 and version < (4 if self.machine in _IFUNC_ABI
                                                          else 3))

    def check_cpu(self, platform: str | None, legacy: tuple[str, ...] | None) -> list[str]:
        """Why a ``--platform`` or ``--legacy-hwcaps`` value is not what a program of this
        architecture can see (the loader would never search such a subdirectory)."""
        out = []
        if platform and self.platforms and platform not in self.platforms:
            out.append(f"--platform: {platform!r} is not an AT_PLATFORM of {self.name} "
                       f"({', '.join(self.platforms)})")
        elif platform and not self.platforms and self.debian:
            out.append(f"--platform: Linux gives {self.name} programs no AT_PLATFORM")
        bad = [n for n in legacy or () if n not in self.hwcap_bits]
        if bad and self.debian:
            known = ", ".join(self.hwcap_bits) or "none"
            out.append(f"--legacy-hwcaps: {bad[0]!r} is not a hwcap glibc 2.36's {self.name} "
                       f"loader searches (HWCAP_IMPORTANT: {known})")
        return out

    def check_hwcaps(self, levels: tuple[str, ...]) -> str | None:
        """Why ``levels`` are not this architecture's glibc-hwcaps subdirectories (or None)."""
        bad = [x for x in levels if x not in self.hwcaps_names]
        if not bad:
            return None
        known = ", ".join(self.hwcaps_names) or "none (glibc 2.36 has no glibc-hwcaps "\
            "subdirectories here)"
        return f"{bad[0]!r} is not a glibc-hwcaps level of {self.name}: {known}"


_X86_PLATFORMS = {"i586": 48, "i686": 49, "haswell": 50, "xeon_phi": 51}
_PPC_PLATFORMS = ("power4", "ppc970", "power5", "power5+", "power6", "ppc-cell-be", "power6x",
                  "power7", "ppca2", "ppc405", "ppc440", "ppc464", "ppc476", "power8", "power9",
                  "power10")
_S390_PLATFORMS = ("g5", "z900", "z990", "z9-109", "z10", "z196", "zEC12", "z13", "z14", "z15",
                   "z16")

X86_64 = Arch(
    "x86_64", "amd64", Machine.X86_64, ElfClass.ELF64, ElfData.LSB, "x86_64-linux-gnu",
    "/lib64/ld-linux-x86-64.so.2", "x86_64", frozenset({FLAG_ELF_LIBC6 | FLAG_X8664_LIB64}),
    FLAG_ELF_LIBC6 | FLAG_X8664_LIB64,
    hwcap_bits={"x86_64": 1, "avx512_1": 2},
    platform_bits={k: v for k, v in _X86_PLATFORMS.items() if k in ("haswell", "xeon_phi")},
    hwcaps_names=("x86-64-v4", "x86-64-v3", "x86-64-v2"),
    default_cpu=Cpu(("x86-64-v4", "x86-64-v3", "x86-64-v2"), "x86_64", ("x86_64",)),
    signed_char=True, platforms=("x86_64", "haswell", "xeon_phi"))
I386 = Arch(
    "i386", "i386", Machine.I386, ElfClass.ELF32, ElfData.LSB, "i386-linux-gnu",
    "/lib/ld-linux.so.2", "i386", frozenset({FLAG_ELF, FLAG_ELF_LIBC6}), FLAG_ELF_LIBC6,
    hwcap_bits={"sse2": 0},
    platform_bits={k: v for k, v in _X86_PLATFORMS.items() if k in ("i586", "i686")},
    default_cpu=Cpu((), "i686", ("sse2",)), signed_char=True, platforms=("i686", "i586"))
AARCH64 = Arch(
    "aarch64", "arm64", Machine.AARCH64, ElfClass.ELF64, ElfData.LSB, "aarch64-linux-gnu",
    "/lib/ld-linux-aarch64.so.1", "aarch64",
    frozenset({FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64}), FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64,
    hwcap_bits={"atomics": 8},
    # a Cortex-A72 (Raspberry Pi 4): ARMv8.0, no LSE atomics
    default_cpu=Cpu((), "aarch64", ()), platforms=("aarch64",))
ARMHF = Arch(
    "armhf", "armhf", Machine.ARM, ElfClass.ELF32, ElfData.LSB, "arm-linux-gnueabihf",
    "/lib/ld-linux-armhf.so.3", "armhf",
    # ARM's dl-cache.h defines no _DL_CACHE_DEFAULT_ID: the generic 3 (FLAG_ELF_LIBC6), so a
    # hard-float entry does not end the scan (in an old-format cache the last match wins)
    frozenset({FLAG_ELF_LIBC6 | FLAG_ARM_LIBHF, FLAG_ELF_LIBC6}), FLAG_ELF_LIBC6,
    hwcap_bits={"vfp": 6, "neon": 12},
    # an ARMv7 kernel (a Raspberry Pi 2/3 on a 32-bit system): AT_PLATFORM v7l
    default_cpu=Cpu((), "v7l", ("vfp", "neon")), float_abi="hard",
    platforms=("v5l", "v6l", "v7l", "v8l"))
ARMEL = replace(
    ARMHF, name="armel", debian="armel", triplet="arm-linux-gnueabi",
    ldd_loader="/lib/ld-linux.so.3", musl="arm",
    cache_flags=frozenset({FLAG_ELF_LIBC6 | FLAG_ARM_LIBSF, FLAG_ELF_LIBC6}),
    default_cpu=Cpu((), "v7l", ("vfp",)), float_abi="soft")
PPC64LE = Arch(
    "ppc64le", "ppc64el", Machine.PPC64, ElfClass.ELF64, ElfData.LSB,
    "powerpc64le-linux-gnu", "/lib64/ld64.so.2", "powerpc64le",
    frozenset({FLAG_ELF_LIBC6 | FLAG_POWERPC_LIB64}), FLAG_ELF_LIBC6 | FLAG_POWERPC_LIB64,
    hwcap_bits={"dfp": 10, "altivec": 28},
    platform_bits={name: 32 + i for i, name in enumerate(_PPC_PLATFORMS)},
    hwcaps_names=("power10", "power9"),
    # a POWER9 machine
    default_cpu=Cpu(("power9",), "power9", ("dfp", "altivec")), platforms=_PPC_PLATFORMS)
S390X = Arch(
    "s390x", "s390x", Machine.S390, ElfClass.ELF64, ElfData.MSB, "s390x-linux-gnu",
    "/lib/ld64.so.1", "s390x", frozenset({FLAG_ELF_LIBC6 | FLAG_S390_LIB64}),
    FLAG_ELF_LIBC6 | FLAG_S390_LIB64,
    hwcap_bits={"zarch": 1, "ldisp": 4, "eimm": 5, "dfp": 6, "vx": 11, "vxe": 13, "vxe2": 15},
    platform_bits={name: 32 + i for i, name in enumerate(_S390_PLATFORMS)},
    hwcaps_names=("z16", "z15", "z14", "z13"),
    # an IBM z15
    default_cpu=Cpu(("z15", "z14", "z13"), "z15",
                    ("zarch", "ldisp", "eimm", "dfp", "vx", "vxe", "vxe2")),
    platforms=_S390_PLATFORMS)
RISCV64 = Arch(
    "riscv64", "riscv64", Machine.RISCV, ElfClass.ELF64, ElfData.LSB, "riscv64-linux-gnu",
    "/lib/ld-linux-riscv64-lp64d.so.1", "riscv64",
    frozenset({FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_DOUBLE}),
    FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_DOUBLE,
    # Linux gives RISC-V programs no AT_PLATFORM: $PLATFORM does not expand
    default_cpu=Cpu((), None, ()), float_abi="double")

RISCV64_LP64 = replace(
    RISCV64, name="riscv64-soft-float", ldd_loader="/lib/ld-linux-riscv64-lp64.so.1",
    cache_flags=frozenset({FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_SOFT}),
    cache_default_id=FLAG_ELF_LIBC6 | FLAG_RISCV_FLOAT_ABI_SOFT, float_abi="soft")

ARCHES: tuple[Arch, ...] = (X86_64, I386, AARCH64, ARMHF, ARMEL, PPC64LE, S390X, RISCV64)
KNOWN_HWCAPS: tuple[str, ...] = tuple(dict.fromkeys(
    n for a in ARCHES for n in a.hwcaps_names))


def generic(machine: int, elf_class: int, data: int) -> Arch:
    """What ldsim assumes of an architecture it has no table for: glibc's generic rules
    (``sysdeps/generic``: cache entries flagged ``libc6`` or ``ELF``, no legacy hwcap bits, no
    glibc-hwcaps subdirectories) and a CPU with no ``AT_PLATFORM``."""
    return Arch(f"machine {machine}", "", machine, elf_class, data, "", "", "",
                frozenset({FLAG_ELF, FLAG_ELF_LIBC6}), FLAG_ELF_LIBC6)


def arch_of(machine: int, elf_class: int, data: int, flags: int = 0) -> Arch | None:
    """The architecture of an ELF file (None: one glibc's model here does not know)."""
    if machine == Machine.ARM:
        soft = flags & EF_ARM_EABIMASK == EF_ARM_EABI_VER5 and flags & EF_ARM_ABI_FLOAT_SOFT
        return ARMEL if soft else ARMHF
    if machine == Machine.RISCV and flags & EF_RISCV_FLOAT_ABI != EF_RISCV_FLOAT_ABI_DOUBLE:
        return RISCV64_LP64 if elf_class == ElfClass.ELF64 else None
    if machine == EM_S390_OLD:
        machine = Machine.S390
    for a in ARCHES:
        if a.machine == machine and a.elf_class == elf_class and a.data == data \
                and a.float_abi in ("", "hard", "double"):
            return a
    return None


def by_name(name: str) -> Arch | None:
    """An architecture by ldsim's or Debian's name (``arm64`` is ``aarch64``)."""
    for a in ARCHES:
        if name in (a.name, a.debian):
            return a
    return None


def _x86_cpu(arch: Arch, cpuinfo: str) -> Cpu:
    """This machine's x86 CPU as a program of ``arch`` sees it (``init_cpu_features``)."""
    levels, platform, legacy = cpu_defaults(cpuinfo)
    if arch is X86_64:
        return Cpu(levels, platform, legacy)
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            break
    # 32-bit: HWCAP_X86_SSE2 if SSE2; platform i686 with CMOV (and CX8), else i586
    return Cpu((), "i686" if {"cmov", "cx8"} <= flags else "i586" if "cx8" in flags else None,
               ("sse2",) if "sse2" in flags else ())


def process_env(env: LoaderEnv, arch: Arch | None) -> LoaderEnv:
    """``env`` with its CPU made concrete for a program of ``arch``: what the user gave
    (``hwcaps``, ``platform``, ``legacy_hwcap_names`` not None) stays; the rest comes from
    the machine ``env.cpuinfo`` describes when it can run the program natively (x86-64 and
    i386 programs on an x86 machine), else from the architecture's typical CPU.

    Both are frozen records: the answer for the same two objects is always the same one,
    remembered by their identity (program after program of a scan asks with the same env
    and one or two architectures; the entry keeps both alive)."""
    key = (id(env), id(arch))
    hit = _PROCESS_ENVS.get(key)
    if hit is not None and hit[0] is env and hit[1] is arch:
        return hit[2]
    made = _process_env(env, arch)
    if len(_PROCESS_ENVS) >= _PROCESS_ENVS_MAX:
        _PROCESS_ENVS.clear()
    _PROCESS_ENVS[key] = (env, arch, made)
    return made


_PROCESS_ENVS: dict[tuple[int, int], tuple[LoaderEnv, Arch | None, LoaderEnv]] = {}
_PROCESS_ENVS_MAX = 64


def _process_env(env: LoaderEnv, arch: Arch | None) -> LoaderEnv:
    a = arch or generic(0, 0, 0)
    if env.legacy_hwcap_names and all(n in a.hwcap_bits for n in env.legacy_hwcap_names):
        # the loader takes them in bit order, whatever order they were given in
        env = replace(env, legacy_hwcap_names=tuple(sorted(
            dict.fromkeys(env.legacy_hwcap_names), key=a.hwcap_bits.__getitem__)))
    if a is I386:
        # No glibc-hwcaps subdirectories on i386, but its loader checks the x86 ISA level
        # (GNU_PROPERTY_X86_ISA_1_NEEDED) against the CPU too: x86-64 levels given as
        # --hwcaps describe that CPU; else it is this machine's.
        given = tuple(h for h in env.hwcaps or () if h.startswith("x86-64-"))
        isa = env.isa
        if isa is None:
            isa = given if given else (cpu_defaults(env.cpuinfo)[0] if env.cpuinfo
                                       and "flags" in env.cpuinfo else ())
        env = replace(env, isa=isa, hwcaps=() if env.hwcaps is not None else None)
    if env.hwcaps is not None and env.platform is not None and env.legacy_hwcap_names \
            is not None:
        return env
    cpu = a.default_cpu
    if env.cpuinfo and a in (X86_64, I386) and "flags" in env.cpuinfo:
        cpu = _x86_cpu(a, env.cpuinfo)
    return replace(
        env,
        hwcaps=cpu.hwcaps if env.hwcaps is None else env.hwcaps,
        platform=(cpu.platform or "") if env.platform is None else env.platform,
        legacy_hwcap_names=cpu.legacy if env.legacy_hwcap_names is None
        else env.legacy_hwcap_names)


__all__ = ["AARCH64", "ARCHES", "ARMEL", "ARMHF", "I386", "KNOWN_HWCAPS", "PPC64LE", "RISCV64",
           "S390X", "X86_64", "Arch", "Cpu", "arch_of", "by_name", "generic", "process_env"]
