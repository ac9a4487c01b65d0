"""Read ``/etc/ld.so.cache`` and look names up in it as glibc 2.36's ``ld.so`` does on x86_64.

Three layouts exist, all described in glibc ``sysdeps/generic/dl-cache.h``; ``ld.so`` reads
them in ``_dl_load_cache_lookup`` (``elf/dl-cache.c``), ``ldconfig`` writes them in
``save_cache`` (``elf/cache.c``):

``new`` (``glibc-ld.so.cache1.1``, what ``ldconfig`` writes by default)
    A 48-byte header (magic and version, ``u32 nlibs`` @20, ``u32 len_strings`` @24,
    ``u8 flags`` @28 giving the byte order, ``u32 extension_offset`` @32), then ``nlibs``
    24-byte entries (``i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap``). String
    offsets count from the start of this header. The optional extension directory
    (``u32 magic 0xEAA42174, u32 count``, then ``count`` × ``u32 tag, flags, offset, size``,
    offsets from the start of the *file*) holds the generator string (tag 0) and the
    glibc-hwcaps subdirectory names (tag 1: an array of ``u32`` string offsets).
``old`` (``ld.so-1.7.0``, libc5 / glibc 2.0–2.1)
    11-byte magic padded to 12, ``u32 nlibs`` @12, ``nlibs`` 12-byte entries
    (``i32 flags, u32 key, u32 value``) from offset 16; string offsets count from the end of
    the entry table. Always little-endian here.
``compat`` (``ldconfig -c compat``)
    An old-format block, then (aligned to 8) a complete new-format header, entries and
    strings. ``ld.so`` uses only the new part; so does this module.

Names are decoded from UTF-8 with ``surrogateescape`` (as in :mod:`ldsim.elf.reader`), so
every byte string round-trips through ``str.encode("utf-8", "surrogateescape")`` and
:func:`libcmp` compares the original bytes.

Two glibc 2.36 quirks are modelled on purpose because the real loader and
``ldconfig -p`` show them (both checked on Debian 12):

* ``ldconfig -c old`` stores glibc-hwcaps entries as plain entries (``save_cache`` only
  leaves out *legacy* hwcap entries), so an old-format cache returns the first one in file
  order, i.e. the alphabetically first subdirectory (``x86-64-v2``), whatever the CPU.
* glibc resolves the subdirectory-name offsets of the hwcaps extension relative to the
  start of the file (``cache_extension_load`` gets ``file_base = cache``), but ``ldconfig``
  writes them relative to the new-format header. In a ``compat`` file those names therefore
  point into the wrong place (``ldconfig -p`` prints ``hwcap: ""``) and the loader never uses
  a glibc-hwcaps entry of a compat cache. :attr:`CacheEntry.hwcaps_subdir` holds the name
  glibc reads, garbage included.

(``ldconfig`` 2.36 ``-c old``/``-c compat`` also mis-indexes the old-format table when legacy
hwcap entries such as ``tls/`` or ``x86_64/`` subdirectories exist, and may abort; such files
either parse to the garbage ``ldconfig -p`` shows or raise :class:`CacheFormatError`.)

Everything here is pure: the caller reads the file and passes its bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from ldsim.errors import CacheFormatError
from ldsim.records import field, record

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import overload

    from ldsim.config.arch import Arch

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"

OLD_HEADER_SIZE = 16
OLD_ENTRY_SIZE = 12
NEW_HEADER_SIZE = 48
NEW_ENTRY_SIZE = 24
EXTENSION_MAGIC = 0xEAA42174
EXTENSION_TAG_GENERATOR = 0
EXTENSION_TAG_GLIBC_HWCAPS = 1
EXTENSION_TAG_COUNT = 2

#: ``flags`` of an entry (``elf/ldconfig.h``): the type in the low byte, the ABI in the next.
FLAG_TYPE_MASK = 0x00FF
FLAG_REQUIRED_MASK = 0xFF00
FLAG_LIBC4 = 0x0000
FLAG_ELF = 0x0001
FLAG_ELF_LIBC5 = 0x0002
FLAG_ELF_LIBC6 = 0x0003
FLAG_X8664_LIB64 = 0x0300
FLAG_X8664_LIBX32 = 0x0800
#: ``_DL_CACHE_DEFAULT_ID`` of x86_64 (``sysdeps/unix/sysv/linux/x86_64/dl-cache.h``): the
#: only flags value ``_dl_cache_check_flags`` accepts.
X86_64_CACHE_ID = FLAG_ELF_LIBC6 | FLAG_X8664_LIB64

#: ``DL_CACHE_HWCAP_EXTENSION``: the entry comes from a glibc-hwcaps subdirectory.
DL_CACHE_HWCAP_EXTENSION = 1 << 62
DL_CACHE_HWCAP_ISA_LEVEL_MASK = 0x3FF

#: Legacy hwcap bits on x86 (``sysdeps/x86/dl-hwcap.h``, names in ``dl-procinfo.c``).
HWCAP_X86_SSE2 = 1 << 0
HWCAP_X86_64 = 1 << 1
HWCAP_X86_AVX512_1 = 1 << 2
#: ``HWCAP_IMPORTANT`` of x86_64: the default ``glibc.cpu.hwcap_mask``.
HWCAP_IMPORTANT_X86_64 = HWCAP_X86_64 | HWCAP_X86_AVX512_1
HWCAP_TLS_MASK = 1 << 63
FIRST_PLATFORM_BIT = 48
#: ``dl_x86_platforms``; platform *i* is bit ``48 + i`` in an entry's ``hwcap``.
X86_PLATFORMS = ("i586", "i686", "haswell", "xeon_phi")
HWCAP_PLATFORM_MASK = ((1 << len(X86_PLATFORMS)) - 1) << FIRST_PLATFORM_BIT
#: ``HWCAP_PLATFORMS_START`` of x86_64: ``_dl_string_platform`` only knows haswell and
#: xeon_phi there, so a ``$PLATFORM`` of i586/i686 matches no cache entry.
X86_64_PLATFORMS_START = 2
#: ``GNU_PROPERTY_X86_ISA_1_BASELINE | V2 | V3 | V4``: ``cpu_features->isa_1`` of a CPU
#: that supports every x86-64 ISA level.
ISA_1_ALL = 0xF

_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1

@record(frozen=True)
class CacheEntry:
    """One entry of the cache, as stored.

    ``key`` is the name looked up (normally a SONAME), ``value`` the path ``ld.so`` returns,
    ``flags`` the signed ``int32_t`` flags word (0x0303 = libc6 x86-64, 0x0001 = any other
    ELF, e.g. i386). ``hwcap`` is the raw 64-bit field (0 in the old format). For a
    glibc-hwcaps entry (:func:`is_hwcaps_entry`), ``hwcaps_subdir`` is the subdirectory name
    the extension gives for index ``hwcap & 0xffffffff`` (``None`` if there is no such index)
    and ``isa_level`` is bits 32–41 of ``hwcap`` (0 = baseline, 1 = v2, 2 = v3, 3 = v4);
    both are ``None``/0 for other entries.
    """

    key: str
    value: str
    flags: int
    hwcap: int
    hwcaps_subdir: str | None
    isa_level: int


@record(frozen=True)
class LdSoCache:
    """A parsed cache. ``entries`` are in file order (``ldconfig`` sorts them descending by
    :func:`libcmp`). ``format`` is ``"old"``, ``"new"`` or ``"compat"``; for ``compat`` the
    entries are those of the embedded new-format part, which is what ``ld.so`` reads.
    ``generator`` is the extension's generator string (``None`` if absent; always ``None``
    for ``old``), ``hwcaps_subdirs`` the extension's subdirectory-name array, indexed by the
    low 32 bits of a glibc-hwcaps entry's ``hwcap``. ``byte_order`` of the new-format part
    (``"little"`` or ``"big"``): an x86_64 ``ld.so`` ignores a big-endian cache entirely.
    """

    format: str
    entries: Sequence[CacheEntry]  # decoded when looked at (see _Entries)
    generator: str | None
    hwcaps_subdirs: tuple[str, ...]
    byte_order: str = "little"
    # lookup()'s answers, by everything else they depend on (see lookup)
    _answers: dict[tuple[str, tuple[str, ...], str, int, int, int],
                   tuple[Arch | None, CacheEntry | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False)


def is_hwcaps_entry(hwcap: int) -> bool:
    """``dl_cache_hwcap_extension``: bit 62 set and, ignoring the low 32 bits and the ISA
    level field, nothing else set."""
    return ((hwcap >> 32) & ~DL_CACHE_HWCAP_ISA_LEVEL_MASK & _U32) == (
        DL_CACHE_HWCAP_EXTENSION >> 32
    )


# --------------------------------------------------------------------------------------
# _dl_cache_libcmp


def _encode(s: str) -> bytes:
    """The bytes a decoded name came from; a NUL ends it, as in C."""
    try:
        raw = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = s.encode("utf-8", "surrogatepass")
    nul = raw.find(b"\0")
    return raw if nul < 0 else raw[:nul]


def _int32(v: int) -> int:
    return ((v + (1 << 31)) & _U32) - (1 << 31)


def _signed(c: int) -> int:
    """``char`` is signed on x86 (unsigned on ARM, AArch64, PowerPC, s390 and RISC-V)."""
    return c - 256 if c >= 128 else c


def _isdigit(c: int) -> bool:
    return 48 <= c <= 57


def _uchar(c: int) -> int:
    return c


def _libcmp_bytes(p1: bytes, p2: bytes, signed: bool = True) -> int:
    _schar = _signed if signed else _uchar
    i = j = 0
    n1, n2 = len(p1), len(p2)
    while i < n1:
        c1 = p1[i]
        c2 = p2[j] if j < n2 else 0
        if _isdigit(c1):
            if not _isdigit(c2):
                return 1
            val1, val2 = c1 - 48, c2 - 48
            i += 1
            j += 1
            while i < n1 and _isdigit(p1[i]):
                val1 = _int32(val1 * 10 + p1[i] - 48)
                i += 1
            while j < n2 and _isdigit(p2[j]):
                val2 = _int32(val2 * 10 + p2[j] - 48)
                j += 1
            if val1 != val2:
                return _int32(val1 - val2)
        elif _isdigit(c2):
            return -1
        elif c1 != c2:
            return _schar(c1) - _schar(c2)
        else:
            i += 1
            j += 1
    return -_schar(p2[j]) if j < n2 else 0


def libcmp(a: str, b: str) -> int:
    """glibc's ``_dl_cache_libcmp`` (``elf/dl-cache.c``): < 0, 0 or > 0 as *a* sorts before,
    with or after *b*.

    Runs of decimal digits are compared as numbers (``libfoo.so.01`` equals ``libfoo.so.1``,
    ``.10`` is greater than ``.9``); a digit is greater than any non-digit; other bytes are
    compared as (signed, as on x86_64) ``char``. The digit accumulators are 32-bit ``int``
    and wrap on overflow as the compiled C code does. A NUL ends a string.
    """
    return _libcmp_bytes(_encode(a), _encode(b))


# --------------------------------------------------------------------------------------
# Parsing


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class _Reader:
    def __init__(self, data: bytes, path: str, big: bool) -> None:
        self.data = data
        self.path = path
        self.prefix = ">" if big else "<"
        self._strings: dict[int, str] = {}
        self._raw: dict[int, bytes] = {}
        self.last_nul = data.rfind(b"\0")  # any offset before it has a NUL at or after it

    def fail(self, reason: str) -> CacheFormatError:
        return CacheFormatError(self.path, reason)

    def unpack(self, fmt: str, offset: int, what: str) -> tuple[int, ...]:
        size = struct.calcsize(self.prefix + fmt)
        if offset < 0 or offset + size > len(self.data):
            raise self.fail(
                f"{what} at offset {offset} needs {size} bytes but the file has {len(self.data)}"
            )
        return struct.unpack_from(self.prefix + fmt, self.data, offset)

    def check_string(self, offset: int, what: str, table: str) -> int:
        """``offset`` if a NUL-terminated string starts there (in constant time)."""
        size = len(self.data)
        if offset >= size:
            raise self.fail(
                f"{what}: string offset {offset} is outside the file ({size} bytes; {table})"
            )
        if offset > self.last_nul:
            raise self.fail(
                f"{what}: string at offset {offset} has no terminating NUL before the end "
                f"of the file ({size} bytes)"
            )
        return offset

    def raw(self, offset: int) -> bytes:
        """The bytes of a checked string (up to its NUL), read once."""
        hit = self._raw.get(offset)
        if hit is None:
            hit = self._raw[offset] = self.data[offset:self.data.find(b"\0", offset)]
        return hit

    def text(self, offset: int) -> str:
        """A checked string, decoded once."""
        hit = self._strings.get(offset)
        if hit is None:
            hit = self._strings[offset] = _decode(self.raw(offset))
        return hit

    def string(self, offset: int, what: str, table: str) -> str:
        return self.text(self.check_string(offset, what, table))


class _Entries(Sequence[CacheEntry]):
    """The entries of a cache, checked when the file is parsed and decoded when looked at:
    the loader reads a handful of them per lookup (a binary search), and a hostile cache
    whose thousands of entries point into one long string must not cost its square."""

    def __init__(self, rd: _Reader,
                 rows: list[tuple[int, int, int, int, str | None, int]]) -> None:
        self._rd = rd
        self._rows = rows  # flags, key offset, value offset, hwcap, subdir, isa level
        self._made: dict[int, CacheEntry] = {}

    def __len__(self) -> int:
        return len(self._rows)

    if TYPE_CHECKING:
        @overload
        def __getitem__(self, index: int) -> CacheEntry: ...

        @overload
        def __getitem__(self, index: slice) -> tuple[CacheEntry, ...]: ...

    def __getitem__(self, index: int | slice) -> CacheEntry | tuple[CacheEntry, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self._rows)
        hit = self._made.get(index)
        if hit is None:
            flags, key, value, hwcap, subdir, isa = self._rows[index]
            hit = self._made[index] = CacheEntry(self._rd.text(key), self._rd.text(value),
                                                 flags, hwcap, subdir, isa)
        return hit

    def key_bytes(self, index: int) -> bytes:
        """The key's bytes, as ``search_cache`` compares them."""
        return self._rd.raw(self._rows[index][1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, _Entries)):
            return len(self) == len(other) and all(
                a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"<{len(self)} ld.so.cache entries>"


def _byte_order(flags: int, path: str, where: str) -> bool:
    """True for big-endian. Mirrors ``cache_file_new_matches_endian``: 0 means unknown
    (read as little-endian, as glibc on x86_64 accepts it), otherwise the low two bits must
    say little (2) or big (3)."""
    if flags == 0 or flags & 3 == 2:
        return False
    if flags & 3 == 3:
        return True
    raise CacheFormatError(
        path,
        f"{where}: flags byte {flags:#04x} gives no valid byte order "
        "(0 = unset, low bits 2 = little-endian, 3 = big-endian)",
    )


def _parse_new_part(data: bytes, base: int, path: str, fmt: str) -> LdSoCache:
    """The new-format header at *base* (0 for ``new``, after the old block for ``compat``)."""
    where = f"new-format header at offset {base}"
    big = _byte_order(data[base + 28], path, where)
    rd = _Reader(data, path, big)
    nlibs, _len_strings = rd.unpack("II", base + 20, where)
    (extension_offset,) = rd.unpack("I", base + 32, where)
    first = base + NEW_HEADER_SIZE
    if nlibs > (len(data) - first) // NEW_ENTRY_SIZE:
        raise rd.fail(
            f"nlibs {nlibs} of the {where} needs {nlibs * NEW_ENTRY_SIZE} bytes of entries "
            f"from offset {first} but the file has only {len(data)} bytes"
        )

    generator: str | None = None
    hwcaps: tuple[str, ...] = ()
    if extension_offset != 0:
        generator, hwcaps = _parse_extension(rd, extension_offset)

    table = f"offsets count from offset {base}"
    # every entry at once (struct.iter_unpack), its strings checked at once: the highest
    # offset decides; only a cache that fails is gone through entry by entry, for the message
    raw_rows = list(struct.iter_unpack(
        rd.prefix + "iIIIQ", memoryview(data)[first:first + nlibs * NEW_ENTRY_SIZE]))
    if raw_rows and base + max(max(r[1] for r in raw_rows), max(r[2] for r in raw_rows)) > \
            min(len(data) - 1, rd.last_nul):
        for i, (_flags, key, value, _osversion, _hwcap) in enumerate(raw_rows):
            rd.check_string(base + key, f"entry {i} key", table)
            rd.check_string(base + value, f"entry {i} value", table)
    rows = []
    for flags, key, value, _osversion, hwcap in raw_rows:
        subdir: str | None = None
        isa_level = 0
        if hwcap and is_hwcaps_entry(hwcap):
            index = hwcap & _U32
            subdir = hwcaps[index] if index < len(hwcaps) else None
            isa_level = (hwcap >> 32) & DL_CACHE_HWCAP_ISA_LEVEL_MASK
        rows.append((flags, base + key, base + value, hwcap, subdir, isa_level))
    return LdSoCache(
        format=fmt,
        entries=_Entries(rd, rows),
        generator=generator,
        hwcaps_subdirs=hwcaps,
        byte_order="big" if big else "little",
    )


def _parse_extension(rd: _Reader, offset: int) -> tuple[str | None, tuple[str, ...]]:
    """``cache_extension_load`` (``sysdeps/generic/dl-cache.h``); offsets are from the start
    of the file. Unknown tags are ignored and a later section of a tag replaces an earlier
    one, as in glibc."""
    size = len(rd.data)
    if offset % 4 != 0:
        raise rd.fail(f"extension directory offset {offset} is not a multiple of 4")
    if offset + 8 > size:
        raise rd.fail(
            f"extension directory at offset {offset} extends past the end of the file "
            f"({size} bytes)"
        )
    magic, count = rd.unpack("II", offset, "extension directory")
    if magic != EXTENSION_MAGIC:
        raise rd.fail(
            f"extension directory at offset {offset} has magic {magic:#010x}, "
            f"expected {EXTENSION_MAGIC:#010x}"
        )
    if offset + 8 + count * 16 > size:
        raise rd.fail(
            f"extension directory at offset {offset} lists {count} sections, which extend "
            f"past the end of the file ({size} bytes)"
        )
    sections: dict[int, tuple[int, int]] = {}
    for i in range(count):
        tag, _flags, sec_offset, sec_size = rd.unpack(
            "IIII", offset + 8 + i * 16, f"extension section {i}"
        )
        if sec_offset + sec_size > size:
            raise rd.fail(
                f"extension section {i} (tag {tag}) at offset {sec_offset}, size {sec_size}, "
                f"extends past the end of the file ({size} bytes)"
            )
        if tag < EXTENSION_TAG_COUNT:
            sections[tag] = (sec_offset, sec_size)

    generator: str | None = None
    if EXTENSION_TAG_GENERATOR in sections:
        g_off, g_size = sections[EXTENSION_TAG_GENERATOR]
        generator = _decode(rd.data[g_off : g_off + g_size])
    names: list[str] = []
    if EXTENSION_TAG_GLIBC_HWCAPS in sections:
        h_off, h_size = sections[EXTENSION_TAG_GLIBC_HWCAPS]
        for i in range(h_size // 4):
            (name_offset,) = rd.unpack("I", h_off + 4 * i, f"glibc-hwcaps name {i}")
            names.append(
                rd.string(name_offset, f"glibc-hwcaps name {i}", "offsets count from offset 0")
            )
    return generator, tuple(names)


def _parse_old(data: bytes, path: str) -> LdSoCache:
    size = len(data)
    if size <= OLD_HEADER_SIZE:
        raise CacheFormatError(
            path,
            f"truncated: {size} bytes, but the {OLD_MAGIC.decode()} header alone is "
            f"{OLD_HEADER_SIZE} bytes and ld.so needs more",
        )
    (nlibs,) = struct.unpack_from("<I", data, 12)
    if nlibs > (size - OLD_HEADER_SIZE) // OLD_ENTRY_SIZE:
        raise CacheFormatError(
            path,
            f"nlibs {nlibs} of the old-format header needs {nlibs * OLD_ENTRY_SIZE} bytes of "
            f"entries from offset {OLD_HEADER_SIZE} but the file has only {size} bytes",
        )
    strings = OLD_HEADER_SIZE + nlibs * OLD_ENTRY_SIZE
    new_offset = (strings + 7) & ~7  # ALIGN_CACHE: alignment of struct cache_file_new
    if (
        size >= new_offset + NEW_HEADER_SIZE
        and data[new_offset : new_offset + len(NEW_MAGIC)] == NEW_MAGIC
    ):
        return _parse_new_part(data, new_offset, path, "compat")

    rd = _Reader(data, path, big=False)
    table = f"offsets count from the string table at offset {strings}"
    rows: list[tuple[int, int, int, int, str | None, int]] = []
    for i in range(nlibs):
        flags, key, value = rd.unpack("iII", OLD_HEADER_SIZE + i * OLD_ENTRY_SIZE, f"entry {i}")
        rows.append((flags, rd.check_string(strings + key, f"entry {i} key", table),
                     rd.check_string(strings + value, f"entry {i} value", table), 0, None, 0))
    return LdSoCache(format="old", entries=_Entries(rd, rows), generator=None,
                     hwcaps_subdirs=())


def parse_ld_so_cache(data: bytes, path: str = "/etc/ld.so.cache") -> LdSoCache:
    """Parse the bytes of an ``ld.so.cache`` in any of the formats glibc 2.36 reads.

    The format is recognised as in ``_dl_load_cache_lookup``: the new magic first (the file
    must be longer than the 48-byte header and hold ``nlibs`` entries), else the old magic
    (longer than 16 bytes, ``nlibs`` entries), followed by a new-format header at the next
    8-byte boundary for ``compat``. Anything glibc could not use, or that would make it read
    outside the file, raises :class:`~ldsim.errors.CacheFormatError` naming *path* and the
    problem: bad magic, truncated header or table, ``nlibs`` too large, an invalid byte-order
    flag, a string offset outside the file or a string without its NUL, a malformed
    extension directory. (glibc is more lenient with some of these: it skips entries with a
    bad offset and ignores a malformed extension; ldsim reports the file instead.) A hwcaps
    entry whose subdirectory index is not in the extension array is kept with
    ``hwcaps_subdir=None``, as in glibc, which never selects it.
    """
    data = bytes(data)
    size = len(data)
    if size == 0:
        raise CacheFormatError(path, "empty file")
    if data.startswith(NEW_MAGIC):
        if size <= NEW_HEADER_SIZE:
            raise CacheFormatError(
                path,
                f"truncated: {size} bytes, but the {NEW_MAGIC.decode()} header alone is "
                f"{NEW_HEADER_SIZE} bytes and ld.so needs more",
            )
        return _parse_new_part(data, 0, path, "new")
    if data.startswith(OLD_MAGIC):
        return _parse_old(data, path)
    if NEW_MAGIC.startswith(data) or OLD_MAGIC.startswith(data):
        raise CacheFormatError(path, f"truncated: {size} bytes, inside the magic string")
    raise CacheFormatError(
        path,
        f"not an ld.so.cache: starts with {data[:20]!r} instead of {OLD_MAGIC!r} or {NEW_MAGIC!r}",
    )


# --------------------------------------------------------------------------------------
# Lookup


def _hwcaps_priorities(cache_names: Sequence[str], active: Sequence[str]) -> list[int]:
    """``glibc_hwcaps_priorities_init``: merge the cache's subdirectory names (assumed sorted,
    as ldconfig writes them) with the active subdirectories sorted by name (priority = 1 +
    position in *active*; a name given twice keeps its first position). 0 = not usable."""
    ranked = sorted(
        ((_encode(name), i + 1) for i, name in enumerate(n for n in active if n)),
        key=lambda item: item[0],
    )
    left = [_encode(name) for name in cache_names]
    result: list[int] = []
    li = ri = 0
    while li < len(left) and ri < len(ranked):
        name, priority = ranked[ri]
        if left[li] == name:
            result.append(priority)
            li += 1
            ri += 1
        elif left[li] < name:
            result.append(0)
            li += 1
        else:
            ri += 1
    result.extend([0] * (len(left) - li))
    return result


def _x86_64_flags(flags: int) -> bool:
    return flags == X86_64_CACHE_ID


def _platform_bit(platform: str) -> int:
    """``_dl_string_platform`` on x86_64, turned into the mask ``search_cache`` compares."""
    for i in range(X86_64_PLATFORMS_START, len(X86_PLATFORMS)):
        if platform == X86_PLATFORMS[i]:
            return 1 << (FIRST_PLATFORM_BIT + i)
    return _U64


def _isa_level_compatible(hwcap: int, cpu_isa_1: int) -> bool:
    """``dl_cache_hwcap_isa_level_compatible`` (``sysdeps/x86/dl-isa-level.h``). The C code
    computes ``1 << level`` in 32 bits; x86 shifts by ``level mod 32``."""
    level = (hwcap >> 32) & DL_CACHE_HWCAP_ISA_LEVEL_MASK
    bit = (1 << (level & 31)) & _U32
    return (bit & cpu_isa_1) == bit


def answers_fixed(cache: LdSoCache) -> bool:
    """Whether :func:`lookup` gives ``cache`` the same answer every time for the same
    arguments (its entries cannot change: parsed from a file, or a tuple)."""
    return isinstance(cache.entries, (_Entries, tuple))


def lookup(
    cache: LdSoCache,
    name: str,
    *,
    hwcaps_subdirs: Sequence[str],
    platform: str,
    hwcap_bits: int = HWCAP_X86_64,
    cpu_isa_1: int = ISA_1_ALL,
    arch: Arch | None = None,
) -> CacheEntry | None:
    """The entry glibc 2.36's x86_64 ``ld.so`` returns for *name*, or ``None``.

    Emulates ``search_cache`` in ``elf/dl-cache.c`` step by step, so that an unsorted or
    hand-made cache gives the same answer as in glibc:

    * binary search over the entries with :func:`libcmp` (``ldconfig`` sorts descending);
      on a match, walk back to the first entry with an equal key, then scan forward while
      the key still matches, up to the current right bound of the search;
    * only entries whose flags equal ``0x0303`` (``FLAG_ELF_LIBC6 | FLAG_X8664_LIB64``) are
      considered;
    * new/compat format: a glibc-hwcaps entry (:func:`is_hwcaps_entry`) is skipped if its
      ISA level is not in *cpu_isa_1* (``cpu_features->isa_1``: 1 baseline, 2 v2, 4 v3,
      8 v4) or if its subdirectory is not in *hwcaps_subdirs* — the active subdirectory
      names in priority order, as ``_dl_hwcaps_priorities`` holds them
      (``glibc_hwcaps_priority``; matching is by the names glibc reads from the extension);
      among the rest the best priority wins. The first plain entry ends the scan once an
      entry was found; otherwise a plain entry is skipped if its legacy ``hwcap`` has a bit
      outside ``hwcap_bits | platform bits | TLS bit 63`` (``hwcap_exclude``), or if it has
      platform bits (48–51: i586, i686, haswell, xeon_phi) other than *platform*'s, and the
      first plain entry that passes is returned. *hwcap_bits* is ``GLRO(dl_hwcap) &
      hwcap_mask`` (sse2 = bit 0, x86_64 = bit 1, avx512_1 = bit 2; 2 on a typical
      x86_64 machine) and *platform* is ``$PLATFORM`` (``GLRO(dl_platform)``, e.g.
      ``"x86_64"``; only ``haswell`` and ``xeon_phi`` name a platform bit on x86_64);
    * an accepted plain entry ends the scan when its flags are ``_DL_CACHE_DEFAULT_ID``;
      otherwise the scan goes on (i386's ``0x0001`` entries, armhf's hard-float ones: ARM
      leaves the default id at ``0x0003``), so that in the new format the next plain entry
      stops it with the first one kept, and in the old format the last accepted entry wins;
    * old format: no hwcap data exists.

    Not modelled: the ``osversion`` check (``GLRO(dl_osversion)`` stays 0 in Debian's 2.36
    ``ld.so``, which no longer checks kernel versions) and the checks of string offsets,
    which :func:`parse_ld_so_cache` already did. A cache of the other byte order is never
    used (``cache_file_new_matches_endian``), so the result is ``None``.

    ``arch`` (:mod:`ldsim.config.arch`; default x86-64) gives the other architectures' rules:
    the flags ``_dl_cache_check_flags`` accepts, the byte order, the legacy hwcap and platform
    bits (*hwcap_bits* is then ``arch.hwcap_mask(names)``), the signedness of ``char`` in
    ``_dl_cache_libcmp``, and no ISA-level check outside x86.

    A cache whose entries cannot change (parsed from a file, or a tuple) remembers each
    answer, by every argument (``arch`` by identity: the answer keeps it alive).
    """
    if not answers_fixed(cache):
        return _lookup(cache, name, tuple(hwcaps_subdirs), platform, hwcap_bits, cpu_isa_1,
                       arch)
    subdirs = tuple(hwcaps_subdirs)
    key = (name, subdirs, platform, hwcap_bits, cpu_isa_1, id(arch))
    hit = cache._answers.get(key)
    if hit is None or hit[0] is not arch:
        hit = cache._answers[key] = (arch, _lookup(cache, name, subdirs, platform, hwcap_bits,
                                                   cpu_isa_1, arch))
    return hit[1]


def _lookup(cache: LdSoCache, name: str, hwcaps_subdirs: tuple[str, ...], platform: str,
            hwcap_bits: int, cpu_isa_1: int, arch: Arch | None) -> CacheEntry | None:
    big = arch is not None and arch.data == 2
    if cache.byte_order != ("big" if big else "little"):
        return None
    entries = cache.entries
    name_b = _encode(name)
    with_hwcap = cache.format != "old"
    accepts: Callable[[int], bool]
    if arch is None:
        platform_mask, platform_bit = HWCAP_PLATFORM_MASK, _platform_bit(platform)
        accepts, signed, x86 = _x86_64_flags, True, True
        default_id = X86_64_CACHE_ID
    else:
        default_id = arch.cache_default_id
        platform_mask = arch.platform_mask
        bit = arch.platform_bit(platform)
        platform_bit = _U64 if bit is None else bit
        accepts, signed = arch.accepts_cache_flags, arch.signed_char
        x86 = arch.machine in (3, 62)
    hwcap_exclude = ~(hwcap_bits | platform_mask | HWCAP_TLS_MASK) & _U64
    priorities: list[int] | None = None

    key_bytes = entries.key_bytes if isinstance(entries, _Entries) else (
        lambda index: _encode(entries[index].key))

    def cmp(index: int) -> int:
        return _libcmp_bytes(name_b, key_bytes(index), signed)

    best: CacheEntry | None = None
    best_priority = 0
    left, right = 0, len(entries) - 1
    while left <= right:
        middle = (left + right) // 2
        cmpres = cmp(middle)
        if cmpres == 0:
            left = middle
            while middle > 0 and cmp(middle - 1) == 0:
                middle -= 1
            while True:
                lib = entries[middle]
                if middle > left and cmp(middle) != 0:
                    break
                if accepts(lib.flags):
                    named = False
                    usable = True
                    if with_hwcap:
                        hwcap = lib.hwcap & _U64
                        named = is_hwcaps_entry(hwcap)
                        plat = hwcap & platform_mask
                        if named and x86 and not _isa_level_compatible(hwcap, cpu_isa_1):
                            usable = False
                        elif not named and best is not None:
                            break
                        elif (not named and (hwcap & hwcap_exclude) != 0) or (
                            plat != 0 and plat != platform_bit
                        ):
                            # hwcap_exclude (plain entries only), then the platform check.
                            usable = False
                        elif named:
                            if priorities is None:
                                priorities = _hwcaps_priorities(
                                    cache.hwcaps_subdirs, hwcaps_subdirs
                                )
                            index = hwcap & _U32
                            priority = priorities[index] if index < len(priorities) else 0
                            if priority == 0:
                                usable = False
                            elif best is None or priority < best_priority:
                                best_priority = priority
                            else:
                                usable = False
                    if usable:
                        best = lib
                        if not named and lib.flags == default_id:
                            # other accepted flags go on: a new-format cache stops at the
                            # next plain entry, an old-format one takes the last match
                            break
                middle += 1
                if middle > right:
                    break
            break
        if cmpres < 0:
            left = middle + 1
        else:
            right = middle - 1
    return best
