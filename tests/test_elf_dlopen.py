"""ELF dlopen metadata notes and dlopen hints (``ldsim/elf/dlopen.py``).

Real files built with this machine's gcc (notes written exactly as systemd's
``ELF_NOTE_DLOPEN`` writes them), Debian 13's ``libsystemd-shared-257.so`` when its fixture
root has been built (``rootfs-fixtures/trixie_systemd.py``), and hostile notes built by code:
every one a problem line in bounded time, never an exception.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dlopenroot import NOTE_MACROS
from hypothesis import given, settings
from hypothesis import strategies as st

from ldsim.elf.dlopen import (
    MAX_ENTRIES,
    MAX_HINTS,
    MAX_NOTE_JSON,
    NT_FDO_DLOPEN_METADATA,
    DlopenNote,
    dlopen_hints,
    parse_dlopen_notes,
)
from ldsim.elf.reader import parse_elf
from ldsim.errors import ElfError

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

# systemd's ELF_NOTE_DLOPEN and its helpers (src/basic/dlfcn-util.h), as the oracle fixtures
# write them (rootfs-fixtures/dlopenroot.py), and three notes: two alternatives, required; a
# soname only; the first revision's single object with a string soname and an unknown key.
NOTES_C = NOTE_MACROS + r"""
ELF_NOTE_DLOPEN("gl", "Rendering with OpenGL", "required", "libGL.so.1", "libGL.so.0");
_ELF_NOTE_DLOPEN("[{\"soname\":[\"libonly.so.7\"]}]", only_soname);
_ELF_NOTE_DLOPEN("{\"soname\":\"libold.so.2\",\"feature\":\"old\",\"x-vendor\":[1,{}]}",
                 first_revision);

