"""One root for every error ldsim reports about its inputs.

Each error names the input (a path inside the modelled root, or a host path for the root
itself) and says what was wrong with it. The CLI catches LdsimError once and prints
``ldsim: error: <message>`` without a traceback.
"""

from __future__ import annotations


class LdsimError(Exception):
    """Base class: an input ldsim cannot use. ``str()`` is the one-line user message."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        # pickled whole (a Dask worker's error travels back to the scan), whatever the
        # subclass's __init__ takes
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[LdsimError], args: tuple[object, ...],
             state: dict[str, object]) -> LdsimError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class UsageError(LdsimError):
    """A command-line value that makes no sense (exit status 2)."""


class RootError(LdsimError):
    """The root directory itself is unusable (missing, not a directory)."""


class FsError(LdsimError):
    """A path inside the root cannot be resolved or read.

    ``errno_name`` is the errno the real kernel would report for the same lookup
    (ENOENT, ENOTDIR, ELOOP, EISDIR, EACCES, ENAMETOOLONG), so loader models can react
    exactly as the real loader does.
    """

    def __init__(self, path: str, reason: str, errno_name: str) -> None:
        super().__init__(path, reason)
        self.errno_name = errno_name


class AccessError(LdsimError):
    """ldsim itself may not look at a path inside the root (its own user's permissions,
    ``EACCES`` from a real call): what is there, and so what the loader would do, cannot be
    known. Never a loader's answer (a model decides what the simulated process may read),
    so not an :class:`FsError`, which the models turn into the loader's own outcomes: the
    resolution stops with it, and the file is reported as unreadable."""

    def __init__(self, path: str, reason: str, errno_name: str = "EACCES") -> None:
        super().__init__(path, reason)
        self.errno_name = errno_name


class ChangedError(AccessError):
    """A file that changed while ldsim read it (shorter now than when it was opened): what
    the loader would find there cannot be known either, so it is handled as an
    :class:`AccessError` (the resolution stops, the file is reported as unreadable, a scan
    never keeps the result)."""

    def __init__(self, path: str, reason: str, errno_name: str = "EIO") -> None:
        super().__init__(path, reason, errno_name)


class ElfError(LdsimError):
    """A file that is not a usable ELF object: not ELF, truncated, or with broken tables."""


class CacheFormatError(LdsimError):
    """An ``ld.so.cache`` that is not in any format the loader reads."""


class SquashFsError(LdsimError):
    """A file that is not a SquashFS image ldsim can read (bad magic, corrupt tables,
    an unsupported compressor)."""


class SnapError(LdsimError):
    """A snap that cannot be modelled: missing or invalid meta/snap.yaml, unknown app."""


class InternalError(LdsimError):
    """An unexpected exception (a bug in ldsim) while handling one input of a batch. The
    batch goes on without that input; the command then exits 3. Made by :func:`contained`."""


def contained(path: str, exc: BaseException) -> LdsimError:
    """What a batch records for one input that raised ``exc``: ldsim's own error as it is,
    anything else as an :class:`InternalError` naming the input (``LDSIM_DEBUG=1`` re-raises
    it instead, for the traceback). ``MemoryError`` and ``RecursionError`` are internal
    errors too: no input may cause them."""
    if isinstance(exc, LdsimError):
        return exc
    import os

    if os.environ.get("LDSIM_DEBUG"):
        raise exc
    return InternalError(path, f"internal error: {type(exc).__name__}: {exc} (a bug in ldsim; "
                         "LDSIM_DEBUG=1 shows the traceback)")
