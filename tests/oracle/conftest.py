"""Fixtures for the oracle tests: a fresh root per test, skipped where the oracle cannot run."""

from __future__ import annotations

from pathlib import Path

import glibcroot
import pytest


@pytest.fixture(autouse=True)
def _oracle_available() -> None:
    reason = glibcroot.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def root(tmp_path: Path) -> glibcroot.Root:
    """An empty glibc root (ld.so, libc, /usr/bin/env, /etc/ld.so.conf, no cache yet)."""
    return glibcroot.Root(tmp_path / "root")