int notes_library_function(void) { return 42; }
"""
EXPECTED = (
    DlopenNote(("libGL.so.1", "libGL.so.0"), "gl", "Rendering with OpenGL", "required"),
    DlopenNote(("libonly.so.7",), None, None, "recommended"),
    DlopenNote(("libold.so.2",), "old", None, "recommended"),
)


def _gcc(tmp: Path, name: str, source: str, *args: str) -> Path:
    src = tmp / f"{name}.c"
    src.write_text(source)
    out = tmp / name
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(src), *args],
                   check=True, capture_output=True, cwd=tmp)
    return out


def _without_section_headers(data: bytes) -> bytes:
    """A copy with e_shoff, e_shnum and e_shstrndx zeroed (what ``objcopy
    --strip-section-headers`` of binutils 2.41 leaves; this machine's may be older)."""
    out = bytearray(data)
    assert out[4] == 2 and out[5] == 1, "an ELF64 little-endian file"
    struct.pack_into("<Q", out, 40, 0)  # e_shoff
    struct.pack_into("<HHH", out, 58, 64, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(out)


# -- real files written by gcc --------------------------------------------------------------


@needs_gcc
def test_notes_written_like_systemd(tmp_path: Path) -> None:
    lib = _gcc(tmp_path, "libnotes.so", NOTES_C)
    data = lib.read_bytes()
    notes, problems = parse_dlopen_notes(data, str(lib))
    assert problems == ()
    # gcc may lay the notes out in any order; each is read once (from the section, not a
    # second time from the PT_NOTE segment that holds it)
    assert len(notes) == 3 and set(notes) == set(EXPECTED)


@needs_gcc
def test_a_soname_that_is_half_a_utf16_pair_is_skipped(tmp_path: Path) -> None:
    """JSON can escape half of a UTF-16 pair ("\\ud800"), which no file name spells: the
    name is skipped with a problem, and ``explain --dlopen`` of a real library carrying it
    finishes (it ended in an internal error where the name reached the file system)."""
    source = NOTE_MACROS + r"""
_ELF_NOTE_DLOPEN("[{\"soname\":[\"lib\\ud800x.so.1\",\"libfine.so.1\"]}]", odd);
int odd_library_function(void) { return 1; }
"""
    lib = _gcc(tmp_path, "libodd.so", source)
    notes, problems = parse_dlopen_notes(lib.read_bytes(), str(lib))
    assert notes == (DlopenNote(("libfine.so.1",)),)
    assert problems == ("note 1 of .note.dlopen: entry 1: soname 'lib\\ud800x.so.1' holds a "
                        "lone surrogate (a \\u escape that is no character); skipped",), problems
    proc = subprocess.run([sys.executable, "-m", "ldsim", "explain", "--dlopen", "--json",
                           str(lib)], capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode in (0, 1) and "internal error" not in proc.stderr, proc.stderr


@needs_gcc
def test_notes_without_section_headers_come_from_the_pt_note_segment(tmp_path: Path) -> None:
    lib = _gcc(tmp_path, "libnotes.so", NOTES_C)
    segments = subprocess.run(["readelf", "-lW", str(lib)], capture_output=True, text=True,
                              check=True).stdout
    # The linker put .note.dlopen (SHT_NOTE: gcc makes every .note.* section one) in a
    # PT_NOTE segment: the section to segment mapping lists it next to the NOTE line's index.
    kinds = [line.split()[0] for line in segments.splitlines()
             if line.startswith("  ") and line.split() and line.split()[0].isupper()]
    mapping = segments.split("Section to Segment mapping:")[1].splitlines()
    with_dlopen = [int(line.split()[0]) for line in mapping
                   if ".note.dlopen" in line.split()]
    assert with_dlopen and any(kinds[i] == "NOTE" for i in with_dlopen), segments
    stripped = _without_section_headers(lib.read_bytes())
    notes, problems = parse_dlopen_notes(stripped, "stripped")
    assert problems == ()
    assert notes == parse_dlopen_notes(lib.read_bytes(), str(lib))[0]
    # without section headers there is nothing to hint from
    assert dlopen_hints(stripped, "stripped", ()) == ()


# -- Debian 13's libsystemd-shared-257.so ---------------------------------------------------

TRIXIE = Path(os.environ.get("LDSIM_TRIXIE_SYSTEMD_ROOT")
              or "/var/cache/ldsim-roots/trixie-systemd")
LIBSYSTEMD_SHARED = TRIXIE / "usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-257.so"


@pytest.mark.skipif(not LIBSYSTEMD_SHARED.is_file(),
                    reason="the trixie-systemd fixture root is not built")
def test_libsystemd_shared_257() -> None:
    data = LIBSYSTEMD_SHARED.read_bytes()
    notes, problems = parse_dlopen_notes(data, str(LIBSYSTEMD_SHARED))
    assert problems == ()
    assert len(notes) == 20  # 20 notes of one entry each (tpm: three notes)
    by_feature = {n.feature: n for n in notes}
    assert by_feature["kmod"] == DlopenNote(("libkmod.so.2",), "kmod",
                                            "Support for loading kernel modules", "recommended")
    assert by_feature["zstd"].priority == "recommended"
    assert by_feature["bpf"].sonames == ("libbpf.so.1", "libbpf.so.0")
    assert by_feature["bpf"].priority == "suggested"
    assert [n.sonames for n in notes if n.feature == "tpm"] == [
        ("libtss2-esys.so.0",), ("libtss2-rc.so.0",), ("libtss2-mu.so.0",)]
    fixture = TRIXIE / ".fixture.json"
    if fixture.is_file():
        expected = json.loads(fixture.read_text())["notes"]
        assert [(n.feature, n.description, n.priority, list(n.sonames)) for n in notes] == [
            (e["feature"], e["description"], e["priority"], e["sonames"]) for e in expected]
    # every soname it declares is also a string its code passes to dlopen: the hints agree
    facts = parse_elf(data, str(LIBSYSTEMD_SHARED))
    hints = dlopen_hints(data, str(LIBSYSTEMD_SHARED), facts.needed)
    assert {s for n in notes for s in n.sonames} <= set(hints)
    assert not set(hints) & set(facts.needed)


# -- hostile notes, built by code -----------------------------------------------------------


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def note(desc: bytes, *, owner: bytes = b"FDO\0", ntype: int = NT_FDO_DLOPEN_METADATA,
         descsz: int | None = None) -> bytes:
    """One note; ``desc`` is written as given (add the NUL yourself), ``descsz`` may lie."""
    size = len(desc) if descsz is None else descsz
    return struct.pack("<III", len(owner), size, ntype) + _pad4(owner) + _pad4(desc)


def dlopen_json(value: object) -> bytes:
    return note(json.dumps(value).encode() + b"\0")


def elf(notes: bytes, *, section: str = ".note.dlopen", sections: int = 1,
        section_size: int | None = None, shoff: int | None = None) -> bytes:
    """An ELF64 x86-64 file: header, one PT_NOTE program header, the section name table, the
    section headers (null, ``sections`` x ``section`` over the notes, .shstrtab), the notes
    last (so cutting the file cuts a note)."""
    names = b"\0" + section.encode() + b"\0.shstrtab\0"
    names_off = 64 + 56
    sh_off = (names_off + len(names) + 7) & ~7
    shnum = sections + 2
    notes_off = sh_off + 64 * shnum
    size = len(notes) if section_size is None else section_size

    def shdr(name: int, sh_type: int, off: int, sz: int, align: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, sh_type, 0, 0, off, sz, 0, 0, align, 0)

    table = shdr(0, 0, 0, 0, 0)
    table += shdr(1, 7, notes_off, size, 4) * sections
    table += shdr(len(section) + 2, 3, names_off, len(names), 1)
    ehdr = (b"\x7fELF\x02\x01\x01" + b"\0" * 9
            + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64,
                          sh_off if shoff is None else shoff, 0, 64, 56, 1, 64, shnum, shnum - 1))
    phdr = struct.pack("<IIQQQQQQ", 4, 4, notes_off, notes_off, notes_off, len(notes),
                       len(notes), 4)
    body = ehdr + phdr + names
    body += b"\0" * (sh_off - len(body))
    return body + table + notes


def parse(data: bytes, budget: float = 5.0) -> tuple[tuple[DlopenNote, ...], tuple[str, ...]]:
    start = time.perf_counter()
    out = parse_dlopen_notes(data, "hostile")
    assert time.perf_counter() - start < budget
    return out


def one_problem(data: bytes, *words: str) -> tuple[DlopenNote, ...]:
    notes, problems = parse(data)
    assert len(problems) == 1, problems
    assert all(w in problems[0] for w in words), problems
    assert "\n" not in problems[0]
    return notes


def test_synthetic_file_reads_clean() -> None:
    data = elf(dlopen_json([{"soname": ["libx.so.1", "libx.so.0"], "priority": "suggested",
                             "unknown": {"deep": [1, 2, {"x": None}]}}])
               + note(b"GNU\0", owner=b"GNU\0", ntype=3)  # not a dlopen note: not looked at
               + dlopen_json({"soname": "liby.so.2"}))
    assert parse(data) == ((DlopenNote(("libx.so.1", "libx.so.0"), None, None, "suggested"),
                            DlopenNote(("liby.so.2",))), ())


def test_not_elf_is_the_one_exception() -> None:
    with pytest.raises(ElfError):
        parse_dlopen_notes(b"#!/bin/sh\n" * 10, "script")
    with pytest.raises(ElfError):
        dlopen_hints(b"", "empty", ())


def test_malformed_json() -> None:
    notes = one_problem(elf(note(b'[{"soname": ["libx.so.1"]\0')), "note 1 of .note.dlopen",
                        "invalid JSON at byte 25")
    assert notes == ()


@pytest.mark.parametrize("value, kind", [("hello", "a string"), (42, "a number"),
                                         (None, "null"), (True, "a boolean")])
def test_json_not_an_array_or_object(value: object, kind: str) -> None:
    assert one_problem(elf(dlopen_json(value)), kind, "not an array of objects") == ()


def test_soname_problems() -> None:
    entries = [{"soname": 5}, {"feature": "f"}, {"soname": []}, {"soname": ["ok.so.1", 3, ""]},
               {"soname": ["/usr/lib/libabs.so.1"]}, "string", {"soname": ["a\u0000b"]}]
    notes, problems = parse(elf(dlopen_json(entries)))
    assert notes == (DlopenNote(("ok.so.1",)), DlopenNote(("/usr/lib/libabs.so.1",)))
    assert problems == (
        "note 1 of .note.dlopen: entry 1: 'soname' is a number, not an array of strings",
        "note 1 of .note.dlopen: entry 2: 'soname' is missing",
        "note 1 of .note.dlopen: entry 3: 'soname' is an empty array",
        "note 1 of .note.dlopen: entry 4: 'soname' item 2 is a number, not a string; skipped",
        "note 1 of .note.dlopen: entry 4: 'soname' item 3 is empty; skipped",
        "note 1 of .note.dlopen: entry 5: soname '/usr/lib/libabs.so.1' contains a '/': "
        "dlopen() opens it as a path, without a search",
        "note 1 of .note.dlopen: entry 6: a string, not an object",
        "note 1 of .note.dlopen: entry 7: soname 'a\\x00b' contains a NUL; skipped",
        "note 1 of .note.dlopen: entry 7: 'soname' names no library",
    )


def test_priority_and_text_fields() -> None:
    entries = [{"soname": ["a.so.1"], "priority": "urgent\x1b[2J"},
               {"soname": ["b.so.1"], "priority": 3, "feature": ["f"], "description": 7}]
    notes, problems = parse(elf(dlopen_json(entries)))
    assert notes == (DlopenNote(("a.so.1",)), DlopenNote(("b.so.1",)))
    assert problems[0] == ("note 1 of .note.dlopen: entry 1: 'priority' 'urgent\\x1b[2J' is "
                           "not required, recommended or suggested; read as recommended")
    assert problems[1:] == (
        "note 1 of .note.dlopen: entry 2: 'priority' is a number, not a string; read as "
        "recommended",
        "note 1 of .note.dlopen: entry 2: 'feature' is an array, not a string; ignored",
        "note 1 of .note.dlopen: entry 2: 'description' is a number, not a string; ignored")


def test_huge_descsz_claim() -> None:
    bad = note(b'[{"soname":["libx.so.1"]}]\0', descsz=0xFFFFFFF0)
    assert one_problem(elf(bad), "runs past the end") == ()
    # the same claim under a section that says it is bigger than the file: both said
    notes, problems = parse(elf(bad, section_size=0xFFFFFFF0))
    assert notes == ()
    assert problems == (".note.dlopen (4294967280 bytes at offset 0x150) runs past the end of "
                        "the file (380 bytes)", "note 1 of .note.dlopen: its descriptor "
                        "(4294967280 bytes at offset 0x160) runs past the end of the file")


def test_note_cut_by_the_end_of_the_file() -> None:
    data = elf(dlopen_json([{"soname": ["liba.so.1"]}]) + dlopen_json([{"soname": ["libb.so"]}]))
    notes, problems = parse(data[:-6])
    assert notes == (DlopenNote(("liba.so.1",)),)
    assert len(problems) == 2, problems
    assert "runs past the end of the file" in problems[0]  # the section
    assert problems[1].startswith("note 2 of .note.dlopen: its descriptor")


def test_descriptor_over_the_cap_is_not_read() -> None:
    big = b'[{"soname":["libx.so.1"],"description":"' + b"x" * MAX_NOTE_JSON + b'"}]\0'
    assert one_problem(elf(note(big)), f"more than the {MAX_NOTE_JSON}") == ()


def test_not_utf8_and_not_terminated() -> None:
    assert one_problem(elf(note(b'[{"soname":["lib\xff.so"]}]\0')), "not UTF-8",
                       "byte 16", "0xff") == ()
    notes, problems = parse(elf(note(b'[{"soname":["libx.so.1"]}]')))  # no NUL: read anyway
    assert notes == (DlopenNote(("libx.so.1",)),)
    assert problems == ("note 1 of .note.dlopen: its JSON is not NUL-terminated; read to the "
                        "end of the descriptor",)
    assert one_problem(elf(note(b"\0\0\0\0")), "its JSON is empty") == ()


@pytest.mark.parametrize("text", [
    b"[" * 200_000 + b"]" * 200_000,
    b"[" * 500_000,  # unbalanced as well
    b'[{"soname":["libx.so.1"],"x":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}]",
])
def test_deeply_nested_json(text: bytes) -> None:
    assert one_problem(elf(note(text + b"\0")), "nests deeper than 64 levels") == ()


def test_brackets_inside_strings_do_not_nest() -> None:
    desc = json.dumps([{"soname": ["libx.so.1"], "description": "[[[{" * 1000 + '\\"'}])
    notes, problems = parse(elf(note(desc.encode() + b"\0")))
    assert len(notes) == 1 and problems == ()


def test_an_integer_of_many_digits() -> None:
    desc = b'[{"soname":["libx.so.1"],"n":' + b"9" * 10_000 + b"}]\0"
    assert one_problem(elf(note(desc)), "JSON that cannot be read") == ()


def test_ten_thousand_entries() -> None:
    notes, problems = parse(elf(dlopen_json([{"soname": [f"lib{i}.so.1"]} for i in
                                             range(10_000)])))
    assert len(notes) == MAX_ENTRIES
    assert notes[-1] == DlopenNote((f"lib{MAX_ENTRIES - 1}.so.1",))
    assert problems == (f"note 1 of .note.dlopen: 10000 entries, {MAX_ENTRIES} read (at most "
                        f"{MAX_ENTRIES} are read from one file)",)


def test_entries_are_capped_across_notes() -> None:
    many = dlopen_json([{"soname": ["libx.so.1"]}] * 3000)
    notes, problems = parse(elf(many * 3))
    assert len(notes) == MAX_ENTRIES
    assert problems == (
        f"note 2 of .note.dlopen: 3000 entries, {MAX_ENTRIES - 3000} read (at most "
        f"{MAX_ENTRIES} are read from one file)",
        f"note 3 of .note.dlopen: not read, nor the notes after it ({MAX_ENTRIES} entries are "
        "read from one file)")


def test_problems_are_capped() -> None:
    notes, problems = parse(elf(dlopen_json([{"feature": "x"}] * 1000)))
    assert notes == ()
    assert len(problems) == 65 and problems[-1] == "936 more problems not shown"


def test_a_note_under_many_section_headers_is_read_once() -> None:
    data = elf(dlopen_json([{"soname": ["libx.so.1"]}]), sections=5000)
    assert parse(data) == ((DlopenNote(("libx.so.1",)),), ())


def test_fallback_to_segments() -> None:
    payload = dlopen_json([{"soname": ["libx.so.1"]}])
    # section headers, but no section named .note.dlopen: the PT_NOTE segment
    assert parse(elf(payload, section=".note.other")) == ((DlopenNote(("libx.so.1",)),), ())
    # a section header table past the end of the file: said, then the segment
    notes, problems = parse(elf(payload, shoff=1 << 40))
    assert notes == (DlopenNote(("libx.so.1",)),)
    assert len(problems) == 1 and "PT_NOTE segments are read instead" in problems[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_descriptor_is_a_value_or_problems(desc: bytes) -> None:
    notes, problems = parse_dlopen_notes(elf(note(desc)), "fuzz")
    assert all(n.sonames and n.priority in ("required", "recommended", "suggested")
               for n in notes)
    assert all(isinstance(p, str) and "\n" not in p for p in problems)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 511), st.binary(min_size=1, max_size=8))
def test_any_damage_to_the_file_is_problems(at: int, patch: bytes) -> None:
    data = bytearray(elf(dlopen_json([{"soname": ["libx.so.1"]}])))
    data[at:at + len(patch)] = patch
    try:
        notes, problems = parse_dlopen_notes(bytes(data), "fuzz")
    except ElfError:  # only when the identification bytes are broken
        assert bytes(data[:4]) != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2)
    else:
        assert all(isinstance(p, str) and "\n" not in p for p in problems)
        assert len(notes) <= 1


