"""``ldsim lint`` + ``ldsim fix --apply`` against the real loader (the issue's oracle).

A classic core22 snap built the way a careless part leaves it (the build machine's interpreter,
no rpath): ``bin/app`` needs ``lib/libpay.so.1`` (payload, which needs ``lib/libpaydep.so.1``
and ``libshared.so.1``), ``libbase.so.1`` (only in the base) and ``libshared.so.1`` (in the base
and, another build, on the host). In the classic layout the real loader runs it with the host's
loader and libc and finds ``libshared.so.1`` on the host.

``ldsim fix --apply`` on a copy must patch it so that the real loader, run through the kernel in
the classic layout chroot (``LD_TRACE_LOADED_OBJECTS=1``), loads nothing from the host, and
``ldsim lint`` on the fixed copy must have nothing left to say.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from glibcroot import REPO, Root, realpath_in_root, run_real_loader
from snaproots import (
    BASE_NAME,
    SnapFixture,
    build_base,
    build_host,
    classic_layout,
    interp_of,
    lib_source,
    snap_yaml,
)

pytestmark = pytest.mark.oracle

PROGRAM = "/snap/fixme/current/bin/app"


def ldsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                          text=True, cwd=REPO, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    top = tmp_path_factory.mktemp("lintfix")
    host = build_host(top / "host").path
    base = build_base(top / "bases" / BASE_NAME).path
    p = Root(top / "snaps" / "fixme", base=False)
    p.write("/meta/snap.yaml", snap_yaml("fixme", BASE_NAME, "classic", {"app": "bin/app"}))
    p.mklib("/lib/libpaydep.so.1", "libpaydep.so.1", source=lib_source("libpaydep", "payload"))
    p.mklib("/lib/libpay.so.1", "libpay.so.1", needed=["libshared.so.1", "libpaydep.so.1"],
            source=lib_source("libpay", "payload"))
    p.mkexe("/bin/app", needed=["libpay.so.1", "libbase.so.1", "libshared.so.1"])
    fixed = top / "fixed" / "fixme"
    shutil.copytree(p.path, fixed, symlinks=True)
    return {"top": top, "host": host, "base": base, "orig": p.path, "fixed": fixed}


def layout(world: dict[str, Any], payload: Path, name: str) -> Path:
    snap = SnapFixture("fixme", payload, BASE_NAME, "classic", {"app": "bin/app"})
    return classic_layout(world["top"] / name, world["host"], {BASE_NAME: world["base"]}, [snap])


def realms(root: Path, paths: list[str]) -> dict[str, str]:
    out = {}
    for path in paths:
        real = realpath_in_root(root, path)
        out[path] = "snap" if real.startswith("/snap/") else "host"
    return out


def lint(world: dict[str, Any], payload: Path) -> tuple[int, list[dict[str, Any]]]:
    proc = ldsim("lint", str(payload), "--base", str(world["base"]), "--host",
                 str(world["host"]), "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"]


def test_unpatched_snap_leaks(world: dict[str, Any]) -> None:
    root = layout(world, world["orig"], "classic-before")
    real = run_real_loader(root, PROGRAM)
    host = [p for p, r in realms(root, [e.path for e in real.found if e.path]).items()
            if r == "host"]
    assert host, real.describe() + "\n" + real.listing()
    assert "libbase.so.1" in real.unresolved, real.listing()
    _rc, findings = lint(world, world["orig"])
    ids = {(f["id"], f["file"]) for f in findings}
    assert {("interpreter", "bin/app"), ("rpath", "bin/app"), ("rpath", "lib/libpay.so.1")} <= ids


@pytest.fixture(scope="module")
def fixed(world: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``ldsim fix --apply`` on the copy, once."""
    return ldsim("fix", str(world["fixed"]), "--base", str(world["base"]), "--host",
                 str(world["host"]), "--apply")


def test_fixed_snap_loads_nothing_from_the_host(
        world: dict[str, Any], fixed: subprocess.CompletedProcess[str]) -> None:
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "patched: bin/app" in fixed.stdout
    root = layout(world, world["fixed"], "classic-after")
    real = run_real_loader(root, PROGRAM)
    assert real.status == 0 and not real.unresolved and real.error is None, real.listing()
    found = [e.path for e in real.found if e.path]
    assert interp_of(BASE_NAME) in found
    assert {p: r for p, r in realms(root, found).items() if r == "host"} == {}, real.listing()
    names = {e.name for e in real.found}
    assert {"libpay.so.1", "libpaydep.so.1", "libbase.so.1", "libshared.so.1",
            "libc.so.6"} <= names


