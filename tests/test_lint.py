"""``ldsim lint`` against Snapcraft's expected results (the cases of its documentation and tests).

Real ELF files built with gcc, a core22-like base and a host root from
``rootfs-fixtures/snaproots.py``. Where Snapcraft's answer depends on its build machine's
``ldd``, the test says so and asserts ldsim's faithful answer instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("snaproots")
from glibcroot import REPO, Root
from snaproots import build_base, build_host, snap_yaml

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                                reason="needs gcc and patchelf")

LINKER = "/snap/core22/current/lib64/ld-linux-x86-64.so.2"
BASELIB = "/snap/core22/current/lib/x86_64-linux-gnu"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("lint")
    build_base(top / "core22")
    build_host(top / "host")
    return {"base": top / "core22", "host": top / "host", "top": top}


def payload(world: dict[str, Path], name: str, confinement: str = "classic",
            base: str = "core22", snap_type: str = "app", extra_yaml: str = "") -> Root:
    root = Root(world["top"] / f"p-{name}-{len(os.listdir(world['top']))}", base=False)
    text = snap_yaml("demo", base, confinement, {"app": "bin/app"}).replace(
        '"type": "app"', f'"type": "{snap_type}"')
    root.write("/meta/snap.yaml", text + extra_yaml)
    return root


def lint(world: dict[str, Path], p: Root, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "ldsim", "lint", str(p.path), "--base", str(world["base"]),
         "--host", str(world["host"]), "--format", "json", *args],
        capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def snapcraft(doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """Snapcraft's part of the report: (id, file, message without the URL)."""
    return [(f["id"], f["file"], f["message"].split(" (https://")[0])
            for f in doc["findings"]
            if f["id"] in ("classic", "interpreter", "rpath", "missing-library",
                           "unused-library")]


def exe(p: Root, rel: str, *args: str, link: tuple[str, ...] = ()) -> None:
    p.mkexe("/" + rel, *args, link=link)


def lib(p: Root, rel: str, soname: str, *args: str, link: tuple[str, ...] = ()) -> None:
    p.mklib("/" + rel, soname, *args, link=link)


def test_1_strict_without_staged_libc_is_silent(world: dict[str, Path]) -> None:
    p = payload(world, "strict", confinement="strict")
    exe(p, "bin/app")
    _rc, doc = lint(world, p)
    assert [s for s in snapcraft(doc) if s[0] in ("classic", "interpreter", "rpath")] == []


def test_2_classic_minimal(world: dict[str, Path]) -> None:
    p = payload(world, "minimal")
    exe(p, "bin/app")
    rc, doc = lint(world, p)
    assert snapcraft(doc) == [
        ("classic", None, "Snap confinement is set to classic."),
        ("interpreter", "bin/app", f"ELF interpreter should be set to '{LINKER}'."),
        ("rpath", "bin/app", f"ELF rpath should be set to '{BASELIB}'."),
    ]
    fixes = {f["id"]: f["fix"] for f in doc["findings"] if f["file"] == "bin/app"}
    assert fixes["interpreter"]["interpreter"] == LINKER
    assert fixes["rpath"]["rpath"] == BASELIB
    # ldsim's own: unpatched, the host's loader and libc run it.
    leaks = [f for f in doc["findings"] if f["id"] == "host-leak"]
    assert {f["message"].split(": ", 1)[0] for f in leaks} >= {
        "in the classic view, libc.so.6 is loaded from the host",
        "in the classic view, the interpreter is loaded from the host"}
    assert rc == 1


def test_3_library_without_interpreter_gets_rpath_only(world: dict[str, Path]) -> None:
    p = payload(world, "libonly")
    exe(p, "bin/app", "-Wl,--dynamic-linker=" + LINKER, "-Wl,--disable-new-dtags",
        "-Wl,-rpath," + BASELIB)
    lib(p, "elf.lib", "elf.lib")
    _rc, doc = lint(world, p)
    assert snapcraft(doc) == [
        ("classic", None, "Snap confinement is set to classic."),
        ("rpath", "elf.lib", f"ELF rpath should be set to '{BASELIB}'."),
    ]


