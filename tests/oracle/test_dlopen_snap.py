"""A classic snap whose program declares a ``required`` dlopen dependency that only the host
has: the real program, run in the classic chroot, loads it from the host, and ``ldsim lint``
reports ``dlopen-leak`` as an error (``ldsim explain --dlopen`` shows where it loads).

The program both declares the dependency (an ELF dlopen metadata note, as systemd's
``ELF_NOTE_DLOPEN`` writes it) and really calls ``dlopen`` on it, printing the path the
loader opened (``dlinfo(RTLD_DI_LINKMAP)``); its interpreter and RPATH are patched as
Snapcraft patches a classic snap's, so only the dlopen reaches the host.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from glibcroot import Root, run_program
from snaproots import (
    SnapFixture,
    build_base,
    build_host,
    classic_layout,
    interp_of,
    libdir_of,
    patch_elf,
    run_ldsim_cli,
    snap_yaml,
)

pytestmark = [pytest.mark.oracle,
              pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                                 reason="needs gcc and patchelf")]

PROGRAM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>

#define JSON "[{\"feature\":\"hostonly\",\"description\":\"a library only the host has\"," \
             "\"priority\":\"required\",\"soname\":[\"libhostonly.so.1\"]}]"
__attribute__((used, aligned(4), section(".note.dlopen")))
static const struct {
        struct { uint32_t n_namesz, n_descsz, n_type; } nhdr;
        char name[sizeof("FDO")];
        _Alignas(uint32_t) char json[sizeof(JSON)];
} note = { { sizeof("FDO"), sizeof(JSON), UINT32_C(0x407c0c0a) }, "FDO", JSON };

int main(void) {
        void *h = dlopen("libhostonly.so.1", RTLD_NOW);
        if (!h) { printf("FAILED %s\n", dlerror()); return 1; }
        struct link_map *map;
        dlinfo(h, RTLD_DI_LINKMAP, &map);
        printf("LOADED %s\n", map->l_name);
        return 0;
}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("dlopen-snap")
    host = build_host(top / "host").path
    base = build_base(top / "core22").path
    p = Root(top / "dlo", base=False)
    p.write("/meta/snap.yaml", snap_yaml("dlo", "core22", "classic", {"app": "bin/app"}))
    p.compile("/bin/app", PROGRAM)
    patch_elf(p.host("/bin/app"), interpreter=interp_of("core22"),
              rpath=f"$ORIGIN/../lib:{libdir_of('core22')}")
    snap = SnapFixture("dlo", p.path, "core22", "classic", {"app": "bin/app"})
    classic = classic_layout(top / "classic", host, {"core22": base}, [snap])
    return {"host": host, "base": base, "snap": p.path, "classic": classic}


def test_the_real_program_loads_it_from_the_host(world: dict[str, Path]) -> None:
    ran = run_program(world["classic"], "/snap/dlo/current/bin/app")
    assert ran.status == 0, ran
    loaded = ran.stdout.split("LOADED ", 1)[1].strip()
    assert loaded.endswith("/libhostonly.so.1") and not loaded.startswith("/snap/"), ran

    explained = run_ldsim_cli("explain", "--dlopen", "--json", "--snap", str(world["snap"]),
                              "--base", str(world["base"]), "--host", str(world["host"]),
                              "--confinement", "classic", "--hwcaps", "none",
                              "--platform", "x86_64")
    assert explained.doc is not None, explained.stderr
    (call,) = explained.doc["dlopen"]
    assert call["status"] == "loaded" and call["priority"] == "required", call
    assert call["path"] == loaded and call["realm"] == "host", (call, loaded)
    leak = [f for f in explained.doc["findings"] if f["id"] == "dlopen-leak"]
    assert leak and leak[0]["severity"] == "error", explained.doc["findings"]


def test_lint_reports_a_dlopen_leak_as_an_error(world: dict[str, Path]) -> None:
    linted = run_ldsim_cli("lint", str(world["snap"]), "--base", str(world["base"]),
                           "--host", str(world["host"]), "--format", "json")
    assert linted.status == 1, linted.stderr
    doc = json.loads(linted.stdout)
    leaks = [f for f in doc["findings"] if f["id"] == "dlopen-leak"]
    assert leaks, doc["findings"]
    assert leaks[0]["severity"] == "error" and leaks[0]["file"] == "bin/app", leaks
    assert "libhostonly.so.1" in leaks[0]["message"]
    # the program's own load does not leak: only the dlopen does
    assert not [f for f in doc["findings"] if f["id"] == "host-leak"], doc["findings"]


def test_graph_draws_the_dlopen_as_its_own_kind_of_edge(world: dict[str, Path]) -> None:
    args = ["--snap", str(world["snap"]), "--base", str(world["base"]), "--host",
            str(world["host"]), "--confinement", "classic", "--dlopen"]
    dot = run_ldsim_cli("graph", *args, "-f", "dot")
    assert dot.status == 0, dot.stderr
    edge = next(line for line in dot.stdout.splitlines()
                if '-> "host:/usr/lib/x86_64-linux-gnu/libhostonly.so.1"' in line)
    assert 'class="kind-dlopen"' in edge and 'style="dashed"' in edge, edge
    assert 'arrowhead="empty"' in edge, edge
    without = run_ldsim_cli("graph", *args[:-1], "-f", "dot")
    assert "kind-dlopen" not in without.stdout
    doc = run_ldsim_cli("graph", *args, "-f", "json").doc
    assert doc is not None
    kinds = {e["kind"] for e in doc["edges"]}
    assert "dlopen" in kinds, kinds


def test_compare_shows_the_dlopen_row_and_a_required_leak_fails(world: dict[str, Path]) -> None:
    args = ["--snap", str(world["snap"]), "--base", str(world["base"]), "--host",
            str(world["host"])]
    plain = run_ldsim_cli("compare", *args, "--json")
    assert plain.status == 0 and plain.doc is not None, plain.stderr
    assert all("dlopen" not in r for b in plain.doc["binaries"] for r in b["rows"])
    with_dlopen = run_ldsim_cli("compare", *args, "--json", "--dlopen")
    assert with_dlopen.status == 1 and with_dlopen.doc is not None, with_dlopen.stderr
    (row,) = [r for b in with_dlopen.doc["binaries"] for r in b["rows"] if "dlopen" in r]
    assert row["name"] == "libhostonly.so.1" and row["dlopen"] == "required", row
    assert row["leak"] is True and row["classic"]["realm"] == "host", row
    assert row["strict"]["realm"] == "missing", row  # the base does not have it
    assert with_dlopen.doc["summary"]["leaks"] == 1
    text = run_ldsim_cli("compare", *args, "--dlopen", "--color", "never")
    assert "libhostonly.so.1 (dlopen, required)" in text.stdout, text.stdout


def test_check_dlopen_reports_the_leak_and_its_document_follows_the_schema(
        world: dict[str, Path]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ldsim.renderers.schema import load_schema

    args = ["--snap", str(world["snap"]), "--base", str(world["base"]), "--host",
            str(world["host"]), "--confinement", "classic"]
    checked = run_ldsim_cli("check", "--dlopen", "--json", *args)
    assert checked.status == 1 and checked.doc is not None, checked.stderr
    jsonschema.validate(checked.doc, load_schema("ldsim.check/1"))
    ids = {(f["id"], f["severity"]) for f in checked.doc["findings"]}
    assert ("dlopen-leak", "error") in ids, ids
    plain = run_ldsim_cli("check", "--json", *args)
    assert plain.status == 0, plain.stdout
    explained = run_ldsim_cli("explain", "--dlopen", "--json", *args)
    assert explained.doc is not None
    jsonschema.validate(explained.doc, load_schema("ldsim.explain/1"))


def test_scan_snap_dlopen_is_compare_dlopen_of_that_snap(world: dict[str, Path]) -> None:
    """``scan --snap --dlopen``: the snap's line is ``compare --all --dlopen --json`` of it,
    and the required dlopen's leak decides (the real program loads the host's copy)."""
    snap = ["--snap", str(world["snap"]), "--base-dir", str(world["base"].parent),
            "--host", str(world["host"])]
    scanned = run_ldsim_cli("scan", *snap, "--dlopen", "--format", "jsonl", "--jobs", "1")
    assert scanned.status == 1, scanned.stderr
    doc, summary = (json.loads(line) for line in scanned.stdout.splitlines())
    compared = run_ldsim_cli("compare", "--all", "--dlopen", "--json", "--snap",
                             str(world["snap"]), "--base", str(world["base"]), "--host",
                             str(world["host"]))
    assert compared.doc is not None, compared.stderr
    assert doc == compared.doc
    assert summary["leaks"] == {str(world["snap"]): 1}, summary
    assert [(f["id"], f["severity"], f["count"]) for f in summary["findings"]] == \
        [("dlopen-leak", "error", 1)], summary["findings"]
    plain = run_ldsim_cli("scan", *snap, "--format", "jsonl", "--jobs", "1")
    assert plain.status == 0, plain.stderr
    assert not any(json.loads(plain.stdout.splitlines()[-1])["leaks"].values())
