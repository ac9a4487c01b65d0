"""Dependency graphs: the networkx model, its queries, DOT (golden files), pictures drawn by the
real ``dot``, GraphML/JSON round trips, Mermaid, ``ldsim graph``, the notebook repr and the
notebook itself.

Roots are built with gcc and patchelf (``rootfs-fixtures/glibcroot.py``, ``snaproots.py``);
the simulated CPU is fixed (:data:`ENV`), so the DOT text is the same on every machine with
Debian 12's loader. ``LDSIM_UPDATE_GOLDEN=1 pytest tests/test_graph.py`` rewrites the golden
files in ``tests/golden/`` (look at the diff before committing it).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from glibcroot import REPO, Root
from snaproots import build_base, build_host, interp_of, libdir_of, patch_elf, snap_yaml

import ldsim
from ldsim import LoaderEnv, Resolution, dependency_graph, dependents, leak_paths, leaks, why
from ldsim.depgraph import (
    graph_from_document,
    load_chain,
    new_graph,
    programs,
)
from ldsim.fs.view import HostDirView
from ldsim.renderers.dot import BIG, REALMS, render_dot
from ldsim.renderers.mermaid import render_mermaid

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                                reason="needs gcc and patchelf")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("LDSIM_UPDATE_GOLDEN") == "1"
ENV = LoaderEnv(hwcaps=(), platform="x86_64", legacy_hwcap_names=("x86_64",))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
SVG = "{http://www.w3.org/2000/svg}"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with LDSIM_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{name} differs from the golden file (see the diff)"


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``/usr/bin/app`` needs libfoo (by RPATH $ORIGIN) and libbar (cache); libfoo needs
    libbar (already loaded) and libmissing (nowhere). ``/usr/bin/other`` needs libbar.
    ``/usr/bin/broken`` needs a libbad.so.1 that is not ELF: the load aborts."""
    r = Root(tmp_path_factory.mktemp("graph") / "root")
    r.mklib(f"{LIBDIR}/libbar.so.1", "libbar.so.1")
    r.mklib("/opt/foo/libfoo.so.1", "libfoo.so.1", needed=["libbar.so.1", "libmissing.so.1"])
    r.mkexe("/usr/bin/app", needed=["libfoo.so.1", "libbar.so.1"], rpath="$ORIGIN/../../opt/foo")
    r.mkexe("/usr/bin/other", needed=["libbar.so.1"])
    r.write(f"{LIBDIR}/libbad.so.1", "this is not an ELF file\n")
    r.mkexe("/usr/bin/broken", needed=["libbar.so.1", "libbad.so.1"])
    r.ldconfig()
    return r.path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A host, a core22-like base and the classic snap ``leaky``: ``bin/app`` (RUNPATH to
    its lib/ and the base) needs libpay (payload), libbase (base) and libhostonly (only on
    the host: leaks in classic, missing in strict); libpay's own RUNPATH is ``$ORIGIN``
    only, so its libshared leaks from the host in classic. ``bin/tool`` needs libpaydep."""
    top = tmp_path_factory.mktemp("graph-snap")
    build_host(top / "host")
    build_base(top / "core22")
    p = Root(top / "leaky", base=False)
    p.write("/meta/snap.yaml", snap_yaml("leaky", "core22", "classic",
                                         {"app": "bin/app", "tool": "bin/tool"}))
    p.mklib("/lib/libpaydep.so.1", "libpaydep.so.1")
    p.mklib("/lib/libpay.so.1", "libpay.so.1", needed=["libshared.so.1", "libpaydep.so.1"],
            runpath="$ORIGIN")
    p.mkexe("/bin/app", needed=["libpay.so.1", "libbase.so.1", "libhostonly.so.1"])
    patch_elf(p.host("/bin/app"), interpreter=interp_of("core22"),
              runpath=f"$ORIGIN/../lib:{libdir_of('core22')}")
    p.mkexe("/bin/tool", needed=["libpaydep.so.1"])
    patch_elf(p.host("/bin/tool"), interpreter=interp_of("core22"),
              rpath=f"$ORIGIN/../lib:{libdir_of('core22')}")
    return {"host": top / "host", "base": top / "core22", "snap": p.path}


def plain_resolution(root: Path, exe: str) -> Resolution:
    return ldsim.resolve(ldsim.open_root(str(root)), exe, ENV)


def snap_graph(world: dict[str, Path], views: tuple[str, ...] = ("classic", "strict"),
               apps: tuple[str, ...] = ("app",)) -> Any:
    """The graph ``ldsim graph --snap`` builds (with --compare for two views)."""
    target = ldsim.open_snap(str(world["snap"]), base=str(world["base"]),
                             host=str(world["host"]))
    progs = [p for name in apps for p in target.app_programs(name)]
    return ldsim.graph(target, progs, ENV, views=[ldsim.Confinement(v) for v in views]).graph


# -- the model and its queries -------------------------------------------------------------------


def test_model_of_a_plain_root(plain: Path) -> None:
    res = plain_resolution(plain, "/usr/bin/app")
    g = dependency_graph(res)
    assert set(g) == {
        "/usr/bin/app", "/opt/foo/libfoo.so.1", f"{LIBDIR}/libbar.so.1",
        "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        "missing:libmissing.so.1"}
    app = g.nodes["/usr/bin/app"]
    assert (app["kind"], app["program"], app["via"], app["realm"], app["libc"]) == (
        "object", True, "executable", "root", "glibc")
    foo = g.nodes["/opt/foo/libfoo.so.1"]
    assert (foo["soname"], foo["via"], foo["path"]) == (
        "libfoo.so.1", "rpath", "/usr/bin/../../opt/foo/libfoo.so.1")
    assert g.nodes["missing:libmissing.so.1"]["realm"] == "missing"
    edges = {(u, v, a["kind"], a["name"], a["via"]) for u, v, a in g.edges(data=True)}
    assert ("/usr/bin/app", "/opt/foo/libfoo.so.1", "needed", "libfoo.so.1", "rpath") in edges
    assert ("/opt/foo/libfoo.so.1", f"{LIBDIR}/libbar.so.1", "needed", "libbar.so.1",
            "already_loaded") in edges
    assert ("/opt/foo/libfoo.so.1", "missing:libmissing.so.1", "needed", "libmissing.so.1",
            None) in edges
    assert ("/usr/bin/app", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "PT_INTERP",
            "/lib64/ld-linux-x86-64.so.2", "interpreter") in edges
    tried = {a["name"]: a["tried"] for _u, _v, a in g.edges(data=True)}
    assert tried["libmissing.so.1"] > tried["libfoo.so.1"] > 0
    # one edge per DT_NEEDED entry and preload, plus PT_INTERP
    assert g.number_of_edges() == len(res.lookups) + 1


def test_queries(plain: Path) -> None:
    g = dependency_graph(plain_resolution(plain, "/usr/bin/app"))
    bar, foo = f"{LIBDIR}/libbar.so.1", "/opt/foo/libfoo.so.1"
    assert why(g, "libbar.so.1") == [["/usr/bin/app", bar], ["/usr/bin/app", foo, bar]]
    assert load_chain(g, "libbar.so.1") == ["/usr/bin/app", bar]
    assert load_chain(g, "libmissing.so.1") == ["/usr/bin/app", foo, "missing:libmissing.so.1"]
    assert dependents(g, "libbar.so.1") == [foo, "/usr/bin/app"]
    assert dependents(g, "libmissing.so.1", transitive=True) == [foo, "/usr/bin/app"]
    assert why(g, "/usr/bin/app") == [["/usr/bin/app"]]
    assert leaks(g) == [] and leak_paths(g) == []
    with pytest.raises(KeyError):
        why(g, "libnothing.so.9")


def test_abort_is_a_node(plain: Path) -> None:
    res = plain_resolution(plain, "/usr/bin/broken")
    assert res.error is not None
    g = dependency_graph(res)
    err = g.nodes["error:libbad.so.1"]
    assert (err["kind"], err["reason"]) == ("error", res.error.reason)
    assert list(g.predecessors("error:libbad.so.1")) == ["/usr/bin/broken"]


def test_programs_share_one_graph(plain: Path) -> None:
    root = ldsim.open_root(str(plain))
    g = dependency_graph([ldsim.resolve(root, e, ENV)
                          for e in ("/usr/bin/app", "/usr/bin/other")], title="two")
    assert programs(g) == ["/usr/bin/app", "/usr/bin/other"]
    bar = g.nodes[f"{LIBDIR}/libbar.so.1"]
    assert bar["programs"] == ["/usr/bin/app", "/usr/bin/other"]
    assert g.nodes["/opt/foo/libfoo.so.1"]["programs"] == ["/usr/bin/app"]
    assert dependents(g, "libbar.so.1") == ["/opt/foo/libfoo.so.1", "/usr/bin/app",
                                            "/usr/bin/other"]
    golden("graph-root-programs.dot", render_dot(g))


@pytest.mark.skipif(shutil.which("musl-gcc") is None, reason="needs musl-gcc")
def test_musl_program(tmp_path: Path) -> None:
    import muslroot

    r = muslroot.MuslRoot(tmp_path / "musl")
    r.mmklib("/lib/x86_64-linux-musl/libm1.so", "libm1.so")
    r.mmkexe("/bin/app", needed=["libm1.so", "libnope.so"])
    g = dependency_graph(ldsim.resolve(ldsim.open_root(str(r.path)), "/bin/app", ENV))
    loader = "/lib/ld-musl-x86_64.so.1"
    assert g.nodes["/bin/app"]["libc"] == "musl" and g.nodes[loader]["libc"] == "musl"
    # musl's loader is its libc: "libc.so" is served by the interpreter itself
    assert {(u, a["name"], a["via"]) for u, v, a in g.edges(data=True) if v == loader} == {
        ("/bin/app", "libc.so", "interpreter"), ("/bin/app", loader, "interpreter"),
        ("/lib/x86_64-linux-musl/libm1.so", "libc.so", "interpreter")}
    assert g.nodes["missing:libnope.so"]["reason"] == "No such file or directory"


def test_snap_leaks(world: dict[str, Path]) -> None:
    g = snap_graph(world, ("classic",))
    host = {n: a for n, a in g.nodes(data=True) if a.get("realm") == "host"}
    assert sorted(a["soname"] for a in host.values()) == ["libhostonly.so.1", "libshared.so.1"]
    assert leaks(g) == sorted(host)
    app, pay = "payload:/bin/app", "payload:/lib/libpay.so.1"
    paths = leak_paths(g)
    assert paths == [[app, f"host:{LIBDIR}/libhostonly.so.1"],
                     [app, pay, f"host:{LIBDIR}/libshared.so.1"]]
    assert g.nodes[pay]["path"] == "/snap/leaky/x1/bin/../lib/libpay.so.1"
    assert all(g.nodes[p[-1]]["leak"] and not any(g.nodes[x]["leak"] for x in p[:-1])
               for p in paths)
    assert {g.nodes[n]["realm"] for n in g} >= {"payload", "base", "host"}


def test_snap_compare_model(world: dict[str, Path]) -> None:
    g = snap_graph(world)
    assert g.graph["views"] == ["classic", "strict"]
    # the payload and the base are one file in both views: one node each
    pay = g.nodes["payload:/lib/libpay.so.1"]
    assert pay["views"] == ["classic", "strict"] and pay["location"] == "/lib/libpay.so.1"
    assert g.nodes[f"base:{LIBDIR}/libbase.so.1"]["views"] == ["classic", "strict"]
    # libshared: the host's in classic, the base's in strict; libhostonly: missing in strict
    assert g.nodes[f"host:{LIBDIR}/libshared.so.1"]["views"] == ["classic"]
    assert g.nodes[f"base:{LIBDIR}/libshared.so.1"]["views"] == ["strict"]
    assert g.nodes["missing:libhostonly.so.1"]["views"] == ["strict"]
    views = {(u, v, a["view"]) for u, v, a in g.edges(data=True) if a["name"] == "libshared.so.1"}
    assert views == {("payload:/lib/libpay.so.1", f"host:{LIBDIR}/libshared.so.1", "classic"),
                     ("payload:/lib/libpay.so.1", f"base:{LIBDIR}/libshared.so.1", "strict")}


# -- DOT: golden files, determinism -------------------------------------------------------------


def test_golden_plain(plain: Path) -> None:
    golden("graph-root-app.dot", render_dot(dependency_graph(plain_resolution(plain,
                                                                               "/usr/bin/app"))))
    golden("graph-root-broken.dot", render_dot(dependency_graph(
        plain_resolution(plain, "/usr/bin/broken"))))


def test_golden_snap(world: dict[str, Path]) -> None:
    golden("graph-snap-classic.dot", render_dot(snap_graph(world, ("classic",),
                                                           ("app", "tool"))))
    golden("graph-snap-compare.dot", render_dot(snap_graph(world)))


@pytest.fixture()
def shuffled_listings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every directory listing comes back in a scrambled order (reversed, then shuffled)."""
    real_listdir = os.listdir
    rng = random.Random(1234)

    def listdir(path: Any = ".") -> list[Any]:
        names = list(reversed(real_listdir(path)))
        rng.shuffle(names)
        return names

    monkeypatch.setattr(os, "listdir", listdir)
    real_view_listdir = HostDirView._listdir

    def view_listdir(self: HostDirView, parts: tuple[str, ...]) -> list[str]:
        names = list(reversed(real_view_listdir(self, parts)))
        rng.shuffle(names)
        return names

    monkeypatch.setattr(HostDirView, "_listdir", view_listdir)
    yield


