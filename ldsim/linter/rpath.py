"""Snapcraft's proposed rpath (``snapcraft/elf/_patcher.py``, ``Patcher.get_proposed_rpath``).

Existing entries are kept only if they contain the substring ``$ORIGIN`` (so ``${ORIGIN}`` and
absolute entries are dropped) and come first; then one ``$ORIGIN``-relative entry per payload
directory holding a dependency (``relpath`` from the *file*, its first ``..`` replaced by
``$ORIGIN``); then the base directories, sorted. Host-resolved and unresolved dependencies
add nothing: that is where classic snaps leak.
"""

from __future__ import annotations

import posixpath


def current_rpath(runpath: str | None, rpath: str | None) -> list[str]:
    """``patchelf --print-rpath``: DT_RUNPATH if present, else DT_RPATH; empty items dropped."""
    value = runpath if runpath is not None else rpath
    return [p for p in (value or "").split(":") if p]


def origin_entry(file_rel: str, dep_rel: str) -> str:
    rel = posixpath.relpath(dep_rel, start=file_rel)
    d = posixpath.dirname(rel)
    return d.replace("..", "$ORIGIN", 1)


def proposed_rpath(file_rel: str, existing: list[str], payload_deps: list[str],
                   base_dirs: list[str]) -> list[str]:
    """``file_rel`` and ``payload_deps`` are payload-relative; ``base_dirs`` absolute."""
    origin: list[str] = []
    for dep in payload_deps:
        entry = origin_entry(file_rel, dep)
        if entry not in origin:
            origin.append(entry)
    keep = [r for r in existing if "$ORIGIN" in r and r not in origin]
    return [x for x in keep + origin if x] + sorted(set(base_dirs))


def covered(proposed: list[str], current: list[str]) -> bool:
    """Snapcraft warns iff ``set(proposed)`` is not a subset of ``set(current)``."""
    return set(proposed) <= set(current)
