"""The unit layer: in-memory roots (``rootfs-fixtures/memroot.py``). No compiler, no root, no
chroot, no subprocess at all: a test here that tried to run a program fails."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_programs(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the unit layer runs no program (use tests/oracle for that)")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "chroot", refuse)
    for name in ("execv", "execve", "execvp", "fork", "posix_spawn", "system"):
        monkeypatch.setattr(os, name, refuse)