def test_shuffled_listings_give_identical_dot(plain: Path, world: dict[str, Path],
                                              shuffled_listings: None) -> None:
    usr_bin = str(plain / "usr/bin")
    assert any(os.listdir(usr_bin) != sorted(os.listdir(usr_bin)) for _ in range(5))
    app = render_dot(dependency_graph(plain_resolution(plain, "/usr/bin/app")))
    assert app == (GOLDEN / "graph-root-app.dot").read_text()
    compare = render_dot(snap_graph(world))
    assert compare == (GOLDEN / "graph-snap-compare.dot").read_text()
    assert render_dot(snap_graph(world)) == compare


def test_dot_is_independent_of_insertion_order(world: dict[str, Path]) -> None:
    g = snap_graph(world)
    h = nx.MultiDiGraph()
    h.graph.update(g.graph)
    for n in reversed(list(g)):
        h.add_node(n, **g.nodes[n])
    for u, v, k, a in reversed(list(g.edges(keys=True, data=True))):
        h.add_edge(u, v, key=k, **a)
    assert render_dot(h) == render_dot(g)


def _big_graph(n: int) -> Any:
    """A synthetic program needing ``n`` libraries, each needing libc (already loaded)."""
    g = new_graph("big")
    g.add_node("/bin/big", kind="object", realm="root", program=True, via="executable",
               path="/bin/big", soname=None, programs=["/bin/big"], views=[])
    for i in range(n):
        lib = f"/lib/lib{i:03}.so"
        g.add_node(lib, kind="object", realm="root", via="ld.so.cache", path=lib,
                   soname=f"lib{i:03}.so", programs=["/bin/big"], views=[])
        g.add_edge("/bin/big", lib, key=f"|needed|lib{i:03}.so|ld.so.cache", kind="needed",
                   name=f"lib{i:03}.so", via="ld.so.cache", tried=1, view="")
        if i:
            g.add_edge(lib, "/lib/lib000.so", key="|needed|lib000.so|already_loaded",
                       kind="needed", name="lib000.so", via="already_loaded", tried=0, view="")
    return g


