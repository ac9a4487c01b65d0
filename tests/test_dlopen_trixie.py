"""``ldsim explain --dlopen`` on Debian 13's real ``libsystemd-shared-257.so``, against the
root's own loader (trixie's glibc) making the same dlopen calls.

The root is ``rootfs-fixtures/trixie_systemd.py``'s (``LDSIM_TRIXIE_SYSTEMD_ROOT`` names
another place than ``/var/cache/ldsim-roots/trixie-systemd``); these tests skip unless it has
been built and run as root (chroot, mount namespaces). The real side is the fixture's
``/usr/local/bin/dlo NAME...`` (``dlopen(NAME, RTLD_NOW)`` each) with
``LD_DEBUG=libs,files``: every note soname in a process of its own (``trixie_systemd.check``:
where the name is found, whether from the cache, what else it maps), then the library itself
followed by the alternative of each note that loads, in note order, in one process (which
names the loader already has, and every search line). Only the calls of the library's
``note`` entries are compared; ldsim's ``hint`` entries are guesses, made after them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlopenroot as dr
import glibcroot
import pytest
import trixie_systemd as ts

ROOT = Path(os.environ.get("LDSIM_TRIXIE_SYSTEMD_ROOT") or ts.DEFAULT_DEST)
NOTES = 20
"""The dlopen notes of libsystemd-shared-257.so (systemd 257.x in Debian 13)."""

pytestmark = [
    pytest.mark.skipif(not (ROOT / ts.STAMP).is_file(),
                       reason=f"the trixie-systemd root is not built at {ROOT} "
                       "(python rootfs-fixtures/trixie_systemd.py)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="asking the real loader needs root"),
]


@pytest.fixture(scope="module")
def notes() -> list[ts.DlopenNote]:
    return ts.read_dlopen_notes((ROOT / ts.LIBRARY.lstrip("/")).read_bytes())


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    sim = glibcroot.run_ldsim(ROOT, ts.LIBRARY, "--dlopen")
    assert sim.doc is not None, f"{sim.argv}: no JSON\n{sim.stdout}\n{sim.stderr}"
    assert sim.doc["loader"] == "glibc" and sim.doc["error"] is None, sim.doc["error"]
    return sim.doc


@pytest.fixture(scope="module")
def singles() -> dict[str, ts.LoadResult]:
    """Every note soname dlopen'ed in a process of its own."""
    _together, results = ts.check(ROOT)
    return {r.soname: r for r in results}


