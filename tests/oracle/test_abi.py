"""ABI findings against the real loader: symbol versions and an Alpine-like libc mix.

Each test asks the real glibc loader in a chroot (trace mode through the kernel, and a real
run where the hazard only shows at run time) and checks that ldsim reports exactly the
finding that explains what the loader does.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from abi_roots import COMPAT, alpine_like_root, rebuild_libv, version_root
from glibcroot import REPO, Root, run_program, run_real_loader

pytestmark = pytest.mark.oracle


def ldsim_check(root: Root, exe: str, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "ldsim", "check", "--json", "--root", str(root.path), *args, exe],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def ids(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["id"], f["severity"], f["detail"]) for f in doc["findings"]]


@pytest.fixture(scope="module")
def s13(tmp_path_factory: pytest.TempPathFactory) -> Root:
    return version_root(tmp_path_factory.mktemp("abi") / "root")


def test_provider_with_the_version_is_clean(s13: Root) -> None:
    s13_root = version_root(s13.path.parent / "clean")
    real = run_program(s13_root, "/s13/bin/exe")
    assert real.status == 0, real.stderr
    status, doc = ldsim_check(s13_root, "/s13/bin/exe")
    assert status == 0 and doc["findings"] == []


def test_version_missing(s13: Root) -> None:
    rebuild_libv(s13, "VERS_1")
    real = run_program(s13, "/s13/bin/exe")
    assert real.status == 1
    assert "version `VERS_2' not found (required by /s13/bin/exe)" in real.stderr
    traced = run_real_loader(s13, "/s13/bin/exe")
    assert traced.status == 0  # trace mode prints the message and lists anyway
    status, doc = ldsim_check(s13, "/s13/bin/exe")
    assert status == 1
    assert ids(doc) == [("version-missing", "error", "VERS_2")]
    f = doc["findings"][0]
    assert f["object"] == "/s13/bin/exe" and f["library"] == "/s13/lib/libv.so"
    assert "version `VERS_2' not found (required by /s13/bin/exe)" in f["message"]


def test_weak_version_reference_is_a_warning(s13: Root) -> None:
    rebuild_libv(s13, "VERS_1")
    s13.copy("/s13/bin/exe", "/s13/bin/weak")
    s13.set_vernaux_weak("/s13/bin/weak", "VERS_2")
    real = run_program(s13, "/s13/bin/weak")
    assert "weak version `VERS_2' not found" in real.stderr
    _status, doc = ldsim_check(s13, "/s13/bin/weak", "--no-symbols")
    assert ids(doc) == [("version-missing", "warning", "VERS_2")]


def test_unversioned_provider(s13: Root) -> None:
    rebuild_libv(s13, None)
    traced = run_real_loader(s13, "/s13/bin/exe")
    assert traced.status == 0
    assert [e.name for e in traced.found][:1] == ["libv.so"]
    assert "no version information available" in traced.stderr
    real = run_program(s13, "/s13/bin/exe")
    assert real.status == 127 and "check_match" in real.stderr
    status, doc = ldsim_check(s13, "/s13/bin/exe")
    assert status == 1
    assert ids(doc) == [("unversioned-provider", "error", "VERS_2")]
    msg = doc["findings"][0]["message"]
    assert "no version information available" in msg and "aborts" in msg


def test_unversioned_provider_with_versym_binds_silently(s13: Root) -> None:
    """A provider with DT_VERSYM but no DT_VERDEF passes check_match: the run 'works'."""
    rebuild_libv(s13, None, versym=True)
    real = run_program(s13, "/s13/bin/exe")
    assert real.status == 0 and "no version information available" in real.stderr
    status, doc = ldsim_check(s13, "/s13/bin/exe")
    assert status == 1
    assert ids(doc) == [("unversioned-provider", "error", "VERS_2")]
    assert "without any version check" in doc["findings"][0]["message"]


def test_malformed_version_section_is_a_finding(s13: Root) -> None:
    rebuild_libv(s13, "VERS_1")
    s13.copy("/s13/bin/exe", "/s13/bin/bad")
    data = bytearray(s13.read_bytes("/s13/bin/bad"))
    off = data.find(b"libv.so\0")
    assert off > 0
    # Corrupt the Verneed record version (vn_version, 1 -> 7) of the program.
    import struct

    from elftools.elf.elffile import ELFFile

    with open(s13.host("/s13/bin/bad"), "rb") as fh:
        sec = ELFFile(fh).get_section_by_name(".gnu.version_r")
        vr_off = sec["sh_offset"]
    struct.pack_into("<H", data, vr_off, 7)
    s13.write("/s13/bin/bad", bytes(data), mode=0o755)
    real = run_program(s13, "/s13/bin/bad")
    assert real.status != 0 and "unsupported version 7 of Verneed record" in real.stderr
    status, doc = ldsim_check(s13, "/s13/bin/bad", "--no-symbols")
    assert status == 1
    assert [f["id"] for f in doc["findings"]] == ["version-malformed"]
    assert "unsupported DT_VERNEED record version 7" in doc["findings"][0]["detail"]


@pytest.fixture(scope="module")
def alpine(tmp_path_factory: pytest.TempPathFactory) -> Root:
    return alpine_like_root(tmp_path_factory.mktemp("alpine") / "root")


def test_alpine_like_glibc_program_on_musl(alpine: Root) -> None:
    traced = run_real_loader(alpine, "/usr/bin/app")
    assert traced.status == 0, traced.stderr
    listing = [(e.name, e.path) for e in traced.found]
    assert listing == [
        ("libfoo.so.1", "/usr/lib/libfoo.so.1"),
        ("libc.so.6", f"{COMPAT}/libc.so.6"),
        ("libc.musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"),
        (f"{COMPAT}/ld-linux-x86-64.so.2", f"{COMPAT}/ld-linux-x86-64.so.2"),
    ]
    assert "no version information available" in traced.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ldsim",
            "explain",
            "--json",
            "--root",
            str(alpine.path),
            "/usr/bin/app",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    doc = json.loads(proc.stdout)
    assert [(o["name"], o["path"]) for o in doc["objects"][1:]] == listing
    assert doc["loader"] == "glibc"
    got = sorted((f["id"], f["object"]) for f in doc["findings"])
    assert got == [
        ("libc-mix", "/lib/libc.musl-x86_64.so.1"),
        ("libc-mix", "/usr/lib/libfoo.so.1"),
        ("unversioned-provider", "/usr/bin/app"),
    ]
    real = run_program(alpine, "/usr/bin/app")
    assert real.status != 0  # the mixed process does not survive its first binding


def test_alpine_like_musl_program_is_clean(alpine: Root) -> None:
    status, doc = ldsim_check(alpine, "/usr/bin/musl-app")
    assert doc["loader"] == "musl"
    assert doc["findings"] == [], doc["findings"]
    assert status == 0
    real = run_program(alpine, "/usr/bin/musl-app")
    assert real.status == 0 and real.stdout.strip() == "42"


def test_musl_library_in_a_glibc_process(tmp_path: Path) -> None:
    root = Root(tmp_path / "root")
    root.mkdir("/opt/m")
    subprocess.run(
        [
            "musl-gcc",
            "-shared",
            "-fPIC",
            "-o",
            str(root.host("/opt/m/libm1.so")),
            "-x",
            "c",
            "-",
            "-Wl,-soname,libm1.so",
        ],
        input="int m1(void){return 1;}\n",
        text=True,
        check=True,
    )
    root.mkexe("/bin/exe", needed=["libm1.so"], rpath="/opt/m")
    traced = run_real_loader(root, "/bin/exe")
    assert ("libm1.so", "/opt/m/libm1.so") in [(e.name, e.path) for e in traced.found]
    status, doc = ldsim_check(root, "/bin/exe", "--no-symbols")
    assert status == 1
    assert [(f["id"], f["object"]) for f in doc["findings"]] == [("libc-mix", "/opt/m/libm1.so")]


def test_version_provider_not_loaded_at_all(tmp_path: Path) -> None:
    """The program's Verneed names libc.so.6, but no DT_NEEDED loads it any more."""
    root = Root(tmp_path / "root")
    root.mkdir("/opt/o")
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostdlib", "-o",
                    str(root.host("/opt/o/libother.so")), "-x", "c", "-",
                    "-Wl,-soname,libother.so"], input="int o(void){return 1;}\n", text=True,
                   check=True)
    root.mkexe("/bin/exe", needed=["/opt/o/libother.so"])
    root.retag("/bin/exe", "libc.so.6", 21)  # DT_NEEDED libc.so.6 -> DT_DEBUG: not loaded
    traced = run_real_loader(root, "/bin/exe")
    assert traced.status != 0 and "_dl_check_map_versions" in traced.stderr
    status, doc = ldsim_check(root, "/bin/exe", "--no-symbols")
    assert status == 1
    assert ids(doc) == [("version-provider-missing", "error", "libc.so.6")]


