"""The ``ldsim`` command line: :func:`entry` is the command, :mod:`ldsim.cli.main` its
commands. This module imports nothing of ldsim's own but :mod:`ldsim.cli.interrupted`, so
that the command's Ctrl-C is handled from its first moment: a Ctrl-C while ldsim's modules
were still being imported printed a traceback."""

from __future__ import annotations

import contextlib
import os
import sys

from ldsim.cli.interrupted import say_interrupted


def entry() -> None:
    """The ``ldsim`` command: :func:`ldsim.cli.main.main` as a whole process. Its first
    Ctrl-C stops the command (exit 130, one line, what a scan's store holds kept); a Ctrl-C
    more ends the process at once, with the same status and line (pressed again during a
    scan's clean-up or as the output was flushed, it printed a traceback, or left a pool's
    workers waiting). Only here, where ldsim is the whole process: a program that calls
    ``main`` keeps its own Ctrl-C."""
    import signal

    def again(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say_interrupted()
        _stop_children()
        os._exit(130)

    def first_ctrl_c(_signum: int, _frame: object) -> None:
        signal.signal(signal.SIGINT, again)
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError, OSError):  # (not the main thread: left as it is)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, first_ctrl_c)
    try:
        from ldsim.cli.main import main

        status = main()
    except KeyboardInterrupt:  # before the command's own handling of it (its imports, its
        say_interrupted()  # options)
        status = 130
    if status == 130:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop_children()
    sys.exit(status)


def _stop_children() -> None:
    """After a Ctrl-C, as the process ends: a worker process of a scan still there (had its
    pool not been stopped) would keep it waiting at exit, as multiprocessing joins its
    children then: it goes."""
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        for child in mp.active_children():
            with contextlib.suppress(Exception):
                child.kill()


__all__ = ["entry"]