def test_fixed_snap_lints_clean(world: dict[str, Any],
                                fixed: subprocess.CompletedProcess[str]) -> None:
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    rc, findings = lint(world, world["fixed"])
    left = [f for f in findings if not f.get("ok") and f["severity"] in ("error", "warning")]
    assert left == [], json.dumps(left, indent=2)
    assert rc == 0


# -- lint judges libraries where programs load them -----------------------------------------------

def _program_context_snap(world: dict[str, Any], name: str, needed: list[str]) -> Path:
    """``bin/app`` with the base's interpreter and an RPATH over ``$ORIGIN/../lib`` and the
    base; ``lib/libpay.so.1`` has no RPATH of its own and needs ``lib/libpaydep.so.1``
    (payload) and ``libshared.so.1`` (base; the host has another build)."""
    p = Root(world["top"] / "snaps" / name, base=False)
    p.write("/meta/snap.yaml", snap_yaml(name, BASE_NAME, "classic", {"app": "bin/app"}))
    p.mklib("/lib/libpaydep.so.1", "libpaydep.so.1", source=lib_source("libpaydep", "payload"))
    p.mklib("/lib/libpay.so.1", "libpay.so.1", needed=["libshared.so.1", "libpaydep.so.1"],
            source=lib_source("libpay", "payload"))
    p.mkexe("/bin/app", needed=["libpay.so.1", "libbase.so.1", *needed])
    subprocess.run(["patchelf", "--set-interpreter", interp_of(BASE_NAME), "--force-rpath",
                    "--set-rpath", "$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu",
                    str(p.host("/bin/app"))], check=True)
    return p.path


def test_a_library_without_rpath_is_judged_in_its_programs_load(world: dict[str, Any]) -> None:
    payload = _program_context_snap(world, "ctx", [])
    snap = SnapFixture("ctx", payload, BASE_NAME, "classic", {"app": "bin/app"})
    root = classic_layout(world["top"] / "classic-ctx", world["host"],
                          {BASE_NAME: world["base"]}, [snap])
    real = run_real_loader(root, "/snap/ctx/current/bin/app")
    assert not real.unresolved and real.error is None, real.listing()
    found = [e.path for e in real.found if e.path]
    assert {p: r for p, r in realms(root, found).items() if r == "host"} == {}, real.listing()
    rc, findings = lint(world, payload)
    errors = [f for f in findings if f["severity"] == "error"]
    assert errors == [] and rc == 0, json.dumps(findings, indent=2)
    assert not [f for f in findings if f["id"] in ("host-leak", "missing-library")]
    # compare --all judges the library in the same place: in bin/app's load, nothing leaks
    proc = ldsim("compare", "--all", "--json", "--snap", str(payload), "--base",
                 str(world["base"]), "--host", str(world["host"]))
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by_path = {b["path"].rsplit("/current/", 1)[1]: b for b in doc["binaries"]}
    assert by_path["lib/libpay.so.1"]["loaded_by"] == ["/snap/ctx/current/bin/app"]
    assert by_path["lib/libpay.so.1"]["rows"] == []
    assert doc["summary"]["leaks"] == 0 and doc["summary"]["loaded"] == 2
    # on its own (as `ldd lib/libpay.so.1` would) the library does leak: the old verdict
    alone = ldsim("compare", "--json", "--snap", str(payload), "--base", str(world["base"]),
                  "--host", str(world["host"]), "lib/libpay.so.1")
    assert alone.returncode == 1 and json.loads(alone.stdout)["summary"]["leaks"] > 0


def test_a_name_found_nowhere_is_a_missing_library_error(world: dict[str, Any]) -> None:
    payload = _program_context_snap(world, "nowhere", ["libnowhere.so.9"])
    snap = SnapFixture("nowhere", payload, BASE_NAME, "classic", {"app": "bin/app"})
    root = classic_layout(world["top"] / "classic-nowhere", world["host"],
                          {BASE_NAME: world["base"]}, [snap])
    real = run_real_loader(root, "/snap/nowhere/current/bin/app")
    assert real.unresolved == ["libnowhere.so.9"], real.listing()
    rc, findings = lint(world, payload)
    missing = [f for f in findings if f["id"] == "missing-library" and f["severity"] == "error"]
    assert rc == 1 and len(missing) == 1, json.dumps(findings, indent=2)
    assert missing[0]["file"] == "bin/app" and "libnowhere.so.9" in missing[0]["message"]
    assert "when bin/app starts" in missing[0]["message"]