def test_a_gnu_unique_definition_is_a_definition(tmp_path: Path) -> None:
    """A symbol defined only as STB_GNU_UNIQUE (binding 10, what g++ makes of a template's
    static member; pyelftools names it STB_LOOS) binds, for glibc as for musl: the program
    runs, and ldsim reports no undefined symbol."""
    root = Root(tmp_path / "root")
    lib = root.libdir
    root.mklib(f"{lib}/libu.so.1", "libu.so.1", source=(
        '__asm__(".data\\n.globl uniq\\n.type uniq, @gnu_unique_object\\n.size uniq, 4\\n'
        'uniq: .long 42\\n");\n'))
    root.mklib(f"{lib}/libuser.so.1", "libuser.so.1", link=[f"{lib}/libu.so.1"],
               source="extern int uniq;\nint get_uniq(void) { return uniq; }\n")
    root.mkexe("/bin/exe", f"-Wl,-rpath-link,{root.host(lib)}", link=[f"{lib}/libuser.so.1"],
               source="int get_uniq(void);\nint main(void) { return get_uniq() == 42 ? 0 : 1; }\n")
    root.ldconfig()
    assert run_program(root, "/bin/exe").status == 0
    readelf = subprocess.run(["readelf", "--dyn-syms", "-W", str(root.host(f"{lib}/libu.so.1"))],
                             capture_output=True, text=True, check=True).stdout
    assert any(line.split()[4:5] == ["UNIQUE"] and line.endswith(" uniq")
               for line in readelf.splitlines())
    status, doc = ldsim_check(root, "/bin/exe")
    assert status == 0 and not [f for f in doc["findings"] if f["id"] == "undefined-symbol"]


