"""ldsim against glibc's loader on this machine's own programs (``scripts/compare_host.py``).

The loader only ever runs in trace mode (``LD_TRACE_LOADED_OBJECTS=1 ld.so PROGRAM``, what
``ldd`` does): no program's own code is executed. The whole comparison takes a few seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

_SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
if str(_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(_SCRIPTS))

import compare_host as ch  # noqa: E402

pytestmark = pytest.mark.host

LOADER = ch.DEFAULT_LOADER
needs_loader = pytest.mark.skipif(
    not os.path.exists(LOADER), reason=f"{LOADER} is missing (not a glibc x86_64 host)"
)


# -- the comparison itself -------------------------------------------------------------------
@needs_loader
def test_host_programs_agree_with_the_loader() -> None:
    report = ch.run_comparison(ch.DEFAULT_DIRS)
    if report.programs == 0:
        pytest.skip("no dynamically linked glibc program in /usr/bin or /usr/sbin")
    assert report.percent >= ch.DEFAULT_THRESHOLD, (
        f"{report.summary()}\n{report.format_disagreements()}"
    )


@needs_loader
def test_host_libraries_agree_with_ldd() -> None:
    """``ldd LIB``: the standard loader traces a library that names no interpreter."""
    report = ch.run_comparison(("/usr/lib/x86_64-linux-gnu",), libraries=True)
    assert report.comparisons, "no library compared"
    assert report.passed, report.format_text()


@needs_loader
def test_in_process_matches_the_command_line() -> None:
    """The fast in-process path sees exactly what `ldsim explain --json` prints."""
    sim = ch.InProcessLdsim()
    cli = ch.CliLdsim()
    checked = 0
    for path in ("/usr/bin/ssh", "/usr/bin/ls", "/usr/bin/env"):
        if not os.path.isfile(path):
            continue
        mine, theirs = sim.explain(path), cli.explain(path)
        assert (mine.found, mine.unresolved, mine.error, mine.crash) == (
            theirs.found,
            theirs.unresolved,
            theirs.error,
            theirs.crash,
        ), path
        checked += 1
    if not checked:
        pytest.skip("none of ssh, ls, env in /usr/bin")


@needs_loader
def test_script_json_output(tmp_path: Path) -> None:
    prog = _host_program()
    proc = subprocess.run(
        [sys.executable, str(_SCRIPTS / "compare_host.py"), "--json", prog],
        capture_output=True,
        text=True,
        check=False,
    )
    doc = json.loads(proc.stdout)
    assert doc["schema"] == ch.SCHEMA
    assert doc["programs"] == 1
    assert proc.returncode == (0 if doc["passed"] else 1)


@needs_loader
def test_fatal_errors_are_compared(tmp_path: Path) -> None:
    """A DT_NEEDED naming a non-ELF file by path aborts both loaders with one message."""
    patchelf = shutil.which("patchelf")
    if patchelf is None:
        pytest.skip("patchelf is not installed")
    prog = tmp_path / "prog"
    shutil.copyfile(_host_program(), prog)
    junk = tmp_path / "libjunk.so"
    junk.write_bytes(b"not an ELF file, but long enough to be read as a header " * 4)
    subprocess.run([patchelf, "--add-needed", str(junk), str(prog)], check=True)
    report = ch.run_comparison(programs=[str(prog)])
    assert report.programs == 1
    comparison = report.comparisons[0]
    assert comparison.loader.error is not None
    assert "invalid ELF header" in comparison.loader.error
    assert comparison.agree, report.format_disagreements()


def _host_program() -> str:
    for path in ("/usr/bin/true", "/usr/bin/env", "/usr/bin/ls"):
        is_elf = os.path.isfile(path) and ch.elf_interp(path) == (True, LOADER)
        if is_elf:
            return path
    pytest.skip("no dynamically linked /usr/bin/true, env or ls")


# -- the pieces, on made-up input ------------------------------------------------------------
TRACE = (
    "\tlinux-vdso.so.1 (0x00007ffd5a1f2000)\n"
    "\tlibselinux.so.1 => /lib/x86_64-linux-gnu/libselinux.so.1 (0x00007f0c7c2a1000)\n"
    "\tlibmissing.so.9 => not found\n"
    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c7c0c0000)\n"
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0c7c2fb000)\n"
)


def test_parse_trace_lines() -> None:
    listing = ch.parse_trace(TRACE, "", 0)
    assert listing.found == [
        ("libselinux.so.1", "/lib/x86_64-linux-gnu/libselinux.so.1"),
        ("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
        ("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"),
    ]
    assert listing.unresolved == ["libmissing.so.9"]
    assert listing.error is None and not listing.unparsed


def test_parse_trace_fatal_error_and_odd_lines() -> None:
    err = "/usr/bin/x: error while loading shared libraries: /tmp/libjunk.so: invalid ELF header\n"
    listing = ch.parse_trace("\tstatically linked\nsomething else\n", err, 127)
    assert listing.found == [] and listing.unresolved == []
    assert listing.error == "/tmp/libjunk.so: invalid ELF header"
    assert listing.unparsed == ["something else"]
    assert ch.parse_trace("", "Segmentation fault\n", 139).error == (
        "exit status 139: Segmentation fault"
    )


def _doc(found: list[tuple[str, str]], unresolved: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "objects": [{"name": "/usr/bin/x", "path": "/usr/bin/x", "via": "executable"}]
        + [{"name": n, "path": p, "via": "ld.so.cache"} for n, p in found],
        "unresolved": [{"name": n, "needed_by": "/usr/bin/x"} for n in unresolved],
        "error": None,
        "edges": [
            {
                "name": "libselinux.so.1",
                "trail": [
                    {
                        "path": "/lib/x86_64-linux-gnu/libselinux.so.1",
                        "source": "cache=/etc/ld.so.cache",
                        "outcome": "found",
                    }
                ],
            }
        ],
    }


def _program() -> ch.Program:
    return ch.Program("/usr/bin/x", LOADER)


def test_identical_listings_agree() -> None:
    loader = ch.parse_trace(TRACE, "", 0)
    ldsim = ch.listing_from_json(_doc(loader.found, ["libmissing.so.9"]))
    assert ldsim.searches["libselinux.so.1"] == [
        "cache=/etc/ld.so.cache: /lib/x86_64-linux-gnu/libselinux.so.1 -> found"
    ]
    assert ch.compare_one(_program(), loader, ldsim).agree


def test_disagreements_are_explained() -> None:
    loader = ch.parse_trace(TRACE, "", 0)
    other = [("libselinux.so.1", "/usr/lib/libselinux.so.1"), *loader.found[1:]]
    c = ch.compare_one(_program(), loader, ch.listing_from_json(_doc(other, ["libmissing.so.9"])))
    assert c.kinds == ["path-differs"]
    assert "/usr/lib/libselinux.so.1" in c.reasons[0]
    assert c.differing_names() == ["libselinux.so.1"]
    assert "-libselinux.so.1 => /lib/x86_64-linux-gnu/libselinux.so.1" in c.diff()
    assert "+libselinux.so.1 => /usr/lib/libselinux.so.1" in c.diff()

    swapped = [loader.found[1], loader.found[0], loader.found[2]]
    c = ch.compare_one(_program(), loader, ch.listing_from_json(_doc(swapped, ["libmissing.so.9"])))
    assert c.kinds == ["order-differs"]

    c = ch.compare_one(_program(), loader, ch.listing_from_json(_doc(loader.found)))
    assert c.kinds == ["unresolved-differs"]

    c = ch.compare_one(
        _program(), loader, ch.listing_from_json(_doc(loader.found[1:], ["libmissing.so.9"]))
    )
    assert c.kinds == ["ldsim-missing"]

    aborted = ch.parse_trace("", "x: error while loading shared libraries: a: b\n", 127)
    c = ch.compare_one(_program(), aborted, ch.listing_from_json(_doc(loader.found)))
    assert c.kinds == ["loader-aborts"]
    c = ch.compare_one(_program(), loader, ch.Listing(crash="ldsim raised KeyError: 'x'"))
    assert c.kinds == ["ldsim-crash"]

    report = ch.Report(["/usr/bin"], [c], [], 0.5)
    assert report.percent == 0.0 and not report.passed
    assert "DISAGREE /usr/bin/x" in report.format_text()


def test_interleaved_listing_is_compared() -> None:
    loader = ch.parse_trace(TRACE, "", 0)
    doc = _doc(loader.found, ["libmissing.so.9"])
    doc["listing"] = [{"name": n, "path": p} for n, p in loader.found]
    doc["listing"].append({"name": "libmissing.so.9", "path": None})
    c = ch.compare_one(_program(), loader, ch.listing_from_json(doc))
    assert c.kinds == ["listing-differs"]
    doc["listing"].insert(1, doc["listing"].pop())
    assert ch.compare_one(_program(), loader, ch.listing_from_json(doc)).agree


def test_discover_skips_what_it_must(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    (bindir / "alias").symlink_to("script")
    (bindir / "elsewhere").symlink_to("/etc/hostname")
    (bindir / "dangling").symlink_to("nowhere")
    host = "/usr/bin/true"
    if os.path.isfile(host) and ch.elf_interp(host) == (True, LOADER):
        shutil.copyfile(host, bindir / "true")
    programs, skipped = ch.discover([str(bindir)])
    kinds = {Path(s.path).name: s.kind for s in skipped}
    assert kinds["script"] == "not-elf"
    assert kinds["alias"] == "symlink"
    assert kinds["elsewhere"] == "symlink-outside"
    assert kinds["dangling"] == "symlink-dangling"
    if (bindir / "true").exists():
        assert programs == [ch.Program(str(bindir / "true"), LOADER)]
