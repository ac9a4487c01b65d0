"""snap.yaml parsing, snap-exec's environment expansion, and bad snap input at the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ldsim.errors import SnapError
from ldsim.snap.meta import app_environment, expand, parse_snap_yaml

GOOD = """
name: hello
version: '1.0'
base: core22
confinement: classic
environment:
  LD_LIBRARY_PATH: $SNAP/lib:${LD_LIBRARY_PATH}
apps:
  hello:
    command: bin/hello --flag
    environment:
      EXTRA: ${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}x
  other:
    command: $SNAP/usr/bin/other
"""


def test_parse_good() -> None:
    meta = parse_snap_yaml(GOOD)
    assert meta.name == "hello" and meta.base == "core22" and meta.confinement == "classic"
    assert sorted(meta.apps) == ["hello", "other"]
    assert meta.apps["hello"].program == "bin/hello"
    assert meta.apps["other"].program == "usr/bin/other"


def test_defaults() -> None:
    meta = parse_snap_yaml("name: x\napps: {a: {command: bin/a}}\n")
    assert meta.base == "core" and meta.confinement == "strict" and meta.type == "app"


@pytest.mark.parametrize(("text", "words"), [
    ("name: [unclosed\n", "invalid YAML"),
    ("- a\n- b\n", "not a mapping"),
    ("version: 1\n", "missing 'name'"),
    ("name: Bad_Name\n", "invalid snap name"),
    ("name: x\nconfinement: loose\n", "invalid confinement"),
    ("name: x\napps: {a: {}}\n", "missing 'command'"),
    ("name: x\napps: {a: {command: x, command-chain: x}}\n", "command-chain"),
    ("name: x\nenvironment: [a]\n", "environment must be a mapping"),
    ("name: x\nbase: \"core22\\ntouch /tmp/x #\"\n", "invalid base"),
    ("name: x\nbase: ../..\n", "invalid base"),
])
def test_invalid_snap_yaml_says_what(text: str, words: str) -> None:
    with pytest.raises(SnapError) as info:
        parse_snap_yaml(text, "snap/meta/snap.yaml")
    assert words in str(info.value)
    assert str(info.value).startswith("snap/meta/snap.yaml: ")


def test_expand_like_snap_exec() -> None:
    env = {"A": "1", "E": ""}
    assert expand("$A:${A}:${B}:$B", env) == "1:1::"
    assert expand("${A:+x$A}|${B:+y}|${E:-d}|${A:-d}", env) == "x1||d|1"


def test_app_environment_applies_snap_then_app() -> None:
    meta = parse_snap_yaml(GOOD)
    env = app_environment(meta, meta.apps["hello"], {"SNAP": "/snap/hello/x1"})
    assert env["LD_LIBRARY_PATH"] == "/snap/hello/x1/lib:"
    assert env["EXTRA"] == ":/snap/hello/x1/lib:x"


def ldsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ldsim", *args], capture_output=True,
                          text=True, check=False)


def _one_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("ldsim: error: ")
    for w in words:
        assert w in line, line


def test_cli_bad_snaps(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    snap.mkdir()
    _one_line(ldsim("explain", "--snap", str(snap)), "no meta/snap.yaml")
    (snap / "meta").mkdir()
    (snap / "meta/snap.yaml").write_text("name: [broken\n")
    _one_line(ldsim("explain", "--snap", str(snap)), "snap.yaml", "invalid YAML")
    (snap / "meta/snap.yaml").write_text("name: x\nbase: core22\napps: {a: {command: bin/a}}\n")
    base = tmp_path / "core22"
    (base / "meta").mkdir(parents=True)
    (base / "meta/snap.yaml").write_text("name: core22\ntype: base\n")
    _one_line(ldsim("explain", "--snap", str(snap), "--base", str(base), "--app", "nope"),
              "no app 'nope'", "apps: a")
    notsquash = tmp_path / "x.snap"
    notsquash.write_bytes(b"PK\x03\x04 this is a zip, not squashfs" * 4)
    _one_line(ldsim("explain", "--snap", str(notsquash)), "x.snap")
    _one_line(ldsim("explain", "--snap", str(tmp_path / "missing.snap")), "does not exist")
    _one_line(ldsim("compare"), "--snap")
    _one_line(ldsim("explain", "--snap", str(snap), "--confinement", "strict",
                    "--host", str(tmp_path)), "base snap 'core22'")
