"""Libraries a file says it may ``dlopen()``: ELF dlopen metadata notes, and hints apart.

**Notes** (the declarations). The "ELF dlopen metadata" specification
(https://uapi-group.org/specifications/specs/elf_dlopen_metadata/, first published as
systemd's ``docs/ELF_DLOPEN_METADATA.md``) puts in section ``.note.dlopen`` notes of owner
``FDO`` and type ``0x407c0c0a`` whose descriptor is a NUL-terminated UTF-8 JSON array of
objects: ``soname`` (an array of names, the most preferred first; mandatory), ``feature``,
``description``, ``priority`` (``required``, ``recommended`` (the default) or
``suggested``), and any other key. systemd writes them with ``ELF_NOTE_DLOPEN``
(``src/basic/dlfcn-util.h``): one ``static const struct`` per note in section
``.note.dlopen``, which gcc makes ``SHT_NOTE`` and the linker puts in a ``PT_NOTE`` segment.
The first revision of the specification had one object per note with ``soname`` a string;
it is read too. The notes are read from the section found by name through the section
headers; only when a file has no section headers, or no ``.note.dlopen`` section, from its
``PT_NOTE`` segments (each note once, even where segments overlap).

**Hints** (guesses, never declarations): a file that imports ``dlopen`` or ``dlmopen`` and
holds, in ``.rodata`` or ``.rodata.*``, a NUL-terminated string that is a bare soname
(``libfoo.so.1``) may pass it to ``dlopen()``.

Both are pure (bytes in, values out) and bounded by the bytes the file really holds:
descriptors are read only inside the file and at most :data:`MAX_NOTE_JSON` bytes each, no
more JSON is decoded than twice the file's size, and the counts of entries, names, problems
and hints are capped. What is wrong with a note is a problem line, never an exception; only a
file that is not ELF at all is an :class:`~ldsim.errors.ElfError`.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator
from itertools import accumulate, count

from ldsim.buffers import Buffer, FileBytes
from ldsim.elf.facts import SHN_XINDEX, SectionType, SegmentType
from ldsim.elf.layout import ElfImage, SectionHeader
from ldsim.elf.symbols import imports_any
from ldsim.errors import ElfError
from ldsim.records import record
from ldsim.safetext import shown

NT_FDO_DLOPEN_METADATA = 0x407C0C0A
NOTE_OWNER = b"FDO"
NOTE_SECTION = ".note.dlopen"
PRIORITIES = ("required", "recommended", "suggested")
DEFAULT_PRIORITY = "recommended"

MAX_NOTE_JSON = 1 << 20  # bytes of one descriptor decoded (systemd's are about 150)
MAX_STRING = 1 << 16  # characters of one soname, feature or description
MAX_ENTRIES = 4096  # entries read from one file (libsystemd-shared-257.so has 20)
MAX_SONAMES = 64  # alternatives of one entry (systemd's macro takes up to 5)
MAX_DEPTH = 64  # nesting of one descriptor's JSON (the specification's is 3)
MAX_PROBLEMS = 64  # problem lines of one file; a last one counts those left out
MAX_HINTS = 256
NAME_MAX = 255  # a soname is a file name (<linux/limits.h>)
_NAME_HEAD = 16  # bytes of a section name looked at (".note.dlopen\0" and ".rodata." fit)
_SHDR_SIZE = {True: 64, False: 40}  # sizeof (ElfW(Shdr)), by is64
_PHDR_SIZE = {True: 56, False: 32}

# A JSON string (possessive, so an unterminated one is one match to the end, never a rescan),
# then everything that is not a bracket: what is left says how deep the JSON nests.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.?)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPEN_CLOSE = str.maketrans({"[": "\x02", "{": "\x02", "]": "\x00", "}": "\x00"})
# A whole NUL-terminated string that is a bare soname: what follows is a NUL (here), what
# precedes is a NUL or the start of the section (where _string_sonames tries it).
_SONAME = re.compile(rb"lib[A-Za-z0-9_+.\-]*\.so(?:\.[0-9]+)*(?=\0)")
_AFTER_NUL = re.compile(rb"\0(" + _SONAME.pattern + rb")")


@record(frozen=True, slots=True)
class DlopenNote:
    """One entry of a dlopen metadata note: the library a feature ``dlopen()``s."""

    sonames: tuple[str, ...]  # alternatives, the most preferred first (never empty)
    feature: str | None = None
    description: str | None = None
    priority: str = DEFAULT_PRIORITY  # one of PRIORITIES


class _Problems:
    """Problem lines, at most MAX_PROBLEMS of them, then one saying how many were left out."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.dropped = 0

    def __call__(self, line: str) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(line)
        else:
            self.dropped += 1

    def done(self) -> tuple[str, ...]:
        if self.dropped:
            return (*self.lines, f"{self.dropped} more problems not shown")
        return tuple(self.lines)


