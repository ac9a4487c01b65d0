"""The dlopen-notes fixture of ``rootfs-fixtures/trixie_systemd.py``.

Its note reader is checked everywhere (on parsed bytes, and on notes gcc writes the way
systemd's ``ELF_NOTE_DLOPEN`` does when gcc is there). The root itself (Debian 13's
``libsystemd-shared-257.so`` with the libraries its notes name) is checked only when it has
been built::

    python rootfs-fixtures/trixie_systemd.py /var/cache/ldsim-roots/trixie-systemd

(``LDSIM_TRIXIE_SYSTEMD_ROOT`` names another place); asking its real loader needs root.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trixie_systemd as ts
from trixie_systemd import DlopenNote, NoteError

ROOT = Path(os.environ.get("LDSIM_TRIXIE_SYSTEMD_ROOT") or ts.DEFAULT_DEST)

NOTES_C = r"""
#include <stdint.h>
#define NOTE(var, owner, type, text)                                            \
    __attribute__((used, section(".note.dlopen"))) _Alignas(4) static const struct { \
        struct { uint32_t n_namesz, n_descsz, n_type; } nhdr;                   \
        char name[sizeof(owner)];                                               \
        _Alignas(4) char payload[sizeof(text)];                                 \
    } var = { { sizeof(owner), sizeof(text), type }, owner, text }
NOTE(n1, "FDO", 0x407c0c0a, "[{\"feature\":\"bpf\",\"description\":\"BPF\",\"priority\":"
     "\"suggested\",\"soname\":[\"libbpf.so.1\",\"libbpf.so.0\"]}]");
NOTE(n2, "GNU", 0x407c0c0a, "[{\"soname\":[\"libnot-fdo.so.1\"]}]");
NOTE(n3, "FDO", 0xcafe1a7e, "{\"type\":\"deb\"}");
NOTE(n4, "FDO", 0x407c0c0a, "[{\"soname\":[\"libz.so.1\"]},"
     "{\"feature\":\"x\",\"priority\":\"required\",\"soname\":[\"libx.so.2\"]}]");
