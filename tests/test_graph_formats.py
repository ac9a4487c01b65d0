"""``ldsim graph -o FILE``: the extension picks the format, a conflict with ``--format`` or an
extension that names no format is bad usage (exit 2, before any work), JPEG is a picture
format like PNG, and ``--color``/``--width`` are accepted.

The programs come from a tiny glibc root (``rootfs-fixtures/glibcroot.py``); a usage error
is checked against a root that does not exist, so that the error is known to come first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from glibcroot import REPO, Root

import ldsim
from ldsim.cli.graph import EXTENSIONS, FORMATS
from ldsim.renderers.graphviz import Picture

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                               reason="needs gcc and patchelf")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
NO_ROOT = "/nonexistent/ldsim-root"


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ldsim", "graph", *args], capture_output=True,
                          cwd=cwd, check=False)


def usage_error(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The one ``ldsim: error:`` line of a run that exited 2."""
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("ldsim: error: ") and "Traceback" not in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = Root(tmp_path_factory.mktemp("graph-formats") / "root")
    r.mklib("/usr/lib/x86_64-linux-gnu/libbar.so.1", "libbar.so.1")
    r.mkexe("/usr/bin/app", needed=["libbar.so.1"])
    r.ldconfig()
    return r.path


def test_every_extension_names_a_format() -> None:
    assert set(EXTENSIONS.values()) == set(FORMATS)
    assert all(ext == ext.lower() and not ext.startswith(".") for ext in EXTENSIONS)
    assert EXTENSIONS["jpeg"] == EXTENSIONS["jpg"] == "jpg"
    assert ldsim.formats(ldsim.dependency_graph(
        ldsim.Resolution(root="/", loader="glibc", executable="/x", interpreter=None))) \
        == FORMATS


# -- usage errors: before any work ------------------------------------------------------------


def test_a_conflict_with_format_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "y.svg"
    line = usage_error(run_cli("--root", NO_ROOT, "-o", str(out), "--format", "png",
                               "/usr/bin/app"))
    assert f"-o {out}: the extension '.svg' says svg but --format says png" in line
    assert "formats: dot, svg, png, jpg, pdf, graphml, json, mermaid" in line
    assert not out.exists()


def test_an_unknown_extension_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "x.xyz"
    line = usage_error(run_cli("--root", NO_ROOT, "-o", str(out), "/usr/bin/app"))
    assert "cannot tell the format from the extension '.xyz'" in line
    assert "give --format" in line and "formats: dot, svg, png, jpg" in line
    assert ".jpeg" in line and ".mmd" in line and ".gv" in line
    assert not out.exists()


@pytest.mark.parametrize(("name", "fmt"), [("g.SVG", "svg"), ("g.JPEG", "jpg"), ("g.gv", "dot"),
                                           ("g.mmd", "mermaid"), ("g.xml", "graphml"),
                                           ("g.json", "json")])
def test_an_extension_that_agrees_passes_validation(tmp_path: Path, name: str, fmt: str) -> None:
    """Whatever its case; the next error is the root's: the format was accepted first."""
    line = usage_error(run_cli("--root", NO_ROOT, "-o", str(tmp_path / name), "--format", fmt,
                               "/usr/bin/app"))
    assert NO_ROOT in line and "format" not in line


@pytest.mark.parametrize("name", ["graph", ".gv", "graph.d/out", "-"])
def test_no_extension_is_not_an_error(tmp_path: Path, name: str) -> None:
    line = usage_error(run_cli("--root", NO_ROOT, "-o", name, "/usr/bin/app", cwd=tmp_path))
    assert NO_ROOT in line


# -- what is written ----------------------------------------------------------------------------