def _without_section_headers(path: Path) -> None:
    """Zero e_shoff, e_shnum and e_shstrndx (what ``sstrip`` does besides cutting): the
    loader never reads section headers, so the file loads and binds as before."""
    data = bytearray(path.read_bytes())
    data[0x28:0x30] = bytes(8)  # e_shoff (ELF64)
    data[0x3C:0x40] = bytes(4)  # e_shnum, e_shstrndx
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("provides", [("f_lib", "g_opt"), ("f_lib",)])
def test_a_library_without_section_headers_binds_through_its_dynamic_segment(
        tmp_path: Path, provides: tuple[str, ...]) -> None:
    """A library with no section header table still has its symbol table, found as the
    loader finds it (DT_SYMTAB, DT_STRTAB, DT_GNU_HASH, DT_VERSYM/DT_VERDEF). ldsim read
    symbols from the sections only: with --symbols it said every symbol the library defines
    was undefined, "a real run fails", where the program ran. When the library really
    lacks one (a newer one dropped it), the run fails and ldsim names that symbol."""
    root = Root(tmp_path / "root")
    lib = root.libdir
    script = tmp_path / "vers.map"
    script.write_text("VERS_1 { global: f_lib; g_opt; local: *; };\n")
    both = "int f_lib(void) { return 1; }\nint g_opt(void) { return 2; }\n"
    root.mklib(f"{lib}/libns.so.1", "libns.so.1", f"-Wl,--version-script={script}",
               source=both)
    root.mkexe("/bin/exe", link=[f"{lib}/libns.so.1"],
               source="int f_lib(void);\nint g_opt(void);\n"
                      "int main(void) { return f_lib() + g_opt() == 3 ? 0 : 1; }\n")
    root.mklib(f"{lib}/libns.so.1", "libns.so.1", f"-Wl,--version-script={script}",
               source="".join(line + "\n" for line in both.splitlines()
                              if line.split("(")[0].split()[-1] in provides))
    _without_section_headers(root.host(f"{lib}/libns.so.1"))
    root.ldconfig()
    real = run_program(root, "/bin/exe")
    status, doc = ldsim_check(root, "/bin/exe")
    undefined = [f["detail"] for f in doc["findings"] if f["id"] == "undefined-symbol"]
    if "g_opt" in provides:
        assert real.status == 0, real.stderr
        assert (status, undefined) == (0, []), doc["findings"]
    else:
        assert real.status == 127 and "undefined symbol: g_opt, version VERS_1" \
            in real.stderr, real.stderr
        assert status == 1 and len(undefined) == 1 and "g_opt" in undefined[0], \
            doc["findings"]


def _patched(path: Path, *changes: tuple[int, bytes]) -> None:
    data = bytearray(path.read_bytes())
    for at, raw in changes:
        data[at:at + len(raw)] = raw
    path.write_bytes(bytes(data))