# -- hints ----------------------------------------------------------------------------------

def elf_with_rodata(rodata: bytes, *, imports: tuple[str, ...] = ("dlopen",),
                    copies: int = 1, entsize: int = 24) -> bytes:
    """An ELF64 x86-64 file with section headers only: ``copies`` x ``.rodata`` over the same
    bytes, a ``.dynsym`` whose symbols (after the null one) are ``imports``, undefined."""
    dynstr = b"\0" + b"".join(n.encode() + b"\0" for n in imports)
    syms = bytes(24)
    pos = 1
    for n in imports:
        syms += struct.pack("<IBBHQQ", pos, 0x12, 0, 0, 0, 0)  # GLOBAL FUNC, SHN_UNDEF
        pos += len(n) + 1
    names = b"\0.rodata\0.dynsym\0.dynstr\0.shstrtab\0"
    blobs = [rodata, syms, dynstr, names]
    offsets = []
    off = 64
    for b in blobs:
        off = (off + 7) & ~7
        offsets.append(off)
        off += len(b)
    sh_off = (off + 7) & ~7

    def shdr(name: int, sh_type: int, i: int, link: int = 0, entsize: int = 0) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, sh_type, 2, 0, offsets[i], len(blobs[i]),
                           link, 1 if sh_type == 11 else 0, 8, entsize)

    table = bytes(64) + shdr(1, 1, 0) * copies
    table += shdr(9, 11, 1, link=copies + 2, entsize=entsize) + shdr(17, 3, 2) + shdr(25, 3, 3)
    shnum = copies + 4
    ehdr = (b"\x7fELF\x02\x01\x01" + b"\0" * 9
            + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, sh_off, 0, 64, 56, 0, 64, shnum,
                          shnum - 1))
    out = bytearray(ehdr)
    for o, b in zip(offsets, blobs, strict=True):
        out += b"\0" * (o - len(out)) + b
    out += b"\0" * (sh_off - len(out))
    return bytes(out + table)


