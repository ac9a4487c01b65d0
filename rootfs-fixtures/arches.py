"""The architectures the foreign-architecture oracle (``crossroot``) runs, and what their real
loaders see under the emulated CPU the oracle picks.

Static facts (Debian 12 names and paths)
    Debian's architecture name, the GNU triplet of Debian's cross toolchain
    (``gcc-TRIPLET``, ``libc6-dev-ARCH-cross``), the multiarch directory (the same as the
    triplet except i386: ``i386-linux-gnu``), the PT_INTERP Debian's toolchain writes and the
    symlink ``libc6:ARCH`` ships for it, the ELF identity (class, byte order, ``e_machine``),
    the musl loader's name, and the ``qemu-user-static`` binary with the ``-cpu`` model.

Measured facts (``platform``, ``at_hwcap``, ``at_hwcap2``, ``glibc_hwcaps``, ``legacy_hwcaps``,
``cache_flags``)
    Measured on 2026-12-04 on Debian 12 (kernel 6.18 x86-64, AMD EPYC, qemu-user-static
    1:7.2+dfsg-7+deb12u18+b3, libc6:ARCH 2.36-9+deb12u14; riscv64: libc6-riscv64-cross
    2.36-8cross1) inside a root built by ``crossroot.CrossRoot``, three ways:

    * a tiny C program printing ``getauxval(AT_PLATFORM)`` and the raw ``AT_HWCAP`` /
      ``AT_HWCAP2`` of ``/proc/self/auxv`` (qemu emulates it; ``LD_SHOW_AUXV=1`` agrees),
      run as ``chroot ROOT /.oracle/env / -- /.oracle/qemu-ARCH-static -cpu MODEL /bin/auxv``;
    * ``ld.so --help`` under the same qemu command ("Subdirectories of glibc-hwcaps
      directories" and "Legacy HWCAP subdirectories ... (supported, searched)");
    * ``LD_TRACE_LOADED_OBJECTS=1 LD_DEBUG=libs`` on a program with ``RPATH=/opt/D``: the
      ``search path=`` line lists the subdirectories tried, in order
      (:func:`legacy_subdirs` reproduces it; ``test_arches.py`` checks it on every run);
    * ``ldconfig -p`` of the architecture's own ``ldconfig`` (run under the same qemu) for the
      flag text of its cache entries.

    Under qemu-user 7.2, ppc64le, s390x and riscv64 programs get **no** ``AT_PLATFORM`` (a
    real POWER or IBM Z kernel gives ``power9``, ``z15``...; Linux gives RISC-V none either):
    ``$PLATFORM`` then does not expand and an RPATH element containing it is dropped, and no
    platform subdirectory is searched. i386 runs natively on the x86-64 kernel (no qemu): its
    raw ``AT_HWCAP`` is this machine's CPUID.1:EDX (``0x178bfbff`` here), of which glibc keeps
    only ``HWCAP_X86_SSE2`` (``getauxval(AT_HWCAP)`` = ``0x1``), which every x86-64 CPU has, so
    the subdirectories are known on any x86-64 machine.

Why these CPU models
    ``cortex-a57`` (ARMv8.0, no LSE ``atomics``: no hwcap subdirectory besides the platform),
    ``cortex-a15`` (ARMv7 with NEON and VFPv4: platform ``v7l``, the common armhf machine),
    ``power10`` (both glibc-hwcaps levels of 2.36 active: their order is visible), ``qemu`` for
    s390x (Debian's qemu 7.2 TCG cannot provide the z14/z15/z16 models; its ``qemu`` model is a
    fixed feature set, unlike ``max``, and gives ``z13``), ``rv64`` (the default RV64GC).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final

EM_386: Final = 3
EM_PPC64: Final = 21
EM_S390: Final = 22
EM_ARM: Final = 40
EM_X86_64: Final = 62
EM_AARCH64: Final = 183
EM_RISCV: Final = 243


@dataclass(frozen=True)
class Arch:
    """One architecture: where Debian puts things, how the oracle runs it, and (measured) what
    its loader sees under ``qemu_cpu``."""

    name: str
    """Debian's architecture name (``dpkg --print-architecture``): the pytest id."""
    triplet: str
    """GNU triplet of Debian's cross toolchain (``TRIPLET-gcc``, ``/usr/TRIPLET/lib``)."""
    multiarch: str
    """Debian's multiarch directory name (``/lib/MULTIARCH``, ``$LIB`` = ``lib/MULTIARCH``)."""
    interp: str
    """PT_INTERP of the programs the cross gcc links (a symlink in ``libc6:ARCH``)."""
    ldso_name: str
    """The loader's file name in ``/lib/MULTIARCH``."""
    elf_class: int
    """32 or 64."""
    big_endian: bool
    machine: int
    """``e_machine``."""
    musl_arch: str
    """The ARCH of musl's ``/lib/ld-musl-ARCH.so.1`` and ``/etc/ld-musl-ARCH.path``."""
    qemu: str | None
    """``qemu-user-static`` binary, or ``None``: this x86-64 machine runs it natively."""
    qemu_cpu: str | None
    # -- measured (see the module docstring) --
    platform: str | None
    """``AT_PLATFORM`` = ``$PLATFORM``; ``None``: the loader gets none."""
    at_hwcap: int
    """The raw ``AT_HWCAP`` the kernel / qemu passes."""
    at_hwcap2: int
    glibc_hwcaps: tuple[str, ...]
    """glibc-hwcaps subdirectories the loader searches, best first."""
    legacy_hwcaps: tuple[str, ...]
    """Names of the legacy hwcap bits the loader searches (``HWCAP_IMPORTANT`` and set), in
    the order they appear in a subdirectory path (highest bit first)."""
    cache_flags: str
    """How ``ldconfig -p`` of the architecture names the flags of its libraries' entries."""
    glibc_from: str
    """Where the root's ``ld.so``/``libc.so.6``/``ldconfig`` come from (see ``crossroot``)."""

    @property
    def gcc(self) -> str:
        return f"{self.triplet}-gcc"

    @property
    def libdir(self) -> str:
        """``/lib/MULTIARCH``, the first default directory."""
        return f"/lib/{self.multiarch}"

    @property
    def ldso(self) -> str:
        """The loader's real path (PT_INTERP is a symlink to it)."""
        return f"{self.libdir}/{self.ldso_name}"

    @property
    def dollar_lib(self) -> str:
        """``$LIB`` of Debian's loader (``DL_DST_LIB``)."""
        return f"lib/{self.multiarch}"

    @property
    def musl_loader(self) -> str:
        return f"/lib/ld-musl-{self.musl_arch}.so.1"

    @property
    def musl_path_file(self) -> str:
        return f"/etc/ld-musl-{self.musl_arch}.path"

    @property
    def legacy_components(self) -> tuple[str, ...]:
        """The components of legacy subdirectory paths in path order: ``tls``, the platform,
        then the hwcap names (glibc 2.36 ``_dl_important_hwcaps``)."""
        plat = (self.platform,) if self.platform else ()
        return ("tls", *plat, *self.legacy_hwcaps)

    def legacy_subdirs(self) -> tuple[str, ...]:
        """The legacy subdirectories in the order the loader tries them (without ``""``, the
        directory itself, which comes last): every non-empty subset of
        :attr:`legacy_components` in decreasing binary order, the first component the most
        significant bit."""
        comps = self.legacy_components
        out = []
        for mask in itertools.product((1, 0), repeat=len(comps)):
            parts = [c for c, bit in zip(comps, mask, strict=True) if bit]
            if parts:
                out.append("/".join(parts))
        return tuple(out)

    def subdirs(self) -> tuple[str, ...]:
        """Every subdirectory the loader tries in a search directory, in order, then ``""``."""
        return (*(f"glibc-hwcaps/{h}" for h in self.glibc_hwcaps), *self.legacy_subdirs(), "")


