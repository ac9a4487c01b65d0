"""Hostile ELF files, ld.so.cache files and loader binaries (issue: hostile input).

Each input (``rootfs-fixtures/hostile_elf.py``) is a few hundred kilobytes crafted so that a
naive reader works or allocates out of proportion to it; before the bounds-by-design change
each one made ldsim die with MemoryError (exit 3), run for minutes, or crash. Every run here
is a child process under a 1 GiB address-space cap and a time limit
(``rootfs-fixtures/hostile.py``): ldsim must answer (exit 0 or 1) or refuse the file in one
line naming it (exit 2), never exit 3, never hang.

What the old code did, measured on this machine with the same inputs:

=========================================  =============================================
20,000 DT_NEEDED naming one 100 KB string  MemoryError after 3 s (each reference copied)
DT_NEEDED at successive offsets of 200 KB  MemoryError after 0.6 s (every suffix copied)
16,384 overlapping Verneed records         MemoryError after 9 s (268 million entries)
SHT_GNU_verneed with sh_info 0xffffffff    ``--symbols``: pyelftools loops (killed at 15 s)
loader with 80 KB of '/a/a...' and no NUL  6.2 s in one regular expression (quadratic)
'release version 2.' + 5,000 digits        ValueError from int() (exit 3)
ld.so.cache: 20,000 entries in one string  MemoryError after 2.7 s (every suffix decoded)
e_shentsize 0, 2^40 sections (``fix``)     MemoryError (the same header read 2^40 times)
=========================================  =============================================
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hostile_elf as he
import memroot
import pytest
from hostile import REPO, Capped, run_capped, run_python

LIMIT = 15.0  # seconds: a bound far above what ldsim needs, far below what the old code took


def make_root(top: Path, files: dict[str, bytes]) -> Path:
    base = {memroot.GLIBC_LOADER: memroot.glibc_loader_bytes(),
            f"{memroot.LIBDIR}/libc.so.6": memroot.elf(soname="libc.so.6")}
    for path, data in {**base, **files}.items():
        f = top / path.lstrip("/")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        f.chmod(0o755)
    return top


def program() -> bytes:
    return memroot.elf(interp=memroot.GLIBC_LOADER, needed=["libc.so.6"])


def answered(r: Capped, *statuses: int) -> None:
    assert not r.timed_out and r.returncode in statuses, r.describe()
    assert "Traceback" not in r.err and "internal error" not in r.err, r.describe()


def test_many_needed_naming_one_long_string(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"/bin/app": he.many_needed_one_string()})
    r = run_capped(["explain", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(r, 1)
    assert "Result: 20,000 names not found" in r.text
    # what is shown of the name is bounded: not 20,000 x 100 KB per listing
    assert len(r.stdout) < 300 << 20, len(r.stdout)
    check = run_capped(["check", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(check, 1)


def test_a_long_rpath_is_shown_in_time_linear_in_its_length(tmp_path: Path) -> None:
    """A 60 KB RPATH of 6,000 directories and a name found nowhere: 66,000 candidates,
    which the text views folded and wrapped in time quadratic in their number (text and
    --tree still ran at 60 s, -vv too; --json took 1.9 s)."""
    rpath = ":".join(f"/n{i}" for i in range(6000))
    program = memroot.elf(interp=memroot.GLIBC_LOADER, needed=["libc.so.6", "libnope.so.1"],
                          rpath=rpath)
    root = make_root(tmp_path, {"/bin/app": program})
    for view in ([], ["--tree"], ["-v"], ["-vv"]):
        r = run_capped(["explain", "--root", root, "--width", "80", *view, "/bin/app"],
                       timeout=LIMIT)
        answered(r, 1)
        assert "libnope.so.1" in r.text


def test_strings_that_are_suffixes_of_one_run(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"/bin/app": he.strings_without_nul()})
    r = run_capped(["explain", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(r, 2)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "/bin/app" in lines[0] and "tables overlap" in lines[0], r.err


def test_overlapping_version_records(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"/bin/app": he.overlapping_verneed()})
    r = run_capped(["explain", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(r, 1)
    assert "version-malformed" in r.text and "tables overlap" in r.text, r.text


def test_version_section_claiming_four_billion_records(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"/bin/app": he.verneed_section_claiming()})
    r = run_capped(["explain", "--symbols", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(r, 0, 1)
    assert "symbols-unreadable" in r.text and "claim more entries" in r.text, r.text


@pytest.mark.parametrize("loader", [he.loader_without_nul(), he.loader_release_digits()],
                         ids=["no-nul", "release-digits"])
def test_hostile_loader_binary(tmp_path: Path, loader: bytes) -> None:
    root = make_root(tmp_path, {memroot.GLIBC_LOADER: loader, "/bin/app": program()})
    r = run_capped(["explain", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(r, 0)


def test_cache_whose_entries_are_suffixes_of_one_string(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"/etc/ld.so.cache": he.ld_so_cache_one_string(),
                                "/bin/app": memroot.elf(interp=memroot.GLIBC_LOADER,
                                                        needed=["libc.so.6", "libx.so.1"])})
    r = run_capped(["explain", "--root", root, "/bin/app"], timeout=LIMIT)
    answered(r, 1)
    assert "!! NOT FOUND libx.so.1" in r.text


def test_layout_of_a_file_claiming_2_to_the_40_sections() -> None:
    code = ("import hostile_elf as he\n"
            "from ldsim.errors import ElfError\n"
            "from ldsim.linter.fix import read_layout, refusal\n"
            "from ldsim.elf.reader import parse_elf\n"
            "data = he.huge_section_no_entsize()\n"
            "try:\n    read_layout(data, 'bin/app')\nexcept ElfError as e:\n    print(e)\n"
            "print(refusal(data, parse_elf(data, 'bin/app'), None))\n")
    r = run_python(code, timeout=LIMIT,
                   env={"PYTHONPATH": f"{REPO}:{REPO / 'rootfs-fixtures'}", "PATH": "/usr/bin"})
    answered(r, 0)
    assert "e_shentsize is 0" in r.text, r.describe() + r.text


def test_a_short_fuzz_campaign_finds_nothing(tmp_path: Path) -> None:
    """``scripts/fuzz.py`` on every target for a few thousand inputs (a campaign of hours is
    the same command with ``--minutes``)."""
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "fuzz.py"), "--count", "3000",
                           "--seed", "7", "--quiet", "--jobs", "1", "--out",
                           str(tmp_path / "findings")], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 findings" in proc.stdout
