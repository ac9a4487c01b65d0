"""``ldsim report``: the HTML report of a snap or of programs of a root, from the API and the
command line, its exit statuses, its escaping of hostile names, the page as a real browser
renders it (headless Chromium: the DOM and a screenshot), and the notebook that audits a
classic snap.

Snaps, bases and hosts are built with gcc and patchelf (``rootfs-fixtures/snaproots.py``,
``glibcroot.py``); the simulated CPU is fixed (:data:`ENV`, ``--hwcaps none``). The browser
tests need Debian's ``chromium`` (``scripts/check.sh`` installs it; CI runs them), the
pictures Graphviz's ``dot``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from glibcroot import REPO, Root
from snaproots import (
    build_base,
    build_host,
    build_synthetic_snaps,
    interp_of,
    libdir_of,
    mksquashfs,
    patch_elf,
    snap_yaml,
)

import ldsim
from ldsim import LoaderEnv
from ldsim.renderers.html import inline_svg

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                                reason="needs gcc and patchelf")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs headless Chromium (Debian package 'chromium'; "
    "scripts/check.sh installs it, CI runs these tests)")

ENV = LoaderEnv(hwcaps=(), platform="x86_64", legacy_hwcap_names=("x86_64",))
CPU = ("--hwcaps", "none", "--platform", "x86_64", "--legacy-hwcaps", "x86_64")  # = ENV
LIBDIR = "/usr/lib/x86_64-linux-gnu"
HOSTILE = "lib<script>alert(1)</script>.so"
HOSTILE_ESC = "lib\x1b[31m<b>red</b>&amp;\u202e.so"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A host, a core22-like base and three classic snaps on them:

    ``leaky`` (as in ``scripts/golden_outputs.py``): ``bin/app`` (RUNPATH to its lib/ and the
    base) needs libpay (payload), libbase (base) and libhostonly (only on the host); libpay's
    RUNPATH is ``$ORIGIN`` only, so its libshared comes from the host; ``bin/tool`` is not
    patched and needs the snap's libpaydep, which it cannot find.
    ``clean``: snaproots' ``rpath-complete`` (interpreter and RPATH as Snapcraft patches
    them: nothing leaks).
    ``evil``: ``bin/app`` names libraries ``<script>...`` and one with an escape sequence,
    markup and a bidi override."""
    top = tmp_path_factory.mktemp("report")
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
    clean = build_synthetic_snaps(top / "synthetic")["rpath-complete"].path
    e = Root(top / "evil", base=False)
    e.write("/meta/snap.yaml", snap_yaml("evil", "core22", "classic", {"app": "bin/app"}))
    e.mkexe("/bin/app", needed=[HOSTILE, HOSTILE_ESC])
    patch_elf(e.host("/bin/app"), interpreter=interp_of("core22"),
              rpath=f"$ORIGIN/../lib:{libdir_of('core22')}")
    r = Root(top / "root")
    r.mklib(f"{LIBDIR}/libbar.so.1", "libbar.so.1")
    r.mklib("/opt/foo/libfoo.so.1", "libfoo.so.1", needed=["libbar.so.1", "libmissing.so.1"])
    r.mkexe("/usr/bin/app", needed=["libfoo.so.1", "libbar.so.1"], rpath="$ORIGIN/../../opt/foo")
    r.mkexe("/usr/bin/other", needed=["libbar.so.1"])
    r.ldconfig()
    return {"host": top / "host", "base": top / "core22", "leaky": p.path, "clean": clean,
            "evil": e.path, "root": r.path, "top": top}


def snap_args(world: dict[str, Path], name: str) -> list[str]:
    return [str(world[name]), "--base", str(world["base"]), "--host", str(world["host"]), *CPU]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ldsim", "report", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300, check=False)


def open_snap(world: dict[str, Path], name: str) -> ldsim.SnapTarget:
    return ldsim.open_snap(str(world[name]), base=str(world["base"]), host=str(world["host"]))


# -- the API -------------------------------------------------------------------------------------