def test_hints_built_by_code() -> None:
    rodata = b"\0libz.so.1\0libc.so.6\0x-libno.so\0libz.so.1\0liblong" + b"a" * 300 + b".so\0"
    data = elf_with_rodata(rodata)
    assert dlopen_hints(data, "synthetic", ("libc.so.6",)) == ("libz.so.1",)
    assert dlopen_hints(data, "synthetic", ()) == ("libz.so.1", "libc.so.6")
    assert dlopen_hints(elf_with_rodata(rodata, imports=("dlmopen",)), "s", ()) == \
        ("libz.so.1", "libc.so.6")
    assert dlopen_hints(elf_with_rodata(rodata, imports=("dlsym", "malloc")), "s", ()) == ()
    # a NUL-terminated soname at the very start of the section counts too
    assert dlopen_hints(elf_with_rodata(b"libfirst.so.2\0"), "s", ()) == ("libfirst.so.2",)


def test_hints_are_bounded() -> None:
    many = b"".join(b"lib%d.so.1\0" % i for i in range(20_000))
    start = time.perf_counter()
    hints = dlopen_hints(elf_with_rodata(many, copies=2000), "hostile", ())
    assert time.perf_counter() - start < 5.0
    assert len(hints) == MAX_HINTS and hints[:2] == ("lib0.so.1", "lib1.so.1")
    # 3,000 section headers over one section of 200 KB without a NUL: scanned once
    start = time.perf_counter()
    assert dlopen_hints(elf_with_rodata(b"lib" * 70_000, copies=3000), "hostile", ()) == ()
    assert time.perf_counter() - start < 5.0
    # a symbol table that cannot be read (sh_entsize 0), or no section headers to find one
    # in: no hints, no exception
    assert dlopen_hints(elf_with_rodata(b"libz.so.1\0", entsize=0), "bad", ()) == ()
    data = elf_with_rodata(b"libz.so.1\0")
    assert dlopen_hints(data[:-64 * 2], "cut", ()) == ()


