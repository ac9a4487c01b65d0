"""Tests for ``ldsim.config.ld_so_cache``.

Most tests use caches written by the real ``ldconfig -r ROOT`` in temporary roots with tiny
libraries built by gcc (recipes S7a, S7d, S7f, S7g of ``docs/loader-model.md``); they skip
when ldconfig or gcc is missing. Expected lookup results are those of glibc 2.36's ld.so,
checked in a chroot (see ``test_oracle_chroot``, which needs root). Hand-built caches cover
what ldconfig never writes (unsorted tables, big-endian, broken offsets).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldsim.config.ld_so_cache import (
    DL_CACHE_HWCAP_EXTENSION,
    EXTENSION_MAGIC,
    NEW_MAGIC,
    OLD_MAGIC,
    CacheEntry,
    LdSoCache,
    libcmp,
    lookup,
    parse_ld_so_cache,
)
from ldsim.errors import CacheFormatError


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in ("/sbin", "/usr/sbin", "/usr/bin", "/bin"):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    return None


LDCONFIG = _tool("ldconfig")
GCC = _tool("gcc")
AS = _tool("as")
LD = _tool("ld")
needs_tools = pytest.mark.skipif(LDCONFIG is None or GCC is None, reason="needs ldconfig and gcc")

ALL = ["x86-64-v4", "x86-64-v3", "x86-64-v2"]
FORMATS = ("old", "compat", "new")


def look(
    cache: LdSoCache,
    name: str,
    subdirs: Sequence[str] = ALL,
    *,
    platform: str = "x86_64",
    hwcap_bits: int = 2,
    cpu_isa_1: int = 0xF,
) -> str | None:
    entry = lookup(
        cache,
        name,
        hwcaps_subdirs=subdirs,
        platform=platform,
        hwcap_bits=hwcap_bits,
        cpu_isa_1=cpu_isa_1,
    )
    return entry.value if entry else None


# ---------------------------------------------------------------------------------------
# Roots built with gcc, cached by the real ldconfig


def _run(*args: str | Path, env: dict[str, str] | None = None) -> bytes:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, env=env).stdout


def _build_lib(work: Path, soname: str, *extra: str) -> Path:
    out = work / f"{soname}{''.join(extra).replace('/', '_').replace(',', '_')}.built"
    if not out.exists():
        src = work / "l.c"
        src.write_text("int f(void){return 1;}\n")
        assert GCC is not None
        _run(GCC, "-shared", "-fPIC", "-o", out, src, f"-Wl,-soname,{soname}", *extra)
    return out


def _put(lib: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lib, dest)


def _make_root(root: Path, work: Path, confs: dict[str, str]) -> None:
    for d in (
        "lib/x86_64-linux-gnu",
        "usr/lib/x86_64-linux-gnu",
        "lib",
        "usr/lib",
        "etc/ld.so.conf.d",
        "var/cache/ldconfig",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    for name, text in confs.items():
        (root / "etc/ld.so.conf.d" / name).write_text(text)


def _populate_main(root: Path, work: Path) -> bool:
    """S7a + S7f + S7g. Returns whether the 32-bit library could be built."""
    _make_root(
        root,
        work,
        {
            "10-b.conf": "/opt/b\n",
            "05-a.conf": "/opt/a   # comment\n",
            "40-h.conf": "/opt/h\n",
            "50-c.conf": "/opt/c32\n",
        },
    )
    foo = _build_lib(work, "libfoo.so.1")
    _put(foo, root / "opt/a/libfoo.so.1.2")
    _put(foo, root / "opt/b/libfoo.so.1.0")
    _put(_build_lib(work, "libbar.so.2"), root / "opt/b/libbar.so.2.0")
    hw = _build_lib(work, "libhw.so.1")
    _put(hw, root / "opt/h/libhw.so.1")
    _put(hw, root / "opt/h/glibc-hwcaps/x86-64-v3/libhw.so.1")
    _put(hw, root / "opt/h/glibc-hwcaps/x86-64-v2/libhw.so.1.0")
    (root / "opt/c32").mkdir(parents=True, exist_ok=True)
    if AS is None or LD is None:
        return False
    (work / "a32.s").write_text(".globl f\nf: ret\n")
    try:
        _run(AS, "--32", "-o", work / "a32.o", work / "a32.s")
        _run(
            LD,
            "-m",
            "elf_i386",
            "-shared",
            "-soname",
            "libbad.so",
            "-o",
            root / "opt/c32/libbad.so",
            work / "a32.o",
        )
    except subprocess.CalledProcessError:
        return False
    return True


LEGACY_DIRS = ("x86_64", "haswell", "tls", "tls/x86_64", "avx512_1", "i686", "sse2", "xeon_phi")


def _populate_legacy(root: Path, work: Path) -> bool:
    """Legacy hwcap subdirectories (new format only: ldconfig 2.36 -c old/compat corrupts
    memory on them) and glibc-hwcaps libraries with ISA-level markers. Returns whether the
    ISA-marked libraries could be linked."""
    _make_root(root, work, {"60-l.conf": "/opt/l\n", "70-i.conf": "/opt/i\n"})
    lg = _build_lib(work, "liblg.so.1")
    _put(lg, root / "opt/l/liblg.so.1")
    for d in LEGACY_DIRS:
        _put(lg, root / f"opt/l/{d}/liblg.so.1")
    _put(_build_lib(work, "libi.so.1"), root / "opt/i/libi.so.1")
    try:
        v4 = _build_lib(work, "libi.so.1", "-Wl,-z,x86-64-v4")
        v3 = _build_lib(work, "libi.so.1", "-Wl,-z,x86-64-v3")
    except subprocess.CalledProcessError:
        return False
    _put(v4, root / "opt/i/glibc-hwcaps/x86-64-v4/libi.so.1")
    _put(v3, root / "opt/i/glibc-hwcaps/x86-64-v3/libi.so.1")
    return True


def _ldconfig(root: Path, fmt: str) -> bytes:
    assert LDCONFIG is not None
    _run(LDCONFIG, "-r", root, "-c", fmt)
    return (root / "etc/ld.so.cache").read_bytes()


def _ldconfig_print(root: Path | None) -> bytes:
    assert LDCONFIG is not None
    return _run(LDCONFIG, *(["-r", str(root)] if root else []), "-p")


@dataclass
class Roots:
    main: Path
    legacy: Path
    have_32bit: bool
    have_isa: bool
    caches: dict[str, bytes]  # format -> bytes of the main root's cache
    printed: dict[str, bytes]  # format -> ldconfig -p output for it
    legacy_cache: bytes
    legacy_printed: bytes


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Roots:
    if LDCONFIG is None or GCC is None:
        pytest.skip("needs ldconfig and gcc")
    base = tmp_path_factory.mktemp("ldcache")
    work = base / "work"
    work.mkdir()
    main, legacy = base / "main", base / "legacy"
    have_32bit = _populate_main(main, work)
    have_isa = _populate_legacy(legacy, work)
    caches: dict[str, bytes] = {}
    printed: dict[str, bytes] = {}
    for fmt in FORMATS:
        caches[fmt] = _ldconfig(main, fmt)
        printed[fmt] = _ldconfig_print(main)
    legacy_cache = _ldconfig(legacy, "new")
    return Roots(
        main, legacy, have_32bit, have_isa, caches, printed, legacy_cache, _ldconfig_print(legacy)
    )


# ---------------------------------------------------------------------------------------
# ldconfig -p rendering


def render(cache: LdSoCache) -> list[str]:
    """The entry lines of ``ldconfig -p`` (``print_entry`` in elf/cache.c), without OS ABI."""
    types = {0: "libc4", 1: "ELF", 2: "libc5", 3: "libc6"}
    required = {0: "", 0x0300: ",x86-64", 0x0800: ",x32"}
    lines = []
    for e in cache.entries:
        req = e.flags & 0xFF00
        text = types.get(e.flags & 0xFF, "unknown") + required.get(req, f",{req}")
        if e.hwcaps_subdir is not None:
            text += f', hwcap: "{e.hwcaps_subdir}"'
        elif e.hwcap:
            text += f", hwcap: {e.hwcap:#018x}"
        lines.append(f"\t{e.key} ({text}) => {e.value}")
    if cache.generator is not None:
        lines.append(f"Cache generated by: {cache.generator}")
    return lines


def printed_lines(out: bytes) -> list[str]:
    text = out.decode("utf-8", "surrogateescape")
    lines = [re.sub(r", OS ABI: [^)]*\)", ")", ln) for ln in text.splitlines()]
    return [ln for ln in lines if ln.startswith(("\t", "Cache generated by: "))]


# ---------------------------------------------------------------------------------------
# libcmp


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("libfoo.so.01", "libfoo.so.1", 0),
        ("libbar.so.002", "libbar.so.2", 0),
        ("libfoo.so.10", "libfoo.so.9", 1),
        ("libfoo.so.1", "libfoo.so.1.0", -1),
        ("libfoo.so", "libfoo.so.1", -1),
        ("libfoo1.so", "libfoo.so", 1),  # a digit sorts after any other character
        ("libfoo.so", "libfoo1.so", -1),
        ("liba.so", "libb.so", -1),
        ("lib\udcc3.so", "liba.so", -1),  # bytes >= 0x80 are negative (signed char)
        ("", "", 0),
        ("", "a", -1),
        ("a\0zzz", "a", 0),  # a NUL ends the string, as in C
    ],
)
def test_libcmp(a: str, b: str, sign: int) -> None:
    def sgn(v: int) -> int:
        return (v > 0) - (v < 0)

    assert sgn(libcmp(a, b)) == sign
    assert sgn(libcmp(b, a)) == -sign


def test_libcmp_wraps_like_32_bit_int() -> None:
    # 4294967297 wraps to 1 in a 32-bit int, exactly as in the compiled C code.
    assert libcmp("lib.so.4294967297", "lib.so.1") == 0


# ---------------------------------------------------------------------------------------
# Real caches: formats, ldconfig -p, recipes


@needs_tools
def test_three_formats_same_entries(roots: Roots) -> None:
    parsed = {fmt: parse_ld_so_cache(data) for fmt, data in roots.caches.items()}
    assert {fmt: c.format for fmt, c in parsed.items()} == {f: f for f in FORMATS}

    def triples(c: LdSoCache) -> list[tuple[str, int, str]]:
        return [(e.key, e.flags, e.value) for e in c.entries]

    assert triples(parsed["old"]) == triples(parsed["compat"]) == triples(parsed["new"])
    assert [e.hwcap for e in parsed["compat"].entries] == [e.hwcap for e in parsed["new"].entries]
    assert all(e.hwcap == 0 for e in parsed["old"].entries)
    new = parsed["new"]
    assert new.hwcaps_subdirs == ("x86-64-v2", "x86-64-v3")
    assert new.generator is not None and new.generator.startswith("ldconfig ")
    assert parsed["compat"].generator == new.generator
    assert parsed["old"].generator is None
    # The compat quirk: glibc reads the hwcaps names at the wrong base (see module doc).
    assert parsed["compat"].hwcaps_subdirs != new.hwcaps_subdirs
    keys = [e.key for e in new.entries]
    assert "libfoo.so.1" in keys and "libhw.so.1" in keys
    assert all(libcmp(a, b) >= 0 for a, b in itertools.pairwise(keys))


@needs_tools
@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_equal_ldconfig_print(roots: Roots, fmt: str) -> None:
    cache = parse_ld_so_cache(roots.caches[fmt])
    assert render(cache) == printed_lines(roots.printed[fmt])
    head = roots.printed[fmt].decode().splitlines()[0]
    assert head.startswith(f"{len(cache.entries)} libs found in cache")


@needs_tools
def test_legacy_root_equals_ldconfig_print(roots: Roots) -> None:
    cache = parse_ld_so_cache(roots.legacy_cache)
    assert render(cache) == printed_lines(roots.legacy_printed)


@needs_tools
@pytest.mark.parametrize("fmt", FORMATS)
def test_s7a_first_conf_dir_wins(roots: Roots, fmt: str) -> None:
    cache = parse_ld_so_cache(roots.caches[fmt])
    values = [e.value for e in cache.entries if e.key == "libfoo.so.1"]
    assert values == ["/opt/a/libfoo.so.1", "/opt/b/libfoo.so.1"]
    assert look(cache, "libfoo.so.1") == "/opt/a/libfoo.so.1"
    assert look(cache, "libbar.so.2") == "/opt/b/libbar.so.2"
    assert look(cache, "libfoo.so.2") is None
    assert look(cache, "libfoo.so") is None
    assert look(cache, "libnothing.so.1") is None


@needs_tools
@pytest.mark.parametrize("fmt", FORMATS)
def test_s7d_numeric_comparison(roots: Roots, fmt: str) -> None:
    cache = parse_ld_so_cache(roots.caches[fmt])
    assert look(cache, "libfoo.so.01") == "/opt/a/libfoo.so.1"
    assert look(cache, "libbar.so.002") == "/opt/b/libbar.so.2"
    assert look(cache, "libbar.so.0002.") is None


@needs_tools
def test_s7f_hwcaps_priority(roots: Roots) -> None:
    new = parse_ld_so_cache(roots.caches["new"])
    hw = [(e.hwcaps_subdir, e.value) for e in new.entries if e.key == "libhw.so.1"]
    assert hw == [
        ("x86-64-v2", "/opt/h/glibc-hwcaps/x86-64-v2/libhw.so.1.0"),
        ("x86-64-v3", "/opt/h/glibc-hwcaps/x86-64-v3/libhw.so.1"),
        (None, "/opt/h/libhw.so.1"),
    ]
    v3, v2, plain = hw[1][1], hw[0][1], hw[2][1]
    assert look(new, "libhw.so.1") == v3
    assert look(new, "libhw.so.1", ["x86-64-v3", "x86-64-v2"]) == v3
    assert look(new, "libhw.so.1", ["x86-64-v2"]) == v2
    assert look(new, "libhw.so.1", ["x86-64-v2", "x86-64-v3"]) == v2  # prepend-style order
    assert look(new, "libhw.so.1", ["x86-64-v3"]) == v3
    assert look(new, "libhw.so.1", []) == plain
    assert look(new, "libhw.so.1", ["x86-64-v4"]) == plain
    # Old format: hwcaps entries are stored as plain ones; the first (v2) always wins.
    old = parse_ld_so_cache(roots.caches["old"])
    for subdirs in (ALL, ["x86-64-v2"], []):
        assert look(old, "libhw.so.1", subdirs) == v2
    # Compat format: glibc reads the hwcaps names at the wrong base, never matches them.
    compat = parse_ld_so_cache(roots.caches["compat"])
    for subdirs in (ALL, ["x86-64-v2"], []):
        assert look(compat, "libhw.so.1", subdirs) == plain


@needs_tools
@pytest.mark.parametrize("fmt", FORMATS)
def test_s7g_32bit_entry_ignored(roots: Roots, fmt: str) -> None:
    if not roots.have_32bit:
        pytest.skip("cannot build a 32-bit library (as --32 / ld -m elf_i386)")
    cache = parse_ld_so_cache(roots.caches[fmt])
    bad = [e for e in cache.entries if e.key == "libbad.so"]
    assert [(e.flags, e.value) for e in bad] == [(0x1, "/opt/c32/libbad.so")]
    assert "\tlibbad.so (ELF) => /opt/c32/libbad.so" in render(cache)
    assert look(cache, "libbad.so") is None


@needs_tools
def test_legacy_hwcap_filtering(roots: Roots) -> None:
    cache = parse_ld_so_cache(roots.legacy_cache)
    order = [e.value.split("/opt/l/")[1] for e in cache.entries if e.key == "liblg.so.1"]
    assert order == [
        "tls/x86_64/liblg.so.1",
        "tls/liblg.so.1",
        "xeon_phi/liblg.so.1",
        "haswell/liblg.so.1",
        "i686/liblg.so.1",
        "avx512_1/liblg.so.1",
        "x86_64/liblg.so.1",
        "sse2/liblg.so.1",
        "liblg.so.1",
    ]

    def lg(c: LdSoCache = cache, **kw: Any) -> str | None:
        v = look(c, "liblg.so.1", **kw)
        return v and v.split("/opt/l/")[1]

    # Observed with the real ld.so on an AMD CPU (dl_hwcap 2, platform x86_64).
    assert lg() == "tls/x86_64/liblg.so.1"
    assert lg(hwcap_bits=0) == "tls/liblg.so.1"
    # Without the TLS entries (filter them out of a copy of the cache):
    no_tls = LdSoCache(
        cache.format,
        tuple(e for e in cache.entries if "/tls/" not in e.value),
        cache.generator,
        cache.hwcaps_subdirs,
    )

    assert lg(no_tls) == "x86_64/liblg.so.1"
    assert lg(no_tls, hwcap_bits=6) == "avx512_1/liblg.so.1"
    assert lg(no_tls, hwcap_bits=0) == "liblg.so.1"
    assert lg(no_tls, platform="haswell") == "haswell/liblg.so.1"
    assert lg(no_tls, platform="xeon_phi") == "xeon_phi/liblg.so.1"
    assert lg(no_tls, platform="i686") == "x86_64/liblg.so.1"  # not a platform on x86_64


@needs_tools
def test_hwcaps_isa_level(roots: Roots) -> None:
    if not roots.have_isa:
        pytest.skip("linker cannot mark x86-64 ISA levels")
    cache = parse_ld_so_cache(roots.legacy_cache)
    levels = {e.hwcaps_subdir: e.isa_level for e in cache.entries if e.key == "libi.so.1"}
    assert levels == {"x86-64-v3": 2, "x86-64-v4": 3, None: 0}
    assert look(cache, "libi.so.1") == "/opt/i/glibc-hwcaps/x86-64-v4/libi.so.1"
    assert look(cache, "libi.so.1", cpu_isa_1=0x7) == "/opt/i/glibc-hwcaps/x86-64-v3/libi.so.1"
    assert look(cache, "libi.so.1", cpu_isa_1=0x3) == "/opt/i/libi.so.1"


@pytest.mark.host
def test_host_cache_matches_ldconfig_print() -> None:
    path = Path("/etc/ld.so.cache")
    if LDCONFIG is None or not path.is_file():
        pytest.skip("no ldconfig or no /etc/ld.so.cache")
    data = path.read_bytes()
    cache = parse_ld_so_cache(data, str(path))
    out = _ldconfig_print(None)
    if path.read_bytes() != data:
        pytest.skip("/etc/ld.so.cache changed while the test ran")
    assert render(cache) == printed_lines(out)
    for e in cache.entries:
        found = lookup(cache, e.key, hwcaps_subdirs=ALL, platform="x86_64")
        if e.flags == 0x0303 and e.hwcap == 0:
            assert found is not None and libcmp(found.key, e.key) == 0
    libc = lookup(cache, "libc.so.6", hwcaps_subdirs=ALL, platform="x86_64")
    assert libc is not None and libc.value.endswith("/libc.so.6")


# ---------------------------------------------------------------------------------------
# Hand-built caches


def new_cache(
    entries: Sequence[tuple[str, str, int, int]],
    names: Sequence[str] = (),
    generator: str | None = "test generator",
    *,
    big: bool = False,
    flags_byte: int | None = None,
) -> bytes:
    """A new-format cache with entries (key, value, flags, hwcap) in the given order."""
    bo = ">" if big else "<"
    strings = bytearray()
    offsets: dict[str, int] = {}
    start = 48 + 24 * len(entries)

    def intern(s: str) -> int:
        if s not in offsets:
            offsets[s] = start + len(strings)
            strings.extend(s.encode("utf-8", "surrogateescape") + b"\0")
        return offsets[s]

    rows = [(flags, intern(k), intern(v), hwcap) for k, v, flags, hwcap in entries]
    name_offsets = [intern(n) for n in names]
    body = bytearray()
    for flags, k, v, hwcap in rows:
        body += struct.pack(bo + "iIIIQ", flags, k, v, 0, hwcap)
    ext_off = (start + len(strings) + 3) & ~3
    strings += b"\0" * (ext_off - start - len(strings))
    sections = []
    payload = bytearray()
    n_sections = (1 if names else 0) + (1 if generator is not None else 0)
    data_off = ext_off + 8 + 16 * n_sections
    if names:
        sections.append((1, data_off, 4 * len(names)))
        payload += b"".join(struct.pack(bo + "I", o) for o in name_offsets)
    if generator is not None:
        g = generator.encode()
        sections.append((0, data_off + len(payload), len(g)))
        payload += g
    ext = struct.pack(bo + "II", EXTENSION_MAGIC, len(sections))
    ext += b"".join(struct.pack(bo + "IIII", t, 0, o, s) for t, o, s in sections)
    fb = (3 if big else 2) if flags_byte is None else flags_byte
    header = NEW_MAGIC + struct.pack(
        bo + "IIB3xI12x", len(entries), len(strings), fb, ext_off if sections else 0
    )
    return bytes(header + body + strings + ext + payload)


def old_cache(entries: Sequence[tuple[str, str, int]]) -> bytes:
    strings = bytearray()

    def intern(s: str) -> int:
        off = len(strings)
        strings.extend(s.encode() + b"\0")
        return off

    rows = [(flags, intern(k), intern(v)) for k, v, flags in entries]
    head = OLD_MAGIC + b"\0" + struct.pack("<I", len(entries))
    return head + b"".join(struct.pack("<iII", *r) for r in rows) + bytes(strings)


def hw(index: int, isa_level: int = 0) -> int:
    return DL_CACHE_HWCAP_EXTENSION | (isa_level << 32) | index


X = 0x0303
HW_ENTRIES = [
    ("libq.so.1", "/q/v2", X, hw(0)),
    ("libq.so.1", "/q/v3", X, hw(1, 2)),
    ("libq.so.1", "/q/v4", X, hw(2, 3)),
    ("libq.so.1", "/q/plain", X, 0),
]
HW_NAMES = ["x86-64-v2", "x86-64-v3", "x86-64-v4"]


def test_synthetic_hwcaps() -> None:
    cache = parse_ld_so_cache(new_cache(HW_ENTRIES, HW_NAMES))
    assert cache.format == "new" and cache.generator == "test generator"
    assert [e.hwcaps_subdir for e in cache.entries] == [*HW_NAMES, None]
    assert [e.isa_level for e in cache.entries] == [0, 2, 3, 0]
    assert look(cache, "libq.so.1") == "/q/v4"
    assert look(cache, "libq.so.1", cpu_isa_1=0x7) == "/q/v3"
    assert look(cache, "libq.so.1", ["x86-64-v2", "x86-64-v4"]) == "/q/v2"
    assert look(cache, "libq.so.1", ["", "x86-64-v3"]) == "/q/v3"  # empty names are skipped
    assert look(cache, "libq.so.1", ["x86-64-v9"]) == "/q/plain"
    # A hwcaps entry whose index has no name is never selected (glibc priority 0).
    dangling = parse_ld_so_cache(
        new_cache([("libq.so.1", "/q/x", X, hw(7)), HW_ENTRIES[3]], HW_NAMES)
    )
    assert dangling.entries[0].hwcaps_subdir is None
    assert look(dangling, "libq.so.1") == "/q/plain"
    # Names that are not sorted (ldconfig sorts them) defeat glibc's merge.
    unsorted = parse_ld_so_cache(
        new_cache(
            [("libq.so.1", "/q/v3", X, hw(0)), ("libq.so.1", "/q/v2", X, hw(1))],
            ["x86-64-v3", "x86-64-v2"],
        )
    )
    assert look(unsorted, "libq.so.1", ["x86-64-v2"]) is None
    assert look(unsorted, "libq.so.1", ["x86-64-v3", "x86-64-v2"]) == "/q/v3"


def test_synthetic_plain_after_hwcaps_and_legacy_bits() -> None:
    entries = [
        ("libq.so.1", "/q/v3", X, hw(0)),
        ("libq.so.1", "/q/avx", X, 1 << 2),
        ("libq.so.1", "/q/plain", X, 0),
    ]
    cache = parse_ld_so_cache(new_cache(entries, ["x86-64-v3"]))
    assert look(cache, "libq.so.1") == "/q/v3"  # found: the first plain entry ends the scan
    assert look(cache, "libq.so.1", []) == "/q/plain"  # avx512_1 bit not in dl_hwcap
    assert look(cache, "libq.so.1", [], hwcap_bits=6) == "/q/avx"
    # Bit 62 together with another high bit is not a hwcaps entry but a legacy one.
    odd = parse_ld_so_cache(new_cache([("libq.so.1", "/q/odd", X, hw(0) | 1 << 63)], ["a"]))
    assert odd.entries[0].hwcaps_subdir is None
    assert look(odd, "libq.so.1") is None


def test_synthetic_flags_and_wrong_class() -> None:
    entries = [
        ("libq.so.1", "/q/i386", 0x0003, 0),
        ("libq.so.1", "/q/x32", 0x0803, 0),
        ("libq.so.1", "/q/elf", 0x0001, 0),
        ("libq.so.1", "/q/x86_64", X, 0),
    ]
    assert look(parse_ld_so_cache(new_cache(entries)), "libq.so.1") == "/q/x86_64"
    assert look(parse_ld_so_cache(old_cache([e[:3] for e in entries])), "libq.so.1") == (
        "/q/x86_64"
    )


def test_unsorted_cache_binary_search() -> None:
    ascending = [("liba.so.1", "/a", X, 0), ("libb.so.1", "/b", X, 0), ("libc.so.1", "/c", X, 0)]
    cache = parse_ld_so_cache(new_cache(ascending))
    assert look(cache, "libb.so.1") == "/b"  # the first probe
    assert look(cache, "liba.so.1") is None  # present, but binary search goes the wrong way
    assert look(cache, "libc.so.1") is None
    descending = parse_ld_so_cache(new_cache(ascending[::-1]))
    assert [look(descending, f"lib{c}.so.1") for c in "abc"] == ["/a", "/b", "/c"]


def test_forward_scan_stops_at_other_key() -> None:
    # Probe 1 (liba) sends the search left; entry 0 matches but is i386, and the forward scan
    # stops at entry 1 (another key), never reaching the good entries 2 and 3. (It would stop
    # at the binary search's right bound too, but that is always such a probed entry.)
    entries = [
        ("libk.so.1", "/k/i386", 0x0003, 0),
        ("liba.so.1", "/a", X, 0),
        ("libk.so.1", "/k/good", X, 0),
        ("libk.so.1", "/k/good2", X, 0),
    ]
    assert look(parse_ld_so_cache(new_cache(entries)), "libk.so.1") is None
    # Walk back to the first equal key, then forward: the first acceptable entry wins.
    run = [("libz.so.1", "/z", X, 0)] + [("libk.so.1", f"/k/{i}", X, 0) for i in range(5)]
    assert look(parse_ld_so_cache(new_cache(run)), "libk.so.1") == "/k/0"


def test_big_endian_parses_but_is_not_used() -> None:
    little = parse_ld_so_cache(new_cache(HW_ENTRIES, HW_NAMES))
    big = parse_ld_so_cache(new_cache(HW_ENTRIES, HW_NAMES, big=True))
    assert big.byte_order == "big" and little.byte_order == "little"
    assert big.entries == little.entries and big.hwcaps_subdirs == little.hwcaps_subdirs
    assert big.generator == little.generator
    assert look(big, "libq.so.1") is None
    unset = parse_ld_so_cache(new_cache(HW_ENTRIES, HW_NAMES, flags_byte=0))
    assert unset.byte_order == "little" and unset.entries == little.entries


def test_old_format_and_empty_caches() -> None:
    cache = parse_ld_so_cache(old_cache([("libq.so.1", "/q", X)]))
    assert cache == LdSoCache("old", (CacheEntry("libq.so.1", "/q", X, 0, None, 0),), None, ())
    empty_old = parse_ld_so_cache(OLD_MAGIC + b"\0" + struct.pack("<I", 0) + b"\0")
    assert empty_old.entries == () and look(empty_old, "libq.so.1") is None
    empty_new = parse_ld_so_cache(new_cache([], generator="g"))
    assert empty_new.entries == () and empty_new.generator == "g"


def test_names_round_trip_through_surrogateescape() -> None:
    raw_key = "lib\udcff\udcfe.so.1"  # the bytes ff fe, not UTF-8
    cache = parse_ld_so_cache(new_cache([(raw_key, "/x/\udcff", X, 0)]))
    assert cache.entries[0].key == raw_key
    assert look(cache, raw_key) == "/x/\udcff"
    assert look(cache, "lib\ud800.so.1") is None  # unencodable names do not crash


def _set(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, *values)
    return bytes(b)


GOOD = new_cache(HW_ENTRIES, HW_NAMES)
EXT_OFF = struct.unpack_from("<I", GOOD, 32)[0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello world, not a cache at all", "not an ld.so.cache"),
        (NEW_MAGIC[:7], "inside the magic"),
        (NEW_MAGIC + bytes(28), "truncated"),
        (OLD_MAGIC + b"\0" + b"\0\0\0\0", "truncated"),
        (_set(GOOD, 20, "<I", 1000), "nlibs 1000"),
        (_set(GOOD, 48 + 4, "<I", 10**6), "string offset 1000000 is outside the file"),
        (_set(GOOD, 48 + 24 + 8, "<I", len(GOOD) - 1), "no terminating NUL"),
        (_set(GOOD, 28, "<B", 1), "no valid byte order"),
        (_set(GOOD, 28, "<B", 4), "no valid byte order"),
        (_set(GOOD, 32, "<I", EXT_OFF + 2), "not a multiple of 4"),
        (_set(GOOD, 32, "<I", len(GOOD) + 4 & ~3), "extension directory at offset"),
        (_set(GOOD, EXT_OFF, "<I", 0x12345678), "expected 0xeaa42174"),
        (_set(GOOD, EXT_OFF + 4, "<I", 99), "lists 99 sections"),
        (_set(GOOD, EXT_OFF + 20, "<I", 10**6), "extends past the end"),
        (_set(GOOD, EXT_OFF + 8 + 32, "<I", len(GOOD)), "glibc-hwcaps name 0"),
        (old_cache([("a", "b", X)])[:-1], "no terminating NUL"),
        (_set(old_cache([("a", "b", X)]), 12, "<I", 2), "nlibs 2 of the old-format header"),
        (_set(old_cache([("a", "b", X)]), 20, "<I", 99), "string offset"),
    ],
)
def test_format_errors(data: bytes, reason: str) -> None:
    with pytest.raises(CacheFormatError) as info:
        parse_ld_so_cache(data, "/root/etc/ld.so.cache")
    assert reason in info.value.reason
    assert info.value.path == "/root/etc/ld.so.cache"
    assert str(info.value).startswith("/root/etc/ld.so.cache: ")


def test_compat_needs_whole_new_header() -> None:
    # An old block followed by a new magic but less than a full 48-byte header is old format
    # (glibc: cachesize < offset + sizeof (struct cache_file_new)).
    base = old_cache([("libq.so.1", "/q", X), ("libr.so.1", "/r", X)])
    strings_at = 16 + 2 * 12  # already 8-aligned
    assert parse_ld_so_cache(base).format == "old"
    short = parse_ld_so_cache(base[:strings_at] + NEW_MAGIC + bytes(27))
    assert short.format == "old" and len(short.entries) == 2
    full = parse_ld_so_cache(base[:strings_at] + NEW_MAGIC + bytes(28))
    assert full.format == "compat" and full.entries == () and full.generator is None


# ---------------------------------------------------------------------------------------
# Robustness: truncated, corrupted and random inputs


def _exercise(data: bytes) -> None:
    """Parse; anything but CacheFormatError fails the test. Then look up every key."""
    try:
        cache = parse_ld_so_cache(data)
    except CacheFormatError:
        return
    names = {e.key for e in cache.entries} | {"libc.so.6", "libhw.so.1", ""}
    for name in names:
        for subdirs in (ALL, []):
            lookup(cache, name, hwcaps_subdirs=subdirs, platform="haswell", hwcap_bits=6)
    render(cache)


def _variants(data: bytes) -> Iterator[bytes]:
    size = len(data)
    for cut in range(min(200, size)):
        yield data[:cut]
    for cut in sorted({size // 4, size // 3, size // 2, (2 * size) // 3, size - 8, size - 1}):
        yield data[:cut]
    for i in range(size):
        for x in (0xFF, 0x80, 0x01):
            b = bytearray(data)
            b[i] ^= x
            yield bytes(b)


@needs_tools
@pytest.mark.parametrize("fmt", FORMATS)
def test_corrupted_real_caches(roots: Roots, fmt: str) -> None:
    for variant in _variants(roots.caches[fmt]):
        _exercise(variant)


def test_corrupted_synthetic_caches() -> None:
    for data in (GOOD, old_cache([("libq.so.1", "/q", X), ("liba.so.1", "/a", 1)])):
        for variant in _variants(data):
            _exercise(variant)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    _exercise(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([OLD_MAGIC, OLD_MAGIC + b"\0", NEW_MAGIC]), st.binary(max_size=400))
def test_arbitrary_bytes_after_magic(magic: bytes, rest: bytes) -> None:
    _exercise(magic + rest)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=8))
def test_mutated_synthetic_cache(changes: list[tuple[int, int]]) -> None:
    b = bytearray(GOOD)
    for pos, val in changes:
        b[pos] = val
    _exercise(bytes(b))


# ---------------------------------------------------------------------------------------
# Oracle: the real ld.so in a chroot (root only)


def _diagnostics(ldso: str) -> dict[str, str]:
    out = _run(ldso, "--list-diagnostics").decode()
    return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)


def _active_subdirs(ldso: str, mask: str | None) -> list[str]:
    args = [ldso] + (["--glibc-hwcaps-mask", mask] if mask else []) + ["--help"]
    out = _run(*args).decode()
    section = out.split("Subdirectories of glibc-hwcaps directories", 1)[1].split("\n\n")[0]
    return re.findall(r"^\s+(\S+) \(supported, searched\)", section, re.M)


@pytest.mark.oracle
def test_oracle_chroot(roots: Roots, tmp_path: Path) -> None:
    ldso = "/lib64/ld-linux-x86-64.so.2"
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    chroot = _tool("chroot")
    patchelf = _tool("patchelf")
    env_tool = _tool("env")
    if (
        os.geteuid() != 0
        or chroot is None
        or patchelf is None
        or env_tool is None
        or not Path(libc).exists()
    ):
        pytest.skip("needs root, chroot, patchelf, env and the host's x86_64 glibc")
    diag = _diagnostics(ldso)
    if "x86.cpu_features.isa_1" not in diag:
        pytest.skip("ld.so --list-diagnostics lacks the CPU data")
    hwcap_bits = int(diag["dl_hwcap"], 0) & int(diag["dl_hwcap_important"], 0)
    platform = diag["dl_platform"].strip('"')
    isa_1 = int(diag["x86.cpu_features.isa_1"], 0)

    root = roots.main
    (root / "lib64").mkdir(exist_ok=True)
    shutil.copy(os.path.realpath(ldso), root / "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    shutil.copy(os.path.realpath(libc), root / "lib/x86_64-linux-gnu/libc.so.6")
    if not (root / "lib64/ld-linux-x86-64.so.2").is_symlink():
        (root / "lib64/ld-linux-x86-64.so.2").symlink_to(
            "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        )
    (root / "bin").mkdir(exist_ok=True)
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(os.path.realpath(env_tool), root / "usr/bin/env")
    (tmp_path / "m.c").write_text("int main(void){return 0;}\n")
    assert GCC is not None
    _run(GCC, "-o", tmp_path / "exe", tmp_path / "m.c")

    def exe_for(name: str) -> str:
        target = root / "bin" / f"e_{name}"
        if not target.exists():
            shutil.copy(tmp_path / "exe", target)
            _run(patchelf, "--add-needed", name, target)
        return f"/bin/e_{name}"

    def real(name: str, mask: str | None) -> str | None:
        # Trace mode (what ldd does): a missing library prints "NAME => not found". The
        # variable is set inside the chroot, else the host's ld.so would trace chroot itself.
        args = [chroot, str(root), "/usr/bin/env", "-i", "LD_TRACE_LOADED_OBJECTS=1"]
        args += ["/lib64/ld-linux-x86-64.so.2"]
        args += ["--glibc-hwcaps-mask", mask] if mask else []
        out = _run(*args, exe_for(name)).decode()
        m = re.search(rf"^\t{re.escape(name)} => (\S+)", out, re.M)
        assert m, out
        return None if m.group(1) == "not" else m.group(1)

    def check(cache_bytes: bytes, names: Sequence[str], masks: Sequence[str | None]) -> None:
        (root / "etc/ld.so.cache").write_bytes(cache_bytes)
        cache = parse_ld_so_cache(cache_bytes)
        for mask in masks:
            active = _active_subdirs(ldso, mask)
            for name in names:
                entry = lookup(
                    cache,
                    name,
                    hwcaps_subdirs=active,
                    platform=platform,
                    hwcap_bits=hwcap_bits,
                    cpu_isa_1=isa_1,
                )
                assert real(name, mask) == (entry.value if entry else None), (name, mask)

    names = [
        "libfoo.so.1",
        "libbar.so.2",
        "libfoo.so.01",
        "libbar.so.002",
        "libbad.so",
        "libnope.so.1",
    ]
    for fmt in FORMATS:
        check(roots.caches[fmt], names, [None])
        check(roots.caches[fmt], ["libhw.so.1"], [None, "x86-64-v2", "none"])
    # Hand-made caches pointing at real files: unsorted and right-bound cases.
    good = "/opt/b/libbar.so.2"
    check(
        new_cache(
            [("libbar.so.2", good, X, 0), ("libbar.so.3", good, X, 0), ("libbar.so.4", good, X, 0)]
        ),
        ["libbar.so.2", "libbar.so.3"],
        [None],
    )
    check(
        new_cache(
            [
                ("libk.so.1", "/opt/c32/libbad.so", 0x0003, 0),
                ("liba.so.1", good, X, 0),
                ("libk.so.1", good, X, 0),
            ]
        ),
        ["libk.so.1"],
        [None],
    )