_DEBIAN: Final = "Debian libc6:ARCH + libc-bin:ARCH of the host's glibc version"

ARCHES: Final[dict[str, Arch]] = {
    a.name: a
    for a in (
        Arch(
            name="i386",
            triplet="i686-linux-gnu",
            multiarch="i386-linux-gnu",
            interp="/lib/ld-linux.so.2",
            ldso_name="ld-linux.so.2",
            elf_class=32,
            big_endian=False,
            machine=EM_386,
            musl_arch="i386",
            qemu=None,
            qemu_cpu=None,
            platform="i686",
            at_hwcap=0x178BFBFF,  # this machine's CPUID.1:EDX; glibc keeps 0x1 (SSE2)
            at_hwcap2=0x2,  # this kernel's (HWCAP2_FSGSBASE); not used by glibc on i386
            glibc_hwcaps=(),
            legacy_hwcaps=("sse2",),
            cache_flags="libc6",  # (ld-linux.so.2 itself: "ELF", it needs nothing)
            glibc_from=_DEBIAN,
        ),
        Arch(
            name="arm64",
            triplet="aarch64-linux-gnu",
            multiarch="aarch64-linux-gnu",
            interp="/lib/ld-linux-aarch64.so.1",
            ldso_name="ld-linux-aarch64.so.1",
            elf_class=64,
            big_endian=False,
            machine=EM_AARCH64,
            musl_arch="aarch64",
            qemu="qemu-aarch64-static",
            qemu_cpu="cortex-a57",
            platform="aarch64",
            at_hwcap=0x8FB,
            at_hwcap2=0x0,
            glibc_hwcaps=(),
            legacy_hwcaps=(),  # "atomics" is known but not set on a Cortex-A57
            cache_flags="libc6,AArch64",
            glibc_from=_DEBIAN,
        ),
        Arch(
            name="armhf",
            triplet="arm-linux-gnueabihf",
            multiarch="arm-linux-gnueabihf",
            interp="/lib/ld-linux-armhf.so.3",
            ldso_name="ld-linux-armhf.so.3",
            elf_class=32,
            big_endian=False,
            machine=EM_ARM,
            musl_arch="armhf",
            qemu="qemu-arm-static",
            qemu_cpu="cortex-a15",
            platform="v7l",
            at_hwcap=0x1FB8D7,
            at_hwcap2=0x0,
            glibc_hwcaps=(),
            legacy_hwcaps=("neon", "vfp"),
            cache_flags="libc6,hard-float",
            glibc_from=_DEBIAN,
        ),
        Arch(
            name="ppc64el",
            triplet="powerpc64le-linux-gnu",
            multiarch="powerpc64le-linux-gnu",
            interp="/lib64/ld64.so.2",
            ldso_name="ld64.so.2",
            elf_class=64,
            big_endian=False,
            machine=EM_PPC64,
            musl_arch="powerpc64le",
            qemu="qemu-ppc64le-static",
            qemu_cpu="power10",
            platform=None,  # qemu-user passes no AT_PLATFORM (a POWER kernel: "power10")
            at_hwcap=0x58000580,
            at_hwcap2=0x8EE60000,
            glibc_hwcaps=("power10", "power9"),
            legacy_hwcaps=("altivec", "dfp"),
            cache_flags="libc6,64bit",
            glibc_from=_DEBIAN,
        ),
        Arch(
            name="s390x",
            triplet="s390x-linux-gnu",
            multiarch="s390x-linux-gnu",
            interp="/lib/ld64.so.1",
            ldso_name="ld64.so.1",
            elf_class=64,
            big_endian=True,
            machine=EM_S390,
            musl_arch="s390x",
            qemu="qemu-s390x-static",
            qemu_cpu="qemu",
            platform=None,  # qemu-user passes no AT_PLATFORM (an IBM Z kernel: "z13"...)
            at_hwcap=0x2B3F,
            at_hwcap2=0x0,
            glibc_hwcaps=("z13",),
            legacy_hwcaps=("vxe", "vx", "eimm", "ldisp", "zarch"),
            cache_flags="libc6,64bit",
            glibc_from=_DEBIAN,
        ),
        Arch(
            name="riscv64",
            triplet="riscv64-linux-gnu",
            multiarch="riscv64-linux-gnu",
            interp="/lib/ld-linux-riscv64-lp64d.so.1",
            ldso_name="ld-linux-riscv64-lp64d.so.1",
            elf_class=64,
            big_endian=False,
            machine=EM_RISCV,
            musl_arch="riscv64",
            qemu="qemu-riscv64-static",
            qemu_cpu="rv64",
            platform=None,  # Linux gives RISC-V programs no AT_PLATFORM
            at_hwcap=0x112D,  # IMAFDC
            at_hwcap2=0x0,
            glibc_hwcaps=(),
            legacy_hwcaps=(),
            cache_flags="libc6,double-float",
            # riscv64 is not a Debian 12 release architecture: no libc6:riscv64 of 2.36
            glibc_from="libc6-riscv64-cross (glibc 2.36-8cross1); ldconfig of Debian 13's "
            "libc-bin:riscv64 (glibc 2.41, the only riscv64 libc-bin on deb.debian.org)",
        ),
    )
}
"""The foreign architectures, by Debian name (x86-64 is the host: ``glibcroot``)."""

__all__ = ["ARCHES", "Arch"]