def test_the_report_of_a_leaky_snap(world: dict[str, Path]) -> None:
    report = ldsim.report(open_snap(world, "leaky"), env=ENV)
    assert isinstance(report, ldsim.Report) and ldsim.formats(report) == ("html",)
    assert report.is_snap and report.target["name"] == "leaky"
    verdicts = {p.app: (p.view, p.explanation.verdict.status.value if p.explanation else None)
                for p in report.programs}
    assert verdicts == {"app": ("classic", "starts"), "tool": ("classic", "does_not_start")}
    assert report.comparison is not None and not report.comparison.clean
    assert report.lint is not None and report.lint_errors > 0
    assert report.graph is not None and report.graph.compared
    assert report.problems() == ["1 of 2 apps does not start", "4 host leaks in the classic view",
                                 "1 name found nowhere in the classic view",
                                 f"{report.lint_errors} lint errors"]
    assert report.unreadable() == [] and report.exit_status == 1 and not report.passed


def test_the_report_of_a_clean_snap_passes(world: dict[str, Path]) -> None:
    report = ldsim.report(open_snap(world, "clean"), env=ENV)
    assert report.problems() == [] and report.exit_status == 0 and report.passed
    page = str(ldsim.render(report, "html"))
    assert ">PASS<" in page and 'class="leak' not in page


def test_a_root_report_judges_the_programs_given(world: dict[str, Path]) -> None:
    target = ldsim.open_root(str(world["root"]))
    with pytest.raises(ldsim.UsageError):
        ldsim.report(target, env=ENV)  # a root has no apps
    report = ldsim.report(target, ["/usr/bin/app", "/usr/bin/other", "/usr/bin/nope"], ENV)
    assert not report.is_snap and report.comparison is None and report.lint is None
    assert [p.starts for p in report.programs] == [False, True, False]
    assert report.programs[2].error is not None and report.graph is not None
    assert report.problems() == ["1 of 3 programs does not start"]
    assert report.exit_status == 2  # /usr/bin/nope cannot be read: the worst applies
    page = str(ldsim.render(report, "html"))
    assert "libmissing.so.1" in page and "NOT FOUND" in page and "INCOMPLETE" in page
    assert "/usr/bin/nope" in page


@needs_dot
def test_the_page_is_self_contained_and_deterministic(world: dict[str, Path]) -> None:
    first = str(ldsim.render(ldsim.report(open_snap(world, "leaky"), env=ENV), "html"))
    again = str(ldsim.render(ldsim.report(open_snap(world, "leaky"), env=ENV), "html"))
    assert first == again
    assert first.startswith("<!DOCTYPE html>") and first.count("<svg") == 1
    assert "<?xml" not in first and "<!DOCTYPE svg" not in first and "<!--" not in first
    # nothing is loaded from anywhere: no script, no external reference in markup or style
    assert "<script" not in first and "@import" not in first and "url(" not in first
    assert not re.search(r"""\s(?:src|href|xlink:href)\s*=\s*(?!["']?#)""", first)
    assert "default-src 'none'" in first  # and the page forbids loading any


@needs_dot
def test_a_notebook_shows_the_report(world: dict[str, Path]) -> None:
    report = ldsim.report(open_snap(world, "leaky"), env=ENV)
    fragment = report._repr_html_()
    assert fragment is not None and fragment.startswith('<div class="ldsim-report"><style>')
    assert "<html" not in fragment and "<svg" in fragment


