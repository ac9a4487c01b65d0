"""Snaps (``docs/loader-model.md``): ldsim's composed classic and strict views against the
real loader run in the same trees laid out physically.

For every fixture snap of ``rootfs-fixtures/snaproots.py`` and every view:

* the **real loader** runs the app's program through the kernel in a chroot of the physical
  layout (classic: host root + payload at ``/snap/NAME/x1`` + base at ``/snap/BASE/current``;
  strict: the base as root with the host's ``/etc``, ``/var/snap``, ``/home``... over it, the
  base's ``/etc/alternatives`` (and for core26 its ld.so.cache) back, payload and base under
  ``/snap``), in trace mode (``LD_TRACE_LOADED_OBJECTS=1``), with the environment snap.yaml
  gives the app;
* ``ldsim explain --json --snap PAYLOAD --base BASE --host HOST --confinement VIEW --app APP``
  composes the view from the separate trees and must list the same objects (name, path, via, in
  order), the same unresolved names, and put each object in the realm (payload, base, host) its
  file really came from;
* ``ldsim compare --json`` must put the two real answers side by side: rows, ``same`` (one
  source file), ``leak`` (host realm in classic), ``shadowed``, the summary and the exit status.

A fixture first has to show on the real loader what it was built to show (:data:`STORIES`), so
a broken fixture fails there and not as an ldsim disagreement. Where ldsim is known to be wrong
the test is a strict xfail saying how (:data:`GAPS`). ``.snap`` files made with
mksquashfs must give the answers their directories give (needs ``ldsim/fs/squashfs.py``).

The realistic fixture is Debian's zstd with staged liblz4/liblzma on a libc6+zlib1g core22-like
base; it needs ``apt-get download`` and skips when that fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import glibcroot
import pytest
import snaproots
from snaproots import (
    BASE20,
    REVISION,
    SNAP_LIBRARY_PATH,
    USER_LIBDIR,
    CliResult,
    SnapFixture,
    World,
    interp_of,
)

pytestmark = pytest.mark.oracle

LDSO = glibcroot.LDSO
VIEWS = ("classic", "strict")


@dataclass(frozen=True)
class Story:
    """What a fixture app is built to show, in terms of the real loader."""

    leaks: frozenset[str] = frozenset()
    """Names (the interpreter by its PT_INTERP) whose file comes from the host in classic."""
    classic_missing: frozenset[str] = frozenset()
    strict_missing: frozenset[str] = frozenset()
    strict_host: frozenset[str] = frozenset()
    """Names whose file comes from a host directory snap-confine mounts in the strict view."""

    @property
    def compare_status(self) -> int:
        return 1 if self.leaks or self.classic_missing else 0


def _story(leaks: tuple[str, ...] = (), classic_missing: tuple[str, ...] = (),
           strict_missing: tuple[str, ...] = (), strict_host: tuple[str, ...] = ()) -> Story:
    return Story(frozenset(leaks), frozenset(classic_missing), frozenset(strict_missing),
                 frozenset(strict_host))


STORIES: dict[tuple[str, str], Story] = {
    ("rpath-complete", "app"): _story(),
    ("no-rpath", "app"): _story(("libshared.so.1", "libc.so.6")),
    ("unpatched", "app"): _story(("libshared.so.1", "libc.so.6", LDSO)),
    ("runpath", "app"): _story(("libshared.so.1",)),
    ("host-only", "app"): _story(("libhostonly.so.1",), strict_missing=("libhostonly.so.1",)),
    ("cache26", "app"): _story(("libshared.so.1", "libc.so.6", LDSO),
                               classic_missing=("libbasesub.so.1",)),
    ("abs-symlink", "app"): _story(("libshared.so.1",)),
    ("abs-loader", "app"): _story((interp_of(BASE20),)),
    ("alternatives", "app"): _story(("libalt.so.1",)),
    ("snap-data", "app"): _story(("libplugin.so.1",), strict_host=("libplugin.so.1",)),
    ("current-rpath", "app"): _story(("libshared.so.1",)),
    ("zstd", "zstd"): _story(),
    ("zstd", "unpatched"): _story(
        ("libz.so.1", "liblzma.so.5", "liblz4.so.1", "libc.so.6", LDSO),
        strict_missing=("liblzma.so.5", "liblz4.so.1")),
}
SYNTHETIC_CASES = [(s, "app") for s in snaproots.SYNTHETIC]
DEBIAN_CASES = [("zstd", "zstd"), ("zstd", "unpatched")]
CASES = [*SYNTHETIC_CASES, *DEBIAN_CASES]

GAPS: dict[tuple[str, str], str] = {
}
"""Known disagreements: (snap, view) -> what ldsim gets wrong (tests are strict xfails). The
/etc/alternatives and host-bind gaps this once held are fixed in compose.runtime_view."""


def _gap_params(cases: list[tuple[str, str]]) -> list[Any]:
    """(snap, app, view) parameters, a strict xfail where ldsim is known to be wrong."""
    out = []
    for snap, app in cases:
        for view in VIEWS:
            gap = GAPS.get((snap, view))
            marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
            out.append(pytest.param(snap, app, view, marks=marks, id=f"{snap}-{app}-{view}"))
    return out


def _compare_params(cases: list[tuple[str, str]]) -> list[Any]:
    out = []
    for snap, app in cases:
        gaps = [r for (s, _v), r in GAPS.items() if s == snap]
        marks = [pytest.mark.xfail(strict=True, reason=gaps[0])] if gaps else []
        out.append(pytest.param(snap, app, marks=marks, id=snap))
    return out


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> World:
    return snaproots.build_synthetic_world(tmp_path_factory.mktemp("snaps"))


@pytest.fixture(scope="session")
def deb_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Downloaded .debs, once per test session."""
    return tmp_path_factory.mktemp("cache") / "debs"


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory, deb_cache: Path) -> World:
    try:
        world, versions = snaproots.build_debian_world(tmp_path_factory.mktemp("debian-snap"),
                                                       deb_cache)
    except snaproots.DebianUnavailable as exc:
        pytest.skip(f"realistic snap fixture unavailable: {exc}")
    print("Debian packages:", "; ".join(versions))
    return world


