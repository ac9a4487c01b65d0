"""A wheel built with ``python -m build`` installs into a clean virtual environment and works
there: the command line, the public API, the shipped JSON Schemas, every subpackage."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _run(*argv: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{argv}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.skipif(shutil.which("dot") is None, reason="the smoke test draws a graph")
def test_the_wheel_installs_and_works_in_a_clean_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, REPO, cwd=tmp_path)
    wheels = list(dist.glob("ldsim-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as whl:  # the man page ships (README: man -l ...)
        assert "ldsim/man/ldsim.1" in whl.namelist()
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    _run(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheels[0],
         cwd=tmp_path)
    # the command line, from the venv, away from the checkout
    out = _run(venv / "bin" / "ldsim", "explain", "--json", "/usr/bin/true", cwd=tmp_path)
    doc = json.loads(out.stdout)
    assert doc["schema"] == "ldsim.explain/1" and doc["objects"][0]["path"] == "/usr/bin/true"
    graph = _run(venv / "bin" / "ldsim", "graph", "-f", "svg", "/usr/bin/true", cwd=tmp_path)
    assert "<svg" in graph.stdout
    completion = _run(venv / "bin" / "ldsim", "completion", "bash", cwd=tmp_path)
    assert "complete -o bashdefault -F " in completion.stdout  # shtab is a dependency
    # the public API, the schemas and every subpackage come from the installed wheel
    code = (
        "import json, pkgutil, sys, ldsim, ldsim.renderers.schema as s\n"
        "assert ldsim.__file__.startswith(sys.argv[1]), ldsim.__file__\n"
        "doc = json.loads(ldsim.render(ldsim.explain(ldsim.open_root('/'), '/usr/bin/true'),"
        " 'json'))\n"
        "for name in s.SCHEMAS: assert s.load_schema(name)['title'] == name\n"
        "mods = {m.name for m in pkgutil.walk_packages(ldsim.__path__, 'ldsim.')}\n"
        "assert {'ldsim.linter.rules', 'ldsim.renderers.sarif', 'ldsim.fs.memory',"
        " 'ldsim.patching'} <= mods, mods\n"
        "import pathlib; assert (pathlib.Path(ldsim.__file__).parent / 'man/ldsim.1').is_file()\n"
        "print(doc['loader'], len(mods))\n")
    out = _run(py, "-c", code, str(venv), cwd=tmp_path)
    assert out.stdout.startswith("glibc ")
