"""Test-suite wiring: make the fixture builders in ``rootfs-fixtures/`` importable.

The directory name has a hyphen on purpose (it is not a package); tests ``import glibcroot``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_FIXTURES = Path(__file__).resolve().parent.parent / "rootfs-fixtures"
if str(_FIXTURES) not in sys.path:
    sys.path.insert(0, str(_FIXTURES))

# Tests that read ldsim's text for its content run it unwrapped (a line per object, as a
# person's grep would see it on a wide terminal): every ldsim these tests start inherits
# COLUMNS=10000. tests/test_text_output.py checks the widths themselves (80 when nothing says
# otherwise, COLUMNS, --width). pytest's own report keeps the width it had.
import os  # noqa: E402

import pytest  # noqa: E402


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    writer = config.get_terminal_writer() if hasattr(config, "get_terminal_writer") else None
    width = writer.fullwidth if writer is not None else None
    os.environ["COLUMNS"] = "10000"
    if writer is not None and width is not None:
        writer.fullwidth = width