def note_entries(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """ldsim's dlopen calls from the library's own notes, in order."""
    return [d for d in doc.get("dlopen") or []
            if d["source"] == "note" and d["caller"] == ts.LIBRARY]


def chosen(note: ts.DlopenNote, singles: dict[str, ts.LoadResult]) -> str | None:
    """The alternative a consumer ends up with: the first one that loads."""
    return next((s for s in note.sonames if singles[s].ok), None)


@pytest.fixture(scope="module")
def together(notes: list[ts.DlopenNote], singles: dict[str, ts.LoadResult]
             ) -> tuple[glibcroot.ProgramResult, list[dr.DebugRequest]]:
    """``dlo LIBRARY CHOSEN...`` in one process: the requests after the library's own."""
    names = [c for n in notes if (c := chosen(n, singles)) is not None]
    run = ts.run_dlo(ROOT, [ts.LIBRARY, *names], {"LD_DEBUG": "libs,files"})
    assert run.status == 0, (run.stdout, run.stderr[-2000:])
    _initial, requests = dr.split_debug(run.stderr)
    first = next(i for i, r in enumerate(requests) if r.dlopen and r.name != ts.LIBRARY)
    assert requests[0].name == ts.LIBRARY and requests[0].mapped
    return run, requests[first:]


def test_the_library_has_its_notes(notes: list[ts.DlopenNote]) -> None:
    assert len(notes) == NOTES
    assert all(n.feature for n in notes)


def test_every_note_is_a_dlopen_call(notes: list[ts.DlopenNote], doc: dict[str, Any]) -> None:
    got = [(d["feature"], tuple(d["sonames"]), d["priority"], d["description"])
           for d in note_entries(doc)]
    assert got == [(n.feature, n.sonames, n.priority, n.description) for n in notes]


def test_each_note_resolves_where_the_real_loader_finds_it(
    notes: list[ts.DlopenNote], doc: dict[str, Any], singles: dict[str, ts.LoadResult]
) -> None:
    """Per note: the alternative that loads, the file (the path the loader opened), how it
    was found (the cache), the alternatives tried; a note no alternative of which loads is
    missing (none in this root)."""
    problems = []
    rows = []
    for note, entry in zip(notes, note_entries(doc), strict=True):
        name = chosen(note, singles)
        want: dict[str, Any]
        if name is None:
            want = {"name": None, "path": None, "tried": list(note.sonames)}
            ok = entry["status"] in ("missing", "failed")
        else:
            single = singles[name]
            path = dict(single.mapped)[name]
            want = {"name": name, "path": path, "cache": single.via_cache,
                    "tried": list(note.sonames[: note.sonames.index(name) + 1])}
            ok = entry["status"] in ("loaded", "already_loaded")
        got = {k: entry[k] for k in want if k != "cache"}
        if "cache" in want:
            got["cache"] = entry["via"] == "ld.so.cache"
        rows.append(f"{note.feature:<12} real {want['name']} => {want['path']}   "
                    f"ldsim {entry['status']} {got['name']} => {got['path']} [{entry['via']}]")
        if got != want or not ok:
            problems.append(f"{note.feature}: real {want}, ldsim {entry['status']} {got}")
    assert not problems, "\n".join(problems) + "\n" + "\n".join(rows)
    # every note of this root resolves (the fixture installed a provider for each)
    assert all(chosen(n, singles) is not None for n in notes)


def test_what_each_dlopen_maps_is_loaded(
    notes: list[ts.DlopenNote], doc: dict[str, Any], singles: dict[str, ts.LoadResult]
) -> None:
    """Each chosen name, alone in a process, maps itself and its dependencies: ldsim's
    process (the library, then every call) has every one of those files."""
    paths = {o["path"] for o in doc["objects"]}
    missing = {name: [p for _n, p in singles[name].mapped if p not in paths]
               for n in notes if (name := chosen(n, singles)) is not None}
    assert not any(missing.values()), missing


def test_statuses_in_one_process(
    notes: list[ts.DlopenNote], doc: dict[str, Any], singles: dict[str, ts.LoadResult],
    together: tuple[glibcroot.ProgramResult, list[dr.DebugRequest]],
) -> None:
    """With the library loaded and the calls made in note order, a call is ``loaded`` when
    the loader mapped something for it and ``already_loaded`` when it asked nothing (the
    library's dependencies, or an earlier call's, have the name)."""
    run, requests = together
    assert all(line.endswith(" => OK") for line in run.stdout.splitlines()), run.stdout
    mapped = {r.name for r in requests if r.dlopen and r.mapped}
    want = [("loaded" if chosen(n, singles) in mapped else "already_loaded") for n in notes]
    got = [d["status"] for d in note_entries(doc)]
    assert got == want, list(zip([n.feature for n in notes], want, got, strict=True))
    assert "already_loaded" in want and "loaded" in want


def test_the_ld_debug_lines_of_the_calls(
    doc: dict[str, Any],
    together: tuple[glibcroot.ProgramResult, list[dr.DebugRequest]],
) -> None:
    """Every request the calls made (the dlopen itself, then the DT_NEEDED of what it
    mapped), with its ``search``/``trying`` lines and the file mapped, as ldsim's dlopen
    edges give them. The real caller is ``dlo``, ldsim's the library (neither has RPATH or
    RUNPATH, so both search alike): the requester is compared for DT_NEEDED requests only."""
    _run, real = together
    sim = dr.sim_requests(doc, {"note"})

    def key(r: dr.DebugRequest) -> tuple[str, bool, str | None, list[str], str | None]:
        return (r.name, r.dlopen, None if r.dlopen else r.by, r.lines, r.path)

    assert len(real) > NOTES // 2
    assert [key(r) for r in real] == [key(r) for r in sim], (
        f"-- real LD_DEBUG:\n{dr.describe_requests(real)}\n-- ldsim:\n"
        f"{dr.describe_requests(sim)}"
    )


def test_hints_are_separate(notes: list[ts.DlopenNote], doc: dict[str, Any]) -> None:
    """ldsim's hints (soname-like strings of an object importing dlopen) never repeat a name
    the same object's notes declare, and come after its note calls."""
    declared = {s for n in notes for s in n.sonames}
    mine = [d for d in doc["dlopen"] if d["caller"] == ts.LIBRARY]
    hints = [d for d in mine if d["source"] == "hint"]
    assert not [d for d in hints if set(d["sonames"]) & declared]
    sources = [d["source"] for d in mine]
    assert sources == sorted(sources, key=lambda s: s != "note")
