"""Dynamic symbols and their versions, read with pyelftools (imported only when needed).

Used by the ABI analysis (binding every undefined symbol through the global scope) and by
the musl model's "is this another libc" check. Symbols come from ``.dynsym`` with
``.gnu.version``, ``.gnu.version_d`` and ``.gnu.version_r``; a malformed table is an
:class:`~ldsim.errors.ElfError` naming the file, never a crash.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ldsim.errors import ElfError

STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = "STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"


@dataclass(frozen=True, slots=True)
class DynSymbol:
    name: str
    defined: bool
    binding: str  # STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE | STB_LOCAL
    kind: str  # STT_FUNC, STT_OBJECT, ...
    version: str | None  # version name (needed or defined), None when unversioned
    version_file: str | None  # for a reference: the library the version is required from
    hidden: bool  # a non-default version (name@VER, not name@@VER) or hidden visibility
    base: bool = False  # version index 1 (the object's base version) or 0 (local)


def read_dynamic_symbols(data: bytes, path: str) -> tuple[DynSymbol, ...]:
    """All dynamic symbols of one file (index 0 skipped)."""
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        from elftools.elf.gnuversions import (
            GNUVerDefSection,
            GNUVerNeedSection,
            GNUVerSymSection,
        )
        from elftools.elf.sections import SymbolTableSection
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise ElfError(path, f"pyelftools is not installed ({exc})") from None
    try:
        elf = ELFFile(io.BytesIO(bytes(data)))
        dynsym = versym = None
        vdef: dict[int, str] = {}
        vneed: dict[int, tuple[str, str | None]] = {}
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection) and sec["sh_type"] == "SHT_DYNSYM":
                dynsym = sec
            elif isinstance(sec, GNUVerSymSection):
                versym = sec
            elif isinstance(sec, GNUVerDefSection):
                for vd, auxs in sec.iter_versions():
                    first = next(iter(auxs), None)
                    if first is not None:
                        vdef[vd["vd_ndx"]] = first.name
            elif isinstance(sec, GNUVerNeedSection):
                for vn, auxs in sec.iter_versions():
                    for aux in auxs:
                        vneed[aux["vna_other"]] = (aux.name, vn.name)
        if dynsym is None:
            return ()
        out: list[DynSymbol] = []
        for i, sym in enumerate(dynsym.iter_symbols()):
            if i == 0:
                continue
            defined = sym["st_shndx"] != "SHN_UNDEF"
            version = vfile = None
            hidden = sym["st_other"]["visibility"] in ("STV_HIDDEN", "STV_INTERNAL")
            base = True
            if versym is not None and i < versym.num_symbols():
                ndx = versym.get_symbol(i)["ndx"]
                raw = ndx if isinstance(ndx, int) else {"VER_NDX_LOCAL": 0,
                                                        "VER_NDX_GLOBAL": 1}.get(ndx, 1)
                idx = raw & 0x7FFF
                if raw & 0x8000:
                    hidden = True
                if idx > 1:
                    base = False
                    if defined and idx in vdef:
                        version = vdef[idx]
                    elif idx in vneed:
                        version, vfile = vneed[idx]
                    elif idx in vdef:
                        version = vdef[idx]
            out.append(DynSymbol(sym.name, defined, sym["st_info"]["bind"],
                                 sym["st_info"]["type"], version, vfile, hidden, base))
        return tuple(out)
    except (ELFError, ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise ElfError(path, f"malformed dynamic symbol table: {exc}") from None
    except Exception as exc:  # construct raises its own types on truncated data
        raise ElfError(path, f"malformed dynamic symbol table: {exc}") from None


def defined_names(data: bytes) -> set[str]:
    return {s.name for s in read_dynamic_symbols(data, "<file>") if s.defined}
