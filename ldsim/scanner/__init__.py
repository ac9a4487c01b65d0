"""``ldsim scan``: finding the ELF files of a tree (:mod:`~ldsim.scanner.discover`), the
work of one file or snap (:mod:`~ldsim.scanner.work`), the result store
(:mod:`~ldsim.scanner.store`) and the orchestration (:mod:`~ldsim.scanner.engine`). Here only
what a command's help needs without importing any of them."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