def world_for(request: pytest.FixtureRequest, snap: str) -> World:
    world = request.getfixturevalue("debian" if snap == "zstd" else "synthetic")
    assert isinstance(world, World)
    return world


@pytest.fixture(scope="module")
def squashfs_ready() -> None:
    if not snaproots.squashfs_reader_present():
        pytest.skip("ldsim/fs/squashfs.py is not there yet: ldsim cannot read .snap files")


# --------------------------------------------------------------------------------------------
# What the real loader says, as rows


@dataclass(frozen=True)
class RealSide:
    path: str | None
    realm: str
    via: str | None
    where: str | None
    """The source file (realm-qualified), for ``same``."""

    def as_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "realm": self.realm, "via": self.via}


Envs = Mapping[str, Mapping[str, str]]
"""view -> the program's environment for the real loader (default: the snap's own)."""


def real_sides(world: World, snap: SnapFixture, app: str, view: str,
               env: Mapping[str, str] | None = None) -> dict[str, RealSide]:
    real = world.real(snap.name, app, view, env)
    assert real.error is None, f"the real load aborted: {real.error}\n{real.describe()}"
    out: dict[str, RealSide] = {}
    for e in real.found:
        assert e.path is not None
        o = world.origin(snap, view, e.path)
        out.setdefault(e.name, RealSide(e.path, o.realm, e.via, o.where))
    for name in real.unresolved:
        out.setdefault(name, RealSide(None, "missing", None, None))
    return out


def shipped_names(world: World, snap: SnapFixture) -> set[str]:
    """Basenames of every non-directory entry of the payload and the base (symlinks too)."""
    names: set[str] = set()
    for top in (snap.path, world.bases[snap.base]):
        for dirpath, dirnames, filenames in os.walk(top):
            names.update(filenames)
            names.update(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))
    return names


