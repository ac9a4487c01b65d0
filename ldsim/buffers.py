"""The bytes of a file as ldsim holds them: read into memory, or read when asked for.

Views (``ldsim.fs``) hand out file contents as a :data:`Buffer`; the ELF layer
(``ldsim.elf``) parses any :data:`Buffer` without knowing where it came from.

A large file is a :class:`FileBytes`, never a memory map: a mapped file that another process
truncates kills the reader with SIGBUS when it touches a page past the new end, and Python
cannot catch that signal. A scan of a live tree (a build directory, a user's files scanned
by root) must not die of it.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable

from ldsim.errors import ChangedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias, overload
else:
    def overload(f: Callable[..., object]) -> Callable[..., object]:
        """``typing.overload`` at run time, where it only marks a signature for the type
        checker: importing ``typing`` costs every start of ldsim 1.5 ms."""
        return f


class FileBytes:
    """A regular file's first ``size`` bytes (its size when it was opened), read with
    ``pread`` when asked for and never mapped. Indexing gives an int, slicing (no step)
    bytes, :meth:`find` searches as ``bytes.find`` does, ``bytes()`` reads it all. Reads
    go by pages of :data:`PAGE` bytes, each read once and at most :data:`MAX_PAGES` of them
    held, so what is held does not grow with the file; a range longer than a few pages is
    read directly. A file that no longer holds the bytes asked for (truncated since) is a
    :class:`~ldsim.errors.ChangedError` naming ``path``. Owns the descriptor: closed by
    :meth:`close` or when the object goes."""

    __slots__ = ("_fd", "_pages", "_size", "path")

    PAGE = 1 << 14
    MAX_PAGES = 256  # 4 MiB
    DIRECT = 4 * PAGE  # a range at least this long is read without the pages
    FIND_CHUNK = 1 << 20  # what one step of find() reads

    def __init__(self, fd: int, size: int, path: str) -> None:
        self._fd = fd
        self._size = size
        self._pages: dict[int, bytes] = {}
        self.path = path

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        self._pages = {}
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self.close()

    def __len__(self) -> int:
        return self._size

    def __reduce__(self) -> tuple[object, ...]:
        # a copy would share the descriptor (and close it twice), as mmap refuses to be
        raise TypeError("cannot pickle or copy a FileBytes: it owns an open descriptor")

    def __bytes__(self) -> bytes:
        return self.read(0, self._size)

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...  # noqa: F811 (ruff sees the stand-in)

    def __getitem__(self, key: int | slice) -> int | bytes:  # noqa: F811
        if isinstance(key, slice):
            start, stop, step = key.indices(self._size)
            if step != 1:
                raise ValueError("FileBytes slices take no step")
            return self.read(start, stop)
        if key < 0:
            key += self._size
        if not 0 <= key < self._size:
            raise IndexError("index out of range")
        page = self._page(key // self.PAGE)
        return page[key % self.PAGE]

    def read(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)``, clamped to the file as a slice is."""
        start, stop = max(0, start), min(stop, self._size)
        if stop <= start:
            return b""
        page = self.PAGE
        first, last = start // page, (stop - 1) // page
        if first == last:
            data = self._page(first)
            return data[start - first * page:stop - first * page]
        if stop - start >= self.DIRECT:
            return self._pread(start, stop - start)
        data = b"".join(self._page(i) for i in range(first, last + 1))
        return data[start - first * page:stop - first * page]

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """``bytes.find``'s answer. The first :data:`DIRECT` bytes are searched in the held
        pages, without a copy (most searches are for the NUL that ends a string); further
        on, :data:`FIND_CHUNK` bytes are read at a time."""
        size = self._size
        start = max(0, start + size if start < 0 else start)
        end = size if end is None else max(0, min(end + size if end < 0 else end, size))
        if start > end:
            return -1
        if not sub:
            return start
        span = len(sub) - 1  # how far a match starting in a window reaches past it
        pos = start
        while pos < end:
            if pos - start < self.DIRECT:
                index = pos // self.PAGE
                base = index * self.PAGE
                wend = min(end, base + self.PAGE)
                at = self._page(index).find(sub, pos - base, wend - base)
                if at >= 0:
                    return base + at
                if span and wend < end:  # one that starts in this page and ends after it
                    lo = max(pos, wend - span)
                    at = self.read(lo, min(end, wend + span)).find(sub)
                    if at >= 0:
                        return lo + at
            else:
                wend = min(end, pos + self.FIND_CHUNK)
                at = self.read(pos, min(end, wend + span)).find(sub)
                if at >= 0:
                    return pos + at
            pos = wend
        return -1

    def string_at(self, start: int, stop: int | None = None) -> tuple[int, bytes]:
        """Where the first NUL in ``[start, stop)`` is and the bytes before it, from
        ``start``: ``find(b"\\0", start, stop)`` and the slice it ends, in one step when
        both are in one held page; ``(-1, b"")`` when there is no NUL there."""
        size = self._size
        if start < 0:
            raise ValueError("string_at takes an offset from the start of the file")
        end = size if stop is None or stop > size else stop
        if start < end:
            index, at = divmod(start, self.PAGE)
            page = self._pages.get(index) or self._page(index)
            nul = page.find(b"\0", at, end - start + at)
            if nul >= 0:
                return start - at + nul, page[at:nul]
        nul = self.find(b"\0", start, end)
        return nul, (self.read(start, nul) if nul >= 0 else b"")

    def unpack_from(self, unpack: Callable[[bytes], tuple[int, ...]], offset: int,
                    size: int) -> tuple[int, ...]:
        """``unpack`` (a ``struct.Struct.unpack``) of the ``size`` bytes at ``offset``, which
        the caller has checked lie inside the file."""
        page = self.PAGE
        index = offset // page
        if (offset + size - 1) // page == index:
            at = offset - index * page
            return unpack(self._page(index)[at:at + size])
        return unpack(self.read(offset, offset + size))

    def _page(self, index: int) -> bytes:
        pages = self._pages
        data = pages.get(index)
        if data is None:
            if len(pages) >= self.MAX_PAGES:
                del pages[next(iter(pages))]
            start = index * self.PAGE
            data = pages[index] = self._pread(start, min(self.PAGE, self._size - start))
        return data

    def _pread(self, start: int, want: int) -> bytes:
        if self._fd < 0:
            raise ValueError("read of a closed FileBytes")
        data = os.pread(self._fd, want, start)
        while len(data) < want:  # a regular file reads short only at its end
            more = os.pread(self._fd, want - len(data), start + len(data))
            if not more:
                raise ChangedError(
                    self.path, f"the file changed while ldsim read it ({self._size} bytes "
                    f"when opened, {os.fstat(self._fd).st_size} now): look again once nothing "
                    "writes to it")
            data += more
        return data


Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap | FileBytes


def head_of(buf: Buffer, size: int) -> bytes:
    """The first ``size`` bytes of any buffer (fewer when it is shorter)."""
    if isinstance(buf, bytes):
        return buf[:size]
    return bytes(buf[:size])


__all__ = ["Buffer", "FileBytes", "head_of"]
