"""The README's Python API examples run as written: the first on this machine's ``/``, the
second on a classic snap (``prime``) and its base (``core22``) built here with gcc."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def api_examples() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def run(code: str, cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_readme_has_the_two_examples() -> None:
    assert len(api_examples()) == 2


def test_the_root_example_runs(tmp_path: Path) -> None:
    out = run(api_examples()[0], tmp_path)
    assert " libc.so.6 => " in out and "loads: True" in out
    assert "/usr/bin/ls: glibc loader" in out


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("patchelf") is None,
                    reason="builds a snap with gcc and patchelf")
def test_the_snap_example_runs(tmp_path: Path) -> None:
    from glibcroot import Root
    from snaproots import build_base, interp_of, libdir_of, patch_elf, snap_yaml

    build_base(tmp_path / "core22")
    p = Root(tmp_path / "prime", base=False)
    p.write("/meta/snap.yaml", snap_yaml("hello", "core22", "classic", {"hello": "bin/hello"}))
    p.mklib("/lib/libgreet.so.1", "libgreet.so.1")
    p.mkexe("/bin/hello", needed=["libgreet.so.1", "libbase.so.1"])
    patch_elf(p.host("/bin/hello"), interpreter=interp_of("core22"),
              rpath=f"$ORIGIN/../lib:{libdir_of('core22')}")
    out = run(api_examples()[1], tmp_path)
    assert "/snap/hello/current/bin/hello []" in out  # nothing from the host
    assert "ELF file" in out and "checked:" in out and "# ldsim fix: snap hello" in out
