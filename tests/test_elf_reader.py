"""The ELF reader against pyelftools, the reference parser, on this machine's real files."""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerDefSection, GNUVerNeedSection

from ldsim.elf.reader import parse_elf, read_file_facts
from ldsim.errors import ElfError


def _system_elves(limit: int = 400) -> list[str]:
    out: list[str] = []
    pats = ["/usr/lib/x86_64-linux-gnu/*.so*", "/usr/bin/*", "/usr/sbin/*"]
    for pat in pats:
        for p in sorted(glob.glob(pat)):
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as fh:
                if fh.read(4) != b"\x7fELF":
                    continue
            out.append(p)
    step = max(1, len(out) // limit)
    return out[::step]


def _reference(path: str) -> dict[str, object]:
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        ref: dict[str, object] = {
            "class": elf.elfclass // 32,
            "machine": elf["e_machine"],
            "type": elf["e_type"],
            "interp": None,
            "needed": [],
            "soname": None,
            "rpath": None,
            "runpath": None,
            "flags": 0,
            "flags_1": 0,
            "verneed": None,
            "verdef": None,
        }
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_INTERP":
                ref["interp"] = seg.get_interp_name()
            if isinstance(seg, DynamicSegment):
                rp: list[str] = []
                rnp: list[str] = []
                for tag in seg.iter_tags():
                    t = tag.entry.d_tag
                    if t == "DT_NEEDED":
                        ref["needed"].append(tag.needed)  # type: ignore[attr-defined]
                    elif t == "DT_SONAME":
                        ref["soname"] = tag.soname
                    elif t == "DT_RPATH":
                        rp.append(tag.rpath)
                    elif t == "DT_RUNPATH":
                        rnp.append(tag.runpath)
                    elif t == "DT_FLAGS":
                        ref["flags"] = tag.entry.d_val
                    elif t == "DT_FLAGS_1":
                        ref["flags_1"] = tag.entry.d_val
                ref["rpath"] = tuple(rp) or None
                ref["runpath"] = tuple(rnp) or None
        for sec in elf.iter_sections():
            if isinstance(sec, GNUVerNeedSection):
                ref["verneed"] = tuple(
                    (vn.name, tuple((a.name, a["vna_flags"]) for a in auxs))
                    for vn, auxs in sec.iter_versions()
                )
            elif isinstance(sec, GNUVerDefSection):
                ref["verdef"] = tuple(next(iter(auxs)).name for _vd, auxs in sec.iter_versions())
        return ref


TYPES = {"ET_EXEC": 2, "ET_DYN": 3}


@pytest.mark.parametrize("path", _system_elves())
def test_reader_agrees_with_pyelftools(path: str) -> None:
    ref = _reference(path)
    facts = read_file_facts(path)
    assert facts.elf_class == ref["class"]
    assert facts.machine == {"EM_X86_64": 62}.get(str(ref["machine"]), ref["machine"])
    assert facts.e_type == TYPES.get(str(ref["type"]), -1)
    assert facts.interp == ref["interp"]
    assert list(facts.needed) == ref["needed"]
    assert facts.soname == ref["soname"]
    assert facts.rpath == ref["rpath"]
    assert facts.runpath == ref["runpath"]
    assert facts.flags == ref["flags"]
    assert facts.flags_1 == ref["flags_1"]
    got_vn = (
        None
        if facts.version_needs is None
        else tuple((v.file, v.versions) for v in facts.version_needs)
    )
    assert got_vn == ref["verneed"]
    assert facts.version_defs == ref["verdef"]


needs_gcc = pytest.mark.skipif(not os.path.exists("/usr/bin/gcc"), reason="needs gcc")


@needs_gcc
def test_rpath_and_runpath_are_separate_and_unexpanded(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text("int main(void){return 0;}\n")
    exe = tmp_path / "exe"
    subprocess.run(
        [
            "gcc",
            "-o",
            str(exe),
            str(src),
            "-Wl,--disable-new-dtags",
            "-Wl,-rpath,$ORIGIN/../lib:/opt/x",
            "-Wl,-z,nodefaultlib",
        ],
        check=True,
    )
    facts = read_file_facts(str(exe))
    assert facts.rpath == ("$ORIGIN/../lib:/opt/x",)
    assert facts.runpath is None
    assert facts.nodeflib
    subprocess.run(
        ["gcc", "-o", str(exe), str(src), "-Wl,--enable-new-dtags", "-Wl,-rpath,"], check=True
    )
    facts = read_file_facts(str(exe))
    assert facts.rpath is None
    assert facts.runpath == ("",)  # present but empty


def test_broken_files_are_typed_errors_naming_the_file() -> None:
    good = Path("/usr/bin/ls").read_bytes()
    for data, reason in [
        (b"", "file too short"),
        (b"#!/bin/sh\necho hi\n" * 4, "bad magic"),
        (good[:40], "file too short"),
        (good[:100], "truncated"),
    ]:
        with pytest.raises(ElfError) as info:
            parse_elf(data, "/bin/broken")
        assert info.value.path == "/bin/broken"
        assert reason in info.value.reason


def test_every_truncation_is_an_elf_error_or_parses() -> None:
    good = Path("/usr/bin/ls").read_bytes()
    for cut in [*range(0, 4096, 7), len(good) // 2, len(good) - 1]:
        with contextlib.suppress(ElfError):
            parse_elf(good[:cut], "/bin/cut")