int f(void) { return 0; }
"""
EXPECTED = [
    DlopenNote(("libbpf.so.1", "libbpf.so.0"), "bpf", "BPF", "suggested"),
    DlopenNote(("libz.so.1",)),
    DlopenNote(("libx.so.2",), "x", None, "required"),
]


def _note(owner: bytes, ntype: int, desc: bytes) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    return struct.pack("<III", len(owner), len(desc), ntype) + pad(owner) + pad(desc)


# -- the reader, on bytes ---------------------------------------------------------------------


def test_note_walk_and_json() -> None:
    area = _note(b"FDO\0", ts.NT_DLOPEN_METADATA, b'[{"soname":["liba.so.1"]}]\0')
    area += _note(b"GNU\0", 3, b"\x01" * 20)
    data = b"\x7fELF\x02\x01" + b"\0" * 10 + area
    notes = list(ts.iter_notes(data, 16, len(area)))
    assert [(n, t) for n, t, _d in notes] == [(b"FDO", ts.NT_DLOPEN_METADATA), (b"GNU", 3)]
    assert ts.parse_dlopen_json(notes[0][2]) == [DlopenNote(("liba.so.1",))]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"soname":["a.so"]}', "not a JSON array"),
        (b'[{"feature":"x"}]', "without a soname array"),
        (b'[{"soname":[]}]', "without a soname array"),
        (b'[{"soname":["a.so"],"priority":"optional"}]', "priority 'optional'"),
        (b"[{\"soname\":[\"a.so\"]", "not UTF-8 JSON"),
        (b'[{"soname":["\xff.so"]}]', "not UTF-8 JSON"),
    ],
)
def test_bad_descriptors_are_errors(payload: bytes, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        ts.parse_dlopen_json(payload + b"\0")


def test_truncated_note_is_an_error() -> None:
    area = _note(b"FDO\0", ts.NT_DLOPEN_METADATA, b"[]\0")
    data = b"\x7fELF\x02\x01" + b"\0" * 10 + area
    with pytest.raises(NoteError, match="runs past"):
        list(ts.iter_notes(data, 16, len(area) - 4))
    with pytest.raises(NoteError, match="not an ELF file"):
        ts.read_dlopen_notes(b"#!/bin/sh\n" + b"\0" * 64)


def test_policy_names() -> None:
    assert ts.policy_names("libkmod.so.2") == ["libkmod2", "libkmod2t64"]
    assert ts.policy_names("libfido2.so.1") == ["libfido2-1", "libfido2-1t64"]
    assert ts.policy_names("libpcre2-8.so.0") == ["libpcre2-8-0", "libpcre2-8-0t64"]
    assert ts.policy_names("libgcc_s.so.1")[0] == "libgcc-s1"
    assert ts.policy_names("libdevmapper.so.1.02.1")[0] == "libdevmapper1.02.1"
    assert ts.policy_names("libsystemd-shared-257.so")[0] == "libsystemd-shared-257"


# -- the reader, on what gcc writes -----------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    work = tmp_path_factory.mktemp("notes")
    (work / "n.c").write_text(NOTES_C)
    out = {"object": work / "n.o", "shared": work / "libn.so"}
    subprocess.run(["gcc", "-c", "-o", out["object"], work / "n.c"], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", out["shared"], work / "n.c"], check=True)
    return out


@pytest.mark.parametrize("kind", ["object", "shared"])
def test_notes_of_compiled_files(compiled: dict[str, Path], kind: str) -> None:
    data = compiled[kind].read_bytes()
    assert ".note.dlopen" in [where for where, *_ in ts.note_regions(data)]
    assert ts.read_dlopen_notes(data) == EXPECTED


def test_notes_through_pt_note_without_section_headers(compiled: dict[str, Path]) -> None:
    data = bytearray(compiled["shared"].read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HH", data, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    assert {where for where, *_ in ts.note_regions(bytes(data))} == {"PT_NOTE"}
    assert ts.read_dlopen_notes(bytes(data)) == EXPECTED


# -- the built root ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stamp() -> dict[str, Any]:
    doc = ts.read_stamp(ROOT)
    if doc is None:
        pytest.skip(f"no trixie-systemd root at {ROOT}: build it with "
                    f"`python rootfs-fixtures/trixie_systemd.py {ROOT}`")
    assert doc["recipe"] == ts.recipe(), "the root was built by another version of the recipe"
    return doc


def test_root_has_the_library_and_its_notes(stamp: dict[str, Any]) -> None:
    library = ROOT / ts.LIBRARY.lstrip("/")
    assert library.is_file() and not library.is_symlink()
    notes = ts.read_dlopen_notes(library.read_bytes())
    assert len(notes) >= 15
    assert {"kmod", "zstd", "cryptsetup", "tpm"} <= {n.feature for n in notes}
    assert all(n.priority in ts.PRIORITIES for n in notes)
    assert [(n["feature"], n["priority"], n["sonames"]) for n in stamp["notes"]] == [
        (n.feature, n.priority, list(n.sonames)) for n in notes
    ]
    assert stamp["packages"]["libsystemd-shared"]["version"].startswith("257.")
    assert stamp["packages"]["libc6"]["version"].startswith("2.41-")


def test_root_resolved_every_note(stamp: dict[str, Any]) -> None:
    for note in stamp["notes"]:
        assert note["resolved"] is not None, json.dumps(note)
        chosen = next(a for a in note["alternatives"] if a["soname"] == note["resolved"])
        assert (ROOT / chosen["file"].lstrip("/")).is_file(), chosen
        assert os.path.basename(chosen["path"]) == note["resolved"]
    for soname, res in stamp["sonames"].items():
        assert (ROOT / res["file"].lstrip("/")).is_file(), (soname, res)
    assert (ROOT / "etc/ld.so.cache").read_bytes().startswith(ts.NEW_CACHE_MAGIC)
    assert (ROOT / "proc").is_dir() and not any((ROOT / "proc").iterdir())


def test_real_loader_opens_every_resolved_note(stamp: dict[str, Any]) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("running the root's loader needs root (chroot, mount namespaces)")
    together, results = ts.check(ROOT)
    chosen = {n["resolved"] for n in stamp["notes"]}
    by_name = {r.soname: r for r in results}
    assert chosen <= set(by_name), together.stdout
    for name in sorted(chosen):
        r = by_name[name]
        assert r.ok, f"{name}: {r.message}\n{together.stdout}"
        assert r.via_cache, f"{name} not found through /etc/ld.so.cache: {r.mapped}"
        assert f"{name} => OK" in together.stdout