def expected_rows(world: World, snap: SnapFixture, app: str,
                  envs: Envs | None = None) -> list[dict[str, Any]]:
    """``ldsim.compare/1`` rows built from the two real runs: classic names in load order (then
    classic ``not found``), then names only the strict view has."""
    envs = envs or {}
    c = real_sides(world, snap, app, "classic", envs.get("classic"))
    s = real_sides(world, snap, app, "strict", envs.get("strict"))
    creal = world.real(snap.name, app, "classic", envs.get("classic"))
    sreal = world.real(snap.name, app, "strict", envs.get("strict"))
    order = [e.name for e in creal.found] + creal.unresolved
    order += [n for n in [e.name for e in sreal.found] + sreal.unresolved if n not in order]
    shipped = shipped_names(world, snap)
    rows = []
    for name in dict.fromkeys(order):
        a = c.get(name, RealSide(None, "missing", None, None))
        b = s.get(name, RealSide(None, "missing", None, None))
        same = a.where == b.where if a.where and b.where else a.where is None and b.where is None
        leak = a.realm == "host"
        shadowed = leak and (name in shipped or os.path.basename(a.path or "") in shipped)
        rows.append({"name": name, "classic": a.as_dict(), "strict": b.as_dict(), "same": same,
                     "leak": leak, "shadowed": shadowed})
    return rows


# --------------------------------------------------------------------------------------------
# Reporting