def test_4_toilet_layout(world: dict[str, Path]) -> None:
    p = payload(world, "toilet")
    d = "usr/lib/x86_64-linux-gnu"
    lib(p, f"{d}/libslang.so.2.3.2", "libslang.so.2")
    p.symlink(f"/{d}/libslang.so.2", "libslang.so.2.3.2")
    lib(p, f"{d}/libcaca.so.0.99.19", "libcaca.so.0", link=(f"/{d}/libslang.so.2",))
    p.symlink(f"/{d}/libcaca.so.0", "libcaca.so.0.99.19")
    lib(p, f"{d}/caca/libgl_plugin.so.0.0.0", "libgl_plugin.so.0", link=(f"/{d}/libcaca.so.0",))
    exe(p, "usr/bin/toilet", link=(f"/{d}/libcaca.so.0",))
    _rc, doc = lint(world, p)
    rpaths = {f[1]: f[2] for f in snapcraft(doc) if f[0] == "rpath"}
    assert rpaths == {
        "usr/bin/toilet": f"ELF rpath should be set to '$ORIGIN/../lib/x86_64-linux-gnu:{BASELIB}'.",
        f"{d}/caca/libgl_plugin.so.0.0.0": f"ELF rpath should be set to '$ORIGIN/..:{BASELIB}'.",
        f"{d}/libcaca.so.0.99.19": f"ELF rpath should be set to '$ORIGIN:{BASELIB}'.",
        f"{d}/libslang.so.2.3.2": f"ELF rpath should be set to '{BASELIB}'.",
    }
    interps = [f[1] for f in snapcraft(doc) if f[0] == "interpreter"]
    assert interps == ["usr/bin/toilet"]  # libraries have no PT_INTERP; symlinks are skipped