def test_without_graphviz_the_page_says_so(world: dict[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ldsim.renderers import graphviz

    def missing(dot_text: str, fmt: str = "svg") -> bytes:
        raise graphviz.GraphvizMissing("--format svg", "not installed")

    monkeypatch.setattr(graphviz, "render_image", missing)
    page = str(ldsim.render(ldsim.report(open_snap(world, "leaky"), env=ENV), "html"))
    assert "<svg" not in page and "is not installed, so the graph is left out" in page
    assert "apt-get install graphviz" in page and 'class="leak' in page


def test_hostile_names_are_shown_escaped(world: dict[str, Path]) -> None:
    page = str(ldsim.render(ldsim.report(open_snap(world, "evil"), env=ENV), "html"))
    assert "<script" not in page and "<b>red" not in page
    assert "lib&lt;script&gt;alert(1)&lt;" in page
    assert "\x1b" not in page and "\u202e" not in page
    assert r"lib\x1b[31m&lt;b&gt;red&lt;" in page and r"\u202e.so" in page


def test_inline_svg_keeps_only_drawing() -> None:
    svg = (b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n'
           b"<!-- Generated by graphviz -->\n"
           b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
           b' width="10pt" onload="alert(1)"><script>alert(2)</script>'
           b'<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>'
           b'<g id="node1" class="node"><!-- a &gt; b --><title>a&lt;b</title>'
           b'<a xlink:href="https://example.com/" xlink:title="t&lt;&quot;"><text x="1">a&amp;'
           b'</text></a><a xlink:href="#node1"><text>in</text></a></g></svg>')
    out = inline_svg(svg)
    assert out.startswith('<svg width="10pt" xmlns="http://www.w3.org/2000/svg"')
    for gone in ("<?xml", "DOCTYPE", "<!--", "script", "onload", "foreignObject", "<div",
                 "example.com"):
        assert gone not in out, gone
    assert '<g class="node" id="node1"><title>a&lt;b</title>' in out
    assert '<a xlink:title="t&lt;&quot;"><text x="1">a&amp;</text></a>' in out
    assert '<a xlink:href="#node1">' in out


# -- the command line ----------------------------------------------------------------------------


def test_cli_leaky_snap_writes_the_page_and_exits_1(world: dict[str, Path],
                                                    tmp_path: Path) -> None:
    out = tmp_path / "leaky.html"
    proc = run_cli(*snap_args(world, "leaky"), "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    page = out.read_text()
    assert ">FAIL<" in page and page.count('<tr class="leak') == 4
    assert "LEAK" in page and "MISSING" in page and "missing-library" in page
    assert "patchelf --set-interpreter /snap/core22/current/lib64/ld-linux-x86-64.so.2" in page
    # the same bytes as the API's, and as a second run's
    api = ldsim.render(ldsim.report(open_snap(world, "leaky"), env=ENV), "html")
    assert page == api
    again = run_cli(*snap_args(world, "leaky"), "-o", "-")
    assert again.returncode == 1 and again.stdout == page


def test_cli_clean_snap_exits_0(world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "clean.html"
    proc = run_cli(*snap_args(world, "clean"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert ">PASS<" in out.read_text()


def test_cli_snap_options_and_programs(world: dict[str, Path]) -> None:
    proc = run_cli("--snap", *snap_args(world, "leaky"), "--app", "app")
    assert proc.returncode == 1 and "/snap/leaky/current/bin/tool" not in proc.stdout
    args = snap_args(world, "leaky")
    proc = run_cli(args[0], "bin/tool", *args[1:])  # a program instead of the apps
    assert proc.returncode == 1 and "/snap/leaky/current/bin/app" not in proc.stdout
    strict = run_cli(*snap_args(world, "leaky"), "--confinement", "strict")
    assert "in the strict view" in strict.stdout


@pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="needs mksquashfs")
def test_cli_snap_file(world: dict[str, Path], tmp_path: Path) -> None:
    image = mksquashfs(world["clean"], tmp_path / "rpath-complete_1.snap")
    proc = run_cli(str(image), "--base", str(world["base"]), "--host", str(world["host"]), *CPU)
    assert proc.returncode == 0, proc.stderr
    assert "ldsim report: snap rpath-complete" in proc.stdout


def test_cli_root_programs(world: dict[str, Path], tmp_path: Path) -> None:
    root = ("--root", str(world["root"]), *CPU)
    assert run_cli(*root, "/usr/bin/other").returncode == 0
    proc = run_cli(*root, "/usr/bin/app", "/usr/bin/other", "-o", str(tmp_path / "r.html"))
    assert proc.returncode == 1, proc.stderr
    page = (tmp_path / "r.html").read_text()
    assert "ldsim report: /usr/bin/app, /usr/bin/other" in page and "libmissing.so.1" in page
    proc = run_cli(*root, "/usr/bin/other", "/usr/bin/nope")
    assert proc.returncode == 2 and "/usr/bin/nope" in proc.stderr  # named, the rest reported
    assert "/usr/bin/other" in proc.stdout


def test_cli_usage_errors(world: dict[str, Path], tmp_path: Path) -> None:
    for args in ((), ("--base", str(world["base"]), "/usr/bin/true"),
                 (str(tmp_path / "nosnap.snap"),),
                 (str(world["leaky"]), "--host", str(tmp_path / "nohost")),
                 (*snap_args(world, "leaky"), "-o", str(tmp_path / "no/such/dir/x.html"))):
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert lines[-1].startswith("ldsim: error: ") and "Traceback" not in proc.stderr


def test_cli_without_graphviz_still_writes_the_page(world: dict[str, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = "/nonexistent"
    proc = run_cli(*snap_args(world, "clean"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "graph is left out" in proc.stdout and "<svg" not in proc.stdout


def test_cli_help_states_exit_statuses() -> None:
    text = " ".join(run_cli("--help").stdout.split())
    tail = text[text.index("Exit status:"):]
    for status in ("0 ", "1 ", "2 bad usage or unreadable input", "3 a bug in ldsim"):
        assert status in tail, tail
    assert "--color" in text  # every command takes the output options


# -- in a real browser ---------------------------------------------------------------------------


def chromium(profile: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``url`` with a private profile (what it prints on stderr about
    D-Bus and the like does not matter)."""
    assert CHROMIUM is not None
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
            f"--user-data-dir={profile}", *args, url]
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env,
                          check=False)


def png_colours(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the set of distinct RGB colours of an 8-bit RGB or RGBA PNG that
    is not interlaced (what Chromium writes): chunks, zlib, the five scanline filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = depth = ctype = interlace = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == (stride + 1) * height
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        kind, cur = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif kind == 2:
            cur = bytearray((a + b) & 255 for a, b in zip(cur, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                cur[i] = (cur[i] + (((cur[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(cur[i:i + 3]) for i in range(0, stride, bpp))
        prev = cur
    return width, height, colours


@needs_chromium
@needs_dot
def test_chromium_renders_the_report(world: dict[str, Path], tmp_path: Path) -> None:
    page = tmp_path / "leaky.html"
    proc = run_cli(*snap_args(world, "leaky"), "-o", str(page))
    assert proc.returncode == 1, proc.stderr
    url = page.as_uri()

    started = time.monotonic()
    dom = chromium(tmp_path / "profile", url, "--dump-dom")
    dom_seconds = time.monotonic() - started
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "ldsim report: snap leaky" in html and "<script" not in html
    rows = re.findall(r'<tr class="([^"]*)">(.*?)</tr>', html, re.S)
    leaks = [body for cls, body in rows if "leak" in cls.split()]
    assert len(leaks) == 4 and all('<span class="flag leak">LEAK</span>' in b for b in leaks)
    missing = [body for cls, body in rows if "missing" in cls.split()
               and "flag missing" in body]
    assert missing and all("MISSING" in b or "NOT FOUND" in b for b in missing)
    apps = [(cls, body) for cls, body in rows if cls.startswith("program ")]
    assert [cls for cls, _ in apps] == ["program starts", "program does_not_start"]
    assert re.findall(r'<section class="rule" id="rule-([^"]+)"', html)[:2] == [
        "missing-library", "host-leak"]
    assert html.count("<svg") == 1
    nodes = re.findall(r'<g [^>]*class="node[ "]', html)
    assert len(nodes) >= 8, len(nodes)
    assert "libhostonly.so.1" in html.split("<svg", 1)[1]

    shot = tmp_path / "leaky.png"
    started = time.monotonic()
    proc = chromium(tmp_path / "profile", url, f"--screenshot={shot}",
                    "--window-size=1280,2000")
    shot_seconds = time.monotonic() - started
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    width, height, colours = png_colours(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    assert len(colours) > 200, len(colours)  # text, tables, badges: not a blank page
    assert bytes((0xFF, 0xEB, 0xE9)) in colours  # the FAIL banner and the leak rows
    assert bytes((0xCF, 0x22, 0x2E)) in colours or bytes((0xCB, 0x18, 0x1D)) in colours
    print(f"chromium: DOM in {dom_seconds:.2f} s, screenshot in {shot_seconds:.2f} s; "
          f"{len(colours)} colours in {shot}")


@needs_chromium
def test_chromium_runs_no_script_from_hostile_names(world: dict[str, Path],
                                                    tmp_path: Path) -> None:
    page = tmp_path / "evil.html"
    proc = run_cli(*snap_args(world, "evil"), "-o", str(page))
    assert proc.returncode == 1, proc.stderr
    dom = chromium(tmp_path / "profile", page.as_uri(), "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<script" not in dom.stdout and "<b>red" not in dom.stdout
    assert "lib&lt;script&gt;alert(1)&lt;/" in dom.stdout


# -- the notebook ----------------------------------------------------------------------------


@needs_dot
def test_audit_notebook_runs_top_to_bottom() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    path = REPO / "notebooks" / "02-audit-classic-snap.ipynb"
    nb = nbformat.read(path, as_version=4)
    stored = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert stored == []  # kept without outputs
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    pages = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(pages) == 2 and all('<div class="ldsim-report">' in p for p in pages)
    assert ">FAIL<" in pages[0] and ">PASS<" in pages[1]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "helper   /snap/toolbox/current/bin/helper: does_not_start" in text
    assert "clean: False" in text and "patched: bin/helper" in text
