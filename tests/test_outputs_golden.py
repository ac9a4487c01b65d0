"""Every output of ldsim on fixed fixture roots, byte for byte (``scripts/golden_outputs.py``).

The golden files in ``tests/golden/outputs/`` are ldsim's contract with the people and the
programs that read it: ``ldsim.explain/1``, ``ldsim.compare/1``, ``ldsim.lint/1``, SARIF, DOT,
GraphML, Mermaid, the texts, and the exit statuses. A refactoring must leave them unchanged;
a deliberate change of an output regenerates them with ``LDSIM_UPDATE_GOLDEN=1`` (read the
diff before committing it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "outputs"
UPDATE = os.environ.get("LDSIM_UPDATE_GOLDEN") == "1"

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("gcc", "patchelf", "mksquashfs", "ldconfig", "musl-gcc")),
    reason="needs gcc, patchelf, mksquashfs, ldconfig and musl-gcc to build the fixtures")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("outputs")
    subprocess.run([sys.executable, str(REPO / "scripts" / "golden_outputs.py"), str(out),
                    "--work", str(tmp_path_factory.mktemp("work"))],
                   check=True, capture_output=True, timeout=900)
    if UPDATE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out, GOLDEN)
    return out


def test_the_same_outputs_are_produced(outputs: Path) -> None:
    made = sorted(p.name for p in outputs.iterdir())
    want = sorted(p.name for p in GOLDEN.iterdir())
    assert made == want, "the set of outputs differs from tests/golden/outputs/"


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()) if GOLDEN.is_dir()
                         else [])
def test_output_is_byte_identical(outputs: Path, name: str) -> None:
    made = (outputs / name).read_bytes()
    want = (GOLDEN / name).read_bytes()
    assert made == want, f"{name} differs from tests/golden/outputs/{name}"