def _stage_libc(p: Root, layout: str) -> None:
    d = "lib/x86_64-linux-gnu" if layout == "core22" else "usr/lib/x86_64-linux-gnu"
    ld = "lib64" if layout == "core22" else "usr/lib64"
    p.mkdir(f"/{d}", f"/{ld}")
    shutil.copy2("/lib/x86_64-linux-gnu/libc.so.6", p.host(f"/{d}/libc.so.6"))
    shutil.copy2("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                 p.host(f"/{d}/ld-linux-x86-64.so.2"))
    p.symlink(f"/{ld}/ld-linux-x86-64.so.2",
              os.path.relpath(f"/{d}/ld-linux-x86-64.so.2", f"/{ld}"))


def test_5_staged_libc_core22_strict(world: dict[str, Path]) -> None:
    p = payload(world, "staged", confinement="strict")
    _stage_libc(p, "core22")
    exe(p, "usr/bin/hello")
    _rc, doc = lint(world, p)
    rows = snapcraft(doc)
    assert rows[0] == ("classic", None, "Snap contains staged libc.")
    want = "/snap/demo/current/lib64/ld-linux-x86-64.so.2"
    assert ("interpreter", "usr/bin/hello", f"ELF interpreter should be set to '{want}'.") in rows
    assert ("rpath", "usr/bin/hello",
            "ELF rpath should be set to '$ORIGIN/../../lib/x86_64-linux-gnu'.") in rows
    # libc.so.6 has PT_INTERP: interpreter warning only (its one dependency is ld.so).
    libc = [r for r in rows if r[1] == "lib/x86_64-linux-gnu/libc.so.6"]
    assert libc == [("interpreter", "lib/x86_64-linux-gnu/libc.so.6",
                     f"ELF interpreter should be set to '{want}'.")]


def test_6_7_staged_libc_core24_layout_and_precedence(world: dict[str, Path]) -> None:
    p = payload(world, "staged24", confinement="strict")
    _stage_libc(p, "core24")
    exe(p, "usr/bin/hello")
    _rc, doc = lint(world, p)
    want = "/snap/demo/current/usr/lib64/ld-linux-x86-64.so.2"
    assert ("interpreter", "usr/bin/hello",
            f"ELF interpreter should be set to '{want}'.") in snapcraft(doc)
    assert ("rpath", "usr/bin/hello",
            "ELF rpath should be set to '$ORIGIN/../lib/x86_64-linux-gnu'.") in snapcraft(doc)
    _stage_libc(p, "core22")  # both layouts: lib64/ wins
    _rc, doc = lint(world, p)
    assert ("interpreter", "usr/bin/hello", "ELF interpreter should be set to "
            "'/snap/demo/current/lib64/ld-linux-x86-64.so.2'.") in snapcraft(doc)


@pytest.mark.parametrize("interp", ["/snap/core22/current/usr/lib64/ld-linux-x86-64.so.2",
                                    "/snap/core22/123/lib64/ld-linux-x86-64.so.2"])
def test_8_interpreter_compared_as_a_string(world: dict[str, Path], interp: str) -> None:
    p = payload(world, "spelling")
    exe(p, "bin/app", f"-Wl,--dynamic-linker={interp}", "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{BASELIB}")
    _rc, doc = lint(world, p)
    assert [r[0] for r in snapcraft(doc)] == ["classic", "interpreter"]


@pytest.mark.parametrize(("rpath", "expected"), [
    # 9: existing $ORIGIN entries are kept first, even for absent directories; a host-only
    # library (libhostonly) adds nothing.
    ("$ORIGIN/../fake-lib", f"$ORIGIN/../fake-lib:{BASELIB}"),
    ("/usr/local/lib", BASELIB),  # 10: absolute entries are dropped
    ("${ORIGIN}/../lib", BASELIB),  # 11: the brace spelling is dropped
])
def test_9_10_11_existing_rpath(world: dict[str, Path], rpath: str, expected: str) -> None:
    p = payload(world, "existing")
    exe(p, "bin/app", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{rpath}")
    p.addneeded("/bin/app", "libhostonly.so.1")
    _rc, doc = lint(world, p)
    assert ("rpath", "bin/app", f"ELF rpath should be set to '{expected}'.") in snapcraft(doc)
    # ldsim's faithful view: libhostonly.so.1 comes from the host at run time.
    assert any(f["id"] == "host-leak" and "libhostonly.so.1" in f["message"]
               for f in doc["findings"])


def test_12_13_dedup_and_compliant(world: dict[str, Path]) -> None:
    p = payload(world, "compliant")
    lib(p, "bin/libsame.so", "libsame.so")
    exe(p, "bin/app", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{BASELIB}:$ORIGIN", link=("/bin/libsame.so",))
    p.patch_rpath = None  # type: ignore[attr-defined]
    _rc, doc = lint(world, p)
    app_rows = [r for r in snapcraft(doc) if r[1] == "bin/app"]
    assert app_rows == []  # 13: already compliant (order does not matter)


def test_14_runpath_counts_as_rpath_but_ldsim_warns(world: dict[str, Path]) -> None:
    p = payload(world, "runpath")
    lib(p, "lib/libb.so", "libb.so")
    lib(p, "lib/liba.so", "liba.so", link=("/lib/libb.so",))
    exe(p, "bin/app", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--enable-new-dtags",
        f"-Wl,-rpath,$ORIGIN/../lib:{BASELIB}", link=("/lib/liba.so",))
    # the libraries get a complete RPATH each, so only the app's RUNPATH matters
    subprocess.run(["patchelf", "--remove-rpath", str(p.host("/lib/liba.so"))], check=True)
    _rc, doc = lint(world, p)
    assert [r for r in snapcraft(doc) if r[1] == "bin/app"] == []
    ids = {f["id"] for f in doc["findings"] if f["file"] == "bin/app"}
    assert "runpath-not-inherited" in ids


def test_15_16_several_payload_dirs_and_transitive(world: dict[str, Path]) -> None:
    p = payload(world, "multi")
    lib(p, "usr/lib/x86_64-linux-gnu/libb.so.2", "libb.so.2")
    lib(p, "opt/x/lib/libx.so.2", "libx.so.2")
    lib(p, "lib/liba.so.1", "liba.so.1", f"-Wl,-rpath,{p.host('/usr/lib/x86_64-linux-gnu')}",
        link=("/usr/lib/x86_64-linux-gnu/libb.so.2",))
    exe(p, "bin/app", link=("/lib/liba.so.1", "/opt/x/lib/libx.so.2"))
    _rc, doc = lint(world, p)
    msg = next(r[2] for r in snapcraft(doc) if r[0] == "rpath" and r[1] == "bin/app")
    entries = msg.split("'")[1].split(":")
    # Snapcraft's order of $ORIGIN entries is unspecified: compare as a set; base last.
    assert set(entries[:-1]) == {"$ORIGIN/../lib", "$ORIGIN/../opt/x/lib",
                                 "$ORIGIN/../usr/lib/x86_64-linux-gnu"}
    assert entries[-1] == BASELIB


def test_17_crawl_fallback(world: dict[str, Path]) -> None:
    p = payload(world, "crawl")
    lib(p, "opt/vendor/private/libz9.so.1", "libz9.so.1")
    exe(p, "bin/app", link=("/opt/vendor/private/libz9.so.1",))
    _rc, doc = lint(world, p)
    assert ("rpath", "bin/app", "ELF rpath should be set to "
            f"'$ORIGIN/../opt/vendor/private:{BASELIB}'.") in snapcraft(doc)


def test_19_what_is_not_linted(world: dict[str, Path]) -> None:
    p = payload(world, "notlinted")
    exe(p, "bin/app")
    p.compile("/bin/static", "int main(void){return 0;}\n", "-static")
    shutil.copy2(p.host("/bin/app"), p.host("/bin/x.o"))
    p.symlink("/bin/link", "app")
    _rc, doc = lint(world, p)
    files = {f["file"] for f in doc["findings"]}
    assert "bin/app" in files
    assert not files & {"bin/static", "bin/x.o", "bin/link"}


def test_20_bare_base_is_silent(world: dict[str, Path]) -> None:
    """Snapcraft's classic linter leaves `base: bare` alone (no base to point at), but the
    classic snap still runs on the host's libraries: ldsim's host-leak says so (it said
    nothing), with no DF_1_NODEFLIB advice (nothing else would find the C library), and
    `ldsim fix` says why it patches nothing (it said "strict snap")."""
    p = payload(world, "bare", base="bare")
    exe(p, "bin/app")
    lib(p, "lib/libshared.so.1", "libshared.so.1")  # the host's cache has its own
    p.addneeded("/bin/app", "libshared.so.1")
    rc, doc = lint(world, p)
    assert [r for r in snapcraft(doc) if r[0] in ("classic", "interpreter", "rpath")] == []
    assert {"host-leak"} <= _ids(doc, "bin/app") and "nodefaultlib" not in _ids(doc, "bin/app")
    assert rc == 1
    # no fix offered that `ldsim fix` would not plan (an rpath for libshared.so.1 was)
    assert [f["fix"] for f in doc["findings"] if f["file"] == "bin/app" and f.get("fix")] == []
    fix = subprocess.run([sys.executable, "-m", "ldsim", "fix", str(p.path), "--host",
                          str(world["host"])], capture_output=True, text=True, cwd=REPO,
                         check=False)
    assert "the classic rules do not apply (base: bare, " in fix.stdout, fix.stdout + fix.stderr
    assert "strict snap" not in fix.stdout


def test_a_strict_snap_gets_no_classic_view_finding(world: dict[str, Path]) -> None:
    """A strict snap runs in its base, not in the classic view: cache-shadowing (and the
    other classic-view rules) warned about the host's cache anyway, with a fix that
    `ldsim fix` then refused to plan."""
    p = payload(world, "strictleaky", confinement="strict")
    exe(p, "bin/app")
    p.addneeded("/bin/app", "libshared.so.1")  # in the classic view the host cache wins
    rc, doc = lint(world, p, "--fail-on", "warning")
    assert _ids(doc, "bin/app") <= {"missing-library"} and rc == 0, doc["findings"]


def test_a_library_found_through_origin_is_the_payloads(world: dict[str, Path]) -> None:
    """$ORIGIN is the revision the `current` link names (/snap/demo/x1/bin) in the classic
    view, where Snapcraft's ldd, run on the prime directory, finds the payload's file: the
    library is the payload's lib/libfoo.so.1, already covered by $ORIGIN/../lib. ldsim took
    it for a host path, re-homed it to a copy elsewhere in the payload (lib/d/), proposed
    that directory too, and called the library that loads unused."""
    p = payload(world, "origin")
    lib(p, "lib/libfoo.so.1", "libfoo.so.1", "-Wl,--disable-new-dtags", f"-Wl,-rpath,{BASELIB}")
    p.copy("/lib/libfoo.so.1", "/lib/d/libfoo.so.1")
    exe(p, "bin/app", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,$ORIGIN/../lib:{BASELIB}", link=("/lib/libfoo.so.1",))
    rc, doc = lint(world, p)
    assert snapcraft(doc) == [("classic", None, "Snap confinement is set to classic.")], \
        doc["findings"]
    assert rc == 0


def test_21_22_23_filters(world: dict[str, Path]) -> None:
    p = payload(world, "filters")
    exe(p, "usr/bin/app")
    lib(p, "usr/lib/x86_64-linux-gnu/libx.so", "libx.so")
    _rc, doc = lint(world, p, "--ignore", "classic:usr/*")
    rows = snapcraft(doc)
    assert rows[0][0] == "classic" and not [r for r in rows if r[0] in ("interpreter", "rpath")]
    _rc, doc = lint(world, p, "--ignore", "classic")
    assert not [r for r in snapcraft(doc) if r[0] in ("classic", "interpreter", "rpath")]
    _rc, doc = lint(world, p, "--ignore", "classic:usr/lib/*", "--ignore", "classic:usr/bin/*")
    files = {r[1] for r in snapcraft(doc) if r[0] in ("interpreter", "rpath")}
    assert files == {"usr/lib/x86_64-linux-gnu/libx.so"}  # 23: the later entry wins
    # the snap's own lint configuration applies too
    p.write("/snap/snapcraft.yaml", "lint:\n  ignore:\n    - classic:\n      - usr/bin/*\n")
    _rc, doc = lint(world, p)
    assert {r[1] for r in snapcraft(doc) if r[0] == "interpreter"} == set()


def test_24_missing_library_is_host_resolved(world: dict[str, Path]) -> None:
    """Snapcraft reports a dependency its build machine resolves outside payload and base as
    missing; ldsim resolves it in the host root it is given (libhostonly is only there)."""
    p = payload(world, "missing", confinement="strict")
    exe(p, "bin/app")
    p.addneeded("/bin/app", "libhostonly.so.1", "libnowhere.so.7")
    _rc, doc = lint(world, p)
    missing = [r for r in snapcraft(doc) if r[0] == "missing-library"]
    assert [r[2].split(".")[0] for r in missing] and {r[2].split("'")[1] for r in missing} == {
        "libhostonly.so.1", "libnowhere.so.7"}


def test_25_26_unused_library(world: dict[str, Path]) -> None:
    p = payload(world, "unused", confinement="strict")
    exe(p, "bin/app")
    lib(p, "usr/lib/x86_64-linux-gnu/libpng16.so.16.43.0", "libpng16.so.16", "-lc")
    lib(p, "usr/lib/x86_64-linux-gnu/subdir/libhidden.so.1", "libhidden.so.1", "-lc")
    _rc, doc = lint(world, p)
    unused = [r for r in snapcraft(doc) if r[0] == "unused-library"]
    assert unused == [("unused-library", "libpng16.so.16",
                       "unused library 'usr/lib/x86_64-linux-gnu/libpng16.so.16.43.0'.")]


def test_30_library_linter_type_gate(world: dict[str, Path]) -> None:
    p = payload(world, "gadget", confinement="strict", snap_type="gadget")
    exe(p, "bin/app")
    p.addneeded("/bin/app", "libnowhere.so.7")
    _rc, doc = lint(world, p)
    assert not [r for r in snapcraft(doc) if r[0] == "missing-library"]


def test_exit_status_and_fail_on(world: dict[str, Path]) -> None:
    p = payload(world, "failon")
    exe(p, "bin/app", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{BASELIB}")
    rc, doc = lint(world, p)
    assert rc == 0 and doc["schema"] == "ldsim.lint/1"
    rc, _doc = lint(world, p, "--fail-on", "info")
    assert rc == 0  # nothing at all to report but the OK line


def _ids(doc: dict[str, Any], file: str) -> set[str]:
    return {f["id"] for f in doc["findings"] if f["file"] == file}


def test_ldsim_rules_fire_on_a_leaky_snap_and_stay_quiet_on_a_fixed_one(
        world: dict[str, Path]) -> None:
    leaky = payload(world, "leaky")
    exe(leaky, "bin/app")
    leaky.addneeded("/bin/app", "libshared.so.1")  # the base ships it; the host cache wins
    _rc, doc = lint(world, leaky)
    assert {"host-leak", "cache-shadowing", "nodefaultlib"} <= _ids(doc, "bin/app")
    fixed = payload(world, "fixedrules")
    exe(fixed, "bin/app", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--disable-new-dtags",
        f"-Wl,-rpath,{BASELIB}")
    fixed.addneeded("/bin/app", "libshared.so.1")
    rc, doc = lint(world, fixed)
    assert _ids(doc, "bin/app") == set() and rc == 0


def test_version_missing_against_the_base(world: dict[str, Path],
                                          tmp_path: Path) -> None:
    """A payload binary needing a version the base's library does not define."""
    base = Path(shutil.copytree(world["base"], tmp_path / "oldbase", symlinks=True))
    src = tmp_path / "v.c"
    src.write_text("int f(void){return 0;} int g(void){return 0;}\n")
    vmap = tmp_path / "v.map"
    vmap.write_text("OLD_1 { global: f; g; local: *; };\n")
    libdir = base / "usr/lib/x86_64-linux-gnu"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(libdir / "libv.so.1"), str(src),
                    "-Wl,-soname,libv.so.1", f"-Wl,--version-script={vmap}"], check=True)
    newer = tmp_path / "new"
    newer.mkdir()
    vmap.write_text("OLD_1 { global: g; local: *; };\nNEW_2 { global: f; } OLD_1;\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(newer / "libv.so.1"), str(src),
                    "-Wl,-soname,libv.so.1", f"-Wl,--version-script={vmap}"], check=True)
    p = payload(world, "newer")
    p.compile("/bin/app", "int f(void); int main(void){return f();}\n", f"-L{newer}",
              "-l:libv.so.1", f"-Wl,--dynamic-linker={LINKER}", "-Wl,--disable-new-dtags",
              f"-Wl,-rpath,{BASELIB}")
    proc = subprocess.run(
        [sys.executable, "-m", "ldsim", "lint", str(p.path), "--base", str(base),
         "--host", str(world["host"]), "--format", "json"],
        capture_output=True, text=True, cwd=REPO, check=False)
    doc = json.loads(proc.stdout)
    found = [f for f in doc["findings"] if f["id"] == "version-missing"]
    assert len(found) == 1 and "NEW_2" in found[0]["message"], doc["findings"]
    assert proc.returncode == 1


def test_text_shows_limit_findings_per_rule_and_says_how_many_more(
        world: dict[str, Path]) -> None:
    """Many programs leaking the same way: the text shows --limit findings per rule (each
    file's shared fix once) and says how many more; the counts and JSON keep all."""
    p = payload(world, "many")
    for i in range(6):
        exe(p, f"bin/app{i}")
        p.addneeded(f"/bin/app{i}", "libshared.so.1")

    def text(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "ldsim", "lint", str(p.path), "--base", str(world["base"]),
             "--host", str(world["host"]), "--width", "0", *args],
            capture_output=True, text=True, cwd=REPO, check=False)
        assert proc.returncode == 1, proc.stderr
        return proc.stdout

    _rc, doc = lint(world, p)
    leaks = [f for f in doc["findings"] if f["id"] == "host-leak"]
    files = {f["file"] for f in leaks}
    assert len(files) == 6 and len(leaks) > 6
    everything = text("--limit", "0")
    assert "more finding" not in everything
    assert everything.count("in the classic view, libshared.so.1 is loaded from") == 6
    # each program's leaks share one fix: it is printed once per program
    section = everything.split("host-leak: ", 1)[1].split("\n\n", 1)[0]
    assert section.count("fix: patchelf --set-interpreter") == 6
    short = text("--limit", "2")
    rest = len(leaks) - 2
    assert f"... and {rest} more findings of this rule in " in short
    assert short.count("is loaded from the host") == 2
    counts = [line for line in everything.splitlines() if "ELF files checked" in line]
    assert counts and counts == [line for line in short.splitlines()
                                 if "ELF files checked" in line]
    assert text() == text("--limit", "20")
    bad = subprocess.run([sys.executable, "-m", "ldsim", "lint", str(p.path), "--limit", "x"],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert bad.returncode == 2 and "expected a number of findings" in bad.stderr