Report = Callable[[str], None]


def _quoted(text: str) -> str:
    return f"'{shown(text, 120)}'"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# -- section headers ------------------------------------------------------------------------


def _section_table(img: ElfImage) -> tuple[list[tuple[bytes, SectionHeader]] | None, str | None]:
    """Every section's header with the head of its name (see :func:`_name_head`);
    ``(None, None)`` when the file has no section header table, ``(None, why)`` when it has
    one that cannot be read."""
    hdr = img.header()
    if hdr.shoff == 0:
        return None, None
    size = _SHDR_SIZE[img.is64]
    if hdr.shentsize < size:
        return None, f"e_shentsize is {hdr.shentsize}, smaller than a section header ({size})"
    first = img.section_header(hdr.shoff)
    shnum = hdr.shnum or first.size  # extended numbering: sh_size of section 0
    shstrndx = first.link if hdr.shstrndx == SHN_XINDEX else hdr.shstrndx
    if hdr.shoff + shnum * hdr.shentsize > len(img):
        return None, (f"the section header table ({shnum} entries at offset {hdr.shoff:#x}) "
                      f"runs past the end of the file ({len(img)} bytes)")
    headers = [img.section_header(hdr.shoff + i * hdr.shentsize) for i in range(shnum)]
    if not 0 < shstrndx < shnum:
        return None, f"e_shstrndx {shstrndx} names no section: section names cannot be read"
    strtab = headers[shstrndx]
    return [(_name_head(img, strtab, sh.name), sh) for sh in headers], None


def _name_head(img: ElfImage, strtab: SectionHeader, name: int) -> bytes:
    """The section name at ``name`` in the name table when it ends within _NAME_HEAD bytes
    (inside the table and the file), else its first _NAME_HEAD bytes: enough to tell
    ``.note.dlopen``, ``.rodata`` and ``.rodata.*`` from any other name, at a fixed cost
    however many sections share one long name."""
    if name >= strtab.size:
        return b""
    start = strtab.offset + name
    stop = min(strtab.offset + strtab.size, start + _NAME_HEAD, len(img))
    head = bytes(img.mv[start:stop]) if start < stop else b""
    nul = head.find(b"\0")
    return head[:nul] if nul >= 0 else head


# -- notes ----------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class _Region:
    label: str  # ".note.dlopen" or "PT_NOTE segment 6" (its index, as readelf -l numbers it)
    offset: int
    size: int
    align: int