@needs_gcc
def test_no_extension_writes_dot_unless_format_says(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "graph"
    assert run_cli("--root", str(root), "-o", str(out), "/usr/bin/app").returncode == 0
    assert out.read_text().startswith("digraph ldsim {")
    assert run_cli("--root", str(root), "-o", str(out), "-f", "json",
                   "/usr/bin/app").returncode == 0
    assert json.loads(out.read_text())["schema"] == "ldsim.graph/1"


@needs_gcc
def test_an_unknown_extension_with_format_is_that_format(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "graph.out"
    assert run_cli("--root", str(root), "-o", str(out), "-f", "mermaid",
                   "/usr/bin/app").returncode == 0
    assert "flowchart LR" in out.read_text()


@needs_gcc
@pytest.mark.parametrize(("name", "start"), [("g.gv", b"digraph ldsim {"),
                                             ("g.mmd", b"---\ntitle: "),
                                             ("g.xml", b"<graphml"),
                                             ("g.graphml", b"<graphml"),
                                             ("g.json", b"{")])
def test_text_formats_by_extension(root: Path, tmp_path: Path, name: str, start: bytes) -> None:
    out = tmp_path / name
    assert run_cli("--root", str(root), "-o", str(out), "/usr/bin/app").returncode == 0
    assert out.read_bytes().startswith(start)


@needs_gcc
@needs_dot
@pytest.mark.parametrize(("name", "magic"), [("g.jpg", b"\xff\xd8\xff"), ("g.JPEG", b"\xff\xd8\xff"),
                                             ("g.png", b"\x89PNG"), ("g.pdf", b"%PDF"),
                                             ("g.svg", b"<?xml")])
def test_pictures_by_extension(root: Path, tmp_path: Path, name: str, magic: bytes) -> None:
    out = tmp_path / name
    proc = run_cli("--root", str(root), "-o", str(out), "/usr/bin/app")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(magic)


@needs_gcc
@needs_dot
def test_jpg_format_to_stdout_and_the_api(root: Path) -> None:
    proc = run_cli("--root", str(root), "-f", "jpg", "/usr/bin/app")
    assert proc.returncode == 0 and proc.stdout[:3] == b"\xff\xd8\xff"
    g = ldsim.graph(ldsim.open_root(str(root)), ["/usr/bin/app"]).graph
    data = ldsim.render(g, "jpg")
    assert isinstance(data, bytes) and data[:3] == b"\xff\xd8\xff"


@needs_gcc
@needs_dot
def test_picture_save_follows_the_extension(root: Path, tmp_path: Path) -> None:
    g = ldsim.graph(ldsim.open_root(str(root)), ["/usr/bin/app"]).graph
    pic = ldsim.picture(g)
    pic.save(str(tmp_path / "p.jpeg"))
    assert (tmp_path / "p.jpeg").read_bytes()[:3] == b"\xff\xd8\xff"
    pic.save(str(tmp_path / "p.gv"))
    assert (tmp_path / "p.gv").read_text().startswith("digraph ldsim {")
    with pytest.raises(ValueError, match=r"unknown picture extension '\.xyz'"):
        pic.save(str(tmp_path / "p.xyz"))
    assert not (tmp_path / "p.xyz").exists()
    assert isinstance(pic, Picture)


@needs_gcc
def test_color_and_width_are_accepted(root: Path) -> None:
    """They are the text options of every command; a graph is not text for people, so they
    change nothing."""
    plain = run_cli("--root", str(root), "/usr/bin/app")
    styled = run_cli("--root", str(root), "--color", "always", "--width", "100", "/usr/bin/app")
    assert styled.returncode == plain.returncode == 0
    assert styled.stdout == plain.stdout and b"\x1b[" not in styled.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_format_aliases_name_the_same_formats(root: Path, tmp_path: Path) -> None:
    """--format jpeg is jpg (as the .jpeg extension is), gv is dot, mmd is mermaid; an alias
    that disagrees with the extension is still a conflict."""
    out = tmp_path / "g.jpeg"
    proc = run_cli("--root", str(root), "--format", "jpeg", "-o", str(out), "/usr/bin/app")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"
    line = usage_error(run_cli("--root", str(root), "--format", "mmd", "-o",
                               str(tmp_path / "g.gv"), "/usr/bin/app"))
    assert "says dot but --format says mermaid" in line