HINT_USER_C = r"""
#include <dlfcn.h>
__attribute__((used)) static const char *const others[] = {
        "libfoo.so.1.conf", "/usr/lib/libabs.so", "libnot-a-soname", "libplain.so",
};
void *load_hint(void) { return dlopen("libhint.so.3", RTLD_NOW); }
void *load_other(void) { return dlopen("libother.so.1", RTLD_LAZY); }
const char *other(int i) { return others[i]; }
"""
NO_DLOPEN_C = r"""
const char *name(void) { return "libhint.so.3"; }
"""
HINT_LIB_C = "int hint_function(void) { return 3; }\n"


@needs_gcc
def test_hints_from_a_library_that_calls_dlopen(tmp_path: Path) -> None:
    lib = _gcc(tmp_path, "libuser.so", HINT_USER_C, "-ldl")
    data = lib.read_bytes()
    hints = dlopen_hints(data, str(lib), parse_elf(data, str(lib)).needed)
    # in the order of .rodata; not "libfoo.so.1.conf", "/usr/lib/libabs.so", "libnot-a-soname"
    assert sorted(hints) == ["libhint.so.3", "libother.so.1", "libplain.so"]
    rodata = subprocess.run(["readelf", "-p", ".rodata", str(lib)], capture_output=True,
                            text=True, check=True).stdout
    assert list(hints) == sorted(hints, key=rodata.index)
    assert parse_dlopen_notes(data, str(lib)) == ((), ())


