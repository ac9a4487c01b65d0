"""The one line a Ctrl-C of the ``ldsim`` command prints (imports nothing of ldsim's)."""

from __future__ import annotations

import contextlib
import sys

_SAID: list[bool] = []  # whether this process has said it was interrupted


def say_interrupted() -> None:
    """"ldsim: interrupted" on stderr, once per process (a Ctrl-C more, which ends the
    process at once, does not say it again)."""
    if not _SAID:
        _SAID.append(True)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("ldsim: interrupted\n")
            sys.stderr.flush()


__all__ = ["say_interrupted"]
