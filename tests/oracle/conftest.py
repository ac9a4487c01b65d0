"""Fixtures for the oracle tests: a fresh root per test, skipped where the oracle cannot run.

The glibc recipes (``test_glibc_*.py``, ``test_glibcroot.py``: every test using ``root`` or
``module_root``) run for each architecture named in ``LDSIM_ORACLE_ARCHES`` (comma-separated;
default ``x86_64``, this machine's, whose test ids then carry no architecture): ``x86_64``
builds a ``glibcroot.Root``, ``i386``/``arm64``/``armhf`` (or another architecture of
``rootfs-fixtures/arches.py``) a ``crossroot.CrossRoot`` whose loader runs under qemu-user
(i386 natively); the test ids then end in ``[ARCH]`` (``test_s1_bfs_order[arm64]``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import crossroot
import glibcroot
import pytest
from arches import ARCHES

ARCHES_ENV = "LDSIM_ORACLE_ARCHES"
HOST_ARCH = "x86_64"


def oracle_arches() -> list[str]:
    """The architectures of ``LDSIM_ORACLE_ARCHES`` (default: ``x86_64`` only)."""
    names = [n.strip() for n in os.environ.get(ARCHES_ENV, "").split(",") if n.strip()]
    unknown = [n for n in names if n != HOST_ARCH and n not in ARCHES]
    if unknown:
        known = ", ".join([HOST_ARCH, *ARCHES])
        raise pytest.UsageError(f"{ARCHES_ENV}: unknown architecture(s) {unknown} (known: {known})")
    return list(dict.fromkeys(names)) or [HOST_ARCH]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every test that builds a glibc root over the architectures asked for
    (module scope: a module's shared root is built once per architecture)."""
    if "oracle_arch" not in metafunc.fixturenames:
        return
    names = oracle_arches()
    if names != [HOST_ARCH]:
        metafunc.parametrize("oracle_arch", names, scope="module")


@pytest.fixture(autouse=True, scope="session")
def _oracle_available() -> None:
    """Skip every oracle test (before any module-scoped root is built) where it cannot run."""
    reason = glibcroot.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def oracle_arch() -> str:
    """The architecture of ``root`` and ``module_root`` (parametrized by
    :func:`pytest_generate_tests` unless only ``x86_64`` is asked for)."""
    return HOST_ARCH


@pytest.fixture(scope="session")
def cross_bases(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], crossroot.CrossRoot]:
    """``get(ARCH)``: that architecture's base root, built on first use in this session and
    copied for every root (skips the test when the oracle cannot run it here)."""
    top = tmp_path_factory.mktemp("cross-bases")
    built: dict[str, crossroot.CrossRoot | str] = {}

    def get(name: str) -> crossroot.CrossRoot:
        reason = crossroot.unavailable_reason(name)
        if reason is not None:
            pytest.skip(reason)
        if name not in built:
            try:
                base = crossroot.CrossRoot(top / name, ARCHES[name])
                probe = crossroot.run_guest(base, base.arch.interp, "--version")
                built[name] = base if probe.returncode == 0 else (
                    f"this machine cannot run {name} programs: {probe.stderr.strip()[-300:]}"
                )
            except crossroot.OracleUnavailable as e:
                built[name] = str(e)
        found = built[name]
        if isinstance(found, str):
            pytest.skip(found)
        return found

    return get


def _new_root(
    arch: str, path: Path, bases: Callable[[str], crossroot.CrossRoot]
) -> glibcroot.Root:
    if arch == HOST_ARCH:
        return glibcroot.Root(path)
    return bases(arch).clone(path)


@pytest.fixture
def root(
    tmp_path: Path, oracle_arch: str, cross_bases: Callable[[str], crossroot.CrossRoot]
) -> glibcroot.Root:
    """An empty glibc root of ``oracle_arch`` (ld.so, libc, /etc/ld.so.conf, no cache yet;
    x86-64's also has /usr/bin/env)."""
    return _new_root(oracle_arch, tmp_path / "root", cross_bases)


@pytest.fixture(scope="module")
def module_root(
    tmp_path_factory: pytest.TempPathFactory,
    oracle_arch: str,
    cross_bases: Callable[[str], crossroot.CrossRoot],
) -> glibcroot.Root:
    """One root shared by the tests of a module (build it once, do not mutate it in tests)."""
    return _new_root(oracle_arch, tmp_path_factory.mktemp("oracle") / "root", cross_bases)