@needs_gcc
def test_no_hints_without_dlopen(tmp_path: Path) -> None:
    lib = _gcc(tmp_path, "libquiet.so", NO_DLOPEN_C)
    data = lib.read_bytes()
    assert b"libhint.so.3\0" in data
    assert dlopen_hints(data, str(lib), ()) == ()


@needs_gcc
def test_hints_leave_out_dt_needed(tmp_path: Path) -> None:
    _gcc(tmp_path, "libhint.so.3", HINT_LIB_C, "-Wl,-soname,libhint.so.3")
    lib = _gcc(tmp_path, "libuser.so", HINT_USER_C, f"-L{tmp_path}",
               "-Wl,--no-as-needed", "-l:libhint.so.3", "-ldl")
    data = lib.read_bytes()
    needed = parse_elf(data, str(lib)).needed
    assert "libhint.so.3" in needed
    hints = dlopen_hints(data, str(lib), needed)
    assert "libhint.so.3" not in hints and "libother.so.1" in hints


def test_imports_read_directly_agree_with_pyelftools() -> None:
    """Whether a file imports dlopen is read from its .dynsym directly; on this machine's
    files that is what pyelftools' walk of the whole table says, and an unusual table
    (sh_entsize 0) is left to pyelftools."""
    from ldsim.elf.symbols import _imports_direct, imports_any, undefined_names

    names = frozenset({"dlopen", "dlmopen"})
    seen = yes = 0
    for top in ("/usr/bin", "/usr/lib/x86_64-linux-gnu"):
        if not os.path.isdir(top):
            continue
        for entry in sorted(os.scandir(top), key=lambda e: e.name)[:250]:
            if not entry.is_file(follow_symlinks=False):
                continue
            with open(entry.path, "rb") as fh:
                data = fh.read()
            if not data.startswith(b"\x7fELF"):
                continue
            direct = _imports_direct(data, names)
            assert direct is not None, entry.path
            assert direct == bool(undefined_names(data, entry.path) & names), entry.path
            assert imports_any(data, entry.path, names) == direct
            seen += 1
            yes += direct
    if seen == 0:
        pytest.skip("no ELF files on this machine")
    assert seen > 100 and yes > 0
    odd = elf_with_rodata(b"libz.so.1\0", entsize=0)
    assert _imports_direct(odd, names) is None
    with pytest.raises(ElfError):
        imports_any(odd, "odd", names)
