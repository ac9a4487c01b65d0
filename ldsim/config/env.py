"""What the real loader reads from its process: one value, built by the CLI only."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from ldsim.fs.view import READ, permits
from ldsim.records import field, record

X86_64_HWCAPS = ("x86-64-v4", "x86-64-v3", "x86-64-v2")


class Invocation(StrEnum):
    """How the program is started: by the kernel, or as ``ldd``/``ld.so PROGRAM``."""

    EXEC = "exec"  # the kernel runs the program: $ORIGIN of the program from its real path
    LDD = "ldd"  # ld.so PROGRAM / ldd: $ORIGIN from the path as given


@record(frozen=True, slots=True)
class LoaderEnv:
    """The simulated process: environment variables, CPU, privileges, working directory."""

    ld_library_path: str | None = None
    preload: str | None = None
    cwd: str = "/"
    # The CPU as the program's loader sees it; None: from ``cpuinfo`` when this machine runs
    # the program's architecture natively (x86-64 and i386 on x86), else that architecture's
    # typical CPU (ldsim.config.arch.process_env makes them concrete for each program).
    hwcaps: tuple[str, ...] | None = None  # active glibc-hwcaps subdirs, best first
    platform: str | None = None  # AT_PLATFORM as glibc reports it ($PLATFORM; "": none)
    legacy_hwcap_names: tuple[str, ...] | None = None  # names of set dl_hwcap bits
    secure: bool = False  # AT_SECURE: set-uid, set-gid or file capabilities
    invocation: Invocation = Invocation.EXEC
    user: tuple[int, int] | None = None  # (uid, gid) whose read permission applies; None: any
    extra: dict[str, str] = field(default_factory=dict)
    cpuinfo: str | None = field(default=None, repr=False)  # the modelled machine's /proc/cpuinfo
    # x86: the ISA levels of the CPU (x86-64-v2...) for GNU_PROPERTY_X86_ISA_1_NEEDED; None:
    # those of ``hwcaps`` (on x86-64 glibc derives both from the CPU; an i386 process has no
    # glibc-hwcaps subdirectories but its loader still checks the ISA level)
    isa: tuple[str, ...] | None = None


@lru_cache(maxsize=16)  # asked once per program, mostly of one machine's cpuinfo
def cpu_defaults(cpuinfo: str) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(hwcaps levels, $PLATFORM, legacy hwcap names) for an x86_64 CPU's /proc/cpuinfo.

    Follows glibc 2.36 ``sysdeps/x86/cpu-features.c`` (``init_cpu_features``: the
    ``haswell``/``xeon_phi`` platform override and the ``avx512_1`` hwcap are Intel-only)
    and ``sysdeps/x86/get-isa-level.h`` for the x86-64-v2/v3/v4 levels.
    """
    flags: set[str] = set()
    vendor = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "flags" and not flags:
            flags = set(value.split())
        elif key == "vendor_id" and not vendor:
            vendor = value.strip()
    v2 = {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"} <= flags
    v3 = v2 and {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"} <= flags
    v4 = v3 and {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= flags
    levels = tuple(name for name, ok in (("x86-64-v4", v4), ("x86-64-v3", v3),
                                          ("x86-64-v2", v2)) if ok)
    platform = "x86_64"
    legacy = ["x86_64"]
    if vendor == "GenuineIntel":
        if "avx512cd" in flags and {"avx512er", "avx512pf"} <= flags:
            platform = "xeon_phi"
        elif {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= flags:
            legacy.append("avx512_1")
        if platform == "x86_64" and {"avx2", "bmi1", "bmi2", "abm", "movbe", "popcnt",
                                     "fma"} <= flags:
            platform = "haswell"
    return levels, platform, tuple(legacy)


def may_read(mode: int, owner: int, group: int, user: tuple[int, int] | None) -> bool:
    """Whether ``user`` (uid, gid) may open a file of ``mode`` for reading (root always may)."""
    return permits(mode, owner, group, user, READ)