def test_big_graphs_stay_a_tree() -> None:
    small = render_dot(_big_graph(10))
    assert small.count('constraint="false"') == 9 and small.count('label="ld.so.cache"') == 10
    big = _big_graph(BIG + 20)
    text = render_dot(big)
    assert 'constraint="false"' not in text
    assert f"not drawn: {BIG + 19} arrows to objects already loaded" in text
    assert "found in ld.so.cache" in text and 'label="ld.so.cache"' not in text
    assert render_dot(big, reuse="show").count('constraint="false"') == BIG + 19
    assert 'constraint="false"' not in render_dot(_big_graph(10), reuse="hide")


def test_mixed_libc_is_labelled() -> None:
    g = _big_graph(2)
    g.nodes["/bin/big"]["libc"] = "glibc"
    g.nodes["/lib/lib000.so"]["libc"] = "musl"
    text = render_dot(g)
    assert '">libc: musl<' in text and 'libc: glibc<' in text and "they are mixed" in text
    g.nodes["/lib/lib000.so"]["libc"] = "glibc"
    assert 'libc: glibc<' not in render_dot(g)  # one flavour: nothing to point out


# -- pictures by the real dot ----------------------------------------------------------------------


def _svg_nodes(svg: str) -> dict[str, tuple[str, str]]:
    """SVG node title -> (class attribute, fill of its shape)."""
    out = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        if "node" not in (g.get("class") or "").split():
            continue
        title = g.find(f"{SVG}title")
        assert title is not None and title.text is not None
        shape = next(e for e in g.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon",
                                                      f"{SVG}ellipse") and e.get("fill"))
        out[title.text] = (g.get("class") or "", shape.get("fill") or "")
    return out


