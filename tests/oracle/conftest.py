"""Fixtures for the oracle tests: a fresh root per test, skipped where the oracle cannot run."""

from __future__ import annotations

from pathlib import Path

import glibcroot
import pytest


@pytest.fixture(autouse=True, scope="session")
def _oracle_available() -> None:
    """Skip every oracle test (before any module-scoped root is built) where it cannot run."""
    reason = glibcroot.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def root(tmp_path: Path) -> glibcroot.Root:
    """An empty glibc root (ld.so, libc, /usr/bin/env, /etc/ld.so.conf, no cache yet)."""
    return glibcroot.Root(tmp_path / "root")


@pytest.fixture(scope="module")
def module_root(tmp_path_factory: pytest.TempPathFactory) -> glibcroot.Root:
    """One root shared by the tests of a module (build it once, do not mutate it in tests)."""
    return glibcroot.Root(tmp_path_factory.mktemp("oracle") / "root")