def _dynamic_entries(path: Path) -> list[tuple[int, int, int]]:
    """(file offset, tag, value) of each entry of a 64-bit file's dynamic section."""
    data = path.read_bytes()
    (phoff,) = struct.unpack_from("<Q", data, 32)
    _size, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + 56 * i)
        if p_type == 2:  # PT_DYNAMIC
            return [(p_offset + 16 * k, *struct.unpack_from("<QQ", data, p_offset + 16 * k))
                    for k in range(p_filesz // 16)]
    return []


def test_a_sectionless_library_exporting_nothing_still_imports(tmp_path: Path) -> None:
    """A library whose GNU hash table hashes no symbol (it exports nothing) still imports:
    the symbols its relocations name are looked up. Stripped of its section headers, its
    one import that nothing defines any more must still be named, as the real run fails
    on it (ldsim counted its symbols from the hash table alone, found none, and passed the
    program)."""
    root = Root(tmp_path / "root")
    lib = root.libdir
    none = tmp_path / "none.map"
    none.write_text("{ local: *; };\n")
    root.mklib(f"{lib}/libdep.so", "libdep.so", source="int missing_var = 7;\n")
    root.mklib(f"{lib}/libnone.so", "libnone.so", f"-Wl,--version-script={none}",
               "-Wl,--hash-style=gnu", link=[f"{lib}/libdep.so"],
               source="extern int missing_var;\nint *p_lib(void) { return &missing_var; }\n")
    root.mkexe("/bin/exe", f"-Wl,-rpath-link,{root.host(lib)}", link=[f"{lib}/libnone.so"])
    root.mklib(f"{lib}/libdep.so", "libdep.so", source="int other = 7;\n")
    _without_section_headers(root.host(f"{lib}/libnone.so"))
    root.ldconfig()
    real = run_program(root, "/bin/exe")
    assert real.status == 127 and "undefined symbol: missing_var" in real.stderr, real.stderr
    status, doc = ldsim_check(root, "/bin/exe")
    undefined = [f["detail"] for f in doc["findings"] if f["id"] == "undefined-symbol"]
    assert status == 1 and len(undefined) == 1 and "missing_var" in undefined[0], doc


@pytest.mark.parametrize("damage", ["cut-at-section-headers", "both-hashes-sysv-says-1",
                                    "strtab-twice-last-counts"])
def test_a_library_the_sections_misdescribe_binds_as_its_dynamic_segment_says(
        tmp_path: Path, damage: str) -> None:
    """The loader reads the dynamic segment, never the sections: a library cut off where
    its section headers start, one whose DT_HASH (beside DT_GNU_HASH, which the loader
    uses) claims a single symbol, one whose DT_STRTAB appears twice (the last counts)
    binds, and the program runs; ldsim found its symbols undefined in each."""
    root = Root(tmp_path / "root")
    lib = root.libdir
    script = tmp_path / "vers.map"
    script.write_text("VERS_1 { global: f_lib; g_opt; local: *; };\n")
    path = root.host(f"{lib}/libns.so.1")
    root.mklib(f"{lib}/libns.so.1", "libns.so.1", f"-Wl,--version-script={script}",
               "-Wl,--hash-style=both",
               source="int f_lib(void) { return 1; }\nint g_opt(void) { return 2; }\n")
    root.mkexe("/bin/exe", "-Wl,-z,now", link=[f"{lib}/libns.so.1"],
               source="int f_lib(void);\nint g_opt(void);\n"
                      "int main(void) { return f_lib() + g_opt() == 3 ? 0 : 1; }\n")
    entries = _dynamic_entries(path)
    if damage == "cut-at-section-headers":
        (shoff,) = struct.unpack_from("<Q", path.read_bytes(), 0x28)
        path.write_bytes(path.read_bytes()[:shoff])
    elif damage == "both-hashes-sysv-says-1":
        (_at, _tag, addr), = [e for e in entries if e[1] == 4]  # DT_HASH: nchain := 1
        _without_section_headers(path)
        _patched(path, (addr + 4, struct.pack("<I", 1)))  # (its address is its offset here)
    else:
        (at_strtab, _tag, strtab), = [e for e in entries if e[1] == 5]
        spare = next(e for e in entries if e[1] in (0x6FFFFFF9, 0x6FFFFFFA))  # RELA/RELCOUNT
        _without_section_headers(path)
        _patched(path, (at_strtab + 8, struct.pack("<Q", strtab + 1)),
                 (spare[0], struct.pack("<QQ", 5, strtab)))
    root.ldconfig()
    real = run_program(root, "/bin/exe")
    assert real.status == 0, real.stderr
    status, doc = ldsim_check(root, "/bin/exe")
    assert status == 0 and doc["findings"] == [], doc["findings"]