@needs_dot
def test_svg_has_every_object_coloured_by_realm(world: dict[str, Path]) -> None:
    def render_svg(g: Any) -> str:
        out = ldsim.render(g, "svg")
        assert isinstance(out, str)
        return out

    for g in (snap_graph(world, ("classic",), ("app", "tool")), snap_graph(world)):
        nodes = _svg_nodes(render_svg(g))
        assert set(nodes) == set(g)
        for n, a in g.nodes(data=True):
            cls, fill = nodes[n]
            assert f"realm-{a['realm']}" in cls.split()
            if a["kind"] == "object":
                assert fill == REALMS[a["realm"]][0], (n, fill)
            if a.get("leak"):
                assert "leak" in cls.split() and fill == REALMS["host"][0]
        edges = sum(1 for e in ET.fromstring(render_svg(g)).iter(f"{SVG}g")
                    if e.get("class", "").startswith("edge"))
        assert edges == render_dot(g).count(" -> ")


@needs_dot
def test_png_and_pdf(plain: Path) -> None:
    g = dependency_graph(plain_resolution(plain, "/usr/bin/app"))
    png = ldsim.render(g, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 200 < width < 4000 and 100 < height < 4000
    assert ldsim.render(g, "pdf")[:5] == b"%PDF-"
    pic = ldsim.picture(g)
    assert pic._repr_svg_() is not None and "<svg" in (pic._repr_svg_() or "")


# -- GraphML, JSON, Mermaid -----------------------------------------------------------------------


def _shape(g: Any) -> tuple[list[str], list[tuple[str, str, str]]]:
    return sorted(g), sorted((u, v, str(k)) for u, v, k in g.edges(keys=True))


def test_graphml_round_trip(world: dict[str, Path], tmp_path: Path) -> None:
    g = snap_graph(world)
    path = tmp_path / "g.graphml"
    path.write_bytes(ldsim.render(g, "graphml"))  # type: ignore[arg-type]
    back = nx.read_graphml(path, force_multigraph=True)
    assert _shape(back) == _shape(g)
    assert back.nodes[f"host:{LIBDIR}/libshared.so.1"]["realm"] == "host"
    assert back.nodes["payload:/lib/libpay.so.1"]["views"] == "classic strict"
    assert ldsim.render(g, "graphml") == ldsim.render(snap_graph(world), "graphml")


def test_graphml_of_names_with_control_characters_is_xml(tmp_path: Path) -> None:
    """XML holds no control character: a DT_NEEDED with ESC and BEL was written raw, so the
    file did not parse (expat: not well-formed) and ESC reached a terminal. It is written
    escaped, as every other view shows it."""
    r = Root(tmp_path / "r")
    r.mkexe("/usr/bin/q")
    r.addneeded("/usr/bin/q", "z\x1b[2J\x07")
    r.ldconfig()
    proc = subprocess.run([sys.executable, "-m", "ldsim", "graph", "--root", str(r.path),
                           "/usr/bin/q", "--format", "graphml"], capture_output=True,
                          cwd=REPO, check=False)
    assert proc.returncode == 1, proc.stderr
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
    path = tmp_path / "q.graphml"
    path.write_bytes(proc.stdout)
    back = nx.read_graphml(path, force_multigraph=True)  # it parses
    assert any("z\\x1b[2J\\x07" in str(n) for n in back), list(back)


def test_json_round_trip(world: dict[str, Path], plain: Path) -> None:
    for g in (snap_graph(world), dependency_graph(plain_resolution(plain, "/usr/bin/broken"))):
        text = ldsim.render(g, "json")
        assert isinstance(text, str)
        doc = json.loads(text)
        assert doc["schema"] == "ldsim.graph/1"
        back = graph_from_document(text)
        assert _shape(back) == _shape(g)
        assert dict(back.nodes(data=True)) == dict(g.nodes(data=True))
        # plain networkx reads it too (node-link data, edges under "edges")
        assert _shape(nx.node_link_graph(doc, edges="edges")) == _shape(g)


def test_mermaid(world: dict[str, Path]) -> None:
    g = snap_graph(world)
    text = render_mermaid(g)
    assert text.startswith('---\ntitle: "snap leaky: classic and strict views (base core22)"\n'
                           '---\nflowchart LR\n')
    assert text.count("  subgraph ") == len({a["realm"] for _n, a in g.nodes(data=True)})
    assert "classic only, ld.so.cache" in text and "strict only" in text
    assert text == render_mermaid(snap_graph(world))


# -- notebook repr --------------------------------------------------------------------------------


@needs_dot
def test_resolution_shows_itself_as_svg(plain: Path) -> None:
    res = plain_resolution(plain, "/usr/bin/app")
    svg = res._repr_svg_()
    assert svg is not None and set(_svg_nodes(svg)) == set(dependency_graph(res))
    assert res._repr_html_() is None  # the picture is what a notebook shows


def test_resolution_without_graphviz(plain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ldsim.renderers.graphviz as gv

    monkeypatch.setattr(gv, "dot_available", lambda: False)
    res = plain_resolution(plain, "/usr/bin/app")
    assert res._repr_svg_() is None
    html = res._repr_html_()
    assert html is not None and "apt-get install graphviz" in html and "libfoo.so.1" in html


# -- the command line -----------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                          cwd=REPO, env=env, check=False)


def test_cli_dot_and_formats(plain: Path, tmp_path: Path) -> None:
    proc = run_cli("graph", "--root", str(plain), "--hwcaps", "none", "/usr/bin/app")
    assert proc.returncode == 1, proc.stderr  # libmissing.so.1 is not found
    text = proc.stdout.decode()
    assert text.startswith("digraph ldsim {") and '"missing:libmissing.so.1"' in text
    assert str(plain) not in text  # guest paths only
    proc = run_cli("graph", "--root", str(plain), "-f", "json", "/usr/bin/other", "/usr/bin/app")
    doc = json.loads(proc.stdout)
    assert doc["graph"]["programs"] == ["/usr/bin/app", "/usr/bin/other"]
    assert proc.returncode == 1
    assert run_cli("graph", "--root", str(plain), "/usr/bin/other").returncode == 0
    out = tmp_path / "g.graphml"
    assert run_cli("graph", "--root", str(plain), "-o", str(out), "/usr/bin/other").returncode == 0
    assert _shape(nx.read_graphml(out, force_multigraph=True))[0] == sorted(
        dependency_graph(plain_resolution(plain, "/usr/bin/other")))
    mmd = run_cli("graph", "--root", str(plain), "-f", "mermaid", "/usr/bin/other")
    assert b"flowchart LR" in mmd.stdout


@needs_dot
def test_cli_pictures(plain: Path, tmp_path: Path) -> None:
    svg = tmp_path / "app.svg"
    proc = run_cli("graph", "--root", str(plain), "-o", str(svg), "/usr/bin/app")
    assert proc.returncode == 1 and svg.read_bytes().lstrip().startswith(b"<?xml")
    png = tmp_path / "app.out"
    assert run_cli("graph", "--root", str(plain), "-f", "png", "-o", str(png),
                 "/usr/bin/other").returncode == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_without_graphviz(plain: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = "/nonexistent"
    proc = run_cli("graph", "--root", str(plain), "-f", "svg", "/usr/bin/app", env=env)
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("ldsim: error: --format svg: needs Graphviz's 'dot'")
    assert "apt-get install graphviz" in lines[0]
    # DOT needs no Graphviz
    assert run_cli("graph", "--root", str(plain), "/usr/bin/other", env=env).returncode == 0


def test_cli_usage_errors(plain: Path) -> None:
    for args in (("--compare", "/usr/bin/app"), ("--app", "x", "/usr/bin/app"), ()):
        proc = run_cli("graph", "--root", str(plain), *args)
        assert proc.returncode == 2, args
        assert proc.stderr.decode().strip().splitlines()[-1].startswith("ldsim: error: ")


def test_cli_snap(world: dict[str, Path]) -> None:
    snap = ("--snap", str(world["snap"]), "--base", str(world["base"]), "--host",
            str(world["host"]))
    proc = run_cli("graph", *snap, "-f", "json")
    doc = json.loads(proc.stdout)
    assert doc["graph"]["programs"] == ["/snap/leaky/current/bin/app",
                                        "/snap/leaky/current/bin/tool"]
    assert proc.returncode == 0  # classic view: everything loads (from the host, too)
    proc = run_cli("graph", *snap, "--compare", "--app", "app")
    assert proc.returncode == 1  # it leaks in classic
    text = proc.stdout.decode()
    assert set(re.findall(r'^    "(.*)" \[', text, re.MULTILINE)) == set(snap_graph(world))
    assert "snap leaky: classic and strict views (base core22)" in text
    proc = run_cli("graph", *snap, "--compare", "--confinement", "strict")
    assert proc.returncode == 2


def test_explain_does_not_import_networkx(plain: Path) -> None:
    code = ("import sys\nfrom ldsim.cli.main import main\n"
            f"rc = main(['explain', '--root', {str(plain)!r}, '/usr/bin/other'])\n"
            "sys.stdout.write('\\nNETWORKX=%s' % ('networkx' in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=False)
    assert proc.stdout.strip().endswith("NETWORKX=False"), proc.stdout + proc.stderr


# -- the notebook ---------------------------------------------------------------------------------


@needs_dot
def test_notebook_runs_top_to_bottom() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = REPO / "notebooks" / "01-explain-and-graph.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 3  # the resolution, its graph, the snap before and after the fix
