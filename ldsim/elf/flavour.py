"""Which C library an object is built for, from what the file says about itself.

glibc and musl objects are told apart by their PT_INTERP (``ld-linux*`` versus ``ld-musl-*``),
their DT_SONAME and DT_NEEDED (``libc.so.6`` versus ``libc.so``/``libc.musl-ARCH.so.1``) and
their ``GLIBC_*`` symbol versions. The loader model that runs a program follows its
PT_INTERP: musl's ``ldso/dynlink.c`` for an ``ld-musl-*`` interpreter, glibc's ``elf/rtld.c``
for anything else.
"""

from __future__ import annotations

from enum import StrEnum

from ldsim.elf.facts import ElfFacts


class Libc(StrEnum):
    """A C library flavour: of an object, of a process (its loader), of a loader model."""

    GLIBC = "glibc"
    MUSL = "musl"
    NONE = "none"


def is_musl_loader(path: str) -> bool:
    """musl's loader is installed as ``ld-musl-ARCH.so.1``."""
    return path.rsplit("/", 1)[-1].startswith("ld-musl-")


def loader_flavour(facts: ElfFacts) -> Libc:
    """The loader a program runs under: musl when PT_INTERP's basename starts with
    ``ld-musl-``, else glibc (also for a program without PT_INTERP: ``ldd`` traces it with
    glibc's loader)."""
    return Libc.MUSL if is_musl_loader(facts.interp or "") else Libc.GLIBC


def flavour_of(facts: ElfFacts | None, path: str = "") -> tuple[Libc, str]:
    """(flavour, the evidence in words). ``path`` is the file's real path, if known."""
    if facts is None:
        return Libc.NONE, "unreadable"
    # The same file's facts (one object, shared by every program a run loads it in) are
    # asked about again and again: remembered by identity (the entry keeps them alive).
    key = (id(facts), path)
    hit = _KNOWN.get(key)
    if hit is not None and hit[0] is facts:
        return hit[1]
    found = _flavour_of(facts, path)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN[key] = (facts, found)
    return found


_KNOWN: dict[tuple[int, str], tuple[ElfFacts, tuple[Libc, str]]] = {}
_KNOWN_MAX = 4096


def _flavour_of(facts: ElfFacts, path: str) -> tuple[Libc, str]:
    if is_musl_loader(path):
        return Libc.MUSL, f"it is musl's loader and libc ({path})"
    interp = (facts.interp or "").rsplit("/", 1)[-1]
    if is_musl_loader(interp):
        return Libc.MUSL, f"interpreter {facts.interp or path}"
    if interp.startswith("ld-linux") or (facts.soname or "").startswith("ld-linux"):
        return Libc.GLIBC, f"interpreter {facts.interp or facts.soname}"
    if facts.soname == "libc.so.6":
        return Libc.GLIBC, "it is glibc's libc.so.6"
    if (facts.soname or "").startswith("libc.musl-"):
        return Libc.MUSL, f"it is musl's {facts.soname}"
    for name in facts.needed:
        if name == "libc.so.6":
            return Libc.GLIBC, "needs libc.so.6"
        if name == "libc.so" or name.startswith("libc.musl-"):
            return Libc.MUSL, f"needs {name}"
    for need in facts.version_needs or ():
        if any(v.startswith("GLIBC_") for v, _flags in need.versions):
            return Libc.GLIBC, f"requires GLIBC_* versions from {need.file}"
    if facts.version_defs and any(v.startswith("GLIBC_2.") for v in facts.version_defs):
        return Libc.GLIBC, "defines GLIBC_* versions"
    return Libc.NONE, "needs no libc"


__all__ = ["Libc", "flavour_of", "is_musl_loader", "loader_flavour"]
