"""What a glibc loader binary was built with, read from the file without running it.

As ``docs/loader-model.md`` describes: the default ("system") directories are the consecutive
NUL-terminated strings in the loader's read-only data that each start and end with ``/``
(``trusted-dirs.h``, ``SYSTEM_DIRS``); ``$LIB`` follows the token names ``ORIGIN\\0PLATFORM\\0LIB\\0``
(``DL_DST_LIB``); the release is in ``release version 2.NN``. When the loader cannot be read,
a per-architecture fallback applies and the profile says so.
"""

from __future__ import annotations

import re

from ldsim.config.arch import ARCHES, Arch
from ldsim.records import record

# Linear time on any input: a run of directories starts right after a byte that cannot be part
# of one (a NUL, or whatever the loader's read-only data holds before it: the armhf loader's
# list follows other data directly), so a long stretch of '/a/a/a...' with no NUL is scanned
# once, not once per offset; the
# character class cannot cross a NUL, so each attempt ends at the next one. Lengths are
# bounded: a directory longer than PATH_MAX, a $LIB longer than NAME_MAX or a release of more
# than 9 digits is not glibc's.
_DIR_RUN = re.compile(rb"(?<![A-Za-z0-9_.+\-/])(?=/)((?:/[A-Za-z0-9_.+\-/]{0,4094}/\x00){2,})")
_LIB_TOKEN = re.compile(rb"ORIGIN\x00PLATFORM\x00LIB\x00([A-Za-z0-9_./+\-]{1,255})\x00")
_RELEASE = re.compile(rb"release version 2\.(\d{1,9})(?!\d)")

# Fallbacks when the root's loader gives no answer: Debian's multiarch layout of the program's
# architecture (ldsim.config.arch), else by machine.
_FALLBACK_DIRS: dict[int, tuple[str, ...]] = {
    a.machine: a.fallback_dirs for a in reversed(ARCHES)}


@record(frozen=True, slots=True)
class GlibcProfile:
    system_dirs: tuple[str, ...]
    lib: str  # the value of $LIB
    minor_version: int | None  # 36 for glibc 2.36
    source: str  # where the facts came from ("/lib64/ld-linux-x86-64.so.2" or "fallback")

    @property
    def legacy_hwcaps(self) -> bool:
        """glibc 2.36 and older still search the legacy hwcap subdirectories."""
        return self.minor_version is None or self.minor_version <= 36


def glibc_profile_from_bytes(data: bytes, source: str, machine: int,
                             arch: Arch | None = None) -> GlibcProfile:
    dirs: tuple[str, ...] = ()
    # A run holds "/\0/" where its first directory ends, at most 4,097 bytes after the run
    # starts: searching from 4,097 bytes before the first "/\0/" finds the same first run
    # (the lookbehind still sees the bytes before), without scanning the whole loader.
    junction = data.find(b"/\x00/")
    m = _DIR_RUN.search(data, max(0, junction - 4097)) if junction >= 0 else None
    if m:
        dirs = tuple(s.decode().rstrip("/") or "/" for s in m.group(1).split(b"\x00") if s)
    lib_m = _LIB_TOKEN.search(data)
    rel = _RELEASE.search(data)
    minor = int(rel.group(1)) if rel else None
    if not dirs:
        fb = fallback_profile(machine, arch)
        return GlibcProfile(fb.system_dirs, lib_m.group(1).decode() if lib_m else fb.lib, minor,
                            "fallback")
    lib = lib_m.group(1).decode() if lib_m else dirs[0].strip("/")
    return GlibcProfile(dirs, lib, minor, source)


def fallback_profile(machine: int, arch: Arch | None = None) -> GlibcProfile:
    dirs = arch.fallback_dirs if arch is not None else _FALLBACK_DIRS.get(
        machine, ("/lib64", "/usr/lib64") if machine else ("/lib", "/usr/lib"))
    return GlibcProfile(dirs, dirs[0].strip("/"), None, "fallback")
