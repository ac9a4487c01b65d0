"""Test-suite wiring: make the fixture builders in ``rootfs-fixtures/`` importable.

The directory name has a hyphen on purpose (it is not a package); tests ``import glibcroot``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_FIXTURES = Path(__file__).resolve().parent.parent / "rootfs-fixtures"
if str(_FIXTURES) not in sys.path:
    sys.path.insert(0, str(_FIXTURES))