def _note_regions(img: ElfImage, report: Report) -> list[_Region]:
    """The ``.note.dlopen`` sections; failing those, the PT_NOTE segments."""
    try:
        sections, why = _section_table(img)
    except ElfError as exc:
        sections, why = None, exc.reason
    if why is not None:
        report(f"{why}; the PT_NOTE segments are read instead")
    regions: list[_Region] = []
    seen: set[_Region] = set()
    for name, sh in sections or ():
        if name != NOTE_SECTION.encode():
            continue
        region = _Region(NOTE_SECTION, sh.offset, sh.size, 8 if sh.align == 8 else 4)
        if region in seen:  # another header for the same bytes
            continue
        seen.add(region)
        if sh.type == SectionType.NOBITS:
            report(f"section {NOTE_SECTION} is SHT_NOBITS: it has no bytes in the file")
            continue
        if sh.type != SectionType.NOTE:
            report(f"section {NOTE_SECTION} is of type {sh.type}, not SHT_NOTE; "
                   "read as notes all the same")
        regions.append(region)
    if regions:
        return regions
    hdr = img.header()
    size = _PHDR_SIZE[img.is64]
    if hdr.phoff == 0 or hdr.phnum == 0:
        return []
    if hdr.phentsize < size:
        report(f"e_phentsize is {hdr.phentsize}, smaller than a program header ({size})")
        return []
    fit = max(0, (len(img) - hdr.phoff) // hdr.phentsize)
    if hdr.phnum > fit:
        report(f"the program header table ({hdr.phnum} entries at offset {hdr.phoff:#x}) "
               f"runs past the end of the file ({len(img)} bytes); {fit} are read")
    spans: set[tuple[int, int, int]] = set()
    for i, ph in enumerate(img.program_headers(hdr.phoff, min(hdr.phnum, fit), hdr.phentsize)):
        span = (ph.offset, ph.filesz, 8 if ph.align == 8 else 4)
        if ph.type == SegmentType.NOTE and span not in spans:
            spans.add(span)
            regions.append(_Region(f"PT_NOTE segment {i}", *span))
    return regions


def _descriptors(img: ElfImage, regions: list[_Region],
                 report: Report) -> Iterator[tuple[str, memoryview | bytes]]:
    """``(where, descriptor)`` of each dlopen note inside the file, each note once."""
    seen: set[int] = set()
    json_left = 2 * len(img) + MAX_NOTE_JSON  # overlapping regions must not decode the file over
    for region in regions:
        stop = min(region.offset + region.size, len(img))
        if region.offset + region.size > len(img):
            report(f"{region.label} ({region.size} bytes at offset {region.offset:#x}) runs "
                   f"past the end of the file ({len(img)} bytes)")
        for index, note in enumerate(img.notes(region.offset, region.size, region.align), 1):
            if note.type != NT_FDO_DLOPEN_METADATA or note.name.rstrip(b"\0") != NOTE_OWNER:
                continue
            if note.desc_offset in seen:
                continue
            seen.add(note.desc_offset)
            where = f"note {index} of {region.label}"
            if note.desc_offset + note.desc_size > stop:
                report(f"{where}: its descriptor ({note.desc_size} bytes at offset "
                       f"{note.desc_offset:#x}) runs past the end of the "
                       f"{'file' if stop == len(img) else region.label}")
                continue
            if note.desc_size > MAX_NOTE_JSON:
                report(f"{where}: its descriptor is {note.desc_size} bytes, more than the "
                       f"{MAX_NOTE_JSON} read of one note; not read")
                continue
            json_left -= note.desc_size
            if json_left < 0:
                report(f"{where}: the notes overlap (more JSON than the file holds); "
                       "the rest is not read")
                return
            yield where, img.mv[note.desc_offset:note.desc_offset + note.desc_size]


def _json_depth_over(text: str, limit: int) -> bool:
    """Whether the JSON in ``text`` nests deeper than ``limit`` (brackets inside strings do
    not count); linear, in C, so a megabyte of '[' costs milliseconds, not a RecursionError."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    if len(brackets) <= limit:
        return False
    depths = map(operator.sub, accumulate(brackets.translate(_OPEN_CLOSE).encode("latin-1")),
                 count(1))
    return int(max(depths)) > limit


_NOTHING = object()


def _decode(raw: memoryview | bytes, where: str, report: Report) -> object:
    """The JSON value of one descriptor, or (after a problem line) _NOTHING."""
    data = bytes(raw)
    nul = data.find(b"\0")
    if nul < 0:
        report(f"{where}: its JSON is not NUL-terminated; read to the end of the descriptor")
    else:
        data = data[:nul]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        report(f"{where}: not UTF-8 (byte {exc.start} is {data[exc.start]:#04x})")
        return _NOTHING
    if not text.strip():
        report(f"{where}: its JSON is empty")
        return _NOTHING
    if _json_depth_over(text, MAX_DEPTH):
        report(f"{where}: its JSON nests deeper than {MAX_DEPTH} levels; not read")
        return _NOTHING
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = len(text[:exc.pos].encode("utf-8"))
        report(f"{where}: invalid JSON at byte {at}: {exc.msg}")
    except (ValueError, RecursionError) as exc:  # an integer of 5,000 digits, say
        report(f"{where}: JSON that cannot be read: {shown(str(exc), 120)}")
    return _NOTHING


def _string(entry: dict[str, object], key: str, where: str, report: Report) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        report(f"{where}: '{key}' is {_kind(value)}, not a string; ignored")
        return None
    if len(value) > MAX_STRING:
        report(f"{where}: '{key}' is {len(value)} characters long, more than {MAX_STRING}; "
               "ignored")
        return None
    return value


def _sonames(value: object, where: str, report: Report) -> tuple[str, ...]:
    if isinstance(value, str):  # the first revision: one name
        items: list[object] = [value]
    elif isinstance(value, list):
        items = value
        if len(items) > MAX_SONAMES:
            report(f"{where}: 'soname' lists {len(items)} names; the first {MAX_SONAMES} "
                   "are read")
            items = items[:MAX_SONAMES]
    else:
        report(f"{where}: 'soname' is {_kind(value)}, not an array of strings")
        return ()
    names: list[str] = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, str):
            report(f"{where}: 'soname' item {i} is {_kind(item)}, not a string; skipped")
        elif not item:
            report(f"{where}: 'soname' item {i} is empty; skipped")
        elif len(item) > MAX_STRING:
            report(f"{where}: 'soname' item {i} is {len(item)} characters long; skipped")
        elif "\0" in item:
            report(f"{where}: soname {_quoted(item)} contains a NUL; skipped")
        elif any("\ud800" <= c <= "\udfff" for c in item):
            # a JSON escape of half a UTF-16 pair: no file name is spelt so
            report(f"{where}: soname {_quoted(item)} holds a lone surrogate (a \\u escape "
                   "that is no character); skipped")
        else:
            if "/" in item:
                report(f"{where}: soname {_quoted(item)} contains a '/': dlopen() opens it "
                       "as a path, without a search")
            names.append(item)
    if not names and items:
        report(f"{where}: 'soname' names no library")
    elif not names:
        report(f"{where}: 'soname' is an empty array")
    return tuple(names)


def _entry(value: object, where: str, report: Report) -> DlopenNote | None:
    if not isinstance(value, dict):
        report(f"{where}: {_kind(value)}, not an object")
        return None
    if "soname" not in value:
        report(f"{where}: 'soname' is missing")
        return None
    sonames = _sonames(value["soname"], where, report)
    if not sonames:
        return None
    priority = value.get("priority", DEFAULT_PRIORITY)
    if not isinstance(priority, str):
        report(f"{where}: 'priority' is {_kind(priority)}, not a string; read as "
               f"{DEFAULT_PRIORITY}")
        priority = DEFAULT_PRIORITY
    elif priority not in PRIORITIES:
        report(f"{where}: 'priority' {_quoted(priority)} is not required, recommended or "
               f"suggested; read as {DEFAULT_PRIORITY}")
        priority = DEFAULT_PRIORITY
    return DlopenNote(sonames, _string(value, "feature", where, report),
                      _string(value, "description", where, report), priority)


def parse_dlopen_notes(buf: Buffer, path: str) -> tuple[tuple[DlopenNote, ...], tuple[str, ...]]:
    """The entries of the dlopen metadata notes of one ELF file, in file order, and the
    problems met reading them (one line each, saying which note and entry; what is still
    usable is kept: an unknown priority is read as ``recommended``, a soname containing a
    '/' is kept and reported). Raises :class:`ElfError` only when the file is not ELF."""
    img = ElfImage.of(buf, path)
    report = _Problems()
    notes: list[DlopenNote] = []
    try:
        for where, raw in _descriptors(img, _note_regions(img, report), report):
            value = _decode(raw, where, report)
            if value is _NOTHING:
                continue
            if isinstance(value, dict):  # the first revision: one object per note
                entries: list[object] = [value]
            elif isinstance(value, list):
                entries = value
            else:
                report(f"{where}: its JSON is {_kind(value)}, not an array of objects")
                continue
            room = MAX_ENTRIES - len(notes)
            if room == 0 and entries:
                report(f"{where}: not read, nor the notes after it ({MAX_ENTRIES} entries are "
                       "read from one file)")
                break
            if len(entries) > room:
                report(f"{where}: {len(entries)} entries, {room} read (at most {MAX_ENTRIES} "
                       "are read from one file)")
                entries = entries[:room]
            for i, item in enumerate(entries, 1):
                entry = _entry(item, f"{where}: entry {i}", report)
                if entry is not None:
                    notes.append(entry)
    except ElfError as exc:  # a table of this file that cannot be read: keep what was read
        report(exc.reason)
    return tuple(notes), report.done()


# -- hints ----------------------------------------------------------------------------------


DLOPEN_FUNCTIONS = frozenset({"dlopen", "dlmopen"})


def _rodata(img: ElfImage) -> list[tuple[int, int]]:
    """``(start, stop)`` in the file of each ``.rodata`` and ``.rodata.*`` section with bytes,
    each range once, clipped to the file."""
    try:
        sections, _why = _section_table(img)
    except ElfError:
        return []
    ranges: dict[tuple[int, int], None] = {}  # in section order, each once
    for name, sh in sections or ():
        if name != b".rodata" and not name.startswith(b".rodata."):
            continue
        if sh.type == SectionType.NOBITS or sh.size == 0 or sh.offset >= len(img):
            continue
        ranges[sh.offset, min(sh.offset + sh.size, len(img))] = None
    return list(ranges)


def _string_sonames(img: ElfImage, start: int, stop: int) -> Iterator[bytes]:
    """The strings of ``[start, stop)`` that :data:`_SONAME` matches whole (at ``start``
    or after a NUL), left to right. The search runs in C from one ``\\0lib`` to the next:
    a run of name characters is matched from its start only, and the runs are disjoint
    (each ends before the next NUL), so the work is linear in the bytes, whatever they
    hold."""
    data = img.buf
    if isinstance(data, FileBytes):
        yield from _paged_sonames(data, start, stop)
        return
    if not hasattr(data, "find"):  # a buffer re cannot search in place: a copy of the range
        data, start, stop = bytes(img.mv[start:stop]), 0, stop - start
    if (first := _SONAME.match(data, start, stop)) is not None:
        yield first.group()
    for match in _AFTER_NUL.finditer(data, start, stop):
        yield match.group(1)


_PIECE = 1 << 20


def _paged_sonames(data: FileBytes, start: int, stop: int) -> Iterator[bytes]:
    """:func:`_string_sonames` of a large file, read a piece of at most :data:`_PIECE`
    bytes at a time. Each piece ends just after a NUL (or at ``stop``), so every string
    whole in the range is whole in one piece, and each piece starts where a string does:
    a soname at its start is one after a NUL (or at ``start``). A run of more than a piece
    without a NUL holds no soname short enough to be one (the caller drops names over
    NAME_MAX), and is passed over."""
    pos = start
    while pos < stop:
        piece = data.read(pos, min(stop, pos + _PIECE))
        end = len(piece)
        if pos + end < stop:
            last = piece.rfind(b"\0")
            if last < 0:  # no NUL in a whole piece: on to the first one after it
                nul = data.find(b"\0", pos + end, stop)
                if nul < 0:
                    return
                pos = nul + 1
                continue
            piece = piece[:last + 1]
        if (first := _SONAME.match(piece)) is not None:
            yield first.group()
        for match in _AFTER_NUL.finditer(piece):
            yield match.group(1)
        pos += len(piece)


def dlopen_hints(buf: Buffer, path: str, needed: tuple[str, ...]) -> tuple[str, ...]:
    """Sonames this file *may* pass to ``dlopen()``: a guess, never a declaration.

    Only when its dynamic symbol table has an undefined ``dlopen`` or ``dlmopen``: the
    NUL-terminated strings of ``.rodata`` and ``.rodata.*`` that are a whole bare soname
    (``lib[A-Za-z0-9_+.-]*\\.so(\\.[0-9]+)*``: ``libGL.so.1``, not ``libfoo.so.1.conf``
    nor ``/usr/lib/libx.so``), those in ``needed`` left out, each once, in the order of the
    file, at most :data:`MAX_HINTS`. No section headers, no hints; a symbol table that
    cannot be read, no hints (see :func:`~ldsim.elf.symbols.imports_any`). Raises
    :class:`ElfError` only when the file is not ELF."""
    img = ElfImage.of(buf, path)
    ranges = _rodata(img)
    if not ranges:
        return ()
    try:
        if not imports_any(buf, path, DLOPEN_FUNCTIONS):
            return ()
    except ElfError:
        return ()
    skip = set(needed)
    hints: list[str] = []
    scan_left = 2 * len(img)  # overlapping sections must not scan the file over and over
    for start, stop in ranges:
        scan_left -= stop - start
        if scan_left < 0:
            break
        for found in _string_sonames(img, start, stop):
            if len(found) > NAME_MAX:
                continue
            name = found.decode("ascii")
            if name in skip:
                continue
            skip.add(name)
            hints.append(name)
            if len(hints) >= MAX_HINTS:
                return tuple(hints)
    return tuple(hints)


__all__ = ["DEFAULT_PRIORITY", "MAX_ENTRIES", "MAX_HINTS", "MAX_NOTE_JSON", "MAX_STRING",
           "NOTE_OWNER", "NOTE_SECTION", "NT_FDO_DLOPEN_METADATA", "PRIORITIES", "DlopenNote",
           "dlopen_hints", "parse_dlopen_notes"]