def _side_by_side(left: list[str], right: list[str], titles: tuple[str, str]) -> str:
    width = max([len(titles[0]), *map(len, left)]) + 2
    out = [f"   {titles[0]:<{width}}| {titles[1]}"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        out.append(f"{'   ' if a == b else '!! '}{a:<{width}}| {b}")
    return "\n".join(out)


def _fail(what: str, problems: list[str], real_lines: list[str], sim_lines: list[str],
          world: World, snap: SnapFixture, app: str, view: str, sim: CliResult,
          env: Mapping[str, str] | None) -> None:
    real = world.real(snap.name, app, view, env)
    pytest.fail(
        f"{what}: " + "; ".join(problems)
        + f"\n$ chroot {world.layout(snap, view)} {real.describe()}\n{sim.describe()}\n"
        + _side_by_side(real_lines, sim_lines, ("real ld.so (physical layout)", "ldsim"))
        + f"\n-- ldsim stderr:\n{sim.stderr}", pytrace=False)


# --------------------------------------------------------------------------------------------
# The fixtures themselves


def test_synthetic_trees_are_what_they_claim(synthetic: World) -> None:
    base = synthetic.bases[snaproots.BASE_NAME]
    for top, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
        assert os.readlink(base / top) == target
    loader = base / "usr/lib64/ld-linux-x86-64.so.2"
    assert os.readlink(loader) == "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert (base / "usr/lib/x86_64-linux-gnu/libc.so.6").is_file()
    assert os.readlink(synthetic.bases[BASE20] / "usr/lib64/ld-linux-x86-64.so.2").startswith("/")
    for tree in (synthetic.host, *synthetic.bases.values()):
        assert (tree / "etc/ld.so.cache").is_file() and (tree / "usr/bin/env").is_file()
    host_lib = synthetic.host / "usr/lib/x86_64-linux-gnu/libshared.so.1"
    base_lib = base / "usr/lib/x86_64-linux-gnu/libshared.so.1"
    assert host_lib.read_bytes() != base_lib.read_bytes()
    interp = interp_of(snaproots.BASE_NAME)
    tags = {name: glibcroot.dynamic_strings(s.path.joinpath("bin/app").read_bytes())
            for name, s in synthetic.snaps.items()}
    assert snaproots.pt_interp(synthetic.snaps["rpath-complete"].path / "bin/app") == interp
    assert snaproots.pt_interp(synthetic.snaps["unpatched"].path / "bin/app") == LDSO
    assert (glibcroot.DT_RPATH, "$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu") \
        in tags["rpath-complete"]
    assert (glibcroot.DT_RUNPATH, "$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu") \
        in tags["runpath"]
    assert not [t for t, _v in tags["no-rpath"] if t in (glibcroot.DT_RPATH, glibcroot.DT_RUNPATH)]
    strict = synthetic.strict[snaproots.BASE_NAME]
    assert (strict / "etc/ld.so.cache").stat().st_ino == \
        (synthetic.host / "etc/ld.so.cache").stat().st_ino
    strict26 = synthetic.strict[snaproots.BASE26]
    assert (strict26 / "etc/ld.so.cache").stat().st_ino == \
        (synthetic.bases[snaproots.BASE26] / "etc/ld.so.cache").stat().st_ino
    # one file at / and at /snap/BASE/current, as snap-confine's bind mounts give
    libc = "usr/lib/x86_64-linux-gnu/libc.so.6"
    assert (strict / libc).stat().st_ino == (strict / "snap/core22/current" / libc).stat().st_ino


def test_debian_trees_are_what_they_claim(debian: World) -> None:
    base = debian.bases[snaproots.BASE_NAME]
    assert os.readlink(base / "lib") == "usr/lib"
    assert os.readlink(base / "usr/lib64/ld-linux-x86-64.so.2") == \
        "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert (base / "usr/lib/x86_64-linux-gnu/libz.so.1").exists()
    payload = debian.snaps["zstd"].path
    assert snaproots.pt_interp(payload / "usr/bin/zstd") == interp_of(snaproots.BASE_NAME)
    assert snaproots.pt_interp(payload / "usr/bin/zstd-unpatched") == LDSO
    for soname in snaproots.DEBIAN_HOST_SONAMES:
        assert (debian.host / "usr/lib/x86_64-linux-gnu" / soname).exists(), soname


@pytest.mark.parametrize(("snap", "app"), CASES)
def test_real_loader_tells_the_story(request: pytest.FixtureRequest, snap: str, app: str) -> None:
    """The fixture does what it was built for (checked on the real loader alone)."""
    world = world_for(request, snap)
    s = world.snaps[snap]
    story = STORIES[(snap, app)]
    c = real_sides(world, s, app, "classic")
    st = real_sides(world, s, app, "strict")
    listing = (f"-- classic:\n{world.real(snap, app, 'classic').listing()}\n"
               f"-- strict:\n{world.real(snap, app, 'strict').listing()}")
    assert {n for n, side in c.items() if side.realm == "host"} == story.leaks, listing
    assert {n for n, side in c.items() if side.realm == "missing"} == story.classic_missing, \
        listing
    assert {n for n, side in st.items() if side.realm == "missing"} == story.strict_missing, \
        listing
    assert {n for n, side in st.items() if side.realm == "host"} == story.strict_host, listing


# --------------------------------------------------------------------------------------------
# ldsim explain


def check_explain(world: World, snap: str, app: str, view: str, sim: CliResult,
                  env: Mapping[str, str] | None = None) -> None:
    s = world.snaps[snap]
    real = world.real(snap, app, view, env)
    if sim.doc is None:
        pytest.fail(f"ldsim printed no JSON\n{sim.describe()}\n{sim.stdout}\n{sim.stderr}")
    doc = sim.doc
    objects: list[dict[str, Any]] = doc["objects"]
    problems: list[str] = []
    real_lines = []
    for e in real.found:
        assert e.path is not None
        realm = world.origin(s, view, e.path).realm
        real_lines.append(f"{e.name} => {e.path}  [{e.via}] ({realm})")
    real_lines += [f"{n} => not found" for n in real.unresolved]
    sim_lines = [f"{o['name']} => {o['path']}  [{o['via']}] ({o['realm']})" for o in objects[1:]]
    sim_lines += [f"{u['name']} => not found" for u in doc["unresolved"]]
    if real_lines != sim_lines:
        problems.append("objects differ (name, path, via, realm)")
    if not objects or objects[0]["via"] != "executable" or objects[0]["realm"] != "payload":
        problems.append(f"objects[0] is not the executable in the payload: {objects[:1]}")
    if doc["executable"] != s.program(app):
        problems.append(f"executable {doc['executable']!r}, expected {s.program(app)!r}")
    want_interp = snaproots.pt_interp(s.path / s.apps[app])
    if doc["interpreter"] != want_interp:
        problems.append(f"interpreter {doc['interpreter']!r}, expected {want_interp!r}")
    snap_info = {"name": snap, "base": s.base, "confinement": view, "revision": s.revision}
    if doc.get("snap") != snap_info:
        problems.append(f"snap {doc.get('snap')}, expected {snap_info}")
    sim_error = (doc.get("error") or {}).get("loader_message")
    if sim_error != real.error:
        problems.append(f"fatal error {sim_error!r}, real {real.error!r}")
    want_status = 1 if (real.error or real.unresolved) else 0
    if sim.status != want_status:
        problems.append(f"exit status {sim.status}, expected {want_status}")
    if problems:
        _fail("ldsim explain disagrees with the real loader", problems, real_lines, sim_lines,
              world, s, app, view, sim, env)


@pytest.mark.parametrize(("snap", "app", "view"), _gap_params(CASES))
def test_explain_matches_real_loader(request: pytest.FixtureRequest, snap: str, app: str,
                                     view: str) -> None:
    world = world_for(request, snap)
    check_explain(world, snap, app, view, world.explain(snap, app, view))


def test_explain_default_confinement_is_the_snaps_own(synthetic: World) -> None:
    """Without --confinement: classic for a classic snap, strict otherwise."""
    for snap, view in (("rpath-complete", "classic"), ("unpatched", "strict")):
        s = synthetic.snaps[snap]
        sim = snaproots.run_ldsim_cli("explain", "--json", "--snap", str(s.path), "--base",
                                      str(synthetic.bases[s.base]), "--host",
                                      str(synthetic.host))
        assert sim.doc is not None, sim.stderr
        assert sim.doc["snap"]["confinement"] == view
        check_explain(synthetic, snap, "app", view, sim)


# --------------------------------------------------------------------------------------------
# ldsim compare


def check_compare(world: World, snap: str, apps: list[str], sim: CliResult,
                  envs: Envs | None = None) -> None:
    s = world.snaps[snap]
    if sim.doc is None:
        pytest.fail(f"ldsim compare printed no JSON\n{sim.describe()}\n{sim.stdout}\n{sim.stderr}")
    doc = sim.doc
    assert doc["schema"] == "ldsim.compare/1"
    assert doc["snap"] == {"name": snap, "base": s.base, "confinement": s.confinement}
    assert [b["path"] for b in doc["binaries"]] == [s.program(a) for a in apps]
    all_rows: list[dict[str, Any]] = []
    for app, binary in zip(apps, doc["binaries"], strict=True):
        want = expected_rows(world, s, app, envs)
        got = binary["rows"]
        all_rows += want
        assert "classic_error" not in binary and "strict_error" not in binary, binary
        if got != want:
            def line(r: dict[str, Any]) -> str:
                flags = [f for f in ("same", "leak", "shadowed") if r.get(f)]
                return (f"{r['name']}: {r['classic']['realm']} {r['classic']['path']} "
                        f"[{r['classic']['via']}] | {r['strict']['realm']} "
                        f"{r['strict']['path']} [{r['strict']['via']}] {','.join(flags)}")
            pytest.fail(
                f"ldsim compare disagrees with the real loader ({app})\n{sim.describe()}\n"
                + _side_by_side([line(r) for r in want], [line(r) for r in got],
                                ("real (classic | strict)", "ldsim"))
                + f"\n-- ldsim stderr:\n{sim.stderr}", pytrace=False)
    summary = doc["summary"]
    want_summary = {
        "binaries": len(apps), "rows": len(all_rows),
        "leaks": sum(r["leak"] for r in all_rows),
        "differences": sum(not r["same"] for r in all_rows),
    }
    assert {k: summary[k] for k in want_summary} == want_summary, summary
    if "missing" in summary:
        assert summary["missing"] == sum(r["classic"]["realm"] == "missing" for r in all_rows)
    bad = any(r["leak"] or r["classic"]["realm"] == "missing" for r in all_rows)
    assert sim.status == (1 if bad else 0), f"{sim.describe()}\n{sim.stderr}"
    if envs is None:
        assert sim.status == max(STORIES[(snap, a)].compare_status for a in apps)


@pytest.mark.parametrize(("snap", "app"), _compare_params(SYNTHETIC_CASES))
def test_compare_matches_real_loader(synthetic: World, snap: str, app: str) -> None:
    check_compare(synthetic, snap, [app], synthetic.compare(snap))


def test_compare_debian_snap(debian: World) -> None:
    """Both apps (sorted by name), then each alone: the patched zstd alone exits 0."""
    check_compare(debian, "zstd", ["unpatched", "zstd"], debian.compare("zstd"))
    for app in ("zstd", "unpatched"):
        check_compare(debian, "zstd", [app], debian.compare("zstd", "--app", app))


USER_LLP_CASES: dict[str, tuple[dict[str, str], str, str]] = {
    # snap: (classic environment, where classic's libshared.so.1 comes from, via)
    "no-rpath": ({"LD_LIBRARY_PATH": USER_LIBDIR}, "host", "ld_library_path"),
    "unpatched": (
        {"LD_LIBRARY_PATH": f"{SNAP_LIBRARY_PATH}:{USER_LIBDIR}:/snap/unpatched/{REVISION}/lib"},
        "host", "ld_library_path"),
    "rpath-complete": ({"LD_LIBRARY_PATH": USER_LIBDIR}, "base", "rpath"),
}


@pytest.mark.parametrize("snap", sorted(USER_LLP_CASES))
def test_user_ld_library_path_kept_in_classic_dropped_in_strict(synthetic: World,
                                                                snap: str) -> None:
    """The user's LD_LIBRARY_PATH reaches a classic app (snap.yaml's
    ``${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}`` splices it in), a strict app never sees it."""
    classic_env, realm, via = USER_LLP_CASES[snap]
    envs = {"classic": classic_env, "strict": synthetic.snaps[snap].env}
    c = real_sides(synthetic, synthetic.snaps[snap], "app", "classic", classic_env)
    assert (c["libshared.so.1"].realm, c["libshared.so.1"].via) == (realm, via)
    for view in VIEWS:
        sim = synthetic.explain(snap, "app", view, "--ld-library-path", USER_LIBDIR)
        check_explain(synthetic, snap, "app", view, sim, envs[view])
    check_compare(synthetic, snap, ["app"],
                  synthetic.compare(snap, "--ld-library-path", USER_LIBDIR), envs)


@pytest.mark.parametrize("snap", ["rpath-complete", "unpatched", "abs-loader", "cache26"])
def test_base_found_under_the_hosts_snap_dir(synthetic: World, snap: str) -> None:
    """Without --base, the base is HOST/snap/BASE/current: a host that has the snaps installed
    (the classic layout itself) gives the answers of the separate trees."""
    s = synthetic.snaps[snap]
    for view in VIEWS:
        sim = snaproots.run_ldsim_cli("explain", "--json", "--snap", str(s.path), "--host",
                                      str(synthetic.classic), "--confinement", view)
        check_explain(synthetic, snap, "app", view, sim)


def test_compare_text_marks_leaks(synthetic: World) -> None:
    s = synthetic.snaps["runpath"]
    sim = snaproots.run_ldsim_cli("compare", "--snap", str(s.path), "--base",
                                  str(synthetic.bases[s.base]), "--host", str(synthetic.host))
    assert sim.status == 1, sim.stderr
    # the marker starts the row (LEAK*: the host's file shadows the snap's own copy)
    leaking = [line for line in sim.stdout.splitlines() if line.startswith("  LEAK")]
    assert len(leaking) == 1 and "libshared.so.1" in leaking[0], sim.stdout


# --------------------------------------------------------------------------------------------
# .snap files


def _without_source(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The document minus what names the input files (explain's ``root``)."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k != "root"}


@pytest.fixture(scope="module")
def snap_files(synthetic: World, tmp_path_factory: pytest.TempPathFactory,
               squashfs_ready: None) -> Iterator[dict[str, Path]]:
    out = tmp_path_factory.mktemp("snap-files")
    files = {name: snaproots.mksquashfs(s.path, out / f"{name}.snap")
             for name, s in synthetic.snaps.items()}
    files[f"base:{snaproots.BASE_NAME}"] = snaproots.mksquashfs(
        synthetic.bases[snaproots.BASE_NAME], out / f"{snaproots.BASE_NAME}.snap")
    yield files


def check_same_answers(world: World, snap: str, apps: list[str], payload: Path,
                       base: Path | None = None) -> None:
    for app in apps:
        for view in VIEWS:
            d = world.explain(snap, app, view)
            f = world.explain(snap, app, view, payload=payload, base=base)
            assert (f.status, _without_source(f.doc)) == (d.status, _without_source(d.doc)), \
                f"{f.describe()}\n{f.stderr}\n-- vs directory:\n{d.describe()}"
            if (snap, view) not in GAPS:
                check_explain(world, snap, app, view, f)
    d = world.compare(snap)
    f = world.compare(snap, payload=payload, base=base)
    assert (f.status, f.doc) == (d.status, d.doc), f"{f.describe()}\n{f.stderr}"


@pytest.mark.parametrize("snap", snaproots.SYNTHETIC)
def test_snap_file_gives_the_directory_answers(synthetic: World, snap_files: dict[str, Path],
                                              snap: str) -> None:
    check_same_answers(synthetic, snap, ["app"], snap_files[snap])


@pytest.mark.parametrize("snap", ["rpath-complete", "unpatched", "abs-symlink"])
def test_base_snap_file_gives_the_directory_answers(synthetic: World,
                                                    snap_files: dict[str, Path],
                                                    snap: str) -> None:
    check_same_answers(synthetic, snap, ["app"], snap_files[snap],
                       snap_files[f"base:{snaproots.BASE_NAME}"])


def test_debian_snap_file_gives_the_directory_answers(
        debian: World, tmp_path_factory: pytest.TempPathFactory, squashfs_ready: None) -> None:
    s = debian.snaps["zstd"]
    snap_file = snaproots.mksquashfs(s.path, tmp_path_factory.mktemp("deb-snap") / "zstd.snap")
    check_same_answers(debian, "zstd", ["zstd", "unpatched"], snap_file)


@pytest.mark.parametrize("snap", ["unpatched", "rpath-complete"])
def test_snap_file_revision_comes_from_its_name(synthetic: World, snap: str,
                                                tmp_path_factory: pytest.TempPathFactory,
                                                squashfs_ready: None) -> None:
    """``NAME_42.snap`` is revision 42 (snapd's file naming): ``$SNAP`` and the program's
    ``$ORIGIN`` are under ``/snap/NAME/42``, as in a layout with the payload there."""
    s = synthetic.snaps[snap]
    env = {k: v.replace(f"/{REVISION}/", "/42/") for k, v in s.env.items()}
    s42 = replace(s, revision="42", env=env)
    top = tmp_path_factory.mktemp("rev42")
    world = World(
        synthetic.host, synthetic.bases, {snap: s42},
        snaproots.classic_layout(top / "classic", synthetic.host, synthetic.bases, [s42]),
        {s.base: snaproots.strict_layout(top / "strict", synthetic.host, s.base,
                                         synthetic.bases, [s42])})
    snap_file = snaproots.mksquashfs(s.path, top / f"{snap}_42.snap")
    for view in VIEWS:
        check_explain(world, snap, "app", view, world.explain(snap, "app", view,
                                                              payload=snap_file))
